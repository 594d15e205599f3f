/* SPDX-License-Identifier: MIT */
/*
 * irq_impl.h - internals shared by the files of the software irqchip
 * (pic.c, ioapic.c, lapic.c, pit.c, irqchip.c, irqcpu.c, irqstate.c).
 * Everything here runs with chip->lock held unless said otherwise.
 */
#ifndef LIBVMM_SOFT_IRQ_IMPL_H
#define LIBVMM_SOFT_IRQ_IMPL_H

#include "irq/irqchip.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define NO_DEADLINE UINT64_MAX

/* Input sources of a PIC or IOAPIC pin (bit masks). */
#define SRC_GSI 0x01     /* vmm_irq_set_line() on the pin's own GSI */
#define SRC_GSI0 0x02    /* GSI 0 on IOAPIC pin 2 */
#define SRC_PIT 0x04     /* PIT channel 0 output */
#define SRC_ALL 0x07

/* ---- 8259A ---- */
struct pic8259 {
	uint8_t irr, imr, isr, elcr, elcr_mask;
	uint8_t lines;
	uint8_t base, icw3;
	uint8_t init_step;
	uint8_t lowest;
	uint16_t flags;     /* SOFT_PIC_* */
};

void pic_reset(struct pic8259 *p, uint8_t elcr_mask);
/* Set input @irq to @level (edge or level per ELCR/LTIM). */
void pic_set_line(struct pic8259 *p, unsigned irq, bool level);
/* The highest-priority request not blocked by ISR/IMR, or -1. */
int pic_pending(const struct pic8259 *p, bool master);
/* INTA on one chip: returns the IR acked (ISR set unless AEOI), -1 none. */
int pic_inta(struct pic8259 *p, bool master);

/* ---- IOAPIC ---- */
struct ioapic {
	uint32_t id, regsel, lines;
	uint64_t redir[SOFT_IRQCHIP_NGSI];
};

/* ---- local APIC ---- */
enum { LVT_CMCI, LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1,
       LVT_ERROR, LVT_N };

struct lapic {
	uint32_t id;
	uint64_t apic_base;
	uint32_t tpr, ldr, dfr, svr, esr, esr_pending;
	uint32_t icr_lo, icr_hi;
	uint32_t lvt[LVT_N];
	uint32_t isr[8], tmr[8], irr[8];
	uint32_t tmict, tdcr;
	uint64_t deadline;   /* next timer expiry (ns), NO_DEADLINE */
	uint64_t tsc_deadline;
	int64_t tsc_offset;
	bool nmi, init, sipi, smi;
	uint8_t sipi_vector;
};

/* ---- 8254 ---- */
struct pit_chan {
	uint32_t count;      /* N: 1..65536 */
	uint8_t mode, rw, bcd;
	bool gate;
	uint16_t flags;      /* SOFT_PIT_* */
	uint8_t wlsb, status;
	uint16_t latch;
	uint64_t ticks;      /* ticks elapsed before start_ns */
	uint64_t start_ns;   /* start of the current run (COUNTING) */
};

struct pit {
	struct pit_chan ch[3];
	uint8_t port61, refresh;
	uint64_t irq_next;   /* next rising edge of OUT0, NO_DEADLINE */
};

/* A message to local APICs (IPI, IOAPIC redirection, MSI). */
struct apic_msg {
	uint32_t dest;
	bool logical;
	bool wide;           /* 32-bit x2APIC destination */
	uint8_t mode;        /* delivery mode 0-7 */
	uint8_t vector;
	bool level_trig;
	bool assert;         /* INIT level assert (not de-assert) */
	uint8_t shorthand;   /* 0 none, 1 self, 2 all incl. self, 3 others */
	int src;             /* sending vCPU for shorthands, -1 */
};

#define DM_FIXED 0
#define DM_LOWEST 1
#define DM_SMI 2
#define DM_NMI 4
#define DM_INIT 5
#define DM_SIPI 6
#define DM_EXTINT 7

/* One registered xAPIC page (vCPUs may relocate theirs). */
#define LAPIC_MMIO_SLOTS 4
struct lapic_mmio {
	struct soft_irqchip *chip;
	uint64_t base;
	unsigned users;
};

struct cpu_wait {
	pthread_cond_t cond;
	bool waiting, woken;
	atomic_bool extint_seen; /* the last poll() saw INTR from the PIC */
};

struct soft_irqchip {
	vmm_vm *vm;
	unsigned ncpus;
	bool with_pit, have_port61;
	struct soft_clock clock;
	pthread_mutex_t lock;
	uint64_t last_now;

	struct pic8259 pic[2];
	uint8_t pic_src[16];
	struct ioapic ioapic;
	uint8_t ioapic_src[SOFT_IRQCHIP_NGSI];
	struct pit pit;
	struct lapic *lapic;          /* [ncpus] */
	struct cpu_wait *wait;        /* [ncpus] */
	_Atomic unsigned *pending;    /* [ncpus] poll bits */
	_Atomic uint64_t next_deadline;

	/* LAPIC MMIO ranges: a base and how many vCPUs use it */
	struct lapic_mmio mmio[LAPIC_MMIO_SLOTS];
	pthread_mutex_t mmio_lock;    /* taken before chip->lock, never after */
	bool registered[6];

	/* external LAPICs (split irqchip on KVM), see soft_irqchip_sink */
	bool ext;
	struct soft_irqchip_sink sink;
	atomic_bool extint_out;       /* master PIC INTR, for the sink */
};

/* ext mode: tell the sink about pin @pin's redirection entry */
void ioapic_route_changed(struct soft_irqchip *chip, unsigned pin);

/* Internal bit in the pending word: the INTR comes from the PIC. */
#define PENDING_EXTINT (1u << 31)

/* irqchip.c */
uint64_t chip_now(struct soft_irqchip *chip);
uint64_t chip_earliest_deadline(struct soft_irqchip *chip);
void chip_update(struct soft_irqchip *chip);
void chip_pic_changed(struct soft_irqchip *chip);
void chip_set_pin(struct soft_irqchip *chip, bool pic, unsigned pin,
		  uint8_t src, bool level);
unsigned chip_compute(struct soft_irqchip *chip, unsigned cpu);
bool chip_extint_for(struct soft_irqchip *chip, unsigned cpu);
int chip_pic_intack(struct soft_irqchip *chip);
uint64_t chip_advance(struct soft_irqchip *chip, uint64_t now);

/* LAPIC page slots (irqchip.c), with chip->mmio_lock held */
int lapic_slot_get(struct soft_irqchip *chip, uint64_t base);
void lapic_slot_put(struct soft_irqchip *chip, uint64_t base);

/* pic.c */
extern const struct vmm_io_ops pic_ops, pic_slave_ops, elcr_ops;

/* ioapic.c */
extern const struct vmm_io_ops ioapic_ops;
void ioapic_reset(struct ioapic *io);
void ioapic_set_pin(struct soft_irqchip *chip, unsigned pin, bool level);
void ioapic_eoi(struct soft_irqchip *chip, uint8_t vector);
bool ioapic_extint_to(struct soft_irqchip *chip, unsigned cpu);

/* lapic.c */
extern const struct vmm_io_ops lapic_ops;
void lapic_reset(struct soft_irqchip *chip, unsigned cpu, bool power_on);
void apic_deliver(struct soft_irqchip *chip, const struct apic_msg *m);
int lapic_highest_irr(const struct lapic *l);
uint32_t lapic_ppr(const struct lapic *l);
bool lapic_hw_enabled(const struct lapic *l);
bool lapic_x2apic(const struct lapic *l);
bool lapic_match(const struct lapic *l, uint32_t dest, bool logical,
		 bool wide);
uint32_t lapic_read_reg(struct soft_irqchip *chip, unsigned cpu,
			unsigned off, uint64_t now);
void lapic_write_reg(struct soft_irqchip *chip, unsigned cpu, unsigned off,
		     uint32_t v, uint64_t now);
void lapic_timer_fire(struct soft_irqchip *chip, unsigned cpu, uint64_t now);
int lapic_ack(struct soft_irqchip *chip, unsigned cpu);
void lapic_get_page(struct soft_irqchip *chip, unsigned cpu, uint8_t *regs,
		    uint64_t now);
void lapic_set_page(struct soft_irqchip *chip, unsigned cpu,
		    const uint8_t *regs, uint64_t now);
int lapic_msr_read(struct soft_irqchip *chip, unsigned cpu, uint32_t msr,
		   uint64_t *v, uint64_t now);
int lapic_msr_write(struct soft_irqchip *chip, unsigned cpu, uint32_t msr,
		    uint64_t v, uint64_t now);
uint64_t lapic_tsc(struct soft_irqchip *chip, unsigned cpu, uint64_t now);
void lapic_set_tsc_deadline(struct soft_irqchip *chip, unsigned cpu,
			    uint64_t v, uint64_t now);

/* pit.c */
extern const struct vmm_io_ops pit_ops, port61_ops;
void pit_reset(struct soft_irqchip *chip);
void pit_fire(struct soft_irqchip *chip, uint64_t now);
bool pit_out(struct pit_chan *c, uint64_t now);
void pit_gate(struct soft_irqchip *chip, unsigned ch, bool gate,
	      uint64_t now);
void pit_rearm(struct soft_irqchip *chip, uint64_t now);
uint64_t pit_ticks_of(uint64_t dt);

/* Little-endian helpers */
static inline uint32_t irq_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline void irq_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint64_t irq_get_le(const void *data, unsigned size)
{
	const uint8_t *p = data;
	uint64_t v = 0;

	while (size--)
		v = (v << 8) | p[size];
	return v;
}

static inline void irq_put_le(void *data, unsigned size, uint64_t v)
{
	uint8_t *p = data;

	for (unsigned i = 0; i < size; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

#endif
