/* SPDX-License-Identifier: MIT */
/*
 * The gdb stub with a guest that has its own IDT (issue 12, item 6), on
 * the backend named by argv[1] ("soft" or "kvm"):
 *
 *  - int3: the guest executes INT3 three times and counts the #BPs in its
 *    handler while a gdb breakpoint sits elsewhere: the stub hands the
 *    guest's INT3s back (count 3) and still stops at its own breakpoint;
 *  - hw: Z2 (write watch) stops after the handler's write with
 *    "watch:ADDR", Z1 (hbreak) stops before its instruction, Z3 (read
 *    watch) reports "rwatch:ADDR", a fifth slot is refused (E1c), and the
 *    guest's own debug registers are left alone;
 *  - guest DRs (soft): a guest watching a variable with its own DR0/DR7
 *    still gets its #DB while gdb watches the same variable.
 *
 * KVM: guest debugging of CPL0 code is probed first (an INT3 with
 * vmm_vcpu_set_sw_breakpoints() on must exit as DEBUG; a debugger exec
 * slot must exit before its instruction); a host that does neither (the
 * nested kvm_pvm of docs/machines.md, say) skips with the reason printed.
 * Exit 77 also when /dev/kvm is absent.  "test_gdb_hw kvm probe" runs
 * only that probe (0 = the host can, 77 = it cannot, reason printed).
 */
#include "debug/gdb_impl.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * Flat 32-bit protected-mode image at 0x100000 (CPL0, paging off):
 *  00 mov esp, 0x100800           05 mov ax, cs
 *  08 mov [0x10011a], ax          0e lidt [0x100140]
 *  15 mov ecx, 3
 *  1a int3                        1b loop 1a
 *  1d mov eax, [0x100150]         22 out 0xf4, al      24 jmp $
 *  26 handler: inc dword [0x100150]   2c iretd
 * 100: IDT (gate 3 -> 0x100026, 32-bit interrupt gate, DPL 0)
 * 140: IDTR (limit 0x1f, base 0x100100)      150: the #BP count
 */
#define BASE 0x100000ull
#define COUNT 0x100150ull
static uint8_t image[0x154];

static void build_image(void)
{
	static const uint8_t code[] = {
		0xbc, 0x00, 0x08, 0x10, 0x00,
		0x66, 0x8c, 0xc8,
		0x66, 0xa3, 0x1a, 0x01, 0x10, 0x00,
		0x0f, 0x01, 0x1d, 0x40, 0x01, 0x10, 0x00,
		0xb9, 0x03, 0x00, 0x00, 0x00,
		0xcc,
		0xe2, 0xfd,
		0xa1, 0x50, 0x01, 0x10, 0x00,
		0xe6, 0xf4,
		0xeb, 0xfe,
		0xff, 0x05, 0x50, 0x01, 0x10, 0x00,
		0xcf,
	};
	static const uint8_t gate[8] = { 0x26, 0x00, 0x00, 0x00,
					 0x00, 0x8e, 0x10, 0x00 };
	static const uint8_t idtr[6] = { 0x1f, 0x00, 0x00, 0x01, 0x10, 0x00 };

	memset(image, 0, sizeof(image));
	memcpy(image, code, sizeof(code));
	memcpy(image + 0x118, gate, sizeof(gate));
	memcpy(image + 0x140, idtr, sizeof(idtr));
}

static int fails;
#define CHECK(c)                                                            \
	do {                                                                \
		if (!(c)) {                                                 \
			fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__,    \
				__LINE__, #c);                              \
			fails++;                                            \
		}                                                           \
	} while (0)

static enum vmm_backend backend;

static vmm_vm *make_vm(const uint8_t *img, size_t len, vmm_vcpu **cpu)
{
	struct vmm_config cfg;
	struct vmm_boot_info bi;
	vmm_vm *vm;
	vmm_dev *d;

	vmm_config_init(&cfg);
	cfg.backend = backend;
	cfg.ram_size = 16 << 20;
	cfg.ncpus = 1;
	if (vmm_vm_create(&cfg, &vm) < 0)
		return NULL;
	if (vmm_debug_exit_attach(vm, 0xf4, 1, &d) < 0 ||
	    vmm_image_load_flat(vm, img, len, BASE, VMM_BOOT_PROT32, &bi) < 0 ||
	    vmm_vcpu_create(vm, 0, cpu) < 0 ||
	    vmm_boot_setup_vcpu(*cpu, &bi) < 0) {
		char m[256];
		(void)vmm_last_error(vm, m, sizeof(m));
		fprintf(stderr, "VM set-up: %s\n", m);
		vmm_vm_destroy(vm);
		return NULL;
	}
	return vm;
}

