/* SPDX-License-Identifier: MIT */
/*
 * test_smp_tick.c - one vCPU spins, with interrupts off, on a counter that
 * another vCPU's timer interrupt handler increments: what an operating
 * system's delay-loop calibration does on an application processor (Linux
 * waits for `jiffies`, which the boot CPU's tick advances).  The BSP
 * (32-bit protected mode) starts its local APIC timer in periodic mode
 * (vector 0x30, 1 ms at the 1 GHz timer clock of both backends), starts
 * the AP with INIT/SIPI and, with interrupts on, either spins on the AP's
 * "done" flag or halts between ticks; its handler increments the counter
 * and sends EOI.  The AP (real mode, IF clear) waits for 20 changes of
 * the counter, sets "done" and makes a port-I/O exit.  Both vCPUs run on
 * their own threads (vmm_vm_start) on the software backend (on nested
 * kvm_pvm hosts KVM cannot deliver the interrupt through the 32-bit IDT,
 * so the tick tests are soft only).  Then: the vCPUs' TSCs start and stay
 * in sync on both backends.
 */
#include "soft_test.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

#define AP_START 0x8000        /* SIPI vector 0x08 */
#define TICKS ENV_DATA         /* the BSP's handler increments it */
#define DONE (ENV_DATA + 4)    /* the AP writes 1 */
#define IDT32 0x9000
#define VEC 0x30
#define BSP_WAIT 0x51          /* NOP, or HLT to wait between ticks */
#define BSP_HANDLER 0x70
#define AP_CHANGES 20

/* real mode at 0800:0000, interrupts off */
static const uint8_t ap_code[] = {
	0xfa,                                     /* 00: cli */
	0xb8, 0x00, 0x20,                         /* 01: mov ax, 0x2000 */
	0x8e, 0xd8,                               /* 04: mov ds, ax */
	0xb9, AP_CHANGES, 0x00,                   /* 06: mov cx, 20 */
	0x66, 0xa1, 0x00, 0x00,                   /* 09: mov eax, [0] */
	0x66, 0x8b, 0x1e, 0x00, 0x00,             /* 0d: mov ebx, [0] */
	0x66, 0x39, 0xc3,                         /* 12: cmp ebx, eax */
	0x74, 0xf6,                               /* 15: je 0d */
	0x66, 0x89, 0xd8,                         /* 17: mov eax, ebx */
	0xe2, 0xf1,                               /* 1a: loop 0d */
	0x66, 0xc7, 0x06, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00, /* 1c: mov dword [4], 1 */
	0xba, 0x11, 0x05,                         /* 25: mov dx, 0x511 */
	0xb0, 0xa1,                               /* 28: mov al, 0xa1 */
	0xee,                                     /* 2a: out dx, al */
	0xf4,                                     /* 2b: hlt */
	0xeb, 0xfd,                               /* 2c: jmp 2b */
};

/* 32-bit protected mode, flat, paging off */
static const uint8_t bsp_code[] = {
	/* 00: SVR = 0x1ff: software-enable the LAPIC */
	0xc7, 0x05, 0xf0, 0x00, 0xe0, 0xfe, 0xff, 0x01, 0x00, 0x00,
	/* 0a: timer divide by 1 */
	0xc7, 0x05, 0xe0, 0x03, 0xe0, 0xfe, 0x0b, 0x00, 0x00, 0x00,
	/* 14: LVT timer: periodic, vector 0x30 */
	0xc7, 0x05, 0x20, 0x03, 0xe0, 0xfe, VEC, 0x00, 0x02, 0x00,
	/* 1e: initial count 1000000 (1 ms) */
	0xc7, 0x05, 0x80, 0x03, 0xe0, 0xfe, 0x40, 0x42, 0x0f, 0x00,
	/* 28: ICR high: APIC ID 1; INIT assert, de-assert; SIPI 0x08 */
	0xc7, 0x05, 0x10, 0x03, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x01,
	0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x45, 0x00, 0x00,
	0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x85, 0x00, 0x00,
	0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x08, 0x46, 0x00, 0x00,
	0xfb,                                     /* 50: sti */
	0x90,                                     /* 51: nop (or hlt) */
	0x83, 0x3d, 0x04, 0x00, 0x02, 0x00, 0x01, /* 52: cmp dword [DONE], 1 */
	0x75, 0xf6,                               /* 59: jne 51 */
	0xfa,                                     /* 5b: cli */
	0xba, 0x14, 0x05, 0x00, 0x00,             /* 5c: mov edx, 0x514 */
	0xb0, 0xb5,                               /* 61: mov al, 0xb5 */
	0xee,                                     /* 63: out dx, al */
	0xf4,                                     /* 64: hlt */
	0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90,
	/* 70: the timer's handler */
	0xff, 0x05, 0x00, 0x00, 0x02, 0x00,       /* inc dword [TICKS] */
	0xc7, 0x05, 0xb0, 0x00, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00, /* EOI */
	0xcf,                                     /* iret */
};

