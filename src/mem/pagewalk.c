/* SPDX-License-Identifier: MIT */
/*
 * pagewalk.c - walk the guest's own page tables (32-bit with PSE, PAE,
 * 4-level and 5-level) to translate a guest-virtual address, with the
 * architectural reserved-bit and permission checks and the accessed/dirty
 * updates.  Used for debugging and loaders on every backend, and by the
 * software backend's MMU.  Tables outside guest RAM read as all-ones (open
 * bus); see vmm_gmem_walk() in guest_mem.h.
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
#define PF_PK (1u << 5)

/* entries a walk uses, for the accessed/dirty write-back at its end */
#define WALK_MAX 6

struct walk {
	struct vmm_gmem *m;
	const struct vmm_paging *p;
	unsigned access;
	bool set_ad;
	bool user_ok, write_ok, exec_ok; /* accumulated over levels */
	unsigned maxpa;      /* MAXPHYADDR, 32..52 */
	uint64_t addr_rsvd;  /* address bits at or above MAXPHYADDR */
	unsigned n;          /* entries used so far */
	int pkey;            /* leaf's protection key (4/5-level), or -1 */
	vmm_gpa_t ent_a[WALK_MAX];
	uint64_t ent_v[WALK_MAX];
};

/*
 * Read a paging-structure entry.  Outside guest RAM/ROM (unmapped, or a
 * device) nothing answers the read: all-ones, as an open bus gives on
 * hardware.  Such an entry has P set and (with MAXPHYADDR < 52 or in
 * 32-bit paging with PSE) reserved bits set, so the walk ends in a #PF
 * with RSVD rather than stopping the VM.
 */
static uint64_t read_pte(struct walk *w, vmm_gpa_t a, unsigned size)
{
	uint64_t v = 0;

	if (vmm_gmem_read(w->m, a, &v, size))
		v = size == 8 ? ~0ull : 0xffffffffull;
	return v;
}

static void used(struct walk *w, vmm_gpa_t a, uint64_t v)
{
	if (w->n < WALK_MAX) {
		w->ent_a[w->n] = a;
		w->ent_v[w->n] = v;
		w->n++;
	}
}

/*
 * A translation succeeded: set the accessed flag in every entry it used,
 * top down, and the dirty flag in the leaf for a write (SDM 4.8).  Both
 * flags are in the entry's low byte, set with an atomic OR so that a
 * concurrent writer of the other bits (another vCPU) is not overwritten.
 * Entries outside writable RAM (ROM, unmapped) are not written: the
 * update goes nowhere.  Nothing is written for a faulting access.
 */
static void write_back_ad(struct walk *w)
{
	for (unsigned k = 0; w->set_ad && k < w->n; k++) {
		uint8_t bits = PTE_A;
		uint8_t *h;

		if (k == w->n - 1 && (w->access & VMM_ACCESS_WRITE))
			bits |= PTE_D;
		if ((w->ent_v[k] & bits) == bits)
			continue;
		h = vmm_gmem_host_ptr(w->m, w->ent_a[k], 1, true);
		if (h) {
			__atomic_fetch_or(h, bits, __ATOMIC_SEQ_CST);
			/* dirty after the store, not before: a log
			 * fetch in between would lose it (guest_mem.h) */
			vmm_gmem_mark_dirty(w->m, w->ent_a[k], 1);
		}
	}
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

/*
 * The permission check of a translation, done once at the leaf with the
 * U/S, R/W and XD bits accumulated over all levels; returns 0 or -EFAULT
 * (the caller builds the error code).  Every access-rights rule of SDM
 * 4.6 belongs here.
 */
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
	/* SMAP: supervisor data accesses to user pages only with CPL < 3
	 * and EFLAGS.AC (the caller says so with VMM_GMEM_ACCESS_AC) */
	if (!user && w->user_ok && !(w->access & VMM_ACCESS_EXEC) &&
	    (p->cr4 & VMM_CR4_SMAP) && !(w->access & VMM_GMEM_ACCESS_AC))
		return -EFAULT;
	return 0;
}

/*
 * Protection keys (SDM 4.6.2): with EFER.LMA and CR4.PKE, a data access to
 * a user-mode address (U/S set at every level) whose leaf has key i is
 * refused when PKRU.ADi is set, and a write when PKRU.WDi is set and the
 * access is a user-mode one or CR0.WP is set.  Instruction fetches are
 * never checked.  True when the access violates its key; the #PF then
 * has PK (bit 5) beside whatever else is wrong.  With CR4.PKS the same
 * holds for supervisor-mode addresses and supervisor-mode accesses, with
 * IA32_PKRS for PKRU and WD applying only when CR0.WP is set.
 */
