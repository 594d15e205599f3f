/* SPDX-License-Identifier: MIT */
/*
 * thread.h - threaded execution of a translated block (see struct
 * soft_insn.run).  A block's instructions are an array ending in a marker
 * whose @run returns SOFT_NEXT; each instruction's @run executes it and
 * tail-calls the next one's, so a block runs without returning to the
 * executor between instructions.  The hot handlers have a threaded twin
 * compiled with the handler inlined (SOFT_THREADED); every other
 * instruction runs through soft_thunk(), which calls its @fn.
 *
 * The chain stops after an instruction that returned anything but
 * SOFT_NEXT (branch, mode change, exit) or raised an event in c->ev; the
 * executor (tb.c) then looks at c->ev.  A branch (or the end marker)
 * whose block has the successor chained enters it directly
 * (soft_thread_link), at most SOFT_LINK_MAX times before the executor
 * runs again.  Without tail calls (-O0, some sanitizers) the chain is
 * plain recursion, at most (SOFT_LINK_MAX + 1) * (SOFT_TB_MAX_INSNS + 1)
 * calls deep.
 */
#ifndef LIBVMM_SOFT_THREAD_H
#define LIBVMM_SOFT_THREAD_H

#include "cpu/soft/exec.h"
#include "cpu/soft/jit/jit.h"

/*
 * Before an instruction that is not pure: retire the pure instructions
 * before it, which left RIP and the instruction count alone (exec_fast.c),
 * so that it sees (and a fault or exit reports) its own RIP.
 */
static inline void soft_thread_sync(struct soft_cpu *c,
				    const struct soft_insn *i)
{
	if (i->pre_n) {
		c->st.rip = (c->st.rip + i->pre_len) & c->ipmask;
		c->icount += i->pre_n;
	}
}

/* Instruction @i returned @r: retire it, and go on with the next one. */
static inline int soft_thread_next(struct soft_cpu *c,
				   const struct soft_insn *i, int r)
{
	c->icount++;
	if (likely(r == SOFT_NEXT)) {
		c->st.rip = (c->st.rip + i->len) & c->ipmask;
		if (likely(!c->ev))
			return i[1].run(c, i + 1);
	}
	return r;
}

/* Enter block @n (soft_thread_link). */
static inline int soft_thread_enter(struct soft_cpu *c, struct soft_tb *n)
{
	c->link_left--;
	c->cur_tb = n;
	soft_jit_count(c, n);
	return n->insn[0].run(c, n->insn);
}

/*
 * No chained successor (indirect branch, return): try the jump cache by
 * the linear address of CS:RIP, as tb.c's find_tb_jc() does (in every
 * mode: the code size an entry was found with cannot change without a
 * chain_gen change, see below).
 *
 * Chain and jump-cache entries are valid while chain_gen is unchanged,
 * and chain_gen changes whenever one could go stale: a write to a page
 * with code (which invalidates its blocks), a TLB flush, any mode or CS
 * change (so the code size is the one the entry was found with), a
 * cache flush.  Blocks another vCPU may still write silently (tb.c's
 * wait_gen) are never recorded in either.
 */
static inline int soft_thread_link_jc(struct soft_cpu *c)
{
	uint64_t lin = c->st.rip;
	const struct soft_jc *j;

	if (!c->lm64) {
		/* CS:EIP as tb.c's pc_lin() forms it; past the CS limit
		 * the executor raises the #GP */
		if (c->pe && c->st.rip > c->st.seg[VMM_CS].limit)
			return SOFT_END;
		lin = (uint32_t)(c->segbase[VMM_CS] + c->st.rip);
	}
	j = &c->jc[soft_jc_idx(lin)];
	if (!j->tb || j->lin != lin || j->gen != c->chain_gen)
		return SOFT_END;
	return soft_thread_enter(c, j->tb);
}

/*
 * A branch set RIP and ended the block: enter the successor directly when
 * the block has it chained (the same test tb.c's executor makes between
 * blocks) or the jump cache has it, and the link budget, which the
 * executor renews each time it looks at kicks, interrupts and the memory
 * epoch, is not used up.  Otherwise return to the executor.
 */
