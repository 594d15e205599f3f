/* SPDX-License-Identifier: MIT */
/*
 * sysdiff - differential tests of system-level behaviour: the software
 * backend against KVM (the oracle), beyond CPL3 flat code.
 *
 *   sysdiff --class mmu|seg|priv [--cases N] [--seed S] [--first K]
 *           [--only-soft] [--verbose] [--expect-ptw N]
 *           [--gen-only [--expect-hash HEX]]
 *
 * Case K of seed S is reproducible alone: --seed S --first K --cases 1
 * --verbose prints both sides' results, the differing paging-structure
 * entries and the walk of the faulting address.
 *
 * mmu   random page tables (random PDPTE/PDE/PTE flags, 2 MiB and 4 KiB
 *       pages, reserved bits, NX with EFER.NXE on or off, CR0.WP) and a
 *       random run of loads, stores, locked RMWs and calls through them at
 *       CPL3 (natively executed on the nested KVM, whose shadow-paging
 *       walker is the oracle) or CPL0.  Compared: the exit, the exception
 *       (vector, error code, CR2, frame RIP), registers, and hashes of the
 *       paging structures (accessed/dirty bits) and of the data pages.
 * seg   compatibility mode at CPL0: random descriptors in six GDT slots,
 *       then random segment-register loads, loads and stores through
 *       segment overrides (limit, expand-down, type checks), PUSH/POP on
 *       random stack segments, far CALL/JMP through random selectors, LAR,
 *       LSL, VERR, VERW, MOV from segment registers.
 * priv  privileged and mode-sensitive instructions at CPL3 with random
 *       IOPL, CR4.TSD and I/O bitmap: HLT, CLI/STI, MOV CR/DR, RDMSR/
 *       WRMSR, LGDT, INVLPG, CLTS, WBINVD, RDPMC, RDTSC, IN/OUT, POPF of
 *       random flags, UD2.
 *
 * A case the oracle cannot run (KVM stops with an internal error: its CPL0
 * emulator lacks the instruction) is counted as "oracle-incapable" and not
 * compared.  A case that stored into the live paging structures (the same
 * bytes on both sides; hash_live_pt()) is counted as "wrote live paging
 * structures" and not compared either: the SDM leaves it to the CPU whether
 * stale translations are used afterwards.  --expect-ptw N fails the run
 * unless exactly N cases were counted so (the regression test of the
 * first one found).  Exit 1 on any mismatch, 77 only without /dev/kvm (unless
 * --only-soft), else 0.  The last line gives the counts.
 */
#include <libvmm/libvmm.h>
#include "env.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STOP_PORT 0x99
#define PT_POOL 0x100000   /* PD + 4 PTs of the mmu class */
#define PT_PAGES 5
#define DATA_POOL 0x800000 /* 2 MiB of 0xc3 (RET) the tests access */
#define DATA_SIZE 0x200000
#define TVA 0x40000000ull  /* PDPT[1]: the random tree */
#define SEG_AREA 0x400000  /* segment bases of the seg class */
#define FARPTRS (ENV_DATA + 0x100)
#define LRET_STUB (ENV_CODE + 0xf00)
#define GDT_SLOTS 6        /* 0x50 .. 0x78 */

enum cls { CLS_MMU, CLS_SEG, CLS_PRIV };

static uint64_t rng;
static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}
static unsigned rn(unsigned n)
{
	return (unsigned)(rnd() % n);
}
static bool chance(unsigned pct)
{
	return rn(100) < pct;
}

/* ---- one case: memory writes and a state, the same for both sides ---- */
struct memw {
	uint64_t gpa;
	uint64_t v;
};
static struct memw mw[4096];
static unsigned nmw;
static uint8_t code[4096];
static unsigned clen;
static struct vmm_cpu_state st0;

static void w64(uint64_t gpa, uint64_t v)
{
	if (nmw < sizeof(mw) / sizeof(mw[0]))
		mw[nmw++] = (struct memw){gpa, v};
}
static void e(unsigned n, ...)
{
	va_list ap;
	va_start(ap, n);
	for (unsigned k = 0; k < n && clen < sizeof(code); k++)
		code[clen++] = (uint8_t)va_arg(ap, int);
	va_end(ap);
}
static void e32(uint32_t v)
{
	for (int k = 0; k < 4; k++)
		e(1, (int)((v >> (8 * k)) & 0xff));
}
static void e64(uint64_t v)
{
	e32((uint32_t)v);
	e32((uint32_t)(v >> 32));
}

/* ---- mmu ---- */
static uint64_t rand_flags(bool leaf)
{
	uint64_t f = 0;
	if (chance(88))
		f |= 1;
	if (chance(70))
		f |= 2;
	if (chance(75))
		f |= 4;
	if (chance(30))
		f |= 0x20; /* A */
	if (leaf && chance(30))
		f |= 0x40; /* D */
	if (chance(15))
		f |= 1ull << 63; /* XD */
	if (chance(3))
		f |= 1ull << 51; /* reserved (MAXPHYADDR < 52 on both) */
	f |= (uint64_t)rn(8) << 9;  /* ignored */
	if (chance(20))
		f |= (uint64_t)rn(128) << 52; /* ignored (and PK: CR4.PKE=0) */
	if (leaf && chance(20))
		f |= 0x100; /* G, ignored without CR4.PGE */
	return f;
}

