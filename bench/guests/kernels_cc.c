/* SPDX-License-Identifier: MIT */
/*
 * kernels_cc.c - the compiler-generated kernels guest of vmm-bench
 * (soft-vs-tcg-cc): plain C that nobody tuned for any emulator, built by
 * our build four times (bench/guests/meson.build): 64-bit at CPL3 (the
 * entry64.S stub) and 32-bit protected mode at CPL0 (kcc32.S), each at -O0
 * and at -O2.  The images speak the protocol of kernels.h ("kernel=NAME
 * n=N [hpet=1]", the begin/end markers, "sum=...", debug-exit).
 *
 *   bcvm     N bytecode instructions of a small stack machine (a loop
 *            that mixes a linear congruential generator into an
 *            accumulator), a switch dispatcher
 *   sha256   SHA-256 compression over N bytes (a 4 KiB buffer again and
 *            again, the digest chained)
 *   qsort    a recursive quicksort of 2048 words, refilled from a PRNG,
 *            until N elements have been sorted
 *   strsearch  naive substring search of a 16-byte pattern in a 64 KiB
 *            text, N text positions examined
 *   matmul   32x32 word matrices multiplied, N multiply-adds
 *
 * And three loops written in inline assembly, the same instructions
 * whatever the compiler (so -O0 and -O2 builds have the same bodies;
 * vmm-bench runs them from the -O2 images only):
 *   loop-alu    register-only: add, xor, shift, dec, jnz
 *   loop-load   one load per iteration plus the ALU ops
 *   loop-ls     one load and one store per iteration
 *
 * No 64-bit division anywhere (the 32-bit builds link no libgcc).
 */
#include "cmdline.h"
#include "guest.h"
#include "kernels.h"

int guest_main(void);

#define BUF0 ((uint8_t *)(uintptr_t)KERN_BUF0) /* 4 MiB: work buffers */

static void con_putc(char c)
{
	outb(KERN_MARK_PORT, (uint8_t)c);
}

static void con_str(const char *s)
{
	while (*s)
		con_putc(*s++);
}

static void con_hex64(uint64_t v)
{
	for (int s = 60; s >= 0; s -= 4)
		con_putc("0123456789abcdef"[(unsigned)(v >> s) & 15]);
}

static uint64_t arg_n(void)
{
	const char *p = cmdline_arg("n");
	uint64_t v = 0;

	if (!p || *p < '0' || *p > '9')
		return 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > KERN_N_MAX)
			return 0;
	}
	return (*p == 0 || *p == ' ') ? v : 0;
}

