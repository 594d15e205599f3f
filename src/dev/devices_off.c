// SPDX-License-Identifier: MIT
/*
 * devices_off.c - the add-on device models' calls in a library built with
 * -Ddevices=disabled (UART, i8042, RTC, virtio, the vhost-user front-end,
 * trapblk, passthrough, VFIO): the same symbols (one ABI in every
 * configuration, src/libvmm.map), the attach calls returning -ENOTSUP
 * with a message, the config initialisers zeroing their structure.  The
 * core devices (PCI host, ACPI PM, debug-exit) and the model registry
 * (models.c) are always built; see docs/design.md, "Core and add-ons".
 */
#include "core/internal.h"
#include <libvmm/devices.h>
#include <libvmm/models.h>
#include <libvmm/vhost_user.h>
#include <libvmm/virtio.h>
#include <stdio.h>
#include <string.h>

static int off(vmm_vm *vm, vmm_dev **out, const char *what)
{
	if (out)
		*out = NULL;
	if (vm)
		return vmm__err(vm, -ENOTSUP, "%s: the device models are not "
				"built (-Ddevices=disabled)", what);
	return -ENOTSUP;
}

void vmm_uart_config_init(struct vmm_uart_config *cfg)
{
	if (cfg)
		memset(cfg, 0, sizeof(*cfg));
}

int vmm_uart_attach(vmm_vm *vm, const struct vmm_uart_config *cfg,
		    vmm_dev **out)
{
	(void)cfg;
	return off(vm, out, "uart");
}

int vmm_uart_input(vmm_dev *uart, const void *buf, size_t len)
{
	(void)uart, (void)buf, (void)len;
	return -ENOTSUP;
}

int vmm_i8042_attach(vmm_vm *vm, vmm_dev **out)
{
	return off(vm, out, "i8042");
}

int vmm_rtc_attach(vmm_vm *vm, vmm_dev **out)
{
	return off(vm, out, "rtc");
}

void vmm_virtio_config_init(struct vmm_virtio_config *cfg,
			    enum vmm_virtio_transport transport)
{
	(void)transport;
	if (cfg)
		memset(cfg, 0, sizeof(*cfg));
}

void vmm_virtio_blk_config_init(struct vmm_virtio_blk_config *cfg,
				enum vmm_virtio_transport transport)
{
	(void)transport;
	if (cfg)
		memset(cfg, 0, sizeof(*cfg));
}

int vmm_virtio_blk_attach(vmm_vm *vm, const struct vmm_virtio_blk_config *cfg,
			  vmm_dev **out)
{
	(void)cfg;
	return off(vm, out, "virtio-blk");
}

void vmm_virtio_net_config_init(struct vmm_virtio_net_config *cfg,
				enum vmm_virtio_transport transport)
{
	(void)transport;
	if (cfg)
		memset(cfg, 0, sizeof(*cfg));
}

int vmm_virtio_net_attach(vmm_vm *vm, const struct vmm_virtio_net_config *cfg,
			  vmm_dev **out)
{
	(void)cfg;
	return off(vm, out, "virtio-net");
}

void vmm_virtio_console_config_init(struct vmm_virtio_console_config *cfg,
				    enum vmm_virtio_transport transport)
{
	(void)transport;
	if (cfg)
		memset(cfg, 0, sizeof(*cfg));
}

int vmm_virtio_console_attach(vmm_vm *vm,
			      const struct vmm_virtio_console_config *cfg,
			      vmm_dev **out)
{
	(void)cfg;
	return off(vm, out, "virtio-console");
}

int vmm_virtio_rng_attach(vmm_vm *vm, const struct vmm_virtio_config *cfg,
			  vmm_dev **out)
{
	(void)cfg;
	return off(vm, out, "virtio-rng");
}

int vmm_virtio_get_stats(vmm_dev *dev, struct vmm_virtio_stats *st)
{
	(void)dev, (void)st;
	return -ENOTSUP;
}

int vmm_vhost_user_attach(vmm_vm *vm, const struct vmm_vhost_user_config *cfg,
			  vmm_dev **out)
{
	(void)cfg;
	return off(vm, out, "vhost-user");
}

void vmm_passthrough_config_init(struct vmm_passthrough_config *cfg)
{
	if (cfg)
		memset(cfg, 0, sizeof(*cfg));
}

int vmm_passthrough_attach(vmm_vm *vm, const struct vmm_passthrough_config *cfg,
			   vmm_dev **out)
{
	(void)cfg;
	return off(vm, out, "passthrough");
}

void vmm_trapblk_config_init(struct vmm_trapblk_config *cfg)
{
	if (cfg)
		memset(cfg, 0, sizeof(*cfg));
}

int vmm_trapblk_attach(vmm_vm *vm, const struct vmm_trapblk_config *cfg,
		       vmm_dev **out)
{
	(void)cfg;
	return off(vm, out, "trapblk");
}

int vmm_trapblk_get_stats(vmm_dev *dev, struct vmm_trapblk_stats *st)
{
	(void)dev, (void)st;
	return -ENOTSUP;
}

void vmm_vfio_pci_config_init(struct vmm_vfio_pci_config *cfg)
{
	if (cfg)
		memset(cfg, 0, sizeof(*cfg));
}

int vmm_vfio_available(char *why, size_t len)
{
	if (why && len)
		snprintf(why, len, "the device models are not built "
			 "(-Ddevices=disabled)");
	return -ENOTSUP;
}

int vmm_vfio_pci_attach(vmm_vm *vm, const struct vmm_vfio_pci_config *cfg,
			vmm_dev **out)
{
	(void)cfg;
	return off(vm, out, "vfio-pci");
}
