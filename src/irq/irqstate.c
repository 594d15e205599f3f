// SPDX-License-Identifier: MIT
/*
 * irqstate.c - save and restore of the whole software irqchip as the
 * versioned plain-data image described in irqchip.h.  Restore treats the
 * image as hostile: every field is range-checked before anything changes.
 */
#include "irq/irq_impl.h"

#define PIC_FLAGS_VALID 0x1ffu
#define PIT_FLAGS_VALID 0x1ffu
#define LAPIC_FLAGS_VALID 0xfu
#define BASE_VALID 0x000ffffffffffd00ull
#define BASE_X2 (1ull << 10)
#define BASE_EN (1ull << 11)

int soft_irqchip_save(struct soft_irqchip *chip, void *buf, size_t len)
{
	size_t size = SOFT_IRQCHIP_STATE_SIZE(chip->ncpus);
	struct soft_irqchip_state *st = buf;
	struct soft_lapic_state *ls;
	uint64_t now;

	if (!buf && !len)
		return (int)size;
	if (!buf || len < size)
		return vmm__err(chip->vm, -ENOSPC,
				"irqchip state needs %zu bytes", size);
	memset(buf, 0, size);
	ls = (struct soft_lapic_state *)(st + 1);
	now = chip_now(chip);
	pthread_mutex_lock(&chip->lock);
	now = chip_advance(chip, now);
	st->magic = SOFT_IRQCHIP_STATE_MAGIC;
	st->version = SOFT_IRQCHIP_STATE_VERSION;
	st->size = (uint32_t)size;
	st->ncpus = chip->ncpus;
	st->with_pit = chip->with_pit;
	for (int i = 0; i < 2; i++) {
		const struct pic8259 *p = &chip->pic[i];
		struct soft_pic_state *o = &st->pic[i];
		o->irr = p->irr;
		o->imr = p->imr;
		o->isr = p->isr;
		o->elcr = p->elcr;
		o->lines = p->lines;
		o->base = p->base;
		o->icw3 = p->icw3;
		o->init_step = p->init_step;
		o->lowest = p->lowest;
		o->flags = p->flags;
	}
	st->ioapic.id = chip->ioapic.id;
	st->ioapic.regsel = chip->ioapic.regsel;
	st->ioapic.lines = chip->ioapic.lines;
	memcpy(st->ioapic.redir, chip->ioapic.redir, sizeof(st->ioapic.redir));
	for (int i = 0; i < 3; i++) {
		const struct pit_chan *c = &chip->pit.ch[i];
		struct soft_pit_chan_state *o = &st->pit.ch[i];
		o->count = c->count;
		o->mode = c->mode;
		o->rw = c->rw;
		o->bcd = c->bcd;
		o->gate = c->gate;
		o->flags = c->flags;
		o->wlsb = c->wlsb;
		o->status = c->status;
		o->latch = c->latch;
		o->ticks = c->ticks;
		o->run_ns = ((c->flags & SOFT_PIT_COUNTING) && now > c->start_ns)
				    ? now - c->start_ns : 0;
	}
	st->pit.port61 = chip->pit.port61;
	st->pit.refresh = chip->pit.refresh;
	memcpy(st->pic_src, chip->pic_src, sizeof(st->pic_src));
	memcpy(st->ioapic_src, chip->ioapic_src, sizeof(st->ioapic_src));
	for (unsigned c = 0; c < chip->ncpus; c++) {
		const struct lapic *l = &chip->lapic[c];
		struct soft_lapic_state *o = &ls[c];
		lapic_get_page(chip, c, o->regs, now);
		o->apic_base = l->apic_base;
		o->timer_ns = l->deadline == NO_DEADLINE ? UINT64_MAX :
			      l->deadline > now ? l->deadline - now : 0;
		o->tsc_deadline = l->tsc_deadline;
		o->tsc = lapic_tsc(chip, c, now);
		o->esr_pending = l->esr_pending;
		o->flags = (l->nmi ? SOFT_LAPIC_NMI : 0) |
			   (l->init ? SOFT_LAPIC_INIT : 0) |
			   (l->sipi ? SOFT_LAPIC_SIPI : 0) |
			   (l->smi ? SOFT_LAPIC_SMI : 0);
		o->sipi_vector = l->sipi_vector;
	}
	pthread_mutex_unlock(&chip->lock);
	return (int)size;
}

