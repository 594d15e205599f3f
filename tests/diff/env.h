/* SPDX-License-Identifier: MIT */
/*
 * env.h - test environments for the CPU tests of the software backend and
 * the differential tests against KVM: a VM with RAM at 0, and ready-made
 * CPU states built through the public API only (vmm_vcpu_set_state and
 * guest memory writes), so the same state runs on either backend.
 *
 * Guest-physical layout (all below 1 MiB, code and data above):
 *   0x1000 PML4, 0x2000 PDPT, 0x3000 PD (2 MiB pages, 0-1 GiB), 0x4000 PT
 *   for the first 2 MiB (4 KiB pages, so tests can unmap one), 0x5000 GDT,
 *   0x6000 TSS (64- or 32-bit, RSP0 = ENV_KSTACK, I/O bitmap allowing every
 *   port), 0xa000 IDT (256 gates, DPL3, to ENV_HANDLERS + 16 * vector),
 *   ENV_HANDLERS: one HLT per vector (16 bytes apart).
 *   ENV_CODE code, ENV_DATA scratch data, ENV_STACK top of the stack.
 */
#ifndef TESTS_DIFF_ENV_H
#define TESTS_DIFF_ENV_H

#include <libvmm/libvmm.h>

#define ENV_RAM (16ull << 20)
#define ENV_PML4 0x1000
#define ENV_PDPT 0x2000
#define ENV_PD 0x3000
#define ENV_PT 0x4000
#define ENV_GDT 0x5000
#define ENV_TSS 0x6000
#define ENV_IDT 0xa000
#define ENV_HANDLERS 0xb000
#define ENV_KSTACK 0xf000
#define ENV_CODE 0x10000
#define ENV_DATA 0x20000
#define ENV_DATA_SIZE 0x2000
#define ENV_STACK 0x30000

/* GDT selectors */
#define ENV_KCODE64 0x08
#define ENV_KDATA 0x10
#define ENV_UDATA 0x1b
#define ENV_UCODE64 0x23
#define ENV_TSS_SEL 0x28
#define ENV_KCODE32 0x38
#define ENV_UCODE32 0x43

enum env_mode {
	ENV_REAL,    /* real mode, CS = DS = SS = 0, IVT at 0 */
	ENV_PROT32,  /* 32-bit protected mode, paging off, flat segments */
	ENV_LONG64,  /* 64-bit long mode, identity-mapped, 4-level paging */
	ENV_COMPAT32, /* compatibility mode: long mode, 32-bit code segment */
};

/*
 * env_build_memory() - write page tables, GDT, TSS, IDT and handlers into
 * @vm's RAM (RAM at 0 of at least ENV_RAM bytes).  Returns 0 or -errno.
 */
int env_build_memory(vmm_vm *vm);

/*
 * env_state() - fill @st (from vmm_vcpu_get_state()) for @mode at @cpl
 * (0 or 3; ignored in real mode) with RIP = ENV_CODE, RSP = ENV_STACK,
 * RFLAGS = 0x202 | IOPL 3 at CPL3 (IF off at CPL0: 0x2).
 */
void env_state(struct vmm_cpu_state *st, enum env_mode mode, unsigned cpl);

/* vector of the handler a HLT exit stopped in, or -1 */
int env_vector_of(uint64_t rip);

#endif
