/* SPDX-License-Identifier: MIT */
/*
 * exec_shift.c - shifts and rotates (group 2: ROL ROR RCL RCR SHL SHR SAR)
 * by 1, CL or an immediate, and the double shifts SHLD/SHRD.  Flags are
 * computed exactly where the SDM defines them; where it leaves them
 * undefined (OF for counts > 1, AF) we write a fixed choice, and the
 * differential tests mask those bits.
 */
#include "cpu/soft/thread.h"

static bool msb(uint64_t v, unsigned size)
{
	return (v & soft_sign(size)) != 0;
}

/* Returns the new value; updates flags. @cnt is already masked. */
static uint64_t shift(struct soft_cpu *c, unsigned op, unsigned size,
		      uint64_t a, unsigned cnt)
{
	unsigned n = size * 8;
	uint64_t m = soft_mask(size), f, r = a;
	unsigned cf, of;

	f = soft_get_flags(c);
	cf = f & FL_CF;
	switch (op) {
	case 0: { /* ROL */
		unsigned k = cnt % n;
		r = k ? ((a << k) | (a >> (n - k))) & m : a;
		cf = r & 1;
		of = msb(r, size) ^ cf;
		f = (f & ~(uint64_t)(FL_CF | FL_OF)) | cf | (of ? FL_OF : 0);
		break;
	}
	case 1: { /* ROR */
		unsigned k = cnt % n;
		r = k ? ((a >> k) | (a << (n - k))) & m : a;
		cf = msb(r, size);
		of = msb(r, size) ^ ((r >> (n - 2)) & 1);
		f = (f & ~(uint64_t)(FL_CF | FL_OF)) | cf | (of ? FL_OF : 0);
		break;
	}
	case 2: /* RCL */
	case 3: { /* RCR */
		unsigned k = size < 4 ? cnt % (n + 1) : cnt;
		if (!k)
			return a;
		for (unsigned j = 0; j < k; j++) {
			if (op == 2) {
				unsigned out = msb(r, size);
				r = ((r << 1) | cf) & m;
				cf = out;
			} else {
				unsigned out = r & 1;
				r = (r >> 1) | (cf ? soft_sign(size) : 0);
				cf = out;
			}
		}
		if (op == 2)
			of = msb(r, size) ^ cf;
		else
			of = msb(r, size) ^ ((r >> (n - 2)) & 1);
		f = (f & ~(uint64_t)(FL_CF | FL_OF)) | cf | (of ? FL_OF : 0);
		break;
	}
	case 4:
	case 6: /* SHL */
		r = cnt < 64 ? (a << cnt) & m : 0;
		cf = cnt <= n ? (a >> (n - cnt)) & 1 : 0;
		of = msb(r, size) ^ cf;
		f = (f & ~(uint64_t)FL_ARITH) | soft_szp(r, size) | cf |
		    (of ? FL_OF : 0);
		break;
	case 5: /* SHR */
		r = a >> cnt;
		cf = (a >> (cnt - 1)) & 1;
		of = msb(a, size);
		f = (f & ~(uint64_t)FL_ARITH) | soft_szp(r, size) | cf |
		    (of ? FL_OF : 0);
		break;
	default: { /* SAR */
		int64_t s = (int64_t)soft_sext(a, size);
		r = (uint64_t)(s >> cnt) & m;
		cf = (s >> (cnt - 1)) & 1;
		f = (f & ~(uint64_t)FL_ARITH) | soft_szp(r, size) | cf;
		break;
	}
	}
	c->st.rflags = f;
	c->lf_op = LF_NONE;
	return r;
}

static int do_grp2(struct soft_cpu *c, const struct soft_insn *i,
		   unsigned cnt)
{
	unsigned size = i->osz;
	uint64_t a, r, ea = 0;

	cnt &= size == 8 ? 0x3f : 0x1f;
	if (i->mod == 3) {
		a = size == 1 ? soft_reg8(c, i->rm8) : soft_reg(c, i->rm, size);
		if (!cnt) {
			/* a 32-bit destination is still written (zero-extended) */
			if (size == 4)
				c->st.gpr[i->rm] = (uint32_t)a;
			return SOFT_NEXT;
		}
		r = shift(c, i->reg & 7, size, a, cnt);
		soft_set_rm(c, i, r);
		return SOFT_NEXT;
	}
	ea = soft_ea(c, i);
	a = soft_ld(c, i->seg, ea, size);
	if (!cnt)
		return SOFT_NEXT;
	soft_probe_write(c, i->seg, ea, size);
	{
		uint64_t f0 = c->st.rflags;
		unsigned lf0 = c->lf_op;
		(void)f0;
		(void)lf0;
	}
	r = shift(c, i->reg & 7, size, a, cnt);
	soft_st(c, i->seg, ea, size, r);
	return SOFT_NEXT;
}

static int op_grp2_imm(struct soft_cpu *c, const struct soft_insn *i)
{
	return do_grp2(c, i, (unsigned)i->imm & 0xff);
}

static int op_grp2_1(struct soft_cpu *c, const struct soft_insn *i)
{
	return do_grp2(c, i, 1);
}

static int op_grp2_cl(struct soft_cpu *c, const struct soft_insn *i)
{
	return do_grp2(c, i, (unsigned)c->st.gpr[VMM_RCX] & 0xff);
}

/* 0F A4/A5 SHLD, 0F AC/AD SHRD */
static int op_shxd(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned size = i->osz, n = size * 8;
	unsigned cnt = (i->op & 1) ? (unsigned)c->st.gpr[VMM_RCX] & 0xff :
				     (unsigned)i->imm & 0xff;
	bool left = (i->op & 0xff) < 0xa8;
	uint64_t m = soft_mask(size), a, b, r, f, ea = 0;
	unsigned cf, of;

	cnt &= size == 8 ? 0x3f : 0x1f;
	if (i->mod != 3)
		ea = soft_ea(c, i);
	a = i->mod == 3 ? soft_reg(c, i->rm, size) : soft_ld(c, i->seg, ea, size);
	b = soft_reg(c, i->reg, size);
	if (!cnt) {
		if (size == 4 && i->mod == 3)
			c->st.gpr[i->rm] = (uint32_t)a;
		return SOFT_NEXT;
	}
	if (cnt > n) {
		/* 16-bit with count > 16: undefined; behave like a 32-bit
		 * shift of b:a (as hardware does) */
		uint64_t wide = left ? ((a << 16) | b) : ((b << 16) | a);
		uint64_t w = left ? (wide << cnt) >> 16 : wide >> cnt;
		r = w & m;
		cf = left ? (wide >> (32 - cnt)) & 1 : (wide >> (cnt - 1)) & 1;
		(void)w;
	} else if (left) {
		r = ((a << cnt) | (cnt == n ? b : (b >> (n - cnt)))) & m;
		if (cnt == n)
			r = b & m;
		cf = (a >> (n - cnt)) & 1;
	} else {
		r = ((a >> cnt) | (cnt == n ? b : (b << (n - cnt)))) & m;
		if (cnt == n)
			r = b & m;
		cf = (a >> (cnt - 1)) & 1;
	}
	of = msb(r, size) ^ msb(a, size);
	f = soft_get_flags(c);
	f = (f & ~(uint64_t)FL_ARITH) | soft_szp(r, size) | cf |
	    (of ? FL_OF : 0);
	if (i->mod == 3)
		soft_set_reg(c, i->rm, size, r);
	else
		soft_st(c, i->seg, ea, size, r);
	c->st.rflags = f;
	c->lf_op = LF_NONE;
	return SOFT_NEXT;
}

/* threaded twins (thread.h) */
SOFT_THREADED(op_grp2_imm)
SOFT_THREADED(op_grp2_1)
SOFT_THREADED(op_grp2_cl)

static const struct soft_tpair shift_twins[] = {
	{ op_grp2_imm, op_grp2_imm_t },
	{ op_grp2_1, op_grp2_1_t },
	{ op_grp2_cl, op_grp2_cl_t },
};

bool soft_thread_shift(struct soft_insn *in)
{
	return soft_tpick(in, shift_twins,
			  sizeof(shift_twins) / sizeof(shift_twins[0]));
}

void soft_register_shift(soft_fn *t)
{
	t[0xc0] = t[0xc1] = op_grp2_imm;
	t[0xd0] = t[0xd1] = op_grp2_1;
	t[0xd2] = t[0xd3] = op_grp2_cl;
	t[0x1a4] = t[0x1a5] = t[0x1ac] = t[0x1ad] = op_shxd;
}
