/* SPDX-License-Identifier: MIT */
/*
 * blk.c - virtio-blk (VIRTIO 1.2, 5.2) on a raw image file, asynchronous
 * through the event loop (io_uring: the data moves straight between the
 * file and guest memory iovecs).
 *
 * A request is: a 16-byte device-readable header (le32 type, le32 reserved,
 * le64 sector), data, and a 1-byte device-writable status at the very end.
 * Everything is checked against the capacity with overflow-safe arithmetic;
 * a malformed request gets VIRTIO_BLK_S_IOERR (or UNSUPP), a host I/O error
 * or short transfer gets IOERR and is counted.  The number of requests in
 * flight is bounded by the queue size (preallocated, no allocation per
 * request).
 *
 * Batching: a kick pops every available chain and queues its I/O; the loop
 * submits them with one io_uring_enter.
 *
 * Request merging (off with VMM_VIRTIO_BLK_NO_MERGE): the reads and
 * writes one pass over a queue pops are held back until the pass ends;
 * then each run of requests of the same type whose sectors follow each
 * other goes out as one vectored operation (at most MERGE_REQS requests,
 * MERGE_IOV iovecs and MERGE_BYTES bytes, while one of the MERGE_SLOTS
 * iovec arrays is free).  Every request is validated on its own before it
 * joins a run (range, O_DIRECT alignment), so a bad one is answered alone
 * and splits the run.  When a merged operation fails or comes back short,
 * its requests are submitted again one by one: each gets the status of its
 * own range.  Nothing is held across passes (the device lock is not
 * dropped in between), so snapshots and resets see no merge state.
 *
 * Multi-queue (VIRTIO_BLK_F_MQ, offered when more than one queue is
 * configured; default one per vCPU of the VM): every queue runs on the
 * device's event loop under the device lock and draws from one pool of
 * queue-size requests; a queue that finds the pool empty is marked starved
 * and is served again, lowest index first, as requests complete.
 */
#include "dev/virtio/virtio_dev.h"
#include "io/evloop.h"

#include <endian.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/virtio_blk.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Short names for the kernel's constants (<linux/virtio_blk.h>). */
#define BLK_F_SEG_MAX VIRTIO_BLK_F_SEG_MAX
#define BLK_F_RO VIRTIO_BLK_F_RO
#define BLK_F_BLK_SIZE VIRTIO_BLK_F_BLK_SIZE
#define BLK_F_FLUSH VIRTIO_BLK_F_FLUSH
#define BLK_F_DISCARD VIRTIO_BLK_F_DISCARD
#define BLK_F_WRITE_ZEROES VIRTIO_BLK_F_WRITE_ZEROES

#define BLK_F_MQ VIRTIO_BLK_F_MQ

#define BLK_T_IN VIRTIO_BLK_T_IN
#define BLK_T_OUT VIRTIO_BLK_T_OUT
#define BLK_T_FLUSH VIRTIO_BLK_T_FLUSH
#define BLK_T_GET_ID VIRTIO_BLK_T_GET_ID
#define BLK_T_DISCARD VIRTIO_BLK_T_DISCARD
#define BLK_T_WRITE_ZEROES VIRTIO_BLK_T_WRITE_ZEROES

#define BLK_S_OK VIRTIO_BLK_S_OK
#define BLK_S_IOERR VIRTIO_BLK_S_IOERR
#define BLK_S_UNSUPP VIRTIO_BLK_S_UNSUPP

/* discard / write-zeroes segment flags (5.2.6) */
#define BLK_WZ_F_UNMAP VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP

#define BLK_ID_LEN VIRTIO_BLK_ID_BYTES
#define SECTOR 512ull
#define SEG_MAX (VMM_VQ_MAX_IOV - 2)
/* the config space up to write_zeroes_may_unmap and its padding (60
 * bytes; the kernel's struct also has secure-erase fields we do not
 * offer) */
#define CONFIG_SIZE                                                      \
	(offsetof(struct virtio_blk_config, unused1) +                    \
	 sizeof(((struct virtio_blk_config *)0)->unused1))

_Static_assert(VMM_VIRTIO_BLK_MAX_QUEUES <= VMM_VIRTIO_MAX_QUEUES,
	       "virtio-blk queues beyond the virtio core's");

/* registered buffers: the kernel's largest */
#define BUF_PIECE (1ull << 30)

/* request merging bounds (see above) */
#define MERGE_SLOTS 8
#define MERGE_REQS 32
#define MERGE_IOV 256
#define MERGE_BYTES (2ull << 20)

struct blk;
struct blk_merge;