static void gen_mmu(void)
{
	uint64_t pd = PT_POOL;
	unsigned cpl = chance(70) ? 3 : 0;

	/* PDPT[1] -> PD (mostly present) */
	w64(ENV_PDPT + 8, pd | ((rand_flags(false) | 1) & ~(chance(5) ? 1ull : 0)));
	for (unsigned i = 0; i < 512; i++) {
		uint64_t v = 0;
		if (i < 4) {
			unsigned k = rn(10);
			if (k == 0) {
				v = rand_flags(false) & ~1ull;
			} else if (k <= 2) { /* 2 MiB page */
				v = DATA_POOL | 0x80 | rand_flags(true);
				if (chance(5))
					v |= 1ull << 13; /* reserved in a 2M PDE */
			} else {
				v = (PT_POOL + 0x1000 * (1 + rn(4))) |
				    rand_flags(false);
			}
		}
		w64(pd + 8 * i, v);
	}
	for (unsigned t = 1; t < PT_PAGES; t++)
		for (unsigned i = 0; i < 512; i++)
			w64(PT_POOL + 0x1000 * t + 8 * i,
			    i < 16 ? (DATA_POOL + 0x1000ull * rn(DATA_SIZE >> 12)) |
					     rand_flags(true)
				   : 0);

	env_state(&st0, ENV_LONG64, cpl);
	st0.msr.efer = chance(75) ? st0.msr.efer : st0.msr.efer & ~VMM_EFER_NXE;
	if (cpl == 0 && chance(40))
		st0.cr0 &= ~VMM_CR0_WP;
	st0.gpr[VMM_RCX] = 0xc3c3c3c3c3c3c3c3ull;
	unsigned n = 1 + rn(8);
	for (unsigned k = 0; k < n; k++) {
		uint64_t va = TVA + 0x200000ull * rn(4) + 0x1000ull * rn(16);
		va += chance(10) ? 0xffc : (rn(512) * 8);
		e(2, 0x48, 0xb8);
		e64(va);
		switch (rn(4)) {
		case 0: e(3, 0x48, 0x8b, 0x18); break;       /* mov rbx,[rax] */
		case 1: e(3, 0x48, 0x89, 0x08); break;       /* mov [rax],rcx */
		case 2: e(4, 0xf0, 0x48, 0x09, 0x08); break; /* lock or */
		default: e(2, 0xff, 0xd0); break;            /* call rax */
		}
	}
}

/* ---- seg (compatibility mode, CPL0) ---- */
static uint64_t seg_desc(uint32_t base, uint32_t limit, unsigned type,
			 unsigned dpl, unsigned p, unsigned l, unsigned db,
			 unsigned g)
{
	return (limit & 0xffffull) | ((uint64_t)(base & 0xffffff) << 16) |
	       ((uint64_t)(type & 0x1f) << 40) | ((uint64_t)dpl << 45) |
	       ((uint64_t)p << 47) | ((uint64_t)((limit >> 16) & 0xf) << 48) |
	       ((uint64_t)l << 53) | ((uint64_t)db << 54) |
	       ((uint64_t)g << 55) | ((uint64_t)(base >> 24) << 56);
}

static uint16_t rand_sel(void)
{
	unsigned k = rn(20);
	if (k == 0)
		return (uint16_t)rn(4); /* null, any RPL */
	if (k == 1) { /* beyond limit */
		unsigned i = rn(8);
		return (uint16_t)(0x80 + 8 * i + rn(4));
	}
	if (k == 2) { /* LDT: null LDTR */
		unsigned i = rn(16);
		return (uint16_t)(0x8 * i + 4 + rn(4));
	}
	if (k <= 5) {
		/* not the flat base-0 data selectors: stores through them at
		 * small offsets would rewrite the live page tables, after
		 * which the backends legitimately differ (stale TLB) */
		unsigned i = 1 + rn(9);
		if (i == 2 || i == 3)
			i = 10;
		return (uint16_t)(8 * i + (chance(80) ? 0 : rn(4)));
	}
	unsigned slot = rn(GDT_SLOTS);
	return (uint16_t)(0x50 + 8 * slot + (chance(70) ? 0 : rn(4)));
}

