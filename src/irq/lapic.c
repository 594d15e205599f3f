// SPDX-License-Identifier: MIT
/*
 * lapic.c - one local APIC per vCPU, from the Intel SDM vol. 3 chapter 10
 * (APIC): the xAPIC MMIO page at IA32_APIC_BASE and the x2APIC MSRs
 * 0x800-0x8ff, ID, version, TPR/PPR, EOI, ISR/TMR/IRR, LDR/DFR (flat and
 * cluster logical destinations), SVR (software enable), ESR, ICR with
 * fixed / lowest-priority / SMI / NMI / INIT / SIPI and the shorthands, the
 * LVT entries (CMCI, timer, thermal, perf, LINT0, LINT1, error) and the
 * timer in one-shot, periodic and TSC-deadline modes.
 *
 * Model choices (all also KVM's, so both backends behave alike): the timer
 * counts one bus cycle per ns before the divider; the version register is
 * 0x50014; fixed interrupts to a software-disabled APIC are dropped; the
 * BSP comes out of reset with LINT0 unmasked in ExtINT mode (virtual wire to
 * the PIC); an xAPIC write is only honoured as an aligned 32-bit access at
 * the start of a register, reads of any size return the register's bytes.
 */
#include "irq/irq_impl.h"

#define APIC_ID 0x20
#define APIC_VER 0x30
#define APIC_TPR 0x80
#define APIC_APR 0x90
#define APIC_PPR 0xa0
#define APIC_EOI 0xb0
#define APIC_RRD 0xc0
#define APIC_LDR 0xd0
#define APIC_DFR 0xe0
#define APIC_SVR 0xf0
#define APIC_ISR 0x100
#define APIC_TMR 0x180
#define APIC_IRR 0x200
#define APIC_ESR 0x280
#define APIC_CMCI 0x2f0
#define APIC_ICR 0x300
#define APIC_ICR2 0x310
#define APIC_LVTT 0x320
#define APIC_LVT0 0x350
#define APIC_LVTERR 0x370
#define APIC_TMICT 0x380
#define APIC_TMCCT 0x390
#define APIC_TDCR 0x3e0
#define APIC_SELF_IPI 0x3f0

#define APIC_VERSION 0x00050014u
#define SVR_ENABLE 0x100u
#define LVT_MASKED 0x10000u
#define ESR_SEND_ILLEGAL 0x20u
#define ESR_RECV_ILLEGAL 0x40u

#define BASE_BSP (1ull << 8)
#define BASE_X2APIC (1ull << 10)
#define BASE_ENABLE (1ull << 11)
#define BASE_ADDR 0x0000000ffffff000ull

#define TIMER_ONESHOT 0
#define TIMER_PERIODIC 1
#define TIMER_TSC 2

/* Writable bits of each LVT entry (indexed as enum LVT_*). */
static const uint32_t lvt_bits[LVT_N] = {
	[LVT_CMCI] = 0x107ff,    [LVT_TIMER] = 0x700ff,
	[LVT_THERMAL] = 0x107ff, [LVT_PERF] = 0x107ff,
	[LVT_LINT0] = 0x1a7ff,   [LVT_LINT1] = 0x1a7ff,
	[LVT_ERROR] = 0x100ff,
};

static int lvt_index(unsigned off)
{
	if (off == APIC_CMCI)
		return LVT_CMCI;
	if (off >= APIC_LVTT && off <= APIC_LVTERR)
		return (int)((off - APIC_LVTT) >> 4) + LVT_TIMER;
	return -1;
}

bool lapic_hw_enabled(const struct lapic *l)
{
	return (l->apic_base & BASE_ENABLE) != 0;
}

bool lapic_x2apic(const struct lapic *l)
{
	return (l->apic_base & BASE_X2APIC) != 0;
}

static bool sw_enabled(const struct lapic *l)
{
	return lapic_hw_enabled(l) && (l->svr & SVR_ENABLE);
}

