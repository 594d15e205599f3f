/* SPDX-License-Identifier: MIT */
/*
 * exec_fast.c - the threaded entries of translated instructions (see
 * thread.h): the thunk for handlers without a twin, the block end marker,
 * the choice of an instruction's entry at translation time, and the
 * "pure" entries.
 *
 * A pure entry is chosen for a register-only form that can neither fault
 * nor exit nor read RIP (ALU ops without carry in, TEST, MOV, LEA with
 * 64-bit addressing), 32/64-bit operands: it skips the event check, and
 * when the translator proved its arithmetic flags dead it does not record
 * them either.  Flags are dead when a later instruction of the same block
 * writes all of them and only pure instructions lie in between (nothing
 * in between can read them, fault, or stop the block), so the flags every
 * exception, exit and block boundary sees are exact.
 */
#include "cpu/soft/thread.h"

int soft_thunk(struct soft_cpu *c, const struct soft_insn *i)
{
	return soft_thread_next(c, i, i->fn(c, i));
}

int soft_block_end(struct soft_cpu *c, const struct soft_insn *i)
{
	(void)c;
	(void)i;
	return SOFT_NEXT;
}

/* A pure instruction retired: no event can be pending from it. */
#define PURE_NEXT(c, i)                                                        \
	do {                                                                   \
		(c)->icount++;                                                 \
		(c)->st.rip = ((c)->st.rip + (i)->len) & (c)->ipmask;          \
		return (i)[1].run((c), (i) + 1);                               \
	} while (0)

/*
 * ALU op NAME (result EXPR of a and b, written back if WR, flags LF) in
 * the forms rr (dst = rm, src = reg), rx (dst = reg, src = rm), ri (dst =
 * rm, src = imm), 8 or 4 bytes (suffix), flags recorded (_f) or dead (_d).
 */
#define PURE_ALU_ONE(name, form, sz, T, fl, wr, lf, expr, DST, SRC)            \
	static int p_##name##_##form##sz##fl(struct soft_cpu *c,               \
					      const struct soft_insn *i)       \
	{                                                                      \
		uint64_t a = (T)c->st.gpr[DST], b = (T)(SRC);                  \
		uint64_t r = (T)(expr);                                        \
		if (wr)                                                        \
			c->st.gpr[DST] = r;                                    \
		if (#fl[1] == 'f')                                             \
			soft_lf(c, lf, sz, r, a, b);                           \
		PURE_NEXT(c, i);                                               \
	}
#define PURE_ALU_SZ(name, form, wr, lf, expr, DST, SRC)                        \
	PURE_ALU_ONE(name, form, 8, uint64_t, _f, wr, lf, expr, DST, SRC)      \
	PURE_ALU_ONE(name, form, 8, uint64_t, _d, wr, lf, expr, DST, SRC)      \
	PURE_ALU_ONE(name, form, 4, uint32_t, _f, wr, lf, expr, DST, SRC)      \
	PURE_ALU_ONE(name, form, 4, uint32_t, _d, wr, lf, expr, DST, SRC)
#define PURE_ALU(name, wr, lf, expr)                                           \
	PURE_ALU_SZ(name, rr, wr, lf, expr, i->rm, c->st.gpr[i->reg])          \
	PURE_ALU_SZ(name, rx, wr, lf, expr, i->reg, c->st.gpr[i->rm])          \
	PURE_ALU_SZ(name, ri, wr, lf, expr, i->rm, i->imm)

PURE_ALU(add, 1, LF_ADD, a + b)
PURE_ALU(or, 1, LF_LOGIC, a | b)
PURE_ALU(and, 1, LF_LOGIC, a & b)
PURE_ALU(sub, 1, LF_SUB, a - b)
PURE_ALU(xor, 1, LF_LOGIC, a ^ b)
PURE_ALU(cmp, 0, LF_SUB, a - b)
PURE_ALU_SZ(test, rr, 0, LF_LOGIC, a & b, i->rm, c->st.gpr[i->reg])

/* [form][size 8/4][flags recorded/dead] of one op */
#define PURE_TAB(name)                                                         \
	{ { { p_##name##_rr8_f, p_##name##_rr8_d },                            \
	    { p_##name##_rr4_f, p_##name##_rr4_d } },                          \
	  { { p_##name##_rx8_f, p_##name##_rx8_d },                            \
	    { p_##name##_rx4_f, p_##name##_rx4_d } },                          \
	  { { p_##name##_ri8_f, p_##name##_ri8_d },                            \
	    { p_##name##_ri4_f, p_##name##_ri4_d } } }

/* indexed by the ALU op number (ADD OR ADC SBB AND SUB XOR CMP) */
static const soft_fn pure_alu[8][3][2][2] = {
	PURE_TAB(add), PURE_TAB(or), { { { NULL } } }, { { { NULL } } },
	PURE_TAB(and), PURE_TAB(sub), PURE_TAB(xor), PURE_TAB(cmp),
};

static int p_mov_rr8(struct soft_cpu *c, const struct soft_insn *i)
{
	c->st.gpr[i->rm] = c->st.gpr[i->reg];
	PURE_NEXT(c, i);
}

static int p_mov_rr4(struct soft_cpu *c, const struct soft_insn *i)
{
	c->st.gpr[i->rm] = (uint32_t)c->st.gpr[i->reg];
	PURE_NEXT(c, i);
}

static int p_mov_rx8(struct soft_cpu *c, const struct soft_insn *i)
{
	c->st.gpr[i->reg] = c->st.gpr[i->rm];
	PURE_NEXT(c, i);
}

static int p_mov_rx4(struct soft_cpu *c, const struct soft_insn *i)
{
	c->st.gpr[i->reg] = (uint32_t)c->st.gpr[i->rm];
	PURE_NEXT(c, i);
}

static int p_mov_ri8(struct soft_cpu *c, const struct soft_insn *i)
{
	c->st.gpr[i->rm] = i->imm;
	PURE_NEXT(c, i);
}

static int p_mov_ri4(struct soft_cpu *c, const struct soft_insn *i)
{
	c->st.gpr[i->rm] = (uint32_t)i->imm;
	PURE_NEXT(c, i);
}

/* LEA with 64-bit addressing, no RIP-relative base */
static int p_lea8(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t a = (uint64_t)i->disp;

	if (i->base != SOFT_NOREG)
		a += c->st.gpr[i->base];
	if (i->index != SOFT_NOREG)
		a += c->st.gpr[i->index] << i->scale;
	c->st.gpr[i->reg] = i->osz == 8 ? a : (uint32_t)a;
	PURE_NEXT(c, i);
}

/* SHL / SHR / SAR by a non-zero immediate, flags dead (they write all) */
static int p_shl8(struct soft_cpu *c, const struct soft_insn *i)
{
	c->st.gpr[i->rm] <<= i->imm & 63;
	PURE_NEXT(c, i);
}

static int p_shr8(struct soft_cpu *c, const struct soft_insn *i)
{
	c->st.gpr[i->rm] >>= i->imm & 63;
	PURE_NEXT(c, i);
}

static int p_sar8(struct soft_cpu *c, const struct soft_insn *i)
{
	c->st.gpr[i->rm] = (uint64_t)((int64_t)c->st.gpr[i->rm] >>
				      (i->imm & 63));
	PURE_NEXT(c, i);
}

static int p_shl4(struct soft_cpu *c, const struct soft_insn *i)
{
	c->st.gpr[i->rm] = (uint32_t)(c->st.gpr[i->rm] << (i->imm & 31));
	PURE_NEXT(c, i);
}

static int p_shr4(struct soft_cpu *c, const struct soft_insn *i)
{
	c->st.gpr[i->rm] = (uint32_t)c->st.gpr[i->rm] >> (i->imm & 31);
	PURE_NEXT(c, i);
}

static int p_sar4(struct soft_cpu *c, const struct soft_insn *i)
{
	c->st.gpr[i->rm] = (uint32_t)((int32_t)c->st.gpr[i->rm] >>
				      (i->imm & 31));
	PURE_NEXT(c, i);
}

/* The flags-dead shift for @in (C1 /4 /5 /7 on a register), or NULL. */
static soft_fn shift_pick(const struct soft_insn *in)
{
	unsigned sub = in->reg & 7;

	if (in->op != 0xc1 || in->mod != 3 || (in->pfx & PFX_LOCK) ||
	    (in->osz != 4 && in->osz != 8) ||
	    (in->imm & (in->osz == 8 ? 63 : 31)) == 0)
		return NULL;
	if (sub == 4 || sub == 6) /* 6: SAL alias */
		return in->osz == 8 ? p_shl8 : p_shl4;
	if (sub == 5)
		return in->osz == 8 ? p_shr8 : p_shr4;
	if (sub == 7)
		return in->osz == 8 ? p_sar8 : p_sar4;
	return NULL;
}

/*
 * The pure entry for @in, if it has one; *@flags is set when it writes all
 * arithmetic flags.  @dead: its flags are dead.
 */
static soft_fn pure_pick(const struct soft_insn *in, bool dead, bool *flags)
{
	unsigned op = in->op, s;

	*flags = false;
	if ((in->pfx & PFX_LOCK) || (in->osz != 4 && in->osz != 8))
		return NULL;
	s = in->osz == 8 ? 0 : 1;
	if (op < 0x40 && (op & 7) < 4 && (op & 1) && in->mod == 3) {
		const soft_fn f = pure_alu[op >> 3][(op & 2) ? 1 : 0][s][dead];
		*flags = f != NULL;
		return f;
	}
	if ((op == 0x81 || op == 0x83) && in->mod == 3) {
		const soft_fn f = pure_alu[in->reg & 7][2][s][dead];
		*flags = f != NULL;
		return f;
	}
	if (op == 0x85 && in->mod == 3) {
		static const soft_fn t[2][2] = {
			{ p_test_rr8_f, p_test_rr8_d },
			{ p_test_rr4_f, p_test_rr4_d } };
		*flags = true;
		return t[s][dead];
	}
	if (op == 0x89 && in->mod == 3)
		return s ? p_mov_rr4 : p_mov_rr8;
	if (op == 0x8b && in->mod == 3)
		return s ? p_mov_rx4 : p_mov_rx8;
	if (op >= 0xb8 && op <= 0xbf)
		return s ? p_mov_ri4 : p_mov_ri8;
	if (op == 0xc7 && in->mod == 3 && (in->reg & 7) == 0)
		return s ? p_mov_ri4 : p_mov_ri8;
	if (op == 0x8d && in->mod != 3 && in->asz == 8 &&
	    in->base != SOFT_RIPREL)
		return p_lea8;
	return NULL;
}

void soft_thread_pick(struct soft_insn *in)
{
	bool flags;
	soft_fn f = pure_pick(in, false, &flags);

	if (f) {
		in->run = f;
		return;
	}
	if (soft_thread_alu(in) || soft_thread_mov(in) ||
	    soft_thread_ctl(in) || soft_thread_stack(in) ||
	    soft_thread_shift(in))
		return;
	in->run = soft_thunk;
}

void soft_thread_block(struct soft_insn *in, unsigned n)
{
	bool live = true; /* flags are live at the end of the block */

	for (unsigned k = n; k-- > 0;) {
		bool flags;
		soft_fn f = pure_pick(&in[k], false, &flags);

		if (!f && !live && (f = shift_pick(&in[k]))) {
			/* writes all flags, nobody reads these */
			in[k].run = f;
			continue;
		}
		if (!f) {
			live = true; /* may read flags, fault or stop */
			continue;
		}
		if (flags) {
			if (!live)
				in[k].run = pure_pick(&in[k], true, &flags);
			live = false;
		}
	}
}
