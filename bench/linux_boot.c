// SPDX-License-Identifier: MIT
/*
 * linux_boot.c - vmm-bench linux-boot: Debian's stock kernel booted by
 * vmm-run on the software backend against QEMU TCG, the same kernel,
 * initramfs, ext4 disk and command line (the guest of
 * tests/interop/linux-soft.sh --prepare: load the virtio modules, count
 * CPUs, mount the disk, read a marker, write a file, `poweroff -f`), with
 * equal vCPU counts (-smp N, -drive if=virtio).  Wall time from process
 * start to its exit after the guest's power-off, median of p->trials
 * (at least 3) interleaved trials (soft, TCG, soft, TCG, ...), for 1 and 2
 * vCPUs.  Also prints the CPU time (user + system of the process and its
 * children) of both, median of the same trials, and from vmm-run --stats
 * of the last soft trial where the guest's time went: instructions retired
 * per vCPU, exits by kind, time halted (idle) per vCPU, translated blocks,
 * TLB hits and misses.
 *
 * Needs $VMM_TEST_BZIMAGE (scripts/fetch-kernel.sh), qemu-system-x86_64,
 * cpio, e2fsprogs and busybox-static; otherwise it reports nothing (1).
 */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef VMM_BENCH_VMM_RUN
#define VMM_BENCH_VMM_RUN "vmm-run"
#endif
#ifndef VMM_BENCH_LINUX_SCRIPT
#define VMM_BENCH_LINUX_SCRIPT "linux-soft.sh"
#endif

struct lb_env {
	char dir[64];
	char cmdline[256];
	const char *kernel;
	const char *qemu;
};

static int run_cmd(const char *cmd)
{
	int st = system(cmd);

	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static int lb_prepare(struct lb_env *e)
{
	static const char *const qemus[] = { "/usr/bin/qemu-system-x86_64",
					     "/usr/local/bin/qemu-system-x86_64" };
	char cmd[512];
	FILE *f;

	e->kernel = getenv("VMM_TEST_BZIMAGE");
	if (!e->kernel || access(e->kernel, R_OK)) {
		fprintf(stderr, "linux-boot: $VMM_TEST_BZIMAGE not set: skip\n");
		return 1;
	}
	e->qemu = NULL;
	for (size_t i = 0; i < sizeof(qemus) / sizeof(qemus[0]); i++)
		if (!access(qemus[i], X_OK))
			e->qemu = qemus[i];
	if (!e->qemu) {
		fprintf(stderr, "linux-boot: no qemu-system-x86_64: skip\n");
		return 1;
	}
	snprintf(e->dir, sizeof(e->dir), "/tmp/vmm-bench-linux.XXXXXX");
	if (!mkdtemp(e->dir))
		return -1;
	snprintf(cmd, sizeof(cmd), "sh '%s' --prepare '%s' 2>/dev/null",
		 VMM_BENCH_LINUX_SCRIPT, e->dir);
	f = popen(cmd, "r");
	if (!f || !fgets(e->cmdline, sizeof(e->cmdline), f)) {
		if (f)
			pclose(f);
		fprintf(stderr, "linux-boot: cannot build the guest (cpio, "
			"e2fsprogs, busybox-static?): skip\n");
		return 1;
	}
	if (pclose(f) != 0)
		return 1;
	e->cmdline[strcspn(e->cmdline, "\n")] = 0;
	return 0;
}

static void lb_cleanup(struct lb_env *e)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	if (run_cmd(cmd) != 0)
		fprintf(stderr, "linux-boot: cannot remove %s\n", e->dir);
}

/* CPU time of the waited-for children so far, in s */
static double children_cpu(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_CHILDREN, &ru))
		return 0;
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* One boot; returns the wall time in s (*@cpu: its CPU time), or -1 when
 * it did not power off cleanly (status != 0 or the guest's marker line
 * missing). */
