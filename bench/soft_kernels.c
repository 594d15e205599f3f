/* SPDX-License-Identifier: MIT */
/*
 * soft_kernels.c - the software backend against its speed peers on real
 * compute kernels.
 *
 * soft-vs-tcg-<kernel>: the compute-kernels guest (bench/guests/kernels.c,
 * one multiboot image, seven kernels chosen on its command line) runs the
 * same kernel with the same size on libvmm's software backend, under QEMU
 * TCG (qemu-system-x86_64 -accel tcg -kernel, the same image) and on KVM.
 * The guest writes a begin and an end marker to the debug console port
 * around the kernel only, so each run is timed from marker to marker: not
 * QEMU's process start-up, not the guest's setup.  libvmm takes the time
 * in a device handler on the marker port (and the instructions retired
 * from vmm_vcpu_get_stats()); under QEMU the guest reads QEMU's HPET
 * right after the begin and right before the end marker and prints the
 * difference (the markers reach vmm-bench through a pipe, whose wake-up
 * latency on a busy machine is not the kernel's).  Every run prints the
 * kernel's checksum; all runs of a kernel must agree or the entry fails.
 *
 * Value: guest instructions per second on soft (instructions retired
 * between the markers / seconds).  Baseline: the same instruction count
 * over QEMU's time.  Ratio = soft speed / TCG speed = TCG time / soft time.
 * soft-vs-tcg-geomean and soft-vs-kvm-geomean summarise all kernels
 * (geometric means of the medians, so their ratio is the geometric mean
 * of the per-kernel ratios); they reuse the kernels already measured in
 * this run of vmm-bench and measure the others.
 *
 * soft-vs-unicorn (on request; soft-vs-unicorn-loadstore: only that
 * kernel): every kernel above, the same function of the same image run by
 * Unicorn (uc_emu_start() on the image's own segments, the function called
 * by its ELF symbol), against the same kernel in the guest on the
 * interpreter (soft-vs-unicorn-*) and the JIT tier (soft-jit-vs-unicorn-*);
 * value and baseline: the guest's instructions retired between the markers
 * on soft over each one's time.
 */
#include "bench.h"
#include "guests/kernels.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef VMM_BENCH_UNICORN
#include <unicorn/unicorn.h>
#endif

#ifdef VMM_BENCH_KERNELS_GUEST

/* Sizes at the default --iters 20000 (about 0.2-0.5 s each on soft),
 * scaled linearly with --iters. */
static const struct sk_kernel {
	const char *name;
	uint64_t n;
	/* NULL: the seven-kernel guest; else an image of the compiler-
	 * generated kernels guest (kernels_cc.c) in VMM_BENCH_KCC_DIR */
	const char *image;
	/* the image runs at CPL0 (32-bit): not on KVM, which emulates
	 * every CPL0 instruction on the nested hosts we run on */
	bool cpl0;
} sk_kernels[] = {
	{ "sieve", 8000000, NULL, false },
	{ "crc32", 2000000, NULL, false },
	{ "memcpy", 64u << 20, NULL, false },
	{ "chase", 8000000, NULL, false },
	{ "interp", 1000000, NULL, false },
	{ "regloop", 3000000, NULL, false },
	{ "loadstore", 3000000, NULL, false },
#define SK_CC(img, cpl0)                                                  \
	{ "bcvm", 1000000, img, cpl0 },                                   \
	{ "sha256", 200000, img, cpl0 },                                  \
	{ "qsort", 100000, img, cpl0 },                                   \
	{ "strsearch", 1000000, img, cpl0 },                              \
	{ "matmul", 4000000, img, cpl0 }
#define SK_LOOPS(img, cpl0)                                               \
	{ "loop-alu", 10000000, img, cpl0 },                              \
	{ "loop-load", 10000000, img, cpl0 },                             \
	{ "loop-ls", 10000000, img, cpl0 }
	SK_CC("cc64-O2", false),
	SK_CC("cc64-O0", false),
	SK_CC("cc32-O2", true),
	SK_CC("cc32-O0", true),
	SK_LOOPS("cc64-O2", false),
	SK_LOOPS("cc32-O2", true),
};
#define SK_N (sizeof(sk_kernels) / sizeof(sk_kernels[0]))
#define SK_OLD 7 /* the seven-kernel guest's entries come first */
#define SK_LOADSTORE 6

/*
 * Medians of the kernels measured in this process (Minsn/s; tcg = 0 when
 * QEMU is not installed).  vmm-bench is one process running its entries
 * one after the other: the summary entries read what the per-kernel
 * entries left here.
 */
static struct sk_res {
	bool done;
	double soft, tcg, kvm;
	double jit;  /* the soft backend with its JIT tier (VMM_CFG_JIT) */
	int trials;
	long n;
} sk_cache[SK_N];

static const char *sk_image_path(void)
{
	const char *p = getenv("VMM_BENCH_KERNELS_GUEST");

	return p ? p : VMM_BENCH_KERNELS_GUEST;
}

/* The image kernel @k runs in (@buf: room for the path). */
static const char *sk_kernel_image(unsigned k, char *buf, size_t len)
{
	const char *dir = getenv("VMM_BENCH_KCC_DIR");

	if (!sk_kernels[k].image)
		return sk_image_path();
	snprintf(buf, len, "%s/k%s", dir ? dir : VMM_BENCH_KCC_DIR,
		 sk_kernels[k].image);
	return buf;
}

static uint64_t sk_size(const struct params *p, unsigned k)
{
	double n = (double)sk_kernels[k].n * (double)p->iters / 20000.0;

	if (n < 1000)
		n = 1000;
	return (uint64_t)n;
}

/* "<key><16 hex digits>" in the guest's console text. */
static int sk_parse_hex(const char *text, const char *key, uint64_t *v)
{
	const char *s = strstr(text, key);
	size_t k = strlen(key);
	char *end;

	if (!s)
		return -1;
	errno = 0;
	*v = strtoull(s + k, &end, 16);
	return errno || end != s + k + 16 ? -1 : 0;
}

static int sk_parse_sum(const char *text, uint64_t *sum)
{
	return sk_parse_hex(text, "sum=", sum);
}

/* ---- one run through libvmm ---- */

struct sk_run {
	double t[2];
	uint64_t insns[2];
	int marks;
	bool have_insns;
	char text[128];
	size_t tlen;
};

