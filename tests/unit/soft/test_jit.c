/* SPDX-License-Identifier: MIT */
/*
 * test_jit.c - the software backend's JIT tier (VMM_CFG_JIT): it compiles
 * blocks (eagerly, and a loop once it is hot), the compiled code leaves
 * the same state as the interpreter (registers, flags, instruction count,
 * memory), a fault in the middle of a compiled block is precise (RIP of
 * the faulting instruction in the frame, the flags and registers of the
 * instructions before it, none of the later ones), self-modifying code
 * invalidates the compiled block, a flags-reading instruction handed to
 * the interpreter sees the lazy flags the compiled code left, and
 * deterministic mode and VMM_CFG_NO_JIT run the interpreter only; a
 * patched link between compiled blocks is not followed once its
 * successor is invalidated, stops for a kick, and enters the successor
 * with the registers it expects.
 */
#include "soft_test.h"
#include "config.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

/* SOFT_JIT_HOT (jit.h): a block is compiled at its 32nd execution */
#define SOFT_JIT_HOT_TEST 32

static struct vmm_vcpu_stats stats(vmm_vcpu *cpu)
{
	struct vmm_vcpu_stats s;

	memset(&s, 0, sizeof(s));
	s.struct_size = sizeof(s);
	assert_int_equal(vmm_vcpu_get_stats(cpu, &s), 0);
	return s;
}

struct outcome {
	struct vmm_cpu_state st;
	struct vmm_exit e;
	uint64_t insns, compiled, fallbacks;
	uint8_t data[256], kstack[64];
};

/* run @code at CPL3 in 64-bit mode with @flags, RDX = @rdx */
static void run(struct outcome *o, uint32_t flags, const void *code,
		size_t len, uint64_t rdx)
{
	struct tvm t;
	struct vmm_vcpu_stats s;

	tvm_create(&t, flags);
	tvm_setup(&t, ENV_LONG64, 3, code, len);
	t.st.gpr[VMM_RDX] = rdx;
	t.st.gpr[VMM_RSI] = ENV_DATA;
	t.st.gpr[VMM_RBX] = 0x123456789abcdef0ull;
	tvm_set(&t);
	o->e = tvm_run(&t);
	o->st = t.st;
	s = stats(t.cpu);
	o->insns = s.insns_retired;
	o->compiled = s.blocks_compiled;
	o->fallbacks = s.jit_fallbacks;
	assert_int_equal(vmm_mem_read(t.vm, ENV_DATA, o->data,
				      sizeof(o->data)), 0);
	assert_int_equal(vmm_mem_read(t.vm, ENV_KSTACK - sizeof(o->kstack),
				      o->kstack, sizeof(o->kstack)), 0);
	tvm_destroy(&t);
}

static void same(const struct outcome *a, const struct outcome *b)
{
	assert_int_equal(a->e.kind, b->e.kind);
	assert_int_equal(a->st.rip, b->st.rip);
	assert_int_equal(a->st.rflags, b->st.rflags);
	for (int r = 0; r < 16; r++)
		assert_int_equal(a->st.gpr[r], b->st.gpr[r]);
	assert_int_equal(a->insns, b->insns);
	assert_memory_equal(a->data, b->data, sizeof(a->data));
	assert_memory_equal(a->kstack, b->kstack, sizeof(a->kstack));
}

static void skip_without_jit(void)
{
#if !SOFT_JIT
	skip();
#endif
}

/*
 * A loop over every operand form the translator handles: sizes 1/2/4/8,
 * AH, memory with base/index/scale, RIP-relative, immediates, PUSH/POP,
 * INC/DEC carrying CF, then ADC (an interpreter call that reads the lazy
 * CF of compiled code), SETC/CMOV, and a Jcc on compiled flags.
 */
static const uint8_t forms[] = {
	0xb9, 0xe8, 0x03, 0x00, 0x00,             /* mov ecx, 1000 */
	0x31, 0xff,                               /* xor edi, edi */
	/* loop: */
	0x48, 0x01, 0xd8,                         /* add rax, rbx */
	0x66, 0x29, 0xc3,                         /* sub bx, ax */
	0x00, 0xe7,                               /* add bh, ah */
	0x30, 0xd8,                               /* xor al, bl */
	0x48, 0x8b, 0x14, 0xbe,                   /* mov rdx, [rsi+rdi*4] */
	0x48, 0x01, 0x54, 0xbe, 0x40,             /* add [rsi+rdi*4+64], rdx */
	0x80, 0x44, 0x3e, 0x10, 0x81,             /* add byte [rsi+rdi+16], 0x81 */
	0x66, 0xff, 0x4e, 0x20,                   /* dec word [rsi+32] */
	0x0f, 0xb6, 0x56, 0x11,                   /* movzx edx, byte [rsi+17] */
	0x48, 0x0f, 0xbf, 0xd3,                   /* movsx rdx, bx */
	0x48, 0x63, 0xc2,                         /* movsxd rax, edx */
	0x48, 0x8d, 0x44, 0x58, 0x07,             /* lea rax, [rax+rbx*2+7] */
	0x53,                                     /* push rbx */
	0x48, 0x83, 0xc3, 0xff,                   /* add rbx, -1 (CF) */
	0xff, 0xc0,                               /* inc eax (keeps CF) */
	0x11, 0xc2,                               /* adc edx, eax (reads CF) */
	0x5b,                                     /* pop rbx */
	0x0f, 0x92, 0xc4,                         /* setc ah */
	0x48, 0x0f, 0x44, 0xd0,                   /* cmovz rdx, rax */
	0x48, 0x85, 0xc2,                         /* test rdx, rax */
	0x48, 0x89, 0x05, 0x00, 0x00, 0x01, 0x00, /* mov [rip+0x10000], rax */
	0xff, 0xc7,                               /* inc edi */
	0x83, 0xe7, 0x0f,                         /* and edi, 15 */
	0xff, 0xc9,                               /* dec ecx */
	0x75, 0xb0,                               /* jnz loop */
	0xf4,                                     /* hlt */
};

static void test_same_as_interpreter(void **state)
{
	struct outcome a, b, c;

	skip_without_jit();
	/* the rel8 of the jnz must reach the loop start (offset 7) */
	assert_int_equal((int8_t)forms[sizeof(forms) - 2],
			 7 - (int)(sizeof(forms) - 1));
	run(&a, VMM_CFG_NO_JIT, forms, sizeof(forms), 0);
	run(&b, VMM_CFG_JIT_EAGER, forms, sizeof(forms), 0);
	run(&c, VMM_CFG_JIT, forms, sizeof(forms), 0);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	assert_int_equal(a.compiled, 0);
	assert_true(b.compiled >= 2);
	assert_true(c.compiled >= 1); /* the loop body became hot */
	assert_true(a.insns > 20000);
	same(&a, &b);
	same(&a, &c);
}

/* mov eax, 5; mov ecx, 7; add eax, ecx; mov [rdx], eax; inc ecx; hlt:
 * the store faults (#PF, RDX unmapped) */
static const uint8_t fault_mid[] = {
	0xb8, 0x05, 0x00, 0x00, 0x00, 0xb9, 0x07, 0x00, 0x00, 0x00,
	0x01, 0xc8, 0x89, 0x02, 0xff, 0xc1, 0xf4,
};

static void test_precise_fault(void **state)
{
	struct outcome a, b;
	uint64_t frame_rip, frame_fl;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, fault_mid, sizeof(fault_mid), 0x40000000);
	run(&b, VMM_CFG_JIT_EAGER, fault_mid, sizeof(fault_mid), 0x40000000);
	assert_true(b.compiled >= 1);
	same(&a, &b);
	/* the #PF handler's HLT, the frame at the top of the kernel stack:
	 * error code, RIP, CS, RFLAGS, RSP, SS */
	assert_int_equal(b.st.rip, ENV_HANDLERS + 16 * 14 + 1);
	memcpy(&frame_rip, b.kstack + sizeof(b.kstack) - 40, 8);
	memcpy(&frame_fl, b.kstack + sizeof(b.kstack) - 24, 8);
	assert_int_equal(frame_rip, ENV_CODE + 12);
	assert_int_equal(b.st.gpr[VMM_RAX], 12);
	assert_int_equal(b.st.gpr[VMM_RCX], 7); /* INC did not run */
	/* ADD 5 + 7 = 12: PF (0x0c has two bits), no ZF/SF/CF/OF; AF: 5^7^12 */
	assert_int_equal(frame_fl & 0x8d5, 0x04 | ((5 ^ 7 ^ 12) & 0x10));
	assert_int_equal(b.st.cr2, 0x40000000);
}

/* the store of the loop rewrites the "mov al" immediate of its own,
 * compiled, block (as test_stats.c's smc) */
static void test_smc(void **state)
{
	static const uint8_t smc[] = {
		0x31, 0xc9, 0xb0, 0x11, 0xff, 0xc1, 0x83, 0xf9, 0x02, 0x74,
		0x09, 0xc6, 0x05, 0xf1, 0xff, 0xff, 0xff, 0x22, 0xeb, 0xee,
		0xf4,
	};
	struct tvm t;
	struct vmm_exit e;
	struct vmm_vcpu_stats s;

	skip_without_jit();
	tvm_create(&t, VMM_CFG_JIT_EAGER);
	tvm_setup(&t, ENV_LONG64, 0, smc, sizeof(smc));
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(t.st.gpr[VMM_RAX] & 0xff, 0x22);
	s = stats(t.cpu);
	assert_true(s.blocks_invalidated >= 1);
	assert_true(s.blocks_compiled >= 2); /* the block again, rewritten */
	tvm_destroy(&t);
}

/*
 * CALL/RET/JMP translated at block ends: a loop calling a function, then
 * a RET to a non-canonical address (#GP with the RET's RIP, RSP not
 * popped), the same on both tiers.
 */
static const uint8_t calls[] = {
	0xb9, 0xe8, 0x03, 0x00, 0x00,             /* 0: mov ecx, 1000 */
	0xe8, 0x14, 0x00, 0x00, 0x00,             /* 5: call f (30) */
	0xeb, 0x02,                               /* 10: jmp 14 */
	0x0f, 0x0b,                               /* 12: ud2 */
	0xff, 0xc9,                               /* 14: dec ecx */
	0x75, 0xf3,                               /* 16: jnz 5 */
	0x48, 0xb8, 0, 0, 0, 0, 0, 0x80, 0, 0,    /* 18: mov rax, 1 << 47 */
	0x50,                                     /* 28: push rax */
	0xc3,                                     /* 29: ret: #GP */
	0x01, 0xca,                               /* 30: f: add edx, ecx */
	0xc3,                                     /* 32: ret */
};

static void test_calls(void **state)
{
	struct outcome a, b;
	uint64_t frame_rip;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, calls, sizeof(calls), 0);
	run(&b, VMM_CFG_JIT_EAGER, calls, sizeof(calls), 0);
	assert_true(b.compiled >= 4);
	same(&a, &b);
	assert_int_equal(b.st.rip, ENV_HANDLERS + 16 * 13 + 1);
	memcpy(&frame_rip, b.kstack + sizeof(b.kstack) - 40, 8);
	assert_int_equal(frame_rip, ENV_CODE + 29);
	assert_int_equal(b.st.gpr[VMM_RDX] & 0xffffffff, 1000 * 1001 / 2);
}

/*
 * The forms of the second round (assembled from this source with GNU as;
 * the bytes below): CBW/CWDE/CDQE, CWD/CDQ/CQO, NOP and NOP r/m, PUSH
 * imm, LEAVE, AH/BH written on cached registers, a 32-bit write
 * zero-extending a cached register, CMP feeding SETcc/CMOVcc through the
 * host flags and ADC (an interpreter call) through the pending flags,
 * CALL [mem], CALL reg and JMP [mem + index * 8] through a table:
 *
 *	lea rax, [rip + f];  mov [rsi + 200], rax
 *	lea rax, [rip + L1]; mov [rsi + 208], rax
 *	lea rax, [rip + L2]; mov [rsi + 216], rax
 *	mov ecx, 300; xor edi, edi
 * loop: mov eax, ecx; cbw; cwde; cdqe; cqo; cdq; cwd
 *	add [rsi + rdi * 8], rdx; nop; nop dword ptr [rax + rax]
 *	push 0x12345678; push -5; pop rbx; pop r9; add rbx, r9
 *	push rbp; mov rbp, rsp; sub rsp, 16; mov [rbp - 8], rbx
 *	mov ah, bl; mov bh, 3; add bh, ah; mov [rsi + 128], rbx; leave
 *	mov r10d, ebx; cmp ecx, 150; setb dl; cmovb r10, rbx; adc r10, rdx
 *	mov [rsi + rdi * 8 + 64], r10
 *	call [rsi + 200]; lea rax, [rip + f2]; call rax
 *	mov eax, ecx; and eax, 1; jmp [rsi + 208 + rax * 8]
 * L1:	add edi, 1; jmp cont
 * L2:	add edi, 2
 * cont: and edi, 15; dec ecx; jnz loop; hlt
 * f:	add r11, rcx; ret
 * f2:	xor r11, rdi; ret
 */
static const uint8_t forms2[] = {
	0x48, 0x8d, 0x05, 0xa9, 0x00, 0x00, 0x00, 0x48, 0x89, 0x86, 0xc8, 0x00,
	0x00, 0x00, 0x48, 0x8d, 0x05, 0x8b, 0x00, 0x00, 0x00, 0x48, 0x89, 0x86,
	0xd0, 0x00, 0x00, 0x00, 0x48, 0x8d, 0x05, 0x82, 0x00, 0x00, 0x00, 0x48,
	0x89, 0x86, 0xd8, 0x00, 0x00, 0x00, 0xb9, 0x2c, 0x01, 0x00, 0x00, 0x31,
	0xff, 0x89, 0xc8, 0x66, 0x98, 0x98, 0x48, 0x98, 0x48, 0x99, 0x99, 0x66,
	0x99, 0x48, 0x01, 0x14, 0xfe, 0x90, 0x0f, 0x1f, 0x04, 0x00, 0x68, 0x78,
	0x56, 0x34, 0x12, 0x6a, 0xfb, 0x5b, 0x41, 0x59, 0x4c, 0x01, 0xcb, 0x55,
	0x48, 0x89, 0xe5, 0x48, 0x83, 0xec, 0x10, 0x48, 0x89, 0x5d, 0xf8, 0x88,
	0xdc, 0xb7, 0x03, 0x00, 0xe7, 0x48, 0x89, 0x9e, 0x80, 0x00, 0x00, 0x00,
	0xc9, 0x41, 0x89, 0xda, 0x81, 0xf9, 0x96, 0x00, 0x00, 0x00, 0x0f, 0x92,
	0xc2, 0x4c, 0x0f, 0x42, 0xd3, 0x49, 0x11, 0xd2, 0x4c, 0x89, 0x54, 0xfe,
	0x40, 0xff, 0x96, 0xc8, 0x00, 0x00, 0x00, 0x48, 0x8d, 0x05, 0x22, 0x00,
	0x00, 0x00, 0xff, 0xd0, 0x89, 0xc8, 0x83, 0xe0, 0x01, 0xff, 0xa4, 0xc6,
	0xd0, 0x00, 0x00, 0x00, 0x83, 0xc7, 0x01, 0xeb, 0x03, 0x83, 0xc7, 0x02,
	0x83, 0xe7, 0x0f, 0xff, 0xc9, 0x75, 0x82, 0xf4, 0x49, 0x01, 0xcb, 0xc3,
	0x49, 0x31, 0xfb, 0xc3,
};

static void test_same_as_interpreter2(void **state)
{
	struct outcome a, b, c;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, forms2, sizeof(forms2), 0);
	run(&b, VMM_CFG_JIT_EAGER, forms2, sizeof(forms2), 0);
	run(&c, VMM_CFG_JIT, forms2, sizeof(forms2), 0);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	assert_true(b.compiled >= 6);
	assert_true(c.compiled >= 4);
	assert_true(a.insns > 300 * 40);
	same(&a, &b);
	same(&a, &c);
}

/* mov eax, 5; mov ecx, 7; sub eax, ecx; mov [rdx], eax (#PF); inc ecx;
 * hlt: SUB's flags are pending (operands in host registers) when the
 * store faults; the frame must have them */
static const uint8_t fault_flags[] = {
	0xb8, 0x05, 0x00, 0x00, 0x00, 0xb9, 0x07, 0x00, 0x00, 0x00,
	0x29, 0xc8, 0x89, 0x02, 0xff, 0xc1, 0xf4,
};

static void test_pending_flags_fault(void **state)
{
	struct outcome a, b;
	uint64_t frame_fl;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, fault_flags, sizeof(fault_flags), 0x40000000);
	run(&b, VMM_CFG_JIT_EAGER, fault_flags, sizeof(fault_flags),
	    0x40000000);
	assert_true(b.compiled >= 1);
	same(&a, &b);
	memcpy(&frame_fl, b.kstack + sizeof(b.kstack) - 24, 8);
	/* 5 - 7: CF, SF, AF; not ZF, OF, PF (0xfe has seven bits) */
	assert_int_equal(frame_fl & 0x8d5, 0x01 | 0x80 | 0x10);
	assert_int_equal(b.st.gpr[VMM_RAX], 0xfffffffe);
	assert_int_equal(b.st.gpr[VMM_RCX], 7);
}

/*
 * SHL/SHR/SAR by constants and IMUL with their flags live (a later store
 * may fault, PUSHFQ reads them): the compiled code writes RFLAGS as the
 * interpreter does, its fixed choices for the undefined bits (AF, OF of
 * counts above 1) included; sizes 1, 2 (AH too), 4, 8, IMUL overflowing
 * and not, from a register, an immediate and memory.  Each shift and
 * IMUL but the one from memory is followed by "pushfq; pop r8; add r9,
 * r8" (left out below):
 *
 *	mov ecx, 200; mov rax, 0x8123456789abcdef; xor edi, edi
 * loop: add rax, rcx; mov rbx, rax
 *	shl rbx, 1;  mov [rsi + rdi * 8], rbx
 *	shr ebx, 7;  mov [rsi + rdi * 8 + 8], rbx
 *	sar bx, 3;   mov [rsi + rdi * 8 + 16], rbx
 *	shl bl, 5;   mov [rsi + rdi * 8 + 24], rbx
 *	sar rbx, 1;  mov [rsi + rdi * 8 + 32], rbx
 *	shl ah, 7;   mov [rsi + rdi * 8 + 40], rax
 *	mov rdx, rax; imul rdx, rcx; mov [rsi + rdi * 8 + 48], rdx
 *	imul edx, ecx, 0x7fff; mov [rsi + rdi * 8 + 56], rdx
 *	imul dx, [rsi + 8]; pushfq; pop r8; add r9, r8
 *	shr eax, 9; pushfq; pop r8; add r9, r8
 *	shl rdx, 3; dec rdx; pushfq; pop r8; add r9, r8
 *	cmp [rsi + rdi], dl; inc edx; pushfq; pop r8; add r9, r8
 *	add edi, 1; and edi, 7; dec ecx; jnz loop; hlt
 * (the last two: the CF an INC/DEC keeps, from RFLAGS after a shift and
 * from the host flags after a memory CMP)
 */
static const uint8_t shifts[] = {
	0xb9, 0xc8, 0x00, 0x00, 0x00, 0x48, 0xb8, 0xef, 0xcd, 0xab, 0x89, 0x67,
	0x45, 0x23, 0x81, 0x31, 0xff, 0x48, 0x01, 0xc8, 0x48, 0x89, 0xc3, 0x48,
	0xd1, 0xe3, 0x9c, 0x41, 0x58, 0x4d, 0x01, 0xc1, 0x48, 0x89, 0x1c, 0xfe,
	0xc1, 0xeb, 0x07, 0x9c, 0x41, 0x58, 0x4d, 0x01, 0xc1, 0x48, 0x89, 0x5c,
	0xfe, 0x08, 0x66, 0xc1, 0xfb, 0x03, 0x9c, 0x41, 0x58, 0x4d, 0x01, 0xc1,
	0x48, 0x89, 0x5c, 0xfe, 0x10, 0xc0, 0xe3, 0x05, 0x9c, 0x41, 0x58, 0x4d,
	0x01, 0xc1, 0x48, 0x89, 0x5c, 0xfe, 0x18, 0x48, 0xd1, 0xfb, 0x9c, 0x41,
	0x58, 0x4d, 0x01, 0xc1, 0x48, 0x89, 0x5c, 0xfe, 0x20, 0xc0, 0xe4, 0x07,
	0x9c, 0x41, 0x58, 0x4d, 0x01, 0xc1, 0x48, 0x89, 0x44, 0xfe, 0x28, 0x48,
	0x89, 0xc2, 0x48, 0x0f, 0xaf, 0xd1, 0x9c, 0x41, 0x58, 0x4d, 0x01, 0xc1,
	0x48, 0x89, 0x54, 0xfe, 0x30, 0x69, 0xd1, 0xff, 0x7f, 0x00, 0x00, 0x9c,
	0x41, 0x58, 0x4d, 0x01, 0xc1, 0x48, 0x89, 0x54, 0xfe, 0x38, 0x66, 0x0f,
	0xaf, 0x56, 0x08, 0x9c, 0x41, 0x58, 0x4d, 0x01, 0xc1, 0xc1, 0xe8, 0x09,
	0x9c, 0x41, 0x58, 0x4d, 0x01, 0xc1, 0x9c, 0x41, 0x58, 0x4d, 0x01, 0xc1,
	0x48, 0xc1, 0xe2, 0x03, 0x48, 0xff, 0xca, 0x9c, 0x41, 0x58, 0x4d, 0x01,
	0xc1, 0x38, 0x14, 0x3e, 0xff, 0xc2, 0x9c, 0x41, 0x58, 0x4d, 0x01, 0xc1,
	0x83, 0xc7, 0x01, 0x83, 0xe7, 0x07, 0xff, 0xc9, 0x0f, 0x85, 0x43, 0xff,
	0xff, 0xff, 0xf4,
};

static void test_flags_of_shifts_imul(void **state)
{
	struct outcome a, b, c;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, shifts, sizeof(shifts), 0);
	run(&b, VMM_CFG_JIT_EAGER, shifts, sizeof(shifts), 0);
	run(&c, VMM_CFG_JIT, shifts, sizeof(shifts), 0);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	assert_true(b.compiled >= 2);
	same(&a, &b);
	same(&a, &c);
}

/*
 * A CMP with a memory operand feeds SETcc / Jcc through the host flags;
 * when its access takes the slow path (the first one: a TLB miss), the
 * flags the handler left are put back into the host's before the code
 * goes on:
 *
 *	mov ecx, 64; xor r9d, r9d
 * loop: mov eax, ecx; and eax, 3
 *	cmp [rsi + rcx * 2 + 1], al; setbe dl; movzx edx, dl; add r9, rdx
 *	mov [rsi + rcx + 64], al; sub eax, 2
 *	cmp [rsi + rcx + 64], al; jg skip; add r9, 100
 * skip: dec ecx; jnz loop; hlt
 */
static const uint8_t mem_cmp[] = {
	0xb9, 0x40, 0x00, 0x00, 0x00, 0x45, 0x31, 0xc9, 0x89, 0xc8, 0x83, 0xe0,
	0x03, 0x38, 0x44, 0x4e, 0x01, 0x0f, 0x96, 0xc2, 0x0f, 0xb6, 0xd2, 0x49,
	0x01, 0xd1, 0x88, 0x44, 0x0e, 0x40, 0x83, 0xe8, 0x02, 0x38, 0x44, 0x0e,
	0x40, 0x7f, 0x04, 0x49, 0x83, 0xc1, 0x64, 0xff, 0xc9, 0x75, 0xd9, 0xf4,
};

static void test_mem_cmp_slow_path(void **state)
{
	struct outcome a, b;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, mem_cmp, sizeof(mem_cmp), 0);
	run(&b, VMM_CFG_JIT_EAGER, mem_cmp, sizeof(mem_cmp), 0);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	assert_true(b.compiled >= 1);
	same(&a, &b);
}

/*
 * ADC and SBB: register, memory and immediate forms, sizes 1 (AH too), 2,
 * 4, 8, the carry in from pending flags (ADD), the host flags (a memory
 * CMP), RFLAGS (a shift), the block's lazy flags and a call; RFLAGS read
 * by PUSHFQ:
 *
 *	mov ecx, 300; mov rax, 0x8123456789abcdef; xor edi, edi
 * loop: add rax, rcx; ror rax, 7; mov rbx, rax; add rbx, rbx
 *	adc rdx, rax; pushfq; pop r8; add r9, r8
 *	sbb ebx, edx; pushfq; pop r8; add r9, r8
 *	cmp [rsi + rdi], bl; adc byte ptr [rsi + rdi + 32], 0x5d
 *	sbb dx, 7; pushfq; pop r8; add r9, r8
 *	shr rax, 3; adc r10, [rsi + rdi * 8]; sbb r10, rbx
 *	adc [rsi + rdi * 8 + 64], r10; adc r11, 0; sbb ah, bl
 *	pushfq; pop r8; add r9, r8
 *	add edi, 1; and edi, 15; dec ecx; jnz loop; hlt
 */
static const uint8_t adc_sbb[] = {
	0xb9, 0x2c, 0x01, 0x00, 0x00, 0x48, 0xb8, 0xef, 0xcd, 0xab, 0x89, 0x67,
	0x45, 0x23, 0x81, 0x31, 0xff, 0x48, 0x01, 0xc8, 0x48, 0xc1, 0xc8, 0x07,
	0x48, 0x89, 0xc3, 0x48, 0x01, 0xdb, 0x48, 0x11, 0xc2, 0x9c, 0x41, 0x58,
	0x4d, 0x01, 0xc1, 0x19, 0xd3, 0x9c, 0x41, 0x58, 0x4d, 0x01, 0xc1, 0x38,
	0x1c, 0x3e, 0x80, 0x54, 0x3e, 0x20, 0x5d, 0x66, 0x83, 0xda, 0x07, 0x9c,
	0x41, 0x58, 0x4d, 0x01, 0xc1, 0x48, 0xc1, 0xe8, 0x03, 0x4c, 0x13, 0x14,
	0xfe, 0x49, 0x19, 0xda, 0x4c, 0x11, 0x54, 0xfe, 0x40, 0x49, 0x83, 0xd3,
	0x00, 0x18, 0xdc, 0x9c, 0x41, 0x58, 0x4d, 0x01, 0xc1, 0x83, 0xc7, 0x01,
	0x83, 0xe7, 0x0f, 0xff, 0xc9, 0x75, 0xaa, 0xf4,
};

static void test_adc_sbb(void **state)
{
	struct outcome a, b, c;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, adc_sbb, sizeof(adc_sbb), 0);
	run(&b, VMM_CFG_JIT_EAGER, adc_sbb, sizeof(adc_sbb), 0);
	run(&c, VMM_CFG_JIT, adc_sbb, sizeof(adc_sbb), 0);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	assert_true(b.compiled >= 2);
	same(&a, &b);
	same(&a, &c);
}

/*
 * ROL/ROR with live flags: CF and OF as the interpreter computes them, the
 * other flags kept from pending flags (ADD, CMP), the host flags (a
 * memory CMP), RFLAGS (a shift) and the interpreter's (PUSHFQ's block
 * before); a count that is a multiple of the width (rol bl, 8):
 *
 *	mov ecx, 300; mov rax, 0x8123456789abcdef; xor edi, edi
 * loop: add rax, rcx; rol rax, 1; pushfq; pop r8; add r9, r8
 *	cmp eax, ecx; ror eax, 5; pushfq; pop r8; add r9, r8
 *	cmp [rsi + rdi], al; rol bx, 9; pushfq; pop r8; add r9, r8
 *	shl rdx, 2; ror ah, 3; pushfq; pop r8; add r9, r8
 *	rol bl, 8; mov [rsi + rdi * 8 + 64], rbx
 *	ror rax, 1; mov [rsi + rdi * 8 + 128], rax
 *	add edi, 1; and edi, 7; dec ecx; jnz loop; hlt
 */
static const uint8_t rotates[] = {
	0xb9, 0x2c, 0x01, 0x00, 0x00, 0x48, 0xb8, 0xef, 0xcd, 0xab, 0x89, 0x67,
	0x45, 0x23, 0x81, 0x31, 0xff, 0x48, 0x01, 0xc8, 0x48, 0xd1, 0xc0, 0x9c,
	0x41, 0x58, 0x4d, 0x01, 0xc1, 0x39, 0xc8, 0xc1, 0xc8, 0x05, 0x9c, 0x41,
	0x58, 0x4d, 0x01, 0xc1, 0x38, 0x04, 0x3e, 0x66, 0xc1, 0xc3, 0x09, 0x9c,
	0x41, 0x58, 0x4d, 0x01, 0xc1, 0x48, 0xc1, 0xe2, 0x02, 0xc0, 0xcc, 0x03,
	0x9c, 0x41, 0x58, 0x4d, 0x01, 0xc1, 0xc0, 0xc3, 0x08, 0x48, 0x89, 0x5c,
	0xfe, 0x40, 0x48, 0xd1, 0xc8, 0x48, 0x89, 0x84, 0xfe, 0x80, 0x00, 0x00,
	0x00, 0x83, 0xc7, 0x01, 0x83, 0xe7, 0x07, 0xff, 0xc9, 0x75, 0xb2, 0xf4,
};

static void test_rotates_live(void **state)
{
	struct outcome a, b, c;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, rotates, sizeof(rotates), 0);
	run(&b, VMM_CFG_JIT_EAGER, rotates, sizeof(rotates), 0);
	run(&c, VMM_CFG_JIT, rotates, sizeof(rotates), 0);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	assert_true(b.compiled >= 2);
	same(&a, &b);
	same(&a, &c);
}

/* deterministic mode keeps the interpreter (exact instruction counts
 * without the JIT counting); VMM_CFG_NO_JIT too */
/* run @code in 32-bit @mode at @cpl with @flags, RDX = @rdx, RSI = @rsi;
 * @ds / @cs_limit (when not NULL / 0) replace DS and CS's limit */
static void run32(struct outcome *o, uint32_t flags, enum env_mode mode,
		  unsigned cpl, const void *code, size_t len, uint64_t rdx,
		  uint64_t rsi, const struct vmm_segment *ds,
		  uint32_t cs_limit)
{
	struct tvm t;
	struct vmm_vcpu_stats s;

	tvm_create(&t, flags);
	tvm_setup(&t, mode, cpl, code, len);
	t.st.gpr[VMM_RDX] = rdx;
	t.st.gpr[VMM_RSI] = rsi;
	/* EBX = -64: [esi+ebx+d] wraps at 4 GiB (upper half not zero:
	 * 32-bit addresses ignore it) */
	t.st.gpr[VMM_RBX] = 0x12345678ffffffc0ull;
	if (ds)
		t.st.seg[VMM_DS] = *ds;
	if (cs_limit)
		t.st.seg[VMM_CS].limit = cs_limit;
	tvm_set(&t);
	o->e = tvm_run(&t);
	o->st = t.st;
	s = stats(t.cpu);
	o->insns = s.insns_retired;
	o->compiled = s.blocks_compiled;
	o->fallbacks = s.jit_fallbacks;
	assert_int_equal(vmm_mem_read(t.vm, ENV_DATA, o->data,
				      sizeof(o->data)), 0);
	assert_int_equal(vmm_mem_read(t.vm, ENV_KSTACK - sizeof(o->kstack),
				      o->kstack, sizeof(o->kstack)), 0);
	tvm_destroy(&t);
}

/* a 32-bit loop whose loads and stores wrap at 4 GiB ([esi+ebx+d], EBX =
 * -64), PUSH/POP and the one-byte INC/DEC of 32-bit code, with a Jcc
 * back to its start; the ES load puts ESI's page (as a
 * linear address) in the TLB, so a DS access that forgot DS's base would
 * hit there */
static const uint8_t loop32[] = {
	0xb9, 0x64, 0x00, 0x00, 0x00,             /* mov ecx, 100 */
	0x31, 0xff,                               /* xor edi, edi */
	/* loop: */
	0x26, 0x8b, 0x16,                         /* mov edx, es:[esi] */
	0x8b, 0x44, 0x1e, 0x7c,                   /* mov eax, [esi+ebx+0x7c] */
	0x01, 0x04, 0xbe,                         /* add [esi+edi*4], eax */
	0x01, 0xc8,                               /* add eax, ecx */
	0x89, 0x44, 0x1e, 0x7c,                   /* mov [esi+ebx+0x7c], eax */
	0x66, 0x01, 0x44, 0x1e, 0x50,             /* add [esi+ebx+0x50], ax */
	0x50,                                     /* push eax */
	0x47,                                     /* inc edi (40-4F form) */
	0x5a,                                     /* pop edx */
	0x83, 0xe7, 0x0f,                         /* and edi, 15 */
	0x49,                                     /* dec ecx */
	0x75, 0xe2,                               /* jnz loop */
	0xf4,                                     /* hlt */
};

/*
 * 32-bit code is compiled (protected mode without paging, compatibility
 * mode with paging, CPL0 and CPL3) and leaves what the interpreter
 * leaves; the addresses wrap at 4 GiB (the load and store at ESI + EBX +
 * 0x7c are at ENV_DATA + 0x3c).
 */
static void test_32bit(void **state)
{
	static const enum env_mode modes[2] = { ENV_PROT32, ENV_COMPAT32 };
	struct outcome a, b;
	uint32_t v;

	skip_without_jit();
	assert_int_equal((int8_t)loop32[sizeof(loop32) - 2],
			 7 - (int)(sizeof(loop32) - 1));
	for (unsigned m = 0; m < 2; m++) {
		for (unsigned cpl = 0; cpl <= 3; cpl += 3) {
			run32(&a, VMM_CFG_NO_JIT, modes[m], cpl, loop32,
			      sizeof(loop32), 0, ENV_DATA, NULL, 0);
			run32(&b, VMM_CFG_JIT_EAGER, modes[m], cpl, loop32,
			      sizeof(loop32), 0, ENV_DATA, NULL, 0);
			/* CPL3: the HLT faults (#GP: a shutdown without
			 * an IDT, the handler's HLT in compatibility mode) */
			if (cpl == 0)
				assert_int_equal(a.e.kind, VMM_EXIT_HLT);
			assert_int_equal(a.compiled, 0);
			assert_true(b.compiled >= 2);
			same(&a, &b);
			memcpy(&v, b.data + 0x3c, 4);
			assert_int_equal(v, (uint32_t)b.st.gpr[VMM_RAX]);
			assert_int_not_equal(v, 0);
		}
	}
}

/*
 * Segments: a flat DS with a base (limit 4 GiB) takes the inline path,
 * the base added; a DS with a limit (not flat) sends every access to the
 * interpreter, which checks it; both land where the interpreter's do.  A
 * CS with a limit below 4 GiB is not compiled at all.
 */
static void test_32bit_segments(void **state)
{
	struct outcome a, b;
	struct vmm_segment ds;
	uint32_t v;

	skip_without_jit();
	memset(&ds, 0, sizeof(ds));
	ds.selector = 0x10;
	ds.base = 0x1000;
	ds.limit = 0xffffffffu;
	ds.type = 3;
	ds.s = 1;
	ds.present = 1;
	ds.db = 1;
	ds.g = 1;
	for (unsigned k = 0; k < 2; k++) {
		if (k == 1)
			ds.limit = 0xfffffu; /* not flat */
		run32(&a, VMM_CFG_NO_JIT, ENV_PROT32, 0, loop32,
		      sizeof(loop32), 0, ENV_DATA - 0x1000, &ds, 0);
		run32(&b, VMM_CFG_JIT_EAGER, ENV_PROT32, 0, loop32,
		      sizeof(loop32), 0, ENV_DATA - 0x1000, &ds, 0);
		assert_int_equal(a.e.kind, VMM_EXIT_HLT);
		assert_true(b.compiled >= 2);
		same(&a, &b);
		memcpy(&v, b.data + 0x3c, 4);
		assert_int_equal(v, (uint32_t)b.st.gpr[VMM_RAX]);
		assert_int_not_equal(v, 0);
	}
	run32(&a, VMM_CFG_NO_JIT, ENV_PROT32, 0, loop32, sizeof(loop32), 0,
	      ENV_DATA, NULL, 0xfffff);
	run32(&b, VMM_CFG_JIT_EAGER, ENV_PROT32, 0, loop32, sizeof(loop32), 0,
	      ENV_DATA, NULL, 0xfffff);
	assert_int_equal(b.compiled, 0);
	same(&a, &b);
}

/* a #PF in the middle of a compiled 32-bit block (compatibility mode,
 * CPL3): the frame has the faulting instruction's EIP, the flags of the
 * ADD before it, and the INC after it did not run */
static void test_32bit_precise_fault(void **state)
{
	struct outcome a, b;
	uint64_t frame_rip, frame_fl;

	skip_without_jit();
	run32(&a, VMM_CFG_NO_JIT, ENV_COMPAT32, 3, fault_mid,
	      sizeof(fault_mid), 0x40000000, ENV_DATA, NULL, 0);
	run32(&b, VMM_CFG_JIT_EAGER, ENV_COMPAT32, 3, fault_mid,
	      sizeof(fault_mid), 0x40000000, ENV_DATA, NULL, 0);
	assert_true(b.compiled >= 1);
	same(&a, &b);
	assert_int_equal(b.st.rip, ENV_HANDLERS + 16 * 14 + 1);
	memcpy(&frame_rip, b.kstack + sizeof(b.kstack) - 40, 8);
	memcpy(&frame_fl, b.kstack + sizeof(b.kstack) - 24, 8);
	assert_int_equal(frame_rip, ENV_CODE + 12);
	assert_int_equal(b.st.gpr[VMM_RAX], 12);
	assert_int_equal(b.st.gpr[VMM_RCX], 7);
	assert_int_equal(frame_fl & 0x8d5, 0x04 | ((5 ^ 7 ^ 12) & 0x10));
	assert_int_equal(b.st.cr2, 0x40000000);
}

/* shifts by CL: a count of 0 (0x40 masked) leaves CF of the CMP for the
 * SETC, a count of 1 writes CF for the next SETC (neither translated:
 * the flags are live), dead-flags shifts by 3 (translated) give the
 * interpreter's results */
static const uint8_t shift_cl[] = {
	0xb9, 0x40, 0x00, 0x00, 0x00, /* mov ecx, 0x40 */
	0xb8, 0x01, 0x00, 0x00, 0x00, /* mov eax, 1 */
	0x83, 0xf8, 0x02,             /* cmp eax, 2 (CF) */
	0x48, 0xd3, 0xe0,             /* shl rax, cl (count 0) */
	0x0f, 0x92, 0xc2,             /* setc dl */
	0xb1, 0x41,                   /* mov cl, 0x41 */
	0x48, 0xd3, 0xe0,             /* shl rax, cl (count 1: CF 0) */
	0x0f, 0x92, 0xc6,             /* setc dh */
	0xb1, 0x03,                   /* mov cl, 3 */
	0xd3, 0xe0,                   /* shl eax, cl */
	0x48, 0xd3, 0xfb,             /* sar rbx, cl */
	0x83, 0xc0, 0x01,             /* add eax, 1 */
	0xf4,                         /* hlt */
};

static void test_shift_cl(void **state)
{
	struct outcome a, b;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, shift_cl, sizeof(shift_cl), 0);
	run(&b, VMM_CFG_JIT_EAGER, shift_cl, sizeof(shift_cl), 0);
	assert_true(b.compiled >= 1);
	same(&a, &b);
	assert_int_equal(b.st.gpr[VMM_RDX] & 0xffff, 1);
	assert_int_equal(b.st.gpr[VMM_RAX], 17);
	assert_int_equal(b.st.gpr[VMM_RBX], 0x123456789abcdef0ull >> 3);
}

/*
 * Self-loops (the block branches to its own start, all translated): the
 * iteration count lives in a host register and the back-edge writes
 * nothing back; the flags stay pending across it when the loop's top
 * does not read them.  The first loop (flags dead at its top) runs
 * 100,000 iterations, leaving to the executor every SOFT_JIT_LOOP_INSNS
 * instructions; the CF of its SHL reaches PUSHFQ through the DEC after it
 * (the host CF, the DEC's pending flags); the second one reads CF at its
 * top (ADC), carried across the back-edge through INC/DEC:
 *
 *	mov ecx, 100000
 * 1:	add rax, rdx; xor rdx, rax; shl rdx, 3; dec rcx; jnz 1b
 *	pushfq; pop r8; mov ecx, 50000
 * 2:	adc rax, rdx; inc rdx; shr rdx, 1; sub edi, 3; shl edi, 2
 *	dec ecx; jnz 2b
 *	pushfq; pop r9; hlt
 */
static const uint8_t self_loops[] = {
	0xb9, 0xa0, 0x86, 0x01, 0x00, 0x48, 0x01, 0xd0, 0x48, 0x31, 0xc2, 0x48,
	0xc1, 0xe2, 0x03, 0x48, 0xff, 0xc9, 0x75, 0xf1, 0x9c, 0x41, 0x58, 0xb9,
	0x50, 0xc3, 0x00, 0x00, 0x48, 0x11, 0xd0, 0x48, 0xff, 0xc2, 0x48, 0xd1,
	0xea, 0x83, 0xef, 0x03, 0xc1, 0xe7, 0x02, 0xff, 0xc9, 0x75, 0xed, 0x9c,
	0x41, 0x59, 0xf4,
};

static void test_self_loop(void **state)
{
	struct outcome a, b, c;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, self_loops, sizeof(self_loops), 0x9abcdef);
	run(&b, VMM_CFG_JIT_EAGER, self_loops, sizeof(self_loops), 0x9abcdef);
	run(&c, VMM_CFG_JIT, self_loops, sizeof(self_loops), 0x9abcdef);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	assert_int_equal(a.insns, 1 + 5 * 100000 + 3 + 7 * 50000 + 3);
	assert_true(b.compiled >= 2);
	assert_true(c.compiled >= 2);
	same(&a, &b);
	same(&a, &c);
}

/*
 * A fault in a later iteration of a self-loop: the load walks down a page
 * per iteration (a TLB miss each time: the slow path takes the
 * iterations counted in the register into the state and out again)
 * until RSI leaves the canonical low half's mapping (#PF at 0xff..f000 in
 * the 34th iteration); the frame has the load's RIP and the flags of the
 * previous iteration's DEC with the CF of its SHL:
 *
 *	mov ecx, 1000; mov ebx, 0x12345
 * 1:	add rax, [rsi]; sub rsi, 4096; shl rbx, 1; dec rcx; jnz 1b; hlt
 */
static const uint8_t loop_fault[] = {
	0xb9, 0xe8, 0x03, 0x00, 0x00, 0xbb, 0x45, 0x23, 0x01, 0x00, 0x48, 0x03,
	0x06, 0x48, 0x81, 0xee, 0x00, 0x10, 0x00, 0x00, 0x48, 0xd1, 0xe3, 0x48,
	0xff, 0xc9, 0x75, 0xee, 0xf4,
};

static void test_self_loop_fault(void **state)
{
	struct outcome a, b, c;
	uint64_t frame_rip;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, loop_fault, sizeof(loop_fault), 0);
	run(&b, VMM_CFG_JIT_EAGER, loop_fault, sizeof(loop_fault), 0);
	run(&c, VMM_CFG_JIT, loop_fault, sizeof(loop_fault), 0);
	assert_true(b.compiled >= 1);
	same(&a, &b);
	same(&a, &c);
	memcpy(&frame_rip, b.kstack + sizeof(b.kstack) - 40, 8);
	assert_int_equal(frame_rip, ENV_CODE + 10);
	assert_int_equal(b.st.cr2, 0xfffffffffffff000ull);
	assert_int_equal(b.st.gpr[VMM_RCX], 1000 - 33);
}

/*
 * A self-loop whose flags are live at its top only through the possible
 * faults of the loads before its first flag writer: the back-edge leaves
 * the previous iteration's flags (DEC's, with SHL's CF) pending, and the
 * loads' slow paths store them.  Both loads miss the TLB in every
 * iteration (a page further down each time), so the second one's slow
 * path comes after the first one's call; it faults (#PF at 0xff..f000)
 * in the 32nd iteration, with those flags in the frame (PF = 0: not
 * those of the XOR before the loop, nor those of the SHL, which go to
 * RFLAGS at once):
 *
 *	mov ecx, 1002; mov ebx, 0x12345; xor eax, eax
 * 1:	mov rax, [rsi]; mov rdx, [rsi - 8192]; add rax, rdx
 *	sub rsi, 4096; shl rbx, 1; dec rcx; jnz 1b; hlt
 */
static const uint8_t loop_fault_top[] = {
	0xb9, 0xea, 0x03, 0x00, 0x00, 0xbb, 0x45, 0x23, 0x01, 0x00, 0x31, 0xc0,
	0x48, 0x8b,
	0x06, 0x48, 0x8b, 0x96, 0x00, 0xe0, 0xff, 0xff, 0x48, 0x01, 0xd0, 0x48,
	0x81, 0xee, 0x00, 0x10, 0x00, 0x00, 0x48, 0xd1, 0xe3, 0x48, 0xff, 0xc9,
	0x75, 0xe4, 0xf4,
};

static void test_self_loop_fault_top(void **state)
{
	struct outcome a, b, c;
	uint64_t frame_rip;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, loop_fault_top, sizeof(loop_fault_top), 0);
	run(&b, VMM_CFG_JIT_EAGER, loop_fault_top, sizeof(loop_fault_top),
	    0);
	run(&c, VMM_CFG_JIT, loop_fault_top, sizeof(loop_fault_top), 0);
	assert_true(b.compiled >= 1);
	same(&a, &b);
	same(&a, &c);
	memcpy(&frame_rip, b.kstack + sizeof(b.kstack) - 40, 8);
	assert_int_equal(frame_rip, ENV_CODE + 15);
	assert_int_equal(b.st.cr2, 0xfffffffffffff000ull);
	assert_int_equal(b.st.gpr[VMM_RCX], 1002 - 31);
}

/*
 * A shift whose flags only the possible fault of a later memory ALU op can
 * see: they stay pending and that op's slow path computes them.  Here it
 * faults (#PF): the frame has the SHL's flags (CF = OF = 1, ZF = PF = 0),
 * not the XOR's before it:
 *
 *	mov ebx, 0x80000001; xor eax, eax; shl ebx, 1; mov ecx, ebx
 *	add eax, [rsi - 0x30000]; hlt
 */
static const uint8_t shift_fault[] = {
	0xbb, 0x01, 0x00, 0x00, 0x80, 0x31, 0xc0, 0xc1, 0xe3, 0x01, 0x89,
	0xd9, 0x03, 0x86, 0x00, 0x00, 0xfd, 0xff, 0xf4,
};

static void test_shift_flags_fault(void **state)
{
	struct outcome a, b;
	uint64_t frame_rip, frame_fl;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, shift_fault, sizeof(shift_fault), 0);
	run(&b, VMM_CFG_JIT_EAGER, shift_fault, sizeof(shift_fault), 0);
	assert_true(b.compiled >= 1);
	same(&a, &b);
	memcpy(&frame_rip, b.kstack + sizeof(b.kstack) - 40, 8);
	memcpy(&frame_fl, b.kstack + sizeof(b.kstack) - 24, 8);
	assert_int_equal(frame_rip, ENV_CODE + 12);
	assert_int_equal(frame_fl & 0x8d5, 0x801);
	assert_int_equal(b.st.gpr[VMM_RCX], 2);
}

/*
 * A self-loop rewriting its own code: the store (a slow path: the page
 * holds code) invalidates the running block, which leaves; the next
 * iteration runs the new code:
 *
 *	mov ecx, 10
 * 1:	mov al, 0x11; mov byte [rip - 8], 0x22 (the 0x11); dec ecx; jnz 1b
 *	hlt
 */
static void test_self_loop_smc(void **state)
{
	static const uint8_t smc[] = {
		0xb9, 0x0a, 0x00, 0x00, 0x00, 0xb0, 0x11, 0xc6, 0x05, 0xf8,
		0xff, 0xff, 0xff, 0x22, 0xff, 0xc9, 0x75, 0xf3, 0xf4,
	};
	struct outcome a, b;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, smc, sizeof(smc), 0);
	run(&b, VMM_CFG_JIT_EAGER, smc, sizeof(smc), 0);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	assert_int_equal(a.st.gpr[VMM_RAX] & 0xff, 0x22);
	assert_int_equal(a.st.gpr[VMM_RCX], 0);
	assert_true(b.compiled >= 2);
	same(&a, &b);
}

/*
 * A loop of two blocks compiled as one piece (the first block's Jcc out
 * a side exit, the second block falling through to it), each with an
 * instruction the interpreter runs (RDTSC first, PAUSE after the side
 * exit): a timed wait that leaves only through the JB, once RDX (the
 * time waited) is above R8 = 50 ms, counting its iterations in R9:
 *
 *	rdtsc; shl rdx, 32; mov eax, eax; or rdx, rax; mov rcx, rdx
 *	mov r8, 50000000; xor r9d, r9d
 * 1:	rdtsc; shl rdx, 32; mov eax, eax; or rdx, rax; sub rdx, rcx
 *	inc r9; cmp r8, rdx; jb 2f
 *	pause; mov eax, [rsi]; test eax, eax; je 1b
 * 2:	hlt
 */
static const uint8_t region_wait[] = {
	0x0f, 0x31, 0x48, 0xc1, 0xe2, 0x20, 0x89, 0xc0, 0x48, 0x09, 0xc2, 0x48,
	0x89, 0xd1, 0x49, 0xc7, 0xc0, 0x80, 0xf0, 0xfa, 0x02, 0x45, 0x31, 0xc9,
	0x0f, 0x31, 0x48, 0xc1, 0xe2, 0x20, 0x89, 0xc0, 0x48, 0x09, 0xc2, 0x48,
	0x29, 0xca, 0x49, 0xff, 0xc1, 0x49, 0x39, 0xd0, 0x72, 0x08, 0xf3, 0x90,
	0x8b, 0x06, 0x85, 0xc0, 0x74, 0xe2, 0xf4,
};

static void test_region_interp_calls(void **state)
{
	struct outcome a;

	skip_without_jit();
	run(&a, VMM_CFG_JIT, region_wait, sizeof(region_wait), 0);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	assert_true(a.st.gpr[VMM_RDX] > 50000000);
	assert_true(a.st.gpr[VMM_R9] > 2 * SOFT_JIT_HOT_TEST);
	assert_true(a.compiled >= 1);
	assert_int_equal(a.insns, 8 + 12 * a.st.gpr[VMM_R9] - 4);
}

/*
 * A self-loop of two blocks with a side exit (a load, a compare and a JE
 * out of the body, then the rest of the body back to the top: compiled
 * as one self-loop, jit.c region()); the side exit is taken every 256th
 * iteration into a block that branches back.  Same state as the
 * interpreter at the end and when stopped by instruction limits inside
 * it (the side exit's count of the iterations in the register):
 *
 *	xor eax, eax
 * 0:	mov [rsi+rax], al; inc eax; cmp eax, 256; jne 0b
 *	mov ecx, 20000; xor eax, eax; xor edx, edx; xor r9d, r9d
 * 1:	movzx r8d, byte [rsi+rax]; cmp r8b, 0x7f; je 3f
 *	add rdx, r8; inc eax; and eax, 255; dec ecx; jnz 1b
 *	jmp 4f
 * 3:	inc r9; inc eax; and eax, 255; dec ecx; jnz 1b
 * 4:	pushfq; pop r10; hlt
 */
static const uint8_t region_loop[] = {
	0x31, 0xc0, 0x88, 0x04, 0x06, 0xff, 0xc0, 0x3d, 0x00, 0x01, 0x00, 0x00,
	0x75, 0xf4, 0xb9, 0x20, 0x4e, 0x00, 0x00, 0x31, 0xc0, 0x31, 0xd2, 0x45,
	0x31, 0xc9, 0x44, 0x0f, 0xb6, 0x04, 0x06, 0x41, 0x80, 0xf8, 0x7f, 0x74,
	0x10, 0x4c, 0x01, 0xc2, 0xff, 0xc0, 0x25, 0xff, 0x00, 0x00, 0x00, 0xff,
	0xc9, 0x75, 0xe7, 0xeb, 0x0e, 0x49, 0xff, 0xc1, 0xff, 0xc0, 0x25, 0xff,
	0x00, 0x00, 0x00, 0xff, 0xc9, 0x75, 0xd7, 0x9c, 0x41, 0x5a, 0xf4,
};

/* run() stopped by an instruction limit of @limit */
static void run_limit(struct outcome *o, uint32_t flags, const void *code,
		      size_t len, uint64_t limit)
{
	struct tvm t;
	struct vmm_vcpu_stats s;

	tvm_create(&t, flags);
	tvm_setup(&t, ENV_LONG64, 3, code, len);
	t.st.gpr[VMM_RSI] = ENV_DATA;
	tvm_set(&t);
	assert_int_equal(vmm_vcpu_set_insn_limit(t.cpu, limit), 0);
	o->e = tvm_run(&t);
	o->st = t.st;
	s = stats(t.cpu);
	o->insns = s.insns_retired;
	o->compiled = s.blocks_compiled;
	o->fallbacks = s.jit_fallbacks;
	assert_int_equal(vmm_mem_read(t.vm, ENV_DATA, o->data,
				      sizeof(o->data)), 0);
	assert_int_equal(vmm_mem_read(t.vm, ENV_KSTACK - sizeof(o->kstack),
				      o->kstack, sizeof(o->kstack)), 0);
	tvm_destroy(&t);
}

static void test_region_self_loop(void **state)
{
	static const uint64_t limits[] = { 1200, 1333, 4097, 50001, 77777,
					   160000 };
	struct outcome a, b, c;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, region_loop, sizeof(region_loop), 0);
	run(&b, VMM_CFG_JIT, region_loop, sizeof(region_loop), 0);
	run(&c, VMM_CFG_JIT_EAGER, region_loop, sizeof(region_loop), 0);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	assert_int_equal(a.st.gpr[VMM_R9], 20000 / 256);
	assert_int_equal(a.insns, 1 + 4 * 256 + 4 + 8 * 20000 + 4);
	assert_true(b.compiled >= 2);
	assert_int_equal(b.fallbacks, 0);
	same(&a, &b);
	same(&a, &c);
	for (unsigned k = 0; k < sizeof(limits) / sizeof(limits[0]); k++) {
		run_limit(&a, VMM_CFG_NO_JIT, region_loop, sizeof(region_loop),
			  limits[k]);
		run_limit(&b, VMM_CFG_JIT, region_loop, sizeof(region_loop),
			  limits[k]);
		assert_int_equal(a.e.kind, VMM_EXIT_INSN_LIMIT);
		assert_int_equal(a.insns, limits[k]);
		same(&a, &b);
	}
}

/*
 * MUL/IMUL/DIV/IDIV (register and memory operands, all sizes), PUSH r/m,
 * rotates and shifts by CL with live flags (read by PUSHFQ and ADC), in a
 * loop (GNU as, Intel syntax):
 *   mov ecx, 100
 *   xor edi, edi
 * 1:
 *   mov [rsi], rbx
 *   mov rax, rbx
 *   mul qword ptr [rsi]
 *   add [rsi+8], rax
 *   add [rsi+16], rdx
 *   pushfq
 *   pop r11
 *   add [rsi+24], r11
 *   mov eax, ebx
 *   imul byte ptr [rsi+3]
 *   add [rsi+32], ax
 *   mov eax, ecx
 *   mul ebx
 *   imul dx
 *   mov r8, rcx
 *   or r8, 3
 *   mov rax, rbx
 *   xor edx, edx
 *   div r8
 *   add [rsi+40], rdx
 *   mov rax, rbx
 *   cqo
 *   idiv r8
 *   add [rsi+48], rax
 *   mov eax, ebx
 *   cdq
 *   idiv r8d
 *   mov ax, bx
 *   cwd
 *   idiv r8w
 *   movsx ax, bl
 *   idiv r8b
 *   movzx eax, bl
 *   div r8b
 *   add [rsi+56], rax
 *   mov r9, rbx
 *   ror r9, cl
 *   pushfq
 *   pop r11
 *   add [rsi+64], r11
 *   rol r9d, cl
 *   pushfq
 *   pop r11
 *   add [rsi+72], r11
 *   shr r9, cl
 *   adc [rsi+80], r9
 *   sar r9d, cl
 *   pushfq
 *   pop r11
 *   add [rsi+88], r11
 *   push qword ptr [rsi+8]
 *   pop r10
 *   add [rsi+96], r10
 *   push r9
 *   push qword ptr [rsp]
 *   pop r10
 *   pop r10
 *   imul rbx, rbx, 0x1f3
 *   add rbx, rcx
 *   dec ecx
 *   jnz 1b
 *   hlt
 */
static const uint8_t muldiv[] = {
	0xb9, 0x64, 0x00, 0x00, 0x00, 0x31, 0xff, 0x48, 0x89, 0x1e, 0x48, 0x89,
	0xd8, 0x48, 0xf7, 0x26, 0x48, 0x01, 0x46, 0x08, 0x48, 0x01, 0x56, 0x10,
	0x9c, 0x41, 0x5b, 0x4c, 0x01, 0x5e, 0x18, 0x89, 0xd8, 0xf6, 0x6e, 0x03,
	0x66, 0x01, 0x46, 0x20, 0x89, 0xc8, 0xf7, 0xe3, 0x66, 0xf7, 0xea, 0x49,
	0x89, 0xc8, 0x49, 0x83, 0xc8, 0x03, 0x48, 0x89, 0xd8, 0x31, 0xd2, 0x49,
	0xf7, 0xf0, 0x48, 0x01, 0x56, 0x28, 0x48, 0x89, 0xd8, 0x48, 0x99, 0x49,
	0xf7, 0xf8, 0x48, 0x01, 0x46, 0x30, 0x89, 0xd8, 0x99, 0x41, 0xf7, 0xf8,
	0x66, 0x89, 0xd8, 0x66, 0x99, 0x66, 0x41, 0xf7, 0xf8, 0x66, 0x0f, 0xbe,
	0xc3, 0x41, 0xf6, 0xf8, 0x0f, 0xb6, 0xc3, 0x41, 0xf6, 0xf0, 0x48, 0x01,
	0x46, 0x38, 0x49, 0x89, 0xd9, 0x49, 0xd3, 0xc9, 0x9c, 0x41, 0x5b, 0x4c,
	0x01, 0x5e, 0x40, 0x41, 0xd3, 0xc1, 0x9c, 0x41, 0x5b, 0x4c, 0x01, 0x5e,
	0x48, 0x49, 0xd3, 0xe9, 0x4c, 0x11, 0x4e, 0x50, 0x41, 0xd3, 0xf9, 0x9c,
	0x41, 0x5b, 0x4c, 0x01, 0x5e, 0x58, 0xff, 0x76, 0x08, 0x41, 0x5a, 0x4c,
	0x01, 0x56, 0x60, 0x41, 0x51, 0xff, 0x34, 0x24, 0x41, 0x5a, 0x41, 0x5a,
	0x48, 0x69, 0xdb, 0xf3, 0x01, 0x00, 0x00, 0x48, 0x01, 0xcb, 0xff, 0xc9,
	0x0f, 0x85, 0x4d, 0xff, 0xff, 0xff, 0xf4,
};

/* a #DE in a compiled block: DIV by zero after an ADD (frame RIP = the
 * DIV, the flags of the XOR before it, the INC not run), and IDIV of
 * INT32_MIN by -1 (the quotient does not fit) */
static const uint8_t div0[] = {
	0xb8, 0x07, 0x00, 0x00, 0x00, /* mov eax, 7 */
	0x83, 0xc0, 0x01,             /* add eax, 1 */
	0x31, 0xd2,                   /* xor edx, edx */
	0x31, 0xc9,                   /* xor ecx, ecx */
	0xf7, 0xf1,                   /* div ecx */
	0xff, 0xc0,                   /* inc eax */
	0xf4,                         /* hlt */
};
static const uint8_t idiv_ovf[] = {
	0xb8, 0x00, 0x00, 0x00, 0x80, /* mov eax, 0x80000000 */
	0x99,                         /* cdq */
	0x83, 0xc9, 0xff,             /* or ecx, -1 */
	0x29, 0xd6,                   /* sub esi, edx */
	0xf7, 0xf9,                   /* idiv ecx */
	0xff, 0xc0,                   /* inc eax */
	0xf4,                         /* hlt */
};

static void test_muldiv_shift_cl_live(void **state)
{
	struct outcome a, b;
	uint64_t frame_rip, frame_fl;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, muldiv, sizeof(muldiv), 0);
	run(&b, VMM_CFG_JIT_EAGER, muldiv, sizeof(muldiv), 0);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	assert_true(b.compiled >= 2);
	same(&a, &b);
	/* translated: only the four PUSHFQ of each of the 100 iterations
	 * and the block ends at the HLT run through the interpreter (was
	 * 1,800 before these forms were translated) */
	assert_int_equal(a.fallbacks, 0);
	assert_true(b.fallbacks <= 4 * 100 + 2);
	for (unsigned k = 0; k < 2; k++) {
		const uint8_t *code = k ? idiv_ovf : div0;
		size_t len = k ? sizeof(idiv_ovf) : sizeof(div0);
		run(&a, VMM_CFG_NO_JIT, code, len, 0);
		run(&b, VMM_CFG_JIT_EAGER, code, len, 0);
		assert_true(b.compiled >= 1);
		same(&a, &b);
		/* the #DE handler's HLT; the frame as the #PF's (the
		 * handler stub pushes a 0 error code) */
		assert_int_equal(b.st.rip, ENV_HANDLERS + 1);
		memcpy(&frame_rip, b.kstack + sizeof(b.kstack) - 40, 8);
		memcpy(&frame_fl, b.kstack + sizeof(b.kstack) - 24, 8);
		assert_int_equal(frame_rip, ENV_CODE + (k ? 11 : 12));
		assert_int_equal(b.st.gpr[VMM_RAX], k ? 0x80000000u : 8);
		/* XOR: ZF PF; SUB esi, -1... (k = 1): CF (borrow) */
		assert_int_equal(frame_fl & 0x8c5, k ? 0x01 | (frame_fl & 0x84)
						     : 0x44);
	}
}

/*
 * 32-bit code's CALL rel32, CALL reg, CALL [mem], RET, JMP [mem], JMP
 * reg and PUSH [mem], translated (protected mode and compatibility mode,
 * CPL0):
 *   mov ecx, 50
 * 1:
 *   call f
 *   call 2f
 * 2:  pop eax
 *   add eax, g - 2b
 *   call eax
 *   mov [esi+8], eax
 *   call dword ptr [esi+8]
 *   mov [esi+12], ecx
 *   push dword ptr [esi+12]
 *   pop edx
 *   add [esi+20], edx
 *   lea edx, [eax + 3f - g]
 *   mov [esi+16], edx
 *   jmp dword ptr [esi+16]
 *   ud2
 * 3:  lea edx, [eax + 4f - g]
 *   jmp edx
 *   ud2
 * 4:  mov edx, ecx
 *   shl edx, cl
 *   add [esi+24], edx
 *   dec ecx
 *   jnz 1b
 *   hlt
 * f:  add dword ptr [esi], 1
 *   ret
 * g:  add dword ptr [esi+4], 3
 *   ret
 */
static const uint8_t calls32[] = {
	0xb9, 0x32, 0x00, 0x00, 0x00, 0xe8, 0x40, 0x00, 0x00, 0x00, 0xe8, 0x00,
	0x00, 0x00, 0x00, 0x58, 0x05, 0x3f, 0x00, 0x00, 0x00, 0xff, 0xd0, 0x89,
	0x46, 0x08, 0xff, 0x56, 0x08, 0x89, 0x4e, 0x0c, 0xff, 0x76, 0x0c, 0x5a,
	0x01, 0x56, 0x14, 0x8d, 0x90, 0xe7, 0xff, 0xff, 0xff, 0x89, 0x56, 0x10,
	0xff, 0x66, 0x10, 0x0f, 0x0b, 0x8d, 0x90, 0xf1, 0xff, 0xff, 0xff, 0xff,
	0xe2, 0x0f, 0x0b, 0x89, 0xca, 0xd3, 0xe2, 0x01, 0x56, 0x18, 0x49, 0x75,
	0xbc, 0xf4, 0x83, 0x06, 0x01, 0xc3, 0x83, 0x46, 0x04, 0x03, 0xc3,
};

static void test_32bit_branches(void **state)
{
	static const enum env_mode modes[2] = { ENV_PROT32, ENV_COMPAT32 };
	struct outcome a, b;
	uint32_t v;

	skip_without_jit();
	for (unsigned m = 0; m < 2; m++) {
		run32(&a, VMM_CFG_NO_JIT, modes[m], 0, calls32,
		      sizeof(calls32), 0, ENV_DATA, NULL, 0);
		run32(&b, VMM_CFG_JIT_EAGER, modes[m], 0, calls32,
		      sizeof(calls32), 0, ENV_DATA, NULL, 0);
		assert_int_equal(a.e.kind, VMM_EXIT_HLT);
		assert_true(b.compiled >= 5);
		same(&a, &b);
		memcpy(&v, b.data, 4);
		assert_int_equal(v, 50);
		memcpy(&v, b.data + 4, 4);
		assert_int_equal(v, 50 * 2 * 3);
		/* the blocks ending at the HLT alone run through the
		 * interpreter (was 300: 6 branches x 50) */
		assert_true(b.fallbacks <= 2);
	}
}

/*
 * SETcc, CMOVcc and Jcc whose flags were set in another block (a CMP two
 * blocks back, an INC keeping its CF in between): translated, they ask
 * soft_cond() for the condition:
 *   mov ecx, 100
 * 1:  mov rax, rcx
 *   and eax, 7
 *   cmp eax, 3
 *   jmp 2f
 * 2:  setb dl
 *   setle dh
 *   cmovg rax, rcx
 *   jmp 3f
 * 3:  jae 4f
 *   add rbx, rax
 * 4:  inc rbx
 *   jmp 5f
 * 5:  jb 6f
 *   add rbx, rdx
 * 6:  add rbx, rdx
 *   dec ecx
 *   jnz 1b
 *   hlt
 */
static const uint8_t cond_outside[] = {
	0xb9, 0x64, 0x00, 0x00, 0x00, 0x48, 0x89, 0xc8, 0x83, 0xe0, 0x07, 0x83,
	0xf8, 0x03, 0xeb, 0x00, 0x0f, 0x92, 0xc2, 0x0f, 0x9e, 0xc6, 0x48, 0x0f,
	0x4f, 0xc1, 0xeb, 0x00, 0x73, 0x03, 0x48, 0x01, 0xc3, 0x48, 0xff, 0xc3,
	0xeb, 0x00, 0x72, 0x03, 0x48, 0x01, 0xd3, 0x48, 0x01, 0xd3, 0xff, 0xc9,
	0x75, 0xd3, 0xf4,
};

static void test_cond_outside_block(void **state)
{
	struct outcome a, b;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, cond_outside, sizeof(cond_outside), 0);
	run(&b, VMM_CFG_JIT_EAGER, cond_outside, sizeof(cond_outside), 0);
	assert_true(b.compiled >= 5);
	same(&a, &b);
	assert_int_not_equal(b.st.gpr[VMM_RBX], 0x123456789abcdef0ull);
	/* the blocks ending at the HLT alone run through the interpreter
	 * (was 5 per iteration) */
	assert_true(b.fallbacks <= 2);
}

/*
 * Self-loops whose Jcc reads flags from before the block (none of the
 * loop's instructions writes them, or INC keeps the CF it reads): each
 * runs once, its branch not taken, the condition asked as in any block
 * (the host's flags after the translated LEA of -1 + 2 would say CF):
 *   mov ecx, 3
 * 0:  stc
 *   jmp 1f
 * 1:  inc rax
 *   jnc 1b
 *   xor edx, edx
 *   or edx, ecx
 *   jmp 2f
 * 2:  lea rbx, [rbx+1]
 *   jz 2b
 *   mov rsi, -1
 *   clc
 *   jmp 3f
 * 3:  lea rsi, [rsi+2]
 *   jc 3b
 *   dec ecx
 *   jnz 0b
 *   hlt
 */
static const uint8_t loop_cond_outside[] = {
	0xb9, 0x03, 0x00, 0x00, 0x00, 0xf9, 0xeb, 0x00, 0x48, 0xff, 0xc0, 0x73,
	0xfb, 0x31, 0xd2, 0x09, 0xca, 0xeb, 0x00, 0x48, 0x8d, 0x5b, 0x01, 0x74,
	0xfa, 0x48, 0xc7, 0xc6, 0xff, 0xff, 0xff, 0xff, 0xf8, 0xeb, 0x00, 0x48,
	0x8d, 0x76, 0x02, 0x72, 0xfa, 0xff, 0xc9, 0x75, 0xd8, 0xf4,
};

static void test_loop_cond_outside(void **state)
{
	struct outcome a, b;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, loop_cond_outside, sizeof(loop_cond_outside),
	    0);
	run(&b, VMM_CFG_JIT_EAGER, loop_cond_outside,
	    sizeof(loop_cond_outside), 0);
	assert_true(b.compiled >= 4);
	same(&a, &b);
	assert_int_equal(b.st.gpr[VMM_RCX], 0);
	assert_int_equal(b.st.gpr[VMM_RSI], 1);
}

/*
 * BT/BTS/BTR/BTC by register and immediate offsets on registers, by
 * immediate offsets on memory (offsets beyond the operand's size masked),
 * CF read by ADC, SETC, CMC and PUSHFQ, and BSWAP:
 *   mov ecx, 100
 * 1:  mov rax, rcx
 *   add rax, rbx
 *   bt rbx, rcx
 *   adc [rsi], eax
 *   bts eax, ecx
 *   btr rbx, rax
 *   pushfq
 *   pop r11
 *   add [rsi+8], r11
 *   btc bx, cx
 *   bt dword ptr [rsi+16], 5
 *   setc dl
 *   add [rsi+24], dl
 *   bts qword ptr [rsi+32], 63
 *   btr word ptr [rsi+40], 3
 *   btc dword ptr [rsi+44], 33
 *   bt eax, 7
 *   cmc
 *   btc rax, 40
 *   bswap eax
 *   bswap rbx
 *   add [rsi+48], rax
 *   add [rsi+56], rbx
 *   dec ecx
 *   jnz 1b
 *   hlt
 */
static const uint8_t bits[] = {
	0xb9, 0x64, 0x00, 0x00, 0x00, 0x48, 0x89, 0xc8, 0x48, 0x01, 0xd8, 0x48,
	0x0f, 0xa3, 0xcb, 0x11, 0x06, 0x0f, 0xab, 0xc8, 0x48, 0x0f, 0xb3, 0xc3,
	0x9c, 0x41, 0x5b, 0x4c, 0x01, 0x5e, 0x08, 0x66, 0x0f, 0xbb, 0xcb, 0x0f,
	0xba, 0x66, 0x10, 0x05, 0x0f, 0x92, 0xc2, 0x00, 0x56, 0x18, 0x48, 0x0f,
	0xba, 0x6e, 0x20, 0x3f, 0x66, 0x0f, 0xba, 0x76, 0x28, 0x03, 0x0f, 0xba,
	0x7e, 0x2c, 0x21, 0x0f, 0xba, 0xe0, 0x07, 0xf5, 0x48, 0x0f, 0xba, 0xf8,
	0x28, 0x0f, 0xc8, 0x48, 0x0f, 0xcb, 0x48, 0x01, 0x46, 0x30, 0x48, 0x01,
	0x5e, 0x38, 0xff, 0xc9, 0x75, 0xab, 0xf4,
};

static void test_bt_bswap(void **state)
{
	struct outcome a, b;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, bits, sizeof(bits), 0);
	run(&b, VMM_CFG_JIT_EAGER, bits, sizeof(bits), 0);
	assert_true(b.compiled >= 2);
	same(&a, &b);
	/* the PUSHFQ and CMC of each iteration and the blocks ending at
	 * the HLT run through the interpreter (was 16 per iteration) */
	assert_true(b.fallbacks <= 2 * 100 + 2);
}

/*
 * Memory operands whose base or index register is not in the register
 * cache (more registers in the loop than the cache holds, the address
 * registers used least): [base+index*scale+disp] with both in the state,
 * [index*8+disp32] without a base, [base+disp], [base], an index in the
 * cache with the base in the state (emit_ea's second way); MOVZX/MOVSX
 * loads into cached registers (MOVSX to 4 bytes zero-extends to 8) and
 * LEA of every shape (K_LEA).  Source
 * (intel syntax):
 *   mov ecx, 50; xor edi, edi; mov r8d, 3; mov r14, rsi; mov rbp, rsi
 *   mov r9, rbx; lea r10, [rbx+rbx*2+1]; mov r11, rbx; not r11
 *   mov r12, rbx; ror r12, 7
 * loop: 3x { add r9, r10; add r10, r11; xor r11, r9; add r12, r13;
 *            sub r13, r9; add r10, r12 }
 *   add rax, r12; mov [r14+rdi*8+16], r11; mov [rsi+rdi*4+136], r10d
 *   mov rbx, [rsi+rdi*8+24]; add rbx, [r14+rdi*4]
 *   add [rbp+rdi*2+8], rbx; mov rdx, [rdi*8+0x20040]; add rdx, [rsi+40]
 *   sub rdx, [r14+r8*2+5]; movzx ebx, byte [rbp+rdi+1]; add [rsi+64], rdx
 *   add [r14+72], ebx; add [rbp], edx; movsx r9, word [rsi+rdi*2+3]
 *   movsx r10d, byte [r14+rdi+130]; movzx r11d, word [rbp+rdi*4+2]
 *   lea r12, [rdi*4+0x1234]; lea r13d, [rsi+rdi*2-5]
 *   lea r9, [r14+r10*8+0x40]; add r9, r13; lea r8, [r8+r8*2]; and r8d, 7
 *   inc edi; and edi, 15; dec ecx; jnz loop; hlt
 */
static const uint8_t uncached_ea[] = {
	0xb9, 0x32, 0x00, 0x00, 0x00, 0x31, 0xff, 0x41, 0xb8, 0x03, 0x00, 0x00,
	0x00, 0x49, 0x89, 0xf6, 0x48, 0x89, 0xf5, 0x49, 0x89, 0xd9, 0x4c, 0x8d,
	0x54, 0x5b, 0x01, 0x49, 0x89, 0xdb, 0x49, 0xf7, 0xd3, 0x49, 0x89, 0xdc,
	0x49, 0xc1, 0xcc, 0x07, 0x4d, 0x01, 0xd1, 0x4d, 0x01, 0xda, 0x4d, 0x31,
	0xcb, 0x4d, 0x01, 0xec, 0x4d, 0x29, 0xcd, 0x4d, 0x01, 0xe2, 0x4d, 0x01,
	0xd1, 0x4d, 0x01, 0xda, 0x4d, 0x31, 0xcb, 0x4d, 0x01, 0xec, 0x4d, 0x29,
	0xcd, 0x4d, 0x01, 0xe2, 0x4d, 0x01, 0xd1, 0x4d, 0x01, 0xda, 0x4d, 0x31,
	0xcb, 0x4d, 0x01, 0xec, 0x4d, 0x29, 0xcd, 0x4d, 0x01, 0xe2, 0x4c, 0x01,
	0xe0, 0x4d, 0x89, 0x5c, 0xfe, 0x10, 0x44, 0x89, 0x94, 0xbe, 0x88, 0x00,
	0x00, 0x00, 0x48, 0x8b, 0x5c, 0xfe, 0x18, 0x49, 0x03, 0x1c, 0xbe, 0x48,
	0x01, 0x5c, 0x7d, 0x08, 0x48, 0x8b, 0x14, 0xfd, 0x40, 0x00, 0x02, 0x00,
	0x48, 0x03, 0x56, 0x28, 0x4b, 0x2b, 0x54, 0x46, 0x05, 0x0f, 0xb6, 0x5c,
	0x3d, 0x01, 0x48, 0x01, 0x56, 0x40, 0x41, 0x01, 0x5e, 0x48, 0x01, 0x55,
	0x00, 0x4c, 0x0f, 0xbf, 0x4c, 0x7e, 0x03, 0x45, 0x0f, 0xbe, 0x94, 0x3e,
	0x82, 0x00, 0x00, 0x00, 0x44, 0x0f, 0xb7, 0x5c, 0xbd, 0x02, 0x4c, 0x8d,
	0x24, 0xbd, 0x34, 0x12, 0x00, 0x00, 0x44, 0x8d, 0x6c, 0x7e, 0xfb, 0x4f,
	0x8d, 0x4c, 0xd6, 0x40, 0x4d, 0x01, 0xe9, 0x4f, 0x8d, 0x04, 0x40, 0x41,
	0x83, 0xe0, 0x07, 0xff, 0xc7, 0x83, 0xe7, 0x0f, 0xff, 0xc9, 0x0f, 0x85,
	0x4c, 0xff, 0xff, 0xff, 0xf4,
};

static void test_uncached_address_regs(void **state)
{
	struct outcome a, b, c;

	skip_without_jit();
	assert_int_equal(ENV_DATA, 0x20000); /* the disp32 of the no-base form */
	run(&a, VMM_CFG_NO_JIT, uncached_ea, sizeof(uncached_ea), 0);
	run(&b, VMM_CFG_JIT_EAGER, uncached_ea, sizeof(uncached_ea), 0);
	run(&c, VMM_CFG_JIT, uncached_ea, sizeof(uncached_ea), 0);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	assert_true(b.compiled >= 1);
	same(&a, &b);
	same(&a, &c);
}

/*
 * A patched link (block A's JMP straight into compiled block B, on
 * another page) whose successor is invalidated by a store of A itself:
 * A's link must go the slow way afterwards (chain_gen changed in the
 * store's call), not into B's old code.  Iteration 50 rewrites B's
 * "mov al, 0x11" to 0x22 (the iterations before store to data):
 *
 *	mov ecx, 100; xor edx, edx; mov ebx, 0x11; mov r9, rsi;
 *	mov r8d, 0x22
 * top:	lea rdi, [B + 1]; mov rsi, r9; cmp ecx, 50; cmove rsi, rdi;
 *	cmovbe ebx, r8d; mov [rsi], bl; jmp B
 *	(page 2) B: mov al, 0x11; movzx eax, al; add edx, eax; dec ecx;
 *	jnz top; hlt
 */
static void test_patched_link_smc(void **state)
{
	static const uint8_t a[] = {
		0xb9, 0x64, 0x00, 0x00, 0x00, 0x31, 0xd2, 0xbb, 0x11, 0x00,
		0x00, 0x00, 0x49, 0x89, 0xf1, 0x41, 0xb8, 0x22, 0x00, 0x00,
		0x00,
		0x48, 0x8d, 0x3d, 0xe5, 0x0f, 0x00, 0x00, /* lea rdi, [B+1] */
		0x4c, 0x89, 0xce, 0x83, 0xf9, 0x32, 0x48, 0x0f, 0x44, 0xf7,
		0x41, 0x0f, 0x46, 0xd8, 0x88, 0x1e,
		0xe9, 0xcf, 0x0f, 0x00, 0x00,             /* jmp B */
	};
	static const uint8_t b[] = {
		0xb0, 0x11, 0x0f, 0xb6, 0xc0, 0x01, 0xc2, 0xff, 0xc9,
		0x0f, 0x85, 0x06, 0xf0, 0xff, 0xff,       /* jnz top */
		0xf4,
	};
	static uint8_t code[4096 + sizeof(b)];
	struct outcome o1, o2;

	skip_without_jit();
	memset(code, 0xcc, sizeof(code));
	memcpy(code, a, sizeof(a));
	memcpy(code + 4096, b, sizeof(b));
	run(&o1, VMM_CFG_NO_JIT, code, sizeof(code), 0);
	run(&o2, VMM_CFG_JIT_EAGER, code, sizeof(code), 0);
	assert_int_equal(o1.e.kind, VMM_EXIT_HLT);
	assert_int_equal(o1.st.gpr[VMM_RDX], 50 * 0x11 + 50 * 0x22);
	assert_true(o2.compiled >= 3);
	same(&o1, &o2);
}

static void *kick_later(void *arg)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	nanosleep(&ts, NULL);
	vmm_vcpu_kick(arg);
	return NULL;
}

/*
 * Two compiled blocks jumping to each other forever through patched
 * links (neither is a self-loop): a kick from another thread ends the
 * run (the links use up their budget and the executor sees the kick);
 * SIGALRM ends the test if they never do.
 *
 *	0: inc rax; jmp 5
 *	5: inc rbx; jmp 0
 */
static void test_patched_link_kick(void **state)
{
	static const uint8_t code[] = {
		0x48, 0xff, 0xc0, 0xeb, 0x00, 0x48, 0xff, 0xc3, 0xeb, 0xf6,
	};
	struct tvm t;
	struct vmm_exit e;
	struct vmm_vcpu_stats s;
	pthread_t th;

	skip_without_jit();
	for (int mode = 0; mode < 2; mode++) {
		tvm_create(&t, mode ? VMM_CFG_JIT_EAGER : VMM_CFG_JIT);
		tvm_setup(&t, ENV_LONG64, 3, code, sizeof(code));
		t.st.gpr[VMM_RAX] = t.st.gpr[VMM_RBX] = 0;
		tvm_set(&t);
		assert_int_equal(pthread_create(&th, NULL, kick_later, t.cpu),
				 0);
		alarm(20);
		e = tvm_run(&t);
		alarm(0);
		pthread_join(th, NULL);
		assert_int_equal(e.kind, VMM_EXIT_INTERRUPTED);
		assert_true(t.st.gpr[VMM_RAX] > 10000);
		assert_true(t.st.gpr[VMM_RAX] - t.st.gpr[VMM_RBX] <= 1);
		s = stats(t.cpu);
		assert_true(s.blocks_compiled >= 2);
		/* exits only at block boundaries: every INC with its JMP */
		assert_int_equal(s.insns_retired,
				 2 * (t.st.gpr[VMM_RAX] + t.st.gpr[VMM_RBX]));
		tvm_destroy(&t);
	}
}

/*
 * Patched links between blocks that cache different guest registers in
 * different host registers, with and without memory accesses (the TLB
 * base): the successor entered past its loads, or through a trampoline
 * with the loads the exit lacks, sees the same registers as the
 * interpreter.
 *
 *	mov ecx, 300; xor edi, edi
 * b1:	add rax, rbx; add rax, rbx; xor rbx, rax; jmp b2
 * b2:	mov rdx, [rsi]; add rdx, rbx; add rbx, rdx; mov [rsi+8], rbx;
 *	jmp b3
 * b3:	add rdi, rax; add rdi, rbx; imul rdx, rdi; add rdx, rdi;
 *	add rax, rdx; dec ecx; jnz b1
 *	hlt
 */
static void test_patched_link_regs(void **state)
{
	static const uint8_t code[] = {
		0xb9, 0x2c, 0x01, 0x00, 0x00, 0x31, 0xff,
		/* b1 (7) */
		0x48, 0x01, 0xd8, 0x48, 0x01, 0xd8, 0x48, 0x31, 0xc3,
		0xeb, 0x00,
		/* b2 (18) */
		0x48, 0x8b, 0x16, 0x48, 0x01, 0xda, 0x48, 0x01, 0xd3,
		0x48, 0x89, 0x5e, 0x08, 0xeb, 0x00,
		/* b3 (33) */
		0x48, 0x01, 0xc7, 0x48, 0x01, 0xdf, 0x48, 0x0f, 0xaf, 0xd7,
		0x48, 0x01, 0xfa, 0x48, 0x01, 0xd0, 0xff, 0xc9,
		0x75, 0xd2,                               /* jnz b1 */
		0xf4,
	};
	struct outcome o1, o2, o3;

	skip_without_jit();
	run(&o1, VMM_CFG_NO_JIT, code, sizeof(code), 0);
	run(&o2, VMM_CFG_JIT_EAGER, code, sizeof(code), 0);
	run(&o3, VMM_CFG_JIT, code, sizeof(code), 0);
	assert_int_equal(o1.e.kind, VMM_EXIT_HLT);
	assert_true(o2.compiled >= 3);
	assert_true(o3.compiled >= 3);
	same(&o1, &o2);
	same(&o1, &o3);
}

/*
 * Lazy flags still pending at a Jcc's exits (both go to the next block):
 * a successor that reads them (SETC, CMOVB: flags live at its entry) is
 * entered through the stub that stores them, one that writes them first
 * (SUB) without; the same state as the interpreter.
 *
 *	mov ecx, 200
 * top:	add eax, ebx; jno B
 * B:	setc dl; add edi, edx; imul ebx, ebx, 0x9e3779b1; add ebx, 7;
 *	cmp ebx, eax; jne C
 * C:	cmovb ebp, eax; add ebp, 3; jc D
 * D:	sub esi, eax; adc esi, ebp; dec ecx; jnz top
 *	hlt
 */
static void test_patched_link_flags(void **state)
{
	static const uint8_t code[] = {
		0xb9, 0xc8, 0x00, 0x00, 0x00,
		0x01, 0xd8, 0x71, 0x00,
		0x0f, 0x92, 0xc2, 0x01, 0xd7, 0x69, 0xdb, 0xb1, 0x79, 0x37,
		0x9e, 0x83, 0xc3, 0x07, 0x39, 0xc3, 0x75, 0x00,
		0x0f, 0x42, 0xe8, 0x83, 0xc5, 0x03, 0x72, 0x00,
		0x29, 0xc6, 0x11, 0xee, 0xff, 0xc9, 0x75, 0xda,
		0xf4,
	};
	struct outcome o1, o2, o3;

	skip_without_jit();
	run(&o1, VMM_CFG_NO_JIT, code, sizeof(code), 0);
	run(&o2, VMM_CFG_JIT_EAGER, code, sizeof(code), 0);
	run(&o3, VMM_CFG_JIT, code, sizeof(code), 0);
	assert_int_equal(o1.e.kind, VMM_EXIT_HLT);
	assert_true(o1.st.gpr[VMM_RDI] > 0 && o1.st.gpr[VMM_RDI] < 200);
	assert_true(o2.compiled >= 4);
	same(&o1, &o2);
	same(&o1, &o3);
}

/*
 * CALL (a patched direct link) and RET (the slot / jump cache, entering
 * at the return site's guard) between blocks caching different
 * registers: the function changes RBX in the state, which the calling
 * block and the return site cache in a host register the function does
 * not use.
 *
 *	mov ecx, 200
 * a:	add rax, rbx; add rax, rbx; call f
 *	add rbx, rdx; add rbx, rdx; sub rsi, rbx; dec ecx; jnz a
 *	hlt
 * f:	add rdx, rax; add rdx, rax; xor rax, rdx; inc rbx; ret
 */
static void test_patched_link_ret(void **state)
{
	static const uint8_t code[] = {
		0xb9, 0xc8, 0x00, 0x00, 0x00,
		0x48, 0x01, 0xd8, 0x48, 0x01, 0xd8, 0xe8, 0x0e, 0x00, 0x00,
		0x00,
		0x48, 0x01, 0xd3, 0x48, 0x01, 0xd3, 0x48, 0x29, 0xde, 0xff,
		0xc9, 0x75, 0xe8,
		0xf4,
		0x48, 0x01, 0xc2, 0x48, 0x01, 0xc2, 0x48, 0x31, 0xd0, 0x48,
		0xff, 0xc3, 0xc3,
	};
	struct outcome o1, o2, o3;

	skip_without_jit();
	run(&o1, VMM_CFG_NO_JIT, code, sizeof(code), 5);
	run(&o2, VMM_CFG_JIT_EAGER, code, sizeof(code), 5);
	run(&o3, VMM_CFG_JIT, code, sizeof(code), 5);
	assert_int_equal(o1.e.kind, VMM_EXIT_HLT);
	assert_true(o2.compiled >= 3);
	same(&o1, &o2);
	same(&o1, &o3);
}

/*
 * XCHG (register, eAX with a register, memory: AH, 16-bit), CMPXCHG
 * (register and memory, LOCK or not, equal and not: the low bits of ECX
 * pick), XADD (register, memory, LOCK, byte), SETcc m8, CMOVcc r, m (4
 * bytes zero-extend whatever the condition; 2 bytes), PUSHFQ of the
 * flags of CMPXCHG, and SBB reading CMPXCHG's CF.  Source (intel):
 *   mov ecx, 100; xor edi, edi
 * loop: lea rax, [rcx*8+rbx]; xchg rax, rbx; xchg ah, dl; xchg r8d, eax
 *   xchg [rsi+rdi*8], rdx; xchg byte [rsi+rdi+64], ah; xchg r9w, ax
 *   mov eax, ecx; and eax, 3; cmpxchg [rsi+rdi*4+128], r8d
 *   setz byte [rsi+rdi+160]; lock cmpxchg qword [rsi+8], rdx
 *   cmpxchg r10d, r9d; cmpxchg bh, dl; sbb r11, rax
 *   lock xadd [rsi+rdi*2+176], r8w; xadd rdx, r11
 *   xadd byte [rsi+200], bl; setb byte [rsi+rdi+208]
 *   cmovo r12, [rsi+rdi*8]; cmovae r13d, [rsi+rdi*4+128]; cmp ecx, 50
 *   cmovl r12w, [rsi+rdi*2+64]; pushfq; pop r14; add [rsi+224], r14
 *   xchg rdi, rdi; inc edi; and edi, 7; dec ecx; jnz loop; hlt
 */
static const uint8_t xops[] = {
	0xb9, 0x64, 0x00, 0x00, 0x00, 0x31, 0xff, 0x48, 0x8d, 0x04, 0xcb, 0x48,
	0x93, 0x86, 0xd4, 0x41, 0x90, 0x48, 0x87, 0x14, 0xfe, 0x86, 0x64, 0x3e,
	0x40, 0x66, 0x41, 0x91, 0x89, 0xc8, 0x83, 0xe0, 0x03, 0x44, 0x0f, 0xb1,
	0x84, 0xbe, 0x80, 0x00, 0x00, 0x00, 0x0f, 0x94, 0x84, 0x3e, 0xa0, 0x00,
	0x00, 0x00, 0xf0, 0x48, 0x0f, 0xb1, 0x56, 0x08, 0x45, 0x0f, 0xb1, 0xca,
	0x0f, 0xb0, 0xd7, 0x49, 0x19, 0xc3, 0x66, 0xf0, 0x44, 0x0f, 0xc1, 0x84,
	0x7e, 0xb0, 0x00, 0x00, 0x00, 0x4c, 0x0f, 0xc1, 0xda, 0x0f, 0xc0, 0x9e,
	0xc8, 0x00, 0x00, 0x00, 0x0f, 0x92, 0x84, 0x3e, 0xd0, 0x00, 0x00, 0x00,
	0x4c, 0x0f, 0x40, 0x24, 0xfe, 0x44, 0x0f, 0x43, 0xac, 0xbe, 0x80, 0x00,
	0x00, 0x00, 0x83, 0xf9, 0x32, 0x66, 0x44, 0x0f, 0x4c, 0x64, 0x7e, 0x40,
	0x9c, 0x41, 0x5e, 0x4c, 0x01, 0xb6, 0xe0, 0x00, 0x00, 0x00, 0x48, 0x87,
	0xff, 0xff, 0xc7, 0x83, 0xe7, 0x07, 0xff, 0xc9, 0x0f, 0x85, 0x75, 0xff,
	0xff, 0xff, 0xf4,
};

/* the same kinds in 32-bit code (PUSHFD, LOCK CMPXCHG, LOCK XADD) */
static const uint8_t xops32[] = {
	0xb9, 0x3c, 0x00, 0x00, 0x00, 0x31, 0xff, 0x8d, 0x04, 0xcd, 0x34, 0x12,
	0x00, 0x00, 0x95, 0x86, 0xd4, 0x87, 0x14, 0xbe, 0x89, 0xc8, 0x83, 0xe0,
	0x03, 0xf0, 0x0f, 0xb1, 0xac, 0xbe, 0x80, 0x00, 0x00, 0x00, 0x0f, 0x94,
	0x84, 0x3e, 0xa0, 0x00, 0x00, 0x00, 0x0f, 0xb0, 0xd7, 0x66, 0xf0, 0x0f,
	0xc1, 0xac, 0x7e, 0xb0, 0x00, 0x00, 0x00, 0x0f, 0xc1, 0xea, 0x0f, 0x43,
	0xac, 0xbe, 0x80, 0x00, 0x00, 0x00, 0x9c, 0x58, 0x01, 0x86, 0xe0, 0x00,
	0x00, 0x00, 0x47, 0x83, 0xe7, 0x07, 0x49, 0x75, 0xb6, 0xf4,
};

/* mov eax, 5; mov ecx, 7; add eax, ecx; lock xadd [rdx], ecx; inc ecx;
 * hlt: the XADD faults (RDX unmapped) */
static const uint8_t xadd_fault[] = {
	0xb8, 0x05, 0x00, 0x00, 0x00, 0xb9, 0x07, 0x00, 0x00, 0x00, 0x01, 0xc8,
	0xf0, 0x0f, 0xc1, 0x0a, 0xff, 0xc1, 0xf4,
};

static void test_xchg_cmpxchg_xadd(void **state)
{
	static const enum env_mode modes[2] = { ENV_PROT32, ENV_COMPAT32 };
	struct outcome a, b, c;
	uint64_t frame_rip;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, xops, sizeof(xops), 0);
	run(&b, VMM_CFG_JIT_EAGER, xops, sizeof(xops), 0);
	run(&c, VMM_CFG_JIT, xops, sizeof(xops), 0);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	assert_true(b.compiled >= 2);
	same(&a, &b);
	same(&a, &c);
	/* all translated: the blocks ending at the HLT only (was 20 per
	 * iteration) */
	assert_true(b.fallbacks <= 4);
	for (unsigned m = 0; m < 2; m++) {
		run32(&a, VMM_CFG_NO_JIT, modes[m], 0, xops32, sizeof(xops32),
		      0, ENV_DATA, NULL, 0);
		run32(&b, VMM_CFG_JIT_EAGER, modes[m], 0, xops32,
		      sizeof(xops32), 0, ENV_DATA, NULL, 0);
		assert_int_equal(a.e.kind, VMM_EXIT_HLT);
		assert_true(b.compiled >= 2);
		same(&a, &b);
		assert_true(b.fallbacks <= 4);
	}
	/* a fault at the XADD: nothing of it done, the ADD before done */
	run(&a, VMM_CFG_NO_JIT, xadd_fault, sizeof(xadd_fault), 0x40000000);
	run(&b, VMM_CFG_JIT_EAGER, xadd_fault, sizeof(xadd_fault),
	    0x40000000);
	assert_true(b.compiled >= 1);
	same(&a, &b);
	memcpy(&frame_rip, b.kstack + sizeof(b.kstack) - 40, 8);
	assert_int_equal(frame_rip, ENV_CODE + 12);
	assert_int_equal(b.st.gpr[VMM_RAX], 12);
	assert_int_equal(b.st.gpr[VMM_RCX], 7);
	assert_int_equal(b.st.cr2, 0x40000000);
}

/*
 * A memory-operand ALU op with live flags leaves them pending (R8/R9) and
 * its own slow path takes them back from what its handler wrote: each op
 * after an INVLPG of its page (a TLB miss, so the slow path every time),
 * its flags read by PUSHFD / SETZ after a MOV.  32-bit code at CPL0:
 *   mov ecx, 40; mov eax, 0x80000001
 * loop: add eax, ecx; ror eax, 5
 *   for OP in add or xor and sub cmp test (k = 0..6):
 *     invlpg [esi]; OP dword [esi+4*k], eax; mov edx, ecx; pushfd
 *     pop edx; mov [esi+128+4*k], edx
 *   invlpg [esi]; or byte [esi+40], ah; mov edx, ecx; pushfd; pop edx
 *   add [esi+160], edx; invlpg [esi]; xor ax, word [esi+44]
 *   mov edx, ecx; setz dl; add [esi+164], dl; dec ecx; jnz loop; hlt
 */
static const uint8_t mem_flags_self[] = {
	0xb9, 0x28, 0x00, 0x00, 0x00, 0xb8, 0x01, 0x00, 0x00, 0x80, 0x01, 0xc8,
	0xc1, 0xc8, 0x05, 0x0f, 0x01, 0x3e, 0x01, 0x06, 0x89, 0xca, 0x9c, 0x5a,
	0x89, 0x96, 0x80, 0x00, 0x00, 0x00, 0x0f, 0x01, 0x3e, 0x09, 0x46, 0x04,
	0x89, 0xca, 0x9c, 0x5a, 0x89, 0x96, 0x84, 0x00, 0x00, 0x00, 0x0f, 0x01,
	0x3e, 0x31, 0x46, 0x08, 0x89, 0xca, 0x9c, 0x5a, 0x89, 0x96, 0x88, 0x00,
	0x00, 0x00, 0x0f, 0x01, 0x3e, 0x21, 0x46, 0x0c, 0x89, 0xca, 0x9c, 0x5a,
	0x89, 0x96, 0x8c, 0x00, 0x00, 0x00, 0x0f, 0x01, 0x3e, 0x29, 0x46, 0x10,
	0x89, 0xca, 0x9c, 0x5a, 0x89, 0x96, 0x90, 0x00, 0x00, 0x00, 0x0f, 0x01,
	0x3e, 0x39, 0x46, 0x14, 0x89, 0xca, 0x9c, 0x5a, 0x89, 0x96, 0x94, 0x00,
	0x00, 0x00, 0x0f, 0x01, 0x3e, 0x85, 0x46, 0x18, 0x89, 0xca, 0x9c, 0x5a,
	0x89, 0x96, 0x98, 0x00, 0x00, 0x00, 0x0f, 0x01, 0x3e, 0x08, 0x66, 0x28,
	0x89, 0xca, 0x9c, 0x5a, 0x01, 0x96, 0xa0, 0x00, 0x00, 0x00, 0x0f, 0x01,
	0x3e, 0x66, 0x33, 0x46, 0x2c, 0x89, 0xca, 0x0f, 0x94, 0xc2, 0x00, 0x96,
	0xa4, 0x00, 0x00, 0x00, 0x49, 0x0f, 0x85, 0x63, 0xff, 0xff, 0xff, 0xf4,
};

static void test_mem_alu_flags_slow_path(void **state)
{
	struct outcome a, b;

	skip_without_jit();
	run32(&a, VMM_CFG_NO_JIT, ENV_COMPAT32, 0, mem_flags_self,
	      sizeof(mem_flags_self), 0, ENV_DATA, NULL, 0);
	run32(&b, VMM_CFG_JIT_EAGER, ENV_COMPAT32, 0, mem_flags_self,
	      sizeof(mem_flags_self), 0, ENV_DATA, NULL, 0);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	assert_true(b.compiled >= 2);
	same(&a, &b);
}

/*
 * BSF/BSR/TZCNT/LZCNT/POPCNT of registers and memory, sizes 2, 4, 8, zero
 * sources (the destination kept, CF/ZF), their flags read by PUSHFQ and
 * SETZ; MOV r/m, Sreg (16-bit register, zero-extended 4 bytes, memory).
 * Source (intel):
 *   mov ecx, 70; mov rax, 0x8000000000000001
 * loop: ror rax, 3; lea rdx, [rax+rcx]; and edx, ecx
 *   mov [rsi+rcx*2], dx; bsf r8, rax; bsr r9d, edx
 *   bsf r10w, word [rsi+rcx*2]; tzcnt r11, rdx; lzcnt r12d, edx
 *   lzcnt r13w, dx; popcnt r14, rax; pushfq; pop rbx; add [rsi+200], rbx
 *   popcnt r15w, word [rsi+rcx*2]; bsr r9, qword [rsi+8]
 *   tzcnt rbp, qword [rsi+rcx]; setz bl; add [rsi+208], bl
 *   mov bx, ds; mov r8d, ss; mov word [rsi+216], cs; mov edi, fs
 *   dec ecx; jnz loop; hlt
 */
static const uint8_t bitscan[] = {
	0xb9, 0x46, 0x00, 0x00, 0x00, 0x48, 0xb8, 0x01, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x80, 0x48, 0xc1, 0xc8, 0x03, 0x48, 0x8d, 0x14, 0x08, 0x21,
	0xca, 0x66, 0x89, 0x14, 0x4e, 0x4c, 0x0f, 0xbc, 0xc0, 0x44, 0x0f, 0xbd,
	0xca, 0x66, 0x44, 0x0f, 0xbc, 0x14, 0x4e, 0xf3, 0x4c, 0x0f, 0xbc, 0xda,
	0xf3, 0x44, 0x0f, 0xbd, 0xe2, 0x66, 0xf3, 0x44, 0x0f, 0xbd, 0xea, 0xf3,
	0x4c, 0x0f, 0xb8, 0xf0, 0x9c, 0x5b, 0x48, 0x01, 0x9e, 0xc8, 0x00, 0x00,
	0x00, 0x66, 0xf3, 0x44, 0x0f, 0xb8, 0x3c, 0x4e, 0x4c, 0x0f, 0xbd, 0x4e,
	0x08, 0xf3, 0x48, 0x0f, 0xbc, 0x2c, 0x0e, 0x0f, 0x94, 0xc3, 0x00, 0x9e,
	0xd0, 0x00, 0x00, 0x00, 0x66, 0x8c, 0xdb, 0x41, 0x8c, 0xd0, 0x8c, 0x8e,
	0xd8, 0x00, 0x00, 0x00, 0x8c, 0xe7, 0xff, 0xc9, 0x75, 0x99, 0xf4,
};

static void test_bitscan_movseg(void **state)
{
	struct outcome a, b, c;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, bitscan, sizeof(bitscan), 0);
	run(&b, VMM_CFG_JIT_EAGER, bitscan, sizeof(bitscan), 0);
	run(&c, VMM_CFG_JIT, bitscan, sizeof(bitscan), 0);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	assert_true(b.compiled >= 2);
	same(&a, &b);
	same(&a, &c);
	assert_true(b.fallbacks <= 4); /* all translated (was 15 a loop) */
}

/*
 * BT/BTS/BTR/BTC m, r: the register offset moves the address (negative
 * too, sizes 2, 4, 8), CF read by SETC and PUSHFQ.  Source (intel):
 *   mov ecx, 60; mov rax, 0x123456789
 * loop: ror rax, 7; lea rdx, [rcx*8-200]; bt [rsi+128], rdx; setc bl
 *   add [rsi+240], bl; bts dword [rsi+100], ecx; lea r8d, [rcx-30]
 *   btr word [rsi+64], r8w; mov r9d, eax; and r9d, 0x1ff
 *   btc qword [rsi+rcx*2], r9; pushfq; pop rbx; add [rsi+248], rbx
 *   dec ecx; jnz loop; hlt
 */
static const uint8_t bt_mem[] = {
	0xb9, 0x3c, 0x00, 0x00, 0x00, 0x48, 0xb8, 0x89, 0x67, 0x45, 0x23, 0x01,
	0x00, 0x00, 0x00, 0x48, 0xc1, 0xc8, 0x07, 0x48, 0x8d, 0x14, 0xcd, 0x38,
	0xff, 0xff, 0xff, 0x48, 0x0f, 0xa3, 0x96, 0x80, 0x00, 0x00, 0x00, 0x0f,
	0x92, 0xc3, 0x00, 0x9e, 0xf0, 0x00, 0x00, 0x00, 0x0f, 0xab, 0x4e, 0x64,
	0x44, 0x8d, 0x41, 0xe2, 0x66, 0x44, 0x0f, 0xb3, 0x46, 0x40, 0x41, 0x89,
	0xc1, 0x41, 0x81, 0xe1, 0xff, 0x01, 0x00, 0x00, 0x4c, 0x0f, 0xbb, 0x0c,
	0x4e, 0x9c, 0x5b, 0x48, 0x01, 0x9e, 0xf8, 0x00, 0x00, 0x00, 0xff, 0xc9,
	0x75, 0xb9, 0xf4,
};

static void test_bt_mem_reg(void **state)
{
	struct outcome a, b;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, bt_mem, sizeof(bt_mem), 0);
	run(&b, VMM_CFG_JIT_EAGER, bt_mem, sizeof(bt_mem), 0);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	assert_true(b.compiled >= 2);
	same(&a, &b);
	assert_true(b.fallbacks <= 4); /* all translated (was 4 a loop) */
}

/*
 * Shifts and rotates of memory (4 and 8 bytes; by 1, a constant, CL, CL
 * masked to 0), flags read (SETC/ADC, PUSHFQ).  Source (intel):
 *   mov ecx, 80; mov rax, 0x0123456789abcdef; mov [rsi+8], rax
 *   mov [rsi+16], rax
 * loop: add [rsi+24], rcx; shl dword [rsi+rcx], 3; setc bl
 *   shr qword [rsi+8], cl; pushfq; pop rdx; add [rsi+200], rdx
 *   sar dword [rsi+32], 1; rol qword [rsi+16], 5; ror dword [rsi+40], cl
 *   adc [rsi+208], bl; sar qword [rsi+48], cl; shr dword [rsi+56], 7
 *   rol dword [rsi+rcx+4], cl; pushfq; pop rdx; add [rsi+216], rdx
 *   mov edx, ecx; and edx, 0xe0; xchg ecx, edx; shl dword [rsi+60], cl
 *   xchg ecx, edx; dec ecx; jnz loop; hlt
 */
static const uint8_t shift_mem[] = {
	0xb9, 0x50, 0x00, 0x00, 0x00, 0x48, 0xb8, 0xef, 0xcd, 0xab, 0x89, 0x67,
	0x45, 0x23, 0x01, 0x48, 0x89, 0x46, 0x08, 0x48, 0x89, 0x46, 0x10, 0x48,
	0x01, 0x4e, 0x18, 0xc1, 0x24, 0x0e, 0x03, 0x0f, 0x92, 0xc3, 0x48, 0xd3,
	0x6e, 0x08, 0x9c, 0x5a, 0x48, 0x01, 0x96, 0xc8, 0x00, 0x00, 0x00, 0xd1,
	0x7e, 0x20, 0x48, 0xc1, 0x46, 0x10, 0x05, 0xd3, 0x4e, 0x28, 0x10, 0x9e,
	0xd0, 0x00, 0x00, 0x00, 0x48, 0xd3, 0x7e, 0x30, 0xc1, 0x6e, 0x38, 0x07,
	0xd3, 0x44, 0x0e, 0x04, 0x9c, 0x5a, 0x48, 0x01, 0x96, 0xd8, 0x00, 0x00,
	0x00, 0x89, 0xca, 0x81, 0xe2, 0xe0, 0x00, 0x00, 0x00, 0x87, 0xd1, 0xd3,
	0x66, 0x3c, 0x87, 0xd1, 0xff, 0xc9, 0x75, 0xaf, 0xf4,
};


/*
 * 32-bit code uses a flat, writable, base-0 segment without a check or a
 * base per access (checked once at the block's entry): a MOV DS in the
 * middle of a compiled block (a based DS, GDT entry 0x18 rewritten) is
 * seen by the access after it, a block entered through the executor with
 * the new DS runs with its base, and the patched link B -> A made before
 * the change (and again after it) does not enter A past the check.  EDI
 * sums [ESI]: 20 loads through the flat DS (1 each) and the 21st, then
 * one through the based DS right after the MOV and 19 more (0x100 each).
 */
static void run_seg_change(struct outcome *o, uint32_t flags)
{
	static const uint8_t code[] = {
		0xb9, 0x28, 0x00, 0x00, 0x00,       /* mov ecx, 40 */
		0x31, 0xff,                         /* xor edi, edi */
		/* A: */
		0x8b, 0x16,                         /* mov edx, [esi] */
		0x01, 0xd7,                         /* add edi, edx */
		0x83, 0xf9, 0x14,                   /* cmp ecx, 20 */
		0x75, 0x08,                         /* jne B */
		0x66, 0xb8, 0x18, 0x00,             /* mov ax, 0x18 */
		0x8e, 0xd8,                         /* mov ds, ax */
		0x03, 0x3e,                         /* add edi, [esi] */
		/* B: */
		0x49,                               /* dec ecx */
		0x75, 0xec,                         /* jnz A */
		0xf4,                               /* hlt */
	};
	/* base 0x1000, limit 4 GiB, data read/write accessed, DPL 3 */
	const uint64_t desc = 0x00cff3001000ffffull;
	const uint32_t one = 1, big = 0x100;
	struct tvm t;
	struct vmm_vcpu_stats s;

	tvm_create(&t, flags);
	tvm_setup(&t, ENV_PROT32, 0, code, sizeof(code));
	assert_int_equal(vmm_mem_write(t.vm, ENV_GDT + 0x18, &desc, 8), 0);
	assert_int_equal(vmm_mem_write(t.vm, ENV_DATA, &one, 4), 0);
	assert_int_equal(vmm_mem_write(t.vm, ENV_DATA + 0x1000, &big, 4), 0);
	t.st.gpr[VMM_RSI] = ENV_DATA;
	tvm_set(&t);
	o->e = tvm_run(&t);
	o->st = t.st;
	s = stats(t.cpu);
	o->insns = s.insns_retired;
	o->compiled = s.blocks_compiled;
	o->fallbacks = s.jit_fallbacks;
	assert_int_equal(vmm_mem_read(t.vm, ENV_DATA, o->data,
				      sizeof(o->data)), 0);
	assert_int_equal(vmm_mem_read(t.vm, ENV_KSTACK - sizeof(o->kstack),
				      o->kstack, sizeof(o->kstack)), 0);
	tvm_destroy(&t);
}

static void test_32bit_segment_change(void **state)
{
	struct outcome a, b, h;

	skip_without_jit();
	run_seg_change(&a, VMM_CFG_NO_JIT);
	run_seg_change(&b, VMM_CFG_JIT_EAGER);
	run_seg_change(&h, VMM_CFG_JIT);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	assert_int_equal((uint32_t)a.st.gpr[VMM_RDI], 21 + 20 * 0x100);
	assert_true(b.compiled >= 3);
	same(&a, &b);
	same(&a, &h);
}

/* mov eax, 5; mov ecx, 7; add eax, ecx; shr dword [rdx], cl; inc ecx;
 * hlt: the shift faults (RDX unmapped) */
static const uint8_t shift_mem_fault[] = {
	0xb8, 0x05, 0x00, 0x00, 0x00, 0xb9, 0x07, 0x00, 0x00, 0x00, 0x01, 0xc8,
	0xd3, 0x2a, 0xff, 0xc1, 0xf4,
};

static void test_shift_mem(void **state)
{
	struct outcome a, b, c;
	uint64_t frame_rip;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, shift_mem, sizeof(shift_mem), 0);
	run(&b, VMM_CFG_JIT_EAGER, shift_mem, sizeof(shift_mem), 0);
	run(&c, VMM_CFG_JIT, shift_mem, sizeof(shift_mem), 0);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	assert_true(b.compiled >= 2);
	same(&a, &b);
	same(&a, &c);
	assert_true(b.fallbacks <= 4); /* all translated (was 9 a loop) */
	run(&a, VMM_CFG_NO_JIT, shift_mem_fault, sizeof(shift_mem_fault),
	    0x40000000);
	run(&b, VMM_CFG_JIT_EAGER, shift_mem_fault, sizeof(shift_mem_fault),
	    0x40000000);
	same(&a, &b);
	memcpy(&frame_rip, b.kstack + sizeof(b.kstack) - 40, 8);
	assert_int_equal(frame_rip, ENV_CODE + 12);
	assert_int_equal(b.st.gpr[VMM_RCX], 7);
	assert_int_equal(b.st.cr2, 0x40000000);
}

/*
 * String instructions (tests/unit/soft/asm source in the comments):
 * REP STOS/MOVS of every size, forward and backward, with counts 0-63,
 * across a page end (forward) and a page start (backward), overlapping;
 * a REP MOVS less than an element ahead (element by element, not byte by
 * byte); one element of each op in both directions; REPE/REPNE CMPS and SCAS
 * that stop inside and across a page; RCX = 0 leaving the flags; 67
 * (ECX, EDI); then a hash of the two data pages into R12 (same()
 * compares only their first 256 bytes).  Source (intel): mov r8d, 60;
 * mov r9, rsi; loop: 60 times the forms above (see the git history of
 * this file for the .s); hash; hlt.
 */
static const uint8_t strings[] = {
	0x41, 0xb8, 0x3c, 0x00, 0x00, 0x00, 0x49, 0x89, 0xf1, 0x4c, 0x89, 0xce,
	0x44, 0x89, 0xc1, 0x83, 0xe1, 0x1f, 0x44, 0x89, 0xc0, 0x69, 0xc0, 0x01,
	0x01, 0x01, 0x01, 0x48, 0x8d, 0xbe, 0x00, 0x01, 0x00, 0x00, 0x41, 0xf6,
	0xc0, 0x10, 0x74, 0x08, 0xfd, 0x48, 0x8d, 0xbe, 0xc0, 0x01, 0x00, 0x00,
	0xf3, 0xaa, 0x44, 0x89, 0xc1, 0x83, 0xe1, 0x07, 0x48, 0x8d, 0x7e, 0x40,
	0xf3, 0x48, 0xab, 0x44, 0x89, 0xc1, 0x83, 0xe1, 0x0f, 0x48, 0x8d, 0xbe,
	0x80, 0x00, 0x00, 0x00, 0x66, 0xf3, 0xab, 0xb9, 0x03, 0x00, 0x00, 0x00,
	0xf3, 0xab, 0xfc, 0x48, 0x8d, 0xbe, 0xc0, 0x0f, 0x00, 0x00, 0x4c, 0x01,
	0xc7, 0xb9, 0x80, 0x00, 0x00, 0x00, 0xf3, 0xaa, 0x49, 0x8d, 0xb1, 0x00,
	0x01, 0x00, 0x00, 0x49, 0x8d, 0xb9, 0x03, 0x01, 0x00, 0x00, 0x44, 0x89,
	0xc1, 0x83, 0xe1, 0x3f, 0xf3, 0xa4, 0x49, 0x8d, 0xb1, 0x00, 0x01, 0x00,
	0x00, 0x49, 0x8d, 0xb9, 0x01, 0x01, 0x00, 0x00, 0xb9, 0x09, 0x00, 0x00,
	0x00, 0xf3, 0x48, 0xa5, 0x49, 0x8d, 0xb9, 0x82, 0x01, 0x00, 0x00, 0x49,
	0x8d, 0xb1, 0x80, 0x01, 0x00, 0x00, 0x44, 0x89, 0xc1, 0xf3, 0xa5, 0x49,
	0x8d, 0xb1, 0x80, 0x0f, 0x00, 0x00, 0x49, 0x8d, 0xb9, 0x00, 0x1f, 0x00,
	0x00, 0xb9, 0x28, 0x00, 0x00, 0x00, 0xf3, 0x48, 0xa5, 0xfd, 0x49, 0x8d,
	0xb1, 0x10, 0x10, 0x00, 0x00, 0x49, 0x8d, 0xb9, 0x00, 0x1e, 0x00, 0x00,
	0x44, 0x89, 0xc1, 0xf3, 0xa4, 0x49, 0x8d, 0xb1, 0x80, 0x01, 0x00, 0x00,
	0x49, 0x8d, 0xb9, 0x88, 0x01, 0x00, 0x00, 0xb9, 0x09, 0x00, 0x00, 0x00,
	0xf3, 0x48, 0xa5, 0xfc, 0x49, 0x8d, 0x79, 0x10, 0x49, 0x8d, 0xb1, 0x00,
	0x01, 0x00, 0x00, 0x48, 0xab, 0xaa, 0x66, 0xad, 0xa5, 0xa6, 0x0f, 0x92,
	0xc3, 0x41, 0x01, 0xda, 0x48, 0xaf, 0x0f, 0x97, 0xc3, 0x41, 0x01, 0xda,
	0xfd, 0xad, 0x41, 0x01, 0xc3, 0x66, 0xa5, 0xab, 0x48, 0xa7, 0x0f, 0x9c,
	0xc3, 0x41, 0x01, 0xda, 0xae, 0x0f, 0x94, 0xc3, 0x41, 0x01, 0xda, 0xfc,
	0x49, 0x8d, 0xb1, 0x00, 0x01, 0x00, 0x00, 0x49, 0x8d, 0xb9, 0x01, 0x01,
	0x00, 0x00, 0x44, 0x89, 0xc1, 0xf3, 0xa6, 0x49, 0x11, 0xca, 0x49, 0x8d,
	0xb1, 0x00, 0x01, 0x00, 0x00, 0x49, 0x8d, 0xb9, 0x00, 0x01, 0x00, 0x00,
	0xb9, 0x30, 0x00, 0x00, 0x00, 0xf3, 0xa7, 0x49, 0x11, 0xca, 0x49, 0x8d,
	0xb9, 0xf0, 0x0f, 0x00, 0x00, 0xb9, 0x00, 0x02, 0x00, 0x00, 0x44, 0x88,
	0xc0, 0xf2, 0xae, 0x49, 0x11, 0xca, 0x49, 0x01, 0xfa, 0xfd, 0x49, 0x8d,
	0xb9, 0x10, 0x10, 0x00, 0x00, 0xb9, 0x40, 0x00, 0x00, 0x00, 0xb8, 0x5a,
	0x5a, 0x5a, 0x5a, 0x66, 0xf3, 0xaf, 0x49, 0x11, 0xca, 0x49, 0x01, 0xfa,
	0x49, 0x8d, 0xb1, 0x08, 0x10, 0x00, 0x00, 0x49, 0x8d, 0xb9, 0x08, 0x01,
	0x00, 0x00, 0x44, 0x89, 0xc1, 0xf2, 0x48, 0xa7, 0x49, 0x11, 0xca, 0xfc,
	0x31, 0xc9, 0x41, 0x83, 0xf8, 0x1e, 0xf3, 0xa6, 0x0f, 0x92, 0xc3, 0x41,
	0x01, 0xda, 0xf3, 0x48, 0xab, 0x48, 0xbf, 0x00, 0x00, 0x00, 0x00, 0x55,
	0x55, 0x55, 0x55, 0x49, 0x8d, 0x81, 0x00, 0x03, 0x00, 0x00, 0x48, 0x09,
	0xc7, 0x48, 0xb9, 0x05, 0x00, 0x00, 0x00, 0x77, 0x77, 0x77, 0x77, 0x67,
	0x66, 0xf3, 0xab, 0x49, 0x01, 0xfa, 0x49, 0x01, 0xca, 0x41, 0xff, 0xc8,
	0x0f, 0x85, 0x2f, 0xfe, 0xff, 0xff, 0x4c, 0x89, 0xce, 0xb9, 0x00, 0x04,
	0x00, 0x00, 0x45, 0x31, 0xe4, 0x49, 0xc1, 0xc4, 0x07, 0x4c, 0x33, 0x26,
	0x48, 0x83, 0xc6, 0x08, 0xff, 0xc9, 0x75, 0xf1, 0xf4,
};

/* mov qword [PTE of 0x22000], 0; lea rdi, [rsi+0x1ff0]; mov ecx, 1000;
 * mov eax, 0x41; rep stosq; inc ecx; hlt: two elements in the page of
 * RDI, then #PF at 0x22000 with RCX = 998 */
static const uint8_t str_fault[] = {
	0x48, 0xc7, 0x04, 0x25, 0x10, 0x41, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x48, 0x8d, 0xbe, 0xf0, 0x1f, 0x00, 0x00, 0xb9, 0xe8, 0x03, 0x00, 0x00,
	0xb8, 0x41, 0x00, 0x00, 0x00, 0xf3, 0x48, 0xab, 0xff, 0xc1, 0xf4,
};

/* mov qword [PTE of 0x1f000], 0; std; lea rdi, [rsi+0x1010]; add rsi,
 * 0x10; mov ecx, 100; rep movsb; inc ecx; hlt: 17 bytes backward, then
 * #PF reading 0x1ffff with RCX = 83 */
static const uint8_t str_fault2[] = {
	0x48, 0xc7, 0x04, 0x25, 0xf8, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0xfd, 0x48, 0x8d, 0xbe, 0x10, 0x10, 0x00, 0x00, 0x48, 0x83, 0xc6, 0x10,
	0xb9, 0x64, 0x00, 0x00, 0x00, 0xf3, 0xa4, 0xff, 0xc1, 0xf4,
};

/* lea rdi, [rip+tgt+1]; mov eax, 0x22; mov ecx, 1; rep stosb; lea rdi,
 * [rip+tgt2+1]; stosb; tgt: mov bl, 0x11; tgt2: mov dl, 0x11; hlt: REP
 * STOS and STOS rewrite the immediates of the running block */
static const uint8_t str_smc[] = {
	0x48, 0x8d, 0x3d, 0x15, 0x00, 0x00, 0x00, 0xb8, 0x22, 0x00, 0x00, 0x00,
	0xb9, 0x01, 0x00, 0x00, 0x00, 0xf3, 0xaa, 0x48, 0x8d, 0x3d, 0x04, 0x00,
	0x00, 0x00, 0xaa, 0xb3, 0x11, 0xb2, 0x11, 0xf4,
};

/* a self-loop (the iterations counted in a register) whose REP STOS and
 * REP MOVS cross the page end at some iteration (the slow path inside
 * the loop): mov edx, 200; lea rdi, [rsi+0xf00]; lea rbx, [rsi+0xf03]
 * mov eax, 0x5a; loop: mov ecx, 5; rep stosb; xchg rsi, rbx
 * mov ecx, 3; rep movsb; xchg rsi, rbx; inc eax; dec edx; jnz loop
 * mov rsi, rbx; hlt */
static const uint8_t str_loop[] = {
	0xba, 0xc8, 0x00, 0x00, 0x00, 0x48, 0x8d, 0xbe, 0x00, 0x0f, 0x00, 0x00,
	0x48, 0x8d, 0x9e, 0x03, 0x0f, 0x00, 0x00, 0xb8, 0x5a, 0x00, 0x00, 0x00,
	0xb9, 0x05, 0x00, 0x00, 0x00, 0xf3, 0xaa, 0x48, 0x87, 0xde, 0xb9, 0x03,
	0x00, 0x00, 0x00, 0xf3, 0xa4, 0x48, 0x87, 0xde, 0xff, 0xc0, 0xff, 0xca,
	0x75, 0xe6, 0x48, 0x89, 0xde, 0xf4,
};

static void test_strings(void **state)
{
	struct outcome a, b, c;
	uint64_t frame_rip;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, strings, sizeof(strings), 0);
	run(&b, VMM_CFG_JIT_EAGER, strings, sizeof(strings), 0);
	run(&c, VMM_CFG_JIT, strings, sizeof(strings), 0);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	assert_true(b.compiled >= 2);
	same(&a, &b);
	same(&a, &c);
	/* none goes through the interpreter's entry (was 37 a loop) */
	assert_true(b.fallbacks <= 4);
	run(&a, VMM_CFG_NO_JIT, str_loop, sizeof(str_loop), 0);
	run(&b, VMM_CFG_JIT_EAGER, str_loop, sizeof(str_loop), 0);
	run(&c, VMM_CFG_JIT, str_loop, sizeof(str_loop), 0);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	same(&a, &b);
	same(&a, &c);
	assert_true(b.fallbacks <= 4);
	/* a fault in the middle of a REP: the elements before it done */
	run(&a, VMM_CFG_NO_JIT, str_fault, sizeof(str_fault), 0);
	run(&b, VMM_CFG_JIT_EAGER, str_fault, sizeof(str_fault), 0);
	same(&a, &b);
	memcpy(&frame_rip, b.kstack + sizeof(b.kstack) - 40, 8);
	assert_int_equal(frame_rip, ENV_CODE + 0x1d);
	assert_int_equal(b.st.gpr[VMM_RCX], 998);
	assert_int_equal(b.st.gpr[VMM_RDI], 0x22000);
	assert_int_equal(b.st.cr2, 0x22000);
	run(&a, VMM_CFG_NO_JIT, str_fault2, sizeof(str_fault2), 0);
	run(&b, VMM_CFG_JIT_EAGER, str_fault2, sizeof(str_fault2), 0);
	same(&a, &b);
	assert_int_equal(b.st.gpr[VMM_RCX], 83);
	assert_int_equal(b.st.gpr[VMM_RSI], 0x1ffff);
	assert_int_equal(b.st.gpr[VMM_RDI], ENV_DATA + 0x1010 - 17);
	assert_int_equal(b.st.cr2, 0x1ffff);
	/* SMC: the rewritten immediates run */
	run(&a, VMM_CFG_NO_JIT, str_smc, sizeof(str_smc), 0);
	run(&b, VMM_CFG_JIT_EAGER, str_smc, sizeof(str_smc), 0);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	same(&a, &b);
	assert_int_equal(b.st.gpr[VMM_RBX] & 0xff, 0x22);
	assert_int_equal(b.st.gpr[VMM_RDX] & 0xff, 0x22);
}

/*
 * LOCK forms of memory (compare-and-swap loops on the host pointer,
 * LOCK BTS/BTR/BTC, CMPXCHG8B/16B) with their flags read after them.
 * Source (intel): mov ecx, 100; xor edi, edi; mov r8, 0x0123456789abcdef
 * loop: lock add [rsi+rdi*8], r8; lock or byte [rsi+rdi+64], 0x5a
 *   lock and word [rsi+rdi*2+80], cx; lock sub dword [rsi+rdi*4+96],
 *   0x1234567; setb r9b; lock xor [rsi+128], r8; sete r10b; add r9d, r10d
 *   lock sub qword [rsi+rdi*8], 3; adc r11, r9
 *   lock inc dword [rsi+rdi*4+160]; adc r11d, 7; lock dec byte
 *   [rsi+rdi+192]; lock not qword [rsi+200]; lock neg word
 *   [rsi+rdi*2+208]; sbb r12, r11; lock bts dword [rsi+224], 37; adc
 *   r11, 0; lock btr qword [rsi+232], rcx; adc r11, 0; lock btc word
 *   [rsi+240], 3; adc r11, 0
 *   mov eax, [rsi+248]; mov edx, [rsi+252]; test cl, 1; jz 1f; not edx
 *   1: mov rbx, r8; lock cmpxchg8b [rsi+248]; setz r13b; add r11d, r13d
 *   add r11, rax; add r11, rdx; mov rax, [rsi+160]; mov rdx, [rsi+168]
 *   test cl, 2; jz 2f; inc rax; 2: lea rbx, [rcx+r11]; cmpxchg16b
 *   gs:[rsi+160]; pushfq; pop r14; and r14d, 0x8d5; add r11, r14; add r11,
 *   rax; inc edi; and edi, 7; dec ecx; jnz loop; hlt
 */
static const uint8_t lock_forms[] = {
	0xb9, 0x64, 0x00, 0x00, 0x00, 0x31, 0xff, 0x49, 0xb8, 0xef, 0xcd, 0xab,
	0x89, 0x67, 0x45, 0x23, 0x01, 0xf0, 0x4c, 0x01, 0x04, 0xfe, 0xf0, 0x80,
	0x4c, 0x3e, 0x40, 0x5a, 0x66, 0xf0, 0x21, 0x4c, 0x7e, 0x50, 0xf0, 0x81,
	0x6c, 0xbe, 0x60, 0x67, 0x45, 0x23, 0x01, 0x41, 0x0f, 0x92, 0xc1, 0xf0,
	0x4c, 0x31, 0x86, 0x80, 0x00, 0x00, 0x00, 0x41, 0x0f, 0x94, 0xc2, 0x45,
	0x01, 0xd1, 0xf0, 0x48, 0x83, 0x2c, 0xfe, 0x03, 0x4d, 0x11, 0xcb, 0xf0,
	0xff, 0x84, 0xbe, 0xa0, 0x00, 0x00, 0x00, 0x41, 0x83, 0xd3, 0x07, 0xf0,
	0xfe, 0x8c, 0x3e, 0xc0, 0x00, 0x00, 0x00, 0xf0, 0x48, 0xf7, 0x96, 0xc8,
	0x00, 0x00, 0x00, 0x66, 0xf0, 0xf7, 0x9c, 0x7e, 0xd0, 0x00, 0x00, 0x00,
	0x4d, 0x19, 0xdc, 0xf0, 0x0f, 0xba, 0xae, 0xe0, 0x00, 0x00, 0x00, 0x25,
	0x49, 0x83, 0xd3, 0x00, 0xf0, 0x48, 0x0f, 0xb3, 0x8e, 0xe8, 0x00, 0x00,
	0x00, 0x49, 0x83, 0xd3, 0x00, 0x66, 0xf0, 0x0f, 0xba, 0xbe, 0xf0, 0x00,
	0x00, 0x00, 0x03, 0x49, 0x83, 0xd3, 0x00, 0x8b, 0x86, 0xf8, 0x00, 0x00,
	0x00, 0x8b, 0x96, 0xfc, 0x00, 0x00, 0x00, 0xf6, 0xc1, 0x01, 0x74, 0x02,
	0xf7, 0xd2, 0x4c, 0x89, 0xc3, 0xf0, 0x0f, 0xc7, 0x8e, 0xf8, 0x00, 0x00,
	0x00, 0x41, 0x0f, 0x94, 0xc5, 0x45, 0x01, 0xeb, 0x49, 0x01, 0xc3, 0x49,
	0x01, 0xd3, 0x48, 0x8b, 0x86, 0xa0, 0x00, 0x00, 0x00, 0x48, 0x8b, 0x96,
	0xa8, 0x00, 0x00, 0x00, 0xf6, 0xc1, 0x02, 0x74, 0x03, 0x48, 0xff, 0xc0,
	0x4a, 0x8d, 0x1c, 0x19, 0x65, 0x48, 0x0f, 0xc7, 0x8e, 0xa0, 0x00, 0x00,
	0x00, 0x9c, 0x41, 0x5e, 0x41, 0x81, 0xe6, 0xd5, 0x08, 0x00, 0x00, 0x4d,
	0x01, 0xf3, 0x49, 0x01, 0xc3, 0xff, 0xc7, 0x83, 0xe7, 0x07, 0xff, 0xc9,
	0x0f, 0x85, 0x0f, 0xff, 0xff, 0xff, 0xf4,
};

/* mov eax, 5; mov ecx, 7; add eax, ecx; lock add [rdx], ecx; inc ecx;
 * hlt: the LOCK ADD faults (RDX unmapped) */
static const uint8_t lock_fault[] = {
	0xb8, 0x05, 0x00, 0x00, 0x00, 0xb9, 0x07, 0x00, 0x00, 0x00, 0x01, 0xc8,
	0xf0, 0x01, 0x0a, 0xff, 0xc1, 0xf4,
};

static void test_lock_cmpxchg8b(void **state)
{
	struct outcome a, b, c;
	uint64_t frame_rip;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, lock_forms, sizeof(lock_forms), 0);
	run(&b, VMM_CFG_JIT_EAGER, lock_forms, sizeof(lock_forms), 0);
	run(&c, VMM_CFG_JIT, lock_forms, sizeof(lock_forms), 0);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	assert_true(b.compiled >= 2);
	same(&a, &b);
	same(&a, &c);
	/* all translated (was 15 a loop) */
	assert_true(b.fallbacks <= 4);
	run(&a, VMM_CFG_NO_JIT, lock_fault, sizeof(lock_fault), 0x40000000);
	run(&b, VMM_CFG_JIT_EAGER, lock_fault, sizeof(lock_fault),
	    0x40000000);
	same(&a, &b);
	memcpy(&frame_rip, b.kstack + sizeof(b.kstack) - 40, 8);
	assert_int_equal(frame_rip, ENV_CODE + 12);
	assert_int_equal(b.st.gpr[VMM_RCX], 7);
	assert_int_equal(b.st.cr2, 0x40000000);
}

/*
 * SHLD/SHRD of 4 and 8 bytes, register and memory, by an immediate and
 * by CL (counts 0-63: a count of 0 keeps the flags of the AND before
 * it), their flags read (SETcc, ADC, PUSHFQ, JO).  Source (intel):
 *   mov ecx, 100; xor edi, edi; mov r8, 0x0123456789abcdef
 *   mov r9, 0xfedcba9876543210
 * loop: shld r8, r9, 7; setc r10b; shrd r9d, r8d, 13; seto r11b
 *   add r10d, r11d; shld [rsi+rdi*8], r9, cl; adc r10, 0
 *   shrd dword [rsi+rdi*4+64], r8d, 31; sets r11b; add r10d, r11d
 *   mov eax, ecx; and eax, 63; xchg eax, ecx; shrd r8, r9, cl; pushfq
 *   pop r12; and r12d, 0x8d5; add r10, r12; shld edx, r9d, cl
 *   xchg eax, ecx; cmp ecx, 50; shrd qword [rsi+128], r9, 1; jo 1f
 *   inc r13; 1: shld eax, edx, 0 (the interpreter's: nothing changes)
 *   add r10, rax; inc edi; and edi, 7; dec ecx; jnz loop; hlt
 */
static const uint8_t shxd[] = {
	0xb9, 0x64, 0x00, 0x00, 0x00, 0x31, 0xff, 0x49, 0xb8, 0xef, 0xcd, 0xab,
	0x89, 0x67, 0x45, 0x23, 0x01, 0x49, 0xb9, 0x10, 0x32, 0x54, 0x76, 0x98,
	0xba, 0xdc, 0xfe, 0x4d, 0x0f, 0xa4, 0xc8, 0x07, 0x41, 0x0f, 0x92, 0xc2,
	0x45, 0x0f, 0xac, 0xc1, 0x0d, 0x41, 0x0f, 0x90, 0xc3, 0x45, 0x01, 0xda,
	0x4c, 0x0f, 0xa5, 0x0c, 0xfe, 0x49, 0x83, 0xd2, 0x00, 0x44, 0x0f, 0xac,
	0x44, 0xbe, 0x40, 0x1f, 0x41, 0x0f, 0x98, 0xc3, 0x45, 0x01, 0xda, 0x89,
	0xc8, 0x83, 0xe0, 0x3f, 0x91, 0x4d, 0x0f, 0xad, 0xc8, 0x9c, 0x41, 0x5c,
	0x41, 0x81, 0xe4, 0xd5, 0x08, 0x00, 0x00, 0x4d, 0x01, 0xe2, 0x44, 0x0f,
	0xa5, 0xca, 0x91, 0x83, 0xf9, 0x32, 0x4c, 0x0f, 0xac, 0x8e, 0x80, 0x00,
	0x00, 0x00, 0x01, 0x70, 0x03, 0x49, 0xff, 0xc5, 0x0f, 0xa4, 0xd0, 0x00,
	0x49, 0x01, 0xc2, 0xff, 0xc7, 0x83, 0xe7, 0x07, 0xff, 0xc9, 0x75, 0x97,
	0xf4,
};

static void test_shld_shrd(void **state)
{
	struct outcome a, b, c;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, shxd, sizeof(shxd), 0);
	run(&b, VMM_CFG_JIT_EAGER, shxd, sizeof(shxd), 0);
	run(&c, VMM_CFG_JIT, shxd, sizeof(shxd), 0);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	assert_true(b.compiled >= 2);
	same(&a, &b);
	same(&a, &c);
	/* only the SHLD by 0 (was 7 a loop) */
	assert_true(b.fallbacks <= 100 + 4);
}

/*
 * Shifts and rotates of 1- and 2-byte memory by 1, a constant and CL
 * (the flags of those by CL dead: the interpreter's otherwise), their
 * flags read.  Source (intel): mov ecx, 100; xor edi, edi
 * loop: shl byte [rsi+rdi], 1; setc r10b; sar word [rsi+rdi*2+32], 3
 *   adc r11, 0; shr byte [rsi+64], 7; seto r12b; add r10d, r12d
 *   rol word [rsi+rdi*2+80], 5; adc r11, 0; ror byte [rsi+rdi+96], 1
 *   pushfq; pop r12; and r12d, 0x8d5; add r10, r12; mov eax, ecx
 *   and eax, 7; xchg eax, ecx; shl word [rsi+rdi*2+112], cl
 *   add r13d, ecx; sar byte [rsi+rdi+128], cl; add r13d, ecx
 *   rol byte [rsi+136], cl; add r13d, ecx; xchg eax, ecx
 *   shr word [rsi+144], 2; inc edi; and edi, 15; dec ecx; jnz loop; hlt
 */
static const uint8_t shift_mem12[] = {
	0xb9, 0x64, 0x00, 0x00, 0x00, 0x31, 0xff, 0xd0, 0x24, 0x3e, 0x41, 0x0f,
	0x92, 0xc2, 0x66, 0xc1, 0x7c, 0x7e, 0x20, 0x03, 0x49, 0x83, 0xd3, 0x00,
	0xc0, 0x6e, 0x40, 0x07, 0x41, 0x0f, 0x90, 0xc4, 0x45, 0x01, 0xe2, 0x66,
	0xc1, 0x44, 0x7e, 0x50, 0x05, 0x49, 0x83, 0xd3, 0x00, 0xd0, 0x4c, 0x3e,
	0x60, 0x9c, 0x41, 0x5c, 0x41, 0x81, 0xe4, 0xd5, 0x08, 0x00, 0x00, 0x4d,
	0x01, 0xe2, 0x89, 0xc8, 0x83, 0xe0, 0x07, 0x91, 0x66, 0xd3, 0x64, 0x7e,
	0x70, 0x41, 0x01, 0xcd, 0xd2, 0xbc, 0x3e, 0x80, 0x00, 0x00, 0x00, 0x41,
	0x01, 0xcd, 0xd2, 0x86, 0x88, 0x00, 0x00, 0x00, 0x41, 0x01, 0xcd, 0x91,
	0x66, 0xc1, 0xae, 0x90, 0x00, 0x00, 0x00, 0x02, 0xff, 0xc7, 0x83, 0xe7,
	0x0f, 0xff, 0xc9, 0x75, 0x96, 0xf4,
};

static void test_shift_mem12(void **state)
{
	struct outcome a, b, c;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, shift_mem12, sizeof(shift_mem12), 0);
	run(&b, VMM_CFG_JIT_EAGER, shift_mem12, sizeof(shift_mem12), 0);
	run(&c, VMM_CFG_JIT, shift_mem12, sizeof(shift_mem12), 0);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	assert_true(b.compiled >= 2);
	same(&a, &b);
	same(&a, &c);
	/* all translated (was 9 a loop) */
	assert_true(b.fallbacks <= 4);
}

/*
 * MOVBE loads and stores of 8, 4 and 2 bytes (a 2-byte register keeps
 * its upper bytes).  Source (intel): mov ecx, 100; xor edi, edi
 *   mov r8, 0x0123456789abcdef
 * loop: movbe [rsi+rdi*8], r8; movbe r9, [rsi+rdi*8+8]
 *   movbe r10d, [rsi+rdi*4+64]; movbe [rsi+rdi*4+96], r9d
 *   movbe r11w, [rsi+rdi*2+128]; movbe [rsi+rdi*2+160], r10w
 *   add r8, r9; add r8, r10; add r8, r11; inc edi; and edi, 7; dec ecx
 *   jnz loop; hlt
 */
static const uint8_t movbe[] = {
	0xb9, 0x64, 0x00, 0x00, 0x00, 0x31, 0xff, 0x49, 0xb8, 0xef, 0xcd, 0xab,
	0x89, 0x67, 0x45, 0x23, 0x01, 0x4c, 0x0f, 0x38, 0xf1, 0x04, 0xfe, 0x4c,
	0x0f, 0x38, 0xf0, 0x4c, 0xfe, 0x08, 0x44, 0x0f, 0x38, 0xf0, 0x54, 0xbe,
	0x40, 0x44, 0x0f, 0x38, 0xf1, 0x4c, 0xbe, 0x60, 0x66, 0x44, 0x0f, 0x38,
	0xf0, 0x9c, 0x7e, 0x80, 0x00, 0x00, 0x00, 0x66, 0x44, 0x0f, 0x38, 0xf1,
	0x94, 0x7e, 0xa0, 0x00, 0x00, 0x00, 0x4d, 0x01, 0xc8, 0x4d, 0x01, 0xd0,
	0x4d, 0x01, 0xd8, 0xff, 0xc7, 0x83, 0xe7, 0x07, 0xff, 0xc9, 0x75, 0xbd,
	0xf4,
};

static void test_movbe(void **state)
{
	struct outcome a, b;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, movbe, sizeof(movbe), 0);
	run(&b, VMM_CFG_JIT_EAGER, movbe, sizeof(movbe), 0);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	assert_true(b.compiled >= 2);
	same(&a, &b);
	assert_true(b.fallbacks <= 4); /* (was 6 a loop) */
}

/*
 * RCL/RCR of every size, register and memory, by 1, constants and CL
 * (counts 0-63), the carry in from an ADD, a CMP and the rotates before,
 * CF and OF read.  Source (intel): mov ecx, 100; xor edi, edi
 *   mov r8, 0x0123456789abcdef
 * loop: add r8, rcx; rcl r8, 1; rcr r9d, 5; seto r10b; adc r11, r10
 *   rcl byte [rsi+rdi], 3; rcr word [rsi+rdi*2+32], 1; setc r10b
 *   add r11d, r10d; rcl dword [rsi+rdi*4+64], 31
 *   rcr qword [rsi+rdi*8+128], 63; pushfq; pop r12; and r12d, 0x8d5
 *   add r11, r12; mov eax, ecx; and eax, 63; xchg eax, ecx; cmp ecx, 30
 *   rcr r8, cl; rcl dword [rsi+200], cl; xchg eax, ecx; pushfq; pop r12
 *   and r12d, 0x8d5; add r11, r12; rcl bl, 4; rcr dx, 9; jo 1f; inc r13
 *   1: inc edi; and edi, 7; dec ecx; jnz loop; hlt
 */
static const uint8_t rcl_rcr[] = {
	0xb9, 0x64, 0x00, 0x00, 0x00, 0x31, 0xff, 0x49, 0xb8, 0xef, 0xcd, 0xab,
	0x89, 0x67, 0x45, 0x23, 0x01, 0x49, 0x01, 0xc8, 0x49, 0xd1, 0xd0, 0x41,
	0xc1, 0xd9, 0x05, 0x41, 0x0f, 0x90, 0xc2, 0x4d, 0x11, 0xd3, 0xc0, 0x14,
	0x3e, 0x03, 0x66, 0xd1, 0x5c, 0x7e, 0x20, 0x41, 0x0f, 0x92, 0xc2, 0x45,
	0x01, 0xd3, 0xc1, 0x54, 0xbe, 0x40, 0x1f, 0x48, 0xc1, 0x9c, 0xfe, 0x80,
	0x00, 0x00, 0x00, 0x3f, 0x9c, 0x41, 0x5c, 0x41, 0x81, 0xe4, 0xd5, 0x08,
	0x00, 0x00, 0x4d, 0x01, 0xe3, 0x89, 0xc8, 0x83, 0xe0, 0x3f, 0x91, 0x83,
	0xf9, 0x1e, 0x49, 0xd3, 0xd8, 0xd3, 0x96, 0xc8, 0x00, 0x00, 0x00, 0x91,
	0x9c, 0x41, 0x5c, 0x41, 0x81, 0xe4, 0xd5, 0x08, 0x00, 0x00, 0x4d, 0x01,
	0xe3, 0xc0, 0xd3, 0x04, 0x66, 0xc1, 0xda, 0x09, 0x70, 0x03, 0x49, 0xff,
	0xc5, 0xff, 0xc7, 0x83, 0xe7, 0x07, 0xff, 0xc9, 0x75, 0x8f, 0xf4,
};

static void test_rcl_rcr(void **state)
{
	struct outcome a, b, c;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, rcl_rcr, sizeof(rcl_rcr), 0);
	run(&b, VMM_CFG_JIT_EAGER, rcl_rcr, sizeof(rcl_rcr), 0);
	run(&c, VMM_CFG_JIT, rcl_rcr, sizeof(rcl_rcr), 0);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	assert_true(b.compiled >= 2);
	same(&a, &b);
	same(&a, &c);
	assert_true(b.fallbacks <= 4); /* (was 9 a loop) */
}

/*
 * String instructions of 32-bit code with DS based at 0x1000 (flat: its
 * base added; limited: the slow path checks it) and ES at 0: REP MOVSD
 * DS -> ES, a backward REP STOSB, REPE CMPSB, LODSD.  Source (intel,
 * 32-bit): mov edx, 50; loop: push esi; lea edi, [esi+0x1100]
 *   mov ecx, edx; and ecx, 31; rep movsd; pop esi; lea edi, [esi+0x1200]
 *   mov ecx, 7; mov eax, edx; std; rep stosb; cld; push esi; mov ecx, 20
 *   lea edi, [esi+0x1100]; repe cmpsb; pop esi; adc ebx, ecx; lodsd
 *   add ebx, eax; sub esi, 4; dec edx; jnz loop; hlt
 */
static const uint8_t strings32[] = {
	0xba, 0x32, 0x00, 0x00, 0x00, 0x56, 0x8d, 0xbe, 0x00, 0x11, 0x00, 0x00,
	0x89, 0xd1, 0x83, 0xe1, 0x1f, 0xf3, 0xa5, 0x5e, 0x8d, 0xbe, 0x00, 0x12,
	0x00, 0x00, 0xb9, 0x07, 0x00, 0x00, 0x00, 0x89, 0xd0, 0xfd, 0xf3, 0xaa,
	0xfc, 0x56, 0xb9, 0x14, 0x00, 0x00, 0x00, 0x8d, 0xbe, 0x00, 0x11, 0x00,
	0x00, 0xf3, 0xa6, 0x5e, 0x11, 0xcb, 0xad, 0x01, 0xc3, 0x83, 0xee, 0x04,
	0x4a, 0x75, 0xc6, 0xf4,
};

static void test_strings32(void **state)
{
	struct outcome a, b;
	struct vmm_segment ds;

	skip_without_jit();
	memset(&ds, 0, sizeof(ds));
	ds.selector = 0x10;
	ds.base = 0x1000;
	ds.limit = 0xffffffffu;
	ds.type = 3;
	ds.s = 1;
	ds.present = 1;
	ds.db = 1;
	ds.g = 1;
	for (unsigned k = 0; k < 2; k++) {
		if (k == 1)
			ds.limit = 0xfffffu; /* not flat */
		run32(&a, VMM_CFG_NO_JIT, ENV_PROT32, 0, strings32,
		      sizeof(strings32), 0, ENV_DATA - 0x1000, &ds, 0);
		run32(&b, VMM_CFG_JIT_EAGER, ENV_PROT32, 0, strings32,
		      sizeof(strings32), 0, ENV_DATA - 0x1000, &ds, 0);
		assert_int_equal(a.e.kind, VMM_EXIT_HLT);
		assert_true(b.compiled >= 2);
		same(&a, &b);
		if (k == 0)
			assert_true(b.fallbacks <= 4); /* (was 7 a loop) */
	}
}

/*
 * CLI: at CPL0 of 32-bit code (IF set by POPFD, interpreted, then
 * cleared by the translated CLI, PUSHFD after each); at CPL3 with IOPL 3
 * IF cleared (the HLT after it faults), with IOPL 0 a #GP with CLI's RIP
 * and the ADD before it done.  Sources (intel):
 *   mov ecx, 100; loop: pushfd; or dword [esp], 0x200; popfd; pushfd
 *   pop edx; add ebx, edx; cli; pushfd; pop edx; add ebx, edx; dec ecx
 *   jnz loop; hlt
 *   mov eax, 5; mov ecx, 7; add eax, ecx; cli; inc ecx; hlt (64-bit)
 */
static const uint8_t cli32[] = {
	0xb9, 0x64, 0x00, 0x00, 0x00, 0x9c, 0x81, 0x0c, 0x24, 0x00, 0x02, 0x00,
	0x00, 0x9d, 0x9c, 0x5a, 0x01, 0xd3, 0xfa, 0x9c, 0x5a, 0x01, 0xd3, 0x49,
	0x75, 0xeb, 0xf4,
};

static const uint8_t cli_gp[] = {
	0xb8, 0x05, 0x00, 0x00, 0x00, 0xb9, 0x07, 0x00, 0x00, 0x00, 0x01, 0xc8,
	0xfa, 0xff, 0xc1, 0xf4,
};

static void test_cli(void **state)
{
	struct outcome a, b;
	uint64_t frame_rip;

	skip_without_jit();
	run32(&a, VMM_CFG_NO_JIT, ENV_PROT32, 0, cli32, sizeof(cli32), 0,
	      ENV_DATA, NULL, 0);
	run32(&b, VMM_CFG_JIT_EAGER, ENV_PROT32, 0, cli32, sizeof(cli32), 0,
	      ENV_DATA, NULL, 0);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	same(&a, &b);
	assert_int_equal(b.st.rflags & 0x200, 0);
	/* POPFD ends its block: the CLI's block has no other fallback */
	assert_true(b.fallbacks <= 100 + 4);
	/* CPL3: IOPL 3 (the environment's) clears IF (and the HLT
	 * faults); IOPL 0: #GP at the CLI */
	for (unsigned k = 0; k < 2; k++) {
		struct outcome *o[2] = { &a, &b };
		for (unsigned m = 0; m < 2; m++) {
			struct tvm t;
			struct vmm_vcpu_stats st;

			tvm_create(&t, m ? VMM_CFG_JIT_EAGER : VMM_CFG_NO_JIT);
			tvm_setup(&t, ENV_LONG64, 3, cli_gp, sizeof(cli_gp));
			t.st.rflags |= 0x200;
			if (k)
				t.st.rflags &= ~0x3000ull;
			tvm_set(&t);
			o[m]->e = tvm_run(&t);
			o[m]->st = t.st;
			st = stats(t.cpu);
			o[m]->insns = st.insns_retired;
			assert_int_equal(vmm_mem_read(t.vm, ENV_KSTACK - 64,
						      o[m]->kstack, 64), 0);
			tvm_destroy(&t);
		}
		assert_int_equal(a.st.rip, b.st.rip);
		assert_int_equal(a.st.rflags, b.st.rflags);
		assert_int_equal(a.insns, b.insns);
		for (int r = 0; r < 16; r++)
			assert_int_equal(a.st.gpr[r], b.st.gpr[r]);
		assert_memory_equal(a.kstack, b.kstack, 64);
		assert_int_equal(b.st.rip, ENV_HANDLERS + 16 * 13 + 1);
		memcpy(&frame_rip, b.kstack + sizeof(b.kstack) - 40, 8);
		assert_int_equal(frame_rip, ENV_CODE + (k ? 12 : 15));
		assert_int_equal(b.st.gpr[VMM_RAX], 12);
		assert_int_equal(b.st.gpr[VMM_RCX], k ? 7 : 8);
	}
}

/*
 * 16-bit PUSH/POP of registers (SP and R8W-R10W included) in 64-bit
 * and 32-bit code.  Sources (intel): mov ecx, 100
 *   mov r8, 0x1111222233334444; loop: push r8w; push cx; pop r9w
 *   add r8, r9; push ax; pop r10w; pop dx; add r11, rdx; add r11, r10
 *   mov ax, sp; push sp; pop bx; sub bx, ax; add r11, rbx; dec ecx
 *   jnz loop; hlt
 *   (32-bit) mov ecx, 100; loop: push cx; push si; pop dx; pop di
 *   add ebx, edx; add ebx, edi; push sp; pop ax; add ebx, eax; dec ecx
 *   jnz loop; hlt
 */
static const uint8_t pp16[] = {
	0xb9, 0x64, 0x00, 0x00, 0x00, 0x49, 0xb8, 0x44, 0x44, 0x33, 0x33, 0x22,
	0x22, 0x11, 0x11, 0x66, 0x41, 0x50, 0x66, 0x51, 0x66, 0x41, 0x59, 0x4d,
	0x01, 0xc8, 0x66, 0x50, 0x66, 0x41, 0x5a, 0x66, 0x5a, 0x49, 0x01, 0xd3,
	0x4d, 0x01, 0xd3, 0x66, 0x89, 0xe0, 0x66, 0x54, 0x66, 0x5b, 0x66, 0x29,
	0xc3, 0x49, 0x01, 0xdb, 0xff, 0xc9, 0x75, 0xd7, 0xf4,
};

static const uint8_t pp16_32[] = {
	0xb9, 0x64, 0x00, 0x00, 0x00, 0x66, 0x51, 0x66, 0x56, 0x66, 0x5a, 0x66,
	0x5f, 0x01, 0xd3, 0x01, 0xfb, 0x66, 0x54, 0x66, 0x58, 0x01, 0xc3, 0x49,
	0x75, 0xeb, 0xf4,
};

static void test_push_pop16(void **state)
{
	static const enum env_mode modes[2] = { ENV_PROT32, ENV_COMPAT32 };
	struct outcome a, b;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, pp16, sizeof(pp16), 0);
	run(&b, VMM_CFG_JIT_EAGER, pp16, sizeof(pp16), 0);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	same(&a, &b);
	assert_true(b.fallbacks <= 4); /* (was 8 a loop) */
	for (unsigned m = 0; m < 2; m++) {
		run32(&a, VMM_CFG_NO_JIT, modes[m], 0, pp16_32,
		      sizeof(pp16_32), 0, ENV_DATA, NULL, 0);
		run32(&b, VMM_CFG_JIT_EAGER, modes[m], 0, pp16_32,
		      sizeof(pp16_32), 0, ENV_DATA, NULL, 0);
		assert_int_equal(a.e.kind, VMM_EXIT_HLT);
		same(&a, &b);
		assert_true(b.fallbacks <= 4);
	}
}

/*
 * SWAPGS: at CPL0 a loop of SWAPGS and a GS-based load (GS.base and
 * KernelGSbase at two data areas), the bases exchanged 102 times; at
 * CPL3 a #GP at the first SWAPGS.  Source (intel): mov ecx, 101; loop: swapgs
 *   mov rax, gs:[rcx*8]; add rbx, rax; dec ecx; jnz loop; mov rax, 5
 *   mov ecx, 7; add eax, ecx; swapgs; inc ecx; hlt
 */
static const uint8_t swapgs[] = {
	0xb9, 0x65, 0x00, 0x00, 0x00, 0x0f, 0x01, 0xf8, 0x65, 0x48, 0x8b, 0x04,
	0xcd, 0x00, 0x00, 0x00, 0x00, 0x48, 0x01, 0xc3, 0xff, 0xc9, 0x75, 0xed,
	0x48, 0xc7, 0xc0, 0x05, 0x00, 0x00, 0x00, 0xb9, 0x07, 0x00, 0x00, 0x00,
	0x01, 0xc8, 0x0f, 0x01, 0xf8, 0xff, 0xc1, 0xf4,
};

static void test_swapgs(void **state)
{
	struct outcome o[2];

	skip_without_jit();
	for (unsigned cpl = 0; cpl < 4; cpl += 3) {
		for (unsigned m = 0; m < 2; m++) {
			struct tvm t;
			struct vmm_vcpu_stats st;

			tvm_create(&t, m ? VMM_CFG_JIT_EAGER : VMM_CFG_NO_JIT);
			tvm_setup(&t, ENV_LONG64, cpl, swapgs, sizeof(swapgs));
			t.st.seg[VMM_GS].base = ENV_DATA;
			t.st.msr.kernel_gs_base = ENV_DATA + 0x400;
			tvm_set(&t);
			o[m].e = tvm_run(&t);
			o[m].st = t.st;
			st = stats(t.cpu);
			o[m].insns = st.insns_retired;
			o[m].fallbacks = st.jit_fallbacks;
			assert_int_equal(vmm_mem_read(t.vm, ENV_KSTACK - 64,
						      o[m].kstack, 64), 0);
			tvm_destroy(&t);
		}
		assert_int_equal(o[0].e.kind, o[1].e.kind);
		assert_int_equal(o[0].st.rip, o[1].st.rip);
		assert_int_equal(o[0].st.rflags, o[1].st.rflags);
		assert_int_equal(o[0].insns, o[1].insns);
		for (int r = 0; r < 16; r++)
			assert_int_equal(o[0].st.gpr[r], o[1].st.gpr[r]);
		assert_int_equal(o[0].st.seg[VMM_GS].base,
				 o[1].st.seg[VMM_GS].base);
		assert_int_equal(o[0].st.msr.kernel_gs_base,
				 o[1].st.msr.kernel_gs_base);
		assert_memory_equal(o[0].kstack, o[1].kstack, 64);
		if (cpl == 0) {
			/* 102 exchanges: the bases back where they were */
			assert_int_equal(o[1].e.kind, VMM_EXIT_HLT);
			assert_int_equal(o[1].st.seg[VMM_GS].base, ENV_DATA);
			assert_true(o[1].fallbacks <= 4); /* (was 1 a loop) */
		} else {
			/* #GP at the first SWAPGS */
			assert_int_equal(o[1].st.rip,
					 ENV_HANDLERS + 16 * 13 + 1);
			assert_int_equal(o[1].st.gpr[VMM_RCX], 101);
		}
	}
}

/*
 * ENTER imm16, 0 in a called function (the frame used, then LEAVE).
 * Source (intel): mov ecx, 100; mov rbp, 0x1234; loop: call f
 *   add rbx, rax; dec ecx; jnz loop; hlt
 *   f: enter 40, 0; mov [rbp-8], rcx; lea rax, [rsp+rcx]; sub rax, rbp
 *   add rax, [rbp-8]; leave; ret
 */
static const uint8_t enter64[] = {
	0xb9, 0x64, 0x00, 0x00, 0x00, 0x48, 0xc7, 0xc5, 0x34, 0x12, 0x00, 0x00,
	0xe8, 0x08, 0x00, 0x00, 0x00, 0x48, 0x01, 0xc3, 0xff, 0xc9, 0x75, 0xf4,
	0xf4, 0xc8, 0x28, 0x00, 0x00, 0x48, 0x89, 0x4d, 0xf8, 0x48, 0x8d, 0x04,
	0x0c, 0x48, 0x29, 0xe8, 0x48, 0x03, 0x45, 0xf8, 0xc9, 0xc3,
};

static void test_enter(void **state)
{
	struct outcome a, b;

	skip_without_jit();
	run(&a, VMM_CFG_NO_JIT, enter64, sizeof(enter64), 0);
	run(&b, VMM_CFG_JIT_EAGER, enter64, sizeof(enter64), 0);
	assert_int_equal(a.e.kind, VMM_EXIT_HLT);
	same(&a, &b);
	assert_true(b.fallbacks <= 4); /* (was 1 a call) */
}

static void test_interpreter_only(void **state)
{
	struct outcome a, b;

	run(&a, VMM_CFG_JIT_EAGER | VMM_CFG_DETERMINISTIC, forms,
	    sizeof(forms), 0);
	run(&b, VMM_CFG_JIT_EAGER | VMM_CFG_NO_JIT, forms, sizeof(forms), 0);
	assert_int_equal(a.compiled, 0);
	assert_int_equal(b.compiled, 0);
	assert_int_equal(a.insns, b.insns);
	assert_int_equal(a.st.gpr[VMM_RDX], b.st.gpr[VMM_RDX]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_as_interpreter),
		cmocka_unit_test(test_precise_fault),
		cmocka_unit_test(test_smc),
		cmocka_unit_test(test_calls),
		cmocka_unit_test(test_same_as_interpreter2),
		cmocka_unit_test(test_pending_flags_fault),
		cmocka_unit_test(test_flags_of_shifts_imul),
		cmocka_unit_test(test_mem_cmp_slow_path),
		cmocka_unit_test(test_adc_sbb),
		cmocka_unit_test(test_rotates_live),
		cmocka_unit_test(test_32bit),
		cmocka_unit_test(test_32bit_segments),
		cmocka_unit_test(test_32bit_precise_fault),
		cmocka_unit_test(test_shift_cl),
		cmocka_unit_test(test_self_loop),
		cmocka_unit_test(test_self_loop_fault),
		cmocka_unit_test(test_self_loop_fault_top),
		cmocka_unit_test(test_shift_flags_fault),
		cmocka_unit_test(test_self_loop_smc),
		cmocka_unit_test(test_region_interp_calls),
		cmocka_unit_test(test_region_self_loop),
		cmocka_unit_test(test_muldiv_shift_cl_live),
		cmocka_unit_test(test_32bit_branches),
		cmocka_unit_test(test_cond_outside_block),
		cmocka_unit_test(test_loop_cond_outside),
		cmocka_unit_test(test_bt_bswap),
		cmocka_unit_test(test_uncached_address_regs),
		cmocka_unit_test(test_patched_link_smc),
		cmocka_unit_test(test_patched_link_kick),
		cmocka_unit_test(test_patched_link_regs),
		cmocka_unit_test(test_patched_link_flags),
		cmocka_unit_test(test_patched_link_ret),
		cmocka_unit_test(test_xchg_cmpxchg_xadd),
		cmocka_unit_test(test_mem_alu_flags_slow_path),
		cmocka_unit_test(test_bitscan_movseg),
		cmocka_unit_test(test_bt_mem_reg),
		cmocka_unit_test(test_shift_mem),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_lock_cmpxchg8b),
		cmocka_unit_test(test_shld_shrd),
		cmocka_unit_test(test_shift_mem12),
		cmocka_unit_test(test_movbe),
		cmocka_unit_test(test_rcl_rcr),
		cmocka_unit_test(test_strings32),
		cmocka_unit_test(test_cli),
		cmocka_unit_test(test_push_pop16),
		cmocka_unit_test(test_swapgs),
		cmocka_unit_test(test_enter),

		cmocka_unit_test(test_32bit_segment_change),
		cmocka_unit_test(test_interpreter_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
