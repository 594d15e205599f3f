/* SPDX-License-Identifier: MIT */
/*
 * mguest.h - the snapshot and migration tests' harness around the
 * dirtying counter guest of examples/migguest.h: a VM with the guest
 * loaded, its UART output captured, and a run-to-exit helper.
 */
#ifndef TESTS_MIGRATE_MGUEST_H
#define TESTS_MIGRATE_MGUEST_H

#include "migguest.h"

#include <pthread.h>

struct mg {
	vmm_vm *vm;
	vmm_vcpu *vcpu;
	pthread_mutex_t lock;
	char out[1 << 16];
	size_t out_len;
};

/* when set, the VMs mg_create() makes log to it (VMM_LOG_INFO and up) */
extern void (*mg_log_hook)(void *opaque, int level, const char *msg);

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
/* Run the vCPU until the guest exits; returns the exit value or -errno. */
int64_t mg_run_to_exit(vmm_vcpu *vcpu);
/* The vmm_vm_start() exit handler of the same rule: @opaque is an
 * int64_t that receives the guest's exit value; interrupted exits go on,
 * any other exit stops the vCPU with -EIO. */
int mg_stop_on_exit(void *opaque, vmm_vcpu *vcpu, struct vmm_exit *e);
void mg_init(struct mg *g);

enum vmm_irqchip_mode mg_irqchip(void);

#endif
