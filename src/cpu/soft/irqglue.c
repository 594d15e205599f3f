/* SPDX-License-Identifier: MIT */
/*
 * irqglue.c - calls into the interrupt controllers of src/irq/.
 * The SOFT_IRQ_HAVE() checks only matter in a SOFT_IRQ_FORCE_WEAK build
 * (irqglue.h).
 */
#include "cpu/soft/irqglue.h"

bool soft_glue_available(void)
{
	return SOFT_IRQ_HAVE(soft_irqchip_create) &&
	       SOFT_IRQ_HAVE(soft_irqchip_poll) &&
	       SOFT_IRQ_HAVE(soft_irqchip_ack) &&
	       SOFT_IRQ_HAVE(soft_irqchip_wait) &&
	       SOFT_IRQ_HAVE(soft_irqchip_destroy);
}

int soft_glue_create(vmm_vm *vm, struct soft_vm *svm)
{
	int ret;

	if (!soft_glue_available())
		return 0;
	ret = soft_irqchip_create(vm, vm->cfg.ncpus,
				  !(vm->cfg.flags & VMM_CFG_NO_PIT),
				  &svm->clock, &svm->chip);
	return ret;
}

void soft_glue_destroy(struct soft_vm *svm)
{
	if (svm->chip && SOFT_IRQ_HAVE(soft_irqchip_destroy))
		soft_irqchip_destroy(svm->chip);
	svm->chip = NULL;
}

unsigned soft_glue_poll(struct soft_cpu *c)
{
	return soft_irqchip_poll(c->svm->chip, c->vcpu->index);
}

int soft_glue_ack(struct soft_cpu *c)
{
	return soft_irqchip_ack(c->svm->chip, c->vcpu->index);
}

void soft_glue_ack_nmi(struct soft_cpu *c)
{
	if (SOFT_IRQ_HAVE(soft_irqchip_ack_nmi))
		soft_irqchip_ack_nmi(c->svm->chip, c->vcpu->index);
}

bool soft_glue_init_sipi(struct soft_cpu *c, unsigned ev)
{
	struct soft_irqchip *chip = c->svm->chip;
	unsigned idx = c->vcpu->index;

	if ((ev & SOFT_IRQ_INIT) && SOFT_IRQ_HAVE(soft_irqchip_ack_init)) {
		uint8_t lapic[1024];
		soft_irqchip_ack_init(chip, idx);
		memcpy(lapic, c->st.lapic, sizeof(lapic));
		vmm_state_reset(&c->st, idx == 0);
		memcpy(c->st.lapic, lapic, sizeof(lapic));
		/* the BSP restarts at the reset vector, an AP waits for
		 * SIPI (as KVM does) */
		c->st.mp_state = idx == 0 ? VMM_MP_RUNNABLE :
					    VMM_MP_INIT_RECEIVED;
		c->halted = false;
		c->lf_op = LF_NONE;
		soft_update_mode(c);
		soft_tlb_flush(c);
		return true;
	}
	if ((ev & SOFT_IRQ_SIPI) && SOFT_IRQ_HAVE(soft_irqchip_ack_sipi)) {
		int v = soft_irqchip_ack_sipi(chip, idx);
		if (v < 0 || c->st.mp_state != VMM_MP_INIT_RECEIVED)
			return false;
		c->st.seg[VMM_CS].selector = (uint16_t)(v << 8);
		c->st.seg[VMM_CS].base = (uint64_t)v << 12;
		c->st.rip = 0;
		c->st.mp_state = VMM_MP_RUNNABLE;
		soft_update_mode(c);
		return true;
	}
	return false;
}

unsigned soft_glue_wait(struct soft_cpu *c)
{
	return soft_irqchip_wait(c->svm->chip, c->vcpu->index, 0);
}

void soft_glue_wake(struct soft_cpu *c)
{
	if (c->svm->chip && SOFT_IRQ_HAVE(soft_irqchip_wake))
		soft_irqchip_wake(c->svm->chip, c->vcpu->index);
}

int soft_glue_set_irq(struct soft_vm *svm, uint32_t gsi, int level)
{
	if (!svm->chip || !SOFT_IRQ_HAVE(soft_irqchip_set_irq))
		return -ENODEV;
	return soft_irqchip_set_irq(svm->chip, gsi, level);
}

int soft_glue_msi(struct soft_vm *svm, uint64_t addr, uint32_t data)
{
	if (!svm->chip || !SOFT_IRQ_HAVE(soft_irqchip_msi))
		return -ENODEV;
	return soft_irqchip_msi(svm->chip, addr, data);
}

void soft_glue_tsc_offset(struct soft_cpu *c)
{
	if (c->svm->chip && SOFT_IRQ_HAVE(soft_irqchip_set_tsc_offset))
		soft_irqchip_set_tsc_offset(c->svm->chip, c->vcpu->index,
					    c->tsc_offset);
}

bool soft_glue_timer_armed(struct soft_cpu *c)
{
	if (!c->svm->chip || !SOFT_IRQ_HAVE(soft_irqchip_next_deadline))
		return true;
	return soft_irqchip_next_deadline(c->svm->chip) != UINT64_MAX;
}

void soft_glue_get_lapic(struct soft_cpu *c, uint8_t regs[1024])
{
	if (c->svm->chip && SOFT_IRQ_HAVE(soft_irqchip_get_lapic))
		soft_irqchip_get_lapic(c->svm->chip, c->vcpu->index, regs);
}

int soft_glue_set_lapic(struct soft_cpu *c, const uint8_t regs[1024])
{
	if (c->svm->chip && SOFT_IRQ_HAVE(soft_irqchip_set_lapic))
		return soft_irqchip_set_lapic(c->svm->chip, c->vcpu->index,
					      regs);
	return 0;
}
