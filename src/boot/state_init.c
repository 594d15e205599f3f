// SPDX-License-Identifier: MIT
/*
 * state_init.c - architectural vCPU states: power-on/INIT reset, flat real
 * mode, flat 32-bit protected mode and 64-bit mode (the latter used by the
 * loaders through setup.c).  Values from the Intel SDM vol. 3, 10.1
 * ("Processor state after reset").
 */
#include "boot/boot_int.h"
#include "boot/state_int.h"

#define RESET_CR0 0x60000010ull  /* CD | NW | ET */
#define RESET_DR6 0xffff0ff0ull
#define RESET_DR7 0x400ull
#define RESET_PAT 0x0007040600070406ull
/* fast strings on (firmware's setting; Linux turns fast strings off when
 * bit 0 is clear), BTS and PEBS unavailable: what KVM resets bits 11-12 to */
#define RESET_MISC_ENABLE 0x1801ull
#define RESET_APIC_BASE 0xfee00000ull
#define APIC_BASE_BSP (1ull << 8)
#define APIC_BASE_ENABLE (1ull << 11)
#define RESET_FCW 0x37f
#define RESET_MXCSR 0x1f80
#define RESET_MXCSR_MASK 0xffff
#define RESET_EDX 0x600          /* family 6 */

/* Segment types */
#define SEG_DATA_RW_A 0x3
#define SEG_CODE_RX_A 0xb
#define SEG_LDT 0x2
#define SEG_TSS_BUSY 0xb

/* Local APIC register offsets */
#define APIC_VERSION 0x30
#define APIC_DFR 0xe0
#define APIC_SVR 0xf0
#define APIC_LVT_FIRST 0x320
#define APIC_LVT_LAST 0x370
#define APIC_LVT_MASKED 0x10000u
#define APIC_VERSION_VALUE 0x50014u /* version 0x14, 6 LVT entries */

static void set_real_seg(struct vmm_segment *s, uint16_t sel, uint8_t type)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->base = (uint64_t)sel << 4;
	s->limit = 0xffff;
	s->type = type;
	s->s = 1;
	s->present = 1;
}

static void lapic_reset(uint8_t *lapic)
{
	memset(lapic, 0, sizeof(((struct vmm_cpu_state *)0)->lapic));
	wr32(lapic, APIC_VERSION, APIC_VERSION_VALUE);
	wr32(lapic, APIC_DFR, 0xffffffffu);
	wr32(lapic, APIC_SVR, 0xff);
	for (unsigned off = APIC_LVT_FIRST; off <= APIC_LVT_LAST; off += 0x10)
		wr32(lapic, off, APIC_LVT_MASKED);
}

static void system_segs_reset(struct vmm_cpu_state *st)
{
	struct vmm_segment *ldtr = &st->seg[VMM_LDTR];
	struct vmm_segment *tr = &st->seg[VMM_TR];

	memset(ldtr, 0, sizeof(*ldtr));
	ldtr->limit = 0xffff;
	ldtr->type = SEG_LDT;
	ldtr->present = 1;
	memset(tr, 0, sizeof(*tr));
	tr->limit = 0xffff;
	tr->type = SEG_TSS_BUSY;
	tr->present = 1;
}

/**
 * vmm_state_reset() - the architectural power-on/INIT state.
 * @st:  filled completely.
 * @bsp: the bootstrap processor (APIC_BASE.BSP set, runnable); an
 *       application processor is left in VMM_MP_INIT_RECEIVED.
 *
 * Real mode at F000:FFF0 with CS base 0xffff0000, RFLAGS = 2, CR0 =
 * 0x60000010, EDX = 0x600, DR6/DR7 and PAT at their reset values,
 * IA32_MISC_ENABLE = 0x1801 (fast strings, no BTS/PEBS), FPU and
 * MXCSR in their FNINIT / reset state, XCR0 = 1, the local APIC enabled at
 * 0xfee00000 with its LVT entries masked (APIC ID 0: the backend sets the
 * real one) — except that the BSP's LINT0 is ExtINT and LINT1 NMI, the
 * virtual-wire mode firmware leaves behind and both backends' irqchips set
 * at reset, so that the 8259 PIC reaches the BSP of a guest booted without
 * firmware.
 */
void vmm_state_reset(struct vmm_cpu_state *st, bool bsp)
{
	memset(st, 0, sizeof(*st));
	st->version = VMM_CPU_STATE_VERSION;
	st->mp_state = bsp ? VMM_MP_RUNNABLE : VMM_MP_INIT_RECEIVED;
	st->gpr[VMM_RDX] = RESET_EDX;
	st->rip = 0xfff0;
	st->rflags = VMM_RFLAGS_FIXED;
	for (int i = VMM_ES; i <= VMM_GS; i++)
		set_real_seg(&st->seg[i], 0, SEG_DATA_RW_A);
	set_real_seg(&st->seg[VMM_CS], 0xf000, SEG_CODE_RX_A);
	st->seg[VMM_CS].base = 0xffff0000ull;
	system_segs_reset(st);
	st->gdtr.limit = 0xffff;
	st->idtr.limit = 0xffff;
	st->cr0 = RESET_CR0;
	st->dr6 = RESET_DR6;
	st->dr7 = RESET_DR7;
	st->msr.pat = RESET_PAT;
	st->msr.misc_enable = RESET_MISC_ENABLE;
	st->msr.apic_base = RESET_APIC_BASE | APIC_BASE_ENABLE |
			    (bsp ? APIC_BASE_BSP : 0);
	st->fpu.fcw = RESET_FCW;
	st->fpu.mxcsr = RESET_MXCSR;
	st->fpu.mxcsr_mask = RESET_MXCSR_MASK;
	st->fpu.xcr0 = 1;
	lapic_reset(st->lapic);
	if (bsp) {
		wr32(st->lapic, 0x350, 0x700); /* LVT LINT0: ExtINT */
		wr32(st->lapic, 0x360, 0x400); /* LVT LINT1: NMI */
	}
}

/* A zeroed (or foreign) struct gets a full reset first. */
static void ensure_init(struct vmm_cpu_state *st)
{
	if (st->version != VMM_CPU_STATE_VERSION)
		vmm_state_reset(st, true);
}

/**
 * vmm_state_flat_real() - real mode at @cs:@ip.
 * @st: the state to change.  Only the mode-defining fields are written
 *      (segments, RIP, RSP, RFLAGS, CR0/CR3/CR4, EFER, GDTR/IDTR); the rest
 *      is kept, so @st may come from vmm_vcpu_get_state().  A struct whose
 *      version is not VMM_CPU_STATE_VERSION (e.g. zeroed) is first reset
 *      with vmm_state_reset(st, true).
 * @cs: code segment; DS, ES, FS, GS and SS are set to the same value.
 * @ip: instruction pointer.
 * @sp: stack pointer (SS = @cs).
 */
void vmm_state_flat_real(struct vmm_cpu_state *st, uint16_t cs, uint16_t ip,
			 uint16_t sp)
{
	ensure_init(st);
	for (int i = VMM_ES; i <= VMM_GS; i++)
		set_real_seg(&st->seg[i], cs,
			     i == VMM_CS ? SEG_CODE_RX_A : SEG_DATA_RW_A);
	system_segs_reset(st);
	st->rip = ip;
	st->gpr[VMM_RSP] = sp;
	st->rflags = VMM_RFLAGS_FIXED;
	st->cr0 = VMM_CR0_ET;
	st->cr3 = 0;
	st->cr4 = 0;
	st->msr.efer = 0;
	st->gdtr.base = 0;
	st->gdtr.limit = 0xffff;
	st->idtr.base = 0;
	st->idtr.limit = 0x3ff; /* the real-mode IVT */
}

static void set_flat_seg(struct vmm_segment *s, uint16_t sel, uint8_t type,
			 bool code64)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->base = 0;
	s->limit = 0xffffffffu;
	s->type = type;
	s->s = 1;
	s->present = 1;
	s->g = 1;
	s->l = code64;
	s->db = !code64;
}

void boot_state_flat_segments(struct vmm_cpu_state *st, bool long_mode)
{
	for (int i = VMM_ES; i <= VMM_GS; i++)
		set_flat_seg(&st->seg[i], LAYOUT_SEL_DATA, SEG_DATA_RW_A,
			     false);
	set_flat_seg(&st->seg[VMM_CS], LAYOUT_SEL_CODE, SEG_CODE_RX_A,
		     long_mode);
	system_segs_reset(st);
	st->seg[VMM_LDTR].unusable = 1;
	st->seg[VMM_LDTR].present = 0;
}

/**
 * vmm_state_flat_protected() - flat 32-bit protected mode, paging off.
 * @st:    the state to change; as for vmm_state_flat_real() only the
 *         mode-defining fields are written (a zeroed struct is reset first).
 * @entry: EIP.
 *
 * CS = 0x10 (flat 4 GiB code32), DS/ES/FS/GS/SS = 0x18 (flat 4 GiB data),
 * CR0 = PE | ET, RFLAGS = 2, IDTR limit 0 (an exception shuts the vCPU
 * down).  The GDT exists only in the hidden segment parts; the loaders
 * write a matching one in guest memory (vmm_boot_setup_vcpu()).
 */
void vmm_state_flat_protected(struct vmm_cpu_state *st, uint32_t entry)
{
	ensure_init(st);
	boot_state_flat_segments(st, false);
	st->rip = entry;
	st->rflags = VMM_RFLAGS_FIXED;
	st->cr0 = VMM_CR0_PE | VMM_CR0_ET;
	st->cr3 = 0;
	st->cr4 = 0;
	st->msr.efer = 0;
	st->idtr.base = 0;
	st->idtr.limit = 0;
}
