/* SPDX-License-Identifier: MIT */
/*
 * libvmm/bus.h - the device bus: port-I/O and MMIO ranges per VM.
 *
 * A device registers a handler for an address range in one of two spaces.
 * The run loop looks the address up and calls the handler with the offset
 * into the range.  Overlapping ranges are refused.  Each range counts its
 * exits and bytes.
 */
#ifndef LIBVMM_BUS_H
#define LIBVMM_BUS_H

#include <libvmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

enum vmm_space {
	VMM_SPACE_PIO = 0,  /**< x86 port I/O, 0..0xffff */
	VMM_SPACE_MMIO = 1, /**< guest-physical addresses without RAM */
};

/**
 * struct vmm_io_ctx - context of one access, given to handlers.
 * @vcpu: the vCPU that made it (NULL when the host calls vmm_bus_access()).
 * @stop: a handler may set this to a VMM_EXIT_* kind to make the run loop
 *        return that exit to the embedder after the access completes
 *        (e.g. VMM_EXIT_GUEST_EXIT); @stop_value / @stop_status fill it.
 */
struct vmm_io_ctx {
	vmm_vcpu *vcpu;
	int stop;
	uint32_t stop_value;
	uint32_t stop_status;
};

/**
 * struct vmm_io_ops - a device's handlers.  @size is 1, 2, 4 or 8.  A read
 * handler fills @data (little endian); a handler that returns a negative
 * errno stops the run loop with VMM_EXIT_INTERNAL/VMM_INTERNAL_DEVICE.
 * Handlers of one range may run concurrently on several vCPU threads; a
 * device keeps its own lock.
 */
struct vmm_io_ops {
	int (*read)(void *opaque, uint64_t offset, void *data, unsigned size,
		    struct vmm_io_ctx *ctx);
	int (*write)(void *opaque, uint64_t offset, const void *data,
		     unsigned size, struct vmm_io_ctx *ctx);
};

/**
 * vmm_bus_register() - route [@base, @base+@len) of @space to @ops.
 * @name: shown in statistics and messages (copied).
 * Returns 0, -EEXIST if it overlaps a registered range, -EINVAL for an
 * empty, wrapping or (PIO) out-of-range span, -ENOMEM.
 */
VMM_API VMM_MUST_CHECK int vmm_bus_register(vmm_vm *vm, enum vmm_space space,
					    uint64_t base, uint64_t len,
					    const struct vmm_io_ops *ops,
					    void *opaque, const char *name);

/**
 * vmm_bus_unregister() - remove the range that starts at @base.  When it
 * returns no handler of that range is running or will run.  -ENOENT if none.
 * It waits for running handlers of the range, so it must not be called from
 * a handler of the same range (that would wait for itself).
 */
VMM_API int vmm_bus_unregister(vmm_vm *vm, enum vmm_space space,
			       uint64_t base);

/** Per-range counters. */
struct vmm_bus_stats {
	uint32_t struct_size; /**< in: sizeof() (0 = 0.2 size); out: written */
	uint64_t reads, writes;             /**< accesses (= exits) */
	uint64_t bytes_read, bytes_written;
	uint64_t errors;                    /**< handler failures */
};

/**
 * vmm_bus_get_stats() - counters of the range that contains @addr.
 * @name: if non-NULL, receives the range's name (up to @name_len bytes).
 */
VMM_API int vmm_bus_get_stats(vmm_vm *vm, enum vmm_space space, uint64_t addr,
			  struct vmm_bus_stats *st, char *name,
			  size_t name_len);

/**
 * vmm_bus_access() - perform an access on the bus from the host, exactly as
 * a guest access would be dispatched.  -ENOENT if no range is there.
 */
VMM_API int vmm_bus_access(vmm_vm *vm, enum vmm_space space, uint64_t addr,
			   void *data, unsigned size, bool is_write);

#ifdef __cplusplus
}
#endif
#endif
