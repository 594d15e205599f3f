/* SPDX-License-Identifier: MIT */
/*
 * dev_test.h - helpers for the unit tests of the hypervisor-direct devices:
 * null-backend VMs, port I/O through the public bus (and through the
 * internal dispatcher when a test needs to see the access context), and an
 * allocation-failure loop for attach functions.
 */
#ifndef TESTS_DEV_TEST_H
#define TESTS_DEV_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/bus_impl.h"
#include "core/internal.h"
#include "dev/direct.h"
#include "failalloc.h"

static inline vmm_vm *dt_vm(struct failalloc *fa, uint64_t ram)
{
	struct vmm_config cfg;
	vmm_vm *vm = NULL;

	vmm_config_init(&cfg);
	cfg.ram_size = ram;
	if (fa)
		cfg.allocator = &fa->a;
	assert_int_equal(vmm__vm_create_null(&cfg, &vm), 0);
	assert_non_null(vm);
	return vm;
}

static inline uint64_t dt_in(vmm_vm *vm, uint16_t port, unsigned size)
{
	uint8_t b[8];

	memset(b, 0xa5, sizeof(b));
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, port, b, size,
					false), 0);
	return vmm__le_get(b, size);
}

static inline void dt_out(vmm_vm *vm, uint16_t port, unsigned size,
			  uint64_t v)
{
	uint8_t b[8];

	vmm__le_put(b, size, v);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, port, b, size,
					true), 0);
}

/* A write through the internal dispatcher, returning the context. */
static inline int dt_out_ctx(vmm_vm *vm, uint16_t port, unsigned size,
			     uint64_t v, struct vmm_io_ctx *ctx)
{
	uint8_t b[8];

	memset(ctx, 0, sizeof(*ctx));
	vmm__le_put(b, size, v);
	return vmm__bus_dispatch(vm, VMM_SPACE_PIO, port, b, size, true, ctx);
}

/* Is anything registered at @port? */
static inline bool dt_port_used(vmm_vm *vm, uint16_t port)
{
	struct vmm_bus_stats st = { .struct_size = sizeof(st) };

	return vmm_bus_get_stats(vm, VMM_SPACE_PIO, port, &st, NULL, 0) == 0;
}

typedef int (*dt_attach_fn)(vmm_vm *vm, vmm_dev **out, void *arg);

/*
 * dt_failalloc() - run @fn with the n-th allocation after VM creation
 * failing, n = 0, 1, ... until it succeeds.  Each failure must return a
 * negative errno, leave @probe_port unregistered and leak nothing.
 * Returns the number of allocations a successful attach makes.
 */
static inline long dt_failalloc(dt_attach_fn fn, void *arg,
				uint16_t probe_port)
{
	for (long n = 0; n < 1000; n++) {
		struct failalloc fa;
		vmm_dev *dev = NULL;
		vmm_vm *vm;
		int ret;

		failalloc_init(&fa, -1);
		vm = dt_vm(&fa, 0);
		fa.fail_at = fa.count + n;
		ret = fn(vm, &dev, arg);
		if (!fa.failed) {
			assert_int_equal(ret, 0);
			assert_non_null(dev);
			assert_true(dt_port_used(vm, probe_port));
			vmm_vm_destroy(vm);
			assert_int_equal(fa.live, 0);
			return n;
		}
		assert_true(ret < 0);
		assert_null(dev);
		assert_false(dt_port_used(vm, probe_port));
		vmm_vm_destroy(vm);
		assert_int_equal(fa.live, 0);
	}
	fail_msg("attach never succeeded");
	return -1;
}

#endif
