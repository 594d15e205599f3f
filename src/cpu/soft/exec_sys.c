/* SPDX-License-Identifier: MIT */
/*
 * exec_sys.c - system instructions: IN/OUT, CLI/STI, CPUID, RDTSC(P),
 * RDMSR/WRMSR, the descriptor-table group (LGDT LIDT LLDT LTR SGDT SIDT
 * SLDT STR SMSW LMSW INVLPG SWAPGS, LAR LSL VERR VERW), MOV to/from
 * control and debug registers, CLTS, SYSCALL/SYSRET, SYSENTER/SYSEXIT,
 * VMCALL, fences.
 */
#include "cpu/soft/exec.h"
#include "cpu/soft/irqglue.h"
#include "core/cpumodel.h"

#include <time.h>

#define MSR_TSC 0x10
#define MSR_TSC_ADJUST 0x3b
#define MSR_APIC_BASE 0x1b
#define MSR_FEATURE_CONTROL 0x3a
#define MSR_ARCH_CAPABILITIES 0x10a
#define MSR_BIOS_SIGN 0x8b
#define MSR_SYSENTER_CS 0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176
#define MSR_MCG_CAP 0x179
#define MSR_MCG_STATUS 0x17a
#define MSR_MISC_ENABLE 0x1a0
#define MSR_PAT 0x277
#define MSR_TSC_DEADLINE 0x6e0
#define MSR_PKRS 0x6e1
#define MSR_EFER 0xc0000080
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SFMASK 0xc0000084
#define MSR_FS_BASE 0xc0000100
#define MSR_GS_BASE 0xc0000101
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_TSC_AUX 0xc0000103

static inline void need_cpl0(struct soft_cpu *c)
{
	if (c->pe && c->cpl)
		soft_gp(c, 0);
}

static bool canonical(uint64_t v)
{
	return (uint64_t)((int64_t)(v << 16) >> 16) == v;
}

uint64_t soft_tsc(struct soft_cpu *c)
{
	uint64_t t;

	if (c->svm->deterministic) {
		t = c->icount + atomic_load_explicit(&c->svm->det_skip,
						     memory_order_relaxed);
	} else {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		t = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	}
	return t + (uint64_t)c->tsc_offset;
}

/* ---- port I/O ---- */

static int op_in(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned size = i->osz > 4 ? 4 : i->osz;
	uint16_t port = (i->op & 8) ? (uint16_t)c->st.gpr[VMM_RDX] :
				      (uint16_t)(i->imm & 0xff);
	uint64_t v;

	soft_io_check(c, port, size);
	v = soft_io_in(c, port, size);
	soft_set_reg(c, VMM_RAX, size, v);
	return SOFT_NEXT;
}

static int op_out(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned size = i->osz > 4 ? 4 : i->osz;
	uint16_t port = (i->op & 8) ? (uint16_t)c->st.gpr[VMM_RDX] :
				      (uint16_t)(i->imm & 0xff);

	soft_io_check(c, port, size);
	soft_io_out(c, port, size, soft_reg(c, VMM_RAX, size));
	return SOFT_NEXT;
}

/* ---- interrupt flag ---- */

static int op_cli_sti(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned iopl = (c->st.rflags >> 12) & 3;

	if (c->pe && (c->vm86 ? iopl < 3 : c->cpl > iopl))
		soft_gp(c, 0);
	if (i->op == 0xfa) {
		c->st.rflags &= ~(uint64_t)FL_IF;
		return SOFT_NEXT;
	}
	if (!(c->st.rflags & FL_IF))
		c->shadow = true;
	c->st.rflags |= FL_IF;
	c->poll_count = 0;
	c->st.rip = (c->st.rip + i->len) & c->ipmask;
	return SOFT_END;
}

/* ---- CPUID ---- */

static void str4(uint32_t *r, const char *s)
{
	memcpy(r, s, 4);
}

/* what the software backend implements (VMM_CPU_MAX) */
#define MAX_L1C ((1u << 13) | (1u << 22) | (1u << 23) | (1u << 31))
#define MAX_L1D ((1u << 0) | (1u << 2) | (1u << 3) | (1u << 4) |         \
		 (1u << 5) | (1u << 6) | (1u << 8) | (1u << 11) |         \
		 (1u << 13) | (1u << 15) | (1u << 16) | (1u << 17) |      \
		 (1u << 19) | (1u << 23) | (1u << 24) | (1u << 25) |    \
		 (1u << 26))
/* TSC_ADJUST SMEP ERMS SMAP */
#define MAX_L7B ((1u << 1) | (1u << 7) | (1u << 9) | (1u << 20))
#define MAX_L7C ((1u << 2) | (1u << 3) | (1u << 31))      /* UMIP PKU PKS */
#define MAX_L7D (1u << 29)                /* IA32_ARCH_CAPABILITIES */
/*
 * IA32_ARCH_CAPABILITIES: the software CPU executes nothing
 * speculatively, so it has none of the transient-execution weaknesses
 * the "_NO" bits deny: RDCL_NO (Meltdown, L1TF), SKIP_L1DFL_VMENTRY,
 * SSB_NO, MDS_NO, IF_PSCHANGE_MC_NO, TAA_NO, SBDR_SSDP_NO, FBSDP_NO,
 * PSDP_NO (MMIO stale data), BHI_NO, PBRSB_NO, GDS_NO, RFDS_NO, ITS_NO.
 * An OS then skips page-table isolation, buffer clearing on every return
 * to user mode and branch thunks it would otherwise need.
 */
#define ARCH_CAP_NONE ((1ull << 0) | (1ull << 3) | (1ull << 4) |        \
		       (1ull << 5) | (1ull << 6) | (1ull << 8) |         \
		       (1ull << 13) | (1ull << 14) | (1ull << 15) |      \
		       (1ull << 20) | (1ull << 24) | (1ull << 26) |      \
		       (1ull << 27) | (1ull << 62))
#define MAX_E1C ((1u << 0) | (1u << 5))  /* LAHF in 64-bit, LZCNT */
#define MAX_E1D ((1u << 11) | (1u << 20) | (1u << 26) | (1u << 27) |      \
		 (1u << 29))                 /* SYSCALL NX 1G RDTSCP LM */
#define MAX_E7D (1u << 8)                /* invariant TSC */
#define CR4_BASE (0x4 | 0x8 | VMM_CR4_PSE | VMM_CR4_PAE | 0x40 |        \
		  VMM_CR4_PGE | 0x100 | VMM_CR4_OSFXSR | VMM_CR4_OSXMMEXCPT)
#define CR4_UMIP (1ull << 11)

#define MAX_BASIC 0x16
#define MAX_HYPER 0x40000010
#define MAX_EXT 0x80000008

int soft_features_init(vmm_vm *vm, struct soft_vm *svm)
{
	struct soft_features *f = &svm->feat;

	memset(f, 0, sizeof(*f));
	switch (vm->cfg.cpu_model) {
	case VMM_CPU_HOST:
		return vmm__err(vm, -ENOTSUP,
				"CPU model 'host' needs the KVM backend: the "
				"software backend implements only its own "
				"feature set (use 'max' or 'baseline')");
	case VMM_CPU_DEFAULT:
	case VMM_CPU_MAX:
		f->l1c = MAX_L1C, f->l1d = MAX_L1D;
		f->l7b = MAX_L7B, f->l7c = MAX_L7C, f->l7d = MAX_L7D;
		f->e1c = MAX_E1C, f->e1d = MAX_E1D, f->e7d = MAX_E7D;
		break;
	case VMM_CPU_BASELINE:
		f->l1c = MAX_L1C & vmm__cpuid_baseline_mask(1, 0, 2);
		f->l1d = MAX_L1D & vmm__cpuid_baseline_mask(1, 0, 3);
		f->l7b = MAX_L7B & vmm__cpuid_baseline_mask(7, 0, 1);
		f->e1c = MAX_E1C & vmm__cpuid_baseline_mask(0x80000001, 0, 2);
		f->e1d = MAX_E1D & vmm__cpuid_baseline_mask(0x80000001, 0, 3);
		f->e7d = MAX_E7D & vmm__cpuid_baseline_mask(0x80000007, 0, 3);
		break;
	default:
		return vmm__err(vm, -EINVAL, "unknown CPU model %u",
				vm->cfg.cpu_model);
	}
	if (svm->chip) {
		f->l1c |= (1u << 21) | (1u << 24); /* x2APIC, TSC-deadline */
		f->l1d |= 1u << 9;                 /* APIC */
	}
	f->cr4_ok = CR4_BASE;
	if (SOFT_F_SMEP(f))
		f->cr4_ok |= VMM_CR4_SMEP;
	if (SOFT_F_SMAP(f))
		f->cr4_ok |= VMM_CR4_SMAP;
	if (SOFT_F_UMIP(f))
		f->cr4_ok |= CR4_UMIP;
	if (SOFT_F_PKU(f))
		f->cr4_ok |= VMM_CR4_PKE;
	if (SOFT_F_PKS(f))
		f->cr4_ok |= VMM_CR4_PKS;
	return 0;
}

/* vCPUs per package: the VM's count rounded up to a power of two (the
 * APIC ID's package shift), at least 1, at most 64. */
static unsigned soft_pkg_cpus(const struct soft_cpu *c)
{
	unsigned n = c->vm->cfg.ncpus ? c->vm->cfg.ncpus : 1, p = 1;

	while (p < n && p < 64)
		p <<= 1;
	return p;
}

/* The model's own leaf, before the embedder's additions and filter. */
static void model_leaf(struct soft_cpu *c, uint32_t leaf, uint32_t sub,
		       uint32_t r[4])
{
	const struct soft_features *f = &c->svm->feat;

	r[0] = r[1] = r[2] = r[3] = 0;
	switch (leaf) {
	case 0:
		r[0] = MAX_BASIC;
		str4(&r[1], "Genu");
		str4(&r[3], "ineI");
		str4(&r[2], "ntel");
		break;
	case 1:
		r[0] = 0x000306a9; /* family 6 model 0x3a stepping 9 */
		/* all vCPUs are cores of one package (as a multi-core CPU
		 * says it: HTT with the package's logical count, leaf 4's
		 * core count), so an OS treats them as siblings, e.g. Linux
		 * takes the boot CPU's delay calibration for the others */
		r[1] = (c->vcpu->index << 24) | (soft_pkg_cpus(c) << 16) |
		       (8u << 8);
		r[2] = f->l1c;
		r[3] = f->l1d;
		if (soft_pkg_cpus(c) > 1)
			r[3] |= 1u << 28; /* HTT: the count in EBX is valid */
		break;
	case 4:
		/* deterministic cache parameters: one L1 data cache per core
		 * (32 KiB, 8 ways, 64 sets of 64-byte lines); EAX[31:26] =
		 * cores per package - 1 */
		if (sub == 0) {
			r[0] = 1u | 1u << 5 | 1u << 8 |
			       (soft_pkg_cpus(c) - 1) << 26;
			r[1] = 63u | 7u << 22;
			r[2] = 63u;
		}
		break;
	case 7:
		if (sub == 0) {
			r[1] = f->l7b;
			r[2] = f->l7c;
			r[3] = f->l7d;
			/* OSPKE mirrors CR4.PKE */
			if (c->st.cr4 & VMM_CR4_PKE)
				r[2] |= 1u << 4;
		}
		break;
	case 0x15:
	case 0x16:
	case 0x40000010:
		vmm__cpuid_tsc_leaf(leaf, SOFT_TSC_KHZ, r);
		break;
	case 0x40000000:
		r[0] = MAX_HYPER;
		str4(&r[1], "Libv");
		str4(&r[2], "mmSo");
		str4(&r[3], "ftVM");
		break;
	case 0x80000000:
		r[0] = MAX_EXT;
		break;
	case 0x80000001:
		r[2] = f->e1c;
		r[3] = f->e1d;
		break;
	case 0x80000002:
	case 0x80000003:
	case 0x80000004: {
		static const char brand[48] = "libvmm software x86-64 CPU";
		memcpy(r, brand + (leaf - 0x80000002) * 16, 16);
		break;
	}
	case 0x80000007:
		r[3] = f->e7d;
		break;
	case 0x80000008:
		/* physical (SOFT_MAXPHYADDR) and 48 linear address bits */
		r[0] = 0x3000 | SOFT_MAXPHYADDR;
		break;
	default:
		break;
	}
}

/* The highest leaf of the range @leaf is in (0, 0x40000000, 0x80000000). */
static uint32_t range_max(vmm_vm *vm, uint32_t leaf)
{
	uint32_t base = leaf & 0xf0000000u, m, added;

	m = base == 0 ? MAX_BASIC : base == 0x40000000u ? MAX_HYPER :
	    base == 0x80000000u ? MAX_EXT : 0;
	added = vmm__cpuid_added_max(vm, base);
	return added > m ? added : m;
}

void soft_cpuid(struct soft_cpu *c, uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	vmm_vm *vm = c->vm;
	uint32_t base = leaf & 0xf0000000u, max = range_max(vm, leaf);
	const struct vmm_cpuid_leaf *add;

	r[0] = r[1] = r[2] = r[3] = 0;
	if (leaf > max || (base && base != 0x40000000u && base != 0x80000000u))
		return;
	model_leaf(c, leaf, sub, r);
	add = vmm__cpuid_added(vm, leaf, sub);
	if (add) {
		r[0] = add->eax, r[1] = add->ebx, r[2] = add->ecx;
		r[3] = add->edx;
	}
	if (leaf == base && r[0] < max)
		r[0] = max;
	if (vm->cfg.cpuid_filter) {
		uint32_t t[4] = { r[0], r[1], r[2], r[3] };
		if (!vm->cfg.cpuid_filter(vm->cfg.cpuid_opaque, leaf, sub, t))
			t[0] = t[1] = t[2] = t[3] = 0;
		memcpy(r, t, sizeof(t));
	}
}

static int op_cpuid(struct soft_cpu *c, const struct soft_insn *i)
{
	uint32_t r[4];

	/* serializing: code other vCPUs wrote before it runs after it */
	soft_tb_serialize(c);
	soft_cpuid(c, (uint32_t)c->st.gpr[VMM_RAX], (uint32_t)c->st.gpr[VMM_RCX],
		   r);
	c->st.gpr[VMM_RAX] = r[0];
	c->st.gpr[VMM_RBX] = r[1];
	c->st.gpr[VMM_RCX] = r[2];
	c->st.gpr[VMM_RDX] = r[3];
	return SOFT_NEXT;
}

static int op_rdtsc(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t t;

	if ((c->st.cr4 & 4) && c->pe && c->cpl)
		soft_gp(c, 0);
	t = soft_tsc(c);
	c->st.gpr[VMM_RAX] = (uint32_t)t;
	c->st.gpr[VMM_RDX] = t >> 32;
	return SOFT_NEXT;
}

/* ---- MSRs ---- */

static int rdmsr(struct soft_cpu *c, uint32_t msr, uint64_t *v)
{
	struct vmm_msrs *m = &c->st.msr;
	struct soft_irqchip *chip = c->svm->chip;

	switch (msr) {
	case MSR_TSC: *v = soft_tsc(c); return 0;
	case MSR_TSC_ADJUST:
		if (!SOFT_F_TSC_ADJUST(&c->svm->feat))
			return -1;
		*v = (uint64_t)c->tsc_adjust;
		return 0;
	case MSR_APIC_BASE:
		*v = chip ? soft_irqchip_get_apic_base(chip, c->vcpu->index) :
			    m->apic_base;
		return 0;
	case MSR_FEATURE_CONTROL: *v = 1; return 0; /* locked, no VMX */
	case MSR_ARCH_CAPABILITIES: /* read-only */
		if (!SOFT_F_ARCH_CAP(&c->svm->feat))
			return -1;
		*v = ARCH_CAP_NONE;
		return 0;
	case MSR_BIOS_SIGN: *v = 0; return 0;
	/* machine-check globals, as KVM has them: no banks, no MCG_CTL */
	case MSR_MCG_CAP: *v = 0; return 0;
	case MSR_MCG_STATUS: *v = 0; return 0;
	case MSR_SYSENTER_CS: *v = m->sysenter_cs; return 0;
	case MSR_SYSENTER_ESP: *v = m->sysenter_esp; return 0;
	case MSR_SYSENTER_EIP: *v = m->sysenter_eip; return 0;
	case MSR_MISC_ENABLE: *v = m->misc_enable; return 0;
	case MSR_PAT: *v = m->pat; return 0;
	case MSR_EFER: *v = m->efer; return 0;
	case MSR_STAR: *v = m->star; return 0;
	case MSR_LSTAR: *v = m->lstar; return 0;
	case MSR_CSTAR: *v = m->cstar; return 0;
	case MSR_SFMASK: *v = m->sfmask; return 0;
	case MSR_FS_BASE: *v = c->st.seg[VMM_FS].base; return 0;
	case MSR_GS_BASE: *v = c->st.seg[VMM_GS].base; return 0;
	case MSR_KERNEL_GS_BASE: *v = m->kernel_gs_base; return 0;
	case MSR_TSC_AUX:
		if (!SOFT_F_RDTSCP(&c->svm->feat))
			return -1;
		*v = m->tsc_aux;
		return 0;
	case MSR_PKRS:
		if (!SOFT_F_PKS(&c->svm->feat))
			return -1;
		*v = c->pkrs;
		return 0;
	case MSR_TSC_DEADLINE:
		if (!chip)
			return -1;
		return soft_irqchip_rdmsr(chip, c->vcpu->index, msr, v) ? -1 : 0;
	}
	if (msr >= 0x800 && msr <= 0x8ff && chip)
		return soft_irqchip_rdmsr(chip, c->vcpu->index, msr, v) ? -1 : 0;
	return -1;
}

