/* SPDX-License-Identifier: MIT */
/*
 * exec_alu.c - integer arithmetic and logic: the eight ALU operations in
 * every encoding, INC/DEC, NOT/NEG, TEST, MUL/IMUL/DIV/IDIV (#DE), the sign
 * extensions CBW..CQO, flag instructions, and the legacy BCD adjustments.
 * LOCK-prefixed read-modify-writes are atomic on the host memory.
 */
#include "cpu/soft/thread.h"

static inline uint64_t alu_calc(struct soft_cpu *c, unsigned op, uint64_t a,
				uint64_t b, unsigned *cin)
{
	switch (op) {
	case 0: return a + b;
	case 1: return a | b;
	case 2: *cin = soft_get_cf(c); return a + b + *cin;
	case 3: *cin = soft_get_cf(c); return a - b - *cin;
	case 4: return a & b;
	case 5: return a - b;
	case 6: return a ^ b;
	default: return a - b;
	}
}

static const uint8_t alu_lf[8] = { LF_ADD, LF_LOGIC, LF_ADC, LF_SBB,
				   LF_LOGIC, LF_SUB, LF_LOGIC, LF_SUB };

static inline void alu_flags(struct soft_cpu *c, unsigned op, unsigned size,
			     uint64_t a, uint64_t b, uint64_t r, unsigned cin)
{
	soft_lf(c, alu_lf[op], size, r, a, b);
	c->lf_cin = cin;
}

/* Apply ALU op @op with source @b to the r/m operand of @i. */
static int alu_rm(struct soft_cpu *c, const struct soft_insn *i, unsigned op,
		  uint64_t b)
{
	unsigned size = i->osz, cin = 0;
	uint64_t a, r;

	b &= soft_mask(size);
	if (i->mod == 3) {
		a = size == 1 ? soft_reg8(c, i->rm8) : soft_reg(c, i->rm, size);
		r = alu_calc(c, op, a, b, &cin) & soft_mask(size);
		if (op != 7) {
			if (size == 1)
				soft_set_reg8(c, i->rm8, (uint8_t)r);
			else
				soft_set_reg(c, i->rm, size, r);
		}
	} else {
		uint64_t ea = soft_ea(c, i);
		void *p;
		if ((i->pfx & PFX_LOCK) && op != 7 &&
		    (p = soft_atomic_ptr(c, i->seg, ea, size))) {
			a = soft_ldh(p, size);
			do {
				cin = 0;
				r = alu_calc(c, op, a, b, &cin) &
				    soft_mask(size);
			} while (!soft_cas(p, size, &a, r));
		} else {
			/* a read-modify-write faults as a write (#PF W=1)
			 * even when the read is what cannot be done */
			if (op != 7)
				soft_probe_write(c, i->seg, ea, size);
			a = soft_ld(c, i->seg, ea, size);
			r = alu_calc(c, op, a, b, &cin) & soft_mask(size);
			if (op != 7)
				soft_st(c, i->seg, ea, size, r);
		}
	}
	alu_flags(c, op, size, a, b, r, cin);
	return SOFT_NEXT;
}

/* 00, 01, 08, ...: Eb,Gb / Ev,Gv */
static int op_alu_rm_r(struct soft_cpu *c, const struct soft_insn *i)
{
	return alu_rm(c, i, (i->op >> 3) & 7, soft_greg(c, i));
}

/* 02, 03, ...: Gb,Eb / Gv,Ev */
static int op_alu_r_rm(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned op = (i->op >> 3) & 7, size = i->osz, cin = 0;
	uint64_t a = soft_greg(c, i), b = soft_rm(c, i), r;

	r = alu_calc(c, op, a, b, &cin) & soft_mask(size);
	if (op != 7)
		soft_sreg_(c, i, r);
	alu_flags(c, op, size, a, b, r, cin);
	return SOFT_NEXT;
}

