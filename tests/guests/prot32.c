/* SPDX-License-Identifier: MIT */
/*
 * prot32.c - the 32-bit protected-mode guest, all at CPL0 (keep it short:
 * a nested shadow-paging KVM emulates every CPL0 instruction).  Checks that
 * its own GDT and IDT are in use (a #UD and a #DE go through its handlers
 * and resume after the faulting instruction), does some 32-bit arithmetic,
 * reports.  No "int n": the nested KVM here cannot emulate a software
 * interrupt at CPL0 in protected mode (KVM internal error, emulation).
 */
#include "guest.h"

struct trap_frame {
	uint32_t edi, esi, ebp, esp, ebx, edx, ecx, eax;
	uint32_t vector, error;
	uint32_t eip, cs, eflags;
};

extern uint32_t boot_mb_magic, boot_mb_info;
static volatile int de_faults, ud_faults;
static int failures;

void prot32_trap(struct trap_frame *f);
int prot32_main(void);

void prot32_trap(struct trap_frame *f)
{
	const uint8_t *insn = (const uint8_t *)(uintptr_t)f->eip;

	if (f->vector == 6 && insn[0] == 0x0f && insn[1] == 0x0b) {
		ud_faults++;
		f->eip += 2; /* skip the ud2 */
		return;
	}
	if (f->vector == 0 && insn[0] == 0xf7 && insn[1] == 0xf1) {
		de_faults++;
		f->eip += 2; /* skip the div %ecx */
		return;
	}
	gprintf("EXCEPTION %u error 0x%x at eip 0x%x\n", f->vector, f->error,
		f->eip);
	guest_exit(GUEST_EXIT_EXCEPTION);
}

static void check(int ok, const char *what)
{
	if (!ok) {
		gprintf("FAIL: %s\n", what);
		failures++;
	}
}

static uint32_t gcd(uint32_t a, uint32_t b)
{
	while (b) {
		uint32_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

int prot32_main(void)
{
	uint16_t cs, ds;
	uint32_t cr0;
	const struct multiboot_info *mbi =
		(const struct multiboot_info *)(uintptr_t)boot_mb_info;

	uart_init();
	__asm__ volatile("mov %%cs, %0; mov %%ds, %1; mov %%cr0, %2"
			 : "=r"(cs), "=r"(ds), "=r"(cr0));
	gprintf("prot32: protected mode, multiboot magic 0x%x\n",
		boot_mb_magic);
	check(boot_mb_magic == MULTIBOOT_BOOTLOADER_MAGIC, "multiboot magic");
	if (mbi->flags & 1)
		gprintf("prot32: memory %u KiB + %u KiB\n", mbi->mem_lower,
			mbi->mem_upper);
	else
		check(0, "multiboot memory information");
	gprintf("prot32: own GDT: cs=0x%x ds=0x%x, CR0.PE=%u CR0.PG=%u\n",
		(unsigned)cs, (unsigned)ds, cr0 & 1, cr0 >> 31);
	check(cs == 0x08 && ds == 0x10, "own GDT selectors");
	check((cr0 & 0x80000001u) == 1, "CR0: PE, no paging");

	uint32_t lo = 1, hi = 0;
	__asm__ volatile("ud2" ::: "memory");
	__asm__ volatile("xorl %%ecx, %%ecx\n\t"
			 "divl %%ecx" /* f7 f1: #DE, skipped by the handler */
			 : "+a"(lo), "+d"(hi)
			 :
			 : "ecx", "memory");
	gprintf("prot32: own IDT: #UD handled %d, #DE handled %d\n",
		ud_faults, de_faults);
	check(ud_faults == 1 && de_faults == 1, "own IDT handlers");

	uint32_t sum = 0, a = 0, b = 1;
	for (uint32_t i = 1; i <= 1000; i++)
		sum += i;
	for (int i = 0; i < 40; i++) {
		uint32_t t = a + b;
		a = b;
		b = t;
	}
	uint64_t prod = (uint64_t)0xfffffff1u * 0xfffffff3u;
	gprintf("prot32: sum(1..1000)=%u fib(40)=%u gcd(1071,462)=%u "
		"0xfffffff1*0xfffffff3=0x%llx\n",
		sum, a, gcd(1071, 462), (unsigned long long)prod);
	check(sum == 500500, "sum");
	check(a == 102334155, "fib");
	check(gcd(1071, 462) == 21, "gcd");
	check(prod == 0xffffffe4000000c3ull, "64-bit product");

	if (failures) {
		gprintf("prot32: %d checks FAILED\n", failures);
		return GUEST_EXIT_FAIL;
	}
	gprintf("prot32: all checks passed\n");
	return GUEST_EXIT_PROT32;
}