/*
 * The clock between the markers: wall time, or with VMM_BENCH_THREAD_CPU=1
 * the CPU time of the thread running the vCPU (the marker callbacks run
 * on it): for comparing two builds of libvmm on a loaded machine (the
 * QEMU TCG baseline stays wall time, so the ratio is not comparable then).
 */
static double sk_clock(void)
{
	static int cpu = -1;
	struct timespec ts;

	if (cpu < 0) {
		const char *e = getenv("VMM_BENCH_THREAD_CPU");
		cpu = e && *e == '1';
	}
	if (!cpu)
		return now_ns() / 1e9;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int sk_mark(void *opaque, uint64_t off, const void *data,
		   unsigned size, struct vmm_io_ctx *ctx)
{
	struct sk_run *r = opaque;
	char c = *(const char *)data;
	struct vmm_vcpu_stats st = { .struct_size = sizeof(st) };

	if (c == KERN_MARK_BEGIN || c == KERN_MARK_END) {
		int i = c == KERN_MARK_END;
		if (r->marks != i)
			return -EPROTO;
		if (i)
			r->t[1] = sk_clock();
		r->have_insns = ctx->vcpu &&
			vmm_vcpu_get_stats(ctx->vcpu, &st) == 0 &&
			(st.valid & VMM_VCPU_STAT_INSNS);
		r->insns[i] = st.insns_retired;
		if (!i)
			r->t[0] = sk_clock();
		r->marks++;
	} else if (r->tlen < sizeof(r->text) - 1) {
		r->text[r->tlen++] = c;
	}
	return 0;
}

/*
 * Run kernel @k with size @n on @backend: seconds between the markers,
 * the instructions retired between them (0 when the backend does not
 * count them) and the checksum.
 */
static int sk_vmm(enum vmm_backend backend, const uint8_t *img, size_t len,
		  unsigned k, uint64_t n, double *secs, uint64_t *insns,
		  uint64_t *sum, uint32_t xflags)
{
	static const struct vmm_io_ops ops = { .write = sk_mark };
	struct vmm_config cfg;
	struct vmm_boot_info bi;
	struct vmm_exit e;
	struct sk_run r;
	vmm_vm *vm;
	vmm_vcpu *vcpu;
	vmm_dev *dx;
	char cmdline[96];
	int ret;

	memset(&r, 0, sizeof(r));
	snprintf(cmdline, sizeof(cmdline), "kernel=%s n=%llu",
		 sk_kernels[k].name, (unsigned long long)n);
	vmm_config_init(&cfg);
	cfg.backend = backend;
	cfg.ram_size = (uint64_t)KERN_RAM_MIB << 20;
	cfg.flags = VMM_CFG_NO_IRQCHIP | VMM_CFG_IGNORE_UNHANDLED_IO | xflags;
	if ((ret = vmm_vm_create(&cfg, &vm)))
		return ret;
	if ((ret = vmm_vcpu_create(vm, 0, &vcpu)) ||
	    (ret = vmm_debug_exit_attach(vm, 0, 0, &dx)) ||
	    (ret = vmm_bus_register(vm, VMM_SPACE_PIO, KERN_MARK_PORT, 1, &ops,
				    &r, "kernel-marks")) ||
	    (ret = vmm_image_load_multiboot(vm, img, len, cmdline, NULL, 0, &bi)) ||
	    (ret = vmm_boot_setup_vcpu(vcpu, &bi)) ||
	    (ret = vmm_vcpu_run_loop(vcpu, &e)))
		goto out;
	if (e.kind != VMM_EXIT_GUEST_EXIT || e.guest.value != KERN_EXIT_OK ||
	    r.marks != 2 || sk_parse_sum(r.text, sum)) {
		fprintf(stderr, "vmm-bench: kernels guest (%s, %s) ended with %s"
			" value 0x%x, %d markers, output \"%s\"\n",
			vmm_backend_name(backend), cmdline, vmm_exit_name(e.kind),
			e.guest.value, r.marks, r.text);
		ret = -EIO;
		goto out;
	}
	*secs = r.t[1] - r.t[0];
	*insns = r.have_insns ? r.insns[1] - r.insns[0] : 0;
out:
	vmm_vm_destroy(vm);
	return ret;
}

/* ---- one run under QEMU TCG ---- */

#define SK_STR_(x) #x
#define SK_STR(x) SK_STR_(x)

static const char *sk_find_qemu(void)
{
	static const char *const paths[] = { "/usr/bin/qemu-system-x86_64",
					     "/usr/local/bin/qemu-system-x86_64" };

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

/*
 * The same image under QEMU TCG, its debug console on a pipe; the guest
 * measures the kernel with QEMU's HPET ("hpet=1").  At most 300 s.
 */
static int sk_qemu(const char *qemu, const char *img, unsigned k, uint64_t n,
		   double *secs, uint64_t *sum)
{
	char append[96], text[128];
	uint64_t ticks, fs;
	double deadline = (now_ns() / 1e9) + 300;
	int fds[2], marks = 0, st, ret = 0;
	size_t tlen = 0;
	pid_t pid;

	snprintf(append, sizeof(append), "kernel=%s n=%llu hpet=1",
		 sk_kernels[k].name, (unsigned long long)n);
	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		close(fds[0]);
		close(fds[1]);
		return ret;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);
		if (nul < 0 || dup2(fds[1], 1) < 0 || dup2(nul, 0) < 0 ||
		    dup2(nul, 2) < 0)
			_exit(127);
		execl(qemu, qemu, "-accel", "tcg", "-nodefaults", "-display",
		      "none", "-no-reboot", "-m", SK_STR(KERN_RAM_MIB), "-device",
		      "isa-debug-exit,iobase=0xf4,iosize=4", "-chardev",
		      "stdio,id=kdbg,signal=off", "-device",
		      "isa-debugcon,iobase=0xe9,chardev=kdbg", "-kernel", img,
		      "-append", append, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
		char buf[256];
		ssize_t got;
		int left = (int)((deadline - (now_ns() / 1e9)) * 1000);

		if (left <= 0 || poll(&pfd, 1, left) == 0) {
			kill(pid, SIGKILL);
			ret = -ETIMEDOUT;
			break;
		}
		got = read(fds[0], buf, sizeof(buf));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		for (ssize_t i = 0; i < got; i++) {
			if ((buf[i] == KERN_MARK_BEGIN && marks == 0) ||
			    (buf[i] == KERN_MARK_END && marks == 1))
				marks++;
			else if (tlen < sizeof(text) - 1)
				text[tlen++] = buf[i];
		}
	}
	close(fds[0]);
	text[tlen] = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (ret)
		return ret;
	/* isa-debug-exit: status (value << 1) | 1 */
	if (!WIFEXITED(st) || WEXITSTATUS(st) != ((KERN_EXIT_OK << 1) | 1) ||
	    marks != 2 || sk_parse_sum(text, sum) ||
	    sk_parse_hex(text, "hpet=", &ticks) ||
	    sk_parse_hex(text, "fs=", &fs) || fs == 0 || fs > 100000000) {
		fprintf(stderr, "vmm-bench: kernels guest under QEMU (%s) ended"
			" with status %d, %d markers, output \"%s\"\n", append,
			WIFEXITED(st) ? WEXITSTATUS(st) : -1, marks, text);
		return -EIO;
	}
	/* the guest's own HPET reading between the markers: timestamps taken
	 * here as the marker bytes arrive would add the pipe's wake-up
	 * latency, milliseconds on a busy machine */
	*secs = (double)ticks * (double)fs * 1e-15;
	return 0;
}

/* ---- per kernel ---- */

/* Measure kernel @k (soft, TCG when installed, KVM) into sk_cache[k]. */
static int sk_measure(const struct params *p, unsigned k)
{
	struct sk_res *c = &sk_cache[k];
	char pbuf[4096];
	const char *qemu = sk_find_qemu(),
		   *path = sk_kernel_image(k, pbuf, sizeof(pbuf));
	bool kvm = !sk_kernels[k].cpl0;
	uint64_t n = sk_size(p, k), sum0 = 0;
	double *s = calloc((size_t)p->trials, sizeof(double));
	double *q = calloc((size_t)p->trials, sizeof(double));
	double *v = calloc((size_t)p->trials, sizeof(double));
	double *j = calloc((size_t)p->trials, sizeof(double));
	size_t len = 0;
	uint8_t *img = bench_read_file(path, &len);
	int ret = -1;

	if (!img)
		fprintf(stderr, "vmm-bench: cannot read the kernels guest %s\n",
			path);
	if (!s || !q || !v || !j || !img)
		goto out;
	for (int t = 0; t < p->trials; t++) {
		double ts, tq = 0, tk = 1, tj;
		uint64_t insns, ik, ij, ss, sq, sk = 0, sj;

		/* the interpreter, the JIT tier, TCG, KVM: interleaved */
		if (sk_vmm(VMM_BACKEND_SOFT, img, len, k, n, &ts, &insns, &ss,
			   VMM_CFG_NO_JIT) ||
		    sk_vmm(VMM_BACKEND_SOFT, img, len, k, n, &tj, &ij, &sj,
			   VMM_CFG_JIT) ||
		    (qemu && sk_qemu(qemu, path, k, n, &tq, &sq)) ||
		    (kvm && sk_vmm(VMM_BACKEND_KVM, img, len, k, n, &tk, &ik,
				   &sk, 0)))
			goto out;
		if (sj != ss || ij != insns || tj <= 0) {
			fprintf(stderr, "vmm-bench: kernel %s: the JIT tier "
				"differs from the interpreter (sum %016llx / "
				"%016llx, %llu / %llu instructions)\n",
				sk_kernels[k].name, (unsigned long long)sj,
				(unsigned long long)ss, (unsigned long long)ij,
				(unsigned long long)insns);
			goto out;
		}
		j[t] = (double)insns / tj / 1e6;
		if (t == 0)
			sum0 = ss;
		if (!kvm)
			sk = ss;
		if (ss != sum0 || sk != sum0 || (qemu && sq != sum0)) {
			fprintf(stderr, "vmm-bench: kernel %s n=%llu: checksums "
				"differ (soft %016llx, KVM %016llx, TCG %016llx)\n",
				sk_kernels[k].name, (unsigned long long)n,
				(unsigned long long)ss, (unsigned long long)sk,
				(unsigned long long)(qemu ? sq : 0));
			goto out;
		}
		if (insns == 0 || ts <= 0 || tk <= 0 || (qemu && tq <= 0))
			goto out;
		s[t] = (double)insns / ts / 1e6;
		q[t] = qemu ? (double)insns / tq / 1e6 : 0;
		v[t] = kvm ? (double)insns / tk / 1e6 : 0;
	}
	c->soft = median(s, p->trials);
	c->tcg = qemu ? median(q, p->trials) : 0;
	c->kvm = kvm ? median(v, p->trials) : 0;
	c->jit = median(j, p->trials);
	c->trials = p->trials;
	c->n = (long)n;
	c->done = true;
	ret = 0;
out:
	free(s);
	free(q);
	free(v);
	free(j);
	free(img);
	return ret;
}

static char sk_names[SK_N][48];
static char sk_jnames[SK_N][56];

/* the JIT tier's line: soft-jit-vs-tcg-<kernel> */
static void sk_print_jit(const struct params *p, unsigned k)
{
	struct sk_res *c = &sk_cache[k];
	struct result r;

	snprintf(sk_jnames[k], sizeof(sk_jnames[k]), "soft-jit%s",
		 sk_names[k] + 4);
	r = (struct result){ sk_jnames[k], c->jit, c->tcg, "Minsn/s",
			     "QEMU TCG, same image (JIT tier on)", c->trials,
			     c->n };
	bench_print(p, &r);
}

static int sk_entry(const struct params *p, struct result *res, unsigned k)
{
	struct sk_res *c = &sk_cache[k];

	if (sk_measure(p, k))
		return -1;
	if (c->tcg <= 0) {
		fprintf(stderr, "vmm-bench: soft-vs-tcg-%s: qemu-system-x86_64 "
			"not installed\n", sk_kernels[k].name);
		return 1;
	}
	if (sk_kernels[k].image)
		snprintf(sk_names[k], sizeof(sk_names[k]), "soft-vs-tcg-%s-%s",
			 sk_kernels[k].image, sk_kernels[k].name);
	else
		snprintf(sk_names[k], sizeof(sk_names[k]), "soft-vs-tcg-%s",
			 sk_kernels[k].name);
	*res = (struct result){ sk_names[k], c->soft, c->tcg, "Minsn/s",
				"QEMU TCG, same image (interpreter)", c->trials,
				c->n };
	sk_print_jit(p, k);
	return 0;
}

#define SK_ENTRY(name, k)                                                  \
	int bench_soft_tcg_##name(const struct params *p, struct result *res) \
	{                                                                  \
		return sk_entry(p, res, k);                                \
	}
SK_ENTRY(sieve, 0)
SK_ENTRY(crc32, 1)
SK_ENTRY(memcpy, 2)
SK_ENTRY(chase, 3)
SK_ENTRY(interp, 4)
SK_ENTRY(regloop, 5)
SK_ENTRY(loadstore, 6)

/*
 * Geometric means over kernels [@lo, @hi) (measuring those not yet
 * measured); @kvm over those that ran on KVM.
 */
static int sk_geomean(const struct params *p, unsigned lo, unsigned hi,
		      double *soft, double *tcg, double *kvm, double *jit)
{
	double ls = 0, lq = 0, lk = 0, lj = 0;
	unsigned nk = 0;

	for (unsigned k = lo; k < hi; k++) {
		if (!sk_cache[k].done && sk_measure(p, k))
			return -1;
		ls += log(sk_cache[k].soft);
		lj += log(sk_cache[k].jit);
		lq += sk_cache[k].tcg > 0 ? log(sk_cache[k].tcg) : 0;
		if (sk_cache[k].kvm > 0) {
			lk += log(sk_cache[k].kvm);
			nk++;
		}
	}
	*soft = exp(ls / (hi - lo));
	*jit = exp(lj / (hi - lo));
	*tcg = sk_cache[lo].tcg > 0 ? exp(lq / (hi - lo)) : 0;
	*kvm = nk ? exp(lk / nk) : 0;
	return 0;
}

int bench_soft_tcg_geomean(const struct params *p, struct result *res)
{
	double s, q, v, jt;
	struct result r;

	if (sk_geomean(p, 0, SK_OLD, &s, &q, &v, &jt))
		return -1;
	if (q <= 0) {
		fprintf(stderr, "vmm-bench: soft-vs-tcg-geomean: "
			"qemu-system-x86_64 not installed\n");
		return 1;
	}
	r = (struct result){ "soft-jit-vs-tcg-geomean", jt, q, "Minsn/s",
			     "QEMU TCG, geomean of 7 kernels (JIT tier on)",
			     sk_cache[0].trials, 0 };
	bench_print(p, &r);
	*res = (struct result){ "soft-vs-tcg-geomean", s, q, "Minsn/s",
				"QEMU TCG, geomean of 7 kernels",
				sk_cache[0].trials, 0 };
	return 0;
}

int bench_soft_kvm_geomean(const struct params *p, struct result *res)
{
	double s, q, v, jt;

	if (sk_geomean(p, 0, SK_OLD, &s, &q, &v, &jt))
		return -1;
	*res = (struct result){ "soft-vs-kvm-geomean", s, v, "Minsn/s",
				"KVM, geomean of 7 kernels",
				sk_cache[0].trials, 0 };
	return 0;
}

/*
 * soft-vs-tcg-cc: one line per compiler-generated kernel and image
 * (soft-vs-tcg-<image>-<kernel>), then soft-vs-tcg-cc-geomean over them.
 * VMM_BENCH_CC=<substring> runs only the lines whose name contains it.
 */
int bench_soft_tcg_cc(const struct params *p, struct result *res)
{
	const char *filter = getenv("VMM_BENCH_CC");
	double ls = 0, lq = 0, lj = 0;
	unsigned nk = 0;
	struct result rj;

	for (unsigned k = SK_OLD; k < SK_N; k++) {
		struct result r;
		int rc;

		if (filter) {
			char name[48];
			snprintf(name, sizeof(name), "%s-%s",
				 sk_kernels[k].image, sk_kernels[k].name);
			if (!strstr(name, filter))
				continue;
		}
		rc = sk_entry(p, &r, k);
		if (rc)
			return rc;
		bench_print(p, &r);
		ls += log(r.value);
		lq += log(r.baseline);
		lj += log(sk_cache[k].jit);
		nk++;
	}
	if (!nk)
		return 1;
	rj = (struct result){ "soft-jit-vs-tcg-cc-geomean", exp(lj / nk),
			      exp(lq / nk), "Minsn/s",
			      "QEMU TCG, geomean of the kernels above (JIT)",
			      p->trials, 0 };
	bench_print(p, &rj);
	*res = (struct result){ "soft-vs-tcg-cc-geomean", exp(ls / nk),
				exp(lq / nk), "Minsn/s",
				"QEMU TCG, geomean of the kernels above",
				p->trials, 0 };
	return 0;
}

/* All kernels: the seven and the compiler-generated ones. */
int bench_soft_tcg_all_geomean(const struct params *p, struct result *res)
{
	double s, q, v, jt;
	struct result r;

	if (sk_geomean(p, 0, SK_N, &s, &q, &v, &jt))
		return -1;
	if (q <= 0) {
		fprintf(stderr, "vmm-bench: soft-vs-tcg-all-geomean: "
			"qemu-system-x86_64 not installed\n");
		return 1;
	}
	r = (struct result){ "soft-jit-vs-tcg-all-geomean", jt, q, "Minsn/s",
			     "QEMU TCG, geomean of all kernels (JIT tier on)",
			     sk_cache[0].trials, 0 };
	bench_print(p, &r);
	*res = (struct result){ "soft-vs-tcg-all-geomean", s, q, "Minsn/s",
				"QEMU TCG, geomean of all kernels",
				sk_cache[0].trials, 0 };
	return 0;
}

/* ---- soft-vs-unicorn-* ---- */

#ifdef VMM_BENCH_UNICORN
/*
 * Each kernel's own C function, called by its ELF symbol in the image the
 * guest runs: the guests call every kernel and setup function through
 * KERN_CALL (kernels.h), so it keeps the standard calling convention and
 * the bytes at the symbol are the ones the guest executes.  Unicorn gets
 * the image's loadable segments at their addresses (the guest RAM's first
 * KERN_RAM_MIB, zeroed), runs the setup function (untimed), then the
 * kernel (timed: uc_emu_start() only) and the checksum function where the
 * guest computes the checksum after its end marker (memcpy), each called
 * with a return address at which emulation stops.
 */
#include <elf.h>

#define UC_LO 0x1000ull
#define UC_RAM ((uint64_t)KERN_RAM_MIB << 20)
#define UC_STOP (UC_RAM - 0x1000)      /* return address: a page of HLT */
#define UC_STACK_TOP (UC_RAM - 0x10000) /* 16-byte aligned, 60 KiB below */

/* An argument: a work-buffer address, or the size N as the kernel takes
 * it (uint64_t; unsigned long, 32 bits wide in the 32-bit images). */
enum { UA_NONE, UA_PTR, UA_N64, UA_NLONG };
struct uc_arg {
	uint8_t kind;
	uint32_t addr;
};
struct uc_fn {
	const char *sym; /* NULL: none */
	struct uc_arg a[3];
};
#define UP(off) { UA_PTR, KERN_BUF0 + (off) }
#define UN { UA_N64, 0 }
#define UL { UA_NLONG, 0 }
/* what guest_main of kernels.c / kernels_cc.c does around its markers */
static const struct uc_kern {
	const char *name;
	struct uc_fn setup, kern, post;
} uc_kerns[] = {
	{ "sieve", { NULL }, { "kern_sieve", { UP(0), UN } }, { NULL } },
	{ "crc32", { "crc_setup", { UP(0) } },
	  { "kern_crc32", { UP(0), UN } }, { NULL } },
	{ "memcpy", { "memcpy_setup", { UP(0) } },
	  { "kern_memcpy", { UP(0), UP(KERN_BUF_SIZE), UN } },
	  { "memcpy_sum", { UP(0), UP(KERN_BUF_SIZE) } } },
	/* struct node: 16 bytes, the permutation after the nodes */
	{ "chase", { "chase_setup", { UP(0), UP(KERN_CHASE_NODES * 16) } },
	  { "kern_chase", { UP(0), UN } }, { NULL } },
	{ "interp", { NULL }, { "kern_interp", { UN } }, { NULL } },
	{ "regloop", { NULL }, { "kern_regloop", { UN } }, { NULL } },
	{ "loadstore", { NULL }, { "kern_loadstore", { UP(0), UN } }, { NULL } },
	{ "bcvm", { NULL }, { "kern_bcvm", { UN } }, { NULL } },
	{ "sha256", { "sha_setup", { UP(0) } },
	  { "kern_sha256", { UP(0), UN } }, { NULL } },
	{ "qsort", { NULL }, { "kern_qsort", { UP(0), UN } }, { NULL } },
	{ "strsearch", { "ss_setup", { UP(0) } },
	  { "kern_strsearch", { UP(0), UN } }, { NULL } },
	{ "matmul", { NULL }, { "kern_matmul", { UP(0), UN } }, { NULL } },
	{ "loop-alu", { NULL }, { "loop_alu", { UL } }, { NULL } },
	{ "loop-load", { "words_setup", { UP(0) } },
	  { "loop_load", { UP(0), UL } }, { NULL } },
	{ "loop-ls", { "words_setup", { UP(0) } },
	  { "loop_ls", { UP(0), UL } }, { NULL } },
};
#undef UP
#undef UN
#undef UL

static const struct uc_kern *uc_kern_of(unsigned k)
{
	for (size_t i = 0; i < sizeof(uc_kerns) / sizeof(uc_kerns[0]); i++)
		if (!strcmp(uc_kerns[i].name, sk_kernels[k].name))
			return &uc_kerns[i];
	return NULL;
}

/* An ELF image of the kernels guests (ELF64 x86-64 or ELF32 i386): every
 * header, offset and size is checked against the file before use. */
struct uc_elf {
	const uint8_t *b;
	size_t len;
	bool is64;
	uint64_t phoff, shoff;
	unsigned phnum, shnum;
};

static bool uc_in(const struct uc_elf *e, uint64_t off, uint64_t size)
{
	return off <= e->len && size <= e->len - off;
}

static int uc_elf_open(struct uc_elf *e, const uint8_t *b, size_t len)
{
	memset(e, 0, sizeof(*e));
	e->b = b;
	e->len = len;
	if (len < sizeof(Elf64_Ehdr) || memcmp(b, ELFMAG, SELFMAG) ||
	    b[EI_DATA] != ELFDATA2LSB)
		return -ENOEXEC;
	if (b[EI_CLASS] == ELFCLASS64) {
		Elf64_Ehdr h;
		memcpy(&h, b, sizeof(h));
		if (h.e_machine != EM_X86_64 ||
		    h.e_phentsize != sizeof(Elf64_Phdr) ||
		    h.e_shentsize != sizeof(Elf64_Shdr))
			return -ENOEXEC;
		e->is64 = true;
		e->phoff = h.e_phoff;
		e->shoff = h.e_shoff;
		e->phnum = h.e_phnum;
		e->shnum = h.e_shnum;
	} else if (b[EI_CLASS] == ELFCLASS32) {
		Elf32_Ehdr h;
		memcpy(&h, b, sizeof(h));
		if (h.e_machine != EM_386 ||
		    h.e_phentsize != sizeof(Elf32_Phdr) ||
		    h.e_shentsize != sizeof(Elf32_Shdr))
			return -ENOEXEC;
		e->phoff = h.e_phoff;
		e->shoff = h.e_shoff;
		e->phnum = h.e_phnum;
		e->shnum = h.e_shnum;
	} else {
		return -ENOEXEC;
	}
	if (!uc_in(e, e->phoff, (uint64_t)e->phnum * (e->is64 ?
		   sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr))) ||
	    !uc_in(e, e->shoff, (uint64_t)e->shnum * (e->is64 ?
		   sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr))))
		return -ENOEXEC;
	return 0;
}

