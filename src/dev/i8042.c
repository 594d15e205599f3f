// SPDX-License-Identifier: MIT
/*
 * i8042.c - enough of the 8042 keyboard controller for firmware and kernels
 * that probe it and reset the machine through it, plus port 0x61 (system
 * control port B).
 *
 *  0x60  data: reads the output buffer; writes go to the controller when a
 *        command waits for a parameter (0x60, 0xd1, 0xd2, 0xd3, 0xd4),
 *        else to the keyboard, which answers ACK (0xfa), and 0xaa after a
 *        reset (0xff), its ID after 0xf2, 0xee to an echo.
 *  0x64  read: status; write: command.  Reset: 0xfe (and every pulse
 *        command 0xf0-0xfe with bit 0 clear), and an output-port write
 *        (0xd1) with bit 0 clear, both stop the run loop with
 *        VMM_EXIT_RESET.
 *  0x61  bits 0-3 as written (bit 0 = PIT channel 2 gate), bit 4 toggles
 *        on every read (DRAM refresh), bit 5 = PIT channel 2 output from a
 *        hook (0 until a PIT is wired with vmm__i8042_set_pit_hook()).
 *        Not registered if another device has port 0x61 (e.g. a PIT).
 *
 * There is no keyboard or mouse and no IRQ 1/12: the controller is polled.
 */
#include "dev/direct.h"
#include "core/statebuf.h"

#include <pthread.h>
#include <string.h>

#define KBD_DATA 0x60
#define KBD_PORTB 0x61
#define KBD_CMD 0x64

#define ST_OBF 0x01
#define ST_SYS 0x04
#define ST_A2 0x08     /* last write was a command */
#define ST_UNLOCK 0x10 /* keyboard not inhibited */

#define CB_SYS 0x04
#define CB_KBD_OFF 0x10
#define CB_AUX_OFF 0x20

#define OUTQ 8

struct i8042 {
	vmm_vm *vm;
	pthread_mutex_t lock;
	uint8_t status;
	uint8_t cmd_byte;
	uint8_t outport;     /* bit 0 = reset line (1 = running), bit 1 = A20 */
	uint8_t pending;     /* command waiting for its data byte, or 0 */
	uint8_t outq[OUTQ];
	unsigned out_head, out_len;
	uint8_t last_out;
	bool have_portb;
	uint8_t portb;       /* bits 0-3 */
	bool refresh;
	int (*pit_out2)(void *opaque);
	void (*pit_gate2)(void *opaque, int level);
	void *pit_opaque;
};

static void i8042_destroy(void *priv);

/*
 * Snapshot state (version 1):
 *   u8 status, command byte, output port, pending command, port 0x61 bits,
 *      refresh toggle, last byte read, queue length n (<= 8)
 *   n bytes of the output queue, oldest first
 * Whether port 0x61 is ours and the PIT hooks are configuration.
 */
static int i8042_save(void *priv, struct vmm_sbuf *b)
{
	struct i8042 *k = priv;

	pthread_mutex_lock(&k->lock);
	vmm__sb_u8(b, k->status);
	vmm__sb_u8(b, k->cmd_byte);
	vmm__sb_u8(b, k->outport);
	vmm__sb_u8(b, k->pending);
	vmm__sb_u8(b, k->portb);
	vmm__sb_u8(b, k->refresh);
	vmm__sb_u8(b, k->last_out);
	vmm__sb_u8(b, (uint8_t)k->out_len);
	for (unsigned i = 0; i < k->out_len; i++)
		vmm__sb_u8(b, k->outq[(k->out_head + i) % OUTQ]);
	pthread_mutex_unlock(&k->lock);
	return vmm__sb_error(b);
}

static int i8042_restore(void *priv, uint32_t version, struct vmm_sreader *r)
{
	struct i8042 *k = priv;
	uint8_t v[8], q[OUTQ];

	if (version != 1)
		return vmm__err(k->vm, -ENOTSUP, "i8042: state version %u",
				version);
	vmm__sr_bytes(r, v, sizeof(v));
	if (v[7] > OUTQ)
		goto bad;
	vmm__sr_bytes(r, q, v[7]);
	if (!vmm__sr_done(r) || v[4] & ~0x0f || v[5] > 1)
		goto bad;
	pthread_mutex_lock(&k->lock);
	k->status = v[0];
	k->cmd_byte = v[1];
	k->outport = v[2];
	k->pending = v[3];
	k->portb = v[4];
	k->refresh = v[5];
	k->last_out = v[6];
	k->out_head = 0;
	k->out_len = v[7];
	memcpy(k->outq, q, v[7]);
	pthread_mutex_unlock(&k->lock);
	return 0;
bad:
	return vmm__err(k->vm, -EBADMSG, "i8042: invalid saved state");
}

static void i8042_push(struct i8042 *k, uint8_t v)
{
	if (k->out_len == OUTQ)
		return;
	k->outq[(k->out_head + k->out_len) % OUTQ] = v;
	k->out_len++;
	k->status |= ST_OBF;
}

static uint8_t i8042_pop(struct i8042 *k)
{
	if (k->out_len) {
		k->last_out = k->outq[k->out_head];
		k->out_head = (k->out_head + 1) % OUTQ;
		k->out_len--;
	}
	if (!k->out_len)
		k->status &= ~ST_OBF;
	return k->last_out;
}

static void i8042_reset(struct vmm_io_ctx *ctx)
{
	if (ctx)
		ctx->stop = VMM_EXIT_RESET;
}

static void i8042_write_outport(struct i8042 *k, uint8_t v,
				struct vmm_io_ctx *ctx)
{
	k->outport = v;
	if (!(v & 0x01))
		i8042_reset(ctx);
}

static void i8042_command(struct i8042 *k, uint8_t cmd,
			  struct vmm_io_ctx *ctx)
{
	k->status |= ST_A2;
	k->pending = 0;
	switch (cmd) {
	case 0x20: /* read command byte */
		i8042_push(k, k->cmd_byte);
		break;
	case 0x60: /* write command byte */
	case 0xd1: /* write output port */
	case 0xd2: /* write keyboard output buffer */
	case 0xd3: /* write aux output buffer */
	case 0xd4: /* write to aux device */
		k->pending = cmd;
		break;
	case 0xa7:
		k->cmd_byte |= CB_AUX_OFF;
		break;
	case 0xa8:
		k->cmd_byte &= ~CB_AUX_OFF;
		break;
	case 0xa9: /* aux interface test: ok */
	case 0xab: /* keyboard interface test: ok */
		i8042_push(k, 0x00);
		break;
	case 0xaa: /* self-test */
		k->status |= ST_SYS;
		k->cmd_byte |= CB_SYS;
		i8042_push(k, 0x55);
		break;
	case 0xad:
		k->cmd_byte |= CB_KBD_OFF;
		break;
	case 0xae:
		k->cmd_byte &= ~CB_KBD_OFF;
		break;
	case 0xd0: /* read output port */
		i8042_push(k, k->outport);
		break;
	default:
		/* 0xf0-0xff pulse output port bits 0-3 that are 0 in cmd */
		if ((cmd & 0xf0) == 0xf0 && !(cmd & 0x01))
			i8042_reset(ctx);
		break;
	}
}

/* A byte sent to the (absent but polite) keyboard. */
static void i8042_kbd_write(struct i8042 *k, uint8_t v)
{
	switch (v) {
	case 0xee: /* echo */
		i8042_push(k, 0xee);
		break;
	case 0xf2: /* identify: MF2 keyboard */
		i8042_push(k, 0xfa);
		i8042_push(k, 0xab);
		i8042_push(k, 0x83);
		break;
	case 0xff: /* reset and self-test */
		i8042_push(k, 0xfa);
		i8042_push(k, 0xaa);
		break;
	default:
		i8042_push(k, 0xfa);
		break;
	}
}

