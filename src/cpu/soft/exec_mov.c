/* SPDX-License-Identifier: MIT */
/*
 * exec_mov.c - data movement: MOV in all its forms (incl. segment
 * registers and moffs), MOVZX/MOVSX/MOVSXD, LEA, XCHG, CMPXCHG,
 * CMPXCHG8B/16B, XADD, XLAT, the far-pointer loads (LDS LES LSS LFS LGS),
 * ARPL and the multi-byte NOPs.
 */
#include "cpu/soft/thread.h"

#include <sched.h>

static int op_mov_rm_r(struct soft_cpu *c, const struct soft_insn *i)
{
	soft_set_rm(c, i, soft_greg(c, i));
	return SOFT_NEXT;
}

static int op_mov_r_rm(struct soft_cpu *c, const struct soft_insn *i)
{
	soft_sreg_(c, i, soft_rm(c, i));
	return SOFT_NEXT;
}

/* register-register fast path for 89/8B with 32/64-bit operands */
static int op_mov_r_rm_fast(struct soft_cpu *c, const struct soft_insn *i)
{
	if (i->mod == 3 && i->osz >= 4) {
		uint64_t v = c->st.gpr[i->rm];
		c->st.gpr[i->reg] = i->osz == 8 ? v : (uint32_t)v;
		return SOFT_NEXT;
	}
	if (i->osz == 8 || i->osz == 4) {
		uint64_t v = soft_ld(c, i->seg, soft_ea(c, i), i->osz);
		c->st.gpr[i->reg] = v;
		return SOFT_NEXT;
	}
	return op_mov_r_rm(c, i);
}

static int op_mov_rm_r_fast(struct soft_cpu *c, const struct soft_insn *i)
{
	if (i->mod != 3 && i->osz >= 4) {
		soft_st(c, i->seg, soft_ea(c, i), i->osz,
			c->st.gpr[i->reg]);
		return SOFT_NEXT;
	}
	return op_mov_rm_r(c, i);
}

static int op_mov_rm_imm(struct soft_cpu *c, const struct soft_insn *i)
{
	if ((i->reg & 7) != 0)
		soft_ud(c);
	soft_set_rm(c, i, i->imm & soft_mask(i->osz));
	return SOFT_NEXT;
}

static int op_mov_r_imm(struct soft_cpu *c, const struct soft_insn *i)
{
	if (i->osz == 1)
		soft_set_reg8(c, i->rm8, (uint8_t)i->imm);
	else
		soft_set_reg(c, i->rm, i->osz, i->imm);
	return SOFT_NEXT;
}

/* A0-A3: MOV AL/eAX <-> moffs */
static int op_mov_moffs(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t off = (uint64_t)i->disp;

	if (i->asz != 8)
		off &= soft_mask(i->asz);
	if (i->op < 0xa2)
		soft_set_reg(c, VMM_RAX, i->osz, soft_ld(c, i->seg, off, i->osz));
	else
		soft_st(c, i->seg, off, i->osz, soft_reg(c, VMM_RAX, i->osz));
	return SOFT_NEXT;
}

/* 8C: MOV r/m, Sreg */
static int op_mov_rm_sreg(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned s = i->reg & 7;
	uint16_t sel;

	if (s > VMM_GS)
		soft_ud(c);
	sel = c->st.seg[s].selector;
	if (i->mod == 3)
		soft_set_reg(c, i->rm, i->osz == 2 ? 2 : i->osz, sel);
	else
		soft_st(c, i->seg, soft_ea(c, i), 2, sel);
	return SOFT_NEXT;
}

/* 8E: MOV Sreg, r/m */
static int op_mov_sreg_rm(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned s = i->reg & 7;
	uint16_t sel;

	if (s > VMM_GS || s == VMM_CS)
		soft_ud(c);
	sel = i->mod == 3 ? (uint16_t)c->st.gpr[i->rm] :
			    (uint16_t)soft_ld(c, i->seg, soft_ea(c, i), 2);
	soft_load_seg(c, (int)s, sel);
	c->st.rip = (c->st.rip + i->len) & c->ipmask;
	if (s == VMM_SS) {
		c->shadow = true;
		c->ss_shadow_now = true; /* debug traps wait too */
	}
	return SOFT_END;
}

static int op_movzx(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t v;

	if ((i->op & 1) == 0) { /* byte source */
		v = i->mod == 3 ? soft_reg8(c, i->rm8) :
				  soft_ld(c, i->seg, soft_ea(c, i), 1);
		if (i->op == 0x1be)
			v = soft_sext(v, 1);
	} else {
		v = i->mod == 3 ? soft_reg(c, i->rm, 2) :
				  soft_ld(c, i->seg, soft_ea(c, i), 2);
		if (i->op == 0x1bf)
			v = soft_sext(v, 2);
	}
	soft_set_reg(c, i->reg, i->osz, v);
	return SOFT_NEXT;
}

/* 63: MOVSXD in 64-bit mode, ARPL elsewhere */
static int op_63(struct soft_cpu *c, const struct soft_insn *i)
{
	if (c->lm64) {
		uint64_t v = i->mod == 3 ? soft_reg(c, i->rm, 4) :
					   soft_ld(c, i->seg, soft_ea(c, i), 4);
		soft_set_reg(c, i->reg, i->osz, i->osz == 8 ? soft_sext(v, 4) : v);
		return SOFT_NEXT;
	}
	if (!c->pe || c->vm86)
		soft_ud(c);
	{
		struct soft_insn j = *i;
		uint64_t d, s, f;
		j.osz = 2;
		d = soft_rm(c, &j);
		s = soft_reg(c, i->reg, 2);
		f = soft_get_flags(c);
		if ((d & 3) < (s & 3)) {
			soft_set_rm(c, &j, (d & ~3ull) | (s & 3));
			f |= FL_ZF;
		} else {
			f &= ~(uint64_t)FL_ZF;
		}
		c->st.rflags = f;
		c->lf_op = LF_NONE;
	}
	return SOFT_NEXT;
}

static int op_lea(struct soft_cpu *c, const struct soft_insn *i)
{
	if (i->mod == 3)
		soft_ud(c);
	soft_set_reg(c, i->reg, i->osz, soft_ea(c, i));
	return SOFT_NEXT;
}

/* 86/87: XCHG r/m, r (locked when in memory) */
static int op_xchg_rm(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned size = i->osz;
	uint64_t r = soft_greg(c, i), m;

	if (i->mod == 3) {
		m = size == 1 ? soft_reg8(c, i->rm8) : soft_reg(c, i->rm, size);
		soft_set_rm(c, i, r);
		soft_sreg_(c, i, m);
		return SOFT_NEXT;
	}
	{
		uint64_t ea = soft_ea(c, i);
		void *p = soft_atomic_ptr(c, i->seg, ea, size);
		if (p) {
			m = soft_ldh(p, size);
			while (!soft_cas(p, size, &m, r))
				;
		} else {
			m = soft_ld(c, i->seg, ea, size);
			soft_st(c, i->seg, ea, size, r);
		}
	}
	soft_sreg_(c, i, m);
	return SOFT_NEXT;
}

/*
 * PAUSE-loop exiting, as VMX's PLE: a vCPU that keeps executing PAUSE
 * every few instructions spins on a lock or flag that another vCPU must
 * release or set.  When that vCPU's host thread is waiting for a host CPU
 * (more runnable threads than cores), spinning only delays it: after
 * SOFT_PLE_SPINS PAUSEs each within SOFT_PLE_GAP instructions of the last,
 * give the host CPU away once.
 */
#define SOFT_PLE_GAP 128
#define SOFT_PLE_SPINS 512

void soft_pause(struct soft_cpu *c)
{
	if (c->icount - c->pause_last > SOFT_PLE_GAP)
		c->pause_spins = 0;
	c->pause_last = c->icount;
	if (++c->pause_spins >= SOFT_PLE_SPINS) {
		c->pause_spins = 0;
		c->st_pause_yields++;
		sched_yield();
	}
}

/* 90-97: XCHG eAX, r; 90 = NOP / PAUSE */
static int op_xchg_a(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned size = i->osz;
	uint64_t a, b;

	if (i->rm == 0) {
		/* NOP (also with 66 and REX.W); F3 90 = PAUSE */
		if ((i->pfx & PFX_REP) && c->vm->cfg.ncpus > 1)
			soft_pause(c);
		return SOFT_NEXT;
	}
	a = soft_reg(c, VMM_RAX, size);
	b = soft_reg(c, i->rm, size);
	soft_set_reg(c, VMM_RAX, size, b);
	soft_set_reg(c, i->rm, size, a);
	return SOFT_NEXT;
}

static int op_cmpxchg(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned size = i->osz;
	uint64_t acc = soft_reg(c, VMM_RAX, size), src = soft_greg(c, i), d;

	if ((i->pfx & PFX_LOCK) && i->mod == 3)
		soft_ud(c);
	if (i->mod == 3) {
		d = size == 1 ? soft_reg8(c, i->rm8) : soft_reg(c, i->rm, size);
		/* as measured on hardware: a failing compare leaves the
		 * destination register alone (no zero-extension) */
		if (d == acc)
			soft_set_rm(c, i, src);
		else
			soft_set_reg(c, VMM_RAX, size, d);
	} else {
		uint64_t ea = soft_ea(c, i);
		void *p = soft_atomic_ptr(c, i->seg, ea, size);
		if (p) {
			d = acc;
			if (!soft_cas(p, size, &d, src))
				soft_set_reg(c, VMM_RAX, size, d);
		} else {
			d = soft_ld(c, i->seg, ea, size);
			if (d == acc)
				soft_st(c, i->seg, ea, size, src);
			else
				soft_set_reg(c, VMM_RAX, size, d);
		}
	}
	soft_lf(c, LF_SUB, size, (acc - d) & soft_mask(size), acc, d);
	return SOFT_NEXT;
}

/* 0F C7 /1: CMPXCHG8B / CMPXCHG16B; /6 RDRAND, /7 RDSEED/RDPID: #UD */
static int op_grp9(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t ea, lo, hi = 0, f;
	bool wide = i->pfx & PFX_REXW;
	unsigned h = wide ? 8 : 4;

	if ((i->reg & 7) != 1 || i->mod == 3)
		soft_ud(c);
	ea = soft_ea(c, i);
	if (wide && (ea & 15))
		soft_gp(c, 0);
	lo = soft_ld(c, i->seg, ea, h);
	hi = soft_ld(c, i->seg, ea + h, h);
	f = soft_get_flags(c);
	if (lo == soft_reg(c, VMM_RAX, h) && hi == soft_reg(c, VMM_RDX, h)) {
		soft_probe_write(c, i->seg, ea, 2 * h);
		soft_st(c, i->seg, ea, h, soft_reg(c, VMM_RBX, h));
		soft_st(c, i->seg, ea + h, h, soft_reg(c, VMM_RCX, h));
		f |= FL_ZF;
	} else {
		soft_set_reg(c, VMM_RAX, h, lo);
		soft_set_reg(c, VMM_RDX, h, hi);
		f &= ~(uint64_t)FL_ZF;
	}
	c->st.rflags = f;
	c->lf_op = LF_NONE;
	return SOFT_NEXT;
}

static int op_xadd(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned size = i->osz;
	uint64_t src = soft_greg(c, i), d, r;

	if ((i->pfx & PFX_LOCK) && i->mod == 3)
		soft_ud(c);
	if (i->mod == 3) {
		d = size == 1 ? soft_reg8(c, i->rm8) : soft_reg(c, i->rm, size);
		r = (d + src) & soft_mask(size);
		soft_sreg_(c, i, d);
		soft_set_rm(c, i, r);
	} else {
		uint64_t ea = soft_ea(c, i);
		void *p = soft_atomic_ptr(c, i->seg, ea, size);
		if (p) {
			d = soft_ldh(p, size);
			do {
				r = (d + src) & soft_mask(size);
			} while (!soft_cas(p, size, &d, r));
		} else {
			d = soft_ld(c, i->seg, ea, size);
			r = (d + src) & soft_mask(size);
			soft_st(c, i->seg, ea, size, r);
		}
		soft_sreg_(c, i, d);
	}
	soft_lf(c, LF_ADD, size, r, d, src);
	return SOFT_NEXT;
}

static int op_xlat(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t a = c->st.gpr[VMM_RBX] + (c->st.gpr[VMM_RAX] & 0xff);

	if (i->asz != 8)
		a &= soft_mask(i->asz);
	soft_set_reg8(c, 0, (uint8_t)soft_ld(c, i->seg, a, 1));
	return SOFT_NEXT;
}

/* C4 LES, C5 LDS, 0F B2 LSS, 0F B4 LFS, 0F B5 LGS */
static int op_lxs(struct soft_cpu *c, const struct soft_insn *i)
{
	int s;
	uint64_t ea, off;
	uint16_t sel;

	if (i->mod == 3)
		soft_ud(c);
	switch (i->op) {
	case 0xc4: s = VMM_ES; break;
	case 0xc5: s = VMM_DS; break;
	case 0x1b2: s = VMM_SS; break;
	case 0x1b4: s = VMM_FS; break;
	default: s = VMM_GS; break;
	}
	ea = soft_ea(c, i);
	off = soft_ld(c, i->seg, ea, i->osz);
	sel = (uint16_t)soft_ld(c, i->seg, ea + i->osz, 2);
	soft_load_seg(c, s, sel);
	soft_set_reg(c, i->reg, i->osz, off);
	c->st.rip = (c->st.rip + i->len) & c->ipmask;
	/* LSS sets no interrupt or debug shadow (only MOV SS, POP SS) */
	return SOFT_END;
}

static int op_nop_m(struct soft_cpu *c, const struct soft_insn *i)
{
	return SOFT_NEXT;
}

/* 0F C3: MOVNTI */
static int op_movnti(struct soft_cpu *c, const struct soft_insn *i)
{
	if (i->mod == 3 || i->osz == 2)
		soft_ud(c);
	soft_st(c, i->seg, soft_ea(c, i), i->osz, soft_reg(c, i->reg, i->osz));
	return SOFT_NEXT;
}

/* threaded twins (thread.h) */
SOFT_THREADED(op_mov_rm_r)
SOFT_THREADED(op_mov_r_rm)
SOFT_THREADED(op_mov_r_rm_fast)
SOFT_THREADED(op_mov_rm_r_fast)
SOFT_THREADED(op_mov_rm_imm)
SOFT_THREADED(op_mov_r_imm)
SOFT_THREADED(op_movzx)
SOFT_THREADED(op_63)
SOFT_THREADED(op_lea)

static const struct soft_tpair mov_twins[] = {
	{ op_mov_rm_r, op_mov_rm_r_t },
	{ op_mov_r_rm, op_mov_r_rm_t },
	{ op_mov_r_rm_fast, op_mov_r_rm_fast_t },
	{ op_mov_rm_r_fast, op_mov_rm_r_fast_t },
	{ op_mov_rm_imm, op_mov_rm_imm_t },
	{ op_mov_r_imm, op_mov_r_imm_t },
	{ op_movzx, op_movzx_t },
	{ op_63, op_63_t },
	{ op_lea, op_lea_t },
};

bool soft_thread_mov(struct soft_insn *in)
{
	return soft_tpick(in, mov_twins,
			  sizeof(mov_twins) / sizeof(mov_twins[0]));
}

void soft_register_mov(soft_fn *t)
{
	t[0x88] = op_mov_rm_r;
	t[0x89] = op_mov_rm_r_fast;
	t[0x8a] = op_mov_r_rm;
	t[0x8b] = op_mov_r_rm_fast;
	t[0xc6] = t[0xc7] = op_mov_rm_imm;
	for (unsigned k = 0; k < 8; k++) {
		t[0xb0 + k] = op_mov_r_imm;
		t[0xb8 + k] = op_mov_r_imm;
		t[0x90 + k] = op_xchg_a;
	}
	t[0xa0] = t[0xa1] = t[0xa2] = t[0xa3] = op_mov_moffs;
	t[0x8c] = op_mov_rm_sreg;
	t[0x8e] = op_mov_sreg_rm;
	t[0x1b6] = t[0x1b7] = t[0x1be] = t[0x1bf] = op_movzx;
	t[0x63] = op_63;
	t[0x8d] = op_lea;
	t[0x86] = t[0x87] = op_xchg_rm;
	t[0x1b0] = t[0x1b1] = op_cmpxchg;
	t[0x1c7] = op_grp9;
	t[0x1c0] = t[0x1c1] = op_xadd;
	t[0xd7] = op_xlat;
	t[0xc4] = t[0xc5] = t[0x1b2] = t[0x1b4] = t[0x1b5] = op_lxs;
	for (unsigned k = 0x118; k <= 0x11f; k++)
		t[k] = op_nop_m;
	t[0x10d] = op_nop_m;
	t[0x1c3] = op_movnti;
}
