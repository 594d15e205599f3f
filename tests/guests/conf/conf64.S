/* SPDX-License-Identifier: MIT */
/*
 * conf64.S - start-up, descriptor tables, exception plumbing and the
 * mode-switching code of the system-level conformance guest (conf.c).
 *
 * Unlike the other 64-bit test guests this one stays at CPL0: what it tests
 * is the system architecture (segment loads, gates, exception frames, debug
 * registers, paging, mode switches).  It goes to CPL3 only inside single
 * checks.
 *
 * Multiboot v1 (a.out kludge) entry in 32-bit protected mode, then long
 * mode with the tables below.  Everything 16-bit lives in .text16, linked
 * at LOW16 (0x6000) and copied there by the C code before use (real mode
 * cannot reach the image at 1 MiB): the AP start-up trampoline (SIPI
 * vector 0x06) and the real-mode leg of the mode tour.
 *
 * GDT (see conf.h SEL_*): flat 64-bit, 32-bit and 16-bit code and data at
 * DPL0, user code/data at DPL3, the 64-bit TSS, a 32-bit TSS pair for the
 * task switch, and slots the C code fills per check.
 */
#include "multiboot.h"
#include "conf.h"

#define MB_FLAGS (MB_FLAG_MEMINFO | MB_FLAG_AOUT_KLUDGE)
#define MSR_EFER 0xc0000080

	.section .multiboot, "a"
	.align 4
mb_header:
	.long MB_HEADER_MAGIC
	.long MB_FLAGS
	.long -(MB_HEADER_MAGIC + MB_FLAGS)
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
	movl %eax, boot_mb_magic
	movl %ebx, boot_mb_info
	lgdt gdt_ptr
	movl $pml4, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $0x20, %eax			/* PAE */
	movl %eax, %cr4
	movl $MSR_EFER, %ecx
	rdmsr
	orl $0x100, %eax		/* LME */
	wrmsr
	movl %cr0, %eax
	orl $0x80000001, %eax
	movl %eax, %cr0
	ljmp $SEL_KCODE64, $start64

	.code64
start64:
	movl $SEL_KDATA, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movq $kstack_top, %rsp
	call conf_main
	movl %eax, %edi
	call guest_exit

/*
 * uint64_t conf_try(void (*fn)(uint64_t), uint64_t arg) - call fn(arg);
 * returns CONF_NO_EXC if it returns, else the vector of the exception the
 * handler caught (conf.c: isr() resumes at try_resume with the stack of
 * the call).  Callee-saved registers are restored either way.
 */
	.text
	.globl conf_try, try_resume
conf_try:
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, try_rsp
	movb $1, try_active
	movq %rdi, %rax
	movq %rsi, %rdi
	call *%rax
	movb $0, try_active
	movl $CONF_NO_EXC, %eax
	jmp 1f
try_resume:
	movl $SEL_KDATA, %ecx
	movw %cx, %ds
	movw %cx, %es
	movw %cx, %ss
1:	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	ret

/*
 * to_user(rip, rsp) - iretq to CPL3 at rip on rsp (IOPL 3, IF 0); used
 * under conf_try: the CPL3 code ends in an exception.
 */
	.globl to_user
to_user:
	pushq $(SEL_UDATA | 3)
	pushq %rsi
	pushq $0x3002
	pushq $(SEL_UCODE64 | 3)
	pushq %rdi
	iretq

/* Exception and interrupt entry: 256 stubs, 16 bytes apart. */
isr_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi
	movw %ss, %si
	movq %rsp, %rbx
	andq $-16, %rsp
	call isr
	movq %rbx, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp
	iretq

	.section .isr, "ax"
	.globl isr_stubs
isr_stubs:
	.set vec, 0
	.rept 256
	.align 16
	.if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	.else
	pushq $0
	.endif
	pushq $vec
	jmp isr_common
	.set vec, vec + 1
	.endr

/*
 * mode_tour() - long mode -> compatibility mode -> 32-bit protected mode
 * (paging off) -> 32-bit task switch and back -> 16-bit protected mode ->
 * real mode -> 32-bit protected mode -> long mode, recording stack
 * behaviour for every stack size in TOUR_RES[] (conf.h TR_*), which
 * conf.c checks.  Interrupts stay off.  The IDT is the real-mode IVT
 * (base 0) while in real mode and restored after.
 */
	.text
	.globl mode_tour
