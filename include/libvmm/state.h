/* SPDX-License-Identifier: MIT */
/*
 * libvmm/state.h - the backend-neutral architectural state of one x86 vCPU.
 *
 * One struct holds everything needed to stop a vCPU on one backend and
 * resume it on another: snapshots store it as is, the software backend runs
 * on it directly.  Layout and field meanings are those of the architecture
 * (Intel SDM vol. 3), not of any hypervisor interface.
 */
#ifndef LIBVMM_STATE_H
#define LIBVMM_STATE_H

#include <libvmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* General purpose registers, in instruction-encoding order. */
enum vmm_gpr {
	VMM_RAX, VMM_RCX, VMM_RDX, VMM_RBX, VMM_RSP, VMM_RBP, VMM_RSI, VMM_RDI,
	VMM_R8, VMM_R9, VMM_R10, VMM_R11, VMM_R12, VMM_R13, VMM_R14, VMM_R15,
	VMM_NR_GPRS
};

/* Segment registers, in encoding order, then LDTR and TR. */
enum vmm_sreg {
	VMM_ES, VMM_CS, VMM_SS, VMM_DS, VMM_FS, VMM_GS, VMM_LDTR, VMM_TR,
	VMM_NR_SREGS
};

/**
 * struct vmm_segment - a segment register with its hidden (cached) part.
 * @limit is the byte-granular effective limit (already scaled if @g).
 * @unusable marks a null/unusable selector in protected mode.
 */
struct vmm_segment {
	uint64_t base;
	uint32_t limit;
	uint16_t selector;
	uint8_t type;    /* 4-bit descriptor type */
	uint8_t s;       /* 1 = code/data, 0 = system */
	uint8_t dpl;
	uint8_t present;
	uint8_t avl;
	uint8_t l;       /* 64-bit code segment */
	uint8_t db;      /* default operand size / big */
	uint8_t g;       /* granularity */
	uint8_t unusable;
	uint8_t pad[5];
};

struct vmm_dtable {
	uint64_t base;
	uint16_t limit;
	uint16_t pad[3];
};

/**
 * Pending or in-delivery events (what an exit can interrupt).  An injected
 * (in-delivery) #BP or #OF (exception_nr 3 or 4) has RIP at the one-byte
 * INT3 / INTO that raised it, and is delivered with the address after it
 * in the frame, as KVM reports and re-injects them (the gdb stub hands a
 * guest's own INT3 back this way, docs/debugging.md).
 */
struct vmm_events {
	uint8_t exception_injected; /* being delivered when the vCPU stopped */
	uint8_t exception_pending;  /* raised, not yet delivered */
	uint8_t exception_nr;
	uint8_t exception_has_error;
	uint32_t exception_error;
	uint64_t exception_payload; /* CR2 / DR6 for #PF / #DB, if pending */
	uint8_t interrupt_injected;
	uint8_t interrupt_nr;
	uint8_t interrupt_soft;
	uint8_t interrupt_shadow;   /* STI / MOV SS blocking */
	uint8_t nmi_injected;
	uint8_t nmi_pending;
	uint8_t nmi_masked;
	uint8_t smi_pending;
};

/* struct vmm_cpu_state.mp_state */
enum vmm_mp_state {
	VMM_MP_RUNNABLE = 0,
	VMM_MP_HALTED = 1,          /* HLT, waiting for an interrupt */
	VMM_MP_INIT_RECEIVED = 2,   /* application processor before SIPI */
	VMM_MP_SIPI_RECEIVED = 3,
};

#define VMM_CPU_STATE_VERSION 1

/** Number of model-specific registers carried in struct vmm_cpu_state. */
struct vmm_msrs {
	uint64_t efer;
	uint64_t star, lstar, cstar, sfmask;
	uint64_t kernel_gs_base;
	uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
	uint64_t tsc;           /* time-stamp counter value */
	uint64_t tsc_aux;
	uint64_t tsc_deadline;
	uint64_t pat;
	uint64_t apic_base;
	uint64_t misc_enable;
	uint64_t spec_ctrl;
};

/** FPU/SSE/AVX state, architectural layout (FXSAVE image + YMM uppers). */
struct vmm_fpu {
	uint16_t fcw, fsw;
	uint8_t ftw;            /* abridged tag word, as in FXSAVE */
	uint8_t pad0;
	uint16_t fop;
	uint64_t fip, fdp;
	uint32_t mxcsr, mxcsr_mask;
	uint8_t st[8][16];      /* ST0-7 / MM0-7, 80 bits each, padded */
	uint8_t xmm[16][16];
	uint8_t ymmh[16][16];   /* upper halves of YMM0-15 (valid if xcr0 & 4) */
	uint64_t xcr0;
};

/**
 * struct vmm_cpu_state - the full state of one vCPU.
 * @version: VMM_CPU_STATE_VERSION; set by get, checked by set.
 * @lapic:   the local APIC register page, first 1 KiB, as the APIC lays it
 *           out at APIC_BASE (ID at 0x20, TPR at 0x80, ...).
 */
