/* SPDX-License-Identifier: MIT */
/*
 * test_mem.c - guest-physical memory: regions, checked accessors, iovecs,
 * ROM, memfd and file-backed regions, dirty tracking, default RAM layout,
 * accounting and allocation failures.  Runs on the null backend.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/vm_impl.h"
#include "failalloc.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/uio.h>
#include <unistd.h>

#define PG 4096ull
#define GIB (1ull << 30)

static vmm_vm *new_vm(uint64_t ram_size)
{
	struct vmm_config cfg;
	vmm_vm *vm = NULL;

	vmm_config_init(&cfg);
	cfg.ram_size = ram_size;
	assert_int_equal(vmm__vm_create_null(&cfg, &vm), 0);
	assert_non_null(vm);
	return vm;
}

static int add(vmm_vm *vm, uint64_t gpa, uint64_t size)
{
	return vmm_mem_add_ram(vm, gpa, size);
}

static int add_flags(vmm_vm *vm, uint64_t gpa, uint64_t size, uint32_t flags)
{
	struct vmm_mem_region r = {
		.gpa = gpa, .size = size, .source = VMM_MEM_ANON,
		.flags = flags, .fd = -1, .name = "t",
	};
	return vmm_mem_add(vm, &r);
}

static int nregions(vmm_vm *vm)
{
	return vmm_mem_get_regions(vm, NULL, 0);
}

static bool all_bytes(const void *p, int c, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != (uint8_t)c)
			return false;
	return true;
}

static void pattern(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + seed + (i >> 8));
}

/* ---- regions --------------------------------------------------------- */

static void test_region_overlap(void **state)
{
	vmm_vm *vm = new_vm(0);

	assert_int_equal(add(vm, 0x10000, 0x10000), 0); /* [64K, 128K) */
	/* same start: same, smaller and larger size */
	assert_int_equal(add(vm, 0x10000, 0x10000), -EEXIST);
	assert_int_equal(add(vm, 0x10000, 0x1000), -EEXIST);
	assert_int_equal(add(vm, 0x10000, 0x20000), -EEXIST);
	/* inside, touching neither end and touching the end */
	assert_int_equal(add(vm, 0x11000, 0x1000), -EEXIST);
	assert_int_equal(add(vm, 0x1f000, 0x1000), -EEXIST);
	/* straddling the start and the end; enclosing */
	assert_int_equal(add(vm, 0xf000, 0x2000), -EEXIST);
	assert_int_equal(add(vm, 0x1f000, 0x2000), -EEXIST);
	assert_int_equal(add(vm, 0x0, 0x40000), -EEXIST);
	assert_int_equal(nregions(vm), 1);

	/* adjacent on both sides is fine */
	assert_int_equal(add(vm, 0xf000, 0x1000), 0);
	assert_int_equal(add(vm, 0x20000, 0x1000), 0);
	assert_int_equal(nregions(vm), 3);

	/* a gap between two regions: exact fill works, one page more not */
	assert_int_equal(add(vm, 0x30000, 0x10000), 0);
	assert_int_equal(add(vm, 0x21000, 0x10000), -EEXIST);
	assert_int_equal(add(vm, 0x20000, 0x10000), -EEXIST);
	assert_int_equal(add(vm, 0x21000, 0xf000), 0);
	assert_int_equal(nregions(vm), 5);

	/* a range covering several regions */
	assert_int_equal(add(vm, 0x0, 0x100000), -EEXIST);
	assert_int_equal(nregions(vm), 5);

	/* the message names the failure */
	char msg[256];
	assert_int_equal(add(vm, 0x10000, 0x1000), -EEXIST);
	vmm_last_error(vm, msg, sizeof(msg));
	assert_non_null(strstr(msg, "overlaps"));
	vmm_vm_destroy(vm);
}

static void test_region_invalid(void **state)
{
	vmm_vm *vm = new_vm(0);
	struct vmm_mem_region r = { .fd = -1 };

	assert_int_equal(add(vm, 0x10001, 0x1000), -EINVAL);  /* gpa */
	assert_int_equal(add(vm, 0x10800, 0x1000), -EINVAL);
	assert_int_equal(add(vm, 0x10000, 0x1001), -EINVAL);  /* size */
	assert_int_equal(add(vm, 0x10000, 0x800), -EINVAL);
	assert_int_equal(add(vm, 0x10000, 0), -EINVAL);       /* empty */
	/* wrapping around the 64-bit space */
	assert_int_equal(add(vm, 0xfffffffffffff000ull, 0x2000), -EINVAL);
	assert_int_equal(add(vm, 0xfffffffffffff000ull, 0x1000), -EINVAL);
	/* beyond 2^52 */
	assert_int_equal(add(vm, 1ull << 52, 0x1000), -EINVAL);
	assert_int_equal(add(vm, (1ull << 52) - 0x1000, 0x2000), -EINVAL);
	/* unknown flags and source */
	assert_int_equal(add_flags(vm, 0, 0x1000, 1u << 9), -EINVAL);
	r.gpa = 0;
	r.size = 0x1000;
	r.source = (enum vmm_mem_source)42;
	assert_int_equal(vmm_mem_add(vm, &r), -EINVAL);
	assert_int_equal(vmm_mem_add(vm, NULL), -EINVAL);
	assert_int_equal(vmm_mem_add(NULL, &r), -EINVAL);
	assert_int_equal(nregions(vm), 0);

	/* the last page below 2^52 is allowed */
	assert_int_equal(add(vm, (1ull << 52) - 0x1000, 0x1000), 0);
	assert_int_equal(nregions(vm), 1);
	vmm_vm_destroy(vm);
}

