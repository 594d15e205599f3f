/* SPDX-License-Identifier: MIT */
/*
 * internal.h - helpers every part of libvmm may use: allocation through the
 * VM's allocator, error recording, logging, the device registry.
 *
 * Nothing here knows a backend.  Devices, loaders and migration include this
 * and the public headers; only src/core and src/cpu include vm_impl.h.
 */
#ifndef LIBVMM_INTERNAL_H
#define LIBVMM_INTERNAL_H

#define LIBVMM_BUILDING 1
#include <libvmm/libvmm.h>

#include <errno.h>
#include <stdarg.h>

#define VMM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define VMM_ALIGN_UP(x, a) (((x) + (a)-1) & ~((__typeof__(x))(a)-1))
#define VMM_IS_ALIGNED(x, a) (((x) & ((a)-1)) == 0)
#define VMM_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Allocation through the VM's allocator; zeroed; NULL on failure. */
void *vmm__alloc(vmm_vm *vm, size_t size);
void *vmm__alloc_with(const struct vmm_allocator *a, size_t size);
void vmm__free_with(const struct vmm_allocator *a, void *p);
void vmm__free(vmm_vm *vm, void *p);
char *vmm__strdup(vmm_vm *vm, const char *s);

/*
 * vmm__err() - record @err with a message as the VM's last error, pass it
 * to the log callback at VMM_LOG_ERROR, and return @err (a negative errno),
 * so that `return vmm__err(vm, -EINVAL, "...")` reads naturally.
 */
int vmm__err(vmm_vm *vm, int err, const char *fmt, ...) VMM_PRINTF(3, 4);
void vmm__log(vmm_vm *vm, int level, const char *fmt, ...) VMM_PRINTF(3, 4);
bool vmm__log_enabled(vmm_vm *vm, int level);

/* Device registry: every device of a VM hangs off the VM handle. */
struct vmm_dev {
	vmm_vm *vm;
	char name[48];
	void *priv;
	void (*destroy)(void *priv); /* unregister ranges and free priv */
	struct vmm_dev *next;
};

/*
 * vmm__dev_new() - allocate a device handle for @vm and link it into the
 * VM's device list.  @destroy is called by vmm_dev_detach() or at VM
 * destruction.  Returns NULL (with the VM's error set) on failure.
 */
vmm_dev *vmm__dev_new(vmm_vm *vm, const char *name, void *priv,
		      void (*destroy)(void *priv));
/* Detach every device (VM destruction). */
void vmm__dev_detach_all(vmm_vm *vm);
/* Free a handle from vmm__dev_new() that never got attached properly. */
void vmm__dev_abort(vmm_dev *dev);

/*
 * vmm__vm_evloop() - the VM's I/O thread (src/io/evloop.h), started on first
 * use and stopped at VM destruction after every device is detached.  NULL
 * (with the VM's error set) if it cannot be started.
 */
struct vmm_evloop;
struct vmm_evloop *vmm__vm_evloop(vmm_vm *vm);

/* RAM layout queries devices (RTC, e820 builders) use. */
uint64_t vmm__ram_below_4g(vmm_vm *vm);
uint64_t vmm__ram_above_4g(vmm_vm *vm);

/*
 * vmm__vm_create_null() - a VM with the "null" backend: memory, bus and
 * devices work, vCPUs cannot run (vmm_vcpu_run() gives -ENOSYS).  Only for
 * unit tests of the layers above the backends; not exported.
 */
int vmm__vm_create_null(const struct vmm_config *cfg, vmm_vm **out);

#endif