/* Program header @i, widened. */
static Elf64_Phdr uc_elf_phdr(const struct uc_elf *e, unsigned i)
{
	Elf64_Phdr p;
	Elf32_Phdr q;

	if (e->is64) {
		memcpy(&p, e->b + e->phoff + i * sizeof(p), sizeof(p));
		return p;
	}
	memcpy(&q, e->b + e->phoff + i * sizeof(q), sizeof(q));
	return (Elf64_Phdr){ .p_type = q.p_type, .p_offset = q.p_offset,
			     .p_vaddr = q.p_vaddr, .p_paddr = q.p_paddr,
			     .p_filesz = q.p_filesz, .p_memsz = q.p_memsz };
}

static Elf64_Shdr uc_elf_shdr(const struct uc_elf *e, unsigned i)
{
	Elf64_Shdr s;
	Elf32_Shdr t;

	if (e->is64) {
		memcpy(&s, e->b + e->shoff + i * sizeof(s), sizeof(s));
		return s;
	}
	memcpy(&t, e->b + e->shoff + i * sizeof(t), sizeof(t));
	return (Elf64_Shdr){ .sh_type = t.sh_type, .sh_link = t.sh_link,
			     .sh_offset = t.sh_offset, .sh_size = t.sh_size };
}

/* The address of the one function symbol @name (local or global). */
static int uc_elf_sym(const struct uc_elf *e, const char *name,
		      uint64_t *addr)
{
	size_t esz = e->is64 ? sizeof(Elf64_Sym) : sizeof(Elf32_Sym),
	       nlen = strlen(name);
	int found = 0;

	for (unsigned i = 0; i < e->shnum; i++) {
		Elf64_Shdr sy = uc_elf_shdr(e, i), st;

		if (sy.sh_type != SHT_SYMTAB || sy.sh_link >= e->shnum)
			continue;
		st = uc_elf_shdr(e, sy.sh_link);
		if (!uc_in(e, sy.sh_offset, sy.sh_size) ||
		    !uc_in(e, st.sh_offset, st.sh_size))
			return -ENOEXEC;
		for (uint64_t o = 0; o + esz <= sy.sh_size; o += esz) {
			const uint8_t *p = e->b + sy.sh_offset + o;
			uint64_t nm, val;
			unsigned type;

			if (e->is64) {
				Elf64_Sym s;
				memcpy(&s, p, sizeof(s));
				nm = s.st_name;
				val = s.st_value;
				type = ELF64_ST_TYPE(s.st_info);
			} else {
				Elf32_Sym s;
				memcpy(&s, p, sizeof(s));
				nm = s.st_name;
				val = s.st_value;
				type = ELF32_ST_TYPE(s.st_info);
			}
			if (type != STT_FUNC || nm >= st.sh_size ||
			    st.sh_size - nm < nlen + 1 ||
			    memcmp(e->b + st.sh_offset + nm, name, nlen + 1))
				continue;
			*addr = val;
			found++;
		}
	}
	return found == 1 ? 0 : found ? -ENOTUNIQ : -ENOENT;
}

