/* SPDX-License-Identifier: MIT */
/*
 * gdb_regs.c - the x86-64 register file as gdb sees it, mapped onto
 * struct vmm_cpu_state.  The order is gdb's i386:x86-64 numbering
 * (features org.gnu.gdb.i386.core and .sse), then fs_base/gs_base
 * (org.gnu.gdb.i386.segments) and the control registers in a libvmm
 * feature; gdb learns all of it from target.xml (gdb_target_xml()).
 */
#include "debug/gdb_impl.h"

#include <errno.h>
#include <string.h>

/* gdb's 0..15 are rax rbx rcx rdx rsi rdi rbp rsp r8..r15 */
static const uint8_t gpr_of[16] = {
	VMM_RAX, VMM_RBX, VMM_RCX, VMM_RDX, VMM_RSI, VMM_RDI, VMM_RBP,
	VMM_RSP, VMM_R8, VMM_R9, VMM_R10, VMM_R11, VMM_R12, VMM_R13,
	VMM_R14, VMM_R15,
};
/* 18..23: cs ss ds es fs gs */
static const uint8_t seg_of[6] = { VMM_CS, VMM_SS, VMM_DS, VMM_ES, VMM_FS,
				   VMM_GS };

static const struct gdb_reginfo regs[GDB_NREGS] = {
	{ "rax", 64 }, { "rbx", 64 }, { "rcx", 64 }, { "rdx", 64 },
	{ "rsi", 64 }, { "rdi", 64 }, { "rbp", 64 }, { "rsp", 64 },
	{ "r8", 64 }, { "r9", 64 }, { "r10", 64 }, { "r11", 64 },
	{ "r12", 64 }, { "r13", 64 }, { "r14", 64 }, { "r15", 64 },
	{ "rip", 64 }, { "eflags", 32 },
	{ "cs", 32 }, { "ss", 32 }, { "ds", 32 }, { "es", 32 }, { "fs", 32 },
	{ "gs", 32 },
	{ "st0", 80 }, { "st1", 80 }, { "st2", 80 }, { "st3", 80 },
	{ "st4", 80 }, { "st5", 80 }, { "st6", 80 }, { "st7", 80 },
	{ "fctrl", 32 }, { "fstat", 32 }, { "ftag", 32 }, { "fiseg", 32 },
	{ "fioff", 32 }, { "foseg", 32 }, { "fooff", 32 }, { "fop", 32 },
	{ "xmm0", 128 }, { "xmm1", 128 }, { "xmm2", 128 }, { "xmm3", 128 },
	{ "xmm4", 128 }, { "xmm5", 128 }, { "xmm6", 128 }, { "xmm7", 128 },
	{ "xmm8", 128 }, { "xmm9", 128 }, { "xmm10", 128 }, { "xmm11", 128 },
	{ "xmm12", 128 }, { "xmm13", 128 }, { "xmm14", 128 },
	{ "xmm15", 128 },
	{ "mxcsr", 32 },
	{ "fs_base", 64 }, { "gs_base", 64 },
	{ "cr0", 64 }, { "cr2", 64 }, { "cr3", 64 }, { "cr4", 64 },
	{ "efer", 64 },
};

static const char target_xml[] =
	"<?xml version=\"1.0\"?>\n"
	"<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
	"<target version=\"1.0\">\n"
	"<architecture>i386:x86-64</architecture>\n"
	"<feature name=\"org.gnu.gdb.i386.core\">\n"
	"<flags id=\"i386_eflags\" size=\"4\">"
	"<field name=\"CF\" start=\"0\" end=\"0\"/>"
	"<field name=\"\" start=\"1\" end=\"1\"/>"
	"<field name=\"PF\" start=\"2\" end=\"2\"/>"
	"<field name=\"AF\" start=\"4\" end=\"4\"/>"
	"<field name=\"ZF\" start=\"6\" end=\"6\"/>"
	"<field name=\"SF\" start=\"7\" end=\"7\"/>"
	"<field name=\"TF\" start=\"8\" end=\"8\"/>"
	"<field name=\"IF\" start=\"9\" end=\"9\"/>"
	"<field name=\"DF\" start=\"10\" end=\"10\"/>"
	"<field name=\"OF\" start=\"11\" end=\"11\"/>"
	"<field name=\"NT\" start=\"14\" end=\"14\"/>"
	"<field name=\"RF\" start=\"16\" end=\"16\"/>"
	"<field name=\"VM\" start=\"17\" end=\"17\"/>"
	"<field name=\"AC\" start=\"18\" end=\"18\"/>"
	"<field name=\"VIF\" start=\"19\" end=\"19\"/>"
	"<field name=\"VIP\" start=\"20\" end=\"20\"/>"
	"<field name=\"ID\" start=\"21\" end=\"21\"/>"
	"</flags>\n"
	"<reg name=\"rax\" bitsize=\"64\" type=\"int64\" regnum=\"0\"/>\n"
	"<reg name=\"rbx\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rcx\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rdx\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rsi\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rdi\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rbp\" bitsize=\"64\" type=\"data_ptr\"/>\n"
	"<reg name=\"rsp\" bitsize=\"64\" type=\"data_ptr\"/>\n"
	"<reg name=\"r8\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r9\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r10\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r11\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r12\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r13\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r14\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r15\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rip\" bitsize=\"64\" type=\"code_ptr\"/>\n"
	"<reg name=\"eflags\" bitsize=\"32\" type=\"i386_eflags\"/>\n"
	"<reg name=\"cs\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"ss\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"ds\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"es\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"fs\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"gs\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"st0\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st1\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st2\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st3\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st4\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st5\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st6\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st7\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"fctrl\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"fstat\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"ftag\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"fiseg\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"fioff\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"foseg\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"fooff\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"fop\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"</feature>\n"
	"<feature name=\"org.gnu.gdb.i386.sse\">\n"
	"<vector id=\"v4f\" type=\"ieee_single\" count=\"4\"/>\n"
	"<vector id=\"v2d\" type=\"ieee_double\" count=\"2\"/>\n"
	"<vector id=\"v16i8\" type=\"int8\" count=\"16\"/>\n"
	"<vector id=\"v8i16\" type=\"int16\" count=\"8\"/>\n"
	"<vector id=\"v4i32\" type=\"int32\" count=\"4\"/>\n"
	"<vector id=\"v2i64\" type=\"int64\" count=\"2\"/>\n"
	"<union id=\"vec128\">"
	"<field name=\"v4_float\" type=\"v4f\"/>"
	"<field name=\"v2_double\" type=\"v2d\"/>"
	"<field name=\"v16_int8\" type=\"v16i8\"/>"
	"<field name=\"v8_int16\" type=\"v8i16\"/>"
	"<field name=\"v4_int32\" type=\"v4i32\"/>"
	"<field name=\"v2_int64\" type=\"v2i64\"/>"
	"<field name=\"uint128\" type=\"uint128\"/>"
	"</union>\n"
	"<reg name=\"xmm0\" bitsize=\"128\" type=\"vec128\" regnum=\"40\"/>\n"
	"<reg name=\"xmm1\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm2\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm3\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm4\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm5\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm6\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm7\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm8\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm9\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm10\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm11\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm12\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm13\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm14\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm15\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"mxcsr\" bitsize=\"32\" type=\"int\" group=\"vector\"/>\n"
	"</feature>\n"
	"<feature name=\"org.gnu.gdb.i386.segments\">\n"
	"<reg name=\"fs_base\" bitsize=\"64\" type=\"int\" regnum=\"57\"/>\n"
	"<reg name=\"gs_base\" bitsize=\"64\" type=\"int\"/>\n"
	"</feature>\n"
	"<feature name=\"org.libvmm.x86.sys\">\n"
	"<reg name=\"cr0\" bitsize=\"64\" type=\"int64\" group=\"system\" regnum=\"59\"/>\n"
	"<reg name=\"cr2\" bitsize=\"64\" type=\"int64\" group=\"system\"/>\n"
	"<reg name=\"cr3\" bitsize=\"64\" type=\"int64\" group=\"system\"/>\n"
	"<reg name=\"cr4\" bitsize=\"64\" type=\"int64\" group=\"system\"/>\n"
	"<reg name=\"efer\" bitsize=\"64\" type=\"int64\" group=\"system\"/>\n"
	"</feature>\n"
	"</target>\n";

const char *gdb_target_xml(size_t *len)
{
	*len = sizeof(target_xml) - 1;
	return target_xml;
}

const struct gdb_reginfo *gdb_reg_info(unsigned n)
{
	return n < GDB_NREGS ? &regs[n] : NULL;
}

unsigned gdb_reg_size(unsigned n)
{
	return n < GDB_NREGS ? regs[n].bits / 8 : 0;
}

static void put(uint8_t *out, uint64_t v, unsigned size)
{
	for (unsigned i = 0; i < size; i++)
		out[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t take(const uint8_t *in, unsigned size)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)in[i] << (8 * i);
	return v;
}

