/* SPDX-License-Identifier: MIT */
/*
 * guest_mem.h - guest-physical memory regions (internal view).
 *
 * src/mem is the bottom layer and the only code that turns a guest-physical
 * address into a host pointer.  Backends get the region's host mapping to
 * hand it to the hypervisor (KVM memslots) or to a soft MMU.
 */
#ifndef LIBVMM_GUEST_MEM_H
#define LIBVMM_GUEST_MEM_H

#include <libvmm/memory.h>
#include <libvmm/state.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/uio.h>

#include "mem/listener.h"

#define VMM_GMEM_MAX_REGIONS 64
#define VMM_GMEM_CODE_RING 256 /* pages; a power of two */

struct vmm_gmem_region {
	vmm_gpa_t gpa;
	uint64_t size;
	uint32_t flags;       /* VMM_MEM_* */
	enum vmm_mem_source source;
	uint8_t *host;        /* mapping of the whole region */
	int fd;               /* memfd/file fd or -1 */
	bool own_fd;
	off_t offset;
	uint32_t slot;        /* backend slot number */
	_Atomic uint64_t *dirty; /* VMM-side dirty bitmap (device writes) */
	size_t dirty_words;
	_Atomic uint64_t *code;  /* pages a soft vCPU translated code from */
	char name[32];
};

struct vmm_gmem {
	struct vmm_gmem_region *r[VMM_GMEM_MAX_REGIONS]; /* sorted by gpa */
	int n;
	pthread_rwlock_t lock;
	/*
	 * Layout generation: bumped (under the write lock) whenever a region
	 * is linked or unlinked, so a device that keeps host pointers into
	 * guest memory (virtqueue rings, vmm_gmem_map()) notices a layout
	 * change with one load instead of a lookup under the lock.
	 */
	_Atomic uint64_t gen;
	bool dirty_log;
	uint64_t slots_used;  /* bitmap of slot numbers in use */
	/*
	 * Memory listeners (listener.h).  change_lock serialises region
	 * changes with each other and with listener (un)registration;
	 * @changing is set while a removal runs, so a vCPU entering the guest
	 * waits (see vmm_vcpu_run) instead of racing the check of `running`.
	 */
	pthread_mutex_t change_lock;
	struct vmm_mem_listener *listeners;
	atomic_bool changing;
	/*
	 * Code-page tracking for the soft backend's block caches: a vCPU
	 * marks the pages it translates code from (vmm_gmem_code_mark); a
	 * write through any accessor here (and vmm_gmem_mark_dirty after
	 * a device wrote through an iovec) to a marked page clears the mark
	 * and appends the page to this ring, which each vCPU reads at block
	 * boundaries to drop exactly the blocks on written pages.
	 */
	pthread_mutex_t code_lock;
	_Atomic uint64_t code_head; /* pages ever appended */
	vmm_gpa_t code_ring[VMM_GMEM_CODE_RING];
};

/* Register / unregister @l (takes change_lock: waits for a change in
 * progress).  A listener is on at most one list. */
void vmm_gmem_listener_add(struct vmm_gmem *m, struct vmm_mem_listener *l);
void vmm_gmem_listener_remove(struct vmm_gmem *m, struct vmm_mem_listener *l);

int vmm_gmem_init(struct vmm_gmem *m);
void vmm_gmem_fini(vmm_vm *vm, struct vmm_gmem *m);

/* Region lifecycle (called by the VM core, which also tells the backend). */
int vmm_gmem_region_new(vmm_vm *vm, struct vmm_gmem *m,
			const struct vmm_mem_region *d,
			struct vmm_gmem_region **out);
void vmm_gmem_region_free(vmm_vm *vm, struct vmm_gmem_region *r);
/* Insert into the sorted table; -EEXIST on overlap.  Caller holds lock (w). */
int vmm_gmem_insert(vmm_vm *vm, struct vmm_gmem *m, struct vmm_gmem_region *r);
/* Remove the region starting at @gpa from the table; NULL if none. */
struct vmm_gmem_region *vmm_gmem_unlink(struct vmm_gmem *m, vmm_gpa_t gpa);

/* Checked accessors (take the read lock): 0 or -EFAULT, nothing copied. */
int vmm_gmem_read(struct vmm_gmem *m, vmm_gpa_t gpa, void *buf, size_t len);
int vmm_gmem_write(struct vmm_gmem *m, vmm_gpa_t gpa, const void *buf,
		   size_t len);
int vmm_gmem_fill(struct vmm_gmem *m, vmm_gpa_t gpa, int byte, size_t len);
int vmm_gmem_iovec(struct vmm_gmem *m, vmm_gpa_t gpa, size_t len,
		   bool for_write, struct iovec *iov, int max_iov);
bool vmm_gmem_is_ram(struct vmm_gmem *m, vmm_gpa_t gpa, uint64_t len);
/* OR the VMM-side dirty bits of @r into @bitmap and clear them. */
void vmm_gmem_dirty_take(struct vmm_gmem_region *r, uint64_t *bitmap);

/* Region containing @gpa, or NULL.  Caller holds m->lock (read). */
struct vmm_gmem_region *vmm_gmem_find(struct vmm_gmem *m, vmm_gpa_t gpa);

/*
 * vmm_gmem_host_ptr() - host pointer for [@gpa, @gpa+@len) if it lies in one
 * region (and that region is writable when @write), else NULL.  With
 * @write the code pages in the range are reported (code ring) but the
 * range is NOT marked dirty: a caller that stores through the pointer
 * marks it after the store (vmm_gmem_mark_dirty()) while dirty pages are
 * logged.  A mark before the store is not enough: a log fetch between the
 * two clears the bit and copies the page without the store, which nothing
 * reports later (the copying accessors too mark after they copied).  For
 * backends' fast paths (soft MMU, the page walker's accessed/dirty bits);
 * everyone else uses the copying accessors.
 */
