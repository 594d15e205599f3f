/* SPDX-License-Identifier: MIT */
/*
 * backend.c - the software backend's ops table: VM and vCPU lifetime,
 * memory-map changes (TLB and translation-cache invalidation through an
 * epoch), dirty logging, run, kick, state get/set, single step, and the
 * interrupt lines that go to the emulated controllers.
 */
#include "cpu/soft/exec.h"
#include "cpu/soft/irqglue.h"
#include "cpu/soft/jit/jit.h"

#include <stdio.h>
#include <time.h>

static int soft_probe(char *why, size_t len)
{
	return 0; /* runs everywhere */
}

static uint64_t clock_host(void *opaque)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* deterministic: 1 ns of guest time per instruction retired by vCPU 0 */
static uint64_t clock_icount(void *opaque)
{
	vmm_vm *vm = opaque;
	vmm_vcpu *v = vm->vcpus[0];

	return (v && v->backend ? soft_of(v)->icount : 0) +
	       atomic_load(&soft_vm_of(vm)->det_skip);
}

/* deterministic: a halted vCPU jumps to the next timer event */
static void clock_advance(void *opaque, uint64_t ns)
{
	vmm_vm *vm = opaque;
	uint64_t now = clock_icount(vm);

	if (ns > now)
		atomic_fetch_add(&soft_vm_of(vm)->det_skip, ns - now);
}

static void soft_vm_fini(vmm_vm *vm);

static int soft_vm_init(vmm_vm *vm)
{
	struct soft_vm *svm = vmm__alloc(vm, sizeof(*svm));
	int ret;

	if (!svm)
		return vmm__err(vm, -ENOMEM, "out of memory for the soft VM");
	vm->backend = svm;
	soft_build_handlers(svm->handlers);
	svm->deterministic = vm->cfg.flags & VMM_CFG_DETERMINISTIC;
	svm->clock.deterministic = svm->deterministic;
	svm->clock.now_ns = svm->deterministic ? clock_icount : clock_host;
	svm->clock.opaque = vm;
	svm->clock.advance = svm->deterministic ? clock_advance : NULL;
	svm->tsc_origin = clock_host(NULL);
	vm->caps = VMM_CAP_READONLY_MEM | VMM_CAP_DIRTY_LOG |
		   VMM_CAP_GUEST_DEBUG | VMM_CAP_IMMEDIATE_EXIT |
		   VMM_CAP_INSN_LIMIT;
	if (svm->deterministic)
		vm->caps |= VMM_CAP_DETERMINISTIC;
	if (!(vm->cfg.flags & VMM_CFG_NO_IRQCHIP)) {
		ret = soft_glue_create(vm, svm);
		if (ret) {
			vmm__free(vm, svm);
			vm->backend = NULL;
			return vmm__err(vm, ret, "soft irqchip: %s",
					vmm_strerror(ret));
		}
		if (svm->chip) {
			vm->caps |= VMM_CAP_IRQCHIP | VMM_CAP_MSI;
			if (!(vm->cfg.flags & VMM_CFG_NO_PIT))
				vm->caps |= VMM_CAP_PIT;
		} else if (vm->cfg.irqchip != VMM_IRQCHIP_DEFAULT) {
			soft_vm_fini(vm);
			return vmm__err(vm, -ENOTSUP,
					"irqchip mode '%s': this libvmm is built "
					"without the emulated controllers",
					vmm_irqchip_name(vm->cfg.irqchip));
		} else {
			vm->missing_caps |= VMM_CAP_IRQCHIP;
		}
	}
	ret = soft_features_init(vm, svm);
	if (ret) {
		soft_glue_destroy(svm);
		vmm__free(vm, svm);
		vm->backend = NULL;
		return ret;
	}
	/* soft has no kernel part: KERNEL and SPLIT both mean the emulated
	 * controllers; report what was asked for */
	if (!svm->chip)
		vm->irqchip_mode = VMM_IRQCHIP_NONE;
	else if (vm->cfg.irqchip == VMM_IRQCHIP_SPLIT)
		vm->irqchip_mode = VMM_IRQCHIP_SPLIT;
	else
		vm->irqchip_mode = VMM_IRQCHIP_KERNEL;
	return 0;
}

static void soft_vm_fini(vmm_vm *vm)
{
	struct soft_vm *svm = soft_vm_of(vm);

	if (!svm)
		return;
	soft_glue_destroy(svm);
	vmm__free(vm, svm);
	vm->backend = NULL;
}