static void gen_seg(void)
{
	for (unsigned s = 0; s < GDT_SLOTS; s++) {
		uint64_t d;
		unsigned k = rn(10);
		unsigned p = chance(90), dpl = rn(4);
		dpl &= chance(60) ? 0 : 3;
		if (k < 6) { /* data */
			uint32_t base = SEG_AREA + 0x1000 * rn(64);
			uint32_t lim = (const uint32_t[]){0xfff, 0xffff, 0x1fff,
							  0xfffff, 0x7}[rn(5)];
			/* drawn in the order gcc evaluated the arguments
			 * when the campaigns' seeds were recorded (right to
			 * left), now explicit: a seed is the same case with
			 * every compiler */
			unsigned g = lim == 0xfffff ? 0 : chance(20);
			unsigned db = chance(60);
			unsigned type = 0x10 | rn(8);
			d = seg_desc(base, lim, type, dpl, p, 0, db, g);
		} else if (k < 9) { /* code, base 0 */
			unsigned db = chance(80), l = chance(15);
			unsigned type = 0x18 | rn(8);
			uint32_t lim = chance(70) ? 0xfffff : 0xfff;
			d = seg_desc(0, lim, type, dpl, p, l, db, 1);
			if ((d >> 53 & 1) && (d >> 54 & 1))
				d &= ~(1ull << 54); /* L and D: reserved */
		} else { /* system */
			d = seg_desc(ENV_TSS, 0x67, rn(16), dpl, p, 0, 0, 0);
		}
		w64(ENV_GDT + 0x50 + 8 * s, d);
	}
	for (unsigned k = 0; k < 8; k++) {
		w64(FARPTRS + 8 * k, (uint64_t)rand_sel() << 32);
	}
	env_state(&st0, ENV_COMPAT32, 0);
	st0.gdtr.limit = 0x7f;
	/* the data segments start at SEG_AREA (a cached base that differs
	 * from the descriptor's is a legal state): random offsets must not
	 * reach the page tables, whose stale TLB entries one backend may
	 * use and the other not */
	for (int sr = VMM_ES; sr <= VMM_GS; sr++)
		if (sr != VMM_CS && sr != VMM_SS)
			st0.seg[sr].base = SEG_AREA;
	st0.gpr[VMM_RSP] = ENV_STACK;
	unsigned n = 1 + rn(12);
	/* a case either loads SS or makes far transfers, not both: KVM's
	 * emulator pushes the return address of a far CALL into 64-bit code
	 * with the new mode's stack rules (base 0, 64-bit RSP) where the SDM
	 * pushes before CS changes (old SS base and size) */
	bool far_case = chance(50);
	for (unsigned k = 0; k < n; k++) {
		static const uint8_t sreg_pfx[] = {0x26, 0x2e, 0x36, 0x3e,
						   0x64, 0x65};
		static const uint32_t offs[] = {0, 0xff0, 0xffc, 0xffd, 0x1000,
						0xfffc, 0xfffe, 0x10000, 0x6,
						0x1ffc};
		switch (rn(9)) {
		case 0: /* mov bx, sel; mov sreg, bx (not CS) */
		case 1: {
			static const uint8_t r[] = {0, 3, 4, 5, 2}; /* ES DS FS GS SS */
			uint16_t sel = rand_sel();
			e(4, 0x66, 0xbb, sel & 0xff, sel >> 8);
			e(2, 0x8e, 0xc3 | (r[rn(far_case ? 4 : 5)] << 3));
			break;
		}
		case 2: /* mov esi, off; mov eax, seg:[esi] */
		case 3: {
			e(1, 0xbe);
			e32(offs[rn(10)]);
			/* SS stays flat (64-bit code ignores its base): no
			 * stores through it at these offsets */
			uint8_t pf = sreg_pfx[rn(6)];
			e(3, pf, rn(2) || pf == 0x36 ? 0x8b : 0x89, 0x06);
			break;
		}
		case 4: /* mov esp, off; push / pop */
			e(1, 0xbc);
			e32(chance(50) ? offs[rn(10)] : ENV_STACK);
			e(1, chance(50) ? 0x50 : 0x58);
			e(1, 0xbc);
			e32(ENV_STACK);
			break;
		case 5: /* lcall / ljmp cs:[farptr k]; ljmp target = next */
		{
			if (!far_case)
				break;
			unsigned p = rn(8);
			bool call = chance(60);
			uint32_t next = ENV_CODE + clen + 7 + (call ? 0 : 0);
			w64(FARPTRS + 8 * p,
			    ((uint64_t)rand_sel() << 32) | (call ? LRET_STUB : next));
			e(3, 0x2e, 0xff, call ? 0x1d : 0x2d);
			e32(FARPTRS + 8 * p);
			break;
		}
		case 6: { /* lar / lsl eax, bx; verr / verw bx */
			uint16_t sel = rand_sel();
			e(4, 0x66, 0xbb, sel & 0xff, sel >> 8);
			switch (rn(4)) {
			case 0: e(3, 0x0f, 0x02, 0xc3); break;
			case 1: e(3, 0x0f, 0x03, 0xc3); break;
			case 2: e(3, 0x0f, 0x00, 0xe3); break;
			default: e(3, 0x0f, 0x00, 0xeb); break;
			}
			break;
		}
		case 7: /* mov eax, sreg */
			e(2, 0x8c, 0xc0 | (rn(6) << 3));
			break;
		default: /* flags: pushf; pop eax */
			e(2, 0x9c, 0x58);
			break;
		}
	}
}

/* ---- priv (CPL3, 64-bit) ---- */
/*
 * On the nested kvm_pvm host guest CPL3 runs in host user mode: it always
 * has IOPL 0 (PUSHF shows 0, CLI/STI/POPF act as with IOPL 0), CR4.TSD is
 * ignored, and WBINVD, MOV CR3, INVLPG, LGDT at CPL3 do not fault there.
 * With pvm_host the generator leaves those out (docs/conformance.md).
 */
static bool pvm_host;