static int wrmsr(struct soft_cpu *c, uint32_t msr, uint64_t v)
{
	struct vmm_msrs *m = &c->st.msr;
	struct soft_irqchip *chip = c->svm->chip;

	switch (msr) {
	case MSR_TSC: {
		uint64_t old = soft_tsc(c);
		c->tsc_offset = (int64_t)(v - (old - (uint64_t)c->tsc_offset));
		/* SDM 17.17.3; wraps like the 64-bit MSR (no signed overflow) */
		c->tsc_adjust = (int64_t)((uint64_t)c->tsc_adjust + (v - old));
		soft_glue_tsc_offset(c);
		return 0;
	}
	case MSR_TSC_ADJUST:
		if (!SOFT_F_TSC_ADJUST(&c->svm->feat))
			return -1;
		c->tsc_offset = (int64_t)((uint64_t)c->tsc_offset +
					 (v - (uint64_t)c->tsc_adjust));
		c->tsc_adjust = (int64_t)v;
		soft_glue_tsc_offset(c);
		return 0;
	case MSR_APIC_BASE:
		if (chip)
			return soft_irqchip_set_apic_base(chip, c->vcpu->index,
							  v) ? -1 : 0;
		m->apic_base = v;
		return 0;
	case MSR_BIOS_SIGN: return 0;
	case MSR_MCG_STATUS:
		return v ? -1 : 0; /* nothing to clear without banks */
	case MSR_SYSENTER_CS: m->sysenter_cs = v & 0xffff; return 0;
	case MSR_SYSENTER_ESP:
		if (!canonical(v))
			return -1;
		m->sysenter_esp = v;
		return 0;
	case MSR_SYSENTER_EIP:
		if (!canonical(v))
			return -1;
		m->sysenter_eip = v;
		return 0;
	case MSR_MISC_ENABLE: m->misc_enable = v; return 0;
	case MSR_PAT:
		for (unsigned k = 0; k < 8; k++) {
			unsigned t = (unsigned)(v >> (8 * k)) & 0xff;
			if (t == 2 || t == 3 || t > 7) /* reserved types */
				return -1;
		}
		m->pat = v;
		return 0;
	case MSR_EFER: {
		uint64_t allowed = VMM_EFER_SCE | VMM_EFER_LME | VMM_EFER_NXE |
				   VMM_EFER_LMA;
		if (v & ~allowed)
			return -1;
		if ((c->st.cr0 & VMM_CR0_PG) &&
		    ((v ^ m->efer) & VMM_EFER_LME))
			return -1;
		v = (v & ~VMM_EFER_LMA) | (m->efer & VMM_EFER_LMA);
		if ((v ^ m->efer) & VMM_EFER_NXE)
			soft_tlb_flush(c);
		m->efer = v;
		soft_update_mode(c);
		c->ev |= SEV_MODE;
		return 0;
	}
	case MSR_STAR: m->star = v; return 0;
	case MSR_LSTAR:
	case MSR_CSTAR:
		if (!canonical(v))
			return -1;
		if (msr == MSR_LSTAR)
			m->lstar = v;
		else
			m->cstar = v;
		return 0;
	case MSR_SFMASK: m->sfmask = v & 0xffffffffull; return 0;
	case MSR_FS_BASE:
	case MSR_GS_BASE:
		if (!canonical(v))
			return -1;
		c->st.seg[msr == MSR_FS_BASE ? VMM_FS : VMM_GS].base = v;
		soft_update_seg(c, msr == MSR_FS_BASE ? VMM_FS : VMM_GS);
		return 0;
	case MSR_KERNEL_GS_BASE:
		if (!canonical(v))
			return -1;
		m->kernel_gs_base = v;
		return 0;
	case MSR_TSC_AUX:
		if (!SOFT_F_RDTSCP(&c->svm->feat) || (v >> 32))
			return -1;
		m->tsc_aux = v;
		return 0;
	case MSR_PKRS: /* bits 63:32 are reserved */
		if (!SOFT_F_PKS(&c->svm->feat) || (v >> 32))
			return -1;
		c->pkrs = (uint32_t)v;
		/* translations in the TLB were checked against the old PKRS */
		soft_tlb_flush(c);
		return 0;
	case MSR_TSC_DEADLINE:
		if (!chip)
			return -1;
		return soft_irqchip_wrmsr(chip, c->vcpu->index, msr, v) ? -1 : 0;
	}
	if (msr >= 0x800 && msr <= 0x8ff && chip)
		return soft_irqchip_wrmsr(chip, c->vcpu->index, msr, v) ? -1 : 0;
	return -1;
}

static int op_rdmsr(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t v;

	need_cpl0(c);
	if (rdmsr(c, (uint32_t)c->st.gpr[VMM_RCX], &v))
		soft_gp(c, 0);
	c->st.gpr[VMM_RAX] = (uint32_t)v;
	c->st.gpr[VMM_RDX] = v >> 32;
	return SOFT_NEXT;
}

static int op_wrmsr(struct soft_cpu *c, const struct soft_insn *i)
{
	uint64_t v = (uint32_t)c->st.gpr[VMM_RAX] |
		     (c->st.gpr[VMM_RDX] << 32);

	need_cpl0(c);
	if (wrmsr(c, (uint32_t)c->st.gpr[VMM_RCX], v))
		soft_gp(c, 0);
	c->poll_count = 0;
	c->st.rip = (c->st.rip + i->len) & c->ipmask;
	return SOFT_END;
}

/* ---- control registers ---- */

#define CR0_RESERVED 0xffffffff1ffaffc0ull

int soft_write_cr(struct soft_cpu *c, int cr, uint64_t v)
{
	uint64_t old;

	switch (cr) {
	case 0:
		old = c->st.cr0;
		if (v & CR0_RESERVED)
			soft_gp(c, 0);
		v |= VMM_CR0_ET;
		if ((v & VMM_CR0_PG) && !(v & VMM_CR0_PE))
			soft_gp(c, 0);
		if ((v & (1ull << 29)) && !(v & (1ull << 30))) /* NW w/o CD */
			soft_gp(c, 0);
		if ((v & VMM_CR0_PG) && !(old & VMM_CR0_PG) &&
		    (c->st.msr.efer & VMM_EFER_LME)) {
			if (!(c->st.cr4 & VMM_CR4_PAE) || c->st.seg[VMM_CS].l)
				soft_gp(c, 0);
			c->st.msr.efer |= VMM_EFER_LMA;
		}
		if (!(v & VMM_CR0_PG) && (old & VMM_CR0_PG) &&
		    (c->st.msr.efer & VMM_EFER_LMA)) {
			if (c->lm64)
				soft_gp(c, 0);
			c->st.msr.efer &= ~VMM_EFER_LMA;
		}
		c->st.cr0 = v;
		if ((old ^ v) & (VMM_CR0_PG | VMM_CR0_WP | VMM_CR0_PE))
			soft_tlb_flush(c);
		break;
	case 2:
		c->st.cr2 = v;
		return 0;
	case 3:
		if (c->lma && (v >> 52))
			soft_gp(c, 0);
		c->st.cr3 = c->lma ? v : (uint32_t)v;
		soft_tlb_flush_nonglobal(c);
		break;
	case 4:
		old = c->st.cr4;
		if (v & ~c->svm->feat.cr4_ok) /* bits the model lacks */
			soft_gp(c, 0);
		if (c->lma && !(v & VMM_CR4_PAE))
			soft_gp(c, 0);
		c->st.cr4 = v;
		if ((old ^ v) & (VMM_CR4_PSE | VMM_CR4_PAE | VMM_CR4_PGE |
				 VMM_CR4_SMEP | VMM_CR4_SMAP | VMM_CR4_PKE |
				 VMM_CR4_PKS))
			soft_tlb_flush(c);
		break;
	case 8:
		if (v >> 4)
			soft_gp(c, 0);
		c->st.cr8 = v;
		if (c->svm->chip)
			soft_irqchip_set_tpr(c->svm->chip, c->vcpu->index,
					     (uint8_t)(v << 4));
		break;
	default:
		soft_ud(c);
	}
	soft_update_mode(c);
	c->ev |= SEV_MODE;
	c->poll_count = 0;
	return 0;
}

