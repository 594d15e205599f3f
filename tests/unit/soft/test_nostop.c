/* SPDX-License-Identifier: MIT */
/*
 * test_nostop.c - a guest cannot stop the software backend by executing
 * instructions (issue #11): each case here used to end in
 * VMM_EXIT_INTERNAL and now has its architectural outcome.
 *
 * - an instruction fetch from a guest-physical address that is neither RAM
 *   nor ROM reads open bus (all-ones): FF FF is FF /7, reserved, so #UD
 *   with the frame's EIP at the fetched address;
 * - FXSAVE into device memory: 512 one-byte MMIO writes, in address order;
 * - FXRSTOR from device memory: 512 one-byte MMIO reads, then the image
 *   the device returned is loaded;
 * - the SSE3 forms of 0F 12 / 0F 16, which no model advertises: #UD.
 */
#include "soft_test.h"

#define IDT32 0xc800
#define HOLE 0x02000000u /* above ENV_RAM: no RAM, no device */

static uint32_t r32(struct tvm *t, uint64_t gpa)
{
	uint32_t v;

	assert_int_equal(vmm_mem_read(t->vm, gpa, &v, 4), 0);
	return v;
}

/* 32-bit protected mode at CPL0, no paging, IDT of 32-bit interrupt gates
 * to the environment's per-vector HLTs */
static void setup32(struct tvm *t, const void *code, size_t len)
{
	for (unsigned v = 0; v < 32; v++) {
		uint32_t h = ENV_HANDLERS + v * 16;
		uint64_t g = (h & 0xffff) | ((uint64_t)ENV_KCODE32 << 16) |
			     (0x8eull << 40) | ((uint64_t)(h >> 16) << 48);
		assert_int_equal(vmm_mem_write(t->vm, IDT32 + v * 8, &g, 8), 0);
	}
	tvm_setup(t, ENV_PROT32, 0, code, len);
	t->st.idtr.base = IDT32;
	t->st.idtr.limit = 32 * 8 - 1;
	tvm_set(t);
}

static struct vmm_exit run_checked(struct tvm *t)
{
	struct vmm_exit e = tvm_run(t);

	if (e.kind == VMM_EXIT_INTERNAL)
		fail_msg("internal exit: %s", e.internal.msg);
	return e;
}

