/* SPDX-License-Identifier: MIT */
/*
 * test_virtio_packed - packed virtqueues (VIRTIO_F_RING_PACKED).
 *
 * Part one plays the driver on a fake guest memory in host memory and
 * calls the device side (virtqueue.c) directly: chains, indirect tables,
 * out-of-order completion of chains taking several slots, wrap-around,
 * event suppression, and the hostile cases - buffer ID out of range,
 * chains running round the ring, wrap counter inconsistencies, zero-length
 * and giant descriptors, descriptors beyond memory.
 *
 * Part two runs a packed ring through a real device (virtio-rng on
 * virtio-mmio, null-backend VM): negotiation, a request, NEEDS_RESET on a
 * broken chain, and no packed ring without VMM_VIRTIO_PACKED.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "dev/virtio/virtio_dev.h"
#include "vtest.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ---- a fake guest memory ---- */

#define MEM 0x20000u
#define RING 0x1000u
#define DRV 0x2000u   /* driver event suppression */
#define DEV 0x2100u   /* device event suppression */
#define TABLE 0x3000u /* indirect tables */
#define BUF 0x8000u

static uint8_t mem[MEM];

static int f_read(void *o, uint64_t gpa, void *buf, size_t len)
{
	(void)o;
	if (gpa > MEM || len > MEM - gpa)
		return -EFAULT;
	memcpy(buf, mem + gpa, len);
	return 0;
}

static int f_write(void *o, uint64_t gpa, const void *buf, size_t len)
{
	(void)o;
	if (gpa > MEM || len > MEM - gpa)
		return -EFAULT;
	memcpy(mem + gpa, buf, len);
	return 0;
}

static int f_iovec(void *o, uint64_t gpa, size_t len, bool w,
		   struct iovec *iov, int max)
{
	(void)o;
	(void)w;
	if (max <= 0)
		return -E2BIG;
	if (gpa > MEM || len > MEM - gpa)
		return -EFAULT;
	iov[0].iov_base = mem + gpa;
	iov[0].iov_len = len;
	return 1;
}

static const struct vmm_vq_mem fmem = { f_read, f_write, f_iovec, NULL };

#define F_NEXT VRING_DESC_F_NEXT
#define F_WRITE VRING_DESC_F_WRITE
#define F_INDIRECT VRING_DESC_F_INDIRECT
#define F_AVAIL VMM_VQ_PDESC_F_AVAIL
#define F_USED VMM_VQ_PDESC_F_USED

/* The driver: its next position, wrap counter, and the chains' sizes. */
struct drv {
	struct vmm_vq vq;
	uint16_t next, used_next;
	bool wrap, used_wrap;
	uint16_t ndesc[64]; /* by buffer ID */
};

static void pdesc(uint64_t at, uint64_t addr, uint32_t len, uint16_t id,
		  uint16_t flags)
{
	memcpy(mem + at, &addr, 8);
	memcpy(mem + at + 8, &len, 4);
	memcpy(mem + at + 12, &id, 2);
	memcpy(mem + at + 14, &flags, 2);
}

static uint16_t avail_flags(bool wrap)
{
	return wrap ? F_AVAIL : F_USED;
}

static void setup(struct drv *d, uint16_t size, bool event_idx)
{
	memset(mem, 0, sizeof(mem));
	memset(d, 0, sizeof(*d));
	d->vq.mem = &fmem;
	d->vq.dirs = VMM_VQ_DIR_ANY;
	d->vq.size = size;
	d->vq.packed = true;
	d->vq.indirect = true;
	d->vq.event_idx = event_idx;
	d->vq.desc = RING;
	d->vq.avail = DRV;
	d->vq.used = DEV;
	assert_int_equal(vmm_vq_check_layout(&d->vq), 0);
	d->vq.ready = true;
	d->vq.avail_wrap = d->vq.used_wrap = true;
	d->wrap = d->used_wrap = true;
}

/*
 * Make a chain of @n buffers available (@flags[k] | NEXT but the last),
 * buffer ID @id in every descriptor; the head's flags are written last.
 */