struct blk_req {
	struct blk *b;
	struct vmm_evop op;
	uint8_t *status;
	uint64_t len;      /* data bytes expected */
	uint32_t type;
	uint16_t q;        /* the queue it came from */
	bool in_flight;
	struct blk_req *next_free;
	/* reads and writes: the file range and the data iovecs (in @e) */
	uint64_t sector;
	struct iovec *data;
	unsigned ndata;
	struct blk_req *pend_next; /* held back for merging, or the next
				      request of the same merged operation */
	struct vmm_vq_elem e;
};

/* One merged operation: its requests (in sector order) and iovecs. */
struct blk_merge {
	struct blk *b;
	struct vmm_evop op;
	struct blk_req *first;
	uint64_t len;
	unsigned n;
	bool busy;
	struct iovec iov[MERGE_IOV];
};

struct blk {
	struct vmm_virtio *vd;
	int fd;
	int io_fd;         /* @fd registered with the loop's ring, or @fd */
	bool io_fd_set;
	bool ro;
	bool direct;       /* O_DIRECT: requests must meet the alignment */
	uint32_t mem_align, off_align; /* O_DIRECT rules (statx DIOALIGN) */
	uint64_t capacity; /* sectors */
	char serial[BLK_ID_LEN];
	uint8_t config[CONFIG_SIZE];
	struct blk_req *reqs;
	unsigned nreq;
	struct blk_req *free;
	unsigned inflight;
	bool merge;        /* request merging on */
	struct blk_merge *merges; /* MERGE_SLOTS, when @merge */
	struct blk_req *pend, **pend_tail; /* held back in this pass */
	bool fixed_bufs;   /* VMM_VIRTIO_BLK_FIXED_BUFS */
	bool bufs_stale;   /* (re)register guest RAM at the next request */
	uint32_t starved;  /* queues with chains waiting for a free request */
	bool resetting;
	unsigned nq;
	struct vmm_virtio_dev_ops ops; /* the template with this queue count */
	vmm_vm *vm;
};

static void blk_process(struct blk *b, unsigned q);

