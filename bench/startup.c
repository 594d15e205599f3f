// SPDX-License-Identifier: MIT
/*
 * startup.c - what a VM costs to start, against the minimal raw-KVM
 * program doing the same (see bench.h):
 *
 * create-destroy  one line per interrupt controller mode (kernel, split,
 *                 none, and the default): create a VM with 2 MiB of RAM and
 *                 a vCPU, run it to its first port exit, destroy it; the
 *                 baseline is the MINIMAL raw sequence (VM, memslot, vCPU,
 *                 run, close; no irqchip), interleaved VM by VM.
 *                 Raw lines with the kernel irqchip (+PIT) and the split
 *                 irqchip show what those cost KVM itself.
 * process-start   whole-process wall time (fork, exec, run to the guest's
 *                 exit, wait) of vmm-run on a tiny real-mode guest (16 MiB)
 *                 against bench/raw-start (the same guest, raw ioctls, no
 *                 irqchip), interleaved; one line per vmm-run irqchip mode,
 *                 with the children's CPU time (cpu_ms, wait4 rusage)
 *                 beside the wall time.
 */
#include "bench.h"
#include "raw_kvm.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CODE_GPA 0x1000u
#define PORT_WORK 0x80

/* 32-bit, CPL3: out %al, $0x80; jmp . */
static const uint8_t out_code[] = { 0xe6, 0x80, 0xeb, 0xfe };

/* CPU time of the whole process (all threads, user + system), ns. */
static double cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* VMM_CFG_ASYNC_TEARDOWN: how many reapers have finished. */
static pthread_mutex_t reap_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reap_cond = PTHREAD_COND_INITIALIZER;
static long reaped;

static void reap_done(void *opaque)
{
	(void)opaque;
	pthread_mutex_lock(&reap_lock);
	reaped++;
	pthread_cond_broadcast(&reap_cond);
	pthread_mutex_unlock(&reap_lock);
}

/* Wait until @n teardowns have finished in all. */
static void reap_wait(long n)
{
	pthread_mutex_lock(&reap_lock);
	while (reaped < n)
		pthread_cond_wait(&reap_cond, &reap_lock);
	pthread_mutex_unlock(&reap_lock);
}

/* One libvmm VM: create, run to the port exit, destroy.  0 or -errno. */
static int one_vm(enum vmm_irqchip_mode mode, bool async)
{
	struct vmm_config cfg;
	struct vmm_exit e;
	vmm_vm *vm;
	vmm_vcpu *vcpu;
	int ret;

	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_KVM;
	cfg.irqchip = mode;
	cfg.ram_size = 2 << 20;
	if (async) {
		cfg.flags |= VMM_CFG_ASYNC_TEARDOWN;
		cfg.teardown_done = reap_done;
	}
	if ((ret = vmm_vm_create(&cfg, &vm)))
		return ret;
	if (!(ret = vmm_vcpu_create(vm, 0, &vcpu)) &&
	    !(ret = vmm_mem_write(vm, CODE_GPA, out_code, sizeof(out_code))) &&
	    !(ret = bench_cpl3_state(vcpu, CODE_GPA, 0)) &&
	    !(ret = vmm_vcpu_run(vcpu, &e)))
		if (e.kind != VMM_EXIT_IO || e.io.port != PORT_WORK)
			ret = -EPROTO;
	vmm_vm_destroy(vm);
	return ret;
}

static int one_raw(unsigned flags)
{
	struct raw_vm *r = raw_vm_create_flags(2 << 20, out_code,
					       sizeof(out_code), CODE_GPA,
					       flags);
	int ret = r && raw_vm_run_until(r, PORT_WORK) == 1 ? 0 : -1;

	raw_vm_destroy(r);
	return ret;
}

