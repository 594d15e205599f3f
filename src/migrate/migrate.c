/* SPDX-License-Identifier: MIT */
/*
 * migrate.c - live pre-copy migration over a connected stream fd, in the
 * framed protocol of docs/migration.md: hello/ready, the whole memory while
 * the VM runs, rounds of dirty pages (the dirty log merged with the VMM's
 * own bitmap) until the rest fits the downtime target or the round limit
 * is hit, then pause, the last pages and all state (the snapshot sections'
 * payloads), and done -> ack -> commit.  The source keeps its VM (resumed,
 * untouched) on any failure before the commit; the destination discards
 * everything on a failure before its ACK, keeps the paused VM when no
 * valid commit follows its ACK (VMM_MIGRATE_COMMIT_UNVERIFIED: the
 * source may have committed), and hands the VM over after the commit.
 */
#include "migrate/snap.h"
#include "migrate/crc32c.h"
#include "migrate/auth.h"
#include "migrate/pagecodec.h"
#include "mem/listener.h"
#include "migrate/postcopy.h" /* tier 2: convergence, post-copy */

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIG_MAGIC 0x464d564cu /* "LVMF" */
#define MIG_PROTO 1
#define MIG_HDR 24
#define MIG_BATCH 64           /* pages per PAGES frame */
#define MIG_MAX_FRAME (MIG_BATCH * (SNAP_PAGE + 8) + 4096)
#define MIG_OPTS_V01 24        /* sizeof(struct vmm_migrate_opts) in 0.1 */

enum mig_frame {
	F_HELLO = 1,
	F_READY = 2,
	F_ERROR = 3,
	F_PAGES = 4,
	F_VCPU = 5,
	F_IRQCHIP = 6,
	F_DEVICE = 7,
	F_DONE = 8,
	F_ACK = 9,
	F_COMMIT = 10,
	F_VCPUX = 11, /* only when a vCPU's extended state is not reset */
	/* 0x20..0x3f: authentication and compression (issue 16 item 4, 5) */
	F_AUTH1 = 0x20,        /* src -> dst: version, algorithm, nonce */
	F_AUTH2 = 0x21,        /* dst -> src: nonce, proof */
	F_AUTH3 = 0x22,        /* src -> dst: proof */
	F_PAGES_ZSTD = 0x23,   /* src -> dst: PAGES with zstd page data */
};

#define MIG_FF_MAC 1           /* header flags: a 32-byte MAC follows */
#define MIG_FEAT_ZSTD 1u       /* READY payload: can decode PAGES_ZSTD */

#define PAGE_ZERO 1ull /* low bit of a PAGES entry: page is all zeros */

struct chan {
	int fd;
	int timeout_ms;
	uint32_t seq_out, seq_in;
	uint64_t bytes_out;
	uint64_t bytes_in;     /* everything read (receiver's stats) */
	uint8_t *buf;          /* receive buffer, MIG_MAX_FRAME bytes */
	char err[200];
	struct mig_auth *auth; /* MACs on every frame once auth->on */
	/* corked (chan_cork()): frames gather here and go out in one write
	 * (the switch-over's state frames: one wakeup of the peer, not one
	 * per frame) */
	uint8_t *cork;
	size_t cork_len;
};

#define MIG_CORK_CAP (2 * MIG_MAX_FRAME)

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Time the calling thread waited for a core (runnable, not running:
 * /proc/thread-self/schedstat's second field), for the switch-over's
 * breakdown; -1 where the kernel does not say. */
static double run_delay_ms(void)
{
	return vmm__schedstat_wait_ms("/proc/thread-self/schedstat");
}

/* CPU time of the calling thread (the switch-over's breakdown) */
static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/*
 * Set TCP_NODELAY on @fd to @on if it is a TCP socket; returns the previous
 * setting (to restore), or -1 for anything else (unix socket, pipe).  With
 * Nagle's algorithm the small frames of the stop-and-copy (and a payload
 * written after its header) wait for the peer's delayed ACK: ~40 ms more
 * downtime over TCP.
 */
static int tcp_nodelay(int fd, int on)
{
	int prev;
	socklen_t len = sizeof(prev);

	if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &prev, &len))
		return -1;
	prev = !!prev;
	if (prev != on)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	return prev;
}