static void add(struct drv *d, uint16_t id, unsigned n, const uint16_t *fl,
		const uint32_t *len)
{
	uint16_t head = d->next, headflags = 0;

	for (unsigned k = 0; k < n; k++) {
		uint16_t f = (uint16_t)(fl[k] | (k + 1 < n ? F_NEXT : 0) |
					avail_flags(d->wrap));
		uint64_t at = RING + 16ull * d->next;

		pdesc(at, BUF + 0x100ull * d->next, len[k], id,
		      k ? f : (uint16_t)(f ^ (F_AVAIL | F_USED)));
		if (!k)
			headflags = f;
		if (++d->next == d->vq.size) {
			d->next = 0;
			d->wrap = !d->wrap;
		}
	}
	memcpy(mem + RING + 16ull * head + 14, &headflags, 2);
	if (id < 64)
		d->ndesc[id] = (uint16_t)n;
}

static void add1(struct drv *d, uint16_t id, uint16_t flags, uint32_t len)
{
	add(d, id, 1, &flags, &len);
}

/* The driver reads the next used descriptor: 1 with id/len, 0 if none. */
static int get_used(struct drv *d, uint16_t *id, uint32_t *len)
{
	uint64_t at = RING + 16ull * d->used_next;
	uint16_t f;

	memcpy(&f, mem + at + 14, 2);
	if (!!(f & F_AVAIL) != d->used_wrap || !!(f & F_USED) != d->used_wrap)
		return 0;
	memcpy(id, mem + at + 12, 2);
	memcpy(len, mem + at + 8, 4);
	assert_true(*id < 64 && d->ndesc[*id]);
	d->used_next = (uint16_t)(d->used_next + d->ndesc[*id]);
	if (d->used_next >= d->vq.size) {
		d->used_next = (uint16_t)(d->used_next - d->vq.size);
		d->used_wrap = !d->used_wrap;
	}
	return 1;
}

static void drv_event(uint16_t off_wrap, uint16_t flags)
{
	memcpy(mem + DRV, &off_wrap, 2);
	memcpy(mem + DRV + 2, &flags, 2);
}

static uint16_t dev_event(unsigned field)
{
	uint16_t v;

	memcpy(&v, mem + DEV + 2 * field, 2);
	return v;
}

static struct vmm_vq_elem e, e2, e3, e4;

static void test_single(void **state)
{
	struct drv d;
	uint16_t id;
	uint32_t len;

	setup(&d, 8, false);
	assert_false(vmm_vq_has_avail(&d.vq));
	assert_int_equal(vmm_vq_pop(&d.vq, &e), 0);
	add1(&d, 3, F_WRITE, 64);
	assert_true(vmm_vq_has_avail(&d.vq));
	assert_int_equal(vmm_vq_pop(&d.vq, &e), 1);
	assert_int_equal(e.head, 3);
	assert_int_equal(e.ndesc, 1);
	assert_int_equal(e.n_in, 1);
	assert_int_equal(e.in_len, 64);
	assert_ptr_equal(e.iov[0].iov_base, mem + BUF);
	assert_int_equal(vmm_vq_pop(&d.vq, &e2), 0);
	assert_int_equal(get_used(&d, &id, &len), 0);
	assert_int_equal(vmm_vq_push(&d.vq, &e, 40), 0);
	assert_int_equal(get_used(&d, &id, &len), 1);
	assert_int_equal(id, 3);
	assert_int_equal(len, 40);
	assert_int_equal(d.vq.used_idx, 1);
	assert_false(d.vq.broken);
}

