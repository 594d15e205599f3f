/* SPDX-License-Identifier: MIT */
/*
 * test_pagewalk.c - guest page-table walks: page tables are built in guest
 * memory, the vCPU's CR0/CR3/CR4/EFER set through the state API, and
 * vmm_vcpu_translate() / vmm_gmem_walk() checked for every paging mode,
 * page size, permission rule and #PF error code.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/vm_impl.h"

#include <stdlib.h>
#include <string.h>

#define P (1ull << 0)
#define W (1ull << 1)
#define U (1ull << 2)
#define A (1ull << 5)
#define D (1ull << 6)
#define PS (1ull << 7)
#define PAT4K (1ull << 7)
#define PAT2M (1ull << 12)
#define NX (1ull << 63)
#define PTE_ADDR_MASK_T 0x000ffffffffff000ull
#define PWU (P | W | U)

#define EC_P 0x1u
#define EC_W 0x2u
#define EC_U 0x4u
#define EC_RSVD 0x8u
#define EC_I 0x10u
#define EC_PK 0x20u

#define AW VMM_ACCESS_WRITE
#define AU VMM_ACCESS_USER
#define AX VMM_ACCESS_EXEC

#define RAM_SIZE (16ull << 20)
#define OUTSIDE 0x40000000ull /* not RAM */

#define CR0_PM (VMM_CR0_PE | VMM_CR0_PG)
#define EFER_LM (VMM_EFER_LME | VMM_EFER_LMA)

struct fixture {
	vmm_vm *vm;
	vmm_vcpu *vcpu;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct vmm_config cfg;

	vmm_config_init(&cfg);
	cfg.ram_size = RAM_SIZE;
	assert_int_equal(vmm__vm_create_null(&cfg, &f->vm), 0);
	assert_int_equal(vmm_vcpu_create(f->vm, 0, &f->vcpu), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vmm_vm_destroy(f->vm);
	free(f);
	return 0;
}

static void w64(vmm_vm *vm, uint64_t gpa, uint64_t v)
{
	assert_int_equal(vmm_mem_write(vm, gpa, &v, 8), 0);
}

static void w32(vmm_vm *vm, uint64_t gpa, uint32_t v)
{
	assert_int_equal(vmm_mem_write(vm, gpa, &v, 4), 0);
}

static uint64_t r64(vmm_vm *vm, uint64_t gpa)
{
	uint64_t v;

	assert_int_equal(vmm_mem_read(vm, gpa, &v, 8), 0);
	return v;
}

static uint32_t r32(vmm_vm *vm, uint64_t gpa)
{
	uint32_t v;

	assert_int_equal(vmm_mem_read(vm, gpa, &v, 4), 0);
	return v;
}

static void set_mode(struct fixture *f, uint64_t cr0, uint64_t cr3,
		     uint64_t cr4, uint64_t efer)
{
	struct vmm_cpu_state st;

	assert_int_equal(vmm_vcpu_get_state(f->vcpu, &st), 0);
	st.cr0 = cr0;
	st.cr3 = cr3;
	st.cr4 = cr4;
	st.msr.efer = efer;
	assert_int_equal(vmm_vcpu_set_state(f->vcpu, &st), 0);
	/* tables live in [64K, 128K): start from empty ones */
	assert_int_equal(vmm_mem_fill(f->vm, 0x10000, 0, 0x10000), 0);
}

/* Translate through the public call; returns the gpa or ~0 on failure. */
static int xlate(struct fixture *f, uint64_t gva, unsigned acc, uint64_t *gpa)
{
	*gpa = 0xdeadull;
	return vmm_vcpu_translate(f->vcpu, gva, acc, gpa);
}

static uint64_t ok(struct fixture *f, uint64_t gva, unsigned acc)
{
	uint64_t gpa;

	assert_int_equal(xlate(f, gva, acc, &gpa), 0);
	return gpa;
}

/* The internal walk with the vCPU's current paging registers. */
static int walk(struct fixture *f, uint64_t gva, unsigned acc, bool set_ad,
		uint64_t *gpa, uint32_t *ec, uint64_t *psize)
{
	struct vmm_cpu_state st;
	struct vmm_paging p;

	assert_int_equal(vmm_vcpu_get_state(f->vcpu, &st), 0);
	p = (struct vmm_paging){ st.cr0, st.cr3, st.cr4, st.msr.efer, 0 };
	*ec = 0xdead;
	*gpa = 0xdeadull;
	return vmm_gmem_walk(&f->vm->mem, &p, gva, acc, set_ad, gpa, ec, psize);
}

/* The internal walk with an explicit MAXPHYADDR. */
static int walk_m(struct fixture *f, unsigned maxpa, uint64_t gva,
		  unsigned acc, bool set_ad, uint64_t *gpa, uint32_t *ec)
{
	struct vmm_cpu_state st;
	struct vmm_paging p;

	assert_int_equal(vmm_vcpu_get_state(f->vcpu, &st), 0);
	p = (struct vmm_paging){ st.cr0, st.cr3, st.cr4, st.msr.efer, 0,
				 maxpa };
	*ec = 0xdead;
	*gpa = 0xdeadull;
	return vmm_gmem_walk(&f->vm->mem, &p, gva, acc, set_ad, gpa, ec, NULL);
}

/* error code of a walk with MAXPHYADDR @maxpa that must fault */
static uint32_t pf_m(struct fixture *f, unsigned maxpa, uint64_t gva,
		     unsigned acc)
{
	uint64_t gpa;
	uint32_t ec;

	assert_int_equal(walk_m(f, maxpa, gva, acc, false, &gpa, &ec),
			 -EFAULT);
	return ec;
}

/* gpa of a walk with MAXPHYADDR @maxpa that must succeed (a macro so a
 * failure names the caller's line) */
#define ok_m(f, maxpa, gva, acc) ({					\
	uint64_t gpa_;							\
	uint32_t ec_;							\
	assert_int_equal(walk_m(f, maxpa, gva, acc, false, &gpa_, &ec_), 0); \
	gpa_;								\
})

/* #PF error code of a walk that must fault. */
static uint32_t pf(struct fixture *f, uint64_t gva, unsigned acc)
{
	uint64_t gpa, ps;
	uint32_t ec;

	assert_int_equal(walk(f, gva, acc, false, &gpa, &ec, &ps), -EFAULT);
	/* the public call agrees */
	assert_int_equal(xlate(f, gva, acc, &gpa), -EFAULT);
	return ec;
}

/*
 * 64-bit tables at fixed pages: level 5 at 0x10000, 4 at 0x11000, 3 at
 * 0x12000, 2 at 0x13000, 1 at 0x14000.  PAE uses levels 2 and 1 below a
 * PDPT at 0x10020 (32-byte aligned, not page aligned).
 */
static uint64_t tbl(int level)
{
	return 0x10000 + (uint64_t)(5 - level) * 0x1000;
}

static uint64_t ent(int level, uint64_t gva)
{
	return tbl(level) + ((gva >> (12 + 9 * (level - 1))) & 0x1ff) * 8;
}

/* Map @gva: tables from @top down, @leaf at @leaf_level. */
static void map64(struct fixture *f, int top, uint64_t gva, int leaf_level,
		  uint64_t leaf, uint64_t flags)
{
	for (int l = top; l > leaf_level; l--)
		w64(f->vm, ent(l, gva), tbl(l - 1) | flags);
	w64(f->vm, ent(leaf_level, gva), leaf);
}

#define PDPT_PAE 0x10020ull
#define PD32 0x15000ull
#define PT32 0x16000ull

static uint64_t ent32(int level, uint64_t gva)
{
	return level == 2 ? PD32 + ((gva >> 22) & 0x3ff) * 4
			  : PT32 + ((gva >> 12) & 0x3ff) * 4;
}

/* ---- paging off -------------------------------------------------------- */

static void test_paging_off(void **state)
{
	struct fixture *f = *state;
	uint64_t gpa, ps = 77;
	uint32_t ec;

	/* reset state: real mode */
	assert_int_equal(ok(f, 0x12345, 0), 0x12345);
	assert_int_equal(ok(f, 0xfffffff0, AW | AU | AX), 0xfffffff0);
	assert_int_equal(ok(f, 0x123456789ull, 0), 0x23456789);
	assert_int_equal(walk(f, 0x1000, 0, false, &gpa, &ec, &ps), 0);
	assert_int_equal(ps, 0);
	/* protected mode without paging: identity, truncated to 32 bits */
	set_mode(f, VMM_CR0_PE, 0x15000, VMM_CR4_PAE, 0);
	assert_int_equal(ok(f, 0xffffffffc0001234ull, AW), 0xc0001234);
	assert_int_equal(ok(f, 0x100000000ull, 0), 0);
	/* PG without PE is not paging */
	set_mode(f, VMM_CR0_PG, 0x15000, 0, 0);
	assert_int_equal(ok(f, 0x80001234, 0), 0x80001234);
	assert_int_equal(vmm_vcpu_translate(f->vcpu, 0, 0, NULL), -EINVAL);
	assert_int_equal(vmm_vcpu_translate(NULL, 0, 0, &gpa), -EINVAL);
}

/* ---- 32-bit paging --------------------------------------------------------- */

static void test_32bit(void **state)
{
	struct fixture *f = *state;
	const uint64_t gva = 0xc0801abc; /* PDE 0x302, PTE 0x001 */
	uint64_t gpa, ps;
	uint32_t ec;

	set_mode(f, CR0_PM, PD32, 0, 0);
	assert_int_equal(ent32(2, gva), PD32 + 0x302 * 4);
	w32(f->vm, ent32(2, gva), PT32 | PWU);
	w32(f->vm, ent32(1, gva), 0x00345000 | PWU);
	assert_int_equal(ok(f, gva, 0), 0x345abc);
	assert_int_equal(ok(f, gva + 0x543, AW | AU), 0x345fff);
	/* the linear address is 32 bits wide */
	assert_int_equal(ok(f, 0x1c0801abcull, 0), 0x345abc);
	assert_int_equal(walk(f, gva, 0, false, &gpa, &ec, &ps), 0);
	assert_int_equal(ps, 4096);
	assert_int_equal(gpa, 0x345abc);

	/* neighbouring PTE / PDE not present */
	assert_int_equal(pf(f, gva + 0x1000, 0), 0);
	assert_int_equal(pf(f, gva + 0x1000, AW | AU), EC_W | EC_U);
	assert_int_equal(pf(f, gva + 0x400000, AU), EC_U);

	/* PS is ignored without CR4.PSE: the PDE points to a "table" outside
	 * RAM, which reads as all-ones (open bus): a present PTE for
	 * 0xfffff000 (32-bit PTEs have no reserved bits) */
	w32(f->vm, ent32(2, gva), 0x01c00000 | PWU | PS);
	assert_int_equal(ok(f, gva, AW | AU), 0xfffffabcull);

	/* page table outside RAM, page directory outside RAM */
	w32(f->vm, ent32(2, gva), (uint32_t)OUTSIDE | PWU);
	assert_int_equal(ok(f, gva, 0), 0xfffffabcull);
	assert_int_equal(walk(f, gva, 0, true, &gpa, &ec, &ps), 0);
	assert_int_equal(gpa, 0xfffffabcull);
	set_mode(f, CR0_PM, OUTSIDE, 0, 0);
	assert_int_equal(ok(f, gva, 0), 0xfffffabcull);
	/* with PSE the all-ones PDE is a 4 MiB page with bit 21 set:
	 * reserved */
	set_mode(f, CR0_PM, OUTSIDE, VMM_CR4_PSE, 0);
	assert_int_equal(pf(f, gva, AU), EC_P | EC_U | EC_RSVD);
}

static void test_32bit_pse(void **state)
{
	struct fixture *f = *state;
	const uint64_t gva = 0xc0801abc;
	uint64_t gpa, ps;
	uint32_t ec;

	set_mode(f, CR0_PM, PD32, VMM_CR4_PSE, 0);
	w32(f->vm, ent32(2, gva), 0x01c00000 | PWU | PS);
	assert_int_equal(ok(f, gva, AW | AU), 0x01c01abc);
	assert_int_equal(ok(f, 0xc0bfffff, 0), 0x01ffffff);
	assert_int_equal(walk(f, gva, 0, false, &gpa, &ec, &ps), 0);
	assert_int_equal(ps, 4ull << 20);
	/* PSE-36: PDE bits 13..20 are physical bits 32..39 */
	w32(f->vm, ent32(2, gva), 0x00400000 | (0x83u << 13) | P | PS);
	assert_int_equal(ok(f, gva, 0), 0x8300401abcull);
	/* a 4 KiB-mapped PDE still works with PSE on */
	w32(f->vm, ent32(2, gva), PT32 | PWU);
	w32(f->vm, ent32(1, gva), 0x00777000 | PWU);
	assert_int_equal(ok(f, gva, 0), 0x777abc);
}

