/* SPDX-License-Identifier: MIT */
/*
 * entry64.S - multiboot v1 entry for the 64-bit guests: from 32-bit
 * protected mode (paging off, as a multiboot loader leaves it) to long mode,
 * then down to CPL3 with IOPL=3, where the guest's C code runs.
 *
 * Image format: a flat binary with the multiboot "a.out kludge" (header
 * flag bit 16): the header gives load_addr/load_end_addr/bss_end_addr/
 * entry_addr, so any multiboot loader (QEMU -kernel, GRUB, libvmm's
 * vmm_image_load_multiboot) can load it without understanding ELF64.  The
 * linker script guest64.ld links it at 1 MiB, objcopy -O binary flattens it.
 *
 * Everything the CPU needs is built at link time, not at run time: the
 * 4-level page tables (identity map of the low 4 GiB with 2 MiB pages, user
 * accessible), the GDT with its TSS descriptor and the IDT (the linker
 * script splits the addresses into the descriptor fields).  So the CPL0
 * path is about 40 instructions: on a nested shadow-paging KVM every CPL0
 * instruction is emulated by the host (~1 us each), CPL3 runs natively.
 *
 * I/O at CPL3: IOPL=3 in the iretq frame, and a TSS I/O permission bitmap
 * that allows every port.  The nested KVM here (kvm_pvm) runs guest CPL3
 * with IOPL 0 whatever the guest asks for, so without the bitmap the first
 * "out" at CPL3 raises #GP there; a normal CPU honours either.
 *
 * CPL0 services for CPL3 code, trap-and-emulate style: CPL3 executes the
 * invalid opcode SERVICE_CALL (ud2 + "sv") with RAX = SYS_*; the #UD
 * handler recognises it, does the privileged read, returns the value in RAX
 * and resumes after it (no other register changes), see entry64.h.  Not
 * "int n" nor "syscall": on kvm_pvm "int n" from CPL3 raises #UD and
 * "syscall" jumps to LSTAR without leaving CPL3.  kvm_pvm also shows its
 * own user selectors (CS 0x33, SS 0x2b) after the first return from a trap.
 *
 * Any exception prints a line and exits with
 * GUEST_EXIT_EXCEPTION.
 *
 * What CPL3 code can read about the boot (see entry64.h): boot_mb_magic,
 * boot_mb_info, and TSC stamps at entry, in long mode and at CPL3.
 */
#include "multiboot.h"
#include "entry64.h"

#include "boot64.inc"

#define MB_FLAGS (MB_FLAG_MEMINFO | MB_FLAG_AOUT_KLUDGE)

	.section .multiboot, "a"
	.align 4
mb_header:
	.long MB_HEADER_MAGIC
	.long MB_FLAGS
	.long -(MB_HEADER_MAGIC + MB_FLAGS)
	.long mb_header		/* header_addr */
	.long __load_start	/* load_addr: file offset 0 */
	.long __load_end	/* load_end_addr: end of file contents */
	.long __bss_end		/* bss_end_addr: the loader zeroes up to it */
	.long _start32		/* entry_addr */

	.section .text.boot, "ax"
	.code32
	.globl _start32
_start32:
	cli
	movl %eax, boot_mb_magic
	movl %ebx, boot_mb_info
	rdtsc
	movl %eax, boot_tsc_entry
	movl %edx, boot_tsc_entry + 4
	BOOT64_ENTER_LONG_MODE start64

	.code64
start64:
	BOOT64_KERNEL_SEGMENTS kstack_top
	rdtsc
	movl %eax, boot_tsc_long
	movl %edx, boot_tsc_long + 4
	BOOT64_TO_USER user_entry, ustack_top

	.text
	/* CPL3 from here: the stack is 16-byte aligned at the call. */
user_entry:
	rdtsc
	movl %eax, boot_tsc_user
	movl %edx, boot_tsc_user + 4
	call guest_main
	movl %eax, %edi
	call guest_exit

	/* Exceptions: the stub pushed (error code or 0) and the vector. */
isr_common:
	pushq %rax
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	movq %rsp, %rdi
	andq $-16, %rsp
	call exception_handler	/* does not return */
1:	hlt
	jmp 1b

	/*
	 * #UD: a service call from CPL3 (ud2 "sv"), or a real fault.
	 * Frame: RIP, CS, RFLAGS, RSP, SS (no error code).
	 */
ud_entry:
	pushq %rcx
	pushq %rdx
	movq 16(%rsp), %rcx		/* faulting RIP */
	testb $3, 24(%rsp)		/* from CPL3? */
	jz 8f
	cmpl $SERVICE_CALL_BYTES, (%rcx)
	jne 8f
	addq $SERVICE_CALL_LEN, 16(%rsp)
	cmpq $SYS_NOP, %rax
	je 9f
	cmpq $SYS_READ_CR0, %rax
	jne 1f
	movq %cr0, %rax
	jmp 9f
1:	cmpq $SYS_READ_CR4, %rax
	jne 2f
	movq %cr4, %rax
	jmp 9f
2:	cmpq $SYS_READ_CR3, %rax
	jne 3f
	movq %cr3, %rax
	jmp 9f
3:	cmpq $SYS_READ_EFER, %rax
	jne 4f
	movl $BOOT64_MSR_EFER, %ecx
	rdmsr
	shlq $32, %rdx
	orq %rdx, %rax
	jmp 9f
4:	movq $-1, %rax
9:	popq %rdx
	popq %rcx
	iretq
8:	popq %rdx
	popq %rcx
	pushq $0
	pushq $6
	jmp isr_common

/*
 * Interrupt stubs, 16 bytes apart from isr_stubs (the linker script aligns
 * the section to 4 KiB, so bits 16-31 of every stub address are the same
 * and the IDT can be filled at link time).
 */
	.section .isr, "ax"
	.set vec, 0
	.rept 32
	.align 16
	.if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	nop
	nop
	.elseif vec == 6
	jmp ud_entry
	.else
	pushq $0
	.endif
	.if vec != 6
	pushq $vec
	jmp isr_common
	.endif
	.set vec, vec + 1
	.endr

	.data
	.align 16
	BOOT64_TABLES kstack_top

	.align 16
idt:
	.set vec, 0
	.rept 32
	.word isr_stubs_0_15 + vec * 16
	.word KCODE64
	.word 0x8e00		/* present, DPL0, 64-bit interrupt gate */
	.word isr_stubs_16_31
	.long 0
	.long 0
	.set vec, vec + 1
	.endr
idt_end:

	.globl boot_mb_magic, boot_mb_info
	.globl boot_tsc_entry, boot_tsc_long, boot_tsc_user
	.align 8
boot_tsc_entry:	.quad 0
boot_tsc_long:	.quad 0
boot_tsc_user:	.quad 0
boot_mb_magic:	.long 0
boot_mb_info:	.long 0

/*
 * Page tables: identity map of [0, 4 GiB) with 2 MiB pages, present,
 * writable, user.  PML4[0] -> PDPT[0..3] -> PD0..PD3.
 */
	.section .pagetables, "aw"
	BOOT64_PAGE_TABLES

	.bss
	.align 16
kstack:
	.skip 8192
kstack_top:
ustack:
	.skip 65536
ustack_top:
