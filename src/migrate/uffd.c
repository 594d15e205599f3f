/* SPDX-License-Identifier: MIT */
/*
 * uffd.c - userfaultfd for post-copy migration's destination.  Opening it
 * tries, in order: the userfaultfd() syscall (root, CAP_SYS_PTRACE, or
 * vm.unprivileged_userfaultfd=1), /dev/userfaultfd (whoever may open that
 * node), and - when only the process's own user-mode accesses must be
 * caught (the soft backend) - UFFD_USER_MODE_ONLY, which every process
 * may use.  KVM touches guest memory from the kernel (get_user_pages on a
 * guest's fault), so a KVM destination needs one of the first two.
 */
#include "migrate/uffd.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

static int sysctl_unpriv(void)
{
	char c = '?';
	int fd = open("/proc/sys/vm/unprivileged_userfaultfd",
		      O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (read(fd, &c, 1) != 1)
		c = '?';
	close(fd);
	return c == '?' ? -1 : c - '0';
}

static int api_handshake(int fd, char *why, size_t len)
{
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };

	if (ioctl(fd, UFFDIO_API, &api)) {
		int e = errno;

		snprintf(why, len, "UFFDIO_API: %s", strerror(e));
		close(fd);
		return -ENOTSUP;
	}
	if (!(api.ioctls & (1ull << _UFFDIO_REGISTER))) {
		snprintf(why, len, "userfaultfd without UFFDIO_REGISTER");
		close(fd);
		return -ENOTSUP;
	}
	return fd;
}

int vmm__uffd_open(bool kernel_faults, char *why, size_t len)
{
	char dev_err[64] = "";
	int fd, e, dfd;

	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0)
		return api_handshake(fd, why, len);
	e = errno;
	if (e == ENOSYS) {
		snprintf(why, len, "kernel without userfaultfd (ENOSYS)");
		return -ENOTSUP;
	}
	dfd = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dfd >= 0) {
		fd = ioctl(dfd, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
		snprintf(dev_err, sizeof(dev_err), "%s",
			 fd < 0 ? strerror(errno) : "");
		close(dfd);
		if (fd >= 0)
			return api_handshake(fd, why, len);
	} else {
		snprintf(dev_err, sizeof(dev_err), "%s", strerror(errno));
	}
	if (!kernel_faults) {
		fd = (int)syscall(SYS_userfaultfd,
				  O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
		if (fd >= 0)
			return api_handshake(fd, why, len);
	}
	snprintf(why, len,
		 "userfaultfd: %s (vm.unprivileged_userfaultfd=%d, not root or "
		 "CAP_SYS_PTRACE); /dev/userfaultfd: %s%s",
		 strerror(e), sysctl_unpriv(), dev_err,
		 kernel_faults ? "; KVM needs kernel-mode faults "
				 "(UFFD_USER_MODE_ONLY is not enough)" : "");
	return -ENOTSUP;
}

int vmm__uffd_register(int fd, void *addr, size_t len)
{
	struct uffdio_register r = {
		.range = { (uint64_t)(uintptr_t)addr, len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	return ioctl(fd, UFFDIO_REGISTER, &r) ? -errno : 0;
}

int vmm__uffd_unregister(int fd, void *addr, size_t len)
{
	struct uffdio_range r = { (uint64_t)(uintptr_t)addr, len };

	return ioctl(fd, UFFDIO_UNREGISTER, &r) ? -errno : 0;
}

int vmm__uffd_copy(int fd, void *dst, const void *src, size_t len)
{
	struct uffdio_copy c = {
		.dst = (uint64_t)(uintptr_t)dst,
		.src = (uint64_t)(uintptr_t)src,
		.len = len,
	};

	while (ioctl(fd, UFFDIO_COPY, &c)) {
		if (errno == EEXIST)
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		/* partial copy (mapping changing): go on after it */
		if (c.copy > 0) {
			c.dst += (uint64_t)c.copy;
			c.src += (uint64_t)c.copy;
			c.len -= (uint64_t)c.copy;
		}
		c.copy = 0;
		if (!c.len)
			return 0;
	}
	return 0;
}

int vmm__uffd_zero(int fd, void *dst, size_t len)
{
	struct uffdio_zeropage z = {
		.range = { (uint64_t)(uintptr_t)dst, len },
	};

	while (ioctl(fd, UFFDIO_ZEROPAGE, &z)) {
		if (errno == EEXIST)
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		z.zeropage = 0;
	}
	return 0;
}

int vmm__uffd_next_fault(int fd, uint64_t *addr)
{
	struct uffd_msg m;

	for (;;) {
		ssize_t n = read(fd, &m, sizeof(m));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		if (n != sizeof(m))
			return -EIO;
		if (m.event != UFFD_EVENT_PAGEFAULT)
			continue;
		*addr = m.arg.pagefault.address;
		return 1;
	}
}