static void test_32bit_perm(void **state)
{
	struct fixture *f = *state;
	const uint64_t gva = 0x00401000;

	set_mode(f, CR0_PM, PD32, 0, VMM_EFER_NXE);
	w32(f->vm, ent32(2, gva), PT32 | P | W);       /* supervisor PDE */
	w32(f->vm, ent32(1, gva), 0x00500000 | P | U); /* read-only PTE */
	assert_int_equal(ok(f, gva, 0), 0x500000);
	assert_int_equal(pf(f, gva, AU), EC_P | EC_U);
	/* supervisor write to read-only: allowed without WP */
	assert_int_equal(ok(f, gva, AW), 0x500000);
	/* no NX in 32-bit paging, and no I bit in its error codes */
	assert_int_equal(ok(f, gva, AX), 0x500000);
	assert_int_equal(pf(f, gva + 0x1000, AX), 0);
	set_mode(f, CR0_PM | VMM_CR0_WP, PD32, 0, 0);
	w32(f->vm, ent32(2, gva), PT32 | P | W | U);
	w32(f->vm, ent32(1, gva), 0x00500000 | P | U);
	assert_int_equal(pf(f, gva, AW), EC_P | EC_W);
	assert_int_equal(pf(f, gva, AW | AU), EC_P | EC_W | EC_U);
	assert_int_equal(ok(f, gva, AU), 0x500000);
}

/* ---- PAE -------------------------------------------------------------- */

static void test_pae(void **state)
{
	struct fixture *f = *state;
	const uint64_t gva = 0xc0801abc; /* PDPTE 3, PDE 4, PTE 1 */
	uint64_t gpa, ps;
	uint32_t ec;

	set_mode(f, CR0_PM, PDPT_PAE, VMM_CR4_PAE, 0);
	w64(f->vm, PDPT_PAE + 3 * 8, tbl(2) | P);
	assert_int_equal(ent(2, gva), tbl(2) + 4 * 8);
	assert_int_equal(ent(1, gva), tbl(1) + 1 * 8);
	w64(f->vm, ent(2, gva), tbl(1) | PWU);
	w64(f->vm, ent(1, gva), 0x123456000ull | PWU | PAT4K);
	/* physical addresses above 4 GiB */
	assert_int_equal(ok(f, gva, AW | AU | AX), 0x123456abcull);
	assert_int_equal(ok(f, 0xf00000000ull | gva, 0), 0x123456abcull);
	assert_int_equal(walk(f, gva, 0, false, &gpa, &ec, &ps), 0);
	assert_int_equal(ps, 4096);

	/* 2 MiB page; the PAT bit (12) is not an address bit */
	w64(f->vm, ent(2, gva), 0x40600000ull | PWU | PS | PAT2M);
	assert_int_equal(ok(f, gva, 0), 0x40601abcull);
	assert_int_equal(walk(f, gva, 0, false, &gpa, &ec, &ps), 0);
	assert_int_equal(ps, 2ull << 20);

	/* not present: PDPTE, PDE, PTE */
	assert_int_equal(pf(f, 0x00001000, AW), EC_W);
	w64(f->vm, ent(2, gva), tbl(1) | PWU);
	assert_int_equal(pf(f, gva + 0x1000, 0), 0);
	assert_int_equal(pf(f, gva + 0x200000, AU), EC_U);

	/* reserved bits in a PDPTE (R/W is reserved there) */
	w64(f->vm, PDPT_PAE + 3 * 8, tbl(2) | P | W);
	assert_int_equal(pf(f, gva, 0), EC_P | EC_RSVD);
	w64(f->vm, PDPT_PAE + 3 * 8, tbl(2) | P);

	/* NX: reserved without EFER.NXE, a fetch fault with it */
	w64(f->vm, ent(1, gva), 0x123456000ull | PWU | NX);
	assert_int_equal(pf(f, gva, 0), EC_P | EC_RSVD);
	set_mode(f, CR0_PM, PDPT_PAE, VMM_CR4_PAE, VMM_EFER_NXE);
	w64(f->vm, PDPT_PAE + 3 * 8, tbl(2) | P);
	w64(f->vm, ent(2, gva), tbl(1) | PWU);
	w64(f->vm, ent(1, gva), 0x123456000ull | PWU | NX);
	assert_int_equal(ok(f, gva, AW | AU), 0x123456abcull);
	assert_int_equal(pf(f, gva, AX), EC_P | EC_I);
	assert_int_equal(pf(f, gva, AX | AU), EC_P | EC_U | EC_I);
	/* a not-present fetch has the I bit too */
	assert_int_equal(pf(f, gva + 0x1000, AX), EC_I);

	/* page directory outside RAM: an all-ones PDE, bits 62:52 are
	 * reserved in PAE entries */
	w64(f->vm, PDPT_PAE + 3 * 8, OUTSIDE | P);
	assert_int_equal(pf(f, gva, 0), EC_P | EC_RSVD);
	/* the PDPT itself outside RAM */
	set_mode(f, CR0_PM, OUTSIDE, VMM_CR4_PAE, VMM_EFER_NXE);
	assert_int_equal(pf(f, gva, AW), EC_P | EC_W | EC_RSVD);
}

/* ---- 4-level and 5-level ------------------------------------------------- */

static const uint64_t GVA4 = (0xffull << 39) | (0x1a3ull << 30) |
			     (0x5cull << 21) | (0x1f7ull << 12) | 0xabc;

static void set_long(struct fixture *f, uint64_t cr0_extra, uint64_t cr4_extra,
		     uint64_t efer_extra)
{
	set_mode(f, CR0_PM | cr0_extra, tbl(4), VMM_CR4_PAE | cr4_extra,
		 EFER_LM | efer_extra);
}

