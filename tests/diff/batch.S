/* SPDX-License-Identifier: MIT */
/*
 * batch.S - the guest harness of difftest --batch (see batch.h).  These
 * bytes are linked into difftest as data and copied to BH_CODE in the
 * guest; every reference outside the harness is an absolute guest address
 * from batch.h, every one inside is relative.
 */
#include "batch.h"

#define A(x) (BH_CTL + (x))
#define ENV_DATA 0x20000
#define UCODE64 0x23

	.section .rodata.difftest_harness, "a"
	.globl bh_start, bh_end, bh_after_off, bh_exc_off, bh_far32_off
	.balign 16
	.code64
bh_start:
bh_loop:
	mov A(C_IDX), %rax
	cmp A(C_COUNT), %rax
	jae bh_done
	mov A(C_INP), %rbx
	cld
	/* the scratch window and the stack window */
	/* (plain moves, not REP MOVS/STOS: the software backend runs
	 * these on its fast path) */
	lea I_WIN(%rbx), %rsi
	mov $(ENV_DATA + WIN_LO), %edi
	mov $(ENV_DATA + WIN_LO + WIN_SIZE), %ecx
1:	mov 0x00(%rsi), %rax
	mov 0x08(%rsi), %rdx
	mov %rax, 0x00(%rdi)
	mov %rdx, 0x08(%rdi)
	mov 0x10(%rsi), %rax
	mov 0x18(%rsi), %rdx
	mov %rax, 0x10(%rdi)
	mov %rdx, 0x18(%rdi)
	mov 0x20(%rsi), %rax
	mov 0x28(%rsi), %rdx
	mov %rax, 0x20(%rdi)
	mov %rdx, 0x28(%rdi)
	mov 0x30(%rsi), %rax
	mov 0x38(%rsi), %rdx
	mov %rax, 0x30(%rdi)
	mov %rdx, 0x38(%rdi)
	add $64, %rsi
	add $64, %rdi
	cmp %rcx, %rdi
	jb 1b
	movabs $0x5a5a5a5a5a5a5a5a, %rax
	mov $STK_LO, %edi
	mov $(STK_LO + STK_SIZE), %ecx
2:	mov %rax, 0x00(%rdi)
	mov %rax, 0x08(%rdi)
	mov %rax, 0x10(%rdi)
	mov %rax, 0x18(%rdi)
	mov %rax, 0x20(%rdi)
	mov %rax, 0x28(%rdi)
	mov %rax, 0x30(%rdi)
	mov %rax, 0x38(%rdi)
	add $64, %rdi
	cmp %rcx, %rdi
	jb 2b
	fxrstor64 I_FX(%rbx)
	movq $-1, A(C_EXCVEC)
	movq $0, A(C_EXCERR)
	movq $0, A(C_EXCRIP)
	mov I_JMP(%rbx), %rax
	mov %rax, A(C_JMP)
	mov I_FAR(%rbx), %rax
	mov %rax, A(C_FAR)
	pushq I_FLAGS(%rbx)
	popfq
	mov 0x00(%rbx), %rax
	mov 0x08(%rbx), %rcx
	mov 0x10(%rbx), %rdx
	mov 0x20(%rbx), %rsp
	mov 0x28(%rbx), %rbp
	mov 0x30(%rbx), %rsi
	mov 0x38(%rbx), %rdi
	mov 0x40(%rbx), %r8
	mov 0x48(%rbx), %r9
	mov 0x50(%rbx), %r10
	mov 0x58(%rbx), %r11
	mov 0x60(%rbx), %r12
	mov 0x68(%rbx), %r13
	mov 0x70(%rbx), %r14
	mov 0x78(%rbx), %r15
	mov 0x18(%rbx), %rbx
	jmp *A(C_JMP)

	/* 32-bit sequences: ljmpl *C_FAR (m16:32) */
bh_far32:
	.byte 0xff, 0x2c, 0x25
	.long A(C_FAR)

	/* a sequence ends here (jmp, or ljmp from 32-bit code); an
	 * exception IRETs here with the registers of the fault */
bh_after:
	mov %rax, A(C_SAVE + 0x00)
	mov %rcx, A(C_SAVE + 0x08)
	mov %rdx, A(C_SAVE + 0x10)
	mov %rbx, A(C_SAVE + 0x18)
	mov %rsp, A(C_SAVE + 0x20)
	mov %rbp, A(C_SAVE + 0x28)
	mov %rsi, A(C_SAVE + 0x30)
	mov %rdi, A(C_SAVE + 0x38)
	mov %r8, A(C_SAVE + 0x40)
	mov %r9, A(C_SAVE + 0x48)
	mov %r10, A(C_SAVE + 0x50)
	mov %r11, A(C_SAVE + 0x58)
	mov %r12, A(C_SAVE + 0x60)
	mov %r13, A(C_SAVE + 0x68)
	mov %r14, A(C_SAVE + 0x70)
	mov %r15, A(C_SAVE + 0x78)
	mov $BH_STACK, %esp
	pushfq
	popq A(C_SAVE + 0x80)
	cld
	mov A(C_OUTP), %rbx
	mov %rbx, %rdi
	mov $A(C_SAVE), %esi
	mov $17, %ecx
	rep movsq
	mov A(C_EXCVEC), %rax
	mov %rax, O_EXCVEC(%rbx)
	mov A(C_EXCERR), %rax
	mov %rax, O_EXCERR(%rbx)
	mov A(C_EXCRIP), %rax
	mov %rax, O_EXCRIP(%rbx)
	fxsave64 O_FX(%rbx)
	mov $(ENV_DATA + WIN_LO), %esi
	mov $(ENV_DATA + WIN_LO + WIN_SIZE), %edi
	call bh_hash
	mov %rdx, O_HDATA(%rbx)
	mov $STK_LO, %esi
	mov $(STK_LO + STK_SIZE), %edi
	call bh_hash
	mov %rdx, O_HSTACK(%rbx)
	mov A(C_IDX), %rax
	movabs $BH_MAGIC, %rcx
	or %rax, %rcx
	mov %rcx, O_DONE(%rbx)
	inc %rax
	mov %rax, A(C_IDX)
	addq $O_STRIDE, A(C_OUTP)
	addq $I_STRIDE, A(C_INP)
	jmp bh_loop

bh_done:
	out %al, $0x99
	jmp bh_done

	/* a hash of [rsi, rdi) (a multiple of 64 bytes) in rdx: the sum of
	 * the prefix sums of the 64-byte blocks' sums (catches any changed
	 * qword and any move between blocks) */
bh_hash:
	xor %eax, %eax
	xor %edx, %edx
1:	add 0x00(%rsi), %rax
	add 0x08(%rsi), %rax
	add 0x10(%rsi), %rax
	add 0x18(%rsi), %rax
	add 0x20(%rsi), %rax
	add 0x28(%rsi), %rax
	add 0x30(%rsi), %rax
	add 0x38(%rsi), %rax
	add %rax, %rdx
	add $64, %rsi
	cmp %rdi, %rsi
	jb 1b
	rol $17, %rax
	xor %rax, %rdx
	ret

	/* CPL0: the per-vector stubs push an error code (0 if the vector
	 * has none) and the vector; record them and the frame's RIP and
	 * return to bh_after in 64-bit code at CPL3 */
bh_exc:
	push %rax
	mov 0x08(%rsp), %rax
	mov %rax, A(C_EXCVEC)
	mov 0x10(%rsp), %rax
	mov %rax, A(C_EXCERR)
	mov 0x18(%rsp), %rax
	mov %rax, A(C_EXCRIP)
	lea bh_after(%rip), %rax
	mov %rax, 0x18(%rsp)
	movq $UCODE64, 0x20(%rsp)
	pop %rax
	add $16, %rsp
	iretq
bh_end:

	.balign 4
bh_after_off: .long bh_after - bh_start
bh_exc_off: .long bh_exc - bh_start
bh_far32_off: .long bh_far32 - bh_start

	.section .note.GNU-stack, "", @progbits