mode_tour:
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, tour_rsp
	sidt tour_idt
	pushq $SEL_KCODE32
	pushq $tour_compat
	lretq

	.code32
tour_compat:
	/* compatibility mode, SS = flat 32-bit data */
	movl %esp, %ebp
	movl $0x5800, %esp
	pushl $0xa1a1a1a1
	movl %esp, TOUR_RES + 4 * TR_COMPAT_ESP
	movl 0x57fc, %eax
	movl %eax, TOUR_RES + 4 * TR_COMPAT_MEM
	movl %ebp, %esp
	/* leave long mode: paging off, then EFER.LME off */
	movl %cr0, %eax
	andl $0x7fffffff, %eax
	movl %eax, %cr0
	movl $MSR_EFER, %ecx
	rdmsr
	andl $~0x100, %eax
	wrmsr
	movl %cr0, %eax
	andl $0x80000001, %eax
	movl %eax, TOUR_RES + 4 * TR_PROT_CR0
	rdmsr
	andl $0x500, %eax
	movl %eax, TOUR_RES + 4 * TR_PROT_EFER
	/* 16-bit stack (B = 0) with 32-bit code: pushes use SP only */
	movl %esp, %ebp
	movw $SEL_KDATA16, %bx
	movw %bx, %ss
	movl $0x12345800, %esp
	pushl $0xb2b2b2b2
	movl %esp, TOUR_RES + 4 * TR_SS16_ESP
	movl 0x57fc, %eax
	movl %eax, TOUR_RES + 4 * TR_SS16_MEM
	call tour_sub32
	movl %eax, TOUR_RES + 4 * TR_SS16_CALL
	movl %esp, TOUR_RES + 4 * TR_SS16_CALL_ESP
	movw $0, %sp
	pushw $0xc3c3
	movl %esp, TOUR_RES + 4 * TR_SS16_WRAP_ESP
	movzwl 0xfffe, %eax
	movl %eax, TOUR_RES + 4 * TR_SS16_WRAP_MEM
	/* back to a flat 32-bit stack: ESP is used in full again */
	movw $SEL_KDATA, %bx
	movw %bx, %ss
	movl $0x15800, %esp
	pushl $0xb3b3b3b3
	movl %esp, TOUR_RES + 4 * TR_SS32_ESP
	movl 0x157fc, %eax
	movl %eax, TOUR_RES + 4 * TR_SS32_MEM
	movl %ebp, %esp

	/* 32-bit task switch: TR = task A, call task B, B irets back */
	cmpb $0, tour_no_task
	jne tour_after_task
	movw $SEL_TSS32A, %ax
	ltr %ax
	lcall $SEL_TSS32B, $0
	movl %eax, TOUR_RES + 4 * TR_TASK_EAX
	str %eax
	movl %eax, TOUR_RES + 4 * TR_TASK_TR_AFTER
	movzbl gdt + SEL_TSS32B + 5, %eax
	movl %eax, TOUR_RES + 4 * TR_TASK_B_TYPE_AFTER
	movl %cr0, %eax
	andl $8, %eax
	movl %eax, TOUR_RES + 4 * TR_TASK_CR0_TS
	clts
	pushfl
	popl %eax
	andl $0x4000, %eax
	movl %eax, TOUR_RES + 4 * TR_TASK_NT_AFTER
tour_after_task:

	/* 16-bit protected mode, then real mode */
	lidt tour_ivt
	ljmp $SEL_KCODE16, $tour_pm16

tour_sub32:
	movl %esp, TOUR_RES + 4 * TR_SS16_SUB_ESP
	movl $0x600d, %eax
	ret

	/* task B: runs with its own TSS state */
	.globl task_b_entry
task_b_entry:
	str %eax
	movl %eax, TOUR_RES + 4 * TR_TASK_B_TR
	movzwl tss32b, %eax		/* previous task link */
	movl %eax, TOUR_RES + 4 * TR_TASK_B_LINK
	pushfl
	popl %eax
	andl $0x4000, %eax
	movl %eax, TOUR_RES + 4 * TR_TASK_B_NT
	movzbl gdt + SEL_TSS32A + 5, %eax
	movl %eax, TOUR_RES + 4 * TR_TASK_A_TYPE
	movl %esp, TOUR_RES + 4 * TR_TASK_B_ESP
	movl $0x7a5c, %eax
	iretl
	.globl task_b_resume
