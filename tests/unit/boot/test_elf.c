// SPDX-License-Identifier: MIT
/*
 * test_elf.c - the ELF32/ELF64 loader: segments, bss, entry translation,
 * boot tables, and every malformed-image check (right errno, guest RAM
 * untouched), plus allocation failures.
 */
#include "boot_test.h"

#define RAM (8 * MIB)

/* ELF32: text at 1 MiB (0x80 bytes), data at 2 MiB (0x20 + 0xfe0 bss). */
static size_t elf32_image(uint8_t *b, struct bt_seg *s)
{
	s[0] = (struct bt_seg){ BT_PT_LOAD, 0x100, 0x100000, 0x100000, 0x80,
				0x80 };
	s[1] = (struct bt_seg){ BT_PT_LOAD, 0x180, 0x200000, 0x200000, 0x20,
				0x1000 };
	memset(b, 0, 0x200);
	bt_elf(b, false, 0x100010, s, 2);
	for (int i = 0x100; i < 0x1a0; i++)
		b[i] = (uint8_t)i;
	return 0x1a0;
}

/* ELF64 linked high: vaddr 0xffffffff80100000 -> paddr 1 MiB. */
static size_t elf64_image(uint8_t *b, struct bt_seg *s)
{
	s[0] = (struct bt_seg){ BT_PT_LOAD, 0x100, 0xffffffff80100000ull,
				0x100000, 0x40, 0x2000 };
	s[1] = (struct bt_seg){ 4 /* PT_NOTE */, 0x100, 0, 0, 4, 4 };
	memset(b, 0, 0x200);
	bt_elf(b, true, 0xffffffff80100020ull, s, 2);
	for (int i = 0x100; i < 0x140; i++)
		b[i] = (uint8_t)(i ^ 0x5a);
	return 0x140;
}

static void test_elf32_loads(void **state)
{
	vmm_vm *vm = bt_vm_pattern(RAM);
	uint8_t img[0x200], got[0x1000];
	struct bt_seg s[2];
	size_t len = elf32_image(img, s);
	struct vmm_boot_info bi;

	assert_int_equal(vmm_image_load_elf(vm, img, len, &bi), 0);
	assert_int_equal(bi.format, VMM_IMAGE_ELF);
	assert_int_equal(bi.mode, VMM_BOOT_PROT32);
	assert_int_equal(bi.entry, 0x100010);
	assert_int_equal(bi.load_start, 0x100000);
	assert_int_equal(bi.load_end, 0x201000);
	assert_int_equal(bi.gdt, VMM_BOOT_GDT);
	assert_int_equal(bi.cr3, 0);
	assert_int_equal(vmm_mem_read(vm, 0x100000, got, 0x80), 0);
	assert_memory_equal(got, img + 0x100, 0x80);
	assert_int_equal(vmm_mem_read(vm, 0x200000, got, 0x1000), 0);
	assert_memory_equal(got, img + 0x180, 0x20);
	for (int i = 0x20; i < 0x1000; i++)
		assert_int_equal(got[i], 0);      /* bss zeroed */
	/* Beyond the segment nothing changed; no page tables for ELF32. */
	assert_int_equal(vmm_mem_read(vm, 0x201000, got, 1), 0);
	assert_int_equal(got[0], 0xa5);
	assert_int_equal(gread32(vm, VMM_BOOT_PML4), 0xa5a5a5a5);
	assert_int_equal(gread64(vm, VMM_BOOT_GDT + 0x10), 0x00cf9b000000ffffull);
	vmm_vm_destroy(vm);
}

static void test_elf64_loads(void **state)
{
	vmm_vm *vm = bt_vm_pattern(RAM);
	uint8_t img[0x200], got[0x2000];
	struct bt_seg s[2];
	size_t len = elf64_image(img, s);
	struct vmm_boot_info bi;

	assert_int_equal(vmm_image_load_elf(vm, img, len, &bi), 0);
	assert_int_equal(bi.mode, VMM_BOOT_LONG64);
	assert_int_equal(bi.entry, 0x100020);     /* translated to physical */
	assert_int_equal(bi.cr3, VMM_BOOT_PML4);
	assert_int_equal(bi.gdt, VMM_BOOT_GDT);
	assert_int_equal(vmm_mem_read(vm, 0x100000, got, 0x2000), 0);
	assert_memory_equal(got, img + 0x100, 0x40);
	for (int i = 0x40; i < 0x2000; i++)
		assert_int_equal(got[i], 0);
	/* Identity map: PML4[0] -> PDPT, PDPT[3] -> 4th PD, 2 MiB pages. */
	assert_int_equal(gread64(vm, VMM_BOOT_PML4), 0x21000 | 3);
	assert_int_equal(gread64(vm, 0x21000 + 3 * 8), (0x22000 + 3 * 0x1000) | 3);
	assert_int_equal(gread64(vm, 0x21000 + 4 * 8), 0);
	assert_int_equal(gread64(vm, 0x22000 + 511 * 8), (511ull << 21) | 0x83);
	assert_int_equal(gread64(vm, 0x22000 + 3 * 0x1000 + 511 * 8),
			 ((3ull << 30) + (511ull << 21)) | 0x83);
	assert_int_equal(gread64(vm, VMM_BOOT_GDT + 0x10), 0x00af9b000000ffffull);
	vmm_vm_destroy(vm);
}

