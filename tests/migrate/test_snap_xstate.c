/* SPDX-License-Identifier: MIT */
/*
 * test_snap_xstate - the vCPU state struct vmm_cpu_state has no field for
 * (struct vmm_cpu_xstate: PKRU) survives a snapshot and a live migration.
 *
 * A software-backend VM of CPU model "max" (which implements PKU) runs
 * WRPKRU with a value; the snapshot restored into a new VM, and the VM
 * migrated over a socket pair, must report that PKRU through
 * vmm_vcpu_get_xstate() and give it to the guest's own RDPKRU.  Also: the
 * API's checks (unknown valid bits, a model without PKU, KVM on a host
 * without PKU accepts only 0).  Before the carrier existed a restored
 * vCPU read PKRU 0.  The same for IA32_PKRS (PKS, soft "max" only), set
 * through vmm_vcpu_set_xstate() and read back by the guest's RDMSR.
 */
#include <libvmm/libvmm.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../diff/env.h"

#define PKRU_VALUE 0x5555555cu
#define PKRS_VALUE 0x3000000cu

static int fails;

#define CHECK(cond, ...)                                                    \
	do {                                                                \
		if (!(cond)) {                                              \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);         \
			printf(__VA_ARGS__);                                \
			printf("\n");                                       \
			fails++;                                            \
		}                                                           \
	} while (0)

/* mov eax, PKRU_VALUE; xor ecx, ecx; xor edx, edx; wrpkru; hlt */
static const uint8_t wr_code[] = {
	0xb8, PKRU_VALUE & 0xff, (PKRU_VALUE >> 8) & 0xff,
	(PKRU_VALUE >> 16) & 0xff, PKRU_VALUE >> 24,
	0x31, 0xc9, 0x31, 0xd2, 0x0f, 0x01, 0xef, 0xf4,
};
/* xor ecx, ecx; rdpkru; hlt */
static const uint8_t rd_code[] = { 0x31, 0xc9, 0x0f, 0x01, 0xee, 0xf4 };
/* mov ecx, 0x6e1 (IA32_PKRS); rdmsr; hlt */
static const uint8_t rdpkrs_code[] = { 0xb9, 0xe1, 0x06, 0x00, 0x00,
				       0x0f, 0x32, 0xf4 };

static vmm_vm *make_vm(enum vmm_backend b, enum vmm_cpu_model model)
{
	struct vmm_config cfg;
	vmm_vm *vm = NULL;
	vmm_vcpu *cpu;

	vmm_config_init(&cfg);
	cfg.backend = b;
	cfg.cpu_model = model;
	cfg.flags = VMM_CFG_NO_IRQCHIP;
	if (vmm_vm_create(&cfg, &vm) || vmm_mem_add_ram(vm, 0, ENV_RAM) ||
	    vmm_vcpu_create(vm, 0, &cpu) || env_build_memory(vm)) {
		vmm_vm_destroy(vm);
		return NULL;
	}
	return vm;
}

/* run @code at CPL0 in 64-bit mode with CR4.PKE; RAX at the HLT */
static uint64_t run(vmm_vm *vm, const uint8_t *code, size_t len)
{
	vmm_vcpu *cpu = vmm_vm_get_vcpu(vm, 0);
	struct vmm_cpu_state st;
	struct vmm_exit ex;

	if (vmm_mem_write(vm, ENV_CODE, code, len) ||
	    vmm_vcpu_get_state(cpu, &st))
		return ~0ull;
	env_state(&st, ENV_LONG64, 0);
	st.cr4 |= VMM_CR4_PKE;
	if (vmm_vcpu_set_state(cpu, &st) || vmm_vcpu_run(cpu, &ex) ||
	    ex.kind != VMM_EXIT_HLT || vmm_vcpu_get_state(cpu, &st))
		return ~0ull;
	return st.gpr[VMM_RAX];
}

static uint32_t pkru_of(vmm_vm *vm)
{
	struct vmm_cpu_xstate xs = { .struct_size = sizeof(xs) };

	if (vmm_vcpu_get_xstate(vmm_vm_get_vcpu(vm, 0), &xs) ||
	    !(xs.valid & VMM_XSTATE_PKRU))
		return 0xdeadbeef;
	return xs.pkru;
}

