/* SPDX-License-Identifier: MIT */
/*
 * test_bus.c - the device bus: registration rules, dispatch with offsets,
 * sizes and data, counters, handler-less directions, unregistering while
 * other threads dispatch, and many ranges.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/vm_impl.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A device that records its last access and reads back a pattern. */
struct rec {
	int id;
	unsigned calls, reads, writes;
	uint64_t off;
	unsigned size;
	uint64_t wdata;
	int fail_off;      /* offset whose access fails with -EIO, or -1 */
};

static uint64_t rpattern(int id, uint64_t off)
{
	return 0x0101010101010101ull * (uint64_t)(id & 0x7f) + off * 0x1000;
}

static int rec_read(void *opaque, uint64_t off, void *data, unsigned size,
		    struct vmm_io_ctx *ctx)
{
	struct rec *r = opaque;
	uint64_t v = rpattern(r->id, off);

	r->calls++;
	r->reads++;
	r->off = off;
	r->size = size;
	assert_null(ctx->vcpu);
	if ((int)off == r->fail_off)
		return -EIO;
	memcpy(data, &v, size);
	return 0;
}

static int rec_write(void *opaque, uint64_t off, const void *data,
		     unsigned size, struct vmm_io_ctx *ctx)
{
	struct rec *r = opaque;

	r->calls++;
	r->writes++;
	r->off = off;
	r->size = size;
	r->wdata = 0;
	memcpy(&r->wdata, data, size);
	if ((int)off == r->fail_off)
		return -EIO;
	return 0;
}

static const struct vmm_io_ops rw_ops = { rec_read, rec_write };
static const struct vmm_io_ops wo_ops = { NULL, rec_write };
static const struct vmm_io_ops ro_ops = { rec_read, NULL };

static vmm_vm *new_vm(void)
{
	vmm_vm *vm;

	assert_int_equal(vmm__vm_create_null(NULL, &vm), 0);
	return vm;
}

static int reg(vmm_vm *vm, enum vmm_space s, uint64_t base, uint64_t len,
	       struct rec *r)
{
	return vmm_bus_register(vm, s, base, len, &rw_ops, r, "rec");
}

static void test_register_unregister(void **state)
{
	vmm_vm *vm = new_vm();
	struct rec r = { .id = 1, .fail_off = -1 };
	uint64_t d = 0;
	char name[16];
	struct vmm_bus_stats st = { .struct_size = sizeof(st) };

	assert_int_equal(vmm_bus_register(vm, VMM_SPACE_PIO, 0x3f8, 8, &rw_ops,
					  &r, "uart-com1-with-a-long-name"), 0);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0x3fa, &d, 1, false), 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.off, 2);
	assert_int_equal(r.size, 1);
	assert_int_equal(d, rpattern(1, 2) & 0xff);
	d = 0xbeef;
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0x3fc, &d, 2, true), 0);
	assert_int_equal(r.writes, 1);
	assert_int_equal(r.off, 4);
	assert_int_equal(r.wdata, 0xbeef);
	/* the name is copied and truncated to the caller's buffer */
	assert_int_equal(vmm_bus_get_stats(vm, VMM_SPACE_PIO, 0x3ff, &st, name,
				       sizeof(name)), 0);
	assert_string_equal(name, "uart-com1-with-");
	/* the same address in the other space is a different bus */
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_MMIO, 0x3fa, &d, 1, false),
			 -ENOENT);

	/* only the base unregisters */
	assert_int_equal(vmm_bus_unregister(vm, VMM_SPACE_PIO, 0x3f9), -ENOENT);
	assert_int_equal(vmm_bus_unregister(vm, VMM_SPACE_MMIO, 0x3f8), -ENOENT);
	assert_int_equal(vmm_bus_unregister(vm, VMM_SPACE_PIO, 0x3f8), 0);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0x3fa, &d, 1, false),
			 -ENOENT);
	assert_int_equal(r.calls, 2);
	assert_int_equal(vmm_bus_unregister(vm, VMM_SPACE_PIO, 0x3f8), -ENOENT);
	assert_int_equal(vmm_bus_get_stats(vm, VMM_SPACE_PIO, 0x3f8, &st, NULL, 0),
			 -ENOENT);
	/* and the range can be taken again */
	assert_int_equal(reg(vm, VMM_SPACE_PIO, 0x3f8, 8, &r), 0);
	assert_int_equal(vmm_bus_get_stats(vm, VMM_SPACE_PIO, 0x3f8, &st, NULL, 0), 0);
	assert_int_equal(st.reads + st.writes, 0); /* fresh counters */
	assert_int_equal(vmm_bus_unregister(NULL, VMM_SPACE_PIO, 0x3f8), -EINVAL);
	assert_int_equal(vmm_bus_unregister(vm, (enum vmm_space)2, 0x3f8), -EINVAL);
	vmm_vm_destroy(vm); /* frees the range still registered */
}

