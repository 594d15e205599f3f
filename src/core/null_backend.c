/* SPDX-License-Identifier: MIT */
/*
 * null_backend.c - a backend that runs nothing: memory, bus, devices and
 * vCPU state work; vmm_vcpu_run() fails with -ENOSYS.  Used by unit tests of
 * the layers above the backends (vmm__vm_create_null()); never selected by
 * vmm_vm_create().
 */
#include "core/vm_impl.h"

static int null_probe(char *why, size_t len)
{
	return 0;
}

static int null_vm_init(vmm_vm *vm)
{
	vm->caps = VMM_CAP_READONLY_MEM | VMM_CAP_DIRTY_LOG;
	vm->irqchip_mode = VMM_IRQCHIP_NONE;
	return 0;
}

static void null_vm_fini(vmm_vm *vm)
{
}

static int null_mem_map(vmm_vm *vm, struct vmm_gmem_region *r)
{
	return 0;
}

static void null_mem_unmap(vmm_vm *vm, struct vmm_gmem_region *r)
{
}

static int null_vcpu_init(vmm_vcpu *vcpu)
{
	struct vmm_cpu_state *st = vmm__alloc(vcpu->vm, sizeof(*st));

	if (!st)
		return -ENOMEM;
	vmm_state_reset(st, vcpu->index == 0);
	vcpu->backend = st;
	return 0;
}

static void null_vcpu_fini(vmm_vcpu *vcpu)
{
	vmm__free(vcpu->vm, vcpu->backend);
}

static int null_vcpu_run(vmm_vcpu *vcpu, struct vmm_exit *exit)
{
	return vmm__err(vcpu->vm, -ENOSYS, "the null backend cannot run vCPUs");
}

static void null_vcpu_kick(vmm_vcpu *vcpu)
{
}

static int null_get_state(vmm_vcpu *vcpu, struct vmm_cpu_state *st)
{
	*st = *(struct vmm_cpu_state *)vcpu->backend;
	return 0;
}

static int null_set_state(vmm_vcpu *vcpu, const struct vmm_cpu_state *st)
{
	*(struct vmm_cpu_state *)vcpu->backend = *st;
	return 0;
}

const struct vmm_backend_ops vmm_null_ops = {
	.name = "null",
	.kind = VMM_BACKEND_AUTO,
	.probe = null_probe,
	.vm_init = null_vm_init,
	.vm_fini = null_vm_fini,
	.mem_map = null_mem_map,
	.mem_unmap = null_mem_unmap,
	.vcpu_init = null_vcpu_init,
	.vcpu_fini = null_vcpu_fini,
	.vcpu_run = null_vcpu_run,
	.vcpu_kick = null_vcpu_kick,
	.get_state = null_get_state,
	.set_state = null_set_state,
};
