/* SPDX-License-Identifier: MIT */
/*
 * cpumodel.h - what the CPU models (enum vmm_cpu_model) mean, shared by the
 * backends: the feature bits of VMM_CPU_BASELINE, the TSC-frequency leaves
 * every model gets, and the embedder's added leaves (vmm_config.cpuid_add).
 */
#ifndef LIBVMM_CORE_CPUMODEL_H
#define LIBVMM_CORE_CPUMODEL_H

#include "core/vm_impl.h"

/* One register of one leaf, as a bit mask. */
struct vmm_cpuid_bits {
	uint32_t function, index;
	unsigned reg; /* 0 EAX, 1 EBX, 2 ECX, 3 EDX */
	uint32_t bits;
};

/*
 * The feature bits of VMM_CPU_BASELINE: leaf 1 ECX/EDX, leaf 7.0 EBX/ECX/
 * EDX, leaf 0x80000001 ECX/EDX, 0x80000007 EDX.  Other feature-flag words
 * are cleared under the baseline; leaves that are not feature flags (cache
 * and topology descriptions, brand string) are kept.
 */
extern const struct vmm_cpuid_bits vmm__cpuid_baseline[];
extern const unsigned vmm__cpuid_baseline_n;

/* Name of feature bit @bit of @w (for messages), or NULL. */
const char *vmm__cpuid_bit_name(const struct vmm_cpuid_bits *w, unsigned bit);

/*
 * The bits of (@function, @index, @reg) that VMM_CPU_BASELINE keeps, or
 * ~0 when the register is not a feature word of the baseline.
 */
uint32_t vmm__cpuid_baseline_mask(uint32_t function, uint32_t index,
				  unsigned reg);

/*
 * The TSC-frequency leaves for a guest TSC of @tsc_khz kHz and a 1 GHz
 * APIC bus (both backends' LAPIC timer counts at 1 GHz): 0x15 (crystal
 * 1 GHz, ratio = TSC in MHz / 1000, so 1 MHz resolution: Linux multiplies
 * the crystal kHz by the numerator in 32 bits), 0x16 (base/max MHz, bus
 * 1000 MHz) and the
 * hypervisor leaf 0x40000010 (TSC kHz, bus kHz), as VMware and QEMU's
 * vmware-cpuid-freq lay it out.  Returns false for other leaves.
 */
bool vmm__cpuid_tsc_leaf(uint32_t function, uint64_t tsc_khz,
			 uint32_t regs[4]);

/* The embedder's leaf for (@function, @index), or NULL. */
const struct vmm_cpuid_leaf *vmm__cpuid_added(const vmm_vm *vm,
					      uint32_t function,
					      uint32_t index);

/*
 * The highest added leaf in the range starting at @base (0, 0x40000000,
 * 0x80000000), or 0 if none.
 */
uint32_t vmm__cpuid_added_max(const vmm_vm *vm, uint32_t base);

#endif
