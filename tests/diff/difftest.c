/* SPDX-License-Identifier: MIT */
/*
 * difftest - differential testing of the software backend against KVM
 * (a real CPU is the oracle).
 *
 *   difftest [--mode 64|32] [--cases N] [--seed S] [--len L] [--verbose]
 *            [--only-soft] [--fp] [--x87] [--mmx] [--jit] [--jit-hot]
 *            [--loops] [--vs-interp]
 *
 * --mode 32 runs 32-bit code in compatibility mode (long mode, a 32-bit
 * code segment), --mode prot32 in legacy protected mode without paging
 * (which the nested KVM of our build machines does not run reliably).
 *
 * Each case is a random sequence of 1..L non-privileged instructions
 * (ALU in every encoding and size, INC/DEC/NEG/NOT, shifts and rotates,
 * MUL/IMUL/DIV/IDIV, BT*, BSF/BSR/TZCNT/LZCNT/POPCNT, BSWAP, MOVZX/MOVSX,
 * MOV/LEA with every addressing form, PUSH/POP (16-bit too), CMOVcc/SETcc/Jcc, XCHG,
 * XADD, CMPXCHG/8B/16B, LOCK forms, MOVBE, string instructions with REP, flag
 * instructions, SHLD/SHRD, SSE/SSE2 floating point with a random MXCSR, SSE2 integer
 * operations, x87 arithmetic from a random x87 state ...) on random
 * registers, XMM registers, x87 stack and a scratch buffer, ending with an
 * OUT to a stop port.  It runs at CPL3 in 64-bit (or 32-bit protected)
 * mode, from the same state and memory, on both backends; final
 * registers, the flags the SDM defines after the last writer of each
 * flag, XMM0-15, MXCSR, x87 FCW/FSW/FTW/ST0-7 (not FIP/FDP/FOP), the
 * exit, and a hash of the scratch memory and stack must match.  --fp
 * makes most instructions SSE floating point, --x87 x87 and SSE2
 * integer ones, --mmx MMX ones (no-prefix 0F forms on MM0-7, EMMS)
 * mixed with x87 and SSE2 integer ones.  --jit runs the software backend with its JIT tier
 * compiling every block at its first execution (VMM_CFG_JIT_EAGER);
 * without it the software side is the interpreter alone (VMM_CFG_NO_JIT);
 * --jit-hot compiles a block at its 32nd execution (VMM_CFG_JIT, as
 * outside tests).  --loops adds counted loops of 34-63 iterations with a
 * conditional branch in the body (so the JIT compiles the loop's blocks
 * as one piece with side exits once it is hot).  --vs-interp takes the
 * software backend's interpreter as the oracle instead of KVM (for the
 * JIT; no /dev/kvm needed).
 * A mismatch prints the seed, the instructions (hex, objdump-able) and
 * the differences, after shrinking the sequence.  Exit 77 only when
 * /dev/kvm is absent (--only-soft runs the software backend alone).
 */
#include <libvmm/libvmm.h>
#include "env.h"
#include "batch.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STOP_PORT 0x99
#define MAX_INSNS 64
#define CF 0x001u
#define PF 0x004u
#define AF 0x010u
#define ZF 0x040u
#define SF 0x080u
#define OF 0x800u
#define DF 0x400u
#define ARITH (CF | PF | AF | ZF | SF | OF)
#define SCRATCH_OFF 0x400 /* base register points here, inside ENV_DATA */

static bool mode64 = true;
static enum env_mode mode32 = ENV_COMPAT32; /* or ENV_PROT32 */

/* ---- random numbers (xorshift64*, seeded per case) ---- */
static uint64_t rng;
static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}
static unsigned rn(unsigned n)
{
	return (unsigned)(rnd() % n);
}

/* ---- floating-point values: specials, edges, small integers ---- */
static uint32_t rand_f32(void)
{
	static const uint32_t sp[] = {
		0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x7f800000,
		0xff800000, 0x7fc00000, 0xffc00000, 0x7fa00001, 0xffb12345,
		0x7fc12345, 0x00000001, 0x807fffff, 0x00800000, 0x80800000,
		0x7f7fffff, 0xff7fffff, 0x4f000000, 0xcf000000, 0x5f000000,
		0xdf000000, 0x4effffff, 0x3eaaaaab, 0x3f000000, 0x3fc00000,
	};
	uint32_t v = (uint32_t)rnd();
	float f;

	switch (rn(5)) {
	case 0:
	case 1:
		return sp[rn(sizeof(sp) / sizeof(sp[0]))];
	case 2: /* a small integer, maybe halved */
		{
			int num = (int)rn(2001) - 1000;
			f = (float)num / (float)(1u << rn(3));
		}
		memcpy(&v, &f, 4);
		return v;
	case 3: /* near the ends of the exponent range */
		return (v & 0x807fffffu) |
		       (rn(2) ? rn(3) << 23 : (252u + rn(3)) << 23);
	default:
		return (v & 0x807fffffu) | ((112u + rn(32)) << 23);
	}
}

static uint64_t rand_f64(void)
{
	static const uint64_t sp[] = {
		0, 1ull << 63, 0x3ff0000000000000ull, 0xbff0000000000000ull,
		0x7ff0000000000000ull, 0xfff0000000000000ull,
		0x7ff8000000000000ull, 0xfff8000000000000ull,
		0x7ff4000000000001ull, 0xfff0000000abcdefull,
		0x7ff8000000012345ull, 1, 0x800fffffffffffffull,
		0x0010000000000000ull, 0x7fefffffffffffffull,
		0x41e0000000000000ull, 0xc1e0000000000000ull,
		0x43e0000000000000ull, 0xc3e0000000000000ull,
		0x41dfffffffffffffull, 0x3fd5555555555555ull,
		0x47efffffe0000000ull, 0x47efffffffffffffull,
		0x3810000000000000ull, 0x36a0000000000000ull,
	};
	uint64_t v = rnd();
	double d;

	switch (rn(5)) {
	case 0:
	case 1:
		return sp[rn(sizeof(sp) / sizeof(sp[0]))];
	case 2:
		{
			int num = (int)rn(2001) - 1000;
			d = (double)num / (double)(1u << rn(3));
		}
		memcpy(&v, &d, 8);
		return v;
	case 3: /* ends of the double range, and of the float range */
		switch (rn(3)) {
		case 0: return (v & 0x800fffffffffffffull) | (uint64_t)rn(3) << 52;
		case 1: return (v & 0x800fffffffffffffull) |
			       (uint64_t)(2044 + rn(3)) << 52;
		default: {
			uint64_t e = 1023 - 126 - 25 + rn(30);
			e += rn(2) ? 0 : 253;
			return (v & 0x800fffffffffffffull) | e << 52;
		}
		}
	default:
		return (v & 0x800fffffffffffffull) | (uint64_t)(1000 + rn(48)) << 52;
	}
}

/* 16 bytes of floats or doubles */
static void rand_fp128(uint8_t *b)
{
	if (rn(2)) {
		for (int k = 0; k < 4; k++) {
			uint32_t v = rand_f32();
			memcpy(b + 4 * k, &v, 4);
		}
	} else {
		for (int k = 0; k < 2; k++) {
			uint64_t v = rand_f64();
			memcpy(b + 8 * k, &v, 8);
		}
	}
}

/* ---- instruction records ---- */
struct insn {
	uint8_t b[24];
	unsigned len;
	const char *what;
	unsigned undef_set;  /* flags left undefined */
	unsigned defined;    /* flags written with defined values */
	bool reads_flags;
	int rip_patch;       /* offset of a RIP-relative disp32, or -1 */
	uint64_t rip_target;
};

struct seq {
	struct insn in[MAX_INSNS];
	unsigned n;
};

/* registers the generator may write (64-bit: not RSP, R14, R15) */
static const int wregs64[] = { 0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13 };
static const int wregs32[] = { 0, 1, 2, 3, 6, 7 };
#define BASE64 15  /* r15 = scratch base */
#define INDEX64 14 /* r14 = small index */
#define BASE32 5   /* ebp */

static int wreg(void)
{
	return mode64 ? wregs64[rn(13)] : wregs32[rn(6)];
}

/* operand sizes: 1, 2, 4, 8 */
static unsigned rsize(void)
{
	unsigned s = 1u << rn(mode64 ? 4 : 3);
	return s;
}

struct enc {
	struct insn *i;
	unsigned rex;
	bool need_rex;
	bool no_rex;  /* uses AH..BH */
};

static void put(struct insn *i, uint8_t b)
{
	i->b[i->len++] = b;
}

/* @regf of emit() is an opcode extension, not a register */
#define EXT 0x100

/* r/m operand description */
struct rm {
	bool mem;
	int reg;       /* when !mem */
	int form;      /* memory form */
	int32_t disp;
	int index, scale;
};

/*
 * Memory forms, all inside the scratch buffer:
 * 0 [base+disp8], 1 [base+disp32], 2 [base+index*scale+disp8],
 * 3 [abs32] (SIB, no base), 4 [rip+disp32] (64-bit), 5 [base] with SIB
 */
static void rand_mem(struct rm *m, unsigned size)
{
	m->mem = true;
	m->form = rn(mode64 ? 6 : 6);
	if (!mode64 && m->form == 4)
		m->form = 0;
	m->disp = (int32_t)(rn(0x300) & ~0u) - 0x100;
	if (m->form == 2) {
		m->scale = rn(4);
		if (!mode64)
			m->scale = 0; /* 32-bit: SIB without index */
	}
	(void)size;
}

static struct rm rand_rm(unsigned size, bool allow_mem)
{
	struct rm m = { 0 };

	if (allow_mem && rn(3) == 0) {
		rand_mem(&m, size);
		return m;
	}
	m.reg = wreg();
	return m;
}

/*
 * Emit prefixes, REX, opcode bytes, ModRM+SIB+disp for reg field @regf.
 * Byte registers 4-7 mean AH CH DH BH without REX and SPL BPL SIL DIL
 * with it; SPL is never used (it would move the stack).
 */
static void emit(struct insn *i, unsigned size, const uint8_t *op,
		 unsigned oplen, int regf, struct rm m, bool rexw_ok,
		 const uint8_t *mand, unsigned nmand)
{
	unsigned rex = 0;
	int rmreg = m.mem ? 0 : m.reg;
	bool use_rex = false, regf_reg = !(regf & EXT);

	regf &= 0xff;

	if (size == 2)
		put(i, 0x66);
	for (unsigned k = 0; k < nmand; k++)
		put(i, mand[k]);
	if (mode64) {
		if (size == 8 && rexw_ok)
			rex |= 8;
		if (m.mem && (m.form == 0 || m.form == 1 || m.form == 2 ||
			      m.form == 5))
			rex |= 1; /* base r15 */
		if (m.mem && m.form == 2)
			rex |= 2; /* index r14 */
		if (!m.mem && rmreg >= 8)
			rex |= 1;
		if (regf >= 8)
			rex |= 4;
		use_rex = rex != 0 || (size == 1 && rn(3) == 0);
		if (size == 1 && use_rex) {
			if (regf == 4 && regf_reg)
				regf = 6;
			if (!m.mem && rmreg == 4)
				rmreg = 6;
		}
		if (use_rex)
			put(i, (uint8_t)(0x40 | rex));
	}
	for (unsigned k = 0; k < oplen; k++)
		put(i, op[k]);
	regf &= 7;
	if (!m.mem) {
		put(i, (uint8_t)(0xc0 | (regf << 3) | (rmreg & 7)));
		return;
	}
	if (!mode64 && (m.form == 0 || m.form == 1 || m.form == 5 ||
			m.form == 2)) {
		/* base EBP */
		if (m.form == 2 || m.form == 5) {
			put(i, (uint8_t)(0x44 | (regf << 3)));
			put(i, (uint8_t)(0x20 | BASE32)); /* no index */
			put(i, (uint8_t)m.disp);
		} else if (m.form == 0) {
			put(i, (uint8_t)(0x45 | (regf << 3)));
			put(i, (uint8_t)m.disp);
		} else {
			put(i, (uint8_t)(0x85 | (regf << 3)));
			memcpy(i->b + i->len, &m.disp, 4);
			i->len += 4;
		}
		return;
	}
	switch (m.form) {
	case 0:
		put(i, (uint8_t)(0x47 | (regf << 3))); /* [r15+disp8] */
		put(i, (uint8_t)m.disp);
		break;
	case 1:
		put(i, (uint8_t)(0x87 | (regf << 3)));
		memcpy(i->b + i->len, &m.disp, 4);
		i->len += 4;
		break;
	case 2:
		put(i, (uint8_t)(0x44 | (regf << 3)));
		put(i, (uint8_t)((m.scale << 6) | ((INDEX64 & 7) << 3) |
				 (BASE64 & 7)));
		put(i, (uint8_t)m.disp);
		break;
	case 3: {
		uint32_t a = (uint32_t)(ENV_DATA + SCRATCH_OFF + m.disp);
		put(i, (uint8_t)(0x04 | (regf << 3)));
		put(i, 0x25);
		memcpy(i->b + i->len, &a, 4);
		i->len += 4;
		break;
	}
	case 4:
		put(i, (uint8_t)(0x05 | (regf << 3)));
		i->rip_patch = (int)i->len;
		i->rip_target = ENV_DATA + SCRATCH_OFF + m.disp;
		i->len += 4;
		break;
	default:
		put(i, (uint8_t)(0x04 | (regf << 3)));
		put(i, 0x20 | (BASE64 & 7)); /* SIB, no index */
		break;
	}
}

static void imm(struct insn *i, uint64_t v, unsigned n)
{
	memcpy(i->b + i->len, &v, n);
	i->len += n;
}

static unsigned immsz(unsigned size)
{
	return size == 1 ? 1 : size == 2 ? 2 : 4;
}

static void init_insn(struct insn *i, const char *what)
{
	memset(i, 0, sizeof(*i));
	i->what = what;
	i->rip_patch = -1;
}

/* ---- generators: each fills @i, sets flag effects ---- */

static void g_alu(struct insn *i)
{
	unsigned size = rsize(), op = rn(8), form = rn(4);
	struct rm m = rand_rm(size, true);
	uint8_t opc;

	init_insn(i, "alu");
	i->defined = ARITH;
	if (op == 1 || op == 4 || op == 6) { /* OR AND XOR: AF undefined */
		i->defined = ARITH & ~AF;
		i->undef_set = AF;
	}
	if (op == 2 || op == 3)
		i->reads_flags = true;
	switch (form) {
	case 0: /* r/m, reg */
	case 1: /* reg, r/m */
		opc = (uint8_t)(op * 8 + (form ? 2 : 0) + (size == 1 ? 0 : 1));
		emit(i, size, &opc, 1, wreg(), m, true, NULL, 0);
		break;
	case 2: { /* r/m, imm */
		uint8_t o = size == 1 ? 0x80 : rn(2) ? 0x83 : 0x81;
		emit(i, size, &o, 1, EXT | ((int)op), m, true, NULL, 0);
		if (o == 0x81)
			imm(i, rnd(), immsz(size));
		else
			imm(i, rnd(), 1);
		break;
	}
	default: { /* accumulator, imm */
		uint8_t o = (uint8_t)(op * 8 + 4 + (size == 1 ? 0 : 1));
		if (size == 2)
			put(i, 0x66);
		if (size == 8)
			put(i, 0x48);
		put(i, o);
		imm(i, rnd(), immsz(size));
		break;
	}
	}
}

static void g_unary(struct insn *i)
{
	unsigned size = rsize(), k = rn(4);
	struct rm m = rand_rm(size, true);
	uint8_t o;

	init_insn(i, "inc/dec/neg/not");
	if (k < 2) {
		o = size == 1 ? 0xfe : 0xff;
		i->defined = ARITH & ~CF;
		emit(i, size, &o, 1, EXT | ((int)k), m, true, NULL, 0);
	} else {
		o = size == 1 ? 0xf6 : 0xf7;
		i->defined = k == 3 ? ARITH : 0;
		emit(i, size, &o, 1, EXT | ((int)k), m, true, NULL, 0);
	}
}

static void g_test(struct insn *i)
{
	unsigned size = rsize();
	struct rm m = rand_rm(size, true);
	uint8_t o;

	init_insn(i, "test");
	i->defined = ARITH & ~AF;
	i->undef_set = AF;
	if (rn(2)) {
		o = size == 1 ? 0x84 : 0x85;
		emit(i, size, &o, 1, wreg(), m, true, NULL, 0);
	} else {
		o = size == 1 ? 0xf6 : 0xf7;
		emit(i, size, &o, 1, EXT | (0), m, true, NULL, 0);
		imm(i, rnd(), immsz(size));
	}
}

static void g_shift(struct insn *i)
{
	unsigned size = rsize(), op = rn(8), form = rn(3), cnt = 0;
	struct rm m = rand_rm(size, true);
	uint8_t o;

	init_insn(i, "shift/rotate");
	if (op == 6)
		op = 4;
	if (form == 0) {
		o = size == 1 ? 0xd0 : 0xd1;
		cnt = 1;
	} else if (form == 1) {
		o = size == 1 ? 0xc0 : 0xc1;
		cnt = rn(3) ? rn(size * 8 + 2) : rn(256);
	} else {
		o = size == 1 ? 0xd2 : 0xd3;
		if (rn(2)) {
			/* mov cl, n first: the count is known, so the flags
			 * are compared (the JIT computes them itself) */
			cnt = rn(3) ? rn(size * 8 + 2) : rn(256);
			put(i, 0xb1);
			put(i, (uint8_t)cnt);
			form = 3;
		}
	}
	emit(i, size, &o, 1, EXT | ((int)op), m, true, NULL, 0);
	if (form == 1)
		imm(i, cnt, 1);
	if (op == 2 || op == 3)
		i->reads_flags = true;
	if (form == 2) {
		/* count unknown here: everything it may leave undefined */
		i->undef_set = OF | AF;
		if (op < 4)
			i->undef_set = OF;
		if (size < 4)
			i->undef_set |= CF;
		if (op >= 4)
			i->defined = 0; /* count 0 leaves flags alone */
		i->reads_flags = true; /* count 0: old flags survive */
		return;
	}
	cnt &= size == 8 ? 63 : 31;
	if (!cnt)
		return;
	if (op < 4) { /* rotates: CF, OF */
		unsigned eff = op >= 2 && size < 4 ? cnt % (size * 8 + 1) : cnt;
		if (op >= 2 && eff == 0) {
			if (cnt != 1)
				i->undef_set = OF;
			return;
		}
		i->defined = CF;
		if (cnt == 1)
			i->defined |= OF;
		else
			i->undef_set = OF;
		return;
	}
	i->defined = ARITH & ~AF & ~OF;
	i->undef_set = AF;
	if (cnt == 1)
		i->defined |= OF;
	else
		i->undef_set |= OF;
	if (cnt > size * 8) {
		i->defined &= ~CF;
		i->undef_set |= CF;
	}
}

static void g_mul(struct insn *i)
{
	unsigned size = rsize(), k = rn(4);
	struct rm m = rand_rm(size, true);

	init_insn(i, "mul/imul");
	i->defined = CF | OF;
	i->undef_set = SF | ZF | AF | PF;
	if (k < 2 || size == 1) { /* one operand */
		uint8_t o = size == 1 ? 0xf6 : 0xf7;
		emit(i, size, &o, 1, EXT | (4 + (int)(k & 1)), m, true, NULL, 0);
	} else if (k == 2) {
		uint8_t o[2] = { 0x0f, 0xaf };
		emit(i, size, o, 2, wreg(), m, true, NULL, 0);
	} else {
		uint8_t o = rn(2) ? 0x6b : 0x69;
		emit(i, size, &o, 1, wreg(), m, true, NULL, 0);
		imm(i, rnd(), o == 0x6b ? 1 : immsz(size));
	}
}

/* DIV/IDIV: preceded (in the same record) by a setup that avoids #DE
 * mostly; a #DE is still compared (both backends must deliver it).  One
 * in six has no setup (a random RDX: mostly a quotient overflow #DE), one
 * in four divides by a scratch memory operand (sometimes 0). */
static void g_div(struct insn *i)
{
	unsigned size = rsize(), sign = rn(2), raw = rn(6) == 0;
	unsigned memop = rn(4) == 0;
	int r = wreg();
	uint8_t o;

	init_insn(i, "div/idiv");
	/* (every form: the flags after DIV/IDIV differ between CPUs) */
	i->undef_set = ARITH;
	if (raw || memop) {
		struct rm m = { .mem = false, .reg = r };
		if (memop)
			rand_mem(&m, size);
		else if (size == 1 && r >= 4)
			m.reg = 3; /* BL (no REX byte registers) */
		o = size == 1 ? 0xf6 : 0xf7;
		emit(i, size, &o, 1, EXT | (6 + (int)sign), m, true, NULL, 0);
		return;
	}
	while (r == 0 || r == 2)
		r = wreg();
	/* or r, 1 (nonzero divisor) */
	if (size == 2)
		put(i, 0x66);
	if (mode64)
		put(i, (uint8_t)(0x40 | (size == 8 ? 8 : 0) | (r >= 8 ? 1 : 0)));
	put(i, 0x83);
	put(i, (uint8_t)(0xc8 | (r & 7)));
	put(i, (uint8_t)(rn(2) ? 1 : 0x41));
	if (size == 1) {
		/* mov ah, 0 */
		put(i, 0xb4);
		put(i, 0);
	} else if (!sign) {
		/* xor edx, edx */
		put(i, 0x31);
		put(i, 0xd2);
	} else {
		/* cwd/cdq/cqo */
		if (size == 2)
			put(i, 0x66);
		if (size == 8)
			put(i, 0x48);
		put(i, 0x99);
	}
	o = size == 1 ? 0xf6 : 0xf7;
	{
		struct rm m = { .mem = false, .reg = r };
		if (size == 1 && mode64 && r >= 4) {
			/* need REX for r >= 4 as a byte register: use BL */
			m.reg = 3;
			/* make BL nonzero: or bl, 1 */
			put(i, 0x80);
			put(i, 0xcb);
			put(i, 1);
		} else if (size == 1 && r >= 4) {
			m.reg = 3;
			put(i, 0x80);
			put(i, 0xcb);
			put(i, 1);
		}
		emit(i, size, &o, 1, EXT | (6 + (int)sign), m, true, NULL, 0);
	}
	i->undef_set = ARITH;
}

static void g_bt(struct insn *i)
{
	unsigned size = 2u << rn(mode64 ? 3 : 2), k = rn(4);
	uint8_t o[2] = { 0x0f, 0 };

	init_insn(i, "bt*");
	i->defined = CF;
	i->undef_set = OF | SF | AF | PF;
	if (rn(2)) { /* register offset, register operand only */
		static const uint8_t ops[4] = { 0xa3, 0xab, 0xb3, 0xbb };
		struct rm m = { .mem = false, .reg = wreg() };
		o[1] = ops[k];
		emit(i, size, o, 2, wreg(), m, true, NULL, 0);
	} else {
		struct rm m = rand_rm(size, true);
		o[1] = 0xba;
		emit(i, size, o, 2, EXT | (4 + (int)k), m, true, NULL, 0);
		imm(i, rnd(), 1);
	}
}

static void g_bitscan(struct insn *i)
{
	/* 32-bit code on the nested KVM of our build machines goes through
	 * KVM's instruction emulator, which lacks POPCNT/TZCNT/LZCNT (#UD,
	 * or BSR for LZCNT): only BSF/BSR there */
	unsigned size = 2u << rn(mode64 ? 3 : 2), k = rn(mode64 ? 5 : 2);
	struct rm m = rand_rm(size, true);
	static const uint8_t ops[5] = { 0xbc, 0xbd, 0xbc, 0xbd, 0xb8 };
	uint8_t o[2] = { 0x0f, ops[k] };
	uint8_t f3 = 0xf3;

	init_insn(i, "bsf/bsr/tzcnt/lzcnt/popcnt");
	if (k < 2) {
		i->defined = ZF;
		i->undef_set = CF | OF | SF | AF | PF;
		emit(i, size, o, 2, wreg(), m, true, NULL, 0);
	} else if (k < 4) {
		i->defined = CF | ZF;
		i->undef_set = OF | SF | AF | PF;
		emit(i, size, o, 2, wreg(), m, true, &f3, 1);
	} else {
		i->defined = ARITH;
		emit(i, size, o, 2, wreg(), m, true, &f3, 1);
	}
	/* mandatory F3 must come before REX but after 66: emit put 66
	 * first, then F3, which is the order the SDM allows */
}

static void g_mov(struct insn *i)
{
	unsigned size = rsize(), k = rn(7);
	int r = wreg();

	init_insn(i, "mov/movzx/movsx/bswap/lea");
	switch (k) {
	case 0: { /* mov r/m, r / r, r/m */
		uint8_t o = (uint8_t)((size == 1 ? 0x88 : 0x89) + (rn(2) ? 2 : 0));
		emit(i, size, &o, 1, r, rand_rm(size, true), true, NULL, 0);
		break;
	}
	case 1: { /* mov r/m, imm */
		uint8_t o = size == 1 ? 0xc6 : 0xc7;
		emit(i, size, &o, 1, EXT | (0), rand_rm(size, true), true, NULL, 0);
		imm(i, rnd(), immsz(size));
		break;
	}
	case 2: /* mov r, imm (B0/B8), 64-bit immediate with REX.W */
		if (size == 2)
			put(i, 0x66);
		if (mode64 && (size == 8 || r >= 8))
			put(i, (uint8_t)(0x40 | (size == 8 ? 8 : 0) | (r >= 8)));
		if (size == 1 && r >= 4 && mode64 && r < 8)
			r &= 3; /* keep it simple: AL..BL */
		put(i, (uint8_t)((size == 1 ? 0xb0 : 0xb8) + (r & 7)));
		imm(i, rnd(), size == 8 ? 8 : immsz(size));
		break;
	case 3: { /* movzx / movsx */
		unsigned ssz = rn(2) ? 1 : 2;
		unsigned dsz = ssz == 2 ? 4u << rn(mode64 ? 2 : 1) :
					  2u << rn(mode64 ? 3 : 2);
		uint8_t o[2] = { 0x0f, (uint8_t)((rn(2) ? 0xbe : 0xb6) +
						 (ssz == 2)) };
		struct rm m = rand_rm(ssz, true);
		if (!m.mem && ssz == 1 && mode64 && m.reg >= 4 && m.reg < 8)
			m.reg &= 3;
		emit(i, dsz, o, 2, r, m, true, NULL, 0);
		break;
	}
	case 4: /* bswap */
		if (mode64) {
			put(i, (uint8_t)(0x40 | (rn(2) ? 8 : 0) | (r >= 8)));
		}
		put(i, 0x0f);
		put(i, (uint8_t)(0xc8 + (r & 7)));
		break;
	case 5: { /* lea with random addressing, incl. index registers */
		unsigned asz = mode64 && rn(4) == 0 ? 4 : 0;
		unsigned dsz = 2u << rn(mode64 ? 3 : 2);
		int base = wreg(), index = wreg();
		if (dsz == 2)
			put(i, 0x66);
		if (asz)
			put(i, 0x67);
		if (mode64)
			put(i, (uint8_t)(0x40 | (dsz == 8 ? 8 : 0) |
					 (r >= 8 ? 4 : 0) | (index >= 8 ? 2 : 0) |
					 (base >= 8 ? 1 : 0)));
		put(i, 0x8d);
		if ((base & 7) == 5) {
			put(i, (uint8_t)(0x84 | ((r & 7) << 3)));
			put(i, (uint8_t)((rn(4) << 6) | ((index & 7) << 3) | 5));
			imm(i, rnd(), 4);
		} else {
			put(i, (uint8_t)(0x44 | ((r & 7) << 3)));
			put(i, (uint8_t)((rn(4) << 6) | ((index & 7) << 3) |
					 (base & 7)));
			imm(i, rnd(), 1);
		}
		break;
	}
	default: /* movsxd */
		if (mode64) {
			struct rm m = rand_rm(4, true);
			uint8_t o = 0x63;
			emit(i, 8, &o, 1, r, m, true, NULL, 0);
		} else {
			uint8_t o = 0x89;
			emit(i, 4, &o, 1, r, rand_rm(4, true), true, NULL, 0);
		}
		break;
	}
}

static void g_stack(struct insn *i)
{
	unsigned k = rn(6);
	int r = wreg();

	init_insn(i, "push/pop/pushf");
	switch (k) {
	case 0:
	case 1: /* push r / pop r */
		if (mode64 && r >= 8)
			put(i, 0x41);
		put(i, (uint8_t)((k ? 0x58 : 0x50) + (r & 7)));
		break;
	case 2: /* push imm */
		if (rn(2)) {
			put(i, 0x6a);
			imm(i, rnd(), 1);
		} else {
			put(i, 0x68);
			imm(i, rnd(), 4);
		}
		break;
	case 3: { /* push m */
		struct rm m;
		uint8_t o = 0xff;
		rand_mem(&m, 8);
		emit(i, mode64 ? 4 : 4, &o, 1, EXT | (6), m, false, NULL, 0);
		break;
	}
	case 4: /* pushf; and dword [rsp], 0xfff; pop r (IOPL
		 * differs: the environments, not the CPUs) */
		i->reads_flags = true;
		put(i, 0x9c);
		put(i, 0x81);
		put(i, 0x24);
		put(i, 0x24);
		imm(i, 0xfff, 4);
		if (mode64 && r >= 8)
			put(i, 0x41);
		put(i, (uint8_t)(0x58 + (r & 7)));
		break;
	default: { /* pop m */
		struct rm m;
		uint8_t o = 0x8f;
		rand_mem(&m, 8);
		emit(i, 4, &o, 1, EXT | (0), m, false, NULL, 0);
		break;
	}
	}
}

static void g_cond(struct insn *i)
{
	unsigned k = rn(2), cc = rn(16);

	init_insn(i, "cmov/setcc");
	i->reads_flags = true;
	if (k == 0) {
		unsigned size = 2u << rn(mode64 ? 3 : 2);
		uint8_t o[2] = { 0x0f, (uint8_t)(0x40 + cc) };
		{
			struct rm rm = rand_rm(size, true);
			emit(i, size, o, 2, wreg(), rm, true, NULL, 0);
		}
	} else {
		uint8_t o[2] = { 0x0f, (uint8_t)(0x90 + cc) };
		emit(i, 1, o, 2, EXT | (0), rand_rm(1, true), true, NULL, 0);
	}
}

static void g_xchg(struct insn *i)
{
	unsigned size = rsize(), k = rn(5);

	init_insn(i, "xchg/xadd/cmpxchg");
	switch (k) {
	case 0: {
		uint8_t o = size == 1 ? 0x86 : 0x87;
		{
			struct rm rm = rand_rm(size, true);
			emit(i, size, &o, 1, wreg(), rm, true, NULL, 0);
		}
		break;
	}
	case 1: {
		uint8_t o[2] = { 0x0f, (uint8_t)(size == 1 ? 0xc0 : 0xc1) };
		i->defined = ARITH;
		{
			struct rm rm = rand_rm(size, true);
			emit(i, size, o, 2, wreg(), rm, true, NULL, 0);
		}
		break;
	}
	case 2: {
		uint8_t o[2] = { 0x0f, (uint8_t)(size == 1 ? 0xb0 : 0xb1) };
		struct rm m = rand_rm(size, true);
		i->defined = ARITH;
		if (m.mem && rn(2))
			put(i, 0xf0); /* lock */
		emit(i, size, o, 2, wreg(), m, true, NULL, 0);
		break;
	}
	case 3: { /* cmpxchg8b / 16b */
		struct rm m;
		uint8_t o[2] = { 0x0f, 0xc7 };
		bool wide = mode64 && rn(2);
		rand_mem(&m, 8);
		if (wide) {
			/* 16-byte aligned: [r15 + disp8 & ~15] */
			m.form = 0;
			m.disp &= ~15;
		}
		i->defined = ZF;
		if (rn(2))
			put(i, 0xf0); /* lock */
		emit(i, wide ? 8 : 4, o, 2, EXT | (1), m, true, NULL, 0);
		break;
	}
	default: /* xchg eAX, r */
		if (size == 1)
			size = 4;
		if (size == 2)
			put(i, 0x66);
		{
			int r = wreg();
			if (mode64 && (size == 8 || r >= 8))
				put(i, (uint8_t)(0x40 | (size == 8 ? 8 : 0) |
						 (r >= 8)));
			put(i, (uint8_t)(0x90 + (r & 7)));
		}
		break;
	}
}

/* LOCK read-modify-writes of memory: ADD/OR/AND/SUB/XOR (r/m, r and
 * r/m, imm), INC/DEC/NOT/NEG, BTS/BTR/BTC with an immediate offset */
static void g_lock(struct insn *i)
{
	static const unsigned alu[5] = { 0, 1, 4, 5, 6 };
	unsigned size = rsize(), k = rn(4), op = alu[rn(5)];
	struct rm m;

	init_insn(i, "lock");
	rand_mem(&m, size);
	put(i, 0xf0);
	switch (k) {
	case 0: { /* op r/m, r */
		uint8_t o = (uint8_t)(op * 8 + (size == 1 ? 0 : 1));
		i->defined = op == 0 || op == 5 ? ARITH : ARITH & ~AF;
		i->undef_set = op == 0 || op == 5 ? 0 : AF;
		emit(i, size, &o, 1, wreg(), m, true, NULL, 0);
		break;
	}
	case 1: { /* op r/m, imm */
		uint8_t o = size == 1 ? 0x80 : rn(2) ? 0x83 : 0x81;
		i->defined = op == 0 || op == 5 ? ARITH : ARITH & ~AF;
		i->undef_set = op == 0 || op == 5 ? 0 : AF;
		emit(i, size, &o, 1, EXT | (int)op, m, true, NULL, 0);
		imm(i, rnd(), o == 0x81 ? immsz(size) : 1);
		break;
	}
	case 2: { /* inc dec not neg */
		unsigned u = rn(4);
		uint8_t o = u < 2 ? (size == 1 ? 0xfe : 0xff) :
				    (size == 1 ? 0xf6 : 0xf7);
		i->defined = u < 2 ? ARITH & ~CF : u == 3 ? ARITH : 0;
		emit(i, size, &o, 1, EXT | (int)u, m, true, NULL, 0);
		break;
	}
	default: { /* bts btr btc m, imm8 */
		uint8_t o[2] = { 0x0f, 0xba };
		if (size == 1)
			size = 4;
		i->defined = CF;
		i->undef_set = OF | SF | AF | PF;
		emit(i, size, o, 2, EXT | (5 + (int)rn(3)), m, true, NULL, 0);
		imm(i, rnd(), 1);
		break;
	}
	}
}

/* MOVBE r, m / m, r (0F 38 F0/F1) of 2, 4, 8 bytes */
static void g_movbe(struct insn *i)
{
	unsigned size;
	uint8_t o[3] = { 0x0f, 0x38, 0xf0 };
	struct rm m;

	if (!mode64) { /* KVM's emulator runs 32-bit code here: #UD */
		g_alu(i);
		return;
	}
	size = 2u << rn(3);
	o[2] = (uint8_t)(0xf0 + rn(2));
	init_insn(i, "movbe");
	rand_mem(&m, size);
	emit(i, size, o, 3, wreg(), m, true, NULL, 0);
}

/* 16-bit PUSH/POP of a register (66 50+r / 66 58+r) */
static void g_pp16(struct insn *i)
{
	int r = wreg();

	init_insn(i, "push/pop r16");
	put(i, 0x66);
	if (mode64 && r >= 8)
		put(i, 0x41);
	put(i, (uint8_t)((rn(2) ? 0x58 : 0x50) + (r & 7)));
}

static void g_string(struct insn *i)
{
	static const uint8_t ops[] = { 0xa4, 0xa6, 0xaa, 0xac, 0xae };
	unsigned k = rn(5), size = rsize(), rep = rn(3);
	uint32_t si = ENV_DATA + 0x800 + rn(0x200), di = ENV_DATA + 0xc00 + rn(0x200);
	/* up to 40 elements (320 bytes) stay in the window of --batch
	 * (0x200-0x1000) either way; MOVS/CMPS now and then with the
	 * operands overlapping (a REP MOVS repeating a pattern) */
	unsigned n = rn(3) ? rn(17) : rn(41);

	init_insn(i, "string");
	if ((k == 0 || k == 1) && rn(4) == 0)
		di = si + rn(17) - 8;
	/* mov esi/edi/ecx (zero-extending in 64-bit) */
	put(i, 0xbe);
	imm(i, si, 4);
	put(i, 0xbf);
	imm(i, di, 4);
	put(i, 0xb9);
	imm(i, n, 4);
	put(i, rn(2) ? 0xfc : 0xfd); /* cld / std */
	if (size == 2)
		put(i, 0x66);
	if (mode64 && rn(4) == 0)
		put(i, 0x67); /* 32-bit addresses: ESI/EDI/ECX */
	if (rep == 1)
		put(i, 0xf3);
	else if (rep == 2)
		put(i, 0xf2); /* REPNE; a plain REP for MOVS/STOS/LODS */
	if (size == 8)
		put(i, 0x48);
	put(i, (uint8_t)(ops[k] + (size == 1 ? 0 : 1)));
	put(i, 0xfc); /* cld */
	if (k == 1 || k == 4)
		i->defined = ARITH; /* or unchanged with count 0 */
	if ((k == 1 || k == 4) && rep)
		i->reads_flags = true;
}

static void g_misc(struct insn *i)
{
	unsigned k = rn(9);

	init_insn(i, "misc");
	switch (k) {
	case 0: /* cbw/cwde/cdqe */
		if (mode64 && rn(2))
			put(i, 0x48);
		else if (rn(2))
			put(i, 0x66);
		put(i, 0x98);
		break;
	case 1: put(i, 0x99); break;
	case 2: if (mode64) put(i, 0x48); put(i, 0x99); break;
	case 3: put(i, 0x9f); i->reads_flags = true; break; /* lahf */
	case 4: put(i, 0x9e); i->defined = CF | PF | AF | ZF | SF; break;
	case 5: put(i, 0xf8); i->defined = CF; break;
	case 6: put(i, 0xf9); i->defined = CF; break;
	case 7: put(i, 0xf5); i->defined = CF; i->reads_flags = true; break;
	default: /* nopw */
		put(i, 0x66); put(i, 0x0f); put(i, 0x1f); put(i, 0x44);
		put(i, 0x00); put(i, 0x00);
		break;
	}
}

static void g_shxd(struct insn *i)
{
	unsigned size = 2u << rn(mode64 ? 3 : 2), byimm = rn(2);
	uint8_t o[2] = { 0x0f, (uint8_t)((rn(2) ? 0xa4 : 0xac) + !byimm) };
	unsigned cnt = rn(size == 2 ? 17 : size * 8);

	init_insn(i, "shld/shrd");
	if (!byimm && size == 2) {
		/* CL counts above 16 are undefined for 16-bit: use imm */
		o[1] &= ~1u;
		byimm = 1;
	}
	{
		struct rm rm = rand_rm(size, true);
		emit(i, size, o, 2, wreg(), rm, true, NULL, 0);
	}
	if (byimm)
		imm(i, cnt, 1);
	if (!byimm) {
		i->undef_set = OF | AF | CF;
		i->reads_flags = true;
		return;
	}
	if (!cnt)
		return;
	i->defined = CF | ZF | SF | PF;
	i->undef_set = AF;
	if (cnt == 1)
		i->defined |= OF;
	else
		i->undef_set |= OF;
}

static void g_jcc(struct insn *i)
{
	init_insn(i, "jcc");
	i->reads_flags = true;
	/* jcc over a 2-byte "inc ecx"-like instruction that follows */
	put(i, (uint8_t)(0x70 + rn(16)));
	put(i, 2);
	put(i, 0xff);
	put(i, (uint8_t)(0xc0 | (wreg() & 7))); /* inc r32 (low regs) */
	i->defined = 0;
	/* inc changes flags only when not skipped: treat them undefined */
	i->undef_set = ARITH & ~CF;
}

