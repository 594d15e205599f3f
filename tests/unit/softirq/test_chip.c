// SPDX-License-Identifier: MIT
/*
 * test_chip.c - the irqchip as a whole: allocation-failure injection on
 * create (every failing allocation leaves nothing registered or leaked),
 * MSI decoding, save/restore round trip mid-countdown onto another clock
 * base, hostile snapshot images, deterministic time (identical event order
 * and exact deadlines in two runs; wait() advances instead of sleeping),
 * waiting on host time (interrupt from a device thread, wake, deadline,
 * LAPIC timer) and concurrent device and vCPU threads.
 */
#include "softirq_test.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

static bool pio_used(vmm_vm *vm, uint16_t port)
{
	struct vmm_bus_stats st = { .struct_size = sizeof(st) };

	return vmm_bus_get_stats(vm, VMM_SPACE_PIO, port, &st, NULL, 0) == 0;
}

static void test_failalloc(void **state)
{
	long n;

	for (n = 0; n < 200; n++) {
		struct env e;
		struct soft_clock c;
		int ret;

		env_init_vm(&e, 2);
		c = env_clock(&e, false);
		e.fa.fail_at = e.fa.count + n;
		ret = soft_irqchip_create(e.vm, 2, true, &c, &e.chip);
		if (!e.fa.failed) {
			assert_int_equal(ret, 0);
			assert_true(pio_used(e.vm, 0x20));
			assert_true(pio_used(e.vm, 0x61));
			env_down(&e);
			break;
		}
		assert_int_equal(ret, -ENOMEM);
		assert_null(e.chip);
		assert_false(pio_used(e.vm, 0x20));
		assert_false(pio_used(e.vm, 0x40));
		assert_false(pio_used(e.vm, 0x4d0));
		vmm_vm_destroy(e.vm);
		assert_int_equal(e.fa.live, 0);
	}
	assert_true(n > 5 && n < 200);
}

static int p61_read(void *opaque, uint64_t off, void *data, unsigned size,
		    struct vmm_io_ctx *ctx)
{
	memset(data, 0x42, size);
	return 0;
}

static void test_create_args(void **state)
{
	struct env e;
	struct soft_clock c, bad = { 0 };
	struct soft_irqchip *chip2 = NULL;

	env_init_vm(&e, 1);
	c = env_clock(&e, false);
	assert_int_equal(soft_irqchip_create(e.vm, 0, true, &c, &e.chip),
			 -EINVAL);
	assert_int_equal(soft_irqchip_create(e.vm, 65, true, &c, &e.chip),
			 -EINVAL);
	assert_int_equal(soft_irqchip_create(e.vm, 1, true, &bad, &e.chip),
			 -EINVAL);
	assert_int_equal(soft_irqchip_create(NULL, 1, true, &c, &e.chip),
			 -EINVAL);
	assert_int_equal(soft_irqchip_create(e.vm, 1, false, &c, &e.chip), 0);
	assert_false(pio_used(e.vm, 0x40));
	assert_false(pio_used(e.vm, 0x61));
	/* a second chip on the same VM collides */
	assert_int_equal(soft_irqchip_create(e.vm, 1, true, &c, &chip2),
			 -EEXIST);
	assert_null(chip2);
	soft_irqchip_destroy(NULL);
	env_down(&e);

	/* port 0x61 taken by another device (an i8042): skipped, not fatal */
	static const struct vmm_io_ops p61 = { .read = p61_read };
	env_init_vm(&e, 1);
	c = env_clock(&e, false);
	assert_int_equal(vmm_bus_register(e.vm, VMM_SPACE_PIO, 0x61, 1, &p61,
					  NULL, "other"), 0);
	assert_int_equal(soft_irqchip_create(e.vm, 1, true, &c, &e.chip), 0);
	assert_true(pio_used(e.vm, 0x40));
	assert_int_equal(inb(&e, 0x61), 0x42);
	soft_irqchip_pit_set_gate2(e.chip, true);
	outb(&e, 0x43, 0xb0);
	outb(&e, 0x42, 1);
	outb(&e, 0x42, 0);
	assert_false(soft_irqchip_pit_out2(e.chip));
	e.clk.now += 1000;
	assert_true(soft_irqchip_pit_out2(e.chip));
	env_down(&e);
}

