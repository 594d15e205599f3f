/* SPDX-License-Identifier: MIT */
/*
 * evloop.c - the device back-ends' event loop: one thread per loop, fd
 * watches, asynchronous file I/O and timers.  Two implementations behind
 * the same functions: io_uring (POLL_ADD for watches, READV/WRITEV/FSYNC/
 * FALLOCATE/TIMEOUT for operations) and poll() (operations done
 * synchronously, completions queued and delivered after the current
 * callback returns, so callers see the same ordering rules).
 *
 * Commands from other threads (add/remove a watch, call a function, stop)
 * go through a mutex-protected list and an eventfd the loop watches; the
 * caller waits on a condition variable until the loop has applied them.
 *
 * The ring is created on the loop thread - its only issuer - with
 * SINGLE_ISSUER | DEFER_TASKRUN (completion work runs only when the loop
 * waits in io_uring_enter: no task-work interruptions, no wake-ups of a
 * loop that is busy anyway), else COOP_TASKRUN, else plain; probed at run
 * time.  (DEFER_TASKRUN was dropped in 2026-11 after a benchmark stalled
 * about once in 50 runs; the stall was a virtqueue broken by a torn read
 * of the avail index - fixed in src/mem/guest_copy.h, test
 * virtio-torn-index - and it came back on 2026-12-07 with measured gains,
 * docs/benchmarks.md.  Every ring operation happens on the loop thread:
 * with SINGLE_ISSUER another thread's submission would fail.)  A vectored operation with one iovec goes out as plain
 * READ/WRITE (no iovec array for the kernel to copy), or READ_FIXED/
 * WRITE_FIXED when it lies in a registered buffer.
 */
#include "io/evloop.h"
#include "core/internal.h"
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#if VMM_HAVE_URING
#include <liburing.h>
#endif

enum cmd_kind { CMD_WATCH_ADD, CMD_WATCH_DEL, CMD_CALL, CMD_STOP };

struct cmd {
	enum cmd_kind kind;
	struct vmm_ev_watch *w;
	vmm_ev_call_fn fn;
	void *opaque;
	/* CMD_WATCH_ADD on the poll() loop: larger pollfd arrays, allocated
	 * by the caller (NULL when the loop's are big enough) */
	struct pollfd *pfd;
	struct vmm_ev_watch **pw;
	size_t cap;
	bool done;
	struct cmd *next;
};

struct vmm_ev_watch {
	struct vmm_evloop *l;
	int fd;
	short events;  /* POLLIN or POLLOUT */
	vmm_ev_watch_fn fn;
	void *opaque;
	bool armed;    /* wanted */
	bool polling;  /* uring: a POLL_ADD is in flight */
	bool dead;     /* removed; freed when no poll is in flight */
	bool in_cb;
	struct vmm_ev_watch *next;
};

/* Timer and pending completion bookkeeping for the poll() backend. */
struct ptimer {
	uint64_t deadline;
	struct vmm_evop *op;
	struct ptimer *next;
};

struct vmm_evloop {
	struct vmm_allocator a;
	bool have_alloc;
	pthread_t thread;
	bool started;
	bool ready;              /* the thread has set up its ring */
	int ctl_fd;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct cmd *cmds;        /* under lock */
	bool stopping;           /* loop thread only */
	struct vmm_ev_watch *watches; /* loop thread only */
	struct vmm_ev_watch *ctl_watch;
	uint64_t wakeups, completions, watch_events;
	uint64_t enters, fixed_ops;
	uint64_t fixed_used;     /* loop thread: registered-file slots taken */
	unsigned fixed_slots;    /* 0: no fixed-file table */
	/* registered buffers (loop thread; nbufs read by stats) */
	struct iovec bufs[VMM_EVLOOP_MAX_BUFS];
	unsigned nbufs;
	int buf_slot;            /* op_rw() -> op_queue(): the buffer */
	uint64_t fixed_buf_ops;
	char name[16];
	bool uring;
	unsigned ring_flags;     /* IORING_SETUP_* in use */
#if VMM_HAVE_URING
	struct io_uring ring;
#endif
	unsigned inflight;       /* uring: CQEs still to come */
	struct vmm_evop *done_head, *done_tail; /* poll: completions */
	struct ptimer *timers;   /* poll: sorted by deadline */
	/* poll: the pollfd arrays, sized when a watch is added (never on
	 * the loop thread's own initiative: an allocation failure is the
	 * adder's -ENOMEM, not a loop that retries); @reserved counts the
	 * watches not yet killed, @cap >= @reserved.  Both under @lock,
	 * the arrays themselves loop thread only. */
	struct pollfd *pfd;
	struct vmm_ev_watch **pw;
	size_t cap, reserved;
	/* arrays replaced by a callback during a round: the round still
	 * reads them; freed at its end (loop thread only) */
	struct pollfd *retired_pfd;
	struct vmm_ev_watch **retired_pw;
};

