/* SPDX-License-Identifier: MIT */
/*
 * jit.c - the JIT tier: code buffer, translator, and the helpers the
 * generated code calls.  See jit.h and docs/soft-backend.md.
 *
 * Generated code for a block (64-bit guest code, struct soft_tb.key 8),
 * in the order a block is emitted (translate_block()):
 *
 *   - one frame for every block (emit_prologue: RBX = the CPU, RBP and
 *     R12-R15 = the register cache, [rsp] = chain_gen at entry), so a
 *     compiled block enters another at its body (PROLOGUE_LEN in);
 *   - the register cache: the guest registers the block's translated
 *     instructions use most (choose_cached) are loaded at entry, written
 *     back (cache_sync/cache_end) before an interpreter call, on a slow
 *     path and at the block's end, and loaded again after a call;
 *     R10 = this CPL's TLB (emit_tlb_base) along with them;
 *   - the translator handles the forms classify() accepts, operands
 *     generic: register (all sizes, AH-BH included), memory (any
 *     base/index/scale/disp, RIP-relative, FS/GS, 67 prefix) through the
 *     soft TLB inline (emit_tlb), immediate; on a cached register of 4 or
 *     8 bytes an ALU/MOV/shift/INC/DEC is one host instruction
 *     (emit_direct);
 *   - flags: dead ones cost nothing (liveness, backwards over the block);
 *     live ones of a register-form ALU op or NEG stay pending in R8/R9
 *     (struct pend_flags) until something may look at the state; a
 *     consumer right after its producer uses the host flags (t->hf);
 *     shifts and IMUL with live flags write RFLAGS as the interpreter
 *     does;
 *   - RIP and the instruction count are compile-time deltas written back
 *     before anything that can look at them, so a fault anywhere sees the
 *     exact RIP, flags and registers;
 *   - a memory access that misses the TLB (or crosses a page, or would
 *     fault) leaves the host code before the instruction changed anything
 *     and runs that whole instruction through its handler (struct slow,
 *     emitted after the body), which walks the page tables and raises the
 *     guest fault with the instruction's RIP;
 *   - every other instruction runs through the interpreter's threaded
 *     entry of a copy of it (emit_interp); a block ending in an
 *     untranslated branch enters it through its threaded entry, so it
 *     links as between interpreted blocks; a translated direct branch
 *     exits through a jmp rel32 patched into its successor's code
 *     (emit_link_direct, soft_jit_patch; undone when chain_gen changes),
 *     RET and indirect branches through per-exit slots and the jump cache
 *     (emit_link), and a self-loop back to its own body (struct
 *     tr.loop).
 *
 * Code buffer: a memfd mapped twice, writable for the translator and
 * executable for the CPU, never both in one mapping (W^X).  It is filled
 * linearly; when full, the next block boundary flushes the whole block
 * cache (tb.c), code with it.
 */
#include "cpu/soft/jit/jit.h"
#include "cpu/soft/jit/emit.h"
#include "cpu/soft/thread.h"

#include <stddef.h>
#include <stdlib.h>
#ifdef SOFT_JIT_DUMP_DIR
#include <stdio.h>
#define JIT_STR2(x) #x
#define JIT_STR(x) JIT_STR2(x)
#endif
#include <cpuid.h>
#include <sys/mman.h>
#include <unistd.h>

_Static_assert(sizeof(struct soft_tlb_entry) == 64, "TLB entry size");
_Static_assert(SOFT_TLB_SIZE == 1024 && SOFT_TLB_BITS == 10, "TLB shape");

/* ---- helpers called by generated code ---- */

/*
 * Run @i through its plain handler with the state synced, as soft_thunk()
 * does, and retire it.  Returns 0 to go on with the next instruction, or
 * the handler's status + 1 when the block must return it.
 */
static int soft_jit_call(struct soft_cpu *c, const struct soft_insn *i)
{
	int r = i->fn(c, i);

	if (unlikely(c->shadow || c->halted || (c->st.rflags & FL_TF) ||
		     (!c->poll_count && c->svm->chip)))
		c->link_left = c->jit_link_left = 0;
	c->icount++;
	if (likely(r == SOFT_NEXT)) {
		c->st.rip = (c->st.rip + i->len) & c->ipmask;
		if (likely(!c->ev)) {
			/* back into compiled code: its patched links must
			 * be valid at this chain_gen */
			if (unlikely(c->jit_npatch &&
				     c->jit_pgen != c->chain_gen))
				soft_jit_unpatch(c);
			return 0;
		}
	}
	return r + 1;
}

/* After an instruction run through its threaded entry: retire what it
 * deferred (pre_n) and go back to the compiled code. */
#define SOFT_JIT_CONT 0x100
static int soft_jit_stub(struct soft_cpu *c, const struct soft_insn *i)
{
	soft_thread_sync(c, i);
	/* (only reached with c->ev clear: soft_thread_next) the
	 * instruction stopped the links (soft_thunk: a shadow, TF, HLT,
	 * an irqchip poll): compiled links check jit_link_left alone */
	if (unlikely(!c->link_left))
		c->jit_link_left = 0;
	if (unlikely(c->jit_npatch && c->jit_pgen != c->chain_gen))
		soft_jit_unpatch(c);
	return SOFT_JIT_CONT;
}

/*
 * A link slot: the successor block one exit of a compiled block entered
 * last, valid while chain_gen is unchanged (the rule of the interpreter's
 * chain and jump-cache entries, thread.h), for that RIP.  The compiled
 * code enters it directly when it is compiled too; otherwise, or when the
 * slot is stale, soft_jit_link() finds the successor as the interpreter's
 * soft_thread_link() does and fills the slot.
 */
/* bytes of every block's prologue (emit_prologue) */
#define PROLOGUE_LEN 17

struct jit_slot {
	struct soft_tb *tb;
	uint64_t rip;
	uint64_t gen;
	/* tb's compiled body (its code past the frame's prologue), or NULL
	 * while it is not compiled */
	uintptr_t body;
	/*
	 * A direct exit (one target): the offset in the code buffer of its
	 * patchable jmp rel32 (0: an indirect exit, no patching).  Its
	 * rel32 is 0 (on to the slow way, soft_jit_link) until a link
	 * finds the successor compiled; then it points into the
	 * successor's code (soft_jit_patch) until undone.
	 */
	uint32_t jmp;
	/* with lazy flags still pending in R8/R9 at the exit: the stub
	 * that stores them (pf_store) and its jmp rel32 on to the
	 * successor, where a link goes when the successor may read them
	 * (struct jit_info.flags_in); 0: none */
	uint32_t fstub, fjmp;
	/* the exit's register state: guest register g in host register
	 * hr[g] (-1: not), R10 = the TLB base (mem) */
	int8_t hr[16];
	bool mem;
	/* a trampoline made for tb (the successor's loads this exit's
	 * registers lack), reused when the link is patched again */
	struct soft_tb *tramp_tb;
	uintptr_t tramp;
};

/*
 * A compiled block's entry points past the entry guard, for patched
 * links (the guard holds for them: the link was found for rip0 at this
 * chain_gen) and what its code expects there.
 */
struct jit_info {
	uint64_t rip0;
	uintptr_t noguard; /* R10 and the register cache to load */
	uintptr_t init;    /* both loaded */
	int8_t hr[16];
	uint16_t cached;
	bool mem;
	/* the flags at its entry may be read (liveness: a reader, a call, a
	 * possible fault or its end before an instruction writes them all) */
	bool flags_in;
	/* 32-bit code: CS's limit must be 4 GiB and the segments of segmask
	 * flat, writable, base 0 (struct tr.segused) for its guard to
	 * hold */
	bool m32;
	uint32_t segmask;
	/* insn[0]'s threaded entry before the compiled code replaced it
	 * (an interpreter call of it from another block's compilation:
	 * region()) */
	soft_fn orig;
};

/* patched links per vCPU before they are all undone (and made again as
 * the code runs) */
#define JIT_MAX_PATCH 8192u

static void soft_jit_patch(struct soft_cpu *c, struct jit_slot *s,
			   struct soft_tb *n);

/*
 * The entry guard of the block of @ji holds for @rip now (translate_block:
 * its RIP; 32-bit code: CS's limit 4 GiB, the segments it uses without
 * checks still flat, writable, base 0): a patched link may go past it, as
 * long as chain_gen does not change (which every change of these bumps).
 */
static bool jit_guard_holds(const struct soft_cpu *c,
			    const struct jit_info *ji, uint64_t rip)
{
	if (ji->rip0 != rip)
		return false;
	return !ji->m32 || (c->seglim[VMM_CS] == 0xffffffffu &&
			    !(c->jit_segslow & ji->segmask));
}

static int soft_jit_link(struct soft_cpu *c, struct jit_slot *s)
{
	struct soft_tb *tb = c->cur_tb, *n = NULL;
	uint64_t rip = c->st.rip;

	if (unlikely(c->ev || !c->link_left || !c->jit_link_left))
		return SOFT_END;
	if (tb->chain_rip[0] == rip && tb->chain[0] &&
	    tb->chain_gen[0] == c->chain_gen) {
		n = tb->chain[0];
	} else if (tb->chain_rip[1] == rip && tb->chain[1] &&
		   tb->chain_gen[1] == c->chain_gen) {
		n = tb->chain[1];
	} else {
		/* the linear address as pc_lin() forms it (32-bit code:
		 * + CS.base, in the limit; soft_thread_link_jc) */
		uint64_t lin = rip;
		const struct soft_jc *j;
		if (!c->lm64) {
			if (c->pe && rip > c->st.seg[VMM_CS].limit)
				return SOFT_END;
			lin = (uint32_t)(c->segbase[VMM_CS] + rip);
		}
		j = &c->jc[soft_jc_idx(lin)];
		if (!j->tb || j->lin != lin || j->gen != c->chain_gen)
			return SOFT_END;
		n = j->tb;
	}
	s->tb = n;
	s->rip = rip;
	s->gen = c->chain_gen;
	s->body = n->jit_body;
	if (s->jmp && n->jit_info && jit_guard_holds(c, n->jit_info, rip))
		soft_jit_patch(c, s, n);
	return soft_thread_enter(c, n);
}

static uint32_t soft_jit_get_cf(struct soft_cpu *c)
{
	return soft_get_cf(c);
}

static uint64_t soft_jit_get_flags(struct soft_cpu *c)
{
	return soft_get_flags(c);
}

/* ---- the code buffer ---- */

#if SOFT_JIT_PROFILE
/* -Djit_profile=true: fallbacks by (opcode, ModRM.reg) */
#define JIT_PROF_N (0x400 * 8)

static unsigned jit_prof_idx(const struct soft_insn *i)
{
	return ((unsigned)(i->op & 0x3ff) << 3) | (i->reg & 7);
}

/* the histogram through the VM's log callback (warning level, so a
 * default vmm-run shows it), the largest entries first */
static void jit_prof_log(struct soft_cpu *c)
{
	uint64_t total = 0;

	for (unsigned k = 0; k < JIT_PROF_N; k++)
		total += c->jit_prof[k];
	vmm__log(c->vm, VMM_LOG_WARN,
		 "jit profile: %llu fallbacks (%llu blocks compiled)",
		 (unsigned long long)total,
		 (unsigned long long)c->st_jit_blocks);
	for (unsigned n = 0; n < 40 && total; n++) {
		unsigned best = 0;
		for (unsigned k = 1; k < JIT_PROF_N; k++)
			if (c->jit_prof[k] > c->jit_prof[best])
				best = k;
		if (!c->jit_prof[best])
			break;
		vmm__log(c->vm, VMM_LOG_WARN,
			 "jit profile: op %03x /%u %llu (%.1f%%)", best >> 3,
			 best & 7, (unsigned long long)c->jit_prof[best],
			 100.0 * (double)c->jit_prof[best] / (double)total);
		c->jit_prof[best] = 0;
	}
}
#endif


/*
 * The VM's choice: the config flags first (NO_JIT, JIT_EAGER, JIT), then
 * the environment variable VMM_SOFT_JIT (0 / 1 / eager: lets a test suite
 * run every guest through either tier), then the build default.
 */
static uint32_t jit_mode(uint32_t f)
{
	const char *env;

	if (f & VMM_CFG_NO_JIT)
		return 0;
	if (f & (VMM_CFG_JIT | VMM_CFG_JIT_EAGER))
		return f & (VMM_CFG_JIT | VMM_CFG_JIT_EAGER);
	env = getenv("VMM_SOFT_JIT");
	if (env && !strcmp(env, "eager"))
		return VMM_CFG_JIT_EAGER;
	if (env && !strcmp(env, "1"))
		return VMM_CFG_JIT;
	if (env && !strcmp(env, "0"))
		return 0;
	return SOFT_JIT_DEFAULT ? VMM_CFG_JIT : 0;
}

int soft_jit_init(struct soft_cpu *c)
{
	uint32_t f = jit_mode(c->vm->cfg.flags);

	c->jit_on = f && !c->svm->deterministic;
	/* deterministic mode: the interpreter counts */
	c->jit_thr = (f & VMM_CFG_JIT_EAGER) ? 0 : SOFT_JIT_HOT;
	c->jit_rw = c->jit_rx = NULL;
	c->jit_used = 0;
	c->jit_full = false;
	c->jit_prof = NULL;
	c->jit_patch = NULL;
	c->jit_npatch = 0;
#if SOFT_JIT_PROFILE
	if (c->jit_on) {
		c->jit_prof = vmm__alloc(c->vm, JIT_PROF_N * sizeof(uint64_t));
		if (c->jit_prof)
			memset(c->jit_prof, 0, JIT_PROF_N * sizeof(uint64_t));
	}
#endif
	return 0;
}

/*
 * The code buffer, made at the first compilation (a VM that never gets
 * hot pays nothing): a memfd mapped twice, then closed (the mappings keep
 * it; no descriptor per vCPU).  False when the host refuses (no memfd,
 * no executable mappings: a seccomp filter, a noexec policy); the vCPU
 * then stays with the interpreter.
 */
static bool code_buffer(struct soft_cpu *c)
{
	void *rw, *rx = MAP_FAILED;
	int fd = memfd_create("libvmm-jit", MFD_CLOEXEC);

	if (fd < 0)
		return false;
	rw = MAP_FAILED;
	if (ftruncate(fd, SOFT_JIT_CODE_SIZE) == 0) {
		rw = mmap(NULL, SOFT_JIT_CODE_SIZE, PROT_READ | PROT_WRITE,
			  MAP_SHARED, fd, 0);
		if (rw != MAP_FAILED)
			rx = mmap(NULL, SOFT_JIT_CODE_SIZE, PROT_READ | PROT_EXEC,
				  MAP_SHARED, fd, 0);
	}
	close(fd);
	if (rx == MAP_FAILED) {
		if (rw != MAP_FAILED)
			munmap(rw, SOFT_JIT_CODE_SIZE);
		return false;
	}
	c->jit_rw = rw;
	c->jit_rx = rx;
	/* (without it links stay unpatched: soft_jit_patch) */
	c->jit_patch = vmm__alloc(c->vm, JIT_MAX_PATCH * sizeof(uint32_t));
	c->jit_npatch = 0;
	return true;
}


void soft_jit_fini(struct soft_cpu *c)
{
#if SOFT_JIT_PROFILE
	if (c->jit_prof) {
		jit_prof_log(c);
		vmm__free(c->vm, c->jit_prof);
		c->jit_prof = NULL;
	}
#endif
	if (c->jit_rw) {
		munmap(c->jit_rw, SOFT_JIT_CODE_SIZE);
		munmap(c->jit_rx, SOFT_JIT_CODE_SIZE);
	}
	if (c->jit_patch)
		vmm__free(c->vm, c->jit_patch);
	c->jit_patch = NULL;
	c->jit_npatch = 0;
	c->jit_rw = c->jit_rx = NULL;
	c->jit_on = false;
}

/*
 * Every patched link back to the slow way (rel32 0: the instruction after
 * the jmp, which goes to soft_jit_link).  The code it patched is still
 * there (a flush empties the buffer only for the next compilation), so
 * compiled code still on its way out after a flush cannot follow a link
 * into a block the flush dropped.
 */
void soft_jit_unpatch(struct soft_cpu *c)
{
	static const uint8_t zero[4];

	for (unsigned k = 0; k < c->jit_npatch; k++)
		memcpy(c->jit_rw + c->jit_patch[k], zero, 4);
	c->jit_npatch = 0;
	c->st_jit_unpatch_all++;
}

void soft_jit_flush(struct soft_cpu *c)
{
	if (c->jit_npatch)
		soft_jit_unpatch(c);
	c->jit_used = 0;
	c->jit_full = false;
}

/* ---- the translator ---- */

#define OFF(f) ((int32_t)offsetof(struct soft_cpu, f))
#define GPR(r) ((int32_t)(offsetof(struct soft_cpu, st.gpr) + 8 * (r)))

/* at most this many slow paths (memory misses) per block */
#define MAX_SLOW SOFT_TB_MAX_INSNS
/* blocks in one compilation at most (region()) */
#define JIT_REGION_MAX 4

/*
 * Lazy flags not yet in the state: the last flag writer was this
 * register-form ALU op (or NEG), its operands a in R8 and b in R9; the
 * state gets them (pf_store) only where something may look: a slow path
 * (out of line), an interpreter call, a consumer that reads the state,
 * the block's end.  Redoing the host op on R8, R9 for the result also
 * redoes the host flags, so the consumer after it may use them.
 */
struct pend_flags {
	bool v;
	uint8_t op, size, hop; /* LF_*, bytes, host opcode (01 09 21 29 31) */
	/* INC/DEC (op LF_INC, LF_DEC) of a in R8, R9 = the CF before it
	 * (lf_cin; b is 1) */
	bool incdec;
	/* b is the constant imm, not in R9 until pf_redo() puts it there
	 * (an ALU op with an immediate: one host instruction less) */
	bool bimm;
	uint64_t imm;
	/* a SHL/SHR/SAR by a constant (hop: its /ext, imm: the count) of
	 * a in R8, whose flags only the slow path of a later memory ALU op
	 * may see (shift_defer): pf_store computes them as
	 * emit_shift_live() would have, into RFLAGS; never redone for a
	 * consumer */
	bool shift;
};

struct slow {
	size_t fix[16]; /* (a REP string instruction: up to 14) */
	unsigned nfix;
	const struct soft_insn *i;
	unsigned pend_len, pend_n;
	uint16_t dirty; /* cached registers changed before the instruction */
	unsigned hits, hits_after; /* pend_hits before / after it */
	struct pend_flags pf; /* before it */
	bool pf_keep;         /* and still pending after it (R8/R9 again) */
	/* its own flags pending after it (a memory-operand ALU op): its
	 * handler wrote them, R8/R9 again from them (pf_after) */
	bool pf_self;
	struct pend_flags pf_after;
	bool hf_after;        /* the host flags are its flags after it */
	/* a self-loop's instruction up to its first flag writer, the flags
	 * at the top pending in R8/R9 after the first iteration (struct
	 * tr.loop_pflazy): stored before the call; loop_reload: not the
	 * writer, R8/R9 again from them after it */
	bool loop_top, loop_reload;
	size_t resume;
};

struct tr {
	struct jit_emit e;
	struct soft_cpu *c;
	struct soft_tb *tb;
	unsigned pend_len, pend_n; /* RIP bytes / instructions not yet written */
	size_t exits[SOFT_TB_MAX_INSNS + MAX_SLOW];
	unsigned nexits;
	size_t exits2[SOFT_TB_MAX_INSNS];
	unsigned nexits2;
	struct slow slow[MAX_SLOW];
	unsigned nslow;
	struct slow *cur; /* slow path of the instruction being emitted */
	/* the lazy flags the state holds, when this block's translated code
	 * stored them (LF_*, size), else 0 */
	unsigned lf_op, lf_size;
	/* the host flags are the guest's flags of that producer (its host
	 * instruction was the last flag writer); hf_nocf: but not CF
	 * (INC/DEC) */
	bool hf, hf_nocf;
	/* the host CF alone is the guest's, for the next instruction only
	 * (a shift whose other flags are dead, feeding INC/DEC or ADC/SBB) */
	bool hf_cf;
	/* emit_get_cf() left the guest's CF in the host CF as well */
	bool cf_host;
	/* emit_get_cf(): its consumer reads EAX only, no jit_cf needed */
	bool cf_eax;
	/* register cache: guest register g lives in host register hr[g]
	 * (-1: in the state) from the prologue on; dirty: changed since
	 * the state was last written (a compile-time set, see cache_*) */
	int8_t hr[16];
	uint16_t cached, dirty;
	/* after the block's end (cache_end): the cached registers whose host
	 * register still holds the state's value (what a patched link to a
	 * successor with the same ones need not load again) */
	uint16_t xvalid;
	/* positions: past the entry guard; past the entry's loads (struct
	 * jit_info) */
	size_t pos_noguard, pos_init;
	bool flags_in; /* struct jit_info */
	bool nocache; /* the block end: the state is the only copy */
	bool mem;     /* has memory accesses: R10 = the TLB */
	/* TLB hits of the inline path not yet added to st_tlb_hits */
	unsigned pend_hits;
	uint64_t rip; /* of the instruction being translated */
	struct pend_flags pf;
	/* the state's flags are RFLAGS (lf_op LF_NONE), written by
	 * emit_set_arith() and not changed since */
	bool lf_eager;
	size_t loop_pos; /* the body's top, after the entry's loads */
	/* 32-bit code (key 4): addresses wrap at 4 GiB, segment bases are
	 * added and checked at run time; RIP = EIP, not the linear address */
	bool m32;
	uint64_t rip0;    /* RIP of the block's first instruction */
	soft_fn orig;     /* insn[0]'s threaded entry (the entry guard's way
			   * back to the interpreter) */
	size_t guard[3];  /* the entry guard's jumps */
	unsigned nguard;
	/*
	 * 32-bit code: the segments that were flat and writable with base
	 * 0 (SS: and a 4-byte stack) when the block was compiled
	 * (~jit_segslow, segfast0), and those of them its memory accesses
	 * use without a check or a base (segused: the entry guard checks
	 * they still are, seg_fast()); segimm: the guard's imm32 of
	 * segused, filled in at the end.
	 */
	uint32_t segfast0, segused;
	size_t segimm;
	/*
	 * A self-loop (the block ends in a JMP or Jcc to its own start and
	 * every instruction is translated): LOOP_REG counts the iterations
	 * whose instructions (n_back each) and TLB hits (h_back each) the
	 * state does not have yet; every way out adds them (loop_flush),
	 * the back-edge is an increment and a compare (emit_loop_back).
	 */
	bool loop;
	bool noloop;      /* translate again without (an interpreter call) */
	bool loop_live;   /* the flags are live at the block's top */
	/*
	 * loop_live only through possible faults: the instructions before
	 * loop_k1, the first one that writes all the flags, neither read
	 * nor write them (loop_neutral), and instruction loop_k1 does
	 * (loop_writer).  Then the back-edge leaves the flags pending
	 * (loop_pf, in R8/R9) and the slow paths of instructions 0 to
	 * loop_k1 store them, in the iterations after the first (LOOP_REG
	 * not 0; the first has them in the state already).
	 */
	bool loop_pflazy;
	unsigned loop_k1;
	struct pend_flags loop_pf;
	unsigned n_back, h_back;
	uint32_t loop_max; /* iterations per entry (the interrupt latency) */
	/*
	 * The instructions translated (region()): the block's, then those
	 * of the blocks its Jcc falls through to in the same page (n in
	 * all; ins[n] is the last block's end marker).  side[k]: a Jcc
	 * inside, which leaves when taken (emit_jcc_side) and goes on
	 * into the next block's instructions when not.
	 */
	const struct soft_insn *ins[SOFT_TB_MAX_INSNS + 1];
	unsigned n;
	/* the threaded entry of ins[k] when it is the first instruction of
	 * a later block that is compiled already (its run is the compiled
	 * code: jit_info.orig), else NULL */
	soft_fn run0[SOFT_TB_MAX_INSNS];
	bool side[SOFT_TB_MAX_INSNS];
	/* a self-loop's loop_flush()es emitted before n_back and h_back
	 * were known (a side exit's): their imm32s, filled in by
	 * loop_setup() */
	bool back_known;
	size_t lfix_n[JIT_REGION_MAX], lfix_h[JIT_REGION_MAX];
	unsigned nlfix;
};

/* Offset of guest register @r of @size bytes (byte regs 16-19 = AH-BH). */
/* a register number past AH-BH: struct soft_cpu.jit_tmp, the value of a
 * memory operand that the register forms' emitters work on
 * (xops_rmw_pre) */
#define JIT_TMP_REG 20

static int32_t reg_off(unsigned r, unsigned size)
{
	if (r == JIT_TMP_REG)
		return OFF(jit_tmp);
	if (size == 1 && r >= 16)
		return GPR(r - 16) + 1;
	return GPR(r);
}

/* the register operand numbers of @i for its size */
static unsigned reg_of(const struct soft_insn *i, unsigned size)
{
	return size == 1 ? i->reg8 : i->reg;
}

static unsigned rm_of(const struct soft_insn *i, unsigned size)
{
	return size == 1 ? i->rm8 : i->rm;
}

/* host registers holding guest registers (callee-saved: they survive
 * the calls of generated code into C) */
static const uint8_t cache_regs[] = { H_RBP, H_R12, H_R13, H_R14, H_R15 };
#define NCACHE (sizeof(cache_regs) / sizeof(cache_regs[0]))
/* a self-loop's iteration counter (struct tr.loop): the last of them */
#define LOOP_REG H_R15
/* SOFT_JIT_LOOP_INSNS (jit.h): a self-loop's instructions per entry */

/* host register of guest register @r of @size (byte regs 16-19: AH-BH
 * of 0-3), -1 when not cached; *hi: a high-byte register */
static int cache_of(const struct tr *t, unsigned r, unsigned size, bool *hi)
{
	*hi = size == 1 && r >= 16 && r < JIT_TMP_REG;
	if (*hi)
		r -= 16;
	if (t->nocache || r >= 16)
		return -1;
	return t->hr[r];
}

/* guest register -> host register, zero-extended */
static void ld_reg(struct tr *t, unsigned h, unsigned r, unsigned size)
{
	struct jit_emit *e = &t->e;
	bool hi;
	int c = cache_of(t, r, size, &hi);

	if (c < 0) {
		e_load(e, h, H_RBX, reg_off(r, size), size);
		return;
	}
	if (hi) {
		e_rr(e, OPS(0x89), 8, (unsigned)c, h);    /* mov h, H */
		e_shift_i(e, 5, h, 8);
		e_zext(e, h, 1);
		return;
	}
	switch (size) {
	case 1: e_rr_b(e, OPS(0x0f, 0xb6), 4, h, (unsigned)c); break;
	case 2: e_rr(e, OPS(0x0f, 0xb7), 4, h, (unsigned)c); break;
	case 4: e_rr(e, OPS(0x89), 4, (unsigned)c, h); break;
	default: e_rr(e, OPS(0x89), 8, (unsigned)c, h); break;
	}
}

/* host register -> guest register (4 bytes zero-extend to 8); leaves
 * the host flags alone unless it is a cached AH-BH (t->hf cleared) */
static void st_reg(struct tr *t, unsigned h, unsigned r, unsigned size)
{
	struct jit_emit *e = &t->e;
	bool hi;
	int c = cache_of(t, r, size, &hi);

	if (c < 0) {
		if (size == 4) {
			e_zext(e, h, 4);
			size = 8;
		}
		e_store(e, h, H_RBX, reg_off(r, size), size);
		t->xvalid &= (uint16_t)~(1u << (hi ? r - 16 : r & 15));
		return;
	}
	t->dirty |= (uint16_t)(1u << (hi ? r - 16 : r));
	if (hi) {
		/* H = (H & ~0xff00) | (h & 0xff) << 8, through R11 */
		e_rr(e, OPS(0x89), 8, h, H_R11);
		e_zext(e, H_R11, 1);
		e_shift_i(e, 4, H_R11, 8);
		e_alu_ri(e, 4, (unsigned)c, (int32_t)0xffff00ff);
		e_alu_rr(e, 0x09, (unsigned)c, H_R11);
		t->hf = false;
		return;
	}
	switch (size) {
	case 1: e_rr(e, OPS(0x88), 1, h, (unsigned)c); break;
	case 2: e_rr(e, OPS(0x89), 2, h, (unsigned)c); break;
	case 4: e_rr(e, OPS(0x89), 4, h, (unsigned)c); break;
	default: e_rr(e, OPS(0x89), 8, h, (unsigned)c); break;
	}
}

/* guest register @r (64 bits) += @imm */
static void addi_reg(struct tr *t, unsigned r, int32_t imm)
{
	bool hi;
	int c = cache_of(t, r, 8, &hi);

	if (c < 0) {
		e_mem_imm(&t->e, 0, H_RBX, GPR(r), imm, 8);
		t->xvalid &= (uint16_t)~(1u << (r & 15));
		return;
	}
	e_alu_ri(&t->e, 0, (unsigned)c, imm);
	t->dirty |= (uint16_t)(1u << r);
	t->hf = false;
}

/* the cached registers of @mask into the state */
static void cache_store(struct tr *t, uint16_t mask)
{
	if (t->nocache)
		return;
	for (unsigned g = 0; g < 16; g++)
		if (mask & t->cached & (1u << g))
			e_store(&t->e, (unsigned)t->hr[g], H_RBX, GPR(g), 8);
}

static void emit_tlb_base(struct tr *t);
static void flush_hits(struct tr *t);

/* every cached register from the state (at the block's start, after a
 * call that may have changed them) */
static void cache_load(struct tr *t)
{
	if (t->nocache)
		return;
	for (unsigned g = 0; g < 16; g++)
		if (t->cached & (1u << g))
			e_load(&t->e, (unsigned)t->hr[g], H_RBX, GPR(g), 8);
	emit_tlb_base(t);
}

/* before a call that reads or changes the state: write back; after it,
 * cache_load() */
static void cache_sync(struct tr *t)
{
	cache_store(t, t->dirty);
	t->dirty = 0;
}

/* the block ends here: write back, the state alone from now on */
static void cache_end(struct tr *t)
{
	cache_sync(t);
	if (!t->nocache)
		t->xvalid = t->cached;
	t->nocache = true;
}

/*
 * The frame of compiled code: RBX = the CPU, RBP and R12-R15 the register
 * cache, 8 bytes more to keep RSP 16-byte aligned at calls.  Every block
 * has the same frame, so a compiled block enters another compiled block
 * at its body (PROLOGUE_LEN bytes in), skipping the pushes and pops.
 */

static void emit_prologue(struct jit_emit *e)
{
	e_push(e, H_RBX);
	e_push(e, H_RBP);
	e_push(e, H_R12);
	e_push(e, H_R13);
	e_push(e, H_R14);
	e_push(e, H_R15);
	e_alu_ri8_rsp(e, 5); /* sub rsp, 8 */
	e_rr(e, OPS(0x89), 8, H_RDI, H_RBX);
}

static void emit_epilogue(struct jit_emit *e)
{
	e_alu_ri8_rsp(e, 0); /* add rsp, 8 */
	e_pop(e, H_R15);
	e_pop(e, H_R14);
	e_pop(e, H_R13);
	e_pop(e, H_R12);
	e_pop(e, H_RBP);
	e_pop(e, H_RBX);
}

/* the pending RIP / instruction-count deltas into the state */
static void sync_pend(struct tr *t)
{
	if (t->pend_len)
		e_mem_imm(&t->e, 0, H_RBX, OFF(st.rip), (int32_t)t->pend_len,
			  8);
	if (t->pend_n)
		e_mem_imm(&t->e, 0, H_RBX, OFF(icount), (int32_t)t->pend_n, 8);
	t->pend_len = t->pend_n = 0;
	flush_hits(t);
}

/* a branch to the current instruction's slow path */
static void to_slow(struct tr *t, uint8_t cc)
{
	struct slow *s = t->cur;

	if (s->nfix < sizeof(s->fix) / sizeof(s->fix[0]))
		s->fix[s->nfix++] = e_jcc32(&t->e, cc);
	else
		t->e.overflow = true; /* not reached: at most 14 per insn */
}

/*
 * 32-bit code: segment @seg was flat, writable and based at 0 (SS: with a
 * 4-byte stack) when the block was compiled.  Then its accesses need no
 * check and no base: the entry guard checks the segments the block uses
 * that way (segused) once, and any change of them bumps chain_gen
 * (soft_update_seg), which undoes the patched links that enter past the
 * guard; an interpreter call or a slow path in the middle of the block
 * checks again after it (seg_recheck).
 */
static bool seg_fast(struct tr *t, unsigned seg)
{
	if (seg > VMM_GS || !(t->segfast0 & (1u << seg)))
		return false;
	t->segused |= 1u << seg;
	return true;
}

/*
 * After a call in the middle of a 32-bit block (the state exact): leave
 * for the executor when one of the segments of @mask is no longer fast
 * (a MOV to a segment register run by the interpreter), through the
 * block's exit at @exit_pos (0: not emitted yet, t->exits).  RAX
 * clobbered.
 */
static void seg_recheck(struct tr *t, uint32_t mask, size_t exit_pos)
{
	struct jit_emit *e = &t->e;
	size_t ok;

	if (!t->m32 || !mask)
		return;
	e_rm(e, OPS(0xf7), 4, 0, H_RBX, OFF(jit_segslow));
	e_d(e, mask);
	ok = e_jcc32(e, CC_E);
	e_movi(e, H_RAX, SOFT_END + 1);
	if (exit_pos)
		e_patch(e, e_jmp32(e), exit_pos);
	else if (t->nexits < sizeof(t->exits) / sizeof(t->exits[0]))
		t->exits[t->nexits++] = e_jmp32(e);
	else
		e->overflow = true;
	e_patch(e, ok, e_pos(e));
}

/*
 * RSI = linear address of @i's memory operand (64-bit mode: FS and GS
 * have a base, the other segments none).  Stack references check the
 * address is canonical (#SS by the slow path).
 */
static void emit_ea(struct tr *t, const struct soft_insn *i)
{
	struct jit_emit *e = &t->e;
	bool hi, zext = true;
	int hb = -1, hx = -1;

	if (i->base == SOFT_RIPREL) {
		/* 64-bit code: RIP = linear, a constant */
		e_movi(e, H_RSI, t->rip + i->len + (uint64_t)i->disp);
	} else {
		if (i->base != SOFT_NOREG)
			hb = cache_of(t, i->base, 8, &hi);
		if (i->index != SOFT_NOREG)
			hx = cache_of(t, i->index, 8, &hi);
	}
	if (i->base != SOFT_RIPREL &&
	    (i->base == SOFT_NOREG || hb >= 0) &&
	    (i->index == SOFT_NOREG || hx >= 0)) {
		/* lea rsi, [base + index * scale + disp32] (32-bit
		 * addresses: lea esi, cut and zero-extended) */
		e_lea_sz(e, i->asz == 4 ? 4 : 8, H_RSI, hb, hx, i->scale,
			 (int32_t)i->disp);
		zext = false;
	} else if (i->base != SOFT_RIPREL) {
		/* a register in the state: RSI = base (or disp), then one
		 * lea adds index * scale (+ disp) from the cached register
		 * or RAX */
		int32_t d = (int32_t)i->disp;

		if (i->base != SOFT_NOREG) {
			ld_reg(t, H_RSI, i->base, 8);
		} else {
			e_movi(e, H_RSI, (uint64_t)i->disp);
			d = 0;
		}
		if (i->index != SOFT_NOREG) {
			if (hx < 0) {
				ld_reg(t, H_RAX, i->index, 8);
				hx = H_RAX;
			}
			e_lea(e, H_RSI, H_RSI, hx, i->scale, d);
		} else if (d) {
			e_lea(e, H_RSI, H_RSI, -1, 0, d);
		}
	} else if (i->index != SOFT_NOREG) {
		ld_reg(t, H_RAX, i->index, 8);
		if (i->scale)
			e_shift_i(e, 4, H_RAX, i->scale);
		e_alu_rr(e, 0x01, H_RSI, H_RAX);
	}
	if (i->asz == 4 && zext)
		e_zext(e, H_RSI, 4);
	if (t->m32 && seg_fast(t, i->seg)) {
		/* flat, writable, base 0: checked at the entry */
	} else if (t->m32) {
		/* a segment that needs a limit or type check (segwchk:
		 * not flat, or not writable; clear implies segchk clear)
		 * goes to the slow path, whose handler checks; else the
		 * base, the sum wrapping at 4 GiB (lin32() in exec_fast.c) */
		e_rm(e, OPS(0xf7), 4, 0, H_RBX, OFF(segwchk));
		e_d(e, 1u << i->seg);
		to_slow(t, CC_NE);
		e_rm(e, OPS(0x03), 4, H_RSI, H_RBX, OFF(segbase[i->seg]));
	} else if (i->seg == VMM_FS || i->seg == VMM_GS) {
		e_rm(e, OPS(0x03), 8, H_RSI, H_RBX, OFF(segbase[i->seg]));
	}
}

/* canonical check of RSI (stack references: #SS) */
static void check_canonical(struct tr *t)
{
	struct jit_emit *e = &t->e;

	e_rr(e, OPS(0x89), 8, H_RSI, H_RAX);   /* mov rax, rsi */
	e_shift_i(e, 4, H_RAX, 16);
	e_shift_i(e, 7, H_RAX, 16);
	e_rr(e, OPS(0x39), 8, H_RSI, H_RAX);   /* cmp rax, rsi */
	to_slow(t, CC_NE);
}

/*
 * The soft TLB inline: RSI (linear) -> RSI (host pointer) for @size bytes,
 * a read or write hit, else the slow path.  Clobbers RAX, RCX (RDI too,
 * for the emitters that count on it).
 */
_Static_assert(offsetof(struct soft_tlb_entry, tag_w) < 128 &&
	       offsetof(struct soft_tlb_entry, addend) < 128,
	       "TLB entry fields reachable with disp8");
static void emit_tlb(struct tr *t, unsigned size, bool write)
{
	struct jit_emit *e = &t->e;
	uint8_t tag = write ? (uint8_t)offsetof(struct soft_tlb_entry, tag_w)
			    : (uint8_t)offsetof(struct soft_tlb_entry, tag_r);

	/* rax = soft_tlb_idx(lin) * 64 = (((lin >> 12) ^ (lin >> 25)) &
	 * 1023) << 6, formed as ((lin ^ (lin >> 13)) >> 6) & (1023 << 6):
	 * the entry is [r10 + rax] (R10 = this CPL's TLB) */
	e_rr(e, OPS(0x89), 8, H_RSI, H_RAX);
	e_shift_i(e, 5, H_RAX, 12 + SOFT_TLB_BITS + 3 - 12);
	e_alu_rr(e, 0x31, H_RAX, H_RSI);       /* xor rax, rsi */
	e_shift_i(e, 5, H_RAX, 12 - 6);
	e_b(e, 0x25);                          /* and eax, (size - 1) << 6 */
	e_d(e, (SOFT_TLB_SIZE - 1) << 6);
	/* the page of the access's last byte is the entry's: a hit that
	 * does not cross the page */
	if (size == 1) {
		e_rr(e, OPS(0x89), 8, H_RSI, H_RCX);             /* mov rcx,rsi */
	} else {
		e_b(e, 0x48); e_b(e, 0x8d); e_b(e, 0x4e);        /* lea rcx,[rsi+size-1] */
		e_b(e, (uint8_t)(size - 1));
	}
	e_alu_ri(e, 4, H_RCX, -4096);
	/* cmp rcx, [r10+rax+tag] */
	e_b(e, 0x49); e_b(e, 0x3b); e_b(e, 0x4c); e_b(e, 0x02); e_b(e, tag);
	to_slow(t, CC_NE);
	/* add rsi, [r10+rax+addend] */
	e_b(e, 0x49); e_b(e, 0x03); e_b(e, 0x74); e_b(e, 0x02);
	e_b(e, (uint8_t)offsetof(struct soft_tlb_entry, addend));
	t->pend_hits++;
}

/* R10 = this CPL's TLB, &c->tlb[c->tlb_user][0] (RAX clobbered); every
 * block with memory accesses keeps it there from its entry on */
static void e_tlb_base(struct jit_emit *e)
{
	e_load(e, H_RAX, H_RBX, OFF(tlb_user), 4);
	e_rr(e, OPS(0x69), 4, H_RAX, H_RAX);   /* imul eax, eax, imm32 */
	e_d(e, (uint32_t)sizeof(((struct soft_cpu *)0)->tlb[0]));
	e_b(e, 0x4c); e_b(e, 0x8d); e_b(e, 0x94); e_b(e, 0x03); /* lea r10,[rbx+rax+d32] */
	e_d(e, (uint32_t)OFF(tlb));
}

static void emit_tlb_base(struct tr *t)
{
	if (t->mem)
		e_tlb_base(&t->e);
}

/* add the TLB hits counted since the last time to the statistics */
static void flush_hits(struct tr *t)
{
	if (t->pend_hits)
		e_mem_imm(&t->e, 0, H_RBX, OFF(st_tlb_hits),
			  (int32_t)t->pend_hits, 8);
	t->pend_hits = 0;
}

/*
 * A self-loop's iterations not counted yet into the state: icount +=
 * LOOP_REG * n_back, st_tlb_hits += LOOP_REG * h_back (before the block
 * is left or a call may leave it); @undo takes them out again (a slow
 * path going back into the loop).  RAX clobbered, not the host flags'
 * users: none is live here.
 */
static void loop_flush(struct tr *t, bool undo)
{
	struct jit_emit *e = &t->e;

	bool fix = !t->back_known;

	if (!t->loop)
		return;
	if (fix && t->nlfix >= JIT_REGION_MAX) {
		e->overflow = true; /* not reached: one per side exit */
		return;
	}
	e_rr(e, OPS(0x69), 4, H_RAX, LOOP_REG);    /* imul eax, r15d, n */
	if (fix)
		t->lfix_n[t->nlfix] = e_pos(e);
	e_d(e, t->n_back);
	e_rm(e, OPS(undo ? 0x29 : 0x01), 8, H_RAX, H_RBX, OFF(icount));
	if (t->h_back || fix) {
		e_rr(e, OPS(0x69), 4, H_RAX, LOOP_REG);
		if (fix)
			t->lfix_h[t->nlfix++] = e_pos(e);
		e_d(e, t->h_back);
		e_rm(e, OPS(undo ? 0x29 : 0x01), 8, H_RAX, H_RBX,
		     OFF(st_tlb_hits));
	}
}

/* lazy flags of a result: op, size, res = RDX, a = RAX, b = RCX */
static void emit_lf_r(struct tr *t, unsigned op, unsigned size,
		      unsigned res)
{
	struct jit_emit *e = &t->e;

	e_st32i(e, H_RBX, OFF(lf_op), op);
	e_st32i(e, H_RBX, OFF(lf_size), size);
	e_store(e, res, H_RBX, OFF(lf_res), 8);
	e_store(e, H_RAX, H_RBX, OFF(lf_a), 8);
	e_store(e, H_RCX, H_RBX, OFF(lf_b), 8);
}

static void emit_lf(struct tr *t, unsigned op, unsigned size)
{
	emit_lf_r(t, op, size, H_RDX);
}

static void emit_shift_flags(struct tr *t, unsigned shop, unsigned msb,
			     unsigned a);

/* the pending producer @p redone on R8, R9: RDX = its result, the host
 * flags its flags */
static void pf_redo(struct tr *t, const struct pend_flags *p)
{
	struct jit_emit *e = &t->e;

	if (p->incdec) {
		/* bt r9d, 0: CF = the CF before it, which INC/DEC keeps */
		e_rr(e, OPS(0x0f, 0xba), 4, 4, H_R9);
		e_b(e, 0);
		e_rr(e, OPS(0x89), 8, H_R8, H_RDX);
		e_rr(e, (const uint8_t[]){ p->size == 1 ? 0xfe : 0xff }, 1,
		     p->size, p->op == LF_DEC ? 1 : 0, H_RDX);
		return;
	}
	if (p->shift) {
		t->e.overflow = true; /* not reached (shift_defer) */
		return;
	}
	if (p->bimm)
		e_movi(e, H_R9, p->imm);
	e_rr(e, OPS(0x89), 8, H_R8, H_RDX);
	e_rr(e, (const uint8_t[]){ (uint8_t)(p->hop - (p->size == 1)) }, 1,
	     p->size, H_R9, H_RDX);
}

/* the pending flags @p into the state (RDX clobbered; the host flags
 * are then the producer's) */
static void pf_store(struct tr *t, const struct pend_flags *p)
{
	struct jit_emit *e = &t->e;

	if (!p->v)
		return;
	if (p->shift) {
		/* RFLAGS as emit_shift_live() writes them (RAX, RCX, RDX,
		 * RSI clobbered), no lazy flags */
		e_rr(e, OPS(0x89), 8, H_R8, H_RCX);
		e_rr(e, OPS(0x89), 8, H_RCX, H_RDX);
		e_rr(e, (const uint8_t[]){ p->size == 1 ? 0xc0 : 0xc1 }, 1,
		     p->size, p->hop, H_RDX);
		e_b(e, (uint8_t)p->imm);
		emit_shift_flags(t, p->hop, p->size * 8u - 1, H_RCX);
		e_load(e, H_RCX, H_RBX, OFF(st.rflags), 8);
		e_alu_ri(e, 4, H_RCX, (int32_t)~(uint32_t)FL_ARITH);
		e_alu_rr(e, 0x09, H_RCX, H_RAX);
		e_store(e, H_RCX, H_RBX, OFF(st.rflags), 8);
		e_st32i(e, H_RBX, OFF(lf_op), LF_NONE);
		return;
	}
	e_st32i(e, H_RBX, OFF(lf_op), p->op);
	e_st32i(e, H_RBX, OFF(lf_size), p->size);
	pf_redo(t, p);
	e_store(e, H_RDX, H_RBX, OFF(lf_res), 8);
	e_store(e, H_R8, H_RBX, OFF(lf_a), 8);
	if (p->incdec) {
		e_rm(e, OPS(0xc7), 8, 0, H_RBX, OFF(lf_b));
		e_d(e, 1);
		e_store(e, H_R9, H_RBX, OFF(lf_cin), 4);
		return;
	}
	e_store(e, H_R9, H_RBX, OFF(lf_b), 8);
}

/* the pending flags into the state, nothing pending after */
static void pf_flush(struct tr *t)
{
	if (t->pf.v) {
		pf_store(t, &t->pf);
		t->hf = !t->pf.shift, t->hf_nocf = false;
	}
	t->pf.v = false;
}

/* the arithmetic flags = EAX's bits (computed, not lazy): RFLAGS, and
 * no lazy flags (soft_flags_set_arith); RCX clobbered */
static void emit_set_arith(struct tr *t)
{
	struct jit_emit *e = &t->e;

	e_load(e, H_RCX, H_RBX, OFF(st.rflags), 8);
	e_alu_ri(e, 4, H_RCX, (int32_t)~(uint32_t)FL_ARITH);
	e_alu_rr(e, 0x09, H_RCX, H_RAX);
	e_store(e, H_RCX, H_RBX, OFF(st.rflags), 8);
	e_st32i(e, H_RBX, OFF(lf_op), LF_NONE);
	t->hf = false;
	t->lf_eager = true;
}

/* the arithmetic flags the instruction computed in R11 become RFLAGS:
 * nothing pending, no lazy flags (emit_set_arith) */
static void set_arith_r11(struct tr *t)
{
	e_rr(&t->e, OPS(0x89), 8, H_R11, H_RAX);
	emit_set_arith(t);
	t->pf.v = false;
	t->lf_op = t->lf_size = 0;
}

/* a = RAX, b = RCX of the register-form op just done: pending */
static void pf_defer(struct tr *t, unsigned op, unsigned size, uint8_t hop,
		     bool copy)
{
	if (copy) {
		e_rr(&t->e, OPS(0x89), 8, H_RAX, H_R8);
		e_rr(&t->e, OPS(0x89), 8, H_RCX, H_R9);
	}
	t->pf.v = true;
	t->pf.op = (uint8_t)op;
	t->pf.size = (uint8_t)size;
	t->pf.hop = hop;
	t->pf.incdec = false;
	t->pf.bimm = false;
	t->pf.shift = false;
}

/* the pending op's b is @i's immediate (pf_redo), after pf_defer() */
static void pf_bimm(struct tr *t, const struct soft_insn *i, unsigned sz)
{
	t->pf.bimm = true;
	t->pf.imm = i->imm & soft_mask(sz);
}

/* op @hd, imm of ALU op @alu (0-7, 8 = TEST) at @sz bytes (1, 4, 8):
 * the host flags are the guest's */
static void e_alu_imm(struct jit_emit *e, unsigned alu, unsigned sz,
		      unsigned hd, uint64_t imm)
{
	if (sz == 1) {
		e_rr(e, OPS(alu == 8 ? 0xf6 : 0x80), 1, alu == 8 ? 0 : alu,
		     hd);
		e_b(e, (uint8_t)imm);
		return;
	}
	e_rr(e, OPS(alu == 8 ? 0xf7 : 0x81), sz, alu == 8 ? 0 : alu, hd);
	e_d(e, (uint32_t)imm);
}

/* ---- which instructions the translator handles ---- */

enum kind {
	K_NONE = 0,
	K_ALU,    /* a = E or G or rAX, b = G, E or imm; op */
	K_MOV,    /* dst = src */
	K_MOVX,   /* MOVZX / MOVSX / MOVSXD */
	K_LEA,
	K_INCDEC,
	K_PUSH,
	K_POP,
	K_SHIFT,  /* SHL/SHR/SAR of a register by a constant, flags dead */
	K_SETCC,  /* SETcc of a register */
	K_CMOV,   /* CMOVcc register, register */
	K_ROT,    /* ROL/ROR of a register by a constant, flags dead */
	K_NOT,
	K_NEG,
	K_IMUL,   /* IMUL Gv, Ev (, imm), flags dead */
	K_NOP,    /* NOP, NOP r/m, prefetch-class hints */
	K_CBW,    /* CBW / CWDE / CDQE */
	K_CWD,    /* CWD / CDQ / CQO */
	K_LEAVE,  /* LEAVE (64-bit) */
	K_PUSHI,  /* PUSH imm (64-bit) */
	K_SHIFTCL, /* SHL/SHR/SAR/ROL/ROR of a register by CL (flags live:
		    * SHL/SHR/SAR of 4 and 8 bytes only) */
	K_MULDIV, /* MUL/IMUL/DIV/IDIV r/m (F6/F7 /4-/7; shop = /ext) */
	K_PUSHM,  /* PUSH r/m (FF /6) */
	K_BT,     /* BT/BTS/BTR/BTC (shop = 4-7): register, or memory with an
		   * immediate offset */
	K_BSWAP,  /* BSWAP r (the register in rm) */
	K_XCHG,   /* XCHG r/m, r (86/87; memory: atomic), XCHG eAX, r (acc) */
	K_CMPXCHG, /* CMPXCHG r/m, r (0F B0/B1; memory: atomic, LOCK or not) */
	K_XADD,   /* XADD r/m, r (0F C0/C1; memory: atomic, LOCK or not) */
	K_PUSHF,  /* PUSHF (9C) of 8 bytes (4 in 32-bit code) */
	K_BITSCAN, /* BSF/BSR/TZCNT/LZCNT/POPCNT r, r/m (shop 0-4) */
	K_MOVSEG, /* MOV r/m, Sreg (8C) */
	K_STR,    /* MOVS CMPS STOS LODS SCAS (shop = str_op()), REP or not */
	K_DF,     /* CLD / STD (FC / FD) */
	K_CLI,    /* CLI (FA): IF cleared, #GP by the slow path */
	K_SWAPGS, /* SWAPGS (0F 01 F8, 64-bit code), #GP by the slow path */
	K_CX8,    /* CMPXCHG8B / CMPXCHG16B m (0F C7 /1), LOCK or not */
	K_SHXD,   /* SHLD / SHRD r/m, r, imm8 / CL of 4 or 8 bytes */
	K_MOVBE,  /* MOVBE r, m / m, r (0F 38 F0 / F1) */
	K_RCX,    /* RCL / RCR r/m by 1, imm8 or CL (count: a constant one) */
	K_PP16,   /* PUSH / POP r16 (66 50+r / 58+r) */
	K_ENTER,  /* ENTER imm16, 0 (64-bit) */
	K_JCC,    /* Jcc, the last instruction of a block */
	K_JMP,    /* JMP rel, last */
	K_CALL,   /* CALL rel, last */
	K_RET,    /* RET (C3), last */
	K_JMPI,   /* JMP r/m64, last */
	K_CALLI,  /* CALL r/m64, last */
};

/* the operand is the register in the opcode's low bits (B0-BF MOV, and
 * 40-4F INC/DEC outside 64-bit mode): decode.c puts it in rm */
#define OPREG(i) (((i)->op >= 0xb0 && (i)->op <= 0xbf) || \
		  ((i)->op >= 0x40 && (i)->op <= 0x4f))

/* operand places */
enum { O_E, O_G, O_A, O_I };

struct form {
	enum kind k;
	unsigned alu;      /* 0-7 as in the opcode, 8 = TEST */
	unsigned dst, src; /* O_* */
	unsigned size;     /* operand size */
	unsigned ssize;    /* MOVX source size */
	bool sx;           /* MOVX: sign-extend */
	bool dec;
	unsigned cc;       /* SETcc, CMOVcc, Jcc: condition 0-15 */
	unsigned shop;     /* K_SHIFT: host /ext 4 SHL, 5 SHR, 7 SAR */
	unsigned count;    /* K_SHIFT: count, masked, not 0 */
	bool acc;          /* K_XCHG: 90+r, XCHG eAX, r (the register in rm) */
	unsigned rep;      /* K_STR: 0 none, 1 REP/REPE (F3), 2 REPNE (F2) */
};

/* the forms of the section "more forms" (below) */
static bool xops_classify(const struct soft_insn *i, struct form *f,
			  bool m32);
static bool xops_mem(const struct soft_insn *i, const struct form *f);
static bool str_classify(const struct soft_insn *i, struct form *f,
			 bool m32);
static bool lock_ok(const struct soft_insn *i);
static bool cx8_classify(const struct soft_insn *i, struct form *f);
static bool shxd_classify(const struct soft_insn *i, struct form *f);
static bool movbe_classify(const struct soft_insn *i, struct form *f);
static bool rcx_classify(const struct soft_insn *i, struct form *f);
static bool pp16_classify(const struct soft_insn *i, struct form *f);
static bool enter_classify(const struct soft_insn *i, struct form *f,
			   bool m32);

static bool classify(const struct soft_insn *i, struct form *f, bool m32)
{
	unsigned op = i->op, sz = i->osz;

	memset(f, 0, sizeof(*f));
	f->size = sz;
	if ((i->pfx & PFX_LOCK) &&
	    !(i->mod != 3 && (op == 0x86 || op == 0x87 || op == 0x1b0 ||
			      op == 0x1b1 || op == 0x1c0 || op == 0x1c1)) &&
	    !lock_ok(i))
		return false; /* LOCK: the atomic forms of xops_classify(),
			       * emit_lock(), emit_bt(), emit_cx8() */
	if (xops_classify(i, f, m32)) {
		if (f->k == K_NONE)
			return false;
		if (f->acc)
			return true; /* the register in the opcode: rm */
	} else if (str_classify(i, f, m32) || cx8_classify(i, f) ||
		   shxd_classify(i, f) || movbe_classify(i, f) ||
		   rcx_classify(i, f) || enter_classify(i, f, m32) ||
		   (i->osz == 2 && pp16_classify(i, f))) {
		if (f->k == K_NONE)
			return false;
		if (f->k == K_PP16 || f->k == K_ENTER)
			return true; /* no ModRM */
	} else if (op < 0x40 && (op & 7) < 6) {
		static const unsigned d[6] = { O_E, O_E, O_G, O_G, O_A, O_A };
		static const unsigned s[6] = { O_G, O_G, O_E, O_E, O_I, O_I };
		f->alu = op >> 3;
		f->dst = d[op & 7];
		f->src = s[op & 7];
		f->k = K_ALU;
	} else if (op == 0x80 || op == 0x81 || op == 0x83) {
		f->alu = i->reg & 7;
		f->dst = O_E;
		f->src = O_I;
		f->k = K_ALU;
	} else if (op == 0x84 || op == 0x85) {
		f->alu = 8, f->dst = O_E, f->src = O_G, f->k = K_ALU;
	} else if (op == 0xa8 || op == 0xa9) {
		f->alu = 8, f->dst = O_A, f->src = O_I, f->k = K_ALU;
	} else if ((op == 0xf6 || op == 0xf7) && (i->reg & 7) == 0) {
		f->alu = 8, f->dst = O_E, f->src = O_I, f->k = K_ALU;
	} else if (op == 0x88 || op == 0x89) {
		f->k = K_MOV, f->dst = O_E, f->src = O_G;
	} else if (op == 0x8a || op == 0x8b) {
		f->k = K_MOV, f->dst = O_G, f->src = O_E;
	} else if (op >= 0xb0 && op <= 0xbf) {
		f->k = K_MOV, f->dst = O_E, f->src = O_I; /* rm = the register */
	} else if ((op == 0xc6 || op == 0xc7) && (i->reg & 7) == 0) {
		f->k = K_MOV, f->dst = O_E, f->src = O_I;
	} else if (op == 0x1b6 || op == 0x1b7 || op == 0x1be || op == 0x1bf) {
		f->k = K_MOVX;
		f->ssize = (op & 1) ? 2 : 1;
		f->sx = op >= 0x1be;
		if (f->ssize == 2 && sz == 2)
			return false; /* 16-bit MOVZX r16, r/m16: a plain move */
	} else if (op == 0x63 && sz == 8) {
		f->k = K_MOVX, f->ssize = 4, f->sx = true;
	} else if (op == 0x8d && i->mod != 3) {
		f->k = K_LEA;
	} else if ((op == 0xfe || op == 0xff) && (i->reg & 7) <= 1) {
		f->k = K_INCDEC, f->dec = i->reg & 1, f->dst = O_E;
	} else if (m32 && op >= 0x40 && op <= 0x4f) {
		/* INC/DEC r16/r32 (REX prefixes in 64-bit mode) */
		f->k = K_INCDEC, f->dec = op >= 0x48, f->dst = O_E;
	} else if (op >= 0x50 && op <= 0x57 && (sz == 8 || (m32 && sz == 4))) {
		f->k = K_PUSH;
	} else if (op >= 0x58 && op <= 0x5f && (sz == 8 || (m32 && sz == 4))) {
		f->k = K_POP;
	} else if ((op == 0xc1 || op == 0xd1 || op == 0xc0 || op == 0xd0) &&
		   ((i->reg & 7) == 4 || (i->reg & 7) == 5 ||
		    (i->reg & 7) == 7)) {
		/* memory: xops_rmw_pre() */
		unsigned n = (op == 0xd1 || op == 0xd0) ? 1 : (unsigned)i->imm;
		n &= sz == 8 ? 63 : 31;
		if (!n)
			return false; /* flags unchanged: the interpreter's */
		f->k = K_SHIFT, f->shop = i->reg & 7, f->count = n;
		f->dst = O_E;
	} else if ((op == 0xd2 || op == 0xd3) &&
		   ((i->reg & 7) <= 1 || (i->reg & 7) == 4 ||
		    (i->reg & 7) == 5 || (i->reg & 7) == 7)) {
		/* a count of 0 (CL masked) leaves the flags: translated only
		 * where they are dead (translate_block) */
		f->k = K_SHIFTCL, f->shop = i->reg & 7, f->dst = O_E;
	} else if ((op == 0xc1 || op == 0xc0 || op == 0xd1 || op == 0xd0) &&
		   (i->reg & 7) <= 1) {
		unsigned n = (op == 0xd1 || op == 0xd0) ? 1 : (unsigned)i->imm;
		n &= sz == 8 ? 63 : 31;
		if (!n)
			return false;
		f->k = K_ROT, f->shop = i->reg & 7, f->count = n;
		f->dst = O_E;
	} else if ((op == 0xf6 || op == 0xf7) && (i->reg & 7) == 2) {
		f->k = K_NOT, f->dst = O_E;
	} else if ((op == 0xf6 || op == 0xf7) && (i->reg & 7) == 3) {
		f->k = K_NEG, f->dst = O_E;
	} else if ((op == 0xf6 || op == 0xf7) && (i->reg & 7) >= 4) {
		f->k = K_MULDIV, f->shop = i->reg & 7, f->dst = O_E;
	} else if (op == 0xff && (i->reg & 7) == 6 &&
		   (sz == 8 || (m32 && sz == 4))) {
		f->k = K_PUSHM, f->dst = O_E;
	} else if ((op == 0x1a3 || op == 0x1ab || op == 0x1b3 ||
		    op == 0x1bb) && (i->mod == 3 || i->asz == (m32 ? 4 : 8))) {
		/* memory: the register offset addresses beyond the
		 * operand (emit_bt) */
		f->k = K_BT, f->dst = O_E;
		f->shop = op == 0x1a3 ? 4 : op == 0x1ab ? 5 : op == 0x1b3 ? 6 : 7;
	} else if (op == 0x1ba && (i->reg & 7) >= 4) {
		f->k = K_BT, f->shop = i->reg & 7, f->dst = O_E;
	} else if (op >= 0x1c8 && op <= 0x1cf) {
		f->k = K_BSWAP;
	} else if (op == 0x1af || op == 0x69 || op == 0x6b) {
		if (sz == 1)
			return false;
		f->k = K_IMUL, f->dst = O_G, f->src = O_E;
	} else if (op >= 0x190 && op <= 0x19f) {
		/* a register, or memory (emit_setcc_cmov) */
		f->k = K_SETCC, f->cc = op & 15, f->size = 1;
	} else if (op >= 0x140 && op <= 0x14f && sz != 1) {
		f->k = K_CMOV, f->cc = op & 15;
	} else if (((op >= 0x70 && op <= 0x7f) ||
		    (op >= 0x180 && op <= 0x18f)) &&
		   (sz == 8 || (m32 && sz == 4))) {
		f->k = K_JCC, f->cc = op & 15;
	} else if ((op == 0xe9 || op == 0xeb) && (sz == 8 || (m32 && sz == 4))) {
		f->k = K_JMP;
	} else if (op == 0xe8 && (sz == 8 || (m32 && sz == 4))) {
		f->k = K_CALL;
	} else if (op == 0xc3 && (sz == 8 || (m32 && sz == 4))) {
		f->k = K_RET;
	} else if (op == 0xff && (i->reg & 7) == 4 &&
		   (sz == 8 || (m32 && sz == 4))) {
		f->k = K_JMPI;
	} else if (op == 0xff && (i->reg & 7) == 2 &&
		   (sz == 8 || (m32 && sz == 4))) {
		f->k = K_CALLI;
	} else if ((op == 0x90 && i->rm == 0 && !(i->pfx & PFX_REP)) ||
		   op == 0x10d || (op >= 0x118 && op <= 0x11f)) {
		/* as op_xchg_a / op_nop_m: no access (F3 90, PAUSE, is
		 * the interpreter's: it may give the host CPU away) */
		f->k = K_NOP;
	} else if (op == 0x98) {
		f->k = K_CBW;
	} else if (op == 0x99) {
		f->k = K_CWD;
	} else if (op == 0xc9 && (sz == 8 || (m32 && sz == 4))) {
		f->k = K_LEAVE;
	} else if ((op == 0x68 || op == 0x6a) && (sz == 8 || (m32 && sz == 4))) {
		f->k = K_PUSHI;
	} else {
		return false;
	}
	/* B0-BF name the register in the opcode: decode.c puts it in rm */
	if OPREG(i)
		return true;
	/* 32-bit code: 16-bit addressing (67) is the interpreter's */
	if (m32 && i->mod != 3 && i->asz != 4)
		return false;
	if ((f->k == K_ALU || f->k == K_MOV || f->k == K_INCDEC) &&
	    (f->dst == O_E || f->src == O_E) && i->mod != 3 &&
	    i->asz == 2)
		return false;
	return true;
}

