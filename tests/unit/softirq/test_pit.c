// SPDX-License-Identifier: MIT
/*
 * test_pit.c - the 8254 through ports 0x40-0x43 and 0x61 with a fake
 * clock: mode 2 and mode 3 periods on IRQ 0 (PIC and IOAPIC pin 2) at the
 * exact ns, mode 0 one-shot, channel 2 gate and OUT through port 0x61 as
 * Linux's TSC calibration uses them, counter latch and read-back, BCD,
 * lobyte/hibyte access, modes 1/4/5 and hostile control words.
 */
#include "softirq_test.h"

#define HZ 1193182ull

/* The first ns offset at which @k PIT ticks have elapsed. */
static uint64_t tick_ns(uint64_t k)
{
	return (k * 1000000000ull + HZ - 1) / HZ;
}

static unsigned poll_at(struct env *e, uint64_t t)
{
	e->clk.now = t;
	return soft_irqchip_poll(e->chip, 0);
}

static void load16(struct env *e, unsigned ch, uint16_t v)
{
	outb(e, (uint16_t)(0x40 + ch), (uint8_t)v);
	outb(e, (uint16_t)(0x40 + ch), (uint8_t)(v >> 8));
}

static uint16_t read16(struct env *e, unsigned ch)
{
	uint8_t lo = inb(e, (uint16_t)(0x40 + ch));

	return (uint16_t)(lo | inb(e, (uint16_t)(0x40 + ch)) << 8);
}

static void test_mode2_period(void **state)
{
	struct env e;
	uint64_t t0;

	env_up(&e, 1, false);
	pic_init(&e, 0x08, 0x70);
	outb(&e, 0x43, 0x34); /* ch0, lsb/msb, mode 2 */
	t0 = e.clk.now;
	load16(&e, 0, 1193); /* ~1 kHz, as Linux's HZ=1000 */
	for (uint64_t k = 1; k <= 5; k++) {
		uint64_t t = t0 + tick_ns(k * 1193);
		assert_int_equal(poll_at(&e, t - 1), 0);
		assert_int_equal(poll_at(&e, t), SOFT_IRQ_INTR);
		assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x08);
		outb(&e, 0x20, 0x20);
	}
	/* the counter runs N..1 */
	e.clk.now = t0 + tick_ns(5 * 1193 + 100);
	outb(&e, 0x43, 0x00);
	assert_int_equal(read16(&e, 0), 1093);
	/* the same pulses reach IOAPIC pin 2 */
	outb(&e, 0x21, 0xff);
	lapic_enable(&e, 0);
	ioapic_route(&e, 2, 0x30);
	assert_int_equal(poll_at(&e, t0 + tick_ns(6 * 1193)), SOFT_IRQ_INTR);
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x30);
	env_down(&e);
}

static void test_mode3_square_and_port61(void **state)
{
	struct env e;
	uint64_t t0;
	uint8_t a, b;

	env_up(&e, 1, false);
	/* ch2, lsb/msb, mode 3, count 100: high 50 ticks, low 50 */
	outb(&e, 0x61, 0x01);
	outb(&e, 0x43, 0xb6);
	t0 = e.clk.now;
	load16(&e, 2, 100);
	e.clk.now = t0 + tick_ns(49);
	assert_int_equal(inb(&e, 0x61) & 0x20, 0x20);
	e.clk.now = t0 + tick_ns(50);
	assert_int_equal(inb(&e, 0x61) & 0x20, 0x00);
	e.clk.now = t0 + tick_ns(100);
	assert_int_equal(inb(&e, 0x61) & 0x20, 0x20);
	assert_true(soft_irqchip_pit_out2(e.chip));
	/* gate low: OUT high, counting stops */
	e.clk.now = t0 + tick_ns(160);
	assert_false(soft_irqchip_pit_out2(e.chip));
	outb(&e, 0x61, 0x00);
	assert_int_equal(inb(&e, 0x61) & 0x21, 0x20);
	/* the refresh bit toggles on every read; bits 0-3 read back */
	outb(&e, 0x61, 0x0e);
	a = inb(&e, 0x61);
	b = inb(&e, 0x61);
	assert_int_equal((a ^ b) & 0x10, 0x10);
	assert_int_equal(a & 0x0f, 0x0e);
	/* mode 3 on IRQ 0: one interrupt per period */
	pic_init(&e, 0x08, 0x70);
	outb(&e, 0x43, 0x36);
	t0 = e.clk.now;
	load16(&e, 0, 0); /* 65536 */
	assert_int_equal(poll_at(&e, t0 + tick_ns(65536) - 1), 0);
	assert_int_equal(poll_at(&e, t0 + tick_ns(65536)), SOFT_IRQ_INTR);
	env_down(&e);
}

/* Linux pit_calibrate_tsc(): ch2 mode 0, poll port 0x61 bit 5. */
static void test_channel2_calibration(void **state)
{
	struct env e;
	uint64_t t0;
	const uint16_t latch = 11932; /* 10 ms */

	env_up(&e, 1, false);
	outb(&e, 0x61, (uint8_t)((inb(&e, 0x61) & ~0x02) | 0x01));
	outb(&e, 0x43, 0xb0);
	t0 = e.clk.now;
	outb(&e, 0x42, latch & 0xff);
	assert_int_equal(inb(&e, 0x61) & 0x20, 0); /* OUT low while loading */
	outb(&e, 0x42, latch >> 8);
	e.clk.now = t0 + tick_ns(latch) - 1;
	assert_int_equal(inb(&e, 0x61) & 0x20, 0);
	e.clk.now = t0 + tick_ns(latch);
	assert_int_equal(inb(&e, 0x61) & 0x20, 0x20);
	/* gate low pauses mode 0: reload, count 10 ticks with a pause */
	outb(&e, 0x43, 0xb0);
	t0 = e.clk.now;
	load16(&e, 2, 10);
	e.clk.now = t0 + tick_ns(4);
	outb(&e, 0x61, 0x00);
	e.clk.now += 1000000;
	assert_int_equal(inb(&e, 0x61) & 0x20, 0);
	outb(&e, 0x43, 0x80);
	assert_int_equal(read16(&e, 2), 6);
	outb(&e, 0x61, 0x01);
	t0 = e.clk.now;
	e.clk.now = t0 + tick_ns(6);
	assert_int_equal(inb(&e, 0x61) & 0x20, 0x20);
	env_down(&e);
}

static void test_latch_readback(void **state)
{
	struct env e;
	uint64_t t0;

	env_up(&e, 1, false);
	outb(&e, 0x43, 0x34);
	t0 = e.clk.now;
	load16(&e, 0, 1000);
	e.clk.now = t0 + tick_ns(300);
	outb(&e, 0x43, 0x00); /* counter latch */
	e.clk.now = t0 + tick_ns(500);
	outb(&e, 0x43, 0x00); /* a second latch does not overwrite */
	assert_int_equal(read16(&e, 0), 700);
	assert_int_equal(read16(&e, 0), 500); /* live again */
	/* read-back: status then count, for ch0 */
	outb(&e, 0x43, 0xc2);
	assert_int_equal(inb(&e, 0x40), 0xb4); /* OUT high, rw 3, mode 2 */
	assert_int_equal(read16(&e, 0), 500);
	/* status only, null count after a control word */
	outb(&e, 0x43, 0x34);
	outb(&e, 0x43, 0xe2);
	assert_int_equal(inb(&e, 0x40), 0xf4);
	/* read-back of ch1 and ch2 at once, count only */
	outb(&e, 0x43, 0x54); /* ch1 lsb only, mode 2 */
	outb(&e, 0x41, 18);
	outb(&e, 0x43, 0xb4);
	load16(&e, 2, 4000);
	outb(&e, 0x43, 0xdc);
	assert_int_equal(inb(&e, 0x41), 18);
	assert_int_equal(read16(&e, 2), 4000);
	/* lobyte / hibyte only access */
	outb(&e, 0x43, 0x20 | 0x04); /* ch0, msb only, mode 2 */
	outb(&e, 0x40, 0x12);
	e.clk.now += tick_ns(0x100);
	assert_int_equal(inb(&e, 0x40), 0x11);
	env_down(&e);
}

static void test_bcd_and_modes(void **state)
{
	struct env e;
	uint64_t t0;

	env_up(&e, 1, false);
	pic_init(&e, 0x08, 0x70);
	/* ch0 mode 0, BCD, count 1000 decimal */
	outb(&e, 0x43, 0x31);
	t0 = e.clk.now;
	load16(&e, 0, 0x1000);
	e.clk.now = t0 + tick_ns(1);
	outb(&e, 0x43, 0x00);
	assert_int_equal(read16(&e, 0), 0x0999);
	/* mode 0: one interrupt at terminal count, never again */
	assert_int_equal(poll_at(&e, t0 + tick_ns(1000) - 1), 0);
	assert_int_equal(poll_at(&e, t0 + tick_ns(1000)), SOFT_IRQ_INTR);
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x08);
	outb(&e, 0x20, 0x20);
	assert_int_equal(poll_at(&e, t0 + tick_ns(100000)), 0);
	assert_int_equal(soft_irqchip_next_deadline(e.chip), UINT64_MAX);
	/* BCD count 0 = 10000 */
	outb(&e, 0x43, 0x31);
	load16(&e, 0, 0);
	outb(&e, 0x43, 0x00);
	assert_int_equal(read16(&e, 0), 0x0000);
	e.clk.now += tick_ns(1);
	outb(&e, 0x43, 0x00);
	assert_int_equal(read16(&e, 0), 0x9999);
	/* mode 1 on ch2: waits for a gate edge, OUT low N ticks */
	outb(&e, 0x61, 0x00);
	outb(&e, 0x43, 0xb2);
	load16(&e, 2, 20);
	e.clk.now += tick_ns(100);
	assert_true(soft_irqchip_pit_out2(e.chip));
	soft_irqchip_pit_set_gate2(e.chip, true);
	t0 = e.clk.now;
	assert_false(soft_irqchip_pit_out2(e.chip));
	e.clk.now = t0 + tick_ns(20);
	assert_true(soft_irqchip_pit_out2(e.chip));
	/* mode 4: a one-tick low strobe after N ticks */
	outb(&e, 0x43, 0xb8);
	t0 = e.clk.now;
	load16(&e, 2, 30);
	e.clk.now = t0 + tick_ns(29);
	assert_true(soft_irqchip_pit_out2(e.chip));
	e.clk.now = t0 + tick_ns(30);
	assert_false(soft_irqchip_pit_out2(e.chip));
	e.clk.now = t0 + tick_ns(31);
	assert_true(soft_irqchip_pit_out2(e.chip));
	/* mode 5: as 4, started by the gate */
	soft_irqchip_pit_set_gate2(e.chip, false);
	outb(&e, 0x43, 0xba);
	load16(&e, 2, 5);
	e.clk.now += tick_ns(50);
	assert_true(soft_irqchip_pit_out2(e.chip));
	soft_irqchip_pit_set_gate2(e.chip, true);
	t0 = e.clk.now;
	e.clk.now = t0 + tick_ns(5);
	assert_false(soft_irqchip_pit_out2(e.chip));
	env_down(&e);
}

static void test_hostile(void **state)
{
	struct env e;
	uint32_t v = 0;

	env_up(&e, 1, false);
	/* every control word, count and read in a row must stay sane */
	for (unsigned cw = 0; cw < 256; cw++) {
		outb(&e, 0x43, (uint8_t)cw);
		outb(&e, (uint16_t)(0x40 + (cw % 3)), (uint8_t)(cw * 7));
		(void)inb(&e, (uint16_t)(0x40 + (cw % 3)));
		(void)inb(&e, 0x43);
		e.clk.now += 12345;
		(void)soft_irqchip_poll(e.chip, 0);
	}
	/* modes 6 and 7 alias 2 and 3 */
	outb(&e, 0x43, 0x3c);
	outb(&e, 0x43, 0xe2);
	assert_int_equal(inb(&e, 0x40) & 0x0e, 0x04);
	outb(&e, 0x43, 0x3e);
	outb(&e, 0x43, 0xe2);
	assert_int_equal(inb(&e, 0x40) & 0x0e, 0x06);
	/* mode 2 with count 1 is illegal but harmless */
	outb(&e, 0x43, 0x34);
	load16(&e, 0, 1);
	e.clk.now += 1000000;
	(void)soft_irqchip_poll(e.chip, 0);
	/* wide accesses */
	assert_int_equal(vmm_bus_access(e.vm, VMM_SPACE_PIO, 0x40, &v, 4,
					true), 0);
	assert_int_equal(vmm_bus_access(e.vm, VMM_SPACE_PIO, 0x40, &v, 4,
					false), 0);
	env_down(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mode2_period),
		cmocka_unit_test(test_mode3_square_and_port61),
		cmocka_unit_test(test_channel2_calibration),
		cmocka_unit_test(test_latch_readback),
		cmocka_unit_test(test_bcd_and_modes),
		cmocka_unit_test(test_hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