task_b_resume:
	jmp task_b_entry

	/* back from real mode: 32-bit protected mode, then long mode */
tour_back32:
	movl $SEL_KDATA, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl %cr0, %eax
	andl $1, %eax
	movl %eax, TOUR_RES + 4 * TR_BACK_CR0
	movl $MSR_EFER, %ecx
	rdmsr
	orl $0x100, %eax
	wrmsr
	movl %cr0, %eax
	orl $0x80000000, %eax
	movl %eax, %cr0
	ljmp $SEL_KCODE64, $tour_back64

	.code64
tour_back64:
	movl $SEL_KDATA, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movq tour_rsp, %rsp
	lidt tour_idt
	/* TR still names the 32-bit TSS A: back to the 64-bit TSS */
	andb $~0x02, gdt + SEL_TSS64 + 5
	movw $SEL_TSS64, %ax
	ltr %ax
	movl $MSR_EFER, %ecx
	rdmsr
	andl $0x500, %eax
	movl %eax, TOUR_RES + 4 * TR_BACK_EFER
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	ret

	.data
	.align 8
	.globl tour_idt
tour_rsp:	.quad 0
	.globl tour_no_task
tour_no_task:	.byte 0
	.word 0, 0, 0
tour_idt:	.word 0
		.quad 0
	.word 0, 0, 0
tour_ivt:	.word 0x3ff
		.quad 0

/* ------------------------------------------------------------------ */
	.section .text16, "ax"
	.code16
	.globl low16_start
low16_start:
/*
 * AP start-up trampoline (SIPI vector LOW16 >> 12), written the way an OS
 * writes it: real mode, LGDT, CR0.PE, far jump to 32-bit code, flat SS
 * loaded with "mov %bx, %ss", then a call on that stack.
 */
ap_tramp:
	cli
	xorw %ax, %ax
	movw %ax, %ds
	lgdtl ap_gdtp
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $SEL_KCODE32, $ap_pm32

	.code32
ap_pm32:
	movw $SEL_KDATA, %bx
	movw %bx, %ds
	movw %bx, %es
	movw %bx, %ss
	movl $AP_STACK_TOP, %esp
	call ap_sub
	movl %eax, AP_RES + 4 * AP_CALL
	movl %esp, AP_RES + 4 * AP_ESP
	movl 0xfee00020, %eax
	shrl $24, %eax
	movl %eax, AP_RES + 4 * AP_APICID
	lock incl AP_RES + 4 * AP_DONE
1:	cli
	hlt
	jmp 1b
ap_sub:
	movl %esp, AP_RES + 4 * AP_SUB_ESP
	pushl $0x5a5a
	popl %eax
	addl $0x1000, %eax
	ret

	.align 8
	.word 0
ap_gdtp:
	.word gdt_end - gdt - 1
	.long gdt

	.code16
	/* mode tour, 16-bit protected mode (CS = 16-bit, base 0) */
	.globl tour_pm16
tour_pm16:
	movw $SEL_KDATA16, %ax
	movw %ax, %ss
	movw %ax, %ds
	movl $0x5800, %esp
	pushw $0xd4d4
	movl %esp, TOUR_RES + 4 * TR_PM16_ESP
	movw 0x57fe, %ax
	movw %ax, TOUR_RES + 4 * TR_PM16_MEM
	/* to real mode */
	movl %cr0, %eax
	andl $~1, %eax
	movl %eax, %cr0
	ljmp $0, $tour_real
tour_real:
	xorw %ax, %ax
	movw %ax, %ds
	movw %ax, %ss
	movw %ax, %es
	movl $0xdead5800, %esp
	pushw $0xe5e5
	movl %esp, TOUR_RES + 4 * TR_REAL_ESP
	movw 0x57fe, %ax
	movw %ax, TOUR_RES + 4 * TR_REAL_MEM
	popw %ax
	movl %cr0, %eax
	andl $1, %eax
	movl %eax, TOUR_RES + 4 * TR_REAL_CR0
	/* segment arithmetic: DS = 0x500 -> linear 0x5000 + offset */
	movw $(TOUR_RES >> 4), %ax
	movw %ax, %ds
	movw $0xf00d, (4 * TR_REAL_SEGW)
	xorw %ax, %ax
	movw %ax, %ds
	/* software interrupt through the IVT */
	movw $real_int30, (0x30 * 4)
	movw $0, (0x30 * 4 + 2)
	int $0x30
	.globl real_int30_ret, real_div
