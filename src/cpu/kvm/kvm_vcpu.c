/* SPDX-License-Identifier: MIT */
/*
 * kvm_vcpu.c - the KVM backend's vCPUs: creation with CPUID, KVM_RUN and the
 * translation of struct kvm_run into the tagged struct vmm_exit, kicks.
 */
#include "cpu/kvm/kvm.h"
#include "core/cpumodel.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

static struct kvm_cpuid_entry2 *find_entry(struct kvm_cpuid2 *c,
					   uint32_t function, uint32_t index)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function == function &&
		    (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) ||
		     e->index == index))
			return e;
	}
	return NULL;
}

/* Set (function, index) to @regs, adding the entry if it is not there. */
static void put_entry(struct kvm_cpuid2 *c, uint32_t function,
		      uint32_t index, bool sig_index, const uint32_t regs[4])
{
	struct kvm_cpuid_entry2 *e = find_entry(c, function, index);

	if (!e) {
		e = &c->entries[c->nent++];
		memset(e, 0, sizeof(*e));
		e->function = function;
		e->index = index;
		e->flags = sig_index ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
	}
	e->eax = regs[0], e->ebx = regs[1], e->ecx = regs[2], e->edx = regs[3];
}

static void raise_max(struct kvm_cpuid2 *c, uint32_t base, uint32_t leaf)
{
	struct kvm_cpuid_entry2 *e = find_entry(c, base, 0);

	if (e && e->eax < leaf)
		e->eax = leaf;
}

static int set_cpuid(vmm_vcpu *vcpu, struct kvm_vcpu_priv *p)
{
	vmm_vm *vm = vcpu->vm;
	struct kvm_vm *k = kvm_of(vm);
	struct kvm_cpuid2 *c, *out;
	uint32_t n = 0, cap = k->cpuid->nent + 3 + vm->cfg.cpuid_add_count;
	int r, khz;

	c = vmm__alloc(vm, sizeof(*c) + cap * sizeof(struct kvm_cpuid_entry2));
	out = vmm__alloc(vm, sizeof(*c) + cap * sizeof(struct kvm_cpuid_entry2));
	if (!c || !out) {
		vmm__free(vm, c);
		vmm__free(vm, out);
		return vmm__err(vm, -ENOMEM, "out of memory for CPUID");
	}
	c->nent = k->cpuid->nent;
	memcpy(c->entries, k->cpuid->entries,
	       c->nent * sizeof(struct kvm_cpuid_entry2));
	/* the TSC rate for Linux and other guests: 0x15/0x16, 0x40000010 */
	khz = kvm_ioctl(p->fd, KVM_GET_TSC_KHZ, NULL);
	if (khz > 0) {
		uint32_t regs[4];
		vmm__cpuid_tsc_leaf(0x15, (uint64_t)khz, regs);
		put_entry(c, 0x15, 0, false, regs);
		vmm__cpuid_tsc_leaf(0x16, (uint64_t)khz, regs);
		put_entry(c, 0x16, 0, false, regs);
		raise_max(c, 0, 0x16);
		if (find_entry(c, 0x40000000, 0)) {
			vmm__cpuid_tsc_leaf(0x40000010, (uint64_t)khz, regs);
			put_entry(c, 0x40000010, 0, false, regs);
			raise_max(c, 0x40000000, 0x40000010);
		}
	}
	for (uint32_t i = 0; i < vm->cfg.cpuid_add_count; i++) {
		const struct vmm_cpuid_leaf *l = &vm->cfg.cpuid_add[i];
		uint32_t regs[4] = { l->eax, l->ebx, l->ecx, l->edx };
		put_entry(c, l->function, l->index,
			  (l->flags & VMM_CPUID_FLAG_INDEX) != 0, regs);
	}
	raise_max(c, 0, vmm__cpuid_added_max(vm, 0));
	raise_max(c, 0x40000000, vmm__cpuid_added_max(vm, 0x40000000));
	raise_max(c, 0x80000000, vmm__cpuid_added_max(vm, 0x80000000));
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 e = c->entries[i];
		uint32_t regs[4];

		switch (e.function) {
		case 1: /* initial APIC ID */
			e.ebx = (e.ebx & 0x00ffffffu) | (vcpu->index << 24);
			break;
		case 0xb: /* x2APIC ID */
		case 0x1f:
			e.edx = vcpu->index;
			break;
		}
		if (vm->cfg.cpuid_filter) {
			regs[0] = e.eax, regs[1] = e.ebx, regs[2] = e.ecx,
			regs[3] = e.edx;
			if (!vm->cfg.cpuid_filter(vm->cfg.cpuid_opaque,
						  e.function, e.index, regs))
				continue;
			e.eax = regs[0], e.ebx = regs[1], e.ecx = regs[2],
			e.edx = regs[3];
		}
		out->entries[n++] = e;
	}
	out->nent = n;
	r = kvm_ioctl(p->fd, KVM_SET_CPUID2, out);
	if (r < 0)
		r = vmm__err(vm, r, "KVM_SET_CPUID2 failed");
	vmm__free(vm, c);
	vmm__free(vm, out);
	return r;
}

/* IA32_MISC_ENABLE as vmm_state_reset() has it: fast strings on. */
static int set_misc_enable(vmm_vcpu *vcpu, struct kvm_vcpu_priv *p)
{
	union {
		struct kvm_msrs h;
		uint8_t raw[sizeof(struct kvm_msrs) +
			    sizeof(struct kvm_msr_entry)];
	} m;
	int r;

	memset(&m, 0, sizeof(m));
	m.h.nmsrs = 1;
	m.h.entries[0].index = 0x1a0;
	m.h.entries[0].data = 0x1801;
	r = kvm_ioctl(p->fd, KVM_SET_MSRS, &m.h);
	return r == 1 ? 0 : vmm__err(vcpu->vm, r < 0 ? r : -EIO,
				     "KVM_SET_MSRS IA32_MISC_ENABLE failed");
}

int kvm_vcpu_init(vmm_vcpu *vcpu)
{
	vmm_vm *vm = vcpu->vm;
	struct kvm_vm *k = kvm_of(vm);
	struct kvm_vcpu_priv *p = vmm__alloc(vm, sizeof(*p));
	int r;

	if (!p)
		return vmm__err(vm, -ENOMEM, "out of memory for vCPU");
	p->fd = kvm_ioctl(k->vm_fd, KVM_CREATE_VCPU,
			  (void *)(uintptr_t)vcpu->index);
	if (p->fd < 0) {
		r = vmm__err(vm, p->fd, "KVM_CREATE_VCPU %u failed",
			     vcpu->index);
		vmm__free(vm, p);
		return r;
	}
	p->run = mmap(NULL, (size_t)k->run_size, PROT_READ | PROT_WRITE,
		      MAP_SHARED, p->fd, 0);
	if (p->run == MAP_FAILED) {
		r = vmm__err(vm, -errno, "mmap kvm_run: %s", strerror(errno));
		close(p->fd);
		vmm__free(vm, p);
		return r;
	}
	vcpu->backend = p;
	r = set_cpuid(vcpu, p);
	if (!r)
		r = set_misc_enable(vcpu, p);
	if (r) {
		kvm_vcpu_fini(vcpu);
		return r;
	}
	kvm_split_vcpu(vm, vcpu, true);
	return 0;
}

void kvm_vcpu_fini(vmm_vcpu *vcpu)
{
	struct kvm_vcpu_priv *p = kvcpu_of(vcpu);

	if (!p)
		return;
	kvm_split_vcpu(vcpu->vm, vcpu, false);
	munmap(p->run, (size_t)kvm_of(vcpu->vm)->run_size);
	close(p->fd);
	vmm__free(vcpu->vm, p);
	vcpu->backend = NULL;
}

