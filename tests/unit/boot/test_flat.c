// SPDX-License-Identifier: MIT
/*
 * test_flat.c - the flat loader in each mode: bytes in place, what boot
 * structures each mode writes (none for REAL16), refusals.
 */
#include "boot_test.h"

#define RAM (4 * MIB)

static const uint8_t code[] = { 0xfa, 0xf4, 0xeb, 0xfd, 0x90, 0x90 };

static void test_flat_real16(void **state)
{
	vmm_vm *vm = bt_vm_pattern(RAM);
	struct vmm_boot_info bi;
	struct vmm_cpu_state st;
	uint8_t got[sizeof(code)];
	uint64_t gdt = gread64(vm, VMM_BOOT_GDT);

	assert_int_equal(vmm_image_load_flat(vm, code, sizeof(code), 0x7c00,
				       VMM_BOOT_REAL16, &bi), 0);
	assert_int_equal(bi.format, VMM_IMAGE_FLAT);
	assert_int_equal(bi.mode, VMM_BOOT_REAL16);
	assert_int_equal(bi.entry, 0x7c00);
	assert_int_equal(bi.load_start, 0x7c00);
	assert_int_equal(bi.load_end, 0x7c00 + sizeof(code));
	assert_int_equal(bi.gdt, 0);
	assert_int_equal(bi.cr3, 0);
	assert_int_equal(vmm_mem_read(vm, 0x7c00, got, sizeof(got)), 0);
	assert_memory_equal(got, code, sizeof(code));
	/* REAL16 writes no boot structures. */
	assert_true(gread64(vm, VMM_BOOT_GDT) == gdt);
	vmm_boot_build_state(&bi, &st);
	assert_int_equal(st.seg[VMM_CS].selector, 0x7c0);
	assert_int_equal(st.seg[VMM_CS].base, 0x7c00);
	assert_int_equal(st.rip, 0);
	assert_int_equal(st.cr0 & VMM_CR0_PE, 0);
	vmm_vm_destroy(vm);
}

static void test_flat_prot32_and_long64(void **state)
{
	vmm_vm *vm = bt_vm_pattern(RAM);
	struct vmm_boot_info bi;
	uint8_t got[sizeof(code)];

	assert_int_equal(vmm_image_load_flat(vm, code, sizeof(code), 0x100000,
				       VMM_BOOT_PROT32, &bi), 0);
	assert_int_equal(bi.mode, VMM_BOOT_PROT32);
	assert_int_equal(bi.gdt, VMM_BOOT_GDT);
	assert_int_equal(bi.cr3, 0);
	assert_int_equal(gread64(vm, VMM_BOOT_GDT), 0);
	assert_int_equal(gread64(vm, VMM_BOOT_GDT + 0x10), 0x00cf9b000000ffffull);
	assert_int_equal(gread64(vm, VMM_BOOT_GDT + 0x18), 0x00cf93000000ffffull);
	assert_int_equal(gread64(vm, VMM_BOOT_GDT + 0x20), 0x00af9b000000ffffull);
	assert_int_equal(gread64(vm, VMM_BOOT_GDT + 0x28), 0x00cf9b000000ffffull);
	assert_int_equal(gread64(vm, VMM_BOOT_PML4), 0xa5a5a5a5a5a5a5a5ull);

	assert_int_equal(vmm_image_load_flat(vm, code, sizeof(code), 0x200000,
				       VMM_BOOT_LONG64, &bi), 0);
	assert_int_equal(bi.cr3, VMM_BOOT_PML4);
	assert_int_equal(bi.entry, 0x200000);
	assert_int_equal(gread64(vm, VMM_BOOT_GDT + 0x10), 0x00af9b000000ffffull);
	assert_int_equal(gread64(vm, VMM_BOOT_GDT + 0x08), 0x00cf9b000000ffffull);
	assert_int_equal(gread64(vm, VMM_BOOT_PML4), 0x21003);
	assert_int_equal(vmm_mem_read(vm, 0x200000, got, sizeof(got)), 0);
	assert_memory_equal(got, code, sizeof(code));
	vmm_vm_destroy(vm);
}

static void test_flat_refused(void **state)
{
	vmm_vm *vm = bt_vm_pattern(RAM);
	struct vmm_boot_info bi;
	static uint8_t big[0x300];

	assert_int_equal(vmm_image_load_flat(NULL, code, 1, 0, 0, &bi), -EINVAL);
	BT_REFUSED(vm, -EINVAL, vmm_image_load_flat(vm, NULL, 4, 0x7c00,
					      VMM_BOOT_REAL16, &bi));
	BT_REFUSED(vm, -EINVAL, vmm_image_load_flat(vm, code, 4, 0x7c00,
					      VMM_BOOT_REAL16, NULL));
	BT_REFUSED(vm, -ENOEXEC, vmm_image_load_flat(vm, code, 0, 0x7c00,
					       VMM_BOOT_REAL16, &bi));
	BT_REFUSED(vm, -EINVAL, vmm_image_load_flat(vm, code, 4, 0x100000,
					      VMM_BOOT_REAL16, &bi));
	BT_REFUSED(vm, -EINVAL, vmm_image_load_flat(vm, code, 4, 0x7c00,
					      (enum vmm_boot_mode)7, &bi));
	BT_REFUSED(vm, -EFAULT, vmm_image_load_flat(vm, code, sizeof(code),
					      RAM - 2, VMM_BOOT_PROT32, &bi));
	BT_REFUSED(vm, -EFAULT, vmm_image_load_flat(vm, code, sizeof(code),
					      ~0ull - 2, VMM_BOOT_LONG64, &bi));
	BT_REFUSED(vm, -EFAULT, vmm_image_load_flat(vm, code, sizeof(code),
					      0xfffffffe, VMM_BOOT_PROT32, &bi));
	BT_REFUSED(vm, -EEXIST, vmm_image_load_flat(vm, big, sizeof(big), 0x300,
					      VMM_BOOT_PROT32, &bi));
	BT_REFUSED(vm, -EEXIST, vmm_image_load_flat(vm, big, sizeof(big), 0x25f00,
					      VMM_BOOT_LONG64, &bi));
	/* The same place is fine where the mode writes nothing there. */
	assert_int_equal(vmm_image_load_flat(vm, big, sizeof(big), 0x25f00,
				       VMM_BOOT_PROT32, &bi), 0);
	assert_int_equal(vmm_image_load_flat(vm, big, sizeof(big), 0x300,
				       VMM_BOOT_REAL16, &bi), 0);
	vmm_vm_destroy(vm);
}

static int load_flat(vmm_vm *vm, void *arg)
{
	struct vmm_boot_info bi;

	return vmm_image_load_flat(vm, code, sizeof(code), 0x100000, VMM_BOOT_LONG64,
			     &bi);
}

static void test_flat_alloc_failure(void **state)
{
	bt_alloc_failure_loop(RAM, load_flat, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flat_real16),
		cmocka_unit_test(test_flat_prot32_and_long64),
		cmocka_unit_test(test_flat_refused),
		cmocka_unit_test(test_flat_alloc_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
