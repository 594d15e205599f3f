// SPDX-License-Identifier: MIT
/*
 * test_debug_exit.c - isa-debug-exit: the stop kind, value and QEMU status
 * (V << 1) | 1 for several values, widths and offsets; all-ones reads;
 * custom port and size; bad arguments and allocation failures.
 */
#include "dev_test.h"

static void check_exit(vmm_vm *vm, uint16_t port, unsigned size, uint32_t v)
{
	struct vmm_io_ctx ctx;

	assert_int_equal(dt_out_ctx(vm, port, size, v, &ctx), 0);
	assert_int_equal(ctx.stop, VMM_EXIT_GUEST_EXIT);
	assert_int_equal(ctx.stop_value, v);
	assert_int_equal(ctx.stop_status, (uint32_t)((v << 1) | 1));
}

static void test_default_port(void **state)
{
	vmm_vm *vm = dt_vm(NULL, 0);
	vmm_dev *dev = NULL;
	struct vmm_io_ctx ctx;
	uint8_t b[4];

	assert_int_equal(vmm_debug_exit_attach(vm, 0, 0, &dev), 0);
	assert_string_equal(vmm_dev_name(dev), "debug-exit@0xf4");
	check_exit(vm, 0xf4, 1, 0);
	check_exit(vm, 0xf4, 1, 0x31);       /* QEMU exit code 0x63 */
	check_exit(vm, 0xf4, 1, 0xff);
	check_exit(vm, 0xf4, 2, 0x1234);
	check_exit(vm, 0xf4, 4, 0x10);       /* status 0x21 = 33 */
	check_exit(vm, 0xf4, 4, 0x7fffffff);
	check_exit(vm, 0xf4, 4, 0xffffffff); /* status wraps to 0xffffffff */
	check_exit(vm, 0xf5, 1, 0x02);       /* any offset inside the span */
	check_exit(vm, 0xf6, 2, 0xbeef);
	check_exit(vm, 0xf7, 1, 0x01);
	/* reads: all ones, no stop */
	assert_int_equal(dt_in(vm, 0xf4, 4), 0xffffffff);
	assert_int_equal(dt_in(vm, 0xf4, 2), 0xffff);
	assert_int_equal(dt_in(vm, 0xf7, 1), 0xff);
	memset(&ctx, 0, sizeof(ctx));
	assert_int_equal(vmm__bus_dispatch(vm, VMM_SPACE_PIO, 0xf4, b, 4,
					   false, &ctx), 0);
	assert_int_equal(ctx.stop, 0);
	/* host writes through the public bus work too */
	dt_out(vm, 0xf4, 4, 1);
	/* outside the span / straddling it */
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0xf8, b, 1, true),
			 -ENOENT);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0xf6, b, 4, true),
			 -EFAULT);
	/* 3 bytes through the dispatcher */
	check_exit(vm, 0xf4, 3, 0x123456);
	vmm_vm_destroy(vm);
}

static void test_custom_port(void **state)
{
	vmm_vm *vm = dt_vm(NULL, 0);
	vmm_dev *dev = NULL, *d2 = NULL;
	uint8_t b[2];

	assert_int_equal(vmm_debug_exit_attach(vm, 0x501, 1, &dev), 0);
	check_exit(vm, 0x501, 1, 0x2a);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0x501, b, 2, true),
			 -EFAULT);
	assert_int_equal(vmm_debug_exit_attach(vm, 0x501, 1, &d2),
			 -EEXIST);
	assert_int_equal(vmm_debug_exit_attach(vm, 0x500, 2, &d2),
			 -EEXIST);
	assert_null(d2);
	assert_int_equal(vmm_debug_exit_attach(vm, 0x502, 2, &d2), 0);
	check_exit(vm, 0x503, 1, 7);
	assert_int_equal(vmm_dev_detach(dev), 0);
	assert_false(dt_port_used(vm, 0x501));
	assert_int_equal(vmm_dev_detach(dev = d2), 0);
	assert_false(dt_port_used(vm, 0x502));
	vmm_vm_destroy(vm);
}

static void test_bad_args(void **state)
{
	vmm_vm *vm = dt_vm(NULL, 0);
	vmm_dev *dev = NULL;

	assert_int_equal(vmm_debug_exit_attach(NULL, 0, 0, &dev), -EINVAL);
	assert_int_equal(vmm_debug_exit_attach(vm, 0, 0, NULL), -EINVAL);
	assert_int_equal(vmm_debug_exit_attach(vm, 0, 3, &dev), -EINVAL);
	assert_int_equal(vmm_debug_exit_attach(vm, 0, 8, &dev), -EINVAL);
	assert_int_equal(vmm_debug_exit_attach(vm, 0xfffe, 4, &dev),
			 -EINVAL);
	assert_null(dev);
	assert_int_equal(vmm_debug_exit_attach(vm, 0xfffc, 4, &dev), 0);
	check_exit(vm, 0xffff, 1, 5);
	vmm_vm_destroy(vm);
}

static int attach_fa(vmm_vm *vm, vmm_dev **out, void *arg)
{
	return vmm_debug_exit_attach(vm, 0, 0, out);
}

static void test_alloc_failures(void **state)
{
	assert_true(dt_failalloc(attach_fa, NULL, 0xf4) >= 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_port),
		cmocka_unit_test(test_custom_port),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_alloc_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