static void i8042_data_write(struct i8042 *k, uint8_t v,
			     struct vmm_io_ctx *ctx)
{
	uint8_t cmd = k->pending;

	k->status &= ~ST_A2;
	k->pending = 0;
	switch (cmd) {
	case 0x60:
		k->cmd_byte = v;
		k->status = (k->status & ~ST_SYS) | (v & CB_SYS);
		break;
	case 0xd1:
		i8042_write_outport(k, v, ctx);
		break;
	case 0xd2:
	case 0xd3:
		i8042_push(k, v);
		break;
	case 0xd4:
		break; /* no mouse */
	default:
		i8042_kbd_write(k, v);
		break;
	}
}

static uint8_t i8042_portb_read(struct i8042 *k)
{
	uint8_t v = k->portb & 0x0f;

	k->refresh = !k->refresh;
	if (k->refresh)
		v |= 0x10;
	if (k->pit_out2 && k->pit_out2(k->pit_opaque))
		v |= 0x20;
	return v;
}

static void i8042_portb_write(struct i8042 *k, uint8_t v)
{
	bool gate_changed = (k->portb ^ v) & 0x01;

	k->portb = v & 0x0f;
	if (gate_changed && k->pit_gate2)
		k->pit_gate2(k->pit_opaque, v & 0x01);
}

/* The three ports are one byte each; wider accesses are not decoded. */
static int i8042_read(void *opaque, uint64_t off, void *data, unsigned size,
		      struct vmm_io_ctx *ctx, unsigned port)
{
	struct i8042 *k = opaque;
	uint8_t v;

	if (off || !size || size > 8)
		return -EINVAL;
	pthread_mutex_lock(&k->lock);
	if (port == KBD_DATA)
		v = i8042_pop(k);
	else if (port == KBD_CMD)
		v = k->status;
	else
		v = i8042_portb_read(k);
	pthread_mutex_unlock(&k->lock);
	vmm__le_put(data, size, vmm__ones(size));
	*(uint8_t *)data = v;
	return 0;
}

static int i8042_write(void *opaque, uint64_t off, const void *data,
		       unsigned size, struct vmm_io_ctx *ctx, unsigned port)
{
	struct i8042 *k = opaque;
	uint8_t v = *(const uint8_t *)data;

	if (off || !size || size > 8)
		return -EINVAL;
	pthread_mutex_lock(&k->lock);
	if (port == KBD_DATA)
		i8042_data_write(k, v, ctx);
	else if (port == KBD_CMD)
		i8042_command(k, v, ctx);
	else
		i8042_portb_write(k, v);
	pthread_mutex_unlock(&k->lock);
	return 0;
}

#define I8042_PORT_OPS(name, port)                                             \
	static int name##_read(void *o, uint64_t off, void *d, unsigned s,     \
			       struct vmm_io_ctx *c)                           \
	{                                                                      \
		return i8042_read(o, off, d, s, c, port);                      \
	}                                                                      \
	static int name##_write(void *o, uint64_t off, const void *d,          \
				unsigned s, struct vmm_io_ctx *c)              \
	{                                                                      \
		return i8042_write(o, off, d, s, c, port);                     \
	}                                                                      \
	static const struct vmm_io_ops name##_ops = {                          \
		.read = name##_read,                                           \
		.write = name##_write,                                         \
	}

I8042_PORT_OPS(io_data, KBD_DATA);
I8042_PORT_OPS(io_cmd, KBD_CMD);
I8042_PORT_OPS(io_portb, KBD_PORTB);

/**
 * vmm_i8042_attach() - attach the i8042 at 0x60/0x64 and port 0x61.
 * @vm:  the VM.
 * @out: receives the device handle.
 *
 * Port 0x61 is left alone when another device already has it.  Returns 0,
 * -EINVAL, -EEXIST if 0x60 or 0x64 is taken, -ENOMEM.
 */
