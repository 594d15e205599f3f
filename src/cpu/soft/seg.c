/* SPDX-License-Identifier: MIT */
/*
 * seg.c - segment registers: descriptor reads from the GDT/LDT, loads with
 * the architectural type, privilege and presence checks (#GP/#SS/#NP with
 * the selector as error code), null selectors, and the far transfers that
 * change CS: JMP/CALL far (code segments, call gates of 16, 32 and 64 bits
 * including CALL to a more privileged level with the stack switch from the
 * TSS and the parameter copy), RET far (also to an outer level) and IRET
 * in every mode.  Task switches (TSS descriptors, task gates, IRET with
 * NT=1) are in task.c.
 */
#include "cpu/soft/soft.h"

void soft_seg_real(struct vmm_segment *s, uint16_t sel)
{
	s->selector = sel;
	s->base = (uint64_t)sel << 4;
	s->unusable = 0;
	s->present = 1;
}

void soft_set_cs_real(struct soft_cpu *c, uint16_t sel)
{
	soft_seg_real(&c->st.seg[VMM_CS], sel);
	if (c->vm86) {
		c->st.seg[VMM_CS].limit = 0xffff;
		c->st.seg[VMM_CS].dpl = 3;
	}
	soft_update_seg(c, VMM_CS);
}

void soft_desc_to_seg(struct vmm_segment *s, uint16_t sel, uint64_t d)
{
	uint32_t limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));

	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->base = ((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000ull);
	s->type = (d >> 40) & 0xf;
	s->s = (d >> 44) & 1;
	s->dpl = (d >> 45) & 3;
	s->present = (d >> 47) & 1;
	s->avl = (d >> 52) & 1;
	s->l = (d >> 53) & 1;
	s->db = (d >> 54) & 1;
	s->g = (d >> 55) & 1;
	s->limit = s->g ? (limit << 12) | 0xfff : limit;
}

uint64_t soft_read_desc(struct soft_cpu *c, uint16_t sel, int vec)
{
	uint64_t base, limit;
	unsigned idx = sel & ~7u;

	if (sel & 4) {
		const struct vmm_segment *l = &c->st.seg[VMM_LDTR];
		if (l->unusable || !l->present)
			soft_fault(c, vec, sel & 0xfffc);
		base = l->base;
		limit = l->limit;
	} else {
		base = c->st.gdtr.base;
		limit = c->st.gdtr.limit;
	}
	if (idx + 7 > limit)
		soft_fault(c, vec, sel & 0xfffc);
	return soft_ld_sys(c, base + idx, 8);
}

void soft_mark_accessed(struct soft_cpu *c, uint16_t sel, uint64_t d)
{
	uint64_t base;

	if (!((d >> 44) & 1) || ((d >> 40) & 1))
		return;
	base = (sel & 4) ? c->st.seg[VMM_LDTR].base : c->st.gdtr.base;
	soft_st_sys(c, base + (sel & ~7u) + 5, 1, ((d >> 40) & 0xff) | 1);
}