/* Chains of several slots completed out of order, round the ring. */
static void test_out_of_order_wrap(void **state)
{
	static const uint16_t fl3[3] = { 0, F_WRITE, F_WRITE };
	static const uint32_t len3[3] = { 16, 100, 1 };
	struct drv d;
	uint16_t id;
	uint32_t len;

	setup(&d, 7, false); /* packed sizes need not be powers of two */
	for (unsigned round = 0; round < 20; round++) {
		add(&d, 1, 3, fl3, len3);
		add1(&d, 2, 0, 8);
		add(&d, 3, 3, fl3, len3);
		assert_int_equal(vmm_vq_pop(&d.vq, &e), 1);
		assert_int_equal(vmm_vq_pop(&d.vq, &e2), 1);
		assert_int_equal(vmm_vq_pop(&d.vq, &e3), 1);
		assert_int_equal(vmm_vq_pop(&d.vq, &e4), 0); /* all taken */
		assert_int_equal(e.head, 1);
		assert_int_equal(e.ndesc, 3);
		assert_int_equal(e.n_out, 1);
		assert_int_equal(e.n_in, 2);
		assert_int_equal(e.in_len, 101);
		assert_int_equal(e2.head, 2);
		assert_int_equal(e2.ndesc, 1);
		/* complete 2, then 1: one used slot each, the position skips
		 * the chain's descriptors */
		assert_int_equal(vmm_vq_push(&d.vq, &e2, 0), 0);
		assert_int_equal(vmm_vq_push(&d.vq, &e, 101), 0);
		assert_int_equal(get_used(&d, &id, &len), 1);
		assert_int_equal(id, 2);
		assert_int_equal(get_used(&d, &id, &len), 1);
		assert_int_equal(id, 1);
		assert_int_equal(len, 101);
		assert_int_equal(get_used(&d, &id, &len), 0);
		assert_int_equal(e3.head, 3);
		assert_int_equal(e3.ndesc, 3);
		assert_int_equal(vmm_vq_push(&d.vq, &e3, 7), 0);
		assert_int_equal(get_used(&d, &id, &len), 1);
		assert_int_equal(id, 3);
		assert_int_equal(d.vq.used_idx, d.vq.last_avail);
		assert_int_equal(d.vq.used_wrap, d.vq.avail_wrap);
		assert_int_equal(d.vq.used_idx, d.next);
		assert_int_equal(d.vq.avail_wrap, d.wrap);
	}
	assert_false(d.vq.broken);
}

static void test_indirect(void **state)
{
	struct drv d;
	uint16_t id;
	uint32_t len;

	setup(&d, 4, false);
	/* table: readable, writable, writable; NEXT and IDs are ignored */
	pdesc(TABLE, BUF, 16, 99, F_NEXT);
	pdesc(TABLE + 16, BUF + 16, 32, 99, F_WRITE);
	pdesc(TABLE + 32, BUF + 48, 1, 99, F_WRITE | F_INDIRECT);
	add1(&d, 0, F_INDIRECT, 48);
	memcpy(mem + RING, &(uint64_t){ TABLE }, 8);
	assert_int_equal(vmm_vq_pop(&d.vq, &e), 1);
	assert_int_equal(e.head, 0);
	assert_int_equal(e.ndesc, 1);
	assert_int_equal(e.n_out, 1);
	assert_int_equal(e.n_in, 2);
	assert_int_equal(e.out_len, 16);
	assert_int_equal(e.in_len, 33);
	assert_int_equal(vmm_vq_push(&d.vq, &e, 33), 0);
	assert_int_equal(get_used(&d, &id, &len), 1);
	assert_int_equal(len, 33);
}

static void test_unpop(void **state)
{
	static const uint16_t fl[3] = { F_WRITE, F_WRITE, F_WRITE };
	static const uint32_t ln[3] = { 1, 1, 1 };
	struct drv d;

	setup(&d, 4, false);
	add1(&d, 0, F_WRITE, 8);
	add1(&d, 1, F_WRITE, 8);
	assert_int_equal(vmm_vq_pop(&d.vq, &e), 1);
	assert_int_equal(vmm_vq_pop(&d.vq, &e), 1);
	assert_int_equal(vmm_vq_push(&d.vq, &e, 0), 0);
	vmm_vq_push(&d.vq, &(struct vmm_vq_elem){ .head = 0, .ndesc = 1 }, 0);
	add(&d, 2, 3, fl, ln); /* slots 2, 3, 0: wraps */
	assert_int_equal(vmm_vq_pop(&d.vq, &e), 1);
	assert_int_equal(d.vq.last_avail, 1);
	assert_false(d.vq.avail_wrap);
	vmm_vq_unpop(&d.vq, &e);
	assert_int_equal(d.vq.last_avail, 2);
	assert_true(d.vq.avail_wrap);
	assert_int_equal(vmm_vq_pop(&d.vq, &e2), 1);
	assert_int_equal(e2.head, 2);
	assert_int_equal(e2.ndesc, 3);
}

