/* SPDX-License-Identifier: MIT */
/*
 * virtqueue.h - the split (VIRTIO 1.2 section 2.7) and packed (2.8)
 * virtqueue, device side: one implementation for every device and for the
 * vhost-user back-end (which uses split rings only).
 *
 * Guest memory is reached only through struct vmm_vq_mem, so the same code
 * runs on a VM's memory (vmm_vq_mem_vm(): vmm_mem_read/write/iovec, which
 * mark pages dirty) or on a vhost-user memory table in another process.
 *
 * vmm_vq_pop() is the one descriptor-chain walker.  It validates everything
 * the driver controls: the avail index (a jump of more than the queue size
 * breaks the queue), the head and every next index, a hop limit (no loops),
 * checked address + length arithmetic, a total chain length bound, indirect
 * tables (feature negotiated, length a non-zero multiple of 16, not nested,
 * not combined with NEXT), writable descriptors only after readable ones, and
 * the directions the device allows on this queue.  Any violation marks the
 * queue broken (vq->broken, vq->err says why): the device then sets
 * NEEDS_RESET; nothing the guest writes can make the walker read or write
 * outside guest RAM or loop.
 *
 * Packed rings (vq->packed, VIRTIO_F_RING_PACKED): vq->desc is the
 * descriptor ring, vq->avail the driver event suppression structure,
 * vq->used the device event suppression structure.  last_avail/used_idx
 * are ring positions (0..size-1) with the wrap counters avail_wrap /
 * used_wrap.  The same walker reads a chain from consecutive ring slots:
 * every descriptor after the head must be available in the current lap
 * (AVAIL/USED flags against the wrap counter), a chain takes at most
 * size slots, the buffer ID (from the chain's last descriptor) must be
 * below the queue size; indirect tables are read in order (len / 16
 * entries, NEXT ignored as the specification says).  A completed chain
 * becomes one used descriptor at the device's next used position, which
 * then advances by the chain's descriptor count (e->ndesc) - completions
 * may come in any order.
 */
#ifndef LIBVMM_DEV_VIRTQUEUE_H
#define LIBVMM_DEV_VIRTQUEUE_H

#include <linux/virtio_ring.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Guest memory as a back-end sees it. */
struct vmm_vq_mem {
	/* 0 or -EFAULT; nothing copied on failure */
	int (*read)(void *opaque, uint64_t gpa, void *buf, size_t len);
	/* 0 or -EFAULT; marks the pages dirty */
	int (*write)(void *opaque, uint64_t gpa, const void *buf, size_t len);
	/* host iovecs for [gpa, gpa+len); count, -EFAULT or -E2BIG; marks
	 * dirty when @for_write */
	int (*iovec)(void *opaque, uint64_t gpa, size_t len, bool for_write,
		     struct iovec *iov, int max_iov);
	void *opaque;
	/* optional (last, so positional initialisers may omit it): mark the
	 * pages behind iovecs from iovec() dirty again once the device has
	 * written through them (live migration may have sent them in
	 * between) */
	void (*dirty)(void *opaque, const struct iovec *iov, unsigned n);
	/*
	 * optional, all three or none: direct ring access.  map() returns a
	 * host pointer for [gpa, gpa+len) in one writable piece of memory
	 * (and *tok for wrote()), or NULL; the pointer stays valid as long as
	 * *gen keeps its value, and the owner guarantees that memory is not
	 * unmapped while the device may touch the rings (a VM freezes its
	 * devices before removing memory).  wrote(): bytes written through a
	 * mapped pointer (dirty logging, code pages).  Without them every
	 * ring access goes through read()/write().
	 */
	void *(*map)(void *opaque, uint64_t gpa, size_t len, void **tok);
	void (*wrote)(void *opaque, void *tok, const void *p, size_t len);
	const _Atomic uint64_t *gen;
};

