/* SPDX-License-Identifier: MIT */
/*
 * libvmm/memory.h - guest-physical memory: regions, checked access, dirty
 * tracking.
 *
 * Guest-physical space holds RAM/ROM regions; everything else is MMIO space
 * (an access traps to the bus).  This module is the only code in libvmm that
 * turns a guest-physical address into a host pointer; all other code uses
 * the checked accessors below, which fail with -EFAULT for any access that
 * is not entirely inside one region (including address overflow).
 */
#ifndef LIBVMM_MEMORY_H
#define LIBVMM_MEMORY_H

#include <libvmm/common.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VMM_PAGE_SIZE 4096ull

/** Where a region's memory comes from. */
enum vmm_mem_source {
	VMM_MEM_ANON = 0,  /**< private anonymous memory */
	VMM_MEM_MEMFD = 1, /**< a new memfd (shareable with other processes) */
	VMM_MEM_FD = 2,    /**< caller's fd (file, memfd, shm) at @offset */
};

/* Flags for struct vmm_mem_region.flags. */
#define VMM_MEM_READONLY (1u << 0)  /**< ROM: guest writes trap as MMIO */
#define VMM_MEM_SHARED (1u << 1)    /**< VMM_MEM_FD: MAP_SHARED (else private) */
#define VMM_MEM_DIRTY_LOG (1u << 2) /**< track dirty pages from the start */

/**
 * struct vmm_mem_region - a RAM or ROM region to add.
 * @gpa, @size: page-aligned, non-zero, no wrap-around.
 * @fd, @offset: for VMM_MEM_FD; the file must cover offset+size.
 * @name: optional label shown in messages.
 */
struct vmm_mem_region {
	vmm_gpa_t gpa;
	uint64_t size;
	enum vmm_mem_source source;
	uint32_t flags;
	int fd;
	off_t offset;
	const char *name;
};

/**
 * vmm_mem_add() - add a region.  -EEXIST if it overlaps another region,
 * -EINVAL if misaligned or empty or wrapping, -ENOSPC when the backend has
 * no slot left, -ENOMEM.
 */
VMM_API VMM_MUST_CHECK int vmm_mem_add(vmm_vm *vm,
				       const struct vmm_mem_region *r);

/**
 * vmm_mem_add_ram() - shorthand: anonymous RAM at @gpa of @size bytes.
 */
VMM_API VMM_MUST_CHECK int vmm_mem_add_ram(vmm_vm *vm, vmm_gpa_t gpa,
					   uint64_t size);

/**
 * vmm_mem_remove() - remove the region that starts at @gpa.  Only while no
 * vCPU runs.  -ENOENT if none starts there, -EBUSY while vCPUs run.
 */
VMM_API int vmm_mem_remove(vmm_vm *vm, vmm_gpa_t gpa);

/** Description of one region, from vmm_mem_get_regions(). */
struct vmm_mem_info {
	uint32_t struct_size; /**< out[0]: in: sizeof() (0 = 0.2 size);
				   every element out: bytes written */
	vmm_gpa_t gpa;
	uint64_t size;
	uint32_t flags;
	int fd;             /**< backing fd (memfd/file) or -1 */
	off_t offset;
};

/**
 * vmm_mem_get_regions() - list regions in ascending gpa order into @out (at most
 * @max).  Returns the total number of regions, or -EINVAL.
 *
 * @out is an array of the caller's struct vmm_mem_info (docs/api.md,
 * "Growable structs"): when @max > 0, set @out[0].struct_size to
 * sizeof(struct vmm_mem_info) first (0 = the 0.2 size).  That size is the
 * array's stride: element i starts @out[0].struct_size bytes after
 * element i - 1.  Each element written gets as much as that size holds
 * (a newer caller's unknown tail is zeroed) and its struct_size set to the
 * bytes written.  A bad size (nonzero and below 4 or above 64 KiB) is
 * -EINVAL, with nothing written.
 */
VMM_API int vmm_mem_get_regions(vmm_vm *vm, struct vmm_mem_info *out, int max);

/**
 * vmm_mem_read() / vmm_mem_write() - copy between guest-physical memory and
 * a host buffer.  The range must lie within RAM (it may span adjacent
 * regions).  -EFAULT otherwise; nothing is copied then.  Writes mark pages
 * dirty; writes to ROM are allowed from the host (that is how ROM is
 * loaded).
 */
VMM_API VMM_MUST_CHECK int vmm_mem_read(vmm_vm *vm, vmm_gpa_t gpa, void *buf,
					size_t len);
VMM_API VMM_MUST_CHECK int vmm_mem_write(vmm_vm *vm, vmm_gpa_t gpa,
					 const void *buf, size_t len);

/**
 * vmm_mem_fill() - set @len bytes at @gpa to @byte.  Same rules as
 * vmm_mem_write().
 */
VMM_API VMM_MUST_CHECK int vmm_mem_fill(vmm_vm *vm, vmm_gpa_t gpa, int byte,
					size_t len);

/**
 * vmm_mem_iovec() - describe [@gpa, @gpa+@len) as host iovecs for zero-copy
 * I/O.  If @for_write, the pages are marked dirty (the caller is about to
 * write them) and ROM is refused.  Returns the number of iovecs used, or
 * -EFAULT (outside RAM), -E2BIG (more than @max_iov needed).  The pointers
 * stay valid until the region is removed or the VM destroyed.
 */
VMM_API int vmm_mem_iovec(vmm_vm *vm, vmm_gpa_t gpa, size_t len,
			  bool for_write, struct iovec *iov, int max_iov);

/**
 * vmm_mem_is_ram() - true if [@gpa, @gpa+@len) is entirely RAM/ROM.
 */
VMM_API bool vmm_mem_is_ram(vmm_vm *vm, vmm_gpa_t gpa, uint64_t len);

/**
 * vmm_mem_dirty_log() - start (@on) or stop dirty tracking of all regions.
 * Starting clears the bitmaps.  Every guest write after it returns is
 * logged: called from another thread while the vCPU threads of
 * vmm_vm_start() run, starting waits until each has left guest code once
 * (a vmm_vm_pause()/vmm_vm_resume() pair; the software backend's vCPUs
 * take the log up there).  A vCPU the embedder runs on its own thread
 * with vmm_vcpu_run() takes it up at its next return from guest code:
 * start the log between two vmm_vcpu_run() calls of such a vCPU.
 * Regions added while the log is on (also when it was started before
 * the VM had any region) are logged from the start.
 */
VMM_API int vmm_mem_dirty_log(vmm_vm *vm, bool on);

/**
 * vmm_mem_dirty_fetch() - get and clear the dirty bitmap of the region that
 * starts at @gpa: one bit per 4 KiB page, bit i of word i/64 for page i.
 * It merges the backend's log (pages the guest wrote) with the VMM's own
 * (pages written through vmm_mem_write/iovec by devices and loaders).
 * @bitmap must hold (size/4096 + 63)/64 words.
 * Returns the number of dirty pages.
 */
VMM_API int vmm_mem_dirty_fetch(vmm_vm *vm, vmm_gpa_t gpa, uint64_t *bitmap,
				size_t words);

#ifdef __cplusplus
}
#endif
#endif
