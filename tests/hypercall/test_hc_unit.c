/* SPDX-License-Identifier: MIT */
/*
 * test_hc_unit.c - the hypercall device on a null-backend VM: the host plays
 * a hostile guest, writes call blocks into guest RAM with vmm_mem_write()
 * and rings the doorbell with vmm_bus_access(), exactly as a vCPU's OUT
 * would be dispatched.  Every validation path, batches, lookup, the
 * registration rules, and allocation failure at every point (nothing
 * leaks, the host never crashes, the guest gets -ENOMEM).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "hypercall/hc_impl.h"
#include "failalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RAM (1u << 20)
#define PORT VMM_HC_PORT_DEFAULT
#define BLK 0x1000u   /* a call block */
#define BUF_A 0x2000u
#define BUF_B 0x3000u
#define ARR 0x10000u  /* batch entries */

#define NR_ADD 0x100
#define NR_REV 0x101  /* reverse: IN -> OUT */
#define NR_FAIL 0x102
#define NR_BOGUS 0x103
#define NR_BIG 0x104  /* INOUT up to 64 KiB: +1 to every byte */
#define NR_NOBATCH 0x105

struct fx {
	struct failalloc fa;
	vmm_vm *vm;
	vmm_hc *hc;
	int add_calls;
};

static int64_t f_add(void *opaque, struct vmm_hc_call *c)
{
	struct fx *f = opaque;
	f->add_calls++;
	assert_int_equal(c->nargs, 2);
	return (int64_t)(c->args[0] + c->args[1]);
}

static int64_t f_rev(void *opaque, struct vmm_hc_call *c)
{
	const uint8_t *in = c->bufs[0].data;
	uint8_t *out = c->bufs[1].data;
	uint32_t n = c->bufs[0].len;

	if (n > c->bufs[1].len)
		return -ENOSPC;
	for (uint32_t i = 0; i < n; i++)
		out[i] = in[n - 1 - i];
	c->bufs[1].used = n;
	return n;
}

static int64_t f_fail(void *opaque, struct vmm_hc_call *c)
{
	return -EACCES;
}

static int64_t f_bogus(void *opaque, struct vmm_hc_call *c)
{
	return -100000; /* not an errno */
}

static int64_t f_big(void *opaque, struct vmm_hc_call *c)
{
	uint8_t *p = c->bufs[0].data;
	for (uint32_t i = 0; i < c->bufs[0].len; i++)
		p[i]++;
	return c->bufs[0].len;
}

static const struct vmm_hc_sig sig_add = { .nargs = 2 };
static const struct vmm_hc_sig sig_rev = {
	.nbufs = 2,
	.bufs = { { VMM_HC_DIR_IN, 64 }, { VMM_HC_DIR_OUT, 64 } },
};
static const struct vmm_hc_sig sig_big = {
	.nbufs = 1, .bufs = { { VMM_HC_DIR_INOUT, 65536 } },
};
static const struct vmm_hc_sig sig_nobatch = { .flags = VMM_HC_SIG_NO_BATCH };