/* FXSAVE keeps an abridged tag (1 bit per register, 1 = not empty); gdb
 * wants the full x87 tag word (2 bits, 3 = empty).  Non-empty registers
 * are shown as valid (00). */
static uint32_t full_tag(uint8_t ftw)
{
	uint32_t t = 0;

	for (unsigned i = 0; i < 8; i++)
		if (!(ftw & (1u << i)))
			t |= 3u << (2 * i);
	return t;
}

static uint8_t abridged_tag(uint32_t t)
{
	uint8_t ftw = 0;

	for (unsigned i = 0; i < 8; i++)
		if (((t >> (2 * i)) & 3) != 3)
			ftw |= (uint8_t)(1u << i);
	return ftw;
}

unsigned gdb_reg_get(const struct vmm_cpu_state *st, unsigned n,
		     uint8_t *out)
{
	const struct vmm_fpu *f = &st->fpu;
	unsigned size = gdb_reg_size(n);
	uint64_t v = 0;

	if (!size)
		return 0;
	if (n < 16)
		v = st->gpr[gpr_of[n]];
	else if (n == 16)
		v = st->rip;
	else if (n == 17)
		v = st->rflags;
	else if (n < 24)
		v = st->seg[seg_of[n - 18]].selector;
	else if (n < 32) {
		memcpy(out, f->st[n - 24], 10);
		return size;
	} else if (n == 32)
		v = f->fcw;
	else if (n == 33)
		v = f->fsw;
	else if (n == 34)
		v = full_tag(f->ftw);
	else if (n == 35)
		v = (f->fip >> 32) & 0xffff;
	else if (n == 36)
		v = (uint32_t)f->fip;
	else if (n == 37)
		v = (f->fdp >> 32) & 0xffff;
	else if (n == 38)
		v = (uint32_t)f->fdp;
	else if (n == 39)
		v = f->fop & 0x7ff;
	else if (n < 56) {
		memcpy(out, f->xmm[n - 40], 16);
		return size;
	} else if (n == 56)
		v = f->mxcsr;
	else if (n == 57)
		v = st->seg[VMM_FS].base;
	else if (n == 58)
		v = st->seg[VMM_GS].base;
	else if (n == 59)
		v = st->cr0;
	else if (n == 60)
		v = st->cr2;
	else if (n == 61)
		v = st->cr3;
	else if (n == 62)
		v = st->cr4;
	else
		v = st->msr.efer;
	put(out, v, size);
	return size;
}

int gdb_reg_set(struct vmm_cpu_state *st, unsigned n, const uint8_t *in)
{
	struct vmm_fpu *f = &st->fpu;
	unsigned size = gdb_reg_size(n);
	uint64_t v;

	if (!size)
		return -EINVAL;
	v = take(in, size > 8 ? 8 : size);
	if (n < 16)
		st->gpr[gpr_of[n]] = v;
	else if (n == 16)
		st->rip = v;
	else if (n == 17)
		st->rflags = (uint32_t)v;
	else if (n < 24) {
		/* only the selector would change, not the descriptor cache:
		 * refuse rather than make an inconsistent segment */
		if (v != st->seg[seg_of[n - 18]].selector)
			return -EINVAL;
	} else if (n < 32)
		memcpy(f->st[n - 24], in, 10);
	else if (n == 32)
		f->fcw = (uint16_t)v;
	else if (n == 33)
		f->fsw = (uint16_t)v;
	else if (n == 34)
		f->ftw = abridged_tag((uint32_t)v);
	else if (n == 35)
		f->fip = (f->fip & 0xffffffffull) | (v & 0xffff) << 32;
	else if (n == 36)
		f->fip = (f->fip & ~0xffffffffull) | (uint32_t)v;
	else if (n == 37)
		f->fdp = (f->fdp & 0xffffffffull) | (v & 0xffff) << 32;
	else if (n == 38)
		f->fdp = (f->fdp & ~0xffffffffull) | (uint32_t)v;
	else if (n == 39)
		f->fop = (uint16_t)(v & 0x7ff);
	else if (n < 56)
		memcpy(f->xmm[n - 40], in, 16);
	else if (n == 56)
		f->mxcsr = (uint32_t)v;
	else if (n == 57)
		st->seg[VMM_FS].base = v;
	else if (n == 58)
		st->seg[VMM_GS].base = v;
	else if (n == 59)
		st->cr0 = v;
	else if (n == 60)
		st->cr2 = v;
	else if (n == 61)
		st->cr3 = v;
	else if (n == 62)
		st->cr4 = v;
	else
		st->msr.efer = v;
	return 0;
}