/* CALL/POP, LOOP, ENTER/LEAVE, XLAT, CALL/RET, indirect JMP/CALL */
static void g_flow(struct insn *i)
{
	unsigned k = rn(6);
	int r = wreg();

	init_insn(i, "call/loop/enter/xlat");
	switch (k) {
	case 0: /* call next; pop r (the return address) */
		put(i, 0xe8);
		imm(i, 0, 4);
		if (mode64 && r >= 8)
			put(i, 0x41);
		put(i, (uint8_t)(0x58 + (r & 7)));
		break;
	case 1: /* mov ecx, n; 1: inc r32; loop 1b */
		put(i, 0xb9);
		imm(i, 1 + rn(5), 4);
		r &= 7;
		if (r == 1)
			r = 0; /* not ECX itself */
		put(i, 0xff);
		put(i, (uint8_t)(0xc0 | (r & 7)));
		put(i, 0xe2);
		put(i, 0xfc);
		i->defined = ARITH & ~CF;
		break;
	case 2: /* enter n, 0; leave */
		put(i, 0xc8);
		imm(i, rn(64) * 8, 2);
		put(i, 0);
		put(i, 0xc9);
		break;
	case 3: /* mov ebx, DATA+0x400; xlat */
		put(i, 0xbb);
		imm(i, ENV_DATA + SCRATCH_OFF, 4);
		put(i, 0xd7);
		break;
	case 4: /* call 1f; jmp 2f; 1: ret; 2: */
		put(i, 0xe8);
		imm(i, 2, 4);
		put(i, 0xeb);
		put(i, 1);
		put(i, 0xc3);
		break;
	default: {
		/* call 1f; 1: pop r; add r, n; then to the end (r + n)
		 * by jmp r, call r, or push r and jmp/call [rsp] */
		unsigned how = rn(4), rx = mode64 && r >= 8;
		unsigned lpop = 1 + rx, ladd = 3 + mode64;
		unsigned ltail = how < 2 ? 2 + rx : 1 + rx + 3;
		put(i, 0xe8);
		imm(i, 0, 4);
		if (rx)
			put(i, 0x41);
		put(i, (uint8_t)(0x58 + (r & 7)));
		if (mode64)
			put(i, (uint8_t)(0x48 | rx));
		put(i, 0x83);
		put(i, (uint8_t)(0xc0 | (r & 7)));
		put(i, (uint8_t)(lpop + ladd + ltail));
		if (how >= 2) {
			if (rx)
				put(i, 0x41);
			put(i, (uint8_t)(0x50 + (r & 7)));
			put(i, 0xff);
			put(i, how == 2 ? 0x24 : 0x14); /* jmp/call [rsp] */
			put(i, 0x24);
		} else {
			if (rx)
				put(i, 0x41);
			put(i, 0xff);
			put(i, (uint8_t)((how ? 0xd0 : 0xe0) | (r & 7)));
		}
		/* ADD's flags, then (CALL) RSP: the flags stay defined */
		i->defined = ARITH;
		break;
	}
	}
}

/* ---- SSE/SSE2 floating point (64-bit mode) ---- */

/* an xmm/m operand: a register (0-15) or scratch memory; @align16 for
 * the packed m128 forms (misaligned now and then: #GP) */
static struct rm sse_rm(bool allow_mem, bool align16)
{
	struct rm m = { 0 };

	if (allow_mem && rn(3) == 0) {
		rand_mem(&m, 16);
		/* aligned only: on the nested KVM of our machines the #GP of
		 * a misaligned m128 is intercepted and KVM's instruction
		 * emulator, which lacks SSE, turns it into #UD (the unit
		 * tests check #GP on the software backend) */
		if (align16) {
			if (m.form == 2)
				m.form = 5;
			m.disp &= ~15;
		}
		return m;
	}
	m.reg = (int)rn(16);
	return m;
}

static void sse_emit(struct insn *i, unsigned pfx, bool rexw, uint8_t op,
		     int regf, struct rm m)
{
	uint8_t o[2] = { 0x0f, op }, p = (uint8_t)pfx;

	emit(i, rexw ? 8 : 4, o, 2, regf, m, true, &p, pfx ? 1 : 0);
}

/* sse_emit() with its arguments drawn right to left, explicitly: the order
 * gcc evaluated them in when the campaigns' seeds were recorded (C leaves
 * it open; clang goes left to right), so a seed is the same case with
 * every compiler */
#define SSE_EMIT(I, PFX, W, OP, REG, RM)                                   \
	do {                                                               \
		struct rm rm_ = (RM);                                      \
		int reg_ = (REG);                                          \
		uint8_t op_ = (uint8_t)(OP);                               \
		bool w_ = (W);                                             \
		unsigned pfx_ = (PFX);                                     \
		sse_emit(I, pfx_, w_, op_, reg_, rm_);                     \
	} while (0)

static const uint8_t sse_pfx[4] = { 0, 0x66, 0xf3, 0xf2 };

static void g_sse(struct insn *i)
{
	unsigned k = rn(4), what = rn(16);

	init_insn(i, "sse fp");
	if (!mode64) { /* KVM's emulator runs 32-bit code here: no SSE FP */
		g_alu(i);
		return;
	}
	switch (what) {
	case 0: case 1: case 2: case 3: case 4: { /* arithmetic */
		static const uint8_t ops[] = { 0x51, 0x58, 0x59, 0x5c, 0x5d,
					       0x5e, 0x5f };
		SSE_EMIT(i, sse_pfx[k], false, ops[rn(7)], (int)rn(16),
			 sse_rm(true, k < 2));
		break;
	}
	case 5: /* CMPcc */
		SSE_EMIT(i, sse_pfx[k], false, 0xc2, (int)rn(16),
			 sse_rm(true, k < 2));
		imm(i, rn(4) ? rn(8) : rn(256), 1); /* imm8[7:3] ignored */
		break;
	case 6: /* (U)COMISS/SD */
		i->defined = ARITH;
		SSE_EMIT(i, sse_pfx[k & 1], false, rn(2) ? 0x2e : 0x2f,
			 (int)rn(16), sse_rm(true, false));
		break;
	case 7: { /* CVTSI2SS/SD r/m32/64 */
		bool w = rn(2);
		SSE_EMIT(i, sse_pfx[2 + (k & 1)], w, 0x2a, (int)rn(16),
			 rand_rm(w ? 8 : 4, true));
		break;
	}
	case 8: /* CVT(T)SS2SI / SD2SI r32/64 */
		SSE_EMIT(i, sse_pfx[2 + (k & 1)], rn(2), rn(2) ? 0x2c : 0x2d,
			 wreg(), sse_rm(true, false));
		break;
	case 9: case 10: { /* CVT packed/scalar float <-> float/int */
		static const uint8_t pk[][2] = { { 0x5a, 0 }, { 0x5a, 1 },
			{ 0x5a, 2 }, { 0x5a, 3 }, { 0x5b, 0 }, { 0x5b, 1 },
			{ 0x5b, 2 }, { 0xe6, 1 }, { 0xe6, 2 }, { 0xe6, 3 } };
		unsigned n = rn(10);
		bool m128 = !(pk[n][0] == 0x5a && pk[n][1] != 1) &&
			    !(pk[n][0] == 0xe6 && pk[n][1] == 2);
		SSE_EMIT(i, sse_pfx[pk[n][1]], false, pk[n][0], (int)rn(16),
			 sse_rm(true, m128));
		break;
	}
	case 11: /* UNPCKL/H, SHUFPS/PD */
		if (rn(2)) {
			SSE_EMIT(i, sse_pfx[k & 1], false, rn(2) ? 0x14 : 0x15,
				 (int)rn(16), sse_rm(true, true));
		} else {
			SSE_EMIT(i, sse_pfx[k & 1], false, 0xc6, (int)rn(16),
				 sse_rm(true, true));
			imm(i, rn(256), 1);
		}
		break;
	case 12: /* MOVMSKPS/PD, MOVHLPS/MOVLHPS */
		if (rn(2))
			SSE_EMIT(i, sse_pfx[k & 1], rn(2), 0x50, wreg(),
				 sse_rm(false, false));
		else
			SSE_EMIT(i, 0, false, rn(2) ? 0x12 : 0x16,
				 (int)rn(16), sse_rm(false, false));
		break;
	case 13: /* RCP/RSQRT PS/SS */
		SSE_EMIT(i, sse_pfx[(k & 1) * 2], false, rn(2) ? 0x52 : 0x53,
			 (int)rn(16), sse_rm(true, !(k & 1)));
		break;
	case 14: { /* STMXCSR m32; MOVAPS/XORPS/ANDPS between registers */
		if (rn(2)) {
			struct rm m;
			rand_mem(&m, 4);
			SSE_EMIT(i, 0, false, 0xae, EXT | 3, m);
		} else {
			static const uint8_t ops[] = { 0x28, 0x54, 0x55, 0x57 };
			SSE_EMIT(i, sse_pfx[k & 1], false, ops[rn(4)],
				 (int)rn(16), sse_rm(false, false));
		}
		break;
	}
	default: { /* LDMXCSR of a valid value from the stack */
		uint32_t mx = (uint32_t)rnd() & 0xffff;
		if (rn(4))
			mx |= 0x1f80;
		/* push imm32; ldmxcsr [rsp]; lea rsp, [rsp+8] (no flags) */
		put(i, 0x68);
		imm(i, mx, 4);
		put(i, 0x0f); put(i, 0xae); put(i, 0x14); put(i, 0x24);
		put(i, 0x48); put(i, 0x8d); put(i, 0x64); put(i, 0x24);
		put(i, 0x08);
		break;
	}
	}
}

/* ---- SSE2 integer operations (64-bit mode) ---- */

static void g_sse_int(struct insn *i)
{
	static const uint8_t ops[] = {
		0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
		0x6a, 0x6b, 0x6c, 0x6d, 0x74, 0x75, 0x76, 0xd1, 0xd2, 0xd3,
		0xd4, 0xd5, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf,
		0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe8, 0xe9, 0xea, 0xeb,
		0xec, 0xed, 0xee, 0xef, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6,
		0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe };
	unsigned what = rn(8);

	init_insn(i, "sse2 int");
	if (!mode64) { /* KVM's emulator runs 32-bit code here: no SSE */
		g_alu(i);
		return;
	}
	switch (what) {
	case 0: { /* shifts by an immediate: PSRLW/D/Q PSRAW/D PSLLW/D/Q,
		   * PSRLDQ/PSLLDQ */
		static const uint8_t sh[][2] = { { 0x71, 2 }, { 0x71, 4 },
			{ 0x71, 6 }, { 0x72, 2 }, { 0x72, 4 }, { 0x72, 6 },
			{ 0x73, 2 }, { 0x73, 3 }, { 0x73, 6 }, { 0x73, 7 } };
		unsigned n = rn(10);
		SSE_EMIT(i, 0x66, false, sh[n][0], EXT | sh[n][1],
			 sse_rm(false, false));
		imm(i, rn(2) ? rn(20) : rn(256), 1);
		break;
	}
	case 1: /* PSHUFD / PSHUFHW / PSHUFLW */
		SSE_EMIT(i, sse_pfx[1 + rn(3)], false, 0x70, (int)rn(16),
			 sse_rm(true, true));
		imm(i, rn(256), 1);
		break;
	case 2: /* PINSRW xmm, r32/m16, imm8; PEXTRW r32, xmm, imm8;
		 * PMOVMSKB r32, xmm */
		if (rn(3) == 0) {
			SSE_EMIT(i, 0x66, false, 0xc4, (int)rn(16),
				 rand_rm(4, true));
			imm(i, rn(256), 1);
		} else if (rn(2)) {
			SSE_EMIT(i, 0x66, rn(2), 0xc5, wreg(),
				 sse_rm(false, false));
			imm(i, rn(256), 1);
		} else {
			SSE_EMIT(i, 0x66, rn(2), 0xd7, wreg(),
				 sse_rm(false, false));
		}
		break;
	default: /* xmm, xmm/m128 */
		SSE_EMIT(i, 0x66, false, ops[rn(sizeof(ops))], (int)rn(16),
			 sse_rm(true, true));
		break;
	}
}

/* ---- MMX (64-bit mode): the no-prefix forms on MM0-7 ---- */

static void g_mmx(struct insn *i)
{
	static const uint8_t ops[] = {
		0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
		0x6a, 0x6b, 0x74, 0x75, 0x76, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5,
		0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xe1,
		0xe2, 0xe3, 0xe4, 0xe5, 0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed,
		0xee, 0xef, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf8, 0xf9,
		0xfa, 0xfb, 0xfc, 0xfd, 0xfe };
	unsigned what = rn(10);

	init_insn(i, "mmx");
	if (!mode64) { /* KVM's emulator runs 32-bit code here */
		g_alu(i);
		return;
	}
	switch (what) {
	case 0: { /* shifts by an immediate */
		static const uint8_t sh[][2] = { { 0x71, 2 }, { 0x71, 4 },
			{ 0x71, 6 }, { 0x72, 2 }, { 0x72, 4 }, { 0x72, 6 },
			{ 0x73, 2 }, { 0x73, 6 } };
		unsigned n = rn(8);
		SSE_EMIT(i, 0, false, sh[n][0], EXT | sh[n][1],
			 sse_rm(false, false));
		imm(i, rn(2) ? rn(70) : rn(256), 1);
		break;
	}
	case 1: /* PSHUFW */
		SSE_EMIT(i, 0, false, 0x70, (int)rn(8), sse_rm(true, false));
		imm(i, rn(256), 1);
		break;
	case 2: /* PINSRW / PEXTRW / PMOVMSKB */
		if (rn(3) == 0) {
			SSE_EMIT(i, 0, false, 0xc4, (int)rn(8), rand_rm(4, true));
			imm(i, rn(256), 1);
		} else if (rn(2)) {
			SSE_EMIT(i, 0, rn(2), 0xc5, wreg(), sse_rm(false, false));
			imm(i, rn(256), 1);
		} else {
			SSE_EMIT(i, 0, rn(2), 0xd7, wreg(), sse_rm(false, false));
		}
		break;
	case 3: { /* MOVD/MOVQ mm <-> r/m32, r/m64 */
		bool w = rn(2);
		if (rn(2))
			SSE_EMIT(i, 0, w, 0x6e, (int)rn(8),
				 rand_rm(w ? 8 : 4, true));
		else
			SSE_EMIT(i, 0, w, 0x7e, (int)rn(8),
				 rand_rm(w ? 8 : 4, true));
		break;
	}
	case 4: /* MOVQ mm, mm/m64; MOVQ mm/m64, mm; MOVNTQ m64, mm */
		if (rn(4) == 0) {
			struct rm m = { 0 };
			rand_mem(&m, 8);
			SSE_EMIT(i, 0, false, 0xe7, (int)rn(8), m);
		} else {
			SSE_EMIT(i, 0, false, rn(2) ? 0x6f : 0x7f, (int)rn(8),
				 sse_rm(true, false));
		}
		break;
	case 5: /* EMMS, now and then */
		if (rn(3) == 0) {
			put(i, 0x0f);
			put(i, 0x77);
			break;
		}
		/* fall through */
	default: /* mm, mm/m64 (m32 for PUNPCKL*) */
		SSE_EMIT(i, 0, false, ops[rn(sizeof(ops))], (int)rn(8),
			 sse_rm(true, false));
		break;
	}
}

/* ---- x87 (64-bit mode) ---- */

/* the valid register forms (modrm C0-FF) */
static bool x87_reg_ok(unsigned op, unsigned m)
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
		return m < 0xe5 || (m >= 0xe8 && m < 0xf8);
	case 0xdd:
		return m < 0xf0;
	case 0xde:
		return !(m >= 0xd8 && m < 0xe0 && m != 0xd9);
	case 0xdf:
		return m <= 0xe0 || (m >= 0xe8 && m < 0xf8);
	default:
		return true;
	}
}

static void g_x87(struct insn *i)
{
	unsigned op = 0xd8 + rn(8);

	init_insn(i, "x87");
	if (!mode64) { /* KVM's emulator runs 32-bit code here: no x87 */
		g_alu(i);
		return;
	}
	if (rn(3)) {
		unsigned m;
		do {
			op = 0xd8 + rn(8);
			m = 0xc0 + rn(64);
		} while (!x87_reg_ok(op, m));
		put(i, (uint8_t)op);
		put(i, (uint8_t)m);
		if ((op == 0xdb || op == 0xdf) && m >= 0xe8 && m < 0xf8)
			i->defined = ARITH; /* FCOMI & co.: ZF PF CF, rest 0 */
		if (op == 0xda || (op == 0xdb && m < 0xe0))
			i->reads_flags = true; /* FCMOVcc */
		if (op == 0xdf && m == 0xe0)
			i->what = "x87 fnstsw ax";
	} else {
		/* memory forms; FNSTENV/FNSAVE are left out (they store
		 * FCS/FDS/FOP, which CPUs fill differently) */
		unsigned r;
		struct rm mm;
		uint8_t o;
		bool env;
		do {
			op = 0xd8 + rn(8);
			r = rn(8);
		} while ((op == 0xd9 && (r == 1 || r == 6)) ||
			 (op == 0xdb && (r == 4 || r == 6)) ||
			 (op == 0xdd && (r == 5 || r == 6)));
		env = (op == 0xd9 && r == 4) || (op == 0xdd && r == 4);
		rand_mem(&mm, 16);
		o = (uint8_t)op;
		emit(i, env && rn(2) ? 2 : 4, &o, 1, EXT | (int)r, mm, false,
		     NULL, 0);
	}
}

/*
 * --loops: a counted loop of 34-63 iterations (a block is compiled at its
 * 32nd execution, so with --jit-hot the JIT compiles the loop's top block
 * while it runs, with the block its Jcc falls through to: jit.c's
 * region(), whose Jcc inside leaves by a side exit), in one of three
 * shapes, X and Y an ALU operation on registers other than ECX, Y at
 * times on memory:
 *
 *	mov ecx, n
 * 1:	X; test cl, m; jcc 2f; Y; 2: dec ecx; jnz 1b   (a branch over Y)
 * 1:	X; cmp ecx, k; je 2f; Y; dec ecx; jnz 1b; 2:   (an early way out)
 * 1:	X; cmp ecx, k; jcc 2f; Y; dec ecx; jnz 1b; 2:  (a way out, any cc)
 *
 * The flags after it are left undefined (which way it left decides).
 */
static bool loops; /* --loops */

static void loop_alu(struct insn *i, int r, int src, bool mem)
{
	static const uint8_t ops[] = { 0x01, 0x09, 0x21, 0x29, 0x31, 0x11 };
	uint8_t op = ops[rn(6)];
	bool w = mode64 && rn(2);

	if (mem) {
		/* op [base + disp8], r (the scratch window) */
		if (mode64)
			put(i, (uint8_t)(0x41 | (w ? 8 : 0) | (r >= 8 ? 4 : 0)));
		put(i, op);
		put(i, (uint8_t)(0x40 | ((r & 7) << 3) |
				 (mode64 ? BASE64 & 7 : BASE32)));
		put(i, (uint8_t)(8 * rn(16)));
		return;
	}
	if (mode64)
		put(i, (uint8_t)(0x40 | (w ? 8 : 0) | (src >= 8 ? 4 : 0) |
				 (r >= 8 ? 1 : 0)));
	put(i, op);
	put(i, (uint8_t)(0xc0 | ((src & 7) << 3) | (r & 7)));
}

static void g_loop(struct insn *i)
{
	unsigned n = 34 + rn(30), shape = rn(3);
	int r = wreg(), r2 = wreg();
	size_t top, j, y, out;

	init_insn(i, shape ? "loop with a way out" : "loop with a branch");
	if (r == 1)
		r = 0;
	if (r2 == 1)
		r2 = 2;
	put(i, 0xb9);
	imm(i, n, 4);
	top = i->len;
	loop_alu(i, r, rn(2) ? 1 : r2, false);
	if (shape == 0) {
		put(i, 0xf6);           /* test cl, m */
		put(i, 0xc1);
		put(i, (uint8_t)(1u << rn(6)));
	} else {
		put(i, 0x83);           /* cmp ecx, k */
		put(i, 0xf9);
		put(i, (uint8_t)(1 + rn(n)));
	}
	put(i, (uint8_t)(shape == 1 ? 0x74 : 0x70 + rn(16)));
	j = i->len;
	put(i, 0);
	y = i->len;
	loop_alu(i, r2, r, rn(3) == 0);
	if (shape == 0)
		i->b[j] = (uint8_t)(i->len - y);
	put(i, 0xff);                   /* dec ecx */
	put(i, 0xc9);
	put(i, 0x75);                   /* jnz 1b */
	put(i, (uint8_t)(top - (i->len + 1)));
	out = i->len;
	if (shape)
		i->b[j] = (uint8_t)(out - y);
	i->reads_flags = true;
	i->defined = 0;
	i->undef_set = ARITH;
}

typedef void (*gen_fn)(struct insn *);
static const gen_fn gens[] = {
	g_alu, g_alu, g_alu, g_unary, g_test, g_shift, g_shift, g_mul,
	g_div, g_bt, g_bitscan, g_mov, g_mov, g_stack, g_cond, g_xchg,
	g_string, g_misc, g_shxd, g_jcc, g_flow, g_sse, g_sse, g_sse,
	g_sse_int, g_x87, g_lock, g_movbe, g_pp16,
};
static bool fp_only; /* --fp: mostly SSE floating point */
static bool x87_only; /* --x87: mostly x87 and SSE2 integer */
static bool mmx_only; /* --mmx: mostly MMX, with x87 and SSE2 integer */

/* flag bookkeeping of a whole sequence: undefined flags at the end */
static unsigned insn_off[MAX_INSNS + 1]; /* code offsets (assemble) */

/* ... up to the instruction record holding @fault_off (an exception
 * stopped the sequence there; the records before it ran, that one may
 * have run partly) */
static unsigned undef_upto(const struct seq *s, uint64_t fault_off)
{
	unsigned u = 0;

	for (unsigned k = 0; k < s->n; k++) {
		if (fault_off < insn_off[k + 1]) {
			u |= s->in[k].undef_set;
			break;
		}
		u &= ~s->in[k].defined;
		u |= s->in[k].undef_set;
	}
	return u;
}

static unsigned undef_after(const struct seq *s)
{
	unsigned u = 0;

	for (unsigned k = 0; k < s->n; k++) {
		u &= ~s->in[k].defined;
		u |= s->in[k].undef_set;
	}
	return u;
}

static void gen_seq(struct seq *s, unsigned maxlen)
{
	unsigned n = 1 + rn(maxlen), u = 0;

	s->n = 0;
	for (unsigned k = 0; k < n && s->n < MAX_INSNS - 1; k++) {
		struct insn i;
		if (fp_only && rn(4))
			g_sse(&i);
		else if (x87_only && rn(4))
			(rn(3) ? g_x87 : g_sse_int)(&i);
		else if (mmx_only && rn(4))
			(rn(4) ? g_mmx : rn(2) ? g_x87 : g_sse_int)(&i);
		else if (loops && rn(3) == 0)
			g_loop(&i);
		else
			gens[rn(sizeof(gens) / sizeof(gens[0]))](&i);
		if (i.reads_flags && u) {
			/* define every flag before it is read: cmp eax, ebx */
			struct insn c;
			init_insn(&c, "cmp (defines flags)");
			put(&c, 0x39);
			put(&c, 0xd8);
			c.defined = ARITH;
			s->in[s->n++] = c;
			u = 0;
		}
		s->in[s->n++] = i;
		u &= ~i.defined;
		u |= i.undef_set;
	}
}

/* ---- running ---- */

static vmm_vcpu *volatile running_cpu;

/* a generated sequence must never loop forever; if one does, the
 * watchdog kicks the vCPU and the case fails as a hang */
static void on_alarm(int sig)
{
	(void)sig;
	if (running_cpu)
		vmm_vcpu_kick(running_cpu);
}

struct side {
	vmm_vm *vm;
	vmm_vcpu *cpu;
	const char *name;
};

/* --jit: the soft side compiles every block at its first execution;
 * --jit-hot: at its 32nd (VMM_CFG_JIT), as outside tests */
static bool use_jit, jit_hot;
/* --vs-interp: the reference side (named kvm below) is the software
 * backend's interpreter, not KVM: the JIT checked against it */
static bool vs_interp;
static bool ref_side; /* side_create() is making the reference side */

static int side_create(struct side *sd, enum vmm_backend b, uint64_t ram)
{
	struct vmm_config cfg;
	int r;

	vmm_config_init(&cfg);
	cfg.backend = b;
	cfg.flags = VMM_CFG_NO_IRQCHIP;
	if (b == VMM_BACKEND_SOFT)
		cfg.flags |= ref_side ? VMM_CFG_NO_JIT :
			     jit_hot ? VMM_CFG_JIT :
			     use_jit ? VMM_CFG_JIT_EAGER : VMM_CFG_NO_JIT;
	sd->name = vmm_backend_name(b);
	r = vmm_vm_create(&cfg, &sd->vm);
	if (r)
		return r;
	if ((r = vmm_mem_add_ram(sd->vm, 0, ram)) ||
	    (r = vmm_vcpu_create(sd->vm, 0, &sd->cpu)) ||
	    (r = env_build_memory(sd->vm)))
		return r;
	return 0;
}

struct result {
	struct vmm_exit exit;
	struct vmm_cpu_state st;
	uint64_t hash;
	uint64_t fault_rip; /* RIP of the exception frame, or ~0 */
	int err;
};

static uint8_t code_buf[MAX_INSNS * 32 + 16];
static uint8_t data_init[ENV_DATA_SIZE];
static uint64_t regs_init[16];
static uint8_t xmm_init[16][16];
static uint32_t mxcsr_init;
static struct vmm_fpu x87_init; /* FCW FSW FTW ST0-7 */

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
		{ 0x7ffe, ~0ull }, { 1, 1ull << 63 },
		{ 0x401e, 0xffffffff00000000ull },
		{ 0x403e, 0x8000000000000000ull },
	};
	uint16_t se;
	uint64_t m;

	switch (rn(4)) {
	case 0: {
		unsigned k = rn(sizeof(sp) / sizeof(sp[0]));
		se = sp[k].se;
		m = sp[k].m;
		break;
	}
	case 1:
		se = (uint16_t)rnd();
		m = rnd() | (1ull << 63);
		break;
	default:
		se = (uint16_t)(rnd() & 0x8000);
		se |= (uint16_t)(0x3fff - 70 + rn(140));
		m = rnd() | (1ull << 63);
		if (rn(2))
			m &= ~0ull << rn(64);
		break;
	}
	memcpy(p, &m, 8);
	memcpy(p + 8, &se, 2);
}

/* a random x87 state: stack depth and TOP, precision and rounding,
 * masked sticky flags; sometimes unmasked exceptions, now and then one
 * pending (the first waiting x87 instruction raises #MF) */