static void test_4level_sizes(void **state)
{
	struct fixture *f = *state;
	uint64_t gpa, ps;
	uint32_t ec;

	set_long(f, 0, 0, 0);
	map64(f, 4, GVA4, 1, 0x12345000ull | PWU, PWU);
	assert_int_equal(ok(f, GVA4, AW | AU | AX), 0x12345abcull);
	assert_int_equal(walk(f, GVA4, 0, false, &gpa, &ec, &ps), 0);
	assert_int_equal(ps, 4096);
	/* the leaf's target need not be RAM; the tables are not modified */
	assert_int_equal(r64(f->vm, ent(1, GVA4)), 0x12345000ull | PWU);
	assert_int_equal(r64(f->vm, ent(4, GVA4)), tbl(3) | PWU);

	/* 2 MiB */
	w64(f->vm, ent(2, GVA4), 0x7fe00000ull | PWU | PS | PAT2M);
	assert_int_equal(ok(f, GVA4, 0), 0x7fe00000ull | (GVA4 & 0x1fffff));
	assert_int_equal(walk(f, GVA4, 0, false, &gpa, &ec, &ps), 0);
	assert_int_equal(ps, 2ull << 20);

	/* 1 GiB, above 4 GiB physical */
	w64(f->vm, ent(3, GVA4), 0x3c0000000ull | PWU | PS);
	assert_int_equal(ok(f, GVA4, AW), 0x3c0000000ull | (GVA4 & 0x3fffffff));
	assert_int_equal(walk(f, GVA4, 0, false, &gpa, &ec, &ps), 0);
	assert_int_equal(ps, 1ull << 30);

	/* PS in a PML4E is reserved */
	w64(f->vm, ent(4, GVA4), 0x8000000000ull | PWU | PS);
	assert_int_equal(pf(f, GVA4, 0), EC_P | EC_RSVD);

	/* upper half */
	const uint64_t hi = 0xffff800000201234ull; /* PML4 256, PD 1, PT 1 */
	map64(f, 4, hi, 1, 0x00abc000ull | P, P | W);
	assert_int_equal(ok(f, hi, 0), 0xabc234);
	/* same indices but not sign-extended: non-canonical */
	assert_int_equal(xlate(f, 0x0000800000201234ull, 0, &gpa), -EFAULT);
	assert_int_equal(walk(f, 0x0000800000201234ull, 0, false, &gpa, &ec,
			      &ps), -EFAULT);
	assert_int_equal(ec, 0); /* a #GP, not a page fault */
	assert_int_equal(ps, 0);
	assert_int_equal(xlate(f, 0xffff7fffffffffffull, 0, &gpa), -EFAULT);
	assert_int_equal(xlate(f, 0x8000000000000000ull, 0, &gpa), -EFAULT);
}

static void test_4level_not_present(void **state)
{
	struct fixture *f = *state;
	uint64_t gpa;

	set_long(f, 0, 0, 0);
	for (int level = 4; level >= 1; level--) {
		map64(f, 4, GVA4, 1, 0x12345000ull | PWU, PWU);
		assert_int_equal(ok(f, GVA4, 0), 0x12345abcull);
		/* present bit clear, everything else set */
		w64(f->vm, ent(level, GVA4), r64(f->vm, ent(level, GVA4)) & ~P);
		assert_int_equal(pf(f, GVA4, 0), 0);
		assert_int_equal(pf(f, GVA4, AW), EC_W);
		assert_int_equal(pf(f, GVA4, AU), EC_U);
		assert_int_equal(pf(f, GVA4, AW | AU), EC_W | EC_U);
	}
	/* tables outside RAM at each level read as all-ones: XD without
	 * NXE, PS in a PML4E or the low bits of a large page are reserved */
	for (int level = 4; level >= 2; level--) {
		map64(f, 4, GVA4, 1, 0x12345000ull | PWU, PWU);
		w64(f->vm, ent(level, GVA4), OUTSIDE | PWU);
		assert_int_equal(pf(f, GVA4, 0), EC_P | EC_RSVD);
	}
	set_mode(f, CR0_PM, 0xfff000000ull, VMM_CR4_PAE, EFER_LM);
	assert_int_equal(pf(f, GVA4, AU), EC_P | EC_U | EC_RSVD);
	(void)gpa;
}

static void test_4level_perm(void **state)
{
	struct fixture *f = *state;

	set_long(f, 0, 0, 0);
	/* supervisor-only at one middle level (PDPTE) */
	map64(f, 4, GVA4, 1, 0x12345000ull | PWU, PWU);
	w64(f->vm, ent(3, GVA4), tbl(2) | P | W);
	assert_int_equal(ok(f, GVA4, AW), 0x12345abcull);
	assert_int_equal(pf(f, GVA4, AU), EC_P | EC_U);
	assert_int_equal(pf(f, GVA4, AU | AW), EC_P | EC_W | EC_U);

	/* read-only at the leaf */
	map64(f, 4, GVA4, 1, 0x12345000ull | P | U, PWU);
	assert_int_equal(ok(f, GVA4, AU), 0x12345abcull);
	assert_int_equal(pf(f, GVA4, AU | AW), EC_P | EC_W | EC_U);
	assert_int_equal(ok(f, GVA4, AW), 0x12345abcull); /* CR0.WP = 0 */
	/* read-only at the top level only */
	map64(f, 4, GVA4, 1, 0x12345000ull | PWU, PWU);
	w64(f->vm, ent(4, GVA4), tbl(3) | P | U);
	assert_int_equal(pf(f, GVA4, AU | AW), EC_P | EC_W | EC_U);
	assert_int_equal(ok(f, GVA4, AW), 0x12345abcull);

	/* CR0.WP: supervisor writes obey R/W too */
	set_long(f, VMM_CR0_WP, 0, 0);
	map64(f, 4, GVA4, 1, 0x12345000ull | P | U, PWU);
	assert_int_equal(pf(f, GVA4, AW), EC_P | EC_W);
	assert_int_equal(ok(f, GVA4, 0), 0x12345abcull);
	w64(f->vm, ent(1, GVA4), 0x12345000ull | PWU);
	assert_int_equal(ok(f, GVA4, AW), 0x12345abcull);

	/* NX at a middle level: reserved without NXE */
	map64(f, 4, GVA4, 1, 0x12345000ull | PWU, PWU);
	w64(f->vm, ent(2, GVA4), tbl(1) | PWU | NX);
	assert_int_equal(pf(f, GVA4, 0), EC_P | EC_RSVD);
	assert_int_equal(pf(f, GVA4, AX | AU), EC_P | EC_U | EC_RSVD);
	set_long(f, 0, 0, VMM_EFER_NXE);
	map64(f, 4, GVA4, 1, 0x12345000ull | PWU, PWU);
	w64(f->vm, ent(2, GVA4), tbl(1) | PWU | NX);
	assert_int_equal(ok(f, GVA4, AW | AU), 0x12345abcull);
	assert_int_equal(pf(f, GVA4, AX), EC_P | EC_I);
	assert_int_equal(pf(f, GVA4, AX | AU), EC_P | EC_U | EC_I);
	w64(f->vm, ent(2, GVA4), tbl(1) | PWU);
	assert_int_equal(ok(f, GVA4, AX), 0x12345abcull);

	/* SMEP: no supervisor fetch from user pages */
	set_long(f, 0, VMM_CR4_SMEP, VMM_EFER_NXE);
	map64(f, 4, GVA4, 1, 0x12345000ull | PWU, PWU);
	assert_int_equal(pf(f, GVA4, AX), EC_P | EC_I);
	assert_int_equal(ok(f, GVA4, AX | AU), 0x12345abcull);
	assert_int_equal(ok(f, GVA4, 0), 0x12345abcull);
	w64(f->vm, ent(1, GVA4), 0x12345000ull | P | W);
	assert_int_equal(ok(f, GVA4, AX), 0x12345abcull);
	/* not present, with SMEP and without NXE: the I bit is still set */
	set_long(f, 0, VMM_CR4_SMEP, 0);
	assert_int_equal(pf(f, GVA4, AX), EC_I);
	/* without either, it is not */
	set_long(f, 0, 0, 0);
	assert_int_equal(pf(f, GVA4, AX), 0);
}

