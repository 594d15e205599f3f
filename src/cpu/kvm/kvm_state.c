/* SPDX-License-Identifier: MIT */
/*
 * kvm_state.c - conversion between KVM's register ioctls (regs, sregs,
 * FPU/XSAVE, XCRs, MSRs, events, debug registers, MP state, LAPIC) and the
 * backend-neutral struct vmm_cpu_state.
 */
#include "cpu/kvm/kvm.h"

#include <cpuid.h>
#include <string.h>

#define XSAVE_YMM_OFFSET 576

static void seg_from_kvm(struct vmm_segment *d, const struct kvm_segment *s)
{
	d->base = s->base;
	d->limit = s->limit;
	d->selector = s->selector;
	d->type = s->type;
	d->s = s->s;
	d->dpl = s->dpl;
	d->present = s->present;
	d->avl = s->avl;
	d->l = s->l;
	d->db = s->db;
	d->g = s->g;
	d->unusable = s->unusable;
}

static void seg_to_kvm(struct kvm_segment *d, const struct vmm_segment *s)
{
	memset(d, 0, sizeof(*d));
	d->base = s->base;
	d->limit = s->limit;
	d->selector = s->selector;
	d->type = s->type;
	d->s = s->s;
	d->dpl = s->dpl;
	d->present = s->present;
	d->avl = s->avl;
	d->l = s->l;
	d->db = s->db;
	d->g = s->g;
	d->unusable = s->unusable;
}

static struct kvm_segment *kseg(struct kvm_sregs *s, int i)
{
	switch (i) {
	case VMM_ES: return &s->es;
	case VMM_CS: return &s->cs;
	case VMM_SS: return &s->ss;
	case VMM_DS: return &s->ds;
	case VMM_FS: return &s->fs;
	case VMM_GS: return &s->gs;
	case VMM_LDTR: return &s->ldt;
	default: return &s->tr;
	}
}

static void regs_from_kvm(struct vmm_cpu_state *st, const struct kvm_regs *r)
{
	st->gpr[VMM_RAX] = r->rax, st->gpr[VMM_RCX] = r->rcx;
	st->gpr[VMM_RDX] = r->rdx, st->gpr[VMM_RBX] = r->rbx;
	st->gpr[VMM_RSP] = r->rsp, st->gpr[VMM_RBP] = r->rbp;
	st->gpr[VMM_RSI] = r->rsi, st->gpr[VMM_RDI] = r->rdi;
	st->gpr[VMM_R8] = r->r8, st->gpr[VMM_R9] = r->r9;
	st->gpr[VMM_R10] = r->r10, st->gpr[VMM_R11] = r->r11;
	st->gpr[VMM_R12] = r->r12, st->gpr[VMM_R13] = r->r13;
	st->gpr[VMM_R14] = r->r14, st->gpr[VMM_R15] = r->r15;
	st->rip = r->rip;
	st->rflags = r->rflags;
}

static void regs_to_kvm(struct kvm_regs *r, const struct vmm_cpu_state *st)
{
	r->rax = st->gpr[VMM_RAX], r->rcx = st->gpr[VMM_RCX];
	r->rdx = st->gpr[VMM_RDX], r->rbx = st->gpr[VMM_RBX];
	r->rsp = st->gpr[VMM_RSP], r->rbp = st->gpr[VMM_RBP];
	r->rsi = st->gpr[VMM_RSI], r->rdi = st->gpr[VMM_RDI];
	r->r8 = st->gpr[VMM_R8], r->r9 = st->gpr[VMM_R9];
	r->r10 = st->gpr[VMM_R10], r->r11 = st->gpr[VMM_R11];
	r->r12 = st->gpr[VMM_R12], r->r13 = st->gpr[VMM_R13];
	r->r14 = st->gpr[VMM_R14], r->r15 = st->gpr[VMM_R15];
	r->rip = st->rip;
	r->rflags = st->rflags | VMM_RFLAGS_FIXED;
}

static uint64_t *msr_field(struct vmm_msrs *m, uint32_t idx)
{
	switch (idx) {
	case 0xc0000081: return &m->star;
	case 0xc0000082: return &m->lstar;
	case 0xc0000083: return &m->cstar;
	case 0xc0000084: return &m->sfmask;
	case 0xc0000102: return &m->kernel_gs_base;
	case 0x174: return &m->sysenter_cs;
	case 0x175: return &m->sysenter_esp;
	case 0x176: return &m->sysenter_eip;
	case 0x10: return &m->tsc;
	case 0xc0000103: return &m->tsc_aux;
	case 0x6e0: return &m->tsc_deadline;
	case 0x277: return &m->pat;
	case 0x1a0: return &m->misc_enable;
	case 0x48: return &m->spec_ctrl;
	}
	return NULL;
}

/* struct kvm_msrs with room for its flexible array of entries */
union msr_buf {
	struct kvm_msrs h;
	uint8_t raw[sizeof(struct kvm_msrs) +
		    KVM_MAX_MSRS * sizeof(struct kvm_msr_entry)];
};

/* FXSAVE image <-> struct vmm_fpu */
static void fpu_from_fxsave(struct vmm_fpu *f, const uint8_t *fx)
{
	memcpy(&f->fcw, fx + 0, 2);
	memcpy(&f->fsw, fx + 2, 2);
	f->ftw = fx[4];
	memcpy(&f->fop, fx + 6, 2);
	memcpy(&f->fip, fx + 8, 8);
	memcpy(&f->fdp, fx + 16, 8);
	memcpy(&f->mxcsr, fx + 24, 4);
	memcpy(&f->mxcsr_mask, fx + 28, 4);
	memcpy(f->st, fx + 32, 128);
	memcpy(f->xmm, fx + 160, 256);
}

static void fpu_to_fxsave(uint8_t *fx, const struct vmm_fpu *f)
{
	memcpy(fx + 0, &f->fcw, 2);
	memcpy(fx + 2, &f->fsw, 2);
	fx[4] = f->ftw;
	memcpy(fx + 6, &f->fop, 2);
	memcpy(fx + 8, &f->fip, 8);
	memcpy(fx + 16, &f->fdp, 8);
	memcpy(fx + 24, &f->mxcsr, 4);
	memcpy(fx + 28, &f->mxcsr_mask, 4);
	memcpy(fx + 32, f->st, 128);
	memcpy(fx + 160, f->xmm, 256);
}

static int get_fpu(vmm_vcpu *vcpu, int fd, struct vmm_cpu_state *st)
{
	struct kvm_vm *k = kvm_of(vcpu->vm);
	int r;

	if (k->xsave) {
		struct kvm_xsave xs;
		struct kvm_xcrs xcrs;
		uint64_t bv;

		r = kvm_ioctl(fd, KVM_GET_XSAVE, &xs);
		if (r < 0)
			return vmm__err(vcpu->vm, r, "KVM_GET_XSAVE failed");
		fpu_from_fxsave(&st->fpu, (uint8_t *)xs.region);
		memcpy(&bv, (uint8_t *)xs.region + 512, 8);
		if (bv & 4)
			memcpy(st->fpu.ymmh,
			       (uint8_t *)xs.region + XSAVE_YMM_OFFSET, 256);
		if (kvm_ioctl(fd, KVM_GET_XCRS, &xcrs) == 0)
			for (uint32_t i = 0; i < xcrs.nr_xcrs; i++)
				if (xcrs.xcrs[i].xcr == 0)
					st->fpu.xcr0 = xcrs.xcrs[i].value;
		return 0;
	} else {
		struct kvm_fpu f;
		r = kvm_ioctl(fd, KVM_GET_FPU, &f);
		if (r < 0)
			return vmm__err(vcpu->vm, r, "KVM_GET_FPU failed");
		st->fpu.fcw = f.fcw;
		st->fpu.fsw = f.fsw;
		st->fpu.ftw = f.ftwx;
		st->fpu.fop = f.last_opcode;
		st->fpu.fip = f.last_ip;
		st->fpu.fdp = f.last_dp;
		st->fpu.mxcsr = f.mxcsr;
		memcpy(st->fpu.st, f.fpr, 128);
		memcpy(st->fpu.xmm, f.xmm, 256);
		st->fpu.xcr0 = 3;
		return 0;
	}
}

