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
};

struct kvm_vcpu_priv {
	int fd;
	struct kvm_run *run;
	bool single_step;
	bool sw_bp;                /* KVM_GUESTDBG_USE_SW_BP on */
	bool exit_pending;         /* @run holds an exit complete_io got */
};

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

#endif
