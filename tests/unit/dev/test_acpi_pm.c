// SPDX-License-Identifier: MIT
/*
 * test_acpi_pm.c - the ACPI PM registers: the timer counts at 3.579545 MHz
 * (measured against the host clock), reads in halves agree, SCI_EN reads 1,
 * SLP_EN with SLP_TYP 5 stops with VMM_EXIT_POWEROFF (other types and
 * SLP_TYP alone do not), the reset register value resets, status bits are
 * write-1-to-clear, a snapshot round trip, bad saved state refused,
 * allocation failures.
 */
#include "dev_test.h"
#include "core/statebuf.h"

#include <libvmm/boot.h>
#include <time.h>

#define PM VMM_ACPI_PM_BASE

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_timer_rate(void **state)
{
	vmm_vm *vm = dt_vm(NULL, 0);
	vmm_dev *dev;
	uint32_t t0, t1;
	double s0, s1, hz;
	struct timespec d = { 0, 200 * 1000 * 1000 };

	(void)state;
	assert_int_equal(vmm_acpi_pm_attach(vm, &dev), 0);
	s0 = now_s();
	t0 = (uint32_t)dt_in(vm, PM + VMM_ACPI_PM_TMR, 4);
	nanosleep(&d, NULL);
	t1 = (uint32_t)dt_in(vm, PM + VMM_ACPI_PM_TMR, 4);
	s1 = now_s();
	hz = (double)(uint32_t)(t1 - t0) / (s1 - s0);
	/* the two host-clock reads bracket the timer reads */
	assert_true(hz > VMM_ACPI_PM_TIMER_HZ * 0.97);
	assert_true(hz < VMM_ACPI_PM_TIMER_HZ * 1.0001);
	/* monotonic, and the 16-bit halves are the same counter */
	t0 = (uint32_t)dt_in(vm, PM + VMM_ACPI_PM_TMR, 4);
	t1 = (uint32_t)dt_in(vm, PM + VMM_ACPI_PM_TMR + 2, 2);
	assert_true(t1 >= (t0 >> 16) && t1 <= (t0 >> 16) + 1);
	/* read-only */
	dt_out(vm, PM + VMM_ACPI_PM_TMR, 4, 0);
	assert_true((uint32_t)dt_in(vm, PM + VMM_ACPI_PM_TMR, 4) - t0 < 3579545);
	vmm_vm_destroy(vm);
}

static void test_sleep_and_reset(void **state)
{
	vmm_vm *vm = dt_vm(NULL, 0);
	struct vmm_io_ctx ctx;
	vmm_dev *dev;

	(void)state;
	assert_int_equal(vmm_acpi_pm_attach(vm, &dev), 0);
	assert_int_equal(dt_in(vm, PM + VMM_ACPI_PM1A_CNT, 2) & 1, 1);
	/* SLP_TYP 5 without SLP_EN: kept, nothing happens */
	assert_int_equal(dt_out_ctx(vm, PM + VMM_ACPI_PM1A_CNT, 2, 5 << 10,
				    &ctx), 0);
	assert_int_equal(ctx.stop, 0);
	assert_int_equal(dt_in(vm, PM + VMM_ACPI_PM1A_CNT, 2), 5 << 10 | 1);
	/* S1 (type 1) with SLP_EN: not offered, ignored */
	assert_int_equal(dt_out_ctx(vm, PM + VMM_ACPI_PM1A_CNT, 2,
				    1 << 10 | 1 << 13, &ctx), 0);
	assert_int_equal(ctx.stop, 0);
	/* SLP_EN reads 0 */
	assert_int_equal(dt_in(vm, PM + VMM_ACPI_PM1A_CNT, 2) & (1 << 13), 0);
	/* S5 as Linux writes it: one 16-bit write */
	assert_int_equal(dt_out_ctx(vm, PM + VMM_ACPI_PM1A_CNT, 2,
				    5 << 10 | 1 << 13 | 1, &ctx), 0);
	assert_int_equal(ctx.stop, VMM_EXIT_POWEROFF);
	/* S5 as two byte writes: the high byte carries SLP_EN */
	assert_int_equal(dt_out_ctx(vm, PM + VMM_ACPI_PM1A_CNT + 1, 1,
				    (5 << 2) | (1 << 5), &ctx), 0);
	assert_int_equal(ctx.stop, VMM_EXIT_POWEROFF);
	/* reset register: only the FADT's value resets */
	assert_int_equal(dt_out_ctx(vm, PM + VMM_ACPI_RESET, 1, 1, &ctx), 0);
	assert_int_equal(ctx.stop, 0);
	assert_int_equal(dt_out_ctx(vm, PM + VMM_ACPI_RESET, 1,
				    VMM_ACPI_RESET_VALUE, &ctx), 0);
	assert_int_equal(ctx.stop, VMM_EXIT_RESET);
	/* status: WAK_STS set by the sleep, write 1 clears */
	assert_int_equal(dt_in(vm, PM + VMM_ACPI_PM1A_EVT, 2) & 0x8000, 0x8000);
	dt_out(vm, PM + VMM_ACPI_PM1A_EVT, 2, 0x8000);
	assert_int_equal(dt_in(vm, PM + VMM_ACPI_PM1A_EVT, 2), 0);
	/* enable register keeps only defined bits */
	dt_out(vm, PM + VMM_ACPI_PM1A_EVT + 2, 2, 0xffff);
	assert_int_equal(dt_in(vm, PM + VMM_ACPI_PM1A_EVT + 2, 2), 0x0521);
	/* reserved bytes: 0, writes ignored; an 8-byte access is refused
	 * by the device as 0 */
	assert_int_equal(dt_in(vm, PM + 6, 2), 0);
	assert_int_equal(dt_in(vm, PM + 13, 1), 0);
	vmm_vm_destroy(vm);
}

static void test_snapshot(void **state)
{
	vmm_vm *vm = dt_vm(NULL, 0);
	struct vmm_sbuf b;
	struct vmm_sreader r;
	vmm_dev *dev;
	uint32_t t;
	uint8_t bad[10] = { 0xff, 0xff };

	(void)state;
	assert_int_equal(vmm_acpi_pm_attach(vm, &dev), 0);
	dt_out(vm, PM + VMM_ACPI_PM1A_CNT, 2, 5 << 10);
	dt_out(vm, PM + VMM_ACPI_PM1A_EVT + 2, 2, 0x0100);
	vmm__sb_init(&b, vm);
	assert_int_equal(dev->save(dev->priv, &b), 0);
	t = (uint32_t)dt_in(vm, PM + VMM_ACPI_PM_TMR, 4);
	dt_out(vm, PM + VMM_ACPI_PM1A_CNT, 2, 0);
	dt_out(vm, PM + VMM_ACPI_PM1A_EVT + 2, 2, 0);
	vmm__sr_init(&r, b.p, b.len);
	assert_int_equal(dev->restore(dev->priv, 1, &r), 0);
	assert_int_equal(dt_in(vm, PM + VMM_ACPI_PM1A_CNT, 2), 5 << 10 | 1);
	assert_int_equal(dt_in(vm, PM + VMM_ACPI_PM1A_EVT + 2, 2), 0x0100);
	/* the timer continues from the saved value (not from 0, not from
	 * wherever the host clock is): within a second of it */
	assert_true((uint32_t)dt_in(vm, PM + VMM_ACPI_PM_TMR, 4) -
			    (t - 100000) < 4000000);
	vmm__sb_free(&b);
	/* bad state: undefined status bits, short data */
	vmm__sr_init(&r, bad, sizeof(bad));
	assert_int_equal(dev->restore(dev->priv, 1, &r), -EBADMSG);
	vmm__sr_init(&r, bad, 3);
	assert_int_equal(dev->restore(dev->priv, 1, &r), -EBADMSG);
	vmm__sr_init(&r, bad, sizeof(bad));
	assert_int_equal(dev->restore(dev->priv, 2, &r), -ENOTSUP);
	vmm_vm_destroy(vm);
}

static int attach(vmm_vm *vm, vmm_dev **out, void *arg)
{
	(void)arg;
	return vmm_acpi_pm_attach(vm, out);
}

static void test_failalloc_and_conflict(void **state)
{
	vmm_vm *vm = dt_vm(NULL, 0);
	vmm_dev *a, *b = NULL;

	(void)state;
	assert_true(dt_failalloc(attach, NULL, PM) >= 1);
	assert_int_equal(vmm_acpi_pm_attach(vm, &a), 0);
	assert_int_equal(vmm_acpi_pm_attach(vm, &b), -EEXIST);
	assert_null(b);
	assert_int_equal(vmm_dev_detach(a), 0);
	assert_false(dt_port_used(vm, PM));
	vmm_vm_destroy(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timer_rate),
		cmocka_unit_test(test_sleep_and_reset),
		cmocka_unit_test(test_snapshot),
		cmocka_unit_test(test_failalloc_and_conflict),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