/* A VM with RAM above 4 GiB gets enough page directories for all of it. */
static void test_elf64_maps_high_ram(void **state)
{
	struct vmm_config cfg;
	vmm_vm *vm;
	uint8_t img[0x200];
	struct bt_seg s[2];
	size_t len = elf64_image(img, s);
	struct vmm_boot_info bi;

	vmm_config_init(&cfg);
	cfg.ram_size = 16 * MIB;
	assert_int_equal(vmm__vm_create_null(&cfg, &vm), 0);
	assert_int_equal(vmm_mem_add_ram(vm, 6 * GIB, 2 * MIB), 0);
	assert_int_equal(vmm_image_load_elf(vm, img, len, &bi), 0);
	/* top = 6 GiB + 2 MiB -> 7 page directories */
	assert_int_equal(gread64(vm, 0x21000 + 6 * 8), (0x22000 + 6 * 0x1000) | 3);
	assert_int_equal(gread64(vm, 0x21000 + 7 * 8), 0);
	assert_int_equal(gread64(vm, 0x22000 + 6 * 0x1000), (6 * GIB) | 0x83);
	vmm_vm_destroy(vm);
}

typedef void (*mutate_fn)(uint8_t *b, size_t *len);

struct bad_case {
	const char *name;
	bool is64;
	mutate_fn fn;
	int err;
};

static void m_truncated(uint8_t *b, size_t *len) { *len = 40; }
static void m_magic(uint8_t *b, size_t *len) { b[1] = 'X'; }
static void m_class(uint8_t *b, size_t *len) { b[4] = 3; }
static void m_bigendian(uint8_t *b, size_t *len) { b[5] = 2; }
static void m_machine32(uint8_t *b, size_t *len) { p16(b, 18, 62); }
static void m_machine64(uint8_t *b, size_t *len) { p16(b, 18, 3); }
static void m_dyn(uint8_t *b, size_t *len) { p16(b, 16, 3); }
static void m_phentsize32(uint8_t *b, size_t *len) { p16(b, 42, 16); }
static void m_phnum0(uint8_t *b, size_t *len) { p16(b, 44, 0); }
static void m_phnum_huge32(uint8_t *b, size_t *len) { p16(b, 44, 5000); }
static void m_phnum_xnum64(uint8_t *b, size_t *len) { p16(b, 56, 0xffff); }
static void m_phoff_out32(uint8_t *b, size_t *len) { p32(b, 28, 0x190); }
static void m_phoff_ovf64(uint8_t *b, size_t *len) { p64(b, 32, ~0ull - 8); }
static void m_short_ph64(uint8_t *b, size_t *len) { *len = 64 + 56 + 10; }
static void m_off_out32(uint8_t *b, size_t *len) { p32(b, 52 + 4, 0x1f0); }
static void m_off_ovf64(uint8_t *b, size_t *len) { p64(b, 64 + 8, ~0ull - 0x10); }
static void m_filesz32(uint8_t *b, size_t *len) { p32(b, 52 + 32 + 20, 0x10); }
static void m_filesz_memsz0(uint8_t *b, size_t *len) { p32(b, 52 + 20, 0); }
static void m_paddr_ovf64(uint8_t *b, size_t *len) { p64(b, 64 + 24, ~0ull - 0x100); }
static void m_paddr_4g32(uint8_t *b, size_t *len) { p32(b, 52 + 32 + 12, 0xfffff800); }
static void m_out_of_ram32(uint8_t *b, size_t *len) { p32(b, 52 + 32 + 12, 0x900000); }
static void m_memsz_ram64(uint8_t *b, size_t *len) { p64(b, 64 + 40, 64 * MIB); }
static void m_over_gdt32(uint8_t *b, size_t *len) { p32(b, 52 + 12, 0x4c0); }
static void m_over_pt64(uint8_t *b, size_t *len) { p64(b, 64 + 24, 0x24000); }
static void m_noload64(uint8_t *b, size_t *len) { p32(b, 64, 6); }
static void m_entry32(uint8_t *b, size_t *len) { p32(b, 24, 0x7000000); }
static void m_entry64(uint8_t *b, size_t *len) { p64(b, 24, 0x7000000000ull); }