static int chan_wait(struct chan *c, short ev)
{
	struct pollfd pfd = { c->fd, ev, 0 };
	int r;

	do {
		r = poll(&pfd, 1, c->timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	if (pfd.revents & POLLNVAL)
		return -EBADF;
	return 0;
}

/* Write all of @v[0..n) (one sendmsg()/writev() when the socket takes
 * it: a frame is one syscall, not one per piece). */
static int chan_writev(struct chan *c, struct iovec *v, int n)
{
	while (n > 0) {
		struct msghdr m = { .msg_iov = v, .msg_iovlen = (size_t)n };
		ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		int ret;

		if (w < 0 && errno == ENOTSOCK)
			w = writev(c->fd, v, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			if ((ret = chan_wait(c, POLLOUT)))
				return ret;
			continue;
		}
		c->bytes_out += (uint64_t)w;
		while (n > 0 && (size_t)w >= v->iov_len) {
			w -= (ssize_t)v->iov_len;
			v++;
			n--;
		}
		if (n > 0) {
			v->iov_base = (uint8_t *)v->iov_base + w;
			v->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* Write all of @buf: chan_writev() of one piece. */
static int chan_write(struct chan *c, const void *buf, size_t len)
{
	struct iovec v = { (void *)buf, len };

	return len ? chan_writev(c, &v, 1) : 0;
}

/* Write the corked frames (if any). */
static int chan_flush(struct chan *c)
{
	int ret;

	if (!c->cork || !c->cork_len)
		return 0;
	ret = chan_write(c, c->cork, c->cork_len);
	c->cork_len = 0;
	return ret;
}

/* Gather the next frames into one write until chan_uncork(); without
 * memory for it they go out one by one as usual. */
static void chan_cork(struct chan *c)
{
	/* its own mapping, not cleared: only what is gathered is touched */
	if (!c->cork)
		c->cork = vmm__alloc_big(NULL, MIG_CORK_CAP);
	c->cork_len = 0;
}

static int chan_uncork(struct chan *c)
{
	int ret = chan_flush(c);

	vmm__free_big(NULL, c->cork);
	c->cork = NULL;
	return ret;
}

static int chan_read(struct chan *c, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(c->fd, p, len);
		int ret;

		if (n == 0)
			return -EPIPE; /* peer closed */
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			if ((ret = chan_wait(c, POLLIN)))
				return ret;
			continue;
		}
		p += n;
		len -= (size_t)n;
		c->bytes_in += (uint64_t)n;
	}
	return 0;
}

/* Send one frame whose payload is the concatenation of @n pieces. */
static int send_frame(struct chan *c, uint16_t type, const struct iovec *v,
		      int n)
{
	uint8_t h[MIG_HDR];
	uint32_t crc = 0;
	size_t len = 0;
	int ret;

	for (int i = 0; i < n; i++) {
		crc = vmm__crc32c(crc, v[i].iov_base, v[i].iov_len);
		len += v[i].iov_len;
	}
	if (len > MIG_MAX_FRAME)
		return -EMSGSIZE;
	vmm__le_put32(h, MIG_MAGIC);
	h[4] = (uint8_t)type;
	h[5] = (uint8_t)(type >> 8);
	h[6] = c->auth && c->auth->on ? MIG_FF_MAC : 0;
	h[7] = 0;
	vmm__le_put32(h + 8, c->seq_out++);
	vmm__le_put32(h + 12, (uint32_t)len);
	vmm__le_put32(h + 16, crc);
	vmm__le_put32(h + 20, vmm__crc32c(0, h, 20));
	{
		uint8_t mac[MIG_MAC_LEN];
		struct iovec all[2 + 4];
		size_t total = sizeof(h) + len;
		int k = 0;

		if (n > 4)
			return -EINVAL;
		all[k++] = (struct iovec){ h, sizeof(h) };
		for (int i = 0; i < n; i++)
			all[k++] = v[i];
		if (h[6] & MIG_FF_MAC) {
			if ((ret = vmm__mig_auth_mac(&c->auth->tx, h, v, n, mac)))
				return ret;
			all[k++] = (struct iovec){ mac, sizeof(mac) };
			total += sizeof(mac);
		}
		if (c->cork) {
			if (c->cork_len + total > MIG_CORK_CAP &&
			    (ret = chan_flush(c)))
				return ret;
			if (total <= MIG_CORK_CAP) {
				for (int i = 0; i < k; i++) {
					memcpy(c->cork + c->cork_len,
					       all[i].iov_base, all[i].iov_len);
					c->cork_len += all[i].iov_len;
				}
				return 0;
			}
		}
		return chan_writev(c, all, k);
	}
}

static int send_simple(struct chan *c, uint16_t type, const void *p,
		       size_t len)
{
	struct iovec v = { (void *)p, len };

	return send_frame(c, type, &v, 1);
}

static int send_error(struct chan *c, int err, const char *msg)
{
	uint8_t buf[4 + 160];
	size_t n = strlen(msg);

	if (n > 160)
		n = 160;
	vmm__le_put32(buf, (uint32_t)-err);
	memcpy(buf + 4, msg, n);
	return send_simple(c, F_ERROR, buf, 4 + n);
}

/*
 * Receive one frame into c->buf.  A peer's ERROR frame becomes its errno
 * (as -ECONNABORTED when out of range) with the message in c->err.
 */
static int recv_frame(struct chan *c, uint16_t *type, uint32_t *len)
{
	uint8_t h[MIG_HDR];
	int ret;

	if ((ret = chan_read(c, h, sizeof(h))))
		return ret;
	if (vmm__le_get32(h) != MIG_MAGIC ||
	    vmm__crc32c(0, h, 20) != vmm__le_get32(h + 20)) {
		snprintf(c->err, sizeof(c->err), "bad frame header");
		return -EBADMSG;
	}
	*type = (uint16_t)(h[4] | h[5] << 8);
	*len = vmm__le_get32(h + 12);
	if (*len > MIG_MAX_FRAME) {
		snprintf(c->err, sizeof(c->err), "frame of %u bytes (max %u)",
			 *len, (unsigned)MIG_MAX_FRAME);
		return -EFBIG;
	}
	/* authenticated: the MAC (over the header with its sequence number,
	 * and the payload) is checked before anything else is believed */
	if ((h[6] & ~MIG_FF_MAC) || h[7] ||
	    (!(c->auth && c->auth->on) && (h[6] & MIG_FF_MAC))) {
		snprintf(c->err, sizeof(c->err), "frame flags 0x%x", h[6]);
		return -EBADMSG;
	}
	/* under authentication only a peer's ERROR may come without a MAC
	 * (it fails the migration either way: a cut connection would too) */
	if (c->auth && c->auth->on && !(h[6] & MIG_FF_MAC) &&
	    *type != F_ERROR) {
		snprintf(c->err, sizeof(c->err),
			 "unauthenticated frame (type %u) refused", *type);
		return -EACCES;
	}
	if ((ret = chan_read(c, c->buf, *len)))
		return ret;
	if (c->auth && c->auth->on && (h[6] & MIG_FF_MAC)) {
		uint8_t mac[MIG_MAC_LEN];

		uint8_t want[MIG_MAC_LEN];
		struct iovec v = { c->buf, *len };

		if ((ret = chan_read(c, mac, sizeof(mac))) ||
		    (ret = vmm__mig_auth_mac(&c->auth->rx, h, &v, 1, want)))
			return ret;
		if (!vmm__mac_equal(mac, want, MIG_MAC_LEN)) {
			snprintf(c->err, sizeof(c->err),
				 "frame %u (type %u): MAC mismatch (forged, replayed or reordered)",
				 vmm__le_get32(h + 8), *type);
			return -EACCES;
		}
	}
	if (vmm__le_get32(h + 8) != c->seq_in++) {
		snprintf(c->err, sizeof(c->err), "frame out of sequence");
		return -EPROTO;
	}
	if (vmm__crc32c(0, c->buf, *len) != vmm__le_get32(h + 16)) {
		snprintf(c->err, sizeof(c->err), "frame checksum mismatch");
		return -EBADMSG;
	}
	if (*type == F_ERROR) {
		int e = *len >= 4 ? (int)vmm__le_get32(c->buf) : 0;
		int n = *len > 4 ? (int)(*len - 4) : 0;

		if (n > 150)
			n = 150;
		for (int i = 0; i < n; i++)
			if (c->buf[4 + i] < 0x20 || c->buf[4 + i] > 0x7e)
				c->buf[4 + i] = '?';
		snprintf(c->err, sizeof(c->err), "peer: %.*s", n,
			 (const char *)c->buf + 4);
		/* VMM_MIGRATE_COMMIT_UNVERIFIED is the receiver's own
		 * verdict, never a peer's */
		return e > 0 && e < 4096 && -e != VMM_MIGRATE_COMMIT_UNVERIFIED ?
		       -e : -ECONNABORTED;
	}
	return 0;
}

static int expect(struct chan *c, uint16_t want, uint32_t *len)
{
	uint16_t type;
	int ret = recv_frame(c, &type, len);

	if (ret)
		return ret;
	if (type != want) {
		snprintf(c->err, sizeof(c->err), "frame type %u, expected %u",
			 type, want);
		return -EPROTO;
	}
	return 0;
}

/* ---- source ---- */

struct sender {
	vmm_vm *vm;
	struct chan c;
	struct snap_config cfg;
	uint64_t *bm[SNAP_MAX_REGIONS];
	struct vmm_migrate_stats st;
	uint64_t max_bw;
	double round_t0;
	uint64_t round_bytes0;
	/* the pending PAGES batch; pages are copied first, as the guest may
	 * change them while the frame's checksum is computed and sent */
	uint8_t idx[MIG_BATCH * 8 + 8];
	uint8_t stage[MIG_BATCH * SNAP_PAGE];
	struct iovec v[2];
	int n, nstored;
	/* guest memory may not change while it is sent (below) */
	struct vmm_mem_listener ml;
	bool ml_on;
	struct mig_t2 t2;      /* tier 2 (postcopy.h) */
	double sw[SW_N];       /* switch-over phases' ends (now_ms()) */
	double cpu_pause;      /* this thread's CPU time at the pause */
	double wait_pause;     /* its run_delay_ms() then (-1: unknown) */
	double vcpu_wait[2];   /* vCPU threads' wait for a core: at the
				* pause request, once all are parked */
	/* zstd (when asked for and the destination decodes it) */
	bool zstd;
	struct pagecodec pz;
	uint8_t *zbuf;
	size_t zcap;
};

/*
 * Memory listener of a live migration: the sender works from the list of
 * regions taken at its start and reads their pages through host pointers
 * in every round, and the receiver builds its VM from that list.  A region
 * removed meanwhile would be read after it is unmapped, one added would
 * never arrive: both are refused with -EBUSY until the migration ends
 * (committed or failed).  The embedder retries afterwards.
 */
static int mig_mem_busy(void *opaque, vmm_gpa_t gpa, uint64_t size)
{
	struct sender *s = opaque;

	return vmm__err(s->vm, -EBUSY, "memory at 0x%llx cannot change while "
			"a live migration sends the VM", (unsigned long long)gpa);
}
/* tier 2 (postcopy.c, included below) */
static void t2_init(struct sender *s, const struct vmm_migrate_opts *o);
static void t2_throttle_tick(struct sender *s);
static void t2_throttle_end(struct sender *s);
static void t2_sleep(struct sender *s, double ms);
static int t2_hello_reply(struct sender *s, uint32_t *len);
static int t2_round(struct sender *s, int64_t n, double bw, double max_down,
		    unsigned max_rounds);
static int pc_source_switch(struct sender *s, struct snap_state *ss,
			    double tpause, bool *committed);
static bool t2_pc_requested(struct sender *s);
static void t2_pass0_rest(struct sender *s, uint32_t ri, uint64_t pi);
static void t2_stopping(struct sender *s);
static void t2_replied(struct sender *s);
static void t2_detach(struct sender *s);
static int pc_send_maps(struct chan *c, const struct snap_config *cfg,
			uint64_t *const *maps);
static void t2_log_switch(struct sender *s, double tpause, uint64_t pages,
			  bool postcopy);

static void throttle(struct sender *s)
{
	double el, want;

	if (!s->max_bw || s->t2.in_postcopy)
		return;
	el = now_ms() - s->round_t0;
	want = (double)(s->c.bytes_out - s->round_bytes0) * 1e3 /
	       (double)s->max_bw;
	if (want > el)
		t2_sleep(s, want - el);
}

/* ---- compressed batches (issue 16 item 4) ---- */

/*
 * Send the batch in s->v as PAGES, or as PAGES_ZSTD (the entry word
 * after the count holds the uncompressed length) when zstd is on and
 * makes it smaller.
 */
static int mig_send_pages(struct sender *s)
{
	size_t raw = s->v[1].iov_len;
	int64_t z;

	/* pages a post-copy destination waits for go raw: compressing
	 * them would only add to the fault's latency */
	if (!s->zstd || !raw || s->t2.urgent)
		return send_frame(&s->c, F_PAGES, s->v, 2);
	z = vmm__pz_compress(&s->pz, PZ_LEVEL_MIGRATE, s->stage, raw,
			     s->zbuf, s->zcap);
	if (z < 0 || (size_t)z >= raw)
		return send_frame(&s->c, F_PAGES, s->v, 2);
	vmm__le_put32(s->idx + 4, (uint32_t)raw);
	s->v[1].iov_base = s->zbuf;
	s->v[1].iov_len = (size_t)z;
	return send_frame(&s->c, F_PAGES_ZSTD, s->v, 2);
}

/* READY's payload (empty from older receivers): the features the
 * destination decodes.  Call with the READY frame in s->c.buf. */
static void mig_ready_features(struct sender *s, uint32_t len)
{
	if (s->zstd)
		s->zstd = len >= 4 &&
			  (vmm__le_get32(s->c.buf) & MIG_FEAT_ZSTD);
}

/* ---- authentication (issue 16 item 5) ---- */

/* Source: prove and check the pre-shared key before HELLO. */
static int mig_auth_source(struct chan *c)
{
	uint8_t a1[MIG_AUTH1_LEN], a3[MIG_AUTH3_LEN];
	uint32_t len;
	int ret;

	if (!c->auth)
		return 0;
	if ((ret = vmm__mig_auth1(c->auth, a1)) ||
	    (ret = send_simple(c, F_AUTH1, a1, sizeof(a1))) ||
	    (ret = expect(c, F_AUTH2, &len)))
		return ret;
	ret = vmm__mig_auth3(c->auth, c->buf, len, a3, c->err,
			     sizeof(c->err));
	if (ret) {
		send_error(c, ret, ret == -EACCES ?
			   "authentication failed: the keys differ" :
			   "authentication failed");
		return ret;
	}
	if ((ret = send_simple(c, F_AUTH3, a3, sizeof(a3))))
		return ret;
	c->auth->on = true; /* every later frame in both directions */
	return 0;
}

/*
 * Destination: the first frame.  With a key it must be AUTH1 and the
 * handshake must succeed; without one AUTH1 is refused by name.
 */
static int mig_auth_dest(struct chan *c)
{
	uint8_t a2[MIG_AUTH2_LEN];
	uint16_t type;
	uint32_t len;
	int ret;

	if (!c->auth)
		return 0;
	if ((ret = recv_frame(c, &type, &len)))
		return ret;
	if (type != F_AUTH1) {
		snprintf(c->err, sizeof(c->err),
			 "the source did not authenticate (frame type %u): it has no key, this receiver has one",
			 type);
		return -EACCES;
	}
	if ((ret = vmm__mig_auth2(c->auth, c->buf, len, a2, c->err,
				  sizeof(c->err))) ||
	    (ret = send_simple(c, F_AUTH2, a2, sizeof(a2))) ||
	    (ret = expect(c, F_AUTH3, &len)))
		return ret;
	if ((ret = vmm__mig_auth_finish(c->auth, c->buf, len, c->err,
					sizeof(c->err))))
		return ret;
	c->auth->on = true;
	return 0;
}

/* ---- end of issue 16 items 4, 5 helpers ---- */

static int flush_pages(struct sender *s)
{
	int ret;

	if (!s->n)
		return 0;
	vmm__le_put32(s->idx, (uint32_t)s->n);
	vmm__le_put32(s->idx + 4, 0);
	s->v[0].iov_base = s->idx;
	s->v[0].iov_len = 8 + (size_t)s->n * 8;
	s->v[1].iov_base = s->stage;
	s->v[1].iov_len = (size_t)s->nstored * SNAP_PAGE;
	ret = mig_send_pages(s);
	s->n = 0;
	s->nstored = 0;
	throttle(s);
	t2_throttle_tick(s);
	return ret;
}

static int send_page(struct sender *s, vmm_gpa_t gpa, const uint8_t *host,
		     bool skip_zero)
{
	uint8_t *copy = s->stage + (size_t)s->nstored * SNAP_PAGE;
	bool zero;

	memcpy(copy, host, SNAP_PAGE);
	zero = vmm__page_is_zero(copy);
	if (zero && skip_zero)
		return 0;
	vmm__le_put64(s->idx + 8 + s->n * 8, gpa | (zero ? PAGE_ZERO : 0));
	if (zero) {
		s->st.zero_pages++;
	} else {
		s->nstored++;
		s->st.pages_sent++;
	}
	if (++s->n == MIG_BATCH)
		return flush_pages(s);
	return 0;
}

static const uint8_t *region_host(vmm_vm *vm, const struct snap_region *g)
{
	struct iovec iov;

	if (vmm_mem_iovec(vm, g->gpa, g->size, false, &iov, 1) != 1)
		return NULL;
	return iov.iov_base;
}

/* Send the pages set in the bitmaps; returns the count or -errno. */
static int64_t send_dirty(struct sender *s)
{
	int64_t count = 0;
	int ret = 0;

	for (uint32_t i = 0; i < s->cfg.nregions && !ret; i++) {
		const struct snap_region *g = &s->cfg.regions[i];
		const uint8_t *host = region_host(s->vm, g);
		uint64_t pages = g->size / SNAP_PAGE;

		if (!host)
			return -EFAULT;
		for (uint64_t p = 0; p < pages && !ret; p++) {
			if (!s->bm[i][p / 64]) {
				p |= 63; /* a clean word: the next one (a 1 GiB
					  * guest's scan costs 4096 tests, not
					  * 262144: it runs while paused) */
				continue;
			}
			if (!(s->bm[i][p / 64] & (1ull << (p % 64))))
				continue;
			/* post-copy asked for: the pages left stay in s->bm
			 * (the switch-over's missing set) */
			if (t2_pc_requested(s))
				goto out;
			s->bm[i][p / 64] &= ~(1ull << (p % 64));
			ret = send_page(s, g->gpa + p * SNAP_PAGE,
					host + p * SNAP_PAGE, false);
			count++;
		}
	}
out:
	if (!ret)
		ret = flush_pages(s);
	return ret ? ret : count;
}

/* Fetch (and clear) the dirty bitmaps, OR-ing into s->bm; returns count. */
static int64_t fetch_dirty(struct sender *s, uint64_t *tmp, bool accumulate)
{
	int64_t total = 0;

	for (uint32_t i = 0; i < s->cfg.nregions; i++) {
		const struct snap_region *g = &s->cfg.regions[i];
		size_t words = (g->size / SNAP_PAGE + 63) / 64;
		int n = vmm_mem_dirty_fetch(s->vm, g->gpa, tmp, words);

		if (n < 0)
			return n;
		if (!accumulate)
			memset(s->bm[i], 0, words * 8);
		for (size_t w = 0; w < words; w++) {
			s->bm[i][w] |= tmp[w];
			total += __builtin_popcountll(s->bm[i][w]);
		}
	}
	return total;
}

/*
 * Collect the paused VM's state.  Devices quiesce in their save(): their
 * in-flight requests complete into guest memory (marking it dirty), so
 * this comes before the last dirty round.
 */
static int collect_state(struct sender *s, struct snap_state **out)
{
	struct snap_state *ss = vmm__alloc(s->vm, sizeof(*ss));
	int ret;

	if (!ss)
		return -ENOMEM;
	ret = vmm__snap_collect(s->vm, ss);
	if (ret) {
		vmm__free(s->vm, ss);
		return ret;
	}
	*out = ss;
	return 0;
}

static int send_state(struct sender *s, struct snap_state *ss)
{
	struct vmm_sbuf b;
	int ret = 0;

	vmm__sb_init(&b, s->vm);
	for (unsigned i = 0; i < ss->nvcpus && !ret; i++) {
		b.len = 0;
		vmm__snap_put_cpu(&b, ss->vcpu_index[i], &ss->cpu[i]);
		ret = vmm__sb_error(&b);
		if (!ret)
			ret = send_simple(&s->c, F_VCPU, b.p, b.len);
		if (!ret && vmm__snap_xstate_used(&ss->xs[i])) {
			b.len = 0;
			vmm__snap_put_xstate(&b, ss->vcpu_index[i], &ss->xs[i]);
			ret = vmm__sb_error(&b);
			if (!ret)
				ret = send_simple(&s->c, F_VCPUX, b.p, b.len);
		}
	}
	if (!ret && ss->has_irqchip) {
		b.len = 0;
		vmm__snap_put_irqchip(&b, &ss->irq);
		ret = vmm__sb_error(&b);
		if (!ret)
			ret = send_simple(&s->c, F_IRQCHIP, b.p, b.len);
	}
	for (int i = 0; i < ss->ndevs && !ret; i++) {
		b.len = 0;
		vmm__snap_put_device(&b, ss->devs[i], &ss->dev_state[i]);
		ret = vmm__sb_error(&b);
		if (!ret && b.len > MIG_MAX_FRAME)
			ret = -EFBIG;
		if (!ret)
			ret = send_simple(&s->c, F_DEVICE, b.p, b.len);
	}
	vmm__sb_free(&b);
	return ret;
}

static int send_hello(struct sender *s)
{
	struct vmm_sbuf b;
	uint32_t len = 0;
	int ret;

	vmm__sb_init(&b, s->vm);
	vmm__sb_u32(&b, MIG_PROTO);
	vmm__sb_u32(&b, vmm_version());
	vmm__sb_u32(&b, SNAP_ARCH_X86_64);
	vmm__sb_u32(&b, 0);
	vmm__snap_put_config(&b, &s->cfg);
	ret = vmm__sb_error(&b);
	if (!ret)
		ret = send_simple(&s->c, F_HELLO, b.p, b.len);
	vmm__sb_free(&b);
	if (!ret)
		ret = t2_hello_reply(s, &len); /* [CAPS,] READY */
	if (!ret) {
		mig_ready_features(s, len);
		/* vmm_migrate_start_postcopy() calls waiting for it go on */
		t2_replied(s);
	}
	return ret;
}

/* The source's key and compression options (issue 16 items 4, 5). */
static int mig_ext_setup(struct sender *s, const struct vmm_migrate_opts *o,
			 struct mig_auth *auth)
{
	int ret;

	if (o && (o->flags & VMM_MIGRATE_ZSTD)) {
		if (!vmm__pz_available())
			return vmm__snap_errf(s->c.err, sizeof(s->c.err),
					      -ENOTSUP,
					      "VMM_MIGRATE_ZSTD: libvmm was built without zstd");
		s->zcap = vmm__pz_bound(MIG_BATCH * SNAP_PAGE);
		if (!(s->zbuf = vmm__alloc(s->vm, s->zcap)))
			return -ENOMEM;
		s->zstd = true;
	}
	if (o && o->key) {
		ret = vmm__mig_auth_init(auth, true, o->key, o->key_len,
					 s->c.err, sizeof(s->c.err));
		if (ret) {
			vmm__mig_auth_free(auth);
			return ret;
		}
		s->c.auth = auth;
	}
	return 0;
}

static int migrate_send_impl(vmm_vm *vm, int fd, const struct vmm_migrate_opts *o,
		     struct vmm_migrate_stats *stats)
{
	struct sender *s;
	struct mig_auth auth;
	struct snap_state *ss = NULL;
	uint64_t *tmp = NULL;
	unsigned max_rounds = o && o->max_rounds ? o->max_rounds : 30;
	double max_down = o && o->max_downtime_ms ? o->max_downtime_ms : 300;
	double t0 = now_ms(), tpause = 0, bw;
	bool was_logging, paused = false, committed = false;
	int fl, ret, nodelay, dec;
	int64_t n;
	size_t maxw = 0;

	if (!vm)
		return -EINVAL;
	if (fd < 0 || (fl = fcntl(fd, F_GETFL)) < 0)
		return vmm__err(vm, -EBADF, "migrate: bad fd %d", fd);
	if ((ret = vmm__vm_poison_check(vm, "migrate")))
		return ret;
	/* up front, before any page is sent: every device must be able to
	 * move (a passthrough device cannot) */
	if ((ret = vmm__dev_require_state(vm, "migrate")))
		return ret;
	s = vmm__alloc(vm, sizeof(*s));
	if (!s)
		return vmm__err(vm, -ENOMEM, "migrate: out of memory");
	s->vm = vm;
	s->c.fd = fd;
	s->c.timeout_ms = o && o->timeout_ms ? (int)o->timeout_ms : 10000;
	s->max_bw = o ? o->max_bandwidth : 0;
	t2_init(s, o);
	s->c.buf = vmm__alloc_big(vm, MIG_MAX_FRAME); /* not cleared */
	was_logging = vmm__mem_dirty_logging(vm);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	nodelay = tcp_nodelay(fd, 1);
	if (!s->c.buf) {
		ret = -ENOMEM;
		goto fail;
	}
	/* before the region list is taken: no change after it */
	s->ml = (struct vmm_mem_listener){ .before_add = mig_mem_busy,
					   .before_remove = mig_mem_busy,
					   .opaque = s };
	vmm__mem_listener_add(vm, &s->ml);
	s->ml_on = true;
	ret = vmm__snap_config(vm, &s->cfg);
	for (uint32_t i = 0; i < s->cfg.nregions && !ret; i++) {
		size_t w = (s->cfg.regions[i].size / SNAP_PAGE + 63) / 64;
		s->bm[i] = vmm__alloc(vm, w * 8);
		if (!s->bm[i])
			ret = -ENOMEM;
		if (w > maxw)
			maxw = w;
	}
	if (!ret && !(tmp = vmm__alloc(vm, maxw * 8 + 8)))
		ret = -ENOMEM;
	if (!ret && (ret = mig_ext_setup(s, o, &auth)))
		goto fail;
	/* vmm_migrate_start_postcopy() finds it from here on */
	vmm__vm_set_sender(vm, s);
	if (ret || (ret = mig_auth_source(&s->c)) || (ret = send_hello(s)))
		goto fail;

	/* pass 0: all memory; the log catches what changes meanwhile */
	if ((ret = vmm_mem_dirty_log(vm, true)))
		goto fail;
	/* (vmm_mem_dirty_log() waits until running vCPUs have seen it) */
	s->round_t0 = now_ms();
	s->round_bytes0 = s->c.bytes_out;
	for (uint32_t i = 0; i < s->cfg.nregions && !ret; i++) {
		const struct snap_region *g = &s->cfg.regions[i];
		const uint8_t *host = region_host(vm, g);

		if (!host) {
			ret = -EFAULT;
			break;
		}
		for (uint64_t p = 0; p < g->size / SNAP_PAGE && !ret; p++) {
			if (t2_pc_requested(s)) {
				/* the rest of pass 0 joins the missing set */
				t2_pass0_rest(s, i, p);
				if ((ret = flush_pages(s)))
					goto fail;
				goto stop;
			}
			ret = send_page(s, g->gpa + p * SNAP_PAGE,
					host + p * SNAP_PAGE, true);
		}
	}
	if (ret || (ret = flush_pages(s)))
		goto fail;

	/* dirty rounds until the rest fits the downtime target */
	for (;;) {
		double el = now_ms() - s->round_t0;

		bw = (double)(s->c.bytes_out - s->round_bytes0) /
		     (el > 0.01 ? el : 0.01); /* bytes per ms */
		n = fetch_dirty(s, tmp, false);
		if (n < 0) {
			ret = (int)n;
			goto fail;
		}
		/* converged, post-copy, round limit or on (logged) */
		dec = t2_round(s, n, bw, max_down, max_rounds);
		if (dec == R_CONVERGED)
			s->st.converged = true;
		if (dec != R_CONTINUE)
			break;
		s->round_t0 = now_ms();
		s->round_bytes0 = s->c.bytes_out;
		n = send_dirty(s);
		if (n < 0) {
			ret = (int)n;
			goto fail;
		}
		s->st.rounds++;
		if (t2_pc_requested(s))
			break; /* mid-round: the rest is in s->bm */
	}

stop:
	/* stop and copy (or switch over) */
	t2_stopping(s);
	t2_throttle_end(s);
	/* post-copy: the pages known missing already (the round's dirty
	 * pages, the rest of a first pass) are mapped now, while the VM
	 * still runs: the destination drops their stale copies before the
	 * downtime; the map after the pause adds what changed meanwhile */
	if (s->t2.postcopy && (ret = pc_send_maps(&s->c, &s->cfg, s->bm)))
		goto fail;
	tpause = now_ms();
	s->cpu_pause = cpu_ms();
	s->wait_pause = -1;
	s->vcpu_wait[0] = s->vcpu_wait[1] = -1;
	if (vmm__log_enabled(vm, VMM_LOG_INFO)) {
		s->wait_pause = run_delay_ms();
		s->vcpu_wait[0] = vmm__vm_vcpu_wait_ms(vm);
	}
	/* the bandwidth cap's debt of the last round is forgotten: what it
	 * paced is at the destination already; the pages sent while paused
	 * are paced from here */
	s->round_t0 = tpause;
	s->round_bytes0 = s->c.bytes_out;
	if ((ret = vmm_vm_pause(vm)))
		goto fail;
	paused = true;
	s->sw[SW_PAUSE] = now_ms();
	if (s->vcpu_wait[0] >= 0)
		s->vcpu_wait[1] = vmm__vm_vcpu_wait_ms(vm);
	if ((ret = collect_state(s, &ss)))
		goto fail;
	s->sw[SW_STATE] = now_ms();
	n = fetch_dirty(s, tmp, true);
	s->sw[SW_DIRTY] = now_ms();
	/* everything up to DONE (SWITCH) in as few writes as fit */
	chan_cork(&s->c);
	if (n >= 0 && s->t2.postcopy) {
		s->t2.in_postcopy = true;
		ret = pc_source_switch(s, ss, tpause, &committed);
		goto fail;
	}
	if (n >= 0)
		n = send_dirty(s);
	if (n < 0) {
		ret = (int)n;
		goto fail;
	}
	s->st.last_round_pages = (uint64_t)n;
	s->sw[SW_PAGES] = now_ms();
	if ((ret = send_state(s, ss)))
		goto fail;
	s->sw[SW_FRAMES] = now_ms();
	{
		uint8_t done[16];
		uint32_t len;

		vmm__le_put32(done, s->st.rounds);
		/* flags: bit 0 = the rounds converged (the receiver's
		 * stats report it; older receivers ignore the word) */
		vmm__le_put32(done + 4, s->st.converged ? 1 : 0);
		vmm__le_put64(done + 8, s->st.pages_sent);
		if ((ret = send_simple(&s->c, F_DONE, done, sizeof(done))) ||
		    (ret = chan_uncork(&s->c)) ||
		    (ret = expect(&s->c, F_ACK, &len)))
			goto fail;
		s->sw[SW_ACK] = now_ms();
		if ((ret = send_simple(&s->c, F_COMMIT, NULL, 0)))
			goto fail;
	}
	committed = true;
	s->st.downtime_ms = now_ms() - tpause;
	t2_log_switch(s, tpause, s->st.last_round_pages, false);
fail:
	vmm__vm_set_sender(vm, NULL);
	t2_detach(s);
	t2_throttle_end(s);
	if (s->ml_on)
		vmm__mem_listener_remove(vm, &s->ml);
	fcntl(fd, F_SETFL, fl);
	if (nodelay >= 0)
		tcp_nodelay(fd, nodelay);
	if (!committed) {
		/* the VM stays here and continues as it was (a post-copy
		 * switch that got no ACK included) */
		if (!was_logging)
			vmm_mem_dirty_log(vm, false);
		/* devices quiesced by collect_state() work again */
		vmm__dev_state_resume_all(vm);
		if (paused)
			vmm_vm_resume(vm);
		vmm__err(vm, ret, "migrate: %s%s%s", vmm_strerror(ret),
			 s->c.err[0] ? ": " : "", s->c.err);
	} else {
		if (!was_logging)
			vmm_mem_dirty_log(vm, false);
		if (ret) /* post-copy cut: the VM waits for vmm_migrate_resume() */
			vmm__err(vm, ret, "migrate: post-copy: %s%s%s",
				 vmm_strerror(ret), s->c.err[0] ? ": " : "",
				 s->c.err);
	}
	s->st.bytes_sent = s->c.bytes_out;
	s->st.total_ms = now_ms() - t0;
	if (stats)
		*stats = s->st;
	if (ss) {
		vmm__snap_state_free(vm, ss);
		vmm__free(vm, ss);
	}
	for (uint32_t i = 0; i < SNAP_MAX_REGIONS; i++)
		vmm__free(vm, s->bm[i]);
	vmm__free(vm, tmp);
	vmm__free_big(vm, s->c.buf);
	vmm__free_big(NULL, s->c.cork);
	if (s->c.auth)
		vmm__mig_auth_free(s->c.auth);
	vmm__pz_free(&s->pz);
	vmm__free(vm, s->zbuf);
	vmm__free(vm, s);
	return ret;
}

/*
 * The public calls fill a full struct vmm_migrate_stats of their own and
 * copy it out once, at the end (docs/api.md, "Growable structs"); the
 * caller's struct_size was checked at entry.  Returns @ret.
 */
static int mig_stats_out(struct vmm_migrate_stats *stats,
		       struct vmm_migrate_stats *st, int ret)
{
	if (!stats)
		return ret;
	st->struct_size = sizeof(*st);
	/* cannot fail: struct_size was checked at entry */
	(void)vmm__struct_out(stats, st, sizeof(*st), VMM__MIGRATE_STATS_V02);
	return ret;
}

int vmm_migrate_send(vmm_vm *vm, int fd, const struct vmm_migrate_opts *o,
		     struct vmm_migrate_stats *stats)
{
	struct vmm_migrate_opts o_c = {0};
	struct vmm_migrate_stats st = {0};
	int ret;

	if (o) {
		if (vmm__struct_in(&o_c, sizeof(o_c), o, MIG_OPTS_V01))
			return !vm ? -EINVAL :
			       vmm__err(vm, -EINVAL, "migrate: bad struct_size or "
					"unknown fields in struct vmm_migrate_opts");
		o = &o_c;
	}
	if (stats && vmm__struct_out_check(stats, VMM__MIGRATE_STATS_V02))
		return !vm ? -EINVAL :
		       vmm__err(vm, -EINVAL, "migrate: bad struct_size in "
				"struct vmm_migrate_stats");
	ret = migrate_send_impl(vm, fd, o, stats ? &st : NULL);
	return mig_stats_out(stats, &st, ret);
}

/* ---- destination ---- */

struct receiver {
	struct chan c;
	vmm_vm *vm;
	struct snap_parsed *p;
	uint8_t *devdata[SNAP_MAX_DEVICES];
	struct vmm_migrate_stats st;
	/* tier 2: post-copy (postcopy.c) */
	bool pc_ok;                      /* CAPS offered post-copy */
	uint64_t *pc_need[SNAP_MAX_REGIONS];
	uint64_t *pc_zapped[SNAP_MAX_REGIONS]; /* stale copies dropped */
	double t_zap;                    /* ms spent dropping them */
	struct pc_dst *pc;               /* armed at SWITCH */
	struct pagecodec pz;
	uint8_t *zout;         /* MIG_BATCH pages: a decompressed batch */
	bool zok;              /* READY offered PAGES_ZSTD (zout on first use) */
	/* vmm_migrate_receive_into(): the embedder's VM, not ours */
	bool into;
	bool touched;          /* ... and its state was changed (poisoned) */
};

static const char into_poison[] =
	"a vmm_migrate_receive_into() failed after it had written part of "
	"the incoming state";

static bool pc_unfinished(vmm_vm *vm);
static void pc_release_finished(vmm_vm *vm);

/* The first change to a VM received into: from here until success it is
 * poisoned (vmm__vm_set_poison()), and what a completed post-copy
 * migration of it left (postcopy.c) is released. */
static void rx_touch(struct receiver *r)
{
	if (r->into && !r->touched) {
		r->touched = true;
		vmm__vm_set_poison(r->vm, into_poison);
		pc_release_finished(r->vm);
	}
}

/*
 * Check a PAGES (@zstd false) or PAGES_ZSTD frame in c->buf (@len bytes)
 * and find its page data: *@np entries at c->buf + 8, then *@data, the
 * data of the non-zero pages in entry order.  PAGES_ZSTD: the word after
 * the count is the uncompressed length of the page data, which must be
 * exactly what the entries need; the zstd frame must decompress to
 * exactly that, into @zout (MIG_BATCH pages) - before any page is
 * written.  Shared by the pre-copy receiver and the post-copy thread.
 */
static int mig_pages_decode(struct chan *c, uint32_t len, bool zstd,
			    struct pagecodec *pz, uint8_t *zout,
			    uint32_t *np, const uint8_t **data)
{
	const uint8_t *b = c->buf;
	uint32_t n, stored = 0;

	if (len < 8)
		return -EBADMSG;
	n = vmm__le_get32(b);
	if (n == 0 || n > MIG_BATCH || len < 8 + n * 8)
		return -EBADMSG;
	for (uint32_t i = 0; i < n; i++)
		if (!(vmm__le_get64(b + 8 + i * 8) & PAGE_ZERO))
			stored++;
	*np = n;
	*data = b + 8 + n * 8;
	if (zstd) {
		int ret;

		if (!zout)
			return vmm__snap_errf(c->err, sizeof(c->err), -EPROTO,
					      "PAGES_ZSTD, not offered in READY");
		if (!stored || vmm__le_get32(b + 4) != stored * SNAP_PAGE) {
			snprintf(c->err, sizeof(c->err),
				 "PAGES_ZSTD: %u bytes uncompressed, the entries need %u",
				 vmm__le_get32(b + 4),
				 (unsigned)(stored * SNAP_PAGE));
			return -EBADMSG;
		}
		ret = vmm__pz_decompress(pz, *data, len - (8 + n * 8), zout,
					 stored * SNAP_PAGE, c->err,
					 sizeof(c->err));
		if (ret)
			return ret;
		*data = zout;
	} else if (len != 8 + n * 8 + stored * SNAP_PAGE) {
		return -EBADMSG;
	}
	return 0;
}

#include "migrate/postcopy.c"

/* A PAGES or PAGES_ZSTD frame of pre-copy (mig_pages_decode()). */
static int rx_pages(struct receiver *r, uint32_t len, bool zstd)
{
	const uint8_t *b = r->c.buf, *data;
	uint32_t n;
	int ret;

	/* the batch buffer only when a PAGES_ZSTD comes (clearing 256 KiB
	 * for every migration was a fifth of fuzz_migrate) */
	if (zstd && r->zok && !r->zout &&
	    !(r->zout = vmm__alloc_with(NULL, MIG_BATCH * SNAP_PAGE)))
		return -ENOMEM;
	ret = mig_pages_decode(&r->c, len, zstd, &r->pz, r->zout, &n, &data);

	if (ret)
		return ret;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t e = vmm__le_get64(b + 8 + i * 8);
		vmm_gpa_t gpa = e & ~(SNAP_PAGE - 1);

		if ((e & (SNAP_PAGE - 1) & ~PAGE_ZERO) ||
		    !vmm_mem_is_ram(r->vm, gpa, SNAP_PAGE)) {
			snprintf(r->c.err, sizeof(r->c.err),
				 "page 0x%llx is not guest RAM",
				 (unsigned long long)e);
			return -EBADMSG;
		}
		if (r->pc_zapped[0]) {
			/* a NEEDMAP said it is missing (and its stale copy is
			 * gone): it may come only in post-copy */
			uint64_t pg;
			int ri = pc_locate(&r->p->cfg, gpa, &pg);

			if (ri >= 0 && r->pc_need[ri] && bit_get(r->pc_need[ri], pg)) {
				snprintf(r->c.err, sizeof(r->c.err),
					 "page 0x%llx after a NEEDMAP marked "
					 "it missing", (unsigned long long)gpa);
				return -EPROTO;
			}
		}
		rx_touch(r);
		if (e & PAGE_ZERO) {
			ret = vmm_mem_fill(r->vm, gpa, 0, SNAP_PAGE);
			r->st.zero_pages++;
		} else {
			ret = vmm_mem_write(r->vm, gpa, data, SNAP_PAGE);
			data += SNAP_PAGE;
			r->st.pages_sent++;
		}
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * vmm_migrate_receive_into(): the stream's configuration (HELLO) against
 * the embedder's VM, before anything of the VM is changed: vCPU count,
 * irqchip and PIT presence, CPU model and the memory layout must be the
 * same (the backend may differ).
 */
static int rx_hello_into(struct receiver *r)
{
	const struct snap_config *in = &r->p->cfg;
	struct snap_config *mine;
	const uint32_t fl = VMM_CFG_NO_IRQCHIP | VMM_CFG_NO_PIT;
	char *err = r->c.err;
	size_t el = sizeof(r->c.err);
	int ret;

	mine = vmm__alloc_with(NULL, sizeof(*mine));
	if (!mine)
		return -ENOMEM;
	ret = vmm__snap_config(r->vm, mine);
	if (ret) {
		vmm_last_error(r->vm, err, el);
		goto out;
	}
	ret = -EINVAL;
	if (in->ncpus != mine->ncpus) {
		vmm__snap_errf(err, el, ret, "the stream's VM has %u vCPUs, this "
			       "VM %u", in->ncpus, mine->ncpus);
		goto out;
	}
	if ((in->vm_flags & fl) != (mine->vm_flags & fl) ||
	    ((in->caps ^ mine->caps) & VMM_CAP_IRQCHIP)) {
		vmm__snap_errf(err, el, ret, "the stream's VM %s an irqchip%s, "
			       "this VM %s%s",
			       in->caps & VMM_CAP_IRQCHIP ? "has" : "has no",
			       in->vm_flags & VMM_CFG_NO_PIT ? " (no PIT)" : "",
			       mine->caps & VMM_CAP_IRQCHIP ? "has one" : "none",
			       mine->vm_flags & VMM_CFG_NO_PIT ? " (no PIT)" : "");
		goto out;
	}
	if (in->cpu_model && in->cpu_model != mine->cpu_model) {
		vmm__snap_errf(err, el, ret, "the stream's VM has CPU model "
			       "'%s', this VM '%s'",
			       vmm_cpu_model_name((enum vmm_cpu_model)in->cpu_model),
			       vmm_cpu_model_name((enum vmm_cpu_model)mine->cpu_model));
		goto out;
	}
	if (in->nregions != mine->nregions) {
		vmm__snap_errf(err, el, ret, "the stream's VM has %u memory "
			       "regions, this VM %u", in->nregions,
			       mine->nregions);
		goto out;
	}
	for (uint32_t i = 0; i < in->nregions; i++) {
		const struct snap_region *a = &in->regions[i], *b = &mine->regions[i];

		if (a->gpa != b->gpa || a->size != b->size ||
		    a->flags != b->flags) {
			vmm__snap_errf(err, el, ret, "memory region %u: the "
				       "stream's 0x%llx+0x%llx%s, this VM's "
				       "0x%llx+0x%llx%s", i,
				       (unsigned long long)a->gpa,
				       (unsigned long long)a->size,
				       a->flags & VMM_MEM_READONLY ? " read-only" : "",
				       (unsigned long long)b->gpa,
				       (unsigned long long)b->size,
				       b->flags & VMM_MEM_READONLY ? " read-only" : "");
			goto out;
		}
	}
	ret = 0;
out:
	vmm__free_with(NULL, mine);
	return ret;
}

/*
 * vmm_migrate_receive_into() once HELLO is accepted, before READY: the
 * VM's memory must start zeroed as a new VM's does (the source skips
 * zero pages in its first pass).  Only pages that are not zero are
 * written.  Here, not at DONE: reading all of guest memory (page faults
 * of a fresh VM's untouched memory included) must not add to the
 * downtime; the source waits for READY meanwhile.
 */
static int rx_zero_all(struct receiver *r)
{
	const struct snap_config *cfg = &r->p->cfg;

	for (uint32_t i = 0; i < cfg->nregions; i++) {
		const struct snap_region *g = &cfg->regions[i];
		const uint8_t *h = region_host(r->vm, g);
		uint64_t pages = g->size / SNAP_PAGE;

		for (uint64_t pg = 0; pg < pages; pg++) {
			uint8_t buf[SNAP_PAGE];
			const uint8_t *pp = h ? h + pg * SNAP_PAGE : buf;
			int ret;

			if (!h && vmm_mem_read(r->vm, g->gpa + pg * SNAP_PAGE,
					       buf, SNAP_PAGE))
				return -EFAULT;
			if (vmm__page_is_zero(pp))
				continue;
			rx_touch(r);
			ret = vmm_mem_fill(r->vm, g->gpa + pg * SNAP_PAGE, 0,
					   SNAP_PAGE);
			if (ret)
				return ret;
		}
	}
	return 0;
}

static int mig_busy(void *sender, void *arg)
{
	(void)sender;
	(void)arg;
	return -EBUSY;
}

static int rx_hello(struct receiver *r, const struct vmm_config *overrides)
{
	uint32_t len;
	uint16_t type;
	int ret = recv_frame(&r->c, &type, &len);

	if (ret)
		return ret;
	if (type == F_AUTH1 && !r->c.auth) {
		snprintf(r->c.err, sizeof(r->c.err),
			 "the source authenticates with a key; this receiver has none");
		return -EACCES;
	}
	if (type != F_HELLO) {
		snprintf(r->c.err, sizeof(r->c.err),
			 "frame type %u, expected %u", type, F_HELLO);
		return -EPROTO;
	}
	if (len < 16)
		return -EBADMSG;
	if (vmm__le_get32(r->c.buf) != MIG_PROTO) {
		snprintf(r->c.err, sizeof(r->c.err),
			 "migration protocol %u, this libvmm speaks %d",
			 vmm__le_get32(r->c.buf), MIG_PROTO);
		return -ENOTSUP;
	}
	if (vmm__le_get32(r->c.buf + 8) != SNAP_ARCH_X86_64) {
		snprintf(r->c.err, sizeof(r->c.err), "not x86-64");
		return -ENOTSUP;
	}
	ret = vmm__snap_get_config(r->c.buf + 16, len - 16, &r->p->cfg,
				   r->c.err, sizeof(r->c.err));
	if (ret)
		return ret;
	if (r->into)
		return rx_hello_into(r);
	ret = vmm__snap_create_vm(&r->p->cfg, overrides, &r->vm, r->c.err,
				  sizeof(r->c.err));
	for (uint32_t i = 0; i < r->p->cfg.nregions && !ret; i++) {
		const struct snap_region *g = &r->p->cfg.regions[i];
		struct vmm_mem_region d = {
			.gpa = g->gpa, .size = g->size, .flags = g->flags,
			.source = VMM_MEM_ANON, .fd = -1, .name = "migrated",
		};
		ret = vmm_mem_add(r->vm, &d);
		if (ret)
			snprintf(r->c.err, sizeof(r->c.err),
				 "cannot add region 0x%llx+0x%llx",
				 (unsigned long long)g->gpa,
				 (unsigned long long)g->size);
	}
	return ret;
}

static int rx_state(struct receiver *r, uint16_t type, uint32_t len)
{
	struct snap_parsed *p = r->p;
	char *err = r->c.err;
	size_t el = sizeof(r->c.err);
	int ret;

	switch (type) {
	case F_VCPU: {
		unsigned idx;
		struct vmm_cpu_state st;

		ret = vmm__snap_get_cpu(r->c.buf, len, &idx, &st, err, el);
		if (ret)
			return ret;
		if (idx >= p->cfg.ncpus || p->has_cpu[idx])
			return vmm__snap_errf(err, el, -EBADMSG,
					      "vCPU %u out of range or twice", idx);
		/* HELLO's vCPU count (<= VMM_MAX_VCPUS), not 64 states */
		if (!p->cpu && !(p->cpu = vmm__alloc_with(NULL, sizeof(*p->cpu) *
							  p->cfg.ncpus)))
			return -ENOMEM;
		p->cpu[idx] = st;
		p->has_cpu[idx] = true;
		p->nvcpus++;
		return 0;
	}
	case F_VCPUX: {
		unsigned idx;
		struct vmm_cpu_xstate xs;

		ret = vmm__snap_get_xstate(r->c.buf, len, &idx, &xs, err, el);
		if (ret)
			return ret;
		if (idx >= p->cfg.ncpus || p->has_xs[idx])
			return vmm__snap_errf(err, el, -EBADMSG,
					      "vCPU %u extended state out of "
					      "range or twice", idx);
		p->xs[idx] = xs;
		p->has_xs[idx] = true;
		return 0;
	}
	case F_IRQCHIP:
		if (p->has_irqchip)
			return vmm__snap_errf(err, el, -EBADMSG, "irqchip twice");
		ret = vmm__snap_get_irqchip(r->c.buf, len, &p->irq, err, el);
		p->has_irqchip = ret == 0;
		return ret;
	case F_DEVICE: {
		struct snap_dev *d;
		uint8_t *copy;

		if (p->ndevs >= SNAP_MAX_DEVICES)
			return vmm__snap_errf(err, el, -EFBIG, "too many devices");
		copy = vmm__alloc_with(NULL, len + 1);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, r->c.buf, len);
		r->devdata[p->ndevs] = copy;
		d = &p->devs[p->ndevs++];
		return vmm__snap_get_device(copy, len, d, err, el);
	}
	}
	return vmm__snap_errf(err, el, -EPROTO, "unexpected frame type %u",
			      type);
}

static int migrate_receive_impl(int fd, const struct vmm_config *overrides,
			const struct vmm_restore_opts *opts,
			const struct vmm_migrate_opts *mo, vmm_vm *into,
			vmm_vm **out, struct vmm_migrate_stats *stats)
{
	struct receiver *r;
	double t0 = now_ms();
	uint16_t type;
	uint32_t len;
	int fl, ret, nodelay;
	bool done = false, unverified = false;
	double tload, tarm, cload;

	if (fd < 0 || (!out && !into) || (fl = fcntl(fd, F_GETFL)) < 0)
		return into ? vmm__err(into, -EINVAL, "migrate (receive): bad "
				       "fd %d", fd) : -EINVAL;
	r = vmm__alloc_with(NULL, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->vm = into;
	r->into = into != NULL;
	r->c.fd = fd;
	r->c.timeout_ms = mo && mo->timeout_ms ? (int)mo->timeout_ms : 10000;
	/* not cleared (calloc() would clear 266 KiB from the heap each
	 * time): every frame is read into it before it is looked at */
	r->c.buf = vmm__alloc_big(NULL, MIG_MAX_FRAME);
	r->p = vmm__alloc_with(NULL, sizeof(*r->p));
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	nodelay = tcp_nodelay(fd, 1);
	if (!r->c.buf || !r->p) {
		ret = -ENOMEM;
		goto out;
	}
	if (mo && mo->key) {
		/* on the heap: a post-copy destination takes it over */
		r->c.auth = vmm__alloc_with(NULL, sizeof(*r->c.auth));
		if (!r->c.auth) {
			ret = -ENOMEM;
			goto out;
		}
		ret = vmm__mig_auth_init(r->c.auth, false, mo->key, mo->key_len,
					 r->c.err, sizeof(r->c.err));
		if (!ret)
			ret = mig_auth_dest(&r->c);
		if (ret)
			goto fail;
	}
	ret = rx_hello(r, overrides);
	if (!ret && r->into)
		ret = rx_zero_all(r);
	if (ret)
		goto fail;
	if (mo && (mo->flags & VMM_MIGRATE_POSTCOPY)) {
		char why[320];
		uint8_t caps[4];

		r->pc_ok = vmm_migrate_postcopy_available(vmm_vm_backend(r->vm),
							  why, sizeof(why)) == 0;
		if (!r->pc_ok)
			vmm__log(r->vm, VMM_LOG_WARN, "migrate: no post-copy: %s",
				 why);
		vmm__le_put32(caps, r->pc_ok ? PC_CAP_POSTCOPY : 0);
		if ((ret = send_simple(&r->c, F_PC_CAPS, caps, sizeof(caps))))
			goto out;
	}
	{
		/* READY: the features this receiver decodes */
		uint8_t feat[4];

		r->zok = vmm__pz_available();
		vmm__le_put32(feat, r->zok ? MIG_FEAT_ZSTD : 0);
		if ((ret = send_simple(&r->c, F_READY, feat, sizeof(feat))))
			goto out;
	}
	while (!done) {
		ret = recv_frame(&r->c, &type, &len);
		if (ret)
			goto out; /* source error or cut: nothing to answer */
		switch (type) {
		case F_PAGES:
			ret = rx_pages(r, len, false);
			break;
		case F_PAGES_ZSTD:
			ret = rx_pages(r, len, true);
			break;
		case F_VCPU:
		case F_VCPUX:
		case F_IRQCHIP:
		case F_DEVICE:
			ret = rx_state(r, type, len);
			break;
		case F_PC_NEEDMAP:
			ret = pc_rx_needmap(r, len);
			break;
		case F_PC_SWITCH:
		case F_DONE:
			if ((type == F_DONE && len != 16) || !r->p->nvcpus) {
				ret = -EBADMSG;
				snprintf(r->c.err, sizeof(r->c.err),
					 "DONE without vCPU state");
				break;
			}
			if (type == F_PC_SWITCH && !r->pc_ok) {
				/* before any state is loaded */
				ret = -EPROTO;
				snprintf(r->c.err, sizeof(r->c.err),
					 "post-copy not offered");
				break;
			}
			if (r->into &&
			    (ret = vmm__snap_check_into(r->vm, r->p, r->c.err,
							sizeof(r->c.err))))
				break;
			rx_touch(r);
			r->st.rounds = vmm__le_get32(r->c.buf);
			r->st.converged = vmm__le_get32(r->c.buf + 4) & 1;
			tload = now_ms();
			cload = cpu_ms();
			ret = vmm__snap_load_state(r->vm, r->p, true,
						   opts && (opts->flags & VMM_RESTORE_SKIP_DEVICES) &&
						   !r->into,
						   opts ? opts->attach : NULL,
						   opts ? opts->opaque : NULL);
			if (ret) {
				vmm_last_error(r->vm, r->c.err, sizeof(r->c.err));
				break;
			}
			tarm = now_ms();
			if (type == F_PC_SWITCH && (ret = pc_rx_arm(r, len)))
				break;
			/* the destination's share of the downtime */
			vmm__log(r->vm, VMM_LOG_INFO, "migrate (destination): "
				 "state loaded in %.3f ms%s%.3f ms (thread CPU "
				 "%.3f ms of %.3f)", tarm - tload,
				 r->pc ? ", post-copy armed in " : ", ",
				 r->pc ? now_ms() - tarm : 0.0,
				 cpu_ms() - cload, now_ms() - tload);
			done = true;
			break;
		default:
			ret = -EPROTO;
			snprintf(r->c.err, sizeof(r->c.err),
				 "unexpected frame type %u", type);
		}
		if (ret)
			goto fail;
	}
	/* ready to run: the source decides.  A failed ACK write never
	 * reached the source as a whole frame: it cannot have committed. */
	if ((ret = send_simple(&r->c, F_ACK, NULL, 0)))
		goto out;
	if ((ret = expect(&r->c, F_COMMIT, &len)) && !r->pc) {
		/*
		 * The ACK went out and no valid COMMIT came (cut, timeout,
		 * corrupted, MAC failure, even an ERROR frame: under a key
		 * that one needs no MAC).  The source may have sent COMMIT
		 * and returned 0 with its VM paused: discarding here could
		 * lose the guest.  Keep the whole, paused VM and let the
		 * embedder decide with the source (docs/migration.md,
		 * "Commit unverified").  Post-copy has no such window: its
		 * source returns 0 only after the destination's FIN.
		 */
		vmm__err(r->vm, VMM_MIGRATE_COMMIT_UNVERIFIED,
			 "migrate (receive): commit unverified: %s%s%s; the VM "
			 "is kept paused: run it only if the source's "
			 "vmm_migrate_send() returned 0, else destroy it",
			 vmm_strerror(ret), r->c.err[0] ? ": " : "", r->c.err);
		unverified = true;
		ret = VMM_MIGRATE_COMMIT_UNVERIFIED;
		if (r->into)
			vmm__vm_set_poison(r->vm, NULL); /* whole */
		else
			*out = r->vm;
		r->vm = NULL;
		goto out;
	}
	if (ret)
		goto out;
	if (r->pc && (ret = pc_rx_start(r, fl)))
		goto out;
	r->st.postcopy = r->pc != NULL;
	r->st.postcopy_pages = r->pc ? r->pc->missing : 0;
	if (r->into)
		vmm__vm_set_poison(r->vm, NULL);
	else
		*out = r->vm;
	r->vm = NULL;
	goto out;
fail:
	send_error(&r->c, ret, r->c.err[0] ? r->c.err : vmm_strerror(ret));
out:
	/* VMM_MIGRATE_COMMIT_UNVERIFIED means only that (an embedder's
	 * attach callback could return the same errno) */
	if (ret == VMM_MIGRATE_COMMIT_UNVERIFIED && !unverified)
		ret = -EIO;
	/* a running post-copy keeps the fd (non-blocking, TCP_NODELAY) */
	if (ret || !r->pc)
		fcntl(fd, F_SETFL, fl);
	if (nodelay >= 0 && (ret || !r->pc))
		tcp_nodelay(fd, nodelay);
	if (ret && !unverified && r->into) {
		vmm__err(r->vm, ret, "migrate (receive into): %s%s%s%s",
			 vmm_strerror(ret), r->c.err[0] ? ": " : "", r->c.err,
			 r->touched ? "; the VM is left poisoned (half "
			 "overwritten): reset it from a snapshot or destroy it"
			 : "; the VM was not changed");
	} else if (ret && !unverified) {
		char msg[300];

		snprintf(msg, sizeof(msg), "migrate (receive): %s%s%s",
			 vmm_strerror(ret), r->c.err[0] ? ": " : "", r->c.err);
		if (overrides && overrides->log)
			overrides->log(overrides->log_opaque, VMM_LOG_ERROR, msg);
	}
	if (!r->into)
		vmm_vm_destroy(r->vm);
	r->st.bytes_sent = r->c.bytes_in;
	r->st.total_ms = now_ms() - t0;
	if (stats)
		*stats = r->st;
	for (int i = 0; i < SNAP_MAX_DEVICES; i++)
		vmm__free_with(NULL, r->devdata[i]);
	for (int i = 0; i < SNAP_MAX_REGIONS; i++) {
		vmm__free_with(NULL, r->pc_need[i]);
		vmm__free_with(NULL, r->pc_zapped[i]);
	}
	if (r->p)
		vmm__snap_parsed_free(r->p);
	vmm__free_with(NULL, r->p);
	vmm__free_big(NULL, r->c.buf);
	if (r->c.auth) {
		vmm__mig_auth_free(r->c.auth);
		vmm__free_with(NULL, r->c.auth);
	}
	vmm__pz_free(&r->pz);
	vmm__free_with(NULL, r->zout);
	vmm__free_with(NULL, r);
	return ret;
}

int vmm_migrate_receive(int fd, const struct vmm_config *overrides,
			const struct vmm_restore_opts *opts,
			const struct vmm_migrate_opts *mo, vmm_vm **out,
			struct vmm_migrate_stats *stats)
{
	struct vmm_restore_opts opts_c = {0};
	struct vmm_migrate_opts mo_c = {0};
	struct vmm_migrate_stats st = {0};
	int ret;

	if (opts) {
		if (VMM__STRUCT_IN(&opts_c, opts))
			return -EINVAL;
		opts = &opts_c;
	}
	if (mo) {
		if (vmm__struct_in(&mo_c, sizeof(mo_c), mo, MIG_OPTS_V01))
			return -EINVAL;
		mo = &mo_c;
	}
	if (stats && vmm__struct_out_check(stats, VMM__MIGRATE_STATS_V02)) {
		if (overrides && overrides->log)
			overrides->log(overrides->log_opaque, VMM_LOG_ERROR,
				       "migrate (receive): bad struct_size in "
				       "struct vmm_migrate_stats");
		return -EINVAL;
	}
	ret = migrate_receive_impl(fd, overrides, opts, mo, NULL, out,
				   stats ? &st : NULL);
	return mig_stats_out(stats, &st, ret);
}

int vmm_migrate_receive_into(vmm_vm *vm, int fd,
			     const struct vmm_migrate_opts *mo,
			     struct vmm_migrate_stats *stats)
{
	struct vmm_migrate_opts mo_c = {0};
	struct vmm_migrate_stats st = {0};
	int ret;

	if (!vm)
		return -EINVAL;
	if (mo) {
		if (vmm__struct_in(&mo_c, sizeof(mo_c), mo, MIG_OPTS_V01))
			return vmm__err(vm, -EINVAL, "migrate (receive into): "
					"bad struct vmm_migrate_opts");
		mo = &mo_c;
	}
	if (stats && vmm__struct_out_check(stats, VMM__MIGRATE_STATS_V02))
		return vmm__err(vm, -EINVAL, "migrate (receive into): bad "
				"struct_size in struct vmm_migrate_stats");
	if (mo && (mo->flags & VMM_MIGRATE_POSTCOPY))
		return vmm__err(vm, -ENOTSUP, "migrate (receive into): "
				"post-copy is not supported (pre-copy only; "
				"vmm_migrate_receive() takes post-copy)");
	if (vmm__vm_running(vm))
		return vmm__err(vm, -EBUSY, "migrate (receive into): the VM "
				"is running; vmm_vm_pause() it first");
	if (pc_unfinished(vm) || vmm__vm_with_sender(vm, mig_busy, NULL) !=
				 -ENOENT)
		return vmm__err(vm, -EBUSY, "migrate (receive into): a "
				"migration of this VM is under way (or a "
				"post-copy one broke: vmm_migrate_resume() or "
				"vmm_migrate_cancel() it first)");
	ret = migrate_receive_impl(fd, NULL, NULL, mo, vm, NULL,
				   stats ? &st : NULL);
	return mig_stats_out(stats, &st, ret);
}
