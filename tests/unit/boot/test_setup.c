// SPDX-License-Identifier: MIT
/*
 * test_setup.c - architectural states (reset, flat real, flat protected),
 * vmm_boot_build_state() for each mode with segment hidden parts checked
 * against the GDT the loader wrote, the identity map checked by walking it
 * (vmm_vcpu_translate), and vmm_boot_setup_vcpu().
 */
#include "boot_test.h"

#define RAM (8 * MIB)

static void test_reset(void **state)
{
	struct vmm_cpu_state st;

	memset(&st, 0xcc, sizeof(st));
	vmm_state_reset(&st, true);
	assert_int_equal(st.version, VMM_CPU_STATE_VERSION);
	assert_int_equal(st.mp_state, VMM_MP_RUNNABLE);
	assert_int_equal(st.rip, 0xfff0);
	assert_int_equal(st.rflags, 2);
	assert_int_equal(st.seg[VMM_CS].selector, 0xf000);
	assert_int_equal(st.seg[VMM_CS].base, 0xffff0000);
	assert_int_equal(st.seg[VMM_CS].limit, 0xffff);
	assert_int_equal(st.seg[VMM_DS].base, 0);
	assert_int_equal(st.cr0, 0x60000010);
	assert_int_equal(st.gpr[VMM_RAX], 0);
	assert_int_equal(st.dr6, 0xffff0ff0);
	assert_int_equal(st.dr7, 0x400);
	assert_int_equal(st.msr.efer, 0);
	assert_int_equal(st.msr.apic_base, 0xfee00000 | 0x800 | 0x100);
	assert_int_equal(st.fpu.fcw, 0x37f);
	assert_int_equal(st.fpu.mxcsr, 0x1f80);
	assert_int_equal(st.fpu.xcr0, 1);
	assert_int_equal(g32(st.lapic, 0x320), 0x10000);
	assert_int_equal(g32(st.lapic, 0xf0), 0xff);
	vmm_state_reset(&st, false);
	assert_int_equal(st.msr.apic_base, 0xfee00000 | 0x800);
	assert_int_equal(st.mp_state, VMM_MP_INIT_RECEIVED);
}

static void test_flat_real_and_protected(void **state)
{
	struct vmm_cpu_state st;

	memset(&st, 0, sizeof(st));
	vmm_state_flat_real(&st, 0x1234, 0x10, 0xfff0);
	assert_int_equal(st.version, VMM_CPU_STATE_VERSION); /* reset first */
	assert_int_equal(st.fpu.fcw, 0x37f);
	for (int i = VMM_ES; i <= VMM_GS; i++) {
		assert_int_equal(st.seg[i].selector, 0x1234);
		assert_int_equal(st.seg[i].base, 0x12340);
		assert_int_equal(st.seg[i].limit, 0xffff);
	}
	assert_int_equal(st.rip, 0x10);
	assert_int_equal(st.gpr[VMM_RSP], 0xfff0);
	assert_int_equal(st.cr0 & VMM_CR0_PE, 0);

	/* From a live state, other fields are kept. */
	st.gpr[VMM_RBX] = 42;
	st.msr.tsc = 1000;
	vmm_state_flat_protected(&st, 0x100000);
	assert_int_equal(st.gpr[VMM_RBX], 42);
	assert_int_equal(st.msr.tsc, 1000);
	assert_int_equal(st.rip, 0x100000);
	assert_int_equal(st.cr0 & (VMM_CR0_PE | VMM_CR0_PG), VMM_CR0_PE);
	assert_int_equal(st.seg[VMM_CS].selector, 0x10);
	assert_int_equal(st.seg[VMM_CS].db, 1);
	assert_int_equal(st.seg[VMM_CS].g, 1);
	assert_int_equal(st.seg[VMM_CS].limit, 0xffffffff);
	assert_int_equal(st.seg[VMM_SS].selector, 0x18);
	assert_int_equal(st.seg[VMM_DS].type, 3);
	assert_int_equal(st.seg[VMM_TR].type, 11);
	assert_int_equal(st.seg[VMM_TR].present, 1);
}

/* The hidden part of @s must be what loading @s->selector would give. */
static void check_seg_vs_gdt(vmm_vm *vm, const struct vmm_cpu_state *st,
			     int sr)
{
	const struct vmm_segment *s = &st->seg[sr];
	uint64_t d;
	uint32_t limit;

	assert_int_equal(s->selector & 3, s->dpl); /* RPL = DPL = CPL */
	assert_true((s->selector & ~7u) + 8u <= st->gdtr.limit + 1u);
	d = gread64(vm, st->gdtr.base + (s->selector & ~7u));
	limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
	if ((d >> 55) & 1)
		limit = limit << 12 | 0xfff;
	assert_int_equal(s->base, ((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000));
	assert_int_equal(s->limit, limit);
	assert_int_equal(s->type, (d >> 40) & 0xf);
	assert_int_equal(s->s, (d >> 44) & 1);
	assert_int_equal(s->dpl, (d >> 45) & 3);
	assert_int_equal(s->present, (d >> 47) & 1);
	assert_int_equal(s->avl, (d >> 52) & 1);
	assert_int_equal(s->l, (d >> 53) & 1);
	assert_int_equal(s->db, (d >> 54) & 1);
	assert_int_equal(s->g, (d >> 55) & 1);
}

static const uint8_t code[] = { 0xf4 };

static void test_build_prot32(void **state)
{
	vmm_vm *vm = bt_vm_pattern(RAM);
	struct vmm_boot_info bi;
	struct vmm_cpu_state st;

	assert_int_equal(vmm_image_load_flat(vm, code, 1, 0x100000, VMM_BOOT_PROT32,
				       &bi), 0);
	bi.regs[VMM_RAX] = 0x2badb002;
	bi.stack = 0x90000;
	vmm_boot_build_state(&bi, &st);
	assert_int_equal(st.rip, 0x100000);
	assert_int_equal(st.gpr[VMM_RAX], 0x2badb002);
	assert_int_equal(st.gpr[VMM_RSP], 0x90000);
	assert_int_equal(st.rflags, 2);
	assert_int_equal(st.cr0 & (VMM_CR0_PE | VMM_CR0_PG), VMM_CR0_PE);
	assert_int_equal(st.msr.efer, 0);
	assert_int_equal(st.gdtr.base, VMM_BOOT_GDT);
	for (int i = VMM_ES; i <= VMM_GS; i++)
		check_seg_vs_gdt(vm, &st, i);
	assert_int_equal(st.seg[VMM_CS].l, 0);
	assert_int_equal(st.seg[VMM_CS].db, 1);
	vmm_vm_destroy(vm);
}

static void test_build_long64(void **state)
{
	vmm_vm *vm = bt_vm_pattern(RAM);
	struct vmm_boot_info bi;
	struct vmm_cpu_state st, got;
	vmm_vcpu *vcpu;
	vmm_gpa_t gpa;

	assert_int_equal(vmm_image_load_flat(vm, code, 1, 0x100000, VMM_BOOT_LONG64,
				       &bi), 0);
	bi.regs[VMM_RSI] = 0x7000;
	vmm_boot_build_state(&bi, &st);
	assert_int_equal(st.cr0 & (VMM_CR0_PE | VMM_CR0_PG),
			 VMM_CR0_PE | VMM_CR0_PG);
	assert_true(st.cr4 & VMM_CR4_PAE);
	assert_int_equal(st.msr.efer & (VMM_EFER_LME | VMM_EFER_LMA),
			 VMM_EFER_LME | VMM_EFER_LMA);
	assert_int_equal(st.cr3, VMM_BOOT_PML4);
	assert_int_equal(st.gpr[VMM_RSI], 0x7000);
	assert_int_equal(st.rflags, 2);
	for (int i = VMM_ES; i <= VMM_GS; i++)
		check_seg_vs_gdt(vm, &st, i);
	assert_int_equal(st.seg[VMM_CS].l, 1);
	assert_int_equal(st.seg[VMM_CS].db, 0);

	/* Walk the identity map through a vCPU of the null backend. */
	assert_int_equal(vmm_vcpu_create(vm, 0, &vcpu), 0);
	st.msr.tsc = 0; /* overwritten by setup_vcpu from the vCPU anyway */
	assert_int_equal(vmm_boot_setup_vcpu(vcpu, &bi), 0);
	assert_int_equal(vmm_vcpu_get_state(vcpu, &got), 0);
	assert_int_equal(got.rip, 0x100000);
	assert_int_equal(got.cr3, VMM_BOOT_PML4);
	assert_int_equal(got.mp_state, VMM_MP_RUNNABLE);
	assert_memory_equal(got.seg, st.seg, sizeof(st.seg));
	const uint64_t probes[] = { 0, 0x100000, 0x12345678, 0xfffff000,
				    0xc0000123 };
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		assert_int_equal(vmm_vcpu_translate(vcpu, probes[i], 0, &gpa),
				 0);
		assert_int_equal(gpa, probes[i]);
	}
	assert_int_equal(vmm_vcpu_translate(vcpu, 4 * GIB, 0, &gpa), -EFAULT);
	vmm_vm_destroy(vm);
}

