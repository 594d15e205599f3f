/* SPDX-License-Identifier: MIT */
/*
 * raw_kvm.h - the baseline the benchmarks compare libvmm against: the same
 * guest driven by the bare KVM ioctl sequence, with no library in between.
 * (Baseline code in bench/ is the one place outside src/cpu/kvm that talks
 * to /dev/kvm directly — that is its purpose.)
 */
#ifndef BENCH_RAW_KVM_H
#define BENCH_RAW_KVM_H

#include <stddef.h>
#include <stdint.h>

struct raw_vm;

/*
 * raw_vm_create() - open /dev/kvm, create a VM with an in-kernel irqchip and
 * PIT, @mem bytes of RAM at 0 with @code copied to @entry, one vCPU with the
 * supported CPUID, in 32-bit flat protected mode at CPL3 with IOPL=3.
 */
struct raw_vm *raw_vm_create(size_t mem, const void *code, size_t len,
			     uint32_t entry);

/*
 * raw_vm_create_flags() - the same with a choice of interrupt controllers:
 * 0 is the minimal sequence (VM, memslot, vCPU: no irqchip at all).
 */
#define RAW_VM_IRQCHIP 1u  /* KVM_CREATE_IRQCHIP */
#define RAW_VM_PIT 2u      /* KVM_CREATE_PIT2 */
#define RAW_VM_SPLIT 4u    /* KVM_CAP_SPLIT_IRQCHIP (LAPICs only) */
struct raw_vm *raw_vm_create_flags(size_t mem, const void *code, size_t len,
				   uint32_t entry, unsigned flags);

/*
 * raw_vm_run_until() - KVM_RUN until an OUT to @stop_port; OUTs to other
 * ports are counted and completed.  Returns the number of exits, -1 on error.
 */
long raw_vm_run_until(struct raw_vm *vm, uint16_t stop_port);

/* raw_vm_reset() - put the vCPU back at @entry with ECX = @ecx. */
int raw_vm_reset(struct raw_vm *vm, uint32_t entry, uint32_t ecx);

void raw_vm_destroy(struct raw_vm *vm);

#endif
