/* SPDX-License-Identifier: MIT */
/*
 * virtio_guest.c - a small polled virtio 1.x driver (split or packed
 * rings, optional EVENT_IDX) that runs at CPL3 on lib/entry64.S and exercises every virtio
 * device it finds on both transports:
 *
 *   virtio-mmio  version-2 windows at 0xd0000000 + n * 0x1000 (n < 8)
 *   virtio-pci   bus 0 through 0xcf8/0xcfc; BAR0 is placed at
 *                0xe0000000 + slot * 0x10000 by this driver
 *
 *   blk      write 8 sectors, read them back, compare, flush, GET_ID
 *   console  print a line on the transmit queue, read host input
 *   rng      read 64 random bytes
 *   net      send a broadcast frame (ethertype 0x88b5), wait for one back
 *
 * Results go to COM1; the guest exits through the debug-exit port with
 * GUEST_EXIT_VIRTIO (status 193) when every check passed.
 *
 * "netbench=tx|rx ..." runs the network benchmark on the first net device
 * (see netbench() below).
 *
 * Command line (multiboot): "bench=seq|rand reqs=N qd=N bs=N [queues=N]"
 * runs a block read benchmark on the first blk device instead, bracketed by
 * writes of 1 and 2 to port 0x520 so the host can time it.  "noevidx"
 * disables EVENT_IDX.  "packed" runs every queue on a packed ring
 * (VIRTIO_F_RING_PACKED, which the device must then offer): the tests
 * build their chains in a split-style staging table as before, and
 * add_chain() copies each chain into consecutive ring slots.
 *
 * "snaprw=N" (snapshot and migration tests): N rounds on the first blk
 * device, each 4 writes of 4 KiB in flight at once, then 4 reads of the
 * same blocks in flight at once, compared; "snaprw: round R" every 100
 * rounds; at the end every block of the first MiB is read back and its
 * FNV-1a hash printed.  The image content and the output are a pure
 * function of N, so a run snapshotted or migrated at any point must end
 * exactly like an uninterrupted one.
 */
#include "entry64.h"
#include "guest.h"

#define GUEST_EXIT_VIRTIO 0x60
#define MARK_PORT 0x520

#define MMIO_BASE 0xd0000000ull
#define MMIO_SLOTS 8
#define PCI_BAR_BASE 0xe0000000ull

#define F_INDIRECT 28
#define F_EVENT_IDX 29
#define F_VERSION_1 32
#define F_RING_PACKED 34

/* packed ring descriptor flags and event suppression */
#define PD_AVAIL (1u << 7)
#define PD_USED (1u << 15)
#define EV_ENABLE 0
#define EV_DISABLE 1
#define EV_DESC 2

#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8
#define S_NEEDS_RESET 0x40

#define QSIZE 128
#define MAXQ 4

static int failures;

static void check(int ok, const char *what)
{
	if (!ok) {
		gprintf("FAIL: %s\n", what);
		failures++;
	}
}

static inline void mb(void)
{
	__asm__ volatile("mfence" ::: "memory");
}

static inline void cbar(void)
{
	__asm__ volatile("" ::: "memory");
}

/* ---- bump allocator over identity-mapped RAM from 16 MiB ---- */

static uint64_t heap = 16ull << 20;

static void *alloc(uint64_t size, uint64_t align)
{
	void *p;

	heap = (heap + align - 1) & ~(align - 1);
	p = (void *)(uintptr_t)heap;
	heap += size;
	memset(p, 0, size);
	return p;
}

/* ---- MMIO accessors ---- */

static inline uint32_t rd32(uint64_t a)
{
	return *(volatile uint32_t *)(uintptr_t)a;
}
static inline void wr32(uint64_t a, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)a = v;
}
static inline uint16_t rd16m(uint64_t a)
{
	return *(volatile uint16_t *)(uintptr_t)a;
}
static inline void wr16m(uint64_t a, uint16_t v)
{
	*(volatile uint16_t *)(uintptr_t)a = v;
}
static inline uint8_t rd8m(uint64_t a)
{
	return *(volatile uint8_t *)(uintptr_t)a;
}
static inline void wr8m(uint64_t a, uint8_t v)
{
	*(volatile uint8_t *)(uintptr_t)a = v;
}
static inline void wr64m(uint64_t a, uint64_t v)
{
	wr32(a, (uint32_t)v);
	wr32(a + 4, (uint32_t)(v >> 32));
}

/* ---- rings ---- */

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct pdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};

struct vq {
	uint16_t size;
	struct desc *desc; /* split: the table; packed: staging for chains */
	volatile uint16_t *avail; /* flags, idx, ring[size], used_event */
	volatile uint8_t *used;   /* flags, idx, {id,len}[size], avail_event */
	uint16_t avail_idx, last_used, kicked_idx;
	uint64_t notify_addr;
	uint32_t notify_val;
	int notify_width;
	int event_idx;
	uint64_t kicks;
	/* packed */
	int packed;
	volatile struct pdesc *ring;
	volatile uint16_t *drv_evt, *dev_evt; /* off_wrap, flags */
	uint16_t next, used_next, kicked_next;
	int wrap, used_wrap, kicked_wrap;
	uint16_t *chain_len; /* ring slots of the chain, by buffer ID */
};

struct vdev {
	int pci;
	const char *tname;
	uint32_t id;
	uint64_t base;     /* MMIO window */
	uint64_t common, isr, devcfg, notify; /* PCI */
	uint32_t notify_mult;
	int event_idx;
	int packed;
	struct vq q[MAXQ];
};

static uint16_t used_idx(struct vq *q)
{
	return *(volatile uint16_t *)(q->used + 2);
}

