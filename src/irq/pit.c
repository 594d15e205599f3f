// SPDX-License-Identifier: MIT
/*
 * pit.c - the 8254 programmable interval timer at 0x40-0x43 (counters 0-2
 * and the control word register), and port 0x61 (system control port B:
 * counter 2 gate in bit 0, speaker data bit 1, bits 2-3 stored, bit 4 the
 * refresh toggle - flipped on every read, as the i8042 device does - and
 * bit 5 counter 2's OUT).
 *
 * Written from the 8254 data sheet.  A counter is not stepped: its value
 * and OUT are functions of the clock (1193182 Hz): e = ticks elapsed since
 * the count was loaded (or the gate restarted it), with the six modes:
 *
 *   0 interrupt on terminal count  OUT low, high once e >= N; gate pauses
 *   1 hw retriggerable one-shot    gate edge starts; OUT low until e >= N
 *   2 rate generator               OUT low for one tick at e = kN - 1
 *   3 square wave                  OUT high for ceil(N/2), low for N/2
 *   4 software triggered strobe    OUT low for the tick e = N; gate pauses
 *   5 hardware triggered strobe    as 4, started by a gate edge
 *
 * with lsb / msb / lsb-then-msb access, BCD counting, the counter latch
 * command and the read-back command (count and status).  Counter 0's OUT
 * drives ISA IRQ 0: every rising edge pulses PIC IR0 and IOAPIC pin 2;
 * edges missed while nobody looked coalesce into one.  Counters 0 and 1
 * have their gates tied high; counter 2's gate is port 0x61 bit 0.
 */
#include "irq/irq_impl.h"

static uint64_t ticks_of(uint64_t dt)
{
	return (uint64_t)((unsigned __int128)dt * SOFT_IRQCHIP_PIT_HZ /
			  1000000000u);
}

uint64_t pit_ticks_of(uint64_t dt)
{
	return ticks_of(dt);
}

/* The smallest dt with ticks_of(dt) >= k. */
static uint64_t time_of(uint64_t k)
{
	return (uint64_t)(((unsigned __int128)k * 1000000000u +
			   SOFT_IRQCHIP_PIT_HZ - 1) / SOFT_IRQCHIP_PIT_HZ);
}

static uint64_t elapsed(const struct pit_chan *c, uint64_t now)
{
	uint64_t e = c->ticks;

	if ((c->flags & SOFT_PIT_COUNTING) && now > c->start_ns)
		e += ticks_of(now - c->start_ns);
	return e;
}

static uint32_t modulus(const struct pit_chan *c)
{
	return c->bcd ? 10000 : 65536;
}

/* The counting element, binary, 0..modulus-1. */
static uint32_t value(const struct pit_chan *c, uint64_t now)
{
	uint64_t e = elapsed(c, now), n = c->count, h;

	if (!(c->flags & SOFT_PIT_LOADED))
		return 0;
	switch (c->mode) {
	case 2:
		return (uint32_t)(n - e % n) % modulus(c);
	case 3:
		h = (n + 1) / 2;
		e %= n;
		if (e < h)
			return (uint32_t)((n - 2 * e) % modulus(c));
		return (uint32_t)(((n & ~1ull) - 2 * (e - h)) % modulus(c));
	default:
		return (uint32_t)((n + modulus(c) - e % modulus(c)) %
				  modulus(c));
	}
}

bool pit_out(struct pit_chan *c, uint64_t now)
{
	uint64_t e = elapsed(c, now), n = c->count;
	bool loaded = c->flags & SOFT_PIT_LOADED;
	bool counting = c->flags & SOFT_PIT_COUNTING;

	switch (c->mode) {
	case 0: return loaded && e >= n;
	case 1: return !(c->flags & SOFT_PIT_TRIGGERED) || e >= n;
	case 2: return !counting || !loaded || e % n != n - 1;
	case 3: return !counting || !loaded || e % n < (n + 1) / 2;
	case 4: return !loaded || e != n;
	default: return !(c->flags & SOFT_PIT_TRIGGERED) || e != n;
	}
}

/* The next rising edge of OUT strictly after @now, or NO_DEADLINE. */
static uint64_t next_edge(const struct pit_chan *c, uint64_t now)
{
	uint64_t e, n = c->count, target, dt, t;

	if (!(c->flags & SOFT_PIT_COUNTING) || !(c->flags & SOFT_PIT_LOADED))
		return NO_DEADLINE;
	e = elapsed(c, now);
	switch (c->mode) {
	case 0:
	case 1:
		if (e >= n)
			return NO_DEADLINE;
		target = n;
		break;
	case 2:
	case 3:
		target = (e / n + 1) * n;
		break;
	default:
		if (e >= n + 1)
			return NO_DEADLINE;
		target = n + 1;
		break;
	}
	if (target <= c->ticks)
		return NO_DEADLINE; /* only after a hostile restore */
	dt = time_of(target - c->ticks);
	if (__builtin_add_overflow(c->start_ns, dt, &t) || t <= now)
		return NO_DEADLINE;
	return t;
}

void pit_rearm(struct soft_irqchip *chip, uint64_t now)
{
	chip->pit.irq_next = chip->with_pit ? next_edge(&chip->pit.ch[0], now)
					    : NO_DEADLINE;
}

void pit_fire(struct soft_irqchip *chip, uint64_t now)
{
	chip_set_pin(chip, true, 0, SRC_PIT, true);
	chip_set_pin(chip, false, 2, SRC_PIT, true);
	chip_set_pin(chip, true, 0, SRC_PIT, false);
	chip_set_pin(chip, false, 2, SRC_PIT, false);
	pit_rearm(chip, now);
}

static void chan_reset(struct pit_chan *c, bool gate)
{
	memset(c, 0, sizeof(*c));
	c->count = 65536;
	c->rw = 3;
	c->gate = gate;
}

void pit_reset(struct soft_irqchip *chip)
{
	struct pit *p = &chip->pit;

	for (unsigned i = 0; i < 3; i++)
		chan_reset(&p->ch[i], i != 2);
	p->port61 = 0;
	p->refresh = 0;
	p->irq_next = NO_DEADLINE;
}

static void start(struct pit_chan *c, uint64_t now)
{
	c->ticks = 0;
	c->start_ns = now;
	c->flags |= SOFT_PIT_COUNTING;
}

void pit_gate(struct soft_irqchip *chip, unsigned ch, bool gate, uint64_t now)
{
	struct pit_chan *c = &chip->pit.ch[ch];
	bool loaded = c->flags & SOFT_PIT_LOADED;

	if (gate == c->gate)
		return;
	c->gate = gate;
	switch (c->mode) {
	case 0:
	case 4:
		if (!gate) {
			c->ticks = elapsed(c, now);
			c->flags &= (uint16_t)~SOFT_PIT_COUNTING;
		} else if (loaded) {
			c->start_ns = now;
			c->flags |= SOFT_PIT_COUNTING;
		}
		break;
	case 1:
	case 5:
		if (gate && loaded) {
			start(c, now);
			c->flags |= SOFT_PIT_TRIGGERED;
		}
		break;
	default:
		if (!gate) {
			c->ticks = elapsed(c, now);
			c->flags &= (uint16_t)~SOFT_PIT_COUNTING;
		} else if (loaded) {
			start(c, now); /* reload and restart */
		}
		break;
	}
	if (ch == 0)
		pit_rearm(chip, now);
}

static uint32_t bcd2bin(uint32_t v)
{
	return (v & 0xf) + ((v >> 4) & 0xf) * 10 + ((v >> 8) & 0xf) * 100 +
	       ((v >> 12) & 0xf) * 1000;
}

static uint32_t bin2bcd(uint32_t v)
{
	return (v % 10) | (v / 10 % 10) << 4 | (v / 100 % 10) << 8 |
	       (v / 1000 % 10) << 12;
}