static int set_fpu(vmm_vcpu *vcpu, int fd, const struct vmm_cpu_state *st)
{
	struct kvm_vm *k = kvm_of(vcpu->vm);
	int r;

	if (k->xsave) {
		struct kvm_xsave xs;
		uint64_t bv;
		bool ymm = false;

		r = kvm_ioctl(fd, KVM_GET_XSAVE, &xs);
		if (r < 0)
			return vmm__err(vcpu->vm, r, "KVM_GET_XSAVE failed");
		fpu_to_fxsave((uint8_t *)xs.region, &st->fpu);
		memcpy(&bv, (uint8_t *)xs.region + 512, 8);
		bv |= 3;
		for (int i = 0; i < 256 && !ymm; i++)
			ymm = st->fpu.ymmh[i / 16][i % 16] != 0;
		if (ymm || (bv & 4)) {
			memcpy((uint8_t *)xs.region + XSAVE_YMM_OFFSET,
			       st->fpu.ymmh, 256);
			if (ymm)
				bv |= 4;
		}
		memcpy((uint8_t *)xs.region + 512, &bv, 8);
		if (st->fpu.xcr0 & 1) {
			struct kvm_xcrs xcrs = { .nr_xcrs = 1 };
			xcrs.xcrs[0].xcr = 0;
			xcrs.xcrs[0].value = st->fpu.xcr0;
			r = kvm_ioctl(fd, KVM_SET_XCRS, &xcrs);
			if (r < 0)
				return vmm__err(vcpu->vm, r,
						"KVM_SET_XCRS 0x%llx refused",
						(unsigned long long)st->fpu.xcr0);
		}
		r = kvm_ioctl(fd, KVM_SET_XSAVE, &xs);
		return r < 0 ? vmm__err(vcpu->vm, r, "KVM_SET_XSAVE failed") : 0;
	} else {
		struct kvm_fpu f = { 0 };
		f.fcw = st->fpu.fcw;
		f.fsw = st->fpu.fsw;
		f.ftwx = st->fpu.ftw;
		f.last_opcode = st->fpu.fop;
		f.last_ip = st->fpu.fip;
		f.last_dp = st->fpu.fdp;
		f.mxcsr = st->fpu.mxcsr;
		memcpy(f.fpr, st->fpu.st, 128);
		memcpy(f.xmm, st->fpu.xmm, 256);
		r = kvm_ioctl(fd, KVM_SET_FPU, &f);
		return r < 0 ? vmm__err(vcpu->vm, r, "KVM_SET_FPU failed") : 0;
	}
}

/* KVM now holds @st's FPU, debug-register and event groups. */
static void remember(struct kvm_vcpu_priv *p, const struct vmm_cpu_state *st)
{
	p->k_fpu = st->fpu;
	memcpy(p->k_dr, st->dr, sizeof(p->k_dr));
	p->k_dr6 = st->dr6;
	p->k_dr7 = st->dr7;
	p->k_events = st->events;
	p->known = true;
}

