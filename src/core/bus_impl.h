/* SPDX-License-Identifier: MIT */
/*
 * bus_impl.h - the per-VM device bus: sorted, non-overlapping ranges looked
 * up by binary search under a read lock; handlers run outside the lock with
 * an in-flight count so that unregistering waits for running handlers.
 */
#ifndef LIBVMM_BUS_IMPL_H
#define LIBVMM_BUS_IMPL_H

#include <libvmm/bus.h>
#include <pthread.h>
#include <stdatomic.h>

struct vmm_bus_range {
	uint64_t base, len;
	struct vmm_io_ops ops;
	void *opaque;
	char name[40];
	atomic_uint_fast64_t reads, writes, bytes_read, bytes_written, errors;
	atomic_int inflight;
};

struct vmm_bus {
	struct vmm_bus_range **ranges; /* sorted by base */
	size_t n, cap;
	pthread_rwlock_t lock;
	/* unregister waits here for handlers still running on its range */
	pthread_mutex_t drain_lock;
	pthread_cond_t drained;
	/*
	 * unregisters waiting for handlers; on the bus, not the range: a
	 * handler must not touch its range after its in-flight decrement,
	 * since that decrement may let unregister free it
	 */
	atomic_uint drainers;
};

int vmm__bus_init(struct vmm_bus *bus);
void vmm__bus_fini(vmm_vm *vm, struct vmm_bus *bus);

/*
 * vmm__bus_dispatch() - run the handler covering @addr.  Returns 0, -ENOENT
 * when nothing is registered there, or the handler's negative errno.
 * Accesses that straddle a range's end are refused with -EFAULT.
 */
int vmm__bus_dispatch(vmm_vm *vm, enum vmm_space space, uint64_t addr,
		      void *data, unsigned size, bool is_write,
		      struct vmm_io_ctx *ctx);

/*
 * vmm__bus_dispatch_guest() - the same for a guest access (the vCPU run
 * loop), except that an access straddling a range's end completes as open
 * bus (reads all ones, writes dropped) without calling the handler.  Both
 * count it as an error of the range.
 */
int vmm__bus_dispatch_guest(vmm_vm *vm, enum vmm_space space, uint64_t addr,
			    void *data, unsigned size, bool is_write,
			    struct vmm_io_ctx *ctx);

#endif