/*
 * Interleaved VM by VM: each round creates one VM of every row (the
 * minimal raw VM first of all rows in turn, the order rotating by one each
 * round, so no row always follows the same neighbour), and every VM is
 * timed alone; a row's value is the median over trials x iters VMs.  On a
 * loaded machine this keeps the ratio meaningful where timing a block of
 * VMs per row did not (load swings of 2-3x within a trial).
 *
 * Rows with teardown "async" use VMM_CFG_ASYNC_TEARDOWN: the value is the
 * caller's time (vmm_vm_destroy() returns before KVM frees the VM);
 * "drain_us" is the time until that VM's teardown_done (measured by waiting
 * right after the destroy, so the reaper never overlaps the next VM).
 * "cpu_us": the process's CPU time per VM (all threads, user + system, up
 * to teardown_done), which waiting for other processes does not inflate;
 * "cpu_ratio" against the raw VM's.
 */
int bench_create_destroy_modes(const struct params *p, struct result *res)
{
	static const struct {
		const char *name;
		int mode;       /* libvmm mode, or -1 for a raw variant */
		unsigned raw;
		bool async;
	} rows[] = {
		{ "create-destroy/raw", -1, 0, false }, /* the baseline */
		{ "create-destroy/default", VMM_IRQCHIP_DEFAULT, 0, false },
		{ "create-destroy/kernel", VMM_IRQCHIP_KERNEL, 0, false },
		{ "create-destroy/split", VMM_IRQCHIP_SPLIT, 0, false },
		{ "create-destroy/none", VMM_IRQCHIP_NONE, 0, false },
		{ "create-destroy/kernel", VMM_IRQCHIP_KERNEL, 0, true },
		{ "create-destroy/split", VMM_IRQCHIP_SPLIT, 0, true },
		{ "create-destroy/none", VMM_IRQCHIP_NONE, 0, true },
		{ "create-destroy/raw-kernel-pit", -1,
		  RAW_VM_IRQCHIP | RAW_VM_PIT, false },
		{ "create-destroy/raw-split", -1, RAW_VM_SPLIT, false },
	};
	enum { NROWS = sizeof(rows) / sizeof(rows[0]) };
	long iters = p->iters / 2000 > 3 ? p->iters / 2000 : 3, started = 0;
	size_t ns = (size_t)p->trials * (size_t)iters, k = 0;
	double *v = calloc(ns * 3 * NROWS, sizeof(double));
	double *drain = v + ns * NROWS, *cpu = v + 2 * ns * NROWS;

	(void)res;
	if (!v)
		return -1;
	for (size_t round = 0; round < ns; round++, k++) {
		for (int j = 0; j < NROWS; j++) {
			int r = (int)((round + (size_t)j) % NROWS);
			double c0 = cpu_ns(), t0 = now_ns(), t1;
			int rc = rows[r].mode >= 0 ?
					 one_vm(rows[r].mode, rows[r].async) :
					 one_raw(rows[r].raw);

			t1 = now_ns();
			if (rc) {
				fprintf(stderr, "%s: %s\n", rows[r].name,
					rc < 0 && rc != -1 ? vmm_strerror(rc) :
							     "failed");
				goto fail;
			}
			if (rows[r].async)
				reap_wait(++started);
			v[(size_t)r * ns + k] = t1 - t0;
			drain[(size_t)r * ns + k] = now_ns() - t0;
			cpu[(size_t)r * ns + k] = cpu_ns() - c0;
		}
	}
	double b = median(v, ns) / 1000, bc = median(cpu, ns) / 1000;
	for (int r = 1; r < NROWS; r++) {
		double val = median(v + (size_t)r * ns, ns) / 1000;
		double dr = median(drain + (size_t)r * ns, ns) / 1000;
		double cu = median(cpu + (size_t)r * ns, ns) / 1000;
		const char *mode = rows[r].mode >= 0 ?
					   vmm_irqchip_name(rows[r].mode) :
					   rows[r].name + strlen("create-destroy/");
		const char *td = rows[r].async ? "async" : "sync";

		if (p->json)
			printf("{\"bench\":\"%s\",\"backend\":\"kvm\","
			       "\"mode\":\"%s\",\"teardown\":\"%s\","
			       "\"value\":%.3f,\"baseline\":%.3f,"
			       "\"ratio\":%.4f,\"drain_us\":%.3f,"
			       "\"drain_ratio\":%.4f,\"cpu_us\":%.3f,"
			       "\"cpu_baseline\":%.3f,\"cpu_ratio\":%.4f,"
			       "\"unit\":\"us/vm\","
			       "\"baseline_name\":\"minimal raw VM (no "
			       "irqchip)\",\"trials\":%d,\"iters\":%ld}\n",
			       rows[r].name, mode, td, val, b, val / b, dr,
			       dr / b, cu, bc, cu / bc, p->trials, iters);
		else
			printf("%-30s %-6s %-5s %10.1f %10.1f %7.3f  drain "
			       "%10.1f %7.3f  cpu %8.1f %7.3f us/vm (vs minimal "
			       "raw VM, median of %zu)\n", rows[r].name, mode,
			       td, val, b, val / b, dr, dr / b, cu, cu / bc,
			       ns);
		fflush(stdout);
	}
	free(v);
	return 1;
fail:
	reap_wait(started);
	free(v);
	return -1;
}

/* ---- process-start ---- */

/* real mode at 0x7c00: mov $0x10, %al; out %al, $0xf4; hlt */
static const uint8_t tiny_guest[] = { 0xb0, 0x10, 0xe6, 0xf4, 0xf4 };

/*
 * fork + exec @argv, wait; wall time in ns, or -1.  @want: exit status.
 * *@cpu: the child's CPU time (user + system, all its threads), ns.
 */
static double run_process(char *const argv[], int want, double *cpu)
{
	double t0 = now_ns();
	struct rusage ru;
	int st;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	if (wait4(pid, &st, 0, &ru) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != want) {
		fprintf(stderr, "process-start: %s exited with %d, want %d\n",
			argv[0], WIFEXITED(st) ? WEXITSTATUS(st) : -1, want);
		return -1;
	}
	*cpu = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
	return now_ns() - t0;
}

int bench_process_start(const struct params *p, struct result *res)
{
#if defined(VMM_BENCH_VMM_RUN) && defined(VMM_BENCH_RAW_START)
	/* "raw-cpuid": raw-start --cpuid, the raw program that also sets
	 * CPUID as a VMM must (a second baseline, reported as a row) */
	static const char *const modes[] = { "default", "kernel", "split",
					     "none", "raw-cpuid" };
	enum { NM = sizeof(modes) / sizeof(modes[0]) };
	const char *run = getenv("VMM_BENCH_VMM_RUN") ?
				  getenv("VMM_BENCH_VMM_RUN") : VMM_BENCH_VMM_RUN;
	char img[] = "/tmp/vmm-bench-tiny-XXXXXX";
	int fd = mkstemp(img), trials = p->trials < 5 ? 5 : p->trials;
	double *v = calloc((size_t)trials * (NM + 1) * 2, sizeof(double));
	double *cpu = v + (size_t)trials * (NM + 1);
	int ret = -1;

	(void)res;
	if (fd < 0 || !v ||
	    write(fd, tiny_guest, sizeof(tiny_guest)) != sizeof(tiny_guest))
		goto out;
	close(fd);
	fd = -1;
	for (int t = 0; t < trials; t++) {
		char *raw_argv[] = { (char *)VMM_BENCH_RAW_START, NULL };
		double w = run_process(raw_argv, 33, &cpu[t]);
		if (w < 0)
			goto out;
		v[t] = w;
		for (int m = 0; m < NM; m++) {
			char *argv[] = { (char *)run, "--backend", "kvm",
					 "-m", "16M", "--quiet", "--irqchip",
					 (char *)modes[m], "--format", "flat",
					 "--kernel", img, NULL };
			char *rc_argv[] = { (char *)VMM_BENCH_RAW_START,
					    "--cpuid", NULL };
			bool raw = !strcmp(modes[m], "raw-cpuid");

			w = run_process(raw ? rc_argv : argv, 33,
					&cpu[(size_t)(m + 1) * trials + t]);
			if (w < 0)
				goto out;
			v[(size_t)(m + 1) * trials + t] = w;
		}
	}
	double b = median(v, trials) / 1e6, bc = median(cpu, trials) / 1e6;
	for (int m = 0; m < NM; m++) {
		double val = median(v + (size_t)(m + 1) * trials, trials) / 1e6;
		double cu = median(cpu + (size_t)(m + 1) * trials, trials) / 1e6;

		if (p->json)
			printf("{\"bench\":\"process-start/%s\",\"backend\":"
			       "\"kvm\",\"mode\":\"%s\",\"value\":%.3f,"
			       "\"baseline\":%.3f,\"ratio\":%.4f,"
			       "\"cpu_ms\":%.3f,\"cpu_baseline\":%.3f,"
			       "\"cpu_ratio\":%.4f,\"unit\":\"ms\","
			       "\"baseline_name\":\"raw-start (minimal raw "
			       "KVM process)\",\"trials\":%d,\"iters\":1}\n",
			       modes[m], modes[m], val, b, val / b, cu, bc,
			       cu / bc, trials);
		else
			printf("process-start/%-8s %8.2f %8.2f %7.3f  cpu %7.2f "
			       "%7.2f %7.3f ms (vs raw-start, median of %d)\n",
			       modes[m], val, b, val / b, cu, bc, cu / bc,
			       trials);
		fflush(stdout);
	}
	ret = 1;
out:
	if (fd >= 0)
		close(fd);
	unlink(img);
	free(v);
	return ret;
#else
	(void)p;
	(void)res;
	fprintf(stderr, "process-start: vmm-run or raw-start not built\n");
	return 1;
#endif
}

