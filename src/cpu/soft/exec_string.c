/* SPDX-License-Identifier: MIT */
/*
 * exec_string.c - string instructions MOVS CMPS STOS LODS SCAS INS OUTS,
 * with REP/REPE/REPNE.  Registers are updated after every element, so a
 * fault or an exit in the middle leaves an architecturally consistent
 * state (RIP still at the instruction, RCX/RSI/RDI of the done part);
 * long REP runs yield every SOFT_REP_CHUNK elements so kicks and
 * interrupts are seen.  REP INS/OUTS exit once per element, and so does
 * any REP element that read or wrote MMIO: the instruction pauses after
 * it, so a REP between device pages never needs more than one element's
 * replayed reads or queued writes.  REP MOVS and
 * STOS copy whole page runs through host pointers when they can.
 */
#include "cpu/soft/exec.h"

#define SOFT_REP_CHUNK 4096

static inline void adv(struct soft_cpu *c, unsigned r, unsigned as,
		       int64_t d)
{
	soft_set_reg(c, r, as, c->st.gpr[r] + (uint64_t)d);
}

static inline int64_t delta(struct soft_cpu *c, unsigned size)
{
	return (c->st.rflags & FL_DF) ? -(int64_t)size : (int64_t)size;
}

/* Host pointer for [lin, lin+len) within one page if the TLB maps it. */
static uint8_t *tlb_ptr(struct soft_cpu *c, uint64_t lin, uint64_t len,
			bool write)
{
	struct soft_tlb_entry *e =
		&c->tlb[c->tlb_user][soft_tlb_idx(lin)];
	uint64_t tag = write ? e->tag_w : e->tag_r;

	if (tag != (lin & ~0xfffull) || (lin & 0xfff) + len > 4096)
		return NULL;
	return (uint8_t *)(uintptr_t)(lin + e->addend);
}

/* Bulk forward MOVS/STOS within a page; returns elements done (0 = none). */
static uint64_t bulk(struct soft_cpu *c, const struct soft_insn *i,
		     uint64_t n, bool movs)
{
	unsigned size = i->osz, as = i->asz;
	uint64_t di = soft_reg(c, VMM_RDI, as), si = soft_reg(c, VMM_RSI, as);
	uint64_t dlin, slin = 0, k, bytes;
	uint8_t *d, *s = NULL;

	if ((c->st.rflags & FL_DF) || c->segwchk || c->segchk)
		return 0;
	if (as != 8 && (di + n * size > soft_mask(as) ||
			(movs && si + n * size > soft_mask(as))))
		return 0;
	dlin = soft_lin_fast(c, VMM_ES, di, size, true);
	k = (4096 - (dlin & 0xfff)) / size;
	if (movs) {
		slin = soft_lin_fast(c, i->seg, si, size, false);
		uint64_t k2 = (4096 - (slin & 0xfff)) / size;
		if (k2 < k)
			k = k2;
	}
	if (k > n)
		k = n;
	if (!k)
		return 0;
	bytes = k * size;
	d = tlb_ptr(c, dlin, bytes, true);
	if (!d)
		return 0;
	if (movs) {
		s = tlb_ptr(c, slin, bytes, false);
		if (!s)
			return 0;
		if (d > s && d < s + size) {
			/* the destination less than an element ahead:
			 * element by element (each read before its write,
			 * as the CPU does), not byte by byte */
			for (uint64_t j = 0; j < bytes; j += size)
				soft_sth(d + j, size, soft_ldh(s + j, size));
		} else if (d > s && d < s + bytes) {
			/* an element or more ahead: byte by byte forward is
			 * the same as element by element */
			for (uint64_t j = 0; j < bytes; j++)
				d[j] = s[j];
		} else {
			memmove(d, s, bytes);
		}
		soft_set_reg(c, VMM_RSI, as, si + bytes);
	} else {
		uint64_t v = c->st.gpr[VMM_RAX];
		if (size == 1) {
			memset(d, (int)(v & 0xff), bytes);
		} else {
			for (uint64_t j = 0; j < k; j++)
				soft_sth(d + j * size, size, v);
		}
	}
	soft_set_reg(c, VMM_RDI, as, di + bytes);
	return k;
}

