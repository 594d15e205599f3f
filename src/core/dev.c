/* SPDX-License-Identifier: MIT */
/*
 * dev.c - the per-VM device registry: every attached device has a handle
 * on the VM's list and is detached (ranges unregistered, state freed) by
 * vmm_dev_detach() or when the VM is destroyed.
 */
#include "core/vm_impl.h"

#include <stdio.h>
#include <string.h>

vmm_dev *vmm__dev_new(vmm_vm *vm, const char *name, void *priv,
		      void (*destroy)(void *priv))
{
	vmm_dev *d = vmm__alloc(vm, sizeof(*d));

	if (!d) {
		vmm__err(vm, -ENOMEM, "out of memory for device %s", name);
		return NULL;
	}
	d->vm = vm;
	d->priv = priv;
	d->destroy = destroy;
	snprintf(d->name, sizeof(d->name), "%s", name);
	pthread_mutex_lock(&vm->dev_lock);
	d->next = vm->devices;
	vm->devices = d;
	pthread_mutex_unlock(&vm->dev_lock);
	return d;
}

static bool unlink_dev(vmm_vm *vm, vmm_dev *dev)
{
	bool found = false;

	pthread_mutex_lock(&vm->dev_lock);
	for (vmm_dev **pp = &vm->devices; *pp; pp = &(*pp)->next) {
		if (*pp == dev) {
			*pp = dev->next;
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&vm->dev_lock);
	return found;
}

void vmm__dev_abort(vmm_dev *dev)
{
	if (!dev)
		return;
	unlink_dev(dev->vm, dev);
	vmm__free(dev->vm, dev);
}

int vmm_dev_detach(vmm_dev *dev)
{
	vmm_vm *vm;

	if (!dev)
		return -EINVAL;
	vm = dev->vm;
	if (dev->pre_detach) {
		int ret = dev->pre_detach(dev->priv);
		if (ret)
			return ret;
	}
	if (!unlink_dev(vm, dev))
		return -ENOENT;
	if (dev->destroy)
		dev->destroy(dev->priv);
	vmm__free(vm, dev);
	return 0;
}

void vmm__dev_detach_all(vmm_vm *vm)
{
	while (vm->devices) {
		/* destruction cannot be refused (vCPUs are stopped by now) */
		vm->devices->pre_detach = NULL;
		vmm_dev_detach(vm->devices);
	}
}

const char *vmm_dev_name(const vmm_dev *dev)
{
	return dev ? dev->name : "";
}

int vmm__dev_set_state_ops(vmm_dev *dev, const char *type, unsigned space,
			   uint64_t base, uint32_t version,
			   vmm_dev_save_fn save, vmm_dev_restore_fn restore)
{
	size_t n;

	if (!dev || !type || !save || !restore || !version)
		return -EINVAL;
	n = strlen(type);
	if (n == 0 || n >= sizeof(dev->state_type) ||
	    (space != VMM_SPACE_PIO && space != VMM_SPACE_MMIO &&
	     space != VMM_DEV_SPACE_NONE))
		return vmm__err(dev->vm, -EINVAL, "device %s: bad state id",
				dev->name);
	memcpy(dev->state_type, type, n + 1);
	dev->state_space = (uint8_t)space;
	dev->state_base = base;
	dev->state_version = version;
	dev->save = save;
	dev->restore = restore;
	return 0;
}

void vmm__dev_state_resume_all(vmm_vm *vm)
{
	vmm_dev *d;

	/* the list only changes on attach/detach, which the embedder does
	 * not do while saving; state_resume() takes the device's own lock */
	pthread_mutex_lock(&vm->dev_lock);
	d = vm->devices;
	pthread_mutex_unlock(&vm->dev_lock);
	for (; d; d = d->next)
		if (d->state_resume)
			d->state_resume(d->priv);
}

int vmm__dev_list(vmm_vm *vm, vmm_dev **out, int max)
{
	int n = 0, i;

	pthread_mutex_lock(&vm->dev_lock);
	for (vmm_dev *d = vm->devices; d; d = d->next)
		n++;
	/* the list is newest first; hand it out in attach order */
	i = n;
	for (vmm_dev *d = vm->devices; d; d = d->next) {
		i--;
		if (i < max)
			out[i] = d;
	}
	pthread_mutex_unlock(&vm->dev_lock);
	return n;
}
