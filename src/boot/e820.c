// SPDX-License-Identifier: MIT
/*
 * e820.c - the guest's memory map as a PC BIOS would report it, built from
 * the VM's regions: used for Linux's e820 table and the multiboot mmap.
 */
#include "boot/boot_int.h"

static int e820_add(struct e820_entry *tab, int n, int max, uint64_t addr,
		    uint64_t end, uint32_t type)
{
	if (end <= addr)
		return n;
	if (n > 0 && tab[n - 1].type == type &&
	    tab[n - 1].addr + tab[n - 1].size == addr) {
		tab[n - 1].size += end - addr;
		return n;
	}
	if (n >= max)
		return n; /* table full: drop (cannot happen with <= 64 regions) */
	tab[n].addr = addr;
	tab[n].size = end - addr;
	tab[n].type = type;
	return n + 1;
}

int boot_e820(vmm_vm *vm, struct e820_entry *tab, int max)
{
	struct vmm_mem_info *r;
	int nr = boot_regions(vm, &r);
	int n = 0;

	if (nr < 0)
		return nr;
	/* Conventional memory below the EBDA. */
	for (int i = 0; i < nr; i++) {
		uint64_t end = r[i].gpa + r[i].size;
		uint32_t type = (r[i].flags & VMM_MEM_READONLY) ? E820_RESERVED
								 : E820_RAM;

		if (end > LAYOUT_EBDA)
			end = LAYOUT_EBDA;
		n = e820_add(tab, n, max, r[i].gpa, end, type);
	}
	/* EBDA, VGA window, option ROMs and BIOS. */
	n = e820_add(tab, n, max, LAYOUT_EBDA, LAYOUT_HIGH_MEM, E820_RESERVED);
	/* Everything from 1 MiB. */
	for (int i = 0; i < nr; i++) {
		uint64_t start = r[i].gpa;
		uint32_t type = (r[i].flags & VMM_MEM_READONLY) ? E820_RESERVED
								 : E820_RAM;

		if (start < LAYOUT_HIGH_MEM)
			start = LAYOUT_HIGH_MEM;
		n = e820_add(tab, n, max, start, r[i].gpa + r[i].size, type);
	}
	vmm__free(vm, r);
	return n;
}