static int op_string(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned size = i->osz, as = i->asz, op = i->op;
	bool rep = i->pfx & (PFX_REP | PFX_REPNE);
	uint64_t n = rep ? soft_reg(c, VMM_RCX, as) : 1;
	unsigned done = 0;

	if (op == 0x6c || op == 0x6d || op == 0x6e || op == 0x6f) {
		if (!n)
			return SOFT_NEXT;
		soft_io_check(c, (uint16_t)c->st.gpr[VMM_RDX], size);
	}
	while (n) {
		int64_t d = delta(c, size);
		uint64_t si = soft_reg(c, VMM_RSI, as);
		uint64_t di = soft_reg(c, VMM_RDI, as);
		uint64_t a, b;
		bool stop = false;

		if (rep && (op == 0xa4 || op == 0xa5 || op == 0xaa ||
			    op == 0xab) && n > 1) {
			uint64_t k = bulk(c, i, n, op < 0xaa);
			if (k) {
				n -= k;
				soft_set_reg(c, VMM_RCX, as, n);
				done += (unsigned)k;
				goto chunk;
			}
		}
		switch (op) {
		case 0xa4: case 0xa5: /* MOVS */
			a = soft_ld(c, i->seg, si, size);
			soft_st(c, VMM_ES, di, size, a);
			adv(c, VMM_RSI, as, d);
			adv(c, VMM_RDI, as, d);
			break;
		case 0xa6: case 0xa7: /* CMPS */
			a = soft_ld(c, i->seg, si, size);
			b = soft_ld(c, VMM_ES, di, size);
			adv(c, VMM_RSI, as, d);
			adv(c, VMM_RDI, as, d);
			soft_lf(c, LF_SUB, size, (a - b) & soft_mask(size), a,
				b);
			stop = true;
			break;
		case 0xaa: case 0xab: /* STOS */
			soft_st(c, VMM_ES, di, size, c->st.gpr[VMM_RAX]);
			adv(c, VMM_RDI, as, d);
			break;
		case 0xac: case 0xad: /* LODS */
			a = soft_ld(c, i->seg, si, size);
			soft_set_reg(c, VMM_RAX, size, a);
			adv(c, VMM_RSI, as, d);
			break;
		case 0xae: case 0xaf: /* SCAS */
			a = soft_reg(c, VMM_RAX, size);
			b = soft_ld(c, VMM_ES, di, size);
			adv(c, VMM_RDI, as, d);
			soft_lf(c, LF_SUB, size, (a - b) & soft_mask(size), a,
				b);
			stop = true;
			break;
		case 0x6c: case 0x6d: /* INS */
			soft_probe_write(c, VMM_ES, di, size);
			a = soft_io_in(c, (uint16_t)c->st.gpr[VMM_RDX], size);
			soft_st(c, VMM_ES, di, size, a);
			adv(c, VMM_RDI, as, d);
			c->replay_n = c->replay_pos = 0;
			break;
		default: /* OUTS */
			a = soft_ld(c, i->seg, si, size);
			soft_io_out(c, (uint16_t)c->st.gpr[VMM_RDX], size, a);
			adv(c, VMM_RSI, as, d);
			break;
		}
		n--;
		done++;
		if (!rep)
			return SOFT_NEXT;
		soft_set_reg(c, VMM_RCX, as, n);
		if (stop) {
			bool zf = soft_cond(c, 4);
			if ((i->pfx & PFX_REP) ? !zf : zf)
				break;
		}
		if (op == 0x6e || op == 0x6f)
			goto chunk_out;
		if (unlikely((c->replay_pos | c->wq_n | c->db_hits) && n)) {
			/* the element read or wrote a device: the
			 * instruction pauses here (registers show the
			 * elements done, RIP stays), so each run redoes no
			 * element and an exit carries one element's reads
			 * or writes however long the REP is; so it does
			 * after an element that hit a data breakpoint,
			 * whose #DB trap comes after that iteration */
			goto pause;
		}
chunk:
		if (done >= SOFT_REP_CHUNK && n)
			goto pause;
	}
	return SOFT_NEXT;
pause:
	/* RIP unchanged: resume later; an interrupt taken in between
	 * pushes RF = 1 (SDM 6.13) */
	c->st.rflags |= FL_RF;
	c->rf_keep = true;
	return SOFT_END;
chunk_out:
	/* one OUTS element per exit */
	if (n)
		return SOFT_END;
	return SOFT_NEXT;
}

void soft_register_string(soft_fn *t)
{
	for (unsigned op = 0xa4; op <= 0xaf; op++)
		if (op != 0xa8 && op != 0xa9)
			t[op] = op_string;
	t[0x6c] = t[0x6d] = t[0x6e] = t[0x6f] = op_string;
}