static void used_elem(struct vq *q, uint16_t i, uint32_t *id, uint32_t *len)
{
	volatile uint32_t *e =
		(volatile uint32_t *)(q->used + 4 + 8 * (i & (q->size - 1)));
	*id = e[0];
	*len = e[1];
}

/* Is a used element waiting? */
static int has_used(struct vq *q)
{
	if (q->packed) {
		uint16_t f = q->ring[q->used_next].flags;
		return !!(f & PD_AVAIL) == q->used_wrap &&
		       !!(f & PD_USED) == q->used_wrap;
	}
	return used_idx(q) != q->last_used;
}

/* Take the used element has_used() saw. */
static void take_used(struct vq *q, uint32_t *id, uint32_t *len)
{
	cbar();
	if (!q->packed) {
		used_elem(q, q->last_used, id, len);
		q->last_used++;
		return;
	}
	*id = q->ring[q->used_next].id;
	*len = q->ring[q->used_next].len;
	/* the device skips the rest of the chain's slots */
	q->used_next = (uint16_t)(q->used_next +
				  (*id < q->size ? q->chain_len[*id] : 1));
	if (q->used_next >= q->size) {
		q->used_next = (uint16_t)(q->used_next - q->size);
		q->used_wrap = !q->used_wrap;
	}
}

static void notify(struct vq *q)
{
	q->kicks++;
	if (q->notify_width == 2)
		wr16m(q->notify_addr, (uint16_t)q->notify_val);
	else
		wr32(q->notify_addr, q->notify_val);
}

/* packed: kick unless the device event suppression says otherwise */
static void publish_packed(struct vq *q)
{
	uint32_t n2 = 2u * q->size, nw, od, e;
	uint16_t flags, off;

	mb();
	flags = q->dev_evt[1];
	off = q->dev_evt[0];
	nw = q->next + (q->wrap ? q->size : 0u);
	od = q->kicked_next + (q->kicked_wrap ? q->size : 0u);
	e = (off & 0x7fffu) + ((off >> 15) ? q->size : 0u);
	q->kicked_next = q->next;
	q->kicked_wrap = q->wrap;
	if (flags == EV_DISABLE || nw == od)
		return;
	/* DESC: kick when the descriptor at the device's position was
	 * made available since the last kick */
	if (flags == EV_DESC && q->event_idx &&
	    !((nw + 2 * n2 - e - 1) % n2 < (nw + n2 - od) % n2))
		return;
	notify(q);
}

/* Publish descriptors up to avail_idx and kick if the device wants it. */
static void publish(struct vq *q)
{
	uint16_t old = q->kicked_idx, new_idx = q->avail_idx;

	if (q->packed) {
		publish_packed(q);
		return;
	}
	cbar();
	q->avail[1] = new_idx;
	mb();
	q->kicked_idx = new_idx;
	if (q->event_idx) {
		uint16_t ev = *(volatile uint16_t *)(q->used + 4 + 8 * q->size);
		if ((uint16_t)(new_idx - ev - 1) < (uint16_t)(new_idx - old))
			notify(q);
	} else if (!(*(volatile uint16_t *)q->used & 1)) {
		notify(q);
	}
}

/* Keep interrupts off: we poll. */
static void suppress_irq(struct vq *q)
{
	if (q->packed)
		q->drv_evt[1] = EV_DISABLE;
	else if (q->event_idx)
		q->avail[2 + q->size] = (uint16_t)(q->last_used + 0x7fff);
	else
		q->avail[0] = 1;
}

/* Put chain [head .. head+n) in the avail ring (descriptors filled). */
static void add_chain(struct vq *q, uint16_t head)
{
	if (q->packed) {
		/* copy the staged chain into consecutive ring slots, buffer
		 * ID = head; the head's flags last, once the rest is there */
		uint16_t at = q->next, i = head, n = 0, hflags = 0;
		int w = q->wrap;

		for (;;) {
			struct desc *d = &q->desc[i];
			uint16_t f = (uint16_t)((d->flags & 7) |
						(w ? PD_AVAIL : PD_USED));

			q->ring[at].addr = d->addr;
			q->ring[at].len = d->len;
			q->ring[at].id = head;
			if (n)
				q->ring[at].flags = f;
			else
				hflags = f;
			n++;
			if (++at == q->size) {
				at = 0;
				w = !w;
			}
			if (!(d->flags & 1) || n >= q->size)
				break;
			i = d->next;
		}
		q->chain_len[head] = n;
		cbar();
		q->ring[q->next].flags = hflags;
		q->next = at;
		q->wrap = w;
		return;
	}
	q->avail[2 + (q->avail_idx & (q->size - 1))] = head;
	q->avail_idx++;
}

static void set_desc(struct vq *q, uint16_t i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	q->desc[i].addr = addr;
	q->desc[i].len = len;
	q->desc[i].flags = flags;
	q->desc[i].next = next;
}

/* Wait for one used entry; returns 0 on timeout. */
static int wait_used(struct vq *q, uint32_t *id, uint32_t *len,
		     uint64_t cycles)
{
	uint64_t t0 = rdtsc();

	while (!has_used(q)) {
		if (rdtsc() - t0 > cycles)
			return 0;
		__asm__ volatile("pause");
	}
	take_used(q, id, len);
	suppress_irq(q);
	return 1;
}

#define TIMEOUT (4ull << 30) /* cycles: a second or two */

/* ---- transport-neutral register access ---- */

static uint8_t get_status(struct vdev *d)
{
	return d->pci ? rd8m(d->common + 0x14) : (uint8_t)rd32(d->base + 0x70);
}

static void set_status(struct vdev *d, uint8_t s)
{
	if (d->pci)
		wr8m(d->common + 0x14, s);
	else
		wr32(d->base + 0x70, s);
}