static uint16_t read_value(const struct pit_chan *c, uint64_t now)
{
	uint32_t v = value(c, now);

	return (uint16_t)(c->bcd ? bin2bcd(v) : v);
}

static void load_count(struct pit_chan *c, uint32_t raw, uint64_t now)
{
	uint32_t n = c->bcd ? bcd2bin(raw) : raw;

	if (n == 0 || n > modulus(c))
		n = n ? n % modulus(c) : modulus(c);
	if (n == 0)
		n = modulus(c);
	c->count = n;
	c->flags |= SOFT_PIT_LOADED;
	c->flags &= (uint16_t)~(SOFT_PIT_NULL_COUNT | SOFT_PIT_TRIGGERED);
	c->ticks = 0;
	c->start_ns = now;
	switch (c->mode) {
	case 1:
	case 5:
		c->flags &= (uint16_t)~SOFT_PIT_COUNTING; /* wait for gate */
		break;
	default:
		if (c->gate)
			c->flags |= SOFT_PIT_COUNTING;
		else
			c->flags &= (uint16_t)~SOFT_PIT_COUNTING;
		break;
	}
}

static void write_counter(struct soft_irqchip *chip, unsigned ch, uint8_t v,
			  uint64_t now)
{
	struct pit_chan *c = &chip->pit.ch[ch];

	switch (c->rw) {
	case 1:
		load_count(c, v, now);
		break;
	case 2:
		load_count(c, (uint32_t)v << 8, now);
		break;
	default:
		if (!(c->flags & SOFT_PIT_WFLIP)) {
			c->wlsb = v;
			c->flags |= SOFT_PIT_WFLIP;
			if (c->mode == 0) /* the first byte stops the count */
				c->flags &= (uint16_t)~(SOFT_PIT_LOADED |
							SOFT_PIT_COUNTING);
		} else {
			c->flags &= (uint16_t)~SOFT_PIT_WFLIP;
			load_count(c, c->wlsb | (uint32_t)v << 8, now);
		}
		break;
	}
	if (ch == 0)
		pit_rearm(chip, now);
}

static uint8_t read_counter(struct pit_chan *c, uint64_t now)
{
	uint16_t v;

	if (c->flags & SOFT_PIT_ST_LATCHED) {
		c->flags &= (uint16_t)~SOFT_PIT_ST_LATCHED;
		return c->status;
	}
	if (c->flags & SOFT_PIT_CNT_LATCHED) {
		v = c->latch;
		if (c->rw == 3 && !(c->flags & SOFT_PIT_LATCH_FLIP)) {
			c->flags |= SOFT_PIT_LATCH_FLIP;
			return (uint8_t)v;
		}
		c->flags &= (uint16_t)~(SOFT_PIT_CNT_LATCHED |
					SOFT_PIT_LATCH_FLIP);
		return (uint8_t)(c->rw == 1 ? v : v >> 8);
	}
	v = read_value(c, now);
	switch (c->rw) {
	case 1: return (uint8_t)v;
	case 2: return (uint8_t)(v >> 8);
	default:
		c->flags ^= SOFT_PIT_RFLIP;
		return (uint8_t)((c->flags & SOFT_PIT_RFLIP) ? v : v >> 8);
	}
}

static void latch_count(struct pit_chan *c, uint64_t now)
{
	if (c->flags & SOFT_PIT_CNT_LATCHED)
		return;
	c->latch = read_value(c, now);
	c->flags |= SOFT_PIT_CNT_LATCHED;
	c->flags &= (uint16_t)~SOFT_PIT_LATCH_FLIP;
}

static void latch_status(struct pit_chan *c, uint64_t now)
{
	if (c->flags & SOFT_PIT_ST_LATCHED)
		return;
	c->status = (uint8_t)((pit_out(c, now) ? 0x80 : 0) |
			      ((c->flags & SOFT_PIT_NULL_COUNT) ? 0x40 : 0) |
			      c->rw << 4 | c->mode << 1 | c->bcd);
	c->flags |= SOFT_PIT_ST_LATCHED;
}

static void write_control(struct soft_irqchip *chip, uint8_t v, uint64_t now)
{
	unsigned sel = v >> 6, rw = (v >> 4) & 3, mode = (v >> 1) & 7;
	struct pit_chan *c;

	if (sel == 3) { /* read-back */
		for (unsigned i = 0; i < 3; i++) {
			if (!(v & (2u << i)))
				continue;
			if (!(v & 0x20))
				latch_count(&chip->pit.ch[i], now);
			if (!(v & 0x10))
				latch_status(&chip->pit.ch[i], now);
		}
		return;
	}
	c = &chip->pit.ch[sel];
	if (rw == 0) {
		latch_count(c, now);
		return;
	}
	c->rw = (uint8_t)rw;
	c->mode = (uint8_t)(mode > 5 ? mode - 4 : mode);
	c->bcd = v & 1;
	c->flags = SOFT_PIT_NULL_COUNT;
	c->ticks = 0;
	if (sel == 0)
		pit_rearm(chip, now);
}

static int pit_read(void *opaque, uint64_t off, void *data, unsigned size,
		    struct vmm_io_ctx *ctx)
{
	struct soft_irqchip *chip = opaque;
	uint64_t now = chip_now(chip);
	uint8_t *b = data;

	memset(data, 0xff, size);
	pthread_mutex_lock(&chip->lock);
	now = chip_advance(chip, now);
	for (unsigned i = 0; i < size && off + i < 3; i++)
		b[i] = read_counter(&chip->pit.ch[off + i], now);
	pthread_mutex_unlock(&chip->lock);
	return 0;
}

static int pit_write(void *opaque, uint64_t off, const void *data,
		     unsigned size, struct vmm_io_ctx *ctx)
{
	struct soft_irqchip *chip = opaque;
	uint64_t now = chip_now(chip);
	const uint8_t *b = data;

	pthread_mutex_lock(&chip->lock);
	now = chip_advance(chip, now);
	for (unsigned i = 0; i < size && off + i < 4; i++) {
		if (off + i == 3)
			write_control(chip, b[i], now);
		else
			write_counter(chip, (unsigned)(off + i), b[i], now);
	}
	chip_update(chip);
	pthread_mutex_unlock(&chip->lock);
	return 0;
}

const struct vmm_io_ops pit_ops = { .read = pit_read, .write = pit_write };

static int port61_read(void *opaque, uint64_t off, void *data, unsigned size,
		       struct vmm_io_ctx *ctx)
{
	struct soft_irqchip *chip = opaque;
	uint64_t now = chip_now(chip);
	uint8_t v;

	pthread_mutex_lock(&chip->lock);
	now = chip_advance(chip, now);
	chip->pit.refresh ^= 0x10;
	v = (uint8_t)((chip->pit.port61 & 0x0f) | chip->pit.refresh |
		      (pit_out(&chip->pit.ch[2], now) ? 0x20 : 0));
	pthread_mutex_unlock(&chip->lock);
	memset(data, 0xff, size);
	*(uint8_t *)data = v;
	return 0;
}

static int port61_write(void *opaque, uint64_t off, const void *data,
			unsigned size, struct vmm_io_ctx *ctx)
{
	struct soft_irqchip *chip = opaque;
	uint64_t now = chip_now(chip);
	uint8_t v = *(const uint8_t *)data;

	pthread_mutex_lock(&chip->lock);
	now = chip_advance(chip, now);
	chip->pit.port61 = v & 0x0f;
	pit_gate(chip, 2, v & 1, now);
	chip_update(chip);
	pthread_mutex_unlock(&chip->lock);
	return 0;
}

const struct vmm_io_ops port61_ops = { .read = port61_read,
				       .write = port61_write };
