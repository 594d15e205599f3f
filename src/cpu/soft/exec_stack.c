/* SPDX-License-Identifier: MIT */
/*
 * exec_stack.c - the stack: PUSH/POP of registers, immediates, memory and
 * segment registers, PUSHA/POPA, PUSHF/POPF with the IOPL/VM rules,
 * ENTER/LEAVE.  Stack writes happen before RSP changes, so a fault leaves
 * RSP as it was.
 */
#include "cpu/soft/thread.h"

static inline void set_sp(struct soft_cpu *c, uint64_t sp)
{
	uint64_t m = soft_sp_mask(c);

	c->st.gpr[VMM_RSP] = (c->st.gpr[VMM_RSP] & ~m) | (sp & m);
}

void soft_push(struct soft_cpu *c, unsigned size, uint64_t v)
{
	uint64_t sp = (c->st.gpr[VMM_RSP] - size) & soft_sp_mask(c);

	soft_st(c, VMM_SS, sp, size, v);
	set_sp(c, sp);
}

uint64_t soft_peek(struct soft_cpu *c, unsigned off, unsigned size)
{
	uint64_t sp = (c->st.gpr[VMM_RSP] + off) & soft_sp_mask(c);

	return soft_ld(c, VMM_SS, sp, size);
}

uint64_t soft_pop(struct soft_cpu *c, unsigned size)
{
	uint64_t sp = c->st.gpr[VMM_RSP] & soft_sp_mask(c);
	uint64_t v = soft_ld(c, VMM_SS, sp, size);

	set_sp(c, sp + size);
	return v;
}

static int op_push_r(struct soft_cpu *c, const struct soft_insn *i)
{
	soft_push(c, i->osz, c->st.gpr[i->rm]);
	return SOFT_NEXT;
}

static int op_pop_r(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t v = soft_pop(c, i->osz);

	soft_set_reg(c, i->rm, i->osz, v);
	return SOFT_NEXT;
}

static int op_push_imm(struct soft_cpu *c, const struct soft_insn *i)
{
	soft_push(c, i->osz, i->imm);
	return SOFT_NEXT;
}

/* 8F /0: POP r/m (the address uses the incremented RSP) */
static int op_pop_rm(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t old = c->st.gpr[VMM_RSP], v;

	if ((i->reg & 7) != 0)
		soft_ud(c);
	v = soft_peek(c, 0, i->osz);
	if (i->mod == 3) {
		set_sp(c, old + i->osz);
		soft_set_reg(c, i->rm, i->osz, v);
		return SOFT_NEXT;
	}
	set_sp(c, old + i->osz);
	{
		uint64_t ea = soft_ea(c, i);
		c->st.gpr[VMM_RSP] = old; /* in case the store faults */
		soft_st(c, i->seg, ea, i->osz, v);
	}
	set_sp(c, old + i->osz);
	return SOFT_NEXT;
}

/* FF /6: PUSH r/m */
int soft_op_push_rm(struct soft_cpu *c, const struct soft_insn *i)
{
	soft_push(c, i->osz, soft_rm(c, i));
	return SOFT_NEXT;
}

static int sreg_of(unsigned op)
{
	switch (op) {
	case 0x06: case 0x07: return VMM_ES;
	case 0x0e: return VMM_CS;
	case 0x16: case 0x17: return VMM_SS;
	case 0x1e: case 0x1f: return VMM_DS;
	case 0x1a0: case 0x1a1: return VMM_FS;
	default: return VMM_GS;
	}
}

static int op_push_sreg(struct soft_cpu *c, const struct soft_insn *i)
{
	soft_push(c, i->osz, c->st.seg[sreg_of(i->op)].selector);
	return SOFT_NEXT;
}

static int op_pop_sreg(struct soft_cpu *c, const struct soft_insn *i)
{
	int s = sreg_of(i->op);
	uint16_t sel = (uint16_t)soft_peek(c, 0, i->osz);
	uint64_t old = c->st.gpr[VMM_RSP];

	soft_load_seg(c, s, sel);
	set_sp(c, old + i->osz);
	c->st.rip = (c->st.rip + i->len) & c->ipmask;
	if (s == VMM_SS) {
		c->shadow = true;
		c->ss_shadow_now = true; /* debug traps wait too */
	}
	return SOFT_END;
}

static int op_pusha(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned size = i->osz;
	uint64_t sp = c->st.gpr[VMM_RSP];

	for (int r = VMM_RAX; r <= VMM_RDI; r++) {
		uint64_t v = r == VMM_RSP ? sp : c->st.gpr[r];
		uint64_t nsp = (sp - (uint64_t)size * (r + 1)) & soft_sp_mask(c);
		soft_st(c, VMM_SS, nsp, size, v);
	}
	set_sp(c, sp - size * 8);
	return SOFT_NEXT;
}