static void gen_priv(void)
{
	env_state(&st0, ENV_LONG64, 3);
	st0.rflags = 0x202 | (pvm_host ? 0 : (uint64_t)rn(4) << 12);
	if (!pvm_host && chance(30))
		st0.cr4 |= 1ull << 2; /* TSD */
	/* I/O bitmap: ports 0x80-0xbf randomly denied */
	for (unsigned k = 0; k < 8; k++)
		w64(ENV_TSS + 0x68 + 0x80 / 8 + k, chance(50) ? rnd() : 0);
	unsigned n = 1 + rn(6);
	for (unsigned k = 0; k < n; k++) {
		unsigned op = rn(16);
		while (pvm_host && (op == 4 || op == 6 || op == 7 || op == 10))
			op = rn(16);
		switch (op) {
		case 0: e(1, 0xf4); break;                    /* hlt */
		case 1: e(1, 0xfa); break;                    /* cli */
		case 2: e(1, 0xfb); break;                    /* sti */
		case 3: e(3, 0x0f, 0x20, 0xc0); break;        /* mov rax, cr0 */
		case 4: e(3, 0x0f, 0x22, 0xd8); break;        /* mov cr3, rax */
		case 5: e(7, 0xb9, 0x10, 0, 0, 0, 0x0f, 0x32); break; /* rdmsr */
		case 6: e(3, 0x0f, 0x01, 0x10); break;        /* lgdt [rax] */
		case 7: e(3, 0x0f, 0x01, 0x38); break;        /* invlpg [rax] */
		case 8: e(3, 0x0f, 0x21, 0xc0); break;        /* mov rax, dr0 */
		case 9: e(2, 0x0f, 0x06); break;              /* clts */
		case 10: e(2, 0x0f, 0x09); break;             /* wbinvd */
		case 11: e(2, 0x0f, 0x33); break;             /* rdpmc */
		case 12: e(2, 0x0f, 0x31); break;             /* rdtsc */
		case 13: e(2, 0xe4, 0x80 + rn(0x40)); break;  /* in al, port */
		case 14: /* push imm32; popf; pushf; pop rbx */
			e(1, 0x68);
			e32((uint32_t)(rnd() & 0x2c7fd5u & ~0x100u));
			e(4, 0x9d, 0x9c, 0x5b, 0x90);
			break;
		default: e(2, 0x0f, 0x0b); break;             /* ud2 */
		}
	}
}

/* ---- running a side ---- */
struct side {
	vmm_vm *vm;
	vmm_vcpu *cpu;
	const char *name;
};

struct result {
	struct vmm_exit exit;
	struct vmm_cpu_state st;
	int vec;
	uint64_t err_code, frame_rip, frame_cs;
	uint64_t hash_pt, hash_data;
	/* the live identity-map paging structures (ENV_PML4 .. ENV_PT),
	 * accessed/dirty bits masked; ptw: the case changed them */
	uint64_t hash_live_pt;
	bool ptw;
	int err;
};

static vmm_vcpu *volatile running_cpu;
static void on_alarm(int sig)
{
	(void)sig;
	if (running_cpu)
		vmm_vcpu_kick(running_cpu);
}

static int side_create(struct side *sd, enum vmm_backend b)
{
	struct vmm_config cfg;
	int r;

	vmm_config_init(&cfg);
	cfg.backend = b;
	cfg.flags = VMM_CFG_NO_IRQCHIP;
	sd->name = vmm_backend_name(b);
	r = vmm_vm_create(&cfg, &sd->vm);
	if (r)
		return r;
	if ((r = vmm_mem_add_ram(sd->vm, 0, ENV_RAM)) ||
	    (r = vmm_vcpu_create(sd->vm, 0, &sd->cpu)))
		return r;
	return 0;
}

static uint64_t hash(vmm_vm *vm, uint64_t gpa, size_t len)
{
	static uint8_t b[DATA_SIZE];
	uint64_t h = 1469598103934665603ull;

	if (len > sizeof(b) || vmm_mem_read(vm, gpa, b, len))
		return 0;
	for (size_t k = 0; k < len; k++)
		h = (h ^ b[k]) * 1099511628211ull;
	return h;
}

/*
 * Hash of the random tree (PDPT[1] and the pool).  After a #PF the
 * accessed bits are left out (dirty bits are not): whether an access that
 * faults sets A on the entries its walk read is model-specific (the SDM
 * allows it; KVM here sets A on the entries of a supervisor write to a
 * read-only page, the soft walker only on a successful access).
 */
static uint64_t hash_tree(vmm_vm *vm, bool faulted, bool split)
{
	static uint64_t t[1 + PT_PAGES * 512];
	uint64_t h = 1469598103934665603ull;

	if (vmm_mem_read(vm, ENV_PDPT + 8, t, 8) ||
	    vmm_mem_read(vm, PT_POOL, t + 1, PT_PAGES * 4096))
		return 0;
	/* ... and after a #PF in the second page of a split access, the
	 * dirty bit of the first page too (whether it is set before the
	 * second page faults is model-specific) */
	if (faulted)
		for (size_t k = 0; k < sizeof(t) / 8; k++)
			t[k] &= split ? ~0x60ull : ~0x20ull;
	for (size_t k = 0; k < sizeof(t) / 8; k++)
		h = (h ^ t[k]) * 1099511628211ull;
	return h;
}

/*
 * Hash of the live paging structures of env.c (PML4, PDPT, PD and the
 * first PT: ENV_PML4 .. ENV_PT + 0xfff) with the accessed and dirty bits
 * masked (walks set them).  A case of the seg class can store into them:
 * a far JMP/CALL into a 64-bit code segment leaves compatibility mode,
 * after which DS/ES bases are ignored and a store at a small offset lands
 * at that linear address (seed 9100323 case 245: `es: mov [esi], eax`
 * with ESI = 0xffd clears PML4[0].P).  Without an INVLPG or CR3 write the
 * SDM lets the CPU go on using the old translation or not (Vol. 3A 4.10.4.3,
 * 4.10.5): what follows is not defined, so such a case is counted apart
 * (docs/difftest.md) when both sides made the same change, and compared
 * as a mismatch when they did not.
 */
static uint64_t hash_live_pt(vmm_vm *vm)
{
	static uint64_t t[4 * 512];
	uint64_t h = 1469598103934665603ull;

	if (vmm_mem_read(vm, ENV_PML4, t, sizeof(t)))
		return 0;
	for (size_t k = 0; k < sizeof(t) / 8; k++)
		h = (h ^ (t[k] & ~0x60ull)) * 1099511628211ull;
	return h;
}

static void run_side(struct side *sd, enum cls cls, struct result *res)
{
	uint64_t live_pt0 = 0;
	struct vmm_cpu_state st;

	memset(res, 0, sizeof(*res));
	res->vec = -1;
	/* everything a case may write, so no case sees an earlier one's
	 * stores (the KVM VM is sometimes a fresh one) */
	if ((res->err = vmm_mem_fill(sd->vm, 0, 0, 0x100000)) ||
	    (res->err = env_build_memory(sd->vm)) ||
	    (cls == CLS_MMU &&
	     (res->err = vmm_mem_fill(sd->vm, DATA_POOL, 0xc3, DATA_SIZE))) ||
	    (cls == CLS_SEG &&
	     (res->err = vmm_mem_fill(sd->vm, SEG_AREA, 0x5a, 0x80000))) ||
	    (res->err = vmm_mem_fill(sd->vm, ENV_CODE, 0x90, 0x1000)))
		return;
	/* every vector on IST1 = the kernel stack: frames land at a known
	 * place whatever RSP the case left */
	uint64_t ist1 = ENV_KSTACK;
	res->err = vmm_mem_write(sd->vm, ENV_TSS + 0x24, &ist1, 8);
	for (unsigned v = 0; v < 256 && !res->err; v++) {
		uint8_t one = 1;
		res->err = vmm_mem_write(sd->vm, ENV_IDT + 16 * v + 4, &one, 1);
	}
	for (unsigned k = 0; k < nmw && !res->err; k++)
		res->err = vmm_mem_write(sd->vm, mw[k].gpa, &mw[k].v, 8);
	uint8_t stop[2] = {0xe6, STOP_PORT}, lret = 0xcb;
	if (!res->err)
		res->err = vmm_mem_write(sd->vm, ENV_CODE, code, clen);
	if (!res->err)
		res->err = vmm_mem_write(sd->vm, ENV_CODE + clen, stop, 2);
	if (!res->err)
		res->err = vmm_mem_write(sd->vm, LRET_STUB, &lret, 1);
	if (res->err || (res->err = vmm_vcpu_get_state(sd->cpu, &st)))
		return;
	live_pt0 = hash_live_pt(sd->vm);
	memcpy(st.gpr, st0.gpr, sizeof(st.gpr));
	st.rip = st0.rip;
	st.rflags = st0.rflags;
	memcpy(st.seg, st0.seg, sizeof(st.seg));
	st.gdtr = st0.gdtr;
	st.idtr = st0.idtr;
	st.cr0 = st0.cr0;
	st.cr3 = st0.cr3;
	st.cr4 = st0.cr4;
	st.msr.efer = st0.msr.efer;
	st.dr7 = 0x400;
	st.cr2 = 0;
	if ((res->err = vmm_vcpu_set_state(sd->cpu, &st)))
		return;
	running_cpu = sd->cpu;
	alarm(5);
	res->err = vmm_vcpu_run(sd->cpu, &res->exit);
	alarm(0);
	running_cpu = NULL;
	if (!res->err)
		res->err = vmm_vcpu_get_state(sd->cpu, &res->st);
	if (res->err)
		return;
	/* the random tree and its root entry; not the fixed identity
	 * tables, whose accessed bits the system-structure accesses of the
	 * exception delivery set too */
	if (cls == CLS_MMU) {
		bool pf = res->exit.kind == VMM_EXIT_HLT &&
			  env_vector_of(res->st.rip) == 14;
		res->hash_pt = hash_tree(sd->vm, pf,
					 pf && (res->st.cr2 >> 12) !=
						 (res->st.gpr[VMM_RAX] >> 12));
		res->hash_data = hash(sd->vm, DATA_POOL, DATA_SIZE);
	} else if (cls == CLS_SEG) {
		res->hash_data = hash(sd->vm, SEG_AREA, 0x80000);
	}
	res->hash_live_pt = hash_live_pt(sd->vm);
	res->ptw = res->hash_live_pt != live_pt0;
	if (res->exit.kind == VMM_EXIT_HLT) {
		int v = env_vector_of(res->st.rip);
		res->vec = v;
		if (v >= 0) {
			bool ec = v == 8 || (v >= 10 && v <= 14) || v == 17;
			uint64_t f[3] = {0, 0, 0};
			uint64_t at = ENV_KSTACK - 40 - (ec ? 8 : 0);
			if (vmm_mem_read(sd->vm, at, f, ec ? 24 : 16))
				res->err = -EFAULT;
			res->err_code = ec ? f[0] : 0;
			res->frame_rip = ec ? f[1] : f[0];
			res->frame_cs = ec ? f[2] : f[1];
		}
	}
}

static const char *compare(enum cls c, const struct result *a,
			   const struct result *b, char *buf, size_t len)
{
	/* different stores into the live paging structures: a mismatch
	 * whatever happened next */
	if (a->hash_live_pt != b->hash_live_pt)
		return "live paging structures differ";
	/* both hung (kicked by the watchdog at arbitrary points) */
	if (a->exit.kind == VMM_EXIT_INTERRUPTED &&
	    b->exit.kind == VMM_EXIT_INTERRUPTED)
		return NULL;
	if (a->exit.kind != b->exit.kind)
		return snprintf(buf, len, "exit %s vs %s",
				vmm_exit_name(a->exit.kind),
				vmm_exit_name(b->exit.kind)), buf;
	if (a->exit.kind == VMM_EXIT_IO &&
	    (a->exit.io.port != b->exit.io.port ||
	     a->exit.io.is_write != b->exit.io.is_write))
		return snprintf(buf, len, "io port 0x%x vs 0x%x",
				a->exit.io.port, b->exit.io.port), buf;
	if (a->vec != b->vec)
		return snprintf(buf, len, "vector %d vs %d", a->vec, b->vec), buf;
	/* an access split over two pages that both fault: which page the
	 * CPU translates first is model-specific (the SDM does not say) */
	if (a->vec == 14 && b->vec == 14 && a->frame_rip == b->frame_rip &&
	    (a->st.cr2 >> 12) != (b->st.cr2 >> 12) &&
	    ((a->st.cr2 >> 12) + 1 == (b->st.cr2 >> 12) ||
	     (b->st.cr2 >> 12) + 1 == (a->st.cr2 >> 12)))
		return NULL;
	if (a->vec >= 0 && (a->err_code != b->err_code ||
			    a->frame_rip != b->frame_rip ||
			    a->frame_cs != b->frame_cs))
		return snprintf(buf, len,
				"frame error 0x%llx rip 0x%llx cs 0x%llx vs "
				"0x%llx 0x%llx 0x%llx",
				(unsigned long long)a->err_code,
				(unsigned long long)a->frame_rip,
				(unsigned long long)a->frame_cs,
				(unsigned long long)b->err_code,
				(unsigned long long)b->frame_rip,
				(unsigned long long)b->frame_cs), buf;
	if (a->vec == 14 && a->st.cr2 != b->st.cr2)
		return snprintf(buf, len, "cr2 0x%llx vs 0x%llx",
				(unsigned long long)a->st.cr2,
				(unsigned long long)b->st.cr2), buf;
	static const int regs[] = {VMM_RAX, VMM_RBX, VMM_RCX, VMM_RSI,
				   VMM_RDI};
	for (unsigned k = 0; k < sizeof(regs) / sizeof(regs[0]); k++) {
		uint64_t x = a->st.gpr[regs[k]], y = b->st.gpr[regs[k]];
		if (c == CLS_PRIV && regs[k] == VMM_RAX)
			continue; /* rdtsc / rdmsr / cr0 values differ */
		if (c == CLS_PRIV && regs[k] == VMM_RDX)
			continue;
		if (x != y)
			return snprintf(buf, len, "reg %d 0x%llx vs 0x%llx",
					regs[k], (unsigned long long)x,
					(unsigned long long)y), buf;
	}
	if (a->vec < 0) {
		uint64_t fm = 0x8d5 | 0x200; /* not IOPL: kvm_pvm shows 0 */
		if ((a->st.rflags & fm) != (b->st.rflags & fm))
			return snprintf(buf, len, "rflags 0x%llx vs 0x%llx",
					(unsigned long long)a->st.rflags,
					(unsigned long long)b->st.rflags), buf;
		for (int s = VMM_ES; s <= VMM_GS; s++)
			if (a->st.seg[s].selector != b->st.seg[s].selector)
				return snprintf(buf, len,
						"seg %d selector 0x%x vs 0x%x", s,
						a->st.seg[s].selector,
						b->st.seg[s].selector), buf;
	}
	if (a->hash_pt != b->hash_pt)
		return "paging structures (A/D bits) differ";
	if (a->hash_data != b->hash_data)
		return "data memory differs";
	return NULL;
}

static void dump_result(const char *name, const struct result *r)
{
	fprintf(stderr,
		"  %s: exit %s port 0x%x vec %d err 0x%llx frame rip 0x%llx "
		"cs 0x%llx cr2 0x%llx rip 0x%llx rflags 0x%llx rax 0x%llx "
		"rbx 0x%llx rsi 0x%llx ds 0x%x ss 0x%x\n",
		name, vmm_exit_name(r->exit.kind), r->exit.io.port, r->vec,
		(unsigned long long)r->err_code,
		(unsigned long long)r->frame_rip,
		(unsigned long long)r->frame_cs,
		(unsigned long long)r->st.cr2, (unsigned long long)r->st.rip,
		(unsigned long long)r->st.rflags,
		(unsigned long long)r->st.gpr[VMM_RAX],
		(unsigned long long)r->st.gpr[VMM_RBX],
		(unsigned long long)r->st.gpr[VMM_RSI],
		r->st.seg[VMM_DS].selector, r->st.seg[VMM_SS].selector);
}

/* the paging-structure entries that differ between the two VMs */
static void dump_pt_diff(vmm_vm *a, vmm_vm *b)
{
	for (uint64_t g = PT_POOL; g < PT_POOL + PT_PAGES * 4096; g += 8) {
		uint64_t x = 0, y = 0;
		if (vmm_mem_read(a, g, &x, 8) || vmm_mem_read(b, g, &y, 8))
			return;
		if (x != y)
			fprintf(stderr, "  entry at 0x%llx: soft 0x%llx kvm 0x%llx\n",
				(unsigned long long)g, (unsigned long long)x,
				(unsigned long long)y);
	}
}

