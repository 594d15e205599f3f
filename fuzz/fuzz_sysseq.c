/* SPDX-License-Identifier: MIT */
/*
 * fuzz_sysseq - system-instruction sequences on the software backend:
 * arbitrary code at CPL0 in real, 32-bit protected, compatibility or
 * 64-bit mode, over guest-controlled descriptor tables, IDT, TSS and page
 * tables.
 *
 *   ./build-fuzz/fuzz/fuzz_sysseq -max_total_time=60
 *
 * Input: byte 0 picks the mode and a few control bits (CR0.WP, EFER.NXE),
 * byte 1 the code length L; then L bytes of code; what follows overwrites
 * the GDT from selector 0x50 (any descriptors, gates and TSS entries; up
 * to 512 bytes), then the first IDT gates (256 bytes), then page-table
 * entries (PT 0x4000, 256 bytes), as far as the input goes.  The vCPU
 * runs at most MAX_STEPS instructions (vmm_vcpu_set_insn_limit(); it was
 * single-stepped, one exit per instruction, before) and at most
 * MAX_EXITS exits, every I/O and MMIO read answered.  Segment loads, far transfers
 * through gates, task switches, exceptions, IRET, LGDT/LIDT/LTR/LLDT,
 * MOV CR/DR, WRMSR with guest values all follow from the bytes.  Nothing
 * may crash, hang, leak or touch memory outside the guest; every stop
 * must be an architectural one (a shutdown, a halt, an exit) or a
 * documented "not emulated" stop (reason EMULATION): any other
 * VMM_EXIT_INTERNAL aborts.
 */
#include <libvmm/libvmm.h>
#include "../tests/diff/env.h"
#include "livelock_watchdog.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STEPS 200
#define MAX_EXITS 200

static vmm_vm *vm;
static vmm_vcpu *cpu;
/* A run that retires no instruction and makes no exit (a delivery whose
 * handler faults again) is kicked after 10 ms of CPU time without an
 * exit; the input ends at the kick (VMM_EXIT_INTERRUPTED).  A VMM that ignores the kick
 * still times out (livelock_watchdog.h). */
static struct livelock_watchdog step_wd;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum env_mode modes[4] = { ENV_REAL, ENV_PROT32,
						ENV_COMPAT32, ENV_LONG64 };
	struct vmm_cpu_state st;
	struct vmm_exit e;

	if (size < 2)
		return 0;
	if (!vm) {
		struct vmm_config cfg;
		vmm_config_init(&cfg);
		cfg.backend = VMM_BACKEND_SOFT;
		cfg.flags = VMM_CFG_NO_IRQCHIP | VMM_CFG_DETERMINISTIC;
		if (vmm_vm_create(&cfg, &vm) || vmm_mem_add_ram(vm, 0, ENV_RAM) ||
		    vmm_vcpu_create(vm, 0, &cpu))
			abort();
		livelock_watchdog_start(&step_wd);
	}
	uint8_t sel = data[0];
	size_t clen = data[1];
	data += 2;
	size -= 2;
	if (clen > size)
		clen = size;
	const uint8_t *code = data, *rest = data + clen;
	size_t rlen = size - clen;
	size_t glen = rlen < 512 ? rlen : 512;
	size_t ilen = rlen - glen < 256 ? rlen - glen : 256;
	size_t plen = rlen - glen - ilen < 256 ? rlen - glen - ilen : 256;
	if (env_build_memory(vm) ||
	    vmm_mem_write(vm, ENV_GDT + 0x50, rest, glen) ||
	    vmm_mem_write(vm, ENV_IDT, rest + glen, ilen) ||
	    vmm_mem_write(vm, ENV_PT + 16 * 8, rest + glen + ilen, plen) ||
	    vmm_mem_fill(vm, ENV_CODE, 0xf4, 4096) ||
	    vmm_mem_write(vm, ENV_CODE, code, clen))
		abort();
	if (vmm_vcpu_get_state(cpu, &st))
		abort();
	env_state(&st, modes[sel & 3], 0);
	st.gdtr.limit = 0x24f;
	if (modes[sel & 3] != ENV_REAL) {
		if (!(sel & 4))
			st.cr0 &= ~VMM_CR0_WP;
		if ((sel & 8) && (st.cr0 & VMM_CR0_PG))
			st.msr.efer &= ~VMM_EFER_NXE;
	}
	if (vmm_vcpu_set_state(cpu, &st) ||
	    vmm_vcpu_set_insn_limit(cpu, MAX_STEPS))
		abort();
	atomic_store(&step_wd.cpu, cpu);
	for (unsigned n = 0; n < MAX_EXITS; n++) {
		int r;

		atomic_fetch_add(&step_wd.gen, 1);
		r = vmm_vcpu_run(cpu, &e);
		if (r < 0)
			abort(); /* the run itself must not fail */
		if (e.kind == VMM_EXIT_DEBUG)
			continue;
		if (e.kind == VMM_EXIT_INSN_LIMIT)
			break;
		if (e.kind == VMM_EXIT_IO) {
			if (!e.io.is_write)
				memset(e.io.data, 0xa5,
				       (size_t)e.io.size * e.io.count);
			continue;
		}
		if (e.kind == VMM_EXIT_MMIO) {
			if (!e.mmio.is_write)
				memset(e.mmio.data, 0x5a, e.mmio.len);
			continue;
		}
		/* HLT, shutdown and the documented "not emulated" stops
		 * (docs/soft-backend.md: MMX forms, x87 FERR#, 16-bit TSS)
		 * end the input; any other internal stop is a finding:
		 * a guest must not stop its VMM (issue #11) */
		if (e.kind == VMM_EXIT_INTERNAL &&
		    (e.internal.reason != VMM_INTERNAL_EMULATION ||
		     !strstr(e.internal.msg, " not emulated")))
			abort();
		break;
	}
	atomic_store(&step_wd.cpu, NULL);
	atomic_fetch_add(&step_wd.gen, 1);
	return 0;
}
