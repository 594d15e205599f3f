/* SPDX-License-Identifier: MIT */
/*
 * test_codepage.c - page-granular invalidation of the software backend's
 * translated blocks when code is written from outside the vCPU running
 * it: by the host (vmm_mem_write, as a device or the embedder writes)
 * between runs and while the vCPU runs, and by another vCPU while it
 * runs.  The vCPU must see the new code at a block boundary without
 * leaving vmm_vcpu_run(), and only the blocks on the written page are
 * translated again.  Also: the block cache grows before it flushes.
 */
#include "soft_test.h"

#include <stdlib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#define FN_PAGE (ENV_CODE + 0x1000)  /* mov eax, imm32; ret */
#define WR_CODE (ENV_CODE + 0x2000)  /* the second vCPU's code */

/* L: call FN_PAGE; cmp eax, 2; jne L; hlt */
static const uint8_t spin[] = {
	0xe8, 0xfb, 0x0f, 0x00, 0x00,
	0x83, 0xf8, 0x02,
	0x75, 0xf6,
	0xf4,
};

/* L: call FN_PAGE; hlt; jmp L */
static const uint8_t once[] = {
	0xe8, 0xfb, 0x0f, 0x00, 0x00,
	0xf4,
	0xeb, 0xf8,
};

static const uint8_t fn1[] = { 0xb8, 0x01, 0x00, 0x00, 0x00, 0xc3 };

static struct vmm_vcpu_stats stats(vmm_vcpu *cpu)
{
	struct vmm_vcpu_stats s;

	memset(&s, 0, sizeof(s));
	s.struct_size = sizeof(s);
	assert_int_equal(vmm_vcpu_get_stats(cpu, &s), 0);
	return s;
}

/* Between runs: only the written page's block is translated again. */
static void test_host_write_between_runs(void **state)
{
	struct tvm t;
	struct vmm_exit e;
	struct vmm_vcpu_stats s0, s1;
	uint8_t two = 2;

	(void)state;
	tvm_create(&t, 0);
	tvm_setup(&t, ENV_LONG64, 0, once, sizeof(once));
	assert_int_equal(vmm_mem_write(t.vm, FN_PAGE, fn1, sizeof(fn1)), 0);
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(t.st.gpr[VMM_RAX], 1);
	/* run twice more so that every block of the loop is translated
	 * (a block runs cold the first time, tb.c run_cold) */
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	s0 = stats(t.cpu);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	s1 = stats(t.cpu);
	assert_int_equal(s1.blocks_translated, s0.blocks_translated);
	assert_int_equal(s1.blocks_cold, s0.blocks_cold);
	s0 = s1;

	/* the rewritten block is dropped, runs cold once, and is
	 * translated the next time */
	assert_int_equal(vmm_mem_write(t.vm, FN_PAGE + 1, &two, 1), 0);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(t.st.gpr[VMM_RAX], 2);
	s1 = stats(t.cpu);
	assert_int_equal(s1.blocks_invalidated - s0.blocks_invalidated, 1);
	assert_int_equal(s1.blocks_translated - s0.blocks_translated, 0);
	assert_int_equal(s1.blocks_cold - s0.blocks_cold, 1);
	assert_int_equal(s1.block_cache_flushes, 0);
	t.st.gpr[VMM_RAX] = 0;
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(t.st.gpr[VMM_RAX], 2);
	s0 = s1;
	s1 = stats(t.cpu);
	assert_int_equal(s1.blocks_invalidated, s0.blocks_invalidated);
	assert_int_equal(s1.blocks_translated - s0.blocks_translated, 1);
	assert_int_equal(s1.blocks_cold, s0.blocks_cold);

	/* a write to a page without code invalidates nothing */
	assert_int_equal(vmm_mem_write(t.vm, ENV_DATA, &two, 1), 0);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	s0 = stats(t.cpu);
	assert_int_equal(s0.blocks_invalidated, s1.blocks_invalidated);
	assert_int_equal(s0.blocks_translated, s1.blocks_translated);
	tvm_destroy(&t);
}

struct runner {
	vmm_vcpu *cpu;
	struct vmm_exit exit;
	int ret;
	atomic_bool done;
};

static void *run_thread(void *arg)
{
	struct runner *r = arg;

	r->ret = vmm_vcpu_run(r->cpu, &r->exit);
	atomic_store(&r->done, true);
	return NULL;
}

/* Wait up to 10 s for @r's vmm_vcpu_run() to return, then kick it. */
static void finish(struct runner *r, pthread_t th)
{
	for (int k = 0; k < 1000 && !atomic_load(&r->done); k++)
		usleep(10000);
	if (!atomic_load(&r->done))
		vmm_vcpu_kick(r->cpu);
	pthread_join(th, NULL);
	assert_int_equal(r->ret, 0);
}

/* Run @cpu on a thread of its own (finish() collects it). */
static void start(struct runner *r, pthread_t *th, vmm_vcpu *cpu)
{
	memset(r, 0, sizeof(*r));
	r->cpu = cpu;
	atomic_init(&r->done, false);
	assert_int_equal(pthread_create(th, NULL, run_thread, r), 0);
}

/*
 * A two-vCPU soft VM in the long-mode environment: vCPU 0 runs @code0 at
 * ENV_CODE, vCPU 1 @code1 at WR_CODE; FN_PAGE holds fn1.
 */
static vmm_vm *two_cpus(const uint8_t *code0, size_t len0,
			const uint8_t *code1, size_t len1, vmm_vcpu **c0,
			vmm_vcpu **c1)
{
	struct vmm_config cfg;
	struct vmm_cpu_state st;
	vmm_vm *vm;

	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_SOFT;
	cfg.flags = VMM_CFG_NO_IRQCHIP;
	cfg.ncpus = 2;
	assert_int_equal(vmm_vm_create(&cfg, &vm), 0);
	assert_int_equal(vmm_mem_add_ram(vm, 0, ENV_RAM), 0);
	assert_int_equal(vmm_vcpu_create(vm, 0, c0), 0);
	assert_int_equal(vmm_vcpu_create(vm, 1, c1), 0);
	assert_int_equal(env_build_memory(vm), 0);
	assert_int_equal(vmm_mem_write(vm, ENV_CODE, code0, len0), 0);
	assert_int_equal(vmm_mem_write(vm, FN_PAGE, fn1, sizeof(fn1)), 0);
	assert_int_equal(vmm_mem_write(vm, WR_CODE, code1, len1), 0);
	for (unsigned k = 0; k < 2; k++) {
		vmm_vcpu *c = k ? *c1 : *c0;
		assert_int_equal(vmm_vcpu_get_state(c, &st), 0);
		env_state(&st, ENV_LONG64, 0);
		if (k)
			st.rip = WR_CODE;
		assert_int_equal(vmm_vcpu_set_state(c, &st), 0);
	}
	return vm;
}

/* While the vCPU spins on the old code, the host rewrites it. */
static void test_host_write_while_running(void **state)
{
	struct tvm t;
	struct runner r;
	pthread_t th;
	uint8_t two = 2;

	(void)state;
	tvm_create(&t, 0);
	tvm_setup(&t, ENV_LONG64, 0, spin, sizeof(spin));
	assert_int_equal(vmm_mem_write(t.vm, FN_PAGE, fn1, sizeof(fn1)), 0);
	tvm_set(&t);
	start(&r, &th, t.cpu);
	usleep(50000); /* let it translate and spin */
	assert_int_equal(vmm_mem_write(t.vm, FN_PAGE + 1, &two, 1), 0);
	finish(&r, th);
	/* without the invalidation it spins until the kick */
	assert_int_equal(r.exit.kind, VMM_EXIT_HLT);
	assert_int_equal(vmm_vcpu_get_state(t.cpu, &t.st), 0);
	assert_int_equal(t.st.gpr[VMM_RAX], 2);
	tvm_destroy(&t);
}

/* While vCPU 0 spins on the old code, vCPU 1 stores the new immediate. */
static void test_other_vcpu_write(void **state)
{
	/* mov byte [FN_PAGE + 1], 2; hlt */
	static const uint8_t writer[] = {
		0xc6, 0x04, 0x25, 0x01, 0x10, 0x01, 0x00, 0x02,
		0xf4,
	};
	struct vmm_cpu_state st;
	struct vmm_exit e;
	vmm_vm *vm;
	vmm_vcpu *c0, *c1;
	struct runner r;
	pthread_t th;

	(void)state;
	vm = two_cpus(spin, sizeof(spin), writer, sizeof(writer), &c0, &c1);
	start(&r, &th, c0);
	usleep(50000);
	assert_int_equal(vmm_vcpu_run(c1, &e), 0);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	finish(&r, th);
	assert_int_equal(r.exit.kind, VMM_EXIT_HLT);
	assert_int_equal(vmm_vcpu_get_state(c0, &st), 0);
	assert_int_equal(st.gpr[VMM_RAX], 2);
	vmm_vm_destroy(vm);
}

/*
 * Cross-modifying code (SDM vol. 3 8.1.3) through a writable TLB entry
 * the writer made before the page held code: vCPU 1 stores to FN_PAGE
 * (its TLB entry becomes writable), vCPU 0 then runs FN_PAGE's code
 * (translating it), vCPU 1 rewrites the immediate and signals, vCPU 0
 * sees the signal, executes CPUID and calls the code again: it must
 * return the new value, without any exit of vCPU 0 in between.
 */
static void test_cross_modify_writable_entry(void **state)
{
	/* r0: cmp dword [FLAG0], 0; je r0; call FN_PAGE;
	 * mov dword [FLAG1], 1; r2: cmp dword [FLAG2], 0; je r2;
	 * xor eax, eax; cpuid; call FN_PAGE; hlt */
	static const uint8_t runner[] = {
		0x83, 0x3c, 0x25, 0x00, 0x30, 0x01, 0x00, 0x00,
		0x74, 0xf6,
		0xe8, 0xf1, 0x0f, 0x00, 0x00,
		0xc7, 0x04, 0x25, 0x40, 0x30, 0x01, 0x00, 0x01, 0x00, 0x00,
		0x00,
		0x83, 0x3c, 0x25, 0x80, 0x30, 0x01, 0x00, 0x00,
		0x74, 0xf6,
		0x31, 0xc0,
		0x0f, 0xa2,
		0xe8, 0xd3, 0x0f, 0x00, 0x00,
		0xf4,
	};
	/* mov al, 0; mov [FN_PAGE + 0x800], al; mov dword [FLAG0], 1;
	 * w1: cmp dword [FLAG1], 0; je w1; mov byte [FN_PAGE + 1], 2;
	 * mov dword [FLAG2], 1; hlt */
	static const uint8_t writer[] = {
		0xb0, 0x00,
		0x88, 0x04, 0x25, 0x00, 0x18, 0x01, 0x00,
		0xc7, 0x04, 0x25, 0x00, 0x30, 0x01, 0x00, 0x01, 0x00, 0x00,
		0x00,
		0x83, 0x3c, 0x25, 0x40, 0x30, 0x01, 0x00, 0x00,
		0x74, 0xf6,
		0xc6, 0x04, 0x25, 0x01, 0x10, 0x01, 0x00, 0x02,
		0xc7, 0x04, 0x25, 0x80, 0x30, 0x01, 0x00, 0x01, 0x00, 0x00,
		0x00,
		0xf4,
	};
	struct vmm_cpu_state st;
	struct vmm_exit e;
	vmm_vm *vm;
	vmm_vcpu *c0, *c1;
	struct runner r;
	pthread_t th;

	(void)state;
	vm = two_cpus(runner, sizeof(runner), writer, sizeof(writer), &c0, &c1);
	start(&r, &th, c0);
	assert_int_equal(vmm_vcpu_run(c1, &e), 0);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	finish(&r, th);
	assert_int_equal(r.exit.kind, VMM_EXIT_HLT);
	assert_int_equal(vmm_vcpu_get_state(c0, &st), 0);
	/* the old block would return 1 */
	assert_int_equal(st.gpr[VMM_RAX], 2);
	vmm_vm_destroy(vm);
}

/*
 * @n one-instruction blocks (jmp to the next byte) and a hlt at 2 MiB:
 * returns the block-cache flushes the run took.
 */
static uint64_t run_jumps(size_t n)
{
	struct tvm t;
	struct vmm_exit e;
	uint8_t *code = malloc(2 * n + 1);
	uint64_t flushes;

	assert_non_null(code);
	for (size_t k = 0; k < n; k++) {
		code[2 * k] = 0xeb; /* jmp +0 */
		code[2 * k + 1] = 0x00;
	}
	code[2 * n] = 0xf4;
	tvm_create(&t, 0);
	tvm_setup(&t, ENV_LONG64, 0, "\xf4", 1);
	assert_int_equal(vmm_mem_write(t.vm, 0x200000, code, 2 * n + 1), 0);
	free(code);
	t.st.rip = 0x200000;
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(t.st.rip, 0x200000 + 2 * n + 1);
	/* each runs once: cold, but its stub is in the cache (tb.c) */
	assert_true(stats(t.cpu).blocks_cold >= n);
	flushes = stats(t.cpu).block_cache_flushes;
	tvm_destroy(&t);
	return flushes;
}

/* The cache grows (up to SOFT_ARENA_CHUNKS chunks) before it flushes. */
static void test_cache_grows(void **state)
{
	(void)state;
	/* 64 K blocks need more than one 8 MiB chunk */
	assert_int_equal(run_jumps(64 * 1024), 0);
	/* 256 K blocks more than all of them: flushed, still correct */
	assert_true(run_jumps(256 * 1024) >= 1);
}

int main(void)
{
	/* exact block counts of the default tiering (cold first runs,
	 * then translation): not VMM_SOFT_JIT=eager's or =off's */
	unsetenv("VMM_SOFT_JIT");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_write_between_runs),
		cmocka_unit_test(test_host_write_while_running),
		cmocka_unit_test(test_other_vcpu_write),
		cmocka_unit_test(test_cross_modify_writable_entry),
		cmocka_unit_test(test_cache_grows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