/* Several chains made used at once (virtio-net's mergeable receive
 * buffers): round a ring of 7, multi-slot chains, bad elements refused
 * without a trace. */
static void test_push_batch(void **state)
{
	static const uint16_t fl[3] = { F_WRITE, F_WRITE, F_WRITE };
	static const uint32_t ln[3] = { 10, 10, 10 };
	struct drv d;
	uint16_t id;
	uint32_t len;

	(void)state;
	setup(&d, 7, false);
	for (unsigned round = 0; round < 10; round++) {
		struct vmm_vq_used u[3];

		add(&d, 1, 2, fl, ln);
		add1(&d, 2, F_WRITE, 10);
		add(&d, 3, 3, fl, ln);
		assert_int_equal(vmm_vq_pop(&d.vq, &e), 1);
		assert_int_equal(vmm_vq_pop(&d.vq, &e2), 1);
		assert_int_equal(vmm_vq_pop(&d.vq, &e3), 1);
		u[0] = (struct vmm_vq_used){ e.head, e.ndesc, 20 };
		u[1] = (struct vmm_vq_used){ e2.head, e2.ndesc, 10 };
		u[2] = (struct vmm_vq_used){ e3.head, e3.ndesc, 5 };
		/* a bad element: nothing written, nothing moved */
		uint16_t at = d.vq.used_idx;
		u[1].ndesc = 0;
		assert_int_equal(vmm_vq_push_batch(&d.vq, u, 3), -EINVAL);
		assert_int_equal(d.vq.used_idx, at);
		assert_int_equal(get_used(&d, &id, &len), 0);
		u[1].ndesc = e2.ndesc;
		assert_int_equal(vmm_vq_push_batch(&d.vq, u, 0), 0);
		assert_int_equal(vmm_vq_push_batch(&d.vq, u, 3), 0);
		assert_int_equal(get_used(&d, &id, &len), 1);
		assert_int_equal(id, 1);
		assert_int_equal(len, 20);
		assert_int_equal(get_used(&d, &id, &len), 1);
		assert_int_equal(id, 2);
		assert_int_equal(len, 10);
		assert_int_equal(get_used(&d, &id, &len), 1);
		assert_int_equal(id, 3);
		assert_int_equal(len, 5);
		assert_int_equal(get_used(&d, &id, &len), 0);
		assert_int_equal(d.vq.used_idx, d.vq.last_avail);
		assert_int_equal(d.vq.used_wrap, d.vq.avail_wrap);
	}
	assert_int_equal(d.vq.pushed, 30);
	assert_false(d.vq.broken);
}

