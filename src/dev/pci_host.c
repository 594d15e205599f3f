// SPDX-License-Identifier: MIT
/*
 * pci_host.c - a PCI host bridge with configuration mechanism #1.
 *
 *  0xcf8       32-bit CONFIG_ADDRESS: enable (31), bus (23:16), device
 *              (15:11), function (10:8), dword register (7:2).  Reserved
 *              bits 30:24 and 1:0 read back 0.  Only 4-byte accesses at
 *              0xcf8 reach it; narrower ones are not config accesses: they
 *              read all ones and are dropped, except the byte at 0xcf9,
 *              which is the PIIX reset control register (writing bit 2 =
 *              RST_CPU stops the run loop with VMM_EXIT_RESET).
 *  0xcfc-0xcff CONFIG_DATA: 1-, 2- and 4-byte accesses at any offset that
 *              stays inside the dword (the window ends at 0xcff, so the bus
 *              refuses any access that would cross it).  Other widths (3)
 *              read all ones and are dropped, as are accesses while the
 *              enable bit is clear.
 *
 * 00:00.0 is an Intel 440FX host bridge (8086:1237, class 06 00 00, header
 * type 0) with 192 bytes of device-specific scratch registers (0x40-0xff:
 * PAM, SMRAM ... are stored, not acted on).  Devices 1-31 on bus 0,
 * function 0, come from vmm_pci_add(); any other function reads all ones.
 * Every config access goes through pci_cfg_read()/pci_cfg_write(), which
 * take (bus, devfn, register) so an MMIO ECAM window can use them later.
 */
#include "dev/direct.h"
#include "core/statebuf.h"

#include <pthread.h>
#include <string.h>

#define PCI_PORT 0xcf8
#define PCI_NPORTS 8
#define PCI_SLOTS 32
#define PCI_CFG_SIZE 256

#define CF8_ENABLE 0x80000000u
#define CF8_MASK 0x80fffffcu

#define RCR_SYS_RST 0x02
#define RCR_RST_CPU 0x04
#define RCR_FULL_RST 0x08

struct pci_fn {
	struct vmm_pci_ops ops;
	void *opaque;
	bool used;
};

struct pci_host {
	vmm_vm *vm;
	pthread_mutex_t lock; /* also serialises the functions' callbacks */
	uint32_t addr;
	uint8_t rcr;
	uint8_t cfg[PCI_CFG_SIZE];   /* the bridge's own config space */
	uint8_t wmask[PCI_CFG_SIZE]; /* its writable bits */
	struct pci_fn fn[PCI_SLOTS];
};

static void pci_host_destroy(void *priv);
static int pci_host_save(void *priv, struct vmm_sbuf *b);
static int pci_host_restore(void *priv, uint32_t version,
			    struct vmm_sreader *r);

static void pci_bridge_init(struct pci_host *h)
{
	vmm__le_put(&h->cfg[0x00], 2, 0x8086); /* Intel */
	vmm__le_put(&h->cfg[0x02], 2, 0x1237); /* 440FX */
	vmm__le_put(&h->cfg[0x04], 2, 0x0006); /* memory, bus master */
	h->cfg[0x08] = 0x02;                   /* revision */
	h->cfg[0x0a] = 0x00;                   /* subclass: host bridge */
	h->cfg[0x0b] = 0x06;                   /* class: bridge */
	h->cfg[0x0e] = 0x00;                   /* header type 0 */

	h->wmask[0x04] = 0x47; /* io, mem, master, parity */
	h->wmask[0x05] = 0x01; /* SERR# */
	h->wmask[0x0c] = 0xff; /* cache line size */
	h->wmask[0x0d] = 0xff; /* latency timer */
	memset(&h->wmask[0x40], 0xff, PCI_CFG_SIZE - 0x40);
}

/* ---- config space, by (bus, devfn, register) ---- */

static uint32_t pci_bridge_read(struct pci_host *h, uint16_t reg,
				unsigned size)
{
	return (uint32_t)vmm__le_get(&h->cfg[reg], size);
}

static void pci_bridge_write(struct pci_host *h, uint16_t reg, uint32_t v,
			     unsigned size)
{
	for (unsigned i = 0; i < size; i++, v >>= 8) {
		uint8_t m = h->wmask[reg + i];

		h->cfg[reg + i] = (h->cfg[reg + i] & ~m) | ((uint8_t)v & m);
	}
}

/*
 * pci_cfg_read() - read @size (1/2/4) bytes of register @reg of
 * @bus:@devfn; @reg + @size never crosses a dword.  Lock held.
 */
static uint32_t pci_cfg_read(struct pci_host *h, unsigned bus,
			     unsigned devfn, uint16_t reg, unsigned size)
{
	uint32_t ones = (uint32_t)vmm__ones(size);
	struct pci_fn *f;

	if (bus || reg >= PCI_CFG_SIZE || (devfn & 7))
		return ones;
	if (devfn == 0)
		return pci_bridge_read(h, reg, size);
	f = &h->fn[devfn >> 3];
	if (!f->used)
		return ones;
	return f->ops.cfg_read(f->opaque, reg, size) & ones;
}

static void pci_cfg_write(struct pci_host *h, unsigned bus, unsigned devfn,
			  uint16_t reg, uint32_t v, unsigned size)
{
	struct pci_fn *f;

	if (bus || reg >= PCI_CFG_SIZE || (devfn & 7))
		return;
	v &= (uint32_t)vmm__ones(size);
	if (devfn == 0) {
		pci_bridge_write(h, reg, v, size);
		return;
	}
	f = &h->fn[devfn >> 3];
	if (f->used && f->ops.cfg_write)
		f->ops.cfg_write(f->opaque, reg, v, size);
}

/* ---- mechanism #1 ---- */

/* Decode CONFIG_ADDRESS for a data access at byte @byte of the window. */
static bool pci_cf8_decode(const struct pci_host *h, unsigned byte,
			   unsigned *bus, unsigned *devfn, uint16_t *reg)
{
	if (!(h->addr & CF8_ENABLE))
		return false;
	*bus = (h->addr >> 16) & 0xff;
	*devfn = (h->addr >> 8) & 0xff;
	*reg = (uint16_t)((h->addr & 0xfc) + byte);
	return true;
}

static bool pci_size_ok(unsigned size)
{
	return size == 1 || size == 2 || size == 4;
}

static int pci_check(uint64_t off, unsigned size)
{
	if (!size || size > 8 || off >= PCI_NPORTS || size > PCI_NPORTS - off)
		return -EINVAL;
	return 0;
}

static uint64_t pci_io_read(struct pci_host *h, unsigned off, unsigned size)
{
	unsigned bus, devfn;
	uint16_t reg;

	if (off == 0 && size == 4)
		return h->addr;
	if (off == 1 && size == 1)
		return h->rcr;
	if (off < 4 || !pci_size_ok(size) ||
	    !pci_cf8_decode(h, off - 4, &bus, &devfn, &reg))
		return vmm__ones(size);
	return pci_cfg_read(h, bus, devfn, reg, size);
}

static void pci_io_write(struct pci_host *h, unsigned off, uint32_t v,
			 unsigned size, struct vmm_io_ctx *ctx)
{
	unsigned bus, devfn;
	uint16_t reg;

	if (off == 0 && size == 4) {
		h->addr = v & CF8_MASK;
	} else if (off == 1 && size == 1) {
		if ((v & RCR_RST_CPU) && !(h->rcr & RCR_RST_CPU) && ctx)
			ctx->stop = VMM_EXIT_RESET;
		h->rcr = v & (RCR_SYS_RST | RCR_FULL_RST);
	} else if (off >= 4 && pci_size_ok(size) &&
		   pci_cf8_decode(h, off - 4, &bus, &devfn, &reg)) {
		pci_cfg_write(h, bus, devfn, reg, v, size);
	}
}

static int pci_read(void *opaque, uint64_t off, void *data, unsigned size,
		    struct vmm_io_ctx *ctx)
{
	struct pci_host *h = opaque;
	uint64_t v;

	if (pci_check(off, size))
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	v = pci_io_read(h, (unsigned)off, size);
	pthread_mutex_unlock(&h->lock);
	vmm__le_put(data, size, v);
	return 0;
}

static int pci_write(void *opaque, uint64_t off, const void *data,
		     unsigned size, struct vmm_io_ctx *ctx)
{
	struct pci_host *h = opaque;
	uint32_t v;

	if (pci_check(off, size))
		return -EINVAL;
	v = (uint32_t)vmm__le_get(data, size > 4 ? 4 : size);
	pthread_mutex_lock(&h->lock);
	pci_io_write(h, (unsigned)off, v, size, ctx);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static const struct vmm_io_ops pci_ops = {
	.read = pci_read,
	.write = pci_write,
};

/* ---- attach / functions ---- */

/**
 * vmm_pci_host_attach() - attach the PCI host bridge (see devices.h).
 * @vm:  the VM.
 * @out: receives the device handle.
 *
 * Returns 0, -EINVAL, -EEXIST if 0xcf8-0xcff is taken (a second host),
 * -ENOMEM.
 */
int vmm_pci_host_attach(vmm_vm *vm, vmm_dev **out)
{
	struct pci_host *h;
	vmm_dev *dev;
	int ret;

	if (!vm)
		return -EINVAL;
	if (!out)
		return vmm__err(vm, -EINVAL, "pci-host: NULL out");
	h = vmm__alloc(vm, sizeof(*h));
	if (!h)
		return vmm__err(vm, -ENOMEM, "pci-host: out of memory");
	h->vm = vm;
	pci_bridge_init(h);
	ret = pthread_mutex_init(&h->lock, NULL);
	if (ret) {
		ret = vmm__err(vm, -ret, "pci-host: mutex: %s",
			       vmm_strerror(-ret));
		goto err_free;
	}
	ret = vmm_bus_register(vm, VMM_SPACE_PIO, PCI_PORT, PCI_NPORTS,
			       &pci_ops, h, "pci-host");
	if (ret) {
		ret = vmm__err(vm, ret, "pci-host: cannot register 0xcf8-0xcff%s: %s",
			       ret == -EEXIST ? " (one host per VM)" : "",
			       vmm_strerror(ret));
		goto err_mutex;
	}
	dev = vmm__dev_new(vm, "pci-host", h, pci_host_destroy);
	if (!dev) {
		ret = -ENOMEM;
		goto err_unregister;
	}
	vmm__dev_set_state_ops(dev, "pci-host", VMM_SPACE_PIO, PCI_PORT, 1,
			       pci_host_save, pci_host_restore);
	*out = dev;
	return 0;

err_unregister:
	vmm_bus_unregister(vm, VMM_SPACE_PIO, PCI_PORT);
err_mutex:
	pthread_mutex_destroy(&h->lock);
err_free:
	vmm__free(vm, h);
	return ret;
}

/*
 * Snapshot state (version 1):
 *   u32 CONFIG_ADDRESS, u8 reset control, 256 bytes of the bridge's config
 *   space, u32 bitmap of occupied slots (bit = device number)
 * The functions behind the slots save their own state; restore checks that
 * the same slots are occupied.
 */
static int pci_host_save(void *priv, struct vmm_sbuf *b)
{
	struct pci_host *h = priv;
	uint32_t used = 0;

	pthread_mutex_lock(&h->lock);
	for (int i = 1; i < PCI_SLOTS; i++)
		if (h->fn[i].used)
			used |= 1u << i;
	vmm__sb_u32(b, h->addr);
	vmm__sb_u8(b, h->rcr);
	vmm__sb_bytes(b, h->cfg, sizeof(h->cfg));
	vmm__sb_u32(b, used);
	pthread_mutex_unlock(&h->lock);
	return vmm__sb_error(b);
}

static int pci_host_restore(void *priv, uint32_t version,
			    struct vmm_sreader *r)
{
	struct pci_host *h = priv;
	uint8_t cfg[PCI_CFG_SIZE], rcr;
	uint32_t addr, used, have = 0;

	if (version != 1)
		return vmm__err(h->vm, -ENOTSUP, "pci-host: state version %u",
				version);
	addr = vmm__sr_u32(r);
	rcr = vmm__sr_u8(r);
	vmm__sr_bytes(r, cfg, sizeof(cfg));
	used = vmm__sr_u32(r);
	if (!vmm__sr_done(r) || (addr & ~CF8_MASK) ||
	    (rcr & ~(RCR_SYS_RST | RCR_FULL_RST)))
		return vmm__err(h->vm, -EBADMSG, "pci-host: invalid saved state");
	pthread_mutex_lock(&h->lock);
	for (int i = 1; i < PCI_SLOTS; i++)
		if (h->fn[i].used)
			have |= 1u << i;
	if (have != used) {
		pthread_mutex_unlock(&h->lock);
		return vmm__err(h->vm, -EINVAL,
				"pci-host: saved slots 0x%x, attached 0x%x",
				used, have);
	}
	h->addr = addr;
	h->rcr = rcr;
	/* identity bytes stay as this libvmm builds them; only writable
	 * bits come from the saved image */
	for (int i = 0; i < PCI_CFG_SIZE; i++)
		h->cfg[i] = (h->cfg[i] & ~h->wmask[i]) | (cfg[i] & h->wmask[i]);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static void pci_host_destroy(void *priv)
{
	struct pci_host *h = priv;

	vmm_bus_unregister(h->vm, VMM_SPACE_PIO, PCI_PORT);
	pthread_mutex_destroy(&h->lock);
	vmm__free(h->vm, h);
}

static struct pci_host *pci_host_of(vmm_dev *dev)
{
	if (!dev || dev->destroy != pci_host_destroy || !dev->priv)
		return NULL;
	return dev->priv;
}

/**
 * vmm_pci_add() - put a function on bus 0 (see devices.h).
 * @host:   the host bridge from vmm_pci_host_attach().
 * @slot:   device number 1..31, or -1 for the lowest free one.
 * @ops:    its config space; @ops->cfg_read is required, cfg_write may be
 *          NULL (writes are dropped).  The struct is copied.
 * @opaque: passed to the callbacks.
 *
 * Returns the slot, -EINVAL for bad arguments, -EEXIST if @slot is taken,
 * -ENOSPC if no slot is free.
 */
int vmm_pci_add(vmm_dev *host, int slot, const struct vmm_pci_ops *ops,
		void *opaque)
{
	struct pci_host *h = pci_host_of(host);
	int ret;

	if (!h)
		return -EINVAL;
	if (!ops || !ops->cfg_read)
		return vmm__err(h->vm, -EINVAL, "pci: ops without cfg_read");
	if (slot != -1 && (slot < 1 || slot >= PCI_SLOTS))
		return vmm__err(h->vm, -EINVAL, "pci: bad slot %d", slot);
	pthread_mutex_lock(&h->lock);
	if (slot == -1) {
		for (slot = 1; slot < PCI_SLOTS && h->fn[slot].used; slot++)
			;
	}
	if (slot == PCI_SLOTS) {
		ret = -ENOSPC;
	} else if (h->fn[slot].used) {
		ret = -EEXIST;
	} else {
		h->fn[slot].ops = *ops;
		h->fn[slot].opaque = opaque;
		h->fn[slot].used = true;
		ret = slot;
	}
	pthread_mutex_unlock(&h->lock);
	if (ret == -ENOSPC)
		return vmm__err(h->vm, ret, "pci: bus 0 is full");
	if (ret == -EEXIST)
		return vmm__err(h->vm, ret, "pci: slot %d is taken", slot);
	return ret;
}

/**
 * vmm_pci_remove() - take the function at @slot off the bus.
 * @host: the host bridge.
 * @slot: 1..31.
 *
 * When it returns, no callback of that function runs or will run.
 * Returns 0, -EINVAL, or -ENOENT if the slot is empty.
 */
int vmm_pci_remove(vmm_dev *host, int slot)
{
	struct pci_host *h = pci_host_of(host);
	bool used;

	if (!h)
		return -EINVAL;
	if (slot < 1 || slot >= PCI_SLOTS)
		return vmm__err(h->vm, -EINVAL, "pci: bad slot %d", slot);
	pthread_mutex_lock(&h->lock);
	used = h->fn[slot].used;
	memset(&h->fn[slot], 0, sizeof(h->fn[slot]));
	pthread_mutex_unlock(&h->lock);
	if (!used)
		return vmm__err(h->vm, -ENOENT, "pci: slot %d is empty", slot);
	return 0;
}
