/* SPDX-License-Identifier: MIT */
/*
 * mmu.c - the soft MMU: segmentation (linear address, limit and type
 * checks), the per-vCPU software TLB that maps linear pages straight to
 * host pointers (filled from vmm_gmem_walk() with accessed/dirty write-back
 * and vmm_gmem_host_ptr()), the slow paths for TLB misses, page-crossing
 * accesses, MMIO and ROM, and the self-modifying-code hook: pages holding
 * translated code never get a writable TLB entry, so every write to them
 * comes here and drops the blocks first.
 */
#include "cpu/soft/exec.h"

__attribute__((noreturn)) static void seg_fault(struct soft_cpu *c,
						unsigned seg)
{
	soft_fault(c, seg == VMM_SS ? 12 : 13, 0);
}

uint64_t soft_lin(struct soft_cpu *c, unsigned seg, uint64_t off,
		  unsigned size, bool write)
{
	const struct vmm_segment *s = &c->st.seg[seg];
	uint64_t last;

	if (c->lm64)
		return c->segbase[seg] + off;
	if (c->pe && !c->vm86) {
		if (s->unusable || !s->present)
			seg_fault(c, seg);
		if (write && (s->type & 0xa) != 0x2) /* data, writable */
			seg_fault(c, seg);
		if (!write && (s->type & 0xa) == 0x8) /* execute-only code */
			seg_fault(c, seg);
	}
	last = off + size - 1;
	if ((s->type & 0xc) == 0x4 && s->s) { /* expand-down data */
		uint64_t top = s->db ? 0xffffffffull : 0xffff;
		if (off <= s->limit || last > top)
			seg_fault(c, seg);
	} else if (last > s->limit || last < off) {
		seg_fault(c, seg);
	}
	return (uint32_t)(c->segbase[seg] + off);
}

void soft_tlb_flush(struct soft_cpu *c)
{
	if (c->tlb_fill_ok && c->tlb_fill_n <= SOFT_TLB_FILL_LOG) {
		/* only the slots filled since the last full flush can hold
		 * anything: each gets what the memset below would write */
		for (unsigned k = 0; k < c->tlb_fill_n; k++) {
			unsigned s = c->tlb_fill[k];
			unsigned u = s >> SOFT_TLB_BITS, i = s & (SOFT_TLB_SIZE - 1);

			memset(&c->tlb[u][i], 0xff, sizeof(c->tlb[u][i]));
			memset(&c->tlb_victim[u][i], 0xff,
			       sizeof(c->tlb_victim[u][i]));
			c->tlb_fill_bits[s / 64] &= ~(1ull << (s % 64));
		}
	} else {
		memset(c->tlb, 0xff, sizeof(c->tlb));
		memset(c->tlb_victim, 0xff, sizeof(c->tlb_victim));
		memset(c->tlb_fill_bits, 0, sizeof(c->tlb_fill_bits));
	}
	c->tlb_fill_n = 0;
	c->tlb_fill_ok = true;
	memset(c->tlb_ng_bits, 0, sizeof(c->tlb_ng_bits));
	c->tlb_ng_n = 0;
	c->tlb_ng_exec = false;
	c->tlb_large_n = 0;
	memset(c->tlb_w_pages, 0, sizeof(c->tlb_w_pages));
	c->tlb_gen++;
	c->chain_gen++;
}

static void slot_drop(struct soft_cpu *c, unsigned u, unsigned idx)
{
	struct soft_tlb_entry *e = &c->tlb[u][idx], *v = &c->tlb_victim[u][idx];

	e->tag_r = e->tag_w = e->tag_x = SOFT_TLB_INVALID;
	v->tag_r = v->tag_w = v->tag_x = SOFT_TLB_INVALID;
}

void soft_tlb_flush_nonglobal(struct soft_cpu *c)
{
	if (c->tlb_ng_n > SOFT_TLB_NG_LOG) {
		soft_tlb_flush(c);
		return;
	}
	for (unsigned k = 0; k < c->tlb_ng_n; k++) {
		unsigned s = c->tlb_ng[k];
		slot_drop(c, s >> SOFT_TLB_BITS, s & (SOFT_TLB_SIZE - 1));
		c->tlb_ng_bits[s / 64] &= ~(1ull << (s % 64));
	}
	c->tlb_ng_n = 0;
	/* chained successors and jump-cache entries were found through
	 * the TLB: only a block fetched through a dropped translation can
	 * be stale, and there is none unless a non-global fill was for a
	 * fetch (global ones stay valid across CR3 loads by definition) */
	if (c->tlb_ng_exec)
		c->chain_gen++;
	c->tlb_ng_exec = false;
	c->tlb_gen++;
}

void soft_tlb_flush_page(struct soft_cpu *c, uint64_t lin)
{
	uint64_t page = lin & ~0xfffull;
	unsigned idx = soft_tlb_idx(page);

	/* a large page has entries at many indexes (one per 4 KiB piece
	 * used): flush everything when @lin is in one */
	if (c->tlb_large_n > SOFT_TLB_LARGE_LOG) {
		soft_tlb_flush(c);
		return;
	}
	for (unsigned k = 0; k < c->tlb_large_n; k++) {
		uint64_t size = 1ull << (c->tlb_large[k] & 63);
		if (((lin ^ c->tlb_large[k]) & ~(size - 1)) == 0) {
			soft_tlb_flush(c);
			return;
		}
	}
	for (unsigned u = 0; u < 2; u++)
		slot_drop(c, u, idx);
	c->chain_gen++;
}

/* Note what translate() put in slot (@user, @idx) for the flushes above. */
static void tlb_note(struct soft_cpu *c, bool user, unsigned idx,
		     uint64_t lin, uint64_t leaf, uint64_t psize, bool exec)
{
	bool global = (c->st.cr4 & VMM_CR4_PGE) && (leaf & (1u << 8));
	unsigned f = (unsigned)user << SOFT_TLB_BITS | idx;

	/* the second way at @idx only ever gets what this slot held, so
	 * the slot stands for both (soft_tlb_flush) */
	if (!(c->tlb_fill_bits[f / 64] & (1ull << (f % 64)))) {
		c->tlb_fill_bits[f / 64] |= 1ull << (f % 64);
		if (c->tlb_fill_n < SOFT_TLB_FILL_LOG)
			c->tlb_fill[c->tlb_fill_n] = (uint16_t)f;
		if (c->tlb_fill_n <= SOFT_TLB_FILL_LOG)
			c->tlb_fill_n++;
	}
	if (!global) {
		unsigned s = (unsigned)user << SOFT_TLB_BITS | idx;
		if (exec)
			c->tlb_ng_exec = true;
		if (!(c->tlb_ng_bits[s / 64] & (1ull << (s % 64)))) {
			c->tlb_ng_bits[s / 64] |= 1ull << (s % 64);
			if (c->tlb_ng_n < SOFT_TLB_NG_LOG)
				c->tlb_ng[c->tlb_ng_n] = (uint16_t)s;
			if (c->tlb_ng_n <= SOFT_TLB_NG_LOG)
				c->tlb_ng_n++;
		}
	}
	if (psize > 4096) {
		unsigned sh = (unsigned)__builtin_ctzll(psize);
		uint64_t key = (lin & ~(psize - 1)) | sh;
		for (unsigned k = 0; k < c->tlb_large_n &&
				     k < SOFT_TLB_LARGE_LOG; k++)
			if (c->tlb_large[k] == key)
				return;
		if (c->tlb_large_n < SOFT_TLB_LARGE_LOG)
			c->tlb_large[c->tlb_large_n] = key;
		if (c->tlb_large_n <= SOFT_TLB_LARGE_LOG)
			c->tlb_large_n++;
	}
}

static void paging_of(struct soft_cpu *c, struct vmm_paging *p)
{
	p->cr0 = c->st.cr0;
	p->cr3 = c->st.cr3;
	p->cr4 = c->st.cr4;
	p->efer = c->st.msr.efer;
	p->cpl = c->cpl;
	p->maxphyaddr = SOFT_MAXPHYADDR;
	p->pkru = c->pkru;
	p->pkrs = c->pkrs;
}

/*
 * What an instruction fetch from a guest-physical page that is neither RAM
 * nor ROM sees: the bus returns all-ones for a read nobody claims (a PCI
 * master abort), so the decoder sees ff ff ...: FF /7, a reserved
 * encoding, and the guest gets #UD.  Device (MMIO) memory is not executed
 * through the bus either: the soft backend never issues a device read for
 * an instruction fetch (docs/soft-backend.md).  Read-only, so not writable
 * global state.
 */
static const uint8_t open_bus_page[4096] = { [0 ... 4095] = 0xff };

