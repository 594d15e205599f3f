// SPDX-License-Identifier: MIT
/*
 * bench_util.c - timing, medians and file reading shared by the benchmarks
 * (see bench.h).
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

double now_ns(void)
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

double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void *bench_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 &&
	    n <= (64l << 20) && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n)) &&
	    fread(buf, 1, (size_t)n, f) == (size_t)n) {
		*len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

int bench_cpl3_state(vmm_vcpu *vcpu, uint32_t entry, uint32_t ecx)
{
	struct vmm_cpu_state st;
	int ret = vmm_vcpu_get_state(vcpu, &st);

	if (ret)
		return ret;
	vmm_state_flat_protected(&st, entry);
	for (int i = VMM_ES; i <= VMM_GS; i++) {
		st.seg[i].dpl = 3;
		st.seg[i].selector |= 3;
	}
	st.rflags = VMM_RFLAGS_FIXED | VMM_RFLAGS_IOPL;
	st.gpr[VMM_RSP] = 0x8000;
	st.gpr[VMM_RCX] = ecx;
	return vmm_vcpu_set_state(vcpu, &st);
}
