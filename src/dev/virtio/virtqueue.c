/* SPDX-License-Identifier: MIT */
/*
 * virtqueue.c - split and packed virtqueues, device side (VIRTIO 1.2, 2.7
 * and 2.8): the descriptor-chain walker, used-ring updates and
 * notification suppression (VIRTIO_RING_F_EVENT_IDX).  Written from the
 * specification; see virtqueue.h for the validation rules.
 *
 * Ring layout (all little endian):
 *   descriptor table  16 * size: le64 addr, le32 len, le16 flags, le16 next
 *   driver area       le16 flags, le16 idx, le16 ring[size], le16 used_event
 *   device area       le16 flags, le16 idx, {le32 id, le32 len}[size],
 *                     le16 avail_event
 *
 * Packed ring layout:
 *   descriptor ring   16 * size: le64 addr, le32 len, le16 id, le16 flags
 *   driver area       le16 off_wrap, le16 flags (driver event suppression)
 *   device area       le16 off_wrap, le16 flags (device event suppression)
 */
#include "dev/virtio/virtqueue.h"
#include "mem/guest_copy.h"

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;            /* packed: the buffer ID */
};

__attribute__((format(printf, 3, 4))) static int brk(struct vmm_vq *vq,
						       int err,
						       const char *fmt, ...)
{
	va_list ap;

	if (!vq->broken) {
		va_start(ap, fmt);
		vsnprintf(vq->err, sizeof(vq->err), fmt, ap);
		va_end(ap);
	}
	vq->broken = true;
	return err;
}

void vmm_vq_reset(struct vmm_vq *vq)
{
	const struct vmm_vq_mem *mem = vq->mem;
	uint8_t dirs = vq->dirs;
	uint64_t max = vq->max_chain_bytes;
	/* the ring mapping cache is checked against the memory layout
	 * generation and the ring addresses at every use (ring_ptr()), so
	 * it may outlive the reset: a queue set up again at the same
	 * addresses (every state restore, so every vmm_snapshot_reset())
	 * does not map its rings again */
	struct vmm_vq_rings rings = vq->rings;

	memset(vq, 0, sizeof(*vq));
	vq->mem = mem;
	vq->dirs = dirs;
	vq->max_chain_bytes = max;
	vq->rings = rings;
}

/*
 * Direct ring access (vmm_vq_mem.map): the three rings are translated once
 * per memory-layout generation (and ring layout); then an access is a
 * generation check and one load or store (mem/guest_copy.h: an aligned
 * index is read in one load).  Anything else - indirect tables, a ring
 * the owner cannot map - goes through read()/write().
 */
static void rings_remap(struct vmm_vq *vq, uint64_t gen)
{
	const struct vmm_vq_mem *m = vq->mem;
	struct vmm_vq_rings *c = &vq->rings;
	uint64_t n = vq->size, end;

	c->gen = gen;
	c->gpa[0] = vq->desc;
	c->gpa[1] = vq->avail;
	c->gpa[2] = vq->used;
	c->size = vq->size;
	c->packed = vq->packed;
	c->len[0] = 16 * n;
	c->len[1] = vq->packed ? 4 : 6 + 2 * n;
	c->len[2] = vq->packed ? 4 : 6 + 8 * n;
	c->tried = true;
	for (int i = 0; i < 3; i++) {
		c->host[i] = NULL;
		c->tok[i] = NULL;
		if (!n || __builtin_add_overflow(c->gpa[i], c->len[i], &end))
			continue;
		c->host[i] = m->map(m->opaque, c->gpa[i], c->len[i],
				    &c->tok[i]);
	}
}

static void *ring_ptr(struct vmm_vq *vq, uint64_t gpa, size_t len, void **tok)
{
	const struct vmm_vq_mem *m = vq->mem;
	struct vmm_vq_rings *c = &vq->rings;
	uint64_t gen;

	if (!m->map)
		return NULL;
	gen = atomic_load_explicit(m->gen, memory_order_acquire);
	if (!c->tried || c->gen != gen || c->gpa[0] != vq->desc ||
	    c->gpa[1] != vq->avail || c->gpa[2] != vq->used ||
	    c->size != vq->size || c->packed != vq->packed)
		rings_remap(vq, gen);
	for (int i = 0; i < 3; i++) {
		uint64_t off = gpa - c->gpa[i];

		if (c->host[i] && off < c->len[i] && len <= c->len[i] - off) {
			*tok = c->tok[i];
			return c->host[i] + off;
		}
	}
	return NULL;
}

