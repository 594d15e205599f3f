/* SPDX-License-Identifier: MIT */
/*
 * kvm.h - private state of the KVM backend.  The KVM backend is the only
 * code in libvmm that includes <linux/kvm.h>.
 */
#ifndef LIBVMM_KVM_H
#define LIBVMM_KVM_H

#include "core/vm_impl.h"

#include <linux/kvm.h>

/* Addresses KVM needs for real-mode emulation on Intel (3 + 1 pages),
 * inside the 32-bit hole just below the BIOS area, as QEMU places them. */
#define KVM_TSS_ADDR 0xfffbd000ull
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ull

#define KVM_MAX_MSRS 32

struct kvm_vm {
	int sys_fd;                /* /dev/kvm */
	int vm_fd;
	int run_size;              /* mmap size of struct kvm_run */
	struct kvm_cpuid2 *cpuid;  /* KVM_GET_SUPPORTED_CPUID */
	uint32_t msr_list[KVM_MAX_MSRS];
	int nmsrs;                 /* MSRs of struct vmm_msrs KVM supports */
	int kick_signal;
	bool irqchip;
	bool xsave;
	bool debugregs;
	bool vcpu_events;
	bool immediate_exit;
	int max_slots;
	pthread_mutex_t slot_lock;
	struct kvm_notify *notify; /* kvm_notify.c: MSI routes */
	struct kvm_split *split;   /* kvm_split.c: VMM_IRQCHIP_SPLIT */
};

struct kvm_vcpu_priv {
	int fd;
	struct kvm_run *run;
	bool single_step;
	bool sw_bp;                /* KVM_GUESTDBG_USE_SW_BP on */
	struct vmm_hw_bp hbp[4];   /* KVM_GUESTDBG_USE_HW_BP slots */
	bool exit_pending;         /* @run holds an exit complete_io got */
	/*
	 * What KVM holds of the groups below, as of the last get/set_state,
	 * while nothing has run since (@known; cleared before every
	 * KVM_RUN): set_state skips a group equal to it.  Saves 5 of the
	 * ~16 ioctls of a get-modify-set (each ~10 us on the nested KVM
	 * here, where every vCPU ioctl's vcpu_load reads a host MSR).
	 */
	bool known;
	struct vmm_fpu k_fpu;
	uint64_t k_dr[4], k_dr6, k_dr7;
	struct vmm_events k_events;
};

/* The vCPU is about to run: KVM's state will change. */
static inline void kvm_state_forget(struct kvm_vcpu_priv *p)
{
	p->known = false;
}

static inline struct kvm_vm *kvm_of(vmm_vm *vm)
{
	return vm->backend;
}

static inline struct kvm_vcpu_priv *kvcpu_of(vmm_vcpu *vcpu)
{
	return vcpu->backend;
}

/* ioctl wrapper returning a negative errno; retries EINTR unless @run. */
int kvm_ioctl(int fd, unsigned long req, void *arg);

/* Install the PC's GSI routing (IRQ0 -> IOAPIC pin 2) on a new irqchip. */
int kvm_routing_init(vmm_vm *vm);

int kvm_get_state(vmm_vcpu *vcpu, struct vmm_cpu_state *st);
int kvm_set_state(vmm_vcpu *vcpu, const struct vmm_cpu_state *st);

int kvm_vcpu_init(vmm_vcpu *vcpu);
void kvm_vcpu_fini(vmm_vcpu *vcpu);
int kvm_vcpu_run(vmm_vcpu *vcpu, struct vmm_exit *exit);
void kvm_vcpu_kick(vmm_vcpu *vcpu);
int kvm_single_step(vmm_vcpu *vcpu, bool on);
int kvm_sw_breakpoints(vmm_vcpu *vcpu, bool on);
int kvm_hw_breakpoints(vmm_vcpu *vcpu, const struct vmm_hw_bp *bp,
		       unsigned n);

/* kvm_irqchip.c: snapshot support */
int kvm_get_irqchip(vmm_vm *vm, struct vmm_irqchip_state *st);
int kvm_set_irqchip(vmm_vm *vm, const struct vmm_irqchip_state *st);
int kvm_vcpu_complete_io(vmm_vcpu *vcpu);

/* kvm_notify.c */
int kvm_ioeventfd(vmm_vm *vm, enum vmm_space space, uint64_t addr,
		  unsigned len, uint64_t datamatch, uint32_t flags, int fd,
		  bool assign);
int kvm_irqfd(vmm_vm *vm, int fd, const struct vmm_irq_route *route,
	      bool assign);
void kvm_notify_fini(vmm_vm *vm);

/* kvm_split.c: VMM_IRQCHIP_SPLIT (LAPICs in KVM, the rest ours) */
#define KVM_SPLIT_PINS 24          /* GSIs 0-23 = our IOAPIC's pins */
struct kvm_split_route {
	bool valid;                /* unmasked, not ExtINT */
	uint64_t addr;
	uint32_t data;
};
int kvm_split_create(vmm_vm *vm);
void kvm_split_destroy(vmm_vm *vm);
void kvm_split_vcpu(vmm_vm *vm, vmm_vcpu *vcpu, bool add);
void kvm_split_pre_run(vmm_vcpu *vcpu);
bool kvm_split_exit(vmm_vcpu *vcpu);
int kvm_split_irq_line(vmm_vm *vm, uint32_t gsi, int level);
int kvm_split_get(vmm_vm *vm, struct vmm_irqchip_state *st);
int kvm_split_set(vmm_vm *vm, const struct vmm_irqchip_state *st);
/* The IOAPIC's routes (read under the kvm_notify lock), NULL unless split */
struct kvm_split_route *kvm_split_routes(vmm_vm *vm);
/* kvm_notify.c: store pin @pin's route and reload KVM's routing table */
void kvm_split_set_route(vmm_vm *vm, unsigned pin, struct kvm_split_route r);

#endif
