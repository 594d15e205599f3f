// SPDX-License-Identifier: MIT
/*
 * test_linux.c - the bzImage loader on a synthetic image: kernel at 1 MiB,
 * zero page (setup header copy, loader fields, e820), command line, initrd
 * placement, 64-bit entry state; every header check (right errno, guest RAM
 * untouched); allocation failures.
 */
#include "boot_test.h"

#define RAM (64 * MIB)
#define PAYLOAD 0x2000
#define IMG (BT_BZ_SETUP + PAYLOAD)

static uint8_t img[IMG];
static uint8_t initrd[3 * 4096 + 100];

static void zp_read(vmm_vm *vm, uint8_t *zp)
{
	assert_int_equal(vmm_mem_read(vm, VMM_BOOT_ZERO_PAGE, zp, 4096), 0);
}

static void test_linux_loads(void **state)
{
	vmm_vm *vm = bt_vm_pattern(RAM);
	static uint8_t got[sizeof(initrd)], zp[4096];
	const char *cmd = "console=ttyS0 root=/dev/vda";
	struct vmm_boot_info bi;
	struct vmm_cpu_state st;
	size_t len = bt_bzimage(img, PAYLOAD);

	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i * 3);
	assert_int_equal(vmm_image_load_linux(vm, img, len, initrd, sizeof(initrd),
					cmd, &bi), 0);
	assert_int_equal(bi.format, VMM_IMAGE_BZIMAGE);
	assert_int_equal(bi.mode, VMM_BOOT_LONG64);
	assert_int_equal(bi.entry, 0x100200);
	assert_int_equal(bi.regs[VMM_RSI], VMM_BOOT_ZERO_PAGE);
	assert_int_equal(bi.boot_params, VMM_BOOT_ZERO_PAGE);
	assert_int_equal(bi.cmdline_gpa, VMM_BOOT_CMDLINE);
	assert_int_equal(bi.cr3, VMM_BOOT_PML4);
	assert_int_equal(bi.load_start, 0x100000);
	assert_int_equal(bi.load_end, 0x100000 + PAYLOAD);
	/* initrd: page-aligned, as high as RAM allows. */
	assert_int_equal(bi.initrd_len, sizeof(initrd));
	assert_int_equal(bi.initrd_gpa % 4096, 0);
	assert_true(bi.initrd_gpa + sizeof(initrd) <= RAM);
	assert_true(bi.initrd_gpa + sizeof(initrd) + 4096 > RAM);
	assert_int_equal(vmm_mem_read(vm, bi.initrd_gpa, got, sizeof(got)), 0);
	assert_memory_equal(got, initrd, sizeof(initrd));
	/* Kernel: the protected-mode part at 1 MiB. */
	assert_int_equal(vmm_mem_read(vm, 0x100000, got, 0x1000), 0);
	assert_memory_equal(got, img + BT_BZ_SETUP, 0x1000);
	/* Command line. */
	assert_int_equal(vmm_mem_read(vm, VMM_BOOT_CMDLINE, got,
				      strlen(cmd) + 1), 0);
	assert_string_equal((char *)got, cmd);

	/* Zero page. */
	zp_read(vm, zp);
	for (size_t o = 0; o < 0x1f1; o++)
		if (o != 0x1e8 && (o < 0x70 || o >= 0x78))
			assert_int_equal(zp[o], 0);
	/* boot_params.acpi_rsdp_addr: the RSDP of the tables written */
	assert_int_equal(g64(zp, 0x70), VMM_BOOT_ACPI);
	assert_int_equal(zp[0x1f1], BT_BZ_SETUP_SECTS);   /* header copied */
	assert_int_equal(g16(zp, 0x1fe), 0xaa55);
	assert_memory_equal(zp + 0x202, "HdrS", 4);
	assert_int_equal(g16(zp, 0x206), 0x20f);
	assert_int_equal(g16(zp, 0x20e), 0x1234);
	assert_int_equal(g32(zp, 0x238), 2047);
	assert_int_equal(g64(zp, 0x258), 0x1000000);
	assert_int_equal(g32(zp, 0x260), 0x200000);
	assert_int_equal(g16(zp, 0x1fa), 0xffff);         /* vid_mode */
	assert_int_equal(zp[0x210], 0xff);                /* type_of_loader */
	assert_int_equal(zp[0x211], 0x81);                /* LOADED_HIGH|CAN_USE_HEAP */
	assert_int_equal(g16(zp, 0x224), 0xfe00);
	assert_int_equal(g32(zp, 0x214), 0x100000);       /* code32_start */
	assert_int_equal(g32(zp, 0x218), bi.initrd_gpa);
	assert_int_equal(g32(zp, 0x21c), sizeof(initrd));
	assert_int_equal(g32(zp, 0x228), VMM_BOOT_CMDLINE);
	for (size_t o = 0x268; o < 0x2d0; o++)            /* beyond the header */
		assert_int_equal(zp[o], 0);
	assert_int_equal(zp[0x1e8], 3);
	const uint64_t want[3][3] = { { 0, 0x9fc00, 1 },
				      { 0x9fc00, 0x100000 - 0x9fc00, 2 },
				      { 0x100000, RAM - 0x100000, 1 } };
	for (int i = 0; i < 3; i++) {
		assert_int_equal(g64(zp, 0x2d0 + i * 20), want[i][0]);
		assert_int_equal(g64(zp, 0x2d0 + i * 20 + 8), want[i][1]);
		assert_int_equal(g32(zp, 0x2d0 + i * 20 + 16), want[i][2]);
	}

	/* 64-bit boot protocol entry state. */
	vmm_boot_build_state(&bi, &st);
	assert_int_equal(st.rip, 0x100200);
	assert_int_equal(st.gpr[VMM_RSI], VMM_BOOT_ZERO_PAGE);
	assert_int_equal(st.seg[VMM_CS].selector, 0x10);  /* __BOOT_CS */
	assert_int_equal(st.seg[VMM_CS].l, 1);
	assert_int_equal(st.seg[VMM_DS].selector, 0x18);  /* __BOOT_DS */
	assert_int_equal(st.seg[VMM_SS].selector, 0x18);
	assert_int_equal(st.rflags, 2);
	assert_true(st.msr.efer & VMM_EFER_LMA);
	vmm_vm_destroy(vm);
}

static void test_linux_no_initrd_sects0(void **state)
{
	vmm_vm *vm = bt_vm_pattern(RAM);
	static uint8_t zp[4096], got[16];
	struct vmm_boot_info bi;
	size_t len = bt_bzimage(img, PAYLOAD);

	img[0x1f1] = 0; /* means 4 */
	assert_int_equal(vmm_image_load_linux(vm, img, len, NULL, 0, NULL, &bi), 0);
	assert_int_equal(bi.initrd_gpa, 0);
	assert_int_equal(bi.initrd_len, 0);
	zp_read(vm, zp);
	assert_int_equal(g32(zp, 0x218), 0);
	assert_int_equal(g32(zp, 0x21c), 0);
	assert_int_equal(vmm_mem_read(vm, 0x100000, got, sizeof(got)), 0);
	assert_memory_equal(got, img + BT_BZ_SETUP, sizeof(got));
	assert_int_equal(vmm_mem_read(vm, VMM_BOOT_CMDLINE, got, 1), 0);
	assert_int_equal(got[0], 0);
	vmm_vm_destroy(vm);
}

/* The initrd stays below initrd_addr_max and above the kernel's span. */
static void test_linux_initrd_addr_max(void **state)
{
	vmm_vm *vm = bt_vm_pattern(RAM);
	struct vmm_boot_info bi;
	size_t len = bt_bzimage(img, PAYLOAD);

	p32(img, 0x22c, 0x1ffffff); /* 32 MiB - 1 */
	assert_int_equal(vmm_image_load_linux(vm, img, len, initrd, sizeof(initrd),
					NULL, &bi), 0);
	assert_int_equal(bi.initrd_gpa,
			 (0x2000000 - sizeof(initrd)) & ~0xfffull);
	vmm_vm_destroy(vm);
}

typedef void (*mutate_fn)(uint8_t *b, size_t *len);

static void m_no_hdrs(uint8_t *b, size_t *len) { b[0x203] = 'x'; }
static void m_truncated(uint8_t *b, size_t *len) { *len = 0x204; }
static void m_old(uint8_t *b, size_t *len) { p16(b, 0x206, 0x205); }
static void m_no_64(uint8_t *b, size_t *len) { p16(b, 0x206, 0x20b); }
static void m_setup_big(uint8_t *b, size_t *len) { b[0x1f1] = 200; }
static void m_setup_eq(uint8_t *b, size_t *len) { *len = BT_BZ_SETUP; }
static void m_not_high(uint8_t *b, size_t *len) { b[0x211] = 0; }
static void m_xlf(uint8_t *b, size_t *len) { p16(b, 0x236, 0x2); }
static void m_short_hdr(uint8_t *b, size_t *len) { b[0x201] = 0x30; }
static void m_cmdline_size(uint8_t *b, size_t *len) { p32(b, 0x238, 4); }
static void m_init_size(uint8_t *b, size_t *len) { p32(b, 0x260, 0xf0000000); }
static void m_pref_ovf(uint8_t *b, size_t *len) { p64(b, 0x258, ~0ull - 0x1000); }
static void m_pref_far(uint8_t *b, size_t *len) { p64(b, 0x258, 1ull << 40); }
static void m_initrd_max(uint8_t *b, size_t *len) { p32(b, 0x22c, 0x11fffff); }

static const struct {
	const char *name;
	mutate_fn fn;
	int err;
} bad[] = {
	{ "no HdrS", m_no_hdrs, -ENOEXEC },
	{ "truncated", m_truncated, -ENOEXEC },
	{ "protocol 2.05", m_old, -ENOEXEC },
	{ "protocol 2.11 (no 64-bit entry)", m_no_64, -ENOEXEC },
	{ "setup_sects beyond the file", m_setup_big, -ENOEXEC },
	{ "no protected-mode part", m_setup_eq, -ENOEXEC },
	{ "not LOADED_HIGH", m_not_high, -ENOEXEC },
	{ "no XLF_KERNEL_64", m_xlf, -ENOEXEC },
	{ "setup header too short", m_short_hdr, -ENOEXEC },
	{ "cmdline longer than cmdline_size", m_cmdline_size, -E2BIG },
	{ "init_size beyond RAM", m_init_size, -E2BIG },
	{ "pref_address overflow", m_pref_ovf, -ENOEXEC },
	{ "pref_address beyond RAM", m_pref_far, -E2BIG },
	{ "initrd_addr_max below the kernel", m_initrd_max, -E2BIG },
};

static void test_linux_malformed(void **state)
{
	vmm_vm *vm = bt_vm_pattern(RAM);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = bt_bzimage(img, PAYLOAD);
		struct vmm_boot_info bi;

		print_message("  case: %s\n", bad[i].name);
		bad[i].fn(img, &len);
		BT_REFUSED(vm, bad[i].err,
			   vmm_image_load_linux(vm, img, len, initrd, sizeof(initrd),
					  "console=ttyS0", &bi));
	}
	vmm_vm_destroy(vm);
}

static void test_linux_does_not_fit(void **state)
{
	size_t len = bt_bzimage(img, PAYLOAD);
	struct vmm_boot_info bi;
	vmm_vm *vm = bt_vm_pattern(MIB); /* no RAM for the kernel at all */

	BT_REFUSED(vm, -EFAULT, vmm_image_load_linux(vm, img, len, NULL, 0, NULL, &bi));
	vmm_vm_destroy(vm);

	vm = bt_vm_pattern(RAM);
	uint8_t *big = malloc(RAM);
	BT_REFUSED(vm, -E2BIG, vmm_image_load_linux(vm, img, len, big, RAM - 16 * MIB,
					      NULL, &bi));
	BT_REFUSED(vm, -EINVAL, vmm_image_load_linux(vm, img, len, NULL, 5, NULL, &bi));
	BT_REFUSED(vm, -EINVAL, vmm_image_load_linux(vm, NULL, len, NULL, 0, NULL, &bi));
	BT_REFUSED(vm, -EINVAL, vmm_image_load_linux(vm, img, len, NULL, 0, NULL, NULL));
	assert_int_equal(vmm_image_load_linux(NULL, img, len, NULL, 0, NULL, &bi),
			 -EINVAL);
	free(big);
	vmm_vm_destroy(vm);
}

static int load_linux(vmm_vm *vm, void *arg)
{
	struct vmm_boot_info bi;

	return vmm_image_load_linux(vm, img, *(size_t *)arg, initrd, sizeof(initrd),
			      "x", &bi);
}

static void test_linux_alloc_failure(void **state)
{
	size_t len = bt_bzimage(img, PAYLOAD);

	assert_true(bt_alloc_failure_loop(RAM, load_linux, &len) >= 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_linux_loads),
		cmocka_unit_test(test_linux_no_initrd_sects0),
		cmocka_unit_test(test_linux_initrd_addr_max),
		cmocka_unit_test(test_linux_malformed),
		cmocka_unit_test(test_linux_does_not_fit),
		cmocka_unit_test(test_linux_alloc_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