/*
 * Translate @lin for @acc (VMM_ACCESS_*); raise #PF/#GP on failure.
 * Returns the guest-physical address; fills the TLB when it is RAM.
 * *@host gets the host pointer of the page (NULL for MMIO; for writes,
 * NULL for ROM).
 */
static uint64_t translate(struct soft_cpu *c, uint64_t lin, unsigned acc,
			  bool user, uint8_t **host)
{
	struct vmm_gmem *m = &c->vm->mem;
	struct vmm_paging p;
	uint64_t gpa, page = lin & ~0xfffull, gpage;
	uint32_t ec = 0;
	uint8_t *h;
	bool user_page = false;
	uint64_t psize = 0, leaf = 0;
	int r;

	{
		/* the second way: swap it in when it allows @acc */
		unsigned idx = soft_tlb_idx(lin);
		struct soft_tlb_entry *v = &c->tlb_victim[user][idx];
		uint64_t tag = (acc & VMM_ACCESS_WRITE) ? v->tag_w :
			       (acc & VMM_ACCESS_EXEC) ? v->tag_x : v->tag_r;
		if (tag == page) {
			struct soft_tlb_entry t = c->tlb[user][idx];
			c->tlb[user][idx] = *v;
			*v = t;
			c->st_tlb_hits++;
			*host = (uint8_t *)(uintptr_t)(page + c->tlb[user][idx].addend);
			return c->tlb[user][idx].gpa | (lin & 0xfff);
		}
	}
	if (!(acc & VMM_ACCESS_EXEC)) {
		/*
		 * An access the TLB allowed but gave no entry a fast path
		 * matches (tag = page | SOFT_TLB_SLOW), so that each such
		 * access comes here: a write to RAM while dirty pages are
		 * logged or to a page holding code, any access to a page that
		 * is not RAM (MMIO, unassigned, a write to ROM).  The walk's
		 * outcome stands, as it would for an entry; the host pointer
		 * is looked up again (NULL sends the access to the bus); the
		 * store's slow path then reports code writes and, after the
		 * store, marks the page dirty (st_page(), st_logged()), as
		 * after a walk.  A walk otherwise: the reason may be gone (the log
		 * stopped, the page's blocks dropped, RAM mapped there) and a
		 * plain entry due.
		 */
		struct soft_tlb_entry *e = &c->tlb[user][soft_tlb_idx(lin)];
		bool w = (acc & VMM_ACCESS_WRITE) != 0;
		if ((w ? e->tag_w : e->tag_r) == (page | SOFT_TLB_SLOW)) {
			h = vmm_gmem_host_ptr(m, e->gpa, 4096, w);
			if (!h || (w && (atomic_load_explicit(
						 &c->svm->dirty_logging,
						 memory_order_relaxed) ||
					 soft_tb_is_code(c, e->gpa)))) {
				c->st_tlb_hits++;
				*host = h;
				return e->gpa | (lin & 0xfff);
			}
		}
	}
	c->st_tlb_misses++;
	if (c->lma) {
		int64_t s = (int64_t)(lin << 16) >> 16;
		if ((uint64_t)s != lin)
			soft_gp(c, 0);
	}
	paging_of(c, &p);
	if (user)
		acc |= VMM_ACCESS_USER;
	else if (c->cpl < 3 && (c->st.rflags & FL_AC))
		acc |= VMM_GMEM_ACCESS_AC;
	r = vmm_gmem_walk_ex(m, &p, lin, acc, true, &gpa, &ec, &psize,
			     &user_page, &leaf);
	if (r) { /* the walk fails only with a fault: no VMM stop */
		if (!c->paging)
			soft_gp(c, 0);
		c->st.cr2 = lin;
		soft_fault(c, 14, ec);
	}
	gpage = gpa & ~0xfffull;
	h = vmm_gmem_host_ptr(m, gpage, 4096, (acc & VMM_ACCESS_WRITE) != 0);
	*host = h;
	/* with SMAP, EFLAGS.AC decides each supervisor access to a user
	 * page: no TLB entry, every such access walks */
	if (h && !(user_page && !user && (c->st.cr4 & VMM_CR4_SMAP))) {
		struct soft_tlb_entry *e =
			&c->tlb[user][soft_tlb_idx(lin)];
		bool code = soft_tb_is_code(c, gpage);
		if (e->tag_r != page || e->gpa != gpage) {
			/* keep the entry it replaces as the second way */
			if (e->tag_r != SOFT_TLB_INVALID && e->tag_r != page)
				c->tlb_victim[user][soft_tlb_idx(lin)] = *e;
			e->tag_r = e->tag_w = e->tag_x = SOFT_TLB_INVALID;
			e->gpa = gpage;
		}
		e->addend = (uintptr_t)h - page;
		tlb_note(c, user, soft_tlb_idx(lin), lin, leaf, psize,
			 (acc & VMM_ACCESS_EXEC) != 0);
		if (unlikely(c->dr_data) && soft_dr_watched_page(c, page)) {
			/* a data breakpoint watches this page: every
			 * access takes the slow path (dbg.c) */
			e->tag_r = e->tag_w = e->tag_x = SOFT_TLB_INVALID;
			return gpa;
		}
		e->tag_r = page;
		if (acc & VMM_ACCESS_EXEC)
			e->tag_x = page;
		if ((acc & VMM_ACCESS_WRITE) && !code &&
		    !atomic_load_explicit(&c->svm->dirty_logging,
					  memory_order_relaxed)) {
			e->tag_w = page;
			c->tlb_w_pages[(gpage >> 18) & 3] |=
				1ull << ((gpage >> 12) & 63);
		} else if (acc & VMM_ACCESS_WRITE) {
			e->tag_w = page | SOFT_TLB_SLOW;
		}
	} else if (!h && !(acc & VMM_ACCESS_EXEC) &&
		   !(user_page && !user && (c->st.cr4 & VMM_CR4_SMAP))) {
		/* not RAM (or ROM written): an entry only translate() uses,
		 * so that the next access to the page does not walk */
		struct soft_tlb_entry *e =
			&c->tlb[user][soft_tlb_idx(lin)];
		if (e->gpa != gpage || (e->tag_r != page &&
					e->tag_r != (page | SOFT_TLB_SLOW))) {
			if (e->tag_r != SOFT_TLB_INVALID &&
			    (e->tag_r & ~SOFT_TLB_SLOW) != page)
				c->tlb_victim[user][soft_tlb_idx(lin)] = *e;
			e->tag_r = e->tag_w = e->tag_x = SOFT_TLB_INVALID;
			e->gpa = gpage;
			e->addend = 0;
		}
		tlb_note(c, user, soft_tlb_idx(lin), lin, leaf, psize, false);
		if (unlikely(c->dr_data) && soft_dr_watched_page(c, page)) {
			e->tag_r = e->tag_w = e->tag_x = SOFT_TLB_INVALID;
			return gpa;
		}
		/* (a ROM page keeps its read entry) */
		if (e->tag_r != page)
			e->tag_r = page | SOFT_TLB_SLOW;
		if (acc & VMM_ACCESS_WRITE)
			e->tag_w = page | SOFT_TLB_SLOW;
	}
	return gpa;
}

