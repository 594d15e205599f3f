/* SPDX-License-Identifier: MIT */
/*
 * guest_two_vms - isolation: two VMs in one process on two threads.  One
 * thread creates, triple-faults and destroys VMs over and over while the
 * other runs the long64 demo guest to completion; the long64 VM must give
 * exactly its expected output and status, and every triple-faulting VM its
 * own one line and a shutdown.
 *
 *   guest_two_vms BACKEND TRIPLEFAULT LONG64 LONG64_EXPECTED
 */
#include "harness.h"

#include <stdatomic.h>
#include <string.h>

static enum vmm_backend backend;
static const char *tf_image, *l64_image;
static char *l64_expected;
static pthread_barrier_t start;
static atomic_bool l64_done;
static unsigned tf_runs;

static void *faulter(void *arg)
{
	struct gh_vm *g = calloc(1, sizeof(*g));
	struct vmm_exit e;
	char desc[160];

	(void)arg;
	pthread_barrier_wait(&start);
	do {
		gh_create(g, "triplefault", backend, 0, 16ull << 20);
		gh_load(g, tf_image);
		gh_run(g, &e);
		GH_CHECK(g, e.kind == VMM_EXIT_SHUTDOWN, "got %s",
			 gh_describe_exit(&e, desc, sizeof(desc)));
		gh_expect_output(g, "triplefault: empty IDT loaded, executing "
				    "ud2\n");
		gh_destroy(g);
		tf_runs++;
	} while (!atomic_load(&l64_done) && tf_runs < 1000);
	free(g);
	return NULL;
}

static void *worker(void *arg)
{
	struct gh_vm *g = calloc(1, sizeof(*g));
	struct vmm_exit e;
	char desc[160];

	(void)arg;
	gh_create(g, "long64", backend, 0, GH_RAM_DEFAULT);
	gh_load(g, l64_image);
	pthread_barrier_wait(&start);
	gh_run(g, &e);
	GH_CHECK(g, e.kind == VMM_EXIT_GUEST_EXIT &&
			    e.guest.status == GH_STATUS_LONG64,
		 "got %s", gh_describe_exit(&e, desc, sizeof(desc)));
	gh_expect_output(g, l64_expected);
	atomic_store(&l64_done, true);
	gh_destroy(g);
	free(g);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t a, b;

	backend = gh_init(argc, argv, 5,
			  "TRIPLEFAULT LONG64 LONG64_EXPECTED");
	tf_image = argv[2];
	l64_image = argv[3];
	l64_expected = gh_read_file(argv[4], NULL);
	pthread_barrier_init(&start, NULL, 2);
	if (pthread_create(&a, NULL, faulter, NULL) ||
	    pthread_create(&b, NULL, worker, NULL)) {
		fprintf(stderr, "FAIL: pthread_create\n");
		return 1;
	}
	pthread_join(b, NULL);
	pthread_join(a, NULL);
	printf("long64 completed while %u triple-faulting VMs came and went\n",
	       tf_runs);
	if (tf_runs == 0) {
		fprintf(stderr, "FAIL: no triple-faulting VM ran\n");
		return 1;
	}
	free(l64_expected);
	return 0;
}
