// SPDX-License-Identifier: MIT
/*
 * flat.c - the flat-binary loader: raw bytes at a guest-physical address,
 * entered there in the mode the caller chooses.
 */
#include "boot/boot_int.h"

#define REAL_MODE_LIMIT 0x100000ull /* CS:IP = gpa >> 4 : gpa & 15 */

static int check_flat(vmm_vm *vm, size_t len, vmm_gpa_t gpa,
		      enum vmm_boot_mode mode)
{
	if (len == 0)
		return vmm__err(vm, -ENOEXEC, "flat: empty image");
	switch (mode) {
	case VMM_BOOT_REAL16:
		if (gpa >= REAL_MODE_LIMIT)
			return vmm__err(vm, -EINVAL,
					"flat: real-mode entry %#llx is above 1 MiB",
					(unsigned long long)gpa);
		return 0;
	case VMM_BOOT_PROT32:
		if (gpa >= (1ull << 32) || len > (1ull << 32) - gpa)
			return vmm__err(vm, -EFAULT,
					"flat: 32-bit image does not fit below 4 GiB");
		return 0;
	case VMM_BOOT_LONG64:
	case VMM_BOOT_LONG64_USER:
		return 0;
	}
	return vmm__err(vm, -EINVAL, "flat: unknown boot mode %d", (int)mode);
}

/**
 * vmm_image_load_flat() - copy a raw image to guest memory.
 * @vm:   the VM.
 * @img:  the image bytes.
 * @len:  their number (> 0).
 * @gpa:  where they go, which is also the entry point (below 1 MiB for
 *        REAL16, below 4 GiB for PROT32, inside the identity map for
 *        LONG64).
 * @mode: the entry mode.  PROT32 and LONG64 also write the boot GDT (and
 *        LONG64 the page tables) of layout.h; LONG64_USER user page
 *        tables, the GDT with user segments and the TSS; REAL16 writes
 *        nothing else.
 * @info: filled on success (untouched on failure).
 *
 * Returns 0, -EINVAL (bad arguments or mode), -ENOEXEC (empty image),
 * -EFAULT (outside RAM), -EEXIST (overlaps the boot structures), -ENOMEM.
 */
int vmm_image_load_flat(vmm_vm *vm, const void *img, size_t len, vmm_gpa_t gpa,
		  enum vmm_boot_mode mode, struct vmm_boot_info *info)
{
	struct vmm_boot_info bi = { 0 };
	struct boot_plan plan;
	int ret;

	if (!vm)
		return -EINVAL;
	if (!img || !info)
		return vmm__err(vm, -EINVAL, "flat: NULL image or info");
	ret = check_flat(vm, len, gpa, mode);
	if (ret < 0)
		return ret;
	ret = boot_plan_init(vm, &plan, mode, 0);
	if (ret < 0)
		return ret;
	ret = boot_check_range(vm, &plan, gpa, len, "flat image");
	if (ret < 0)
		return ret;
	if ((mode == VMM_BOOT_LONG64 || mode == VMM_BOOT_LONG64_USER) &&
	    gpa >= (uint64_t)plan.npd << 30)
		return vmm__err(vm, -EFAULT,
				"flat: entry %#llx beyond the identity map",
				(unsigned long long)gpa);
	ret = boot_write_tables(vm, &plan, &bi);
	if (ret < 0)
		return ret;
	ret = vmm_mem_write(vm, gpa, img, len);
	if (ret < 0)
		return vmm__err(vm, ret, "flat: writing the image failed");
	bi.format = VMM_IMAGE_FLAT;
	bi.mode = mode;
	bi.entry = gpa;
	bi.load_start = gpa;
	bi.load_end = gpa + len;
	*info = bi;
	return 0;
}