static uint32_t xs32(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* ---- bcvm: a stack machine ---- */

enum { B_PUSH, B_LOAD, B_STORE, B_ADD, B_MUL, B_XOR, B_SHR, B_DUP,
       B_SWAP, B_DEC, B_JNZ, B_HALT };

struct bcop {
	uint8_t op;
	uint8_t arg;
	int16_t imm;
};

/*
 * v0 = count, v1 = x, v2 = acc:
 *   do { x = x * 1103515245 + 12345; acc ^= x >> 7; acc += x; } while (--count)
 */
static const struct bcop bc_prog[] = {
	/* 0 */ { B_LOAD, 1, 0 },
	/* 1 */ { B_PUSH, 0, 16807 },
	/* 2 */ { B_MUL, 0, 0 },
	/* 3 */ { B_PUSH, 0, 12345 },
	/* 4 */ { B_ADD, 0, 0 },
	/* 5 */ { B_DUP, 0, 0 },
	/* 6 */ { B_STORE, 1, 0 },
	/* 7 */ { B_DUP, 0, 0 },
	/* 8 */ { B_PUSH, 0, 7 },
	/* 9 */ { B_SHR, 0, 0 },
	/* 10 */ { B_LOAD, 2, 0 },
	/* 11 */ { B_XOR, 0, 0 },
	/* 12 */ { B_ADD, 0, 0 },
	/* 13 */ { B_STORE, 2, 0 },
	/* 14 */ { B_LOAD, 0, 0 },
	/* 15 */ { B_DEC, 0, 0 },
	/* 16 */ { B_DUP, 0, 0 },
	/* 17 */ { B_STORE, 0, 0 },
	/* 18 */ { B_JNZ, 0, 0 },
	/* 19 */ { B_HALT, 0, 0 },
};
#define BC_LOOP_LEN 19

static uint64_t kern_bcvm(uint64_t n)
{
	uint32_t st[16], var[4];
	unsigned sp = 0, pc = 0;

	/* iterations: about N bytecode instructions in all */
	{
		uint64_t it = 0, left = n;
		while (left >= BC_LOOP_LEN) {
			left -= BC_LOOP_LEN;
			it++;
		}
		var[0] = it ? (uint32_t)it : 1;
	}
	var[1] = 1;
	var[2] = 0;
	var[3] = 0;
	for (;;) {
		const struct bcop *o = &bc_prog[pc++];
		switch (o->op) {
		case B_PUSH: st[sp++ & 15] = (uint32_t)(int32_t)o->imm; break;
		case B_LOAD: st[sp++ & 15] = var[o->arg & 3]; break;
		case B_STORE: var[o->arg & 3] = st[--sp & 15]; break;
		case B_ADD: sp--; st[(sp - 1) & 15] += st[sp & 15]; break;
		case B_MUL: sp--; st[(sp - 1) & 15] *= st[sp & 15]; break;
		case B_XOR: sp--; st[(sp - 1) & 15] ^= st[sp & 15]; break;
		case B_SHR: sp--; st[(sp - 1) & 15] >>= st[sp & 15] & 31; break;
		case B_DUP: st[sp & 15] = st[(sp - 1) & 15]; sp++; break;
		case B_SWAP: {
			uint32_t t = st[(sp - 1) & 15];
			st[(sp - 1) & 15] = st[(sp - 2) & 15];
			st[(sp - 2) & 15] = t;
			break;
		}
		case B_DEC: st[(sp - 1) & 15]--; break;
		case B_JNZ:
			if (st[--sp & 15])
				pc = (unsigned)o->imm;
			break;
		case B_HALT: return ((uint64_t)var[1] << 32) | var[2];
		default: return ~0ull;
		}
	}
}

/* ---- sha256 ---- */

static const uint32_t sha_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror32(uint32_t x, unsigned r)
{
	return (x >> r) | (x << (32 - r));
}

static void sha256_block(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, hh;

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^
			      (w[i - 15] >> 3);
		uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^
			      (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = h[0]; b = h[1]; c = h[2]; d = h[3];
	e = h[4]; f = h[5]; g = h[6]; hh = h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = hh + (ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25)) +
			      ((e & f) ^ (~e & g)) + sha_k[i] + w[i];
		uint32_t t2 = (ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22)) +
			      ((a & b) ^ (a & c) ^ (b & c));
		hh = g; g = f; f = e; e = d + t1;
		d = c; c = b; b = a; a = t1 + t2;
	}
	h[0] += a; h[1] += b; h[2] += c; h[3] += d;
	h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

#define SHA_BUF 4096u

static void sha_setup(uint8_t *buf)
{
	uint32_t x = 0x6a09e667;

	for (uint32_t i = 0; i < SHA_BUF; i++)
		buf[i] = (uint8_t)xs32(&x);
}