static const struct bad_case bad[] = {
	{ "truncated header", false, m_truncated, -ENOEXEC },
	{ "bad magic", false, m_magic, -ENOEXEC },
	{ "bad class", false, m_class, -ENOEXEC },
	{ "big endian", true, m_bigendian, -ENOEXEC },
	{ "ELF32 for x86-64", false, m_machine32, -ENOEXEC },
	{ "ELF64 for i386", true, m_machine64, -ENOEXEC },
	{ "ET_DYN", true, m_dyn, -ENOEXEC },
	{ "small e_phentsize", false, m_phentsize32, -ENOEXEC },
	{ "no program headers", false, m_phnum0, -ENOEXEC },
	{ "absurd e_phnum", false, m_phnum_huge32, -ENOEXEC },
	{ "PN_XNUM", true, m_phnum_xnum64, -ENOEXEC },
	{ "phdrs beyond file", false, m_phoff_out32, -ENOEXEC },
	{ "e_phoff overflow", true, m_phoff_ovf64, -ENOEXEC },
	{ "truncated phdrs", true, m_short_ph64, -ENOEXEC },
	{ "segment beyond file", false, m_off_out32, -ENOEXEC },
	{ "p_offset overflow", true, m_off_ovf64, -ENOEXEC },
	{ "p_filesz > p_memsz", false, m_filesz32, -ENOEXEC },
	{ "p_filesz > p_memsz = 0", false, m_filesz_memsz0, -ENOEXEC },
	{ "p_paddr + p_memsz overflow", true, m_paddr_ovf64, -ENOEXEC },
	{ "ELF32 segment past 4 GiB", false, m_paddr_4g32, -ENOEXEC },
	{ "segment outside RAM", false, m_out_of_ram32, -EFAULT },
	{ "bss outside RAM", true, m_memsz_ram64, -EFAULT },
	{ "segment over the GDT", false, m_over_gdt32, -EEXIST },
	{ "segment over the page tables", true, m_over_pt64, -EEXIST },
	{ "no PT_LOAD", true, m_noload64, -ENOEXEC },
	{ "entry outside RAM (32)", false, m_entry32, -ENOEXEC },
	{ "entry outside RAM (64)", true, m_entry64, -ENOEXEC },
};

static void test_elf_malformed(void **state)
{
	vmm_vm *vm = bt_vm_pattern(RAM);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t img[0x200];
		struct bt_seg s[2];
		size_t len = bad[i].is64 ? elf64_image(img, s)
					 : elf32_image(img, s);
		struct vmm_boot_info bi;

		memset(&bi, 0x77, sizeof(bi));
		bad[i].fn(img, &len);
		print_message("  case: %s\n", bad[i].name);
		BT_REFUSED(vm, bad[i].err, vmm_image_load_elf(vm, img, len, &bi));
		assert_int_equal(bi.entry, 0x7777777777777777ull);
	}
	vmm_vm_destroy(vm);
}

static void test_elf_bad_args(void **state)
{
	vmm_vm *vm = bt_vm_pattern(RAM);
	uint8_t img[0x200];
	struct bt_seg s[2];
	size_t len = elf32_image(img, s);
	struct vmm_boot_info bi;

	assert_int_equal(vmm_image_load_elf(NULL, img, len, &bi), -EINVAL);
	BT_REFUSED(vm, -EINVAL, vmm_image_load_elf(vm, NULL, len, &bi));
	BT_REFUSED(vm, -EINVAL, vmm_image_load_elf(vm, img, len, NULL));
	vmm_vm_destroy(vm);
}

/* The boot structures need RAM at 0: a VM without it refuses cleanly. */
static void test_elf_no_low_ram(void **state)
{
	struct vmm_config cfg;
	vmm_vm *vm;
	uint8_t img[0x200];
	struct bt_seg s[2];
	size_t len = elf32_image(img, s);
	struct vmm_boot_info bi;

	vmm_config_init(&cfg);
	assert_int_equal(vmm__vm_create_null(&cfg, &vm), 0);
	assert_int_equal(vmm_mem_add_ram(vm, MIB, 4 * MIB), 0);
	BT_REFUSED(vm, -EFAULT, vmm_image_load_elf(vm, img, len, &bi));
	vmm_vm_destroy(vm);
}

struct elf_arg {
	const uint8_t *img;
	size_t len;
};

static int load_elf(vmm_vm *vm, void *arg)
{
	struct elf_arg *a = arg;
	struct vmm_boot_info bi;

	return vmm_image_load_elf(vm, a->img, a->len, &bi);
}

static void test_elf_alloc_failure(void **state)
{
	uint8_t img[0x200];
	struct bt_seg s[2];
	struct elf_arg a = { img, elf64_image(img, s) };

	assert_true(bt_alloc_failure_loop(RAM, load_elf, &a) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elf32_loads),
		cmocka_unit_test(test_elf64_loads),
		cmocka_unit_test(test_elf64_maps_high_ram),
		cmocka_unit_test(test_elf_malformed),
		cmocka_unit_test(test_elf_bad_args),
		cmocka_unit_test(test_elf_no_low_ram),
		cmocka_unit_test(test_elf_alloc_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