/* 04, 05, ...: AL,Ib / eAX,Iz */
static int op_alu_a_imm(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned op = (i->op >> 3) & 7, size = i->osz, cin = 0;
	uint64_t a = soft_reg(c, VMM_RAX, size), b = i->imm & soft_mask(size), r;

	r = alu_calc(c, op, a, b, &cin) & soft_mask(size);
	if (op != 7)
		soft_set_reg(c, VMM_RAX, size, r);
	alu_flags(c, op, size, a, b, r, cin);
	return SOFT_NEXT;
}

/* 80, 81, 82, 83: group 1 */
static int op_grp1(struct soft_cpu *c, const struct soft_insn *i)
{
	if ((i->pfx & PFX_LOCK) && ((i->reg & 7) == 7 || i->mod == 3))
		soft_ud(c);
	return alu_rm(c, i, i->reg & 7, i->imm);
}

/* 40-4f (not 64-bit): INC/DEC r */
static void incdec_flags(struct soft_cpu *c, bool dec, unsigned size,
			 uint64_t a, uint64_t r, unsigned cf)
{
	soft_lf(c, dec ? LF_DEC : LF_INC, size, r, a, 1);
	c->lf_cin = cf;
}

static int op_incdec_r(struct soft_cpu *c, const struct soft_insn *i)
{
	bool dec = i->op & 8;
	unsigned size = i->osz, cf = soft_get_cf(c);
	uint64_t a = soft_reg(c, i->rm, size);
	uint64_t r = (dec ? a - 1 : a + 1) & soft_mask(size);

	soft_set_reg(c, i->rm, size, r);
	incdec_flags(c, dec, size, a, r, cf);
	return SOFT_NEXT;
}

static int incdec_rm(struct soft_cpu *c, const struct soft_insn *i, bool dec)
{
	unsigned size = i->osz, cf = soft_get_cf(c);
	uint64_t a, r;

	if (i->mod == 3) {
		a = size == 1 ? soft_reg8(c, i->rm8) : soft_reg(c, i->rm, size);
		r = (dec ? a - 1 : a + 1) & soft_mask(size);
		soft_set_rm(c, i, r);
	} else {
		uint64_t ea = soft_ea(c, i);
		void *p;
		if ((i->pfx & PFX_LOCK) &&
		    (p = soft_atomic_ptr(c, i->seg, ea, size))) {
			a = soft_ldh(p, size);
			do {
				r = (dec ? a - 1 : a + 1) & soft_mask(size);
			} while (!soft_cas(p, size, &a, r));
		} else {
			soft_probe_write(c, i->seg, ea, size); /* #PF W=1 */
			a = soft_ld(c, i->seg, ea, size);
			r = (dec ? a - 1 : a + 1) & soft_mask(size);
			soft_st(c, i->seg, ea, size, r);
		}
	}
	incdec_flags(c, dec, size, a, r, cf);
	return SOFT_NEXT;
}

/* FE: INC/DEC Eb */
static int op_grp4(struct soft_cpu *c, const struct soft_insn *i)
{
	if ((i->reg & 7) > 1)
		soft_ud(c);
	if ((i->pfx & PFX_LOCK) && i->mod == 3)
		soft_ud(c);
	return incdec_rm(c, i, i->reg & 1);
}

/* FF /0 /1 (the rest is in exec_ctl.c / exec_stack.c) */
int soft_op_ff_incdec(struct soft_cpu *c, const struct soft_insn *i)
{
	if ((i->pfx & PFX_LOCK) && i->mod == 3)
		soft_ud(c);
	return incdec_rm(c, i, i->reg & 1);
}

/* 84, 85, A8, A9: TEST */
static int op_test_rm_r(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t r = soft_rm(c, i) & soft_greg(c, i);

	soft_lf(c, LF_LOGIC, i->osz, r, 0, 0);
	return SOFT_NEXT;
}

