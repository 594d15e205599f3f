/* SPDX-License-Identifier: MIT */
/*
 * libvmm/vm.h - creating and destroying VMs, backends and capabilities,
 * interrupts.
 */
#ifndef LIBVMM_VM_H
#define LIBVMM_VM_H

#include <libvmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Execution backends. */
enum vmm_backend {
	VMM_BACKEND_AUTO = 0, /**< KVM when usable, else the software backend */
	VMM_BACKEND_KVM = 1,  /**< raw /dev/kvm ioctls */
	VMM_BACKEND_SOFT = 2, /**< libvmm's own x86 emulator */
};

/* Flags for struct vmm_config.flags. */
/** Do not create an in-kernel (or emulated) interrupt controller. */
#define VMM_CFG_NO_IRQCHIP (1u << 0)
/** Do not create the 8254 PIT. */
#define VMM_CFG_NO_PIT (1u << 1)
/**
 * Port I/O and MMIO that hits no registered device is completed by the run
 * loop like an empty bus does (reads return all ones, writes are dropped)
 * instead of being returned to the embedder.  Counted in vmm_vm_get_stats().
 */
#define VMM_CFG_IGNORE_UNHANDLED_IO (1u << 2)
/** Do not create default RAM even when ram_size is set (see ram_size). */
#define VMM_CFG_NO_DEFAULT_RAM (1u << 3)
/**
 * Deterministic execution (software backend only; the VM reports
 * VMM_CAP_DETERMINISTIC).  Guest time advances with retired instructions
 * instead of host time: the TSC counts one tick per retired instruction
 * (plus the offset the guest or vmm_vcpu_set_state() sets), and the
 * interrupt controllers' timers run on the same clock (1 ns per
 * instruction; a halted vCPU skips ahead to its next timer event).  A
 * single-vCPU VM started from the same state, memory and device inputs then
 * runs bit-for-bit identically: same final state, same exits in the same
 * order.  Not covered: vmm_vcpu_kick() and other inputs whose timing comes
 * from host threads, and VMs with more than one vCPU running concurrently.
 * Other backends ignore the flag: check vmm_vm_caps() for
 * VMM_CAP_DETERMINISTIC.
 */
#define VMM_CFG_DETERMINISTIC (1u << 4)
/**
 * Asynchronous teardown.  vmm_vm_destroy() stops the vCPU threads and
 * detaches every device as usual (no device callback and no log message
 * comes after it returns), then hands the rest - closing the vCPU and VM
 * fds (where KVM frees the VM: its MMU, irqchip, PIT), unmapping guest
 * memory, freeing the bookkeeping - to a detached thread of this VM's own,
 * and returns.  There is no library-wide reaper and no global list: to
 * wait, set struct vmm_config.teardown_done, which that thread calls as
 * its very last use of the VM (also when the thread could not be started
 * and the teardown ran synchronously inside vmm_vm_destroy()).  Until it
 * has been called the VM's fds and memory still count against the
 * process's limits, the allocator in struct vmm_config must stay usable,
 * and libvmm must not be unloaded (dlclose).  A process may exit without
 * waiting: the kernel closes and unmaps what is left.
 */
#define VMM_CFG_ASYNC_TEARDOWN (1u << 5)
/**
 * Software backend: run hot blocks of 64-bit guest code as host code
 * compiled by the JIT tier (x86-64 hosts, built with -Djit; see
 * docs/soft-backend.md).  This is the default where the JIT is built
 * (without VMM_CFG_NO_JIT, the environment variable VMM_SOFT_JIT=0|1|eager
 * decides, then the default).  Ignored where the JIT is not built, by
 * other backends, and with VMM_CFG_DETERMINISTIC (the interpreter keeps
 * the exact instruction count there).
 */
#define VMM_CFG_JIT (1u << 6)
/**
 * As VMM_CFG_JIT, and compile each block at its first execution instead
 * of when it is hot (tests, fuzzing: every block goes through the JIT).
 */
#define VMM_CFG_JIT_EAGER (1u << 7)
/** Software backend: interpreter only, even where the JIT is the default. */
#define VMM_CFG_NO_JIT (1u << 8)

/**
 * enum vmm_cpu_model - the CPU a guest sees: CPUID, the MSRs and CR4 bits
 * that go with it, and the instructions' behaviour are consistent (a
 * feature is advertised only where the backend implements it; a CR4 bit or
 * MSR of a feature the model does not advertise raises #GP).  The features
 * of each model per backend are listed in docs/soft-backend.md.
 *
 * @VMM_CPU_DEFAULT:  VMM_CPU_MAX.
 * @VMM_CPU_BASELINE: a conservative x86-64 CPU, the same feature bits on
 *                    every backend and host (SSE2, CX16, NX, LAHF
 *                    in 64-bit mode, SYSCALL, PAT, APIC), so a snapshot
 *                    taken under it restores on the other backend without
 *                    the guest losing a feature it probed.  On KVM,
 *                    vmm_vm_create() fails with -ENOTSUP if the host lacks
 *                    one of them (the message names it).
 * @VMM_CPU_HOST:     KVM only: everything KVM supports on this host
 *                    (KVM_GET_SUPPORTED_CPUID).  -ENOTSUP on the software
 *                    backend, which cannot run what the host CPU has.
 * @VMM_CPU_MAX:      everything the backend implements: on KVM the same as
 *                    VMM_CPU_HOST; on the software backend also SMEP, SMAP,
 *                    UMIP, PKU, RDTSCP, 1 GiB pages, x2APIC and TSC-deadline
 *                    (with the irqchip), the invariant TSC.
 *
 * Every model also gets the TSC-frequency leaves 0x15/0x16 and a hypervisor
 * leaf 0x40000010 (TSC and APIC bus rate in kHz) when the backend knows the
 * rate (the software backend always; KVM through KVM_GET_TSC_KHZ).
 */
enum vmm_cpu_model {
	VMM_CPU_DEFAULT = 0,
	VMM_CPU_BASELINE = 1,
	VMM_CPU_HOST = 2,
	VMM_CPU_MAX = 3,
};

/** vmm_cpu_model_name() - "default", "baseline", "host", "max" or NULL. */
VMM_API const char *vmm_cpu_model_name(enum vmm_cpu_model model);

/**
 * vmm_cpu_model_parse() - the model called @name (as vmm_cpu_model_name()
 * spells it); -EINVAL for an unknown name.
 */
VMM_API int vmm_cpu_model_parse(const char *name, enum vmm_cpu_model *out);

/**
 * struct vmm_cpuid_leaf - one CPUID leaf for vmm_config.cpuid_add.
 * @function: EAX input.
 * @index:    ECX input (sub-leaf); compared only with
 *            VMM_CPUID_FLAG_INDEX in @flags.
 * @flags:    VMM_CPUID_FLAG_* bits.
 * @eax, @ebx, @ecx, @edx: the result.
 */
struct vmm_cpuid_leaf {
	uint32_t function;
	uint32_t index;
	uint32_t flags;
	uint32_t eax, ebx, ecx, edx;
};
/** The leaf has sub-leaves: @index selects it. */
#define VMM_CPUID_FLAG_INDEX (1u << 0)
#define VMM_CPUID_ADD_MAX 256

/**
 * enum vmm_irqchip_mode - which interrupt controllers a VM gets
 * (struct vmm_config.irqchip; read back with vmm_vm_irqchip()).
 *
 * @VMM_IRQCHIP_DEFAULT: the library's choice: SPLIT on KVM when the host
 *     has KVM_CAP_SPLIT_IRQCHIP, else KERNEL; the emulated controllers on
 *     the software backend.  docs/design.md says why (VM creation cost).
 * @VMM_IRQCHIP_KERNEL: KVM's in-kernel PIC pair, IOAPIC, local APICs and
 *     (unless VMM_CFG_NO_PIT) PIT.  On the software backend: the same set,
 *     emulated by libvmm.
 * @VMM_IRQCHIP_SPLIT: local APICs in the kernel (KVM_CAP_SPLIT_IRQCHIP);
 *     the PIC pair, IOAPIC (0xfec00000) and PIT are libvmm's own models,
 *     the same code the software backend runs.  IOAPIC interrupts reach
 *     KVM's local APICs as MSIs; level-triggered EOIs come back through
 *     KVM_EXIT_IOAPIC_EOI; the PIC's INTR is injected into vCPU 0 (which
 *     takes it through LINT0 as ExtINT).  An irqfd on a line (GSI 0-23)
 *     delivers as an edge through the IOAPIC pin's current redirection
 *     entry (KVM holds it as an MSI route); the PIC does not see it, and
 *     nothing is delivered while the entry is masked.  On the software
 *     backend SPLIT equals KERNEL.
 * @VMM_IRQCHIP_NONE: no interrupt controller and no PIT (as the older
 *     VMM_CFG_NO_IRQCHIP flag).  Defined behaviour for a guest that uses
 *     them anyway: STI/CLI work and nothing ever interrupts; HLT returns
 *     VMM_EXIT_HLT; port I/O to the PIC (0x20, 0xa0, 0x4d0) or PIT
 *     (0x40-0x43) and MMIO to the IOAPIC/LAPIC pages reach no device, so
 *     they are unhandled I/O exits to the embedder (or, with
 *     VMM_CFG_IGNORE_UNHANDLED_IO, reads return all ones and writes are
 *     dropped); vmm_irq_set_line(), vmm_irq_send_msi() and irqfds give -ENODEV.
 *
 * vmm_vm_create() returns -ENOTSUP (the message says which capability is
 * missing) when KERNEL or SPLIT is asked for on a host without it.
 */
enum vmm_irqchip_mode {
	VMM_IRQCHIP_DEFAULT = 0,
	VMM_IRQCHIP_KERNEL = 1,
	VMM_IRQCHIP_SPLIT = 2,
	VMM_IRQCHIP_NONE = 3,
};

/**
 * struct vmm_config - what vmm_vm_create() builds.
 * @struct_size: sizeof(struct vmm_config) as the caller compiled it; lets
 *               later versions grow the struct.  0 means its LIBVMM_0.1
 *               size.  A larger struct whose unknown tail is not all zero
 *               is refused with -EINVAL (growable-struct rule, docs/api.md).
 * @backend:     which backend to use; AUTO picks KVM if /dev/kvm works.
 * @ncpus:       number of vCPUs the VM may have (1..VMM_MAX_VCPUS); 0 = 1.
 * @ram_size:    if non-zero, guest RAM created at once: [0, min(ram_size,
 *               3 GiB)) and the rest from 4 GiB, leaving the 32-bit PCI/MMIO
 *               hole free.  Set 0 to lay out memory yourself with
 *               vmm_mem_add().
 * @flags:       VMM_CFG_* flags.
 * @log:         optional log callback (the library never prints).
 * @log_opaque:  passed to @log.
 * @log_level:   highest level passed to @log.
 * @allocator:   optional allocator for library bookkeeping (NULL = libc).
 * @cpuid_filter: optional; called once per CPUID leaf the backend is about
 *               to expose (including the leaves of @cpuid_add), may change
 *               the registers.  Return false to drop the leaf.  On KVM it
 *               runs once per leaf when a vCPU is created; on the software
 *               backend at every CPUID the guest executes.
 * @cpu_model:   which CPU the guest sees (enum vmm_cpu_model); 0 =
 *               VMM_CPU_DEFAULT.  Added in 0.1 after @cpuid_opaque: a
 *               caller compiled against an older struct gets the default.
 * @cpuid_add:   optional; @cpuid_add_count leaves added to (or replacing
 *               the leaf with the same function and index of) the model's
 *               CPUID, before @cpuid_filter sees them.  Copied at create
 *               time.  The maximum leaf of the range a leaf falls in (leaf
 *               0, 0x40000000 or 0x80000000) is raised to cover it.
 * @cpuid_add_count: number of entries in @cpuid_add (at most 256).
 * @irqchip:     interrupt controller mode (enum vmm_irqchip_mode); added
 *               after @cpuid_opaque, so a caller compiled against an older
 *               struct (smaller @struct_size) gets VMM_IRQCHIP_DEFAULT.
 * @kick_signal: the signal vmm_vcpu_kick() sends a vCPU thread to get it
 *               out of KVM_RUN (0 = SIGRTMIN+5).  A real-time signal or
 *               SIGUSR1/SIGUSR2; -EINVAL otherwise.  If it is at its
 *               default disposition, libvmm installs a no-op handler;
 *               a handler of the embedder's is left alone (it must
 *               return).  Pick one the program does not use otherwise.
 * @teardown_done: optional; with VMM_CFG_ASYNC_TEARDOWN, called once with
 *               @teardown_opaque when the VM is completely gone (from the
 *               reaper thread, or from vmm_vm_destroy() if it could not
 *               start one).  Ignored without the flag.  Added after
 *               @kick_signal.
 * @teardown_opaque: passed to @teardown_done.
 */
struct vmm_config {
	uint32_t struct_size;
	enum vmm_backend backend;
	uint32_t ncpus;
	uint32_t flags;
	uint64_t ram_size;
	vmm_log_fn log;
	void *log_opaque;
	int log_level;
	const struct vmm_allocator *allocator;
	bool (*cpuid_filter)(void *opaque, uint32_t function, uint32_t index,
			     uint32_t regs[4]);
	void *cpuid_opaque;
	uint32_t cpu_model;
	uint32_t cpuid_add_count;
	const struct vmm_cpuid_leaf *cpuid_add;
	uint32_t irqchip;
	int kick_signal;
	void (*teardown_done)(void *opaque);
	void *teardown_opaque;
};

#define VMM_MAX_VCPUS 64

/**
 * vmm_config_init() - fill @cfg with defaults (AUTO backend, 1 vCPU, no RAM,
 * warnings and errors logged if a callback is set).
 */
VMM_API void vmm_config_init(struct vmm_config *cfg);

/**
 * vmm_vm_create() - create a VM.
 * @cfg: configuration; NULL means defaults.
 * @out: receives the VM handle on success.
 *
 * Returns 0, -ENODEV if the requested backend is not available here (the
 * message says why), -EINVAL for a bad configuration, -ENOMEM.  On failure
 * nothing is left allocated and @out is untouched; the reason (for a
 * backend: what its probe found, e.g. "kvm backend: /dev/kvm: Permission
 * denied") is passed to @cfg->log and is the calling thread's
 * vmm_last_error(NULL, ...).
 */
VMM_API VMM_MUST_CHECK int vmm_vm_create(const struct vmm_config *cfg,
					 vmm_vm **out);

/**
 * vmm_vm_destroy() - stop every vCPU thread, detach every device, free all
 * guest memory and the VM.  NULL is a no-op.  With VMM_CFG_ASYNC_TEARDOWN
 * the fds, guest memory and bookkeeping are released by a thread of the
 * VM's own after the return (see the flag).
 */
VMM_API void vmm_vm_destroy(vmm_vm *vm);

/** vmm_vm_backend() - the backend actually running @vm (never AUTO). */
VMM_API enum vmm_backend vmm_vm_backend(const vmm_vm *vm);

/** vmm_backend_name() - "auto", "kvm" or "soft". */
VMM_API const char *vmm_backend_name(enum vmm_backend backend);

/**
 * vmm_backend_available() - can a VM be created on @backend here?
 * Returns 0 if yes, or the negative errno vmm_vm_create() would return.
 */
VMM_API int vmm_backend_available(enum vmm_backend backend);

/**
 * vmm_backend_probe() - like vmm_backend_available(), and on failure writes
 * the reason ("/dev/kvm: No such file or directory", "KVM API version 11")
 * into @why (@len bytes, NUL-terminated).
 */
VMM_API int vmm_backend_probe(enum vmm_backend backend, char *why, size_t len);

/** Capabilities, as bits of vmm_vm_caps(). */
enum vmm_cap {
	VMM_CAP_IRQCHIP = 1ull << 0,     /**< interrupt controller in place */
	VMM_CAP_PIT = 1ull << 1,         /**< 8254 PIT */
	VMM_CAP_IOEVENTFD = 1ull << 2,   /**< doorbells without user exits */
	VMM_CAP_IRQFD = 1ull << 3,       /**< interrupts from eventfds */
	VMM_CAP_DIRTY_LOG = 1ull << 4,   /**< dirty page logging */
	VMM_CAP_DIRTY_RING = 1ull << 5,  /**< dirty ring */
	VMM_CAP_GUEST_DEBUG = 1ull << 6, /**< single step, hw breakpoints */
	VMM_CAP_XSAVE = 1ull << 7,       /**< XSAVE state get/set */
	VMM_CAP_MSI = 1ull << 8,         /**< vmm_irq_send_msi() */
	VMM_CAP_IMMEDIATE_EXIT = 1ull << 9, /**< race-free vmm_vcpu_kick() */
	VMM_CAP_READONLY_MEM = 1ull << 10,  /**< read-only RAM (ROM) */
	VMM_CAP_SYNC_REGS = 1ull << 11,     /**< registers shared without ioctls */
	VMM_CAP_MSR_EXIT = 1ull << 12,      /**< user-space MSR exits */
	VMM_CAP_COALESCED_IO = 1ull << 13,  /**< coalesced MMIO/PIO */
	VMM_CAP_DETERMINISTIC = 1ull << 14, /**< bit-for-bit repeatable runs */
	VMM_CAP_TSC_CONTROL = 1ull << 15,   /**< TSC frequency control */
	VMM_CAP_INSN_LIMIT = 1ull << 16,    /**< vmm_vcpu_set_insn_limit() */
};

/**
 * vmm_vm_caps() - what @vm's backend supports (VMM_CAP_* bits), probed at
 * create time, never assumed.
 */
VMM_API uint64_t vmm_vm_caps(const vmm_vm *vm);

/**
 * vmm_vm_irqchip() - the interrupt controller mode @vm runs with (never
 * VMM_IRQCHIP_DEFAULT: the mode the default resolved to).
 */
VMM_API enum vmm_irqchip_mode vmm_vm_irqchip(const vmm_vm *vm);

/** vmm_irqchip_name() - "default", "kernel", "split" or "none". */
VMM_API const char *vmm_irqchip_name(enum vmm_irqchip_mode mode);

/**
 * vmm_cap_name() - the name of one VMM_CAP_* bit ("ioeventfd", ...).
 */
VMM_API const char *vmm_cap_name(uint64_t cap);

/**
 * vmm_vm_missing_caps() - capabilities libvmm asked for and the backend
 * refused.  Each bit is also logged once at VMM_LOG_INFO at create time.
 */
VMM_API uint64_t vmm_vm_missing_caps(const vmm_vm *vm);

/**
 * vmm_last_error() - the message of the last failure ("" if none).
 *
 * Per thread, like errno: with a @vm, the last failure of a call the
 * calling thread made on @vm; if this thread has none on @vm (its last
 * failure was elsewhere), the last failure on @vm from any thread (a vCPU
 * thread's, say).  With @vm NULL, the calling thread's last failure that
 * had no VM, e.g. why vmm_vm_create() failed.  Successful calls do not
 * clear it.  The string is copied into @buf (always NUL-terminated when
 * @len > 0).  Returns the number of characters the full message has.
 */
VMM_API size_t vmm_last_error(vmm_vm *vm, char *buf, size_t len);

/** Per-VM counters, from vmm_vm_get_stats(). */
struct vmm_vm_stats {
	uint32_t struct_size; /**< in: sizeof() (0 = 0.2 size); out: written */
	uint64_t exits;          /**< all vCPU exits */
	uint64_t io_exits;       /**< port I/O exits */
	uint64_t mmio_exits;     /**< MMIO exits */
	uint64_t unhandled_io;   /**< I/O with no device behind it */
	uint64_t ram_bytes;      /**< guest RAM mapped */
	uint64_t host_bytes;     /**< library bookkeeping allocated */
	uint32_t vcpus;          /**< vCPUs created */
	uint32_t devices;        /**< devices attached */
};

/**
 * vmm_vm_get_stats() - resource accounting for @vm; set @st->struct_size
 * first (docs/api.md, "Growable structs").
 */
VMM_API int vmm_vm_get_stats(vmm_vm *vm, struct vmm_vm_stats *st);

/**
 * vmm_irq_set_line() - set the level of interrupt line @gsi to @level (0/1).
 *
 * On KVM the in-kernel irqchip routes it (GSIs 0-15 to the PIC and IOAPIC,
 * 16-23 to the IOAPIC); on the software backend the emulated controllers do.
 * Edge-triggered users raise then lower.  -ENODEV without an irqchip.
 */
VMM_API int vmm_irq_set_line(vmm_vm *vm, uint32_t gsi, int level);

/**
 * vmm_irq_send_msi() - deliver a message-signalled interrupt.
 * @addr: MSI address (0xfeexxxxx), @data: MSI data.
 */
VMM_API int vmm_irq_send_msi(vmm_vm *vm, uint64_t addr, uint32_t data);

#ifdef __cplusplus
}
#endif
#endif
