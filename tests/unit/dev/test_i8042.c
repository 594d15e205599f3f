// SPDX-License-Identifier: MIT
/*
 * test_i8042.c - the keyboard controller: reset by 0xfe and the other pulse
 * commands and by an output-port write, the command byte, self-test, the
 * status register's OBF/SYS/A2 bits, keyboard answers, port 0x61 (refresh
 * toggle, PIT hooks, coexistence with another owner of 0x61), hostile
 * accesses and allocation failures.
 */
#include "dev_test.h"

static int cmd(vmm_vm *vm, uint8_t c)
{
	struct vmm_io_ctx ctx;

	assert_int_equal(dt_out_ctx(vm, 0x64, 1, c, &ctx), 0);
	return ctx.stop;
}

static int data(vmm_vm *vm, uint8_t v)
{
	struct vmm_io_ctx ctx;

	assert_int_equal(dt_out_ctx(vm, 0x60, 1, v, &ctx), 0);
	return ctx.stop;
}

static vmm_dev *attach(vmm_vm *vm)
{
	vmm_dev *dev = NULL;

	assert_int_equal(vmm_i8042_attach(vm, &dev), 0);
	assert_string_equal(vmm_dev_name(dev), "i8042");
	return dev;
}

static void test_reset(void **state)
{
	vmm_vm *vm = dt_vm(NULL, 0);

	attach(vm);
	assert_int_equal(cmd(vm, 0xfe), VMM_EXIT_RESET);
	assert_int_equal(cmd(vm, 0xf0), VMM_EXIT_RESET);
	assert_int_equal(cmd(vm, 0xfc), VMM_EXIT_RESET);
	assert_int_equal(cmd(vm, 0xff), 0); /* pulses nothing */
	assert_int_equal(cmd(vm, 0xfd), 0); /* bit 0 not pulsed */
	/* output port: bit 0 clear resets, A20 alone does not */
	assert_int_equal(cmd(vm, 0xd0), 0);
	assert_int_equal(dt_in(vm, 0x60, 1), 0x03);
	assert_int_equal(cmd(vm, 0xd1), 0);
	assert_int_equal(data(vm, 0x01), 0);
	assert_int_equal(cmd(vm, 0xd0), 0);
	assert_int_equal(dt_in(vm, 0x60, 1), 0x01);
	assert_int_equal(cmd(vm, 0xd1), 0);
	assert_int_equal(data(vm, 0x02), VMM_EXIT_RESET);
	/* a data byte without 0xd1 before it goes to the keyboard */
	assert_int_equal(data(vm, 0x00), 0);
	assert_int_equal(dt_in(vm, 0x60, 1), 0xfa);
	vmm_vm_destroy(vm);
}

static void test_commands(void **state)
{
	vmm_vm *vm = dt_vm(NULL, 0);

	attach(vm);
	assert_int_equal(dt_in(vm, 0x64, 1), 0x14); /* unlocked, SYS */
	/* self-test: 0x55 in the output buffer, SYS flag set */
	cmd(vm, 0xaa);
	assert_int_equal(dt_in(vm, 0x64, 1), 0x10 | 0x08 | 0x04 | 0x01);
	assert_int_equal(dt_in(vm, 0x60, 1), 0x55);
	assert_int_equal(dt_in(vm, 0x64, 1) & 0x01, 0);
	assert_int_equal(dt_in(vm, 0x60, 1), 0x55); /* stale re-read */
	/* command byte */
	cmd(vm, 0x20);
	assert_int_equal(dt_in(vm, 0x60, 1), 0x45 | 0x04);
	cmd(vm, 0x60);
	data(vm, 0x41);
	assert_int_equal(dt_in(vm, 0x64, 1) & 0x0c, 0x00); /* SYS from byte */
	cmd(vm, 0x20);
	assert_int_equal(dt_in(vm, 0x60, 1), 0x41);
	cmd(vm, 0xad);
	cmd(vm, 0x20);
	assert_int_equal(dt_in(vm, 0x60, 1), 0x51);
	cmd(vm, 0xae);
	cmd(vm, 0xa7);
	cmd(vm, 0x20);
	assert_int_equal(dt_in(vm, 0x60, 1), 0x61);
	cmd(vm, 0xa8);
	cmd(vm, 0x20);
	assert_int_equal(dt_in(vm, 0x60, 1), 0x41);
	cmd(vm, 0xab);
	assert_int_equal(dt_in(vm, 0x60, 1), 0x00);
	/* keyboard: reset and identify */
	data(vm, 0xff);
	assert_int_equal(dt_in(vm, 0x60, 1), 0xfa);
	assert_int_equal(dt_in(vm, 0x60, 1), 0xaa);
	data(vm, 0xf2);
	assert_int_equal(dt_in(vm, 0x60, 1), 0xfa);
	assert_int_equal(dt_in(vm, 0x60, 1), 0xab);
	assert_int_equal(dt_in(vm, 0x60, 1), 0x83);
	assert_int_equal(dt_in(vm, 0x64, 1) & 0x01, 0);
	/* writing the keyboard output buffer */
	cmd(vm, 0xd2);
	data(vm, 0x1c);
	assert_int_equal(dt_in(vm, 0x60, 1), 0x1c);
	/* unknown commands are ignored, status is read-only data */
	cmd(vm, 0x12);
	assert_int_equal(dt_in(vm, 0x64, 1) & 0x01, 0);
	/* a flood of answers does not overflow the queue */
	for (int i = 0; i < 100; i++)
		data(vm, 0xf2);
	for (int i = 0; i < 100; i++)
		(void)dt_in(vm, 0x60, 1);
	assert_int_equal(dt_in(vm, 0x64, 1) & 0x01, 0);
	vmm_vm_destroy(vm);
}

