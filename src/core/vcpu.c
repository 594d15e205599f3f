/* SPDX-License-Identifier: MIT */
/*
 * vcpu.c - vCPU objects, the raw run step, and the run loop that dispatches
 * port-I/O and MMIO exits to the device bus.
 */
#include "core/vm_impl.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

const char *vmm_exit_name(enum vmm_exit_kind k)
{
	static const char *const names[VMM_EXIT__COUNT] = {
		[VMM_EXIT_NONE] = "none",
		[VMM_EXIT_IO] = "io",
		[VMM_EXIT_MMIO] = "mmio",
		[VMM_EXIT_HLT] = "hlt",
		[VMM_EXIT_SHUTDOWN] = "shutdown",
		[VMM_EXIT_HYPERCALL] = "hypercall",
		[VMM_EXIT_DEBUG] = "debug",
		[VMM_EXIT_INTERRUPTED] = "interrupted",
		[VMM_EXIT_INTERNAL] = "internal",
		[VMM_EXIT_GUEST_EXIT] = "guest-exit",
		[VMM_EXIT_RESET] = "reset",
		[VMM_EXIT_POWEROFF] = "poweroff",
		[VMM_EXIT_FAIL_ENTRY] = "fail-entry",
		[VMM_EXIT_INSN_LIMIT] = "insn-limit",
	};
	if ((unsigned)k >= VMM_EXIT__COUNT || !names[k])
		return "?";
	return names[k];
}

int vmm_vcpu_create(vmm_vm *vm, unsigned index, vmm_vcpu **out)
{
	vmm_vcpu *vcpu;
	int ret;

	if (!vm || !out)
		return -EINVAL;
	if (index >= vm->cfg.ncpus)
		return vmm__err(vm, -EINVAL, "vCPU %u out of range (VM has %u)",
				index, vm->cfg.ncpus);
	pthread_mutex_lock(&vm->run_lock);
	if (vm->vcpus[index]) {
		pthread_mutex_unlock(&vm->run_lock);
		return vmm__err(vm, -EEXIST, "vCPU %u exists", index);
	}
	vcpu = vmm__alloc(vm, sizeof(*vcpu));
	if (!vcpu) {
		pthread_mutex_unlock(&vm->run_lock);
		return vmm__err(vm, -ENOMEM, "out of memory for vCPU");
	}
	vcpu->vm = vm;
	vcpu->index = index;
	ret = vm->ops->vcpu_init(vcpu);
	if (ret) {
		vmm__free(vm, vcpu);
		pthread_mutex_unlock(&vm->run_lock);
		return ret;
	}
	vm->vcpus[index] = vcpu;
	vm->ncpus++;
	pthread_mutex_unlock(&vm->run_lock);
	*out = vcpu;
	return 0;
}

vmm_vcpu *vmm_vm_get_vcpu(vmm_vm *vm, unsigned index)
{
	if (!vm || index >= VMM_MAX_VCPUS)
		return NULL;
	return vm->vcpus[index];
}

unsigned vmm_vcpu_index(const vmm_vcpu *vcpu)
{
	return vcpu ? vcpu->index : 0;
}

vmm_vm *vmm_vcpu_vm(vmm_vcpu *vcpu)
{
	return vcpu ? vcpu->vm : NULL;
}

int vmm_vcpu_run(vmm_vcpu *vcpu, struct vmm_exit *exit)
{
	vmm_vm *vm;
	int ret;

	if (!vcpu || !exit)
		return -EINVAL;
	vm = vcpu->vm;
	/* a failed vmm_migrate_receive_into() left the state half written */
	if (atomic_load_explicit(&vm->poisoned, memory_order_relaxed) &&
	    (ret = vmm__vm_poison_check(vm, "vmm_vcpu_run")))
		return ret;
	vcpu->run_thread = pthread_self();
	atomic_store(&vcpu->running, true);
	/* the other half of vmm_mem_remove()'s handshake: while memory is
	 * being removed, wait for it (sequentially consistent store above,
	 * load here: one of the two sides sees the other) */
	while (atomic_load(&vm->mem.changing)) {
		atomic_store(&vcpu->running, false);
		pthread_mutex_lock(&vm->mem.change_lock);
		pthread_mutex_unlock(&vm->mem.change_lock);
		atomic_store(&vcpu->running, true);
	}
	ret = vm->ops->vcpu_run(vcpu, exit);
	atomic_store(&vcpu->running, false);
	if (ret == 0) {
		if ((unsigned)exit->kind < VMM_EXIT__COUNT) {
			/* one writer (this thread): no locked add needed */
			_Atomic uint64_t *n = &vcpu->exit_count[exit->kind];
			atomic_store_explicit(
				n, atomic_load_explicit(n, memory_order_relaxed) + 1,
				memory_order_relaxed);
		}
		atomic_fetch_add_explicit(&vm->exits, 1, memory_order_relaxed);
		if (exit->kind == VMM_EXIT_IO)
			atomic_fetch_add_explicit(&vm->io_exits, 1,
						  memory_order_relaxed);
		else if (exit->kind == VMM_EXIT_MMIO)
			atomic_fetch_add_explicit(&vm->mmio_exits, 1,
						  memory_order_relaxed);
	}
	return ret;
}

