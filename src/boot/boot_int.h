/* SPDX-License-Identifier: MIT */
/*
 * boot_int.h - helpers shared by the guest loaders in src/boot: bounded
 * little-endian reads from the image, range checks against guest RAM and the
 * boot structures (layout.h), the e820 map builder, the ELF parser that the
 * multiboot loader reuses, and the GDT/page-table writer.
 *
 * Every loader works in two phases: a plan phase that reads and validates
 * the image and the VM's memory map without writing guest memory, then a
 * write phase.  Only allocation failures and the checks before them can
 * fail the write phase's preparation; nothing is written before that.
 */
#ifndef LIBVMM_BOOT_INT_H
#define LIBVMM_BOOT_INT_H

#include "core/internal.h"
#include "boot/layout.h"

#include <stdio.h>
#include <string.h>

/* Little-endian reads; the caller has checked @off + size <= length. */
static inline uint16_t rd16(const uint8_t *p, size_t off)
{
	return (uint16_t)(p[off] | p[off + 1] << 8);
}

static inline uint32_t rd32(const uint8_t *p, size_t off)
{
	return (uint32_t)p[off] | (uint32_t)p[off + 1] << 8 |
	       (uint32_t)p[off + 2] << 16 | (uint32_t)p[off + 3] << 24;
}

static inline uint64_t rd64(const uint8_t *p, size_t off)
{
	return (uint64_t)rd32(p, off) | (uint64_t)rd32(p, off + 4) << 32;
}

static inline void wr16(uint8_t *p, size_t off, uint16_t v)
{
	p[off] = (uint8_t)v;
	p[off + 1] = (uint8_t)(v >> 8);
}

static inline void wr32(uint8_t *p, size_t off, uint32_t v)
{
	wr16(p, off, (uint16_t)v);
	wr16(p, off + 2, (uint16_t)(v >> 16));
}

static inline void wr64(uint8_t *p, size_t off, uint64_t v)
{
	wr32(p, off, (uint32_t)v);
	wr32(p, off + 4, (uint32_t)(v >> 32));
}

/* Boot structure areas (layout.h), as a bit mask of what a loader writes. */
enum boot_area {
	BOOT_AREA_GDT = 1u << 0,
	BOOT_AREA_ZERO_PAGE = 1u << 1,
	BOOT_AREA_MBI = 1u << 2,
	BOOT_AREA_CMDLINE = 1u << 3,
	BOOT_AREA_PT = 1u << 4,
	BOOT_AREA_TSS = 1u << 5, /* and user pages, user GDT entries */
	BOOT_AREA_ACPI = 1u << 6,
};

/*
 * struct boot_plan - the boot structures a loader will write, computed
 * before anything is written.
 * @areas: BOOT_AREA_* bits.
 * @npd:   page directories for LONG64 (each maps 1 GiB).
 */
struct boot_plan {
	unsigned areas;
	unsigned npd;
};

/*
 * boot_plan_init() - the areas needed by @mode plus @extra; for LONG64 size
 * the page tables from the VM's RAM, and check every area is RAM (-EFAULT).
 */
int boot_plan_init(vmm_vm *vm, struct boot_plan *plan, enum vmm_boot_mode mode,
		   unsigned extra);

/*
 * boot_check_range() - [@gpa, @gpa+@len) must not wrap, must be RAM
 * (-EFAULT) and must not overlap an area of @plan (-EEXIST).  @what names
 * the range in the message.  @len == 0 is always fine.
 */
int boot_check_range(vmm_vm *vm, const struct boot_plan *plan, uint64_t gpa,
		     uint64_t len, const char *what);

/*
 * boot_write_tables() - write the GDT and, for LONG64 and LONG64_USER, the
 * identity page tables of @plan (LONG64_USER: user pages, user segments
 * and the TSS too); set @info->gdt and @info->cr3.  May allocate (-ENOMEM).
 */
int boot_write_tables(vmm_vm *vm, const struct boot_plan *plan,
		      struct vmm_boot_info *info);

/*
 * boot_regions() - the VM's regions in an array from vmm__alloc() (free it
 * with vmm__free(); NULL when there are none).  Returns the count or
 * -ENOMEM.
 */
int boot_regions(vmm_vm *vm, struct vmm_mem_info **out);

/* Highest guest RAM address + 1 (0 without RAM) in *@top; 0 or -ENOMEM. */
int boot_ram_top(vmm_vm *vm, uint64_t *top);

/*
 * Memory map as a PC BIOS would report it (Linux e820, multiboot mmap):
 * RAM below 0x9fc00 usable, 0x9fc00 - 0x100000 reserved, RAM above usable,
 * read-only regions reserved.  Adjacent entries of one type are merged.
 */
#define E820_RAM 1
#define E820_RESERVED 2
#define E820_MAX 128

struct e820_entry {
	uint64_t addr, size;
	uint32_t type;
};

/* Returns the number of entries (<= @max) or -ENOMEM. */
int boot_e820(vmm_vm *vm, struct e820_entry *tab, int max);

/*
 * ELF parsing shared by vmm_image_load_elf() and the multiboot loader.
 * boot_elf_plan() validates the whole image (header, program headers, each
 * PT_LOAD against the file and guest RAM and @plan) without writing;
 * boot_elf_write() then copies the segments.
 */
struct elf_image {
	const uint8_t *img;
	size_t len;
	bool is64;
	uint64_t entry;      /* physical, translated through PT_LOAD */
	uint64_t phoff;
	uint32_t phentsize, phnum;
	uint64_t load_start, load_end;
};

int boot_elf_plan(vmm_vm *vm, const struct boot_plan *plan, const void *img,
	     size_t len, struct elf_image *elf);
int boot_elf_write(vmm_vm *vm, const struct elf_image *elf);
/* Just the header checks (class, machine, counts); for boot_elf_plan's callers
 * that must choose the boot mode before planning. */
int boot_elf_check(vmm_vm *vm, const void *img, size_t len, bool *is64);

/*
 * boot_multiboot_find() - offset of a multiboot v1 header (magic and valid
 * checksum, 4-byte aligned, wholly inside the first 8 KiB and the image),
 * or -1.
 */
long boot_multiboot_find(const uint8_t *img, size_t len);

/*
 * ACPI tables (acpi.c): boot_acpi_build() fills @t (@size bytes, to be
 * written at guest-physical @base) for @ncpus vCPUs; boot_acpi_check_ram()
 * checks the area is RAM.  Unit tests parse the result back.
 */
int boot_acpi_build(vmm_vm *vm, unsigned ncpus, uint64_t base, uint8_t *t,
		    size_t size);
int boot_acpi_check_ram(vmm_vm *vm);
size_t boot_acpi_madt_size(unsigned ncpus);

/* Write @s (may be NULL = "") with its NUL at @gpa. */
int boot_write_string(vmm_vm *vm, uint64_t gpa, const char *s);

#endif
