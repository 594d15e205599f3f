/* SPDX-License-Identifier: MIT */
/*
 * test_fidelity.c - system-level semantics of the software backend that
 * external test kernels found wrong (issue #11): the stack-address size
 * after SS loads (the AP start-up sequence).
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ss_size_after_mode_switch),
		cmocka_unit_test(test_ss_size_16),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