static void put_le(uint8_t *p, unsigned n, uint64_t v)
{
	for (unsigned i = 0; i < n; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static void blk_config_read(void *be, uint32_t off, void *buf, unsigned len)
{
	struct blk *b = be;

	memcpy(buf, b->config + off, len);
}

/* Remove @front bytes from the start and @back from the end of iov[0..n). */
static int iov_trim(struct iovec *iov, unsigned *n, size_t front, size_t back)
{
	unsigned i = 0, k;

	while (front && i < *n) {
		size_t c = front < iov[i].iov_len ? front : iov[i].iov_len;
		iov[i].iov_base = (uint8_t *)iov[i].iov_base + c;
		iov[i].iov_len -= c;
		front -= c;
		if (!iov[i].iov_len)
			i++;
	}
	if (i) {
		memmove(iov, iov + i, (*n - i) * sizeof(*iov));
		*n -= i;
	}
	k = *n;
	while (back && k) {
		size_t c = back < iov[k - 1].iov_len ? back : iov[k - 1].iov_len;
		iov[k - 1].iov_len -= c;
		back -= c;
		if (!iov[k - 1].iov_len)
			k--;
	}
	*n = k;
	return front || back ? -EINVAL : 0;
}

static void req_free(struct blk *b, struct blk_req *r)
{
	r->next_free = b->free;
	b->free = r;
}

/* Finish @r: status byte, used entry, interrupt.  Lock held. */
static void req_complete(struct blk *b, struct blk_req *r, uint8_t status,
			 uint32_t written)
{
	struct vmm_virtio *vd = b->vd;
	struct vmm_vq *vq = &vd->q[r->q].vq;

	if (!b->resetting && vq->ready && !vq->broken) {
		if (r->status) {
			struct iovec st = { r->status, 1 };

			*r->status = status;
			/* data (read requests) and status were written after
			 * the pages were marked at pop time */
			vmm_vq_written(vq, &r->e, &st);
		}
		if (vmm_vq_push(vq, &r->e, r->status ? written + 1 : 0))
			vmm_virtio_queue_error(vd, r->q);
		else
			vmm_virtio_notify_queue(vd, r->q);
		vd->stats.requests++;
	}
	if (status == BLK_S_IOERR)
		vd->stats.io_errors++;
	req_free(b, r);
}

/* The result @res of @r's own operation: finish it.  Lock held. */
static void req_finish(struct blk *b, struct blk_req *r, int res)
{
	struct vmm_virtio *vd = b->vd;
	uint8_t st = BLK_S_OK;
	uint32_t written = 0;

	r->in_flight = false;
	b->inflight--;
	if (r->type == BLK_T_IN || r->type == BLK_T_OUT) {
		if (res < 0 || (uint64_t)res != r->len) {
			vmm_virtio_log(vd, VMM_LOG_WARN, "%s of %llu bytes: %s",
				       r->type == BLK_T_IN ? "read" : "write",
				       (unsigned long long)r->len,
				       res < 0 ? vmm_strerror(res) : "short");
			st = BLK_S_IOERR;
		} else if (r->type == BLK_T_IN) {
			written = (uint32_t)r->len;
			vd->stats.bytes_in += r->len;
		} else {
			vd->stats.bytes_out += r->len;
		}
	} else if (res < 0) {
		vmm_virtio_log(vd, VMM_LOG_WARN, "request type %u: %s", r->type,
			       vmm_strerror(res));
		st = BLK_S_IOERR;
	}
	req_complete(b, r, st, written);
}

/* After completions: wake a reset/drain, serve starved queues.  Lock
 * held. */
static void blk_after_done(struct blk *b)
{
	struct vmm_virtio *vd = b->vd;

	if (b->resetting || b->inflight == 0)
		pthread_cond_broadcast(&vd->cond);
	for (unsigned q = 0; b->starved && q < b->nq && b->free; q++)
		if ((b->starved & (1u << q)) && !b->resetting &&
		    vmm_virtio_running(vd))
			blk_process(b, q);
}

static void req_done(void *opaque, int res)
{
	struct blk_req *r = opaque;
	struct blk *b = r->b;

	pthread_mutex_lock(&b->vd->lock);
	req_finish(b, r, res);
	blk_after_done(b);
	pthread_mutex_unlock(&b->vd->lock);
}

/* Submit @r's read or write on its own.  0 or -errno (not submitted). */
static int req_submit(struct blk *b, struct blk_req *r)
{
	struct vmm_virtio *vd = b->vd;

	r->op.fn = req_done;
	r->op.opaque = r;
	if (r->type == BLK_T_IN)
		return vmm_evloop_readv(vd->loop, b->io_fd, r->data,
					(int)r->ndata,
					(off_t)(r->sector * SECTOR), &r->op);
	return vmm_evloop_writev(vd->loop, b->io_fd, r->data, (int)r->ndata,
				 (off_t)(r->sector * SECTOR), &r->op);
}

/* A merged operation completed: each request gets its share, or - on an
 * error or a short transfer - is submitted again alone, so that its status
 * is the one of its own range. */
static void merge_done(void *opaque, int res)
{
	struct blk_merge *m = opaque;
	struct blk *b = m->b;
	struct vmm_virtio *vd = b->vd;
	struct blk_req *r = m->first, *nx;
	bool ok = res >= 0 && (uint64_t)res == m->len;

	pthread_mutex_lock(&vd->lock);
	m->busy = false;
	if (!ok) {
		vmm_virtio_log(vd, VMM_LOG_DEBUG, "merged %s of %u requests "
			       "(%llu bytes): %s; again one by one",
			       r->type == BLK_T_IN ? "read" : "write", m->n,
			       (unsigned long long)m->len,
			       res < 0 ? vmm_strerror(res) : "short");
	}
	for (; r; r = nx) {
		int ret;

		nx = r->pend_next;
		r->pend_next = NULL;
		if (ok) {
			req_finish(b, r, (int)r->len);
			continue;
		}
		if (b->resetting) {
			req_finish(b, r, -ECANCELED);
			continue;
		}
		ret = req_submit(b, r);
		if (ret) {
			vmm_virtio_log(vd, VMM_LOG_WARN, "cannot submit "
				       "request: %s", vmm_strerror(ret));
			req_finish(b, r, ret);
		}
	}
	blk_after_done(b);
	pthread_mutex_unlock(&vd->lock);
}

/* Submit the group @first..(@n requests, linked by pend_next, @len bytes,
 * @niov data iovecs) as one operation in slot @m.  Lock held. */
static int merge_submit(struct blk *b, struct blk_merge *m,
			struct blk_req *first, unsigned n, uint64_t len)
{
	struct vmm_virtio *vd = b->vd;
	unsigned k = 0;

	for (struct blk_req *r = first; r; r = r->pend_next) {
		memcpy(m->iov + k, r->data, r->ndata * sizeof(*r->data));
		k += r->ndata;
	}
	m->first = first;
	m->n = n;
	m->len = len;
	m->op.fn = merge_done;
	m->op.opaque = m;
	if (first->type == BLK_T_IN)
		return vmm_evloop_readv(vd->loop, b->io_fd, m->iov, (int)k,
					(off_t)(first->sector * SECTOR),
					&m->op);
	return vmm_evloop_writev(vd->loop, b->io_fd, m->iov, (int)k,
				 (off_t)(first->sector * SECTOR), &m->op);
}

static struct blk_merge *merge_slot(struct blk *b)
{
	for (unsigned i = 0; b->merges && i < MERGE_SLOTS; i++)
		if (!b->merges[i].busy)
			return &b->merges[i];
	return NULL;
}

/*
 * Submit the reads and writes held back in this pass, merging runs of
 * adjacent ones.  A request that cannot be submitted gets IOERR, alone
 * or with the rest of its group.  Lock held.
 */
static void blk_flush(struct blk *b)
{
	struct vmm_virtio *vd = b->vd;
	struct blk_req *r = b->pend;

	b->pend = NULL;
	b->pend_tail = &b->pend;
	while (r) {
		struct blk_req *last = r, *rest;
		struct blk_merge *m = merge_slot(b);
		uint64_t len = r->len;
		unsigned n = 1, niov = r->ndata;
		int ret;

		/* the longest run that starts at @r */
		while (m && last->pend_next) {
			struct blk_req *c = last->pend_next;

			if (c->type != r->type || n == MERGE_REQS ||
			    c->sector != last->sector + last->len / SECTOR ||
			    niov + c->ndata > MERGE_IOV ||
			    len + c->len > MERGE_BYTES || !c->len ||
			    !last->len)
				break;
			len += c->len;
			niov += c->ndata;
			n++;
			last = c;
		}
		rest = last->pend_next;
		last->pend_next = NULL;
		if (n == 1) {
			ret = req_submit(b, r);
		} else {
			ret = merge_submit(b, m, r, n, len);
			if (!ret)
				m->busy = true;
		}
		for (struct blk_req *c = r, *nx; c; c = nx) {
			nx = c->pend_next;
			if (ret) {
				c->pend_next = NULL;
				vmm_virtio_log(vd, VMM_LOG_WARN, "cannot submit "
					       "request: %s", vmm_strerror(ret));
				req_complete(b, c, BLK_S_IOERR, 0);
				continue;
			}
			c->in_flight = true;
			b->inflight++;
		}
		r = rest;
	}
}

static bool range_ok(struct blk *b, uint64_t sector, uint64_t bytes)
{
	uint64_t end;

	if (bytes % SECTOR || sector > b->capacity)
		return false;
	return !__builtin_add_overflow(sector, bytes / SECTOR, &end) &&
	       end <= b->capacity;
}

/*
 * O_DIRECT: the file offset and length must be multiples of the file's
 * offset alignment, every buffer address of its memory alignment and every
 * buffer length of the offset alignment (what the kernel would otherwise
 * refuse with EINVAL, or for some file systems silently do buffered).
 */
static bool direct_ok(struct blk *b, uint64_t off, const struct iovec *iov,
		      unsigned n, uint64_t len)
{
	if (!b->direct)
		return true;
	if (off % b->off_align || len % b->off_align)
		return false;
	for (unsigned i = 0; i < n; i++)
		if ((uintptr_t)iov[i].iov_base % b->mem_align ||
		    iov[i].iov_len % b->off_align)
			return false;
	return true;
}

/*
 * VMM_VIRTIO_BLK_FIXED_BUFS: register the VM's RAM regions (their host
 * ranges, in pieces of at most 1 GiB) with the loop's ring.  On the loop
 * thread, lock held.  A region the kernel cannot pin makes the whole
 * table fail: then nothing is registered (logged once per layout) and
 * requests use plain reads and writes.
 */
static void blk_bufs_register(struct blk *b)
{
	struct vmm_virtio *vd = b->vd;
	struct vmm_mem_info mi[VMM_EVLOOP_MAX_BUFS];
	struct iovec bufs[VMM_EVLOOP_MAX_BUFS];
	unsigned n = 0;
	int nr, ret;

	b->bufs_stale = false;
	memset(mi, 0, sizeof(mi));
	mi[0].struct_size = sizeof(mi[0]);
	nr = vmm__mem_get_regions(b->vm, mi, VMM_EVLOOP_MAX_BUFS);
	for (int i = 0; i < nr && i < VMM_EVLOOP_MAX_BUFS; i++) {
		for (uint64_t off = 0; off < mi[i].size;) {
			uint64_t len = mi[i].size - off;
			struct iovec v;

			if (len > BUF_PIECE)
				len = BUF_PIECE;
			if (n == VMM_EVLOOP_MAX_BUFS ||
			    vmm_mem_iovec(b->vm, mi[i].gpa + off, len, false,
					  &v, 1) != 1)
				break;
			bufs[n++] = v;
			off += len;
		}
	}
	ret = vmm_evloop_buffers_set(vd->loop, bufs, n);
	if (ret)
		vmm_virtio_log(vd, VMM_LOG_INFO, "guest RAM not registered "
			       "with io_uring (%u ranges): %s; plain reads and "
			       "writes", n, vmm_strerror(ret));
}

static void blk_mem_change(void *be)
{
	struct blk *b = be;

	/* unpin the old layout now (not on the loop thread, lock not held:
	 * the loop may be waiting for the lock) */
	pthread_mutex_lock(&b->vd->lock);
	b->bufs_stale = b->fixed_bufs;
	pthread_mutex_unlock(&b->vd->lock);
	if (b->fixed_bufs)
		vmm_evloop_buffers_set(b->vd->loop, NULL, 0);
}

/* Start @r (popped).  Lock held. */
static void req_start(struct blk *b, struct blk_req *r)
{
	struct vmm_virtio *vd = b->vd;
	struct vmm_vq_elem *e = &r->e;
	uint8_t hdr[16];
	uint64_t sector;
	struct iovec *in = &e->iov[e->n_out];
	unsigned n_in = e->n_in, n_out = e->n_out;
	int ret = 0;

	r->status = NULL;
	r->len = 0;
	if (e->out_len < 16 || e->in_len < 1) {
		vmm_virtio_driver_error(vd, "request %u without header or status",
					e->head);
		req_complete(b, r, BLK_S_IOERR, 0);
		return;
	}
	/* status: the last byte of the writable part */
	for (unsigned i = n_in; i--;) {
		if (in[i].iov_len) {
			r->status = (uint8_t *)in[i].iov_base + in[i].iov_len - 1;
			break;
		}
	}
	vmm_iov_to_buf(e->iov, n_out, 0, hdr, 16);
	memcpy(&r->type, hdr, 4);
	r->type = le32toh(r->type);
	memcpy(&sector, hdr + 8, 8);
	sector = le64toh(sector);
	r->op.fn = req_done;
	r->op.opaque = r;
	if (!b->io_fd_set) {
		/* first request, on the loop thread: io_uring's fixed-file
		 * table (no file lookup per request), else the plain fd */
		b->io_fd = vmm_evloop_file_register(vd->loop, b->fd);
		b->io_fd_set = true;
	}
	if (b->bufs_stale)
		blk_bufs_register(b);

	/* other requests go out after the reads and writes before them */
	if (b->pend && r->type != BLK_T_IN && r->type != BLK_T_OUT)
		blk_flush(b);
	switch (r->type) {
	case BLK_T_IN:
		iov_trim(in, &n_in, 0, 1);
		r->len = e->in_len - 1;
		if (!range_ok(b, sector, r->len))
			goto ioerr;
		if (!direct_ok(b, sector * SECTOR, in, n_in, r->len))
			goto misaligned;
		r->data = in;
		r->ndata = n_in;
		goto rw;
	case BLK_T_OUT:
		if (b->ro)
			goto ioerr;
		iov_trim(e->iov, &n_out, 16, 0);
		r->len = e->out_len - 16;
		if (!range_ok(b, sector, r->len))
			goto ioerr;
		if (!direct_ok(b, sector * SECTOR, e->iov, n_out, r->len))
			goto misaligned;
		r->data = e->iov;
		r->ndata = n_out;
		goto rw;
	case BLK_T_FLUSH:
		ret = vmm_evloop_fsync(vd->loop, b->io_fd, &r->op);
		break;
	case BLK_T_GET_ID: {
		size_t n = e->in_len - 1 < BLK_ID_LEN ? e->in_len - 1 : BLK_ID_LEN;
		vmm_iov_from_buf(in, n_in, 0, b->serial, n);
		vd->stats.bytes_in += n;
		req_complete(b, r, BLK_S_OK, (uint32_t)n);
		return;
	}
	case BLK_T_DISCARD:
	case BLK_T_WRITE_ZEROES: {
		uint8_t seg[16];
		uint32_t num, flags;
		uint64_t s;
		int mode = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE;

		if (b->ro || e->out_len != 32)
			goto ioerr; /* one segment per request (max_*_seg = 1) */
		vmm_iov_to_buf(e->iov, n_out, 16, seg, 16);
		memcpy(&s, seg, 8);
		memcpy(&num, seg + 8, 4);
		memcpy(&flags, seg + 12, 4);
		s = le64toh(s);
		num = le32toh(num);
		flags = le32toh(flags);
		/* 5.2.6.2: unknown flags, and unmap on a discard, are UNSUPP */
		if ((flags & ~BLK_WZ_F_UNMAP) ||
		    (r->type == BLK_T_DISCARD && (flags & BLK_WZ_F_UNMAP))) {
			req_complete(b, r, BLK_S_UNSUPP, 0);
			return;
		}
		if (!range_ok(b, s, (uint64_t)num * SECTOR))
			goto ioerr;
		if (num == 0) {
			req_complete(b, r, BLK_S_OK, 0);
			return;
		}
		/* write-zeroes without unmap keeps the blocks allocated;
		 * with unmap (and discard) the range becomes a hole, which
		 * reads as zeroes */
		if (r->type == BLK_T_WRITE_ZEROES && !(flags & BLK_WZ_F_UNMAP))
			mode = FALLOC_FL_KEEP_SIZE | FALLOC_FL_ZERO_RANGE;
		ret = vmm_evloop_fallocate(vd->loop, b->io_fd, mode,
					   (off_t)(s * SECTOR),
					   (off_t)num * (off_t)SECTOR, &r->op);
		break;
	}
	default:
		req_complete(b, r, BLK_S_UNSUPP, 0);
		return;
	}
submitted:
	if (ret) {
		vmm_virtio_log(vd, VMM_LOG_WARN, "cannot submit request: %s",
			       vmm_strerror(ret));
		goto ioerr;
	}
	r->in_flight = true;
	b->inflight++;
	return;
rw:
	r->sector = sector;
	r->pend_next = NULL;
	if (b->merge) {
		/* held back until the end of the pass (blk_flush) */
		*b->pend_tail = r;
		b->pend_tail = &r->pend_next;
		return;
	}
	ret = req_submit(b, r);
	goto submitted;
misaligned:
	vmm_virtio_log(vd, VMM_LOG_WARN,
		       "%s at sector %llu: buffers or range not aligned for "
		       "O_DIRECT (memory %u, offset %u bytes)",
		       r->type == BLK_T_IN ? "read" : "write",
		       (unsigned long long)sector, b->mem_align, b->off_align);
ioerr:
	req_complete(b, r, BLK_S_IOERR, 0);
}

static void blk_process_ring(struct blk *b, unsigned q);

/* One pass over queue @q, then what it held back goes out.  Lock held. */
static void blk_process(struct blk *b, unsigned q)
{
	blk_process_ring(b, q);
	if (b->pend)
		blk_flush(b);
}

static void blk_process_ring(struct blk *b, unsigned q)
{
	struct vmm_virtio *vd = b->vd;
	struct vmm_vq *vq = &vd->q[q].vq;

	b->starved &= ~(1u << q);
	for (;;) {
		vmm_vq_disable_notify(vq);
		for (;;) {
			struct blk_req *r = b->free;
			int ret;

			if (!r) {
				b->starved |= 1u << q;
				return;
			}
			ret = vmm_vq_pop(vq, &r->e);
			if (ret == 0)
				break;
			if (ret < 0) {
				vmm_virtio_queue_error(vd, q);
				return;
			}
			b->free = r->next_free;
			r->q = (uint16_t)q;
			req_start(b, r);
		}
		if (!vmm_vq_enable_notify(vq))
			break;
	}
}

static void blk_queue_notify(void *be, unsigned q)
{
	blk_process(be, q);
}

static void blk_reset(void *be)
{
	struct blk *b = be;

	b->resetting = true;
	while (b->inflight)
		pthread_cond_wait(&b->vd->cond, &b->vd->lock);
	b->resetting = false;
	b->starved = 0;
}

/* Snapshots: let every request in flight complete (and reach the used
 * ring) before the state and guest memory are saved.  vd->frozen keeps
 * new ones from starting.  Lock held. */
static void blk_drain(void *be)
{
	struct blk *b = be;

	while (b->inflight)
		pthread_cond_wait(&b->vd->cond, &b->vd->lock);
}

static void blk_destroy(void *be)
{
	struct blk *b = be;

	/* nothing in flight any more (the reset drained it) */
	if (b->io_fd_set && b->vd)
		vmm_evloop_file_unregister(b->vd->loop, b->io_fd);
	if (b->fixed_bufs && b->vd)
		vmm_evloop_buffers_set(b->vd->loop, NULL, 0);
	if (b->fd >= 0)
		close(b->fd);
	vmm__free(b->vm, b->reqs);
	vmm__free(b->vm, b->merges);
	vmm__free(b->vm, b);
}

static const struct vmm_virtio_dev_ops blk_ops_rw = {
	.name = "blk",
	.device_id = VIRTIO_ID_BLOCK,
	.num_queues = 1,
	.queue_dirs = { VMM_VQ_DIR_ANY },
	.features = (1ull << BLK_F_SEG_MAX) | (1ull << BLK_F_BLK_SIZE) |
		    (1ull << BLK_F_FLUSH) | (1ull << BLK_F_DISCARD) |
		    (1ull << BLK_F_WRITE_ZEROES),
	.config_size = CONFIG_SIZE,
	.config_read = blk_config_read,
	.queue_notify = blk_queue_notify,
	.reset = blk_reset,
	.drain = blk_drain,
	.mem_change = blk_mem_change,
};

static const struct vmm_virtio_dev_ops blk_ops_ro = {
	.name = "blk",
	.device_id = VIRTIO_ID_BLOCK,
	.num_queues = 1,
	.queue_dirs = { VMM_VQ_DIR_ANY },
	.features = (1ull << BLK_F_SEG_MAX) | (1ull << BLK_F_BLK_SIZE) |
		    (1ull << BLK_F_FLUSH) | (1ull << BLK_F_RO),
	.config_size = CONFIG_SIZE,
	.config_read = blk_config_read,
	.queue_notify = blk_queue_notify,
	.reset = blk_reset,
	.drain = blk_drain,
	.mem_change = blk_mem_change,
};

void vmm_virtio_blk_config_init(struct vmm_virtio_blk_config *cfg,
				enum vmm_virtio_transport transport)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->struct_size = sizeof(*cfg);
	vmm_virtio_config_init(&cfg->virtio, transport);
	cfg->fd = -1;
}

int vmm__virtio_blk_new(vmm_vm *vm, const struct vmm_virtio_blk_config *cfg,
			struct vmm__virtio_be *nb)
{
	struct stat sb;
	struct blk *b;
	unsigned qmax, nq;
	int ret;

	if (!cfg || !nb || (cfg->fd < 0 && !cfg->path))
		return vmm__err(vm, -EINVAL, "virtio-blk: no image");
	qmax = cfg->virtio.queue_size ? cfg->virtio.queue_size : 256;
	if (qmax > 1024)
		return vmm__err(vm, -EINVAL, "virtio-blk: queue size %u", qmax);
	nq = cfg->num_queues;
	if (!nq) {
		/* one per vCPU the VM may have, within what we can offer */
		nq = vm ? vmm__vm_config(vm)->ncpus : 1;
		if (nq > VMM_VIRTIO_BLK_MAX_QUEUES)
			nq = VMM_VIRTIO_BLK_MAX_QUEUES;
		if (!nq)
			nq = 1;
	}
	if (nq > VMM_VIRTIO_BLK_MAX_QUEUES)
		return vmm__err(vm, -EINVAL, "virtio-blk: %u queues (at most %u)",
				nq, VMM_VIRTIO_BLK_MAX_QUEUES);
	b = vmm__alloc(vm, sizeof(*b));
	if (!b)
		return vmm__err(vm, -ENOMEM, "virtio-blk: out of memory");
	b->vm = vm;
	b->ro = cfg->readonly;
	b->nq = nq;
	b->ops = b->ro ? blk_ops_ro : blk_ops_rw;
	b->ops.num_queues = nq;
	for (unsigned i = 0; i < nq; i++)
		b->ops.queue_dirs[i] = VMM_VQ_DIR_ANY;
	if (nq > 1)
		b->ops.features |= 1ull << BLK_F_MQ;
	if (cfg->fd >= 0)
		b->fd = fcntl(cfg->fd, F_DUPFD_CLOEXEC, 3);
	else
		b->fd = open(cfg->path,
			     (b->ro ? O_RDONLY : O_RDWR) | O_CLOEXEC |
				     (cfg->direct ? O_DIRECT : 0));
	if (b->fd < 0) {
		ret = vmm__err(vm, -errno, "virtio-blk: %s: %s",
			       cfg->path ? cfg->path : "fd", strerror(errno));
		vmm__free(vm, b);
		return ret;
	}
	if (fstat(b->fd, &sb) < 0 || sb.st_size < 0) {
		ret = vmm__err(vm, -errno, "virtio-blk: fstat: %s", strerror(errno));
		blk_destroy(b);
		return ret;
	}
	b->capacity = (uint64_t)sb.st_size / SECTOR;
	b->mem_align = b->off_align = SECTOR;
	b->direct = cfg->direct || (fcntl(b->fd, F_GETFL) & O_DIRECT);
	if (b->direct) {
		struct statx sx;

		if (statx(b->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
		    (sx.stx_mask & STATX_DIOALIGN)) {
			if (!sx.stx_dio_offset_align) {
				ret = vmm__err(vm, -EINVAL, "virtio-blk: the "
					       "image does not support O_DIRECT");
				blk_destroy(b);
				return ret;
			}
			b->mem_align = sx.stx_dio_mem_align;
			b->off_align = sx.stx_dio_offset_align;
		}
		/* sane powers of two only (4 KiB sectors at most) */
		if (b->mem_align < 1 || b->mem_align > 4096 ||
		    (b->mem_align & (b->mem_align - 1)))
			b->mem_align = SECTOR;
		if (b->off_align < SECTOR || b->off_align > 4096 ||
		    (b->off_align & (b->off_align - 1)))
			b->off_align = SECTOR;
	}
	snprintf(b->serial, sizeof(b->serial), "%s",
		 cfg->serial ? cfg->serial : "libvmm-blk");
	if (cfg->serial && strlen(cfg->serial) >= BLK_ID_LEN)
		memcpy(b->serial, cfg->serial, BLK_ID_LEN); /* 20 bytes, no NUL */
	put_le(b->config + 0, 8, b->capacity);
	put_le(b->config + 12, 4, SEG_MAX);
	/* blk_size: the guest then aligns its requests to what O_DIRECT
	 * needs (512 without it) */
	put_le(b->config + 20, 4, b->off_align);
	put_le(b->config + 34, 2, nq); /* num_queues (with F_MQ) */
	put_le(b->config + 36, 4, 0xffffffffu / SECTOR);
	put_le(b->config + 40, 4, 1);
	put_le(b->config + 44, 4, 1);
	put_le(b->config + 48, 4, 0xffffffffu / SECTOR);
	put_le(b->config + 52, 4, 1);
	b->nreq = qmax;
	b->reqs = vmm__alloc(vm, qmax * sizeof(*b->reqs));
	if (!b->reqs) {
		blk_destroy(b);
		return vmm__err(vm, -ENOMEM, "virtio-blk: out of memory");
	}
	for (unsigned i = 0; i < qmax; i++) {
		b->reqs[i].b = b;
		req_free(b, &b->reqs[i]);
	}
	b->pend_tail = &b->pend;
	/* registered buffers: only for a VM's own RAM (not the vhost-user
	 * back-end's memory table) */
	b->fixed_bufs = vm && (cfg->virtio.flags & VMM_VIRTIO_BLK_FIXED_BUFS);
	b->bufs_stale = b->fixed_bufs;
	if (!(cfg->virtio.flags & VMM_VIRTIO_BLK_NO_MERGE)) {
		b->merges = vmm__alloc(vm, MERGE_SLOTS * sizeof(*b->merges));
		if (!b->merges) {
			blk_destroy(b);
			return vmm__err(vm, -ENOMEM, "virtio-blk: out of memory");
		}
		for (unsigned i = 0; i < MERGE_SLOTS; i++)
			b->merges[i].b = b;
		b->merge = true;
	}
	nb->ops = &b->ops;
	nb->be = b;
	nb->destroy = blk_destroy;
	nb->vd_slot = &b->vd;
	nb->queue_max = (uint16_t)qmax;
	return 0;
}

int vmm_virtio_blk_attach(vmm_vm *vm, const struct vmm_virtio_blk_config *ucfg,
			  vmm_dev **out)
{
	const struct vmm_virtio_blk_config *cfg = ucfg;
	struct vmm_virtio_blk_config c;
	struct vmm__virtio_be nb = { 0 };
	int ret;

	if (!vm)
		return -EINVAL;
	if (!cfg || !out)
		return vmm__err(vm, -EINVAL, "virtio-blk: no image");
	vmm_virtio_blk_config_init(&c, VMM_VIRTIO_MMIO);
	if (VMM__STRUCT_IN_V(&c, ucfg, VMM__VIRTIO_BLK_CONFIG_V02))
		return vmm__err(vm, -EINVAL,
				"virtio-blk: bad struct_size %u or unknown "
				"non-zero fields in struct vmm_virtio_blk_config",
				ucfg->struct_size);
	cfg = &c;
	ret = vmm__virtio_blk_new(vm, cfg, &nb);
	if (ret)
		return ret;
	return vmm__virtio_attach(vm, &cfg->virtio, nb.ops, nb.be, nb.destroy,
				  out, nb.vd_slot);
}