/* Create the VM and everything; 0 or the first error (fault injection). */
static int fx_build(struct fx *f, long fail_at, uint32_t max_batch)
{
	struct vmm_config cfg;
	struct vmm_hc_config hcfg;
	int r;

	memset(f, 0, sizeof(*f));
	failalloc_init(&f->fa, fail_at);
	vmm_config_init(&cfg);
	cfg.allocator = &f->fa.a;
	if ((r = vmm__vm_create_null(&cfg, &f->vm)))
		return r;
	vmm_hc_config_init(&hcfg);
	hcfg.max_batch = max_batch;
	if ((r = vmm_mem_add_ram(f->vm, 0, RAM)) ||
	    (r = vmm_hc_attach(f->vm, &hcfg, &f->hc)) ||
	    (r = vmm_hc_register(f->hc, NR_ADD, "add", &sig_add, f_add, f)) ||
	    (r = vmm_hc_register(f->hc, NR_REV, "rev", &sig_rev, f_rev, f)) ||
	    (r = vmm_hc_register(f->hc, NR_FAIL, "fail", &sig_add, f_fail, f)) ||
	    (r = vmm_hc_register(f->hc, NR_BOGUS, "bogus", &sig_add, f_bogus,
				 f)) ||
	    (r = vmm_hc_register(f->hc, NR_BIG, "big", &sig_big, f_big, f)) ||
	    (r = vmm_hc_register(f->hc, NR_NOBATCH, "nobatch", &sig_nobatch,
				 f_fail, f)))
		return r;
	return 0;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(fx_build(f, -1, 4), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	vmm_vm_destroy(f->vm);
	assert_int_equal(f->fa.live, 0);
	free(f);
	return 0;
}

static void blk_init(struct vmm_hc_block *b, uint32_t nr)
{
	memset(b, 0, sizeof(*b));
	b->magic = VMM_HC_MAGIC;
	b->version = VMM_HC_VERSION;
	b->size = sizeof(*b);
	b->nr = nr;
	b->error = VMM_HC_PENDING;
}

static void blk_buf(struct vmm_hc_block *b, uint64_t gpa, uint32_t len,
		    uint16_t dir)
{
	b->bufs[b->nbufs].gpa = gpa;
	b->bufs[b->nbufs].len = len;
	b->bufs[b->nbufs].dir = dir;
	b->nbufs++;
}

/* Write @b at @gpa, ring, read it back; returns the doorbell status. */
static int32_t ring(struct fx *f, uint64_t gpa, struct vmm_hc_block *b)
{
	uint32_t v = (uint32_t)gpa, st = 0;

	if (b)
		assert_int_equal(vmm_mem_write(f->vm, gpa, b, sizeof(*b)), 0);
	assert_int_equal(vmm_bus_access(f->vm, VMM_SPACE_PIO, PORT, &v, 4,
					true), 0);
	assert_int_equal(vmm_bus_access(f->vm, VMM_SPACE_PIO, PORT, &st, 4,
					false), 0);
	if (b && vmm_mem_is_ram(f->vm, gpa, sizeof(*b)))
		assert_int_equal(vmm_mem_read(f->vm, gpa, b, sizeof(*b)), 0);
	return (int32_t)st;
}

/* A single call at BLK; returns the block's error (0 = success). */
static int32_t call(struct fx *f, struct vmm_hc_block *b)
{
	assert_int_equal(ring(f, BLK, b), 0);
	assert_int_not_equal(b->error, VMM_HC_PENDING);
	return b->error;
}

static void test_version(void **state)
{
	struct fx *f = *state;
	struct vmm_hc_block b;

	blk_init(&b, VMM_HC_NR_VERSION);
	assert_int_equal(call(f, &b), 0);
	assert_int_equal(b.result, VMM_HC_VERSION);
	assert_true(b.args[0] & VMM_HC_FEAT_BATCH);
	assert_int_equal(b.args[1], 4);
	assert_int_equal(b.args[2], 65536);
	assert_int_equal(b.args[3], 6);
	assert_int_equal(b.args[4], PORT);
	b.nargs = 1; /* the query takes no arguments */
	assert_int_equal(call(f, &b), -EINVAL);
}

static void test_add_and_stats(void **state)
{
	struct fx *f = *state;
	struct vmm_hc_block b;
	struct vmm_hc_stats st = { .struct_size = sizeof(st) };

	blk_init(&b, NR_ADD);
	b.nargs = 2;
	b.args[0] = 40;
	b.args[1] = 2;
	assert_int_equal(call(f, &b), 0);
	assert_int_equal(b.result, 42);
	assert_int_equal(f->add_calls, 1);
	assert_int_equal(vmm_hc_get_stats(f->hc, &st), 0);
	assert_int_equal(st.doorbells, 1);
	assert_int_equal(st.calls, 1);
	assert_int_equal(st.errors, 0);
	/* the host function's errno, and one that is not an errno */
	b.nr = NR_FAIL;
	assert_int_equal(call(f, &b), -EACCES);
	b.nr = NR_BOGUS;
	assert_int_equal(call(f, &b), -EIO);
	assert_int_equal(vmm_hc_get_stats(f->hc, &st), 0);
	assert_int_equal(st.errors, 2);
}

static void test_buffers(void **state)
{
	struct fx *f = *state;
	struct vmm_hc_block b;
	char out[16] = { 0 };

	assert_int_equal(vmm_mem_write(f->vm, BUF_A, "hello", 5), 0);
	assert_int_equal(vmm_mem_fill(f->vm, BUF_B, 0xee, 64), 0);
	blk_init(&b, NR_REV);
	blk_buf(&b, BUF_A, 5, VMM_HC_DIR_IN);
	blk_buf(&b, BUF_B, 64, VMM_HC_DIR_OUT);
	assert_int_equal(call(f, &b), 0);
	assert_int_equal(b.result, 5);
	assert_int_equal(b.bufs[1].used, 5);
	assert_int_equal(vmm_mem_read(f->vm, BUF_B, out, 6), 0);
	assert_memory_equal(out, "olleh\xee", 6); /* only used bytes written */

	/* a large INOUT buffer takes the allocation path */
	assert_int_equal(vmm_mem_fill(f->vm, 0x20000, 7, 65536), 0);
	blk_init(&b, NR_BIG);
	blk_buf(&b, 0x20000, 65536, VMM_HC_DIR_INOUT);
	assert_int_equal(call(f, &b), 0);
	assert_int_equal(b.bufs[0].used, 65536);
	assert_int_equal(vmm_mem_read(f->vm, 0x20000 + 65535, out, 1), 0);
	assert_int_equal(out[0], 8);
}

/* Every way a hostile guest can get a call wrong. */
static void test_hostile_blocks(void **state)
{
	struct fx *f = *state;
	struct vmm_hc_block b, good;
	struct vmm_hc_stats st = { .struct_size = sizeof(st) };

	blk_init(&good, NR_REV);
	blk_buf(&good, BUF_A, 5, VMM_HC_DIR_IN);
	blk_buf(&good, BUF_B, 64, VMM_HC_DIR_OUT);

	/* unknown call number */
	blk_init(&b, 0x7777);
	assert_int_equal(call(f, &b), -ENOSYS);
	/* reserved library number that does not exist */
	blk_init(&b, 0x42);
	assert_int_equal(call(f, &b), -ENOSYS);
	/* wrong version: reported in the block */
	b = good;
	b.version = 2;
	assert_int_equal(call(f, &b), -EPROTONOSUPPORT);
	/* bad size, unknown flags, too many args/bufs */
	b = good;
	b.size = 100;
	assert_int_equal(call(f, &b), -EINVAL);
	b = good;
	b.flags = 0x80;
	assert_int_equal(call(f, &b), -EINVAL);
	b = good;
	b.flags = VMM_HC_F_STOP_ON_ERROR; /* batch-only flag */
	assert_int_equal(call(f, &b), -EINVAL);
	b = good;
	b.nbufs = 5;
	assert_int_equal(call(f, &b), -EINVAL);
	b = good;
	b.nargs = 7;
	assert_int_equal(call(f, &b), -EINVAL);
	/* signature mismatch: counts, direction, reserved fields */
	b = good;
	b.nargs = 1;
	assert_int_equal(call(f, &b), -EINVAL);
	b = good;
	b.nbufs = 1;
	assert_int_equal(call(f, &b), -EINVAL);
	b = good;
	b.bufs[0].dir = VMM_HC_DIR_OUT;
	assert_int_equal(call(f, &b), -EINVAL);
	b = good;
	b.bufs[1].reserved = 1;
	assert_int_equal(call(f, &b), -EINVAL);
	b = good;
	b.bufs[1].reserved2 = 1;
	assert_int_equal(call(f, &b), -EINVAL);
	/* length beyond the registered maximum */
	b = good;
	b.bufs[1].len = 65;
	assert_int_equal(call(f, &b), -E2BIG);
	/* buffer beyond RAM, and straddling its end */
	b = good;
	b.bufs[0].gpa = RAM + 0x1000;
	assert_int_equal(call(f, &b), -EFAULT);
	b = good;
	b.bufs[1].gpa = RAM - 10;
	assert_int_equal(call(f, &b), -EFAULT);
	/* gpa + len wraps around */
	b = good;
	b.bufs[0].gpa = ~0ull - 2;
	assert_int_equal(call(f, &b), -EOVERFLOW);
	/* OUT overlapping IN, and overlapping the call block itself */
	b = good;
	b.bufs[1].gpa = BUF_A + 4;
	assert_int_equal(call(f, &b), -EINVAL);
	b = good;
	b.bufs[1].gpa = BLK + 100;
	assert_int_equal(call(f, &b), -EINVAL);
	/* zero-length buffers are fine anywhere */
	b = good;
	b.bufs[0].gpa = ~0ull;
	b.bufs[0].len = 0;
	assert_int_equal(call(f, &b), 0);
	assert_int_equal(b.result, 0);

	/* nothing called the function on any of those */
	assert_int_equal(vmm_hc_get_stats(f->hc, &st), 0);
	assert_int_equal(st.bad_doorbells, 0);
}

static void test_hostile_doorbells(void **state)
{
	struct fx *f = *state;
	struct vmm_hc_block b, back;
	struct vmm_hc_stats st = { .struct_size = sizeof(st) };
	uint8_t one = 1;
	uint32_t v;

	/* bad magic: not a block, so nothing is written */
	blk_init(&b, NR_ADD);
	b.magic = 0x12345678;
	assert_int_equal(ring(f, BLK, &b), -EBADMSG);
	assert_int_equal(b.error, VMM_HC_PENDING);
	/* misaligned block */
	blk_init(&b, VMM_HC_NR_VERSION);
	assert_int_equal(vmm_mem_write(f->vm, BLK + 4, &b, sizeof(b)), 0);
	assert_int_equal(ring(f, BLK + 4, NULL), -EINVAL);
	/* block address outside RAM */
	assert_int_equal(ring(f, RAM + 0x100000, NULL), -EFAULT);
	assert_int_equal(ring(f, 0xfffffff8u, NULL), -EFAULT);
	/* a block straddling the end of RAM: header readable, rest not */
	assert_int_equal(vmm_mem_write(f->vm, RAM - 64, &b, 64), 0);
	assert_int_equal(ring(f, RAM - 64, NULL), -EFAULT);
	assert_int_equal(vmm_mem_read(f->vm, RAM - 64, &back, 64), 0);
	assert_int_equal(back.error, VMM_HC_PENDING); /* not written */
	/* the header itself straddling the end */
	assert_int_equal(ring(f, RAM - 16, NULL), -EFAULT);
	/* the last block that fits is fine */
	blk_init(&b, VMM_HC_NR_VERSION);
	assert_int_equal(ring(f, RAM - sizeof(b), &b), 0);
	assert_int_equal(b.error, 0);
	/* wrong access widths and offsets */
	assert_int_equal(vmm_bus_access(f->vm, VMM_SPACE_PIO, PORT, &one, 1,
					true), 0);
	assert_int_equal(vmm_bus_access(f->vm, VMM_SPACE_PIO, PORT, &v, 4,
					false), 0);
	assert_int_equal((int32_t)v, -EINVAL);
	assert_int_equal(vmm_bus_access(f->vm, VMM_SPACE_PIO, PORT + 1, &one,
					1, true), 0);
	assert_int_equal(vmm_hc_get_stats(f->hc, &st), 0);
	assert_int_equal(st.bad_doorbells, 8);
}

static void put_entries(struct fx *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct vmm_hc_block e;
		blk_init(&e, NR_ADD);
		e.nargs = 2;
		e.args[0] = i;
		e.args[1] = 100;
		assert_int_equal(vmm_mem_write(f->vm, ARR + i * sizeof(e), &e,
					       sizeof(e)), 0);
	}
}

