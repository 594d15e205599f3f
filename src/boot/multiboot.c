// SPDX-License-Identifier: MIT
/*
 * multiboot.c - the multiboot v1 loader: the image per the header's
 * address fields (flag bit 16, the "a.out kludge") or as an ELF file,
 * modules page-aligned after it, and the multiboot information structure
 * (memory sizes, memory map, command lines, modules, boot loader name) in
 * the area layout.h reserves for it.  Entry in flat 32-bit protected mode,
 * EAX = 0x2BADB002, EBX = the information structure.
 */
#include "boot/boot_int.h"

#define MB_MAGIC 0x1badb002u
#define MB_BOOT_MAGIC 0x2badb002u
#define MB_SEARCH 8192
#define MB_HDR_MIN 12
#define MB_HDR_ADDR 32 /* with the address fields */

/* Header flags: bits 0-15 are requirements, 16-31 optional features. */
#define MB_F_PAGE_ALIGN (1u << 0)
#define MB_F_MEMINFO (1u << 1)
#define MB_F_VIDEO (1u << 2) /* accepted, no video mode is set (as QEMU) */
#define MB_F_AOUT_KLUDGE (1u << 16)
#define MB_F_SUPPORTED (MB_F_PAGE_ALIGN | MB_F_MEMINFO | MB_F_VIDEO)

/* Information structure. */
#define MBI_FLAGS 0
#define MBI_MEM_LOWER 4
#define MBI_MEM_UPPER 8
#define MBI_CMDLINE 16
#define MBI_MODS_COUNT 20
#define MBI_MODS_ADDR 24
#define MBI_MMAP_LENGTH 44
#define MBI_MMAP_ADDR 48
#define MBI_LOADER_NAME 64
#define MBI_SIZE 128 /* 116 bytes, rounded */
#define MBI_I_MEM (1u << 0)
#define MBI_I_CMDLINE (1u << 2)
#define MBI_I_MODS (1u << 3)
#define MBI_I_MMAP (1u << 6)
#define MBI_I_LOADER_NAME (1u << 9)
#define MB_MMAP_ENTRY 24
#define MB_MOD_ENTRY 16

#define MB_LOADER_NAME "libvmm"
#define FOUR_GIB (1ull << 32)

long boot_multiboot_find(const uint8_t *img, size_t len)
{
	size_t lim = len < MB_SEARCH ? len : MB_SEARCH;

	for (size_t off = 0; off + MB_HDR_MIN <= lim; off += 4) {
		uint32_t magic = rd32(img, off);

		if (magic == MB_MAGIC &&
		    (uint32_t)(magic + rd32(img, off + 4) +
			       rd32(img, off + 8)) == 0)
			return (long)off;
	}
	return -1;
}

/* What the loader will write, all validated before the first write. */
struct mb_plan {
	struct boot_plan bp;
	struct elf_image elf;
	bool aout;
	uint64_t file_off, load_addr, load_len, bss_len;
	uint64_t entry;
	uint64_t img_end;
	struct e820_entry e820[E820_MAX];
	int ne820;
	uint64_t mod_addr[256];
	size_t mbi_size;
};

#define MB_MAX_MODS VMM_ARRAY_SIZE(((struct mb_plan *)0)->mod_addr)

