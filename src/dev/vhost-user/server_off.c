// SPDX-License-Identifier: MIT
/*
 * server_off.c - the vhost-user back-end server's calls in a library built
 * with -Dvhost_user_server=disabled: the same symbols (one ABI in every
 * configuration, src/libvmm.map); creating a server returns -ENOTSUP.
 * The front-end (a VM's vhost-user device, frontend.c) stays.
 */
#include "core/internal.h"
#include <libvmm/vhost_user.h>
#include <libvmm/virtio.h>

#include <string.h>

void vmm_vhost_user_server_config_init(struct vmm_vhost_user_server_config *cfg,
				       enum vmm_vhost_user_device device)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof(*cfg));
	cfg->struct_size = sizeof(*cfg);
	vmm_virtio_blk_config_init(&cfg->blk, VMM_VIRTIO_MMIO);
	cfg->device = device;
	cfg->log_level = VMM_LOG_WARN;
}

int vmm_vhost_user_server_create(const struct vmm_vhost_user_server_config *cfg,
				 vmm_vhost_user_server **out)
{
	(void)cfg;
	if (out)
		*out = NULL;
	return -ENOTSUP;
}

int vmm_vhost_user_server_run(vmm_vhost_user_server *srv)
{
	(void)srv;
	return -ENOTSUP;
}

void vmm_vhost_user_server_stop(vmm_vhost_user_server *srv)
{
	(void)srv;
}

void vmm_vhost_user_server_destroy(vmm_vhost_user_server *srv)
{
	(void)srv;
}

int vmm_vhost_user_server_get_stats(vmm_vhost_user_server *srv,
				    struct vmm_vhost_user_server_stats *st)
{
	struct vmm_vhost_user_server_stats s;

	if (!srv || !st)
		return -EINVAL;
	memset(&s, 0, sizeof(s));
	s.struct_size = sizeof(s);
	return vmm__struct_out(st, &s, sizeof(s),
			       VMM__VHOST_USER_SERVER_STATS_V02);
}
