/* SPDX-License-Identifier: MIT */
/*
 * test_dirty_order.c - the software backend's guest writes while dirty
 * pages are logged: a page's dirty bit must be set after the store lands
 * (also), not only before it.  Pre-copy migration fetches the log and
 * then copies the pages it names while the vCPU runs: a fetch between a
 * mark and its store clears the bit, the copy misses the store, and
 * nothing marks the page again - the destination keeps a stale page.
 *
 * The window is made deterministic with the code-page report that
 * vmm_gmem_host_ptr() makes for a write (where the dirty mark used to
 * be made, before it): the guest's store goes to a page it runs code
 * from, so between translating the address and storing, the vCPU clears
 * the page's code bit and takes the memory's code_lock.  The test holds
 * that lock, waits until the code bit is clear (the vCPU is there),
 * fetches the log as a pre-copy round would (with a mark made before the
 * store, the fetch takes and clears it), sees the old byte, lets the vCPU
 * go, and then expects the page in the next fetch with the new byte.
 */
#include "soft_test.h"

#include "core/vm_impl.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define TARGET (ENV_CODE + 0x800)
#define WORDS ((ENV_RAM / 4096 + 63) / 64)

/* 64-bit: mov byte [rip + 0x7f9], 0x5a (= TARGET); hlt; then at
 * ENV_CODE + 8 (HLT_AT), run first to make the page a code page: hlt */
static const uint8_t store64[] = { 0xc6, 0x05, 0xf9, 0x07, 0x00, 0x00, 0x5a,
				   0xf4, 0xf4 };
/* 32-bit: mov byte [0x10800], 0x5a; hlt; hlt */
static const uint8_t store32[] = { 0xc6, 0x05, 0x00, 0x08, 0x01, 0x00, 0x5a,
				   0xf4, 0xf4 };
#define HLT_AT (ENV_CODE + 8)

struct runner {
	struct tvm *t;
	struct vmm_exit e;
	int ret;
};

static void *run_thread(void *arg)
{
	struct runner *r = arg;

	r->ret = vmm_vcpu_run(r->t->cpu, &r->e);
	return NULL;
}

static bool page_dirty(struct tvm *t, uint64_t gpa)
{
	uint64_t bm[WORDS] = { 0 };
	uint64_t p = gpa / 4096;

	assert_true(vmm_mem_dirty_fetch(t->vm, 0, bm, WORDS) >= 0);
	return bm[p / 64] & (1ull << (p % 64));
}

static void one(enum env_mode mode, const uint8_t *code, size_t len)
{
	struct tvm t;
	struct runner r = { .t = &t };
	struct timespec ts = { 0, 1000000 };
	struct vmm_gmem_region *reg;
	uint64_t pg;
	pthread_t th;
	uint8_t b = 0;
	bool seen = false;

	tvm_create(&t, 0);
	tvm_setup(&t, mode, 0, code, len);
	/* a block translated from the page makes it a code page */
	t.st.rip = HLT_AT;
	tvm_set(&t);
	assert_int_equal(tvm_run(&t).kind, VMM_EXIT_HLT);
	pthread_rwlock_rdlock(&t.vm->mem.lock);
	reg = vmm_gmem_find(&t.vm->mem, TARGET);
	pthread_rwlock_unlock(&t.vm->mem.lock);
	assert_non_null(reg);
	pg = (TARGET - reg->gpa) / 4096;
	assert_true(atomic_load(&reg->code[pg / 64]) & (1ull << (pg % 64)));
	t.st.rip = ENV_CODE;
	tvm_set(&t);
	assert_int_equal(vmm_mem_dirty_log(t.vm, true), 0);
	(void)page_dirty(&t, TARGET); /* the log starts empty */

	pthread_mutex_lock(&t.vm->mem.code_lock);
	assert_int_equal(pthread_create(&th, NULL, run_thread, &r), 0);
	/* the vCPU translates the store's address and reports the code
	 * page: it clears the code bit, then waits for code_lock */
	for (int i = 0; i < 20000 && !seen; i++) {
		seen = !(atomic_load(&reg->code[pg / 64]) & (1ull << (pg % 64)));
		if (!seen)
			nanosleep(&ts, NULL);
	}
	assert_true(seen);
	/* a pre-copy round between the translation and the store: it
	 * takes any mark made so far and copies the page */
	(void)page_dirty(&t, TARGET);
	assert_int_equal(vmm_mem_read(t.vm, TARGET, &b, 1), 0);
	assert_int_equal(b, 0); /* the copy the round makes: no store yet */
	pthread_mutex_unlock(&t.vm->mem.code_lock);
	pthread_join(th, NULL);
	assert_int_equal(r.ret, 0);
	assert_int_equal(r.e.kind, VMM_EXIT_HLT);

	assert_int_equal(vmm_mem_read(t.vm, TARGET, &b, 1), 0);
	assert_int_equal(b, 0x5a);
	/* the store landed after that round: the next one must see it */
	assert_true(page_dirty(&t, TARGET));
	tvm_destroy(&t);
}

static void test_store_long64(void **state)
{
	(void)state;
	one(ENV_LONG64, store64, sizeof(store64));
}

static void test_store_prot32(void **state)
{
	(void)state;
	one(ENV_PROT32, store32, sizeof(store32));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_long64),
		cmocka_unit_test(test_store_prot32),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