static void test_overlap(void **state)
{
	vmm_vm *vm = new_vm();
	struct rec r = { .fail_off = -1 };
	struct vmm_bus_stats st = { .struct_size = sizeof(st) };
	char name[16];

	assert_int_equal(vmm_bus_register(vm, VMM_SPACE_PIO, 0x100, 0x10,
					  &rw_ops, &r, "first"), 0);
	assert_int_equal(reg(vm, VMM_SPACE_PIO, 0x100, 0x10, &r), -EEXIST);
	assert_int_equal(reg(vm, VMM_SPACE_PIO, 0x100, 1, &r), -EEXIST);
	assert_int_equal(reg(vm, VMM_SPACE_PIO, 0x104, 4, &r), -EEXIST);
	assert_int_equal(reg(vm, VMM_SPACE_PIO, 0x10f, 1, &r), -EEXIST);
	assert_int_equal(reg(vm, VMM_SPACE_PIO, 0xf8, 0x9, &r), -EEXIST);
	assert_int_equal(reg(vm, VMM_SPACE_PIO, 0x10f, 2, &r), -EEXIST);
	assert_int_equal(reg(vm, VMM_SPACE_PIO, 0x0, 0x1000, &r), -EEXIST);
	/* adjacent on both sides */
	assert_int_equal(reg(vm, VMM_SPACE_PIO, 0xf8, 8, &r), 0);
	assert_int_equal(reg(vm, VMM_SPACE_PIO, 0x110, 8, &r), 0);
	/* now a one-port gap at 0x118 */
	assert_int_equal(reg(vm, VMM_SPACE_PIO, 0x119, 1, &r), 0);
	assert_int_equal(reg(vm, VMM_SPACE_PIO, 0x117, 2, &r), -EEXIST);
	assert_int_equal(reg(vm, VMM_SPACE_PIO, 0x118, 2, &r), -EEXIST);
	assert_int_equal(reg(vm, VMM_SPACE_PIO, 0x118, 1, &r), 0);
	/* the rejected ones left the first range as it was */
	assert_int_equal(vmm_bus_get_stats(vm, VMM_SPACE_PIO, 0x100, &st, name,
				       sizeof(name)), 0);
	assert_string_equal(name, "first");
	assert_int_equal(vm->bus[VMM_SPACE_PIO].n, 5);
	/* MMIO is separate */
	assert_int_equal(reg(vm, VMM_SPACE_MMIO, 0x100, 0x10, &r), 0);
	vmm_vm_destroy(vm);
}

