/* SPDX-License-Identifier: MIT */
/*
 * test_decode.c - the software backend's x86 decoder on its own: lengths,
 * operand and address sizes under every prefix combination, REX and byte
 * registers, ModRM/SIB/displacement forms (16-bit, 32-bit, RIP-relative),
 * immediates, the 15-byte limit and truncated input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "cpu/soft/soft.h"

struct dcase {
	unsigned csz;       /* 2, 4, 8 */
	const char *bytes;
	unsigned n;
	int ret;            /* 0, SOFT_DEC_GP, SOFT_DEC_MORE */
	unsigned len;
	unsigned osz, asz;  /* 0 = do not check */
	int base;           /* -1 = do not check */
	int64_t disp;
	uint64_t imm;
	bool ud;            /* decodes to #UD */
};

#define B(s) s, sizeof(s) - 1
#define NB -1

static const struct dcase cases[] = {
	/* 64-bit mode */
	{ 8, B("\x90"), 0, 1, 4, 8, NB, 0, 0, false },
	{ 8, B("\x48\x89\xd8"), 0, 3, 8, 8, NB, 0, 0, false },
	{ 8, B("\x89\xd8"), 0, 2, 4, 8, NB, 0, 0, false },
	{ 8, B("\x66\x89\xd8"), 0, 3, 2, 8, NB, 0, 0, false },
	{ 8, B("\x66\x48\x89\xd8"), 0, 4, 8, 8, NB, 0, 0, false }, /* REX.W wins */
	{ 8, B("\x48\x66\x89\xd8"), 0, 4, 2, 8, NB, 0, 0, false }, /* REX not last */
	{ 8, B("\x67\x8b\x00"), 0, 3, 4, 4, VMM_RAX, 0, 0, false },
	{ 8, B("\x48\x8b\x05\x78\x56\x34\x12"), 0, 7, 8, 8, SOFT_RIPREL,
	  0x12345678, 0, false },
	{ 8, B("\x8b\x04\x25\x00\x10\x00\x00"), 0, 7, 4, 8, SOFT_NOREG, 0x1000,
	  0, false },
	{ 8, B("\x41\x8b\x44\x24\xf8"), 0, 5, 4, 8, VMM_R12, -8, 0, false },
	{ 8, B("\x4a\x8b\x04\xe5\x00\x00\x00\x00"), 0, 8, 8, 8, SOFT_NOREG, 0, 0,
	  false },
	{ 8, B("\x41\x8b\x45\x00"), 0, 4, 4, 8, VMM_R13, 0, 0, false },
	{ 8, B("\x48\xb8\x88\x77\x66\x55\x44\x33\x22\x11"), 0, 10, 8, 8, NB, 0,
	  0x1122334455667788ull, false },
	{ 8, B("\xb8\x78\x56\x34\x12"), 0, 5, 4, 8, NB, 0, 0x12345678, false },
	{ 8, B("\x66\xb8\x34\x12"), 0, 4, 2, 8, NB, 0, 0x1234, false },
	{ 8, B("\x48\xc7\xc0\xff\xff\xff\xff"), 0, 7, 8, 8, NB, 0, ~0ull, false },
	{ 8, B("\xe8\x00\x00\x00\x00"), 0, 5, 8, 8, NB, 0, 0, false },
	{ 8, B("\x66\xe8\x10\x00\x00\x00"), 0, 6, 8, 8, NB, 0, 0x10, false },
	{ 8, B("\x0f\x84\xfa\xff\xff\xff"), 0, 6, 8, 8, NB, 0, (uint64_t)-6,
	  false },
	{ 8, B("\x75\xfe"), 0, 2, 8, 8, NB, 0, (uint64_t)-2, false },
	{ 8, B("\xc7\x84\x24\x00\x01\x00\x00\x78\x56\x34\x12"), 0, 11, 4, 8,
	  VMM_RSP, 0x100, 0x12345678, false },
	{ 8, B("\x0f\x1f\x84\x00\x00\x00\x00\x00"), 0, 8, 4, 8, VMM_RAX, 0, 0,
	  false },
	{ 8, B("\x66\x2e\x0f\x1f\x84\x00\x00\x00\x00\x00"), 0, 10, 2, 8, NB, 0,
	  0, false },
	{ 8, B("\xf6\xc3\x01"), 0, 3, 1, 8, NB, 0, 1, false },
	{ 8, B("\xf7\xc3\x01\x00\x00\x00"), 0, 6, 4, 8, NB, 0, 1, false },
	{ 8, B("\x66\xf7\xc3\x01\x00"), 0, 5, 2, 8, NB, 0, 1, false },
	{ 8, B("\xf7\xd3"), 0, 2, 4, 8, NB, 0, 0, false },
	{ 8, B("\xc8\x10\x00\x02"), 0, 4, 8, 8, NB, 0, 0x10, false },
	{ 8, B("\xa1\x88\x77\x66\x55\x44\x33\x22\x11"), 0, 9, 4, 8, NB,
	  0x1122334455667788ll, 0, false },
	{ 8, B("\x67\xa1\x44\x33\x22\x11"), 0, 6, 4, 4, NB, 0x11223344, 0, false },
	{ 8, B("\xf3\x48\xa5"), 0, 3, 8, 8, NB, 0, 0, false },
	{ 8, B("\xf0\x48\x0f\xb1\x0b"), 0, 5, 8, 8, VMM_RBX, 0, 0, false },
	{ 8, B("\x48\x0f\xba\xe8\x05"), 0, 5, 8, 8, NB, 0, 5, false },
	{ 8, B("\x66\x0f\x6f\x05\x00\x01\x00\x00"), 0, 8, 4, 8, SOFT_RIPREL,
	  0x100, 0, false }, /* 66 selects the SSE form, not 16-bit */
	{ 8, B("\x66\x0f\x70\xc1\x1b"), 0, 5, 0, 8, NB, 0, 0x1b,
	  false },
	{ 8, B("\x50"), 0, 1, 8, 8, NB, 0, 0, false },
	{ 8, B("\x66\x50"), 0, 2, 2, 8, NB, 0, 0, false },
	{ 8, B("\x41\x5f"), 0, 2, 8, 8, NB, 0, 0, false },
	{ 8, B("\xff\xd0"), 0, 2, 8, 8, NB, 0, 0, false },   /* call rax */
	{ 8, B("\xff\x25\x00\x00\x00\x00"), 0, 6, 8, 8, SOFT_RIPREL, 0, 0,
	  false },
	{ 8, B("\x06"), 0, 1, 0, 0, NB, 0, 0, true },       /* push es */
	{ 8, B("\xc5\xf8\x77"), 0, 1, 0, 0, NB, 0, 0, true }, /* VEX */
	/* 32-bit mode */
	{ 4, B("\x8b\x05\x00\x10\x00\x00"), 0, 6, 4, 4, SOFT_NOREG, 0x1000, 0,
	  false }, /* no RIP-relative outside 64-bit */
	{ 4, B("\x66\x8b\x45\x08"), 0, 4, 2, 4, VMM_RBP, 8, 0, false },
	{ 4, B("\x67\x8b\x46\x02"), 0, 4, 4, 2, VMM_RBP, 2, 0, false },
	{ 4, B("\x40"), 0, 1, 4, 4, NB, 0, 0, false },  /* inc eax, not REX */
	{ 4, B("\x48\x89\xd8"), 0, 1, 4, 4, NB, 0, 0, false }, /* dec eax */
	{ 4, B("\xea\x00\x10\x00\x00\x08\x00"), 0, 7, 4, 4, NB, 0, 0x1000,
	  false },
	{ 4, B("\x66\xea\x00\x10\x08\x00"), 0, 6, 2, 4, NB, 0, 0x1000, false },
	{ 4, B("\x68\x78\x56\x34\x12"), 0, 5, 4, 4, NB, 0, 0x12345678, false },
	{ 4, B("\x6a\xff"), 0, 2, 4, 4, NB, 0, ~0ull, false },
	/* 16-bit mode */
	{ 2, B("\x8b\x46\x02"), 0, 3, 2, 2, VMM_RBP, 2, 0, false },
	{ 2, B("\x8b\x87\x34\x12"), 0, 4, 2, 2, VMM_RBX, 0x1234, 0, false },
	{ 2, B("\x8b\x06\x34\x12"), 0, 4, 2, 2, SOFT_NOREG, 0x1234, 0, false },
	{ 2, B("\x66\xb8\x78\x56\x34\x12"), 0, 6, 4, 2, NB, 0, 0x12345678,
	  false },
	{ 2, B("\x67\x8b\x04\x24"), 0, 4, 2, 4, VMM_RSP, 0, 0, false },
	{ 2, B("\xe8\xfd\xff"), 0, 3, 2, 2, NB, 0, (uint64_t)-3, false },
	{ 2, B("\xea\x00\x7c\x00\x00"), 0, 5, 2, 2, NB, 0, 0x7c00, false },
	/* limits */
	{ 8, B("\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x90"),
	  0, 15, 2, 8, NB, 0, 0, false },
	{ 8, B("\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x90"),
	  SOFT_DEC_GP, 0, 0, 0, NB, 0, 0, false },
	{ 8, B("\xf0\xf0\xf0\xf0\xf0\xf0\xf0\x48\xc7\x84\x24\x00\x01\x00\x00\x01\x00\x00\x00"),
	  SOFT_DEC_GP, 0, 0, 0, NB, 0, 0, false },
	{ 8, B("\x48\xb8\x01\x02\x03"), SOFT_DEC_MORE, 0, 0, 0, NB, 0, 0, false },
	{ 8, B("\x0f"), SOFT_DEC_MORE, 0, 0, 0, NB, 0, 0, false },
};

