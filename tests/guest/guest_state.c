/* SPDX-License-Identifier: MIT */
/*
 * guest_state - vCPU state get/set round trips: get, set the same state,
 * get again; the fields every backend guarantees must be equal.  Done at
 * three points: a real-mode entry (real16), a 32-bit multiboot entry
 * (long64 before it runs) and in the middle of a 64-bit CPL3 guest stopped
 * by a kick (loop).  Then a changed register (R15, the loop's counter) must
 * reach the guest: it continues counting from the new value.
 *
 *   guest_state BACKEND REAL16 LONG64 LOOP
 */
#include "harness.h"

#include <errno.h>
#include <string.h>
#include <time.h>

static const char *const seg_names[] = {"es", "cs", "ss", "ds",
					"fs", "gs", "ldtr", "tr"};
static const char *const gpr_names[] = {
	"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};

static int diffs;

#define SAME(what, a, b)                                                       \
	do {                                                                   \
		if ((uint64_t)(a) != (uint64_t)(b)) {                          \
			fprintf(stderr, "  %s: 0x%llx != 0x%llx\n", what,      \
				(unsigned long long)(a),                       \
				(unsigned long long)(b));                      \
			diffs++;                                               \
		}                                                              \
	} while (0)

static void compare(const struct vmm_cpu_state *a,
		    const struct vmm_cpu_state *b)
{
	char what[32];

	diffs = 0;
	for (int i = 0; i < VMM_NR_GPRS; i++)
		SAME(gpr_names[i], a->gpr[i], b->gpr[i]);
	SAME("rip", a->rip, b->rip);
	SAME("rflags", a->rflags, b->rflags);
	for (int i = 0; i < VMM_NR_SREGS; i++) {
		const struct vmm_segment *x = &a->seg[i], *y = &b->seg[i];
#define SEGF(f)                                                                \
	snprintf(what, sizeof(what), "%s.%s", seg_names[i], #f);               \
	SAME(what, x->f, y->f)
		SEGF(selector);
		SEGF(unusable);
		if (x->unusable && y->unusable)
			continue;
		SEGF(base);
		SEGF(limit);
		SEGF(type);
		SEGF(s);
		SEGF(dpl);
		SEGF(present);
		SEGF(l);
		SEGF(db);
		SEGF(g);
#undef SEGF
	}
	SAME("gdtr.base", a->gdtr.base, b->gdtr.base);
	SAME("gdtr.limit", a->gdtr.limit, b->gdtr.limit);
	SAME("idtr.base", a->idtr.base, b->idtr.base);
	SAME("idtr.limit", a->idtr.limit, b->idtr.limit);
	SAME("cr0", a->cr0, b->cr0);
	SAME("cr2", a->cr2, b->cr2);
	SAME("cr3", a->cr3, b->cr3);
	SAME("cr4", a->cr4, b->cr4);
	SAME("efer", a->msr.efer, b->msr.efer);
	SAME("dr7", a->dr7, b->dr7);
	SAME("mp_state", a->mp_state, b->mp_state);
}

static void round_trip(struct gh_vm *g, const char *when,
		       struct vmm_cpu_state *out)
{
	struct vmm_cpu_state *s1 = calloc(1, sizeof(*s1));
	struct vmm_cpu_state *s2 = calloc(1, sizeof(*s2));

	GH_CHECK(g, s1 && s2, "out of memory");
	GH_OK(g, vmm_vcpu_get_state(g->vcpu, s1));
	GH_CHECK(g, s1->version == VMM_CPU_STATE_VERSION, "state version %u",
		 s1->version);
	GH_OK(g, vmm_vcpu_set_state(g->vcpu, s1));
	GH_OK(g, vmm_vcpu_get_state(g->vcpu, s2));
	compare(s1, s2);
	GH_CHECK(g, diffs == 0, "%s: %d fields changed by a get/set/get round "
		 "trip", when, diffs);
	printf("%s: get/set/get round trip equal (rip 0x%llx cr0 0x%llx efer "
	       "0x%llx cs 0x%x)\n",
	       when, (unsigned long long)s1->rip, (unsigned long long)s1->cr0,
	       (unsigned long long)s1->msr.efer, s1->seg[VMM_CS].selector);
	if (out)
		*out = *s1;
	free(s1);
	free(s2);
}

struct kicker {
	vmm_vcpu *vcpu;
	int delay_ms;
};

static void *kick_after(void *arg)
{
	struct kicker *k = arg;
	struct timespec ts = {0, (long)k->delay_ms * 1000000};

	while (nanosleep(&ts, &ts) < 0)
		;
	vmm_vcpu_kick(k->vcpu);
	return NULL;
}

static void run_kicked(struct gh_vm *g, int delay_ms)
{
	struct kicker k = {g->vcpu, delay_ms};
	struct vmm_exit e;
	pthread_t t;
	char desc[160];

	GH_CHECK(g, pthread_create(&t, NULL, kick_after, &k) == 0,
		 "pthread_create");
	gh_run(g, &e);
	pthread_join(t, NULL);
	GH_CHECK(g, e.kind == VMM_EXIT_INTERRUPTED, "got %s",
		 gh_describe_exit(&e, desc, sizeof(desc)));
}

int main(int argc, char **argv)
{
	enum vmm_backend b = gh_init(argc, argv, 5, "REAL16 LONG64 LOOP");
	struct vmm_cpu_state *st = calloc(1, sizeof(*st));
	struct gh_vm g;

	/* Real-mode entry. */
	gh_create(&g, "real16", b, 0, GH_RAM_DEFAULT);
	gh_load(&g, argv[2]);
	round_trip(&g, "real16 entry", st);
	GH_CHECK(&g, !(st->cr0 & VMM_CR0_PE), "real16 entry with CR0.PE set");
	GH_CHECK(&g, st->seg[VMM_CS].base + (uint16_t)st->rip ==
			     GH_REAL16_LOAD,
		 "real16 entry at cs.base 0x%llx + ip 0x%llx",
		 (unsigned long long)st->seg[VMM_CS].base,
		 (unsigned long long)st->rip);
	gh_destroy(&g);

	/* 32-bit multiboot entry of a 64-bit guest. */
	gh_create(&g, "long64", b, 0, GH_RAM_DEFAULT);
	gh_load(&g, argv[3]);
	round_trip(&g, "multiboot entry", st);
	GH_CHECK(&g, (st->cr0 & (VMM_CR0_PE | VMM_CR0_PG)) == VMM_CR0_PE,
		 "multiboot entry: cr0 0x%llx", (unsigned long long)st->cr0);
	GH_CHECK(&g, (uint32_t)st->gpr[VMM_RAX] == 0x2badb002,
		 "multiboot entry: eax 0x%llx",
		 (unsigned long long)st->gpr[VMM_RAX]);
	GH_CHECK(&g, st->rip == g.info.entry, "entry rip 0x%llx, info 0x%llx",
		 (unsigned long long)st->rip,
		 (unsigned long long)g.info.entry);
	gh_destroy(&g);

	/* 64-bit CPL3, stopped by a kick. */
	gh_create(&g, "loop", b, 0, GH_RAM_DEFAULT);
	gh_load(&g, argv[4]);
	run_kicked(&g, 100);
	round_trip(&g, "64-bit CPL3 after a kick", st);
	GH_CHECK(&g, (st->seg[VMM_CS].selector & 3) == 3 &&
			     st->seg[VMM_CS].l && (st->msr.efer & VMM_EFER_LMA) &&
			     (st->cr0 & VMM_CR0_PG) && (st->cr4 & VMM_CR4_PAE),
		 "not in 64-bit CPL3 (cs 0x%x l %u efer 0x%llx)",
		 st->seg[VMM_CS].selector, st->seg[VMM_CS].l,
		 (unsigned long long)st->msr.efer);
	uint64_t before = st->gpr[VMM_R15];
	GH_CHECK(&g, before > 0 && before < (1ull << 60),
		 "loop counter r15 = 0x%llx", (unsigned long long)before);

	/* A changed register reaches the guest. */
	const uint64_t base = 1ull << 60;
	st->gpr[VMM_R15] = base;
	GH_OK(&g, vmm_vcpu_set_state(g.vcpu, st));
	run_kicked(&g, 20);
	GH_OK(&g, vmm_vcpu_get_state(g.vcpu, st));
	GH_CHECK(&g, st->gpr[VMM_R15] > base,
		 "r15 0x%llx: the guest did not continue from the set value",
		 (unsigned long long)st->gpr[VMM_R15]);
	printf("set r15 = 2^60, the guest counted on to 2^60 + %llu\n",
	       (unsigned long long)(st->gpr[VMM_R15] - base));

	/* A state from an unknown version is refused. */
	st->version = VMM_CPU_STATE_VERSION + 100;
	GH_CHECK(&g, vmm_vcpu_set_state(g.vcpu, st) == -EINVAL,
		 "an unknown state version was accepted");
	gh_destroy(&g);
	free(st);
	return 0;
}
