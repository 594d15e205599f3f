/* SPDX-License-Identifier: MIT */
/*
 * kernels.c - the compute-kernels guest of vmm-bench (soft-vs-tcg-*): one
 * freestanding 64-bit image that runs one of seven small kernels, chosen
 * with "kernel=NAME n=N" on the multiboot command line, at CPL3 (where a
 * nested KVM runs natively; tests/guests/lib/entry64.S does the short CPL0
 * part).  The same image runs under libvmm (soft backend, KVM) and under
 * QEMU -kernel, and brackets only the kernel with the debug-console
 * markers of kernels.h, so a host times the kernel and not QEMU's start-up
 * nor this guest's setup (buffers, tables, the permutation).
 *
 *   sieve      sieves of Eratosthenes (byte array) over N bytes in all:
 *              below 512 Ki again and again, checksum = primes found
 *   crc32      table-driven CRC-32 over N bytes (a 256 KiB buffer again
 *              and again)
 *   memcpy     N bytes copied by a C loop of 64-bit words, between two
 *              256 KiB buffers
 *   chase      N steps along a linked list that is one random cycle
 *              through 2^15 nodes of 16 bytes (512 KiB)
 *   interp     N iterations of a loop in a tiny register bytecode run by
 *              a switch interpreter (data-dependent branches)
 *   regloop    N iterations of xorshift arithmetic in registers only
 *   loadstore  N read-modify-writes over a 32 KiB array (kernels_ls.c)
 */
#include "cmdline.h"
#include "entry64.h"
#include "guest.h"
#include "kernels.h"

#define BUF0 ((uint8_t *)(uintptr_t)KERN_BUF0)   /* 4 MiB: work buffers */
/*
 * Working sets stay at 512 KiB or less (128 pages): QEMU's soft TLB starts
 * with 256 entries and only grows when the guest flushes its TLB, which
 * this guest never does, so larger sets would measure that start-up size
 * rather than the emulators' code (see docs/benchmarks.md).
 */
#define BUF_SIZE KERN_BUF_SIZE
#define SIEVE_CHUNK (512u << 10)
#define CHASE_NODES KERN_CHASE_NODES


/* Decimal N; 0 when missing, malformed or above KERN_N_MAX. */
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

/* ---- debug console ---- */

static void con_putc(char c)
{
	outb(KERN_MARK_PORT, (uint8_t)c);
}

static void con_hex64(uint64_t v)
{
	for (int s = 60; s >= 0; s -= 4)
		con_putc("0123456789abcdef"[(v >> s) & 15]);
}

/*
 * HPET (QEMU's pc machine has one at 0xfed00000, identity-mapped and
 * user-accessible like all of the low 4 GiB): with "hpet=1" the guest
 * reads its main counter right after the begin marker and right before
 * the end marker and reports the difference, so a host that cannot see
 * the markers the moment they are written (QEMU's debug console reaches
 * vmm-bench through a pipe) still gets the kernel's own time.
 */
#define HPET ((volatile uint64_t *)(uintptr_t)0xfed00000u)
#define HPET_CAP 0       /* bits 63:32: counter period in femtoseconds */
#define HPET_CONF 2      /* bit 0: enable the main counter */
#define HPET_COUNTER 30  /* main counter, at 0xf0 */

