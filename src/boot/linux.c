// SPDX-License-Identifier: MIT
/*
 * linux.c - the Linux x86 boot protocol loader (bzImage, protocol >= 2.06,
 * 64-bit entry): the protected-mode kernel at 1 MiB, the zero page
 * (struct boot_params) with the image's setup header, an e820 map, the
 * command line and the initrd, entered in long mode at load address +
 * 0x200 with RSI = the zero page.  See Documentation/arch/x86/boot.rst.
 *
 * Only the zero page offsets used here are defined; no kernel headers.
 */
#include "boot/boot_int.h"

/* struct boot_params */
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_HDR 0x1f1          /* struct setup_header */
#define BP_HDR_MAX_END 0x290  /* where the header space ends */
#define BP_E820_TABLE 0x2d0
#define BP_E820_ENTRY 20
#define BP_E820_MAX 128

/* struct setup_header, at the same offsets in the image and zero page */
#define SH_SETUP_SECTS 0x1f1
#define SH_VID_MODE 0x1fa
#define SH_JUMP 0x200          /* the byte at 0x201 is the header length */
#define SH_HEADER 0x202
#define SH_VERSION 0x206
#define SH_TYPE_OF_LOADER 0x210
#define SH_LOADFLAGS 0x211
#define SH_CODE32_START 0x214
#define SH_RAMDISK_IMAGE 0x218
#define SH_RAMDISK_SIZE 0x21c
#define SH_HEAP_END_PTR 0x224
#define SH_CMD_LINE_PTR 0x228
#define SH_INITRD_ADDR_MAX 0x22c
#define SH_XLOADFLAGS 0x236
#define SH_CMDLINE_SIZE 0x238
#define SH_SETUP_DATA 0x250
#define SH_PREF_ADDRESS 0x258
#define SH_INIT_SIZE 0x260

#define LOADED_HIGH 0x01
#define CAN_USE_HEAP 0x80
#define XLF_KERNEL_64 0x01
#define VID_NORMAL_VGA 0xffff
#define LOADER_UNDEFINED 0xff
#define HEAP_END 0xfe00        /* 0x10000 - 0x200, the usual choice */
#define SECTOR 512
#define ENTRY_64 0x200         /* startup_64 from the load address */

#define PROTO(maj, min) ((maj) << 8 | (min))

struct linux_plan {
	struct boot_plan bp;
	const uint8_t *img;
	size_t len;
	uint16_t version;
	size_t setup_size;     /* real-mode part, skipped */
	size_t hdr_end;        /* setup header end, clamped */
	uint64_t load, kernel_len, kernel_end;
	uint64_t initrd, initrd_len;
	struct e820_entry e820[BP_E820_MAX];
	int ne820;
};

static int check_header(vmm_vm *vm, struct linux_plan *lp)
{
	const uint8_t *p = lp->img;
	unsigned sects;

	if (lp->len < SH_HEADER + 4 || memcmp(p + SH_HEADER, "HdrS", 4))
		return vmm__err(vm, -ENOEXEC, "linux: no \"HdrS\" at 0x202");
	sects = p[SH_SETUP_SECTS] ? p[SH_SETUP_SECTS] : 4;
	lp->setup_size = (sects + 1) * SECTOR;
	if (lp->setup_size >= lp->len)
		return vmm__err(vm, -ENOEXEC,
				"linux: setup (%zu bytes) not smaller than the file (%zu)",
				lp->setup_size, lp->len);
	/* From here the whole header (< 0x302) is inside the file. */
	lp->version = rd16(p, SH_VERSION);
	if (lp->version < PROTO(2, 6))
		return vmm__err(vm, -ENOEXEC,
				"linux: boot protocol %u.%02u too old (need 2.06)",
				lp->version >> 8, lp->version & 0xff);
	lp->hdr_end = SH_HEADER + p[SH_JUMP + 1];
	if (lp->hdr_end < SH_CMDLINE_SIZE + 4)
		return vmm__err(vm, -ENOEXEC,
				"linux: setup header too short for protocol 2.06");
	if (lp->hdr_end > BP_HDR_MAX_END)
		lp->hdr_end = BP_HDR_MAX_END;
	if (!(p[SH_LOADFLAGS] & LOADED_HIGH))
		return vmm__err(vm, -ENOEXEC,
				"linux: not a bzImage (LOADED_HIGH clear)");
	if (lp->version < PROTO(2, 12) || lp->hdr_end < SH_XLOADFLAGS + 2 ||
	    !(rd16(p, SH_XLOADFLAGS) & XLF_KERNEL_64))
		return vmm__err(vm, -ENOEXEC,
				"linux: kernel has no 64-bit entry (XLF_KERNEL_64)");
	return 0;
}