/*
 * Check the loadable segments (identity-mapped, inside [UC_LO,
 * KERN_BUF0), inside the file) and, with @flat, that the flat image the
 * guest boots holds the same bytes (objcopy -O binary: offset 0 = the
 * lowest segment).  With @uc, copy them in.
 */
static int uc_elf_load(const struct uc_elf *e, const uint8_t *flat,
		       size_t flen, uc_engine *uc)
{
	uint64_t base = UINT64_MAX;
	unsigned nload = 0;

	for (unsigned i = 0; i < e->phnum; i++) {
		Elf64_Phdr p = uc_elf_phdr(e, i);
		if (p.p_type == PT_LOAD && p.p_vaddr < base)
			base = p.p_vaddr;
	}
	for (unsigned i = 0; i < e->phnum; i++) {
		Elf64_Phdr p = uc_elf_phdr(e, i);

		if (p.p_type != PT_LOAD)
			continue;
		if (p.p_vaddr != p.p_paddr || p.p_vaddr < UC_LO ||
		    p.p_memsz > KERN_BUF0 || p.p_filesz > p.p_memsz ||
		    p.p_vaddr > KERN_BUF0 - p.p_memsz ||
		    !uc_in(e, p.p_offset, p.p_filesz))
			return -ENOEXEC;
		if (flat && (p.p_vaddr - base > flen ||
			     p.p_filesz > flen - (p.p_vaddr - base) ||
			     memcmp(flat + (p.p_vaddr - base),
				    e->b + p.p_offset, p.p_filesz)))
			return -EILSEQ;
		if (uc && p.p_filesz &&
		    uc_mem_write(uc, p.p_vaddr, e->b + p.p_offset, p.p_filesz))
			return -EIO;
		nload++;
	}
	return nload ? 0 : -ENOEXEC;
}

