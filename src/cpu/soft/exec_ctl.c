/* SPDX-License-Identifier: MIT */
/*
 * exec_ctl.c - control flow: Jcc, JMP/CALL/RET near and far, LOOP/JCXZ,
 * the FF group, INT/INT3/INTO/INT1/IRET, HLT and the undefined opcodes.
 */
#include "cpu/soft/thread.h"

int soft_op_push_rm(struct soft_cpu *c, const struct soft_insn *i);

int soft_jump(struct soft_cpu *c, uint64_t target, unsigned osz)
{
	if (osz == 8) {
		if ((uint64_t)((int64_t)(target << 16) >> 16) != target)
			soft_gp(c, 0);
	} else {
		target &= soft_mask(osz);
		if (c->pe && !c->lm64 && target > c->st.seg[VMM_CS].limit)
			soft_gp(c, 0);
	}
	c->st.rip = target;
	return SOFT_END;
}

static inline uint64_t next_ip(struct soft_cpu *c, const struct soft_insn *i)
{
	return c->st.rip + i->len;
}

static int op_jcc(struct soft_cpu *c, const struct soft_insn *i)
{
	if (soft_cond_fast(c, i->op & 0xf))
		return soft_jump(c, next_ip(c, i) + i->imm, i->osz);
	c->st.rip = (c->st.rip + i->len) & c->ipmask;
	return SOFT_END;
}

static int op_jmp_rel(struct soft_cpu *c, const struct soft_insn *i)
{
	return soft_jump(c, next_ip(c, i) + i->imm, i->osz);
}

static int op_call_rel(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t ret = next_ip(c, i) & soft_mask(i->osz);
	uint64_t target = (next_ip(c, i) + i->imm);
	uint64_t sp = c->st.gpr[VMM_RSP];

	soft_push(c, i->osz, ret);
	if (i->osz != 8)
		target &= soft_mask(i->osz);
	if (i->osz == 8 &&
	    (uint64_t)((int64_t)(target << 16) >> 16) != target) {
		c->st.gpr[VMM_RSP] = sp;
		soft_gp(c, 0);
	}
	if (i->osz != 8 && c->pe && target > c->st.seg[VMM_CS].limit) {
		c->st.gpr[VMM_RSP] = sp;
		soft_gp(c, 0);
	}
	c->st.rip = target;
	return SOFT_END;
}

static int op_ret(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t target = soft_peek(c, 0, i->osz);
	uint64_t sp = c->st.gpr[VMM_RSP];

	soft_jump(c, target, i->osz);
	sp += i->osz + (i->op == 0xc2 ? (i->imm & 0xffff) : 0);
	c->st.gpr[VMM_RSP] = (c->st.gpr[VMM_RSP] & ~soft_sp_mask(c)) |
			     (sp & soft_sp_mask(c));
	return SOFT_END;
}

/* E0 LOOPNE, E1 LOOPE, E2 LOOP, E3 JrCXZ: the count register is by
 * address size */
static int op_loop(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned as = i->asz;
	uint64_t cx = soft_reg(c, VMM_RCX, as);
	bool take;

	if (i->op == 0xe3) {
		take = cx == 0;
	} else {
		cx = (cx - 1) & soft_mask(as);
		take = cx != 0;
		if (i->op == 0xe0)
			take = take && !soft_cond(c, 4);
		else if (i->op == 0xe1)
			take = take && soft_cond(c, 4);
	}
	if (take) {
		uint64_t saved = c->st.gpr[VMM_RCX];
		if (i->op != 0xe3)
			soft_set_reg(c, VMM_RCX, as, cx);
		{
			uint64_t t = next_ip(c, i) + i->imm;
			if (i->osz != 8)
				t &= soft_mask(i->osz);
			if (c->pe && !c->lm64 &&
			    t > c->st.seg[VMM_CS].limit) {
				c->st.gpr[VMM_RCX] = saved;
				soft_gp(c, 0);
			}
			c->st.rip = t;
		}
		return SOFT_END;
	}
	if (i->op != 0xe3)
		soft_set_reg(c, VMM_RCX, as, cx);
	c->st.rip = (c->st.rip + i->len) & c->ipmask;
	return SOFT_END;
}

static int op_jmp_far(struct soft_cpu *c, const struct soft_insn *i)
{
	return soft_far_jmp(c, i->imm2, i->imm, i, i->op == 0x9a);
}

static int op_retf(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned osz = i->osz;

	if (c->lm64 && (i->pfx & PFX_REXW))
		osz = 8;
	return soft_far_ret(c, osz, i->op == 0xca ? (uint16_t)i->imm : 0);
}

static int op_grp5(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned sub = i->reg & 7;

	switch (sub) {
	case 0:
	case 1:
		return soft_op_ff_incdec(c, i);
	case 2: { /* CALL near indirect */
		uint64_t t = soft_rm(c, i);
		uint64_t sp = c->st.gpr[VMM_RSP];
		soft_push(c, i->osz, next_ip(c, i) & soft_mask(i->osz));
		if (i->osz == 8 &&
		    (uint64_t)((int64_t)(t << 16) >> 16) != t) {
			c->st.gpr[VMM_RSP] = sp;
			soft_gp(c, 0);
		}
		if (i->osz != 8 && c->pe && !c->lm64 &&
		    t > c->st.seg[VMM_CS].limit) {
			c->st.gpr[VMM_RSP] = sp;
			soft_gp(c, 0);
		}
		c->st.rip = t;
		return SOFT_END;
	}
	case 4: /* JMP near indirect */
		return soft_jump(c, soft_rm(c, i), i->osz);
	case 3:
	case 5: { /* CALL / JMP far indirect: m16:16/32/64 */
		uint64_t ea, off;
		uint16_t sel;
		if (i->mod == 3)
			soft_ud(c);
		ea = soft_ea(c, i);
		off = soft_ld(c, i->seg, ea, i->osz);
		sel = (uint16_t)soft_ld(c, i->seg, ea + i->osz, 2);
		return soft_far_jmp(c, sel, off, i, sub == 3);
	}
	case 6:
		return soft_op_push_rm(c, i);
	default:
		soft_ud(c);
	}
}

