/* SPDX-License-Identifier: MIT */
/*
 * exec_x87.c - the x87 FPU (D8-DF) and FWAIT's exception check.
 *
 * Every x87 instruction except the few control ones done in C (FNSTSW,
 * FNSTCW, the 8087 no-ops FNENI/FNDISI/FNSETPM) runs on the host's own x87
 * unit (the host is x86-64): one asm statement FXSAVEs the host's FPU/SSE
 * state into a local buffer, FXRSTORs an image built from the guest's
 * state (struct vmm_fpu: FCW, FSW, abridged tag word, ST0-7), jumps to
 * the very instruction the guest executed (a table of every D8-DF
 * register form and every memory form, the memory ones addressing a
 * local buffer through RAX), FXSAVEs the result back into the image and
 * FXRSTORs the host's state.  Nothing of the host FPU state outlives the
 * statement, and results, the condition codes C0-C3, the tag word, TOP,
 * stack overflow/underflow (IE+SF, C1), the masked responses (QNaN
 * indefinite, integer indefinite), denormals, precision and rounding
 * control, the unmasked responses (operands unchanged for invalid,
 * divide-by-zero, denormal; the exponent-adjusted result for unmasked
 * overflow/underflow to a register; no store to memory), the
 * transcendentals and the ES/B summary bits are the hardware's.
 *
 * The guest's exceptions are delivered the x87 way: an instruction that
 * raises an unmasked exception only sets the flags and ES; the next
 * waiting x87 instruction (or FWAIT) raises #MF (vector 16) when CR0.NE
 * is set.  The legacy FERR#/IRQ13 path (CR0.NE clear) is not emulated:
 * that instruction stops the vCPU with VMM_EXIT_INTERNAL (EMULATION).
 * The host never sees a pending unmasked exception: the image is loaded
 * only when the guest has none (or for a non-waiting instruction, which
 * does not look), and FNCLEX runs before the host state comes back.
 *
 * The guest's FIP/FOP (and FDP for memory operands) are set here, not
 * taken from the host: FIP is the instruction's offset (linear address
 * in real and virtual-8086 mode), FOP the 11-bit opcode; FCS/FDS are
 * stored as 0 (as CPUs that deprecate them do).  FNSTENV/FNSAVE/FLDENV/
 * FRSTOR use the 16- or 32-bit, real or protected layout the operand
 * size and mode select (the tag word itself comes from the host).
 *
 * On a host that is not x86-64 only FWAIT lives here; the D8-DF
 * instructions other than the control ones stop the vCPU (fpu.c).
 */
#include "cpu/soft/exec.h"

#include <stdio.h>

#define FSW_ES 0x0080u
#define FSW_B 0x8000u

__attribute__((noreturn)) static void x87_stop(struct soft_cpu *c,
					       const struct soft_insn *i,
					       const char *why)
{
	soft_stop_emulation(c, i->op, "soft: %s", why);
}

/* a pending unmasked x87 exception: #MF before a waiting instruction */
static void mf_check(struct soft_cpu *c, const struct soft_insn *i)
{
	const struct vmm_fpu *f = &c->st.fpu;

	if (!(f->fsw & ~f->fcw & 0x3f))
		return;
	if (c->st.cr0 & VMM_CR0_NE)
		soft_fault_noerr(c, 16);
	x87_stop(c, i, "x87 exception with CR0.NE clear (FERR#) not emulated");
}

/* 9B: FWAIT */
static int op_fwait(struct soft_cpu *c, const struct soft_insn *i)
{
	if ((c->st.cr0 & (VMM_CR0_MP | VMM_CR0_TS)) ==
	    (VMM_CR0_MP | VMM_CR0_TS))
		soft_fault_noerr(c, 7);
	mf_check(c, i);
	return SOFT_NEXT;
}

#if defined(__x86_64__)

/* the host FXSAVE image and the memory operand, both 16-byte aligned */
struct x87_run {
	uint8_t img[512] __attribute__((aligned(16)));
	uint8_t mem[128] __attribute__((aligned(16)));
	bool zf, pf, cf; /* EFLAGS after FCOMI & co. */
};

/*
 * Run table slot @slot on the host with the FPU loaded from r->img:
 * slots 0-511 are the register forms (D8 + slot / 64, modrm C0 + slot %
 * 64), 512-575 the memory forms (D8 + n / 8, reg n % 8) on [RDX] =
 * r->mem.  Each slot is 16 bytes: ENDBR64, the instruction, a jump out.
 * The arithmetic flags @fl (the guest's, which FCMOVcc reads) are
 * loaded with SAHF right before the jump.
 */