static inline int soft_thread_link(struct soft_cpu *c)
{
	struct soft_tb *tb = c->cur_tb, *n;
	unsigned k;

	/* link_left is 0 once an instruction of the chain set an interrupt
	 * shadow, TF, HLT or asked for an irqchip poll (soft_thunk) */
	if (unlikely(c->ev || !c->link_left))
		return SOFT_END;
	if (tb->chain_rip[0] == c->st.rip)
		k = 0;
	else if (tb->chain_rip[1] == c->st.rip)
		k = 1;
	else
		return soft_thread_link_jc(c);
	n = tb->chain[k];
	if (!n || tb->chain_gen[k] != c->chain_gen)
		return soft_thread_link_jc(c);
	return soft_thread_enter(c, n);
}

/* The threaded twin NAME_t of handler NAME (defined in the same file). */
#define SOFT_THREADED(name)                                                    \
	__attribute__((flatten)) static int                                    \
	name##_t(struct soft_cpu *c, const struct soft_insn *i)                \
	{                                                                      \
		soft_thread_sync(c, i);                                        \
		return soft_thread_next(c, i, name(c, i));                     \
	}

/* The twin of a branch handler NAME: it may enter the next block. */
#define SOFT_THREADED_BRANCH(name)                                             \
	__attribute__((flatten)) static int                                    \
	name##_t(struct soft_cpu *c, const struct soft_insn *i)                \
	{                                                                      \
		int r;                                                         \
		soft_thread_sync(c, i);                                        \
		r = name(c, i);                                                \
		if (r == SOFT_END) {                                           \
			c->icount++;                                           \
			return soft_thread_link(c);                            \
		}                                                              \
		return soft_thread_next(c, i, r);                              \
	}

/* A handler and its threaded twin. */
struct soft_tpair {
	soft_fn fn, run;
};

/* Set @in->run to the twin of @in->fn from @t[0..@n); false if none. */
static inline bool soft_tpick(struct soft_insn *in, const struct soft_tpair *t,
			      size_t n)
{
	for (size_t k = 0; k < n; k++) {
		if (t[k].fn == in->fn) {
			in->run = t[k].run;
			return true;
		}
	}
	return false;
}

/* Condition @cc (0-15) with the common lazy-flag cases inline. */
static inline __attribute__((always_inline)) bool
soft_cond_fast(struct soft_cpu *c, unsigned cc)
{
	bool r;

	if (c->lf_op != LF_NONE && (cc >> 1) == 2) { /* E / NE */
		r = (c->lf_res & soft_mask(c->lf_size)) == 0;
		return (cc & 1) ? !r : r;
	}
	if (c->lf_op == LF_SUB) { /* CMP: the operands decide */
		uint64_t m = soft_mask(c->lf_size);
		uint64_t a = c->lf_a & m, b = c->lf_b & m;
		switch (cc >> 1) {
		case 1: r = a < b; return (cc & 1) ? !r : r;   /* B / AE */
		case 3: r = a <= b; return (cc & 1) ? !r : r;  /* BE / A */
		case 6: /* L / GE */
			r = (int64_t)soft_sext(a, c->lf_size) <
			    (int64_t)soft_sext(b, c->lf_size);
			return (cc & 1) ? !r : r;
		case 7: /* LE / G */
			r = (int64_t)soft_sext(a, c->lf_size) <=
			    (int64_t)soft_sext(b, c->lf_size);
			return (cc & 1) ? !r : r;
		}
	}
	return soft_cond(c, cc);
}

/* Runs @fn and goes on (exec_fast.c); every instruction without a twin. */
int soft_thunk(struct soft_cpu *c, const struct soft_insn *i);
/* The end marker of a block. */
int soft_block_end(struct soft_cpu *c, const struct soft_insn *i);
/* Choose @in->run once @in->fn is final (translation, tb.c). */
void soft_thread_pick(struct soft_cpu *c, struct soft_insn *in);
/* Once a block's @n instructions are picked: drop dead flag updates. */
void soft_thread_block(struct soft_insn *in, unsigned n);

/* The families' pickers: true when they set @in->run. */
bool soft_thread_alu(struct soft_insn *in);
bool soft_thread_mov(struct soft_insn *in);
bool soft_thread_ctl(struct soft_insn *in);
bool soft_thread_stack(struct soft_insn *in);
bool soft_thread_shift(struct soft_insn *in);

#endif
