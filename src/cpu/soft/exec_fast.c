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
	soft_thread_sync(c, i);
	return soft_thread_next(c, i, i->fn(c, i));
}

int soft_block_end(struct soft_cpu *c, const struct soft_insn *i)
{
	soft_thread_sync(c, i);
	return soft_thread_link(c);
}

/*
 * A pure instruction retired: no event can be pending from it, and RIP
 * and the instruction count are brought up to date by the next
 * instruction that is not pure, or the end marker (pre_n, pre_len; see
 * soft_thread_block), so that consecutive pure instructions do not carry
 * a dependency through memory.
 */
#define PURE_NEXT(c, i) return (i)[1].run((c), (i) + 1)

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

/* MOVZX / MOVSX / MOVSXD register to register, 32/64-bit destination */
static int p_movzxb(struct soft_cpu *c, const struct soft_insn *i)
{
	c->st.gpr[i->reg] = soft_reg8(c, i->rm8);
	PURE_NEXT(c, i);
}

static int p_movzxw(struct soft_cpu *c, const struct soft_insn *i)
{
	c->st.gpr[i->reg] = (uint16_t)c->st.gpr[i->rm];
	PURE_NEXT(c, i);
}

static int p_movsxb8(struct soft_cpu *c, const struct soft_insn *i)
{
	c->st.gpr[i->reg] = (uint64_t)(int64_t)(int8_t)soft_reg8(c, i->rm8);
	PURE_NEXT(c, i);
}

static int p_movsxb4(struct soft_cpu *c, const struct soft_insn *i)
{
	c->st.gpr[i->reg] = (uint32_t)(int32_t)(int8_t)soft_reg8(c, i->rm8);
	PURE_NEXT(c, i);
}

static int p_movsxw8(struct soft_cpu *c, const struct soft_insn *i)
{
	c->st.gpr[i->reg] = (uint64_t)(int64_t)(int16_t)c->st.gpr[i->rm];
	PURE_NEXT(c, i);
}

static int p_movsxw4(struct soft_cpu *c, const struct soft_insn *i)
{
	c->st.gpr[i->reg] = (uint32_t)(int32_t)(int16_t)c->st.gpr[i->rm];
	PURE_NEXT(c, i);
}

static int p_movsxd(struct soft_cpu *c, const struct soft_insn *i)
{
	c->st.gpr[i->reg] = (uint64_t)(int64_t)(int32_t)c->st.gpr[i->rm];
	PURE_NEXT(c, i);
}

/* The pure MOVZX/MOVSX/MOVSXD entry for @in (mod 3), or NULL. */
static soft_fn movx_pick(const struct soft_insn *in)
{
	bool q = in->osz == 8;

	switch (in->op) {
	case 0x1b6: return p_movzxb;
	case 0x1b7: return p_movzxw;
	case 0x1be: return q ? p_movsxb8 : p_movsxb4;
	case 0x1bf: return q ? p_movsxw8 : p_movsxw4;
	case 0x63: return q ? p_movsxd : NULL;
	}
	return NULL;
}

/*
 * Memory forms for 64-bit addressing (so 64-bit mode: only FS and GS have
 * a base): the effective address shapes base + disp (_b), base + index *
 * scale + disp (_bi) and index * scale + disp (_i), and the operand size,
 * are fixed at translation time, so the TLB hit path is straight-line
 * code.  They may fault or exit: they retire like any twin (thread.h).
 */
#define EA_b (c->st.gpr[i->base] + (uint64_t)i->disp)
#define EA_bi (c->st.gpr[i->base] + (c->st.gpr[i->index] << i->scale) +     \
	       (uint64_t)i->disp)
#define EA_i ((c->st.gpr[i->index] << i->scale) + (uint64_t)i->disp)

#define MEM_FN(name, ea, body)                                                 \
	static int m_##name##ea(struct soft_cpu *c, const struct soft_insn *i) \
	{                                                                      \
		uint64_t lin;                                                  \
		soft_thread_sync(c, i);                                        \
		lin = c->segbase[i->seg] + EA_##ea;                            \
		body;                                                          \
		return soft_thread_next(c, i, SOFT_NEXT);                      \
	}

/* ALU op (0-7 as in the opcode) on a = reg, b = [mem] of size sz */
#define MEM_ALU(name, ea, sz, T, lf, wr, expr)                                 \
	MEM_FN(name##sz##_, ea, {                                              \
		uint64_t a = (T)c->st.gpr[i->reg];                             \
		uint64_t b = soft_ld_lin(c, lin, sz);                          \
		uint64_t r = (T)(expr);                                        \
		if (wr)                                                        \
			c->st.gpr[i->reg] = r;                                 \
		soft_lf(c, lf, sz, r, a, b);                                   \
	})
/* CMP [mem], imm of size sz */
#define MEM_CMPI(ea, sz)                                                       \
	MEM_FN(cmpi##sz##_, ea, {                                              \
		uint64_t a = soft_ld_lin(c, lin, sz);                          \
		uint64_t b = i->imm & soft_mask(sz);                           \
		soft_lf(c, LF_SUB, sz, (a - b) & soft_mask(sz), a, b);         \
	})

#define MEM_ALL(ea)                                                            \
	MEM_FN(ld8_, ea, c->st.gpr[i->reg] = soft_ld_lin(c, lin, 8))           \
	MEM_FN(ld4_, ea, c->st.gpr[i->reg] = soft_ld_lin(c, lin, 4))           \
	MEM_FN(zxb_, ea, c->st.gpr[i->reg] = soft_ld_lin(c, lin, 1))           \
	MEM_FN(zxw_, ea, c->st.gpr[i->reg] = soft_ld_lin(c, lin, 2))           \
	MEM_FN(sxd_, ea, c->st.gpr[i->reg] =                                   \
		(uint64_t)(int64_t)(int32_t)soft_ld_lin(c, lin, 4))            \
	MEM_FN(st8_, ea, soft_st_lin(c, lin, 8, c->st.gpr[i->reg]))            \
	MEM_FN(st4_, ea, soft_st_lin(c, lin, 4, c->st.gpr[i->reg]))            \
	MEM_FN(st1_, ea, soft_st_lin(c, lin, 1, soft_reg8(c, i->reg8)))        \
	MEM_FN(sti8_, ea, soft_st_lin(c, lin, 8, i->imm))                      \
	MEM_FN(sti4_, ea, soft_st_lin(c, lin, 4, i->imm))                      \
	MEM_FN(sti1_, ea, soft_st_lin(c, lin, 1, i->imm))                      \
	MEM_ALU(add, ea, 8, uint64_t, LF_ADD, 1, a + b)                        \
	MEM_ALU(add, ea, 4, uint32_t, LF_ADD, 1, a + b)                        \
	MEM_ALU(or, ea, 8, uint64_t, LF_LOGIC, 1, a | b)                       \
	MEM_ALU(or, ea, 4, uint32_t, LF_LOGIC, 1, a | b)                       \
	MEM_ALU(and, ea, 8, uint64_t, LF_LOGIC, 1, a & b)                      \
	MEM_ALU(and, ea, 4, uint32_t, LF_LOGIC, 1, a & b)                      \
	MEM_ALU(sub, ea, 8, uint64_t, LF_SUB, 1, a - b)                        \
	MEM_ALU(sub, ea, 4, uint32_t, LF_SUB, 1, a - b)                        \
	MEM_ALU(xor, ea, 8, uint64_t, LF_LOGIC, 1, a ^ b)                      \
	MEM_ALU(xor, ea, 4, uint32_t, LF_LOGIC, 1, a ^ b)                      \
	MEM_ALU(cmp, ea, 8, uint64_t, LF_SUB, 0, a - b)                        \
	MEM_ALU(cmp, ea, 4, uint32_t, LF_SUB, 0, a - b)                        \
	MEM_CMPI(ea, 8)                                                        \
	MEM_CMPI(ea, 4)                                                        \
	MEM_CMPI(ea, 1)

MEM_ALL(b)
MEM_ALL(bi)
MEM_ALL(i)

