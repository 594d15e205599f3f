/* SPDX-License-Identifier: MIT */
/*
 * irqchip.h - the software backend's interrupt controllers and timers: the
 * 8259 PIC pair, the IOAPIC, one local APIC per vCPU, the 8254 PIT — the
 * devices the KVM backend gets from the in-kernel irqchip, emulated in the
 * VMM.  They are hypervisor-direct devices: they register their port and
 * MMIO ranges on the VM's bus like any device (PIC 0x20/0xa0 and ELCR
 * 0x4d0/0x4d1, PIT 0x40-0x43, IOAPIC 0xfec00000, LAPIC 0xfee00000 with the
 * accessing vCPU taken from ctx->vcpu), and never see a CPU's internals.
 *
 * The software CPU talks to them only through the calls below.
 */
#ifndef LIBVMM_SOFT_IRQCHIP_H
#define LIBVMM_SOFT_IRQCHIP_H

#include "core/internal.h"

struct soft_irqchip;

/*
 * struct soft_clock - time as the controllers see it.  @now_ns returns
 * nanoseconds of guest time: host CLOCK_MONOTONIC by default, or in
 * deterministic mode a value derived from retired instructions, so that the
 * same guest with the same inputs gives the same run.
 */
struct soft_clock {
	uint64_t (*now_ns)(void *opaque);
	void *opaque;
	bool deterministic;
};

/* Create the controllers for @ncpus vCPUs and register their ranges. */
int soft_irqchip_create(vmm_vm *vm, unsigned ncpus, bool with_pit,
			const struct soft_clock *clock,
			struct soft_irqchip **out);
void soft_irqchip_destroy(struct soft_irqchip *chip);

/* vmm_irq_line(): GSIs 0-15 to the PIC and IOAPIC, 16-23 to the IOAPIC. */
int soft_irqchip_set_irq(struct soft_irqchip *chip, uint32_t gsi, int level);
/* vmm_irq_msi(): deliver per the MSI address/data format to LAPIC(s). */
int soft_irqchip_msi(struct soft_irqchip *chip, uint64_t addr, uint32_t data);

/* What the CPU of vCPU @cpu should do next (bits, several may be set). */
#define SOFT_IRQ_INTR (1u << 0)  /* a maskable interrupt is deliverable */
#define SOFT_IRQ_NMI (1u << 1)
#define SOFT_IRQ_INIT (1u << 2)  /* INIT IPI received */
#define SOFT_IRQ_SIPI (1u << 3)  /* start-up IPI; vector via _sipi_vector */
#define SOFT_IRQ_SMI (1u << 4)

/*
 * soft_irqchip_poll() - advance timers to now and report pending events for
 * @cpu.  Cheap when nothing is pending: the CPU calls it at every block
 * boundary.  SOFT_IRQ_INTR is reported regardless of RFLAGS.IF; the CPU
 * decides whether it can take it.
 */
unsigned soft_irqchip_poll(struct soft_irqchip *chip, unsigned cpu);

/*
 * soft_irqchip_ack() - the CPU takes the highest-priority maskable
 * interrupt (INTA cycle): returns its vector (LAPIC IRR->ISR, or the PIC's
 * vector through ExtINT), or -1 if it vanished meanwhile.
 */
int soft_irqchip_ack(struct soft_irqchip *chip, unsigned cpu);

/* Consume an NMI / INIT / SIPI that poll() reported. */
void soft_irqchip_ack_nmi(struct soft_irqchip *chip, unsigned cpu);
void soft_irqchip_ack_init(struct soft_irqchip *chip, unsigned cpu);
int soft_irqchip_ack_sipi(struct soft_irqchip *chip, unsigned cpu); /* vector */

/* CR8 <-> LAPIC TPR (CR8 = TPR[7:4]). */
uint8_t soft_irqchip_get_tpr(struct soft_irqchip *chip, unsigned cpu);
void soft_irqchip_set_tpr(struct soft_irqchip *chip, unsigned cpu, uint8_t tpr);

/* IA32_APIC_BASE and IA32_TSC_DEADLINE MSRs; x2APIC MSRs 0x800-0x8ff. */
uint64_t soft_irqchip_get_apic_base(struct soft_irqchip *chip, unsigned cpu);
int soft_irqchip_set_apic_base(struct soft_irqchip *chip, unsigned cpu,
			       uint64_t v);
int soft_irqchip_rdmsr(struct soft_irqchip *chip, unsigned cpu, uint32_t msr,
		       uint64_t *v);
int soft_irqchip_wrmsr(struct soft_irqchip *chip, unsigned cpu, uint32_t msr,
		       uint64_t v);

/*
 * soft_irqchip_wait() - a halted CPU sleeps until an event for @cpu is
 * pending, until guest time @deadline_ns (0 = none), or until
 * soft_irqchip_wake() (the vCPU was kicked).  In deterministic mode it does
 * not sleep: it advances guest time to the next timer event instead.
 * Returns the poll() bits.
 */
unsigned soft_irqchip_wait(struct soft_irqchip *chip, unsigned cpu,
			   uint64_t deadline_ns);
void soft_irqchip_wake(struct soft_irqchip *chip, unsigned cpu);

/* The local APIC register page, for vmm_cpu_state.lapic (1 KiB). */
void soft_irqchip_get_lapic(struct soft_irqchip *chip, unsigned cpu,
			    uint8_t regs[1024]);
int soft_irqchip_set_lapic(struct soft_irqchip *chip, unsigned cpu,
			   const uint8_t regs[1024]);

/* PIT channel 2 gate/output for port 0x61 (speaker / TSC calibration). */
void soft_irqchip_pit_set_gate2(struct soft_irqchip *chip, bool gate);
bool soft_irqchip_pit_out2(struct soft_irqchip *chip);

#endif