static void test_region_limit(void **state)
{
	vmm_vm *vm = new_vm(0);

	for (int i = 0; i < VMM_GMEM_MAX_REGIONS; i++)
		assert_int_equal(add(vm, (uint64_t)i * 2 * PG, PG), 0);
	assert_int_equal(add(vm, 0x10000000, PG), -ENOSPC);
	assert_int_equal(nregions(vm), VMM_GMEM_MAX_REGIONS);
	/* after removing one, there is room again */
	assert_int_equal(vmm_mem_remove(vm, 2 * PG), 0);
	assert_int_equal(add(vm, 0x10000000, PG), 0);
	vmm_vm_destroy(vm);
}

static void test_regions_listing(void **state)
{
	vmm_vm *vm = new_vm(0);
	struct vmm_mem_info info[8];
	const uint64_t gpas[] = { 0x100000, 0x0, 0x50000, 0x200000, 0x8000 };
	const uint64_t sizes[] = { 0x3000, 0x1000, 0x2000, 0x1000, 0x4000 };

	for (int i = 0; i < 5; i++)
		assert_int_equal(add_flags(vm, gpas[i], sizes[i],
					   i == 2 ? VMM_MEM_READONLY : 0), 0);
	memset(info, 0xa5, sizeof(info));
	info[0].struct_size = sizeof(info[0]);
	assert_int_equal(vmm_mem_get_regions(vm, info, 8), 5);
	const uint64_t want[] = { 0x0, 0x8000, 0x50000, 0x100000, 0x200000 };
	const uint64_t wsize[] = { 0x1000, 0x4000, 0x2000, 0x3000, 0x1000 };
	for (int i = 0; i < 5; i++) {
		assert_int_equal(info[i].gpa, want[i]);
		assert_int_equal(info[i].size, wsize[i]);
		assert_int_equal(info[i].fd, -1);
		assert_int_equal(info[i].flags,
				 want[i] == 0x50000 ? VMM_MEM_READONLY : 0);
	}
	/* entries beyond the count are untouched */
	assert_true(all_bytes(&info[5], 0xa5, sizeof(info[5])));

	/* a short array gets the first ones; the total is still returned */
	memset(info, 0xa5, sizeof(info));
	info[0].struct_size = sizeof(info[0]);
	assert_int_equal(vmm_mem_get_regions(vm, info, 2), 5);
	assert_int_equal(info[0].gpa, 0);
	assert_int_equal(info[1].gpa, 0x8000);
	assert_true(all_bytes(&info[2], 0xa5, sizeof(info[2])));
	assert_int_equal(vmm_mem_get_regions(vm, NULL, 0), 5);
	assert_int_equal(vmm_mem_get_regions(vm, info, -1), -EINVAL);
	assert_int_equal(vmm_mem_get_regions(vm, NULL, 3), -EINVAL);
	vmm_vm_destroy(vm);
}

static void test_remove(void **state)
{
	vmm_vm *vm = new_vm(0);
	uint8_t b = 0x5a;
	struct vmm_mem_info info[2];

	assert_int_equal(add(vm, 0, 0x4000), 0);
	assert_int_equal(add(vm, 0x4000, 0x1000), 0);
	assert_int_equal(vmm_mem_write(vm, 0x100, &b, 1), 0);
	/* inside a region, in a hole, past the end: not a region start */
	assert_int_equal(vmm_mem_remove(vm, 0x1000), -ENOENT);
	assert_int_equal(vmm_mem_remove(vm, 0x3fff), -ENOENT);
	assert_int_equal(vmm_mem_remove(vm, 0x8000), -ENOENT);
	assert_int_equal(nregions(vm), 2);

	assert_int_equal(vmm_mem_remove(vm, 0), 0);
	info[0].struct_size = sizeof(info[0]);
	assert_int_equal(vmm_mem_get_regions(vm, info, 2), 1);
	assert_int_equal(info[0].gpa, 0x4000);
	assert_int_equal(vmm_mem_read(vm, 0x100, &b, 1), -EFAULT);
	assert_false(vmm_mem_is_ram(vm, 0, 1));
	assert_int_equal(vmm_mem_remove(vm, 0), -ENOENT);

	/* re-adding gives fresh zeroed memory */
	assert_int_equal(add(vm, 0, 0x4000), 0);
	b = 0x77;
	assert_int_equal(vmm_mem_read(vm, 0x100, &b, 1), 0);
	assert_int_equal(b, 0);
	assert_int_equal(vmm_mem_remove(NULL, 0), -EINVAL);
	vmm_vm_destroy(vm);
}

/* ---- read / write / fill ---------------------------------------------- */

static void test_rw_one_region(void **state)
{
	vmm_vm *vm = new_vm(0);
	uint8_t w[300], r[400];

	assert_int_equal(add(vm, 0x10000, 0x10000), 0);
	pattern(w, sizeof(w), 3);
	assert_int_equal(vmm_mem_write(vm, 0x10100, w, sizeof(w)), 0);
	memset(r, 0xee, sizeof(r));
	assert_int_equal(vmm_mem_read(vm, 0x100b0, r, sizeof(r)), 0);
	/* 0x50 zero bytes, the pattern, then zeros again */
	assert_true(all_bytes(r, 0, 0x50));
	assert_memory_equal(r + 0x50, w, sizeof(w));
	assert_true(all_bytes(r + 0x50 + sizeof(w), 0, sizeof(r) - 0x50 - sizeof(w)));

	/* fill, first and last byte of the region */
	assert_int_equal(vmm_mem_fill(vm, 0x10000, 0xab, 16), 0);
	assert_int_equal(vmm_mem_fill(vm, 0x1fff0, 0x1cd, 16), 0); /* low byte */
	assert_int_equal(vmm_mem_read(vm, 0x10000, r, 17), 0);
	assert_true(all_bytes(r, 0xab, 16));
	assert_int_equal(r[16], 0);
	assert_int_equal(vmm_mem_read(vm, 0x1ffef, r, 17), 0);
	assert_int_equal(r[0], 0);
	assert_true(all_bytes(r + 1, 0xcd, 16));

	/* one byte past the end of the only region */
	assert_int_equal(vmm_mem_read(vm, 0x1fff0, r, 17), -EFAULT);
	assert_int_equal(vmm_mem_read(vm, 0xffff, r, 2), -EFAULT);
	assert_true(vmm_mem_is_ram(vm, 0x10000, 0x10000));
	assert_false(vmm_mem_is_ram(vm, 0x10000, 0x10001));
	assert_false(vmm_mem_is_ram(vm, 0xffff, 2));

	assert_int_equal(vmm_mem_read(vm, 0x10000, NULL, 4), -EINVAL);
	assert_int_equal(vmm_mem_write(vm, 0x10000, NULL, 4), -EINVAL);
	assert_int_equal(vmm_mem_read(NULL, 0x10000, r, 4), -EINVAL);
	vmm_vm_destroy(vm);
}

static void test_rw_adjacent(void **state)
{
	vmm_vm *vm = new_vm(0);
	uint8_t w[0x3000], r[0x3000];

	/* three separate regions back to back */
	assert_int_equal(add(vm, 0x0, 0x1000), 0);
	assert_int_equal(add(vm, 0x1000, 0x1000), 0);
	assert_int_equal(add(vm, 0x2000, 0x2000), 0);
	pattern(w, sizeof(w), 11);
	/* spanning all three */
	assert_int_equal(vmm_mem_write(vm, 0x800, w, 0x2000), 0);
	memset(r, 0, sizeof(r));
	assert_int_equal(vmm_mem_read(vm, 0x800, r, 0x2000), 0);
	assert_memory_equal(r, w, 0x2000);
	/* each piece landed where it belongs */
	assert_int_equal(vmm_mem_read(vm, 0x1000, r, 0x1000), 0);
	assert_memory_equal(r, w + 0x800, 0x1000);
	assert_int_equal(vmm_mem_read(vm, 0x2000, r, 0x800), 0);
	assert_memory_equal(r, w + 0x1800, 0x800);
	assert_int_equal(vmm_mem_read(vm, 0x2800, r, 0x10), 0);
	assert_true(all_bytes(r, 0, 0x10));

	/* fill across the boundary */
	assert_int_equal(vmm_mem_fill(vm, 0xff0, 0x11, 0x20), 0);
	assert_int_equal(vmm_mem_read(vm, 0xfe0, r, 0x40), 0);
	assert_memory_equal(r, w + 0x7e0, 0x10);
	assert_true(all_bytes(r + 0x10, 0x11, 0x20));
	assert_memory_equal(r + 0x30, w + 0x810, 0x10);
	assert_true(vmm_mem_is_ram(vm, 0, 0x4000));
	vmm_vm_destroy(vm);
}

static void test_rw_hole(void **state)
{
	vmm_vm *vm = new_vm(0);
	uint8_t w[0x2000], r[0x2000], z[0x1000];
	struct iovec iov[4];

	assert_int_equal(add(vm, 0x0, 0x1000), 0);
	assert_int_equal(add(vm, 0x2000, 0x1000), 0);
	assert_int_equal(vmm_mem_fill(vm, 0x0, 0x33, 0x1000), 0);
	assert_int_equal(vmm_mem_fill(vm, 0x2000, 0x44, 0x1000), 0);

	/* write spanning the hole: nothing written */
	pattern(w, sizeof(w), 5);
	assert_int_equal(vmm_mem_write(vm, 0xf00, w, 0x1200), -EFAULT);
	assert_int_equal(vmm_mem_read(vm, 0x0, z, 0x1000), 0);
	assert_true(all_bytes(z, 0x33, 0x1000));
	assert_int_equal(vmm_mem_read(vm, 0x2000, z, 0x1000), 0);
	assert_true(all_bytes(z, 0x44, 0x1000));

	/* read spanning the hole: destination untouched */
	memset(r, 0xee, sizeof(r));
	assert_int_equal(vmm_mem_read(vm, 0xf00, r, 0x1200), -EFAULT);
	assert_true(all_bytes(r, 0xee, sizeof(r)));
	/* starting in the hole, ending in RAM */
	assert_int_equal(vmm_mem_read(vm, 0x1ff0, r, 0x20), -EFAULT);
	assert_true(all_bytes(r, 0xee, sizeof(r)));
	/* entirely in the hole, past the last region */
	assert_int_equal(vmm_mem_read(vm, 0x1800, r, 0x10), -EFAULT);
	assert_int_equal(vmm_mem_read(vm, 0x2ff0, r, 0x11), -EFAULT);
	assert_int_equal(vmm_mem_read(vm, 0x10000, r, 1), -EFAULT);
	assert_true(all_bytes(r, 0xee, sizeof(r)));

	/* fill and iovec spanning the hole */
	assert_int_equal(vmm_mem_fill(vm, 0x800, 0, 0x2000), -EFAULT);
	assert_int_equal(vmm_mem_read(vm, 0x0, z, 0x1000), 0);
	assert_true(all_bytes(z, 0x33, 0x1000));
	assert_int_equal(vmm_mem_read(vm, 0x2000, z, 0x1000), 0);
	assert_true(all_bytes(z, 0x44, 0x1000));
	assert_int_equal(vmm_mem_iovec(vm, 0xf00, 0x1200, false, iov, 4),
			 -EFAULT);
	assert_int_equal(vmm_mem_iovec(vm, 0xf00, 0x1200, true, iov, 4),
			 -EFAULT);
	assert_false(vmm_mem_is_ram(vm, 0xf00, 0x1200));

	char msg[200];
	assert_int_equal(vmm_mem_read(vm, 0x1800, r, 0x10), -EFAULT);
	assert_true(vmm_last_error(vm, msg, sizeof(msg)) > 0);
	assert_non_null(strstr(msg, "0x1800"));
	vmm_vm_destroy(vm);
}

static void test_rw_overflow(void **state)
{
	vmm_vm *vm = new_vm(0);
	uint8_t r[64];
	struct iovec iov[2];

	assert_int_equal(add(vm, 0, 0x10000), 0);
	assert_int_equal(add(vm, (1ull << 52) - 0x1000, 0x1000), 0);
	memset(r, 0xee, sizeof(r));
	/* gpa + len wraps past 2^64 */
	assert_int_equal(vmm_mem_read(vm, UINT64_MAX - 10, r, 64), -EFAULT);
	assert_int_equal(vmm_mem_read(vm, UINT64_MAX, r, 1), -EFAULT);
	assert_int_equal(vmm_mem_write(vm, UINT64_MAX - 10, r, 64), -EFAULT);
	assert_int_equal(vmm_mem_fill(vm, UINT64_MAX - 10, 0, 64), -EFAULT);
	assert_int_equal(vmm_mem_iovec(vm, UINT64_MAX - 10, 64, false, iov, 2),
			 -EFAULT);
	assert_false(vmm_mem_is_ram(vm, UINT64_MAX - 10, 64));
	/* wrapping onto RAM at 0: still refused */
	assert_int_equal(vmm_mem_read(vm, UINT64_MAX - 3, r, 8), -EFAULT);
	assert_int_equal(vmm_mem_read(vm, 0x100, r, SIZE_MAX), -EFAULT);
	assert_int_equal(vmm_mem_fill(vm, 0x100, 0, SIZE_MAX), -EFAULT);
	assert_true(all_bytes(r, 0xee, sizeof(r)));
	/* the top region: up to its end fine, one byte more not */
	assert_int_equal(vmm_mem_read(vm, (1ull << 52) - 0x10, r, 0x10), 0);
	assert_int_equal(vmm_mem_read(vm, (1ull << 52) - 0x10, r, 0x11),
			 -EFAULT);
	vmm_vm_destroy(vm);
}

static void test_len0(void **state)
{
	vmm_vm *vm = new_vm(0);
	struct iovec iov[1] = { { (void *)1, 77 } };
	uint8_t b = 0x12;

	assert_int_equal(add(vm, 0, 0x1000), 0);
	/* zero-length accesses succeed anywhere and touch nothing */
	assert_int_equal(vmm_mem_read(vm, 0x5000, &b, 0), 0);
	assert_int_equal(vmm_mem_read(vm, 0x5000, NULL, 0), 0);
	assert_int_equal(vmm_mem_write(vm, 0x5000, NULL, 0), 0);
	assert_int_equal(vmm_mem_fill(vm, 0x5000, 1, 0), 0);
	assert_int_equal(vmm_mem_fill(vm, UINT64_MAX, 1, 0), 0);
	assert_int_equal(b, 0x12);
	assert_int_equal(vmm_mem_iovec(vm, 0x5000, 0, true, iov, 1), 0);
	assert_ptr_equal(iov[0].iov_base, (void *)1);
	assert_int_equal(iov[0].iov_len, 77);
	assert_true(vmm_mem_is_ram(vm, 0x5000, 0));
	vmm_vm_destroy(vm);
}

/* ---- iovec --------------------------------------------------------------- */

static uint8_t *host_of(vmm_vm *vm, uint64_t gpa)
{
	struct iovec iov;

	assert_int_equal(vmm_mem_iovec(vm, gpa, 1, false, &iov, 1), 1);
	return iov.iov_base;
}

static void test_iovec(void **state)
{
	vmm_vm *vm = new_vm(0);
	struct iovec iov[4];
	uint8_t buf[0x100], *h0, *h1, *h2;
	int n, want;

	/*
	 * Regions 0x2000 and 0x1000 added in that order usually get adjacent
	 * host mappings (mmap grows down), which must merge into one iovec;
	 * region 0x0 added before them usually does not follow them.  Derive
	 * the expected count from the actual host addresses.
	 */
	assert_int_equal(add(vm, 0x0, 0x1000), 0);
	assert_int_equal(add(vm, 0x2000, 0x1000), 0);
	assert_int_equal(add(vm, 0x1000, 0x1000), 0);
	h0 = host_of(vm, 0x0);
	h1 = host_of(vm, 0x1000);
	h2 = host_of(vm, 0x2000);

	/* within one region: one iovec pointing into it */
	assert_int_equal(vmm_mem_iovec(vm, 0x1010, 0x100, false, iov, 4), 1);
	assert_ptr_equal(iov[0].iov_base, h1 + 0x10);
	assert_int_equal(iov[0].iov_len, 0x100);
	/* the pointer is the guest memory */
	memset(iov[0].iov_base, 0x6b, 0x100);
	assert_int_equal(vmm_mem_read(vm, 0x1010, buf, 0x100), 0);
	assert_true(all_bytes(buf, 0x6b, 0x100));

	/* 0x1800..0x2800 across regions 1 and 2 */
	want = h1 + 0x1000 == h2 ? 1 : 2;
	n = vmm_mem_iovec(vm, 0x1800, 0x1000, false, iov, 4);
	assert_int_equal(n, want);
	assert_ptr_equal(iov[0].iov_base, h1 + 0x800);
	if (n == 1) {
		assert_int_equal(iov[0].iov_len, 0x1000);
		/* merged: one iovec is enough */
		assert_int_equal(vmm_mem_iovec(vm, 0x1800, 0x1000, false, iov, 1), 1);
	} else {
		assert_int_equal(iov[0].iov_len, 0x800);
		assert_ptr_equal(iov[1].iov_base, h2);
		assert_int_equal(iov[1].iov_len, 0x800);
		assert_int_equal(vmm_mem_iovec(vm, 0x1800, 0x1000, false, iov, 1),
				 -E2BIG);
	}

	/* all three regions */
	want = 1 + (h0 + 0x1000 != h1) + (h1 + 0x1000 != h2);
	n = vmm_mem_iovec(vm, 0x0, 0x3000, false, iov, 4);
	assert_int_equal(n, want);
	size_t total = 0;
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	assert_int_equal(total, 0x3000);
	assert_ptr_equal(iov[0].iov_base, h0);
	if (want > 1)
		assert_int_equal(vmm_mem_iovec(vm, 0x0, 0x3000, false, iov,
					       want - 1), -E2BIG);
	assert_int_equal(vmm_mem_iovec(vm, 0x0, 0x10, false, iov, 0), -E2BIG);
	assert_int_equal(vmm_mem_iovec(vm, 0x0, 0x10, false, NULL, 1), -EINVAL);
	/* the range must be entirely RAM */
	assert_int_equal(vmm_mem_iovec(vm, 0x2800, 0x1000, false, iov, 4),
			 -EFAULT);
	vmm_vm_destroy(vm);
}

/* ---- ROM ------------------------------------------------------------- */

static void test_rom(void **state)
{
	vmm_vm *vm = new_vm(0);
	uint8_t w[0x100], r[0x100];
	struct iovec iov[2];

	assert_int_equal(add(vm, 0x0, 0x1000), 0);
	assert_int_equal(add_flags(vm, 0x1000, 0x2000, VMM_MEM_READONLY), 0);
	pattern(w, sizeof(w), 9);
	/* the host loads ROM with ordinary writes and fills */
	assert_int_equal(vmm_mem_write(vm, 0x1f80, w, sizeof(w)), 0);
	assert_int_equal(vmm_mem_read(vm, 0x1f80, r, sizeof(r)), 0);
	assert_memory_equal(r, w, sizeof(w));
	assert_int_equal(vmm_mem_fill(vm, 0x2800, 0x99, 0x10), 0);
	assert_int_equal(vmm_mem_read(vm, 0x2800, r, 0x10), 0);
	assert_true(all_bytes(r, 0x99, 0x10));

	/* zero-copy for writing is refused, for reading allowed */
	assert_int_equal(vmm_mem_iovec(vm, 0x1f80, 0x100, true, iov, 2), -EFAULT);
	assert_int_equal(vmm_mem_iovec(vm, 0xf80, 0x100, true, iov, 2), -EFAULT);
	assert_int_equal(vmm_mem_iovec(vm, 0x1f80, 0x100, false, iov, 2), 1);
	assert_memory_equal(iov[0].iov_base, w, 0x100);
	/* the RAM part alone can still be written */
	assert_int_equal(vmm_mem_iovec(vm, 0xf00, 0x100, true, iov, 2), 1);
	/* the internal fast path refuses ROM for writing too */
	assert_null(vmm_gmem_host_ptr(&vm->mem, 0x1000, 8, true));
	assert_non_null(vmm_gmem_host_ptr(&vm->mem, 0x1000, 8, false));
	vmm_vm_destroy(vm);
}

/* ---- memfd and caller fd ----------------------------------------------- */

static void test_memfd(void **state)
{
	vmm_vm *vm = new_vm(0);
	struct vmm_mem_region d = {
		.gpa = 0x100000, .size = 0x4000, .source = VMM_MEM_MEMFD,
		.fd = 12345, .name = "shared-ram",
	};
	struct vmm_mem_info info;
	uint8_t w[64], r[64];

	assert_int_equal(vmm_mem_add(vm, &d), 0);
	info.struct_size = sizeof(info);
	assert_int_equal(vmm_mem_get_regions(vm, &info, 1), 1);
	assert_true(info.fd >= 0);
	assert_int_not_equal(info.fd, 12345); /* .fd is ignored for memfd */
	assert_int_equal(info.offset, 0);
	assert_int_equal(lseek(info.fd, 0, SEEK_END), 0x4000);

	/* writes through the VM are in the memfd and vice versa */
	pattern(w, sizeof(w), 1);
	assert_int_equal(vmm_mem_write(vm, 0x101ff0, w, sizeof(w)), 0);
	assert_int_equal(pread(info.fd, r, sizeof(r), 0x1ff0), (ssize_t)sizeof(r));
	assert_memory_equal(r, w, sizeof(w));
	pattern(w, sizeof(w), 2);
	assert_int_equal(pwrite(info.fd, w, sizeof(w), 0x3000), (ssize_t)sizeof(w));
	assert_int_equal(vmm_mem_read(vm, 0x103000, r, sizeof(r)), 0);
	assert_memory_equal(r, w, sizeof(w));
	vmm_vm_destroy(vm);
}

static int temp_file(size_t size)
{
	char path[] = "/tmp/libvmm-test-mem-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	return fd;
}

