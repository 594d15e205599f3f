// SPDX-License-Identifier: MIT
/*
 * test_pci_host.c - configuration mechanism #1: the 440FX bridge's
 * identity, the address latch (reserved bits, partial widths that must not
 * latch, the 0xcf9 reset control), all-ones for absent functions, other
 * buses and disabled accesses, functions added with vmm_pci_add() read and
 * written at every width and offset, slot management, hostile widths, a
 * second host, allocation failures.
 */
#include "dev_test.h"

#define CF8 0xcf8
#define CFC 0xcfc

static uint32_t cfg_addr(unsigned bus, unsigned dev, unsigned fn,
			 unsigned reg)
{
	return 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc);
}

static uint32_t cfg_rd(vmm_vm *vm, unsigned dev, unsigned reg, unsigned size)
{
	dt_out(vm, CF8, 4, cfg_addr(0, dev, 0, reg));
	return (uint32_t)dt_in(vm, CFC + (reg & 3), size);
}

static void cfg_wr(vmm_vm *vm, unsigned dev, unsigned reg, unsigned size,
		   uint32_t v)
{
	dt_out(vm, CF8, 4, cfg_addr(0, dev, 0, reg));
	dt_out(vm, CFC + (reg & 3), size, v);
}

static vmm_dev *host_attach(vmm_vm *vm)
{
	vmm_dev *host = NULL;

	assert_int_equal(vmm_pci_host_attach(vm, &host), 0);
	assert_string_equal(vmm_dev_name(host), "pci-host");
	return host;
}

/* A function with a plain 256-byte config space. */
struct fakefn {
	uint8_t cfg[256];
	unsigned reads, writes;
	uint16_t last_off;
	unsigned last_size;
};

static uint32_t fake_read(void *opaque, uint16_t off, unsigned size)
{
	struct fakefn *f = opaque;

	assert_true(off < 256);
	assert_true((off & 3) + size <= 4);
	f->reads++;
	f->last_off = off;
	f->last_size = size;
	/* garbage above @size bytes: the host must mask it */
	return (uint32_t)vmm__le_get(&f->cfg[off], size) |
	       (size < 4 ? ~0u << (size * 8) : 0);
}

static void fake_write(void *opaque, uint16_t off, uint32_t v, unsigned size)
{
	struct fakefn *f = opaque;

	assert_true(off < 256);
	assert_true((off & 3) + size <= 4);
	assert_true(size == 4 || v < (1u << (size * 8)));
	f->writes++;
	vmm__le_put(&f->cfg[off], size, v);
}

static const struct vmm_pci_ops fake_ops = {
	.cfg_read = fake_read,
	.cfg_write = fake_write,
};

static void fake_init(struct fakefn *f, uint16_t vendor, uint16_t device)
{
	memset(f, 0, sizeof(*f));
	vmm__le_put(&f->cfg[0], 2, vendor);
	vmm__le_put(&f->cfg[2], 2, device);
}

static void test_bridge_identity(void **state)
{
	vmm_vm *vm = dt_vm(NULL, 0);

	host_attach(vm);
	assert_int_equal(cfg_rd(vm, 0, 0x00, 4), 0x12378086);
	assert_int_equal(cfg_rd(vm, 0, 0x00, 2), 0x8086);
	assert_int_equal(cfg_rd(vm, 0, 0x02, 2), 0x1237);
	assert_int_equal(cfg_rd(vm, 0, 0x01, 1), 0x80);
	assert_int_equal(cfg_rd(vm, 0, 0x03, 1), 0x12);
	assert_int_equal(cfg_rd(vm, 0, 0x08, 4), 0x06000002);
	assert_int_equal(cfg_rd(vm, 0, 0x0e, 1), 0x00);
	assert_int_equal(cfg_rd(vm, 0, 0x10, 4), 0); /* no BARs */
	/* identity is read-only */
	cfg_wr(vm, 0, 0x00, 4, 0xffffffff);
	cfg_wr(vm, 0, 0x08, 4, 0);
	assert_int_equal(cfg_rd(vm, 0, 0x00, 4), 0x12378086);
	assert_int_equal(cfg_rd(vm, 0, 0x08, 4), 0x06000002);
	cfg_wr(vm, 0, 0x10, 4, 0xffffffff);
	assert_int_equal(cfg_rd(vm, 0, 0x10, 4), 0);
	/* device-specific registers (PAM etc.) are kept */
	cfg_wr(vm, 0, 0x59, 1, 0x30);
	cfg_wr(vm, 0, 0x5a, 2, 0x3333);
	assert_int_equal(cfg_rd(vm, 0, 0x58, 4), 0x33333000);
	cfg_wr(vm, 0, 0xfc, 4, 0xcafef00d);
	assert_int_equal(cfg_rd(vm, 0, 0xfc, 4), 0xcafef00d);
	/* command: only its writable bits */
	cfg_wr(vm, 0, 0x04, 2, 0xffff);
	assert_int_equal(cfg_rd(vm, 0, 0x04, 2), 0x0147);
	vmm_vm_destroy(vm);
}

static void test_absent_and_disabled(void **state)
{
	vmm_vm *vm = dt_vm(NULL, 0);

	host_attach(vm);
	for (unsigned dev = 1; dev < 32; dev++)
		assert_int_equal(cfg_rd(vm, dev, 0, 4), 0xffffffff);
	assert_int_equal(cfg_rd(vm, 5, 0x02, 2), 0xffff);
	assert_int_equal(cfg_rd(vm, 5, 0x03, 1), 0xff);
	/* function 1 of the bridge, bus 1 */
	dt_out(vm, CF8, 4, cfg_addr(0, 0, 1, 0));
	assert_int_equal(dt_in(vm, CFC, 4), 0xffffffff);
	dt_out(vm, CF8, 4, cfg_addr(1, 0, 0, 0));
	assert_int_equal(dt_in(vm, CFC, 4), 0xffffffff);
	dt_out(vm, CFC, 4, 0); /* dropped */
	/* enable bit clear: no config cycle */
	dt_out(vm, CF8, 4, cfg_addr(0, 0, 0, 0) & 0x7fffffff);
	assert_int_equal(dt_in(vm, CFC, 4), 0xffffffff);
	dt_out(vm, CFC, 4, 0x12345678);
	assert_int_equal(cfg_rd(vm, 0, 0, 4), 0x12378086);
	vmm_vm_destroy(vm);
}

static void test_address_latch(void **state)
{
	vmm_vm *vm = dt_vm(NULL, 0);
	struct vmm_io_ctx ctx;

	host_attach(vm);
	assert_int_equal(dt_in(vm, CF8, 4), 0);
	dt_out(vm, CF8, 4, 0xffffffff); /* reserved bits read 0 */
	assert_int_equal(dt_in(vm, CF8, 4), 0x80fffffc);
	dt_out(vm, CF8, 4, cfg_addr(0, 0, 0, 0x08));
	/* partial widths at 0xcf8 do not latch and read all ones */
	dt_out(vm, CF8, 1, 0x00);
	dt_out(vm, CF8, 2, 0x0000);
	dt_out(vm, CF8 + 2, 2, 0x0000);
	dt_out(vm, CF8 + 3, 1, 0x00);
	assert_int_equal(dt_in(vm, CF8, 4), cfg_addr(0, 0, 0, 0x08));
	assert_int_equal(dt_in(vm, CF8, 2), 0xffff);
	assert_int_equal(dt_in(vm, CF8 + 2, 1), 0xff);
	assert_int_equal(dt_in(vm, CFC, 4), 0x06000002);
	/* 0xcf9: reset control */
	assert_int_equal(dt_in(vm, CF8 + 1, 1), 0x00);
	assert_int_equal(dt_out_ctx(vm, CF8 + 1, 1, 0x02, &ctx), 0);
	assert_int_equal(ctx.stop, 0);
	assert_int_equal(dt_in(vm, CF8 + 1, 1), 0x02);
	assert_int_equal(dt_out_ctx(vm, CF8 + 1, 1, 0x06, &ctx), 0);
	assert_int_equal(ctx.stop, VMM_EXIT_RESET);
	assert_int_equal(dt_in(vm, CF8 + 1, 1), 0x02); /* RST_CPU self-clears */
	assert_int_equal(dt_in(vm, CF8, 4), cfg_addr(0, 0, 0, 0x08));
	vmm_vm_destroy(vm);
}

