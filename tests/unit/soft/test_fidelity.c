/* SPDX-License-Identifier: MIT */
/*
 * test_fidelity.c - system-level semantics of the software backend that
 * external test kernels found wrong (issue #11): the stack-address size
 * after SS loads (the AP start-up sequence), hostile page tables (reserved
 * bits, tables outside RAM) ...
 */
#include "soft_test.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ss_size_after_mode_switch),
		cmocka_unit_test(test_ss_size_16),
		cmocka_unit_test(test_pagewalk_hostile),
		cmocka_unit_test(test_ltr_lldt_canonical),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
