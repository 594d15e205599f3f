/* SPDX-License-Identifier: MIT */
/*
 * test_smp.c - bringing up an application processor through the local
 * APIC, as firmware and kernels do, with two vCPUs on their own threads
 * (vmm_vm_start).  The BSP (32-bit protected mode) sends INIT and a
 * start-up IPI through the xAPIC ICR at 0xfee00300; the AP, which waited
 * for it inside vmm_vcpu_run(), starts in real mode at vector << 12,
 * writes memory, makes a port-I/O exit, switches its LAPIC to x2APIC mode
 * through IA32_APIC_BASE, enables it and halts with interrupts on.  The
 * BSP then sends a fixed IPI through the x2APIC ICR MSR 0x830; the AP's
 * handler (through the real-mode IVT) writes memory and sends EOI through
 * MSR 0x80b.  Runs on the software backend and, when /dev/kvm works, on
 * KVM's in-kernel local APIC.
 */
#include "soft_test.h"

#include <errno.h>
#include <unistd.h>

#define AP_START 0x8000   /* SIPI vector 0x08 */
#define FLAG_UP ENV_DATA  /* the AP writes 0x1234 */
#define FLAG_READY (ENV_DATA + 4)
#define FLAG_IPI (ENV_DATA + 8)

/* real mode at 0800:0000 */
static const uint8_t ap_code[] = {
	0xb8, 0x00, 0x20,                         /* 00: mov ax, 0x2000 */
	0x8e, 0xd8,                               /* 03: mov ds, ax */
	0x66, 0xc7, 0x06, 0x00, 0x00, 0x34, 0x12, 0x00, 0x00, /* 05: mov dword [0], 0x1234 */
	0xba, 0x11, 0x05,                         /* 0e: mov dx, 0x511 */
	0xb0, 0xa1,                               /* 11: mov al, 0xa1 */
	0xee,                                     /* 13: out dx, al */
	0x66, 0xb9, 0x1b, 0x00, 0x00, 0x00,       /* 14: mov ecx, 0x1b */
	0x0f, 0x32,                               /* 1a: rdmsr */
	0x66, 0x0d, 0x00, 0x0c, 0x00, 0x00,       /* 1c: or eax, 0xc00 (x2APIC) */
	0x0f, 0x30,                               /* 22: wrmsr */
	0x66, 0xb9, 0x0f, 0x08, 0x00, 0x00,       /* 24: mov ecx, 0x80f (SVR) */
	0x66, 0xb8, 0xff, 0x01, 0x00, 0x00,       /* 2a: mov eax, 0x1ff */
	0x66, 0x31, 0xd2,                         /* 30: xor edx, edx */
	0x0f, 0x30,                               /* 33: wrmsr */
	0x66, 0xc7, 0x06, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00, /* 35: mov dword [4], 1 */
	0xfb,                                     /* 3e: sti */
	0xf4,                                     /* 3f: hlt */
	0xeb, 0xfd,                               /* 40: jmp 3f */
	/* 42: the fixed IPI's handler */
	0x66, 0xc7, 0x06, 0x08, 0x00, 0x78, 0x56, 0x00, 0x00, /* mov dword [8], 0x5678 */
	0x66, 0xb9, 0x0b, 0x08, 0x00, 0x00,       /* 4b: mov ecx, 0x80b (EOI) */
	0x66, 0x31, 0xc0,                         /* 51: xor eax, eax */
	0x66, 0x31, 0xd2,                         /* 54: xor edx, edx */
	0x0f, 0x30,                               /* 57: wrmsr */
	0xcf,                                     /* 59: iret */
};
#define AP_HANDLER 0x42