/* xorshift64: deterministic filler */
static uint64_t xs64(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* ---- the kernels ---- */

static uint64_t sieve_once(uint8_t *comp, uint64_t n)
{
	uint64_t count = 0;

	for (uint64_t i = 0; i < n; i++)
		comp[i] = 0;
	for (uint64_t i = 2; i < n; i++) {
		if (comp[i])
			continue;
		count++;
		for (uint64_t j = i * i; j < n; j += i)
			comp[j] = 1;
	}
	return count;
}

/* N bytes sieved in all: sieves below SIEVE_CHUNK, then the rest. */
static uint64_t kern_sieve(uint8_t *comp, uint64_t n)
{
	uint64_t count = 0;

	for (; n >= SIEVE_CHUNK; n -= SIEVE_CHUNK)
		count += sieve_once(comp, SIEVE_CHUNK);
	return count + sieve_once(comp, n);
}

static uint32_t crc_table[256];

static void crc_setup(uint8_t *buf)
{
	uint64_t x = 0x243f6a8885a308d3ull;

	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
	for (uint32_t i = 0; i < BUF_SIZE; i += 8) {
		uint64_t v = xs64(&x);
		for (int b = 0; b < 8; b++)
			buf[i + b] = (uint8_t)(v >> (8 * b));
	}
}

static uint64_t kern_crc32(const uint8_t *buf, uint64_t n)
{
	uint32_t c = 0xffffffffu;
	uint64_t off = 0;

	while (n--) {
		c = crc_table[(c ^ buf[off]) & 0xff] ^ (c >> 8);
		off = (off + 1) & (BUF_SIZE - 1);
	}
	return c ^ 0xffffffffu;
}

static void copy_words(uint64_t *d, const uint64_t *s, uint64_t words)
{
	for (uint64_t i = 0; i < words; i++)
		d[i] = s[i];
}

static void memcpy_setup(uint64_t *a)
{
	uint64_t x = 0x13198a2e03707344ull;

	for (uint32_t i = 0; i < BUF_SIZE / 8; i++)
		a[i] = xs64(&x);
}

static uint64_t kern_memcpy(uint64_t *a, uint64_t *b, uint64_t n)
{
	uint64_t left = n / 8;

	/* a -> b, b -> a, ...: each pass reads what the last one wrote */
	for (unsigned pass = 0; left; pass++) {
		uint64_t w = left < BUF_SIZE / 8 ? left : BUF_SIZE / 8;
		if (pass & 1)
			copy_words(a, b, w);
		else
			copy_words(b, a, w);
		left -= w;
	}
	return 0;
}

static uint64_t memcpy_sum(const uint64_t *a, const uint64_t *b)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (uint32_t i = 0; i < BUF_SIZE / 8; i++)
		h = (h ^ a[i] ^ (b[i] << 1)) * 0x100000001b3ull;
	return h;
}

struct node {
	struct node *next;
	uint64_t val;
};

