// SPDX-License-Identifier: MIT
/*
 * setup.c - turning a loader's struct vmm_boot_info into vCPU state: real
 * mode, flat 32-bit protected mode, or 64-bit mode on the identity page
 * tables, with segment hidden parts matching the boot GDT (layout.h).
 */
#include "boot/boot_int.h"
#include "boot/state_int.h"

#define GDT_LIMIT (LAYOUT_GDT_ENTRIES * 8 - 1)
#define GDT_LIMIT_USER (LAYOUT_GDT_ENTRIES_USER * 8 - 1)

static void set_gdtr(struct vmm_cpu_state *st, uint64_t gdt)
{
	if (!gdt)
		return; /* hidden parts only, as vmm_state_flat_protected() */
	st->gdtr.base = gdt;
	st->gdtr.limit = GDT_LIMIT;
}

/* A DPL-3 copy of @s with selector @sel. */
static void user_seg(struct vmm_segment *s, uint16_t sel)
{
	s->selector = sel;
	s->dpl = 3;
}

static void build_long64(const struct vmm_boot_info *info,
			 struct vmm_cpu_state *st)
{
	boot_state_flat_segments(st, true);
	st->rip = info->entry;
	st->rflags = VMM_RFLAGS_FIXED;
	st->cr0 = VMM_CR0_PE | VMM_CR0_ET | VMM_CR0_PG;
	st->cr3 = info->cr3;
	st->cr4 = VMM_CR4_PAE;
	st->msr.efer = VMM_EFER_LME | VMM_EFER_LMA;
	st->idtr.base = 0;
	st->idtr.limit = 0;
	set_gdtr(st, info->gdt);
}

/*
 * LONG64 at CPL3: user segments, TR = the boot TSS, IOPL 3, and CR0.WP/
 * NE/MP, CR4.OSFXSR/OSXMMEXCPT and EFER.NXE/SCE as an OS would leave them
 * for user code (SSE usable, #XM reported as such).
 */
static void build_long64_user(const struct vmm_boot_info *info,
			      struct vmm_cpu_state *st)
{
	struct vmm_segment *tr = &st->seg[VMM_TR];

	build_long64(info, st);
	for (int i = VMM_ES; i <= VMM_GS; i++)
		user_seg(&st->seg[i], i == VMM_CS ? VMM_BOOT_SEL_USER_CODE64
						  : VMM_BOOT_SEL_USER_DATA);
	memset(tr, 0, sizeof(*tr));
	tr->selector = VMM_BOOT_SEL_TSS;
	tr->base = VMM_BOOT_TSS;
	tr->limit = VMM_BOOT_TSS_SIZE - 1;
	tr->type = 0xb; /* busy 64-bit TSS */
	tr->present = 1;
	st->rflags = VMM_RFLAGS_FIXED | VMM_RFLAGS_IOPL;
	st->cr0 |= VMM_CR0_MP | VMM_CR0_NE | VMM_CR0_WP;
	st->cr4 |= VMM_CR4_OSFXSR | VMM_CR4_OSXMMEXCPT;
	st->msr.efer |= VMM_EFER_NXE | VMM_EFER_SCE;
	if (info->gdt)
		st->gdtr.limit = GDT_LIMIT_USER;
}

/**
 * vmm_boot_build_state() - the entry state a loader's info describes.
 * @info: from a vmm_load_*() call (or filled by hand).
 * @st:   filled completely: vmm_state_reset(st, true), then
 *
 *   - REAL16: CS = entry >> 4, IP = entry & 15, DS = ES = FS = GS = SS = CS,
 *     SP = @info->stack (or RSP from @info->regs when it is 0);
 *   - PROT32: vmm_state_flat_protected() at @info->entry, GDTR = @info->gdt;
 *   - LONG64: CS = 0x10 (64-bit code), data = 0x18, CR0 = PE|ET|PG,
 *     CR4 = PAE, EFER = LME|LMA, CR3 = @info->cr3, GDTR = @info->gdt;
 *   - LONG64_USER: the same at CPL3: CS = VMM_BOOT_SEL_USER_CODE64, data =
 *     VMM_BOOT_SEL_USER_DATA, TR = VMM_BOOT_SEL_TSS at VMM_BOOT_TSS,
 *     RFLAGS.IOPL = 3, CR0 also MP|NE|WP, CR4 also OSFXSR|OSXMMEXCPT,
 *     EFER also NXE|SCE;
 *
 * with the general registers from @info->regs, RSP = @info->stack if not
 * 0, RFLAGS = 2 (interrupts off; LONG64_USER 0x3002) and IDTR limit 0 in
 * the protected modes.
 * An unknown mode leaves @st in the reset state.
 */