static void test_fetch_open_bus(void **state)
{
	static const uint8_t code[] = {
		0xb8, 0x00, 0x00, 0x00, 0x02, /* mov eax, HOLE */
		0xff, 0xe0,                   /* jmp eax */
	};
	struct tvm t;
	struct vmm_exit e;

	(void)state;
	tvm_create(&t, 0);
	setup32(&t, code, sizeof(code));
	e = run_checked(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(env_vector_of(t.st.rip), 6);
	/* #UD frame: EIP, CS, EFLAGS; EIP is the open-bus address */
	assert_int_equal(r32(&t, t.st.gpr[VMM_RSP] & 0xffffffff), HOLE);
	assert_int_equal(r32(&t, (t.st.gpr[VMM_RSP] + 4) & 0xffffffff) &
				 0xffff,
			 ENV_KCODE32);
	/* again from the translated block: still #UD, no stop */
	setup32(&t, code, sizeof(code));
	e = run_checked(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(env_vector_of(t.st.rip), 6);
	tvm_destroy(&t);
}

/* an instruction that starts in RAM and ends on an open-bus page */
static void test_fetch_split_open_bus(void **state)
{
	struct tvm t;
	struct vmm_exit e;
	const uint8_t b8 = 0xb8; /* mov eax, imm32: 4 bytes from open bus */
	static const uint8_t code[] = {
		0xb8, 0xff, 0xff, 0xff, 0x00, /* mov eax, ENV_RAM - 1 */
		0xff, 0xe0,                   /* jmp eax */
	};

	(void)state;
	tvm_create(&t, 0);
	assert_int_equal(vmm_mem_write(t.vm, ENV_RAM - 1, &b8, 1), 0);
	setup32(&t, code, sizeof(code));
	e = run_checked(&t);
	/* mov eax, 0xffffffff, then FF FF at ENV_RAM + 4: #UD */
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(env_vector_of(t.st.rip), 6);
	assert_int_equal(t.st.gpr[VMM_RAX] & 0xffffffff, 0xffffffffu);
	assert_int_equal(r32(&t, t.st.gpr[VMM_RSP] & 0xffffffff),
			 (uint32_t)ENV_RAM + 4);
	tvm_destroy(&t);
}

static void test_fxsave_mmio(void **state)
{
	static const uint8_t code[] = {
		0x0f, 0xae, 0x05, 0x00, 0x00, 0x00, 0x02, /* fxsave [HOLE] */
		0xf4,                                     /* hlt */
	};
	struct tvm t;
	struct vmm_exit e;
	unsigned n = 0;
	uint8_t img[512];

	(void)state;
	tvm_create(&t, 0);
	setup32(&t, code, sizeof(code));
	t.st.fpu.fcw = 0x37f;
	t.st.fpu.mxcsr = 0x1f80;
	tvm_set(&t);
	for (;;) {
		e = run_checked(&t);
		if (e.kind != VMM_EXIT_MMIO)
			break;
		assert_true(e.mmio.is_write);
		assert_int_equal(e.mmio.len, 1);
		assert_int_equal(e.mmio.gpa, HOLE + n);
		assert_true(n < sizeof(img));
		img[n++] = e.mmio.data[0];
	}
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(t.st.rip, ENV_CODE + sizeof(code));
	assert_int_equal(n, 512);
	assert_int_equal(img[0] | img[1] << 8, 0x37f);
	assert_int_equal(img[24] | img[25] << 8, 0x1f80);
	tvm_destroy(&t);
}

static void test_fxrstor_mmio(void **state)
{
	static const uint8_t code[] = {
		0x0f, 0xae, 0x0d, 0x00, 0x00, 0x00, 0x02, /* fxrstor [HOLE] */
		0xf4,                                     /* hlt */
	};
	struct tvm t;
	struct vmm_exit e;
	unsigned n = 0;

	(void)state;
	tvm_create(&t, 0);
	setup32(&t, code, sizeof(code));
	for (;;) {
		e = run_checked(&t);
		if (e.kind != VMM_EXIT_MMIO)
			break;
		assert_false(e.mmio.is_write);
		assert_int_equal(e.mmio.len, 1);
		/* the device: FCW 0x27f, MXCSR 0x1fa0, XMM0 bytes 0x60.. */
		{
			uint64_t off = e.mmio.gpa - HOLE;
			uint8_t v = 0;
			if (off == 0)
				v = 0x7f;
			else if (off == 1)
				v = 0x02;
			else if (off == 24)
				v = 0xa0;
			else if (off == 25)
				v = 0x1f;
			else if (off >= 160 && off < 176)
				v = (uint8_t)(0x60 + off - 160);
			e.mmio.data[0] = v;
		}
		n++;
		assert_true(n <= 4096); /* re-issued reads are replayed */
	}
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(t.st.rip, ENV_CODE + sizeof(code));
	assert_int_equal(n, 512);
	assert_int_equal(t.st.fpu.fcw, 0x27f);
	assert_int_equal(t.st.fpu.mxcsr, 0x1fa0);
	for (unsigned k = 0; k < 16; k++)
		assert_int_equal(t.st.fpu.xmm[0][k], 0x60 + k);
	tvm_destroy(&t);
}

/* MOVSLDUP / MOVDDUP / MOVSHDUP: SSE3, not advertised: #UD at the insn */
static void test_sse3_ud(void **state)
{
	static const uint8_t forms[3][4] = {
		{ 0xf3, 0x0f, 0x12, 0xc1 }, /* movsldup xmm0, xmm1 */
		{ 0xf2, 0x0f, 0x12, 0xc1 }, /* movddup xmm0, xmm1 */
		{ 0xf3, 0x0f, 0x16, 0xc1 }, /* movshdup xmm0, xmm1 */
	};
	struct tvm t;

	(void)state;
	tvm_create(&t, 0);
	for (unsigned k = 0; k < 3; k++) {
		struct vmm_exit e;

		setup32(&t, forms[k], sizeof(forms[k]));
		e = run_checked(&t);
		assert_int_equal(e.kind, VMM_EXIT_HLT);
		assert_int_equal(env_vector_of(t.st.rip), 6);
		assert_int_equal(r32(&t, t.st.gpr[VMM_RSP] & 0xffffffff),
				 ENV_CODE);
	}
	tvm_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fetch_open_bus),
		cmocka_unit_test(test_fetch_split_open_bus),
		cmocka_unit_test(test_fxsave_mmio),
		cmocka_unit_test(test_fxrstor_mmio),
		cmocka_unit_test(test_sse3_ud),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