void kvm_vcpu_kick(vmm_vcpu *vcpu)
{
	struct kvm_vcpu_priv *p = kvcpu_of(vcpu);

	/* immediate_exit first: a KVM_RUN that has not yet checked it exits
	 * at once; one already in the guest is interrupted by the signal. */
	__atomic_store_n(&p->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (atomic_load(&vcpu->running))
		pthread_kill(vcpu->run_thread, kvm_of(vcpu->vm)->kick_signal);
}

static void internal(struct vmm_exit *exit, uint32_t reason, int code,
		     const char *fmt, uint64_t a)
{
	exit->kind = VMM_EXIT_INTERNAL;
	exit->internal.reason = reason;
	exit->internal.code = code;
	exit->internal.data[0] = a;
	snprintf(exit->internal.msg, sizeof(exit->internal.msg), fmt,
		 (unsigned long long)a);
}

static void translate(vmm_vcpu *vcpu, struct kvm_run *run,
		      struct vmm_exit *exit)
{
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		exit->kind = VMM_EXIT_IO;
		exit->io.port = run->io.port;
		exit->io.size = run->io.size;
		exit->io.is_write = run->io.direction == KVM_EXIT_IO_OUT;
		exit->io.count = run->io.count;
		exit->io.data = (uint8_t *)run + run->io.data_offset;
		break;
	case KVM_EXIT_MMIO:
		exit->kind = VMM_EXIT_MMIO;
		exit->mmio.gpa = run->mmio.phys_addr;
		exit->mmio.len = run->mmio.len;
		exit->mmio.is_write = run->mmio.is_write;
		exit->mmio.data = run->mmio.data;
		break;
	case KVM_EXIT_HLT:
		exit->kind = VMM_EXIT_HLT;
		break;
	case KVM_EXIT_SHUTDOWN:
		exit->kind = VMM_EXIT_SHUTDOWN;
		break;
	case KVM_EXIT_INTR:
		exit->kind = VMM_EXIT_INTERRUPTED;
		break;
	case KVM_EXIT_DEBUG:
		exit->kind = VMM_EXIT_DEBUG;
		exit->debug.exception = run->debug.arch.exception;
		exit->debug.pc = run->debug.arch.pc;
		exit->debug.dr6 = run->debug.arch.dr6;
		exit->debug.dr7 = run->debug.arch.dr7;
		break;
	case KVM_EXIT_HYPERCALL:
		exit->kind = VMM_EXIT_HYPERCALL;
		exit->hypercall.nr = run->hypercall.nr;
		memcpy(exit->hypercall.args, run->hypercall.args,
		       sizeof(exit->hypercall.args));
		exit->hypercall.ret = 0;
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
			exit->kind = VMM_EXIT_RESET;
		else if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
			exit->kind = VMM_EXIT_POWEROFF;
		else
			internal(exit, VMM_INTERNAL_BACKEND,
				 (int)run->system_event.type,
				 "KVM system event %llu",
				 run->system_event.type);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		internal(exit, VMM_INTERNAL_INVALID_STATE, 0,
			 "VM entry failed, hardware reason 0x%llx",
			 run->fail_entry.hardware_entry_failure_reason);
		exit->kind = VMM_EXIT_FAIL_ENTRY;
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		internal(exit,
			 run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ?
				 VMM_INTERNAL_EMULATION :
				 VMM_INTERNAL_BACKEND,
			 (int)run->internal.suberror,
			 "KVM internal error, suberror %llu",
			 run->internal.suberror);
		for (uint32_t i = 0; i < run->internal.ndata && i < 3; i++)
			exit->internal.data[i + 1] = run->internal.data[i];
		break;
	default:
		internal(exit, VMM_INTERNAL_BACKEND, (int)run->exit_reason,
			 "unexpected KVM exit reason %llu", run->exit_reason);
		break;
	}
}

/*
 * KVM_RUN returns -EINTR (or KVM_EXIT_INTR) whenever the thread has a signal
 * or notify-signal task work pending, not only after vmm_vcpu_kick(): any
 * signal the embedder handles, and on recent kernels task work queued with
 * TWA_SIGNAL, interrupt it.  Only a kick is an exit the caller asked for
 * (the soft backend behaves the same), so an interruption without a pending
 * kick re-enters the guest.  Ordering against kvm_vcpu_kick(), which stores
 * kick_pending and then immediate_exit: we clear immediate_exit before
 * testing kick_pending, so a kick we miss here still finds the next
 * KVM_RUN exiting at once.
 */
static bool interrupted(struct kvm_run *run, vmm_vcpu *vcpu)
{
	__atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	return atomic_exchange(&vcpu->kick_pending, false);
}

