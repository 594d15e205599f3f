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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pit_interrupts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