/* the same with the timer in TSC-deadline mode, re-armed 1 ms ahead by the
 * handler (as Linux's tick does) */
static const uint8_t bsp_code_dl[] = {
	/* 00: SVR = 0x1ff; LVT timer: TSC-deadline, vector 0x30 */
	0xc7, 0x05, 0xf0, 0x00, 0xe0, 0xfe, 0xff, 0x01, 0x00, 0x00,
	0xc7, 0x05, 0x20, 0x03, 0xe0, 0xfe, VEC, 0x00, 0x04, 0x00,
	0xe8, 0x3d, 0x00, 0x00, 0x00,             /* 14: call 56 (arm) */
	/* 19: INIT, INIT de-assert, SIPI 0x08 to APIC ID 1 */
	0xc7, 0x05, 0x10, 0x03, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x01,
	0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x45, 0x00, 0x00,
	0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x85, 0x00, 0x00,
	0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x08, 0x46, 0x00, 0x00,
	0xfb,                                     /* 41: sti */
	0x90,                                     /* 42: nop (or hlt) */
	0x83, 0x3d, 0x04, 0x00, 0x02, 0x00, 0x01, /* 43: cmp dword [DONE], 1 */
	0x75, 0xf6,                               /* 4a: jne 42 */
	0xfa,                                     /* 4c: cli */
	0xba, 0x14, 0x05, 0x00, 0x00,             /* 4d: mov edx, 0x514 */
	0xb0, 0xb5,                               /* 52: mov al, 0xb5 */
	0xee,                                     /* 54: out dx, al */
	0xf4,                                     /* 55: hlt */
	/* 56: arm: IA32_TSC_DEADLINE = TSC + 1000000 */
	0x0f, 0x31,                               /* rdtsc */
	0x05, 0x40, 0x42, 0x0f, 0x00,             /* add eax, 1000000 */
	0x83, 0xd2, 0x00,                         /* adc edx, 0 */
	0xb9, 0xe0, 0x06, 0x00, 0x00,             /* mov ecx, 0x6e0 */
	0x0f, 0x30,                               /* wrmsr */
	0xc3,                                     /* ret */
	0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90,
	/* 70: the timer's handler */
	0x60,                                     /* pusha */
	0xff, 0x05, 0x00, 0x00, 0x02, 0x00,       /* inc dword [TICKS] */
	0xe8, 0xda, 0xff, 0xff, 0xff,             /* call 56 (arm) */
	0xc7, 0x05, 0xb0, 0x00, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00, /* EOI */
	0x61,                                     /* popa */
	0xcf,                                     /* iret */
};
#define BSP_DL_WAIT 0x42

struct tick {
	int ap_io;       /* vCPU that made the port 0x511 exit, or -1 */
	int bad;         /* unexpected exit kind + 1000 * vCPU */
};

static int tick_exit(void *opaque, vmm_vcpu *vcpu, struct vmm_exit *e)
{
	struct tick *s = opaque;

	if (e->kind == VMM_EXIT_IO && e->io.is_write && e->io.port == 0x511 &&
	    e->io.data[0] == 0xa1) {
		s->ap_io = (int)vmm_vcpu_index(vcpu);
		return 0;
	}
	if (e->kind == VMM_EXIT_IO && e->io.is_write && e->io.port == 0x514 &&
	    e->io.data[0] == 0xb5 && vmm_vcpu_index(vcpu) == 0)
		return 1;
	s->bad = (int)e->kind + 1000 * (int)vmm_vcpu_index(vcpu);
	if (e->kind == VMM_EXIT_INTERNAL)
		fprintf(stderr, "vcpu%u: internal exit %u/%d: %s\n",
			vmm_vcpu_index(vcpu), e->internal.reason,
			e->internal.code, e->internal.msg);
	return -EIO;
}

static void run_tick(enum vmm_backend b, bool bsp_halts, bool deadline)
{
	struct vmm_config cfg;
	struct vmm_cpu_state st;
	struct tick s = { .ap_io = -1 };
	uint8_t code[sizeof(bsp_code_dl) > sizeof(bsp_code) ?
		     sizeof(bsp_code_dl) : sizeof(bsp_code)];
	size_t len = deadline ? sizeof(bsp_code_dl) : sizeof(bsp_code);
	uint32_t gate[2] = {
		((ENV_CODE + BSP_HANDLER) & 0xffff) | (uint32_t)ENV_KCODE32 << 16,
		((ENV_CODE + BSP_HANDLER) & 0xffff0000u) | 0x8e00,
	};
	vmm_vm *vm;
	vmm_vcpu *bsp, *ap;
	uint32_t ticks, done;
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
	memcpy(code, deadline ? bsp_code_dl : bsp_code, len);
	if (bsp_halts)
		code[deadline ? BSP_DL_WAIT : BSP_WAIT] = 0xf4;
	assert_int_equal(vmm_mem_write(vm, ENV_CODE, code, len), 0);
	assert_int_equal(vmm_mem_write(vm, AP_START, ap_code, sizeof(ap_code)),
			 0);
	assert_int_equal(vmm_mem_write(vm, IDT32 + VEC * 8, gate, 8), 0);
	assert_int_equal(vmm_vcpu_get_state(bsp, &st), 0);
	env_state(&st, ENV_PROT32, 0);
	st.idtr.base = IDT32;
	st.idtr.limit = VEC * 8 + 7;
	assert_int_equal(vmm_vcpu_set_state(bsp, &st), 0);

	assert_int_equal(vmm_vm_start(vm, tick_exit, &s), 0);
	ret = vmm_vm_wait(vm, 20000);
	if (ret == -ETIMEDOUT) {
		vmm_vm_stop(vm);
		(void)vmm_vm_wait(vm, -1);
		for (unsigned k = 0; k < 2; k++) {
			assert_int_equal(vmm_vcpu_get_state(vmm_vm_get_vcpu(vm, k),
							    &st), 0);
			fprintf(stderr, "timeout: vcpu%u mp_state %u cs %04x:%llx rip %llx rflags %llx\n",
				k, st.mp_state, st.seg[VMM_CS].selector,
				(unsigned long long)st.seg[VMM_CS].base,
				(unsigned long long)st.rip,
				(unsigned long long)st.rflags);
		}
	}
	assert_int_equal(vmm_mem_read(vm, TICKS, &ticks, 4), 0);
	assert_int_equal(vmm_mem_read(vm, DONE, &done, 4), 0);
	fprintf(stderr, "%s, %s timer, BSP %s: %u ticks, done %u\n",
		b == VMM_BACKEND_SOFT ? "soft" : "kvm",
		deadline ? "TSC-deadline" : "periodic",
		bsp_halts ? "halts" : "spins", ticks, done);
	assert_int_equal(s.bad, 0);
	assert_int_equal(ret, 1);
	assert_int_equal(s.ap_io, 1);
	assert_int_equal(done, 1);
	assert_true(ticks >= AP_CHANGES);
	vmm_vm_destroy(vm);
}

static void test_tick_soft_spin(void **state)
{
	run_tick(VMM_BACKEND_SOFT, false, false);
}

static void test_tick_soft_halt(void **state)
{
	run_tick(VMM_BACKEND_SOFT, true, false);
}

static void test_tick_soft_deadline_spin(void **state)
{
	run_tick(VMM_BACKEND_SOFT, false, true);
}

static void test_tick_soft_deadline_halt(void **state)
{
	run_tick(VMM_BACKEND_SOFT, true, true);
}