static void test_cases(void **state)
{
	for (unsigned k = 0; k < VMM_ARRAY_SIZE(cases); k++) {
		const struct dcase *d = &cases[k];
		struct soft_insn in;
		bool end;
		int r = soft_decode((const uint8_t *)d->bytes, d->n, d->csz, &in,
				    &end);

		if (r != d->ret)
			fail_msg("case %u: returned %d, want %d", k, r, d->ret);
		if (r)
			continue;
		if (d->ud) {
			if (in.fn != soft_op_ud)
				fail_msg("case %u: not #UD", k);
			continue;
		}
		if (in.fn == soft_op_ud)
			fail_msg("case %u: decoded as #UD", k);
		if (in.len != d->len)
			fail_msg("case %u: length %u, want %u", k, in.len, d->len);
		if (d->osz && in.osz != d->osz)
			fail_msg("case %u: osz %u, want %u", k, in.osz, d->osz);
		if (d->asz && in.asz != d->asz)
			fail_msg("case %u: asz %u, want %u", k, in.asz, d->asz);
		if (d->base != NB) {
			if (in.base != d->base)
				fail_msg("case %u: base %u, want %d", k, in.base,
					 d->base);
			if (in.disp != d->disp)
				fail_msg("case %u: disp %lld, want %lld", k,
					 (long long)in.disp, (long long)d->disp);
		}
		if (d->imm && in.imm != d->imm && (int64_t)in.disp != (int64_t)d->imm)
			fail_msg("case %u: imm 0x%llx, want 0x%llx", k,
				 (unsigned long long)in.imm,
				 (unsigned long long)d->imm);
	}
}

