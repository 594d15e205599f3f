/* SPDX-License-Identifier: MIT */
/*
 * test_virtio_blk - virtio-blk request semantics on a null-backend VM: the
 * test plays the guest driver (transport registers through
 * vmm_bus_access(), rings written with vmm_mem_write()).
 *
 *   mq            VIRTIO_BLK_F_MQ: num_queues in the config space, requests
 *                 on several queues, a hostile chain on one queue breaks
 *                 the device (NEEDS_RESET) without touching the VMM, the
 *                 default queue count follows vmm_config.ncpus
 *   discard       DISCARD / WRITE_ZEROES: flags (unknown, unmap on a
 *                 discard: UNSUPP), lying segment lengths and ranges
 *                 (IOERR), write-zeroes with and without unmap (zeroes)
 *   mq_snapshot   snapshots taken while requests are in flight on three
 *                 queues (software-backend VM, vCPU not run): drained into
 *                 the rings, restored into a new VM that finishes what was
 *                 pending; a device with another queue count refuses it
 *   merge         request merging: adjacent reads and writes go out as one
 *                 host operation; out-of-range requests, a request without
 *                 header and a wrapping range inside a run are answered
 *                 alone while their neighbours merge; a short merged read
 *                 is retried request by request; a descriptor outside
 *                 guest memory breaks the ring only; NO_MERGE turns it off
 *   fixed_bufs    VMM_VIRTIO_BLK_FIXED_BUFS: guest RAM registered with the
 *                 ring, READ_FIXED/WRITE_FIXED move the right data,
 *                 removing a region drops and later renews the table
 *   flush_kill    durability: a child process runs the device, writes,
 *                 flushes; the parent SIGKILLs it once the flush completed
 *                 and reads the image
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "config.h"
#include "dev/virtio/virtio_dev.h"
#include "io/evloop.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BASE 0xd0000000ull
#define RAM (1u << 20)
#define QSIZE 32
#define QAREA(q) (0x1000u + (q) * 0x4000u) /* desc, +0x1000 avail, +0x2000 used */
#define BUF(q) (0x40000u + (q) * 0x10000u)
#define IMG_SIZE (1u << 20)

#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_DISCARD 11
#define T_WZ 13

struct ctx {
	vmm_vm *vm;
	vmm_dev *dev;
	char log[8192];
	uint16_t idx[8]; /* avail index per queue */
	unsigned data_off; /* where the data buffer starts (0 = aligned) */
	bool direct;
	uint32_t flags;    /* VMM_VIRTIO_* of the device */
	char path[64];
};

static void log_cb(void *opaque, int level, const char *msg)
{
	struct ctx *c = opaque;
	size_t n = strlen(c->log);

	(void)level;
	snprintf(c->log + n, sizeof(c->log) - n, "%s\n", msg);
}

/* Non-asserting accessors: the flush child uses them too. */
static int w32_(struct ctx *c, uint64_t off, uint32_t v)
{
	return vmm_bus_access(c->vm, VMM_SPACE_MMIO, BASE + off, &v, 4, true);
}

static uint32_t r32(struct ctx *c, uint64_t off)
{
	uint32_t v = 0;

	if (vmm_bus_access(c->vm, VMM_SPACE_MMIO, BASE + off, &v, 4, false))
		return 0xffffffffu;
	return v;
}

static int mw_(struct ctx *c, uint64_t gpa, const void *p, size_t n)
{
	return vmm_mem_write(c->vm, gpa, p, n);
}

static void put_desc(struct ctx *c, unsigned q, unsigned i, uint64_t addr,
		     uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t d[16];

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
	mw_(c, QAREA(q) + 16ull * i, d, 16);
}

static uint16_t used_idx(struct ctx *c, unsigned q)
{
	uint16_t v = 0xffff;

	if (vmm_mem_read(c->vm, QAREA(q) + 0x2000 + 2, &v, 2))
		return 0xffff;
	return v;
}

static int make_image(struct ctx *c)
{
	int fd;

	snprintf(c->path, sizeof(c->path), "/tmp/libvmm-blk-XXXXXX");
	fd = mkstemp(c->path);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, IMG_SIZE)) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int attach(struct ctx *c, unsigned nq)
{
	struct vmm_virtio_blk_config bc;

	vmm_virtio_blk_config_init(&bc, VMM_VIRTIO_MMIO);
	bc.virtio.mmio_base = BASE;
	bc.virtio.queue_size = QSIZE;
	bc.path = c->path;
	bc.num_queues = nq;
	bc.direct = c->direct;
	bc.virtio.flags = c->flags;
	return vmm_virtio_blk_attach(c->vm, &bc, &c->dev);
}

static int setup_on(struct ctx *c, unsigned ncpus, unsigned nq, bool soft)
{
	struct vmm_config cfg;
	vmm_vcpu *v;
	int ret;

	vmm_config_init(&cfg);
	cfg.log = log_cb;
	cfg.log_opaque = c;
	cfg.log_level = VMM_LOG_DEBUG;
	cfg.ncpus = ncpus;
	if (soft) {
		cfg.backend = VMM_BACKEND_SOFT;
		ret = vmm_vm_create(&cfg, &c->vm);
		if (!ret)
			ret = vmm_vcpu_create(c->vm, 0, &v);
	} else {
		ret = vmm__vm_create_null(&cfg, &c->vm);
	}
	if (ret || (ret = vmm_mem_add_ram(c->vm, 0, RAM)))
		return ret;
	return attach(c, nq);
}

