/* SPDX-License-Identifier: MIT */
/*
 * listener.h - users of guest memory that must hear about region changes.
 *
 * A device that keeps host pointers into guest memory beyond one locked
 * access (io_uring requests in flight, a vhost-user back-end's memory
 * table, VFIO DMA mappings) registers a listener on its VM.  Before a
 * region is unmapped, every listener's before_remove() runs: it stops
 * starting new work that may touch the region and waits until its
 * in-flight work is done (drain), or refuses with -EBUSY.  Only when all
 * agreed is the region unlinked and unmapped; then after_remove() lets
 * each one resume (also when a later listener refused: removed = false).
 * before_add() may refuse (-EBUSY) a region about to be added, before
 * anything is mapped (a live migration that sends a fixed list of
 * regions); added() runs after a region was mapped.  The callbacks run on the thread
 * that changes memory, without the memory lock held, one change at a time;
 * they must not change guest memory themselves and must not be called
 * from the VM's event-loop thread (a drain there would wait for itself).
 */
#ifndef LIBVMM_MEM_LISTENER_H
#define LIBVMM_MEM_LISTENER_H

#include <libvmm/common.h>

struct vmm_mem_listener {
	int (*before_add)(void *opaque, vmm_gpa_t gpa, uint64_t size);
	int (*before_remove)(void *opaque, vmm_gpa_t gpa, uint64_t size);
	void (*after_remove)(void *opaque, vmm_gpa_t gpa, uint64_t size,
			     bool removed);
	void (*added)(void *opaque, vmm_gpa_t gpa, uint64_t size);
	void *opaque;
	struct vmm_mem_listener *next; /* owned by the list */
};

#endif