/*
 * The rings' host pointers (vmm_vq_mem.map), kept per memory-layout
 * generation: translated once, then each ring access is a generation
 * check and a load or store instead of a lookup under the memory lock.
 */
struct vmm_vq_rings {
	uint64_t gen;             /* *mem->gen they were made for */
	uint64_t gpa[3];          /* desc, avail, used at that time */
	uint64_t len[3];
	uint16_t size;
	bool packed;
	bool tried;               /* made for this gen/layout */
	uint8_t *host[3];         /* NULL: that ring goes through read/write */
	void *tok[3];
};

/*
 * Descriptor and ring flags (little endian in memory) are the kernel's
 * (<linux/virtio_ring.h>): VRING_DESC_F_*, VRING_AVAIL_F_NO_INTERRUPT,
 * VRING_USED_F_NO_NOTIFY, VRING_PACKED_EVENT_FLAG_*.  The kernel gives the
 * packed-ring descriptor flags as bit numbers; the masks below are made
 * from them.
 */
#define VMM_VQ_PDESC_F_AVAIL (1u << VRING_PACKED_DESC_F_AVAIL)
#define VMM_VQ_PDESC_F_USED (1u << VRING_PACKED_DESC_F_USED)

/* Directions a device accepts on a queue (vq->dirs). */
#define VMM_VQ_DIR_READ 1   /* device-readable (driver -> device) */
#define VMM_VQ_DIR_WRITE 2  /* device-writable (device -> driver) */
#define VMM_VQ_DIR_ANY 3

#define VMM_VQ_MAX_SIZE 32768
/* iovecs per element (descriptors may split at region boundaries) */
#define VMM_VQ_MAX_IOV 256
/* default bound of the bytes one chain may describe */
#define VMM_VQ_MAX_CHAIN_BYTES (1ull << 30)

struct vmm_vq {
	const struct vmm_vq_mem *mem;
	uint16_t size;            /* 1..32768, power of two when split */
	uint64_t desc, avail, used; /* guest-physical ring addresses */
	bool ready;
	bool packed;              /* VIRTIO_F_RING_PACKED negotiated */
	bool event_idx;           /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;            /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	uint8_t dirs;             /* VMM_VQ_DIR_* the device accepts */
	uint64_t max_chain_bytes; /* 0 = VMM_VQ_MAX_CHAIN_BYTES */
	uint16_t last_avail;      /* next avail entry to consume */
	uint16_t used_idx;        /* next used entry to fill */
	uint16_t signalled_used;  /* used_idx at the last interrupt */
	bool signalled_valid;
	/* packed: wrap counters of last_avail, used_idx, signalled_used
	 * (true = 1, the value after enabling) */
	bool avail_wrap, used_wrap, signalled_wrap;
	bool broken;
	char err[128];            /* why it broke */
	uint64_t popped, pushed;  /* counters */
	struct vmm_vq_rings rings;  /* direct ring access (cache) */
};

/*
 * struct vmm_vq_elem - one descriptor chain as host iovecs: the
 * device-readable ones first (iov[0 .. n_out)), then the device-writable
 * ones (iov[n_out .. n_out + n_in)).
 */
struct vmm_vq_elem {
	uint16_t head;            /* split: head index; packed: buffer ID */
	uint16_t ndesc;           /* packed: ring slots the chain took */
	unsigned n_out, n_in;
	uint64_t out_len, in_len;
	struct iovec iov[VMM_VQ_MAX_IOV];
};

/* vmm_vq_reset() - forget the rings (driver reset); keeps mem/dirs. */
void vmm_vq_reset(struct vmm_vq *vq);

/*
 * vmm_vq_check_layout() - validate size and ring addresses for enabling:
 * split: power-of-two size, alignment (16/2/4); packed: size 1..32768,
 * alignment (16/4/4); no address wrap, rings in guest memory.  0 or
 * -EINVAL with vq->err set (the queue is not enabled).
 */
