// SPDX-License-Identifier: MIT
/*
 * tables.c - the boot structures every protected/long-mode loader shares:
 * planning which layout.h areas are written, range checks against guest
 * RAM and those areas, and writing the GDT and identity page tables.
 */
#include "boot/boot_int.h"

#define GIB (1ull << 30)
#define PTE_P 0x1ull
#define PTE_RW 0x2ull
#define PTE_US 0x4ull
#define PTE_PS 0x80ull

/* Flat 4 GiB descriptors, accessed bit set. */
#define DESC_CODE32 0x00cf9b000000ffffull
#define DESC_DATA 0x00cf93000000ffffull
#define DESC_CODE64 0x00af9b000000ffffull
#define DESC_USER_DATA 0x00cff3000000ffffull
#define DESC_USER_CODE64 0x00affb000000ffffull
#define DESC_TSS64_TYPE 0x89ull /* present, available 64-bit TSS */
#define TSS_IOMAP_BASE 102      /* offset of the I/O map base field */
#define TSS_BASE_SIZE 104

struct area {
	unsigned bit;
	uint64_t start;
	uint64_t size;
	const char *name;
};

static const struct area areas[] = {
	{ BOOT_AREA_GDT, LAYOUT_GDT, LAYOUT_GDT_SIZE, "GDT" },
	{ BOOT_AREA_ZERO_PAGE, LAYOUT_ZERO_PAGE, LAYOUT_ZERO_PAGE_SIZE,
	  "zero page" },
	{ BOOT_AREA_MBI, LAYOUT_MBI, LAYOUT_MBI_SIZE, "multiboot info" },
	{ BOOT_AREA_CMDLINE, LAYOUT_CMDLINE, LAYOUT_CMDLINE_SIZE,
	  "command line" },
	{ BOOT_AREA_PT, LAYOUT_PML4, 0, "page tables" },
	{ BOOT_AREA_TSS, LAYOUT_TSS, LAYOUT_TSS_SIZE, "TSS" },
	{ BOOT_AREA_ACPI, LAYOUT_ACPI, LAYOUT_ACPI_SIZE, "ACPI tables" },
};

static uint64_t area_size(const struct area *a, const struct boot_plan *plan)
{
	if (a->bit == BOOT_AREA_PT)
		return LAYOUT_PD - LAYOUT_PML4 + plan->npd * VMM_PAGE_SIZE;
	return a->size;
}

int boot_regions(vmm_vm *vm, struct vmm_mem_info **out)
{
	int n = vmm__mem_get_regions(vm, NULL, 0);
	struct vmm_mem_info *tab;
	int got;

	*out = NULL;
	if (n <= 0)
		return 0;
	tab = vmm__alloc(vm, (size_t)n * sizeof(*tab));
	if (!tab)
		return vmm__err(vm, -ENOMEM, "boot: no memory for the region list");
	got = vmm__mem_get_regions(vm, tab, n);
	*out = tab;
	if (got < n)	/* a region went away meanwhile */
		n = got < 0 ? 0 : got;
	return n;
}

int boot_ram_top(vmm_vm *vm, uint64_t *top)
{
	struct vmm_mem_info *tab;
	int n = boot_regions(vm, &tab);

	if (n < 0)
		return n;
	*top = 0;
	for (int i = 0; i < n; i++)
		if (tab[i].gpa + tab[i].size > *top)
			*top = tab[i].gpa + tab[i].size;
	vmm__free(vm, tab);
	return 0;
}

int boot_plan_init(vmm_vm *vm, struct boot_plan *plan, enum vmm_boot_mode mode,
		   unsigned extra)
{
	plan->areas = extra;
	plan->npd = 0;
	if (mode == VMM_BOOT_PROT32 || mode == VMM_BOOT_LONG64 ||
	    mode == VMM_BOOT_LONG64_USER)
		plan->areas |= BOOT_AREA_GDT;
	if (mode == VMM_BOOT_LONG64_USER)
		plan->areas |= BOOT_AREA_TSS;
	if (mode == VMM_BOOT_LONG64 || mode == VMM_BOOT_LONG64_USER) {
		uint64_t top, npd;
		int ret = boot_ram_top(vm, &top);

		if (ret < 0)
			return ret;
		npd = top / GIB + !!(top % GIB);

		if (npd < LAYOUT_PT_MIN_PD)
			npd = LAYOUT_PT_MIN_PD;
		if (npd > LAYOUT_PT_MAX_PD)
			npd = LAYOUT_PT_MAX_PD;
		plan->npd = (unsigned)npd;
		plan->areas |= BOOT_AREA_PT;
	}
	for (size_t i = 0; i < VMM_ARRAY_SIZE(areas); i++) {
		const struct area *a = &areas[i];

		if (!(plan->areas & a->bit))
			continue;
		if (!vmm_mem_is_ram(vm, a->start, area_size(a, plan)))
			return vmm__err(vm, -EFAULT,
					"boot: no guest RAM for the %s at %#llx",
					a->name, (unsigned long long)a->start);
	}
	return 0;
}

int boot_check_range(vmm_vm *vm, const struct boot_plan *plan, uint64_t gpa,
		     uint64_t len, const char *what)
{
	uint64_t end;

	if (len == 0)
		return 0;
	if (__builtin_add_overflow(gpa, len, &end))
		return vmm__err(vm, -EFAULT,
				"boot: %s at %#llx + %#llx wraps around", what,
				(unsigned long long)gpa,
				(unsigned long long)len);
	if (!vmm_mem_is_ram(vm, gpa, len))
		return vmm__err(vm, -EFAULT,
				"boot: %s [%#llx, %#llx) is not in guest RAM",
				what, (unsigned long long)gpa,
				(unsigned long long)end);
	for (size_t i = 0; i < VMM_ARRAY_SIZE(areas); i++) {
		const struct area *a = &areas[i];
		uint64_t a_end = a->start + area_size(a, plan);

		if (!(plan->areas & a->bit))
			continue;
		if (gpa < a_end && a->start < end)
			return vmm__err(vm, -EEXIST,
					"boot: %s [%#llx, %#llx) overlaps the %s at [%#llx, %#llx)",
					what, (unsigned long long)gpa,
					(unsigned long long)end, a->name,
					(unsigned long long)a->start,
					(unsigned long long)a_end);
	}
	return 0;
}

