/* SPDX-License-Identifier: MIT */
/*
 * kcc32.S - entry of the 32-bit builds of the compiler-generated kernels
 * guest (kernels_cc.c): an ELF32 multiboot image that stays at CPL0 in
 * flat protected mode without paging, loads its own GDT, calls
 * guest_main() and writes its return value to the debug-exit port.  No
 * IDT: any exception is a triple fault, which the bench reports as a
 * failed run.
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
	call guest_main
	movw $0xf4, %dx
	outl %eax, %dx
2:	hlt
	jmp 2b

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

	.globl boot_mb_magic, boot_mb_info
	.align 4
boot_mb_magic:	.long 0
boot_mb_info:	.long 0

	.bss
	.align 16
	.skip 65536
stack_top:
