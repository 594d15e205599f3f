/* SPDX-License-Identifier: MIT */
/*
 * start.S - start-up code of a sandbox guest image.
 *
 * The image is a flat multiboot v1 binary ("a.out kludge": the header gives
 * the load addresses, so libvmm's multiboot loader, QEMU -kernel and GRUB
 * all load it), entered in 32-bit protected mode with paging off.  This
 * code switches to long mode with identity page tables, loads a GDT with a
 * TSS and an IDT, and drops to CPL3 with IOPL=3, where all C code runs.
 *
 * Keep the CPL0 path short: on nested shadow-paging KVM hosts every CPL0
 * instruction is emulated (~1 us), CPL3 runs natively.  So the page tables
 * (0..4 GiB, 2 MiB pages, user-accessible), the GDT and the IDT are
 * complete at link time; sandbox.ld splits addresses into descriptor
 * fields.  The TSS has an I/O permission bitmap allowing every port,
 * because some hosts run CPL3 with IOPL 0 whatever the guest sets.
 *
 * A sandbox guest's privilege separation is not a security boundary (all
 * memory is user-accessible): the VM is.  CPL3 is used for speed.
 *
 * Exceptions: all 32 vectors go to sb_fault() (runtime.c) at CPL0, which
 * reports vector, error code, RIP and CR2 to the host with SB_NR_FAULT.
 */
#include "boot64.inc"

#define MB_MAGIC 0x1badb002
#define MB_FLAGS ((1 << 1) | (1 << 16))	/* memory info, a.out kludge */

	.section .multiboot, "a"
	.align 4
mb_header:
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)
	.long mb_header
	.long __load_start
	.long __load_end
	.long __bss_end
	.long _start32

	.section .text.boot, "ax"
	.code32
	.globl _start32
_start32:
	cli
	movl %eax, sb_boot_magic
	movl %ebx, sb_boot_info
	BOOT64_ENTER_LONG_MODE start64

	.code64
start64:
	BOOT64_KERNEL_SEGMENTS sb_kstack_top
	BOOT64_TO_USER user_entry, sb_ustack_top

	.text
user_entry:				/* CPL3, RSP 16-byte aligned */
	call sb_runtime_main
1:	jmp 1b

	/* exceptions: the stub pushed an error code (or 0) and the vector */
fault_common:
	movq %rsp, %rdi
	andq $-16, %rsp
	call sb_fault			/* does not return */
2:	hlt
	jmp 2b

	.section .isr, "ax"
	.set vec, 0
	.rept 32
	.align 16
	.if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	nop				/* the CPU pushed an error code */
	nop
	.else
	pushq $0
	.endif
	pushq $vec
	jmp fault_common
	.set vec, vec + 1
	.endr

	.data
	.align 16
	BOOT64_TABLES sb_kstack_top

	.align 16
idt:
	.set vec, 0
	.rept 32
	.word sb_isr_lo16 + vec * 16
	.word KCODE64
	.word 0x8e00			/* present, DPL0, interrupt gate */
	.word sb_isr_hi16
	.long 0
	.long 0
	.set vec, vec + 1
	.endr
idt_end:

	.globl sb_boot_magic, sb_boot_info
	.align 8
sb_boot_magic:	.long 0
sb_boot_info:	.long 0

	.section .pagetables, "aw"
	BOOT64_PAGE_TABLES

	.section .stack, "aw", @nobits
	.align 16
	.skip 8192
	.globl sb_kstack_top
sb_kstack_top:
	.skip 65536
	.globl sb_ustack_top
sb_ustack_top:
