// SPDX-License-Identifier: MIT
/*
 * test_detect.c - vmm_image_detect() and vmm_image_format_name().
 */
#include "boot_test.h"

static void test_names(void **state)
{
	assert_string_equal(vmm_image_format_name(VMM_IMAGE_FLAT), "flat");
	assert_string_equal(vmm_image_format_name(VMM_IMAGE_ELF), "elf");
	assert_string_equal(vmm_image_format_name(VMM_IMAGE_MULTIBOOT),
			    "multiboot");
	assert_string_equal(vmm_image_format_name(VMM_IMAGE_BZIMAGE),
			    "bzimage");
	assert_string_equal(vmm_image_format_name(VMM_IMAGE_UNKNOWN),
			    "unknown");
	assert_string_equal(vmm_image_format_name((enum vmm_image_format)99),
			    "unknown");
}

static void test_detect(void **state)
{
	static uint8_t b[16384];
	struct bt_seg s = { BT_PT_LOAD, 0, 0x100000, 0x100000, 0x10, 0x10 };

	assert_int_equal(vmm_image_detect(NULL, 10), VMM_IMAGE_UNKNOWN);
	assert_int_equal(vmm_image_detect(b, 0), VMM_IMAGE_UNKNOWN);
	memset(b, 0x90, sizeof(b));
	assert_int_equal(vmm_image_detect(b, sizeof(b)), VMM_IMAGE_FLAT);
	assert_int_equal(vmm_image_detect(b, 3), VMM_IMAGE_FLAT);

	memset(b, 0, sizeof(b));
	bt_elf(b, true, 0x100000, &s, 1);
	assert_int_equal(vmm_image_detect(b, 200), VMM_IMAGE_ELF);
	/* A multiboot header inside an ELF file wins... */
	bt_mb_header(b, 0x1000, 0x3, NULL);
	assert_int_equal(vmm_image_detect(b, sizeof(b)), VMM_IMAGE_MULTIBOOT);
	/* ...but only with a valid checksum, */
	p32(b, 0x1008, 0);
	assert_int_equal(vmm_image_detect(b, sizeof(b)), VMM_IMAGE_ELF);
	/* only 4-byte aligned, */
	memset(b + 0x1000, 0, 12);
	bt_mb_header(b, 0x1002, 0x3, NULL);
	assert_int_equal(vmm_image_detect(b, sizeof(b)), VMM_IMAGE_ELF);
	/* only within the first 8 KiB, */
	memset(b + 0x1002, 0, 12);
	bt_mb_header(b, 8192 - 8, 0x3, NULL);
	assert_int_equal(vmm_image_detect(b, sizeof(b)), VMM_IMAGE_ELF);
	memset(b + 8192 - 8, 0, 12);
	bt_mb_header(b, 8192 - 12, 0x3, NULL);
	assert_int_equal(vmm_image_detect(b, sizeof(b)), VMM_IMAGE_MULTIBOOT);
	/* and only wholly inside the image. */
	assert_int_equal(vmm_image_detect(b, 8192 - 4), VMM_IMAGE_ELF);

	/* bzImage: "HdrS" at 0x202, checked first. */
	memcpy(b + 0x202, "HdrS", 4);
	assert_int_equal(vmm_image_detect(b, sizeof(b)), VMM_IMAGE_BZIMAGE);
	assert_int_equal(vmm_image_detect(b, 0x205), VMM_IMAGE_ELF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_detect),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