/* has a memory operand (so can fault: also the stack) */
static bool form_mem(const struct soft_insn *i, const struct form *f)
{
	switch (f->k) {
	case K_PUSH:
	case K_POP:
	case K_LEAVE:
	case K_PUSHI:
	case K_PUSHM:
		return true;
	case K_MULDIV:
		/* DIV/IDIV fault (#DE) with a register operand too */
		return i->mod != 3 || f->shop >= 6;
	case K_BT:
	case K_SETCC:
	case K_CMOV:
	case K_SHIFT:
	case K_ROT:
	case K_SHIFTCL:
		return i->mod != 3;
	case K_XCHG:
	case K_CMPXCHG:
	case K_XADD:
	case K_PUSHF:
	case K_BITSCAN:
	case K_MOVSEG:
		return xops_mem(i, f);
	case K_STR:
	case K_CX8:
	case K_MOVBE:
	case K_CLI: /* (#GP) */
	case K_SWAPGS:
	case K_PP16:
	case K_ENTER:
		return true;
	case K_SHXD:
	case K_RCX:
		return i->mod != 3;
	case K_MOVX:
		return i->mod != 3;
	case K_NOT:
	case K_NEG:
	case K_IMUL:
		return i->mod != 3;
	case K_ALU:
	case K_MOV:
	case K_INCDEC:
		if OPREG(i)
			return false;
		return (f->dst == O_E || f->src == O_E) && i->mod != 3;
	default:
		return false;
	}
}


/* ---- emitting one handled instruction ---- */

/* RAX/RCX = operand @o of size @sz (memory: host pointer in RSI) */
static void ld_opnd(struct tr *t, const struct soft_insn *i, unsigned h,
		    unsigned o, unsigned sz)
{
	switch (o) {
	case O_E:
		if (i->mod == 3 || OPREG(i))
			ld_reg(t, h, rm_of(i, sz), sz);
		else
			e_load(&t->e, h, H_RSI, 0, sz);
		break;
	case O_G: ld_reg(t, h, reg_of(i, sz), sz); break;
	case O_A: ld_reg(t, h, VMM_RAX, sz); break;
	default: e_movi(&t->e, h, i->imm & soft_mask(sz)); break;
	}
}

static void st_opnd(struct tr *t, const struct soft_insn *i, unsigned h,
		    unsigned o, unsigned sz)
{
	switch (o) {
	case O_E:
		if (i->mod == 3 || OPREG(i))
			st_reg(t, h, rm_of(i, sz), sz);
		else
			e_store(&t->e, h, H_RSI, 0, sz);
		break;
	case O_G: st_reg(t, h, reg_of(i, sz), sz); break;
	default: st_reg(t, h, VMM_RAX, sz); break;
	}
}

static const unsigned alu_lf[9] = {
	LF_ADD, LF_LOGIC, LF_ADC, LF_SBB, LF_LOGIC, LF_SUB, LF_LOGIC, LF_SUB,
	LF_LOGIC,
};
static const uint8_t alu_host[9] = {
	0x01, 0x09, 0x11, 0x19, 0x21, 0x29, 0x31, 0x29, 0x21,
};

/* the guest register operand @o of @i (not memory, not an immediate),
 * as a guest register number (16-19: AH-BH) */
static unsigned opnd_reg(const struct soft_insn *i, unsigned o, unsigned sz)
{
	if (o == O_G)
		return reg_of(i, sz);
	if (o == O_A)
		return VMM_RAX;
	return rm_of(i, sz);
}

/* the host register caching register operand @o of 4 or 8 bytes, or -1 */
static int opnd_host(const struct tr *t, const struct soft_insn *i,
		     unsigned o, unsigned sz)
{
	bool hi;

	if (o == O_I || (sz != 4 && sz != 8))
		return -1;
	if (o == O_E && i->mod != 3 && !OPREG(i))
		return -1;
	return cache_of(t, opnd_reg(i, o, sz), sz, &hi);
}

static void mark_dirty(struct tr *t, unsigned r)
{
	t->dirty |= (uint16_t)(1u << r);
}

/*
 * ALU, MOV, shifts, INC/DEC on a cached register of 4 or 8 bytes: the
 * host instruction on the host register itself (a 4-byte operation
 * zero-extends it, as the guest's does).  False when the form is not
 * one of these.
 */
static bool emit_direct(struct tr *t, const struct soft_insn *i,
			const struct form *f, bool flags_live)
{
	struct jit_emit *e = &t->e;
	unsigned sz = f->size;
	int hd = opnd_host(t, i, f->dst, sz), hs;

	if (form_mem(i, f) || (sz != 4 && sz != 8))
		return false;
	switch (f->k) {
	case K_ALU: {
		bool wr = f->alu != 7 && f->alu != 8;
		uint8_t op = alu_host[f->alu];
		if (f->alu == 2 || f->alu == 3)
			return false; /* ADC/SBB: emit_form, CF in */
		if (!wr && !flags_live)
			return true; /* CMP/TEST, flags dead: nothing */
		if (hd < 0)
			return false;
		hs = opnd_host(t, i, f->src, sz);
		if (!flags_live) {
			if (f->src == O_I) {
				e_rr(e, OPS(0x81), sz, f->alu, (unsigned)hd);
				e_d(e, (uint32_t)i->imm);
			} else if (hs >= 0) {
				e_rr(e, &op, 1, sz, (unsigned)hs, (unsigned)hd);
			} else {
				uint8_t op2 = (uint8_t)(op + 2);
				e_rm(e, &op2, 1, sz, (unsigned)hd, H_RBX,
				     reg_off(opnd_reg(i, f->src, sz), sz));
			}
			mark_dirty(t, opnd_reg(i, f->dst, sz));
			return true;
		}
		/* a = R8, b = R9, the result in place; the flags pending */
		ld_reg(t, H_R8, opnd_reg(i, f->dst, sz), sz);
		if (f->src == O_I) {
			/* b a constant (pf_bimm) */
			e_alu_imm(e, f->alu, sz, (unsigned)hd, i->imm);
			if (wr)
				mark_dirty(t, opnd_reg(i, f->dst, sz));
			t->hf = true, t->hf_nocf = false;
			pf_defer(t, alu_lf[f->alu], sz, op, false);
			pf_bimm(t, i, sz);
			return true;
		}
		ld_opnd(t, i, H_R9, f->src, sz);
		if (wr) {
			e_rr(e, &op, 1, sz, H_R9, (unsigned)hd);
			mark_dirty(t, opnd_reg(i, f->dst, sz));
		} else {
			/* CMP, TEST: no result */
			e_rr(e, OPS(f->alu == 8 ? 0x85 : 0x39), sz, H_R9,
			     (unsigned)hd);
		}
		t->hf = true, t->hf_nocf = false;
		pf_defer(t, alu_lf[f->alu], sz, op, false);
		return true;
	}
	case K_MOV:
		if (hd < 0)
			return false;
		hs = opnd_host(t, i, f->src, sz);
		if (f->src == O_I)
			e_movi(e, (unsigned)hd, i->imm & soft_mask(sz));
		else if (hs >= 0)
			e_rr(e, OPS(0x89), sz, (unsigned)hs, (unsigned)hd);
		else
			e_load(e, (unsigned)hd, H_RBX,
			       reg_off(opnd_reg(i, f->src, sz), sz), sz);
		mark_dirty(t, opnd_reg(i, f->dst, sz));
		return true;
	case K_SHIFT:
	case K_ROT:
		if (hd < 0)
			return false;
		e_rr(e, OPS(0xc1), sz, f->shop, (unsigned)hd);
		e_b(e, (uint8_t)f->count);
		mark_dirty(t, opnd_reg(i, f->dst, sz));
		return true;
	case K_INCDEC:
		if (hd < 0)
			return false;
		if (flags_live) {
			/* pending: a = R8, R9 = the CF before it (EAX:
			 * emit_get_cf came right before; moves keep the
			 * host flags) */
			e_rr(e, OPS(0x89), 4, H_RAX, H_R9);
			e_rr(e, OPS(0x89), 8, (unsigned)hd, H_R8);
		}
		e_rr(e, OPS(0xff), sz, f->dec ? 1 : 0, (unsigned)hd);
		mark_dirty(t, opnd_reg(i, f->dst, sz));
		if (flags_live) {
			/* the host CF is the guest's when emit_get_cf()
			 * left it there */
			t->hf = true, t->hf_nocf = !t->cf_host;
			t->pf.v = true;
			t->pf.op = f->dec ? LF_DEC : LF_INC;
			t->pf.size = (uint8_t)sz;
			t->pf.hop = 0;
			t->pf.incdec = true;
			t->pf.bimm = false;
			t->pf.shift = false;
		}
		return true;
	default:
		return false;
	}
}

/*
 * 32-bit code, a stack access of 4 bytes at the offset in ESI (32 bits):
 * RSI = its host pointer.  The stack-address size must be 4 (SS.B, which
 * can change without a new block) and SS flat and writable, else the
 * slow path (the handler checks); the base added, wrapping at 4 GiB.
 * RDX is preserved.
 */
static void stack_ea32(struct tr *t, bool write)
{
	struct jit_emit *e = &t->e;

	if (seg_fast(t, VMM_SS)) {
		/* a 4-byte stack, flat, base 0: checked at the entry */
		emit_tlb(t, 4, write);
		return;
	}
	e_rm(e, OPS(0x83), 4, 7, H_RBX, OFF(ssz)); e_b(e, 4); /* cmp ssz, 4 */
	to_slow(t, CC_NE);
	e_rm(e, OPS(0xf7), 4, 0, H_RBX, OFF(segwchk));
	e_d(e, 1u << VMM_SS);
	to_slow(t, CC_NE);
	e_rm(e, OPS(0x03), 4, H_RSI, H_RBX, OFF(segbase[VMM_SS]));
	emit_tlb(t, 4, write);
}

/*
 * As mul_flags(): RFLAGS' arithmetic flags after a multiplication whose
 * low result (@sz bytes) is in RAX and whose overflow bit (0/1, the low
 * byte of @of) says CF = OF: ZF SF PF of the result, AF 0.
 */
static void emit_mul_flags(struct tr *t, unsigned sz, unsigned of)
{
	struct jit_emit *e = &t->e;

	e_rr(e, (const uint8_t[]){ sz == 1 ? 0x84 : 0x85 }, 1, sz, H_RAX,
	     H_RAX);                                 /* test: ZF SF PF */
	e_b(e, 0x9f);                                /* lahf */
	e_rr(e, OPS(0x0f, 0xb6), 4, H_RAX, 4);       /* movzx eax, ah */
	e_rr(e, OPS(0x81), 4, 4, H_RAX);
	e_d(e, FL_SF | FL_ZF | FL_PF);
	e_zext(e, of, 1);
	e_rr(e, OPS(0x69), 4, of, of);               /* imul of, of, CF|OF */
	e_d(e, FL_CF | FL_OF);
	e_alu_rr(e, 0x09, H_RAX, of);
	emit_set_arith(t);
}

/* PUSH reg / PUSH imm / POP reg / LEAVE of 32-bit code (4 bytes) */
static void emit_stack32(struct tr *t, const struct soft_insn *i,
			 const struct form *f)
{
	struct jit_emit *e = &t->e;

	switch (f->k) {
	case K_PUSH:
	case K_PUSHI:
		ld_reg(t, H_RSI, VMM_RSP, 4);
		e_alu_ri(e, 5, H_RSI, 4);
		e_zext(e, H_RSI, 4);
		e_rr(e, OPS(0x89), 8, H_RSI, H_RDX);     /* rdx = new ESP */
		stack_ea32(t, true);
		if (f->k == K_PUSH)
			ld_reg(t, H_RAX, i->rm, 4);
		else
			e_movi(e, H_RAX, (uint32_t)i->imm);
		e_store(e, H_RAX, H_RSI, 0, 4);
		st_reg(t, H_RDX, VMM_RSP, 4);
		break;
	case K_POP:
	case K_LEAVE:
		/* POP: from ESP; LEAVE: ESP = EBP, then POP EBP */
		ld_reg(t, H_RSI, f->k == K_POP ? VMM_RSP : VMM_RBP, 4);
		e_rr(e, OPS(0x89), 8, H_RSI, H_RDX);
		stack_ea32(t, false);
		e_load(e, H_RAX, H_RSI, 0, 4);
		e_alu_ri(e, 0, H_RDX, 4);
		e_zext(e, H_RDX, 4);
		st_reg(t, H_RDX, VMM_RSP, 4);
		st_reg(t, H_RAX, f->k == K_POP ? i->rm : VMM_RBP, 4);
		break;
	default:
		break;
	}
}

static void emit_xops(struct tr *t, const struct soft_insn *i,
		      const struct form *f, bool flags_live);
static void emit_alu_mem_defer(struct tr *t, const struct form *f);
static void emit_mul(struct tr *t, const struct soft_insn *i,
		     const struct form *f, bool flags_live);
static void emit_div(struct tr *t, const struct soft_insn *i,
		     const struct form *f);
static void emit_push_rm(struct tr *t, const struct soft_insn *i,
			 const struct form *f);
static void emit_shiftcl_live(struct tr *t, const struct soft_insn *i,
			      const struct form *f);
static void emit_rotcl_live(struct tr *t, const struct soft_insn *i,
			    const struct form *f);
static void emit_bt(struct tr *t, const struct soft_insn *i,
		    const struct form *f);
static void emit_bswap(struct tr *t, const struct soft_insn *i,
		       const struct form *f);
static void emit_str(struct tr *t, const struct soft_insn *i,
		     const struct form *f, bool live);
static bool emit_lock(struct tr *t, const struct soft_insn *i,
		      const struct form *f, bool live);
static void emit_cx8(struct tr *t, const struct soft_insn *i,
		     const struct form *f);
static void emit_shxd(struct tr *t, const struct soft_insn *i,
		      const struct form *f, bool live);
static void emit_movbe(struct tr *t, const struct soft_insn *i,
		       const struct form *f);
static void emit_rcx(struct tr *t, const struct soft_insn *i,
		     const struct form *f);
static void emit_pp16(struct tr *t, const struct soft_insn *i);
static void emit_enter(struct tr *t, const struct soft_insn *i);

/*
 * An ALU op (not ADC/SBB) in fewer host instructions than emit_form()'s
 * general way, which goes through RAX, RCX, RDX and copies into R8/R9:
 * - a memory source into a cached register of 4 or 8 bytes (RSI = the
 *   host pointer, after emit_ea/emit_tlb): flags dead, the host op with
 *   its memory operand (CMP/TEST: nothing, the TLB check was the
 *   access); flags live, a = R8 and b = R9 loaded in place and the host
 *   op on the cached register (a logic op: R8 = R9 = its result, redone
 *   as AND, as emit_alu_mem_defer(), since its handler's lazy flags keep
 *   only the result; its slow path reloads them, emit_pf_reload_self);
 * - a register form with live flags whose destination is not cached
 *   (emit_direct's way when it is): a and b straight into R8 and R9.
 * False (nothing emitted) for the other forms.
 */
static bool emit_alu_short(struct tr *t, const struct soft_insn *i,
			   const struct form *f, bool flags_live, bool mem)
{
	struct jit_emit *e = &t->e;
	unsigned sz = f->size;
	bool wr = f->alu != 7 && f->alu != 8;
	uint8_t op = alu_host[f->alu], hop = op;
	int hd;

	if (mem && f->dst == O_E && !wr && flags_live && sz != 2) {
		/* CMP/TEST m, r/imm: a = R8 loaded, b = R9 (or a
		 * constant); TEST: R8 = R9 = a & b (LF_LOGIC) */
		e_load(e, H_R8, H_RSI, 0, sz);
		if (f->src == O_I) {
			e_alu_imm(e, f->alu == 8 ? 4 : 7, sz, H_R8, i->imm);
		} else {
			ld_opnd(t, i, H_R9, f->src, sz);
			e_rr(e, (const uint8_t[]){ (uint8_t)((f->alu == 8
							      ? 0x21
							      : 0x39) -
							     (sz == 1)) },
			     1, sz, H_R9, H_R8);
		}
		if (f->alu == 8) {
			e_rr(e, OPS(0x89), 8, H_R8, H_R9);
			hop = 0x21;
		}
		t->hf = true, t->hf_nocf = false;
		pf_defer(t, alu_lf[f->alu], sz, hop, false);
		if (f->alu != 8 && f->src == O_I)
			pf_bimm(t, i, sz);
		if (t->cur)
			t->cur->pf_self = true;
		return true;
	}
	if (mem) {
		if (f->dst == O_E || (hd = opnd_host(t, i, f->dst, sz)) < 0)
			return false;
		if (!flags_live) {
			if (wr) {
				uint8_t op2 = (uint8_t)(op + 2); /* r, r/m */
				e_rm(e, &op2, 1, sz, (unsigned)hd, H_RSI, 0);
				mark_dirty(t, opnd_reg(i, f->dst, sz));
			}
			return true;
		}
		if (alu_lf[f->alu] == LF_LOGIC) {
			if (wr) {
				uint8_t op2 = (uint8_t)(op + 2);
				e_rm(e, &op2, 1, sz, (unsigned)hd, H_RSI, 0);
				e_rr(e, OPS(0x89), 8, (unsigned)hd, H_R8);
				mark_dirty(t, opnd_reg(i, f->dst, sz));
			} else {
				/* TEST: and r8, [rsi] */
				ld_reg(t, H_R8, opnd_reg(i, f->dst, sz), sz);
				e_rm(e, OPS(0x23), sz, H_R8, H_RSI, 0);
			}
			e_rr(e, OPS(0x89), 8, H_R8, H_R9);
			hop = 0x21;
		} else {
			ld_reg(t, H_R8, opnd_reg(i, f->dst, sz), sz);
			e_load(e, H_R9, H_RSI, 0, sz);
			if (wr) {
				e_rr(e, &op, 1, sz, H_R9, (unsigned)hd);
				mark_dirty(t, opnd_reg(i, f->dst, sz));
			} else {
				e_rr(e, OPS(0x39), sz, H_R9, (unsigned)hd);
			}
		}
		t->hf = true, t->hf_nocf = false;
		pf_defer(t, alu_lf[f->alu], sz, hop, false);
		if (t->cur)
			t->cur->pf_self = true;
		return true;
	}
	if (!flags_live)
		return false;
	ld_opnd(t, i, H_R8, f->dst, sz);
	if (f->src == O_I && sz != 2) {
		/* b a constant (pf_bimm) */
		unsigned h = H_R8;
		if (wr) {
			e_rr(e, OPS(0x89), 8, H_R8, H_RDX);
			h = H_RDX;
		}
		e_alu_imm(e, f->alu, sz, h, i->imm);
		t->hf = true, t->hf_nocf = false;
		if (wr)
			st_opnd(t, i, H_RDX, f->dst, sz);
		pf_defer(t, alu_lf[f->alu], sz, op, false);
		pf_bimm(t, i, sz);
		return true;
	}
	ld_opnd(t, i, H_R9, f->src, sz);
	if (wr) {
		e_rr(e, OPS(0x89), 8, H_R8, H_RDX);
		e_rr(e, (const uint8_t[]){ (uint8_t)(op - (sz == 1)) }, 1, sz,
		     H_R9, H_RDX);
	} else {
		/* cmp r8, r9 / test r8, r9 */
		e_rr(e, (const uint8_t[]){ (uint8_t)((f->alu == 8 ? 0x85
							  : 0x39) -
						 (sz == 1)) },
		     1, sz, H_R9, H_R8);
	}
	t->hf = true, t->hf_nocf = false;
	if (wr)
		st_opnd(t, i, H_RDX, f->dst, sz); /* (AH-BH: t->hf off) */
	pf_defer(t, alu_lf[f->alu], sz, op, false);
	return true;
}

static void emit_form(struct tr *t, const struct soft_insn *i,
		      const struct form *f, bool flags_live)
{
	struct jit_emit *e = &t->e;
	unsigned sz = f->size;
	bool mem = form_mem(i, f), hi;
	int hs, hd;

	if (emit_direct(t, i, f, flags_live))
		return;
	if ((i->pfx & PFX_LOCK) && emit_lock(t, i, f, flags_live))
		return;
	switch (f->k) {
	case K_ALU: {
		bool wr = f->alu != 7 && f->alu != 8;
		bool cin = f->alu == 2 || f->alu == 3;
		if (mem) {
			emit_ea(t, i);
			emit_tlb(t, sz, wr && f->dst == O_E);
		}
		if (!cin && emit_alu_short(t, i, f, flags_live, mem))
			break;
		ld_opnd(t, i, H_RAX, f->dst, sz);
		ld_opnd(t, i, H_RCX, f->src, sz);
		e_rr(e, OPS(0x89), 8, H_RAX, H_RDX);         /* rdx = rax */
		if (cin) {
			/* CF = the carry in (jit_cf, emit_get_cf) */
			e_rm(e, OPS(0x0f, 0xba), 4, 4, H_RBX, OFF(jit_cf));
			e_b(e, 0);                           /* bt [jit_cf], 0 */
		}
		/* the operation at its size: the host flags are the
		 * guest's (RDX's upper bits stay 0 at 1 and 2 bytes) */
		e_rr(e, (const uint8_t[]){ (uint8_t)(alu_host[f->alu] -
						     (sz == 1)) },
		     1, sz, H_RCX, H_RDX);
		t->hf = flags_live, t->hf_nocf = false;
		if (wr)
			st_opnd(t, i, H_RDX, f->dst, sz);
		if (flags_live && cin) {
			emit_lf(t, alu_lf[f->alu], sz);
			e_load(e, H_R11, H_RBX, OFF(jit_cf), 4);
			e_store(e, H_R11, H_RBX, OFF(lf_cin), 4);
		} else if (flags_live && mem) {
			emit_alu_mem_defer(t, f);
		} else if (flags_live)
			pf_defer(t, alu_lf[f->alu], sz, alu_host[f->alu],
				 true);
		break;
	}
	case K_MOV:
		if (mem) {
			emit_ea(t, i);
			emit_tlb(t, sz, f->dst == O_E);
		}
		if (mem && f->dst == O_E && f->src == O_I && sz != 2) {
			/* store an immediate: mov [rsi], imm8/imm32 (8
			 * bytes: sign-extended, as the guest's) */
			e_rm(e, OPS(sz == 1 ? 0xc6 : 0xc7), sz, 0, H_RSI, 0);
			if (sz == 1)
				e_b(e, (uint8_t)i->imm);
			else
				e_d(e, (uint32_t)i->imm);
			break;
		}
		if (mem && f->dst == O_E && f->src != O_I &&
		    opnd_reg(i, f->src, sz) < 16 &&
		    (hs = cache_of(t, opnd_reg(i, f->src, sz), 8, &hi)) >= 0) {
			/* store a cached register */
			e_store(e, (unsigned)hs, H_RSI, 0, sz);
			break;
		}
		if (mem && f->dst != O_E &&
		    (hd = opnd_host(t, i, f->dst, sz)) >= 0) {
			/* load into a cached register (4, 8 bytes) */
			e_load(e, (unsigned)hd, H_RSI, 0, sz);
			mark_dirty(t, opnd_reg(i, f->dst, sz));
			break;
		}
		ld_opnd(t, i, H_RAX, f->src, sz);
		st_opnd(t, i, H_RAX, f->dst, sz);
		break;
	case K_MOVX:
		if (mem) {
			bool hi;
			int hd = -1;

			emit_ea(t, i);
			emit_tlb(t, f->ssize, false);
			/* into a cached destination directly: zero-extended
			 * to 4 or 8 bytes, or sign-extended to 8 */
			if (sz >= 4 && (!f->sx || sz == 8))
				hd = cache_of(t, i->reg, sz, &hi);
			if (hd >= 0) {
				if (f->sx)
					e_loads(e, (unsigned)hd, H_RSI, 0,
						f->ssize);
				else
					e_load(e, (unsigned)hd, H_RSI, 0,
					       f->ssize);
				mark_dirty(t, i->reg);
				break;
			}
			if (f->sx)
				e_loads(e, H_RAX, H_RSI, 0, f->ssize);
			else
				e_load(e, H_RAX, H_RSI, 0, f->ssize);
		} else {
			bool hi;
			int hd = -1;

			/* into a cached destination directly, as above */
			if (sz >= 4 && (!f->sx || sz == 8))
				hd = cache_of(t, i->reg, sz, &hi);
			if (hd >= 0) {
				ld_reg(t, (unsigned)hd, rm_of(i, f->ssize),
				       f->ssize);
				if (f->sx)
					e_sext(e, (unsigned)hd, f->ssize);
				mark_dirty(t, i->reg);
				break;
			}
			ld_reg(t, H_RAX, rm_of(i, f->ssize), f->ssize);
			if (f->sx)
				e_sext(e, H_RAX, f->ssize);
		}
		st_reg(t, H_RAX, i->reg, sz);
		break;
	case K_LEA:
		/* the offset only: no segment base */
		if (i->base == SOFT_RIPREL) {
			e_movi(e, H_RSI, t->rip + i->len + (uint64_t)i->disp);
		} else {
			/* one lea: base and index from their cached
			 * registers, or loaded into RSI and RAX */
			bool hi;
			int hb = -1, hx = -1;

			if (i->base != SOFT_NOREG) {
				hb = cache_of(t, i->base, 8, &hi);
				if (hb < 0) {
					ld_reg(t, H_RSI, i->base, 8);
					hb = H_RSI;
				}
			}
			if (i->index != SOFT_NOREG) {
				hx = cache_of(t, i->index, 8, &hi);
				if (hx < 0) {
					ld_reg(t, H_RAX, i->index, 8);
					hx = H_RAX;
				}
			}
			e_lea(e, H_RSI, hb, hx, i->scale, (int32_t)i->disp);
		}
		if (i->asz < sz)
			e_zext(e, H_RSI, i->asz);
		st_reg(t, H_RSI, i->reg, sz);
		break;
	case K_INCDEC:
		if (mem) {
			emit_ea(t, i);
			emit_tlb(t, sz, true);
		}
		ld_opnd(t, i, H_RAX, O_E, sz);
		e_rr(e, OPS(0x89), 8, H_RAX, H_RDX);
		/* inc/dec edx (dl, dx): the guest's flags but CF */
		e_rr(e, (const uint8_t[]){ sz == 1 ? 0xfe : 0xff }, 1, sz,
		     f->dec ? 1 : 0, H_RDX);
		t->hf = flags_live, t->hf_nocf = true;
		st_opnd(t, i, H_RDX, O_E, sz);
		if (flags_live) {
			/* the CF before it, saved by the caller (a fault
			 * before here must not see lf_cin changed) */
			e_load(e, H_RCX, H_RBX, OFF(jit_cf), 4);
			e_store(e, H_RCX, H_RBX, OFF(lf_cin), 4);
			e_movi(e, H_RCX, 1);
			emit_lf(t, f->dec ? LF_DEC : LF_INC, sz);
		}
		break;
	case K_NOT:
	case K_NEG:
		if (mem) {
			emit_ea(t, i);
			emit_tlb(t, sz, true);
		}
		ld_opnd(t, i, H_RCX, O_E, sz);
		if (f->k == K_NOT) {
			e_rr(e, OPS(0x89), 8, H_RCX, H_RDX);
			e_rr(e, OPS(0xf7), 8, 2, H_RDX);     /* not rdx */
		} else {
			e_rr(e, OPS(0x31), 4, H_RAX, H_RAX); /* xor eax, eax */
			e_rr(e, OPS(0x89), 8, H_RAX, H_RDX);
			/* rdx = 0 - a at its size: NEG's flags */
			e_rr(e, (const uint8_t[]){ sz == 1 ? 0x28 : 0x29 }, 1,
			     sz, H_RCX, H_RDX);
			t->hf = flags_live, t->hf_nocf = false;
		}
		e_zext(e, H_RDX, sz);
		st_opnd(t, i, H_RDX, O_E, sz);
		if (f->k == K_NEG && flags_live && mem)
			emit_lf(t, LF_SUB, sz);
		else if (f->k == K_NEG && flags_live)
			pf_defer(t, LF_SUB, sz, 0x29, true);
		break;
	case K_IMUL:
		if (mem) {
			emit_ea(t, i);
			emit_tlb(t, sz, false);
		}
		ld_opnd(t, i, H_RAX, O_E, sz);
		if (i->op == 0x1af)
			ld_reg(t, H_RCX, i->reg, sz);
		else
			e_movi(e, H_RCX, i->imm & soft_mask(sz));
		/* imul eax, ecx at the size: CF = OF = the overflow */
		e_rr(e, OPS(0x0f, 0xaf), sz, H_RAX, H_RCX);
		if (flags_live)
			e_rr(e, OPS(0x0f, 0x90), 1, 0, H_RDX); /* seto dl */
		st_reg(t, H_RAX, i->reg, sz);
		if (flags_live) {
			emit_mul_flags(t, sz, H_RDX);
		}
		break;
	case K_PUSH:
		if (t->m32) {
			emit_stack32(t, i, f);
			break;
		}
		/* RSI = RSP - 8 (SS has no base in 64-bit mode) */
		ld_reg(t, H_RSI, VMM_RSP, 8);
		e_alu_ri(e, 5, H_RSI, 8);
		e_rr(e, OPS(0x89), 8, H_RSI, H_RDX);     /* rdx = new RSP */
		check_canonical(t);
		emit_tlb(t, 8, true);
		ld_reg(t, H_RAX, i->rm, 8);
		e_store(e, H_RAX, H_RSI, 0, 8);
		/* RDX survived emit_tlb (it uses RAX, RCX, RDI) */
		st_reg(t, H_RDX, VMM_RSP, 8);
		break;
	case K_PUSHI:
		if (t->m32) {
			emit_stack32(t, i, f);
			break;
		}
		ld_reg(t, H_RSI, VMM_RSP, 8);
		e_alu_ri(e, 5, H_RSI, 8);
		e_rr(e, OPS(0x89), 8, H_RSI, H_RDX);     /* rdx = new RSP */
		check_canonical(t);
		emit_tlb(t, 8, true);
		e_movi(e, H_RAX, i->imm);
		e_store(e, H_RAX, H_RSI, 0, 8);
		st_reg(t, H_RDX, VMM_RSP, 8);
		break;
	case K_LEAVE:
		if (t->m32) {
			emit_stack32(t, i, f);
			break;
		}
		/* RBP -> RSI: RBP = [RBP], RSP = old RBP + 8 (SS: #SS when
		 * not canonical, by the slow path) */
		ld_reg(t, H_RSI, VMM_RBP, 8);
		e_rr(e, OPS(0x89), 8, H_RSI, H_RDX);
		check_canonical(t);
		emit_tlb(t, 8, false);
		e_load(e, H_RAX, H_RSI, 0, 8);
		e_alu_ri(e, 0, H_RDX, 8);
		st_reg(t, H_RDX, VMM_RSP, 8);
		st_reg(t, H_RAX, VMM_RBP, 8);
		break;
	case K_NOP:
		break;
	case K_MULDIV:
		if (f->shop >= 6)
			emit_div(t, i, f);
		else
			emit_mul(t, i, f, flags_live);
		break;
	case K_PUSHM:
		emit_push_rm(t, i, f);
		break;
	case K_BT:
		emit_bt(t, i, f);
		break;
	case K_BSWAP:
		emit_bswap(t, i, f);
		break;
	case K_XCHG:
	case K_CMPXCHG:
	case K_XADD:
	case K_PUSHF:
	case K_BITSCAN:
	case K_MOVSEG:
		emit_xops(t, i, f, flags_live);
		break;
	case K_STR:
		emit_str(t, i, f, flags_live);
		break;
	case K_CX8:
		emit_cx8(t, i, f);
		break;
	case K_SHXD:
		emit_shxd(t, i, f, flags_live);
		break;
	case K_MOVBE:
		emit_movbe(t, i, f);
		break;
	case K_RCX:
		emit_rcx(t, i, f);
		break;
	case K_PP16:
		emit_pp16(t, i);
		break;
	case K_ENTER:
		emit_enter(t, i);
		break;
	case K_CLI:
		/* op_cli_sti(): real mode, VM86 or CPL > IOPL to the slow
		 * path (its handler clears IF or raises #GP); else IF off,
		 * nothing else (no event can become deliverable) */
		e_load(e, H_RAX, H_RBX, OFF(pe), 1);
		e_load(e, H_RCX, H_RBX, OFF(vm86), 1);
		e_rr(e, OPS(0x83), 4, 6, H_RAX); e_b(e, 1);  /* xor eax, 1 */
		e_alu_rr(e, 0x09, H_RAX, H_RCX);
		to_slow(t, CC_NE);
		e_load(e, H_RAX, H_RBX, OFF(st.rflags), 4);
		e_shift_i(e, 5, H_RAX, 12);
		e_rr(e, OPS(0x83), 4, 4, H_RAX); e_b(e, 3);  /* eax = IOPL */
		e_rm(e, OPS(0x39), 4, H_RAX, H_RBX, OFF(cpl)); /* cmp cpl, eax */
		to_slow(t, CC_A);
		e_mem_imm(e, 4, H_RBX, OFF(st.rflags),
			  (int32_t)~(uint32_t)FL_IF, 4);
		break;
	case K_SWAPGS: {
		/* CPL > 0: the slow path (#GP); else GS.base and
		 * KernelGSbase exchanged and segbase[GS] follows, as
		 * op_grp7 and soft_update_seg() in 64-bit mode */
		int32_t gsb = OFF(st.seg) +
			      (int32_t)(VMM_GS * sizeof(struct vmm_segment) +
					offsetof(struct vmm_segment, base));
		e_rm(e, OPS(0x83), 4, 7, H_RBX, OFF(cpl)); e_b(e, 0);
		to_slow(t, CC_NE);
		e_load(e, H_RAX, H_RBX, gsb, 8);
		e_load(e, H_RCX, H_RBX, OFF(st.msr.kernel_gs_base), 8);
		e_store(e, H_RCX, H_RBX, gsb, 8);
		e_store(e, H_RCX, H_RBX, OFF(segbase[VMM_GS]), 8);
		e_store(e, H_RAX, H_RBX, OFF(st.msr.kernel_gs_base), 8);
		break;
	}
	case K_DF:
		/* DF alone, in RFLAGS (the lazy arithmetic flags stay:
		 * op_flagbit() materialises them, the same flags) */
		if (i->op == 0xfc)
			e_mem_imm(e, 4, H_RBX, OFF(st.rflags),
				  (int32_t)~(uint32_t)FL_DF, 4);
		else
			e_mem_imm(e, 1, H_RBX, OFF(st.rflags), FL_DF, 4);
		break;
	case K_SHIFTCL: {
		if (flags_live && f->shop < 4) {
			emit_rotcl_live(t, i, f);
			break;
		}
		if (flags_live) {
			emit_shiftcl_live(t, i, f);
			break;
		}
		/* the host's shift by CL: the same count masking (5 bits,
		 * 6 for 8 bytes) and result; the flags are dead */
		unsigned r = rm_of(i, sz);
		ld_reg(t, H_RCX, VMM_RCX, 1);
		ld_reg(t, H_RAX, r, sz);
		e_rr(e, (const uint8_t[]){ sz == 1 ? 0xd2 : 0xd3 }, 1, sz,
		     f->shop, H_RAX);
		st_reg(t, H_RAX, r, sz);
		break;
	}
	case K_CBW:
		ld_reg(t, H_RAX, VMM_RAX, sz / 2);
		e_sext(e, H_RAX, sz / 2);
		st_reg(t, H_RAX, VMM_RAX, sz);
		break;
	case K_CWD:
		ld_reg(t, H_RAX, VMM_RAX, sz);
		e_sext(e, H_RAX, sz);
		e_shift_i(e, 7, H_RAX, 63);             /* sar rax, 63 */
		if (sz == 2)
			e_zext(e, H_RAX, 2);
		st_reg(t, H_RAX, VMM_RDX, sz);
		break;
	case K_POP:
		if (t->m32) {
			emit_stack32(t, i, f);
			break;
		}
		ld_reg(t, H_RSI, VMM_RSP, 8);
		check_canonical(t);
		emit_tlb(t, 8, false);
		e_load(e, H_RAX, H_RSI, 0, 8);
		addi_reg(t, VMM_RSP, 8);
		st_reg(t, H_RAX, i->rm, 8);
		break;
	default:
		break;
	}
}

/*
 * Host flags = the guest's lazy flags of a producer known at translation
 * time (@op, @size: the last flag writer in this block was translated and
 * stored them), for condition @cc: the producer's host instruction again
 * on lf_a/lf_b (or TEST on lf_res).  False when the condition needs what
 * the host cannot redo (INC/DEC's carried CF).
 */
static bool flags_known(const struct tr *t, unsigned cc)
{
	unsigned op = t->lf_op;

	if (!op || !t->lf_size)
		return false;
	if ((op == LF_INC || op == LF_DEC) &&
	    ((cc >> 1) == 1 || (cc >> 1) == 3))
		return false;
	return op == LF_SUB || op == LF_ADD || op == LF_LOGIC ||
	       op == LF_INC || op == LF_DEC;
}

static bool emit_flags(struct tr *t, unsigned cc)
{
	struct jit_emit *e = &t->e;
	unsigned op = t->lf_op, sz = t->lf_size;

	if (!flags_known(t, cc))
		return false;
	switch (op) {
	case LF_SUB:
	case LF_ADD:
		e_load(e, H_RAX, H_RBX, OFF(lf_a), 8);
		e_load(e, H_RCX, H_RBX, OFF(lf_b), 8);
		if (op == LF_SUB)
			e_rr(e, (const uint8_t[]){ sz == 1 ? 0x38 : 0x39 }, 1, sz, H_RCX,
			     H_RAX);
		else
			e_rr(e, (const uint8_t[]){ sz == 1 ? 0x00 : 0x01 }, 1, sz, H_RCX,
			     H_RAX);
		return true;
	case LF_LOGIC:
		e_load(e, H_RAX, H_RBX, OFF(lf_res), 8);
		e_rr(e, (const uint8_t[]){ sz == 1 ? 0x84 : 0x85 }, 1, sz, H_RAX, H_RAX);
		return true;
	case LF_INC:
	case LF_DEC:
		e_load(e, H_RAX, H_RBX, OFF(lf_a), 8);
		e_rr(e, (const uint8_t[]){ sz == 1 ? 0x80 : 0x83 }, 1, sz,
		     op == LF_DEC ? 5 : 0, H_RAX);
		e_b(e, 1);
		return true;
	}
	return false;
}

/*
 * jit_cf = EAX = the guest's CF before an INC/DEC with live flags (its lf_cin),
 * without a call where the translator knows where it is: the pending
 * op redone (R8, R9), the host flags (@hf), RFLAGS after an eagerly
 * computed writer, or the lazy flags of a producer of this block; else
 * soft_get_cf().  RAX, RCX, RDX clobbered.
 */
static bool emit_get_cf(struct tr *t, bool hf)
{
	struct jit_emit *e = &t->e;
	const struct pend_flags *p = &t->pf;

	if (p->v) {
		pf_redo(t, p);
		hf = true;
	} else if (!hf && t->lf_eager) {
		e_load(e, H_RAX, H_RBX, OFF(st.rflags), 4);
		e_rr(e, OPS(0x81), 4, 4, H_RAX);
		e_d(e, FL_CF);
		e_store(e, H_RAX, H_RBX, OFF(jit_cf), 4);
		return false;
	} else if (!hf && flags_known(t, 2)) {
		emit_flags(t, 2);
		hf = true;
	}
	if (hf) {
		e_rr(e, OPS(0x0f, 0x92), 1, 0, H_RAX);   /* setc al */
		e_zext(e, H_RAX, 1);
		if (!t->cf_eax)
			e_store(e, H_RAX, H_RBX, OFF(jit_cf), 4);
		return true; /* moves: the host CF stays */
	}
	e_rr(e, OPS(0x89), 8, H_RBX, H_RDI);
	e_call(e, (const void *)soft_jit_get_cf);
	e_store(e, H_RAX, H_RBX, OFF(jit_cf), 4);
	if (t->mem) {
		emit_tlb_base(t); /* R10 is the callee's (RAX clobbered) */
		e_load(e, H_RAX, H_RBX, OFF(jit_cf), 4);
	}
	return false;
}

/* SETcc / CMOVcc with the host flags of emit_flags() set */
static void emit_setcc_cmov(struct tr *t, const struct soft_insn *i,
			    const struct form *f)
{
	struct jit_emit *e = &t->e;

	if (i->mod != 3) {
		/* memory: the condition into DL first (the address and
		 * the TLB check clobber the host flags), then SETcc's
		 * store or CMOVcc's load, which faults whatever the
		 * condition */
		e_rr(e, OPS(0x0f, (uint8_t)(0x90 | f->cc)), 1, 0, H_RDX);
		emit_ea(t, i);
		emit_tlb(t, f->size, f->k == K_SETCC);
		t->hf = false;
		if (f->k == K_SETCC) {
			e_store(e, H_RDX, H_RSI, 0, 1);
			return;
		}
		e_load(e, H_RCX, H_RSI, 0, f->size);
		ld_reg(t, H_RAX, i->reg, f->size);
		e_rr(e, OPS(0x84), 1, H_RDX, H_RDX);     /* test dl, dl */
		e_rr(e, OPS(0x0f, 0x45), 8, H_RAX, H_RCX); /* cmovnz */
		st_reg(t, H_RAX, i->reg, f->size);
		return;
	}
	if (f->k == K_SETCC) {
		e_rr(e, OPS(0x0f, (uint8_t)(0x90 | f->cc)), 1, 0, H_RDX);
		st_reg(t, H_RDX, i->rm8, 1);
		return;
	}
	ld_reg(t, H_RAX, i->reg, f->size);
	ld_reg(t, H_RCX, i->rm, f->size);
	e_rr(e, OPS(0x0f, (uint8_t)(0x40 | f->cc)), 8, H_RAX, H_RCX);
	st_reg(t, H_RAX, i->reg, f->size);
}

/*
 * After a host SHL (@shop 4), SHR (5) or SAR (7) by a non-zero count of
 * RDX (MSB at bit @msb; @a holds the operand before it): EAX = the
 * guest's SF ZF PF CF from the host flags and OF as the SDM gives it for
 * a count of 1 (MSB(result) ^ CF for SHL, MSB(a) for SHR, 0 for SAR).
 * RCX (after @a is read) and RSI clobbered.
 */
static void emit_shift_flags(struct tr *t, unsigned shop, unsigned msb,
			     unsigned a)
{
	struct jit_emit *e = &t->e;

	e_b(e, 0x9f);                            /* lahf */
	e_rr(e, OPS(0x0f, 0xb6), 4, H_RAX, 4);   /* movzx eax, ah */
	e_rr(e, OPS(0x81), 4, 4, H_RAX);
	e_d(e, FL_SF | FL_ZF | FL_PF | FL_CF);
	if (shop != 7) {
		/* esi = MSB(r) ^ CF (SHL) or MSB(a) (SHR), at bit 11 */
		e_rr(e, OPS(0x89), 8, shop == 4 ? H_RDX : a, H_RSI);
		e_shift_i(e, 5, H_RSI, (uint8_t)msb);
		e_rr(e, OPS(0x81), 4, 4, H_RSI);
		e_d(e, 1);
		if (shop == 4) {
			e_rr(e, OPS(0x89), 4, H_RAX, H_RCX);
			e_rr(e, OPS(0x81), 4, 4, H_RCX);
			e_d(e, 1);
			e_rr(e, OPS(0x31), 4, H_RCX, H_RSI);
		}
		e_shift_i(e, 4, H_RSI, 11);
		e_alu_rr(e, 0x09, H_RAX, H_RSI);
	}
}

/* SHL/SHR/SAR of a register by a constant (flags dead) */
/*
 * SHL/SHR/SAR of a register by a constant with its flags live, as
 * exec_shift.c's shift() computes them: CF ZF SF PF from the host
 * instruction (the count is below the width: all defined), OF = MSB(r)
 * ^ CF (SHL), MSB(a) (SHR), 0 (SAR), AF 0; into RFLAGS, lazy flags off.
 */
static void emit_shift_live(struct tr *t, const struct soft_insn *i,
			    const struct form *f)
{
	struct jit_emit *e = &t->e;
	unsigned sz = f->size, r = rm_of(i, sz), msb = sz * 8 - 1;

	ld_reg(t, H_RCX, r, sz);                 /* a */
	e_rr(e, OPS(0x89), 8, H_RCX, H_RDX);
	e_rr(e, (const uint8_t[]){ sz == 1 ? 0xc0 : 0xc1 }, 1, sz, f->shop,
	     H_RDX);
	e_b(e, (uint8_t)f->count);
	emit_shift_flags(t, f->shop, msb, H_RCX);
	st_reg(t, H_RDX, r, sz);
	emit_set_arith(t);
}

/*
 * After a ROL (@shop 0) or ROR by a non-zero count of RDX (MSB at bit
 * @msb): RAX |= the CF and OF the SDM gives (CF = the bit rotated in:
 * bit 0 for ROL, the MSB for ROR; OF = MSB ^ CF for ROL, MSB ^ the bit
 * below it for ROR).  RCX, RSI, RDI clobbered.
 */
static void emit_rot_cf_of(struct tr *t, unsigned shop, unsigned msb)
{
	struct jit_emit *e = &t->e;

	/* ecx = MSB(r); esi = CF; ecx = OF */
	e_rr(e, OPS(0x89), 8, H_RDX, H_RCX);
	e_shift_i(e, 5, H_RCX, (uint8_t)msb);
	e_rr(e, OPS(0x81), 4, 4, H_RCX);
	e_d(e, 1);
	if (shop == 0) {                          /* ROL */
		e_rr(e, OPS(0x89), 4, H_RDX, H_RSI);
		e_rr(e, OPS(0x81), 4, 4, H_RSI);
		e_d(e, 1);
		e_rr(e, OPS(0x31), 4, H_RSI, H_RCX); /* of = msb ^ cf */
	} else {                                     /* ROR */
		e_rr(e, OPS(0x89), 4, H_RCX, H_RSI); /* cf = msb */
		e_rr(e, OPS(0x89), 8, H_RDX, H_RDI);
		e_shift_i(e, 5, H_RDI, (uint8_t)(msb - 1));
		e_rr(e, OPS(0x81), 4, 4, H_RDI);
		e_d(e, 1);
		e_rr(e, OPS(0x31), 4, H_RDI, H_RCX); /* of = msb ^ next */
	}
	e_shift_i(e, 4, H_RCX, 11);
	e_alu_rr(e, 0x09, H_RAX, H_RCX);
	e_alu_rr(e, 0x09, H_RAX, H_RSI);
}

/*
 * ROL/ROR of a register by a constant with live flags: only CF and OF
 * change (as exec_shift.c computes them: ROL CF = bit 0, OF = MSB ^ CF;
 * ROR CF = MSB, OF = MSB ^ the bit below), so the others come first from
 * wherever they are (the pending op redone, the host flags (@hf), RFLAGS
 * (@eager), else soft_get_flags()), all into RFLAGS.
 */
static void emit_rot_live(struct tr *t, const struct soft_insn *i,
			  const struct form *f, bool hf, bool eager)
{
	struct jit_emit *e = &t->e;
	const struct pend_flags *p = &t->pf;
	unsigned sz = f->size, r = rm_of(i, sz), msb = sz * 8 - 1;

	if (p->v) {
		pf_redo(t, p);
		hf = true;
	}
	if (hf) {
		e_b(e, 0x9c);                            /* pushfq */
		e_pop(e, H_RAX);
	} else if (eager) {
		e_load(e, H_RAX, H_RBX, OFF(st.rflags), 8);
	} else {
		e_rr(e, OPS(0x89), 8, H_RBX, H_RDI);
		e_call(e, (const void *)soft_jit_get_flags);
		e_rr(e, OPS(0x89), 8, H_RAX, H_R11);
		emit_tlb_base(t); /* R10 is the callee's */
		e_rr(e, OPS(0x89), 8, H_R11, H_RAX);
	}
	e_rr(e, OPS(0x81), 4, 4, H_RAX);
	e_d(e, FL_ARITH & ~(FL_CF | FL_OF));
	ld_reg(t, H_RDX, r, sz);
	e_rr(e, (const uint8_t[]){ sz == 1 ? 0xc0 : 0xc1 }, 1, sz, f->shop,
	     H_RDX);
	e_b(e, (uint8_t)f->count);
	emit_rot_cf_of(t, f->shop, msb);
	st_reg(t, H_RDX, r, sz);
	emit_set_arith(t);
}

static void emit_shift(struct tr *t, const struct soft_insn *i,
		       const struct form *f)
{
	struct jit_emit *e = &t->e;
	unsigned sz = f->size, r = rm_of(i, sz);

	ld_reg(t, H_RAX, r, sz);
	if (f->shop == 7)
		e_sext(e, H_RAX, sz);
	e_shift_i(e, f->shop, H_RAX, (uint8_t)f->count);
	st_reg(t, H_RAX, r, sz);
}

/*
 * c->cur_tb = this block, before the compiled code calls or leaves for C
 * (soft_tb_page_write's test for the running block, the executor's and
 * soft_jit_link's predecessor): patched links enter blocks without
 * setting it.  RAX clobbered.
 */
static void st_cur_tb(struct tr *t)
{
	e_movi(&t->e, H_RAX, (uint64_t)(uintptr_t)t->tb);
	e_store(&t->e, H_RAX, H_RBX, OFF(cur_tb), 8);
}

/*
 * One more instruction run through the interpreter by compiled code
 * (st_jit_fallbacks; with -Djit_profile=true also by opcode and
 * ModRM.reg, for choosing what to translate next).  RAX and the host
 * flags clobbered.
 */
static void count_fallback(struct tr *t, const struct soft_insn *i)
{
	e_rm(&t->e, OPS(0xff), 8, 0, H_RBX, OFF(st_jit_fallbacks));
#if SOFT_JIT_PROFILE
	if (t->c->jit_prof) {
		uint64_t *p = &t->c->jit_prof[jit_prof_idx(i)];
		e_movi(&t->e, H_RAX, (uint64_t)(uintptr_t)p);
		e_rm(&t->e, OPS(0xff), 8, 0, H_RAX, 0); /* inc qword [rax] */
	}
#else
	(void)i;
#endif
}

/*
 * emit_interp() - instruction @k Through the interpreter's threaded entry of a copy of the
 * instruction, followed by a stub (or, last in the block,
 * the end marker).  The pending RIP and count go to it as
 * the deferred pre_n/pre_len of the threaded chain (thread.h),
 * so the entry syncs them itself where it must (before a
 * handler, on a memory slow path); the stub or marker retires
 * what is still deferred after it.  The copy's entry runs
 * exactly as in the interpreted block: pure and memory
 * forms inline, dead-flag variants, branch twins that link.
 */
static bool emit_interp(struct tr *t, unsigned k, bool last)
{
	struct jit_emit *e = &t->e;
	const struct soft_insn *i = t->ins[k];

	if (t->loop && !last) {
		/* the counter would have to go to the state and back around
		 * the call: translated again as an ordinary block */
		t->noloop = true;
		return false;
	}
	{
		struct soft_insn *cp = soft_tb_alloc(t->c, 2 * sizeof(*cp));
		bool defer = t->ins[k + 1]->pre_n > 0;
		if (!cp)
			return false;
		cp[0] = *i;
		if (t->run0[k])
			cp[0].run = t->run0[k];
		cp[0].pre_n = (uint8_t)t->pend_n;
		cp[0].pre_len = (uint16_t)t->pend_len;
		cp[1] = *t->ins[k + 1];
		cp[1].pre_n = defer ? (uint8_t)(t->pend_n + 1) : 0;
		cp[1].pre_len = defer ? (uint16_t)(t->pend_len + i->len)
				      : 0;
		if (!last)
			cp[1].run = soft_jit_stub;
		t->pend_n = t->pend_len = 0;
		flush_hits(t);
		count_fallback(t, i);
		pf_flush(t);
		t->lf_eager = false;
		if (last)
			cache_end(t);
		else
			cache_sync(t);
		if (last)
			loop_flush(t, false);
		st_cur_tb(t);
		e_rr(e, OPS(0x89), 8, H_RBX, H_RDI);
		e_movi(e, H_RSI, (uint64_t)(uintptr_t)cp);
		if (last) {
			emit_epilogue(e);
			e_movi(e, H_RAX, (uint64_t)(uintptr_t)cp[0].run);
			e_b(e, 0xff); e_b(e, 0xe0); /* jmp rax */
			return true;
		}
		e_call(e, (const void *)cp[0].run);
		e_b(e, 0x3d); e_d(e, SOFT_JIT_CONT); /* cmp eax, CONT */
		if (t->nexits2 >= sizeof(t->exits2) / sizeof(t->exits2[0]))
			return false;
		t->exits2[t->nexits2++] = e_jcc32(e, CC_NE);
		/* (a MOV to a segment register: the segments this block
		 * may have used unchecked, any of those fast at its
		 * compilation) */
		seg_recheck(t, t->segfast0, 0);
		cache_load(t);
		t->hf = false;
	}
	return true;
}

/*
 * Leave the block for the successor at RIP (written): through the slot
 * inline when it holds a compiled block for this RIP and generation, the
 * events allow it (nothing pending, link budget left), else through
 * soft_jit_link().
 */
/*
 * The jump cache inline: the entry for RIP (written, and in RDX) holds a block of
 * this generation whose code is compiled in this buffer: enter its body
 * (jit_link_left--, cur_tb).  Its failing checks go to @f.
 */
static void emit_jc_probe(struct tr *t, size_t *f, unsigned *nf)
{
	struct jit_emit *e = &t->e;

	e_rr(e, OPS(0x89), 8, H_RDX, H_RAX);         /* RIP (emit_link) */
	if (t->m32) /* the linear address: + CS.base, 32 bits */
		e_rm(e, OPS(0x03), 4, H_RAX, H_RBX, OFF(segbase[VMM_CS]));
	/* rcx = soft_jc_idx(rip) * 3 */
	e_rr(e, OPS(0x89), 8, H_RAX, H_RCX);
	e_shift_i(e, 5, H_RCX, 10);
	e_alu_rr(e, 0x31, H_RCX, H_RAX);
	e_rr(e, OPS(0x81), 4, 4, H_RCX);
	e_d(e, SOFT_JC_SIZE - 1);
	e_b(e, 0x48); e_b(e, 0x8d); e_b(e, 0x0c); e_b(e, 0x49); /* lea rcx,[rcx+rcx*2] */
	/* rdi = &c->jc[idx] */
	e_b(e, 0x48); e_b(e, 0x8d); e_b(e, 0xbc); e_b(e, 0xcb); /* lea rdi,[rbx+rcx*8+d32] */
	e_d(e, (uint32_t)OFF(jc));
	e_rm(e, OPS(0x3b), 8, H_RAX, H_RDI,
	     (int32_t)offsetof(struct soft_jc, lin));  /* cmp rax, lin */
	f[(*nf)++] = e_jcc32(e, CC_NE);
	e_load(e, H_RCX, H_RDI, (int32_t)offsetof(struct soft_jc, gen), 8);
	e_rm(e, OPS(0x3b), 8, H_RCX, H_RBX, OFF(chain_gen));
	f[(*nf)++] = e_jcc32(e, CC_NE);
	e_load(e, H_RAX, H_RDI, (int32_t)offsetof(struct soft_jc, tb), 8);
	e_rr(e, OPS(0x85), 8, H_RAX, H_RAX);
	f[(*nf)++] = e_jcc32(e, CC_E);
	/* (RSI is the slot: soft_jit_link's argument on the way out) */
	e_load(e, H_RCX, H_RAX, (int32_t)offsetof(struct soft_tb, jit_body),
	       8);
	e_rr(e, OPS(0x85), 8, H_RCX, H_RCX);
	f[(*nf)++] = e_jcc32(e, CC_E);               /* not compiled */
	e_rm(e, OPS(0xff), 4, 1, H_RBX, OFF(jit_link_left));
	e_b(e, 0xff); e_b(e, 0xe1);                  /* jmp rcx */
}

/*
 * The way out of a link that cannot be taken in compiled code: this block
 * is cur_tb, then soft_jit_link(c, slot) in the caller's frame (it finds
 * the successor, fills the slot, patches a direct exit, enters it).
 */
static void emit_link_slow(struct tr *t, struct jit_slot *s)
{
	struct jit_emit *e = &t->e;

	st_cur_tb(t);
	e_rr(e, OPS(0x89), 8, H_RBX, H_RDI);
	e_movi(e, H_RSI, (uint64_t)(uintptr_t)s);
	emit_epilogue(e);
	e_movi(e, H_RAX, (uint64_t)(uintptr_t)soft_jit_link);
	e_b(e, 0xff); e_b(e, 0xe0); /* jmp rax */
}

/*
 * A direct exit (its one target in the state's RIP, everything written
 * back): one budget decrement, then a jmp rel32 that soft_jit_patch()
 * points straight into the successor's code once it is compiled (past
 * its entry guard, past the loads this exit's registers make needless).
 * Until then, and after soft_jit_unpatch(), the rel32 is 0: on to the
 * slow way.  jit_link_left is the only check: whatever must stop the
 * links (an event, a shadow, TF, HLT, an irqchip poll, the executor's
 * turn for kicks, interrupts and shootdowns) zeroes it, and a call that
 * set c->ev leaves the compiled code at once (soft_jit_call,
 * soft_jit_stub); a chain_gen change undoes every patch before compiled
 * code runs again.
 */
static bool emit_link_direct(struct tr *t)
{
	struct jit_emit *e = &t->e;
	struct jit_slot *s = soft_tb_alloc(t->c, sizeof(*s));
	size_t jb, j;

	if (!s)
		return false;
	memset(s, 0, sizeof(*s));
	loop_flush(t, false);
	for (unsigned g = 0; g < 16; g++)
		s->hr[g] = (t->xvalid & (1u << g)) ? t->hr[g] : -1;
	s->mem = t->mem;
	/* sub dword [rbx+jit_link_left], 1; jb slow (it was 0) */
	e_rm(e, OPS(0x83), 4, 5, H_RBX, OFF(jit_link_left)); e_b(e, 1);
	jb = e_jcc32(e, 0x2);
	j = e_jmp32(e);
	s->jmp = (uint32_t)((size_t)(e->start - t->c->jit_rw) + j);
	/* not taken (or not patched): the decrement undone, the slow way */
	e_patch(e, jb, e_pos(e));
	e_rm(e, OPS(0x83), 4, 0, H_RBX, OFF(jit_link_left)); e_b(e, 1);
	pf_store(t, &t->pf);
	emit_link_slow(t, s);
	if (t->pf.v) {
		/* flags pending: a successor that does not read them before
		 * it writes them all is entered without their stores, the
		 * others through this stub */
		size_t base = (size_t)(e->start - t->c->jit_rw);
		s->fstub = (uint32_t)(base + e_pos(e));
		pf_store(t, &t->pf);
		s->fjmp = (uint32_t)(base + e_jmp32(e));
	}
	return true;
}

/*
 * Leave the block for the successor at RIP (written).  A direct exit:
 * emit_link_direct().  @check_rip (RET, indirect JMP/CALL: the RIP the
 * branch just wrote, which RAX still holds, varies): through the slot
 * inline when it holds a compiled block for this RIP and generation and
 * the link budget lasts, else the jump cache inline, else
 * soft_jit_link().
 */
static bool emit_link(struct tr *t, bool check_rip)
{
	struct jit_emit *e = &t->e;
	struct jit_slot *s;
	size_t f[8];
	unsigned nf = 0;

	if (!check_rip)
		return emit_link_direct(t);
	s = soft_tb_alloc(t->c, sizeof(*s));
	if (!s)
		return false;
	memset(s, 0, sizeof(*s));
	/* RDX = RIP, which the branch just wrote from RAX: the checks below
	 * need not wait for it through memory */
	e_rr(e, OPS(0x89), 8, H_RAX, H_RDX);
	loop_flush(t, false);
	e_movi(e, H_RSI, (uint64_t)(uintptr_t)s);
	/* the budget of compiled-to-compiled links (no call: the
	 * interpreter's SOFT_LINK_MAX bounds recursion as well); events
	 * zero it (emit_link_direct) */
	e_rm(e, OPS(0x83), 4, 7, H_RBX, OFF(jit_link_left)); e_b(e, 0);
	f[nf++] = e_jcc32(e, CC_E);
	e_load(e, H_RCX, H_RSI, (int32_t)offsetof(struct jit_slot, gen), 8);
	e_rm(e, OPS(0x3b), 8, H_RCX, H_RBX, OFF(chain_gen));
	f[nf++] = e_jcc32(e, CC_NE);
	e_rm(e, OPS(0x3b), 8, H_RDX, H_RSI,
	     (int32_t)offsetof(struct jit_slot, rip));
	f[nf++] = e_jcc32(e, CC_NE);
	/* compiled (until then the slow way counts its executions) */
	e_load(e, H_RAX, H_RSI, (int32_t)offsetof(struct jit_slot, body), 8);
	e_rr(e, OPS(0x85), 8, H_RAX, H_RAX);
	f[nf++] = e_jcc32(e, CC_E);
	/* enter its body (the entry guard) in this frame: jit_link_left-- */
	e_rm(e, OPS(0xff), 4, 1, H_RBX, OFF(jit_link_left));
	e_b(e, 0xff); e_b(e, 0xe0);                  /* jmp rax */
	/* a varying target missed the slot: the jump cache (the
	 * interpreter's soft_thread_link_jc(), by RIP = linear) */
	for (unsigned k = 1; k < nf; k++)
		e_patch(e, f[k], e_pos(e));
	nf = 1;
	emit_jc_probe(t, f, &nf);
	for (unsigned k = 0; k < nf; k++)
		e_patch(e, f[k], e_pos(e));
	emit_link_slow(t, s);
	return true;
}

/* RIP of instruction @k of the block (64-bit code: RIP = linear; 32-bit
 * code: EIP, the block does not cross 4 GiB) */
static uint64_t insn_rip(const struct tr *t, unsigned k)
{
	uint64_t rip = t->rip0;

	for (unsigned m = 0; m < k; m++)
		rip += t->ins[m]->len;
	return rip;
}

static bool canonical(uint64_t v)
{
	return (uint64_t)((int64_t)(v << 16) >> 16) == v;
}

/* RIP = @v */
static void st_rip(struct tr *t, uint64_t v)
{
	if ((uint64_t)(int64_t)(int32_t)v == v) {
		e_rm(&t->e, OPS(0xc7), 8, 0, H_RBX, OFF(st.rip));
		e_d(&t->e, (uint32_t)v);
	} else {
		e_movi(&t->e, H_RAX, v);
		e_store(&t->e, H_RAX, H_RBX, OFF(st.rip), 8);
	}
}

/*
 * The back-edge of a self-loop (struct tr.loop), emitted where the branch
 * to the block's start is taken, before anything is written back: the
 * state's RIP is the block's (nothing in the body syncs it but the slow
 * paths, which take it back), the cached registers stay where they are
 * (the body's top treats them all as dirty), the flags stay pending
 * unless the body reads flags before it writes them all (loop_live);
 * one more iteration is counted in LOOP_REG.  After loop_max iterations
 * it falls through to the branch's way out, the iteration not counted
 * and the link budget used up: the executor looks at kicks, interrupts
 * and shootdowns at least every SOFT_JIT_LOOP_INSNS instructions.
 */
static void loop_setup(struct tr *t)
{
	t->n_back = t->pend_n + 1;
	t->h_back = t->pend_hits;
	t->loop_max = SOFT_JIT_LOOP_INSNS / t->n_back;
	if (t->loop_max < SOFT_LINK_MAX)
		t->loop_max = SOFT_LINK_MAX;
	t->back_known = true;
	for (unsigned m = 0; m < t->nlfix && !t->e.overflow; m++) {
		memcpy(t->e.start + t->lfix_n[m], &t->n_back, 4);
		memcpy(t->e.start + t->lfix_h[m], &t->h_back, 4);
	}
}

static void emit_loop_back(struct tr *t)
{
	struct jit_emit *e = &t->e;

	if (t->loop_live && !t->loop_pflazy)
		pf_store(t, &t->pf);
	t->loop_pf = t->pf;
	e_rr(e, OPS(0xff), 4, 0, LOOP_REG);          /* inc r15d */
	e_rr(e, OPS(0x81), 4, 7, LOOP_REG);          /* cmp r15d, max */
	e_d(e, t->loop_max);
	e_patch(e, e_jcc32(e, 0x2), t->loop_pos);    /* jb top */
	e_rr(e, OPS(0xff), 4, 1, LOOP_REG);          /* dec r15d */
	e_st32i(e, H_RBX, OFF(link_left), 0);
	e_st32i(e, H_RBX, OFF(jit_link_left), 0);
}

/* leave a self-loop block at the end of its last instruction, for RIP
 * @rip: everything into the state, then the link */
static bool loop_exit(struct tr *t, uint64_t rip)
{
	cache_end(t);
	pf_flush(t);
	st_rip(t, rip);
	e_mem_imm(&t->e, 0, H_RBX, OFF(icount), (int32_t)(t->pend_n + 1), 8);
	flush_hits(t);
	return emit_link(t, false);
}

/* Jcc back to the block's start ending a self-loop */
static void emit_cond_call(struct tr *t, unsigned cc);

static bool emit_jcc_loop(struct tr *t, unsigned k, const struct form *f,
			  bool hf)
{
	struct jit_emit *e = &t->e;
	const struct soft_insn *i = t->ins[k];
	uint16_t dirty = t->dirty;
	struct pend_flags pf = t->pf;
	unsigned hits = t->pend_hits;
	unsigned cc = f->cc;
	size_t taken;

	loop_setup(t);
	if (!hf && t->pf.v) {
		pf_redo(t, &t->pf);
	} else if (!hf && !emit_flags(t, f->cc)) {
		emit_cond_call(t, f->cc); /* flags from before the loop */
		cc = CC_NE;
	}
	taken = e_jcc32(e, (uint8_t)cc);
	if (!loop_exit(t, (insn_rip(t, k) + i->len) &
			      (t->m32 ? 0xffffffffull : ~0ull)))
		return false;
	t->dirty = dirty;
	t->nocache = false;
	t->pf = pf;
	t->pend_hits = hits;
	e_patch(e, taken, e_pos(e));
	emit_loop_back(t);
	return loop_exit(t, t->rip0);
}

/*
 * Jcc ending the block, on flags this block's translated code stored:
 * RIP = target or next, the count, then the interpreter's link to the
 * successor block (soft_jit_link, as its Jcc twin does).  A non-canonical
 * target goes to the interpreter's Jcc (which raises the #GP).
 */
static bool emit_jcc(struct tr *t, unsigned k, const struct form *f)
{
	struct jit_emit *e = &t->e;
	const struct soft_insn *i = t->ins[k];
	uint64_t target;
	unsigned hits;
	size_t taken;
	bool hf = t->hf && !(t->hf_nocf && ((f->cc >> 1) == 1 ||
					    (f->cc >> 1) == 3));
	unsigned cc = f->cc;

	target = insn_rip(t, k) + i->len + i->imm;
	if (t->m32)
		target = (uint32_t)target;
	if (t->loop && target == t->rip0)
		return emit_jcc_loop(t, k, f, hf);
	cache_end(t); /* moves: the host flags stay */
	if (t->pf.v && !hf) {
		/* redo the producer for its host flags (unless they are
		 * its already: the pending producer is the last flag
		 * writer); the flags stay pending for the exits
		 * (emit_link_direct) */
		pf_redo(t, &t->pf);
		hf = true;
	}
	if (!hf && !emit_flags(t, f->cc)) {
		emit_cond_call(t, f->cc); /* flags from elsewhere */
		cc = CC_NE;
	}
	taken = e_jcc32(e, (uint8_t)cc);
	/* not taken (RIPs are constants, checked at the block's entry):
	 * its link right here, no jump to it */
	st_rip(t, (insn_rip(t, k) + i->len) & (t->m32 ? 0xffffffffull : ~0ull));
	e_mem_imm(e, 0, H_RBX, OFF(icount), (int32_t)(t->pend_n + 1), 8);
	hits = t->pend_hits;
	flush_hits(t);
	if (!emit_link(t, false))
		return false;
	e_patch(e, taken, e_pos(e));
	t->pend_hits = hits;
	if (!canonical(target))
		return emit_interp(t, k, true); /* the interpreter's #GP */
	st_rip(t, target);
	e_mem_imm(e, 0, H_RBX, OFF(icount), (int32_t)(t->pend_n + 1), 8);
	flush_hits(t);
	return emit_link(t, false);
}

/*
 * A Jcc inside the compiled code (struct tr.side; region()): taken, it
 * leaves for its target as a block-ending Jcc does (everything written
 * back, RIP, the count, the link), on a way that the not-taken path
 * jumps over; not taken, the code goes on with the fall-through block's
 * instructions, everything as before the Jcc (registers cached, flags
 * pending, RIP and count still deferred).
 */
static bool emit_jcc_side(struct tr *t, unsigned k, const struct form *f)
{
	struct jit_emit *e = &t->e;
	const struct soft_insn *i = t->ins[k];
	uint16_t dirty = t->dirty, xvalid = t->xvalid;
	struct pend_flags pf = t->pf;
	unsigned hits = t->pend_hits;
	bool hf = t->hf && !(t->hf_nocf && ((f->cc >> 1) == 1 ||
					    (f->cc >> 1) == 3));
	bool hf_kept = hf;
	unsigned cc = f->cc;
	uint64_t target = insn_rip(t, k) + i->len + i->imm;
	size_t over;

	if (t->m32)
		target = (uint32_t)target;
	if (!canonical(target))
		return false; /* (region() does not go past one) */
	if (t->pf.v && !hf) {
		/* the producer redone for its host flags; still pending */
		pf_redo(t, &t->pf);
		hf = true;
	}
	if (!hf && !emit_flags(t, f->cc)) {
		emit_cond_call(t, f->cc); /* flags from elsewhere */
		cc = CC_NE;
	}
	over = e_jcc32(e, (uint8_t)(cc ^ 1));
	/* taken: the block's end for this way (moves: the flags stay) */
	cache_end(t);
	st_rip(t, target);
	e_mem_imm(e, 0, H_RBX, OFF(icount), (int32_t)(t->pend_n + 1), 8);
	flush_hits(t);
	if (!emit_link(t, false))
		return false;
	e_patch(e, over, e_pos(e));
	/* not taken: as before it */
	t->dirty = dirty;
	t->xvalid = xvalid;
	t->nocache = false;
	t->pf = pf;
	t->pend_hits = hits;
	/* the host flags are the guest's still only where nothing was
	 * computed for the condition */
	t->hf = hf_kept && t->hf;
	t->cf_host = false;
	t->pend_len += i->len;
	t->pend_n++;
	return true;
}

/* the rel32 jumps of a branch's checks to its interpreter route */
struct fixes {
	size_t at[8];
	unsigned n;
};

static void branch32(struct tr *t, unsigned k, const struct form *f,
		     struct fixes *fx);

/* RAX canonical, else to the interpreter route (RCX clobbered) */
static void canon_rax(struct tr *t, struct fixes *fx)
{
	struct jit_emit *e = &t->e;

	e_rr(e, OPS(0x89), 8, H_RAX, H_RCX);
	e_shift_i(e, 4, H_RCX, 16);
	e_shift_i(e, 7, H_RCX, 16);
	e_rr(e, OPS(0x39), 8, H_RAX, H_RCX);
	fx->at[fx->n++] = e_jcc32(e, CC_NE);
}

/* RSI = host pointer of the 8 bytes at linear RSI (stack), else to the
 * interpreter route; RDX preserved */
static void stack_tlb(struct tr *t, struct fixes *fx, bool write)
{
	struct slow tmp;

	memset(&tmp, 0, sizeof(tmp));
	t->cur = &tmp;
	check_canonical(t);
	emit_tlb(t, 8, write);
	for (unsigned k = 0; k < tmp.nfix; k++)
		fx->at[fx->n++] = tmp.fix[k];
}

/*
 * JMP rel, CALL rel, RET ending the block: every check (canonical target,
 * stack access through the TLB) comes before any change, and a failing
 * one runs the instruction through the interpreter, which raises the
 * fault; then RIP, the count, and the link to the successor.  A RET's
 * successor varies: the link slot's RIP check makes it a one-entry
 * cache, and soft_jit_link() finds others.
 */
static bool emit_branch(struct tr *t, unsigned k, const struct form *f)
{
	struct jit_emit *e = &t->e;
	const struct soft_insn *i = t->ins[k];
	int64_t next = (int64_t)t->pend_len + i->len;
	struct fixes fx = { { 0 }, 0 };
	bool self = f->k == K_JMP && t->loop &&
		    ((insn_rip(t, k) + i->len + i->imm) &
		     (t->m32 ? 0xffffffffull : ~0ull)) == t->rip0;

	if (self) {
		/* the back-edge first; the way out after it */
		loop_setup(t);
		emit_loop_back(t);
	}
	flush_hits(t);
	pf_flush(t);
	cache_end(t);
	if (t->m32) {
		branch32(t, k, f, &fx);
	} else if (f->k == K_RET) {
		ld_reg(t, H_RSI, VMM_RSP, 8);
		stack_tlb(t, &fx, false);
		e_load(e, H_RAX, H_RSI, 0, 8);
		canon_rax(t, &fx);
		addi_reg(t, VMM_RSP, 8);
	} else if (f->k == K_JMPI || f->k == K_CALLI) {
		/* RAX = target (register or memory), RDX = next RIP */
		if (i->mod == 3) {
			ld_reg(t, H_RAX, i->rm, 8);
		} else {
			struct slow tmp;
			memset(&tmp, 0, sizeof(tmp));
			t->cur = &tmp;
			emit_ea(t, i);
			emit_tlb(t, 8, false);
			for (unsigned m = 0; m < tmp.nfix; m++)
				fx.at[fx.n++] = tmp.fix[m];
			e_load(e, H_RAX, H_RSI, 0, 8);
		}
		canon_rax(t, &fx);
		e_movi(e, H_RDX, insn_rip(t, k) + i->len);
		if (f->k == K_CALLI) {
			e_rr(e, OPS(0x89), 8, H_RAX, H_R8);
			ld_reg(t, H_RSI, VMM_RSP, 8);
			e_alu_ri(e, 5, H_RSI, 8);
			e_rr(e, OPS(0x89), 8, H_RSI, H_R9);
			stack_tlb(t, &fx, true);
			e_store(e, H_RDX, H_RSI, 0, 8);
			st_reg(t, H_R9, VMM_RSP, 8);
			e_rr(e, OPS(0x89), 8, H_R8, H_RAX);
		}
	} else {
		/* RDX = RIP of the next instruction, RAX = target */
		e_load(e, H_RDX, H_RBX, OFF(st.rip), 8);
		e_movi(e, H_RCX, (uint64_t)next);
		e_alu_rr(e, 0x01, H_RDX, H_RCX);
		e_rr(e, OPS(0x89), 8, H_RDX, H_RAX);
		e_movi(e, H_RCX, i->imm);
		e_alu_rr(e, 0x01, H_RAX, H_RCX);
		canon_rax(t, &fx);
		if (f->k == K_CALL) {
			/* push RDX; the target waits in R8 */
			e_rr(e, OPS(0x89), 8, H_RAX, H_R8);
			ld_reg(t, H_RSI, VMM_RSP, 8);
			e_alu_ri(e, 5, H_RSI, 8);
			e_rr(e, OPS(0x89), 8, H_RSI, H_R9);
			stack_tlb(t, &fx, true);
			e_store(e, H_RDX, H_RSI, 0, 8);
			st_reg(t, H_R9, VMM_RSP, 8);
			e_rr(e, OPS(0x89), 8, H_R8, H_RAX);
		}
	}
	e_store(e, H_RAX, H_RBX, OFF(st.rip), 8);
	e_mem_imm(e, 0, H_RBX, OFF(icount), (int32_t)(t->pend_n + 1), 8);
	flush_hits(t);
	if (!emit_link(t, f->k == K_RET || f->k == K_JMPI ||
			 f->k == K_CALLI))
		return false;
	for (unsigned m = 0; m < fx.n; m++)
		e_patch(e, fx.at[m], e_pos(e));
	return emit_interp(t, k, true);
}

/* ROL/ROR of a register by a constant (flags dead): the host's rotate of
 * the operand's size */
static void emit_rot(struct tr *t, const struct soft_insn *i,
		     const struct form *f)
{
	struct jit_emit *e = &t->e;
	unsigned sz = f->size, r = rm_of(i, sz);

	ld_reg(t, H_RAX, r, sz);
	e_rr(e, (const uint8_t[]){ sz == 1 ? 0xc0 : 0xc1 }, 1, sz, f->shop,
	     H_RAX);
	e_b(e, (uint8_t)f->count);
	st_reg(t, H_RAX, r, sz);
}

/* ---- more forms: MUL/DIV, PUSH r/m, shifts by CL with live flags,
 * 32-bit branches (chosen by counting fallbacks, docs/soft-backend.md) ---- */

/* the host's F6/F7 /ext at @sz on RCX (CL, CX, ECX, RCX) */
static void e_grp3_rcx(struct tr *t, unsigned ext, unsigned sz)
{
	e_rr(&t->e, (const uint8_t[]){ sz == 1 ? 0xf6 : 0xf7 }, 1, sz, ext,
	     H_RCX);
}

/*
 * MUL/IMUL (F6/F7 /4, /5) r/m: the host's multiply at the operand's size
 * on RAX and the operand; CF = OF = its overflow, ZF SF PF of the low
 * half, AF 0 (mul_flags() in exec_alu.c) into RFLAGS when live.
 */
static void emit_mul(struct tr *t, const struct soft_insn *i,
		     const struct form *f, bool flags_live)
{
	struct jit_emit *e = &t->e;
	unsigned sz = f->size;

	if (i->mod != 3) {
		emit_ea(t, i);
		emit_tlb(t, sz, false);
	}
	ld_opnd(t, i, H_RCX, O_E, sz);
	ld_reg(t, H_RAX, VMM_RAX, sz);
	e_grp3_rcx(t, f->shop, sz);
	if (flags_live)
		e_rr(e, OPS(0x0f, 0x90), 1, 0, H_RCX); /* seto cl */
	if (sz == 1) {
		st_reg(t, H_RAX, VMM_RAX, 2);          /* AX = AL * r/m8 */
	} else {
		st_reg(t, H_RAX, VMM_RAX, sz);
		st_reg(t, H_RDX, VMM_RDX, sz);
	}
	t->pf.v = false;
	t->lf_op = t->lf_size = 0;
	t->lf_eager = false;
	if (!flags_live)
		return;
	emit_mul_flags(t, sz, H_RCX);
}

/*
 * DIV/IDIV (F6/F7 /6, /7) r/m: the host's division where it cannot fault;
 * a zero divisor, a quotient that does not fit (and, for IDIV, a divisor
 * of -1 or a 64-bit dividend RDX:RAX that is not RAX sign-extended) go to
 * the slow path before anything changed, whose handler raises the #DE
 * (or divides).  The flags are unchanged (exec_alu.c's do_div).
 */
static void emit_div(struct tr *t, const struct soft_insn *i,
		     const struct form *f)
{
	struct jit_emit *e = &t->e;
	unsigned sz = f->size;

	if (i->mod != 3) {
		emit_ea(t, i);
		emit_tlb(t, sz, false);
	}
	ld_opnd(t, i, H_RCX, O_E, sz);               /* zero-extended */
	if (f->shop == 6) {
		/* DIV: fits iff the high half < the divisor (so not 0) */
		if (sz == 1) {
			ld_reg(t, H_RAX, VMM_RAX, 2);
			e_rr(e, OPS(0x89), 4, H_RAX, H_RDX);
			e_shift_i(e, 5, H_RDX, 8);           /* edx = AH */
		} else {
			ld_reg(t, H_RAX, VMM_RAX, sz);
			ld_reg(t, H_RDX, VMM_RDX, sz);
		}
		e_rr(e, OPS(0x39), 8, H_RCX, H_RDX);     /* cmp rdx, rcx */
		to_slow(t, 0x3);                         /* jae */
		e_grp3_rcx(t, 6, sz);
	} else {
		/* IDIV: divisor 0 or -1 to the handler (rcx + 1 <= 1) */
		if (sz < 8)
			e_sext(e, H_RCX, sz);
		e_b(e, 0x48); e_b(e, 0x8d); e_b(e, 0x41); e_b(e, 0x01); /* lea rax,[rcx+1] */
		e_rr(e, OPS(0x83), 8, 7, H_RAX); e_b(e, 1);       /* cmp rax, 1 */
		to_slow(t, 0x6);                                   /* jbe */
		if (sz == 8) {
			/* RDX:RAX must be RAX sign-extended */
			ld_reg(t, H_RAX, VMM_RAX, 8);
			ld_reg(t, H_RDX, VMM_RDX, 8);
			e_rr(e, OPS(0x89), 8, H_RAX, H_RSI);
			e_shift_i(e, 7, H_RSI, 63);
			e_rr(e, OPS(0x39), 8, H_RSI, H_RDX); /* cmp rdx, rsi */
			to_slow(t, CC_NE);
		} else {
			/* the dividend sign-extended to 64 bits in RAX */
			if (sz == 1) {
				ld_reg(t, H_RAX, VMM_RAX, 2);
			} else {
				ld_reg(t, H_RDX, VMM_RDX, sz);
				ld_reg(t, H_RAX, VMM_RAX, sz);
				e_shift_i(e, 4, H_RDX, (uint8_t)(8 * sz));
				e_alu_rr(e, 0x09, H_RAX, H_RDX);
			}
			if (sz < 4)
				e_sext(e, H_RAX, 2 * sz);
			e_b(e, 0x48); e_b(e, 0x99);          /* cqo */
		}
		e_rr(e, OPS(0xf7), 8, 7, H_RCX);          /* idiv rcx */
		if (sz < 8) {
			/* the quotient fits in @sz bytes (signed) */
			e_rr(e, OPS(0x89), 8, H_RAX, H_RSI);
			e_sext(e, H_RSI, sz);
			e_rr(e, OPS(0x39), 8, H_RAX, H_RSI); /* cmp rsi, rax */
			to_slow(t, CC_NE);
		}
		if (sz == 1) {
			/* AL = quotient, AH = remainder */
			e_zext(e, H_RAX, 1);
			e_zext(e, H_RDX, 1);
			e_shift_i(e, 4, H_RDX, 8);
			e_alu_rr(e, 0x09, H_RAX, H_RDX);
		}
	}
	if (sz == 1) {
		st_reg(t, H_RAX, VMM_RAX, 2);
	} else {
		st_reg(t, H_RAX, VMM_RAX, sz);
		st_reg(t, H_RDX, VMM_RDX, sz);
	}
}

/*
 * PUSH r/m (FF /6), 8 bytes (4 in 32-bit code): the operand read first
 * (its address from the registers before the push), then the push; each
 * access's miss goes to the slow path before anything changed.
 */
static void emit_push_rm(struct tr *t, const struct soft_insn *i,
			 const struct form *f)
{
	struct jit_emit *e = &t->e;
	unsigned sz = f->size;

	if (i->mod != 3) {
		emit_ea(t, i);
		emit_tlb(t, sz, false);
		e_load(e, H_R11, H_RSI, 0, sz);
	} else {
		ld_reg(t, H_R11, i->rm, sz);
	}
	if (t->m32) {
		ld_reg(t, H_RSI, VMM_RSP, 4);
		e_alu_ri(e, 5, H_RSI, 4);
		e_zext(e, H_RSI, 4);
		e_rr(e, OPS(0x89), 8, H_RSI, H_RDX);     /* rdx = new ESP */
		stack_ea32(t, true);
	} else {
		ld_reg(t, H_RSI, VMM_RSP, 8);
		e_alu_ri(e, 5, H_RSI, 8);
		e_rr(e, OPS(0x89), 8, H_RSI, H_RDX);     /* rdx = new RSP */
		check_canonical(t);
		emit_tlb(t, 8, true);
	}
	e_store(e, H_R11, H_RSI, 0, sz);
	st_reg(t, H_RDX, VMM_RSP, sz);
}

/*
 * SHL/SHR/SAR of a 4- or 8-byte register by CL with live flags, as
 * exec_shift.c: a masked count of 0 leaves the flags (the register is
 * still written: zero-extended at 4 bytes); else the flags of
 * emit_shift_live() for that count, into RFLAGS.  Either way the state
 * holds the flags after it (the pending ones stored first).
 */
static void emit_shiftcl_live(struct tr *t, const struct soft_insn *i,
			      const struct form *f)
{
	struct jit_emit *e = &t->e;
	unsigned sz = f->size, r = rm_of(i, sz), msb = sz * 8 - 1;
	size_t skip;

	pf_flush(t);
	ld_reg(t, H_RCX, VMM_RCX, 1);
	ld_reg(t, H_RDX, r, sz);
	e_rr(e, OPS(0x89), 8, H_RDX, H_RDI);         /* rdi = a */
	e_rr(e, OPS(0x83), 4, 4, H_RCX); e_b(e, (uint8_t)msb); /* and ecx, mask */
	skip = e_jcc32(e, CC_E);
	e_rr(e, OPS(0xd3), sz, f->shop, H_RDX);
	emit_shift_flags(t, f->shop, msb, H_RDI);
	emit_set_arith(t);
	e_patch(e, skip, e_pos(e));
	st_reg(t, H_RDX, r, sz);
	/* the flags are the state's, lazy or not */
	t->lf_eager = false;
	t->lf_op = t->lf_size = 0;
	t->hf = false;
}

/*
 * ROL/ROR of a 4- or 8-byte register by CL with live flags: a masked
 * count of 0 leaves the flags (the register still written); else CF and
 * OF as emit_rot_live() computes them, the other flags kept, all into
 * RFLAGS.  The flags before it come from the pending op redone (host
 * flags), RFLAGS when eager, else soft_jit_get_flags().
 */
static void emit_old_flags(struct tr *t);

static void emit_rotcl_live(struct tr *t, const struct soft_insn *i,
			    const struct form *f)
{
	struct jit_emit *e = &t->e;
	unsigned sz = f->size, r = rm_of(i, sz), msb = sz * 8 - 1;
	size_t skip;

	emit_old_flags(t);
	ld_reg(t, H_RDX, r, sz);
	ld_reg(t, H_RCX, VMM_RCX, 1);
	e_rr(e, OPS(0x83), 4, 4, H_RCX); e_b(e, (uint8_t)msb); /* and ecx, mask */
	skip = e_jcc32(e, CC_E);
	e_rr(e, OPS(0x81), 4, 4, H_RAX);
	e_d(e, FL_ARITH & ~(FL_CF | FL_OF));
	e_rr(e, OPS(0xd3), sz, f->shop, H_RDX);
	emit_rot_cf_of(t, f->shop, msb);
	emit_set_arith(t);
	e_patch(e, skip, e_pos(e));
	st_reg(t, H_RDX, r, sz);
	t->lf_eager = false;
	t->lf_op = t->lf_size = 0;
	t->hf = false;
}

/* condition @cc of the state's flags (lazy or not), for a Jcc, SETcc or
 * CMOVcc whose flags were set outside the block */
static uint32_t soft_jit_cond(struct soft_cpu *c, uint32_t cc)
{
	return soft_cond(c, cc);
}

/*
 * The host flags' ZF = !(condition @cc of the state's flags): a call of
 * soft_cond(), for a consumer whose producer is not in the block (or
 * whose flags the host cannot redo: INC/DEC's CF); nothing pending (the
 * callers flush).  Caller-saved registers are clobbered, R10 reloaded.
 */
static void emit_cond_call(struct tr *t, unsigned cc)
{
	struct jit_emit *e = &t->e;

	e_rr(e, OPS(0x89), 8, H_RBX, H_RDI);
	e_movi(e, H_RSI, cc);
	e_call(e, (const void *)soft_jit_cond);
	e_rr(e, OPS(0x89), 4, H_RAX, H_R11);
	emit_tlb_base(t); /* R10 is the callee's (RAX, host flags clobbered) */
	e_rr(e, OPS(0x85), 4, H_R11, H_R11);         /* test r11d, r11d */
}

/*
 * RAX = the guest's RFLAGS before the instruction being emitted (for one
 * that changes some arithmetic flags and keeps the others): the pending
 * op redone (host flags, PUSHFQ), RFLAGS when eager, else
 * soft_jit_get_flags().  Nothing pending after; R11, RCX, RDX, RSI, RDI
 * may be clobbered.
 */
static void emit_old_flags(struct tr *t)
{
	struct jit_emit *e = &t->e;

	if (t->pf.v) {
		pf_flush(t);                             /* host flags */
		e_b(e, 0x9c);                            /* pushfq */
		e_pop(e, H_RAX);
	} else if (t->lf_eager) {
		e_load(e, H_RAX, H_RBX, OFF(st.rflags), 8);
	} else {
		e_rr(e, OPS(0x89), 8, H_RBX, H_RDI);
		e_call(e, (const void *)soft_jit_get_flags);
		e_rr(e, OPS(0x89), 8, H_RAX, H_R11);
		emit_tlb_base(t); /* R10 is the callee's */
		e_rr(e, OPS(0x89), 8, H_R11, H_RAX);
	}
}

/*
 * BT/BTS/BTR/BTC (0F A3/AB/B3/BB, 0F BA /4-/7; register or memory, not
 * LOCK): the host's instruction at 8 bytes on the zero-extended operand,
 * the offset masked to the operand's size as the interpreter does
 * (bt_common(): a register offset into memory first moves the address by
 * its sign-extended upper bits, in operand-size units); CF = the bit, the
 * other flags kept (set_cf()), into RFLAGS.
 */
static void emit_bt(struct tr *t, const struct soft_insn *i,
		    const struct form *f)
{
	struct jit_emit *e = &t->e;
	unsigned sz = f->size, bits = sz * 8;
	static const uint8_t ops[4] = { 0xa3, 0xab, 0xb3, 0xbb };
	bool mem = i->mod != 3;

	emit_old_flags(t);
	e_rr(e, OPS(0x81), 4, 4, H_RAX);
	e_d(e, FL_ARITH & ~FL_CF);
	e_rr(e, OPS(0x89), 8, H_RAX, H_R11);
	if (mem) {
		emit_ea(t, i);
		if (i->op != 0x1ba) {
			/* + (sign-extended offset >> log2(bits)) * size,
			 * wrapping as the address (32 bits in 32-bit code,
			 * flat there: emit_ea) */
			unsigned lg = sz == 2 ? 1 : sz == 4 ? 2 : 3;
			ld_reg(t, H_RAX, i->reg, sz);
			e_sext(e, H_RAX, sz);
			e_shift_i(e, 7, H_RAX, lg + 3);      /* sar */
			e_shift_i(e, 4, H_RAX, lg);          /* shl */
			e_rr(e, OPS(0x01), t->m32 ? 4 : 8, H_RAX, H_RSI);
		}
		emit_tlb(t, sz, f->shop != 4);
		e_load(e, H_RDX, H_RSI, 0, sz);
	} else {
		ld_reg(t, H_RDX, i->rm, sz);
	}
	if (i->op == 0x1ba)
		e_movi(e, H_RCX, (uint64_t)(i->imm & (bits - 1)));
	else {
		ld_reg(t, H_RCX, i->reg, sz);
		e_rr(e, OPS(0x83), 4, 4, H_RCX); e_b(e, (uint8_t)(bits - 1));
	}
	if (mem && (i->pfx & PFX_LOCK)) {
		/* lock bts/btr/btc [rsi], ecx (the offset masked: in the
		 * operand) at its size */
		e_b(e, 0xf0);
		e_rm(e, OPS(0x0f, ops[f->shop - 4]), sz, H_RCX, H_RSI, 0);
		e_rr(e, OPS(0x83), 4, 2, H_R11); e_b(e, 0); /* adc r11d, 0 */
		set_arith_r11(t);
		return;
	}
	/* bt/bts/btr/btc rdx, rcx */
	e_rr(e, OPS(0x0f, ops[f->shop - 4]), 8, H_RCX, H_RDX);
	e_rr(e, OPS(0x83), 4, 2, H_R11); e_b(e, 0);  /* adc r11d, 0: CF */
	if (f->shop != 4) {
		if (mem)
			e_store(e, H_RDX, H_RSI, 0, sz);
		else
			st_reg(t, H_RDX, i->rm, sz);
	}
	set_arith_r11(t);
}

/* BSWAP r32/r64 (the register in the opcode, rm); 16 bits: 0, as the
 * interpreter (the SDM leaves it undefined) */
static void emit_bswap(struct tr *t, const struct soft_insn *i,
		       const struct form *f)
{
	struct jit_emit *e = &t->e;

	if (f->size == 2) {
		e_rr(e, OPS(0x31), 4, H_RAX, H_RAX);
	} else {
		ld_reg(t, H_RAX, i->rm, f->size);
		if (f->size == 8)
			e_b(e, 0x48);
		e_b(e, 0x0f); e_b(e, 0xc8);              /* bswap (r)eax */
	}
	st_reg(t, H_RAX, i->rm, f->size);
}

/*
 * 32-bit code's CALL rel32, RET, JMP/CALL r/m32 and JMP rel ending a
 * block: RAX = the target EIP, the stack done (RET popped, CALL pushed
 * the return EIP), every check before any change, the failing ones in
 * @fx (emit_branch: the interpreter runs the instruction).  CS is flat
 * (the entry guard): no limit check of the target.
 */
static void branch32(struct tr *t, unsigned k, const struct form *f,
		     struct fixes *fx)
{
	struct jit_emit *e = &t->e;
	const struct soft_insn *i = t->ins[k];
	uint32_t next = (uint32_t)(insn_rip(t, k) + i->len);
	struct slow a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	t->cur = &a;
	switch (f->k) {
	case K_JMP:
		e_movi(e, H_RAX, (uint32_t)(next + i->imm));
		break;
	case K_RET:
		ld_reg(t, H_RSI, VMM_RSP, 4);
		e_rr(e, OPS(0x89), 8, H_RSI, H_RDX);
		stack_ea32(t, false);
		e_load(e, H_RAX, H_RSI, 0, 4);
		e_alu_ri(e, 0, H_RDX, 4);
		e_zext(e, H_RDX, 4);
		st_reg(t, H_RDX, VMM_RSP, 4);
		break;
	default: /* CALL, JMP r/m, CALL r/m: the target in R8 */
		if (f->k == K_CALL) {
			e_movi(e, H_R8, (uint32_t)(next + i->imm));
		} else if (i->mod == 3) {
			ld_reg(t, H_R8, i->rm, 4);
		} else {
			emit_ea(t, i);
			emit_tlb(t, 4, false);
			e_load(e, H_R8, H_RSI, 0, 4);
		}
		if (f->k != K_JMPI) {
			t->cur = &b;
			ld_reg(t, H_RSI, VMM_RSP, 4);
			e_alu_ri(e, 5, H_RSI, 4);
			e_zext(e, H_RSI, 4);
			e_rr(e, OPS(0x89), 8, H_RSI, H_RDX); /* new ESP */
			stack_ea32(t, true);
			e_movi(e, H_RAX, next);
			e_store(e, H_RAX, H_RSI, 0, 4);
			st_reg(t, H_RDX, VMM_RSP, 4);
		}
		e_rr(e, OPS(0x89), 8, H_R8, H_RAX);
		break;
	}
	for (unsigned m = 0; m < a.nfix; m++)
		fx->at[fx->n++] = a.fix[m];
	for (unsigned m = 0; m < b.nfix; m++)
		fx->at[fx->n++] = b.fix[m];
}

