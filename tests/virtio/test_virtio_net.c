/* SPDX-License-Identifier: MIT */
/*
 * test_virtio_net - virtio-net's offloads and its hostile-driver cases on
 * a null-backend VM: the test plays the guest (registers through
 * vmm_bus_access(), rings with vmm_mem_write()) and the network (a tap
 * with IFF_VNET_HDR in a network namespace of its own, a packet socket on
 * its interface).
 *
 *   offered features follow the tap (offloads only with a vnet header);
 *   transmit headers that lie (checksum outside the frame, hdr_len beyond
 *   it, gso_size 0, GSO without NEEDS_CSUM or not negotiated, unknown
 *   flags, a chain shorter than the header) are dropped - the chain
 *   completes, nothing reaches the tap, the device keeps working - and a
 *   truthful 64 KiB TSO frame reaches the tap whole;
 *   mergeable receive buffers: a frame over 8 chains, num_buffers 8, made
 *   visible at once, also when the driver posts the chains in two steps;
 *   without MRG_RXBUF the same frame is dropped and the next one fits;
 *   a receive buffer too small for the header completes empty;
 *   a driver that never posts receive buffers: the host floods the tap,
 *   the device reads nothing, transmit still works, no memory growth.
 *
 * Needs root (network namespace, tap): exit 77 otherwise.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "config.h"
#include "dev/virtio/net_hdr.h"
#include "dev/virtio/virtio_dev.h"
#include "vtest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BASE 0xd0000000ull
#define RAM (1u << 20)
/* queue 0 (receive) and 1 (transmit) */
#define DESC(q) (0x1000u + 0x3000u * (q))
#define AVAIL(q) (0x2000u + 0x3000u * (q))
#define USED(q) (0x3000u + 0x3000u * (q))
#define RXBUF 0x10000u
#define TXBUF 0x40000u
#define QSIZE 64

#define B(x) (1u << (x))

struct ctx {
	vmm_vm *vm;
	vmm_dev *dev;
	char log[16384];
	uint16_t avail_idx[2];
};

static int g_tap = -1, g_plain = -1, g_pkt = -1, g_ifindex;

static void log_cb(void *opaque, int level, const char *msg)
{
	struct ctx *c = opaque;

	(void)level;
	vt_log_append(c->log, sizeof(c->log), msg);
}

static void w32(struct ctx *c, uint64_t off, uint32_t v)
{
	vt_w32(c->vm, BASE + off, v);
}

static uint32_t r32(struct ctx *c, uint64_t off)
{
	return vt_r32(c->vm, BASE + off);
}

static void mw(struct ctx *c, uint64_t gpa, const void *p, size_t n)
{
	vt_mw(c->vm, gpa, p, n);
}

static void mr(struct ctx *c, uint64_t gpa, void *p, size_t n)
{
	vt_mr(c->vm, gpa, p, n);
}

static void put_desc(struct ctx *c, unsigned q, unsigned i, uint64_t addr,
		     uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t d[16];
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
	mw(c, DESC(q) + 16ull * i, d, 16);
}

/* make chain @head available on queue @q (no kick) */
static void offer(struct ctx *c, unsigned q, uint16_t head)
{
	uint16_t slot = c->avail_idx[q] % QSIZE;

	mw(c, AVAIL(q) + 4 + 2ull * slot, &head, 2);
	c->avail_idx[q]++;
	mw(c, AVAIL(q) + 2, &c->avail_idx[q], 2);
}

static void kick(struct ctx *c, unsigned q)
{
	w32(c, 0x50, q);
	vmm__virtio_sync(c->dev);
}

static uint16_t used_idx(struct ctx *c, unsigned q)
{
	uint16_t v;
	mr(c, USED(q) + 2, &v, 2);
	return v;
}

static void used_elem(struct ctx *c, unsigned q, uint16_t i, uint32_t *id,
		      uint32_t *len)
{
	uint32_t e[2];
	mr(c, USED(q) + 4 + 8ull * (i % QSIZE), e, 8);
	*id = e[0];
	*len = e[1];
}