/*
 * Call the function at @fn with @a (N = @n) the way the image's compiler
 * does: System V in 64-bit mode (RDI, RSI, RDX), cdecl in 32-bit mode
 * (on the stack, a uint64_t as two words); RSP/ESP + 4|8 is 16-byte
 * aligned at entry.  Stops at the return address UC_STOP and checks that
 * the function really returned there (RSP/ESP popped).  @ret: RAX or
 * EDX:EAX; @secs: the time of uc_emu_start().
 */
static int uc_call(uc_engine *uc, bool is64, uint64_t fn,
		   const struct uc_arg *a, uint64_t n, uint64_t *ret,
		   double *secs)
{
	static const int regs64[] = { UC_X86_REG_RDI, UC_X86_REG_RSI,
				      UC_X86_REG_RDX };
	uint8_t frame[32];
	size_t fl = 0;
	uint64_t sp;
	uc_err err = UC_ERR_OK;
	double t0;

	for (int i = 0; i < 3 && a[i].kind != UA_NONE; i++) {
		uint64_t v = a[i].kind == UA_PTR ? a[i].addr : n;
		size_t w = !is64 && a[i].kind != UA_N64 ? 4 : 8;

		if (w == 4 && v > UINT32_MAX)
			return -ERANGE;
		if (is64)
			err = uc_reg_write(uc, regs64[i], &v);
		else
			for (size_t b = 0; b < w; b++)
				frame[fl++] = (uint8_t)(v >> (8 * b));
		if (err)
			goto fail;
	}
	if (is64) {
		uint64_t stop = UC_STOP;
		sp = UC_STACK_TOP - 8;
		if ((err = uc_mem_write(uc, sp, &stop, 8)) ||
		    (err = uc_reg_write(uc, UC_X86_REG_RSP, &sp)))
			goto fail;
	} else {
		uint32_t stop = UC_STOP, esp;
		uint64_t args = UC_STACK_TOP - ((fl + 15) & ~(size_t)15);
		sp = args - 4;
		esp = (uint32_t)sp;
		if ((fl && (err = uc_mem_write(uc, args, frame, fl))) ||
		    (err = uc_mem_write(uc, sp, &stop, 4)) ||
		    (err = uc_reg_write(uc, UC_X86_REG_ESP, &esp)))
			goto fail;
	}
	t0 = now_ns();
	err = uc_emu_start(uc, fn, UC_STOP, 0, 0);
	*secs = (now_ns() - t0) / 1e9;
	if (err)
		goto fail;
	if (is64) {
		uint64_t rip, rsp;
		if ((err = uc_reg_read(uc, UC_X86_REG_RIP, &rip)) ||
		    (err = uc_reg_read(uc, UC_X86_REG_RSP, &rsp)) ||
		    (err = uc_reg_read(uc, UC_X86_REG_RAX, ret)))
			goto fail;
		if (rip != UC_STOP || rsp != sp + 8)
			return -EPROTO;
	} else {
		uint32_t eip, esp, eax, edx;
		if ((err = uc_reg_read(uc, UC_X86_REG_EIP, &eip)) ||
		    (err = uc_reg_read(uc, UC_X86_REG_ESP, &esp)) ||
		    (err = uc_reg_read(uc, UC_X86_REG_EAX, &eax)) ||
		    (err = uc_reg_read(uc, UC_X86_REG_EDX, &edx)))
			goto fail;
		if (eip != UC_STOP || esp != sp + 4)
			return -EPROTO;
		*ret = (uint64_t)edx << 32 | eax;
	}
	return 0;
fail:
	fprintf(stderr, "vmm-bench: unicorn: %s\n", uc_strerror(err));
	return -EIO;
}

