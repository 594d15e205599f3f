/* SPDX-License-Identifier: MIT */
/*
 * vfio_cfg.h - the emulated part of a passed-through PCI function's
 * configuration space, as pure logic (no VFIO, no VM) so that unit tests
 * drive it without a device.  vfio_pci.c reads the device's own bytes,
 * lets this module overlay what the VMM owns (BARs, ROM BAR, command
 * decode bits, MSI and MSI-X control) and acts on the events a write
 * returns (remap BARs, reprogram interrupts).
 *
 * Everything here is computed from two untrusted inputs: the device's
 * configuration bytes (capability chain: bounded walk, offsets checked)
 * and guest writes (masked by the BAR sizes, never trusted as addresses
 * until combined and checked for wrap-around).
 */
#ifndef LIBVMM_DEV_VFIO_CFG_H
#define LIBVMM_DEV_VFIO_CFG_H

#include <stdbool.h>
#include <stdint.h>

#define VFIO_CFG_NBARS 6

/* What a BAR is, from VFIO's region info and the device's BAR bits. */
struct vmm__vfio_bar {
	uint64_t size;    /* 0 = no BAR (or the upper half of a 64-bit one) */
	bool io;          /* I/O space BAR */
	bool mem64;       /* 64-bit memory BAR (takes this and the next) */
	bool prefetch;
	bool mmap_ok;     /* VFIO lets us mmap it */
};

/* Events of vmm__vfio_cfg_write(), bits. */
#define VFIO_CFG_EV_BAR(i) (1u << (i))   /* BAR i's address changed */
#define VFIO_CFG_EV_DECODE (1u << 8)     /* IO/MEM decode bits changed */
#define VFIO_CFG_EV_MSI (1u << 9)        /* MSI enable/address/data */
#define VFIO_CFG_EV_MSIX (1u << 10)      /* MSI-X enable/mask */

#define PCI_CMD_IO 0x1
#define PCI_CMD_MEM 0x2
#define PCI_CMD_MASTER 0x4
#define PCI_CMD_INTX_DISABLE 0x400

struct vmm__vfio_cfg {
	struct vmm__vfio_bar bar[VFIO_CFG_NBARS];
	uint32_t bar_reg[VFIO_CFG_NBARS]; /* what the guest reads back */
	uint16_t command;                 /* the guest's view */
	/* MSI capability (msi_off == 0: none) */
	uint8_t msi_off;
	bool msi_64;
	bool msi_maskable;
	uint16_t msi_ctrl;
	uint64_t msi_addr;
	uint16_t msi_data;
	/* MSI-X capability (msix_off == 0: none) */
	uint8_t msix_off;
	uint16_t msix_ctrl;
	uint16_t msix_entries;            /* table size */
	uint8_t msix_table_bar;
	uint32_t msix_table_off;
	uint8_t msix_pba_bar;
	uint32_t msix_pba_off;
};

/*
 * vmm__vfio_cfg_init() - from the device's first 256 configuration bytes
 * @dev and the BAR descriptions.  Returns 0 or -EINVAL for a device whose
 * header or BARs make no sense (the message is the caller's to write):
 * non-power-of-two BAR sizes, a 64-bit BAR in slot 5, an MSI-X table
 * outside its BAR.  A broken capability chain (loop, offset in the header,
 * unaligned) ends the walk; capabilities after it are ignored.
 */
int vmm__vfio_cfg_init(struct vmm__vfio_cfg *c, const uint8_t dev[256],
		       const struct vmm__vfio_bar bars[VFIO_CFG_NBARS]);

/*
 * vmm__vfio_cfg_read() - the guest's view of @size (1/2/4) bytes at @off
 * (< 256, not crossing a dword), given @devval: what the device returned
 * for the same bytes.
 */
uint32_t vmm__vfio_cfg_read(const struct vmm__vfio_cfg *c, unsigned off,
			    unsigned size, uint32_t devval);

/*
 * vmm__vfio_cfg_write() - apply a guest write.  Returns VFIO_CFG_EV_*
 * bits, and sets *@forward (with *@fwd_val, same size) when (part of) the
 * write must also go to the device: command register writes go through
 * with the decode bits as the guest set them; BAR, ROM, MSI and MSI-X
 * control writes stay here.
 */
unsigned vmm__vfio_cfg_write(struct vmm__vfio_cfg *c, unsigned off,
			     unsigned size, uint32_t val, bool *forward,
			     uint32_t *fwd_val);

/*
 * vmm__vfio_cfg_bar_addr() - BAR @i's guest address, or false if it has
 * none usable: no BAR, not decoded (command bits off), all-ones/sizing
 * value, or base + size wraps or (I/O) lies beyond port 0xffff.
 */
bool vmm__vfio_cfg_bar_addr(const struct vmm__vfio_cfg *c, unsigned i,
			    uint64_t *addr);

/* vmm__vfio_cfg_set_bar() - place BAR @i at @addr (attach time). */
void vmm__vfio_cfg_set_bar(struct vmm__vfio_cfg *c, unsigned i, uint64_t addr);

/* MSI state as the guest programmed it. */
static inline bool vmm__vfio_cfg_msi_on(const struct vmm__vfio_cfg *c)
{
	return c->msi_off && (c->msi_ctrl & 1);
}

static inline bool vmm__vfio_cfg_msix_on(const struct vmm__vfio_cfg *c)
{
	return c->msix_off && (c->msix_ctrl & 0x8000);
}

static inline bool vmm__vfio_cfg_msix_masked(const struct vmm__vfio_cfg *c)
{
	return c->msix_ctrl & 0x4000;
}

#endif
