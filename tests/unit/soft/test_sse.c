/* SPDX-License-Identifier: MIT */
/*
 * test_sse.c - SSE/SSE2 floating point of the software backend.
 *
 * 1. Architectural constants: cases whose results the SDM fixes (the
 *    QNaN indefinite, integer indefinite, NaN propagation from the first
 *    source, SNaN quieting, rounding control, DAZ, FTZ, sticky flags,
 *    COMISS flags, #XM and #UD for unmasked exceptions with the
 *    destination unchanged).
 * 2. The host CPU as the oracle: each instruction form (SSE floating
 *    point and SSE2 integer) on xmm1/xmm2/rax runs from the same inputs
 *    (specials, denormals, random values, small shift counts) and a
 *    random MXCSR (every exception masked) on the software backend and
 *    natively in this process, from a small code buffer; XMM1, XMM2, RAX,
 *    MXCSR and the arithmetic flags must match bit for bit.
 */
#include "soft_test.h"

#include <sys/mman.h>

static struct tvm T;

static int setup(void **state)
{
	tvm_create(&T, 0);
	return 0;
}

static int teardown(void **state)
{
	tvm_destroy(&T);
	return 0;
}

struct io {
	uint8_t x1[16], x2[16];
	uint64_t rax;
	uint32_t mxcsr;
	uint64_t flags;
};

/* Run @code (+HLT) at CPL0 in 64-bit mode on the soft backend. */
static struct vmm_exit run_soft(const uint8_t *code, size_t len,
				struct io *io, bool osxmmexcpt)
{
	uint8_t buf[64];
	struct vmm_exit e;

	memcpy(buf, code, len);
	buf[len] = 0xf4;
	tvm_setup(&T, ENV_LONG64, 0, buf, len + 1);
	memcpy(T.st.fpu.xmm[1], io->x1, 16);
	memcpy(T.st.fpu.xmm[2], io->x2, 16);
	T.st.gpr[VMM_RAX] = io->rax;
	T.st.fpu.mxcsr = io->mxcsr;
	if (!osxmmexcpt)
		T.st.cr4 &= ~VMM_CR4_OSXMMEXCPT;
	tvm_set(&T);
	e = tvm_run(&T);
	memcpy(io->x1, T.st.fpu.xmm[1], 16);
	memcpy(io->x2, T.st.fpu.xmm[2], 16);
	io->rax = T.st.gpr[VMM_RAX];
	io->mxcsr = T.st.fpu.mxcsr;
	io->flags = T.st.rflags;
	return e;
}

static void put_f32(uint8_t *x, const uint32_t v[4])
{
	memcpy(x, v, 16);
}

static uint32_t lane32(const uint8_t *x, int k)
{
	uint32_t v;
	memcpy(&v, x + 4 * k, 4);
	return v;
}

static uint64_t lane64(const uint8_t *x, int k)
{
	uint64_t v;
	memcpy(&v, x + 8 * k, 8);
	return v;
}

/* one instruction with HLT, expecting HLT right after it */
static void run_one(const char *code, size_t len, struct io *io)
{
	struct vmm_exit e = run_soft((const uint8_t *)code, len, io, true);

	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(T.st.rip, ENV_CODE + len + 1);
}

static void test_constants(void **state)
{
	struct io io;

	/* addss 1.0 + 2^-24: round to nearest-even 1.0, up 1.0+ulp; PE */
	memset(&io, 0, sizeof(io));
	put_f32(io.x1, (uint32_t[4]){ 0x3f800000, 1, 2, 3 });
	put_f32(io.x2, (uint32_t[4]){ 0x33800000, 9, 9, 9 });
	io.mxcsr = 0x1f80;
	run_one("\xf3\x0f\x58\xca", 4, &io);
	assert_int_equal(lane32(io.x1, 0), 0x3f800000);
	assert_int_equal(lane32(io.x1, 1), 1); /* upper lanes kept */
	assert_int_equal(lane32(io.x1, 3), 3);
	assert_int_equal(io.mxcsr, 0x1f80 | 0x20);
	put_f32(io.x1, (uint32_t[4]){ 0x3f800000, 1, 2, 3 });
	io.mxcsr = 0x1f80 | 0x4000; /* RC = up */
	run_one("\xf3\x0f\x58\xca", 4, &io);
	assert_int_equal(lane32(io.x1, 0), 0x3f800001);
	put_f32(io.x1, (uint32_t[4]){ 0xbf800000, 1, 2, 3 });
	put_f32(io.x2, (uint32_t[4]){ 0xb3800000, 9, 9, 9 });
	io.mxcsr = 0x1f80 | 0x6000; /* RC = toward zero */
	run_one("\xf3\x0f\x58\xca", 4, &io);
	assert_int_equal(lane32(io.x1, 0), 0xbf800000);

	/* 0/0 -> QNaN indefinite, IE; 1/0 -> +inf, ZE (sticky: IE stays) */
	put_f32(io.x1, (uint32_t[4]){ 0, 0x3f800000, 0, 0 });
	put_f32(io.x2, (uint32_t[4]){ 0, 0, 0x3f800000, 0x3f800000 });
	io.mxcsr = 0x1f80;
	run_one("\x0f\x5e\xca", 3, &io); /* divps xmm1, xmm2 */
	assert_int_equal(lane32(io.x1, 0), 0xffc00000);
	assert_int_equal(lane32(io.x1, 1), 0x7f800000);
	assert_int_equal(lane32(io.x1, 2), 0);
	assert_int_equal(io.mxcsr, 0x1f80 | 0x1 | 0x4);

	/* NaN propagation: first source's NaN wins, SNaN quieted; a QNaN
	 * in the second source with a number in the first is returned */
	put_f32(io.x1, (uint32_t[4]){ 0x7fa00001, 0x3f800000, 0x7fc00001, 0 });
	put_f32(io.x2, (uint32_t[4]){ 0x7fc00002, 0xffc00003, 0x7fa00004, 0 });
	io.mxcsr = 0x1f80;
	run_one("\x0f\x58\xca", 3, &io); /* addps */
	assert_int_equal(lane32(io.x1, 0), 0x7fe00001);
	assert_int_equal(lane32(io.x1, 1), 0xffc00003);
	assert_int_equal(lane32(io.x1, 2), 0x7fc00001);
	assert_int_equal(io.mxcsr, 0x1f80 | 0x1); /* SNaN: IE */

	/* double indefinite from sqrt(-1) */
	memset(&io, 0, sizeof(io));
	{
		uint64_t v[2] = { 0xbff0000000000000ull, 0x4010000000000000ull };
		memcpy(io.x2, v, 16);
	}
	io.mxcsr = 0x1f80;
	run_one("\x66\x0f\x51\xca", 4, &io); /* sqrtpd */
	assert_true(lane64(io.x1, 0) == 0xfff8000000000000ull);
	assert_true(lane64(io.x1, 1) == 0x4000000000000000ull);
	assert_int_equal(io.mxcsr, 0x1f81);

	/* integer indefinite: cvttss2si eax, NaN; cvtsd2si rax, 2^63 */
	memset(&io, 0, sizeof(io));
	put_f32(io.x2, (uint32_t[4]){ 0x7fc00000, 0, 0, 0 });
	io.rax = ~0ull;
	io.mxcsr = 0x1f80;
	run_one("\xf3\x0f\x2c\xc2", 4, &io);
	assert_true(io.rax == 0x80000000ull); /* zero-extended */
	assert_int_equal(io.mxcsr, 0x1f81);
	{
		uint64_t v[2] = { 0x43e0000000000000ull, 0 };
		memcpy(io.x2, v, 16);
	}
	io.mxcsr = 0x1f80;
	run_one("\xf2\x48\x0f\x2d\xc2", 5, &io);
	assert_true(io.rax == 0x8000000000000000ull);
	/* cvtsi2sd xmm1, rax (64-bit source, inexact) */
	io.rax = 0x7fffffffffffffffull;
	io.mxcsr = 0x1f80;
	run_one("\xf2\x48\x0f\x2a\xc8", 5, &io);
	assert_true(lane64(io.x1, 0) == 0x43e0000000000000ull);
	assert_int_equal(io.mxcsr, 0x1fa0);

	/* DAZ: a denormal input is zero (no DE); FTZ: a tiny result is 0
	 * with UE and PE */
	memset(&io, 0, sizeof(io));
	put_f32(io.x1, (uint32_t[4]){ 0x00000001, 0, 0, 0 });
	put_f32(io.x2, (uint32_t[4]){ 0x3f800000, 0, 0, 0 });
	io.mxcsr = 0x1f80;
	run_one("\xf3\x0f\x59\xca", 4, &io); /* mulss: denormal * 1 */
	assert_int_equal(lane32(io.x1, 0), 1);
	assert_int_equal(io.mxcsr, 0x1f80 | 0x2); /* DE only: exact */
	io.mxcsr = 0x1f80 | 0x40;
	run_one("\xf3\x0f\x59\xca", 4, &io);
	assert_int_equal(lane32(io.x1, 0), 0);
	assert_int_equal(io.mxcsr, 0x1f80 | 0x40);
	put_f32(io.x1, (uint32_t[4]){ 0x00800000, 0, 0, 0 });
	put_f32(io.x2, (uint32_t[4]){ 0x3f000001, 0, 0, 0 });
	io.mxcsr = 0x1f80 | 0x8000;
	run_one("\xf3\x0f\x59\xca", 4, &io); /* min normal * ~0.5 */
	assert_int_equal(lane32(io.x1, 0), 0);
	assert_int_equal(io.mxcsr, 0x1f80 | 0x8000 | 0x30);

	/* comiss: unordered -> ZF PF CF, IE for a QNaN; ucomiss: no IE */
	memset(&io, 0, sizeof(io));
	put_f32(io.x1, (uint32_t[4]){ 0x7fc00000, 0, 0, 0 });
	put_f32(io.x2, (uint32_t[4]){ 0x3f800000, 0, 0, 0 });
	io.mxcsr = 0x1f80;
	run_one("\x0f\x2f\xca", 3, &io);
	assert_int_equal(io.flags & 0x8d5, 0x45);
	assert_int_equal(io.mxcsr, 0x1f81);
	io.mxcsr = 0x1f80;
	run_one("\x0f\x2e\xca", 3, &io);
	assert_int_equal(io.flags & 0x8d5, 0x45);
	assert_int_equal(io.mxcsr, 0x1f80);
	put_f32(io.x1, (uint32_t[4]){ 0xbf800000, 0, 0, 0 }); /* -1 < 1 */
	run_one("\x0f\x2e\xca", 3, &io);
	assert_int_equal(io.flags & 0x8d5, 0x01);

	/* cmpltps: all-ones / zero masks; NaN compares false */
	put_f32(io.x1, (uint32_t[4]){ 0x3f800000, 0x40000000, 0x7fc00000, 0 });
	put_f32(io.x2, (uint32_t[4]){ 0x40000000, 0x3f800000, 0, 0x80000000 });
	io.mxcsr = 0x1f80;
	run_one("\x0f\xc2\xca\x01", 4, &io);
	assert_int_equal(lane32(io.x1, 0), 0xffffffff);
	assert_int_equal(lane32(io.x1, 1), 0);
	assert_int_equal(lane32(io.x1, 2), 0);
	assert_int_equal(lane32(io.x1, 3), 0); /* 0 < -0 is false */
	assert_int_equal(io.mxcsr, 0x1f81); /* LT signals on QNaN */
}

/* unmasked exceptions: #XM (or #UD without CR4.OSXMMEXCPT), flag set,
 * destination unchanged */
static void test_unmasked(void **state)
{
	struct io io;
	struct vmm_exit e;

	memset(&io, 0, sizeof(io));
	put_f32(io.x1, (uint32_t[4]){ 0x3f800000, 5, 6, 7 });
	put_f32(io.x2, (uint32_t[4]){ 0, 0, 0, 0 });
	io.mxcsr = 0x1f80 & ~0x200; /* ZM clear */
	e = run_soft((const uint8_t *)"\xf3\x0f\x5e\xca", 4, &io, true);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(env_vector_of(T.st.rip), 19);
	assert_int_equal(lane32(io.x1, 0), 0x3f800000);
	assert_int_equal(io.mxcsr, (0x1f80 & ~0x200) | 0x4);

	put_f32(io.x1, (uint32_t[4]){ 0x3f800000, 5, 6, 7 });
	io.mxcsr = 0x1f80 & ~0x200;
	e = run_soft((const uint8_t *)"\xf3\x0f\x5e\xca", 4, &io, false);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(env_vector_of(T.st.rip), 6);

	/* precision unmasked: 1/3 faults, 1/2 does not */
	put_f32(io.x1, (uint32_t[4]){ 0x3f800000, 5, 6, 7 });
	put_f32(io.x2, (uint32_t[4]){ 0x40400000, 0, 0, 0 });
	io.mxcsr = 0x1f80 & ~0x1000;
	e = run_soft((const uint8_t *)"\xf3\x0f\x5e\xca", 4, &io, true);
	assert_int_equal(env_vector_of(T.st.rip), 19);
	assert_int_equal(lane32(io.x1, 0), 0x3f800000);
	assert_int_equal(io.mxcsr, (0x1f80 & ~0x1000) | 0x20);
	put_f32(io.x2, (uint32_t[4]){ 0x40000000, 0, 0, 0 });
	io.mxcsr = 0x1f80 & ~0x1000;
	run_one("\xf3\x0f\x5e\xca", 4, &io);
	assert_int_equal(lane32(io.x1, 0), 0x3f000000);

	/* packed m128 operands must be aligned (#GP(0)); scalar ones not */
	memset(&io, 0, sizeof(io));
	io.mxcsr = 0x1f80;
	io.rax = ENV_DATA + 4;
	e = run_soft((const uint8_t *)"\x0f\x58\x08", 3, &io, true);
	assert_int_equal(env_vector_of(T.st.rip), 13);
	io.rax = ENV_DATA + 4;
	run_one("\xf3\x0f\x58\x08", 4, &io);
	io.rax = ENV_DATA + 16;
	run_one("\x0f\x58\x08", 3, &io);

	/* an SSE instruction with CR4.OSFXSR clear is #UD */
	tvm_setup(&T, ENV_LONG64, 0, "\x0f\x58\xca\xf4", 4);
	T.st.cr4 &= ~VMM_CR4_OSFXSR;
	tvm_set(&T);
	e = tvm_run(&T);
	assert_int_equal(env_vector_of(T.st.rip), 6);
}