static void test_invalid(void **state)
{
	vmm_vm *vm = new_vm();
	struct rec r = { .fail_off = -1 };
	const struct vmm_io_ops none = { NULL, NULL };
	uint64_t d = 0;

	/* port I/O ends at 0xffff */
	assert_int_equal(reg(vm, VMM_SPACE_PIO, 0xfff0, 0x11, &r), -EINVAL);
	assert_int_equal(reg(vm, VMM_SPACE_PIO, 0x10000, 1, &r), -EINVAL);
	assert_int_equal(reg(vm, VMM_SPACE_PIO, 0xffffffffull, 1, &r), -EINVAL);
	assert_int_equal(reg(vm, VMM_SPACE_PIO, 0xffff, 1, &r), 0);
	assert_int_equal(reg(vm, VMM_SPACE_PIO, 0xfff0, 0xf, &r), 0);
	/* empty */
	assert_int_equal(reg(vm, VMM_SPACE_PIO, 0x80, 0, &r), -EINVAL);
	assert_int_equal(reg(vm, VMM_SPACE_MMIO, 0x80, 0, &r), -EINVAL);
	/* MMIO that wraps; one that ends exactly at the top is fine */
	assert_int_equal(reg(vm, VMM_SPACE_MMIO, 0xfffffffffffff000ull, 0x1001,
			     &r), -EINVAL);
	assert_int_equal(reg(vm, VMM_SPACE_MMIO, 2, UINT64_MAX, &r), -EINVAL);
	assert_int_equal(reg(vm, VMM_SPACE_MMIO, 0xfffffffffffff000ull, 0x1000,
			     &r), 0);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_MMIO, UINT64_MAX, &d, 1,
					false), 0);
	assert_int_equal(r.off, 0xfff);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_MMIO, UINT64_MAX, &d, 2,
					false), -EFAULT);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_MMIO, UINT64_MAX - 7, &d,
					8, true), 0);
	assert_int_equal(r.off, 0xff8);
	/* no handlers, bad space, NULL vm */
	assert_int_equal(vmm_bus_register(vm, VMM_SPACE_PIO, 0x70, 2, &none, &r,
					  "x"), -EINVAL);
	assert_int_equal(vmm_bus_register(vm, VMM_SPACE_PIO, 0x70, 2, NULL, &r,
					  "x"), -EINVAL);
	assert_int_equal(vmm_bus_register(vm, (enum vmm_space)7, 0x70, 2,
					  &rw_ops, &r, "x"), -EINVAL);
	assert_int_equal(vmm_bus_register(NULL, VMM_SPACE_PIO, 0x70, 2,
					  &rw_ops, &r, "x"), -EINVAL);
	/* a NULL name is allowed */
	assert_int_equal(vmm_bus_register(vm, VMM_SPACE_PIO, 0x70, 2, &rw_ops,
					  &r, NULL), 0);
	/* bad access sizes and buffers */
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0x70, &d, 3, false),
			 -EINVAL);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0x70, &d, 0, false),
			 -EINVAL);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0x70, NULL, 1, false),
			 -EINVAL);
	assert_int_equal(vmm_bus_access(vm, (enum vmm_space)2, 0x70, &d, 1, false),
			 -EINVAL);
	assert_int_equal(vm->bus[VMM_SPACE_PIO].n, 3);
	vmm_vm_destroy(vm);
}

