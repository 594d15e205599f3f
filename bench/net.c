/* SPDX-License-Identifier: MIT */
/*
 * net.c - virtio-net packets per second and throughput (vmm-bench entries
 * virtio-net-pps-tx/-rx and virtio-net-gbps-tx/-rx).
 *
 * A tap device (IFF_VNET_HDR) in a network namespace of our own, made
 * for the benchmark and gone with its last fd.  The guest driver of
 * tests/guests/virtio ("netbench=") sends or receives through virtio-net
 * on that tap; the host side of the tap is a packet socket on the tap's
 * interface.  Baseline, in the same run and interleaved trial by trial:
 * the host itself through the same tap - tx: this thread writev()s the
 * same frames (vnet header included) into the tap fd, where the device
 * would; rx: this thread reads the tap fd, where the device would.  The
 * other end (packet socket receiver or sender thread) is the same for both.
 *
 * Rates: tx - frames the device (or the baseline writer) put into the tap
 * per second of the send loop (the guest's loop ends when the device has
 * completed every chain); the packet socket receiver counts what arrived
 * ("delivered": frames the host stack dropped under load are missing
 * there).  rx - frames received per second between the sender's start
 * (for the guest: once it has posted its buffers) and the host's end
 * marker, by the guest or by the baseline reader; frames the tap's queue
 * dropped (the sender outruns both) do not count.  The baseline uses as
 * many buffers as the guest's ring (128), in turn, so both sides touch
 * the same amount of memory.  pps entries: 60-byte frames, no offload.
 * gbps entries: with
 * offloads, tx hands over 63766-byte TCP/IPv4 segments (NEEDS_CSUM +
 * GSO_TCPV4, the tap segments nothing: the packet socket sees the whole
 * segment), rx gets the same from the host's packet socket (PACKET_VNET_HDR)
 * into 64 KiB guest buffers.  Each line also carries exits, kicks and
 * interrupts per frame of the guest run and the user/sys CPU milliseconds
 * of every thread (vCPU, the VM's event loop, the host peer thread) in
 * the timed part of both sides.
 *
 * vhost-net: not a back-end here (see docs/benchmarks.md); the entry says
 * so on stderr when /dev/vhost-net is absent.
 */
#include "bench.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define NB_MARK_PORT 0x520
#define NB_STATUS 193 /* GUEST_EXIT_VIRTIO */
#define NB_TSO_FRAME 63766 /* 14 + 20 + 20 + 44 * 1448 */
#define NB_MAX_THREADS 16
#define NB_RING 128 /* the guest's queue size (virtio_guest.c QSIZE) */

struct nb_ns {
	int tap;     /* IFF_VNET_HDR tap, the device's and the baseline's */
	int rxsock;  /* packet socket receiving what arrives on the tap */
	int txsock;  /* packet socket sending out of the tap (vnet header) */
	int ifindex;
};

/* ---- per-thread CPU time from /proc/self/task ---- */

struct nb_thr {
	int tid;
	char comm[20];
	long ut, st; /* clock ticks */
	unsigned long long run_ns, wait_ns; /* schedstat: on CPU, runnable */
};

struct nb_cpu {
	int n;
	struct nb_thr t[NB_MAX_THREADS];
};

static void nb_cpu_sample(struct nb_cpu *c)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;

	c->n = 0;
	if (!d)
		return;
	while ((de = readdir(d)) && c->n < NB_MAX_THREADS) {
		char path[300], buf[512], *p;
		FILE *f;
		struct nb_thr *t = &c->t[c->n];

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat",
			 de->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		if (!fgets(buf, sizeof(buf), f)) {
			fclose(f);
			continue;
		}
		fclose(f);
		t->tid = atoi(de->d_name);
		p = strchr(buf, '(');
		char *e = strrchr(buf, ')');
		if (!p || !e || e - p - 1 >= (long)sizeof(t->comm))
			continue;
		memcpy(t->comm, p + 1, (size_t)(e - p - 1));
		t->comm[e - p - 1] = 0;
		/* after ')': state ppid pgrp session tty tpgid flags minflt
		 * cminflt majflt cmajflt utime stime */
		if (sscanf(e + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			   "%ld %ld", &t->ut, &t->st) != 2)
			continue;
		t->run_ns = t->wait_ns = 0;
		snprintf(path, sizeof(path), "/proc/self/task/%s/schedstat",
			 de->d_name);
		if ((f = fopen(path, "r"))) {
			if (fscanf(f, "%llu %llu", &t->run_ns, &t->wait_ns) != 2)
				t->run_ns = t->wait_ns = 0;
			fclose(f);
		}
		c->n++;
	}
	closedir(d);
}