int vmm_i8042_attach(vmm_vm *vm, vmm_dev **out)
{
	struct i8042 *k;
	vmm_dev *dev;
	int ret;

	if (!vm)
		return -EINVAL;
	if (!out)
		return vmm__err(vm, -EINVAL, "i8042: NULL out");
	k = vmm__alloc(vm, sizeof(*k));
	if (!k)
		return vmm__err(vm, -ENOMEM, "i8042: out of memory");
	k->vm = vm;
	/* as firmware leaves it: self-test passed, translation, kbd irq */
	k->status = ST_UNLOCK | ST_SYS;
	k->cmd_byte = 0x45;
	k->outport = 0x03;  /* running, A20 on */
	struct vmm_bus_stats bst = { .struct_size = sizeof(bst) };

	ret = pthread_mutex_init(&k->lock, NULL);
	if (ret) {
		ret = vmm__err(vm, -ret, "i8042: mutex: %s", vmm_strerror(-ret));
		goto err_free;
	}

	ret = vmm_bus_register(vm, VMM_SPACE_PIO, KBD_DATA, 1, &io_data_ops,
			       k, "i8042-data");
	if (ret)
		goto err_reg;
	ret = vmm_bus_register(vm, VMM_SPACE_PIO, KBD_CMD, 1, &io_cmd_ops,
			       k, "i8042-cmd");
	if (ret)
		goto err_data;
	/* port 0x61 only when free: asked first, so that a PIT's port 0x61
	 * is not an overlap error in the VM's log */
	if (vmm_bus_get_stats(vm, VMM_SPACE_PIO, KBD_PORTB, &bst, NULL, 0) == 0)
		ret = -EEXIST;
	else
		ret = vmm_bus_register(vm, VMM_SPACE_PIO, KBD_PORTB, 1,
				       &io_portb_ops, k, "port61");
	if (ret && ret != -EEXIST)
		goto err_cmd;
	k->have_portb = !ret;

	dev = vmm__dev_new(vm, "i8042", k, i8042_destroy);
	if (!dev) {
		ret = -ENOMEM;
		goto err_portb;
	}
	vmm__dev_set_state_ops(dev, "i8042", VMM_SPACE_PIO, KBD_DATA, 1,
			       i8042_save, i8042_restore);
	*out = dev;
	return 0;

err_portb:
	if (k->have_portb)
		vmm_bus_unregister(vm, VMM_SPACE_PIO, KBD_PORTB);
err_cmd:
	vmm_bus_unregister(vm, VMM_SPACE_PIO, KBD_CMD);
err_data:
	vmm_bus_unregister(vm, VMM_SPACE_PIO, KBD_DATA);
err_reg:
	ret = vmm__err(vm, ret, "i8042: cannot attach: %s", vmm_strerror(ret));
	pthread_mutex_destroy(&k->lock);
err_free:
	vmm__free(vm, k);
	return ret;
}

static void i8042_destroy(void *priv)
{
	struct i8042 *k = priv;

	if (k->have_portb)
		vmm_bus_unregister(k->vm, VMM_SPACE_PIO, KBD_PORTB);
	vmm_bus_unregister(k->vm, VMM_SPACE_PIO, KBD_CMD);
	vmm_bus_unregister(k->vm, VMM_SPACE_PIO, KBD_DATA);
	pthread_mutex_destroy(&k->lock);
	vmm__free(k->vm, k);
}

int vmm__i8042_set_pit_hook(vmm_dev *dev, int (*out2)(void *opaque),
			    void (*gate2)(void *opaque, int level),
			    void *opaque)
{
	struct i8042 *k;

	if (!dev || dev->destroy != i8042_destroy || !dev->priv)
		return -EINVAL;
	k = dev->priv;
	pthread_mutex_lock(&k->lock);
	k->pit_out2 = out2;
	k->pit_gate2 = gate2;
	k->pit_opaque = opaque;
	pthread_mutex_unlock(&k->lock);
	return 0;
}