static uint64_t read_cr(struct soft_cpu *c, int cr)
{
	switch (cr) {
	case 0: return c->st.cr0;
	case 2: return c->st.cr2;
	case 3: return c->st.cr3;
	case 4: return c->st.cr4;
	case 8:
		if (c->svm->chip)
			return soft_irqchip_get_tpr(c->svm->chip,
						    c->vcpu->index) >> 4;
		return c->st.cr8;
	}
	soft_ud(c);
}

/* 0F 20 / 0F 22: MOV r, CRn / MOV CRn, r (mod is ignored) */
static int op_mov_cr(struct soft_cpu *c, const struct soft_insn *i)
{
	int cr = i->reg;
	unsigned size = c->lm64 ? 8 : 4;

	if (c->vm86)
		soft_gp(c, 0);
	if (cr != 0 && cr != 2 && cr != 3 && cr != 4 && cr != 8)
		soft_ud(c);
	if (cr == 8 && !c->lm64)
		soft_ud(c);
	need_cpl0(c);
	if (i->op == 0x120) {
		soft_set_reg(c, i->rm, size, read_cr(c, cr));
		return SOFT_NEXT;
	}
	soft_write_cr(c, cr, soft_reg(c, i->rm, size));
	c->st.rip = (c->st.rip + i->len) & c->ipmask;
	return SOFT_END;
}

/* 0F 21 / 0F 23: MOV r, DRn / MOV DRn, r */
static int op_mov_dr(struct soft_cpu *c, const struct soft_insn *i)
{
	int dr = i->reg;
	unsigned size = c->lm64 ? 8 : 4;
	uint64_t v;

	if (c->vm86)
		soft_gp(c, 0);
	if (dr > 7)
		soft_ud(c);
	if ((dr == 4 || dr == 5) && (c->st.cr4 & 8))
		soft_ud(c);
	need_cpl0(c);
	if (c->st.dr7 & 0x2000) {
		/* general detect: #DB fault before any DR access, BD set,
		 * GD cleared for the handler */
		c->st.dr6 = (c->st.dr6 & ~0xfull) | 0x2000 | 0xffff0ff0u;
		c->st.dr7 &= ~0x2000ull;
		soft_fault(c, 1, 0);
	}
	if (dr == 4 || dr == 5)
		dr += 2;
	if (i->op == 0x121) {
		v = dr < 4 ? c->st.dr[dr] : dr == 6 ? c->st.dr6 : c->st.dr7;
		soft_set_reg(c, i->rm, size, v);
		return SOFT_NEXT;
	}
	v = soft_reg(c, i->rm, size);
	if (dr < 4) {
		c->st.dr[dr] = v;
	} else if (dr == 6) {
		if (v >> 32)
			soft_gp(c, 0);
		c->st.dr6 = (v & 0x1e00f) | 0xffff0ff0;
	} else {
		if (v >> 32)
			soft_gp(c, 0);
		c->st.dr7 = (v & 0xffff2bff) | 0x400;
	}
	soft_dr_update(c);
	if (c->dr_exec) {
		/* the executor must go one instruction at a time */
		c->st.rip = (c->st.rip + i->len) & c->ipmask;
		return SOFT_END;
	}
	return SOFT_NEXT;
}

static int op_clts(struct soft_cpu *c, const struct soft_insn *i)
{
	need_cpl0(c);
	c->st.cr0 &= ~VMM_CR0_TS;
	return SOFT_NEXT;
}

static int op_wbinvd(struct soft_cpu *c, const struct soft_insn *i)
{
	need_cpl0(c);
	return SOFT_NEXT;
}

/* ---- descriptor tables: group 6 (0F 00) and group 7 (0F 01) ---- */

/* CR4.UMIP: SGDT, SIDT, SLDT, SMSW and STR are for CPL 0 only */
static inline void umip_check(struct soft_cpu *c)
{
	if ((c->st.cr4 & CR4_UMIP) && c->pe && (c->cpl || c->vm86))
		soft_gp(c, 0);
}

static void store_rm16(struct soft_cpu *c, const struct soft_insn *i,
		       uint16_t v)
{
	if (i->mod == 3)
		soft_set_reg(c, i->rm, i->osz == 2 ? 2 : i->osz, v);
	else
		soft_st(c, i->seg, soft_ea(c, i), 2, v);
}

static uint16_t load_rm16(struct soft_cpu *c, const struct soft_insn *i)
{
	if (i->mod == 3)
		return (uint16_t)c->st.gpr[i->rm];
	return (uint16_t)soft_ld(c, i->seg, soft_ea(c, i), 2);
}