static void test_added_function(void **state)
{
	vmm_vm *vm = dt_vm(NULL, 0);
	vmm_dev *host = host_attach(vm);
	struct fakefn a, b;

	fake_init(&a, 0x1af4, 0x1000);
	fake_init(&b, 0x1234, 0x5678);
	assert_int_equal(vmm_pci_add(host, 3, &fake_ops, &a), 3);
	assert_int_equal(vmm_pci_add(host, -1, &fake_ops, &b), 1);
	assert_int_equal(cfg_rd(vm, 3, 0, 4), 0x10001af4);
	assert_int_equal(cfg_rd(vm, 1, 0, 4), 0x56781234);
	assert_int_equal(cfg_rd(vm, 2, 0, 4), 0xffffffff);
	/* every width at every offset of a dword */
	cfg_wr(vm, 3, 0x40, 4, 0x44332211);
	assert_int_equal(a.cfg[0x40], 0x11);
	assert_int_equal(a.cfg[0x43], 0x44);
	for (unsigned off = 0; off < 4; off++) {
		assert_int_equal(cfg_rd(vm, 3, 0x40 + off, 1), 0x11 * (off + 1));
		assert_int_equal(a.last_off, 0x40 + off);
		assert_int_equal(a.last_size, 1);
	}
	for (unsigned off = 0; off < 3; off++)
		assert_int_equal(cfg_rd(vm, 3, 0x40 + off, 2),
				 (uint32_t)vmm__le_get(&a.cfg[0x40 + off], 2));
	cfg_wr(vm, 3, 0x41, 2, 0xbeef);
	assert_int_equal(cfg_rd(vm, 3, 0x40, 4), 0x44beef11);
	cfg_wr(vm, 3, 0x43, 1, 0x99);
	assert_int_equal(cfg_rd(vm, 3, 0x40, 4), 0x99beef11);
	cfg_wr(vm, 3, 0xfc, 4, 0x01020304);
	assert_int_equal(cfg_rd(vm, 3, 0xff, 1), 0x01);
	/* function 1 of a slot stays absent */
	dt_out(vm, CF8, 4, cfg_addr(0, 3, 1, 0));
	assert_int_equal(dt_in(vm, CFC, 4), 0xffffffff);
	a.writes = 0;
	dt_out(vm, CFC, 4, 0);
	assert_int_equal(a.writes, 0);

	/* removal */
	assert_int_equal(vmm_pci_remove(host, 3), 0);
	assert_int_equal(cfg_rd(vm, 3, 0, 4), 0xffffffff);
	assert_int_equal(vmm_pci_remove(host, 3), -ENOENT);
	assert_int_equal(vmm_pci_add(host, -1, &fake_ops, &a), 2);
	vmm_vm_destroy(vm);
}

static uint32_t ro_read(void *opaque, uint16_t off, unsigned size)
{
	return 0xa5a5a5a5;
}