/* wait (the event loop reads the tap) until used->idx of @q reaches @want */
static bool wait_used(struct ctx *c, unsigned q, uint16_t want, int ms)
{
	for (int i = 0; i < ms; i++) {
		if ((uint16_t)(used_idx(c, q) - want) < 0x8000)
			return true;
		usleep(1000);
	}
	return false;
}

static bool needs_reset(struct ctx *c)
{
	return r32(c, 0x70) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

static uint64_t dev_features(struct ctx *c)
{
	w32(c, 0x14, 0);
	uint64_t f = r32(c, 0x10);
	w32(c, 0x14, 1);
	return f | (uint64_t)r32(c, 0x10) << 32;
}

static void setup(struct ctx *c, int tap)
{
	struct vmm_config cfg;
	struct vmm_virtio_net_config nc;

	memset(c, 0, sizeof(*c));
	vmm_config_init(&cfg);
	cfg.log = log_cb;
	cfg.log_opaque = c;
	cfg.log_level = VMM_LOG_DEBUG;
	assert_int_equal(vmm__vm_create_null(&cfg, &c->vm), 0);
	assert_int_equal(vmm_mem_add_ram(c->vm, 0, RAM), 0);
	vmm_virtio_net_config_init(&nc, VMM_VIRTIO_MMIO);
	nc.virtio.mmio_base = BASE;
	nc.virtio.queue_size = QSIZE;
	nc.virtio.flags = VMM_VIRTIO_NO_EVENT_IDX;
	nc.tap_fd = tap;
	assert_int_equal(vmm_virtio_net_attach(c->vm, &nc, &c->dev), 0);
}

/* The driver's initialisation: features @feat_lo, both queues. */
static void driver_init(struct ctx *c, uint32_t feat_lo)
{
	static const uint8_t zero[0x1000];

	w32(c, 0x70, 0);
	for (unsigned q = 0; q < 2; q++) {
		mw(c, AVAIL(q), zero, sizeof(zero));
		mw(c, USED(q), zero, sizeof(zero));
		c->avail_idx[q] = 0;
	}
	w32(c, 0x70, 1);
	w32(c, 0x70, 3);
	w32(c, 0x24, 0);
	w32(c, 0x20, feat_lo);
	w32(c, 0x24, 1);
	w32(c, 0x20, 1); /* VERSION_1 */
	w32(c, 0x70, 0xb);
	assert_true(r32(c, 0x70) & 8);
	for (unsigned q = 0; q < 2; q++) {
		w32(c, 0x30, q);
		w32(c, 0x38, QSIZE);
		w32(c, 0x80, DESC(q));
		w32(c, 0x84, 0);
		w32(c, 0x90, AVAIL(q));
		w32(c, 0x94, 0);
		w32(c, 0xa0, USED(q));
		w32(c, 0xa4, 0);
		w32(c, 0x44, 1);
	}
	w32(c, 0x70, 0xf);
	assert_false(needs_reset(c));
}

static uint64_t driver_errors(struct ctx *c)
{
	struct vmm_virtio_stats st = { .struct_size = sizeof(st) };
	assert_int_equal(vmm_virtio_get_stats(c->dev, &st), 0);
	return st.driver_errors;
}

/* ---- the network side ---- */

static int tap_new(const char *name, bool vnet)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int if_up(const char *name, int mtu)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = -1;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (s < 0)
		return -1;
	ifr.ifr_mtu = mtu;
	if (ioctl(s, SIOCSIFMTU, &ifr) < 0)
		goto out;
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		goto out;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0 || ioctl(s, SIOCGIFINDEX, &ifr) < 0)
		goto out;
	ret = ifr.ifr_ifindex;
out:
	close(s);
	return ret;
}