static bool pk_violation(const struct walk *w)
{
	const struct vmm_paging *p = w->p;
	unsigned bits;

	if (w->pkey < 0 || (w->access & VMM_ACCESS_EXEC))
		return false;
	if (!w->user_ok) {
		/* PKS (SDM 4.6.2): a supervisor-mode address (U/S clear at
		 * some level) with CR4.PKS: its key indexes IA32_PKRS.  Only
		 * supervisor-mode accesses (explicit or implicit) are
		 * checked: a user-mode one faults on U/S already. */
		if (!(p->cr4 & VMM_CR4_PKS) || (w->access & VMM_ACCESS_USER))
			return false;
		bits = (p->pkrs >> (2 * w->pkey)) & 3;
		if (bits & 1) /* AD */
			return true;
		return (bits & 2) && (w->access & VMM_ACCESS_WRITE) &&
		       (p->cr0 & VMM_CR0_WP);
	}
	if (!(p->cr4 & VMM_CR4_PKE))
		return false;
	bits = (p->pkru >> (2 * w->pkey)) & 3;
	if (bits & 1) /* AD */
		return true;
	return (bits & 2) && (w->access & VMM_ACCESS_WRITE) &&
	       ((w->access & VMM_ACCESS_USER) || (p->cr0 & VMM_CR0_WP));
}

/* Leaf reached: permission check, then the A/D write-back. */
static int leaf(struct walk *w, uint32_t *ec)
{
	bool pk = pk_violation(w);

	if (check(w) || pk)
		return *ec = fault(w, true) | (pk ? PF_PK : 0), -EFAULT;
	write_back_ad(w);
	return 0;
}

static int rsvd_fault(struct walk *w, uint32_t *ec)
{
	*ec = fault(w, true) | PF_RSVD;
	return -EFAULT;
}

static int walk_32(struct walk *w, vmm_gva_t gva, vmm_gpa_t *gpa,
		   uint32_t *ec, uint64_t *psize)
{
	uint64_t pde, pte;
	vmm_gpa_t pde_a = (w->p->cr3 & 0xfffff000u) + ((gva >> 22) & 0x3ff) * 4;
	vmm_gpa_t pte_a;

	pde = read_pte(w, pde_a, 4);
	if (!(pde & PTE_P))
		return *ec = fault(w, false), -EFAULT;
	if ((pde & PTE_PS) && (w->p->cr4 & VMM_CR4_PSE)) {
		/* 4-MiB page: bits 20:13 are physical bits 39:32 (PSE-36)
		 * as far as MAXPHYADDR (at most 40) reaches; bit 21 and the
		 * rest of 20:13 are reserved */
		unsigned m = w->maxpa;
		uint64_t hi_ok = m >= 40 ? 0xff : (1u << (m - 32)) - 1;
		if ((pde & (1u << 21)) || ((pde >> 13) & 0xff & ~hi_ok))
			return rsvd_fault(w, ec);
		accumulate(w, pde);
		used(w, pde_a, pde);
		if (leaf(w, ec))
			return -EFAULT;
		*gpa = (pde & 0xffc00000u) | ((pde >> 13 & 0xffull) << 32) |
		       (gva & 0x3fffff);
		*psize = 4ull << 20;
		return 0;
	}
	accumulate(w, pde);
	used(w, pde_a, pde);
	pte_a = (pde & 0xfffff000u) + ((gva >> 12) & 0x3ff) * 4;
	pte = read_pte(w, pte_a, 4);
	if (!(pte & PTE_P))
		return *ec = fault(w, false), -EFAULT;
	accumulate(w, pte);
	used(w, pte_a, pte);
	if (leaf(w, ec))
		return -EFAULT;
	*gpa = (pte & 0xfffff000u) | (gva & 0xfff);
	*psize = 4096;
	return 0;
}

/*
 * Reserved bits of a present 64-bit entry at @level (1 = PTE) of a walk
 * with @levels levels (3 = PAE), per SDM tables 4-8..4-20: address bits
 * at or above MAXPHYADDR; in PAE entries all of bits 62:MAXPHYADDR; XD
 * without EFER.NXE; PS in a PML4E/PML5E (and in a PAE PDPTE, which is
 * checked apart); bits 29:13 of a 1-GiB and 20:13 of a 2-MiB page.
 */
