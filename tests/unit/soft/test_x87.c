/* SPDX-License-Identifier: MIT */
/*
 * test_x87.c - the x87 FPU of the software backend.
 *
 * 1. Architectural constants: cases whose results the SDM fixes (FLD1/
 *    FLDPI, stack underflow -> QNaN indefinite with IE+SF, the integer
 *    indefinite, FCOMI flags, the unmasked response: ES set, operands
 *    unchanged, #MF at the next waiting instruction, FNSTENV's layout
 *    with the full tag word, FIP and FOP).
 * 2. The host CPU as the oracle: every valid D8-DF register form and the
 *    memory forms (on [RAX]) run from the same random x87 state (stack
 *    depth, TOP, specials, denormals, pseudo-denormals, unnormals,
 *    precision and rounding control, sometimes unmasked exceptions) on
 *    the software backend and natively in this process; FCW, FSW, the tag
 *    word, ST0-7, the memory operand and (FCOMI & co.) ZF/PF/CF must match
 *    bit for bit.
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

/* the x87 part of an FXSAVE image, the memory operand, RFLAGS */
struct nio {
	uint8_t img[512];
	uint8_t host[512];
	uint8_t mem[16];
	uint64_t flags;
} __attribute__((aligned(16)));

static uint16_t img16(const uint8_t *img, unsigned off)
{
	uint16_t v;
	memcpy(&v, img + off, 2);
	return v;
}

/* Run @code (+HLT, RAX = ENV_DATA) in 64-bit mode at CPL0 on the soft
 * backend from the x87 state in @io->img and the memory operand. */
static struct vmm_exit run_soft(const uint8_t *code, size_t len,
				struct nio *io)
{
	uint8_t buf[64];
	struct vmm_exit e;

	memcpy(buf, code, len);
	buf[len] = 0xf4;
	tvm_setup(&T, ENV_LONG64, 0, buf, len + 1);
	T.st.gpr[VMM_RAX] = ENV_DATA;
	T.st.rflags = 0x2 | (io->flags & 0x8d5);
	T.st.fpu.fcw = img16(io->img, 0);
	T.st.fpu.fsw = img16(io->img, 2);
	T.st.fpu.ftw = io->img[4];
	for (int k = 0; k < 8; k++) {
		memset(T.st.fpu.st[k], 0, 16);
		memcpy(T.st.fpu.st[k], io->img + 32 + 16 * k, 10);
	}
	assert_int_equal(vmm_mem_write(T.vm, ENV_DATA, io->mem, 16), 0);
	tvm_set(&T);
	e = tvm_run(&T);
	memcpy(io->img, &T.st.fpu.fcw, 2);
	memcpy(io->img + 2, &T.st.fpu.fsw, 2);
	io->img[4] = T.st.fpu.ftw;
	for (int k = 0; k < 8; k++)
		memcpy(io->img + 32 + 16 * k, T.st.fpu.st[k], 10);
	assert_int_equal(vmm_mem_read(T.vm, ENV_DATA, io->mem, 16), 0);
	io->flags = T.st.rflags;
	return e;
}

static void run_one(const char *code, size_t len, struct nio *io)
{
	struct vmm_exit e = run_soft((const uint8_t *)code, len, io);

	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(T.st.rip, ENV_CODE + len + 1);
}

/* an empty stack, FCW @cw */
static void init_state(struct nio *io, uint16_t cw)
{
	memset(io, 0, sizeof(*io));
	memcpy(io->img, &cw, 2);
}

static void expect_st(const struct nio *io, int k, uint16_t se, uint64_t m)
{
	uint64_t mm;

	memcpy(&mm, io->img + 32 + 16 * k, 8);
	assert_int_equal(img16(io->img, 32 + 16 * k + 8), se);
	assert_true(mm == m);
}

static void test_constants(void **state)
{
	struct nio io;
	uint32_t v32;

	/* fld1; fldpi: TOP 6, ST0 = pi (rounded to nearest), ST1 = 1 */
	init_state(&io, 0x37f);
	run_one("\xd9\xe8\xd9\xeb", 4, &io);
	expect_st(&io, 0, 0x4000, 0xc90fdaa22168c235ull);
	expect_st(&io, 1, 0x3fff, 0x8000000000000000ull);
	assert_int_equal((img16(io.img, 2) >> 11) & 7, 6);
	assert_int_equal(io.img[4], 0xc0);
	/* pi rounded down */
	init_state(&io, 0x37f | 0x400);
	run_one("\xd9\xeb", 2, &io);
	expect_st(&io, 0, 0x4000, 0xc90fdaa22168c234ull);

	/* fadd st, st(1) on an empty stack: QNaN indefinite, IE SF, C1 = 0 */
	init_state(&io, 0x37f);
	run_one("\xd8\xc1", 2, &io);
	expect_st(&io, 0, 0xffff, 0xc000000000000000ull);
	assert_int_equal(img16(io.img, 2), 0x41);

	/* fld1; fldz; fdivp: 1/0 -> +inf, ZE */
	init_state(&io, 0x37f);
	run_one("\xd9\xe8\xd9\xee\xde\xf9", 6, &io);
	expect_st(&io, 0, 0x7fff, 0x8000000000000000ull);
	assert_int_equal(img16(io.img, 2), (7 << 11) | 0x4);

	/* fld m64 1e300; fistp m32: integer indefinite, IE (masked) */
	init_state(&io, 0x37f);
	{
		uint64_t big = 0x7e37e43c8800759cull;
		memcpy(io.mem, &big, 8);
	}
	run_one("\xdd\x00\xdb\x18", 4, &io);
	memcpy(&v32, io.mem, 4);
	assert_int_equal(v32, 0x80000000u);
	assert_int_equal(img16(io.img, 2) & 0x3f, 0x1); /* IE (no PE) */
	assert_int_equal(io.img[4], 0);

	/* fcomi: 1 vs pi -> CF; equal -> ZF; unordered -> ZF PF CF */
	init_state(&io, 0x37f);
	run_one("\xd9\xeb\xd9\xe8\xdb\xf1", 6, &io);
	assert_int_equal(io.flags & 0x8d5, 0x01);
	init_state(&io, 0x37f);
	run_one("\xd9\xe8\xd9\xe8\xdf\xf1", 6, &io); /* fcomip */
	assert_int_equal(io.flags & 0x8d5, 0x40);
	assert_int_equal(io.img[4], 0x80);
	init_state(&io, 0x37f);
	run_one("\xd9\xe8\xd8\xc1\xdb\xe9", 6, &io); /* NaN vs 1: fucomi */
	assert_int_equal(io.flags & 0x8d5, 0x45);
}

/* unmasked invalid: ES, operand unchanged, #MF at the next waiting one */
static void test_unmasked(void **state)
{
	struct nio io;
	struct vmm_exit e;
	uint8_t env[28];
	uint16_t tw;
	uint32_t ip;

	init_state(&io, 0x37e); /* IM clear */
	/* fld1; fchs; fsqrt (invalid: ES, ST0 stays -1); fnop -> #MF */
	e = run_soft((const uint8_t *)"\xd9\xe8\xd9\xe0\xd9\xfa\xd9\xd0", 8,
		     &io);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(env_vector_of(T.st.rip), 16);
	expect_st(&io, 0, 0xbfff, 0x8000000000000000ull);
	assert_int_equal(img16(io.img, 2), (7 << 11) | 0x8081);
	assert_true(T.st.fpu.fip == ENV_CODE + 4); /* the fsqrt */
	assert_int_equal(T.st.fpu.fop, 0x1fa);

	/* fnstenv does not wait: the tag word of a valid and a zero, TOP 6,
	 * the exceptions masked afterwards */
	init_state(&io, 0x37f);
	run_one("\xd9\xe8\xd9\xee\xd9\x30", 6, &io);
	assert_int_equal(vmm_mem_read(T.vm, ENV_DATA, env, 28), 0);
	memcpy(&tw, env + 8, 2);
	assert_int_equal(tw, 0x1fff);
	assert_int_equal(img16(env, 0), 0x37f);
	assert_int_equal(img16(env, 4), 6 << 11);
	memcpy(&ip, env + 12, 4);
	assert_int_equal(ip, ENV_CODE + 2);
	assert_int_equal(img16(env, 18), 0x1ee); /* FOP of fldz */

	/* fldenv of that image on an empty FPU: TOP and the tags */
	init_state(&io, 0x37f);
	env[0] = 0x7f;
	assert_int_equal(vmm_mem_write(T.vm, ENV_DATA + 64, env, 28), 0);
	memcpy(io.mem, env, 16);
	run_one("\xd9\x60\x40", 3, &io);
	assert_int_equal((img16(io.img, 2) >> 11) & 7, 6);
	assert_int_equal(io.img[4], 0xc0);

	/* an x87 instruction with CR0.TS or CR0.EM: #NM */
	tvm_setup(&T, ENV_LONG64, 0, "\xd9\xe8\xf4", 3);
	T.st.cr0 |= VMM_CR0_TS;
	tvm_set(&T);
	e = tvm_run(&T);
	assert_int_equal(env_vector_of(T.st.rip), 7);
	/* an undefined form: #UD */
	tvm_setup(&T, ENV_LONG64, 0, "\xd9\xd1\xf4", 3);
	tvm_set(&T);
	e = tvm_run(&T);
	assert_int_equal(env_vector_of(T.st.rip), 6);
}

