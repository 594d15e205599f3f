/* SPDX-License-Identifier: MIT */
/*
 * env.c - see env.h.
 */
#include "env.h"

#include <errno.h>
#include <string.h>

static int w64(vmm_vm *vm, uint64_t gpa, uint64_t v)
{
	return vmm_mem_write(vm, gpa, &v, 8);
}

static uint64_t seg_desc(uint32_t base, uint32_t limit, unsigned type,
			 unsigned s, unsigned dpl, unsigned l, unsigned db,
			 unsigned g)
{
	return (limit & 0xffffull) | ((uint64_t)(base & 0xffffff) << 16) |
	       ((uint64_t)type << 40) | ((uint64_t)s << 44) |
	       ((uint64_t)dpl << 45) | (1ull << 47) |
	       ((uint64_t)((limit >> 16) & 0xf) << 48) | ((uint64_t)l << 53) |
	       ((uint64_t)db << 54) | ((uint64_t)g << 55) |
	       ((uint64_t)(base >> 24) << 56);
}

int env_build_memory(vmm_vm *vm)
{
	int r = 0;
	uint8_t buf[0x2100];

	/* paging: identity map of 0-1 GiB, user, writable; first 2 MiB 4K */
	r |= w64(vm, ENV_PML4, ENV_PDPT | 7);
	r |= w64(vm, ENV_PDPT, ENV_PD | 7);
	r |= w64(vm, ENV_PD, ENV_PT | 7);
	for (uint64_t k = 1; k < 512; k++)
		r |= w64(vm, ENV_PD + k * 8, (k << 21) | 0x87);
	for (uint64_t k = 0; k < 512; k++)
		r |= w64(vm, ENV_PT + k * 8, (k << 12) | 7);

	/* GDT */
	r |= w64(vm, ENV_GDT + 0x00, 0);
	r |= w64(vm, ENV_GDT + 0x08, seg_desc(0, 0xfffff, 0xb, 1, 0, 1, 0, 1));
	r |= w64(vm, ENV_GDT + 0x10, seg_desc(0, 0xfffff, 0x3, 1, 0, 0, 1, 1));
	r |= w64(vm, ENV_GDT + 0x18, seg_desc(0, 0xfffff, 0x3, 1, 3, 0, 1, 1));
	r |= w64(vm, ENV_GDT + 0x20, seg_desc(0, 0xfffff, 0xb, 1, 3, 1, 0, 1));
	/* 64-bit TSS (16 bytes), limit covers the I/O bitmap */
	r |= w64(vm, ENV_GDT + 0x28,
		 seg_desc(ENV_TSS, 0x68 + 8192, 0x9, 0, 0, 0, 0, 0));
	r |= w64(vm, ENV_GDT + 0x30, 0);
	r |= w64(vm, ENV_GDT + 0x38, seg_desc(0, 0xfffff, 0xb, 1, 0, 0, 1, 1));
	r |= w64(vm, ENV_GDT + 0x40, seg_desc(0, 0xfffff, 0xb, 1, 3, 0, 1, 1));
	r |= w64(vm, ENV_GDT + 0x48,
		 seg_desc(ENV_TSS, 0x68 + 8192, 0x9, 0, 0, 0, 0, 0));

	/* TSS: RSP0 (64-bit layout at 4, 32-bit ESP0 at 4 / SS0 at 8),
	 * I/O map base 0x68, bitmap all zero (+ the terminating 0xff) */
	memset(buf, 0, sizeof(buf));
	{
		uint64_t rsp0 = ENV_KSTACK;
		uint16_t iomap = 0x68;
		memcpy(buf + 4, &rsp0, 8);
		memcpy(buf + 0x66, &iomap, 2);
		buf[0x68 + 8192] = 0xff;
	}
	r |= vmm_mem_write(vm, ENV_TSS, buf, 0x68 + 8192 + 1);

	/* IDT: 64-bit gates (16 bytes); handlers are HLTs */
	for (unsigned v = 0; v < 256; v++) {
		uint64_t h = ENV_HANDLERS + v * 16;
		uint64_t lo = (h & 0xffff) | ((uint64_t)ENV_KCODE64 << 16) |
			      (0xeeull << 40) | ((h >> 16) << 48);
		r |= w64(vm, ENV_IDT + v * 16, lo);
		r |= w64(vm, ENV_IDT + v * 16 + 8, h >> 32);
	}
	memset(buf, 0xf4, 4096);
	r |= vmm_mem_write(vm, ENV_HANDLERS, buf, 4096);
	return r ? -EFAULT : 0;
}