#define TAG_WATCH 1ull

static void *ev_alloc(struct vmm_evloop *l, size_t n)
{
	if (l && l->have_alloc)
		return vmm__alloc_with(&l->a, n);
	return calloc(1, n);
}

static void ev_free(struct vmm_evloop *l, void *p)
{
	if (l && l->have_alloc)
		vmm__free_with(&l->a, p);
	else
		free(p);
}

static uint64_t mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

bool vmm_evloop_uses_uring(const struct vmm_evloop *l)
{
	return l && l->uring;
}

bool vmm_evloop_on_thread(const struct vmm_evloop *l)
{
	return l && l->started && pthread_equal(pthread_self(), l->thread);
}

static void stat_inc(uint64_t *c)
{
	__atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

/* ---- io_uring plumbing ---- */

#if VMM_HAVE_URING
/* Submit what is queued (one io_uring_enter, if anything is queued). */
static void ring_submit(struct vmm_evloop *l)
{
	if (io_uring_sq_ready(&l->ring)) {
		stat_inc(&l->enters);
		io_uring_submit(&l->ring);
	}
}

static struct io_uring_sqe *get_sqe(struct vmm_evloop *l)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

	if (!sqe) {
		ring_submit(l);
		sqe = io_uring_get_sqe(&l->ring);
	}
	return sqe;
}
#endif

static void watch_submit(struct vmm_ev_watch *w)
{
#if VMM_HAVE_URING
	struct vmm_evloop *l = w->l;
	struct io_uring_sqe *sqe;

	if (!l->uring || w->polling || w->dead || !w->armed)
		return;
	sqe = get_sqe(l);
	if (!sqe)
		return; /* retried at the next arm; cannot happen after submit */
	io_uring_prep_poll_add(sqe, w->fd, (unsigned)w->events);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)w | TAG_WATCH);
	w->polling = true;
	l->inflight++;
#else
	(void)w;
#endif
}

static void watch_cancel(struct vmm_ev_watch *w)
{
#if VMM_HAVE_URING
	struct vmm_evloop *l = w->l;
	struct io_uring_sqe *sqe;

	if (!l->uring || !w->polling)
		return;
	sqe = get_sqe(l);
	if (!sqe)
		return;
	io_uring_prep_poll_remove(sqe, (uint64_t)(uintptr_t)w | TAG_WATCH);
	io_uring_sqe_set_data64(sqe, 0);
#else
	(void)w;
#endif
}

static void watch_unlink_free(struct vmm_evloop *l, struct vmm_ev_watch *w)
{
	for (struct vmm_ev_watch **pp = &l->watches; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	ev_free(l, w);
}

/* Loop thread: drop @w now or once its poll completes. */
static void watch_kill(struct vmm_evloop *l, struct vmm_ev_watch *w)
{
	if (!w->dead) {
		pthread_mutex_lock(&l->lock);
		l->reserved--;
		pthread_mutex_unlock(&l->lock);
	}
	w->dead = true;
	w->armed = false;
	if (w->in_cb)
		return; /* freed after the callback returns */
	if (w->polling)
		watch_cancel(w);
	else if (l->uring || !vmm_evloop_on_thread(l))
		watch_unlink_free(l, w);
	/* else poll() on the loop thread: a later slot of this round may
	 * still name it; the round's sweep frees it */
}

static void watch_fire(struct vmm_evloop *l, struct vmm_ev_watch *w,
		       unsigned events)
{
	if (w->dead || !w->armed)
		return;
	stat_inc(&l->watch_events);
	w->in_cb = true;
	w->fn(w->opaque, w->fd, events);
	w->in_cb = false;
	if (w->dead) {
		watch_kill(l, w);
		return;
	}
	watch_submit(w);
}

void vmm_evloop_watch_arm(struct vmm_ev_watch *w, bool on)
{
	if (!w || w->dead)
		return;
	w->armed = on;
	if (on && !w->in_cb)
		watch_submit(w);
}

/* ---- commands ---- */

/* Loop thread (or before it runs): take arrays of @cap entries if they
 * are larger than the loop's, else free them. */
static void swap_arrays(struct vmm_evloop *l, struct pollfd *pfd,
			struct vmm_ev_watch **pw, size_t cap)
{
	if (!pfd)
		return;
	pthread_mutex_lock(&l->lock);
	if (cap > l->cap) {
		struct pollfd *op = l->pfd;
		struct vmm_ev_watch **ow = l->pw;

		l->pfd = pfd;
		l->pw = pw;
		l->cap = cap;
		pfd = op;
		pw = ow;
		/* on the loop thread, a callback of the current poll() round:
		 * the first arrays replaced are the round's, kept till its end
		 * (later ones were never polled) */
		if (l->started && vmm_evloop_on_thread(l) && !l->retired_pfd) {
			l->retired_pfd = pfd;
			l->retired_pw = pw;
			pfd = NULL;
			pw = NULL;
		}
	}
	pthread_mutex_unlock(&l->lock);
	ev_free(l, pfd);
	ev_free(l, pw);
}

/*
 * Reserve a pollfd slot for one more watch (the poll() loop only): count
 * it, and when the loop's arrays are too small allocate larger ones into
 * *@pfd / *@pw (the loop takes them over with the watch).  0 or -ENOMEM.
 */
static int reserve_slot(struct vmm_evloop *l, struct pollfd **pfd,
			struct vmm_ev_watch ***pw, size_t *cap)
{
	size_t need;

	*pfd = NULL;
	*pw = NULL;
	*cap = 0;
	pthread_mutex_lock(&l->lock);
	need = ++l->reserved;
	if (l->ready && l->uring)
		need = 0; /* io_uring polls each watch on its own */
	else if (need <= l->cap)
		need = 0;
	pthread_mutex_unlock(&l->lock);
	if (!need)
		return 0;
	*cap = need * 2;
	*pfd = ev_alloc(l, *cap * sizeof(**pfd));
	*pw = ev_alloc(l, *cap * sizeof(**pw));
	if (*pfd && *pw)
		return 0;
	ev_free(l, *pfd);
	ev_free(l, *pw);
	*pfd = NULL;
	*pw = NULL;
	pthread_mutex_lock(&l->lock);
	l->reserved--;
	pthread_mutex_unlock(&l->lock);
	return -ENOMEM;
}

static void run_cmds(struct vmm_evloop *l)
{
	struct cmd *c;

	pthread_mutex_lock(&l->lock);
	c = l->cmds;
	l->cmds = NULL;
	pthread_mutex_unlock(&l->lock);
	if (!c)
		return;
	/* oldest first */
	struct cmd *rev = NULL;
	while (c) {
		struct cmd *n = c->next;
		c->next = rev;
		rev = c;
		c = n;
	}
	for (c = rev; c;) {
		struct cmd *n = c->next;

		switch (c->kind) {
		case CMD_WATCH_ADD:
			swap_arrays(l, c->pfd, c->pw, c->cap);
			c->w->next = l->watches;
			l->watches = c->w;
			watch_submit(c->w);
			break;
		case CMD_WATCH_DEL:
			watch_kill(l, c->w);
			break;
		case CMD_CALL:
			c->fn(c->opaque);
			break;
		case CMD_STOP:
			l->stopping = true;
			break;
		}
		pthread_mutex_lock(&l->lock);
		c->done = true;
		pthread_cond_broadcast(&l->cond);
		pthread_mutex_unlock(&l->lock);
		c = n;
	}
}

static void ctl_cb(void *opaque, int fd, unsigned events)
{
	uint64_t v;

	(void)events;
	if (read(fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: another wakeup consumed it */
	}
	run_cmds(opaque);
}

static void post_cmd(struct vmm_evloop *l, struct cmd *c)
{
	uint64_t one = 1;

	c->done = false;
	pthread_mutex_lock(&l->lock);
	c->next = l->cmds;
	l->cmds = c;
	pthread_mutex_unlock(&l->lock);
	if (write(l->ctl_fd, &one, sizeof(one)) < 0) {
		/* the counter cannot overflow with 1 per command */
	}
	pthread_mutex_lock(&l->lock);
	while (!c->done)
		pthread_cond_wait(&l->cond, &l->lock);
	pthread_mutex_unlock(&l->lock);
}

int vmm_evloop_watch_events(struct vmm_evloop *l, int fd, short events,
			    vmm_ev_watch_fn fn, void *opaque, bool armed,
			    struct vmm_ev_watch **out)
{
	struct vmm_ev_watch *w;
	struct pollfd *pfd;
	struct vmm_ev_watch **pw;
	size_t cap;

	if (!l || fd < 0 || !fn || !out ||
	    (events != POLLIN && events != POLLOUT))
		return -EINVAL;
	w = ev_alloc(l, sizeof(*w));
	if (!w)
		return -ENOMEM;
	if (reserve_slot(l, &pfd, &pw, &cap)) {
		ev_free(l, w);
		return -ENOMEM;
	}
	w->l = l;
	w->fd = fd;
	w->events = events;
	w->fn = fn;
	w->opaque = opaque;
	w->armed = armed;
	*out = w;
	if (!l->started || vmm_evloop_on_thread(l)) {
		swap_arrays(l, pfd, pw, cap);
		w->next = l->watches;
		l->watches = w;
		watch_submit(w);
	} else {
		struct cmd c = { .kind = CMD_WATCH_ADD, .w = w, .pfd = pfd,
				 .pw = pw, .cap = cap };
		post_cmd(l, &c);
	}
	return 0;
}

int vmm_evloop_watch(struct vmm_evloop *l, int fd, vmm_ev_watch_fn fn,
		     void *opaque, bool armed, struct vmm_ev_watch **out)
{
	return vmm_evloop_watch_events(l, fd, POLLIN, fn, opaque, armed, out);
}

void vmm_evloop_unwatch(struct vmm_evloop *l, struct vmm_ev_watch *w)
{
	if (!l || !w)
		return;
	if (!l->started || vmm_evloop_on_thread(l)) {
		watch_kill(l, w);
	} else {
		struct cmd c = { .kind = CMD_WATCH_DEL, .w = w };
		post_cmd(l, &c);
	}
}

int vmm_evloop_call(struct vmm_evloop *l, vmm_ev_call_fn fn, void *opaque)
{
	if (!l || !fn)
		return -EINVAL;
	if (vmm_evloop_on_thread(l)) {
		fn(opaque);
	} else {
		struct cmd c = { .kind = CMD_CALL, .fn = fn, .opaque = opaque };
		post_cmd(l, &c);
	}
	return 0;
}

void vmm_evloop_stats(struct vmm_evloop *l, struct vmm_evloop_stats *st)
{
	st->wakeups = __atomic_load_n(&l->wakeups, __ATOMIC_RELAXED);
	st->completions = __atomic_load_n(&l->completions, __ATOMIC_RELAXED);
	st->watch_events = __atomic_load_n(&l->watch_events, __ATOMIC_RELAXED);
	st->enters = __atomic_load_n(&l->enters, __ATOMIC_RELAXED);
	st->ring_flags = l->ring_flags;
	st->fixed_files = (uint32_t)__builtin_popcountll(
		__atomic_load_n(&l->fixed_used, __ATOMIC_RELAXED));
	st->fixed_ops = __atomic_load_n(&l->fixed_ops, __ATOMIC_RELAXED);
	st->fixed_bufs = __atomic_load_n(&l->nbufs, __ATOMIC_RELAXED);
	st->fixed_buf_ops = __atomic_load_n(&l->fixed_buf_ops,
					    __ATOMIC_RELAXED);
}

/* ---- registered buffers ---- */

struct bufs_cmd {
	struct vmm_evloop *l;
	const struct iovec *bufs;
	unsigned n;
	int ret;
};

static void buffers_set_cb(void *opaque)
{
	struct bufs_cmd *c = opaque;
	struct vmm_evloop *l = c->l;

	c->ret = -EOPNOTSUPP;
#if VMM_HAVE_URING
	if (!l->uring)
		return;
	if (l->nbufs) {
		io_uring_unregister_buffers(&l->ring);
		__atomic_store_n(&l->nbufs, 0, __ATOMIC_RELAXED);
	}
	c->ret = 0;
	if (!c->n)
		return;
	c->ret = io_uring_register_buffers(&l->ring, c->bufs, c->n);
	if (c->ret)
		return;
	memcpy(l->bufs, c->bufs, c->n * sizeof(*c->bufs));
	__atomic_store_n(&l->nbufs, c->n, __ATOMIC_RELAXED);
#endif
}

int vmm_evloop_buffers_set(struct vmm_evloop *l, const struct iovec *bufs,
			   unsigned n)
{
	struct bufs_cmd c = { l, bufs, n, 0 };

	if (!l || n > VMM_EVLOOP_MAX_BUFS || (n && !bufs))
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (!bufs[i].iov_len || bufs[i].iov_len > (1ull << 30))
			return -EINVAL;
	vmm_evloop_call(l, buffers_set_cb, &c);
	return c.ret;
}

/* The registered buffer holding [@p, @p+@len), or -1. */
static int buf_index(const struct vmm_evloop *l, const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p;

	for (unsigned i = 0; i < l->nbufs; i++) {
		uintptr_t b = (uintptr_t)l->bufs[i].iov_base;

		if (a >= b && len <= l->bufs[i].iov_len &&
		    a - b <= l->bufs[i].iov_len - len)
			return (int)i;
	}
	return -1;
}

/* ---- registered files ---- */

/* A registered file's value for the operations: -2 - slot. */
#define FIXED_FD(slot) (-2 - (int)(slot))
#define FIXED_SLOT(rfd) ((unsigned)(-2 - (rfd)))

struct file_cmd {
	struct vmm_evloop *l;
	int fd, ret;
};

static void file_register_cb(void *opaque)
{
	struct file_cmd *c = opaque;
	struct vmm_evloop *l = c->l;

	c->ret = c->fd;
#if VMM_HAVE_URING
	for (unsigned i = 0; l->uring && i < l->fixed_slots; i++) {
		if (l->fixed_used & (1ull << i))
			continue;
		if (io_uring_register_files_update(&l->ring, i, &c->fd, 1) == 1) {
			__atomic_or_fetch(&l->fixed_used, 1ull << i,
					  __ATOMIC_RELAXED);
			c->ret = FIXED_FD(i);
		}
		break;
	}
#endif
}

static void file_unregister_cb(void *opaque)
{
	struct file_cmd *c = opaque;
	struct vmm_evloop *l = c->l;
	unsigned i = FIXED_SLOT(c->fd);

	if (i >= l->fixed_slots || !(l->fixed_used & (1ull << i)))
		return;
#if VMM_HAVE_URING
	{
		int none = -1;
		io_uring_register_files_update(&l->ring, i, &none, 1);
	}
#endif
	__atomic_and_fetch(&l->fixed_used, ~(1ull << i), __ATOMIC_RELAXED);
}

int vmm_evloop_file_register(struct vmm_evloop *l, int fd)
{
	struct file_cmd c = { l, fd, fd };

	if (!l || fd < 0)
		return fd;
	vmm_evloop_call(l, file_register_cb, &c);
	return c.ret;
}

void vmm_evloop_file_unregister(struct vmm_evloop *l, int rfd)
{
	struct file_cmd c = { l, rfd, 0 };

	if (!l || rfd > -2)
		return; /* a plain fd */
	vmm_evloop_call(l, file_unregister_cb, &c);
}

/* ---- operations ---- */

static void done_push(struct vmm_evloop *l, struct vmm_evop *op, int res)
{
	op->res = res;
	op->next = NULL;
	if (l->done_tail)
		l->done_tail->next = op;
	else
		l->done_head = op;
	l->done_tail = op;
}

/* The asynchronous operations, and how io_uring names them. */
enum ev_opc { EV_READ, EV_WRITE, EV_READV, EV_WRITEV, EV_FSYNC, EV_FALLOCATE,
	      EV_READ_FIXED, EV_WRITE_FIXED };

/*
 * Queue @op as @opc with the kernel's fd/addr/len/off fields (the
 * io_uring_prep_rw() layout); its completion calls @op->fn.  Returns 1
 * when queued, -EBUSY when the ring is full, or 0 when the loop has no
 * ring (the caller then does the operation synchronously).
 */
static int op_queue(struct vmm_evloop *l, struct vmm_evop *op,
		    enum ev_opc opc, int fd, const void *addr, uint64_t len,
		    uint64_t off)
{
#if VMM_HAVE_URING
	static const uint8_t uring_op[] = {
		[EV_READ] = IORING_OP_READ,   [EV_WRITE] = IORING_OP_WRITE,
		[EV_READV] = IORING_OP_READV, [EV_WRITEV] = IORING_OP_WRITEV,
		[EV_FSYNC] = IORING_OP_FSYNC, [EV_FALLOCATE] = IORING_OP_FALLOCATE,
		[EV_READ_FIXED] = IORING_OP_READ_FIXED,
		[EV_WRITE_FIXED] = IORING_OP_WRITE_FIXED,
	};
	struct io_uring_sqe *sqe;

	if (!l->uring)
		return 0;
	sqe = get_sqe(l);
	if (!sqe)
		return -EBUSY;
	if (fd <= -2) { /* registered: its slot in the fixed-file table */
		io_uring_prep_rw(uring_op[opc], sqe, (int)FIXED_SLOT(fd), addr,
				 (unsigned)len, off);
		sqe->flags |= IOSQE_FIXED_FILE;
		stat_inc(&l->fixed_ops);
	} else {
		io_uring_prep_rw(uring_op[opc], sqe, fd, addr, (unsigned)len,
				 off);
	}
	if (opc == EV_READ_FIXED || opc == EV_WRITE_FIXED) {
		/* the slot op_rw() found */
		sqe->buf_index = (uint16_t)l->buf_slot;
		stat_inc(&l->fixed_buf_ops);
	}
	io_uring_sqe_set_data(sqe, op);
	l->inflight++;
	return 1;
#else
	(void)l, (void)op, (void)opc, (void)fd, (void)addr, (void)len, (void)off;
	return 0;
#endif
}

/* No ring: the synchronous result @r (-1: errno) completes @op after the
 * current callback, as a ring completion would. */
static int op_sync_done(struct vmm_evloop *l, struct vmm_evop *op, long r)
{
	done_push(l, op, r < 0 ? -errno : (int)r);
	return 0;
}

/* Read or write; one iovec goes out as plain READ/WRITE (the kernel then
 * copies no iovec array).  Returns like op_queue(). */
static int op_rw(struct vmm_evloop *l, struct vmm_evop *op, bool wr, int fd,
		 const struct iovec *iov, int iovcnt, off_t off)
{
	if (iovcnt == 1 && iov[0].iov_len <= UINT32_MAX) {
		/* inside a registered buffer: the _FIXED form */
		l->buf_slot = l->nbufs ? buf_index(l, iov[0].iov_base,
						   iov[0].iov_len)
				       : -1;
		if (l->buf_slot >= 0)
			return op_queue(l, op, wr ? EV_WRITE_FIXED
						  : EV_READ_FIXED,
					fd, iov[0].iov_base, iov[0].iov_len,
					(uint64_t)off);
		return op_queue(l, op, wr ? EV_WRITE : EV_READ, fd,
				iov[0].iov_base, iov[0].iov_len, (uint64_t)off);
	}
	return op_queue(l, op, wr ? EV_WRITEV : EV_READV, fd, iov,
			(unsigned)iovcnt, (uint64_t)off);
}

int vmm_evloop_readv(struct vmm_evloop *l, int fd, const struct iovec *iov,
		     int iovcnt, off_t off, struct vmm_evop *op)
{
	int ret;

	if (!l || !op || !op->fn || iovcnt < 0 || (iovcnt && !iov))
		return -EINVAL;
	ret = op_rw(l, op, false, fd, iov, iovcnt, off);
	if (ret)
		return ret < 0 ? ret : 0;
	return op_sync_done(l, op, preadv(fd, iov, iovcnt, off));
}

int vmm_evloop_writev(struct vmm_evloop *l, int fd, const struct iovec *iov,
		      int iovcnt, off_t off, struct vmm_evop *op)
{
	int ret;

	if (!l || !op || !op->fn || iovcnt < 0 || (iovcnt && !iov))
		return -EINVAL;
	ret = op_rw(l, op, true, fd, iov, iovcnt, off);
	if (ret)
		return ret < 0 ? ret : 0;
	return op_sync_done(l, op, pwritev(fd, iov, iovcnt, off));
}

int vmm_evloop_fsync(struct vmm_evloop *l, int fd, struct vmm_evop *op)
{
	int ret;

	if (!l || !op || !op->fn)
		return -EINVAL;
	ret = op_queue(l, op, EV_FSYNC, fd, NULL, 0, 0);
	if (ret)
		return ret < 0 ? ret : 0;
	return op_sync_done(l, op, fsync(fd));
}

int vmm_evloop_fallocate(struct vmm_evloop *l, int fd, int mode, off_t off,
			 off_t len, struct vmm_evop *op)
{
	int ret;

	if (!l || !op || !op->fn)
		return -EINVAL;
	/* the kernel takes the length in addr and the mode in len */
	ret = op_queue(l, op, EV_FALLOCATE, fd, (const void *)(uintptr_t)len,
		       (unsigned)mode, (uint64_t)off);
	if (ret)
		return ret < 0 ? ret : 0;
	return op_sync_done(l, op, fallocate(fd, mode, off, len));
}

/*
 * Timers use the same machinery in both implementations: a heap-allocated
 * record with a deadline, kept in a sorted list; the loop sleeps until the
 * first deadline (poll timeout / IORING_OP_TIMEOUT would need the timespec
 * to outlive the call, which the list record gives us too).
 */
int vmm_evloop_timer(struct vmm_evloop *l, uint64_t ns, struct vmm_evop *op)
{
	struct ptimer *t, **pp;

	if (!l || !op || !op->fn)
		return -EINVAL;
	t = ev_alloc(l, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->deadline = mono_ns() + ns;
	t->op = op;
	for (pp = &l->timers; *pp && (*pp)->deadline <= t->deadline;
	     pp = &(*pp)->next)
		;
	t->next = *pp;
	*pp = t;
	return 0;
}

/* Milliseconds until the first timer (-1 none), for the sleep. */
static int timer_timeout_ms(struct vmm_evloop *l)
{
	uint64_t now;

	if (!l->timers)
		return -1;
	now = mono_ns();
	if (l->timers->deadline <= now)
		return 0;
	return (int)((l->timers->deadline - now + 999999) / 1000000);
}

static void run_timers(struct vmm_evloop *l)
{
	uint64_t now = mono_ns();

	while (l->timers && l->timers->deadline <= now) {
		struct ptimer *t = l->timers;
		l->timers = t->next;
		done_push(l, t->op, 0);
		ev_free(l, t);
	}
}

static void run_done(struct vmm_evloop *l)
{
	while (l->done_head) {
		struct vmm_evop *op = l->done_head;
		l->done_head = op->next;
		if (!l->done_head)
			l->done_tail = NULL;
		stat_inc(&l->completions);
		op->fn(op->opaque, op->res);
	}
}

/* ---- the loop thread ---- */

static bool quiescent(struct vmm_evloop *l)
{
	return l->stopping && !l->inflight && !l->done_head;
}

static void stop_watches(struct vmm_evloop *l)
{
	for (struct vmm_ev_watch *w = l->watches, *n; w; w = n) {
		n = w->next;
		if (!w->dead)
			watch_kill(l, w);
	}
}

#if VMM_HAVE_URING
static void uring_loop(struct vmm_evloop *l)
{
	bool stopped = false;

	for (;;) {
		struct io_uring_cqe *cqe;
		struct __kernel_timespec ts;
		unsigned head, n = 0;
		int tmo = timer_timeout_ms(l);

		if (l->stopping && !stopped) {
			stop_watches(l);
			stopped = true;
		}
		if (quiescent(l))
			break;
		if (l->done_head) {
			/* work queued already: no waiting; with DEFER_TASKRUN
			 * completions are reaped only by an enter that asks
			 * for events */
			if (l->ring_flags & IORING_SETUP_DEFER_TASKRUN) {
				stat_inc(&l->enters);
				io_uring_submit_and_get_events(&l->ring);
			} else {
				ring_submit(l);
			}
		} else if (tmo >= 0) {
			ts.tv_sec = tmo / 1000;
			ts.tv_nsec = (long long)(tmo % 1000) * 1000000;
			ring_submit(l);
			stat_inc(&l->enters);
			io_uring_wait_cqe_timeout(&l->ring, &cqe, &ts);
		} else {
			stat_inc(&l->enters);
			io_uring_submit_and_wait(&l->ring, 1);
		}
		stat_inc(&l->wakeups);
		io_uring_for_each_cqe(&l->ring, head, cqe)
		{
			uint64_t ud = io_uring_cqe_get_data64(cqe);
			int res = cqe->res;

			n++;
			if (!ud)
				continue;
			l->inflight--;
			if (ud & TAG_WATCH) {
				struct vmm_ev_watch *w =
					(void *)(uintptr_t)(ud & ~TAG_WATCH);
				w->polling = false;
				if (w->dead) {
					watch_unlink_free(l, w);
					continue;
				}
				if (res < 0) {
					/* -ECANCELED et al.: re-arm */
					watch_submit(w);
					continue;
				}
				watch_fire(l, w, (unsigned)res);
			} else {
				struct vmm_evop *op = (void *)(uintptr_t)ud;
				stat_inc(&l->completions);
				op->fn(op->opaque, res);
			}
		}
		io_uring_cq_advance(&l->ring, n);
		run_timers(l);
		run_done(l);
	}
}

/*
 * Create the ring on the loop thread, the one issuer: the most economical
 * setup this kernel accepts (EINVAL: flags it does not know).  Watches
 * added before get their POLL_ADD now.
 */
static void uring_setup(struct vmm_evloop *l)
{
	static const unsigned setups[] = {
#if defined(IORING_SETUP_SINGLE_ISSUER) && defined(IORING_SETUP_DEFER_TASKRUN)
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
#endif
#if defined(IORING_SETUP_COOP_TASKRUN) && defined(IORING_SETUP_TASKRUN_FLAG)
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
#endif
		0,
	};

	for (size_t i = 0; i < sizeof(setups) / sizeof(setups[0]); i++) {
		struct io_uring_params p;

		memset(&p, 0, sizeof(p));
		p.flags = setups[i];
		if (io_uring_queue_init_params(256, &l->ring, &p) == 0) {
			l->uring = true;
			l->ring_flags = setups[i];
			break;
		}
	}
	if (!l->uring)
		return;
	/* the registered-file table (sparse: slots filled later) */
	if (io_uring_register_files_sparse(&l->ring, 64) == 0)
		l->fixed_slots = 64;
	for (struct vmm_ev_watch *w = l->watches; w; w = w->next)
		watch_submit(w);
}
#endif

static void poll_loop(struct vmm_evloop *l)
{
	bool stopped = false;

	for (;;) {
		struct pollfd *pfd = l->pfd;
		struct vmm_ev_watch **pw = l->pw;
		size_t n = 0;
		int tmo, r;

		if (l->stopping && !stopped) {
			stop_watches(l);
			stopped = true;
		}
		if (quiescent(l))
			break;
		/* every live watch has its slot (reserve_slot()) */
		for (struct vmm_ev_watch *w = l->watches; w; w = w->next) {
			if (w->dead || !w->armed || n == l->cap)
				continue;
			pfd[n].fd = w->fd;
			pfd[n].events = w->events;
			pfd[n].revents = 0;
			pw[n++] = w;
		}
		tmo = l->done_head ? 0 : timer_timeout_ms(l);
		r = poll(pfd, n, tmo);
		stat_inc(&l->wakeups);
		for (int i = 0; r > 0 && i < (int)n; i++) {
			if (pfd[i].revents)
				watch_fire(l, pw[i], (unsigned)pfd[i].revents);
			/* a callback may have freed later watches: only
			 * dead ones, which are kept until here */
		}
		run_timers(l);
		run_done(l);
		ev_free(l, l->retired_pfd);
		ev_free(l, l->retired_pw);
		l->retired_pfd = NULL;
		l->retired_pw = NULL;
		/* free watches killed during this round */
		for (struct vmm_ev_watch *w = l->watches, *nx; w; w = nx) {
			nx = w->next;
			if (w->dead && !w->in_cb)
				watch_unlink_free(l, w);
		}
	}
}

static void *loop_main(void *arg)
{
	struct vmm_evloop *l = arg;

	sigset_t pipe_set;

	pthread_setname_np(pthread_self(), l->name);
	/* a write to a closed pipe or socket (UART out_fd, a vhost-user
	 * front-end gone) is EPIPE here, never a process-killing SIGPIPE;
	 * a thread-directed SIGPIPE left pending dies with the thread */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
#if VMM_HAVE_URING
	uring_setup(l);
#endif
	pthread_mutex_lock(&l->lock);
	l->ready = true;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
#if VMM_HAVE_URING
	if (l->uring) {
		uring_loop(l);
		io_uring_queue_exit(&l->ring);
		return NULL;
	}
#endif
	poll_loop(l);
	return NULL;
}

int vmm_evloop_create(const struct vmm_allocator *a, const char *name,
		      struct vmm_evloop **out)
{
	struct vmm_evloop *l;
	int ret;

	if (!out)
		return -EINVAL;
	l = a ? vmm__alloc_with(a, sizeof(*l)) : calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	if (a) {
		l->a = *a;
		l->have_alloc = true;
	}
	snprintf(l->name, sizeof(l->name), "%s", name ? name : "vmm-io");
	l->ctl_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->ctl_fd < 0) {
		ret = -errno;
		goto err_free;
	}
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	/* listed now, polled once the thread has its ring */
	ret = vmm_evloop_watch(l, l->ctl_fd, ctl_cb, l, true, &l->ctl_watch);
	if (ret)
		goto err_sync;
	ret = -pthread_create(&l->thread, NULL, loop_main, l);
	if (ret)
		goto err_sync;
	pthread_mutex_lock(&l->lock);
	l->started = true;
	while (!l->ready)
		pthread_cond_wait(&l->cond, &l->lock);
	pthread_mutex_unlock(&l->lock);
	*out = l;
	return 0;

err_sync:
	for (struct vmm_ev_watch *w = l->watches, *n; w; w = n) {
		n = w->next;
		ev_free(l, w);
	}
	ev_free(l, l->pfd);
	ev_free(l, l->pw);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->cond);
	close(l->ctl_fd);
err_free:
	ev_free(l, l);
	return ret;
}

void vmm_evloop_destroy(struct vmm_evloop *l)
{
	struct cmd c = { .kind = CMD_STOP };

	if (!l)
		return;
	post_cmd(l, &c);
	pthread_join(l->thread, NULL);
	l->started = false;
	while (l->timers) {
		struct ptimer *t = l->timers;
		l->timers = t->next;
		ev_free(l, t);
	}
	for (struct vmm_ev_watch *w = l->watches, *n; w; w = n) {
		n = w->next;
		ev_free(l, w);
	}
	/* the thread closed its ring */
	ev_free(l, l->pfd);
	ev_free(l, l->pw);
	ev_free(l, l->retired_pfd);
	ev_free(l, l->retired_pw);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->cond);
	close(l->ctl_fd);
	ev_free(l, l);
}