static uint64_t kern_sha256(const uint8_t *buf, uint64_t n)
{
	uint32_t h[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
			  0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
	uint32_t off = 0;

	for (; n >= 64; n -= 64) {
		sha256_block(h, buf + off);
		off = (off + 64) & (SHA_BUF - 1);
	}
	return ((uint64_t)h[0] << 32 | h[1]) ^ ((uint64_t)h[6] << 32 | h[7]);
}

/* ---- qsort ---- */

#define QS_N 2048u

static void qs_swap(uint32_t *a, uint32_t *b)
{
	uint32_t t = *a;
	*a = *b;
	*b = t;
}

static void qs(uint32_t *v, int lo, int hi)
{
	while (lo < hi) {
		uint32_t pivot = v[lo + (hi - lo) / 2];
		int i = lo, j = hi;

		while (i <= j) {
			while (v[i] < pivot)
				i++;
			while (v[j] > pivot)
				j--;
			if (i <= j)
				qs_swap(&v[i++], &v[j--]);
		}
		/* recurse into the smaller part */
		if (j - lo < hi - i) {
			qs(v, lo, j);
			lo = i;
		} else {
			qs(v, i, hi);
			hi = j;
		}
	}
}

static uint64_t kern_qsort(uint32_t *v, uint64_t n)
{
	uint32_t x = 0x9e3779b9;
	uint64_t sum = 0;

	do {
		for (uint32_t i = 0; i < QS_N; i++)
			v[i] = xs32(&x);
		qs(v, 0, QS_N - 1);
		for (uint32_t i = 0; i < QS_N; i += 64)
			sum = sum * 31 + v[i];
		n = n > QS_N ? n - QS_N : 0;
	} while (n);
	return sum;
}

/* ---- strsearch ---- */

#define SS_TEXT (64u << 10)
#define SS_PAT 16u

static void ss_setup(uint8_t *text)
{
	uint32_t x = 0xbb67ae85;

	/* a 4-letter alphabet: partial matches are frequent */
	for (uint32_t i = 0; i < SS_TEXT; i++)
		text[i] = (uint8_t)('a' + (xs32(&x) & 3));
}

static uint64_t kern_strsearch(const uint8_t *text, uint64_t n)
{
	uint8_t pat[SS_PAT];
	uint64_t found = 0, pos_sum = 0;

	for (uint32_t i = 0; i < SS_PAT; i++)
		pat[i] = text[1000 + i];
	pat[SS_PAT - 1] ^= 1; /* rarely a full match */
	while (n) {
		uint32_t end = SS_TEXT - SS_PAT;
		for (uint32_t i = 0; i < end && n; i++, n--) {
			uint32_t k = 0;
			while (k < SS_PAT && text[i + k] == pat[k])
				k++;
			if (k == SS_PAT) {
				found++;
				pos_sum += i;
			}
			pos_sum += k;
		}
	}
	return found << 48 ^ pos_sum;
}

/* ---- matmul ---- */

#define MM 32u

static uint64_t kern_matmul(uint32_t *buf, uint64_t n)
{
	uint32_t *a = buf, *b = buf + MM * MM, *c = buf + 2 * MM * MM;
	uint32_t x = 0x3c6ef372;
	uint64_t sum = 0;

	for (uint32_t i = 0; i < MM * MM; i++) {
		a[i] = xs32(&x) & 0xffff;
		b[i] = xs32(&x) & 0xffff;
	}
	do {
		for (uint32_t i = 0; i < MM; i++)
			for (uint32_t j = 0; j < MM; j++) {
				uint32_t s = 0;
				for (uint32_t k = 0; k < MM; k++)
					s += a[i * MM + k] * b[k * MM + j];
				c[i * MM + j] = s;
			}
		for (uint32_t i = 0; i < MM * MM; i++)
			sum = sum * 33 + c[i];
		/* feed back so no two rounds are the same */
		a[(uint32_t)sum & (MM * MM - 1)] ^= (uint32_t)sum;
		n = n > MM * MM * MM ? n - MM * MM * MM : 0;
	} while (n);
	return sum;
}

/* ---- compiler-independent loops (inline assembly) ---- */

/* register-only: 5 instructions per iteration */
static uint64_t loop_alu(unsigned long n)
{
	unsigned long a = 0x12345678, b = 0x9abcdef;

	__asm__ volatile("1:\n\t"
			 "add %1, %0\n\t"
			 "xor %0, %1\n\t"
			 "shl $3, %1\n\t"
			 "dec %2\n\t"
			 "jnz 1b"
			 : "+r"(a), "+r"(b), "+r"(n) : : "cc");
	return (uint64_t)a ^ b;
}

/* one load: 6 instructions per iteration, a 4 KiB window */
static uint64_t loop_load(const unsigned long *p, unsigned long n)
{
	unsigned long a = 0, i = 0;

	__asm__ volatile("1:\n\t"
			 "add (%3,%1,%c4), %0\n\t"
			 "inc %1\n\t"
			 "and $511, %1\n\t"
			 "xor %1, %0\n\t"
			 "dec %2\n\t"
			 "jnz 1b"
			 : "+r"(a), "+r"(i), "+r"(n)
			 : "r"(p), "i"(sizeof(unsigned long)) : "cc", "memory");
	return a;
}

/* one load and one store: 6 instructions per iteration */
static uint64_t loop_ls(unsigned long *p, unsigned long n)
{
	unsigned long a = 0, i = 0;

	__asm__ volatile("1:\n\t"
			 "mov (%3,%1,%c4), %0\n\t"
			 "add %2, %0\n\t"
			 "mov %0, 8(%3,%1,%c4)\n\t"
			 "inc %1\n\t"
			 "and $255, %1\n\t"
			 "dec %2\n\t"
			 "jnz 1b"
			 : "+r"(a), "+r"(i), "+r"(n)
			 : "r"(p), "i"(sizeof(unsigned long)) : "cc", "memory");
	for (unsigned i2 = 0; i2 < 257; i2++)
		a = a * 31 + p[i2];
	return a;
}

/* the loops' 1024 words */
static void words_setup(unsigned long *words)
{
	for (unsigned i = 0; i < 1024; i++)
		words[i] = i * 2654435761u;
}

/* ---- driver ---- */

#define HPET ((volatile uint32_t *)(uintptr_t)0xfed00000u)

static uint64_t hpet_read(void)
{
	/* two 32-bit reads, the same in both modes; retried on a carry */
	uint32_t hi, lo;

	do {
		hi = HPET[0xf4 / 4];
		lo = HPET[0xf0 / 4];
	} while (hi != HPET[0xf4 / 4]);
	return (uint64_t)hi << 32 | lo;
}

int guest_main(void)
{
	static const char *const names[] = { "bcvm", "sha256", "qsort",
		"strsearch", "matmul", "loop-alu", "loop-load", "loop-ls" };
	uint64_t n, sum = 0, t0 = 0, t1 = 0;
	unsigned long *words = (unsigned long *)(void *)BUF0;
	int k = -1, use_hpet;

	cmdline_init();
	n = arg_n();
	use_hpet = cmdline_is("hpet", "1");
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (cmdline_is("kernel", names[i]))
			k = (int)i;
	if (k < 0 || n == 0 || ((k >= 5) && (unsigned long)n != n))
		return KERN_EXIT_BADARG;

	/* setup and kernels through KERN_CALL (kernels.h: vmm-bench calls
	 * the same functions under Unicorn) */
	if (k == 1)
		KERN_CALL(sha_setup, BUF0);
	else if (k == 3)
		KERN_CALL(ss_setup, BUF0);
	else if (k >= 6)
		KERN_CALL(words_setup, words);
	if (use_hpet) {
		if (!HPET[1])
			return KERN_EXIT_BADARG;
		HPET[0x10 / 4] |= 1;
	}
	con_putc(KERN_MARK_BEGIN);
	if (use_hpet)
		t0 = hpet_read();
	switch (k) {
	case 0: sum = KERN_CALL(kern_bcvm, n); break;
	case 1: sum = KERN_CALL(kern_sha256, BUF0, n); break;
	case 2: sum = KERN_CALL(kern_qsort, (uint32_t *)(void *)BUF0, n); break;
	case 3: sum = KERN_CALL(kern_strsearch, BUF0, n); break;
	case 4: sum = KERN_CALL(kern_matmul, (uint32_t *)(void *)BUF0, n); break;
	case 5: sum = KERN_CALL(loop_alu, (unsigned long)n); break;
	case 6: sum = KERN_CALL(loop_load, words, (unsigned long)n); break;
	default: sum = KERN_CALL(loop_ls, words, (unsigned long)n); break;
	}
	if (use_hpet)
		t1 = hpet_read();
	con_putc(KERN_MARK_END);
	con_str("sum=");
	con_hex64(sum);
	if (use_hpet) {
		con_str(" hpet=");
		con_hex64(t1 - t0);
		con_str(" fs=");
		con_hex64(HPET[1]);
	}
	con_putc('\n');
	return KERN_EXIT_OK;
}
