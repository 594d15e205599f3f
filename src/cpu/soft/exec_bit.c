/* SPDX-License-Identifier: MIT */
/*
 * exec_bit.c - bit instructions: BT/BTS/BTR/BTC (register and immediate
 * offsets, the register offset addressing beyond the operand in memory),
 * BSF/BSR, TZCNT/LZCNT/POPCNT, BSWAP, SETcc, CMOVcc, MOVBE.
 */
#include "cpu/soft/exec.h"

static void set_cf(struct soft_cpu *c, bool cf)
{
	uint64_t f = soft_get_flags(c);

	c->st.rflags = cf ? (f | FL_CF) : (f & ~(uint64_t)FL_CF);
	c->lf_op = LF_NONE;
}

/* sub: 4 BT, 5 BTS, 6 BTR, 7 BTC */
static int bt_common(struct soft_cpu *c, const struct soft_insn *i,
		     unsigned sub, uint64_t off, bool reg_off)
{
	unsigned size = i->osz, bits = size * 8;
	uint64_t a, r, ea, bit;
	bool cf;

	if ((i->pfx & PFX_LOCK) && (i->mod == 3 || sub == 4))
		soft_ud(c);
	if (i->mod == 3) {
		bit = off & (bits - 1);
		a = soft_reg(c, i->rm, size);
		cf = (a >> bit) & 1;
		if (sub != 4) {
			r = sub == 5 ? a | (1ull << bit) :
			    sub == 6 ? a & ~(1ull << bit) : a ^ (1ull << bit);
			soft_set_reg(c, i->rm, size, r);
		}
		set_cf(c, cf);
		return SOFT_NEXT;
	}
	ea = soft_ea(c, i);
	if (reg_off) {
		int64_t so = (int64_t)soft_sext(off, size);
		ea += (uint64_t)((so >> (size == 2 ? 4 : size == 4 ? 5 : 6)) *
				 (int64_t)size);
		if (i->asz != 8)
			ea &= soft_mask(i->asz);
	}
	bit = off & (bits - 1);
	if (sub != 4 && (i->pfx & PFX_LOCK)) {
		void *p = soft_atomic_ptr(c, i->seg, ea, size);
		if (p) {
			a = soft_ldh(p, size);
			do {
				r = sub == 5 ? a | (1ull << bit) :
				    sub == 6 ? a & ~(1ull << bit) :
					       a ^ (1ull << bit);
			} while (!soft_cas(p, size, &a, r));
			set_cf(c, (a >> bit) & 1);
			return SOFT_NEXT;
		}
	}
	a = soft_ld(c, i->seg, ea, size);
	cf = (a >> bit) & 1;
	if (sub != 4) {
		r = sub == 5 ? a | (1ull << bit) :
		    sub == 6 ? a & ~(1ull << bit) : a ^ (1ull << bit);
		soft_st(c, i->seg, ea, size, r);
	}
	set_cf(c, cf);
	return SOFT_NEXT;
}

static int op_bt_r(struct soft_cpu *c, const struct soft_insn *i)
{
	static const uint8_t sub[4] = { 4, 5, 6, 7 }; /* A3 AB B3 BB */
	unsigned k = i->op == 0x1a3 ? 0 : i->op == 0x1ab ? 1 :
		     i->op == 0x1b3 ? 2 : 3;

	return bt_common(c, i, sub[k], soft_reg(c, i->reg, i->osz), true);
}

static int op_grp8(struct soft_cpu *c, const struct soft_insn *i)
{
	if ((i->reg & 7) < 4)
		soft_ud(c);
	return bt_common(c, i, i->reg & 7, i->imm & 0xff, false);
}

static int op_bsf_bsr(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned size = i->osz, bits = size * 8;
	uint64_t v = soft_rm(c, i), f = soft_get_flags(c);
	bool fwd = i->op == 0x1bc;

	if (i->pfx & PFX_REP) {
		/* TZCNT / LZCNT */
		unsigned n;
		if (!v)
			n = bits;
		else if (fwd)
			n = (unsigned)__builtin_ctzll(v);
		else
			n = (unsigned)__builtin_clzll(v) - (64 - bits);
		soft_set_reg(c, i->reg, size, n);
		f &= ~(uint64_t)(FL_CF | FL_ZF);
		if (!v)
			f |= FL_CF;
		if (!n)
			f |= FL_ZF;
		c->st.rflags = f;
		c->lf_op = LF_NONE;
		return SOFT_NEXT;
	}
	if (!v) {
		c->st.rflags = f | FL_ZF;
		c->lf_op = LF_NONE;
		return SOFT_NEXT;
	}
	soft_set_reg(c, i->reg, size,
		     fwd ? (unsigned)__builtin_ctzll(v) :
			   63 - (unsigned)__builtin_clzll(v));
	c->st.rflags = f & ~(uint64_t)FL_ZF;
	c->lf_op = LF_NONE;
	return SOFT_NEXT;
}

static int op_popcnt(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t v;

	if (!(i->pfx & PFX_REP))
		soft_ud(c);
	v = soft_rm(c, i);
	soft_set_reg(c, i->reg, i->osz, (uint64_t)__builtin_popcountll(v));
	soft_flags_set_arith(c, v ? 0 : FL_ZF);
	return SOFT_NEXT;
}

static int op_bswap(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t v = c->st.gpr[i->rm];

	if (i->osz == 8)
		c->st.gpr[i->rm] = __builtin_bswap64(v);
	else if (i->osz == 4)
		c->st.gpr[i->rm] = __builtin_bswap32((uint32_t)v);
	else
		soft_set_reg(c, i->rm, 2, 0);
	return SOFT_NEXT;
}

static int op_setcc(struct soft_cpu *c, const struct soft_insn *i)
{
	uint8_t v = soft_cond(c, i->op & 0xf);

	if (i->mod == 3)
		soft_set_reg8(c, i->rm8, v);
	else
		soft_st(c, i->seg, soft_ea(c, i), 1, v);
	return SOFT_NEXT;
}

static int op_cmovcc(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t v = soft_rm(c, i);

	if (soft_cond(c, i->op & 0xf))
		soft_set_reg(c, i->reg, i->osz, v);
	else if (i->osz == 4)
		c->st.gpr[i->reg] = (uint32_t)c->st.gpr[i->reg];
	return SOFT_NEXT;
}

/* 0F 38 F0/F1: MOVBE */
static int op_movbe(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned size = i->osz;
	uint64_t v;

	if (i->mod == 3 || (i->pfx & (PFX_REP | PFX_REPNE)))
		soft_ud(c);
	if (i->op == 0x2f0) {
		v = soft_ld(c, i->seg, soft_ea(c, i), size);
	} else {
		v = soft_reg(c, i->reg, size);
	}
	v = size == 8 ? __builtin_bswap64(v) :
	    size == 4 ? __builtin_bswap32((uint32_t)v) :
			__builtin_bswap16((uint16_t)v);
	if (i->op == 0x2f0)
		soft_set_reg(c, i->reg, size, v);
	else
		soft_st(c, i->seg, soft_ea(c, i), size, v);
	return SOFT_NEXT;
}

void soft_register_bit(soft_fn *t)
{
	t[0x1a3] = t[0x1ab] = t[0x1b3] = t[0x1bb] = op_bt_r;
	t[0x1ba] = op_grp8;
	t[0x1bc] = t[0x1bd] = op_bsf_bsr;
	t[0x1b8] = op_popcnt;
	for (unsigned k = 0; k < 8; k++)
		t[0x1c8 + k] = op_bswap;
	for (unsigned k = 0; k < 16; k++) {
		t[0x190 + k] = op_setcc;
		t[0x140 + k] = op_cmovcc;
	}
	t[0x2f0] = t[0x2f1] = op_movbe;
}
