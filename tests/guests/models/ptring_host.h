/* SPDX-License-Identifier: MIT */
/*
 * ptring_host.h - the host side of the passthrough ring (ptring.h): a
 * thread that polls the shared region and services console bytes and block
 * requests (pread/pwrite on a file).  Header-only so the tests and
 * bench/vmm-bench.c share it; public API and libc only.  Every value the
 * guest writes is checked before use.
 */
#ifndef TESTS_GUESTS_MODELS_PTRING_HOST_H
#define TESTS_GUESTS_MODELS_PTRING_HOST_H

#include "ptring.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct ptring_server {
	uint8_t *base;             /* the host's own mapping of the region */
	struct ptring_hdr *hdr;
	int blk_fd;                /* -1: block requests fail */
	pthread_t thread;
	atomic_bool stop;
	bool started;
	char *con;                 /* console bytes kept (if con_keep) */
	size_t con_len, con_keep;
	uint64_t con_bytes, requests, bad_requests;
};

static inline void ptring_serve_block(struct ptring_server *s)
{
	struct ptring_hdr *h = s->hdr;
	uint32_t seq = __atomic_load_n(&h->blk_seq, __ATOMIC_ACQUIRE);
	uint32_t cmd = h->blk_cmd, count = h->blk_count;
	uint64_t sector = h->blk_sector;
	uint8_t *buf = s->base + PTRING_BLK_OFF;
	size_t len = (size_t)count * 512u, done = 0;
	uint32_t st = PTRING_ST_ERR;

	s->requests++;
	if (s->blk_fd >= 0 && (cmd == PTRING_CMD_READ || cmd == PTRING_CMD_WRITE) &&
	    count >= 1 && count <= PTRING_BLK_SIZE / 512u &&
	    sector < (1ull << 40)) {
		off_t off = (off_t)(sector * 512u);
		while (done < len) {
			ssize_t n = cmd == PTRING_CMD_READ
				? pread(s->blk_fd, buf + done, len - done, off + (off_t)done)
				: pwrite(s->blk_fd, buf + done, len - done, off + (off_t)done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			done += (size_t)n;
		}
		if (done == len)
			st = PTRING_ST_OK;
	} else {
		s->bad_requests++;
	}
	h->blk_status = st;
	__atomic_store_n(&h->blk_done, seq, __ATOMIC_RELEASE);
}

static inline void ptring_serve_console(struct ptring_server *s)
{
	struct ptring_hdr *h = s->hdr;
	uint32_t head = __atomic_load_n(&h->con_head, __ATOMIC_ACQUIRE);
	uint32_t tail = h->con_tail;
	uint32_t n = head - tail;

	if (n > PTRING_CON_SIZE) {
		/* a broken producer: resynchronise, count it */
		s->bad_requests++;
		__atomic_store_n(&h->con_tail, head, __ATOMIC_RELEASE);
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint8_t c = s->base[PTRING_CON_OFF + ((tail + i) & (PTRING_CON_SIZE - 1))];
		if (s->con && s->con_len < s->con_keep)
			s->con[s->con_len++] = (char)c;
	}
	s->con_bytes += n;
	__atomic_store_n(&h->con_tail, head, __ATOMIC_RELEASE);
}

static inline void *ptring_thread(void *opaque)
{
	struct ptring_server *s = opaque;
	unsigned idle = 0;

	while (!atomic_load(&s->stop)) {
		bool work = false;
		if (__atomic_load_n(&s->hdr->con_head, __ATOMIC_ACQUIRE) !=
		    s->hdr->con_tail) {
			ptring_serve_console(s);
			work = true;
		}
		if (__atomic_load_n(&s->hdr->blk_seq, __ATOMIC_ACQUIRE) !=
		    s->hdr->blk_done) {
			ptring_serve_block(s);
			work = true;
		}
		/* a device polls: spin, but let others run now and then so
		 * an overloaded host does not starve the vCPU */
		if (work)
			idle = 0;
		else if ((++idle & 0xffff) == 0)
			sched_yield();
		else
			__builtin_ia32_pause();
	}
	return NULL;
}

/*
 * ptring_server_start() - map @memfd (PTRING_MAP_SIZE bytes), initialise
 * the header and start serving.  @con_keep: console bytes to keep in
 * s->con (0 = count only).  Returns 0 or a negative errno.
 */
static inline int ptring_server_start(struct ptring_server *s, int memfd,
				      int blk_fd, size_t con_keep)
{
	memset(s, 0, sizeof(*s));
	s->blk_fd = blk_fd;
	s->base = mmap(NULL, PTRING_MAP_SIZE, PROT_READ | PROT_WRITE,
		       MAP_SHARED, memfd, 0);
	if (s->base == MAP_FAILED)
		return -errno;
	s->hdr = (struct ptring_hdr *)s->base;
	memset(s->hdr, 0, sizeof(*s->hdr));
	s->hdr->magic = PTRING_MAGIC;
	if (con_keep) {
		s->con = malloc(con_keep);
		if (!s->con) {
			munmap(s->base, PTRING_MAP_SIZE);
			return -ENOMEM;
		}
		s->con_keep = con_keep;
	}
	atomic_store(&s->stop, false);
	if (pthread_create(&s->thread, NULL, ptring_thread, s)) {
		free(s->con);
		munmap(s->base, PTRING_MAP_SIZE);
		return -EAGAIN;
	}
	s->started = true;
	return 0;
}

static inline void ptring_server_stop(struct ptring_server *s)
{
	if (!s->started)
		return;
	atomic_store(&s->stop, true);
	pthread_join(s->thread, NULL);
	/* anything the guest left behind */
	if (s->hdr->con_head != s->hdr->con_tail)
		ptring_serve_console(s);
	munmap(s->base, PTRING_MAP_SIZE);
	s->started = false;
}

static inline void ptring_server_free(struct ptring_server *s)
{
	free(s->con);
	s->con = NULL;
}

#endif