static void test_dispatch(void **state)
{
	vmm_vm *vm = new_vm();
	struct rec a = { .id = 3, .fail_off = -1 }, b = { .id = 4, .fail_off = -1 };
	uint64_t d;

	assert_int_equal(reg(vm, VMM_SPACE_MMIO, 0xfe000000, 0x1000, &a), 0);
	assert_int_equal(reg(vm, VMM_SPACE_MMIO, 0xfe002000, 0x100, &b), 0);
	for (unsigned size = 1; size <= 8; size *= 2) {
		uint64_t mask = size == 8 ? ~0ull : (1ull << (8 * size)) - 1;

		d = 0xaaaaaaaaaaaaaaaaull;
		assert_int_equal(vmm_bus_access(vm, VMM_SPACE_MMIO,
						0xfe000010 + size, &d, size,
						false), 0);
		assert_int_equal(a.off, 0x10 + size);
		assert_int_equal(a.size, size);
		/* exactly @size bytes written into the buffer */
		assert_int_equal(d & mask, rpattern(3, 0x10 + size) & mask);
		assert_int_equal(d & ~mask, 0xaaaaaaaaaaaaaaaaull & ~mask);

		d = 0x1122334455667788ull;
		assert_int_equal(vmm_bus_access(vm, VMM_SPACE_MMIO,
						0xfe0020f8, &d, size, true), 0);
		assert_int_equal(b.off, 0xf8);
		assert_int_equal(b.size, size);
		assert_int_equal(b.wdata, 0x1122334455667788ull & mask);
	}
	assert_int_equal(a.calls, 4);
	assert_int_equal(b.calls, 4);

	/* nothing registered: below, between, after */
	d = 0;
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_MMIO, 0xfdffffff, &d, 1,
					false), -ENOENT);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_MMIO, 0xfe001000, &d, 4,
					false), -ENOENT);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_MMIO, 0xfe002100, &d, 1,
					true), -ENOENT);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0x80, &d, 1, true),
			 -ENOENT);

	/* straddling a range's end: refused, handler not called */
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_MMIO, 0xfe000ffe, &d, 4,
					false), -EFAULT);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_MMIO, 0xfe0020fc, &d, 8,
					true), -EFAULT);
	assert_int_equal(a.calls, 4);
	assert_int_equal(b.calls, 4);
	/* the last bytes exactly are fine */
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_MMIO, 0xfe000ffc, &d, 4,
					false), 0);
	assert_int_equal(a.off, 0xffc);
	vmm_vm_destroy(vm);
}

static void test_stats(void **state)
{
	vmm_vm *vm = new_vm();
	struct rec r = { .id = 5, .fail_off = 0xf };
	struct vmm_bus_stats st = { .struct_size = sizeof(st) };
	uint64_t d = 0;
	char name[40];

	assert_int_equal(vmm_bus_register(vm, VMM_SPACE_PIO, 0x500, 0x10,
					  &rw_ops, &r, "counted"), 0);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0x500, &d, 1, false), 0);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0x502, &d, 2, false), 0);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0x504, &d, 4, false), 0);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0x508, &d, 4, true), 0);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0x508, &d, 8, true), 0);
	memset(&st, 0xff, sizeof(st));
	st.struct_size = sizeof(st);
	assert_int_equal(vmm_bus_get_stats(vm, VMM_SPACE_PIO, 0x50f, &st, name,
				       sizeof(name)), 0);
	assert_string_equal(name, "counted");
	assert_int_equal(st.reads, 3);
	assert_int_equal(st.bytes_read, 7);
	assert_int_equal(st.writes, 2);
	assert_int_equal(st.bytes_written, 12);
	assert_int_equal(st.errors, 0);

	/* failing handler: error returned and counted */
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0x50f, &d, 1, false),
			 -EIO);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0x50f, &d, 1, true),
			 -EIO);
	/* straddling counts as an error too, not as an access */
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0x50e, &d, 4, true),
			 -EFAULT);
	assert_int_equal(vmm_bus_get_stats(vm, VMM_SPACE_PIO, 0x500, &st, NULL, 0), 0);
	assert_int_equal(st.errors, 3);
	assert_int_equal(st.reads, 4);
	assert_int_equal(st.writes, 3);
	assert_int_equal(st.bytes_read, 8);
	assert_int_equal(st.bytes_written, 13);
	assert_int_equal(vmm_bus_get_stats(vm, VMM_SPACE_PIO, 0x510, &st, NULL, 0),
			 -ENOENT);
	assert_int_equal(vmm_bus_get_stats(vm, VMM_SPACE_PIO, 0x500, NULL, NULL, 0),
			 -EINVAL);
	vmm_vm_destroy(vm);
}