int vmm_vq_check_layout(struct vmm_vq *vq);

/*
 * vmm_vq_pop() - take the next available chain.  Returns 1 with @e filled,
 * 0 when the ring is empty, or -EINVAL/-EFAULT/-E2BIG when the driver broke
 * the queue (vq->broken set, vq->err says how; nothing is consumed).
 */
int vmm_vq_pop(struct vmm_vq *vq, struct vmm_vq_elem *e);

/*
 * vmm_vq_push() - return popped chain @e with @len bytes written to its
 * device-writable part.  0 or -EFAULT (used ring not in memory: broken).
 */
int vmm_vq_push(struct vmm_vq *vq, const struct vmm_vq_elem *e, uint32_t len);

/*
 * vmm_vq_push_batch() - return @n popped chains at once (@u: buffer ID /
 * head, the chain's ring slots (packed), bytes written), visible to the
 * driver together: split rings update used->idx once after every element;
 * packed rings write the first used descriptor's flags last.  At most
 * VMM_VQ_MAX_BATCH on packed rings.  0, -EINVAL (not ready, broken, bad
 * element) or -EFAULT (broken).
 */
#define VMM_VQ_MAX_BATCH 256
struct vmm_vq_used {
	uint16_t head, ndesc;
	uint32_t len;
};
int vmm_vq_push_batch(struct vmm_vq *vq, const struct vmm_vq_used *u,
		      unsigned n);

/*
 * vmm_vq_unpop() - give back @e, the chain the last vmm_vq_pop() returned,
 * unused: the next pop returns it again.
 */
void vmm_vq_unpop(struct vmm_vq *vq, const struct vmm_vq_elem *e);

/*
 * vmm_vq_need_interrupt() - after pushes: must the driver be interrupted
 * (VIRTQ_AVAIL_F_NO_INTERRUPT / used_event; packed: the driver event
 * suppression flags ENABLE/DISABLE/DESC with off_wrap)?  Records the
 * signal.
 */
bool vmm_vq_need_interrupt(struct vmm_vq *vq);

/*
 * vmm_vq_enable_notify() - ask the driver for kicks from the current
 * position (avail_event = last_avail, or clear NO_NOTIFY) and return true if
 * more buffers arrived meanwhile (the caller then keeps processing).
 * vmm_vq_disable_notify() - suppress kicks while the device will look at
 * the ring anyway (while processing): NO_NOTIFY; with EVENT_IDX on a
 * split ring nothing (avail_event stays at the position the last enable
 * asked for, so the driver kicks once per batch at most).
 * Packed rings: the device event suppression structure says DISABLE, and
 * on enabling ENABLE, or with EVENT_IDX DESC at (last_avail, avail_wrap).
 */
bool vmm_vq_enable_notify(struct vmm_vq *vq);
void vmm_vq_disable_notify(struct vmm_vq *vq);

/* vmm_vq_has_avail() - are there chains to pop?  (false when broken) */
bool vmm_vq_has_avail(struct vmm_vq *vq);

/*
 * vmm_vq_written() - the device wrote into @e's device-writable buffers
 * (and @extra, when not NULL, e.g. a status byte): mark them dirty again.
 */
void vmm_vq_written(struct vmm_vq *vq, const struct vmm_vq_elem *e,
		    const struct iovec *extra);

/* iovec helpers for devices. */
size_t vmm_iov_to_buf(const struct iovec *iov, unsigned n, size_t off,
		      void *buf, size_t len);
size_t vmm_iov_from_buf(const struct iovec *iov, unsigned n, size_t off,
			const void *buf, size_t len);
/*
 * vmm_iov_slice() - the iovecs covering [@off, @off+@len) of @iov into
 * @out (at most @max).  Returns the count or -E2BIG / -EINVAL (short).
 */
int vmm_iov_slice(const struct iovec *iov, unsigned n, size_t off, size_t len,
		  struct iovec *out, int max);

#endif
