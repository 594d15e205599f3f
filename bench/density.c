// SPDX-License-Identifier: MIT
/*
 * density.c - many idle VMs in one process (see bench.h).  For N = 10,
 * 100, 1000: create N VMs with 1 vCPU and 64 MiB of RAM each; each guest
 * writes one page (besides its code page) and stops at a port exit; all N
 * stay alive.  Reported per VM: creation time (create + run to the exit),
 * resident memory beyond the 2 pages the guest and its loader touched
 * (RSS of the process, /proc/self/statm: kernel memory of KVM is not in
 * it), file descriptors and threads.  On KVM the baseline is the raw
 * ioctl sequence (no irqchip) doing the same; on soft there is none (ratio
 * against the KVM raw numbers would mean nothing).
 *
 * RLIMIT_NOFILE is raised to its hard limit first.  The count is limited
 * by that (fds per VM), by memory, and by vm.max_map_count (mappings per
 * VM); a failure to create VM k ends that N with what was reached, and the
 * line says so ("limit").
 *
 * Env VMM_BENCH_DENSITY_MAX caps N (default 1000).
 */
#include "bench.h"
#include "raw_kvm.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define CODE_GPA 0x1000u
#define TOUCH_GPA 0x200000u
#define PORT_WORK 0x80
#define RAM (64u << 20)
#define TOUCHED_KIB 8.0 /* the code page and the page the guest writes */

/* 32-bit, CPL3: mov %eax, TOUCH_GPA; out %al, $0x80; jmp . */
static const uint8_t touch_code[] = {
	0xa3, 0x00, 0x00, 0x20, 0x00,
	0xe6, 0x80,
	0xeb, 0xfe,
};

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size = 0, res = 0;

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &res) != 2)
		res = -1;
	fclose(f);
	return res < 0 ? -1 : res * (sysconf(_SC_PAGESIZE) / 1024);
}