/* The a.out kludge: the header's address fields say what to load where. */
static int plan_aout(vmm_vm *vm, struct mb_plan *mp, const uint8_t *p,
		     size_t len, size_t h)
{
	uint32_t header_addr, load_addr, load_end, bss_end;
	uint64_t d;

	if (h + MB_HDR_ADDR > len)
		return vmm__err(vm, -ENOEXEC,
				"multiboot: truncated address fields");
	header_addr = rd32(p, h + 12);
	load_addr = rd32(p, h + 16);
	load_end = rd32(p, h + 20);
	bss_end = rd32(p, h + 24);
	if (load_addr > header_addr || header_addr - load_addr > h)
		return vmm__err(vm, -ENOEXEC,
				"multiboot: header_addr %#x inconsistent with load_addr %#x",
				header_addr, load_addr);
	d = header_addr - load_addr;
	mp->file_off = h - d;
	if (load_end == 0) {
		mp->load_len = len - mp->file_off;
	} else {
		if (load_end < load_addr)
			return vmm__err(vm, -ENOEXEC,
					"multiboot: load_end_addr %#x < load_addr %#x",
					load_end, load_addr);
		mp->load_len = load_end - load_addr;
		if (mp->load_len > len - mp->file_off)
			return vmm__err(vm, -ENOEXEC,
					"multiboot: load_end_addr %#x beyond the file",
					load_end);
	}
	if (d >= mp->load_len)
		return vmm__err(vm, -ENOEXEC,
				"multiboot: header outside the loaded part");
	if (load_addr + mp->load_len > FOUR_GIB)
		return vmm__err(vm, -ENOEXEC,
				"multiboot: image goes beyond 4 GiB");
	mp->load_addr = load_addr;
	mp->bss_len = 0;
	if (bss_end) {
		if (bss_end < load_addr + mp->load_len)
			return vmm__err(vm, -ENOEXEC,
					"multiboot: bss_end_addr %#x below the image end",
					bss_end);
		mp->bss_len = bss_end - (load_addr + mp->load_len);
	}
	mp->entry = rd32(p, h + 28);
	mp->img_end = load_addr + mp->load_len + mp->bss_len;
	if (!vmm_mem_is_ram(vm, mp->entry, 1))
		return vmm__err(vm, -ENOEXEC,
				"multiboot: entry_addr %#llx not in guest RAM",
				(unsigned long long)mp->entry);
	return boot_check_range(vm, &mp->bp, mp->load_addr,
				mp->load_len + mp->bss_len, "multiboot image");
}

static int plan_elf(vmm_vm *vm, struct mb_plan *mp, const void *img,
		    size_t len)
{
	int ret = boot_elf_plan(vm, &mp->bp, img, len, &mp->elf);

	if (ret < 0)
		return ret;
	if (mp->elf.entry >= FOUR_GIB || mp->elf.load_end > FOUR_GIB)
		return vmm__err(vm, -ENOEXEC,
				"multiboot: ELF image or entry above 4 GiB");
	mp->entry = mp->elf.entry;
	mp->load_addr = mp->elf.load_start;
	mp->img_end = mp->elf.load_end;
	return 0;
}

static int plan_modules(vmm_vm *vm, struct mb_plan *mp,
			const struct vmm_boot_module *mods, unsigned nmods)
{
	uint64_t addr = VMM_ALIGN_UP(mp->img_end, VMM_PAGE_SIZE);
	int ret;

	if (nmods > MB_MAX_MODS)
		return vmm__err(vm, -EINVAL, "multiboot: %u modules, max %zu",
				nmods, MB_MAX_MODS);
	for (unsigned i = 0; i < nmods; i++) {
		if (!mods[i].data && mods[i].len)
			return vmm__err(vm, -EINVAL,
					"multiboot: module %u has no data", i);
		if (mods[i].len > FOUR_GIB - addr)
			return vmm__err(vm, -E2BIG,
					"multiboot: module %u does not fit below 4 GiB",
					i);
		ret = boot_check_range(vm, &mp->bp, addr, mods[i].len,
				       "multiboot module");
		if (ret < 0)
			return ret;
		mp->mod_addr[i] = addr;
		addr = VMM_ALIGN_UP(addr + mods[i].len, VMM_PAGE_SIZE);
	}
	return 0;
}

/* Size of the information area: structure, mmap, modules, strings. */
static int plan_mbi(vmm_vm *vm, struct mb_plan *mp, const char *cmdline,
		    const struct vmm_boot_module *mods, unsigned nmods)
{
	size_t size = MBI_SIZE + (size_t)mp->ne820 * MB_MMAP_ENTRY +
		      (size_t)nmods * MB_MOD_ENTRY + sizeof(MB_LOADER_NAME);

	if (cmdline && strlen(cmdline) >= LAYOUT_CMDLINE_SIZE)
		return vmm__err(vm, -E2BIG,
				"multiboot: command line longer than %llu bytes",
				LAYOUT_CMDLINE_SIZE - 1);
	for (unsigned i = 0; i < nmods; i++) {
		size_t l = mods[i].cmdline ? strlen(mods[i].cmdline) : 0;

		if (l >= LAYOUT_MBI_SIZE)
			return vmm__err(vm, -E2BIG,
					"multiboot: module %u command line too long",
					i);
		size += l + 1;
	}
	if (size > LAYOUT_MBI_SIZE)
		return vmm__err(vm, -E2BIG,
				"multiboot: info, memory map and module strings need %zu bytes, max %llu",
				size, LAYOUT_MBI_SIZE);
	mp->mbi_size = size;
	return 0;
}

