/* SPDX-License-Identifier: MIT */
/*
 * backend.c - the vhost-user back-end: one session per connection drives a
 * libvmm virtio device (struct vmm_virtio, VM-less) from the front-end's
 * messages.
 *
 *   features/status      GET/SET_FEATURES -> host_features / FEATURES_OK +
 *                        DRIVER_OK through vmm_virtio_set_status()
 *   guest memory         SET_MEM_TABLE: each region's fd mmap()ed shared;
 *                        struct vmm_vq_mem over that table (gpa based);
 *                        ring addresses arrive as front-end user addresses
 *                        and are translated to gpas through the same table
 *   rings                SET_VRING_NUM/ADDR/BASE set the queue; a ring runs
 *                        once it has a kick fd and is enabled; the kick fd
 *                        replaces the queue's own eventfd on the event loop
 *   interrupts           our transport op writes the ring's call fd
 *   GET_VRING_BASE       stops the ring (device reset drains in-flight I/O)
 *
 * Threads: the session thread reads and handles messages; the server's
 * event loop runs the queues.  Both take vd->lock around ring state; loop
 * watches are (un)registered with the lock dropped (the loop may be
 * waiting for it).
 */
#include "dev/vhost-user/vu_int.h"
#include "io/evloop.h"
#include "mem/guest_copy.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void vu_log(struct vu_session *s, int level, const char *fmt, ...)
	VMM_PRINTF(3, 4);

static void vu_log(struct vu_session *s, int level, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!s->log || level > s->log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->log(s->log_opaque, level, msg);
}

/* the device's own messages, through the session's level filter */
static void vd_log(void *opaque, int level, const char *msg)
{
	struct vu_session *s = opaque;

	if (s->log && level <= s->log_level)
		s->log(s->log_opaque, level, msg);
}

/* ---- guest memory through the table (vd->lock held by callers) ---- */

static struct vu_map *find_gpa(struct vu_session *s, uint64_t gpa,
			       uint64_t *avail)
{
	for (unsigned i = 0; i < s->nregions; i++) {
		struct vu_map *r = &s->reg[i];
		if (gpa >= r->gpa && gpa - r->gpa < r->size) {
			*avail = r->size - (gpa - r->gpa);
			return r;
		}
	}
	return NULL;
}

static int mem_iovec(void *opaque, uint64_t gpa, size_t len, bool for_write,
		     struct iovec *iov, int max)
{
	struct vu_session *s = opaque;
	int n = 0;

	(void)for_write;
	while (len) {
		uint64_t avail, c;
		struct vu_map *r = find_gpa(s, gpa, &avail);

		if (!r)
			return -EFAULT;
		if (n == max)
			return -E2BIG;
		c = len < avail ? len : avail;
		iov[n].iov_base = r->host + (gpa - r->gpa);
		iov[n].iov_len = c;
		n++;
		gpa += c;
		len -= c;
		if (len && gpa == 0)
			return -EFAULT; /* wrapped */
	}
	return n;
}

static int mem_copy(struct vu_session *s, uint64_t gpa, void *buf,
		    const void *src, size_t len)
{
	struct iovec iov[VU_MAX_REGIONS];
	size_t off = 0;
	int n = mem_iovec(s, gpa, len, src != NULL, iov, VU_MAX_REGIONS);

	if (n < 0)
		return -EFAULT;
	for (int i = 0; i < n; i++) {
		/* ring indexes and flags: one load / store each */
		if (src)
			vmm__guest_store(iov[i].iov_base,
					 (const uint8_t *)src + off,
					 iov[i].iov_len);
		else
			vmm__guest_load((uint8_t *)buf + off, iov[i].iov_base,
					iov[i].iov_len);
		off += iov[i].iov_len;
	}
	return 0;
}

static int mem_read(void *opaque, uint64_t gpa, void *buf, size_t len)
{
	return mem_copy(opaque, gpa, buf, NULL, len);
}

static int mem_write(void *opaque, uint64_t gpa, const void *buf, size_t len)
{
	return mem_copy(opaque, gpa, NULL, buf, len);
}

static void unmap_table(struct vu_map *reg, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (reg[i].map)
			munmap(reg[i].map, reg[i].map_len);
}

/* front-end user address -> gpa, the whole [ua, ua+len) in one region */
static int ua_to_gpa(struct vu_session *s, uint64_t ua, uint64_t len,
		     uint64_t *gpa)
{
	for (unsigned i = 0; i < s->nregions; i++) {
		struct vu_map *r = &s->reg[i];
		if (ua >= r->uaddr && ua - r->uaddr < r->size &&
		    len <= r->size - (ua - r->uaddr)) {
			*gpa = r->gpa + (ua - r->uaddr);
			return 0;
		}
	}
	return -EFAULT;
}

/* ---- the transport side: interrupts are call fd writes ---- */

static void vu_interrupt(struct vmm_virtio *vd, int q)
{
	struct vu_session *s = vd->t_priv;

	if (q < 0 || (unsigned)q >= vd->nq) {
		vu_log(s, VMM_LOG_DEBUG, "configuration change not signalled "
		       "(no back-end request channel)");
		return;
	}
	if (s->vr[q].call_fd >= 0 && eventfd_write(s->vr[q].call_fd, 1) < 0) {
		/* a full counter still means "signalled" */
	}
}

static const struct vmm_virtio_transport_ops vu_transport = {
	.interrupt = vu_interrupt,
};

/* ---- rings ---- */

static uint32_t vq_bytes(unsigned num, unsigned ring_entry, bool extra)
{
	return 4 + num * ring_entry + (extra ? 2 : 0);
}

/*
 * Start ring @i if it is configured, has a kick fd and is enabled: set the
 * queue up (layout checked by the virtio core) and hand its kick fd to the
 * loop.  Lock NOT held on entry.
 */
static int ring_start(struct vu_session *s, unsigned i)
{
	struct vmm_virtio *vd = &s->vd;
	struct vmm_virtio_queue *q = &vd->q[i];
	struct vu_ring *r = &s->vr[i];
	struct vmm_ev_watch *old, *w = NULL;
	uint64_t d, a, u;
	uint16_t used_idx;
	int ret;

	if (r->started || r->kick_fd < 0 || !r->enabled || !r->addr_set)
		return 0;
	pthread_mutex_lock(&vd->lock);
	if (!(vd->status & VIRTIO_STATUS_FEATURES_OK)) {
		pthread_mutex_unlock(&vd->lock);
		vu_log(s, VMM_LOG_WARN, "ring %u: started before SET_FEATURES",
		       i);
		return -EINVAL;
	}
	if (ua_to_gpa(s, r->desc_ua, 16ull * r->num, &d) ||
	    ua_to_gpa(s, r->avail_ua, vq_bytes(r->num, 2, true), &a) ||
	    ua_to_gpa(s, r->used_ua, vq_bytes(r->num, 8, true), &u)) {
		pthread_mutex_unlock(&vd->lock);
		vu_log(s, VMM_LOG_WARN, "ring %u: addresses outside the memory "
		       "table", i);
		return -EFAULT;
	}
	q->vq.size = r->num;
	q->vq.desc = d;
	q->vq.avail = a;
	q->vq.used = u;
	vmm_virtio_queue_enable(vd, q, true);
	if (!q->vq.ready) {
		pthread_mutex_unlock(&vd->lock);
		vu_log(s, VMM_LOG_WARN, "ring %u: %s", i, q->vq.err);
		return -EINVAL;
	}
	q->vq.last_avail = r->base;
	if (mem_read(s, u + 2, &used_idx, 2) == 0)
		q->vq.used_idx = used_idx;
	else
		q->vq.used_idx = r->base;
	old = q->watch;
	q->watch = NULL;
	pthread_mutex_unlock(&vd->lock);

	vmm_evloop_unwatch(vd->loop, old);
	ret = vmm_evloop_watch(vd->loop, r->kick_fd, vmm__vu_kick_cb, q, true,
			       &w);
	pthread_mutex_lock(&vd->lock);
	if (q->own_kick_fd && q->kick_fd >= 0 && q->kick_fd != r->kick_fd)
		close(q->kick_fd);
	q->kick_fd = r->kick_fd;
	q->own_kick_fd = false; /* r->kick_fd is closed by the session */
	q->watch = w;
	if (ret) {
		q->vq.ready = false;
		pthread_mutex_unlock(&vd->lock);
		return ret;
	}
	r->started = true;
	pthread_mutex_unlock(&vd->lock);
	/* buffers made available before the ring started */
	if (eventfd_write(r->kick_fd, 1) < 0) {
		/* the front-end will kick */
	}
	return 0;
}

/* Stop ring @i (GET_VRING_BASE, reset): its kick fd leaves the loop; the
 * device drains in-flight requests.  Returns the next avail index. */
static uint16_t ring_stop(struct vu_session *s, unsigned i)
{
	struct vmm_virtio *vd = &s->vd;
	struct vmm_virtio_queue *q = &vd->q[i];
	struct vu_ring *r = &s->vr[i];
	struct vmm_ev_watch *w;
	uint16_t base;

	pthread_mutex_lock(&vd->lock);
	w = q->watch;
	q->watch = NULL;
	pthread_mutex_unlock(&vd->lock);
	vmm_evloop_unwatch(vd->loop, w);
	pthread_mutex_lock(&vd->lock);
	base = r->started ? q->vq.last_avail : r->base;
	if (r->started && vd->ops->reset)
		vd->ops->reset(vd->be); /* waits for in-flight requests */
	vmm_vq_reset(&q->vq);
	q->vq.size = q->size_max;
	if (q->own_kick_fd && q->kick_fd >= 0)
		close(q->kick_fd); /* the eventfd vmm_virtio_init() made */
	q->kick_fd = -1;
	q->own_kick_fd = false;
	r->started = false;
	r->base = base;
	pthread_mutex_unlock(&vd->lock);
	return base;
}

static void ring_forget(struct vu_session *s, unsigned i)
{
	struct vu_ring *r = &s->vr[i];

	ring_stop(s, i);
	if (r->kick_fd >= 0)
		close(r->kick_fd);
	if (r->call_fd >= 0)
		close(r->call_fd);
	if (r->err_fd >= 0)
		close(r->err_fd);
	memset(r, 0, sizeof(*r));
	r->kick_fd = r->call_fd = r->err_fd = -1;
	r->num = s->vd.q[i].size_max;
}

/* ---- messages ---- */

