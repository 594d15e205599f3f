/* SPDX-License-Identifier: MIT */
/*
 * soft.h - private state of the software backend: the x86 CPU that runs
 * directly on struct vmm_cpu_state, its predecoded instruction format, the
 * soft TLB, the translated-block cache, and the helpers every exec_*.c file
 * shares (lazy flags, register and memory access, faults).
 *
 * Control flow of one vmm_vcpu_run(): backend.c -> tb.c finds or
 * translates the block at CS:RIP (decode.c), runs its predecoded
 * instructions through their handlers (exec_*.c); memory goes through
 * mmu.c (TLB hit = host pointer from vmm_gmem_host_ptr(), miss = page walk);
 * faults unwind to tb.c with __builtin_longjmp and are delivered by
 * except.c; port I/O and MMIO become exits (io.c).
 */
#ifndef LIBVMM_SOFT_H
#define LIBVMM_SOFT_H

#include "core/vm_impl.h"
#include "irq/irqchip.h"

#include <stdio.h>
#include <string.h>

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/*
 * The only functions that call __builtin_setjmp (tb.c, io.c): small, not
 * inlined and not instrumented by ASan.  After the longjmp back, nothing
 * of such a function's frame is reliable but its volatile locals (C11
 * 7.13.2.1): clang reuses the stack slots of unchanged locals and of
 * values derived from them, and ASan's frame bookkeeping is one of them.
 * So the function keeps the CPU pointer in a volatile local and calls out
 * to ordinary functions for everything else, never as a tail call (its
 * frame must stay alive while they run: SOFT_NO_TAIL_CALL() after them).
 */
#define SOFT_SETJMP_FN __attribute__((noinline, no_sanitize("address")))
#define SOFT_NO_TAIL_CALL() __asm__ volatile("" ::: "memory")

struct soft_cpu;
struct soft_insn;

/*
 * A handler executes one predecoded instruction.  Returns SOFT_NEXT (the
 * executor advances RIP by the length), SOFT_END (the handler set RIP; the
 * block ends: branch, mode change) or SOFT_EXIT (instruction retired, an
 * exit is pending in cpu->exit).  Faults never return: soft_fault() unwinds.
 */
typedef int (*soft_fn)(struct soft_cpu *c, const struct soft_insn *i);

enum { SOFT_NEXT = 0, SOFT_END = 1, SOFT_EXIT = 2 };

#define SOFT_NOREG 0xff
#define SOFT_RIPREL 0xfe

/* struct soft_insn.pfx */
#define PFX_REP 0x01   /* F3 */
#define PFX_REPNE 0x02 /* F2 */
#define PFX_LOCK 0x04
#define PFX_OPSZ 0x08  /* 66 */
#define PFX_REX 0x10
#define PFX_REXW 0x20
#define PFX_ADSZ 0x40  /* 67 */
#define PFX_SEG 0x80   /* explicit segment override */

/*
 * One predecoded instruction (decode.c fills it; 56 bytes).  @fn executes
 * this instruction alone (the contract above).  @run is its threaded entry
 * inside a translated block (tb.c, exec_fast.c): it executes this
 * instruction and, while they retire with SOFT_NEXT and raise no event,
 * tail-calls the next ones' @run, up to the block's end marker, and from
 * a branch or the marker possibly into a chained block (thread.h); it
 * returns the status of the last instruction it executed.  When it
 * returns, every instruction it executed has retired and RIP and icount
 * are up to date (inside the chain pure instructions defer them: pre_n).
 */
struct soft_insn {
	soft_fn fn;
	soft_fn run;
	int64_t disp;     /* displacement; moffs for A0-A3 */
	uint64_t imm;     /* immediate, sign-extended per the encoding */
	uint16_t op;      /* 0x000-0x0ff, 0x1xx = 0F xx, 0x2xx = 0F38, 0x3xx = 0F3A */
	uint8_t len;
	uint8_t osz;      /* operand size in bytes: 1, 2, 4, 8 */
	uint8_t asz;      /* address size in bytes: 2, 4, 8 */
	uint8_t seg;      /* segment of the memory operand */
	uint8_t mod;      /* ModRM.mod; 3 = register operand */
	uint8_t reg;      /* ModRM.reg with REX.R (0-15) */
	uint8_t rm;       /* ModRM.rm with REX.B, or opcode register */
	uint8_t reg8, rm8; /* byte-register numbers: 16-19 = AH, CH, DH, BH */
	uint8_t base, index, scale;
	uint8_t pfx;
	uint16_t imm2;    /* ENTER level, far pointer selector */
	/* threaded: the pure instructions right before this one (exec_fast.c)
	 * leave RIP and icount to it: their count and byte length */
	uint8_t pre_n;
	uint16_t pre_len;
};

/* Decoder: decode.c. */
struct soft_decoded {
	int status;       /* 0, or the exception: 6 #UD, 13 #GP */
	int need;         /* > 0: bytes needed beyond the buffer */
	bool end_block;
};
/*
 * soft_decode() - decode one instruction from @buf (@avail bytes readable)
 * with default code size @csz (2, 4, 8).  Returns 0, SOFT_DEC_MORE when
 * @avail was too short (fetch more, or #PF), or SOFT_DEC_GP (longer than
 * 15 bytes).  An undefined opcode decodes with fn = soft_op_ud; otherwise
 * fn is NULL and the caller takes handlers[op].
 */
#define SOFT_DEC_MORE (-1)
#define SOFT_DEC_UD 6
#define SOFT_DEC_GP 13
int soft_decode(const uint8_t *buf, unsigned avail, unsigned csz,
		struct soft_insn *out, bool *end_block);
/* Fill the handler table, indexed by soft_insn.op (optab.c). */
void soft_build_handlers(soft_fn t[0x400]);
int soft_op_ud(struct soft_cpu *c, const struct soft_insn *i);

/* Lazy flags: what produced the arithmetic flags (flags.c). */
enum soft_lf {
	LF_NONE = 0,  /* rflags holds the flags */
	LF_ADD, LF_ADC, LF_SUB, LF_SBB, LF_LOGIC, LF_INC, LF_DEC,
};

#define FL_CF 0x0001u
#define FL_PF 0x0004u
#define FL_AF 0x0010u
#define FL_ZF 0x0040u
#define FL_SF 0x0080u
#define FL_TF 0x0100u
#define FL_IF 0x0200u
#define FL_DF 0x0400u
#define FL_OF 0x0800u
#define FL_IOPL 0x3000u
#define FL_NT 0x4000u
#define FL_RF 0x10000u
#define FL_VM 0x20000u
#define FL_AC 0x40000u
#define FL_VIF 0x80000u
#define FL_VIP 0x100000u
#define FL_ID 0x200000u
#define FL_ARITH (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)

/* Soft TLB: one set for supervisor, one for user accesses. */
/* MAXPHYADDR of the soft CPU (CPUID 0x80000008): page-table entry bits at
 * or above it are reserved (#PF with RSVD) */
#define SOFT_MAXPHYADDR 40

#define SOFT_TLB_BITS 10
#define SOFT_TLB_SIZE (1u << SOFT_TLB_BITS)
static inline unsigned soft_tlb_idx(uint64_t lin)
{
	return (unsigned)(((lin >> 12) ^ (lin >> (12 + SOFT_TLB_BITS + 3))) &
			  (SOFT_TLB_SIZE - 1));
}
#define SOFT_TLB_INVALID (~0ull)
/* tag = page | SOFT_TLB_SLOW: a walk allowed the access, but each one
 * must still take the slow path (a write while dirty pages are logged or
 * to a page holding code; a page that is not RAM); no fast path matches
 * it, and mmu.c translate() skips the walk for it */
#define SOFT_TLB_SLOW 1ull
#define SOFT_TLB_NG_LOG 512
#define SOFT_TLB_FILL_LOG 256
#define SOFT_TLB_LARGE_LOG 64
struct soft_tlb_entry {
	uint64_t tag_r, tag_w, tag_x; /* linear page, or SOFT_TLB_INVALID */
	uintptr_t addend;             /* host = linear + addend */
	uint64_t gpa;                 /* guest-physical page */
	/* to 64 bytes: the JIT's inline lookup scales the index by a shift
	 * (jit.c emit_tlb), and an entry never straddles two cache lines
	 * of an aligned array */
	uint64_t pad[3];
};

/* Translated block (tb.c). */
#define SOFT_TB_MAX_INSNS 64
/* blocks entered from a branch before the executor looks at events */
#define SOFT_LINK_MAX 16
/* and compiled blocks entering compiled blocks directly (jit/jit.c: no
 * call, so no recursion to bound; interrupt latency alone) */
#define SOFT_JIT_LINK_MAX 256
struct soft_tb {
	uint64_t gpa;        /* physical address of the first byte */
	uint64_t gpa2;       /* second page when it crosses one, or ~0 */
	uint64_t lin;        /* linear address it was translated at */
	uint32_t key;        /* mode bits: code size */
	uint16_t ninsn;
	uint16_t nbytes;
	bool valid;
	/* a cold stub (tb.c run_cold): the start was executed once without
	 * a translation; no instructions, never chained or jump-cached */
	bool stub;
	/* 0, or the cross-vCPU shootdown generation (soft_vm.wgen) every
	 * other vCPU must acknowledge before the block may be chained or
	 * jump-cached: until then each entry checks its bytes (tb.c) */
	uint64_t wait_gen;
	struct soft_tb *hnext;      /* hash chain */
	struct soft_tb *pnext[2];   /* per-page lists (page 1, page 2) */
	struct soft_tb *chain[2];   /* last successors seen */
	uint64_t chain_rip[2];
	uint64_t chain_gen[2];
	uint8_t *bytes;             /* copy of the code bytes */
	struct soft_insn *insn;
	uint32_t hits;              /* executions counted for the JIT */
	bool jit_tried;             /* the JIT looked at it (jit/jit.c) */
	/* its compiled body (host code past the frame's prologue, entered
	 * by links between compiled blocks), 0 while not compiled */
	uintptr_t jit_body;
	/* once compiled: the most instructions one entry of its code
	 * retires with the link budgets at 0 (a self-loop runs many
	 * iterations per entry); tb.c's instruction limit reads it */
	uint32_t jit_max;
	/* the compiled block's entry points and register cache (struct
	 * jit_info, jit/jit.c: what a patched link needs), or NULL */
	void *jit_info;
};

struct soft_page {
	uint64_t gpa;            /* page number << 12 */
	struct soft_tb *blocks;  /* via pnext[0] or [1] */
	struct soft_page *next;
};

#define SOFT_TB_HASH_BITS 15
#define SOFT_TB_HASH (1u << SOFT_TB_HASH_BITS)
#define SOFT_JC_SIZE 1024
#define SOFT_PAGE_HASH 1024
#define SOFT_ARENA_SIZE (8u << 20)
/* the block cache grows by SOFT_ARENA_SIZE chunks up to this many before
 * it is flushed as a whole (tb.c): at most 32 MiB per vCPU */
#define SOFT_ARENA_CHUNKS 4

/*
 * Replay log of completed device reads (MMIO and IN) of one instruction.
 * Sized for the instruction with the most device accesses the soft
 * backend implements, so that no guest reaches the limit (the check in
 * io.c stays as a defensive internal stop): FXRSTOR/FXSAVE of a
 * 512-byte image in device memory goes byte by byte (soft_read_lin(),
 * soft_write_lin()), 512 accesses; a task switch (about 60 TSS and
 * descriptor accesses) and a call gate copying 31 parameters (about 70)
 * stay below.  1024 leaves room for both halves of an instruction split
 * across pages.  A REPE CMPS between two MMIO pages reads one element
 * per run (io.c), so string instructions are not the bound.
 */
#define SOFT_DEV_ACCESS_MAX 1024
#define SOFT_REPLAY_MAX SOFT_DEV_ACCESS_MAX
struct soft_replay {
	uint64_t addr;
	uint8_t len, is_io;
	uint8_t data[8];
};

/* struct soft_cpu.ev */
#define SEV_WQ 1u       /* a device write exit is queued */
#define SEV_REPLAY 2u   /* device reads were replayed: clear the log */
#define SEV_TBDIRTY 4u  /* the running block was invalidated */
#define SEV_MODE 8u     /* mode/CR change: leave the block */
#define SEV_DBG 16u     /* a data or I/O breakpoint hit (db_hits) */

/*
 * Queued write exits of one retired instruction.  One instruction can make
 * many device writes: PUSHA/ENTER/an interrupt frame with the stack in
 * MMIO, or an 8-byte store across a page boundary between two MMIO pages
 * (split into 8 byte writes).  4 stopped such guests with "too many device
 * writes in one instruction" (found by fuzz_virtio_hdr); 64 covered every
 * stack-frame and page-split case, but FXSAVE into MMIO (512 byte writes)
 * exceeded it: SOFT_DEV_ACCESS_MAX, above, bounds every instruction.
 */
#define SOFT_WQ_MAX SOFT_DEV_ACCESS_MAX

/*
 * The feature words of the VM's CPU model (vmm_config.cpu_model), set once
 * at create time: CPUID reports them and the instructions, CR4 and MSRs
 * check them.  See soft_features_init() in exec_sys.c.
 */
struct soft_features {
	uint32_t l1c, l1d;        /* CPUID 1 ECX, EDX */
	uint32_t l7b, l7c, l7d;   /* CPUID 7.0 EBX, ECX, EDX */
	uint32_t e1c, e1d;        /* CPUID 0x80000001 ECX, EDX */
	uint32_t e7d;             /* CPUID 0x80000007 EDX */
	uint64_t cr4_ok;          /* CR4 bits MOV to CR4 accepts */
};
#define SOFT_F_RDTSCP(f) (((f)->e1d >> 27) & 1)
#define SOFT_F_SMEP(f) (((f)->l7b >> 7) & 1)
#define SOFT_F_SMAP(f) (((f)->l7b >> 20) & 1)
#define SOFT_F_UMIP(f) (((f)->l7c >> 2) & 1)
#define SOFT_F_PKU(f) (((f)->l7c >> 3) & 1)
#define SOFT_F_PKS(f) (((f)->l7c >> 31) & 1)
#define SOFT_F_ARCH_CAP(f) (((f)->l7d >> 29) & 1)
#define SOFT_F_TSC_ADJUST(f) (((f)->l7b >> 1) & 1)
/* guest TSC rate: soft_tsc() counts nanoseconds */
#define SOFT_TSC_KHZ 1000000u

struct soft_vm {
	struct soft_irqchip *chip;  /* NULL with VMM_CFG_NO_IRQCHIP */
	struct soft_features feat;
	struct soft_clock clock;
	bool deterministic;
	atomic_uint epoch;          /* memory map changed: flush TLB + TBs */
	atomic_bool dirty_logging;
	/*
	 * Cross-vCPU code-page shootdown (tb.c): a vCPU that starts
	 * translating code from a page bumps @wgen; every other vCPU drops
	 * its writable TLB entries before it acknowledges (wack[index]), so
	 * its later writes to the page take the reporting slow path.  A vCPU
	 * outside guest execution (in_guest false: between runs, halted)
	 * acknowledges on its way back in.
	 */
	_Atomic uint64_t wgen;
	_Atomic uint64_t wack[VMM_MAX_VCPUS];
	atomic_bool in_guest[VMM_MAX_VCPUS];
	_Atomic uint64_t det_skip;  /* deterministic: time skipped in HLT */
	uint64_t tsc_origin;        /* host ns at creation: every vCPU's TSC
				       counts from it (they start in sync) */
	soft_fn handlers[0x400];    /* soft_insn.op -> handler */
};

struct soft_cpu {
	struct vmm_cpu_state st;
	uint32_t pkru;       /* protection-key rights (RDPKRU/WRPKRU) */
	uint32_t pkrs;       /* supervisor protection-key rights (MSR 0x6E1) */

	/* lazy flags */
	uint64_t lf_res, lf_a, lf_b;
	uint32_t lf_op, lf_size, lf_cin;

	/* derived from the state (soft_update_mode) */
	unsigned cpl;
	unsigned csz;        /* code size in bytes: 2, 4, 8 */
	unsigned ssz;        /* stack address size: 2, 4, 8 */
	bool lma, lm64, pe, vm86, paging;
	uint64_t segbase[6];
	uint32_t seglim[6];
	unsigned segchk;     /* segments needing limit checks on reads */
	unsigned segwchk;    /* ... on writes (also not writable) */
	/* outside 64-bit mode: segments that are not flat and writable with
	 * base 0 (SS: or the stack size is not 4); 64-bit mode: all.  The
	 * JIT's 32-bit code checks clear ones once at its entry (jit.c
	 * seg_fast); a change bumps chain_gen (soft_update_seg) */
	unsigned jit_segslow;
	unsigned tlb_user;   /* 1 at CPL3 */
	uint64_t ipmask;