static uint64_t get_features(struct vdev *d)
{
	uint64_t f = 0;

	for (uint32_t w = 0; w < 2; w++) {
		if (d->pci) {
			wr32(d->common + 0x00, w);
			f |= (uint64_t)rd32(d->common + 0x04) << (32 * w);
		} else {
			wr32(d->base + 0x14, w);
			f |= (uint64_t)rd32(d->base + 0x10) << (32 * w);
		}
	}
	return f;
}

static void set_features(struct vdev *d, uint64_t f)
{
	for (uint32_t w = 0; w < 2; w++) {
		if (d->pci) {
			wr32(d->common + 0x08, w);
			wr32(d->common + 0x0c, (uint32_t)(f >> (32 * w)));
		} else {
			wr32(d->base + 0x24, w);
			wr32(d->base + 0x20, (uint32_t)(f >> (32 * w)));
		}
	}
}

static uint8_t cfg8(struct vdev *d, unsigned off)
{
	return d->pci ? rd8m(d->devcfg + off) : rd8m(d->base + 0x100 + off);
}

static uint32_t cfg32(struct vdev *d, unsigned off)
{
	return d->pci ? rd32(d->devcfg + off) : rd32(d->base + 0x100 + off);
}

static int setup_queue(struct vdev *d, unsigned qi)
{
	struct vq *q = &d->q[qi];
	uint32_t max;

	if (d->pci) {
		wr16m(d->common + 0x16, (uint16_t)qi);
		max = rd16m(d->common + 0x18);
	} else {
		wr32(d->base + 0x30, qi);
		max = rd32(d->base + 0x34);
	}
	if (!max)
		return -1;
	q->size = max < QSIZE ? (uint16_t)max : QSIZE;
	q->desc = alloc(16ull * q->size, 4096);
	q->packed = d->packed;
	if (q->packed) {
		/* the rings the device sees: descriptor ring, driver and
		 * device event suppression; both wrap counters start at 1 */
		q->ring = alloc(16ull * q->size, 4096);
		q->drv_evt = alloc(4, 4096);
		q->dev_evt = alloc(4, 4096);
		q->chain_len = alloc(2ull * q->size, 16);
		q->wrap = q->used_wrap = q->kicked_wrap = 1;
		q->avail = (volatile uint16_t *)q->drv_evt;
		q->used = (volatile uint8_t *)q->dev_evt;
	} else {
		q->avail = alloc(6 + 2ull * q->size, 4096);
		q->used = alloc(6 + 8ull * q->size, 4096);
	}
	q->event_idx = d->event_idx;
	suppress_irq(q);
	if (d->pci) {
		uint16_t off;

		wr16m(d->common + 0x18, q->size);
		wr16m(d->common + 0x1a, 0xffff); /* no MSI-X vector */
		wr64m(d->common + 0x20, q->packed ? (uintptr_t)q->ring
						 : (uintptr_t)q->desc);
		wr64m(d->common + 0x28, (uintptr_t)q->avail);
		wr64m(d->common + 0x30, (uintptr_t)q->used);
		off = rd16m(d->common + 0x1e);
		q->notify_addr = d->notify + (uint64_t)off * d->notify_mult;
		q->notify_val = qi;
		q->notify_width = 2;
		wr16m(d->common + 0x1c, 1);
	} else {
		wr32(d->base + 0x38, q->size);
		wr64m(d->base + 0x80, q->packed ? (uintptr_t)q->ring
						: (uintptr_t)q->desc);
		wr64m(d->base + 0x90, (uintptr_t)q->avail);
		wr64m(d->base + 0xa0, (uintptr_t)q->used);
		q->notify_addr = d->base + 0x50;
		q->notify_val = qi;
		q->notify_width = 4;
		wr32(d->base + 0x44, 1);
	}
	return 0;
}