static int plan_multiboot(vmm_vm *vm, struct mb_plan *mp, const uint8_t *p,
			  size_t len, const char *cmdline,
			  const struct vmm_boot_module *mods, unsigned nmods)
{
	long h = boot_multiboot_find(p, len);
	uint32_t flags;
	int ret;

	if (h < 0)
		return vmm__err(vm, -ENOEXEC,
				"multiboot: no header with a valid checksum in the first 8 KiB");
	flags = rd32(p, (size_t)h + 4);
	if (flags & 0xffffu & ~MB_F_SUPPORTED)
		return vmm__err(vm, -ENOEXEC,
				"multiboot: unsupported required flags %#x",
				flags & 0xffffu & ~MB_F_SUPPORTED);
	if (nmods && !mods)
		return vmm__err(vm, -EINVAL, "multiboot: NULL module array");
	ret = boot_plan_init(vm, &mp->bp, VMM_BOOT_PROT32,
			     BOOT_AREA_MBI | BOOT_AREA_CMDLINE);
	if (ret < 0)
		return ret;
	mp->aout = flags & MB_F_AOUT_KLUDGE;
	if (mp->aout)
		ret = plan_aout(vm, mp, p, len, (size_t)h);
	else
		ret = plan_elf(vm, mp, p, len);
	if (ret < 0)
		return ret;
	ret = plan_modules(vm, mp, mods, nmods);
	if (ret < 0)
		return ret;
	mp->ne820 = boot_e820(vm, mp->e820, E820_MAX);
	if (mp->ne820 < 0)
		return mp->ne820;
	return plan_mbi(vm, mp, cmdline, mods, nmods);
}

static void fill_meminfo(const struct mb_plan *mp, uint8_t *mbi)
{
	uint64_t lower = 0, upper = 0;

	for (int i = 0; i < mp->ne820; i++) {
		const struct e820_entry *e = &mp->e820[i];

		if (e->type != E820_RAM)
			continue;
		if (e->addr == 0)
			lower = e->size < 0xa0000 ? e->size : 0xa0000;
		if (e->addr == LAYOUT_HIGH_MEM)
			upper = e->size;
	}
	if (upper / 1024 > UINT32_MAX)
		upper = (uint64_t)UINT32_MAX * 1024;
	wr32(mbi, MBI_MEM_LOWER, (uint32_t)(lower / 1024));
	wr32(mbi, MBI_MEM_UPPER, (uint32_t)(upper / 1024));
}

/* Build the information area in @mbi (mp->mbi_size bytes, zeroed). */
static void build_mbi(const struct mb_plan *mp, uint8_t *mbi,
		      const struct vmm_boot_module *mods, unsigned nmods)
{
	size_t mmap = MBI_SIZE;
	size_t modtab = mmap + (size_t)mp->ne820 * MB_MMAP_ENTRY;
	size_t str = modtab + (size_t)nmods * MB_MOD_ENTRY;

	wr32(mbi, MBI_FLAGS, MBI_I_MEM | MBI_I_CMDLINE | MBI_I_MODS |
				     MBI_I_MMAP | MBI_I_LOADER_NAME);
	fill_meminfo(mp, mbi);
	wr32(mbi, MBI_CMDLINE, (uint32_t)LAYOUT_CMDLINE);
	for (int i = 0; i < mp->ne820; i++) {
		uint8_t *e = mbi + mmap + (size_t)i * MB_MMAP_ENTRY;

		wr32(e, 0, MB_MMAP_ENTRY - 4);
		wr64(e, 4, mp->e820[i].addr);
		wr64(e, 12, mp->e820[i].size);
		wr32(e, 20, mp->e820[i].type);
	}
	wr32(mbi, MBI_MMAP_LENGTH, (uint32_t)(mp->ne820 * MB_MMAP_ENTRY));
	wr32(mbi, MBI_MMAP_ADDR, (uint32_t)(LAYOUT_MBI + mmap));
	wr32(mbi, MBI_MODS_COUNT, nmods);
	wr32(mbi, MBI_MODS_ADDR, (uint32_t)(LAYOUT_MBI + modtab));
	memcpy(mbi + str, MB_LOADER_NAME, sizeof(MB_LOADER_NAME));
	wr32(mbi, MBI_LOADER_NAME, (uint32_t)(LAYOUT_MBI + str));
	str += sizeof(MB_LOADER_NAME);
	for (unsigned i = 0; i < nmods; i++) {
		uint8_t *m = mbi + modtab + (size_t)i * MB_MOD_ENTRY;
		const char *s = mods[i].cmdline ? mods[i].cmdline : "";
		size_t l = strlen(s) + 1;

		wr32(m, 0, (uint32_t)mp->mod_addr[i]);
		wr32(m, 4, (uint32_t)(mp->mod_addr[i] + mods[i].len));
		wr32(m, 8, (uint32_t)(LAYOUT_MBI + str));
		memcpy(mbi + str, s, l);
		str += l;
	}
}

