/* SPDX-License-Identifier: MIT */
/*
 * pagewalk.c - walk the guest's own page tables (32-bit with PSE, PAE,
 * 4-level and 5-level) to translate a guest-virtual address, with the
 * architectural permission checks.  Used for debugging and loaders on every
 * backend, and by the software backend's MMU.
 */
#include "core/internal.h"
#include "mem/guest_mem.h"

#define PTE_P (1ull << 0)
#define PTE_W (1ull << 1)
#define PTE_U (1ull << 2)
#define PTE_A (1ull << 5)
#define PTE_D (1ull << 6)
#define PTE_PS (1ull << 7)
#define PTE_NX (1ull << 63)
#define PTE_ADDR 0x000ffffffffff000ull

#define PF_P (1u << 0)
#define PF_W (1u << 1)
#define PF_U (1u << 2)
#define PF_RSVD (1u << 3)
#define PF_I (1u << 4)

struct walk {
	struct vmm_gmem *m;
	const struct vmm_paging *p;
	unsigned access;
	bool set_ad;
	bool user_ok, write_ok, exec_ok; /* accumulated over levels */
};

static int read_pte(struct walk *w, vmm_gpa_t a, unsigned size, uint64_t *v)
{
	*v = 0;
	return vmm_gmem_read(w->m, a, v, size) ? -EIO : 0;
}

static void set_bits(struct walk *w, vmm_gpa_t a, unsigned size, uint64_t old,
		     uint64_t bits)
{
	uint64_t nv = old | bits;

	if (!w->set_ad || nv == old)
		return;
	/* best effort; a concurrent writer may race as on hardware */
	(void)vmm_gmem_write(w->m, a, &nv, size);
}

static void accumulate(struct walk *w, uint64_t e)
{
	if (!(e & PTE_U))
		w->user_ok = false;
	if (!(e & PTE_W))
		w->write_ok = false;
	if (e & PTE_NX)
		w->exec_ok = false;
}

static uint32_t fault(struct walk *w, bool present)
{
	uint32_t ec = present ? PF_P : 0;

	if (w->access & VMM_ACCESS_WRITE)
		ec |= PF_W;
	if (w->access & VMM_ACCESS_USER)
		ec |= PF_U;
	/* I/D is reported only with SMEP, or with NX in use (PAE and NXE) */
	if ((w->access & VMM_ACCESS_EXEC) &&
	    ((w->p->cr4 & VMM_CR4_SMEP) ||
	     ((w->p->cr4 & VMM_CR4_PAE) && (w->p->efer & VMM_EFER_NXE))))
		ec |= PF_I;
	return ec;
}

/* Permission check at the leaf; returns 0 or -EFAULT. */
static int check(struct walk *w)
{
	const struct vmm_paging *p = w->p;
	bool user = w->access & VMM_ACCESS_USER;

	if (user && !w->user_ok)
		return -EFAULT;
	if (w->access & VMM_ACCESS_WRITE) {
		if (!w->write_ok && (user || (p->cr0 & VMM_CR0_WP)))
			return -EFAULT;
	}
	if ((w->access & VMM_ACCESS_EXEC) && (p->efer & VMM_EFER_NXE) &&
	    !w->exec_ok)
		return -EFAULT;
	if (!user && w->user_ok && (w->access & VMM_ACCESS_EXEC) &&
	    (p->cr4 & VMM_CR4_SMEP))
		return -EFAULT;
	return 0;
}

static int walk_32(struct walk *w, vmm_gva_t gva, vmm_gpa_t *gpa,
		   uint32_t *ec, uint64_t *psize)
{
	uint64_t pde, pte;
	vmm_gpa_t pde_a = (w->p->cr3 & 0xfffff000u) + ((gva >> 22) & 0x3ff) * 4;
	vmm_gpa_t pte_a;

	if (read_pte(w, pde_a, 4, &pde))
		return -EIO;
	if (!(pde & PTE_P))
		return *ec = fault(w, false), -EFAULT;
	accumulate(w, pde & 0xffffffffu);
	if ((pde & PTE_PS) && (w->p->cr4 & VMM_CR4_PSE)) {
		if (check(w))
			return *ec = fault(w, true), -EFAULT;
		set_bits(w, pde_a, 4, pde,
			 PTE_A | ((w->access & VMM_ACCESS_WRITE) ? PTE_D : 0));
		/* PSE-36: bits 13..20 give physical bits 32..39 */
		*gpa = (pde & 0xffc00000u) | ((pde >> 13 & 0xffull) << 32) |
		       (gva & 0x3fffff);
		*psize = 4ull << 20;
		return 0;
	}
	pte_a = (pde & 0xfffff000u) + ((gva >> 12) & 0x3ff) * 4;
	if (read_pte(w, pte_a, 4, &pte))
		return -EIO;
	if (!(pte & PTE_P))
		return *ec = fault(w, false), -EFAULT;
	accumulate(w, pte & 0xffffffffu);
	if (check(w))
		return *ec = fault(w, true), -EFAULT;
	set_bits(w, pde_a, 4, pde, PTE_A);
	set_bits(w, pte_a, 4, pte,
		 PTE_A | ((w->access & VMM_ACCESS_WRITE) ? PTE_D : 0));
	*gpa = (pte & 0xfffff000u) | (gva & 0xfff);
	*psize = 4096;
	return 0;
}

