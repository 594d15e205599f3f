/* SPDX-License-Identifier: MIT */
/*
 * dbg.c - the debug registers (SDM 17.2-17.3): DR7 decoded into masks of
 * enabled instruction, data and I/O breakpoints whenever DR0-DR3, DR7 or
 * CR4.DE change; instruction breakpoints matched before an instruction
 * (the executor runs instructions one by one while one is enabled), data
 * breakpoints matched in the slow memory path (pages with a watched byte
 * get no TLB entry while a data breakpoint is enabled), I/O breakpoints
 * in port I/O.  Nothing here runs while DR7 enables nothing.
 *
 * The debugger's breakpoints (vmm_vcpu_set_hw_breakpoints()) are four more
 * slots beside the guest's, bits 4-7 of the same masks: matched the same
 * way, but a hit ends the run with VMM_EXIT_DEBUG (tb.c) instead of a #DB,
 * and the guest's DR0-DR7 never see them.
 */
#include "cpu/soft/soft.h"

/* bytes covered by the LEN field @len (10b = 8 bytes, as in long mode) */
static unsigned bp_len(unsigned len)
{
	static const unsigned n[4] = { 1, 2, 8, 4 };

	return n[len & 3];
}

void soft_dr_update(struct soft_cpu *c)
{
	uint64_t dr7 = c->st.dr7;
	uint8_t ex = 0, data = 0, io = 0;
	uint64_t sig;

	for (unsigned k = 0; k < 4; k++) {
		unsigned rw = (dr7 >> (16 + 4 * k)) & 3;
		if (!((dr7 >> (2 * k)) & 3))
			continue;
		if (rw == 0)
			ex |= 1u << k;
		else if (rw == 2)
			io |= (c->st.cr4 & 8u /* CR4.DE */) ? 1u << k : 0;
		else
			data |= 1u << k;
	}
	for (unsigned k = 0; k < 4; k++) {
		if (c->hbp[k].kind == VMM_HWBP_EXEC)
			ex |= 0x10u << k;
		else if (c->hbp[k].kind != VMM_HWBP_OFF)
			data |= 0x10u << k;
	}
	if (ex != c->dr_exec)
		c->chain_gen++; /* stop linking blocks: exec_loop must see it */
	c->dr_exec = ex;
	c->dr_io = io;
	/* pages with a watched byte lose their TLB entries when the data
	 * breakpoints change, so that accesses to them take the slow path */
	sig = data;
	for (unsigned k = 0; k < 8; k++)
		if (data & (1u << k))
			sig = sig * 31 +
			      (k < 4 ? c->st.dr[k] +
					       ((dr7 >> (18 + 4 * k)) & 3)
				     : c->hbp[k - 4].addr + c->hbp[k - 4].len);
	if (data != c->dr_data || sig != c->dr_sig) {
		c->dr_data = data;
		c->dr_sig = sig;
		soft_tlb_flush(c);
	}
}

/* enabled breakpoints of @mask whose range overlaps [@a, @a + @n) */
static uint32_t match(const struct soft_cpu *c, uint8_t mask, uint64_t a,
		      unsigned n, bool write)
{
	uint32_t hits = 0;

	for (unsigned k = 0; k < 8; k++) {
		unsigned rw, len;
		uint64_t lo;

		if (!(mask & (1u << k)))
			continue;
		if (k < 4) {
			rw = (c->st.dr7 >> (16 + 4 * k)) & 3;
			len = bp_len((unsigned)(c->st.dr7 >> (18 + 4 * k)));
			lo = c->st.dr[k] & ~(uint64_t)(len - 1);
			if (rw == 1 && !write)
				continue;
		} else {
			const struct vmm_hw_bp *b = &c->hbp[k - 4];
			len = b->len;
			lo = b->addr;
			if ((b->kind == VMM_HWBP_WRITE && !write) ||
			    (b->kind == VMM_HWBP_READ && write))
				continue;
		}
		if (a < lo + len && lo < a + n)
			hits |= 1u << k;
	}
	return hits;
}

bool soft_dr_watched_page(const struct soft_cpu *c, uint64_t page)
{
	/* a read-only debugger slot must make its page slow too */
	return (match(c, c->dr_data, page, 4096, true) |
		match(c, c->dr_data, page, 4096, false)) != 0;
}

void soft_dr_data(struct soft_cpu *c, uint64_t lin, unsigned size, bool write)
{
	uint32_t hits = match(c, c->dr_data, lin, size, write);

	if (hits) {
		c->db_hits |= hits;
		c->ev |= SEV_DBG;
	}
}

void soft_dr_io(struct soft_cpu *c, uint16_t port, unsigned size)
{
	uint32_t hits = match(c, c->dr_io, port, size, true);

	if (hits) {
		c->db_hits |= hits;
		c->ev |= SEV_DBG;
	}
}

uint32_t soft_dr_exec(const struct soft_cpu *c)
{
	uint64_t lin = c->st.seg[VMM_CS].base + c->st.rip;

	if (!c->lm64)
		lin = (uint32_t)lin;
	/* an instruction breakpoint matches the first byte only (LEN 00) */
	return match(c, c->dr_exec, lin, 1, false);
}

void soft_db_trap(struct soft_cpu *c, bool tf)
{
	uint32_t bits;

	if (c->ss_shadow_now) {
		/* MOV SS / POP SS: debug traps wait for the next
		 * instruction, which reports them with its own */
		c->ss_shadow_now = false;
		return;
	}
	c->hbp_hits |= (uint8_t)(c->db_hits >> 4); /* the debugger's */
	bits = (c->db_hits & 0xfu) | (tf ? 0x4000u : 0);
	c->db_hits = 0;
	c->ev &= ~SEV_DBG;
	if (!bits)
		return;
	c->st.dr6 = (c->st.dr6 & ~0xfull) | bits | 0xffff0ff0u;
	soft_flags_commit(c);
	c->delivering = 1;
	soft_deliver(c, 1, false, 0, EV_EXT, c->st.rip);
	c->delivering = -1;
}

void soft_hbp_set(struct soft_cpu *c, const struct vmm_hw_bp *bp, unsigned n)
{
	memset(c->hbp, 0, sizeof(c->hbp));
	for (unsigned k = 0; k < n && k < 4; k++)
		c->hbp[k] = bp[k];
	c->hbp_hits = 0;
	/* hbp_skip stays: slots changed at an exec stop still let the
	 * stopped instruction run first */
	soft_dr_update(c);
}