	/* fault unwinding */
	void *jb[5];
	int fault_vec;
	uint32_t fault_err;
	bool fault_has_err;
	int delivering;      /* vector being delivered, or -1 */
	bool in_run;

	/* exits */
	struct vmm_exit exit;
	bool exit_pending;   /* cpu->exit is to be returned */
	struct vmm_exit wq[SOFT_WQ_MAX];
	int wq_n, wq_head;
	uint8_t iobuf[8 * SOFT_WQ_MAX];
	uint8_t rdbuf[8];    /* io.data / mmio.data of a read exit */
	bool read_pending;   /* rdbuf holds the answer for the next replay */
	struct soft_replay replay[SOFT_REPLAY_MAX];
	int replay_n, replay_pos;
	bool replaying;

	/* per-instruction events the executor looks at (SEV_*) */
	unsigned ev;

	/* an event vmm_vcpu_set_state() handed over, delivered at the next run */
	int pend_vec;        /* -1: none */
	int pend_kind;       /* EV_* */
	bool pend_has_err;
	uint32_t pend_err;

	/* events */
	unsigned poll_count; /* block boundaries until the next irqchip poll */
	unsigned link_left;  /* blocks a branch may still enter directly */
	unsigned jit_link_left; /* of which compiled code (SOFT_JIT_LINK_MAX) */
	bool shadow;         /* STI / MOV SS interrupt shadow */
	bool rf_keep;        /* the instruction set RFLAGS.RF for the next */
	bool db_ibp;         /* the #DB being raised is an instruction bp */
	bool single_step;
	bool sw_bp;          /* INT3 exits as VMM_EXIT_DEBUG (debuggers) */
	bool halted;

	/* time */
	uint64_t icount;     /* retired instructions */
	/* vmm_vcpu_set_insn_limit(): stop once icount reaches limit_at
	 * (tb.c: blocks that could pass it are not entered whole) */
	bool limit_on;
	uint64_t limit_at;
	int64_t tsc_offset;
	uint64_t tsc_read;   /* the TSC the last get_state returned */
	int64_t tsc_adjust;  /* IA32_TSC_ADJUST (not in vmm_cpu_state: a
				restored vCPU reads 0, as after reset) */

	/* soft MMU */
	struct soft_tlb_entry tlb[2][SOFT_TLB_SIZE];
	/* second way: the entry tlb[][] last evicted from the same index,
	 * looked at on a miss before walking (mmu.c) */
	struct soft_tlb_entry tlb_victim[2][SOFT_TLB_SIZE];
	/* the guest pages (bit (gpa >> 12) % 256) of the write entries
	 * (tag_w) filled since the last full flush: a page becoming code
	 * whose bit is clear has none to drop, and tb.c page_add skips the
	 * scan of both TLBs (fuzz_decoder rewrites its code page for every
	 * input while writes to its stack page keep write entries) */
	uint64_t tlb_w_pages[4];
	/* every slot (user << SOFT_TLB_BITS | index) filled since the last
	 * full flush, each once (tlb_fill_bits): a full flush resets only
	 * those entries (and the second way at their index) instead of all
	 * 160 KiB of both TLBs (a vCPU state load flushes: once per input in
	 * the fuzz harnesses' reset); tlb_fill_ok is false until the first
	 * full flush, and a count above SOFT_TLB_FILL_LOG means "all" */
	uint16_t tlb_fill[SOFT_TLB_FILL_LOG];
	unsigned tlb_fill_n;
	bool tlb_fill_ok;
	uint64_t tlb_fill_bits[2 * SOFT_TLB_SIZE / 64];
	/* slots (user << SOFT_TLB_BITS | index) filled with non-global
	 * translations since the last flush, each once (tlb_ng_bits): a CR3
	 * load drops only those (soft_tlb_flush_nonglobal); a count above
	 * SOFT_TLB_NG_LOG means "too many, flush all" */
	uint16_t tlb_ng[SOFT_TLB_NG_LOG];
	unsigned tlb_ng_n;
	bool tlb_ng_exec; /* one of them was filled for a fetch */
	uint64_t tlb_ng_bits[2 * SOFT_TLB_SIZE / 64];
	/* large pages (base | log2 size) translated since the last full
	 * flush: INVLPG of an address in one flushes all; a count above
	 * SOFT_TLB_LARGE_LOG means "unknown" */
	uint64_t tlb_large[SOFT_TLB_LARGE_LOG];
	unsigned tlb_large_n;
	uint32_t tlb_gen;
	uint64_t chain_gen;  /* chained successors valid while unchanged */
	unsigned epoch;

	/* block cache */
	struct soft_tb *tb_hash[SOFT_TB_HASH];
	struct soft_page *page_hash[SOFT_PAGE_HASH];
	uint8_t *arena;      /* the chunk blocks are allocated from */
	size_t arena_used;   /* bytes used in it */
	uint8_t *arena_chunk[SOFT_ARENA_CHUNKS];
	unsigned arena_nchunks, arena_cur;
	uint64_t wseen;      /* soft_vm.wgen this vCPU last acknowledged */
	uint64_t wok;        /* every other vCPU acknowledged up to this */
	uint64_t code_seen;  /* code-ring position (vmm_gmem_code_take) */
	struct soft_tb *cur_tb;
	/* jump cache: the block last found at a linear address, valid while
	 * chain_gen is unchanged (indirect branches, chain misses) */
	struct soft_jc {
		uint64_t lin;
		struct soft_tb *tb;
		uint64_t gen;
	} jc[SOFT_JC_SIZE];

	/* JIT tier (jit/jit.c): code buffer mapped writable (jit_rw) and
	 * executable (jit_rx), bytes used, hot threshold */
	bool jit_on, jit_full;
	uint32_t jit_thr;
	uint32_t jit_cf;     /* scratch: CF before an INC/DEC */
	/* scratch: a memory operand translated as a register (the value,
	 * its host pointer; jit.c JIT_TMP_REG) */
	uint64_t jit_tmp, jit_ptr;
	uint8_t *jit_rw, *jit_rx;
	size_t jit_used;
	uint64_t st_jit_blocks;
	/* direct links patched to jump straight into their successor's
	 * code (jit/jit.c soft_jit_link): the rel32s' offsets in the code
	 * buffer, all made while chain_gen was jit_pgen (undone before any
	 * compiled code runs at another chain_gen) */
	uint32_t *jit_patch;
	unsigned jit_npatch;
	uint64_t jit_pgen;
	uint64_t st_jit_patches, st_jit_unpatch_all;
	/* instructions compiled blocks ran through the interpreter
	 * (emit_interp: forms the translator does not handle) */
	uint64_t st_jit_fallbacks;
	/* -Djit_profile=true: the same by opcode, (op << 3 | ModRM.reg)
	 * (jit.c, logged at teardown), else NULL */
	uint64_t *jit_prof;

	/* soft_thread_pick() (exec_fast.c): the threaded twin found for a
	 * handler by the families' linear scans, remembered by handler
	 * (fn == NULL: empty slot; run == soft_thunk: none); per vCPU, as
	 * vCPUs translate concurrently */
	struct soft_twin_memo {
		soft_fn fn, run;
	} twin_memo[256];

	/* statistics (vmm_vcpu_get_stats()); icount above */
	uint64_t st_tb_translated, st_tb_invalidated, st_tb_flushes;
	/* blocks run once without a translation (tb.c run_cold) */
	uint64_t st_tb_cold;
	uint64_t st_halts, st_halt_ns; /* waits in events_slow (tb.c) */
	uint64_t pause_last, pause_spins, st_pause_yields; /* soft_pause */
	uint64_t st_tlb_hits, st_tlb_misses;

	vmm_vcpu *vcpu;
	vmm_vm *vm;
	struct soft_vm *svm;

	/* debug registers (dbg.c); kept out of the hot fields above */
	bool ss_shadow_now;  /* the instruction was MOV SS / POP SS */
	bool step_tf;        /* TF was set before the one instruction run */
	uint8_t dr_exec, dr_data, dr_io; /* enabled breakpoints */
	uint32_t db_hits;    /* data/I-O breakpoints hit by the instruction */
	uint64_t dr_sig;     /* data breakpoint set the TLB was built for */
	/* the debugger's own breakpoints (vmm_vcpu_set_hw_breakpoints()),
	 * bits 4-7 of dr_exec/dr_data/db_hits; a hit exits, the guest's
	 * DR0-DR7 stay the guest's */
	struct vmm_hw_bp hbp[4];
	uint8_t hbp_hits;    /* debugger slots hit, exit before going on */
	bool hbp_skip;       /* the next instruction ignores exec slots */
};

/* The jump cache slot of linear address @lin. */
static inline unsigned soft_jc_idx(uint64_t lin)
{
	return (unsigned)((lin ^ (lin >> 10)) & (SOFT_JC_SIZE - 1));
}

static inline struct soft_cpu *soft_of(vmm_vcpu *vcpu)
{
	return vcpu->backend;
}

static inline struct soft_vm *soft_vm_of(vmm_vm *vm)
{
	return vm->backend;
}

/* ---- faults (except.c) ---- */
__attribute__((noreturn)) void soft_fault(struct soft_cpu *c, int vec,
					  uint32_t err);
__attribute__((noreturn)) void soft_fault_noerr(struct soft_cpu *c, int vec);
__attribute__((noreturn)) void soft_unwind(struct soft_cpu *c);
/*
 * soft_stop_emulation() - stop the vCPU with VMM_EXIT_INTERNAL, reason
 * EMULATION (something the backend does not emulate): data[0] = @data0,
 * data[1] = RIP, the message from @fmt.  The instruction is not retired.
 */
__attribute__((noreturn, format(printf, 3, 4))) void
soft_stop_emulation(struct soft_cpu *c, uint64_t data0, const char *fmt, ...);
/*
 * soft_stop_internal() - the same with reason BACKEND: a limit of the
 * backend itself was reached.  No guest can reach one (each is sized for
 * the worst instruction, see SOFT_DEV_ACCESS_MAX); they stay as defensive
 * checks, and fuzz_sysseq aborts on any of them.
 */
__attribute__((noreturn, format(printf, 3, 4))) void
soft_stop_internal(struct soft_cpu *c, uint64_t data0, const char *fmt, ...);
#define soft_ud(c) soft_fault_noerr(c, 6)
#define soft_gp(c, e) soft_fault(c, 13, e)
/* Deliver exception / interrupt @vec (software INT if @soft: DPL check). */
enum { EV_EXC = 0, EV_EXT = 1, EV_SOFT = 2, EV_INT3 = 3 };
/* dbg.c: debug registers */
void soft_dr_update(struct soft_cpu *c);
bool soft_dr_watched_page(const struct soft_cpu *c, uint64_t page);
void soft_dr_data(struct soft_cpu *c, uint64_t lin, unsigned size, bool write);
void soft_dr_io(struct soft_cpu *c, uint16_t port, unsigned size);
uint32_t soft_dr_exec(const struct soft_cpu *c);
/* after an instruction: deliver the #DB trap of its data/I-O breakpoint
 * hits and of TF (@tf), unless it was MOV SS / POP SS */
void soft_db_trap(struct soft_cpu *c, bool tf);
/* set the debugger's hardware breakpoints (validated by the core) */
void soft_hbp_set(struct soft_cpu *c, const struct vmm_hw_bp *bp, unsigned n);
int soft_deliver(struct soft_cpu *c, int vec, bool has_err, uint32_t err,
		 int kind, uint64_t next_rip);
/* A fault unwound to the executor: deliver it (maybe #DF / shutdown). */
int soft_handle_fault(struct soft_cpu *c);

/* ---- mode (backend.c) ---- */
void soft_update_mode(struct soft_cpu *c);
void soft_update_seg(struct soft_cpu *c, int s);

/* ---- flags.c ---- */
uint64_t soft_get_flags(struct soft_cpu *c);
void soft_set_flags(struct soft_cpu *c, uint64_t f);   /* arith bits */
static inline void soft_flags_commit(struct soft_cpu *c)
{
	if (c->lf_op != LF_NONE)
		soft_set_flags(c, soft_get_flags(c));
}
bool soft_cond(struct soft_cpu *c, unsigned cc);
/* CF alone (INC/DEC keep it) */
unsigned soft_get_cf(struct soft_cpu *c);
unsigned soft_parity(uint8_t v);
static inline void soft_lf(struct soft_cpu *c, unsigned op, unsigned size,
			   uint64_t res, uint64_t a, uint64_t b)
{
	c->lf_op = op;
	c->lf_size = size;
	c->lf_res = res;
	c->lf_a = a;
	c->lf_b = b;
}
/* Set all arithmetic flags at once from computed values. */
static inline void soft_flags_set_arith(struct soft_cpu *c, unsigned bits)
{
	c->lf_op = LF_NONE;
	c->st.rflags = (c->st.rflags & ~(uint64_t)FL_ARITH) | bits;
}
/* ZF/SF/PF of a result of @size bytes. */
unsigned soft_szp(uint64_t res, unsigned size);

static inline uint64_t soft_mask(unsigned size)
{
	return size == 8 ? ~0ull : (1ull << (size * 8)) - 1;
}
static inline uint64_t soft_sext(uint64_t v, unsigned size)
{
	switch (size) {
	case 1: return (uint64_t)(int64_t)(int8_t)v;
	case 2: return (uint64_t)(int64_t)(int16_t)v;
	case 4: return (uint64_t)(int64_t)(int32_t)v;
	}
	return v;
}
static inline uint64_t soft_sign(unsigned size)
{
	return 1ull << (size * 8 - 1);
}

/* ---- registers ---- */
static inline uint64_t soft_reg(struct soft_cpu *c, unsigned r, unsigned size)
{
	return c->st.gpr[r] & soft_mask(size);
}
static inline void soft_set_reg(struct soft_cpu *c, unsigned r, unsigned size,
				uint64_t v)
{
	switch (size) {
	case 1: c->st.gpr[r] = (c->st.gpr[r] & ~0xffull) | (v & 0xff); break;
	case 2: c->st.gpr[r] = (c->st.gpr[r] & ~0xffffull) | (v & 0xffff); break;
	case 4: c->st.gpr[r] = (uint32_t)v; break;
	default: c->st.gpr[r] = v; break;
	}
}
/* byte registers: 0-15 low bytes, 16-19 AH CH DH BH */
static inline uint8_t soft_reg8(struct soft_cpu *c, unsigned r)
{
	if (r >= 16)
		return (uint8_t)(c->st.gpr[r - 16] >> 8);
	return (uint8_t)c->st.gpr[r];
}
static inline void soft_set_reg8(struct soft_cpu *c, unsigned r, uint8_t v)
{
	if (r >= 16)
		c->st.gpr[r - 16] = (c->st.gpr[r - 16] & ~0xff00ull) |
				    ((uint64_t)v << 8);
	else
		c->st.gpr[r] = (c->st.gpr[r] & ~0xffull) | v;
}
/* The reg operand / the rm register operand, of size i->osz. */
static inline uint64_t soft_greg(struct soft_cpu *c, const struct soft_insn *i)
{
	return i->osz == 1 ? soft_reg8(c, i->reg8) : soft_reg(c, i->reg, i->osz);
}
static inline void soft_sreg_(struct soft_cpu *c, const struct soft_insn *i,
			      uint64_t v)
{
	if (i->osz == 1)
		soft_set_reg8(c, i->reg8, (uint8_t)v);
	else
		soft_set_reg(c, i->reg, i->osz, v);
}

/* ---- memory (mmu.c) ---- */
/* Effective address (offset in the segment) of @i's memory operand. */
static inline uint64_t soft_ea(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t a = (uint64_t)i->disp;

	if (i->base != SOFT_NOREG)
		a += i->base == SOFT_RIPREL ? c->st.rip + i->len :
					      c->st.gpr[i->base];
	if (i->index != SOFT_NOREG)
		a += c->st.gpr[i->index] << i->scale;
	if (i->asz == 8)
		return a;
	return a & soft_mask(i->asz);
}
uint64_t soft_lin(struct soft_cpu *c, unsigned seg, uint64_t off,
		  unsigned size, bool write);
uint64_t soft_ld_slow(struct soft_cpu *c, uint64_t lin, unsigned size,
		      bool user);
void soft_st_slow(struct soft_cpu *c, uint64_t lin, unsigned size,
		  uint64_t v, bool user);
/* system accesses (descriptor tables, TSS, IDT): supervisor, linear */
uint64_t soft_ld_sys(struct soft_cpu *c, uint64_t lin, unsigned size);
void soft_st_sys(struct soft_cpu *c, uint64_t lin, unsigned size, uint64_t v);
/* PAUSE with more than one vCPU: yields the host CPU in a spin loop. */
void soft_pause(struct soft_cpu *c);
/* Drop every TLB entry (and every chained successor). */
void soft_tlb_flush(struct soft_cpu *c);
/* A CR3 load without PCIDs: drop the non-global TLB entries (all of them
 * while CR4.PGE is clear, since then no fill counts as global). */
void soft_tlb_flush_nonglobal(struct soft_cpu *c);
/* INVLPG: drop the translations of the page that holds linear @lin. */
void soft_tlb_flush_page(struct soft_cpu *c, uint64_t lin);
/* Translate for instruction fetch: host pointer to the page, sets *gpa. */
const uint8_t *soft_fetch_page(struct soft_cpu *c, uint64_t lin,
			       uint64_t *gpa);
/* Read / write @len bytes at a linear address (slow, page-splitting). */
void soft_read_lin(struct soft_cpu *c, uint64_t lin, void *buf, unsigned len,
		   bool user);
void soft_write_lin(struct soft_cpu *c, uint64_t lin, const void *buf,
		    unsigned len, bool user);

/*
 * Guest-memory access at a host pointer, the way the CPU makes it: a
 * naturally aligned 2-, 4- or 8-byte load or store is one access (SDM Vol.
 * 3A 9.1.1), so another vCPU (or a device thread) sees the old value or
 * the new one, never half of each.  memcpy() does not promise that: at -O0
 * with -fno-builtin, or under ASan (__asan_memcpy -> glibc), a 2-byte copy
 * is two loads and two stores (src/mem/guest_copy.h has the story).  The
 * aligned cases are relaxed atomics (one plain MOV on x86-64 at every
 * optimisation level); misaligned ones stay memcpy() (tests/unit/soft/
 * test_access.c counts the accesses with a hardware watchpoint).
 */
static inline uint64_t soft_ldh(const void *p, unsigned size)
{
	uintptr_t a = (uintptr_t)p;

	switch (size) {
	case 1: return *(const uint8_t *)p;
	case 2:
		if (!(a & 1))
			return __atomic_load_n((const uint16_t *)p,
					       __ATOMIC_RELAXED);
		{ uint16_t v; memcpy(&v, p, 2); return v; }
	case 4:
		if (!(a & 3))
			return __atomic_load_n((const uint32_t *)p,
					       __ATOMIC_RELAXED);
		{ uint32_t v; memcpy(&v, p, 4); return v; }
	default:
		if (!(a & 7))
			return __atomic_load_n((const uint64_t *)p,
					       __ATOMIC_RELAXED);
		{ uint64_t v; memcpy(&v, p, 8); return v; }
	}
}
static inline void soft_sth(void *p, unsigned size, uint64_t v)
{
	uintptr_t a = (uintptr_t)p;

	switch (size) {
	case 1: *(uint8_t *)p = (uint8_t)v; break;
	case 2:
		if (!(a & 1))
			__atomic_store_n((uint16_t *)p, (uint16_t)v,
					 __ATOMIC_RELAXED);
		else {
			uint16_t w = (uint16_t)v;
			memcpy(p, &w, 2);
		}
		break;
	case 4:
		if (!(a & 3))
			__atomic_store_n((uint32_t *)p, (uint32_t)v,
					 __ATOMIC_RELAXED);
		else {
			uint32_t w = (uint32_t)v;
			memcpy(p, &w, 4);
		}
		break;
	default:
		if (!(a & 7))
			__atomic_store_n((uint64_t *)p, v, __ATOMIC_RELAXED);
		else
			memcpy(p, &v, 8);
		break;
	}
}

/* Linear address of @seg:@off (masked, limit-checked outside 64-bit). */
static inline uint64_t soft_lin_fast(struct soft_cpu *c, unsigned seg,
				     uint64_t off, unsigned size, bool write)
{
	if (likely(c->lm64)) {
		uint64_t lin = c->segbase[seg] + off;
		/* a non-canonical stack reference is #SS(0), not #GP(0) (the
		 * TLB miss path raises #GP for the other segments) */
		if (unlikely(seg == VMM_SS) &&
		    unlikely((uint64_t)((int64_t)(lin << 16) >> 16) != lin))
			soft_fault(c, 12, 0);
		return lin;
	}
	if (unlikely((write ? c->segwchk : c->segchk) & (1u << seg)))
		return soft_lin(c, seg, off, size, write);
	return (uint32_t)(c->segbase[seg] + off);
}

static inline uint64_t soft_ld_lin(struct soft_cpu *c, uint64_t lin,
				   unsigned size)
{
	struct soft_tlb_entry *e =
		&c->tlb[c->tlb_user][soft_tlb_idx(lin)];
	if (likely(e->tag_r == (lin & ~0xfffull) &&
		   (lin & 0xfff) <= 4096u - size)) {
		c->st_tlb_hits++;
		return soft_ldh((void *)(uintptr_t)(lin + e->addend), size);
	}
	return soft_ld_slow(c, lin, size, c->tlb_user);
}
static inline void soft_st_lin(struct soft_cpu *c, uint64_t lin, unsigned size,
			       uint64_t v)
{
	struct soft_tlb_entry *e =
		&c->tlb[c->tlb_user][soft_tlb_idx(lin)];
	if (likely(e->tag_w == (lin & ~0xfffull) &&
		   (lin & 0xfff) <= 4096u - size)) {
		c->st_tlb_hits++;
		soft_sth((void *)(uintptr_t)(lin + e->addend), size, v);
		return;
	}
	soft_st_slow(c, lin, size, v, c->tlb_user);
}
static inline uint64_t soft_ld(struct soft_cpu *c, unsigned seg, uint64_t off,
			       unsigned size)
{
	return soft_ld_lin(c, soft_lin_fast(c, seg, off, size, false), size);
}
static inline void soft_st(struct soft_cpu *c, unsigned seg, uint64_t off,
			   unsigned size, uint64_t v)
{
	soft_st_lin(c, soft_lin_fast(c, seg, off, size, true), size, v);
}
/* Check that a later store of @size bytes at seg:off will not fault. */
void soft_probe_write(struct soft_cpu *c, unsigned seg, uint64_t off,
		      unsigned size);