static int net_setup(void)
{
	struct sockaddr_ll sll;
	int one = 1, fd;

	if (unshare(CLONE_NEWNET) < 0) {
		printf("SKIP: unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return 77;
	}
	fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1", 1) < 0) { /* best effort */ }
		close(fd);
	}
	g_tap = tap_new("tnet0", true);
	g_plain = tap_new("tnet1", false);
	if (g_tap < 0 || g_plain < 0) {
		printf("SKIP: tap: %s\n", strerror(errno));
		return 77;
	}
	g_ifindex = if_up("tnet0", 9000);
	if (g_ifindex < 0 || if_up("tnet1", 1500) < 0) {
		printf("SKIP: interface up: %s\n", strerror(errno));
		return 77;
	}
	g_pkt = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = g_ifindex;
	if (g_pkt < 0 || bind(g_pkt, (struct sockaddr *)&sll, sizeof(sll)) < 0 ||
	    setsockopt(g_pkt, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one,
		       sizeof(one)) < 0) {
		printf("SKIP: packet socket: %s\n", strerror(errno));
		return 77;
	}
	return 0;
}

/* everything that arrived on the tap's interface until 100 ms of quiet */
static int pkt_collect(size_t *lens, int max)
{
	static uint8_t buf[70000];
	int n = 0;
	struct pollfd p = { .fd = g_pkt, .events = POLLIN };

	while (poll(&p, 1, 100) > 0) {
		ssize_t r = recv(g_pkt, buf, sizeof(buf), MSG_TRUNC);
		if (r < 0)
			break;
		if (n < max)
			lens[n] = (size_t)r;
		n++;
	}
	return n;
}

/* send @len bytes of Ethernet frame out of the tap's interface */
static void pkt_send(const uint8_t *frame, size_t len)
{
	struct sockaddr_ll sll;

	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = g_ifindex;
	sll.sll_halen = 6;
	memcpy(sll.sll_addr, frame, 6);
	assert_int_equal(sendto(g_pkt, frame, len, 0, (struct sockaddr *)&sll,
				sizeof(sll)),
			 (ssize_t)len);
}

static void eth_frame(uint8_t *f, size_t len, uint8_t seed)
{
	static const uint8_t dst[6] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 };
	static const uint8_t src[6] = { 0x02, 0, 0, 0, 0, 1 };

	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	for (size_t i = 14; i < len; i++)
		f[i] = (uint8_t)(i * 13 + seed);
}

/* a TCP/IPv4 frame of @len bytes behind a vnet header in guest memory */
static void tso_frame(struct ctx *c, uint64_t gpa, size_t len,
		      const struct vmm_net_hdr *h)
{
	uint8_t *f = calloc(1, 12 + len), raw[12];

	assert_non_null(f);
	vmm__net_hdr_put(raw, h);
	memcpy(f, raw, 12);
	eth_frame(f + 12, len, 1);
	f[24] = 0x08;
	f[25] = 0x00;
	uint8_t *ip = f + 26, *tcp = f + 46;
	memset(ip, 0, 40);
	ip[0] = 0x45;
	ip[2] = (uint8_t)((len - 14) >> 8);
	ip[3] = (uint8_t)(len - 14);
	ip[8] = 64;
	ip[9] = 6;
	ip[12] = 10; ip[15] = 2;
	ip[16] = 10; ip[19] = 1;
	uint32_t sum = 0;
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	ip[10] = (uint8_t)(~sum >> 8);
	ip[11] = (uint8_t)~sum;
	tcp[1] = 80;
	tcp[3] = 81;
	tcp[12] = 0x50;
	tcp[13] = 0x10;
	mw(c, gpa, f, 12 + len);
	free(f);
}

/* ---- tests ---- */