void soft_load_seg(struct soft_cpu *c, int s, uint16_t sel)
{
	struct vmm_segment n;
	uint64_t d;
	unsigned rpl = sel & 3;

	if (!c->pe || c->vm86) {
		soft_seg_real(&c->st.seg[s], sel);
		if (c->vm86) {
			c->st.seg[s].limit = 0xffff;
			c->st.seg[s].dpl = 3;
			c->st.seg[s].type = 3;
			c->st.seg[s].s = 1;
			c->st.seg[s].db = 0;
			c->st.seg[s].g = 0;
		}
		soft_update_seg(c, s);
		return;
	}
	if (!(sel & 0xfffc)) {
		if (s == VMM_SS && !(c->lm64 && c->cpl < 3 && rpl == c->cpl))
			soft_gp(c, 0);
		memset(&n, 0, sizeof(n));
		n.selector = sel;
		n.unusable = 1;
		if (s == VMM_SS) {
			n.dpl = (uint8_t)c->cpl;
			n.db = 1;
			n.s = 1;
			n.type = 3;
		}
		c->st.seg[s] = n;
		soft_update_seg(c, s);
		return;
	}
	d = soft_read_desc(c, sel, 13);
	soft_desc_to_seg(&n, sel, d);
	if (s == VMM_SS) {
		if (rpl != c->cpl || n.dpl != c->cpl || !n.s ||
		    (n.type & 0xa) != 2)
			soft_gp(c, sel & 0xfffc);
		if (!n.present)
			soft_fault(c, 12, sel & 0xfffc);
	} else {
		if (!n.s || (n.type & 0xa) == 0x8) /* system, exec-only code */
			soft_gp(c, sel & 0xfffc);
		/* data and non-conforming code: DPL >= max(CPL, RPL) */
		if ((!(n.type & 8) || !(n.type & 4)) &&
		    (n.dpl < c->cpl || n.dpl < rpl))
			soft_gp(c, sel & 0xfffc);
		if (!n.present)
			soft_fault(c, 11, sel & 0xfffc);
	}
	soft_mark_accessed(c, sel, d);
	n.type |= 1;
	c->st.seg[s] = n;
	soft_update_seg(c, s);
}

/* Check a code segment descriptor for a JMP/CALL/RET to it. */
static void check_code(struct soft_cpu *c, const struct vmm_segment *n,
		       uint16_t sel, unsigned cpl_after, bool ret)
{
	if (!n->s || !(n->type & 8))
		soft_gp(c, sel & 0xfffc);
	if (n->type & 4) { /* conforming */
		if (n->dpl > (ret ? (sel & 3u) : c->cpl))
			soft_gp(c, sel & 0xfffc);
	} else if (ret ? n->dpl != (sel & 3u) :
			 ((sel & 3u) > c->cpl || n->dpl != c->cpl)) {
		soft_gp(c, sel & 0xfffc);
	}
	if (!n->present)
		soft_fault(c, 11, sel & 0xfffc);
	if (c->lma && n->l && n->db)
		soft_gp(c, sel & 0xfffc);
	(void)cpl_after;
}

/* Write @size bytes at @sp - @size on a stack of @base (supervisor). */
static uint64_t push_sys(struct soft_cpu *c, uint64_t base, uint64_t sp,
			 uint64_t spmask, unsigned size, uint64_t v)
{
	sp = (sp - size) & spmask;
	soft_st_sys(c, c->lma ? base + sp : (uint32_t)(base + sp), size, v);
	return sp;
}

/* Are [sp - room, sp - 1] inside stack segment @ss (32-bit modes)? */
static bool stack_room(const struct vmm_segment *ss, uint64_t sp,
		       unsigned room)
{
	uint64_t top = ss->db ? 0xffffffffull : 0xffff;
	uint64_t lo = (sp - room) & top, hi = (sp - 1) & top;

	if (lo > hi)
		return false; /* the frame would wrap around */
	if (ss->type & 4) /* expand-down: valid (limit, top] */
		return lo > ss->limit && hi <= top;
	return hi <= ss->limit;
}

/*
 * CALL through a call gate to the more privileged non-conforming code
 * segment @ncs (read from @tsel / @dcs): new stack from the TSS for the
 * new CPL (#TS for a bad TSS entry or stack selector, #SS for a stack not
 * present or too small), the caller's SS:ESP and, for 16/32-bit gates,
 * @pcount parameters of @gsz bytes copied from the caller's stack, then
 * CS:EIP.  Nothing changes before every check passed.
 */