struct vmm_cpu_state {
	uint32_t version;
	uint32_t mp_state;
	uint64_t gpr[VMM_NR_GPRS];
	uint64_t rip;
	uint64_t rflags;
	struct vmm_segment seg[VMM_NR_SREGS];
	struct vmm_dtable gdtr, idtr;
	uint64_t cr0, cr2, cr3, cr4, cr8;
	uint64_t dr[4];
	uint64_t dr6, dr7;
	struct vmm_msrs msr;
	struct vmm_fpu fpu;
	struct vmm_events events;
	uint8_t lapic[1024];
};

/**
 * struct vmm_cpu_xstate - vCPU state that struct vmm_cpu_state has no
 * field for (its layout is fixed by VMM_CPU_STATE_VERSION); read and
 * written with vmm_vcpu_get_xstate() / vmm_vcpu_set_xstate() and carried
 * by snapshots and migration beside it.  A growable struct (docs/api.md):
 * set @struct_size to sizeof() as you compiled it; new fields are only
 * appended, each with a bit in @valid.
 * @valid: VMM_XSTATE_* - on get, the fields the backend has (a field the
 *         vCPU's model lacks is not valid); on set, the fields to write.
 * @pkru:  PKRU, the protection-key rights register (RDPKRU/WRPKRU; used
 *         when CR4.PKE is set).  Reset value 0.
 * @pkrs:  IA32_PKRS (MSR 0x6E1), the supervisor protection-key rights
 *         register (used when CR4.PKS is set; only the low 32 bits
 *         exist).  Reset value 0.  Valid (VMM_XSTATE_PKRS) only when the
 *         vCPU's model has PKS: the software backend's 'max' model; the
 *         KVM backend does not carry it (setting a non-zero value there
 *         is -ENOTSUP).
 */
struct vmm_cpu_xstate {
	uint32_t struct_size;
	uint32_t reserved0;
	uint64_t valid;
	uint32_t pkru;
	uint32_t pkrs;
};
#define VMM_XSTATE_PKRU (1ull << 0)
#define VMM_XSTATE_PKRS (1ull << 1)
#define VMM_XSTATE_ALL (VMM_XSTATE_PKRU | VMM_XSTATE_PKRS)

/* Architectural bits used by the library and tests. */
#define VMM_CR0_PE (1ull << 0)
#define VMM_CR0_MP (1ull << 1)
#define VMM_CR0_EM (1ull << 2)
#define VMM_CR0_TS (1ull << 3)
#define VMM_CR0_ET (1ull << 4)
#define VMM_CR0_NE (1ull << 5)
#define VMM_CR0_WP (1ull << 16)
#define VMM_CR0_AM (1ull << 18)
#define VMM_CR0_PG (1ull << 31)
#define VMM_CR4_PSE (1ull << 4)
#define VMM_CR4_PAE (1ull << 5)
#define VMM_CR4_PGE (1ull << 7)
#define VMM_CR4_OSFXSR (1ull << 9)
#define VMM_CR4_OSXMMEXCPT (1ull << 10)
#define VMM_CR4_LA57 (1ull << 12)
#define VMM_CR4_OSXSAVE (1ull << 18)
#define VMM_CR4_SMEP (1ull << 20)
#define VMM_CR4_SMAP (1ull << 21)
#define VMM_CR4_PKE (1ull << 22)
#define VMM_CR4_PKS (1ull << 24)
#define VMM_EFER_SCE (1ull << 0)
#define VMM_EFER_LME (1ull << 8)
#define VMM_EFER_LMA (1ull << 10)
#define VMM_EFER_NXE (1ull << 11)
#define VMM_RFLAGS_CF (1ull << 0)
#define VMM_RFLAGS_FIXED (1ull << 1)
#define VMM_RFLAGS_ZF (1ull << 6)
#define VMM_RFLAGS_TF (1ull << 8)
#define VMM_RFLAGS_IF (1ull << 9)
#define VMM_RFLAGS_IOPL (3ull << 12)

/**
 * vmm_state_reset() - fill @st with the architectural power-on/INIT state:
 * real mode, CS:IP = F000:FFF0 with CS base 0xffff0000, RFLAGS = 2,
 * CR0 = 0x60000010, APIC enabled at 0xfee00000 (BSP flag if @bsp),
 * IA32_MISC_ENABLE = 0x1801 (fast strings on, BTS/PEBS unavailable).
 */
VMM_API void vmm_state_reset(struct vmm_cpu_state *st, bool bsp);

/**
 * vmm_state_flat_real() - real-mode state starting at @cs:@ip with all
 * data segments = @cs and SP = @sp (for raw 16-bit images).
 */
VMM_API void vmm_state_flat_real(struct vmm_cpu_state *st, uint16_t cs,
				 uint16_t ip, uint16_t sp);

/**
 * vmm_state_flat_protected() - 32-bit protected mode, paging off, flat 4 GiB
 * code (selector 0x10) and data (0x18) segments, EIP = @entry.  The GDT is
 * only in the hidden parts; a guest that reloads segments needs its own.
 */
VMM_API void vmm_state_flat_protected(struct vmm_cpu_state *st,
				      uint32_t entry);

/*
 * Interrupt controllers and timers of a VM (the PC platform's 8259 pair,
 * IOAPIC and 8254 PIT), in architectural terms, so that a snapshot taken on
 * one backend restores on the other.  Counters are registers, not host
 * times: a PIT channel carries how long ago its count was loaded.
 */
#define VMM_IRQCHIP_STATE_VERSION 1

/** One 8259A PIC. */
struct vmm_pic_state {
	uint8_t irr;            /* interrupt request register */
	uint8_t isr;            /* in-service register */
	uint8_t imr;            /* interrupt mask register (OCW1) */
	uint8_t last_irr;       /* input levels last seen (edge detection) */
	uint8_t vector_base;    /* ICW2: vector of IR0 */
	uint8_t priority_add;   /* lowest-priority IR after rotation */
	uint8_t read_isr;       /* OCW3 RR/RIS: 1 = reads return ISR */
	uint8_t poll;           /* OCW3 poll command pending */
	uint8_t special_mask;   /* OCW3 special mask mode */
	uint8_t init_state;     /* 0 = ready, 1..3 = expecting ICW2..ICW4 */
	uint8_t auto_eoi;       /* ICW4 AEOI */
	uint8_t rotate_on_auto_eoi;
	uint8_t special_fully_nested;
	uint8_t icw4_needed;    /* ICW1 IC4 */
	uint8_t elcr;           /* edge/level control (port 0x4d0/0x4d1) */
	uint8_t elcr_mask;      /* which ELCR bits are writable */
};

#define VMM_IOAPIC_PINS 24

/** The I/O APIC. */
struct vmm_ioapic_state {
	uint64_t base;          /* MMIO base, normally 0xfec00000 */
	uint32_t id;            /* IOAPIC ID (register 0, bits 27:24) */
	uint32_t ioregsel;      /* index register */
	uint32_t irr;           /* pins whose interrupt is pending (bit/pin) */
	uint32_t pad;
	uint64_t redir[VMM_IOAPIC_PINS]; /* redirection table entries */
};

/** One 8254 PIT channel. */
struct vmm_pit_channel {
	uint32_t count;         /* reload value (0 means 0x10000) */
	uint16_t latched_count;
	uint8_t count_latched;  /* which bytes of latched_count are pending */
	uint8_t status_latched;
	uint8_t status;
	uint8_t read_state;     /* byte sequencing of reads */
	uint8_t write_state;    /* byte sequencing of writes */
	uint8_t write_latch;    /* first byte of a 16-bit write */
	uint8_t rw_mode;        /* 1 = LSB, 2 = MSB, 3 = LSB then MSB */
	uint8_t mode;           /* 0..5, 0xff = never programmed */
	uint8_t bcd;
	uint8_t gate;
	int64_t load_age_ns;    /* how long ago the count was loaded */
};

/** The 8254 PIT. */
struct vmm_pit_state {
	uint32_t flags;         /* VMM_PIT_* */
	uint32_t pad;
	struct vmm_pit_channel ch[3];
};
#define VMM_PIT_HPET_LEGACY (1u << 0) /* channel 0 disabled by HPET */

/* struct vmm_irqchip_state.valid */
#define VMM_IRQCHIP_PIC (1u << 0)
#define VMM_IRQCHIP_IOAPIC (1u << 1)
#define VMM_IRQCHIP_PIT (1u << 2)
#define VMM_IRQCHIP_CLOCK (1u << 3)

/**
 * struct vmm_irqchip_state - every interrupt controller and timer a VM has.
 * @version:  VMM_IRQCHIP_STATE_VERSION; set by get, checked by set.
 * @valid:    VMM_IRQCHIP_* bits: which parts are present.
 * @pic:      master (0, ports 0x20/0x21) and slave (1, 0xa0/0xa1).
 * @clock_ns: the guest's paravirtual clock (kvm-clock) in nanoseconds;
 *            restoring it makes the clock continue where it stopped.
 */
struct vmm_irqchip_state {
	uint32_t version;
	uint32_t valid;
	struct vmm_pic_state pic[2];
	struct vmm_ioapic_state ioapic;
	struct vmm_pit_state pit;
	uint64_t clock_ns;
};

/**
 * vmm_vm_get_irqchip() - read the interrupt controllers of @vm.  The VM
 * must not run (vmm_vm_pause()).  -ENODEV if the VM has no irqchip,
 * -ENOTSUP if its backend cannot export the state.
 */
VMM_API VMM_MUST_CHECK int vmm_vm_get_irqchip(vmm_vm *vm,
					      struct vmm_irqchip_state *st);

/**
 * vmm_vm_set_irqchip() - load the parts of @st flagged in @st->valid.
 * -EINVAL for an unknown version, -ENODEV / -ENOTSUP as for get.
 */
VMM_API VMM_MUST_CHECK int vmm_vm_set_irqchip(vmm_vm *vm,
					      const struct vmm_irqchip_state *st);

#ifdef __cplusplus
}
#endif
#endif
