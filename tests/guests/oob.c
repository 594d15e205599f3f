/* SPDX-License-Identifier: MIT */
/*
 * oob.c - a 64-bit guest that pokes an I/O port nobody handles (0x5550),
 * at CPL3 with IOPL=3: one byte written, then byte, word and dword reads,
 * whose values it prints.  The embedder sees VMM_EXIT_IO for each (and may
 * supply the values); with VMM_CFG_IGNORE_UNHANDLED_IO reads give all ones,
 * like an empty ISA bus (and QEMU).
 */
#include "entry64.h"
#include "guest.h"

#define OOB_PORT 0x5550

int guest_main(void)
{
	uart_init();
	gprintf("oob: out8 0xa5 to port 0x%x\n", OOB_PORT);
	outb(OOB_PORT, 0xa5);
	uint8_t b = inb(OOB_PORT);
	uint16_t w = inw(OOB_PORT);
	uint32_t l = inl(OOB_PORT);
	gprintf("oob: in8 0x%02x in16 0x%04x in32 0x%08x\n", (unsigned)b,
		(unsigned)w, l);
	return GUEST_EXIT_OOB;
}