static void test_one_direction(void **state)
{
	vmm_vm *vm = new_vm();
	struct rec w = { .id = 6, .fail_off = -1 }, r = { .id = 7, .fail_off = -1 };
	struct vmm_bus_stats st = { .struct_size = sizeof(st) };
	uint64_t d;

	assert_int_equal(vmm_bus_register(vm, VMM_SPACE_PIO, 0x600, 4, &wo_ops,
					  &w, "wo"), 0);
	assert_int_equal(vmm_bus_register(vm, VMM_SPACE_PIO, 0x700, 4, &ro_ops,
					  &r, "ro"), 0);
	/* write-only: reads give all ones of the access size */
	d = 0;
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0x600, &d, 4, false), 0);
	assert_int_equal(d, 0xffffffffull);
	d = 0x1200;
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0x603, &d, 1, false), 0);
	assert_int_equal(d, 0x12ff);
	assert_int_equal(w.calls, 0);
	d = 0x42;
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0x601, &d, 1, true), 0);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.wdata, 0x42);
	/* read-only: writes are dropped */
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0x700, &d, 2, true), 0);
	assert_int_equal(r.calls, 0);
	/* both counted */
	assert_int_equal(vmm_bus_get_stats(vm, VMM_SPACE_PIO, 0x600, &st, NULL, 0), 0);
	assert_int_equal(st.reads, 2);
	assert_int_equal(st.bytes_read, 5);
	assert_int_equal(vmm_bus_get_stats(vm, VMM_SPACE_PIO, 0x700, &st, NULL, 0), 0);
	assert_int_equal(st.writes, 1);
	vmm_vm_destroy(vm);
}

/* ---- unregister under load ------------------------------------------------ */

#define MAGIC 0x600df00du

struct live {
	atomic_uint magic;
	atomic_int running;     /* handlers inside right now */
	atomic_uint calls;
};

struct hammer {
	vmm_vm *vm;
	atomic_bool stop;
	atomic_uint bad;        /* handler saw a dead object */
	atomic_ulong hits, misses;
};

static int live_handler(void *opaque, uint64_t off, void *data, unsigned size,
			struct vmm_io_ctx *ctx)
{
	struct live *l = opaque;

	atomic_fetch_add(&l->running, 1);
	if (atomic_load(&l->magic) != MAGIC)
		return -EBADF;
	/* widen the window in which unregister must wait for us */
	for (volatile int i = 0; i < 200; i++)
		;
	atomic_fetch_add(&l->calls, 1);
	memset(data, 0x5a, size);
	if (atomic_load(&l->magic) != MAGIC)
		return -EBADF;
	atomic_fetch_sub(&l->running, 1);
	return 0;
}

static const struct vmm_io_ops live_ops = { live_handler, NULL };

static void *hammer_thread(void *arg)
{
	struct hammer *h = arg;

	while (!atomic_load(&h->stop)) {
		uint32_t d = 0;
		int ret = vmm_bus_access(h->vm, VMM_SPACE_MMIO, 0xd0000004, &d,
					 4, false);
		if (ret == 0 && d == 0x5a5a5a5a)
			atomic_fetch_add(&h->hits, 1);
		else if (ret == -ENOENT)
			atomic_fetch_add(&h->misses, 1);
		else
			atomic_fetch_add(&h->bad, 1);
	}
	return NULL;
}

/* Unregister waits for a running handler by sleeping, not spinning: while
 * a handler is held for 150 ms, the unregistering thread uses almost no
 * CPU, and it returns only once the handler is done. */
struct slow {
	atomic_bool entered, release, done;
};

static int slow_handler(void *opaque, uint64_t off, void *data, unsigned size,
			struct vmm_io_ctx *ctx)
{
	struct slow *s = opaque;

	atomic_store(&s->entered, true);
	while (!atomic_load(&s->release))
		usleep(1000);
	atomic_store(&s->done, true);
	return 0;
}

static const struct vmm_io_ops slow_ops = { slow_handler, NULL };

struct unreg_arg {
	vmm_vm *vm;
	struct slow *s;
	double cpu_ms;
	bool saw_done;
	int ret;
};

