/* SPDX-License-Identifier: MIT */
/*
 * mguest.h - the guest of the snapshot and migration tests, built through
 * the public API only.  It has no CPL0 code at all: the vCPU starts in
 * 64-bit mode at CPL3 (page tables, GDT and a TSS with an all-open I/O
 * bitmap are written into guest memory by mg_create), so it runs at native
 * speed on the nested KVM of the build machines.
 *
 * The program (hand-assembled, see mguest.c) keeps its state in registers
 * (RSI = iteration counter, RDI = running checksum), in memory (it reads and
 * rewrites one quadword of one of NPAGES data pages each iteration: the
 * checksum depends on everything it wrote before) and in the UART (one
 * character of the checksum every OUT_MASK+1 iterations).  When the counter
 * reaches TARGET it writes the low 32 bits of the checksum to the
 * debug-exit port, then loops on (so raising TARGET with mg_set_target()
 * and running again continues exactly as if TARGET had been higher from
 * the start).  The result is a pure function of TARGET, NPAGES and
 * DELAY, so a run interrupted by a snapshot, restore, reset or migration
 * must end with the same value, output and memory as an uninterrupted one.
 */
#ifndef TESTS_MIGRATE_MGUEST_H
#define TESTS_MIGRATE_MGUEST_H

#include <libvmm/libvmm.h>

#include <pthread.h>

#define MG_PARAMS 0x500
#define MG_CODE 0x10000
#define MG_DATA 0x100000

struct mg {
	vmm_vm *vm;
	vmm_vcpu *vcpu;
	pthread_mutex_t lock;
	char out[1 << 16];
	size_t out_len;
};

/* A VM on @backend with @ram bytes, the guest loaded, UART and debug-exit. */
int mg_create(struct mg *g, enum vmm_backend backend, uint64_t ram,
	      uint64_t target, uint32_t npages, uint32_t delay,
	      uint32_t out_mask);
/* The same with VMM_CFG_* @flags (e.g. VMM_CFG_NO_IRQCHIP). */
int mg_create_flags(struct mg *g, enum vmm_backend backend, uint32_t flags,
		    uint64_t ram, uint64_t target, uint32_t npages,
		    uint32_t delay, uint32_t out_mask);
/* Attach the UART (output into @g) and debug-exit to @vm: the restore
 * attach callback (opaque = struct mg *). */
int mg_attach(void *opaque, vmm_vm *vm);
/* Change the target counter in guest memory. */
int mg_set_target(vmm_vm *vm, uint64_t target);
/* FNV-1a over the parameters and the @npages data pages. */
uint64_t mg_hash(vmm_vm *vm, uint32_t npages);
/* Run the vCPU until the guest exits; returns the exit value or -errno. */
int64_t mg_run_to_exit(vmm_vcpu *vcpu);
void mg_init(struct mg *g);

#endif
