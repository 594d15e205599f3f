/* SPDX-License-Identifier: MIT */
/*
 * real16.S - the real-mode guest, and a valid boot sector (0x55aa): runs at
 * linear 0x7c00 whether entered as 0000:7c00 (a BIOS) or 07c0:0000
 * (vmm_image_load_flat in VMM_BOOT_REAL16), prints over COM1, checks some 16-bit
 * arithmetic and that CR0.PE is clear, exits through port 0xf4 with 0x10
 * (status 33), or 0x7f (status 255) if a check failed.
 */
#define COM1 0x3f8
#define EXIT_OK 0x10
#define EXIT_FAIL 0x7f

	.code16
	.text
	.globl _start
_start:
	cli
	ljmp $0, $start	/* CS = 0, IP = linked address */
start:
	xorw %ax, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw $0x7c00, %sp
	cld
	call uart_init

	movw $msg_hello, %si
	call puts

	/* sum(1..100) */
	xorw %ax, %ax
	movw $100, %cx
1:	addw %cx, %ax
	loop 1b
	movw $5050, %bx
	call expect
	movw $msg_sum, %si
	call puts
	call print_dec

	/* 123 * 45 */
	movw $123, %ax
	movw $45, %bx
	mulw %bx
	movw $5535, %bx
	call expect
	movw $msg_mul, %si
	call puts
	call print_dec

	/* 50000 / 7 = 7142 r 6 */
	movw $50000, %ax
	xorw %dx, %dx
	movw $7, %bx
	divw %bx
	pushw %dx
	movw $7142, %bx
	call expect
	movw $msg_div, %si
	call puts
	call print_dec
	movw $msg_rem, %si
	call puts
	popw %ax
	movw $6, %bx
	call expect
	call print_dec

	/* CR0.PE must be clear */
	smsw %ax
	andw $1, %ax
	xorw %bx, %bx
	call expect
	movw $msg_pe, %si
	call puts
	call print_dec
	movb $'\n', %al
	call putc

	movl $EXIT_OK, %eax
	cmpb $0, failed
	je 2f
	movw $msg_fail, %si
	call puts
	movl $EXIT_FAIL, %eax
	jmp 3f
2:	movw $msg_ok, %si
	call puts
3:	movw $0xf4, %dx
	outl %eax, %dx
4:	hlt
	jmp 4b

/* expect: if AX != BX, count a failure.  Keeps AX. */
expect:
	cmpw %bx, %ax
	je 1f
	movb $1, failed
1:	ret

/* putc: AL to COM1, polling LSR.THRE.  Keeps all but flags. */
putc:
	pushw %dx
	pushw %ax
1:	movw $COM1 + 5, %dx
	inb %dx, %al
	testb $0x20, %al
	jz 1b
	popw %ax
	movw $COM1, %dx
	outb %al, %dx
	popw %dx
	ret

/* puts: the NUL-terminated string at DS:SI.  Keeps AX. */
puts:
	pushw %ax
1:	lodsb
	testb %al, %al
	jz 2f
	call putc
	jmp 1b
2:	popw %ax
	ret

/* print_dec: AX in decimal. */
print_dec:
	pusha
	xorw %cx, %cx
	movw $10, %bx
1:	xorw %dx, %dx
	divw %bx
	pushw %dx
	incw %cx
	testw %ax, %ax
	jnz 1b
2:	popw %ax
	addb $'0', %al
	call putc
	loop 2b
	popa
	ret

/* uart_init: 115200 8N1, FIFOs, no interrupts (7 port writes). */
uart_init:
	movw $uart_regs, %si
1:	lodsw			/* AL = register offset, AH = value */
	cmpb $0xff, %al
	je 2f
	movw $COM1, %dx
	addb %al, %dl
	movb %ah, %al
	outb %al, %dx
	jmp 1b
2:	ret

uart_regs:
	.byte 1, 0x00, 3, 0x80, 0, 0x01, 1, 0x00, 3, 0x03, 2, 0xc7, 4, 0x0b
	.byte 0xff, 0
failed:	.byte 0
msg_hello:	.asciz "real16: hello from real mode at 0x7c00\n"
msg_sum:	.asciz "real16: sum(1..100)="
msg_mul:	.asciz " 123*45="
msg_div:	.asciz " 50000/7="
msg_rem:	.asciz " r "
msg_pe:		.asciz "\nreal16: CR0.PE="
msg_ok:		.asciz "real16: all checks passed\n"
msg_fail:	.asciz "real16: checks FAILED\n"

	.org 510
	.byte 0x55, 0xaa
