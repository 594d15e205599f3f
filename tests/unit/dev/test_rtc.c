// SPDX-License-Identifier: MIT
/*
 * test_rtc.c - the CMOS RTC: host UTC time in BCD and binary, 24 and 12
 * hour modes, setting the clock with B.SET, status registers A-D, NMI bit
 * masking in the index port, the memory-size bytes for several RAM layouts,
 * scratch CMOS RAM, 16-bit index+data writes, allocation failures.
 */
#include "dev_test.h"

#include <time.h>

#define GiB (1024ull * 1024 * 1024)
#define MiB (1024ull * 1024)

static uint8_t cmos_rd(vmm_vm *vm, uint8_t idx)
{
	dt_out(vm, 0x70, 1, idx);
	return (uint8_t)dt_in(vm, 0x71, 1);
}

static void cmos_wr(vmm_vm *vm, uint8_t idx, uint8_t v)
{
	dt_out(vm, 0x70, 1, idx);
	dt_out(vm, 0x71, 1, v);
}

static int bcd(int v)
{
	return (v / 10) << 4 | (v % 10);
}

static vmm_vm *rtc_vm(uint64_t ram)
{
	vmm_vm *vm = dt_vm(NULL, ram);
	vmm_dev *dev = NULL;

	assert_int_equal(vmm_rtc_attach(vm, &dev), 0);
	assert_string_equal(vmm_dev_name(dev), "rtc");
	return vm;
}

/* the host's UTC seconds from the clock the RTC reads (time() may be the
 * coarse clock, a tick behind CLOCK_REALTIME at a second boundary) */
static time_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

/* Compare the clock with the host's UTC, retrying over a second tick. */
static void check_time(vmm_vm *vm, bool binary, bool h24)
{
	for (int tries = 0; tries < 5; tries++) {
		time_t t0 = now_s(), t1;
		uint8_t r[10], cent;
		struct tm tm;
		int hour;

		for (int i = 0; i < 10; i++)
			r[i] = cmos_rd(vm, (uint8_t)i);
		cent = cmos_rd(vm, 0x32);
		t1 = now_s();
		if (t0 != t1)
			continue;
		gmtime_r(&t0, &tm);
#define ENC(v) (binary ? (v) : bcd(v))
		assert_int_equal(r[0], ENC(tm.tm_sec));
		assert_int_equal(r[2], ENC(tm.tm_min));
		if (h24) {
			assert_int_equal(r[4], ENC(tm.tm_hour));
		} else {
			hour = tm.tm_hour % 12 ? tm.tm_hour % 12 : 12;
			assert_int_equal(r[4], ENC(hour) |
					 (tm.tm_hour >= 12 ? 0x80 : 0));
		}
		assert_int_equal(r[6], ENC(tm.tm_wday + 1));
		assert_int_equal(r[7], ENC(tm.tm_mday));
		assert_int_equal(r[8], ENC(tm.tm_mon + 1));
		assert_int_equal(r[9], ENC((tm.tm_year + 1900) % 100));
		assert_int_equal(cent, ENC((tm.tm_year + 1900) / 100));
#undef ENC
		return;
	}
	fail_msg("clock kept ticking");
}

static void test_host_time_modes(void **state)
{
	vmm_vm *vm = rtc_vm(0);

	assert_int_equal(cmos_rd(vm, 0x0b), 0x02); /* BCD, 24 h */
	check_time(vm, false, true);
	cmos_wr(vm, 0x0b, 0x06);
	check_time(vm, true, true);
	cmos_wr(vm, 0x0b, 0x04);
	check_time(vm, true, false);
	cmos_wr(vm, 0x0b, 0x00);
	check_time(vm, false, false);
	vmm_vm_destroy(vm);
}

