/* SPDX-License-Identifier: MIT */
/*
 * libvmm/vcpu.h - vCPUs: create, run, the tagged exit, kick, state, the run
 * loop and running all vCPUs of a VM on threads.
 */
#ifndef LIBVMM_VCPU_H
#define LIBVMM_VCPU_H

#include <libvmm/common.h>
#include <libvmm/state.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Why vmm_vcpu_run() returned. */
enum vmm_exit_kind {
	VMM_EXIT_NONE = 0,
	VMM_EXIT_IO,          /**< port I/O: exit.io */
	VMM_EXIT_MMIO,        /**< access to guest-physical space without RAM */
	VMM_EXIT_HLT,         /**< HLT with no interrupt controller to wait on */
	VMM_EXIT_SHUTDOWN,    /**< triple fault or shutdown cycle */
	VMM_EXIT_HYPERCALL,   /**< exit.hypercall */
	VMM_EXIT_DEBUG,       /**< breakpoint / single step: exit.debug */
	VMM_EXIT_INTERRUPTED, /**< vmm_vcpu_kick() (a signal alone never) */
	VMM_EXIT_INTERNAL,    /**< the backend could not continue: exit.internal */
	VMM_EXIT_GUEST_EXIT,  /**< guest wrote the debug-exit port: exit.guest */
	VMM_EXIT_RESET,       /**< guest asked for a system reset */
	VMM_EXIT_POWEROFF,    /**< guest asked to power off */
	VMM_EXIT_FAIL_ENTRY,  /**< hardware refused the state: exit.internal */
	VMM_EXIT_INSN_LIMIT,  /**< vmm_vcpu_set_insn_limit()'s count retired */
	VMM_EXIT__COUNT
};

/** Reasons in exit.internal.reason. */
enum vmm_internal_reason {
	VMM_INTERNAL_UNKNOWN = 0,
	VMM_INTERNAL_EMULATION,    /**< instruction the backend cannot emulate */
	VMM_INTERNAL_INVALID_STATE, /**< state refused at entry */
	VMM_INTERNAL_DEVICE,       /**< a device handler failed */
	VMM_INTERNAL_BACKEND,      /**< backend error, see exit.internal.code */
	VMM_INTERNAL_STOPPED,      /**< a vCPU thread was told to stop */
};

/**
 * struct vmm_exit - the tagged result of one vmm_vcpu_run().
 *
 * For IO reads and MMIO reads the embedder writes the value into io.data /
 * mmio.data before the next vmm_vcpu_run(); the backend completes the
 * instruction with it.  io.data points at size*count bytes, mmio.data at len
 * bytes, both owned by the vCPU and valid until the next vmm_vcpu_run().
 *
 * The union is padded to a fixed size (the struct is VMM_EXIT_SIZE bytes),
 * so a later release can add exit kinds with larger payloads without
 * changing the size of a struct vmm_exit the caller allocates.
 */
#define VMM_EXIT_SIZE 256
struct vmm_exit {
	enum vmm_exit_kind kind;
	union {
		struct {
			uint16_t port;
			uint8_t size;     /* 1, 2 or 4 */
			uint8_t is_write;
			uint32_t count;   /* > 1 for REP INS/OUTS */
			uint8_t *data;    /* size * count bytes */
		} io;
		struct {
			vmm_gpa_t gpa;
			uint32_t len;     /* 1..8 */
			uint8_t is_write;
			uint8_t *data;    /* len bytes */
		} mmio;
		struct {
			uint64_t nr;
			uint64_t args[6];
			uint64_t ret;     /* returned to the guest */
		} hypercall;
		struct {
			uint32_t exception; /* 1 = #DB, 3 = #BP */
			uint64_t pc;
			uint64_t dr6, dr7;
		} debug;
		struct {
			uint32_t reason;  /* enum vmm_internal_reason */
			int32_t code;     /* backend-specific detail */
			uint64_t data[4];
			char msg[96];
		} internal;
		struct {
			uint32_t status;  /* QEMU isa-debug-exit: (value << 1) | 1 */
			uint32_t value;   /* what the guest wrote */
		} guest;
		uint64_t _reserved[(VMM_EXIT_SIZE - 8) / 8]; /* fixes the size */
	};
};
#ifdef __cplusplus
static_assert(sizeof(struct vmm_exit) == VMM_EXIT_SIZE, "vmm_exit size is ABI");
#else
_Static_assert(sizeof(struct vmm_exit) == VMM_EXIT_SIZE, "vmm_exit size is ABI");
#endif

/** vmm_exit_name() - "io", "mmio", "hlt", ... */
VMM_API const char *vmm_exit_name(enum vmm_exit_kind kind);

/**
 * vmm_vcpu_create() - create vCPU @index (0 .. ncpus-1) of @vm.
 *
 * The vCPU starts in the architectural reset state (vmm_state_reset()).
 * It lives until vmm_vm_destroy().  -EEXIST if @index exists, -EINVAL if
 * out of range.
 */
VMM_API VMM_MUST_CHECK int vmm_vcpu_create(vmm_vm *vm, unsigned index,
					   vmm_vcpu **out);

/** vmm_vm_get_vcpu() - the vCPU @index of @vm, or NULL. */
VMM_API vmm_vcpu *vmm_vm_get_vcpu(vmm_vm *vm, unsigned index);

/** vmm_vcpu_index() / vmm_vcpu_vm() - back-references. */
VMM_API unsigned vmm_vcpu_index(const vmm_vcpu *vcpu);
VMM_API vmm_vm *vmm_vcpu_vm(vmm_vcpu *vcpu);

/**
 * vmm_vcpu_run() - run the guest until the next exit the library does not
 * complete itself, and describe it in @exit.
 *
 * This is the raw step: device accesses are returned, not dispatched (see
 * vmm_vcpu_run_loop()).  Returns 0 with @exit filled, or a negative errno
 * if the backend failed (the vCPU is then not runnable; see
 * vmm_last_error()).  Only one thread may run a given vCPU at a time.
 */
VMM_API VMM_MUST_CHECK int vmm_vcpu_run(vmm_vcpu *vcpu, struct vmm_exit *exit);

/**
 * vmm_vcpu_run_loop() - run, dispatching port I/O and MMIO exits to the
 * devices registered on the VM's bus, until an exit the embedder must see
 * (HLT without irqchip, shutdown, guest exit, kick, debug, unhandled I/O
 * unless VMM_CFG_IGNORE_UNHANDLED_IO, internal errors ...).
 */
VMM_API VMM_MUST_CHECK int vmm_vcpu_run_loop(vmm_vcpu *vcpu,
					     struct vmm_exit *exit);

/**
 * vmm_vcpu_kick() - make a running (or about to run) vmm_vcpu_run() return
 * VMM_EXIT_INTERRUPTED soon.  Safe from any thread and from signal
 * handlers.  A kick that arrives while the vCPU is not running makes the
 * next run return at once (it is never lost).  Signals do not stop a vCPU
 * by themselves (the backend re-enters the guest after an interruption
 * nobody asked for): to stop on a signal, call this from its handler.
 */
VMM_API int vmm_vcpu_kick(vmm_vcpu *vcpu);

/** vmm_vcpu_get_state() - read the full architectural state. */
VMM_API VMM_MUST_CHECK int vmm_vcpu_get_state(vmm_vcpu *vcpu,
					      struct vmm_cpu_state *st);

/**
 * vmm_vcpu_set_state() - write the full architectural state.  -EINVAL if
 * @st->version is unknown or the state is architecturally invalid.
 */
VMM_API VMM_MUST_CHECK int vmm_vcpu_set_state(vmm_vcpu *vcpu,
					      const struct vmm_cpu_state *st);

/**
 * vmm_vcpu_get_xstate() - read the state struct vmm_cpu_state has no field
 * for (PKRU, PKRS) into @xs (set @xs->struct_size first).  @xs->valid says
 * which fields this backend and CPU model have: the software backend has
 * PKRU and PKRS (its "max" model implements PKU and PKS); KVM has PKRU
 * when the host CPU and KVM support PKU (XSAVE component 9) and never
 * PKRS.  Returns 0, or -EINVAL for a NULL
 * argument or a bad @struct_size.
 */
VMM_API VMM_MUST_CHECK int vmm_vcpu_get_xstate(vmm_vcpu *vcpu,
					       struct vmm_cpu_xstate *xs);

/**
 * vmm_vcpu_set_xstate() - write the fields of @xs named in @xs->valid.
 * Setting a field the backend does not have is accepted when the value is
 * its reset value (so a snapshot of a vCPU that never used it restores
 * anywhere), else -ENOTSUP with a message; unknown @valid bits or a
 * nonzero reserved field give -EINVAL.  (PKRS sits where an earlier
 * libvmm had a reserved field; a nonzero PKRS without VMM_XSTATE_PKRS
 * is ignored.)
 */
VMM_API VMM_MUST_CHECK int vmm_vcpu_set_xstate(vmm_vcpu *vcpu,
					       const struct vmm_cpu_xstate *xs);

/** Access kinds for vmm_vcpu_translate(). */
#define VMM_ACCESS_WRITE (1u << 0)
#define VMM_ACCESS_USER (1u << 1)
#define VMM_ACCESS_EXEC (1u << 2)

/**
 * vmm_vcpu_translate() - translate @gva through the page tables the vCPU
 * currently uses (none, 32-bit, PAE or 4-level, per its CR0/CR4/EFER),
 * checking @access (VMM_ACCESS_*).  Accessed/dirty bits are not changed.
 * Returns 0, or -EFAULT when not mapped, not permitted or with reserved
 * bits set (as a page fault would).  A page-table entry outside guest RAM
 * reads as all-ones (open bus), as the guest's own accesses see it.
 */
VMM_API int vmm_vcpu_translate(vmm_vcpu *vcpu, vmm_gva_t gva, unsigned access,
			       vmm_gpa_t *gpa);

/** vmm_vcpu_set_single_step() - trap after every instruction (DEBUG exit). */
VMM_API int vmm_vcpu_set_single_step(vmm_vcpu *vcpu, bool on);

/**
 * vmm_vcpu_set_insn_limit() - stop @vcpu after @n more guest instructions
 * (Unicorn's uc_emu_start() count, QEMU's icount budget).
 *
 * The vmm_vcpu_run() (or vmm_vcpu_run_loop()) during which the @n-th
 * instruction counted from this call retires returns right after it with
 * exit kind VMM_EXIT_INSN_LIMIT: RIP is at the next instruction and
 * insns_retired of vmm_vcpu_get_stats() (VMM_VCPU_STAT_INSNS) has grown by
 * exactly @n.  The count is the one insns_retired keeps (a REP string
 * instruction counts once per run of it: it pauses every 4096 elements
 * and at every device access); interrupt and exception deliveries are not
 * instructions.  Exits before the limit (I/O, MMIO, HLT, kicks, debug,
 * ...) are returned as always and the count goes on across runs; an exit
 * taken by the @n-th instruction itself (an OUT, a write to MMIO) comes
 * first, and the next run returns VMM_EXIT_INSN_LIMIT without executing
 * anything.  The limit fires once: after VMM_EXIT_INSN_LIMIT the vCPU runs
 * without one until the next call.  @n = 0 removes the limit.  A new call
 * replaces the old limit.
 *
 * Exact in every mode of the software backend (interpreter, JIT,
 * VMM_CFG_DETERMINISTIC): compiled code returns to the interpreter before
 * it could pass the limit, and blocks near it are cut short.  With
 * VMM_CFG_DETERMINISTIC the stop is repeatable like the rest of the run.
 * The limit is not guest state: vmm_vcpu_set_state() and snapshot
 * restores keep it, snapshots do not record it.  Call it while the vCPU
 * is not inside vmm_vcpu_run() (between runs, from an exit callback or
 * device handler on its thread, or while the VM is paused).
 *
 * Returns 0; -EINVAL for a NULL @vcpu; -ENOTSUP when the backend cannot
 * count guest instructions (KVM: hardware runs the guest; vmm_vm_caps()
 * has VMM_CAP_INSN_LIMIT when it can); -EBUSY while the vCPU runs.
 */
VMM_API int vmm_vcpu_set_insn_limit(vmm_vcpu *vcpu, uint64_t n);

/**
 * vmm_vcpu_set_sw_breakpoints() - while on, an INT3 the guest executes
 * does not enter the guest's #BP handler but returns VMM_EXIT_DEBUG with
 * exit.debug.exception 3 and exit.debug.pc (and RIP) at the INT3 itself,
 * so a debugger can plant INT3 bytes as breakpoints.  Software backend:
 * always; KVM: KVM_GUESTDBG_USE_SW_BP (hosts whose KVM ignores it, such as
 * the nested kvm_pvm of docs/machines.md at CPL3, deliver #BP to the guest
 * as before — see docs/debugging.md).  -ENOTSUP if the backend has no
 * such facility.
 */
VMM_API int vmm_vcpu_set_sw_breakpoints(vmm_vcpu *vcpu, bool on);

/** Kinds of struct vmm_hw_bp (vmm_vcpu_set_hw_breakpoints()). */
enum vmm_hw_bp_kind {
	VMM_HWBP_OFF = 0,    /**< slot unused */
	VMM_HWBP_EXEC = 1,   /**< instruction fetch at @addr (len 1) */
	VMM_HWBP_WRITE = 2,  /**< data write overlapping [addr, addr+len) */
	VMM_HWBP_READ = 3,   /**< data read (KVM: reads and writes, since
				  x86 debug registers have no read-only kind) */
	VMM_HWBP_ACCESS = 4, /**< data read or write */
};

/** One debugger-owned hardware breakpoint (a DR0-DR3 slot). */
struct vmm_hw_bp {
	uint64_t addr; /**< linear address; aligned to @len for data kinds */
	uint8_t kind;  /**< enum vmm_hw_bp_kind */
	uint8_t len;   /**< 1, 2, 4 or 8 bytes (EXEC: 1) */
	uint8_t pad[6];
};

/** Debugger hardware breakpoint slots (x86: DR0-DR3). */
#define VMM_HW_BP_MAX 4

/**
 * vmm_vcpu_set_hw_breakpoints() - replace the debugger's hardware
 * breakpoints of @vcpu with the @n entries of @bp (entry i is slot i; @n =
 * 0 removes them all).  These are the debugger's own, apart from the
 * guest's DR0-DR7, which keep working for the guest (as KVM's
 * guest-debug registers).  A hit returns VMM_EXIT_DEBUG with
 * exit.debug.exception 1 and bit i of exit.debug.dr6 set for slot i: an
 * EXEC slot before the instruction runs (exit.debug.pc = RIP = it; on the
 * software backend the next run executes it without hitting an exec slot
 * again; on KVM a debugger removes the slot and steps over it, as gdb
 * does), a data slot after the accessing instruction (RIP after it).  Call it only while the
 * vCPU is not running.  Software backend: always (READ is read-only
 * there); KVM: KVM_SET_GUEST_DEBUG with KVM_GUESTDBG_USE_HW_BP (some
 * nested hosts ignore it, see docs/debugging.md).  Returns 0, -EINVAL (@n
 * > VMM_HW_BP_MAX, a bad kind, length or alignment), -ENOTSUP.
 */
VMM_API int vmm_vcpu_set_hw_breakpoints(vmm_vcpu *vcpu,
					const struct vmm_hw_bp *bp,
					unsigned n);

/*
 * Bits of struct vmm_vcpu_stats.valid: which counters hold a value.  A
 * counter whose bit is clear is not kept by this backend (or lies beyond
 * the size the caller passed) and reads as 0: "not available", not "none".
 */
#define VMM_VCPU_STAT_EXITS (1ull << 0)        /**< exits, exits_by_kind[] */
#define VMM_VCPU_STAT_INSNS (1ull << 1)        /**< insns_retired */
#define VMM_VCPU_STAT_BLOCKS (1ull << 2)       /**< blocks_translated,
						    blocks_invalidated,
						    block_cache_flushes */
#define VMM_VCPU_STAT_TLB (1ull << 3)          /**< tlb_hits, tlb_misses */
#define VMM_VCPU_STAT_JIT (1ull << 4)          /**< blocks_compiled */
#define VMM_VCPU_STAT_HALT (1ull << 5)         /**< halts, halt_ns */
#define VMM_VCPU_STAT_PAUSE (1ull << 6)        /**< pause_yields */
#define VMM_VCPU_STAT_JIT_FALLBACKS (1ull << 7) /**< jit_fallbacks */
#define VMM_VCPU_STAT_COLD (1ull << 8)         /**< blocks_cold */

/** Slots of struct vmm_vcpu_stats.exits_by_kind (>= VMM_EXIT__COUNT). */
#define VMM_VCPU_STATS_EXIT_KINDS 32

/**
 * struct vmm_vcpu_stats - per-vCPU counters, from vmm_vcpu_get_stats().
 *
 * All counters run from vmm_vcpu_create() and are never reset (not by
 * vmm_vcpu_set_state(), nor by a snapshot restore): take two readings and
 * subtract to measure an interval.
 *
 * ABI: the caller sets @size to sizeof(struct vmm_vcpu_stats) as it was
 * compiled; the library writes at most that many bytes and sets @size to
 * what it wrote.  Newer versions only append fields (taken from
 * @reserved), so an older caller keeps working, and @valid never has a bit
 * for a field beyond the returned @size.
 */
struct vmm_vcpu_stats {
	uint32_t struct_size;    /**< in: bytes the caller has; out: written */
	uint32_t reserved0;
	uint64_t valid;          /**< VMM_VCPU_STAT_* of the counters kept */
	/** Exits returned by vmm_vcpu_run() (counted by libvmm's run step on
	 *  every backend, so the exits vmm_vcpu_run_loop() completes itself,
	 *  port I/O and MMIO to devices, are included). */
	uint64_t exits;
	/** The same, by enum vmm_exit_kind. */
	uint64_t exits_by_kind[VMM_VCPU_STATS_EXIT_KINDS];
	/** Guest instructions retired (software backend; a string
	 *  instruction with REP counts once per iteration it executes). */
	uint64_t insns_retired;
	/** Basic blocks decoded into the translation cache. */
	uint64_t blocks_translated;
	/** Blocks dropped because their code changed (self-modifying code,
	 *  or a write from a device or the embedder). */
	uint64_t blocks_invalidated;
	/** Whole-cache flushes (memory map changes, cache full). */
	uint64_t block_cache_flushes;
	/** Soft-TLB lookups (data accesses, and the instruction fetch of
	 *  each block looked up) that found their page. */
	uint64_t tlb_hits;
	/** Soft-TLB lookups that had to walk the guest page tables. */
	uint64_t tlb_misses;
	/** Blocks the software backend's JIT tier compiled to host code
	 *  (VMM_CFG_JIT; kept only where the JIT is built). */
	uint64_t blocks_compiled;
	/** Times the vCPU waited inside vmm_vcpu_run() for an interrupt
	 *  (HLT, or an application processor waiting for INIT/SIPI) with
	 *  the software backend's interrupt controllers, where the backend
	 *  itself sleeps until a timer, IPI or device interrupt wakes it. */
	uint64_t halts;
	/** Host nanoseconds spent in those waits (idle time of the vCPU's
	 *  thread; with VMM_CFG_DETERMINISTIC, what jumping the clock took). */
	uint64_t halt_ns;
	/** Times a spin loop (PAUSE every few instructions, 512 times in a
	 *  row) gave the host CPU away (sched_yield), so that the vCPU it
	 *  waits for can run: software backend, more than one vCPU. */
	uint64_t pause_yields;
	/** Instructions that blocks compiled by the JIT tier ran through
	 *  the interpreter (forms the translator does not handle; memory
	 *  accesses that missed the TLB are not counted). */
	uint64_t jit_fallbacks;
	/** Blocks the software backend ran without translating them: the
	 *  first time a block start runs, its instructions are decoded and
	 *  run one at a time; it is translated (and counted in
	 *  @blocks_translated) when it runs again.  Not while
	 *  single-stepping, nor with VMM_CFG_JIT_EAGER. */
	uint64_t blocks_cold;
	uint64_t reserved[2];
};

/**
 * vmm_vcpu_get_stats() - read @vcpu's counters into @st (see struct
 * vmm_vcpu_stats; set @st->struct_size first).
 *
 * Which counters a backend keeps: every backend has the exit counters;
 * the software backend also counts instructions, translated blocks and
 * TLB lookups; KVM does not (those bits stay clear in @st->valid).
 *
 * Call it while the vCPU is not inside vmm_vcpu_run(): between runs, from
 * a device handler or exit callback on the vCPU's own thread, or while the
 * VM is paused.  Returns 0, -EINVAL for a NULL argument or a @size smaller
 * than the fields up to and including @exits, -EBUSY while the vCPU runs.
 */
VMM_API VMM_MUST_CHECK int vmm_vcpu_get_stats(vmm_vcpu *vcpu,
					      struct vmm_vcpu_stats *st);

/**
 * typedef vmm_exit_cb - called on a vCPU thread for each exit that
 * vmm_vcpu_run_loop() returns.  Return 0 to continue running this vCPU, a
 * positive value to stop the whole VM (vmm_vm_wait() returns that value),
 * or a negative errno to stop it with an error.
 */
typedef int (*vmm_exit_cb)(void *opaque, vmm_vcpu *vcpu,
			   struct vmm_exit *exit);

/**
 * vmm_vm_start() - run every created vCPU of @vm on its own thread, each in
 * vmm_vcpu_run_loop(), handing exits to @cb.  -EBUSY if already started.
 */
VMM_API VMM_MUST_CHECK int vmm_vm_start(vmm_vm *vm, vmm_exit_cb cb,
					void *opaque);

/**
 * vmm_vm_wait() - wait until a callback stopped the VM or vmm_vm_stop() was
 * called, join all vCPU threads.  Returns the stop value: the positive
 * value or negative errno the callback returned, or 0 after vmm_vm_stop().
 * @timeout_ms < 0 waits forever; -ETIMEDOUT if the time passed (threads
 * keep running).
 */
VMM_API int vmm_vm_wait(vmm_vm *vm, int timeout_ms);

/**
 * vmm_vm_stop() - ask all vCPU threads to stop (kicks them) and join them.
 * Safe to call from any thread except a vCPU thread of @vm; idempotent.
 */
VMM_API int vmm_vm_stop(vmm_vm *vm);

#ifdef __cplusplus
}
#endif
#endif