/* ---- the host CPU as the oracle ---- */

/*
 * Native runner: rdi = struct io.  Saves the host MXCSR, loads the case's,
 * loads xmm1/xmm2/rax, runs the instruction, stores them back with the
 * MXCSR and RFLAGS, restores the host MXCSR.
 */
static const uint8_t pro[] = {
	0x0f, 0xae, 0x5c, 0x24, 0xf0,       /* stmxcsr [rsp-16] */
	0x0f, 0xae, 0x57, 0x28,             /* ldmxcsr [rdi+40] */
	0xf3, 0x0f, 0x6f, 0x0f,             /* movdqu xmm1, [rdi] */
	0xf3, 0x0f, 0x6f, 0x57, 0x10,       /* movdqu xmm2, [rdi+16] */
	0x48, 0x8b, 0x47, 0x20,             /* mov rax, [rdi+32] */
};
static const uint8_t epi[] = {
	0xf3, 0x0f, 0x7f, 0x0f,             /* movdqu [rdi], xmm1 */
	0xf3, 0x0f, 0x7f, 0x57, 0x10,       /* movdqu [rdi+16], xmm2 */
	0x48, 0x89, 0x47, 0x20,             /* mov [rdi+32], rax */
	0x0f, 0xae, 0x5f, 0x28,             /* stmxcsr [rdi+40] */
	0x9c,                               /* pushfq */
	0x8f, 0x47, 0x30,                   /* pop qword [rdi+48] */
	0x0f, 0xae, 0x54, 0x24, 0xf0,       /* ldmxcsr [rsp-16] */
	0xc3,                               /* ret */
};

