// SPDX-License-Identifier: MIT
/*
 * pic.c - the 8259A programmable interrupt controller pair of a PC: master
 * at 0x20/0x21, slave at 0xa0/0xa1 cascaded on master IR2, and the edge /
 * level control registers (ELCR) at 0x4d0/0x4d1.
 *
 * Written from the 8259A data sheet: ICW1-ICW4 initialization, OCW1 (mask),
 * OCW2 (EOI, specific EOI, rotation, set priority), OCW3 (read IRR/ISR,
 * poll, special mask mode), automatic EOI with optional rotation, special
 * fully nested mode, edge-triggered inputs (the request latches on a rising
 * edge and stays in IRR until acknowledged) and level-triggered ones (IRR
 * follows the input), and the spurious IR7 default when a request vanishes
 * before INTA.  The master's cascade input is fed by the slave's INT output
 * level.  8086 mode is assumed (uPM in ICW4 is ignored).
 */
#include "irq/irq_impl.h"

#define CASCADE_IRQ 2

static bool level_mode(const struct pic8259 *p, unsigned irq)
{
	return (p->flags & SOFT_PIC_LTIM) || (p->elcr >> irq & 1);
}

/* Priority rank of @irq: 0 is the highest. */
static unsigned prio(const struct pic8259 *p, unsigned irq)
{
	return (irq - p->lowest - 1) & 7;
}

/* The IR with the highest priority among @mask, or -1. */
static int highest(const struct pic8259 *p, uint8_t mask)
{
	for (unsigned r = 0; r < 8; r++) {
		unsigned irq = (p->lowest + 1 + r) & 7;
		if (mask >> irq & 1)
			return (int)irq;
	}
	return -1;
}

void pic_reset(struct pic8259 *p, uint8_t elcr_mask)
{
	memset(p, 0, sizeof(*p));
	p->elcr_mask = elcr_mask;
	p->lowest = 7;
}

void pic_set_line(struct pic8259 *p, unsigned irq, bool level)
{
	uint8_t m = (uint8_t)(1u << irq);

	if (level_mode(p, irq)) {
		if (level)
			p->irr |= m;
		else
			p->irr &= (uint8_t)~m;
	} else if (level && !(p->lines & m)) {
		p->irr |= m;
	}
	if (level)
		p->lines |= m;
	else
		p->lines &= (uint8_t)~m;
}

int pic_pending(const struct pic8259 *p, bool master)
{
	uint8_t req = p->irr & (uint8_t)~p->imr;
	uint8_t isr = p->isr;
	int best, blk;

	if (p->init_step)
		return -1;
	best = highest(p, req);
	if (best < 0)
		return -1;
	if (p->flags & SOFT_PIC_SMM)
		isr &= (uint8_t)~p->imr;
	blk = highest(p, isr);
	if (blk < 0 || prio(p, (unsigned)best) < prio(p, (unsigned)blk))
		return best;
	/* special fully nested: the slave may interrupt its own level */
	if (master && (p->flags & SOFT_PIC_SFNM) && best == blk &&
	    best == CASCADE_IRQ && !(p->flags & SOFT_PIC_SINGLE))
		return best;
	return -1;
}

int pic_inta(struct pic8259 *p, bool master)
{
	int irq = pic_pending(p, master);
	uint8_t m;

	if (irq < 0)
		return -1;
	m = (uint8_t)(1u << irq);
	if (!level_mode(p, (unsigned)irq))
		p->irr &= (uint8_t)~m;
	if (p->flags & SOFT_PIC_AEOI) {
		if (p->flags & SOFT_PIC_ROTATE_AEOI)
			p->lowest = (uint8_t)irq;
	} else {
		p->isr |= m;
	}
	return irq;
}

static void icw1(struct pic8259 *p, uint8_t v)
{
	uint8_t keep_lines = p->lines, elcr = p->elcr, mask = p->elcr_mask;

	pic_reset(p, mask);
	p->elcr = elcr;
	p->lines = keep_lines;
	if (v & 0x01)
		p->flags |= SOFT_PIC_IC4;
	if (v & 0x02)
		p->flags |= SOFT_PIC_SINGLE;
	if (v & 0x08)
		p->flags |= SOFT_PIC_LTIM;
	/* the edge sense latch is reset: only level inputs request now */
	for (unsigned i = 0; i < 8; i++)
		if (level_mode(p, i) && (p->lines >> i & 1))
			p->irr |= (uint8_t)(1u << i);
	p->init_step = 2;
}

static void ocw2(struct pic8259 *p, uint8_t v)
{
	unsigned l = v & 7;
	int irq;

	switch (v >> 5) {
	case 0: /* clear rotate in AEOI mode */
		p->flags &= (uint16_t)~SOFT_PIC_ROTATE_AEOI;
		break;
	case 4: /* set rotate in AEOI mode */
		p->flags |= SOFT_PIC_ROTATE_AEOI;
		break;
	case 1: /* non-specific EOI */
	case 5: /* rotate on non-specific EOI */
		irq = highest(p, p->isr);
		if (irq >= 0) {
			p->isr &= (uint8_t)~(1u << irq);
			if (v >> 5 == 5)
				p->lowest = (uint8_t)irq;
		}
		break;
	case 3: /* specific EOI */
		p->isr &= (uint8_t)~(1u << l);
		break;
	case 7: /* rotate on specific EOI */
		p->isr &= (uint8_t)~(1u << l);
		p->lowest = (uint8_t)l;
		break;
	case 6: /* set priority */
		p->lowest = (uint8_t)l;
		break;
	default: /* 2: no operation */
		break;
	}
}

static void ocw3(struct pic8259 *p, uint8_t v)
{
	if (v & 0x40) {
		if (v & 0x20)
			p->flags |= SOFT_PIC_SMM;
		else
			p->flags &= (uint16_t)~SOFT_PIC_SMM;
	}
	if (v & 0x04)
		p->flags |= SOFT_PIC_POLL;
	if (v & 0x02) {
		if (v & 0x01)
			p->flags |= SOFT_PIC_READ_ISR;
		else
			p->flags &= (uint16_t)~SOFT_PIC_READ_ISR;
	}
}

static void pic_write(struct pic8259 *p, unsigned port, uint8_t v)
{
	if (port == 0) {
		if (v & 0x10)
			icw1(p, v);
		else if (v & 0x08)
			ocw3(p, v);
		else
			ocw2(p, v);
		return;
	}
	switch (p->init_step) {
	case 2:
		p->base = v & 0xf8;
		if (!(p->flags & SOFT_PIC_SINGLE))
			p->init_step = 3;
		else
			p->init_step = (p->flags & SOFT_PIC_IC4) ? 4 : 0;
		break;
	case 3:
		p->icw3 = v;
		p->init_step = (p->flags & SOFT_PIC_IC4) ? 4 : 0;
		break;
	case 4:
		if (v & 0x02)
			p->flags |= SOFT_PIC_AEOI;
		if (v & 0x10)
			p->flags |= SOFT_PIC_SFNM;
		p->init_step = 0;
		break;
	default:
		p->imr = v;
		break;
	}
}

/* A poll command read: acknowledge like INTA, report 0x80 | IR. */
static uint8_t pic_poll_read(struct soft_irqchip *chip, unsigned n)
{
	struct pic8259 *p = &chip->pic[n];
	int irq;

	p->flags &= (uint16_t)~SOFT_PIC_POLL;
	irq = pic_inta(p, n == 0);
	return irq < 0 ? 0 : (uint8_t)(0x80 | irq);
}

static int pic_io_read(struct soft_irqchip *chip, unsigned n, uint64_t off,
		       void *data, unsigned size)
{
	struct pic8259 *p = &chip->pic[n];
	uint8_t v;

	pthread_mutex_lock(&chip->lock);
	if (p->flags & SOFT_PIC_POLL) {
		v = pic_poll_read(chip, n);
		chip_pic_changed(chip);
	} else if (off == 0) {
		v = (p->flags & SOFT_PIC_READ_ISR) ? p->isr : p->irr;
	} else {
		v = p->imr;
	}
	pthread_mutex_unlock(&chip->lock);
	/* a wider access reads the second port as the next byte */
	memset(data, 0xff, size);
	*(uint8_t *)data = v;
	if (size > 1 && off == 0)
		((uint8_t *)data)[1] = p->imr;
	return 0;
}

static int pic_io_write(struct soft_irqchip *chip, unsigned n, uint64_t off,
			const void *data, unsigned size)
{
	const uint8_t *b = data;

	pthread_mutex_lock(&chip->lock);
	for (unsigned i = 0; i < size && off + i < 2; i++)
		pic_write(&chip->pic[n], (unsigned)(off + i), b[i]);
	chip_pic_changed(chip);
	pthread_mutex_unlock(&chip->lock);
	return 0;
}

static int master_read(void *opaque, uint64_t off, void *data, unsigned size,
		       struct vmm_io_ctx *ctx)
{
	return pic_io_read(opaque, 0, off, data, size);
}

static int master_write(void *opaque, uint64_t off, const void *data,
			unsigned size, struct vmm_io_ctx *ctx)
{
	return pic_io_write(opaque, 0, off, data, size);
}

static int slave_read(void *opaque, uint64_t off, void *data, unsigned size,
		      struct vmm_io_ctx *ctx)
{
	return pic_io_read(opaque, 1, off, data, size);
}

static int slave_write(void *opaque, uint64_t off, const void *data,
		       unsigned size, struct vmm_io_ctx *ctx)
{
	return pic_io_write(opaque, 1, off, data, size);
}

const struct vmm_io_ops pic_ops = { .read = master_read,
				    .write = master_write };
const struct vmm_io_ops pic_slave_ops = { .read = slave_read,
					  .write = slave_write };

/* ELCR: 0x4d0 master, 0x4d1 slave; IRQ 0, 1, 2, 8, 13 are always edge. */
static int elcr_read(void *opaque, uint64_t off, void *data, unsigned size,
		     struct vmm_io_ctx *ctx)
{
	struct soft_irqchip *chip = opaque;
	uint8_t *b = data;

	memset(data, 0xff, size);
	pthread_mutex_lock(&chip->lock);
	for (unsigned i = 0; i < size && off + i < 2; i++)
		b[i] = chip->pic[off + i].elcr;
	pthread_mutex_unlock(&chip->lock);
	return 0;
}

static int elcr_write(void *opaque, uint64_t off, const void *data,
		      unsigned size, struct vmm_io_ctx *ctx)
{
	struct soft_irqchip *chip = opaque;
	const uint8_t *b = data;

	pthread_mutex_lock(&chip->lock);
	for (unsigned i = 0; i < size && off + i < 2; i++) {
		struct pic8259 *p = &chip->pic[off + i];
		p->elcr = b[i] & p->elcr_mask;
		/* a level input's IRR follows its line from now on */
		for (unsigned irq = 0; irq < 8; irq++)
			if (level_mode(p, irq) && !(p->lines >> irq & 1))
				p->irr &= (uint8_t)~(1u << irq);
			else if (level_mode(p, irq))
				p->irr |= (uint8_t)(1u << irq);
	}
	chip_pic_changed(chip);
	pthread_mutex_unlock(&chip->lock);
	return 0;
}

const struct vmm_io_ops elcr_ops = { .read = elcr_read, .write = elcr_write };