static void *access_thread(void *p)
{
	uint32_t d;

	assert_int_equal(vmm_bus_access(p, VMM_SPACE_MMIO, 0xe0000000, &d, 4,
					false), 0);
	return NULL;
}

static void *unreg_thread(void *p)
{
	struct unreg_arg *a = p;
	struct timespec c0, c1;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	a->ret = vmm_bus_unregister(a->vm, VMM_SPACE_MMIO, 0xe0000000);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	a->saw_done = atomic_load(&a->s->done);
	a->cpu_ms = (c1.tv_sec - c0.tv_sec) * 1e3 +
		    (c1.tv_nsec - c0.tv_nsec) / 1e6;
	return NULL;
}

static void test_unregister_sleeps(void **state)
{
	vmm_vm *vm = new_vm();
	struct slow s = { 0 };
	struct unreg_arg a = { .vm = vm, .s = &s };
	pthread_t ta, tu;

	assert_int_equal(vmm_bus_register(vm, VMM_SPACE_MMIO, 0xe0000000, 0x1000,
					  &slow_ops, &s, "slow"), 0);
	assert_int_equal(pthread_create(&ta, NULL, access_thread, vm), 0);
	while (!atomic_load(&s.entered))
		usleep(1000);
	assert_int_equal(pthread_create(&tu, NULL, unreg_thread, &a), 0);
	usleep(150 * 1000);
	atomic_store(&s.release, true);
	pthread_join(ta, NULL);
	pthread_join(tu, NULL);
	assert_int_equal(a.ret, 0);
	assert_true(a.saw_done);
	printf("unregister waited 150 ms using %.2f ms of CPU\n", a.cpu_ms);
	assert_true(a.cpu_ms < 5); /* a sched_yield() spin used 18.75 ms here */
	vmm_vm_destroy(vm);
	(void)state;
}

static void test_unregister_concurrent(void **state)
{
	enum { THREADS = 4, ROUNDS = 150 };
	vmm_vm *vm = new_vm();
	struct hammer h = { .vm = vm };
	pthread_t t[THREADS];
	struct rec other = { .fail_off = -1 };

	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer_thread, &h), 0);
	for (int round = 0; round < ROUNDS; round++) {
		struct live *l = calloc(1, sizeof(*l));
		struct timespec t0, now;

		atomic_store(&l->magic, MAGIC);
		assert_int_equal(vmm_bus_register(vm, VMM_SPACE_MMIO, 0xd0000000,
						  0x1000, &live_ops, l, "live"), 0);
		/* churn the range array (and its reallocation) meanwhile */
		for (int k = 0; k < 20; k++)
			assert_int_equal(reg(vm, VMM_SPACE_MMIO,
					     0xc0000000 + k * 0x1000ull, 0x1000,
					     &other), 0);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		while (atomic_load(&l->calls) < 3) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			assert_true(now.tv_sec - t0.tv_sec < 10);
			sched_yield();
		}
		assert_int_equal(vmm_bus_unregister(vm, VMM_SPACE_MMIO,
						    0xd0000000), 0);
		/* when unregister returns no handler runs or will run */
		assert_int_equal(atomic_load(&l->running), 0);
		unsigned calls = atomic_load(&l->calls);
		atomic_store(&l->magic, 0);
		for (int k = 0; k < 20; k++)
			assert_int_equal(vmm_bus_unregister(vm, VMM_SPACE_MMIO,
							    0xc0000000 + k * 0x1000ull),
					 0);
		assert_int_equal(atomic_load(&l->calls), calls);
		assert_int_equal(atomic_load(&l->running), 0);
		free(l); /* ASan reports any later use */
	}
	atomic_store(&h.stop, true);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&h.bad), 0);
	assert_true(atomic_load(&h.hits) >= 3 * ROUNDS);
	assert_true(atomic_load(&h.misses) > 0);
	assert_int_equal(vm->bus[VMM_SPACE_MMIO].n, 0);
	vmm_vm_destroy(vm);
}

/* ---- many ranges --------------------------------------------------------- */