static struct vmm_hc_block entry(struct fx *f, unsigned i)
{
	struct vmm_hc_block e;
	assert_int_equal(vmm_mem_read(f->vm, ARR + i * sizeof(e), &e,
				      sizeof(e)), 0);
	return e;
}

static void batch_block(struct vmm_hc_block *b, unsigned n)
{
	blk_init(b, VMM_HC_NR_BATCH);
	b->nargs = 1;
	b->args[0] = n;
	blk_buf(b, ARR, n * sizeof(*b), VMM_HC_DIR_INOUT);
}

static void test_batch(void **state)
{
	struct fx *f = *state;
	struct vmm_hc_block b, e;
	struct vmm_hc_stats st = { .struct_size = sizeof(st) };

	put_entries(f, 4);
	batch_block(&b, 4);
	assert_int_equal(call(f, &b), 0);
	assert_int_equal(b.result, 4);
	for (unsigned i = 0; i < 4; i++) {
		e = entry(f, i);
		assert_int_equal(e.error, 0);
		assert_int_equal(e.result, 100 + i);
	}
	assert_int_equal(vmm_hc_get_stats(f->hc, &st), 0);
	assert_int_equal(st.doorbells, 1);
	assert_int_equal(st.batches, 1);
	assert_int_equal(st.batch_entries, 4);
	assert_int_equal(st.exits_saved, 3);
	assert_int_equal(f->add_calls, 4);

	/* per-entry errors: an unknown call and a nested batch */
	put_entries(f, 4);
	e = entry(f, 1);
	e.nr = 0x9999;
	assert_int_equal(vmm_mem_write(f->vm, ARR + sizeof(e), &e, sizeof(e)), 0);
	batch_block(&e, 1);
	assert_int_equal(vmm_mem_write(f->vm, ARR + 2 * sizeof(e), &e,
				       sizeof(e)), 0);
	batch_block(&b, 4);
	assert_int_equal(call(f, &b), 0);
	assert_int_equal(b.result, 4);
	assert_int_equal(entry(f, 0).error, 0);
	assert_int_equal(entry(f, 1).error, -ENOSYS);
	assert_int_equal(entry(f, 2).error, -EINVAL);
	assert_int_equal(entry(f, 3).result, 103);
	/* stop on error: the rest is cancelled */
	put_entries(f, 4);
	e = entry(f, 1);
	e.nr = NR_FAIL;
	assert_int_equal(vmm_mem_write(f->vm, ARR + sizeof(e), &e, sizeof(e)), 0);
	batch_block(&b, 4);
	b.flags = VMM_HC_F_STOP_ON_ERROR;
	assert_int_equal(call(f, &b), 0);
	assert_int_equal(b.result, 2);
	assert_int_equal(entry(f, 1).error, -EACCES);
	assert_int_equal(entry(f, 2).error, -ECANCELED);
	assert_int_equal(entry(f, 3).error, -ECANCELED);
	/* a function that refuses batching */
	put_entries(f, 1);
	e = entry(f, 0);
	e.nr = NR_NOBATCH;
	e.nargs = 0;
	assert_int_equal(vmm_mem_write(f->vm, ARR, &e, sizeof(e)), 0);
	batch_block(&b, 1);
	assert_int_equal(call(f, &b), 0);
	assert_int_equal(entry(f, 0).error, -EPERM);
	/* an empty batch */
	batch_block(&b, 0);
	assert_int_equal(call(f, &b), 0);
	assert_int_equal(b.result, 0);
}

