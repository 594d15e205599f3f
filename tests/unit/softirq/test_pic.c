// SPDX-License-Identifier: MIT
/*
 * test_pic.c - the 8259A pair through its ports, seen by the CPU through
 * poll()/ack() on vCPU 0 (LINT0 is ExtINT at reset): the Linux/SeaBIOS
 * init sequence, priorities, masks, EOI flavours, ELCR level inputs, the
 * cascade, AEOI, poll mode, rotation, special mask mode, spurious IR7.
 */
#include "softirq_test.h"

static void pulse(struct env *e, unsigned gsi)
{
	assert_int_equal(soft_irqchip_set_irq(e->chip, gsi, 1), 0);
	assert_int_equal(soft_irqchip_set_irq(e->chip, gsi, 0), 0);
}

static bool intr(struct env *e)
{
	return soft_irqchip_poll(e->chip, 0) & SOFT_IRQ_INTR;
}

static uint8_t read_isr(struct env *e, uint16_t port)
{
	outb(e, port, 0x0b);
	return inb(e, port);
}

static uint8_t read_irr(struct env *e, uint16_t port)
{
	outb(e, port, 0x0a);
	return inb(e, port);
}

static void eoi_master(struct env *e) { outb(e, 0x20, 0x20); }
static void eoi_slave(struct env *e) { outb(e, 0xa0, 0x20); }

/* SeaBIOS: vectors 0x08 / 0x70; Linux: 0x30 / 0x38.  IRQ1 beats IRQ3. */
static void test_init_and_priority(void **state)
{
	struct env e;

	env_up(&e, 2, false);
	pic_init(&e, 0x30, 0x38);
	assert_int_equal(inb(&e, 0x21), 0x00);
	outb(&e, 0x21, 0xa5);
	assert_int_equal(inb(&e, 0x21), 0xa5);
	outb(&e, 0x21, 0x00);
	assert_false(intr(&e));
	pulse(&e, 3);
	pulse(&e, 1);
	assert_int_equal(read_irr(&e, 0x20), 0x0a);
	assert_true(intr(&e));
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x31);
	assert_int_equal(read_isr(&e, 0x20), 0x02);
	/* IRQ3 has lower priority than IRQ1 in service */
	assert_false(intr(&e));
	/* IRQ0 has a higher one: it nests */
	pulse(&e, 0);
	assert_true(intr(&e));
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x30);
	assert_int_equal(read_isr(&e, 0x20), 0x03);
	eoi_master(&e); /* non-specific: clears IR0 */
	assert_int_equal(read_isr(&e, 0x20), 0x02);
	assert_false(intr(&e));
	outb(&e, 0x20, 0x61); /* specific EOI for IR1 */
	assert_int_equal(read_isr(&e, 0x20), 0x00);
	assert_true(intr(&e));
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x33);
	eoi_master(&e);
	assert_false(intr(&e));
	/* vCPU 1 never sees the PIC */
	pulse(&e, 4);
	assert_false(soft_irqchip_poll(e.chip, 1) & SOFT_IRQ_INTR);
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x34);
	env_down(&e);
}

static void test_masking(void **state)
{
	struct env e;

	env_up(&e, 1, false);
	pic_init(&e, 0x08, 0x70);
	outb(&e, 0x21, 0x10);
	pulse(&e, 4);
	assert_false(intr(&e));
	assert_int_equal(read_irr(&e, 0x20), 0x10);
	outb(&e, 0x21, 0x00);
	assert_true(intr(&e));
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x0c);
	eoi_master(&e);
	/* masking the cascade masks the whole slave */
	outb(&e, 0x21, 0x04);
	pulse(&e, 9);
	assert_false(intr(&e));
	outb(&e, 0x21, 0x00);
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x71);
	/* LINT0 masked: the PIC no longer reaches vCPU 0 */
	eoi_slave(&e);
	eoi_master(&e);
	lapic_w(&e, 0, L_LVT0, 0x10700);
	pulse(&e, 5);
	assert_false(intr(&e));
	lapic_w(&e, 0, L_LVT0, 0x00700);
	assert_false(intr(&e)); /* software-disabled APIC keeps LVTs masked */
	lapic_enable(&e, 0);
	lapic_w(&e, 0, L_LVT0, 0x00700);
	assert_true(intr(&e));
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x0d);
	env_down(&e);
}