/* FNSTENV's real-mode (16- and 32-bit) and protected-mode layouts */
static void test_env_layouts(void **state)
{
	uint8_t env[28];
	uint32_t d;

	/* real mode, CS = DS = 0x1000: fld1 at linear 0x10000; fnstenv
	 * [0x800] (14 bytes), o32 fnstenv [0x900] (28 bytes) */
	tvm_setup(&T, ENV_REAL, 0,
		  "\xd9\xe8\xd9\x36\x00\x08\x66\xd9\x36\x00\x09\xf4", 12);
	T.st.fpu.fcw = 0x37f;
	T.st.fpu.fsw = 0;
	T.st.fpu.ftw = 0;
	tvm_set(&T);
	assert_int_equal(tvm_run(&T).kind, VMM_EXIT_HLT);
	assert_int_equal(vmm_mem_read(T.vm, 0x10800, env, 14), 0);
	assert_int_equal(img16(env, 0), 0x37f);
	assert_int_equal(img16(env, 2), 7 << 11);
	assert_int_equal(img16(env, 4), 0x3fff); /* R7 valid */
	assert_int_equal(img16(env, 6), 0x0000); /* FIP[15:0] */
	assert_int_equal(img16(env, 8), 0x1000 | 0x1e8); /* FIP[19:16], FOP */
	assert_int_equal(vmm_mem_read(T.vm, 0x10900, env, 28), 0);
	assert_int_equal(img16(env, 8), 0x3fff);
	memcpy(&d, env + 16, 4);
	assert_int_equal(d, 0x1000 | 0x1e8);

	/* 32-bit protected mode: FIP = offset, FOP in bits 26:16 */
	tvm_setup(&T, ENV_PROT32, 0, "\xd9\xe8\xd9\x30\xf4", 5);
	T.st.gpr[VMM_RAX] = ENV_DATA;
	T.st.fpu.ftw = 0;
	tvm_set(&T);
	assert_int_equal(tvm_run(&T).kind, VMM_EXIT_HLT);
	assert_int_equal(vmm_mem_read(T.vm, ENV_DATA, env, 28), 0);
	memcpy(&d, env + 12, 4);
	assert_int_equal(d, ENV_CODE);
	memcpy(&d, env + 16, 4);
	assert_int_equal(d, 0x1e8u << 16);
}

/* ---- SSE2 integer operations: fixed cases ---- */

static void test_sse2_int(void **state)
{
	uint8_t x1[16], x2[16];
	uint64_t q;

	/* psraw xmm1, xmm2 by 3; psllq by 64 clears; packsswb; pmaddwd */
	tvm_setup(&T, ENV_LONG64, 0,
		  "\x66\x0f\xe1\xca"      /* psraw xmm1, xmm2 */
		  "\x66\x0f\xf3\xda"      /* psllq xmm3, xmm2 */
		  "\x66\x0f\x63\xe5"      /* packsswb xmm4, xmm5 */
		  "\x66\x0f\xf5\xf7"      /* pmaddwd xmm6, xmm7 */
		  "\x66\x0f\xc5\xc1\x07"  /* pextrw eax, xmm1, 7 */
		  "\xf4", 22);
	for (int k = 0; k < 8; k++) {
		uint16_t w = (uint16_t)(0x8000 >> k);
		memcpy(T.st.fpu.xmm[1] + 2 * k, &w, 2);
	}
	q = 3;
	memset(T.st.fpu.xmm[2], 0, 16);
	memcpy(T.st.fpu.xmm[2], &q, 8);
	memset(T.st.fpu.xmm[3], 0xff, 16);
	for (int k = 0; k < 8; k++) {
		int16_t a = (int16_t)(k * 100 - 300), b = (int16_t)(k - 4);
		memcpy(T.st.fpu.xmm[4] + 2 * k, &a, 2);
		memcpy(T.st.fpu.xmm[5] + 2 * k, &b, 2);
		a = (int16_t)-32768;
		memcpy(T.st.fpu.xmm[6] + 2 * k, &a, 2);
		memcpy(T.st.fpu.xmm[7] + 2 * k, &a, 2);
	}
	tvm_set(&T);
	assert_int_equal(tvm_run(&T).kind, VMM_EXIT_HLT);
	memcpy(x1, T.st.fpu.xmm[1], 16);
	assert_int_equal(x1[0] | x1[1] << 8, 0xf000); /* 0x8000 >> 3 signed */
	assert_int_equal(x1[14] | x1[15] << 8, 0x0020);
	assert_true(T.st.gpr[VMM_RAX] == 0x0020);
	memcpy(x2, T.st.fpu.xmm[3], 16);
	memcpy(&q, x2 + 8, 8);
	assert_true(q == ~0ull << 3); /* each qword */
	memcpy(&q, x2, 8);
	assert_true(q == ~0ull << 3);
	/* -300 -> -128, -200, -100 saturate; 0, 100 -> 100; 200.. -> 127 */
	assert_int_equal((int8_t)T.st.fpu.xmm[4][0], -128);
	assert_int_equal((int8_t)T.st.fpu.xmm[4][4], 100);
	assert_int_equal((int8_t)T.st.fpu.xmm[4][5], 127);
	assert_int_equal((int8_t)T.st.fpu.xmm[4][8], -4);
	{
		uint32_t d;
		memcpy(&d, T.st.fpu.xmm[6], 4);
		assert_int_equal(d, 0x80000000u); /* 2 * 2^30 wraps */
	}

	/* maskmovdqu xmm1, xmm2: bytes 0 and 15 of xmm1 to [rdi] */
	{
		uint8_t mem[16], want[16];

		tvm_setup(&T, ENV_LONG64, 0, "\x66\x0f\xf7\xca\xf4", 5);
		for (int k = 0; k < 16; k++) {
			T.st.fpu.xmm[1][k] = (uint8_t)(0x10 + k);
			T.st.fpu.xmm[2][k] = (k == 0 || k == 15) ? 0x80 : 0x7f;
		}
		T.st.gpr[VMM_RDI] = ENV_DATA + 0x100;
		memset(want, 0xee, 16);
		assert_int_equal(vmm_mem_write(T.vm, ENV_DATA + 0x100, want, 16),
				 0);
		tvm_set(&T);
		assert_int_equal(tvm_run(&T).kind, VMM_EXIT_HLT);
		assert_int_equal(vmm_mem_read(T.vm, ENV_DATA + 0x100, mem, 16),
				 0);
		want[0] = 0x10;
		want[15] = 0x1f;
		assert_memory_equal(mem, want, 16);
	}
}

/* ---- the host CPU as the oracle ---- */

static const uint8_t pro[] = {
	0x0f, 0xae, 0x87, 0x00, 0x02, 0x00, 0x00, /* fxsave [rdi+512] */
	0x0f, 0xae, 0x0f,                         /* fxrstor [rdi] */
	0x48, 0x8d, 0x87, 0x00, 0x04, 0x00, 0x00, /* lea rax, [rdi+1024] */
	0xff, 0xb7, 0x10, 0x04, 0x00, 0x00,       /* push qword [rdi+1040] */
	0x9d,                                     /* popfq */
};
static const uint8_t epi[] = {
	0x9c,                                     /* pushfq */
	0x8f, 0x87, 0x10, 0x04, 0x00, 0x00,       /* pop qword [rdi+1040] */
	0x0f, 0xae, 0x07,                         /* fxsave [rdi] */
	0xdb, 0xe2,                               /* fnclex */
	0x0f, 0xae, 0x8f, 0x00, 0x02, 0x00, 0x00, /* fxrstor [rdi+512] */
	0xc3,                                     /* ret */
};

