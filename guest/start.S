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
#define KCODE64 0x08
#define KDATA 0x10
#define UDATA 0x18
#define UCODE64 0x20
#define TSS_SEL 0x28

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
	lgdt gdt_ptr
	movl $pml4, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $0x20, %eax			/* CR4.PAE */
	movl %eax, %cr4
	movl $0xc0000080, %ecx		/* EFER */
	rdmsr
	orl $0x100, %eax		/* LME */
	wrmsr
	movl %cr0, %eax
	orl $0x80000001, %eax		/* PG | PE */
	movl %eax, %cr0
	ljmp $KCODE64, $start64

	.code64
start64:
	movl $KDATA, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movq $sb_kstack_top, %rsp
	movw $TSS_SEL, %ax
	ltr %ax
	lidt idt_ptr
	pushq $(UDATA | 3)		/* SS */
	pushq $sb_ustack_top		/* RSP */
	pushq $0x3002			/* RFLAGS: IOPL=3, IF=0 */
	pushq $(UCODE64 | 3)		/* CS */
	pushq $user_entry		/* RIP */
	iretq

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
gdt:
	.quad 0				/* null */
	.quad 0x00af9a000000ffff	/* 0x08 kernel code 64 */
	.quad 0x00cf92000000ffff	/* 0x10 kernel data */
	.quad 0x00cff2000000ffff	/* 0x18 user data (DPL3) */
	.quad 0x00affa000000ffff	/* 0x20 user code 64 (DPL3) */
	.word tss_end - tss - 1		/* 0x28 64-bit TSS, 16 bytes */
	.word sb_tss_lo16
	.byte sb_tss_16_23
	.byte 0x89
	.byte 0x00
	.byte sb_tss_24_31
	.long 0
	.long 0
gdt_end:

	.align 16
	.word 0
gdt_ptr:
	.word gdt_end - gdt - 1
	.quad gdt

	.align 16
	.word 0
idt_ptr:
	.word idt_end - idt - 1
	.quad idt

	.align 16
	.globl tss
tss:
	.long 0
	.quad sb_kstack_top		/* RSP0 */
	.quad 0, 0
	.quad 0
	.quad 0, 0, 0, 0, 0, 0, 0	/* IST */
	.quad 0
	.word 0
	.word iomap - tss		/* I/O bitmap offset */
iomap:
	.fill 8192, 1, 0		/* all ports allowed */
	.byte 0xff
tss_end:

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
	.align 4096
	.globl pml4
pml4:
	.quad pdpt + 0x7
	.fill 511, 8, 0
pdpt:
	.quad pd + 0x0000 + 0x7
	.quad pd + 0x1000 + 0x7
	.quad pd + 0x2000 + 0x7
	.quad pd + 0x3000 + 0x7
	.fill 508, 8, 0
pd:
	.set page, 0
	.rept 2048
	.quad (page << 21) | 0x87	/* present, writable, user, 2 MiB */
	.set page, page + 1
	.endr

	.section .stack, "aw", @nobits
	.align 16
	.skip 8192
	.globl sb_kstack_top
sb_kstack_top:
	.skip 65536
	.globl sb_ustack_top
sb_ustack_top:
