/* SPDX-License-Identifier: MIT */
/*
 * exec_sse.c - SSE/SSE2 floating point: ADD SUB MUL DIV MIN MAX SQRT in
 * the PS/PD/SS/SD forms, CMPccPS/PD/SS/SD, (U)COMISS/SD, the CVT family
 * between integers, singles and doubles, UNPCKL/H, SHUFPS/PD, MOVMSKPS/PD,
 * RCPPS/SS, RSQRTPS/SS, MOVHLPS/MOVLHPS live in fpu.c.
 *
 * The arithmetic runs on the host's own SSE unit (the host is x86-64):
 * one asm statement saves the host MXCSR, loads the guest's rounding
 * control, DAZ and FTZ with every exception masked and the flags clear,
 * executes the very instruction the guest executed on register copies,
 * reads the flags it raised and restores the host MXCSR.  Results, NaN
 * propagation (first source's NaN wins, SNaN quieted), the indefinite
 * values, integer indefinite, DAZ/FTZ and the flags are therefore those
 * of the host CPU, bit for bit; nothing of the host FP environment
 * outlives the statement.  The guest's exception masks are applied here:
 * an unmasked pre-computation exception (invalid, denormal, divide by
 * zero) in any element stops the instruction before the post-computation
 * ones are looked at; an unmasked overflow/underflow/precision stops it
 * after; both leave the destination unchanged and raise #XM (#UD without
 * CR4.OSXMMEXCPT), as the SDM specifies.  With underflow unmasked, FTZ is
 * ignored and tininess alone (even with an exact result) signals it.
 *
 * RCPPS/RCPSS/RSQRTPS/RSQRTSS are approximations whose tables are
 * implementation specific: they return what the host CPU returns (the
 * architectural bound, relative error <= 1.5 * 2^-12, holds).
 *
 * On a host that is not x86-64 these opcodes stop the vCPU with
 * VMM_EXIT_INTERNAL (reason EMULATION), as before.
 */
#include "cpu/soft/exec.h"

#if defined(__x86_64__)

typedef double sse_v __attribute__((vector_size(16)));
typedef union {
	uint8_t b[16];
	uint32_t d[4];
	uint64_t q[2];
	sse_v v;
} xv;

#define MX_IE 0x0001u
#define MX_DE 0x0002u
#define MX_ZE 0x0004u
#define MX_OE 0x0008u
#define MX_UE 0x0010u
#define MX_PE 0x0020u
#define MX_FLAGS 0x003fu
#define MX_PRE (MX_IE | MX_DE | MX_ZE)
#define MX_DAZ 0x0040u
#define MX_MASKS 0x1f80u
#define MX_UM 0x0800u
#define MX_RC 0x6000u
#define MX_FZ 0x8000u

/* The operand form the mandatory prefix selects (F2/F3 win over 66). */
enum { K_PS, K_PD, K_SS, K_SD };

static unsigned kind(const struct soft_insn *i)
{
	if (i->pfx & PFX_REP)
		return K_SS;
	if (i->pfx & PFX_REPNE)
		return K_SD;
	return (i->pfx & PFX_OPSZ) ? K_PD : K_PS;
}

static xv *X(struct soft_cpu *c, unsigned r)
{
	return (xv *)c->st.fpu.xmm[r & 15];
}

static void sse_check(struct soft_cpu *c)
{
	if ((c->st.cr0 & VMM_CR0_EM) || !(c->st.cr4 & VMM_CR4_OSFXSR))
		soft_ud(c);
	if (c->st.cr0 & VMM_CR0_TS)
		soft_fault_noerr(c, 7);
}

__attribute__((noreturn)) static void not_emulated(struct soft_cpu *c,
						   const struct soft_insn *i)
{
	soft_stop_emulation(c, i->op, "soft: opcode %s%02x (MMX form) not emulated",
			    i->op >= 0x100 ? "0f " : "", i->op & 0xff);
}

/*
 * The xmm/m source: @n = 4 or 8 reads a scalar (no alignment rule),
 * 16 an aligned m128 (#GP(0) when misaligned).
 */