/* Event suppression in both directions. */
static void test_events(void **state)
{
	struct drv d;

	setup(&d, 8, false);
	vmm_vq_disable_notify(&d.vq);
	assert_int_equal(dev_event(1), VRING_PACKED_EVENT_FLAG_DISABLE);
	assert_false(vmm_vq_enable_notify(&d.vq));
	assert_int_equal(dev_event(1), VRING_PACKED_EVENT_FLAG_ENABLE);
	add1(&d, 0, F_WRITE, 8);
	assert_true(vmm_vq_enable_notify(&d.vq));
	assert_int_equal(vmm_vq_pop(&d.vq, &e), 1);
	assert_int_equal(vmm_vq_push(&d.vq, &e, 0), 0);
	drv_event(0, VRING_PACKED_EVENT_FLAG_DISABLE);
	assert_false(vmm_vq_need_interrupt(&d.vq));
	drv_event(0, VRING_PACKED_EVENT_FLAG_ENABLE);
	assert_true(vmm_vq_need_interrupt(&d.vq));
	/* DESC without EVENT_IDX: as ENABLE */
	drv_event(5, VRING_PACKED_EVENT_FLAG_DESC);
	assert_true(vmm_vq_need_interrupt(&d.vq));

	/* EVENT_IDX: DESC at a position */
	setup(&d, 4, true);
	assert_false(vmm_vq_enable_notify(&d.vq));
	assert_int_equal(dev_event(1), VRING_PACKED_EVENT_FLAG_DESC);
	assert_int_equal(dev_event(0), 0x8000); /* position 0, wrap 1 */
	drv_event(0x8000 | 2, VRING_PACKED_EVENT_FLAG_DESC); /* at slot 2, lap 1 */
	for (uint16_t i = 0; i < 4; i++) {
		add1(&d, i, F_WRITE, 8);
		assert_int_equal(vmm_vq_pop(&d.vq, &e), 1);
		assert_int_equal(vmm_vq_push(&d.vq, &e, 0), 0);
		/* the first call always interrupts (nothing signalled yet);
		 * then only the push that wrote slot 2 */
		assert_int_equal(vmm_vq_need_interrupt(&d.vq), i == 0 || i == 2);
	}
	/* now in lap 0: an event in lap 0 at slot 1 */
	assert_false(d.vq.used_wrap);
	drv_event(1, VRING_PACKED_EVENT_FLAG_DESC);
	for (uint16_t i = 0; i < 4; i++) {
		add1(&d, i, F_WRITE, 8);
		assert_int_equal(vmm_vq_pop(&d.vq, &e), 1);
		assert_int_equal(vmm_vq_push(&d.vq, &e, 0), 0);
		assert_int_equal(vmm_vq_need_interrupt(&d.vq), i == 1);
	}
	/* with EVENT_IDX the device asks for a kick at its position */
	assert_false(vmm_vq_enable_notify(&d.vq));
	assert_int_equal(dev_event(0), 0x8000);
	vmm_vq_disable_notify(&d.vq);
	assert_int_equal(dev_event(1), VRING_PACKED_EVENT_FLAG_DISABLE);
	/* an event position beyond the ring: interrupt, no harm */
	drv_event(0x7fff, VRING_PACKED_EVENT_FLAG_DESC);
	add1(&d, 0, F_WRITE, 8);
	assert_int_equal(vmm_vq_pop(&d.vq, &e), 1);
	assert_int_equal(vmm_vq_push(&d.vq, &e, 0), 0);
	assert_true(vmm_vq_need_interrupt(&d.vq));
}

static void expect_broken(struct drv *d, const char *msg)
{
	assert_true(vmm_vq_pop(&d->vq, &e) < 0);
	if (!d->vq.broken || !strstr(d->vq.err, msg))
		fprintf(stderr, "err: '%s', wanted '%s'\n", d->vq.err, msg);
	assert_true(d->vq.broken);
	assert_non_null(strstr(d->vq.err, msg));
	assert_int_equal(d->vq.last_avail, 0); /* nothing consumed */
	assert_false(vmm_vq_has_avail(&d->vq));
	assert_int_equal(vmm_vq_push(&d->vq, &(struct vmm_vq_elem){ .ndesc = 1 },
				     0), -EINVAL);
	assert_false(vmm_vq_need_interrupt(&d->vq));
}

static void test_hostile_id(void **state)
{
	struct drv d;

	setup(&d, 8, false);
	add1(&d, 8, F_WRITE, 8);
	expect_broken(&d, "buffer ID 8");
	setup(&d, 8, false);
	add1(&d, 0xffff, F_WRITE, 8);
	expect_broken(&d, "buffer ID 65535");
	/* a device cannot push what it did not pop either */
	setup(&d, 8, false);
	assert_int_equal(vmm_vq_push(&d.vq, &(struct vmm_vq_elem){ .head = 9,
								.ndesc = 1 },
				     0), -EINVAL);
	assert_int_equal(vmm_vq_push(&d.vq, &(struct vmm_vq_elem){ .head = 1,
								.ndesc = 9 },
				     0), -EINVAL);
	assert_int_equal(vmm_vq_push(&d.vq, &(struct vmm_vq_elem){ .head = 1 },
				     0), -EINVAL);
	assert_int_equal(d.vq.used_idx, 0);
}

/* Every descriptor says NEXT and is available: round and round. */
static void test_hostile_loop(void **state)
{
	struct drv d;

	setup(&d, 4, false);
	for (unsigned i = 0; i < 4; i++)
		pdesc(RING + 16 * i, BUF, 8, 0, F_NEXT | F_WRITE | F_AVAIL);
	expect_broken(&d, "loops");
	/* the same with both laps' flags: still bounded by the size */
	setup(&d, 4, false);
	for (unsigned i = 0; i < 4; i++)
		pdesc(RING + 16 * i, BUF, 8, 0,
		      F_NEXT | F_WRITE | (i ? F_AVAIL | F_USED : F_AVAIL));
	expect_broken(&d, "not available");
}

