/* SPDX-License-Identifier: MIT */
/*
 * layout.h - where the loaders put their boot structures in low guest
 * memory.
 *
 * The CPU structures live in conventional memory below 640 KiB, away from
 * the real-mode IVT and BIOS data area (0 - 0x4ff, never written); the
 * firmware-like data (ACPI tables, multiboot info) in the BIOS window
 * 0xe0000 - 0xfffff, which the e820 map reports reserved (0x9fc00 - 1 MiB):
 *
 *   0x000500 - 0x0005ff  GDT (LAYOUT_GDT_ENTRIES descriptors, see below)
 *   0x001000 - 0x003068  64-bit TSS with an all-open I/O bitmap
 *                        (LONG64_USER only)
 *   0x007000 - 0x007fff  Linux zero page (struct boot_params)
 *   0x010000 - 0x01ffff  kernel command line (Linux and multiboot)
 *   0x020000 - 0x020fff  PML4
 *   0x021000 - 0x021fff  PDPT
 *   0x022000 - 0x061fff  page directories, one per GiB, 2 MiB pages
 *                        (4 .. LAYOUT_PT_MAX_PD of them)
 *   0x0e0000 - 0x0effff  ACPI tables (RSDP first, acpi.c): in the BIOS
 *                        area, e820-reserved, where an OS scans for the RSDP
 *   0x0f0000 - 0x0f7fff  multiboot info, memory map, module list, strings
 *                        (e820-reserved, like QEMU's: a multiboot or flat
 *                        image may load anywhere in conventional memory)
 *   0x100000 -           where Linux is loaded; where ELF and multiboot
 *                        images usually are.
 *
 * A loader writes only the areas its mode needs (PROT32: GDT; LONG64: GDT
 * and page tables; plus its own zero page / info / cmdline) and refuses
 * with -EEXIST an image that overlaps any area it writes.  RAM needed by an
 * area that is not there gives -EFAULT.
 *
 * GDT (the same address for all loaders, written with the accessed bit set
 * so the CPU never writes it back):
 *   0x00  null
 *   0x08  the "other" code segment: code64 in PROT32, code32 in LONG64
 *   0x10  boot CS: flat 4 GiB code32 (PROT32) or code64 (LONG64); this is
 *         Linux's __BOOT_CS and vmm_state_flat_protected()'s CS
 *   0x18  boot DS/ES/SS/FS/GS: flat 4 GiB read/write data (__BOOT_DS)
 *   0x20  code64 (always), 0x28 code32 (always): stable selectors for
 *         guests that switch modes
 *   LONG64_USER only (GDT limit LAYOUT_GDT_ENTRIES_USER * 8 - 1):
 *   0x30  DPL-3 flat data, 0x38 DPL-3 code64, 0x40 the TSS (16 bytes)
 */
#ifndef LIBVMM_BOOT_LAYOUT_H
#define LIBVMM_BOOT_LAYOUT_H

#include <libvmm/boot.h>

#define LAYOUT_GDT 0x500ull
#define LAYOUT_GDT_SIZE 0x100ull
#define LAYOUT_GDT_ENTRIES 6
#define LAYOUT_GDT_ENTRIES_USER 10 /* + user data, user code64, TSS (2) */
#define LAYOUT_TSS 0x1000ull
#define LAYOUT_TSS_SIZE (104ull + 8192 + 1) /* + I/O bitmap + 0xff */

#define LAYOUT_ZERO_PAGE 0x7000ull
#define LAYOUT_ZERO_PAGE_SIZE 0x1000ull

#define LAYOUT_ACPI 0xe0000ull
#define LAYOUT_ACPI_SIZE 0x10000ull

#define LAYOUT_MBI 0xf0000ull
#define LAYOUT_MBI_SIZE 0x8000ull

#define LAYOUT_CMDLINE 0x10000ull
#define LAYOUT_CMDLINE_SIZE 0x10000ull

#define LAYOUT_PML4 0x20000ull
#define LAYOUT_PDPT 0x21000ull
#define LAYOUT_PD 0x22000ull
#define LAYOUT_PT_MIN_PD 4u  /* always map the first 4 GiB */
#define LAYOUT_PT_MAX_PD 64u /* at most 64 GiB identity-mapped */