static uint64_t ld_page(struct soft_cpu *c, uint64_t lin, unsigned size,
			bool user)
{
	uint8_t *h;
	uint64_t gpa = translate(c, lin, 0, user, &h);

	if (h)
		return soft_ldh(h + (lin & 0xfff), size);
	if (!vmm_gmem_is_ram(&c->vm->mem, gpa, 1))
		return soft_mmio_read(c, gpa, size);
	/* RAM but not readable as a whole page (region edge) */
	{
		uint64_t v = 0;
		if (vmm_gmem_read(&c->vm->mem, gpa, &v, size))
			return soft_mmio_read(c, gpa, size);
		return v;
	}
}

uint64_t soft_ld_slow(struct soft_cpu *c, uint64_t lin, unsigned size,
		      bool user)
{
	unsigned first = 4096 - (unsigned)(lin & 0xfff);
	uint64_t lo, hi;

	if (!c->lm64 && !c->lma)
		lin = (uint32_t)lin;
	if (unlikely(c->dr_data))
		soft_dr_data(c, lin, size, false);
	if (first >= size)
		return ld_page(c, lin, size, user);
	/* crosses a page: byte by byte through both pages */
	lo = 0;
	for (unsigned k = 0; k < size; k++) {
		uint64_t a = lin + k;
		if (!c->lma)
			a = (uint32_t)a;
		hi = ld_page(c, a, 1, user);
		lo |= hi << (8 * k);
	}
	return lo;
}