/* Sattolo's algorithm: a random permutation that is one single cycle. */
static void chase_setup(struct node *nodes, uint32_t *perm)
{
	uint64_t x = 0xa4093822299f31d0ull;

	for (uint32_t i = 0; i < CHASE_NODES; i++)
		perm[i] = i;
	for (uint32_t i = CHASE_NODES - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(xs64(&x) % i);
		uint32_t t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	for (uint32_t i = 0; i < CHASE_NODES; i++) {
		nodes[i].next = &nodes[perm[i]];
		nodes[i].val = i * 2654435761u;
	}
}

static uint64_t kern_chase(const struct node *p, uint64_t n)
{
	uint64_t sum = 0;

	while (n--) {
		sum += p->val;
		p = p->next;
	}
	return sum;
}

/* The bytecode: 8 registers, 8-byte instructions. */
enum { OP_LI, OP_ANDI, OP_SHRI, OP_MULI, OP_ADDI, OP_ADD, OP_XOR, OP_JNZ,
       OP_JMP, OP_JLT, OP_HALT };
struct bc {
	uint8_t op, a, b, c;
	int32_t imm;
};

/*
 * r0 = N, r1 = i, r2 = x, r3 = y, r4 = tmp:
 *   while (i < N) { if (x & 1) { x = x * 3 + i; y ^= x; }
 *                   else { x >>= 1; y += x; }  x += 0x9e37; i++; }
 *   result y ^ x
 */
static const struct bc program[] = {
	/* 0 */ { OP_LI, 1, 0, 0, 0 },
	/* 1 */ { OP_LI, 2, 0, 0, 12345 },
	/* 2 */ { OP_LI, 3, 0, 0, 0 },
	/* 3 */ { OP_JMP, 0, 0, 0, 14 },
	/* 4 */ { OP_ANDI, 4, 2, 0, 1 },
	/* 5 */ { OP_JNZ, 4, 0, 0, 9 },
	/* 6 */ { OP_SHRI, 2, 2, 0, 1 },
	/* 7 */ { OP_ADD, 3, 3, 2, 0 },
	/* 8 */ { OP_JMP, 0, 0, 0, 12 },
	/* 9 */ { OP_MULI, 2, 2, 0, 3 },
	/* 10 */ { OP_ADD, 2, 2, 1, 0 },
	/* 11 */ { OP_XOR, 3, 3, 2, 0 },
	/* 12 */ { OP_ADDI, 2, 2, 0, 0x9e37 },
	/* 13 */ { OP_ADDI, 1, 1, 0, 1 },
	/* 14 */ { OP_JLT, 1, 0, 0, 4 },
	/* 15 */ { OP_HALT, 0, 0, 0, 0 },
};

static uint64_t kern_interp(uint64_t n)
{
	uint64_t r[8] = { n };
	const struct bc *pc = program;

	for (;;) {
		const struct bc *i = pc++;
		switch (i->op) {
		case OP_LI: r[i->a] = (uint64_t)(int64_t)i->imm; break;
		case OP_ANDI: r[i->a] = r[i->b] & (uint64_t)(int64_t)i->imm; break;
		case OP_SHRI: r[i->a] = r[i->b] >> (i->imm & 63); break;
		case OP_MULI: r[i->a] = r[i->b] * (uint64_t)(int64_t)i->imm; break;
		case OP_ADDI: r[i->a] = r[i->b] + (uint64_t)(int64_t)i->imm; break;
		case OP_ADD: r[i->a] = r[i->b] + r[i->c]; break;
		case OP_XOR: r[i->a] = r[i->b] ^ r[i->c]; break;
		case OP_JNZ: if (r[i->a]) pc = program + i->imm; break;
		case OP_JMP: pc = program + i->imm; break;
		case OP_JLT: if (r[i->a] < r[i->b]) pc = program + i->imm; break;
		case OP_HALT: return r[3] ^ r[2];
		default: return ~0ull;
		}
	}
}

static uint64_t kern_regloop(uint64_t n)
{
	uint64_t x = 0x452821e638d01377ull, acc = 0;

	for (uint64_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		acc += x ^ i;
	}
	return acc;
}

int guest_main(void)
{
	uint64_t n, sum, hpet0 = 0, hpet1 = 0;
	int use_hpet;
	uint64_t *a = (uint64_t *)(void *)BUF0;
	uint64_t *b = (uint64_t *)(void *)(BUF0 + BUF_SIZE);
	int k;

	cmdline_init();
	n = arg_n();
	use_hpet = cmdline_is("hpet", "1");
	if (cmdline_is("kernel", "sieve"))
		k = 0;
	else if (cmdline_is("kernel", "crc32"))
		k = 1;
	else if (cmdline_is("kernel", "memcpy"))
		k = 2;
	else if (cmdline_is("kernel", "chase"))
		k = 3;
	else if (cmdline_is("kernel", "interp"))
		k = 4;
	else if (cmdline_is("kernel", "regloop"))
		k = 5;
	else if (cmdline_is("kernel", "loadstore"))
		k = 6;
	else
		return KERN_EXIT_BADARG;
	if (n == 0)
		return KERN_EXIT_BADARG;

	/* setup: not timed; every kernel, setup and checksum function is
	 * called through KERN_CALL (kernels.h: vmm-bench calls the same
	 * functions under Unicorn) */
	if (k == 1)
		KERN_CALL(crc_setup, BUF0);
	else if (k == 2)
		KERN_CALL(memcpy_setup, a);
	else if (k == 3)
		KERN_CALL(chase_setup, (struct node *)(void *)BUF0,
			  (uint32_t *)(void *)(BUF0 + CHASE_NODES *
					       sizeof(struct node)));

	if (use_hpet) {
		if (!(HPET[HPET_CAP] >> 32))
			return KERN_EXIT_BADARG;
		HPET[HPET_CONF] |= 1;
	}
	con_putc(KERN_MARK_BEGIN);
	if (use_hpet)
		hpet0 = HPET[HPET_COUNTER];
	switch (k) {
	case 0: sum = KERN_CALL(kern_sieve, BUF0, n); break;
	case 1: sum = KERN_CALL(kern_crc32, BUF0, n); break;
	case 2: sum = KERN_CALL(kern_memcpy, a, b, n); break;
	case 3:
		sum = KERN_CALL(kern_chase, (const struct node *)(void *)BUF0, n);
		break;
	case 4: sum = KERN_CALL(kern_interp, n); break;
	case 5: sum = KERN_CALL(kern_regloop, n); break;
	default: sum = KERN_CALL(kern_loadstore, a, n); break;
	}
	if (use_hpet)
		hpet1 = HPET[HPET_COUNTER];
	con_putc(KERN_MARK_END);
	if (k == 2)
		sum = KERN_CALL(memcpy_sum, a, b);

	for (const char *s = "sum="; *s; s++)
		con_putc(*s);
	con_hex64(sum);
	if (use_hpet) {
		for (const char *s = " hpet="; *s; s++)
			con_putc(*s);
		con_hex64(hpet1 - hpet0);
		for (const char *s = " fs="; *s; s++)
			con_putc(*s);
		con_hex64(HPET[HPET_CAP] >> 32);
	}
	con_putc('\n');
	return KERN_EXIT_OK;
}
