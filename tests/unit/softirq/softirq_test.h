/* SPDX-License-Identifier: MIT */
/*
 * softirq_test.h - helpers for the unit tests of the software irqchip: a
 * null-backend VM with vCPUs, a fake clock the test moves by hand, port I/O
 * through the public bus and LAPIC MMIO through the internal dispatcher (so
 * the access carries the vCPU), and IOAPIC register access.
 */
#ifndef TESTS_SOFTIRQ_TEST_H
#define TESTS_SOFTIRQ_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/bus_impl.h"
#include "core/internal.h"
#include "irq/irqchip.h"
#include "failalloc.h"

struct fclock {
	uint64_t now;
	unsigned advances;
};

static uint64_t fclock_now(void *opaque)
{
	return ((struct fclock *)opaque)->now;
}

static void fclock_advance(void *opaque, uint64_t ns)
{
	struct fclock *fc = opaque;

	if (ns > fc->now)
		fc->now = ns;
	fc->advances++;
}

struct env {
	struct failalloc fa;
	struct fclock clk;
	vmm_vm *vm;
	vmm_vcpu *vcpu[4];
	struct soft_irqchip *chip;
};

static inline void env_init_vm(struct env *e, unsigned ncpus)
{
	struct vmm_config cfg;

	memset(e, 0, sizeof(*e));
	failalloc_init(&e->fa, -1);
	vmm_config_init(&cfg);
	cfg.ncpus = ncpus;
	cfg.allocator = &e->fa.a;
	assert_int_equal(vmm__vm_create_null(&cfg, &e->vm), 0);
	for (unsigned i = 0; i < ncpus; i++)
		assert_int_equal(vmm_vcpu_create(e->vm, i, &e->vcpu[i]), 0);
	e->clk.now = 1000000; /* not zero: relative times must be right */
}

static inline struct soft_clock env_clock(struct env *e, bool det)
{
	struct soft_clock c = {
		.now_ns = fclock_now,
		.opaque = &e->clk,
		.deterministic = det,
		.advance = fclock_advance,
	};
	return c;
}

static inline void env_up(struct env *e, unsigned ncpus, bool det)
{
	struct soft_clock c;

	env_init_vm(e, ncpus);
	c = env_clock(e, det);
	assert_int_equal(soft_irqchip_create(e->vm, ncpus, true, &c,
					     &e->chip), 0);
}

static inline void env_down(struct env *e)
{
	soft_irqchip_destroy(e->chip);
	vmm_vm_destroy(e->vm);
	assert_int_equal(e->fa.live, 0);
}

static inline void outb(struct env *e, uint16_t port, uint8_t v)
{
	assert_int_equal(vmm_bus_access(e->vm, VMM_SPACE_PIO, port, &v, 1,
					true), 0);
}

static inline uint8_t inb(struct env *e, uint16_t port)
{
	uint8_t v = 0x5a;

	assert_int_equal(vmm_bus_access(e->vm, VMM_SPACE_PIO, port, &v, 1,
					false), 0);
	return v;
}

static inline int mmio_cpu(struct env *e, unsigned cpu, uint64_t addr,
			   void *data, unsigned size, bool wr)
{
	struct vmm_io_ctx ctx = { .vcpu = e->vcpu[cpu] };

	return vmm__bus_dispatch(e->vm, VMM_SPACE_MMIO, addr, data, size, wr,
				 &ctx);
}

static inline void lapic_w(struct env *e, unsigned cpu, unsigned off,
			   uint32_t v)
{
	assert_int_equal(mmio_cpu(e, cpu, SOFT_IRQCHIP_LAPIC_BASE + off, &v,
				  4, true), 0);
}

static inline uint32_t lapic_r(struct env *e, unsigned cpu, unsigned off)
{
	uint32_t v = 0xdeadbeef;

	assert_int_equal(mmio_cpu(e, cpu, SOFT_IRQCHIP_LAPIC_BASE + off, &v,
				  4, false), 0);
	return v;
}

static inline void ioapic_w(struct env *e, uint32_t reg, uint32_t v)
{
	assert_int_equal(vmm_bus_access(e->vm, VMM_SPACE_MMIO,
					SOFT_IRQCHIP_IOAPIC_BASE, &reg, 4,
					true), 0);
	assert_int_equal(vmm_bus_access(e->vm, VMM_SPACE_MMIO,
					SOFT_IRQCHIP_IOAPIC_BASE + 0x10, &v, 4,
					true), 0);
}

static inline uint32_t ioapic_r(struct env *e, uint32_t reg)
{
	uint32_t v = 0;

	assert_int_equal(vmm_bus_access(e->vm, VMM_SPACE_MMIO,
					SOFT_IRQCHIP_IOAPIC_BASE, &reg, 4,
					true), 0);
	assert_int_equal(vmm_bus_access(e->vm, VMM_SPACE_MMIO,
					SOFT_IRQCHIP_IOAPIC_BASE + 0x10, &v, 4,
					false), 0);
	return v;
}

/* Program IOAPIC redirection entry @pin. */
static inline void ioapic_route(struct env *e, unsigned pin, uint64_t entry)
{
	ioapic_w(e, 0x11 + 2 * pin, (uint32_t)(entry >> 32));
	ioapic_w(e, 0x10 + 2 * pin, (uint32_t)entry);
}

/* LAPIC offsets */
#define L_ID 0x20
#define L_VER 0x30
#define L_TPR 0x80
#define L_PPR 0xa0
#define L_EOI 0xb0
#define L_LDR 0xd0
#define L_DFR 0xe0
#define L_SVR 0xf0
#define L_ISR 0x100
#define L_TMR 0x180
#define L_IRR 0x200
#define L_ESR 0x280
#define L_ICR 0x300
#define L_ICR2 0x310
#define L_LVTT 0x320
#define L_LVT0 0x350
#define L_LVT1 0x360
#define L_LVTE 0x370
#define L_TMICT 0x380
#define L_TMCCT 0x390
#define L_TDCR 0x3e0

static inline bool vec_set(struct env *e, unsigned cpu, unsigned base,
			   unsigned v)
{
	return (lapic_r(e, cpu, base + (v / 32) * 0x10) >> (v % 32)) & 1;
}

/* Software-enable the LAPIC of @cpu (SVR bit 8, spurious vector 0xff). */
static inline void lapic_enable(struct env *e, unsigned cpu)
{
	lapic_w(e, cpu, L_SVR, 0x1ff);
}

/* The Linux/SeaBIOS PIC init: ICW1-4 on both, vectors @mb / @sb, masks. */
static inline void pic_init(struct env *e, uint8_t mb, uint8_t sb)
{
	outb(e, 0x20, 0x11);  /* ICW1: edge, cascade, ICW4 */
	outb(e, 0x21, mb);    /* ICW2 */
	outb(e, 0x21, 0x04);  /* ICW3: slave on IR2 */
	outb(e, 0x21, 0x01);  /* ICW4: 8086 */
	outb(e, 0xa0, 0x11);
	outb(e, 0xa1, sb);
	outb(e, 0xa1, 0x02);  /* slave ID 2 */
	outb(e, 0xa1, 0x01);
	outb(e, 0x21, 0x00);  /* unmask all */
	outb(e, 0xa1, 0x00);
}

#endif