static unsigned timer_mode(const struct lapic *l)
{
	unsigned m = (l->lvt[LVT_TIMER] >> 17) & 3;

	return m == 3 ? TIMER_ONESHOT : m;
}

static uint64_t timer_div(const struct lapic *l)
{
	unsigned v = (l->tdcr & 3) | ((l->tdcr & 8) >> 1);

	return 1ull << ((v + 1) & 7);
}

static int highest_bit(const uint32_t *w)
{
	for (int i = 7; i >= 0; i--)
		if (w[i])
			return i * 32 + 31 - __builtin_clz(w[i]);
	return -1;
}

static bool test_bit(const uint32_t *w, unsigned v)
{
	return (w[v >> 5] >> (v & 31)) & 1;
}

static void set_bit(uint32_t *w, unsigned v)
{
	w[v >> 5] |= 1u << (v & 31);
}

static void clear_bit(uint32_t *w, unsigned v)
{
	w[v >> 5] &= ~(1u << (v & 31));
}

int lapic_highest_irr(const struct lapic *l)
{
	return highest_bit(l->irr);
}

uint32_t lapic_ppr(const struct lapic *l)
{
	int isrv = highest_bit(l->isr);
	uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;

	return (l->tpr & 0xf0) >= isr_class ? l->tpr & 0xff : isr_class;
}

static uint32_t x2apic_ldr(uint32_t id)
{
	return ((id >> 4) << 16) | (1u << (id & 0xf));
}

void lapic_reset(struct soft_irqchip *chip, unsigned cpu, bool power_on)
{
	struct lapic *l = &chip->lapic[cpu];
	uint32_t id = power_on ? cpu : l->id;
	uint64_t base = l->apic_base;
	int64_t tsc_offset = l->tsc_offset;

	memset(l, 0, sizeof(*l));
	l->id = id;
	l->apic_base = power_on ? (SOFT_IRQCHIP_LAPIC_BASE | BASE_ENABLE |
				   (cpu == 0 ? BASE_BSP : 0)) : base;
	l->tsc_offset = power_on ? 0 : tsc_offset;
	l->dfr = 0xffffffffu;
	l->svr = 0xff;
	for (unsigned i = 0; i < LVT_N; i++)
		l->lvt[i] = LVT_MASKED;
	if (l->apic_base & BASE_BSP)
		l->lvt[LVT_LINT0] = DM_EXTINT << 8; /* virtual wire, as KVM */
	if (lapic_x2apic(l))
		l->ldr = x2apic_ldr(l->id);
	l->deadline = NO_DEADLINE;
}

bool lapic_match(const struct lapic *l, uint32_t dest, bool logical,
		 bool wide)
{
	uint32_t bcast = wide ? 0xffffffffu : 0xffu;

	if (!lapic_hw_enabled(l))
		return false;
	if (dest == bcast)
		return true;
	if (!logical)
		return dest == l->id;
	if (lapic_x2apic(l))
		return (dest >> 16) == (l->ldr >> 16) &&
		       (dest & l->ldr & 0xffff) != 0;
	dest &= 0xff;
	if ((l->dfr >> 28) == 0xf) /* flat */
		return (dest & (l->ldr >> 24)) != 0;
	/* cluster: bits 7:4 cluster (15 = all), 3:0 members */
	return ((dest >> 4) == (l->ldr >> 28) || (dest >> 4) == 0xf) &&
	       (dest & (l->ldr >> 24) & 0xf) != 0;
}

/* A fixed interrupt arrives at @l (IRR and TMR), or is refused. */
static void lapic_error(struct soft_irqchip *chip, unsigned cpu,
			uint32_t bits);

static void accept_fixed(struct soft_irqchip *chip, unsigned cpu,
			 uint8_t vector, bool level)
{
	struct lapic *l = &chip->lapic[cpu];

	if (!sw_enabled(l))
		return;
	if (vector < 16) {
		lapic_error(chip, cpu, ESR_RECV_ILLEGAL);
		return;
	}
	set_bit(l->irr, vector);
	if (level)
		set_bit(l->tmr, vector);
	else
		clear_bit(l->tmr, vector);
}

static void lapic_error(struct soft_irqchip *chip, unsigned cpu,
			uint32_t bits)
{
	struct lapic *l = &chip->lapic[cpu];
	uint32_t lvt = l->lvt[LVT_ERROR];

	l->esr_pending |= bits;
	/* an illegal error vector does not raise another error */
	if (!(lvt & LVT_MASKED) && (lvt & 0xff) >= 16 && sw_enabled(l))
		set_bit(l->irr, lvt & 0xff);
}

static void accept(struct soft_irqchip *chip, unsigned cpu,
		   const struct apic_msg *m)
{
	struct lapic *l = &chip->lapic[cpu];

	if (!lapic_hw_enabled(l))
		return;
	switch (m->mode) {
	case DM_FIXED:
	case DM_LOWEST:
		accept_fixed(chip, cpu, m->vector, m->level_trig);
		break;
	case DM_SMI:
		l->smi = true;
		break;
	case DM_NMI:
		l->nmi = true;
		break;
	case DM_INIT:
		if (m->level_trig && !m->assert)
			break; /* INIT level de-assert: arbitration only */
		l->init = true;
		l->sipi = false;
		break;
	case DM_SIPI:
		l->sipi = true;
		l->sipi_vector = m->vector;
		break;
	default:
		break;
	}
}

void apic_deliver(struct soft_irqchip *chip, const struct apic_msg *m)
{
	int best = -1;

	for (unsigned c = 0; c < chip->ncpus; c++) {
		struct lapic *l = &chip->lapic[c];
		bool hit;

		switch (m->shorthand) {
		case 1: hit = (int)c == m->src; break;
		case 2: hit = true; break;
		case 3: hit = (int)c != m->src; break;
		default: hit = lapic_match(l, m->dest, m->logical, m->wide);
		}
		if (!hit)
			continue;
		if (m->mode != DM_LOWEST || m->shorthand) {
			accept(chip, c, m);
			continue;
		}
		/* lowest priority: the lowest PPR wins, then the lowest index */
		if (!sw_enabled(l))
			continue;
		if (best < 0 ||
		    lapic_ppr(l) < lapic_ppr(&chip->lapic[best]))
			best = (int)c;
	}
	if (best >= 0)
		accept(chip, (unsigned)best, m);
}

static void send_ipi(struct soft_irqchip *chip, unsigned cpu)
{
	struct lapic *l = &chip->lapic[cpu];
	uint32_t lo = l->icr_lo;
	struct apic_msg m = {
		.dest = lapic_x2apic(l) ? l->icr_hi : l->icr_hi >> 24,
		.wide = lapic_x2apic(l),
		.logical = (lo & 0x800) != 0,
		.mode = (uint8_t)((lo >> 8) & 7),
		.vector = (uint8_t)lo,
		.level_trig = (lo & 0x8000) != 0,
		.assert = (lo & 0x4000) != 0,
		.shorthand = (uint8_t)((lo >> 18) & 3),
		.src = (int)cpu,
	};

	if (m.mode == 3 || m.mode == DM_EXTINT)
		return; /* reserved in the ICR */
	if (m.shorthand == 1 && m.mode != DM_FIXED)
		return; /* self: fixed only */
	if ((m.mode == DM_FIXED || m.mode == DM_LOWEST) && m.vector < 16) {
		lapic_error(chip, cpu, ESR_SEND_ILLEGAL);
		return;
	}
	apic_deliver(chip, &m);
}

static void lapic_eoi(struct soft_irqchip *chip, unsigned cpu)
{
	struct lapic *l = &chip->lapic[cpu];
	int v = highest_bit(l->isr);

	if (v < 0)
		return;
	clear_bit(l->isr, (unsigned)v);
	if (test_bit(l->tmr, (unsigned)v))
		ioapic_eoi(chip, (uint8_t)v);
}