/*
 * LONG64_USER: CPL3 segments matching the GDT, TR = the boot TSS with its
 * descriptor in the GDT, the I/O bitmap open, user pages everywhere.
 */
static void test_build_long64_user(void **state)
{
	vmm_vm *vm = bt_vm_pattern(RAM);
	struct vmm_boot_info bi;
	struct vmm_cpu_state st, got;
	vmm_vcpu *vcpu;
	vmm_gpa_t gpa;
	uint8_t tss[VMM_BOOT_TSS_SIZE];
	uint64_t d0, d1;

	assert_int_equal(vmm_image_load_flat(vm, code, 1, 0x100000,
				       VMM_BOOT_LONG64_USER, &bi), 0);
	assert_int_equal(bi.mode, VMM_BOOT_LONG64_USER);
	bi.stack = 0x90000;
	vmm_boot_build_state(&bi, &st);
	assert_int_equal(st.rip, 0x100000);
	assert_int_equal(st.gpr[VMM_RSP], 0x90000);
	assert_int_equal(st.rflags, 0x3002);
	assert_int_equal(st.cr3, VMM_BOOT_PML4);
	assert_true(st.cr0 & VMM_CR0_WP);
	assert_true(st.cr4 & VMM_CR4_OSFXSR);
	assert_true(st.msr.efer & VMM_EFER_LMA);
	assert_int_equal(st.gdtr.limit, 10 * 8 - 1);
	for (int i = VMM_ES; i <= VMM_GS; i++) {
		check_seg_vs_gdt(vm, &st, i);
		assert_int_equal(st.seg[i].dpl, 3);
	}
	assert_int_equal(st.seg[VMM_CS].selector, VMM_BOOT_SEL_USER_CODE64);
	assert_int_equal(st.seg[VMM_CS].l, 1);
	assert_int_equal(st.seg[VMM_SS].selector, VMM_BOOT_SEL_USER_DATA);

	/* TR and its 16-byte descriptor; the TSS with its open I/O map */
	assert_int_equal(st.seg[VMM_TR].selector, VMM_BOOT_SEL_TSS);
	assert_int_equal(st.seg[VMM_TR].base, VMM_BOOT_TSS);
	assert_int_equal(st.seg[VMM_TR].limit, VMM_BOOT_TSS_SIZE - 1);
	d0 = gread64(vm, VMM_BOOT_GDT + VMM_BOOT_SEL_TSS);
	d1 = gread64(vm, VMM_BOOT_GDT + VMM_BOOT_SEL_TSS + 8);
	assert_int_equal(((d0 >> 16) & 0xffffff) | ((d0 >> 32) & 0xff000000) |
				 d1 << 32,
			 VMM_BOOT_TSS);
	assert_int_equal((d0 & 0xffff) | ((d0 >> 32) & 0xf0000),
			 VMM_BOOT_TSS_SIZE - 1);
	assert_int_equal((d0 >> 40) & 0xff, 0x89);
	assert_int_equal(vmm_mem_read(vm, VMM_BOOT_TSS, tss, sizeof(tss)), 0);
	assert_int_equal(tss[102] | tss[103] << 8, 104);
	for (size_t i = 104; i < sizeof(tss) - 1; i++)
		assert_int_equal(tss[i], 0);
	assert_int_equal(tss[sizeof(tss) - 1], 0xff);

	/* user, writable pages */
	assert_int_equal(vmm_vcpu_create(vm, 0, &vcpu), 0);
	assert_int_equal(vmm_boot_setup_vcpu(vcpu, &bi), 0);
	assert_int_equal(vmm_vcpu_get_state(vcpu, &got), 0);
	assert_memory_equal(got.seg, st.seg, sizeof(st.seg));
	assert_int_equal(vmm_vcpu_translate(vcpu, 0x12345678,
					    VMM_ACCESS_USER | VMM_ACCESS_WRITE,
					    &gpa), 0);
	assert_int_equal(gpa, 0x12345678);

	/* an image over the TSS is refused */
	assert_int_equal(vmm_image_load_flat(vm, code, 1, VMM_BOOT_TSS + 0x100,
				       VMM_BOOT_LONG64_USER, &bi), -EEXIST);
	/* plain LONG64 pages are supervisor-only */
	assert_int_equal(vmm_image_load_flat(vm, code, 1, 0x100000, VMM_BOOT_LONG64,
				       &bi), 0);
	assert_int_equal(vmm_vcpu_translate(vcpu, 0x12345678, VMM_ACCESS_USER,
					    &gpa), -EFAULT);
	vmm_vm_destroy(vm);
}