static int op_test_a_imm(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t r = soft_reg(c, VMM_RAX, i->osz) & i->imm;

	soft_lf(c, LF_LOGIC, i->osz, r & soft_mask(i->osz), 0, 0);
	return SOFT_NEXT;
}

/* ---- multiply / divide ---- */

static void mul_flags(struct soft_cpu *c, unsigned size, uint64_t lo,
		      bool overflow)
{
	unsigned f = soft_szp(lo, size);

	if (overflow)
		f |= FL_CF | FL_OF;
	soft_flags_set_arith(c, f);
}

static void do_mul(struct soft_cpu *c, unsigned size, uint64_t b, bool sign)
{
	uint64_t a = soft_reg(c, VMM_RAX, size), lo, hi;
	bool ovf;

	if (size == 8) {
		if (sign) {
			__int128 p = (__int128)(int64_t)a * (int64_t)b;
			lo = (uint64_t)p;
			hi = (uint64_t)(p >> 64);
			ovf = (__int128)(int64_t)lo != p;
		} else {
			unsigned __int128 p = (unsigned __int128)a * b;
			lo = (uint64_t)p;
			hi = (uint64_t)(p >> 64);
			ovf = hi != 0;
		}
	} else {
		unsigned bits = size * 8;
		uint64_t p;
		if (sign) {
			int64_t sp = (int64_t)soft_sext(a, size) *
				     (int64_t)soft_sext(b, size);
			p = (uint64_t)sp;
			ovf = (int64_t)soft_sext(p & soft_mask(size), size) !=
			      sp;
		} else {
			p = a * b;
			ovf = (p >> bits) != 0;
		}
		lo = p & soft_mask(size);
		hi = (p >> bits) & soft_mask(size);
	}
	if (size == 1) {
		soft_set_reg(c, VMM_RAX, 2, (hi << 8) | lo);
	} else {
		soft_set_reg(c, VMM_RAX, size, lo);
		soft_set_reg(c, VMM_RDX, size, hi);
	}
	mul_flags(c, size, lo, ovf);
}

static void do_div(struct soft_cpu *c, unsigned size, uint64_t b, bool sign)
{
	uint64_t q, r;

	b &= soft_mask(size);
	if (!b)
		soft_fault_noerr(c, 0);
	if (size == 8) {
		unsigned __int128 n = ((unsigned __int128)c->st.gpr[VMM_RDX]
				       << 64) | c->st.gpr[VMM_RAX];
		if (sign) {
			__int128 sn = (__int128)n, sq, sr;
			int64_t sb = (int64_t)b;
			if (sb == -1 && n == ((unsigned __int128)1 << 127))
				soft_fault_noerr(c, 0);
			sq = sn / sb;
			sr = sn % sb;
			if (sq > INT64_MAX || sq < INT64_MIN)
				soft_fault_noerr(c, 0);
			q = (uint64_t)sq;
			r = (uint64_t)sr;
		} else {
			unsigned __int128 uq = n / b;
			if (uq >> 64)
				soft_fault_noerr(c, 0);
			q = (uint64_t)uq;
			r = (uint64_t)(n % b);
		}
	} else {
		unsigned bits = size * 8;
		uint64_t n;
		if (size == 1)
			n = soft_reg(c, VMM_RAX, 2);
		else
			n = (soft_reg(c, VMM_RDX, size) << bits) |
			    soft_reg(c, VMM_RAX, size);
		if (sign) {
			int64_t sn = (int64_t)(n << (64 - 2 * bits)) >>
				     (64 - 2 * bits);
			int64_t sb = (int64_t)soft_sext(b, size);
			if (sb == -1 && sn == INT64_MIN)
				soft_fault_noerr(c, 0);
			int64_t sq = sn / sb, sr = sn % sb;
			int64_t lim = (int64_t)1 << (bits - 1);
			if (sq >= lim || sq < -lim)
				soft_fault_noerr(c, 0);
			q = (uint64_t)sq & soft_mask(size);
			r = (uint64_t)sr & soft_mask(size);
		} else {
			q = n / b;
			r = n % b;
			if (q >> bits)
				soft_fault_noerr(c, 0);
		}
	}
	if (size == 1) {
		soft_set_reg(c, VMM_RAX, 2, ((r & 0xff) << 8) | (q & 0xff));
	} else {
		soft_set_reg(c, VMM_RAX, size, q);
		soft_set_reg(c, VMM_RDX, size, r);
	}
}

/* F6/F7: group 3 */
static int op_grp3(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned size = i->osz, sub = i->reg & 7;
	uint64_t a, r;

	if ((i->pfx & PFX_LOCK) && (i->mod == 3 || (sub != 2 && sub != 3)))
		soft_ud(c);
	switch (sub) {
	case 0:
	case 1: /* TEST Ev, imm */
		r = soft_rm(c, i) & i->imm & soft_mask(size);
		soft_lf(c, LF_LOGIC, size, r, 0, 0);
		return SOFT_NEXT;
	case 2: /* NOT: no flags */
	case 3: /* NEG */
		if (i->mod != 3 && (i->pfx & PFX_LOCK)) {
			uint64_t ea = soft_ea(c, i);
			void *p = soft_atomic_ptr(c, i->seg, ea, size);
			if (p) {
				a = soft_ldh(p, size);
				do {
					r = (sub == 2 ? ~a : -a) &
					    soft_mask(size);
				} while (!soft_cas(p, size, &a, r));
				goto done;
			}
		}
		a = soft_rm(c, i);
		r = (sub == 2 ? ~a : -a) & soft_mask(size);
		soft_set_rm(c, i, r);
done:
		if (sub == 3)
			soft_lf(c, LF_SUB, size, r, 0, a);
		return SOFT_NEXT;
	case 4:
	case 5:
		do_mul(c, size, soft_rm(c, i), sub == 5);
		return SOFT_NEXT;
	default:
		do_div(c, size, soft_rm(c, i), sub == 7);
		return SOFT_NEXT;
	}
}

static uint64_t imul_op(struct soft_cpu *c, unsigned size, uint64_t a,
			uint64_t b)
{
	uint64_t lo;
	bool ovf;

	if (size == 8) {
		__int128 p = (__int128)(int64_t)a * (int64_t)b;
		lo = (uint64_t)p;
		ovf = (__int128)(int64_t)lo != p;
	} else {
		int64_t p = (int64_t)soft_sext(a, size) *
			    (int64_t)soft_sext(b, size);
		lo = (uint64_t)p & soft_mask(size);
		ovf = (int64_t)soft_sext(lo, size) != p;
	}
	mul_flags(c, size, lo, ovf);
	return lo;
}

/* 0F AF: IMUL Gv, Ev; 69 / 6B: IMUL Gv, Ev, imm */
static int op_imul_r_rm(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t b = soft_rm(c, i), a = soft_reg(c, i->reg, i->osz);

	soft_set_reg(c, i->reg, i->osz, imul_op(c, i->osz, a, b));
	return SOFT_NEXT;
}

static int op_imul_imm(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t a = soft_rm(c, i);

	soft_set_reg(c, i->reg, i->osz, imul_op(c, i->osz, a, i->imm));
	return SOFT_NEXT;
}

/* 98: CBW/CWDE/CDQE; 99: CWD/CDQ/CQO */
static int op_cbw(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned s = i->osz;

	soft_set_reg(c, VMM_RAX, s, soft_sext(soft_reg(c, VMM_RAX, s / 2), s / 2));
	return SOFT_NEXT;
}

static int op_cwd(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned s = i->osz;
	uint64_t a = soft_reg(c, VMM_RAX, s);

	soft_set_reg(c, VMM_RDX, s, (a & soft_sign(s)) ? ~0ull : 0);
	return SOFT_NEXT;
}

/* flag instructions */
static int op_flagbit(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t f = soft_get_flags(c);

	switch (i->op) {
	case 0xf5: f ^= FL_CF; break;
	case 0xf8: f &= ~(uint64_t)FL_CF; break;
	case 0xf9: f |= FL_CF; break;
	case 0xfc: f &= ~(uint64_t)FL_DF; break;
	case 0xfd: f |= FL_DF; break;
	}
	c->st.rflags = f;
	c->lf_op = LF_NONE;
	return SOFT_NEXT;
}

static int op_lahf(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t f = soft_get_flags(c);

	soft_set_reg8(c, 16 + 0, (uint8_t)((f & 0xd5) | 2));
	return SOFT_NEXT;
}

static int op_sahf(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t f = soft_get_flags(c);
	uint8_t ah = soft_reg8(c, 16 + 0);

	f = (f & ~0xd5ull) | (ah & 0xd5);
	c->st.rflags = f;
	c->lf_op = LF_NONE;
	return SOFT_NEXT;
}

/* legacy BCD: DAA DAS AAA AAS AAM AAD */
static int op_bcd(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t f = soft_get_flags(c);
	uint8_t al = soft_reg8(c, 0), old = al;
	unsigned cf = f & FL_CF, af = f & FL_AF, nf = 0;

	switch (i->op) {
	case 0x27: /* DAA */
	case 0x2f: /* DAS */
		if ((al & 0xf) > 9 || af) {
			al = i->op == 0x27 ? al + 6 : al - 6;
			nf |= FL_AF;
			if (i->op == 0x2f && old < 6)
				nf |= FL_CF;
			if (i->op == 0x27 && old > 0xf9)
				nf |= FL_CF;
			nf |= cf;
		}
		if (old > 0x99 || cf) {
			al = i->op == 0x27 ? al + 0x60 : al - 0x60;
			nf |= FL_CF;
		}
		soft_set_reg8(c, 0, al);
		nf |= soft_szp(al, 1);
		break;
	case 0x37: /* AAA */
	case 0x3f: /* AAS */
		if ((al & 0xf) > 9 || af) {
			uint16_t ax = (uint16_t)c->st.gpr[VMM_RAX];
			if (i->op == 0x37)
				ax = (uint16_t)(ax + 0x106);
			else
				ax = (uint16_t)(((uint16_t)((ax >> 8) - 1) << 8) |
						((ax - 6) & 0xff));
			soft_set_reg(c, VMM_RAX, 2, ax & 0xff0f);
			nf = FL_AF | FL_CF;
		} else {
			soft_set_reg8(c, 0, al & 0xf);
		}
		nf |= soft_szp(soft_reg8(c, 0), 1);
		break;
	case 0xd4: { /* AAM */
		uint8_t base = (uint8_t)i->imm;
		if (!base)
			soft_fault_noerr(c, 0);
		soft_set_reg(c, VMM_RAX, 2, ((al / base) << 8) | (al % base));
		nf = soft_szp(al % base, 1);
		break;
	}
	case 0xd5: { /* AAD */
		uint8_t ah = soft_reg8(c, 16);
		uint8_t r = (uint8_t)(al + ah * (uint8_t)i->imm);
		soft_set_reg(c, VMM_RAX, 2, r);
		nf = soft_szp(r, 1);
		break;
	}
	}
	soft_flags_set_arith(c, nf);
	return SOFT_NEXT;
}

/*
 * Specialized handlers for ADD OR AND SUB XOR CMP (no carry in): the
 * register-register and register-immediate forms of 32/64-bit operands
 * run without the generic dispatch; everything else falls back.
 */
#define ALU_FAST(name, opn, expr, lf)                                          \
	static int op_##name##_rm_r(struct soft_cpu *c,                        \
				    const struct soft_insn *i)                 \
	{                                                                      \
		if (likely(i->mod == 3 && i->osz >= 4)) {                      \
			uint64_t m = soft_mask(i->osz);                        \
			uint64_t a = c->st.gpr[i->rm] & m;                     \
			uint64_t b = c->st.gpr[i->reg] & m;                    \
			uint64_t r = (expr) & m;                               \
			if (opn != 7)                                          \
				c->st.gpr[i->rm] = r;                          \
			soft_lf(c, lf, i->osz, r, a, b);                       \
			return SOFT_NEXT;                                      \
		}                                                              \
		return alu_rm(c, i, opn, soft_greg(c, i));                     \
	}                                                                      \
	static int op_##name##_r_rm(struct soft_cpu *c,                        \
				    const struct soft_insn *i)                 \
	{                                                                      \
		if (likely(i->osz >= 4)) {                                     \
			uint64_t m = soft_mask(i->osz);                        \
			uint64_t a = c->st.gpr[i->reg] & m;                    \
			uint64_t b = i->mod == 3 ? c->st.gpr[i->rm] & m :      \
				soft_ld(c, i->seg, soft_ea(c, i), i->osz);     \
			uint64_t r = (expr) & m;                               \
			if (opn != 7)                                          \
				c->st.gpr[i->reg] = r;                         \
			soft_lf(c, lf, i->osz, r, a, b);                       \
			return SOFT_NEXT;                                      \
		}                                                              \
		return op_alu_r_rm(c, i);                                      \
	}                                                                      \
	static int op_##name##_imm(struct soft_cpu *c,                         \
				   const struct soft_insn *i)                  \
	{                                                                      \
		if (likely(i->mod == 3 && i->osz >= 4)) {                      \
			uint64_t m = soft_mask(i->osz);                        \
			uint64_t a = c->st.gpr[i->rm] & m;                     \
			uint64_t b = i->imm & m;                               \
			uint64_t r = (expr) & m;                               \
			if (opn != 7)                                          \
				c->st.gpr[i->rm] = r;                          \
			soft_lf(c, lf, i->osz, r, a, b);                       \
			return SOFT_NEXT;                                      \
		}                                                              \
		return op_grp1(c, i);                                          \
	}

ALU_FAST(add, 0, a + b, LF_ADD)
ALU_FAST(or, 1, a | b, LF_LOGIC)
ALU_FAST(and, 4, a & b, LF_LOGIC)
ALU_FAST(sub, 5, a - b, LF_SUB)
ALU_FAST(xor, 6, a ^ b, LF_LOGIC)
ALU_FAST(cmp, 7, a - b, LF_SUB)

static const soft_fn fast_rm_r[8] = { op_add_rm_r, op_or_rm_r, NULL, NULL,
				      op_and_rm_r, op_sub_rm_r, op_xor_rm_r,
				      op_cmp_rm_r };
static const soft_fn fast_r_rm[8] = { op_add_r_rm, op_or_r_rm, NULL, NULL,
				      op_and_r_rm, op_sub_r_rm, op_xor_r_rm,
				      op_cmp_r_rm };
static const soft_fn fast_imm[8] = { op_add_imm, op_or_imm, NULL, NULL,
				     op_and_imm, op_sub_imm, op_xor_imm,
				     op_cmp_imm };

/* Pick a specialized handler for @in once it is decoded (tb.c). */
void soft_specialize(struct soft_insn *in)
{
	unsigned op = in->op;

	if (in->pfx & PFX_LOCK)
		return;
	if (op < 0x40 && (op & 7) < 4) {
		const soft_fn *t = (op & 2) ? fast_r_rm : fast_rm_r;
		if (!(op & 1))
			return; /* byte forms stay generic */
		if (t[op >> 3])
			in->fn = t[op >> 3];
	} else if (op == 0x81 || op == 0x83) {
		if (fast_imm[in->reg & 7])
			in->fn = fast_imm[in->reg & 7];
	}
}

/* threaded twins (thread.h) */
#define ALU_THREADED(name)                                                     \
	SOFT_THREADED(op_##name##_rm_r)                                        \
	SOFT_THREADED(op_##name##_r_rm)                                        \
	SOFT_THREADED(op_##name##_imm)
ALU_THREADED(add)
ALU_THREADED(or)
ALU_THREADED(and)
ALU_THREADED(sub)
ALU_THREADED(xor)
ALU_THREADED(cmp)
SOFT_THREADED(op_alu_rm_r)
SOFT_THREADED(op_alu_r_rm)
SOFT_THREADED(op_alu_a_imm)
SOFT_THREADED(op_grp1)
SOFT_THREADED(op_test_rm_r)
SOFT_THREADED(op_test_a_imm)
SOFT_THREADED(op_incdec_r)
SOFT_THREADED(op_grp4)
SOFT_THREADED(soft_op_ff_incdec)
SOFT_THREADED(op_imul_r_rm)
SOFT_THREADED(op_imul_imm)
SOFT_THREADED(op_grp3)

#define ALU_PAIRS(name)                                                        \
	{ op_##name##_rm_r, op_##name##_rm_r_t },                              \
	{ op_##name##_r_rm, op_##name##_r_rm_t },                              \
	{ op_##name##_imm, op_##name##_imm_t }

static const struct soft_tpair alu_twins[] = {
	ALU_PAIRS(add), ALU_PAIRS(or), ALU_PAIRS(and), ALU_PAIRS(sub),
	ALU_PAIRS(xor), ALU_PAIRS(cmp),
	{ op_alu_rm_r, op_alu_rm_r_t }, { op_alu_r_rm, op_alu_r_rm_t },
	{ op_alu_a_imm, op_alu_a_imm_t }, { op_grp1, op_grp1_t },
	{ op_test_rm_r, op_test_rm_r_t }, { op_test_a_imm, op_test_a_imm_t },
	{ op_incdec_r, op_incdec_r_t }, { op_grp4, op_grp4_t },
	{ soft_op_ff_incdec, soft_op_ff_incdec_t },
	{ op_imul_r_rm, op_imul_r_rm_t }, { op_imul_imm, op_imul_imm_t },
	{ op_grp3, op_grp3_t },
};

bool soft_thread_alu(struct soft_insn *in)
{
	return soft_tpick(in, alu_twins, sizeof(alu_twins) / sizeof(alu_twins[0]));
}

void soft_register_alu(soft_fn *t)
{
	for (unsigned op = 0; op < 0x40; op += 8) {
		t[op + 0] = op_alu_rm_r;
		t[op + 1] = op_alu_rm_r;
		t[op + 2] = op_alu_r_rm;
		t[op + 3] = op_alu_r_rm;
		t[op + 4] = op_alu_a_imm;
		t[op + 5] = op_alu_a_imm;
	}
	for (unsigned op = 0x40; op < 0x50; op++)
		t[op] = op_incdec_r;
	t[0x80] = t[0x81] = t[0x82] = t[0x83] = op_grp1;
	t[0x84] = t[0x85] = op_test_rm_r;
	t[0xa8] = t[0xa9] = op_test_a_imm;
	t[0xf6] = t[0xf7] = op_grp3;
	t[0xfe] = op_grp4;
	t[0x1af] = op_imul_r_rm;
	t[0x69] = t[0x6b] = op_imul_imm;
	t[0x98] = op_cbw;
	t[0x99] = op_cwd;
	t[0xf5] = t[0xf8] = t[0xf9] = t[0xfc] = t[0xfd] = op_flagbit;
	t[0x9f] = op_lahf;
	t[0x9e] = op_sahf;
	t[0x27] = t[0x2f] = t[0x37] = t[0x3f] = t[0xd4] = t[0xd5] = op_bcd;
}
