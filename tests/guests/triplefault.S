/* SPDX-License-Identifier: MIT */
/*
 * triplefault.S - a hostile 32-bit multiboot guest: prints one line, loads
 * an empty IDT (limit 0) and executes ud2.  Vector 6 is outside the IDT
 * (#GP), so is vector 13 (#DF), so is vector 8: triple fault, which a VMM
 * sees as a shutdown (libvmm: VMM_EXIT_SHUTDOWN; QEMU -no-reboot exits 0).
 * ud2, not int3: the nested KVM here cannot emulate "int n" at CPL0 in
 * protected mode and stops with an internal error instead.
 */
#include "multiboot.h"

#define MB_FLAGS (MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMINFO)

	.section .multiboot, "a"
	.align 4
	.long MB_HEADER_MAGIC
	.long MB_FLAGS
	.long -(MB_HEADER_MAGIC + MB_FLAGS)

	.text
	.globl _start
_start:
	cli
	movl $stack_top, %esp
	call uart_init
	pushl $msg
	call uart_puts
	addl $4, %esp
	lidt empty_idt
	ud2
1:	jmp 1b

	.section .rodata
msg:	.asciz "triplefault: empty IDT loaded, executing ud2\n"

	.data
	.align 4
	.word 0
empty_idt:
	.word 0
	.long 0

	.bss
	.align 16
	.skip 4096
stack_top:

	/* prot32.ld wants an interrupt stub section. */
	.section .isr, "ax"
