/* SPDX-License-Identifier: MIT */
/*
 * livelock_watchdog.h - the fuzz harnesses' guard against guest livelocks.
 *
 * A guest can loop without a single exit or completed step - a fault
 * whose handler returns to the faulting instruction, an instruction
 * breakpoint on its own #DB handler: each delivery faults again, as on
 * hardware.  That is an architectural outcome, not a finding, so a
 * harness must bound it: it publishes the vCPU it runs (cpu) and bumps
 * gen at every exit; a thread kicks a vCPU whose gen did not move for a
 * whole 50 ms tick, and the harness ends the input after a few kicks
 * (VMM_EXIT_INTERRUPTED).  A VMM that ignores the kick still hangs and is
 * caught by libFuzzer's -timeout; inputs that exit normally are never
 * kicked.
 */
#ifndef FUZZ_LIVELOCK_WATCHDOG_H
#define FUZZ_LIVELOCK_WATCHDOG_H

#include <libvmm/libvmm.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

struct livelock_watchdog {
	vmm_vcpu *_Atomic cpu; /* the vCPU running an input, or NULL */
	_Atomic unsigned gen;  /* bumped at every exit and input start */
};

static inline void *livelock_watchdog_thread(void *arg)
{
	struct livelock_watchdog *w = arg;
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	unsigned last = 0;

	for (;;) {
		unsigned g;
		vmm_vcpu *c;

		nanosleep(&ts, NULL);
		g = atomic_load(&w->gen);
		c = atomic_load(&w->cpu);
		if (c && g == last)
			vmm_vcpu_kick(c);
		last = g;
	}
	return NULL;
}

/* Start the kicking thread for @w (once per process; aborts on failure). */
static inline void livelock_watchdog_start(struct livelock_watchdog *w)
{
	pthread_t th;

	if (pthread_create(&th, NULL, livelock_watchdog_thread, w))
		abort();
}

#endif
