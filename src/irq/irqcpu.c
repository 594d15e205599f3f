// SPDX-License-Identifier: MIT
/*
 * irqcpu.c - the software CPU's side of the irqchip (irqchip.h): poll()
 * with its lock-free fast path, INTA through the LAPIC or the PIC (ExtINT),
 * NMI/INIT/SIPI/SMI, TPR and CR8, IA32_APIC_BASE with LAPIC page
 * relocation, the MSRs the chip owns, the TSC, waiting in HLT on host or
 * deterministic time, and the LAPIC register page for vCPU state.
 */
#include "irq/irq_impl.h"

#include <time.h>

/* ---- the CPU's side ---- */

/*
 * Remember whether the CPU last saw an INTR from the PIC: if the request
 * vanishes before ack(), the 8259A answers the INTA with spurious IR7.
 */
static unsigned seen_bits(struct soft_irqchip *chip, unsigned cpu,
			  unsigned bits)
{
	atomic_bool *seen = &chip->wait[cpu].extint_seen;
	bool ext = (bits & PENDING_EXTINT) != 0;

	if (atomic_load_explicit(seen, memory_order_relaxed) != ext)
		atomic_store_explicit(seen, ext, memory_order_relaxed);
	return bits & ~PENDING_EXTINT;
}

unsigned soft_irqchip_poll(struct soft_irqchip *chip, unsigned cpu)
{
	unsigned bits;

	if (cpu >= chip->ncpus)
		return 0;
	if (chip_now(chip) >= atomic_load_explicit(&chip->next_deadline,
						   memory_order_acquire)) {
		uint64_t now = chip_now(chip);
		pthread_mutex_lock(&chip->lock);
		chip_advance(chip, now);
		pthread_mutex_unlock(&chip->lock);
	}
	bits = atomic_load_explicit(&chip->pending[cpu], memory_order_acquire);
	return seen_bits(chip, cpu, bits);
}

const _Atomic unsigned *soft_irqchip_pending_word(struct soft_irqchip *chip,
						  unsigned cpu)
{
	return &chip->pending[cpu < chip->ncpus ? cpu : 0];
}

const _Atomic uint64_t *soft_irqchip_deadline_word(struct soft_irqchip *chip)
{
	return &chip->next_deadline;
}

int soft_irqchip_ack(struct soft_irqchip *chip, unsigned cpu)
{
	uint64_t now;
	int v;

	if (cpu >= chip->ncpus)
		return -1;
	now = chip_now(chip);
	pthread_mutex_lock(&chip->lock);
	chip_advance(chip, now);
	if (chip_extint_for(chip, cpu)) {
		v = chip_pic_intack(chip);
	} else {
		v = lapic_ack(chip, cpu);
		if (v < 0 && atomic_load(&chip->wait[cpu].extint_seen))
			v = chip_pic_intack(chip); /* spurious IR7 */
	}
	atomic_store(&chip->wait[cpu].extint_seen, false);
	chip_update(chip);
	pthread_mutex_unlock(&chip->lock);
	return v;
}

#define ACK_FLAG(name, field)                                                  \
	void soft_irqchip_ack_##name(struct soft_irqchip *chip, unsigned cpu)  \
	{                                                                      \
		if (cpu >= chip->ncpus)                                        \
			return;                                                \
		pthread_mutex_lock(&chip->lock);                               \
		chip->lapic[cpu].field = false;                                \
		chip_update(chip);                                             \
		pthread_mutex_unlock(&chip->lock);                             \
	}
ACK_FLAG(nmi, nmi)
ACK_FLAG(smi, smi)

void soft_irqchip_ack_init(struct soft_irqchip *chip, unsigned cpu)
{
	if (cpu >= chip->ncpus)
		return;
	pthread_mutex_lock(&chip->lock);
	{
		/* a SIPI here came after the INIT (accepting an INIT drops
		 * an earlier one): it starts the CPU the INIT parks */
		bool sipi = chip->lapic[cpu].sipi;
		uint8_t vec = chip->lapic[cpu].sipi_vector;
		lapic_reset(chip, cpu, false);
		chip->lapic[cpu].sipi = sipi;
		chip->lapic[cpu].sipi_vector = vec;
	}
	chip_update(chip);
	pthread_mutex_unlock(&chip->lock);
}

int soft_irqchip_ack_sipi(struct soft_irqchip *chip, unsigned cpu)
{
	int v = -1;

	if (cpu >= chip->ncpus)
		return -1;
	pthread_mutex_lock(&chip->lock);
	if (chip->lapic[cpu].sipi)
		v = chip->lapic[cpu].sipi_vector;
	chip->lapic[cpu].sipi = false;
	chip_update(chip);
	pthread_mutex_unlock(&chip->lock);
	return v;
}

uint8_t soft_irqchip_get_tpr(struct soft_irqchip *chip, unsigned cpu)
{
	uint8_t v;

	if (cpu >= chip->ncpus)
		return 0;
	pthread_mutex_lock(&chip->lock);
	v = (uint8_t)chip->lapic[cpu].tpr;
	pthread_mutex_unlock(&chip->lock);
	return v;
}

void soft_irqchip_set_tpr(struct soft_irqchip *chip, unsigned cpu, uint8_t tpr)
{
	if (cpu >= chip->ncpus)
		return;
	pthread_mutex_lock(&chip->lock);
	chip->lapic[cpu].tpr = tpr;
	chip_update(chip);
	pthread_mutex_unlock(&chip->lock);
}

uint64_t soft_irqchip_get_cr8(struct soft_irqchip *chip, unsigned cpu)
{
	return soft_irqchip_get_tpr(chip, cpu) >> 4;
}

void soft_irqchip_set_cr8(struct soft_irqchip *chip, unsigned cpu,
			  uint64_t cr8)
{
	soft_irqchip_set_tpr(chip, cpu, (uint8_t)((cr8 & 0xf) << 4));
}

uint64_t soft_irqchip_get_apic_base(struct soft_irqchip *chip, unsigned cpu)
{
	uint64_t v;

	if (cpu >= chip->ncpus)
		return 0;
	pthread_mutex_lock(&chip->lock);
	v = chip->lapic[cpu].apic_base;
	pthread_mutex_unlock(&chip->lock);
	return v;
}

/* BSP, x2APIC, enable, and the address below MAXPHYADDR (40 bits, as
 * CPUID 0x80000008 of the software backend says): bits above are
 * reserved, WRMSR #GP */
#define BASE_VALID 0x000000fffffffd00ull
#define BASE_X2 (1ull << 10)
#define BASE_EN (1ull << 11)

static int set_apic_base(struct soft_irqchip *chip, unsigned cpu, uint64_t v,
			 bool host)
{
	struct lapic *l;
	uint64_t old, addr_old, addr_new = v & ~0xfffull;
	int ret = 0;

	if (cpu >= chip->ncpus)
		return -EINVAL;
	if (v & ~BASE_VALID)
		return vmm__err(chip->vm, -EINVAL,
				"APIC base 0x%llx: reserved bits",
				(unsigned long long)v);
	pthread_mutex_lock(&chip->mmio_lock);
	pthread_mutex_lock(&chip->lock);
	l = &chip->lapic[cpu];
	old = l->apic_base;
	addr_old = old & ~0xfffull;
	if ((v & BASE_X2) && !(v & BASE_EN))
		ret = -EINVAL;
	else if (!host &&
		 (((old & BASE_X2) && (v & BASE_EN) && !(v & BASE_X2)) ||
		  (!(old & BASE_EN) && (v & BASE_X2))))
		ret = -EINVAL;
	pthread_mutex_unlock(&chip->lock);
	if (ret) {
		pthread_mutex_unlock(&chip->mmio_lock);
		return vmm__err(chip->vm, ret,
				"APIC base 0x%llx: illegal mode transition",
				(unsigned long long)v);
	}
	if (addr_new != addr_old && (ret = lapic_slot_get(chip, addr_new))) {
		pthread_mutex_unlock(&chip->mmio_lock);
		return ret;
	}
	pthread_mutex_lock(&chip->lock);
	l->apic_base = v;
	if (!(v & BASE_EN)) {
		lapic_reset(chip, cpu, false); /* hardware disable */
	} else if ((v & BASE_X2) != (old & BASE_X2)) {
		/* xAPIC -> x2APIC: the x2APIC ID is the one the hardware
		 * assigned (the initial APIC ID, here the vCPU index), not
		 * what software wrote to the xAPIC ID register (SDM 10.12.5.1,
		 * as KVM does) */
		if (v & BASE_X2)
			l->id = cpu;
		l->ldr = (v & BASE_X2) ?
				 ((l->id >> 4) << 16) | (1u << (l->id & 0xf)) : 0;
		l->icr_hi = 0;
	}
	chip_update(chip);
	pthread_mutex_unlock(&chip->lock);
	if (addr_new != addr_old)
		lapic_slot_put(chip, addr_old);
	pthread_mutex_unlock(&chip->mmio_lock);
	return 0;
}

int soft_irqchip_set_apic_base(struct soft_irqchip *chip, unsigned cpu,
			       uint64_t v)
{
	return set_apic_base(chip, cpu, v, false);
}

int soft_irqchip_put_apic_base(struct soft_irqchip *chip, unsigned cpu,
			       uint64_t v)
{
	return set_apic_base(chip, cpu, v, true);
}

uint64_t soft_irqchip_rdtsc(struct soft_irqchip *chip, unsigned cpu)
{
	uint64_t now = chip_now(chip), v;

	if (cpu >= chip->ncpus)
		return 0;
	pthread_mutex_lock(&chip->lock);
	now = chip_advance(chip, now);
	v = lapic_tsc(chip, cpu, now);
	pthread_mutex_unlock(&chip->lock);
	return v;
}

void soft_irqchip_set_tsc_offset(struct soft_irqchip *chip, unsigned cpu,
				 int64_t offset)
{
	uint64_t now = chip_now(chip);
	struct lapic *l;

	if (cpu >= chip->ncpus)
		return;
	pthread_mutex_lock(&chip->lock);
	now = chip_advance(chip, now);
	l = &chip->lapic[cpu];
	l->tsc_offset = offset;
	if (l->tsc_deadline)
		lapic_set_tsc_deadline(chip, cpu, l->tsc_deadline, now);
	chip_update(chip);
	pthread_mutex_unlock(&chip->lock);
}

int soft_irqchip_rdmsr(struct soft_irqchip *chip, unsigned cpu, uint32_t msr,
		       uint64_t *v)
{
	uint64_t now;
	int ret = 0;

	if (cpu >= chip->ncpus || !v)
		return -EINVAL;
	if (msr == 0x1b) {
		*v = soft_irqchip_get_apic_base(chip, cpu);
		return 0;
	}
	if (msr != 0x10 && msr != 0x6e0 && (msr < 0x800 || msr > 0x8ff))
		return -ENOENT;
	now = chip_now(chip);
	pthread_mutex_lock(&chip->lock);
	now = chip_advance(chip, now);
	if (msr == 0x10)
		*v = lapic_tsc(chip, cpu, now);
	else if (msr == 0x6e0)
		*v = ((chip->lapic[cpu].lvt[LVT_TIMER] >> 17) & 3) == 2 ?
			     chip->lapic[cpu].tsc_deadline : 0;
	else
		ret = lapic_msr_read(chip, cpu, msr, v, now);
	pthread_mutex_unlock(&chip->lock);
	return ret;
}

int soft_irqchip_wrmsr(struct soft_irqchip *chip, unsigned cpu, uint32_t msr,
		       uint64_t v)
{
	struct lapic *l;
	uint64_t now;
	int ret = 0;

	if (cpu >= chip->ncpus)
		return -EINVAL;
	if (msr == 0x1b)
		return soft_irqchip_set_apic_base(chip, cpu, v);
	if (msr != 0x10 && msr != 0x6e0 && (msr < 0x800 || msr > 0x8ff))
		return -ENOENT;
	now = chip_now(chip);
	pthread_mutex_lock(&chip->lock);
	now = chip_advance(chip, now);
	l = &chip->lapic[cpu];
	if (msr == 0x10) {
		l->tsc_offset = 0;
		l->tsc_offset = (int64_t)(v - lapic_tsc(chip, cpu, now));
		if (l->tsc_deadline)
			lapic_set_tsc_deadline(chip, cpu, l->tsc_deadline, now);
	} else if (msr == 0x6e0) {
		lapic_set_tsc_deadline(chip, cpu, v, now);
	} else {
		ret = lapic_msr_write(chip, cpu, msr, v, now);
	}
	chip_update(chip);
	chip_advance(chip, now); /* a deadline in the past fires now */
	pthread_mutex_unlock(&chip->lock);
	return ret;
}

/* ---- waiting ---- */

static unsigned wait_deterministic(struct soft_irqchip *chip, unsigned cpu,
				   uint64_t deadline_ns)
{
	struct cpu_wait *w = &chip->wait[cpu];
	uint64_t now = chip_now(chip), target;
	unsigned bits;

	pthread_mutex_lock(&chip->lock);
	now = chip_advance(chip, now);
	bits = seen_bits(chip, cpu, atomic_load(&chip->pending[cpu]));
	target = chip_earliest_deadline(chip);
	if (deadline_ns && deadline_ns < target)
		target = deadline_ns;
	if (bits || w->woken || target == NO_DEADLINE || target <= now ||
	    !chip->clock.advance) {
		w->woken = false;
		pthread_mutex_unlock(&chip->lock);
		return bits;
	}
	pthread_mutex_unlock(&chip->lock);
	chip->clock.advance(chip->clock.opaque, target);
	now = chip_now(chip);
	pthread_mutex_lock(&chip->lock);
	chip_advance(chip, now);
	bits = seen_bits(chip, cpu, atomic_load(&chip->pending[cpu]));
	pthread_mutex_unlock(&chip->lock);
	return bits;
}

unsigned soft_irqchip_wait(struct soft_irqchip *chip, unsigned cpu,
			   uint64_t deadline_ns)
{
	struct cpu_wait *w;
	unsigned bits = 0;

	if (cpu >= chip->ncpus)
		return 0;
	if (chip->clock.deterministic)
		return wait_deterministic(chip, cpu, deadline_ns);
	w = &chip->wait[cpu];
	pthread_mutex_lock(&chip->lock);
	for (;;) {
		uint64_t now = chip_advance(chip, chip_now(chip)), target;
		struct timespec ts;

		bits = seen_bits(chip, cpu, atomic_load(&chip->pending[cpu]));
		if (bits || w->woken || (deadline_ns && now >= deadline_ns))
			break;
		target = chip_earliest_deadline(chip);
		if (deadline_ns && deadline_ns < target)
			target = deadline_ns;
		w->waiting = true;
		if (target == NO_DEADLINE) {
			pthread_cond_wait(&w->cond, &chip->lock);
		} else {
			uint64_t rel = target - now, ns;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ns = (uint64_t)ts.tv_nsec + rel % 1000000000u;
			ts.tv_sec += (time_t)(rel / 1000000000u + ns / 1000000000u);
			ts.tv_nsec = (long)(ns % 1000000000u);
			pthread_cond_timedwait(&w->cond, &chip->lock, &ts);
		}
		w->waiting = false;
	}
	w->woken = false;
	pthread_mutex_unlock(&chip->lock);
	return bits;
}

void soft_irqchip_wake(struct soft_irqchip *chip, unsigned cpu)
{
	if (cpu >= chip->ncpus)
		return;
	pthread_mutex_lock(&chip->lock);
	chip->wait[cpu].woken = true;
	pthread_cond_signal(&chip->wait[cpu].cond);
	pthread_mutex_unlock(&chip->lock);
}

uint64_t soft_irqchip_next_deadline(struct soft_irqchip *chip)
{
	return atomic_load(&chip->next_deadline);
}

/* ---- state ---- */

void soft_irqchip_get_lapic(struct soft_irqchip *chip, unsigned cpu,
			    uint8_t regs[1024])
{
	uint64_t now;

	if (cpu >= chip->ncpus) {
		memset(regs, 0, 1024);
		return;
	}
	now = chip_now(chip);
	pthread_mutex_lock(&chip->lock);
	now = chip_advance(chip, now);
	lapic_get_page(chip, cpu, regs, now);
	pthread_mutex_unlock(&chip->lock);
}

int soft_irqchip_set_lapic(struct soft_irqchip *chip, unsigned cpu,
			   const uint8_t regs[1024])
{
	uint64_t now;

	if (cpu >= chip->ncpus || !regs)
		return -EINVAL;
	now = chip_now(chip);
	pthread_mutex_lock(&chip->lock);
	now = chip_advance(chip, now);
	lapic_set_page(chip, cpu, regs, now);
	chip_update(chip);
	pthread_mutex_unlock(&chip->lock);
	return 0;
}

void soft_irqchip_pit_set_gate2(struct soft_irqchip *chip, bool gate)
{
	uint64_t now = chip_now(chip);

	pthread_mutex_lock(&chip->lock);
	now = chip_advance(chip, now);
	chip->pit.port61 = (uint8_t)((chip->pit.port61 & ~1u) | gate);
	pit_gate(chip, 2, gate, now);
	chip_update(chip);
	pthread_mutex_unlock(&chip->lock);
}

bool soft_irqchip_pit_out2(struct soft_irqchip *chip)
{
	uint64_t now = chip_now(chip);
	bool v;

	pthread_mutex_lock(&chip->lock);
	now = chip_advance(chip, now);
	v = pit_out(&chip->pit.ch[2], now);
	pthread_mutex_unlock(&chip->lock);
	return v;
}