static void test_features_follow_the_tap(void **state)
{
	struct ctx c;
	uint64_t offl = B(VIRTIO_NET_F_CSUM) | B(VIRTIO_NET_F_GUEST_CSUM) |
			B(VIRTIO_NET_F_GUEST_TSO4) | B(VIRTIO_NET_F_GUEST_TSO6) |
			B(VIRTIO_NET_F_HOST_TSO4) | B(VIRTIO_NET_F_HOST_TSO6);

	(void)state;
	setup(&c, g_tap);
	assert_int_equal(dev_features(&c) & offl, offl);
	assert_true(dev_features(&c) & B(VIRTIO_NET_F_MRG_RXBUF));
	vmm_vm_destroy(c.vm);
	setup(&c, g_plain);
	assert_int_equal(dev_features(&c) & offl, 0);
	assert_true(dev_features(&c) & B(VIRTIO_NET_F_MRG_RXBUF));
	vmm_vm_destroy(c.vm);
	/* not a tap: bare frames over a datagram socket, no offloads */
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv),
			 0);
	setup(&c, sv[0]);
	assert_int_equal(dev_features(&c) & offl, 0);
	vmm_vm_destroy(c.vm);
	close(sv[0]);
	close(sv[1]);
	/* a tun (layer 3) device is refused */
	struct ifreq ifr;
	struct vmm_config cfg;
	struct vmm_virtio_net_config nc;
	vmm_dev *dev;
	int tun = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	assert_true(tun >= 0);
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "tnet2");
	assert_int_equal(ioctl(tun, TUNSETIFF, &ifr), 0);
	memset(&c, 0, sizeof(c));
	vmm_config_init(&cfg);
	cfg.log = log_cb;
	cfg.log_opaque = &c;
	assert_int_equal(vmm__vm_create_null(&cfg, &c.vm), 0);
	assert_int_equal(vmm_mem_add_ram(c.vm, 0, RAM), 0);
	vmm_virtio_net_config_init(&nc, VMM_VIRTIO_MMIO);
	nc.virtio.mmio_base = BASE;
	nc.tap_fd = tun;
	assert_int_equal(vmm_virtio_net_attach(c.vm, &nc, &dev), -EINVAL);
	assert_non_null(strstr(c.log, "tap with IFF_NO_PI"));
	vmm_vm_destroy(c.vm);
	close(tun);
}

/* One transmitted chain (header + frame at TXBUF, @len frame bytes). */
static void tx_one(struct ctx *c, uint32_t chain_len)
{
	uint16_t u = used_idx(c, 1);

	put_desc(c, 1, 0, TXBUF, chain_len, 0, 0);
	offer(c, 1, 0);
	kick(c, 1);
	assert_int_equal(used_idx(c, 1), (uint16_t)(u + 1));
	assert_false(needs_reset(c));
}

static void test_tx_lying_headers(void **state)
{
	static const struct {
		struct vmm_net_hdr h;
		size_t len;
		const char *why;
	} bad[] = {
		{ { 1, 0, 0, 0, 50, 20, 0 }, 60, "checksum at 50+20" },
		{ { 1, 0, 0, 0, 0xffff, 0xffff, 0 }, 60, "checksum at" },
		{ { 1, 1, 9000, 1448, 34, 16, 0 }, 3000, "hdr_len 9000" },
		{ { 1, 1, 54, 0, 34, 16, 0 }, 3000, "gso_size 0" },
		{ { 0, 1, 54, 1448, 0, 0, 0 }, 3000, "GSO without NEEDS_CSUM" },
		{ { 1, 4, 74, 1448, 54, 16, 0 }, 3000, "gso_type 0x4 not" },
		{ { 1, 0x81, 54, 1448, 34, 16, 0 }, 3000, "gso_type 0x81" },
		{ { 1, 3, 54, 1448, 34, 16, 0 }, 3000, "gso_type 0x3" },
		{ { 0x80, 0, 0, 0, 0, 0, 0 }, 60, "header flags 0x80" },
		{ { 0, 0x10, 0, 0, 0, 0, 0 }, 60, "gso_type 0x10" },
	};
	struct ctx c;
	size_t lens[8];

	(void)state;
	setup(&c, g_tap);
	/* CSUM + HOST_TSO4 only: TCPV6 and ECN are not negotiated */
	driver_init(&c, B(VIRTIO_NET_F_CSUM) | B(VIRTIO_NET_F_HOST_TSO4));
	pkt_collect(lens, 8);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t e = driver_errors(&c);

		tso_frame(&c, TXBUF, bad[i].len, &bad[i].h);
		tx_one(&c, (uint32_t)(12 + bad[i].len));
		if (driver_errors(&c) != e + 1 || !strstr(c.log, bad[i].why))
			fprintf(stderr, "case %zu log:\n%s", i, c.log);
		assert_int_equal(driver_errors(&c), e + 1);
		assert_non_null(strstr(c.log, bad[i].why));
	}
	/* a chain shorter than the header */
	uint64_t e = driver_errors(&c);
	tx_one(&c, 8);
	assert_int_equal(driver_errors(&c), e + 1);
	assert_non_null(strstr(c.log, "shorter than the header"));
	/* none of them reached the tap */
	assert_int_equal(pkt_collect(lens, 8), 0);

	/* the truth: a 64 KiB TSO segment, a checksum-offloaded small frame */
	struct vmm_net_hdr tso = { 1, 1, 54, 1448, 34, 16, 0 };
	struct vmm_net_hdr cs = { 1, 0, 0, 0, 34, 16, 0 };
	tso_frame(&c, TXBUF, 63766, &tso);
	tx_one(&c, 12 + 63766);
	tso_frame(&c, TXBUF, 200, &cs);
	tx_one(&c, 12 + 200);
	assert_int_equal(pkt_collect(lens, 8), 2);
	assert_int_equal(lens[0], 63766);
	assert_int_equal(lens[1], 200);
	assert_int_equal(driver_errors(&c), e + 1);
	vmm_vm_destroy(c.vm);
}

