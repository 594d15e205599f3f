/* SPDX-License-Identifier: MIT */
/*
 * test_irq.c - the software CPU with the emulated interrupt controllers:
 * a real-mode guest programs the 8259 PIC and the 8254 PIT, enables
 * interrupts and halts; the timer interrupt wakes it through the IVT, the
 * handler counts and sends EOI, IRET returns.  Run in deterministic mode
 * (guest time from retired instructions) twice: same final state.
 */
#include "soft_test.h"

static const uint8_t code[] = {
	0xb0, 0x11, 0xe6, 0x20,       /* ICW1 */
	0xb0, 0x08, 0xe6, 0x21,       /* ICW2: vectors 8-15 */
	0xb0, 0x04, 0xe6, 0x21,       /* ICW3 */
	0xb0, 0x01, 0xe6, 0x21,       /* ICW4 */
	0xb0, 0xfe, 0xe6, 0x21,       /* mask all but IRQ0 */
	0xb0, 0x34, 0xe6, 0x43,       /* PIT ch0, lo/hi, mode 2 */
	0xb0, 0xa9, 0xe6, 0x40,       /* divisor 1193: ~1 kHz */
	0xb0, 0x04, 0xe6, 0x40,
	0xfb,                         /* 0x20: sti */
	0xf4,                         /* 0x21: hlt */
	0x83, 0x3e, 0x00, 0x08, 0x05, /* cmp word [0x800], 5 */
	0x72, 0xf8,                   /* jb 0x21 */
	0xfa,                         /* cli */
	0xe6, 0x99,                   /* out 0x99, al */
	0xf4,
};
static const uint8_t isr[] = {
	0xff, 0x06, 0x00, 0x08,       /* inc word [0x800] */
	0xb0, 0x20, 0xe6, 0x20,       /* EOI */
	0xcf,                         /* iret */
};

static void run(bool det, struct vmm_cpu_state *out)
{
	struct vmm_config cfg;
	struct tvm t;
	struct vmm_exit e;
	uint16_t ivt[2] = { 0x100, ENV_CODE >> 4 }, count = 0;

	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_SOFT;
	cfg.flags = det ? VMM_CFG_DETERMINISTIC : 0;
	assert_int_equal(vmm_vm_create(&cfg, &t.vm), 0);
	if (!(vmm_vm_caps(t.vm) & VMM_CAP_IRQCHIP)) {
		vmm_vm_destroy(t.vm);
		skip();
	}
	assert_int_equal(vmm_mem_add_ram(t.vm, 0, ENV_RAM), 0);
	assert_int_equal(vmm_vcpu_create(t.vm, 0, &t.cpu), 0);
	tvm_setup(&t, ENV_REAL, 0, code, sizeof(code));
	assert_int_equal(vmm_mem_write(t.vm, ENV_CODE + 0x100, isr, sizeof(isr)), 0);
	assert_int_equal(vmm_mem_write(t.vm, 8 * 4, ivt, 4), 0);
	assert_int_equal(vmm_mem_write(t.vm, ENV_CODE + 0x800, &count, 2), 0);
	t.st.idtr.base = 0;
	t.st.idtr.limit = 0x3ff;
	/* LAPIC software-enabled with LVT0 = ExtINT, as firmware leaves it:
	 * the PIC's interrupts reach the CPU through the local APIC */
	{
		uint32_t lvt0 = 0x700, svr = 0x1ff;
		memcpy(t.st.lapic + 0x350, &lvt0, 4);
		memcpy(t.st.lapic + 0xf0, &svr, 4);
	}
	tvm_set(&t);
	assert_int_equal(vmm_vcpu_run_loop(t.cpu, &e), 0);
	assert_int_equal(vmm_vcpu_get_state(t.cpu, &t.st), 0);
	if (e.kind != VMM_EXIT_IO)
		printf("exit %s at 0x%llx\n", vmm_exit_name(e.kind),
		       (unsigned long long)t.st.rip);
	assert_int_equal(e.kind, VMM_EXIT_IO);
	assert_int_equal(e.io.port, 0x99);
	assert_int_equal(vmm_mem_read(t.vm, ENV_CODE + 0x800, &count, 2), 0);
	assert_int_equal(count, 5);
	*out = t.st;
	vmm_vm_destroy(t.vm);
}

static void test_pit_interrupts(void **state)
{
	struct vmm_cpu_state a, b;

	run(false, &a);
	run(true, &a);
	run(true, &b);
	a.msr.tsc = b.msr.tsc = 0; /* read at get_state time */
	assert_memory_equal(&a, &b, sizeof(a));
}