static int check_cmdline(vmm_vm *vm, const struct linux_plan *lp,
			 const char *cmdline)
{
	size_t n = cmdline ? strlen(cmdline) : 0;
	uint32_t max = rd32(lp->img, SH_CMDLINE_SIZE);

	if (n > max || n >= LAYOUT_CMDLINE_SIZE)
		return vmm__err(vm, -E2BIG,
				"linux: command line of %zu bytes, kernel takes %u",
				n, max);
	return 0;
}

/* The kernel at 1 MiB, and the span it decompresses into. */
static int plan_kernel(vmm_vm *vm, struct linux_plan *lp)
{
	uint64_t start, init_size = 0, end;
	int ret;

	lp->load = LAYOUT_KERNEL;
	lp->kernel_len = lp->len - lp->setup_size;
	ret = boot_check_range(vm, &lp->bp, lp->load, lp->kernel_len,
			       "linux kernel");
	if (ret < 0)
		return ret;
	lp->kernel_end = lp->load + lp->kernel_len;
	if (lp->version >= PROTO(2, 10) && lp->hdr_end >= SH_INIT_SIZE + 4) {
		uint64_t pref = rd64(lp->img, SH_PREF_ADDRESS);

		init_size = rd32(lp->img, SH_INIT_SIZE);
		start = pref > LAYOUT_KERNEL ? pref : LAYOUT_KERNEL;
		if (__builtin_add_overflow(start, init_size, &end))
			return vmm__err(vm, -ENOEXEC,
					"linux: pref_address %#llx overflows",
					(unsigned long long)pref);
		if (end > lp->kernel_end)
			lp->kernel_end = end;
	}
	if (!vmm_mem_is_ram(vm, lp->load, lp->kernel_end - lp->load))
		return vmm__err(vm, -E2BIG,
				"linux: kernel needs RAM [%#llx, %#llx) (init_size %#llx)",
				(unsigned long long)lp->load,
				(unsigned long long)lp->kernel_end,
				(unsigned long long)init_size);
	return 0;
}

/* Highest page-aligned spot below initrd_addr_max, above the kernel. */
static int plan_initrd(vmm_vm *vm, struct linux_plan *lp, size_t ilen)
{
	uint64_t max = (uint64_t)rd32(lp->img, SH_INITRD_ADDR_MAX) + 1;
	struct vmm_mem_info *r;
	int n;

	lp->initrd = 0;
	lp->initrd_len = ilen;
	if (!ilen)
		return 0;
	if (ilen > UINT32_MAX)
		return vmm__err(vm, -E2BIG, "linux: initrd over 4 GiB");
	n = boot_regions(vm, &r);
	if (n < 0)
		return n;
	for (int i = n - 1; i >= 0 && !lp->initrd; i--) {
		uint64_t lo = r[i].gpa, hi = r[i].gpa + r[i].size, at;

		if (r[i].flags & VMM_MEM_READONLY)
			continue;
		if (hi > max)
			hi = max;
		if (lo < lp->kernel_end)
			lo = lp->kernel_end;
		if (hi < lo || hi - lo < ilen)
			continue;
		at = (hi - ilen) & ~(VMM_PAGE_SIZE - 1);
		if (at >= lo)
			lp->initrd = at;
	}
	vmm__free(vm, r);
	if (!lp->initrd)
		return vmm__err(vm, -E2BIG,
				"linux: no room for a %zu-byte initrd between %#llx and %#llx",
				ilen, (unsigned long long)lp->kernel_end,
				(unsigned long long)max);
	return 0;
}