static double lb_one(const struct lb_env *e, bool soft, unsigned cpus,
		     bool stats, double *cpu)
{
	char cmd[2048];
	double t0, t1;
	int st;

	if (soft)
		snprintf(cmd, sizeof(cmd),
			 "'%s' --backend soft --cpus %u -m 512M --kernel '%s' "
			 "--initrd '%s/initrd' --disk '%s/disk.img' "
			 "--cmdline '%s' --timeout 300 %s >'%s/console' "
			 "2>'%s/stderr'",
			 VMM_BENCH_VMM_RUN, cpus, e->kernel, e->dir, e->dir,
			 e->cmdline, stats ? "--stats" : "", e->dir, e->dir);
	else
		snprintf(cmd, sizeof(cmd),
			 "timeout 300 '%s' -accel tcg -smp %u -m 512M "
			 "-kernel '%s' -initrd '%s/initrd' "
			 "-drive file='%s/disk.img',if=virtio,format=raw "
			 "-append '%s' -display none -monitor none "
			 "-serial file:'%s/console' -no-reboot "
			 ">/dev/null 2>'%s/stderr'",
			 e->qemu, cpus, e->kernel, e->dir, e->dir, e->cmdline,
			 e->dir, e->dir);
	*cpu = children_cpu();
	t0 = now_ns();
	st = run_cmd(cmd);
	t1 = now_ns();
	*cpu = children_cpu() - *cpu;
	snprintf(cmd, sizeof(cmd), "grep -aq 'LT-CPUS %u' '%s/console' && "
		 "grep -aq 'LT-DONE' '%s/console'", cpus, e->dir, e->dir);
	if (st != 0 || run_cmd(cmd) != 0) {
		fprintf(stderr, "linux-boot: %s with %u vCPUs failed (status "
			"%d); its console is in %s/console\n",
			soft ? "vmm-run" : "qemu", cpus, st, e->dir);
		return -1;
	}
	return (t1 - t0) / 1e9;
}

static void lb_where(const struct lb_env *e, unsigned cpus)
{
	char path[128], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/stderr", e->dir);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if ((strstr(line, "vmm-run: vcpu") &&
		     (strstr(line, "insns") || strstr(line, "halted") ||
		      strstr(line, "blocks") || strstr(line, "TLB"))) ||
		    strstr(line, "vmm-run: exits"))
			fprintf(stderr, "linux-boot-%ucpu: %s", cpus,
				line + strlen("vmm-run: "));
	fclose(f);
}

static int lb_bench(const struct params *p, struct result *res,
		    unsigned cpus, const char *name)
{
	int n = p->trials < 3 ? 3 : p->trials;
	double *s = calloc((size_t)n, sizeof(double));
	double *q = calloc((size_t)n, sizeof(double));
	double *sc = calloc((size_t)n, sizeof(double));
	double *qc = calloc((size_t)n, sizeof(double));
	struct lb_env e;
	int ret = 0;

	if (!s || !q || !sc || !qc) {
		ret = -1;
		goto out;
	}
	ret = lb_prepare(&e);
	if (ret)
		goto out;
	for (int i = 0; i < n && ret == 0; i++) {
		s[i] = lb_one(&e, true, cpus, i == n - 1, &sc[i]);
		if (s[i] >= 0 && i == n - 1)
			lb_where(&e, cpus);
		q[i] = lb_one(&e, false, cpus, false, &qc[i]);
		if (s[i] < 0 || q[i] < 0)
			ret = -1;
	}
	if (ret == 0) {
		double ms = median(sc, n), mq = median(qc, n);
		*res = (struct result){ name, median(s, n), median(q, n),
					"s", "qemu-tcg", n, 1 };
		fprintf(stderr, "%s: CPU time soft %.2f s, qemu-tcg %.2f s "
			"(medians), ratio %.2f\n", name, ms, mq,
			mq > 0 ? ms / mq : 0);
		lb_cleanup(&e);
	}
out:
	free(s);
	free(q);
	free(sc);
	free(qc);
	return ret;
}

int bench_linux_boot_1(const struct params *p, struct result *res)
{
	return lb_bench(p, res, 1, "linux-boot-1cpu");
}

int bench_linux_boot_2(const struct params *p, struct result *res)
{
	return lb_bench(p, res, 2, "linux-boot-2cpu");
}