/* r/m operand of size i->osz */
static inline uint64_t soft_rm(struct soft_cpu *c, const struct soft_insn *i)
{
	if (i->mod == 3)
		return i->osz == 1 ? soft_reg8(c, i->rm8) :
				     soft_reg(c, i->rm, i->osz);
	return soft_ld(c, i->seg, soft_ea(c, i), i->osz);
}
static inline void soft_set_rm(struct soft_cpu *c, const struct soft_insn *i,
			       uint64_t v)
{
	if (i->mod == 3) {
		if (i->osz == 1)
			soft_set_reg8(c, i->rm8, (uint8_t)v);
		else
			soft_set_reg(c, i->rm, i->osz, v);
		return;
	}
	soft_st(c, i->seg, soft_ea(c, i), i->osz, v);
}

/* ---- stack (exec_stack.c) ---- */
void soft_push(struct soft_cpu *c, unsigned size, uint64_t v);
uint64_t soft_pop(struct soft_cpu *c, unsigned size);
/* Peek at [RSP + @off] without changing RSP. */
uint64_t soft_peek(struct soft_cpu *c, unsigned off, unsigned size);
static inline uint64_t soft_sp_mask(struct soft_cpu *c)
{
	return soft_mask(c->ssz);
}

/* ---- segments (seg.c) ---- */
/* Load a data/stack segment register in the current mode (MOV, POP, LDS). */
void soft_load_seg(struct soft_cpu *c, int s, uint16_t sel);
/* Read an 8-byte descriptor of @sel; faults with @vec(sel) if outside. */
uint64_t soft_read_desc(struct soft_cpu *c, uint16_t sel, int vec);
/* Fill @seg from the descriptor halves. */
void soft_desc_to_seg(struct vmm_segment *seg, uint16_t sel, uint64_t d);
/* far transfers (JMP/CALL/RET far, IRET) */
int soft_far_jmp(struct soft_cpu *c, uint16_t sel, uint64_t off,
		 const struct soft_insn *i, bool call);
int soft_far_ret(struct soft_cpu *c, unsigned osz, uint16_t extra);
int soft_iret(struct soft_cpu *c, unsigned osz, uint64_t next_rip);
/* Task switch to the TSS of @sel (task.c); @ext is the EXT error bit. */
enum { SOFT_TS_JMP, SOFT_TS_CALL, SOFT_TS_IRET, SOFT_TS_INT };
int soft_task_switch(struct soft_cpu *c, uint16_t sel, int src,
		     uint64_t next_eip, bool has_err, uint32_t err,
		     uint32_t ext);
void soft_set_cs_real(struct soft_cpu *c, uint16_t sel);
void soft_seg_real(struct vmm_segment *s, uint16_t sel);
void soft_mark_accessed(struct soft_cpu *c, uint16_t sel, uint64_t d);

/* ---- I/O and misc (io.c) ---- */
/* Port read: returns the value, or unwinds to an IO exit. */
uint64_t soft_io_in(struct soft_cpu *c, uint16_t port, unsigned size);
/* Finish an answered read exit's instruction without running on. */
int soft_complete_io(struct soft_cpu *c);
/* Port write: queues the exit (returned after the instruction retires). */
void soft_io_out(struct soft_cpu *c, uint16_t port, unsigned size,
		 uint64_t v);
/* IOPL / TSS permission check for @port..@port+@size. */
void soft_io_check(struct soft_cpu *c, uint16_t port, unsigned size);
/* MMIO through the bus exit protocol (mmu.c calls these). */
uint64_t soft_mmio_read(struct soft_cpu *c, uint64_t gpa, unsigned size);
void soft_mmio_write(struct soft_cpu *c, uint64_t gpa, unsigned size,
		     uint64_t v);

/* ---- control registers, MSRs, time (exec_sys.c) ---- */
uint64_t soft_tsc(struct soft_cpu *c);
int soft_write_cr(struct soft_cpu *c, int cr, uint64_t v);
/* Fill svm->feat for vm->cfg.cpu_model; -ENOTSUP (with a message). */
int soft_features_init(vmm_vm *vm, struct soft_vm *svm);
void soft_cpuid(struct soft_cpu *c, uint32_t leaf, uint32_t sub,
		uint32_t r[4]);

/* ---- translated blocks (tb.c) ---- */
int soft_tb_init(struct soft_cpu *c);
void soft_tb_fini(struct soft_cpu *c);
void soft_tb_flush(struct soft_cpu *c);
/* A write hit physical page @gpa: drop its blocks; true if it had some. */
bool soft_tb_page_write(struct soft_cpu *c, uint64_t gpa);
bool soft_tb_is_code(struct soft_cpu *c, uint64_t gpa);
/* A serializing instruction (CPUID): when other vCPUs or devices reported
 * written code pages, end the block after it so that the executor drops
 * their blocks before the next instruction (the cross-modifying-code
 * protocol of SDM vol. 3 8.1.3: the new code runs after it). */
void soft_tb_serialize(struct soft_cpu *c);
/* @n bytes from the block cache's arena (freed with it), or NULL */
void *soft_tb_alloc(struct soft_cpu *c, size_t n);
/* Run until an exit; fills @exit. */
int soft_exec(struct soft_cpu *c, struct vmm_exit *exit);

/* exec helpers shared by families */
int soft_jump(struct soft_cpu *c, uint64_t target, unsigned osz);

#endif
