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
 */
#include <libvmm/libvmm.h>
#include "cpu/soft/soft.h"
#include "../tests/diff/env.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STEPS 256

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
static uint8_t env_img[ENV_IMG];

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
	unsigned sel;

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
	if (vmm_mem_write(vm, 0, env_img, ENV_IMG) ||
	    vmm_mem_fill(vm, ENV_CODE, 0xf4, 4096) ||
	    vmm_mem_write(vm, ENV_CODE, data, size))
		abort();
	if (vmm_vcpu_get_state(cpu, &st))
		abort();
	env_state(&st, modes[sel & 3], (sel & 3) == 3 ? 3 : 0);
	for (int r = 0; r < 16; r++)
		if (r != VMM_RSP)
			st.gpr[r] = (uint64_t)(sel * 0x9e3779b97f4a7c15ull) >> r;
	if (vmm_vcpu_set_state(cpu, &st))
		abort();
	for (int k = 0; k < MAX_STEPS; k++) {
		if (vmm_vcpu_run(cpu, &e))
			break;
		if (e.kind == VMM_EXIT_IO && !e.io.is_write)
			memset(e.io.data, 0x5a, (size_t)e.io.size * e.io.count);
		else if (e.kind == VMM_EXIT_MMIO && !e.mmio.is_write)
			memset(e.mmio.data, 0xa5, e.mmio.len);
		else if (e.kind != VMM_EXIT_DEBUG && e.kind != VMM_EXIT_IO &&
			 e.kind != VMM_EXIT_MMIO)
			break;
	}
	return 0;
}
