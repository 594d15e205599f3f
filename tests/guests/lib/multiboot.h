/* SPDX-License-Identifier: MIT */
/* multiboot.h - multiboot v1 header constants, for the assembly entries. */
#ifndef TESTS_GUESTS_MULTIBOOT_H
#define TESTS_GUESTS_MULTIBOOT_H

#define MB_HEADER_MAGIC 0x1badb002
#define MB_FLAG_PAGE_ALIGN (1 << 0) /* modules page aligned */
#define MB_FLAG_MEMINFO (1 << 1)    /* we want mem_lower/mem_upper */
#define MB_FLAG_AOUT_KLUDGE (1 << 16) /* header address fields are valid */
#define MB_BOOTLOADER_MAGIC 0x2badb002

#endif