static void rand_x87(struct vmm_fpu *f)
{
	unsigned top = rn(8), depth = rn(9);
	uint16_t fl;

	memset(f, 0, sizeof(*f));
	f->fcw = (uint16_t)(0x40 | (rnd() & 0x0f00) | 0x3f);
	if (rn(4) == 0)
		f->fcw = (uint16_t)((f->fcw & ~0x3f) | (rnd() & 0x3f));
	fl = (uint16_t)(rnd() & 0x3f & f->fcw);
	if ((f->fcw & 0x3f) != 0x3f && rn(4) == 0) /* one pending: #MF */
		fl = (uint16_t)(fl | (1u << __builtin_ctz(~f->fcw & 0x3f)) |
				0x8080);
	f->fsw = (uint16_t)(fl | (rnd() & 0x4700) | top << 11);
	if (fl & 1)
		f->fsw |= (uint16_t)(rnd() & 0x40);
	for (unsigned k = 0; k < depth; k++)
		f->ftw |= (uint8_t)(1u << ((top + k) & 7));
	for (int k = 0; k < 8; k++)
		rand_f80(f->st[k]);
}

/* --batch: its cases draw the scratch window only (see gen_case()) */
static bool batched_cases;

/* guard bytes around the scratch window: a sequence that writes outside
 * it (a generator change) must not go unnoticed */
#define GUARD_BYTE 0xa5

/* --batch: floating-point scratch values come from a pool of values
 * drawn by rand_fp128() once (drawing them per case was a quarter of the
 * batched mode's cost) */
#define FP_POOL 65536
static uint8_t (*fp_pool)[16];

static int fp_pool_init(void)
{
	uint64_t saved = rng;

	fp_pool = malloc(FP_POOL * sizeof(*fp_pool));
	if (!fp_pool)
		return -1;
	rng = 0x243f6a8885a308d3ull;
	for (unsigned k = 0; k < FP_POOL; k++)
		rand_fp128(fp_pool[k]);
	rng = saved;
	return 0;
}

/* case @k of @seed: the initial state (regs_init, data_init, xmm_init,
 * mxcsr_init, x87_init) and the sequence, the same in single and batched
 * runs */
static void gen_case(unsigned long seed, unsigned long k, struct seq *s,
		     unsigned maxlen)
{
	unsigned long cs = seed * 1000003ul + k;

	size_t lo = batched_cases ? WIN_LO : 0;
	size_t hi = batched_cases ? WIN_LO + WIN_SIZE : ENV_DATA_SIZE;

	rng = cs * 0x9e3779b97f4a7c15ull + 1;
	for (int q = 0; q < 16; q++) {
		uint64_t v = rnd();
		regs_init[q] = v >> (rn(4) * 16);
	}
	/* (the cases of --batch draw only the window sequences can reach
	 * and fill the rest with a constant: generating is a large part of
	 * the cost there) */
	memset(data_init, GUARD_BYTE, sizeof(data_init));
	for (size_t q = lo; q < hi; q += 8) {
		uint64_t v = rnd();
		memcpy(data_init + q, &v, 8);
	}
	/* floating-point values in the scratch area and XMM registers; a
	 * random MXCSR (rounding, DAZ, FTZ, sticky flags; every exception
	 * masked in most cases) */
	for (size_t q = lo; q < hi; q += 16) {
		if (!rn(2))
			continue;
		if (batched_cases) /* the same distribution, drawn once */
			memcpy(data_init + q, fp_pool[rnd() % FP_POOL], 16);
		else
			rand_fp128(data_init + q);
	}
	for (int q = 0; q < 16; q++)
		rand_fp128(xmm_init[q]);
	mxcsr_init = (uint32_t)rnd() & 0xe07f;
	if (rn(4))
		mxcsr_init |= 0x1f80;
	else
		mxcsr_init |= (uint32_t)(rnd() | rnd()) & 0x1f80;
	if (rn(2))
		mxcsr_init &= ~0x3fu;
	rand_x87(&x87_init);
	gen_seq(s, maxlen);
}

/* the initial GPRs and RFLAGS of the current case, as both runs load
 * them */
static void initial_regs(uint64_t *gpr, uint64_t *rflags)
{
	for (int r = 0; r < 16; r++)
		gpr[r] = regs_init[r];
	gpr[VMM_RSP] = ENV_STACK;
	if (mode64) {
		gpr[BASE64] = ENV_DATA + SCRATCH_OFF;
		gpr[INDEX64] = regs_init[INDEX64] & 7;
	} else {
		gpr[BASE32] = ENV_DATA + SCRATCH_OFF;
		for (int r = 0; r < 16; r++)
			gpr[r] = (uint32_t)gpr[r];
		for (int r = 8; r < 16; r++)
			gpr[r] = 0;
	}
	*rflags = 0x3202 | (regs_init[0] & 0xcd5 & ~DF);
}

/* the instructions of @s into @buf, which the guest sees at @ga;
 * instruction offsets into @off[0..n]; returns the length */
static unsigned assemble_at(const struct seq *s, uint8_t *buf, uint64_t ga,
			    unsigned *off)
{
	unsigned pos = 0;

	for (unsigned k = 0; k < s->n; k++) {
		const struct insn *i = &s->in[k];
		off[k] = pos;
		memcpy(buf + pos, i->b, i->len);
		if (i->rip_patch >= 0) {
			int32_t d = (int32_t)(i->rip_target -
					      (ga + pos + i->len));
			memcpy(buf + pos + i->rip_patch, &d, 4);
		}
		pos += i->len;
	}
	off[s->n] = pos;
	return pos;
}

static unsigned assemble(const struct seq *s)
{
	unsigned pos = assemble_at(s, code_buf, ENV_CODE, insn_off);

	code_buf[pos++] = 0xe6; /* out STOP_PORT, al */
	code_buf[pos++] = STOP_PORT;
	return pos;
}

static uint64_t hash_mem(vmm_vm *vm)
{
	static uint8_t b[ENV_DATA_SIZE + 0x1000];
	uint64_t h = 1469598103934665603ull;

	if (vmm_mem_read(vm, ENV_DATA, b, ENV_DATA_SIZE) ||
	    vmm_mem_read(vm, ENV_STACK - 0x800, b + ENV_DATA_SIZE, 0x1000))
		return 0;
	for (size_t k = 0; k < sizeof(b); k++)
		h = (h ^ b[k]) * 1099511628211ull;
	return h;
}

static void run_side(struct side *sd, unsigned codelen, struct result *res)
{
	struct vmm_cpu_state st;

	memset(res, 0, sizeof(*res));
	res->err = vmm_vcpu_get_state(sd->cpu, &st);
	if (res->err)
		return;
	env_state(&st, mode64 ? ENV_LONG64 : mode32, 3);
	initial_regs(st.gpr, &st.rflags);
	memcpy(st.fpu.xmm, xmm_init, sizeof(xmm_init));
	st.fpu.mxcsr = mxcsr_init;
	st.fpu.fcw = x87_init.fcw;
	st.fpu.fsw = x87_init.fsw;
	st.fpu.ftw = x87_init.ftw;
	memcpy(st.fpu.st, x87_init.st, sizeof(st.fpu.st));
	res->err = vmm_mem_write(sd->vm, ENV_DATA, data_init, ENV_DATA_SIZE);
	if (!res->err)
		res->err = vmm_mem_fill(sd->vm, ENV_STACK - 0x800, 0x5a, 0x1000);
	if (!res->err)
		res->err = vmm_mem_write(sd->vm, ENV_CODE, code_buf, codelen);
	if (!res->err)
		res->err = vmm_vcpu_set_state(sd->cpu, &st);
	if (res->err)
		return;
	running_cpu = sd->cpu;
	alarm(5);
	res->err = vmm_vcpu_run(sd->cpu, &res->exit);
	alarm(0);
	running_cpu = NULL;
	if (!res->err)
		res->err = vmm_vcpu_get_state(sd->cpu, &res->st);
	res->hash = hash_mem(sd->vm);
	res->fault_rip = ~0ull;
	if (!res->err && res->exit.kind == VMM_EXIT_HLT) {
		/* stopped in the HLT of an exception handler: the frame on
		 * the kernel stack starts with the error code, if any */
		int v = env_vector_of(res->st.rip);
		unsigned off = (v == 8 || (v >= 10 && v <= 14) || v == 17) ?
				       (mode64 ? 8 : 4) : 0;
		uint64_t r = 0;
		if (v >= 0 && !vmm_mem_read(sd->vm, res->st.gpr[VMM_RSP] + off,
					    &r, mode64 ? 8 : 4))
			res->fault_rip = r;
	}
}

static bool is_stop(const struct result *r)
{
	return r->exit.kind == VMM_EXIT_IO && r->exit.io.port == STOP_PORT &&
	       r->exit.io.is_write;
}

/* compare; returns a description of the first difference or NULL */
static const char *compare(const struct result *a, const struct result *b,
			   unsigned undef, char *buf, size_t len)
{
	uint64_t m = mode64 ? ~0ull : 0xffffffffull;
	unsigned fm = (ARITH | DF) & ~undef;

	if (a->err || b->err) {
		snprintf(buf, len, "run error %d / %d", a->err, b->err);
		return buf;
	}
	if (a->exit.kind != b->exit.kind) {
		snprintf(buf, len, "exit %s / %s", vmm_exit_name(a->exit.kind),
			 vmm_exit_name(b->exit.kind));
		return buf;
	}
	if (!is_stop(a)) {
		/* both stopped elsewhere (an exception, a HLT in a handler):
		 * compare where */
		if (a->st.rip != b->st.rip) {
			snprintf(buf, len, "stopped at rip 0x%llx / 0x%llx",
				 (unsigned long long)a->st.rip,
				 (unsigned long long)b->st.rip);
			return buf;
		}
	}
	for (int r = 0; r < (mode64 ? 16 : 8); r++) {
		if ((a->st.gpr[r] & m) != (b->st.gpr[r] & m)) {
			snprintf(buf, len, "gpr%d 0x%llx / 0x%llx", r,
				 (unsigned long long)(a->st.gpr[r] & m),
				 (unsigned long long)(b->st.gpr[r] & m));
			return buf;
		}
	}
	if ((a->st.rflags & fm) != (b->st.rflags & fm)) {
		snprintf(buf, len, "rflags 0x%llx / 0x%llx (compared 0x%x)",
			 (unsigned long long)a->st.rflags,
			 (unsigned long long)b->st.rflags, fm);
		return buf;
	}
	if (a->st.fpu.mxcsr != b->st.fpu.mxcsr) {
		snprintf(buf, len, "mxcsr 0x%x / 0x%x", a->st.fpu.mxcsr,
			 b->st.fpu.mxcsr);
		return buf;
	}
	for (int r = 0; r < (mode64 ? 16 : 8); r++) {
		if (memcmp(a->st.fpu.xmm[r], b->st.fpu.xmm[r], 16)) {
			uint64_t x[2], y[2];
			memcpy(x, a->st.fpu.xmm[r], 16);
			memcpy(y, b->st.fpu.xmm[r], 16);
			snprintf(buf, len, "xmm%d %016llx:%016llx / "
				 "%016llx:%016llx", r,
				 (unsigned long long)x[1], (unsigned long long)x[0],
				 (unsigned long long)y[1], (unsigned long long)y[0]);
			return buf;
		}
	}
	if (a->st.fpu.fcw != b->st.fpu.fcw || a->st.fpu.fsw != b->st.fpu.fsw ||
	    a->st.fpu.ftw != b->st.fpu.ftw) {
		snprintf(buf, len, "x87 fcw %04x fsw %04x ftw %02x / fcw %04x "
			 "fsw %04x ftw %02x", a->st.fpu.fcw, a->st.fpu.fsw,
			 a->st.fpu.ftw, b->st.fpu.fcw, b->st.fpu.fsw,
			 b->st.fpu.ftw);
		return buf;
	}
	for (int r = 0; r < 8; r++) {
		if (memcmp(a->st.fpu.st[r], b->st.fpu.st[r], 10)) {
			uint64_t x, y;
			uint16_t xe, ye;
			memcpy(&x, a->st.fpu.st[r], 8);
			memcpy(&y, b->st.fpu.st[r], 8);
			memcpy(&xe, a->st.fpu.st[r] + 8, 2);
			memcpy(&ye, b->st.fpu.st[r] + 8, 2);
			snprintf(buf, len, "st%d %04x:%016llx / %04x:%016llx",
				 r, xe, (unsigned long long)x, ye,
				 (unsigned long long)y);
			return buf;
		}
	}
	if (a->hash != b->hash) {
		snprintf(buf, len, "memory differs");
		return buf;
	}
	return NULL;
}

static struct side kvm, soft;
static bool only_soft;


/* run @s on both; true if they agree */
static bool check(const struct seq *s, char *why, size_t len,
		  struct result *ra, struct result *rb)
{
	unsigned codelen = assemble(s);
	uint64_t saved = rng;

	run_side(&soft, codelen, ra);
	rng = saved;
	if (only_soft) {
		if (ra->err) {
			snprintf(why, len, "soft run error %d", ra->err);
			return false;
		}
		return true;
	}
	run_side(&kvm, codelen, rb);
	rng = saved;
	return compare(rb, ra,
		       rb->fault_rip >= ENV_CODE &&
				       rb->fault_rip < ENV_CODE + sizeof(code_buf) ?
			       undef_upto(s, rb->fault_rip - ENV_CODE) :
			       undef_after(s),
		       why, len) == NULL;
}

static void print_seq(const struct seq *s)
{
	for (unsigned k = 0; k < s->n; k++) {
		printf("    ");
		for (unsigned j = 0; j < s->in[k].len; j++)
			printf("%02x ", s->in[k].b[j]);
		printf("  ; %s\n", s->in[k].what);
	}
}

