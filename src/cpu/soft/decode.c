/* SPDX-License-Identifier: MIT */
/*
 * decode.c - the one table-driven x86 decoder for 16-, 32- and 64-bit code:
 * legacy prefixes (66, 67, segment overrides, F2/F3, LOCK), REX, the
 * one-byte, 0F, 0F38 and 0F3A maps, ModRM/SIB/displacement (16-bit forms,
 * RIP-relative), immediates, the 15-byte limit.  It produces a struct
 * soft_insn with everything the handler needs resolved; the handler is
 * soft_handlers[op].
 */
#include "cpu/soft/soft.h"

/* Attributes of an opcode. */
#define A_M 0x0001     /* ModRM */
#define A_B 0x0002     /* byte operation */
#define A_I8 0x0004    /* imm8 (sign-extended) */
#define A_IZ 0x0008    /* imm16/32 (sign-extended to 64) */
#define A_IV 0x0010    /* imm of operand size (B8+r) */
#define A_IW 0x0020    /* imm16 */
#define A_ENTER 0x0040 /* imm16 + imm8 */
#define A_MOFFS 0x0080 /* address-size offset */
#define A_FAR 0x0100   /* ptr16:16/32 */
#define A_D64 0x0200   /* 64-bit default operand size in 64-bit mode */
#define A_F64 0x0400   /* 64-bit operand size forced in 64-bit mode */
#define A_I64 0x0800   /* invalid in 64-bit mode */
#define A_END 0x1000   /* ends a translated block */
#define A_PFX 0x2000   /* a prefix byte */
#define A_GRP3 0x4000  /* F6/F7: immediate only for /0 and /1 */
#define A_UD 0x8000    /* undefined */

#define R8(a) a, a, a, a, a, a, a, a
#define R16(a) R8(a), R8(a)

/* The ALU block pattern of 00-05, 08-0D, ...: Eb,Gb Ev,Gv Gb,Eb Gv,Ev AL,Ib eAX,Iz */
#define ALU6 A_M | A_B, A_M, A_M | A_B, A_M, A_B | A_I8, A_IZ

static const uint16_t attr1[256] = {
	/* 00 */ ALU6, A_I64, A_I64,
	/* 08 */ ALU6, A_I64, 0 /* 0F escape */,
	/* 10 */ ALU6, A_I64, A_I64 | A_END,
	/* 18 */ ALU6, A_I64, A_I64,
	/* 20 */ ALU6, A_PFX, A_I64,
	/* 28 */ ALU6, A_PFX, A_I64,
	/* 30 */ ALU6, A_PFX, A_I64,
	/* 38 */ ALU6, A_PFX, A_I64,
	/* 40 */ R16(0),
	/* 50 */ R16(A_D64),
	/* 60 */ A_I64, A_I64, A_I64 | A_M, A_M, A_PFX, A_PFX, A_PFX, A_PFX,
	/* 68 */ A_IZ | A_D64, A_M | A_IZ, A_I8 | A_D64, A_M | A_I8, A_B, 0,
		 A_B, 0,
	/* 70 */ R16(A_I8 | A_F64 | A_END),
	/* 80 */ A_M | A_B | A_I8, A_M | A_IZ, A_M | A_B | A_I8 | A_I64,
		 A_M | A_I8, A_M | A_B, A_M, A_M | A_B, A_M,
	/* 88 */ A_M | A_B, A_M, A_M | A_B, A_M, A_M, A_M, A_M | A_END,
		 A_M | A_D64,
	/* 90 */ R8(0),
	/* 98 */ 0, 0, A_FAR | A_I64 | A_END, 0, A_D64, A_D64 | A_END, 0, 0,
	/* a0 */ A_MOFFS | A_B, A_MOFFS, A_MOFFS | A_B, A_MOFFS, A_B, 0, A_B,
		 0,
	/* a8 */ A_B | A_I8, A_IZ, A_B, 0, A_B, 0, A_B, 0,
	/* b0 */ R8(A_B | A_I8),
	/* b8 */ R8(A_IV),
	/* c0 */ A_M | A_B | A_I8, A_M | A_I8, A_IW | A_F64 | A_END,
		 A_F64 | A_END, A_M | A_I64, A_M | A_I64, A_M | A_B | A_I8,
		 A_M | A_IZ,
	/* c8 */ A_ENTER | A_D64, A_D64, A_IW | A_END, A_END, A_END,
		 A_I8 | A_END, A_I64 | A_END, A_END,
	/* d0 */ A_M | A_B, A_M, A_M | A_B, A_M, A_I8 | A_I64, A_I8 | A_I64,
		 A_UD, 0,
	/* d8 */ R8(A_M),
	/* e0 */ A_I8 | A_F64 | A_END, A_I8 | A_F64 | A_END,
		 A_I8 | A_F64 | A_END, A_I8 | A_F64 | A_END, A_B | A_I8, A_I8,
		 A_B | A_I8, A_I8,
	/* e8 */ A_IZ | A_F64 | A_END, A_IZ | A_F64 | A_END,
		 A_FAR | A_I64 | A_END, A_I8 | A_F64 | A_END, A_B, 0, A_B, 0,
	/* f0 */ A_PFX, A_END, A_PFX, A_PFX, A_END, 0, A_M | A_B | A_GRP3,
		 A_M | A_GRP3,
	/* f8 */ 0, 0, 0, A_END, 0, 0, A_M | A_B, A_M,
};

static const uint16_t attr2[256] = {
	/* 00 */ A_M | A_END, A_M | A_END, A_M, A_M, A_UD, A_END, 0, A_END,
	/* 08 */ 0, 0, A_UD, A_END, A_UD, A_M, A_UD, A_UD,
	/* 10 */ R16(A_M),
	/* 20 */ A_M | A_END, A_M | A_END, A_M | A_END, A_M | A_END, A_UD,
		 A_UD, A_UD, A_UD,
	/* 28 */ R8(A_M),
	/* 30 */ A_END, 0, 0, 0, A_END, A_END, A_UD, A_UD,
	/* 38 */ A_M, A_UD, A_M | A_I8, A_UD, A_UD, A_UD, A_UD, A_UD,
	/* 40 */ R16(A_M),
	/* 50 */ R16(A_M),
	/* 60 */ R16(A_M),
	/* 70 */ A_M | A_I8, A_M | A_I8, A_M | A_I8, A_M | A_I8, A_M, A_M, A_M,
		 0,
	/* 78 */ A_UD, A_UD, A_UD, A_UD, A_M, A_M, A_M, A_M,
	/* 80 */ R16(A_IZ | A_F64 | A_END),
	/* 90 */ R16(A_M | A_B),
	/* a0 */ A_D64, A_D64, 0, A_M, A_M | A_I8, A_M, A_UD, A_UD,
	/* a8 */ A_D64, A_D64, A_UD, A_M, A_M | A_I8, A_M, A_M, A_M,
	/* b0 */ A_M | A_B, A_M, A_M, A_M, A_M, A_M, A_M, A_M,
	/* b8 */ A_M, A_M, A_M | A_I8, A_M, A_M, A_M, A_M, A_M,
	/* c0 */ A_M | A_B, A_M, A_M | A_I8, A_M, A_M | A_I8, A_M | A_I8,
		 A_M | A_I8, A_M,
	/* c8 */ R8(0),
	/* d0 */ R16(A_M),
	/* e0 */ R16(A_M),
	/* f0 */ R16(A_M),
};

/* 16-bit addressing: base and index of ModRM.rm 0-7 */
static const uint8_t rm16_base[8] = { VMM_RBX, VMM_RBX, VMM_RBP, VMM_RBP,
				      SOFT_NOREG, SOFT_NOREG, VMM_RBP,
				      VMM_RBX };
static const uint8_t rm16_index[8] = { VMM_RSI, VMM_RDI, VMM_RSI, VMM_RDI,
				       VMM_RSI, VMM_RDI, SOFT_NOREG,
				       SOFT_NOREG };

struct dstate {
	const uint8_t *buf;
	unsigned avail, pos;
	int err;
};

static inline int fetch(struct dstate *d, uint8_t *b)
{
	if (d->pos >= 15) {
		d->err = SOFT_DEC_GP;
		return -1;
	}
	if (d->pos >= d->avail) {
		d->err = SOFT_DEC_MORE;
		return -1;
	}
	*b = d->buf[d->pos++];
	return 0;
}

static int fetch_n(struct dstate *d, unsigned n, uint64_t *v)
{
	uint64_t r = 0;

	for (unsigned k = 0; k < n; k++) {
		uint8_t b;
		if (fetch(d, &b))
			return -1;
		r |= (uint64_t)b << (8 * k);
	}
	*v = r;
	return 0;
}

/* Does this 0F opcode take F2/F3/66 as a mandatory prefix (SSE)? */
static bool sse_op(unsigned op)
{
	unsigned lo = op & 0xff;

	if (op == 0x2f0 || op == 0x2f1) /* MOVBE */
		return false;
	if (op < 0x100 || op >= 0x200)
		return op >= 0x200;
	return (lo >= 0x10 && lo <= 0x17) || (lo >= 0x28 && lo <= 0x2f) ||
	       (lo >= 0x50 && lo <= 0x7f) || (lo >= 0xc2 && lo <= 0xc6) ||
	       lo >= 0xd0;
}

static int decode_modrm(struct dstate *d, struct soft_insn *in, unsigned rex,
			bool lm)
{
	uint8_t m, sib;
	uint64_t v;

	if (fetch(d, &m))
		return -1;
	in->mod = m >> 6;
	in->reg = ((m >> 3) & 7) | ((rex & 4) << 1);
	in->rm = (m & 7) | ((rex & 1) << 3);
	in->reg8 = (!rex && in->reg >= 4 && in->reg < 8) ? in->reg + 12 : in->reg;
	in->rm8 = (!rex && in->rm >= 4 && in->rm < 8) ? in->rm + 12 : in->rm;
	in->base = in->index = SOFT_NOREG;
	in->scale = 0;
	in->disp = 0;
	if (in->mod == 3)
		return 0;
	if (in->asz == 2) {
		unsigned r = m & 7;
		if (in->mod == 0 && r == 6) {
			if (fetch_n(d, 2, &v))
				return -1;
			in->disp = (int16_t)v;
		} else {
			in->base = rm16_base[r];
			in->index = rm16_index[r];
			if (in->mod == 1) {
				if (fetch_n(d, 1, &v))
					return -1;
				in->disp = (int8_t)v;
			} else if (in->mod == 2) {
				if (fetch_n(d, 2, &v))
					return -1;
				in->disp = (int16_t)v;
			}
			if (!(in->pfx & PFX_SEG) && in->base == VMM_RBP)
				in->seg = VMM_SS;
		}
		return 0;
	}
	if ((m & 7) == 4) {
		if (fetch(d, &sib))
			return -1;
		in->scale = sib >> 6;
		in->index = ((sib >> 3) & 7) | ((rex & 2) << 2);
		if (in->index == VMM_RSP)
			in->index = SOFT_NOREG;
		in->base = (sib & 7) | ((rex & 1) << 3);
		if ((sib & 7) == 5 && in->mod == 0) {
			in->base = SOFT_NOREG;
			if (fetch_n(d, 4, &v))
				return -1;
			in->disp = (int32_t)v;
		}
	} else if ((m & 7) == 5 && in->mod == 0) {
		in->base = lm ? SOFT_RIPREL : SOFT_NOREG;
		if (fetch_n(d, 4, &v))
			return -1;
		in->disp = (int32_t)v;
	} else {
		in->base = in->rm;
	}
	if (in->mod == 1) {
		if (fetch_n(d, 1, &v))
			return -1;
		in->disp = (int8_t)v;
	} else if (in->mod == 2) {
		if (fetch_n(d, 4, &v))
			return -1;
		in->disp = (int32_t)v;
	}
	if (!(in->pfx & PFX_SEG) &&
	    (in->base == VMM_RSP || in->base == VMM_RBP))
		in->seg = VMM_SS;
	return 0;
}