static void test_elcr_level(void **state)
{
	struct env e;

	env_up(&e, 1, false);
	pic_init(&e, 0x08, 0x70);
	/* IRQ 0, 1, 2, 8 and 13 cannot be level-triggered */
	outb(&e, 0x4d0, 0xff);
	outb(&e, 0x4d1, 0xff);
	assert_int_equal(inb(&e, 0x4d0), 0xf8);
	assert_int_equal(inb(&e, 0x4d1), 0xde);
	outb(&e, 0x4d0, 0x00);
	outb(&e, 0x4d1, 0x08); /* IRQ 11 level */
	assert_int_equal(soft_irqchip_set_irq(e.chip, 11, 1), 0);
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x73);
	assert_int_equal(read_isr(&e, 0xa0), 0x08);
	assert_int_equal(read_isr(&e, 0x20), 0x04);
	assert_false(intr(&e));
	eoi_slave(&e);
	eoi_master(&e);
	/* still asserted: requests again */
	assert_true(intr(&e));
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x73);
	assert_int_equal(soft_irqchip_set_irq(e.chip, 11, 0), 0);
	eoi_slave(&e);
	eoi_master(&e);
	assert_false(intr(&e));
	assert_int_equal(read_irr(&e, 0xa0), 0x00);
	/* an edge input held high requests once */
	assert_int_equal(soft_irqchip_set_irq(e.chip, 10, 1), 0);
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x72);
	eoi_slave(&e);
	eoi_master(&e);
	assert_false(intr(&e));
	assert_int_equal(soft_irqchip_set_irq(e.chip, 10, 0), 0);
	/* ICW1 LTIM makes every input level-triggered */
	outb(&e, 0x20, 0x19);
	outb(&e, 0x21, 0x08);
	outb(&e, 0x21, 0x04);
	outb(&e, 0x21, 0x01);
	assert_int_equal(soft_irqchip_set_irq(e.chip, 6, 1), 0);
	assert_int_equal(soft_irqchip_set_irq(e.chip, 6, 0), 0);
	assert_false(intr(&e));
	env_down(&e);
}

static void test_cascade(void **state)
{
	struct env e;

	env_up(&e, 1, false);
	pic_init(&e, 0x08, 0x70);
	pulse(&e, 5);
	pulse(&e, 12);
	/* the slave sits on IR2: above IR5 */
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x74);
	assert_false(intr(&e));
	eoi_slave(&e);
	assert_false(intr(&e)); /* master IR2 still in service */
	eoi_master(&e);
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x0d);
	eoi_master(&e);
	/* slave priorities: IRQ 8 before IRQ 15 */
	pulse(&e, 15);
	pulse(&e, 8);
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x70);
	eoi_slave(&e);
	eoi_master(&e);
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x77);
	eoi_slave(&e);
	eoi_master(&e);
	assert_false(intr(&e));
	/* GSI 2 does not reach the PIC (IR2 is the cascade) */
	pulse(&e, 2);
	assert_false(intr(&e));
	env_down(&e);
}

static void test_aeoi_poll_rotate(void **state)
{
	struct env e;

	env_up(&e, 1, false);
	outb(&e, 0x20, 0x11);
	outb(&e, 0x21, 0x20);
	outb(&e, 0x21, 0x04);
	outb(&e, 0x21, 0x03); /* AEOI */
	outb(&e, 0x21, 0x00);
	pulse(&e, 1);
	pulse(&e, 6);
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x21);
	assert_int_equal(read_isr(&e, 0x20), 0x00);
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x26); /* no EOI needed */

	/* poll mode: OCW3 P=1, the next read acknowledges */
	pic_init(&e, 0x08, 0x70);
	outb(&e, 0x20, 0x0c);
	assert_int_equal(inb(&e, 0x20), 0x00); /* nothing pending */
	pulse(&e, 3);
	outb(&e, 0x20, 0x0c);
	assert_int_equal(inb(&e, 0x20), 0x83);
	assert_int_equal(read_isr(&e, 0x20), 0x08);
	eoi_master(&e);

	/* set priority: IR4 lowest, so IR5 is the highest */
	outb(&e, 0x20, 0xc4);
	pulse(&e, 1);
	pulse(&e, 6);
	pulse(&e, 5);
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x0d);
	/* rotate on non-specific EOI: IR5 becomes the lowest, IR6 next */
	outb(&e, 0x20, 0xa0);
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x0e);
	outb(&e, 0x20, 0xe6); /* rotate on specific EOI of IR6 */
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x09);
	eoi_master(&e);
	assert_false(intr(&e));
	env_down(&e);
}

static void test_special_mask(void **state)
{
	struct env e;

	env_up(&e, 1, false);
	pic_init(&e, 0x08, 0x70);
	pulse(&e, 3);
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x0b);
	pulse(&e, 7);
	assert_false(intr(&e)); /* IR3 in service blocks IR7 */
	outb(&e, 0x20, 0x68);   /* set special mask mode */
	outb(&e, 0x21, 0x08);   /* mask IR3: its level no longer blocks */
	assert_true(intr(&e));
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x0f);
	assert_int_equal(read_isr(&e, 0x20), 0x88);
	outb(&e, 0x20, 0x67);   /* specific EOI IR7 */
	outb(&e, 0x20, 0x63);
	outb(&e, 0x20, 0x48);   /* reset special mask mode */
	outb(&e, 0x21, 0x00);
	assert_int_equal(read_isr(&e, 0x20), 0x00);
	env_down(&e);
}

static void test_spurious(void **state)
{
	struct env e;

	env_up(&e, 1, false);
	pic_init(&e, 0x08, 0x70);
	outb(&e, 0x4d0, 0x20); /* IRQ 5 level */
	assert_int_equal(soft_irqchip_set_irq(e.chip, 5, 1), 0);
	assert_true(intr(&e));
	/* the line drops between INTR and INTA: spurious IR7 */
	assert_int_equal(soft_irqchip_set_irq(e.chip, 5, 0), 0);
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x0f);
	assert_int_equal(read_isr(&e, 0x20), 0x00);
	/* without a previous INTR, ack finds nothing */
	assert_int_equal(soft_irqchip_ack(e.chip, 0), -1);
	env_down(&e);
}

static void test_hostile_ports(void **state)
{
	struct env e;
	uint16_t w;

	env_up(&e, 1, false);
	/* data-port writes during init and random OCWs must not break it */
	outb(&e, 0x20, 0x13); /* single, ICW4 */
	outb(&e, 0x21, 0xff);
	outb(&e, 0x21, 0xff);
	outb(&e, 0x21, 0x00);
	for (unsigned v = 0; v < 256; v++)
		if (!(v & 0x10))
			outb(&e, 0x20, (uint8_t)v);
	for (unsigned v = 0; v < 256; v++) {
		outb(&e, 0xa0, (uint8_t)v);
		(void)inb(&e, 0xa0);
	}
	/* a 16-bit write hits both ports */
	pic_init(&e, 0x08, 0x70);
	w = 0x5a0b;
	assert_int_equal(vmm_bus_access(e.vm, VMM_SPACE_PIO, 0x20, &w, 2,
					true), 0);
	assert_int_equal(inb(&e, 0x21), 0x5a);
	assert_int_equal(soft_irqchip_set_irq(e.chip, 24, 1), -EINVAL);
	assert_int_equal(soft_irqchip_set_irq(e.chip, 0xffffffffu, 1),
			 -EINVAL);
	env_down(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_and_priority),
		cmocka_unit_test(test_masking),
		cmocka_unit_test(test_elcr_level),
		cmocka_unit_test(test_cascade),
		cmocka_unit_test(test_aeoi_poll_rotate),
		cmocka_unit_test(test_special_mask),
		cmocka_unit_test(test_spurious),
		cmocka_unit_test(test_hostile_ports),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