int kvm_get_state(vmm_vcpu *vcpu, struct vmm_cpu_state *st)
{
	struct kvm_vm *k = kvm_of(vcpu->vm);
	int fd = kvcpu_of(vcpu)->fd;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	union msr_buf mb = { 0 };
	int r;

	if ((r = kvm_ioctl(fd, KVM_GET_REGS, &regs)) < 0)
		return vmm__err(vcpu->vm, r, "KVM_GET_REGS failed");
	if ((r = kvm_ioctl(fd, KVM_GET_SREGS, &sregs)) < 0)
		return vmm__err(vcpu->vm, r, "KVM_GET_SREGS failed");
	regs_from_kvm(st, &regs);
	for (int i = 0; i < VMM_NR_SREGS; i++)
		seg_from_kvm(&st->seg[i], kseg(&sregs, i));
	st->gdtr.base = sregs.gdt.base;
	st->gdtr.limit = sregs.gdt.limit;
	st->idtr.base = sregs.idt.base;
	st->idtr.limit = sregs.idt.limit;
	st->cr0 = sregs.cr0, st->cr2 = sregs.cr2, st->cr3 = sregs.cr3;
	st->cr4 = sregs.cr4, st->cr8 = sregs.cr8;
	st->msr.efer = sregs.efer;
	st->msr.apic_base = sregs.apic_base;

	mb.h.nmsrs = (uint32_t)k->nmsrs;
	for (int i = 0; i < k->nmsrs; i++)
		mb.h.entries[i].index = k->msr_list[i];
	r = kvm_ioctl(fd, KVM_GET_MSRS, &mb);
	if (r < 0)
		return vmm__err(vcpu->vm, r, "KVM_GET_MSRS failed");
	for (int i = 0; i < r; i++)
		*msr_field(&st->msr, mb.h.entries[i].index) = mb.h.entries[i].data;

	if ((r = get_fpu(vcpu, fd, st)))
		return r;

	if (k->debugregs) {
		struct kvm_debugregs d;
		if ((r = kvm_ioctl(fd, KVM_GET_DEBUGREGS, &d)) < 0)
			return vmm__err(vcpu->vm, r, "KVM_GET_DEBUGREGS failed");
		memcpy(st->dr, d.db, sizeof(st->dr));
		st->dr6 = d.dr6;
		st->dr7 = d.dr7;
	}
	if (k->vcpu_events) {
		struct kvm_vcpu_events ev;
		if ((r = kvm_ioctl(fd, KVM_GET_VCPU_EVENTS, &ev)) < 0)
			return vmm__err(vcpu->vm, r, "KVM_GET_VCPU_EVENTS failed");
		st->events.exception_injected = ev.exception.injected;
		st->events.exception_pending = ev.exception.pending;
		st->events.exception_nr = ev.exception.nr;
		st->events.exception_has_error = ev.exception.has_error_code;
		st->events.exception_error = ev.exception.error_code;
		if (ev.exception_has_payload)
			st->events.exception_payload = ev.exception_payload;
		st->events.interrupt_injected = ev.interrupt.injected;
		st->events.interrupt_nr = ev.interrupt.nr;
		st->events.interrupt_soft = ev.interrupt.soft;
		st->events.interrupt_shadow = ev.interrupt.shadow;
		st->events.nmi_injected = ev.nmi.injected;
		st->events.nmi_pending = ev.nmi.pending;
		st->events.nmi_masked = ev.nmi.masked;
		st->events.smi_pending = ev.smi.pending;
	}
	if (k->irqchip) {
		struct kvm_mp_state mp;
		struct kvm_lapic_state la;
		if ((r = kvm_ioctl(fd, KVM_GET_MP_STATE, &mp)) < 0)
			return vmm__err(vcpu->vm, r, "KVM_GET_MP_STATE failed");
		switch (mp.mp_state) {
		case KVM_MP_STATE_HALTED: st->mp_state = VMM_MP_HALTED; break;
		case KVM_MP_STATE_UNINITIALIZED: /* AP waiting for INIT/SIPI */
		case KVM_MP_STATE_INIT_RECEIVED:
			st->mp_state = VMM_MP_INIT_RECEIVED;
			break;
		case KVM_MP_STATE_SIPI_RECEIVED:
			st->mp_state = VMM_MP_SIPI_RECEIVED;
			break;
		default: st->mp_state = VMM_MP_RUNNABLE; break;
		}
		if ((r = kvm_ioctl(fd, KVM_GET_LAPIC, &la)) < 0)
			return vmm__err(vcpu->vm, r, "KVM_GET_LAPIC failed");
		memcpy(st->lapic, la.regs, sizeof(st->lapic));
	}
	remember(kvcpu_of(vcpu), st);
	return 0;
}