static int op_int(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t next = (c->st.rip + i->len) & c->ipmask;

	switch (i->op) {
	case 0xcc:
		if (c->sw_bp) {
			/* a debugger's breakpoint: exit at the INT3, not
			 * retired (vmm_vcpu_set_sw_breakpoints()) */
			memset(&c->exit, 0, sizeof(c->exit));
			c->exit.kind = VMM_EXIT_DEBUG;
			c->exit.debug.exception = 3;
			c->exit.debug.pc = c->st.rip;
			c->exit.debug.dr6 = c->st.dr6;
			c->exit.debug.dr7 = c->st.dr7;
			c->fault_vec = -2;
			soft_unwind(c);
		}
		soft_deliver(c, 3, false, 0, EV_INT3, next);
		break;
	case 0xcd:
		soft_deliver(c, (int)(i->imm & 0xff), false, 0, EV_SOFT, next);
		break;
	case 0xce:
		if (!(soft_get_flags(c) & FL_OF)) {
			c->st.rip = next;
			return SOFT_END;
		}
		soft_deliver(c, 4, false, 0, EV_INT3, next);
		break;
	default: /* F1: INT1 / ICEBP */
		soft_deliver(c, 1, false, 0, EV_EXT, next);
		break;
	}
	return SOFT_END;
}

static int op_iret(struct soft_cpu *c, const struct soft_insn *i)
{
	return soft_iret(c, i->osz, (c->st.rip + i->len) & c->ipmask);
}

static int op_hlt(struct soft_cpu *c, const struct soft_insn *i)
{
	if (c->pe && c->cpl)
		soft_gp(c, 0);
	c->st.rip = (c->st.rip + i->len) & c->ipmask;
	c->halted = true;
	return SOFT_END;
}

int soft_op_ud(struct soft_cpu *c, const struct soft_insn *i)
{
	soft_ud(c);
}

/*
 * Threaded Jcc: RIP is brought up to date (soft_thread_sync), advanced
 * and set to the target in one step, then the next block is entered.
 */
static int op_jcc_t(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t rip = (c->st.rip + i->pre_len) & c->ipmask;

	if (soft_cond_fast(c, i->op & 0xf)) {
		uint64_t t = rip + i->len + i->imm;
		if (i->osz == 8) {
			if (unlikely((uint64_t)((int64_t)(t << 16) >> 16) != t))
				goto gp;
		} else {
			t &= soft_mask(i->osz);
			if (unlikely(c->pe && !c->lm64 &&
				     t > c->st.seg[VMM_CS].limit))
				goto gp;
		}
		c->st.rip = t;
	} else {
		c->st.rip = (rip + i->len) & c->ipmask;
	}
	c->icount += i->pre_n + 1u;
	return soft_thread_link(c);
gp:
	c->st.rip = rip;
	c->icount += i->pre_n;
	soft_gp(c, 0);
}

/* threaded twins (thread.h) */
SOFT_THREADED_BRANCH(op_jmp_rel)
SOFT_THREADED_BRANCH(op_call_rel)
SOFT_THREADED_BRANCH(op_ret)
SOFT_THREADED_BRANCH(op_grp5)
SOFT_THREADED_BRANCH(op_loop)

static const struct soft_tpair ctl_twins[] = {
	{ op_jcc, op_jcc_t },
	{ op_jmp_rel, op_jmp_rel_t },
	{ op_call_rel, op_call_rel_t },
	{ op_ret, op_ret_t },
	{ op_grp5, op_grp5_t },
	{ op_loop, op_loop_t },
};

bool soft_thread_ctl(struct soft_insn *in)
{
	return soft_tpick(in, ctl_twins,
			  sizeof(ctl_twins) / sizeof(ctl_twins[0]));
}

void soft_register_ctl(soft_fn *t)
{
	for (unsigned k = 0; k < 16; k++) {
		t[0x70 + k] = op_jcc;
		t[0x180 + k] = op_jcc;
	}
	t[0xe9] = t[0xeb] = op_jmp_rel;
	t[0xe8] = op_call_rel;
	t[0xc2] = t[0xc3] = op_ret;
	t[0xe0] = t[0xe1] = t[0xe2] = t[0xe3] = op_loop;
	t[0xea] = t[0x9a] = op_jmp_far;
	t[0xca] = t[0xcb] = op_retf;
	t[0xff] = op_grp5;
	t[0xcc] = t[0xcd] = t[0xce] = t[0xf1] = op_int;
	t[0xcf] = op_iret;
	t[0xf4] = op_hlt;
	t[0x10b] = t[0x1b9] = t[0x1ff] = soft_op_ud;
}
