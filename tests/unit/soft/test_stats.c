/* SPDX-License-Identifier: MIT */
/*
 * test_stats.c - vmm_vcpu_get_stats(): the software backend's counters
 * move as the guest's work says they must (a loop of N iterations retires
 * 4N instructions, a load/store loop hits the TLB twice per iteration and
 * walks the page tables a few times only, self-modifying code invalidates
 * a block, a memory-map change flushes the cache), exits are counted by
 * kind on both backends, KVM reports what it cannot count as not
 * available, counters are never reset, an older caller's smaller struct is
 * filled only as far as it reaches, and a running vCPU is refused.
 */
#include "soft_test.h"

#include <stdlib.h>
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#define N_ITERS 100000u

static struct vmm_vcpu_stats stats(vmm_vcpu *cpu)
{
	struct vmm_vcpu_stats s;

	memset(&s, 0, sizeof(s));
	s.struct_size = sizeof(s);
	assert_int_equal(vmm_vcpu_get_stats(cpu, &s), 0);
	assert_int_equal(s.struct_size, sizeof(s));
	return s;
}

/* mov ecx, N; 1: add eax, ebx; xor edx, eax; dec ecx; jnz 1b; hlt */
static const uint8_t reg_loop[] = {
	0xb9, N_ITERS & 0xff, (N_ITERS >> 8) & 0xff, (N_ITERS >> 16) & 0xff, 0,
	0x01, 0xd8, 0x31, 0xc2, 0xff, 0xc9, 0x75, 0xf8,
	0xf4,
};

/* mov ecx, N; mov esi, ENV_DATA; 1: mov eax, [rsi]; add eax, 1;
 * mov [rsi], eax; dec ecx; jnz 1b; hlt */
static const uint8_t mem_loop[] = {
	0xb9, N_ITERS & 0xff, (N_ITERS >> 8) & 0xff, (N_ITERS >> 16) & 0xff, 0,
	0xbe, ENV_DATA & 0xff, (ENV_DATA >> 8) & 0xff, (ENV_DATA >> 16) & 0xff, 0,
	0x8b, 0x06, 0x83, 0xc0, 0x01, 0x89, 0x06, 0xff, 0xc9, 0x75, 0xf5,
	0xf4,
};

static void test_soft_counters(void **state)
{
	struct tvm t;
	struct vmm_exit e;
	struct vmm_vcpu_stats s0, s1, s2;
	uint32_t v = 0;

	tvm_create(&t, 0);
	s0 = stats(t.cpu);
	assert_int_equal(s0.valid & ~(VMM_VCPU_STAT_JIT |
				      VMM_VCPU_STAT_JIT_FALLBACKS),
			 VMM_VCPU_STAT_EXITS | VMM_VCPU_STAT_INSNS |
				   VMM_VCPU_STAT_BLOCKS | VMM_VCPU_STAT_TLB |
				   VMM_VCPU_STAT_PAUSE | VMM_VCPU_STAT_COLD);
	assert_int_equal(s0.exits, 0);
	assert_int_equal(s0.insns_retired, 0);
	assert_int_equal(s0.block_cache_flushes, 0);

	/* register loop: 4 instructions per iteration, a handful of blocks */
	tvm_setup(&t, ENV_LONG64, 0, reg_loop, sizeof(reg_loop));
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	s1 = stats(t.cpu);
	assert_true(s1.insns_retired - s0.insns_retired >= 4ull * N_ITERS);
	assert_true(s1.insns_retired - s0.insns_retired <= 4ull * N_ITERS + 4);
	assert_true(s1.blocks_translated >= 1 && s1.blocks_translated <= 8);
	assert_int_equal(s1.blocks_invalidated, 0);
	assert_int_equal(s1.exits, 1);
	assert_int_equal(s1.exits_by_kind[VMM_EXIT_HLT], 1);

	/* load/store loop: two TLB hits per iteration, few page walks */
	assert_int_equal(vmm_mem_write(t.vm, ENV_DATA, &v, sizeof(v)), 0);
	tvm_setup(&t, ENV_LONG64, 0, mem_loop, sizeof(mem_loop));
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(vmm_mem_read(t.vm, ENV_DATA, &v, sizeof(v)), 0);
	assert_int_equal(v, N_ITERS);
	s2 = stats(t.cpu);
	assert_true(s2.insns_retired - s1.insns_retired >= 5ull * N_ITERS);
	assert_true(s2.tlb_hits - s1.tlb_hits >= 2ull * N_ITERS);
	assert_true(s2.tlb_misses - s1.tlb_misses <= 16);
	assert_true(s2.tlb_misses > s1.tlb_misses); /* the data page at least */
	assert_int_equal(s2.exits, 2);
	/* the embedder rewrote the code page between the runs: the old
	 * block is dropped when looked up again, not reused */
	assert_true(s2.blocks_translated > s1.blocks_translated);

	/* since creation: set_state does not reset anything */
	tvm_setup(&t, ENV_LONG64, 0, reg_loop, sizeof(reg_loop));
	tvm_set(&t);
	s1 = stats(t.cpu);
	assert_int_equal(s1.insns_retired, s2.insns_retired);
	assert_int_equal(s1.exits, s2.exits);
	tvm_destroy(&t);
}

/* Run @t to its HLT; its store of 7 to ENV_DATA landed and the page's
 * dirty bit is set (the log fetched and cleared) */
static void assert_store_logged(struct tvm *t)
{
	uint64_t bm[ENV_RAM / 4096 / 64] = { 0 };
	unsigned bit = (unsigned)(ENV_DATA / 4096);
	struct vmm_exit e = tvm_run(t);
	uint32_t v = 0;

	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(vmm_mem_read(t->vm, ENV_DATA, &v, sizeof(v)), 0);
	assert_int_equal(v, 7);
	assert_true(vmm_mem_dirty_fetch(t->vm, 0, bm, sizeof(bm) / 8) >= 1);
	assert_true(bm[bit / 64] & (1ull << (bit % 64)));
}

/*
 * While dirty pages are logged a write gets no TLB write entry (each one
 * must mark its page), but the walk that allowed it is remembered
 * (SOFT_TLB_SLOW, mmu.c): a store loop walks the page tables a few
 * times, not once per store (it did), and a store after the log was
 * fetched still marks the page.
 */
static void test_soft_dirty_log_writes(void **state)
{
	/* mem_loop; then mov dword [rsi], 7; hlt */
	static const uint8_t prog[] = {
		0xb9, N_ITERS & 0xff, (N_ITERS >> 8) & 0xff,
		(N_ITERS >> 16) & 0xff, 0,
		0xbe, ENV_DATA & 0xff, (ENV_DATA >> 8) & 0xff,
		(ENV_DATA >> 16) & 0xff, 0,
		0x8b, 0x06, 0x83, 0xc0, 0x01, 0x89, 0x06, 0xff, 0xc9, 0x75, 0xf5,
		0xf4,
		0xc7, 0x06, 0x07, 0x00, 0x00, 0x00,
		0xf4,
	};
	uint64_t bm[ENV_RAM / 4096 / 64];
	unsigned bit = (unsigned)(ENV_DATA / 4096);
	struct vmm_vcpu_stats s0, s1;
	struct vmm_exit e;
	struct tvm t;
	uint32_t v = 0;

	tvm_create(&t, 0);
	assert_int_equal(vmm_mem_write(t.vm, ENV_DATA, &v, sizeof(v)), 0);
	tvm_setup(&t, ENV_LONG64, 0, prog, sizeof(prog));
	tvm_set(&t);
	assert_int_equal(vmm_mem_dirty_log(t.vm, true), 0);
	s0 = stats(t.cpu);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	s1 = stats(t.cpu);
	assert_int_equal(vmm_mem_read(t.vm, ENV_DATA, &v, sizeof(v)), 0);
	assert_int_equal(v, N_ITERS);
	assert_true(s1.tlb_misses - s0.tlb_misses <= 16);
	assert_true(vmm_mem_dirty_fetch(t.vm, 0, bm, sizeof(bm) / 8) >= 1);
	assert_true(bm[bit / 64] & (1ull << (bit % 64)));

	/* the TLB is as the loop left it: the store marks the page again */
	assert_store_logged(&t);
	tvm_destroy(&t);
}

/*
 * Dirty logging switched on before the VM has any memory: vmm_mem_dirty_log()
 * then has no region to hand to the backend, and a region added afterwards
 * is logged (VMM_MEM_DIRTY_LOG) but a soft vCPU wrote it through writable
 * TLB entries, unmarked: a pre-copy would have missed every guest write.
 */
static void test_soft_dirty_log_before_memory(void **state)
{
	/* mov esi, ENV_DATA; mov dword [rsi], 7; hlt */
	static const uint8_t prog[] = {
		0xbe, ENV_DATA & 0xff, (ENV_DATA >> 8) & 0xff,
		(ENV_DATA >> 16) & 0xff, 0,
		0xc7, 0x06, 0x07, 0x00, 0x00, 0x00,
		0xf4,
	};
	uint64_t bm[ENV_RAM / 4096 / 64];
	struct vmm_config cfg;
	struct tvm t;
	uint32_t v = 0;

	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_SOFT;
	cfg.flags = VMM_CFG_NO_IRQCHIP;
	assert_int_equal(vmm_vm_create(&cfg, &t.vm), 0);
	assert_int_equal(vmm_mem_dirty_log(t.vm, true), 0);
	assert_int_equal(vmm_mem_add_ram(t.vm, 0, ENV_RAM), 0);
	assert_int_equal(vmm_vcpu_create(t.vm, 0, &t.cpu), 0);
	assert_int_equal(env_build_memory(t.vm), 0);
	assert_int_equal(vmm_mem_write(t.vm, ENV_DATA, &v, sizeof(v)), 0);
	tvm_setup(&t, ENV_LONG64, 0, prog, sizeof(prog));
	tvm_set(&t);
	/* what the set-up wrote: fetched (and cleared) before the run */
	assert_true(vmm_mem_dirty_fetch(t.vm, 0, bm, sizeof(bm) / 8) >= 0);
	assert_store_logged(&t);
	tvm_destroy(&t);
}

/*
 * Accesses to a page that is not RAM never get a TLB entry the fast
 * paths use (each goes to the bus), but the walk is remembered
 * (SOFT_TLB_SLOW, mmu.c): a loop of reads from unassigned memory (an
 * MMIO exit each, read again when the run resumes) walks the page tables
 * a few times, not twice per iteration (it did).
 */
static void test_soft_mmio_walks(void **state)
{
	/* mov ecx, 200; mov esi, 0x8000000; 1: mov eax, [rsi];
	 * dec ecx; jnz 1b; hlt */
	static const uint8_t prog[] = {
		0xb9, 200, 0, 0, 0,
		0xbe, 0x00, 0x00, 0x00, 0x08,
		0x8b, 0x06, 0xff, 0xc9, 0x75, 0xfa,
		0xf4,
	};
	struct vmm_vcpu_stats s0, s1;
	struct vmm_exit e;
	struct tvm t;
	unsigned exits = 0;

	tvm_create(&t, 0);
	tvm_setup(&t, ENV_LONG64, 0, prog, sizeof(prog));
	tvm_set(&t);
	s0 = stats(t.cpu);
	for (;;) {
		e = tvm_run(&t);
		if (e.kind != VMM_EXIT_MMIO)
			break;
		assert_int_equal(e.mmio.gpa, 0x8000000);
		assert_false(e.mmio.is_write);
		exits++;
	}
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(exits, 200);
	s1 = stats(t.cpu);
	assert_true(s1.tlb_misses - s0.tlb_misses <= 16);
	tvm_destroy(&t);
}

static void test_soft_smc_and_flush(void **state)
{
	struct tvm t;
	struct vmm_exit e;
	struct vmm_vcpu_stats s0, s1;
	/* loops twice; the first pass rewrites the immediate of "mov al"
	 * (as in test_system.c): every block runs once or twice, so the
	 * rewritten one runs cold (decoded from memory) both times */
	static const uint8_t smc[] = {
		0x31, 0xc9, 0xb0, 0x11, 0xff, 0xc1, 0x83, 0xf9, 0x02, 0x74, 0x09,
		0xc6, 0x05, 0xf1, 0xff, 0xff, 0xff, 0x22, 0xeb, 0xee, 0xf4,
	};
	/* xor ecx, ecx; L: mov al, 0x11; inc ecx; cmp ecx, 4; je END;
	 * cmp ecx, 3; jne L; mov byte [L + 1], 0x22; jmp L; END: hlt - the
	 * block at L runs cold in pass 2, translated in pass 3, which
	 * rewrites it */
	static const uint8_t smc3[] = {
		0x31, 0xc9, 0xb0, 0x11, 0xff, 0xc1, 0x83, 0xf9, 0x04, 0x74, 0x0e,
		0x83, 0xf9, 0x03, 0x75, 0xf2,
		0xc6, 0x05, 0xec, 0xff, 0xff, 0xff, 0x22, 0xeb, 0xe9, 0xf4,
	};

	tvm_create(&t, 0);
	tvm_setup(&t, ENV_LONG64, 0, smc, sizeof(smc));
	tvm_set(&t);
	s0 = stats(t.cpu);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(t.st.gpr[VMM_RAX] & 0xff, 0x22);
	s1 = stats(t.cpu);
	assert_int_equal(s1.blocks_translated, s0.blocks_translated);
	assert_true(s1.blocks_cold - s0.blocks_cold >= 4);

	s0 = s1;
	tvm_setup(&t, ENV_LONG64, 0, smc3, sizeof(smc3));
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(t.st.gpr[VMM_RAX] & 0xff, 0x22);
	assert_int_equal(t.st.gpr[VMM_RCX], 4);
	s1 = stats(t.cpu);
	assert_true(s1.blocks_invalidated > s0.blocks_invalidated);
	assert_true(s1.blocks_translated - s0.blocks_translated >= 2);

	/* a memory-map change flushes the whole cache at the next run */
	assert_int_equal(s1.block_cache_flushes, 0);
	assert_int_equal(vmm_mem_add_ram(t.vm, 0x40000000, 1 << 20), 0);
	tvm_setup(&t, ENV_LONG64, 0, "\xf4", 1);
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	s1 = stats(t.cpu);
	assert_int_equal(s1.block_cache_flushes, 1);
	tvm_destroy(&t);
}

/*
 * FXSAVE/FXRSTOR (and the other multi-byte system accesses) translate once
 * per page: 1000 FXSAVE/FXRSTOR pairs walk the page tables a few times
 * (byte by byte they walked 1024 times per pair), and an image that
 * straddles a page boundary is written whole.
 */
static void test_soft_fxsave_walks(void **state)
{
	/* mov ecx, 1000; mov esi, ENV_DATA; 1: fxsave64 [rsi];
	 * fxrstor64 [rsi]; dec ecx; jnz 1b; fxsave64 [rsi + 0xf00]; hlt */
	static const uint8_t code[] = {
		0xb9, 0xe8, 0x03, 0x00, 0x00,
		0xbe, ENV_DATA & 0xff, (ENV_DATA >> 8) & 0xff,
		(ENV_DATA >> 16) & 0xff, 0,
		0x48, 0x0f, 0xae, 0x06, 0x48, 0x0f, 0xae, 0x0e,
		0xff, 0xc9, 0x75, 0xf4,
		0x48, 0x0f, 0xae, 0x86, 0x00, 0x0f, 0x00, 0x00,
		0xf4,
	};
	uint8_t a[512], b[512];
	struct tvm t;
	struct vmm_exit e;
	struct vmm_vcpu_stats s0, s1;

	(void)state;
	tvm_create(&t, 0);
	tvm_setup(&t, ENV_LONG64, 0, code, sizeof(code));
	t.st.fpu.fcw = 0x27f;
	t.st.fpu.mxcsr = 0x1fa0;
	memset(t.st.fpu.xmm[3], 0x3c, 16);
	tvm_set(&t);
	assert_int_equal(vmm_mem_fill(t.vm, ENV_DATA, 0, 0x2000), 0);
	s0 = stats(t.cpu);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	s1 = stats(t.cpu);
	assert_true(s1.tlb_misses - s0.tlb_misses <= 16);
	assert_int_equal(vmm_mem_read(t.vm, ENV_DATA, a, sizeof(a)), 0);
	assert_int_equal(vmm_mem_read(t.vm, ENV_DATA + 0xf00, b, sizeof(b)), 0);
	assert_memory_equal(a, b, sizeof(a));
	assert_int_equal(a[0] | a[1] << 8, 0x27f);
	assert_int_equal(a[24] | a[25] << 8, 0x1fa0);
	assert_int_equal(a[160 + 3 * 16], 0x3c);
	tvm_destroy(&t);
}

/* An older caller: a struct that ends after tlb_hits. */
static void test_abi_sizes(void **state)
{
	struct tvm t;
	union {
		struct vmm_vcpu_stats s;
		uint8_t b[sizeof(struct vmm_vcpu_stats)];
	} u;
	size_t old = offsetof(struct vmm_vcpu_stats, tlb_misses);

	tvm_create(&t, 0);
	tvm_setup(&t, ENV_LONG64, 0, reg_loop, sizeof(reg_loop));
	tvm_set(&t);
	(void)tvm_run(&t);

	memset(&u, 0xa5, sizeof(u));
	u.s.struct_size = (uint32_t)old;
	assert_int_equal(vmm_vcpu_get_stats(t.cpu, &u.s), 0);
	assert_int_equal(u.s.struct_size, old);
	/* the TLB pair does not fit whole: its bit is clear */
	assert_int_equal(u.s.valid, VMM_VCPU_STAT_EXITS | VMM_VCPU_STAT_INSNS |
				    VMM_VCPU_STAT_BLOCKS);
	assert_true(u.s.insns_retired >= 4ull * N_ITERS);
	/* nothing written beyond the caller's size */
	for (size_t i = old; i < sizeof(u); i++)
		assert_int_equal(u.b[i], 0xa5);

	/* a caller built before jit_fallbacks: that bit clear, the rest
	 * as before */
	memset(&u, 0xa5, sizeof(u));
	u.s.struct_size = offsetof(struct vmm_vcpu_stats, jit_fallbacks);
	assert_int_equal(vmm_vcpu_get_stats(t.cpu, &u.s), 0);
	assert_false(u.s.valid & VMM_VCPU_STAT_JIT_FALLBACKS);
	assert_true(u.s.valid & VMM_VCPU_STAT_PAUSE);
	for (size_t i = offsetof(struct vmm_vcpu_stats, jit_fallbacks);
	     i < sizeof(u); i++)
		assert_int_equal(u.b[i], 0xa5);

	/* a caller built before blocks_cold: that bit clear, the field
	 * not written */
	memset(&u, 0xa5, sizeof(u));
	u.s.struct_size = offsetof(struct vmm_vcpu_stats, blocks_cold);
	assert_int_equal(vmm_vcpu_get_stats(t.cpu, &u.s), 0);
	assert_false(u.s.valid & VMM_VCPU_STAT_COLD);
	assert_true(u.s.valid & VMM_VCPU_STAT_JIT_FALLBACKS ||
		    !(u.s.valid & VMM_VCPU_STAT_JIT));
	for (size_t i = offsetof(struct vmm_vcpu_stats, blocks_cold);
	     i < sizeof(u); i++)
		assert_int_equal(u.b[i], 0xa5);
	/* a current caller: the bit set, and the loop's first pass ran
	 * cold */
	memset(&u, 0, sizeof(u));
	u.s.struct_size = sizeof(u.s);
	assert_int_equal(vmm_vcpu_get_stats(t.cpu, &u.s), 0);
	assert_true(u.s.valid & VMM_VCPU_STAT_COLD);
	assert_true(u.s.blocks_cold >= 1);

	/* too small for the exit count, or no struct at all */
	u.s.struct_size = offsetof(struct vmm_vcpu_stats, exits);
	assert_int_equal(vmm_vcpu_get_stats(t.cpu, &u.s), -EINVAL);
	assert_int_equal(vmm_vcpu_get_stats(t.cpu, NULL), -EINVAL);
	u.s.struct_size = sizeof(u.s);
	assert_int_equal(vmm_vcpu_get_stats(NULL, &u.s), -EINVAL);
	tvm_destroy(&t);
}

/* mov ecx, 4096; 1: pause; dec ecx; jnz 1b; hlt */
static const uint8_t pause_loop[] = {
	0xb9, 0x00, 0x10, 0x00, 0x00,
	0xf3, 0x90, 0xff, 0xc9, 0x75, 0xfa,
	0xf4,
};

/* A PAUSE spin loop yields the host CPU with more than one vCPU (every
 * 512 PAUSEs: 8 times in 4096), never with one; a plain NOP loop never. */
static void test_pause_yields(void **state)
{
	struct vmm_config cfg;
	struct vmm_vcpu_stats s;
	struct vmm_cpu_state st;
	struct vmm_exit e;
	vmm_vm *vm;
	vmm_vcpu *cpu;

	for (unsigned n = 1; n <= 2; n++) {
		vmm_config_init(&cfg);
		cfg.backend = VMM_BACKEND_SOFT;
		cfg.flags = VMM_CFG_NO_IRQCHIP;
		cfg.ncpus = n;
		assert_int_equal(vmm_vm_create(&cfg, &vm), 0);
		assert_int_equal(vmm_mem_add_ram(vm, 0, ENV_RAM), 0);
		assert_int_equal(vmm_vcpu_create(vm, 0, &cpu), 0);
		assert_int_equal(env_build_memory(vm), 0);
		assert_int_equal(vmm_mem_write(vm, ENV_CODE, pause_loop,
					       sizeof(pause_loop)), 0);
		assert_int_equal(vmm_vcpu_get_state(cpu, &st), 0);
		env_state(&st, ENV_LONG64, 0);
		assert_int_equal(vmm_vcpu_set_state(cpu, &st), 0);
		assert_int_equal(vmm_vcpu_run(cpu, &e), 0);
		assert_int_equal(e.kind, VMM_EXIT_HLT);
		s = stats(cpu);
		assert_true(s.valid & VMM_VCPU_STAT_PAUSE);
		assert_int_equal(s.pause_yields, n == 1 ? 0 : 8);
		vmm_vm_destroy(vm);
	}
}

static void *run_thread(void *arg)
{
	struct vmm_exit *e = arg;
	vmm_vcpu *cpu = *(vmm_vcpu **)(e + 1);

	if (vmm_vcpu_run(cpu, e))
		e->kind = VMM_EXIT_NONE;
	return NULL;
}

static void test_busy(void **state)
{
	struct tvm t;
	struct {
		struct vmm_exit e;
		vmm_vcpu *cpu;
	} arg;
	struct vmm_vcpu_stats s = { .struct_size = sizeof(s) };
	pthread_t th;
	int ret = 0;

	tvm_create(&t, 0);
	/* an endless loop */
	tvm_setup(&t, ENV_LONG64, 3, "\x48\xff\xc1\xeb\xfb", 5);
	tvm_set(&t);
	arg.cpu = t.cpu;
	assert_int_equal(pthread_create(&th, NULL, run_thread, &arg), 0);
	for (int i = 0; i < 2000 && ret != -EBUSY; i++) {
		usleep(1000);
		ret = vmm_vcpu_get_stats(t.cpu, &s);
	}
	assert_int_equal(ret, -EBUSY);
	usleep(20000); /* let it run (slowly under sanitizers) */
	assert_int_equal(vmm_vcpu_kick(t.cpu), 0);
	pthread_join(th, NULL);
	assert_int_equal(arg.e.kind, VMM_EXIT_INTERRUPTED);
	s = stats(t.cpu);
	assert_int_equal(s.exits_by_kind[VMM_EXIT_INTERRUPTED], 1);
	/* the loop ran: two instructions per iteration, counted */
	assert_true(s.insns_retired >= 2);
	tvm_destroy(&t);
}

/* KVM: exits by kind from libvmm's run step, the rest not available. */
static void test_kvm(void **state)
{
	struct vmm_config cfg;
	struct vmm_cpu_state st;
	struct vmm_exit e;
	struct vmm_vcpu_stats s;
	vmm_vm *vm;
	vmm_vcpu *cpu;
	char why[128];
	/* out 0x80, al; out 0x80, al; hlt */
	static const uint8_t code[] = { 0xe6, 0x80, 0xe6, 0x80, 0xf4 };

	if (vmm_backend_probe(VMM_BACKEND_KVM, why, sizeof(why)))
		skip();
	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_KVM;
	cfg.flags = VMM_CFG_NO_IRQCHIP;
	assert_int_equal(vmm_vm_create(&cfg, &vm), 0);
	assert_int_equal(vmm_mem_add_ram(vm, 0, ENV_RAM), 0);
	assert_int_equal(vmm_vcpu_create(vm, 0, &cpu), 0);
	assert_int_equal(env_build_memory(vm), 0);
	assert_int_equal(vmm_vcpu_get_state(cpu, &st), 0);
	env_state(&st, ENV_LONG64, 0);
	assert_int_equal(vmm_mem_write(vm, ENV_CODE, code, sizeof(code)), 0);
	assert_int_equal(vmm_vcpu_set_state(cpu, &st), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(vmm_vcpu_run(cpu, &e), 0);
		assert_int_equal(e.kind, VMM_EXIT_IO);
	}
	assert_int_equal(vmm_vcpu_run(cpu, &e), 0);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	memset(&s, 0xa5, sizeof(s));
	s.struct_size = sizeof(s);
	assert_int_equal(vmm_vcpu_get_stats(cpu, &s), 0);
	assert_int_equal(s.valid, VMM_VCPU_STAT_EXITS);
	assert_int_equal(s.exits, 3);
	assert_int_equal(s.exits_by_kind[VMM_EXIT_IO], 2);
	assert_int_equal(s.exits_by_kind[VMM_EXIT_HLT], 1);
	/* not available: zero, and flagged so by the clear bits */
	assert_int_equal(s.insns_retired, 0);
	assert_int_equal(s.tlb_hits, 0);
	vmm_vm_destroy(vm);
}

int main(void)
{
	/* exact block counts of the default tiering (cold first runs,
	 * then translation): not VMM_SOFT_JIT=eager's or =off's */
	unsetenv("VMM_SOFT_JIT");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_soft_counters),
		cmocka_unit_test(test_soft_smc_and_flush),
		cmocka_unit_test(test_soft_fxsave_walks),
		cmocka_unit_test(test_soft_dirty_log_writes),
		cmocka_unit_test(test_soft_dirty_log_before_memory),
		cmocka_unit_test(test_soft_mmio_walks),
		cmocka_unit_test(test_abi_sizes),
		cmocka_unit_test(test_pause_yields),
		cmocka_unit_test(test_busy),
		cmocka_unit_test(test_kvm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
