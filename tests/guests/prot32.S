/* SPDX-License-Identifier: MIT */
/*
 * prot32.S - entry of the 32-bit protected-mode guest (an ELF32 multiboot
 * image): loads its own GDT (flat code 0x08, data 0x10) and IDT (vectors
 * 0-31, filled at link time), then calls prot32_main() in
 * prot32.c and writes its return value to the debug-exit port.
 */
#include "multiboot.h"

#define MB_FLAGS (MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMINFO)
#define KCODE 0x08
#define KDATA 0x10

	.section .multiboot, "a"
	.align 4
	.long MB_HEADER_MAGIC
	.long MB_FLAGS
	.long -(MB_HEADER_MAGIC + MB_FLAGS)

	.text
	.globl _start
_start:
	cli
	movl %eax, boot_mb_magic
	movl %ebx, boot_mb_info
	lgdt gdt_ptr
	ljmp $KCODE, $1f
1:	movw $KDATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movl $stack_top, %esp
	lidt idt_ptr
	call prot32_main
	pushl %eax
	call guest_exit

	/* The stub pushed (error code or 0) and the vector. */
isr_common:
	pushal
	pushl %esp
	cld
	call prot32_trap	/* may change the saved EIP */
	addl $4, %esp
	popal
	addl $8, %esp		/* vector, error code */
	/*
	 * Return without iret: on the nested KVM here CPL0 code runs in
	 * KVM's instruction emulator, which implements IRET in real mode
	 * only.  Same privilege level, same CS: restore EFLAGS, then pop EIP
	 * and drop CS and EFLAGS.
	 */
	pushl 8(%esp)
	popfl
	ret $8

	.section .isr, "ax"
	.set vec, 0
	.rept 32
	.align 16
	.if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	nop
	nop
	.else
	pushl $0
	.endif
	pushl $vec
	jmp isr_common
	.set vec, vec + 1
	.endr

	.data
	.align 16
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x08 flat 32-bit code */
	.quad 0x00cf92000000ffff	/* 0x10 flat data */
gdt_end:
	.align 4
	.word 0
gdt_ptr:
	.word gdt_end - gdt - 1
	.long gdt

	.align 4
	.word 0
idt_ptr:
	.word idt_end - idt - 1
	.long idt

	.align 16
idt:
	.set vec, 0
	.rept 32
	.word isr_stubs_0_15 + vec * 16
	.word KCODE
	.word 0x8e00		/* present, DPL0, 32-bit interrupt gate */
	.word isr_stubs_16_31
	.set vec, vec + 1
	.endr
idt_end:

	.globl boot_mb_magic, boot_mb_info
	.align 4
boot_mb_magic:	.long 0
boot_mb_info:	.long 0

	.bss
	.align 16
	.skip 16384
stack_top:
