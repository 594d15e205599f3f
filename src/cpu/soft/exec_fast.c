/* SPDX-License-Identifier: MIT */
/*
 * exec_fast.c - the threaded entries of translated instructions (see
 * thread.h): the thunk for handlers without a twin, the block end marker,
 * the choice of an instruction's entry at translation time, the "pure"
 * entries and the memory forms.
 *
 * A pure entry is chosen for a register-only form that can neither fault
 * nor exit nor read RIP (ALU ops without carry in, TEST, MOV, MOVZX/MOVSX,
 * LEA with 64-bit addressing, shifts by an immediate; 32/64-bit operands,
 * byte CMP/TEST): it skips the event check and leaves RIP and the
 * instruction count to the next instruction that is not pure (pre_n), and
 * when the translator proved its arithmetic flags dead it does not record
 * them either.  Flags are dead when a later instruction of the same block
 * writes all of them and only pure instructions lie in between (nothing
 * in between can read them, fault, or stop the block), so the flags every
 * exception, exit and block boundary sees are exact.  The memory forms
 * (below) defer RIP and the count too, but can fault: they never make
 * flags dead.
 */
#include "cpu/soft/thread.h"

int soft_thunk(struct soft_cpu *c, const struct soft_insn *i)
{
	int r;

	soft_thread_sync(c, i);
	r = i->fn(c, i);
	/* the instructions that set an interrupt shadow or TF, halt, or ask
	 * for an irqchip poll at once (STI, MOV/POP SS, POPF, IRET, HLT,
	 * WRMSR, MOV CR) have no twin: no branch may enter another block
	 * before the executor saw this (soft_thread_link) */
	if (unlikely(c->shadow || c->halted || (c->st.rflags & FL_TF) ||
		     (!c->poll_count && c->svm->chip)))
		c->link_left = 0;
	return soft_thread_next(c, i, r);
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
	PURE_ALU_SZ(name, ri, wr, lf, expr, i->rm, i->imm)                     \
	PURE_ALU_SZ(name, ai, wr, lf, expr, VMM_RAX, i->imm)

PURE_ALU(add, 1, LF_ADD, a + b)
PURE_ALU(or, 1, LF_LOGIC, a | b)
PURE_ALU(and, 1, LF_LOGIC, a & b)
PURE_ALU(sub, 1, LF_SUB, a - b)
PURE_ALU(xor, 1, LF_LOGIC, a ^ b)
PURE_ALU(cmp, 0, LF_SUB, a - b)
PURE_ALU_SZ(test, rr, 0, LF_LOGIC, a & b, i->rm, c->st.gpr[i->reg])
PURE_ALU_SZ(test, ai, 0, LF_LOGIC, a & b, VMM_RAX, i->imm)

/* [form][size 8/4][flags recorded/dead] of one op */
#define PURE_TAB(name)                                                         \
	{ { { p_##name##_rr8_f, p_##name##_rr8_d },                            \
	    { p_##name##_rr4_f, p_##name##_rr4_d } },                          \
	  { { p_##name##_rx8_f, p_##name##_rx8_d },                            \
	    { p_##name##_rx4_f, p_##name##_rx4_d } },                          \
	  { { p_##name##_ri8_f, p_##name##_ri8_d },                            \
	    { p_##name##_ri4_f, p_##name##_ri4_d } },                          \
	  { { p_##name##_ai8_f, p_##name##_ai8_d },                            \
	    { p_##name##_ai4_f, p_##name##_ai4_d } } }

/* indexed by the ALU op number (ADD OR ADC SBB AND SUB XOR CMP), then
 * the form: rr, rx, ri, ai (eAX, imm) */
static const soft_fn pure_alu[8][4][2][2] = {
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

/* LEA with 32-bit addressing, 32/64-bit destination: the address
 * wraps at 4 GiB and is zero-extended */
static int p_lea4(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t a = (uint64_t)i->disp;

	if (i->base != SOFT_NOREG)
		a += c->st.gpr[i->base];
	if (i->index != SOFT_NOREG)
		a += c->st.gpr[i->index] << i->scale;
	c->st.gpr[i->reg] = (uint32_t)a;
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

/*
 * INC / DEC of a 32/64-bit register (FF /0 /1, and 40-4F outside 64-bit
 * mode): lazy flags like ADD/SUB with the carry kept in lf_cin.  The
 * carry in is the CF of the state before: a chain of INC/DEC keeps it
 * as it is, a logic op cleared it, others compute it from their operands.
 */
static inline unsigned cf_before(struct soft_cpu *c)
{
	switch (c->lf_op) {
	case LF_INC:
	case LF_DEC: return c->lf_cin;
	case LF_LOGIC: return 0;
	case LF_NONE: return c->st.rflags & FL_CF;
	}
	return soft_get_cf(c);
}

#define PURE_INCDEC(name, sz, T, lf, d)                                        \
	static int p_##name##sz##_f(struct soft_cpu *c,                        \
				    const struct soft_insn *i)                 \
	{                                                                      \
		uint64_t a = (T)c->st.gpr[i->rm], r = (T)(a + (d));            \
		c->lf_cin = cf_before(c);                                      \
		c->st.gpr[i->rm] = r;                                          \
		soft_lf(c, lf, sz, r, a, 1);                                   \
		PURE_NEXT(c, i);                                               \
	}                                                                      \
	static int p_##name##sz##_d(struct soft_cpu *c,                        \
				    const struct soft_insn *i)                 \
	{                                                                      \
		c->st.gpr[i->rm] = (T)(c->st.gpr[i->rm] + (d));                \
		PURE_NEXT(c, i);                                               \
	}
PURE_INCDEC(inc, 8, uint64_t, LF_INC, 1)
PURE_INCDEC(inc, 4, uint32_t, LF_INC, 1)
PURE_INCDEC(dec, 8, uint64_t, LF_DEC, (uint64_t)-1)
PURE_INCDEC(dec, 4, uint32_t, LF_DEC, (uint64_t)-1)

/* INC/DEC of a register: [inc 0, dec 1][size 8/4][flags recorded/dead] */
static const soft_fn pure_incdec[2][2][2] = {
	{ { p_inc8_f, p_inc8_d }, { p_inc4_f, p_inc4_d } },
	{ { p_dec8_f, p_dec8_d }, { p_dec4_f, p_dec4_d } },
};

/* @in is a register INC/DEC of 32/64 bits (a pure form that reads CF). */
static int incdec_kind(const struct soft_insn *in)
{
	if (in->pfx & PFX_LOCK || (in->osz != 4 && in->osz != 8))
		return -1;
	if (in->op == 0xff && in->mod == 3 && (in->reg & 7) <= 1)
		return in->reg & 1;
	if (in->op >= 0x40 && in->op <= 0x4f)
		return (in->op >> 3) & 1;
	return -1;
}

/* Byte CMP / TEST on registers: reg8 - imm (80 /7, 3C), reg8 & reg8 (84) */
static int p_cmpb_ri(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t a = soft_reg8(c, i->rm8), b = i->imm & 0xff;

	soft_lf(c, LF_SUB, 1, (a - b) & 0xff, a, b);
	PURE_NEXT(c, i);
}

static int p_cmpb_ai(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t a = (uint8_t)c->st.gpr[VMM_RAX], b = i->imm & 0xff;

	soft_lf(c, LF_SUB, 1, (a - b) & 0xff, a, b);
	PURE_NEXT(c, i);
}

static int p_testb_rr(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t a = soft_reg8(c, i->rm8), b = soft_reg8(c, i->reg8);

	soft_lf(c, LF_LOGIC, 1, a & b, a, b);
	PURE_NEXT(c, i);
}

/* a compare whose flags nobody reads */
static int p_nop(struct soft_cpu *c, const struct soft_insn *i)
{
	PURE_NEXT(c, i);
}

/* The pure byte compare for @in, or NULL (@dead, *@flags: pure_pick). */
static soft_fn byte_pick(const struct soft_insn *in, bool dead, bool *flags)
{
	soft_fn f = NULL;

	if (in->op == 0x80 && in->mod == 3 && (in->reg & 7) == 7)
		f = p_cmpb_ri;
	else if (in->op == 0x3c)
		f = p_cmpb_ai;
	else if (in->op == 0x84 && in->mod == 3)
		f = p_testb_rr;
	*flags = f != NULL;
	return f && dead ? p_nop : f;
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
 * code without a call.  Like pure instructions they leave RIP and icount
 * to the next instruction that is not deferred (soft_thread_block): a hit
 * can neither fault nor raise an event (pages with code have no writable
 * entry, MMIO no entry at all).  Anything else (a miss, an access that
 * crosses a page) goes to mem_slow() before the instruction changed
 * anything.
 */

/* Run @i through its plain handler, then go on with the chain. */
static __attribute__((noinline)) int mem_slow(struct soft_cpu *c,
					      const struct soft_insn *i)
{
	int r;

	soft_thread_sync(c, i);
	r = i->fn(c, i);
	if (unlikely(r != SOFT_NEXT || c->ev)) {
		/* retire it here and stop: the executor takes over */
		c->icount++;
		if (r == SOFT_NEXT)
			c->st.rip = (c->st.rip + i->len) & c->ipmask;
		return r;
	}
	/* back to deferred accounting: the next instruction counts this one */
	if (i->pre_n) {
		c->st.rip = (c->st.rip - i->pre_len) & c->ipmask;
		c->icount -= i->pre_n;
	}
	return i[1].run(c, i + 1);
}

/* Host pointer of @size bytes at @lin on a TLB hit, else NULL. */
static inline void *mem_hit(struct soft_cpu *c, uint64_t lin, unsigned size,
			    bool write)
{
	const struct soft_tlb_entry *e =
		&c->tlb[c->tlb_user][soft_tlb_idx(lin)];

	if (likely((write ? e->tag_w : e->tag_r) == (lin & ~0xfffull) &&
		   (lin & 0xfff) <= 4096u - size)) {
		c->st_tlb_hits++;
		return (void *)(uintptr_t)(lin + e->addend);
	}
	return NULL;
}

#define EA_b (c->st.gpr[i->base] + (uint64_t)i->disp)
#define EA_bi (c->st.gpr[i->base] + (c->st.gpr[i->index] << i->scale) +     \
	       (uint64_t)i->disp)
#define EA_i ((c->st.gpr[i->index] << i->scale) + (uint64_t)i->disp)

/*
 * The same shapes with 32-bit addressing (_b4, _bi4, _i4: 32-bit code, or
 * a 67 prefix in 64-bit mode): the offset wraps at 4 GiB, and outside
 * 64-bit mode the linear address too; a segment that needs a limit or
 * type check (soft_update_seg: not flat, or not readable / writable) goes
 * to mem_slow(), so only flat segments take the inline path.
 */
#define EA_b4 ((uint32_t)EA_b)
#define EA_bi4 ((uint32_t)EA_bi)
#define EA_i4 ((uint32_t)EA_i)
#define A32_b 0
#define A32_bi 0
#define A32_i 0
#define A32_b4 1
#define A32_bi4 1
#define A32_i4 1

/* Linear address of the 32-bit offset @off, or ~0 when a check is due. */
static inline uint64_t lin32(struct soft_cpu *c, unsigned seg, uint32_t off,
			     bool write)
{
	if (c->lm64)
		return c->segbase[seg] + off;
	if (unlikely((write ? c->segwchk : c->segchk) & (1u << seg)))
		return ~0ull;
	return (uint32_t)(c->segbase[seg] + off);
}

/* A form: @body uses p, the host pointer of @sz bytes (@wr: written). */
#define MEM_FN(name, ea, sz, wr, body)                                         \
	static int m_##name##ea(struct soft_cpu *c, const struct soft_insn *i) \
	{                                                                      \
		uint64_t lin = A32_##ea ? lin32(c, i->seg, (uint32_t)EA_##ea,  \
						wr)                            \
					: c->segbase[i->seg] + EA_##ea;        \
		void *p;                                                       \
		if (A32_##ea && unlikely(lin == ~0ull))                        \
			return mem_slow(c, i);                                 \
		p = mem_hit(c, lin, sz, wr);                                   \
		if (unlikely(!p))                                              \
			return mem_slow(c, i);                                 \
		body;                                                          \
		return i[1].run(c, i + 1);                                     \
	}

/* ALU op (0-7 as in the opcode) on a = reg, b = [mem] of size sz */
#define MEM_ALU(name, ea, sz, T, lf, wr, expr)                                 \
	MEM_FN(name##sz##_, ea, sz, false, {                                   \
		uint64_t a = (T)c->st.gpr[i->reg];                             \
		uint64_t b = soft_ldh(p, sz);                                  \
		uint64_t r = (T)(expr);                                        \
		if (wr)                                                        \
			c->st.gpr[i->reg] = r;                                 \
		soft_lf(c, lf, sz, r, a, b);                                   \
	})
/* CMP [mem], imm of size sz */
#define MEM_CMPI(ea, sz)                                                       \
	MEM_FN(cmpi##sz##_, ea, sz, false, {                                   \
		uint64_t a = soft_ldh(p, sz);                                  \
		uint64_t b = i->imm & soft_mask(sz);                           \
		soft_lf(c, LF_SUB, sz, (a - b) & soft_mask(sz), a, b);         \
	})

#define MEM_ALL(ea)                                                            \
	MEM_FN(ld8_, ea, 8, false, c->st.gpr[i->reg] = soft_ldh(p, 8))        \
	MEM_FN(ld4_, ea, 4, false, c->st.gpr[i->reg] = soft_ldh(p, 4))        \
	MEM_FN(zxb_, ea, 1, false, c->st.gpr[i->reg] = soft_ldh(p, 1))        \
	MEM_FN(zxw_, ea, 2, false, c->st.gpr[i->reg] = soft_ldh(p, 2))        \
	MEM_FN(sxd_, ea, 4, false, c->st.gpr[i->reg] =                         \
		(uint64_t)(int64_t)(int32_t)soft_ldh(p, 4))                    \
	MEM_FN(st8_, ea, 8, true, soft_sth(p, 8, c->st.gpr[i->reg]))          \
	MEM_FN(st4_, ea, 4, true, soft_sth(p, 4, c->st.gpr[i->reg]))          \
	MEM_FN(st1_, ea, 1, true, soft_sth(p, 1, soft_reg8(c, i->reg8)))      \
	MEM_FN(sti8_, ea, 8, true, soft_sth(p, 8, i->imm))                    \
	MEM_FN(sti4_, ea, 4, true, soft_sth(p, 4, i->imm))                    \
	MEM_FN(sti1_, ea, 1, true, soft_sth(p, 1, i->imm))                    \
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
	MEM_CMPI(ea, 1)                                                        \
	MEM_FN(imul8_, ea, 8, false, c->st.gpr[i->reg] =                       \
		c->st.gpr[i->reg] * soft_ldh(p, 8))                            \
	MEM_FN(imul4_, ea, 4, false, c->st.gpr[i->reg] =                       \
		(uint32_t)(c->st.gpr[i->reg] * soft_ldh(p, 4)))

MEM_ALL(b)
MEM_ALL(bi)
MEM_ALL(i)
MEM_ALL(b4)
MEM_ALL(bi4)
MEM_ALL(i4)

/*
 * ALU with a memory destination: [mem] op= reg (00-3F, xx1 and byte xx0)
 * or imm (80/81/83), the store only for the ops that write (not CMP); and
 * the byte reg op= [mem] forms (xx2).  ADC/SBB are not among them (they
 * read CF).  The TLB hit is a write hit for the writing ops, so a page
 * that holds code (no writable entry) takes the checked path.
 */
#define MEM_RMW(name, ea, sz, T, lf, wr, expr, SRC, form)                      \
	MEM_FN(name##form##sz##_, ea, sz, wr, {                                \
		uint64_t a = soft_ldh(p, sz);                                  \
		uint64_t b = (T)(SRC);                                         \
		uint64_t r = (T)(expr);                                        \
		if (wr)                                                        \
			soft_sth(p, sz, r);                                    \
		soft_lf(c, lf, sz, r, a, b);                                   \
	})
#define MEM_RB(name, ea, lf, wr, expr)                                         \
	MEM_FN(name##rb1_, ea, 1, false, {                                     \
		uint64_t a = soft_reg8(c, i->reg8);                            \
		uint64_t b = soft_ldh(p, 1);                                   \
		uint64_t r = (uint8_t)(expr);                                  \
		if (wr)                                                        \
			soft_set_reg8(c, i->reg8, (uint8_t)r);                 \
		soft_lf(c, lf, 1, r, a, b);                                    \
	})
#define MEM_RMW_OP(name, ea, lf, wr, expr)                                     \
	MEM_RMW(name, ea, 8, uint64_t, lf, wr, expr, c->st.gpr[i->reg], mr)    \
	MEM_RMW(name, ea, 4, uint32_t, lf, wr, expr, c->st.gpr[i->reg], mr)    \
	MEM_RMW(name, ea, 1, uint8_t, lf, wr, expr, soft_reg8(c, i->reg8), mr) \
	MEM_RMW(name, ea, 8, uint64_t, lf, wr, expr, i->imm, mi)               \
	MEM_RMW(name, ea, 4, uint32_t, lf, wr, expr, i->imm, mi)               \
	MEM_RMW(name, ea, 1, uint8_t, lf, wr, expr, i->imm, mi)                \
	MEM_RB(name, ea, lf, wr, expr)
#define MEM_RMW_ALL(ea)                                                        \
	MEM_RMW_OP(add, ea, LF_ADD, 1, a + b)                                  \
	MEM_RMW_OP(or, ea, LF_LOGIC, 1, a | b)                                 \
	MEM_RMW_OP(and, ea, LF_LOGIC, 1, a & b)                                \
	MEM_RMW_OP(sub, ea, LF_SUB, 1, a - b)                                  \
	MEM_RMW_OP(xor, ea, LF_LOGIC, 1, a ^ b)                                \
	MEM_RMW_OP(cmp, ea, LF_SUB, 0, a - b)
MEM_RMW_ALL(b)
MEM_RMW_ALL(bi)
MEM_RMW_ALL(i)
MEM_RMW_ALL(b4)
MEM_RMW_ALL(bi4)
MEM_RMW_ALL(i4)

/*
 * JMP near indirect through memory (FF /4, 64-bit target): a branch, so
 * it retires itself (RIP is the target) and enters the next block.  A
 * non-canonical target goes to the plain handler for its #GP.
 */
#define MEM_JMP(ea)                                                            \
	static int m_jmp_##ea(struct soft_cpu *c, const struct soft_insn *i)   \
	{                                                                      \
		void *p = mem_hit(c, c->segbase[i->seg] + EA_##ea, 8, false);  \
		uint64_t t;                                                    \
		if (unlikely(!p))                                              \
			return mem_slow(c, i);                                 \
		t = soft_ldh(p, 8);                                            \
		if (unlikely((uint64_t)((int64_t)(t << 16) >> 16) != t))       \
			return mem_slow(c, i);                                 \
		c->st.rip = t;                                                 \
		c->icount += i->pre_n + 1u;                                    \
		return soft_thread_link(c);                                    \
	}
MEM_JMP(b)
MEM_JMP(bi)
MEM_JMP(i)

/* The same in 32-bit code (32-bit target, checked against the CS limit
 * by the plain handler when beyond it) */
#define MEM_JMP4(ea)                                                           \
	static int m_jmp_##ea(struct soft_cpu *c, const struct soft_insn *i)   \
	{                                                                      \
		uint64_t lin = lin32(c, i->seg, (uint32_t)EA_##ea, false);     \
		void *p;                                                       \
		uint64_t t;                                                    \
		if (unlikely(lin == ~0ull || c->csz != 4))                     \
			return mem_slow(c, i);                                 \
		p = mem_hit(c, lin, 4, false);                                 \
		if (unlikely(!p))                                              \
			return mem_slow(c, i);                                 \
		t = soft_ldh(p, 4);                                            \
		if (unlikely(c->pe && t > c->st.seg[VMM_CS].limit))            \
			return mem_slow(c, i);                                 \
		c->st.rip = t;                                                 \
		c->icount += i->pre_n + 1u;                                    \
		return soft_thread_link(c);                                    \
	}
MEM_JMP4(b4)
MEM_JMP4(bi4)
MEM_JMP4(i4)

/* [shape][size 8/4] of a form (shapes 3-5: 32-bit addressing) */
#define MEM_TAB(name)                                                          \
	{ { m_##name##8_b, m_##name##4_b }, { m_##name##8_bi, m_##name##4_bi }, \
	  { m_##name##8_i, m_##name##4_i },                                    \
	  { m_##name##8_b4, m_##name##4_b4 },                                  \
	  { m_##name##8_bi4, m_##name##4_bi4 },                                \
	  { m_##name##8_i4, m_##name##4_i4 } }
/* [shape] of a one-size form */
#define MEM_TAB1(name) { m_##name##_b, m_##name##_bi, m_##name##_i,             \
			 m_##name##_b4, m_##name##_bi4, m_##name##_i4 }

/* ALU r, [mem] by op number (ADD OR ADC SBB AND SUB XOR CMP) */
static const soft_fn mem_alu[8][6][2] = {
	MEM_TAB(add), MEM_TAB(or), { { NULL } }, { { NULL } },
	MEM_TAB(and), MEM_TAB(sub), MEM_TAB(xor), MEM_TAB(cmp),
};
static const soft_fn tab_ld[6][2] = MEM_TAB(ld);
static const soft_fn tab_st[6][2] = MEM_TAB(st);
static const soft_fn mem_sti[6][2] = MEM_TAB(sti);
static const soft_fn mem_cmpi[6][2] = MEM_TAB(cmpi);
/* ALU [mem], reg / [mem], imm / reg8, [mem8] by op number */
#define MEM_RMW_TAB(name, form) MEM_TAB(name##form)
#define MEM_RMW_TAB1(name, form) MEM_TAB1(name##form##1)
static const soft_fn mem_rmw_r[8][6][2] = {
	MEM_RMW_TAB(add, mr), MEM_RMW_TAB(or, mr), { { NULL } }, { { NULL } },
	MEM_RMW_TAB(and, mr), MEM_RMW_TAB(sub, mr), MEM_RMW_TAB(xor, mr),
	MEM_RMW_TAB(cmp, mr),
};
static const soft_fn mem_rmw_i[8][6][2] = {
	MEM_RMW_TAB(add, mi), MEM_RMW_TAB(or, mi), { { NULL } }, { { NULL } },
	MEM_RMW_TAB(and, mi), MEM_RMW_TAB(sub, mi), MEM_RMW_TAB(xor, mi),
	MEM_RMW_TAB(cmp, mi),
};
static const soft_fn mem_rmw_r1[8][6] = {
	MEM_RMW_TAB1(add, mr), MEM_RMW_TAB1(or, mr), { NULL }, { NULL },
	MEM_RMW_TAB1(and, mr), MEM_RMW_TAB1(sub, mr), MEM_RMW_TAB1(xor, mr),
	MEM_RMW_TAB1(cmp, mr),
};
static const soft_fn mem_rmw_i1[8][6] = {
	MEM_RMW_TAB1(add, mi), MEM_RMW_TAB1(or, mi), { NULL }, { NULL },
	MEM_RMW_TAB1(and, mi), MEM_RMW_TAB1(sub, mi), MEM_RMW_TAB1(xor, mi),
	MEM_RMW_TAB1(cmp, mi),
};
static const soft_fn mem_rb1[8][6] = {
	MEM_RMW_TAB1(add, rb), MEM_RMW_TAB1(or, rb), { NULL }, { NULL },
	MEM_RMW_TAB1(and, rb), MEM_RMW_TAB1(sub, rb), MEM_RMW_TAB1(xor, rb),
	MEM_RMW_TAB1(cmp, rb),
};
/* IMUL r, [mem] without its flags (dead_pick) */
static const soft_fn mem_imul[6][2] = MEM_TAB(imul);
static const soft_fn mem_st1[6] = MEM_TAB1(st1);
static const soft_fn mem_sti1[6] = MEM_TAB1(sti1);
static const soft_fn mem_cmpi1[6] = MEM_TAB1(cmpi1);
static const soft_fn mem_zxb[6] = MEM_TAB1(zxb);
static const soft_fn mem_zxw[6] = MEM_TAB1(zxw);
static const soft_fn mem_sxd[6] = MEM_TAB1(sxd);

/*
 * The effective-address shape of @in for the memory forms, or -1: 0-2
 * with 64-bit addressing, 3-5 the same with 32-bit addressing.
 */
static int mem_shape(const struct soft_insn *in)
{
	int a32 = in->asz == 4 ? 3 : 0;

	if (in->mod == 3 || (in->asz != 8 && in->asz != 4) ||
	    (in->pfx & PFX_LOCK) || in->base == SOFT_RIPREL)
		return -1;
	if (in->base != SOFT_NOREG)
		return a32 + (in->index != SOFT_NOREG ? 1 : 0);
	return in->index != SOFT_NOREG ? a32 + 2 : -1;
}

/* The memory branch form for @in (not deferred: it ends the block). */
static soft_fn mem_branch_pick(const struct soft_insn *in)
{
	static const soft_fn jmp[6] = { m_jmp_b, m_jmp_bi, m_jmp_i,
					m_jmp_b4, m_jmp_bi4, m_jmp_i4 };
	int shape = mem_shape(in);

	if (shape < 0 || in->op != 0xff || (in->reg & 7) != 4 ||
	    in->osz != (shape > 2 ? 4 : 8))
		return NULL;
	return jmp[shape];
}

/* The memory form for @in, or NULL. */
static soft_fn mem_pick(const struct soft_insn *in)
{
	unsigned op = in->op, s;
	int shape = mem_shape(in);

	if (shape < 0)
		return NULL;
	if (in->osz == 1) {
		if (op == 0x88)
			return mem_st1[shape];
		if (op == 0xc6 && (in->reg & 7) == 0)
			return mem_sti1[shape];
		if (op == 0x80 && (in->reg & 7) == 7)
			return mem_cmpi1[shape];
		if (op == 0x80) /* not 82: #UD in 64-bit mode */
			return mem_rmw_i1[in->reg & 7][shape];
		if (op < 0x40 && (op & 7) == 0)
			return mem_rmw_r1[op >> 3][shape];
		if (op < 0x40 && (op & 7) == 2)
			return mem_rb1[op >> 3][shape];
		return NULL;
	}
	if (in->osz != 4 && in->osz != 8)
		return NULL;
	s = in->osz == 8 ? 0 : 1;
	switch (op) {
	case 0x8b: return tab_ld[shape][s];
	case 0x89: return tab_st[shape][s];
	case 0xc7: return (in->reg & 7) == 0 ? mem_sti[shape][s] : NULL;
	case 0x81:
	case 0x83: return (in->reg & 7) == 7 ? mem_cmpi[shape][s] :
			  mem_rmw_i[in->reg & 7][shape][s];
	case 0x1b6: return mem_zxb[shape];
	case 0x1b7: return mem_zxw[shape];
	case 0x63: return s == 0 ? mem_sxd[shape] : NULL;
	}
	if (op < 0x40 && (op & 7) == 3)
		return mem_alu[op >> 3][shape][s];
	if (op < 0x40 && (op & 7) == 1)
		return mem_rmw_r[op >> 3][shape][s];
	return NULL;
}

/*
 * The same shifts with their flags (as exec_shift.c computes them: all
 * arithmetic flags written, AF clear, OF also for counts > 1).
 */
static inline void shift_flags(struct soft_cpu *c, uint64_t r, unsigned sz,
			       unsigned cf, bool of)
{
	uint64_t m = soft_mask(sz);
	unsigned bits = cf | (of ? FL_OF : 0);

	bits |= (r & m) ? 0 : FL_ZF;
	bits |= (r & soft_sign(sz)) ? FL_SF : 0;
	bits |= __builtin_parity((unsigned)(r & 0xff)) ? 0 : FL_PF;
	soft_flags_set_arith(c, bits);
}

#define PURE_SHIFT_F(sz, T, N)                                                 \
	static int                                                             \
	p_shl##sz##_f(struct soft_cpu *c, const struct soft_insn *i)            \
	{                                                                      \
		unsigned k = (unsigned)i->imm & (N - 1);                       \
		uint64_t a = (T)c->st.gpr[i->rm], r = (T)(a << k);             \
		unsigned cf = (unsigned)(a >> (N - k)) & 1;                    \
		c->st.gpr[i->rm] = r;                                          \
		shift_flags(c, r, sz, cf, ((r >> (N - 1)) & 1) != cf);         \
		PURE_NEXT(c, i);                                               \
	}                                                                      \
	static int                                                             \
	p_shr##sz##_f(struct soft_cpu *c, const struct soft_insn *i)            \
	{                                                                      \
		unsigned k = (unsigned)i->imm & (N - 1);                       \
		uint64_t a = (T)c->st.gpr[i->rm], r = a >> k;                  \
		c->st.gpr[i->rm] = r;                                          \
		shift_flags(c, r, sz, (unsigned)(a >> (k - 1)) & 1,            \
			    (a >> (N - 1)) & 1);                               \
		PURE_NEXT(c, i);                                               \
	}                                                                      \
	static int                                                             \
	p_sar##sz##_f(struct soft_cpu *c, const struct soft_insn *i)            \
	{                                                                      \
		unsigned k = (unsigned)i->imm & (N - 1);                       \
		int64_t a = (int64_t)soft_sext(c->st.gpr[i->rm], sz);          \
		uint64_t r = (T)(a >> k);                                      \
		c->st.gpr[i->rm] = r;                                          \
		shift_flags(c, r, sz, (unsigned)(a >> (k - 1)) & 1, false);    \
		PURE_NEXT(c, i);                                               \
	}
PURE_SHIFT_F(8, uint64_t, 64)
PURE_SHIFT_F(4, uint32_t, 32)

/*
 * The same shifts when only their CF is read later (an INC/DEC follows,
 * which writes the others): CF into RFLAGS, the other arithmetic bits
 * left as they are, which is exact since nothing reads them before they
 * are written (soft_thread_block).
 */
static inline void shift_cf(struct soft_cpu *c, unsigned cf)
{
	c->st.rflags = (c->st.rflags & ~(uint64_t)FL_CF) | cf;
	c->lf_op = LF_NONE;
}

#define PURE_SHIFT_C(sz, T, N)                                                 \
	static int                                                             \
	p_shl##sz##_c(struct soft_cpu *c, const struct soft_insn *i)            \
	{                                                                      \
		unsigned k = (unsigned)i->imm & (N - 1);                       \
		uint64_t a = (T)c->st.gpr[i->rm];                              \
		c->st.gpr[i->rm] = (T)(a << k);                                \
		shift_cf(c, (unsigned)(a >> (N - k)) & 1);                     \
		PURE_NEXT(c, i);                                               \
	}                                                                      \
	static int                                                             \
	p_shr##sz##_c(struct soft_cpu *c, const struct soft_insn *i)            \
	{                                                                      \
		unsigned k = (unsigned)i->imm & (N - 1);                       \
		uint64_t a = (T)c->st.gpr[i->rm];                              \
		c->st.gpr[i->rm] = a >> k;                                     \
		shift_cf(c, (unsigned)(a >> (k - 1)) & 1);                     \
		PURE_NEXT(c, i);                                               \
	}                                                                      \
	static int                                                             \
	p_sar##sz##_c(struct soft_cpu *c, const struct soft_insn *i)            \
	{                                                                      \
		unsigned k = (unsigned)i->imm & (N - 1);                       \
		int64_t a = (int64_t)soft_sext(c->st.gpr[i->rm], sz);          \
		c->st.gpr[i->rm] = (T)(a >> k);                                \
		shift_cf(c, (unsigned)(a >> (k - 1)) & 1);                     \
		PURE_NEXT(c, i);                                               \
	}
PURE_SHIFT_C(8, uint64_t, 64)
PURE_SHIFT_C(4, uint32_t, 32)

/*
 * SHL / SHR / SAR (C1 /4 /5 /6 /7) of a 32/64-bit register by a non-zero
 * immediate: the entry with flags, or (@dead) without; NULL otherwise.
 */
static soft_fn shift_pick(const struct soft_insn *in, bool dead)
{
	static const soft_fn t[3][2][2] = {
		{ { p_shl8_f, p_shl8 }, { p_shl4_f, p_shl4 } },
		{ { p_shr8_f, p_shr8 }, { p_shr4_f, p_shr4 } },
		{ { p_sar8_f, p_sar8 }, { p_sar4_f, p_sar4 } },
	};
	unsigned sub = in->reg & 7, s = in->osz == 8 ? 0 : 1, k;

	if (in->op != 0xc1 || in->mod != 3 || (in->pfx & PFX_LOCK) ||
	    (in->osz != 4 && in->osz != 8) ||
	    (in->imm & (in->osz == 8 ? 63 : 31)) == 0)
		return NULL;
	if (sub == 4 || sub == 6) /* 6: SAL alias */
		k = 0;
	else if (sub == 5)
		k = 1;
	else if (sub == 7)
		k = 2;
	else
		return NULL;
	return t[k][s][dead];
}

/* The CF-only twin of shift_pick()'s entry for @in, or NULL. */
static soft_fn shift_cf_pick(const struct soft_insn *in)
{
	static const soft_fn t[3][2] = {
		{ p_shl8_c, p_shl4_c }, { p_shr8_c, p_shr4_c },
		{ p_sar8_c, p_sar4_c },
	};
	soft_fn f = shift_pick(in, false);

	for (unsigned k = 0; f && k < 3; k++)
		for (unsigned s = 0; s < 2; s++)
			if (f == (k == 0 ? (s ? p_shl4_f : p_shl8_f) :
				  k == 1 ? (s ? p_shr4_f : p_shr8_f) :
					   (s ? p_sar4_f : p_sar8_f)))
				return t[k][s];
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
	if (in->pfx & PFX_LOCK)
		return NULL;
	if (in->osz == 1)
		return byte_pick(in, dead, flags);
	if (in->osz != 4 && in->osz != 8)
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
	if (op < 0x40 && (op & 7) == 5) { /* eAX, imm */
		const soft_fn f = pure_alu[op >> 3][3][s][dead];
		*flags = f != NULL;
		return f;
	}
	if (op == 0xa9) {
		static const soft_fn t[2][2] = {
			{ p_test_ai8_f, p_test_ai8_d },
			{ p_test_ai4_f, p_test_ai4_d } };
		*flags = true;
		return t[s][dead];
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
	if (op == 0x8d && in->mod != 3 && in->asz == 4 &&
	    in->base != SOFT_RIPREL)
		return p_lea4;
	if (op == 0xc1) {
		const soft_fn f = shift_pick(in, dead);
		*flags = f != NULL;
		return f;
	}
	if (incdec_kind(in) >= 0)
		return pure_incdec[incdec_kind(in)][s][dead];
	if (in->mod == 3)
		return movx_pick(in);
	return NULL;
}

/*
 * Forms used only when the translator proved the flags dead after the
 * instruction (soft_thread_block): register rotates by an immediate (they
 * keep SF/ZF/AF/PF, so with live flags they need the materialised RFLAGS)
 * and IMUL (flags from the full product), on 32/64-bit operands.
 */
static int p_rol8_d(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t a = c->st.gpr[i->rm];
	unsigned k = (unsigned)i->imm & 63;

	c->st.gpr[i->rm] = (a << k) | (a >> ((64 - k) & 63));
	PURE_NEXT(c, i);
}

static int p_ror8_d(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t a = c->st.gpr[i->rm];
	unsigned k = (unsigned)i->imm & 63;

	c->st.gpr[i->rm] = (a >> k) | (a << ((64 - k) & 63));
	PURE_NEXT(c, i);
}

static int p_rol4_d(struct soft_cpu *c, const struct soft_insn *i)
{
	uint32_t a = (uint32_t)c->st.gpr[i->rm];
	unsigned k = (unsigned)i->imm & 31;

	c->st.gpr[i->rm] = (uint32_t)((a << k) | (a >> ((32 - k) & 31)));
	PURE_NEXT(c, i);
}

static int p_ror4_d(struct soft_cpu *c, const struct soft_insn *i)
{
	uint32_t a = (uint32_t)c->st.gpr[i->rm];
	unsigned k = (unsigned)i->imm & 31;

	c->st.gpr[i->rm] = (uint32_t)((a >> k) | (a << ((32 - k) & 31)));
	PURE_NEXT(c, i);
}

/* IMUL r, r/m and IMUL r, r/m, imm: the low half of the product is the
 * same signed or unsigned */
static int p_imul_rr8_d(struct soft_cpu *c, const struct soft_insn *i)
{
	c->st.gpr[i->reg] *= c->st.gpr[i->rm];
	PURE_NEXT(c, i);
}

static int p_imul_rr4_d(struct soft_cpu *c, const struct soft_insn *i)
{
	c->st.gpr[i->reg] = (uint32_t)(c->st.gpr[i->reg] * c->st.gpr[i->rm]);
	PURE_NEXT(c, i);
}

static int p_imul_ri8_d(struct soft_cpu *c, const struct soft_insn *i)
{
	c->st.gpr[i->reg] = c->st.gpr[i->rm] * i->imm;
	PURE_NEXT(c, i);
}

static int p_imul_ri4_d(struct soft_cpu *c, const struct soft_insn *i)
{
	c->st.gpr[i->reg] = (uint32_t)(c->st.gpr[i->rm] * i->imm);
	PURE_NEXT(c, i);
}

/*
 * The dead-flags form of @in, or NULL; *@mem is set for a memory form
 * (which can fault: flags before it stay live).
 */
static soft_fn dead_pick(const struct soft_insn *in, bool *mem)
{
	unsigned s;
	int shape;

	*mem = false;
	if ((in->pfx & PFX_LOCK) || (in->osz != 4 && in->osz != 8) ||
	    in->run == soft_thunk)
		return NULL;
	s = in->osz == 8 ? 0 : 1;
	if (in->op == 0xc1 && in->mod == 3 && (in->reg & 7) <= 1 &&
	    (in->imm & (in->osz == 8 ? 63 : 31)) != 0) {
		static const soft_fn t[2][2] = { { p_rol8_d, p_rol4_d },
						 { p_ror8_d, p_ror4_d } };
		return t[in->reg & 1][s];
	}
	if (in->op == 0x1af && in->mod == 3)
		return s ? p_imul_rr4_d : p_imul_rr8_d;
	if ((in->op == 0x69 || in->op == 0x6b) && in->mod == 3)
		return s ? p_imul_ri4_d : p_imul_ri8_d;
	if (in->op == 0x1af && (shape = mem_shape(in)) >= 0) {
		*mem = true;
		return mem_imul[shape][s];
	}
	return NULL;
}

void soft_thread_pick(struct soft_cpu *c, struct soft_insn *in)
{
	bool flags;
	soft_fn f = pure_pick(in, false, &flags);
	struct soft_twin_memo *m;
	uintptr_t h;

	if (f || (f = mem_pick(in)) || (f = mem_branch_pick(in))) {
		in->run = f;
		return;
	}
	/* the families' twins depend on the handler alone: their linear
	 * scans (every table, for an instruction that has none) were a
	 * sixth of the time fuzz_virtio_hdr spent translating fresh code,
	 * so the answer is remembered by handler */
	h = (uintptr_t)in->fn;
	m = &c->twin_memo[((h >> 4) ^ (h >> 12)) & 255];
	if (m->fn == in->fn) {
		in->run = m->run;
		return;
	}
	if (!(soft_thread_alu(in) || soft_thread_mov(in) ||
	      soft_thread_ctl(in) || soft_thread_stack(in) ||
	      soft_thread_shift(in)))
		in->run = soft_thunk;
	m->fn = in->fn;
	m->run = in->run;
}

void soft_thread_block(struct soft_insn *in, unsigned n)
{
	/* which arithmetic flags later instructions may read, walking
	 * backwards: all of them at the end of the block */
	enum { LIVE_ALL, LIVE_CF, LIVE_NONE } live = LIVE_ALL;
	bool defer[SOFT_TB_MAX_INSNS];
	unsigned pre_n = 0, pre_len = 0;

	for (unsigned k = n; k-- > 0;) {
		bool flags, mem;
		soft_fn f = pure_pick(&in[k], false, &flags), g;

		if (f != in[k].run)
			f = NULL; /* translated otherwise (decode #GP) */
		defer[k] = f != NULL || in[k].run == mem_pick(&in[k]);
		if (!f) {
			if (live == LIVE_NONE && (g = dead_pick(&in[k], &mem))) {
				/* writes or keeps only flags nobody reads */
				in[k].run = g;
				defer[k] = true;
				if (!mem)
					continue;
			}
			live = LIVE_ALL; /* may read flags, fault or stop */
			continue;
		}
		if (flags) {
			/* writes them all: none is live before it */
			if (live == LIVE_NONE)
				in[k].run = pure_pick(&in[k], true, &flags);
			else if (live == LIVE_CF && (g = shift_cf_pick(&in[k])))
				in[k].run = g;
			live = LIVE_NONE;
		} else if (incdec_kind(&in[k]) >= 0) {
			/* writes all flags but CF, which it carries over:
			 * when at most CF is live after it, its own flags
			 * are dead (CF stays what it was); else only the
			 * CF before it is live */
			if (live != LIVE_ALL)
				in[k].run = pure_pick(&in[k], true, &flags);
			else
				live = LIVE_CF;
		}
	}
	/* pure instructions and the memory forms leave RIP and icount to
	 * the next other one */
	for (unsigned k = 0; k <= n; k++) {
		in[k].pre_n = (uint8_t)pre_n;
		in[k].pre_len = (uint16_t)pre_len;
		if (k < n && defer[k]) {
			pre_n++;
			pre_len += in[k].len;
		} else {
			pre_n = pre_len = 0;
		}
	}
}
