/* SPDX-License-Identifier: MIT */
/*
 * except.c - raising faults and delivering exceptions and interrupts:
 * through the IVT in real mode, 8-byte interrupt/trap gates in protected
 * mode (with the stack switch from the TSS and the virtual-8086 frame),
 * 16-byte gates with IST in long mode, task gates (task.c); error codes,
 * CR2, the double-fault rules and the triple fault that shuts the vCPU
 * down.
 */
#include "cpu/soft/soft.h"

#include <stdarg.h>

void soft_unwind(struct soft_cpu *c)
{
	__builtin_longjmp(c->jb, 1);
}

static bool has_error_code(int vec)
{
	return vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 ||
	       vec == 21 || vec == 29 || vec == 30;
}

void soft_fault(struct soft_cpu *c, int vec, uint32_t err)
{
	c->fault_vec = vec;
	c->fault_err = err;
	c->fault_has_err = has_error_code(vec);
	soft_unwind(c);
}

void soft_fault_noerr(struct soft_cpu *c, int vec)
{
	soft_fault(c, vec, 0);
}

static void fill_stop(struct soft_cpu *c, uint32_t reason, uint64_t data0,
		      const char *fmt, va_list ap)
{
	struct vmm_exit *e = &c->exit;

	memset(e, 0, sizeof(*e));
	e->kind = VMM_EXIT_INTERNAL;
	e->internal.reason = reason;
	e->internal.data[0] = data0;
	e->internal.data[1] = c->st.rip;
	vsnprintf(e->internal.msg, sizeof(e->internal.msg), fmt, ap);
}

void soft_stop_emulation(struct soft_cpu *c, uint64_t data0, const char *fmt,
			 ...)
{
	va_list ap;

	va_start(ap, fmt);
	fill_stop(c, VMM_INTERNAL_EMULATION, data0, fmt, ap);
	va_end(ap);
	c->fault_vec = -2;
	soft_unwind(c);
}

void soft_stop_internal(struct soft_cpu *c, uint64_t data0, const char *fmt,
			...)
{
	va_list ap;

	va_start(ap, fmt);
	fill_stop(c, VMM_INTERNAL_BACKEND, data0, fmt, ap);
	va_end(ap);
	c->fault_vec = -2;
	soft_unwind(c);
}

/*
 * The stack frame's segment: outside 64-bit mode every push of a delivery
 * is checked against the stack segment's limit (expand-down too; in real
 * mode the cached limit, 0xffff unless unreal), #SS(@err) past it: a
 * real-mode frame pushed with SP = 1 is the SDM's example (#SS, whose
 * delivery faults again: #DF, then a triple fault).  In 64-bit mode a
 * non-canonical stack address is #SS(@err).
 */
struct frame_stack {
	const struct vmm_segment *seg; /* NULL: 64-bit */
	uint32_t err;
};

/* push onto a stack given as base/pointer; @user = CPL3 access */
static void push_at(struct soft_cpu *c, const struct frame_stack *fs,
		    uint64_t base, uint64_t *sp, uint64_t spmask,
		    unsigned size, uint64_t v, bool user)
{
	uint64_t nsp = (*sp - size) & spmask;
	uint64_t lin = base + nsp;

	if (fs->seg) {
		const struct vmm_segment *s = fs->seg;
		uint64_t last = nsp + size - 1;

		if ((s->type & 0xc) == 0x4 && s->s) { /* expand-down */
			if (nsp <= s->limit ||
			    last > (s->db ? 0xffffffffull : 0xffff))
				soft_fault(c, 12, fs->err);
		} else if (last > s->limit) {
			soft_fault(c, 12, fs->err);
		}
	} else if ((uint64_t)((int64_t)(lin << 16) >> 16) != lin) {
		soft_fault(c, 12, fs->err);
	}
	if (!c->lma)
		lin = (uint32_t)lin;
	if (user)
		soft_st_slow(c, lin, size, v, true);
	else
		soft_st_sys(c, lin, size, v);
	*sp = (*sp & ~spmask) | nsp;
}

static void deliver_real(struct soft_cpu *c, int vec, uint64_t ret_ip)
{
	uint64_t sp = c->st.gpr[VMM_RSP];
	uint64_t m = soft_sp_mask(c);
	uint64_t base = c->st.seg[VMM_SS].base;
	uint16_t ip, cs;
	uint64_t f = soft_get_flags(c);
	const struct frame_stack fs = { &c->st.seg[VMM_SS], 0 };

	if ((uint64_t)vec * 4 + 3 > c->st.idtr.limit)
		soft_gp(c, (uint32_t)vec * 8 + 2);
	ip = (uint16_t)soft_ld_sys(c, c->st.idtr.base + vec * 4, 2);
	cs = (uint16_t)soft_ld_sys(c, c->st.idtr.base + vec * 4 + 2, 2);
	push_at(c, &fs, base, &sp, m, 2, f, false);
	push_at(c, &fs, base, &sp, m, 2, c->st.seg[VMM_CS].selector, false);
	push_at(c, &fs, base, &sp, m, 2, ret_ip, false);
	c->st.gpr[VMM_RSP] = sp;
	soft_set_flags(c, f);
	c->st.rflags &= ~(uint64_t)(FL_IF | FL_TF | FL_AC | FL_RF);
	soft_set_cs_real(c, cs);
	c->st.rip = ip;
}

/* Stack pointer for privilege level @dpl (or IST @ist) from the TSS. */
static void tss_stack(struct soft_cpu *c, unsigned dpl, unsigned ist,
		      uint64_t *sp, uint16_t *ss)
{
	const struct vmm_segment *tr = &c->st.seg[VMM_TR];

	if (tr->unusable || !tr->present)
		soft_fault(c, 10, tr->selector & 0xfffc);
	if (c->lma) {
		unsigned off = ist ? 0x24 + (ist - 1) * 8 : 4 + dpl * 8;
		if (off + 7 > tr->limit)
			soft_fault(c, 10, tr->selector & 0xfffc);
		*sp = soft_ld_sys(c, tr->base + off, 8);
		*ss = (uint16_t)dpl;
		return;
	}
	if (!(tr->type & 8)) { /* 16-bit TSS: SPn at 2 + 4n, SSn at 4 + 4n */
		if (2 + dpl * 4 + 3 > tr->limit)
			soft_fault(c, 10, tr->selector & 0xfffc);
		*sp = soft_ld_sys(c, tr->base + 2 + dpl * 4, 2);
		*ss = (uint16_t)soft_ld_sys(c, tr->base + 4 + dpl * 4, 2);
		return;
	}
	if (4 + dpl * 8 + 5 > tr->limit)
		soft_fault(c, 10, tr->selector & 0xfffc);
	*sp = soft_ld_sys(c, tr->base + 4 + dpl * 8, 4);
	*ss = (uint16_t)soft_ld_sys(c, tr->base + 8 + dpl * 8, 2);
}

