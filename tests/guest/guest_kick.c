/* SPDX-License-Identifier: MIT */
/*
 * guest_kick - the "loop" guest spins at CPL3 forever; vmm_vcpu_kick() from
 * a timer thread must stop it (VMM_EXIT_INTERRUPTED), it must resume where
 * it was and be stopped again, and a kick sent while the vCPU is not
 * running must make the next run return at once.  The guest counts in R15,
 * so the state shows it made progress between kicks.
 *
 *   guest_kick BACKEND LOOP_IMAGE EXPECTED_FILE
 */
#include "harness.h"

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