int kvm_set_state(vmm_vcpu *vcpu, const struct vmm_cpu_state *st)
{
	struct kvm_vm *k = kvm_of(vcpu->vm);
	struct kvm_vcpu_priv *p = kvcpu_of(vcpu);
	int fd = p->fd;
	bool known;
	struct kvm_regs regs = { 0 };
	struct kvm_sregs sregs;
	union msr_buf mb = { 0 };
	int r;

	kvcpu_of(vcpu)->exit_pending = false; /* it belonged to the old state */

	/*
	 * sregs first: KVM derives the mode (and so RIP width) from them.
	 * Every field of struct kvm_sregs comes from @st below except
	 * apic_base when @st has none: only then read the current one (an
	 * ioctl less on every snapshot reset otherwise).
	 */
	memset(&sregs, 0, sizeof(sregs));
	if (!st->msr.apic_base &&
	    (r = kvm_ioctl(fd, KVM_GET_SREGS, &sregs)) < 0)
		return vmm__err(vcpu->vm, r, "KVM_GET_SREGS failed");
	for (int i = 0; i < VMM_NR_SREGS; i++)
		seg_to_kvm(kseg(&sregs, i), &st->seg[i]);
	sregs.gdt.base = st->gdtr.base;
	sregs.gdt.limit = st->gdtr.limit;
	sregs.idt.base = st->idtr.base;
	sregs.idt.limit = st->idtr.limit;
	sregs.cr0 = st->cr0, sregs.cr2 = st->cr2, sregs.cr3 = st->cr3;
	sregs.cr4 = st->cr4, sregs.cr8 = st->cr8;
	sregs.efer = st->msr.efer;
	if (st->msr.apic_base)
		sregs.apic_base = st->msr.apic_base;
	memset(sregs.interrupt_bitmap, 0, sizeof(sregs.interrupt_bitmap));
	if (st->events.interrupt_injected && !st->events.interrupt_soft &&
	    !k->vcpu_events)
		sregs.interrupt_bitmap[st->events.interrupt_nr / 64] |=
			1ull << (st->events.interrupt_nr % 64);
	if ((r = kvm_ioctl(fd, KVM_SET_SREGS, &sregs)) < 0)
		return vmm__err(vcpu->vm, r,
				"KVM_SET_SREGS refused the state (cr0=0x%llx cr4=0x%llx efer=0x%llx)",
				(unsigned long long)st->cr0,
				(unsigned long long)st->cr4,
				(unsigned long long)st->msr.efer);
	regs_to_kvm(&regs, st);
	if ((r = kvm_ioctl(fd, KVM_SET_REGS, &regs)) < 0)
		return vmm__err(vcpu->vm, r, "KVM_SET_REGS failed");

	mb.h.nmsrs = (uint32_t)k->nmsrs;
	for (int i = 0; i < k->nmsrs; i++) {
		mb.h.entries[i].index = k->msr_list[i];
		mb.h.entries[i].data = *msr_field((struct vmm_msrs *)&st->msr,
					  k->msr_list[i]);
	}
	/* TSC 0 means "not captured": leave the counter running */
	for (int i = 0; i < (int)mb.h.nmsrs; i++) {
		if (mb.h.entries[i].index == 0x10 && st->msr.tsc == 0) {
			mb.h.entries[i] = mb.h.entries[--mb.h.nmsrs];
			break;
		}
	}
	r = kvm_ioctl(fd, KVM_SET_MSRS, &mb);
	if (r < 0 || r != (int)mb.h.nmsrs)
		return vmm__err(vcpu->vm, r < 0 ? r : -EINVAL,
				"KVM_SET_MSRS refused MSR 0x%x",
				r >= 0 ? mb.h.entries[r].index : 0);

	/*
	 * Each group below equal to what KVM holds since the last get/set
	 * with no run in between is not written again (memcmp: the structs
	 * have no padding; a get fills every byte of them from zero).
	 */
	known = p->known;
	p->known = false; /* until every group is written */
	if (!(known && !memcmp(&p->k_fpu, &st->fpu, sizeof(st->fpu))) &&
	    (r = set_fpu(vcpu, fd, st)))
		return r;

	if (known && !memcmp(p->k_dr, st->dr, sizeof(p->k_dr)) &&
	    p->k_dr6 == st->dr6 && p->k_dr7 == st->dr7) {
		/* unchanged */
	} else if (k->debugregs) {
		struct kvm_debugregs d = { 0 };
		memcpy(d.db, st->dr, sizeof(d.db));
		d.dr6 = st->dr6 ? st->dr6 : 0xffff0ff0;
		d.dr7 = st->dr7 ? st->dr7 : 0x400;
		if ((r = kvm_ioctl(fd, KVM_SET_DEBUGREGS, &d)) < 0)
			return vmm__err(vcpu->vm, r, "KVM_SET_DEBUGREGS failed");
	}
	if (known && !memcmp(&p->k_events, &st->events, sizeof(st->events))) {
		/* unchanged */
	} else if (k->vcpu_events) {
		struct kvm_vcpu_events ev = { 0 };
		ev.exception.injected = st->events.exception_injected;
		ev.exception.pending = st->events.exception_pending;
		ev.exception.nr = st->events.exception_nr;
		ev.exception.has_error_code = st->events.exception_has_error;
		ev.exception.error_code = st->events.exception_error;
		ev.interrupt.injected = st->events.interrupt_injected;
		ev.interrupt.nr = st->events.interrupt_nr;
		ev.interrupt.soft = st->events.interrupt_soft;
		ev.interrupt.shadow = st->events.interrupt_shadow;
		ev.nmi.injected = st->events.nmi_injected;
		ev.nmi.pending = st->events.nmi_pending;
		ev.nmi.masked = st->events.nmi_masked;
		ev.flags = KVM_VCPUEVENT_VALID_NMI_PENDING |
			   KVM_VCPUEVENT_VALID_SHADOW;
		/* a pending (not yet injected) exception is re-raised as
		 * injected: KVM without EXCEPTION_PAYLOAD has no "pending" */
		if (ev.exception.pending && !ev.exception.injected) {
			ev.exception.injected = 1;
			ev.exception.pending = 0;
		}
		if ((r = kvm_ioctl(fd, KVM_SET_VCPU_EVENTS, &ev)) < 0)
			return vmm__err(vcpu->vm, r, "KVM_SET_VCPU_EVENTS failed");
	}
	if (k->irqchip) {
		struct kvm_mp_state mp;
		bool lapic_set = false;
		switch (st->mp_state) {
		case VMM_MP_HALTED: mp.mp_state = KVM_MP_STATE_HALTED; break;
		case VMM_MP_INIT_RECEIVED:
			mp.mp_state = KVM_MP_STATE_INIT_RECEIVED;
			break;
		case VMM_MP_SIPI_RECEIVED:
			mp.mp_state = KVM_MP_STATE_SIPI_RECEIVED;
			break;
		default: mp.mp_state = KVM_MP_STATE_RUNNABLE; break;
		}
		for (size_t i = 0; i < sizeof(st->lapic) && !lapic_set; i++)
			lapic_set = st->lapic[i] != 0;
		if (lapic_set) {
			struct kvm_lapic_state la;
			memcpy(la.regs, st->lapic, sizeof(la.regs));
			if ((r = kvm_ioctl(fd, KVM_SET_LAPIC, &la)) < 0)
				return vmm__err(vcpu->vm, r, "KVM_SET_LAPIC failed");
		}
		if ((r = kvm_ioctl(fd, KVM_SET_MP_STATE, &mp)) < 0)
			return vmm__err(vcpu->vm, r, "KVM_SET_MP_STATE failed");
	}
	remember(p, st);
	return 0;
}

