// SPDX-License-Identifier: MIT
/*
 * elf.c - the ELF32/ELF64 loader: PT_LOAD segments at their physical
 * addresses, bss zeroed.  ELF32 (EM_386) starts in PROT32, ELF64
 * (EM_X86_64) in LONG64 with identity paging.  The parser is shared with
 * the multiboot loader.
 */
#include "boot/boot_int.h"

#define EI_CLASS 4
#define EI_DATA 5
#define EI_VERSION 6
#define ELFCLASS32 1
#define ELFCLASS64 2
#define ELFDATA2LSB 1
#define ET_EXEC 2
#define EM_386 3
#define EM_X86_64 62
#define PT_LOAD 1

#define EHDR32_SIZE 52
#define EHDR64_SIZE 64
#define PHDR32_SIZE 32
#define PHDR64_SIZE 56

/* More program headers than any real kernel has; refuse beyond. */
#define ELF_MAX_PHNUM 4096

struct phdr {
	uint32_t type;
	uint64_t offset, vaddr, paddr, filesz, memsz;
};

static void read_phdr(const struct elf_image *elf, uint32_t i,
		      struct phdr *ph)
{
	const uint8_t *p = elf->img + elf->phoff + (uint64_t)i * elf->phentsize;

	ph->type = rd32(p, 0);
	if (elf->is64) {
		ph->offset = rd64(p, 8);
		ph->vaddr = rd64(p, 16);
		ph->paddr = rd64(p, 24);
		ph->filesz = rd64(p, 32);
		ph->memsz = rd64(p, 40);
	} else {
		ph->offset = rd32(p, 4);
		ph->vaddr = rd32(p, 8);
		ph->paddr = rd32(p, 12);
		ph->filesz = rd32(p, 16);
		ph->memsz = rd32(p, 20);
	}
}

int boot_elf_check(vmm_vm *vm, const void *img, size_t len, bool *is64)
{
	const uint8_t *p = img;
	uint16_t machine, phentsize, phnum;

	if (!img || len < EHDR32_SIZE || memcmp(p, "\x7f" "ELF", 4))
		return vmm__err(vm, -ENOEXEC, "elf: not an ELF image");
	if (p[EI_CLASS] != ELFCLASS32 && p[EI_CLASS] != ELFCLASS64)
		return vmm__err(vm, -ENOEXEC, "elf: bad class %u",
				p[EI_CLASS]);
	*is64 = p[EI_CLASS] == ELFCLASS64;
	if (*is64 && len < EHDR64_SIZE)
		return vmm__err(vm, -ENOEXEC, "elf: truncated ELF64 header");
	if (p[EI_DATA] != ELFDATA2LSB || p[EI_VERSION] != 1 ||
	    rd32(p, 20) != 1)
		return vmm__err(vm, -ENOEXEC,
				"elf: not a little-endian version 1 ELF");
	if (rd16(p, 16) != ET_EXEC)
		return vmm__err(vm, -ENOEXEC, "elf: type %u is not ET_EXEC",
				rd16(p, 16));
	machine = rd16(p, 18);
	if (machine != (*is64 ? EM_X86_64 : EM_386))
		return vmm__err(vm, -ENOEXEC,
				"elf: machine %u is wrong for ELF%d", machine,
				*is64 ? 64 : 32);
	phentsize = rd16(p, *is64 ? 54 : 42);
	phnum = rd16(p, *is64 ? 56 : 44);
	if (phentsize < (*is64 ? PHDR64_SIZE : PHDR32_SIZE))
		return vmm__err(vm, -ENOEXEC, "elf: e_phentsize %u too small",
				phentsize);
	if (phnum == 0 || phnum > ELF_MAX_PHNUM)
		return vmm__err(vm, -ENOEXEC, "elf: e_phnum %u out of range",
				phnum);
	return 0;
}

static int check_segment(vmm_vm *vm, const struct boot_plan *plan,
			 const struct elf_image *elf, const struct phdr *ph,
			 uint32_t i)
{
	uint64_t end;
	char what[32];

	if (ph->filesz > ph->memsz)
		return vmm__err(vm, -ENOEXEC,
				"elf: segment %u: p_filesz %#llx > p_memsz %#llx",
				i, (unsigned long long)ph->filesz,
				(unsigned long long)ph->memsz);
	if (__builtin_add_overflow(ph->offset, ph->filesz, &end) ||
	    end > elf->len)
		return vmm__err(vm, -ENOEXEC,
				"elf: segment %u lies outside the file", i);
	if (__builtin_add_overflow(ph->paddr, ph->memsz, &end) ||
	    (!elf->is64 && end > (1ull << 32)))
		return vmm__err(vm, -ENOEXEC,
				"elf: segment %u: address %#llx + size %#llx overflows",
				i, (unsigned long long)ph->paddr,
				(unsigned long long)ph->memsz);
	snprintf(what, sizeof(what), "elf segment %u", i);
	return boot_check_range(vm, plan, ph->paddr, ph->memsz, what);
}

/* Translate e_entry (virtual) to physical through the PT_LOAD segments. */
static uint64_t entry_phys(const struct elf_image *elf, uint64_t entry)
{
	struct phdr ph;

	for (uint32_t i = 0; i < elf->phnum; i++) {
		read_phdr(elf, i, &ph);
		if (ph.type == PT_LOAD && entry >= ph.vaddr &&
		    entry - ph.vaddr < ph.memsz)
			return ph.paddr + (entry - ph.vaddr);
	}
	return entry;
}

