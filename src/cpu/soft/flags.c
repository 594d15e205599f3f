/* SPDX-License-Identifier: MIT */
/*
 * flags.c - lazy arithmetic flags.  The common producers (ADD, ADC, SUB,
 * SBB, CMP, logic, INC, DEC) only record their operands and result; the
 * flags are computed when something reads them.  Everything else writes
 * exact flags into RFLAGS directly (LF_NONE).
 */
#include "cpu/soft/soft.h"

unsigned soft_parity(uint8_t v)
{
	return (__builtin_popcount(v) & 1) ? 0 : FL_PF;
}

unsigned soft_szp(uint64_t res, unsigned size)
{
	unsigned f = 0;

	res &= soft_mask(size);
	if (!res)
		f |= FL_ZF;
	if (res & soft_sign(size))
		f |= FL_SF;
	return f | soft_parity((uint8_t)res);
}

static unsigned calc_cf(struct soft_cpu *c)
{
	uint64_t m = soft_mask(c->lf_size);
	uint64_t a = c->lf_a & m, b = c->lf_b & m, r = c->lf_res & m;

	switch (c->lf_op) {
	case LF_ADD: return r < a;
	case LF_ADC: return c->lf_cin ? r <= a : r < a;
	case LF_SUB: return a < b;
	case LF_SBB: return c->lf_cin ? a <= b : a < b;
	case LF_INC:
	case LF_DEC: return c->lf_cin;
	default: return 0;
	}
}

unsigned soft_get_cf(struct soft_cpu *c)
{
	if (c->lf_op == LF_NONE)
		return c->st.rflags & FL_CF;
	return calc_cf(c);
}

uint64_t soft_get_flags(struct soft_cpu *c)
{
	uint64_t f = c->st.rflags;
	unsigned size = c->lf_size, bits;
	uint64_t m, a, b, r, sign;

	if (c->lf_op == LF_NONE)
		return f;
	m = soft_mask(size);
	sign = soft_sign(size);
	a = c->lf_a & m;
	b = c->lf_b & m;
	r = c->lf_res & m;
	bits = soft_szp(r, size);
	if (calc_cf(c))
		bits |= FL_CF;
	switch (c->lf_op) {
	case LF_ADD:
	case LF_ADC:
		if ((a ^ r) & (b ^ r) & sign)
			bits |= FL_OF;
		bits |= (a ^ b ^ r) & FL_AF;
		break;
	case LF_SUB:
	case LF_SBB:
		if ((a ^ b) & (a ^ r) & sign)
			bits |= FL_OF;
		bits |= (a ^ b ^ r) & FL_AF;
		break;
	case LF_INC:
		if (r == sign)
			bits |= FL_OF;
		bits |= (a ^ 1 ^ r) & FL_AF;
		break;
	case LF_DEC:
		if (r == sign - 1)
			bits |= FL_OF;
		bits |= (a ^ 1 ^ r) & FL_AF;
		break;
	case LF_LOGIC:
		break;
	}
	return (f & ~(uint64_t)FL_ARITH) | bits;
}

void soft_set_flags(struct soft_cpu *c, uint64_t f)
{
	c->st.rflags = (c->st.rflags & ~(uint64_t)FL_ARITH) | (f & FL_ARITH);
	c->lf_op = LF_NONE;
}

/*
 * Condition @cc straight from the lazy state, whatever produced it: each
 * condition computes only the flags it reads (ZF and SF from the result,
 * CF from the operands, OF per producer), never the whole RFLAGS.
 */
bool soft_cond(struct soft_cpu *c, unsigned cc)
{
	uint64_t f, m, sign, a, b, r;
	unsigned op = c->lf_op;
	bool v, of;

	if (op == LF_NONE) {
		f = c->st.rflags;
		switch (cc >> 1) {
		case 0: v = f & FL_OF; break;
		case 1: v = f & FL_CF; break;
		case 2: v = f & FL_ZF; break;
		case 3: v = f & (FL_CF | FL_ZF); break;
		case 4: v = f & FL_SF; break;
		case 5: v = f & FL_PF; break;
		case 6: v = !!(f & FL_SF) != !!(f & FL_OF); break;
		default: v = (f & FL_ZF) || (!!(f & FL_SF) != !!(f & FL_OF)); break;
		}
		return (cc & 1) ? !v : v;
	}
	m = soft_mask(c->lf_size);
	sign = soft_sign(c->lf_size);
	a = c->lf_a & m;
	b = c->lf_b & m;
	r = c->lf_res & m;
	switch (cc >> 1) {
	case 2: /* E */
		v = r == 0;
		goto out;
	case 4: /* S */
		v = (r & sign) != 0;
		goto out;
	case 5: /* P */
		v = soft_parity((uint8_t)r) != 0;
		goto out;
	case 1: /* B */
		v = calc_cf(c);
		goto out;
	case 3: /* BE */
		v = r == 0 || calc_cf(c);
		goto out;
	}
	switch (op) {
	case LF_ADD:
	case LF_ADC: of = ((a ^ r) & (b ^ r) & sign) != 0; break;
	case LF_SUB:
	case LF_SBB: of = ((a ^ b) & (a ^ r) & sign) != 0; break;
	case LF_INC: of = r == sign; break;
	case LF_DEC: of = r == sign - 1; break;
	default: of = false; break;
	}
	switch (cc >> 1) {
	case 0: v = of; break;                                   /* O */
	case 6: v = ((r & sign) != 0) != of; break;               /* L */
	default: v = r == 0 || (((r & sign) != 0) != of); break;  /* LE */
	}
out:
	return (cc & 1) ? !v : v;
}
