/* SPDX-License-Identifier: MIT */
/*
 * fuzz_decoder - the software backend's decoder and executor on arbitrary
 * bytes.
 *
 *   ./build-fuzz/fuzz/fuzz_decoder -max_total_time=60
 *
 * Each input is decoded as an instruction stream in 16-, 32- and 64-bit
 * mode (every offset), then run as code on a soft VM from a fixed state
 * chosen by the first byte (real mode, 32-bit protected, 64-bit at CPL0 or
 * CPL3; the rest of the environment of tests/diff/env.h), single-stepped
 * for a bounded number of instructions, answering every I/O and MMIO
 * read.  Nothing may crash, hang or touch memory outside the guest.
 *
 * JIT mode: when bit 2 of the first byte is set, the code runs instead
 * on a second VM whose software backend compiles every block at its
 * first execution (VMM_CFG_JIT_EAGER; 64-bit code is compiled, the rest
 * interpreted), free-running rather than single-stepped, for at most
 * JIT_INSNS instructions (vmm_vcpu_set_insn_limit(): a guest that loops
 * ends there, deterministically, and the limit's clamping of compiled
 * code is fuzzed with it).  A watchdog thread kicks that vCPU every 2 ms,
 * and an input ends at its third VMM_EXIT_INTERRUPTED: the safety net for
 * code that retires nothing (a fault whose handler faults again).
 */
#include <libvmm/libvmm.h>
#include "cpu/soft/soft.h"
#include "../tests/diff/env.h"
#include "livelock_watchdog.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_STEPS 256
/* the JIT VM's budget per input: a 4 KiB page of straight code is at
 * most ~4,096 instructions; a loop ran until the third 2 ms kick before
 * (~6 ms per input) */
#define JIT_INSNS 10000

/*
 * The environment (page tables, GDT, TSS, IDT, handlers: all below
 * ENV_STACK) is built once and kept as an image, which each input gets
 * back with one write: env_build_memory() itself is a thousand small
 * writes, 60% of the time per input when it ran every time (~580 to
 * several thousand executions per second).  The image covers everything
 * below ENV_STACK, so what an input wrote there is undone as well.
 */
#define ENV_IMG ENV_STACK

static vmm_vm *vm;
static vmm_vcpu *cpu;
static vmm_vm *jvm;     /* JIT mode */
static vmm_vcpu *jcpu;
static uint8_t env_img[ENV_IMG];

/* The stepping VM's watchdog (livelock_watchdog.h): a run of one input
 * still going after 10 ms of CPU time without a step is kicked (an instruction
 * breakpoint on its own #DB handler: each delivery faults again, as on
 * hardware); the step loop ends after 3 kicks. */
static struct livelock_watchdog step_wd;

static void *watchdog(void *arg)
{
	struct timespec ts = { 0, 2 * 1000 * 1000 };

	for (;;) {
		nanosleep(&ts, NULL);
		vmm_vcpu_kick(jcpu);
	}
	return arg;
}

static void init_jit_vm(void)
{
	struct vmm_config cfg;
	pthread_t th;

	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_SOFT;
	cfg.flags = VMM_CFG_NO_IRQCHIP | VMM_CFG_JIT_EAGER;
	if (vmm_vm_create(&cfg, &jvm) || vmm_mem_add_ram(jvm, 0, ENV_RAM) ||
	    vmm_vcpu_create(jvm, 0, &jcpu))
		abort();
	if (pthread_create(&th, NULL, watchdog, NULL))
		abort();
}

static void init_vm(void)
{
	struct vmm_config cfg;

	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_SOFT;
	cfg.flags = VMM_CFG_NO_IRQCHIP | VMM_CFG_DETERMINISTIC;
	if (vmm_vm_create(&cfg, &vm) || vmm_mem_add_ram(vm, 0, ENV_RAM) ||
	    vmm_vcpu_create(vm, 0, &cpu))
		abort();
	if (vmm_vcpu_set_single_step(cpu, true))
		abort();
	if (env_build_memory(vm) || vmm_mem_read(vm, 0, env_img, ENV_IMG))
		abort();
	livelock_watchdog_start(&step_wd);
}

static void decode_all(const uint8_t *data, size_t size)
{
	for (unsigned csz = 2; csz <= 8; csz *= 2) {
		for (size_t off = 0; off < size; off++) {
			struct soft_insn in;
			bool end;
			size_t n = size - off;
			int r = soft_decode(data + off, n > 15 ? 15 : (unsigned)n,
					    csz, &in, &end);
			if (r == 0 && (in.len == 0 || in.len > n || in.len > 15))
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum env_mode modes[4] = { ENV_REAL, ENV_PROT32,
						ENV_LONG64, ENV_LONG64 };
	struct vmm_cpu_state st;
	struct vmm_exit e;
	unsigned sel, kicks = 0;
	vmm_vm *v;
	vmm_vcpu *vc;

	decode_all(data, size);
	if (!size)
		return 0;
	if (!vm)
		init_vm();
	sel = data[0];
	data++;
	size--;
	if (size > 4096)
		size = 4096;
	v = vm;
	vc = cpu;
	if (sel & 4) {
		if (!jvm)
			init_jit_vm();
		v = jvm;
		vc = jcpu;
	}
	if (vmm_mem_write(v, 0, env_img, ENV_IMG) ||
	    vmm_mem_fill(v, ENV_CODE, 0xf4, 4096) ||
	    vmm_mem_write(v, ENV_CODE, data, size))
		abort();
	if (vmm_vcpu_get_state(vc, &st))
		abort();
	env_state(&st, modes[sel & 3], (sel & 3) == 3 ? 3 : 0);
	/* no debug register state from the previous input (breakpoints it
	 * set would fire in this one: not reproducible alone) */
	memset(st.dr, 0, sizeof(st.dr));
	st.dr6 = 0xffff0ff0u;
	st.dr7 = 0x400;
	for (int r = 0; r < 16; r++)
		if (r != VMM_RSP)
			st.gpr[r] = (uint64_t)(sel * 0x9e3779b97f4a7c15ull) >> r;
	if (vmm_vcpu_set_state(vc, &st))
		abort();
	if (vc == cpu) {
		atomic_fetch_add(&step_wd.gen, 1);
		atomic_store(&step_wd.cpu, cpu);
	} else {
		/* FUZZ_DECODER_JIT_INSNS overrides the budget (0: none) */
		static long long jit_insns = -1;
		if (jit_insns < 0) {
			const char *ev = getenv("FUZZ_DECODER_JIT_INSNS");
			jit_insns = ev ? atoll(ev) : JIT_INSNS;
		}
		if (vmm_vcpu_set_insn_limit(vc, (uint64_t)jit_insns))
			abort();
	}
	for (int k = 0; k < MAX_STEPS; k++) {
		if (vmm_vcpu_run(vc, &e))
			break;
		if (e.kind == VMM_EXIT_INTERRUPTED) {
			if (++kicks >= 3)
				break;
			continue;
		}
		if (e.kind == VMM_EXIT_IO && !e.io.is_write)
			memset(e.io.data, 0x5a, (size_t)e.io.size * e.io.count);
		else if (e.kind == VMM_EXIT_MMIO && !e.mmio.is_write)
			memset(e.mmio.data, 0xa5, e.mmio.len);
		else if (e.kind != VMM_EXIT_DEBUG && e.kind != VMM_EXIT_IO &&
			 e.kind != VMM_EXIT_MMIO)
			break;
	}
	atomic_store(&step_wd.cpu, NULL);
	atomic_fetch_add(&step_wd.gen, 1);
	return 0;
}
