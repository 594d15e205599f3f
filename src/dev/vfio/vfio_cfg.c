// SPDX-License-Identifier: MIT
/*
 * vfio_cfg.c - configuration-space emulation of a passed-through PCI
 * function (see vfio_cfg.h).  Pure logic: unit-tested without a device.
 */
#include "dev/vfio/vfio_cfg.h"

#include <errno.h>
#include <string.h>

#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_BAR0 0x10
#define PCI_ROM 0x30
#define PCI_CAP_PTR 0x34
#define CAP_MSI 0x05
#define CAP_MSIX 0x11

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static bool pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* The type bits of a BAR register (low 4 bits for memory, 2 for I/O). */
static uint32_t bar_flags(const struct vmm__vfio_bar *b)
{
	if (b->io)
		return 0x1;
	return (b->mem64 ? 0x4 : 0) | (b->prefetch ? 0x8 : 0);
}

int vmm__vfio_cfg_init(struct vmm__vfio_cfg *c, const uint8_t dev[256],
		       const struct vmm__vfio_bar bars[VFIO_CFG_NBARS])
{
	uint8_t seen[256 / 4] = { 0 };
	unsigned off;

	memset(c, 0, sizeof(*c));
	for (unsigned i = 0; i < VFIO_CFG_NBARS; i++) {
		const struct vmm__vfio_bar *b = &bars[i];

		if (!b->size)
			continue;
		if (!pow2(b->size) || (b->io && b->size > 0x10000) ||
		    (b->io && b->mem64) ||
		    (!b->mem64 && b->size > 0x80000000ull) ||
		    (b->mem64 && i == VFIO_CFG_NBARS - 1))
			return -EINVAL;
		c->bar[i] = *b;
		c->bar_reg[i] = bar_flags(b);
		if (b->mem64) {
			/* the upper half is part of this BAR */
			memset(&c->bar[i + 1], 0, sizeof(c->bar[i + 1]));
			c->bar_reg[i + 1] = 0;
			i++;
		}
	}
	c->command = le16(dev + PCI_COMMAND) &
		     (uint16_t)~(PCI_CMD_IO | PCI_CMD_MEM);

	if (!(le16(dev + PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return 0;
	off = dev[PCI_CAP_PTR] & 0xfc;
	/* at most 48 capabilities fit in 192 bytes; stop at any loop */
	for (int hops = 0; off >= 0x40 && off <= 0xfc && hops < 48; hops++) {
		if (seen[off / 4])
			break;
		seen[off / 4] = 1;
		switch (dev[off]) {
		case CAP_MSI:
			if (off > 256 - 10)
				break;
			c->msi_off = (uint8_t)off;
			c->msi_ctrl = le16(dev + off + 2) & 0x01fe & ~0x70;
			c->msi_64 = c->msi_ctrl & 0x80;
			c->msi_maskable = c->msi_ctrl & 0x100;
			if (off > 256 - (c->msi_64 ? 14 : 10))
				c->msi_off = 0;
			break;
		case CAP_MSIX: {
			uint32_t t, p;

			if (off > 256 - 12)
				break;
			c->msix_off = (uint8_t)off;
			c->msix_ctrl = le16(dev + off + 2) & 0x07ff;
			c->msix_entries = (uint16_t)((c->msix_ctrl & 0x7ff) + 1);
			t = le32(dev + off + 4);
			p = le32(dev + off + 8);
			c->msix_table_bar = t & 7;
			c->msix_table_off = t & ~7u;
			c->msix_pba_bar = p & 7;
			c->msix_pba_off = p & ~7u;
			if (c->msix_table_bar >= VFIO_CFG_NBARS ||
			    c->msix_pba_bar >= VFIO_CFG_NBARS ||
			    !c->bar[c->msix_table_bar].size ||
			    c->bar[c->msix_table_bar].io ||
			    (uint64_t)c->msix_table_off +
					    (uint64_t)c->msix_entries * 16 >
				    c->bar[c->msix_table_bar].size)
				return -EINVAL;
			break;
		}
		}
		off = dev[off + 1] & 0xfc;
	}
	return 0;
}

/* Which BAR register (0..5) holds config byte @off, or -1. */
static int bar_index(unsigned off)
{
	if (off < PCI_BAR0 || off >= PCI_BAR0 + 4 * VFIO_CFG_NBARS)
		return -1;
	return (int)((off - PCI_BAR0) / 4);
}

/* Overlay @size bytes of the 32-bit value @emu at @off onto @val. */
static uint32_t overlay(uint32_t val, unsigned off, unsigned size,
			unsigned reg, unsigned reglen, uint32_t emu)
{
	for (unsigned i = 0; i < size; i++) {
		unsigned b = off + i;
		if (b >= reg && b < reg + reglen) {
			uint32_t byte = (emu >> (8 * (b - reg))) & 0xff;
			val = (val & ~(0xffu << (8 * i))) | (byte << (8 * i));
		}
	}
	return val;
}

uint32_t vmm__vfio_cfg_read(const struct vmm__vfio_cfg *c, unsigned off,
			    unsigned size, uint32_t devval)
{
	uint32_t v = devval;
	int bi = bar_index(off);

	if (bi >= 0)
		v = overlay(v, off, size, PCI_BAR0 + 4 * (unsigned)bi, 4,
			    c->bar_reg[bi]);
	v = overlay(v, off, size, PCI_ROM, 4, 0); /* no option ROM */
	v = overlay(v, off, size, PCI_COMMAND, 2, c->command);
	if (c->msi_off) {
		unsigned m = c->msi_off;
		v = overlay(v, off, size, m + 2, 2, c->msi_ctrl);
		v = overlay(v, off, size, m + 4, 4, (uint32_t)c->msi_addr);
		if (c->msi_64) {
			v = overlay(v, off, size, m + 8, 4,
				    (uint32_t)(c->msi_addr >> 32));
			v = overlay(v, off, size, m + 12, 2, c->msi_data);
		} else {
			v = overlay(v, off, size, m + 8, 2, c->msi_data);
		}
	}
	if (c->msix_off)
		v = overlay(v, off, size, c->msix_off + 2, 2, c->msix_ctrl);
	if (size < 4)
		v &= (1u << (8 * size)) - 1;
	return v;
}

/* Merge a write of @size bytes at @off into the register at @reg. */
static uint32_t merge(uint32_t old, unsigned off, unsigned size, uint32_t val,
		      unsigned reg, unsigned reglen, bool *hit)
{
	for (unsigned i = 0; i < size; i++) {
		unsigned b = off + i;
		if (b >= reg && b < reg + reglen) {
			unsigned sh = 8 * (b - reg);
			old = (old & ~(0xffu << sh)) |
			      (((val >> (8 * i)) & 0xff) << sh);
			*hit = true;
		}
	}
	return old;
}

static void bar_write(struct vmm__vfio_cfg *c, unsigned i, uint32_t v)
{
	const struct vmm__vfio_bar *b = &c->bar[i];

	if (b->size) {
		uint32_t mask = b->io ? (uint32_t)~(b->size - 1) & ~3u
				      : (uint32_t)~(b->size - 1) & ~15u;
		c->bar_reg[i] = (v & mask) | bar_flags(b);
	} else if (i > 0 && c->bar[i - 1].mem64) {
		/* upper half of a 64-bit BAR */
		uint64_t size = c->bar[i - 1].size;
		c->bar_reg[i] = v & (uint32_t)(~(size - 1) >> 32);
	} else {
		c->bar_reg[i] = 0; /* unimplemented BAR reads 0 */
	}
}

unsigned vmm__vfio_cfg_write(struct vmm__vfio_cfg *c, unsigned off,
			     unsigned size, uint32_t val, bool *forward,
			     uint32_t *fwd_val)
{
	unsigned ev = 0;
	bool hit = false;
	int bi = bar_index(off);

	*forward = true;
	*fwd_val = val;
	if (bi >= 0) {
		unsigned reg = PCI_BAR0 + 4 * (unsigned)bi;
		uint32_t nv = merge(c->bar_reg[bi], off, size, val, reg, 4, &hit);
		bar_write(c, (unsigned)bi, nv);
		/* a change of either half of a 64-bit BAR moves it */
		if (!c->bar[bi].size && bi > 0 && c->bar[bi - 1].mem64)
			ev |= VFIO_CFG_EV_BAR(bi - 1);
		else
			ev |= VFIO_CFG_EV_BAR(bi);
		*forward = false;
		return ev;
	}
	if (off >= PCI_ROM && off < PCI_ROM + 4) {
		*forward = false;
		return 0;
	}
	if (off < PCI_COMMAND + 2 && off + size > PCI_COMMAND) {
		uint16_t old = c->command;
		c->command = (uint16_t)merge(c->command, off, size, val,
					     PCI_COMMAND, 2, &hit);
		if ((old ^ c->command) & (PCI_CMD_IO | PCI_CMD_MEM))
			ev |= VFIO_CFG_EV_DECODE;
		/* the device gets the write as is (bus master, INTx disable,
		 * decode bits: it must decode for mmap()ed BARs to work) */
		return ev;
	}
	if (c->msi_off && off >= c->msi_off + 2u &&
	    off < c->msi_off + (c->msi_64 ? 14u : 10u)) {
		unsigned m = c->msi_off;
		uint16_t ctrl = (uint16_t)merge(c->msi_ctrl, off, size, val,
						m + 2, 2, &hit);
		uint32_t lo = merge((uint32_t)c->msi_addr, off, size, val,
				    m + 4, 4, &hit);
		uint32_t hi = (uint32_t)(c->msi_addr >> 32);
		uint16_t data;

		if (c->msi_64) {
			hi = merge(hi, off, size, val, m + 8, 4, &hit);
			data = (uint16_t)merge(c->msi_data, off, size, val,
					       m + 12, 2, &hit);
		} else {
			data = (uint16_t)merge(c->msi_data, off, size, val,
					       m + 8, 2, &hit);
		}
		/* writable: enable (bit 0) and multiple message enable,
		 * which stays 0 (one vector); the rest is read-only */
		c->msi_ctrl = (uint16_t)((c->msi_ctrl & ~0x71u) | (ctrl & 1));
		c->msi_addr = ((uint64_t)hi << 32) | (lo & ~3u);
		c->msi_data = data;
		*forward = false;
		return VFIO_CFG_EV_MSI;
	}
	if (c->msix_off && off < c->msix_off + 4u && off + size > c->msix_off + 2u) {
		uint16_t ctrl = (uint16_t)merge(c->msix_ctrl, off, size, val,
						c->msix_off + 2, 2, &hit);
		c->msix_ctrl = (uint16_t)((c->msix_ctrl & 0x07ff) |
					  (ctrl & 0xc000));
		*forward = false;
		return VFIO_CFG_EV_MSIX;
	}
	return 0;
}

bool vmm__vfio_cfg_bar_addr(const struct vmm__vfio_cfg *c, unsigned i,
			    uint64_t *addr)
{
	const struct vmm__vfio_bar *b;
	uint64_t a;

	if (i >= VFIO_CFG_NBARS || !c->bar[i].size)
		return false;
	b = &c->bar[i];
	if (!(c->command & (b->io ? PCI_CMD_IO : PCI_CMD_MEM)))
		return false;
	if (b->io) {
		a = c->bar_reg[i] & ~3u;
		if (!a || a + b->size > 0x10000)
			return false;
	} else {
		a = c->bar_reg[i] & ~15u;
		if (b->mem64)
			a |= (uint64_t)c->bar_reg[i + 1] << 32;
		/* all-ones after sizing, zero, or wrapping: not placed */
		if (!a || a + b->size < a || a + b->size - 1 == UINT64_MAX ||
		    (!b->mem64 && a + b->size > 0x100000000ull))
			return false;
	}
	*addr = a;
	return true;
}

void vmm__vfio_cfg_set_bar(struct vmm__vfio_cfg *c, unsigned i, uint64_t addr)
{
	if (i >= VFIO_CFG_NBARS || !c->bar[i].size)
		return;
	bar_write(c, i, (uint32_t)addr);
	if (c->bar[i].mem64)
		bar_write(c, i + 1, (uint32_t)(addr >> 32));
}