static int dev_init(struct vdev *d, unsigned nq, uint64_t want)
{
	uint64_t have;

	set_status(d, 0);
	while (get_status(d))
		;
	set_status(d, S_ACK);
	set_status(d, S_ACK | S_DRIVER);
	have = get_features(d);
	if (!(have & (1ull << F_VERSION_1))) {
		gprintf("%s: no VERSION_1\n", d->tname);
		return -1;
	}
	want |= 1ull << F_VERSION_1;
	if (d->event_idx)
		want |= 1ull << F_EVENT_IDX;
	if (d->packed) {
		if (!(have & (1ull << F_RING_PACKED))) {
			gprintf("%s: no RING_PACKED\n", d->tname);
			return -1;
		}
		want |= 1ull << F_RING_PACKED;
	}
	want &= have;
	d->event_idx = !!(want & (1ull << F_EVENT_IDX));
	set_features(d, want);
	set_status(d, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(get_status(d) & S_FEATURES_OK)) {
		gprintf("%s: FEATURES_OK refused\n", d->tname);
		return -1;
	}
	for (unsigned i = 0; i < nq; i++)
		if (setup_queue(d, i)) {
			gprintf("%s: queue %u missing\n", d->tname, i);
			return -1;
		}
	set_status(d, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	return 0;
}

/* ---- devices ---- */

struct blk_hdr {
	uint32_t type, reserved;
	uint64_t sector;
};

/* One synchronous block request through descriptors 0..2. */
static int blk_rw(struct vdev *d, uint32_t type, uint64_t sector, void *buf,
		  uint32_t len, uint8_t *status_out)
{
	struct vq *q = &d->q[0];
	static struct blk_hdr *hdr;
	static volatile uint8_t *status;
	uint32_t id, ulen;
	uint16_t n = 0;

	if (!hdr) {
		hdr = alloc(sizeof(*hdr), 16);
		status = alloc(16, 16);
	}
	hdr->type = type;
	hdr->sector = sector;
	*status = 0xff;
	set_desc(q, 0, (uintptr_t)hdr, 16, 1, 1);
	n = 1;
	if (len) {
		set_desc(q, 1, (uintptr_t)buf, len,
			 1 | (type == 1 ? 0 : 2), 2);
		n = 2;
	} else {
		q->desc[0].next = 2;
	}
	set_desc(q, 2, (uintptr_t)status, 1, 2, 0);
	(void)n;
	add_chain(q, 0);
	publish(q);
	if (!wait_used(q, &id, &ulen, TIMEOUT)) {
		gprintf("%s: blk request timed out\n", d->tname);
		return -1;
	}
	*status_out = *status;
	return (int)ulen;
}

static void test_blk(struct vdev *d)
{
	uint8_t *wbuf = alloc(4096, 4096), *rbuf = alloc(4096, 4096);
	char id[21];
	uint8_t st = 0xff;
	uint64_t cap;
	int ok = 1;

	if (dev_init(d, 1, 0)) {
		check(0, "blk init");
		return;
	}
	cap = cfg32(d, 0) | ((uint64_t)cfg32(d, 4) << 32);
	for (unsigned i = 0; i < 4096; i++)
		wbuf[i] = (uint8_t)(i * 7 + d->pci * 13 + 1);
	blk_rw(d, 1, 8, wbuf, 4096, &st);
	ok &= st == 0;
	blk_rw(d, 0, 8, rbuf, 4096, &st);
	ok &= st == 0 && memcmp(wbuf, rbuf, 4096) == 0;
	check(ok, "blk write/read back");
	blk_rw(d, 4, 0, 0, 0, &st);
	check(st == 0, "blk flush");
	memset(id, 0, sizeof(id));
	blk_rw(d, 8, 0, id, 20, &st);
	check(st == 0, "blk get-id");
	/* a read past the end must fail with IOERR, not hang or crash */
	blk_rw(d, 0, cap, rbuf, 512, &st);
	check(st == 1, "blk read past the end gives IOERR");
	gprintf("virtio-blk@%s: capacity %u sectors, write/read 8 sectors %s, "
		"flush %s, id '%s', past-end read status %u\n",
		d->tname, (unsigned)cap, ok ? "ok" : "FAILED",
		failures ? "?" : "ok", id, st);
	/* leave the host a marker at sector 0 it can check */
	memset(wbuf, 0, 512);
	memcpy(wbuf, d->pci ? "written by the guest over pci"
			    : "written by the guest over mmio", 30);
	blk_rw(d, 1, d->pci ? 1 : 0, wbuf, 512, &st);
	check(st == 0, "blk marker write");
}

static void test_console(struct vdev *d)
{
	struct vq *rx = &d->q[0], *tx = &d->q[1];
	char *out = alloc(128, 16), *in = alloc(128, 16);
	const char *msg = d->pci ? "hello from virtio-console over pci\n"
				 : "hello from virtio-console over mmio\n";
	uint32_t id, len, n = 0;

	if (dev_init(d, 2, 0)) {
		check(0, "console init");
		return;
	}
	set_desc(rx, 0, (uintptr_t)in, 127, 2, 0);
	add_chain(rx, 0);
	publish(rx);
	while (msg[n])
		n++;
	memcpy(out, msg, n);
	set_desc(tx, 0, (uintptr_t)out, n, 0, 0);
	add_chain(tx, 0);
	publish(tx);
	check(wait_used(tx, &id, &len, TIMEOUT), "console transmit");
	if (wait_used(rx, &id, &len, TIMEOUT) && len < 128) {
		in[len] = 0;
		if (len && in[len - 1] == '\n')
			in[len - 1] = 0;
		gprintf("virtio-console@%s: sent %u bytes, received '%s'\n",
			d->tname, n, in);
	} else {
		gprintf("virtio-console@%s: sent %u bytes, no input\n", d->tname,
			n);
	}
}

static void test_rng(struct vdev *d)
{
	uint8_t *buf = alloc(64, 16);
	uint32_t id, len = 0, nz = 0;

	if (dev_init(d, 1, 0)) {
		check(0, "rng init");
		return;
	}
	set_desc(&d->q[0], 0, (uintptr_t)buf, 64, 2, 0);
	add_chain(&d->q[0], 0);
	publish(&d->q[0]);
	check(wait_used(&d->q[0], &id, &len, TIMEOUT), "rng request");
	for (unsigned i = 0; i < 64; i++)
		nz += buf[i] != 0;
	check(len == 64 && nz > 32, "rng gives 64 random bytes");
	gprintf("virtio-rng@%s: %u bytes, %s\n", d->tname, len,
		len == 64 && nz > 32 ? "ok" : "FAILED");
}

static void test_net(struct vdev *d)
{
	struct vq *rx = &d->q[0], *tx = &d->q[1];
	uint8_t *frame = alloc(2048, 16), *in = alloc(2048, 16);
	uint8_t mac[6];
	uint32_t id, len, n;
	const char *payload = d->pci ? "libvmm virtio-net over pci"
				     : "libvmm virtio-net over mmio";

	if (dev_init(d, 2, (1ull << 5))) {
		check(0, "net init");
		return;
	}
	for (int i = 0; i < 6; i++)
		mac[i] = cfg8(d, (unsigned)i);
	set_desc(rx, 0, (uintptr_t)in, 2048, 2, 0);
	add_chain(rx, 0);
	publish(rx);
	/* header (12 bytes, zero), then the frame */
	memset(frame, 0, 12);
	memset(frame + 12, 0xff, 6);
	memcpy(frame + 18, mac, 6);
	frame[24] = 0x88;
	frame[25] = 0xb5;
	for (n = 0; payload[n]; n++)
		frame[26 + n] = (uint8_t)payload[n];
	n = 26 + n;
	if (n < 12 + 60)
		n = 12 + 60; /* minimum ethernet frame */
	set_desc(tx, 0, (uintptr_t)frame, n, 0, 0);
	add_chain(tx, 0);
	publish(tx);
	check(wait_used(tx, &id, &len, TIMEOUT), "net transmit");
	/* skip frames the host kernel sends on its own (IPv6 ND, ...) */
	int got = 0;
	for (int tries = 0; tries < 8; tries++) {
		got = wait_used(rx, &id, &len, TIMEOUT) && len > 12 + 14;
		if (!got || (in[24] == 0x88 && in[25] == 0xb5))
			break;
		got = 0;
		add_chain(rx, 0);
		publish(rx);
	}
	if (got) {
		char txt[64];
		uint32_t m = len - 26 < 63 ? len - 26 : 63, k;
		for (k = 0; k < m && in[26 + k] >= 32 && in[26 + k] < 127; k++)
			txt[k] = (char)in[26 + k];
		txt[k] = 0;
		gprintf("virtio-net@%s: mac %x:%x:%x:%x:%x:%x, sent %u bytes, "
			"received %u bytes '%s'\n",
			d->tname, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
			n - 12, len - 12, txt);
	} else {
		gprintf("virtio-net@%s: mac %x:%x:%x:%x:%x:%x, sent %u bytes, "
			"nothing received\n",
			d->tname, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
			n - 12);
	}
}

static void run_tests(struct vdev *d)
{
	switch (d->id) {
	case 1: test_net(d); break;
	case 2: test_blk(d); break;
	case 3: test_console(d); break;
	case 4: test_rng(d); break;
	default:
		gprintf("virtio device id %u@%s: not tested\n", d->id, d->tname);
	}
	check(!(get_status(d) & S_NEEDS_RESET), "device not in NEEDS_RESET");
	set_status(d, 0); /* reset: the device stops using our rings */
}

/* ---- PCI ---- */

static uint32_t pci_rd(unsigned slot, unsigned reg)
{
	outl(0xcf8, 0x80000000u | (slot << 11) | (reg & 0xfc));
	return inl(0xcfc);
}

static void pci_wr(unsigned slot, unsigned reg, uint32_t v)
{
	outl(0xcf8, 0x80000000u | (slot << 11) | (reg & 0xfc));
	outl(0xcfc, v);
}

static int pci_setup(struct vdev *d, unsigned slot)
{
	uint64_t bar = PCI_BAR_BASE + slot * 0x10000ull;
	uint8_t cap;

	pci_wr(slot, 0x04, 0); /* decoding off while placing the BAR */
	pci_wr(slot, 0x10, (uint32_t)bar);
	pci_wr(slot, 0x14, (uint32_t)(bar >> 32));
	pci_wr(slot, 0x04, 0x0006); /* memory, bus master */
	cap = (uint8_t)pci_rd(slot, 0x34);
	d->common = d->isr = d->devcfg = d->notify = 0;
	while (cap) {
		uint32_t w0 = pci_rd(slot, cap);
		if ((w0 & 0xff) == 0x09) {
			uint8_t type = (uint8_t)(w0 >> 24);
			uint32_t off = pci_rd(slot, cap + 8);
			uint64_t a = bar + off;
			if (type == 1)
				d->common = a;
			else if (type == 2) {
				d->notify = a;
				d->notify_mult = pci_rd(slot, cap + 16);
			} else if (type == 3)
				d->isr = a;
			else if (type == 4)
				d->devcfg = a;
		}
		cap = (uint8_t)(w0 >> 8);
	}
	return d->common && d->notify && d->isr ? 0 : -1;
}

/* ---- benchmark ---- */

static uint64_t parse_num(const char *s)
{
	uint64_t v = 0;
	while (*s >= '0' && *s <= '9')
		v = v * 10 + (uint64_t)(*s++ - '0');
	return v;
}

static const char *find_arg(const char *cmd, const char *key)
{
	for (const char *p = cmd; p && *p; p++) {
		const char *k = key, *q = p;
		while (*k && *q == *k) {
			k++;
			q++;
		}
		if (!*k && (p == cmd || p[-1] == ' '))
			return q;
	}
	return 0;
}

static void bench(struct vdev *d, const char *cmd)
{
	const char *mode = find_arg(cmd, "bench=");
	int rnd = mode && mode[0] == 'r';
	uint64_t reqs = find_arg(cmd, "reqs=") ? parse_num(find_arg(cmd, "reqs=")) : 1000;
	uint64_t qd = find_arg(cmd, "qd=") ? parse_num(find_arg(cmd, "qd=")) : 1;
	uint64_t bs = find_arg(cmd, "bs=") ? parse_num(find_arg(cmd, "bs=")) : 4096;
	uint64_t nq = find_arg(cmd, "queues=") ? parse_num(find_arg(cmd, "queues=")) : 1;
	struct blk_hdr *hdr;
	uint8_t *status, *buf;
	uint64_t cap, pos = 0, x = 0x9e3779b97f4a7c15ull, sent = 0, done = 0;
	uint64_t bad = 0, t0, t1, kicks = 0;
	/* slot s belongs to queue s % nq and uses its descriptors
	 * 3 * (s / nq) .. +2; buffers are per slot */
	uint16_t freeslot[MAXQ][32];
	unsigned nfree[MAXQ] = { 0 }, qi = 0;

	if (qd > 32)
		qd = 32;
	if (nq < 1 || nq > MAXQ)
		nq = 1;
	if (qd < nq)
		qd = nq;
	/* VIRTIO_BLK_F_MQ (12) when more than one queue is wanted */
	if (dev_init(d, (unsigned)nq, nq > 1 ? 1ull << 12 : 0)) {
		check(0, "bench blk init");
		return;
	}
	cap = cfg32(d, 0) | ((uint64_t)cfg32(d, 4) << 32);
	hdr = alloc(qd * sizeof(*hdr), 64);
	status = alloc(qd * 64, 64);
	buf = alloc(qd * bs, 4096);
	for (unsigned i = qd; i--;)
		freeslot[i % nq][nfree[i % nq]++] = (uint16_t)i;
	outl(MARK_PORT, 1);
	t0 = rdtsc();
	while (done < reqs) {
		/* fill every queue up to its share of qd in flight, the
		 * queues taking turns for the next request */
		int added[MAXQ] = { 0 };
		for (unsigned tries = 0; sent < reqs && tries < nq; qi = (qi + 1) % nq) {
			struct vq *q = &d->q[qi];
			uint16_t slot, h;
			uint64_t sec;

			if (!nfree[qi]) {
				tries++;
				continue;
			}
			tries = 0;
			/* completions come out of order: reuse freed slots */
			slot = freeslot[qi][--nfree[qi]];
			h = (uint16_t)((slot / nq) * 3);
			if (rnd) {
				x ^= x >> 12;
				x ^= x << 25;
				x ^= x >> 27;
				sec = ((x * 0x2545f4914f6cdd1dull) % (cap * 512 / bs)) *
				      (bs / 512);
			} else {
				sec = pos;
				pos += bs / 512;
				if (pos + bs / 512 > cap)
					pos = 0;
			}
			hdr[slot].type = 0;
			hdr[slot].sector = sec;
			status[slot * 64] = 0xff;
			set_desc(q, h, (uintptr_t)&hdr[slot], 16, 1, h + 1);
			set_desc(q, h + 1, (uintptr_t)(buf + slot * bs),
				 (uint32_t)bs, 3, h + 2);
			set_desc(q, h + 2, (uintptr_t)&status[slot * 64], 1, 2, 0);
			add_chain(q, h);
			added[qi] = 1;
			sent++;
		}
		for (unsigned i = 0; i < nq; i++)
			if (added[i])
				publish(&d->q[i]);
		/* reap whatever completed, on every queue */
		for (;;) {
			int any = 0;
			for (unsigned i = 0; i < nq; i++)
				any |= has_used(&d->q[i]);
			if (any)
				break;
			__asm__ volatile("pause");
		}
		for (unsigned i = 0; i < nq; i++) {
			struct vq *q = &d->q[i];
			while (has_used(q)) {
				uint32_t id, len;
				uint16_t slot;
				take_used(q, &id, &len);
				slot = (uint16_t)((id / 3) * nq + i);
				if (slot >= qd || status[slot * 64] != 0)
					bad++;
				else
					freeslot[i][nfree[i]++] = slot;
				done++;
			}
			suppress_irq(q);
		}
	}
	t1 = rdtsc();
	outl(MARK_PORT, 2);
	for (unsigned i = 0; i < nq; i++)
		kicks += d->q[i].kicks;
	check(bad == 0, "bench requests ok");
	gprintf("bench: %s %u x %u bytes qd %u queues %u: %lu cycles, %lu "
		"kicks, %lu errors\n", rnd ? "rand" : "seq", (unsigned)reqs,
		(unsigned)bs, (unsigned)qd, (unsigned)nq,
		(unsigned long)(t1 - t0), (unsigned long)kicks,
		(unsigned long)bad);
	set_status(d, 0);
}

/* ---- net benchmark (bench/net.c drives the host side) ----
 *
 * "netbench=tx|rx pkts=N size=S [tso]": tx sends N frames of S bytes
 * (without the header) as fast as the ring allows; rx posts the whole
 * ring and counts frames until one with ethertype 0x88b6 (the host's end
 * marker) arrives, then writes the count to port 0x524 and the KiB
 * received to port 0x528.  Port 0x520 gets 1 at the start and 2 at the end
 * (rx: at the first frame and at the end marker).  "tso" negotiates
 * VIRTIO_NET_F_CSUM + HOST_TSO4 (tx: S-byte TCP/IPv4 segments handed over
 * with NEEDS_CSUM and GSO_TCPV4) and GUEST_CSUM + GUEST_TSO4 (rx: 64 KiB
 * buffers).  Both poll with interrupts suppressed.
 */
#define NB_COUNT_PORT 0x524
#define NB_KIB_PORT 0x528
#define NF_CSUM 0
#define NF_GUEST_CSUM 1
#define NF_GUEST_TSO4 7
#define NF_HOST_TSO4 11

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* one frame: 12-byte header, then Ethernet (+ IPv4/TCP with tso) */
static void nb_frame(uint8_t *f, uint32_t size, int tso)
{
	static const uint8_t dst[6] = { 0x02, 0, 0, 0, 0, 0x01 };
	static const uint8_t src[6] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 };

	memset(f, 0, 12 + 54);
	memcpy(f + 12, dst, 6);
	memcpy(f + 18, src, 6);
	if (!tso) {
		put_be16(f + 24, 0x88b5);
		return;
	}
	f[0] = 1;                 /* NEEDS_CSUM */
	f[1] = 1;                 /* GSO_TCPV4 */
	f[2] = 54;                /* hdr_len */
	f[4] = 1448 & 0xff;       /* gso_size */
	f[5] = 1448 >> 8;
	f[6] = 34;                /* csum_start: the TCP header */
	f[8] = 16;                /* csum_offset: TCP checksum */
	put_be16(f + 24, 0x0800);
	uint8_t *ip = f + 26, *tcp = f + 46;
	ip[0] = 0x45;
	put_be16(ip + 2, (uint16_t)(size - 14));
	ip[6] = 0x40;             /* DF */
	ip[8] = 64;
	ip[9] = 6;
	ip[12] = 10; ip[15] = 2;  /* 10.0.0.2 -> 10.0.0.1 */
	ip[16] = 10; ip[19] = 1;
	uint32_t sum = 0;
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	put_be16(ip + 10, (uint16_t)~sum);
	put_be16(tcp, 40000);
	put_be16(tcp + 2, 5001);
	tcp[12] = 0x50;           /* data offset 5 */
	tcp[13] = 0x18;           /* PSH ACK */
	put_be16(tcp + 14, 65535);
}