/* 32-bit protected mode, flat, paging off */
static const uint8_t bsp_code[] = {
	/* SVR = 0x1ff: software-enable the BSP's LAPIC */
	0xc7, 0x05, 0xf0, 0x00, 0xe0, 0xfe, 0xff, 0x01, 0x00, 0x00,
	/* ICR high: destination APIC ID 1 */
	0xc7, 0x05, 0x10, 0x03, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x01,
	/* ICR low: INIT, level assert; then INIT level de-assert */
	0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x45, 0x00, 0x00,
	0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x85, 0x00, 0x00,
	/* ICR low: start-up, vector 0x08 */
	0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x08, 0x46, 0x00, 0x00,
	/* 32: wait until the AP is ready: cmp dword [READY], 1; pause; jne */
	0x83, 0x3d, 0x04, 0x00, 0x02, 0x00, 0x01,
	0xf3, 0x90,
	0x75, 0xf5,
	/* x2APIC on the BSP too */
	0xb9, 0x1b, 0x00, 0x00, 0x00,             /* mov ecx, 0x1b */
	0x0f, 0x32,                               /* rdmsr */
	0x0d, 0x00, 0x0c, 0x00, 0x00,             /* or eax, 0xc00 */
	0x0f, 0x30,                               /* wrmsr */
	/* fixed IPI, vector 0x40, to APIC ID 1 through MSR 0x830 */
	0xb9, 0x30, 0x08, 0x00, 0x00,             /* mov ecx, 0x830 */
	0xba, 0x01, 0x00, 0x00, 0x00,             /* mov edx, 1 */
	0xb8, 0x40, 0x00, 0x00, 0x00,             /* mov eax, 0x40 */
	0x0f, 0x30,                               /* wrmsr */
	/* wait for the handler: cmp dword [IPI], 0x5678; pause; jne */
	0x81, 0x3d, 0x08, 0x00, 0x02, 0x00, 0x78, 0x56, 0x00, 0x00,
	0xf3, 0x90,
	0x75, 0xf2,
	0xba, 0x14, 0x05, 0x00, 0x00,             /* mov edx, 0x514 */
	0xb0, 0xb5,                               /* mov al, 0xb5 */
	0xee,                                     /* out dx, al */
	0xf4,                                     /* hlt */
};

struct smp {
	int ap_io;       /* vCPU that made the port 0x511 exit, or -1 */
	unsigned ap_io_n;
	int bad;         /* unexpected exit kind + 1000 * vCPU */
};

static int smp_exit(void *opaque, vmm_vcpu *vcpu, struct vmm_exit *e)
{
	struct smp *s = opaque;

	if (e->kind == VMM_EXIT_IO && e->io.is_write && e->io.port == 0x511 &&
	    e->io.data[0] == 0xa1) {
		s->ap_io = (int)vmm_vcpu_index(vcpu);
		s->ap_io_n++;
		return 0;
	}
	if (e->kind == VMM_EXIT_IO && e->io.is_write && e->io.port == 0x514 &&
	    e->io.data[0] == 0xb5 && vmm_vcpu_index(vcpu) == 0)
		return 1;
	s->bad = (int)e->kind + 1000 * (int)vmm_vcpu_index(vcpu);
	return -EIO;
}

