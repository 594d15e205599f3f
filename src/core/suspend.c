/* SPDX-License-Identifier: MIT */
/*
 * suspend.c - what snapshots need from the VM core beyond the vCPU state
 * calls: the interrupt controllers' state through the backend's optional
 * ops, completing a pending I/O exit without running the guest, and read
 * access to the creation config and the dirty-logging switch.
 */
#include "core/vm_impl.h"

#include <string.h>

int vmm_vm_get_irqchip(vmm_vm *vm, struct vmm_irqchip_state *st)
{
	int ret;

	if (!vm || !st)
		return -EINVAL;
	if (!(vm->caps & VMM_CAP_IRQCHIP))
		return vmm__err(vm, -ENODEV, "VM has no interrupt controller");
	if (!vm->ops->get_irqchip)
		return vmm__err(vm, -ENOTSUP,
				"%s backend cannot export interrupt controller state",
				vm->ops->name);
	memset(st, 0, sizeof(*st));
	ret = vm->ops->get_irqchip(vm, st);
	st->version = VMM_IRQCHIP_STATE_VERSION;
	return ret;
}

int vmm_vm_set_irqchip(vmm_vm *vm, const struct vmm_irqchip_state *st)
{
	if (!vm || !st)
		return -EINVAL;
	if (st->version != VMM_IRQCHIP_STATE_VERSION)
		return vmm__err(vm, -EINVAL,
				"irqchip state version %u, this libvmm knows %u",
				st->version, VMM_IRQCHIP_STATE_VERSION);
	if (!(vm->caps & VMM_CAP_IRQCHIP))
		return vmm__err(vm, -ENODEV, "VM has no interrupt controller");
	if (!vm->ops->set_irqchip)
		return vmm__err(vm, -ENOTSUP,
				"%s backend cannot load interrupt controller state",
				vm->ops->name);
	return vm->ops->set_irqchip(vm, st);
}

int vmm__vcpu_complete_io(vmm_vcpu *vcpu)
{
	int ret;

	if (!vcpu->vm->ops->vcpu_complete_io)
		return 0;
	vcpu->run_thread = pthread_self();
	atomic_store(&vcpu->running, true);
	ret = vcpu->vm->ops->vcpu_complete_io(vcpu);
	atomic_store(&vcpu->running, false);
	return ret;
}

const struct vmm_config *vmm__vm_config(vmm_vm *vm)
{
	return &vm->cfg;
}

bool vmm__mem_dirty_logging(vmm_vm *vm)
{
	bool on;

	pthread_rwlock_rdlock(&vm->mem.lock);
	on = vm->mem.dirty_log;
	pthread_rwlock_unlock(&vm->mem.lock);
	return on;
}
