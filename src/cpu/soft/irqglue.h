/* SPDX-License-Identifier: MIT */
/*
 * irqglue.h - the software CPU's side of the interrupt controllers
 * (src/irq/irqchip.h).  With VMM_CFG_NO_IRQCHIP (or in a
 * SOFT_IRQ_FORCE_WEAK build without them) the CPU runs with
 * no irqchip: HLT returns VMM_EXIT_HLT, vmm_irq_set_line() gives -ENODEV.
 */
#ifndef LIBVMM_SOFT_IRQGLUE_H
#define LIBVMM_SOFT_IRQGLUE_H

#include "cpu/soft/soft.h"

/*
 * The controllers (src/irq/) are always built since the KVM backend's split
 * irqchip uses them too; the references are strong, so static links pull
 * them in.  SOFT_IRQ_FORCE_WEAK keeps the old weak-reference build (the CPU
 * then runs without an irqchip when they are absent).
 */
#ifndef SOFT_IRQ_FORCE_WEAK
#define SOFT_IRQ_BUILT 1
#endif
#ifdef SOFT_IRQ_BUILT
#define SOFT_IRQ_HAVE(fn) 1
#else
#define SOFT_IRQ_HAVE(fn) ((fn) != NULL)
#pragma weak soft_irqchip_create
#pragma weak soft_irqchip_destroy
#pragma weak soft_irqchip_set_irq
#pragma weak soft_irqchip_msi
#pragma weak soft_irqchip_poll
#pragma weak soft_irqchip_ack
#pragma weak soft_irqchip_ack_nmi
#pragma weak soft_irqchip_ack_init
#pragma weak soft_irqchip_ack_sipi
#pragma weak soft_irqchip_wait
#pragma weak soft_irqchip_wake
#pragma weak soft_irqchip_get_lapic
#pragma weak soft_irqchip_set_lapic
#pragma weak soft_irqchip_get_tpr
#pragma weak soft_irqchip_set_tpr
#pragma weak soft_irqchip_get_apic_base
#pragma weak soft_irqchip_set_apic_base
#pragma weak soft_irqchip_rdmsr
#pragma weak soft_irqchip_wrmsr
#pragma weak soft_irqchip_pit_set_gate2
#pragma weak soft_irqchip_pit_out2
#pragma weak soft_irqchip_put_apic_base
#pragma weak soft_irqchip_get_cr8
#pragma weak soft_irqchip_set_cr8
#pragma weak soft_irqchip_set_tsc_offset
#pragma weak soft_irqchip_next_deadline
#pragma weak soft_irqchip_get_vmm
#pragma weak soft_irqchip_set_vmm
#endif


/* Are the controllers built into this libvmm? */
bool soft_glue_available(void);
int soft_glue_create(vmm_vm *vm, struct soft_vm *svm);
void soft_glue_destroy(struct soft_vm *svm);
unsigned soft_glue_poll(struct soft_cpu *c);
int soft_glue_ack(struct soft_cpu *c);
void soft_glue_ack_nmi(struct soft_cpu *c);
/* INIT / SIPI handling; true if the state changed */
bool soft_glue_init_sipi(struct soft_cpu *c, unsigned ev);
unsigned soft_glue_wait(struct soft_cpu *c);
void soft_glue_wake(struct soft_cpu *c);
int soft_glue_set_irq(struct soft_vm *svm, uint32_t gsi, int level);
int soft_glue_msi(struct soft_vm *svm, uint64_t addr, uint32_t data);
/* The TSC offset changed (TSC = clock + offset): tell the chip. */
void soft_glue_tsc_offset(struct soft_cpu *c);
/* Deterministic mode: is any timer armed? */
bool soft_glue_timer_armed(struct soft_cpu *c);
void soft_glue_get_lapic(struct soft_cpu *c, uint8_t regs[1024]);
int soft_glue_set_lapic(struct soft_cpu *c, const uint8_t regs[1024]);

#endif