static void test_fd_region(void **state)
{
	vmm_vm *vm = new_vm(0);
	int fd = temp_file(0x3000);
	struct vmm_mem_region d = {
		.gpa = 0x200000, .size = 0x2000, .source = VMM_MEM_FD,
		.flags = VMM_MEM_SHARED, .fd = fd, .offset = 0x1000,
		.name = "file",
	};
	struct vmm_mem_info info;
	uint8_t w[32], r[32];

	/* file content before the mapping is visible to the guest */
	pattern(w, sizeof(w), 4);
	assert_int_equal(pwrite(fd, w, sizeof(w), 0x1800), (ssize_t)sizeof(w));

	/* too short: offset + size beyond the end of the file */
	d.offset = 0x2000;
	assert_int_equal(vmm_mem_add(vm, &d), -EINVAL);
	d.size = 0x4000;
	d.offset = 0;
	assert_int_equal(vmm_mem_add(vm, &d), -EINVAL);
	/* misaligned and negative offsets */
	d.size = 0x1000;
	d.offset = 0x800;
	assert_int_equal(vmm_mem_add(vm, &d), -EINVAL);
	d.offset = -4096;
	assert_int_equal(vmm_mem_add(vm, &d), -EINVAL);
	/* bad fd */
	d.offset = 0x1000;
	d.fd = -1;
	assert_int_equal(vmm_mem_add(vm, &d), -EBADF);
	assert_int_equal(nregions(vm), 0);

	d.fd = fd;
	d.size = 0x2000;
	assert_int_equal(vmm_mem_add(vm, &d), 0);
	info.struct_size = sizeof(info);
	assert_int_equal(vmm_mem_get_regions(vm, &info, 1), 1);
	assert_int_equal(info.fd, fd);
	assert_int_equal(info.offset, 0x1000);
	assert_int_equal(info.flags, VMM_MEM_SHARED);

	assert_int_equal(vmm_mem_read(vm, 0x200800, r, sizeof(r)), 0);
	assert_memory_equal(r, w, sizeof(w));
	/* MAP_SHARED: guest writes reach the file at offset + (gpa - base) */
	pattern(w, sizeof(w), 8);
	assert_int_equal(vmm_mem_write(vm, 0x201ff0, w, sizeof(w) / 2), 0);
	assert_int_equal(pread(fd, r, sizeof(w) / 2, 0x2ff0),
			 (ssize_t)sizeof(w) / 2);
	assert_memory_equal(r, w, sizeof(w) / 2);

	/* private mapping of the same file: writes stay in the VM */
	d.gpa = 0x300000;
	d.flags = 0;
	d.offset = 0;
	d.size = 0x1000;
	assert_int_equal(vmm_mem_add(vm, &d), 0);
	assert_int_equal(vmm_mem_fill(vm, 0x300000, 0x5c, 16), 0);
	assert_int_equal(pread(fd, r, 16, 0), 16);
	assert_true(all_bytes(r, 0, 16));
	assert_int_equal(vmm_mem_read(vm, 0x300000, r, 16), 0);
	assert_true(all_bytes(r, 0x5c, 16));

	vmm_vm_destroy(vm);
	/* the caller's fd is not closed by the library */
	assert_true(fcntl(fd, F_GETFD) >= 0);
	close(fd);
}

/* ---- dirty tracking ------------------------------------------------------ */

static void test_dirty(void **state)
{
	vmm_vm *vm = new_vm(0);
	uint64_t bm[2], bm2[2];
	struct iovec iov[2];
	uint8_t b = 1;

	assert_int_equal(add(vm, 0x0, 16 * PG), 0);
	assert_int_equal(add(vm, 0x100000, 128 * PG), 0);

	/* off: fetch refused, writes not tracked */
	assert_int_equal(vmm_mem_write(vm, 0x0, &b, 1), 0);
	assert_true(vmm_mem_dirty_fetch(vm, 0x0, bm, 2) < 0);

	assert_int_equal(vmm_mem_dirty_log(vm, true), 0);
	memset(bm, 0xff, sizeof(bm));
	assert_int_equal(vmm_mem_dirty_fetch(vm, 0x0, bm, 1), 0);
	assert_int_equal(bm[0], 0);

	assert_int_equal(vmm_mem_write(vm, 0x1fff, &b, 1), 0);          /* p1 */
	assert_int_equal(vmm_mem_fill(vm, 0x3ff0, 0x22, 0x20), 0);      /* p3, p4 */
	assert_int_equal(vmm_mem_iovec(vm, 0x7000, 0x1000, true, iov, 2), 1); /* p7 */
	assert_int_equal(vmm_mem_iovec(vm, 0x9000, 0x10, false, iov, 2), 1);  /* read */
	assert_int_equal(vmm_mem_read(vm, 0xa000, &b, 1), 0);                 /* read */
	/* failing accesses (into the hole after p15) mark nothing */
	assert_int_equal(vmm_mem_write(vm, 0xffff, (uint8_t[2]){ 1, 2 }, 2), -EFAULT);
	assert_int_equal(vmm_mem_fill(vm, 0xfff0, 0, 0x20), -EFAULT);
	assert_int_equal(vmm_mem_iovec(vm, 0xf000, 0x2000, true, iov, 2), -EFAULT);

	memset(bm, 0xff, sizeof(bm));
	assert_int_equal(vmm_mem_dirty_fetch(vm, 0x0, bm, 2), 4);
	assert_int_equal(bm[0], (1ull << 1) | (1ull << 3) | (1ull << 4) |
					(1ull << 7));
	assert_int_equal(bm[1], 0xffffffffffffffffull); /* beyond its words */
	/* fetching cleared them */
	assert_int_equal(vmm_mem_dirty_fetch(vm, 0x0, bm, 1), 0);
	assert_int_equal(bm[0], 0);

	/* second region: bits in both words */
	assert_int_equal(vmm_mem_write(vm, 0x100000 + 70 * PG + 5, &b, 1), 0);
	assert_int_equal(vmm_mem_fill(vm, 0x100000 + 63 * PG, 7, 2 * PG), 0);
	assert_int_equal(vmm_mem_write(vm, 0x100000 + 128 * PG - 1, &b, 1), 0);
	assert_int_equal(vmm_mem_dirty_fetch(vm, 0x100000, bm2, 2), 4);
	assert_int_equal(bm2[0], 1ull << 63);
	assert_int_equal(bm2[1], (1ull << 0) | (1ull << 6) | (1ull << 63));
	assert_int_equal(vmm_mem_dirty_fetch(vm, 0x0, bm, 1), 0);

	/* the internal mark tracks; host_ptr does not mark, even for a
	 * write: its caller marks after the store (a mark before it is lost
	 * to a fetch in between, guest_mem.h) */
	vmm_gmem_mark_dirty(&vm->mem, 0x2000, 1);
	assert_non_null(vmm_gmem_host_ptr(&vm->mem, 0x5000, 4, true));
	assert_non_null(vmm_gmem_host_ptr(&vm->mem, 0x6000, 4, false));
	assert_int_equal(vmm_mem_dirty_fetch(vm, 0x0, bm, 1), 1);
	assert_int_equal(bm[0], 1ull << 2);

	/* wrong arguments */
	assert_int_equal(vmm_mem_dirty_fetch(vm, 0x100000, bm2, 1), -ENOSPC);
	assert_int_equal(vmm_mem_dirty_fetch(vm, 0x1000, bm, 1), -ENOENT);
	assert_int_equal(vmm_mem_dirty_fetch(vm, 0x0, NULL, 1), -EINVAL);

	/* a region added while logging is tracked */
	assert_int_equal(add(vm, 0x800000, PG), 0);
	assert_int_equal(vmm_mem_fill(vm, 0x800000, 1, 1), 0);
	assert_int_equal(vmm_mem_dirty_fetch(vm, 0x800000, bm, 1), 1);
	assert_int_equal(bm[0], 1);

	/* restarting clears what was pending */
	assert_int_equal(vmm_mem_write(vm, 0x0, &b, 1), 0);
	assert_int_equal(vmm_mem_dirty_log(vm, false), 0);
	assert_true(vmm_mem_dirty_fetch(vm, 0x0, bm, 1) < 0);
	assert_int_equal(vmm_mem_write(vm, 0x1000, &b, 1), 0);
	assert_int_equal(vmm_mem_dirty_log(vm, true), 0);
	assert_int_equal(vmm_mem_dirty_fetch(vm, 0x0, bm, 1), 0);
	assert_int_equal(bm[0], 0);
	vmm_vm_destroy(vm);
}

