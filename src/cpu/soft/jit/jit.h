/* SPDX-License-Identifier: MIT */
/*
 * jit.h - tier 1 of the software backend: hot translated blocks of 64-bit
 * code become x86-64 host code (jit.c; design in docs/soft-backend.md,
 * "The JIT tier").  The interpreter (tb.c, exec_*.c) stays tier 0 and the
 * fallback for every instruction the translator does not handle itself.
 *
 * A compiled block replaces its first instruction's threaded entry
 * (struct soft_insn.run) with the host code, so the executor and the
 * threaded chain's block links enter it like any other block.  Built only
 * when SOFT_JIT is 1 (meson -Djit, x86-64 hosts); otherwise these are
 * empty inlines.
 */
#ifndef LIBVMM_SOFT_JIT_H
#define LIBVMM_SOFT_JIT_H

#include "config.h"
#include "cpu/soft/soft.h"

/* executions of a block before it is compiled (VMM_CFG_JIT without
 * VMM_CFG_JIT_EAGER; EAGER compiles at the first execution) */
#define SOFT_JIT_HOT 32
/* the JIT runs unless the VM (VMM_CFG_NO_JIT, VMM_CFG_DETERMINISTIC) or
 * VMM_SOFT_JIT=0 says otherwise (0 would make it opt-in) */
#define SOFT_JIT_DEFAULT 1
/* code buffer per vCPU: the block cache is flushed when it is full */
#define SOFT_JIT_CODE_SIZE (16u << 20)
/* guest instructions a self-loop runs per entry before it goes back to
 * the executor (kicks, interrupts, shootdowns): at least SOFT_LINK_MAX
 * iterations, as many blocks would.  Also the bound tb.c's instruction
 * limit assumes for one entry of a block compiled later (struct
 * soft_tb.jit_max holds the exact one of a compiled block). */
#define SOFT_JIT_LOOP_INSNS 4096

#if SOFT_JIT
/* Decide whether @c runs the JIT (the code buffer comes at the first
 * compilation); always 0. */
int soft_jit_init(struct soft_cpu *c);
void soft_jit_fini(struct soft_cpu *c);
/* The block cache was flushed: the code buffer starts again. */
void soft_jit_flush(struct soft_cpu *c);
/* Compile @tb (64-bit code only); on success tb->insn[0].run is its code. */
void soft_jit_compile(struct soft_cpu *c, struct soft_tb *tb);

/* Undo every patched link (chain_gen changed since they were made, or
 * the cache is flushed). */
void soft_jit_unpatch(struct soft_cpu *c);

/*
 * Count an execution of @tb; compile it once it is hot.  Called before
 * every entry into compiled code from C (the executor, the interpreter's
 * links): the patched links are undone first when chain_gen changed
 * since they were made, so compiled code only follows links that are
 * valid now.
 */
static inline void soft_jit_count(struct soft_cpu *c, struct soft_tb *tb)
{
	if (unlikely(c->jit_on)) {
		if (unlikely(c->jit_npatch && c->jit_pgen != c->chain_gen))
			soft_jit_unpatch(c);
		if (tb->hits++ == c->jit_thr)
			soft_jit_compile(c, tb);
	}
}
#else
static inline int soft_jit_init(struct soft_cpu *c) { return 0; }
static inline void soft_jit_fini(struct soft_cpu *c) {}
static inline void soft_jit_flush(struct soft_cpu *c) {}
static inline void soft_jit_count(struct soft_cpu *c, struct soft_tb *tb) {}
#endif

#endif
