// SPDX-License-Identifier: MIT
/*
 * debug_exit.c - QEMU's isa-debug-exit: a guest write of value V to the
 * port stops the run loop with VMM_EXIT_GUEST_EXIT, value V and status
 * (V << 1) | 1, so test kernels written for QEMU report their result
 * unmodified.  Writes of any width inside the registered span count, with
 * V being exactly the value written (as QEMU passes it).  Reads return all
 * ones.  The device has no state, hence no lock.
 */
#include "dev/direct.h"
#include "core/statebuf.h"

#include <stdio.h>

struct debug_exit {
	vmm_vm *vm;
	uint16_t port;
	unsigned size;
};

static void debug_exit_destroy(void *priv);

/* Snapshot state (version 1): empty; the port and width are configuration. */
static int debug_exit_save(void *priv, struct vmm_sbuf *b)
{
	return 0;
}

static int debug_exit_restore(void *priv, uint32_t version,
			      struct vmm_sreader *r)
{
	struct debug_exit *d = priv;

	if (version != 1 || !vmm__sr_done(r))
		return vmm__err(d->vm, -EBADMSG,
				"debug-exit@0x%x: invalid saved state", d->port);
	return 0;
}

static int debug_exit_check(struct debug_exit *d, uint64_t off, unsigned size)
{
	if (!size || size > 8 || off >= d->size || size > d->size - off)
		return -EINVAL;
	return 0;
}

static int debug_exit_read(void *opaque, uint64_t off, void *data,
			   unsigned size, struct vmm_io_ctx *ctx)
{
	if (debug_exit_check(opaque, off, size))
		return -EINVAL;
	vmm__le_put(data, size, vmm__ones(size));
	return 0;
}

static int debug_exit_write(void *opaque, uint64_t off, const void *data,
			    unsigned size, struct vmm_io_ctx *ctx)
{
	uint32_t v;

	if (debug_exit_check(opaque, off, size))
		return -EINVAL;
	v = (uint32_t)vmm__le_get(data, size > 4 ? 4 : size);
	if (ctx) {
		ctx->stop = VMM_EXIT_GUEST_EXIT;
		ctx->stop_value = v;
		ctx->stop_status = (v << 1) | 1;
	}
	return 0;
}

static const struct vmm_io_ops debug_exit_ops = {
	.read = debug_exit_read,
	.write = debug_exit_write,
};

/**
 * vmm_debug_exit_attach() - attach an isa-debug-exit port.
 * @vm:   the VM.
 * @port: I/O port (0 = 0xf4).
 * @size: width of the port in bytes: 1, 2 or 4 (0 = 4).
 * @out:  receives the device handle.
 *
 * Returns 0, -EINVAL for a bad size or a span beyond port 0xffff, -EEXIST
 * if the ports are taken, -ENOMEM.
 */
int vmm_debug_exit_attach(vmm_vm *vm, uint16_t port, unsigned size,
			      vmm_dev **out)
{
	struct debug_exit *d;
	vmm_dev *dev;
	char name[32];
	int ret;

	if (!vm)
		return -EINVAL;
	if (!out)
		return vmm__err(vm, -EINVAL, "debug-exit: NULL out");
	if (!port)
		port = 0xf4;
	if (!size)
		size = 4;
	if (size != 1 && size != 2 && size != 4)
		return vmm__err(vm, -EINVAL, "debug-exit: bad size %u", size);
	if ((uint32_t)port + size > 0x10000)
		return vmm__err(vm, -EINVAL,
				"debug-exit: port 0x%x+%u out of range", port,
				size);

	d = vmm__alloc(vm, sizeof(*d));
	if (!d)
		return vmm__err(vm, -ENOMEM, "debug-exit: out of memory");
	d->vm = vm;
	d->port = port;
	d->size = size;
	snprintf(name, sizeof(name), "debug-exit@0x%x", port);

	ret = vmm_bus_register(vm, VMM_SPACE_PIO, port, size, &debug_exit_ops,
			       d, name);
	if (ret) {
		ret = vmm__err(vm, ret, "debug-exit: cannot register port 0x%x: %s",
			       port, vmm_strerror(ret));
		goto err_free;
	}
	dev = vmm__dev_new(vm, name, d, debug_exit_destroy);
	if (!dev) {
		ret = -ENOMEM;
		goto err_unregister;
	}
	vmm__dev_set_state_ops(dev, "debug-exit", VMM_SPACE_PIO, port, 1,
			       debug_exit_save, debug_exit_restore);
	*out = dev;
	return 0;

err_unregister:
	vmm_bus_unregister(vm, VMM_SPACE_PIO, port);
err_free:
	vmm__free(vm, d);
	return ret;
}

static void debug_exit_destroy(void *priv)
{
	struct debug_exit *d = priv;

	vmm_bus_unregister(d->vm, VMM_SPACE_PIO, d->port);
	vmm__free(d->vm, d);
}