static int plan_linux(vmm_vm *vm, struct linux_plan *lp, size_t ilen,
		      const char *cmdline)
{
	int ret = check_header(vm, lp);

	if (ret == 0)
		ret = check_cmdline(vm, lp, cmdline);
	if (ret == 0)
		ret = boot_plan_init(vm, &lp->bp, VMM_BOOT_LONG64,
				     BOOT_AREA_ZERO_PAGE | BOOT_AREA_CMDLINE |
					     BOOT_AREA_ACPI);
	if (ret == 0)
		ret = plan_kernel(vm, lp);
	if (ret == 0)
		ret = plan_initrd(vm, lp, ilen);
	if (ret == 0) {
		lp->ne820 = boot_e820(vm, lp->e820, BP_E820_MAX);
		if (lp->ne820 < 0)
			ret = lp->ne820;
	}
	return ret;
}

static void build_zero_page(const struct linux_plan *lp, uint8_t *zp)
{
	memset(zp, 0, LAYOUT_ZERO_PAGE_SIZE);
	memcpy(zp + BP_HDR, lp->img + BP_HDR, lp->hdr_end - BP_HDR);
	wr16(zp, SH_VID_MODE, VID_NORMAL_VGA);
	zp[SH_TYPE_OF_LOADER] = LOADER_UNDEFINED;
	zp[SH_LOADFLAGS] |= CAN_USE_HEAP;
	wr16(zp, SH_HEAP_END_PTR, HEAP_END);
	wr32(zp, SH_CODE32_START, (uint32_t)lp->load);
	wr32(zp, SH_RAMDISK_IMAGE, (uint32_t)lp->initrd);
	wr32(zp, SH_RAMDISK_SIZE, (uint32_t)lp->initrd_len);
	wr32(zp, SH_CMD_LINE_PTR, (uint32_t)LAYOUT_CMDLINE);
	wr32(zp, BP_EXT_RAMDISK_IMAGE, 0);
	wr32(zp, BP_EXT_RAMDISK_SIZE, 0);
	wr32(zp, BP_EXT_CMD_LINE_PTR, 0);
	if (lp->hdr_end >= SH_SETUP_DATA + 8)
		wr64(zp, SH_SETUP_DATA, 0); /* we pass no setup_data */
	wr64(zp, BP_ACPI_RSDP_ADDR, LAYOUT_ACPI);
	zp[BP_E820_ENTRIES] = (uint8_t)lp->ne820;
	for (int i = 0; i < lp->ne820; i++) {
		uint8_t *e = zp + BP_E820_TABLE + (size_t)i * BP_E820_ENTRY;

		wr64(e, 0, lp->e820[i].addr);
		wr64(e, 8, lp->e820[i].size);
		wr32(e, 16, lp->e820[i].type);
	}
}

static int write_linux(vmm_vm *vm, const struct linux_plan *lp,
		       const void *initrd, const char *cmdline,
		       struct vmm_boot_info *bi)
{
	uint8_t *zp = vmm__alloc(vm, LAYOUT_ZERO_PAGE_SIZE);
	uint8_t *acpi = vmm__alloc(vm, LAYOUT_ACPI_SIZE);
	unsigned ncpus = vmm__vm_config(vm)->ncpus;
	int ret;

