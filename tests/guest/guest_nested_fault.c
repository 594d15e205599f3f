/* SPDX-License-Identifier: MIT */
/*
 * guest_nested_fault - faults during the delivery of an exception follow
 * the architecture (SDM vol. 3 6.15, "Exception and interrupt classes",
 * table 6-5): a contributory fault while delivering a contributory one
 * is #DF, a fault while delivering #DF is a triple fault (the shutdown
 * exit, VMM_EXIT_SHUTDOWN), a benign first event is followed serially.
 * Found by fuzz_sysseq (a timeout in the software CPU's real-mode
 * delivery): the real-mode frame was pushed without the stack segment's
 * limit check, so a delivery with SP = 1 wrapped instead of raising #SS.
 *
 *   real-sp1    SP = 1, UD2: #UD's frame faults (#SS), so does #SS's
 *               (#DF), so does #DF's: shutdown (the SDM's PUSH page
 *               describes exactly this).  The software backend ran the
 *               #UD handler before the fix.
 *   real-df     LIDT with limit 0x27 (vectors 0-9), a word load at
 *               DS:0xffff (#GP): vector 13 is past the limit (#GP while
 *               delivering #GP: #DF), vector 8 is not: the #DF handler
 *               runs, with the frame of the faulting instruction
 *   real-triple the same with limit 0x1f: vector 8 past it too: shutdown
 *   long-ncsp   64-bit, RSP non-canonical, UD2: #SS, #SS, #DF: shutdown
 *   long-df     64-bit, gate 13 not present, a non-canonical store: #GP,
 *               #NP while delivering it (#DF): the #DF handler runs
 *
 *   guest_nested_fault BACKEND
 *
 * The same on KVM (the oracle) where it runs; real mode and CPL0 are
 * emulated by the host kernel on the nested kvm_pvm here.
 */
#include <libvmm/libvmm.h>
#include "../diff/env.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(c, ...)                                                  \
	do {                                                           \
		if (!(c)) {                                            \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                  \
			fprintf(stderr, "\n");                         \
			exit(1);                                       \
		}                                                      \
	} while (0)

static enum vmm_backend backend;

static vmm_vm *make_vm(vmm_vcpu **cpu)
{
	struct vmm_config cfg;
	vmm_vm *vm;
	vmm_dev *d;

	vmm_config_init(&cfg);
	cfg.backend = backend;
	cfg.flags = VMM_CFG_NO_IRQCHIP;
	CHECK(!vmm_vm_create(&cfg, &vm), "create");
	CHECK(!vmm_mem_add_ram(vm, 0, ENV_RAM), "ram");
	CHECK(!vmm_vcpu_create(vm, 0, cpu), "vcpu");
	CHECK(!vmm_debug_exit_attach(vm, 0xf4, 1, &d), "debug exit");
	return vm;
}

static void ivt(vmm_vm *vm, unsigned vec, uint16_t ip)
{
	uint16_t e[2] = { ip, 0 };

	CHECK(!vmm_mem_write(vm, vec * 4, e, 4), "ivt");
}

/* run to the first exit the run loop hands back */
static void run(vmm_vcpu *cpu, struct vmm_exit *e, const char *name)
{
	CHECK(!vmm_vcpu_run_loop(cpu, e), "%s: run", name);
}

static const char *why(const struct vmm_exit *e)
{
	return e->kind == VMM_EXIT_INTERNAL ? e->internal.msg : "";
}

/* a real-mode guest at 0:0x1000, SP 0x800, handlers that report their
 * vector through the debug-exit port (out 0xf4, al) */