static int soft_mem_map(vmm_vm *vm, struct vmm_gmem_region *r)
{
	struct soft_vm *svm = soft_vm_of(vm);

	/* a region added while dirty pages are logged (vmm_mem_dirty_log()
	 * may have been called before any region existed, and so never
	 * reached soft_dirty_log()): its writes must take the slow path
	 * that marks them, like every other region's */
	if (r->flags & VMM_MEM_DIRTY_LOG)
		atomic_store(&svm->dirty_logging, true);
	atomic_fetch_add(&svm->epoch, 1);
	return 0;
}

static void soft_mem_unmap(vmm_vm *vm, struct vmm_gmem_region *r)
{
	atomic_fetch_add(&soft_vm_of(vm)->epoch, 1);
}

static int soft_dirty_log(vmm_vm *vm, struct vmm_gmem_region *r, bool on)
{
	struct soft_vm *svm = soft_vm_of(vm);

	/* while logging, no TLB entry is writable: every guest write takes
	 * the slow path, which marks the page after the store (mmu.c
	 * st_logged()) */
	atomic_store(&svm->dirty_logging, on);
	atomic_fetch_add(&svm->epoch, 1);
	return 0;
}

static int soft_dirty_fetch(vmm_vm *vm, struct vmm_gmem_region *r,
			    uint64_t *bitmap)
{
	return 0; /* guest writes are in the VMM-side bitmap already */
}

static int soft_vcpu_init(vmm_vcpu *vcpu)
{
	vmm_vm *vm = vcpu->vm;
	struct soft_cpu *c = vmm__alloc(vm, sizeof(*c));
	int ret;

	if (!c)
		return vmm__err(vm, -ENOMEM, "out of memory for a soft vCPU");
	c->vcpu = vcpu;
	c->vm = vm;
	c->svm = soft_vm_of(vm);
	c->delivering = -1;
	c->pend_vec = -1;
	vmm_state_reset(&c->st, vcpu->index == 0);
	/* with interrupt controllers, application processors wait for
	 * INIT/SIPI as on hardware */
	if (c->svm->chip && vcpu->index > 0)
		c->st.mp_state = VMM_MP_INIT_RECEIVED;
	c->epoch = atomic_load(&c->svm->epoch);
	soft_update_mode(c);
	soft_tlb_flush(c);
	ret = soft_tb_init(c);
	if (ret) {
		vmm__free(vm, c);
		return vmm__err(vm, ret, "out of memory for the block cache");
	}
	soft_jit_init(c);
	c->st_tb_flushes = 0; /* the empty cache's first flush is no event */
	/* all TSCs count from the VM's creation, as a machine's start
	 * together at reset (KVM synchronizes its vCPUs' TSCs too): a vCPU
	 * created later does not lag behind the others */
	if (c->svm->deterministic)
		c->tsc_offset = 0;
	else
		c->tsc_offset = -(int64_t)c->svm->tsc_origin;
	c->tsc_read = UINT64_MAX; /* no get_state yet */
	vcpu->backend = c;
	soft_glue_tsc_offset(c);
	return 0;
}

static void soft_vcpu_fini(vmm_vcpu *vcpu)
{
	struct soft_cpu *c = soft_of(vcpu);

	if (!c)
		return;
	soft_jit_fini(c);
	soft_tb_fini(c);
	vmm__free(vcpu->vm, c);
	vcpu->backend = NULL;
}

static int soft_vcpu_run(vmm_vcpu *vcpu, struct vmm_exit *exit)
{
	struct soft_cpu *c = soft_of(vcpu);

	if (c->st.mp_state == VMM_MP_HALTED)
		c->halted = true;
	return soft_exec(c, exit);
}

static void soft_vcpu_kick(vmm_vcpu *vcpu)
{
	struct soft_cpu *c = soft_of(vcpu);

	/* kick_pending is already set; it is checked at every block
	 * boundary and before sleeping in HLT */
	if (c)
		soft_glue_wake(c);
}

static int soft_get_state(vmm_vcpu *vcpu, struct vmm_cpu_state *st)
{
	struct soft_cpu *c = soft_of(vcpu);

	soft_flags_commit(c);
	*st = c->st;
	st->rflags |= 2;
	st->msr.tsc = c->tsc_read = soft_tsc(c);
	st->events.interrupt_shadow = c->shadow;
	if (c->halted && st->mp_state == VMM_MP_RUNNABLE)
		st->mp_state = VMM_MP_HALTED;
	if (c->svm->chip) {
		soft_glue_get_lapic(c, st->lapic);
		if (SOFT_IRQ_HAVE(soft_irqchip_get_apic_base))
			st->msr.apic_base = soft_irqchip_get_apic_base(
				c->svm->chip, vcpu->index);
		if (SOFT_IRQ_HAVE(soft_irqchip_get_cr8))
			st->cr8 = soft_irqchip_get_cr8(c->svm->chip, vcpu->index);
		if (SOFT_IRQ_HAVE(soft_irqchip_rdmsr))
			(void)soft_irqchip_rdmsr(c->svm->chip, vcpu->index,
						 0x6e0, &st->msr.tsc_deadline);
	}
	return 0;
}

static int soft_get_xstate(vmm_vcpu *vcpu, struct vmm_cpu_xstate *xs)
{
	struct soft_cpu *c = soft_of(vcpu);

	if (c->svm->feat.cr4_ok & VMM_CR4_PKE) {
		xs->valid |= VMM_XSTATE_PKRU;
		xs->pkru = c->pkru;
	}
	if (c->svm->feat.cr4_ok & VMM_CR4_PKS) {
		xs->valid |= VMM_XSTATE_PKRS;
		xs->pkrs = c->pkrs;
	}
	return 0;
}

static int soft_set_xstate(vmm_vcpu *vcpu, const struct vmm_cpu_xstate *xs)
{
	struct soft_cpu *c = soft_of(vcpu);

	if (xs->valid & VMM_XSTATE_PKRS) {
		if (!(c->svm->feat.cr4_ok & VMM_CR4_PKS)) {
			if (xs->pkrs)
				return vmm__err(vcpu->vm, -ENOTSUP,
						"PKRS 0x%x: CPU model '%s' of "
						"the software backend has no "
						"PKS", xs->pkrs,
						vmm_cpu_model_name(
							(enum vmm_cpu_model)
								vcpu->vm->cfg
									.cpu_model));
		} else if (c->pkrs != xs->pkrs) {
			c->pkrs = xs->pkrs;
			/* translations were checked against the old PKRS */
			soft_tlb_flush(c);
		}
	}
	if (xs->valid & VMM_XSTATE_PKRU) {
		if (!(c->svm->feat.cr4_ok & VMM_CR4_PKE)) {
			if (xs->pkru)
				return vmm__err(vcpu->vm, -ENOTSUP,
						"PKRU 0x%x: CPU model '%s' of "
						"the software backend has no "
						"PKU", xs->pkru,
						vmm_cpu_model_name(
							(enum vmm_cpu_model)
								vcpu->vm->cfg
									.cpu_model));
			return 0;
		}
		/* translations were checked against the old PKRU (the same
		 * value keeps them: a snapshot reset sets it every time) */
		if (c->pkru != xs->pkru) {
			c->pkru = xs->pkru;
			soft_tlb_flush(c);
		}
	}
	return 0;
}

