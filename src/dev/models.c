// SPDX-License-Identifier: MIT
/*
 * models.c - the device-model registry fields (model, sharing,
 * migratability) and the one device kind that can be attached under any
 * of the three models: block.
 */
#include "core/internal.h"

#include <stdio.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *vmm_model_name(enum vmm_dev_model model)
{
	switch (model) {
	case VMM_MODEL_DEFAULT: return "default";
	case VMM_MODEL_PASSTHROUGH: return "passthrough";
	case VMM_MODEL_DIRECT: return "direct";
	case VMM_MODEL_SPLIT: return "split";
	}
	return "unknown";
}

void vmm__dev_set_model(vmm_dev *dev, unsigned model, uint32_t flags)
{
	if (!dev)
		return;
	dev->model = (uint8_t)model;
	dev->model_flags = flags;
}

int vmm__dev_require_state(vmm_vm *vm, const char *op)
{
	vmm_dev *list[64];
	int n = vmm__dev_list(vm, list, 64);

	if (n > 64)
		n = 64; /* the snapshot code refuses more devices anyway */
	for (int i = 0; i < n; i++)
		if (!list[i]->save)
			return vmm__err(vm, -EOPNOTSUPP,
					"%s: device %s (%s) cannot save its "
					"state", op, list[i]->name,
					vmm_model_name(vmm_dev_model(list[i])));
	return 0;
}

enum vmm_dev_model vmm_dev_model(const vmm_dev *dev)
{
	if (!dev)
		return VMM_MODEL_DEFAULT;
	switch (dev->model) {
	case VMM_MODEL_PASSTHROUGH:
	case VMM_MODEL_SPLIT:
		return (enum vmm_dev_model)dev->model;
	default:
		/* devices that never set a model are hypervisor-direct */
		return VMM_MODEL_DIRECT;
	}
}

int vmm_dev_get_info(const vmm_dev *dev, struct vmm_dev_info *uinfo)
{
	struct vmm_dev_info i, *info = &i;
	enum vmm_dev_model m;

	if (!dev || !uinfo)
		return -EINVAL;
	m = vmm_dev_model(dev);
	memset(info, 0, sizeof(*info));
	info->struct_size = sizeof(*info);
	info->model = m;
	if (m == VMM_MODEL_PASSTHROUGH) {
		info->shareable = dev->model_flags & VMM__DEVF_SHARED;
		info->exclusive = dev->model_flags & VMM__DEVF_EXCLUSIVE;
		/* no state callbacks, ever: the host resource is not ours */
		info->migratable = false;
		info->traps = !(dev->model_flags & VMM__DEVF_NO_TRAP);
	} else {
		info->shareable = true;
		info->exclusive = false;
		info->migratable = true;
		info->traps = true;
	}
	snprintf(info->name, sizeof(info->name), "%s", dev->name);
	return vmm__struct_out(uinfo, &i, sizeof(i), VMM__DEV_INFO_V02);
}

void vmm_block_config_init(struct vmm_block_config *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof(*cfg));
	cfg->struct_size = sizeof(*cfg);
	cfg->model = VMM_MODEL_DIRECT;
	cfg->fd = -1;
	cfg->irq = -1;
	cfg->space = VMM_SPACE_PIO;
	cfg->base = 0x5c0;
}

/* The image as a passthrough region: the whole file, page-granular. */
static int block_passthrough(vmm_vm *vm, const struct vmm_block_config *cfg,
			     vmm_dev **out)
{
	struct vmm_passthrough_config pc;
	struct stat st;
	int fd = cfg->fd, ret;
	bool own = false;

	if (fd < 0) {
		if (!cfg->path)
			return vmm__err(vm, -EINVAL, "block: no path and no fd");
		fd = open(cfg->path, (cfg->readonly ? O_RDONLY : O_RDWR) |
			  O_CLOEXEC);
		if (fd < 0)
			return vmm__err(vm, -errno, "block: %s: %s", cfg->path,
					strerror(errno));
		own = true;
	}
	if (fstat(fd, &st) < 0) {
		ret = vmm__err(vm, -errno, "block: fstat: %s", strerror(errno));
		goto out;
	}
	vmm_passthrough_config_init(&pc);
	pc.fd = fd;
	pc.size = (uint64_t)st.st_size & ~(VMM_PAGE_SIZE - 1);
	pc.gpa = cfg->gpa;
	pc.flags = (cfg->shared ? VMM_PT_SHARED : 0) |
		   (cfg->readonly ? VMM_PT_READONLY : 0);
	pc.name = "block-pt";
	if (!pc.size) {
		ret = vmm__err(vm, -EINVAL,
			       "block: passthrough image smaller than a page");
		goto out;
	}
	ret = vmm_passthrough_attach(vm, &pc, out);
out:
	if (own)
		close(fd);
	return ret;
}

int vmm_block_attach(vmm_vm *vm, const struct vmm_block_config *ucfg,
			 vmm_dev **out)
{
	const struct vmm_block_config *cfg = ucfg;
	struct vmm_block_config c;

	if (!vm)
		return -EINVAL;
	if (!cfg || !out)
		return vmm__err(vm, -EINVAL, "block: NULL argument");
	vmm_block_config_init(&c);
	if (VMM__STRUCT_IN_V(&c, ucfg, VMM__BLOCK_CONFIG_V02))
		return vmm__err(vm, -EINVAL,
				"block: bad struct_size %u or unknown non-zero "
				"fields in struct vmm_block_config",
				ucfg->struct_size);
	cfg = &c;
	switch (cfg->model) {
	case VMM_MODEL_DEFAULT:
	case VMM_MODEL_DIRECT: {
		struct vmm_trapblk_config tc;

		vmm_trapblk_config_init(&tc);
		tc.space = cfg->space;
		tc.base = cfg->base;
		tc.path = cfg->path;
		tc.fd = cfg->fd;
		tc.readonly = cfg->readonly;
		return vmm_trapblk_attach(vm, &tc, out);
	}
	case VMM_MODEL_PASSTHROUGH:
		return block_passthrough(vm, cfg, out);
	case VMM_MODEL_SPLIT:
	{
		struct vmm_virtio_blk_config vc;

		vmm_virtio_blk_config_init(&vc, VMM_VIRTIO_MMIO);
		vc.virtio.mmio_base = cfg->mmio_base;
		vc.virtio.irq = cfg->irq;
		vc.path = cfg->path;
		vc.fd = cfg->fd;
		vc.readonly = cfg->readonly;
		return vmm_virtio_blk_attach(vm, &vc, out);
	}
	}
	return vmm__err(vm, -EINVAL, "block: unknown model %d", (int)cfg->model);
}
