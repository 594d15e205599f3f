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
 * soft-vs-unicorn-loadstore: the load/store kernel's machine code, cut out
 * of the object file the guest is linked from (and checked to appear
 * byte for byte in the image), run by Unicorn in 64-bit mode against the
 * same kernel in the guest on the software backend.
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
			r->t[1] = (now_ns() / 1e9);
		r->have_insns = ctx->vcpu &&
			vmm_vcpu_get_stats(ctx->vcpu, &st) == 0 &&
			(st.valid & VMM_VCPU_STAT_INSNS);
		r->insns[i] = st.insns_retired;
		if (!i)
			r->t[0] = (now_ns() / 1e9);
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

/* ---- soft-vs-unicorn-loadstore ---- */

#ifdef VMM_BENCH_UNICORN
#define UC_CODE 0x100000ull
#define UC_STOP 0x1ff000ull     /* return address: emulation ends here */
#define UC_STACK 0x200000ull    /* 64 KiB */
#define UC_DATA 0x300000ull     /* the kernel's array */

/* Seconds Unicorn takes to run @code (kern_loadstore) with @n; @sum = RAX. */
static int sk_unicorn(const uint8_t *code, size_t len, uint64_t n,
		      double *secs, uint64_t *sum)
{
	uint64_t rsp = UC_STACK + 0x10000 - 8, stop = UC_STOP;
	uint64_t rdi = UC_DATA, rsi = n;
	uc_engine *uc;
	uc_err err;
	double t0;
	int ret = -EIO;

	if (len > UC_STOP - UC_CODE)
		return -E2BIG;
	err = uc_open(UC_ARCH_X86, UC_MODE_64, &uc);
	if (err) {
		fprintf(stderr, "vmm-bench: uc_open: %s\n", uc_strerror(err));
		return -EIO;
	}
	if ((err = uc_mem_map(uc, UC_CODE, 0x100000, UC_PROT_ALL)) ||
	    (err = uc_mem_map(uc, UC_STACK, 0x10000,
			      UC_PROT_READ | UC_PROT_WRITE)) ||
	    (err = uc_mem_map(uc, UC_DATA, KERN_LS_WORDS * 8,
			      UC_PROT_READ | UC_PROT_WRITE)) ||
	    (err = uc_mem_write(uc, UC_CODE, code, len)) ||
	    (err = uc_mem_write(uc, rsp, &stop, 8)) ||
	    (err = uc_reg_write(uc, UC_X86_REG_RSP, &rsp)) ||
	    (err = uc_reg_write(uc, UC_X86_REG_RDI, &rdi)) ||
	    (err = uc_reg_write(uc, UC_X86_REG_RSI, &rsi)))
		goto out;
	t0 = (now_ns() / 1e9);
	err = uc_emu_start(uc, UC_CODE, UC_STOP, 0, 0);
	*secs = (now_ns() / 1e9) - t0;
	if (err)
		goto out;
	if ((err = uc_reg_read(uc, UC_X86_REG_RAX, sum)))
		goto out;
	ret = 0;
out:
	if (err)
		fprintf(stderr, "vmm-bench: unicorn: %s\n", uc_strerror(err));
	uc_close(uc);
	return ret;
}
#endif

int bench_soft_unicorn_loadstore(const struct params *p, struct result *res)
{
#ifdef VMM_BENCH_UNICORN
	const char *lsp = getenv("VMM_BENCH_KERNELS_LS");
	uint64_t n = sk_size(p, SK_LOADSTORE);
	double *s = calloc((size_t)p->trials, sizeof(double));
	double *u = calloc((size_t)p->trials, sizeof(double));
	size_t len = 0, clen = 0;
	uint8_t *img = bench_read_file(sk_image_path(), &len);
	uint8_t *code = bench_read_file(lsp ? lsp : VMM_BENCH_KERNELS_LS, &clen);
	int ret = -1;

	if (!s || !u || !img || !code) {
		fprintf(stderr, "vmm-bench: cannot read the kernels guest or "
			"its load/store code\n");
		goto out;
	}
	/* the very bytes the guest runs */
	if (!memmem(img, len, code, clen)) {
		fprintf(stderr, "vmm-bench: the load/store code is not in the "
			"kernels guest image\n");
		goto out;
	}
	for (int t = 0; t < p->trials; t++) {
		double ts, tu;
		uint64_t insns, ss, su;

		if (sk_vmm(VMM_BACKEND_SOFT, img, len, SK_LOADSTORE, n, &ts,
			   &insns, &ss, 0) ||
		    sk_unicorn(code, clen, n, &tu, &su))
			goto out;
		if (ss != su) {
			fprintf(stderr, "vmm-bench: load/store checksums differ "
				"(soft %016llx, Unicorn %016llx)\n",
				(unsigned long long)ss, (unsigned long long)su);
			goto out;
		}
		if (insns == 0 || ts <= 0 || tu <= 0)
			goto out;
		s[t] = (double)insns / ts / 1e6;
		u[t] = (double)insns / tu / 1e6;
	}
	*res = (struct result){ "soft-vs-unicorn-loadstore",
				median(s, p->trials), median(u, p->trials),
				"Minsn/s", "Unicorn 64-bit, same code",
				p->trials, (long)n };
	ret = 0;
out:
	free(s);
	free(u);
	free(img);
	free(code);
	return ret;
#else
	(void)p;
	(void)res;
	fprintf(stderr, "vmm-bench: soft-vs-unicorn-loadstore: built without "
		"Unicorn (libunicorn-dev)\n");
	return 1;
#endif
}

#endif /* VMM_BENCH_KERNELS_GUEST */