static void run_smp(enum vmm_backend b)
{
	struct vmm_config cfg;
	struct vmm_cpu_state st;
	struct smp s = { .ap_io = -1 };
	vmm_vm *vm;
	vmm_vcpu *bsp, *ap;
	uint16_t ivt[2] = { AP_HANDLER, AP_START >> 4 };
	uint32_t v;
	int ret;

	vmm_config_init(&cfg);
	cfg.backend = b;
	cfg.ncpus = 2;
	ret = vmm_vm_create(&cfg, &vm);
	if (ret == -ENODEV && b == VMM_BACKEND_KVM)
		skip(); /* no usable /dev/kvm */
	assert_int_equal(ret, 0);
	if (!(vmm_vm_caps(vm) & VMM_CAP_IRQCHIP)) {
		vmm_vm_destroy(vm);
		skip();
	}
	assert_int_equal(vmm_mem_add_ram(vm, 0, ENV_RAM), 0);
	assert_int_equal(vmm_vcpu_create(vm, 0, &bsp), 0);
	assert_int_equal(vmm_vcpu_create(vm, 1, &ap), 0);
	assert_int_equal(env_build_memory(vm), 0);
	assert_int_equal(vmm_mem_write(vm, ENV_CODE, bsp_code,
				       sizeof(bsp_code)), 0);
	assert_int_equal(vmm_mem_write(vm, AP_START, ap_code, sizeof(ap_code)),
			 0);
	assert_int_equal(vmm_mem_write(vm, 0x40 * 4, ivt, 4), 0);
	assert_int_equal(vmm_vcpu_get_state(bsp, &st), 0);
	env_state(&st, ENV_PROT32, 0);
	assert_int_equal(vmm_vcpu_set_state(bsp, &st), 0);

	/* the AP waits for INIT/SIPI */
	assert_int_equal(vmm_vcpu_get_state(ap, &st), 0);
	assert_int_equal(st.mp_state, VMM_MP_INIT_RECEIVED);

	assert_int_equal(vmm_vm_start(vm, smp_exit, &s), 0);
	ret = vmm_vm_wait(vm, 30000);
	if (ret == -ETIMEDOUT) {
		vmm_vm_stop(vm);
		(void)vmm_vm_wait(vm, -1);
		for (unsigned k = 0; k < 2; k++) {
			assert_int_equal(vmm_vcpu_get_state(vmm_vm_get_vcpu(vm, k),
							    &st), 0);
			fprintf(stderr, "timeout: vcpu%u mp_state %u cs %04x:%llx rip %llx\n",
				k, st.mp_state, st.seg[VMM_CS].selector,
				(unsigned long long)st.seg[VMM_CS].base,
				(unsigned long long)st.rip);
		}
	}
	assert_int_equal(s.bad, 0);
	assert_int_equal(ret, 1);
	assert_int_equal(s.ap_io, 1);
	assert_int_equal(s.ap_io_n, 1);
	assert_int_equal(vmm_mem_read(vm, FLAG_UP, &v, 4), 0);
	assert_int_equal(v, 0x1234);
	assert_int_equal(vmm_mem_read(vm, FLAG_IPI, &v, 4), 0);
	assert_int_equal(v, 0x5678);
	/* the AP started at vector << 12 in real mode and sits in its HLT
	 * loop with x2APIC on */
	assert_int_equal(vmm_vcpu_get_state(ap, &st), 0);
	assert_int_equal(st.seg[VMM_CS].base, AP_START);
	assert_int_equal(st.seg[VMM_CS].selector, AP_START >> 4);
	assert_false(st.cr0 & VMM_CR0_PE);
	assert_true(st.rip == 0x3f || st.rip == 0x40);
	assert_int_equal(st.msr.apic_base & 0xc00, 0xc00);
	if (b == VMM_BACKEND_SOFT) {
		/* the AP waited for INIT/SIPI, then in its HLT loop: idle time
		 * counted (it sat there at least until the BSP's INIT) */
		struct vmm_vcpu_stats vs = { .struct_size = sizeof(vs) };
		assert_int_equal(vmm_vcpu_get_stats(ap, &vs), 0);
		assert_true(vs.valid & VMM_VCPU_STAT_HALT);
		assert_true(vs.halts >= 1);
		assert_true(vs.halt_ns > 0);
		/* an older caller's struct without the fields: bit clear */
		vs.struct_size = offsetof(struct vmm_vcpu_stats, halts);
		assert_int_equal(vmm_vcpu_get_stats(ap, &vs), 0);
		assert_false(vs.valid & VMM_VCPU_STAT_HALT);
	}
	vmm_vm_destroy(vm);
}

static void test_smp_soft(void **state)
{
	run_smp(VMM_BACKEND_SOFT);
}

static void test_smp_kvm(void **state)
{
	if (vmm_backend_available(VMM_BACKEND_KVM))
		skip();
	run_smp(VMM_BACKEND_KVM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smp_soft),
		cmocka_unit_test(test_smp_kvm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