static void netbench(struct vdev *d, const char *cmd)
{
	const char *m = find_arg(cmd, "netbench=");
	int rx = m && m[0] == 'r', tso = find_arg(cmd, "tso") != 0;
	uint64_t pkts = find_arg(cmd, "pkts=") ? parse_num(find_arg(cmd, "pkts=")) : 10000;
	uint64_t size = find_arg(cmd, "size=") ? parse_num(find_arg(cmd, "size=")) : 60;
	uint64_t want = tso ? (1ull << NF_CSUM) | (1ull << NF_HOST_TSO4) |
				      (1ull << NF_GUEST_CSUM) |
				      (1ull << NF_GUEST_TSO4)
			    : 0;
	uint32_t bufsz = rx ? (tso ? 65562u : 2048u) : (uint32_t)(12 + size);
	struct vq *q;
	uint8_t *bufs;

	if (size < 60 || size > 65000)
		size = 60;
	if (dev_init(d, 2, want)) {
		check(0, "netbench init");
		return;
	}
	q = &d->q[rx ? 0 : 1];
	bufs = alloc((uint64_t)q->size * bufsz, 4096);
	if (rx) {
		uint64_t count = 0, bytes = 0, t0 = 0;
		int started = 0;

		for (uint16_t i = 0; i < q->size; i++) {
			set_desc(q, i, (uintptr_t)(bufs + (uint64_t)i * bufsz),
				 bufsz, 2, 0);
			add_chain(q, i);
		}
		publish(q);
		outl(MARK_PORT, 0); /* ready: the host may start sending */
		for (;;) {
			uint32_t id, len;
			int reposted = 0, end = 0;

			t0 = rdtsc();
			while (!has_used(q)) {
				if (rdtsc() - t0 > 8 * TIMEOUT) {
					check(0, "netbench rx: no end marker");
					goto rx_done;
				}
				__asm__ volatile("pause");
			}
			if (!started) {
				outl(MARK_PORT, 1);
				started = 1;
			}
			while (has_used(q)) {
				take_used(q, &id, &len);
				uint8_t *f = bufs + (uint64_t)(id % q->size) * bufsz;
				if (len >= 26 && f[24] == 0x88 && f[25] == 0xb6)
					end = 1;
				else if (len > 12) {
					count++;
					bytes += len - 12;
				}
				add_chain(q, (uint16_t)(id % q->size));
				if (++reposted == 32) {
					publish(q);
					reposted = 0;
				}
			}
			publish(q);
			suppress_irq(q);
			if (end)
				break;
		}
rx_done:
		outl(MARK_PORT, 2);
		outl(NB_COUNT_PORT, (uint32_t)count);
		outl(NB_KIB_PORT, (uint32_t)(bytes >> 10));
		gprintf("netbench rx: %lu frames, %lu bytes, %lu kicks\n",
			(unsigned long)count, (unsigned long)bytes,
			(unsigned long)q->kicks);
	} else {
		uint16_t freeslot[QSIZE];
		unsigned nfree = 0;
		uint64_t sent = 0, done = 0;

		for (uint16_t i = 0; i < q->size; i++) {
			uint8_t *f = bufs + (uint64_t)i * bufsz;
			nb_frame(f, (uint32_t)size, tso);
			set_desc(q, i, (uintptr_t)f, (uint32_t)(12 + size), 0, 0);
			freeslot[nfree++] = i;
		}
		outl(MARK_PORT, 1);
		while (done < pkts) {
			while (sent < pkts && nfree) {
				add_chain(q, freeslot[--nfree]);
				sent++;
			}
			publish(q);
			while (!has_used(q))
				__asm__ volatile("pause");
			while (has_used(q)) {
				uint32_t id, len;
				take_used(q, &id, &len);
				freeslot[nfree++] = (uint16_t)(id % q->size);
				done++;
			}
			suppress_irq(q);
		}
		outl(MARK_PORT, 2);
		outl(NB_COUNT_PORT, (uint32_t)done);
		gprintf("netbench tx: %lu frames of %lu bytes, %lu kicks\n",
			(unsigned long)done, (unsigned long)size,
			(unsigned long)q->kicks);
	}
	set_status(d, 0);
}

