/* SPDX-License-Identifier: MIT */
/*
 * test_mmx.c - MMX on the software backend (fpu.c, "MMX").
 *
 * 1. Architecture: MM registers alias the x87 mantissas (an MMX
 *    instruction sets TOP to 0, so MMi = R(i) = ST((i - TOP) & 7) before
 *    it, and tags every register valid); a write sets bits 64-79 to all
 *    ones; EMMS tags all empty (and sets TOP to 0, as the CPU does);
 *    CR0.EM #UD, CR0.TS #NM, a pending unmasked x87 exception #MF (CR0.NE
 *    set); PUNPCKLBW reads only 4 bytes of memory; MASKMOVQ; the
 *    XMM-only forms (0F 6C) #UD.  Before MMX was emulated each of these
 *    stopped the vCPU with reason EMULATION, "not emulated".
 * 2. The host CPU as the oracle: each MMX form on mm1/mm2/rax runs from
 *    the same random inputs on the software backend and natively in this
 *    process; MM1, MM2 and RAX must match.
 */
#include "soft_test.h"

#include <sys/mman.h>

static struct tvm T;

static int setup(void **state)
{
	tvm_create(&T, 0);
	return 0;
}

static int teardown(void **state)
{
	tvm_destroy(&T);
	return 0;
}

static uint64_t mant(const uint8_t *st)
{
	uint64_t v;

	memcpy(&v, st, 8);
	return v;
}

static void set_mm(struct vmm_cpu_state *st, unsigned r, uint64_t v)
{
	memset(st->fpu.st[r], 0, 16);
	memcpy(st->fpu.st[r], &v, 8);
	st->fpu.st[r][8] = 0xff;
	st->fpu.st[r][9] = 0xff;
}

/* run @code (+HLT) at CPL0, 64-bit, from T.st as prepared by @prep */
static struct vmm_exit run(const char *code, size_t len,
			   void (*prep)(struct vmm_cpu_state *))
{
	uint8_t buf[64];

	memcpy(buf, code, len);
	buf[len] = 0xf4;
	tvm_setup(&T, ENV_LONG64, 0, buf, len + 1);
	T.st.fpu.fcw = 0x37f;
	T.st.fpu.fsw = 0;
	T.st.fpu.ftw = 0;
	if (prep)
		prep(&T.st);
	tvm_set(&T);
	return tvm_run(&T);
}

#define RUN(code, prep) run(code, sizeof(code) - 1, prep)

static void expect_vector(struct vmm_exit e, int vec)
{
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(env_vector_of(T.st.rip), vec);
}

static void prep_top5(struct vmm_cpu_state *st)
{
	st->fpu.fsw = 5 << 11;
	st->fpu.ftw = 0x21;
	for (unsigned k = 0; k < 8; k++) {
		memset(st->fpu.st[k], 0, 16);
		for (unsigned b = 0; b < 10; b++)
			st->fpu.st[k][b] = (uint8_t)(0x10 * k + b);
	}
}

static void prep_em(struct vmm_cpu_state *st)
{
	st->cr0 |= VMM_CR0_EM;
}

static void prep_ts(struct vmm_cpu_state *st)
{
	st->cr0 |= VMM_CR0_TS;
}

static void prep_pending(struct vmm_cpu_state *st)
{
	st->cr0 |= VMM_CR0_NE;
	st->fpu.fcw = 0x37e;    /* IE unmasked */
	st->fpu.fsw = 0x8081;   /* IE, ES, B */
}

static void prep_mem(struct vmm_cpu_state *st)
{
	set_mm(st, 1, 0x1122334455667788ull);
	st->gpr[VMM_RAX] = ENV_DATA + 0x1000 - 4; /* last 4 bytes of a page */
}

static void prep_mask(struct vmm_cpu_state *st)
{
	set_mm(st, 1, 0x8877665544332211ull);   /* data */
	set_mm(st, 2, 0x8000800000008080ull);   /* mask: bytes 0 1 5 7 */
	st->gpr[VMM_RDI] = ENV_DATA;
}