static void test_hostile_batch(void **state)
{
	struct fx *f = *state;
	struct vmm_hc_block b;
	int calls = f->add_calls;

	put_entries(f, 5);
	/* longer than max_batch (4 in this fixture) */
	batch_block(&b, 5);
	assert_int_equal(call(f, &b), -E2BIG);
	/* length does not match the count */
	batch_block(&b, 2);
	b.bufs[0].len = 3 * sizeof(b);
	assert_int_equal(call(f, &b), -EINVAL);
	/* a count whose length would overflow 32 bits */
	batch_block(&b, 2);
	b.args[0] = 0x100000000ull + 2;
	assert_int_equal(call(f, &b), -E2BIG);
	/* entries outside RAM, wrapping, misaligned */
	batch_block(&b, 2);
	b.bufs[0].gpa = RAM - sizeof(b);
	assert_int_equal(call(f, &b), -EFAULT);
	batch_block(&b, 2);
	b.bufs[0].gpa = ~0ull - 8;
	assert_int_equal(call(f, &b), -EOVERFLOW);
	batch_block(&b, 2);
	b.bufs[0].gpa = ARR + 4;
	assert_int_equal(call(f, &b), -EINVAL);
	/* wrong shape: direction, counts */
	batch_block(&b, 2);
	b.bufs[0].dir = VMM_HC_DIR_IN;
	assert_int_equal(call(f, &b), -EINVAL);
	batch_block(&b, 2);
	b.nargs = 0;
	assert_int_equal(call(f, &b), -EINVAL);
	/* the entries overlap the batch block itself */
	batch_block(&b, 2);
	b.bufs[0].gpa = BLK - sizeof(b);
	assert_int_equal(call(f, &b), -EINVAL);
	assert_int_equal(f->add_calls, calls);
}

