/* SPDX-License-Identifier: MIT */
/*
 * test_fidelity.c - system-level semantics of the software backend that
 * external test kernels found wrong (issue #11): the stack-address size
 * after SS loads (the AP start-up sequence), hostile page tables (reserved
 * bits, tables outside RAM) ...
 */
#include "soft_test.h"

#include <sys/mman.h>
#include <unistd.h>

/* a 16-bit flat data segment (B = 0) for the SS tests, in the free GDT
 * slot 0x30 of tests/diff/env.c */
#define SEL_DATA16 0x30

static void put_desc(struct tvm *t, unsigned sel, uint64_t d)
{
	assert_int_equal(vmm_mem_write(t->vm, ENV_GDT + sel, &d, 8), 0);
}

static uint64_t rd64(struct tvm *t, uint64_t gpa)
{
	uint64_t v = 0;

	assert_int_equal(vmm_mem_read(t->vm, gpa, &v, 8), 0);
	return v;
}

/*
 * Real mode -> protected mode, then MOV SS of a flat 32-bit data segment
 * and CALL/RET: the CALL must push at SS:ESP (32-bit stack), as an AP's
 * start-up trampoline expects.
 */
static void test_ss_size_after_mode_switch(void **state)
{
	struct tvm t;
	struct vmm_exit e;
	static const uint8_t code[] = {
		/* 16-bit, CS = 0x1000 */
		0x0f, 0x20, 0xc0,                   /* 00: mov eax, cr0 */
		0x0c, 0x01,                         /* 03: or al, 1 */
		0x0f, 0x22, 0xc0,                   /* 05: mov cr0, eax */
		0x66, 0xea, 0x10, 0x00, 0x01, 0x00, 0x38, 0x00,
		                                    /* 08: jmp dword 0x38:0x10010 */
		/* 32-bit */
		0x66, 0xbb, 0x10, 0x00,             /* 10: mov bx, 0x10 */
		0x8e, 0xd3,                         /* 14: mov ss, bx */
		0xbc, 0x00, 0x00, 0x03, 0x00,       /* 16: mov esp, 0x30000 */
		0xe8, 0x01, 0x00, 0x00, 0x00,       /* 1b: call 0x21 */
		0xf4,                               /* 20: hlt */
		0x8b, 0x04, 0x24,                   /* 21: mov eax, [esp] */
		0x89, 0xe1,                         /* 24: mov ecx, esp */
		0xc3,                               /* 26: ret */
	};

	(void)state;
	tvm_create(&t, 0);
	tvm_setup(&t, ENV_REAL, 0, code, sizeof(code));
	t.st.gdtr.base = ENV_GDT;
	t.st.gdtr.limit = 0x4f;
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(t.st.rip, ENV_CODE + 0x21);
	assert_int_equal(t.st.gpr[VMM_RAX], ENV_CODE + 0x20);
	assert_int_equal(t.st.gpr[VMM_RCX], 0x30000 - 4);
	assert_int_equal(t.st.gpr[VMM_RSP], 0x30000);
	tvm_destroy(&t);
}

/*
 * 32-bit protected mode, MOV SS / POP SS / LSS of a 16-bit data segment:
 * PUSH then uses SP only (ESP's upper half stays), and back to a 32-bit
 * SS uses ESP again.
 */
static void test_ss_size_16(void **state)
{
	struct tvm t;
	struct vmm_exit e;
	static const uint8_t code[] = {
		0x66, 0xb8, SEL_DATA16, 0x00,       /* mov ax, 0x30 */
		0x8e, 0xd0,                         /* mov ss, ax */
		0xbc, 0xf0, 0xff, 0x01, 0x00,       /* mov esp, 0x1fff0 */
		0x6a, 0x11,                         /* push 0x11 */
		0x89, 0xe1,                         /* mov ecx, esp */
		0x6a, 0x10,                         /* push 0x10 (KDATA) */
		0x17,                               /* pop ss: 32-bit again */
		0xbc, 0xf0, 0xff, 0x01, 0x00,       /* mov esp, 0x1fff0 */
		0x6a, 0x22,                         /* push 0x22 */
		0x89, 0xe2,                         /* mov edx, esp */
		0x0f, 0xb2, 0x25, 0x00, 0x00, 0x02, 0x00, /* lss esp, [0x20000] */
		0x6a, 0x33,                         /* push 0x33 */
		0x89, 0xe3,                         /* mov ebx, esp */
		0xf4,                               /* hlt */
	};
	/* far pointer for LSS: offset 0x4fff8, selector DATA16 */
	static const uint8_t fp[] = { 0xf8, 0xff, 0x04, 0x00, SEL_DATA16, 0 };

	(void)state;
	tvm_create(&t, 0);
	/* base 0, limit 0xffff, data read/write, DPL 0, present, B = 0 */
	put_desc(&t, SEL_DATA16, 0x000093000000ffffull);
	tvm_setup(&t, ENV_PROT32, 0, code, sizeof(code));
	assert_int_equal(vmm_mem_write(t.vm, ENV_DATA, fp, sizeof(fp)), 0);
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(t.st.gpr[VMM_RCX], 0x1ffec);
	assert_int_equal(rd64(&t, 0xffec) & 0xffffffff, 0x11);
	assert_int_equal(t.st.gpr[VMM_RDX], 0x1ffec);
	assert_int_equal(rd64(&t, 0x1ffec) & 0xffffffff, 0x22);
	assert_int_equal(t.st.gpr[VMM_RBX], 0x4fff4);
	assert_int_equal(rd64(&t, 0xfff4) & 0xffffffff, 0x33);
	assert_int_equal(t.st.seg[VMM_SS].selector, SEL_DATA16);
	assert_int_equal(t.st.seg[VMM_SS].db, 0);
	tvm_destroy(&t);
}

/* #PF error code on the handler's stack (64-bit frame) */
static uint64_t pf_err(struct tvm *t)
{
	return rd64(t, t->st.gpr[VMM_RSP]);
}

/*
 * Hostile page tables on the soft MMU: a page table above guest RAM reads
 * as all-ones (open bus), which is a reserved-bit #PF, not a VMM stop; a
 * PTE with a bit at or above MAXPHYADDR (40) is a reserved-bit #PF; the
 * A and D bits are set by a successful access.
 */
static void test_pagewalk_hostile(void **state)
{
	struct tvm t;
	struct vmm_exit e;
	uint64_t pde = 0x80000000ull | 3; /* a "page table" at 2 GiB */
	uint64_t pte, saved;
	/* mov rax, [0x200010]; hlt */
	static const uint8_t rd_2m[] = { 0x48, 0x8b, 0x04, 0x25,
					 0x10, 0x00, 0x20, 0x00, 0xf4 };
	/* mov byte [ENV_DATA + 8], 1; hlt */
	static const uint8_t wr_data[] = { 0xc6, 0x04, 0x25, 0x08, 0x00,
					   0x02, 0x00, 0x01, 0xf4 };

	(void)state;
	tvm_create(&t, 0);
	saved = rd64(&t, ENV_PD + 8);
	assert_int_equal(vmm_mem_write(t.vm, ENV_PD + 8, &pde, 8), 0);
	tvm_setup(&t, ENV_LONG64, 0, rd_2m, sizeof(rd_2m));
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(env_vector_of(t.st.rip), 14);
	assert_int_equal(t.st.cr2, 0x200010);
	assert_int_equal(pf_err(&t), 0x9); /* P | RSVD */
	assert_int_equal(vmm_mem_write(t.vm, ENV_PD + 8, &saved, 8), 0);

	/* bit 40 in the PTE: reserved with MAXPHYADDR 40 */
	pte = ENV_DATA | 3 | (1ull << 40);
	assert_int_equal(vmm_mem_write(t.vm, ENV_PT + (ENV_DATA >> 12) * 8,
				       &pte, 8), 0);
	tvm_setup(&t, ENV_LONG64, 0, wr_data, sizeof(wr_data));
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(env_vector_of(t.st.rip), 14);
	assert_int_equal(pf_err(&t), 0xb); /* P | W | RSVD */
	assert_int_equal(rd64(&t, ENV_PT + (ENV_DATA >> 12) * 8), pte);

	/* a good PTE: the write sets A and D */
	pte = ENV_DATA | 3;
	assert_int_equal(vmm_mem_write(t.vm, ENV_PT + (ENV_DATA >> 12) * 8,
				       &pte, 8), 0);
	tvm_setup(&t, ENV_LONG64, 0, wr_data, sizeof(wr_data));
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(t.st.rip, ENV_CODE + sizeof(wr_data));
	assert_int_equal(rd64(&t, ENV_PT + (ENV_DATA >> 12) * 8),
			 ENV_DATA | 3 | 0x60);
	tvm_destroy(&t);
}

/* a system descriptor (16 bytes in long mode) at GDT offset @sel */
static void put_sys_desc(struct tvm *t, unsigned sel, uint64_t base,
			 uint32_t limit, unsigned type, uint32_t hi_type)
{
	uint64_t lo = (limit & 0xffff) | ((base & 0xffffff) << 16) |
		      ((uint64_t)type << 40) | (1ull << 47) |
		      ((uint64_t)((limit >> 16) & 0xf) << 48) |
		      (((base >> 24) & 0xff) << 56);
	uint64_t hi = (base >> 32) | ((uint64_t)hi_type << 40);

	put_desc(t, sel, lo);
	put_desc(t, sel + 8, hi);
}

/*
 * LTR/LLDT in 64-bit mode: a non-canonical base, or a non-zero type in
 * the descriptor's upper half, is #GP(selector); a good one loads.
 */
static void test_ltr_lldt_canonical(void **state)
{
	struct tvm t;
	struct vmm_exit e;
	static const uint8_t ltr[] = { 0x66, 0xb8, 0x50, 0x00, /* mov ax, 0x50 */
				       0x0f, 0x00, 0xd8,       /* ltr ax */
				       0xf4 };
	static const uint8_t lldt[] = { 0x66, 0xb8, 0x50, 0x00,
					0x0f, 0x00, 0xd0,       /* lldt ax */
					0xf4 };
	static const struct {
		const uint8_t *code;
		unsigned type;
		uint64_t base;
		uint32_t hi_type;
		bool ok;
	} cases[] = {
		{ ltr, 9, 0x0000800000006000ull, 0, false },
		{ ltr, 9, 0xffff7fff00006000ull, 0, false },
		{ ltr, 9, 0x0000000000006000ull, 1, false },
		{ ltr, 9, 0xffff800000006000ull, 0, true },
		{ lldt, 2, 0x0000800000007000ull, 0, false },
		{ lldt, 2, 0x00007fff00007000ull, 0, true },
	};

	(void)state;
	tvm_create(&t, 0);
	for (unsigned k = 0; k < ARRAY_SIZE(cases); k++) {
		put_sys_desc(&t, 0x50, cases[k].base, 0x67, cases[k].type,
			     cases[k].hi_type);
		tvm_setup(&t, ENV_LONG64, 0, cases[k].code, 8);
		t.st.gdtr.limit = 0x5f;
		tvm_set(&t);
		e = tvm_run(&t);
		assert_int_equal(e.kind, VMM_EXIT_HLT);
		if (cases[k].ok) {
			assert_int_equal(t.st.rip, ENV_CODE + 8);
			assert_int_equal(t.st.seg[cases[k].type == 9 ? VMM_TR :
						  VMM_LDTR].base,
					 cases[k].base);
		} else {
			assert_int_equal(env_vector_of(t.st.rip), 13);
			assert_int_equal(rd64(&t, t.st.gpr[VMM_RSP]), 0x50);
			assert_int_equal(rd64(&t, t.st.gpr[VMM_RSP] + 8),
					 ENV_CODE + 4);
		}
	}
	tvm_destroy(&t);
}

#define RF (1ull << 16)

/* RFLAGS in the 64-bit frame at RSP (@err: with an error code) */
static uint64_t frame_flags(struct tvm *t, bool err)
{
	return rd64(t, t->st.gpr[VMM_RSP] + (err ? 24 : 16));
}

/*
 * RFLAGS.RF: set in the frame of fault-class exceptions (#UD, #GP, #PF),
 * not in that of a trap (INT3); loaded by IRET and cleared again after
 * the next instruction.
 */
static void test_rf(void **state)
{
	struct tvm t;
	struct vmm_exit e;
	static const uint8_t iret_rf[] = {
		0x48, 0x89, 0xe0,                   /* 00: mov rax, rsp */
		0x6a, 0x10,                         /* 03: push 0x10 */
		0x50,                               /* 05: push rax */
		0x9c,                               /* 06: pushfq */
		0x48, 0x81, 0x0c, 0x24, 0x00, 0x00, 0x01, 0x00,
		                                    /* 07: or qword [rsp], RF */
		0x6a, 0x08,                         /* 0f: push 8 */
		0x48, 0x8d, 0x05, 0x03, 0x00, 0x00, 0x00,
		                                    /* 11: lea rax, [rip + 3] */
		0x50,                               /* 18: push rax */
		0x48, 0xcf,                         /* 19: iretq */
		0x90,                               /* 1b: nop (RF = 1) */
		0x0f, 0x0b,                         /* 1c: ud2 */
	};

	(void)state;
	tvm_create(&t, 0);
	tvm_setup(&t, ENV_LONG64, 0, "\x0f\x0b", 2); /* ud2 */
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(env_vector_of(t.st.rip), 6);
	assert_true(frame_flags(&t, false) & RF);
	assert_false(t.st.rflags & RF); /* the handler runs with RF = 0 */

	/* mov rax, [0x8000000000000000]: #GP(0) */
	tvm_setup(&t, ENV_LONG64, 0,
		  "\x48\xa1\x00\x00\x00\x00\x00\x00\x00\x80", 10);
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(env_vector_of(t.st.rip), 13);
	assert_true(frame_flags(&t, true) & RF);

	/* #PF at CPL3 (supervisor page), through the stack switch */
	uint64_t pte = ENV_DATA | 3;
	assert_int_equal(vmm_mem_write(t.vm, ENV_PT + (ENV_DATA >> 12) * 8,
				       &pte, 8), 0);
	tvm_setup(&t, ENV_LONG64, 3, "\x8b\x04\x25\x00\x00\x02\x00", 7);
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(env_vector_of(t.st.rip), 14);
	assert_true(frame_flags(&t, true) & RF);

	/* INT3 is a trap: RF = 0 in its frame */
	tvm_setup(&t, ENV_LONG64, 0, "\xcc", 1);
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(env_vector_of(t.st.rip), 3);
	assert_false(frame_flags(&t, false) & RF);

	/* IRET loads RF = 1; the NOP after it clears it again, so the
	 * UD2's frame has RF from the fault only, and the state after the
	 * NOP (single step) shows RF = 0 */
	tvm_setup(&t, ENV_LONG64, 0, iret_rf, sizeof(iret_rf));
	tvm_set(&t);
	assert_int_equal(vmm_vcpu_set_single_step(t.cpu, true), 0);
	for (int k = 0; k < 12; k++) {
		e = tvm_run(&t);
		assert_int_equal(e.kind, VMM_EXIT_DEBUG);
		if (t.st.rip == ENV_CODE + 0x1b)
			assert_true(t.st.rflags & RF);
		if (t.st.rip == ENV_CODE + 0x1c)
			break;
	}
	assert_int_equal(t.st.rip, ENV_CODE + 0x1c);
	assert_false(t.st.rflags & RF);
	assert_int_equal(vmm_vcpu_set_single_step(t.cpu, false), 0);
	e = tvm_run(&t);
	assert_int_equal(env_vector_of(t.st.rip), 6);
	tvm_destroy(&t);
}

#define MMIO_A 0x3f000000ull
#define MMIO_B 0x3f100000ull

/*
 * REP string instructions between two MMIO regions make progress one
 * element per exit with RIP/RCX/RSI/RDI architectural at every exit
 * (before: "too many device reads in one instruction" stopped the VM).
 */
static void test_rep_mmio(void **state)
{
	struct tvm t;
	struct vmm_exit e;
	static const uint8_t cmps[] = {
		0x48, 0xc7, 0xc6, 0x00, 0x00, 0x00, 0x3f, /* mov rsi, MMIO_A */
		0x48, 0xc7, 0xc7, 0x00, 0x00, 0x10, 0x3f, /* mov rdi, MMIO_B */
		0xb9, 0x14, 0x00, 0x00, 0x00,             /* mov ecx, 20 */
		0xf3, 0xa6,                               /* 13: repe cmpsb */
		0xf4,                                     /* 15: hlt */
	};
	static const uint8_t movs[] = {
		0x48, 0xc7, 0xc6, 0x00, 0x00, 0x00, 0x3f, /* mov rsi, MMIO_A */
		0x48, 0xc7, 0xc7, 0x00, 0x00, 0x10, 0x3f, /* mov rdi, MMIO_B */
		0xb9, 0x0a, 0x00, 0x00, 0x00,             /* mov ecx, 10 */
		0xf3, 0x66, 0xa5,                         /* 13: rep movsw */
		0xb0, 0x5a,                               /* 16: mov al, 0x5a */
		0xb9, 0x64, 0x00, 0x00, 0x00,             /* mov ecx, 100 */
		0xf3, 0xaa,                               /* 1d: rep stosb */
		0xf4,                                     /* 1f: hlt */
	};
	unsigned reads = 0, writes = 0;

	(void)state;
	tvm_create(&t, 0);
	tvm_setup(&t, ENV_LONG64, 0, cmps, sizeof(cmps));
	tvm_set(&t);
	for (;;) {
		e = tvm_run(&t);
		if (e.kind != VMM_EXIT_MMIO)
			break;
		assert_false(e.mmio.is_write);
		assert_int_equal(e.mmio.len, 1);
		assert_int_equal(t.st.rip, ENV_CODE + 0x13);
		/* registers show the elements done */
		assert_int_equal(t.st.gpr[VMM_RCX] + (t.st.gpr[VMM_RSI] - MMIO_A),
				 20);
		assert_int_equal(t.st.gpr[VMM_RSI] - MMIO_A,
				 t.st.gpr[VMM_RDI] - MMIO_B);
		uint64_t idx = e.mmio.gpa >= MMIO_B ? e.mmio.gpa - MMIO_B :
						      e.mmio.gpa - MMIO_A;
		assert_int_equal(idx, t.st.gpr[VMM_RSI] - MMIO_A);
		/* equal bytes except at index 12 */
		e.mmio.data[0] = (uint8_t)(idx + (e.mmio.gpa >= MMIO_B &&
						  idx == 12 ? 1 : 0));
		reads++;
	}
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(reads, 26);
	assert_int_equal(t.st.gpr[VMM_RCX], 7);
	assert_int_equal(t.st.gpr[VMM_RSI], MMIO_A + 13);
	assert_int_equal(t.st.gpr[VMM_RDI], MMIO_B + 13);
	assert_false(t.st.rflags & 0x40); /* ZF = 0: they differ */
	assert_true(t.st.rflags & 0x1);   /* CF: 12 < 13 */

	reads = 0;
	tvm_setup(&t, ENV_LONG64, 0, movs, sizeof(movs));
	tvm_set(&t);
	for (;;) {
		e = tvm_run(&t);
		if (e.kind != VMM_EXIT_MMIO)
			break;
		if (!e.mmio.is_write) {
			assert_int_equal(t.st.rip, ENV_CODE + 0x13);
			assert_int_equal(e.mmio.gpa, MMIO_A + reads * 2);
			assert_int_equal(e.mmio.len, 2);
			e.mmio.data[0] = (uint8_t)reads;
			e.mmio.data[1] = 0xee;
			reads++;
		} else if (writes < 10) {
			assert_int_equal(e.mmio.gpa, MMIO_B + writes * 2);
			assert_int_equal(e.mmio.len, 2);
			assert_int_equal(e.mmio.data[0], writes);
			assert_int_equal(e.mmio.data[1], 0xee);
			writes++;
		} else {
			assert_int_equal(e.mmio.gpa, MMIO_B + 20 + (writes - 10));
			assert_int_equal(e.mmio.len, 1);
			assert_int_equal(e.mmio.data[0], 0x5a);
			writes++;
		}
	}
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(reads, 10);
	assert_int_equal(writes, 110);
	assert_int_equal(t.st.gpr[VMM_RCX], 0);
	assert_int_equal(t.st.gpr[VMM_RDI], MMIO_B + 120);
	tvm_destroy(&t);
}

/* DR7 for breakpoint @k: L bit, R/W @rw, LEN @len */
static uint64_t dr7_bp(unsigned k, unsigned rw, unsigned len)
{
	return 0x400 | (1ull << (2 * k)) | ((uint64_t)rw << (16 + 4 * k)) |
	       ((uint64_t)len << (18 + 4 * k));
}

/* run to a HLT; the vector of the handler it stopped in (or -1) */
static int run_vec(struct tvm *t)
{
	struct vmm_exit e = tvm_run(t);

	assert_int_equal(e.kind, VMM_EXIT_HLT);
	return env_vector_of(t->st.rip);
}

/*
 * Instruction breakpoints: #DB fault before the instruction with B0 in
 * DR6 and RF = 0 in the frame; RF = 1 lets the instruction run.
 */
static void test_dr_instruction(void **state)
{
	struct tvm t;
	static const uint8_t code[] = { 0x90, 0x90, 0xf4 };

	(void)state;
	tvm_create(&t, 0);
	tvm_setup(&t, ENV_LONG64, 0, code, sizeof(code));
	t.st.dr[2] = ENV_CODE + 1;
	t.st.dr7 = dr7_bp(2, 0, 0);
	tvm_set(&t);
	assert_int_equal(run_vec(&t), 1);
	assert_int_equal(rd64(&t, t.st.gpr[VMM_RSP]), ENV_CODE + 1);
	assert_false(frame_flags(&t, false) & RF);
	assert_int_equal(t.st.dr6 & 0xf, 4);
	/* return with RF = 1: the breakpoint does not hit again */
	tvm_setup(&t, ENV_LONG64, 0, code, sizeof(code));
	t.st.rip = ENV_CODE + 1;
	t.st.rflags |= RF;
	t.st.dr[2] = ENV_CODE + 1;
	t.st.dr7 = dr7_bp(2, 0, 0);
	tvm_set(&t);
	assert_int_equal(run_vec(&t), -1);
	assert_int_equal(t.st.rip, ENV_CODE + 3);
	assert_false(t.st.rflags & RF);
	/* enabled by the guest itself with MOV DR7 in the running block:
	 * the very next instructions are checked */
	static const uint8_t self[] = {
		0x48, 0xc7, 0xc0, 0x17, 0x00, 0x01, 0x00, /* 00: mov rax, CODE+0x17 */
		0x0f, 0x23, 0xc0,                         /* 07: mov dr0, rax */
		0xb8, 0x01, 0x00, 0x00, 0x00,             /* 0a: mov eax, 1 */
		0x0f, 0x23, 0xf8,                         /* 0f: mov dr7, rax */
		0x90, 0x90, 0x90, 0x90, 0x90,             /* 12: nops */
		0x90,                                     /* 17: nop (bp) */
		0xf4,                                     /* 18: hlt */
	};
	tvm_setup(&t, ENV_LONG64, 0, self, sizeof(self));
	tvm_set(&t);
	assert_int_equal(run_vec(&t), 1);
	assert_int_equal(rd64(&t, t.st.gpr[VMM_RSP]), ENV_CODE + 0x17);
	assert_int_equal(t.st.dr6 & 0xf, 1);
	/* disabled (no L/G bit): nothing */
	tvm_setup(&t, ENV_LONG64, 0, code, sizeof(code));
	t.st.dr[2] = ENV_CODE + 1;
	t.st.dr7 = dr7_bp(2, 0, 0) & ~0x30ull;
	tvm_set(&t);
	assert_int_equal(run_vec(&t), -1);
	tvm_destroy(&t);
}

/*
 * Data breakpoints: a trap after the access with Bn in DR6; write-only
 * breakpoints ignore reads, lengths 1/2/4/8 cover aligned ranges.
 */
static void test_dr_data(void **state)
{
	struct tvm t;
	static const uint8_t code[] = {
		0x8b, 0x04, 0x25, 0x08, 0x00, 0x02, 0x00, /* 00: mov eax, [D+8] */
		0xc7, 0x04, 0x25, 0x0c, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00,
		                              /* 07: mov dword [D+12], 1 */
		0xc7, 0x04, 0x25, 0x08, 0x00, 0x02, 0x00, 0x05, 0x00, 0x00, 0x00,
		                              /* 12: mov dword [D+8], 5 */
		0xf4,                         /* 1d: hlt */
	};
	static const struct {
		unsigned rw, len;
		uint64_t addr;
		uint64_t rip;   /* frame RIP of the trap, 0 = none */
	} cases[] = {
		{ 1, 3, ENV_DATA + 8, ENV_CODE + 0x1d },  /* W, 4 bytes */
		{ 3, 3, ENV_DATA + 8, ENV_CODE + 0x07 },  /* RW: the read */
		{ 1, 0, ENV_DATA + 16, 0 },              /* W, byte 16: untouched */
		{ 1, 2, ENV_DATA + 8, ENV_CODE + 0x12 },  /* W, 8 bytes: [8,16) */
		{ 1, 1, ENV_DATA + 13, ENV_CODE + 0x12 }, /* W, 2 bytes: [12,14) */
	};

	(void)state;
	tvm_create(&t, 0);
	for (unsigned k = 0; k < ARRAY_SIZE(cases); k++) {
		tvm_setup(&t, ENV_LONG64, 0, code, sizeof(code));
		t.st.dr[1] = cases[k].addr;
		t.st.dr7 = dr7_bp(1, cases[k].rw, cases[k].len);
		tvm_set(&t);
		if (!cases[k].rip) {
			assert_int_equal(run_vec(&t), -1);
			continue;
		}
		assert_int_equal(run_vec(&t), 1);
		assert_int_equal(rd64(&t, t.st.gpr[VMM_RSP]), cases[k].rip);
		assert_int_equal(t.st.dr6 & 0xf, 2);
		assert_false(frame_flags(&t, false) & RF);
	}
	/* the store that hit was done */
	assert_int_equal(rd64(&t, ENV_DATA + 12) & 0xffffffff, 1);

	/* REP STOSB over a watched byte: the trap comes after that
	 * iteration, RIP on the instruction, RCX the bytes left, RF = 1 */
	tvm_setup(&t, ENV_LONG64, 0,
		  "\xb9\x20\x00\x00\x00"                 /* mov ecx, 32 */
		  "\x48\xc7\xc7\x00\x00\x02\x00"         /* mov rdi, D */
		  "\xf3\xaa\xf4", 15);                   /* rep stosb; hlt */
	t.st.dr[3] = ENV_DATA + 9;
	t.st.dr7 = dr7_bp(3, 1, 0);
	tvm_set(&t);
	assert_int_equal(run_vec(&t), 1);
	assert_int_equal(rd64(&t, t.st.gpr[VMM_RSP]), ENV_CODE + 12);
	assert_true(frame_flags(&t, false) & RF);
	assert_int_equal(t.st.gpr[VMM_RCX], 32 - 10);
	assert_int_equal(t.st.gpr[VMM_RDI], ENV_DATA + 10);
	assert_int_equal(t.st.dr6 & 0xf, 8);
	tvm_destroy(&t);
}

/*
 * DR7.GD: MOV DR is a #DB fault with BD, GD cleared; TF after MOV SS is
 * held for one instruction (the trap comes after the next one).
 */
static void test_dr_gd_and_ss_shadow(void **state)
{
	struct tvm t;
	static const uint8_t ss_code[] = {
		0x8c, 0xd0,       /* 00: mov eax, ss */
		0x8e, 0xd0,       /* 02: mov ss, eax */
		0x90,             /* 04: nop */
		0x90,             /* 05: nop */
		0xf4,
	};

	(void)state;
	tvm_create(&t, 0);
	tvm_setup(&t, ENV_LONG64, 0, "\x0f\x21\xc0\xf4", 4); /* mov rax, dr0 */
	t.st.dr7 = 0x2400;
	tvm_set(&t);
	assert_int_equal(run_vec(&t), 1);
	assert_int_equal(rd64(&t, t.st.gpr[VMM_RSP]), ENV_CODE);
	assert_true(frame_flags(&t, false) & RF); /* a fault */
	assert_true(t.st.dr6 & 0x2000);
	assert_false(t.st.dr7 & 0x2000);

	/* TF on the first instruction: trap right after it */
	tvm_setup(&t, ENV_LONG64, 0, ss_code, sizeof(ss_code));
	t.st.rflags |= 0x100;
	tvm_set(&t);
	assert_int_equal(run_vec(&t), 1);
	assert_int_equal(rd64(&t, t.st.gpr[VMM_RSP]), ENV_CODE + 2);
	assert_true(t.st.dr6 & 0x4000);
	/* from MOV SS: the trap comes after the NOP, with BS */
	tvm_setup(&t, ENV_LONG64, 0, ss_code, sizeof(ss_code));
	t.st.rip = ENV_CODE + 2;
	t.st.gpr[VMM_RAX] = 0x10;
	t.st.rflags |= 0x100;
	t.st.dr6 = 0xffff0ff0;
	tvm_set(&t);
	assert_int_equal(run_vec(&t), 1);
	assert_int_equal(rd64(&t, t.st.gpr[VMM_RSP]), ENV_CODE + 5);
	assert_true(t.st.dr6 & 0x4000);
	tvm_destroy(&t);
}

/* Hostile DR7/DR0-3 values: architectural outcomes only, never a stop. */
static void test_dr_random(void **state)
{
	struct tvm t;
	uint64_t x = 0x2545f4914f6cdd1dull;
	static const uint8_t code[] = {
		0xb9, 0x10, 0x00, 0x00, 0x00,             /* mov ecx, 16 */
		0x48, 0xc7, 0xc7, 0x00, 0x00, 0x02, 0x00, /* mov rdi, D */
		0xf3, 0xaa,                               /* rep stosb */
		0x8b, 0x04, 0x25, 0x00, 0x00, 0x02, 0x00, /* mov eax, [D] */
		0xff, 0xc9,                               /* dec ecx */
		0xf4,
	};

	(void)state;
	tvm_create(&t, 0);
	for (int k = 0; k < 300; k++) {
		struct vmm_exit e;
		tvm_setup(&t, ENV_LONG64, 0, code, sizeof(code));
		for (int d = 0; d < 4; d++) {
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			t.st.dr[d] = (x & 1) ? x : ENV_DATA + (x >> 8) % 32;
			if ((x & 6) == 2)
				t.st.dr[d] = ENV_CODE + (x >> 8) % 24;
		}
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		t.st.dr7 = (x & 0xffff2bff & ~0x2000ull) | 0x400;
		if (x & (1ull << 40))
			t.st.cr4 |= 8; /* DE */
		tvm_set(&t);
		e = tvm_run(&t);
		assert_true(e.kind == VMM_EXIT_HLT);
		int v = env_vector_of(t.st.rip);
		assert_true(v == -1 || v == 1);
	}
	tvm_destroy(&t);
}

/*
 * DR0-DR3/DR7 survive a snapshot: a data breakpoint set before the save
 * still hits after the restore (the restored soft vCPU decodes DR7 from
 * the loaded state).
 */
static void test_dr_snapshot(void **state)
{
	struct tvm t;
	struct vmm_save_opts so = { .flags = VMM_SAVE_NO_SYNC };
	struct vmm_cpu_state st;
	struct vmm_exit e;
	vmm_vm *nvm;
	vmm_vcpu *cpu;
	int fd = memfd_create("dr-snap", 0);
	static const uint8_t code[] = {
		0xc6, 0x04, 0x25, 0x04, 0x00, 0x02, 0x00, 0x07, /* mov [D+4], 7 */
		0xf4,
	};

	(void)state;
	assert_true(fd >= 0);
	tvm_create(&t, 0);
	tvm_setup(&t, ENV_LONG64, 0, code, sizeof(code));
	t.st.dr[0] = ENV_DATA + 4;
	t.st.dr7 = dr7_bp(0, 1, 0);
	tvm_set(&t);
	assert_int_equal(vmm_snapshot_save_fd(t.vm, fd, &so), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(vmm_snapshot_restore_fd(fd, NULL, &nvm), 0);
	close(fd);
	cpu = vmm_vm_get_vcpu(nvm, 0);
	assert_non_null(cpu);
	assert_int_equal(vmm_vcpu_get_state(cpu, &st), 0);
	assert_int_equal(st.dr[0], ENV_DATA + 4);
	assert_int_equal(st.dr7 & 0xfffff, dr7_bp(0, 1, 0) & 0xfffff);
	memset(&e, 0, sizeof(e));
	assert_int_equal(vmm_vcpu_run(cpu, &e), 0);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(vmm_vcpu_get_state(cpu, &st), 0);
	assert_int_equal(env_vector_of(st.rip), 1);
	assert_int_equal(st.dr6 & 0xf, 1);
	vmm_vm_destroy(nvm);
	tvm_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ss_size_after_mode_switch),
		cmocka_unit_test(test_ss_size_16),
		cmocka_unit_test(test_pagewalk_hostile),
		cmocka_unit_test(test_ltr_lldt_canonical),
		cmocka_unit_test(test_rf),
		cmocka_unit_test(test_rep_mmio),
		cmocka_unit_test(test_dr_instruction),
		cmocka_unit_test(test_dr_data),
		cmocka_unit_test(test_dr_gd_and_ss_shadow),
		cmocka_unit_test(test_dr_random),
		cmocka_unit_test(test_dr_snapshot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