/* ---- a block ---- */

/*
 * A memory-operand ALU op (not ADC/SBB) whose flags are live: pending in
 * R8/R9 as a register operand's (pf_defer), not stored; its own slow path
 * takes them back from what its handler wrote (emit_pf_reload_self).
 * ADD/SUB/CMP: a = RAX, b = RCX; the logic ops (the handler writes only
 * the result): R8 = R9 = the result (RDX), redone as AND.
 */
static void emit_alu_mem_defer(struct tr *t, const struct form *f)
{
	struct jit_emit *e = &t->e;
	unsigned op = alu_lf[f->alu];

	if (op == LF_LOGIC) {
		e_rr(e, OPS(0x89), 8, H_RDX, H_R8);
		e_rr(e, OPS(0x89), 8, H_RDX, H_R9);
		pf_defer(t, op, f->size, 0x21, false);
	} else {
		pf_defer(t, op, f->size, alu_host[f->alu], true);
	}
	if (t->cur)
		t->cur->pf_self = true;
}

/* R8/R9 of pending flags @p from the lazy flags a handler wrote for the
 * same instruction (emit_alu_mem_defer's forms) */
static void emit_pf_reload_self(struct tr *t, const struct pend_flags *p)
{
	struct jit_emit *e = &t->e;

	if (p->op == LF_LOGIC) {
		e_load(e, H_R8, H_RBX, OFF(lf_res), 8);
		e_rr(e, OPS(0x89), 8, H_R8, H_R9);
	} else {
		e_load(e, H_R8, H_RBX, OFF(lf_a), 8);
		e_load(e, H_R9, H_RBX, OFF(lf_b), 8);
	}
}

/*
 * A read-modify-write of memory (shifts and rotates of 4 or 8 bytes, by a
 * constant or CL) through the register forms' emitters: the address and
 * the TLB write check first (a miss: the slow path, nothing changed), the
 * value into struct soft_cpu.jit_tmp and its host pointer into jit_ptr;
 * @cp = @i with its operand the register JIT_TMP_REG (reg_off()), which
 * the emitters load and store like an uncached register; then
 * xops_rmw_post() stores the result (the page is known writable: no
 * fault after the instruction changed anything).
 */
static const struct soft_insn *xops_rmw_pre(struct tr *t,
					    const struct soft_insn *i,
					    struct soft_insn *cp, unsigned sz)
{
	struct jit_emit *e = &t->e;

	emit_ea(t, i);
	emit_tlb(t, sz, true);
	e_store(e, H_RSI, H_RBX, OFF(jit_ptr), 8);
	e_load(e, H_RAX, H_RSI, 0, sz);
	e_store(e, H_RAX, H_RBX, OFF(jit_tmp), 8);
	*cp = *i;
	cp->mod = 3;
	cp->rm = cp->rm8 = JIT_TMP_REG;
	return cp;
}

static void xops_rmw_post(struct tr *t, unsigned sz)
{
	struct jit_emit *e = &t->e;

	e_load(e, H_RDI, H_RBX, OFF(jit_ptr), 8);
	e_load(e, H_RAX, H_RBX, OFF(jit_tmp), sz);
	e_store(e, H_RAX, H_RDI, 0, sz);
}

/* ---- more forms: XCHG, CMPXCHG, XADD, PUSHF ----
 *
 * (SETcc m8 and CMOVcc r, m are in emit_setcc_cmov.)  A memory form does
 * its address and TLB check first, so a miss leaves to the slow path
 * before anything changed; the read-modify-write is then the host's
 * atomic instruction on the host pointer (XCHG, LOCK CMPXCHG, LOCK
 * XADD), as the interpreter's soft_cas() on soft_atomic_ptr(): atomic
 * against other vCPUs' threads with or without the guest's LOCK (a TLB
 * write hit is RAM, and never a page holding translated code).
 */

/*
 * The kinds of this section for @i, in @f (f->k left K_NONE: one of them
 * the interpreter keeps); false when @i is none of them.
 */
static bool xops_classify(const struct soft_insn *i, struct form *f,
			  bool m32)
{
	unsigned op = i->op, sz = i->osz;

	if (op == 0x86 || op == 0x87) {
		f->k = K_XCHG, f->dst = O_E, f->src = O_G;
	} else if (op >= 0x90 && op <= 0x97 && i->rm != 0) {
		/* XCHG eAX, r (90 with REX.B: R8); 90 itself is NOP or
		 * PAUSE */
		f->k = K_XCHG, f->acc = true;
	} else if (op == 0x1b0 || op == 0x1b1 || op == 0x1c0 ||
		   op == 0x1c1) {
		if ((i->pfx & PFX_LOCK) && i->mod == 3)
			return true; /* #UD */
		f->k = op >= 0x1c0 ? K_XADD : K_CMPXCHG;
		f->dst = O_E, f->src = O_G;
	} else if (op == 0x9c) {
		if (sz == 8 || (m32 && sz == 4))
			f->k = K_PUSHF;
	} else if (op == 0x1bc || op == 0x1bd || op == 0x1b8) {
		/* F3: TZCNT / LZCNT / POPCNT (POPCNT without it: #UD) */
		bool rep = i->pfx & PFX_REP;
		if (op == 0x1b8 && !rep)
			return true;
		f->k = K_BITSCAN, f->dst = O_G, f->src = O_E;
		f->shop = op == 0x1b8 ? 4 : (op & 1) + (rep ? 2 : 0);
	} else if (op == 0x8c) {
		if ((i->reg & 7) <= VMM_GS)
			f->k = K_MOVSEG, f->dst = O_E;
	} else {
		return false;
	}
	return true;
}

/* has a memory operand (form_mem) */
static bool xops_mem(const struct soft_insn *i, const struct form *f)
{
	if (f->k == K_PUSHF)
		return true;
	return !f->acc && i->mod != 3; /* (K_BITSCAN, K_MOVSEG: r/m too) */
}

/* XCHG r/m, r and XCHG eAX, r: both registers written at the size (4
 * bytes zero-extend), the r/m one first as op_xchg_rm() */
static void emit_xchg(struct tr *t, const struct soft_insn *i,
		      const struct form *f)
{
	struct jit_emit *e = &t->e;
	unsigned sz = f->size, g = f->acc ? VMM_RAX : reg_of(i, sz);

	if (f->acc || i->mod == 3) {
		unsigned r = rm_of(i, sz);

		ld_reg(t, H_RAX, g, sz);
		ld_reg(t, H_RCX, r, sz);
		st_reg(t, H_RAX, r, sz);
		st_reg(t, H_RCX, g, sz);
		return;
	}
	emit_ea(t, i);
	emit_tlb(t, sz, true);
	ld_reg(t, H_RAX, g, sz);
	/* xchg [rsi], eax at the size (the host's implied lock) */
	e_rm(e, (const uint8_t[]){ sz == 1 ? 0x86 : 0x87 }, 1, sz, H_RAX,
	     H_RSI, 0);
	st_reg(t, H_RAX, g, sz);
}

/* the lazy flags of the instruction just done: a = RAX, b = RCX, the
 * result RDX (masked here to @sz), when @live; known to the translator
 * after it, nothing pending */
static void xops_lf(struct tr *t, unsigned op, unsigned sz, bool live)
{
	if (live) {
		e_zext(&t->e, H_RDX, sz);
		emit_lf(t, op, sz);
	}
	t->pf.v = false;
	t->hf = false;
	t->lf_eager = false;
	t->lf_op = live ? op : 0;
	t->lf_size = live ? sz : 0;
}

/*
 * CMPXCHG r/m, r: the flags of CMP eAX, r/m (LF_SUB of the accumulator
 * and the old destination); equal: r/m = r, else eAX = the old value (a
 * register destination is left alone when they differ, as
 * op_cmpxchg()).  Memory: LOCK CMPXCHG on the host pointer.
 */
static void emit_cmpxchg(struct tr *t, const struct soft_insn *i,
			 const struct form *f, bool flags_live)
{
	struct jit_emit *e = &t->e;
	unsigned sz = f->size;
	size_t eq, done = 0;

	if (i->mod != 3) {
		emit_ea(t, i);
		emit_tlb(t, sz, true);
	}
	ld_reg(t, H_RCX, reg_of(i, sz), sz);          /* the source */
	ld_reg(t, H_RAX, VMM_RAX, sz);                /* the accumulator */
	e_rr(e, OPS(0x89), 8, H_RAX, H_RDX);          /* rdx = acc */
	if (i->mod != 3) {
		/* lock cmpxchg [rsi], ecx: eax = the old value (zero-
		 * extended: it held acc, zero-extended, when equal) */
		e_b(e, 0xf0);
		e_rm(e, (const uint8_t[]){ 0x0f, sz == 1 ? 0xb0 : 0xb1 }, 2,
		     sz, H_RCX, H_RSI, 0);
		eq = e_jcc32(e, CC_E);
	} else {
		ld_reg(t, H_RAX, rm_of(i, sz), sz);       /* the old value */
		e_rr(e, OPS(0x39), 8, H_RAX, H_RDX);      /* cmp rdx, rax */
		eq = e_jcc32(e, CC_NE);
		st_reg(t, H_RCX, rm_of(i, sz), sz);
		done = e_jmp32(e);
		e_patch(e, eq, e_pos(e));
	}
	st_reg(t, H_RAX, VMM_RAX, sz);
	e_patch(e, i->mod != 3 ? eq : done, e_pos(e));
	/* a = acc, b = the old value, acc - old */
	e_rr(e, OPS(0x89), 8, H_RAX, H_RCX);
	e_rr(e, OPS(0x89), 8, H_RDX, H_RAX);
	e_alu_rr(e, 0x29, H_RDX, H_RCX);
	xops_lf(t, LF_SUB, sz, flags_live);
}

/*
 * XADD r/m, r: r = the old r/m, r/m = the sum (r/m written last, as
 * op_xadd()), ADD's flags.  Memory: LOCK XADD on the host pointer.
 */
static void emit_xadd(struct tr *t, const struct soft_insn *i,
		      const struct form *f, bool flags_live)
{
	struct jit_emit *e = &t->e;
	unsigned sz = f->size;

	if (i->mod != 3) {
		emit_ea(t, i);
		emit_tlb(t, sz, true);
		ld_reg(t, H_RCX, reg_of(i, sz), sz);
		e_rr(e, OPS(0x89), 8, H_RCX, H_RDX);      /* rdx = src */
		/* lock xadd [rsi], ecx: ecx = the old value */
		e_b(e, 0xf0);
		e_rm(e, (const uint8_t[]){ 0x0f, sz == 1 ? 0xc0 : 0xc1 }, 2,
		     sz, H_RCX, H_RSI, 0);
		st_reg(t, H_RCX, reg_of(i, sz), sz);
		e_rr(e, OPS(0x89), 8, H_RCX, H_RAX);      /* a = old */
		e_rr(e, OPS(0x89), 8, H_RDX, H_RCX);      /* b = src */
		e_lea(e, H_RDX, H_RAX, H_RCX, 0, 0);
	} else {
		ld_reg(t, H_RAX, rm_of(i, sz), sz);
		ld_reg(t, H_RCX, reg_of(i, sz), sz);
		e_lea(e, H_RDX, H_RAX, H_RCX, 0, 0);
		e_zext(e, H_RDX, sz);
		st_reg(t, H_RAX, reg_of(i, sz), sz);
		st_reg(t, H_RDX, rm_of(i, sz), sz);
	}
	xops_lf(t, LF_ADD, sz, flags_live);
}

/*
 * PUSHF: RFLAGS without VM and RF (op_pushf(); 32-bit protected or long
 * mode only here: no VM86 IOPL check), the arithmetic flags from the
 * translator's knowledge (emit_old_flags), then a push as K_PUSH's.
 */
static void emit_pushf(struct tr *t, const struct form *f)
{
	struct jit_emit *e = &t->e;

	emit_old_flags(t);
	e_rr(e, OPS(0x81), 4, 4, H_RAX);
	e_d(e, FL_ARITH);
	e_rr(e, OPS(0x89), 8, H_RAX, H_R11);
	e_load(e, H_RAX, H_RBX, OFF(st.rflags), 8);
	e_alu_ri(e, 4, H_RAX, (int32_t)~(uint32_t)(FL_ARITH | FL_VM | FL_RF));
	e_alu_rr(e, 0x09, H_R11, H_RAX);              /* r11 = the value */
	t->hf = false;
	if (t->m32) {
		ld_reg(t, H_RSI, VMM_RSP, 4);
		e_alu_ri(e, 5, H_RSI, 4);
		e_zext(e, H_RSI, 4);
		e_rr(e, OPS(0x89), 8, H_RSI, H_RDX);      /* rdx = new ESP */
		stack_ea32(t, true);
		e_store(e, H_R11, H_RSI, 0, 4);
		st_reg(t, H_RDX, VMM_RSP, f->size);
		return;
	}
	ld_reg(t, H_RSI, VMM_RSP, 8);
	e_alu_ri(e, 5, H_RSI, 8);
	e_rr(e, OPS(0x89), 8, H_RSI, H_RDX);          /* rdx = new RSP */
	check_canonical(t);
	emit_tlb(t, 8, true);
	e_store(e, H_R11, H_RSI, 0, 8);
	st_reg(t, H_RDX, VMM_RSP, 8);
}

/* RDX = the r/m operand of @i (@sz bytes, zero-extended); memory: the
 * address and TLB check first (RAX, RCX, RSI, RDI clobbered) */
static void xops_ld_rm(struct tr *t, const struct soft_insn *i, unsigned sz)
{
	if (i->mod == 3) {
		ld_reg(t, H_RDX, rm_of(i, sz), sz);
		return;
	}
	emit_ea(t, i);
	emit_tlb(t, sz, false);
	e_load(&t->e, H_RDX, H_RSI, 0, sz);
}

/* R11 |= @bit when the host's ZF is set (RAX clobbered) */
static void xops_zf_bit(struct tr *t, unsigned bit)
{
	struct jit_emit *e = &t->e;

	e_rr(e, OPS(0x0f, 0x94), 1, 0, H_RAX);       /* setz al */
	e_zext(e, H_RAX, 1);
	if (bit > 1) {
		e_rr(e, OPS(0x69), 4, H_RAX, H_RAX);     /* imul eax, bit */
		e_d(e, bit);
	}
	e_alu_rr(e, 0x09, H_R11, H_RAX);
}

/*
 * BSF/BSR (ZF; a zero source leaves the destination alone), TZCNT/LZCNT
 * (CF = source 0, ZF = count 0; the count of a zero source is the
 * width), the other flags kept; POPCNT (ZF = source 0, the rest 0): as
 * op_bsf_bsr() and op_popcnt(), with the host's BSF/BSR (every x86-64
 * has them) and a bit-parallel count; the flags into RFLAGS.
 */
static void emit_bitscan(struct tr *t, const struct soft_insn *i,
			 const struct form *f)
{
	struct jit_emit *e = &t->e;
	unsigned sz = f->size, bits = sz * 8, g = reg_of(i, sz);
	size_t zero, done;

	if (f->shop == 4) {
		xops_ld_rm(t, i, sz);
		e_rr(e, OPS(0x31), 4, H_R11, H_R11);
		e_rr(e, OPS(0x85), 8, H_RDX, H_RDX);
		xops_zf_bit(t, FL_ZF);
		/* rdx -= (rdx >> 1) & 0x55..; pairs, nibbles, bytes */
		e_rr(e, OPS(0x89), 8, H_RDX, H_RAX);
		e_shift_i(e, 5, H_RAX, 1);
		e_movi(e, H_RCX, 0x5555555555555555ull);
		e_alu_rr(e, 0x21, H_RAX, H_RCX);
		e_alu_rr(e, 0x29, H_RDX, H_RAX);
		e_movi(e, H_RCX, 0x3333333333333333ull);
		e_rr(e, OPS(0x89), 8, H_RDX, H_RAX);
		e_alu_rr(e, 0x21, H_RAX, H_RCX);
		e_shift_i(e, 5, H_RDX, 2);
		e_alu_rr(e, 0x21, H_RDX, H_RCX);
		e_alu_rr(e, 0x01, H_RDX, H_RAX);
		e_rr(e, OPS(0x89), 8, H_RDX, H_RAX);
		e_shift_i(e, 5, H_RAX, 4);
		e_alu_rr(e, 0x01, H_RDX, H_RAX);
		e_movi(e, H_RCX, 0x0f0f0f0f0f0f0f0full);
		e_alu_rr(e, 0x21, H_RDX, H_RCX);
		e_movi(e, H_RCX, 0x0101010101010101ull);
		e_rr(e, OPS(0x0f, 0xaf), 8, H_RDX, H_RCX); /* imul rdx, rcx */
		e_shift_i(e, 5, H_RDX, 56);
		st_reg(t, H_RDX, g, sz);
		set_arith_r11(t);
		return;
	}
	/* R11 = the flags before it, without the ones it writes */
	emit_old_flags(t);
	e_rr(e, OPS(0x81), 4, 4, H_RAX);
	e_d(e, FL_ARITH & ~(f->shop >= 2 ? FL_CF | FL_ZF : FL_ZF));
	e_rr(e, OPS(0x89), 8, H_RAX, H_R11);
	xops_ld_rm(t, i, sz);
	if (f->shop < 2) {
		e_rr(e, OPS(0x85), 8, H_RDX, H_RDX);
		zero = e_jcc32(e, CC_E);
		/* bsf / bsr rcx, rdx (zero-extended: the index at any size) */
		e_rr(e, OPS(0x0f, (uint8_t)(0xbc + f->shop)), 8, H_RCX, H_RDX);
		st_reg(t, H_RCX, g, sz);
		done = e_jmp32(e);
		e_patch(e, zero, e_pos(e));
		e_alu_ri(e, 1, H_R11, FL_ZF);            /* or r11, ZF */
		e_patch(e, done, e_pos(e));
	} else {
		e_movi(e, H_RCX, bits);
		e_rr(e, OPS(0x85), 8, H_RDX, H_RDX);
		xops_zf_bit(t, FL_CF);                   /* CF: source 0 */
		e_rr(e, OPS(0x85), 8, H_RDX, H_RDX);
		zero = e_jcc32(e, CC_E);
		e_rr(e, OPS(0x0f, (uint8_t)(0xbc + f->shop - 2)), 8, H_RCX,
		     H_RDX);
		if (f->shop == 3) /* LZCNT = width - 1 - BSR */
			e_alu_ri(e, 6, H_RCX, (int32_t)(bits - 1));
		e_patch(e, zero, e_pos(e));
		st_reg(t, H_RCX, g, sz);
		e_rr(e, OPS(0x85), 4, H_RCX, H_RCX);
		xops_zf_bit(t, FL_ZF);                   /* ZF: count 0 */
	}
	set_arith_r11(t);
}

/* MOV r/m, Sreg: the selector, zero-extended into a register of 4 or 8
 * bytes, 2 bytes to memory (op_mov_rm_sreg()) */
static void emit_movseg(struct tr *t, const struct soft_insn *i,
			const struct form *f)
{
	struct jit_emit *e = &t->e;
	int32_t off = OFF(st.seg) +
		      (int32_t)((i->reg & 7) * sizeof(struct vmm_segment) +
				offsetof(struct vmm_segment, selector));

	if (i->mod == 3) {
		e_load(e, H_RAX, H_RBX, off, 2);
		st_reg(t, H_RAX, i->rm, f->size);
		return;
	}
	emit_ea(t, i);
	emit_tlb(t, 2, true);
	e_load(e, H_RAX, H_RBX, off, 2);
	e_store(e, H_RAX, H_RSI, 0, 2);
}

static void emit_xops(struct tr *t, const struct soft_insn *i,
		      const struct form *f, bool flags_live)
{
	switch (f->k) {
	case K_XCHG: emit_xchg(t, i, f); break;
	case K_CMPXCHG: emit_cmpxchg(t, i, f, flags_live); break;
	case K_XADD: emit_xadd(t, i, f, flags_live); break;
	case K_PUSHF: emit_pushf(t, f); break;
	case K_BITSCAN: emit_bitscan(t, i, f); break;
	case K_MOVSEG: emit_movseg(t, i, f); break;
	default: break;
	}
}

/* ---- more forms: string instructions ----
 *
 * MOVS, STOS, LODS, CMPS, SCAS of every size with 8-byte addresses (and
 * 4-byte ones: 67 in 64-bit code, except a source through FS/GS, and
 * 32-bit code), the direction flag read at run time.  One element (no
 * REP): the addresses and TLB checks first (a miss: the slow path,
 * nothing changed), then the access and rSI/rDI += +-size.  REP MOVS/
 * STOS and REPE/REPNE CMPS/SCAS: RCX = 0 does nothing; else one chunk,
 * the elements that lie in the page of the first one (of both operands
 * for MOVS/CMPS: forward, up to the page's end; backward, down to its
 * start), at most RCX, through the host's own REP MOVS/STOS/CMPS/SCAS
 * on the TLB's host pointers (DF as the guest's: STD, CLD after), then
 * RCX/RSI/RDI and the last comparison's lazy flags written as the
 * interpreter leaves them after that many elements; what is left (a
 * page crossing, more than a page, a miss, an element across a page
 * end) is the slow path: the interpreter's handler goes on from that
 * exact state, element by element or in its page runs, pausing every
 * SOFT_REP_CHUNK elements for events.  A chunk is at most 4096
 * elements, so a pending interrupt waits no longer than in the
 * interpreter's own runs; a page holding translated code has no
 * writable TLB entry (SMC: the slow path), nor has a watched or MMIO
 * page.  REP LODS is the interpreter's.  CLD/STD, CLI and SWAPGS are
 * classified here too (str_classify()).
 */

/* the string op of @i: 0 MOVS, 1 CMPS, 2 STOS, 3 LODS, 4 SCAS */
static unsigned str_op(const struct soft_insn *i)
{
	unsigned x = (i->op - 0xa4u) >> 1; /* (A8/A9 are TEST) */

	return x < 2 ? x : x - 1;
}

/* reads [seg:rSI] */
static bool str_src(unsigned op)
{
	return op == 0 || op == 1 || op == 3;
}

static bool str_classify(const struct soft_insn *i, struct form *f,
			 bool m32)
{
	unsigned op = i->op, s;

	if (op == 0xfc || op == 0xfd) {
		f->k = K_DF;
		return true;
	}
	if (op == 0xfa) {
		f->k = K_CLI;
		return true;
	}
	if (op == 0x101 && i->mod == 3 && (i->reg & 7) == 7 &&
	    (i->rm & 7) == 0) {
		if (!m32)
			f->k = K_SWAPGS; /* (32-bit code: #UD) */
		return true;
	}
	if (op < 0xa4 || op > 0xaf || op == 0xa8 || op == 0xa9)
		return false;
	s = str_op(i);
	f->k = K_STR;
	f->shop = s;
	f->rep = (i->pfx & PFX_REP) ? 1 : (i->pfx & PFX_REPNE) ? 2 : 0;
	if ((s == 0 || s == 2) && f->rep)
		f->rep = 1; /* F2 MOVS/STOS: a REP as well */
	if ((f->rep && s == 3) || (i->asz != 8 && i->asz != 4) ||
	    (!m32 && i->asz == 4 && str_src(s) &&
	     (i->seg == VMM_FS || i->seg == VMM_GS)))
		f->k = K_NONE; /* the interpreter's */
	return true;
}

/* RSI = the linear address of string operand @r (VMM_RSI, VMM_RDI) in
 * segment @seg: the offset at the address size, 32-bit code's segment
 * checked (segwchk: else the slow path) and its base added */
static void str_ea(struct tr *t, const struct soft_insn *i, unsigned r,
		   unsigned seg)
{
	struct jit_emit *e = &t->e;

	ld_reg(t, H_RSI, r, i->asz);
	if (t->m32) {
		e_rm(e, OPS(0xf7), 4, 0, H_RBX, OFF(segwchk));
		e_d(e, 1u << seg);
		to_slow(t, CC_NE);
		e_rm(e, OPS(0x03), 4, H_RSI, H_RBX, OFF(segbase[seg]));
	} else if (seg == VMM_FS || seg == VMM_GS) {
		e_rm(e, OPS(0x03), 8, H_RSI, H_RBX, OFF(segbase[seg]));
	}
}

static unsigned str_lg(unsigned sz)
{
	return sz == 1 ? 0 : sz == 2 ? 1 : sz == 4 ? 2 : 3;
}

/* guest register @r at the address size += RAX (-= with @sub) */
static void str_adv(struct tr *t, const struct soft_insn *i, unsigned r,
		    bool sub)
{
	ld_reg(t, H_RCX, r, i->asz);
	e_alu_rr(&t->e, sub ? 0x29 : 0x01, H_RCX, H_RAX);
	st_reg(t, H_RCX, r, i->asz);
}

/* the host's string instruction (@rep: F3 REP/REPE, F2 REPNE, 0 none) of
 * @sz bytes: op 0 MOVS, 1 CMPS, 2 STOS, 4 SCAS */
static void str_host(struct tr *t, unsigned op, unsigned sz, unsigned rep)
{
	static const uint8_t hop[5] = { 0xa4, 0xa6, 0xaa, 0xac, 0xae };
	struct jit_emit *e = &t->e;

	if (rep)
		e_b(e, rep == 2 ? 0xf2 : 0xf3);
	if (sz == 2)
		e_b(e, 0x66);
	if (sz == 8)
		e_b(e, 0x48);
	e_b(e, (uint8_t)(hop[op] + (sz != 1)));
}

/*
 * The lazy flags of a comparison of the elements a = RAX, b = RCX
 * (@live), else none; either way nothing pending and what the state
 * holds known (xops_lf).  RDX clobbered.
 */
static void str_cmp_lf(struct tr *t, unsigned sz, bool live)
{
	e_rr(&t->e, OPS(0x89), 8, H_RAX, H_RDX);
	e_alu_rr(&t->e, 0x29, H_RDX, H_RCX);
	xops_lf(t, LF_SUB, sz, live);
}

/* one element (no REP) */
static void emit_str1(struct tr *t, const struct soft_insn *i,
		      const struct form *f, bool live)
{
	struct jit_emit *e = &t->e;
	unsigned op = f->shop, sz = f->size;

	/* R11 = the element read (MOVS, CMPS, LODS: [seg:rSI]) */
	if (str_src(op)) {
		str_ea(t, i, VMM_RSI, i->seg);
		emit_tlb(t, sz, false);
		e_load(e, H_R11, H_RSI, 0, sz);
	}
	if (op != 3) {
		str_ea(t, i, VMM_RDI, VMM_ES);
		emit_tlb(t, sz, op == 0 || op == 2);
	}
	switch (op) {
	case 0: /* MOVS */
		e_store(e, H_R11, H_RSI, 0, sz);
		break;
	case 2: /* STOS */
		ld_reg(t, H_RAX, VMM_RAX, sz);
		e_store(e, H_RAX, H_RSI, 0, sz);
		break;
	case 3: /* LODS */
		st_reg(t, H_R11, VMM_RAX, sz);
		break;
	default: /* CMPS: a = [rSI], b = [rDI]; SCAS: a = rAX */
		e_load(e, H_RCX, H_RSI, 0, sz);
		if (op == 1)
			e_rr(e, OPS(0x89), 8, H_R11, H_RAX);
		else
			ld_reg(t, H_RAX, VMM_RAX, sz);
		str_cmp_lf(t, sz, live);
		break;
	}
	/* RAX = +-size (DF) */
	e_load(e, H_RAX, H_RBX, OFF(st.rflags), 4);
	e_shift_i(e, 5, H_RAX, 10);
	e_rr(e, OPS(0x83), 4, 4, H_RAX); e_b(e, 1);     /* and eax, 1 */
	e_rr(e, OPS(0xf7), 8, 3, H_RAX);                /* neg rax */
	e_lea(e, H_RAX, -1, H_RAX, 1, 1);               /* rax*2 + 1 */
	if (sz > 1)
		e_shift_i(e, 4, H_RAX, (uint8_t)str_lg(sz));
	if (str_src(op))
		str_adv(t, i, VMM_RSI, false);
	if (op != 3)
		str_adv(t, i, VMM_RDI, false);
}

/*
 * One chunk of a REP string instruction in one direction (@back: DF
 * set), R11 = the count (not 0).  The elements in the page of the first
 * of each operand, at most R11 (none: the slow path); the host's REP
 * instruction on them; RCX/RSI/RDI and the flags updated; more left
 * (and REPE/REPNE not stopped): the slow path, from that state.
 */
static void emit_str_chunk(struct tr *t, const struct soft_insn *i,
			   const struct form *f, bool back, bool live)
{
	struct jit_emit *e = &t->e;
	unsigned op = f->shop, sz = f->size, lg = str_lg(sz);
	bool two = op == 0 || op == 1;
	/* RDX (then RCX) = the elements of the page of RSI's address that
	 * the direction reaches, the first one whole; 0 for none */
	int regs[2] = { H_RDX, H_RCX };

	for (unsigned k = 0; k < (two ? 2u : 1u); k++) {
		unsigned h = (unsigned)regs[k];
		if (two && k == 0)
			str_ea(t, i, VMM_RSI, i->seg);
		else
			str_ea(t, i, VMM_RDI, VMM_ES);
		e_rr(e, OPS(0x89), 4, H_RSI, h);
		e_rr(e, OPS(0x81), 4, 4, h); e_d(e, 0xfff);     /* and h, 0xfff */
		if (!back) {
			e_rr(e, OPS(0xf7), 4, 3, h);             /* neg */
			e_rr(e, OPS(0x81), 4, 0, h); e_d(e, 4096);
			if (lg)
				e_rr(e, OPS(0xc1), 4, 5, h), e_b(e, (uint8_t)lg);
		} else {
			e_rr(e, OPS(0x81), 4, 7, h); e_d(e, 4096 - sz);
			to_slow(t, CC_A);                        /* across */
			if (lg)
				e_rr(e, OPS(0xc1), 4, 5, h), e_b(e, (uint8_t)lg);
			e_rr(e, OPS(0xff), 4, 0, h);             /* inc */
		}
		if (k == 1) {
			/* rdx = min(rdx, rcx) */
			e_rr(e, OPS(0x39), 8, H_RCX, H_RDX);
			e_rr(e, OPS(0x0f, 0x47), 8, H_RDX, H_RCX); /* cmova */
		}
		if (two && k == 0) {
			emit_tlb(t, 1, false);
			e_store(e, H_RSI, H_RBX, OFF(jit_ptr), 8);
		}
	}
	/* rdx = k = min(rdx, count); none: the slow path */
	e_rr(e, OPS(0x39), 8, H_R11, H_RDX);
	e_rr(e, OPS(0x0f, 0x47), 8, H_RDX, H_R11);          /* cmova */
	e_rr(e, OPS(0x85), 4, H_RDX, H_RDX);
	to_slow(t, CC_E);
	emit_tlb(t, 1, op == 0 || op == 2);
	e_rr(e, OPS(0x89), 8, H_RSI, H_RDI);                  /* rdi = dst */
	if (two)
		e_load(e, H_RSI, H_RBX, OFF(jit_ptr), 8);
	if (op == 2 || op == 4)
		ld_reg(t, H_RAX, VMM_RAX, sz);
	e_rr(e, OPS(0x89), 8, H_RDX, H_RCX);
	if (back)
		e_b(e, 0xfd);                                  /* std */
	str_host(t, op, sz, f->rep == 2 ? 2 : 1);
	if (back)
		e_b(e, 0xfc);                                  /* cld */
	if (op == 1 || op == 4) {
		/* [jit_tmp] = 1: go on (REPE: equal; REPNE: not equal) */
		int32_t d = back ? (int32_t)sz : -(int32_t)sz;
		e_rr(e, OPS(0x0f, f->rep == 2 ? 0x95 : 0x94), 1, 0, H_RAX);
		e_zext(e, H_RAX, 1);
		e_store(e, H_RAX, H_RBX, OFF(jit_tmp), 8);
		e_alu_rr(e, 0x29, H_RDX, H_RCX);   /* rdx = elements done */
		/* the last pair: a = [rsi - d] (CMPS) or rAX, b = [rdi - d] */
		e_load(e, H_RCX, H_RDI, d, sz);
		if (op == 1)
			e_load(e, H_RAX, H_RSI, d, sz);
		else
			ld_reg(t, H_RAX, VMM_RAX, sz);
		if (live) {
			e_rr(e, OPS(0x89), 8, H_RAX, H_RSI);
			e_alu_rr(e, 0x29, H_RSI, H_RCX);
			e_zext(e, H_RSI, sz);
			emit_lf_r(t, LF_SUB, sz, H_RSI);
		}
	}
	/* RCX -= done; RSI, RDI += -+ done * size */
	e_alu_rr(e, 0x29, H_R11, H_RDX);
	st_reg(t, H_R11, VMM_RCX, i->asz);
	e_rr(e, OPS(0x89), 8, H_RDX, H_RAX);
	if (lg)
		e_shift_i(e, 4, H_RAX, (uint8_t)lg);
	if (two)
		str_adv(t, i, VMM_RSI, back);
	str_adv(t, i, VMM_RDI, back);
	/* the rest: the interpreter (CMPS/SCAS: unless the last element
	 * stopped it) */
	e_rr(e, OPS(0x85), 8, H_R11, H_R11);
	if (op == 1 || op == 4) {
		size_t fin = e_jcc32(e, CC_E);
		e_rm(e, OPS(0x83), 4, 7, H_RBX, OFF(jit_tmp)); e_b(e, 0);
		to_slow(t, CC_NE);
		e_patch(e, fin, e_pos(e));
	} else {
		to_slow(t, CC_NE);
	}
}

