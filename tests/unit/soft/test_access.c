/* SPDX-License-Identifier: MIT */
/*
 * test_access - the software backend's guest-memory helpers soft_sth() and
 * soft_ldh() (src/cpu/soft/soft.h) make a naturally aligned 2-, 4- or
 * 8-byte store or load as one access, as the CPU does (SDM Vol. 3A 9.1.1):
 * another vCPU thread never sees half of an update.
 *
 * How: a child process makes each access with a hardware data watchpoint
 * (DR0/DR7 through ptrace) on the guest word; the parent counts the
 * watchpoint traps: exactly one per access.  This file is compiled with
 * -fno-builtin (tests/unit/soft/meson.build), so a helper that relied on
 * the compiler inlining a constant-size memcpy() would call glibc's, which
 * copies 2 bytes as two loads and two stores (2 traps): the test failed
 * that way before the helpers used single atomic accesses.  Misaligned
 * accesses are not covered (they stay memcpy()).
 *
 * Skips (77) where ptrace or hardware watchpoints are not permitted.
 */
#include "cpu/soft/soft.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

static const unsigned sizes[] = {2, 4, 8};
static const uint64_t pattern = 0x8877665544332211ull;

/* the guest word (aligned to 8) and the value loaded back */
static _Alignas(64) volatile uint8_t word[64];
static volatile uint64_t loaded[3];

static void child(void)
{
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
		_exit(77);
	raise(SIGSTOP); /* the parent arms a write watchpoint */
	for (unsigned k = 0; k < 3; k++) {
		void *p = (void *)(uintptr_t)(word + 8);
		soft_sth(p, sizes[k], pattern);
		raise(SIGSTOP); /* then a read/write watchpoint */
		loaded[k] = soft_ldh(p, sizes[k]);
		raise(SIGSTOP); /* then a write watchpoint again */
	}
}

static int wait_stop(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st))
		return -1;
	return WSTOPSIG(st);
}

/* DR0 on @len bytes at @addr: @rw 1 = writes, 3 = reads and writes; 0 off */
static int watch(pid_t pid, uintptr_t addr, unsigned len, unsigned rw)
{
	unsigned long lenbits = len == 8 ? 2 : len == 4 ? 3 : len == 2 ? 1 : 0;
	unsigned long dr7 = rw ? 1ul | ((unsigned long)rw << 16) |
					 (lenbits << 18)
			       : 0;

	if (ptrace(PTRACE_POKEUSER, pid, offsetof(struct user, u_debugreg[7]),
		   (void *)0) < 0)
		return -1;
	if (!rw)
		return 0;
	if (ptrace(PTRACE_POKEUSER, pid, offsetof(struct user, u_debugreg[0]),
		   (void *)addr) < 0)
		return -1;
	return (int)ptrace(PTRACE_POKEUSER, pid,
			   offsetof(struct user, u_debugreg[7]), (void *)dr7);
}

/* continue to the child's next SIGSTOP; the traps on the way, or -1 */
static int count_traps(pid_t pid)
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
		n++;
	}
}

int main(void)
{
	uintptr_t at = (uintptr_t)(word + 8); /* the same after fork() */
	int fails = 0;
	pid_t pid = fork();

	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		child();
		_exit(0);
	}
	if (wait_stop(pid) != SIGSTOP) {
		printf("SKIP: ptrace not permitted\n");
		return 77;
	}
	if (watch(pid, at, 8, 1) < 0) {
		printf("SKIP: hardware watchpoints not permitted (%s)\n",
		       strerror(errno));
		kill(pid, SIGKILL);
		return 77;
	}
	for (unsigned k = 0; k < 3; k++) {
		unsigned size = sizes[k];
		int st, ld;

		if (watch(pid, at, size, 1) < 0 || (st = count_traps(pid)) < 0 ||
		    watch(pid, at, size, 3) < 0 || (ld = count_traps(pid)) < 0 ||
		    watch(pid, at, size, 0) < 0) {
			printf("FAIL: ptrace: %s\n", strerror(errno));
			kill(pid, SIGKILL);
			return 1;
		}
		errno = 0;
		long v = ptrace(PTRACE_PEEKDATA, pid, (void *)&loaded[k], NULL);
		uint64_t want = size == 8 ? pattern :
				pattern & ((1ull << (8 * size)) - 1);
		printf("%u-byte aligned store: %d access(es), load: %d "
		       "access(es), value 0x%llx\n", size, st, ld,
		       (unsigned long long)v);
		if (st != 1 || ld != 1 || (uint64_t)v != want) {
			printf("FAIL: %u bytes: want 1 store, 1 load, 0x%llx\n",
			       size, (unsigned long long)want);
			fails++;
		}
	}
	ptrace(PTRACE_CONT, pid, NULL, NULL);
	waitpid(pid, NULL, 0);
	if (!fails)
		printf("PASS: aligned 2/4/8-byte guest accesses are single\n");
	return fails ? 1 : 0;
}
