/* SPDX-License-Identifier: MIT */
/*
 * kvm_irqchip.c - the KVM backend's part of snapshots: the in-kernel PIC
 * pair and IOAPIC (KVM_GET/SET_IRQCHIP), the PIT (KVM_GET/SET_PIT2) and
 * kvm-clock (KVM_GET/SET_CLOCK) converted to and from the backend-neutral
 * struct vmm_irqchip_state, and completing a pending I/O exit with
 * immediate_exit so that vCPU state is read at an instruction boundary.
 *
 * The PIT's count_load_time is a host CLOCK_MONOTONIC time (ktime_get()
 * in the kernel); it is carried as an age so that another process, host or
 * backend can rebase it on its own clock.
 */
#include "cpu/kvm/kvm.h"

#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void pic_from_kvm(struct vmm_pic_state *d, const struct kvm_pic_state *s)
{
	d->irr = s->irr;
	d->isr = s->isr;
	d->imr = s->imr;
	d->last_irr = s->last_irr;
	d->vector_base = s->irq_base;
	d->priority_add = s->priority_add;
	d->read_isr = s->read_reg_select;
	d->poll = s->poll;
	d->special_mask = s->special_mask;
	d->init_state = s->init_state;
	d->auto_eoi = s->auto_eoi;
	d->rotate_on_auto_eoi = s->rotate_on_auto_eoi;
	d->special_fully_nested = s->special_fully_nested_mode;
	d->icw4_needed = s->init4;
	d->elcr = s->elcr;
	d->elcr_mask = s->elcr_mask;
}

static void pic_to_kvm(struct kvm_pic_state *d, const struct vmm_pic_state *s)
{
	d->irr = s->irr;
	d->isr = s->isr;
	d->imr = s->imr;
	d->last_irr = s->last_irr;
	d->irq_base = s->vector_base;
	d->priority_add = s->priority_add;
	d->read_reg_select = s->read_isr;
	d->poll = s->poll;
	d->special_mask = s->special_mask;
	d->init_state = s->init_state;
	d->auto_eoi = s->auto_eoi;
	d->rotate_on_auto_eoi = s->rotate_on_auto_eoi;
	d->special_fully_nested_mode = s->special_fully_nested;
	d->init4 = s->icw4_needed;
	d->elcr = s->elcr;
	d->elcr_mask = s->elcr_mask;
}

int kvm_get_irqchip(vmm_vm *vm, struct vmm_irqchip_state *st)
{
	struct kvm_vm *k = kvm_of(vm);
	struct kvm_irqchip chip;
	int r;

	if (!k->irqchip)
		return vmm__err(vm, -ENODEV, "no in-kernel irqchip");
	if (k->split) {
		r = kvm_split_get(vm, st);
		if (r)
			return r;
		goto clock;
	}
	for (uint32_t id = 0; id < 3; id++) {
		memset(&chip, 0, sizeof(chip));
		chip.chip_id = id;
		r = kvm_ioctl(k->vm_fd, KVM_GET_IRQCHIP, &chip);
		if (r < 0)
			return vmm__err(vm, r, "KVM_GET_IRQCHIP %u failed", id);
		if (id < 2) {
			pic_from_kvm(&st->pic[id], &chip.chip.pic);
		} else {
			const struct kvm_ioapic_state *io = &chip.chip.ioapic;
			st->ioapic.base = io->base_address;
			st->ioapic.id = io->id;
			st->ioapic.ioregsel = io->ioregsel;
			st->ioapic.irr = io->irr;
			for (int i = 0; i < VMM_IOAPIC_PINS; i++)
				st->ioapic.redir[i] = io->redirtbl[i].bits;
		}
	}
	st->valid = VMM_IRQCHIP_PIC | VMM_IRQCHIP_IOAPIC;
	if (vm->caps & VMM_CAP_PIT) {
		struct kvm_pit_state2 pit;
		int64_t now;

		memset(&pit, 0, sizeof(pit));
		r = kvm_ioctl(k->vm_fd, KVM_GET_PIT2, &pit);
		if (r < 0)
			return vmm__err(vm, r, "KVM_GET_PIT2 failed");
		now = mono_ns();
		st->pit.flags = (pit.flags & KVM_PIT_FLAGS_HPET_LEGACY) ?
					VMM_PIT_HPET_LEGACY : 0;
		for (int i = 0; i < 3; i++) {
			const struct kvm_pit_channel_state *c = &pit.channels[i];
			struct vmm_pit_channel *d = &st->pit.ch[i];
			d->count = c->count;
			d->latched_count = c->latched_count;
			d->count_latched = c->count_latched;
			d->status_latched = c->status_latched;
			d->status = c->status;
			d->read_state = c->read_state;
			d->write_state = c->write_state;
			d->write_latch = c->write_latch;
			d->rw_mode = c->rw_mode;
			d->mode = c->mode;
			d->bcd = c->bcd;
			d->gate = c->gate;
			d->load_age_ns = now - c->count_load_time;
			if (d->load_age_ns < 0)
				d->load_age_ns = 0;
		}
		st->valid |= VMM_IRQCHIP_PIT;
	}
clock:
	{
		struct kvm_clock_data clk;

		memset(&clk, 0, sizeof(clk));
		if (kvm_ioctl(k->vm_fd, KVM_GET_CLOCK, &clk) == 0) {
			st->clock_ns = clk.clock;
			st->valid |= VMM_IRQCHIP_CLOCK;
		}
	}
	return 0;
}

int kvm_set_irqchip(vmm_vm *vm, const struct vmm_irqchip_state *st)
{
	struct kvm_vm *k = kvm_of(vm);
	struct kvm_irqchip chip;
	int r;

	if (!k->irqchip)
		return vmm__err(vm, -ENODEV, "no in-kernel irqchip");
	if ((st->valid & VMM_IRQCHIP_PIT) && !(vm->caps & VMM_CAP_PIT))
		return vmm__err(vm, -ENODEV,
				"state has a PIT but this VM has none");
	if (k->split) {
		r = kvm_split_set(vm, st);
		if (r)
			return r;
		goto clock;
	}
	if (st->valid & VMM_IRQCHIP_PIC) {
		for (uint32_t id = 0; id < 2; id++) {
			memset(&chip, 0, sizeof(chip));
			chip.chip_id = id;
			pic_to_kvm(&chip.chip.pic, &st->pic[id]);
			r = kvm_ioctl(k->vm_fd, KVM_SET_IRQCHIP, &chip);
			if (r < 0)
				return vmm__err(vm, r, "KVM_SET_IRQCHIP (PIC %u) failed",
						id);
		}
	}
	if (st->valid & VMM_IRQCHIP_IOAPIC) {
		struct kvm_ioapic_state *io = &chip.chip.ioapic;

		memset(&chip, 0, sizeof(chip));
		chip.chip_id = KVM_IRQCHIP_IOAPIC;
		io->base_address = st->ioapic.base;
		io->id = st->ioapic.id;
		io->ioregsel = st->ioapic.ioregsel;
		io->irr = st->ioapic.irr;
		for (int i = 0; i < VMM_IOAPIC_PINS; i++)
			io->redirtbl[i].bits = st->ioapic.redir[i];
		r = kvm_ioctl(k->vm_fd, KVM_SET_IRQCHIP, &chip);
		if (r < 0)
			return vmm__err(vm, r, "KVM_SET_IRQCHIP (IOAPIC) failed");
	}
	if (st->valid & VMM_IRQCHIP_PIT) {
		struct kvm_pit_state2 pit;
		int64_t now = mono_ns();

		memset(&pit, 0, sizeof(pit));
		pit.flags = (st->pit.flags & VMM_PIT_HPET_LEGACY) ?
				    KVM_PIT_FLAGS_HPET_LEGACY : 0;
		for (int i = 0; i < 3; i++) {
			struct kvm_pit_channel_state *c = &pit.channels[i];
			const struct vmm_pit_channel *s = &st->pit.ch[i];
			c->count = s->count;
			c->latched_count = s->latched_count;
			c->count_latched = s->count_latched;
			c->status_latched = s->status_latched;
			c->status = s->status;
			c->read_state = s->read_state;
			c->write_state = s->write_state;
			c->write_latch = s->write_latch;
			c->rw_mode = s->rw_mode;
			c->mode = s->mode;
			c->bcd = s->bcd;
			c->gate = s->gate;
			c->count_load_time = now - s->load_age_ns;
		}
		r = kvm_ioctl(k->vm_fd, KVM_SET_PIT2, &pit);
		if (r < 0)
			return vmm__err(vm, r, "KVM_SET_PIT2 failed");
	}
clock:
	if (st->valid & VMM_IRQCHIP_CLOCK) {
		struct kvm_clock_data clk;

		memset(&clk, 0, sizeof(clk));
		clk.clock = st->clock_ns;
		r = kvm_ioctl(k->vm_fd, KVM_SET_CLOCK, &clk);
		if (r < 0)
			return vmm__err(vm, r, "KVM_SET_CLOCK failed");
	}
	return 0;
}

/*
 * After KVM_EXIT_IO / KVM_EXIT_MMIO the instruction is only finished by
 * the next KVM_RUN (an IN or MMIO read takes its value from kvm_run then).
 * With immediate_exit set, KVM_RUN completes it and returns -EINTR before
 * entering the guest, so the state read afterwards is consistent.
 */
int kvm_vcpu_complete_io(vmm_vcpu *vcpu)
{
	struct kvm_vcpu_priv *p = kvcpu_of(vcpu);
	int r, e;

	__atomic_store_n(&p->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	kvm_state_forget(p);
	r = ioctl(p->fd, KVM_RUN, 0);
	e = errno;
	if (!atomic_load(&vcpu->kick_pending))
		__atomic_store_n(&p->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	if (r == 0) {
		/*
		 * Finishing the instruction gave another exit, e.g. the write
		 * half of an MMIO read-modify-write: the next run returns it
		 * instead of entering the guest, so the device still sees it.
		 */
		p->exit_pending = true;
		return 0;
	}
	if (e == EINTR || e == EAGAIN)
		return 0;
	return vmm__err(vcpu->vm, -e, "vcpu%u: KVM_RUN (completing I/O): %s",
			vcpu->index, strerror(e));
}