static void test_5level(void **state)
{
	struct fixture *f = *state;
	const uint64_t gva = (1ull << 48) | (0x1a3ull << 30) | 0x5678;
	const uint64_t hi = 0xff00000000401000ull; /* PML5 0x100 */
	uint64_t gpa, ps;
	uint32_t ec;

	set_mode(f, CR0_PM, tbl(5), VMM_CR4_PAE | VMM_CR4_LA57, EFER_LM);
	map64(f, 5, gva, 1, 0x00234000ull | PWU, PWU);
	assert_int_equal(ent(5, gva), tbl(5) + 8);
	assert_int_equal(ok(f, gva, AW | AU), 0x234678);
	assert_int_equal(walk(f, gva, 0, false, &gpa, &ec, &ps), 0);
	assert_int_equal(ps, 4096);
	map64(f, 5, hi, 2, 0x00800000ull | P | PS, P);
	assert_int_equal(ent(5, hi), tbl(5) + 0x100 * 8);
	assert_int_equal(ok(f, hi, 0), 0x801000);
	/* 57-bit canonical: bit 56 set without the bits above */
	assert_int_equal(xlate(f, hi & ((1ull << 57) - 1), 0, &gpa), -EFAULT);
	/* not present at the top level */
	assert_int_equal(pf(f, 2ull << 48, AW), EC_W);

	/* the same address is non-canonical with 4 levels */
	set_mode(f, CR0_PM, tbl(4), VMM_CR4_PAE, EFER_LM);
	map64(f, 4, gva, 1, 0x00234000ull | PWU, PWU);
	assert_int_equal(xlate(f, gva, 0, &gpa), -EFAULT);
	assert_int_equal(ok(f, gva & ((1ull << 47) - 1), 0), 0x234678);
}

/* ---- protection keys ------------------------------------------------------ */

/* A walk with explicit paging registers and PKRU; the error code of a
 * fault, or 0 for success (a successful walk never has error code 0 here
 * since every fault below is on a present page). */
static uint32_t pk_walk(struct fixture *f, uint64_t cr0, uint64_t cr3,
			uint64_t cr4, uint64_t efer, uint32_t pkru,
			uint64_t gva, unsigned acc)
{
	struct vmm_paging p = { .cr0 = cr0, .cr3 = cr3, .cr4 = cr4,
				.efer = efer, .pkru = pkru };
	uint64_t gpa;
	uint32_t ec = 0;

	if (vmm_gmem_walk(&f->vm->mem, &p, gva, acc, false, &gpa, &ec, NULL))
		return ec;
	return 0;
}

#define KEY(k) ((uint64_t)(k) << 59)
#define AD(k) (1u << (2 * (k)))
#define WD(k) (2u << (2 * (k)))

/*
 * SDM 4.6.2: with EFER.LMA and CR4.PKE, data accesses to user-mode
 * addresses are checked against PKRU for the leaf's key (bits 62:59): AD
 * refuses all, WD refuses user writes and, with CR0.WP, supervisor
 * writes; the #PF error code has PK.  Fetches, supervisor-mode addresses
 * (U/S clear at any level) and other keys are not affected; nothing
 * without CR4.PKE or in PAE paging.
 */
static void test_pkeys(void **state)
{
	struct fixture *f = *state;
	const uint64_t c4 = VMM_CR4_PAE | VMM_CR4_PKE, c0 = CR0_PM;
	const uint64_t wp = CR0_PM | VMM_CR0_WP, l4 = tbl(4);

	set_mode(f, CR0_PM, tbl(4), VMM_CR4_PAE, EFER_LM);
	map64(f, 4, GVA4, 1, 0x00234000ull | PWU | KEY(5), PWU);
	/* AD5: every data access, user or supervisor */
	assert_int_equal(pk_walk(f, c0, l4, c4, EFER_LM, AD(5), GVA4, AU),
			 EC_P | EC_U | EC_PK);
	assert_int_equal(pk_walk(f, c0, l4, c4, EFER_LM, AD(5), GVA4, AW | AU),
			 EC_P | EC_W | EC_U | EC_PK);
	assert_int_equal(pk_walk(f, c0, l4, c4, EFER_LM, AD(5), GVA4, 0),
			 EC_P | EC_PK);
	/* fetches are not checked */
	assert_int_equal(pk_walk(f, c0, l4, c4, EFER_LM, AD(5), GVA4, AX | AU),
			 0);
	/* other keys' rights do not matter; no PKE: no check */
	assert_int_equal(pk_walk(f, wp, l4, c4, EFER_LM, ~(AD(5) | WD(5)),
				 GVA4, AW | AU), 0);
	assert_int_equal(pk_walk(f, wp, l4, VMM_CR4_PAE, EFER_LM, AD(5), GVA4,
				 AW | AU), 0);
	/* WD5: reads allowed; user writes refused; supervisor writes only
	 * with CR0.WP */
	assert_int_equal(pk_walk(f, wp, l4, c4, EFER_LM, WD(5), GVA4, AU), 0);
	assert_int_equal(pk_walk(f, c0, l4, c4, EFER_LM, WD(5), GVA4, AW | AU),
			 EC_P | EC_W | EC_U | EC_PK);
	assert_int_equal(pk_walk(f, c0, l4, c4, EFER_LM, WD(5), GVA4, AW), 0);
	assert_int_equal(pk_walk(f, wp, l4, c4, EFER_LM, WD(5), GVA4, AW),
			 EC_P | EC_W | EC_PK);
	/* a read-only user page: the fault has PK too when the key refuses */
	map64(f, 4, GVA4, 1, 0x00234000ull | P | U | KEY(5), PWU);
	assert_int_equal(pk_walk(f, c0, l4, c4, EFER_LM, WD(5), GVA4, AW | AU),
			 EC_P | EC_W | EC_U | EC_PK);
	assert_int_equal(pk_walk(f, c0, l4, c4, EFER_LM, 0, GVA4, AW | AU),
			 EC_P | EC_W | EC_U);
	/* supervisor-mode address (U clear in the PDE): key not checked */
	map64(f, 4, GVA4, 1, 0x00234000ull | PWU | KEY(5), PWU);
	w64(f->vm, ent(2, GVA4), tbl(1) | P | W);
	assert_int_equal(pk_walk(f, wp, l4, c4, EFER_LM, AD(5) | WD(5), GVA4,
				 AW), 0);
	assert_int_equal(pk_walk(f, wp, l4, c4, EFER_LM, AD(5), GVA4, AU),
			 EC_P | EC_U);
	/* a 2-MiB page takes the key of its PDE */
	map64(f, 4, GVA4, 2, 0x00800000ull | PWU | PS | KEY(15), PWU);
	assert_int_equal(pk_walk(f, c0, l4, c4, EFER_LM, AD(15), GVA4, AU),
			 EC_P | EC_U | EC_PK);
	assert_int_equal(pk_walk(f, c0, l4, c4, EFER_LM, AD(5), GVA4, AU), 0);
	/* 5-level paging */
	set_mode(f, CR0_PM, tbl(5), VMM_CR4_PAE | VMM_CR4_LA57, EFER_LM);
	map64(f, 5, 0x5678, 1, 0x00234000ull | PWU | KEY(1), PWU);
	assert_int_equal(pk_walk(f, c0, tbl(5), c4 | VMM_CR4_LA57, EFER_LM,
				 AD(1), 0x5678, AU), EC_P | EC_U | EC_PK);
	/* PAE paging: no protection keys (key 0 with AD0 set) */
	set_mode(f, CR0_PM, PDPT_PAE, VMM_CR4_PAE, 0);
	w64(f->vm, PDPT_PAE, tbl(2) | P);
	w64(f->vm, ent(2, 0x5000), tbl(1) | PWU);
	w64(f->vm, ent(1, 0x5000), 0x00234000ull | PWU);
	assert_int_equal(pk_walk(f, c0, PDPT_PAE, c4, 0, AD(0), 0x5000, AU), 0);
	assert_int_equal(pk_walk(f, c0, PDPT_PAE, c4, 0, 0, 0x6000, AU), EC_U);
}

static uint32_t pks_walk(struct fixture *f, uint64_t cr0, uint64_t cr4,
			 uint32_t pkru, uint32_t pkrs, uint64_t gva,
			 unsigned acc)
{
	struct vmm_paging p = { .cr0 = cr0, .cr3 = tbl(4), .cr4 = cr4,
				.efer = EFER_LM, .pkru = pkru, .pkrs = pkrs };
	uint64_t gpa;
	uint32_t ec = 0;

	if (vmm_gmem_walk(&f->vm->mem, &p, gva, acc, false, &gpa, &ec, NULL))
		return ec;
	return 0;
}

/*
 * PKS (SDM 4.6.2): with CR4.PKS, supervisor-mode data accesses to
 * supervisor-mode addresses are checked against IA32_PKRS: AD refuses
 * reads and writes, WD writes only with CR0.WP; #PF with PK.  Fetches,
 * user-mode addresses (PKRU's) and user-mode accesses (U/S fault, no PK)
 * are not; without CR4.PKS nothing is.
 */
static void test_pks(void **state)
{
	struct fixture *f = *state;
	const uint64_t c4 = VMM_CR4_PAE | VMM_CR4_PKS, c0 = CR0_PM;
	const uint64_t wp = CR0_PM | VMM_CR0_WP;

	set_mode(f, CR0_PM, tbl(4), VMM_CR4_PAE, EFER_LM);
	/* supervisor page (U clear in the PTE), key 3 */
	map64(f, 4, GVA4, 1, 0x00234000ull | P | W | KEY(3), PWU);
	assert_int_equal(pks_walk(f, c0, c4, 0, AD(3), GVA4, 0), EC_P | EC_PK);
	assert_int_equal(pks_walk(f, c0, c4, 0, AD(3), GVA4, AW),
			 EC_P | EC_W | EC_PK);
	assert_int_equal(pks_walk(f, c0, c4, 0, AD(3), GVA4, AX), 0);
	assert_int_equal(pks_walk(f, c0, VMM_CR4_PAE, 0, AD(3), GVA4, 0), 0);
	assert_int_equal(pks_walk(f, c0, c4, 0, ~(AD(3) | WD(3)), GVA4, AW),
			 0);
	/* PKRU does not apply to supervisor pages, PKRS does not to user */
	assert_int_equal(pks_walk(f, c0, c4 | VMM_CR4_PKE, AD(3), 0, GVA4, 0),
			 0);
	/* user-mode access: U/S fault, no PK */
	assert_int_equal(pks_walk(f, c0, c4, 0, AD(3), GVA4, AU),
			 EC_P | EC_U);
	/* WD: reads allowed, writes refused only with CR0.WP */
	assert_int_equal(pks_walk(f, wp, c4, 0, WD(3), GVA4, 0), 0);
	assert_int_equal(pks_walk(f, c0, c4, 0, WD(3), GVA4, AW), 0);
	assert_int_equal(pks_walk(f, wp, c4, 0, WD(3), GVA4, AW),
			 EC_P | EC_W | EC_PK);
	/* U clear at a higher level only: still a supervisor address */
	map64(f, 4, GVA4, 1, 0x00234000ull | PWU | KEY(3), PWU);
	w64(f->vm, ent(2, GVA4), tbl(1) | P | W);
	assert_int_equal(pks_walk(f, c0, c4, 0, AD(3), GVA4, 0), EC_P | EC_PK);
	/* a user page: PKRS not consulted */
	map64(f, 4, GVA4, 1, 0x00234000ull | PWU | KEY(3), PWU);
	assert_int_equal(pks_walk(f, c0, c4, 0, AD(3), GVA4, 0), 0);
	assert_int_equal(pks_walk(f, c0, c4, 0, AD(3), GVA4, AU), 0);
}

