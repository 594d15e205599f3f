/* SPDX-License-Identifier: MIT */
/*
 * vm_impl.h - the VM and vCPU objects and the backend ops table.
 *
 * Included by src/core (the VM core and run loop) and src/cpu (backends).
 * Devices, loaders and migration never include it: they see the public API
 * and internal.h only, which is what keeps them backend-neutral.
 */
#ifndef LIBVMM_VM_IMPL_H
#define LIBVMM_VM_IMPL_H

#include "core/internal.h"
#include "mem/guest_mem.h"
#include "core/bus_impl.h"

#include <pthread.h>
#include <stdatomic.h>

struct vmm_backend_ops {
	const char *name;
	enum vmm_backend kind;
	/* 0 if usable here, else negative errno and a reason in @why */
	int (*probe)(char *why, size_t len);
	int (*vm_init)(vmm_vm *vm);
	void (*vm_fini)(vmm_vm *vm);
	/* guest memory: called for each region added / removed */
	int (*mem_map)(vmm_vm *vm, struct vmm_gmem_region *r);
	void (*mem_unmap)(vmm_vm *vm, struct vmm_gmem_region *r);
	int (*dirty_log)(vmm_vm *vm, struct vmm_gmem_region *r, bool on);
	/* OR the backend's dirty bits of @r into @bitmap, clearing them */
	int (*dirty_fetch)(vmm_vm *vm, struct vmm_gmem_region *r,
			   uint64_t *bitmap);
	int (*vcpu_init)(vmm_vcpu *vcpu);
	void (*vcpu_fini)(vmm_vcpu *vcpu);
	int (*vcpu_run)(vmm_vcpu *vcpu, struct vmm_exit *exit);
	void (*vcpu_kick)(vmm_vcpu *vcpu);
	int (*get_state)(vmm_vcpu *vcpu, struct vmm_cpu_state *st);
	int (*set_state)(vmm_vcpu *vcpu, const struct vmm_cpu_state *st);
	/* optional (NULL: no such state): fill @xs->valid and the fields;
	 * set the fields of @xs->valid (validated by the core: known bits
	 * only), -ENOTSUP for one the backend lacks */
	int (*get_xstate)(vmm_vcpu *vcpu, struct vmm_cpu_xstate *xs);
	int (*set_xstate)(vmm_vcpu *vcpu, const struct vmm_cpu_xstate *xs);
	int (*single_step)(vmm_vcpu *vcpu, bool on);
	/* optional (VMM_CAP_INSN_LIMIT): stop after @n more instructions
	 * (0: no limit), see vmm_vcpu_set_insn_limit(); the vCPU is not
	 * running */
	int (*insn_limit)(vmm_vcpu *vcpu, uint64_t n);
	/* optional: INT3 exits as VMM_EXIT_DEBUG (exception 3, pc = INT3) */
	int (*sw_breakpoints)(vmm_vcpu *vcpu, bool on);
	/* @bp validated by the core: n <= 4, kinds, lengths, alignment */
	int (*hw_breakpoints)(vmm_vcpu *vcpu, const struct vmm_hw_bp *bp,
			      unsigned n);
	int (*irq_line)(vmm_vm *vm, uint32_t gsi, int level);
	int (*msi)(vmm_vm *vm, uint64_t addr, uint32_t data);
	/* optional (snapshots): interrupt controllers; NULL = not exportable */
	int (*get_irqchip)(vmm_vm *vm, struct vmm_irqchip_state *st);
	int (*set_irqchip)(vmm_vm *vm, const struct vmm_irqchip_state *st);
	/* optional: finish an I/O or MMIO exit the embedder has completed
	 * without running guest code (KVM: KVM_RUN with immediate_exit) */
	int (*vcpu_complete_io)(vmm_vcpu *vcpu);
	/*
	 * Optional (NULL = the core's user-space fallback, src/core/notify.c):
	 * assign (@assign) or deassign an ioeventfd / irqfd, see
	 * <libvmm/notify.h>.  Only called when the backend set
	 * VMM_CAP_IOEVENTFD / VMM_CAP_IRQFD.
	 */
	int (*ioeventfd)(vmm_vm *vm, enum vmm_space space, uint64_t addr,
			 unsigned len, uint64_t datamatch, uint32_t flags,
			 int fd, bool assign);
	int (*irqfd)(vmm_vm *vm, int fd, const struct vmm_irq_route *route,
		     bool assign);
	/*
	 * Optional: add the backend's own counters to @st (insns_retired,
	 * blocks, TLB ...) and OR their VMM_VCPU_STAT_* bits into st->valid.
	 * @st is the full current struct; the vCPU is not running.  The core
	 * fills the exit counters.
	 */
	void (*vcpu_stats)(vmm_vcpu *vcpu, struct vmm_vcpu_stats *st);
};