static int soft_set_state(vmm_vcpu *vcpu, const struct vmm_cpu_state *st)
{
	struct soft_cpu *c = soft_of(vcpu);
	vmm_vm *vm = vcpu->vm;

	if ((st->cr0 & VMM_CR0_PG) && !(st->cr0 & VMM_CR0_PE))
		return vmm__err(vm, -EINVAL, "CR0.PG without CR0.PE");
	if ((st->msr.efer & VMM_EFER_LMA) &&
	    (!(st->cr0 & VMM_CR0_PG) || !(st->cr4 & VMM_CR4_PAE)))
		return vmm__err(vm, -EINVAL,
				"EFER.LMA without paging and CR4.PAE");
	if (st->seg[VMM_CS].l && st->seg[VMM_CS].db &&
	    (st->msr.efer & VMM_EFER_LMA))
		return vmm__err(vm, -EINVAL, "CS with both L and D set");
	if (st->cr4 & ~c->svm->feat.cr4_ok)
		return vmm__err(vm, -EINVAL,
				"CR4 0x%llx: bits 0x%llx are not in CPU model "
				"'%s' of the software backend",
				(unsigned long long)st->cr4,
				(unsigned long long)(st->cr4 &
						     ~c->svm->feat.cr4_ok),
				vmm_cpu_model_name(
					(enum vmm_cpu_model)vm->cfg.cpu_model));
	unsigned int3_len = 0;

	c->st = *st;
	c->st.rflags |= 2;
	c->lf_op = LF_NONE;
	c->shadow = st->events.interrupt_shadow != 0;
	c->halted = st->mp_state == VMM_MP_HALTED;
	c->read_pending = false;
	c->replay_n = c->replay_pos = 0;
	c->wq_n = c->wq_head = 0;
	c->ev = 0;
	c->db_hits = 0;
	c->db_ibp = c->ss_shadow_now = c->step_tf = c->rf_keep = false;
	/* an event in delivery or pending (e.g. a snapshot taken on KVM):
	 * deliver it before the next instruction */
	c->pend_vec = -1;
	c->hbp_hits = 0;
	c->hbp_skip = false;
	if (st->events.exception_injected || st->events.exception_pending) {
		c->pend_vec = st->events.exception_nr;
		c->pend_kind = EV_EXC;
		/* #BP / #OF in delivery: RIP is at the one-byte INT3 / INTO
		 * and the frame gets the address after it (as KVM reports
		 * and re-injects them; see struct vmm_events) */
		if (st->events.exception_injected &&
		    (c->pend_vec == 3 || c->pend_vec == 4)) {
			c->pend_kind = EV_INT3;
			int3_len = 1;
		}
		c->pend_has_err = st->events.exception_has_error;
		c->pend_err = st->events.exception_error;
		if (st->events.exception_pending && c->pend_vec == 14 &&
		    st->events.exception_payload)
			c->st.cr2 = st->events.exception_payload;
	} else if (st->events.nmi_injected) {
		c->pend_vec = 2;
		c->pend_kind = EV_EXT;
		c->pend_has_err = false;
		c->st.events.nmi_masked = 1;
	} else if (st->events.interrupt_injected) {
		c->pend_vec = st->events.interrupt_nr;
		c->pend_kind = EV_EXT;
		c->pend_has_err = false;
	}
	c->st.events.exception_injected = 0;
	c->st.events.exception_pending = 0;
	c->st.events.interrupt_injected = 0;
	c->st.events.nmi_injected = 0;
	/* a TSC given back as get_state read it (a state round trip, as in
	 * vmm_boot_setup_vcpu) keeps counting: stopping it for the time in
	 * between would put this vCPU behind the others, which Linux sees
	 * as TSC warp (KVM likewise keeps vCPUs' TSCs synchronized) */
	if (st->msr.tsc != c->tsc_read)
		c->tsc_offset = (int64_t)(st->msr.tsc -
					  (soft_tsc(c) - (uint64_t)c->tsc_offset));
	soft_glue_tsc_offset(c);
	soft_update_mode(c);
	c->st.rip = (c->st.rip + int3_len) & c->ipmask;
	soft_tlb_flush(c);
	if (c->svm->chip) {
		int r = 0;
		if (SOFT_IRQ_HAVE(soft_irqchip_put_apic_base))
			r = soft_irqchip_put_apic_base(c->svm->chip, vcpu->index,
						       st->msr.apic_base);
		if (r)
			return vmm__err(vm, r, "APIC base 0x%llx refused: %s",
					(unsigned long long)st->msr.apic_base,
					vmm_strerror(r));
		r = soft_glue_set_lapic(c, st->lapic);
		if (r)
			return vmm__err(vm, r, "local APIC state refused");
		if (SOFT_IRQ_HAVE(soft_irqchip_set_cr8))
			soft_irqchip_set_cr8(c->svm->chip, vcpu->index, st->cr8);
		if (SOFT_IRQ_HAVE(soft_irqchip_wrmsr))
			(void)soft_irqchip_wrmsr(c->svm->chip, vcpu->index,
						 0x6e0, st->msr.tsc_deadline);
	}
	return 0;
}

/*
 * Snapshots: the PIC pair, IOAPIC and PIT in the neutral format (the
 * conversion is src/irq/irqconv.c).  The local APICs travel with
 * the vCPU state.  Loading goes through the chip's save image, which holds
 * each vCPU's TSC at the time of the call: re-send the CPUs' TSC offsets
 * afterwards so that TSC-deadline timers stay on RDTSC's time.
 */
static int soft_get_irqchip(vmm_vm *vm, struct vmm_irqchip_state *st)
{
	struct soft_vm *svm = soft_vm_of(vm);

	if (!svm->chip)
		return vmm__err(vm, -ENODEV, "no interrupt controllers");
	if (!SOFT_IRQ_HAVE(soft_irqchip_get_vmm))
		return vmm__err(vm, -ENOTSUP,
				"soft irqchip state conversion not built");
	return soft_irqchip_get_vmm(svm->chip, st);
}

static int soft_set_irqchip(vmm_vm *vm, const struct vmm_irqchip_state *st)
{
	struct soft_vm *svm = soft_vm_of(vm);
	int ret;

	if (!svm->chip)
		return vmm__err(vm, -ENODEV, "no interrupt controllers");
	if (!SOFT_IRQ_HAVE(soft_irqchip_set_vmm))
		return vmm__err(vm, -ENOTSUP,
				"soft irqchip state conversion not built");
	ret = soft_irqchip_set_vmm(svm->chip, st);
	if (ret)
		return ret;
	for (unsigned i = 0; i < VMM_MAX_VCPUS; i++) {
		vmm_vcpu *v = vm->vcpus[i];
		if (v && v->backend)
			soft_glue_tsc_offset(soft_of(v));
	}
	return 0;
}