/* ---- accessed / dirty ------------------------------------------------------ */

static void test_set_ad(void **state)
{
	struct fixture *f = *state;
	uint64_t gpa, ps;
	uint32_t ec;

	set_long(f, VMM_CR0_WP, 0, 0);
	map64(f, 4, GVA4, 1, 0x12345000ull | PWU, PWU);
	/* translate never writes A/D */
	assert_int_equal(ok(f, GVA4, AW), 0x12345abcull);
	for (int l = 4; l >= 1; l--)
		assert_int_equal(r64(f->vm, ent(l, GVA4)) & (A | D), 0);

	/* a read sets A everywhere, D nowhere */
	assert_int_equal(walk(f, GVA4, 0, true, &gpa, &ec, &ps), 0);
	assert_int_equal(gpa, 0x12345abcull);
	for (int l = 4; l >= 2; l--)
		assert_int_equal(r64(f->vm, ent(l, GVA4)), tbl(l - 1) | PWU | A);
	assert_int_equal(r64(f->vm, ent(1, GVA4)), 0x12345000ull | PWU | A);
	/* a write sets D in the leaf only */
	assert_int_equal(walk(f, GVA4, AW, true, &gpa, &ec, &ps), 0);
	assert_int_equal(r64(f->vm, ent(1, GVA4)), 0x12345000ull | PWU | A | D);
	assert_int_equal(r64(f->vm, ent(2, GVA4)), tbl(1) | PWU | A);

	/* a faulting write leaves the leaf alone */
	map64(f, 4, GVA4, 1, 0x12345000ull | P | U, PWU);
	assert_int_equal(walk(f, GVA4, AW, true, &gpa, &ec, &ps), -EFAULT);
	assert_int_equal(ec, EC_P | EC_W);
	assert_int_equal(r64(f->vm, ent(1, GVA4)), 0x12345000ull | P | U);

	/* 2 MiB leaf gets A and D */
	map64(f, 4, GVA4, 2, 0x200000ull | PWU | PS, PWU);
	assert_int_equal(walk(f, GVA4, AW | AU, true, &gpa, &ec, &ps), 0);
	assert_int_equal(r64(f->vm, ent(2, GVA4)), 0x200000ull | PWU | PS | A | D);
	assert_int_equal(r64(f->vm, ent(3, GVA4)), tbl(2) | PWU | A);

	/* 32-bit: PDE gets A, PTE A and D */
	set_mode(f, CR0_PM, PD32, 0, 0);
	w32(f->vm, ent32(2, 0x00401000), PT32 | PWU);
	w32(f->vm, ent32(1, 0x00401000), 0x00500000 | PWU);
	assert_int_equal(walk(f, 0x00401000, AW, true, &gpa, &ec, &ps), 0);
	assert_int_equal(r32(f->vm, ent32(2, 0x00401000)), PT32 | PWU | A);
	assert_int_equal(r32(f->vm, ent32(1, 0x00401000)), 0x00500000 | PWU | A | D);
	/* the neighbouring entries are untouched */
	assert_int_equal(r32(f->vm, ent32(1, 0x00401000) + 4), 0);
	assert_int_equal(r32(f->vm, ent32(1, 0x00401000) - 4), 0);

	/* PAE: PD and PT entries get A (and D), the PDPTE has no A bit */
	set_mode(f, CR0_PM, PDPT_PAE, VMM_CR4_PAE, 0);
	w64(f->vm, PDPT_PAE, tbl(2) | P);
	w64(f->vm, ent(2, 0x1000), tbl(1) | PWU);
	w64(f->vm, ent(1, 0x1000), 0x9000 | PWU);
	assert_int_equal(walk(f, 0x1000, 0, true, &gpa, &ec, &ps), 0);
	assert_int_equal(gpa, 0x9000);
	assert_int_equal(r64(f->vm, PDPT_PAE), tbl(2) | P);
	assert_int_equal(r64(f->vm, ent(2, 0x1000)), tbl(1) | PWU | A);
	assert_int_equal(r64(f->vm, ent(1, 0x1000)), 0x9000 | PWU | A);
}

/*
 * Reserved bits per paging mode (SDM 4.3-4.5): physical-address bits at
 * or above MAXPHYADDR in every entry, PAE's bits 62:52, XD without NXE,
 * PS in a PML4E, the low bits of 1-GiB and 2-MiB pages, PSE-36 limits and
 * bit 21 of a 4-MiB page; a reserved-bit fault wins over the permission
 * check and sets no accessed flag.
 */