void *vmm_gmem_host_ptr(struct vmm_gmem *m, vmm_gpa_t gpa, uint64_t len,
			bool write);

/*
 * vmm_gmem_map() - host pointer for [@gpa, @gpa+@len) when it lies in one
 * writable region, else NULL; *@region receives the region for
 * vmm_gmem_wrote().  The pointer stays valid while the region is linked:
 * the caller must see m->gen unchanged before each use and must know by
 * other means that the region cannot be removed meanwhile (virtio devices:
 * memory removal freezes every device first, and a device touches guest
 * memory only while not frozen).
 */
void *vmm_gmem_map(struct vmm_gmem *m, vmm_gpa_t gpa, uint64_t len,
		   struct vmm_gmem_region **region);

/*
 * vmm_gmem_wrote() - [@p, @p+@len) of region @r (from vmm_gmem_map()) was
 * written through its host pointer: dirty bit (when logging) and code-page
 * report, without the lock.
 */
void vmm_gmem_wrote(struct vmm_gmem *m, struct vmm_gmem_region *r,
		    const void *p, uint64_t len);

/*
 * vmm_gmem_mark_dirty_host() - @n host ranges a device wrote (each within
 * one region, else ignored) marked like vmm_gmem_mark_dirty(), under one
 * read lock.
 */
void vmm_gmem_mark_dirty_host(struct vmm_gmem *m, const struct iovec *iov,
			      unsigned n);

/* [@gpa, @gpa+@len) was written through a host pointer: mark it dirty in
 * the VMM-side bitmap (when logging) and report written code pages. */
void vmm_gmem_mark_dirty(struct vmm_gmem *m, vmm_gpa_t gpa, uint64_t len);

/*
 * vmm_gmem_code_mark() - the page at @gpa holds translated code: report
 * the next write to it through the code ring.  No-op outside RAM.
 */
void vmm_gmem_code_mark(struct vmm_gmem *m, vmm_gpa_t gpa);

/* Number of pages ever appended to the code ring (cheap, lock-free). */
static inline uint64_t vmm_gmem_code_head(struct vmm_gmem *m)
{
	return atomic_load_explicit(&m->code_head, memory_order_acquire);
}

/*
 * vmm_gmem_code_take() - the code pages written since *@seen: copies up to
 * @max page addresses into @pages and returns how many, or -1 when more
 * than the ring holds (or @max) were written, so the caller must assume
 * any page changed.  Advances *@seen to the head.
 */
int vmm_gmem_code_take(struct vmm_gmem *m, uint64_t *seen, vmm_gpa_t *pages,
		       int max);

/* Guest paging as the vCPU has it configured. */
struct vmm_paging {
	uint64_t cr0, cr3, cr4, efer;
	unsigned cpl;
	/* MAXPHYADDR of the vCPU (CPUID 0x80000008 EAX[7:0]): entry bits at
	 * or above it are reserved; 0 = unknown, only bits 51+ checked */
	unsigned maxphyaddr;
	/* PKRU, checked with CR4.PKE in 4/5-level paging (0 = every key
	 * allows everything) */
	uint32_t pkru;
	/* IA32_PKRS, checked with CR4.PKS in 4/5-level paging for
	 * supervisor-mode addresses (0 = every key allows everything) */
	uint32_t pkrs;
};

/*
 * vmm_gmem_walk() - translate @gva through the guest's page tables
 * (none/32-bit/PAE/4-level/5-level per @p), checking @access
 * (VMM_ACCESS_*).  If @set_ad, accessed/dirty bits are written back (for the
 * soft MMU).  Returns 0 with *@gpa set, or -EFAULT for a page fault with
 * *@pf_error the architectural #PF error code (RSVD for reserved bits set
 * in an entry, per paging mode and @p->maxphyaddr), or for a
 * non-canonical @gva with *@pf_error 0 (#GP).  A table entry outside guest
 * RAM (unmapped or device memory) reads as all-ones, as an open bus does
 * on hardware, which is normally a reserved-bit fault; accessed/dirty
 * writes to it go nowhere.  The walk never fails for another reason.
 * *@page_size receives the mapping's size when non-NULL.
 */
int vmm_gmem_walk(struct vmm_gmem *m, const struct vmm_paging *p,
		  vmm_gva_t gva, unsigned access, bool set_ad, vmm_gpa_t *gpa,
		  uint32_t *pf_error, uint64_t *page_size);

/*
 * An access flag beside VMM_ACCESS_*: a supervisor data access made with
 * CPL < 3 and EFLAGS.AC = 1, which CR4.SMAP lets reach user pages.
 * Implicit supervisor accesses (descriptor tables, TSS, ...) at CPL 3 and
 * explicit ones with AC = 0 leave it out.
 */
#define VMM_GMEM_ACCESS_AC (1u << 8)

/*
 * vmm_gmem_walk_ex() - vmm_gmem_walk(), and *@user_page (if non-NULL) says
 * whether every level allowed user-mode access (U/S set throughout): the
 * soft MMU does not cache a supervisor translation of a user page while
 * CR4.SMAP is set, since EFLAGS.AC decides each access.  *@leaf (if
 * non-NULL) gets the entry that mapped the page (0 without paging or on a
 * fault): the soft MMU keeps global (G) translations across CR3 loads.
 */
int vmm_gmem_walk_ex(struct vmm_gmem *m, const struct vmm_paging *p,
		     vmm_gva_t gva, unsigned access, bool set_ad,
		     vmm_gpa_t *gpa, uint32_t *pf_error, uint64_t *page_size,
		     bool *user_page, uint64_t *leaf);

#endif
