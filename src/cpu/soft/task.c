/* SPDX-License-Identifier: MIT */
/*
 * task.c - hardware task switches of 32-bit protected mode (SDM vol. 3,
 * 7.3): far JMP/CALL to a TSS descriptor or through a task gate, an
 * interrupt or exception through a task gate in the IDT, and IRET with
 * NT=1 back along the previous-task link.  The checks on the new TSS come
 * first (#GP/#TS/#NP with its selector), then the old task's state goes
 * into its TSS, the busy bits and the link change, TR and the new task's
 * registers are loaded, and last its LDT and segment registers with the
 * #TS/#NP/#SS checks, reported in the new task as on hardware.  32-bit
 * TSSs; a 16-bit TSS as either side stops the vCPU with
 * VMM_EXIT_INTERNAL (not emulated).  IA-32e mode has no task switches
 * (callers raise #GP).
 */
#include "cpu/soft/soft.h"

#include <stdio.h>

#define TSS_LINK 0x00
#define TSS_CR3 0x1c
#define TSS_EIP 0x20
#define TSS_MIN_LIMIT 0x67

__attribute__((noreturn)) static void unsupported(struct soft_cpu *c,
						  const char *what)
{
	soft_stop_emulation(c, 0, "soft: %s not emulated", what);
}

/* Set or clear the busy bit of the TSS descriptor of @sel in the GDT. */
static void set_busy(struct soft_cpu *c, uint16_t sel, bool busy)
{
	uint64_t a = c->st.gdtr.base + (sel & ~7u) + 5;
	uint8_t b = (uint8_t)soft_ld_sys(c, a, 1);

	b = busy ? (uint8_t)(b | 2) : (uint8_t)(b & ~2);
	soft_st_sys(c, a, 1, b);
}

/* Load data segment register @s of the new task (CPL already set). */
static void load_data(struct soft_cpu *c, int s, uint16_t sel, uint32_t ext)
{
	struct vmm_segment n;
	uint32_t e = (sel & 0xfffc) | ext;
	uint64_t d;

	if (!(sel & 0xfffc)) {
		memset(&c->st.seg[s], 0, sizeof(c->st.seg[s]));
		c->st.seg[s].selector = sel;
		c->st.seg[s].unusable = 1;
		soft_update_seg(c, s);
		return;
	}
	d = soft_read_desc(c, sel, 10);
	soft_desc_to_seg(&n, sel, d);
	if (!n.s || (n.type & 0xa) == 0x8) /* system, execute-only code */
		soft_fault(c, 10, e);
	if ((!(n.type & 8) || !(n.type & 4)) &&
	    (n.dpl < c->cpl || n.dpl < (sel & 3u)))
		soft_fault(c, 10, e);
	if (!n.present)
		soft_fault(c, 11, e);
	soft_mark_accessed(c, sel, d);
	n.type |= 1;
	c->st.seg[s] = n;
	soft_update_seg(c, s);
}

/* LDTR, CS, SS, then the data segments of the new task. */
static void load_task_segs(struct soft_cpu *c, const uint16_t sel[6],
			   uint16_t ldt, uint32_t ext)
{
	struct vmm_segment n;
	uint16_t cs = sel[VMM_CS], ss = sel[VMM_SS];
	unsigned cpl = cs & 3u;
	uint64_t d;

	/* LDT: in the GDT, an LDT descriptor, present */
	if (!(ldt & 0xfffc)) {
		memset(&c->st.seg[VMM_LDTR], 0, sizeof(n));
		c->st.seg[VMM_LDTR].selector = ldt;
		c->st.seg[VMM_LDTR].unusable = 1;
	} else {
		if ((ldt & 4) || (ldt & ~7u) + 7 > c->st.gdtr.limit)
			soft_fault(c, 10, (ldt & 0xfffc) | ext);
		d = soft_ld_sys(c, c->st.gdtr.base + (ldt & ~7u), 8);
		soft_desc_to_seg(&n, ldt, d);
		if (n.s || n.type != 2 || !n.present)
			soft_fault(c, 10, (ldt & 0xfffc) | ext);
		c->st.seg[VMM_LDTR] = n;
	}
	/* CS: code; non-conforming DPL = RPL, conforming DPL <= RPL */
	if (!(cs & 0xfffc))
		soft_fault(c, 10, ext);
	d = soft_read_desc(c, cs, 10);
	soft_desc_to_seg(&n, cs, d);
	if (!n.s || !(n.type & 8) ||
	    ((n.type & 4) ? n.dpl > cpl : n.dpl != cpl))
		soft_fault(c, 10, (cs & 0xfffc) | ext);
	if (!n.present)
		soft_fault(c, 11, (cs & 0xfffc) | ext);
	soft_mark_accessed(c, cs, d);
	n.type |= 1;
	c->st.seg[VMM_CS] = n;
	/* SS: writable data, RPL = DPL = CPL */
	if (!(ss & 0xfffc))
		soft_fault(c, 10, ext);
	d = soft_read_desc(c, ss, 10);
	soft_desc_to_seg(&n, ss, d);
	if ((ss & 3u) != cpl || n.dpl != cpl || !n.s ||
	    (n.type & 0xa) != 2)
		soft_fault(c, 10, (ss & 0xfffc) | ext);
	if (!n.present)
		soft_fault(c, 12, (ss & 0xfffc) | ext);
	soft_mark_accessed(c, ss, d);
	n.type |= 1;
	c->st.seg[VMM_SS] = n;
	soft_update_mode(c);
	load_data(c, VMM_ES, sel[VMM_ES], ext);
	load_data(c, VMM_DS, sel[VMM_DS], ext);
	load_data(c, VMM_FS, sel[VMM_FS], ext);
	load_data(c, VMM_GS, sel[VMM_GS], ext);
}