int lapic_ack(struct soft_irqchip *chip, unsigned cpu)
{
	struct lapic *l = &chip->lapic[cpu];
	int v = highest_bit(l->irr);

	if (v < 0 || ((uint32_t)v & 0xf0) <= (lapic_ppr(l) & 0xf0))
		return -1;
	clear_bit(l->irr, (unsigned)v);
	set_bit(l->isr, (unsigned)v);
	return v;
}

/* ---- timer ---- */

uint64_t lapic_tsc(struct soft_irqchip *chip, unsigned cpu, uint64_t now)
{
	unsigned __int128 t = (unsigned __int128)now * chip->clock.tsc_hz;

	return (uint64_t)(t / 1000000000u) +
	       (uint64_t)chip->lapic[cpu].tsc_offset;
}

/* The first clock ns at which the TSC of @cpu reaches @tsc. */
static uint64_t tsc_to_ns(struct soft_irqchip *chip, unsigned cpu,
			  uint64_t tsc)
{
	__int128 rel = (__int128)tsc - chip->lapic[cpu].tsc_offset;
	__int128 ns;

	if (rel <= 0)
		return 0;
	ns = (rel * 1000000000 + (__int128)chip->clock.tsc_hz - 1) /
	     (__int128)chip->clock.tsc_hz;
	return ns >= (__int128)NO_DEADLINE ? NO_DEADLINE - 1 : (uint64_t)ns;
}

static void timer_start(struct lapic *l, uint64_t now, uint64_t count)
{
	l->deadline = count ? now + count * timer_div(l) : NO_DEADLINE;
}

void lapic_set_tsc_deadline(struct soft_irqchip *chip, unsigned cpu,
			    uint64_t v, uint64_t now)
{
	struct lapic *l = &chip->lapic[cpu];

	if (timer_mode(l) != TIMER_TSC)
		return;
	l->tsc_deadline = v;
	l->deadline = v ? tsc_to_ns(chip, cpu, v) : NO_DEADLINE;
}

void lapic_timer_fire(struct soft_irqchip *chip, unsigned cpu, uint64_t now)
{
	struct lapic *l = &chip->lapic[cpu];
	uint32_t lvt = l->lvt[LVT_TIMER];
	uint64_t t = l->deadline;

	if (timer_mode(l) == TIMER_PERIODIC && l->tmict) {
		uint64_t period = (uint64_t)l->tmict * timer_div(l);
		if (t <= now) /* missed periods coalesce into this one */
			t += ((now - t) / period + 1) * period;
		else
			t += period;
		l->deadline = t > now ? t : NO_DEADLINE; /* overflow */
	} else {
		l->deadline = NO_DEADLINE;
		if (timer_mode(l) == TIMER_TSC)
			l->tsc_deadline = 0;
	}
	if (!(lvt & LVT_MASKED))
		accept_fixed(chip, cpu, (uint8_t)lvt, false);
}

static uint32_t current_count(const struct lapic *l, uint64_t now)
{
	if (timer_mode(l) == TIMER_TSC || l->deadline == NO_DEADLINE ||
	    now >= l->deadline)
		return 0;
	return (uint32_t)((l->deadline - now) / timer_div(l));
}

/* ---- registers ---- */