static int call_gate_inner(struct soft_cpu *c, struct vmm_segment *ncs,
			   uint16_t tsel, uint64_t dcs, uint64_t off,
			   unsigned gsz, unsigned pcount, uint64_t ret_ip)
{
	const struct vmm_segment *tr = &c->st.seg[VMM_TR];
	unsigned dpl = ncs->dpl;
	uint16_t tss_err = tr->selector & 0xfffc;
	uint16_t old_ss = c->st.seg[VMM_SS].selector;
	uint16_t old_cs = c->st.seg[VMM_CS].selector;
	uint64_t old_sp = c->st.gpr[VMM_RSP], nsp, sp, sd = 0;
	uint64_t spmask = ~0ull;
	uint16_t nsel;
	struct vmm_segment nss;

	if (tr->unusable || !tr->present)
		soft_fault(c, 10, tss_err);
	if (c->lma) {
		unsigned o = 4 + dpl * 8;
		if (o + 7 > tr->limit)
			soft_fault(c, 10, tss_err);
		nsp = soft_ld_sys(c, tr->base + o, 8);
		if ((uint64_t)((int64_t)(nsp << 16) >> 16) != nsp)
			soft_fault(c, 12, 0);
		nsel = (uint16_t)dpl;
		memset(&nss, 0, sizeof(nss));
		nss.selector = nsel;
		nss.unusable = 1;
		nss.dpl = (uint8_t)dpl;
		nss.db = 1;
		nss.s = 1;
		nss.type = 3;
		sp = nsp;
		sp = push_sys(c, 0, sp, spmask, 8, old_ss);
		sp = push_sys(c, 0, sp, spmask, 8, old_sp);
		sp = push_sys(c, 0, sp, spmask, 8, old_cs);
		sp = push_sys(c, 0, sp, spmask, 8, ret_ip);
	} else {
		uint64_t params[31];
		uint64_t omask = soft_sp_mask(c);
		unsigned room;

		if (tr->type & 8) { /* 32-bit TSS: ESPn at 4 + 8n, SSn at 8 + 8n */
			unsigned o = 4 + dpl * 8;
			if (o + 5 > tr->limit)
				soft_fault(c, 10, tss_err);
			nsp = soft_ld_sys(c, tr->base + o, 4);
			nsel = (uint16_t)soft_ld_sys(c, tr->base + o + 4, 2);
		} else { /* 16-bit TSS: SPn at 2 + 4n, SSn at 4 + 4n */
			unsigned o = 2 + dpl * 4;
			if (o + 3 > tr->limit)
				soft_fault(c, 10, tss_err);
			nsp = soft_ld_sys(c, tr->base + o, 2);
			nsel = (uint16_t)soft_ld_sys(c, tr->base + o + 2, 2);
		}
		if (!(nsel & 0xfffc))
			soft_fault(c, 10, nsel & 0xfffc);
		sd = soft_read_desc(c, nsel, 10);
		soft_desc_to_seg(&nss, nsel, sd);
		if ((nsel & 3u) != dpl || nss.dpl != dpl || !nss.s ||
		    (nss.type & 0xa) != 2)
			soft_fault(c, 10, nsel & 0xfffc);
		if (!nss.present)
			soft_fault(c, 12, nsel & 0xfffc);
		room = gsz * (4 + pcount);
		if (!stack_room(&nss, nsp, room))
			soft_fault(c, 12, nsel & 0xfffc);
		/* the parameters, read with the caller's privilege */
		for (unsigned k = 0; k < pcount; k++)
			params[k] = soft_ld(c, VMM_SS,
					    (old_sp + (uint64_t)k * gsz) & omask,
					    gsz);
		spmask = nss.db ? 0xffffffffull : 0xffff;
		sp = nsp;
		sp = push_sys(c, nss.base, sp, spmask, gsz, old_ss);
		sp = push_sys(c, nss.base, sp, spmask, gsz, old_sp);
		for (unsigned k = pcount; k-- > 0;)
			sp = push_sys(c, nss.base, sp, spmask, gsz, params[k]);
		sp = push_sys(c, nss.base, sp, spmask, gsz, old_cs);
		sp = push_sys(c, nss.base, sp, spmask, gsz, ret_ip);
		sp = (nsp & ~spmask) | (sp & spmask);
		soft_mark_accessed(c, nsel, sd);
		nss.type |= 1;
	}
	/* commit */
	soft_mark_accessed(c, tsel, dcs);
	c->st.seg[VMM_SS] = nss;
	c->st.gpr[VMM_RSP] = sp;
	ncs->selector = (uint16_t)((tsel & 0xfffc) | dpl);
	ncs->type |= 1;
	c->st.seg[VMM_CS] = *ncs;
	soft_update_mode(c);
	c->st.rip = c->lma ? off : gsz == 2 ? off & 0xffff : (uint32_t)off;
	return SOFT_END;
}

int soft_far_jmp(struct soft_cpu *c, uint16_t sel, uint64_t off,
		 const struct soft_insn *i, bool call)
{
	unsigned osz = i->osz;
	struct vmm_segment n;
	uint64_t d, ret_ip = (c->st.rip + i->len) & c->ipmask;
	uint16_t old_cs = c->st.seg[VMM_CS].selector;

	if (!c->pe || c->vm86) {
		if (call) {
			/* probe both pushes before changing anything */
			uint64_t sp = c->st.gpr[VMM_RSP];
			soft_push(c, osz, old_cs);
			soft_push(c, osz, ret_ip);
			(void)sp;
		}
		soft_set_cs_real(c, sel);
		c->st.rip = off & soft_mask(osz);
		return SOFT_END;
	}
	if (!(sel & 0xfffc))
		soft_gp(c, 0);
	d = soft_read_desc(c, sel, 13);
	soft_desc_to_seg(&n, sel, d);
	if (!n.s) {
		unsigned t = n.type, pcount = (unsigned)(d >> 32) & 0x1f;
		uint64_t hi = 0;
		uint16_t tsel;
		bool task = t == 0x1 || t == 0x3 || t == 0x5 || t == 0x9 ||
			    t == 0xb;
		if (task && !c->lma) {
			/* task switch: the TSS or the gate must be
			 * reachable from CPL and RPL */
			if (n.dpl < c->cpl || n.dpl < (sel & 3u))
				soft_gp(c, sel & 0xfffc);
			if (!n.present)
				soft_fault(c, 11, sel & 0xfffc);
			if (t == 0x5)
				sel = (uint16_t)(d >> 16);
			return soft_task_switch(c, sel, call ? SOFT_TS_CALL :
					       SOFT_TS_JMP, ret_ip, false, 0, 0);
		}
		/* only call gates (in IA-32e mode: 64-bit ones) */
		if (c->lma ? t != 0xc : t != 0xc && t != 0x4)
			soft_gp(c, sel & 0xfffc);
		if (n.dpl < c->cpl || n.dpl < (sel & 3u))
			soft_gp(c, sel & 0xfffc);
		if (!n.present)
			soft_fault(c, 11, sel & 0xfffc);
		tsel = (uint16_t)(d >> 16);
		off = (d & 0xffff) | ((d >> 32) & 0xffff0000ull);
		if (c->lma) {
			/* 16-byte gate: the upper half's type must be 0 */
			uint64_t base = (sel & 4) ? c->st.seg[VMM_LDTR].base :
						    c->st.gdtr.base;
			uint64_t lim = (sel & 4) ? c->st.seg[VMM_LDTR].limit :
						   c->st.gdtr.limit;
			if ((sel & ~7u) + 15 > lim)
				soft_gp(c, sel & 0xfffc);
			hi = soft_ld_sys(c, base + (sel & ~7u) + 8, 8);
			if ((hi >> 40) & 0x1f)
				soft_gp(c, sel & 0xfffc);
			off |= (hi & 0xffffffffull) << 32;
			osz = 8;
		} else {
			osz = t == 0xc ? 4 : 2;
			if (t == 0x4)
				off &= 0xffff;
		}
		if (!(tsel & 0xfffc))
			soft_gp(c, 0);
		d = soft_read_desc(c, tsel, 13);
		soft_desc_to_seg(&n, tsel, d);
		if (!n.s || !(n.type & 8) || n.dpl > c->cpl)
			soft_gp(c, tsel & 0xfffc);
		if (!call && !(n.type & 4) && n.dpl != c->cpl)
			soft_gp(c, tsel & 0xfffc);
		if (!n.present)
			soft_fault(c, 11, tsel & 0xfffc);
		if (c->lma && (!n.l || n.db))
			soft_gp(c, tsel & 0xfffc);
		if (call && !(n.type & 4) && n.dpl < c->cpl)
			return call_gate_inner(c, &n, tsel, d, off, osz, pcount,
					       ret_ip);
		sel = tsel;
	} else {
		check_code(c, &n, sel, c->cpl, false);
	}
	if (call) {
		soft_push(c, osz, old_cs);
		soft_push(c, osz, ret_ip);
	}
	soft_mark_accessed(c, sel, d);
	n.selector = (uint16_t)((sel & 0xfffc) | c->cpl);
	n.type |= 1;
	c->st.seg[VMM_CS] = n;
	soft_update_mode(c);
	c->st.rip = c->lm64 ? off : (uint32_t)off & soft_mask(osz < 4 ? 2 : 4);
	return SOFT_END;
}

/* After a return to an outer level: null data segments it may not use. */
static void null_outer_segs(struct soft_cpu *c)
{
	static const int segs[] = { VMM_ES, VMM_DS, VMM_FS, VMM_GS };

	for (unsigned k = 0; k < 4; k++) {
		struct vmm_segment *s = &c->st.seg[segs[k]];
		bool conf_code = (s->type & 0xc) == 0xc;
		if (!s->unusable && s->dpl < c->cpl && !conf_code) {
			s->unusable = 1;
			s->selector = 0;
			soft_update_seg(c, segs[k]);
		}
	}
}

static void load_ss_outer(struct soft_cpu *c, uint16_t ss, unsigned rpl,
			  struct vmm_segment *out)
{
	uint64_t d;

	if (!(ss & 0xfffc)) {
		if (!c->lma || rpl == 3)
			soft_gp(c, 0);
		memset(out, 0, sizeof(*out));
		out->selector = ss;
		out->unusable = 1;
		out->dpl = (uint8_t)rpl;
		out->db = 1;
		out->s = 1;
		out->type = 3;
		return;
	}
	d = soft_read_desc(c, ss, 13);
	soft_desc_to_seg(out, ss, d);
	if ((ss & 3u) != rpl || out->dpl != rpl || !out->s ||
	    (out->type & 0xa) != 2)
		soft_gp(c, ss & 0xfffc);
	if (!out->present)
		soft_fault(c, 12, ss & 0xfffc);
	out->type |= 1;
}