static void run_native(void *page, const uint8_t *code, size_t len,
		       struct nio *io)
{
	uint8_t *p = page;

	memcpy(p, pro, sizeof(pro));
	memcpy(p + sizeof(pro), code, len);
	memcpy(p + sizeof(pro) + len, epi, sizeof(epi));
	__builtin___clear_cache((char *)p, (char *)p + 256);
	((void (*)(struct nio *))page)(io);
}

/* the valid register forms that are not control instructions */
static bool reg_form_ok(unsigned op, unsigned m)
{
	switch (op) {
	case 0xd9:
		if (m > 0xd0 && m < 0xd8)
			return false;
		return !(m == 0xe2 || m == 0xe3 || m == 0xe6 || m == 0xe7 ||
			 m == 0xef);
	case 0xda:
		return m < 0xe0 || m == 0xe9;
	case 0xdb:
		return m < 0xe0 || (m >= 0xe8 && m < 0xf8);
	case 0xdd:
		return m < 0xf0;
	case 0xde:
		return !(m >= 0xd8 && m < 0xe0 && m != 0xd9);
	case 0xdf:
		return m < 0xe0 || (m >= 0xe8 && m < 0xf8);
	default:
		return true;
	}
}

/* memory forms on [rax], control forms other than FLDCW left out */
static bool mem_form_ok(unsigned op, unsigned r)
{
	switch (op) {
	case 0xd9:
		return r == 0 || r == 2 || r == 3 || r == 5;
	case 0xdb:
		return r != 4 && r != 6;
	case 0xdd:
		return r < 4;
	default:
		return true;
	}
}

static uint64_t rng = 0x87654321deadbeefull;
static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

/* a random 80-bit value: specials, odd encodings, ordinary numbers */
static void rand_f80(uint8_t *p)
{
	static const struct { uint16_t se; uint64_t m; } sp[] = {
		{ 0, 0 }, { 0x8000, 0 }, { 0x3fff, 1ull << 63 },
		{ 0xbfff, 3ull << 62 }, { 0x7fff, 1ull << 63 },
		{ 0xffff, 1ull << 63 }, { 0x7fff, 3ull << 62 },
		{ 0x7fff, 0xa000000000000000ull }, { 0xffff, 3ull << 62 },
		{ 0, 1 }, { 0x8000, 0x8000000000000000ull }, /* pseudo-denormal */
		{ 0x4000, 0x4000000000000000ull },            /* unnormal */
		{ 0x7ffe, ~0ull }, { 1, 1ull << 63 }, { 0x401e, 0xffffffff00000000ull },
		{ 0x403e, 0x8000000000000000ull }, { 0x4000, 0xc90fdaa22168c235ull },
	};
	uint16_t se;
	uint64_t m;

	switch (rnd() % 4) {
	case 0: {
		unsigned k = (unsigned)(rnd() % (sizeof(sp) / sizeof(sp[0])));
		se = sp[k].se;
		m = sp[k].m;
		break;
	}
	case 1: /* anywhere */
		se = (uint16_t)rnd();
		m = rnd() | (1ull << 63);
		break;
	default: /* near 1, or integers */
		se = (uint16_t)((rnd() & 0x8000) | (0x3fff - 70 + rnd() % 140));
		m = rnd() | (1ull << 63);
		if (rnd() & 1)
			m &= ~0ull << (rnd() % 64);
		break;
	}
	memcpy(p, &m, 8);
	memcpy(p + 8, &se, 2);
}

