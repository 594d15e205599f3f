/* SPDX-License-Identifier: MIT */
/*
 * guest_virtio - run tests/guests/virtio/virtio_guest against libvmm's
 * virtio devices through the public API, on both transports at once.
 *
 *   guest_virtio BACKEND IMAGE devices   blk + console + rng, mmio and pci
 *   guest_virtio BACKEND IMAGE net       net on both transports, tap in a
 *                                        network namespace of our own
 *   guest_virtio BACKEND IMAGE noioefd   like "devices" without ioeventfd
 *                                        and irqfd (every kick an exit)
 *   guest_virtio BACKEND IMAGE packed    like "devices" on packed rings:
 *                                        the devices offer
 *                                        VIRTIO_F_RING_PACKED
 *                                        (VMM_VIRTIO_PACKED) and the guest
 *                                        takes it ("packed" on its command
 *                                        line)
 *   guest_virtio BACKEND IMAGE packed-net  net on packed rings
 *
 * Checks: the guest's own verdict (status 193) and lines, what reached
 * the host (console output, the blk images, the frames on the tap), the
 * device counters (no queue errors).  Skips (77) when the backend is
 * missing, and for "net" when we may not create a namespace or tap.
 */
#include "../guest/harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define STATUS_VIRTIO GH_STATUS(0x60)
#define MMIO_BASE 0xd0000000ull
#define IMG_SIZE (1u << 20)
#define ETH_P_TEST 0x88b5

static char *make_image(struct gh_vm *g, char *path)
{
	int fd;

	strcpy(path, "/tmp/libvmm-virtio-XXXXXX");
	fd = mkstemp(path);
	GH_CHECK(g, fd >= 0, "mkstemp");
	GH_CHECK(g, ftruncate(fd, IMG_SIZE) == 0, "ftruncate");
	close(fd);
	return path;
}

static void expect_line(struct gh_vm *g, const char *out, const char *needle)
{
	GH_CHECK(g, strstr(out, needle) != NULL, "guest output lacks '%s'",
		 needle);
}

static void read_at(struct gh_vm *g, const char *path, off_t off, void *buf,
		    size_t len)
{
	int fd = open(path, O_RDONLY);

	GH_CHECK(g, fd >= 0 && pread(fd, buf, len, off) == (ssize_t)len,
		 "read %s", path);
	close(fd);
}

/* ---- net: a tap in our own network namespace, a packet socket on it ---- */

struct netside {
	int tap;          /* given to the device */
	int pkt;          /* AF_PACKET on the tap interface */
	int ifindex;
	pthread_t thr;
	int frames_seen;  /* test frames from the guest */
	char seen[2][64];
	volatile int stop;
};

static int net_setup(struct netside *ns)
{
	struct ifreq ifr;
	struct sockaddr_ll sll;
	int s;

	if (unshare(CLONE_NEWNET) < 0) {
		printf("SKIP: unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return -1;
	}
	/* no IPv6 chatter on our interface (best effort) */
	int fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1", 1) < 0) {
			/* the guest filters by ethertype anyway */
		}
		close(fd);
	}
	ns->tap = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (ns->tap < 0) {
		printf("SKIP: /dev/net/tun: %s\n", strerror(errno));
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "vmmtap0");
	if (ioctl(ns->tap, TUNSETIFF, &ifr) < 0) {
		printf("SKIP: TUNSETIFF: %s\n", strerror(errno));
		return -1;
	}
	s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -1;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0 || ioctl(s, SIOCGIFINDEX, &ifr) < 0) {
		close(s);
		return -1;
	}
	close(s);
	ns->ifindex = ifr.ifr_ifindex;
	ns->pkt = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_TEST));
	if (ns->pkt < 0) {
		printf("SKIP: AF_PACKET: %s\n", strerror(errno));
		return -1;
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_TEST);
	sll.sll_ifindex = ns->ifindex;
	if (bind(ns->pkt, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return -1;
	struct timeval tv = { 0, 200000 };
	setsockopt(ns->pkt, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return 0;
}

/* Answer every test frame from the guest with one back to its MAC. */
static void *net_responder(void *arg)
{
	struct netside *ns = arg;
	uint8_t buf[2048], reply[64];
	struct sockaddr_ll to;

	while (!ns->stop) {
		ssize_t n = recv(ns->pkt, buf, sizeof(buf), 0);
		if (n < 14 + 10)
			continue;
		if (buf[12] != 0x88 || buf[13] != 0xb5)
			continue;
		if (ns->frames_seen < 2) {
			size_t k = 0;
			for (; k < 63 && 14 + k < (size_t)n && buf[14 + k] >= 32 &&
			       buf[14 + k] < 127; k++)
				ns->seen[ns->frames_seen][k] = (char)buf[14 + k];
			ns->seen[ns->frames_seen][k] = 0;
		}
		ns->frames_seen++;
		memset(reply, 0, sizeof(reply));
		memcpy(reply, buf + 6, 6);              /* to the guest */
		memcpy(reply + 6, "\x02\x00\x00\x00\x00\x01", 6);
		reply[12] = 0x88;
		reply[13] = 0xb5;
		memcpy(reply + 14, "pong from the host", 18);
		memset(&to, 0, sizeof(to));
		to.sll_family = AF_PACKET;
		to.sll_ifindex = ns->ifindex;
		to.sll_halen = 6;
		memcpy(to.sll_addr, buf + 6, 6);
		sendto(ns->pkt, reply, sizeof(reply), 0, (struct sockaddr *)&to,
		       sizeof(to));
	}
	return NULL;
}

int main(int argc, char **argv)
{
	enum vmm_backend b = gh_init(argc, argv, 4,
				     "IMAGE devices|net|noioefd|packed|packed-net");
	const char *mode = argv[3];
	bool net = !strcmp(mode, "net") || !strcmp(mode, "packed-net");
	bool packed = !strncmp(mode, "packed", 6);
	uint32_t vflags = !strcmp(mode, "noioefd")
				  ? VMM_VIRTIO_NO_IOEVENTFD | VMM_VIRTIO_NO_IRQFD
				  : 0;
	struct gh_vm g;
	struct vmm_exit exit;
	struct netside ns = { .tap = -1, .pkt = -1 };
	vmm_dev *host, *devs[8];
	int ndev = 0, con_out[2][2], con_in[2][2];
	char img[2][64], desc[160];

	if (net && net_setup(&ns) < 0)
		return 77;
	gh_create(&g, "virtio", b, VMM_CFG_IGNORE_UNHANDLED_IO, GH_RAM_DEFAULT);
	GH_OK(&g, vmm_pci_host_attach(g.vm, &host));

	for (int t = 0; t < 2; t++) {
		enum vmm_virtio_transport tr = t ? VMM_VIRTIO_PCI : VMM_VIRTIO_MMIO;
		struct vmm_virtio_config vc;
		vmm_virtio_config_init(&vc, tr);
		vc.pci_host = host;
		vc.flags = vflags | (packed ? VMM_VIRTIO_PACKED : 0);

		if (net) {
			struct vmm_virtio_net_config nc;
			vmm_virtio_net_config_init(&nc, tr);
			nc.virtio = vc;
			nc.virtio.mmio_base = MMIO_BASE;
			nc.virtio.irq = 5;
			nc.tap_fd = ns.tap;
			nc.mac[0] = 0x52;
			nc.mac[5] = (uint8_t)(0x10 + t);
			GH_OK(&g, vmm_virtio_net_attach(g.vm, &nc, &devs[ndev++]));
			continue;
		}
		struct vmm_virtio_blk_config bc;
		vmm_virtio_blk_config_init(&bc, tr);
		bc.virtio = vc;
		bc.virtio.mmio_base = MMIO_BASE;
		bc.virtio.irq = 5;
		bc.path = make_image(&g, img[t]);
		bc.serial = t ? "blk-pci" : "blk-mmio";
		GH_OK(&g, vmm_virtio_blk_attach(g.vm, &bc, &devs[ndev++]));

		struct vmm_virtio_console_config cc;
		vmm_virtio_console_config_init(&cc, tr);
		cc.virtio = vc;
		cc.virtio.mmio_base = MMIO_BASE + 0x1000;
		cc.virtio.irq = 6;
		GH_CHECK(&g, pipe(con_out[t]) == 0 && pipe(con_in[t]) == 0, "pipe");
		const char *ping = t ? "ping over pci\n" : "ping over mmio\n";
		GH_CHECK(&g, write(con_in[t][1], ping, strlen(ping)) > 0, "write");
		cc.out_fd = con_out[t][1];
		cc.in_fd = con_in[t][0];
		GH_OK(&g, vmm_virtio_console_attach(g.vm, &cc, &devs[ndev++]));

		struct vmm_virtio_config rc = vc;
		rc.mmio_base = MMIO_BASE + 0x2000;
		rc.irq = 7;
		GH_OK(&g, vmm_virtio_rng_attach(g.vm, &rc, &devs[ndev++]));
	}
	if (net)
		GH_CHECK(&g, pthread_create(&ns.thr, NULL, net_responder, &ns) == 0,
			 "thread");

	if (packed) {
		/* gh_load() with the guest's command line */
		size_t ilen;
		char *img = gh_read_file(argv[2], &ilen);

		GH_OK(&g, vmm_image_load_multiboot(g.vm, img, ilen, "packed", NULL, 0,
					     &g.info));
		GH_OK(&g, vmm_boot_setup_vcpu(g.vcpu, &g.info));
		free(img);
	} else {
		gh_load(&g, argv[2]);
	}
	double t0 = gh_now();
	gh_run(&g, &exit);
	double t1 = gh_now();
	if (net) {
		ns.stop = 1;
		pthread_join(ns.thr, NULL);
	}
	char *out = gh_output(&g);
	printf("%s", out);
	gh_describe_exit(&exit, desc, sizeof(desc));
	GH_CHECK(&g, exit.kind == VMM_EXIT_GUEST_EXIT &&
			     exit.guest.status == STATUS_VIRTIO,
		 "expected guest-exit status %d, got %s", STATUS_VIRTIO, desc);
	expect_line(&g, out, "virtio: all checks passed");
	/* the guest insists on VIRTIO_F_RING_PACKED ("no RING_PACKED"
	 * otherwise) and its rings only make sense as packed ones */
	if (packed)
		expect_line(&g, out, "virtio: packed rings");

	for (int i = 0; i < ndev; i++) {
		struct vmm_virtio_stats st = { .struct_size = sizeof(st) };
		GH_OK(&g, vmm_virtio_get_stats(devs[i], &st));
		printf("%-24s id %u status 0x%02x features 0x%llx kicks %llu "
		       "irqs %llu reqs %llu in %llu out %llu ioerr %llu qerr %llu "
		       "drverr %llu ioeventfd %d irqfd %d\n",
		       vmm_dev_name(devs[i]), st.device_id, st.status,
		       (unsigned long long)st.features,
		       (unsigned long long)st.kicks,
		       (unsigned long long)st.interrupts,
		       (unsigned long long)st.requests,
		       (unsigned long long)st.bytes_in,
		       (unsigned long long)st.bytes_out,
		       (unsigned long long)st.io_errors,
		       (unsigned long long)st.queue_errors,
		       (unsigned long long)st.driver_errors, st.ioeventfd,
		       st.irqfd);
		GH_CHECK(&g, st.queue_errors == 0, "%s: queue errors",
			 vmm_dev_name(devs[i]));
		GH_CHECK(&g, st.requests > 0, "%s: no requests",
			 vmm_dev_name(devs[i]));
		if (vflags & VMM_VIRTIO_NO_IOEVENTFD)
			GH_CHECK(&g, !st.ioeventfd, "ioeventfd used with NO_IOEVENTFD");
	}

	if (net) {
		expect_line(&g, out, "virtio-net@mmio: mac 52:0:0:0:0:10");
		expect_line(&g, out, "received 64 bytes 'pong from the host'");
		GH_CHECK(&g, ns.frames_seen >= 2, "host saw %d frames", ns.frames_seen);
		GH_CHECK(&g, !strcmp(ns.seen[0], "libvmm virtio-net over mmio") &&
				     !strcmp(ns.seen[1], "libvmm virtio-net over pci"),
			 "frames on the tap: '%s' '%s'", ns.seen[0], ns.seen[1]);
		printf("tap: %d frames from the guest: '%s', '%s'\n",
		       ns.frames_seen, ns.seen[0], ns.seen[1]);
	} else {
		static const char *tn[2] = { "mmio", "pci" };
		for (int t = 0; t < 2; t++) {
			char want[96], got[64] = { 0 }, marker[40];
			uint8_t sec[4096];
			ssize_t n;

			snprintf(want, sizeof(want), "virtio-blk@%s: capacity 2048 "
				 "sectors, write/read 8 sectors ok", tn[t]);
			expect_line(&g, out, want);
			snprintf(want, sizeof(want), "id 'blk-%s'", tn[t]);
			expect_line(&g, out, want);
			snprintf(want, sizeof(want), "virtio-console@%s: sent %zu "
				 "bytes, received 'ping over %s'", tn[t],
				 strlen("hello from virtio-console over ") +
					 strlen(tn[t]) + 1, tn[t]);
			expect_line(&g, out, want);
			snprintf(want, sizeof(want), "virtio-rng@%s: 64 bytes, ok",
				 tn[t]);
			expect_line(&g, out, want);
			/* what reached the host */
			close(con_out[t][1]);
			n = read(con_out[t][0], got, sizeof(got) - 1);
			snprintf(want, sizeof(want),
				 "hello from virtio-console over %s\n", tn[t]);
			GH_CHECK(&g, n > 0 && !strcmp(got, want),
				 "console output '%s'", got);
			read_at(&g, img[t], t ? 512 : 0, marker, 30);
			marker[30] = 0;
			snprintf(want, sizeof(want), "written by the guest over %s",
				 tn[t]);
			GH_CHECK(&g, !strncmp(marker, want, strlen(want)),
				 "image %s sector marker '%s'", img[t], marker);
			read_at(&g, img[t], 8 * 512, sec, sizeof(sec));
			for (unsigned i = 0; i < sizeof(sec); i++)
				GH_CHECK(&g, sec[i] == (uint8_t)(i * 7 + t * 13 + 1),
					 "image %s byte %u", img[t], 4096 + i);
			unlink(img[t]);
		}
	}
	struct vmm_vm_stats vs = { .struct_size = sizeof(vs) };
	GH_OK(&g, vmm_vm_get_stats(g.vm, &vs));
	printf("virtio guest (%s) on %s: %s in %.1f ms; %llu exits (%llu PIO, "
	       "%llu MMIO)\n", mode, vmm_backend_name(vmm_vm_backend(g.vm)),
	       desc, (t1 - t0) * 1e3, (unsigned long long)vs.exits,
	       (unsigned long long)vs.io_exits,
	       (unsigned long long)vs.mmio_exits);
	free(out);
	gh_destroy(&g);
	if (ns.tap >= 0)
		close(ns.tap);
	return 0;
}
