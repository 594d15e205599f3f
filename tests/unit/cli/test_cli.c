// SPDX-License-Identifier: MIT
/*
 * test_cli.c - the tools' strict argument parsers (examples/cli.c): whole
 * strings only, units, overflow refused (never wrapped), ranges, durations,
 * choices, ports.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "cli.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

static void test_u64(void **state)
{
	uint64_t v;
	unsigned u;

	(void)state;
	assert_int_equal(cli_u64("--x", "42", 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(cli_u64("--x", "0x10", 0, 100, &v), 0);
	assert_int_equal(v, 16);
	assert_int_equal(cli_u64("--x", "2x", 0, 100, &v), -1);
	assert_int_equal(cli_u64("--x", "", 0, 100, &v), -1);
	assert_int_equal(cli_u64("--x", " 3", 0, 100, &v), -1);
	assert_int_equal(cli_u64("--x", "-3", 0, 100, &v), -1);
	assert_int_equal(cli_u64("--x", "+3", 0, 100, &v), -1);
	assert_int_equal(cli_u64("--x", "junk", 0, 100, &v), -1);
	assert_int_equal(cli_u64("--x", "0x", 0, 100, &v), -1);
	assert_int_equal(cli_u64("--x", "101", 0, 100, &v), -1);
	assert_int_equal(cli_u64("--x", "99999999999999999999999", 0,
				 UINT64_MAX, &v), -1);
	assert_int_equal(cli_uint("--cpus", "0", 1, 64, &u), -1);
	assert_int_equal(cli_uint("--cpus", "65", 1, 64, &u), -1);
	assert_int_equal(cli_uint("--cpus", "64", 1, 64, &u), 0);
	assert_int_equal(u, 64);
}

static void test_size(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(cli_size("-m", "256", MiB, MiB, 64 * GiB, &v), 0);
	assert_int_equal(v, 256 * MiB);
	assert_int_equal(cli_size("-m", "2G", MiB, MiB, 64 * GiB, &v), 0);
	assert_int_equal(v, 2 * GiB);
	assert_int_equal(cli_size("-m", "1GiB", MiB, MiB, 64 * GiB, &v), 0);
	assert_int_equal(v, GiB);
	assert_int_equal(cli_size("-m", "512k", MiB, 4096, 64 * GiB, &v), 0);
	assert_int_equal(v, 512 * 1024);
	assert_int_equal(cli_size("-m", "4096B", MiB, 1, 64 * GiB, &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(cli_size("-m", "1T", MiB, 1, UINT64_MAX, &v), 0);
	assert_int_equal(v, 1ull << 40);
	/* refused: trailing junk, zero, above the limit, wrap-around */
	assert_int_equal(cli_size("-m", "12Mxyz", MiB, MiB, 64 * GiB, &v), -1);
	assert_int_equal(cli_size("-m", "12MM", MiB, MiB, 64 * GiB, &v), -1);
	assert_int_equal(cli_size("-m", "0", MiB, MiB, 64 * GiB, &v), -1);
	assert_int_equal(cli_size("-m", "1T", MiB, MiB, 64 * GiB, &v), -1);
	assert_int_equal(cli_size("-m", "17179869185G", MiB, MiB, UINT64_MAX,
				  &v), -1);
	assert_int_equal(cli_size("-m", "G", MiB, MiB, 64 * GiB, &v), -1);
	assert_int_equal(cli_size("-m", "", MiB, MiB, 64 * GiB, &v), -1);
	assert_int_equal(cli_size("-m", "1.5G", MiB, MiB, 64 * GiB, &v), -1);
}

static void test_duration(void **state)
{
	uint64_t ms;

	(void)state;
	assert_int_equal(cli_duration_ms("-t", "30", 1, UINT32_MAX, &ms), 0);
	assert_int_equal(ms, 30000);
	assert_int_equal(cli_duration_ms("-t", "1.5s", 1, UINT32_MAX, &ms), 0);
	assert_int_equal(ms, 1500);
	assert_int_equal(cli_duration_ms("-t", "250ms", 1, UINT32_MAX, &ms), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(cli_duration_ms("-t", "2m", 1, UINT32_MAX, &ms), 0);
	assert_int_equal(ms, 120000);
	assert_int_equal(cli_duration_ms("-t", "1h", 1, UINT32_MAX, &ms), 0);
	assert_int_equal(ms, 3600000);
	assert_int_equal(cli_duration_ms("-t", "0.001", 1, UINT32_MAX, &ms), 0);
	assert_int_equal(ms, 1);
	assert_int_equal(cli_duration_ms("-t", "abc", 1, UINT32_MAX, &ms), -1);
	assert_int_equal(cli_duration_ms("-t", "0", 1, UINT32_MAX, &ms), -1);
	assert_int_equal(cli_duration_ms("-t", "1.", 1, UINT32_MAX, &ms), -1);
	assert_int_equal(cli_duration_ms("-t", "1.2345", 1, UINT32_MAX, &ms),
			 -1);
	assert_int_equal(cli_duration_ms("-t", "99999999999", 1, INT32_MAX,
					 &ms), -1);
	assert_int_equal(cli_duration_ms("-t", "99999999999999999999999h", 1,
					 UINT64_MAX, &ms), -1);
	assert_int_equal(cli_duration_ms("-t", "5x", 1, UINT32_MAX, &ms), -1);
}

static void test_choice_port(void **state)
{
	static const char *const names[] = { "pci", "mmio", NULL };
	uint16_t port;
	int i = -1;

	(void)state;
	assert_int_equal(cli_choice("--transport", "mmio", names, &i), 0);
	assert_int_equal(i, 1);
	assert_int_equal(cli_choice("--transport", "MMIO", names, &i), -1);
	assert_int_equal(cli_choice("--transport", "", names, &i), -1);
	assert_int_equal(cli_port("--gdb", "1234", &port), 0);
	assert_int_equal(port, 1234);
	assert_int_equal(cli_port("--gdb", "99999", &port), -1);
	assert_int_equal(cli_port("--gdb", "0", &port), -1);
	assert_int_equal(cli_port("--gdb", "12a", &port), -1);
}

static void test_format_size(void **state)
{
	char b[32];

	(void)state;
	assert_string_equal(cli_format_size(256 * MiB, b, sizeof(b)), "256 MiB");
	assert_string_equal(cli_format_size(4097, b, sizeof(b)), "4097 bytes");
	assert_string_equal(cli_format_size(3 * GiB, b, sizeof(b)), "3 GiB");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_u64),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_choice_port),
		cmocka_unit_test(test_format_size),
	};
	cli_set_prog("test_cli");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
