/* SPDX-License-Identifier: MIT */
/*
 * libvmm/seccomp.h - confine a VMM process after set-up with a seccomp-bpf
 * filter that allows only what running vCPUs and device threads need.
 *
 * Typical use: create the VM, its vCPUs, memory and devices, load the
 * guest, start any helper threads, then call vmm_seccomp_apply().  From
 * then on the process can run guests, move data over the fds it already
 * has, allocate memory and create threads, but not open files, create
 * sockets, execute programs, map executable memory, change signal handlers
 * or call any other system call.  A new VM cannot be created afterwards
 * (that needs open()).
 *
 * Allowed: read/write and their vector/positional forms, close, lseek,
 * fstat, fcntl; ioctl with KVM request numbers (type 0xAE) and the
 * terminal/FIONBIO/FIONREAD requests stdio uses; poll/ppoll/epoll_wait/
 * epoll_pwait, send/recv on existing sockets, io_uring_enter; futex,
 * thread creation (clone with CLONE_THREAD; clone3 fails with ENOSYS so
 * libc falls back to clone), set_robust_list, rseq; mmap/mprotect without
 * PROT_EXEC, munmap, mremap, madvise, brk; signals to the own process
 * (tgkill, used by vmm_vcpu_kick()), rt_sigreturn, rt_sigprocmask;
 * clocks, sleeps, sched_yield, getpid, gettid, getrandom; exit, exit_group.
 */
#ifndef LIBVMM_SECCOMP_H
#define LIBVMM_SECCOMP_H

#include <libvmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Apply the filter to every thread of the process (else: the caller and
 *  the threads it creates afterwards). */
#define VMM_SECCOMP_ALL_THREADS (1u << 0)
/** A refused system call fails with EPERM (default: the process is killed
 *  with SIGSYS, as a sandbox wants). */
#define VMM_SECCOMP_ERRNO (1u << 1)
/** Log refused system calls to the kernel audit log and allow them: for
 *  finding out what an embedder's own threads need. */
#define VMM_SECCOMP_LOG (1u << 2)

/**
 * vmm_seccomp_available() - 0 if vmm_seccomp_apply() can work here,
 * -ENOTSUP if libvmm was built without libseccomp.
 */
VMM_API int vmm_seccomp_available(void);

/**
 * vmm_seccomp_apply() - install the filter (irrevocably).
 * @vm:    optional; receives the error message on failure.
 * @flags: VMM_SECCOMP_* bits.
 *
 * Returns 0, -ENOTSUP (built without libseccomp), -EINVAL (unknown flags),
 * or the kernel's refusal (e.g. -ESRCH when another thread of the process
 * already has a different filter and VMM_SECCOMP_ALL_THREADS was given).
 */
VMM_API VMM_MUST_CHECK int vmm_seccomp_apply(vmm_vm *vm, unsigned flags);

#ifdef __cplusplus
}
#endif
#endif