static void test_build_real16(void **state)
{
	struct vmm_boot_info bi = { .mode = VMM_BOOT_REAL16, .entry = 0x7c05,
				    .stack = 0x7000 };
	struct vmm_cpu_state st;

	vmm_boot_build_state(&bi, &st);
	assert_int_equal(st.seg[VMM_CS].selector, 0x7c0);
	assert_int_equal(st.rip, 5);
	assert_int_equal(st.seg[VMM_SS].selector, 0x7c0);
	assert_int_equal(st.gpr[VMM_RSP], 0x7000);
	assert_int_equal(st.cr0 & VMM_CR0_PE, 0);
}

static void test_setup_vcpu_keeps_backend_state(void **state)
{
	vmm_vm *vm = bt_vm(RAM);
	struct vmm_boot_info bi = { .mode = VMM_BOOT_PROT32,
				    .entry = 0x100000 };
	struct vmm_cpu_state st;
	vmm_vcpu *vcpu;

	assert_int_equal(vmm_vcpu_create(vm, 0, &vcpu), 0);
	assert_int_equal(vmm_vcpu_get_state(vcpu, &st), 0);
	st.lapic[0x20 + 3] = 0x5;          /* APIC ID 5 */
	st.msr.tsc = 123456;
	st.gpr[VMM_R12] = 99;
	assert_int_equal(vmm_vcpu_set_state(vcpu, &st), 0);
	assert_int_equal(vmm_boot_setup_vcpu(vcpu, &bi), 0);
	assert_int_equal(vmm_vcpu_get_state(vcpu, &st), 0);
	assert_int_equal(st.lapic[0x20 + 3], 5);
	assert_int_equal(st.msr.tsc, 123456);
	assert_int_equal(st.gpr[VMM_R12], 0);   /* everything else reset */
	assert_int_equal(st.rip, 0x100000);
	assert_int_equal(st.gdtr.base, 0);      /* no GDT in the info */

	assert_int_equal(vmm_boot_setup_vcpu(NULL, &bi), -EINVAL);
	assert_int_equal(vmm_boot_setup_vcpu(vcpu, NULL), -EINVAL);
	bi.mode = (enum vmm_boot_mode)9;
	assert_int_equal(vmm_boot_setup_vcpu(vcpu, &bi), -EINVAL);
	bi.mode = VMM_BOOT_REAL16;
	assert_int_equal(vmm_boot_setup_vcpu(vcpu, &bi), -EINVAL);
	bi.mode = VMM_BOOT_PROT32;
	bi.entry = 5 * GIB;
	assert_int_equal(vmm_boot_setup_vcpu(vcpu, &bi), -EINVAL);
	bi.mode = VMM_BOOT_LONG64;
	assert_int_equal(vmm_boot_setup_vcpu(vcpu, &bi), -EINVAL);
	assert_true(bt_has_error(vm));
	assert_int_equal(vmm_vcpu_get_state(vcpu, &st), 0);
	assert_int_equal(st.rip, 0x100000);     /* refusals changed nothing */
	vmm_vm_destroy(vm);
}

static void test_setup_vcpu_alloc_failure(void **state)
{
	struct vmm_boot_info bi = { .mode = VMM_BOOT_PROT32,
				    .entry = 0x100000 };

	for (long n = 0;; n++) {
		struct failalloc fa;
		struct vmm_cpu_state st;
		vmm_vcpu *vcpu;
		vmm_vm *vm;
		int ret;

		failalloc_init(&fa, -1);
		vm = bt_vm_fa(RAM, &fa);
		assert_int_equal(vmm_vcpu_create(vm, 0, &vcpu), 0);
		fa.fail_at = fa.count + n;
		ret = vmm_boot_setup_vcpu(vcpu, &bi);
		if (!fa.failed) {
			assert_int_equal(ret, 0);
			vmm_vm_destroy(vm);
			assert_int_equal(fa.live, 0);
			break;
		}
		assert_int_equal(ret, -ENOMEM);
		fa.fail_at = -1;
		assert_int_equal(vmm_vcpu_get_state(vcpu, &st), 0);
		assert_int_equal(st.rip, 0xfff0);
		vmm_vm_destroy(vm);
		assert_int_equal(fa.live, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_flat_real_and_protected),
		cmocka_unit_test(test_build_prot32),
		cmocka_unit_test(test_build_long64),
		cmocka_unit_test(test_build_long64_user),
		cmocka_unit_test(test_build_real16),
		cmocka_unit_test(test_setup_vcpu_keeps_backend_state),
		cmocka_unit_test(test_setup_vcpu_alloc_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
