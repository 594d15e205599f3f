/* SPDX-License-Identifier: MIT */
/*
 * vfio_sys.h - the system calls VFIO passthrough makes, as a table, so
 * unit tests inject a fake VFIO (these build machines have no VFIO
 * devices).  Every entry returns what the syscall returns, with -errno
 * instead of -1/errno.
 */
#ifndef LIBVMM_DEV_VFIO_SYS_H
#define LIBVMM_DEV_VFIO_SYS_H

#include "core/internal.h"

#include <sys/types.h>

struct vmm__vfio_sys {
	int (*open)(void *opaque, const char *path, int flags);
	int (*close)(void *opaque, int fd);
	/* ioctl with a pointer argument; VFIO_CHECK_EXTENSION passes the
	 * extension number cast to a pointer */
	int (*ioctl)(void *opaque, int fd, unsigned long req, void *arg);
	ssize_t (*pread)(void *opaque, int fd, void *buf, size_t n, off_t off);
	ssize_t (*pwrite)(void *opaque, int fd, const void *buf, size_t n,
			  off_t off);
	/* readlink of /sys/bus/pci/devices/<bdf>/iommu_group */
	ssize_t (*readlink)(void *opaque, const char *path, char *buf,
			    size_t len);
	int (*eventfd)(void *opaque);
	void *opaque;
};

/* The real system calls. */
extern const struct vmm__vfio_sys vmm__vfio_sys_host;

/* vmm_vfio_pci_attach() with @sys instead of the real system calls. */
int vmm__vfio_pci_attach_sys(vmm_vm *vm, const struct vmm_vfio_pci_config *cfg,
			     const struct vmm__vfio_sys *sys, vmm_dev **out);

/* vmm_vfio_available() with @sys. */
int vmm__vfio_available_sys(const struct vmm__vfio_sys *sys, char *why,
			    size_t len);

/* For tests: the function's config space state and a DMA-map count. */
struct vmm__vfio_cfg;
const struct vmm__vfio_cfg *vmm__vfio_dev_cfg(vmm_dev *dev);
int vmm__vfio_dev_slot(vmm_dev *dev);

#endif