/* The functions of one kernel, resolved in its image. */
struct uc_prog {
	struct uc_elf elf;
	const uint8_t *flat;
	size_t flen;
	const struct uc_kern *uk;
	uint64_t setup, kern, post;
};

static void uc_count_insn(uc_engine *uc, uint64_t addr, uint32_t size,
			  void *opaque)
{
	(void)uc;
	(void)addr;
	(void)size;
	++*(uint64_t *)opaque;
}

/*
 * One run of kernel @k with size @n under Unicorn: a fresh engine, the
 * image, setup, the timed kernel, the checksum.  With @count, a code hook
 * counts the kernel call's instructions into it (slow: not for timing).
 */
static int uc_run(const struct uc_prog *pg, uint64_t n, double *secs,
		  uint64_t *sum, uint64_t *count)
{
	static const uint8_t hlt[16] = { 0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4,
		0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4 };
	const struct uc_kern *uk = pg->uk;
	bool is64 = pg->elf.is64;
	uc_engine *uc;
	uc_hook hk;
	uc_err err;
	double t;
	uint64_t r;
	int ret;

	err = uc_open(UC_ARCH_X86, is64 ? UC_MODE_64 : UC_MODE_32, &uc);
	if (err) {
		fprintf(stderr, "vmm-bench: uc_open: %s\n", uc_strerror(err));
		return -EIO;
	}
	if ((err = uc_mem_map(uc, UC_LO, KERN_BUF0 - UC_LO, UC_PROT_ALL)) ||
	    (err = uc_mem_map(uc, KERN_BUF0, UC_STOP - KERN_BUF0,
			      UC_PROT_READ | UC_PROT_WRITE)) ||
	    (err = uc_mem_map(uc, UC_STOP, UC_RAM - UC_STOP, UC_PROT_ALL)) ||
	    (err = uc_mem_write(uc, UC_STOP, hlt, sizeof(hlt)))) {
		fprintf(stderr, "vmm-bench: unicorn: %s\n", uc_strerror(err));
		ret = -EIO;
		goto out;
	}
	if ((ret = uc_elf_load(&pg->elf, NULL, 0, uc)) ||
	    (uk->setup.sym &&
	     (ret = uc_call(uc, is64, pg->setup, uk->setup.a, n, &r, &t))))
		goto out;
	if (count) {
		*count = 0;
		if ((err = uc_hook_add(uc, &hk, UC_HOOK_CODE,
				       (void *)uc_count_insn, count, 1, 0))) {
			fprintf(stderr, "vmm-bench: unicorn: %s\n",
				uc_strerror(err));
			ret = -EIO;
			goto out;
		}
	}
	if ((ret = uc_call(uc, is64, pg->kern, uk->kern.a, n, sum, secs)) ||
	    (count && uc_hook_del(uc, hk)) ||
	    (uk->post.sym &&
	     (ret = uc_call(uc, is64, pg->post, uk->post.a, n, sum, &t))))
		goto out;
out:
	uc_close(uc);
	return ret;
}

