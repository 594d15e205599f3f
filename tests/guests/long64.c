/* SPDX-License-Identifier: MIT */
/*
 * long64.c - the 64-bit demo guest.  lib/entry64.S brings it from the
 * multiboot entry (32-bit protected mode) through PAE paging into long mode
 * and drops to CPL3 with IOPL=3; everything here runs at CPL3, where a
 * nested shadow-paging KVM runs code natively.
 *
 * It reports what it went through (mode transitions, control registers
 * read through a trapping service call, its privilege level), does some real
 * work (a generated 4 MiB buffer, CRC-32 and FNV-1a over it, a sieve of
 * Eratosthenes to 10^7), checks every result against known values, and
 * prints cycle counts (rdtsc) per stage.  Lines with numbers that depend on
 * the machine are matched with '#' wildcards in expected/long64.txt.
 */
#include "entry64.h"
#include "guest.h"

#define WORK_BUF ((uint8_t *)(uintptr_t)0x400000) /* 4 MiB at 4 MiB */
#define WORK_LEN (4u << 20)
#define SIEVE_BUF ((uint8_t *)(uintptr_t)0x800000) /* 10 MB at 8 MiB */
#define SIEVE_N 10000000u
#define MEM_NEEDED_KIB ((0x800000u + SIEVE_N) / 1024 - 1024 + 1)

#define CR0_PE 0x1ull
#define CR0_PG 0x80000000ull
#define CR4_PAE 0x20ull
#define EFER_LME 0x100ull
#define EFER_LMA 0x400ull

/* Known answers, computed independently on the host. */
#define CRC32_CHECK 0xcbf43926u            /* crc32("123456789") */
#define FNV1A64_CHECK 0xaf63dc4c8601ec8cull /* fnv1a64("a") */
#define PRIMES_BELOW_1E7 664579u
#define WORK_CRC32 0x8e6a68e6u             /* crc32(generated buffer) */
#define WORK_FNV1A64 0x892bb2d298fc8379ull /* fnv1a64(generated buffer) */

static uint32_t crc_table[256];