/* [shape][size 8/4] of a form */
#define MEM_TAB(name)                                                          \
	{ { m_##name##8_b, m_##name##4_b }, { m_##name##8_bi, m_##name##4_bi }, \
	  { m_##name##8_i, m_##name##4_i } }
/* [shape] of a one-size form */
#define MEM_TAB1(name) { m_##name##_b, m_##name##_bi, m_##name##_i }

/* ALU r, [mem] by op number (ADD OR ADC SBB AND SUB XOR CMP) */
static const soft_fn mem_alu[8][3][2] = {
	MEM_TAB(add), MEM_TAB(or), { { NULL } }, { { NULL } },
	MEM_TAB(and), MEM_TAB(sub), MEM_TAB(xor), MEM_TAB(cmp),
};
static const soft_fn mem_ld[3][2] = MEM_TAB(ld);
static const soft_fn mem_st[3][2] = MEM_TAB(st);
static const soft_fn mem_sti[3][2] = MEM_TAB(sti);
static const soft_fn mem_cmpi[3][2] = MEM_TAB(cmpi);
static const soft_fn mem_st1[3] = MEM_TAB1(st1);
static const soft_fn mem_sti1[3] = MEM_TAB1(sti1);
static const soft_fn mem_cmpi1[3] = MEM_TAB1(cmpi1);
static const soft_fn mem_zxb[3] = MEM_TAB1(zxb);
static const soft_fn mem_zxw[3] = MEM_TAB1(zxw);
static const soft_fn mem_sxd[3] = MEM_TAB1(sxd);

/* The memory form for @in, or NULL. */
static soft_fn mem_pick(const struct soft_insn *in)
{
	unsigned op = in->op, shape, s;

	if (in->mod == 3 || in->asz != 8 || (in->pfx & PFX_LOCK) ||
	    in->base == SOFT_RIPREL)
		return NULL;
	if (in->base != SOFT_NOREG)
		shape = in->index != SOFT_NOREG ? 1 : 0;
	else if (in->index != SOFT_NOREG)
		shape = 2;
	else
		return NULL;
	if (in->osz == 1) {
		if (op == 0x88)
			return mem_st1[shape];
		if (op == 0xc6 && (in->reg & 7) == 0)
			return mem_sti1[shape];
		if (op == 0x80 && (in->reg & 7) == 7)
			return mem_cmpi1[shape];
		return NULL;
	}
	if (in->osz != 4 && in->osz != 8)
		return NULL;
	s = in->osz == 8 ? 0 : 1;
	switch (op) {
	case 0x8b: return mem_ld[shape][s];
	case 0x89: return mem_st[shape][s];
	case 0xc7: return (in->reg & 7) == 0 ? mem_sti[shape][s] : NULL;
	case 0x81:
	case 0x83: return (in->reg & 7) == 7 ? mem_cmpi[shape][s] : NULL;
	case 0x1b6: return mem_zxb[shape];
	case 0x1b7: return mem_zxw[shape];
	case 0x63: return s == 0 ? mem_sxd[shape] : NULL;
	}
	if (op < 0x40 && (op & 7) == 3)
		return mem_alu[op >> 3][shape][s];
	return NULL;
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
	if (in->mod == 3)
		return movx_pick(in);
	return NULL;
}

void soft_thread_pick(struct soft_insn *in)
{
	bool flags;
	soft_fn f = pure_pick(in, false, &flags);

	if (f || (f = mem_pick(in))) {
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
	bool pure[SOFT_TB_MAX_INSNS];
	unsigned pre_n = 0, pre_len = 0;

	for (unsigned k = n; k-- > 0;) {
		bool flags;
		soft_fn f = pure_pick(&in[k], false, &flags);

		if (f != in[k].run)
			f = NULL; /* translated otherwise (decode #GP) */
		pure[k] = f != NULL;
		if (!f && !live && (f = shift_pick(&in[k]))) {
			/* writes all flags, nobody reads these */
			in[k].run = f;
			pure[k] = true;
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
	/* pure instructions leave RIP and icount to the next other one */
	for (unsigned k = 0; k <= n; k++) {
		in[k].pre_n = (uint8_t)pre_n;
		in[k].pre_len = (uint16_t)pre_len;
		if (k < n && pure[k]) {
			pre_n++;
			pre_len += in[k].len;
		} else {
			pre_n = pre_len = 0;
		}
	}
}
