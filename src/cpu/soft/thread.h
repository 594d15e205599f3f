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
 * executor (tb.c) then looks at c->ev.  Without tail calls (-O0, some
 * sanitizers) the chain is plain recursion at most SOFT_TB_MAX_INSNS deep.
 */
#ifndef LIBVMM_SOFT_THREAD_H
#define LIBVMM_SOFT_THREAD_H

#include "cpu/soft/exec.h"

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

/* The threaded twin NAME_t of handler NAME (defined in the same file). */
#define SOFT_THREADED(name)                                                    \
	static int name##_t(struct soft_cpu *c, const struct soft_insn *i)     \
	{                                                                      \
		return soft_thread_next(c, i, name(c, i));                     \
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
static inline bool soft_cond_fast(struct soft_cpu *c, unsigned cc)
{
	if ((c->lf_op == LF_SUB || c->lf_op == LF_LOGIC ||
	     c->lf_op == LF_ADD) && (cc >> 1) == 2) { /* E / NE */
		bool r = (c->lf_res & soft_mask(c->lf_size)) == 0;
		return (cc & 1) ? !r : r;
	}
	return soft_cond(c, cc);
}

/* Runs @fn and goes on (exec_fast.c); every instruction without a twin. */
int soft_thunk(struct soft_cpu *c, const struct soft_insn *i);
/* The end marker of a block. */
int soft_block_end(struct soft_cpu *c, const struct soft_insn *i);
/* Choose @in->run once @in->fn is final (translation, tb.c). */
void soft_thread_pick(struct soft_insn *in);
/* Once a block's @n instructions are picked: drop dead flag updates. */
void soft_thread_block(struct soft_insn *in, unsigned n);

/* The families' pickers: true when they set @in->run. */
bool soft_thread_alu(struct soft_insn *in);
bool soft_thread_mov(struct soft_insn *in);
bool soft_thread_ctl(struct soft_insn *in);
bool soft_thread_stack(struct soft_insn *in);
bool soft_thread_shift(struct soft_insn *in);

#endif