/* read/write guest memory, through the ring mapping when it covers it */
static int rd(struct vmm_vq *vq, uint64_t gpa, void *buf, size_t len)
{
	void *tok, *p = ring_ptr(vq, gpa, len, &tok);

	if (!p)
		return vq->mem->read(vq->mem->opaque, gpa, buf, len);
	vmm__guest_load(buf, p, len);
	return 0;
}

static int wr(struct vmm_vq *vq, uint64_t gpa, const void *buf, size_t len)
{
	void *tok, *p = ring_ptr(vq, gpa, len, &tok);

	if (!p)
		return vq->mem->write(vq->mem->opaque, gpa, buf, len);
	vmm__guest_store(p, buf, len);
	vq->mem->wrote(vq->mem->opaque, tok, p, len);
	return 0;
}

static int rd16(struct vmm_vq *vq, uint64_t gpa, uint16_t *v)
{
	uint16_t x;
	int r = rd(vq, gpa, &x, 2);

	*v = le16toh(x);
	return r;
}

static int wr16(struct vmm_vq *vq, uint64_t gpa, uint16_t v)
{
	uint16_t x = htole16(v);

	return wr(vq, gpa, &x, 2);
}

int vmm_vq_check_layout(struct vmm_vq *vq)
{
	uint64_t n = vq->size, end, sizes[3], addrs[3];
	static const uint64_t salign[3] = { 16, 2, 4 }, palign[3] = { 16, 4, 4 };
	const uint64_t *align = vq->packed ? palign : salign;
	static const char *const names[3] = { "descriptor table", "driver area",
					      "device area" };
	uint8_t probe;

	if (vq->packed) {
		if (n == 0 || n > VMM_VQ_MAX_SIZE)
			return brk(vq, -EINVAL, "queue size %llu not in 1..%u",
				   (unsigned long long)n, VMM_VQ_MAX_SIZE);
		sizes[0] = 16 * n;
		sizes[1] = sizes[2] = 4;
	} else {
		if (n == 0 || n > VMM_VQ_MAX_SIZE || (n & (n - 1)))
			return brk(vq, -EINVAL, "queue size %llu is not a power of "
				   "two in 1..%u", (unsigned long long)n,
				   VMM_VQ_MAX_SIZE);
		sizes[0] = 16 * n;
		sizes[1] = 6 + 2 * n;
		sizes[2] = 6 + 8 * n;
	}
	addrs[0] = vq->desc;
	addrs[1] = vq->avail;
	addrs[2] = vq->used;
	for (int i = 0; i < 3; i++) {
		if (addrs[i] & (align[i] - 1))
			return brk(vq, -EINVAL, "%s at 0x%llx is not %llu-byte aligned",
				   names[i], (unsigned long long)addrs[i],
				   (unsigned long long)align[i]);
		if (__builtin_add_overflow(addrs[i], sizes[i], &end))
			return brk(vq, -EINVAL, "%s at 0x%llx wraps", names[i],
				   (unsigned long long)addrs[i]);
		/* first and last byte must be guest memory */
		if (vq->mem->read(vq->mem->opaque, addrs[i], &probe, 1) ||
		    vq->mem->read(vq->mem->opaque, end - 1, &probe, 1))
			return brk(vq, -EINVAL, "%s 0x%llx+0x%llx is not in guest memory",
				   names[i], (unsigned long long)addrs[i],
				   (unsigned long long)sizes[i]);
	}
	return 0;
}

/* packed: is a descriptor with @flags available in lap @wrap? */
static bool pavail(uint16_t flags, bool wrap)
{
	return !!(flags & VMM_VQ_PDESC_F_AVAIL) == wrap &&
	       !!(flags & VMM_VQ_PDESC_F_USED) != wrap;
}