static void emit_str(struct tr *t, const struct soft_insn *i,
		     const struct form *f, bool live)
{
	struct jit_emit *e = &t->e;
	unsigned hits, cmp = f->shop == 1 || f->shop == 4;
	size_t zero, bwd, done;

	if (!f->rep) {
		if (cmp)
			t->pf.v = false; /* all written (the slow path: before) */
		emit_str1(t, i, f, live);
		return;
	}
	if (cmp) {
		/* RCX = 0 leaves the flags: in the state first, for the
		 * slow path too (a partial run's flags are the handler's
		 * to go on from) */
		pf_flush(t);
		if (t->cur)
			t->cur->pf.v = false;
	}
	/* the slow path may come after a chunk: the state gets RCX, RSI,
	 * RDI from their host registers */
	if (t->cur)
		t->cur->dirty |= (uint16_t)(t->cached & ((1u << VMM_RCX) |
				(1u << VMM_RSI) | (1u << VMM_RDI)));
	ld_reg(t, H_R11, VMM_RCX, i->asz);
	e_rr(e, OPS(0x85), 8, H_R11, H_R11);
	zero = e_jcc32(e, CC_E);
	e_rm(e, OPS(0xf7), 4, 0, H_RBX, OFF(st.rflags)); e_d(e, FL_DF);
	bwd = e_jcc32(e, CC_NE);
	hits = t->pend_hits;
	emit_str_chunk(t, i, f, false, live);
	done = e_jmp32(e);
	e_patch(e, bwd, e_pos(e));
	t->pend_hits = hits; /* (one of the two runs) */
	emit_str_chunk(t, i, f, true, live);
	e_patch(e, done, e_pos(e));
	e_patch(e, zero, e_pos(e));
	t->hf = false;
	if (cmp) {
		/* the old flags (RCX = 0) or the last comparison's */
		t->pf.v = false;
		t->lf_eager = false;
		t->lf_op = t->lf_size = 0;
	}
}

/* ---- more forms: LOCK read-modify-writes, CMPXCHG8B/16B ----
 *
 * LOCK ADD/OR/AND/SUB/XOR (00-31, 80/81/83), INC/DEC (FE/FF), NOT/NEG
 * (F6/F7) of memory: the address and the TLB write check first (a miss:
 * the slow path, whose handler does it atomically), then a compare-and-
 * swap loop on the host pointer (load; the operation on a copy; LOCK
 * CMPXCHG; again while another thread changed it), atomic against other
 * vCPUs' threads as the interpreter's soft_cas(); then the operation
 * once more on the old value for the host flags, which become the
 * pending or stored lazy flags as the forms without LOCK leave them.
 * ADC/SBB with LOCK are the interpreter's.  LOCK BTS/BTR/BTC are the
 * host's LOCK BTS/BTR/BTC on the operand (emit_bt).  CMPXCHG8B/16B
 * (LOCK or not) are the host's LOCK CMPXCHG8B/16B (16B only where the
 * host has it).
 */

/* LOCK allowed on @i here (the others stay the interpreter's) */
static bool lock_ok(const struct soft_insn *i)
{
	unsigned op = i->op, r = i->reg & 7;

	if (i->mod == 3)
		return false;
	if (op < 0x40)
		return (op & 7) < 2 && (op >> 3) != 2 && (op >> 3) != 3;
	switch (op) {
	case 0x80: case 0x81: case 0x83: return r != 2 && r != 3 && r != 7;
	case 0xfe: case 0xff: return r < 2;
	case 0xf6: case 0xf7: return r == 2 || r == 3;
	case 0x1ab: case 0x1b3: case 0x1bb: return true;
	case 0x1ba: return r >= 5;
	case 0x1c7: return r == 1;
	}
	return false;
}

/* the host has CMPXCHG16B (CPUID.1:ECX.CX16) */
static bool host_cx16(void)
{
	unsigned a, b, c, d;

	return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 13));
}

/* CMPXCHG8B/16B m64/m128 (0F C7 /1): the kind, or false */
static bool cx8_classify(const struct soft_insn *i, struct form *f)
{
	bool wide = i->pfx & PFX_REXW;

	if (i->op != 0x1c7)
		return false;
	if ((i->reg & 7) == 1 && i->mod != 3 && (!wide || host_cx16()))
		f->k = K_CX8;
	return true;
}

/* RDX = the operation of @f (K_ALU's f->alu, INC/DEC, NOT, NEG) on RDX
 * at @sz, RCX the other operand: the host flags are the guest's (but
 * CF for INC/DEC) */
static void lock_op(struct tr *t, const struct form *f, unsigned sz)
{
	struct jit_emit *e = &t->e;
	uint8_t g = sz == 1 ? 0xfe : 0xff, u = sz == 1 ? 0xf6 : 0xf7;

	switch (f->k) {
	case K_ALU:
		e_rr(e, (const uint8_t[]){ (uint8_t)(alu_host[f->alu] -
						     (sz == 1)) },
		     1, sz, H_RCX, H_RDX);
		break;
	case K_INCDEC:
		e_rr(e, &g, 1, sz, f->dec ? 1 : 0, H_RDX);
		break;
	case K_NOT:
		e_rr(e, &u, 1, sz, 2, H_RDX);
		break;
	default:
		e_rr(e, &u, 1, sz, 3, H_RDX);
		break;
	}
}

/*
 * LOCK ALU/INC/DEC/NOT/NEG of memory (lock_ok()): the loop, then RAX =
 * a, RCX = b, RDX = the result with the host flags of it, the lazy flags
 * as the unlocked memory forms of emit_form() leave them.  False for the
 * other kinds (atomic in their own emitters).
 */
static bool emit_lock(struct tr *t, const struct soft_insn *i,
		      const struct form *f, bool live)
{
	struct jit_emit *e = &t->e;
	unsigned sz = f->size;
	size_t top;

	if (f->k != K_ALU && f->k != K_INCDEC && f->k != K_NOT &&
	    f->k != K_NEG)
		return false;
	emit_ea(t, i);
	emit_tlb(t, sz, true);
	if (f->k == K_ALU)
		ld_opnd(t, i, H_RCX, f->src, sz);
	e_load(e, H_RAX, H_RSI, 0, sz);
	top = e_pos(e);
	e_rr(e, OPS(0x89), 8, H_RAX, H_RDX);
	lock_op(t, f, sz);
	/* lock cmpxchg [rsi], edx (dl, dx, rdx): RAX = what it found */
	e_b(e, 0xf0);
	e_rm(e, (const uint8_t[]){ 0x0f, sz == 1 ? 0xb0 : 0xb1 }, 2, sz,
	     H_RDX, H_RSI, 0);
	e_patch(e, e_jcc32(e, CC_NE), top);
	if (f->k == K_NEG) {
		/* 0 - old: NEG's flags, a = 0, b = the operand */
		e_rr(e, OPS(0x89), 8, H_RAX, H_RCX);
		e_rr(e, OPS(0x31), 4, H_RAX, H_RAX);
		e_rr(e, OPS(0x89), 8, H_RAX, H_RDX);
		e_rr(e, (const uint8_t[]){ sz == 1 ? 0x28 : 0x29 }, 1, sz,
		     H_RCX, H_RDX);
		e_zext(e, H_RDX, sz);
	} else {
		e_rr(e, OPS(0x89), 8, H_RAX, H_RDX);
		lock_op(t, f, sz);
	}
	switch (f->k) {
	case K_ALU:
		t->hf = live, t->hf_nocf = false;
		if (live)
			emit_alu_mem_defer(t, f);
		break;
	case K_INCDEC:
		t->hf = live, t->hf_nocf = true;
		if (live) {
			/* as emit_form's: the CF before it from jit_cf */
			e_load(e, H_RCX, H_RBX, OFF(jit_cf), 4);
			e_store(e, H_RCX, H_RBX, OFF(lf_cin), 4);
			e_movi(e, H_RCX, 1);
			emit_lf(t, f->dec ? LF_DEC : LF_INC, sz);
		}
		break;
	case K_NEG:
		t->hf = live, t->hf_nocf = false;
		if (live)
			emit_lf(t, LF_SUB, sz);
		break;
	default:
		break;
	}
	return true;
}

/*
 * CMPXCHG8B/16B (LOCK or not): ZF = EDX:EAX (RDX:RAX) equal to the
 * operand, which then gets ECX:EBX (RCX:RBX), else EDX:EAX get the
 * operand (4-byte halves zero-extend; equal: left alone), the other flags
 * kept, all into RFLAGS (op_grp9()); the host's LOCK CMPXCHG8B/16B on
 * the host pointer (RBX, the CPU, saved around it).  16B: an offset not
 * 16-byte aligned (or an FS/GS base that is not) is the slow path
 * (#GP(0) by the handler).
 */
static void emit_cx8(struct tr *t, const struct soft_insn *i,
		     const struct form *f)
{
	struct jit_emit *e = &t->e;
	bool wide = i->pfx & PFX_REXW;
	unsigned h = wide ? 8 : 4;
	size_t ne;

	(void)f;
	emit_old_flags(t);
	e_rr(e, OPS(0x81), 4, 4, H_RAX);
	e_d(e, FL_ARITH & ~FL_ZF);
	e_rr(e, OPS(0x89), 8, H_RAX, H_R11);
	emit_ea(t, i);
	if (wide) {
		/* the offset's alignment (op_grp9()): the linear address's
		 * when FS/GS's base is aligned too (Linux's per-CPU
		 * cmpxchg16b %gs:), else the slow path */
		e_rr(e, OPS(0x89), 4, H_RSI, H_RAX);
		if (i->seg == VMM_FS || i->seg == VMM_GS)
			e_rm(e, OPS(0x0b), 4, H_RAX, H_RBX,
			     OFF(segbase[i->seg]));         /* or eax, base */
		e_rr(e, OPS(0xf7), 4, 0, H_RAX); e_d(e, 15); /* test eax, 15 */
		to_slow(t, CC_NE);
	}
	emit_tlb(t, 2 * h, true);
	ld_reg(t, H_RAX, VMM_RAX, h);
	ld_reg(t, H_RDX, VMM_RDX, h);
	ld_reg(t, H_RCX, VMM_RCX, h);
	ld_reg(t, H_RDI, VMM_RBX, h);
	e_push(e, H_RBX);
	e_rr(e, OPS(0x89), 8, H_RDI, H_RBX);
	/* lock cmpxchg8b/16b [rsi] */
	e_b(e, 0xf0);
	if (wide)
		e_b(e, 0x48);
	e_b(e, 0x0f); e_b(e, 0xc7); e_b(e, 0x0e);
	e_pop(e, H_RBX);
	/* r11 |= ZF (through ECX: EAX, EDX hold the operand) */
	e_rr(e, OPS(0x0f, 0x94), 1, 0, H_RCX);       /* setz cl */
	e_zext(e, H_RCX, 1);
	e_rr(e, OPS(0x69), 4, H_RCX, H_RCX);         /* imul ecx, ecx, ZF */
	e_d(e, FL_ZF);
	e_alu_rr(e, 0x09, H_R11, H_RCX);
	/* not equal: EDX:EAX = the operand */
	e_rr(e, OPS(0x85), 4, H_RCX, H_RCX);
	ne = e_jcc32(e, CC_NE);
	st_reg(t, H_RAX, VMM_RAX, h);
	st_reg(t, H_RDX, VMM_RDX, h);
	e_patch(e, ne, e_pos(e));
	set_arith_r11(t);
}

/* ---- more forms: SHLD/SHRD ----
 *
 * SHLD/SHRD (0F A4/A5, AC/AD) of 4 or 8 bytes, register or memory, by
 * an immediate or CL: the host's instruction at the size (the count is
 * masked to 5 or 6 bits, so always below the width: no 16-bit oddity),
 * the flags as op_shxd() computes them (SF ZF PF CF of the host, OF =
 * MSB(result) ^ MSB(destination) for every count, AF 0) into RFLAGS; a
 * masked count of 0 leaves the flags and memory alone (a 4-byte
 * register is still written, zero-extended).  Memory goes through the
 * register emitters on JIT_TMP_REG (xops_rmw_pre()).  16-bit operands
 * are the interpreter's.
 */

static bool shxd_classify(const struct soft_insn *i, struct form *f)
{
	unsigned op = i->op;

	if (op != 0x1a4 && op != 0x1a5 && op != 0x1ac && op != 0x1ad)
		return false;
	/* an immediate count of 0: nothing changes (the interpreter's) */
	if ((i->osz == 4 || i->osz == 8) &&
	    ((op & 1) || (i->imm & (i->osz == 8 ? 63 : 31))))
		f->k = K_SHXD;
	return true;
}

static void emit_shxd(struct tr *t, const struct soft_insn *i,
		      const struct form *f, bool live)
{
	struct jit_emit *e = &t->e;
	struct soft_insn tmp;
	unsigned sz = f->size, msb = sz * 8 - 1;
	bool cl = i->op & 1, mem = i->mod != 3;
	uint8_t hop = (uint8_t)(i->op & 0xff);
	size_t skip = 0;

	if (live)
		pf_flush(t); /* (CL: a count of 0 keeps them) */
	if (mem)
		i = xops_rmw_pre(t, i, &tmp, sz);
	ld_reg(t, H_RDX, i->rm, sz);                 /* a */
	ld_reg(t, H_RAX, i->reg, sz);                /* b */
	if (cl) {
		ld_reg(t, H_RCX, VMM_RCX, 1);
		e_rr(e, OPS(0x83), 4, 4, H_RCX); e_b(e, (uint8_t)msb);
		skip = e_jcc32(e, CC_E);
	}
	e_rr(e, OPS(0x89), 8, H_RDX, H_RDI);
	/* shld/shrd edx, eax, imm8 / cl */
	e_rr(e, OPS(0x0f, hop), sz, H_RAX, H_RDX);
	if (!cl)
		e_b(e, (uint8_t)(i->imm & msb));
	if (live) {
		e_b(e, 0x9f);                            /* lahf */
		e_rr(e, OPS(0x0f, 0xb6), 4, H_RAX, 4);   /* movzx eax, ah */
		e_rr(e, OPS(0x81), 4, 4, H_RAX);
		e_d(e, FL_SF | FL_ZF | FL_PF | FL_CF);
		/* OF = MSB(r ^ a) */
		e_rr(e, OPS(0x89), 8, H_RDX, H_RSI);
		e_alu_rr(e, 0x31, H_RSI, H_RDI);
		e_shift_i(e, 5, H_RSI, (uint8_t)msb);
		e_rr(e, OPS(0x83), 4, 4, H_RSI); e_b(e, 1);
		e_shift_i(e, 4, H_RSI, 11);
		e_alu_rr(e, 0x09, H_RAX, H_RSI);
		emit_set_arith(t);
	}
	if (cl)
		e_patch(e, skip, e_pos(e));
	st_reg(t, H_RDX, i->rm, sz);
	if (mem)
		xops_rmw_post(t, sz);
	t->hf = false;
	if (live || !cl) {
		/* written (RFLAGS: eager when always), or dead */
		t->pf.v = false;
		t->lf_op = t->lf_size = 0;
		if (cl || !live)
			t->lf_eager = false;
	}
}

/* ---- more forms: MOVBE ----
 *
 * MOVBE r, m and MOVBE m, r (0F 38 F0/F1) of 2, 4 or 8 bytes: the access
 * through the TLB as MOV's, the bytes swapped by the host's BSWAP (ROL by
 * 8 for 2 bytes; a 2-byte register keeps its upper bytes).  With F2/F3
 * (CRC32, #UD) the interpreter's.
 */

static bool movbe_classify(const struct soft_insn *i, struct form *f)
{
	if (i->op != 0x2f0 && i->op != 0x2f1)
		return false;
	if (i->mod != 3 && !(i->pfx & (PFX_REP | PFX_REPNE)) && i->osz != 1)
		f->k = K_MOVBE;
	return true;
}

/* RAX's low @sz bytes in the other order */
static void e_bswap_rax(struct jit_emit *e, unsigned sz)
{
	if (sz == 2) {
		e_rr(e, OPS(0xc1), 2, 0, H_RAX);         /* rol ax, 8 */
		e_b(e, 8);
		return;
	}
	if (sz == 8)
		e_b(e, 0x48);
	e_b(e, 0x0f); e_b(e, 0xc8);                  /* bswap (r)eax */
}

static void emit_movbe(struct tr *t, const struct soft_insn *i,
		       const struct form *f)
{
	struct jit_emit *e = &t->e;
	unsigned sz = f->size;
	bool load = i->op == 0x2f0;

	emit_ea(t, i);
	emit_tlb(t, sz, !load);
	if (load) {
		e_load(e, H_RAX, H_RSI, 0, sz);
		e_bswap_rax(e, sz);
		st_reg(t, H_RAX, i->reg, sz);
	} else {
		ld_reg(t, H_RAX, i->reg, sz);
		e_bswap_rax(e, sz);
		e_store(e, H_RAX, H_RSI, 0, sz);
	}
}

/* ---- more forms: RCL/RCR ----
 *
 * RCL/RCR (group 2 /2, /3) of a register or memory by 1 or a constant
 * (every size: the count masked to 5 or 6 bits, then modulo 9 or 17 for
 * 1 and 2 bytes, as the host does it; a count that comes to 0 leaves
 * everything: the interpreter's) or by CL (4 and 8 bytes; a masked count
 * of 0 leaves the flags): the host's RCL/RCR with its CF set from the
 * guest's (the flags before it from wherever they are, emit_old_flags),
 * CF from it, OF = MSB(r) ^ CF (RCL) or MSB(r) ^ the bit below (RCR) for
 * every count as exec_shift.c's shift(), the other flags kept, into
 * RFLAGS.  A reader of CF (translate_block's liveness).  Memory through
 * the register emitters on JIT_TMP_REG (xops_rmw_pre()).
 */

static bool rcx_classify(const struct soft_insn *i, struct form *f)
{
	unsigned op = i->op, sz = i->osz, n;

	if ((op < 0xc0 || op > 0xc1) && (op < 0xd0 || op > 0xd3))
		return false;
	if ((i->reg & 7) != 2 && (i->reg & 7) != 3)
		return false; /* the other rotates and shifts: classify() */
	if (op == 0xd2 || op == 0xd3) {
		if (sz >= 4)
			f->k = K_RCX;
		return true;
	}
	n = (op == 0xd0 || op == 0xd1) ? 1 : (unsigned)i->imm;
	n &= sz == 8 ? 63 : 31;
	if (sz < 4)
		n %= sz * 8 + 1;
	if (n) {
		f->k = K_RCX;
		f->count = n;
	}
	return true;
}

static void emit_rcx(struct tr *t, const struct soft_insn *i,
		     const struct form *f)
{
	struct jit_emit *e = &t->e;
	struct soft_insn tmp;
	unsigned sz = f->size, msb = sz * 8 - 1, ext = i->reg & 7;
	bool cl = i->op == 0xd2 || i->op == 0xd3;
	size_t skip = 0;

	emit_old_flags(t);
	e_rr(e, OPS(0x89), 8, H_RAX, H_R11);         /* r11 = the flags */
	if (i->mod != 3)
		i = xops_rmw_pre(t, i, &tmp, sz);
	ld_reg(t, H_RDX, rm_of(i, sz), sz);
	if (cl) {
		ld_reg(t, H_RCX, VMM_RCX, 1);
		e_rr(e, OPS(0x83), 4, 4, H_RCX); e_b(e, (uint8_t)msb);
		skip = e_jcc32(e, CC_E);
	}
	e_rr(e, OPS(0x0f, 0xba), 8, 4, H_R11); e_b(e, 0); /* bt r11, 0 */
	if (cl) {
		e_rr(e, OPS(0xd3), sz, ext, H_RDX);
	} else {
		e_rr(e, (const uint8_t[]){ sz == 1 ? 0xc0 : 0xc1 }, 1, sz, ext,
		     H_RDX);
		e_b(e, (uint8_t)f->count);
	}
	e_rr(e, OPS(0x0f, 0x92), 1, 0, H_RAX);       /* setc al */
	e_zext(e, H_RAX, 1);
	e_alu_ri(e, 4, H_R11, (int32_t)~(uint32_t)(FL_CF | FL_OF));
	e_alu_rr(e, 0x09, H_R11, H_RAX);
	/* ecx = OF: MSB(r) ^ CF (RCL), MSB(r) ^ the bit below it (RCR) */
	e_rr(e, OPS(0x89), 8, H_RDX, H_RCX);
	if (ext == 2) {
		e_shift_i(e, 5, H_RCX, (uint8_t)msb);
		e_rr(e, OPS(0x83), 4, 4, H_RCX); e_b(e, 1);
		e_rr(e, OPS(0x31), 4, H_RAX, H_RCX);
	} else {
		e_shift_i(e, 5, H_RCX, (uint8_t)(msb - 1));
		e_rr(e, OPS(0x89), 4, H_RCX, H_RSI);
		e_shift_i(e, 5, H_RSI, 1);
		e_rr(e, OPS(0x31), 4, H_RSI, H_RCX);
		e_rr(e, OPS(0x83), 4, 4, H_RCX); e_b(e, 1);
	}
	e_shift_i(e, 4, H_RCX, 11);
	e_alu_rr(e, 0x09, H_R11, H_RCX);
	set_arith_r11(t);
	if (cl)
		e_patch(e, skip, e_pos(e));
	st_reg(t, H_RDX, rm_of(i, sz), sz);
	if (i == &tmp)
		xops_rmw_post(t, sz);
	t->hf = false;
	if (cl)
		t->lf_eager = false; /* (a count of 0: the state's, lazy) */
}

/* ---- more forms: 16-bit PUSH/POP of a register ----
 *
 * 66 50+r / 66 58+r: 2 bytes at rSP - 2 / rSP, rSP -= / += 2 (64-bit
 * code: RSP, canonical checked for the #SS; 32-bit code: ESP when SS.B
 * is set and SS flat and writable, else the slow path), the register's
 * low 16 bits stored or merged (POP SP: the value after the increment,
 * as op_pop_r()).
 */

static bool pp16_classify(const struct soft_insn *i, struct form *f)
{
	if (i->op < 0x50 || i->op > 0x5f)
		return false;
	if (i->osz == 2)
		f->k = K_PP16;
	return true;
}

static void emit_pp16(struct tr *t, const struct soft_insn *i)
{
	struct jit_emit *e = &t->e;
	bool push = i->op < 0x58;
	unsigned ss = t->m32 ? 4 : 8;

	ld_reg(t, H_RSI, VMM_RSP, ss);
	if (push)
		e_rr(e, OPS(0x83), ss, 5, H_RSI), e_b(e, 2); /* sub rsi, 2 */
	e_rr(e, OPS(0x89), 8, H_RSI, H_RDX);          /* rdx = the offset */
	if (t->m32) {
		e_rm(e, OPS(0x83), 4, 7, H_RBX, OFF(ssz)); e_b(e, 4);
		to_slow(t, CC_NE);
		e_rm(e, OPS(0xf7), 4, 0, H_RBX, OFF(segwchk));
		e_d(e, 1u << VMM_SS);
		to_slow(t, CC_NE);
		e_rm(e, OPS(0x03), 4, H_RSI, H_RBX, OFF(segbase[VMM_SS]));
	} else {
		check_canonical(t);
	}
	emit_tlb(t, 2, push);
	if (push) {
		ld_reg(t, H_RAX, i->rm, 2);
		e_store(e, H_RAX, H_RSI, 0, 2);
		st_reg(t, H_RDX, VMM_RSP, ss);
		return;
	}
	e_load(e, H_RAX, H_RSI, 0, 2);
	e_rr(e, OPS(0x83), ss, 0, H_RDX); e_b(e, 2);  /* add rdx, 2 */
	st_reg(t, H_RDX, VMM_RSP, ss);
	st_reg(t, H_RAX, i->rm, 2);
}

/* ---- more forms: ENTER ----
 *
 * ENTER imm16, 0 in 64-bit code with an 8-byte operand: both stack
 * checks first (RSP - 8 for RBP's push, canonical; RSP - 8 - imm16, the
 * new top, writable as op_enter() probes it), then the push, RBP = RSP -
 * 8, RSP = RBP - imm16.  Nesting levels and other sizes are the
 * interpreter's.
 */

static bool enter_classify(const struct soft_insn *i, struct form *f,
			   bool m32)
{
	if (i->op != 0xc8)
		return false;
	if (!m32 && i->osz == 8 && !(i->imm2 & 31))
		f->k = K_ENTER;
	return true;
}

static void emit_enter(struct tr *t, const struct soft_insn *i)
{
	struct jit_emit *e = &t->e;
	int32_t n = (int32_t)(i->imm & 0xffff);

	ld_reg(t, H_RSI, VMM_RSP, 8);
	e_alu_ri(e, 5, H_RSI, 8);
	e_rr(e, OPS(0x89), 8, H_RSI, H_RDX);          /* rdx = the frame */
	check_canonical(t);
	emit_tlb(t, 8, true);
	e_store(e, H_RSI, H_RBX, OFF(jit_ptr), 8);
	e_lea(e, H_RSI, H_RDX, -1, 0, -n);            /* the new top */
	check_canonical(t);
	emit_tlb(t, 1, true);
	ld_reg(t, H_RAX, VMM_RBP, 8);
	e_load(e, H_RSI, H_RBX, OFF(jit_ptr), 8);
	e_store(e, H_RAX, H_RSI, 0, 8);
	st_reg(t, H_RDX, VMM_RBP, 8);
	e_lea(e, H_RDX, H_RDX, -1, 0, -n);
	st_reg(t, H_RDX, VMM_RSP, 8);
}

static void count_use(unsigned *use, unsigned r, unsigned size)
{
	if (size == 1 && r >= 16 && r < 20)
		r -= 16;
	if (r < 16)
		use[r]++;
}

/*
 * The guest registers the block's translated instructions use most go
 * to the host registers of the cache (a register used once gains
 * nothing: its load and store cost what they save).
 */
static void choose_cached(struct tr *t, const struct form *forms,
			  const bool *ok)
{
	unsigned use[16] = { 0 };
	/* a self-loop keeps LOOP_REG for its counter, and a register used
	 * once per iteration is still loaded and stored once per entry */
	unsigned ncache = t->loop ? NCACHE - 1 : NCACHE;
	unsigned min_use = t->loop ? 1 : 2;

	memset(t->hr, -1, sizeof(t->hr));
	t->cached = t->dirty = 0;
	/*
	 * Every block keeps R10 = the TLB base (loaded at its entry and
	 * after each call), memory accesses or not: then every exit has it,
	 * and a patched link from a block without accesses into one with
	 * them needs no trampoline with the three loads (a two-block inner
	 * loop, cc64 -O2 strsearch).  It changes only with the CPL, which
	 * bumps chain_gen (soft_update_mode).
	 */
	t->mem = true;
	for (unsigned k = 0; k < t->n; k++) {
		const struct soft_insn *i = t->ins[k];
		const struct form *f = &forms[k];
		if (!ok[k] || f->k >= K_JCC || f->k == K_STR || f->k == K_DF ||
		    f->k == K_CLI || f->k == K_PP16 || f->k == K_SWAPGS ||
		    f->k == K_ENTER)
			continue;
		if OPREG(i) {
			count_use(use, rm_of(i, f->size), f->size);
			continue;
		}
		if (f->k == K_PUSH || f->k == K_POP) {
			count_use(use, VMM_RSP, 8);
			count_use(use, i->rm, 8);
			continue;
		}
		if (f->dst == O_A || f->src == O_A)
			count_use(use, VMM_RAX, 8);
		if (f->dst == O_G || f->src == O_G || f->k == K_MOVX ||
		    f->k == K_LEA || f->k == K_IMUL || f->k == K_CMOV)
			count_use(use, reg_of(i, f->size), f->size);
		if (i->mod == 3) {
			count_use(use, rm_of(i, f->size), f->size);
		} else {
			if (i->base < 16)
				count_use(use, i->base, 8);
			if (i->index < 16)
				count_use(use, i->index, 8);
		}
	}
	unsigned pick[NCACHE], npick = 0, taken = 0;

	for (unsigned n = 0; n < ncache; n++) {
		unsigned best = 16;
		for (unsigned g = 0; g < 16; g++)
			if (use[g] >= min_use && !(t->cached & (1u << g)) &&
			    (best == 16 || use[g] > use[best]))
				best = g;
		if (best == 16)
			break;
		pick[npick++] = best;
		t->cached |= (uint16_t)(1u << best);
	}
	/*
	 * Each guest register in its home host register (cache_regs[g %
	 * NCACHE]) when free, so that neighbouring blocks agree more often
	 * and a patched link between them skips the loads (soft_jit_patch);
	 * the others in the free ones.  A self-loop's counter keeps
	 * LOOP_REG.
	 */
	if (t->loop)
		taken |= 1u << (NCACHE - 1);
	for (unsigned k = 0; k < npick; k++) {
		unsigned h = pick[k] % NCACHE;
		if (!(taken & (1u << h))) {
			taken |= 1u << h;
			t->hr[pick[k]] = (int8_t)cache_regs[h];
		}
	}
	for (unsigned k = 0; k < npick; k++) {
		unsigned h = 0;
		if (t->hr[pick[k]] >= 0)
			continue;
		while (taken & (1u << h))
			h++;
		taken |= 1u << h;
		t->hr[pick[k]] = (int8_t)cache_regs[h];
	}
}


/*
 * Instruction @k + 1 reads the CF before it first thing (emit_get_cf,
 * before it emits anything else): INC/DEC with live flags, ADC/SBB.
 */
static bool cf_next(unsigned n, const struct form *forms,
		    const bool *ok, const bool *live, unsigned k)
{
	const struct form *f = &forms[k + 1];

	if (k + 1 >= n || !ok[k + 1])
		return false;
	return (f->k == K_INCDEC && live[k + 1]) ||
	       (f->k == K_ALU && (f->alu == 2 || f->alu == 3));
}