/*
 * A store through a host pointer of translate() landed: while dirty
 * pages are logged (no TLB entry is writable then, so every guest store
 * comes here), mark its page now.  vmm_gmem_host_ptr() does not mark:
 * a mark before the store lets a log fetch in between (a pre-copy round)
 * clear the bit and copy the page without the store, which then nothing
 * reports (tests/unit/soft test_dirty_order).  Logging switched on after
 * the check below is no gap: vmm_mem_dirty_log() waits until running
 * vCPUs have seen it, and the first full copy starts after that.
 */
static void st_logged(struct soft_cpu *c, uint64_t gpa, uint64_t len)
{
	if (atomic_load_explicit(&c->svm->dirty_logging, memory_order_relaxed))
		vmm_gmem_mark_dirty(&c->vm->mem, gpa, len);
}

static void st_page(struct soft_cpu *c, uint64_t lin, uint64_t gpa,
		    uint8_t *h, unsigned size, uint64_t v)
{
	if (h) {
		if (soft_tb_is_code(c, gpa & ~0xfffull))
			soft_tb_page_write(c, gpa & ~0xfffull);
		soft_sth(h + (lin & 0xfff), size, v);
		st_logged(c, gpa, size);
		return;
	}
	soft_mmio_write(c, gpa, size, v);
}

void soft_st_slow(struct soft_cpu *c, uint64_t lin, unsigned size, uint64_t v,
		  bool user)
{
	unsigned first = 4096 - (unsigned)(lin & 0xfff);
	uint8_t *h1, *h2;
	uint64_t g1, g2, lin2;

	if (!c->lma)
		lin = (uint32_t)lin;
	if (unlikely(c->dr_data))
		soft_dr_data(c, lin, size, true);
	g1 = translate(c, lin, VMM_ACCESS_WRITE, user, &h1);
	if (first >= size) {
		st_page(c, lin, g1, h1, size, v);
		return;
	}
	lin2 = lin + first;
	if (!c->lma)
		lin2 = (uint32_t)lin2;
	g2 = translate(c, lin2, VMM_ACCESS_WRITE, user, &h2);
	for (unsigned k = 0; k < size; k++) {
		uint8_t b = (uint8_t)(v >> (8 * k));
		if (k < first)
			st_page(c, lin + k, g1 + k, h1, 1, b);
		else
			st_page(c, lin2 + (k - first), g2 + (k - first), h2, 1,
				b);
	}
}

void soft_probe_write(struct soft_cpu *c, unsigned seg, uint64_t off,
		      unsigned size)
{
	uint64_t lin = soft_lin_fast(c, seg, off, size, true);
	struct soft_tlb_entry *e =
		&c->tlb[c->tlb_user][soft_tlb_idx(lin)];
	uint8_t *h;

	if (e->tag_w == (lin & ~0xfffull) && (lin & 0xfff) <= 4096u - size)
		return;
	translate(c, lin, VMM_ACCESS_WRITE, c->tlb_user, &h);
	if ((lin & 0xfff) > 4096u - size)
		translate(c, (lin | 0xfff) + 1, VMM_ACCESS_WRITE, c->tlb_user,
			  &h);
}

uint64_t soft_ld_sys(struct soft_cpu *c, uint64_t lin, unsigned size)
{
	struct soft_tlb_entry *e = &c->tlb[0][soft_tlb_idx(lin)];

	if (!c->lma)
		lin = (uint32_t)lin;
	if (e->tag_r == (lin & ~0xfffull) && (lin & 0xfff) <= 4096u - size)
		return soft_ldh((void *)(uintptr_t)(lin + e->addend), size);
	return soft_ld_slow(c, lin, size, false);
}

void soft_st_sys(struct soft_cpu *c, uint64_t lin, unsigned size, uint64_t v)
{
	if (!c->lma)
		lin = (uint32_t)lin;
	soft_st_slow(c, lin, size, v, false);
}

/*
 * Multi-byte system accesses (FXSAVE/FXRSTOR, FNSAVE/FRSTOR, FLDENV...):
 * one translation per page and a copy for RAM; device memory and pages a
 * data breakpoint may watch go byte by byte as before (one device access
 * per byte, a breakpoint check per byte).
 */