/* NEEDS_CSUM without VIRTIO_NET_F_CSUM negotiated, on a tap without a
 * vnet header: dropped as well. */
static void test_tx_unnegotiated_csum(void **state)
{
	struct vmm_net_hdr cs = { 1, 0, 0, 0, 34, 16, 0 };
	struct ctx c;

	(void)state;
	setup(&c, g_plain);
	driver_init(&c, 0);
	tso_frame(&c, TXBUF, 200, &cs);
	tx_one(&c, 12 + 200);
	assert_int_equal(driver_errors(&c), 1);
	assert_non_null(strstr(c.log, "NEEDS_CSUM without"));
	vmm_vm_destroy(c.vm);
}

/* Post @n receive buffers of @size bytes, descriptors @first.. */
static void post_rx(struct ctx *c, unsigned first, unsigned n, uint32_t size)
{
	for (unsigned i = first; i < first + n; i++) {
		put_desc(c, 0, i, RXBUF + (uint64_t)i * 2048, size,
			 VRING_DESC_F_WRITE, 0);
		offer(c, 0, (uint16_t)i);
	}
}

static void test_rx_mergeable(void **state)
{
	static uint8_t f[8000], got[8000 + 12];
	struct ctx c;
	uint32_t id, len;
	size_t off = 0;
	uint16_t nb;

	(void)state;
	setup(&c, g_tap);
	driver_init(&c, B(VIRTIO_NET_F_MRG_RXBUF) | B(VIRTIO_NET_F_GUEST_CSUM));
	/* 3 buffers of 1024 for an 8012-byte frame: not enough yet */
	post_rx(&c, 0, 3, 1024);
	kick(&c, 0);
	eth_frame(f, sizeof(f), 7);
	pkt_send(f, sizeof(f));
	usleep(200000);
	assert_int_equal(used_idx(&c, 0), 0);
	/* 5 more: the waiting frame goes out over all 8 at once */
	post_rx(&c, 3, 5, 1024);
	kick(&c, 0);
	assert_true(wait_used(&c, 0, 8, 2000));
	assert_int_equal(used_idx(&c, 0), 8);
	for (uint16_t i = 0; i < 8; i++) {
		used_elem(&c, 0, i, &id, &len);
		assert_int_equal(id, i);
		assert_int_equal(len, i < 7 ? 1024 : 8012 - 7 * 1024);
		mr(&c, RXBUF + (uint64_t)i * 2048, got + off, len);
		off += len;
	}
	memcpy(&nb, got + 10, 2);
	assert_int_equal(nb, 8);
	assert_memory_equal(got + 12, f, sizeof(f));
	assert_false(needs_reset(&c));

	/* without MRG_RXBUF the same frame does not fit one buffer: dropped,
	 * the buffer reused for the next (small) frame */
	driver_init(&c, 0);
	post_rx(&c, 0, 4, 1024);
	kick(&c, 0);
	pkt_send(f, sizeof(f));
	pkt_send(f, 100);
	assert_true(wait_used(&c, 0, 1, 2000));
	usleep(100000);
	assert_int_equal(used_idx(&c, 0), 1);
	used_elem(&c, 0, 0, &id, &len);
	assert_int_equal(len, 112);
	mr(&c, RXBUF + (uint64_t)id * 2048, got, 112);
	assert_memory_equal(got + 12, f, 100);
	memcpy(&nb, got + 10, 2);
	assert_int_equal(nb, 1);

	/* a buffer too small for the header completes empty, logged */
	driver_init(&c, B(VIRTIO_NET_F_MRG_RXBUF));
	put_desc(&c, 0, 0, RXBUF, 8, VRING_DESC_F_WRITE, 0);
	offer(&c, 0, 0);
	post_rx(&c, 1, 1, 1024);
	kick(&c, 0);
	pkt_send(f, 100);
	assert_true(wait_used(&c, 0, 2, 2000));
	used_elem(&c, 0, 0, &id, &len);
	assert_int_equal(id, 0);
	assert_int_equal(len, 0);
	used_elem(&c, 0, 1, &id, &len);
	assert_int_equal(id, 1);
	assert_int_equal(len, 112);
	assert_non_null(strstr(c.log, "rx buffer 0 too small"));
	assert_false(needs_reset(&c));
	vmm_vm_destroy(c.vm);
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[128];
	long v = -1;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			v = atol(line + 6);
	if (f)
		fclose(f);
	return v;
}

