// SPDX-License-Identifier: MIT
/*
 * test_bzimage_real.c - load a real Linux bzImage (the Debian cloud
 * kernel): $VMM_TEST_BZIMAGE, else /tmp/kimg/boot/vmlinuz-6.1.0-56-cloud-
 * amd64; skipped when neither exists.  Checks the zero page against the
 * image's own setup header, the e820 map, command line, initrd and entry.
 */
#include "boot_test.h"

#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_BZIMAGE "/tmp/kimg/boot/vmlinuz-6.1.0-56-cloud-amd64"
#define RAM (256 * MIB)

static uint8_t *kernel;
static size_t klen;

static int load_file(void **state)
{
	const char *path = getenv("VMM_TEST_BZIMAGE");
	struct stat sb;
	FILE *f = NULL;

	if (path && *path)
		f = fopen(path, "rb");
	if (!f)
		f = fopen(DEFAULT_BZIMAGE, "rb");
	if (!f || fstat(fileno(f), &sb) < 0 || sb.st_size < 0x1000) {
		if (f)
			fclose(f);
		return 0; /* tests skip */
	}
	klen = (size_t)sb.st_size;
	kernel = malloc(klen);
	if (!kernel || fread(kernel, 1, klen, f) != klen) {
		fclose(f);
		return -1;
	}
	fclose(f);
	return 0;
}

static int free_file(void **state)
{
	free(kernel);
	return 0;
}

static void test_real_bzimage(void **state)
{
	static uint8_t zp[4096], initrd[256 * 1024], got[4096];
	const char *cmd = "console=ttyS0 earlyprintk=serial panic=-1";
	struct vmm_boot_info bi;
	struct vmm_cpu_state st;
	size_t setup, hdr_end;
	vmm_vm *vm;

	if (!kernel)
		skip();
	assert_int_equal(vmm_image_detect(kernel, klen), VMM_IMAGE_BZIMAGE);
	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i ^ (i >> 8));
	vm = bt_vm(RAM);
	assert_int_equal(vmm_image_load_linux(vm, kernel, klen, initrd,
					sizeof(initrd), cmd, &bi), 0);
	setup = ((kernel[0x1f1] ? kernel[0x1f1] : 4) + 1) * 512;
	hdr_end = 0x202 + kernel[0x201];

	assert_int_equal(bi.entry, 0x100200);
	assert_int_equal(bi.mode, VMM_BOOT_LONG64);
	assert_int_equal(bi.load_end - bi.load_start, klen - setup);
	assert_int_equal(vmm_mem_read(vm, 0x100000, got, sizeof(got)), 0);
	assert_memory_equal(got, kernel + setup, sizeof(got));
	assert_int_equal(vmm_mem_read(vm, 0x100000 + klen - setup - 4096, got,
				      4096), 0);
	assert_memory_equal(got, kernel + klen - 4096, 4096);

	assert_int_equal(vmm_mem_read(vm, VMM_BOOT_ZERO_PAGE, zp, sizeof(zp)),
			 0);
	/* The setup header is the image's, except the loader's fields. */
	for (size_t o = 0x1f1; o < hdr_end; o++) {
		bool ours = o == 0x1fa || o == 0x1fb ||   /* vid_mode */
			    o == 0x210 || o == 0x211 ||   /* loader, flags */
			    (o >= 0x214 && o < 0x220) ||  /* code32, ramdisk */
			    (o >= 0x224 && o < 0x226) ||  /* heap_end_ptr */
			    (o >= 0x228 && o < 0x22c) ||  /* cmd_line_ptr */
			    (o >= 0x250 && o < 0x258);    /* setup_data */
		if (!ours)
			assert_int_equal(zp[o], kernel[o]);
	}
	assert_int_equal(zp[0x210], 0xff);
	assert_int_equal(zp[0x211], kernel[0x211] | 0x80);
	assert_int_equal(g32(zp, 0x214), 0x100000);         /* code32_start */
	assert_int_equal(g32(zp, 0x228), VMM_BOOT_CMDLINE);
	assert_int_equal(g32(zp, 0x21c), sizeof(initrd));
	uint32_t rd = g32(zp, 0x218);
	assert_int_equal(rd, bi.initrd_gpa);
	assert_int_equal(rd % 4096, 0);
	/* Above what the kernel decompresses into, high in RAM. */
	assert_true(rd >= g64(kernel, 0x258) + g32(kernel, 0x260));
	assert_true(rd + sizeof(initrd) <= RAM && rd + sizeof(initrd) + 4096 > RAM);
	assert_int_equal(vmm_mem_read(vm, rd, got, sizeof(got)), 0);
	assert_memory_equal(got, initrd, sizeof(got));
	assert_int_equal(vmm_mem_read(vm, VMM_BOOT_CMDLINE, got,
				      strlen(cmd) + 1), 0);
	assert_string_equal((char *)got, cmd);

	assert_int_equal(zp[0x1e8], 3);
	assert_int_equal(g64(zp, 0x2d0), 0);
	assert_int_equal(g64(zp, 0x2d0 + 8), 0x9fc00);
	assert_int_equal(g32(zp, 0x2d0 + 16), 1);
	assert_int_equal(g64(zp, 0x2e4), 0x9fc00);
	assert_int_equal(g32(zp, 0x2e4 + 16), 2);
	assert_int_equal(g64(zp, 0x2f8), 0x100000);
	assert_int_equal(g64(zp, 0x2f8 + 8), RAM - 0x100000);
	assert_int_equal(g32(zp, 0x2f8 + 16), 1);

	vmm_boot_build_state(&bi, &st);
	assert_int_equal(st.rip, 0x100200);
	assert_int_equal(st.gpr[VMM_RSI], VMM_BOOT_ZERO_PAGE);
	assert_int_equal(st.seg[VMM_CS].l, 1);
	vmm_vm_destroy(vm);
}

/* Truncating the real image anywhere never writes guest memory. */
static void test_real_bzimage_truncated(void **state)
{
	static const size_t cuts[] = { 0x1f0, 0x203, 0x300, 0x1000, 0x4000 };
	struct vmm_boot_info bi;
	vmm_vm *vm;

	if (!kernel)
		skip();
	vm = bt_vm_pattern(16 * MIB);
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		int err = vmm_image_load_linux(vm, kernel, cuts[i], NULL, 0, NULL, &bi);

		assert_true(err == -ENOEXEC || err == -E2BIG);
	}
	/* 16 MiB is too small for this kernel's init_size. */
	BT_REFUSED(vm, -E2BIG, vmm_image_load_linux(vm, kernel, klen, NULL, 0, NULL,
					      &bi));
	vmm_vm_destroy(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_bzimage),
		cmocka_unit_test(test_real_bzimage_truncated),
	};

	const char *env = getenv("VMM_TEST_BZIMAGE");

	if ((!env || access(env, R_OK)) && access(DEFAULT_BZIMAGE, R_OK)) {
		printf("no bzImage (set VMM_TEST_BZIMAGE): skipped\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, load_file, free_file);
}