/* one mismatching case through the single-run path: shrink it and print
 * the differing state and the bytes; false if the single run agrees */
static bool single_report(unsigned long seed, unsigned long k, unsigned maxlen)
{
	struct seq s;
	struct result ra, rb;
	char why[160];

	gen_case(seed, k, &s, maxlen);
	if (check(&s, why, sizeof(why), &ra, &rb))
		return false;
	/* shrink: drop instructions while it still fails */
	for (unsigned j = 0; j < s.n && s.n > 1;) {
		struct seq t = s;
		char w2[160];
		memmove(&t.in[j], &t.in[j + 1], (t.n - j - 1) * sizeof(t.in[0]));
		t.n--;
		if (!check(&t, w2, sizeof(w2), &ra, &rb)) {
			s = t;
			memcpy(why, w2, sizeof(w2));
		} else {
			j++;
		}
	}
	check(&s, why, sizeof(why), &ra, &rb);
	printf("MISMATCH mode %d seed %lu case %lu: %s (kvm / soft)\n",
	       mode64 ? 64 : 32, seed, k, why);
	printf("  kvm exit %s rip 0x%llx, soft exit %s rip 0x%llx\n",
	       vmm_exit_name(rb.exit.kind), (unsigned long long)rb.st.rip,
	       vmm_exit_name(ra.exit.kind), (unsigned long long)ra.st.rip);
	print_seq(&s);
	return true;
}