/* LOCK is allowed only on these read-modify-writes of memory */
static bool lockable(unsigned op, const struct soft_insn *in)
{
	unsigned r = in->reg & 7;

	if (in->mod == 3)
		return false;
	if (op < 0x40)
		return (op & 7) < 2 && (op & 0x38) != 0x38;
	switch (op) {
	case 0x80: case 0x81: case 0x82: case 0x83: return r != 7;
	case 0x86: case 0x87: return true;
	case 0xf6: case 0xf7: return r == 2 || r == 3;
	case 0xfe: case 0xff: return r < 2;
	case 0x1ab: case 0x1b3: case 0x1bb: return true;
	case 0x1ba: return r >= 5;
	case 0x1b0: case 0x1b1: case 0x1c0: case 0x1c1: return true;
	case 0x1c7: return r == 1;
	}
	return false;
}

int soft_decode(const uint8_t *buf, unsigned avail, unsigned csz,
		struct soft_insn *in, bool *end_block)
{
	struct dstate d = { buf, avail, 0, 0 };
	bool lm = csz == 8;
	unsigned rex = 0, op, a, osz;
	uint8_t b;
	uint64_t v;
	bool opsz = false, adsz = false;

	memset(in, 0, sizeof(*in));
	in->seg = VMM_DS;
	*end_block = false;
	for (;;) {
		if (fetch(&d, &b))
			return d.err;
		a = attr1[b];
		if (lm && (b & 0xf0) == 0x40) {
			rex = b;
			continue; /* a REX must be last; a prefix after it voids it */
		}
		if (!(a & A_PFX))
			break;
		rex = 0;
		switch (b) {
		case 0x26: in->seg = VMM_ES; in->pfx |= PFX_SEG; break;
		case 0x2e: in->seg = VMM_CS; in->pfx |= PFX_SEG; break;
		case 0x36: in->seg = VMM_SS; in->pfx |= PFX_SEG; break;
		case 0x3e: in->seg = VMM_DS; in->pfx |= PFX_SEG; break;
		case 0x64: in->seg = VMM_FS; in->pfx |= PFX_SEG; break;
		case 0x65: in->seg = VMM_GS; in->pfx |= PFX_SEG; break;
		case 0x66: opsz = true; break;
		case 0x67: adsz = true; break;
		case 0xf0: in->pfx |= PFX_LOCK; break;
		case 0xf2: in->pfx = (in->pfx & ~PFX_REP) | PFX_REPNE; break;
		case 0xf3: in->pfx = (in->pfx & ~PFX_REPNE) | PFX_REP; break;
		}
	}
	/* in 64-bit mode only FS/GS overrides have a base; keep the others
	 * (their base is 0 and limits are not checked) */
	op = b;
	if (b == 0x0f) {
		if (fetch(&d, &b))
			return d.err;
		op = 0x100 | b;
		a = attr2[b];
		if (b == 0x38 || b == 0x3a) {
			uint8_t b3;
			if (fetch(&d, &b3))
				return d.err;
			op = (b == 0x38 ? 0x200 : 0x300) | b3;
			a = A_M | (b == 0x3a ? A_I8 : 0);
		}
	}
	if (rex) {
		in->pfx |= PFX_REX;
		if (rex & 8)
			in->pfx |= PFX_REXW;
	}
	if (opsz)
		in->pfx |= PFX_OPSZ;
	if (adsz)
		in->pfx |= PFX_ADSZ;
	in->op = (uint16_t)op;