static void stop_exit(struct vmm_exit *exit, const struct vmm_io_ctx *ctx)
{
	exit->kind = ctx->stop;
	if (ctx->stop == VMM_EXIT_GUEST_EXIT) {
		exit->guest.value = ctx->stop_value;
		exit->guest.status = ctx->stop_status;
	}
}

static void device_error(vmm_vcpu *vcpu, struct vmm_exit *exit, int err,
			 const char *space, uint64_t addr)
{
	exit->kind = VMM_EXIT_INTERNAL;
	exit->internal.reason = VMM_INTERNAL_DEVICE;
	exit->internal.code = err;
	exit->internal.data[0] = addr;
	snprintf(exit->internal.msg, sizeof(exit->internal.msg),
		 "%s handler at 0x%llx failed: %s", space,
		 (unsigned long long)addr, vmm_err_name(err));
	vmm__log(vcpu->vm, VMM_LOG_WARN, "vcpu%u: %s", vcpu->index,
		 exit->internal.msg);
}

/* Returns true if the exit was completed and the guest may continue. */
static bool dispatch_io(vmm_vcpu *vcpu, struct vmm_exit *exit)
{
	vmm_vm *vm = vcpu->vm;
	struct vmm_io_ctx ctx = { .vcpu = vcpu };
	unsigned size = exit->io.size;

	for (uint32_t i = 0; i < exit->io.count; i++) {
		uint8_t *d = exit->io.data + (size_t)i * size;
		int ret = vmm__bus_dispatch_guest(vm, VMM_SPACE_PIO,
						  exit->io.port, d, size,
						  exit->io.is_write, &ctx);
		if (ret == -ENOENT) {
			atomic_fetch_add(&vm->unhandled_io, 1);
			if (!(vm->cfg.flags & VMM_CFG_IGNORE_UNHANDLED_IO))
				return false;
			if (!exit->io.is_write)
				memset(d, 0xff, size);
			continue;
		}
		if (ret < 0) {
			device_error(vcpu, exit, ret, "PIO", exit->io.port);
			return false;
		}
	}
	if (ctx.stop) {
		stop_exit(exit, &ctx);
		return false;
	}
	return true;
}

static bool dispatch_mmio(vmm_vcpu *vcpu, struct vmm_exit *exit)
{
	vmm_vm *vm = vcpu->vm;
	struct vmm_io_ctx ctx = { .vcpu = vcpu };
	int ret;

	ret = vmm__bus_dispatch_guest(vm, VMM_SPACE_MMIO, exit->mmio.gpa,
				      exit->mmio.data, exit->mmio.len,
				      exit->mmio.is_write, &ctx);
	if (ret == -ENOENT) {
		atomic_fetch_add(&vm->unhandled_io, 1);
		if (!(vm->cfg.flags & VMM_CFG_IGNORE_UNHANDLED_IO))
			return false;
		if (!exit->mmio.is_write)
			memset(exit->mmio.data, 0xff, exit->mmio.len);
		return true;
	}
	if (ret < 0) {
		device_error(vcpu, exit, ret, "MMIO", exit->mmio.gpa);
		return false;
	}
	if (ctx.stop) {
		stop_exit(exit, &ctx);
		return false;
	}
	return true;
}

int vmm_vcpu_run_loop(vmm_vcpu *vcpu, struct vmm_exit *exit)
{
	int ret;

	if (!vcpu || !exit)
		return -EINVAL;
	for (;;) {
		ret = vmm_vcpu_run(vcpu, exit);
		if (ret)
			return ret;
		switch (exit->kind) {
		case VMM_EXIT_IO:
			if (!dispatch_io(vcpu, exit))
				return 0;
			break;
		case VMM_EXIT_MMIO:
			if (!dispatch_mmio(vcpu, exit))
				return 0;
			break;
		default:
			return 0;
		}
	}
}

int vmm_vcpu_kick(vmm_vcpu *vcpu)
{
	if (!vcpu)
		return -EINVAL;
	atomic_store(&vcpu->kick_pending, true);
	vcpu->vm->ops->vcpu_kick(vcpu);
	return 0;
}

int vmm_vcpu_get_state(vmm_vcpu *vcpu, struct vmm_cpu_state *st)
{
	int ret;

	if (!vcpu || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	ret = vcpu->vm->ops->get_state(vcpu, st);
	st->version = VMM_CPU_STATE_VERSION;
	return ret;
}

int vmm_vcpu_set_state(vmm_vcpu *vcpu, const struct vmm_cpu_state *st)
{
	if (!vcpu || !st)
		return -EINVAL;
	if (st->version != VMM_CPU_STATE_VERSION)
		return vmm__err(vcpu->vm, -EINVAL,
				"CPU state version %u, this libvmm knows %u",
				st->version, VMM_CPU_STATE_VERSION);
	if (st->mp_state > VMM_MP_SIPI_RECEIVED)
		return vmm__err(vcpu->vm, -EINVAL, "bad mp_state %u",
				st->mp_state);
	return vcpu->vm->ops->set_state(vcpu, st);
}

int vmm_vcpu_get_xstate(vmm_vcpu *vcpu, struct vmm_cpu_xstate *xs)
{
	struct vmm_cpu_xstate x;
	int ret;

	if (!vcpu || !xs)
		return -EINVAL;
	memset(&x, 0, sizeof(x));
	x.struct_size = sizeof(x);
	if (vcpu->vm->ops->get_xstate) {
		ret = vcpu->vm->ops->get_xstate(vcpu, &x);
		if (ret)
			return ret;
	}
	return vmm__struct_out(xs, &x, sizeof(x), sizeof(x));
}

int vmm_vcpu_set_xstate(vmm_vcpu *vcpu, const struct vmm_cpu_xstate *xs)
{
	struct vmm_cpu_xstate x;

	if (!vcpu || !xs)
		return -EINVAL;
	memset(&x, 0, sizeof(x));
	if (VMM__STRUCT_IN(&x, xs))
		return vmm__err(vcpu->vm, -EINVAL,
				"struct vmm_cpu_xstate: bad struct_size or "
				"unknown fields set");
	if ((x.valid & ~VMM_XSTATE_ALL) || x.reserved0)
		return vmm__err(vcpu->vm, -EINVAL,
				"struct vmm_cpu_xstate: unknown valid bits "
				"0x%llx or reserved fields set",
				(unsigned long long)(x.valid & ~VMM_XSTATE_ALL));
	if (!x.valid)
		return 0;
	if (!vcpu->vm->ops->set_xstate) {
		if ((x.valid & VMM_XSTATE_PKRU) && x.pkru)
			return vmm__err(vcpu->vm, -ENOTSUP,
					"PKRU 0x%x: this backend has no PKRU",
					x.pkru);
		if ((x.valid & VMM_XSTATE_PKRS) && x.pkrs)
			return vmm__err(vcpu->vm, -ENOTSUP,
					"PKRS 0x%x: this backend has no PKS",
					x.pkrs);
		return 0;
	}
	return vcpu->vm->ops->set_xstate(vcpu, &x);
}

int vmm_vcpu_translate(vmm_vcpu *vcpu, vmm_gva_t gva, unsigned access,
		       vmm_gpa_t *gpa)
{
	struct vmm_cpu_state *st;
	struct vmm_paging p;
	uint32_t ec = 0;
	int ret;

	if (!vcpu || !gpa)
		return -EINVAL;
	st = vmm__alloc(vcpu->vm, sizeof(*st));
	if (!st)
		return -ENOMEM;
	ret = vmm_vcpu_get_state(vcpu, st);
	if (ret == 0) {
		p = (struct vmm_paging){ st->cr0, st->cr3, st->cr4,
					 st->msr.efer, st->seg[VMM_CS].dpl };
		ret = vmm_gmem_walk(&vcpu->vm->mem, &p, gva, access, false, gpa,
				    &ec, NULL);
		if (ret == -EFAULT)
			vmm__err(vcpu->vm, ret,
				 "gva 0x%llx not mapped (page fault, error code 0x%x)",
				 (unsigned long long)gva, ec);
	}
	vmm__free(vcpu->vm, st);
	return ret;
}

int vmm_vcpu_set_single_step(vmm_vcpu *vcpu, bool on)
{
	if (!vcpu)
		return -EINVAL;
	if (!vcpu->vm->ops->single_step)
		return -ENOTSUP;
	return vcpu->vm->ops->single_step(vcpu, on);
}

int vmm_vcpu_set_insn_limit(vmm_vcpu *vcpu, uint64_t n)
{
	if (!vcpu)
		return -EINVAL;
	if (!vcpu->vm->ops->insn_limit)
		return vmm__err(vcpu->vm, -ENOTSUP,
				"the %s backend cannot count guest instructions "
				"(no instruction limit)", vcpu->vm->ops->name);
	if (atomic_load(&vcpu->running))
		return vmm__err(vcpu->vm, -EBUSY,
				"vCPU %u is running: set its instruction limit "
				"between runs", vcpu->index);
	return vcpu->vm->ops->insn_limit(vcpu, n);
}

int vmm_vcpu_set_sw_breakpoints(vmm_vcpu *vcpu, bool on)
{
	if (!vcpu)
		return -EINVAL;
	if (!vcpu->vm->ops->sw_breakpoints)
		return -ENOTSUP;
	return vcpu->vm->ops->sw_breakpoints(vcpu, on);
}

int vmm_vcpu_set_hw_breakpoints(vmm_vcpu *vcpu, const struct vmm_hw_bp *bp,
				unsigned n)
{
	if (!vcpu || n > VMM_HW_BP_MAX || (n && !bp))
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		unsigned len = bp[i].len;

		if (bp[i].kind > VMM_HWBP_ACCESS)
			return vmm__err(vcpu->vm, -EINVAL,
					"hw breakpoint %u: bad kind %u", i,
					bp[i].kind);
		if (bp[i].kind == VMM_HWBP_OFF)
			continue;
		if (bp[i].kind == VMM_HWBP_EXEC ? len != 1 :
		    (len != 1 && len != 2 && len != 4 && len != 8) ||
		    (bp[i].addr & (len - 1)))
			return vmm__err(vcpu->vm, -EINVAL,
					"hw breakpoint %u: bad length %u or "
					"alignment", i, len);
	}
	if (!vcpu->vm->ops->hw_breakpoints)
		return -ENOTSUP;
	return vcpu->vm->ops->hw_breakpoints(vcpu, bp, n);
}