static void deliver_prot(struct soft_cpu *c, int vec, bool has_err,
			 uint32_t err, int kind, uint64_t ret_ip, uint64_t rf)
{
	unsigned gsize = c->lma ? 16 : 8;
	uint32_t ext = kind == EV_EXT || kind == EV_EXC ? 1 : 0;
	uint32_t idt_err = (uint32_t)vec * 8 + 2 + ext;
	uint64_t lo, hi = 0, off, f, pf;
	unsigned type, gdpl, ist = 0, dpl, osz;
	uint16_t sel;
	uint64_t d, sp, old_sp = c->st.gpr[VMM_RSP];
	uint16_t ss_sel = c->st.seg[VMM_SS].selector;
	struct vmm_segment ncs, nss = c->st.seg[VMM_SS];
	uint64_t ss_base;
	bool user, stack_switch = false, from_vm86 = c->vm86;
	struct frame_stack fs;

	if ((uint64_t)vec * gsize + gsize - 1 > c->st.idtr.limit)
		soft_gp(c, idt_err);
	lo = soft_ld_sys(c, c->st.idtr.base + vec * gsize, 8);
	if (c->lma)
		hi = soft_ld_sys(c, c->st.idtr.base + vec * gsize + 8, 8);
	type = (lo >> 40) & 0x1f; /* S bit + type */
	gdpl = (lo >> 45) & 3;
	if (c->lma) {
		if (type != 0xe && type != 0xf)
			soft_gp(c, idt_err);
	} else if (type == 0x5) {
		/* task gate: the event switches to the task of its TSS */
		if ((kind == EV_SOFT || kind == EV_INT3) && gdpl < c->cpl)
			soft_gp(c, (uint32_t)vec * 8 + 2);
		if (!((lo >> 47) & 1))
			soft_fault(c, 11, idt_err);
		soft_task_switch(c, (uint16_t)(lo >> 16), SOFT_TS_INT, ret_ip,
				 has_err, err, ext);
		return;
	} else if (type != 0x6 && type != 0x7 && type != 0xe && type != 0xf) {
		soft_gp(c, idt_err);
	}
	if (kind == EV_SOFT || kind == EV_INT3) {
		if (gdpl < c->cpl)
			soft_gp(c, (uint32_t)vec * 8 + 2);
	}
	if (!((lo >> 47) & 1))
		soft_fault(c, 11, idt_err);
	sel = (uint16_t)(lo >> 16);
	off = (lo & 0xffff) | ((lo >> 32) & 0xffff0000ull);
	if (c->lma) {
		off |= hi << 32;
		ist = (lo >> 32) & 7;
	} else if (!(type & 8)) {
		off &= 0xffff;
	}
	if (!(sel & 0xfffc))
		soft_gp(c, ext);
	d = soft_read_desc(c, sel, 13);
	soft_desc_to_seg(&ncs, sel, d);
	if (!ncs.s || !(ncs.type & 8) || ncs.dpl > c->cpl)
		soft_gp(c, (sel & 0xfffc) + ext);
	if (!ncs.present)
		soft_fault(c, 11, (sel & 0xfffc) + ext);
	if (c->lma && (!ncs.l || ncs.db))
		soft_gp(c, (sel & 0xfffc) + ext);
	dpl = (ncs.type & 4) ? c->cpl : ncs.dpl; /* conforming: stay */
	if (from_vm86 && dpl != 0)
		soft_gp(c, (sel & 0xfffc) + ext);

	f = soft_get_flags(c);
	pf = f | rf;
	sp = old_sp;
	if (dpl < c->cpl || ist) {
		uint16_t nsel;
		tss_stack(c, dpl, ist, &sp, &nsel);
		stack_switch = dpl < c->cpl;
		if (c->lma) {
			if (stack_switch) {
				memset(&nss, 0, sizeof(nss));
				nss.selector = (uint16_t)dpl;
				nss.unusable = 1;
				nss.dpl = (uint8_t)dpl;
				nss.db = 1;
				nss.s = 1;
				nss.type = 3;
			}
		} else {
			uint64_t sd;
			if (!(nsel & 0xfffc))
				soft_fault(c, 10, nsel & 0xfffc);
			sd = soft_read_desc(c, nsel, 10);
			soft_desc_to_seg(&nss, nsel, sd);
			if ((nsel & 3) != dpl || nss.dpl != dpl || !nss.s ||
			    (nss.type & 0xa) != 2)
				soft_fault(c, 10, nsel & 0xfffc);
			if (!nss.present)
				soft_fault(c, 12, nsel & 0xfffc);
		}
	}
	user = dpl == 3;
	/* #SS(0) on the current stack, #SS(new SS) on a switched one */
	fs.seg = c->lma ? NULL : &nss;
	fs.err = stack_switch && !c->lma ? (uint32_t)(nss.selector & 0xfffc) : 0;
	if (c->lma) {
		uint64_t base = 0;
		osz = 8;
		sp &= ~15ull;
		push_at(c, &fs, base, &sp, ~0ull, 8, ss_sel, user);
		push_at(c, &fs, base, &sp, ~0ull, 8, old_sp, user);
		push_at(c, &fs, base, &sp, ~0ull, 8, pf, user);
		push_at(c, &fs, base, &sp, ~0ull, 8, c->st.seg[VMM_CS].selector,
			user);
		push_at(c, &fs, base, &sp, ~0ull, 8, ret_ip, user);
		if (has_err)
			push_at(c, &fs, base, &sp, ~0ull, 8, err, user);
	} else {
		uint64_t m = nss.db ? 0xffffffffull : 0xffff;
		osz = (type & 8) ? 4 : 2;
		ss_base = nss.base;
		if (from_vm86) {
			push_at(c, &fs, ss_base, &sp, m, osz, c->st.seg[VMM_GS].selector, user);
			push_at(c, &fs, ss_base, &sp, m, osz, c->st.seg[VMM_FS].selector, user);
			push_at(c, &fs, ss_base, &sp, m, osz, c->st.seg[VMM_DS].selector, user);
			push_at(c, &fs, ss_base, &sp, m, osz, c->st.seg[VMM_ES].selector, user);
		}
		if (stack_switch) {
			push_at(c, &fs, ss_base, &sp, m, osz, ss_sel, user);
			push_at(c, &fs, ss_base, &sp, m, osz, old_sp, user);
		}
		push_at(c, &fs, ss_base, &sp, m, osz, pf, user);
		push_at(c, &fs, ss_base, &sp, m, osz, c->st.seg[VMM_CS].selector,
			user);
		push_at(c, &fs, ss_base, &sp, m, osz, ret_ip, user);
		if (has_err)
			push_at(c, &fs, ss_base, &sp, m, osz, err, user);
	}
	/* commit */
	soft_mark_accessed(c, sel, d);
	if (stack_switch || (c->lma && ist)) {
		c->st.seg[VMM_SS] = nss;
	}
	if (from_vm86) {
		for (int s = VMM_ES; s <= VMM_GS; s++) {
			if (s == VMM_CS || s == VMM_SS)
				continue;
			memset(&c->st.seg[s], 0, sizeof(c->st.seg[s]));
			c->st.seg[s].unusable = 1;
		}
	}
	c->st.gpr[VMM_RSP] = sp;
	ncs.selector = (uint16_t)((sel & 0xfffc) | dpl);
	c->st.seg[VMM_CS] = ncs;
	c->st.seg[VMM_SS].dpl = (uint8_t)dpl;
	soft_set_flags(c, f);
	c->st.rflags &= ~(uint64_t)(FL_TF | FL_NT | FL_RF | FL_VM);
	if (!(type & 1))
		c->st.rflags &= ~(uint64_t)FL_IF;
	c->st.rip = c->lma ? off : (uint32_t)off;
	soft_update_mode(c);
}

