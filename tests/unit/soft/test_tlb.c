/* SPDX-License-Identifier: MIT */
/*
 * test_tlb.c - the software backend's TLB flushes (src/cpu/soft/mmu.c): a
 * CR3 load drops the non-global translations (data and code, also after
 * the log of filled slots overflowed) and keeps the global ones; clearing
 * CR4.PGE and INVLPG drop global ones; INVLPG of any address in a large
 * page drops all of that page's translations.  A remapped page must be
 * seen right after the flush, by loads and by code that was chained and
 * compiled before.
 */
#include "soft_test.h"

#define PTE(lin) (ENV_PT + ((lin) >> 12) * 8)
#define PT_P 1u
#define PT_RW 2u
#define PT_G 0x100u

/* pages: 0x40000 holds 0x11, 0x41000 0x22; code at 0x50000 returns 1,
 * at 0x51000 2; the large page at 2 MiB holds 0x33 at +0x1000, the one at
 * 4 MiB 0x44 */
static void pages(struct tvm *t)
{
	static const uint8_t fn1[] = { 0xb8, 1, 0, 0, 0, 0xc3 };
	static const uint8_t fn2[] = { 0xb8, 2, 0, 0, 0, 0xc3 };
	uint8_t b;

	b = 0x11;
	assert_int_equal(vmm_mem_write(t->vm, 0x40000, &b, 1), 0);
	b = 0x22;
	assert_int_equal(vmm_mem_write(t->vm, 0x41000, &b, 1), 0);
	b = 0x33;
	assert_int_equal(vmm_mem_write(t->vm, 0x201000, &b, 1), 0);
	b = 0x44;
	assert_int_equal(vmm_mem_write(t->vm, 0x401000, &b, 1), 0);
	assert_int_equal(vmm_mem_write(t->vm, 0x50000, fn1, sizeof(fn1)), 0);
	assert_int_equal(vmm_mem_write(t->vm, 0x51000, fn2, sizeof(fn2)), 0);
}

static void pte(struct tvm *t, uint64_t lin, uint64_t v)
{
	assert_int_equal(vmm_mem_write(t->vm, PTE(lin), &v, 8), 0);
}

