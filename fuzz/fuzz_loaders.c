// SPDX-License-Identifier: MIT
/*
 * fuzz_loaders.c - libFuzzer target for the guest loaders (src/boot).
 *
 * One null-backend VM with 64 MiB of RAM is created once.  Each input is
 *   byte 0: options (bits 0-1 flat mode, bit 2 pass a module/initrd,
 *           bit 3 pass a command line)
 *   rest:   the image,
 * fed to vmm_image_detect() and to every loader; a successful load also
 * goes through vmm_boot_build_state().  Invariant checked besides the
 * sanitizers: a loader that fails has written no guest page (the VMM-side
 * dirty log stays empty).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

#define RAM (64ull << 20)
#define WORDS (RAM / 4096 / 64)

static vmm_vm *vm;
static uint64_t dirty[WORDS];

static void setup_once(void)
{
	struct vmm_config cfg;

	vmm_config_init(&cfg);
	cfg.ram_size = RAM;
	if (vmm__vm_create_null(&cfg, &vm) || vmm_mem_dirty_log(vm, true))
		abort();
}

static int dirty_pages(void)
{
	int n = vmm_mem_dirty_fetch(vm, 0, dirty, WORDS);

	if (n < 0)
		abort();
	return n;
}

/* After a loader returned @ret: failures must not have written memory. */
static void check(int ret, const struct vmm_boot_info *bi)
{
	struct vmm_cpu_state st;

	if (ret < 0) {
		if (dirty_pages())
			abort();
		return;
	}
	if (ret > 0)
		abort();
	vmm_boot_build_state(bi, &st);
	dirty_pages();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char cmdline[] = "console=ttyS0 fuzz";
	struct vmm_boot_module mod;
	struct vmm_boot_info bi;
	const uint8_t *img;
	const char *cmd;
	size_t len, mlen;
	uint8_t opt;

	if (!vm)
		setup_once();
	if (size < 1)
		return 0;
	opt = data[0];
	img = data + 1;
	len = size - 1;
	cmd = (opt & 8) ? cmdline : NULL;
	mlen = (opt & 4) ? (len < 64 ? len : 64) : 0;
	mod = (struct vmm_boot_module){ img, mlen, "mod" };
	dirty_pages();

	(void)vmm_image_detect(img, len);
	check(vmm_image_load_flat(vm, img, len, 0x100000 - (opt & 0x30) * 0x1000,
			    (enum vmm_boot_mode)(opt & 3), &bi), &bi);
	check(vmm_image_load_elf(vm, img, len, &bi), &bi);
	check(vmm_image_load_multiboot(vm, img, len, cmd, &mod, mlen ? 1 : 0, &bi),
	      &bi);
	check(vmm_image_load_linux(vm, img, len, mlen ? img : NULL, mlen, cmd, &bi),
	      &bi);
	return 0;
}