#define REJECT(s, fmt, ...)                                              \
	do {                                                             \
		vu_log(s, VMM_LOG_WARN, "%s: " fmt, vu_req_name(req),    \
		       ##__VA_ARGS__);                                   \
		ret = -EINVAL;                                           \
		goto out;                                                \
	} while (0)

static int set_mem_table(struct vu_session *s, struct vu_msg *m)
{
	struct vu_map nreg[VU_MAX_REGIONS];
	const struct vu_mem_table *t = &m->p.mem;
	uint32_t req = VU_SET_MEM_TABLE;
	unsigned n = 0;
	int ret = 0;

	memset(nreg, 0, sizeof(nreg));
	if (m->hdr.size < 8 || t->nregions == 0 ||
	    t->nregions > VU_MAX_REGIONS ||
	    m->hdr.size != 8 + t->nregions * sizeof(struct vu_region))
		REJECT(s, "bad size %u for %u regions", m->hdr.size,
		       t->nregions);
	if (m->nfds != t->nregions)
		REJECT(s, "%u fds for %u regions", m->nfds, t->nregions);
	for (n = 0; n < t->nregions; n++) {
		const struct vu_region *r = &t->r[n];
		long pg = sysconf(_SC_PAGESIZE);
		uint64_t end, map_off, delta;
		struct stat st;
		void *p;

		if (!r->size || __builtin_add_overflow(r->gpa, r->size, &end) ||
		    __builtin_add_overflow(r->uaddr, r->size, &end) ||
		    __builtin_add_overflow(r->mmap_offset, r->size, &end) ||
		    r->size > SIZE_MAX / 2)
			REJECT(s, "region %u: bad size/address", n);
		for (unsigned k = 0; k < n; k++)
			if (r->gpa < nreg[k].gpa + nreg[k].size &&
			    nreg[k].gpa < r->gpa + r->size)
				REJECT(s, "region %u overlaps region %u", n, k);
		/* a file shorter than the region would SIGBUS us */
		if (fstat(m->fds[n], &st) < 0 || !S_ISREG(st.st_mode) ||
		    (uint64_t)st.st_size < r->mmap_offset + r->size)
			REJECT(s, "region %u: fd is not a file covering "
			       "offset+size", n);
		map_off = r->mmap_offset & ~(uint64_t)(pg - 1);
		delta = r->mmap_offset - map_off;
		p = mmap(NULL, r->size + delta, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_NORESERVE, m->fds[n], (off_t)map_off);
		if (p == MAP_FAILED)
			REJECT(s, "region %u: mmap: %s", n, strerror(errno));
		nreg[n] = (struct vu_map){ .gpa = r->gpa, .size = r->size,
					   .uaddr = r->uaddr, .map = p,
					   .map_len = r->size + delta,
					   .host = (uint8_t *)p + delta };
	}
	/* the rings keep their gpas; in-flight I/O to old mappings fails
	 * with EFAULT (reported as an I/O error), never touches freed memory
	 * in this process */
	pthread_mutex_lock(&s->vd.lock);
	unmap_table(s->reg, s->nregions);
	memcpy(s->reg, nreg, sizeof(nreg));
	s->nregions = n;
	pthread_mutex_unlock(&s->vd.lock);
	n = 0;
out:
	unmap_table(nreg, n);
	vu_msg_close_fds(m);
	return ret;
}

/* Take the fd of SET_VRING_KICK/CALL/ERR into *@slot.  */
static int take_ring_fd(struct vu_session *s, struct vu_msg *m, int **slot,
			unsigned *idx)
{
	uint32_t req = m->hdr.request;
	uint64_t v = m->p.u64;
	int ret = 0, fd = -1;

	if (m->hdr.size != 8)
		REJECT(s, "size %u", m->hdr.size);
	if (v & ~(VU_VRING_IDX_MASK | VU_VRING_NOFD))
		REJECT(s, "bad payload 0x%llx", (unsigned long long)v);
	*idx = (unsigned)(v & VU_VRING_IDX_MASK);
	if (*idx >= s->vd.nq)
		REJECT(s, "ring %u of %u", *idx, s->vd.nq);
	if ((v & VU_VRING_NOFD) ? m->nfds != 0 : m->nfds != 1)
		REJECT(s, "%u fds", m->nfds);
	if (!(v & VU_VRING_NOFD)) {
		fd = m->fds[0];
		m->nfds = 0;
	}
	if (req == VU_SET_VRING_KICK && fd < 0)
		REJECT(s, "polling mode (no kick fd) is not supported");
	if (req == VU_SET_VRING_KICK) {
		/* a new kick fd restarts the ring */
		ring_stop(s, *idx);
		*slot = &s->vr[*idx].kick_fd;
	} else if (req == VU_SET_VRING_CALL) {
		*slot = &s->vr[*idx].call_fd;
	} else {
		*slot = &s->vr[*idx].err_fd;
	}
	pthread_mutex_lock(&s->vd.lock);
	if (**slot >= 0)
		close(**slot);
	**slot = fd;
	pthread_mutex_unlock(&s->vd.lock);
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	vu_msg_close_fds(m);
	return ret;
}

static int ring_index(struct vu_session *s, struct vu_msg *m, size_t size,
		      unsigned *idx)
{
	if (m->hdr.size != size || m->p.state.index >= s->vd.nq)
		return -EINVAL;
	*idx = m->p.state.index;
	return 0;
}

static void reset_session(struct vu_session *s)
{
	for (unsigned i = 0; i < s->vd.nq; i++)
		ring_forget(s, i);
	pthread_mutex_lock(&s->vd.lock);
	vmm_virtio_set_status(&s->vd, 0);
	pthread_mutex_unlock(&s->vd.lock);
	s->features_set = false;
}

int vmm__vu_handle(struct vu_session *s, struct vu_msg *m, struct vu_msg *rep,
		   bool *has_reply)
{
	struct vmm_virtio *vd = &s->vd;
	uint32_t req = m->hdr.request;
	unsigned idx;
	int ret = 0;

	*has_reply = false;
	memset(&rep->hdr, 0, sizeof(rep->hdr));
	rep->hdr.request = req;
	rep->hdr.flags = VU_VERSION | VU_FLAG_REPLY;
	rep->nfds = 0;
	s->messages++;
	vu_log(s, VMM_LOG_DEBUG, "%s (%u) size %u flags 0x%x fds %u",
	       vu_req_name(req), req, m->hdr.size, m->hdr.flags, m->nfds);

	switch (req) {
	case VU_GET_FEATURES:
		if (m->hdr.size != 0 && m->hdr.size != 8)
			REJECT(s, "size %u", m->hdr.size);
		rep->hdr.size = 8;
		rep->p.u64 = vd->host_features | (1ull << VU_F_PROTOCOL_FEATURES);
		*has_reply = true;
		break;
	case VU_SET_FEATURES: {
		uint64_t f = m->p.u64, offered = vd->host_features |
				      (1ull << VU_F_PROTOCOL_FEATURES);
		if (m->hdr.size != 8)
			REJECT(s, "size %u", m->hdr.size);
		if (f & ~offered)
			REJECT(s, "features 0x%llx not offered",
			       (unsigned long long)(f & ~offered));
		f &= ~(1ull << VU_F_PROTOCOL_FEATURES);
		pthread_mutex_lock(&vd->lock);
		if ((vd->status & VIRTIO_STATUS_FEATURES_OK) &&
		    vd->guest_features == f) {
			pthread_mutex_unlock(&vd->lock);
			break;
		}
		pthread_mutex_unlock(&vd->lock);
		if (s->features_set) {
			/* new features: the rings restart with them */
			for (unsigned i = 0; i < vd->nq; i++)
				ring_stop(s, i);
		}
		pthread_mutex_lock(&vd->lock);
		vmm_virtio_set_status(vd, 0);
		vmm_virtio_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE |
						  VIRTIO_STATUS_DRIVER);
		vd->drv_feat_sel = 0;
		vmm_virtio_set_drv_features(vd, (uint32_t)f);
		vd->drv_feat_sel = 1;
		vmm_virtio_set_drv_features(vd, (uint32_t)(f >> 32));
		vmm_virtio_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE |
						  VIRTIO_STATUS_DRIVER |
						  VIRTIO_STATUS_FEATURES_OK |
						  VIRTIO_STATUS_DRIVER_OK);
		ret = (vd->status & VIRTIO_STATUS_FEATURES_OK) ? 0 : -EINVAL;
		pthread_mutex_unlock(&vd->lock);
		if (ret)
			REJECT(s, "features 0x%llx refused by the device",
			       (unsigned long long)f);
		s->features_set = true;
		s->proto_acked = m->p.u64 & (1ull << VU_F_PROTOCOL_FEATURES);
		for (unsigned i = 0; i < vd->nq; i++) {
			if (!s->proto_acked)
				s->vr[i].enabled = true;
			ring_start(s, i);
		}
		break;
	}
	case VU_GET_PROTOCOL_FEATURES:
		if (m->hdr.size != 0 && m->hdr.size != 8)
			REJECT(s, "size %u", m->hdr.size);
		rep->hdr.size = 8;
		rep->p.u64 = VU_OFFERED_PROTOCOL;
		*has_reply = true;
		break;
	case VU_SET_PROTOCOL_FEATURES:
		if (m->hdr.size != 8)
			REJECT(s, "size %u", m->hdr.size);
		if (m->p.u64 & ~VU_OFFERED_PROTOCOL)
			REJECT(s, "protocol features 0x%llx not offered",
			       (unsigned long long)(m->p.u64 &
						    ~VU_OFFERED_PROTOCOL));
		s->protocol = m->p.u64;
		break;
	case VU_SET_OWNER:
		if (m->hdr.size != 0)
			REJECT(s, "size %u", m->hdr.size);
		s->owner = true;
		break;
	case VU_RESET_OWNER:
		if (m->hdr.size != 0)
			REJECT(s, "size %u", m->hdr.size);
		reset_session(s);
		s->owner = false;
		break;
	case VU_GET_QUEUE_NUM:
		rep->hdr.size = 8;
		rep->p.u64 = vd->nq;
		*has_reply = true;
		break;
	case VU_SET_MEM_TABLE:
		ret = set_mem_table(s, m); /* closes the fds */
		goto out;
	case VU_SET_VRING_NUM:
		if (ring_index(s, m, sizeof(struct vu_vring_state), &idx))
			REJECT(s, "bad size or ring index");
		if (m->p.state.num == 0 || (m->p.state.num & (m->p.state.num - 1)) ||
		    m->p.state.num > vd->q[idx].size_max)
			REJECT(s, "ring %u: size %u (max %u, power of two)", idx,
			       m->p.state.num, vd->q[idx].size_max);
		if (s->vr[idx].started)
			REJECT(s, "ring %u is running", idx);
		s->vr[idx].num = (uint16_t)m->p.state.num;
		break;
	case VU_SET_VRING_BASE:
		if (ring_index(s, m, sizeof(struct vu_vring_state), &idx))
			REJECT(s, "bad size or ring index");
		if (m->p.state.num > 0xffff)
			REJECT(s, "ring %u: base %u", idx, m->p.state.num);
		if (s->vr[idx].started)
			REJECT(s, "ring %u is running", idx);
		s->vr[idx].base = (uint16_t)m->p.state.num;
		break;
	case VU_GET_VRING_BASE:
		if (ring_index(s, m, sizeof(struct vu_vring_state), &idx))
			REJECT(s, "bad size or ring index");
		rep->hdr.size = sizeof(struct vu_vring_state);
		rep->p.state.index = idx;
		rep->p.state.num = ring_stop(s, idx);
		/* the ring stays stopped until a new kick fd arrives */
		if (s->vr[idx].kick_fd >= 0) {
			close(s->vr[idx].kick_fd);
			s->vr[idx].kick_fd = -1;
		}
		*has_reply = true;
		break;
	case VU_SET_VRING_ADDR: {
		const struct vu_vring_addr *a = &m->p.addr;
		uint64_t g;
		if (ring_index(s, m, sizeof(*a), &idx))
			REJECT(s, "bad size or ring index");
		if (a->flags & ~1u)
			REJECT(s, "ring %u: flags 0x%x", idx, a->flags);
		if (s->vr[idx].started)
			REJECT(s, "ring %u is running", idx);
		pthread_mutex_lock(&vd->lock);
		ret = ua_to_gpa(s, a->desc, 16, &g) ||
		      ua_to_gpa(s, a->avail, 4, &g) ||
		      ua_to_gpa(s, a->used, 4, &g);
		pthread_mutex_unlock(&vd->lock);
		if (ret)
			REJECT(s, "ring %u: addresses outside the memory table",
			       idx);
		s->vr[idx].desc_ua = a->desc;
		s->vr[idx].avail_ua = a->avail;
		s->vr[idx].used_ua = a->used;
		s->vr[idx].addr_set = true;
		break;
	}
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR: {
		int *slot;
		ret = take_ring_fd(s, m, &slot, &idx);
		if (ret)
			goto out;
		if (req == VU_SET_VRING_KICK)
			ret = ring_start(s, idx);
		break;
	}
	case VU_SET_VRING_ENABLE:
		if (ring_index(s, m, sizeof(struct vu_vring_state), &idx))
			REJECT(s, "bad size or ring index");
		if (m->p.state.num > 1)
			REJECT(s, "ring %u: enable %u", idx, m->p.state.num);
		s->vr[idx].enabled = m->p.state.num;
		if (s->vr[idx].enabled)
			ret = ring_start(s, idx);
		else
			ring_stop(s, idx);
		break;
	case VU_GET_CONFIG: {
		struct vu_config *c = &m->p.config;
		if (!(s->protocol & (1ull << VU_PF_CONFIG)))
			REJECT(s, "CONFIG not negotiated");
		if (m->hdr.size < VU_CONFIG_HDR || c->size > VU_MAX_CONFIG ||
		    m->hdr.size != VU_CONFIG_HDR + c->size)
			REJECT(s, "size %u for %u config bytes", m->hdr.size,
			       c->size);
		rep->hdr.size = m->hdr.size;
		rep->p.config.offset = c->offset;
		rep->p.config.size = c->size;
		rep->p.config.flags = c->flags;
		pthread_mutex_lock(&vd->lock);
		if (c->offset < vd->ops->config_size)
			vmm_virtio_config_read(vd, c->offset,
					       rep->p.config.data, c->size);
		else
			memset(rep->p.config.data, 0, c->size);
		pthread_mutex_unlock(&vd->lock);
		*has_reply = true;
		break;
	}
	case VU_SET_CONFIG: {
		struct vu_config *c = &m->p.config;
		if (!(s->protocol & (1ull << VU_PF_CONFIG)))
			REJECT(s, "CONFIG not negotiated");
		if (m->hdr.size < VU_CONFIG_HDR || c->size > VU_MAX_CONFIG ||
		    m->hdr.size != VU_CONFIG_HDR + c->size)
			REJECT(s, "size %u for %u config bytes", m->hdr.size,
			       c->size);
		if (!vd->ops->config_write)
			REJECT(s, "the device config is read-only");
		pthread_mutex_lock(&vd->lock);
		vmm_virtio_config_write(vd, c->offset, c->data, c->size);
		pthread_mutex_unlock(&vd->lock);
		break;
	}
	default:
		/* SET_LOG_BASE/FD (no LOG_SHMFD, no LOG_ALL offered), the
		 * back-end channel, inflight fds, ...: not offered, so a
		 * front-end that sends them does not follow the protocol */
		vu_log(s, VMM_LOG_WARN, "request %u (%s) not supported: closing",
		       req, vu_req_name(req));
		vu_msg_close_fds(m);
		return -EPROTO;
	}
	if (m->nfds)
		REJECT(s, "%u unexpected fds", m->nfds);
out:
	vu_msg_close_fds(m);
	if (ret)
		s->rejected++;
	/* REPLY_ACK: a status reply for requests that have no reply */
	if (!*has_reply && (m->hdr.flags & VU_FLAG_NEED_REPLY) &&
	    (s->protocol & (1ull << VU_PF_REPLY_ACK))) {
		rep->hdr.size = 8;
		rep->p.u64 = ret ? 1 : 0;
		*has_reply = true;
		return 0;
	}
	/* an error nobody is told about: the front-end would go on with a
	 * device in an unknown state */
	return ret && !*has_reply ? -EPROTO : 0;
}

/* The kick callback on the loop: like the VM's, without NEEDS_RESET
 * notices (the front-end cannot see them). */
void vmm__vu_kick_cb(void *opaque, int fd, unsigned events)
{
	struct vmm_virtio_queue *q = opaque;
	struct vmm_virtio *vd = q->vd;
	eventfd_t v;

	(void)events;
	if (eventfd_read(fd, &v) < 0)
		return;
	pthread_mutex_lock(&vd->lock);
	vd->stats.kicks += v;
	if (vmm_virtio_running(vd) && q->vq.ready)
		vd->ops->queue_notify(vd->be, q->index);
	pthread_mutex_unlock(&vd->lock);
}