static int setup(struct ctx *c, unsigned ncpus, unsigned nq)
{
	return setup_on(c, ncpus, nq, false);
}

/* Driver initialisation with features @feat (low word; VERSION_1 added)
 * and queues 0..nq-1. */
static int driver_init(struct ctx *c, uint32_t feat, unsigned nq)
{
	static const uint8_t zero[0x3000];
	int ret = 0;

	ret |= w32_(c, 0x70, 0);
	for (unsigned q = 0; q < nq; q++) {
		ret |= mw_(c, QAREA(q), zero, sizeof(zero));
		c->idx[q] = 0;
	}
	ret |= w32_(c, 0x70, 1);
	ret |= w32_(c, 0x70, 3);
	ret |= w32_(c, 0x24, 0);
	ret |= w32_(c, 0x20, feat);
	ret |= w32_(c, 0x24, 1);
	ret |= w32_(c, 0x20, 1);
	ret |= w32_(c, 0x70, 0xb);
	if (ret || !(r32(c, 0x70) & 8))
		return -1;
	for (unsigned q = 0; q < nq; q++) {
		ret |= w32_(c, 0x30, q);
		ret |= w32_(c, 0x38, QSIZE);
		ret |= w32_(c, 0x80, QAREA(q));
		ret |= w32_(c, 0x84, 0);
		ret |= w32_(c, 0x90, QAREA(q) + 0x1000);
		ret |= w32_(c, 0x94, 0);
		ret |= w32_(c, 0xa0, QAREA(q) + 0x2000);
		ret |= w32_(c, 0xa4, 0);
		ret |= w32_(c, 0x44, 1);
	}
	ret |= w32_(c, 0x70, 0xf);
	return ret ? -1 : 0;
}

/*
 * One request on queue @q: header (type, sector), @out bytes of
 * device-readable payload from @data (writes, discard segments) or @in
 * device-writable bytes (reads), status.  Returns the status byte, or
 * -1 when the request did not complete.
 */
static int request(struct ctx *c, unsigned q, uint32_t type, uint64_t sector,
		   const void *data, uint32_t out, uint32_t in)
{
	uint8_t hdr[16] = { 0 }, st = 0xff;
	uint16_t head = 0, slot = c->idx[q] % QSIZE;
	unsigned n = 0;

	memcpy(hdr, &type, 4);
	memcpy(hdr + 8, &sector, 8);
	mw_(c, BUF(q), hdr, 16);
	mw_(c, BUF(q) + 0x100, &st, 1);
	put_desc(c, q, n, BUF(q), 16, 1, (uint16_t)(n + 1));
	n++;
	if (out) {
		mw_(c, BUF(q) + 0x1000 + c->data_off, data, out);
		put_desc(c, q, n, BUF(q) + 0x1000 + c->data_off, out, 1,
			 (uint16_t)(n + 1));
		n++;
	}
	if (in) {
		put_desc(c, q, n, BUF(q) + 0x1000 + c->data_off, in, 3,
			 (uint16_t)(n + 1));
		n++;
	}
	put_desc(c, q, n, BUF(q) + 0x100, 1, 2, 0);
	mw_(c, QAREA(q) + 0x1000 + 4 + 2u * slot, &head, 2);
	c->idx[q]++;
	mw_(c, QAREA(q) + 0x1000 + 2, &c->idx[q], 2);
	w32_(c, 0x50, q);
	vmm__virtio_sync(c->dev); /* a barrier: complete now */
	if (used_idx(c, q) != c->idx[q])
		return -1;
	if (vmm_mem_read(c->vm, BUF(q) + 0x100, &st, 1))
		return -1;
	return st;
}

static void teardown(struct ctx *c)
{
	vmm_vm_destroy(c->vm);
	c->vm = NULL;
	unlink(c->path);
}

static uint64_t dev_features(struct ctx *c)
{
	uint64_t f;

	w32_(c, 0x14, 0);
	f = r32(c, 0x10);
	w32_(c, 0x14, 1);
	return f | (uint64_t)r32(c, 0x10) << 32;
}

