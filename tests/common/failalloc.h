/* SPDX-License-Identifier: MIT */
/*
 * failalloc.h - an allocator for struct vmm_config that fails on demand, and
 * counts what is still allocated so tests can check for leaks.
 *
 *   struct failalloc fa; failalloc_init(&fa, -1);      // never fail
 *   cfg.allocator = &fa.a;
 *   ... after vmm_vm_destroy(): assert_int_equal(fa.live, 0);
 *
 * failalloc_init(&fa, n) makes the n-th allocation (0-based) fail; run a
 * scenario for n = 0, 1, 2, ... until it succeeds without failing to test
 * every failure path.
 */
#ifndef TESTS_FAILALLOC_H
#define TESTS_FAILALLOC_H

#include <libvmm/libvmm.h>
#include <stdlib.h>

struct failalloc {
	struct vmm_allocator a;
	long fail_at;   /* allocation index that fails, -1 = never */
	long count;     /* allocations attempted */
	long live;      /* allocations not yet freed */
	bool failed;    /* an allocation was refused */
};

static void *failalloc_alloc(void *opaque, size_t size)
{
	struct failalloc *fa = opaque;
	if (fa->count++ == fa->fail_at) {
		fa->failed = true;
		return NULL;
	}
	void *p = calloc(1, size);
	if (p)
		fa->live++;
	return p;
}

static void failalloc_free(void *opaque, void *p)
{
	struct failalloc *fa = opaque;
	if (p) {
		fa->live--;
		free(p);
	}
}

static inline void failalloc_init(struct failalloc *fa, long fail_at)
{
	fa->a.alloc = failalloc_alloc;
	fa->a.free = failalloc_free;
	fa->a.opaque = fa;
	fa->fail_at = fail_at;
	fa->count = 0;
	fa->live = 0;
	fa->failed = false;
}

#endif
