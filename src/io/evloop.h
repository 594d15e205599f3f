/* SPDX-License-Identifier: MIT */
/*
 * evloop.h - the I/O event loop device back-ends run on: one thread, fd
 * watches (eventfds, tap, console input), asynchronous block I/O and timers.
 *
 * Built on liburing when the library has it (-Dio_uring), else on poll()
 * with the I/O done synchronously on the loop thread.  The loop sleeps in
 * the kernel when there is nothing to do: no busy polling.
 *
 * One loop round: wait (or poll), handle every completion and watch event
 * that is ready, run timers.  New submissions of a round go to the kernel
 * in one io_uring_enter() at the start of the next.
 *
 * Threading: every callback runs on the loop thread.  I/O submissions
 * (vmm_evloop_readv() ...) and vmm_evloop_watch_arm() are made from the
 * loop thread only (from inside callbacks).  vmm_evloop_watch(),
 * vmm_evloop_unwatch() and vmm_evloop_call() may be called from any
 * thread; from another thread they wait until the loop has applied them,
 * so when vmm_evloop_unwatch() returns the watch's callback is not running
 * and never runs again.
 *
 * Nothing here knows a VM: a vhost-user back-end process uses the same loop.
 */
#ifndef LIBVMM_IO_EVLOOP_H
#define LIBVMM_IO_EVLOOP_H

#include <libvmm/common.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct vmm_evloop;
struct vmm_ev_watch;

/* Completion of an asynchronous operation: @res is the syscall result
 * (bytes, 0) or a negative errno. */
typedef void (*vmm_ev_done_fn)(void *opaque, int res);
/* A watched fd became ready (or hung up: @events has POLLHUP/POLLERR). */
typedef void (*vmm_ev_watch_fn)(void *opaque, int fd, unsigned events);
typedef void (*vmm_ev_call_fn)(void *opaque);

/*
 * struct vmm_evop - one asynchronous operation, storage owned by the
 * caller (typically embedded in its request) until @fn has been called.
 * An op is in flight from its submission until @fn runs: it must not be
 * submitted again meanwhile (the poll() loop links completions through
 * @next, so a second submission corrupts its completion list).
 */
struct vmm_evop {
	vmm_ev_done_fn fn;
	void *opaque;
	struct vmm_evop *next; /* internal */
	int res;               /* internal */
};

/*
 * vmm_evloop_create() - start a loop thread.  @a may be NULL (libc).
 * @name names the thread (up to 15 characters).  Returns 0 or -errno.
 */
int vmm_evloop_create(const struct vmm_allocator *a, const char *name,
		      struct vmm_evloop **out);

/*
 * vmm_evloop_destroy() - stop the thread after in-flight I/O completed
 * (completions still run), free every watch.  Not from the loop thread.
 */
void vmm_evloop_destroy(struct vmm_evloop *l);

/* vmm_evloop_uses_uring() - true when the io_uring implementation runs. */
bool vmm_evloop_uses_uring(const struct vmm_evloop *l);

/* vmm_evloop_on_thread() - true when called on @l's thread. */
bool vmm_evloop_on_thread(const struct vmm_evloop *l);

/*
 * vmm_evloop_watch() - call @fn each time @fd is readable.  The watch is
 * armed at once when @armed, else after vmm_evloop_watch_arm().  After each
 * callback it re-arms itself unless the callback called
 * vmm_evloop_watch_arm(w, false) (flow control: e.g. no receive buffers).
 * Returns 0 or -errno; *@out receives the handle.
 */
int vmm_evloop_watch(struct vmm_evloop *l, int fd, vmm_ev_watch_fn fn,
		     void *opaque, bool armed, struct vmm_ev_watch **out);

/*
 * vmm_evloop_watch_events() - vmm_evloop_watch() for @events POLLIN
 * (readable) or POLLOUT (writable: e.g. a UART's output fd, armed only
 * while bytes wait).  The slot the poll() implementation needs is
 * reserved here, so an allocation failure is this call's -ENOMEM and the
 * loop thread itself never allocates.  -EINVAL for other @events.
 */
int vmm_evloop_watch_events(struct vmm_evloop *l, int fd, short events,
			    vmm_ev_watch_fn fn, void *opaque, bool armed,
			    struct vmm_ev_watch **out);

/* vmm_evloop_watch_arm() - loop thread only: (dis)arm @w. */
void vmm_evloop_watch_arm(struct vmm_ev_watch *w, bool on);

/* vmm_evloop_unwatch() - remove @w (see above).  NULL is a no-op. */
void vmm_evloop_unwatch(struct vmm_evloop *l, struct vmm_ev_watch *w);

/*
 * vmm_evloop_call() - run @fn(@opaque) on the loop thread and wait for it
 * (runs it directly when already there).  A barrier: everything the loop
 * had pending before is handled first.
 */
int vmm_evloop_call(struct vmm_evloop *l, vmm_ev_call_fn fn, void *opaque);

/*
 * Asynchronous file operations, loop thread only.  @op->fn is called once
 * with the result, on the loop thread, never from inside the submitting
 * call.  They return 0 (submitted) or -errno (not submitted; no callback).
 */
int vmm_evloop_readv(struct vmm_evloop *l, int fd, const struct iovec *iov,
		     int iovcnt, off_t off, struct vmm_evop *op);
int vmm_evloop_writev(struct vmm_evloop *l, int fd, const struct iovec *iov,
		      int iovcnt, off_t off, struct vmm_evop *op);
int vmm_evloop_fsync(struct vmm_evloop *l, int fd, struct vmm_evop *op);
int vmm_evloop_fallocate(struct vmm_evloop *l, int fd, int mode, off_t off,
			 off_t len, struct vmm_evop *op);
/*
 * Registered files (io_uring's fixed-file table, 64 slots per loop):
 * vmm_evloop_file_register() returns the value to pass as @fd to the
 * operations above instead of @fd (the kernel then skips its per-operation
 * file lookup and reference count), or @fd itself when the loop cannot
 * register it (no io_uring, table full or unsupported).  The table holds a
 * reference: vmm_evloop_file_unregister() (with the value returned; a
 * plain fd is a no-op) once nothing is in flight on it, before or after
 * closing @fd.  Both run on the loop thread (called from elsewhere, they
 * wait for it).
 */
int vmm_evloop_file_register(struct vmm_evloop *l, int fd);
void vmm_evloop_file_unregister(struct vmm_evloop *l, int rfd);

/*
 * Registered buffers (io_uring's fixed-buffer table): after
 * vmm_evloop_buffers_set(), a read or write with one iovec that lies
 * inside one of the @n host ranges goes out as READ_FIXED / WRITE_FIXED
 * (the kernel then skips pinning and looking up the pages per operation);
 * everything else as before.  The call replaces the loop's table (@n = 0
 * empties it); at most VMM_EVLOOP_MAX_BUFS ranges of at most 1 GiB each.
 * The kernel pins the ranges - and so populates them - while they are
 * registered; operations in flight keep the old ones alive.  Returns 0,
 * -EOPNOTSUPP without io_uring, -EINVAL for a bad table, or the kernel's
 * error (the table is then empty).  Any thread (waits for the loop).
 */
#define VMM_EVLOOP_MAX_BUFS 32
int vmm_evloop_buffers_set(struct vmm_evloop *l, const struct iovec *bufs,
			   unsigned n);

/* vmm_evloop_timer() - complete @op after @ns nanoseconds (res 0). */
int vmm_evloop_timer(struct vmm_evloop *l, uint64_t ns, struct vmm_evop *op);

/*
 * Counters, for tests and benchmarks: rounds of the loop thread (each
 * after a wait), operations completed, watch callbacks,
 * io_uring_enter() calls the loop made; @ring_flags: the IORING_SETUP_*
 * flags the ring was created with (0 also without io_uring).
 */
struct vmm_evloop_stats {
	uint64_t wakeups, completions, watch_events;
	uint64_t enters;
	uint32_t ring_flags;
	uint32_t fixed_files;   /* registered now */
	uint64_t fixed_ops;     /* operations submitted on a registered file */
	uint32_t fixed_bufs;    /* registered buffers now */
	uint64_t fixed_buf_ops; /* READ_FIXED / WRITE_FIXED submitted */
};
void vmm_evloop_stats(struct vmm_evloop *l, struct vmm_evloop_stats *st);

#endif