static void test_mq(void **state)
{
	struct ctx c = { 0 };
	struct vmm_virtio_stats st = { .struct_size = sizeof(st) };
	uint8_t a[4096], b[4096];

	(void)state;
	assert_int_equal(make_image(&c), 0);

	/* default: one queue per vCPU (3), F_MQ offered */
	assert_int_equal(setup(&c, 3, 0), 0);
	assert_true(dev_features(&c) & (1ull << 12));
	assert_int_equal(r32(&c, 0x100 + 32) >> 16, 3); /* num_queues @34 */
	vmm_vm_destroy(c.vm);

	/* one queue: no F_MQ; more than VMM_VIRTIO_BLK_MAX_QUEUES: refused */
	memset(c.log, 0, sizeof(c.log));
	assert_int_equal(setup(&c, 1, 0), 0);
	assert_false(dev_features(&c) & (1ull << 12));
	assert_int_equal(r32(&c, 0x100 + 32) >> 16, 1);
	vmm_vm_destroy(c.vm);
	assert_int_equal(setup(&c, 1, VMM_VIRTIO_BLK_MAX_QUEUES + 1), -EINVAL);
	assert_non_null(strstr(c.log, "queues"));
	vmm_vm_destroy(c.vm);

	/* three queues: write on 2, read back on 1, flush on 0 */
	assert_int_equal(setup(&c, 1, 3), 0);
	assert_int_equal(driver_init(&c, 1u << 12, 3), 0);
	for (unsigned i = 0; i < sizeof(a); i++)
		a[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(request(&c, 2, T_OUT, 16, a, sizeof(a), 0), 0);
	assert_int_equal(request(&c, 1, T_IN, 16, NULL, 0, sizeof(b)), 0);
	assert_int_equal(vmm_mem_read(c.vm, BUF(1) + 0x1000, b, sizeof(b)), 0);
	assert_memory_equal(a, b, sizeof(a));
	assert_int_equal(request(&c, 0, T_FLUSH, 0, NULL, 0, 0), 0);
	{
		/* with io_uring the image is a registered (fixed) file */
		struct vmm_evloop_stats es;
		struct vmm_evloop *l = vmm__vm_evloop(c.vm);

		vmm_evloop_stats(l, &es);
		if (vmm_evloop_uses_uring(l)) {
			assert_int_equal(es.fixed_files, 1);
			assert_true(es.fixed_ops >= 3);
		}
	}
	/* out of range on queue 1: IOERR there, the others unaffected */
	assert_int_equal(request(&c, 1, T_IN, IMG_SIZE / 512 - 1, NULL, 0,
				 1024), 1);
	assert_int_equal(request(&c, 2, T_IN, 0, NULL, 0, 512), 0);
	assert_int_equal(used_idx(&c, 0), 1);
	assert_int_equal(used_idx(&c, 1), 2);
	assert_int_equal(used_idx(&c, 2), 2);
	/* a notify of a queue the device does not have */
	w32_(&c, 0x50, 5);
	vmm__virtio_sync(c.dev);
	assert_false(r32(&c, 0x70) & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* hostile: queue 2's avail index jumps by more than the size */
	{
		uint16_t jump = (uint16_t)(c.idx[2] + QSIZE + 5);

		mw_(&c, QAREA(2) + 0x1000 + 2, &jump, 2);
		w32_(&c, 0x50, 2);
		vmm__virtio_sync(c.dev);
	}
	assert_true(r32(&c, 0x70) & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_non_null(strstr(c.log, "avail index jumped"));
	assert_int_equal(vmm_virtio_get_stats(c.dev, &st), 0);
	assert_int_equal(st.queue_errors, 1);
	/* a reset brings all three back */
	assert_int_equal(driver_init(&c, 1u << 12, 3), 0);
	assert_false(r32(&c, 0x70) & VIRTIO_CONFIG_S_NEEDS_RESET);
	for (unsigned q = 0; q < 3; q++)
		assert_int_equal(request(&c, q, T_IN, 16, NULL, 0, 4096), 0);
	assert_int_equal(vmm_mem_read(c.vm, BUF(2) + 0x1000, b, sizeof(b)), 0);
	assert_memory_equal(a, b, sizeof(a));
	teardown(&c);
}

static int seg(struct ctx *c, unsigned q, uint32_t type, uint64_t sector,
	       uint32_t num, uint32_t flags, uint32_t seglen)
{
	uint8_t s[64] = { 0 };

	memcpy(s, &sector, 8);
	memcpy(s + 8, &num, 4);
	memcpy(s + 12, &flags, 4);
	return request(c, q, type, 0, s, seglen, 0);
}

static void test_discard(void **state)
{
	struct ctx c = { 0 };
	uint8_t a[4096], b[4096], z[4096] = { 0 };
	struct vmm_virtio_stats st = { .struct_size = sizeof(st) };

	(void)state;
	assert_int_equal(make_image(&c), 0);
	assert_int_equal(setup(&c, 1, 1), 0);
	assert_int_equal(driver_init(&c, (1u << 13) | (1u << 14), 1), 0);
	memset(a, 0x5a, sizeof(a));

	/* write-zeroes without unmap */
	assert_int_equal(request(&c, 0, T_OUT, 8, a, sizeof(a), 0), 0);
	assert_int_equal(seg(&c, 0, T_WZ, 8, 8, 0, 16), 0);
	assert_int_equal(request(&c, 0, T_IN, 8, NULL, 0, sizeof(b)), 0);
	assert_int_equal(vmm_mem_read(c.vm, BUF(0) + 0x1000, b, sizeof(b)), 0);
	assert_memory_equal(b, z, sizeof(z));
	/* with unmap: a hole, reads as zeroes */
	assert_int_equal(request(&c, 0, T_OUT, 8, a, sizeof(a), 0), 0);
	assert_int_equal(seg(&c, 0, T_WZ, 8, 8, 1, 16), 0);
	assert_int_equal(request(&c, 0, T_IN, 8, NULL, 0, sizeof(b)), 0);
	assert_int_equal(vmm_mem_read(c.vm, BUF(0) + 0x1000, b, sizeof(b)), 0);
	assert_memory_equal(b, z, sizeof(z));
	/* a discard: the data is gone too (hole) */
	assert_int_equal(request(&c, 0, T_OUT, 8, a, sizeof(a), 0), 0);
	assert_int_equal(seg(&c, 0, T_DISCARD, 8, 8, 0, 16), 0);

	/* flags: unmap on a discard, unknown bits: UNSUPP, nothing done */
	assert_int_equal(request(&c, 0, T_OUT, 16, a, sizeof(a), 0), 0);
	assert_int_equal(seg(&c, 0, T_DISCARD, 16, 8, 1, 16), 2);
	assert_int_equal(seg(&c, 0, T_WZ, 16, 8, 2, 16), 2);
	assert_int_equal(seg(&c, 0, T_WZ, 16, 8, 0x80000001u, 16), 2);
	assert_int_equal(request(&c, 0, T_IN, 16, NULL, 0, sizeof(b)), 0);
	assert_int_equal(vmm_mem_read(c.vm, BUF(0) + 0x1000, b, sizeof(b)), 0);
	assert_memory_equal(a, b, sizeof(a));

	/* lying lengths: short segment, two segments (max_discard_seg 1),
	 * a range past the end, a sector that overflows */
	assert_int_equal(seg(&c, 0, T_DISCARD, 16, 8, 0, 12), 1);
	assert_int_equal(seg(&c, 0, T_WZ, 16, 8, 0, 32), 1);
	assert_int_equal(seg(&c, 0, T_DISCARD, IMG_SIZE / 512 - 4, 8, 0, 16), 1);
	assert_int_equal(seg(&c, 0, T_WZ, IMG_SIZE / 512 + 1, 0, 0, 16), 1);
	assert_int_equal(seg(&c, 0, T_DISCARD, ~0ull - 3, 8, 0, 16), 1);
	assert_int_equal(seg(&c, 0, T_WZ, 16, 0xffffffffu, 0, 16), 1);
	/* zero sectors at the end: nothing to do, OK */
	assert_int_equal(seg(&c, 0, T_WZ, IMG_SIZE / 512, 0, 0, 16), 0);
	/* the data survived all of that */
	assert_int_equal(request(&c, 0, T_IN, 16, NULL, 0, sizeof(b)), 0);
	assert_int_equal(vmm_mem_read(c.vm, BUF(0) + 0x1000, b, sizeof(b)), 0);
	assert_memory_equal(a, b, sizeof(a));
	assert_int_equal(vmm_virtio_get_stats(c.dev, &st), 0);
	assert_int_equal(st.queue_errors, 0);
	assert_false(r32(&c, 0x70) & VIRTIO_CONFIG_S_NEEDS_RESET);
	teardown(&c);
}

/* @n reads of 4 KiB from sector @s0 + 8k on queue @q, chain k at
 * descriptors 3k..3k+2, data at BUF(q) + 0x1000 + 4096k; kicked, not
 * waited for. */
static void post_reads(struct ctx *c, unsigned q, unsigned n, uint64_t s0)
{
	for (unsigned k = 0; k < n; k++) {
		uint8_t hdr[16] = { 0 }, st = 0xff;
		uint64_t sector = s0 + 8 * k;
		uint16_t head = (uint16_t)(3 * k);
		uint16_t slot = c->idx[q] % QSIZE;

		memcpy(hdr + 8, &sector, 8);
		mw_(c, BUF(q) + 16 * k, hdr, 16);
		mw_(c, BUF(q) + 0x100 + k, &st, 1);
		put_desc(c, q, 3 * k, BUF(q) + 16 * k, 16, 1,
			 (uint16_t)(3 * k + 1));
		put_desc(c, q, 3 * k + 1, BUF(q) + 0x1000 + 4096ull * k, 4096,
			 3, (uint16_t)(3 * k + 2));
		put_desc(c, q, 3 * k + 2, BUF(q) + 0x100 + k, 1, 2, 0);
		mw_(c, QAREA(q) + 0x1000 + 4 + 2u * slot, &head, 2);
		c->idx[q]++;
	}
	mw_(c, QAREA(q) + 0x1000 + 2, &c->idx[q], 2);
	w32_(c, 0x50, q);
}

/* What post_reads() must have read on queue @q: statuses and data. */
static void check_reads(vmm_vm *vm, unsigned q, unsigned n, uint64_t s0,
			const uint8_t *img)
{
	static uint8_t b[4096];

	for (unsigned k = 0; k < n; k++) {
		uint8_t st = 0xff;

		assert_int_equal(vmm_mem_read(vm, BUF(q) + 0x100 + k, &st, 1), 0);
		assert_int_equal(st, 0);
		assert_int_equal(vmm_mem_read(vm, BUF(q) + 0x1000 + 4096ull * k,
					      b, sizeof(b)), 0);
		assert_memory_equal(b, img + (s0 + 8 * k) * 512, sizeof(b));
	}
}

/*
 * Request merging.  One chain per entry of @rq, all on queue 0 and kicked
 * once (one pass of the device): chain k at descriptors 3k..3k+2, header
 * at MHDR + 16k, data at MDATA + 4096k (@len bytes; device-writable for
 * reads), status at MST + k.  @bad: chain k's header descriptor is 8
 * bytes (a request without a header: IOERR, no status), or with
 * @bad_ring its data descriptor points outside guest memory (the ring is
 * broken).  Not waited for.
 */
#define MHDR 0xc0000u
#define MDATA 0xc1000u
#define MST 0xc0800u

struct mreq {
	uint32_t type;
	uint64_t sector;
	uint32_t len;
	bool bad, bad_ring;
};

static void post_merge(struct ctx *c, const struct mreq *rq, unsigned n)
{
	for (unsigned k = 0; k < n; k++) {
		uint8_t hdr[16] = { 0 }, st = 0xff;
		uint16_t head = (uint16_t)(3 * k), slot = c->idx[0] % QSIZE;
		uint64_t data = rq[k].bad_ring ? RAM + 0x100000ull
					       : MDATA + 4096ull * k;

		memcpy(hdr, &rq[k].type, 4);
		memcpy(hdr + 8, &rq[k].sector, 8);
		mw_(c, MHDR + 16 * k, hdr, 16);
		mw_(c, MST + k, &st, 1);
		put_desc(c, 0, 3 * k, MHDR + 16 * k, rq[k].bad ? 8 : 16, 1,
			 (uint16_t)(3 * k + 1));
		put_desc(c, 0, 3 * k + 1, data, rq[k].len,
			 rq[k].type == T_IN ? 3 : 1, (uint16_t)(3 * k + 2));
		put_desc(c, 0, 3 * k + 2, MST + k, 1, 2, 0);
		mw_(c, QAREA(0) + 0x1000 + 4 + 2u * slot, &head, 2);
		c->idx[0]++;
	}
	mw_(c, QAREA(0) + 0x1000 + 2, &c->idx[0], 2);
	w32_(c, 0x50, 0);
	vmm__virtio_sync(c->dev);
}

static uint8_t mstatus(struct ctx *c, unsigned k)
{
	uint8_t st = 0xee;

	assert_int_equal(vmm_mem_read(c->vm, MST + k, &st, 1), 0);
	return st;
}

/* chain k's data equals the image at @sector (@len bytes) */
static void mcheck(struct ctx *c, unsigned k, const uint8_t *img,
		   uint64_t sector, uint32_t len)
{
	static uint8_t b[4096];

	assert_int_equal(vmm_mem_read(c->vm, MDATA + 4096ull * k, b, len), 0);
	assert_memory_equal(b, img + sector * 512, len);
}

/* operations the event loop completed so far */
static uint64_t loop_ops(struct ctx *c)
{
	struct vmm_evloop_stats es;

	vmm_evloop_stats(vmm__vm_evloop(c->vm), &es);
	return es.completions;
}

static void test_merge(void **state)
{
	struct ctx c = { 0 };
	static uint8_t img[IMG_SIZE], b[4096];
	const uint64_t cap = IMG_SIZE / 512;
	uint64_t ops;
	int fd;

	(void)state;
	assert_int_equal(make_image(&c), 0);
	for (unsigned i = 0; i < IMG_SIZE; i++)
		img[i] = (uint8_t)(i * 29 + (i >> 9) * 3 + 1);
	fd = open(c.path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, img, IMG_SIZE, 0), IMG_SIZE);
	close(fd);
	assert_int_equal(setup(&c, 1, 1), 0);
	assert_int_equal(driver_init(&c, 0, 1), 0);

	/* four adjacent 4 KiB reads: one host operation, each its data */
	{
		const struct mreq rq[4] = { { T_IN, 40, 4096 }, { T_IN, 48, 4096 },
					    { T_IN, 56, 4096 }, { T_IN, 64, 4096 } };
		ops = loop_ops(&c);
		post_merge(&c, rq, 4);
		assert_int_equal(used_idx(&c, 0), 4);
		for (unsigned k = 0; k < 4; k++) {
			assert_int_equal(mstatus(&c, k), 0);
			mcheck(&c, k, img, rq[k].sector, 4096);
		}
		if (vmm_evloop_uses_uring(vmm__vm_evloop(c.vm)))
			assert_int_equal(loop_ops(&c) - ops, 1);
	}
	/* out of range across a merge: the two in range read, the two
	 * beyond the end are IOERR on their own */
	{
		const struct mreq rq[4] = {
			{ T_IN, cap - 16, 4096 }, { T_IN, cap - 8, 4096 },
			{ T_IN, cap, 4096 }, { T_IN, cap + 8, 4096 } };
		post_merge(&c, rq, 4);
		assert_int_equal(used_idx(&c, 0), 8);
		assert_int_equal(mstatus(&c, 0), 0);
		assert_int_equal(mstatus(&c, 1), 0);
		assert_int_equal(mstatus(&c, 2), 1);
		assert_int_equal(mstatus(&c, 3), 1);
		mcheck(&c, 0, img, cap - 16, 4096);
		mcheck(&c, 1, img, cap - 8, 4096);
	}
	/* a request past the end whose range wraps (sector + length
	 * overflows) between two adjacent ones: IOERR alone */
	{
		const struct mreq rq[3] = { { T_IN, 200, 4096 },
					    { T_IN, ~0ull - 3, 4096 },
					    { T_IN, 208, 4096 } };
		post_merge(&c, rq, 3);
		assert_int_equal(used_idx(&c, 0), 11);
		assert_int_equal(mstatus(&c, 0), 0);
		assert_int_equal(mstatus(&c, 1), 1);
		assert_int_equal(mstatus(&c, 2), 0);
		mcheck(&c, 0, img, 200, 4096);
		mcheck(&c, 2, img, 208, 4096);
	}
	/* a merge spanning a bad request (no header: IOERR, no status
	 * byte written) - its neighbours still merge and read their data */
	{
		const struct mreq rq[3] = { { T_IN, 300, 4096 },
					    { T_IN, 308, 4096, true },
					    { T_IN, 308, 4096 } };
		memset(c.log, 0, sizeof(c.log));
		ops = loop_ops(&c);
		post_merge(&c, rq, 3);
		assert_int_equal(used_idx(&c, 0), 14);
		assert_int_equal(mstatus(&c, 0), 0);
		assert_int_equal(mstatus(&c, 1), 0xff); /* untouched */
		assert_int_equal(mstatus(&c, 2), 0);
		mcheck(&c, 0, img, 300, 4096);
		mcheck(&c, 2, img, 308, 4096);
		assert_non_null(strstr(c.log, "without header"));
		if (vmm_evloop_uses_uring(vmm__vm_evloop(c.vm)))
			assert_int_equal(loop_ops(&c) - ops, 1);
	}
	/* adjacent writes of different lengths, merged, land in the file;
	 * a read between writes splits them */
	{
		static uint8_t w[3][4096];
		const struct mreq rq[4] = { { T_OUT, 400, 4096 },
					    { T_OUT, 408, 1024 },
					    { T_IN, 410, 512 },
					    { T_OUT, 410, 2048 } };

		for (unsigned k = 0; k < 3; k++)
			for (unsigned i = 0; i < 4096; i++)
				w[k][i] = (uint8_t)(i * 5 + k * 77 + 9);
		mw_(&c, MDATA, w[0], 4096);
		mw_(&c, MDATA + 4096, w[1], 1024);
		mw_(&c, MDATA + 3 * 4096, w[2], 2048);
		post_merge(&c, rq, 4);
		assert_int_equal(used_idx(&c, 0), 18);
		for (unsigned k = 0; k < 4; k++)
			assert_int_equal(mstatus(&c, k), 0);
		fd = open(c.path, O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(pread(fd, b, 4096, 400 * 512), 4096);
		assert_memory_equal(b, w[0], 4096);
		assert_int_equal(pread(fd, b, 1024, 408 * 512), 1024);
		assert_memory_equal(b, w[1], 1024);
		assert_int_equal(pread(fd, b, 2048, 410 * 512), 2048);
		assert_memory_equal(b, w[2], 2048);
		close(fd);
	}
	/* a merged read that comes back short (the image shrank under the
	 * device): retried one by one - the first reads, the second is
	 * IOERR */
	{
		const struct mreq rq[2] = { { T_IN, 500, 4096 },
					    { T_IN, 508, 4096 } };
		assert_int_equal(truncate(c.path, 508 * 512 + 1024), 0);
		memset(c.log, 0, sizeof(c.log));
		post_merge(&c, rq, 2);
		assert_int_equal(used_idx(&c, 0), 20);
		assert_int_equal(mstatus(&c, 0), 0);
		assert_int_equal(mstatus(&c, 1), 1);
		mcheck(&c, 0, img, 500, 4096);
		if (vmm_evloop_uses_uring(vmm__vm_evloop(c.vm)))
			assert_non_null(strstr(c.log, "one by one"));
	}
	/* a merge spanning a descriptor outside guest memory: the ring is
	 * broken (NEEDS_RESET), the VMM goes on; after a reset merged reads
	 * work again */
	{
		const struct mreq rq[3] = { { T_IN, 600, 4096 },
					    { T_IN, 608, 4096, false, true },
					    { T_IN, 616, 4096 } };
		const struct mreq ok[2] = { { T_IN, 96, 4096 },
					    { T_IN, 104, 4096 } };
		post_merge(&c, rq, 3);
		assert_true(r32(&c, 0x70) & VIRTIO_CONFIG_S_NEEDS_RESET);
		assert_int_equal(driver_init(&c, 0, 1), 0);
		post_merge(&c, ok, 2);
		assert_int_equal(used_idx(&c, 0), 2);
		assert_int_equal(mstatus(&c, 0), 0);
		assert_int_equal(mstatus(&c, 1), 0);
		mcheck(&c, 0, img, 96, 4096);
		mcheck(&c, 1, img, 104, 4096);
	}
	teardown(&c);

	/* VMM_VIRTIO_BLK_NO_MERGE: one host operation per request */
	assert_int_equal(make_image(&c), 0);
	c.flags = VMM_VIRTIO_BLK_NO_MERGE;
	assert_int_equal(setup(&c, 1, 1), 0);
	assert_int_equal(driver_init(&c, 0, 1), 0);
	{
		const struct mreq rq[4] = { { T_IN, 40, 4096 }, { T_IN, 48, 4096 },
					    { T_IN, 56, 4096 }, { T_IN, 64, 4096 } };
		ops = loop_ops(&c);
		post_merge(&c, rq, 4);
		assert_int_equal(used_idx(&c, 0), 4);
		for (unsigned k = 0; k < 4; k++)
			assert_int_equal(mstatus(&c, k), 0);
		if (vmm_evloop_uses_uring(vmm__vm_evloop(c.vm)))
			assert_int_equal(loop_ops(&c) - ops, 4);
	}
	teardown(&c);
}

/*
 * VMM_VIRTIO_BLK_FIXED_BUFS: guest RAM registered with the ring, reads and
 * writes inside it go out as READ_FIXED/WRITE_FIXED with the right data;
 * removing guest memory drops the registration and the next request
 * registers the new layout.  Without the flag nothing is registered.
 */
static void test_fixed_bufs(void **state)
{
	struct ctx c = { 0 };
	struct vmm_evloop_stats es;
	struct vmm_evloop *l;
	static uint8_t a[4096], b[4096];
	uint64_t ops;

	(void)state;
	assert_int_equal(make_image(&c), 0);
	assert_int_equal(setup(&c, 1, 1), 0);
	assert_int_equal(driver_init(&c, 0, 1), 0);
	assert_int_equal(request(&c, 0, T_IN, 8, NULL, 0, 4096), 0);
	l = vmm__vm_evloop(c.vm);
	vmm_evloop_stats(l, &es);
	assert_int_equal(es.fixed_bufs, 0);
	assert_int_equal(es.fixed_buf_ops, 0);
	teardown(&c);

	assert_int_equal(make_image(&c), 0);
	c.flags = VMM_VIRTIO_BLK_FIXED_BUFS;
	assert_int_equal(setup(&c, 1, 1), 0);
	/* a second RAM region, removed later */
	assert_int_equal(vmm_mem_add_ram(c.vm, 0x200000, 0x100000), 0);
	assert_int_equal(driver_init(&c, 0, 1), 0);
	l = vmm__vm_evloop(c.vm);
	if (!vmm_evloop_uses_uring(l)) {
		teardown(&c);
		skip();
	}
	for (unsigned i = 0; i < sizeof(a); i++)
		a[i] = (uint8_t)(i * 11 + 5);
	assert_int_equal(request(&c, 0, T_OUT, 24, a, sizeof(a), 0), 0);
	vmm_evloop_stats(l, &es);
	assert_int_equal(es.fixed_bufs, 2);
	ops = es.fixed_buf_ops;
	assert_true(ops >= 1);
	memset(b, 0, sizeof(b));
	mw_(&c, BUF(0) + 0x1000, b, sizeof(b));
	assert_int_equal(request(&c, 0, T_IN, 24, NULL, 0, sizeof(b)), 0);
	assert_int_equal(vmm_mem_read(c.vm, BUF(0) + 0x1000, b, sizeof(b)), 0);
	assert_memory_equal(a, b, sizeof(a));
	vmm_evloop_stats(l, &es);
	assert_int_equal(es.fixed_buf_ops, ops + 1);
	/* the region goes: unregistered at once; the next request
	 * registers what is left */
	assert_int_equal(vmm_mem_remove(c.vm, 0x200000), 0);
	vmm_evloop_stats(l, &es);
	assert_int_equal(es.fixed_bufs, 0);
	assert_int_equal(request(&c, 0, T_IN, 24, NULL, 0, sizeof(b)), 0);
	assert_int_equal(vmm_mem_read(c.vm, BUF(0) + 0x1000, b, sizeof(b)), 0);
	assert_memory_equal(a, b, sizeof(a));
	vmm_evloop_stats(l, &es);
	assert_int_equal(es.fixed_bufs, 1);
	assert_int_equal(es.fixed_buf_ops, ops + 2);
	teardown(&c);
}

struct restore_ctx {
	struct ctx *c;
	unsigned nq;
};

static int restore_attach(void *opaque, vmm_vm *vm)
{
	struct restore_ctx *rc = opaque;

	rc->c->vm = vm;
	return attach(rc->c, rc->nq);
}

static void test_mq_snapshot(void **state)
{
	struct ctx c = { 0 }, d = { 0 };
	static uint8_t img[IMG_SIZE];
	char snap[96];
	int fd;
	unsigned rounds = 0, pending_seen = 0;

	(void)state;
	assert_int_equal(make_image(&c), 0);
	for (unsigned i = 0; i < sizeof(img); i++)
		img[i] = (uint8_t)(i * 2654435761u >> 13);
	fd = open(c.path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, img, sizeof(img), 0), (ssize_t)sizeof(img));
	close(fd);
	snprintf(snap, sizeof(snap), "%s.snap", c.path);
	assert_int_equal(setup_on(&c, 3, 3, true), 0);
	assert_int_equal(driver_init(&c, 1u << 12, 3), 0);

	/* 30 requests in flight on three queues, then a snapshot at once:
	 * save drains them into the rings (or finds them not yet taken) */
	for (rounds = 0; rounds < 20; rounds++) {
		struct vmm_save_opts so = { .flags = VMM_SAVE_NO_SYNC };
		uint16_t u;

		for (unsigned q = 0; q < 3; q++)
			post_reads(&c, q, 10, 8 * ((rounds * 7 + q * 100) % 200));
		assert_int_equal(vmm_snapshot_save(c.vm, snap, &so), 0);
		for (unsigned q = 0; q < 3; q++) {
			assert_int_equal(vmm_mem_read(c.vm, QAREA(q) + 0x2000 + 2,
						      &u, 2), 0);
			if (u != c.idx[q])
				pending_seen++;
		}
		vmm__virtio_sync(c.dev);
		for (unsigned q = 0; q < 3; q++) {
			assert_int_equal(used_idx(&c, q), c.idx[q]);
			check_reads(c.vm, q, 10,
				    8 * ((rounds * 7 + q * 100) % 200), img);
		}
	}
	printf("mq_snapshot: %u rounds, %u queue(s) with requests not taken "
	       "yet at save time\n", rounds, pending_seen);

	/* the last snapshot, again with work pending: restore elsewhere */
	for (unsigned q = 0; q < 3; q++)
		post_reads(&c, q, 10, 8 * (150 + q * 10));
	{
		struct vmm_save_opts so = { .flags = VMM_SAVE_NO_SYNC };
		assert_int_equal(vmm_snapshot_save(c.vm, snap, &so), 0);
	}
	memcpy(d.idx, c.idx, sizeof(d.idx));
	snprintf(d.path, sizeof(d.path), "%s", c.path);
	vmm_vm_destroy(c.vm);
	c.vm = NULL;
	{
		struct restore_ctx rc = { &d, 3 }, bad = { &d, 2 };
		struct vmm_restore_opts ro = { .attach = restore_attach,
					       .opaque = &rc };
		struct vmm_config ov;
		vmm_snapshot *s;
		vmm_vm *vm = NULL;
		char err[256] = "";

		assert_int_equal(vmm_snapshot_open(snap, &s, err, sizeof(err)), 0);
		vmm_config_init(&ov);
		ov.backend = VMM_BACKEND_SOFT;
		ov.log = log_cb;
		ov.log_opaque = &d;
		/* two queues where three were saved: refused */
		ro.opaque = &bad;
		assert_int_not_equal(vmm_snapshot_restore_snap(s, &ov, &ro, &vm),
				     0);
		assert_null(vm);
		ro.opaque = &rc;
		memset(d.log, 0, sizeof(d.log));
		assert_int_equal(vmm_snapshot_restore_snap(s, &ov, &ro, &vm), 0);
		vmm_snapshot_close(s);
		d.vm = vm;
	}
	/* the restored device finishes what was pending and goes on */
	vmm__virtio_sync(d.dev);
	for (unsigned q = 0; q < 3; q++) {
		assert_int_equal(used_idx(&d, q), d.idx[q]);
		check_reads(d.vm, q, 10, 8 * (150 + q * 10), img);
	}
	for (unsigned q = 0; q < 3; q++) {
		post_reads(&d, q, 10, 8 * (100 + q * 10));
		vmm__virtio_sync(d.dev);
		assert_int_equal(used_idx(&d, q), d.idx[q]);
		check_reads(d.vm, q, 10, 8 * (100 + q * 10), img);
	}
	assert_false(r32(&d, 0x70) & VIRTIO_CONFIG_S_NEEDS_RESET);
	teardown(&d);
	unlink(snap);
}

/* O_DIRECT: aligned requests work, misaligned buffers or lengths are
 * IOERR with a message (not EINVAL from deep inside the host). */
static void test_direct(void **state)
{
	struct ctx c = { 0 };
	uint8_t a[8192], b[8192];
	uint32_t bs;

	(void)state;
	assert_int_equal(make_image(&c), 0);
	c.direct = true;
	assert_int_equal(setup(&c, 1, 1), 0);
	assert_int_equal(driver_init(&c, 0, 1), 0);
	bs = r32(&c, 0x100 + 20); /* blk_size: the file's O_DIRECT unit */
	assert_true(bs >= 512 && bs <= 4096 && !(bs & (bs - 1)));
	for (unsigned i = 0; i < sizeof(a); i++)
		a[i] = (uint8_t)(i ^ (i >> 9));
	assert_int_equal(request(&c, 0, T_OUT, 8, a, 4096, 0), 0);
	assert_int_equal(request(&c, 0, T_IN, 8, NULL, 0, 4096), 0);
	assert_int_equal(vmm_mem_read(c.vm, BUF(0) + 0x1000, b, 4096), 0);
	assert_memory_equal(a, b, 4096);
	/* a buffer one byte off, a length that is not a multiple */
	c.data_off = 1;
	assert_int_equal(request(&c, 0, T_IN, 8, NULL, 0, 4096), 1);
	assert_int_equal(request(&c, 0, T_OUT, 8, a, 4096, 0), 1);
	c.data_off = 0;
	assert_int_equal(request(&c, 0, T_IN, 8, NULL, 0, bs + 256), 1);
	assert_non_null(strstr(c.log, "not aligned for O_DIRECT"));
	/* nothing was written by the refused write */
	assert_int_equal(request(&c, 0, T_IN, 8, NULL, 0, 4096), 0);
	assert_int_equal(vmm_mem_read(c.vm, BUF(0) + 0x1000, b, 4096), 0);
	assert_memory_equal(a, b, 4096);
	teardown(&c);
}

/*
 * The child: a VMM with the device, a 64 KiB write at sector 128, a
 * flush; once the flush has completed it reports on @wfd and waits to be
 * killed.  Report bytes: 'K' flushed, 'E' error.
 */
static void flush_child(struct ctx *c, int wfd)
{
	static uint8_t a[65536];
	char r = 'E';

	for (unsigned i = 0; i < sizeof(a); i++)
		a[i] = (uint8_t)(i * 13 + (i >> 8) + 3);
	if (!setup(c, 1, 1) && !driver_init(c, 1u << 9, 1)) {
		/* 16 requests of 4 KiB, acknowledged one by one */
		int ok = 1;
		for (unsigned k = 0; k < 16 && ok; k++)
			ok = request(c, 0, T_OUT, 128 + 8 * k, a + 4096 * k,
				     4096, 0) == 0;
		if (ok && request(c, 0, T_FLUSH, 0, NULL, 0, 0) == 0)
			r = 'K';
	}
	if (write(wfd, &r, 1) != 1)
		_exit(3);
	for (;;)
		pause();
}

static void test_flush_kill(void **state)
{
	struct ctx c = { 0 };
	static uint8_t a[65536], b[65536];
	int p[2], status, fd;
	char r = 0;
	pid_t pid;

	(void)state;
	assert_int_equal(make_image(&c), 0);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		flush_child(&c, p[1]);
		_exit(2);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &r, 1), 1);
	close(p[0]);
	/* the flush completed: kill the VMM without any clean-up */
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(r, 'K');
	for (unsigned i = 0; i < sizeof(a); i++)
		a[i] = (uint8_t)(i * 13 + (i >> 8) + 3);
	fd = open(c.path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, b, sizeof(b), 128 * 512), (ssize_t)sizeof(b));
	close(fd);
	assert_memory_equal(a, b, sizeof(a));
	unlink(c.path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mq),
		cmocka_unit_test(test_discard),
		cmocka_unit_test(test_mq_snapshot),
		cmocka_unit_test(test_direct),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_fixed_bufs),
		cmocka_unit_test(test_flush_kill),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