_Static_assert(VMM_EXIT__COUNT <= VMM_VCPU_STATS_EXIT_KINDS,
	       "struct vmm_vcpu_stats.exits_by_kind is too small");

int vmm_vcpu_get_stats(vmm_vcpu *vcpu, struct vmm_vcpu_stats *out)
{
	struct vmm_vcpu_stats st;
	size_t n;

	if (!vcpu || !out ||
	    out->struct_size < offsetof(struct vmm_vcpu_stats, exits) + sizeof(out->exits))
		return -EINVAL;
	if (atomic_load(&vcpu->running))
		return vmm__err(vcpu->vm, -EBUSY,
				"vCPU %u is running: stop or pause it to read its counters",
				vcpu->index);
	memset(&st, 0, sizeof(st));
	st.valid = VMM_VCPU_STAT_EXITS;
	for (unsigned k = 0; k < VMM_EXIT__COUNT; k++) {
		st.exits_by_kind[k] = atomic_load_explicit(&vcpu->exit_count[k],
							   memory_order_relaxed);
		st.exits += st.exits_by_kind[k];
	}
	if (vcpu->vm->ops->vcpu_stats)
		vcpu->vm->ops->vcpu_stats(vcpu, &st);
	/* an older caller's struct: only what fits, and only the bits of
	 * counters that fit whole */
	n = out->struct_size < sizeof(st) ? out->struct_size : sizeof(st);
	if (n < offsetof(struct vmm_vcpu_stats, insns_retired) +
		    sizeof(st.insns_retired))
		st.valid &= ~VMM_VCPU_STAT_INSNS;
	if (n < offsetof(struct vmm_vcpu_stats, block_cache_flushes) +
		    sizeof(st.block_cache_flushes))
		st.valid &= ~VMM_VCPU_STAT_BLOCKS;
	if (n < offsetof(struct vmm_vcpu_stats, tlb_misses) +
		    sizeof(st.tlb_misses))
		st.valid &= ~VMM_VCPU_STAT_TLB;
	if (n < offsetof(struct vmm_vcpu_stats, blocks_compiled) +
		    sizeof(st.blocks_compiled))
		st.valid &= ~VMM_VCPU_STAT_JIT;
	if (n < offsetof(struct vmm_vcpu_stats, halt_ns) + sizeof(st.halt_ns))
		st.valid &= ~VMM_VCPU_STAT_HALT;
	if (n < offsetof(struct vmm_vcpu_stats, pause_yields) +
		    sizeof(st.pause_yields))
		st.valid &= ~VMM_VCPU_STAT_PAUSE;
	if (n < offsetof(struct vmm_vcpu_stats, jit_fallbacks) +
		    sizeof(st.jit_fallbacks))
		st.valid &= ~VMM_VCPU_STAT_JIT_FALLBACKS;
	if (n < offsetof(struct vmm_vcpu_stats, blocks_cold) +
		    sizeof(st.blocks_cold))
		st.valid &= ~VMM_VCPU_STAT_COLD;
	/* a newer caller's struct: the fields we do not know read as zero
	 * (the growable-struct rule, src/core/abi.c) */
	if (out->struct_size > sizeof(st) && out->struct_size <= 65536)
		memset((char *)out + sizeof(st), 0, out->struct_size - sizeof(st));
	else if (out->struct_size > 65536)
		return -EINVAL;
	st.struct_size = (uint32_t)n;
	memcpy(out, &st, n);
	return 0;
}