static void rand_state(struct nio *io)
{
	unsigned top = (unsigned)(rnd() % 8), depth = (unsigned)(rnd() % 9);
	uint16_t cw, sw, fl;
	uint8_t tw = 0;

	memset(io, 0, sizeof(*io));
	cw = (uint16_t)(0x40 | (rnd() & 0x0f00) | 0x3f);
	if (rnd() % 4 == 0)
		cw = (uint16_t)((cw & ~0x3f) | (rnd() & 0x3f));
	fl = (uint16_t)(rnd() & 0x3f & cw); /* sticky, masked only */
	sw = (uint16_t)(fl | (rnd() & 0x4700) | top << 11);
	if (fl & 1)
		sw |= (uint16_t)(rnd() & 0x40);
	for (unsigned k = 0; k < depth; k++)
		tw |= (uint8_t)(1u << ((top + k) & 7));
	memcpy(io->img, &cw, 2);
	memcpy(io->img + 2, &sw, 2);
	io->img[4] = tw;
	for (int k = 0; k < 8; k++)
		rand_f80(io->img + 32 + 16 * k);
	io->flags = 0x202 | (rnd() & 0x8d5); /* for FCMOVcc */
	/* the memory operand: random, or a float/double/extended/int */
	switch (rnd() % 5) {
	case 0: {
		static const uint32_t f[] = { 0, 0x80000000, 0x3f800000,
			0x7f800000, 0x7fc00000, 0x7fa00001, 1, 0x00800000,
			0x7f7fffff, 0x4f000000 };
		memcpy(io->mem, &f[rnd() % 10], 4);
		break;
	}
	case 1: {
		static const uint64_t d[] = { 0, 1ull << 63,
			0x3ff0000000000000ull, 0x7ff0000000000000ull,
			0x7ff8000000000000ull, 0x7ff4000000000001ull, 1,
			0x7fefffffffffffffull, 0x43e0000000000000ull,
			0x0010000000000000ull };
		memcpy(io->mem, &d[rnd() % 10], 8);
		break;
	}
	case 2:
		rand_f80(io->mem);
		break;
	case 3: {
		int64_t v = (int64_t)(rnd() >> (rnd() % 64));
		if (rnd() & 1)
			v = -v;
		memcpy(io->mem, &v, 8);
		break;
	}
	default:
		for (int k = 0; k < 16; k++)
			io->mem[k] = (uint8_t)rnd();
	}
}

static bool same(const struct nio *a, const struct nio *b, bool cmpfl)
{
	if (memcmp(a->img, b->img, 5) || memcmp(a->mem, b->mem, 16))
		return false;
	for (int k = 0; k < 8; k++)
		if (memcmp(a->img + 32 + 16 * k, b->img + 32 + 16 * k, 10))
			return false;
	return !cmpfl || (a->flags & 0x8d5) == (b->flags & 0x8d5);
}

static void test_vs_host(void **state)
{
	void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned fails = 0, n = 0;

	assert_true(page != MAP_FAILED);
	for (unsigned f = 0; f < 8 * 64 + 8 * 8; f++) {
		unsigned op = 0xd8 + (f < 512 ? f / 64 : (f - 512) / 8);
		uint8_t code[2];
		bool cmpfl;

		if (f < 512) {
			code[1] = (uint8_t)(0xc0 + f % 64);
			if (!reg_form_ok(op, code[1]))
				continue;
		} else {
			code[1] = (uint8_t)(((f - 512) % 8) << 3);
			if (!mem_form_ok(op, (f - 512) % 8))
				continue;
		}
		code[0] = (uint8_t)op;
		cmpfl = (op == 0xdb || op == 0xdf) && code[1] >= 0xe8 &&
			code[1] < 0xf8;
		for (unsigned k = 0; k < 24; k++) {
			struct nio in, a, b;
			struct vmm_exit e;

			rand_state(&in);
			a = in;
			b = in;
			e = run_soft(code, 2, &a);
			run_native(page, code, 2, &b);
			n++;
			if (e.kind != VMM_EXIT_HLT || !same(&a, &b, cmpfl)) {
				if (fails++ < 10)
					printf("%02x %02x: cw %04x sw %04x tw "
					       "%02x: soft sw %04x tw %02x "
					       "fl %llx, host sw %04x tw %02x "
					       "fl %llx (exit %s)\n",
					       code[0], code[1],
					       img16(in.img, 0), img16(in.img, 2),
					       in.img[4], img16(a.img, 2),
					       a.img[4],
					       (unsigned long long)(a.flags & 0x8d5),
					       img16(b.img, 2), b.img[4],
					       (unsigned long long)(b.flags & 0x8d5),
					       vmm_exit_name(e.kind));
			}
		}
	}
	munmap(page, 4096);
	printf("%u x87 cases compared with the host CPU, %u mismatches\n", n,
	       fails);
	assert_int_equal(fails, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_constants),
		cmocka_unit_test(test_unmasked),
		cmocka_unit_test(test_env_layouts),
		cmocka_unit_test(test_sse2_int),
		cmocka_unit_test(test_vs_host),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