static vmm_vm *real_vm(vmm_vcpu **cpu, const uint8_t *code, size_t n)
{
	static const uint8_t h6[] = { 0xb0, 0x06, 0xe6, 0xf4, 0xf4 };
	static const uint8_t h8[] = { 0xb0, 0x08, 0xe6, 0xf4, 0xf4 };
	static const uint8_t h12[] = { 0xb0, 0x0c, 0xe6, 0xf4, 0xf4 };
	static const uint8_t h13[] = { 0xb0, 0x0d, 0xe6, 0xf4, 0xf4 };
	struct vmm_cpu_state st;
	vmm_vm *vm = make_vm(cpu);

	CHECK(!vmm_mem_fill(vm, 0, 0, 0x10000), "zero");
	CHECK(!vmm_mem_write(vm, 0x2060, h6, sizeof(h6)), "h6");
	CHECK(!vmm_mem_write(vm, 0x2080, h8, sizeof(h8)), "h8");
	CHECK(!vmm_mem_write(vm, 0x20c0, h12, sizeof(h12)), "h12");
	CHECK(!vmm_mem_write(vm, 0x20d0, h13, sizeof(h13)), "h13");
	ivt(vm, 6, 0x2060);
	ivt(vm, 8, 0x2080);
	ivt(vm, 12, 0x20c0);
	ivt(vm, 13, 0x20d0);
	CHECK(!vmm_mem_write(vm, 0x1000, code, n), "code");
	CHECK(!vmm_vcpu_get_state(*cpu, &st), "get");
	vmm_state_flat_real(&st, 0, 0x1000, 0x800);
	CHECK(!vmm_vcpu_set_state(*cpu, &st), "set");
	return vm;
}

static void real_sp1(void)
{
	static const uint8_t code[] = {
		0xbc, 0x01, 0x00, /* mov sp, 1 */
		0x0f, 0x0b,       /* ud2 */
	};
	struct vmm_exit e;
	vmm_vcpu *cpu;
	vmm_vm *vm = real_vm(&cpu, code, sizeof(code));

	run(cpu, &e, "real-sp1");
	CHECK(e.kind == VMM_EXIT_SHUTDOWN, "real-sp1: exit %s %s (value %d)",
	      vmm_exit_name(e.kind), why(&e),
	      e.kind == VMM_EXIT_GUEST_EXIT ? (int)e.guest.value : -1);
	printf("real-sp1: SP = 1, #UD: shutdown\n");
	vmm_vm_destroy(vm);
}

static void real_lidt(uint16_t limit, bool df)
{
	const uint8_t code[] = {
		0x0f, 0x01, 0x1e, 0x00, 0x18, /* lidt [0x1800] */
		0xa1, 0xff, 0xff,             /* mov ax, [0xffff]: #GP */
		0xf4,
	};
	const char *name = df ? "real-df" : "real-triple";
	uint8_t idtr[6] = { (uint8_t)limit, (uint8_t)(limit >> 8), 0, 0, 0, 0 };
	struct vmm_cpu_state st;
	struct vmm_exit e;
	uint16_t frame[3];
	vmm_vcpu *cpu;
	vmm_vm *vm = real_vm(&cpu, code, sizeof(code));

	CHECK(!vmm_mem_write(vm, 0x1800, idtr, sizeof(idtr)), "idtr");
	run(cpu, &e, name);
	if (!df) {
		CHECK(e.kind == VMM_EXIT_SHUTDOWN, "%s: exit %s %s", name,
		      vmm_exit_name(e.kind), why(&e));
		printf("%s: IVT limit 0x%x: #GP, #GP, #DF past the limit: "
		       "shutdown\n", name, limit);
		vmm_vm_destroy(vm);
		return;
	}
	CHECK(e.kind == VMM_EXIT_GUEST_EXIT && e.guest.value == 8,
	      "%s: exit %s %s (value %d), want the #DF handler", name,
	      vmm_exit_name(e.kind), why(&e),
	      e.kind == VMM_EXIT_GUEST_EXIT ? (int)e.guest.value : -1);
	/* one frame (the #DF's): IP of the faulting load, CS 0, FLAGS */
	CHECK(!vmm_vcpu_get_state(cpu, &st), "get");
	CHECK((st.gpr[VMM_RSP] & 0xffff) == 0x7fa, "%s: SP 0x%llx", name,
	      (unsigned long long)st.gpr[VMM_RSP]);
	CHECK(!vmm_mem_read(vm, 0x7fa, frame, sizeof(frame)), "frame");
	CHECK(frame[0] == 0x1005 && frame[1] == 0 && (frame[2] & 2),
	      "%s: frame %04x %04x %04x", name, frame[0], frame[1], frame[2]);
	printf("%s: IVT limit 0x%x: #GP, #GP past the limit: #DF handler, "
	       "frame IP 0x%x\n", name, limit, frame[0]);
	vmm_vm_destroy(vm);
}

static vmm_vm *long_vm(vmm_vcpu **cpu, const uint8_t *code, size_t n,
		       uint64_t rsp)
{
	struct vmm_cpu_state st;
	vmm_vm *vm = make_vm(cpu);

	CHECK(!env_build_memory(vm), "env");
	CHECK(!vmm_mem_write(vm, ENV_CODE, code, n), "code");
	CHECK(!vmm_vcpu_get_state(*cpu, &st), "get");
	env_state(&st, ENV_LONG64, 0);
	st.gpr[VMM_RSP] = rsp;
	CHECK(!vmm_vcpu_set_state(*cpu, &st), "set");
	return vm;
}

static void long_ncsp(void)
{
	static const uint8_t code[] = { 0x0f, 0x0b }; /* ud2 */
	struct vmm_exit e;
	vmm_vcpu *cpu;
	vmm_vm *vm = long_vm(&cpu, code, sizeof(code), 0x0000800000000040ull);

	run(cpu, &e, "long-ncsp");
	CHECK(e.kind == VMM_EXIT_SHUTDOWN, "long-ncsp: exit %s %s",
	      vmm_exit_name(e.kind), why(&e));
	printf("long-ncsp: RSP non-canonical, #UD: shutdown\n");
	vmm_vm_destroy(vm);
}

static void long_df(void)
{
	static const uint8_t code[] = {
		0x48, 0xb8, 0, 0, 0, 0, 0, 0x80, 0, 0, /* mov rax, 1 << 47 */
		0x88, 0x00,                            /* mov [rax], al: #GP */
		0xf4,
	};
	struct vmm_cpu_state st;
	struct vmm_exit e;
	uint8_t p;
	vmm_vcpu *cpu;
	vmm_vm *vm = long_vm(&cpu, code, sizeof(code), ENV_STACK);

	/* gate 13 not present: delivering #GP raises #NP */
	CHECK(!vmm_mem_read(vm, ENV_IDT + 13 * 16 + 5, &p, 1), "gate");
	p &= 0x7f;
	CHECK(!vmm_mem_write(vm, ENV_IDT + 13 * 16 + 5, &p, 1), "gate");
	run(cpu, &e, "long-df");
	CHECK(!vmm_vcpu_get_state(cpu, &st), "get");
	CHECK(e.kind == VMM_EXIT_HLT && env_vector_of(st.rip) == 8,
	      "long-df: exit %s %s at 0x%llx (vector %d), want #DF's handler",
	      vmm_exit_name(e.kind), why(&e), (unsigned long long)st.rip,
	      env_vector_of(st.rip));
	printf("long-df: #GP, #NP while delivering it: #DF handler\n");
	vmm_vm_destroy(vm);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s kvm|soft\n", argv[0]);
		return 1;
	}
	backend = strcmp(argv[1], "kvm") ? VMM_BACKEND_SOFT : VMM_BACKEND_KVM;
	if (backend == VMM_BACKEND_KVM &&
	    vmm_backend_available(backend) == -ENODEV)
		return 77;
	if (backend == VMM_BACKEND_KVM &&
	    access("/sys/module/kvm_pvm", F_OK) == 0) {
		/* its real mode is the host kernel's instruction emulator,
		 * whose real-mode delivery checks neither the stack limit
		 * (SP = 1 ran the #UD handler) nor the IVT limit (the #GP
		 * handler past it ran): not an oracle for these (SDM: INT
		 * n's real-address-mode pseudocode, PUSH's SP = 1 note) */
		printf("real-*: SKIP on the nested kvm_pvm host (its "
		       "emulator's real-mode delivery has no limit checks)\n");
	} else {
		real_sp1();
		real_lidt(0x27, true);
		real_lidt(0x1f, false);
	}
	long_ncsp();
	long_df();
	return 0;
}