/* ---- snapshot-reset-breakdown ----
 *
 * Where vmm_snapshot_reset() of 16 dirty pages in a 64 MiB VM spends its
 * time, per irqchip mode: the same guest as snapshot-reset (16 one-word
 * writes, 4 KiB apart, from 1 MiB, then an exit), restored copy-on-write
 * with dirty tracking.  Per trial: the whole reset after a run (total);
 * then, after another run, the dirty-log fetch alone (KVM_GET_DIRTY_LOG +
 * the VMM-side bitmap), the copy of 16 pages (vmm_mem_write), a reset with
 * nothing dirty (its fixed part: dirty-log calls + vCPU, irqchip and
 * device state), and vmm_vcpu_set_state() alone.  Baseline of each line:
 * the total.
 */
static const uint8_t dirty16_code[] = {
	0x89, 0x03,                         /* 1: mov %eax,(%ebx) */
	0x81, 0xc3, 0x00, 0x10, 0x00, 0x00, /*    add $0x1000,%ebx */
	0xe2, 0xf6,                         /*    loop 1b */
	0xe6, 0x80,                         /*    out %al,$0x80 */
	0xeb, 0xfe,                         /*    jmp . */
};

static int make_dirty_snap(const char *path, enum vmm_irqchip_mode mode)
{
	struct vmm_config cfg;
	struct vmm_cpu_state st;
	struct vmm_save_opts so = { .flags = VMM_SAVE_NO_SYNC };
	vmm_vm *vm;
	vmm_vcpu *vcpu;
	int ret;

	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_KVM;
	cfg.irqchip = mode;
	cfg.ram_size = 64 << 20;
	if ((ret = vmm_vm_create(&cfg, &vm)))
		return ret;
	if (!(ret = vmm_vcpu_create(vm, 0, &vcpu)) &&
	    !(ret = vmm_mem_write(vm, CODE_GPA, dirty16_code,
				  sizeof(dirty16_code))) &&
	    !(ret = bench_cpl3_state(vcpu, CODE_GPA, 0)) &&
	    !(ret = vmm_vcpu_get_state(vcpu, &st))) {
		st.gpr[VMM_RBX] = 0x100000;
		st.gpr[VMM_RCX] = 16;
		st.gpr[VMM_RAX] = 0x5a5a5a5a;
		if (!(ret = vmm_vcpu_set_state(vcpu, &st)))
			ret = vmm_snapshot_save(vm, path, &so);
	}
	vmm_vm_destroy(vm);
	return ret;
}