/*
 * The vCPUs' TSCs count together, from the VM's creation, as a machine's
 * do from reset (and KVM's, which synchronizes them): a vCPU created later
 * and a vCPU whose state was read and written back (vmm_boot_setup_vcpu
 * does so) do not fall behind the others.  Linux compares the TSCs of
 * its CPUs when it brings them up and, beyond what IA32_TSC_ADJUST can
 * compensate, stops using the TSC.  A TSC value the embedder changes is
 * still taken.
 */
#define TSC_GAP_NS 200000000ll  /* 200 ms between the two events */
#define TSC_SLACK 50000000ll    /* host scheduling between two reads */

static int64_t tsc_of(vmm_vcpu *v)
{
	struct vmm_cpu_state st;

	assert_int_equal(vmm_vcpu_get_state(v, &st), 0);
	return (int64_t)st.msr.tsc;
}

static void run_tsc_sync(enum vmm_backend b)
{
	struct vmm_config cfg;
	struct vmm_cpu_state st;
	struct timespec gap = { 0, TSC_GAP_NS };
	vmm_vm *vm;
	vmm_vcpu *v0, *v1;
	int64_t d, t0, t1;
	int ret;

	vmm_config_init(&cfg);
	cfg.backend = b;
	cfg.ncpus = 2;
	ret = vmm_vm_create(&cfg, &vm);
	if (ret == -ENODEV && b == VMM_BACKEND_KVM)
		skip(); /* no usable /dev/kvm */
	assert_int_equal(ret, 0);
	assert_int_equal(vmm_mem_add_ram(vm, 0, ENV_RAM), 0);
	assert_int_equal(vmm_vcpu_create(vm, 0, &v0), 0);
	nanosleep(&gap, NULL);
	assert_int_equal(vmm_vcpu_create(vm, 1, &v1), 0);
	t0 = tsc_of(v0);
	t1 = tsc_of(v1);
	d = t0 - t1;
	fprintf(stderr, "TSC vcpu0 - vcpu1 after a late create: %lld\n",
		(long long)d);
	assert_true(d > -TSC_SLACK && d < TSC_SLACK);

	/* a state round trip with time in between keeps the TSC running */
	assert_int_equal(vmm_vcpu_get_state(v1, &st), 0);
	nanosleep(&gap, NULL);
	assert_int_equal(vmm_vcpu_set_state(v1, &st), 0);
	t1 = tsc_of(v1);
	t0 = tsc_of(v0);
	d = t0 - t1;
	fprintf(stderr, "TSC vcpu0 - vcpu1 after a round trip: %lld\n",
		(long long)d);
	assert_true(d > -TSC_SLACK && d < TSC_SLACK);

	/* a new value is taken (soft only: KVM's backend does not take a
	 * TSC that jumps ahead through vmm_vcpu_set_state today) */
	if (b != VMM_BACKEND_SOFT) {
		vmm_vm_destroy(vm);
		return;
	}
	assert_int_equal(vmm_vcpu_get_state(v1, &st), 0);
	st.msr.tsc += 1000000000000ull;
	assert_int_equal(vmm_vcpu_set_state(v1, &st), 0);
	t1 = tsc_of(v1);
	fprintf(stderr, "TSC set to %llu, reads %lld\n",
		(unsigned long long)st.msr.tsc, (long long)t1);
	assert_true(t1 >= (int64_t)st.msr.tsc &&
		    t1 < (int64_t)st.msr.tsc + TSC_SLACK * 20);
	vmm_vm_destroy(vm);
}

static void test_tsc_sync_soft(void **state)
{
	run_tsc_sync(VMM_BACKEND_SOFT);
}

static void test_tsc_sync_kvm(void **state)
{
	if (vmm_backend_available(VMM_BACKEND_KVM))
		skip();
	run_tsc_sync(VMM_BACKEND_KVM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tick_soft_spin),
		cmocka_unit_test(test_tick_soft_halt),
		cmocka_unit_test(test_tick_soft_deadline_spin),
		cmocka_unit_test(test_tick_soft_deadline_halt),
		cmocka_unit_test(test_tsc_sync_soft),
		cmocka_unit_test(test_tsc_sync_kvm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
