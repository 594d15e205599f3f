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
 * A large block whose content the caller writes before it reads any
 * (the software CPU's block-cache arena): not cleared, counted like
 * vmm__alloc().  From the embedder's allocator if it has one, else a
 * private anonymous mapping of its own: pages become resident only when
 * touched and a freed block goes back to the system.  (calloc() takes a
 * block of this size from the heap once the first one was freed, since
 * glibc raises its mmap threshold then, and clears all of it: 8 MiB per
 * vCPU created, a third of fuzz_migrate's time.)  Free with
 * vmm__free_big().
 */
void *vmm__alloc_big(vmm_vm *vm, size_t size);
void vmm__free_big(vmm_vm *vm, void *p);

/*
 * vmm__err() - record @err with a message as the VM's last error, pass it
 * to the log callback at VMM_LOG_ERROR, and return @err (a negative errno),
 * so that `return vmm__err(vm, -EINVAL, "...")` reads naturally.
 */
int vmm__err(vmm_vm *vm, int err, const char *fmt, ...) VMM_PRINTF(3, 4);
/*
 * vmm__err_cfg() - the same for a failure before the VM exists: recorded
 * as the calling thread's last error with no VM (vmm_last_error(NULL, ..))
 * and passed to @cfg's log callback.
 */
int vmm__err_cfg(const struct vmm_config *cfg, int err, const char *fmt, ...)
	VMM_PRINTF(3, 4);
/* vm_create() failed after the VM existed: its last message becomes the
 * thread's "no VM" message, so vmm_last_error(NULL, ...) still says why */
void vmm__err_forget_vm(const vmm_vm *vm);
void vmm__log(vmm_vm *vm, int level, const char *fmt, ...) VMM_PRINTF(3, 4);
bool vmm__log_enabled(vmm_vm *vm, int level);

/*
 * Post-copy migration state hung on a VM (src/migrate/postcopy.c): @fini
 * (with @state) runs first in vmm_vm_destroy(), before the vCPU threads
 * stop (a vCPU blocked on a missing page must be woken first).  Set NULL
 * to detach without calling it.
 */
void vmm__vm_set_migrate(vmm_vm *vm, void *state, void (*fini)(void *));
void *vmm__vm_migrate(vmm_vm *vm);
/* While @why is non-NULL, vmm_vm_resume() refuses with -EBUSY and @why. */
void vmm__vm_set_resume_block(vmm_vm *vm, const char *why);
/*
 * A VM whose state a failed vmm_migrate_receive_into() left partly
 * overwritten ("poisoned", docs/migration.md "Receiving into an existing
 * VM"): while @why (a static string) is set, vmm_vcpu_run(),
 * vmm_vm_start(), the last vmm_vm_resume(), snapshots and migrations of
 * the VM fail with -ENOTRECOVERABLE; vmm_snapshot_reset() and a
 * successful receive clear it (NULL).  vmm__vm_poison_check() is 0, or
 * that error with a message naming @op.
 */
void vmm__vm_set_poison(vmm_vm *vm, const char *why);
int vmm__vm_poison_check(vmm_vm *vm, const char *op);
/* vmm_vm_start() was called (the vCPU threads exist, paused or not) */
bool vmm__vm_started(vmm_vm *vm);
/*
 * The running vmm_migrate_send() of @vm (NULL when none), for calls from
 * other threads: vmm__vm_with_sender() runs @fn(sender, arg) under the
 * VM's lock, so the sender cannot go away meanwhile (it clears itself
 * with NULL before it frees), or returns -ENOENT when there is none.
 */
/* The time the VM's vCPU threads (of vmm_vm_start()) have waited for a
 * core in all, in ms (schedstat run_delay; -1 where the kernel does not
 * say): the migration's switch-over breakdown. */
double vmm__vm_vcpu_wait_ms(vmm_vm *vm);
/* The run-queue wait (ms) in a /proc schedstat file (its second field:
 * runnable, not running); -1 where the kernel does not say. */
double vmm__schedstat_wait_ms(const char *path);
void vmm__vm_set_sender(vmm_vm *vm, void *sender);
int vmm__vm_with_sender(vmm_vm *vm, int (*fn)(void *sender, void *arg),
			void *arg);
/* vmm_mem_get_regions() for the library: @out holds full-size structs */
int vmm__mem_get_regions(vmm_vm *vm, struct vmm_mem_info *out, int max);

/*
 * Growable public structs (src/core/abi.c, docs/api.md): the first member
 * is `uint32_t struct_size`; 0 means the LIBVMM_0.1 size @size_v01.
 *
 * vmm__struct_in() copies the caller's @src into @dst (pre-filled with the
 * defaults, @lib_size bytes): the prefix both know; fields an older caller
 * lacks keep their defaults; a newer caller's unknown tail must be all
 * zero.  dst->struct_size becomes @lib_size.  -EINVAL otherwise.
 *
 * vmm__struct_out() copies the library's @src (@lib_size bytes) into the
 * caller's @dst, as much as the caller's struct_size holds, zeroes a newer
 * caller's tail and sets dst->struct_size to the bytes written.
 *
 * While a struct still has its 0.1 layout, pass sizeof() as @size_v01;
 * the release that grows it must freeze the old size as a constant.
 */
int vmm__struct_in(void *dst, size_t lib_size, const void *src,
		   size_t size_v01);
int vmm__struct_out(void *dst, const void *src, size_t lib_size,
		    size_t size_v01);
/* 0 if the caller's out-struct @dst has a valid struct_size, else -EINVAL */
int vmm__struct_out_check(const void *dst, size_t size_v01);
#define VMM__STRUCT_IN(dst, src) \
	vmm__struct_in((dst), sizeof(*(dst)), (src), sizeof(*(dst)))

/*
 * Sizes frozen at the release a struct gained its struct_size (x86-64;
 * src/core/abi.c checks them against sizeof): what struct_size 0 means.
 * A release that grows one of these structs keeps its constant here.
 */
#define VMM__UART_CONFIG_V02 40u
#define VMM__PASSTHROUGH_CONFIG_V02 56u
#define VMM__TRAPBLK_CONFIG_V02 32u
#define VMM__BLOCK_CONFIG_V02 72u
#define VMM__VFIO_PCI_CONFIG_V02 48u
#define VMM__VIRTIO_CONFIG_V02 48u
#define VMM__VIRTIO_BLK_CONFIG_V02 88u
#define VMM__VIRTIO_NET_CONFIG_V02 80u
#define VMM__VIRTIO_CONSOLE_CONFIG_V02 64u
#define VMM__VHOST_USER_CONFIG_V02 72u
#define VMM__VHOST_USER_SERVER_CONFIG_V02 144u
#define VMM__HC_STATS_V02 80u
#define VMM__GDB_STATS_V02 56u
#define VMM__TRAPBLK_STATS_V02 48u
#define VMM__DEV_INFO_V02 60u
#define VMM__SNAPSHOT_INFO_V02 56u
#define VMM__VM_STATS_V02 64u
#define VMM__BUS_STATS_V02 48u
#define VMM__VIRTIO_STATS_V02 112u
#define VMM__VHOST_USER_SERVER_STATS_V02 48u
#define VMM__MEM_INFO_V02 40u
#define VMM__MIGRATE_STATS_V02 120u
/* vmm__struct_in() of a caller's @src struct into the defaulted @dst */
#define VMM__STRUCT_IN_V(dst, src, v) \
	vmm__struct_in((dst), sizeof(*(dst)), (src), (v))

/*
 * Memory listeners (src/mem/listener.h): a device holding host pointers
 * into guest memory past one access registers here to drain before a
 * region is removed and to hear about added regions.
 */
#include "mem/listener.h"
void vmm__mem_listener_add(vmm_vm *vm, struct vmm_mem_listener *l);
void vmm__mem_listener_remove(vmm_vm *vm, struct vmm_mem_listener *l);

struct vmm_sbuf;
struct vmm_sreader;

/*
 * Device state for snapshots and migration (src/migrate): a device saves
 * its guest-visible state into a byte buffer in its own versioned,
 * little-endian layout and restores it from one.  restore() must check
 * every value and change nothing when it fails.  Both are called while
 * the VM is paused; they take the device's own lock.
 */
typedef int (*vmm_dev_save_fn)(void *priv, struct vmm_sbuf *out);
typedef int (*vmm_dev_restore_fn)(void *priv, uint32_t version,
				  struct vmm_sreader *in);

/* struct vmm_dev.state_space when the device has no address */
#define VMM_DEV_SPACE_NONE 0xff

/* Device registry: every device of a VM hangs off the VM handle. */
struct vmm_dev {
	vmm_vm *vm;
	char name[48];
	void *priv;
	void (*destroy)(void *priv); /* unregister ranges and free priv */
	struct vmm_dev *next;
	/* snapshot support (vmm__dev_set_state_ops); save == NULL: none */
	char state_type[24];         /* stable id: type ... */
	uint8_t state_space;         /* ... + space (VMM_SPACE_*) ... */
	uint64_t state_base;         /* ... + base address */
	uint32_t state_version;      /* layout version save() writes */
	vmm_dev_save_fn save;
	vmm_dev_restore_fn restore;
	/*
	 * optional: save() may quiesce the device (stop taking new work,
	 * drain what is in flight) so that guest memory saved after it is
	 * final; state_resume() lets it work again.  The snapshot code calls
	 * it once the snapshot is written or the migration failed (not after
	 * a migration that succeeded: the VM now runs elsewhere).
	 */
	void (*state_resume)(void *priv);
	/*
	 * Device model (include/libvmm/models.h), set with
	 * vmm__dev_set_model() right after vmm__dev_new().  model == 0 means
	 * "not set" and reads as VMM_MODEL_DIRECT: every device that predates
	 * the models is a hypervisor-direct one.  model_flags: VMM__DEVF_*.
	 * pre_detach: optional; vmm_dev_detach() calls it first and, when it
	 * fails, returns its error with the device still attached (passthrough
	 * removes its guest mapping there, which fails while vCPUs run).  Not
	 * called at VM destruction; destroy() must then do its work.
	 */
	uint8_t model;
	uint32_t model_flags;
	int (*pre_detach)(void *priv);
};

/* struct vmm_dev.model_flags */
#define VMM__DEVF_SHARED (1u << 0)    /* backing resource opened shared */
#define VMM__DEVF_EXCLUSIVE (1u << 1) /* holds its resource exclusively */
#define VMM__DEVF_NO_TRAP (1u << 2)   /* guest accesses never exit */

/* vmm__dev_set_model() - record @dev's model (VMM_MODEL_*) and flags. */
void vmm__dev_set_model(vmm_dev *dev, unsigned model, uint32_t flags);

/*
 * vmm__dev_require_state() - -EOPNOTSUPP (message: "@op: device NAME
 * (MODEL) cannot save its state") if any device of @vm has no state
 * callbacks, e.g. a passthrough device; 0 otherwise.  Snapshot and
 * migration call it before doing any work.
 */
int vmm__dev_require_state(vmm_vm *vm, const char *op);

/*
 * vmm__dev_set_state_ops() - make @dev snapshottable.  @type (1..23
 * chars, e.g. "uart"), @space (VMM_SPACE_PIO/MMIO or VMM_DEV_SPACE_NONE)
 * and @base identify the device across save and restore; @version is the
 * layout save() writes, restore() gets the version that was saved (never
 * newer than @version: the snapshot code refuses that).  Returns 0 or
 * -EINVAL.
 */
int vmm__dev_set_state_ops(vmm_dev *dev, const char *type, unsigned space,
			   uint64_t base, uint32_t version,
			   vmm_dev_save_fn save, vmm_dev_restore_fn restore);

/* vmm__dev_state_resume_all() - call every device's state_resume(). */
void vmm__dev_state_resume_all(vmm_vm *vm);

/*
 * vmm__dev_list() - the VM's devices, in attach order, into @out (at most
 * @max).  Returns the total number.  The handles stay valid while no
 * device is detached.
 */
int vmm__dev_list(vmm_vm *vm, vmm_dev **out, int max);

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

/*
 * Hooks of the VM core for src/migrate, which sees no backend.
 * vmm__vcpu_complete_io() finishes an I/O or MMIO exit whose data the
 * embedder has filled in, without running guest code, so that the state
 * read next is that after the instruction (a no-op on backends that
 * complete exits synchronously).  vmm__vm_config() is the configuration the
 * VM was created with.  vmm__mem_dirty_logging() tells whether dirty
 * logging is on.  vmm__vm_running() is true while vCPU threads of
 * vmm_vm_start() run and are not paused.  vmm__on_vcpu_thread() is true
 * on one of those threads.
 */
int vmm__vcpu_complete_io(vmm_vcpu *vcpu);
const struct vmm_config *vmm__vm_config(vmm_vm *vm);
bool vmm__mem_dirty_logging(vmm_vm *vm);
bool vmm__vm_running(vmm_vm *vm);
bool vmm__on_vcpu_thread(vmm_vm *vm);

/*
 * vmm__mem_dirty_host() - mark the guest pages behind host iovecs (from
 * vmm_mem_iovec()) dirty again, after a device wrote through them
 * asynchronously: a migration round may have sent and cleared those pages
 * between vmm_mem_iovec(for_write) and the write.  Also reports written
 * pages that hold translated code (soft backend), so devices that write
 * through iovecs must call it after the write.
 */
struct iovec;
void vmm__mem_dirty_host(vmm_vm *vm, const struct iovec *iov, unsigned n);

/*
 * Direct access for devices (virtqueue rings; mem/guest_mem.h
 * vmm_gmem_map() says when the pointer stays valid): vmm__mem_map() maps
 * [@gpa, @gpa+@len) of one writable region (NULL otherwise, *@tok for
 * vmm__mem_wrote()), vmm__mem_gen() is the layout generation.
 */
void *vmm__mem_map(vmm_vm *vm, vmm_gpa_t gpa, uint64_t len, void **tok);
void vmm__mem_wrote(vmm_vm *vm, void *tok, const void *p, uint64_t len);
const _Atomic uint64_t *vmm__mem_gen(vmm_vm *vm);

/*
 * vmm__mem_dirty_forget_host() - take (OR into @bitmap, then clear) the
 * VMM-side dirty bits of the region starting at @gpa, without asking the
 * backend: for a reset that has just rewritten pages itself while no vCPU
 * ran (the backend's log cannot have new bits then).  0 or -EINVAL.
 */
int vmm__mem_dirty_forget_host(vmm_vm *vm, vmm_gpa_t gpa, uint64_t *bitmap,
				size_t words);

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