static void test_many_ranges(void **state)
{
	enum { N = 1000 };
	vmm_vm *vm = new_vm();
	static struct rec recs[N];
	int order[N];
	uint64_t d;
	char name[40], want[40];
	struct vmm_bus_stats st = { .struct_size = sizeof(st) };

	srand(1234);
	for (int i = 0; i < N; i++) {
		order[i] = i;
		recs[i] = (struct rec){ .id = i, .fail_off = -1 };
	}
	for (int i = N - 1; i > 0; i--) {
		int j = rand() % (i + 1), x = order[i];
		order[i] = order[j];
		order[j] = x;
	}
	/* ranges of 0x800 bytes, every 0x1000, registered in random order */
	for (int i = 0; i < N; i++) {
		int k = order[i];
		snprintf(name, sizeof(name), "r%d", k);
		assert_int_equal(vmm_bus_register(vm, VMM_SPACE_MMIO,
						  0x80000000ull + k * 0x1000ull,
						  0x800, &rw_ops, &recs[k],
						  name), 0);
	}
	assert_int_equal(vm->bus[VMM_SPACE_MMIO].n, N);
	/* the table is sorted */
	for (int i = 1; i < N; i++)
		assert_true(vm->bus[VMM_SPACE_MMIO].ranges[i - 1]->base <
			    vm->bus[VMM_SPACE_MMIO].ranges[i]->base);
	for (int k = 0; k < N; k++) {
		uint64_t base = 0x80000000ull + k * 0x1000ull;

		assert_int_equal(vmm_bus_access(vm, VMM_SPACE_MMIO, base, &d, 1,
						false), 0);
		assert_int_equal(recs[k].calls, 1);
		assert_int_equal(recs[k].off, 0);
		assert_int_equal(vmm_bus_access(vm, VMM_SPACE_MMIO, base + 0x7ff,
						&d, 1, true), 0);
		assert_int_equal(recs[k].calls, 2);
		assert_int_equal(recs[k].off, 0x7ff);
		assert_int_equal(vmm_bus_access(vm, VMM_SPACE_MMIO, base + 0x800,
						&d, 1, false), -ENOENT);
		assert_int_equal(vmm_bus_access(vm, VMM_SPACE_MMIO, base - 1,
						&d, 1, false), -ENOENT);
		assert_int_equal(vmm_bus_get_stats(vm, VMM_SPACE_MMIO, base + 0x400,
					       &st, name, sizeof(name)), 0);
		snprintf(want, sizeof(want), "r%d", k);
		assert_string_equal(name, want);
		/* overlapping any of them fails */
		assert_int_equal(reg(vm, VMM_SPACE_MMIO, base + 0x7ff, 2,
				     &recs[0]), -EEXIST);
	}
	/* remove the even ones in random order: the odd ones still work */
	for (int i = 0; i < N; i++)
		if (order[i] % 2 == 0)
			assert_int_equal(vmm_bus_unregister(vm, VMM_SPACE_MMIO,
							    0x80000000ull +
							    order[i] * 0x1000ull), 0);
	assert_int_equal(vm->bus[VMM_SPACE_MMIO].n, N / 2);
	for (int k = 0; k < N; k++) {
		int ret = vmm_bus_access(vm, VMM_SPACE_MMIO,
					 0x80000000ull + k * 0x1000ull + 0x10,
					 &d, 2, false);
		if (k % 2) {
			assert_int_equal(ret, 0);
			assert_int_equal(recs[k].off, 0x10);
			assert_int_equal(recs[k].calls, 3);
		} else {
			assert_int_equal(ret, -ENOENT);
			assert_int_equal(recs[k].calls, 2);
		}
	}
	vmm_vm_destroy(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_unregister),
		cmocka_unit_test(test_overlap),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_dispatch),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_one_direction),
		cmocka_unit_test(test_unregister_concurrent),
		cmocka_unit_test(test_unregister_sleeps),
		cmocka_unit_test(test_many_ranges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