/*
 * A soft read exit (IN, MMIO read) unwinds the instruction before
 * returning; the answer the embedder fills in is replayed when the
 * instruction runs again.  Before a snapshot reads the state, run just
 * that instruction with the answer (io.c), so that the state is the one
 * after it, as on KVM, and a restore does not issue the device read twice.
 */
static int soft_vcpu_complete_io(vmm_vcpu *vcpu)
{
	return soft_complete_io(soft_of(vcpu));
}

/* The counters the CPU keeps as it runs (see struct soft_cpu). */
static void soft_vcpu_stats(vmm_vcpu *vcpu, struct vmm_vcpu_stats *st)
{
	struct soft_cpu *c = soft_of(vcpu);

	st->insns_retired = c->icount;
	st->blocks_translated = c->st_tb_translated;
	st->blocks_invalidated = c->st_tb_invalidated;
	st->block_cache_flushes = c->st_tb_flushes;
	st->tlb_hits = c->st_tlb_hits;
	st->tlb_misses = c->st_tlb_misses;
	st->valid |= VMM_VCPU_STAT_INSNS | VMM_VCPU_STAT_BLOCKS |
		     VMM_VCPU_STAT_TLB;
	st->pause_yields = c->st_pause_yields;
	st->blocks_cold = c->st_tb_cold;
	st->valid |= VMM_VCPU_STAT_PAUSE | VMM_VCPU_STAT_COLD;
	if (c->svm->chip) {
		st->halts = c->st_halts;
		st->halt_ns = c->st_halt_ns;
		st->valid |= VMM_VCPU_STAT_HALT;
	}
#if SOFT_JIT
	st->blocks_compiled = c->st_jit_blocks;
	st->jit_fallbacks = c->st_jit_fallbacks;
	st->valid |= VMM_VCPU_STAT_JIT | VMM_VCPU_STAT_JIT_FALLBACKS;
#endif
}

static int soft_single_step(vmm_vcpu *vcpu, bool on)
{
	soft_of(vcpu)->single_step = on;
	return 0;
}

static int soft_insn_limit(vmm_vcpu *vcpu, uint64_t n)
{
	struct soft_cpu *c = soft_of(vcpu);

	c->limit_on = n != 0;
	/* (a limit past 2^64 instructions is none that can be reached) */
	c->limit_at = n > UINT64_MAX - c->icount ? UINT64_MAX : c->icount + n;
	return 0;
}

static int soft_sw_breakpoints(vmm_vcpu *vcpu, bool on)
{
	soft_of(vcpu)->sw_bp = on;
	return 0;
}

static int soft_hw_breakpoints(vmm_vcpu *vcpu, const struct vmm_hw_bp *bp,
			       unsigned n)
{
	soft_hbp_set(soft_of(vcpu), bp, n);
	return 0;
}

static int soft_irq_line(vmm_vm *vm, uint32_t gsi, int level)
{
	return soft_glue_set_irq(soft_vm_of(vm), gsi, level);
}

static int soft_msi(vmm_vm *vm, uint64_t addr, uint32_t data)
{
	return soft_glue_msi(soft_vm_of(vm), addr, data);
}

const struct vmm_backend_ops vmm_soft_ops = {
	.name = "soft",
	.kind = VMM_BACKEND_SOFT,
	.probe = soft_probe,
	.vm_init = soft_vm_init,
	.vm_fini = soft_vm_fini,
	.mem_map = soft_mem_map,
	.mem_unmap = soft_mem_unmap,
	.dirty_log = soft_dirty_log,
	.dirty_fetch = soft_dirty_fetch,
	.vcpu_init = soft_vcpu_init,
	.vcpu_fini = soft_vcpu_fini,
	.vcpu_run = soft_vcpu_run,
	.vcpu_kick = soft_vcpu_kick,
	.get_state = soft_get_state,
	.set_state = soft_set_state,
	.get_xstate = soft_get_xstate,
	.set_xstate = soft_set_xstate,
	.single_step = soft_single_step,
	.insn_limit = soft_insn_limit,
	.sw_breakpoints = soft_sw_breakpoints,
	.hw_breakpoints = soft_hw_breakpoints,
	.irq_line = soft_irq_line,
	.msi = soft_msi,
	.get_irqchip = soft_get_irqchip,
	.set_irqchip = soft_set_irqchip,
	.vcpu_complete_io = soft_vcpu_complete_io,
	.vcpu_stats = soft_vcpu_stats,
};
