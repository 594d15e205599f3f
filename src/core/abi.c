/* SPDX-License-Identifier: MIT */
/*
 * abi.c - the one rule for public structs that can grow (docs/api.md,
 * "Growable structs"):
 *
 *   - the first member is `uint32_t struct_size`, sizeof() as the caller
 *     compiled it; 0 means the size the struct had in LIBVMM_0.1;
 *   - a smaller (older) struct is accepted: the fields it lacks keep their
 *     defaults (in) or are not written (out);
 *   - a larger (newer) struct is accepted only if every byte the library
 *     does not know is zero; otherwise -EINVAL (the caller asked for
 *     something this library cannot do).
 *
 * This is the rule of Linux's copy_struct_from_user(), written for us.
 */
#include "core/internal.h"

#include <string.h>

/* The frozen sizes (core/internal.h) are what this release compiles. */
#if defined(__x86_64__)
_Static_assert(sizeof(struct vmm_uart_config) == VMM__UART_CONFIG_V02, "");
_Static_assert(sizeof(struct vmm_passthrough_config) ==
	       VMM__PASSTHROUGH_CONFIG_V02, "");
_Static_assert(sizeof(struct vmm_trapblk_config) == VMM__TRAPBLK_CONFIG_V02,
	       "");
_Static_assert(sizeof(struct vmm_block_config) == VMM__BLOCK_CONFIG_V02, "");
_Static_assert(sizeof(struct vmm_vfio_pci_config) == VMM__VFIO_PCI_CONFIG_V02,
	       "");
_Static_assert(sizeof(struct vmm_virtio_config) == VMM__VIRTIO_CONFIG_V02, "");
_Static_assert(sizeof(struct vmm_virtio_blk_config) ==
	       VMM__VIRTIO_BLK_CONFIG_V02, "");
_Static_assert(sizeof(struct vmm_virtio_net_config) ==
	       VMM__VIRTIO_NET_CONFIG_V02, "");
_Static_assert(sizeof(struct vmm_virtio_console_config) ==
	       VMM__VIRTIO_CONSOLE_CONFIG_V02, "");
_Static_assert(sizeof(struct vmm_vhost_user_config) ==
	       VMM__VHOST_USER_CONFIG_V02, "");
_Static_assert(sizeof(struct vmm_vhost_user_server_config) ==
	       VMM__VHOST_USER_SERVER_CONFIG_V02, "");
_Static_assert(sizeof(struct vmm_hc_stats) == VMM__HC_STATS_V02, "");
_Static_assert(sizeof(struct vmm_gdb_stats) == VMM__GDB_STATS_V02, "");
_Static_assert(sizeof(struct vmm_trapblk_stats) == VMM__TRAPBLK_STATS_V02,
	       "");
_Static_assert(sizeof(struct vmm_dev_info) == VMM__DEV_INFO_V02, "");
_Static_assert(sizeof(struct vmm_snapshot_info) == VMM__SNAPSHOT_INFO_V02,
	       "");
_Static_assert(sizeof(struct vmm_vm_stats) == VMM__VM_STATS_V02, "");
_Static_assert(sizeof(struct vmm_bus_stats) == VMM__BUS_STATS_V02, "");
_Static_assert(sizeof(struct vmm_virtio_stats) == VMM__VIRTIO_STATS_V02,
	       "");
_Static_assert(sizeof(struct vmm_vhost_user_server_stats) ==
	       VMM__VHOST_USER_SERVER_STATS_V02, "");
_Static_assert(sizeof(struct vmm_mem_info) == VMM__MEM_INFO_V02, "");
_Static_assert(sizeof(struct vmm_migrate_stats) == VMM__MIGRATE_STATS_V02,
	       "");
#endif

/* A caller's struct larger than this is a bug, not a newer libvmm. */
#define STRUCT_SIZE_MAX 65536u

static int caller_size(const void *p, size_t size_v01, size_t *out)
{
	uint32_t n;

	memcpy(&n, p, sizeof(n));
	if (n == 0)
		n = (uint32_t)size_v01;
	if (n < sizeof(uint32_t) || n > STRUCT_SIZE_MAX)
		return -EINVAL;
	*out = n;
	return 0;
}

int vmm__struct_in(void *dst, size_t lib_size, const void *src,
		   size_t size_v01)
{
	const unsigned char *s = src;
	size_t n;
	uint32_t sz;

	if (caller_size(src, size_v01, &n))
		return -EINVAL;
	for (size_t i = lib_size; i < n; i++)
		if (s[i])
			return -EINVAL;
	memcpy(dst, src, n < lib_size ? n : lib_size);
	sz = (uint32_t)lib_size;
	memcpy(dst, &sz, sizeof(sz));
	return 0;
}

int vmm__struct_out_check(const void *dst, size_t size_v01)
{
	size_t n;

	return caller_size(dst, size_v01, &n);
}

int vmm__struct_out(void *dst, const void *src, size_t lib_size,
		    size_t size_v01)
{
	unsigned char *d = dst;
	size_t n, w;
	uint32_t sz;

	if (caller_size(dst, size_v01, &n))
		return -EINVAL;
	w = n < lib_size ? n : lib_size;
	memcpy(d, src, w);
	if (n > lib_size)
		memset(d + lib_size, 0, n - lib_size);
	sz = (uint32_t)w;
	memcpy(d, &sz, sizeof(sz));
	return 0;
}