#define SR_QD 4
#define SR_BLOCKS 256 /* 4 KiB blocks in the first MiB */

static void sr_fill(uint8_t *b, uint32_t round, uint32_t k)
{
	uint32_t x = round * 2654435761u + k * 40503u + 1;

	for (unsigned i = 0; i < 4096; i += 4) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		memcpy(b + i, &x, 4);
	}
}

/* SR_QD requests of @type on blocks blk[0..SR_QD) in flight at once. */
static int sr_batch(struct vdev *d, uint32_t type, const uint32_t *blk,
		    uint8_t *bufs, struct blk_hdr *hdr, volatile uint8_t *st)
{
	struct vq *q = &d->q[0];
	unsigned done = 0;

	for (unsigned k = 0; k < SR_QD; k++) {
		uint16_t h = (uint16_t)(k * 3);

		hdr[k].type = type;
		hdr[k].reserved = 0;
		hdr[k].sector = (uint64_t)blk[k] * 8;
		st[k * 64] = 0xff;
		set_desc(q, h, (uintptr_t)&hdr[k], 16, 1, h + 1);
		set_desc(q, h + 1, (uintptr_t)(bufs + k * 4096), 4096,
			 1 | (type == 1 ? 0 : 2), h + 2);
		set_desc(q, h + 2, (uintptr_t)&st[k * 64], 1, 2, 0);
		add_chain(q, h);
	}
	publish(q);
	while (done < SR_QD) {
		uint32_t id, len;

		if (!wait_used(q, &id, &len, TIMEOUT)) {
			gprintf("snaprw: request timed out\n");
			return -1;
		}
		if (id % 3 || id / 3 >= SR_QD || st[(id / 3) * 64] != 0) {
			gprintf("snaprw: bad completion %u\n", id);
			return -1;
		}
		done++;
	}
	return 0;
}