static void test_reserved_bits(void **state)
{
	struct fixture *f = *state;
	const uint64_t b40 = 1ull << 40, b39 = 1ull << 39;
	uint64_t gpa;
	uint32_t ec;

	set_long(f, 0, 0, VMM_EFER_NXE);
	map64(f, 4, GVA4, 1, 0x12345000ull | PWU | b39, PWU);
	assert_int_equal(ok_m(f, 40, GVA4, 0), b39 | 0x12345abcull);
	/* bit 40 with MAXPHYADDR 40 at each level; fine with 52 */
	for (int l = 4; l >= 1; l--) {
		map64(f, 4, GVA4, 1, 0x12345000ull | PWU, PWU);
		w64(f->vm, ent(l, GVA4), r64(f->vm, ent(l, GVA4)) | b40);
		assert_int_equal(pf_m(f, 40, GVA4, 0), EC_P | EC_RSVD);
		assert_int_equal(pf_m(f, 40, GVA4, AX | AU | AW),
				 EC_P | EC_U | EC_W | EC_I | EC_RSVD);
		if (l == 1)
			assert_int_equal(ok_m(f, 52, GVA4, 0),
					 b40 | 0x12345abcull);
		/* no accessed flag anywhere after the fault */
		assert_int_equal(walk_m(f, 40, GVA4, 0, true, &gpa, &ec),
				 -EFAULT);
		for (int k = 4; k >= 1; k--)
			assert_int_equal(r64(f->vm, ent(k, GVA4)) & A, 0);
	}
	/* reserved wins over a permission fault (supervisor page, U access) */
	map64(f, 4, GVA4, 1, 0x12345000ull | P | b40, P | W);
	assert_int_equal(pf_m(f, 40, GVA4, AU), EC_P | EC_U | EC_RSVD);
	/* bits 62:52 are ignored in 4-level paging */
	map64(f, 4, GVA4, 1, 0x12345000ull | PWU | (0x7ffull << 52), PWU);
	assert_int_equal(ok_m(f, 40, GVA4, 0), 0x12345abcull);
	/* 2 MiB: bits 20:13 reserved, 12 is PAT */
	map64(f, 4, GVA4, 2, 0x200000ull | PWU | PS | (1ull << 13), PWU);
	assert_int_equal(pf_m(f, 40, GVA4, 0), EC_P | EC_RSVD);
	map64(f, 4, GVA4, 2, 0x200000ull | PWU | PS | (1ull << 20), PWU);
	assert_int_equal(pf_m(f, 40, GVA4, 0), EC_P | EC_RSVD);
	/* 1 GiB: bits 29:13 reserved */
	map64(f, 4, GVA4, 3, 0x40000000ull | PWU | PS | (1ull << 29), PWU);
	assert_int_equal(pf_m(f, 40, GVA4, 0), EC_P | EC_RSVD);
	map64(f, 4, GVA4, 3, 0x40000000ull | PWU | PS | PAT2M, PWU);
	assert_int_equal(ok_m(f, 40, GVA4, 0), 0x40000000ull | (GVA4 & 0x3fffffff));
	/* a not-present entry has no reserved bits */
	map64(f, 4, GVA4, 1, (0x12345000ull | PWU | b40) & ~P, PWU);
	assert_int_equal(pf_m(f, 40, GVA4, AW), EC_W);
	/* a table outside RAM with MAXPHYADDR 40: all-ones is reserved at
	 * the PTE too, even with NXE */
	map64(f, 4, GVA4, 2, OUTSIDE | PWU, PWU);
	assert_int_equal(pf_m(f, 40, GVA4, 0), EC_P | EC_RSVD);

	/* PAE: bits 62:52 reserved in PDEs/PTEs, XD and 63:M in PDPTEs */
	set_mode(f, CR0_PM, PDPT_PAE, VMM_CR4_PAE, VMM_EFER_NXE);
	w64(f->vm, PDPT_PAE, tbl(2) | P);
	w64(f->vm, ent(2, 0x1000), tbl(1) | PWU);
	w64(f->vm, ent(1, 0x1000), 0x9000 | PWU | (1ull << 52));
	assert_int_equal(pf_m(f, 40, 0x1000, 0), EC_P | EC_RSVD);
	w64(f->vm, ent(1, 0x1000), 0x9000 | PWU | NX);
	assert_int_equal(ok_m(f, 40, 0x1000, 0), 0x9000);
	w64(f->vm, PDPT_PAE, tbl(2) | P | NX);
	assert_int_equal(pf_m(f, 40, 0x1000, 0), EC_P | EC_RSVD);
	w64(f->vm, PDPT_PAE, tbl(2) | P | b40);
	assert_int_equal(pf_m(f, 40, 0x1000, 0), EC_P | EC_RSVD);

	/* 32-bit PSE: bit 21 reserved; PSE-36 bits limited by MAXPHYADDR */
	set_mode(f, CR0_PM, PD32, VMM_CR4_PSE, 0);
	w32(f->vm, ent32(2, 0x00401000), 0x00400000 | PWU | PS | (1u << 21));
	assert_int_equal(pf_m(f, 40, 0x00401000, 0), EC_P | EC_RSVD);
	w32(f->vm, ent32(2, 0x00401000), 0x00400000 | PWU | PS | (1u << 17));
	assert_int_equal(pf_m(f, 36, 0x00401000, 0), EC_P | EC_RSVD);
	assert_int_equal(ok_m(f, 40, 0x00401000, 0), (1ull << 36) | 0x00401000);
	w32(f->vm, ent32(2, 0x00401000), 0x00400000 | PWU | PS | (1u << 16));
	assert_int_equal(ok_m(f, 36, 0x00401000, 0), (1ull << 35) | 0x00401000);
}

/*
 * Hostile page tables: random entries in every mode give a translation
 * or a #PF, never anything else, and the walk is deterministic.
 */
static void test_random_tables(void **state)
{
	struct fixture *f = *state;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	static const uint64_t modes[][3] = {
		{ 0, 0, 0 },
		{ VMM_CR4_PSE, 0, 0 },
		{ VMM_CR4_PAE, 0, 0 },
		{ VMM_CR4_PAE, VMM_EFER_NXE, 0 },
		{ VMM_CR4_PAE, EFER_LM, 0 },
		{ VMM_CR4_PAE, EFER_LM | VMM_EFER_NXE, 0 },
		{ VMM_CR4_PAE | VMM_CR4_LA57, EFER_LM | VMM_EFER_NXE, 0 },
	};

	for (unsigned m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		uint64_t cr3 = (modes[m][0] & VMM_CR4_PAE) &&
			       !(modes[m][1] & VMM_EFER_LMA) ? PDPT_PAE : tbl(5);
		set_mode(f, CR0_PM, cr3, modes[m][0], modes[m][1]);
		for (int iter = 0; iter < 2000; iter++) {
			uint64_t gpa, gpa2, gva;
			uint32_t ec, ec2;
			int r, r2;

			/* random entries, pointing back into the table pages
			 * half of the time, anywhere (RAM or not) otherwise */
			for (uint64_t a = 0x10000; a < 0x15000; a += 8) {
				x ^= x << 13; x ^= x >> 7; x ^= x << 17;
				uint64_t e = x;
				if (e & 0x100000)
					e = (e & ~PTE_ADDR_MASK_T) |
					    (0x10000 + ((e >> 21) % 5) * 0x1000);
				if ((x >> 3) % 7 == 0)
					e &= ~P;
				w64(f->vm, a, e);
			}
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			gva = x;
			unsigned acc = (unsigned)(x >> 60) & 7;
			r = walk_m(f, 40, gva, acc, true, &gpa, &ec);
			assert_true(r == 0 || r == -EFAULT);
			if (r == -EFAULT)
				assert_true(ec == 0 || (ec & ~0x1fu) == 0);
			r2 = walk_m(f, 40, gva, acc, false, &gpa2, &ec2);
			if (r == 0) {
				/* A/D written by the first walk cannot turn
				 * a success into a fault */
				assert_int_equal(r2, 0);
				assert_int_equal(gpa, gpa2);
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_paging_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_32bit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_32bit_pse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_32bit_perm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pae, setup, teardown),
		cmocka_unit_test_setup_teardown(test_4level_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_4level_not_present, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_4level_perm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_5level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pkeys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_ad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserved_bits, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_random_tables, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