static void run_code(struct tvm *t, const uint8_t *code, size_t len,
		     bool pge)
{
	struct vmm_exit e;

	tvm_setup(t, ENV_LONG64, 0, code, len);
	if (pge)
		t->st.cr4 |= VMM_CR4_PGE;
	tvm_set(t);
	e = tvm_run(t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
}

/* movzx eax, [0x40000]; remap 0x40000 -> 0x41000 (P|RW); mov cr3, cr3;
 * movzx edx, [0x40000]; hlt */
static const uint8_t cr3_data[] = {
	0x0f, 0xb6, 0x04, 0x25, 0x00, 0x00, 0x04, 0x00,
	0x48, 0xc7, 0xc1, 0x03, 0x10, 0x04, 0x00,
	0x48, 0x89, 0x0c, 0x25, 0x00, 0x42, 0x00, 0x00,
	0x0f, 0x20, 0xd9, 0x0f, 0x22, 0xd9,
	0x0f, 0xb6, 0x14, 0x25, 0x00, 0x00, 0x04, 0x00,
	0xf4,
};

static void test_cr3_drops_nonglobal(void **state)
{
	struct tvm t;

	(void)state;
	tvm_create(&t, 0);
	pages(&t);
	run_code(&t, cr3_data, sizeof(cr3_data), true);
	assert_int_equal(t.st.gpr[VMM_RAX], 0x11);
	assert_int_equal(t.st.gpr[VMM_RDX], 0x22);
	tvm_destroy(&t);
}

/* 600 loads from 4 KiB pieces of the large pages at 2 MiB (more slots
 * than the log of non-global fills holds), then the same as cr3_data */
static const uint8_t cr3_overflow[] = {
	0x48, 0xc7, 0xc6, 0x00, 0x00, 0x20, 0x00,
	0xb9, 0x58, 0x02, 0x00, 0x00,
	0x0f, 0xb6, 0x06,
	0x48, 0x81, 0xc6, 0x00, 0x10, 0x00, 0x00,
	0xff, 0xc9, 0x75, 0xf2,
	0x0f, 0xb6, 0x04, 0x25, 0x00, 0x00, 0x04, 0x00,
	0x48, 0xc7, 0xc1, 0x03, 0x10, 0x04, 0x00,
	0x48, 0x89, 0x0c, 0x25, 0x00, 0x42, 0x00, 0x00,
	0x0f, 0x20, 0xd9, 0x0f, 0x22, 0xd9,
	0x0f, 0xb6, 0x14, 0x25, 0x00, 0x00, 0x04, 0x00,
	0xf4,
};

static void test_cr3_after_overflow(void **state)
{
	struct tvm t;

	(void)state;
	tvm_create(&t, 0);
	pages(&t);
	run_code(&t, cr3_overflow, sizeof(cr3_overflow), true);
	assert_int_equal(t.st.gpr[VMM_RAX], 0x11);
	assert_int_equal(t.st.gpr[VMM_RDX], 0x22);
	tvm_destroy(&t);
}

/*
 * r8 = 2; twice: 100 calls of 0x50000 (the call and its target get
 * chained and compiled), then remap 0x50000 -> 0x51000 (PTE value
 * patched in below) and flush (the CR3 load or INVLPG [0x50000] patched
 * in); hlt with the last result in eax.
 */
static const uint8_t code_cr3[] = {
	0x49, 0xc7, 0xc0, 0x02, 0x00, 0x00, 0x00,
	0x41, 0xb9, 0x64, 0x00, 0x00, 0x00,
	0x48, 0xc7, 0xc0, 0x00, 0x00, 0x05, 0x00,
	0xff, 0xd0,
	0x41, 0xff, 0xc9, 0x75, 0xf2,
	0x49, 0xff, 0xc8, 0x74, 0x17,
	0x48, 0xc7, 0xc1, 0x03, 0x10, 0x05, 0x00,
	0x48, 0x89, 0x0c, 0x25, 0x80, 0x42, 0x00, 0x00,
	0x0f, 0x20, 0xd9, 0x0f, 0x22, 0xd9,
	0xeb, 0xd0,
	0xf4,
};
static const uint8_t code_invlpg[] = {
	0x49, 0xc7, 0xc0, 0x02, 0x00, 0x00, 0x00,
	0x41, 0xb9, 0x64, 0x00, 0x00, 0x00,
	0x48, 0xc7, 0xc0, 0x00, 0x00, 0x05, 0x00,
	0xff, 0xd0,
	0x41, 0xff, 0xc9, 0x75, 0xf2,
	0x49, 0xff, 0xc8, 0x74, 0x19,
	0x48, 0xc7, 0xc1, 0x03, 0x11, 0x05, 0x00, /* G */
	0x48, 0x89, 0x0c, 0x25, 0x80, 0x42, 0x00, 0x00,
	0x0f, 0x01, 0x3c, 0x25, 0x00, 0x00, 0x05, 0x00,
	0xeb, 0xce,
	0xf4,
};

static void test_remapped_code(void **state)
{
	struct tvm t;

	(void)state;
	/* non-global code page, CR3 load */
	tvm_create(&t, 0);
	pages(&t);
	run_code(&t, code_cr3, sizeof(code_cr3), true);
	assert_int_equal(t.st.gpr[VMM_RAX], 2);
	tvm_destroy(&t);

	/* global code page, INVLPG */
	tvm_create(&t, 0);
	pages(&t);
	pte(&t, 0x50000, 0x50000 | PT_P | PT_RW | PT_G);
	run_code(&t, code_invlpg, sizeof(code_invlpg), true);
	assert_int_equal(t.st.gpr[VMM_RAX], 2);
	tvm_destroy(&t);
}

/* movzx eax, [0x201000]; PDE of 2 MiB -> 4 MiB; invlpg [0x205000] (another
 * 4 KiB piece of the same large page); movzx edx, [0x201000]; hlt */
static const uint8_t large_invlpg[] = {
	0x0f, 0xb6, 0x04, 0x25, 0x00, 0x10, 0x20, 0x00,
	0x48, 0xc7, 0xc1, 0x83, 0x00, 0x40, 0x00,
	0x48, 0x89, 0x0c, 0x25, 0x08, 0x30, 0x00, 0x00,
	0x0f, 0x01, 0x3c, 0x25, 0x00, 0x50, 0x20, 0x00,
	0x0f, 0xb6, 0x14, 0x25, 0x00, 0x10, 0x20, 0x00,
	0xf4,
};

static void test_invlpg_large(void **state)
{
	struct tvm t;

	(void)state;
	tvm_create(&t, 0);
	pages(&t);
	run_code(&t, large_invlpg, sizeof(large_invlpg), true);
	assert_int_equal(t.st.gpr[VMM_RAX], 0x33);
	assert_int_equal(t.st.gpr[VMM_RDX], 0x44);
	tvm_destroy(&t);
}

/* movzx eax, [0x40000]; remap (G); clear CR4.PGE; movzx edx, [0x40000] */
static const uint8_t pge_off[] = {
	0x0f, 0xb6, 0x04, 0x25, 0x00, 0x00, 0x04, 0x00,
	0x48, 0xc7, 0xc1, 0x03, 0x11, 0x04, 0x00,
	0x48, 0x89, 0x0c, 0x25, 0x00, 0x42, 0x00, 0x00,
	0x0f, 0x20, 0xe1,
	0x48, 0x81, 0xe1, 0x7f, 0xff, 0xff, 0xff,
	0x0f, 0x22, 0xe1,
	0x0f, 0xb6, 0x14, 0x25, 0x00, 0x00, 0x04, 0x00,
	0xf4,
};

static void test_pge_off_drops_global(void **state)
{
	struct tvm t;

	(void)state;
	tvm_create(&t, 0);
	pages(&t);
	pte(&t, 0x40000, 0x40000 | PT_P | PT_RW | PT_G);
	run_code(&t, pge_off, sizeof(pge_off), true);
	assert_int_equal(t.st.gpr[VMM_RAX], 0x11);
	assert_int_equal(t.st.gpr[VMM_RDX], 0x22);
	tvm_destroy(&t);
}

/* movzx eax, [0x40000]; mov cr3, cr3; movzx edx, [0x40000]; hlt */
static const uint8_t cr3_keep[] = {
	0x0f, 0xb6, 0x04, 0x25, 0x00, 0x00, 0x04, 0x00,
	0x0f, 0x20, 0xd9, 0x0f, 0x22, 0xd9,
	0x0f, 0xb6, 0x14, 0x25, 0x00, 0x00, 0x04, 0x00,
	0xf4,
};

static uint64_t misses(struct tvm *t)
{
	struct vmm_vcpu_stats s;

	memset(&s, 0, sizeof(s));
	s.struct_size = sizeof(s);
	assert_int_equal(vmm_vcpu_get_stats(t->cpu, &s), 0);
	return s.tlb_misses;
}

/* A global translation survives a CR3 load (one walk fewer than the same
 * run with a non-global one); without CR4.PGE the G bit means nothing. */
static void test_cr3_keeps_global(void **state)
{
	uint64_t m[3];
	struct tvm t;

	(void)state;
	for (int k = 0; k < 3; k++) {
		uint64_t m0;
		tvm_create(&t, 0);
		pages(&t);
		if (k > 0)
			pte(&t, 0x40000, 0x40000 | PT_P | PT_RW | PT_G);
		m0 = misses(&t);
		run_code(&t, cr3_keep, sizeof(cr3_keep), k == 1);
		m[k] = misses(&t) - m0;
		assert_int_equal(t.st.gpr[VMM_RDX], 0x11);
		tvm_destroy(&t);
	}
	assert_int_equal(m[0], m[1] + 1);
	assert_int_equal(m[2], m[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cr3_drops_nonglobal),
		cmocka_unit_test(test_cr3_after_overflow),
		cmocka_unit_test(test_remapped_code),
		cmocka_unit_test(test_invlpg_large),
		cmocka_unit_test(test_pge_off_drops_global),
		cmocka_unit_test(test_cr3_keeps_global),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