static void crc32_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc32(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	while (n--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

static uint64_t fnv1a64(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	while (n--) {
		h ^= *p++;
		h *= 0x100000001b3ull;
	}
	return h;
}

/* xorshift64*: deterministic filler. */
static void generate(uint8_t *buf, size_t n, uint64_t seed)
{
	uint64_t x = seed;
	for (size_t i = 0; i < n; i += 8) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		uint64_t v = x * 0x2545f4914f6cdd1dull;
		for (int b = 0; b < 8; b++)
			buf[i + b] = (uint8_t)(v >> (8 * b));
	}
}

static uint32_t sieve(uint8_t *comp, uint32_t n)
{
	uint32_t count = 0;
	memset(comp, 0, n);
	for (uint32_t i = 2; i < n; i++) {
		if (comp[i])
			continue;
		count++;
		for (uint64_t j = (uint64_t)i * i; j < n; j += i)
			comp[j] = 1;
	}
	return count;
}

static int failures;

static void check(int ok, const char *what)
{
	if (!ok) {
		gprintf("FAIL: %s\n", what);
		failures++;
	}
}

int guest_main(void)
{
	uint64_t t0 = boot_tsc_user, t1, t2, t3, t4, t5;
	const struct multiboot_info *mbi =
		(const struct multiboot_info *)(uintptr_t)boot_mb_info;
	uint16_t cs, ss;
	uint64_t rflags;

	uart_init();
	gprintf("libvmm demo guest: long64\n");

	gprintf("boot: multiboot magic 0x%x, info at 0x%x", boot_mb_magic,
		boot_mb_info);
	check(boot_mb_magic == MULTIBOOT_BOOTLOADER_MAGIC, "multiboot magic");
	if (mbi && (mbi->flags & 1)) {
		gprintf(", memory %u KiB + %u KiB\n", mbi->mem_lower,
			mbi->mem_upper);
		check(mbi->mem_upper >= MEM_NEEDED_KIB, "enough RAM (18 MiB)");
	} else {
		gprintf(", no memory information\n");
		check(0, "multiboot memory information");
	}

	gprintf("modes: 32-bit protected (paging off) -> PAE 4-level paging"
		" -> long mode -> CPL3 via iretq\n");
	uint64_t cr0 = service_call(SYS_READ_CR0), cr4 = service_call(SYS_READ_CR4);
	uint64_t efer = service_call(SYS_READ_EFER), cr3 = service_call(SYS_READ_CR3);
	gprintf("cpu: cr0=0x%lx cr4=0x%lx efer=0x%lx cr3=0x%lx "
		"(read at CPL0 via a #UD service call)\n",
		(unsigned long)cr0, (unsigned long)cr4, (unsigned long)efer,
		(unsigned long)cr3);
	check((cr0 & (CR0_PG | CR0_PE)) == (CR0_PG | CR0_PE), "CR0.PG and PE");
	check(cr4 & CR4_PAE, "CR4.PAE");
	check((efer & (EFER_LME | EFER_LMA)) == (EFER_LME | EFER_LMA),
	      "EFER.LME and LMA");

	__asm__ volatile("mov %%cs, %0; mov %%ss, %1; pushfq; popq %2"
			 : "=r"(cs), "=r"(ss), "=r"(rflags));
	gprintf("running at CPL%u: cs=0x%x ss=0x%x iopl=%u\n", cs & 3u,
		(unsigned)cs, (unsigned)ss, (unsigned)(rflags >> 12) & 3u);
	/*
	 * IOPL is informational: kvm_pvm runs CPL3 with IOPL 0 (and its own
	 * user selectors) whatever the guest set; ports stay reachable through
	 * the TSS I/O bitmap.
	 */
	check((cs & 3) == 3, "CPL3");

	crc32_init();
	check(crc32((const uint8_t *)"123456789", 9) == CRC32_CHECK,
	      "crc32 check value");
	check(fnv1a64((const uint8_t *)"a", 1) == FNV1A64_CHECK,
	      "fnv1a64 check value");

	t1 = rdtsc();
	generate(WORK_BUF, WORK_LEN, 0x9e3779b97f4a7c15ull);
	t2 = rdtsc();
	uint32_t crc = crc32(WORK_BUF, WORK_LEN);
	t3 = rdtsc();
	uint64_t fnv = fnv1a64(WORK_BUF, WORK_LEN);
	t4 = rdtsc();
	uint32_t primes = sieve(SIEVE_BUF, SIEVE_N);
	t5 = rdtsc();
	gprintf("work: generated %u MiB with xorshift64*\n", WORK_LEN >> 20);
	gprintf("work: crc32 = 0x%08x\n", crc);
	gprintf("work: fnv1a64 = 0x%016lx\n", (unsigned long)fnv);
	gprintf("work: primes below %u = %u\n", SIEVE_N, primes);
	check(crc == WORK_CRC32, "crc32 of the buffer");
	check(fnv == WORK_FNV1A64, "fnv1a64 of the buffer");
	check(primes == PRIMES_BELOW_1E7, "prime count");

	/* Cost of a privilege round trip and of a port I/O exit. */
	enum { ROUNDS = 64 };
	uint64_t s0 = rdtsc();
	for (int i = 0; i < ROUNDS; i++)
		(void)service_call(SYS_NOP);
	uint64_t s1 = rdtsc();
	for (int i = 0; i < ROUNDS; i++)
		(void)inb(COM1 + UART_LSR);
	uint64_t s2 = rdtsc();

	gprintf("cycles: boot stub at CPL0 %lu (32-bit setup %lu, long mode "
		"to CPL3 %lu)\n",
		(unsigned long)(t0 - boot_tsc_entry),
		(unsigned long)(boot_tsc_long - boot_tsc_entry),
		(unsigned long)(t0 - boot_tsc_long));
	gprintf("cycles: generate %lu, crc32 %lu, fnv1a64 %lu, sieve %lu\n",
		(unsigned long)(t2 - t1), (unsigned long)(t3 - t2),
		(unsigned long)(t4 - t3), (unsigned long)(t5 - t4));
	gprintf("cycles: CPL3->CPL0->CPL3 trap round trip %lu, port I/O exit %lu "
		"(average of %u)\n",
		(unsigned long)((s1 - s0) / ROUNDS),
		(unsigned long)((s2 - s1) / ROUNDS), ROUNDS);

	if (failures) {
		gprintf("long64: %d checks FAILED\n", failures);
		return GUEST_EXIT_FAIL;
	}
	gprintf("long64: all checks passed\n");
	return GUEST_EXIT_LONG64;
}