/*
 * "comm":[user_ms,sys_ms,cpu_ms,runq_ms] of every thread that ran between
 * @a and @b: user and system time from /proc/.../stat (clock ticks, coarse),
 * time on a CPU and time runnable but waiting for one from schedstat (ns).
 */
static void nb_cpu_json(const struct nb_cpu *a, const struct nb_cpu *b,
			char *out, size_t len)
{
	long tck = sysconf(_SC_CLK_TCK);
	size_t o = 0;

	o += (size_t)snprintf(out + o, len - o, "{");
	for (int i = 0; i < b->n && o < len; i++) {
		long ut = b->t[i].ut, st = b->t[i].st;
		unsigned long long run = b->t[i].run_ns, wait = b->t[i].wait_ns;
		for (int j = 0; j < a->n; j++)
			if (a->t[j].tid == b->t[i].tid) {
				ut -= a->t[j].ut;
				st -= a->t[j].st;
				run -= a->t[j].run_ns;
				wait -= a->t[j].wait_ns;
			}
		if (!ut && !st && run < 100000)
			continue;
		o += (size_t)snprintf(out + o, len - o,
				      "%s\"%s\":[%ld,%ld,%.1f,%.1f]",
				      o > 1 ? "," : "", b->t[i].comm,
				      ut * 1000 / tck, st * 1000 / tck,
				      (double)run / 1e6, (double)wait / 1e6);
	}
	if (o < len)
		snprintf(out + o, len - o, "}");
}

/* on-CPU ns of thread @tid (0: the first named @comm) between @a and @b */
static double nb_cpu_run(const struct nb_cpu *a, const struct nb_cpu *b,
			 int tid, const char *comm)
{
	for (int i = 0; i < b->n; i++) {
		if (tid ? b->t[i].tid != tid : strcmp(b->t[i].comm, comm))
			continue;
		for (int j = 0; j < a->n; j++)
			if (a->t[j].tid == b->t[i].tid)
				return (double)(b->t[i].run_ns - a->t[j].run_ns);
	}
	return 0;
}

/* ---- the namespace, the tap, the packet sockets ---- */