void soft_read_lin(struct soft_cpu *c, uint64_t lin, void *buf, unsigned len,
		   bool user)
{
	uint8_t *b = buf;

	for (unsigned k = 0; k < len;) {
		uint64_t a = c->lma ? lin + k : (uint32_t)(lin + k);
		unsigned n = 4096 - (unsigned)(a & 0xfff);
		uint8_t *h;

		if (n > len - k)
			n = len - k;
		if (!c->dr_data) {
			const struct soft_tlb_entry *e =
				&c->tlb[user][soft_tlb_idx(a)];
			if (e->tag_r == (a & ~0xfffull)) {
				c->st_tlb_hits++;
				h = (uint8_t *)(uintptr_t)((a & ~0xfffull) +
							   e->addend);
			} else {
				translate(c, a, 0, user, &h);
			}
			if (h) {
				memcpy(b + k, h + (a & 0xfff), n);
				k += n;
				continue;
			}
		}
		for (unsigned j = 0; j < n; j++)
			b[k + j] = (uint8_t)soft_ld_slow(c, a + j, 1, user);
		k += n;
	}
}

void soft_write_lin(struct soft_cpu *c, uint64_t lin, const void *buf,
		    unsigned len, bool user)
{
	const uint8_t *b = buf;

	/* probe every page first: no partial writes on a fault */
	for (unsigned k = 0; k < len; k = (k | 0xfff) + 1) {
		uint64_t a = (lin + k) & (c->lma ? ~0ull : 0xffffffffull);
		uint8_t *h;
		if (c->tlb[user][soft_tlb_idx(a)].tag_w != (a & ~0xfffull))
			translate(c, a, VMM_ACCESS_WRITE, user, &h);
	}
	for (unsigned k = 0; k < len;) {
		uint64_t a = c->lma ? lin + k : (uint32_t)(lin + k);
		unsigned n = 4096 - (unsigned)(a & 0xfff);
		uint8_t *h;
		uint64_t g;

		if (n > len - k)
			n = len - k;
		if (!c->dr_data) {
			const struct soft_tlb_entry *e =
				&c->tlb[user][soft_tlb_idx(a)];
			if (e->tag_w == (a & ~0xfffull)) {
				/* (no TLB write entry on code pages or while
				 * dirty pages are logged) */
				c->st_tlb_hits++;
				memcpy((uint8_t *)(uintptr_t)((a & ~0xfffull) +
							      e->addend) +
					       (a & 0xfff),
				       b + k, n);
				k += n;
				continue;
			}
			g = translate(c, a, VMM_ACCESS_WRITE, user, &h);
			if (h) {
				if (soft_tb_is_code(c, g & ~0xfffull))
					soft_tb_page_write(c, g & ~0xfffull);
				memcpy(h + (a & 0xfff), b + k, n);
				st_logged(c, g, n);
				k += n;
				continue;
			}
		}
		for (unsigned j = 0; j < n; j++)
			soft_st_slow(c, a + j, 1, b[k + j], user);
		k += n;
	}
}

const uint8_t *soft_fetch_page(struct soft_cpu *c, uint64_t lin, uint64_t *gpa)
{
	struct soft_tlb_entry *e =
		&c->tlb[c->tlb_user][soft_tlb_idx(lin)];
	uint8_t *h;
	uint64_t g;

	if (e->tag_x == (lin & ~0xfffull)) {
		c->st_tlb_hits++;
		*gpa = e->gpa | (lin & 0xfff);
		return (const uint8_t *)(uintptr_t)(lin + e->addend);
	}
	g = translate(c, lin, VMM_ACCESS_EXEC, c->tlb_user, &h);
	*gpa = g;
	/* not RAM/ROM: open bus.  Blocks translated from it are dropped at
	 * the next memory-map check (tb_bytes_match() needs RAM) */
	if (!h)
		return open_bus_page + (lin & 0xfff);
	return h + (lin & 0xfff);
}

void *soft_atomic_ptr(struct soft_cpu *c, unsigned seg, uint64_t off,
		      unsigned size)
{
	uint64_t lin = soft_lin_fast(c, seg, off, size, true);
	struct soft_tlb_entry *e =
		&c->tlb[c->tlb_user][soft_tlb_idx(lin)];
	uint8_t *h;

	if ((lin & 0xfff) > 4096u - size)
		return NULL;
	if (e->tag_w != (lin & ~0xfffull))
		translate(c, lin, VMM_ACCESS_WRITE, c->tlb_user, &h);
	if (e->tag_w != (lin & ~0xfffull))
		return NULL;
	return (void *)(uintptr_t)(lin + e->addend);
}
