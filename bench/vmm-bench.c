/* SPDX-License-Identifier: MIT */
/*
 * vmm-bench - libvmm benchmarks.  Each benchmark measures libvmm and a
 * baseline in the same run, interleaving trials, and reports the medians
 * and their ratio (value / baseline): absolute times on shared machines are
 * noise, ratios are the result.
 *
 *   vmm-bench [--json] [--trials N] [--iters N] [BENCH...]
 *
 * --json prints one object per line: {"bench", "value", "baseline",
 * "ratio", "unit", ...}; otherwise a table.  Benchmarks: exit-roundtrip,
 * create-destroy.  Exit status 77 when KVM is not available (nothing to
 * compare against).
 */
#include <libvmm/libvmm.h>

#include "raw_kvm.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct result {
	const char *bench;
	double value, baseline;
	const char *unit;
	const char *baseline_name;
	int trials;
	long iters;
};

struct params {
	int trials;
	long iters;
	bool json;
};

/* 32-bit guest: N times "out %al,$0x80" (ECX = N), then "out %eax,$0xf4". */
static const uint8_t loop_code[] = {
	0xe6, 0x80,       /* 1: out %al, $0x80 */
	0xe2, 0xfc,       /*    loop 1b */
	0xe7, 0xf4,       /*    out %eax, $0xf4 */
	0xeb, 0xfe,       /*    jmp . */
};
#define CODE_GPA 0x1000u
#define PORT_WORK 0x80
#define PORT_STOP 0xf4

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The "device" behind port 0x80 in the libvmm run: consumes the byte. */
static int work_write(void *opaque, uint64_t off, const void *data,
		      unsigned size, struct vmm_io_ctx *ctx)
{
	(*(uint64_t *)opaque) += *(const uint8_t *)data;
	return 0;
}

static int cpl3_state(vmm_vcpu *vcpu, uint32_t ecx)
{
	struct vmm_cpu_state st;
	int ret = vmm_vcpu_get_state(vcpu, &st);

	if (ret)
		return ret;
	vmm_state_flat_protected(&st, CODE_GPA);
	for (int i = VMM_ES; i <= VMM_GS; i++) {
		st.seg[i].dpl = 3;
		st.seg[i].selector |= 3;
	}
	st.rflags = VMM_RFLAGS_FIXED | VMM_RFLAGS_IOPL;
	st.gpr[VMM_RSP] = 0x8000;
	st.gpr[VMM_RCX] = ecx;
	return vmm_vcpu_set_state(vcpu, &st);
}

struct lvm {
	vmm_vm *vm;
	vmm_vcpu *vcpu;
	uint64_t sink;
};

static int lvm_create(struct lvm *l, bool devices)
{
	struct vmm_config cfg;
	vmm_dev *dev;
	static const struct vmm_io_ops ops = { .write = work_write };
	int ret;

	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_KVM;
	cfg.ram_size = 2 << 20;
	if ((ret = vmm_vm_create(&cfg, &l->vm)))
		return ret;
	if ((ret = vmm_vcpu_create(l->vm, 0, &l->vcpu)) ||
	    (ret = vmm_mem_write(l->vm, CODE_GPA, loop_code, sizeof(loop_code))) ||
	    (ret = cpl3_state(l->vcpu, 0)))
		goto fail;
	if (devices &&
	    ((ret = vmm_bus_register(l->vm, VMM_SPACE_PIO, PORT_WORK, 1, &ops,
				     &l->sink, "work")) ||
	     (ret = vmm_dev_debug_exit_attach(l->vm, PORT_STOP, 4, &dev))))
		goto fail;
	return 0;
fail:
	vmm_vm_destroy(l->vm);
	return ret;
}

static int bench_exit_roundtrip(const struct params *p, struct result *res)
{
	double *a = calloc((size_t)p->trials, sizeof(double));
	double *b = calloc((size_t)p->trials, sizeof(double));
	struct raw_vm *raw;
	struct lvm l;
	struct vmm_exit e;
	int ret = -1;

	if (!a || !b)
		goto out_free;
	if (lvm_create(&l, true))
		goto out_free;
	raw = raw_vm_create(2 << 20, loop_code, sizeof(loop_code), CODE_GPA);
	if (!raw)
		goto out_vm;
	for (int t = 0; t < p->trials; t++) {
		double t0, t1;
		long n;

		/* libvmm: the run loop dispatches every exit to the device */
		if (cpl3_state(l.vcpu, (uint32_t)p->iters))
			goto out_raw;
		t0 = now_ns();
		if (vmm_vcpu_run_loop(l.vcpu, &e) || e.kind != VMM_EXIT_GUEST_EXIT)
			goto out_raw;
		t1 = now_ns();
		a[t] = (t1 - t0) / (double)(p->iters + 1);

		/* baseline: bare KVM_RUN loop on the same guest */
		if (raw_vm_reset(raw, CODE_GPA, (uint32_t)p->iters))
			goto out_raw;
		t0 = now_ns();
		n = raw_vm_run_until(raw, PORT_STOP);
		t1 = now_ns();
		if (n != p->iters + 1)
			goto out_raw;
		b[t] = (t1 - t0) / (double)n;
	}
	*res = (struct result){ "exit-roundtrip", median(a, p->trials),
				median(b, p->trials), "ns/exit",
				"raw KVM_RUN loop", p->trials, p->iters };
	ret = 0;
out_raw:
	raw_vm_destroy(raw);
out_vm:
	vmm_vm_destroy(l.vm);
out_free:
	free(a);
	free(b);
	return ret;
}

static int bench_create_destroy(const struct params *p, struct result *res)
{
	long iters = p->iters / 1000 > 5 ? p->iters / 1000 : 5;
	double *a = calloc((size_t)p->trials, sizeof(double));
	double *b = calloc((size_t)p->trials, sizeof(double));
	int ret = -1;

	if (!a || !b)
		goto out;
	for (int t = 0; t < p->trials; t++) {
		double t0 = now_ns();
		for (long i = 0; i < iters; i++) {
			struct lvm l;
			struct vmm_exit e;
			if (lvm_create(&l, false))
				goto out;
			if (vmm_vcpu_run(l.vcpu, &e) || e.kind != VMM_EXIT_IO ||
			    e.io.port != PORT_WORK) {
				vmm_vm_destroy(l.vm);
				goto out;
			}
			vmm_vm_destroy(l.vm);
		}
		a[t] = (now_ns() - t0) / (double)iters;

		t0 = now_ns();
		for (long i = 0; i < iters; i++) {
			struct raw_vm *r = raw_vm_create(2 << 20, loop_code,
							 sizeof(loop_code),
							 CODE_GPA);
			if (!r || raw_vm_run_until(r, PORT_WORK) != 1) {
				raw_vm_destroy(r);
				goto out;
			}
			raw_vm_destroy(r);
		}
		b[t] = (now_ns() - t0) / (double)iters;
	}
	*res = (struct result){ "create-destroy", median(a, p->trials) / 1000,
				median(b, p->trials) / 1000, "us/vm",
				"bare ioctl sequence", p->trials, iters };
	ret = 0;
out:
	free(a);
	free(b);
	return ret;
}

static const struct {
	const char *name;
	int (*fn)(const struct params *, struct result *);
} benches[] = {
	{ "exit-roundtrip", bench_exit_roundtrip },
	{ "create-destroy", bench_create_destroy },
};

static void print(const struct params *p, const struct result *r)
{
	double ratio = r->baseline > 0 ? r->value / r->baseline : 0;

	if (p->json)
		printf("{\"bench\":\"%s\",\"backend\":\"kvm\",\"value\":%.3f,"
		       "\"baseline\":%.3f,\"ratio\":%.4f,\"unit\":\"%s\","
		       "\"baseline_name\":\"%s\",\"trials\":%d,\"iters\":%ld}\n",
		       r->bench, r->value, r->baseline, ratio, r->unit,
		       r->baseline_name, r->trials, r->iters);
	else
		printf("%-16s %12.3f %12.3f %8.4f  %-8s (vs %s, median of %d)\n",
		       r->bench, r->value, r->baseline, ratio, r->unit,
		       r->baseline_name, r->trials);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "json", no_argument, 0, 'j' },
		{ "trials", required_argument, 0, 't' },
		{ "iters", required_argument, 0, 'n' },
		{ "help", no_argument, 0, 'h' },
		{ 0 },
	};
	struct params p = { .trials = 11, .iters = 20000 };
	char why[160];
	int c, failed = 0;

	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (c) {
		case 'j': p.json = true; break;
		case 't': p.trials = atoi(optarg); break;
		case 'n': p.iters = atol(optarg); break;
		case 'h':
			printf("usage: vmm-bench [--json] [--trials N] [--iters N] [BENCH...]\n");
			return 0;
		default:
			return 2;
		}
	}
	if (p.trials < 1 || p.iters < 1)
		return 2;
	if (vmm_backend_probe(VMM_BACKEND_KVM, why, sizeof(why))) {
		fprintf(stderr, "vmm-bench: KVM not available (%s): skipping\n", why);
		return 77;
	}
	if (!p.json)
		printf("%-16s %12s %12s %8s  unit\n", "bench", "libvmm",
		       "baseline", "ratio");
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++) {
		struct result r;
		bool want = optind >= argc;
		for (int j = optind; j < argc; j++)
			want |= !strcmp(argv[j], benches[i].name);
		if (!want)
			continue;
		if (benches[i].fn(&p, &r)) {
			fprintf(stderr, "vmm-bench: %s failed\n", benches[i].name);
			failed = 1;
			continue;
		}
		print(&p, &r);
	}
	return failed;
}