static int pit_out_level;
static int pit_gate_calls, pit_gate_level;

static int pit_out(void *opaque)
{
	return pit_out_level;
}

static void pit_gate(void *opaque, int level)
{
	pit_gate_calls++;
	pit_gate_level = level;
}

static void test_port61(void **state)
{
	vmm_vm *vm = dt_vm(NULL, 0);
	vmm_dev *dev = attach(vm);
	uint64_t a, b;

	a = dt_in(vm, 0x61, 1);
	b = dt_in(vm, 0x61, 1);
	assert_int_equal((a ^ b) & 0x10, 0x10); /* refresh toggles */
	assert_int_equal(a & 0x20, 0);          /* no PIT wired */
	dt_out(vm, 0x61, 1, 0xff);
	assert_int_equal(dt_in(vm, 0x61, 1) & 0xef, 0x0f);
	dt_out(vm, 0x61, 1, 0x00);

	assert_int_equal(vmm__i8042_set_pit_hook(dev, pit_out, pit_gate, NULL),
			 0);
	pit_out_level = 1;
	assert_int_equal(dt_in(vm, 0x61, 1) & 0x20, 0x20);
	pit_out_level = 0;
	assert_int_equal(dt_in(vm, 0x61, 1) & 0x20, 0);
	dt_out(vm, 0x61, 1, 0x03);
	assert_int_equal(pit_gate_calls, 1);
	assert_int_equal(pit_gate_level, 1);
	dt_out(vm, 0x61, 1, 0x02); /* gate 1 -> 0 */
	dt_out(vm, 0x61, 1, 0x00); /* gate unchanged */
	assert_int_equal(pit_gate_calls, 2);
	assert_int_equal(pit_gate_level, 0);
	assert_int_equal(vmm__i8042_set_pit_hook(NULL, NULL, NULL, NULL),
			 -EINVAL);
	vmm_vm_destroy(vm);
}

static int other_read(void *o, uint64_t off, void *d, unsigned s,
		      struct vmm_io_ctx *c)
{
	memset(d, 0x42, s);
	return 0;
}

static const struct vmm_io_ops other_ops = { .read = other_read };

static void test_port61_taken(void **state)
{
	vmm_vm *vm = dt_vm(NULL, 0);
	vmm_dev *dev;

	assert_int_equal(vmm_bus_register(vm, VMM_SPACE_PIO, 0x61, 1,
					  &other_ops, NULL, "pit-speaker"), 0);
	dev = attach(vm);
	/* yielding 0x61 is not an error: nothing logged or recorded (every
	 * soft start used to log "PIO range 0x61-0x61 of port61 overlaps") */
	assert_int_equal(vmm_last_error(vm, NULL, 0), 0);
	assert_int_equal(dt_in(vm, 0x61, 1), 0x42);
	assert_int_equal(cmd(vm, 0xfe), VMM_EXIT_RESET);
	assert_int_equal(vmm_dev_detach(dev), 0);
	/* the other owner keeps 0x61 */
	assert_int_equal(dt_in(vm, 0x61, 1), 0x42);
	assert_false(dt_port_used(vm, 0x60));
	assert_false(dt_port_used(vm, 0x64));
	/* 0x64 taken: refused, nothing left behind */
	assert_int_equal(vmm_bus_register(vm, VMM_SPACE_PIO, 0x64, 1,
					  &other_ops, NULL, "other"), 0);
	dev = NULL;
	assert_int_equal(vmm_i8042_attach(vm, &dev), -EEXIST);
	assert_null(dev);
	assert_false(dt_port_used(vm, 0x60));
	vmm_vm_destroy(vm);
}

static void test_hostile(void **state)
{
	vmm_vm *vm = dt_vm(NULL, 0);
	struct vmm_io_ctx ctx;
	uint8_t b[8];

	assert_int_equal(vmm_i8042_attach(NULL, NULL), -EINVAL);
	assert_int_equal(vmm_i8042_attach(vm, NULL), -EINVAL);
	attach(vm);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0x60, b, 2, false),
			 -EFAULT);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0x64, b, 4, true),
			 -EFAULT);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0x62, b, 1, false),
			 -ENOENT);
	/* status register writes are commands, never state */
	assert_int_equal(dt_out_ctx(vm, 0x64, 1, 0x00, &ctx), 0);
	assert_int_equal(dt_in(vm, 0x64, 1) & 0x01, 0);
	vmm_vm_destroy(vm);
}

static int attach_fa(vmm_vm *vm, vmm_dev **out, void *arg)
{
	return vmm_i8042_attach(vm, out);
}

static void test_alloc_failures(void **state)
{
	assert_true(dt_failalloc(attach_fa, NULL, 0x64) >= 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_port61),
		cmocka_unit_test(test_port61_taken),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_alloc_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