int kvm_vcpu_run(vmm_vcpu *vcpu, struct vmm_exit *exit)
{
	struct kvm_vcpu_priv *p = kvcpu_of(vcpu);
	struct kvm_run *run = p->run;
	bool split = kvm_of(vcpu->vm)->split != NULL;
	int r;

	if (p->exit_pending) {	/* from kvm_vcpu_complete_io() */
		p->exit_pending = false;
		if (!split || !kvm_split_exit(vcpu)) {
			translate(vcpu, run, exit);
			return 0;
		}
	}
	for (;;) {
		if (split && vcpu->index == 0)
			kvm_split_pre_run(vcpu);
		if (atomic_load(&vcpu->kick_pending))
			__atomic_store_n(&run->immediate_exit, 1,
					 __ATOMIC_SEQ_CST);
		kvm_state_forget(p);
		r = ioctl(p->fd, KVM_RUN, 0);
		if (r < 0) {
			int e = errno;
			if (e != EINTR && e != EAGAIN)
				return vmm__err(vcpu->vm, -e,
						"vcpu%u: KVM_RUN: %s",
						vcpu->index, strerror(e));
			if (!interrupted(run, vcpu))
				continue; /* spurious: no kick */
			memset(exit, 0, sizeof(*exit));
			exit->kind = VMM_EXIT_INTERRUPTED;
			return 0;
		}
		if (run->exit_reason == KVM_EXIT_INTR && !interrupted(run, vcpu))
			continue;
		if (split && kvm_split_exit(vcpu))
			continue;
		break;
	}
	translate(vcpu, run, exit);
	return 0;
}

/* DR7 for the debugger's slots: global enable, RW and LEN per slot */
static uint64_t hw_dr7(const struct vmm_hw_bp *hbp)
{
	static const uint8_t rw[5] = { 0, 0, 1, 3, 3 }; /* READ: access */
	static const uint8_t len[9] = { 0, 0, 1, 0, 3, 0, 0, 0, 2 };
	uint64_t dr7 = 0;

	for (unsigned k = 0; k < 4; k++) {
		if (hbp[k].kind == VMM_HWBP_OFF)
			continue;
		dr7 |= 2ull << (2 * k);
		dr7 |= (uint64_t)rw[hbp[k].kind] << (16 + 4 * k);
		if (hbp[k].kind != VMM_HWBP_EXEC)
			dr7 |= (uint64_t)len[hbp[k].len < 9 ? hbp[k].len : 0]
			       << (18 + 4 * k);
	}
	return dr7;
}

/* KVM_SET_GUEST_DEBUG with the vCPU's single-step, INT3 and hardware
 * breakpoint settings. */
static int set_guest_debug(vmm_vcpu *vcpu, bool step, bool sw_bp,
			   const struct vmm_hw_bp *hbp)
{
	struct kvm_vcpu_priv *p = kvcpu_of(vcpu);
	struct kvm_guest_debug dbg = { 0 };
	uint64_t dr7 = hw_dr7(hbp);
	int r;

	if (!(vcpu->vm->caps & VMM_CAP_GUEST_DEBUG))
		return -ENOTSUP;
	if (step || sw_bp || dr7)
		dbg.control = KVM_GUESTDBG_ENABLE;
	if (step)
		dbg.control |= KVM_GUESTDBG_SINGLESTEP;
	if (sw_bp)
		dbg.control |= KVM_GUESTDBG_USE_SW_BP;
	if (dr7) {
		dbg.control |= KVM_GUESTDBG_USE_HW_BP;
		for (unsigned k = 0; k < 4; k++)
			dbg.arch.debugreg[k] = hbp[k].addr;
		dbg.arch.debugreg[7] = dr7 | 0x400;
	}
	kvm_state_forget(p);
	r = kvm_ioctl(p->fd, KVM_SET_GUEST_DEBUG, &dbg);
	if (r < 0)
		return vmm__err(vcpu->vm, r, "KVM_SET_GUEST_DEBUG failed");
	p->single_step = step;
	p->sw_bp = sw_bp;
	if (hbp != p->hbp)
		memcpy(p->hbp, hbp, sizeof(p->hbp));
	return 0;
}

int kvm_single_step(vmm_vcpu *vcpu, bool on)
{
	struct kvm_vcpu_priv *p = kvcpu_of(vcpu);

	return set_guest_debug(vcpu, on, p->sw_bp, p->hbp);
}

int kvm_sw_breakpoints(vmm_vcpu *vcpu, bool on)
{
	struct kvm_vcpu_priv *p = kvcpu_of(vcpu);

	return set_guest_debug(vcpu, p->single_step, on, p->hbp);
}

int kvm_hw_breakpoints(vmm_vcpu *vcpu, const struct vmm_hw_bp *bp,
		       unsigned n)
{
	struct kvm_vcpu_priv *p = kvcpu_of(vcpu);
	struct vmm_hw_bp h[4] = { 0 };

	if (n)
		memcpy(h, bp, n * sizeof(*bp));
	return set_guest_debug(vcpu, p->single_step, p->sw_bp, h);
}
