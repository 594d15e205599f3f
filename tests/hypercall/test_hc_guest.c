/* SPDX-License-Identifier: MIT */
/*
 * test_hc_guest.c - hypercalls from a real guest at CPL3: runs
 * hc_selftest (round trips, buffers, batches, lookup and every mistake a
 * hostile guest can make) through the sandbox runtime on the public API,
 * several times, and checks the guest's verdict and the host's counters.
 *
 *   test_hc_guest BACKEND IMAGE      (exit 77: backend not available)
 */
#include "harness.h"
#include "sandbox_rt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int64_t fn_add(void *opaque, struct vmm_hc_call *c)
{
	return (int64_t)(c->args[0] + c->args[1]);
}

static int64_t fn_rev(void *opaque, struct vmm_hc_call *c)
{
	const uint8_t *in = c->bufs[0].data;
	uint8_t *out = c->bufs[1].data;
	uint32_t n = c->bufs[0].len;

	if (n > c->bufs[1].len)
		return -ENOSPC;
	for (uint32_t i = 0; i < n; i++)
		out[i] = in[n - 1 - i];
	c->bufs[1].used = n;
	return n;
}

static void print(void *opaque, const char *s, size_t len)
{
	fprintf(stderr, "[guest] %.*s\n", (int)len, s);
}

int main(int argc, char **argv)
{
	static const struct vmm_hc_sig add = { .nargs = 2 };
	static const struct vmm_hc_sig rev = {
		.nbufs = 2,
		.bufs = { { VMM_HC_DIR_IN, 64 }, { VMM_HC_DIR_OUT, 64 } },
	};
	struct sb_config cfg;
	struct sb_result r;
	struct sb_stats st;
	struct sb *sb;
	char out[4096], why[256];
	enum vmm_backend be;
	size_t len;
	void *img;
	int ret;

	if (argc < 3) {
		fprintf(stderr, "usage: test_hc_guest kvm|soft IMAGE\n");
		return 1;
	}
	be = gh_backend(argv[1]);   /* exits 77 where it is absent */
	img = gh_read_file(argv[2], &len);
	sb_config_init(&cfg);
	cfg.backend = be;
	cfg.mem_limit = 8 << 20;
	cfg.time_limit_ms = 5000;
	cfg.print = print;
	ret = sb_create(&cfg, img, len, &sb, why, sizeof(why));
	if (ret) {
		if (be == VMM_BACKEND_SOFT) {
			printf("SKIP: the software backend does not run the "
			       "guest yet: %s\n", why);
			return 77;
		}
		fprintf(stderr, "FAIL: sb_create: %s (%s)\n", why,
			vmm_strerror(ret));
		return 1;
	}
	if (sb_register(sb, 0x200, "hc.add", &add, fn_add, NULL) ||
	    sb_register(sb, 0x201, "hc.rev", &rev, fn_rev, NULL)) {
		fprintf(stderr, "FAIL: register\n");
		return 1;
	}
	for (int i = 0; i < 3; i++) {
		memset(out, 0, sizeof(out));
		ret = sb_call(sb, NULL, 0, out, sizeof(out) - 1, &r);
		if (ret) {
			fprintf(stderr, "FAIL: call %d: %s (%s)\n", i, r.why,
				vmm_err_name(ret));
			return 1;
		}
		printf("%s", out);
		if (r.status != 0 || !strstr(out, "failed 0")) {
			fprintf(stderr, "FAIL: the guest found %lld problems\n",
				(long long)r.status);
			return 1;
		}
	}
	sb_stats(sb, &st);
	printf("hypercalls: %llu doorbells, %llu calls, %llu batches, "
	       "%llu exits saved, %llu errors, %llu bad doorbells\n",
	       (unsigned long long)st.hc.doorbells,
	       (unsigned long long)st.hc.calls,
	       (unsigned long long)st.hc.batches,
	       (unsigned long long)st.hc.exits_saved,
	       (unsigned long long)st.hc.errors,
	       (unsigned long long)st.hc.bad_doorbells);
	/* per run: the 16-entry and the 4-entry batch save 15 + 3 exits */
	if (st.hc.exits_saved != 3 * 18 || st.hc.batches < 3 * 3 ||
	    st.hc.bad_doorbells < 3 * 4 || st.hc.errors < 3 * 10) {
		fprintf(stderr, "FAIL: unexpected counters\n");
		return 1;
	}
	sb_destroy(sb);
	free(img);
	printf("PASS\n");
	return 0;
}