/* ---- session lifecycle ---- */

int vmm__vu_session_new(const struct vmm_vhost_user_server_config *cfg,
			struct vmm_evloop *loop, struct vu_session **out)
{
	struct vu_session *s = calloc(1, sizeof(*s));
	struct vmm_vq_mem mem;
	uint16_t qmax;
	int ret;

	if (!s)
		return -ENOMEM;
	s->log = cfg->log;
	s->log_opaque = cfg->log_opaque;
	s->log_level = cfg->log_level;
	s->sock = -1;
	switch (cfg->device) {
	case VMM_VHOST_USER_BLK:
		ret = vmm__virtio_blk_new(NULL, &cfg->blk, &s->nb);
		break;
	case VMM_VHOST_USER_RNG:
		ret = vmm__virtio_rng_new(NULL, &cfg->blk.virtio, &s->nb);
		break;
	default:
		ret = -EINVAL;
		break;
	}
	if (ret) {
		free(s);
		return ret;
	}
	qmax = s->nb.queue_max ? s->nb.queue_max : 256;
	mem = (struct vmm_vq_mem){ mem_read, mem_write, mem_iovec, s };
	*s->nb.vd_slot = &s->vd;
	s->vd.log = vd_log;
	s->vd.log_opaque = s;
	ret = vmm_virtio_init(&s->vd, NULL, s->nb.ops, s->nb.be, loop, &mem,
			      cfg->blk.virtio.flags & ~VMM_VIRTIO_PACKED, qmax);
	if (ret) {
		s->nb.destroy(s->nb.be);
		free(s);
		return ret;
	}
	s->vd.t = &vu_transport;
	s->vd.t_priv = s;
	for (unsigned i = 0; i < VMM_VIRTIO_MAX_QUEUES; i++) {
		s->vr[i].kick_fd = s->vr[i].call_fd = s->vr[i].err_fd = -1;
		s->vr[i].num = qmax;
	}
	*out = s;
	return 0;
}