static void test_slots_and_args(void **state)
{
	static const struct vmm_pci_ops ro = { .cfg_read = ro_read };
	static const struct vmm_pci_ops bad = { .cfg_write = fake_write };
	vmm_vm *vm = dt_vm(NULL, 0);
	vmm_dev *host = host_attach(vm), *h2 = NULL, *other = NULL;
	int x;

	assert_int_equal(vmm_pci_add(host, 0, &ro, NULL), -EINVAL);
	assert_int_equal(vmm_pci_add(host, 32, &ro, NULL), -EINVAL);
	assert_int_equal(vmm_pci_add(host, -2, &ro, NULL), -EINVAL);
	assert_int_equal(vmm_pci_add(host, 1, NULL, NULL), -EINVAL);
	assert_int_equal(vmm_pci_add(host, 1, &bad, NULL), -EINVAL);
	assert_int_equal(vmm_pci_add(NULL, 1, &ro, NULL), -EINVAL);
	assert_int_equal(vmm_pci_remove(host, 0), -EINVAL);
	assert_int_equal(vmm_pci_remove(host, 32), -EINVAL);
	assert_int_equal(vmm_pci_remove(NULL, 1), -EINVAL);
	/* a device that is not a PCI host */
	assert_int_equal(vmm_debug_exit_attach(vm, 0, 0, &other), 0);
	assert_int_equal(vmm_pci_add(other, 1, &ro, NULL), -EINVAL);
	assert_int_equal(vmm_pci_remove(other, 1), -EINVAL);

	for (int i = 1; i < 32; i++)
		assert_int_equal(vmm_pci_add(host, -1, &ro, &x), i);
	assert_int_equal(vmm_pci_add(host, -1, &ro, &x), -ENOSPC);
	assert_int_equal(vmm_pci_add(host, 7, &ro, &x), -EEXIST);
	/* read-only function: writes dropped, reads masked to the width */
	cfg_wr(vm, 7, 0x10, 4, 0);
	assert_int_equal(cfg_rd(vm, 7, 0x10, 4), 0xa5a5a5a5);
	assert_int_equal(cfg_rd(vm, 7, 0x11, 1), 0xa5);
	assert_int_equal(cfg_rd(vm, 7, 0x12, 2), 0xa5a5);

	/* one host per VM */
	assert_int_equal(vmm_pci_host_attach(vm, &h2), -EEXIST);
	assert_null(h2);
	assert_int_equal(vmm_pci_host_attach(NULL, &h2), -EINVAL);
	assert_int_equal(vmm_pci_host_attach(vm, NULL), -EINVAL);
	/* detach, and a new host is fine */
	assert_int_equal(vmm_dev_detach(host), 0);
	assert_false(dt_port_used(vm, CF8));
	assert_int_equal(vmm_pci_host_attach(vm, &h2), 0);
	assert_int_equal(cfg_rd(vm, 7, 0, 4), 0xffffffff);
	vmm_vm_destroy(vm);
}

static void test_hostile_widths(void **state)
{
	vmm_vm *vm = dt_vm(NULL, 0);
	vmm_dev *host = host_attach(vm);
	struct vmm_io_ctx ctx;
	struct fakefn a;
	uint8_t b[8];

	fake_init(&a, 0x1111, 0x2222);
	assert_int_equal(vmm_pci_add(host, 4, &fake_ops, &a), 4);
	dt_out(vm, CF8, 4, cfg_addr(0, 4, 0, 0));
	/* accesses crossing the end of the data window */
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, CFC + 2, b, 4,
					false), -EFAULT);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, CFC + 3, b, 2,
					true), -EFAULT);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, CFC, b, 8, false),
			 -EFAULT);
	/* 8 bytes at 0xcf8: neither the latch nor a config cycle */
	memset(b, 0, sizeof(b));
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, CF8, b, 8, false),
			 0);
	assert_int_equal(vmm__le_get(b, 8), ~0ull);
	vmm__le_put(b, 8, 0);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, CF8, b, 8, true),
			 0);
	assert_int_equal(dt_in(vm, CF8, 4), cfg_addr(0, 4, 0, 0));
	/* 3 bytes (dispatcher only): refused, all ones */
	a.reads = a.writes = 0;
	assert_int_equal(dt_out_ctx(vm, CFC, 3, 0, &ctx), 0);
	memset(b, 0, sizeof(b));
	assert_int_equal(vmm__bus_dispatch(vm, VMM_SPACE_PIO, CFC, b, 3, false,
					   &ctx), 0);
	assert_int_equal(vmm__le_get(b, 3), 0xffffff);
	assert_int_equal(a.reads + a.writes, 0);
	assert_int_equal(cfg_rd(vm, 4, 0, 4), 0x22221111);
	vmm_vm_destroy(vm);
}

static int attach_fa(vmm_vm *vm, vmm_dev **out, void *arg)
{
	return vmm_pci_host_attach(vm, out);
}

static void test_alloc_failures(void **state)
{
	assert_true(dt_failalloc(attach_fa, NULL, CF8) >= 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bridge_identity),
		cmocka_unit_test(test_absent_and_disabled),
		cmocka_unit_test(test_address_latch),
		cmocka_unit_test(test_added_function),
		cmocka_unit_test(test_slots_and_args),
		cmocka_unit_test(test_hostile_widths),
		cmocka_unit_test(test_alloc_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