/* A driver that never posts receive buffers while the host floods the
 * tap: nothing is read, the loop keeps serving transmit, memory stays. */
static void test_rx_never_posted(void **state)
{
	static uint8_t f[1500];
	struct vmm_net_hdr none = { 0 };
	struct vmm_virtio_stats st = { .struct_size = sizeof(st) };
	struct ctx c;
	long rss0;

	(void)state;
	setup(&c, g_tap);
	driver_init(&c, 0);
	eth_frame(f, sizeof(f), 3);
	rss0 = rss_kib();
	for (int i = 0; i < 20000; i++) {
		struct sockaddr_ll sll = { .sll_family = AF_PACKET,
					   .sll_ifindex = g_ifindex,
					   .sll_halen = 6 };
		/* the tap's queue fills and drops: ENOBUFS is fine */
		sendto(g_pkt, f, sizeof(f), MSG_DONTWAIT,
		       (struct sockaddr *)&sll, sizeof(sll));
	}
	for (int i = 0; i < 50; i++) {
		tso_frame(&c, TXBUF, 60, &none);
		tx_one(&c, 72);
	}
	assert_int_equal(vmm_virtio_get_stats(c.dev, &st), 0);
	assert_int_equal(st.bytes_in, 0);
	assert_int_equal(st.requests, 50);
	assert_true(rss_kib() - rss0 < 4096);
	/* posting buffers later gets frames (the queued ones) */
	post_rx(&c, 0, 4, 2048);
	kick(&c, 0);
	assert_true(wait_used(&c, 0, 4, 2000));
	vmm_vm_destroy(c.vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_features_follow_the_tap),
		cmocka_unit_test(test_tx_lying_headers),
		cmocka_unit_test(test_tx_unnegotiated_csum),
		cmocka_unit_test(test_rx_mergeable),
		cmocka_unit_test(test_rx_never_posted),
	};
	int r = net_setup();

	if (r)
		return r;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