/* load a system descriptor (LDT / TSS), 16 bytes in long mode */
static void load_sys_desc(struct soft_cpu *c, uint16_t sel, int want,
			  struct vmm_segment *s, uint64_t *d)
{
	if (sel & 4)
		soft_gp(c, sel & 0xfffc);
	*d = soft_read_desc(c, sel, 13);
	soft_desc_to_seg(s, sel, *d);
	if (s->s)
		soft_gp(c, sel & 0xfffc);
	if (want == 2 ? s->type != 2 :
			(s->type != 9 && (c->lma || s->type != 1)))
		soft_gp(c, sel & 0xfffc);
	if (!s->present)
		soft_fault(c, 11, sel & 0xfffc);
	if (c->lma) {
		/* the 16-byte form: the upper half must be inside the GDT,
		 * its type field zero and the 64-bit base canonical, else
		 * #GP(selector) (SDM LLDT/LTR, 64-bit mode) */
		uint64_t hi;
		if ((sel & ~7u) + 15 > c->st.gdtr.limit)
			soft_gp(c, sel & 0xfffc);
		hi = soft_ld_sys(c, c->st.gdtr.base + (sel & ~7u) + 8, 8);
		if ((hi >> 40) & 0x1f)
			soft_gp(c, sel & 0xfffc);
		s->base |= (hi & 0xffffffffull) << 32;
		if (!canonical(s->base))
			soft_gp(c, sel & 0xfffc);
	}
}

static int op_grp6(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned sub = i->reg & 7;
	struct vmm_segment s;
	uint64_t d;
	uint16_t sel;

	if (!c->pe || c->vm86)
		soft_ud(c);
	switch (sub) {
	case 0: /* SLDT */
		umip_check(c);
		store_rm16(c, i, c->st.seg[VMM_LDTR].selector);
		return SOFT_NEXT;
	case 1: /* STR */
		umip_check(c);
		store_rm16(c, i, c->st.seg[VMM_TR].selector);
		return SOFT_NEXT;
	case 2: /* LLDT */
		need_cpl0(c);
		sel = load_rm16(c, i);
		if (!(sel & 0xfffc)) {
			memset(&s, 0, sizeof(s));
			s.selector = sel;
			s.unusable = 1;
			c->st.seg[VMM_LDTR] = s;
			return SOFT_NEXT;
		}
		load_sys_desc(c, sel, 2, &s, &d);
		c->st.seg[VMM_LDTR] = s;
		return SOFT_NEXT;
	case 3: /* LTR */
		need_cpl0(c);
		sel = load_rm16(c, i);
		if (!(sel & 0xfffc))
			soft_gp(c, 0);
		load_sys_desc(c, sel, 9, &s, &d);
		/* mark busy in the GDT */
		soft_st_sys(c, c->st.gdtr.base + (sel & ~7u) + 5, 1,
			    ((d >> 40) & 0xff) | 2);
		s.type |= 2;
		c->st.seg[VMM_TR] = s;
		return SOFT_NEXT;
	case 4: /* VERR */
	case 5: { /* VERW */
		bool ok = false;
		uint64_t f;
		sel = load_rm16(c, i);
		if (sel & 0xfffc) {
			uint64_t base = (sel & 4) ? c->st.seg[VMM_LDTR].base :
						    c->st.gdtr.base;
			uint64_t lim = (sel & 4) ? c->st.seg[VMM_LDTR].limit :
						   c->st.gdtr.limit;
			if ((sel | 7u) <= lim) {
				d = soft_ld_sys(c, base + (sel & ~7u), 8);
				soft_desc_to_seg(&s, sel, d);
				bool conf = (s.type & 0xc) == 0xc;
				ok = s.s && (conf || (s.dpl >= c->cpl &&
						      s.dpl >= (sel & 3u)));
				if (sub == 4)
					ok = ok && (!(s.type & 8) || (s.type & 2));
				else
					ok = ok && !(s.type & 8) && (s.type & 2);
			}
		}
		f = soft_get_flags(c);
		c->st.rflags = ok ? f | FL_ZF : f & ~(uint64_t)FL_ZF;
		c->lf_op = LF_NONE;
		return SOFT_NEXT;
	}
	default:
		soft_ud(c);
	}
}

static void sgdt_like(struct soft_cpu *c, const struct soft_insn *i,
		      const struct vmm_dtable *t)
{
	uint64_t ea = soft_ea(c, i);
	unsigned n = c->lm64 ? 8 : 4;

	soft_probe_write(c, i->seg, ea, 2 + n);
	soft_st(c, i->seg, ea, 2, t->limit);
	soft_st(c, i->seg, ea + 2, n, t->base);
}

static void lgdt_like(struct soft_cpu *c, const struct soft_insn *i,
		      struct vmm_dtable *t)
{
	uint64_t ea = soft_ea(c, i), base;
	uint16_t limit;

	need_cpl0(c);
	limit = (uint16_t)soft_ld(c, i->seg, ea, 2);
	if (c->lm64) {
		base = soft_ld(c, i->seg, ea + 2, 8);
		if (!canonical(base))
			soft_gp(c, 0);
	} else {
		base = soft_ld(c, i->seg, ea + 2, 4);
		if (i->osz == 2)
			base &= 0xffffff;
	}
	t->limit = limit;
	t->base = base;
}