/* ---- a session over a socketpair ---- */

struct sess {
	vmm_gdb *g;
	int fd[2];
	pthread_t th;
	int ret;
};

static void *serve_main(void *arg)
{
	struct sess *s = arg;
	s->ret = vmm_gdb_serve(s->g, s->fd[1]);
	return NULL;
}

static const char *roundtrip(struct sess *s, const char *p)
{
	static char out[4096];
	char fr[512], buf[4096];
	struct gdb_rx rx = { .cap = sizeof(buf) - 1, .buf = buf };
	long n = gdb_frame(fr, sizeof(fr), p, strlen(p));
	uint8_t b;
	int ev;

	if (n <= 0 || write(s->fd[0], fr, (size_t)n) != n)
		return "(write failed)";
	do {
		if (read(s->fd[0], &b, 1) != 1)
			return "(read failed)";
		ev = gdb_rx_byte(&rx, b);
	} while (ev != GDB_RX_PACKET);
	snprintf(out, sizeof(out), "%s", buf);
	return out;
}

#define EXPECT(s, pkt, want)                                                \
	do {                                                                \
		const char *got_ = roundtrip(s, pkt);                       \
		if (strcmp(got_, want) != 0) {                              \
			fprintf(stderr, "%s:%d: %s -> '%s', want '%s'\n",   \
				__FILE__, __LINE__, pkt, got_, want);       \
			fails++;                                            \
		}                                                           \
	} while (0)

static int start(struct sess *s, vmm_vm *vm)
{
	memset(s, 0, sizeof(*s));
	if (vmm_gdb_create(vm, NULL, &s->g) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, s->fd) < 0 ||
	    pthread_create(&s->th, NULL, serve_main, s) != 0)
		return -1;
	EXPECT(s, "qSupported:swbreak+;hwbreak+", "PacketSize=4000;"
	       "qXfer:features:read+;QStartNoAckMode+;vContSupported+;"
	       "swbreak+;hwbreak+");
	EXPECT(s, "QStartNoAckMode", "OK");
	return 0;
}

static void finish(struct sess *s, int want_ret)
{
	/* "k" has no reply: the session ends */
	CHECK(write(s->fd[0], "$k#6b", 5) == 5);
	pthread_join(s->th, NULL);
	CHECK(s->ret == want_ret);
	close(s->fd[0]);
	close(s->fd[1]);
}

/* 1. the guest's INT3s reach its handler; gdb's breakpoint still stops */
static void test_int3(void)
{
	struct sess s;
	vmm_vcpu *cpu;
	vmm_vm *vm = make_vm(image, sizeof(image), &cpu);

	CHECK(vm);
	if (!vm || start(&s, vm) < 0) {
		fails++;
		return;
	}
	EXPECT(&s, "Z0,10001d,1", "OK");
	EXPECT(&s, "c", "T05thread:1;swbreak:;");
	EXPECT(&s, "p10", "1d00100000000000");
	EXPECT(&s, "m100150,4", "03000000"); /* three #BPs counted */
	EXPECT(&s, "m10001a,1", "cc");        /* the guest's own INT3 */
	CHECK(s.g->int3_passed == 3);
	EXPECT(&s, "z0,10001d,1", "OK");
	EXPECT(&s, "c", "W03");
	finish(&s, VMM_GDB_EXITED);
	printf("int3: %llu guest INT3s re-injected, count %d\n",
	       (unsigned long long)s.g->int3_passed, vmm_gdb_exit_code(s.g));
	vmm_gdb_destroy(s.g);
	vmm_vm_destroy(vm);
}

/* 2. Z1-Z4 */
static void test_hw(void)
{
	struct vmm_cpu_state st;
	struct sess s;
	vmm_vcpu *cpu;
	vmm_vm *vm = make_vm(image, sizeof(image), &cpu);

	CHECK(vm);
	if (!vm)
		return;
	/* the guest's own DR0/DR7 values survive the debugger's slots */
	CHECK(vmm_vcpu_get_state(cpu, &st) == 0);
	st.dr[0] = 0x123450;
	st.dr[3] = 0x6789a0;
	CHECK(vmm_vcpu_set_state(cpu, &st) == 0);
	if (start(&s, vm) < 0) {
		fails++;
		return;
	}
	/* write watch: stops after the handler's inc, old 0 -> new 1 */
	EXPECT(&s, "Z2,100150,4", "OK");
	EXPECT(&s, "c", "T05thread:1;watch:100150;");
	EXPECT(&s, "p10", "2c00100000000000");
	EXPECT(&s, "m100150,4", "01000000");
	/* hbreak: before the instruction at 0x10001d */
	EXPECT(&s, "z2,100150,4", "OK");
	EXPECT(&s, "Z1,10001d,1", "OK");
	EXPECT(&s, "c", "T05thread:1;hwbreak:;");
	EXPECT(&s, "p10", "1d00100000000000");
	EXPECT(&s, "m100150,4", "03000000");
	/* read watch: the load at 0x10001d, reported after it (the hbreak
	 * at the current RIP does not stop again) */
	EXPECT(&s, "Z3,100150,4", "OK");
	EXPECT(&s, "c", "T05thread:1;rwatch:100150;");
	EXPECT(&s, "p10", "2200100000000000");
	EXPECT(&s, "p0", "0300000000000000"); /* eax = the count */
	/* four slots, no fifth; bad lengths and alignment are refused */
	EXPECT(&s, "Z4,100158,8", "OK");
	EXPECT(&s, "Z2,100160,2", "OK");
	EXPECT(&s, "Z2,100170,4", "E1c");
	EXPECT(&s, "Z4,100158,8", "OK"); /* the same one again: no new slot */
	EXPECT(&s, "z4,100158,8", "OK");
	EXPECT(&s, "Z2,100171,4", "E16");
	EXPECT(&s, "Z2,100170,3", "E16");
	EXPECT(&s, "z2,100200,4", "E02");
	EXPECT(&s, "Z5,100200,4", "");
	EXPECT(&s, "z1,10001d,1", "OK");
	EXPECT(&s, "z3,100150,4", "OK");
	EXPECT(&s, "z2,100160,2", "OK");
	CHECK(vmm_vcpu_get_state(cpu, &st) == 0);
	CHECK(st.dr[0] == 0x123450 && st.dr[3] == 0x6789a0);
	EXPECT(&s, "c", "W03");
	finish(&s, VMM_GDB_EXITED);
	vmm_gdb_destroy(s.g);
	vmm_vm_destroy(vm);
}

/*
 * 3. The guest's own debug registers keep working beside the debugger's:
 *  00 mov esp, 0x100800; mov ax, cs; mov [0x10010a], ax; lidt [0x100140]
 *  15 mov eax, 0x100158; mov dr0, eax
 *  1d mov eax, 0xd0001; mov dr7, eax     (L0, write, 4 bytes)
 *  25 mov dword [0x100158], 7            (the guest's #DB and gdb's watch)
 *  2f mov eax, [0x100154]; out 0xf4, al; jmp $
 *  38 #DB handler: inc dword [0x100154]; iretd
 */
static void test_guest_dr(void)
{
	static const uint8_t code[] = {
		0xbc, 0x00, 0x08, 0x10, 0x00, 0x66, 0x8c, 0xc8,
		0x66, 0xa3, 0x0a, 0x01, 0x10, 0x00,
		0x0f, 0x01, 0x1d, 0x40, 0x01, 0x10, 0x00,
		0xb8, 0x58, 0x01, 0x10, 0x00, 0x0f, 0x23, 0xc0,
		0xb8, 0x01, 0x00, 0x0d, 0x00, 0x0f, 0x23, 0xf8,
		0xc7, 0x05, 0x58, 0x01, 0x10, 0x00, 0x07, 0x00, 0x00, 0x00,
		0xa1, 0x54, 0x01, 0x10, 0x00, 0xe6, 0xf4, 0xeb, 0xfe,
		0xff, 0x05, 0x54, 0x01, 0x10, 0x00, 0xcf,
	};
	static const uint8_t gate[8] = { 0x38, 0x00, 0x00, 0x00,
					 0x00, 0x8e, 0x10, 0x00 };
	static const uint8_t idtr[6] = { 0x1f, 0x00, 0x00, 0x01, 0x10, 0x00 };
	static uint8_t img[0x15c];
	struct vmm_cpu_state st;
	struct sess s;
	vmm_vcpu *cpu;
	vmm_vm *vm;

	memcpy(img, code, sizeof(code));
	memcpy(img + 0x108, gate, sizeof(gate));
	memcpy(img + 0x140, idtr, sizeof(idtr));
	vm = make_vm(img, sizeof(img), &cpu);
	CHECK(vm);
	if (!vm || start(&s, vm) < 0) {
		fails++;
		return;
	}
	EXPECT(&s, "Z2,100158,4", "OK");
	/* gdb's watch stops once the guest's #DB is on its way (RIP at the
	 * guest's handler) */
	EXPECT(&s, "c", "T05thread:1;watch:100158;");
	EXPECT(&s, "p10", "3800100000000000");
	CHECK(vmm_vcpu_get_state(cpu, &st) == 0);
	CHECK(st.dr[0] == 0x100158);
	CHECK((st.dr7 & 0xffff0003) == 0xd0001);
	CHECK(st.dr6 & 1); /* the guest's B0 */
	EXPECT(&s, "z2,100158,4", "OK");
	EXPECT(&s, "c", "W01"); /* the guest counted its own #DB once */
	finish(&s, VMM_GDB_EXITED);
	vmm_gdb_destroy(s.g);
	vmm_vm_destroy(vm);
}

/*
 * KVM: can this host trap the guest's INT3 and a debugger exec slot at
 * CPL0?  Guest: nop; int3; nop; out 0xf4, al; jmp $ (no IDT: a #BP that
 * is delivered to the guest triple-faults).  Returns NULL when it can,
 * else the reason.
 */
static const char *kvm_probe(void)
{
	static const uint8_t g[] = { 0x90, 0xcc, 0x90, 0xe6, 0xf4, 0xeb, 0xfe };
	static char why[160];
	struct vmm_hw_bp bp = { .addr = BASE + 2, .kind = VMM_HWBP_EXEC,
				.len = 1 };
	struct vmm_exit e;
	vmm_vcpu *cpu;
	vmm_vm *vm = make_vm(g, sizeof(g), &cpu);
	int r;

	if (!vm)
		return "cannot create a KVM VM";
	r = vmm_vcpu_set_sw_breakpoints(cpu, true);
	if (r == 0)
		r = vmm_vcpu_set_hw_breakpoints(cpu, &bp, 1);
	if (r < 0) {
		snprintf(why, sizeof(why), "KVM_SET_GUEST_DEBUG: %s",
			 strerror(-r));
		goto out;
	}
	r = vmm_vcpu_run_loop(cpu, &e);
	if (r < 0 || e.kind != VMM_EXIT_DEBUG || e.debug.exception != 3 ||
	    e.debug.pc != BASE + 1) {
		snprintf(why, sizeof(why), "an INT3 at CPL0 with "
			 "KVM_GUESTDBG_USE_SW_BP did not exit as a #BP debug "
			 "exit (run %d, exit kind %d%s)", r, (int)e.kind,
			 e.kind == VMM_EXIT_INTERNAL ? ": internal error, the "
			 "host could not emulate it" :
			 e.kind == VMM_EXIT_SHUTDOWN ? ": shutdown" : "");
		goto out;
	}
	{
		struct vmm_cpu_state st;
		if (vmm_vcpu_get_state(cpu, &st) < 0)
			goto fail;
		st.rip = BASE + 2;
		if (vmm_vcpu_set_state(cpu, &st) < 0)
			goto fail;
	}
	r = vmm_vcpu_run_loop(cpu, &e);
	if (r < 0 || e.kind != VMM_EXIT_DEBUG || e.debug.exception != 1 ||
	    !(e.debug.dr6 & 1)) {
		snprintf(why, sizeof(why), "a KVM_GUESTDBG_USE_HW_BP exec "
			 "breakpoint at CPL0 did not exit (run %d, exit kind "
			 "%d)", r, (int)e.kind);
		goto out;
	}
	vmm_vm_destroy(vm);
	return NULL;
fail:
	snprintf(why, sizeof(why), "state access failed");
out:
	vmm_vm_destroy(vm);
	return why;
}

int main(int argc, char **argv)
{
	bool probe_only = argc == 3 && strcmp(argv[2], "probe") == 0;

	if ((argc != 2 && !probe_only) ||
	    (strcmp(argv[1], "soft") && strcmp(argv[1], "kvm"))) {
		fprintf(stderr, "usage: test_gdb_hw soft|kvm [probe]\n");
		return 2;
	}
	backend = strcmp(argv[1], "kvm") ? VMM_BACKEND_SOFT : VMM_BACKEND_KVM;
	if (backend == VMM_BACKEND_KVM) {
		const char *why;
		char no[160];
		if (vmm_backend_probe(VMM_BACKEND_KVM, no, sizeof(no))) {
			printf("SKIP: no KVM: %s\n", no);
			return 77;
		}
		why = kvm_probe();
		if (why) {
			printf("SKIP: this host's KVM cannot debug CPL0 guest "
			       "code: %s\n", why);
			return 77;
		}
	}
	if (probe_only)
		return 0; /* for gdb-hw-interop.sh: the host can */
	build_image();
	test_int3();
	test_hw();
	if (backend == VMM_BACKEND_SOFT)
		test_guest_dr(); /* KVM: the debugger's DRs replace the
				    guest's while set (docs/debugging.md) */
	printf("%s: %d failure(s)\n", argv[1], fails);
	return fails ? 1 : 0;
}
