/* SPDX-License-Identifier: MIT */
/*
 * mode.c - what the CPU derives from its architectural state: the mode
 * (real, virtual-8086, protected 16/32, compatibility, 64-bit), CPL (SS.DPL
 * in protected mode, as VMX keeps it), default code and stack sizes, and
 * the per-segment bases and check masks the memory fast path uses.
 */
#include "cpu/soft/soft.h"

void soft_update_seg(struct soft_cpu *c, int s)
{
	const struct vmm_segment *g = &c->st.seg[s];
	unsigned bit = 1u << s;
	bool flat, writable, readable;
	uint64_t old_base, old_lim;

	if (s > VMM_GS)
		return;
	old_base = c->segbase[s];
	old_lim = c->seglim[s];
	if (c->lm64) {
		c->segbase[s] = (s == VMM_FS || s == VMM_GS) ? g->base : 0;
		c->segchk &= ~bit;
		c->segwchk &= ~bit;
	} else {
		c->segbase[s] = (uint32_t)g->base;
		c->seglim[s] = g->limit;
		if (!c->pe || c->vm86) {
			flat = g->limit == 0xffffffffu;
			writable = readable = true;
		} else {
			bool code = g->type & 8;
			flat = g->limit == 0xffffffffu && !g->unusable &&
			       g->present && !(!code && (g->type & 4));
			readable = !code || (g->type & 2);
			writable = !code && (g->type & 2);
		}
		if (flat && readable)
			c->segchk &= ~bit;
		else
			c->segchk |= bit;
		if (flat && writable)
			c->segwchk &= ~bit;
		else
			c->segwchk |= bit;
	}
	/* the stack-address size follows SS.B wherever SS is loaded (MOV,
	 * POP, LSS, far transfers, IRET, task switches): PUSH/CALL after a
	 * MOV SS of a flat 32-bit segment in 16-bit code use ESP */
	if (s == VMM_SS)
		c->ssz = c->lm64 ? 8 : g->db ? 4 : 2;
	/* chained successors and jump-cache entries hold blocks found at
	 * CS.base + RIP within CS.limit (thread.h): a new base or limit
	 * makes them stale; reloading the same CS (every interrupt and IRET
	 * of a 64-bit kernel) does not */
	if (s == VMM_CS &&
	    (c->segbase[s] != old_base || c->seglim[s] != old_lim))
		c->chain_gen++;
	/* the JIT's 32-bit code assumes what jit_segslow says at its entry
	 * guard and its patched links enter past the guard (jit/jit.c
	 * seg_fast): a change makes them stale.  64-bit code does not use
	 * it (bits set, no bump: an FS/GS base written at every context
	 * switch must not cost the links) */
	if (c->lm64) {
		c->jit_segslow |= bit;
	} else {
		unsigned old = c->jit_segslow;
		if ((c->segwchk & bit) || c->segbase[s] ||
		    (s == VMM_SS && c->ssz != 4))
			c->jit_segslow |= bit;
		else
			c->jit_segslow &= ~bit;
		if (c->jit_segslow != old)
			c->chain_gen++;
	}
}

void soft_update_mode(struct soft_cpu *c)
{
	const struct vmm_cpu_state *st = &c->st;
	/* what a chained successor or jump-cache entry was found with
	 * besides CS.base/limit (soft_update_seg) and the TLB (which
	 * bumps chain_gen when flushed): the code size (the block key),
	 * and user or supervisor fetches (a chain made at CPL0 must not
	 * let CPL3 code into a supervisor page) */
	unsigned old_view = c->csz | (unsigned)c->tlb_user << 4 |
			    (unsigned)c->pe << 5 | (unsigned)c->vm86 << 6 |
			    (unsigned)c->paging << 7;

	c->pe = st->cr0 & VMM_CR0_PE;
	c->paging = c->pe && (st->cr0 & VMM_CR0_PG);
	c->lma = st->msr.efer & VMM_EFER_LMA;
	c->vm86 = c->pe && !c->lma && (st->rflags & FL_VM);
	c->lm64 = c->lma && st->seg[VMM_CS].l;
	if (!c->pe)
		c->cpl = 0;
	else if (c->vm86)
		c->cpl = 3;
	else
		c->cpl = st->seg[VMM_SS].dpl;
	c->csz = c->lm64 ? 8 : st->seg[VMM_CS].db ? 4 : 2;
	c->ssz = c->lm64 ? 8 : st->seg[VMM_SS].db ? 4 : 2;
	c->ipmask = c->lm64 ? ~0ull : 0xffffffffull;
	c->tlb_user = c->cpl == 3;
	c->segchk = c->segwchk = 0;
	for (int s = VMM_ES; s <= VMM_GS; s++)
		soft_update_seg(c, s);
	if (old_view != (c->csz | (unsigned)c->tlb_user << 4 |
			 (unsigned)c->pe << 5 | (unsigned)c->vm86 << 6 |
			 (unsigned)c->paging << 7))
		c->chain_gen++;
	soft_dr_update(c); /* CR4.DE and state loads */
}