static void snaprw(struct vdev *d, uint64_t rounds)
{
	uint8_t *w = alloc(SR_QD * 4096, 4096), *r = alloc(SR_QD * 4096, 4096);
	struct blk_hdr *hdr = alloc(SR_QD * sizeof(*hdr), 64);
	volatile uint8_t *st = alloc(SR_QD * 64, 64);
	uint64_t h = 0xcbf29ce484222325ull;
	uint32_t blk[SR_QD];

	if (dev_init(d, 1, 0)) {
		check(0, "snaprw blk init");
		return;
	}
	for (uint32_t i = 0; i < rounds; i++) {
		for (uint32_t k = 0; k < SR_QD; k++) {
			blk[k] = (i * 7 + k * 67) % SR_BLOCKS;
			sr_fill(w + k * 4096, i, k);
		}
		if (sr_batch(d, 1, blk, w, hdr, st) ||
		    sr_batch(d, 0, blk, r, hdr, st)) {
			check(0, "snaprw request");
			return;
		}
		if (memcmp(w, r, SR_QD * 4096)) {
			gprintf("snaprw: round %u: read back differs\n", i);
			check(0, "snaprw read back");
			return;
		}
		if (i % 100 == 0)
			gprintf("snaprw: round %u\n", i);
	}
	for (uint32_t b = 0; b < SR_BLOCKS; b += SR_QD) {
		for (uint32_t k = 0; k < SR_QD; k++)
			blk[k] = b + k;
		if (sr_batch(d, 0, blk, r, hdr, st)) {
			check(0, "snaprw final read");
			return;
		}
		for (unsigned i = 0; i < SR_QD * 4096; i++)
			h = (h ^ r[i]) * 0x100000001b3ull;
	}
	gprintf("snaprw: %u rounds done, image hash %lx\n", (unsigned)rounds,
		(unsigned long)h);
}