static int uc_prog_open(unsigned k, const uint8_t *img, size_t len,
			const char *path, uint8_t **elfbuf, struct uc_prog *pg)
{
	char ep[4096];
	size_t elen = 0;
	const char *what = "not an ELF image of the kernels guests";
	int ret;

	memset(pg, 0, sizeof(*pg));
	*elfbuf = NULL;
	pg->uk = uc_kern_of(k);
	if (!pg->uk)
		return -ENOENT;
	/* the 32-bit images are ELF; the 64-bit ones are objcopy -O binary
	 * of the .elf next to them */
	if (len >= SELFMAG && !memcmp(img, ELFMAG, SELFMAG)) {
		ret = uc_elf_open(&pg->elf, img, len);
	} else {
		snprintf(ep, sizeof(ep), "%s.elf", path);
		*elfbuf = bench_read_file(ep, &elen);
		if (!*elfbuf) {
			fprintf(stderr, "vmm-bench: cannot read %s\n", ep);
			return -ENOENT;
		}
		pg->flat = img;
		pg->flen = len;
		path = ep;
		ret = uc_elf_open(&pg->elf, *elfbuf, elen);
	}
	if (!ret) {
		what = "its segments are not the image's bytes, or out of place";
		ret = uc_elf_load(&pg->elf, pg->flat, pg->flen, NULL);
	}
	if (!ret) {
		what = "a kernel function is missing or not unique";
		ret = uc_elf_sym(&pg->elf, pg->uk->kern.sym, &pg->kern);
	}
	if (!ret && pg->uk->setup.sym)
		ret = uc_elf_sym(&pg->elf, pg->uk->setup.sym, &pg->setup);
	if (!ret && pg->uk->post.sym)
		ret = uc_elf_sym(&pg->elf, pg->uk->post.sym, &pg->post);
	if (ret)
		fprintf(stderr, "vmm-bench: %s (%s): %s\n", path,
			sk_kernels[k].name, what);
	return ret;
}

/* Medians of one kernel: interpreter, JIT tier, Unicorn (Minsn/s). */
struct uc_res {
	double soft, jit, uni;
	long n;
};

