/* SPDX-License-Identifier: MIT */
/*
 * vtest.h - what the virtio device tests that drive a device from the
 * host side share: the log collector and 32-bit register / guest-memory
 * accesses that fail the cmocka test when the library refuses them.
 * Include after <cmocka.h> and <libvmm/libvmm.h>.
 */
#ifndef TESTS_VIRTIO_VTEST_H
#define TESTS_VIRTIO_VTEST_H

#include <stdio.h>
#include <string.h>

/* Append @msg and a newline to the NUL-terminated log @buf of @size. */
static inline void vt_log_append(char *buf, size_t size, const char *msg)
{
	size_t n = strlen(buf);

	snprintf(buf + n, size - n, "%s\n", msg);
}

static inline void vt_w32(vmm_vm *vm, uint64_t addr, uint32_t v)
{
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_MMIO, addr, &v, 4, true),
			 0);
}

static inline uint32_t vt_r32(vmm_vm *vm, uint64_t addr)
{
	uint32_t v = 0;

	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_MMIO, addr, &v, 4,
					false), 0);
	return v;
}

static inline void vt_mw(vmm_vm *vm, uint64_t gpa, const void *p, size_t n)
{
	assert_int_equal(vmm_mem_write(vm, gpa, p, n), 0);
}

static inline void vt_mr(vmm_vm *vm, uint64_t gpa, void *p, size_t n)
{
	assert_int_equal(vmm_mem_read(vm, gpa, p, n), 0);
}

#endif