static uint32_t pkrs_of(vmm_vm *vm)
{
	struct vmm_cpu_xstate xs = { .struct_size = sizeof(xs) };

	if (vmm_vcpu_get_xstate(vmm_vm_get_vcpu(vm, 0), &xs) ||
	    !(xs.valid & VMM_XSTATE_PKRS))
		return 0xdeadbeef;
	return xs.pkrs;
}

struct sender {
	vmm_vm *vm;
	int fd, ret;
};

static void *send_thread(void *p)
{
	struct sender *s = p;

	s->ret = vmm_migrate_send(s->vm, s->fd, NULL, NULL);
	return NULL;
}

int main(void)
{
	char path[] = "/tmp/test_snap_xstate.XXXXXX";
	struct vmm_cpu_xstate xs;
	vmm_vm *vm, *back = NULL;
	int fd, r;

	vm = make_vm(VMM_BACKEND_SOFT, VMM_CPU_MAX);
	if (!vm) {
		printf("FAIL: soft VM\n");
		return 1;
	}
	CHECK(pkru_of(vm) == 0, "reset PKRU 0x%x", pkru_of(vm));
	CHECK(run(vm, wr_code, sizeof(wr_code)) == PKRU_VALUE, "WRPKRU ran");
	CHECK(pkru_of(vm) == PKRU_VALUE, "PKRU after WRPKRU 0x%x", pkru_of(vm));
	CHECK(pkrs_of(vm) == 0, "reset PKRS 0x%x", pkrs_of(vm));
	memset(&xs, 0, sizeof(xs));
	xs.struct_size = sizeof(xs);
	xs.valid = VMM_XSTATE_PKRS; /* PKRU untouched */
	xs.pkrs = PKRS_VALUE;
	r = vmm_vcpu_set_xstate(vmm_vm_get_vcpu(vm, 0), &xs);
	CHECK(r == 0, "set PKRS: %s", vmm_strerror(r));
	CHECK(pkru_of(vm) == PKRU_VALUE && pkrs_of(vm) == PKRS_VALUE,
	      "PKRU 0x%x PKRS 0x%x after set", pkru_of(vm), pkrs_of(vm));
	CHECK(run(vm, rdpkrs_code, sizeof(rdpkrs_code)) == PKRS_VALUE,
	      "guest RDMSR IA32_PKRS");

	/* snapshot round trip */
	fd = mkstemp(path);
	if (fd < 0) {
		printf("FAIL: mkstemp\n");
		return 1;
	}
	close(fd);
	r = vmm_snapshot_save(vm, path, NULL);
	CHECK(r == 0, "save: %s", vmm_strerror(r));
	r = vmm_snapshot_restore(path, NULL, &back);
	CHECK(r == 0, "restore: %s", vmm_strerror(r));
	unlink(path);
	if (back) {
		CHECK(pkru_of(back) == PKRU_VALUE, "restored PKRU 0x%x",
		      pkru_of(back));
		CHECK(run(back, rd_code, sizeof(rd_code)) == PKRU_VALUE,
		      "RDPKRU in the restored VM");
		CHECK(pkrs_of(back) == PKRS_VALUE, "restored PKRS 0x%x",
		      pkrs_of(back));
		CHECK(run(back, rdpkrs_code, sizeof(rdpkrs_code)) ==
			      PKRS_VALUE,
		      "RDMSR IA32_PKRS in the restored VM");
		vmm_vm_destroy(back);
		back = NULL;
	}

	/* live migration over a socket pair */
	{
		int sv[2];
		struct sender s = { .vm = vm };
		pthread_t t;

		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
			printf("FAIL: socketpair\n");
			return 1;
		}
		s.fd = sv[0];
		pthread_create(&t, NULL, send_thread, &s);
		r = vmm_migrate_receive(sv[1], NULL, NULL, NULL, &back, NULL);
		pthread_join(t, NULL);
		close(sv[0]);
		close(sv[1]);
		CHECK(r == 0 && s.ret == 0, "migration: %s / %s",
		      vmm_strerror(r), vmm_strerror(s.ret));
		if (back) {
			CHECK(pkru_of(back) == PKRU_VALUE, "migrated PKRU 0x%x",
			      pkru_of(back));
			CHECK(run(back, rd_code, sizeof(rd_code)) == PKRU_VALUE,
			      "RDPKRU in the migrated VM");
			CHECK(pkrs_of(back) == PKRS_VALUE, "migrated PKRS 0x%x",
			      pkrs_of(back));
			CHECK(run(back, rdpkrs_code, sizeof(rdpkrs_code)) ==
				      PKRS_VALUE,
			      "RDMSR IA32_PKRS in the migrated VM");
			vmm_vm_destroy(back);
		}
	}
	vmm_vm_destroy(vm);

	/* the API's checks */
	vm = make_vm(VMM_BACKEND_SOFT, VMM_CPU_BASELINE);
	if (vm) {
		vmm_vcpu *cpu = vmm_vm_get_vcpu(vm, 0);
		memset(&xs, 0, sizeof(xs));
		xs.struct_size = sizeof(xs);
		CHECK(vmm_vcpu_get_xstate(cpu, &xs) == 0 && xs.valid == 0,
		      "baseline model: no PKRU (valid 0x%llx)",
		      (unsigned long long)xs.valid);
		xs.valid = VMM_XSTATE_PKRU;
		xs.pkru = 4;
		CHECK(vmm_vcpu_set_xstate(cpu, &xs) == -ENOTSUP,
		      "baseline model: PKRU 4 refused");
		xs.pkru = 0;
		CHECK(vmm_vcpu_set_xstate(cpu, &xs) == 0,
		      "baseline model: PKRU 0 accepted");
		xs.valid = VMM_XSTATE_PKRS;
		xs.pkrs = 4;
		CHECK(vmm_vcpu_set_xstate(cpu, &xs) == -ENOTSUP,
		      "baseline model: PKRS 4 refused");
		xs.pkrs = 0;
		CHECK(vmm_vcpu_set_xstate(cpu, &xs) == 0,
		      "baseline model: PKRS 0 accepted");
		xs.valid = 1ull << 40;
		CHECK(vmm_vcpu_set_xstate(cpu, &xs) == -EINVAL,
		      "unknown valid bit refused");
		xs.valid = 0;
		xs.struct_size = 3;
		CHECK(vmm_vcpu_set_xstate(cpu, &xs) == -EINVAL &&
			      vmm_vcpu_get_xstate(cpu, &xs) == -EINVAL,
		      "bad struct_size refused");
		vmm_vm_destroy(vm);
	}
	if (vmm_backend_available(VMM_BACKEND_KVM) == 0) {
		vm = make_vm(VMM_BACKEND_KVM, VMM_CPU_DEFAULT);
		if (vm) {
			vmm_vcpu *cpu = vmm_vm_get_vcpu(vm, 0);
			memset(&xs, 0, sizeof(xs));
			xs.struct_size = sizeof(xs);
			CHECK(vmm_vcpu_get_xstate(cpu, &xs) == 0,
			      "KVM get_xstate");
			printf("KVM: PKRU %s\n", xs.valid & VMM_XSTATE_PKRU ?
			       "carried (host has PKU)" : "not available");
			uint64_t got = xs.valid;
			CHECK(!(got & VMM_XSTATE_PKRS),
			      "KVM does not carry PKRS");
			xs.valid = VMM_XSTATE_PKRS;
			xs.pkrs = 0;
			CHECK(vmm_vcpu_set_xstate(cpu, &xs) == 0,
			      "KVM: PKRS 0 accepted");
			xs.pkrs = 4;
			CHECK(vmm_vcpu_set_xstate(cpu, &xs) == -ENOTSUP,
			      "KVM: PKRS 4 refused");
			if (!(got & VMM_XSTATE_PKRU)) {
				xs.valid = VMM_XSTATE_PKRU;
				xs.pkru = 0;
				CHECK(vmm_vcpu_set_xstate(cpu, &xs) == 0,
				      "KVM without PKU: PKRU 0 accepted");
				xs.pkru = 4;
				CHECK(vmm_vcpu_set_xstate(cpu, &xs) == -ENOTSUP,
				      "KVM without PKU: PKRU 4 refused");
			}
			vmm_vm_destroy(vm);
		}
	}
	printf("%s\n", fails ? "FAILED" : "ok");
	return fails ? 1 : 0;
}
