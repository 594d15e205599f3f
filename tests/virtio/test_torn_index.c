/* SPDX-License-Identifier: MIT */
/*
 * test_torn_index - a guest's store to a ring index, injected right
 * after each of the VMM's loads of it, is seen whole.
 *
 * The root cause of the virtio-blk failures of 2026-11 ("avail index
 * jumped from 17148 to 17404", docs/benchmarks.md): glibc's memcpy() of 2
 * bytes loads the 16-bit word and then its last byte again, so a device
 * reading avail->idx while the guest moves it from 0x42fc to 0x4300 could
 * see 0x43fc.  The interleaving is injected deterministically: a child
 * process reads the field through the library (vmm_mem_read(), which the
 * virtqueue's rd16() uses, and vmm_vq_pop() itself); the parent puts a
 * hardware data watchpoint (DR0/DR7 through ptrace) on the field, counts
 * the child's accesses to it during one read, and then, for every j,
 * stores the new value in the child's guest memory right after its j-th
 * access and lets the read finish.  A read that is one load sees the old
 * or the new value for every j; a read that loads the bytes more than once
 * (memcpy) sees a mixture for some j.  Also an 8-byte field.
 *
 * Skips (77) where ptrace is not permitted.
 */
#include "core/internal.h"
#include "dev/virtio/virtqueue.h"
#include "dev/virtio/virtio_dev.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#define RING 0x2000 /* the driver area: flags, idx at +2, ring[] */
#define FIELD8 0x5008

/* the child's view, read by the parent with PTRACE_PEEKDATA (same
 * addresses after fork) */
static volatile uint64_t g_result;
static volatile uintptr_t g_host; /* host address of gpa 0 */
static volatile unsigned g_size;  /* 2, 8; 3 = vmm_vq_pop() */

static int fail(const char *msg)
{
	fprintf(stderr, "FAIL: %s\n", msg);
	return 1;
}

static void child(void)
{
	struct vmm_config cfg;
	struct vmm_vq_mem mem;
	struct vmm_vq vq;
	struct iovec iov;
	vmm_vm *vm;

	vmm_config_init(&cfg);
	static struct vmm_vq_elem e;
	/* descriptor 0: 16 device-readable bytes at 0x10000 */
	static const uint8_t desc0[16] = { 0, 0, 1, 0, 0, 0, 0, 0, 16 };

	if (vmm__vm_create_null(&cfg, &vm) || vmm_mem_add_ram(vm, 0, 1 << 20) ||
	    vmm_mem_iovec(vm, 0, 1 << 20, false, &iov, 1) != 1 ||
	    vmm_mem_write(vm, 0x1000, desc0, sizeof(desc0)))
		_exit(3);
	vmm_vq_mem_vm(&mem, vm);
	memset(&vq, 0, sizeof(vq));
	vq.mem = &mem;
	vq.size = 128; /* a torn 0x43fc is 256 ahead: refused */
	vq.desc = 0x1000;
	vq.avail = RING;
	vq.used = 0x3000;
	vq.ready = true;
	vq.dirs = VMM_VQ_DIR_ANY;
	g_host = (uintptr_t)iov.iov_base;
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
		_exit(77);
	for (;;) {
		raise(SIGSTOP);
		switch (g_size) {
		case 2: {
			uint16_t v = 0;
			g_result = vmm_mem_read(vm, RING + 2, &v, 2) ? ~0ull : v;
			break;
		}
		case 8: {
			uint64_t v = 0;
			g_result = vmm_mem_read(vm, FIELD8, &v, 8) ? ~0ull : v;
			break;
		}
		default: {
			/* the walker: 0 = nothing new, 1 = a chain, <0 = it
			 * saw the index jump (a torn read) */
			int r;

			vq.last_avail = 0x42fc;
			vq.broken = false;
			r = vmm_vq_pop(&vq, &e);
			g_result = (uint64_t)(int64_t)r;
			break;
		}
		}
	}
}

static long peek(pid_t pid, const volatile void *addr)
{
	errno = 0;
	return ptrace(PTRACE_PEEKDATA, pid, (void *)(uintptr_t)addr, NULL);
}

static int poke(pid_t pid, uintptr_t addr, long v)
{
	return (int)ptrace(PTRACE_POKEDATA, pid, (void *)addr, (void *)v);
}

/* Wait for the child's next stop; its signal, or -1 if it went away. */
static int wait_stop(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st))
		return -1;
	return WSTOPSIG(st);
}

/* Watch @len bytes at @addr (reads and writes) in @pid. */
static int watch(pid_t pid, uintptr_t addr, unsigned len)
{
	unsigned long lenbits = len == 8 ? 2 : len == 4 ? 3 : len == 2 ? 1 : 0;
	unsigned long dr7 = 1ul | (3ul << 16) | (lenbits << 18);

	/* off first: the kernel checks DR0 against the enabled length */
	if (ptrace(PTRACE_POKEUSER, pid, offsetof(struct user, u_debugreg[7]),
		   (void *)0) < 0 ||
	    ptrace(PTRACE_POKEUSER, pid, offsetof(struct user, u_debugreg[0]),
		   (void *)addr) < 0)
		return -1;
	return (int)ptrace(PTRACE_POKEUSER, pid,
			   offsetof(struct user, u_debugreg[7]), (void *)dr7);
}

/*
 * Run the child's read (it is stopped before one); right after its
 * @store_at-th access to the watched field (0 = never) store @after at
 * @at.  Returns the number of accesses seen, or -1.
 */
static int run_read(pid_t pid, uintptr_t at, long after, int store_at)
{
	int n = 0, sig;

	for (;;) {
		if (ptrace(PTRACE_CONT, pid, NULL, NULL) < 0)
			return -1;
		sig = wait_stop(pid);
		if (sig == SIGSTOP)
			return n;
		if (sig != SIGTRAP)
			return -1;
		if (++n == store_at && poke(pid, at, after) < 0)
			return -1;
	}
}

int main(void)
{
	static const unsigned sizes[] = { 2, 8, 3 };
	pid_t pid = fork();
	uintptr_t host;
	int torn = 0;

	if (pid < 0)
		return fail("fork");
	if (pid == 0) {
		child();
		_exit(0);
	}
	if (wait_stop(pid) != SIGSTOP) {
		printf("SKIP: ptrace not permitted\n");
		return 77;
	}
	host = (uintptr_t)peek(pid, &g_host);
	for (unsigned si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		unsigned size = sizes[si];
		uintptr_t at = host + (size == 8 ? FIELD8 : RING);
		/* the watched field: idx at RING + 2, or the 8 bytes */
		uintptr_t field = size == 8 ? at : at + 2;
		long before, after;
		uint64_t old_v, new_v;
		int accesses, torn0 = torn;

		/* 16 bits: idx 0x42fc -> 0x4300 (the carry into the high
		 * byte; flags and ring[0..1] stay 0); 64 bits: every byte
		 * changes */
		if (size == 8) {
			before = 0x0f0f0f0f0f0f0f0fL;
			after = (long)0xf0f0f0f0f0f0f0f0UL;
			old_v = 0x0f0f0f0f0f0f0f0full;
			new_v = 0xf0f0f0f0f0f0f0f0ull;
		} else {
			before = 0x42fc0000L; /* flags 0, idx 0x42fc (LE) */
			after = 0x43000000L;
			old_v = size == 3 ? 0 : 0x42fc; /* pop: nothing */
			new_v = size == 3 ? 1 : 0x4300; /* pop: a chain */
		}
		if (poke(pid, (uintptr_t)&g_size, size) < 0 ||
		    watch(pid, field, size == 8 ? 8 : 2) < 0) {
			printf("SKIP: no data watchpoints through ptrace\n");
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return 77;
		}
		/* count the accesses of one read */
		if (poke(pid, at, before) < 0 ||
		    (accesses = run_read(pid, at, after, 0)) < 0)
			return fail("calibration run");
		if ((uint64_t)peek(pid, &g_result) != old_v)
			return fail("calibration read the wrong value");
		if (accesses < 1) {
			printf("SKIP: the data watchpoint never fired\n");
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return 77;
		}
		/* the guest's store right after the j-th access */
		for (int j = 1; j <= accesses; j++) {
			uint64_t r;

			if (poke(pid, at, before) < 0 ||
			    run_read(pid, at, after, j) < 0)
				return fail("run");
			r = (uint64_t)peek(pid, &g_result);
			if (r != old_v && r != new_v) {
				fprintf(stderr, "size %u: store after access %d of "
					"%d: read 0x%llx (old 0x%llx, new 0x%llx)\n",
					size, j, accesses, (unsigned long long)r,
					(unsigned long long)old_v,
					(unsigned long long)new_v);
				torn++;
			}
		}
		printf("%s: %d access(es) per read, whole values only: %s\n",
		       size == 3 ? "vmm_vq_pop" : size == 2 ? "2 bytes"
							    : "8 bytes",
		       accesses, torn > torn0 ? "no" : "yes");
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	if (torn)
		return fail("torn reads of a concurrently stored field");
	printf("ok\n");
	return 0;
}
