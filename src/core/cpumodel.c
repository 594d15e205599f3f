/* SPDX-License-Identifier: MIT */
/*
 * cpumodel.c - the CPU models' shared definitions (cpumodel.h).
 */
#include "core/cpumodel.h"

/*
 * VMM_CPU_BASELINE: x86-64 as every 64-bit CPU of the last 15 years has it,
 * minus what the software backend does not implement (SSE3 and later
 * vector extensions, XSAVE, MTRR, MCE/MCA, monitor/mwait, PCID) and what
 * a nested KVM (kvm_pvm) was seen not to offer: POPCNT, RDTSCP, 1 GiB
 * pages (its leaf 1 ECX is CX16, x2APIC and the hypervisor bit only).
 * x2APIC and TSC-deadline come and go with the irqchip on both backends.
 * TSC_ADJUST and the invariant TSC are in (with them Linux trusts the TSC
 * without a watchdog), but a KVM host without them is not refused.
 */
#define L1D ((1u << 0) | (1u << 2) | (1u << 3) | (1u << 4) | (1u << 5) | \
	     (1u << 6) | (1u << 8) | (1u << 9) | (1u << 11) | (1u << 13) |  \
	     (1u << 15) | (1u << 16) | (1u << 17) | (1u << 19) |            \
	     (1u << 24) | (1u << 25) | (1u << 26))
#define L1C ((1u << 13) | (1u << 21) | (1u << 24) | (1u << 31))
#define E1D ((1u << 11) | (1u << 20) | (1u << 29))
#define E1C (1u << 0)

const struct vmm_cpuid_bits vmm__cpuid_baseline[] = {
	{ 1, 0, 2, L1C },
	{ 1, 0, 3, L1D },
	{ 7, 0, 1, 1u << 1 },            /* TSC_ADJUST */
	{ 7, 0, 2, 0 },
	{ 7, 0, 3, 0 },
	{ 0x80000001, 0, 2, E1C },
	{ 0x80000001, 0, 3, E1D },
	{ 0x80000007, 0, 3, 1u << 8 },   /* invariant TSC */
};
const unsigned vmm__cpuid_baseline_n = VMM_ARRAY_SIZE(vmm__cpuid_baseline);

static const char *const l1d_names[32] = {
	"fpu", "vme", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic",
	NULL, "sep", "mtrr", "pge", "mca", "cmov", "pat", "pse36", "psn",
	"clflush", NULL, "ds", "acpi", "mmx", "fxsr", "sse", "sse2", "ss",
	"ht", "tm", "ia64", "pbe",
};
static const char *const l1c_names[32] = {
	[13] = "cx16", [21] = "x2apic", [23] = "popcnt",
	[24] = "tsc-deadline", [31] = "hypervisor",
};
static const char *const e1d_names[32] = {
	[11] = "syscall", [20] = "nx", [29] = "lm",
};

const char *vmm__cpuid_bit_name(const struct vmm_cpuid_bits *w, unsigned bit)
{
	if (bit >= 32)
		return NULL;
	if (w->function == 1 && w->reg == 3)
		return l1d_names[bit];
	if (w->function == 1 && w->reg == 2)
		return l1c_names[bit];
	if (w->function == 0x80000001 && w->reg == 3)
		return e1d_names[bit];
	if (w->function == 0x80000001 && w->reg == 2 && bit == 0)
		return "lahf_lm";
	return NULL;
}

uint32_t vmm__cpuid_baseline_mask(uint32_t function, uint32_t index,
				  unsigned reg)
{
	for (unsigned i = 0; i < vmm__cpuid_baseline_n; i++) {
		const struct vmm_cpuid_bits *w = &vmm__cpuid_baseline[i];
		if (w->function == function && w->index == index &&
		    w->reg == reg)
			return w->bits;
	}
	return ~0u;
}

bool vmm__cpuid_tsc_leaf(uint32_t function, uint64_t tsc_khz,
			 uint32_t regs[4])
{
	uint32_t khz = tsc_khz > UINT32_MAX ? UINT32_MAX : (uint32_t)tsc_khz;

	regs[0] = regs[1] = regs[2] = regs[3] = 0;
	switch (function) {
	case 0x15:
		/* TSC = ECX * EBX / EAX Hz.  Linux computes (ECX / 1000) *
		 * EBX in 32 bits and takes ECX as the LAPIC timer's clock:
		 * so a 1 GHz crystal (both backends' LAPIC timer rate) and
		 * the ratio in MHz / 1000, EBX <= 4294 (TSC <= 4.29 GHz) */
		regs[0] = 1000;
		regs[1] = (khz + 500) / 1000;
		if (regs[1] > 4294)
			regs[1] = 4294;
		if (!regs[1])
			regs[1] = 1;
		regs[2] = 1000000000;
		return true;
	case 0x16: /* MHz */
		regs[0] = regs[1] = khz / 1000;
		regs[2] = 1000;
		return true;
	case 0x40000010:
		regs[0] = khz;
		regs[1] = 1000000;
		return true;
	}
	return false;
}

const struct vmm_cpuid_leaf *vmm__cpuid_added(const vmm_vm *vm,
					      uint32_t function,
					      uint32_t index)
{
	for (uint32_t i = 0; i < vm->cfg.cpuid_add_count; i++) {
		const struct vmm_cpuid_leaf *l = &vm->cfg.cpuid_add[i];
		if (l->function == function &&
		    (!(l->flags & VMM_CPUID_FLAG_INDEX) || l->index == index))
			return l;
	}
	return NULL;
}

uint32_t vmm__cpuid_added_max(const vmm_vm *vm, uint32_t base)
{
	uint32_t m = 0;

	for (uint32_t i = 0; i < vm->cfg.cpuid_add_count; i++) {
		uint32_t f = vm->cfg.cpuid_add[i].function;
		if (f >= base && f - base < 0x10000000u && f > m)
			m = f;
	}
	return m;
}
