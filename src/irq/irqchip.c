// SPDX-License-Identifier: MIT
/*
 * irqchip.c - the glue of the software irqchip: creation and bus ranges,
 * ISA/GSI routing, MSI decoding, the time base (advancing the PIT and the
 * LAPIC timers in deadline order) and the per-vCPU pending bits that
 * poll() reads without a lock.  The CPU's side of the contract (poll, INTA,
 * waiting, MSRs, LAPIC state) is in irqcpu.c.  See irqchip.h.
 *
 * Locking: chip->lock protects every controller.  The pending bits and the
 * next deadline are atomics written under the lock and read without it.
 * chip->mmio_lock (LAPIC page relocation) is taken before chip->lock.
 * Nothing is called with chip->lock held except the clock's now_ns() and
 * vmm__err()/pthread calls.
 */
#include "irq/irq_impl.h"

enum { REG_PIC_M, REG_PIC_S, REG_ELCR, REG_IOAPIC, REG_PIT, REG_P61, REG_N };

uint64_t chip_now(struct soft_irqchip *chip)
{
	return chip->clock.now_ns(chip->clock.opaque);
}

bool chip_extint_for(struct soft_irqchip *chip, unsigned cpu)
{
	struct lapic *l = &chip->lapic[cpu];
	uint32_t lint0 = l->lvt[LVT_LINT0];

	if (pic_pending(&chip->pic[0], true) < 0)
		return false;
	if (!lapic_hw_enabled(l))
		return (l->apic_base & (1ull << 8)) != 0; /* BSP: no APIC */
	if (!(lint0 & 0x10000) && ((lint0 >> 8) & 7) == DM_EXTINT)
		return true;
	return ioapic_extint_to(chip, cpu);
}

unsigned chip_compute(struct soft_irqchip *chip, unsigned cpu)
{
	struct lapic *l = &chip->lapic[cpu];
	unsigned bits = 0;
	int v;

	if (chip_extint_for(chip, cpu))
		bits |= SOFT_IRQ_INTR | PENDING_EXTINT;
	v = lapic_highest_irr(l);
	if (v >= 0 && ((uint32_t)v & 0xf0) > (lapic_ppr(l) & 0xf0))
		bits |= SOFT_IRQ_INTR;
	if (l->nmi)
		bits |= SOFT_IRQ_NMI;
	if (l->init)
		bits |= SOFT_IRQ_INIT;
	if (l->sipi)
		bits |= SOFT_IRQ_SIPI;
	if (l->smi)
		bits |= SOFT_IRQ_SMI;
	return bits;
}

uint64_t chip_earliest_deadline(struct soft_irqchip *chip)
{
	uint64_t t = chip->pit.irq_next;

	for (unsigned c = 0; c < chip->ncpus; c++)
		if (chip->lapic[c].deadline < t)
			t = chip->lapic[c].deadline;
	return t;
}

/* Publish the pending bits and the next deadline; wake who must see them. */
void chip_update(struct soft_irqchip *chip)
{
	uint64_t next = chip_earliest_deadline(chip);
	bool earlier = next < atomic_load(&chip->next_deadline);

	atomic_store(&chip->next_deadline, next);
	if (chip->ext) {
		if (earlier && next != NO_DEADLINE && chip->sink.timer)
			chip->sink.timer(chip->sink.opaque);
		return; /* the LAPICs are the kernel's */
	}
	for (unsigned c = 0; c < chip->ncpus; c++) {
		unsigned bits = chip_compute(chip, c);
		atomic_store(&chip->pending[c], bits);
		if (chip->wait[c].waiting && (bits || earlier))
			pthread_cond_signal(&chip->wait[c].cond);
	}
}

/* The master's cascade input and IOAPIC pin 0 follow the PIC outputs. */
void chip_pic_changed(struct soft_irqchip *chip)
{
	struct pic8259 *m = &chip->pic[0];
	bool slave_out = pic_pending(&chip->pic[1], false) >= 0;

	if (!(m->flags & SOFT_PIC_SINGLE)) {
		if (slave_out) {
			m->irr |= 0x04;
			m->lines |= 0x04;
		} else {
			m->irr &= (uint8_t)~0x04;
			m->lines &= (uint8_t)~0x04;
		}
	}
	if (pic_pending(m, true) >= 0)
		chip->ioapic.lines |= 1;
	else
		chip->ioapic.lines &= ~1u;
	if (chip->ext) {
		bool out = chip->ioapic.lines & 1;
		atomic_store(&chip->extint_out, out);
		if (out && chip->sink.extint)
			chip->sink.extint(chip->sink.opaque);
	}
	chip_update(chip);
}

void chip_set_pin(struct soft_irqchip *chip, bool pic, unsigned pin,
		  uint8_t src, bool level)
{
	uint8_t *s = pic ? &chip->pic_src[pin] : &chip->ioapic_src[pin];
	bool old = *s != 0;

	if (level)
		*s |= src;
	else
		*s &= (uint8_t)~src;
	if (old == (*s != 0))
		return;
	if (pic) {
		pic_set_line(&chip->pic[pin >> 3], pin & 7, !old);
		chip_pic_changed(chip);
	} else {
		ioapic_set_pin(chip, pin, !old);
	}
}

/* INTA through ExtINT: the PIC pair supplies the vector. */
int chip_pic_intack(struct soft_irqchip *chip)
{
	struct pic8259 *m = &chip->pic[0], *s = &chip->pic[1];
	int irq = pic_inta(m, true), sirq, vec;

	if (irq < 0) {
		vec = m->base + 7; /* spurious IR7 */
	} else if (irq == 2 && !(m->flags & SOFT_PIC_SINGLE)) {
		sirq = pic_inta(s, false);
		vec = s->base + (sirq < 0 ? 7 : sirq);
	} else {
		vec = m->base + irq;
	}
	chip_pic_changed(chip);
	return vec;
}

/*
 * Process every timer event up to @now in deadline order (PIT first on a
 * tie, then LAPICs by index).  Returns the effective now: the clock never
 * goes backwards for the chip.
 */
uint64_t chip_advance(struct soft_irqchip *chip, uint64_t now)
{
	bool fired = false;

	if (now < chip->last_now)
		now = chip->last_now;
	chip->last_now = now;
	for (;;) {
		uint64_t t = chip->pit.irq_next;
		int who = -1;
		for (unsigned c = 0; c < chip->ncpus; c++) {
			if (chip->lapic[c].deadline < t) {
				t = chip->lapic[c].deadline;
				who = (int)c;
			}
		}
		if (t == NO_DEADLINE || t > now)
			break;
		if (who < 0)
			pit_fire(chip, now);
		else
			lapic_timer_fire(chip, (unsigned)who, now);
		fired = true;
	}
	if (fired)
		chip_update(chip);
	return now;
}

/* ---- creation ---- */

int lapic_slot_get(struct soft_irqchip *chip, uint64_t base)
{
	int free_slot = -1, ret;

	for (int i = 0; i < LAPIC_MMIO_SLOTS; i++) {
		if (chip->mmio[i].users && chip->mmio[i].base == base) {
			chip->mmio[i].users++;
			return 0;
		}
		if (!chip->mmio[i].users && free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0)
		return vmm__err(chip->vm, -ENOSPC,
				"too many distinct local APIC bases");
	chip->mmio[free_slot].base = base;
	ret = vmm_bus_register(chip->vm, VMM_SPACE_MMIO, base,
			       SOFT_IRQCHIP_LAPIC_SIZE, &lapic_ops,
			       &chip->mmio[free_slot], "lapic");
	if (ret)
		return ret;
	chip->mmio[free_slot].users = 1;
	return 0;
}

void lapic_slot_put(struct soft_irqchip *chip, uint64_t base)
{
	for (int i = 0; i < LAPIC_MMIO_SLOTS; i++) {
		if (chip->mmio[i].users && chip->mmio[i].base == base) {
			if (--chip->mmio[i].users == 0)
				vmm_bus_unregister(chip->vm, VMM_SPACE_MMIO,
						   base);
			return;
		}
	}
}

static void reset_all(struct soft_irqchip *chip)
{
	pic_reset(&chip->pic[0], 0xf8);
	pic_reset(&chip->pic[1], 0xde);
	memset(chip->pic_src, 0, sizeof(chip->pic_src));
	ioapic_reset(&chip->ioapic);
	memset(chip->ioapic_src, 0, sizeof(chip->ioapic_src));
	pit_reset(chip);
	for (unsigned c = 0; c < chip->ncpus; c++)
		lapic_reset(chip, c, true);
}

static void unregister_all(struct soft_irqchip *chip)
{
	static const struct { enum vmm_space sp; uint64_t base; } r[REG_N] = {
		[REG_PIC_M] = { VMM_SPACE_PIO, 0x20 },
		[REG_PIC_S] = { VMM_SPACE_PIO, 0xa0 },
		[REG_ELCR] = { VMM_SPACE_PIO, 0x4d0 },
		[REG_IOAPIC] = { VMM_SPACE_MMIO, SOFT_IRQCHIP_IOAPIC_BASE },
		[REG_PIT] = { VMM_SPACE_PIO, 0x40 },
		[REG_P61] = { VMM_SPACE_PIO, 0x61 },
	};

	for (int i = 0; i < REG_N; i++) {
		if (chip->registered[i])
			vmm_bus_unregister(chip->vm, r[i].sp, r[i].base);
		chip->registered[i] = false;
	}
	for (int i = 0; i < LAPIC_MMIO_SLOTS; i++) {
		if (chip->mmio[i].users)
			vmm_bus_unregister(chip->vm, VMM_SPACE_MMIO,
					   chip->mmio[i].base);
		chip->mmio[i].users = 0;
	}
}

static int register_all(struct soft_irqchip *chip)
{
	vmm_vm *vm = chip->vm;
	int ret;

#define REG(idx, sp, base, len, ops, name)                                     \
	do {                                                                   \
		ret = vmm_bus_register(vm, sp, base, len, ops, chip, name);    \
		if (ret)                                                       \
			return ret;                                            \
		chip->registered[idx] = true;                                  \
	} while (0)
	REG(REG_PIC_M, VMM_SPACE_PIO, 0x20, 2, &pic_ops, "pic-master");
	REG(REG_PIC_S, VMM_SPACE_PIO, 0xa0, 2, &pic_slave_ops, "pic-slave");
	REG(REG_ELCR, VMM_SPACE_PIO, 0x4d0, 2, &elcr_ops, "elcr");
	REG(REG_IOAPIC, VMM_SPACE_MMIO, SOFT_IRQCHIP_IOAPIC_BASE,
	    SOFT_IRQCHIP_IOAPIC_SIZE, &ioapic_ops, "ioapic");
	if (chip->with_pit) {
		REG(REG_PIT, VMM_SPACE_PIO, 0x40, 4, &pit_ops, "pit");
		ret = vmm_bus_register(vm, VMM_SPACE_PIO, 0x61, 1,
				       &port61_ops, chip, "pit-port61");
		if (ret && ret != -EEXIST)
			return ret;
		chip->registered[REG_P61] = ret == 0;
	}
#undef REG
	if (chip->ext)
		return 0; /* the LAPIC pages are the kernel's */
	ret = lapic_slot_get(chip, SOFT_IRQCHIP_LAPIC_BASE);
	if (ret)
		return ret;
	chip->mmio[0].users = chip->ncpus;
	return 0;
}

static void free_chip(struct soft_irqchip *chip, unsigned nconds)
{
	vmm_vm *vm = chip->vm;

	for (unsigned c = 0; c < nconds; c++)
		pthread_cond_destroy(&chip->wait[c].cond);
	vmm__free(vm, chip->lapic);
	vmm__free(vm, chip->wait);
	vmm__free(vm, (void *)chip->pending);
	vmm__free(vm, chip);
}

static int create(vmm_vm *vm, unsigned ncpus, bool with_pit,
		  const struct soft_clock *clock,
		  const struct soft_irqchip_sink *sink,
		  struct soft_irqchip **out);

int soft_irqchip_create(vmm_vm *vm, unsigned ncpus, bool with_pit,
			const struct soft_clock *clock,
			struct soft_irqchip **out)
{
	return create(vm, ncpus, with_pit, clock, NULL, out);
}

int soft_irqchip_create_ext(vmm_vm *vm, unsigned ncpus, bool with_pit,
			    const struct soft_clock *clock,
			    const struct soft_irqchip_sink *sink,
			    struct soft_irqchip **out)
{
	if (!sink || !sink->msi)
		return vmm__err(vm, -EINVAL, "soft irqchip: no MSI sink");
	return create(vm, ncpus, with_pit, clock, sink, out);
}

static int create(vmm_vm *vm, unsigned ncpus, bool with_pit,
		  const struct soft_clock *clock,
		  const struct soft_irqchip_sink *sink,
		  struct soft_irqchip **out)
{
	struct soft_irqchip *chip;
	pthread_condattr_t ca;
	unsigned c;
	int ret;

	if (!vm || !out)
		return -EINVAL;
	*out = NULL;
	if (!ncpus || ncpus > VMM_MAX_VCPUS || !clock || !clock->now_ns)
		return vmm__err(vm, -EINVAL, "soft irqchip: bad arguments");
	chip = vmm__alloc(vm, sizeof(*chip));
	if (!chip)
		return vmm__err(vm, -ENOMEM, "soft irqchip: out of memory");
	chip->vm = vm;
	chip->ncpus = ncpus;
	chip->with_pit = with_pit;
	chip->clock = *clock;
	if (sink) {
		chip->ext = true;
		chip->sink = *sink;
	}
	if (!chip->clock.tsc_hz)
		chip->clock.tsc_hz = 1000000000u;
	for (int i = 0; i < LAPIC_MMIO_SLOTS; i++)
		chip->mmio[i].chip = chip;
	chip->lapic = vmm__alloc(vm, ncpus * sizeof(*chip->lapic));
	chip->wait = vmm__alloc(vm, ncpus * sizeof(*chip->wait));
	chip->pending = vmm__alloc(vm, ncpus * sizeof(*chip->pending));
	if (!chip->lapic || !chip->wait || !chip->pending) {
		free_chip(chip, 0);
		return vmm__err(vm, -ENOMEM, "soft irqchip: out of memory");
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	for (c = 0; c < ncpus; c++) {
		if ((ret = -pthread_cond_init(&chip->wait[c].cond, &ca)))
			break;
	}
	pthread_condattr_destroy(&ca);
	if (c < ncpus) {
		free_chip(chip, c);
		return vmm__err(vm, ret, "soft irqchip: condvar init failed");
	}
	pthread_mutex_init(&chip->lock, NULL);
	pthread_mutex_init(&chip->mmio_lock, NULL);
	reset_all(chip);
	chip->last_now = chip_now(chip);
	atomic_store(&chip->next_deadline, NO_DEADLINE);
	chip_update(chip);
	ret = register_all(chip);
	if (ret) {
		unregister_all(chip);
		pthread_mutex_destroy(&chip->lock);
		pthread_mutex_destroy(&chip->mmio_lock);
		free_chip(chip, ncpus);
		return ret;
	}
	*out = chip;
	return 0;
}

void soft_irqchip_destroy(struct soft_irqchip *chip)
{
	if (!chip)
		return;
	unregister_all(chip);
	pthread_mutex_destroy(&chip->lock);
	pthread_mutex_destroy(&chip->mmio_lock);
	free_chip(chip, chip->ncpus);
}

void soft_irqchip_reset(struct soft_irqchip *chip)
{
	pthread_mutex_lock(&chip->mmio_lock);
	pthread_mutex_lock(&chip->lock);
	reset_all(chip);
	chip_update(chip);
	pthread_mutex_unlock(&chip->lock);
	/* every LAPIC is back at the default base */
	for (int i = 0; i < LAPIC_MMIO_SLOTS; i++) {
		struct lapic_mmio *s = &chip->mmio[i];
		if (s->users && s->base != SOFT_IRQCHIP_LAPIC_BASE) {
			vmm_bus_unregister(chip->vm, VMM_SPACE_MMIO, s->base);
			s->users = 0;
		} else if (s->users) {
			s->users = chip->ncpus;
		}
	}
	pthread_mutex_unlock(&chip->mmio_lock);
}

/* ---- lines and messages ---- */

int soft_irqchip_set_irq(struct soft_irqchip *chip, uint32_t gsi, int level)
{
	uint64_t now;
	bool on = level != 0;

	if (gsi >= SOFT_IRQCHIP_NGSI)
		return vmm__err(chip->vm, -EINVAL, "GSI %u out of range", gsi);
	now = chip_now(chip);
	pthread_mutex_lock(&chip->lock);
	chip_advance(chip, now);
	if (gsi == 0) {
		chip_set_pin(chip, true, 0, SRC_GSI, on);
		chip_set_pin(chip, false, 2, SRC_GSI0, on);
	} else if (gsi == 2) {
		chip_set_pin(chip, false, 2, SRC_GSI, on);
	} else {
		if (gsi < 16)
			chip_set_pin(chip, true, gsi, SRC_GSI, on);
		chip_set_pin(chip, false, gsi, SRC_GSI, on);
	}
	chip_update(chip);
	pthread_mutex_unlock(&chip->lock);
	return 0;
}

int soft_irqchip_msi(struct soft_irqchip *chip, uint64_t addr, uint32_t data)
{
	struct apic_msg m = {
		.dest = (uint32_t)(addr >> 12) & 0xff,
		.logical = (addr & 4) != 0,
		.mode = (uint8_t)((data >> 8) & 7),
		.vector = (uint8_t)data,
		.assert = true,
		.src = -1,
	};
	uint64_t now;

	if ((addr >> 20) != 0xfee)
		return vmm__err(chip->vm, -EINVAL, "bad MSI address 0x%llx",
				(unsigned long long)addr);
	if (m.mode == 3 || m.mode == DM_SIPI || m.mode == DM_EXTINT)
		return 0; /* not deliverable by a message: dropped */
	if ((addr & 8) && m.mode == DM_FIXED)
		m.mode = DM_LOWEST; /* redirection hint */
	now = chip_now(chip);
	pthread_mutex_lock(&chip->lock);
	chip_advance(chip, now);
	apic_deliver(chip, &m);
	chip_update(chip);
	pthread_mutex_unlock(&chip->lock);
	return 0;
}

/* ---- external LAPICs (split irqchip) ---- */

void soft_irqchip_eoi(struct soft_irqchip *chip, uint8_t vector)
{
	uint64_t now = chip_now(chip);

	pthread_mutex_lock(&chip->lock);
	chip_advance(chip, now);
	ioapic_eoi(chip, vector);
	chip_update(chip);
	pthread_mutex_unlock(&chip->lock);
}

bool soft_irqchip_extint_pending(struct soft_irqchip *chip)
{
	return atomic_load(&chip->extint_out);
}

int soft_irqchip_extint_ack(struct soft_irqchip *chip)
{
	uint64_t now = chip_now(chip);
	int v;

	pthread_mutex_lock(&chip->lock);
	chip_advance(chip, now);
	v = chip_pic_intack(chip);
	pthread_mutex_unlock(&chip->lock);
	return v;
}

void soft_irqchip_advance(struct soft_irqchip *chip)
{
	uint64_t now = chip_now(chip);

	pthread_mutex_lock(&chip->lock);
	chip_advance(chip, now);
	pthread_mutex_unlock(&chip->lock);
}

void soft_irqchip_sync(struct soft_irqchip *chip)
{
	pthread_mutex_lock(&chip->lock);
	for (unsigned pin = 0; pin < SOFT_IRQCHIP_NGSI; pin++)
		ioapic_route_changed(chip, pin);
	/* force the timer callback: the deadlines may all be new */
	atomic_store(&chip->next_deadline, NO_DEADLINE);
	chip_pic_changed(chip);
	pthread_mutex_unlock(&chip->lock);
}
