/* SPDX-License-Identifier: MIT */
/*
 * bench.h - what vmm-bench.c (the driver and most benchmarks) shares with
 * the benchmarks kept in files of their own (soft_kernels.c).
 */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <libvmm/libvmm.h>

#include <stdbool.h>
#include <stddef.h>

/* One line of output: value, baseline, ratio = value / baseline. */
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
	/* backend of benchmarks that can run on either (device-models);
	 * the others measure KVM against a KVM baseline by definition */
	enum vmm_backend backend;
	/* migrate: comma-separated lists (NULL = the defaults) and the link
	 * cap in MiB/s (0 = none) */
	const char *mig_sizes, *mig_rates, *mig_modes;
	unsigned mig_link;
};

/* vmm-bench.c: print one result line (table or JSON). */
void bench_print(const struct params *p, const struct result *r);

/*
 * startup.c / density.c: they print their own lines (one per irqchip mode
 * or VM count) and return 1, or -1 on failure.
 */
int bench_create_destroy_modes(const struct params *p, struct result *res);
int bench_process_start(const struct params *p, struct result *res);
int bench_density(const struct params *p, struct result *res);
int bench_snapshot_reset_breakdown(const struct params *p, struct result *res);

/* bench_util.c: CLOCK_MONOTONIC in ns; the median of @v (sorts it). */
double now_ns(void);
double median(double *v, int n);
/* The whole file in a malloc'd buffer (at most 64 MiB), or NULL. */
void *bench_read_file(const char *path, size_t *len);
/*
 * Flat 32-bit protected mode at CPL3 (IOPL 3, so IN/OUT work there) with
 * EIP = @entry, ESP = 0x8000 and ECX = @ecx: the state of the small
 * benchmark guests.
 */
int bench_cpl3_state(vmm_vcpu *vcpu, uint32_t entry, uint32_t ecx);

/*
 * soft_kernels.c: the compute-kernels guest on the software backend
 * against QEMU TCG (and KVM), and the load/store kernel against Unicorn.
 * Each fills @res and returns 0, returns 1 when it has nothing to report
 * here (a peer is not installed; a note goes to stderr), or -1.
 */
int bench_soft_tcg_sieve(const struct params *p, struct result *res);
int bench_soft_tcg_crc32(const struct params *p, struct result *res);
int bench_soft_tcg_memcpy(const struct params *p, struct result *res);
int bench_soft_tcg_chase(const struct params *p, struct result *res);
int bench_soft_tcg_interp(const struct params *p, struct result *res);
int bench_soft_tcg_regloop(const struct params *p, struct result *res);
int bench_soft_tcg_loadstore(const struct params *p, struct result *res);
int bench_soft_tcg_geomean(const struct params *p, struct result *res);
int bench_soft_kvm_geomean(const struct params *p, struct result *res);
int bench_soft_unicorn_loadstore(const struct params *p, struct result *res);
int bench_soft_unicorn(const struct params *p, struct result *res);
/* The compiler-generated kernels (kernels_cc.c): prints one line per
 * kernel and image itself, fills @res with their geomean. */
int bench_soft_tcg_cc(const struct params *p, struct result *res);
int bench_soft_tcg_all_geomean(const struct params *p, struct result *res);

/*
 * net.c: virtio-net pps / throughput against the host through the same
 * tap, in a network namespace of their own; they print their own JSON
 * lines and return 1 (also when skipped: the reason goes to stderr), or -1.
 */
int bench_net_pps_tx(const struct params *p, struct result *res);
int bench_net_pps_rx(const struct params *p, struct result *res);
int bench_net_gbps_tx(const struct params *p, struct result *res);
int bench_net_gbps_rx(const struct params *p, struct result *res);
int bench_net_gbps_tx_nooff(const struct params *p, struct result *res);
int bench_net_gbps_rx_nooff(const struct params *p, struct result *res);

/* vmm-bench.c: print one result line (for entries that print several). */
void bench_print(const struct params *p, const struct result *r);

/*
 * linux_boot.c: Linux boot to power-off, vmm-run on soft against QEMU TCG
 * (1 and 2 vCPUs); 1 when a prerequisite is missing.
 */
int bench_linux_boot_1(const struct params *p, struct result *res);
int bench_linux_boot_2(const struct params *p, struct result *res);

#endif