static int plan_segments(vmm_vm *vm, const struct boot_plan *plan,
			 struct elf_image *elf)
{
	struct phdr ph;
	unsigned nload = 0;
	int ret;

	elf->load_start = UINT64_MAX;
	elf->load_end = 0;
	for (uint32_t i = 0; i < elf->phnum; i++) {
		read_phdr(elf, i, &ph);
		if (ph.type != PT_LOAD)
			continue;
		ret = check_segment(vm, plan, elf, &ph, i);
		if (ret < 0)
			return ret;
		if (ph.memsz == 0)
			continue;
		if (ph.paddr < elf->load_start)
			elf->load_start = ph.paddr;
		if (ph.paddr + ph.memsz > elf->load_end)
			elf->load_end = ph.paddr + ph.memsz;
		nload++;
	}
	if (!nload)
		return vmm__err(vm, -ENOEXEC, "elf: no loadable segment");
	return 0;
}

int boot_elf_plan(vmm_vm *vm, const struct boot_plan *plan, const void *img,
	     size_t len, struct elf_image *elf)
{
	const uint8_t *p = img;
	uint64_t phend;
	int ret;

	ret = boot_elf_check(vm, img, len, &elf->is64);
	if (ret < 0)
		return ret;
	elf->img = p;
	elf->len = len;
	elf->phoff = elf->is64 ? rd64(p, 32) : rd32(p, 28);
	elf->phentsize = rd16(p, elf->is64 ? 54 : 42);
	elf->phnum = rd16(p, elf->is64 ? 56 : 44);
	if (__builtin_add_overflow(elf->phoff,
				   (uint64_t)elf->phnum * elf->phentsize,
				   &phend) ||
	    phend > len)
		return vmm__err(vm, -ENOEXEC,
				"elf: program headers lie outside the file");
	ret = plan_segments(vm, plan, elf);
	if (ret < 0)
		return ret;
	elf->entry = entry_phys(elf, elf->is64 ? rd64(p, 24) : rd32(p, 24));
	if (!vmm_mem_is_ram(vm, elf->entry, 1))
		return vmm__err(vm, -ENOEXEC,
				"elf: entry point %#llx is not in guest RAM",
				(unsigned long long)elf->entry);
	return 0;
}

int boot_elf_write(vmm_vm *vm, const struct elf_image *elf)
{
	struct phdr ph;
	int ret;

	for (uint32_t i = 0; i < elf->phnum; i++) {
		read_phdr(elf, i, &ph);
		if (ph.type != PT_LOAD || ph.memsz == 0)
			continue;
		ret = vmm_mem_write(vm, ph.paddr, elf->img + ph.offset,
				    ph.filesz);
		if (ret == 0)
			ret = vmm_mem_fill(vm, ph.paddr + ph.filesz, 0,
					   ph.memsz - ph.filesz);
		if (ret < 0)
			return vmm__err(vm, ret,
					"elf: writing segment %u failed", i);
	}
	return 0;
}

/**
 * vmm_image_load_elf() - load an ELF32 or ELF64 executable.
 * @vm:   the VM, with RAM where the segments and boot structures go.
 * @img:  the file's bytes.
 * @len:  its length.
 * @info: filled on success (untouched on failure).
 *
 * Returns 0, -EINVAL (bad arguments), -ENOEXEC (not a valid x86 ELF
 * executable), -EFAULT (a segment or boot structure outside RAM), -EEXIST
 * (a segment overlaps the boot structures of layout.h) or -ENOMEM.  Guest
 * memory is not written unless all checks pass.
 */
int vmm_image_load_elf(vmm_vm *vm, const void *img, size_t len,
		 struct vmm_boot_info *info)
{
	struct vmm_boot_info bi = { 0 };
	struct boot_plan plan;
	struct elf_image elf;
	bool is64;
	int ret;

	if (!vm)
		return -EINVAL;
	if (!img || !info)
		return vmm__err(vm, -EINVAL, "elf: NULL image or info");
	ret = boot_elf_check(vm, img, len, &is64);
	if (ret < 0)
		return ret;
	bi.mode = is64 ? VMM_BOOT_LONG64 : VMM_BOOT_PROT32;
	ret = boot_plan_init(vm, &plan, bi.mode, 0);
	if (ret < 0)
		return ret;
	ret = boot_elf_plan(vm, &plan, img, len, &elf);
	if (ret < 0)
		return ret;
	if (is64 && elf.entry >= (uint64_t)plan.npd << 30)
		return vmm__err(vm, -ENOEXEC,
				"elf: entry %#llx beyond the identity map",
				(unsigned long long)elf.entry);
	ret = boot_write_tables(vm, &plan, &bi);
	if (ret < 0)
		return ret;
	ret = boot_elf_write(vm, &elf);
	if (ret < 0)
		return ret;
	bi.format = VMM_IMAGE_ELF;
	bi.entry = elf.entry;
	bi.load_start = elf.load_start;
	bi.load_end = elf.load_end;
	*info = bi;
	return 0;
}