static void test_msi(void **state)
{
	struct env e;

	env_up(&e, 2, false);
	lapic_enable(&e, 0);
	lapic_enable(&e, 1);
	assert_int_equal(soft_irqchip_msi(e.chip, 0xfee01000, 0x4041), 0);
	assert_int_equal(soft_irqchip_poll(e.chip, 0), 0);
	assert_int_equal(soft_irqchip_ack(e.chip, 1), 0x41);
	assert_false(vec_set(&e, 1, L_TMR, 0x41));
	/* logical, flat */
	lapic_w(&e, 0, L_LDR, 0x01000000);
	lapic_w(&e, 1, L_LDR, 0x02000000);
	assert_int_equal(soft_irqchip_msi(e.chip, 0xfee03004, 0x42), 0);
	assert_true(vec_set(&e, 0, L_IRR, 0x42));
	assert_true(vec_set(&e, 1, L_IRR, 0x42));
	/* redirection hint: one of them, the lowest priority (vCPU 1) */
	lapic_w(&e, 0, L_TPR, 0x80);
	assert_int_equal(soft_irqchip_msi(e.chip, 0xfee0300c, 0x43), 0);
	assert_false(vec_set(&e, 0, L_IRR, 0x43));
	assert_true(vec_set(&e, 1, L_IRR, 0x43));
	/* NMI, SMI, INIT by message */
	assert_int_equal(soft_irqchip_msi(e.chip, 0xfee00000, 0x400), 0);
	assert_int_equal(soft_irqchip_msi(e.chip, 0xfee00000, 0x200), 0);
	assert_int_equal(soft_irqchip_msi(e.chip, 0xfee00000, 0x500), 0);
	assert_int_equal(soft_irqchip_poll(e.chip, 0),
			 SOFT_IRQ_NMI | SOFT_IRQ_SMI | SOFT_IRQ_INIT);
	soft_irqchip_ack_smi(e.chip, 0);
	soft_irqchip_ack_nmi(e.chip, 0);
	soft_irqchip_ack_init(e.chip, 0);
	assert_int_equal(soft_irqchip_poll(e.chip, 0), 0);
	/* hostile: bad address, vector < 16, SIPI/ExtINT, nobody there */
	assert_int_equal(soft_irqchip_msi(e.chip, 0xfed00000, 0x41), -EINVAL);
	assert_int_equal(soft_irqchip_msi(e.chip, 0x1fee00000ull, 0x41),
			 -EINVAL);
	lapic_enable(&e, 0);
	assert_int_equal(soft_irqchip_msi(e.chip, 0xfee00000, 0x0e), 0);
	lapic_w(&e, 0, L_ESR, 0);
	assert_int_equal(lapic_r(&e, 0, L_ESR), 0x40);
	assert_int_equal(soft_irqchip_msi(e.chip, 0xfee00000, 0x630), 0);
	assert_int_equal(soft_irqchip_msi(e.chip, 0xfee00000, 0x730), 0);
	assert_int_equal(soft_irqchip_msi(e.chip, 0xfee7f000, 0x31), 0);
	assert_int_equal(soft_irqchip_poll(e.chip, 0), 0);
	env_down(&e);
}

/* A busy machine: PIC, IOAPIC, PIT, LAPIC timers and pending IRQs. */
static void program(struct env *e)
{
	pic_init(e, 0x20, 0x28);
	outb(e, 0x4d1, 0x08);
	outb(e, 0x21, 0xfa);           /* IRQ 0 and 2 open */
	for (unsigned c = 0; c < 2; c++)
		lapic_enable(e, c);
	ioapic_route(e, 10, 0x50 | (1u << 15));
	assert_int_equal(soft_irqchip_set_irq(e->chip, 10, 1), 0);
	ioapic_route(e, 4, 0x44 | (1ull << 56));
	lapic_w(e, 1, L_TDCR, 0x0);
	lapic_w(e, 1, L_LVTT, 0x20061);
	lapic_w(e, 1, L_TMICT, 1000);  /* periodic, 2000 ns */
	lapic_w(e, 0, L_LVTT, 0x40062);
	assert_int_equal(soft_irqchip_wrmsr(e->chip, 0, 0x6e0,
			 soft_irqchip_rdtsc(e->chip, 0) + 50000), 0);
	outb(e, 0x43, 0x34);
	outb(e, 0x40, 0x88);
	outb(e, 0x40, 0x13);           /* 5000 ticks */
	outb(e, 0x61, 0x01);
	outb(e, 0x43, 0xb0);
	outb(e, 0x42, 0x10);
	outb(e, 0x42, 0x27);
	lapic_w(e, 0, L_ICR2, 1u << 24);
	lapic_w(e, 0, L_ICR, 0x4077);
	outb(e, 0x43, 0x80);           /* a latch in flight */
	(void)inb(e, 0x42);
}

static void test_save_restore(void **state)
{
	struct env a, b, c;
	int size;
	uint8_t *img, *img2, *bad;

	env_up(&a, 2, false);
	program(&a);
	a.clk.now += 777;
	size = soft_irqchip_save(a.chip, NULL, 0);
	assert_int_equal(size, (int)SOFT_IRQCHIP_STATE_SIZE(2));
	img = calloc(1, (size_t)size);
	img2 = calloc(1, (size_t)size);
	bad = calloc(1, (size_t)size);
	assert_int_equal(soft_irqchip_save(a.chip, img, (size_t)size - 1),
			 -ENOSPC);
	assert_int_equal(soft_irqchip_save(a.chip, img, (size_t)size), size);

	/* another process, another clock base */
	env_up(&b, 2, false);
	b.clk.now = 5000000000ull;
	assert_int_equal(soft_irqchip_restore(b.chip, img, (size_t)size), 0);
	assert_int_equal(soft_irqchip_save(b.chip, img2, (size_t)size), size);
	assert_memory_equal(img, img2, (size_t)size);
	assert_int_equal(soft_irqchip_next_deadline(b.chip) - b.clk.now,
			 soft_irqchip_next_deadline(a.chip) - a.clk.now);
	/* both machines now evolve identically */
	for (int step = 0; step < 300; step++) {
		a.clk.now += 331;
		b.clk.now += 331;
		for (unsigned cpu = 0; cpu < 2; cpu++) {
			unsigned pa = soft_irqchip_poll(a.chip, cpu);
			assert_int_equal(pa, soft_irqchip_poll(b.chip, cpu));
			if ((pa & SOFT_IRQ_INTR) && step % 3 == 0) {
				int va = soft_irqchip_ack(a.chip, cpu);
				assert_int_equal(va,
						 soft_irqchip_ack(b.chip, cpu));
				if (va >= 0x30) {
					lapic_w(&a, cpu, L_EOI, 0);
					lapic_w(&b, cpu, L_EOI, 0);
				} else {
					outb(&a, 0x20, 0x20);
					outb(&b, 0x20, 0x20);
				}
			}
		}
		assert_int_equal(lapic_r(&a, 1, L_TMCCT),
				 lapic_r(&b, 1, L_TMCCT));
		assert_int_equal(inb(&a, 0x42), inb(&b, 0x42));
		assert_int_equal(inb(&a, 0x61) & 0x20, inb(&b, 0x61) & 0x20);
	}
	/* the TSC continued from the saved value on both */
	assert_int_equal(soft_irqchip_rdtsc(a.chip, 0),
			 soft_irqchip_rdtsc(b.chip, 0));

	/* hostile images change nothing */
	assert_int_equal(soft_irqchip_save(b.chip, img2, (size_t)size), size);
	struct { size_t off; uint8_t v; } flips[] = {
		{ 0, 0 },                                    /* magic */
		{ 4, 9 },                                    /* version */
		{ 8, 1 },                                    /* size */
		{ 12, 3 },                                   /* ncpus */
		{ 16, 0 },                                   /* with_pit */
		{ offsetof(struct soft_irqchip_state, pic[0].init_step), 1 },
		{ offsetof(struct soft_irqchip_state, pic[1].lowest), 8 },
		{ offsetof(struct soft_irqchip_state, pit.ch[0].mode), 6 },
		{ offsetof(struct soft_irqchip_state, pit.ch[1].rw), 0 },
		{ offsetof(struct soft_irqchip_state, pit.ch[2].count) + 3, 1 },
		{ offsetof(struct soft_irqchip_state, ioapic.lines) + 3, 1 },
		{ offsetof(struct soft_irqchip_state, pic_src) + 2, 0x80 },
		{ sizeof(struct soft_irqchip_state) +
		  offsetof(struct soft_lapic_state, apic_base) + 7, 1 },
		{ sizeof(struct soft_irqchip_state) +
		  offsetof(struct soft_lapic_state, flags), 0x10 },
	};
	for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		memcpy(bad, img2, (size_t)size);
		bad[flips[i].off] = flips[i].v;
		assert_int_equal(soft_irqchip_restore(b.chip, bad,
						      (size_t)size), -EINVAL);
	}
	assert_int_equal(soft_irqchip_restore(b.chip, img2, (size_t)size - 1),
			 -EINVAL);
	assert_int_equal(soft_irqchip_restore(b.chip, img2, 3), -EINVAL);
	assert_int_equal(soft_irqchip_restore(b.chip, NULL, 0), -EINVAL);
	assert_int_equal(soft_irqchip_save(b.chip, bad, (size_t)size), size);
	assert_memory_equal(bad, img2, (size_t)size);
	/* wrong vCPU count */
	env_up(&c, 1, false);
	assert_int_equal(soft_irqchip_restore(c.chip, img, (size_t)size),
			 -EINVAL);
	env_down(&c);
	/* random corruption: accepted or refused, never a crash */
	srand(1234);
	for (int i = 0; i < 3000; i++) {
		memcpy(bad, img2, (size_t)size);
		for (int k = 0; k < 4; k++)
			bad[(size_t)rand() % (size_t)size] = (uint8_t)rand();
		int r = soft_irqchip_restore(b.chip, bad, (size_t)size);
		assert_true(r == 0 || r == -EINVAL);
		b.clk.now += 97;
		for (unsigned cpu = 0; cpu < 2; cpu++)
			if (soft_irqchip_poll(b.chip, cpu) & SOFT_IRQ_INTR)
				(void)soft_irqchip_ack(b.chip, cpu);
		(void)inb(&b, 0x40);
		(void)lapic_r(&b, 1, L_TMCCT);
	}
	free(img);
	free(img2);
	free(bad);
	env_down(&a);
	env_down(&b);
}

/* ---- deterministic time ---- */

struct ev { uint64_t t; unsigned cpu; int vec; };

static size_t det_run(struct ev *log, size_t max, uint64_t *advances)
{
	struct env e;
	size_t n = 0;
	uint64_t t0, end;

	env_up(&e, 2, true);
	outb(&e, 0x21, 0xff);
	outb(&e, 0xa1, 0xff);
	lapic_enable(&e, 0);
	lapic_enable(&e, 1);
	ioapic_route(&e, 2, 0x30 | (1ull << 56));
	t0 = e.clk.now;
	lapic_w(&e, 0, L_TDCR, 0xb);
	lapic_w(&e, 0, L_LVTT, 0x20040);
	lapic_w(&e, 0, L_TMICT, 7000);      /* cpu0: periodic 7 us */
	lapic_w(&e, 1, L_TDCR, 0xb);
	lapic_w(&e, 1, L_LVTT, 0x41);
	lapic_w(&e, 1, L_TMICT, 15000);     /* cpu1: one-shot, re-armed */
	outb(&e, 0x43, 0x34);
	outb(&e, 0x40, 12);
	outb(&e, 0x40, 0);                  /* PIT: 12 ticks ~ 10.06 us */
	end = t0 + 200000;
	while (e.clk.now < end && n < max) {
		for (unsigned cpu = 0; cpu < 2; cpu++) {
			while (soft_irqchip_poll(e.chip, cpu) & SOFT_IRQ_INTR) {
				int v = soft_irqchip_ack(e.chip, cpu);
				log[n++] = (struct ev){ e.clk.now - t0, cpu, v };
				if (cpu == 0 && v == 0x40) { /* IPI to cpu1 */
					lapic_w(&e, 0, L_ICR2, 1u << 24);
					lapic_w(&e, 0, L_ICR, 0x4055);
				}
				if (cpu == 1 && v == 0x41)
					lapic_w(&e, 1, L_TMICT, 9000);
				lapic_w(&e, cpu, L_EOI, 0);
			}
		}
		/* both halted: no sleeping, time jumps to the next event */
		(void)soft_irqchip_wait(e.chip, 0, 0);
	}
	*advances = e.clk.advances;
	env_down(&e);
	return n;
}

static void test_deterministic(void **state)
{
	static struct ev a[4096], b[4096];
	uint64_t adv_a, adv_b;
	size_t na = det_run(a, 4096, &adv_a);
	size_t nb = det_run(b, 4096, &adv_b);
	unsigned k40 = 0, k41 = 0, k30 = 0, k55 = 0;

	assert_int_equal(na, nb);
	assert_int_equal(adv_a, adv_b);
	assert_memory_equal(a, b, na * sizeof(a[0]));
	for (size_t i = 0; i < na; i++) {
		if (i)
			assert_true(a[i].t >= a[i - 1].t);
		switch (a[i].vec) {
		case 0x40: /* exactly on the 7 us grid */
			assert_int_equal(a[i].cpu, 0);
			assert_int_equal(a[i].t, 7000ull * ++k40);
			break;
		case 0x41: /* 15 us, then every 9 us */
			assert_int_equal(a[i].t, 15000 + 9000ull * k41++);
			break;
		case 0x30: /* PIT ch0 via IOAPIC pin 2, 12 ticks */
			k30++;
			assert_int_equal(a[i].t,
				((12ull * k30) * 1000000000ull + 1193181) /
				1193182);
			break;
		case 0x55:
			k55++;
			break;
		default:
			fail_msg("unexpected vector %d", a[i].vec);
		}
	}
	assert_true(k40 >= 28 && k41 >= 20 && k30 >= 19 && k55 == k40);
}

static void test_deterministic_wait(void **state)
{
	struct env e;
	uint64_t t0;

	env_up(&e, 1, true);
	lapic_enable(&e, 0);
	/* nothing armed: returns at once, time does not move */
	t0 = e.clk.now;
	assert_int_equal(soft_irqchip_wait(e.chip, 0, 0), 0);
	assert_int_equal(e.clk.now, t0);
	/* a deadline: jumps exactly there */
	assert_int_equal(soft_irqchip_wait(e.chip, 0, t0 + 12345), 0);
	assert_int_equal(e.clk.now, t0 + 12345);
	/* a timer before the deadline: jumps to the timer */
	lapic_w(&e, 0, L_TDCR, 0xb);
	lapic_w(&e, 0, L_LVTT, 0x40);
	lapic_w(&e, 0, L_TMICT, 500);
	assert_int_equal(soft_irqchip_wait(e.chip, 0, t0 + 1000000),
			 SOFT_IRQ_INTR);
	assert_int_equal(e.clk.now, t0 + 12345 + 500);
	/* pending: no movement */
	assert_int_equal(soft_irqchip_wait(e.chip, 0, 0), SOFT_IRQ_INTR);
	assert_int_equal(e.clk.now, t0 + 12845);
	/* a wake is not lost */
	assert_int_equal(soft_irqchip_ack(e.chip, 0), 0x40);
	lapic_w(&e, 0, L_EOI, 0);
	soft_irqchip_wake(e.chip, 0);
	lapic_w(&e, 0, L_TMICT, 500);
	assert_int_equal(soft_irqchip_wait(e.chip, 0, 0), 0);
	assert_int_equal(e.clk.now, t0 + 12845);
	/* the fast-path words agree with poll() */
	const _Atomic unsigned *pw = soft_irqchip_pending_word(e.chip, 0);
	const _Atomic uint64_t *dw = soft_irqchip_deadline_word(e.chip);
	assert_int_equal(*pw, 0);
	assert_int_equal(*dw, t0 + 12845 + 500);
	e.clk.now = *dw;
	assert_int_equal(soft_irqchip_poll(e.chip, 0), SOFT_IRQ_INTR);
	assert_int_equal(*pw, SOFT_IRQ_INTR);
	assert_int_equal(*dw, UINT64_MAX);
	env_down(&e);

	/* without an advance() callback wait() cannot move time */
	struct soft_clock c;
	env_init_vm(&e, 1);
	c = env_clock(&e, true);
	c.advance = NULL;
	assert_int_equal(soft_irqchip_create(e.vm, 1, false, &c, &e.chip), 0);
	lapic_enable(&e, 0);
	lapic_w(&e, 0, L_LVTT, 0x40);
	lapic_w(&e, 0, L_TMICT, 500);
	t0 = e.clk.now;
	assert_int_equal(soft_irqchip_wait(e.chip, 0, 0), 0);
	assert_int_equal(e.clk.now, t0);
	assert_int_equal(soft_irqchip_next_deadline(e.chip), t0 + 1000);
	env_down(&e);
}

/* ---- host time ---- */

static uint64_t host_now(void *opaque)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct hostenv {
	struct env e;
	int what;
};

static void *raiser(void *arg)
{
	struct hostenv *h = arg;
	struct timespec d = { 0, 20000000 };

	nanosleep(&d, NULL);
	if (h->what == 0) {
		soft_irqchip_set_irq(h->e.chip, 4, 1);
		soft_irqchip_set_irq(h->e.chip, 4, 0);
	} else {
		soft_irqchip_wake(h->e.chip, 0);
	}
	return NULL;
}

static void test_host_wait(void **state)
{
	struct hostenv h;
	struct soft_clock c = { .now_ns = host_now };
	pthread_t th;
	uint64_t t;

	env_init_vm(&h.e, 1);
	assert_int_equal(soft_irqchip_create(h.e.vm, 1, true, &c, &h.e.chip),
			 0);
	lapic_enable(&h.e, 0);
	outb(&h.e, 0x21, 0xff);
	ioapic_route(&h.e, 4, 0x44);
	/* a wake before the wait is not lost */
	soft_irqchip_wake(h.e.chip, 0);
	assert_int_equal(soft_irqchip_wait(h.e.chip, 0, 0), 0);
	/* an interrupt from a device thread */
	for (h.what = 0; h.what < 2; h.what++) {
		t = host_now(NULL);
		assert_int_equal(pthread_create(&th, NULL, raiser, &h), 0);
		unsigned bits = soft_irqchip_wait(h.e.chip, 0, 0);
		pthread_join(th, NULL);
		assert_int_equal(bits, h.what == 0 ? SOFT_IRQ_INTR : 0);
		assert_true(host_now(NULL) - t >= 15000000);
		if (h.what == 0) {
			assert_int_equal(soft_irqchip_ack(h.e.chip, 0), 0x44);
			lapic_w(&h.e, 0, L_EOI, 0);
		}
	}
	/* a deadline */
	t = host_now(NULL);
	assert_int_equal(soft_irqchip_wait(h.e.chip, 0, t + 10000000), 0);
	assert_true(host_now(NULL) - t >= 10000000);
	/* the LAPIC timer: 5 ms one-shot */
	lapic_w(&h.e, 0, L_TDCR, 0xb);
	lapic_w(&h.e, 0, L_LVTT, 0x45);
	t = host_now(NULL);
	lapic_w(&h.e, 0, L_TMICT, 5000000);
	assert_int_equal(soft_irqchip_wait(h.e.chip, 0, 0), SOFT_IRQ_INTR);
	assert_true(host_now(NULL) - t >= 5000000);
	assert_true(host_now(NULL) - t < 1000000000);
	assert_int_equal(soft_irqchip_ack(h.e.chip, 0), 0x45);
	env_down(&h.e);
}

/* ---- threads ---- */

struct stress {
	struct env e;
	atomic_bool stop;
	atomic_uint acked[2];
	unsigned gsi;
};

static void *dev_thread(void *arg)
{
	struct stress *s = arg;
	unsigned gsi = __atomic_fetch_add(&s->gsi, 1, __ATOMIC_SEQ_CST);

	for (int i = 0; i < 20000; i++) {
		soft_irqchip_set_irq(s->e.chip, gsi, 1);
		soft_irqchip_set_irq(s->e.chip, gsi, 0);
		if (i % 1000 == 0)
			(void)soft_irqchip_msi(s->e.chip, 0xfee01000, 0x60);
	}
	return NULL;
}

struct cpu_arg { struct stress *s; unsigned cpu; };

static void *cpu_thread(void *arg)
{
	struct cpu_arg *a = arg;
	struct stress *s = a->s;

	while (!atomic_load(&s->stop)) {
		if (soft_irqchip_poll(s->e.chip, a->cpu) & SOFT_IRQ_INTR) {
			int v = soft_irqchip_ack(s->e.chip, a->cpu);
			if (v >= 0) {
				atomic_fetch_add(&s->acked[a->cpu], 1);
				lapic_w(&s->e, a->cpu, L_EOI, 0);
			}
		} else {
			(void)soft_irqchip_wait(s->e.chip, a->cpu,
						host_now(NULL) + 1000000);
		}
	}
	return NULL;
}

static void test_threads(void **state)
{
	static struct stress s;
	struct soft_clock c = { .now_ns = host_now };
	struct cpu_arg ca[2] = { { &s, 0 }, { &s, 1 } };
	pthread_t dev[4], cpu[2];

	memset(&s, 0, sizeof(s));
	env_init_vm(&s.e, 2);
	assert_int_equal(soft_irqchip_create(s.e.vm, 2, true, &c, &s.e.chip),
			 0);
	outb(&s.e, 0x21, 0xff);
	outb(&s.e, 0xa1, 0xff);
	lapic_enable(&s.e, 0);
	lapic_enable(&s.e, 1);
	s.gsi = 16;
	for (unsigned p = 16; p < 20; p++)
		ioapic_route(&s.e, p, (0x40 + p) | ((uint64_t)(p & 1) << 56));
	for (int i = 0; i < 2; i++)
		pthread_create(&cpu[i], NULL, cpu_thread, &ca[i]);
	for (int i = 0; i < 4; i++)
		pthread_create(&dev[i], NULL, dev_thread, &s);
	for (int i = 0; i < 4; i++)
		pthread_join(dev[i], NULL);
	atomic_store(&s.stop, true);
	soft_irqchip_wake(s.e.chip, 0);
	soft_irqchip_wake(s.e.chip, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(cpu[i], NULL);
	assert_true(atomic_load(&s.acked[0]) > 0);
	assert_true(atomic_load(&s.acked[1]) > 0);
	env_down(&s.e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failalloc),
		cmocka_unit_test(test_create_args),
		cmocka_unit_test(test_msi),
		cmocka_unit_test(test_save_restore),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_deterministic_wait),
		cmocka_unit_test(test_host_wait),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