/* the entries that translate @va (PDPTE, PDE, PTE) as stored in @vm */
static void dump_walk(const char *name, vmm_vm *vm, uint64_t va)
{
	uint64_t pdpte = 0, pde = 0, pte = 0;
	if (vmm_mem_read(vm, ENV_PDPT + 8 * ((va >> 30) & 511), &pdpte, 8) ||
	    vmm_mem_read(vm, (pdpte & 0xffffff000ull) + 8 * ((va >> 21) & 511),
			 &pde, 8))
		return;
	if (!(pde & 0x80) &&
	    vmm_mem_read(vm, (pde & 0xffffff000ull) + 8 * ((va >> 12) & 511),
			 &pte, 8))
		pte = ~0ull;
	fprintf(stderr, "  %s walk of 0x%llx: pdpte 0x%llx pde 0x%llx pte 0x%llx\n",
		name, (unsigned long long)va, (unsigned long long)pdpte,
		(unsigned long long)pde, (unsigned long long)pte);
}

static void dump_case(void)
{
	fprintf(stderr, "  code:");
	for (unsigned k = 0; k < clen; k++)
		fprintf(stderr, " %02x", code[k]);
	fprintf(stderr, "\n");
}

/* case @n of @seed into code[], mw[] and st0 */
static void gen_case(enum cls cls, unsigned long seed, unsigned long n)
{
	rng = (seed * 0x9e3779b97f4a7c15ull) ^ (n + 1) * 0xd1b54a32d192ed03ull;
	for (int k = 0; k < 4; k++)
		rnd();
	nmw = 0;
	clen = 0;
	memset(&st0, 0, sizeof(st0));
	switch (cls) {
	case CLS_MMU: gen_mmu(); break;
	case CLS_SEG: gen_seg(); break;
	default: gen_priv(); break;
	}
}

/*
 * --gen-only: one line per case with a hash of what was generated (code,
 * memory writes, initial state), nothing run.  Two builds (gcc, clang)
 * must print the same: a seed names the same case everywhere.
 */
