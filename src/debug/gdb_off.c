// SPDX-License-Identifier: MIT
/*
 * gdb_off.c - the gdb stub's calls in a library built with -Dgdb=disabled:
 * the same symbols (one ABI in every configuration, src/libvmm.map), each
 * returning -ENOTSUP.
 */
#include "core/internal.h"
#include <libvmm/gdb.h>

int vmm_gdb_create(vmm_vm *vm, const struct vmm_gdb_config *cfg, vmm_gdb **out)
{
	(void)cfg;
	if (out)
		*out = NULL;
	if (vm)
		return vmm__err(vm, -ENOTSUP, "gdb: the stub is not built "
				"(-Dgdb=disabled)");
	return -ENOTSUP;
}

void vmm_gdb_destroy(vmm_gdb *gdb)
{
	(void)gdb;
}

int vmm_gdb_serve(vmm_gdb *gdb, int fd)
{
	(void)gdb, (void)fd;
	return -ENOTSUP;
}

int vmm_gdb_exit_code(const vmm_gdb *gdb)
{
	(void)gdb;
	return -ENOTSUP;
}

int vmm_gdb_get_stats(const vmm_gdb *gdb, struct vmm_gdb_stats *st)
{
	(void)gdb, (void)st;
	return -ENOTSUP;
}

int vmm_gdb_listen_tcp(const char *host, uint16_t port)
{
	(void)host, (void)port;
	return -ENOTSUP;
}

int vmm_gdb_listen_unix(const char *path)
{
	(void)path;
	return -ENOTSUP;
}

int vmm_gdb_local_port(int fd)
{
	(void)fd;
	return -ENOTSUP;
}

int vmm_gdb_accept(int listen_fd, int timeout_ms)
{
	(void)listen_fd, (void)timeout_ms;
	return -ENOTSUP;
}