/* byte registers: AH..BH without REX, SPL..DIL with it */
static void test_byte_regs(void **state)
{
	struct soft_insn in;
	bool end;

	assert_int_equal(soft_decode((const uint8_t *)"\x88\xe6", 2, 8, &in,
				     &end), 0);
	assert_int_equal(in.rm8, 16 + 2); /* DH */
	assert_int_equal(in.reg8, 16 + 0); /* AH */
	assert_int_equal(soft_decode((const uint8_t *)"\x40\x88\xe6", 3, 8, &in,
				     &end), 0);
	assert_int_equal(in.rm8, VMM_RSI); /* SIL */
	assert_int_equal(in.reg8, VMM_RSP); /* SPL */
	assert_int_equal(soft_decode((const uint8_t *)"\x45\x88\xc8", 3, 8, &in,
				     &end), 0);
	assert_int_equal(in.rm8, VMM_R8);
	assert_int_equal(in.reg8, VMM_R9);
}

/* segment defaults and overrides, prefixes recorded */
static void test_prefixes(void **state)
{
	struct soft_insn in;
	bool end;

	assert_int_equal(soft_decode((const uint8_t *)"\x8b\x45\x00", 3, 4, &in,
				     &end), 0);
	assert_int_equal(in.seg, VMM_SS);
	assert_int_equal(soft_decode((const uint8_t *)"\x3e\x8b\x45\x00", 4, 4,
				     &in, &end), 0);
	assert_int_equal(in.seg, VMM_DS);
	assert_int_equal(soft_decode((const uint8_t *)"\x64\x48\x8b\x04\x25\x28\x00\x00\x00",
				     9, 8, &in, &end), 0);
	assert_int_equal(in.seg, VMM_FS);
	assert_int_equal(in.len, 9);
	assert_int_equal(soft_decode((const uint8_t *)"\xf2\xf3\xa6", 3, 4, &in,
				     &end), 0);
	assert_true(in.pfx & PFX_REP);   /* the last of F2/F3 wins */
	assert_false(in.pfx & PFX_REPNE);
	assert_int_equal(soft_decode((const uint8_t *)"\xf0\x0f\xc1\x03", 4, 4,
				     &in, &end), 0);
	assert_true(in.pfx & PFX_LOCK);
	/* block ends after branches, not after plain instructions */
	assert_int_equal(soft_decode((const uint8_t *)"\x74\x00", 2, 8, &in,
				     &end), 0);
	assert_true(end);
	assert_int_equal(soft_decode((const uint8_t *)"\x01\xc0", 2, 8, &in,
				     &end), 0);
	assert_false(end);
}

/* every byte string of length <= 15 decodes to something or an error,
 * never beyond its input */
static void test_no_overrun(void **state)
{
	uint8_t buf[15];
	uint64_t x = 88172645463325252ull;

	for (unsigned it = 0; it < 200000; it++) {
		struct soft_insn in;
		bool end;
		unsigned n;
		for (unsigned k = 0; k < sizeof(buf); k++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			buf[k] = (uint8_t)x;
		}
		n = 1 + (unsigned)(x % 15);
		for (unsigned csz = 2; csz <= 8; csz *= 2) {
			int r = soft_decode(buf, n, csz, &in, &end);
			if (r == 0)
				assert_true(in.len >= 1 && in.len <= n);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_byte_regs),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_no_overrun),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