/* The boot GDT; with @user also the DPL-3 segments and the TSS. */
static int write_gdt(vmm_vm *vm, bool long_mode, bool user)
{
	uint8_t gdt[LAYOUT_GDT_ENTRIES_USER * 8] = { 0 };
	uint64_t tb = LAYOUT_TSS, tl = LAYOUT_TSS_SIZE - 1;

	wr64(gdt, LAYOUT_SEL_OTHER, long_mode ? DESC_CODE32 : DESC_CODE64);
	wr64(gdt, LAYOUT_SEL_CODE, long_mode ? DESC_CODE64 : DESC_CODE32);
	wr64(gdt, LAYOUT_SEL_DATA, DESC_DATA);
	wr64(gdt, LAYOUT_SEL_CODE64, DESC_CODE64);
	wr64(gdt, LAYOUT_SEL_CODE32, DESC_CODE32);
	if (!user)
		return vmm_mem_write(vm, LAYOUT_GDT, gdt,
				     LAYOUT_GDT_ENTRIES * 8);
	wr64(gdt, LAYOUT_SEL_USER_DATA, DESC_USER_DATA);
	wr64(gdt, LAYOUT_SEL_USER_CODE64, DESC_USER_CODE64);
	wr64(gdt, LAYOUT_SEL_TSS,
	     (tl & 0xffff) | (tb & 0xffffff) << 16 | DESC_TSS64_TYPE << 40 |
		     ((tl >> 16) & 0xf) << 48 | ((tb >> 24) & 0xff) << 56);
	wr64(gdt, LAYOUT_SEL_TSS + 8, tb >> 32);
	return vmm_mem_write(vm, LAYOUT_GDT, gdt, sizeof(gdt));
}

/*
 * The 64-bit TSS of LONG64_USER: all zero (RSP0 and the IST are the
 * guest's to fill if it installs an IDT), the I/O map right after the
 * 104-byte base with every bit clear (all ports allowed) and the 0xff byte
 * the CPU reads past its end.
 */
static int write_tss(vmm_vm *vm)
{
	uint8_t *tss = vmm__alloc(vm, LAYOUT_TSS_SIZE);
	int ret;

	if (!tss)
		return vmm__err(vm, -ENOMEM, "boot: no memory for the TSS");
	memset(tss, 0, LAYOUT_TSS_SIZE);
	wr16(tss, TSS_IOMAP_BASE, TSS_BASE_SIZE);
	tss[LAYOUT_TSS_SIZE - 1] = 0xff;
	ret = vmm_mem_write(vm, LAYOUT_TSS, tss, LAYOUT_TSS_SIZE);
	vmm__free(vm, tss);
	if (ret < 0)
		return vmm__err(vm, ret, "boot: cannot write the TSS");
	return 0;
}

/*
 * PML4, PDPT and @npd page directories, contiguous from LAYOUT_PML4; @user
 * sets the U/S bit at every level.
 */
static int write_page_tables(vmm_vm *vm, unsigned npd, bool user)
{
	size_t size = (2 + (size_t)npd) * VMM_PAGE_SIZE;
	uint8_t *pt = vmm__alloc(vm, size), *pdpt, *pd;
	uint64_t flags = PTE_P | PTE_RW | (user ? PTE_US : 0);
	int ret;

	/* no pointer arithmetic before the check: NULL + n is undefined */
	if (!pt)
		return vmm__err(vm, -ENOMEM, "boot: no memory for page tables");
	pdpt = pt + VMM_PAGE_SIZE;
	pd = pt + 2 * VMM_PAGE_SIZE;
	wr64(pt, 0, LAYOUT_PDPT | flags);
	for (unsigned i = 0; i < npd; i++) {
		wr64(pdpt, i * 8, (LAYOUT_PD + i * VMM_PAGE_SIZE) | flags);
		for (unsigned j = 0; j < 512; j++)
			wr64(pd, ((size_t)i * 512 + j) * 8,
			     ((uint64_t)i * GIB + ((uint64_t)j << 21)) |
				     flags | PTE_PS);
	}
	ret = vmm_mem_write(vm, LAYOUT_PML4, pt, size);
	vmm__free(vm, pt);
	return ret;
}

int boot_write_tables(vmm_vm *vm, const struct boot_plan *plan,
		      struct vmm_boot_info *info)
{
	bool long_mode = plan->areas & BOOT_AREA_PT;
	bool user = plan->areas & BOOT_AREA_TSS;
	int ret;

	if (long_mode) {
		ret = write_page_tables(vm, plan->npd, user);
		if (ret < 0)
			return ret;
		info->cr3 = LAYOUT_PML4;
	}
	if (user) {
		ret = write_tss(vm);
		if (ret < 0)
			return ret;
	}
	if (plan->areas & BOOT_AREA_GDT) {
		ret = write_gdt(vm, long_mode, user);
		if (ret < 0)
			return vmm__err(vm, ret, "boot: cannot write the GDT");
		info->gdt = LAYOUT_GDT;
	}
	return 0;
}

int boot_write_string(vmm_vm *vm, uint64_t gpa, const char *s)
{
	if (!s)
		s = "";
	return vmm_mem_write(vm, gpa, s, strlen(s) + 1);
}