static void run_native(void *page, const uint8_t *code, size_t len,
		       struct io *io)
{
	uint8_t *p = page;

	memcpy(p, pro, sizeof(pro));
	memcpy(p + sizeof(pro), code, len);
	memcpy(p + sizeof(pro) + len, epi, sizeof(epi));
	__builtin___clear_cache((char *)p, (char *)p + 256);
	((void (*)(struct io *))page)(io);
}

/* forms on xmm1 (dest) and xmm2 / rax */
struct form {
	const char *name;
	const char *code;
	size_t len;
};

#define F(n, c) { n, c, sizeof(c) - 1 }
static const struct form forms[] = {
	F("addps", "\x0f\x58\xca"), F("addpd", "\x66\x0f\x58\xca"),
	F("addss", "\xf3\x0f\x58\xca"), F("addsd", "\xf2\x0f\x58\xca"),
	F("subps", "\x0f\x5c\xca"), F("subsd", "\xf2\x0f\x5c\xca"),
	F("mulps", "\x0f\x59\xca"), F("mulpd", "\x66\x0f\x59\xca"),
	F("mulss", "\xf3\x0f\x59\xca"), F("mulsd", "\xf2\x0f\x59\xca"),
	F("divps", "\x0f\x5e\xca"), F("divpd", "\x66\x0f\x5e\xca"),
	F("divss", "\xf3\x0f\x5e\xca"), F("divsd", "\xf2\x0f\x5e\xca"),
	F("minps", "\x0f\x5d\xca"), F("minsd", "\xf2\x0f\x5d\xca"),
	F("maxpd", "\x66\x0f\x5f\xca"), F("maxss", "\xf3\x0f\x5f\xca"),
	F("sqrtps", "\x0f\x51\xca"), F("sqrtpd", "\x66\x0f\x51\xca"),
	F("sqrtss", "\xf3\x0f\x51\xca"), F("sqrtsd", "\xf2\x0f\x51\xca"),
	F("rcpps", "\x0f\x53\xca"), F("rsqrtss", "\xf3\x0f\x52\xca"),
	F("cmpeqps", "\x0f\xc2\xca\x00"), F("cmpltpd", "\x66\x0f\xc2\xca\x01"),
	F("cmpless", "\xf3\x0f\xc2\xca\x02"), F("cmpunordsd", "\xf2\x0f\xc2\xca\x03"),
	F("cmpneqps", "\x0f\xc2\xca\x04"), F("cmpnltpd", "\x66\x0f\xc2\xca\x05"),
	F("cmpnless", "\xf3\x0f\xc2\xca\x06"), F("cmpordsd", "\xf2\x0f\xc2\xca\x07"),
	F("comiss", "\x0f\x2f\xca"), F("ucomisd", "\x66\x0f\x2e\xca"),
	F("cvtsi2ss eax", "\xf3\x0f\x2a\xc8"), F("cvtsi2sd rax", "\xf2\x48\x0f\x2a\xc8"),
	F("cvtsi2ss rax", "\xf3\x48\x0f\x2a\xc8"), F("cvtsi2sd eax", "\xf2\x0f\x2a\xc8"),
	F("cvtss2si eax", "\xf3\x0f\x2d\xc2"), F("cvttss2si rax", "\xf3\x48\x0f\x2c\xc2"),
	F("cvtsd2si rax", "\xf2\x48\x0f\x2d\xc2"), F("cvttsd2si eax", "\xf2\x0f\x2c\xc2"),
	F("cvtss2sd", "\xf3\x0f\x5a\xca"), F("cvtsd2ss", "\xf2\x0f\x5a\xca"),
	F("cvtps2pd", "\x0f\x5a\xca"), F("cvtpd2ps", "\x66\x0f\x5a\xca"),
	F("cvtdq2ps", "\x0f\x5b\xca"), F("cvtps2dq", "\x66\x0f\x5b\xca"),
	F("cvttps2dq", "\xf3\x0f\x5b\xca"), F("cvttpd2dq", "\x66\x0f\xe6\xca"),
	F("cvtdq2pd", "\xf3\x0f\xe6\xca"), F("cvtpd2dq", "\xf2\x0f\xe6\xca"),
	F("unpcklps", "\x0f\x14\xca"), F("unpckhpd", "\x66\x0f\x15\xca"),
	F("shufps", "\x0f\xc6\xca\x9c"), F("shufpd", "\x66\x0f\xc6\xca\x02"),
	F("movmskps", "\x0f\x50\xc2"), F("movmskpd", "\x66\x0f\x50\xc1"),
	F("movhlps", "\x0f\x12\xca"), F("movlhps", "\x0f\x16\xca"),
	F("andnps", "\x0f\x55\xca"), F("xorpd", "\x66\x0f\x57\xca"),
	/* SSE2 integer */
	F("packsswb", "\x66\x0f\x63\xca"), F("packssdw", "\x66\x0f\x6b\xca"),
	F("packuswb", "\x66\x0f\x67\xca"), F("pmaddwd", "\x66\x0f\xf5\xca"),
	F("psadbw", "\x66\x0f\xf6\xca"), F("paddsb", "\x66\x0f\xec\xca"),
	F("paddsw", "\x66\x0f\xed\xca"), F("paddusb", "\x66\x0f\xdc\xca"),
	F("paddusw", "\x66\x0f\xdd\xca"), F("psubsb", "\x66\x0f\xe8\xca"),
	F("psubsw", "\x66\x0f\xe9\xca"), F("psubusb", "\x66\x0f\xd8\xca"),
	F("psubusw", "\x66\x0f\xd9\xca"), F("pavgb", "\x66\x0f\xe0\xca"),
	F("pavgw", "\x66\x0f\xe3\xca"), F("pmulhw", "\x66\x0f\xe5\xca"),
	F("pmulhuw", "\x66\x0f\xe4\xca"), F("pmullw", "\x66\x0f\xd5\xca"),
	F("pmuludq", "\x66\x0f\xf4\xca"), F("pminub", "\x66\x0f\xda\xca"),
	F("pmaxub", "\x66\x0f\xde\xca"), F("pminsw", "\x66\x0f\xea\xca"),
	F("pmaxsw", "\x66\x0f\xee\xca"), F("pcmpgtb", "\x66\x0f\x64\xca"),
	F("psrlw", "\x66\x0f\xd1\xca"), F("psrld", "\x66\x0f\xd2\xca"),
	F("psrlq", "\x66\x0f\xd3\xca"), F("psraw", "\x66\x0f\xe1\xca"),
	F("psrad", "\x66\x0f\xe2\xca"), F("psllw", "\x66\x0f\xf1\xca"),
	F("pslld", "\x66\x0f\xf2\xca"), F("psllq", "\x66\x0f\xf3\xca"),
	F("psraw 5", "\x66\x0f\x71\xe1\x05"), F("psrlq 40", "\x66\x0f\x73\xd1\x28"),
	F("pslldq 3", "\x66\x0f\x73\xf9\x03"), F("pshufd", "\x66\x0f\x70\xca\x1b"),
	F("pshuflw", "\xf2\x0f\x70\xca\x4e"), F("pshufhw", "\xf3\x0f\x70\xca\xb1"),
	F("punpcklbw", "\x66\x0f\x60\xca"), F("punpckhqdq", "\x66\x0f\x6d\xca"),
	F("pinsrw", "\x66\x0f\xc4\xc8\x05"), F("pextrw", "\x66\x0f\xc5\xc2\x06"),
	F("pmovmskb", "\x66\x0f\xd7\xc2"),
};