static bool check_image(struct soft_irqchip *chip,
			const struct soft_irqchip_state *st, size_t len,
			const char **why)
{
	const struct soft_lapic_state *ls = (const void *)(st + 1);
	size_t size = SOFT_IRQCHIP_STATE_SIZE(chip->ncpus);

#define BAD(msg)                                                               \
	do {                                                                   \
		*why = msg;                                                    \
		return false;                                                  \
	} while (0)
	if (len < sizeof(*st) || st->magic != SOFT_IRQCHIP_STATE_MAGIC)
		BAD("bad magic");
	if (st->version != SOFT_IRQCHIP_STATE_VERSION)
		BAD("unknown version");
	if (st->ncpus != chip->ncpus || st->size != size || len < size)
		BAD("vCPU count or size mismatch");
	if (st->with_pit != chip->with_pit)
		BAD("PIT presence mismatch");
	for (int i = 0; i < 2; i++) {
		const struct soft_pic_state *p = &st->pic[i];
		if ((p->init_step && (p->init_step < 2 || p->init_step > 4)) ||
		    p->lowest > 7 || (p->flags & ~PIC_FLAGS_VALID))
			BAD("bad PIC state");
	}
	if (st->ioapic.lines >> SOFT_IRQCHIP_NGSI)
		BAD("bad IOAPIC state");
	for (int i = 0; i < 3; i++) {
		const struct soft_pit_chan_state *c = &st->pit.ch[i];
		uint32_t mod = c->bcd ? 10000 : 65536;
		if (c->mode > 5 || c->rw < 1 || c->rw > 3 || c->bcd > 1 ||
		    c->gate > 1 || c->count < 1 || c->count > mod ||
		    (c->flags & ~PIT_FLAGS_VALID) || c->ticks >> 53 ||
		    c->run_ns >> 62)
			BAD("bad PIT state");
	}
	for (int i = 0; i < 16; i++)
		if (st->pic_src[i] & ~SRC_ALL)
			BAD("bad PIC sources");
	for (int i = 0; i < SOFT_IRQCHIP_NGSI; i++)
		if (st->ioapic_src[i] & ~SRC_ALL)
			BAD("bad IOAPIC sources");
	for (unsigned c = 0; c < chip->ncpus; c++) {
		uint64_t b = ls[c].apic_base;
		if ((b & ~BASE_VALID) || ((b & BASE_X2) && !(b & BASE_EN)) ||
		    (ls[c].flags & ~LAPIC_FLAGS_VALID) ||
		    (ls[c].timer_ns != UINT64_MAX && ls[c].timer_ns >> 62))
			BAD("bad local APIC state");
	}
#undef BAD
	return true;
}

static void apply(struct soft_irqchip *chip,
		  const struct soft_irqchip_state *st, uint64_t now)
{
	const struct soft_lapic_state *ls = (const void *)(st + 1);

	for (int i = 0; i < 2; i++) {
		struct pic8259 *p = &chip->pic[i];
		const struct soft_pic_state *o = &st->pic[i];
		p->irr = o->irr;
		p->imr = o->imr;
		p->isr = o->isr;
		p->elcr = o->elcr & p->elcr_mask;
		p->lines = o->lines;
		p->base = o->base & 0xf8;
		p->icw3 = o->icw3;
		p->init_step = o->init_step;
		p->lowest = o->lowest;
		p->flags = o->flags;
	}
	chip->ioapic.id = st->ioapic.id & 0x0f000000u;
	chip->ioapic.regsel = st->ioapic.regsel & 0xff;
	chip->ioapic.lines = st->ioapic.lines;
	for (int i = 0; i < SOFT_IRQCHIP_NGSI; i++)
		chip->ioapic.redir[i] = st->ioapic.redir[i] &
					0xff0000000001efffull;
	for (int i = 0; i < 3; i++) {
		struct pit_chan *c = &chip->pit.ch[i];
		const struct soft_pit_chan_state *o = &st->pit.ch[i];
		c->count = o->count;
		c->mode = o->mode;
		c->rw = o->rw;
		c->bcd = o->bcd;
		c->gate = o->gate;
		c->flags = o->flags;
		c->wlsb = o->wlsb;
		c->status = o->status;
		c->latch = o->latch;
		c->ticks = o->ticks;
		if (o->run_ns <= now) {
			c->start_ns = now - o->run_ns;
		} else { /* a younger clock: keep whole ticks */
			c->ticks += pit_ticks_of(o->run_ns);
			c->start_ns = now;
		}
	}
	chip->pit.port61 = st->pit.port61 & 0x0f;
	chip->pit.refresh = st->pit.refresh & 0x10;
	pit_rearm(chip, now);
	memcpy(chip->pic_src, st->pic_src, sizeof(chip->pic_src));
	memcpy(chip->ioapic_src, st->ioapic_src, sizeof(chip->ioapic_src));
	for (unsigned c = 0; c < chip->ncpus; c++) {
		struct lapic *l = &chip->lapic[c];
		const struct soft_lapic_state *o = &ls[c];
		l->apic_base = o->apic_base;
		lapic_set_page(chip, c, o->regs, now);
		l->tsc_offset = 0;
		l->tsc_offset = (int64_t)(o->tsc - lapic_tsc(chip, c, now));
		if (((l->lvt[LVT_TIMER] >> 17) & 3) == 2) {
			l->tsc_deadline = 0;
			lapic_set_tsc_deadline(chip, c, o->tsc_deadline, now);
		} else if (o->timer_ns == UINT64_MAX) {
			l->deadline = NO_DEADLINE;
		} else {
			l->deadline = o->timer_ns >= NO_DEADLINE - 1 - now ?
					      NO_DEADLINE - 1 : now + o->timer_ns;
		}
		l->esr_pending = o->esr_pending;
		l->nmi = o->flags & SOFT_LAPIC_NMI;
		l->init = o->flags & SOFT_LAPIC_INIT;
		l->sipi = o->flags & SOFT_LAPIC_SIPI;
		l->smi = o->flags & SOFT_LAPIC_SMI;
		l->sipi_vector = o->sipi_vector;
	}
}

int soft_irqchip_restore(struct soft_irqchip *chip, const void *buf,
			 size_t len)
{
	const struct soft_irqchip_state *st = buf;
	const struct soft_lapic_state *ls;
	const char *why = "";
	uint64_t old[VMM_MAX_VCPUS], now;
	unsigned c;
	int ret = 0;

	if (!buf || !check_image(chip, st, len, &why))
		return vmm__err(chip->vm, -EINVAL, "irqchip state: %s",
				buf ? why : "no buffer");
	ls = (const void *)(st + 1);
	/* relocated LAPIC pages: register the new bases first */
	pthread_mutex_lock(&chip->mmio_lock);
	pthread_mutex_lock(&chip->lock);
	for (c = 0; c < chip->ncpus; c++)
		old[c] = chip->lapic[c].apic_base & ~0xfffull;
	pthread_mutex_unlock(&chip->lock);
	for (c = 0; c < chip->ncpus; c++) {
		uint64_t nb = ls[c].apic_base & ~0xfffull;
		if (nb != old[c] && (ret = lapic_slot_get(chip, nb)))
			break;
	}
	if (ret) {
		while (c--) {
			uint64_t nb = ls[c].apic_base & ~0xfffull;
			if (nb != old[c])
				lapic_slot_put(chip, nb);
		}
		pthread_mutex_unlock(&chip->mmio_lock);
		return ret;
	}
	now = chip_now(chip);
	pthread_mutex_lock(&chip->lock);
	now = chip_advance(chip, now);
	apply(chip, st, now);
	chip_pic_changed(chip); /* re-derives the cascade and pin 0 too */
	pthread_mutex_unlock(&chip->lock);
	for (c = 0; c < chip->ncpus; c++)
		if ((ls[c].apic_base & ~0xfffull) != old[c])
			lapic_slot_put(chip, old[c]);
	pthread_mutex_unlock(&chip->mmio_lock);
	return 0;
}