void vmm_boot_build_state(const struct vmm_boot_info *info,
			  struct vmm_cpu_state *st)
{
	uint64_t sp;

	vmm_state_reset(st, true);
	if (!info)
		return;
	memcpy(st->gpr, info->regs, sizeof(st->gpr));
	sp = info->stack ? info->stack : info->regs[VMM_RSP];
	switch (info->mode) {
	case VMM_BOOT_REAL16:
		vmm_state_flat_real(st, (uint16_t)(info->entry >> 4),
				    (uint16_t)(info->entry & 15), (uint16_t)sp);
		return;
	case VMM_BOOT_PROT32:
		vmm_state_flat_protected(st, (uint32_t)info->entry);
		set_gdtr(st, info->gdt);
		break;
	case VMM_BOOT_LONG64:
		build_long64(info, st);
		break;
	case VMM_BOOT_LONG64_USER:
		build_long64_user(info, st);
		break;
	default:
		return;
	}
	st->gpr[VMM_RSP] = sp;
}

static int check_info(vmm_vm *vm, const struct vmm_boot_info *info)
{
	switch (info->mode) {
	case VMM_BOOT_REAL16:
		if (info->entry >= 0x100000)
			return vmm__err(vm, -EINVAL,
					"boot: real-mode entry %#llx above 1 MiB",
					(unsigned long long)info->entry);
		return 0;
	case VMM_BOOT_PROT32:
		if (info->entry > UINT32_MAX)
			return vmm__err(vm, -EINVAL,
					"boot: 32-bit entry %#llx above 4 GiB",
					(unsigned long long)info->entry);
		return 0;
	case VMM_BOOT_LONG64:
	case VMM_BOOT_LONG64_USER:
		if (!info->cr3)
			return vmm__err(vm, -EINVAL,
					"boot: 64-bit entry without page tables");
		return 0;
	}
	return vmm__err(vm, -EINVAL, "boot: unknown boot mode %d",
			(int)info->mode);
}

/**
 * vmm_boot_setup_vcpu() - put @vcpu at the guest's entry.
 * @vcpu: a vCPU that is not running.
 * @info: from a vmm_load_*() call.
 *
 * The state is vmm_boot_build_state()'s, runnable, except that the local
 * APIC registers, APIC_BASE (with its BSP flag) and the TSC are kept from
 * the vCPU's current state, since the backend owns them.
 *
 * Returns 0, -EINVAL (NULL argument, unknown mode, real-mode entry above
 * 1 MiB, 32-bit entry above 4 GiB, LONG64(_USER) without CR3), or the error of
 * vmm_vcpu_get_state() / vmm_vcpu_set_state().
 */
int vmm_boot_setup_vcpu(vmm_vcpu *vcpu, const struct vmm_boot_info *info)
{
	struct vmm_cpu_state *cur, *st;
	vmm_vm *vm;
	int ret;

	if (!vcpu)
		return -EINVAL;
	vm = vmm_vcpu_vm(vcpu);
	if (!info)
		return vmm__err(vm, -EINVAL, "boot: NULL boot info");
	ret = check_info(vm, info);
	if (ret < 0)
		return ret;
	/* Two ~5 KiB structs: keep them off small vCPU-thread stacks. */
	cur = vmm__alloc(vm, 2 * sizeof(*cur));
	if (!cur)
		return vmm__err(vm, -ENOMEM, "boot: out of memory");
	st = cur + 1;
	ret = vmm_vcpu_get_state(vcpu, cur);
	if (ret == 0) {
		vmm_boot_build_state(info, st);
		memcpy(st->lapic, cur->lapic, sizeof(st->lapic));
		st->msr.apic_base = cur->msr.apic_base;
		st->msr.tsc = cur->msr.tsc;
		st->mp_state = VMM_MP_RUNNABLE;
		ret = vmm_vcpu_set_state(vcpu, st);
	}
	vmm__free(vm, cur);
	return ret;
}
