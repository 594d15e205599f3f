/* SPDX-License-Identifier: MIT */
/*
 * emit.h - a small x86-64 machine-code emitter for the JIT (jit.c): the
 * few instruction shapes the translator needs, every one with a register
 * or a [base + disp32] memory operand, sized 1, 2, 4 or 8 bytes.  Bytes
 * go to a bounded buffer; running past its end sets @overflow and the
 * translation is dropped (nothing is written past the end).
 */
#ifndef LIBVMM_SOFT_JIT_EMIT_H
#define LIBVMM_SOFT_JIT_EMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* host registers */
enum { H_RAX, H_RCX, H_RDX, H_RBX, H_RSP, H_RBP, H_RSI, H_RDI,
       H_R8, H_R9, H_R10, H_R11, H_R12, H_R13, H_R14, H_R15 };

struct jit_emit {
	uint8_t *p, *end; /* writable view */
	uint8_t *start;
	bool overflow;
};

static inline void e_b(struct jit_emit *e, uint8_t b)
{
	if (e->p >= e->end) {
		e->overflow = true;
		return;
	}
	*e->p++ = b;
}

static inline void e_d(struct jit_emit *e, uint32_t v)
{
	for (int k = 0; k < 4; k++)
		e_b(e, (uint8_t)(v >> (8 * k)));
}

static inline void e_q(struct jit_emit *e, uint64_t v)
{
	e_d(e, (uint32_t)v);
	e_d(e, (uint32_t)(v >> 32));
}

static inline size_t e_pos(const struct jit_emit *e)
{
	return (size_t)(e->p - e->start);
}

/*
 * Prefixes and REX for an operation of @size bytes with ModRM.reg = @reg
 * and ModRM.rm (or base) = @rm; @byte_regs: 1-byte register operands
 * (SPL/BPL/SIL/DIL need a REX prefix to be named).
 */
static inline void e_pfx(struct jit_emit *e, unsigned size, unsigned reg,
			 unsigned rm, bool byte_regs)
{
	uint8_t rex = 0x40;

	if (size == 2)
		e_b(e, 0x66);
	if (size == 8)
		rex |= 8;
	if (reg & 8)
		rex |= 4;
	if (rm & 8)
		rex |= 1;
	if (rex != 0x40 || (byte_regs && ((reg & 7) >= 4 || (rm & 7) >= 4)))
		e_b(e, rex);
}

static inline void e_ops(struct jit_emit *e, const uint8_t *op, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		e_b(e, op[k]);
}

/* ModRM for [base + disp] (base not RSP/R12): no displacement when it
 * is 0 (but RBP/R13 as a base need one), disp8 when it fits, else
 * disp32.  Nothing patches these bytes (only rel32s of jumps are
 * patched, e_patch), so their length may vary. */
static inline void e_mem(struct jit_emit *e, unsigned reg, unsigned base,
			 int32_t disp)
{
	uint8_t rm = (uint8_t)(((reg & 7) << 3) | (base & 7));

	if (disp == 0 && (base & 7) != H_RBP) {
		e_b(e, rm);
	} else if (disp >= -128 && disp <= 127) {
		e_b(e, (uint8_t)(0x40 | rm));
		e_b(e, (uint8_t)disp);
	} else {
		e_b(e, (uint8_t)(0x80 | rm));
		e_d(e, (uint32_t)disp);
	}
}

/* op reg, [base + disp] (or op [base + disp], reg): opcode bytes @op */
static inline void e_rm(struct jit_emit *e, const uint8_t *op, unsigned n,
			unsigned size, unsigned reg, unsigned base,
			int32_t disp)
{
	e_pfx(e, size, reg, base, size == 1);
	e_ops(e, op, n);
	e_mem(e, reg, base, disp);
}

/* op reg, rm (register-register) */
static inline void e_rr(struct jit_emit *e, const uint8_t *op, unsigned n,
			unsigned size, unsigned reg, unsigned rm)
{
	e_pfx(e, size, reg, rm, size == 1);
	e_ops(e, op, n);
	e_b(e, (uint8_t)(0xc0 | ((reg & 7) << 3) | (rm & 7)));
}

/* op reg, rm with 1-byte register operands named by REX (SPL-DIL,
 * R8B-R15B): MOVZX/MOVSX of a byte register */
static inline void e_rr_b(struct jit_emit *e, const uint8_t *op, unsigned n,
			  unsigned size, unsigned reg, unsigned rm)
{
	e_pfx(e, size, reg, rm, true);
	e_ops(e, op, n);
	e_b(e, (uint8_t)(0xc0 | ((reg & 7) << 3) | (rm & 7)));
}

static inline void e_push(struct jit_emit *e, unsigned r)
{
	if (r & 8)
		e_b(e, 0x41);
	e_b(e, (uint8_t)(0x50 + (r & 7)));
}

static inline void e_pop(struct jit_emit *e, unsigned r)
{
	if (r & 8)
		e_b(e, 0x41);
	e_b(e, (uint8_t)(0x58 + (r & 7)));
}

/*
 * lea dst, [base + index << scale + disp] of @size (8: 64 bits; 4: the
 * address cut to 32 bits, zero-extended); base/index -1: none; neither
 * is RSP.  The shortest form: no SIB without an index (unless the base
 * is R12), disp8 or none where it fits.
 */
static inline void e_lea_sz(struct jit_emit *e, unsigned size, unsigned dst,
			    int base, int index, unsigned scale,
			    int32_t disp)
{
	uint8_t rex = size == 8 ? 0x48 : 0x40;
	unsigned mod;

	if (dst & 8)
		rex |= 4;
	if (index >= 0 && (index & 8))
		rex |= 2;
	if (base >= 0 && (base & 8))
		rex |= 1;
	if (rex != 0x40)
		e_b(e, rex);
	e_b(e, 0x8d);
	if (base < 0) {
		/* [index << scale + disp32] (or [disp32]): SIB, base 101 */
		e_b(e, (uint8_t)(((dst & 7) << 3) | 4));
		e_b(e, (uint8_t)((scale << 6) |
				 ((index >= 0 ? (unsigned)index & 7 : 4) << 3) |
				 5));
		e_d(e, (uint32_t)disp);
		return;
	}
	if (disp == 0 && (base & 7) != H_RBP)
		mod = 0;
	else if (disp >= -128 && disp <= 127)
		mod = 1;
	else
		mod = 2;
	if (index < 0 && (base & 7) != H_RSP) {
		e_b(e, (uint8_t)((mod << 6) | ((dst & 7) << 3) |
				 ((unsigned)base & 7)));
	} else {
		e_b(e, (uint8_t)((mod << 6) | ((dst & 7) << 3) | 4));
		e_b(e, (uint8_t)((scale << 6) |
				 ((index >= 0 ? (unsigned)index & 7 : 4) << 3) |
				 ((unsigned)base & 7)));
	}
	if (mod == 1)
		e_b(e, (uint8_t)disp);
	else if (mod == 2)
		e_d(e, (uint32_t)disp);
}

/* the 64-bit lea (e_lea_sz) */
static inline void e_lea(struct jit_emit *e, unsigned dst, int base,
			 int index, unsigned scale, int32_t disp)
{
	e_lea_sz(e, 8, dst, base, index, scale, disp);
}

/* add (/0) or sub (/5) rsp, 8 */
static inline void e_alu_ri8_rsp(struct jit_emit *e, unsigned ext)
{
	e_b(e, 0x48);
	e_b(e, 0x83);
	e_b(e, (uint8_t)(0xc0 | (ext << 3) | H_RSP));
	e_b(e, 8);
}

#define OPS(...) (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ })

/* dst(64) = zero-extended @size bytes at [base + disp] */
static inline void e_load(struct jit_emit *e, unsigned dst, unsigned base,
			  int32_t disp, unsigned size)
{
	switch (size) {
	case 1: e_rm(e, OPS(0x0f, 0xb6), 4, dst, base, disp); break;
	case 2: e_rm(e, OPS(0x0f, 0xb7), 4, dst, base, disp); break;
	case 4: e_rm(e, OPS(0x8b), 4, dst, base, disp); break;
	default: e_rm(e, OPS(0x8b), 8, dst, base, disp); break;
	}
}

/* dst(64) = sign-extended @size bytes at [base + disp] */
static inline void e_loads(struct jit_emit *e, unsigned dst, unsigned base,
			   int32_t disp, unsigned size)
{
	switch (size) {
	case 1: e_rm(e, OPS(0x0f, 0xbe), 8, dst, base, disp); break;
	case 2: e_rm(e, OPS(0x0f, 0xbf), 8, dst, base, disp); break;
	case 4: e_rm(e, OPS(0x63), 8, dst, base, disp); break;
	default: e_rm(e, OPS(0x8b), 8, dst, base, disp); break;
	}
}

/* @size bytes at [base + disp] = low bytes of src */
static inline void e_store(struct jit_emit *e, unsigned src, unsigned base,
			   int32_t disp, unsigned size)
{
	if (size == 1)
		e_rm(e, OPS(0x88), 1, src, base, disp);
	else
		e_rm(e, OPS(0x89), size, src, base, disp);
}