int soft_deliver(struct soft_cpu *c, int vec, bool has_err, uint32_t err,
		 int kind, uint64_t next_rip)
{
	uint64_t ret_ip = (kind == EV_EXC) ? c->st.rip : next_rip;
	/* the frame of a fault-class exception has RF set, so the return
	 * to the faulting instruction is not stopped again by an
	 * instruction breakpoint (SDM 17.3.1.1); not for the aborts #DF
	 * and #MC, nor for the instruction-breakpoint #DB itself */
	uint64_t rf = kind == EV_EXC && vec != 8 && vec != 18 &&
		      !(vec == 1 && c->db_ibp) ? FL_RF : 0;

	c->halted = false;
	if (!c->pe) {
		deliver_real(c, vec, ret_ip);
	} else {
		if (c->vm86 && kind == EV_SOFT &&
		    ((c->st.rflags >> 12) & 3) < 3)
			soft_gp(c, 0);
		deliver_prot(c, vec, has_err, err, kind, ret_ip, rf);
	}
	return 0;
}

static int klass(int vec)
{
	if (vec == 0 || (vec >= 10 && vec <= 13))
		return 1; /* contributory */
	if (vec == 14)
		return 2; /* page fault */
	return 0;
}

int soft_handle_fault(struct soft_cpu *c)
{
	int vec = c->fault_vec, prev = c->delivering;
	uint32_t err = c->fault_err;
	bool has_err = c->fault_has_err;

	if (prev >= 0) {
		int a = klass(prev), b = klass(vec);
		if (prev == 8) {
			c->delivering = -1;
			return -1; /* triple fault */
		}
		if ((a == 1 && b == 1) || (a == 2 && b != 0)) {
			vec = 8;
			err = 0;
			has_err = true;
		}
	}
	c->delivering = vec;
	soft_deliver(c, vec, has_err, err, EV_EXC, c->st.rip);
	c->delivering = -1;
	return 0;
}