static int op_grp7(struct soft_cpu *c, const struct soft_insn *i)
{
	unsigned sub = i->reg & 7;
	uint8_t rm = i->rm & 7;

	if (i->mod == 3) {
		switch (sub) {
		case 0:
			if (rm == 1 && !(c->pe && c->cpl)) {
				/* VMCALL: no hypervisor ABI here; KVM
				 * answers -KVM_ENOSYS */
				c->st.gpr[VMM_RAX] = (uint64_t)-1000;
				return SOFT_NEXT;
			}
			soft_ud(c);
		case 3:
			if (rm == 1 && !(c->pe && c->cpl)) { /* VMMCALL */
				c->st.gpr[VMM_RAX] = (uint64_t)-1000;
				return SOFT_NEXT;
			}
			soft_ud(c);
		case 1:
			if ((rm == 2 || rm == 3) &&
			    SOFT_F_SMAP(&c->svm->feat)) { /* CLAC, STAC */
				if (c->pe && (c->cpl || c->vm86))
					soft_ud(c);
				soft_flags_commit(c);
				if (rm == 3)
					c->st.rflags |= FL_AC;
				else
					c->st.rflags &= ~(uint64_t)FL_AC;
				return SOFT_NEXT;
			}
			soft_ud(c);
		case 5:
			if ((rm == 6 || rm == 7) &&
			    SOFT_F_PKU(&c->svm->feat)) { /* RDPKRU, WRPKRU */
				if (!(c->st.cr4 & VMM_CR4_PKE))
					soft_ud(c);
				if ((uint32_t)c->st.gpr[VMM_RCX] ||
				    (rm == 7 && (uint32_t)c->st.gpr[VMM_RDX]))
					soft_gp(c, 0);
				if (rm == 6) {
					c->st.gpr[VMM_RAX] = c->pkru;
					c->st.gpr[VMM_RDX] = 0;
					return SOFT_NEXT;
				}
				c->pkru = (uint32_t)c->st.gpr[VMM_RAX];
				/* the soft TLB holds translations checked
				 * against the old PKRU: drop them (a
				 * host-side cache, not a guest-visible
				 * TLB flush) */
				soft_tlb_flush(c);
				return SOFT_NEXT;
			}
			soft_ud(c);
		case 4: /* SMSW r */
			umip_check(c);
			soft_set_reg(c, i->rm, i->osz, c->st.cr0 &
				     soft_mask(i->osz));
			return SOFT_NEXT;
		case 6: { /* LMSW r */
			uint64_t v = c->st.gpr[i->rm] & 0xf;
			need_cpl0(c);
			v |= c->st.cr0 & 1; /* cannot clear PE */
			soft_write_cr(c, 0, (c->st.cr0 & ~0xfull) | v);
			c->st.rip = (c->st.rip + i->len) & c->ipmask;
			return SOFT_END;
		}
		case 7:
			if (rm == 0) { /* SWAPGS */
				uint64_t t;
				if (!c->lm64)
					soft_ud(c);
				need_cpl0(c);
				t = c->st.seg[VMM_GS].base;
				c->st.seg[VMM_GS].base = c->st.msr.kernel_gs_base;
				c->st.msr.kernel_gs_base = t;
				soft_update_seg(c, VMM_GS);
				return SOFT_NEXT;
			}
			if (rm == 1) { /* RDTSCP */
				uint64_t t;
				if (!SOFT_F_RDTSCP(&c->svm->feat))
					soft_ud(c);
				if ((c->st.cr4 & 4) && c->pe && c->cpl)
					soft_gp(c, 0);
				t = soft_tsc(c);
				c->st.gpr[VMM_RAX] = (uint32_t)t;
				c->st.gpr[VMM_RDX] = t >> 32;
				c->st.gpr[VMM_RCX] = (uint32_t)c->st.msr.tsc_aux;
				return SOFT_NEXT;
			}
			soft_ud(c);
		default:
			soft_ud(c);
		}
	}
	switch (sub) {
	case 0:
		umip_check(c);
		sgdt_like(c, i, &c->st.gdtr);
		return SOFT_NEXT;
	case 1:
		umip_check(c);
		sgdt_like(c, i, &c->st.idtr);
		return SOFT_NEXT;
	case 2: lgdt_like(c, i, &c->st.gdtr); return SOFT_NEXT;
	case 3: lgdt_like(c, i, &c->st.idtr); return SOFT_NEXT;
	case 4:
		umip_check(c);
		soft_st(c, i->seg, soft_ea(c, i), 2, c->st.cr0);
		return SOFT_NEXT;
	case 6: {
		uint64_t v = soft_ld(c, i->seg, soft_ea(c, i), 2) & 0xf;
		need_cpl0(c);
		v |= c->st.cr0 & 1;
		soft_write_cr(c, 0, (c->st.cr0 & ~0xfull) | v);
		c->st.rip = (c->st.rip + i->len) & c->ipmask;
		return SOFT_END;
	}
	case 7: /* INVLPG */
		need_cpl0(c);
		/* the linear address (no limit or canonical check: INVLPG of
		 * any address is no fault) */
		{
			uint64_t lin = c->segbase[i->seg] + soft_ea(c, i);
			soft_tlb_flush_page(c, c->lma ? lin : (uint32_t)lin);
		}
		c->st.rip = (c->st.rip + i->len) & c->ipmask;
		return SOFT_END;
	default:
		soft_ud(c);
	}
}

/* LAR / LSL */
static int op_lar_lsl(struct soft_cpu *c, const struct soft_insn *i)
{
	uint16_t sel;
	uint64_t f, d, base, lim;
	struct vmm_segment s;
	bool ok = false;

	if (!c->pe || c->vm86)
		soft_ud(c);
	sel = load_rm16(c, i);
	base = (sel & 4) ? c->st.seg[VMM_LDTR].base : c->st.gdtr.base;
	lim = (sel & 4) ? c->st.seg[VMM_LDTR].limit : c->st.gdtr.limit;
	f = soft_get_flags(c);
	if ((sel & 0xfffc) && (sel | 7u) <= lim) {
		d = soft_ld_sys(c, base + (sel & ~7u), 8);
		soft_desc_to_seg(&s, sel, d);
		bool conf = s.s && (s.type & 0xc) == 0xc;
		ok = conf || (s.dpl >= c->cpl && s.dpl >= (sel & 3u));
		if (!s.s) {
			static const uint16_t lar_ok = 0x3e, lsl_ok = 0xe0e;
			uint16_t okm = i->op == 0x102 ?
				(c->lma ? 0x0a04 : 0x1eae | lar_ok) :
				(c->lma ? 0x0a04 : lsl_ok | 0x0a04);
			ok = ok && ((okm >> s.type) & 1);
		}
		if (ok) {
			if (i->op == 0x102)
				soft_set_reg(c, i->reg, i->osz,
					     (d >> 32) & 0x00f0ff00);
			else
				soft_set_reg(c, i->reg, i->osz, s.limit);
		}
	}
	c->st.rflags = ok ? f | FL_ZF : f & ~(uint64_t)FL_ZF;
	c->lf_op = LF_NONE;
	return SOFT_NEXT;
}

/* ---- fast system calls ---- */

static void flat_seg(struct vmm_segment *s, uint16_t sel, bool code,
		     bool l64, unsigned dpl)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->limit = 0xffffffffu;
	s->type = code ? 0xb : 0x3;
	s->s = 1;
	s->dpl = (uint8_t)dpl;
	s->present = 1;
	s->g = 1;
	s->l = l64;
	s->db = !l64;
}