	if (!zp || !acpi) {
		vmm__free(vm, zp);
		vmm__free(vm, acpi);
		return vmm__err(vm, -ENOMEM, "linux: no memory for the zero page");
	}
	build_zero_page(lp, zp);
	/* the ACPI tables are built before anything is written */
	ret = boot_acpi_build(vm, ncpus ? ncpus : 1, LAYOUT_ACPI, acpi,
			      LAYOUT_ACPI_SIZE);
	if (ret < 0) {
		vmm__free(vm, zp);
		vmm__free(vm, acpi);
		return ret;
	}
	ret = boot_write_tables(vm, &lp->bp, bi);
	if (ret == 0)
		ret = vmm_mem_write(vm, LAYOUT_ACPI, acpi, LAYOUT_ACPI_SIZE);
	if (ret == 0)
		ret = vmm_mem_write(vm, lp->load, lp->img + lp->setup_size,
				    lp->kernel_len);
	if (ret == 0 && lp->initrd_len)
		ret = vmm_mem_write(vm, lp->initrd, initrd, lp->initrd_len);
	if (ret == 0)
		ret = boot_write_string(vm, LAYOUT_CMDLINE, cmdline);
	if (ret == 0)
		ret = vmm_mem_write(vm, LAYOUT_ZERO_PAGE, zp,
				    LAYOUT_ZERO_PAGE_SIZE);
	vmm__free(vm, zp);
	vmm__free(vm, acpi);
	if (ret < 0)
		return vmm__err(vm, ret, "linux: writing guest memory failed");
	return 0;
}

/**
 * vmm_image_load_linux() - load a Linux bzImage for the 64-bit boot protocol.
 * @vm:      the VM; needs RAM at 0 (boot structures, layout.h) and from
 *           1 MiB up to what the kernel's init_size asks for.
 * @kernel:  the bzImage.
 * @klen:    its length.
 * @initrd:  an initrd/initramfs, or NULL.
 * @ilen:    its length (0 = none); placed page-aligned as high as
 *           initrd_addr_max and RAM below 4 GiB allow, above the kernel.
 * @cmdline: the kernel command line (NULL = ""), at most the header's
 *           cmdline_size bytes.
 * @info:    filled on success (untouched on failure): LONG64, entry = 1 MiB
 *           + 0x200, RSI = boot_params = the zero page.
 *
 * Returns 0, -EINVAL (bad arguments), -ENOEXEC (not a bzImage, protocol
 * before 2.06 or 2.12 for the 64-bit entry, bad header), -EFAULT (outside
 * RAM), -E2BIG (kernel, initrd or command line too big), -ENOMEM.  Nothing
 * is written to guest memory unless all checks pass.
 */
int vmm_image_load_linux(vmm_vm *vm, const void *kernel, size_t klen,
		   const void *initrd, size_t ilen, const char *cmdline,
		   struct vmm_boot_info *info)
{
	struct vmm_boot_info bi = { 0 };
	struct linux_plan *lp;
	int ret;

	if (!vm)
		return -EINVAL;
	if (!kernel || !info || (!initrd && ilen))
		return vmm__err(vm, -EINVAL, "linux: NULL kernel, initrd or info");
	lp = vmm__alloc(vm, sizeof(*lp));
	if (!lp)
		return vmm__err(vm, -ENOMEM, "linux: out of memory");
	lp->img = kernel;
	lp->len = klen;
	ret = plan_linux(vm, lp, ilen, cmdline);
	if (ret == 0)
		ret = write_linux(vm, lp, initrd, cmdline, &bi);
	if (ret == 0) {
		bi.format = VMM_IMAGE_BZIMAGE;
		bi.mode = VMM_BOOT_LONG64;
		bi.entry = lp->load + ENTRY_64;
		bi.regs[VMM_RSI] = LAYOUT_ZERO_PAGE;
		bi.boot_params = LAYOUT_ZERO_PAGE;
		bi.cmdline_gpa = LAYOUT_CMDLINE;
		bi.initrd_gpa = lp->initrd;
		bi.initrd_len = lp->initrd_len;
		bi.load_start = lp->load;
		bi.load_end = lp->load + lp->kernel_len;
		*info = bi;
	}
	vmm__free(vm, lp);
	return ret;
}