static bool packed_has_avail(struct vmm_vq *vq)
{
	uint16_t flags;

	if (rd16(vq, vq->desc + 16ull * vq->last_avail + 14, &flags))
		return false;
	return pavail(flags, vq->avail_wrap);
}

bool vmm_vq_has_avail(struct vmm_vq *vq)
{
	uint16_t idx;

	if (!vq->ready || vq->broken)
		return false;
	if (vq->packed)
		return packed_has_avail(vq);
	if (rd16(vq, vq->avail + 2, &idx))
		return false;
	return idx != vq->last_avail;
}

/* descriptor @i of @table, in the packed layout when @packed */
static int read_desc(struct vmm_vq *vq, uint64_t table, uint16_t i,
		     bool packed, struct vq_desc *d)
{
	uint8_t raw[16];

	if (rd(vq, table + 16ull * i, raw, 16))
		return brk(vq, -EFAULT, "descriptor %u at 0x%llx is not in guest memory",
			   i, (unsigned long long)(table + 16ull * i));
	memcpy(&d->addr, raw, 8);
	memcpy(&d->len, raw + 8, 4);
	memcpy(packed ? &d->next : &d->flags, raw + 12, 2);
	memcpy(packed ? &d->flags : &d->next, raw + 14, 2);
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->flags = le16toh(d->flags);
	d->next = le16toh(d->next);
	return 0;
}

/*
 * The one chain walker.  Split: follows next indices from @head through
 * the table.  Packed: reads consecutive ring slots from position @head
 * (lap vq->avail_wrap), every one after the head checked for being
 * available, and sets e->head to the buffer ID and e->ndesc to the slots
 * taken.  Indirect tables: next indices (split) or in order (packed).
 */