static void test_dirty_region_flag(void **state)
{
	vmm_vm *vm = new_vm(0);
	uint64_t bm = ~0ull;
	uint8_t b = 1;

	/* VMM_MEM_DIRTY_LOG tracks this region from the start */
	assert_int_equal(add_flags(vm, 0x0, 8 * PG, VMM_MEM_DIRTY_LOG), 0);
	assert_int_equal(add(vm, 0x10000, 8 * PG), 0);
	assert_int_equal(vmm_mem_write(vm, 0x3000, &b, 1), 0);
	assert_int_equal(vmm_mem_write(vm, 0x13000, &b, 1), 0);
	assert_int_equal(vmm_mem_dirty_fetch(vm, 0x0, &bm, 1), 1);
	assert_int_equal(bm, 1ull << 3);
	/* the other region is not logged */
	assert_true(vmm_mem_dirty_fetch(vm, 0x10000, &bm, 1) < 0);
	vmm_vm_destroy(vm);
}

/* ---- default RAM, accounting, allocation failures ------------------------ */

static void test_default_ram(void **state)
{
	struct vmm_mem_info info[4];
	struct vmm_vm_stats st = { .struct_size = sizeof(st) };
	struct vmm_config cfg;
	vmm_vm *vm = new_vm(3 * GIB + GIB / 2);
	uint8_t b[2] = { 1, 2 };

	info[0].struct_size = sizeof(info[0]);
	assert_int_equal(vmm_mem_get_regions(vm, info, 4), 2);
	assert_int_equal(info[0].gpa, 0);
	assert_int_equal(info[0].size, 3 * GIB);
	assert_int_equal(info[1].gpa, 4 * GIB);
	assert_int_equal(info[1].size, GIB / 2);
	assert_int_equal(vmm_vm_get_stats(vm, &st), 0);
	assert_int_equal(st.ram_bytes, 3 * GIB + GIB / 2);
	assert_int_equal(vmm__ram_below_4g(vm), 3 * GIB);
	assert_int_equal(vmm__ram_above_4g(vm), GIB / 2);
	/* the 32-bit hole is not RAM */
	assert_int_equal(vmm_mem_write(vm, 3 * GIB - 1, b, 2), -EFAULT);
	assert_int_equal(vmm_mem_write(vm, 4 * GIB - 1, b, 2), -EFAULT);
	assert_int_equal(vmm_mem_write(vm, 4 * GIB + GIB / 2 - 2, b, 2), 0);
	assert_false(vmm_mem_is_ram(vm, 3 * GIB, 1));
	vmm_vm_destroy(vm);

	/* small: one region, nothing above 4 GiB */
	vm = new_vm(64 << 20);
	info[0].struct_size = sizeof(info[0]);
	assert_int_equal(vmm_mem_get_regions(vm, info, 4), 1);
	assert_int_equal(info[0].gpa, 0);
	assert_int_equal(info[0].size, 64 << 20);
	assert_int_equal(vmm__ram_above_4g(vm), 0);
	vmm_vm_destroy(vm);

	/* exactly 3 GiB: one region */
	vm = new_vm(3 * GIB);
	info[0].struct_size = sizeof(info[0]);
	assert_int_equal(vmm_mem_get_regions(vm, info, 4), 1);
	assert_int_equal(info[0].size, 3 * GIB);
	vmm_vm_destroy(vm);

	/* opted out */
	vmm_config_init(&cfg);
	cfg.ram_size = GIB;
	cfg.flags = VMM_CFG_NO_DEFAULT_RAM;
	assert_int_equal(vmm__vm_create_null(&cfg, &vm), 0);
	assert_int_equal(nregions(vm), 0);
	vmm_vm_destroy(vm);

	/* not page aligned */
	cfg.flags = 0;
	cfg.ram_size = GIB + 1;
	vm = (vmm_vm *)(uintptr_t)0x1234;
	assert_int_equal(vmm__vm_create_null(&cfg, &vm), -EINVAL);
	assert_ptr_equal(vm, (vmm_vm *)(uintptr_t)0x1234);
}