static void test_set_time(void **state)
{
	vmm_vm *vm = rtc_vm(0);
	uint8_t sec;

	cmos_wr(vm, 0x0b, 0x82 | 0x10); /* SET (clears UIE), BCD, 24 h */
	assert_int_equal(cmos_rd(vm, 0x0b), 0x82);
	cmos_wr(vm, 0x00, 0x30);
	cmos_wr(vm, 0x02, 0x45);
	cmos_wr(vm, 0x04, 0x13);
	cmos_wr(vm, 0x07, 0x15);
	cmos_wr(vm, 0x08, 0x06);
	cmos_wr(vm, 0x32, 0x19);
	cmos_wr(vm, 0x09, 0x99);
	/* frozen while SET */
	assert_int_equal(cmos_rd(vm, 0x00), 0x30);
	assert_int_equal(cmos_rd(vm, 0x09), 0x99);
	assert_int_equal(cmos_rd(vm, 0x32), 0x19);
	cmos_wr(vm, 0x0b, 0x02); /* run */
	sec = cmos_rd(vm, 0x00);
	assert_true(sec == 0x30 || sec == 0x31);
	assert_int_equal(cmos_rd(vm, 0x02), 0x45);
	assert_int_equal(cmos_rd(vm, 0x04), 0x13);
	assert_int_equal(cmos_rd(vm, 0x06), 3); /* 1999-06-15: Tuesday */
	assert_int_equal(cmos_rd(vm, 0x07), 0x15);
	assert_int_equal(cmos_rd(vm, 0x08), 0x06);
	assert_int_equal(cmos_rd(vm, 0x09), 0x99);
	assert_int_equal(cmos_rd(vm, 0x32), 0x19);
	/* binary view of the same clock */
	cmos_wr(vm, 0x0b, 0x06);
	assert_int_equal(cmos_rd(vm, 0x09), 99);
	assert_int_equal(cmos_rd(vm, 0x32), 19);
	/* 12 h BCD write: 1 PM -> 13:xx */
	cmos_wr(vm, 0x0b, 0x80);
	cmos_wr(vm, 0x04, 0x81);
	assert_int_equal(cmos_rd(vm, 0x04), 0x81);
	cmos_wr(vm, 0x0b, 0x02);
	assert_int_equal(cmos_rd(vm, 0x04), 0x13);
	/* 12 AM is hour 0 */
	cmos_wr(vm, 0x0b, 0x00);
	cmos_wr(vm, 0x04, 0x12);
	cmos_wr(vm, 0x0b, 0x02);
	assert_int_equal(cmos_rd(vm, 0x04), 0x00);
	/* writes while running take effect at once; garbage is normalised */
	cmos_wr(vm, 0x09, 0x05);
	assert_int_equal(cmos_rd(vm, 0x09), 0x05);
	assert_int_equal(cmos_rd(vm, 0x32), 0x19);
	cmos_wr(vm, 0x08, 0xff);
	(void)cmos_rd(vm, 0x08);
	cmos_wr(vm, 0x06, 0x07); /* day of week follows the date */
	vmm_vm_destroy(vm);
}

static void test_status_regs_and_nmi(void **state)
{
	vmm_vm *vm = rtc_vm(0);

	assert_int_equal(cmos_rd(vm, 0x0a), 0x26);
	cmos_wr(vm, 0x0a, 0xa5);
	assert_int_equal(cmos_rd(vm, 0x0a), 0x25); /* UIP reads 0 */
	assert_int_equal(cmos_rd(vm, 0x0c), 0x00);
	cmos_wr(vm, 0x0c, 0xff);
	assert_int_equal(cmos_rd(vm, 0x0c), 0x00); /* read-only */
	assert_int_equal(cmos_rd(vm, 0x0d), 0x80);
	cmos_wr(vm, 0x0d, 0x00);
	assert_int_equal(cmos_rd(vm, 0x0d), 0x80);

	/* NMI bit is not part of the index */
	cmos_wr(vm, 0x80 | 0x0e, 0x5a);
	assert_int_equal(cmos_rd(vm, 0x0e), 0x5a);
	assert_int_equal(cmos_rd(vm, 0x80 | 0x0e), 0x5a);
	assert_int_equal(cmos_rd(vm, 0x80 | 0x0b), 0x02);
	assert_int_equal(cmos_rd(vm, 0xff), cmos_rd(vm, 0x7f));
	/* the index port reads all ones */
	assert_int_equal(dt_in(vm, 0x70, 1), 0xff);
	/* scratch RAM: every non-clock byte holds what was written */
	for (unsigned i = 0x0e; i < 0x80; i++)
		if (i != 0x32)
			cmos_wr(vm, (uint8_t)i, (uint8_t)(i * 3));
	for (unsigned i = 0x0e; i < 0x80; i++)
		if (i != 0x32)
			assert_int_equal(cmos_rd(vm, (uint8_t)i),
					 (uint8_t)(i * 3));
	/* outw 0x70: index in AL, data in AH */
	dt_out(vm, 0x70, 2, 0x7710);
	assert_int_equal(cmos_rd(vm, 0x10), 0x77);
	assert_int_equal(dt_in(vm, 0x70, 2), 0x77ff);
	vmm_vm_destroy(vm);
}

struct mem_expect {
	uint64_t ram;
	uint16_t base, ext, above16;
	uint32_t above4g;
};

static void check_mem(const struct mem_expect *e)
{
	vmm_vm *vm = rtc_vm(e->ram);

	assert_int_equal(cmos_rd(vm, 0x15) | cmos_rd(vm, 0x16) << 8, e->base);
	assert_int_equal(cmos_rd(vm, 0x17) | cmos_rd(vm, 0x18) << 8, e->ext);
	assert_int_equal(cmos_rd(vm, 0x30) | cmos_rd(vm, 0x31) << 8, e->ext);
	assert_int_equal(cmos_rd(vm, 0x34) | cmos_rd(vm, 0x35) << 8,
			 e->above16);
	assert_int_equal(cmos_rd(vm, 0x5b) | cmos_rd(vm, 0x5c) << 8 |
				 cmos_rd(vm, 0x5d) << 16,
			 e->above4g);
	/* CMOS RAM: the guest may overwrite them */
	cmos_wr(vm, 0x34, 0x12);
	assert_int_equal(cmos_rd(vm, 0x34), 0x12);
	assert_int_equal(cmos_rd(vm, 0x35), e->above16 >> 8);
	vmm_vm_destroy(vm);
}

static void test_memory_bytes(void **state)
{
	static const struct mem_expect cases[] = {
		{ 0, 0, 0, 0, 0 },
		{ 32 * MiB, 640, 31 * 1024, 256, 0 },
		{ 64 * MiB + 1 * MiB, 640, 0xffff, (49 * MiB) >> 16, 0 },
		{ 512 * MiB, 640, 0xffff, (496 * MiB) >> 16, 0 },
		/* 3.5 GiB: 3 GiB below the hole, 0.5 GiB from 4 GiB */
		{ 3 * GiB + 512 * MiB, 640, 0xffff, 0xbf00, 0x2000 },
		/* 6 GiB: 3 GiB + 3 GiB */
		{ 6 * GiB, 640, 0xffff, 0xbf00, 0xc000 },
	};

	for (size_t i = 0; i < VMM_ARRAY_SIZE(cases); i++)
		check_mem(&cases[i]);
}

static void test_hostile_and_args(void **state)
{
	vmm_vm *vm = rtc_vm(0);
	vmm_dev *d2 = NULL;
	struct vmm_io_ctx ctx;
	uint8_t b[8];

	assert_int_equal(vmm_rtc_attach(NULL, &d2), -EINVAL);
	assert_int_equal(vmm_rtc_attach(vm, NULL), -EINVAL);
	assert_int_equal(vmm_rtc_attach(vm, &d2), -EEXIST);
	assert_null(d2);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0x70, b, 4, false),
			 -EFAULT);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0x71, b, 2, true),
			 -EFAULT);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0x72, b, 1, false),
			 -ENOENT);
	/* a 3-byte access through the dispatcher is refused by the bus end */
	assert_int_equal(dt_out_ctx(vm, 0x70, 3, 0, &ctx), -EFAULT);
	vmm_vm_destroy(vm);
}

static int attach_fa(vmm_vm *vm, vmm_dev **out, void *arg)
{
	return vmm_rtc_attach(vm, out);
}

static void test_alloc_failures(void **state)
{
	assert_true(dt_failalloc(attach_fa, NULL, 0x70) >= 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_time_modes),
		cmocka_unit_test(test_set_time),
		cmocka_unit_test(test_status_regs_and_nmi),
		cmocka_unit_test(test_memory_bytes),
		cmocka_unit_test(test_hostile_and_args),
		cmocka_unit_test(test_alloc_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
