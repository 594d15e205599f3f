/* SPDX-License-Identifier: MIT */
/*
 * harness.h - shared code of the guest tests: build a VM through the public
 * API only (as an outside embedder would), load a guest image from
 * tests/guests, run it, capture its UART output.
 *
 * Every test is a standalone program: argv[1] is the backend ("kvm",
 * "soft", "auto"; or env VMM_TEST_BACKEND), the rest are image paths and
 * expectations.  Exit 0 = pass, 1 = fail, 77 = skip (only when the backend
 * is absent: no /dev/kvm, or the software backend not built).  A watchdog
 * (alarm) fails a test whose guest hangs, after VMM_TEST_WATCHDOG seconds
 * (default 30), and prints what the guests wrote so far.
 */
#ifndef TESTS_GUEST_HARNESS_H
#define TESTS_GUEST_HARNESS_H

#include <libvmm/libvmm.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* What the guests do (tests/guests/lib/guest.h): exit values and ports. */
#define GH_STATUS(v) (((v) << 1) | 1)
#define GH_STATUS_REAL16 GH_STATUS(0x10)
#define GH_STATUS_PROT32 GH_STATUS(0x20)
#define GH_STATUS_LONG64 GH_STATUS(0x30)
#define GH_STATUS_MMIO GH_STATUS(0x40)
#define GH_STATUS_OOB GH_STATUS(0x50)
#define GH_UART_INIT_WRITES 7
#define GH_RAM_DEFAULT (64ull << 20)
#define GH_REAL16_LOAD 0x7c00

#define GH_OUT_MAX (64 * 1024)

struct gh_vm {
	const char *name;        /* label in messages */
	enum vmm_backend backend;
	vmm_vm *vm;
	vmm_vcpu *vcpu;
	vmm_dev *uart, *debug_exit;
	struct vmm_boot_info info;
	pthread_mutex_t lock;    /* out, out_len: the UART callback writes */
	char out[GH_OUT_MAX + 1];
	size_t out_len;
	bool out_overflow;
};

/*
 * gh_backend() - "kvm", "soft" or "auto" (else fail); exit 77 (skip) when
 * that backend is absent here: no /dev/kvm, or soft not built.  For tests
 * that use only this and gh_read_file() of the harness.
 */
enum vmm_backend gh_backend(const char *name);

/*
 * gh_init() - parse the backend from argv[1] (or VMM_TEST_BACKEND), skip
 * (exit 77) if it is absent here, check argc >= @min_argc (else print
 * @usage, exit 1), start the watchdog.  Returns the backend.
 */
enum vmm_backend gh_init(int argc, char **argv, int min_argc,
			 const char *usage);

/*
 * gh_create() - a VM on @backend with @flags (VMM_CFG_*), @ram bytes of RAM
 * at 0 (added with vmm_mem_add_ram), one vCPU, a UART at COM1 whose output
 * is captured in @g->out, and the debug-exit device at 0xf4.  Fails the
 * test on any error (on KVM, also when /dev/kvm exists but refuses).
 */
void gh_create(struct gh_vm *g, const char *name, enum vmm_backend backend,
	       uint32_t flags, uint64_t ram);

/*
 * gh_irqchip() - the interrupt controller mode gh_create() asks for:
 * env VMM_TEST_IRQCHIP = default (or unset), kernel, split or none (else
 * the test fails).  Lets meson run one test program per mode.
 */
enum vmm_irqchip_mode gh_irqchip(void);

/*
 * gh_load() - load the image at @path: a multiboot image with
 * vmm_image_load_multiboot(), anything else as a flat real-mode image at 0x7c00
 * (vmm_image_load_flat, VMM_BOOT_REAL16); then vmm_boot_setup_vcpu().
 */
void gh_load(struct gh_vm *g, const char *path);

/* gh_run() - one vmm_vcpu_run_loop(); fails the test if it returns < 0. */
void gh_run(struct gh_vm *g, struct vmm_exit *exit);

/* gh_destroy() - vmm_vm_destroy() and forget @g. */
void gh_destroy(struct gh_vm *g);

/* gh_output() - a NUL-terminated copy of the output so far (free it). */
char *gh_output(struct gh_vm *g);

/* gh_describe_exit() - "guest-exit status 97", "mmio write 0x... len 4". */
const char *gh_describe_exit(const struct vmm_exit *exit, char *buf,
			     size_t len);

/*
 * gh_match() - does @got match @expected, where "{n}" in @expected stands
 * for one or more hex/decimal digits (the convention of
 * tests/guests/expected/, shared with tests/guests/qemu_check.py)?
 */
bool gh_match(const char *expected, const char *got);

/* gh_read_file() - the whole file, NUL-terminated; fails the test if not. */
char *gh_read_file(const char *path, size_t *len);

/*
 * gh_expect_output() - fail unless @g's output matches the expected text
 * (gh_match); prints both on mismatch.
 */
void gh_expect_output(struct gh_vm *g, const char *expected);

/* gh_now() - monotonic seconds. */
double gh_now(void);

/* gh_fail() - print "FAIL: ..." with the VM's last error, exit(1). */
__attribute__((noreturn, format(printf, 2, 3))) void
gh_fail(struct gh_vm *g, const char *fmt, ...);

/* GH_CHECK(g, cond, fmt, ...) - gh_fail() unless @cond. */
#define GH_CHECK(g, cond, ...)                                                 \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			gh_fail(g, __VA_ARGS__);                               \
		}                                                              \
	} while (0)

/* GH_OK(g, call) - the call must return >= 0. */
#define GH_OK(g, call)                                                         \
	do {                                                                   \
		int gh_rc_ = (call);                                           \
		if (gh_rc_ < 0) {                                              \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__,     \
				#call);                                        \
			gh_fail(g, "returned %d (%s: %s)", gh_rc_,             \
				vmm_err_name(gh_rc_), vmm_strerror(gh_rc_));   \
		}                                                              \
	} while (0)

#endif