/* RAM beyond what the host can back is refused at once, before anything
 * is allocated (it used to zero-fill a dirty bitmap of RAM/32768 bytes
 * first: 3 GB and 12 s for 100000G). */
static void test_ram_cap(void **state)
{
	struct vmm_config cfg;
	struct timespec a, b;
	vmm_vm *vm = NULL;
	char msg[320];

	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_SOFT;
	cfg.ram_size = 100000ull << 30;
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(vmm_vm_create(&cfg, &vm), -E2BIG);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_null(vm);
	assert_true((b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6 <
		    1000);
	vmm_last_error(NULL, msg, sizeof(msg));
	assert_non_null(strstr(msg, "exceeds what this host can back"));

	/* the cap is per VM: regions add up */
	vm = new_vm(0);
	assert_int_equal(add(vm, 0, 1 << 20), 0);
	struct vmm_mem_region d = {
		.gpa = 1ull << 40, .size = 100000ull << 30,
		.source = VMM_MEM_MEMFD, .fd = -1,
	};
	assert_int_equal(vmm_mem_add(vm, &d), -E2BIG);
	vmm_vm_destroy(vm);
	(void)state;
}

static void test_stats(void **state)
{
	vmm_vm *vm = new_vm(0);
	struct vmm_vm_stats st = { .struct_size = sizeof(st) },
		st0 = { .struct_size = sizeof(st0) };
	vmm_dev *dev;
	vmm_vcpu *vcpu;

	assert_int_equal(vmm_vm_get_stats(vm, &st0), 0);
	assert_int_equal(st0.ram_bytes, 0);
	assert_int_equal(st0.devices, 0);
	assert_int_equal(st0.vcpus, 0);
	assert_int_equal(st0.exits, 0);

	assert_int_equal(add(vm, 0x0, 0x100000), 0);
	assert_int_equal(add(vm, 0x200000, 0x10000), 0);
	assert_int_equal(vmm_vm_get_stats(vm, &st), 0);
	assert_int_equal(st.ram_bytes, 0x110000);
	/* two region structs (their dirty bitmaps are mapped like RAM,
	 * lazily, and are not bookkeeping) */
	assert_true(st.host_bytes >= st0.host_bytes +
					     2 * sizeof(struct vmm_gmem_region));

	assert_int_equal(vmm_debug_exit_attach(vm, 0, 0, &dev), 0);
	assert_int_equal(vmm_vcpu_create(vm, 0, &vcpu), 0);
	assert_int_equal(vmm_vm_get_stats(vm, &st), 0);
	assert_int_equal(st.devices, 1);
	assert_int_equal(st.vcpus, 1);

	assert_int_equal(vmm_dev_detach(dev), 0);
	assert_int_equal(vmm_mem_remove(vm, 0x200000), 0);
	assert_int_equal(vmm_vm_get_stats(vm, &st), 0);
	assert_int_equal(st.devices, 0);
	assert_int_equal(st.ram_bytes, 0x100000);
	assert_int_equal(vmm_mem_remove(vm, 0x0), 0);
	assert_int_equal(vmm_vm_get_stats(vm, &st), 0);
	assert_int_equal(st.ram_bytes, 0);
	/* all that is left is the vCPU (and the bus array) */
	assert_true(st.host_bytes >= st0.host_bytes + sizeof(struct vmm_vcpu));
	assert_int_equal(vmm_vm_get_stats(vm, NULL), -EINVAL);
	assert_int_equal(vmm_vm_get_stats(NULL, &st), -EINVAL);
	vmm_vm_destroy(vm);
}

static void test_failalloc(void **state)
{
	struct failalloc fa;
	struct vmm_config cfg;
	bool done = false;
	long n;

	for (n = 0; n < 1000 && !done; n++) {
		vmm_vm *vm = NULL;
		int ret;

		failalloc_init(&fa, n);
		vmm_config_init(&cfg);
		cfg.allocator = &fa.a;
		cfg.ram_size = 3 * GIB + GIB / 2;
		ret = vmm__vm_create_null(&cfg, &vm);
		if (ret) {
			assert_int_equal(ret, -ENOMEM);
			assert_true(fa.failed);
			assert_null(vm);
			assert_int_equal(fa.live, 0);
			continue;
		}
		assert_int_equal(nregions(vm), 2);
		ret = add(vm, 8 * GIB, 0x10000);
		if (ret) {
			assert_int_equal(ret, -ENOMEM);
			assert_true(fa.failed);
			assert_int_equal(nregions(vm), 2);
		} else {
			assert_int_equal(nregions(vm), 3);
			done = !fa.failed;
		}
		vmm_vm_destroy(vm);
		assert_int_equal(fa.live, 0);
	}
	assert_true(done);
	assert_true(n > 3); /* the VM, and two allocations per region */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_region_overlap),
		cmocka_unit_test(test_region_invalid),
		cmocka_unit_test(test_region_limit),
		cmocka_unit_test(test_regions_listing),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_rw_one_region),
		cmocka_unit_test(test_rw_adjacent),
		cmocka_unit_test(test_rw_hole),
		cmocka_unit_test(test_rw_overflow),
		cmocka_unit_test(test_len0),
		cmocka_unit_test(test_iovec),
		cmocka_unit_test(test_rom),
		cmocka_unit_test(test_memfd),
		cmocka_unit_test(test_fd_region),
		cmocka_unit_test(test_dirty),
		cmocka_unit_test(test_dirty_region_flag),
		cmocka_unit_test(test_default_ram),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_ram_cap),
		cmocka_unit_test(test_failalloc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