int soft_far_ret(struct soft_cpu *c, unsigned osz, uint16_t extra)
{
	uint64_t ip = soft_peek(c, 0, osz);
	uint16_t sel = (uint16_t)soft_peek(c, osz, osz);
	struct vmm_segment n, nss;
	uint64_t d, sp;
	unsigned rpl = sel & 3;

	if (!c->pe || c->vm86) {
		soft_set_cs_real(c, sel);
		sp = c->st.gpr[VMM_RSP] + 2 * osz + extra;
		c->st.gpr[VMM_RSP] = (c->st.gpr[VMM_RSP] & ~soft_sp_mask(c)) |
				     (sp & soft_sp_mask(c));
		c->st.rip = ip & soft_mask(osz);
		return SOFT_END;
	}
	if (!(sel & 0xfffc))
		soft_gp(c, 0);
	if (rpl < c->cpl)
		soft_gp(c, sel & 0xfffc);
	d = soft_read_desc(c, sel, 13);
	soft_desc_to_seg(&n, sel, d);
	check_code(c, &n, sel, rpl, true);
	if (rpl > c->cpl) {
		uint64_t nsp = soft_peek(c, 2 * osz + extra, osz);
		uint16_t ss = (uint16_t)soft_peek(c, 3 * osz + extra, osz);
		load_ss_outer(c, ss, rpl, &nss);
		soft_mark_accessed(c, sel, d);
		n.selector = sel;
		n.type |= 1;
		c->st.seg[VMM_CS] = n;
		c->st.seg[VMM_SS] = nss;
		c->st.gpr[VMM_RSP] = nss.db || c->lma ? nsp + extra :
			(c->st.gpr[VMM_RSP] & ~0xffffull) | ((nsp + extra) & 0xffff);
		soft_update_mode(c);
		null_outer_segs(c);
	} else {
		soft_mark_accessed(c, sel, d);
		n.selector = sel;
		n.type |= 1;
		sp = c->st.gpr[VMM_RSP] + 2 * osz + extra;
		c->st.seg[VMM_CS] = n;
		c->st.gpr[VMM_RSP] = (c->st.gpr[VMM_RSP] & ~soft_sp_mask(c)) |
				     (sp & soft_sp_mask(c));
		soft_update_mode(c);
	}
	c->st.rip = c->lm64 ? ip : (uint32_t)ip & soft_mask(osz < 4 ? 2 : 4);
	return SOFT_END;
}

/* Write the flags IRET/POPF may change at this privilege level. */
static void iret_flags(struct soft_cpu *c, uint64_t nf, unsigned osz,
		       unsigned cpl)
{
	uint64_t f = soft_get_flags(c);
	uint64_t mask = FL_ARITH | FL_TF | FL_DF | FL_NT | FL_RF | FL_AC |
			FL_ID;
	unsigned iopl = (f >> 12) & 3;

	if (cpl <= iopl)
		mask |= FL_IF;
	if (cpl == 0)
		mask |= FL_IOPL | FL_VIF | FL_VIP;
	if (osz == 2)
		mask &= 0xffff;
	f = (f & ~mask) | (nf & mask);
	f |= 2;
	c->st.rflags = f;
	c->rf_keep = (f & FL_RF) != 0;
	c->lf_op = LF_NONE;
	c->poll_count = 0;
}