/*
 * PKRU (struct vmm_cpu_xstate): XSAVE state component 9, at the offset
 * CPUID.(EAX=0DH,ECX=9):EBX of the standard (non-compacted) layout that
 * KVM_GET_XSAVE uses.  Present only when the host CPU has PKU and KVM gives
 * XSAVE (not on the nested kvm_pvm hosts of our machines, whose CPUs do
 * not advertise PKU: there PKRU is never valid and only 0 can be set).
 */
static unsigned pkru_offset(const struct kvm_vm *k)
{
	unsigned a, b, c, d;

	if (!k->xsave || !__get_cpuid_count(7, 0, &a, &b, &c, &d) ||
	    !(c & (1u << 3)))
		return 0;
	if (!__get_cpuid_count(0xd, 0, &a, &b, &c, &d) || !(a & (1u << 9)))
		return 0;
	__get_cpuid_count(0xd, 9, &a, &b, &c, &d);
	if (a < 4 || b < 576 || b + 4 > sizeof(((struct kvm_xsave *)0)->region))
		return 0;
	return b;
}

int kvm_get_xstate(vmm_vcpu *vcpu, struct vmm_cpu_xstate *xs)
{
	unsigned off = pkru_offset(kvm_of(vcpu->vm));
	struct kvm_xsave x;
	uint64_t bv;
	int r;

	if (!off)
		return 0;
	r = kvm_ioctl(kvcpu_of(vcpu)->fd, KVM_GET_XSAVE, &x);
	if (r < 0)
		return vmm__err(vcpu->vm, r, "KVM_GET_XSAVE failed");
	memcpy(&bv, (uint8_t *)x.region + 512, 8);
	xs->pkru = 0; /* in its init state unless XSTATE_BV bit 9 */
	if (bv & (1u << 9))
		memcpy(&xs->pkru, (uint8_t *)x.region + off, 4);
	xs->valid |= VMM_XSTATE_PKRU;
	return 0;
}