static int write_image(vmm_vm *vm, const struct mb_plan *mp,
		       const uint8_t *p)
{
	int ret;

	if (!mp->aout)
		return boot_elf_write(vm, &mp->elf);
	ret = vmm_mem_write(vm, mp->load_addr, p + mp->file_off, mp->load_len);
	if (ret == 0)
		ret = vmm_mem_fill(vm, mp->load_addr + mp->load_len, 0,
				   mp->bss_len);
	return ret;
}

static int write_multiboot(vmm_vm *vm, const struct mb_plan *mp,
			   const uint8_t *p, const char *cmdline,
			   const struct vmm_boot_module *mods, unsigned nmods,
			   struct vmm_boot_info *bi)
{
	uint8_t *mbi = vmm__alloc(vm, mp->mbi_size);
	int ret;

	if (!mbi)
		return vmm__err(vm, -ENOMEM, "multiboot: no memory for the info");
	build_mbi(mp, mbi, mods, nmods);
	ret = boot_write_tables(vm, &mp->bp, bi);
	if (ret == 0)
		ret = write_image(vm, mp, p);
	for (unsigned i = 0; ret == 0 && i < nmods; i++)
		ret = vmm_mem_write(vm, mp->mod_addr[i], mods[i].data,
				    mods[i].len);
	if (ret == 0)
		ret = boot_write_string(vm, LAYOUT_CMDLINE, cmdline);
	if (ret == 0)
		ret = vmm_mem_write(vm, LAYOUT_MBI, mbi, mp->mbi_size);
	vmm__free(vm, mbi);
	if (ret < 0)
		return vmm__err(vm, ret, "multiboot: writing guest memory failed");
	return 0;
}

/**
 * vmm_image_load_multiboot() - load a multiboot v1 kernel.
 * @vm:      the VM; needs RAM at 0 for the boot structures (layout.h).
 * @img:     the kernel image.
 * @len:     its length.
 * @cmdline: kernel command line (NULL = ""), at most 64 KiB - 1.
 * @mods:    @nmods modules (data, length, command line), loaded
 *           page-aligned after the kernel, all below 4 GiB.
 * @nmods:   how many (at most 256).
 * @info:    filled on success (untouched on failure).
 *
 * Header flag bits 0 (page-aligned modules; always done), 1 (memory
 * information; always given) and 2 (video mode; accepted, none is set) are
 * supported; any other required bit (3-15) refuses the kernel.
 *
 * Returns 0, -EINVAL (bad arguments), -ENOEXEC (no valid header, bad
 * address fields, bad ELF), -EFAULT (outside RAM), -EEXIST (overlaps the
 * boot structures), -E2BIG (command lines or modules too big), -ENOMEM.
 * Nothing is written to guest memory unless all checks pass.
 */
int vmm_image_load_multiboot(vmm_vm *vm, const void *img, size_t len,
		       const char *cmdline, const struct vmm_boot_module *mods,
		       unsigned nmods, struct vmm_boot_info *info)
{
	struct vmm_boot_info bi = { 0 };
	struct mb_plan *mp;
	int ret;

	if (!vm)
		return -EINVAL;
	if (!img || !info)
		return vmm__err(vm, -EINVAL, "multiboot: NULL image or info");
	mp = vmm__alloc(vm, sizeof(*mp));
	if (!mp)
		return vmm__err(vm, -ENOMEM, "multiboot: out of memory");
	ret = plan_multiboot(vm, mp, img, len, cmdline, mods, nmods);
	if (ret == 0)
		ret = write_multiboot(vm, mp, img, cmdline, mods, nmods, &bi);
	if (ret == 0) {
		bi.format = VMM_IMAGE_MULTIBOOT;
		bi.mode = VMM_BOOT_PROT32;
		bi.entry = mp->entry;
		bi.regs[VMM_RAX] = MB_BOOT_MAGIC;
		bi.regs[VMM_RBX] = LAYOUT_MBI;
		bi.cmdline_gpa = LAYOUT_CMDLINE;
		bi.load_start = mp->load_addr;
		bi.load_end = mp->img_end;
		*info = bi;
	}
	vmm__free(vm, mp);
	return ret;
}