extern const struct vmm_backend_ops vmm_kvm_ops;
extern const struct vmm_backend_ops vmm_soft_ops;

struct vmm_vcpu {
	vmm_vm *vm;
	unsigned index;
	void *backend;              /* backend private */
	atomic_bool kick_pending;   /* kick before/while running */
	atomic_bool running;
	pthread_t thread;           /* vmm_vm_start() thread */
	pthread_t run_thread;       /* thread inside vmm_vcpu_run() */
	bool thread_started;
	_Atomic int tid;            /* its kernel thread id (0: not yet) */
	/* exits vmm_vcpu_run() returned, by kind (written only by the thread
	 * running the vCPU; read by vmm_vcpu_get_stats()) */
	_Atomic uint64_t exit_count[VMM_EXIT__COUNT];
	/* I/O data buffer for backends that do not provide one */
	uint8_t iobuf[4096];
};

struct vmm_vm {
	struct vmm_config cfg;
	const struct vmm_backend_ops *ops;
	void *backend;              /* backend private */
	uint64_t caps, missing_caps;
	enum vmm_irqchip_mode irqchip_mode; /* resolved by the backend */

	struct vmm_gmem mem;
	struct vmm_bus bus[2];

	vmm_vcpu *vcpus[VMM_MAX_VCPUS];
	unsigned ncpus;

	struct vmm_dev *devices;
	pthread_mutex_t dev_lock;

	/* last error, log */
	pthread_mutex_t err_lock;
	char errmsg[320];
	uint64_t err_serial; /* tells this VM from a later one at its address */

	/* accounting */
	atomic_uint_fast64_t host_bytes;
	atomic_uint_fast64_t exits, io_exits, mmio_exits, unhandled_io;

	/* vCPU threads */
	pthread_mutex_t run_lock;
	pthread_cond_t run_cond;
	bool started, stopping;
	int stop_value;
	bool stop_set;
	unsigned threads_live;
	vmm_exit_cb exit_cb;
	void *exit_opaque;
	/* vmm_vm_pause(): vCPU threads park while pause_depth > 0 */
	unsigned pause_depth;
	unsigned threads_paused;

	/* ioeventfd/irqfd fallbacks and the VM's I/O thread (notify.c);
	 * created on first use under dev_lock */
	struct vmm_notify *notify;

	/* src/migrate's post-copy state (vmm__vm_set_migrate()): @mig_fini
	 * runs first in vmm_vm_destroy(); while @resume_block is set,
	 * vmm_vm_resume() refuses (a post-copy source whose destination may
	 * have run).  Under run_lock. */
	void *mig;
	void (*mig_fini)(void *);
	const char *resume_block;
	/* the running vmm_migrate_send() (vmm__vm_set_sender()) */
	void *mig_sender;
	/* vmm__vm_set_poison(): a failed vmm_migrate_receive_into() left
	 * the state half overwritten; @poison_why under run_lock, @poisoned
	 * read without it by vmm_vcpu_run() */
	atomic_bool poisoned;
	const char *poison_why;
};

/* notify.c: free the fallbacks and stop the I/O thread (VM destruction,
 * after the devices are detached). */
void vmm__notify_fini(vmm_vm *vm);

#endif
