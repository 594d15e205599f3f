/* SPDX-License-Identifier: MIT */
/*
 * uffd.h - the userfaultfd calls of post-copy migration (uffd.c): open
 * (with the reason when the host does not allow it), register a range for
 * missing-page faults, resolve a fault with a page or zeros, read faults.
 */
#ifndef LIBVMM_MIGRATE_UFFD_H
#define LIBVMM_MIGRATE_UFFD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Open a non-blocking userfaultfd.  @kernel_faults: it must also catch
 * faults taken in the kernel on behalf of the process (KVM's, io_uring's);
 * otherwise a user-mode-only one (UFFD_USER_MODE_ONLY, allowed to
 * unprivileged processes) is accepted.  Returns the fd, or -ENOTSUP (or
 * another -errno) with the reason in @why.
 */
int vmm__uffd_open(bool kernel_faults, char *why, size_t len);
/* register [@addr, +@len) for missing-page faults */
int vmm__uffd_register(int fd, void *addr, size_t len);
int vmm__uffd_unregister(int fd, void *addr, size_t len);
/* fill the missing page at @dst with @src (or zeros) and wake its waiters;
 * 0, also when the page is there already (-EEXIST), or -errno */
int vmm__uffd_copy(int fd, void *dst, const void *src, size_t len);
int vmm__uffd_zero(int fd, void *dst, size_t len);
/* the next fault's address: 1, 0 (none pending) or -errno */
int vmm__uffd_next_fault(int fd, uint64_t *addr);

#endif