#if defined(__clang__)
#define X87_NOCLONE
#else
#define X87_NOCLONE __attribute__((noclone))
#endif
__attribute__((noinline)) X87_NOCLONE static void host_run(struct x87_run *r,
							    uint64_t slot,
							    uint64_t fl)
{
	uint8_t h[512] __attribute__((aligned(16)));
	uint64_t ah = (fl & 0xd5) << 8; /* SF ZF AF PF CF for FCMOVcc */

	__asm__ volatile(
		"fxsave %[h]\n\t"
		"fxrstor (%[img])\n\t"
		"lea 3f(%%rip), %%rcx\n\t"
		"shl $4, %[slot]\n\t"
		"add %[slot], %%rcx\n\t"
		"sahf\n\t"
		"jmp *%%rcx\n\t"
		".balign 16\n"
		"3:\n\t"
		".set .Lx87_slot, 0\n\t"
		".rept 512\n\t"
		".balign 16\n\t"
		"endbr64\n\t"
		".byte 0xd8 + (.Lx87_slot >> 6), 0xc0 + (.Lx87_slot & 63)\n\t"
		"jmp 2f\n\t"
		".set .Lx87_slot, .Lx87_slot + 1\n\t"
		".endr\n\t"
		".set .Lx87_slot, 0\n\t"
		".rept 64\n\t"
		".balign 16\n\t"
		"endbr64\n\t"
		".byte 0xd8 + (.Lx87_slot >> 3), ((.Lx87_slot & 7) << 3) | 2\n\t"
		"jmp 2f\n\t"
		".set .Lx87_slot, .Lx87_slot + 1\n\t"
		".endr\n"
		"2:\n\t"
		"fxsave (%[img])\n\t"
		"fnclex\n\t"
		"fxrstor %[h]"
		: [h] "=m"(h), [slot] "+r"(slot), "=@ccz"(r->zf),
		  "=@ccp"(r->pf), "=@ccc"(r->cf)
		: [img] "r"(r->img), "d"(r->mem), "a"(ah)
		: "rcx", "memory");
}

/* the image of the guest's x87 state (ES/B recomputed from the flags) */
static void build_img(const struct vmm_fpu *f, uint8_t *img)
{
	uint16_t sw = f->fsw & ~(FSW_ES | FSW_B);
	uint32_t mx = 0x1f80;

	if (sw & ~f->fcw & 0x3f)
		sw |= FSW_ES | FSW_B;
	memset(img, 0, 512);
	memcpy(img + 0, &f->fcw, 2);
	memcpy(img + 2, &sw, 2);
	img[4] = f->ftw;
	memcpy(img + 24, &mx, 4);
	for (int k = 0; k < 8; k++)
		memcpy(img + 32 + 16 * k, f->st[k], 10);
}

static void take_img(struct vmm_fpu *f, const uint8_t *img)
{
	memcpy(&f->fcw, img + 0, 2);
	memcpy(&f->fsw, img + 2, 2);
	f->ftw = img[4];
	for (int k = 0; k < 8; k++) {
		memset(f->st[k], 0, 16);
		memcpy(f->st[k], img + 32 + 16 * k, 10);
	}
}

/*
 * Run @slot and tell whether a store of @n bytes happened: the buffer is
 * filled with one pattern, and when the result equals it the run is
 * repeated with another (an unmasked exception suppresses the store).
 */
static bool host_store(struct x87_run *r, uint64_t slot, unsigned n,
		       uint64_t fl)
{
	uint8_t in[512];

	memcpy(in, r->img, 512);
	memset(r->mem, 0x5a, sizeof(r->mem));
	host_run(r, slot, fl);
	for (unsigned k = 0; k < n; k++)
		if (r->mem[k] != 0x5a)
			return true;
	memcpy(r->img, in, 512);
	memset(r->mem, 0xa5, sizeof(r->mem));
	host_run(r, slot, fl);
	for (unsigned k = 0; k < n; k++)
		if (r->mem[k] != 0xa5)
			return true;
	return false;
}

/* FIP/FDP as recorded: offsets, linear addresses outside protected mode */
static uint64_t x87_ptr(const struct soft_cpu *c, unsigned seg, uint64_t off)
{
	if (c->pe && !c->vm86)
		return off;
	return (uint32_t)(c->segbase[seg] + off);
}

static void put16(uint8_t *p, uint32_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint32_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/*
 * The FNSTENV/FLDENV environment (the first 14 or 28 bytes of FNSAVE/
 * FRSTOR too).  @w32: 32-bit layout (else 16-bit); @real: the real-mode
 * layout (real and virtual-8086 mode).
 */
static void env_store(const struct soft_cpu *c, const uint8_t *host,
		      uint8_t *g, bool w32, bool real)
{
	const struct vmm_fpu *f = &c->st.fpu;
	uint32_t ip = (uint32_t)f->fip, dp = (uint32_t)f->fdp;
	unsigned op = f->fop & 0x7ff;

	if (w32) {
		memset(g, 0, 28);
		memcpy(g, host, 12); /* FCW FSW FTW as the host stores them */
		if (real) {
			put32(g + 12, ip & 0xffff);
			put32(g + 16, op | ((ip >> 16) << 12));
			put32(g + 20, dp & 0xffff);
			put32(g + 24, (dp >> 16) << 12);
		} else {
			put32(g + 12, ip);
			put32(g + 16, (uint32_t)op << 16);
			put32(g + 20, dp);
		}
	} else {
		memset(g, 0, 14);
		put16(g + 0, get16(host + 0));
		put16(g + 2, get16(host + 4));
		put16(g + 4, get16(host + 8));
		if (real) {
			put16(g + 6, ip & 0xffff);
			put16(g + 8, op | (((ip >> 16) & 0xf) << 12));
			put16(g + 10, dp & 0xffff);
			put16(g + 12, ((dp >> 16) & 0xf) << 12);
		} else {
			put16(g + 6, ip & 0xffff);
			put16(g + 10, dp & 0xffff);
		}
	}
}

/* the host (32-bit protected) layout of a guest environment; the
 * pointers into @f */
static void env_load(struct vmm_fpu *f, const uint8_t *g, uint8_t *host,
		     bool w32, bool real)
{
	memset(host, 0, 28);
	if (w32) {
		memcpy(host, g, 12);
		if (real) {
			f->fip = (get32(g + 12) & 0xffff) |
				 ((get32(g + 16) >> 12) & 0xffff) << 16;
			f->fop = get32(g + 16) & 0x7ff;
			f->fdp = (get32(g + 20) & 0xffff) |
				 ((get32(g + 24) >> 12) & 0xffff) << 16;
		} else {
			f->fip = get32(g + 12);
			f->fop = (get32(g + 16) >> 16) & 0x7ff;
			f->fdp = get32(g + 20);
		}
	} else {
		put16(host + 0, get16(g + 0));
		put16(host + 4, get16(g + 2));
		put16(host + 8, get16(g + 4));
		if (real) {
			f->fip = get16(g + 6) | (get16(g + 8) >> 12) << 16;
			f->fop = get16(g + 8) & 0x7ff;
			f->fdp = get16(g + 10) | (get16(g + 12) >> 12) << 16;
		} else {
			f->fip = get16(g + 6);
			f->fdp = get16(g + 10);
		}
	}
}

enum {
	R_HOST,  /* run on the host; updates FIP/FOP */
	R_CTRL,  /* control: in C */
	R_UD,
};

/* the register forms (modrm C0-FF) */
static unsigned reg_kind(unsigned op, unsigned m)
{
	switch (op) {
	case 0xd9:
		if (m <= 0xd0 || m >= 0xd8)
			return (m == 0xe2 || m == 0xe3 || m == 0xe6 ||
				m == 0xe7 || m == 0xef) ? R_UD : R_HOST;
		return R_UD;
	case 0xda:
		return (m < 0xe0 || m == 0xe9) ? R_HOST : R_UD;
	case 0xdb:
		if (m < 0xe0 || (m >= 0xe8 && m < 0xf8))
			return R_HOST; /* FCMOVNcc, FUCOMI, FCOMI */
		if (m <= 0xe4)
			return R_CTRL; /* FNENI FNDISI FNCLEX FNINIT FNSETPM */
		return R_UD;
	case 0xdd:
		return m < 0xf0 ? R_HOST : R_UD;
	case 0xde:
		return (m >= 0xd8 && m < 0xe0 && m != 0xd9) ? R_UD : R_HOST;
	case 0xdf:
		if (m == 0xe0)
			return R_CTRL; /* FNSTSW AX */
		return (m < 0xe0 || (m >= 0xe8 && m < 0xf8)) ? R_HOST : R_UD;
	default: /* D8, DC: every form */
		return R_HOST;
	}
}

/* the memory forms */
enum {
	M_LD,    /* load @size bytes, run */
	M_ST,    /* run, store @size bytes */
	M_CWLD,  /* FLDCW: load, run, no FIP update */
	M_CWST,  /* FNSTCW */
	M_SWST,  /* FNSTSW */
	M_ENVLD, /* FLDENV / FRSTOR */
	M_ENVST, /* FNSTENV / FNSAVE */
	M_UD,
};
static const struct {
	uint8_t kind, size;
} mem_forms[8][8] = {
	/* D8 */ { { M_LD, 4 }, { M_LD, 4 }, { M_LD, 4 }, { M_LD, 4 },
		   { M_LD, 4 }, { M_LD, 4 }, { M_LD, 4 }, { M_LD, 4 } },
	/* D9 */ { { M_LD, 4 }, { M_UD, 0 }, { M_ST, 4 }, { M_ST, 4 },
		   { M_ENVLD, 0 }, { M_CWLD, 2 }, { M_ENVST, 0 }, { M_CWST, 2 } },
	/* DA */ { { M_LD, 4 }, { M_LD, 4 }, { M_LD, 4 }, { M_LD, 4 },
		   { M_LD, 4 }, { M_LD, 4 }, { M_LD, 4 }, { M_LD, 4 } },
	/* DB */ { { M_LD, 4 }, { M_ST, 4 }, { M_ST, 4 }, { M_ST, 4 },
		   { M_UD, 0 }, { M_LD, 10 }, { M_UD, 0 }, { M_ST, 10 } },
	/* DC */ { { M_LD, 8 }, { M_LD, 8 }, { M_LD, 8 }, { M_LD, 8 },
		   { M_LD, 8 }, { M_LD, 8 }, { M_LD, 8 }, { M_LD, 8 } },
	/* DD */ { { M_LD, 8 }, { M_ST, 8 }, { M_ST, 8 }, { M_ST, 8 },
		   { M_ENVLD, 80 }, { M_UD, 0 }, { M_ENVST, 80 }, { M_SWST, 2 } },
	/* DE */ { { M_LD, 2 }, { M_LD, 2 }, { M_LD, 2 }, { M_LD, 2 },
		   { M_LD, 2 }, { M_LD, 2 }, { M_LD, 2 }, { M_LD, 2 } },
	/* DF */ { { M_LD, 2 }, { M_ST, 2 }, { M_ST, 2 }, { M_ST, 2 },
		   { M_LD, 10 }, { M_LD, 8 }, { M_ST, 10 }, { M_ST, 8 } },
};

static void fninit(struct vmm_fpu *f)
{
	f->fcw = 0x37f;
	f->fsw = 0;
	f->ftw = 0;
	f->fop = 0;
	f->fip = 0;
	f->fdp = 0;
}

/* FIP/FOP (and FDP) of a non-control instruction */
static void set_last(struct soft_cpu *c, const struct soft_insn *i,
		     uint8_t modrm, bool mem, uint64_t ea)
{
	struct vmm_fpu *f = &c->st.fpu;

	f->fop = (uint16_t)(((i->op & 7) << 8) | modrm);
	f->fip = x87_ptr(c, VMM_CS, c->st.rip);
	if (mem)
		f->fdp = x87_ptr(c, i->seg, ea);
}

static int x87_reg(struct soft_cpu *c, const struct soft_insn *i,
		   unsigned op, uint8_t m)
{
	struct vmm_fpu *f = &c->st.fpu;
	struct x87_run r;

	switch (reg_kind(op, m)) {
	case R_UD:
		soft_ud(c);
	case R_CTRL:
		if (m == 0xe0 && op == 0xdf) /* FNSTSW AX */
			soft_set_reg(c, VMM_RAX, 2, f->fsw);
		if (m != 0xe2 && m != 0xe3)
			return SOFT_NEXT; /* FNENI FNDISI FNSETPM: no-ops */
		/* FNCLEX, FNINIT (no wait; FNINIT's TOP = 0 moves ST(i)) */
		build_img(f, r.img);
		host_run(&r, ((uint64_t)(op - 0xd8) << 6) | (m & 63),
			 soft_get_flags(c));
		take_img(f, r.img);
		if (m == 0xe3)
			fninit(f);
		return SOFT_NEXT;
	}
	mf_check(c, i);
	build_img(f, r.img);
	host_run(&r, ((uint64_t)(op - 0xd8) << 6) | (m & 63),
		 soft_get_flags(c));
	take_img(f, r.img);
	set_last(c, i, m, false, 0);
	/* FCOMI FUCOMI FCOMIP FUCOMIP: ZF PF CF (OF SF AF clear); the
	 * hardware sets them even for an unmasked invalid operation */
	if ((op == 0xdb || op == 0xdf) && m >= 0xe8 && m < 0xf8)
		soft_flags_set_arith(c, (r.zf ? FL_ZF : 0) |
					(r.pf ? FL_PF : 0) |
					(r.cf ? FL_CF : 0));
	return SOFT_NEXT;
}

/* D8-DF */
static int op_x87(struct soft_cpu *c, const struct soft_insn *i)
{
	struct vmm_fpu *f = &c->st.fpu;
	unsigned op = i->op & 0xff, sub = i->reg & 7;
	uint8_t m = (uint8_t)((i->mod << 6) | (sub << 3) | (i->rm & 7));
	unsigned kind = mem_forms[op - 0xd8][sub].kind;
	unsigned n = mem_forms[op - 0xd8][sub].size;
	uint64_t slot = 512 + (op - 0xd8) * 8 + sub, ea;
	bool real = !c->pe || c->vm86, w32 = i->osz != 2;
	struct x87_run r;

	if (c->st.cr0 & (VMM_CR0_EM | VMM_CR0_TS))
		soft_fault_noerr(c, 7);
	if (i->mod == 3)
		return x87_reg(c, i, op, m);
	if (kind == M_UD)
		soft_ud(c);
	ea = soft_ea(c, i);
	switch (kind) {
	case M_CWST:
		soft_st(c, i->seg, ea, 2, f->fcw);
		return SOFT_NEXT;
	case M_SWST:
		soft_st(c, i->seg, ea, 2, f->fsw);
		return SOFT_NEXT;
	case M_ENVST: { /* FNSTENV / FNSAVE (n = 80: the registers too) */
		unsigned envn = w32 ? 28 : 14;
		uint8_t g[108];

		build_img(f, r.img);
		host_run(&r, slot, soft_get_flags(c));
		env_store(c, r.mem, g, w32, real);
		memcpy(g + envn, r.mem + 28, n);
		soft_write_lin(c, soft_lin_fast(c, i->seg, ea, envn + n, true),
			       g, envn + n, c->tlb_user);
		take_img(f, r.img);
		if (n) /* FNSAVE re-initializes */
			fninit(f);
		return SOFT_NEXT;
	}
	case M_ENVLD: { /* FLDENV / FRSTOR */
		unsigned envn = w32 ? 28 : 14;
		struct vmm_fpu nf = *f;
		uint8_t g[108];

		mf_check(c, i);
		soft_read_lin(c, soft_lin_fast(c, i->seg, ea, envn + n, false),
			      g, envn + n, c->tlb_user);
		build_img(f, r.img);
		env_load(&nf, g, r.mem, w32, real);
		memcpy(r.mem + 28, g + envn, n);
		host_run(&r, slot, soft_get_flags(c));
		take_img(&nf, r.img);
		*f = nf;
		return SOFT_NEXT;
	}
	case M_CWLD:
	case M_LD: {
		uint64_t v;

		mf_check(c, i);
		memset(r.mem, 0, 16);
		if (n == 10) {
			v = soft_ld(c, i->seg, ea, 8);
			memcpy(r.mem, &v, 8);
			v = soft_ld(c, i->seg, ea + 8, 2);
			memcpy(r.mem + 8, &v, 2);
		} else {
			v = soft_ld(c, i->seg, ea, n);
			memcpy(r.mem, &v, n);
		}
		build_img(f, r.img);
		host_run(&r, slot, soft_get_flags(c));
		take_img(f, r.img);
		if (kind == M_LD)
			set_last(c, i, m, true, ea);
		return SOFT_NEXT;
	}
	default: { /* M_ST */
		uint64_t v = 0;
		bool stored;

		mf_check(c, i);
		soft_probe_write(c, i->seg, ea, n);
		build_img(f, r.img);
		stored = host_store(&r, slot, n, soft_get_flags(c));
		if (stored) {
			if (n == 10) {
				memcpy(&v, r.mem, 8);
				soft_st(c, i->seg, ea, 8, v);
				v = 0;
				memcpy(&v, r.mem + 8, 2);
				soft_st(c, i->seg, ea + 8, 2, v);
			} else {
				memcpy(&v, r.mem, n);
				soft_st(c, i->seg, ea, n, v);
			}
		}
		take_img(f, r.img);
		set_last(c, i, m, true, ea);
		return SOFT_NEXT;
	}
	}
}

void soft_register_x87(soft_fn *t)
{
	for (unsigned op = 0xd8; op <= 0xdf; op++)
		t[op] = op_x87;
	t[0x9b] = op_fwait;
}

#else /* not an x86-64 host: D8-DF stay in fpu.c (control forms only) */

void soft_register_x87(soft_fn *t)
{
	t[0x9b] = op_fwait;
}

#endif