static void test_lookup(void **state)
{
	struct fx *f = *state;
	struct vmm_hc_block b;

	assert_int_equal(vmm_mem_write(f->vm, BUF_A, "rev", 3), 0);
	blk_init(&b, VMM_HC_NR_LOOKUP);
	blk_buf(&b, BUF_A, 3, VMM_HC_DIR_IN);
	assert_int_equal(call(f, &b), 0);
	assert_int_equal(b.result, NR_REV);
	b.bufs[0].len = 2; /* "re" */
	assert_int_equal(call(f, &b), -ENOENT);
	b.bufs[0].len = 64;
	assert_int_equal(call(f, &b), -E2BIG);
	assert_int_equal(vmm_hc_lookup(f->hc, "big"), NR_BIG);
	assert_int_equal(vmm_hc_lookup(f->hc, "nope"), -ENOENT);
}

static void test_register_rules(void **state)
{
	struct fx *f = *state;
	struct vmm_hc_sig s = { .nbufs = 1, .bufs = { { VMM_HC_DIR_IN, 8 } } };
	struct vmm_hc_block b;
	char name[80];

	assert_int_equal(vmm_hc_register(f->hc, 0x10, "x", &s, f_add, f),
			 -EINVAL);
	assert_int_equal(vmm_hc_register(f->hc, NR_ADD, "x", &s, f_add, f),
			 -EEXIST);
	assert_int_equal(vmm_hc_register(f->hc, 0x200, "add", &s, f_add, f),
			 -EEXIST);
	assert_int_equal(vmm_hc_register(f->hc, 0x200, "", &s, f_add, f),
			 -EINVAL);
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = 0;
	assert_int_equal(vmm_hc_register(f->hc, 0x200, name, &s, f_add, f),
			 -EINVAL);
	assert_int_equal(vmm_hc_register(f->hc, 0x200, "x", NULL, f_add, f),
			 -EINVAL);
	assert_int_equal(vmm_hc_register(f->hc, 0x200, "x", &s, NULL, f),
			 -EINVAL);
	s.bufs[0].dir = 0;
	assert_int_equal(vmm_hc_register(f->hc, 0x200, "x", &s, f_add, f),
			 -EINVAL);
	s.bufs[0].dir = VMM_HC_DIR_IN;
	s.bufs[0].max_len = 0;
	assert_int_equal(vmm_hc_register(f->hc, 0x200, "x", &s, f_add, f),
			 -EINVAL);
	s.bufs[0].max_len = VMM_HC_MAX_BUF_LIMIT + 1;
	assert_int_equal(vmm_hc_register(f->hc, 0x200, "x", &s, f_add, f),
			 -EINVAL);
	s.bufs[0].max_len = 8;
	s.nbufs = 5;
	assert_int_equal(vmm_hc_register(f->hc, 0x200, "x", &s, f_add, f),
			 -EINVAL);
	s.nbufs = 1;
	s.flags = 0x100;
	assert_int_equal(vmm_hc_register(f->hc, 0x200, "x", &s, f_add, f),
			 -EINVAL);
	/* many functions: the table grows and stays sorted */
	for (uint32_t nr = 0x300; nr > 0x200; nr -= 7) {
		snprintf(name, sizeof(name), "f%x", nr);
		assert_int_equal(vmm_hc_register(f->hc, nr, name, &sig_add,
						 f_add, f), 0);
	}
	blk_init(&b, 0x300 - 7 * 5);
	b.nargs = 2;
	b.args[0] = 1;
	assert_int_equal(call(f, &b), 0);
	assert_int_equal(vmm_hc_unregister(f->hc, 0x300 - 7 * 5), 0);
	assert_int_equal(vmm_hc_unregister(f->hc, 0x300 - 7 * 5), -ENOENT);
	assert_int_equal(call(f, &b), -ENOSYS);
	/* a second doorbell on the same ports is refused */
	vmm_hc *hc2;
	assert_int_equal(vmm_hc_attach(f->vm, NULL, &hc2), -EEXIST);
	struct vmm_hc_config c;
	vmm_hc_config_init(&c);
	c.max_batch = VMM_HC_MAX_BATCH_LIMIT + 1;
	assert_int_equal(vmm_hc_attach(f->vm, &c, &hc2), -EINVAL);
	c.max_batch = 0;
	c.port = 0xfffe;
	assert_int_equal(vmm_hc_attach(f->vm, &c, &hc2), -EINVAL);
	/* a doorbell on another port works side by side, then goes away */
	c.port = 0x5a0;
	assert_int_equal(vmm_hc_attach(f->vm, &c, &hc2), 0);
	assert_int_equal(vmm_hc_detach(hc2), 0);
}