static int run_dirty(vmm_vm *vm)
{
	struct vmm_exit e;
	int ret = vmm_vcpu_run(vmm_vm_get_vcpu(vm, 0), &e);

	if (ret)
		return ret;
	return e.kind == VMM_EXIT_IO && e.io.port == PORT_WORK ? 0 : -EPROTO;
}

int bench_snapshot_reset_breakdown(const struct params *p, struct result *res)
{
	static const enum vmm_irqchip_mode modes[] = {
		VMM_IRQCHIP_NONE, VMM_IRQCHIP_SPLIT, VMM_IRQCHIP_KERNEL };
	static const char *const part[] = { "total", "dirty-fetch",
					    "copy-16p", "reset-0p",
					    "set-state" };
	enum { NP = 5 };
	int trials = p->trials < 11 ? 11 : p->trials, ret = -1;
	double *v = calloc((size_t)trials * NP, sizeof(double));
	static uint8_t page[16][4096];
	uint64_t bm[256];

	(void)res;
	if (!v)
		return -1;
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		char path[] = "/tmp/vmm-bench-snapbd-XXXXXX";
		struct vmm_restore_opts ro = {
			.flags = VMM_RESTORE_COW | VMM_RESTORE_TRACK_DIRTY };
		struct vmm_config ov;
		vmm_snapshot *snap = NULL;
		vmm_vm *vm = NULL;
		char err[256];
		int fd = mkstemp(path), bad = 1;

		vmm_config_init(&ov);
		ov.backend = VMM_BACKEND_KVM;
		ov.irqchip = modes[m];
		if (fd < 0)
			goto out;
		close(fd);
		if (make_dirty_snap(path, modes[m]) ||
		    vmm_snapshot_open(path, &snap, err, sizeof(err)) ||
		    vmm_snapshot_restore_snap(snap, &ov, &ro, &vm))
			goto next;
		for (int t = 0; t < trials; t++) {
			struct vmm_cpu_state st;
			double t0;

			if (run_dirty(vm))
				goto next;
			t0 = now_ns();
			if (vmm_snapshot_reset(vm, snap) < 16)
				goto next;
			v[t] = now_ns() - t0;
			if (run_dirty(vm))
				goto next;
			t0 = now_ns();
			if (vmm_mem_dirty_fetch(vm, 0, bm, 256) < 16)
				goto next;
			v[trials + t] = now_ns() - t0;
			t0 = now_ns();
			for (int i = 0; i < 16; i++)
				if (vmm_mem_write(vm, 0x100000 + i * 4096u,
						  page[i], 4096))
					goto next;
			v[2 * trials + t] = now_ns() - t0;
			vmm_mem_dirty_fetch(vm, 0, bm, 256);
			t0 = now_ns();
			if (vmm_snapshot_reset(vm, snap) < 0)
				goto next;
			v[3 * trials + t] = now_ns() - t0;
			if (vmm_vcpu_get_state(vmm_vm_get_vcpu(vm, 0), &st))
				goto next;
			t0 = now_ns();
			if (vmm_vcpu_set_state(vmm_vm_get_vcpu(vm, 0), &st))
				goto next;
			v[4 * trials + t] = now_ns() - t0;
		}
		bad = 0;
		double total = median(v, trials) / 1e3;
		for (int k = 0; k < NP; k++) {
			char name[80];
			snprintf(name, sizeof(name),
				 "snapshot-reset-breakdown/%s/%s",
				 vmm_irqchip_name(modes[m]), part[k]);
			struct result o = { name,
					    median(v + (size_t)k * trials,
						   trials) / 1e3,
					    total, "us", "reset total",
					    trials, 1 };
			bench_print(p, &o);
		}
next:
		vmm_vm_destroy(vm);
		vmm_snapshot_close(snap);
		unlink(path);
		if (bad) {
			fprintf(stderr, "snapshot-reset-breakdown: %s failed\n",
				vmm_irqchip_name(modes[m]));
			goto out;
		}
	}
	ret = 1;
out:
	free(v);
	return ret;
}
