// SPDX-License-Identifier: MIT
/*
 * test_ioapic.c - the IOAPIC through IOREGSEL/IOWIN: identification,
 * redirection to LAPIC vectors (physical, logical flat and cluster, lowest
 * priority), GSI 0 on pin 2, edge and level pins with remote IRR until the
 * LAPIC's EOI, masks, NMI/INIT delivery, ExtINT on pin 0, hostile access.
 */
#include "softirq_test.h"

#define RE_LEVEL (1ull << 15)
#define RE_MASK (1ull << 16)
#define RE_LOGICAL (1ull << 11)
#define RE_RIRR (1u << 14)
#define DEST(d) ((uint64_t)(d) << 56)

static void setup(struct env *e, unsigned ncpus)
{
	env_up(e, ncpus, false);
	outb(e, 0x21, 0xff); /* PIC masked, as Linux does with an IOAPIC */
	outb(e, 0xa1, 0xff);
	for (unsigned c = 0; c < ncpus; c++)
		lapic_enable(e, c);
}

static bool intr(struct env *e, unsigned cpu)
{
	return soft_irqchip_poll(e->chip, cpu) & SOFT_IRQ_INTR;
}

static void test_ident(void **state)
{
	struct env e;

	setup(&e, 1);
	assert_int_equal(ioapic_r(&e, 1), 0x00170011);
	ioapic_w(&e, 0, 0x0a000000);
	assert_int_equal(ioapic_r(&e, 0), 0x0a000000);
	ioapic_w(&e, 1, 0);            /* read-only */
	assert_int_equal(ioapic_r(&e, 1), 0x00170011);
	for (unsigned pin = 0; pin < 24; pin++)
		assert_int_equal(ioapic_r(&e, 0x10 + 2 * pin), RE_MASK);
	env_down(&e);
}

static void test_edge_routing(void **state)
{
	struct env e;

	setup(&e, 2);
	ioapic_route(&e, 4, 0x41 | DEST(1));
	assert_int_equal(ioapic_r(&e, 0x18), 0x41);
	assert_int_equal(ioapic_r(&e, 0x19), 0x01000000);
	assert_int_equal(soft_irqchip_set_irq(e.chip, 4, 1), 0);
	assert_int_equal(soft_irqchip_set_irq(e.chip, 4, 0), 0);
	assert_false(intr(&e, 0));
	assert_true(intr(&e, 1));
	assert_false(vec_set(&e, 1, L_TMR, 0x41)); /* edge */
	assert_int_equal(soft_irqchip_ack(e.chip, 1), 0x41);
	assert_true(vec_set(&e, 1, L_ISR, 0x41));
	lapic_w(&e, 1, L_EOI, 0);
	assert_false(vec_set(&e, 1, L_ISR, 0x41));
	/* GSI 0 (ISA IRQ 0) arrives on pin 2, GSI 2 too */
	ioapic_route(&e, 2, 0x30 | DEST(0));
	ioapic_route(&e, 0, 0x31 | DEST(0)); /* fixed on pin 0: unused */
	assert_int_equal(soft_irqchip_set_irq(e.chip, 0, 1), 0);
	assert_int_equal(soft_irqchip_set_irq(e.chip, 0, 0), 0);
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x30);
	lapic_w(&e, 0, L_EOI, 0);
	assert_int_equal(soft_irqchip_set_irq(e.chip, 2, 1), 0);
	assert_int_equal(soft_irqchip_set_irq(e.chip, 2, 0), 0);
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x30);
	lapic_w(&e, 0, L_EOI, 0);
	/* a held edge pin delivers once; a masked edge is lost */
	assert_int_equal(soft_irqchip_set_irq(e.chip, 20, 1), 0);
	assert_false(intr(&e, 0));
	ioapic_route(&e, 20, 0x60 | DEST(0));
	assert_false(intr(&e, 0)); /* no edge since unmasking */
	assert_int_equal(soft_irqchip_set_irq(e.chip, 20, 0), 0);
	assert_int_equal(soft_irqchip_set_irq(e.chip, 20, 1), 0);
	assert_int_equal(soft_irqchip_set_irq(e.chip, 20, 1), 0);
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x60);
	assert_int_equal(soft_irqchip_ack(e.chip, 0), -1);
	env_down(&e);
}

static void test_level_remote_irr(void **state)
{
	struct env e;

	setup(&e, 2);
	ioapic_route(&e, 10, 0x50 | RE_LEVEL | DEST(0));
	assert_int_equal(soft_irqchip_set_irq(e.chip, 10, 1), 0);
	assert_true(ioapic_r(&e, 0x10 + 20) & RE_RIRR);
	assert_true(vec_set(&e, 0, L_IRR, 0x50));
	assert_true(vec_set(&e, 0, L_TMR, 0x50));
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x50);
	/* still asserted, but remote IRR holds it */
	assert_int_equal(soft_irqchip_set_irq(e.chip, 10, 1), 0);
	assert_false(vec_set(&e, 0, L_IRR, 0x50));
	/* EOI with the line still high: delivered again */
	lapic_w(&e, 0, L_EOI, 0);
	assert_true(vec_set(&e, 0, L_IRR, 0x50));
	assert_true(ioapic_r(&e, 0x10 + 20) & RE_RIRR);
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x50);
	assert_int_equal(soft_irqchip_set_irq(e.chip, 10, 0), 0);
	assert_true(ioapic_r(&e, 0x10 + 20) & RE_RIRR); /* until the EOI */
	lapic_w(&e, 0, L_EOI, 0);
	assert_false(ioapic_r(&e, 0x10 + 20) & RE_RIRR);
	assert_false(intr(&e, 0));
	/* remote IRR is read-only */
	ioapic_w(&e, 0x10 + 20, 0x50 | RE_RIRR | (uint32_t)RE_LEVEL);
	assert_false(ioapic_r(&e, 0x10 + 20) & RE_RIRR);
	/* a masked level pin is delivered when unmasked */
	ioapic_route(&e, 11, 0x51 | RE_LEVEL | RE_MASK | DEST(1));
	assert_int_equal(soft_irqchip_set_irq(e.chip, 11, 1), 0);
	assert_false(intr(&e, 1));
	ioapic_route(&e, 11, 0x51 | RE_LEVEL | DEST(1));
	assert_int_equal(soft_irqchip_ack(e.chip, 1), 0x51);
	/* PCI GSIs 16-23 */
	ioapic_route(&e, 23, 0x90 | RE_LEVEL | DEST(0));
	assert_int_equal(soft_irqchip_set_irq(e.chip, 23, 1), 0);
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x90);
	env_down(&e);
}

static void test_logical_and_lowest(void **state)
{
	struct env e;

	setup(&e, 3);
	/* flat model */
	for (unsigned c = 0; c < 3; c++)
		lapic_w(&e, c, L_LDR, 1u << (24 + c));
	ioapic_route(&e, 5, 0x45 | RE_LOGICAL | DEST(0x06));
	assert_int_equal(soft_irqchip_set_irq(e.chip, 5, 1), 0);
	assert_int_equal(soft_irqchip_set_irq(e.chip, 5, 0), 0);
	assert_false(intr(&e, 0));
	assert_int_equal(soft_irqchip_ack(e.chip, 1), 0x45);
	assert_int_equal(soft_irqchip_ack(e.chip, 2), 0x45);
	lapic_w(&e, 1, L_EOI, 0);
	lapic_w(&e, 2, L_EOI, 0);
	/* lowest priority among 0-2: vCPU 0 and 1 busy with TPR */
	lapic_w(&e, 0, L_TPR, 0x40);
	lapic_w(&e, 1, L_TPR, 0x20);
	lapic_w(&e, 2, L_TPR, 0x30);
	ioapic_route(&e, 6, 0x46 | (1u << 8) | RE_LOGICAL | DEST(0x07));
	assert_int_equal(soft_irqchip_set_irq(e.chip, 6, 1), 0);
	assert_int_equal(soft_irqchip_set_irq(e.chip, 6, 0), 0);
	assert_true(vec_set(&e, 1, L_IRR, 0x46));
	assert_false(vec_set(&e, 0, L_IRR, 0x46));
	assert_false(vec_set(&e, 2, L_IRR, 0x46));
	/* cluster model: cluster 1, members 0x3 */
	for (unsigned c = 0; c < 3; c++) {
		lapic_w(&e, c, L_DFR, 0x0fffffff);
		lapic_w(&e, c, L_LDR, (c == 2 ? 0x20u : 0x11u) << 24);
	}
	ioapic_route(&e, 7, 0x47 | RE_LOGICAL | DEST(0x11));
	assert_int_equal(soft_irqchip_set_irq(e.chip, 7, 1), 0);
	assert_true(vec_set(&e, 0, L_IRR, 0x47));
	assert_true(vec_set(&e, 1, L_IRR, 0x47));
	assert_false(vec_set(&e, 2, L_IRR, 0x47));
	/* physical broadcast */
	ioapic_route(&e, 8, 0x48 | DEST(0xff));
	assert_int_equal(soft_irqchip_set_irq(e.chip, 8, 1), 0);
	for (unsigned c = 0; c < 3; c++)
		assert_true(vec_set(&e, c, L_IRR, 0x48));
	env_down(&e);
}

static void test_nmi_init_extint(void **state)
{
	struct env e;

	setup(&e, 2);
	ioapic_route(&e, 9, (4u << 8) | DEST(1));
	assert_int_equal(soft_irqchip_set_irq(e.chip, 9, 1), 0);
	assert_int_equal(soft_irqchip_poll(e.chip, 1), SOFT_IRQ_NMI);
	soft_irqchip_ack_nmi(e.chip, 1);
	assert_int_equal(soft_irqchip_poll(e.chip, 1), 0);
	ioapic_route(&e, 12, (5u << 8) | DEST(1));
	assert_int_equal(soft_irqchip_set_irq(e.chip, 12, 1), 0);
	assert_int_equal(soft_irqchip_poll(e.chip, 1), SOFT_IRQ_INIT);
	soft_irqchip_ack_init(e.chip, 1);
	/* ExtINT on pin 0 carries the PIC to vCPU 1 */
	pic_init(&e, 0x20, 0x28);
	lapic_w(&e, 0, L_LVT0, 0x10700);
	ioapic_route(&e, 0, (7u << 8) | DEST(1));
	assert_int_equal(soft_irqchip_set_irq(e.chip, 3, 1), 0);
	assert_false(intr(&e, 0));
	assert_true(intr(&e, 1));
	assert_int_equal(soft_irqchip_ack(e.chip, 1), 0x23);
	env_down(&e);
}

static void test_hostile(void **state)
{
	struct env e;
	uint64_t q = 0x1234;
	uint32_t v;
	uint16_t h;
	uint8_t b;

	setup(&e, 1);
	/* registers past the table read 0, writes vanish */
	for (uint32_t r = 0x40; r < 0x100; r++) {
		ioapic_w(&e, r, 0xffffffff);
		assert_int_equal(ioapic_r(&e, r), 0);
	}
	/* IOREGSEL keeps 8 bits */
	ioapic_w(&e, 0x101, 0xffffffff);
	v = 0;
	assert_int_equal(vmm_bus_access(e.vm, VMM_SPACE_MMIO,
					SOFT_IRQCHIP_IOAPIC_BASE, &v, 4,
					false), 0);
	assert_int_equal(v, 0x01);
	/* odd sizes and offsets: reads give register bytes, writes ignored */
	v = 0x01;
	assert_int_equal(vmm_bus_access(e.vm, VMM_SPACE_MMIO,
					SOFT_IRQCHIP_IOAPIC_BASE, &v, 4,
					true), 0);
	assert_int_equal(vmm_bus_access(e.vm, VMM_SPACE_MMIO,
					SOFT_IRQCHIP_IOAPIC_BASE + 0x12, &h, 2,
					false), 0);
	assert_int_equal(h, 0x0017);
	h = 0xffff;
	assert_int_equal(vmm_bus_access(e.vm, VMM_SPACE_MMIO,
					SOFT_IRQCHIP_IOAPIC_BASE + 0x10, &h, 2,
					true), 0);
	assert_int_equal(vmm_bus_access(e.vm, VMM_SPACE_MMIO,
					SOFT_IRQCHIP_IOAPIC_BASE + 0x13, &b, 1,
					false), 0);
	assert_int_equal(b, 0x00);
	assert_int_equal(vmm_bus_access(e.vm, VMM_SPACE_MMIO,
					SOFT_IRQCHIP_IOAPIC_BASE + 0x20, &q, 8,
					true), 0);
	assert_int_equal(vmm_bus_access(e.vm, VMM_SPACE_MMIO,
					SOFT_IRQCHIP_IOAPIC_BASE + 0xf8, &q, 8,
					false), 0);
	assert_int_equal(q, 0);
	/* vector < 16 and absurd destinations deliver nothing */
	ioapic_route(&e, 3, 0x03 | DEST(0));
	assert_int_equal(soft_irqchip_set_irq(e.chip, 3, 1), 0);
	assert_false(soft_irqchip_poll(e.chip, 0) & SOFT_IRQ_INTR);
	lapic_w(&e, 0, L_ESR, 0);
	assert_int_equal(lapic_r(&e, 0, L_ESR), 0x40);
	ioapic_route(&e, 4, 0x44 | DEST(0x7e));
	assert_int_equal(soft_irqchip_set_irq(e.chip, 4, 1), 0);
	ioapic_route(&e, 5, 0x45 | RE_LOGICAL | DEST(0));
	assert_int_equal(soft_irqchip_set_irq(e.chip, 5, 1), 0);
	assert_false(soft_irqchip_poll(e.chip, 0) & SOFT_IRQ_INTR);
	env_down(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ident),
		cmocka_unit_test(test_edge_routing),
		cmocka_unit_test(test_level_remote_irr),
		cmocka_unit_test(test_logical_and_lowest),
		cmocka_unit_test(test_nmi_init_extint),
		cmocka_unit_test(test_hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