static void test_arch(void **state)
{
	uint8_t before[8][16], m[8];
	struct vmm_exit e;

	/* aliasing: MOVQ rax, mm3 with TOP = 5 reads R3 = ST(6); then TOP
	 * is 0 (the registers rotated into place) and every tag valid */
	prep_top5(&T.st);
	memcpy(before, T.st.fpu.st, sizeof(before));
	e = RUN("\x48\x0f\x7e\xd8", prep_top5);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(T.st.rip, ENV_CODE + 5);
	assert_int_equal(T.st.gpr[VMM_RAX], mant(before[6]));
	assert_int_equal((T.st.fpu.fsw >> 11) & 7, 0);
	assert_int_equal(T.st.fpu.ftw, 0xff);
	for (unsigned k = 0; k < 8; k++)
		assert_memory_equal(T.st.fpu.st[k], before[(k - 5) & 7], 10);

	/* a write: MOVD mm2, eax sets the mantissa (zero-extended) and
	 * bits 64-79 to ones */
	e = RUN("\xb8\x78\x56\x34\x12\x0f\x6e\xd0", NULL);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(mant(T.st.fpu.st[2]), 0x12345678);
	assert_int_equal(T.st.fpu.st[2][8], 0xff);
	assert_int_equal(T.st.fpu.st[2][9], 0xff);
	assert_int_equal(T.st.fpu.ftw, 0xff);

	/* EMMS: all tags empty, TOP 0 */
	e = RUN("\x0f\x77", prep_top5);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(T.st.fpu.ftw, 0);
	assert_int_equal((T.st.fpu.fsw >> 11) & 7, 0);

	/* checks: EM #UD, TS #NM, pending x87 exception #MF; state kept */
	expect_vector(RUN("\x0f\xfe\xca", prep_em), 6);
	expect_vector(RUN("\x0f\xfe\xca", prep_ts), 7);
	expect_vector(RUN("\x0f\x77", prep_ts), 7);
	expect_vector(RUN("\x0f\xef\xca", prep_pending), 16);
	assert_int_equal(T.st.fpu.ftw, 0);
	/* an XMM-only form without 66: #UD */
	expect_vector(RUN("\x0f\x6c\xca", NULL), 6);
	expect_vector(RUN("\x0f\xd6\xca", NULL), 6);

	/* PUNPCKLBW mm1, [rax] (m32): the 4 bytes interleave with MM1's
	 * low 4 */
	{
		uint32_t v = 0xddccbbaa;
		assert_int_equal(vmm_mem_write(T.vm, ENV_DATA + 0x1000 - 4, &v, 4), 0);
	}
	e = RUN("\x0f\x60\x08", prep_mem);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(mant(T.st.fpu.st[1]), 0xdd55cc66bb77aa88ull);

	/* MASKMOVQ mm1, mm2: bytes 0, 1, 5, 7 to [rdi] */
	memset(m, 0xee, sizeof(m));
	assert_int_equal(vmm_mem_write(T.vm, ENV_DATA, m, 8), 0);
	e = RUN("\x0f\xf7\xca", prep_mask);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(vmm_mem_read(T.vm, ENV_DATA, m, 8), 0);
	assert_memory_equal(m, "\x11\x22\xee\xee\xee\x66\xee\x88", 8);
}

/* ---- the host CPU as the oracle ---- */

struct io {
	uint64_t m1, m2, rax;
};

/* rdi = struct io: load mm1, mm2, rax; the instruction; store; EMMS */
static const uint8_t pro[] = {
	0x0f, 0x6f, 0x0f,             /* movq mm1, [rdi] */
	0x0f, 0x6f, 0x57, 0x08,       /* movq mm2, [rdi+8] */
	0x48, 0x8b, 0x47, 0x10,       /* mov rax, [rdi+16] */
};
static const uint8_t epi[] = {
	0x0f, 0x7f, 0x0f,             /* movq [rdi], mm1 */
	0x0f, 0x7f, 0x57, 0x08,       /* movq [rdi+8], mm2 */
	0x48, 0x89, 0x47, 0x10,       /* mov [rdi+16], rax */
	0x0f, 0x77,                   /* emms */
	0xc3,
};