int kvm_set_xstate(vmm_vcpu *vcpu, const struct vmm_cpu_xstate *xs)
{
	unsigned off = pkru_offset(kvm_of(vcpu->vm));
	struct kvm_xsave x;
	uint64_t bv;
	int r, fd = kvcpu_of(vcpu)->fd;

	/* PKRS (IA32_PKRS) is not carried on KVM: only its reset value */
	if ((xs->valid & VMM_XSTATE_PKRS) && xs->pkrs)
		return vmm__err(vcpu->vm, -ENOTSUP,
				"PKRS 0x%x: the KVM backend does not carry "
				"IA32_PKRS", xs->pkrs);
	if (!(xs->valid & VMM_XSTATE_PKRU))
		return 0;
	if (!off) {
		if (xs->pkru)
			return vmm__err(vcpu->vm, -ENOTSUP,
					"PKRU 0x%x: this host's CPU or KVM has "
					"no PKU", xs->pkru);
		return 0;
	}
	r = kvm_ioctl(fd, KVM_GET_XSAVE, &x);
	if (r < 0)
		return vmm__err(vcpu->vm, r, "KVM_GET_XSAVE failed");
	memcpy((uint8_t *)x.region + off, &xs->pkru, 4);
	memcpy(&bv, (uint8_t *)x.region + 512, 8);
	bv |= 1u << 9;
	memcpy((uint8_t *)x.region + 512, &bv, 8);
	r = kvm_ioctl(fd, KVM_SET_XSAVE, &x);
	if (r < 0)
		return vmm__err(vcpu->vm, r, "KVM_SET_XSAVE of PKRU 0x%x "
				"failed (the guest's CPUID has no PKU?)",
				xs->pkru);
	return 0;
}