static int gen_hashes(enum cls cls, unsigned long seed, unsigned long first,
		      unsigned long cases, const char *expect)
{
	uint64_t all = 1469598103934665603ull;

	for (unsigned long n = first; n < first + cases; n++) {
		uint64_t h = 1469598103934665603ull;
		const uint8_t *p;
		gen_case(cls, seed, n);
		p = code;
		for (unsigned k = 0; k < clen; k++)
			h = (h ^ p[k]) * 1099511628211ull;
		p = (const uint8_t *)mw;
		for (size_t k = 0; k < nmw * sizeof(mw[0]); k++)
			h = (h ^ p[k]) * 1099511628211ull;
		p = (const uint8_t *)&st0;
		for (size_t k = 0; k < sizeof(st0); k++)
			h = (h ^ p[k]) * 1099511628211ull;
		printf("case %lu %016llx\n", n, (unsigned long long)h);
		all = (all ^ h) * 1099511628211ull;
	}
	printf("all %016llx\n", (unsigned long long)all);
	if (expect && strtoull(expect, NULL, 16) != all) {
		printf("FAIL: the generator made other cases than expected "
		       "(%s): argument evaluation order, or a changed "
		       "generator?\n", expect);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"class", required_argument, NULL, 'c'},
		{"cases", required_argument, NULL, 'n'},
		{"seed", required_argument, NULL, 's'},
		{"only-soft", no_argument, NULL, 'o'},
		{"verbose", no_argument, NULL, 'v'},
		{"first", required_argument, NULL, 'f'},
		{"expect-ptw", required_argument, NULL, 'p'},
		{"gen-only", no_argument, NULL, 'g'},
		{"expect-hash", required_argument, NULL, 'H'},
		{NULL, 0, NULL, 0},
	};
	enum cls cls = CLS_MMU;
	unsigned long cases = 1000, seed = 1, first = 0;
	bool only_soft = false, verbose = false;
	long expect_ptw = -1;
	bool gen_only = false;
	const char *expect_hash = NULL;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			cls = !strcmp(optarg, "mmu") ? CLS_MMU :
			      !strcmp(optarg, "seg") ? CLS_SEG :
			      !strcmp(optarg, "priv") ? CLS_PRIV : (enum cls)-1;
			if ((int)cls < 0) {
				fprintf(stderr, "unknown class %s\n", optarg);
				return 2;
			}
			break;
		case 'n': cases = strtoul(optarg, NULL, 0); break;
		case 's': seed = strtoul(optarg, NULL, 0); break;
		case 'o': only_soft = true; break;
		case 'v': verbose = true; break;
		case 'f': first = strtoul(optarg, NULL, 0); break;
		case 'p': expect_ptw = strtol(optarg, NULL, 0); break;
		case 'g': gen_only = true; break;
		case 'H': expect_hash = optarg; break;
		default: return 2;
		}
	}
	static const char *const names[] = {"mmu", "seg", "priv"};
	struct side kvm = {0}, soft = {0};
	int r;

	if (gen_only)
		return gen_hashes(cls, seed, first, cases, expect_hash);
	if (!only_soft && vmm_backend_available(VMM_BACKEND_KVM) < 0) {
		printf("SKIP: no KVM (use --only-soft)\n");
		return 77;
	}
	signal(SIGALRM, on_alarm);
	pvm_host = !only_soft && access("/sys/module/kvm_pvm", F_OK) == 0;
	if (pvm_host && cls == CLS_PRIV) {
		/* measured: guest CPL3 there is host user mode; UD2, CLTS,
		 * STI, WBINVD, MOV CR3, INVLPG at CPL3 do not raise the
		 * SDM's exception, IOPL reads 0, CR4.TSD is ignored */
		printf("SKIP: kvm_pvm cannot be the oracle for privileged "
		       "instructions at CPL3 (docs/conformance.md); run "
		       "--only-soft or on a non-nested KVM host\n");
		vmm_vm_destroy(soft.vm);
		return 77;
	}
	if ((r = side_create(&soft, VMM_BACKEND_SOFT)) ||
	    (!only_soft && (r = side_create(&kvm, VMM_BACKEND_KVM)))) {
		fprintf(stderr, "FAIL: creating the VMs: %s\n", vmm_strerror(r));
		return 1;
	}
	unsigned long done = 0, incapable = 0, mismatches = 0, faults = 0;
	unsigned long ptw = 0;
	for (unsigned long n = first; n < first + cases; n++) {
		struct result a, b;
		char why[256];
		const char *d;

		gen_case(cls, seed, n);
		run_side(&soft, cls, &a);
		if (a.err) {
			fprintf(stderr, "FAIL case %lu: soft side error %s\n", n,
				vmm_strerror(a.err));
			return 1;
		}
		if (a.exit.kind == VMM_EXIT_INTERNAL) {
			printf("MISMATCH class %s seed %lu case %lu: soft stopped "
			       "(%s)\n", names[cls], seed, n, a.exit.internal.msg);
			dump_case();
			mismatches++;
			continue;
		}
		if (only_soft) {
			done++;
			faults += a.vec >= 0;
			continue;
		}
		if (cls == CLS_MMU) {
			/* a fresh KVM VM: its shadow MMU keeps shadow pages of
			 * the guest page tables the previous case wrote from
			 * user space, which KVM does not see (a guest's own
			 * writes it tracks) */
			vmm_vm_destroy(kvm.vm);
			if ((r = side_create(&kvm, VMM_BACKEND_KVM))) {
				fprintf(stderr, "FAIL: KVM VM: %s\n",
					vmm_strerror(r));
				return 1;
			}
		}
		run_side(&kvm, cls, &b);
		if (b.err) {
			fprintf(stderr, "FAIL case %lu: kvm side error %s\n", n,
				vmm_strerror(b.err));
			return 1;
		}
		if (b.exit.kind == VMM_EXIT_INTERNAL ||
		    b.exit.kind == VMM_EXIT_FAIL_ENTRY) {
			incapable++;
			if (verbose)
				printf("oracle-incapable case %lu: %s\n", n,
				       b.exit.internal.msg);
			/* KVM's vCPU after an emulation failure is not to be
			 * trusted for the next case (seen: a wrong register
			 * value dozens of cases later): a fresh VM */
			vmm_vm_destroy(kvm.vm);
			if ((r = side_create(&kvm, VMM_BACKEND_KVM))) {
				fprintf(stderr, "FAIL: KVM VM: %s\n",
					vmm_strerror(r));
				return 1;
			}
			continue;
		}
		if (a.ptw && b.ptw && a.hash_live_pt == b.hash_live_pt) {
			/* both stored the same into the live paging
			 * structures: stale-TLB use is the CPU's choice from
			 * here on (hash_live_pt()); not compared */
			ptw++;
			if (verbose)
				printf("case %lu wrote the live paging structures "
				       "(not compared)\n", n);
			vmm_vm_destroy(kvm.vm);
			if ((r = side_create(&kvm, VMM_BACKEND_KVM))) {
				fprintf(stderr, "FAIL: KVM VM: %s\n",
					vmm_strerror(r));
				return 1;
			}
			continue;
		}
		done++;
		faults += a.vec >= 0;
		d = compare(cls, &a, &b, why, sizeof(why));
		if (d) {
			mismatches++;
			printf("MISMATCH class %s seed %lu case %lu: soft vs kvm: "
			       "%s\n", names[cls], seed, n, d);
			dump_case();
			if (verbose) {
				dump_result("soft", &a);
				dump_result("kvm ", &b);
				dump_pt_diff(soft.vm, kvm.vm);
				for (unsigned k = 0; cls == CLS_SEG && k < nmw; k++)
					fprintf(stderr, "  mem 0x%llx = 0x%016llx\n",
						(unsigned long long)mw[k].gpa,
						(unsigned long long)mw[k].v);
				if (cls == CLS_MMU) {
					dump_walk("soft", soft.vm, a.st.gpr[VMM_RAX]);
					dump_walk("kvm ", kvm.vm, b.st.gpr[VMM_RAX]);
				}
			}
			if (mismatches > 20)
				break;
		}
	}
	printf("sysdiff class %s seed %lu: %lu compared, %lu ended in an "
	       "exception, %lu oracle-incapable, %lu wrote live paging "
	       "structures, %lu mismatches\n",
	       names[cls], seed, done, faults, incapable, ptw, mismatches);
	vmm_vm_destroy(soft.vm);
	if (kvm.vm)
		vmm_vm_destroy(kvm.vm);
	if (expect_ptw >= 0 && (unsigned long)expect_ptw != ptw) {
		printf("FAIL: %lu cases wrote the live paging structures, "
		       "expected %ld\n", ptw, expect_ptw);
		return 1;
	}
	return mismatches ? 1 : 0;
}
