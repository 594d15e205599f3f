// SPDX-License-Identifier: MIT
/*
 * guest_state_skip.c - vmm_vcpu_set_state() after the guest ran restores
 * every group, and a changed group is written, although the KVM backend
 * skips the FPU, debug-register and event groups that equal what KVM holds
 * since the last get/set (src/cpu/kvm/kvm_state.c).
 *
 *  1. get s0; set s0; get; set (now KVM's groups are "known"); run a
 *     32-bit CPL0 guest that writes DR0 (MOV to DR0: KVM emulates it; the
 *     nested KVM here cannot emulate SSE or x87 at CPL0, and CPL3 cannot
 *     touch these groups) and stops at a port exit;
 *  2. set s0 again, with no get after the run: the next get must give
 *     s0's DR0 (a backend that believed its cache after the run would
 *     leave the guest's 0x1234); a second run shows the guest does write
 *     DR0;
 *  3. get; change FCW, ST1 and DR1 in the result; set; get: the changes
 *     must be there (a stale "unchanged" would drop them).
 *
 *   guest_state_skip BACKEND
 */
#include <libvmm/libvmm.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CODE_GPA 0x1000u
#define PORT_WORK 0x80

/* 32-bit, CPL0: mov $0x1234, %eax; mov %eax, %dr0; out %al, $0x80;
 * jmp . */
static const uint8_t code[] = { 0xb8, 0x34, 0x12, 0x00, 0x00,
				0x0f, 0x23, 0xc0,
				0xe6, 0x80, 0xeb, 0xfe };

static int fails;
#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "FAIL: " __VA_ARGS__);                 \
			fputc('\n', stderr);                                   \
			fails++;                                               \
		}                                                              \
	} while (0)

static void fpu_diff(const char *what, const struct vmm_fpu *a,
		     const struct vmm_fpu *b)
{
	CHECK(!memcmp(a, b, sizeof(*a)),
	      "%s: FPU differs (fcw %#x/%#x fsw %#x/%#x ftw %#x/%#x)", what,
	      a->fcw, b->fcw, a->fsw, b->fsw, a->ftw, b->ftw);
}

int main(int argc, char **argv)
{
	struct vmm_config cfg;
	struct vmm_cpu_state s0, s1;
	struct vmm_exit e;
	enum vmm_backend b;
	vmm_vm *vm;
	vmm_vcpu *vcpu;
	int r;

	if (argc < 2)
		return 2;
	b = !strcmp(argv[1], "kvm") ? VMM_BACKEND_KVM : VMM_BACKEND_SOFT;
	if (b == VMM_BACKEND_KVM &&
	    vmm_backend_available(VMM_BACKEND_KVM) == -ENODEV)
		return 77; /* absent or not built in */
	vmm_config_init(&cfg);
	cfg.backend = b;
	cfg.irqchip = VMM_IRQCHIP_NONE;
	cfg.ram_size = 2 << 20;
	if ((r = vmm_vm_create(&cfg, &vm))) {
		fprintf(stderr, "FAIL: create: %s\n", vmm_strerror(r));
		return 1;
	}
	if ((r = vmm_vcpu_create(vm, 0, &vcpu)) ||
	    (r = vmm_mem_write(vm, CODE_GPA, code, sizeof(code))) ||
	    (r = vmm_vcpu_get_state(vcpu, &s0))) {
		fprintf(stderr, "FAIL: setup: %s\n", vmm_strerror(r));
		return 1;
	}
	vmm_state_flat_protected(&s0, CODE_GPA);
	s0.rflags = VMM_RFLAGS_FIXED;
	s0.gpr[VMM_RSP] = 0x8000;
	if ((r = vmm_vcpu_set_state(vcpu, &s0)) ||
	    (r = vmm_vcpu_get_state(vcpu, &s0)) ||
	    (r = vmm_vcpu_set_state(vcpu, &s0)) ||
	    (r = vmm_vcpu_run(vcpu, &e))) {
		fprintf(stderr, "FAIL: run: %s\n", vmm_strerror(r));
		return 1;
	}
	CHECK(e.kind == VMM_EXIT_IO && e.io.port == PORT_WORK, "exit %s",
	      vmm_exit_name(e.kind));

	/* 2: the run changed DR0 (no get since): set s0 must restore it */
	if ((r = vmm_vcpu_set_state(vcpu, &s0)) ||
	    (r = vmm_vcpu_get_state(vcpu, &s1))) {
		fprintf(stderr, "FAIL: set/get: %s\n", vmm_strerror(r));
		return 1;
	}
	fpu_diff("set after a run", &s0.fpu, &s1.fpu);
	CHECK(s1.dr[0] == s0.dr[0], "DR0 %#llx after set, want %#llx",
	      (unsigned long long)s1.dr[0], (unsigned long long)s0.dr[0]);
	CHECK(s1.rip == s0.rip, "rip %#llx, want %#llx",
	      (unsigned long long)s1.rip, (unsigned long long)s0.rip);
	/* the guest does write DR0 (else step 2 proves nothing) */
	if ((r = vmm_vcpu_run(vcpu, &e)) ||
	    (r = vmm_vcpu_get_state(vcpu, &s1))) {
		fprintf(stderr, "FAIL: run/get: %s\n", vmm_strerror(r));
		return 1;
	}
	CHECK(s1.dr[0] == 0x1234 && s0.dr[0] != 0x1234,
	      "DR0 %#llx after the run: the test proves nothing",
	      (unsigned long long)s1.dr[0]);

	/* 3: a change to a group after a get is written */
	s1.fpu.fcw = 0x27f;         /* precision 53 bits instead of 64 */
	s1.fpu.st[1][7] = 0x80;      /* ST1 = 1.0: mantissa 0x8000... */
	s1.fpu.st[1][8] = 0xff;
	s1.fpu.st[1][9] = 0x3f;
	s1.dr[1] = 0x5000;
	if ((r = vmm_vcpu_set_state(vcpu, &s1)) ||
	    (r = vmm_vcpu_get_state(vcpu, &s0))) {
		fprintf(stderr, "FAIL: set/get: %s\n", vmm_strerror(r));
		return 1;
	}
	CHECK(s0.fpu.fcw == 0x27f, "FCW %#x after set, want 0x27f", s0.fpu.fcw);
	CHECK(!memcmp(s0.fpu.st[1], s1.fpu.st[1], 10), "ST1 not written");
	CHECK(s0.dr[1] == 0x5000, "DR1 %#llx after set, want 0x5000",
	      (unsigned long long)s0.dr[1]);
	vmm_vm_destroy(vm);
	if (!fails)
		printf("%s: state groups restored after a run and written when "
		       "changed\n", argv[1]);
	return fails ? 1 : 0;
}