static int nb_ns_setup(struct nb_ns *ns, char *why, size_t wlen)
{
	struct ifreq ifr;
	int orig = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), fd, one = 1;
	int sz = 12, bufsz = 64 << 20;
	struct sockaddr_ll sll;

	ns->tap = ns->rxsock = ns->txsock = -1;
	if (orig < 0 || unshare(CLONE_NEWNET) < 0) {
		snprintf(why, wlen, "cannot make a network namespace: %s",
			 strerror(errno));
		if (orig >= 0)
			close(orig);
		return -1;
	}
	/* no IPv6 neighbour discovery frames in the counts */
	fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1", 1) < 0) { /* best effort */ }
		close(fd);
	}
	ns->tap = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "vbnet0");
	if (ns->tap < 0 || ioctl(ns->tap, TUNSETIFF, &ifr) < 0 ||
	    ioctl(ns->tap, TUNSETVNETHDRSZ, &sz) < 0) {
		snprintf(why, wlen, "tap: %s", strerror(errno));
		goto fail;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		snprintf(why, wlen, "tap flags: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0 ||
	    ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
		snprintf(why, wlen, "tap up: %s", strerror(errno));
		close(fd);
		goto fail;
	}
	close(fd);
	ns->ifindex = ifr.ifr_ifindex;
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = ns->ifindex;
	ns->rxsock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	ns->txsock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (ns->rxsock < 0 || ns->txsock < 0 ||
	    bind(ns->rxsock, (struct sockaddr *)&sll, sizeof(sll)) < 0 ||
	    setsockopt(ns->rxsock, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one,
		       sizeof(one)) < 0 ||
	    setsockopt(ns->txsock, SOL_PACKET, PACKET_VNET_HDR, &one,
		       sizeof(one)) < 0) {
		snprintf(why, wlen, "packet sockets: %s", strerror(errno));
		goto fail;
	}
	sll.sll_protocol = 0;
	if (bind(ns->txsock, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		snprintf(why, wlen, "packet socket bind: %s", strerror(errno));
		goto fail;
	}
	if (setsockopt(ns->rxsock, SOL_SOCKET, SO_RCVBUFFORCE, &bufsz,
		       sizeof(bufsz)) < 0)
		setsockopt(ns->rxsock, SOL_SOCKET, SO_RCVBUF, &bufsz,
			   sizeof(bufsz));
	if (setns(orig, CLONE_NEWNET) < 0) {
		snprintf(why, wlen, "back to our namespace: %s", strerror(errno));
		goto fail;
	}
	close(orig);
	return 0;
fail:
	if (setns(orig, CLONE_NEWNET) < 0) { /* nothing left to do */ }
	close(orig);
	if (ns->tap >= 0)
		close(ns->tap);
	if (ns->rxsock >= 0)
		close(ns->rxsock);
	if (ns->txsock >= 0)
		close(ns->txsock);
	return -1;
}

/* closing the last fd in the namespace destroys it */
static void nb_ns_close(struct nb_ns *ns)
{
	close(ns->tap);
	close(ns->rxsock);
	close(ns->txsock);
}

/* Empty the tap and the receiving socket between runs. */
static void nb_drain(struct nb_ns *ns)
{
	static char buf[70000];

	while (read(ns->tap, buf, sizeof(buf)) > 0)
		;
	while (recv(ns->rxsock, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

/* ---- frames (the guest builds the same ones, virtio_guest.c) ---- */

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* 12-byte vnet header + frame of @size bytes; @type: 0x88b5 data, 0x88b6
 * end marker, 0x0800 a TCP/IPv4 segment with NEEDS_CSUM + GSO_TCPV4 */
static size_t nb_frame(uint8_t *f, uint32_t size, uint16_t type,
		       const uint8_t *dst, const uint8_t *src)
{
	memset(f, 0, 12 + size);
	memcpy(f + 12, dst, 6);
	memcpy(f + 18, src, 6);
	put_be16(f + 24, type);
	if (type != 0x0800)
		return 12 + size;
	f[0] = 1;
	f[1] = 1;
	f[2] = 54;
	f[4] = 1448 & 0xff;
	f[5] = 1448 >> 8;
	f[6] = 34;
	f[8] = 16;
	uint8_t *ip = f + 26, *tcp = f + 46;
	ip[0] = 0x45;
	put_be16(ip + 2, (uint16_t)(size - 14));
	ip[6] = 0x40;
	ip[8] = 64;
	ip[9] = 6;
	ip[12] = 10; ip[15] = 1;
	ip[16] = 10; ip[19] = 2;
	uint32_t sum = 0;
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	put_be16(ip + 10, (uint16_t)~sum);
	put_be16(tcp, 5001);
	put_be16(tcp + 2, 40000);
	tcp[12] = 0x50;
	tcp[13] = 0x18;
	put_be16(tcp + 14, 65535);
	return 12 + size;
}

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 };
static const uint8_t host_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };

/* ---- the host peer threads ---- */

struct nb_peer {
	struct nb_ns *ns;
	long want;            /* receiver: frames expected */
	uint32_t size;
	bool tso;
	atomic_bool go, stop;
	/* receiver results */
	long got;
	uint64_t bytes;
	double t_first, t_last;
};

/* Count what arrives on the tap's interface until @want frames or 300 ms
 * of silence after the first (or 10 s without any). */
static void *nb_receiver(void *arg)
{
	struct nb_peer *p = arg;
	uint8_t *buf = malloc(70000);
	double start = now_ns();

	pthread_setname_np(pthread_self(), "nb-peer-rx");
	while (buf && p->got < p->want) {
		struct pollfd pfd = { .fd = p->ns->rxsock, .events = POLLIN };
		if (poll(&pfd, 1, p->got ? 300 : 10000) <= 0)
			break;
		ssize_t n;
		while ((n = recv(p->ns->rxsock, buf, sizeof(buf),
				 MSG_DONTWAIT | MSG_TRUNC)) > 0) {
			double t = now_ns();
			if (!p->got)
				p->t_first = t;
			p->t_last = t;
			p->got++;
			p->bytes += (uint64_t)n;
		}
		if (now_ns() - start > 30e9)
			break;
	}
	free(buf);
	return NULL;
}

/* Send @want frames out of the tap's interface, then end markers every
 * millisecond until told to stop. */
static void *nb_sender(void *arg)
{
	struct nb_peer *p = arg;
	uint8_t *f = malloc(12 + 65536), e[12 + 64];
	size_t fl, el = nb_frame(e, 60, 0x88b6, guest_mac, host_mac);

	pthread_setname_np(pthread_self(), "nb-peer-tx");
	if (!f)
		return NULL;
	fl = nb_frame(f, p->size, p->tso ? 0x0800 : 0x88b5, guest_mac,
		      host_mac);
	/* the packet socket's vnet header is the 10-byte one, right in
	 * front of the frame */
	memmove(f + 2, f, 10);
	memmove(e + 2, e, 10);
	while (!atomic_load(&p->go) && !atomic_load(&p->stop))
		usleep(100);
	for (long i = 0; i < p->want && !atomic_load(&p->stop); i++)
		if (send(p->ns->txsock, f + 2, fl - 2, 0) < 0 &&
		    errno != ENOBUFS && errno != EAGAIN)
			break;
	while (!atomic_load(&p->stop)) {
		if (send(p->ns->txsock, e + 2, el - 2, 0) < 0 &&
		    errno != ENOBUFS && errno != EAGAIN)
			break;
		usleep(1000);
	}
	free(f);
	return NULL;
}

/* ---- one guest run ---- */

struct nb_run {
	bool rx;
	vmm_vm *vm;
	vmm_dev *net;
	struct nb_peer *peer;
	double t0, t1;
	uint64_t ex0, ex1, irq0, irq1, kick0, kick1;
	uint32_t count, kib;
	struct nb_cpu c0, c1;
};

static int nb_mark(void *opaque, uint64_t off, const void *data,
		   unsigned size, struct vmm_io_ctx *ctx)
{
	struct nb_run *r = opaque;
	struct vmm_vm_stats st = { .struct_size = sizeof(st) };
	struct vmm_virtio_stats vs = { .struct_size = sizeof(vs) };
	uint32_t val = 0;

	(void)ctx;
	memcpy(&val, data, size < 4 ? size : 4);
	if (off == 4) {
		r->count = val;
		return 0;
	}
	if (off == 8) {
		r->kib = val;
		return 0;
	}
	/* rx: 0 = buffers posted: the sender starts and so does the clock
	 * (from the first frame instead, frames that piled up before the
	 * guest looked would count as received in no time); 1 = the first
	 * frame: not used */
	if (val == 0)
		atomic_store(&r->peer->go, true);
	else if (val == 1 && r->rx)
		return 0;
	vmm_vm_get_stats(r->vm, &st);
	if (vmm_virtio_get_stats(r->net, &vs))
		memset(&vs, 0, sizeof(vs));
	if (val <= 1) {
		nb_cpu_sample(&r->c0);
		r->ex0 = st.exits;
		r->irq0 = vs.interrupts;
		r->kick0 = vs.kicks;
		r->t0 = now_ns();
	} else {
		r->t1 = now_ns();
		r->ex1 = st.exits;
		r->irq1 = vs.interrupts;
		r->kick1 = vs.kicks;
		nb_cpu_sample(&r->c1);
	}
	return 0;
}

static char *nb_guest_image(size_t *len)
{
	const char *env = getenv("VMM_BENCH_VIRTIO_GUEST");
	char path[4096];
	ssize_t n;

	if (env)
		return bench_read_file(env, len);
	n = readlink("/proc/self/exe", path, sizeof(path) - 64);
	if (n <= 0)
		return NULL;
	path[n] = 0;
	if (strrchr(path, '/'))
		*strrchr(path, '/') = 0;
	strcat(path, "/../tests/guests/virtio/virtio_guest");
	return bench_read_file(path, len);
}

struct nb_case {
	bool rx, tso;
	bool bytes;           /* report Gbit/s (else kpps) */
	uint32_t size;
	long pkts;
};

struct nb_sample {
	double rate;          /* frames/s (pps) or bytes/s */
	double frames, bytes; /* sent (tx) or received (rx) */
	double delivered;     /* frames that arrived at the other end */
	double exits, irqs, kicks; /* per delivered frame (guest runs) */
	/* on-CPU ns per delivered frame of the thread doing the device's
	 * work: the VM's event loop ("vmm-io"), or the baseline's reader or
	 * writer (this thread) */
	double work_ns;
	char cpu[1024];
};

static int nb_guest_run(const struct params *p, const struct nb_case *k,
			struct nb_ns *ns, const char *img, size_t img_len,
			struct nb_sample *s)
{
	static const struct vmm_io_ops mark_ops = { .write = nb_mark };
	struct vmm_config cfg;
	struct vmm_uart_config uc;
	struct vmm_virtio_net_config nc;
	struct vmm_boot_info info;
	struct nb_peer peer = { .ns = ns, .want = k->pkts, .size = k->size,
				.tso = k->tso };
	struct nb_run r = { .peer = &peer, .rx = k->rx };
	struct vmm_exit e;
	vmm_vcpu *vcpu;
	vmm_dev *dev;
	pthread_t thr;
	char cmd[128];
	int ret;

	nb_drain(ns);
	snprintf(cmd, sizeof(cmd), "netbench=%s pkts=%ld size=%u%s",
		 k->rx ? "rx" : "tx", k->pkts, k->size, k->tso ? " tso" : "");
	vmm_config_init(&cfg);
	cfg.backend = p->backend;
	cfg.ram_size = 64 << 20;
	cfg.flags = VMM_CFG_IGNORE_UNHANDLED_IO;
	if ((ret = vmm_vm_create(&cfg, &r.vm)))
		return ret;
	vmm_uart_config_init(&uc);
	vmm_virtio_net_config_init(&nc, VMM_VIRTIO_MMIO);
	nc.virtio.mmio_base = 0xd0000000;
	nc.tap_fd = ns->tap;
	memcpy(nc.mac, guest_mac, 6);
	if ((ret = vmm_vcpu_create(r.vm, 0, &vcpu)) ||
	    (ret = vmm_uart_attach(r.vm, &uc, &dev)) ||
	    (ret = vmm_debug_exit_attach(r.vm, 0xf4, 4, &dev)) ||
	    (ret = vmm_bus_register(r.vm, VMM_SPACE_PIO, NB_MARK_PORT, 12,
				    &mark_ops, &r, "bench-mark")) ||
	    (ret = vmm_virtio_net_attach(r.vm, &nc, &r.net)) ||
	    (ret = vmm_image_load_multiboot(r.vm, img, img_len, cmd, NULL, 0,
				      &info)) ||
	    (ret = vmm_boot_setup_vcpu(vcpu, &info)))
		goto out;
	if (pthread_create(&thr, NULL, k->rx ? nb_sender : nb_receiver,
			   &peer)) {
		ret = -EAGAIN;
		goto out;
	}
	ret = vmm_vcpu_run_loop(vcpu, &e);
	if (k->rx)
		atomic_store(&peer.stop, true);
	pthread_join(thr, NULL);
	if (ret)
		goto out;
	if (e.kind != VMM_EXIT_GUEST_EXIT || e.guest.status != NB_STATUS ||
	    r.t1 <= r.t0) {
		fprintf(stderr, "vmm-bench: netbench guest %s failed (exit "
			"%d, status %d)\n", cmd, e.kind,
			e.kind == VMM_EXIT_GUEST_EXIT ? (int)e.guest.status : -1);
		ret = -EIO;
		goto out;
	}
	if (k->rx) {
		s->frames = s->delivered = r.count;
		s->bytes = (double)r.kib * 1024;
		/* every frame arrived whole (TSO: 64 KiB segments) */
		if (r.count < 1 || (double)r.count * k->size - s->bytes >= 1024 ||
		    (double)r.count * k->size - s->bytes < 0) {
			fprintf(stderr, "vmm-bench: netbench rx: %u frames, %u "
				"KiB, want %u bytes each\n", r.count, r.kib,
				k->size);
			ret = -EIO;
			goto out;
		}
		s->rate = (k->bytes || k->tso ? s->bytes : s->frames) / ((r.t1 - r.t0) / 1e9);
	} else {
		/* frames the device took (written to the tap) per second of
		 * the guest's send loop; the receiver only checks delivery */
		s->frames = r.count;
		s->bytes = (double)r.count * k->size;
		s->delivered = (double)peer.got;
		if (peer.got < 1 || r.count != (uint32_t)k->pkts ||
		    peer.bytes != (uint64_t)peer.got * k->size) {
			fprintf(stderr, "vmm-bench: netbench tx: %u frames "
				"sent, %ld arrived (%llu bytes, want %u each)\n",
				r.count, peer.got,
				(unsigned long long)peer.bytes, k->size);
			ret = -EIO;
			goto out;
		}
		s->rate = (k->bytes || k->tso ? s->bytes : s->frames) /
			  ((r.t1 - r.t0) / 1e9);
	}
	if (s->frames < 1) {
		ret = -EIO;
		goto out;
	}
	s->exits = (double)(r.ex1 - r.ex0) / s->frames;
	s->irqs = (double)(r.irq1 - r.irq0) / s->frames;
	s->kicks = (double)(r.kick1 - r.kick0) / s->frames;
	nb_cpu_json(&r.c0, &r.c1, s->cpu, sizeof(s->cpu));
	s->work_ns = nb_cpu_run(&r.c0, &r.c1, 0, "vmm-io") / s->frames;
out:
	vmm_vm_destroy(r.vm);
	return ret;
}

/* ---- the baseline: the host itself at the device's end of the tap ---- */

static int nb_host_run(const struct nb_case *k, struct nb_ns *ns,
		       struct nb_sample *s)
{
	struct nb_peer peer = { .ns = ns, .want = k->pkts, .size = k->size,
				.tso = k->tso };
	unsigned off = k->tso ? TUN_F_CSUM | TUN_F_TSO4 : 0;
	struct nb_cpu c0, c1;
	pthread_t thr;
	/* as many buffers as the guest's ring (the same memory footprint),
	 * used in turn */
	size_t slot = 12 + 65536 + 64;
	uint8_t *pool = malloc(NB_RING * slot), *buf = pool;
	int ret = 0;

	if (!pool)
		return -ENOMEM;
	memset(pool, 0, NB_RING * slot); /* faulted in before the clock */
	nb_drain(ns);
	if (ioctl(ns->tap, TUNSETOFFLOAD, off) < 0) {
		free(pool);
		return -errno;
	}
	if (pthread_create(&thr, NULL, k->rx ? nb_sender : nb_receiver,
			   &peer)) {
		free(pool);
		return -EAGAIN;
	}
	if (!k->rx) {
		size_t fl = 0;
		for (int i = 0; i < NB_RING; i++)
			fl = nb_frame(pool + i * slot, k->size,
				      k->tso ? 0x0800 : 0x88b5, host_mac,
				      guest_mac);
		nb_cpu_sample(&c0);
		double t0 = now_ns(), t1;
		for (long i = 0; i < k->pkts; i++)
			if (write(ns->tap, pool + (i % NB_RING) * slot, fl) < 0) {
				ret = -errno;
				break;
			}
		t1 = now_ns();
		nb_cpu_sample(&c1);
		pthread_join(thr, NULL);
		s->frames = (double)k->pkts;
		s->bytes = (double)k->pkts * k->size;
		s->delivered = (double)peer.got;
		if (peer.got < 1)
			ret = -EIO;
		else
			s->rate = (k->bytes || k->tso ? s->bytes : s->frames) /
				  ((t1 - t0) / 1e9);
	} else {
		double t0 = 0, t1 = 0, start = now_ns();
		long got = 0;
		uint64_t bytes = 0;
		bool end = false;

		nb_cpu_sample(&c0);
		t0 = now_ns();
		atomic_store(&peer.go, true);
		while (!end && now_ns() - start < 30e9) {
			struct pollfd pfd = { .fd = ns->tap, .events = POLLIN };
			ssize_t n;

			if (poll(&pfd, 1, 10000) <= 0)
				break;
			while ((n = read(ns->tap, buf = pool + (got % NB_RING) * slot,
					 slot)) > 0) {
				if (n >= 26 && buf[24] == 0x88 && buf[25] == 0xb6) {
					end = true;
					break;
				}
				got++;
				bytes += (uint64_t)n - 12;
			}
		}
		t1 = now_ns();
		nb_cpu_sample(&c1);
		atomic_store(&peer.stop, true);
		pthread_join(thr, NULL);
		s->frames = s->delivered = (double)got;
		s->bytes = (double)bytes;
		if (!end || got < 2)
			ret = -EIO;
		else
			s->rate = (k->bytes || k->tso ? s->bytes : s->frames) /
				  ((t1 - t0) / 1e9);
	}
	ioctl(ns->tap, TUNSETOFFLOAD, 0);
	free(pool);
	if (!ret) {
		nb_cpu_json(&c0, &c1, s->cpu, sizeof(s->cpu));
		s->work_ns = nb_cpu_run(&c0, &c1, gettid(), NULL) / s->frames;
	}
	return ret;
}

static int nb_cmp(const void *a, const void *b)
{
	double x = ((const struct nb_sample *)a)->rate,
	       y = ((const struct nb_sample *)b)->rate;
	return x < y ? -1 : x > y;
}

static int bench_net(const struct params *p, const char *name,
		     const struct nb_case *k)
{
	struct nb_sample *g = calloc((size_t)p->trials, sizeof(*g));
	struct nb_sample *h = calloc((size_t)p->trials, sizeof(*h));
	double *r = calloc((size_t)p->trials, sizeof(double));
	size_t img_len = 0;
	char *img = nb_guest_image(&img_len), why[160];
	struct nb_ns ns;
	int ret = -1;

	if (access("/dev/vhost-net", F_OK))
		fprintf(stderr, "%s: vhost-net back-end: /dev/vhost-net "
			"absent here, not measured\n", name);
	if (!g || !h || !r || !img) {
		if (!img)
			fprintf(stderr, "vmm-bench: virtio guest image not found "
				"(set VMM_BENCH_VIRTIO_GUEST)\n");
		goto out;
	}
	if (nb_ns_setup(&ns, why, sizeof(why))) {
		fprintf(stderr, "%s: skipped: %s\n", name, why);
		ret = 1;
		goto out;
	}
	for (int t = 0; t < p->trials; t++) {
		int e1 = 0, e2 = 0;

		/* alternate which side goes first: drift hits both */
		if (t % 2)
			e2 = nb_host_run(k, &ns, &h[t]);
		e1 = e2 ? 0 : nb_guest_run(p, k, &ns, img, img_len, &g[t]);
		if (!(t % 2) && !e1)
			e2 = nb_host_run(k, &ns, &h[t]);
		if (e1 || e2) {
			fprintf(stderr, "vmm-bench: %s: %s run: %s\n", name,
				e1 ? "guest" : "host", vmm_strerror(e1 ? e1 : e2));
			nb_ns_close(&ns);
			goto out;
		}
		r[t] = g[t].rate / h[t].rate;
	}
	nb_ns_close(&ns);
	if (!p->json) {
		fprintf(stderr, "%s: per-trial ratios", name);
		for (int t = 0; t < p->trials; t++)
			fprintf(stderr, " %.2f", r[t]);
		fprintf(stderr, "\n");
	}
	qsort(g, (size_t)p->trials, sizeof(*g), nb_cmp);
	qsort(h, (size_t)p->trials, sizeof(*h), nb_cmp);
	const struct nb_sample *gm = &g[p->trials / 2], *hm = &h[p->trials / 2];
	double scale = k->tso || k->bytes ? 8e-9 : 1e-3; /* Gbit/s or kpps */
	double ratio = median(r, p->trials);
	/* medians of the work per frame, over all trials */
	double *w = calloc((size_t)p->trials * 2, sizeof(double)), wg = 0, wh = 0;
	if (w) {
		for (int t = 0; t < p->trials; t++) {
			w[t] = g[t].work_ns;
			w[p->trials + t] = h[t].work_ns;
		}
		wg = median(w, p->trials);
		wh = median(w + p->trials, p->trials);
		free(w);
	}
	if (p->json)
		printf("{\"bench\":\"%s\",\"backend\":\"%s\",\"value\":%.3f,"
		       "\"baseline\":%.3f,\"ratio\":%.4f,\"unit\":\"%s\","
		       "\"baseline_name\":\"host %s the same tap\","
		       "\"trials\":%d,\"iters\":%ld,\"frame\":%u,"
		       "\"offloads\":%s,\"delivered\":%.0f,\"delivered_baseline\":%.0f,"
		       "\"exits_per_pkt\":%.4f,\"kicks_per_pkt\":%.4f,"
		       "\"irqs_per_pkt\":%.4f,\"work_ns_per_pkt\":%.0f,"
		       "\"work_ns_per_pkt_baseline\":%.0f,\"cpu_ms\":%s,"
		       "\"cpu_ms_baseline\":%s}\n",
		       name, p->backend == VMM_BACKEND_SOFT ? "soft" : "kvm",
		       gm->rate * scale, hm->rate * scale, ratio,
		       k->tso || k->bytes ? "Gbit/s" : "kpps",
		       k->rx ? "reading" : "writing", p->trials, k->pkts,
		       k->size, k->tso ? "true" : "false", gm->delivered,
		       hm->delivered,
		       gm->exits, gm->kicks, gm->irqs, wg, wh,
		       gm->cpu[0] ? gm->cpu : "{}", hm->cpu[0] ? hm->cpu : "{}");
	else
		printf("%-16s %12.3f %12.3f %8.4f  %-8s (vs host %s the tap, "
		       "median of %d; %.3f exits, %.3f kicks, %.3f irqs per "
		       "frame; device work %.0f ns/frame vs %.0f; cpu ms "
		       "[user,sys,on-cpu,runq-wait] %s vs %s)\n",
		       name, gm->rate * scale, hm->rate * scale, ratio,
		       k->tso || k->bytes ? "Gbit/s" : "kpps",
		       k->rx ? "reading" : "writing", p->trials, gm->exits,
		       gm->kicks, gm->irqs, wg, wh, gm->cpu, hm->cpu);
	fflush(stdout);
	ret = 1; /* printed */
out:
	free(img);
	free(g);
	free(h);
	free(r);
	return ret;
}

/* --iters is the frame count of the pps entries; gbps send 1/20 of it */
int bench_net_pps_tx(const struct params *p, struct result *res)
{
	struct nb_case k = { .rx = false, .size = 60, .pkts = p->iters };
	(void)res;
	return bench_net(p, "virtio-net-pps-tx", &k);
}

int bench_net_pps_rx(const struct params *p, struct result *res)
{
	struct nb_case k = { .rx = true, .size = 60, .pkts = p->iters };
	(void)res;
	return bench_net(p, "virtio-net-pps-rx", &k);
}

int bench_net_gbps_tx(const struct params *p, struct result *res)
{
	struct nb_case k = { .rx = false, .tso = true, .size = NB_TSO_FRAME,
			     .pkts = p->iters / 20 > 10 ? p->iters / 20 : 10 };
	(void)res;
	return bench_net(p, "virtio-net-gbps-tx", &k);
}

int bench_net_gbps_rx(const struct params *p, struct result *res)
{
	struct nb_case k = { .rx = true, .tso = true, .size = NB_TSO_FRAME,
			     .pkts = p->iters / 20 > 10 ? p->iters / 20 : 10 };
	(void)res;
	return bench_net(p, "virtio-net-gbps-rx", &k);
}

/* the same without offloads: 1514-byte frames (MTU 1500), 4x the frames */
int bench_net_gbps_tx_nooff(const struct params *p, struct result *res)
{
	struct nb_case k = { .rx = false, .size = 1514, .bytes = true,
			     .pkts = p->iters / 5 };
	(void)res;
	return bench_net(p, "virtio-net-gbps-tx-nooffload", &k);
}

int bench_net_gbps_rx_nooff(const struct params *p, struct result *res)
{
	struct nb_case k = { .rx = true, .size = 1514, .bytes = true,
			     .pkts = p->iters / 5 };
	(void)res;
	return bench_net(p, "virtio-net-gbps-rx-nooffload", &k);
}