static int walk(struct vmm_vq *vq, uint16_t head, struct vmm_vq_elem *e)
{
	uint64_t table = vq->desc, total = 0, end;
	uint64_t max = vq->max_chain_bytes ? vq->max_chain_bytes
					   : VMM_VQ_MAX_CHAIN_BYTES;
	uint32_t count = vq->size, hops = 0;
	bool in_indirect = false, packed = vq->packed, wrap = vq->avail_wrap;
	uint16_t i = head, id = 0;
	struct vq_desc d = { 0 };
	int n, ret;

	e->head = head;
	e->ndesc = 0;
	e->n_out = e->n_in = 0;
	e->out_len = e->in_len = 0;
	for (;;) {
		if ((ret = read_desc(vq, table, i, packed, &d)))
			return ret;
		if (++hops > count)
			return brk(vq, -EINVAL, "descriptor chain from head %u loops "
				   "(more than %u hops)", head, count);
		if (packed && !in_indirect) {
			/* the driver makes the head available last: the rest
			 * of the chain must be available already */
			if (hops > 1 && !pavail(d.flags, wrap))
				return brk(vq, -EINVAL, "descriptor %u of the chain at "
					   "%u is not available (flags 0x%x, wrap "
					   "%u)", i, head, d.flags, wrap);
			e->ndesc++;
			id = d.next;
		} else if (packed) {
			/* WRITE is the one flag of an indirect table entry */
			d.flags &= VRING_DESC_F_WRITE;
		}
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (!vq->indirect)
				return brk(vq, -EINVAL, "indirect descriptor without "
					   "VIRTIO_RING_F_INDIRECT_DESC");
			if (in_indirect)
				return brk(vq, -EINVAL, "nested indirect table in chain %u",
					   head);
			if (d.flags & VRING_DESC_F_NEXT)
				return brk(vq, -EINVAL, "indirect descriptor with NEXT "
					   "in chain %u", head);
			if (d.len == 0 || d.len % 16 ||
			    d.len / 16 > VMM_VQ_MAX_IOV)
				return brk(vq, -EINVAL, "indirect table length %u invalid",
					   d.len);
			if (__builtin_add_overflow(d.addr, (uint64_t)d.len, &end))
				return brk(vq, -EINVAL, "indirect table 0x%llx wraps",
					   (unsigned long long)d.addr);
			table = d.addr;
			count = d.len / 16;
			in_indirect = true;
			hops = 0;
			i = 0;
			continue;
		}

		bool wr = d.flags & VRING_DESC_F_WRITE;
		if (wr && !(vq->dirs & VMM_VQ_DIR_WRITE))
			return brk(vq, -EINVAL, "device-writable descriptor on a "
				   "queue the device only reads (chain %u)", head);
		if (!wr && !(vq->dirs & VMM_VQ_DIR_READ))
			return brk(vq, -EINVAL, "device-readable descriptor on a "
				   "queue the device only writes (chain %u)", head);
		if (!wr && e->n_in)
			return brk(vq, -EINVAL, "readable descriptor after a "
				   "writable one in chain %u", head);
		if (d.len) {
			unsigned used = e->n_out + e->n_in;

			if (__builtin_add_overflow(d.addr, (uint64_t)d.len, &end))
				return brk(vq, -EINVAL, "buffer 0x%llx+0x%x wraps",
					   (unsigned long long)d.addr, d.len);
			total += d.len;
			if (total > max)
				return brk(vq, -E2BIG, "chain %u longer than %llu bytes",
					   head, (unsigned long long)max);
			n = vq->mem->iovec(vq->mem->opaque, d.addr, d.len, wr,
					   &e->iov[used], VMM_VQ_MAX_IOV - (int)used);
			if (n == -E2BIG)
				return brk(vq, -E2BIG, "chain %u has more than %u segments",
					   head, VMM_VQ_MAX_IOV);
			if (n < 0)
				return brk(vq, -EFAULT, "buffer 0x%llx+0x%x of chain %u is "
					   "not in guest memory",
					   (unsigned long long)d.addr, d.len, head);
			if (wr) {
				e->n_in += (unsigned)n;
				e->in_len += d.len;
			} else {
				e->n_out += (unsigned)n;
				e->out_len += d.len;
			}
		}
		if (packed && in_indirect) {
			/* an indirect table is read in order, to its end */
			if (++i < count)
				continue;
			break;
		}
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		if (packed) {
			if (++i == vq->size) {
				i = 0;
				wrap = !wrap;
			}
			continue;
		}
		i = d.next;
		if (i >= count)
			return brk(vq, -EINVAL, "next index %u out of range (%u) in chain %u",
				   i, count, head);
	}
	if (packed) {
		if (id >= vq->size)
			return brk(vq, -EINVAL, "buffer ID %u of the chain at %u out of "
				   "range (queue size %u)", id, head, vq->size);
		e->head = id;
	}
	return 0;
}

static int packed_pop(struct vmm_vq *vq, struct vmm_vq_elem *e)
{
	uint16_t flags;
	uint32_t next;
	int ret;

	if (rd16(vq, vq->desc + 16ull * vq->last_avail + 14, &flags))
		return brk(vq, -EFAULT, "descriptor ring not in guest memory");
	if (!pavail(flags, vq->avail_wrap))
		return 0;
	/* the flags before the rest of the descriptors */
	atomic_thread_fence(memory_order_acquire);
	ret = walk(vq, vq->last_avail, e);
	if (ret)
		return ret;
	next = (uint32_t)vq->last_avail + e->ndesc;
	if (next >= vq->size) {
		next -= vq->size;
		vq->avail_wrap = !vq->avail_wrap;
	}
	vq->last_avail = (uint16_t)next;
	vq->popped++;
	return 1;
}

int vmm_vq_pop(struct vmm_vq *vq, struct vmm_vq_elem *e)
{
	uint16_t idx, head, pending;
	int ret;

	if (vq->broken)
		return -EINVAL;
	if (!vq->ready)
		return 0;
	if (vq->packed)
		return packed_pop(vq, e);
	if (rd16(vq, vq->avail + 2, &idx))
		return brk(vq, -EFAULT, "driver area not in guest memory");
	pending = (uint16_t)(idx - vq->last_avail);
	if (!pending)
		return 0;
	if (pending > vq->size)
		return brk(vq, -EINVAL, "avail index jumped from %u to %u "
			   "(queue size %u)", vq->last_avail, idx, vq->size);
	atomic_thread_fence(memory_order_acquire);
	if (rd16(vq, vq->avail + 4 + 2ull * (vq->last_avail & (vq->size - 1)),
		 &head))
		return brk(vq, -EFAULT, "driver area not in guest memory");
	if (head >= vq->size)
		return brk(vq, -EINVAL, "avail ring entry %u names descriptor %u "
			   "(queue size %u)", vq->last_avail, head, vq->size);
	ret = walk(vq, head, e);
	if (ret)
		return ret;
	vq->last_avail++;
	vq->popped++;
	return 1;
}

void vmm_vq_unpop(struct vmm_vq *vq, const struct vmm_vq_elem *e)
{
	if (!vq->packed) {
		vq->last_avail--;
	} else if (vq->last_avail >= e->ndesc) {
		vq->last_avail = (uint16_t)(vq->last_avail - e->ndesc);
	} else {
		vq->last_avail = (uint16_t)(vq->last_avail + vq->size - e->ndesc);
		vq->avail_wrap = !vq->avail_wrap;
	}
	vq->popped--;
}

/*
 * Packed: the used descriptor (ID, length; the flags last, once the rest
 * is visible) at the next used position, which then skips the chain's
 * descriptors.
 */
static int packed_push(struct vmm_vq *vq, const struct vmm_vq_elem *e,
		       uint32_t len)
{
	uint64_t at = vq->desc + 16ull * vq->used_idx;
	uint8_t raw[6];
	uint32_t l = htole32(len), next;
	uint16_t id = htole16(e->head);

	if (e->ndesc == 0 || e->ndesc > vq->size || e->head >= vq->size)
		return -EINVAL; /* not an element of this ring */
	memcpy(raw, &l, 4);
	memcpy(raw + 4, &id, 2);
	if (wr(vq, at + 8, raw, sizeof(raw)))
		return brk(vq, -EFAULT, "descriptor ring not in guest memory");
	atomic_thread_fence(memory_order_release);
	if (wr16(vq, at + 14, vq->used_wrap ? VMM_VQ_PDESC_F_AVAIL |
						      VMM_VQ_PDESC_F_USED
					    : 0))
		return brk(vq, -EFAULT, "descriptor ring not in guest memory");
	next = (uint32_t)vq->used_idx + e->ndesc;
	if (next >= vq->size) {
		next -= vq->size;
		vq->used_wrap = !vq->used_wrap;
	}
	vq->used_idx = (uint16_t)next;
	vq->pushed++;
	return 0;
}

int vmm_vq_push(struct vmm_vq *vq, const struct vmm_vq_elem *e, uint32_t len)
{
	uint16_t head = e->head;
	uint32_t ent[2] = { htole32(head), htole32(len) };
	uint64_t at = vq->used + 4 + 8ull * (vq->used_idx & (vq->size - 1));

	if (vq->broken || !vq->ready)
		return -EINVAL;
	if (vq->packed)
		return packed_push(vq, e, len);
	if (wr(vq, at, ent, sizeof(ent)))
		return brk(vq, -EFAULT, "device area not in guest memory");
	atomic_thread_fence(memory_order_release);
	vq->used_idx++;
	if (wr16(vq, vq->used + 2, vq->used_idx))
		return brk(vq, -EFAULT, "device area not in guest memory");
	vq->pushed++;
	return 0;
}

/*
 * Several chains made visible at once: split rings write every used
 * element, then used->idx once; packed rings write the used descriptors
 * from the last to the first, the first one's flags last.  A driver
 * therefore never sees the first chain without the others (a mergeable
 * receive buffer's num_buffers promises the rest).
 */
int vmm_vq_push_batch(struct vmm_vq *vq, const struct vmm_vq_used *u,
		      unsigned n)
{
	if (vq->broken || !vq->ready)
		return -EINVAL;
	if (n == 0)
		return 0;
	if (n > vq->size)
		return -EINVAL;
	if (!vq->packed) {
		for (unsigned i = 0; i < n; i++) {
			uint32_t ent[2] = { htole32(u[i].head),
					    htole32(u[i].len) };
			uint64_t at = vq->used + 4 +
				      8ull * ((uint16_t)(vq->used_idx + i) &
					      (vq->size - 1));

			if (wr(vq, at, ent, sizeof(ent)))
				return brk(vq, -EFAULT,
					   "device area not in guest memory");
		}
		atomic_thread_fence(memory_order_release);
		vq->used_idx = (uint16_t)(vq->used_idx + n);
		if (wr16(vq, vq->used + 2, vq->used_idx))
			return brk(vq, -EFAULT, "device area not in guest memory");
		vq->pushed += n;
		return 0;
	}
	/* packed: positions first (each chain skips its descriptors) */
	uint16_t pos[VMM_VQ_MAX_BATCH];
	bool wrap[VMM_VQ_MAX_BATCH];
	uint32_t at = vq->used_idx;
	bool w = vq->used_wrap;

	if (n > VMM_VQ_MAX_BATCH)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		if (u[i].ndesc == 0 || u[i].ndesc > vq->size ||
		    u[i].head >= vq->size)
			return -EINVAL;
		pos[i] = (uint16_t)at;
		wrap[i] = w;
		at += u[i].ndesc;
		if (at >= vq->size) {
			at -= vq->size;
			w = !w;
		}
	}
	for (unsigned k = n; k-- > 0;) {
		uint64_t d = vq->desc + 16ull * pos[k];
		uint8_t raw[6];
		uint32_t l = htole32(u[k].len);
		uint16_t id = htole16(u[k].head);

		memcpy(raw, &l, 4);
		memcpy(raw + 4, &id, 2);
		if (wr(vq, d + 8, raw, sizeof(raw)))
			return brk(vq, -EFAULT,
				   "descriptor ring not in guest memory");
		atomic_thread_fence(memory_order_release);
		if (wr16(vq, d + 14, wrap[k] ? VMM_VQ_PDESC_F_AVAIL |
						       VMM_VQ_PDESC_F_USED
					     : 0))
			return brk(vq, -EFAULT,
				   "descriptor ring not in guest memory");
	}
	vq->used_idx = (uint16_t)at;
	vq->used_wrap = w;
	vq->pushed += n;
	return 0;
}

/* The event-index rule of the specification (2.7.10). */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

/*
 * Packed: the event rule on positions counted modulo two laps (position +
 * size in the lap with wrap counter 1): interrupt when the used descriptor
 * at the driver's event position was written since the last interrupt.
 */
static bool packed_need_interrupt(struct vmm_vq *vq, uint16_t old,
				  bool old_wrap, bool valid)
{
	uint16_t ev[2];
	uint32_t n2 = 2u * vq->size, nw, od, e;

	if (rd(vq, vq->avail, ev, sizeof(ev)))
		return true;
	ev[0] = le16toh(ev[0]);
	ev[1] = le16toh(ev[1]);
	if (ev[1] == VRING_PACKED_EVENT_FLAG_DISABLE)
		return false;
	if (ev[1] != VRING_PACKED_EVENT_FLAG_DESC || !vq->event_idx || !valid)
		return true;
	if ((ev[0] & 0x7fff) >= vq->size)
		return true; /* nonsense: interrupting is always safe */
	nw = vq->used_idx + (vq->used_wrap ? vq->size : 0u);
	od = old + (old_wrap ? vq->size : 0u);
	e = (ev[0] & 0x7fff) + ((ev[0] >> 15) ? vq->size : 0u);
	/* (new - event - 1) mod 2n < (new - old) mod 2n */
	return (nw + 2 * n2 - e - 1) % n2 < (nw + n2 - od) % n2;
}