/* Generic walk for 64-bit entries: PAE (levels 3), 4-level, 5-level. */
static int walk_64(struct walk *w, vmm_gva_t gva, int levels, vmm_gpa_t *gpa,
		   uint32_t *ec, uint64_t *psize)
{
	vmm_gpa_t table;
	int level;

	if (levels == 3) {
		/* PAE: CR3 points at 4 PDPTEs, 32-byte aligned */
		uint64_t pdpte;
		vmm_gpa_t a = (w->p->cr3 & 0xffffffe0u) + ((gva >> 30) & 3) * 8;
		if (read_pte(w, a, 8, &pdpte))
			return -EIO;
		if (!(pdpte & PTE_P))
			return *ec = fault(w, false), -EFAULT;
		if (pdpte & 0x1e6) /* reserved bits in a PAE PDPTE */
			return *ec = fault(w, true) | PF_RSVD, -EFAULT;
		table = pdpte & PTE_ADDR;
		level = 2;
	} else {
		table = w->p->cr3 & PTE_ADDR;
		level = levels;
	}
	for (; level >= 1; level--) {
		unsigned shift = 12 + 9 * (level - 1);
		vmm_gpa_t a = table + ((gva >> shift) & 0x1ff) * 8;
		uint64_t e;

		if (read_pte(w, a, 8, &e))
			return -EIO;
		if (!(e & PTE_P))
			return *ec = fault(w, false), -EFAULT;
		if ((e & PTE_NX) && !(w->p->efer & VMM_EFER_NXE))
			return *ec = fault(w, true) | PF_RSVD, -EFAULT;
		if ((e & PTE_PS) && level >= 4) /* PS is reserved in PML4E/PML5E */
			return *ec = fault(w, true) | PF_RSVD, -EFAULT;
		accumulate(w, e);
		if (level == 1 || ((e & PTE_PS) && level <= 3)) {
			uint64_t size = 1ull << shift;
			if (level == 3 && levels == 3)
				return *ec = fault(w, true) | PF_RSVD, -EFAULT;
			if (check(w))
				return *ec = fault(w, true), -EFAULT;
			set_bits(w, a, 8, e,
				 PTE_A | ((w->access & VMM_ACCESS_WRITE) ?
						  PTE_D : 0));
			*gpa = (e & PTE_ADDR & ~(size - 1)) | (gva & (size - 1));
			*psize = size;
			return 0;
		}
		set_bits(w, a, 8, e, PTE_A);
		table = e & PTE_ADDR;
	}
	return -EIO; /* not reached */
}

int vmm_gmem_walk(struct vmm_gmem *m, const struct vmm_paging *p,
		  vmm_gva_t gva, unsigned access, bool set_ad, vmm_gpa_t *gpa,
		  uint32_t *pf_error, uint64_t *page_size)
{
	struct walk w = { m, p, access, set_ad, true, true, true };
	uint32_t ec = 0;
	uint64_t psize = 0;
	int ret;

	if (!(p->cr0 & VMM_CR0_PG) || !(p->cr0 & VMM_CR0_PE)) {
		*gpa = (p->efer & VMM_EFER_LMA) ? gva : (gva & 0xffffffffu);
		if (page_size)
			*page_size = 0;
		return 0;
	}
	if (p->efer & VMM_EFER_LMA) {
		int levels = (p->cr4 & VMM_CR4_LA57) ? 5 : 4;
		unsigned bits = levels == 5 ? 57 : 48;
		int64_t s = (int64_t)(gva << (64 - bits)) >> (64 - bits);
		if ((uint64_t)s != gva) { /* non-canonical: #GP, not #PF */
			if (pf_error)
				*pf_error = 0;
			if (page_size)
				*page_size = 0;
			return -EFAULT;
		}
		ret = walk_64(&w, gva, levels, gpa, &ec, &psize);
	} else if (p->cr4 & VMM_CR4_PAE) {
		ret = walk_64(&w, gva & 0xffffffffu, 3, gpa, &ec, &psize);
	} else {
		ret = walk_32(&w, gva & 0xffffffffu, gpa, &ec, &psize);
	}
	if (pf_error)
		*pf_error = ec;
	if (page_size)
		*page_size = psize;
	return ret;
}