static int op_popa(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned size = i->osz;
	uint64_t v[8];

	for (int r = 0; r < 8; r++)
		v[r] = soft_peek(c, size * (7 - r), size);
	for (int r = 0; r < 8; r++)
		if (r != VMM_RSP)
			soft_set_reg(c, r, size, v[r]);
	set_sp(c, c->st.gpr[VMM_RSP] + size * 8);
	return SOFT_NEXT;
}

static int op_pushf(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t f = soft_get_flags(c);

	if (c->vm86 && ((f >> 12) & 3) < 3)
		soft_gp(c, 0);
	soft_push(c, i->osz, f & ~(uint64_t)(FL_VM | FL_RF));
	return SOFT_NEXT;
}

static int op_popf(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t f = soft_get_flags(c), nf, mask;
	unsigned iopl = (f >> 12) & 3;

	if (c->vm86 && iopl < 3)
		soft_gp(c, 0);
	nf = soft_peek(c, 0, i->osz);
	mask = FL_ARITH | FL_TF | FL_DF | FL_NT | FL_AC | FL_ID | FL_IF |
	       FL_IOPL;
	if (c->pe && c->cpl > 0)
		mask &= ~(uint64_t)FL_IOPL;
	if (c->pe && c->cpl > iopl)
		mask &= ~(uint64_t)FL_IF;
	if (c->vm86)
		mask &= ~(uint64_t)FL_IOPL;
	if (i->osz == 2)
		mask &= 0xffff;
	set_sp(c, c->st.gpr[VMM_RSP] + i->osz);
	c->st.rflags = ((f & ~mask) | (nf & mask) | 2) & ~(uint64_t)FL_RF;
	c->lf_op = LF_NONE;
	c->poll_count = 0;
	c->st.rip = (c->st.rip + i->len) & c->ipmask;
	return SOFT_END;
}

static int op_enter(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned size = i->osz, level = i->imm2 & 31;
	uint64_t m = soft_sp_mask(c);
	uint64_t sp = c->st.gpr[VMM_RSP], bp = c->st.gpr[VMM_RBP];
	uint64_t frame;

	sp = (sp - size) & m;
	soft_st(c, VMM_SS, sp, size, bp);
	frame = sp;
	if (level) {
		for (unsigned k = 1; k < level; k++) {
			uint64_t v;
			bp = (bp - size) & (c->ssz == 2 ? 0xffff : m);
			v = soft_ld(c, VMM_SS, bp, size);
			sp = (sp - size) & m;
			soft_st(c, VMM_SS, sp, size, v);
		}
		sp = (sp - size) & m;
		soft_st(c, VMM_SS, sp, size, frame);
	}
	sp = (sp - (i->imm & 0xffff)) & m;
	/* the new stack top must be writable */
	soft_probe_write(c, VMM_SS, sp, 1);
	soft_set_reg(c, VMM_RBP, size, frame);
	set_sp(c, sp);
	return SOFT_NEXT;
}

static int op_leave(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t bp = c->st.gpr[VMM_RBP] & soft_sp_mask(c);
	uint64_t v = soft_ld(c, VMM_SS, bp, i->osz);

	set_sp(c, bp + i->osz);
	soft_set_reg(c, VMM_RBP, i->osz, v);
	return SOFT_NEXT;
}

/* threaded twins (thread.h) */
SOFT_THREADED(op_push_r)
SOFT_THREADED(op_pop_r)
SOFT_THREADED(op_push_imm)

static const struct soft_tpair stack_twins[] = {
	{ op_push_r, op_push_r_t },
	{ op_pop_r, op_pop_r_t },
	{ op_push_imm, op_push_imm_t },
};

bool soft_thread_stack(struct soft_insn *in)
{
	return soft_tpick(in, stack_twins,
			  sizeof(stack_twins) / sizeof(stack_twins[0]));
}

void soft_register_stack(soft_fn *t)
{
	for (unsigned k = 0; k < 8; k++) {
		t[0x50 + k] = op_push_r;
		t[0x58 + k] = op_pop_r;
	}
	t[0x68] = t[0x6a] = op_push_imm;
	t[0x8f] = op_pop_rm;
	t[0x06] = t[0x0e] = t[0x16] = t[0x1e] = t[0x1a0] = t[0x1a8] =
		op_push_sreg;
	t[0x07] = t[0x17] = t[0x1f] = t[0x1a1] = t[0x1a9] = op_pop_sreg;
	t[0x60] = op_pusha;
	t[0x61] = op_popa;
	t[0x9c] = op_pushf;
	t[0x9d] = op_popf;
	t[0xc8] = op_enter;
	t[0xc9] = op_leave;
}