bool vmm_vq_need_interrupt(struct vmm_vq *vq)
{
	uint16_t v, old = vq->signalled_used;
	bool valid = vq->signalled_valid, old_wrap = vq->signalled_wrap;

	if (!vq->ready || vq->broken)
		return false;
	/* our used->idx store must be visible before we read the driver's
	 * suppression state */
	atomic_thread_fence(memory_order_seq_cst);
	if (vq->packed) {
		vq->signalled_used = vq->used_idx;
		vq->signalled_wrap = vq->used_wrap;
		vq->signalled_valid = true;
		return packed_need_interrupt(vq, old, old_wrap, valid);
	}
	vq->signalled_used = vq->used_idx;
	vq->signalled_valid = true;
	if (vq->event_idx) {
		if (rd16(vq, vq->avail + 4 + 2ull * vq->size, &v))
			return true;
		return !valid || need_event(v, vq->used_idx, old);
	}
	if (rd16(vq, vq->avail, &v))
		return true;
	return !(v & VRING_AVAIL_F_NO_INTERRUPT);
}

/* packed: the device event suppression structure */
static void packed_set_event(struct vmm_vq *vq, uint16_t flags)
{
	if (flags == VRING_PACKED_EVENT_FLAG_DESC)
		wr16(vq, vq->used, (uint16_t)(vq->last_avail |
					      (vq->avail_wrap ? 0x8000 : 0)));
	atomic_thread_fence(memory_order_release);
	wr16(vq, vq->used + 2, flags);
}

void vmm_vq_disable_notify(struct vmm_vq *vq)
{
	if (!vq->ready || vq->broken)
		return;
	if (vq->packed)
		packed_set_event(vq, VRING_PACKED_EVENT_FLAG_DISABLE);
	else if (!vq->event_idx)
		wr16(vq, vq->used, VRING_USED_F_NO_NOTIFY);
	/* split with EVENT_IDX: avail_event stays where the last
	 * vmm_vq_enable_notify() put it (kicks up to there are wanted) */
}

bool vmm_vq_enable_notify(struct vmm_vq *vq)
{
	if (!vq->ready || vq->broken)
		return false;
	if (vq->packed)
		packed_set_event(vq, vq->event_idx ? VRING_PACKED_EVENT_FLAG_DESC
						   : VRING_PACKED_EVENT_FLAG_ENABLE);
	else if (vq->event_idx)
		wr16(vq, vq->used + 4 + 8ull * vq->size, vq->last_avail);
	else
		wr16(vq, vq->used, 0);
	atomic_thread_fence(memory_order_seq_cst);
	return vmm_vq_has_avail(vq);
}

void vmm_vq_written(struct vmm_vq *vq, const struct vmm_vq_elem *e,
		    const struct iovec *extra)
{
	if (!vq->mem->dirty)
		return;
	if (e && e->n_in)
		vq->mem->dirty(vq->mem->opaque, &e->iov[e->n_out], e->n_in);
	if (extra)
		vq->mem->dirty(vq->mem->opaque, extra, 1);
}

/* ---- iovec helpers ---- */

size_t vmm_iov_to_buf(const struct iovec *iov, unsigned n, size_t off,
		      void *buf, size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t c = iov[i].iov_len - off;
		if (c > len - done)
			c = len - done;
		memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + off, c);
		done += c;
		off = 0;
	}
	return done;
}

size_t vmm_iov_from_buf(const struct iovec *iov, unsigned n, size_t off,
			const void *buf, size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t c = iov[i].iov_len - off;
		if (c > len - done)
			c = len - done;
		memcpy((uint8_t *)iov[i].iov_base + off,
		       (const uint8_t *)buf + done, c);
		done += c;
		off = 0;
	}
	return done;
}

int vmm_iov_slice(const struct iovec *iov, unsigned n, size_t off, size_t len,
		  struct iovec *out, int max)
{
	int k = 0;

	for (unsigned i = 0; i < n && len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t c = iov[i].iov_len - off;
		if (c > len)
			c = len;
		if (k >= max)
			return -E2BIG;
		out[k].iov_base = (uint8_t *)iov[i].iov_base + off;
		out[k].iov_len = c;
		k++;
		len -= c;
		off = 0;
	}
	return len ? -EINVAL : k;
}