/*
 * TSC-deadline timer through the CPU: the guest moves its TSC with WRMSR
 * IA32_TSC (the chip must learn the new offset), arms IA32_TSC_DEADLINE
 * 100000 ticks ahead with WRMSR 0x6e0 and halts; the LAPIC timer
 * interrupt (LVT timer in TSC-deadline mode, vector 0x40) wakes it and the
 * handler records RDTSC.  The wake must come at the deadline: at once
 * after it in deterministic mode (TSC = retired instructions + jumps to
 * the next timer), within a second of host time otherwise (a chip that
 * missed the IA32_TSC write would wait ~4.3 s).
 */
static const uint8_t tscdl_code[] = {
	0x66, 0xb9, 0x10, 0x00, 0x00, 0x00, /* mov ecx, 0x10 (IA32_TSC) */
	0x66, 0x31, 0xc0,                   /* xor eax, eax */
	0x66, 0xba, 0x01, 0x00, 0x00, 0x00, /* mov edx, 1 */
	0x0f, 0x30,                         /* wrmsr: TSC = 1 << 32 */
	0x0f, 0x31,                         /* rdtsc */
	0x66, 0x05, 0xa0, 0x86, 0x01, 0x00, /* add eax, 100000 */
	0x66, 0x83, 0xd2, 0x00,             /* adc edx, 0 */
	0x66, 0xa3, 0x08, 0x08,             /* mov [0x808], eax */
	0x66, 0x89, 0x16, 0x0c, 0x08,       /* mov [0x80c], edx */
	0x66, 0xb9, 0xe0, 0x06, 0x00, 0x00, /* mov ecx, 0x6e0 */
	0x0f, 0x30,                         /* wrmsr: TSC_DEADLINE */
	0xfb,                               /* sti */
	0xf4,                               /* hlt */
	0xfa,                               /* cli */
	0xe6, 0x99,                         /* out 0x99, al */
	0xf4,
};
static const uint8_t tscdl_isr[] = {
	0x0f, 0x31,                         /* rdtsc */
	0x66, 0xa3, 0x00, 0x08,             /* mov [0x800], eax */
	0x66, 0x89, 0x16, 0x04, 0x08,       /* mov [0x804], edx */
	0xcf,                               /* iret */
};

static void tscdl_run(bool det)
{
	struct vmm_config cfg;
	struct tvm t;
	struct vmm_exit e;
	uint16_t ivt[2] = { 0x100, ENV_CODE >> 4 };
	uint64_t woke = 0, deadline = 0, far;
	uint32_t lvtt = 0x40040, svr = 0x1ff;

	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_SOFT;
	cfg.flags = det ? VMM_CFG_DETERMINISTIC : 0;
	assert_int_equal(vmm_vm_create(&cfg, &t.vm), 0);
	if (!(vmm_vm_caps(t.vm) & VMM_CAP_IRQCHIP)) {
		vmm_vm_destroy(t.vm);
		skip();
	}
	assert_int_equal(vmm_mem_add_ram(t.vm, 0, ENV_RAM), 0);
	assert_int_equal(vmm_vcpu_create(t.vm, 0, &t.cpu), 0);
	tvm_setup(&t, ENV_REAL, 0, tscdl_code, sizeof(tscdl_code));
	assert_int_equal(vmm_mem_write(t.vm, ENV_CODE + 0x100, tscdl_isr,
				       sizeof(tscdl_isr)), 0);
	assert_int_equal(vmm_mem_write(t.vm, 0x40 * 4, ivt, 4), 0);
	assert_int_equal(vmm_mem_write(t.vm, ENV_CODE + 0x800, &woke, 8), 0);
	t.st.idtr.base = 0;
	t.st.idtr.limit = 0x3ff;
	memcpy(t.st.lapic + 0x320, &lvtt, 4); /* TSC-deadline, vector 0x40 */
	memcpy(t.st.lapic + 0xf0, &svr, 4);
	tvm_set(&t);
	assert_int_equal(vmm_vcpu_run_loop(t.cpu, &e), 0);
	assert_int_equal(e.kind, VMM_EXIT_IO);
	assert_int_equal(e.io.port, 0x99);
	assert_int_equal(vmm_mem_read(t.vm, ENV_CODE + 0x800, &woke, 8), 0);
	assert_int_equal(vmm_mem_read(t.vm, ENV_CODE + 0x808, &deadline, 8), 0);
	assert_true(deadline > (1ull << 32));
	assert_true(woke >= deadline);
	if (det)
		assert_true(woke - deadline < 100);
	else
		assert_true(woke - deadline < 1000000000ull);
	/* vCPU state carries IA32_TSC_DEADLINE (armed: LVT in deadline mode) */
	assert_int_equal(vmm_vcpu_get_state(t.cpu, &t.st), 0);
	assert_int_equal(t.st.msr.tsc_deadline, 0); /* fired: cleared */
	far = t.st.msr.tsc + 1000000000000ull;
	t.st.msr.tsc_deadline = far;
	tvm_set(&t);
	assert_int_equal(vmm_vcpu_get_state(t.cpu, &t.st), 0);
	assert_int_equal(t.st.msr.tsc_deadline, far);
	vmm_vm_destroy(t.vm);
}