/* Wrap counter games. */
static void test_hostile_wrap(void **state)
{
	static const uint16_t fl[2] = { F_WRITE, F_WRITE };
	static const uint32_t ln[2] = { 8, 8 };
	struct drv d;

	/* the head marked for the other lap: not available, no harm */
	setup(&d, 4, false);
	pdesc(RING, BUF, 8, 0, F_WRITE | F_USED);
	assert_int_equal(vmm_vq_pop(&d.vq, &e), 0);
	pdesc(RING, BUF, 8, 0, F_WRITE | F_AVAIL | F_USED); /* used */
	assert_int_equal(vmm_vq_pop(&d.vq, &e), 0);
	pdesc(RING, BUF, 8, 0, F_WRITE);
	assert_int_equal(vmm_vq_pop(&d.vq, &e), 0);
	assert_false(d.vq.broken);
	/* the head available, the rest of its chain not */
	add(&d, 0, 2, fl, ln);
	pdesc(RING + 16, BUF, 8, 0, F_WRITE | F_USED);
	expect_broken(&d, "not available");
	/* a chain crossing the ring's end must carry the next lap's flags */
	setup(&d, 4, false);
	add1(&d, 0, F_WRITE, 8);
	add1(&d, 1, F_WRITE, 8);
	add1(&d, 2, F_WRITE, 8);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(vmm_vq_pop(&d.vq, &e), 1);
		assert_int_equal(vmm_vq_push(&d.vq, &e, 0), 0);
	}
	add(&d, 3, 2, fl, ln); /* slots 3 (lap 1) and 0 (lap 0) */
	pdesc(RING, BUF, 8, 3, F_WRITE | F_AVAIL); /* lap 1 flags at slot 0 */
	assert_true(vmm_vq_pop(&d.vq, &e) < 0);
	assert_non_null(strstr(d.vq.err, "not available"));
	assert_int_equal(d.vq.last_avail, 3);
}

static void test_hostile_lengths(void **state)
{
	static const uint16_t fl[2] = { F_WRITE, F_WRITE };
	static const uint32_t big[2] = { 0x80000000u, 0x80000000u };
	struct drv d;

	/* zero-length buffers are fine */
	setup(&d, 4, false);
	add1(&d, 0, F_WRITE, 0);
	assert_int_equal(vmm_vq_pop(&d.vq, &e), 1);
	assert_int_equal(e.n_in + e.n_out, 0);
	assert_int_equal(vmm_vq_push(&d.vq, &e, 0), 0);
	/* a zero-length indirect table is not */
	setup(&d, 4, false);
	add1(&d, 1, F_INDIRECT, 0);
	expect_broken(&d, "indirect table length 0");
	/* giant lengths */
	setup(&d, 4, false);
	add(&d, 0, 2, fl, big);
	expect_broken(&d, "longer than");
	setup(&d, 4, false);
	add1(&d, 0, F_WRITE, 0xffffffffu);
	expect_broken(&d, "longer than");
	/* an indirect table too long, misaligned, with NEXT */
	setup(&d, 4, false);
	add1(&d, 0, F_INDIRECT, 16 * 1024);
	expect_broken(&d, "indirect table length");
	setup(&d, 4, false);
	add1(&d, 0, F_INDIRECT, 20);
	expect_broken(&d, "indirect table length");
	setup(&d, 4, false);
	add(&d, 0, 2, (const uint16_t[]){ F_INDIRECT, F_WRITE },
	    (const uint32_t[]){ 16, 8 });
	expect_broken(&d, "indirect descriptor with NEXT");
	/* indirect without the feature */
	setup(&d, 4, false);
	d.vq.indirect = false;
	add1(&d, 0, F_INDIRECT, 16);
	expect_broken(&d, "without VIRTIO_RING_F_INDIRECT_DESC");
}