static int uc_measure(const struct params *p, unsigned k, struct uc_res *res)
{
	char pbuf[4096];
	const char *path = sk_kernel_image(k, pbuf, sizeof(pbuf));
	uint64_t n = sk_size(p, k);
	double *s = calloc((size_t)p->trials, sizeof(double));
	double *j = calloc((size_t)p->trials, sizeof(double));
	double *u = calloc((size_t)p->trials, sizeof(double));
	size_t len = 0;
	uint8_t *img = bench_read_file(path, &len), *elfbuf = NULL;
	struct uc_prog pg;
	const char *cc = getenv("VMM_BENCH_UC_COUNT");
	bool count_check = cc && !strcmp(cc, "1");
	int ret = -1;

	if (!img)
		fprintf(stderr, "vmm-bench: cannot read the kernels guest %s\n",
			path);
	if (!s || !j || !u || !img ||
	    uc_prog_open(k, img, len, path, &elfbuf, &pg))
		goto out;
	for (int t = 0; t < p->trials; t++) {
		double ts, tj, tu;
		uint64_t insns, ij, ss, sj, su;

		/* the interpreter, the JIT tier, Unicorn: interleaved */
		if (sk_vmm(VMM_BACKEND_SOFT, img, len, k, n, &ts, &insns, &ss,
			   VMM_CFG_NO_JIT) ||
		    sk_vmm(VMM_BACKEND_SOFT, img, len, k, n, &tj, &ij, &sj,
			   VMM_CFG_JIT) ||
		    uc_run(&pg, n, &tu, &su, NULL))
			goto out;
		/* the same code: Unicorn retires the guest's instructions
		 * between the markers but for the few around the call
		 * (7-55 here; its hook also counts each iteration of a REP
		 * string instruction, soft counts the instruction once).
		 * Only on request (VMM_BENCH_UC_COUNT=1, the smoke test):
		 * a code hook makes Unicorn ~100x slower. */
		if (t == 0 && count_check) {
			uint64_t cu, su2;
			double tc;
			if (uc_run(&pg, n, &tc, &su2, &cu))
				goto out;
			fprintf(stderr, "vmm-bench: %s: %llu instructions on "
				"soft, %llu under Unicorn\n",
				sk_kernels[k].name, (unsigned long long)insns,
				(unsigned long long)cu);
			if (su2 != ss || cu > insns || insns - cu > 128) {
				fprintf(stderr, "vmm-bench: kernel %s: Unicorn "
					"did not run the guest's code\n",
					sk_kernels[k].name);
				goto out;
			}
		}
		if (sj != ss || su != ss || ij != insns) {
			fprintf(stderr, "vmm-bench: kernel %s n=%llu: checksums "
				"differ (interpreter %016llx, JIT %016llx, "
				"Unicorn %016llx) or instruction counts (%llu / "
				"%llu)\n", sk_kernels[k].name,
				(unsigned long long)n, (unsigned long long)ss,
				(unsigned long long)sj, (unsigned long long)su,
				(unsigned long long)insns,
				(unsigned long long)ij);
			goto out;
		}
		if (insns == 0 || ts <= 0 || tj <= 0 || tu <= 0)
			goto out;
		s[t] = (double)insns / ts / 1e6;
		j[t] = (double)insns / tj / 1e6;
		u[t] = (double)insns / tu / 1e6;
	}
	res->soft = median(s, p->trials);
	res->jit = median(j, p->trials);
	res->uni = median(u, p->trials);
	res->n = (long)n;
	ret = 0;
out:
	free(s);
	free(j);
	free(u);
	free(img);
	free(elfbuf);
	return ret;
}

static char uc_names[SK_N][56];
static char uc_jnames[SK_N][64];

/* Both lines of kernel @k; the interpreter's in @res, unprinted. */
static int uc_entry(const struct params *p, unsigned k, struct result *res,
		    struct uc_res *m)
{
	struct result r;

	if (uc_measure(p, k, m))
		return -1;
	if (sk_kernels[k].image)
		snprintf(uc_names[k], sizeof(uc_names[k]),
			 "soft-vs-unicorn-%s-%s", sk_kernels[k].image,
			 sk_kernels[k].name);
	else
		snprintf(uc_names[k], sizeof(uc_names[k]), "soft-vs-unicorn-%s",
			 sk_kernels[k].name);
	snprintf(uc_jnames[k], sizeof(uc_jnames[k]), "soft-jit%s",
		 uc_names[k] + 4);
	r = (struct result){ uc_jnames[k], m->jit, m->uni, "Minsn/s",
			     "Unicorn, same code (JIT tier on)", p->trials,
			     m->n };
	bench_print(p, &r);
	*res = (struct result){ uc_names[k], m->soft, m->uni, "Minsn/s",
				"Unicorn, same code (interpreter)", p->trials,
				m->n };
	return 0;
}
#endif

#ifndef VMM_BENCH_UNICORN
static int uc_absent(const char *name)
{
	fprintf(stderr, "vmm-bench: %s: built without Unicorn "
		"(libunicorn-dev)\n", name);
	return 1;
}
#endif

/* The load/store kernel alone (in the default set of entries). */
int bench_soft_unicorn_loadstore(const struct params *p, struct result *res)
{
#ifdef VMM_BENCH_UNICORN
	struct uc_res m;

	return uc_entry(p, SK_LOADSTORE, res, &m);
#else
	(void)p;
	(void)res;
	return uc_absent("soft-vs-unicorn-loadstore");
#endif
}

/*
 * soft-vs-unicorn: every kernel of soft-vs-tcg-* and soft-vs-tcg-cc (the
 * same images, the same sizes), two lines each, then the geometric means.
 * VMM_BENCH_CC=<substring> runs only the kernels whose soft-vs-unicorn-*
 * name contains it.
 */
int bench_soft_unicorn(const struct params *p, struct result *res)
{
#ifdef VMM_BENCH_UNICORN
	const char *filter = getenv("VMM_BENCH_CC");
	double ls = 0, lj = 0, lu = 0;
	unsigned nk = 0;
	struct result rj;

	for (unsigned k = 0; k < SK_N; k++) {
		struct uc_res m;
		struct result r;
		char name[48];

		if (sk_kernels[k].image)
			snprintf(name, sizeof(name), "%s-%s",
				 sk_kernels[k].image, sk_kernels[k].name);
		else
			snprintf(name, sizeof(name), "%s", sk_kernels[k].name);
		if (filter && !strstr(name, filter))
			continue;
		if (uc_entry(p, k, &r, &m))
			return -1;
		bench_print(p, &r);
		ls += log(m.soft);
		lj += log(m.jit);
		lu += log(m.uni);
		nk++;
	}
	if (!nk)
		return 1;
	rj = (struct result){ "soft-jit-vs-unicorn-geomean", exp(lj / nk),
			      exp(lu / nk), "Minsn/s",
			      "Unicorn, geomean of the kernels above (JIT)",
			      p->trials, 0 };
	bench_print(p, &rj);
	*res = (struct result){ "soft-vs-unicorn-geomean", exp(ls / nk),
				exp(lu / nk), "Minsn/s",
				"Unicorn, geomean of the kernels above",
				p->trials, 0 };
	return 0;
#else
	(void)p;
	(void)res;
	return uc_absent("soft-vs-unicorn");
#endif
}

#endif /* VMM_BENCH_KERNELS_GUEST */