static void test_check_bufs_direct(void **state)
{
	struct fx *f = *state;
	struct vmm_hc_block b;

	/* two IN buffers may overlap each other */
	static const struct vmm_hc_sig s2in = {
		.nbufs = 2, .bufs = { { VMM_HC_DIR_IN, 64 }, { VMM_HC_DIR_IN, 64 } },
	};
	blk_init(&b, 0x400);
	blk_buf(&b, BUF_A, 64, VMM_HC_DIR_IN);
	blk_buf(&b, BUF_A + 8, 64, VMM_HC_DIR_IN);
	assert_int_equal(vmm__hc_check_bufs(f->vm, &s2in, &b, BLK), 0);
	/* and even the block itself */
	b.bufs[1].gpa = BLK;
	assert_int_equal(vmm__hc_check_bufs(f->vm, &s2in, &b, BLK), 0);
}

/* Allocation failure at every point of set-up and of a call. */
static void test_fault_injection(void **state)
{
	bool completed = false;

	for (long n = 0; n < 200 && !completed; n++) {
		struct fx f;
		int r = fx_build(&f, n, 4);

		if (r == 0) {
			struct vmm_hc_block b;
			blk_init(&b, NR_BIG);
			blk_buf(&b, 0x20000, 65536, VMM_HC_DIR_INOUT);
			assert_int_equal(ring(&f, BLK, &b), 0);
			if (f.fa.failed) {
				assert_int_equal(b.error, -ENOMEM);
			} else {
				assert_int_equal(b.error, 0);
				completed = true;
			}
		} else {
			assert_int_equal(r, -ENOMEM);
			assert_true(f.fa.failed);
		}
		vmm_vm_destroy(f.vm);
		assert_int_equal(f.fa.live, 0);
	}
	assert_true(completed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_and_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_doorbells, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_register_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_bufs_direct, setup, teardown),
		cmocka_unit_test(test_fault_injection),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
