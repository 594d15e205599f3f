/* SPDX-License-Identifier: MIT */
/*
 * test_evloop.c - the device back-ends' event loop: file operations (one
 * and several iovecs, fsync, fallocate, errors) with their completions on
 * the loop thread, and the counters; the ring's set-up flags (DEFER_TASKRUN
 * where the kernel has it) and a chain of operations that keeps the loop
 * from sleeping while other threads post calls (no completion stranded).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "io/evloop.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

struct ctx;
struct opref {
	struct ctx *c;
	int i;
};

struct ctx {
	struct vmm_evloop *l;
	int fd;
	int opfd;                /* what the operations get: fd or registered */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int pending;             /* operations not completed yet */
	struct vmm_evop op[8];
	struct opref ref[8];
	int res[8];
};

static void op_done(void *opaque, int res)
{
	struct opref *ref = opaque;
	struct ctx *c = ref->c;

	assert_int_equal(c->res[ref->i], INT32_MIN); /* once */
	c->res[ref->i] = res;
	assert_true(vmm_evloop_on_thread(c->l));
	pthread_mutex_lock(&c->lock);
	c->pending--;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static void ctx_init(struct ctx *c)
{
	char path[] = "/tmp/libvmm-evloop-XXXXXX";

	memset(c, 0, sizeof(*c));
	assert_int_equal(vmm_evloop_create(NULL, "evl-test", &c->l), 0);
	c->fd = mkstemp(path);
	assert_true(c->fd >= 0);
	c->opfd = c->fd;
	unlink(path);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	for (int i = 0; i < 8; i++) {
		c->ref[i] = (struct opref){ c, i };
		c->op[i].fn = op_done;
		c->op[i].opaque = &c->ref[i];
		c->res[i] = INT32_MIN;
	}
}

static void nothing(void *opaque)
{
	(void)opaque;
}

static void ctx_wait(struct ctx *c)
{
	pthread_mutex_lock(&c->lock);
	while (c->pending)
		pthread_cond_wait(&c->cond, &c->lock);
	pthread_mutex_unlock(&c->lock);
	/* a barrier: the loop finished the round of the last completion */
	assert_int_equal(vmm_evloop_call(c->l, nothing, NULL), 0);
}

static void ctx_fini(struct ctx *c)
{
	vmm_evloop_destroy(c->l);
	close(c->fd);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
}

/* ---- file operations ---- */

static char wa[4096], wb[1000], wc[3096];

struct rw_args {
	struct ctx *c;
	struct iovec iov[3];
	int step;
};

static void rw_step(void *opaque)
{
	struct rw_args *a = opaque;
	struct ctx *c = a->c;

	switch (a->step) {
	case 0: /* one iovec (plain WRITE), then three (WRITEV) */
		a->iov[0] = (struct iovec){ wa, sizeof(wa) };
		c->pending = 2;
		assert_int_equal(vmm_evloop_writev(c->l, c->opfd, a->iov, 1, 0,
						   &c->op[0]), 0);
		a->iov[1] = (struct iovec){ wb, sizeof(wb) };
		a->iov[2] = (struct iovec){ wc, sizeof(wc) };
		assert_int_equal(vmm_evloop_writev(c->l, c->opfd, &a->iov[1], 2,
						   4096, &c->op[1]), 0);
		/* completions never run inside the submitting call */
		assert_int_equal(c->res[0], INT32_MIN);
		break;
	case 1:
		c->pending = 2;
		assert_int_equal(vmm_evloop_fsync(c->l, c->opfd, &c->op[2]), 0);
		assert_int_equal(vmm_evloop_fallocate(c->l, c->opfd,
						      FALLOC_FL_KEEP_SIZE |
							      FALLOC_FL_PUNCH_HOLE,
						      0, 4096, &c->op[3]),
				 0);
		break;
	case 2: /* read back: one iovec, then three */
		memset(wa, 0x55, sizeof(wa));
		memset(wb, 0x55, sizeof(wb));
		memset(wc, 0x55, sizeof(wc));
		c->pending = 3;
		a->iov[0] = (struct iovec){ wb, sizeof(wb) };
		assert_int_equal(vmm_evloop_readv(c->l, c->opfd, a->iov, 1, 4096,
						  &c->op[4]), 0);
		a->iov[1] = (struct iovec){ wc, sizeof(wc) };
		a->iov[2] = (struct iovec){ wa, sizeof(wa) };
		assert_int_equal(vmm_evloop_readv(c->l, c->opfd, &a->iov[1], 2,
						  4096 + sizeof(wb), &c->op[5]),
				 0);
		/* a bad fd fails in its completion, not at submission */
		assert_int_equal(vmm_evloop_readv(c->l, -1, a->iov, 1, 0,
						  &c->op[6]), 0);
		break;
	}
}

static void file_ops(bool registered)
{
	struct vmm_evloop_stats st;
	struct rw_args a = { 0 };
	struct ctx c;

	ctx_init(&c);
	a.c = &c;
	if (registered) {
		/* io_uring's fixed-file table: a value no plain fd has, that
		 * works for every operation; without io_uring the fd itself */
		c.opfd = vmm_evloop_file_register(c.l, c.fd);
		vmm_evloop_stats(c.l, &st);
		if (vmm_evloop_uses_uring(c.l)) {
			assert_true(c.opfd <= -2);
			assert_int_equal(st.fixed_files, 1);
		} else {
			assert_int_equal(c.opfd, c.fd);
			assert_int_equal(st.fixed_files, 0);
		}
	}
	for (unsigned i = 0; i < sizeof(wa); i++)
		wa[i] = (char)(i * 7 + 1);
	for (unsigned i = 0; i < sizeof(wb); i++)
		wb[i] = (char)(i * 11 + 2);
	for (unsigned i = 0; i < sizeof(wc); i++)
		wc[i] = (char)(i * 13 + 3);
	for (a.step = 0; a.step < 3; a.step++) {
		if (a.step == 2) {
			char expect_b[1000], expect_c[3096];

			for (unsigned i = 0; i < sizeof(wb); i++)
				expect_b[i] = (char)(i * 11 + 2);
			for (unsigned i = 0; i < sizeof(wc); i++)
				expect_c[i] = (char)(i * 13 + 3);
			assert_int_equal(vmm_evloop_call(c.l, rw_step, &a), 0);
			ctx_wait(&c);
			assert_memory_equal(wb, expect_b, sizeof(wb));
			assert_memory_equal(wc, expect_c, sizeof(wc));
			/* the second iovec read past the end of file: 0 bytes */
			assert_int_equal(c.res[4], 1000);
			assert_int_equal(c.res[5], 3096);
			assert_int_equal(c.res[6], -EBADF);
			break;
		}
		assert_int_equal(vmm_evloop_call(c.l, rw_step, &a), 0);
		ctx_wait(&c);
	}
	assert_int_equal(c.res[0], 4096);
	assert_int_equal(c.res[1], 4096);
	assert_int_equal(c.res[2], 0);
	assert_true(c.res[3] == 0 || c.res[3] == -EOPNOTSUPP);
	/* the punched hole reads as zeros (when the file system punches) */
	if (c.res[3] == 0) {
		char z[4096], zero[4096] = { 0 };
		assert_int_equal(pread(c.fd, z, sizeof(z), 0), (ssize_t)sizeof(z));
		assert_memory_equal(z, zero, sizeof(z));
	}
	vmm_evloop_stats(c.l, &st);
	assert_true(st.completions >= 7);
	/* 6 operations on the registered file (the bad-fd read is not) */
	assert_int_equal(st.fixed_ops, registered && c.opfd != c.fd ? 6 : 0);
	if (registered) {
		vmm_evloop_file_unregister(c.l, c.opfd);
		vmm_evloop_stats(c.l, &st);
		assert_int_equal(st.fixed_files, 0);
		/* the slot is free again */
		c.opfd = vmm_evloop_file_register(c.l, c.fd);
		vmm_evloop_file_unregister(c.l, c.opfd);
		vmm_evloop_file_unregister(c.l, c.fd); /* plain: no-op */
	}
	if (!vmm_evloop_uses_uring(c.l))
		assert_int_equal(st.ring_flags, 0);
	/* bad arguments: refused, no callback */
	assert_int_equal(vmm_evloop_readv(c.l, c.fd, NULL, 1, 0, &c.op[7]),
			 -EINVAL);
	assert_int_equal(vmm_evloop_fsync(NULL, c.fd, &c.op[7]), -EINVAL);
	ctx_fini(&c);
}

static void test_file_ops(void **state)
{
	(void)state;
	file_ops(false);
}

/* The same through a registered file (IOSQE_FIXED_FILE). */
static void test_file_ops_registered(void **state)
{
	(void)state;
	file_ops(true);
}

/* ---- POLLOUT watches ---- */

struct wr {
	atomic_int fired;
	struct vmm_ev_watch *w;
};

static void wr_cb(void *opaque, int fd, unsigned events)
{
	struct wr *r = opaque;

	assert_true(events & POLLOUT);
	atomic_fetch_add(&r->fired, 1);
	vmm_evloop_watch_arm(r->w, false); /* once */
}

static void arm_cb(void *opaque)
{
	struct wr *r = opaque;

	vmm_evloop_watch_arm(r->w, true);
}

/* A writable watch fires when armed and only then; bad event masks are
 * refused. */
static void test_pollout_watch(void **state)
{
	struct vmm_evloop *l;
	struct vmm_ev_watch *w;
	struct wr r = { 0 };
	int p[2];

	assert_int_equal(vmm_evloop_create(NULL, "t-pollout", &l), 0);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(vmm_evloop_watch_events(l, p[1], POLLIN | POLLOUT,
						 wr_cb, &r, true, &w), -EINVAL);
	assert_int_equal(vmm_evloop_watch_events(l, p[1], POLLOUT, wr_cb, &r,
						 false, &r.w), 0);
	vmm_evloop_call(l, arm_cb, &r); /* barrier: nothing fired unarmed */
	for (int i = 0; i < 5000 && !atomic_load(&r.fired); i++)
		usleep(1000);
	assert_int_equal(atomic_load(&r.fired), 1);
	vmm_evloop_unwatch(l, r.w);
	vmm_evloop_destroy(l);
	close(p[0]);
	close(p[1]);
}

/* ---- DEFER_TASKRUN ---- */

/* Does this kernel accept SINGLE_ISSUER | DEFER_TASKRUN?  (A throwaway
 * ring made with the raw system call.) */
static bool kernel_has_defer(void)
{
	struct io_uring_params p;
	int fd;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	fd = (int)syscall(__NR_io_uring_setup, 4, &p);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

struct chain {
	struct vmm_evloop *l;
	int fd;
	char buf[512];
	struct iovec iov;
	struct vmm_evop op;
	struct vmm_evop *tickv; /* one timer op per step: an op is not
				 * queued again while it is in flight */
	atomic_int left, ticks;
	atomic_int calls;
};

static void chain_tick(void *opaque, int res)
{
	struct chain *ch = opaque;

	(void)res;
	atomic_fetch_add(&ch->ticks, 1);
}

/* Each completion queues the next read and a 0 ns timer: the timer's
 * completion is pending when the loop goes round, so the loop submits
 * without sleeping - and must still reap the deferred completions. */
static void chain_step(void *opaque, int res)
{
	struct chain *ch = opaque;

	assert_int_equal(res, (int)sizeof(ch->buf));
	if (atomic_fetch_sub(&ch->left, 1) == 1)
		return;
	assert_int_equal(vmm_evloop_timer(ch->l, 0,
					  &ch->tickv[atomic_load(&ch->left)]), 0);
	assert_int_equal(vmm_evloop_readv(ch->l, ch->fd, &ch->iov, 1,
					  (off_t)(atomic_load(&ch->left) % 8) * 512,
					  &ch->op), 0);
}

static void chain_start(void *opaque)
{
	struct chain *ch = opaque;

	assert_int_equal(vmm_evloop_readv(ch->l, ch->fd, &ch->iov, 1, 0,
					  &ch->op), 0);
}

static void chain_call(void *opaque)
{
	struct chain *ch = opaque;

	atomic_fetch_add(&ch->calls, 1);
}

static void *chain_poster(void *opaque)
{
	struct chain *ch = opaque;

	while (atomic_load(&ch->left) > 0)
		vmm_evloop_call(ch->l, chain_call, ch);
	return NULL;
}

static void test_defer_taskrun(void **state)
{
	struct chain ch;
	struct vmm_evloop_stats st;
	char path[] = "/tmp/libvmm-evloop-XXXXXX", data[4096];
	pthread_t t;
	int waited = 0;

	(void)state;
	memset(&ch, 0, sizeof(ch));
	assert_int_equal(vmm_evloop_create(NULL, "t-defer", &ch.l), 0);
	vmm_evloop_stats(ch.l, &st);
	if (vmm_evloop_uses_uring(ch.l) && kernel_has_defer())
		assert_int_equal(st.ring_flags, IORING_SETUP_SINGLE_ISSUER |
						 IORING_SETUP_DEFER_TASKRUN);
	ch.fd = mkstemp(path);
	assert_true(ch.fd >= 0);
	unlink(path);
	memset(data, 0x5a, sizeof(data));
	assert_int_equal(write(ch.fd, data, sizeof(data)), (ssize_t)sizeof(data));
	ch.iov.iov_base = ch.buf;
	ch.iov.iov_len = sizeof(ch.buf);
	ch.op.fn = chain_step;
	ch.op.opaque = &ch;
	ch.tickv = calloc(20000, sizeof(*ch.tickv));
	assert_non_null(ch.tickv);
	for (unsigned i = 0; i < 20000; i++) {
		ch.tickv[i].fn = chain_tick;
		ch.tickv[i].opaque = &ch;
	}
	atomic_store(&ch.left, 20000);
	assert_int_equal(pthread_create(&t, NULL, chain_poster, &ch), 0);
	assert_int_equal(vmm_evloop_call(ch.l, chain_start, &ch), 0);
	/* 20000 reads of the page cache take a fraction of a second; a
	 * stranded completion would leave the chain stuck */
	while (atomic_load(&ch.left) > 0 && waited < 30000) {
		usleep(1000);
		waited++;
	}
	assert_int_equal(atomic_load(&ch.left), 0);
	pthread_join(t, NULL);
	vmm_evloop_destroy(ch.l); /* after the last tick */
	assert_true(atomic_load(&ch.ticks) >= 19999 - 1);
	assert_true(atomic_load(&ch.calls) > 0);
	close(ch.fd);
	free(ch.tickv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_ops),
		cmocka_unit_test(test_file_ops_registered),
		cmocka_unit_test(test_pollout_watch),
		cmocka_unit_test(test_defer_taskrun),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