struct form {
	const char *name;
	const char *code;
	size_t len;
};

#define F(n, c) { n, c, sizeof(c) - 1 }
static const struct form forms[] = {
	F("punpcklbw", "\x0f\x60\xca"), F("punpcklwd", "\x0f\x61\xca"),
	F("punpckldq", "\x0f\x62\xca"), F("packsswb", "\x0f\x63\xca"),
	F("pcmpgtb", "\x0f\x64\xca"), F("pcmpgtw", "\x0f\x65\xca"),
	F("pcmpgtd", "\x0f\x66\xca"), F("packuswb", "\x0f\x67\xca"),
	F("punpckhbw", "\x0f\x68\xca"), F("punpckhwd", "\x0f\x69\xca"),
	F("punpckhdq", "\x0f\x6a\xca"), F("packssdw", "\x0f\x6b\xca"),
	F("movd mm1, eax", "\x0f\x6e\xc8"), F("movq mm1, rax", "\x48\x0f\x6e\xc8"),
	F("movq mm1, mm2", "\x0f\x6f\xca"), F("pshufw", "\x0f\x70\xca\x1b"),
	F("psrlw 3", "\x0f\x71\xd1\x03"), F("psraw 9", "\x0f\x71\xe1\x09"),
	F("psllw 17", "\x0f\x71\xf1\x11"), F("psrld 5", "\x0f\x72\xd1\x05"),
	F("psrad 31", "\x0f\x72\xe1\x1f"), F("pslld 1", "\x0f\x72\xf1\x01"),
	F("psrlq 40", "\x0f\x73\xd1\x28"), F("psllq 63", "\x0f\x73\xf1\x3f"),
	F("pcmpeqb", "\x0f\x74\xca"), F("pcmpeqw", "\x0f\x75\xca"),
	F("pcmpeqd", "\x0f\x76\xca"), F("movd eax, mm2", "\x0f\x7e\xd0"),
	F("movq rax, mm2", "\x48\x0f\x7e\xd0"), F("movq mm2, mm1", "\x0f\x7f\xca"),
	F("pinsrw", "\x0f\xc4\xc8\x02"), F("pextrw", "\x0f\xc5\xc2\x03"),
	F("psrlw", "\x0f\xd1\xca"), F("psrld", "\x0f\xd2\xca"),
	F("psrlq", "\x0f\xd3\xca"), F("paddq", "\x0f\xd4\xca"),
	F("pmullw", "\x0f\xd5\xca"), F("pmovmskb", "\x0f\xd7\xc2"),
	F("psubusb", "\x0f\xd8\xca"), F("psubusw", "\x0f\xd9\xca"),
	F("pminub", "\x0f\xda\xca"), F("pand", "\x0f\xdb\xca"),
	F("paddusb", "\x0f\xdc\xca"), F("paddusw", "\x0f\xdd\xca"),
	F("pmaxub", "\x0f\xde\xca"), F("pandn", "\x0f\xdf\xca"),
	F("pavgb", "\x0f\xe0\xca"), F("psraw", "\x0f\xe1\xca"),
	F("psrad", "\x0f\xe2\xca"), F("pavgw", "\x0f\xe3\xca"),
	F("pmulhuw", "\x0f\xe4\xca"), F("pmulhw", "\x0f\xe5\xca"),
	F("psubsb", "\x0f\xe8\xca"), F("psubsw", "\x0f\xe9\xca"),
	F("pminsw", "\x0f\xea\xca"), F("por", "\x0f\xeb\xca"),
	F("paddsb", "\x0f\xec\xca"), F("paddsw", "\x0f\xed\xca"),
	F("pmaxsw", "\x0f\xee\xca"), F("pxor", "\x0f\xef\xca"),
	F("psllw", "\x0f\xf1\xca"), F("pslld", "\x0f\xf2\xca"),
	F("psllq", "\x0f\xf3\xca"), F("pmuludq", "\x0f\xf4\xca"),
	F("pmaddwd", "\x0f\xf5\xca"), F("psadbw", "\x0f\xf6\xca"),
	F("psubb", "\x0f\xf8\xca"), F("psubw", "\x0f\xf9\xca"),
	F("psubd", "\x0f\xfa\xca"), F("psubq", "\x0f\xfb\xca"),
	F("paddb", "\x0f\xfc\xca"), F("paddw", "\x0f\xfd\xca"),
	F("paddd", "\x0f\xfe\xca"),
};

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