/* 64-bit reg = reg OP src (OP: 01 add, 09 or, 21 and, 29 sub, 31 xor) */
static inline void e_alu_rr(struct jit_emit *e, uint8_t op, unsigned dst,
			    unsigned src)
{
	e_rr(e, &op, 1, 8, src, dst);
}

/* reg = zero-extension of its low @size bytes */
static inline void e_zext(struct jit_emit *e, unsigned r, unsigned size)
{
	switch (size) {
	case 1: e_rr(e, OPS(0x0f, 0xb6), 1, r, r); break;
	case 2: e_rr(e, OPS(0x0f, 0xb7), 4, r, r); break;
	case 4: e_rr(e, OPS(0x89), 4, r, r); break;
	default: break;
	}
}

/* reg = sign-extension of its low @size bytes to 64 bits */
static inline void e_sext(struct jit_emit *e, unsigned r, unsigned size)
{
	switch (size) {
	case 1: e_rr(e, OPS(0x0f, 0xbe), 1, r, r); /* byte reg read */
		e_rr(e, OPS(0x63), 8, r, r);       /* 32 -> 64 */
		break;
	case 2: e_rr(e, OPS(0x0f, 0xbf), 8, r, r); break;
	case 4: e_rr(e, OPS(0x63), 8, r, r); break;
	default: break;
	}
}

/* reg = imm (64 bits) */
static inline void e_movi(struct jit_emit *e, unsigned r, uint64_t v)
{
	if (v <= 0xffffffffull) {
		e_pfx(e, 4, 0, r, false);
		e_b(e, (uint8_t)(0xb8 + (r & 7)));
		e_d(e, (uint32_t)v);
	} else if ((uint64_t)(int64_t)(int32_t)v == v) {
		e_pfx(e, 8, 0, r, false);
		e_b(e, 0xc7);
		e_b(e, (uint8_t)(0xc0 | (r & 7)));
		e_d(e, (uint32_t)v);
	} else {
		e_pfx(e, 8, 0, r, false);
		e_b(e, (uint8_t)(0xb8 + (r & 7)));
		e_q(e, v);
	}
}

/* 64-bit op [base + disp], imm32 (sign-extended): /ext of 81 */
static inline void e_mem_imm(struct jit_emit *e, unsigned ext, unsigned base,
			     int32_t disp, int32_t imm, unsigned size)
{
	e_rm(e, OPS(0x81), size, ext, base, disp);
	e_d(e, (uint32_t)imm);
}

/* dword [base + disp] = imm32 */
static inline void e_st32i(struct jit_emit *e, unsigned base, int32_t disp,
			   uint32_t imm)
{
	e_rm(e, OPS(0xc7), 4, 0, base, disp);
	e_d(e, imm);
}

/* 64-bit shift of reg by imm: /ext 4 shl, 5 shr, 7 sar */
static inline void e_shift_i(struct jit_emit *e, unsigned ext, unsigned r,
			     uint8_t n)
{
	e_rr(e, OPS(0xc1), 8, ext, r);
	e_b(e, n);
}

/* 64-bit op reg, imm32 (sign-extended): /ext of 81 */
static inline void e_alu_ri(struct jit_emit *e, unsigned ext, unsigned r,
			    int32_t imm)
{
	e_rr(e, OPS(0x81), 8, ext, r);
	e_d(e, (uint32_t)imm);
}

/* call the absolute address @fn (through RAX) */
static inline void e_call(struct jit_emit *e, const void *fn)
{
	e_movi(e, H_RAX, (uint64_t)(uintptr_t)fn);
	e_b(e, 0xff);
	e_b(e, 0xd0);
}

/* jcc rel32 to be patched: returns the position of the rel32 */
static inline size_t e_jcc32(struct jit_emit *e, uint8_t cc)
{
	e_b(e, 0x0f);
	e_b(e, (uint8_t)(0x80 | cc));
	e_d(e, 0);
	return e_pos(e) - 4;
}

static inline size_t e_jmp32(struct jit_emit *e)
{
	e_b(e, 0xe9);
	e_d(e, 0);
	return e_pos(e) - 4;
}

/* point the rel32 at @at to position @to */
static inline void e_patch(struct jit_emit *e, size_t at, size_t to)
{
	int32_t rel = (int32_t)((int64_t)to - (int64_t)(at + 4));

	if (e->overflow || at + 4 > (size_t)(e->end - e->start))
		return;
	memcpy(e->start + at, &rel, 4);
}

/* host condition codes */
enum { CC_E = 4, CC_NE = 5, CC_A = 7 };

#endif