static void test_hostile_memory(void **state)
{
	struct drv d;

	/* a buffer beyond memory */
	setup(&d, 4, false);
	add1(&d, 0, F_WRITE, 8);
	memcpy(mem + RING, &(uint64_t){ MEM - 4 }, 8);
	expect_broken(&d, "not in guest memory");
	/* a buffer that wraps the address space */
	setup(&d, 4, false);
	add1(&d, 0, F_WRITE, 0x1000);
	memcpy(mem + RING, &(uint64_t){ ~0ull - 8 }, 8);
	expect_broken(&d, "wraps");
	/* an indirect table beyond memory */
	setup(&d, 4, false);
	add1(&d, 0, F_INDIRECT, 32);
	memcpy(mem + RING, &(uint64_t){ MEM - 16 }, 8);
	expect_broken(&d, "not in guest memory");
	/* wrong direction on a device-readable-only queue */
	setup(&d, 4, false);
	d.vq.dirs = VMM_VQ_DIR_READ;
	add1(&d, 0, F_WRITE, 8);
	expect_broken(&d, "device-writable descriptor");
	/* readable after writable */
	setup(&d, 4, false);
	add(&d, 0, 2, (const uint16_t[]){ F_WRITE, 0 },
	    (const uint32_t[]){ 8, 8 });
	expect_broken(&d, "readable descriptor after a writable");
}

static void test_layout(void **state)
{
	struct vmm_vq vq;

	memset(&vq, 0, sizeof(vq));
	vq.mem = &fmem;
	vq.packed = true;
	vq.desc = RING;
	vq.avail = DRV;
	vq.used = DEV;
	vq.size = 3;
	assert_int_equal(vmm_vq_check_layout(&vq), 0);
	vq.size = 0;
	assert_int_equal(vmm_vq_check_layout(&vq), -EINVAL);
	vq.broken = false;
	vq.size = 4;
	vq.avail = DRV + 2; /* not 4-byte aligned */
	assert_int_equal(vmm_vq_check_layout(&vq), -EINVAL);
	vq.broken = false;
	vq.avail = DRV;
	vq.desc = MEM - 32; /* ring runs out of memory */
	assert_int_equal(vmm_vq_check_layout(&vq), -EINVAL);
	assert_non_null(strstr(vq.err, "not in guest memory"));
}

/* ---- part two: a device on a null-backend VM ---- */

#define BASE 0xd0000000ull
#define VRAM (1u << 20)

struct ctx {
	vmm_vm *vm;
	vmm_dev *dev;
	char log[8192];
};

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

static void vm_desc(struct ctx *c, unsigned slot, uint64_t addr, uint32_t len,
		    uint16_t id, uint16_t flags)
{
	uint8_t b[16];

	memcpy(b, &addr, 8);
	memcpy(b + 8, &len, 4);
	memcpy(b + 12, &id, 2);
	memcpy(b + 14, &flags, 2);
	assert_int_equal(vmm_mem_write(c->vm, RING + 16ull * slot, b, 16), 0);
}

static uint16_t vm_flags(struct ctx *c, unsigned slot)
{
	uint16_t f;

	assert_int_equal(vmm_mem_read(c->vm, RING + 16ull * slot + 14, &f, 2), 0);
	return f;
}

static void dev_setup(struct ctx *c, uint32_t flags)
{
	struct vmm_config cfg;
	struct vmm_virtio_config vc;

	memset(c, 0, sizeof(*c));
	vmm_config_init(&cfg);
	cfg.log = log_cb;
	cfg.log_opaque = c;
	cfg.log_level = VMM_LOG_DEBUG;
	assert_int_equal(vmm__vm_create_null(&cfg, &c->vm), 0);
	assert_int_equal(vmm_mem_add_ram(c->vm, 0, VRAM), 0);
	vmm_virtio_config_init(&vc, VMM_VIRTIO_MMIO);
	vc.mmio_base = BASE;
	vc.queue_size = 8;
	vc.flags = flags;
	assert_int_equal(vmm_virtio_rng_attach(c->vm, &vc, &c->dev), 0);
}