static long count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	long n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static long count_threads(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long n = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

static int idle_vm(enum vmm_backend b, enum vmm_irqchip_mode mode,
		   vmm_vm **out)
{
	struct vmm_config cfg;
	struct vmm_exit e;
	vmm_vcpu *vcpu;
	vmm_vm *vm;
	int ret;

	vmm_config_init(&cfg);
	cfg.backend = b;
	cfg.irqchip = mode;
	cfg.ram_size = RAM;
	if ((ret = vmm_vm_create(&cfg, &vm)))
		return ret;
	if ((ret = vmm_vcpu_create(vm, 0, &vcpu)) ||
	    (ret = vmm_mem_write(vm, CODE_GPA, touch_code,
				 sizeof(touch_code))) ||
	    (ret = bench_cpl3_state(vcpu, CODE_GPA, 0)) ||
	    (ret = vmm_vcpu_run(vcpu, &e))) {
		vmm_vm_destroy(vm);
		return ret;
	}
	if (e.kind != VMM_EXIT_IO || e.io.port != PORT_WORK) {
		vmm_vm_destroy(vm);
		return -EPROTO;
	}
	*out = vm;
	return 0;
}

struct sample {
	int n;              /* VMs actually created */
	double create_us, per_vm_kib, fds, threads;
	int err;            /* why creation stopped early, 0 if it did not */
};

static void measure(enum vmm_backend b, int mode, int n, struct sample *s)
{
	void **vms = calloc((size_t)n, sizeof(void *));
	long rss0 = rss_kib(), fd0 = count_fds(), th0 = count_threads();
	double t0 = now_ns();
	int i;

	memset(s, 0, sizeof(*s));
	if (!vms) {
		s->err = -ENOMEM;
		return;
	}
	for (i = 0; i < n; i++) {
		int ret = 0;
		if (mode < 0) {
			vms[i] = raw_vm_create_flags(RAM, touch_code,
						     sizeof(touch_code),
						     CODE_GPA, 0);
			if (!vms[i] ||
			    raw_vm_run_until(vms[i], PORT_WORK) != 1)
				ret = -errno ? -errno : -EIO;
			if (ret && vms[i]) {
				raw_vm_destroy(vms[i]);
				vms[i] = NULL;
			}
		} else {
			ret = idle_vm(b, (enum vmm_irqchip_mode)mode,
				      (vmm_vm **)&vms[i]);
		}
		if (ret) {
			s->err = ret;
			break;
		}
	}
	s->n = i;
	if (i > 0) {
		s->create_us = (now_ns() - t0) / 1000.0 / i;
		s->per_vm_kib = (double)(rss_kib() - rss0) / i - TOUCHED_KIB;
		s->fds = (double)(count_fds() - fd0) / i;
		s->threads = (double)(count_threads() - th0) / i;
	}
	for (int j = 0; j < i; j++) {
		if (mode < 0)
			raw_vm_destroy(vms[j]);
		else
			vmm_vm_destroy(vms[j]);
	}
	free(vms);
}

static void print_line(const struct params *p, const char *backend,
		       const char *irqchip, const struct sample *s,
		       const struct sample *raw, int want)
{
	if (p->json) {
		printf("{\"bench\":\"density\",\"backend\":\"%s\","
		       "\"irqchip\":\"%s\",\"vms\":%d,\"per_vm_kib\":%.1f,"
		       "\"create_us\":%.1f,\"fds_per_vm\":%.2f,"
		       "\"threads_per_vm\":%.2f",
		       backend, irqchip, s->n, s->per_vm_kib, s->create_us,
		       s->fds, s->threads);
		if (raw)
			printf(",\"raw_per_vm_kib\":%.1f,\"raw_create_us\":%.1f,"
			       "\"raw_fds_per_vm\":%.2f,"
			       "\"raw_threads_per_vm\":%.2f,\"create_ratio\":%.3f",
			       raw->per_vm_kib, raw->create_us, raw->fds,
			       raw->threads,
			       raw->create_us > 0 ?
				       s->create_us / raw->create_us : 0);
		if (s->n < want)
			printf(",\"limit\":\"%s\"", vmm_strerror(s->err));
		printf("}\n");
	} else {
		printf("density %-4s %-6s %5d VMs: %8.1f KiB/VM %8.1f us/VM "
		       "%.2f fds/VM %.2f threads/VM", backend, irqchip, s->n,
		       s->per_vm_kib, s->create_us, s->fds, s->threads);
		if (raw)
			printf("  (raw: %.1f KiB/VM %.1f us/VM %.2f fds/VM "
			       "%.2f threads/VM)", raw->per_vm_kib,
			       raw->create_us, raw->fds, raw->threads);
		if (s->n < want)
			printf("  stopped at %d: %s", s->n,
			       vmm_strerror(s->err));
		printf("\n");
	}
	fflush(stdout);
}

int bench_density(const struct params *p, struct result *res)
{
	static const int counts[] = { 10, 100, 1000 };
	const char *cap = getenv("VMM_BENCH_DENSITY_MAX");
	int max = cap ? atoi(cap) : 1000;
	struct rlimit rl;

	(void)res;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		int n = counts[c];
		struct sample raw, s;

		if (n > max)
			break;
		measure(VMM_BACKEND_KVM, -1, n, &raw);
		measure(VMM_BACKEND_KVM, VMM_IRQCHIP_DEFAULT, n, &s);
		print_line(p, "kvm", "default", &s, &raw, n);
		measure(VMM_BACKEND_KVM, VMM_IRQCHIP_NONE, n, &s);
		print_line(p, "kvm", "none", &s, &raw, n);
		if (vmm_backend_available(VMM_BACKEND_SOFT) == 0) {
			measure(VMM_BACKEND_SOFT, VMM_IRQCHIP_DEFAULT, n, &s);
			print_line(p, "soft", "default", &s, NULL, n);
		}
	}
	return 1;
}