uint32_t lapic_read_reg(struct soft_irqchip *chip, unsigned cpu,
			unsigned off, uint64_t now)
{
	struct lapic *l = &chip->lapic[cpu];
	int lvt = lvt_index(off);

	if (lvt >= 0)
		return l->lvt[lvt];
	if (off >= APIC_ISR && off < APIC_ISR + 0x80)
		return l->isr[(off - APIC_ISR) >> 4];
	if (off >= APIC_TMR && off < APIC_TMR + 0x80)
		return l->tmr[(off - APIC_TMR) >> 4];
	if (off >= APIC_IRR && off < APIC_IRR + 0x80)
		return l->irr[(off - APIC_IRR) >> 4];
	switch (off) {
	case APIC_ID: return lapic_x2apic(l) ? l->id : l->id << 24;
	case APIC_VER: return APIC_VERSION;
	case APIC_TPR: return l->tpr;
	case APIC_PPR: return lapic_ppr(l);
	case APIC_LDR: return l->ldr;
	case APIC_DFR: return lapic_x2apic(l) ? 0 : l->dfr;
	case APIC_SVR: return l->svr;
	case APIC_ESR: return l->esr;
	case APIC_ICR: return l->icr_lo;
	case APIC_ICR2: return l->icr_hi;
	case APIC_TMICT: return l->tmict;
	case APIC_TMCCT: return current_count(l, now);
	case APIC_TDCR: return l->tdcr;
	default: return 0; /* APR, RRD, EOI, reserved */
	}
}

static void write_lvt(struct lapic *l, int i, uint32_t v, uint64_t now)
{
	uint32_t old_mode = timer_mode(l);

	v &= lvt_bits[i];
	if (!sw_enabled(l))
		v |= LVT_MASKED;
	if (i == LVT_LINT0 || i == LVT_LINT1)
		v |= l->lvt[i] & 0x5000; /* remote IRR, delivery status */
	l->lvt[i] = v;
	if (i == LVT_TIMER &&
	    ((old_mode == TIMER_TSC) != (timer_mode(l) == TIMER_TSC))) {
		/* switching to or from TSC-deadline disarms the timer */
		l->deadline = NO_DEADLINE;
		l->tsc_deadline = 0;
		l->tmict = 0;
	}
}

void lapic_write_reg(struct soft_irqchip *chip, unsigned cpu, unsigned off,
		     uint32_t v, uint64_t now)
{
	struct lapic *l = &chip->lapic[cpu];
	int lvt = lvt_index(off);

	if (lvt >= 0) {
		write_lvt(l, lvt, v, now);
		return;
	}
	switch (off) {
	case APIC_ID:
		if (!lapic_x2apic(l))
			l->id = v >> 24;
		break;
	case APIC_TPR:
		l->tpr = v & 0xff;
		break;
	case APIC_EOI:
		lapic_eoi(chip, cpu);
		break;
	case APIC_LDR:
		if (!lapic_x2apic(l))
			l->ldr = v & 0xff000000u;
		break;
	case APIC_DFR:
		if (!lapic_x2apic(l))
			l->dfr = v | 0x0fffffffu;
		break;
	case APIC_SVR:
		l->svr = v & 0x3ff;
		if (!(l->svr & SVR_ENABLE))
			for (unsigned i = 0; i < LVT_N; i++)
				l->lvt[i] |= LVT_MASKED;
		break;
	case APIC_ESR:
		l->esr = l->esr_pending;
		l->esr_pending = 0;
		break;
	case APIC_ICR:
		l->icr_lo = v & 0x000cdfffu;
		send_ipi(chip, cpu);
		break;
	case APIC_ICR2:
		l->icr_hi = lapic_x2apic(l) ? v : v & 0xff000000u;
		break;
	case APIC_TMICT:
		if (timer_mode(l) == TIMER_TSC)
			break;
		l->tmict = v;
		timer_start(l, now, v);
		break;
	case APIC_TDCR: {
		uint32_t count = current_count(l, now);
		bool running = l->deadline != NO_DEADLINE &&
			       timer_mode(l) != TIMER_TSC;
		l->tdcr = v & 0xb;
		if (running)
			timer_start(l, now, count ? count : 1);
		break;
	}
	case APIC_SELF_IPI:
		if (lapic_x2apic(l)) {
			if ((v & 0xff) < 16)
				lapic_error(chip, cpu, ESR_SEND_ILLEGAL);
			else
				accept_fixed(chip, cpu, (uint8_t)v, false);
		}
		break;
	default:
		break; /* read-only and reserved registers */
	}
}

/* ---- xAPIC MMIO ---- */

static int mmio_cpu(struct soft_irqchip *chip, uint64_t base,
		    struct vmm_io_ctx *ctx)
{
	unsigned cpu = ctx && ctx->vcpu ? vmm_vcpu_index(ctx->vcpu) : 0;
	struct lapic *l;

	if (cpu >= chip->ncpus)
		return -1;
	l = &chip->lapic[cpu];
	if (!lapic_hw_enabled(l) || lapic_x2apic(l) ||
	    (l->apic_base & BASE_ADDR) != base)
		return -1;
	return (int)cpu;
}

static int lapic_mmio_read(void *opaque, uint64_t off, void *data,
			   unsigned size, struct vmm_io_ctx *ctx)
{
	struct lapic_mmio *slot = opaque;
	struct soft_irqchip *chip = slot->chip;
	uint64_t base = slot->base;
	unsigned byte = (unsigned)(off & 0xf);
	uint64_t v = 0, now = chip_now(chip);
	int cpu;

	pthread_mutex_lock(&chip->lock);
	now = chip_advance(chip, now);
	cpu = mmio_cpu(chip, base, ctx);
	if (cpu >= 0 && byte < 4) {
		v = lapic_read_reg(chip, (unsigned)cpu,
				   (unsigned)(off & 0xff0), now) >> (8 * byte);
		if (byte + size > 4)
			v &= (1ull << (8 * (4 - byte))) - 1;
	}
	pthread_mutex_unlock(&chip->lock);
	irq_put_le(data, size, v);
	return 0;
}

static int lapic_mmio_write(void *opaque, uint64_t off, const void *data,
			    unsigned size, struct vmm_io_ctx *ctx)
{
	struct lapic_mmio *slot = opaque;
	struct soft_irqchip *chip = slot->chip;
	uint64_t base = slot->base;
	uint64_t now = chip_now(chip);
	int cpu;

	if (size != 4 || (off & 0xf))
		return 0; /* ignored, as on KVM */
	pthread_mutex_lock(&chip->lock);
	now = chip_advance(chip, now);
	cpu = mmio_cpu(chip, base, ctx);
	if (cpu >= 0 && off != APIC_SELF_IPI)
		lapic_write_reg(chip, (unsigned)cpu, (unsigned)off,
				(uint32_t)irq_get_le(data, 4), now);
	chip_update(chip);
	pthread_mutex_unlock(&chip->lock);
	return 0;
}

const struct vmm_io_ops lapic_ops = { .read = lapic_mmio_read,
				      .write = lapic_mmio_write };

/* ---- x2APIC MSRs ---- */

static bool x2_readable(unsigned off)
{
	if (lvt_index(off) >= 0 || (off >= APIC_ISR && off < APIC_ESR))
		return true;
	switch (off) {
	case APIC_ID: case APIC_VER: case APIC_TPR: case APIC_PPR:
	case APIC_LDR: case APIC_SVR: case APIC_ESR: case APIC_ICR:
	case APIC_TMICT: case APIC_TMCCT: case APIC_TDCR:
		return true;
	default:
		return false;
	}
}

int lapic_msr_read(struct soft_irqchip *chip, unsigned cpu, uint32_t msr,
		   uint64_t *v, uint64_t now)
{
	struct lapic *l = &chip->lapic[cpu];
	unsigned off = (msr - 0x800) << 4;

	if (!lapic_x2apic(l) || !x2_readable(off))
		return -EINVAL;
	*v = lapic_read_reg(chip, cpu, off, now);
	if (off == APIC_ICR)
		*v |= (uint64_t)l->icr_hi << 32;
	return 0;
}

int lapic_msr_write(struct soft_irqchip *chip, unsigned cpu, uint32_t msr,
		    uint64_t v, uint64_t now)
{
	struct lapic *l = &chip->lapic[cpu];
	unsigned off = (msr - 0x800) << 4;

	if (!lapic_x2apic(l))
		return -EINVAL;
	switch (off) {
	case APIC_TPR: case APIC_SVR: case APIC_TMICT: case APIC_TDCR:
		if (v >> 32)
			return -EINVAL;
		break;
	case APIC_EOI: case APIC_ESR:
		if (v)
			return -EINVAL;
		break;
	case APIC_SELF_IPI:
		if (v >> 8)
			return -EINVAL;
		break;
	case APIC_ICR:
		l->icr_hi = (uint32_t)(v >> 32);
		break;
	default:
		if (lvt_index(off) >= 0 && !(v >> 32))
			break;
		return -EINVAL; /* read-only or not an x2APIC register */
	}
	lapic_write_reg(chip, cpu, off, (uint32_t)v, now);
	return 0;
}

/* ---- the register page (vmm_cpu_state.lapic) ---- */

void lapic_get_page(struct soft_irqchip *chip, unsigned cpu, uint8_t *regs,
		    uint64_t now)
{
	struct lapic *l = &chip->lapic[cpu];

	memset(regs, 0, 1024);
	for (unsigned off = 0x20; off < 0x400; off += 0x10)
		irq_put32(regs + off, lapic_read_reg(chip, cpu, off, now));
	irq_put32(regs + APIC_ID, l->id << 24);
	irq_put32(regs + APIC_DFR, l->dfr);
	irq_put32(regs + APIC_ICR2, l->icr_hi);
}

void lapic_set_page(struct soft_irqchip *chip, unsigned cpu,
		    const uint8_t *regs, uint64_t now)
{
	struct lapic *l = &chip->lapic[cpu];
	uint32_t tmcct;

	l->id = irq_get32(regs + APIC_ID) >> 24;
	l->tpr = irq_get32(regs + APIC_TPR) & 0xff;
	l->svr = irq_get32(regs + APIC_SVR) & 0x3ff;
	l->dfr = irq_get32(regs + APIC_DFR) | 0x0fffffffu;
	l->ldr = lapic_x2apic(l) ? x2apic_ldr(l->id)
				 : irq_get32(regs + APIC_LDR) & 0xff000000u;
	for (unsigned i = 0; i < 8; i++) {
		uint32_t keep = i ? 0xffffffffu : 0xffff0000u;
		l->isr[i] = irq_get32(regs + APIC_ISR + 16 * i) & keep;
		l->tmr[i] = irq_get32(regs + APIC_TMR + 16 * i) & keep;
		l->irr[i] = irq_get32(regs + APIC_IRR + 16 * i) & keep;
	}
	l->esr = irq_get32(regs + APIC_ESR);
	l->icr_lo = irq_get32(regs + APIC_ICR) & 0x000cdfffu;
	l->icr_hi = irq_get32(regs + APIC_ICR2);
	if (!lapic_x2apic(l))
		l->icr_hi &= 0xff000000u;
	for (unsigned off = APIC_CMCI; off <= APIC_LVTERR; off += 0x10) {
		int i = lvt_index(off);
		if (i < 0)
			continue;
		/* as given, even unmasked while software-disabled (KVM
		 * restores the page the same way): forced masking is a
		 * property of register writes, not of restoring state */
		l->lvt[i] = irq_get32(regs + off) & (lvt_bits[i] | 0x5000);
	}
	l->tdcr = irq_get32(regs + APIC_TDCR) & 0xb;
	l->tmict = irq_get32(regs + APIC_TMICT);
	tmcct = irq_get32(regs + APIC_TMCCT);
	if (timer_mode(l) == TIMER_TSC) {
		l->tmict = 0;
		lapic_set_tsc_deadline(chip, cpu, l->tsc_deadline, now);
	} else if (tmcct && tmcct <= l->tmict) {
		timer_start(l, now, tmcct);
	} else if (timer_mode(l) == TIMER_PERIODIC) {
		timer_start(l, now, l->tmict);
	} else {
		l->deadline = NO_DEADLINE;
	}
}
