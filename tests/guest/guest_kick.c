/* SPDX-License-Identifier: MIT */
/*
 * guest_kick - the "loop" guest spins at CPL3 forever; vmm_vcpu_kick() from
 * a timer thread must stop it (VMM_EXIT_INTERRUPTED), it must resume where
 * it was and be stopped again, and a kick sent while the vCPU is not
 * running must make the next run return at once.  Signals without a kick
 * (a handled signal, or the kernel's notify-signal task work, which make
 * KVM_RUN return EINTR) must not stop it: only the kick does.  The guest
 * counts in R15, so the state shows it made progress between kicks.
 *
 *   guest_kick BACKEND LOOP_IMAGE EXPECTED_FILE
 */
#include "harness.h"

#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct kicker {
	struct gh_vm *g;
	const char *wait_for; /* output to wait for before the delay, or NULL */
	int delay_ms;
	double kicked_at;
	int rc;
	pthread_t thread;
};

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0)
		;
}

static void *kick_thread(void *arg)
{
	struct kicker *k = arg;

	for (int i = 0; k->wait_for && i < 10000; i++) {
		char *out = gh_output(k->g);
		bool seen = strstr(out, k->wait_for) != NULL;
		free(out);
		if (seen)
			break;
		sleep_ms(1);
	}
	sleep_ms(k->delay_ms);
	k->kicked_at = gh_now();
	k->rc = vmm_vcpu_kick(k->g->vcpu);
	return NULL;
}

/* Signals the vCPU thread @n times, @ms apart, then kicks it. */
struct pester {
	struct gh_vm *g;
	pthread_t target, thread;
	int n, ms, rc;
	double kicked_at;
};

static void noop_handler(int sig)
{
	(void)sig;
}

static void *pester_thread(void *arg)
{
	struct pester *ps = arg;

	sleep_ms(20);
	for (int i = 0; i < ps->n; i++) {
		pthread_kill(ps->target, SIGUSR1);
		sleep_ms(ps->ms);
	}
	ps->kicked_at = gh_now();
	ps->rc = vmm_vcpu_kick(ps->g->vcpu);
	return NULL;
}

static void start_kicker(struct kicker *k, struct gh_vm *g,
			 const char *wait_for, int delay_ms)
{
	memset(k, 0, sizeof(*k));
	k->g = g;
	k->wait_for = wait_for;
	k->delay_ms = delay_ms;
	if (pthread_create(&k->thread, NULL, kick_thread, k))
		gh_fail(g, "pthread_create");
}

static uint64_t counter(struct gh_vm *g, struct vmm_cpu_state *st)
{
	GH_OK(g, vmm_vcpu_get_state(g->vcpu, st));
	return st->gpr[VMM_R15];
}

/* Run until a kick stops the guest; returns the latency after the kick. */
static double run_until_kicked(struct gh_vm *g, struct kicker *k)
{
	struct vmm_exit exit;
	char desc[160];

	gh_run(g, &exit);
	double back = gh_now();
	pthread_join(k->thread, NULL);
	GH_CHECK(g, k->rc == 0, "vmm_vcpu_kick returned %d", k->rc);
	GH_CHECK(g, exit.kind == VMM_EXIT_INTERRUPTED,
		 "expected an interrupted exit, got %s",
		 gh_describe_exit(&exit, desc, sizeof(desc)));
	return back - k->kicked_at;
}

int main(int argc, char **argv)
{
	enum vmm_backend b = gh_init(argc, argv, 4, "LOOP_IMAGE EXPECTED_FILE");
	char *expected = gh_read_file(argv[3], NULL);
	struct gh_vm g;
	struct kicker k;
	struct vmm_cpu_state st;
	struct vmm_exit exit;
	char desc[160];

	gh_create(&g, "loop", b, 0, GH_RAM_DEFAULT);
	gh_load(&g, argv[2]);

	/* 1. A kick stops the running guest. */
	start_kicker(&k, &g, "looping", 50);
	double lat1 = run_until_kicked(&g, &k);
	gh_expect_output(&g, expected);
	uint64_t c1 = counter(&g, &st);
	GH_CHECK(&g, (st.seg[VMM_CS].selector & 3) == 3,
		 "stopped at CPL %u, expected 3", st.seg[VMM_CS].selector & 3);
	GH_CHECK(&g, st.msr.efer & VMM_EFER_LMA, "not in long mode");
	GH_CHECK(&g, c1 > 0, "the guest's counter did not move");

	/* 2. It resumes where it was and is stopped again. */
	double t0 = gh_now();
	start_kicker(&k, &g, NULL, 50);
	double lat2 = run_until_kicked(&g, &k);
	double t1 = gh_now();
	uint64_t c2 = counter(&g, &st);
	GH_CHECK(&g, c2 > c1, "no progress after resuming: %llu -> %llu",
		 (unsigned long long)c1, (unsigned long long)c2);

	/* 3. A kick while not running makes the next run return at once. */
	GH_OK(&g, vmm_vcpu_kick(g.vcpu));
	double t2 = gh_now();
	gh_run(&g, &exit);
	double t3 = gh_now();
	GH_CHECK(&g, exit.kind == VMM_EXIT_INTERRUPTED,
		 "a pending kick was lost: got %s",
		 gh_describe_exit(&exit, desc, sizeof(desc)));
	GH_CHECK(&g, t3 - t2 < 1.0, "the pending kick took %.3f s", t3 - t2);
	uint64_t c3 = counter(&g, &st);

	/* 4. The kick was consumed: the guest runs again until kicked. */
	start_kicker(&k, &g, NULL, 20);
	double t4 = gh_now();
	run_until_kicked(&g, &k);
	double t5 = gh_now();
	GH_CHECK(&g, t5 - t4 >= 0.015, "returned after %.3f s, before the "
		 "kick", t5 - t4);
	uint64_t c4 = counter(&g, &st);
	GH_CHECK(&g, c4 > c3, "no progress after the pending kick");

	/* 5. Signals without a kick do not stop it (no SA_RESTART: the
	 * interrupted KVM_RUN returns EINTR each time); the kick does. */
	struct sigaction sa;
	struct pester ps = { .g = &g, .target = pthread_self(), .n = 40,
			     .ms = 2 };
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = noop_handler;
	sigaction(SIGUSR1, &sa, NULL);
	if (pthread_create(&ps.thread, NULL, pester_thread, &ps))
		gh_fail(&g, "pthread_create");
	gh_run(&g, &exit);
	double t6 = gh_now();
	pthread_join(ps.thread, NULL);
	GH_CHECK(&g, ps.rc == 0, "vmm_vcpu_kick returned %d", ps.rc);
	GH_CHECK(&g, exit.kind == VMM_EXIT_INTERRUPTED,
		 "expected the kick's interrupted exit, got %s",
		 gh_describe_exit(&exit, desc, sizeof(desc)));
	GH_CHECK(&g, t6 >= ps.kicked_at,
		 "a signal without a kick stopped the vCPU");
	uint64_t c5 = counter(&g, &st);
	GH_CHECK(&g, c5 > c4, "no progress while signalled");

	char *out = gh_output(&g);
	GH_CHECK(&g, !strcmp(out, "loop: at CPL3, looping\n"),
		 "the guest printed more than its one line");
	free(out);
	printf("kick latency %.3f ms / %.3f ms; pending kick returned in %.3f "
	       "ms (%llu iterations); %.0f M iterations/s at CPL3 on %s\n",
	       lat1 * 1e3, lat2 * 1e3, (t3 - t2) * 1e3,
	       (unsigned long long)(c3 - c2), (c2 - c1) / (t1 - t0) / 1e6,
	       vmm_backend_name(vmm_vm_backend(g.vm)));
	free(expected);
	gh_destroy(&g);
	return 0;
}