/*
 * The instructions one compilation translates (struct tr.ins): the
 * block's, and while the last block ends in a Jcc, the block it falls
 * through to, if that one follows it in the same page of guest-physical
 * memory as the first block (then a write to that page drops the first
 * block, and with it the code translated from the others' bytes;
 * tb.c's page rule) and is a successor seen at this chain_gen (so it is
 * valid, decoded from the bytes there now, in the same mode).  Up to
 * JIT_REGION_MAX blocks and SOFT_TB_MAX_INSNS instructions; not past a
 * Jcc back to the first instruction (a self-loop ends there) or to a
 * non-canonical target.  A loop whose body has a conditional branch
 * out, or an if without an else, then runs as one piece of code: a
 * self-loop when the last block branches back to the start.
 */
static void region(struct tr *t)
{
	const struct soft_cpu *c = t->c;
	const struct soft_tb *b = t->tb;
	uint64_t mask = t->m32 ? 0xffffffffull : ~0ull;
	uint64_t rip = t->rip0;

	t->n = 0;
	for (unsigned nb = 1;; nb++) {
		const struct soft_tb *next = NULL;
		const struct soft_insn *l;
		struct form f;
		uint64_t to;

		for (unsigned k = 0; k <= b->ninsn; k++)
			t->ins[t->n + k] = &b->insn[k];
		t->n += b->ninsn;
		rip = (rip + b->nbytes) & mask;
		l = &b->insn[b->ninsn - 1];
		if (nb >= JIT_REGION_MAX || t->tb->gpa2 != ~0ull ||
		    !classify(l, &f, t->m32) || f.k != K_JCC)
			return;
		to = (rip + l->imm) & mask;
		if (to == t->rip0 || !canonical(to))
			return;
		for (unsigned j = 0; j < 2; j++)
			if (b->chain[j] && b->chain_rip[j] == rip &&
			    b->chain_gen[j] == c->chain_gen)
				next = b->chain[j];
		if (!next || !next->valid || next->wait_gen ||
		    next->key != t->tb->key || next->gpa2 != ~0ull ||
		    next->gpa != b->gpa + b->nbytes ||
		    (next->gpa & ~0xfffull) != (t->tb->gpa & ~0xfffull) ||
		    !next->ninsn || t->n + next->ninsn > SOFT_TB_MAX_INSNS)
			return;
		if (next->jit_body) {
			/* its first instruction's threaded entry, should
			 * the interpreter run it */
			const struct jit_info *ji = next->jit_info;
			if (!ji)
				return;
			t->run0[t->n] = ji->orig;
		}
		t->side[t->n - 1] = true;
		b = next;
	}
}

/*
 * For a self-loop's flags at its top (struct tr.loop_pflazy): @f neither
 * reads nor writes the flags, and its code leaves R8/R9 alone (the
 * pending flags) ...
 */
static bool loop_neutral(const struct form *f)
{
	switch (f->k) {
	case K_MOV:
	case K_MOVX:
	case K_LEA:
	case K_PUSH:
	case K_POP:
	case K_NOP:
	case K_CBW:
	case K_CWD:
		return true;
	default:
		return false;
	}
}

/* ... @i writes them all without reading them, and its code leaves
 * R8/R9 alone up to its last branch to its slow path */
static bool loop_writer(const struct soft_insn *i, const struct form *f)
{
	if (i->pfx & PFX_LOCK)
		return false;
	switch (f->k) {
	case K_ALU:
		return f->alu != 2 && f->alu != 3;
	case K_NEG:
	case K_IMUL:
	case K_SHIFT:
		return true;
	default:
		return false;
	}
}

/*
 * The flags of instruction @k, a SHL/SHR/SAR of a register by a constant,
 * are live only through the possible fault of a later memory ALU op (not
 * ADC/SBB, no LOCK) that writes them all, with only register moves
 * between (no slow path, no reader): then they stay pending as a shift
 * (struct pend_flags.shift) and only that op's slow path computes them.
 */
static bool shift_defer(const struct tr *t, const struct form *forms,
			const bool *ok, unsigned k)
{
	for (unsigned j = k + 1; j < t->n && ok[j]; j++) {
		const struct soft_insn *i = t->ins[j];
		const struct form *f = &forms[j];
		if (f->k == K_ALU && f->alu != 2 && f->alu != 3 &&
		    !(i->pfx & PFX_LOCK))
			return form_mem(i, f);
		if (!loop_neutral(f) || form_mem(i, f))
			return false;
	}
	return false;
}

/* code: prologue; body; exit stub; slow paths */
static bool translate_block(struct tr *t)
{
	struct jit_emit *e = &t->e;
	struct soft_tb *tb = t->tb;
	unsigned n = t->n;
	struct form forms[SOFT_TB_MAX_INSNS];
	bool ok[SOFT_TB_MAX_INSNS], live[SOFT_TB_MAX_INSNS];
	bool live_o[SOFT_TB_MAX_INSNS];
	bool lv = true, lc = true, lo = true, hf_cf, self = false;
	size_t exit_pos;

	for (unsigned k = 0; k < n; k++) {
		ok[k] = classify(t->ins[k], &forms[k], t->m32);
		if (ok[k] && forms[k].k >= K_JCC && k != n - 1 &&
		    !(t->side[k] && forms[k].k == K_JCC))
			ok[k] = false;
		if (t->side[k] && !ok[k])
			return false; /* (region() checked) */
	}
	/* flag liveness, backwards: live[k] = a reader may see the flags
	 * instruction k writes; live_o[k]: its OF SF ZF AF PF (lc: the CF
	 * before an instruction, lo: the others) */
	for (unsigned k = n; k-- > 0;) {
		const struct form *f = &forms[k];
		live_o[k] = lo;
		lv = lc || lo;
		live[k] = lv;
		/* translated only when the flags they write are dead (the
		 * interpreter computes them otherwise), the block end
		 * included */
		if (ok[k] && lv && f->k == K_SHIFT && f->size < 4 &&
		    f->count >= f->size * 8)
			ok[k] = false;
		/* by CL: the flags are written or not (count 0), so only
		 * where no reader sees them; liveness passes through */
		if (ok[k] && lv && f->k == K_SHIFTCL && f->size < 4)
			ok[k] = false;
		if (!ok[k] || k == n - 1 || t->side[k]) {
			/* handler, block end or a side exit (a reader too):
			 * anything */
			lc = lo = true;
			continue;
		}
		if (form_mem(t->ins[k], f)) {
			/* may fault before writing them: the old ones are
			 * visible then */
			lc = lo = true;
			continue;
		}
		switch (f->k) {
		case K_ALU:
			/* writes them all; ADC/SBB read CF first */
			lc = f->alu == 2 || f->alu == 3;
			lo = false;
			break;
		case K_NEG:
		case K_SHIFT:
		case K_IMUL:
		case K_CMPXCHG:
		case K_XADD:
			lc = lo = false; /* writes them all */
			break;
		case K_MULDIV:
			/* MUL/IMUL write them all (DIV: form_mem, above) */
			lc = lo = false;
			break;
		case K_SETCC:
		case K_CMOV:
			lc = lo = true; /* reads them */
			break;
		case K_BT:
		case K_BITSCAN:
		case K_RCX: /* (and reads CF) */
			/* writes CF into the flags it keeps: reads them
			 * (BSF/BSR/TZCNT/LZCNT: ZF, CF likewise) */
			lc = lo = true;
			break;
		case K_INCDEC:
			/* writes all but CF, which passes through (its lazy
			 * flags keep the CF before it) */
			lo = false;
			break;
		default:
			/* ROL/ROR (CF and OF only; the rest from before),
			 * and the rest: liveness passes through */
			break;
		}
	}
	lv = lc || lo;

	t->loop_live = lv;
	t->flags_in = lv;
	/* a self-loop: the last instruction branches to the first; with
	 * all of them translated (an interpreter call found later:
	 * t->noloop) it counts in LOOP_REG */
	if (ok[n - 1] &&
	    (forms[n - 1].k == K_JCC || forms[n - 1].k == K_JMP)) {
		const struct soft_insn *l = t->ins[n - 1];
		uint64_t to = insn_rip(t, n - 1) + l->len + l->imm;
		self = (t->m32 ? (uint32_t)to : to) == t->rip0;
		t->loop = self && !t->noloop;
		for (unsigned k = 0; k < n; k++)
			t->loop = t->loop && ok[k];
	}
	t->loop_pflazy = false;
	for (unsigned k = 0; t->loop && lv && k + 1 < n; k++) {
		if (loop_writer(t->ins[k], &forms[k])) {
			t->loop_pflazy = true;
			t->loop_k1 = k;
			break;
		}
		if (!loop_neutral(&forms[k]))
			break;
	}
	choose_cached(t, forms, ok);
	emit_prologue(e);
	/*
	 * The entry guard (the body's first instructions: links enter
	 * here too): the RIP constants hold only for the RIP the block was
	 * compiled at.  A block is found by its physical address, so the
	 * same code can be entered at another linear address (another
	 * mapping, another CS base); 32-bit code also needs CS's limit to
	 * be 4 GiB (no limit check in the body).  Otherwise the
	 * interpreter's threaded entry runs the block.
	 */
	if ((uint64_t)(int64_t)(int32_t)t->rip0 == t->rip0) {
		e_mem_imm(e, 7, H_RBX, OFF(st.rip), (int32_t)t->rip0, 8);
	} else {
		e_movi(e, H_RAX, t->rip0);
		e_rm(e, OPS(0x39), 8, H_RAX, H_RBX, OFF(st.rip));
	}
	t->guard[t->nguard++] = e_jcc32(e, CC_NE);
	if (t->m32) {
		e_rm(e, OPS(0x83), 4, 7, H_RBX, OFF(seglim[VMM_CS]));
		e_b(e, 0xff);
		t->guard[t->nguard++] = e_jcc32(e, CC_NE);
		/* the segments used without checks (seg_fast; the imm32
		 * is filled in at the end) */
		e_rm(e, OPS(0xf7), 4, 0, H_RBX, OFF(jit_segslow));
		t->segimm = e_pos(e);
		e_d(e, 0);
		t->guard[t->nguard++] = e_jcc32(e, CC_NE);
	}
	/* a patched link enters past the guard (struct jit_info) */
	t->pos_noguard = e_pos(e);
	cache_load(t);
	t->pos_init = e_pos(e);
	if (t->loop) {
		/* [rsp] = chain_gen at entry (a self-loop's slow paths) */
		e_load(e, H_RAX, H_RBX, OFF(chain_gen), 8);
		e_b(e, 0x48); e_b(e, 0x89); e_b(e, 0x04); e_b(e, 0x24); /* mov [rsp],rax */
	}
	if (t->loop) {
		e_rr(e, OPS(0x31), 4, LOOP_REG, LOOP_REG); /* xor r15d, r15d */
		/* the back-edge writes nothing back */
		t->dirty = t->cached;
	}
	t->loop_pos = e_pos(e);
	for (unsigned k = 0; k < n; k++) {
		const struct soft_insn *i = t->ins[k];
		struct soft_insn tmp_i; /* xops_rmw_pre() */
		bool last = k == n - 1;

		t->rip = insn_rip(t, k);
		hf_cf = t->hf_cf;
		t->hf_cf = false;

		if (t->side[k]) {
			if (!emit_jcc_side(t, k, &forms[k]))
				return false;
			continue;
		}
		/* (flags from elsewhere: emit_cond_call) */
		if (ok[k] && forms[k].k == K_JCC) {
			if (!emit_jcc(t, k, &forms[k]))
				return false;
			continue;
		}
		if (ok[k] && forms[k].k > K_JCC) {
			if (!emit_branch(t, k, &forms[k]))
				return false;
			continue;
		}
		if (ok[k]) {
			struct slow *s = NULL;
			const struct form *f = &forms[k];
			bool hf = t->hf && !(t->hf_nocf &&
					     ((f->cc >> 1) == 1 ||
					      (f->cc >> 1) == 3));
			bool hf_all = t->hf && !t->hf_nocf;
			bool eager = t->lf_eager;
			bool cf_only = false; /* only its CF, in the host's */
			bool shift_pf = false; /* its flags pending, shift_defer */
			if (f->k != K_SETCC && f->k != K_CMOV)
				t->hf = false;
			if (form_mem(i, f)) {
				if (t->nslow >= MAX_SLOW)
					return false;
				s = &t->slow[t->nslow++];
				memset(s, 0, sizeof(*s));
				s->i = i;
				s->pend_len = t->pend_len;
				s->pend_n = t->pend_n;
				s->dirty = t->dirty;
				s->hits = t->pend_hits;
				s->pf = t->pf;
				s->loop_top = t->loop_pflazy &&
					      k <= t->loop_k1;
				s->loop_reload = t->loop_pflazy &&
						 k < t->loop_k1;
			}
			t->cur = s;
			if ((f->k == K_INCDEC && live[k]) ||
			    (f->k == K_ALU && (f->alu == 2 || f->alu == 3))) {
				/* the CF before it (a call: before the
				 * operand's address is in RSI) */
				/* INC/DEC of a cached register takes it from
				 * EAX alone (emit_direct), not jit_cf */
				t->cf_eax = f->k == K_INCDEC && !s &&
					    opnd_host(t, i, f->dst, f->size) >= 0;
				t->cf_host = emit_get_cf(t, (hf && !t->hf_nocf) ||
								hf_cf);
				t->cf_eax = false;
				if (s)
					s->pf = t->pf;
			}
			if (f->k == K_ALU || f->k == K_INCDEC ||
			    f->k == K_NEG || f->k == K_IMUL ||
			    f->k == K_SHIFT || f->k == K_ROT)
				t->lf_eager = false; /* emit_set_arith: again */
			if (s && (f->k == K_SHIFT || f->k == K_ROT ||
				  f->k == K_SHIFTCL)) {
				/* memory: the register emitters on a copy
				 * whose operand is JIT_TMP_REG (the host
				 * flags are the TLB check's now) */
				i = xops_rmw_pre(t, i, &tmp_i, f->size);
				hf_all = false;
			}
			if (f->k == K_SETCC || f->k == K_CMOV) {
				if (!hf && t->pf.v) {
					pf_flush(t); /* its host flags */
					hf = true;
				}
				if (!hf && !flags_known(t, f->cc)) {
					/* flags from elsewhere */
					struct form g = *f;
					emit_cond_call(t, f->cc);
					g.cc = CC_NE;
					emit_setcc_cmov(t, i, &g);
					t->hf = false;
				} else {
					if (!hf) {
						emit_flags(t, f->cc);
						t->hf = true;
						t->hf_nocf =
							t->lf_op == LF_INC ||
							t->lf_op == LF_DEC;
					}
					emit_setcc_cmov(t, i, f);
				}
			} else if ((f->k == K_SHIFT ||
				    (f->k == K_ALU && f->alu != 2 &&
				     f->alu != 3 && f->alu != 7 &&
				     f->alu != 8)) &&
				   live[k] && !live_o[k] &&
				   cf_next(n, forms, ok, live, k) &&
				   emit_direct(t, i, f, false)) {
				/* only CF is live, and the next instruction
				 * takes it from the host CF (emit_get_cf):
				 * the host operation on the cached register,
				 * the same CF (0 for AND/OR/XOR) */
				t->pf.v = false;
				t->hf_cf = true;
				cf_only = true;
			} else if (f->k == K_SHIFT && live[k] && !s &&
				   shift_defer(t, forms, ok, k)) {
				/* only a later memory ALU op's slow path can
				 * see its flags: a in R8, the flags computed
				 * there (pf_store) */
				ld_reg(t, H_R8, rm_of(i, f->size), f->size);
				if (!emit_direct(t, i, f, false))
					emit_shift(t, i, f);
				t->pf.v = true;
				t->pf.op = LF_NONE;
				t->pf.size = (uint8_t)f->size;
				t->pf.hop = (uint8_t)f->shop;
				t->pf.incdec = false;
				t->pf.bimm = false;
				t->pf.imm = f->count;
				t->pf.shift = true;
				shift_pf = true;
			} else if (f->k == K_SHIFT && live[k]) {
				emit_shift_live(t, i, f);
			} else if (f->k == K_ROT && live[k]) {
				emit_rot_live(t, i, f, hf_all, eager);
			} else if ((f->k == K_SHIFT || f->k == K_ROT) &&
				   emit_direct(t, i, f, false)) {
				/* on the cached register */
			} else if (f->k == K_SHIFT) {
				emit_shift(t, i, f);
			} else if (f->k == K_ROT) {
				emit_rot(t, i, f);
			} else {
				/* a flag writer that does not defer its
				 * flags: the pending ones are gone */
				if (f->k == K_ALU || f->k == K_INCDEC ||
				    f->k == K_NEG || f->k == K_IMUL)
					t->pf.v = false;
				emit_form(t, i, f, live[k]);
			}
			if ((f->k == K_SHIFT || f->k == K_ROT) && !shift_pf)
				t->pf.v = false; /* flags dead after */
			if (i == &tmp_i) {
				xops_rmw_post(t, f->size);
				i = t->ins[k];
			}
			if (s) {
				s->resume = e_pos(e);
				s->hits_after = t->pend_hits;
				s->pf_keep = (s->pf.v || s->pf_self) &&
					     t->pf.v;
				s->pf_after = t->pf;
				s->hf_after = t->hf;
			}
			/* what the state's lazy flags are now */
			if (f->k == K_ALU || f->k == K_INCDEC || f->k == K_SHIFT ||
			    f->k == K_NEG || f->k == K_IMUL || f->k == K_ROT) {
				t->lf_op = 0;
				t->lf_size = 0;
				if (live[k] && f->k == K_ALU && !cf_only) {
					t->lf_op = alu_lf[f->alu];
					t->lf_size = f->size;
				} else if (live[k] && f->k == K_NEG) {
					t->lf_op = LF_SUB;
					t->lf_size = f->size;
				} else if (live[k] && f->k == K_INCDEC) {
					t->lf_op = f->dec ? LF_DEC : LF_INC;
					t->lf_size = f->size;
				}
			}
			t->pend_len += i->len;
			t->pend_n++;
			if (last) {
				/* (flags pending: emit_link_direct) */
				sync_pend(t);
				cache_end(t);
				if (!emit_link(t, false))
					return false;
			}
			continue;
		}
		t->hf = false;
		if (!emit_interp(t, k, last))
			return false;
		t->lf_op = t->lf_size = 0;
	}
	/* exit: return eax - 1 (soft_jit_call), or eax (threaded entry) */
	exit_pos = e_pos(e);
	e_b(e, 0xff); e_b(e, 0xc8);  /* dec eax */
	for (unsigned k = 0; k < t->nexits2; k++)
		e_patch(e, t->exits2[k], e_pos(e));
	emit_epilogue(e);
	e_b(e, 0xc3);                /* ret */
	for (unsigned k = 0; k < t->nexits; k++)
		e_patch(e, t->exits[k], exit_pos);
	/* slow paths: sync, the whole instruction by its handler, unsync */
	for (unsigned k = 0; k < t->nslow; k++) {
		struct slow *s = &t->slow[k];
		size_t here = e_pos(e), j;

		for (unsigned m = 0; m < s->nfix; m++)
			e_patch(e, s->fix[m], here);
		t->nocache = false;
		cache_store(t, s->dirty);
		pf_store(t, &s->pf);
		if (s->loop_top && t->loop_pf.v) {
			/* after the first iteration: the flags the back-edge
			 * left pending */
			size_t first;
			e_rr(e, OPS(0x85), 4, LOOP_REG, LOOP_REG);
			first = e_jcc32(e, CC_E);
			pf_store(t, &t->loop_pf);
			e_patch(e, first, e_pos(e));
		}
		if (s->hits)
			e_mem_imm(e, 0, H_RBX, OFF(st_tlb_hits),
				  (int32_t)s->hits, 8);
		if (s->pend_len)
			e_mem_imm(e, 0, H_RBX, OFF(st.rip),
				  (int32_t)s->pend_len, 8);
		if (s->pend_n)
			e_mem_imm(e, 0, H_RBX, OFF(icount),
				  (int32_t)s->pend_n, 8);
		loop_flush(t, false);
		st_cur_tb(t);
		e_rr(e, OPS(0x89), 8, H_RBX, H_RDI);
		e_movi(e, H_RSI, (uint64_t)(uintptr_t)s->i);
		e_call(e, (const void *)soft_jit_call);
		e_rr(e, OPS(0x85), 4, H_RAX, H_RAX);
		e_patch(e, e_jcc32(e, CC_NE), exit_pos);
		if (!t->loop)
			seg_recheck(t, t->segused, exit_pos);
		/* (a self-loop: chain_gen, below) */
		if (t->loop) {
			/* the state is exact here: leave when the call
			 * changed chain_gen (a TLB flush, an invalidation:
			 * the block's own code may be another now; the
			 * executor finds out), else back into the loop */
			size_t same;
			e_load(e, H_RAX, H_RBX, OFF(chain_gen), 8);
			e_b(e, 0x48); e_b(e, 0x3b); e_b(e, 0x04); e_b(e, 0x24); /* cmp rax,[rsp] */
			same = e_jcc32(e, CC_E);
			e_movi(e, H_RAX, SOFT_END + 1);
			e_patch(e, e_jmp32(e), exit_pos);
			e_patch(e, same, e_pos(e));
			loop_flush(t, true);
		}
		e_mem_imm(e, 5, H_RBX, OFF(st.rip),
			  (int32_t)(s->pend_len + s->i->len), 8);
		e_mem_imm(e, 5, H_RBX, OFF(icount), (int32_t)(s->pend_n + 1),
			  8);
		if (s->hits_after)
			e_mem_imm(e, 5, H_RBX, OFF(st_tlb_hits),
				  (int32_t)s->hits_after, 8);
		if (s->hf_after) {
			/* the code after it uses the host flags: the
			 * guest's arithmetic flags, as the handler left
			 * them, through the stack into RFLAGS (last) */
			e_rr(e, OPS(0x89), 8, H_RBX, H_RDI);
			e_call(e, (const void *)soft_jit_get_flags);
			e_rr(e, OPS(0x81), 4, 4, H_RAX);
			e_d(e, FL_ARITH);
			e_push(e, H_RAX);
		}
		if (s->pf_keep && s->pf_self) {
			/* its own, as its handler wrote them */
			emit_pf_reload_self(t, &s->pf_after);
		} else if (s->pf_keep && s->pf.shift) {
			e->overflow = true; /* not reached (shift_defer) */
		} else if (s->pf_keep) {
			/* what pf_store() wrote, the instruction did not
			 * write flags */
			e_load(e, H_R8, H_RBX, OFF(lf_a), 8);
			if (s->pf.incdec)
				e_load(e, H_R9, H_RBX, OFF(lf_cin), 4);
			else
				e_load(e, H_R9, H_RBX, OFF(lf_b), 8);
		} else if (s->loop_reload && t->loop_pf.v) {
			/* the same for the loop's pending flags (the first
			 * iteration: R8/R9 unused until the writer) */
			e_load(e, H_R8, H_RBX, OFF(lf_a), 8);
			if (t->loop_pf.incdec)
				e_load(e, H_R9, H_RBX, OFF(lf_cin), 4);
			else
				e_load(e, H_R9, H_RBX, OFF(lf_b), 8);
		}
		cache_load(t);
		if (s->hf_after)
			e_b(e, 0x9d); /* popfq */
		j = e_jmp32(e);
		e_patch(e, j, s->resume);
	}
	/* the entry guard failed: the frame off, the interpreter's entry */
	for (unsigned k = 0; k < t->nguard; k++)
		e_patch(e, t->guard[k], e_pos(e));
	st_cur_tb(t);
	e_rr(e, OPS(0x89), 8, H_RBX, H_RDI);
	e_movi(e, H_RSI, (uint64_t)(uintptr_t)tb->insn);
	emit_epilogue(e);
	e_movi(e, H_RAX, (uint64_t)(uintptr_t)t->orig);
	e_b(e, 0xff); e_b(e, 0xe0); /* jmp rax */
	if (t->m32 && !e->overflow)
		memcpy(e->start + t->segimm, &t->segused, 4);
	return !e->overflow;
}

/* ---- patched links ---- */

/*
 * A trampoline for a link into the block of @ji from an exit whose host
 * registers lack @need (and R10 when @r10): those loads, then on to the
 * block past its own loads.  0 when the buffer has no room for it.
 */
static uintptr_t make_tramp(struct soft_cpu *c, const struct jit_info *ji,
			    uint16_t need, bool r10)
{
	size_t start = (c->jit_used + 15) & ~(size_t)15, j;
	struct jit_emit e;
	int32_t rel;

	/* (a compilation needs 4096 bytes: soft_jit_compile) */
	if (start + 4096 + 256 > SOFT_JIT_CODE_SIZE)
		return 0;
	e.start = e.p = c->jit_rw + start;
	e.end = e.start + 256;
	e.overflow = false;
	for (unsigned g = 0; g < 16; g++)
		if (need & (1u << g))
			e_load(&e, (unsigned)ji->hr[g], H_RBX, GPR(g), 8);
	if (r10)
		e_tlb_base(&e);
	j = e_jmp32(&e);
	if (e.overflow)
		return 0;
	rel = (int32_t)((intptr_t)ji->init -
			(intptr_t)(c->jit_rx + start + j + 4));
	memcpy(e.start + j, &rel, 4);
	c->jit_used = start + e_pos(&e);
	return (uintptr_t)(c->jit_rx + start);
}

/*
 * soft_jit_link() found @n, compiled at the RIP of direct exit @s, at
 * this chain_gen: point the exit's jmp into @n's code past its entry
 * guard (which holds until chain_gen changes), and past its loads when
 * the exit's host registers already hold them (else through a
 * trampoline with the missing loads).  Recorded for soft_jit_unpatch().
 */
/*
 * Where direct exit @s enters @n (compiled at the exit's RIP, valid at
 * this chain_gen): past the loads when the exit's registers hold them,
 * else through a trampoline with the missing loads (kept for the next
 * patch), else past the guard with all the loads.
 */
static uintptr_t link_target(struct soft_cpu *c, struct jit_slot *s,
			     struct soft_tb *n)
{
	const struct jit_info *ji = n->jit_info;
	uint16_t need = 0;
	uintptr_t to;

	for (unsigned g = 0; g < 16; g++)
		if ((ji->cached & (1u << g)) && s->hr[g] != ji->hr[g])
			need |= (uint16_t)(1u << g);
	if (!need && (!ji->mem || s->mem))
		return ji->init;
	if (s->tramp_tb == n)
		return s->tramp;
	to = make_tramp(c, ji, need, ji->mem && !s->mem);
	if (!to)
		return ji->noguard;
	s->tramp_tb = n;
	s->tramp = to;
	return to;
}

static void soft_jit_patch(struct soft_cpu *c, struct jit_slot *s,
			   struct soft_tb *n)
{
	const struct jit_info *ji = n->jit_info;
	uintptr_t to;
	int32_t rel;

	if (!c->jit_patch)
		return;
	if (c->jit_npatch &&
	    (c->jit_pgen != c->chain_gen || c->jit_npatch >= JIT_MAX_PATCH))
		soft_jit_unpatch(c);
	to = link_target(c, s, n);
	if (s->fstub && ji->flags_in) {
		/* through the stub that stores the pending flags */
		rel = (int32_t)((intptr_t)to -
				(intptr_t)(c->jit_rx + s->fjmp + 4));
		memcpy(c->jit_rw + s->fjmp, &rel, 4);
		to = (uintptr_t)(c->jit_rx + s->fstub);
	}
	rel = (int32_t)((intptr_t)to - (intptr_t)(c->jit_rx + s->jmp + 4));
	memcpy(c->jit_rw + s->jmp, &rel, 4);
	c->jit_patch[c->jit_npatch++] = s->jmp;
	c->jit_pgen = c->chain_gen;
	c->st_jit_patches++;
}

void soft_jit_compile(struct soft_cpu *c, struct soft_tb *tb)
{
	struct tr *t;
	size_t room, start;
	bool done = false;

	if ((tb->key != 8 && tb->key != 4) || tb->jit_tried || !tb->valid)
		return; /* 64-bit and 32-bit code */
	if (tb->key != c->csz)
		return;
	if (tb->key == 4) {
		/* 32-bit code: EIP = linear - CS.base; CS flat (no limit
		 * checks in the body: the entry guard checks the limit is
		 * still 4 GiB), and the block does not wrap at 4 GiB */
		uint64_t eip = (uint32_t)(tb->lin - c->segbase[VMM_CS]);
		if (c->lm64 || c->seglim[VMM_CS] != 0xffffffffu ||
		    eip + tb->nbytes > 0x100000000ull)
			return; /* the interpreter's (not compiled) */
	}
	tb->jit_tried = true;
	if (!c->jit_rw && !code_buffer(c)) {
		c->jit_on = false; /* the interpreter alone from now on */
		return;
	}
	start = (c->jit_used + 15) & ~(size_t)15;
	if (start + 4096 > SOFT_JIT_CODE_SIZE) {
		/* flushed with the block cache at the next block boundary
		 * (tb.c: no compiled code runs then) */
		c->jit_full = true;
		return;
	}
	room = SOFT_JIT_CODE_SIZE - start;
	t = vmm__alloc(c->vm, sizeof(*t));
	if (!t)
		return;
	for (int attempt = 0; attempt < 2; attempt++) {
		/* again without the self-loop when it held an interpreter
		 * call (emit_interp) */
		bool noloop = attempt > 0;
		memset(t, 0, sizeof(*t));
		t->noloop = noloop;
		t->c = c;
		t->tb = tb;
		t->m32 = tb->key == 4;
		t->rip0 = t->m32 ? (uint32_t)(tb->lin - c->segbase[VMM_CS])
				 : tb->lin;
		t->segfast0 = t->m32 ? ~c->jit_segslow & 0x3fu : 0;
		t->orig = tb->insn[0].run;
		region(t);
		t->e.start = c->jit_rw + start;
		t->e.p = t->e.start;
		t->e.end = t->e.start + room;
		done = translate_block(t);
		if (done || noloop || !t->noloop || t->e.overflow)
			break;
	}
	if (done) {
		struct jit_info *ji = soft_tb_alloc(c, sizeof(*ji));
		if (ji) {
			ji->rip0 = t->rip0;
			ji->noguard = (uintptr_t)(c->jit_rx + start) +
				      t->pos_noguard;
			ji->init = (uintptr_t)(c->jit_rx + start) + t->pos_init;
			memcpy(ji->hr, t->hr, sizeof(ji->hr));
			ji->cached = t->cached;
			ji->mem = t->mem;
			ji->flags_in = t->flags_in;
			ji->m32 = t->m32;
			ji->segmask = t->segused;
			ji->orig = t->orig;
		}
		tb->jit_info = ji;
		c->jit_used = start + e_pos(&t->e);
		tb->insn[0].run = (soft_fn)(uintptr_t)(c->jit_rx + start);
		tb->jit_body = (uintptr_t)(c->jit_rx + start) + PROLOGUE_LEN;
		/* for tb.c's instruction limit: one entry's most */
		tb->jit_max = t->n;
		if (t->loop && t->loop_max * t->n_back > t->n)
			tb->jit_max = t->loop_max * t->n_back;
#ifdef SOFT_JIT_DUMP_DIR
		/* a debugging aid, off unless the build defines it (e.g.
		 * -Dc_args=-DSOFT_JIT_DUMP_DIR=/tmp/jit): each compiled
		 * block's code in DIR/<offset in the buffer>-<rip>.bin, for
		 * objdump -D -b binary -m i386:x86-64 (perf reports
		 * addresses in the memfd by that offset) */
		{
			char name[256];
			FILE *fp;
			snprintf(name, sizeof(name), "%s/%06zx-%llx.bin",
				 JIT_STR(SOFT_JIT_DUMP_DIR), start,
				 (unsigned long long)t->rip0);
			fp = fopen(name, "wb");
			if (fp) {
				fwrite(t->e.start, 1, e_pos(&t->e), fp);
				fclose(fp);
			}
		}
#endif
		c->st_jit_blocks++;
	} else if (t->e.overflow) {
		c->jit_full = true;
	}
	vmm__free(c->vm, t);
}