/* random lanes with edges: 0, all ones, sign bits, small values */
static uint64_t rand_mm(void)
{
	static const uint64_t sp[] = { 0, ~0ull, 0x8000800080008000ull,
		0x7fff7fff7fff7fffull, 0x8080808080808080ull,
		0x7f7f7f7f7f7f7f7full, 0x0000000100000001ull,
		0xffff0000ffff0000ull };
	uint64_t v = rnd();

	switch (rnd() % 4) {
	case 0: return sp[rnd() % 8];
	case 1: return v & 0x00ff00ff00ff00ffull;
	default: return v;
	}
}

static void test_vs_host(void **state)
{
	void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned fails = 0, n = 0;
	uint8_t buf[64];

	assert_true(page != MAP_FAILED);
	for (unsigned f = 0; f < ARRAY_SIZE(forms); f++) {
		uint8_t *p = page;

		memcpy(p, pro, sizeof(pro));
		memcpy(p + sizeof(pro), forms[f].code, forms[f].len);
		memcpy(p + sizeof(pro) + forms[f].len, epi, sizeof(epi));
		__builtin___clear_cache((char *)p, (char *)p + 256);
		memcpy(buf, forms[f].code, forms[f].len);
		buf[forms[f].len] = 0xf4;
		for (unsigned k = 0; k < 200; k++) {
			struct io in = { rand_mm(), rand_mm(), rnd() }, h = in;
			struct vmm_exit e;

			if (rnd() % 3 == 0)
				in.m2 = rnd() % 70; /* shift counts */
			h = in;
			((void (*)(struct io *))page)(&h);
			tvm_setup(&T, ENV_LONG64, 0, buf, forms[f].len + 1);
			T.st.fpu.fcw = 0x37f;
			T.st.fpu.fsw = (uint16_t)((rnd() % 8) << 11);
			T.st.fpu.ftw = (uint8_t)rnd();
			{
				/* MMi = R(i) = ST((i - TOP) & 7) */
				unsigned top = (T.st.fpu.fsw >> 11) & 7;
				set_mm(&T.st, (1 - top) & 7, in.m1);
				set_mm(&T.st, (2 - top) & 7, in.m2);
			}
			T.st.gpr[VMM_RAX] = in.rax;
			tvm_set(&T);
			e = tvm_run(&T);
			n++;
			if (e.kind != VMM_EXIT_HLT ||
			    T.st.rip != ENV_CODE + forms[f].len + 1 ||
			    mant(T.st.fpu.st[1]) != h.m1 ||
			    mant(T.st.fpu.st[2]) != h.m2 ||
			    T.st.gpr[VMM_RAX] != h.rax ||
			    T.st.fpu.ftw != 0xff || (T.st.fpu.fsw & 0x3800)) {
				if (fails++ < 10)
					printf("%s: in %016llx %016llx %llx: soft "
					       "%016llx %016llx %llx (exit %s), "
					       "host %016llx %016llx %llx\n",
					       forms[f].name,
					       (unsigned long long)in.m1,
					       (unsigned long long)in.m2,
					       (unsigned long long)in.rax,
					       (unsigned long long)mant(T.st.fpu.st[1]),
					       (unsigned long long)mant(T.st.fpu.st[2]),
					       (unsigned long long)T.st.gpr[VMM_RAX],
					       vmm_exit_name(e.kind),
					       (unsigned long long)h.m1,
					       (unsigned long long)h.m2,
					       (unsigned long long)h.rax);
			}
		}
	}
	munmap(page, 4096);
	printf("%u MMX cases compared with the host CPU, %u mismatches\n", n,
	       fails);
	assert_int_equal(fails, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arch),
		cmocka_unit_test(test_vs_host),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
