/* SPDX-License-Identifier: MIT */
/*
 * livelock_watchdog.h - the fuzz harnesses' guard against guest livelocks.
 *
 * A guest can loop without a single exit or completed step - a fault
 * whose handler returns to the faulting instruction, an instruction
 * breakpoint on its own #DB handler: each delivery faults again, as on
 * hardware.  That is an architectural outcome, not a finding, so a
 * harness must bound it: it publishes the vCPU it runs (cpu) and bumps
 * gen at every exit; a thread kicks a vCPU whose gen did not move while
 * the thread running it used LIVELOCK_CPU_MS of CPU time, and the harness
 * ends the input after a few kicks (VMM_EXIT_INTERRUPTED).  A VMM that
 * ignores the kick still hangs and is caught by libFuzzer's -timeout;
 * inputs that exit normally are never kicked.
 *
 * CPU time of the vCPU's thread, not wall time: a wall-clock tick had to
 * be long (50 ms) for a fuzzer at nice 19 on a loaded machine, which may
 * wait that long for a core, and a livelocked input then spun for three
 * or four ticks: in fuzzing, the few livelocked inputs were most of the
 * machine targets' CPU time (fuzz_virtio_hdr: 533 executions per CPU
 * second in a campaign against ~20 k replaying the corpus).
 */
#ifndef FUZZ_LIVELOCK_WATCHDOG_H
#define FUZZ_LIVELOCK_WATCHDOG_H

#include <libvmm/libvmm.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#define LIVELOCK_CPU_MS 10

struct livelock_watchdog {
	vmm_vcpu *_Atomic cpu; /* the vCPU running an input, or NULL */
	_Atomic unsigned gen;  /* bumped at every exit and input start */
	clockid_t clk;         /* CPU clock of the thread that runs it */
};

static inline int64_t livelock_cpu_ns(clockid_t clk)
{
	struct timespec t;

	if (clock_gettime(clk, &t))
		abort();
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static inline void *livelock_watchdog_thread(void *arg)
{
	struct livelock_watchdog *w = arg;
	struct timespec ts = { 0, 2 * 1000 * 1000 };
	unsigned last = 0;
	int64_t since = 0;

	for (;;) {
		unsigned g;
		vmm_vcpu *c;
		int64_t now;

		nanosleep(&ts, NULL);
		g = atomic_load(&w->gen);
		c = atomic_load(&w->cpu);
		now = livelock_cpu_ns(w->clk);
		if (!c || g != last) {
			last = g;
			since = now;
		} else if (now - since >= LIVELOCK_CPU_MS * 1000000ll) {
			vmm_vcpu_kick(c);
			since = now;
		}
	}
	return NULL;
}

/* Start the kicking thread for @w (once per process; aborts on failure);
 * called on the thread that runs the vCPU. */
static inline void livelock_watchdog_start(struct livelock_watchdog *w)
{
	pthread_t th;

	if (pthread_getcpuclockid(pthread_self(), &w->clk) ||
	    pthread_create(&th, NULL, livelock_watchdog_thread, w))
		abort();
}

#endif