int soft_task_switch(struct soft_cpu *c, uint16_t sel, int src,
		     uint64_t next_eip, bool has_err, uint32_t err,
		     uint32_t ext)
{
	struct vmm_segment *otr = &c->st.seg[VMM_TR];
	struct vmm_segment ntr;
	uint32_t e = (sel & 0xfffc) | ext, nt[26], flags;
	int badvec = src == SOFT_TS_IRET ? 10 : 13;
	uint16_t osel = otr->selector, segsel[6];
	uint64_t d, obase = otr->base;
	unsigned k;

	/* the new TSS descriptor: in the GDT, available (busy for IRET),
	 * present, big enough */
	if ((sel & 4) || (sel & ~7u) + 7 > c->st.gdtr.limit)
		soft_fault(c, badvec, e);
	d = soft_ld_sys(c, c->st.gdtr.base + (sel & ~7u), 8);
	soft_desc_to_seg(&ntr, sel, d);
	if (ntr.s || (ntr.type & 5) != 1)
		soft_fault(c, badvec, e);
	if (src == SOFT_TS_IRET ? !(ntr.type & 2) : (ntr.type & 2) != 0)
		soft_fault(c, badvec, e);
	if (!(ntr.type & 8))
		unsupported(c, "task switch to a 16-bit TSS");
	if (!ntr.present)
		soft_fault(c, 11, e);
	if (ntr.limit < TSS_MIN_LIMIT)
		soft_fault(c, 10, e);
	if (otr->unusable || !otr->present || !(otr->type & 8))
		unsupported(c, "task switch from a 16-bit or no TSS");
	if (otr->limit < TSS_MIN_LIMIT)
		soft_fault(c, 10, (osel & 0xfffc) | ext);

	/* read the new task's state before anything changes */
	for (k = 0; k < 26; k++)
		nt[k] = (uint32_t)soft_ld_sys(c, ntr.base + k * 4, 4);

	/* save the old task */
	flags = (uint32_t)soft_get_flags(c);
	if (src == SOFT_TS_IRET)
		flags &= ~FL_NT;
	soft_st_sys(c, obase + TSS_EIP, 4, (uint32_t)next_eip);
	soft_st_sys(c, obase + 0x24, 4, flags);
	for (k = 0; k < 8; k++)
		soft_st_sys(c, obase + 0x28 + k * 4, 4,
			    (uint32_t)c->st.gpr[k]);
	for (k = 0; k < 6; k++) /* ES CS SS DS FS GS */
		soft_st_sys(c, obase + 0x48 + k * 4, 2, c->st.seg[k].selector);

	/* busy bits and the back link */
	if (src == SOFT_TS_JMP || src == SOFT_TS_IRET)
		set_busy(c, osel, false);
	if (src != SOFT_TS_IRET)
		set_busy(c, sel, true);
	if (src == SOFT_TS_CALL || src == SOFT_TS_INT) {
		soft_st_sys(c, ntr.base + TSS_LINK, 2, osel);
		nt[9] |= FL_NT;
	}

	/* commit: TR, CR0.TS, CR3, registers; then the segments */
	ntr.type |= 2;
	ntr.selector = sel;
	*otr = ntr;
	c->st.cr0 |= VMM_CR0_TS;
	if (c->paging && nt[TSS_CR3 / 4] != (uint32_t)c->st.cr3) {
		c->st.cr3 = nt[TSS_CR3 / 4];
		soft_tlb_flush(c);
	}
	c->st.rip = nt[TSS_EIP / 4];
	c->st.rflags = (nt[9] & 0x3f7fd7u) | 2;
	c->rf_keep = (nt[9] & FL_RF) != 0;
	c->lf_op = LF_NONE;
	for (k = 0; k < 8; k++)
		c->st.gpr[k] = nt[10 + k];
	for (k = 0; k < 6; k++) {
		segsel[k] = (uint16_t)nt[18 + k];
		c->st.seg[k].selector = segsel[k];
	}
	c->shadow = false;
	c->poll_count = 0;
	c->ev |= SEV_MODE;
	if (c->st.rflags & FL_VM) {
		/* a virtual-8086 task: real-mode style segments */
		soft_update_mode(c);
		for (k = 0; k < 6; k++) {
			if (k == VMM_CS)
				soft_set_cs_real(c, segsel[k]);
			else
				soft_load_seg(c, (int)k, segsel[k]);
		}
		c->st.seg[VMM_SS].dpl = 3;
		soft_update_mode(c);
	} else {
		load_task_segs(c, segsel, (uint16_t)nt[24], ext);
	}
	if (c->st.rip > c->st.seg[VMM_CS].limit)
		soft_gp(c, ext);
	if (has_err) {
		/* the error code of the exception goes on the new stack */
		uint64_t sp = (c->st.gpr[VMM_RSP] - 4) & soft_sp_mask(c);
		soft_st_sys(c, (uint32_t)(c->st.seg[VMM_SS].base + sp), 4,
			    err);
		c->st.gpr[VMM_RSP] = (c->st.gpr[VMM_RSP] & ~soft_sp_mask(c)) |
				     sp;
	}
	return SOFT_END;
}