	/* sizes */
	if (lm) {
		in->asz = adsz ? 4 : 8;
		if (rex & 8)
			osz = 8;
		else if (a & A_F64)
			osz = 8;
		else if (opsz && !sse_op(op))
			osz = 2;
		else if (a & A_D64)
			osz = 8;
		else
			osz = 4;
		if ((a & A_F64) && !(rex & 8) && opsz)
			osz = 8; /* Intel: 66 ignored on near branches */
	} else {
		bool big = csz == 4;
		in->asz = (big ^ adsz) ? 4 : 2;
		osz = (big ^ (opsz && !sse_op(op))) ? 4 : 2;
	}
	if (a & A_B)
		osz = 1;
	in->osz = (uint8_t)osz;

	if ((a & A_UD) || (lm && (a & A_I64)))
		goto ud;
	if (lm && (op == 0xc4 || op == 0xc5))
		goto ud; /* VEX: not implemented */

	if (a & A_M) {
		if (decode_modrm(&d, in, rex, lm))
			return d.err;
	} else {
		/* register in the low opcode bits */
		in->rm = (op & 7) | ((rex & 1) << 3);
		in->rm8 = (!rex && in->rm >= 4 && in->rm < 8) ? in->rm + 12 :
								in->rm;
		in->reg = in->rm;
		in->reg8 = in->rm8;
		in->base = in->index = SOFT_NOREG;
	}

	/* immediates */
	if (a & A_I8 || ((a & A_GRP3) && (in->reg & 7) < 2 && osz == 1)) {
		if (fetch_n(&d, 1, &v))
			return d.err;
		in->imm = (uint64_t)(int64_t)(int8_t)v;
	} else if (a & A_IZ || ((a & A_GRP3) && (in->reg & 7) < 2)) {
		unsigned n = osz == 2 ? 2 : 4;
		if (fetch_n(&d, n, &v))
			return d.err;
		in->imm = n == 2 ? (uint64_t)(int64_t)(int16_t)v :
				   (uint64_t)(int64_t)(int32_t)v;
	} else if (a & A_IV) {
		if (fetch_n(&d, osz, &v))
			return d.err;
		in->imm = v;
	} else if (a & A_IW) {
		if (fetch_n(&d, 2, &v))
			return d.err;
		in->imm = v;
	} else if (a & A_ENTER) {
		if (fetch_n(&d, 2, &v))
			return d.err;
		in->imm = v;
		if (fetch_n(&d, 1, &v))
			return d.err;
		in->imm2 = (uint16_t)v;
	} else if (a & A_MOFFS) {
		if (fetch_n(&d, in->asz, &v))
			return d.err;
		in->disp = (int64_t)v;
	} else if (a & A_FAR) {
		if (fetch_n(&d, osz == 2 ? 2 : 4, &v))
			return d.err;
		in->imm = v;
		if (fetch_n(&d, 2, &v))
			return d.err;
		in->imm2 = (uint16_t)v;
	}
	in->len = (uint8_t)d.pos;
	if ((in->pfx & PFX_LOCK) && !lockable(op, in))
		goto ud_len;
	in->fn = NULL; /* the caller takes it from its handler table */
	*end_block = (a & A_END) != 0;
	/* group opcodes that end blocks depending on ModRM.reg */
	if (op == 0xff && ((in->reg & 7) >= 2 && (in->reg & 7) <= 5))
		*end_block = true;
	if (op == 0xff && ((in->reg & 7) == 2 || (in->reg & 7) == 4) && lm)
		in->osz = 8;
	if (op == 0xff && (in->reg & 7) == 6 && lm && !(rex & 8) && !opsz)
		in->osz = 8;
	return 0;
ud:
	in->len = (uint8_t)(d.pos ? d.pos : 1);
ud_len:
	in->fn = soft_op_ud;
	in->mod = 3;
	*end_block = true;
	return 0;
}