static bool rsvd_64(const struct walk *w, uint64_t e, int level, int levels)
{
	uint64_t r = w->addr_rsvd;

	if (levels == 3)
		r |= 0x7ff0000000000000ull; /* bits 62:52 are reserved in PAE */
	if (!(w->p->efer & VMM_EFER_NXE))
		r |= PTE_NX;
	if (level >= 4)
		r |= PTE_PS;
	else if (level == 3 && (e & PTE_PS))
		r |= 0x3fffe000ull;
	else if (level == 2 && (e & PTE_PS))
		r |= 0x1fe000ull;
	return (e & r) != 0;
}

/* Generic walk for 64-bit entries: PAE (levels 3), 4-level, 5-level. */
static int walk_64(struct walk *w, vmm_gva_t gva, int levels, vmm_gpa_t *gpa,
		   uint32_t *ec, uint64_t *psize)
{
	vmm_gpa_t table;
	int level;

	if (levels == 3) {
		/* PAE: CR3 points at 4 PDPTEs, 32-byte aligned.  Hardware
		 * loads them at MOV CR3; reading them here gives the same
		 * result as long as the guest does not rewrite them. */
		uint64_t pdpte;
		vmm_gpa_t a = (w->p->cr3 & 0xffffffe0u) + ((gva >> 30) & 3) * 8;
		pdpte = read_pte(w, a, 8);
		if (!(pdpte & PTE_P))
			return *ec = fault(w, false), -EFAULT;
		/* bits 2:1, 8:5 and 63:MAXPHYADDR are reserved */
		if (pdpte & (0x1e6 | PTE_NX | 0x7ff0000000000000ull |
			     w->addr_rsvd))
			return rsvd_fault(w, ec);
		table = pdpte & PTE_ADDR;
		level = 2;
	} else {
		table = w->p->cr3 & PTE_ADDR;
		level = levels;
	}
	for (; level >= 1; level--) {
		unsigned shift = 12 + 9 * (level - 1);
		vmm_gpa_t a = table + ((gva >> shift) & 0x1ff) * 8;
		uint64_t e = read_pte(w, a, 8);

		if (!(e & PTE_P))
			return *ec = fault(w, false), -EFAULT;
		if (rsvd_64(w, e, level, levels))
			return rsvd_fault(w, ec);
		accumulate(w, e);
		used(w, a, e);
		if (level == 1 || ((e & PTE_PS) && level <= 3)) {
			uint64_t size = 1ull << shift;
			if (levels >= 4)
				w->pkey = (int)((e >> 59) & 0xf);
			if (leaf(w, ec))
				return -EFAULT;
			*gpa = (e & PTE_ADDR & ~(size - 1)) | (gva & (size - 1));
			*psize = size;
			return 0;
		}
		table = e & PTE_ADDR;
	}
	return -EFAULT; /* not reached */
}

int vmm_gmem_walk(struct vmm_gmem *m, const struct vmm_paging *p,
		  vmm_gva_t gva, unsigned access, bool set_ad, vmm_gpa_t *gpa,
		  uint32_t *pf_error, uint64_t *page_size)
{
	return vmm_gmem_walk_ex(m, p, gva, access, set_ad, gpa, pf_error,
				page_size, NULL, NULL);
}

int vmm_gmem_walk_ex(struct vmm_gmem *m, const struct vmm_paging *p,
		     vmm_gva_t gva, unsigned access, bool set_ad,
		     vmm_gpa_t *gpa, uint32_t *pf_error, uint64_t *page_size,
		     bool *user_page, uint64_t *leaf)
{
	struct walk w = { .m = m, .p = p, .access = access, .set_ad = set_ad,
			  .user_ok = true, .write_ok = true, .exec_ok = true,
			  .pkey = -1 };
	unsigned maxpa = p->maxphyaddr;
	uint32_t ec = 0;
	uint64_t psize = 0;
	int ret;

	if (!(p->cr0 & VMM_CR0_PG) || !(p->cr0 & VMM_CR0_PE)) {
		*gpa = (p->efer & VMM_EFER_LMA) ? gva : (gva & 0xffffffffu);
		if (page_size)
			*page_size = 0;
		if (user_page)
			*user_page = false;
		if (leaf)
			*leaf = 0;
		return 0;
	}
	if (maxpa < 32 || maxpa > 52)
		maxpa = 52;
	w.maxpa = maxpa;
	w.addr_rsvd = PTE_ADDR & ~((1ull << maxpa) - 1);
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
	if (user_page)
		*user_page = w.user_ok;
	if (leaf)
		*leaf = ret == 0 && w.n ? w.ent_v[w.n - 1] : 0;
	return ret;
}