static uint64_t rng = 0x1234567887654321ull;
static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

static void rand_lanes(uint8_t *x)
{
	static const uint32_t sp32[] = { 0, 0x80000000, 0x3f800000,
		0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7fa00001,
		0x00000001, 0x807fffff, 0x00800000, 0x7f7fffff, 0x4f000000,
		0xcf000000, 0x3eaaaaab, 0x5f000000 };
	static const uint64_t sp64[] = { 0, 1ull << 63,
		0x3ff0000000000000ull, 0x7ff0000000000000ull,
		0x7ff8000000000000ull, 0xfff8000000000000ull,
		0x7ff4000000000001ull, 1, 0x0010000000000000ull,
		0x7fefffffffffffffull, 0x41e0000000000000ull,
		0xc3e0000000000000ull, 0x3810000000000000ull,
		0x47efffffffffffffull, 0x36a0000000000000ull, 0x8000000000000001ull };

	if (rnd() & 1) {
		for (int k = 0; k < 4; k++) {
			uint32_t v = (uint32_t)rnd();
			if (rnd() & 1)
				v = sp32[rnd() % 16];
			else if (rnd() & 1)
				v = (v & 0x807fffffu) | (uint32_t)(100 + rnd() % 56) << 23;
			memcpy(x + 4 * k, &v, 4);
		}
	} else {
		for (int k = 0; k < 2; k++) {
			uint64_t v = rnd();
			if (rnd() & 1)
				v = sp64[rnd() % 16];
			else if (rnd() & 1)
				v = (v & 0x800fffffffffffffull) |
				    (uint64_t)(950 + rnd() % 150) << 52;
			memcpy(x + 8 * k, &v, 8);
		}
	}
}