static double cpu_seconds(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double wall_seconds(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ---- batched mode (--batch N): many sequences per VM run, see batch.h ---- */

extern const uint8_t bh_start[], bh_end[];
extern const uint32_t bh_after_off, bh_exc_off, bh_far32_off;

struct bcase {
	struct seq s;
	unsigned off[MAX_INSNS + 1];
	uint64_t ga; /* guest address of the code */
};

struct batch {
	unsigned n;
	size_t codelen;
	struct bcase *c;        /* BATCH_MAX */
	uint8_t *in;            /* BATCH_MAX * I_STRIDE */
	uint8_t *code;          /* BH_SEQCODE_END - BH_SEQCODE */
	uint8_t *out[2];        /* records of KVM [0] and soft [1] */
};

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* generate cases @k0.. into @b; stops early when the code area is full */
static void batch_fill(struct batch *b, unsigned long seed, unsigned long k0,
		       unsigned n, unsigned maxlen)
{
	uint64_t after = BH_CODE + bh_after_off;

	b->n = 0;
	b->codelen = 0;
	while (b->n < n && b->codelen + MAX_INSNS * 32 + 16 <=
					   BH_SEQCODE_END - BH_SEQCODE) {
		struct bcase *c = &b->c[b->n];
		uint8_t *in = b->in + (size_t)b->n * I_STRIDE, *code;
		uint64_t gpr[16], fl;
		unsigned pos;

		gen_case(seed, k0 + b->n, &c->s, maxlen);
		c->ga = BH_SEQCODE + b->codelen;
		code = b->code + b->codelen;
		pos = assemble_at(&c->s, code, c->ga, c->off);
		if (mode64) { /* jmp bh_after */
			int32_t d = (int32_t)(after - (c->ga + pos + 5));
			code[pos++] = 0xe9;
			memcpy(code + pos, &d, 4);
			pos += 4;
		} else { /* ljmp $UCODE64, $bh_after */
			uint32_t a = (uint32_t)after;
			uint16_t sel = ENV_UCODE64;
			code[pos++] = 0xea;
			memcpy(code + pos, &a, 4);
			memcpy(code + pos + 4, &sel, 2);
			pos += 6;
		}
		b->codelen += (pos + 15) & ~15u;

		memset(in, 0, I_WIN);
		initial_regs(gpr, &fl);
		for (int r = 0; r < 16; r++)
			put64(in + I_REGS + 8 * r, gpr[r]);
		put64(in + I_FLAGS, fl);
		if (mode64) {
			put64(in + I_JMP, c->ga);
		} else {
			put64(in + I_JMP, BH_CODE + bh_far32_off);
			put64(in + I_FAR, c->ga | (uint64_t)ENV_UCODE32 << 32);
		}
		/* FXSAVE image: FCW FSW FTW, MXCSR, ST0-7, XMM0-15 */
		memcpy(in + I_FX + 0, &x87_init.fcw, 2);
		memcpy(in + I_FX + 2, &x87_init.fsw, 2);
		in[I_FX + 4] = x87_init.ftw;
		memcpy(in + I_FX + 24, &mxcsr_init, 4);
		for (int r = 0; r < 8; r++)
			memcpy(in + I_FX + 32 + 16 * r, x87_init.st[r], 10);
		memcpy(in + I_FX + 160, xmm_init, sizeof(xmm_init));
		memcpy(in + I_WIN, data_init + WIN_LO, WIN_SIZE);
		b->n++;
	}
}

/* run the batch on one side; 0 or a description in @why */
static int batch_run(struct side *sd, struct batch *b, uint8_t *out,
		     char *why, size_t len)
{
	struct vmm_cpu_state st;
	struct vmm_exit ex;
	uint8_t stubs[256 * 16], ctl[0x80];
	uint64_t exc = BH_CODE + bh_exc_off;
	int r;

	/* per-vector stubs: push $0 (no error code), push $vector, jmp bh_exc */
	memset(stubs, 0xf4, sizeof(stubs));
	for (unsigned v = 0; v < 256; v++) {
		uint8_t *p = stubs + 16 * v;
		uint64_t ga = ENV_HANDLERS + 16 * v;
		unsigned n = 0;
		int32_t d;
		bool ec = v == 8 || (v >= 10 && v <= 14) || v == 17 ||
			  v == 21 || v == 29 || v == 30;
		if (!ec) {
			p[n++] = 0x6a;
			p[n++] = 0;
		}
		p[n++] = 0x68;
		memcpy(p + n, &v, 4);
		n += 4;
		d = (int32_t)(exc - (ga + n + 5));
		p[n++] = 0xe9;
		memcpy(p + n, &d, 4);
	}
	memset(ctl, 0, sizeof(ctl));
	put64(ctl + C_COUNT, b->n);
	put64(ctl + C_INP, BH_IN);
	put64(ctl + C_OUTP, BH_OUT);
	if ((r = vmm_mem_write(sd->vm, ENV_HANDLERS, stubs, sizeof(stubs))) ||
	    (r = vmm_mem_write(sd->vm, BH_CODE, bh_start,
			       (size_t)(bh_end - bh_start))) ||
	    (r = vmm_mem_write(sd->vm, BH_CTL, ctl, sizeof(ctl))) ||
	    (r = vmm_mem_write(sd->vm, BH_IN, b->in, (size_t)b->n * I_STRIDE)) ||
	    (r = vmm_mem_write(sd->vm, BH_SEQCODE, b->code, b->codelen)) ||
	    (r = vmm_mem_fill(sd->vm, BH_OUT, 0, (size_t)b->n * O_STRIDE)) ||
	    (r = vmm_mem_fill(sd->vm, ENV_DATA, GUARD_BYTE, ENV_DATA_SIZE)) ||
	    (r = vmm_mem_fill(sd->vm, STK_FILL_LO, 0x5a, STK_FILL_SIZE)) ||
	    (r = vmm_vcpu_get_state(sd->cpu, &st))) {
		snprintf(why, len, "%s: setup: %s", sd->name, vmm_strerror(r));
		return -1;
	}
	env_state(&st, ENV_LONG64, 3);
	st.rip = BH_CODE;
	st.gpr[VMM_RSP] = BH_STACK;
	st.rflags = 0x3202;
	st.fpu.fcw = 0x37f;
	st.fpu.mxcsr = 0x1f80;
	if ((r = vmm_vcpu_set_state(sd->cpu, &st))) {
		snprintf(why, len, "%s: set state: %s", sd->name,
			 vmm_strerror(r));
		return -1;
	}
	running_cpu = sd->cpu;
	alarm(120);
	r = vmm_vcpu_run(sd->cpu, &ex);
	alarm(0);
	running_cpu = NULL;
	if (r || ex.kind != VMM_EXIT_IO || ex.io.port != STOP_PORT) {
		snprintf(why, len, "%s: batch run ended with %s (%s)", sd->name,
			 r ? vmm_strerror(r) : vmm_exit_name(ex.kind),
			 r ? "error" : "exit");
		return -1;
	}
	if ((r = vmm_mem_read(sd->vm, BH_OUT, out, (size_t)b->n * O_STRIDE))) {
		snprintf(why, len, "%s: read records: %s", sd->name,
			 vmm_strerror(r));
		return -1;
	}
	{
		uint8_t g[STK_FILL_SIZE];
		if (vmm_mem_read(sd->vm, STK_FILL_LO, g, sizeof(g)))
			return -1;
		for (size_t q = 0; q < sizeof(g); q++) {
			uint64_t a = STK_FILL_LO + q;
			if ((a < STK_LO || a >= STK_LO + STK_SIZE) &&
			    g[q] != 0x5a) {
				snprintf(why, len, "%s: stack byte 0x%llx "
					 "outside the window written", sd->name,
					 (unsigned long long)a);
				return -1;
			}
		}
	}
	{
		uint8_t g[ENV_DATA_SIZE];
		if (vmm_mem_read(sd->vm, ENV_DATA, g, sizeof(g)))
			return -1;
		for (size_t q = 0; q < sizeof(g); q++) {
			if ((q < WIN_LO || q >= WIN_LO + WIN_SIZE) &&
			    g[q] != GUARD_BYTE) {
				snprintf(why, len, "%s: scratch byte 0x%zx "
					 "outside the window written", sd->name,
					 q);
				return -1;
			}
		}
	}
	return 0;
}

/* compare the records of case @j; NULL or a description in @buf */
static const char *batch_compare(const struct batch *b, unsigned j,
				 char *buf, size_t len)
{
	const struct bcase *c = &b->c[j];
	const uint8_t *ka = b->out[0] + (size_t)j * O_STRIDE;
	const uint8_t *sa = b->out[1] + (size_t)j * O_STRIDE;
	uint64_t m = mode64 ? ~0ull : 0xffffffffull;
	uint64_t kvec = get64(ka + O_EXCVEC), krip = get64(ka + O_EXCRIP);
	const char *names[] = { "done", "exception vector", "error code",
				"fault rip" };
	const unsigned offs[] = { O_DONE, O_EXCVEC, O_EXCERR, O_EXCRIP };
	unsigned undef, fm;

	for (unsigned q = 0; q < 4; q++) {
		if (get64(ka + offs[q]) != get64(sa + offs[q])) {
			snprintf(buf, len, "%s 0x%llx / 0x%llx", names[q],
				 (unsigned long long)get64(ka + offs[q]),
				 (unsigned long long)get64(sa + offs[q]));
			return buf;
		}
	}
	if (get64(ka + O_DONE) != (BH_MAGIC | j)) {
		snprintf(buf, len, "no record");
		return buf;
	}
	if (kvec != ~0ull && (krip < c->ga || krip >= c->ga + c->off[c->s.n])) {
		snprintf(buf, len, "exception %llu outside the sequence, rip "
			 "0x%llx", (unsigned long long)kvec,
			 (unsigned long long)krip);
		return buf;
	}
	memcpy(insn_off, c->off, sizeof(insn_off));
	undef = kvec != ~0ull ? undef_upto(&c->s, krip - c->ga) :
				undef_after(&c->s);
	fm = (ARITH | DF) & ~undef;
	for (int r = 0; r < (mode64 ? 16 : 8); r++) {
		uint64_t x = get64(ka + O_REGS + 8 * r) & m;
		uint64_t y = get64(sa + O_REGS + 8 * r) & m;
		if (x != y) {
			snprintf(buf, len, "gpr%d 0x%llx / 0x%llx", r,
				 (unsigned long long)x, (unsigned long long)y);
			return buf;
		}
	}
	if ((get64(ka + O_FLAGS) ^ get64(sa + O_FLAGS)) & fm) {
		snprintf(buf, len, "rflags 0x%llx / 0x%llx (compared 0x%x)",
			 (unsigned long long)get64(ka + O_FLAGS),
			 (unsigned long long)get64(sa + O_FLAGS), fm);
		return buf;
	}
	if (memcmp(ka + O_FX + 24, sa + O_FX + 24, 4)) {
		snprintf(buf, len, "mxcsr differs");
		return buf;
	}
	if (memcmp(ka + O_FX + 160, sa + O_FX + 160, mode64 ? 256 : 128)) {
		snprintf(buf, len, "xmm registers differ");
		return buf;
	}
	if (memcmp(ka + O_FX, sa + O_FX, 5)) {
		snprintf(buf, len, "x87 fcw/fsw/ftw differ");
		return buf;
	}
	for (int r = 0; r < 8; r++) {
		if (memcmp(ka + O_FX + 32 + 16 * r, sa + O_FX + 32 + 16 * r,
			   10)) {
			snprintf(buf, len, "st%d differs", r);
			return buf;
		}
	}
	if (get64(ka + O_HDATA) != get64(sa + O_HDATA)) {
		snprintf(buf, len, "scratch memory differs");
		return buf;
	}
	if (get64(ka + O_HSTACK) != get64(sa + O_HSTACK)) {
		snprintf(buf, len, "stack memory differs");
		return buf;
	}
	return NULL;
}

/*
 * Batched run of @cases cases from @seed, @per per VM run.  @inject >= 0
 * (a self-test) flips a bit of the soft side's record of that case: the
 * comparison must catch it (and the single run must not reproduce it).
 * Returns the number of mismatches, or -1 on a run failure.
 */
static long batch_main(unsigned long seed, unsigned long cases, unsigned per,
		       unsigned maxlen, long inject, unsigned long *caught,
		       bool verbose)
{
	static struct batch b;
	unsigned long exc[33] = { 0 };
	double tm[3] = { 0, 0, 0 };
	long fails = 0;

	b.c = malloc(sizeof(*b.c) * BATCH_MAX);
	b.in = malloc((size_t)BATCH_MAX * I_STRIDE);
	b.code = malloc(BH_SEQCODE_END - BH_SEQCODE);
	b.out[0] = malloc((size_t)BATCH_MAX * O_STRIDE);
	b.out[1] = malloc((size_t)BATCH_MAX * O_STRIDE);
	if (!b.c || !b.in || !b.code || !b.out[0] || !b.out[1]) {
		fprintf(stderr, "out of memory\n");
		return -1;
	}
	for (unsigned long k0 = 0; k0 < cases && fails < 10; k0 += b.n) {
		unsigned n = cases - k0 < per ? (unsigned)(cases - k0) : per;
		char why[200];

		double t0 = cpu_seconds(), t1, t2, t3;
		int bad;
		batch_fill(&b, seed, k0, n, maxlen);
		t1 = cpu_seconds();
		bad = batch_run(&kvm, &b, b.out[0], why, sizeof(why));
		t2 = cpu_seconds();
		bad = bad || batch_run(&soft, &b, b.out[1], why, sizeof(why));
		t3 = cpu_seconds();
		tm[0] += t1 - t0;
		tm[1] += t2 - t1;
		tm[2] += t3 - t2;
		if (bad) {
			/* find the culprit with single runs */
			printf("BATCH FAILED seed %lu cases %lu..%lu: %s; "
			       "running them one by one\n", seed, k0,
			       k0 + b.n - 1, why);
			env_build_memory(kvm.vm);
			env_build_memory(soft.vm);
			for (unsigned j = 0; j < b.n && fails < 10; j++)
				if (single_report(seed, k0 + j, maxlen))
					fails++;
			fails++;
			break;
		}
		if (inject >= (long)k0 && inject < (long)(k0 + b.n))
			b.out[1][(size_t)(inject - (long)k0) * O_STRIDE +
				 O_REGS + 8 * 3] ^= 0x80;
		for (unsigned j = 0; j < b.n; j++) {
			uint64_t v = get64(b.out[0] + (size_t)j * O_STRIDE +
					   O_EXCVEC);
			exc[v < 32 ? v : 32]++;
		}
		for (unsigned j = 0; j < b.n; j++) {
			const char *d = batch_compare(&b, j, why, sizeof(why));
			if (!d)
				continue;
			printf("BATCH MISMATCH mode %d seed %lu case %lu: %s "
			       "(kvm / soft)\n", mode64 ? 64 : 32, seed, k0 + j,
			       d);
			if ((long)(k0 + j) == inject)
				(*caught)++;
			env_build_memory(kvm.vm);
			env_build_memory(soft.vm);
			if (!single_report(seed, k0 + j, maxlen)) {
				printf("  (the single run of this case agrees: "
				       "a batched-mode difference; code at "
				       "0x%llx)\n",
				       (unsigned long long)b.c[j].ga);
				print_seq(&b.c[j].s);
			}
			if (++fails >= 10)
				break;
		}
	}
	if (verbose) {
		printf("exceptions by vector (KVM):");
		for (unsigned v = 0; v < 32; v++)
			if (exc[v])
				printf(" #%u: %lu", v, exc[v]);
		printf(", none: %lu\n", exc[32]);
		printf("CPU seconds: generating %.2f, KVM %.2f, soft %.2f\n",
		       tm[0], tm[1], tm[2]);
		{
			struct vmm_vcpu_stats vs = { .struct_size = sizeof(vs) };
			if (!vmm_vcpu_get_stats(soft.cpu, &vs))
				printf("soft: %llu instructions, %llu blocks "
				       "translated, %llu invalidated, %llu "
				       "flushes, TLB %llu hits %llu misses\n",
				       (unsigned long long)vs.insns_retired,
				       (unsigned long long)vs.blocks_translated,
				       (unsigned long long)vs.blocks_invalidated,
				       (unsigned long long)vs.block_cache_flushes,
				       (unsigned long long)vs.tlb_hits,
				       (unsigned long long)vs.tlb_misses);
		}
	}
	free(b.c);
	free(b.in);
	free(b.code);
	free(b.out[0]);
	free(b.out[1]);
	return fails;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	for (size_t k = 0; k < n; k++)
		h = (h ^ ((const uint8_t *)p)[k]) * 1099511628211ull;
	return h;
}

/*
 * --gen-only: a hash per generated case (initial registers, scratch data,
 * XMM, MXCSR, x87 state, instruction bytes), nothing run, and one of them
 * all; with --expect-hash the run fails unless that one matches.  A seed
 * must name the same cases with every compiler.
 */
static int gen_hashes(unsigned long seed, unsigned long cases,
		      unsigned maxlen, const char *expect)
{
	uint64_t all = 1469598103934665603ull;
	static struct seq s;

	for (unsigned long k = 0; k < cases; k++) {
		uint64_t h = 1469598103934665603ull;
		gen_case(seed, k, &s, maxlen);
		h = fnv(h, regs_init, sizeof(regs_init));
		h = fnv(h, data_init, sizeof(data_init));
		h = fnv(h, xmm_init, sizeof(xmm_init));
		h = fnv(h, &mxcsr_init, sizeof(mxcsr_init));
		h = fnv(h, &x87_init.fcw, sizeof(x87_init.fcw));
		h = fnv(h, &x87_init.fsw, sizeof(x87_init.fsw));
		h = fnv(h, &x87_init.ftw, sizeof(x87_init.ftw));
		h = fnv(h, x87_init.st, sizeof(x87_init.st));
		for (unsigned i = 0; i < s.n; i++)
			h = fnv(h, s.in[i].b, s.in[i].len);
		printf("case %lu %016llx\n", k, (unsigned long long)h);
		all = (all ^ h) * 1099511628211ull;
	}
	printf("all %016llx\n", (unsigned long long)all);
	if (expect && strtoull(expect, NULL, 16) != all) {
		printf("FAIL: the generator made other cases than expected "
		       "(%s): argument evaluation order, or a changed "
		       "generator?\n", expect);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", required_argument, 0, 'm' },
		{ "cases", required_argument, 0, 'n' },
		{ "seed", required_argument, 0, 's' },
		{ "len", required_argument, 0, 'l' },
		{ "only-soft", no_argument, 0, 'o' },
		{ "fp", no_argument, 0, 'f' },
		{ "x87", no_argument, 0, 'x' },
		{ "mmx", no_argument, 0, 'X' },
		{ "verbose", no_argument, 0, 'v' },
		{ "jit", no_argument, 0, 'j' },
		{ "jit-hot", no_argument, 0, 'J' },
		{ "loops", no_argument, 0, 'L' },
		{ "vs-interp", no_argument, 0, 'I' },
		{ "batch", required_argument, 0, 'b' },
		{ "inject", required_argument, 0, 'i' },
		{ "gen-only", no_argument, 0, 'g' },
		{ "expect-hash", required_argument, 0, 'H' },
		{ 0, 0, 0, 0 },
	};
	unsigned long cases = 1000, maxlen = 12, seed = 1, fails = 0;
	unsigned long batch = 0, caught = 0;
	long inject = -1;
	bool verbose = false, gen_only = false;
	const char *expect_hash = NULL;
	double c0, w0, cpu, wall;
	int c, r;

	while ((c = getopt_long(argc, argv, "m:n:s:l:ofxXvjJLIb:i:gH:", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			mode64 = strcmp(optarg, "32") && strcmp(optarg, "prot32");
			if (!strcmp(optarg, "prot32"))
				mode32 = ENV_PROT32;
			break;
		case 'n': cases = strtoul(optarg, NULL, 0); break;
		case 's': seed = strtoul(optarg, NULL, 0); break;
		case 'l': maxlen = strtoul(optarg, NULL, 0); break;
		case 'o': only_soft = true; break;
		case 'f': fp_only = true; break;
		case 'x': x87_only = true; break;
		case 'X': mmx_only = true; break;
		case 'v': verbose = true; break;
		case 'j': use_jit = true; break;
		case 'J': use_jit = jit_hot = true; break;
		case 'L': loops = true; break;
		case 'I': vs_interp = true; break;
		case 'b': batch = strtoul(optarg, NULL, 0); break;
		case 'i': inject = strtol(optarg, NULL, 0); break;
		case 'g': gen_only = true; break;
		case 'H': expect_hash = optarg; break;
		default:
			fprintf(stderr, "usage: difftest [--mode 64|32] "
				"[--cases N] [--seed S] [--len L] "
				"[--only-soft] [--fp] [--x87] [--verbose] [--jit] "
				"[--jit-hot] [--loops] [--vs-interp] "
				"[--batch N [--inject K]] "
				"[--gen-only [--expect-hash HEX]]\n");
			return 2;
		}
	}
	if (maxlen < 1 || maxlen > MAX_INSNS / 2)
		maxlen = 12;
	if (batch > BATCH_MAX)
		batch = BATCH_MAX;
	if (batch && (only_soft || vs_interp || mode32 == ENV_PROT32)) {
		fprintf(stderr, "--batch compares KVM and soft in long or "
			"compatibility mode\n");
		return 2;
	}
	if (gen_only) {
		batched_cases = batch != 0;
		if (batched_cases && fp_pool_init())
			return 1;
		return gen_hashes(seed, cases, (unsigned)maxlen, expect_hash);
	}
	signal(SIGALRM, on_alarm);
	if (!only_soft && !vs_interp &&
	    vmm_backend_available(VMM_BACKEND_KVM) == -ENODEV) {
		printf("SKIP: no KVM backend (no /dev/kvm or not built in)\n");
		return 77;
	}
	if ((r = side_create(&soft, VMM_BACKEND_SOFT,
			     batch ? BH_RAM : ENV_RAM))) {
		fprintf(stderr, "soft VM: %s\n", vmm_strerror(r));
		return 1;
	}
	ref_side = true;
	r = only_soft ? 0 :
	    side_create(&kvm, vs_interp ? VMM_BACKEND_SOFT : VMM_BACKEND_KVM,
			batch ? BH_RAM : ENV_RAM);
	ref_side = false;
	if (r) {
		char msg[256];
		vmm_last_error(kvm.vm, msg, sizeof(msg));
		fprintf(stderr, "KVM VM: %s (%s)\n", vmm_strerror(r), msg);
		return 1;
	}
	batched_cases = batch != 0;
	if (batched_cases && fp_pool_init()) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	c0 = cpu_seconds();
	w0 = wall_seconds();
	if (batch) {
		long f = batch_main(seed, cases, (unsigned)batch,
				    (unsigned)maxlen, inject, &caught,
				    verbose);
		fails = f < 0 ? 1 : (unsigned long)f;
	}
	for (unsigned long k = 0; !batch && k < cases; k++) {
		struct seq s;
		struct result ra, rb;
		char why[160];
		gen_case(seed, k, &s, (unsigned)maxlen);
		if (check(&s, why, sizeof(why), &ra, &rb)) {
			if (verbose) {
				printf("case %lu ok (%s)\n", k,
				       vmm_exit_name(ra.exit.kind));
			}
			continue;
		}
		single_report(seed, k, (unsigned)maxlen);
		if (++fails >= 10)
			break;
	}
	cpu = cpu_seconds() - c0;
	wall = wall_seconds() - w0;
	printf("%lu cases compared in %d-bit mode%s (seed %lu), %lu "
	       "mismatches\n", cases, mode64 ? 64 : 32,
	       fp_only ? " --fp" : x87_only ? " --x87" : mmx_only ? " --mmx" : "", seed, fails);
	printf("rate: %s, %.0f cases/s wall, %.0f cases per CPU second "
	       "(%.1f s CPU)\n", batch ? "batched" : "one run per case",
	       cases / (wall > 0 ? wall : 1), cases / (cpu > 0 ? cpu : 1), cpu);
	if (use_jit) {
		/* the JIT must really have run the cases: blocks compiled
		 * (64-bit code only; 32-bit code stays interpreted) */
		struct vmm_vcpu_stats vs = { .struct_size = sizeof(vs) };
		if (vmm_vcpu_get_stats(soft.cpu, &vs) == 0) {
			printf("soft JIT: %llu blocks compiled of %llu "
			       "translated\n",
			       (unsigned long long)vs.blocks_compiled,
			       (unsigned long long)vs.blocks_translated);
			if (!(vs.valid & VMM_VCPU_STAT_JIT) && !fails) {
				/* an interpreter-only build (-Djit=disabled,
				 * not x86-64) */
				printf("SKIP: the JIT tier is not built\n");
				vmm_vm_destroy(soft.vm);
				if (!only_soft)
					vmm_vm_destroy(kvm.vm);
				return 77;
			}
			if (mode64 && vs.blocks_compiled == 0) {
				printf("FAIL: --jit compiled no block\n");
				fails++;
			}
		}
	}
	vmm_vm_destroy(soft.vm);
	if (!only_soft)
		vmm_vm_destroy(kvm.vm);
	free(fp_pool);
	if (inject >= 0) {
		/* self-test: exactly the injected difference must be caught */
		bool ok = caught == 1 && fails == 1;
		printf("self-test: injected difference in case %ld %s\n",
		       inject, ok ? "caught" : "NOT caught as expected");
		return ok ? 0 : 1;
	}
	return fails ? 1 : 0;
}
