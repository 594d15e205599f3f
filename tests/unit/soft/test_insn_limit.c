/* SPDX-License-Identifier: MIT */
/*
 * test_insn_limit.c - vmm_vcpu_set_insn_limit() through the public API,
 * in every mode of the software backend (interpreter, deterministic, JIT
 * with the default threshold and eager): a loop of known length stopped
 * at limits of 1, 7, around block lengths (the loop's block is 4
 * instructions, the first 6, a block at most 64, a compiled self-loop's
 * entry at most 4096) and far inside it; the stop must leave exactly the
 * limit in insns_retired and the registers and RIP of an independent
 * model of the loop after that many instructions; resuming continues
 * the same computation; exits (port I/O, a kick) before the limit come
 * first and the count goes on across runs; an interrupt delivered before
 * it is not counted, its handler's instructions are; 0 removes a limit.  KVM
 * answers -ENOTSUP.
 */
#include "soft_test.h"

#include <errno.h>

/* The loop and its model: 0: mov ecx, N; 5: xor eax, eax;
 * 7: inc eax; 9: add ebx, eax; 11: dec ecx; 13: jnz 7; 15: hlt */
#define LOOP_N 1000000u
static const uint8_t loop_code[] = {
	0xb9, LOOP_N & 0xff, (LOOP_N >> 8) & 0xff, (LOOP_N >> 16) & 0xff, 0,
	0x31, 0xc0,
	0xff, 0xc0, 0x01, 0xc3, 0xff, 0xc9, 0x75, 0xf8,
	0xf4,
};

struct model {
	uint32_t eax, ebx, ecx;
	uint64_t rip; /* offset from ENV_CODE */
	bool halted;
};

/* one instruction of loop_code */
static void model_step(struct model *m)
{
	switch (m->rip) {
	case 0: m->ecx = LOOP_N; m->rip = 5; break;
	case 5: m->eax = 0; m->rip = 7; break;
	case 7: m->eax++; m->rip = 9; break;
	case 9: m->ebx += m->eax; m->rip = 11; break;
	case 11: m->ecx--; m->rip = 13; break;
	case 13: m->rip = m->ecx ? 7 : 15; break;
	case 15: m->halted = true; m->rip = 16; break;
	default: fail();
	}
}

/* the loop after @n instructions (from the start, EBX = 0) */
static struct model model_at(uint64_t n)
{
	struct model m = { 0 };

	/* 4 instructions per iteration: skip whole ones */
	if (n > 2 + 4 * 8) {
		uint64_t it = (n - 2) / 4 - 1;
		m.ecx = LOOP_N - (uint32_t)it;
		m.eax = (uint32_t)it;
		m.ebx = (uint32_t)(it * (it + 1) / 2);
		m.rip = 7;
		n -= 2 + 4 * it;
	}
	while (n--)
		model_step(&m);
	return m;
}

static uint64_t insns(vmm_vcpu *cpu)
{
	struct vmm_vcpu_stats s;

	memset(&s, 0, sizeof(s));
	s.struct_size = sizeof(s);
	assert_int_equal(vmm_vcpu_get_stats(cpu, &s), 0);
	assert_true(s.valid & VMM_VCPU_STAT_INSNS);
	return s.insns_retired;
}

static uint64_t compiled(vmm_vcpu *cpu)
{
	struct vmm_vcpu_stats s;

	memset(&s, 0, sizeof(s));
	s.struct_size = sizeof(s);
	assert_int_equal(vmm_vcpu_get_stats(cpu, &s), 0);
	return (s.valid & VMM_VCPU_STAT_JIT) ? s.blocks_compiled : 0;
}

static void check_model(struct tvm *t, uint64_t n)
{
	struct model m = model_at(n);

	assert_int_equal(t->st.rip, ENV_CODE + m.rip);
	assert_int_equal((uint32_t)t->st.gpr[VMM_RAX], m.eax);
	assert_int_equal((uint32_t)t->st.gpr[VMM_RBX], m.ebx);
	assert_int_equal((uint32_t)t->st.gpr[VMM_RCX], m.ecx);
}

/* the loop from its start with EBX = 0 */
static void loop_start(struct tvm *t)
{
	tvm_setup(t, ENV_LONG64, 0, loop_code, sizeof(loop_code));
	t->st.gpr[VMM_RBX] = 0;
	tvm_set(t);
}

/* run with limit @n from the current point, @done instructions into the
 * loop: the stop comes at exactly done + n */
static uint64_t run_limited(struct tvm *t, uint64_t done, uint64_t n)
{
	uint64_t i0 = insns(t->cpu);
	struct vmm_exit e;

	assert_int_equal(vmm_vcpu_set_insn_limit(t->cpu, n), 0);
	e = tvm_run(t);
	assert_int_equal(e.kind, VMM_EXIT_INSN_LIMIT);
	assert_string_equal(vmm_exit_name(e.kind), "insn-limit");
	assert_int_equal(insns(t->cpu) - i0, n);
	check_model(t, done + n);
	return done + n;
}

static const uint32_t mode_flags[] = {
	VMM_CFG_NO_JIT,
	VMM_CFG_DETERMINISTIC,
	VMM_CFG_JIT,
	VMM_CFG_JIT_EAGER,
};

/* stop at each limit from the loop's start, then in steps from one point */
static void limits_in_mode(uint32_t flags)
{
	static const uint64_t from_start[] = {
		1, 2, 3, 6, 7, 8, 9, 10, 63, 64, 65, 66, 127, 128, 129,
		1000, 4095, 4096, 4097, 4098, 4099, 8193, 12289, 50001,
		1000003,
	};
	/* each a further limit after the last stop (resume) */
	static const uint64_t steps[] = {
		1, 1, 7, 3, 4, 5, 64, 65, 4095, 4096, 4097, 2, 9999, 1, 300001,
	};
	struct tvm t;
	uint64_t done;

	tvm_create(&t, flags);
	assert_true(vmm_vm_caps(t.vm) & VMM_CAP_INSN_LIMIT);
	for (size_t k = 0; k < ARRAY_SIZE(from_start); k++) {
		loop_start(&t);
		run_limited(&t, 0, from_start[k]);
		/* and once more after the loop ran hot (compiled, chained) */
		loop_start(&t);
		run_limited(&t, 0, from_start[k]);
	}
	loop_start(&t);
	done = 0;
	for (size_t k = 0; k < ARRAY_SIZE(steps); k++)
		done = run_limited(&t, done, steps[k]);
	/* no limit: on to the HLT, the same computation */
	{
		struct vmm_exit e = tvm_run(&t);
		struct model m = model_at(2 + 4ull * LOOP_N + 1);
		assert_int_equal(e.kind, VMM_EXIT_HLT);
		assert_true(m.halted);
		assert_int_equal((uint32_t)t.st.gpr[VMM_RAX], LOOP_N);
		assert_int_equal((uint32_t)t.st.gpr[VMM_RBX], m.ebx);
		assert_int_equal((uint32_t)t.st.gpr[VMM_RCX], 0);
	}
	if (flags & (VMM_CFG_JIT | VMM_CFG_JIT_EAGER)) {
		/* where the JIT is built, it ran (its stats bit says) */
		struct vmm_vcpu_stats s;
		memset(&s, 0, sizeof(s));
		s.struct_size = sizeof(s);
		assert_int_equal(vmm_vcpu_get_stats(t.cpu, &s), 0);
		if (s.valid & VMM_VCPU_STAT_JIT)
			assert_true(compiled(t.cpu) > 0);
	}
	tvm_destroy(&t);
}

static void test_limits(void **state)
{
	for (size_t m = 0; m < ARRAY_SIZE(mode_flags); m++)
		limits_in_mode(mode_flags[m]);
}

/*
 * 0: mov ecx, 50; 5: out 0x80, al; 7: inc eax; 9: dec ecx; 11: jnz 5;
 * 13: hlt.  Every iteration exits once (port 0x80, unhandled: the raw
 * run step returns it).  With limit n the OUTs among the first n
 * instructions come back as I/O exits, then VMM_EXIT_INSN_LIMIT, with
 * exactly n instructions retired; when the n-th is an OUT, its exit
 * comes first and the next run stops without executing anything.
 */
static const uint8_t out_code[] = {
	0xb9, 50, 0, 0, 0,
	0xe6, 0x80, 0xff, 0xc0, 0xff, 0xc9, 0x75, 0xf8,
	0xf4,
};

static void exits_in_mode(uint32_t flags)
{
	struct tvm t;

	tvm_create(&t, flags);
	for (uint64_t n = 1; n <= 30; n++) {
		uint64_t i0, outs = 0, want_outs = 0;
		struct vmm_exit e;

		tvm_setup(&t, ENV_LONG64, 0, out_code, sizeof(out_code));
		t.st.gpr[VMM_RAX] = 0;
		tvm_set(&t);
		i0 = insns(t.cpu);
		assert_int_equal(vmm_vcpu_set_insn_limit(t.cpu, n), 0);
		for (;;) {
			e = tvm_run(&t);
			if (e.kind != VMM_EXIT_IO)
				break;
			assert_int_equal(e.io.port, 0x80);
			outs++;
		}
		assert_int_equal(e.kind, VMM_EXIT_INSN_LIMIT);
		assert_int_equal(insns(t.cpu) - i0, n);
		/* instruction k (1-based) is an OUT when k >= 2, (k-2)%4 == 0 */
		for (uint64_t k = 2; k <= n; k += 4)
			want_outs++;
		assert_int_equal(outs, want_outs);
		/* EAX counts the INCs among them */
		assert_int_equal((uint32_t)t.st.gpr[VMM_RAX],
				 n >= 3 ? (n - 3) / 4 + 1 : 0);
	}

	/* a kick before the limit: returned first, nothing executed */
	tvm_setup(&t, ENV_LONG64, 0, loop_code, sizeof(loop_code));
	t.st.gpr[VMM_RBX] = 0;
	tvm_set(&t);
	{
		uint64_t i0 = insns(t.cpu);
		struct vmm_exit e;

		assert_int_equal(vmm_vcpu_set_insn_limit(t.cpu, 1001), 0);
		assert_int_equal(vmm_vcpu_kick(t.cpu), 0);
		e = tvm_run(&t);
		assert_int_equal(e.kind, VMM_EXIT_INTERRUPTED);
		assert_int_equal(insns(t.cpu), i0);
		e = tvm_run(&t);
		assert_int_equal(e.kind, VMM_EXIT_INSN_LIMIT);
		assert_int_equal(insns(t.cpu) - i0, 1001);
		check_model(&t, 1001);

		/* a limit replaced, then removed: 0 runs on to the HLT */
		assert_int_equal(vmm_vcpu_set_insn_limit(t.cpu, 5), 0);
		assert_int_equal(vmm_vcpu_set_insn_limit(t.cpu, 7), 0);
		e = tvm_run(&t);
		assert_int_equal(e.kind, VMM_EXIT_INSN_LIMIT);
		check_model(&t, 1008);
		assert_int_equal(vmm_vcpu_set_insn_limit(t.cpu, 3), 0);
		assert_int_equal(vmm_vcpu_set_insn_limit(t.cpu, 0), 0);
		e = tvm_run(&t);
		assert_int_equal(e.kind, VMM_EXIT_HLT);
		assert_int_equal(insns(t.cpu) - i0, 2 + 4ull * LOOP_N + 1);
		/* fired once: the next run is not stopped by it */
		assert_int_equal(vmm_vcpu_set_insn_limit(t.cpu, 2), 0);
		tvm_setup(&t, ENV_LONG64, 0, out_code, sizeof(out_code));
		tvm_set(&t);
		e = tvm_run(&t);
		assert_int_equal(e.kind, VMM_EXIT_IO);
		e = tvm_run(&t);
		assert_int_equal(e.kind, VMM_EXIT_INSN_LIMIT);
		e = tvm_run(&t);
		assert_int_equal(e.kind, VMM_EXIT_IO);
	}
	tvm_destroy(&t);
}

static void test_exits_first(void **state)
{
	for (size_t m = 0; m < ARRAY_SIZE(mode_flags); m++)
		exits_in_mode(mode_flags[m]);
}

/*
 * An interrupt before the limit: vector 0x40 injected through the state
 * (in delivery at the next run), its handler "inc edx; iretq" in place
 * of the environment's HLT.  The delivery is no instruction, the
 * handler's two are: limit 1 stops in the handler, 2 right after the
 * IRETQ (back at the loop's first instruction), 5 three instructions
 * into the loop.
 */
static void irq_in_mode(uint32_t flags)
{
	static const uint8_t handler[] = { 0xff, 0xc2, 0x48, 0xcf };
	static const struct {
		uint64_t n, rip;
		uint32_t edx;
	} want[] = {
		{ 1, ENV_HANDLERS + 16 * 0x40 + 2, 1 },
		{ 2, ENV_CODE, 1 },
		{ 5, ENV_CODE + 7 + 2, 1 },
	};
	struct tvm t;

	tvm_create(&t, flags);
	for (size_t k = 0; k < ARRAY_SIZE(want); k++) {
		uint64_t i0;
		struct vmm_exit e;

		loop_start(&t);
		assert_int_equal(vmm_mem_write(t.vm, ENV_HANDLERS + 16 * 0x40,
					       handler, sizeof(handler)), 0);
		t.st.gpr[VMM_RDX] = 0;
		t.st.events.interrupt_injected = 1;
		t.st.events.interrupt_nr = 0x40;
		tvm_set(&t);
		i0 = insns(t.cpu);
		assert_int_equal(vmm_vcpu_set_insn_limit(t.cpu, want[k].n), 0);
		e = tvm_run(&t);
		assert_int_equal(e.kind, VMM_EXIT_INSN_LIMIT);
		assert_int_equal(insns(t.cpu) - i0, want[k].n);
		assert_int_equal(t.st.rip, want[k].rip);
		assert_int_equal((uint32_t)t.st.gpr[VMM_RDX], want[k].edx);
		if (want[k].n == 5)
			check_model(&t, 3);
	}
	tvm_destroy(&t);
}

static void test_interrupt_first(void **state)
{
	for (size_t m = 0; m < ARRAY_SIZE(mode_flags); m++)
		irq_in_mode(mode_flags[m]);
}

/* A deterministic VM stopped at the same count twice: the same state. */
static void test_deterministic_repeat(void **state)
{
	struct vmm_cpu_state a, b;

	for (int k = 0; k < 2; k++) {
		struct tvm t;

		tvm_create(&t, VMM_CFG_DETERMINISTIC);
		loop_start(&t);
		run_limited(&t, 0, 777777);
		if (k == 0)
			a = t.st;
		else
			b = t.st;
		tvm_destroy(&t);
	}
	assert_memory_equal(a.gpr, b.gpr, sizeof(a.gpr));
	assert_int_equal(a.rip, b.rip);
	assert_int_equal(a.rflags, b.rflags);
	assert_int_equal(a.msr.tsc, b.msr.tsc);
}

static uint64_t cold_blocks(vmm_vcpu *cpu)
{
	struct vmm_vcpu_stats s;

	memset(&s, 0, sizeof(s));
	s.struct_size = sizeof(s);
	assert_int_equal(vmm_vcpu_get_stats(cpu, &s), 0);
	return s.blocks_cold;
}

/*
 * Code that runs once is not translated: the executor decodes and runs
 * it one instruction at a time (tb.c run_cold).  100 x "inc eax", then
 * "mov [rip+9], al" (a store to its own page: the page holds no block),
 * "mov [0x8000000000000000], eax" (non-canonical: #GP), written anew
 * before each run so that every run is cold: the limit stops it after
 * exactly n instructions wherever n falls in its 64-instruction blocks,
 * and the #GP is precise (the handler's frame has its RIP, EAX = 100).
 */
static void test_cold_code(void **state)
{
	static const uint64_t limits[] = { 1, 2, 30, 63, 64, 65, 99, 100, 101 };
	enum { NINC = 100, STORE = 2 * NINC, GP = STORE + 6 };
	uint8_t code[GP + 9 + 1], v;
	struct tvm t;

	for (unsigned k = 0; k < NINC; k++) {
		code[2 * k] = 0xff;
		code[2 * k + 1] = 0xc0;
	}
	/* mov [rip+9], al: the byte after the last instruction */
	memcpy(code + STORE, "\x88\x05\x09\x00\x00\x00", 6);
	code[GP + 9] = 0;
	/* mov [moffs64], eax (A3) */
	memcpy(code + GP, "\xa3\x00\x00\x00\x00\x00\x00\x00\x80", 9);
	tvm_create(&t, VMM_CFG_NO_JIT);
	for (size_t m = 0; m < ARRAY_SIZE(limits); m++) {
		uint64_t n = limits[m], i0, c0;
		struct vmm_exit e;

		tvm_setup(&t, ENV_LONG64, 0, code, sizeof(code));
		t.st.gpr[VMM_RAX] = 0;
		tvm_set(&t);
		i0 = insns(t.cpu);
		c0 = cold_blocks(t.cpu);
		assert_int_equal(vmm_vcpu_set_insn_limit(t.cpu, n), 0);
		e = tvm_run(&t);
		assert_int_equal(e.kind, VMM_EXIT_INSN_LIMIT);
		assert_int_equal(insns(t.cpu) - i0, n);
		assert_true(cold_blocks(t.cpu) > c0);
		assert_int_equal(t.st.gpr[VMM_RAX], n < NINC ? n : NINC);
		assert_int_equal(t.st.rip, ENV_CODE + (n <= NINC ? 2 * n :
						       STORE + 6));
		/* on to the #GP: its handler's HLT */
		e = tvm_run(&t);
		assert_int_equal(e.kind, VMM_EXIT_HLT);
		assert_int_equal(env_vector_of(t.st.rip), 13);
		assert_int_equal(t.st.gpr[VMM_RAX], NINC);
		{
			uint64_t frame[2];
			assert_int_equal(vmm_mem_read(t.vm, t.st.gpr[VMM_RSP],
						      frame, sizeof(frame)), 0);
			/* error code 0, then the RIP of the faulting store */
			assert_int_equal(frame[0], 0);
			assert_int_equal(frame[1], ENV_CODE + GP);
		}
		/* the incs, the store, the handler's HLT */
		assert_int_equal(insns(t.cpu) - i0, NINC + 2);
		assert_int_equal(vmm_mem_read(t.vm, ENV_CODE + GP + 9, &v, 1),
				 0);
		assert_int_equal(v, NINC);
	}
	tvm_destroy(&t);
}

static void test_errors(void **state)
{
	struct vmm_config cfg;
	vmm_vm *vm;
	vmm_vcpu *cpu;

	assert_int_equal(vmm_vcpu_set_insn_limit(NULL, 1), -EINVAL);
	if (vmm_backend_available(VMM_BACKEND_KVM) != 0)
		skip();
	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_KVM;
	cfg.flags = VMM_CFG_NO_IRQCHIP;
	assert_int_equal(vmm_vm_create(&cfg, &vm), 0);
	assert_int_equal(vmm_vcpu_create(vm, 0, &cpu), 0);
	assert_false(vmm_vm_caps(vm) & VMM_CAP_INSN_LIMIT);
	assert_int_equal(vmm_vcpu_set_insn_limit(cpu, 100), -ENOTSUP);
	assert_int_equal(vmm_vcpu_set_insn_limit(cpu, 0), -ENOTSUP);
	vmm_vm_destroy(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_exits_first),
		cmocka_unit_test(test_interrupt_first),
		cmocka_unit_test(test_deterministic_repeat),
		cmocka_unit_test(test_cold_code),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