real_int30_ret:
	/* #DE through the IVT: IP of the faulting DIV is pushed */
	movw $real_de, (0)
	movw $0, (2)
	xorb %bl, %bl
	movw $7, %ax
real_div:
	divb %bl
	movw %ax, TOUR_RES + 4 * TR_REAL_DE_AX
	/* back to protected mode */
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $SEL_KCODE32, $tour_back32

real_int30:
	movw %sp, %bp
	movw (%bp), %ax
	movw %ax, TOUR_RES + 4 * TR_REAL_INT_IP
	movw 2(%bp), %ax
	movw %ax, TOUR_RES + 4 * TR_REAL_INT_CS
	movw $0x1e1e, TOUR_RES + 4 * TR_REAL_INT_FLAG
	iret
real_de:
	movw %sp, %bp
	movw (%bp), %ax
	movw %ax, TOUR_RES + 4 * TR_REAL_DE_IP
	addw $2, (%bp)			/* skip the 2-byte DIV */
	movw $0x1234, %ax
	iret
	.globl low16_end
low16_end:

/* ------------------------------------------------------------------ */
	.data
	.align 16
	.globl gdt, gdt_ptr
gdt:
	.quad 0				/* 0x00 */
	.quad 0x00af9a000000ffff	/* 0x08 kernel code 64 */
	.quad 0x00cf92000000ffff	/* 0x10 kernel data flat */
	.quad 0x00cff2000000ffff	/* 0x18 user data (DPL3) */
	.quad 0x00affa000000ffff	/* 0x20 user code 64 (DPL3) */
	.quad 0, 0			/* 0x28 64-bit TSS (C fills it) */
	.quad 0x00cf9a000000ffff	/* 0x38 kernel code 32 */
	.quad 0x00009a000000ffff	/* 0x40 kernel code 16, base 0 */
	.quad 0x000092000000ffff	/* 0x48 kernel data 16 (B = 0) */
	.quad 0, 0, 0, 0		/* 0x50-0x68 slots */
	.quad 0, 0			/* 0x70 call gate (16 bytes) */
	.quad 0, 0			/* 0x80 second gate */
	.quad 0				/* 0x90 32-bit TSS A (C fills) */
	.quad 0				/* 0x98 32-bit TSS B (C fills) */
	.quad 0x00cffa000000ffff	/* 0xa0 user code 32 (DPL3) */
	.quad 0x00af9e000000ffff	/* 0xa8 conforming code 64, DPL0 */
	.quad 0, 0, 0, 0		/* 0xb0-0xc8 more slots */
gdt_end:
	.align 16
	.word 0, 0, 0
gdt_ptr:
	.word gdt_end - gdt - 1
	.quad gdt

	.globl boot_mb_magic, boot_mb_info
	.align 8
boot_mb_magic:	.long 0
boot_mb_info:	.long 0
	.globl try_rsp, try_active
try_rsp:	.quad 0
try_active:	.byte 0

	.section .pagetables, "aw"
	.align 4096
	.globl pml4, pdpt_low
pml4:
	.quad pdpt_low + 0x7
	.fill 511, 8, 0
pdpt_low:
	.quad pd + 0x0000 + 0x7
	.quad pd + 0x1000 + 0x7
	.quad pd + 0x2000 + 0x7
	.quad pd + 0x3000 + 0x7
	.fill 508, 8, 0
pd:
	.set page, 0
	.rept 2048
	.quad (page << 21) | 0x87
	.set page, page + 1
	.endr

	.bss
	.align 4096
	.globl kstack_top, ist1_top, ist2_top, rsp0_top, ustack_top
kstack:
	.skip 16384
kstack_top:
	.skip 4096
ist1_top:
	.skip 4096
ist2_top:
	.skip 4096
rsp0_top:
	.skip 8192
ustack_top:
