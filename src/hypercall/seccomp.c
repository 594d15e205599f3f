// SPDX-License-Identifier: MIT
/*
 * seccomp.c - vmm_seccomp_apply(): a seccomp-bpf allow-list for a VMM
 * process after set-up, built with libseccomp (an optional dependency:
 * -Dseccomp=auto|enabled|disabled).  Without it the calls return -ENOTSUP.
 *
 * The list is what vCPU threads (KVM_RUN and the other KVM ioctls, kicks by
 * signal), device threads (read/write/poll on their fds, io_uring), the
 * embedder's timer threads (clocks, futex) and libc's allocator need.
 * Everything that reaches outside the process's existing resources is
 * refused: open/openat, socket/connect, execve, fork (clone without
 * CLONE_THREAD), ptrace, executable mappings, new signal handlers, ...
 */
#include "hypercall/hc_impl.h"

#include <string.h>

#if VMM_HAVE_SECCOMP
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

int vmm_seccomp_available(void)
{
	return 0;
}

/* System calls allowed with any arguments. */
static const int plain[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(preadv),
	SCMP_SYS(pwritev), SCMP_SYS(close), SCMP_SYS(lseek), SCMP_SYS(fstat),
	SCMP_SYS(newfstatat), SCMP_SYS(fcntl),
	SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(epoll_wait),
	SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl),
	SCMP_SYS(sendmsg), SCMP_SYS(recvmsg), SCMP_SYS(sendto),
	SCMP_SYS(recvfrom), SCMP_SYS(shutdown), SCMP_SYS(io_uring_enter),
	SCMP_SYS(futex), SCMP_SYS(set_robust_list), SCMP_SYS(get_robust_list),
	SCMP_SYS(rseq),
	SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise), SCMP_SYS(brk),
	SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask), SCMP_SYS(sigaltstack),
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres),
	SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep), SCMP_SYS(gettimeofday),
	SCMP_SYS(sched_yield), SCMP_SYS(sched_getaffinity),
	SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(getrandom),
	SCMP_SYS(timerfd_settime), SCMP_SYS(timerfd_gettime),
	SCMP_SYS(restart_syscall), SCMP_SYS(exit), SCMP_SYS(exit_group),
};

/* ioctl requests outside KVM's type 0xAE that stdio and fds need. */
static const unsigned long ioctls[] = { TCGETS, FIONBIO, FIONREAD };

static int build(scmp_filter_ctx ctx)
{
	int r = 0;

	for (size_t i = 0; i < VMM_ARRAY_SIZE(plain) && !r; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, plain[i], 0);
	/* every KVM ioctl: _IO*(KVMIO = 0xAE, nr) */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				     SCMP_A1(SCMP_CMP_MASKED_EQ, 0xff00,
					     0xae00));
	for (size_t i = 0; i < VMM_ARRAY_SIZE(ioctls) && !r; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				     SCMP_A1(SCMP_CMP_EQ, ioctls[i]));
	/* memory: never executable */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* threads, not processes */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD,
					     CLONE_THREAD));
	/* clone3's flags are behind a pointer: make libc fall back to clone */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
				     SCMP_SYS(clone3), 0);
	/* signals only to this process (vmm_vcpu_kick) */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
				     SCMP_A0(SCMP_CMP_EQ,
					     (scmp_datum_t)getpid()));
	return r;
}

int vmm_seccomp_apply(vmm_vm *vm, unsigned flags)
{
	scmp_filter_ctx ctx;
	uint32_t def;
	int r;

	if (flags & ~(VMM_SECCOMP_ALL_THREADS | VMM_SECCOMP_ERRNO |
		      VMM_SECCOMP_LOG))
		return vm ? vmm__err(vm, -EINVAL, "seccomp: unknown flags 0x%x",
				     flags) : -EINVAL;
	if (flags & VMM_SECCOMP_LOG)
		def = SCMP_ACT_LOG;
	else if (flags & VMM_SECCOMP_ERRNO)
		def = SCMP_ACT_ERRNO(EPERM);
	else
		def = SCMP_ACT_KILL_PROCESS;
	ctx = seccomp_init(def);
	if (!ctx)
		return vm ? vmm__err(vm, -ENOMEM, "seccomp: seccomp_init failed")
			  : -ENOMEM;
	r = build(ctx);
	if (!r && (flags & VMM_SECCOMP_ALL_THREADS))
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (!r)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0 && vm)
		return vmm__err(vm, r, "seccomp: cannot install the filter: %s",
				vmm_strerror(r));
	return r < 0 ? r : 0;
}

#else /* !VMM_HAVE_SECCOMP */

int vmm_seccomp_available(void)
{
	return -ENOTSUP;
}

int vmm_seccomp_apply(vmm_vm *vm, unsigned flags)
{
	if (vm)
		return vmm__err(vm, -ENOTSUP,
				"seccomp: libvmm was built without libseccomp");
	return -ENOTSUP;
}

#endif
