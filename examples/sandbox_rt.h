/* SPDX-License-Identifier: MIT */
/*
 * sandbox_rt.h - a function sandbox on libvmm's public API: load a guest
 * image built with the guest runtime (guest/), call its sandbox_call() with
 * an input buffer, get the output back; every call starts from the pristine
 * state the guest had when it became ready, with a time limit and a memory
 * limit.  Used by examples/sandbox.c, tests/sandbox and vmm-bench.
 *
 *   struct sb_config cfg; sb_config_init(&cfg);
 *   struct sb *sb;
 *   sb_create(&cfg, image, image_len, &sb);
 *   struct sb_result r;
 *   sb_call(sb, "hello", 5, out, sizeof(out), &r);   // r.status, r.out_len
 *   sb_destroy(sb);
 *
 * Reset: once the guest is ready, sb_create() takes a libvmm snapshot
 * (include/libvmm/snapshot.h) into an anonymous memory file (memfd, or an
 * O_TMPFILE file: no path is left behind) with dirty logging on; every
 * call starts with vmm_snapshot_reset(), which copies back only the pages
 * written since the last reset (guest writes and the host's own, e.g. the
 * input) and reloads the vCPU and the hypercall device's state.
 */
#ifndef EXAMPLES_SANDBOX_RT_H
#define EXAMPLES_SANDBOX_RT_H

#include <libvmm/libvmm.h>

struct sb;

struct sb_config {
	enum vmm_backend backend;
	uint64_t mem_limit;      /* guest RAM = the memory limit (>= 4 MiB) */
	unsigned time_limit_ms;  /* per call; 0 = none */
	/* console output of the guest (SB_NR_PRINT); NULL = dropped */
	void (*print)(void *opaque, const char *s, size_t len);
	void *print_opaque;
};

void sb_config_init(struct sb_config *cfg);

/*
 * sb_create() - a VM with the guest @img (a multiboot image from the guest
 * runtime), booted until it is ready for calls; its pristine state saved.
 * Returns 0 or a negative errno; @why (if non-NULL) gets a message.
 */
int sb_create(const struct sb_config *cfg, const void *img, size_t len,
	      struct sb **out, char *why, size_t why_len);

/* What a call produced. */
struct sb_result {
	int64_t status;     /* sandbox_call()'s return value */
	size_t out_len;     /* output bytes (may exceed the buffer: truncated) */
	uint64_t exits;     /* vCPU exits during the call */
	uint64_t dirty_pages; /* pages restored by the reset before the call */
	/* on -EFAULT (guest exception): vector, error code, RIP, CR2 */
	uint64_t fault[4];
	char why[128];      /* for failures: what happened */
};

/*
 * sb_call() - reset to the pristine state, run one call with @in.
 * Returns 0 when the guest returned (r->status is its status), or:
 * -ETIMEDOUT (time limit hit: the vCPU was kicked), -ENOMEM (the guest
 * touched memory beyond its limit), -EFAULT (an exception in the guest),
 * -E2BIG (input larger than the guest accepts), -EIO (any other way the
 * guest stopped, e.g. I/O to a port with nothing behind it, shutdown),
 * or a libvmm error.  The sandbox stays usable after any of these.
 */
int sb_call(struct sb *sb, const void *in, size_t in_len, void *out,
	    size_t out_cap, struct sb_result *r);

/* Register an extra host function the guest may call (vmm_hc_register). */
int sb_register(struct sb *sb, uint32_t nr, const char *name,
		const struct vmm_hc_sig *sig, vmm_hc_fn fn, void *opaque);

/* sb_vm() - the VM, e.g. for vmm_vm_get_stats() or vmm_seccomp_apply(). */
vmm_vm *sb_vm(struct sb *sb);

struct sb_stats {
	uint64_t calls, ok, timeouts, mem_faults, faults, other_errors;
	uint64_t resets, pages_restored;
	struct vmm_hc_stats hc;
};
void sb_stats(struct sb *sb, struct sb_stats *st);

void sb_destroy(struct sb *sb);

#endif
