/* SPDX-License-Identifier: MIT */
/*
 * fpu.c - FXSAVE/FXRSTOR, LDMXCSR/STMXCSR, the fences and CLFLUSH
 * (group 15), and the SSE/SSE2 data moves and integer operations (SSE
 * floating point: exec_sse.c).  The x87 lives in exec_x87.c on x86-64
 * hosts; elsewhere only its control instructions (FNINIT, FNSTCW, FLDCW,
 * FNSTSW, FNCLEX) are done here and x87 arithmetic stops the vCPU with an
 * internal "not emulated" exit rather than computing wrong values.
 */
#include "cpu/soft/exec.h"

#include <stdio.h>

__attribute__((noreturn)) static void not_emulated(struct soft_cpu *c,
						   const struct soft_insn *i)
{
	soft_stop_emulation(c, i->op, "soft: opcode %s%02x /%u not emulated",
			    i->op >= 0x100 ? "0f " : "", i->op & 0xff,
			    i->reg & 7);
}

static void fpu_check(struct soft_cpu *c)
{
	if (c->st.cr0 & (VMM_CR0_EM | VMM_CR0_TS))
		soft_fault_noerr(c, 7);
}

static void sse_check(struct soft_cpu *c)
{
	if ((c->st.cr0 & VMM_CR0_EM) || !(c->st.cr4 & VMM_CR4_OSFXSR))
		soft_ud(c);
	if (c->st.cr0 & VMM_CR0_TS)
		soft_fault_noerr(c, 7);
}

static void fninit(struct soft_cpu *c)
{
	/* TOP becomes 0: the registers (kept as ST(i)) move to R(i) */
	uint8_t r[8][16];
	unsigned top = (c->st.fpu.fsw >> 11) & 7;

	for (unsigned k = 0; k < 8; k++)
		memcpy(r[(top + k) & 7], c->st.fpu.st[k], 16);
	memcpy(c->st.fpu.st, r, sizeof(r));
	c->st.fpu.fcw = 0x37f;
	c->st.fpu.fsw = 0;
	c->st.fpu.ftw = 0;
	c->st.fpu.fop = 0;
	c->st.fpu.fip = 0;
	c->st.fpu.fdp = 0;
}

/* D8-DF: x87 escape (replaced by exec_x87.c on x86-64 hosts) */
static int op_x87(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned sub = i->reg & 7;
	uint8_t modrm = (uint8_t)((i->mod << 6) | (sub << 3) | (i->rm & 7));

	fpu_check(c);
	if (i->op == 0xdb && modrm == 0xe3) {
		fninit(c);
		return SOFT_NEXT;
	}
	if (i->op == 0xdb && modrm == 0xe2) { /* FNCLEX */
		c->st.fpu.fsw &= 0x7f00;
		return SOFT_NEXT;
	}
	if (i->op == 0xdf && modrm == 0xe0) { /* FNSTSW AX */
		soft_set_reg(c, VMM_RAX, 2, c->st.fpu.fsw);
		return SOFT_NEXT;
	}
	if (i->mod != 3 && i->op == 0xd9 && sub == 7) { /* FNSTCW m16 */
		soft_st(c, i->seg, soft_ea(c, i), 2, c->st.fpu.fcw);
		return SOFT_NEXT;
	}
	if (i->mod != 3 && i->op == 0xd9 && sub == 5) { /* FLDCW m16 */
		c->st.fpu.fcw = (uint16_t)soft_ld(c, i->seg, soft_ea(c, i), 2);
		return SOFT_NEXT;
	}
	if (i->mod != 3 && i->op == 0xdd && sub == 7) { /* FNSTSW m16 */
		soft_st(c, i->seg, soft_ea(c, i), 2, c->st.fpu.fsw);
		return SOFT_NEXT;
	}
	not_emulated(c, i);
}

static int op_fwait(struct soft_cpu *c, const struct soft_insn *i)
{
	if ((c->st.cr0 & (VMM_CR0_MP | VMM_CR0_TS)) ==
	    (VMM_CR0_MP | VMM_CR0_TS))
		soft_fault_noerr(c, 7);
	return SOFT_NEXT;
}

/* FXSAVE image: 512 bytes */
static void fxsave(struct soft_cpu *c, const struct soft_insn *i, uint64_t ea)
{
	const struct vmm_fpu *f = &c->st.fpu;
	uint8_t img[512];
	bool w = i->pfx & PFX_REXW;

	memset(img, 0, sizeof(img));
	memcpy(img + 0, &f->fcw, 2);
	memcpy(img + 2, &f->fsw, 2);
	img[4] = f->ftw;
	memcpy(img + 6, &f->fop, 2);
	if (w) {
		memcpy(img + 8, &f->fip, 8);
		memcpy(img + 16, &f->fdp, 8);
	} else {
		uint32_t ip = (uint32_t)f->fip, dp = (uint32_t)f->fdp;
		memcpy(img + 8, &ip, 4);
		memcpy(img + 16, &dp, 4);
	}
	memcpy(img + 24, &f->mxcsr, 4);
	{
		uint32_t mask = 0xffff;
		memcpy(img + 28, &mask, 4);
	}
	for (int k = 0; k < 8; k++)
		memcpy(img + 32 + 16 * k, f->st[k], 10);
	for (int k = 0; k < (c->lm64 ? 16 : 8); k++)
		memcpy(img + 160 + 16 * k, f->xmm[k], 16);
	soft_write_lin(c, soft_lin_fast(c, i->seg, ea, 512, true), img, 512,
		       c->tlb_user);
}

static void fxrstor(struct soft_cpu *c, const struct soft_insn *i,
		    uint64_t ea)
{
	struct vmm_fpu *f = &c->st.fpu;
	uint8_t img[512];
	uint32_t mx;
	bool w = i->pfx & PFX_REXW;

	soft_read_lin(c, soft_lin_fast(c, i->seg, ea, 512, false), img, 512,
		      c->tlb_user);
	memcpy(&mx, img + 24, 4);
	if (mx & ~0xffffu)
		soft_gp(c, 0);
	memcpy(&f->fcw, img + 0, 2);
	memcpy(&f->fsw, img + 2, 2);
	f->ftw = img[4];
	memcpy(&f->fop, img + 6, 2);
	if (w) {
		memcpy(&f->fip, img + 8, 8);
		memcpy(&f->fdp, img + 16, 8);
	} else {
		uint32_t ip, dp;
		memcpy(&ip, img + 8, 4);
		memcpy(&dp, img + 16, 4);
		f->fip = ip;
		f->fdp = dp;
	}
	f->mxcsr = mx;
	for (int k = 0; k < 8; k++) {
		memset(f->st[k], 0, 16);
		memcpy(f->st[k], img + 32 + 16 * k, 10);
	}
	for (int k = 0; k < (c->lm64 ? 16 : 8); k++)
		memcpy(f->xmm[k], img + 160 + 16 * k, 16);
}

/* 0F AE: group 15 */
static int op_grp15(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned sub = i->reg & 7;
	uint64_t ea;

	if (i->mod == 3) {
		if (sub >= 5 && !(i->pfx & (PFX_REP | PFX_REPNE)))
			return SOFT_NEXT; /* LFENCE MFENCE SFENCE */
		soft_ud(c);
	}
	ea = soft_ea(c, i);
	switch (sub) {
	case 0:
	case 1:
		if (c->st.cr0 & (VMM_CR0_EM | VMM_CR0_TS))
			soft_fault_noerr(c, 7);
		if (ea & 15)
			soft_gp(c, 0);
		if (sub == 0)
			fxsave(c, i, ea);
		else
			fxrstor(c, i, ea);
		return SOFT_NEXT;
	case 2: { /* LDMXCSR */
		uint32_t v;
		sse_check(c);
		v = (uint32_t)soft_ld(c, i->seg, ea, 4);
		if (v & ~0xffffu)
			soft_gp(c, 0);
		c->st.fpu.mxcsr = v;
		return SOFT_NEXT;
	}
	case 3: /* STMXCSR */
		sse_check(c);
		soft_st(c, i->seg, ea, 4, c->st.fpu.mxcsr);
		return SOFT_NEXT;
	case 7: /* CLFLUSH */
		(void)soft_ld(c, i->seg, ea, 1);
		return SOFT_NEXT;
	default:
		soft_ud(c);
	}
}

/* ---- SSE / SSE2 ---- */

static int op_mmx(struct soft_cpu *c, const struct soft_insn *i);

typedef union {
	uint8_t b[16];
	uint16_t w[8];
	uint32_t d[4];
	uint64_t q[2];
	int8_t sb[16];
	int16_t sw[8];
	int32_t sd[4];
} xmm_t;

static xmm_t *xreg(struct soft_cpu *c, unsigned r)
{
	return (xmm_t *)c->st.fpu.xmm[r & 15];
}

static void ld128(struct soft_cpu *c, const struct soft_insn *i, xmm_t *v,
		  bool aligned)
{
	uint64_t ea = soft_ea(c, i);

	if (aligned && (ea & 15))
		soft_gp(c, 0);
	v->q[0] = soft_ld(c, i->seg, ea, 8);
	v->q[1] = soft_ld(c, i->seg, ea + 8, 8);
}

static void st128(struct soft_cpu *c, const struct soft_insn *i,
		  const xmm_t *v, bool aligned)
{
	uint64_t ea = soft_ea(c, i);

	if (aligned && (ea & 15))
		soft_gp(c, 0);
	soft_probe_write(c, i->seg, ea, 16);
	soft_st(c, i->seg, ea, 8, v->q[0]);
	soft_st(c, i->seg, ea + 8, 8, v->q[1]);
}

/* source operand (xmm or m128) */
static void src128(struct soft_cpu *c, const struct soft_insn *i, xmm_t *v,
		   bool aligned)
{
	if (i->mod == 3)
		*v = *xreg(c, i->rm);
	else
		ld128(c, i, v, aligned);
}

static int op_sse_mov(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned lo = i->op & 0xff;
	bool p66 = i->pfx & PFX_OPSZ, f3 = i->pfx & PFX_REP,
	     f2 = i->pfx & PFX_REPNE;
	xmm_t v;

	if (!p66 && !f3 && !f2 &&
	    (lo == 0x6e || lo == 0x6f || lo == 0x7e || lo == 0x7f || lo == 0xe7))
		return op_mmx(c, i);
	sse_check(c);
	switch (lo) {
	case 0x10: /* MOVUPS/MOVUPD/MOVSS/MOVSD xmm, xmm/m */
		if (f3 || f2) {
			unsigned n = f3 ? 4 : 8;
			if (i->mod == 3) {
				memcpy(xreg(c, i->reg), xreg(c, i->rm), n);
			} else {
				memset(&v, 0, sizeof(v));
				v.q[0] = soft_ld(c, i->seg, soft_ea(c, i), n);
				*xreg(c, i->reg) = v;
			}
			return SOFT_NEXT;
		}
		src128(c, i, &v, false);
		*xreg(c, i->reg) = v;
		return SOFT_NEXT;
	case 0x11:
		if (f3 || f2) {
			unsigned n = f3 ? 4 : 8;
			if (i->mod == 3)
				memcpy(xreg(c, i->rm), xreg(c, i->reg), n);
			else
				soft_st(c, i->seg, soft_ea(c, i), n,
					xreg(c, i->reg)->q[0]);
			return SOFT_NEXT;
		}
		if (i->mod == 3)
			*xreg(c, i->rm) = *xreg(c, i->reg);
		else
			st128(c, i, xreg(c, i->reg), false);
		return SOFT_NEXT;
	case 0x12: /* MOVLPS/MOVLPD m64 -> low */
	case 0x16: /* MOVHPS/MOVHPD m64 -> high */
		if (f3 || f2) /* MOVSLDUP/MOVDDUP/MOVSHDUP: SSE3, which no
			       * model advertises: #UD if CPUID.1:ECX.SSE3 = 0
			       * (SDM), not a VMM stop */
			soft_ud(c);
		if (i->mod == 3) { /* MOVHLPS / MOVLHPS (no 66 form) */
			if (p66)
				soft_ud(c);
			xreg(c, i->reg)->q[lo == 0x16] =
				xreg(c, i->rm)->q[lo == 0x12];
			return SOFT_NEXT;
		}
		xreg(c, i->reg)->q[lo == 0x16] =
			soft_ld(c, i->seg, soft_ea(c, i), 8);
		return SOFT_NEXT;
	case 0x13:
	case 0x17:
		if (i->mod == 3)
			soft_ud(c);
		soft_st(c, i->seg, soft_ea(c, i), 8,
			xreg(c, i->reg)->q[lo == 0x17]);
		return SOFT_NEXT;
	case 0x28: /* MOVAPS/MOVAPD */
		src128(c, i, &v, true);
		*xreg(c, i->reg) = v;
		return SOFT_NEXT;
	case 0x29:
	case 0x2b: /* MOVNTPS */
		if (i->mod == 3) {
			if (lo == 0x2b)
				soft_ud(c);
			*xreg(c, i->rm) = *xreg(c, i->reg);
		} else {
			st128(c, i, xreg(c, i->reg), true);
		}
		return SOFT_NEXT;
	case 0x6e: /* MOVD/MOVQ xmm, r/m */
		if (!p66)
			not_emulated(c, i); /* MMX */
		memset(&v, 0, sizeof(v));
		{
			struct soft_insn j = *i;
			j.osz = (i->pfx & PFX_REXW) ? 8 : 4;
			v.q[0] = soft_rm(c, &j);
		}
		*xreg(c, i->reg) = v;
		return SOFT_NEXT;
	case 0x7e:
		if (f3) { /* MOVQ xmm, xmm/m64 */
			memset(&v, 0, sizeof(v));
			v.q[0] = i->mod == 3 ? xreg(c, i->rm)->q[0] :
					       soft_ld(c, i->seg, soft_ea(c, i), 8);
			*xreg(c, i->reg) = v;
			return SOFT_NEXT;
		}
		if (!p66)
			not_emulated(c, i);
		{
			struct soft_insn j = *i;
			j.osz = (i->pfx & PFX_REXW) ? 8 : 4;
			soft_set_rm(c, &j, xreg(c, i->reg)->q[0] &
					   soft_mask(j.osz));
		}
		return SOFT_NEXT;
	case 0x6f: /* MOVDQA (66) / MOVDQU (F3) */
		if (!p66 && !f3)
			not_emulated(c, i);
		src128(c, i, &v, p66);
		*xreg(c, i->reg) = v;
		return SOFT_NEXT;
	case 0x7f:
		if (!p66 && !f3)
			not_emulated(c, i);
		if (i->mod == 3)
			*xreg(c, i->rm) = *xreg(c, i->reg);
		else
			st128(c, i, xreg(c, i->reg), p66);
		return SOFT_NEXT;
	case 0xd6: /* MOVQ xmm/m64, xmm */
		if (!p66 && !f2 && !f3)
			soft_ud(c); /* no such instruction without a prefix */
		if (!p66)
			not_emulated(c, i); /* MOVQ2DQ, MOVDQ2Q: MMX operand */
		if (i->mod == 3) {
			xreg(c, i->rm)->q[0] = xreg(c, i->reg)->q[0];
			xreg(c, i->rm)->q[1] = 0;
		} else {
			soft_st(c, i->seg, soft_ea(c, i), 8,
				xreg(c, i->reg)->q[0]);
		}
		return SOFT_NEXT;
	case 0xe7: /* MOVNTDQ */
		if (!p66 || i->mod == 3)
			soft_ud(c);
		st128(c, i, xreg(c, i->reg), true);
		return SOFT_NEXT;
	}
	not_emulated(c, i);
}

static int64_t sat_s(int64_t v, int64_t max)
{
	return v > max ? max : v < -max - 1 ? -max - 1 : v;
}

static uint64_t sat_u(uint64_t v, uint64_t max)
{
	return v > max ? max : v;
}

/*
 * PSRL (@sub 2), PSRA (4), PSLL (6) of the words (@w 1), dwords (2) or
 * qwords (3) of @d by @n (a count above the width clears, or fills with
 * the sign for PSRA).
 */
static void pshift(xmm_t *d, unsigned sub, unsigned w, uint64_t n)
{
	for (unsigned k = 0; k < (w == 1 ? 8u : w == 2 ? 4u : 2u); k++) {
		if (w == 1) {
			if (sub == 2) d->w[k] = n > 15 ? 0 : d->w[k] >> n;
			else if (sub == 4) d->sw[k] = (int16_t)(d->sw[k] >> (n > 15 ? 15 : n));
			else d->w[k] = n > 15 ? 0 : (uint16_t)(d->w[k] << n);
		} else if (w == 2) {
			if (sub == 2) d->d[k] = n > 31 ? 0 : d->d[k] >> n;
			else if (sub == 4) d->sd[k] = d->sd[k] >> (n > 31 ? 31 : n);
			else d->d[k] = n > 31 ? 0 : d->d[k] << n;
		} else {
			if (sub == 2) d->q[k] = n > 63 ? 0 : d->q[k] >> n;
			else d->q[k] = n > 63 ? 0 : d->q[k] << n;
		}
	}
}

/*
 * The packed integer and logic operation @lo (the byte after 0F) on
 * operands of @n bytes: 16 for XMM, 8 for MMX (the MMX values in the low
 * 8 bytes of @d and @s, the rest zero).  Lane-wise operations run over
 * all 16 bytes (the MMX caller keeps the low 8 of @r); those that move
 * data between lanes (packs, unpacks) place it by @n.  @r = *@d on
 * entry.  Returns false for an opcode that is none of them.
 */
static bool simd_alu(unsigned lo, xmm_t *r, const xmm_t *d, const xmm_t *s,
		     unsigned n)
{
	switch (lo) {
	case 0x54: case 0xdb: /* ANDPS / PAND */
		r->q[0] &= s->q[0]; r->q[1] &= s->q[1]; break;
	case 0x55: case 0xdf: /* ANDNPS / PANDN */
		r->q[0] = ~r->q[0] & s->q[0]; r->q[1] = ~r->q[1] & s->q[1]; break;
	case 0x56: case 0xeb: /* ORPS / POR */
		r->q[0] |= s->q[0]; r->q[1] |= s->q[1]; break;
	case 0x57: case 0xef: /* XORPS / PXOR */
		r->q[0] ^= s->q[0]; r->q[1] ^= s->q[1]; break;
	case 0xfc: for (int k = 0; k < 16; k++) r->b[k] += s->b[k]; break;
	case 0xfd: for (int k = 0; k < 8; k++) r->w[k] += s->w[k]; break;
	case 0xfe: for (int k = 0; k < 4; k++) r->d[k] += s->d[k]; break;
	case 0xd4: for (int k = 0; k < 2; k++) r->q[k] += s->q[k]; break;
	case 0xf8: for (int k = 0; k < 16; k++) r->b[k] -= s->b[k]; break;
	case 0xf9: for (int k = 0; k < 8; k++) r->w[k] -= s->w[k]; break;
	case 0xfa: for (int k = 0; k < 4; k++) r->d[k] -= s->d[k]; break;
	case 0xfb: for (int k = 0; k < 2; k++) r->q[k] -= s->q[k]; break;
	case 0x74: for (int k = 0; k < 16; k++) r->b[k] = r->b[k] == s->b[k] ? 0xff : 0; break;
	case 0x75: for (int k = 0; k < 8; k++) r->w[k] = r->w[k] == s->w[k] ? 0xffff : 0; break;
	case 0x76: for (int k = 0; k < 4; k++) r->d[k] = r->d[k] == s->d[k] ? ~0u : 0; break;
	case 0x64: for (int k = 0; k < 16; k++) r->b[k] = r->sb[k] > s->sb[k] ? 0xff : 0; break;
	case 0x65: for (int k = 0; k < 8; k++) r->w[k] = r->sw[k] > s->sw[k] ? 0xffff : 0; break;
	case 0x66: for (int k = 0; k < 4; k++) r->d[k] = r->sd[k] > s->sd[k] ? ~0u : 0; break;
	case 0xda: for (int k = 0; k < 16; k++) r->b[k] = r->b[k] < s->b[k] ? r->b[k] : s->b[k]; break;
	case 0xde: for (int k = 0; k < 16; k++) r->b[k] = r->b[k] > s->b[k] ? r->b[k] : s->b[k]; break;
	case 0xea: for (int k = 0; k < 8; k++) r->sw[k] = r->sw[k] < s->sw[k] ? r->sw[k] : s->sw[k]; break;
	case 0xee: for (int k = 0; k < 8; k++) r->sw[k] = r->sw[k] > s->sw[k] ? r->sw[k] : s->sw[k]; break;
	case 0xd5: for (int k = 0; k < 8; k++) r->w[k] = (uint16_t)(r->sw[k] * s->sw[k]); break;
	case 0xf4: /* PMULUDQ */
		r->q[0] = (uint64_t)r->d[0] * s->d[0];
		r->q[1] = (uint64_t)r->d[2] * s->d[2];
		break;
	case 0xd8: for (int k = 0; k < 16; k++) r->b[k] = r->b[k] > s->b[k] ? (uint8_t)(r->b[k] - s->b[k]) : 0; break;
	case 0xd9: for (int k = 0; k < 8; k++) r->w[k] = r->w[k] > s->w[k] ? (uint16_t)(r->w[k] - s->w[k]) : 0; break;
	case 0xdc: for (int k = 0; k < 16; k++) r->b[k] = (uint8_t)sat_u(r->b[k] + s->b[k], 0xff); break;
	case 0xdd: for (int k = 0; k < 8; k++) r->w[k] = (uint16_t)sat_u(r->w[k] + s->w[k], 0xffff); break;
	case 0xe8: for (int k = 0; k < 16; k++) r->sb[k] = (int8_t)sat_s(r->sb[k] - s->sb[k], 127); break;
	case 0xe9: for (int k = 0; k < 8; k++) r->sw[k] = (int16_t)sat_s(r->sw[k] - s->sw[k], 32767); break;
	case 0xec: for (int k = 0; k < 16; k++) r->sb[k] = (int8_t)sat_s(r->sb[k] + s->sb[k], 127); break;
	case 0xed: for (int k = 0; k < 8; k++) r->sw[k] = (int16_t)sat_s(r->sw[k] + s->sw[k], 32767); break;
	case 0xe0: for (int k = 0; k < 16; k++) r->b[k] = (uint8_t)((r->b[k] + s->b[k] + 1) >> 1); break;
	case 0xe3: for (int k = 0; k < 8; k++) r->w[k] = (uint16_t)((r->w[k] + s->w[k] + 1) >> 1); break;
	case 0xe4: for (int k = 0; k < 8; k++) r->w[k] = (uint16_t)(((uint32_t)r->w[k] * s->w[k]) >> 16); break;
	case 0xe5: for (int k = 0; k < 8; k++) r->w[k] = (uint16_t)((uint32_t)(r->sw[k] * s->sw[k]) >> 16); break;
	case 0xf5: /* PMADDWD */
		for (int k = 0; k < 4; k++)
			r->d[k] = (uint32_t)((int32_t)d->sw[2 * k] * s->sw[2 * k]) +
				 (uint32_t)((int32_t)d->sw[2 * k + 1] * s->sw[2 * k + 1]);
		break;
	case 0xf6: /* PSADBW */
		for (int h = 0; h < 2; h++) {
			unsigned sum = 0;
			for (int k = 8 * h; k < 8 * h + 8; k++)
				sum += d->b[k] > s->b[k] ? d->b[k] - s->b[k] :
							  s->b[k] - d->b[k];
			r->q[h] = sum;
		}
		break;
	case 0x63: /* PACKSSWB */
		for (unsigned k = 0; k < n / 2; k++) {
			r->sb[k] = (int8_t)sat_s(d->sw[k], 127);
			r->sb[n / 2 + k] = (int8_t)sat_s(s->sw[k], 127);
		}
		break;
	case 0x67: /* PACKUSWB */
		for (unsigned k = 0; k < n / 2; k++) {
			r->b[k] = (uint8_t)sat_u(d->sw[k] < 0 ? 0 : d->sw[k], 0xff);
			r->b[n / 2 + k] = (uint8_t)sat_u(s->sw[k] < 0 ? 0 : s->sw[k], 0xff);
		}
		break;
	case 0x6b: /* PACKSSDW */
		for (unsigned k = 0; k < n / 4; k++) {
			r->sw[k] = (int16_t)sat_s(d->sd[k], 32767);
			r->sw[n / 4 + k] = (int16_t)sat_s(s->sd[k], 32767);
		}
		break;
	case 0xd1: case 0xd2: case 0xd3: case 0xe1: case 0xe2:
	case 0xf1: case 0xf2: case 0xf3: /* shifts by xmm/m128[63:0] */
		pshift(r, lo >> 4 == 0xd ? 2 : lo >> 4 == 0xe ? 4 : 6,
		       lo & 3, s->q[0]);
		break;
	case 0x60: case 0x61: case 0x62: case 0x6c: /* PUNPCKL* */
	case 0x68: case 0x69: case 0x6a: case 0x6d: { /* PUNPCKH* */
		unsigned sz = (lo == 0x60 || lo == 0x68) ? 1 :
			      (lo == 0x61 || lo == 0x69) ? 2 :
			      (lo == 0x62 || lo == 0x6a) ? 4 : 8;
		unsigned half = (lo >= 0x68 && lo != 0x6c) ? n / 2 : 0;
		xmm_t o = *d;
		for (unsigned k = 0; k < n / 2 / sz; k++) {
			memcpy(r->b + 2 * k * sz, o.b + half + k * sz, sz);
			memcpy(r->b + (2 * k + 1) * sz, s->b + half + k * sz, sz);
		}
		break;
	}
	default:
		return false;
	}
	return true;
}

/* packed integer and logic operations: xmm, xmm/m128 */
static int op_sse_alu(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned lo = i->op & 0xff;
	bool p66 = i->pfx & PFX_OPSZ;
	xmm_t s, *d, r;

	/* the logic ops exist as PS (no prefix) and PD/integer (66) */
	if (!p66 && !(i->pfx & (PFX_REP | PFX_REPNE)) &&
	    !(lo == 0x54 || lo == 0x55 || lo == 0x56 || lo == 0x57))
		return op_mmx(c, i);
	sse_check(c);
	if (!p66 && !(lo == 0x54 || lo == 0x55 || lo == 0x56 || lo == 0x57))
		not_emulated(c, i);
	if (i->pfx & (PFX_REP | PFX_REPNE))
		not_emulated(c, i);
	src128(c, i, &s, true);
	d = xreg(c, i->reg);
	r = *d;
	if (!simd_alu(lo, &r, d, &s, 16))
		not_emulated(c, i);
	*d = r;
	return SOFT_NEXT;
}

/* 66 0F D7: PMOVMSKB r32, xmm */
static int op_pmovmskb(struct soft_cpu *c, const struct soft_insn *i)
{
	uint32_t m = 0;

	if (!(i->pfx & (PFX_OPSZ | PFX_REP | PFX_REPNE)))
		return op_mmx(c, i);
	sse_check(c);
	if (!(i->pfx & PFX_OPSZ) || i->mod != 3)
		not_emulated(c, i);
	for (int k = 0; k < 16; k++)
		m |= (uint32_t)(xreg(c, i->rm)->b[k] >> 7) << k;
	c->st.gpr[i->reg] = m;
	return SOFT_NEXT;
}

/* 66 0F C4 ib: PINSRW xmm, r32/m16; 66 0F C5 ib: PEXTRW r32, xmm */
static int op_pinsrw(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned k = (unsigned)i->imm & 7;

	if (!(i->pfx & (PFX_OPSZ | PFX_REP | PFX_REPNE)))
		return op_mmx(c, i);
	sse_check(c);
	if (!(i->pfx & PFX_OPSZ) || (i->pfx & (PFX_REP | PFX_REPNE)))
		not_emulated(c, i); /* MMX forms */
	if ((i->op & 0xff) == 0xc5) {
		if (i->mod != 3)
			soft_ud(c);
		c->st.gpr[i->reg] = xreg(c, i->rm)->w[k];
		return SOFT_NEXT;
	}
	xreg(c, i->reg)->w[k] = (uint16_t)(i->mod == 3 ?
		c->st.gpr[i->rm] : soft_ld(c, i->seg, soft_ea(c, i), 2));
	return SOFT_NEXT;
}

/* 66 0F F7: MASKMOVDQU xmm1, xmm2: the bytes of xmm1 whose xmm2 mask
 * byte has its top bit set go to seg:rDI */
static int op_maskmovdqu(struct soft_cpu *c, const struct soft_insn *i)
{
	const xmm_t *v, *m;
	uint64_t di;
	bool any = false;

	if (!(i->pfx & (PFX_OPSZ | PFX_REP | PFX_REPNE)))
		return op_mmx(c, i); /* MASKMOVQ */
	sse_check(c);
	if (!(i->pfx & PFX_OPSZ) || (i->pfx & (PFX_REP | PFX_REPNE)))
		not_emulated(c, i); /* MASKMOVQ: MMX */
	if (i->mod != 3)
		soft_ud(c);
	v = xreg(c, i->reg);
	m = xreg(c, i->rm);
	di = soft_reg(c, VMM_RDI, i->asz);
	for (int k = 0; k < 16; k++)
		any |= m->b[k] >> 7;
	if (!any)
		return SOFT_NEXT;
	soft_probe_write(c, i->seg, di, 16);
	for (int k = 0; k < 16; k++)
		if (m->b[k] & 0x80)
			soft_st(c, i->seg, (di + (unsigned)k) & soft_mask(i->asz),
				1, v->b[k]);
	return SOFT_NEXT;
}

/* 66 0F 70: PSHUFD; F3: PSHUFHW; F2: PSHUFLW */
static int op_pshuf(struct soft_cpu *c, const struct soft_insn *i)
{
	xmm_t s, r;
	unsigned imm = (unsigned)i->imm & 0xff;

	if (!(i->pfx & (PFX_OPSZ | PFX_REP | PFX_REPNE)))
		return op_mmx(c, i); /* PSHUFW */
	sse_check(c);
	src128(c, i, &s, true);
	r = s;
	if (i->pfx & PFX_REP) {
		for (int k = 0; k < 4; k++)
			r.w[4 + k] = s.w[4 + ((imm >> (2 * k)) & 3)];
	} else if (i->pfx & PFX_REPNE) {
		for (int k = 0; k < 4; k++)
			r.w[k] = s.w[(imm >> (2 * k)) & 3];
	} else if (i->pfx & PFX_OPSZ) {
		for (int k = 0; k < 4; k++)
			r.d[k] = s.d[(imm >> (2 * k)) & 3];
	} else {
		not_emulated(c, i);
	}
	*xreg(c, i->reg) = r;
	return SOFT_NEXT;
}

/* 66 0F 71-73: shifts by immediate */
static int op_pshift_imm(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned lo = i->op & 0xff, sub = i->reg & 7, n = (unsigned)i->imm & 0xff;
	xmm_t *d;

	if (!(i->pfx & (PFX_OPSZ | PFX_REP | PFX_REPNE)))
		return op_mmx(c, i);
	sse_check(c);
	if (!(i->pfx & PFX_OPSZ) || i->mod != 3)
		not_emulated(c, i);
	d = xreg(c, i->rm);
	if (lo == 0x73 && (sub == 3 || sub == 7)) { /* PSRLDQ / PSLLDQ */
		xmm_t r;
		memset(&r, 0, sizeof(r));
		if (n > 16)
			n = 16;
		if (sub == 3)
			memcpy(r.b, d->b + n, 16 - n);
		else
			memcpy(r.b + n, d->b, 16 - n);
		*d = r;
		return SOFT_NEXT;
	}
	if ((sub != 2 && sub != 4 && sub != 6) || (lo == 0x73 && sub == 4))
		soft_ud(c);
	pshift(d, sub, lo - 0x70, n);
	return SOFT_NEXT;
}

static int op_sse_other(struct soft_cpu *c, const struct soft_insn *i)
{
	sse_check(c);
	not_emulated(c, i);
}

/* ---- MMX ----
 *
 * The MMX integer instructions: 0F 60-6B, 6E-7F, C4, C5, D1-FE without a
 * 66/F2/F3 prefix (with 66 they are the SSE2 forms above; F2/F3 forms of
 * these opcodes stay "not emulated"), EMMS, and the SSE additions on MMX
 * registers (PSHUFW, PINSRW, PEXTRW, PMOVMSKB, PAVGB/W, PMIN/PMAX,
 * PMULHUW, PSADBW, MOVNTQ, MASKMOVQ: #UD without CPUID SSE; PADDQ, PSUBQ,
 * PMULUDQ: without SSE2).  The arithmetic is simd_alu() with 8-byte
 * operands.
 *
 * MM0-7 are the 64-bit mantissas of the x87 registers R0-R7 (SDM vol. 1
 * 9.5): every MMX instruction but EMMS sets TOP to 0 (so ST(i) = R(i) =
 * MMi: vmm_fpu.st[] is kept in ST order and is rotated when TOP was not
 * 0) and tags all registers valid (abridged tag 0xff); a write sets the
 * register's exponent and sign (bits 64-79) to all ones.  EMMS tags all
 * empty and sets TOP to 0 too (the CPUs the difftest ran on do).  Checks in order: CR0.EM #UD, CR0.TS #NM, a pending unmasked x87
 * exception #MF.  The state format needs no change: MMX state is x87
 * state (snapshots, migration and KVM's FXSAVE image carry it).
 */

static void mmx_check(struct soft_cpu *c, const struct soft_insn *i)
{
	const struct vmm_fpu *f = &c->st.fpu;

	if (c->st.cr0 & VMM_CR0_EM)
		soft_ud(c);
	if (c->st.cr0 & VMM_CR0_TS)
		soft_fault_noerr(c, 7);
	if (f->fsw & ~f->fcw & 0x3f) {
		if (c->st.cr0 & VMM_CR0_NE)
			soft_fault_noerr(c, 16);
		soft_stop_emulation(c, i->op, "soft: x87 exception with CR0.NE "
				    "clear (FERR#) not emulated");
	}
}

/* MMi before the instruction's TOP = 0: R(i) = ST((i - TOP) & 7) */
static uint64_t mm_get(const struct soft_cpu *c, unsigned r)
{
	unsigned top = (c->st.fpu.fsw >> 11) & 7;
	uint64_t v;

	memcpy(&v, c->st.fpu.st[(r - top) & 7], 8);
	return v;
}

/* the instruction's effect on the x87 state: TOP = 0, all tags valid
 * (after every check and memory access that can fault) */
static void mmx_enter(struct soft_cpu *c)
{
	struct vmm_fpu *f = &c->st.fpu;
	unsigned top = (f->fsw >> 11) & 7;

	if (top) {
		uint8_t r[8][16];

		for (unsigned k = 0; k < 8; k++)
			memcpy(r[(top + k) & 7], f->st[k], 16);
		memcpy(f->st, r, sizeof(r));
		f->fsw &= (uint16_t)~0x3800u;
	}
	f->ftw = 0xff;
}

/* write MMi (after mmx_enter()) */
static void mm_set(struct soft_cpu *c, unsigned r, uint64_t v)
{
	uint8_t *p = c->st.fpu.st[r & 7];

	memcpy(p, &v, 8);
	p[8] = p[9] = 0xff;
}

/* the mm/m64 source (@n = 4: m32, the low half of an MMX register) */
static uint64_t mmx_src(struct soft_cpu *c, const struct soft_insn *i,
			unsigned n)
{
	if (i->mod == 3)
		return mm_get(c, i->rm);
	return soft_ld(c, i->seg, soft_ea(c, i), n);
}

static int op_mmx(struct soft_cpu *c, const struct soft_insn *i)
{
	const struct soft_features *ft = &c->svm->feat;
	unsigned lo = i->op & 0xff, reg = i->reg & 7;
	bool sse = (ft->l1d >> 25) & 1, sse2 = (ft->l1d >> 26) & 1;
	xmm_t s, d, r;
	uint64_t v;

	if (!((ft->l1d >> 23) & 1))
		soft_ud(c);
	switch (lo) {
	case 0x70: case 0xc4: case 0xc5: case 0xd7: case 0xda: case 0xde:
	case 0xe0: case 0xe3: case 0xe4: case 0xe7: case 0xea: case 0xee:
	case 0xf6: case 0xf7:
		if (!sse)
			soft_ud(c);
		break;
	case 0xd4: case 0xf4: case 0xfb:
		if (!sse2)
			soft_ud(c);
		break;
	case 0x6c: case 0x6d: case 0xd0: case 0xd6: case 0xe6: case 0xf0:
	case 0xff:
		soft_ud(c); /* XMM-only or no such instruction */
	}
	mmx_check(c, i);
	switch (lo) {
	case 0x77: /* EMMS: TOP = 0 as well (what the CPU does: KVM) */
		mmx_enter(c);
		c->st.fpu.ftw = 0;
		return SOFT_NEXT;
	case 0x6e: { /* MOVD mm, r/m32 (REX.W: MOVQ mm, r/m64) */
		struct soft_insn j = *i;
		j.osz = (i->pfx & PFX_REXW) ? 8 : 4;
		v = soft_rm(c, &j);
		mmx_enter(c);
		mm_set(c, reg, v);
		return SOFT_NEXT;
	}
	case 0x7e: { /* MOVD r/m32, mm (REX.W: MOVQ r/m64, mm) */
		struct soft_insn j = *i;
		j.osz = (i->pfx & PFX_REXW) ? 8 : 4;
		soft_set_rm(c, &j, mm_get(c, reg) & soft_mask(j.osz));
		mmx_enter(c);
		return SOFT_NEXT;
	}
	case 0x6f: /* MOVQ mm, mm/m64 */
		v = mmx_src(c, i, 8);
		mmx_enter(c);
		mm_set(c, reg, v);
		return SOFT_NEXT;
	case 0x7f: /* MOVQ mm/m64, mm */
	case 0xe7: /* MOVNTQ m64, mm */
		v = mm_get(c, reg);
		if (i->mod == 3) {
			if (lo == 0xe7)
				soft_ud(c);
			mmx_enter(c);
			mm_set(c, i->rm, v);
			return SOFT_NEXT;
		}
		soft_st(c, i->seg, soft_ea(c, i), 8, v);
		mmx_enter(c);
		return SOFT_NEXT;
	case 0x70: { /* PSHUFW mm, mm/m64, imm8 */
		unsigned imm = (unsigned)i->imm & 0xff;
		s.q[0] = mmx_src(c, i, 8);
		for (unsigned k = 0; k < 4; k++)
			r.w[k] = s.w[(imm >> (2 * k)) & 3];
		mmx_enter(c);
		mm_set(c, reg, r.q[0]);
		return SOFT_NEXT;
	}
	case 0x71: case 0x72: case 0x73: { /* shifts by imm8 */
		unsigned sub = reg, n = (unsigned)i->imm & 0xff;
		if (i->mod != 3 || (sub != 2 && sub != 4 && sub != 6) ||
		    (lo == 0x73 && sub == 4))
			soft_ud(c);
		memset(&d, 0, sizeof(d));
		d.q[0] = mm_get(c, i->rm);
		pshift(&d, sub, lo - 0x70, n);
		mmx_enter(c);
		mm_set(c, i->rm, d.q[0]);
		return SOFT_NEXT;
	}
	case 0xc4: /* PINSRW mm, r32/m16, imm8 */
		d.q[0] = mm_get(c, reg);
		d.w[i->imm & 3] = (uint16_t)(i->mod == 3 ? c->st.gpr[i->rm] :
			soft_ld(c, i->seg, soft_ea(c, i), 2));
		mmx_enter(c);
		mm_set(c, reg, d.q[0]);
		return SOFT_NEXT;
	case 0xc5: /* PEXTRW r32, mm, imm8 */
		if (i->mod != 3)
			soft_ud(c);
		d.q[0] = mm_get(c, i->rm);
		mmx_enter(c);
		c->st.gpr[i->reg] = d.w[i->imm & 3];
		return SOFT_NEXT;
	case 0xd7: { /* PMOVMSKB r32, mm */
		uint32_t m = 0;
		if (i->mod != 3)
			soft_ud(c);
		d.q[0] = mm_get(c, i->rm);
		for (int k = 0; k < 8; k++)
			m |= (uint32_t)(d.b[k] >> 7) << k;
		mmx_enter(c);
		c->st.gpr[i->reg] = m;
		return SOFT_NEXT;
	}
	case 0xf7: { /* MASKMOVQ mm1, mm2: bytes of mm1 to seg:rDI */
		uint64_t di = soft_reg(c, VMM_RDI, i->asz);
		if (i->mod != 3)
			soft_ud(c);
		d.q[0] = mm_get(c, reg);
		s.q[0] = mm_get(c, i->rm);
		if (s.q[0] & 0x8080808080808080ull) {
			soft_probe_write(c, i->seg, di, 8);
			for (int k = 0; k < 8; k++)
				if (s.b[k] & 0x80)
					soft_st(c, i->seg,
						(di + (unsigned)k) & soft_mask(i->asz),
						1, d.b[k]);
		}
		mmx_enter(c);
		return SOFT_NEXT;
	}
	}
	/* the packed arithmetic, logic, compares, packs, unpacks, shifts */
	memset(&s, 0, sizeof(s));
	memset(&d, 0, sizeof(d));
	s.q[0] = mmx_src(c, i, (lo >= 0x60 && lo <= 0x62) ? 4 : 8);
	d.q[0] = mm_get(c, reg);
	r = d;
	if (!simd_alu(lo, &r, &d, &s, 8))
		soft_ud(c);
	mmx_enter(c);
	mm_set(c, reg, r.q[0]);
	return SOFT_NEXT;
}

void soft_register_fpu(soft_fn *t)
{
	for (unsigned op = 0xd8; op <= 0xdf; op++)
		t[op] = op_x87;
	t[0x9b] = op_fwait;
	t[0x1ae] = op_grp15;
	for (unsigned op = 0x110; op <= 0x117; op++)
		t[op] = op_sse_mov;
	for (unsigned op = 0x128; op <= 0x12f; op++)
		t[op] = op_sse_other;
	for (unsigned op = 0x150; op <= 0x17f; op++)
		t[op] = op_sse_other;
	for (unsigned op = 0x1d0; op <= 0x1fe; op++)
		t[op] = op_sse_alu;
	for (unsigned op = 0x160; op <= 0x16d; op++)
		t[op] = op_sse_alu;
	t[0x154] = t[0x155] = t[0x156] = t[0x157] = op_sse_alu;
	t[0x174] = t[0x175] = t[0x176] = op_sse_alu;
	t[0x128] = t[0x129] = t[0x12b] = op_sse_mov;
	t[0x16e] = t[0x16f] = t[0x17e] = t[0x17f] = op_sse_mov;
	t[0x1d6] = t[0x1e7] = op_sse_mov;
	t[0x1d7] = op_pmovmskb;
	t[0x170] = op_pshuf;
	t[0x171] = t[0x172] = t[0x173] = op_pshift_imm;
	t[0x1c2] = t[0x1c6] = op_sse_other;
	t[0x1c4] = t[0x1c5] = op_pinsrw;
	t[0x1f7] = op_maskmovdqu;
	t[0x177] = op_mmx; /* EMMS */
	for (unsigned op = 0x200; op < 0x400; op++)
		if (!t[op])
			t[op] = op_sse_other;
}
