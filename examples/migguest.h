/* SPDX-License-Identifier: MIT */
/*
 * migguest.h - the "dirtying counter" guest of vmm-migrate, the snapshot
 * and migration tests and vmm-bench, built through the public API only.
 *
 * It has no CPL0 code at all: vmm_image_load_flat(..., VMM_BOOT_LONG64_USER)
 * writes the page tables, GDT and TSS and the vCPU starts in 64-bit mode at
 * CPL3, so it runs at native speed on the nested KVM of the build machines
 * (which emulates CPL0).
 *
 * The program (hand-assembled, listing in migguest.c) keeps its state in
 * registers (RSI = iteration counter, RDI = running checksum), in memory
 * (each iteration reads and rewrites one quadword of one of @npages data
 * pages at MIGGUEST_DATA: the checksum depends on everything it wrote
 * before) and in the UART (one character of the checksum every
 * out_mask + 1 iterations).  When the counter reaches the target it writes
 * the low 32 bits of the checksum to the debug-exit port 0xf4, then loops
 * on (so raising the target with migguest_set_target() and running again
 * continues exactly as if it had been higher from the start).  @delay
 * turns a countdown loop between iterations, which sets the dirty rate.
 * The result is a pure function of target, npages and delay, so a run
 * interrupted by a snapshot, restore, reset or migration must end with the
 * same value, output and memory as an uninterrupted one.
 */
#ifndef LIBVMM_EXAMPLES_MIGGUEST_H
#define LIBVMM_EXAMPLES_MIGGUEST_H

#include <libvmm/libvmm.h>

#define MIGGUEST_PARAMS 0x600   /* target u64, npages-1 u32, delay u32, mask u32 */
#define MIGGUEST_CODE 0x10000
#define MIGGUEST_DATA 0x100000
#define MIGGUEST_PORT_UART 0x3f8
#define MIGGUEST_PORT_EXIT 0xf4

struct migguest_params {
	uint64_t target;    /* iterations before the debug-exit write */
	uint32_t npages;    /* data pages, a power of two (<= 4096) */
	uint32_t delay;     /* countdown per iteration, >= 1 */
	uint32_t out_mask;  /* a UART character every out_mask+1 iterations */
};

/*
 * migguest_load() - write the program and its parameters into @vm (RAM must
 * cover MIGGUEST_DATA + npages pages) and put @vcpu at its entry.  The
 * devices (UART at 0x3f8, debug-exit at 0xf4) are the caller's to attach.
 * Returns 0, -EINVAL (bad parameters) or the error of the libvmm call that
 * failed (the VM's last error says more).
 */
int migguest_load(vmm_vm *vm, vmm_vcpu *vcpu, const struct migguest_params *p);

/* migguest_set_target() - change the target counter in guest memory. */
int migguest_set_target(vmm_vm *vm, uint64_t target);

/*
 * migguest_hash() - FNV-1a over the parameter page and the @npages data
 * pages (0 if they cannot be read).
 */
uint64_t migguest_hash(vmm_vm *vm, uint32_t npages);

#endif