/* End of conventional memory as the e820 map reports it. */
#define LAYOUT_EBDA 0x9fc00ull
#define LAYOUT_HIGH_MEM 0x100000ull

/* Where Linux's protected-mode kernel goes. */
#define LAYOUT_KERNEL 0x100000ull

/* Selectors of the boot GDT. */
#define LAYOUT_SEL_OTHER 0x08
#define LAYOUT_SEL_CODE 0x10
#define LAYOUT_SEL_DATA 0x18
#define LAYOUT_SEL_CODE64 0x20
#define LAYOUT_SEL_CODE32 0x28
#define LAYOUT_SEL_USER_DATA 0x30
#define LAYOUT_SEL_USER_CODE64 0x38
#define LAYOUT_SEL_TSS 0x40
_Static_assert(LAYOUT_SEL_USER_DATA + 3 == VMM_BOOT_SEL_USER_DATA &&
		       LAYOUT_SEL_USER_CODE64 + 3 == VMM_BOOT_SEL_USER_CODE64 &&
		       LAYOUT_SEL_TSS == VMM_BOOT_SEL_TSS &&
		       LAYOUT_TSS == VMM_BOOT_TSS &&
		       LAYOUT_TSS_SIZE == VMM_BOOT_TSS_SIZE,
	       "layout.h and libvmm/boot.h agree");
_Static_assert(LAYOUT_GDT_ENTRIES_USER * 8 <= LAYOUT_GDT_SIZE &&
		       LAYOUT_TSS + LAYOUT_TSS_SIZE <= 0x7000,
	       "boot areas do not overlap");

_Static_assert(LAYOUT_GDT == VMM_BOOT_GDT, "boot.h and layout.h agree");
_Static_assert(LAYOUT_ZERO_PAGE == VMM_BOOT_ZERO_PAGE, "boot.h/layout.h");
_Static_assert(LAYOUT_MBI == VMM_BOOT_MBI, "boot.h/layout.h");
_Static_assert(LAYOUT_CMDLINE == VMM_BOOT_CMDLINE, "boot.h/layout.h");
_Static_assert(LAYOUT_PML4 == VMM_BOOT_PML4, "boot.h/layout.h");
_Static_assert(LAYOUT_PD + LAYOUT_PT_MAX_PD * 0x1000ull == VMM_BOOT_AREA_END,
	       "boot.h/layout.h");
_Static_assert(LAYOUT_SEL_CODE == VMM_BOOT_SEL_CODE, "boot.h/layout.h");
_Static_assert(LAYOUT_SEL_DATA == VMM_BOOT_SEL_DATA, "boot.h/layout.h");
_Static_assert(LAYOUT_SEL_CODE64 == VMM_BOOT_SEL_CODE64, "boot.h/layout.h");
_Static_assert(LAYOUT_SEL_CODE32 == VMM_BOOT_SEL_CODE32, "boot.h/layout.h");
_Static_assert(LAYOUT_ZERO_PAGE >= LAYOUT_GDT + LAYOUT_GDT_SIZE &&
	       LAYOUT_CMDLINE >= LAYOUT_ZERO_PAGE + LAYOUT_ZERO_PAGE_SIZE &&
	       LAYOUT_PML4 >= LAYOUT_CMDLINE + LAYOUT_CMDLINE_SIZE &&
	       VMM_BOOT_AREA_END <= LAYOUT_EBDA,
	       "boot areas do not overlap and stay below the EBDA");
_Static_assert(LAYOUT_ACPI >= LAYOUT_EBDA &&
	       LAYOUT_MBI >= LAYOUT_ACPI + LAYOUT_ACPI_SIZE &&
	       LAYOUT_MBI + LAYOUT_MBI_SIZE <= LAYOUT_HIGH_MEM,
	       "ACPI tables and multiboot info in the reserved BIOS area");
_Static_assert(LAYOUT_ACPI == VMM_BOOT_ACPI, "boot.h/layout.h");

#endif