int guest_main(void)
{
	const struct multiboot_info *mbi =
		(const struct multiboot_info *)(uintptr_t)boot_mb_info;
	const char *cmd = (mbi && (mbi->flags & 4))
				  ? (const char *)(uintptr_t)mbi->cmdline : "";
	struct vdev devs[MMIO_SLOTS + 32];
	int n = 0, evidx = !find_arg(cmd, "noevidx");
	int packed = find_arg(cmd, "packed") != 0;

	uart_init();
	gprintf("virtio guest: cmdline '%s'\n", cmd);
	for (unsigned i = 0; i < MMIO_SLOTS; i++) {
		uint64_t b = MMIO_BASE + i * 0x1000ull;
		if (rd32(b) != 0x74726976 || rd32(b + 4) != 2 || !rd32(b + 8))
			continue;
		memset(&devs[n], 0, sizeof(devs[n]));
		devs[n].tname = "mmio";
		devs[n].base = b;
		devs[n].id = rd32(b + 8);
		devs[n].event_idx = evidx;
		devs[n].packed = packed;
		n++;
	}
	for (unsigned s = 1; s < 32; s++) {
		uint32_t id = pci_rd(s, 0);
		if ((id & 0xffff) != 0x1af4 || (id >> 16) < 0x1040)
			continue;
		memset(&devs[n], 0, sizeof(devs[n]));
		devs[n].pci = 1;
		devs[n].tname = "pci";
		devs[n].id = (id >> 16) - 0x1040;
		devs[n].event_idx = evidx;
		devs[n].packed = packed;
		if (pci_setup(&devs[n], s)) {
			check(0, "virtio-pci capabilities");
			continue;
		}
		n++;
	}
	gprintf("virtio guest: %d devices\n", n);
	if (find_arg(cmd, "snaprw=")) {
		int found = 0;

		for (int i = 0; i < n && !found; i++)
			if (devs[i].id == 2) {
				snaprw(&devs[i], parse_num(find_arg(cmd, "snaprw=")));
				found = 1;
			}
		check(found, "snaprw: a blk device");
	} else if (find_arg(cmd, "netbench=")) {
		int found = 0;

		for (int i = 0; i < n && !found; i++)
			if (devs[i].id == 1) {
				netbench(&devs[i], cmd);
				found = 1;
			}
		check(found, "netbench: a net device");
	} else if (find_arg(cmd, "bench=")) {
		for (int i = 0; i < n; i++)
			if (devs[i].id == 2) {
				bench(&devs[i], cmd);
				break;
			}
	} else {
		for (int i = 0; i < n; i++)
			run_tests(&devs[i]);
	}
	if (failures) {
		gprintf("virtio: %d checks FAILED\n", failures);
		return GUEST_EXIT_FAIL;
	}
	if (packed)
		gprintf("virtio: packed rings\n");
	gprintf("virtio: all checks passed\n");
	return GUEST_EXIT_VIRTIO;
}