static void test_vs_host(void **state)
{
	void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned fails = 0, n = 0;

	assert_true(page != MAP_FAILED);
	for (unsigned f = 0; f < ARRAY_SIZE(forms); f++) {
		for (unsigned k = 0; k < 150; k++) {
			struct io in, a, b;
			struct vmm_exit e;

			memset(&in, 0, sizeof(in));
			rand_lanes(in.x1);
			rand_lanes(in.x2);
			if (rnd() % 3 == 0) { /* small shift counts */
				uint64_t cnt = rnd() % 70;
				memcpy(in.x2, &cnt, 8);
			}
			in.rax = rnd() >> (rnd() % 64);
			/* RC, DAZ, FTZ, sticky flags; all masked */
			in.mxcsr = ((uint32_t)rnd() & 0xe07f) | 0x1f80;
			a = in;
			b = in;
			e = run_soft((const uint8_t *)forms[f].code,
				     forms[f].len, &a, true);
			run_native(page, (const uint8_t *)forms[f].code,
				   forms[f].len, &b);
			n++;
			if (e.kind != VMM_EXIT_HLT ||
			    memcmp(a.x1, b.x1, 16) || memcmp(a.x2, b.x2, 16) ||
			    a.rax != b.rax || a.mxcsr != b.mxcsr ||
			    (strstr(forms[f].name, "comis") &&
			     (a.flags & 0x8d5) != (b.flags & 0x8d5))) {
				if (fails++ < 10)
					printf("%s: mxcsr in 0x%x: soft x1 "
					       "%016llx:%016llx rax %llx mxcsr "
					       "0x%x fl 0x%llx, host %016llx:"
					       "%016llx rax %llx mxcsr 0x%x fl "
					       "0x%llx (exit %s)\n",
					       forms[f].name, in.mxcsr,
					       (unsigned long long)lane64(a.x1, 1),
					       (unsigned long long)lane64(a.x1, 0),
					       (unsigned long long)a.rax, a.mxcsr,
					       (unsigned long long)(a.flags & 0x8d5),
					       (unsigned long long)lane64(b.x1, 1),
					       (unsigned long long)lane64(b.x1, 0),
					       (unsigned long long)b.rax, b.mxcsr,
					       (unsigned long long)(b.flags & 0x8d5),
					       vmm_exit_name(e.kind));
			}
		}
	}
	munmap(page, 4096);
	printf("%u SSE cases compared with the host CPU, %u mismatches\n", n,
	       fails);
	assert_int_equal(fails, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_constants),
		cmocka_unit_test(test_unmasked),
		cmocka_unit_test(test_vs_host),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
