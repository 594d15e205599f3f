/* SPDX-License-Identifier: MIT */
/*
 * loop.c - a hostile 64-bit guest: prints one line at CPL3, then spins
 * forever counting in R15, so only vmm_vcpu_kick() from another thread
 * (or a watchdog) stops it.  R15 shows how far it got between kicks.
 */
#include "entry64.h"
#include "guest.h"

int guest_main(void)
{
	uart_init();
	gprintf("loop: at CPL3, looping\n");
	__asm__ volatile("xorl %%r15d, %%r15d\n"
			 "1: incq %%r15\n"
			 "jmp 1b"
			 :
			 :
			 : "r15");
	__builtin_unreachable();
}