static void test_tsc_deadline(void **state)
{
	tscdl_run(true);
	tscdl_run(false);
}

/*
 * Two self-IPIs pending while IF=0 (x2APIC SELF_IPI), then `sti; nop;
 * cli`: both are delivered in the window after STI's shadow (the second
 * right after the first handler's IRET, which has no shadow).  Issue #11.
 * 64-bit CPL0 in the environment of tests/diff/env.h; the handler counts,
 * writes EOI and returns.
 */
static void test_self_ipi_window(void **state)
{
	static const uint8_t code[] = {
		0xb9, 0x1b, 0x00, 0x00, 0x00,       /* mov ecx, 0x1b */
		0x0f, 0x32,                         /* rdmsr */
		0x0d, 0x00, 0x0c, 0x00, 0x00,       /* or eax, 0xc00 */
		0x0f, 0x30,                         /* wrmsr: x2APIC */
		0xb9, 0x0f, 0x08, 0x00, 0x00,       /* mov ecx, 0x80f */
		0xb8, 0xff, 0x01, 0x00, 0x00,       /* mov eax, 0x1ff */
		0x31, 0xd2,                         /* xor edx, edx */
		0x0f, 0x30,                         /* wrmsr: SVR enable */
		0xb9, 0x3f, 0x08, 0x00, 0x00,       /* mov ecx, 0x83f */
		0xb8, 0x40, 0x00, 0x00, 0x00,       /* mov eax, 0x40 */
		0x0f, 0x30,                         /* wrmsr: self-IPI 0x40 */
		0xb8, 0x50, 0x00, 0x00, 0x00,       /* mov eax, 0x50 */
		0x0f, 0x30,                         /* wrmsr: self-IPI 0x50 */
		0xfb,                               /* sti */
		0x90,                               /* nop */
		0xfa,                               /* cli */
		0xe6, 0x99,                         /* out 0x99, al */
		0xf4,
	};
	static const uint8_t handler[] = {
		0xff, 0x04, 0x25, 0x00, 0x00, 0x02, 0x00, /* inc dword [DATA] */
		0xb9, 0x0b, 0x08, 0x00, 0x00,       /* mov ecx, 0x80b */
		0x31, 0xc0,                         /* xor eax, eax */
		0x31, 0xd2,                         /* xor edx, edx */
		0x0f, 0x30,                         /* wrmsr: EOI */
		0x48, 0xcf,                         /* iretq */
	};
	const uint64_t hcode = ENV_CODE + 0x200;
	struct vmm_config cfg;
	struct tvm t;
	struct vmm_exit e;
	uint32_t count = 0;

	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_SOFT;
	assert_int_equal(vmm_vm_create(&cfg, &t.vm), 0);
	if (!(vmm_vm_caps(t.vm) & VMM_CAP_IRQCHIP)) {
		vmm_vm_destroy(t.vm);
		skip();
	}
	assert_int_equal(vmm_mem_add_ram(t.vm, 0, ENV_RAM), 0);
	assert_int_equal(vmm_vcpu_create(t.vm, 0, &t.cpu), 0);
	assert_int_equal(env_build_memory(t.vm), 0);
	tvm_setup(&t, ENV_LONG64, 0, code, sizeof(code));
	assert_int_equal(vmm_mem_write(t.vm, hcode, handler, sizeof(handler)),
			 0);
	for (unsigned v = 0x40; v <= 0x50; v += 0x10) {
		uint64_t slot = ENV_HANDLERS + 16 * v;
		int32_t rel = (int32_t)(hcode - (slot + 5));
		uint8_t jmp[5] = { 0xe9 };
		memcpy(jmp + 1, &rel, 4);
		assert_int_equal(vmm_mem_write(t.vm, slot, jmp, 5), 0);
	}
	assert_int_equal(vmm_mem_write(t.vm, ENV_DATA, &count, 4), 0);
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_IO);
	assert_int_equal(e.io.port, 0x99);
	assert_int_equal(vmm_mem_read(t.vm, ENV_DATA, &count, 4), 0);
	assert_int_equal(count, 2);
	vmm_vm_destroy(t.vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pit_interrupts),
		cmocka_unit_test(test_tsc_deadline),
		cmocka_unit_test(test_self_ipi_window),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