int soft_iret(struct soft_cpu *c, unsigned osz, uint64_t next_rip)
{
	uint64_t ip, fl, nsp = 0, d;
	uint16_t sel, ss = 0;
	struct vmm_segment n, nss;
	unsigned rpl;

	c->st.events.nmi_masked = 0; /* IRET ends NMI blocking */

	if (!c->pe) {
		ip = soft_peek(c, 0, osz);
		sel = (uint16_t)soft_peek(c, osz, osz);
		fl = soft_peek(c, 2 * osz, osz);
		c->st.gpr[VMM_RSP] = (c->st.gpr[VMM_RSP] & ~soft_sp_mask(c)) |
			((c->st.gpr[VMM_RSP] + 3 * osz) & soft_sp_mask(c));
		soft_set_cs_real(c, sel);
		c->st.rip = ip & soft_mask(osz);
		iret_flags(c, fl, osz, 0);
		soft_update_mode(c);
		return SOFT_END;
	}
	if (c->vm86) {
		if (((c->st.rflags >> 12) & 3) < 3)
			soft_gp(c, 0);
		ip = soft_peek(c, 0, osz);
		sel = (uint16_t)soft_peek(c, osz, osz);
		fl = soft_peek(c, 2 * osz, osz);
		c->st.gpr[VMM_RSP] = (c->st.gpr[VMM_RSP] & ~0xffffull) |
			((c->st.gpr[VMM_RSP] + 3 * osz) & 0xffff);
		soft_set_cs_real(c, sel);
		c->st.rip = ip & soft_mask(osz);
		/* IOPL and VM unchanged in vm86 */
		fl = (fl & ~(uint64_t)(FL_IOPL | FL_VM)) |
		     (c->st.rflags & (FL_IOPL | FL_VM));
		iret_flags(c, fl, osz, 3);
		return SOFT_END;
	}
	if (c->st.rflags & FL_NT) {
		/* return to the task in the back link of the current TSS */
		const struct vmm_segment *tr = &c->st.seg[VMM_TR];
		if (c->lma)
			soft_gp(c, 0);
		if (tr->unusable || !tr->present)
			soft_fault(c, 10, tr->selector & 0xfffc);
		return soft_task_switch(c,
			(uint16_t)soft_ld_sys(c, tr->base, 2), SOFT_TS_IRET,
			next_rip, false, 0, 0);
	}
	ip = soft_peek(c, 0, osz);
	sel = (uint16_t)soft_peek(c, osz, osz);
	fl = soft_peek(c, 2 * osz, osz);
	if (!c->lma && (fl & FL_VM) && c->cpl == 0 && osz == 4) {
		/* return to virtual-8086 mode */
		uint64_t esp = soft_peek(c, 12, 4);
		uint16_t vss = (uint16_t)soft_peek(c, 16, 4);
		uint16_t ves = (uint16_t)soft_peek(c, 20, 4);
		uint16_t vds = (uint16_t)soft_peek(c, 24, 4);
		uint16_t vfs = (uint16_t)soft_peek(c, 28, 4);
		uint16_t vgs = (uint16_t)soft_peek(c, 32, 4);
		c->st.rflags = (fl & 0x3f7fd7) | 2;
		c->rf_keep = (fl & FL_RF) != 0;
		c->lf_op = LF_NONE;
		c->vm86 = true;
		c->st.gpr[VMM_RSP] = (uint32_t)esp;
		soft_load_seg(c, VMM_ES, ves);
		soft_load_seg(c, VMM_DS, vds);
		soft_load_seg(c, VMM_FS, vfs);
		soft_load_seg(c, VMM_GS, vgs);
		soft_load_seg(c, VMM_SS, vss);
		soft_set_cs_real(c, sel);
		c->st.rip = (uint32_t)ip & 0xffff;
		soft_update_mode(c);
		return SOFT_END;
	}
	rpl = sel & 3;
	if (!(sel & 0xfffc))
		soft_gp(c, 0);
	if (rpl < c->cpl)
		soft_gp(c, sel & 0xfffc);
	d = soft_read_desc(c, sel, 13);
	soft_desc_to_seg(&n, sel, d);
	check_code(c, &n, sel, rpl, true);
	if (c->lm64 || rpl > c->cpl) {
		nsp = soft_peek(c, 3 * osz, osz);
		ss = (uint16_t)soft_peek(c, 4 * osz, osz);
		load_ss_outer(c, ss, rpl, &nss);
	}
	/* commit */
	{
		unsigned old_cpl = c->cpl;
		uint64_t sp = c->st.gpr[VMM_RSP] + 3 * osz;
		soft_mark_accessed(c, sel, d);
		n.selector = sel;
		n.type |= 1;
		c->st.seg[VMM_CS] = n;
		iret_flags(c, fl, osz, old_cpl);
		if (c->lm64 || rpl > old_cpl) {
			c->st.seg[VMM_SS] = nss;
			if (osz == 2)
				c->st.gpr[VMM_RSP] =
					(c->st.gpr[VMM_RSP] & ~0xffffull) |
					(nsp & 0xffff);
			else
				c->st.gpr[VMM_RSP] = osz == 4 ? (uint32_t)nsp :
								nsp;
		} else {
			c->st.gpr[VMM_RSP] =
				(c->st.gpr[VMM_RSP] & ~soft_sp_mask(c)) |
				(sp & soft_sp_mask(c));
		}
		c->st.seg[VMM_SS].dpl = (uint8_t)rpl;
		soft_update_mode(c);
		if (rpl > old_cpl)
			null_outer_segs(c);
		c->st.rip = c->lm64 ? ip :
			(uint32_t)ip & soft_mask(osz < 4 ? 2 : 4);
	}
	return SOFT_END;
}