/* Negotiate VERSION_1 + RING_PACKED; queue 0 of @qsize. */
static bool dev_init(struct ctx *c, uint32_t qsize)
{
	static const uint8_t zero[0x1000];

	w32(c, 0x70, 0);
	assert_int_equal(vmm_mem_write(c->vm, RING, zero, sizeof(zero)), 0);
	w32(c, 0x70, 3);
	w32(c, 0x24, 0);
	w32(c, 0x20, 0);
	w32(c, 0x24, 1);
	w32(c, 0x20, 1 | (1u << (VIRTIO_F_RING_PACKED - 32)));
	w32(c, 0x70, 0xb);
	if (!(r32(c, 0x70) & 8))
		return false;
	w32(c, 0x30, 0);
	w32(c, 0x38, qsize);
	w32(c, 0x80, RING);
	w32(c, 0x84, 0);
	w32(c, 0x90, DRV);
	w32(c, 0x94, 0);
	w32(c, 0xa0, DEV);
	w32(c, 0xa4, 0);
	w32(c, 0x44, 1);
	w32(c, 0x70, 0xf);
	return true;
}

static void kick(struct ctx *c)
{
	w32(c, 0x50, 0);
	vmm__virtio_sync(c->dev);
}

static void test_device(void **state)
{
	struct ctx c;
	struct vmm_virtio_stats st = { .struct_size = sizeof(st) };
	uint32_t len;
	uint16_t id;

	/* not offered by default */
	dev_setup(&c, 0);
	w32(&c, 0x14, 1);
	assert_false(r32(&c, 0x10) & (1u << (VIRTIO_F_RING_PACKED - 32)));
	assert_false(dev_init(&c, 8));
	vmm_vm_destroy(c.vm);

	dev_setup(&c, VMM_VIRTIO_PACKED);
	w32(&c, 0x14, 1);
	assert_true(r32(&c, 0x10) & (1u << (VIRTIO_F_RING_PACKED - 32)));
	assert_true(dev_init(&c, 6)); /* not a power of two */
	assert_int_equal(r32(&c, 0x44), 1);
	/* two requests, the second chain wrapping round the ring's end */
	for (unsigned i = 0; i < 6; i++) {
		vm_desc(&c, i, BUF + 64 * i, 64, (uint16_t)i, F_WRITE | F_AVAIL);
		kick(&c);
		assert_int_equal(vm_flags(&c, i), F_AVAIL | F_USED);
		assert_int_equal(vmm_mem_read(c.vm, RING + 16ull * i + 8, &len, 4), 0);
		assert_int_equal(vmm_mem_read(c.vm, RING + 16ull * i + 12, &id, 2), 0);
		assert_int_equal(len, 64);
		assert_int_equal(id, i);
	}
	/* lap 0: AVAIL clear, USED set */
	vm_desc(&c, 0, BUF, 32, 5, F_WRITE | F_USED);
	kick(&c);
	assert_int_equal(vm_flags(&c, 0), 0);
	assert_int_equal(vmm_virtio_get_stats(c.dev, &st), 0);
	assert_int_equal(st.requests, 7);
	assert_int_equal(st.queue_errors, 0);
	assert_false(r32(&c, 0x70) & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* a hostile buffer ID: NEEDS_RESET, logged */
	vm_desc(&c, 1, BUF, 32, 6, F_WRITE | F_USED);
	kick(&c);
	assert_true(r32(&c, 0x70) & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_non_null(strstr(c.log, "buffer ID 6"));
	/* a reset brings it back, with fresh wrap counters */
	assert_true(dev_init(&c, 8));
	assert_false(r32(&c, 0x70) & VIRTIO_CONFIG_S_NEEDS_RESET);
	vm_desc(&c, 0, BUF, 32, 7, F_WRITE | F_AVAIL);
	kick(&c);
	assert_int_equal(vm_flags(&c, 0), F_AVAIL | F_USED);
	vmm_vm_destroy(c.vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single),
		cmocka_unit_test(test_out_of_order_wrap),
		cmocka_unit_test(test_indirect),
		cmocka_unit_test(test_unpop),
		cmocka_unit_test(test_push_batch),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_hostile_id),
		cmocka_unit_test(test_hostile_loop),
		cmocka_unit_test(test_hostile_wrap),
		cmocka_unit_test(test_hostile_lengths),
		cmocka_unit_test(test_hostile_memory),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_device),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
