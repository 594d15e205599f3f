// SPDX-License-Identifier: MIT
/*
 * test_multiboot.c - multiboot v1: a.out-kludge and ELF kernels, the info
 * structure (memory, mmap, cmdline, modules, loader name), registers, and
 * every header check (right errno, guest RAM untouched).
 */
#include "boot_test.h"

#define RAM (16 * MIB)
#define LOAD 0x100000u
#define HDR_OFF 0x40u
#define IMG_LEN 0x1000u

/* An a.out-kludge kernel: header at file 0x40, loaded at 1 MiB. */
static size_t aout_image(uint8_t *b, uint32_t flags)
{
	uint32_t addr[5] = { LOAD + HDR_OFF, LOAD, LOAD + IMG_LEN,
			     LOAD + IMG_LEN + 0x3000, LOAD + 0x80 };

	for (unsigned i = 0; i < IMG_LEN; i++)
		b[i] = (uint8_t)(i * 13);
	bt_mb_header(b, HDR_OFF, flags | (1u << 16), addr);
	return IMG_LEN;
}

static const char mod0[] = "first module payload";
static const uint8_t mod1[5000] = { 1, 2, 3 };

static void read_str(vmm_vm *vm, uint64_t gpa, char *buf, size_t len)
{
	assert_int_equal(vmm_mem_read(vm, gpa, buf, len), 0);
	buf[len - 1] = 0;
}

static void test_multiboot_aout(void **state)
{
	vmm_vm *vm = bt_vm_pattern(RAM);
	static uint8_t img[IMG_LEN], got[0x4000];
	size_t len = aout_image(img, 0x3);
	struct vmm_boot_module mods[2] = {
		{ mod0, sizeof(mod0), "mod0 arg=1" },
		{ mod1, sizeof(mod1), NULL },
	};
	struct vmm_boot_info bi;
	uint8_t mbi[128];
	char s[64];

	assert_int_equal(vmm_image_load_multiboot(vm, img, len, "kernel -v", mods,
					    2, &bi), 0);
	assert_int_equal(bi.format, VMM_IMAGE_MULTIBOOT);
	assert_int_equal(bi.mode, VMM_BOOT_PROT32);
	assert_int_equal(bi.entry, LOAD + 0x80);
	assert_int_equal(bi.regs[VMM_RAX], 0x2badb002);
	assert_int_equal(bi.regs[VMM_RBX], VMM_BOOT_MBI);
	assert_int_equal(bi.gdt, VMM_BOOT_GDT);
	assert_int_equal(bi.load_start, LOAD);
	assert_int_equal(bi.load_end, LOAD + IMG_LEN + 0x3000);

	/* Image and bss. */
	assert_int_equal(vmm_mem_read(vm, LOAD, got, sizeof(got)), 0);
	assert_memory_equal(got, img, IMG_LEN);
	for (unsigned i = IMG_LEN; i < IMG_LEN + 0x3000; i++)
		assert_int_equal(got[i], 0);

	/* Info structure. */
	assert_int_equal(vmm_mem_read(vm, VMM_BOOT_MBI, mbi, sizeof(mbi)), 0);
	uint32_t flags = g32(mbi, 0);
	assert_int_equal(flags & 0x24d, 0x24d); /* mem, cmdline, mods, mmap, name */
	assert_int_equal(g32(mbi, 4), 639);
	assert_int_equal(g32(mbi, 8), (RAM - MIB) / 1024);
	read_str(vm, g32(mbi, 16), s, sizeof(s));
	assert_string_equal(s, "kernel -v");
	read_str(vm, g32(mbi, 64), s, sizeof(s));
	assert_string_equal(s, "libvmm");

	/* Memory map. */
	uint32_t mlen = g32(mbi, 44), maddr = g32(mbi, 48);
	assert_int_equal(mlen, 3 * 24);
	uint8_t mm[3 * 24];
	assert_int_equal(vmm_mem_read(vm, maddr, mm, sizeof(mm)), 0);
	const uint64_t want[3][3] = { { 0, 0x9fc00, 1 },
				      { 0x9fc00, 0x100000 - 0x9fc00, 2 },
				      { 0x100000, RAM - 0x100000, 1 } };
	for (int i = 0; i < 3; i++) {
		assert_int_equal(g32(mm, i * 24), 20);
		assert_int_equal(g64(mm, i * 24 + 4), want[i][0]);
		assert_int_equal(g64(mm, i * 24 + 12), want[i][1]);
		assert_int_equal(g32(mm, i * 24 + 20), want[i][2]);
	}

	/* Modules: page-aligned after the bss, contents, command lines. */
	assert_int_equal(g32(mbi, 20), 2);
	uint8_t mt[32];
	assert_int_equal(vmm_mem_read(vm, g32(mbi, 24), mt, sizeof(mt)), 0);
	uint32_t m0 = g32(mt, 0), m1 = g32(mt, 16);
	assert_int_equal(m0, LOAD + IMG_LEN + 0x3000);
	assert_int_equal(g32(mt, 4), m0 + sizeof(mod0));
	assert_int_equal(m1, m0 + 0x1000);
	assert_int_equal(g32(mt, 20), m1 + sizeof(mod1));
	assert_int_equal(m0 % 4096, 0);
	assert_int_equal(m1 % 4096, 0);
	read_str(vm, g32(mt, 8), s, sizeof(s));
	assert_string_equal(s, "mod0 arg=1");
	read_str(vm, g32(mt, 24), s, 1);
	assert_int_equal(vmm_mem_read(vm, g32(mt, 24), s, 1), 0);
	assert_int_equal(s[0], 0);
	assert_int_equal(vmm_mem_read(vm, m0, got, sizeof(mod0)), 0);
	assert_memory_equal(got, mod0, sizeof(mod0));
	assert_int_equal(vmm_mem_read(vm, m1, got, sizeof(mod1)), 0);
	assert_memory_equal(got, mod1, sizeof(mod1));

	/* The entry state the spec asks for. */
	struct vmm_cpu_state st;
	vmm_boot_build_state(&bi, &st);
	assert_int_equal(st.gpr[VMM_RAX], 0x2badb002);
	assert_int_equal(st.gpr[VMM_RBX], VMM_BOOT_MBI);
	assert_int_equal(st.cr0 & (VMM_CR0_PE | VMM_CR0_PG), VMM_CR0_PE);
	assert_int_equal(st.rflags & VMM_RFLAGS_IF, 0);
	assert_int_equal(st.seg[VMM_CS].db, 1);
	assert_int_equal(st.seg[VMM_CS].limit, 0xffffffff);
	vmm_vm_destroy(vm);
}

/* load_end_addr = 0: load to the end of the file; no bss. */
static void test_multiboot_aout_to_eof(void **state)
{
	vmm_vm *vm = bt_vm_pattern(RAM);
	static uint8_t img[IMG_LEN], got[IMG_LEN];
	uint32_t addr[5] = { LOAD + HDR_OFF, LOAD, 0, 0, LOAD };
	struct vmm_boot_info bi;

	for (unsigned i = 0; i < IMG_LEN; i++)
		img[i] = (uint8_t)i;
	bt_mb_header(img, HDR_OFF, 1u << 16, addr);
	assert_int_equal(vmm_image_load_multiboot(vm, img, IMG_LEN, NULL, NULL, 0,
					    &bi), 0);
	assert_int_equal(bi.load_end, LOAD + IMG_LEN);
	assert_int_equal(vmm_mem_read(vm, LOAD, got, IMG_LEN), 0);
	assert_memory_equal(got, img, IMG_LEN);
	assert_int_equal(vmm_mem_read(vm, LOAD + IMG_LEN, got, 1), 0);
	assert_int_equal(got[0], 0xa5);
	assert_int_equal(gread32(vm, VMM_BOOT_MBI + 20), 0);
	assert_int_equal(gread32(vm, VMM_BOOT_CMDLINE) & 0xff, 0);
	vmm_vm_destroy(vm);
}

/*
 * A kernel loaded at [0x8000, 0x10000), where a real-mode-era kernel goes:
 * libvmm's own boot data (the info structure, the command line) must not
 * sit there (issue #11: the loader refused this while the info structure
 * was at 0x8000; it is in the reserved BIOS area now, VMM_BOOT_MBI).
 */
static void test_multiboot_low(void **state)
{
	vmm_vm *vm = bt_vm_pattern(RAM);
	static uint8_t img[0x8000], got[0x8000];
	uint32_t addr[5] = { 0x8000 + HDR_OFF, 0x8000, 0x10000, 0x10000,
			     0x8080 };
	struct vmm_boot_info bi;

	for (unsigned i = 0; i < sizeof(img); i++)
		img[i] = (uint8_t)(i * 7);
	bt_mb_header(img, HDR_OFF, 1u << 16, addr);
	assert_int_equal(vmm_image_load_multiboot(vm, img, sizeof(img),
						  "low kernel", NULL, 0, &bi), 0);
	assert_int_equal(bi.load_start, 0x8000);
	assert_int_equal(bi.load_end, 0x10000);
	assert_int_equal(bi.entry, 0x8080);
	assert_true(bi.regs[VMM_RBX] >= 0x10000 ||
		    bi.regs[VMM_RBX] + 0x58 <= 0x8000);
	assert_int_equal(vmm_mem_read(vm, 0x8000, got, sizeof(got)), 0);
	assert_memory_equal(got, img, sizeof(img));
	vmm_vm_destroy(vm);
}

static void test_multiboot_elf(void **state)
{
	vmm_vm *vm = bt_vm_pattern(RAM);
	static uint8_t img[0x3000], got[0x100];
	struct bt_seg s = { BT_PT_LOAD, 0x2000, 0x200000, 0x200000, 0x100,
			    0x800 };
	struct vmm_boot_info bi;

	bt_elf(img, false, 0x200010, &s, 1);
	bt_mb_header(img, 0x100, 0x2, NULL);
	for (int i = 0; i < 0x100; i++)
		img[0x2000 + i] = (uint8_t)~i;
	assert_int_equal(vmm_image_load_multiboot(vm, img, sizeof(img), "x", NULL,
					    0, &bi), 0);
	assert_int_equal(bi.entry, 0x200010);
	assert_int_equal(bi.mode, VMM_BOOT_PROT32);
	assert_int_equal(bi.load_start, 0x200000);
	assert_int_equal(bi.load_end, 0x200800);
	assert_int_equal(vmm_mem_read(vm, 0x200000, got, sizeof(got)), 0);
	assert_memory_equal(got, img + 0x2000, sizeof(got));

	/* An ELF64 multiboot kernel must still enter below 4 GiB... */
	memset(img, 0, sizeof(img));
	bt_elf(img, true, 0x200010, &s, 1);
	bt_mb_header(img, 0x100, 0x2, NULL);
	assert_int_equal(vmm_image_load_multiboot(vm, img, sizeof(img), "x", NULL,
					    0, &bi), 0);
	assert_int_equal(bi.mode, VMM_BOOT_PROT32);
	/* ...and a bad ELF under a good header is refused. */
	p16(img, 18, 3);
	BT_REFUSED(vm, -ENOEXEC, vmm_image_load_multiboot(vm, img, sizeof(img),
						    NULL, NULL, 0, &bi));
	vmm_vm_destroy(vm);
}

typedef void (*mutate_fn)(uint8_t *b, size_t *len);

static void set_addr(uint8_t *b, int field, uint32_t v)
{
	uint32_t flags = g32(b, HDR_OFF + 4);
	uint32_t addr[5];

	for (int i = 0; i < 5; i++)
		addr[i] = g32(b, HDR_OFF + 12 + 4 * i);
	addr[field] = v;
	bt_mb_header(b, HDR_OFF, flags, addr);
}

static void m_checksum(uint8_t *b, size_t *len) { b[HDR_OFF + 8] ^= 1; }
static void m_after_8k(uint8_t *b, size_t *len)
{
	memset(b + HDR_OFF, 0, 32);
	*len = 0x3000;
	memset(b, 0, *len);
	bt_mb_header(b, 0x2000, 1u << 16, NULL);
}
static void m_required_flag(uint8_t *b, size_t *len)
{
	bt_mb_header(b, HDR_OFF, (1u << 16) | (1u << 5), NULL);
	set_addr(b, 0, LOAD + HDR_OFF);
}
static void m_load_end_lt(uint8_t *b, size_t *len) { set_addr(b, 2, LOAD - 0x10); }
static void m_header_lt_load(uint8_t *b, size_t *len) { set_addr(b, 0, LOAD - 4); }
static void m_header_far(uint8_t *b, size_t *len) { set_addr(b, 0, LOAD + 0x800); }
static void m_load_end_past_file(uint8_t *b, size_t *len) { set_addr(b, 2, LOAD + IMG_LEN + 1); }
static void m_bss_lt(uint8_t *b, size_t *len) { set_addr(b, 3, LOAD + 0x10); }
static void m_truncated(uint8_t *b, size_t *len) { *len = HDR_OFF + 20; }
static void m_out_of_ram(uint8_t *b, size_t *len)
{
	set_addr(b, 0, 0x2000000 + HDR_OFF);
	set_addr(b, 1, 0x2000000);
	set_addr(b, 2, 0x2000000 + IMG_LEN);
	set_addr(b, 3, 0);
}
static void m_bss_out_of_ram(uint8_t *b, size_t *len) { set_addr(b, 3, 0xfffffff0); }
static void m_wrap_4g(uint8_t *b, size_t *len)
{
	set_addr(b, 0, 0xffffff00 + HDR_OFF);
	set_addr(b, 1, 0xffffff00);
	set_addr(b, 2, 0);
	set_addr(b, 3, 0);
}
static void m_over_mbi(uint8_t *b, size_t *len)
{
	set_addr(b, 0, VMM_BOOT_MBI + HDR_OFF);
	set_addr(b, 1, VMM_BOOT_MBI);
	set_addr(b, 2, VMM_BOOT_MBI + IMG_LEN);
	set_addr(b, 3, 0);
	set_addr(b, 4, VMM_BOOT_MBI);
}
static void m_entry(uint8_t *b, size_t *len) { set_addr(b, 4, 0xe0000000); }

static const struct {
	const char *name;
	mutate_fn fn;
	int err;
} bad[] = {
	{ "bad checksum", m_checksum, -ENOEXEC },
	{ "header after 8 KiB", m_after_8k, -ENOEXEC },
	{ "unsupported required flag", m_required_flag, -ENOEXEC },
	{ "load_end < load_addr", m_load_end_lt, -ENOEXEC },
	{ "header_addr < load_addr", m_header_lt_load, -ENOEXEC },
	{ "header_addr before the file", m_header_far, -ENOEXEC },
	{ "load_end beyond the file", m_load_end_past_file, -ENOEXEC },
	{ "bss_end < load_end", m_bss_lt, -ENOEXEC },
	{ "truncated address fields", m_truncated, -ENOEXEC },
	{ "image outside RAM", m_out_of_ram, -EFAULT },
	{ "bss outside RAM", m_bss_out_of_ram, -EFAULT },
	{ "image past 4 GiB", m_wrap_4g, -ENOEXEC },
	{ "image over the info", m_over_mbi, -EEXIST },
	{ "entry outside RAM", m_entry, -ENOEXEC },
};

static void test_multiboot_malformed(void **state)
{
	vmm_vm *vm = bt_vm_pattern(RAM);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		static uint8_t img[0x3000];
		size_t len = aout_image(img, 0);
		struct vmm_boot_info bi;

		print_message("  case: %s\n", bad[i].name);
		bad[i].fn(img, &len);
		BT_REFUSED(vm, bad[i].err,
			   vmm_image_load_multiboot(vm, img, len, "c", NULL, 0, &bi));
	}
	vmm_vm_destroy(vm);
}

static void test_multiboot_bad_args(void **state)
{
	vmm_vm *vm = bt_vm_pattern(RAM);
	static uint8_t img[IMG_LEN];
	size_t len = aout_image(img, 0);
	struct vmm_boot_info bi;
	struct vmm_boot_module m = { NULL, 10, NULL };
	struct vmm_boot_module huge = { img, 64 * MIB, NULL };
	char *cmd = malloc(70000);

	memset(cmd, 'a', 69999);
	cmd[69999] = 0;
	assert_int_equal(vmm_image_load_multiboot(NULL, img, len, NULL, NULL, 0, &bi),
			 -EINVAL);
	BT_REFUSED(vm, -EINVAL, vmm_image_load_multiboot(vm, NULL, len, NULL, NULL,
						   0, &bi));
	BT_REFUSED(vm, -EINVAL, vmm_image_load_multiboot(vm, img, len, NULL, NULL,
						   1, &bi));
	BT_REFUSED(vm, -EINVAL, vmm_image_load_multiboot(vm, img, len, NULL, &m, 1,
						   &bi));
	BT_REFUSED(vm, -E2BIG, vmm_image_load_multiboot(vm, img, len, cmd, NULL, 0,
						  &bi));
	m = (struct vmm_boot_module){ img, 16, cmd };
	BT_REFUSED(vm, -E2BIG, vmm_image_load_multiboot(vm, img, len, NULL, &m, 1,
						  &bi));
	BT_REFUSED(vm, -EFAULT, vmm_image_load_multiboot(vm, img, len, NULL, &huge,
						   1, &bi));
	BT_REFUSED(vm, -EINVAL, vmm_image_load_multiboot(vm, img, len, NULL, &m,
						   100000, &bi));
	free(cmd);
	vmm_vm_destroy(vm);
}

struct mb_arg {
	const uint8_t *img;
	size_t len;
};

static int load_mb(vmm_vm *vm, void *arg)
{
	struct mb_arg *a = arg;
	struct vmm_boot_module mods[1] = { { mod0, sizeof(mod0), "m" } };
	struct vmm_boot_info bi;

	return vmm_image_load_multiboot(vm, a->img, a->len, "c", mods, 1, &bi);
}

static void test_multiboot_alloc_failure(void **state)
{
	static uint8_t img[IMG_LEN];
	struct mb_arg a = { img, aout_image(img, 0x3) };

	assert_true(bt_alloc_failure_loop(RAM, load_mb, &a) >= 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_multiboot_aout),
		cmocka_unit_test(test_multiboot_aout_to_eof),
		cmocka_unit_test(test_multiboot_low),
		cmocka_unit_test(test_multiboot_elf),
		cmocka_unit_test(test_multiboot_malformed),
		cmocka_unit_test(test_multiboot_bad_args),
		cmocka_unit_test(test_multiboot_alloc_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
