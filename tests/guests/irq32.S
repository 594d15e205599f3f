/* SPDX-License-Identifier: MIT */
/*
 * irq32.S - a 32-bit protected-mode multiboot guest that takes real
 * interrupts through each path of the interrupt controllers, for
 * tests/guest/guest_irq.c:
 *
 *  1. PIT channel 0 -> PIC IRQ0 -> the BSP's LINT0 (ExtINT), vector 0x20,
 *     three ticks of 10 ms;
 *  2. PIT -> IOAPIC pin 2 (GSI 0, edge) -> LAPIC, vector 0x40, three ticks,
 *     LAPIC EOI;
 *  3. a level-triggered line the host drives: OUT 0x600 asks the host to
 *     raise GSI 10, the handler (vector 0x41) writes port 0x601 so the host
 *     lowers it, then EOIs the LAPIC.  Three rounds: the second and third
 *     arrive only if the EOI reached the IOAPIC (remote IRR cleared).
 *
 * After each part it writes a letter to port 0x602 ('P', 'I', 'L'), then
 * exits with 0x21 through the debug-exit port (status 0x43).  All at CPL0:
 * small, because CPL0 is emulated on the nested KVM here.  Handlers return
 * with popf + ret, not iret (see prot32.S: KVM's emulator there has no
 * protected-mode IRET).
 */
#include "multiboot.h"

#define MB_FLAGS (MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMINFO)
#define KCODE 0x08
#define KDATA 0x10
#define LAPIC 0xfee00000
#define IOAPIC 0xfec00000
#define PIT_10MS 11932

	.section .multiboot, "a"
	.align 4
	.long MB_HEADER_MAGIC
	.long MB_FLAGS
	.long -(MB_HEADER_MAGIC + MB_FLAGS)

	.text
	.globl _start
_start:
	cli
	lgdt gdt_ptr
	ljmp $KCODE, $1f
1:	movw $KDATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl $stack_top, %esp
	xorl %edx, %edx				/* fill the IDT */
0:	movl $isr_other, %eax
	call set_gate
	incl %edx
	cmpl $256, %edx
	jne 0b
	movl $isr_spurious, %eax; movl $0x27, %edx; call set_gate
	movl $isr_spurious, %eax; movl $0xff, %edx; call set_gate
	movl $isr_pic, %eax; movl $0x20, %edx; call set_gate
	movl $isr_ioapic_edge, %eax; movl $0x40, %edx; call set_gate
	movl $isr_ioapic_level, %eax; movl $0x41, %edx; call set_gate
	lidt idt_ptr

	/* ---- 1: PIC ---- */
	/* virtual wire through LINT0, as a BIOS leaves it (KVM's BSP comes
	 * out of reset that way; libvmm's emulated LAPIC does not) */
	movl $0x1ff, LAPIC + 0xf0		/* SVR: enable, spurious 0xff */
	movl $0x700, LAPIC + 0x350		/* LVT LINT0: ExtINT, unmasked */
	movb $0x11, %al; outb %al, $0x20	/* ICW1: edge, cascade, ICW4 */
	movb $0x20, %al; outb %al, $0x21	/* ICW2: vectors 0x20-0x27 */
	movb $0x04, %al; outb %al, $0x21	/* ICW3: slave on IR2 */
	movb $0x01, %al; outb %al, $0x21	/* ICW4: 8086 mode */
	movb $0x11, %al; outb %al, $0xa0
	movb $0x28, %al; outb %al, $0xa1
	movb $0x02, %al; outb %al, $0xa1
	movb $0x01, %al; outb %al, $0xa1
	movb $0xff, %al; outb %al, $0xa1	/* slave: all masked */
	movb $0xfe, %al; outb %al, $0x21	/* master: IRQ0 only */
	call pit_start
	movl $3, %ecx
	call wait_ticks
	movb $0xff, %al; outb %al, $0x21	/* mask the PIC again */
	movb $'P', %al; movw $0x602, %dx; outb %al, %dx

	/* ---- 2: IOAPIC edge (PIT on pin 2) ---- */
	movl $0x12, IOAPIC			/* pin 2, high dword */
	movl $0, IOAPIC + 0x10			/* destination APIC ID 0 */
	movl $0x14, IOAPIC			/* pin 2, low dword */
	movl $0x40, IOAPIC + 0x10		/* fixed, edge, vector 0x40 */
	movl $0, ticks
	movl $3, %ecx
	call wait_ticks
	movl $0x14, IOAPIC
	movl $0x10000, IOAPIC + 0x10		/* mask pin 2 */
	movb $0x30, %al; outb %al, $0x43	/* PIT ch0 mode 0, no count */
	movb $'I', %al; movw $0x602, %dx; outb %al, %dx

	/* ---- 3: IOAPIC level (host line on GSI 10) ---- */
	movl $0x25, IOAPIC			/* pin 10, high dword */
	movl $0, IOAPIC + 0x10
	movl $0x24, IOAPIC			/* pin 10, low dword */
	movl $0x8041, IOAPIC + 0x10		/* fixed, level, vector 0x41 */
	movl $0, ticks
	movl $1, %ecx
3:	movw $0x600, %dx
	outb %al, %dx				/* host: raise GSI 10 */
	call wait_ticks
	incl %ecx
	cmpl $4, %ecx
	jne 3b
	movb $'L', %al; movw $0x602, %dx; outb %al, %dx

	movl $0x21, %eax
	outl %eax, $0xf4
	hlt
	jmp .

/* IDT entry %edx: a 32-bit interrupt gate to %eax */
set_gate:
	pushl %edx
	leal idt(,%edx,8), %edx
	movw %ax, (%edx)
	movw $KCODE, 2(%edx)
	movw $0x8e00, 4(%edx)
	shrl $16, %eax
	movw %ax, 6(%edx)
	popl %edx
	ret

/* PIT channel 0, mode 2, 10 ms */
pit_start:
	movb $0x34, %al; outb %al, $0x43
	movb $(PIT_10MS & 0xff), %al; outb %al, $0x40
	movb $(PIT_10MS >> 8), %al; outb %al, $0x40
	ret

/* Sleep with interrupts on until ticks >= %ecx. */
wait_ticks:
1:	cli
	cmpl %ecx, ticks
	jae 2f
	sti
	hlt
	jmp 1b
2:	ret

/* Interrupt return without iret: restore EFLAGS, pop EIP, drop CS+EFLAGS. */
#define IRET_POPF pushl 8(%esp); popfl; ret $8

isr_pic:				/* vector 0x20 */
	pushl %eax
	incl ticks
	movb $0x20, %al; outb %al, $0x20	/* non-specific EOI */
	popl %eax
	IRET_POPF

isr_ioapic_edge:			/* vector 0x40 */
	incl ticks
	movl $0, LAPIC + 0xb0			/* LAPIC EOI */
	IRET_POPF

isr_ioapic_level:			/* vector 0x41 */
	pushl %eax
	pushl %edx
	incl ticks
	movw $0x601, %dx
	outb %al, %dx				/* host: lower GSI 10 */
	popl %edx
	popl %eax
	movl $0, LAPIC + 0xb0
	IRET_POPF

isr_spurious:				/* PIC IR7 / LAPIC spurious: no EOI */
	IRET_POPF

isr_other:				/* anything else: fail with 0x2f */
	movl $0x2f, %eax
	outl %eax, $0xf4
	hlt
	jmp isr_other

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
	.skip 256 * 8
idt_end:

	.align 4
ticks:	.long 0

	.bss
	.align 16
	.skip 4096
stack_top:
