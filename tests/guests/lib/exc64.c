/* SPDX-License-Identifier: MIT */
/*
 * exc64.c - what a 64-bit guest does on an unexpected exception (at CPL0):
 * print where it happened and exit with GUEST_EXIT_EXCEPTION.
 */
#include "entry64.h"
#include "guest.h"

void exception_handler(struct exc_frame *f);

void exception_handler(struct exc_frame *f)
{
	uint64_t cr2;

	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	gprintf("EXCEPTION %lu error 0x%lx at rip 0x%lx cs 0x%lx rflags 0x%lx "
		"rsp 0x%lx cr2 0x%lx\n",
		(unsigned long)f->vector, (unsigned long)f->error,
		(unsigned long)f->rip, (unsigned long)f->cs,
		(unsigned long)f->rflags, (unsigned long)f->rsp,
		(unsigned long)cr2);
	guest_exit(GUEST_EXIT_EXCEPTION);
}
