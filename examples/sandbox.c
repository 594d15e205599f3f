/* SPDX-License-Identifier: MIT */
/*
 * sandbox - run a C function compiled with libvmm's guest runtime (guest/)
 * in a micro-VM, many times, each call from a pristine state, with a time
 * and a memory limit, optionally under seccomp.  Public API only.
 *
 *   sandbox [--backend kvm|soft|auto] [--mem MIB] [--time-ms MS]
 *           [--calls N] [--seccomp] [--quiet] IMAGE [INPUT-FILE]
 *
 * The input is the file (or a built-in sample text); the output of the
 * first call is printed (as text if printable, else as hex), then the
 * statistics of all calls.  Example:
 *
 *   build/examples/sandbox --calls 1000 build/guest/wordcount README.md
 */
#include "cli.h"
#include "sandbox_rt.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char sample[] =
	"the quick brown fox jumps over the lazy dog\n"
	"the dog sleeps\n";

static void *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n == cap) {
			char *nb = realloc(buf, cap = cap ? cap * 2 : 65536);
			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		if (!r)
			break;
		n += r;
	}
	fclose(f);
	*len = n;
	return buf;
}

static void print_console(void *opaque, const char *s, size_t len)
{
	fprintf(stderr, "[guest] %.*s%s", (int)len, s,
		len && s[len - 1] == '\n' ? "" : "\n");
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void show(const unsigned char *p, size_t n)
{
	bool text = true;

	for (size_t i = 0; i < n; i++)
		text &= isprint(p[i]) || p[i] == '\n' || p[i] == '\t';
	if (text) {
		printf("%.*s\n", (int)n, (const char *)p);
		return;
	}
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
	printf("\n");
}

static void usage(FILE *f)
{
	fprintf(f, "usage: sandbox [--backend B] [--mem SIZE] [--time-ms MS] "
		"[--calls N] [--seccomp] [--quiet] IMAGE [INPUT]\n"
		"  --backend B   kvm, soft or auto (default auto)\n"
		"  --mem SIZE    guest RAM = memory limit, MiB unless K/M/G given (4M..3G, default 16M)\n"
		"  --time-ms MS  time limit per call (0 = none, at most 86400000, default 1000)\n"
		"  --calls N     run the function N times (1..1000000000, default 1)\n"
		"  --seccomp     apply the seccomp filter first\n"
		"  --quiet       no per-call lines\n"
		"exit status: 0 every call succeeded, 1 a call failed, 2 usage\n");
}

static const char *const backend_names[] = { "auto", "kvm", "soft", NULL };

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "backend", required_argument, 0, 'b' },
		{ "mem", required_argument, 0, 'm' },
		{ "time-ms", required_argument, 0, 't' },
		{ "calls", required_argument, 0, 'n' },
		{ "seccomp", no_argument, 0, 's' },
		{ "quiet", no_argument, 0, 'q' },
		{ "help", no_argument, 0, 'h' },
		{ 0 },
	};
	struct sb_config cfg;
	struct sb *sb;
	struct sb_result r;
	struct sb_stats st;
	unsigned char out[4096];
	char why[256];
	long calls = 1;
	bool use_seccomp = false, quiet = false;
	void *img, *in = NULL;
	size_t img_len, in_len = 0;
	int c, ret, failed = 0;

	sb_config_init(&cfg);
	cfg.print = print_console;
	cli_set_prog("sandbox");
	opterr = 0; /* our messages name the option */
	while ((c = getopt_long(argc, argv, ":", lopts, NULL)) != -1) {
		uint64_t v;
		unsigned u;
		int bi;

		switch (c) {
		case 'b':
			if (cli_choice("--backend", optarg, backend_names, &bi))
				return 2;
			cfg.backend = bi == 1 ? VMM_BACKEND_KVM :
				      bi == 2 ? VMM_BACKEND_SOFT : VMM_BACKEND_AUTO;
			break;
		case 'm':
			/* MiB by default; the runtime's range, page-aligned */
			if (cli_size("--mem", optarg, 1 << 20, 4ull << 20,
				     3ull << 30, &v))
				return 2;
			if (v % 4096) {
				cli_error("--mem %s: not a multiple of 4 KiB", optarg);
				return 2;
			}
			cfg.mem_limit = v;
			break;
		case 't':
			if (cli_uint("--time-ms", optarg, 0, 86400000, &u))
				return 2;
			cfg.time_limit_ms = u;
			break;
		case 'n':
			if (cli_u64("--calls", optarg, 1, 1000000000, &v))
				return 2;
			calls = (long)v;
			break;
		case 's': use_seccomp = true; break;
		case 'q': quiet = true; break;
		case 'h':
			usage(stdout);
			return 0;
		case ':':
			cli_error("%s needs a value", argv[optind - 1]);
			return 2;
		default:
			cli_error("unknown option %s (see --help)", argv[optind - 1]);
			return 2;
		}
	}
	if (optind >= argc) {
		cli_error("no IMAGE (see --help)");
		return 2;
	}
	if (argc - optind > 2) {
		cli_error("unexpected argument '%s'", argv[optind + 2]);
		return 2;
	}
	img = read_file(argv[optind], &img_len);
	if (!img) {
		fprintf(stderr, "sandbox: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	if (optind + 1 < argc) {
		in = read_file(argv[optind + 1], &in_len);
		if (!in) {
			fprintf(stderr, "sandbox: %s: %s\n", argv[optind + 1],
				strerror(errno));
			return 1;
		}
	}

	double t0 = now();
	ret = sb_create(&cfg, img, img_len, &sb, why, sizeof(why));
	if (ret) {
		fprintf(stderr, "sandbox: cannot create the sandbox: %s (%s)\n",
			why, vmm_strerror(ret));
		return ret == -ENODEV ? 77 : 1;
	}
	double t1 = now();
	if (use_seccomp) {
		/* from here on: no open(), no exec(), no new sockets */
		ret = vmm_seccomp_apply(sb_vm(sb), VMM_SECCOMP_ALL_THREADS);
		if (ret) {
			fprintf(stderr, "sandbox: seccomp: %s\n", vmm_strerror(ret));
			sb_destroy(sb);
			return 1;
		}
	}
	for (long i = 0; i < calls; i++) {
		ret = sb_call(sb, in ? in : sample, in ? in_len : strlen(sample),
			      out, sizeof(out), &r);
		if (ret) {
			failed++;
			if (!quiet)
				fprintf(stderr, "call %ld failed: %s (%s)\n", i,
					r.why, vmm_err_name(ret));
			continue;
		}
		if (i == 0 && !quiet) {
			printf("status %lld, %zu bytes of output:\n",
			       (long long)r.status, r.out_len);
			show(out, r.out_len < sizeof(out) ? r.out_len : sizeof(out));
		}
	}
	double t2 = now();
	sb_stats(sb, &st);
	printf("backend %s%s: create %.2f ms, %ld calls in %.3f s = %.0f calls/s "
	       "(%.1f us/call), %.1f pages restored/call, %llu hypercalls, "
	       "%ld failed\n",
	       vmm_backend_name(vmm_vm_backend(sb_vm(sb))),
	       use_seccomp ? " + seccomp" : "", (t1 - t0) * 1e3, calls, t2 - t1,
	       calls / (t2 - t1), (t2 - t1) / calls * 1e6,
	       st.resets ? (double)st.pages_restored / st.resets : 0.0,
	       (unsigned long long)st.hc.calls, (long)failed);
	sb_destroy(sb);
	free(img);
	free(in);
	return failed ? 1 : 0;
}