void vmm__vu_session_free(struct vu_session *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->vd.nq; i++)
		ring_forget(s, i);
	vmm_virtio_fini(&s->vd);
	s->nb.destroy(s->nb.be);
	unmap_table(s->reg, s->nregions);
	if (s->sock >= 0)
		close(s->sock);
	free(s);
}

uint64_t vmm__vu_session_requests(struct vu_session *s)
{
	uint64_t n;

	pthread_mutex_lock(&s->vd.lock);
	n = s->vd.stats.requests;
	pthread_mutex_unlock(&s->vd.lock);
	return n;
}

/* Serve one connection until it closes or breaks the protocol. */
int vmm__vu_session_serve(struct vu_session *s)
{
	struct vu_msg *m = malloc(sizeof(*m)), *rep = malloc(sizeof(*rep));
	int ret = 0;

	if (!m || !rep) {
		free(m);
		free(rep);
		return -ENOMEM;
	}
	for (;;) {
		bool has_reply;

		ret = vu_msg_recv(s->sock, m);
		if (ret) {
			if (ret != -ECONNRESET)
				vu_log(s, VMM_LOG_WARN, "bad message: %s",
				       strerror(-ret));
			break;
		}
		ret = vmm__vu_handle(s, m, rep, &has_reply);
		if (ret)
			break;
		if (has_reply && (ret = vu_msg_send(s->sock, rep, NULL, 0)))
			break;
	}
	free(m);
	free(rep);
	return ret == -ECONNRESET ? 0 : ret;
}
