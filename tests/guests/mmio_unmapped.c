/* SPDX-License-Identifier: MIT */
/*
 * mmio_unmapped.c - a 64-bit guest that touches guest-physical addresses in
 * a hole with neither RAM nor a device (0xd0000000, inside the 32-bit MMIO
 * hole), at CPL3: a 4-byte write, a 4-byte read, a 1-byte read and an
 * 8-byte write, printing the values it read.  The embedder sees each access
 * as an MMIO exit (and may supply the read values); with
 * VMM_CFG_IGNORE_UNHANDLED_IO reads give all ones.  QEMU reads 0 there.
 */
#include "entry64.h"
#include "guest.h"

#define HOLE 0xd0000000ul

int guest_main(void)
{
	volatile uint32_t *p32 = (volatile uint32_t *)HOLE;
	volatile uint8_t *p8 = (volatile uint8_t *)(HOLE + 0x10);
	volatile uint64_t *p64 = (volatile uint64_t *)(HOLE + 0x20);

	uart_init();
	gprintf("mmio: write32 0x12345678 to 0x%lx\n", HOLE);
	*p32 = 0x12345678u;
	uint32_t v = *p32;
	gprintf("mmio: read32 0x%08x\n", v);
	uint8_t b = *p8;
	gprintf("mmio: read8 0x%02x\n", (unsigned)b);
	*p64 = 0x1122334455667788ull;
	gprintf("mmio: write64 done\n");
	return GUEST_EXIT_MMIO;
}