static void seg(struct vmm_segment *s, uint16_t sel, unsigned type,
		unsigned dpl, unsigned l, unsigned db)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->base = 0;
	s->limit = 0xffffffffu;
	s->type = (uint8_t)type;
	s->s = 1;
	s->dpl = (uint8_t)dpl;
	s->present = 1;
	s->l = (uint8_t)l;
	s->db = (uint8_t)db;
	s->g = 1;
}

void env_state(struct vmm_cpu_state *st, enum env_mode mode, unsigned cpl)
{
	memset(st->gpr, 0, sizeof(st->gpr));
	st->rip = ENV_CODE;
	st->gpr[VMM_RSP] = ENV_STACK;
	if (mode == ENV_REAL) {
		vmm_state_flat_real(st, 0, ENV_CODE & 0xffff, 0xfff0);
		/* CS base 0 with IP = ENV_CODE would exceed 64 KiB: use CS =
		 * 0x1000 so CS:IP = ENV_CODE, data and stack segment 0x1000 */
		vmm_state_flat_real(st, ENV_CODE >> 4, 0, 0xfff0);
		st->rflags = 2;
		return;
	}
	st->cr0 = VMM_CR0_PE | VMM_CR0_ET | VMM_CR0_NE | VMM_CR0_MP;
	st->cr4 = VMM_CR4_OSFXSR | VMM_CR4_OSXMMEXCPT;
	st->msr.efer = 0;
	st->gdtr.base = ENV_GDT;
	st->gdtr.limit = 0x4f;
	st->rflags = cpl == 3 ? 0x3202 : 0x2;
	memset(&st->seg[VMM_LDTR], 0, sizeof(st->seg[VMM_LDTR]));
	st->seg[VMM_LDTR].unusable = 1;
	memset(&st->seg[VMM_TR], 0, sizeof(st->seg[VMM_TR]));
	st->seg[VMM_TR].base = ENV_TSS;
	st->seg[VMM_TR].limit = 0x68 + 8192;
	st->seg[VMM_TR].type = 0xb;
	st->seg[VMM_TR].present = 1;
	if (mode == ENV_LONG64 || mode == ENV_COMPAT32) {
		st->cr0 |= VMM_CR0_PG | VMM_CR0_WP;
		st->cr4 |= VMM_CR4_PAE;
		st->cr3 = ENV_PML4;
		st->msr.efer = VMM_EFER_LME | VMM_EFER_LMA | VMM_EFER_SCE |
			       VMM_EFER_NXE;
		st->idtr.base = ENV_IDT;
		st->idtr.limit = 256 * 16 - 1;
		st->seg[VMM_TR].selector = ENV_TSS_SEL;
		if (mode == ENV_COMPAT32 && cpl == 3)
			seg(&st->seg[VMM_CS], ENV_UCODE32, 0xb, 3, 0, 1);
		else if (mode == ENV_COMPAT32)
			seg(&st->seg[VMM_CS], ENV_KCODE32, 0xb, 0, 0, 1);
		else if (cpl == 3)
			seg(&st->seg[VMM_CS], ENV_UCODE64, 0xb, 3, 1, 0);
		else
			seg(&st->seg[VMM_CS], ENV_KCODE64, 0xb, 0, 1, 0);
	} else {
		st->idtr.base = 0;
		st->idtr.limit = 0;
		st->seg[VMM_TR].selector = 0x48;
		if (cpl == 3)
			seg(&st->seg[VMM_CS], ENV_UCODE32, 0xb, 3, 0, 1);
		else
			seg(&st->seg[VMM_CS], ENV_KCODE32, 0xb, 0, 0, 1);
	}
	for (int s = VMM_ES; s <= VMM_GS; s++) {
		if (s == VMM_CS)
			continue;
		if (cpl == 3)
			seg(&st->seg[s], ENV_UDATA, 0x3, 3, 0, 1);
		else
			seg(&st->seg[s], ENV_KDATA, 0x3, 0, 0, 1);
	}
}

int env_vector_of(uint64_t rip)
{
	if (rip <= ENV_HANDLERS || rip > ENV_HANDLERS + 256 * 16)
		return -1;
	return (int)((rip - ENV_HANDLERS - 1) / 16);
}