static void src_x(struct soft_cpu *c, const struct soft_insn *i, xv *s,
		  unsigned n)
{
	uint64_t ea;

	if (i->mod == 3) {
		*s = *X(c, i->rm);
		return;
	}
	ea = soft_ea(c, i);
	memset(s, 0, sizeof(*s));
	if (n == 16) {
		if (ea & 15)
			soft_gp(c, 0);
		s->q[0] = soft_ld(c, i->seg, ea, 8);
		s->q[1] = soft_ld(c, i->seg, ea + 8, 8);
	} else {
		s->q[0] = soft_ld(c, i->seg, ea, n);
	}
}

/* ---- the host unit under the guest's MXCSR ---- */

/* Guest RC, DAZ and FTZ, every exception masked, flags clear; FTZ only
 * applies while underflow is masked. */
static uint32_t run_mx(const struct soft_cpu *c)
{
	uint32_t g = c->st.fpu.mxcsr;
	uint32_t m = (g & (MX_DAZ | MX_RC | MX_FZ)) | MX_MASKS;

	if (!(g & MX_UM))
		m &= ~MX_FZ;
	return m;
}

/* "insn src, dst" on xmm copies; evaluates to the MXCSR after it. */
#define HOST_XX(insn, d, s, mx)                                               \
	__extension__({                                                       \
		uint32_t h_, o_, m_ = (mx);                                   \
		__asm__ volatile("stmxcsr %1\n\tldmxcsr %3\n\t" insn          \
				 " %4, %0\n\tstmxcsr %2\n\tldmxcsr %1"        \
				 : "+x"((d)->v), "=m"(h_), "=m"(o_)           \
				 : "m"(m_), "x"((s)->v));                     \
		o_;                                                           \
	})
/* "insn gpr, xmm" (integer source) */
#define HOST_RX(insn, d, r, mx)                                               \
	__extension__({                                                       \
		uint32_t h_, o_, m_ = (mx);                                   \
		__asm__ volatile("stmxcsr %1\n\tldmxcsr %3\n\t" insn          \
				 ", %0\n\tstmxcsr %2\n\tldmxcsr %1"           \
				 : "+x"((d)->v), "=m"(h_), "=m"(o_)           \
				 : "m"(m_), "r"(r));                          \
		o_;                                                           \
	})
/* "insn xmm, gpr" (integer result) */
#define HOST_XR(insn, out, s, mx)                                             \
	__extension__({                                                       \
		uint32_t h_, o_, m_ = (mx);                                   \
		__asm__ volatile("stmxcsr %1\n\tldmxcsr %3\n\t" insn          \
				 "\n\tstmxcsr %2\n\tldmxcsr %1"               \
				 : "=r"(out), "=m"(h_), "=m"(o_)              \
				 : "m"(m_), "x"((s)->v));                     \
		o_;                                                           \
	})

static void xm_fault(struct soft_cpu *c)
{
	soft_fault_noerr(c, (c->st.cr4 & VMM_CR4_OSXMMEXCPT) ? 19 : 6);
}

/* Is one of the float (@w = 4) or double lanes in @lanes of @r tiny? */
static bool tiny(const xv *r, unsigned w, unsigned lanes)
{
	for (unsigned k = 0; k < 4; k++) {
		if (!(lanes & (1u << k)))
			continue;
		if (w == 4) {
			uint32_t v = r->d[k] & 0x7fffffffu;
			if (v && v < 0x00800000u)
				return true;
		} else if (k < 2) {
			uint64_t v = r->q[k] & ~(1ull << 63);
			if (v && v < (1ull << 52))
				return true;
		}
	}
	return false;
}

/*
 * Recomputing one lane alone: packed operations whose overflow or
 * underflow is unmasked report, per lane, the OE/UE of the lanes that
 * fault without their PE, and the other lanes' flags as they are.
 */
typedef uint32_t (*host_fn)(unsigned lo, unsigned k, xv *r, const xv *s,
			    uint32_t mx);
struct rerun {
	host_fn fn;
	unsigned lo, k;
	unsigned sw;        /* source lane width: 4 or 8 */
	xv d0, s0;          /* the operands */
	uint32_t mx;
};

static void set_one(xv *x, unsigned w, unsigned keep)
{
	for (unsigned k = 0; k < 16 / w; k++) {
		if (k == keep)
			continue;
		if (w == 4)
			x->d[k] = 0x3f800000u; /* 1.0f */
		else
			x->q[k] = 0x3ff0000000000000ull; /* 1.0 */
	}
}

/* a float (@w = 4) or double lane as long double, DAZ applied */
static long double lane_ld(const xv *x, unsigned w, unsigned l, uint32_t g)
{
	if (w == 4) {
		uint32_t v = x->d[l];
		float f;
		if ((g & MX_DAZ) && !(v & 0x7f800000u))
			v &= 0x80000000u;
		memcpy(&f, &v, 4);
		return f;
	} else {
		uint64_t v = x->q[l];
		double d;
		if ((g & MX_DAZ) && !(v & 0x7ff0000000000000ull))
			v &= 1ull << 63;
		memcpy(&d, &v, 8);
		return d;
	}
}

/*
 * With overflow or underflow unmasked the hardware reports PE when the
 * result, rounded to the destination's precision with an unbounded
 * exponent, is inexact.  The host x87 computes exactly that: precision
 * control 24/53 bits, the guest's rounding, a 15-bit exponent (its
 * environment is saved and restored around the operation).
 */
static bool inexact_unbounded(const struct rerun *rr, unsigned l, uint32_t g)
{
	unsigned lo = rr->lo, rw = lo == 0x5a ? 4 : rr->sw;
	uint16_t cw = (uint16_t)(0x3f | (rw == 4 ? 0 : 0x200) |
				 (((g & MX_RC) >> 13) << 10));
	uint8_t save[28]; /* the host x87 environment */
	uint16_t sw;
	long double a, b, r;

	if (lo == 0x5a) {
		a = lane_ld(&rr->s0, 8, l, g);
		b = 1.0L;
		lo = 0x59; /* x * 1 rounds to the precision */
	} else {
		a = lane_ld(&rr->d0, rr->sw, l, g);
		b = lane_ld(&rr->s0, rr->sw, l, g);
	}
#define X87(insn)                                                             \
	__asm__ volatile("fnstenv %1\n\tfldcw %3\n\tfnclex\n\t" insn "\n\t"   \
			 "fnstsw %2\n\tfldenv %1"                             \
			 : "=t"(r), "=m"(save), "=m"(sw)                      \
			 : "m"(cw), "0"(a), "u"(b))
	switch (lo) {
	case 0x58: X87("fadd %%st(1), %%st"); break;
	case 0x5c: X87("fsub %%st(1), %%st"); break;
	case 0x59: X87("fmul %%st(1), %%st"); break;
	case 0x5e: X87("fdiv %%st(1), %%st"); break;
	default: return false; /* SQRT cannot overflow or underflow */
	}
#undef X87
	(void)r;
	return sw & 0x20;
}

/* the post-computation flags of lane @l (or a scalar: @lanes = 1) */
static uint32_t post_flags(uint32_t f, const xv *r, unsigned w,
			   unsigned lanes, unsigned l, uint32_t g,
			   const struct rerun *rr)
{
	uint32_t unm = ~(g >> 7) & MX_FLAGS;

	if (!(g & MX_UM) && lanes && tiny(r, w, lanes))
		f |= MX_UE;
	if ((f & unm & (MX_OE | MX_UE)) && rr)
		f = (f & ~MX_PE) | (inexact_unbounded(rr, l, g) ? MX_PE : 0);
	return f;
}

/*
 * Account the flags @f an operation raised (with every exception masked)
 * under the guest's masks; faults with #XM/#UD when one is unmasked.
 * @r holds the result lanes @lanes of width @w for the underflow rule;
 * @rr recomputes single lanes of a packed operation for the unmasked
 * overflow/underflow rule (NULL: scalar, or they cannot happen).
 * Returns only when the result is to be written.
 */
static void sse_flags(struct soft_cpu *c, uint32_t f, const xv *r,
		      unsigned w, unsigned lanes, const struct rerun *rr)
{
	uint32_t g = c->st.fpu.mxcsr, unm = ~(g >> 7) & MX_FLAGS;

	f &= MX_FLAGS;
	if (f & unm & MX_PRE) {
		c->st.fpu.mxcsr = g | (f & MX_PRE);
		xm_fault(c);
	}
	if (rr && (lanes & (lanes - 1)) && (unm & (MX_OE | MX_UE)) &&
	    ((f & (MX_OE | MX_UE)) || (!(g & MX_UM) && tiny(r, w, lanes)))) {
		uint32_t acc = 0;
		for (unsigned l = 0; l < 4; l++) {
			xv d1 = rr->d0, s1 = rr->s0;
			if (!(lanes & (1u << l)))
				continue;
			set_one(&d1, rr->sw, l);
			set_one(&s1, rr->sw, l);
			acc |= post_flags(rr->fn(rr->lo, rr->k, &d1, &s1, rr->mx) &
						  MX_FLAGS,
					  &d1, w, 1u << l, l, g, rr);
		}
		f = acc;
	} else {
		f = post_flags(f, r, w, lanes, 0, g, lanes ? rr : NULL);
	}
	if (f & unm) {
		c->st.fpu.mxcsr = g | f;
		xm_fault(c);
	}
	c->st.fpu.mxcsr = g | f;
}

/* lanes written by each form, for the underflow rule */
static const uint8_t form_lanes[4] = { 0xf, 0x3, 0x1, 0x1 };
static const uint8_t form_width[4] = { 4, 8, 4, 8 };
static const uint8_t form_src[4] = { 16, 16, 4, 8 };

#define FORMS4(name, d, s, mx)                                                \
	switch (k) {                                                          \
	case K_PS: f = HOST_XX(name "ps", d, s, mx); break;                    \
	case K_PD: f = HOST_XX(name "pd", d, s, mx); break;                    \
	case K_SS: f = HOST_XX(name "ss", d, s, mx); break;                    \
	default: f = HOST_XX(name "sd", d, s, mx); break;                      \
	}

static uint32_t arith_host(unsigned lo, unsigned k, xv *r, const xv *s,
			   uint32_t mx)
{
	uint32_t f;

	switch (lo) {
	case 0x51: FORMS4("sqrt", r, s, mx); break;
	case 0x58: FORMS4("add", r, s, mx); break;
	case 0x59: FORMS4("mul", r, s, mx); break;
	case 0x5c: FORMS4("sub", r, s, mx); break;
	case 0x5d: FORMS4("min", r, s, mx); break;
	case 0x5e: FORMS4("div", r, s, mx); break;
	default: FORMS4("max", r, s, mx); break;
	}
	return f;
}

/* 0F 51 58 59 5C 5D 5E 5F: SQRT ADD MUL SUB MIN DIV MAX */
static int op_arith(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned k = kind(i), lo = i->op & 0xff;
	struct rerun rr;
	uint32_t f;
	xv r;

	sse_check(c);
	src_x(c, i, &rr.s0, form_src[k]);
	rr.d0 = r = *X(c, i->reg);
	rr.mx = run_mx(c);
	rr.fn = arith_host;
	rr.lo = lo;
	rr.k = k;
	rr.sw = form_width[k];
	f = arith_host(lo, k, &r, &rr.s0, rr.mx);
	/* MIN/MAX return an operand: no underflow */
	sse_flags(c, f, &r, form_width[k],
		  (lo == 0x5d || lo == 0x5f) ? 0 : form_lanes[k], &rr);
	*X(c, i->reg) = r;
	return SOFT_NEXT;
}

/* 0F 52 / 53: RSQRTPS/SS, RCPPS/SS (no 66/F2 forms) */
static int op_approx(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned k = kind(i);
	uint32_t mx, f;
	xv s, r;

	sse_check(c);
	if (k == K_PD || k == K_SD)
		soft_ud(c);
	src_x(c, i, &s, form_src[k]);
	r = *X(c, i->reg);
	mx = run_mx(c);
	if ((i->op & 0xff) == 0x52)
		f = k == K_PS ? HOST_XX("rsqrtps", &r, &s, mx) :
				HOST_XX("rsqrtss", &r, &s, mx);
	else
		f = k == K_PS ? HOST_XX("rcpps", &r, &s, mx) :
				HOST_XX("rcpss", &r, &s, mx);
	sse_flags(c, f, &r, 4, 0, NULL); /* they raise no flags */
	*X(c, i->reg) = r;
	return SOFT_NEXT;
}

#define CMP_CASE(n)                                                           \
	case n:                                                               \
		switch (k) {                                                  \
		case K_PS: f = HOST_XX("cmpps $" #n ",", &r, &s, mx); break;   \
		case K_PD: f = HOST_XX("cmppd $" #n ",", &r, &s, mx); break;   \
		case K_SS: f = HOST_XX("cmpss $" #n ",", &r, &s, mx); break;   \
		default: f = HOST_XX("cmpsd $" #n ",", &r, &s, mx); break;     \
		}                                                             \
		break;

/* 0F C2 ib: CMPccPS/PD/SS/SD; the legacy forms use imm8[2:0] */
static int op_cmp(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned k = kind(i);
	uint32_t mx, f;
	xv s, r;

	sse_check(c);
	src_x(c, i, &s, form_src[k]);
	r = *X(c, i->reg);
	mx = run_mx(c);
	switch (i->imm & 7) {
	CMP_CASE(0)
	CMP_CASE(1)
	CMP_CASE(2)
	CMP_CASE(3)
	CMP_CASE(4)
	CMP_CASE(5)
	CMP_CASE(6)
	default:
	CMP_CASE(7)
	}
	sse_flags(c, f, &r, 4, 0, NULL);
	*X(c, i->reg) = r;
	return SOFT_NEXT;
}

/* 0F 2E / 2F: UCOMISS COMISS, 66: UCOMISD COMISD -> ZF PF CF */
static int op_comis(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned k = kind(i);
	bool dbl = k == K_PD, sig = (i->op & 0xff) == 0x2f;
	uint32_t h, o, m;
	bool zf, pf, cf;
	xv s, a;

	sse_check(c);
	if (k == K_SS || k == K_SD)
		soft_ud(c);
	src_x(c, i, &s, dbl ? 8 : 4);
	a = *X(c, i->reg);
	m = run_mx(c);
#define COMIS(insn)                                                           \
	__asm__ volatile("stmxcsr %3\n\tldmxcsr %5\n\t" insn " %7, %6\n\t"   \
			 "stmxcsr %4\n\tldmxcsr %3"                           \
			 : "=@ccz"(zf), "=@ccp"(pf), "=@ccc"(cf), "=m"(h),    \
			   "=m"(o)                                            \
			 : "m"(m), "x"(a.v), "x"(s.v))
	if (dbl) {
		if (sig)
			COMIS("comisd");
		else
			COMIS("ucomisd");
	} else {
		if (sig)
			COMIS("comiss");
		else
			COMIS("ucomiss");
	}
#undef COMIS
	sse_flags(c, o, &a, 4, 0, NULL);
	soft_flags_set_arith(c, (zf ? FL_ZF : 0) | (pf ? FL_PF : 0) |
					(cf ? FL_CF : 0));
	return SOFT_NEXT;
}

/* 0F 2A: CVTSI2SS / CVTSI2SD xmm, r/m32 (r/m64 with REX.W) */
static int op_cvtsi2f(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned k = kind(i);
	bool w = i->pfx & PFX_REXW;
	struct soft_insn j = *i;
	uint64_t v;
	uint32_t mx, f;
	xv r;

	sse_check(c);
	if (k == K_PS || k == K_PD)
		not_emulated(c, i); /* CVTPI2PS/PD: MMX source */
	j.osz = w ? 8 : 4;
	v = soft_rm(c, &j);
	r = *X(c, i->reg);
	mx = run_mx(c);
	if (k == K_SS)
		f = w ? HOST_RX("cvtsi2ssq %q4", &r, v, mx) :
			HOST_RX("cvtsi2ssl %k4", &r, v, mx);
	else
		f = w ? HOST_RX("cvtsi2sdq %q4", &r, v, mx) :
			HOST_RX("cvtsi2sdl %k4", &r, v, mx);
	sse_flags(c, f, &r, 4, 0, NULL);
	*X(c, i->reg) = r;
	return SOFT_NEXT;
}

/* 0F 2C / 2D: CVTTSS2SI CVTSS2SI, CVTTSD2SI CVTSD2SI r32/r64, xmm/m */
static int op_cvtf2si(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned k = kind(i);
	bool w = i->pfx & PFX_REXW, t = (i->op & 0xff) == 0x2c;
	uint64_t v = 0;
	uint32_t mx, f;
	xv s;

	sse_check(c);
	if (k == K_PS || k == K_PD)
		not_emulated(c, i); /* CVT(T)PS2PI / PD2PI: MMX */
	src_x(c, i, &s, k == K_SS ? 4 : 8);
	mx = run_mx(c);
	if (k == K_SS) {
		if (w)
			f = t ? HOST_XR("cvttss2si %4, %q0", v, &s, mx) :
				HOST_XR("cvtss2si %4, %q0", v, &s, mx);
		else
			f = t ? HOST_XR("cvttss2si %4, %k0", v, &s, mx) :
				HOST_XR("cvtss2si %4, %k0", v, &s, mx);
	} else {
		if (w)
			f = t ? HOST_XR("cvttsd2si %4, %q0", v, &s, mx) :
				HOST_XR("cvtsd2si %4, %q0", v, &s, mx);
		else
			f = t ? HOST_XR("cvttsd2si %4, %k0", v, &s, mx) :
				HOST_XR("cvtsd2si %4, %k0", v, &s, mx);
	}
	sse_flags(c, f, &s, 4, 0, NULL);
	c->st.gpr[i->reg] = w ? v : (uint32_t)v;
	return SOFT_NEXT;
}

/*
 * 0F 5A: CVTPS2PD (m64), 66 CVTPD2PS, F3 CVTSS2SD, F2 CVTSD2SS;
 * 0F 5B: CVTDQ2PS, 66 CVTPS2DQ, F3 CVTTPS2DQ;
 * 0F E6: 66 CVTTPD2DQ, F3 CVTDQ2PD (m64), F2 CVTPD2DQ.
 */
static uint32_t cvt_host(unsigned lo, unsigned k, xv *r, const xv *s,
			 uint32_t mx)
{
	if (lo == 0x5a) {
		switch (k) {
		case K_PS: return HOST_XX("cvtps2pd", r, s, mx);
		case K_PD: return HOST_XX("cvtpd2ps", r, s, mx);
		case K_SS: return HOST_XX("cvtss2sd", r, s, mx);
		default: return HOST_XX("cvtsd2ss", r, s, mx);
		}
	} else if (lo == 0x5b) {
		switch (k) {
		case K_PS: return HOST_XX("cvtdq2ps", r, s, mx);
		case K_PD: return HOST_XX("cvtps2dq", r, s, mx);
		default: return HOST_XX("cvttps2dq", r, s, mx);
		}
	}
	switch (k) {
	case K_PD: return HOST_XX("cvttpd2dq", r, s, mx);
	case K_SS: return HOST_XX("cvtdq2pd", r, s, mx);
	default: return HOST_XX("cvtpd2dq", r, s, mx);
	}
}

static int op_cvt(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned k = kind(i), lo = i->op & 0xff, n = 16, lanes = 0;
	struct rerun rr;
	uint32_t f;
	xv r;

	sse_check(c);
	if ((lo == 0x5b && k == K_SD) || (lo == 0xe6 && k == K_PS))
		soft_ud(c);
	if ((lo == 0x5a && k == K_PS) || (lo == 0xe6 && k == K_SS))
		n = 8;
	else if (lo == 0x5a)
		n = form_src[k];
	src_x(c, i, &rr.s0, n);
	rr.d0 = r = *X(c, i->reg);
	rr.mx = run_mx(c);
	rr.fn = cvt_host;
	rr.lo = lo;
	rr.k = k;
	rr.sw = 8; /* only CVTPD2PS is re-run */
	if (lo == 0x5a && k == K_PD)
		lanes = 3; /* double -> float: may overflow/underflow */
	else if (lo == 0x5a && k == K_SD)
		lanes = 1;
	f = cvt_host(lo, k, &r, &rr.s0, rr.mx);
	sse_flags(c, f, &r, 4, lanes, &rr);
	*X(c, i->reg) = r;
	return SOFT_NEXT;
}

/* 0F 14 / 15: UNPCKLPS UNPCKHPS, 66: UNPCKLPD UNPCKHPD */
static int op_unpck(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned k = kind(i), h = (i->op & 0xff) == 0x15;
	xv s, d, r;

	sse_check(c);
	if (k == K_SS || k == K_SD)
		soft_ud(c);
	src_x(c, i, &s, 16);
	d = *X(c, i->reg);
	if (k == K_PS) {
		r.d[0] = d.d[2 * h];
		r.d[1] = s.d[2 * h];
		r.d[2] = d.d[2 * h + 1];
		r.d[3] = s.d[2 * h + 1];
	} else {
		r.q[0] = d.q[h];
		r.q[1] = s.q[h];
	}
	*X(c, i->reg) = r;
	return SOFT_NEXT;
}

/* 0F C6 ib: SHUFPS, 66: SHUFPD */
static int op_shuf(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned k = kind(i), imm = (unsigned)i->imm & 0xff;
	xv s, d, r;

	sse_check(c);
	if (k == K_SS || k == K_SD)
		soft_ud(c);
	src_x(c, i, &s, 16);
	d = *X(c, i->reg);
	if (k == K_PS) {
		r.d[0] = d.d[imm & 3];
		r.d[1] = d.d[(imm >> 2) & 3];
		r.d[2] = s.d[(imm >> 4) & 3];
		r.d[3] = s.d[(imm >> 6) & 3];
	} else {
		r.q[0] = d.q[imm & 1];
		r.q[1] = s.q[(imm >> 1) & 1];
	}
	*X(c, i->reg) = r;
	return SOFT_NEXT;
}

/* 0F 50: MOVMSKPS r32, xmm; 66: MOVMSKPD */
static int op_movmsk(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned k = kind(i);
	const xv *s;
	uint32_t m = 0;

	sse_check(c);
	if (k == K_SS || k == K_SD || i->mod != 3)
		soft_ud(c);
	s = X(c, i->rm);
	if (k == K_PS) {
		for (int n = 0; n < 4; n++)
			m |= (s->d[n] >> 31) << n;
	} else {
		m = (uint32_t)(s->q[0] >> 63) | (uint32_t)(s->q[1] >> 63) << 1;
	}
	c->st.gpr[i->reg] = m;
	return SOFT_NEXT;
}

void soft_register_sse(soft_fn *t)
{
	t[0x114] = t[0x115] = op_unpck;
	t[0x12a] = op_cvtsi2f;
	t[0x12c] = t[0x12d] = op_cvtf2si;
	t[0x12e] = t[0x12f] = op_comis;
	t[0x150] = op_movmsk;
	t[0x151] = op_arith;
	t[0x152] = t[0x153] = op_approx;
	t[0x158] = t[0x159] = op_arith;
	t[0x15a] = t[0x15b] = op_cvt;
	t[0x15c] = t[0x15d] = t[0x15e] = t[0x15f] = op_arith;
	t[0x1c2] = op_cmp;
	t[0x1c6] = op_shuf;
	t[0x1e6] = op_cvt;
}

#else /* not an x86-64 host: the opcodes stay "not emulated" (fpu.c) */

void soft_register_sse(soft_fn *t)
{
	(void)t;
}

#endif