static int op_syscall(struct soft_cpu *c, const struct soft_insn *i)
{
	uint16_t sel = (uint16_t)(c->st.msr.star >> 32);
	uint64_t next = (c->st.rip + i->len) & c->ipmask;
	uint64_t f = soft_get_flags(c);

	if (!(c->st.msr.efer & VMM_EFER_SCE) || !c->pe)
		soft_ud(c);
	flat_seg(&c->st.seg[VMM_CS], sel & 0xfffc, true, c->lma, 0);
	flat_seg(&c->st.seg[VMM_SS], (uint16_t)((sel + 8) & 0xfffc), false,
		 false, 0);
	if (c->lma) {
		c->st.gpr[VMM_RCX] = next;
		c->st.gpr[VMM_R11] = f & ~(uint64_t)FL_RF;
		c->st.rip = c->lm64 ? c->st.msr.lstar : c->st.msr.cstar;
		f &= ~(c->st.msr.sfmask | FL_RF);
	} else {
		c->st.gpr[VMM_RCX] = (uint32_t)next;
		c->st.rip = (uint32_t)c->st.msr.star;
		f &= ~(uint64_t)(FL_IF | FL_VM | FL_RF);
	}
	c->st.rflags = f | 2;
	c->lf_op = LF_NONE;
	soft_update_mode(c);
	return SOFT_END;
}

static int op_sysret(struct soft_cpu *c, const struct soft_insn *i)
{
	uint16_t sel = (uint16_t)(c->st.msr.star >> 48);
	bool w = i->pfx & PFX_REXW;

	if (!(c->st.msr.efer & VMM_EFER_SCE))
		soft_ud(c);
	if (!c->pe || c->cpl)
		soft_gp(c, 0);
	if (w && !canonical(c->st.gpr[VMM_RCX]))
		soft_gp(c, 0);
	if (w) {
		flat_seg(&c->st.seg[VMM_CS], (uint16_t)((sel + 16) | 3), true,
			 true, 3);
		c->st.rip = c->st.gpr[VMM_RCX];
	} else {
		flat_seg(&c->st.seg[VMM_CS], sel | 3, true, false, 3);
		c->st.rip = (uint32_t)c->st.gpr[VMM_RCX];
	}
	/* SS keeps the descriptor cache of a flat data segment */
	flat_seg(&c->st.seg[VMM_SS], (uint16_t)((sel + 8) | 3), false, false,
		 3);
	if (c->lma)
		c->st.rflags = (c->st.gpr[VMM_R11] & 0x3c7fd7) | 2;
	else
		c->st.rflags |= FL_IF;
	c->lf_op = LF_NONE;
	soft_update_mode(c);
	return SOFT_END;
}

static int op_sysenter(struct soft_cpu *c, const struct soft_insn *i)
{
	uint16_t sel = (uint16_t)c->st.msr.sysenter_cs;

	if (!c->pe || !(sel & 0xfffc))
		soft_gp(c, 0);
	soft_flags_commit(c);
	c->st.rflags &= ~(uint64_t)(FL_VM | FL_IF | FL_RF);
	flat_seg(&c->st.seg[VMM_CS], sel & 0xfffc, true, c->lma, 0);
	flat_seg(&c->st.seg[VMM_SS], (uint16_t)((sel + 8) & 0xfffc), false,
		 false, 0);
	c->st.rip = c->lma ? c->st.msr.sysenter_eip :
			     (uint32_t)c->st.msr.sysenter_eip;
	c->st.gpr[VMM_RSP] = c->lma ? c->st.msr.sysenter_esp :
				      (uint32_t)c->st.msr.sysenter_esp;
	soft_update_mode(c);
	return SOFT_END;
}

static int op_sysexit(struct soft_cpu *c, const struct soft_insn *i)
{
	uint16_t sel = (uint16_t)c->st.msr.sysenter_cs;
	bool w = i->pfx & PFX_REXW;

	if (!c->pe || c->cpl || !(sel & 0xfffc))
		soft_gp(c, 0);
	if (w) {
		if (!canonical(c->st.gpr[VMM_RDX]) ||
		    !canonical(c->st.gpr[VMM_RCX]))
			soft_gp(c, 0);
		flat_seg(&c->st.seg[VMM_CS], (uint16_t)((sel + 32) | 3), true,
			 true, 3);
		flat_seg(&c->st.seg[VMM_SS], (uint16_t)((sel + 40) | 3), false,
			 false, 3);
		c->st.rip = c->st.gpr[VMM_RDX];
		c->st.gpr[VMM_RSP] = c->st.gpr[VMM_RCX];
	} else {
		flat_seg(&c->st.seg[VMM_CS], (uint16_t)((sel + 16) | 3), true,
			 false, 3);
		flat_seg(&c->st.seg[VMM_SS], (uint16_t)((sel + 24) | 3), false,
			 false, 3);
		c->st.rip = (uint32_t)c->st.gpr[VMM_RDX];
		c->st.gpr[VMM_RSP] = (uint32_t)c->st.gpr[VMM_RCX];
	}
	soft_update_mode(c);
	return SOFT_END;
}

static int op_rdpmc(struct soft_cpu *c, const struct soft_insn *i)
{
	soft_gp(c, 0);
}

void soft_register_sys(soft_fn *t)
{
	t[0xe4] = t[0xe5] = t[0xec] = t[0xed] = op_in;
	t[0xe6] = t[0xe7] = t[0xee] = t[0xef] = op_out;
	t[0xfa] = t[0xfb] = op_cli_sti;
	t[0x1a2] = op_cpuid;
	t[0x131] = op_rdtsc;
	t[0x132] = op_rdmsr;
	t[0x130] = op_wrmsr;
	t[0x133] = op_rdpmc;
	t[0x120] = t[0x122] = op_mov_cr;
	t[0x121] = t[0x123] = op_mov_dr;
	t[0x106] = op_clts;
	t[0x108] = t[0x109] = op_wbinvd;
	t[0x100] = op_grp6;
	t[0x101] = op_grp7;
	t[0x102] = t[0x103] = op_lar_lsl;
	t[0x105] = op_syscall;
	t[0x107] = op_sysret;
	t[0x134] = op_sysenter;
	t[0x135] = op_sysexit;
}
