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
 * create-destroy (per irqchip mode, vs the minimal raw VM), process-start
 * (vmm-run vs a minimal raw-KVM process), density (N idle VMs per process;
 * its own JSON fields: vms, per_vm_kib, create_us, ...), hypercall-roundtrip, hypercall-batch (time per operation,
 * 1,000 operations as one batch vs 1,000 single hypercalls),
 * hypercall-batch-exits (exits for those 1,000 operations), sandbox-call
 * (a function call with reset to the pristine state vs a fresh VM per
 * call) and sandbox-vs-fork (the same call vs fork+exec of /bin/true); the
 * sandbox benchmarks use the sha256 guest (env VMM_BENCH_SANDBOX_IMAGE
 * overrides its path).  device-models runs one console and one block
 * workload under the direct, split and passthrough device models and
 * prints one line per model and workload (exits per KiB, MiB/s, host CPU,
 * sharing, migratability; baseline = direct); env VMM_BENCH_MODELS_GUEST
 * overrides its guest image.  soft-mips: guest instructions per second of
 * the software backend on a CPL3 register loop vs the same loop on KVM,
 * and vs QEMU TCG (soft-vs-tcg) when qemu-system-x86_64 is installed.
 * soft-vs-tcg-<kernel>, soft-vs-tcg-geomean, soft-vs-kvm-geomean and
 * soft-vs-unicorn-loadstore: seven compute kernels on the software backend
 * against QEMU TCG, KVM and Unicorn (soft_kernels.c); soft-vs-tcg-cc
 * and soft-vs-tcg-all-geomean (only when named): 26 runs of compiler-
 * generated kernels in four images against QEMU TCG (soft_kernels.c);
 * soft-vs-unicorn (only when named): all of them against Unicorn.
 * Exit status 77 when KVM is not available (nothing to
 * compare against).  virtio-net-pps-tx/-rx and virtio-net-gbps-tx/-rx
 * (net.c): the guest's virtio-net driver against the host through the
 * same tap in a network namespace (--backend picks the guest's backend).
 */
#include <libvmm/libvmm.h>

#include "bench.h"
#include "cli.h"
#include "migguest.h"
#include "raw_kvm.h"
#ifdef VMM_BENCH_SANDBOX_IMAGE
#include "sandbox_rt.h"
#endif

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#ifdef VMM_BENCH_URING
#include <liburing.h>
#endif

/* struct result, struct params: bench.h */

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

/* The "device" behind port 0x80 in the libvmm run: consumes the byte. */
static int work_write(void *opaque, uint64_t off, const void *data,
		      unsigned size, struct vmm_io_ctx *ctx)
{
	(*(uint64_t *)opaque) += *(const uint8_t *)data;
	return 0;
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
	    (ret = bench_cpl3_state(l->vcpu, CODE_GPA, 0)))
		goto fail;
	if (devices &&
	    ((ret = vmm_bus_register(l->vm, VMM_SPACE_PIO, PORT_WORK, 1, &ops,
				     &l->sink, "work")) ||
	     (ret = vmm_debug_exit_attach(l->vm, PORT_STOP, 4, &dev))))
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
		if (bench_cpl3_state(l.vcpu, CODE_GPA, (uint32_t)p->iters))
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

/* create-destroy, process-start: startup.c; density: density.c */

/* ---- virtio-blk: the guest driver of tests/guests/virtio vs host I/O ----
 *
 * Both sides read the same 64 MiB file, warm in the host page cache (written,
 * synced, read once), with the same block size, queue depth and offset
 * sequence: the guest through virtio-blk (one vCPU polling its used ring at
 * CPL3, the device on the VM's I/O thread), the host with io_uring.  Each
 * trial runs both, in alternating order; the timed part excludes set-up
 * (VM creation and driver init, ring creation and buffer faults).  The
 * results are the medians; the per-trial ratios go to stderr.
 */

#define BENCH_PRINTED 1 /* a bench that printed its own lines */
#define VB_MARK_PORT 0x520
#define VB_FILE_SIZE (64ull << 20)
#define VB_STATUS 193 /* GUEST_EXIT_VIRTIO */

/* absolute CPU times of the vCPU (calling) thread and the VM's I/O
 * threads at a mark, seconds: user, sys, on CPU, run-queue wait */
struct vb_snap {
	double v[4], io[4];
};

struct vbench {
	vmm_vm *vm;
	double t0, t1;
	uint64_t ex0, ex1;
	struct vb_snap s0, s1; /* at the start and end marks */
};

static void vb_snap(struct vb_snap *s);

static int vb_mark(void *opaque, uint64_t off, const void *data,
		   unsigned size, struct vmm_io_ctx *ctx)
{
	struct vbench *v = opaque;
	struct vmm_vm_stats st = { .struct_size = sizeof(st) };
	uint32_t val = 0;

	memcpy(&val, data, size < 4 ? size : 4);
	vmm_vm_get_stats(v->vm, &st);
	if (val == 1) {
		vb_snap(&v->s0);
		v->ex0 = st.exits;
		v->t0 = now_ns();
	} else {
		v->t1 = now_ns();
		v->ex1 = st.exits;
		vb_snap(&v->s1);
	}
	return 0;
}

/* The guest image: $VMM_BENCH_VIRTIO_GUEST or next to this build. */
static char *vb_guest_image(size_t *len)
{
	const char *env = getenv("VMM_BENCH_VIRTIO_GUEST");
	char path[4096];
	ssize_t n;

	if (env)
		return bench_read_file(env, len);
	n = readlink("/proc/self/exe", path, sizeof(path) - 64);
	if (n <= 0)
		return NULL;
	path[n] = 0;
	if (strrchr(path, '/'))
		*strrchr(path, '/') = 0;
	strcat(path, "/../tests/guests/virtio/virtio_guest");
	return bench_read_file(path, len);
}

/* A 64 MiB file with data in the page cache (both sides read it). */
static int vb_make_file(char *path)
{
	static char block[1 << 20];
	int fd;

	strcpy(path, "/tmp/vmm-bench-blk-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	for (size_t i = 0; i < sizeof(block); i++)
		block[i] = (char)(i * 31 + 7);
	for (uint64_t off = 0; off < VB_FILE_SIZE; off += sizeof(block))
		if (pwrite(fd, block, sizeof(block), (off_t)off) !=
		    (ssize_t)sizeof(block)) {
			close(fd);
			unlink(path);
			return -1;
		}
	/* clean and cached: no writeback during the trials, both sides warm */
	if (fsync(fd) < 0) {
		close(fd);
		unlink(path);
		return -1;
	}
	for (uint64_t off = 0; off < VB_FILE_SIZE; off += sizeof(block))
		if (pread(fd, block, sizeof(block), (off_t)off) < 0)
			break;
	return fd;
}

/*
 * CPU time of the threads of guest runs and host runs, seconds, summed
 * over trials: user/sys from /proc/.../stat (clock ticks, coarse), time on
 * a CPU and time runnable but waiting for one from schedstat.
 */
struct vb_cpu {
	double vcpu_user, vcpu_sys; /* the calling thread runs the vCPU */
	double io_user, io_sys;     /* the VM's I/O thread ("vmm-io") */
	double vcpu_run, vcpu_wait, io_run, io_wait;
	double host_user, host_sys, host_run, host_wait; /* the baseline */
};

/* on-CPU and run-queue seconds of a thread, from its schedstat file (for
 * the calling thread, "/proc/thread-self/schedstat": the on-CPU time then
 * comes from CLOCK_THREAD_CPUTIME_ID - schedstat's lags by up to a tick
 * while the thread runs) */
static void vb_sched(const char *path, double *run, double *wait)
{
	unsigned long long r = 0, w = 0;
	FILE *f = fopen(path, "r");

	*run = *wait = 0;
	if (!f)
		return;
	if (fscanf(f, "%llu %llu", &r, &w) == 2) {
		*run = (double)r / 1e9;
		*wait = (double)w / 1e9;
	}
	fclose(f);
	if (strstr(path, "thread-self")) {
		struct timespec ts;

		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
		*run = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	}
}

/* user and sys ticks from a /proc/.../stat line; the comm in @comm */
static int vb_stat(const char *path, char *comm, size_t clen,
		   unsigned long long *ut, unsigned long long *st)
{
	char buf[512], *cp, *op;
	FILE *fp = fopen(path, "r");
	int ok = 0;

	if (!fp)
		return -1;
	if (fgets(buf, sizeof(buf), fp) && (cp = strrchr(buf, ')')) &&
	    (op = strchr(buf, '(')) &&
	    sscanf(cp + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu "
		   "%llu", ut, st) == 2) {
		if (comm)
			snprintf(comm, clen, "%.*s", (int)(cp - op - 1), op + 1);
		ok = 1;
	}
	fclose(fp);
	return ok ? 0 : -1;
}

static void vb_io_cpu(struct vb_cpu *c);

/* This thread's and this process's "vmm-io" threads' CPU time so far. */
static void vb_snap(struct vb_snap *s)
{
	unsigned long long ut = 0, st = 0;
	double tick = (double)sysconf(_SC_CLK_TCK);
	struct vb_cpu c = { 0 };

	vb_stat("/proc/thread-self/stat", NULL, 0, &ut, &st);
	s->v[0] = ut / tick;
	s->v[1] = st / tick;
	vb_sched("/proc/thread-self/schedstat", &s->v[2], &s->v[3]);
	vb_io_cpu(&c);
	s->io[0] = c.io_user;
	s->io[1] = c.io_sys;
	s->io[2] = c.io_run;
	s->io[3] = c.io_wait;
}

/* Add this process's "vmm-io" threads' CPU time to @c. */
static void vb_io_cpu(struct vb_cpu *c)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	double tick = (double)sysconf(_SC_CLK_TCK);

	if (!d)
		return;
	while ((de = readdir(d))) {
		char f[300], comm[32];
		unsigned long long ut, st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(f, sizeof(f), "/proc/self/task/%s/stat", de->d_name);
		if (!vb_stat(f, comm, sizeof(comm), &ut, &st) &&
		    !strcmp(comm, "vmm-io")) {
			double run, wait;

			c->io_user += ut / tick;
			c->io_sys += st / tick;
			snprintf(f, sizeof(f), "/proc/self/task/%s/schedstat",
				 de->d_name);
			vb_sched(f, &run, &wait);
			c->io_run += run;
			c->io_wait += wait;
		}
	}
	closedir(d);
}

/*
 * One guest run: seconds between the guest's markers and exits in it.
 * The device: libvmm's virtio-blk on @file with @nq queues, or with
 * @vhost_sock a vhost-user front-end to the back-end listening there
 * (guest RAM then memfd-backed, shareable).
 */
static int vb_guest_run_dev(const char *img, size_t img_len, const char *file,
			    const char *cmdline, uint32_t vflags, unsigned nq,
			    const char *vhost_sock, double *secs,
			    uint64_t *exits, struct vb_cpu *cpu)
{
	static const struct vmm_io_ops mark_ops = { .write = vb_mark };
	struct vmm_config cfg;
	struct vmm_uart_config uc;
	struct vmm_virtio_blk_config bc;
	struct vmm_boot_info info;
	struct vbench v = { 0 };
	struct vmm_exit e;
	vmm_vcpu *vcpu;
	vmm_dev *dev;
	int ret;

	struct vmm_vhost_user_config vc;
	struct vmm_mem_region ram = { .gpa = 0, .size = 64 << 20,
				      .source = VMM_MEM_MEMFD, .name = "ram" };

	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_KVM;
	if (!vhost_sock)
		cfg.ram_size = 64 << 20;
	cfg.flags = VMM_CFG_IGNORE_UNHANDLED_IO;
	if ((ret = vmm_vm_create(&cfg, &v.vm)))
		return ret;
	if (vhost_sock && (ret = vmm_mem_add(v.vm, &ram))) {
		vmm_vm_destroy(v.vm);
		return ret;
	}
	vmm_uart_config_init(&uc);
	vmm_virtio_blk_config_init(&bc, VMM_VIRTIO_MMIO);
	bc.virtio.mmio_base = 0xd0000000;
	bc.virtio.flags = vflags;
	bc.path = file;
	bc.num_queues = nq;
	/* VMM_BENCH_BLK_DIRECT=1: the device opens the image O_DIRECT (the
	 * host baseline stays buffered: compare the device's CPU per
	 * request between device modes, not the ratio) */
	bc.direct = getenv("VMM_BENCH_BLK_DIRECT") &&
		    atoi(getenv("VMM_BENCH_BLK_DIRECT")) == 1;
	memset(&vc, 0, sizeof(vc));
	vc.socket_path = vhost_sock;
	vc.device = VMM_VHOST_USER_BLK;
	vc.virtio = bc.virtio;
	if ((ret = vmm_vcpu_create(v.vm, 0, &vcpu)) ||
	    (ret = vmm_uart_attach(v.vm, &uc, &dev)) ||
	    (ret = vmm_debug_exit_attach(v.vm, 0xf4, 4, &dev)) ||
	    (ret = vmm_bus_register(v.vm, VMM_SPACE_PIO, VB_MARK_PORT, 4,
				    &mark_ops, &v, "bench-mark")) ||
	    (ret = vhost_sock ? vmm_vhost_user_attach(v.vm, &vc, &dev)
			      : vmm_virtio_blk_attach(v.vm, &bc, &dev)) ||
	    (ret = vmm_image_load_multiboot(v.vm, img, img_len, cmdline, NULL, 0,
				      &info)) ||
	    (ret = vmm_boot_setup_vcpu(vcpu, &info)) ||
	    (ret = vmm_vcpu_run_loop(vcpu, &e)))
		goto out;
	if (e.kind != VMM_EXIT_GUEST_EXIT || e.guest.status != VB_STATUS ||
	    v.t1 <= v.t0) {
		ret = -EIO;
		goto out;
	}
	*secs = (v.t1 - v.t0) / 1e9;
	*exits = v.ex1 - v.ex0;
	if (cpu) {
		/* between the marks: the timed part only */
		cpu->vcpu_user += v.s1.v[0] - v.s0.v[0];
		cpu->vcpu_sys += v.s1.v[1] - v.s0.v[1];
		cpu->vcpu_run += v.s1.v[2] - v.s0.v[2];
		cpu->vcpu_wait += v.s1.v[3] - v.s0.v[3];
		cpu->io_user += v.s1.io[0] - v.s0.io[0];
		cpu->io_sys += v.s1.io[1] - v.s0.io[1];
		cpu->io_run += v.s1.io[2] - v.s0.io[2];
		cpu->io_wait += v.s1.io[3] - v.s0.io[3];
	}
out:
	vmm_vm_destroy(v.vm);
	return ret;
}

static int vb_guest_run(const char *img, size_t img_len, const char *file,
			const char *cmdline, uint32_t vflags, double *secs,
			uint64_t *exits, struct vb_cpu *cpu)
{
	return vb_guest_run_dev(img, img_len, file, cmdline, vflags, 1, NULL,
				secs, exits, cpu);
}

static uint64_t vb_next(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545f4914f6cdd1dull;
}

/* The same reads from the host: io_uring at the same queue depth. */
static int vb_host_run(int fd, bool rnd, long reqs, unsigned qd, size_t bs,
		       double *secs)
{
	uint64_t nblk = VB_FILE_SIZE / bs, pos = 0, x = 0x9e3779b97f4a7c15ull;
	char *buf = aligned_alloc(4096, qd * bs);
	double t0;
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	memset(buf, 0, qd * bs); /* faulted in before the clock starts */
#ifdef VMM_BENCH_URING
	struct io_uring ring;
	long sent = 0, done = 0;

	if ((ret = io_uring_queue_init(qd * 2, &ring, 0))) {
		free(buf);
		return ret;
	}
	t0 = now_ns();
	while (done < reqs) {
		while (sent < reqs && sent - done < (long)qd) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			uint64_t blk = rnd ? vb_next(&x) % nblk : pos++ % nblk;
			io_uring_prep_read(sqe, fd, buf + (sent % qd) * bs,
					   (unsigned)bs, (off_t)(blk * bs));
			sent++;
		}
		io_uring_submit_and_wait(&ring, 1);
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		io_uring_for_each_cqe(&ring, head, cqe)
		{
			if (cqe->res != (int)bs)
				ret = -EIO;
			n++;
		}
		io_uring_cq_advance(&ring, n);
		done += n;
	}
	*secs = (now_ns() - t0) / 1e9;
	io_uring_queue_exit(&ring);
#else
	t0 = now_ns();
	for (long i = 0; i < reqs; i++) {
		uint64_t blk = rnd ? vb_next(&x) % nblk : pos++ % nblk;
		if (pread(fd, buf, bs, (off_t)(blk * bs)) != (ssize_t)bs)
			ret = -EIO;
	}
	*secs = (now_ns() - t0) / 1e9;
#endif
	free(buf);
	return ret;
}

/* vb_host_run() with its thread's CPU time added to @cpu (host_*) */
static int vb_host_run_cpu(int fd, bool rnd, long reqs, unsigned qd,
			   size_t bs, double *secs, struct vb_cpu *cpu)
{
	unsigned long long ut0 = 0, st0 = 0, ut1 = 0, st1 = 0;
	double tick = (double)sysconf(_SC_CLK_TCK), r0, w0, r1, w1;
	int ret;

	vb_stat("/proc/thread-self/stat", NULL, 0, &ut0, &st0);
	vb_sched("/proc/thread-self/schedstat", &r0, &w0);
	ret = vb_host_run(fd, rnd, reqs, qd, bs, secs);
	vb_stat("/proc/thread-self/stat", NULL, 0, &ut1, &st1);
	vb_sched("/proc/thread-self/schedstat", &r1, &w1);
	cpu->host_user += (ut1 - ut0) / tick;
	cpu->host_sys += (st1 - st0) / tick;
	cpu->host_run += r1 - r0;
	cpu->host_wait += w1 - w0;
	return ret;
}

/*
 * The CPU-time breakdown of a virtio-blk entry as a JSON object: per role
 * [user s, sys s, on-CPU s, run-queue wait s] over all trials - the vCPU
 * thread, the I/O thread and the host baseline's thread - and the load
 * average when it was printed.
 */
static void vb_cpu_json(const struct vb_cpu *c, char *out, size_t len)
{
	double la[3] = { 0, 0, 0 };

	if (getloadavg(la, 3) < 0)
		la[0] = la[1] = la[2] = -1;
	snprintf(out, len,
		 "\"cpu_s\":{\"vcpu\":[%.2f,%.2f,%.3f,%.3f],"
		 "\"io\":[%.2f,%.2f,%.3f,%.3f],"
		 "\"host\":[%.2f,%.2f,%.3f,%.3f]},"
		 "\"loadavg\":[%.2f,%.2f,%.2f]",
		 c->vcpu_user, c->vcpu_sys, c->vcpu_run, c->vcpu_wait,
		 c->io_user, c->io_sys, c->io_run, c->io_wait, c->host_user,
		 c->host_sys, c->host_run, c->host_wait, la[0], la[1], la[2]);
}

/* One virtio-blk result line with the CPU breakdown (JSON or text). */
static void vb_print(const struct params *p, const struct result *r,
		     const struct vb_cpu *c, const char *extra)
{
	double ratio = r->baseline > 0 ? r->value / r->baseline : 0;
	char cj[512];

	vb_cpu_json(c, cj, sizeof(cj));
	if (p->json)
		printf("{\"bench\":\"%s\",\"backend\":\"kvm\",\"value\":%.3f,"
		       "\"baseline\":%.3f,\"ratio\":%.4f,\"unit\":\"%s\","
		       "\"baseline_name\":\"%s\",\"trials\":%d,\"iters\":%ld,"
		       "%s%s%s}\n",
		       r->bench, r->value, r->baseline, ratio, r->unit,
		       r->baseline_name, r->trials, r->iters, cj,
		       extra ? "," : "", extra ? extra : "");
	else
		printf("%-16s %12.3f %12.3f %8.4f  %-8s (vs %s, median of %d; "
		       "%s%s%s)\n",
		       r->bench, r->value, r->baseline, ratio, r->unit,
		       r->baseline_name, r->trials, cj, extra ? "; " : "",
		       extra ? extra : "");
	fflush(stdout);
}

static int bench_virtio_blk(const struct params *p, struct result *res,
			    bool rnd, bool exits_only)
{
	size_t bs = rnd ? 4096 : 128 * 1024, img_len = 0;
	unsigned qd = rnd ? 32 : 16;
	/* VMM_BENCH_VIRTIO_QD overrides the queue depth (1..32) */
	if (getenv("VMM_BENCH_VIRTIO_QD") &&
	    atoi(getenv("VMM_BENCH_VIRTIO_QD")) >= 1 &&
	    atoi(getenv("VMM_BENCH_VIRTIO_QD")) <= 32)
		qd = (unsigned)atoi(getenv("VMM_BENCH_VIRTIO_QD"));
	/* VMM_BENCH_VIRTIO_BS overrides the block size (4 KiB..128 KiB,
	 * a multiple of 4 KiB: e.g. sequential 4 KiB reads, which merge) */
	if (getenv("VMM_BENCH_VIRTIO_BS") &&
	    atoi(getenv("VMM_BENCH_VIRTIO_BS")) >= 4096 &&
	    atoi(getenv("VMM_BENCH_VIRTIO_BS")) <= 131072 &&
	    atoi(getenv("VMM_BENCH_VIRTIO_BS")) % 4096 == 0)
		bs = (size_t)atoi(getenv("VMM_BENCH_VIRTIO_BS"));
	/* default --iters 20000: 5000 x 128 KiB (640 MiB) and 40000 x 4 KiB
	 * (160 MiB) per side and trial, a few hundred ms each here */
	long reqs = rnd ? p->iters * 2 : (p->iters / 4 > 100 ? p->iters / 4 : 100);
	double *a = calloc((size_t)p->trials, sizeof(double));
	double *b = calloc((size_t)p->trials, sizeof(double));
	double *r = calloc((size_t)p->trials, sizeof(double));
	char *img = vb_guest_image(&img_len), path[64], cmd[128];
	int fd = -1, ret = -1;
	struct vb_cpu cpu = { 0 };
	/* VMM_BENCH_BLK_FLAGS: VMM_VIRTIO_* flags of the device (e.g. to
	 * compare with request merging or registered buffers off) */
	uint32_t vflags = getenv("VMM_BENCH_BLK_FLAGS")
				  ? (uint32_t)strtoul(getenv("VMM_BENCH_BLK_FLAGS"),
						      NULL, 0)
				  : 0;

	if (!a || !b || !r || !img) {
		if (!img)
			fprintf(stderr, "vmm-bench: virtio guest image not found "
				"(set VMM_BENCH_VIRTIO_GUEST)\n");
		goto out;
	}
	if ((fd = vb_make_file(path)) < 0)
		goto out;
	snprintf(cmd, sizeof(cmd), "bench=%s reqs=%ld qd=%u bs=%zu",
		 rnd ? "rand" : "seq", reqs, qd, bs);
	for (int t = 0; t < p->trials; t++) {
		double gs, hs;
		uint64_t ex, ex2;

		if (exits_only) {
			/* exits per request with ioeventfd vs without */
			if (vb_guest_run(img, img_len, path, cmd, 0, &gs, &ex,
					 NULL) ||
			    vb_guest_run(img, img_len, path, cmd,
					 VMM_VIRTIO_NO_IOEVENTFD, &hs, &ex2,
					 NULL))
				goto out;
			a[t] = (double)ex / (double)reqs;
			b[t] = (double)ex2 / (double)reqs;
			continue;
		}
		/* alternate which side goes first: drift hits both */
		if (t % 2 &&
		    vb_host_run_cpu(fd, rnd, reqs, qd, bs, &hs, &cpu))
			ret = -ENXIO;
		else if ((ret = vb_guest_run(img, img_len, path, cmd, vflags,
					     &gs, &ex, &cpu)) == 0 &&
			 !(t % 2) &&
			 vb_host_run_cpu(fd, rnd, reqs, qd, bs, &hs, &cpu))
			ret = -ENXIO;
		if (ret) {
			fprintf(stderr, "vmm-bench: virtio-blk %s: %s\n",
				ret == -ENXIO ? "host run" : "guest run",
				vmm_strerror(ret));
			ret = -1;
			goto out;
		}
		a[t] = (double)reqs * (double)bs / gs / 1e6;
		b[t] = (double)reqs * (double)bs / hs / 1e6;
		r[t] = a[t] / b[t];
	}
	if (!exits_only && !p->json) {
		fprintf(stderr, "virtio-blk-%s-read: per-trial ratios",
			rnd ? "rand" : "seq");
		for (int t = 0; t < p->trials; t++)
			fprintf(stderr, " %.2f", r[t]);
		fprintf(stderr, "\n");
	}
	if (exits_only)
		*res = (struct result){ "virtio-blk-exits", median(a, p->trials),
					median(b, p->trials), "exits/req",
					"same guest without ioeventfd",
					p->trials, reqs };
	else {
		char ex[256];
		size_t o = 0;
		struct result rr = { rnd ? "virtio-blk-rand-read"
					 : "virtio-blk-seq-read",
				     median(a, p->trials), median(b, p->trials),
				     "MB/s",
#ifdef VMM_BENCH_URING
				     rnd ? "host io_uring 4K, same QD, warm"
					 : "host io_uring 128K, same QD, warm",
#else
				     "host pread QD1",
#endif
				     p->trials, reqs };

		/* the per-trial ratios (before median() sorted them) and
		 * the device flags */
		o += (size_t)snprintf(ex, sizeof(ex), "\"flags\":%u,"
				      "\"trial_ratios\":[", vflags);
		for (int t = 0; t < p->trials && o < sizeof(ex) - 8; t++)
			o += (size_t)snprintf(ex + o, sizeof(ex) - o, "%s%.3f",
					      t ? "," : "", r[t]);
		snprintf(ex + o, sizeof(ex) - o, "]");
		vb_print(p, &rr, &cpu, ex);
		ret = BENCH_PRINTED;
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	free(img);
	free(a);
	free(b);
	free(r);
	return ret;
}

static int bench_virtio_seq(const struct params *p, struct result *res)
{
	return bench_virtio_blk(p, res, false, false);
}

static int bench_virtio_rand(const struct params *p, struct result *res)
{
	return bench_virtio_blk(p, res, true, false);
}

static int bench_virtio_exits(const struct params *p, struct result *res)
{
	return bench_virtio_blk(p, res, false, true);
}

/* ---- hypercalls ------------------------------------------------------- */

/*
 * 32-bit CPL3 guest: ECX times { OUT ESI to the doorbell (DX); ESI += 176 },
 * then "out %eax,$0xf4".  ESI = the first call block.
 */
static const uint8_t hc_code[] = {
	0x89, 0xf0,                         /* 1: mov %esi, %eax */
	0xef,                               /*    out %eax, (%dx) */
	0x81, 0xc6, 0xb0, 0x00, 0x00, 0x00, /*    add $176, %esi */
	0xe2, 0xf5,                         /*    loop 1b */
	0xe7, 0xf4,                         /*    out %eax, $0xf4 */
	0xeb, 0xfe,                         /*    jmp . */
};
#define HC_OPS 1000
#define HC_NR_ADD 0x100
#define HC_BATCH_GPA 0x8000u
#define HC_ARRAY_GPA 0x10000u

static int64_t hc_add(void *opaque, struct vmm_hc_call *c)
{
	return (int64_t)(c->args[0] + c->args[1]);
}

struct hvm {
	vmm_vm *vm;
	vmm_vcpu *vcpu;
	vmm_hc *hc;
};

static int hvm_create(struct hvm *h)
{
	static const struct vmm_hc_sig sig = { .nargs = 2 };
	struct vmm_hc_config hcfg;
	struct vmm_hc_block b;
	struct vmm_config cfg;
	vmm_dev *dev;
	int ret;

	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_KVM;
	cfg.ram_size = 2 << 20;
	vmm_hc_config_init(&hcfg);
	hcfg.max_batch = HC_OPS;
	if ((ret = vmm_vm_create(&cfg, &h->vm)))
		return ret;
	if ((ret = vmm_vcpu_create(h->vm, 0, &h->vcpu)) ||
	    (ret = vmm_mem_write(h->vm, CODE_GPA, hc_code, sizeof(hc_code))) ||
	    (ret = vmm_debug_exit_attach(h->vm, PORT_STOP, 4, &dev)) ||
	    (ret = vmm_hc_attach(h->vm, &hcfg, &h->hc)) ||
	    (ret = vmm_hc_register(h->hc, HC_NR_ADD, "add", &sig, hc_add, NULL)))
		goto fail;
	for (uint32_t i = 0; i < HC_OPS; i++) {
		memset(&b, 0, sizeof(b));
		b.magic = VMM_HC_MAGIC;
		b.version = VMM_HC_VERSION;
		b.size = sizeof(b);
		b.nr = HC_NR_ADD;
		b.nargs = 2;
		b.args[0] = i;
		b.args[1] = 1;
		if ((ret = vmm_mem_write(h->vm, HC_ARRAY_GPA + i * sizeof(b), &b,
					 sizeof(b))))
			goto fail;
	}
	memset(&b, 0, sizeof(b));
	b.magic = VMM_HC_MAGIC;
	b.version = VMM_HC_VERSION;
	b.size = sizeof(b);
	b.nr = VMM_HC_NR_BATCH;
	b.nargs = 1;
	b.args[0] = HC_OPS;
	b.nbufs = 1;
	b.bufs[0].gpa = HC_ARRAY_GPA;
	b.bufs[0].len = HC_OPS * sizeof(b);
	b.bufs[0].dir = VMM_HC_DIR_INOUT;
	if ((ret = vmm_mem_write(h->vm, HC_BATCH_GPA, &b, sizeof(b))))
		goto fail;
	return 0;
fail:
	vmm_vm_destroy(h->vm);
	return ret;
}

/* Run @count doorbells starting at block @gpa; ns per operation. */
static double hvm_run(struct hvm *h, uint32_t count, uint32_t gpa,
		      uint64_t *doorbells)
{
	struct vmm_cpu_state st;
	struct vmm_hc_stats s0 = { .struct_size = sizeof(s0) },
		s1 = { .struct_size = sizeof(s1) };
	struct vmm_exit e;
	double t0, t1;

	if (bench_cpl3_state(h->vcpu, CODE_GPA, count) ||
	    vmm_vcpu_get_state(h->vcpu, &st))
		return -1;
	st.gpr[VMM_RSI] = gpa;
	st.gpr[VMM_RDX] = VMM_HC_PORT_DEFAULT;
	if (vmm_vcpu_set_state(h->vcpu, &st))
		return -1;
	vmm_hc_get_stats(h->hc, &s0);
	t0 = now_ns();
	if (vmm_vcpu_run_loop(h->vcpu, &e) || e.kind != VMM_EXIT_GUEST_EXIT)
		return -1;
	t1 = now_ns();
	vmm_hc_get_stats(h->hc, &s1);
	if (s1.calls - s0.calls != HC_OPS || s1.errors != s0.errors)
		return -1;
	*doorbells = s1.doorbells - s0.doorbells;
	return (t1 - t0) / HC_OPS;
}

/* One hypercall (block in RAM, one OUT) vs a bare OUT exit on raw KVM. */
static int bench_hypercall_roundtrip(const struct params *p, struct result *res)
{
	double *a = calloc((size_t)p->trials, sizeof(double));
	double *b = calloc((size_t)p->trials, sizeof(double));
	struct raw_vm *raw = NULL;
	struct hvm h;
	uint64_t n;
	int ret = -1;

	if (!a || !b || hvm_create(&h))
		goto out_free;
	raw = raw_vm_create(2 << 20, loop_code, sizeof(loop_code), CODE_GPA);
	if (!raw)
		goto out_vm;
	for (int t = 0; t < p->trials; t++) {
		double t0;
		long k;

		a[t] = hvm_run(&h, HC_OPS, HC_ARRAY_GPA, &n);
		if (a[t] < 0 || n != HC_OPS)
			goto out_vm;
		if (raw_vm_reset(raw, CODE_GPA, HC_OPS))
			goto out_vm;
		t0 = now_ns();
		k = raw_vm_run_until(raw, PORT_STOP);
		if (k != HC_OPS + 1)
			goto out_vm;
		b[t] = (now_ns() - t0) / (double)k;
	}
	*res = (struct result){ "hypercall-roundtrip", median(a, p->trials),
				median(b, p->trials), "ns/call",
				"raw KVM_RUN port-I/O exit", p->trials, HC_OPS };
	ret = 0;
out_vm:
	raw_vm_destroy(raw);
	vmm_vm_destroy(h.vm);
out_free:
	free(a);
	free(b);
	return ret;
}

/* The same 1,000 operations as one batch vs as 1,000 single hypercalls. */
static int bench_hypercall_batch_common(const struct params *p,
					struct result *res, bool exits)
{
	double *a = calloc((size_t)p->trials, sizeof(double));
	double *b = calloc((size_t)p->trials, sizeof(double));
	uint64_t nb = 0, ns = 0;
	struct hvm h;
	int ret = -1;

	if (!a || !b || hvm_create(&h))
		goto out_free;
	for (int t = 0; t < p->trials; t++) {
		a[t] = hvm_run(&h, 1, HC_BATCH_GPA, &nb);
		b[t] = hvm_run(&h, HC_OPS, HC_ARRAY_GPA, &ns);
		if (a[t] < 0 || b[t] < 0)
			goto out_vm;
	}
	if (exits)
		*res = (struct result){ "hypercall-batch-exits", (double)nb,
					(double)ns, "exits/1000ops",
					"1000 single hypercalls", p->trials,
					HC_OPS };
	else
		*res = (struct result){ "hypercall-batch", median(a, p->trials),
					median(b, p->trials), "ns/op",
					"1000 single hypercalls", p->trials,
					HC_OPS };
	ret = 0;
out_vm:
	vmm_vm_destroy(h.vm);
out_free:
	free(a);
	free(b);
	return ret;
}

static int bench_hypercall_batch(const struct params *p, struct result *res)
{
	return bench_hypercall_batch_common(p, res, false);
}

static int bench_hypercall_batch_exits(const struct params *p,
				       struct result *res)
{
	return bench_hypercall_batch_common(p, res, true);
}

/* ---- the function sandbox (examples/sandbox_rt.c) --------------------- */

#ifdef VMM_BENCH_SANDBOX_IMAGE
static void *sandbox_image(size_t *len)
{
	const char *path = getenv("VMM_BENCH_SANDBOX_IMAGE");
	FILE *f = fopen(path ? path : VMM_BENCH_SANDBOX_IMAGE, "rb");
	void *img;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	img = malloc((size_t)n);
	if (img && fread(img, 1, (size_t)n, f) != (size_t)n) {
		free(img);
		img = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return img;
}

static const char sandbox_input[] = "the quick brown fox jumps over the lazy dog";

static int sandbox_cfg_call(struct sb *sb)
{
	struct sb_result r;
	uint8_t out[64];
	int ret = sb_call(sb, sandbox_input, sizeof(sandbox_input) - 1, out,
			  sizeof(out), &r);
	return ret ? ret : (r.out_len == 32 ? 0 : -EIO);
}

/* µs per call from a pristine state (reset), or per fresh-VM call. */
/* CPU time (user + system) of this process, or of its waited-for
 * children, in µs. */
static double sb_cpu_us(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/*
 * µs per call from a pristine state (reset), or per fresh-VM call; fork+exec
 * of /bin/true.  @cpu (may be NULL): [0] the process's CPU time per reset
 * call (all threads), [1] CPU per fork+exec (the parent's fork and wait
 * plus the child's whole life, from rusage).
 */
static int sandbox_measure_cpu(const struct params *p, double *reset_us,
			       double *fresh_us, double *fork_us, long *iters,
			       double cpu[2])
{
	long calls = p->iters / 20 > 20 ? p->iters / 20 : 20;
	long fresh = 5;
	double *a = calloc((size_t)p->trials, sizeof(double));
	double *b = calloc((size_t)p->trials, sizeof(double));
	double *c = calloc((size_t)p->trials, sizeof(double));
	double *ca = calloc((size_t)p->trials * 2, sizeof(double));
	struct sb_config cfg;
	struct sb *sb = NULL;
	char why[200];
	size_t len;
	void *img = sandbox_image(&len);
	int ret = -1;

	if (!a || !b || !c || !ca || !img)
		goto out;
	sb_config_init(&cfg);
	cfg.backend = VMM_BACKEND_KVM;
	cfg.mem_limit = 8 << 20;
	if (sb_create(&cfg, img, len, &sb, why, sizeof(why)))
		goto out;
	for (int t = 0; t < p->trials; t++) {
		double t0 = now_ns(), c0 = sb_cpu_us(RUSAGE_SELF), k0;
		for (long i = 0; i < calls; i++)
			if (sandbox_cfg_call(sb))
				goto out;
		a[t] = (now_ns() - t0) / (double)calls / 1e3;
		ca[t] = (sb_cpu_us(RUSAGE_SELF) - c0) / (double)calls;

		t0 = now_ns();
		for (long i = 0; i < fresh; i++) {
			struct sb *f;
			if (sb_create(&cfg, img, len, &f, why, sizeof(why)))
				goto out;
			ret = sandbox_cfg_call(f);
			sb_destroy(f);
			if (ret)
				goto out;
			ret = -1;
		}
		b[t] = (now_ns() - t0) / (double)fresh / 1e3;

		t0 = now_ns();
		c0 = sb_cpu_us(RUSAGE_SELF);
		k0 = sb_cpu_us(RUSAGE_CHILDREN);
		for (long i = 0; i < fresh; i++) {
			int st;
			pid_t pid = fork();
			if (pid == 0) {
				execl("/bin/true", "true", (char *)NULL);
				_exit(127);
			}
			if (pid < 0 || waitpid(pid, &st, 0) < 0 || st)
				goto out;
		}
		c[t] = (now_ns() - t0) / (double)fresh / 1e3;
		ca[p->trials + t] = (sb_cpu_us(RUSAGE_SELF) - c0 +
				     sb_cpu_us(RUSAGE_CHILDREN) - k0) /
				    (double)fresh;
	}
	if (cpu) {
		cpu[0] = median(ca, p->trials);
		cpu[1] = median(ca + p->trials, p->trials);
	}
	*reset_us = median(a, p->trials);
	*fresh_us = median(b, p->trials);
	*fork_us = median(c, p->trials);
	*iters = calls;
	ret = 0;
out:
	sb_destroy(sb);
	free(img);
	free(a);
	free(b);
	free(c);
	free(ca);
	return ret;
}

static int sandbox_measure(const struct params *p, double *reset_us,
			   double *fresh_us, double *fork_us, long *iters)
{
	return sandbox_measure_cpu(p, reset_us, fresh_us, fork_us, iters,
				   NULL);
}

static int bench_sandbox_call(const struct params *p, struct result *res)
{
	double reset, fresh, fork_us;
	long iters;

	if (sandbox_measure(p, &reset, &fresh, &fork_us, &iters))
		return -1;
	*res = (struct result){ "sandbox-call", reset, fresh, "us/call",
				"fresh VM per call", p->trials, iters };
	return 0;
}

static int bench_sandbox_fork(const struct params *p, struct result *res)
{
	double reset, fresh, fork_us, cpu[2];
	long iters;

	(void)res;
	if (sandbox_measure_cpu(p, &reset, &fresh, &fork_us, &iters, cpu))
		return -1;
	/* wall and CPU time: the CPU ratio is the one a loaded machine
	 * does not distort */
	if (p->json)
		printf("{\"bench\":\"sandbox-vs-fork\",\"backend\":\"kvm\","
		       "\"value\":%.3f,\"baseline\":%.3f,\"ratio\":%.4f,"
		       "\"cpu_us\":%.3f,\"cpu_baseline\":%.3f,"
		       "\"cpu_ratio\":%.4f,\"unit\":\"us/call\","
		       "\"baseline_name\":\"fork+exec /bin/true\","
		       "\"trials\":%d,\"iters\":%ld}\n",
		       reset, fork_us, reset / fork_us, cpu[0], cpu[1],
		       cpu[0] / cpu[1], p->trials, iters);
	else
		printf("%-16s %12.3f %12.3f %8.4f  cpu %10.1f %10.1f %8.4f "
		       "us/call (vs fork+exec /bin/true, median of %d)\n",
		       "sandbox-vs-fork", reset, fork_us, reset / fork_us,
		       cpu[0], cpu[1], cpu[0] / cpu[1], p->trials);
	fflush(stdout);
	return 1;
}
#endif

/* ---- device-models: one workload under the three device models ---- */

#ifdef VMM_BENCH_MODELS_GUEST
#include "ptring_host.h"

#include <sys/mman.h>

#define DM_MARK_PORT 0x5f0
#define DM_PT_GPA 0xc0000000ull
#define DM_VBLK 0xd0000000ull
#define DM_VCON 0xd0001000ull
#define DM_STATUS 193 /* GUEST_EXIT_MODELS */

enum { DM_DIRECT, DM_PASSTHROUGH, DM_SPLIT, DM_NMODELS };
enum { DM_CONSOLE, DM_BLOCK, DM_NWORK };
static const char *const dm_model_name[] = { "direct", "passthrough", "split" };
static const char *const dm_work_name[] = { "console", "block" };

struct dm_sample {
	double secs, cpu_s;
	uint64_t exits;
	bool shareable, migratable, ok;
};

struct dm_ctx {
	vmm_vm *vm;
	vmm_dev *data_dev;     /* the device the workload goes through */
	double t[2], cpu[2];
	uint64_t ex[2];
	char tail[256];        /* last bytes of UART output */
	size_t tail_len;
};

/* CPU time of the whole process: vCPU (guest time included), I/O and
 * service threads. */
static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int dm_mark(void *opaque, uint64_t off, const void *data,
		   unsigned size, struct vmm_io_ctx *ctx)
{
	struct dm_ctx *c = opaque;
	struct vmm_vm_stats st = { .struct_size = sizeof(st) };
	int i = *(const uint8_t *)data == 1 ? 0 : 1;

	vmm_vm_get_stats(c->vm, &st);
	c->ex[i] = st.exits;
	c->t[i] = now_ns() / 1e9;
	c->cpu[i] = cpu_now();
	return 0;
}

static void dm_uart_out(void *opaque, const uint8_t *buf, size_t len)
{
	struct dm_ctx *c = opaque;

	for (size_t i = 0; i < len; i++) {
		if (c->tail_len == sizeof(c->tail) - 1) {
			memmove(c->tail, c->tail + 128, c->tail_len - 128);
			c->tail_len -= 128;
		}
		c->tail[c->tail_len++] = (char)buf[i];
	}
	c->tail[c->tail_len] = 0;
}

static char *dm_read_image(size_t *len)
{
	const char *path = getenv("VMM_BENCH_MODELS_GUEST");

	return bench_read_file(path ? path : VMM_BENCH_MODELS_GUEST, len);
}

/* One run of @work under @model; s->ok false if the model is missing. */
static int dm_run(enum vmm_backend backend, const char *img, size_t len,
		  int model, int work,
		  unsigned kib, struct dm_sample *s)
{
	static const struct vmm_io_ops mark_ops = { .write = dm_mark };
	struct vmm_config cfg;
	struct vmm_uart_config uc;
	struct vmm_boot_info bi;
	struct vmm_dev_info info = { .struct_size = sizeof(info) };
	struct ptring_server srv = { 0 };
	struct dm_ctx c;
	struct vmm_exit ex;
	vmm_vcpu *vcpu;
	vmm_dev *uart, *dx;
	char cmdline[200], path[] = "/tmp/vmm-bench-models-XXXXXX";
	int ret, img_fd = -1, mem_fd = -1, null_fd = -1;

	memset(s, 0, sizeof(*s));
	memset(&c, 0, sizeof(c));
	vmm_config_init(&cfg);
	cfg.backend = backend;
	cfg.ram_size = 64 << 20;
	if ((ret = vmm_vm_create(&cfg, &c.vm)))
		return ret;
	vmm_uart_config_init(&uc);
	uc.out_fd = uc.in_fd = -1;
	uc.out_cb = dm_uart_out;
	uc.out_opaque = &c;
	if ((ret = vmm_vcpu_create(c.vm, 0, &vcpu)) ||
	    (ret = vmm_uart_attach(c.vm, &uc, &uart)) ||
	    (ret = vmm_debug_exit_attach(c.vm, 0, 0, &dx)) ||
	    (ret = vmm_bus_register(c.vm, VMM_SPACE_PIO, DM_MARK_PORT, 1,
				    &mark_ops, &c, "mark")))
		goto out;
	if (work == DM_BLOCK) {
		img_fd = mkstemp(path);
		if (img_fd < 0 || ftruncate(img_fd, (off_t)kib * 1024) < 0) {
			ret = -errno;
			goto out;
		}
		unlink(path);
	}
	switch (model) {
	case DM_DIRECT:
		if (work == DM_BLOCK) {
			struct vmm_block_config bc;
			vmm_block_config_init(&bc);
			bc.fd = img_fd;
			if ((ret = vmm_block_attach(c.vm, &bc, &c.data_dev)))
				goto out;
		} else {
			c.data_dev = uart;
		}
		snprintf(cmdline, sizeof(cmdline),
			 "model=direct work=%s kib=%u mark=1", dm_work_name[work],
			 kib);
		break;
	case DM_PASSTHROUGH: {
		struct vmm_passthrough_config pc;

		mem_fd = memfd_create("vmm-bench-ring", MFD_CLOEXEC);
		if (mem_fd < 0 || ftruncate(mem_fd, PTRING_MAP_SIZE) < 0) {
			ret = -errno;
			goto out;
		}
		vmm_passthrough_config_init(&pc);
		pc.fd = mem_fd;
		pc.size = PTRING_MAP_SIZE;
		pc.gpa = DM_PT_GPA;
		if ((ret = vmm_passthrough_attach(c.vm, &pc, &c.data_dev)) ||
		    (ret = ptring_server_start(&srv, mem_fd, img_fd, 0)))
			goto out;
		snprintf(cmdline, sizeof(cmdline),
			 "model=ring ring=0x%llx work=%s kib=%u mark=1",
			 DM_PT_GPA, dm_work_name[work], kib);
		break;
	}
	case DM_SPLIT:
		if (work == DM_BLOCK) {
			struct vmm_block_config bc;
			vmm_block_config_init(&bc);
			bc.model = VMM_MODEL_SPLIT;
			bc.mmio_base = DM_VBLK;
			bc.fd = img_fd;
			ret = vmm_block_attach(c.vm, &bc, &c.data_dev);
		} else {
			struct vmm_virtio_console_config cc;
			null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
			vmm_virtio_console_config_init(&cc, VMM_VIRTIO_MMIO);
			cc.virtio.mmio_base = DM_VCON;
			cc.out_fd = null_fd;
			cc.in_fd = -1;
			ret = vmm_virtio_console_attach(c.vm, &cc, &c.data_dev);
		}
		if (ret) {
			/* the split model is not available in this build */
			ret = 0;
			goto out;
		}
		snprintf(cmdline, sizeof(cmdline),
			 "model=virtio vblk=0x%llx vcon=0x%llx work=%s kib=%u mark=1",
			 work == DM_BLOCK ? DM_VBLK : 0ull,
			 work == DM_CONSOLE ? DM_VCON : 0ull, dm_work_name[work],
			 kib);
		break;
	}
	if ((ret = vmm_image_load_multiboot(c.vm, img, len, cmdline, NULL, 0, &bi)) ||
	    (ret = vmm_boot_setup_vcpu(vcpu, &bi)) ||
	    (ret = vmm_vcpu_run_loop(vcpu, &ex)))
		goto out;
	if (ex.kind != VMM_EXIT_GUEST_EXIT || ex.guest.status != DM_STATUS ||
	    c.t[1] <= c.t[0]) {
		fprintf(stderr, "vmm-bench: device-models %s/%s: guest ended "
			"with %s (status %u): %s\n", dm_model_name[model],
			dm_work_name[work], vmm_exit_name(ex.kind),
			ex.guest.status, c.tail);
		ret = -EIO;
		goto out;
	}
	s->secs = c.t[1] - c.t[0];
	s->cpu_s = c.cpu[1] - c.cpu[0];
	/* the closing marker is an exit of the measurement, not the model */
	s->exits = c.ex[1] - c.ex[0] - 1;
	if (model == DM_SPLIT) {
		/* a kick through an ioeventfd is a VM exit the kernel handles
		 * without reaching user space: count it as one */
		struct vmm_virtio_stats vs = { .struct_size = sizeof(vs) };
		if (vmm_virtio_get_stats(c.data_dev, &vs) == 0 && vs.ioeventfd)
			s->exits += vs.kicks;
	}
	if ((ret = vmm_dev_get_info(c.data_dev, &info)))
		goto out;
	s->shareable = info.shareable;
	s->migratable = info.migratable;
	s->ok = true;
out:
	ptring_server_stop(&srv);
	ptring_server_free(&srv);
	vmm_vm_destroy(c.vm);
	if (img_fd >= 0)
		close(img_fd);
	if (mem_fd >= 0)
		close(mem_fd);
	if (null_fd >= 0)
		close(null_fd);
	return ret;
}

static int dm_cmp_sample(const void *a, const void *b)
{
	double x = ((const struct dm_sample *)a)->secs;
	double y = ((const struct dm_sample *)b)->secs;
	return (x > y) - (x < y);
}

/*
 * device-models: console output of N KiB and block write+read of N KiB
 * (the guest tests/guests/models/models) under the direct model (UART,
 * trapped block device), the split model (virtio-console, virtio-blk) and
 * the passthrough model (a ring in host memory mapped into the guest,
 * serviced by a host thread).  Per model and workload: exits per KiB moved,
 * MiB/s between the guest's start and end markers, host CPU seconds
 * (whole process: vCPU, I/O and service threads) and the device's sharing
 * and migratability as vmm_dev_get_info() reports them.  Median of the trials
 * (by time); baseline = the direct model.  --iters scales the sizes
 * (20000: 64 KiB console, 512 KiB block).
 */
static int bench_device_models(const struct params *p, struct result *res)
{
	unsigned kib[DM_NWORK];
	int trials = p->trials < 3 ? p->trials : 3;
	struct dm_sample *smp;
	size_t len;
	char *img = dm_read_image(&len);
	int ret = 0;

	if (!img) {
		fprintf(stderr, "vmm-bench: device-models: no guest image "
			"(VMM_BENCH_MODELS_GUEST)\n");
		return -ENOENT;
	}
	kib[DM_CONSOLE] = (unsigned)(p->iters / 300);
	kib[DM_CONSOLE] = kib[DM_CONSOLE] < 16 ? 16 : kib[DM_CONSOLE] > 64 ? 64
							 : kib[DM_CONSOLE];
	kib[DM_BLOCK] = (unsigned)(p->iters / 20000.0 * 512);
	kib[DM_BLOCK] = kib[DM_BLOCK] < 64 ? 64 : kib[DM_BLOCK] > 4096 ? 4096
						     : kib[DM_BLOCK] & ~63u;
	smp = calloc((size_t)trials * DM_NMODELS * DM_NWORK, sizeof(*smp));
	if (!smp) {
		free(img);
		return -ENOMEM;
	}
#define SMP(t, m, w) smp[((t) * DM_NMODELS + (m)) * DM_NWORK + (w)]
	/* interleaved: every trial runs every model once */
	for (int t = 0; t < trials && !ret; t++)
		for (int w = 0; w < DM_NWORK && !ret; w++)
			for (int m = 0; m < DM_NMODELS && !ret; m++)
				ret = dm_run(p->backend, img, len, m, w, kib[w],
					     &SMP(t, m, w));
	for (int w = 0; w < DM_NWORK && !ret; w++) {
		struct dm_sample med[DM_NMODELS], col[16];
		double bytes = (w == DM_BLOCK ? 2.0 : 1.0) * kib[w] * 1024;

		for (int m = 0; m < DM_NMODELS; m++) {
			for (int t = 0; t < trials; t++)
				col[t] = SMP(t, m, w);
			qsort(col, (size_t)trials, sizeof(col[0]), dm_cmp_sample);
			med[m] = col[trials / 2];
			for (int t = 0; t < trials; t++)
				med[m].ok &= col[t].ok;
		}
		for (int m = 0; m < DM_NMODELS; m++) {
			const struct dm_sample *s = &med[m];
			double mibs = s->ok ? bytes / 1048576.0 / s->secs : 0;
			double base = bytes / 1048576.0 / med[DM_DIRECT].secs;
			double epk = s->ok ? (double)s->exits / (bytes / 1024) : 0;

			if (!s->ok) {
				fprintf(stderr, "vmm-bench: device-models: the %s "
					"model is missing in this build\n",
					dm_model_name[m]);
				continue;
			}
			if (p->json)
				printf("{\"bench\":\"device-models\",\"backend\":"
				       "\"%s\",\"model\":\"%s\",\"workload\":"
				       "\"%s\",\"kib\":%.0f,\"exits\":%llu,"
				       "\"exits_per_kib\":%.3f,\"mib_per_s\":%.3f,"
				       "\"host_cpu_s\":%.4f,\"seconds\":%.4f,"
				       "\"shareable\":%s,\"migratable\":%s,"
				       "\"value\":%.3f,\"baseline\":%.3f,"
				       "\"ratio\":%.4f,\"unit\":\"MiB/s\","
				       "\"baseline_name\":\"direct\",\"trials\":%d}\n",
				       vmm_backend_name(p->backend),
				       dm_model_name[m], dm_work_name[w],
				       bytes / 1024,
				       (unsigned long long)s->exits, epk, mibs,
				       s->cpu_s, s->secs,
				       s->shareable ? "true" : "false",
				       s->migratable ? "true" : "false", mibs,
				       base, mibs / base, trials);
			else
				printf("device-models %-11s %-7s %8.0f KiB %10.3f "
				       "exits/KiB %10.3f MiB/s (x%.1f) cpu %.4f s "
				       "share %s migrate %s\n",
				       dm_model_name[m], dm_work_name[w],
				       bytes / 1024, epk, mibs, mibs / base,
				       s->cpu_s, s->shareable ? "yes" : "no",
				       s->migratable ? "yes" : "no");
		}
	}
#undef SMP
	fflush(stdout);
	free(smp);
	free(img);
	return ret ? ret : BENCH_PRINTED;
}
#endif

/* ---- snapshot-reset: reset-to-snapshot against restoring ----
 *
 * A guest that writes one word into each of N pages (32-bit, CPL3, ECX =
 * N) then exits.  Snapshot it before it runs; restore copy-on-write with
 * dirty tracking; then, per trial, run it (it dirties N pages) and time
 * vmm_snapshot_reset().  Baselines in the same run: a full restore by copy
 * and a copy-on-write restore of the same snapshot (each a new VM).
 */
static const uint8_t dirty_code[] = {
	0x89, 0x03,                         /* 1: mov %eax,(%ebx) */
	0x81, 0xc3, 0x00, 0x10, 0x00, 0x00, /*    add $0x1000,%ebx */
	0xe2, 0xf6,                         /*    loop 1b */
	0xe7, 0xf4,                         /*    out %eax,$0xf4 */
	0xeb, 0xfe,                         /*    jmp . */
};
#define DIRTY_BASE 0x100000u

static int snap_attach(void *opaque, vmm_vm *vm)
{
	vmm_dev *dev;

	return vmm_debug_exit_attach(vm, PORT_STOP, 4, &dev);
}

static int snap_make(const char *path, uint64_t ram, uint32_t pages)
{
	struct vmm_config cfg;
	struct vmm_cpu_state st;
	struct vmm_save_opts so = { .flags = VMM_SAVE_NO_SYNC };
	vmm_vm *vm;
	vmm_vcpu *vcpu;
	vmm_dev *dev;
	int ret;

	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_KVM;
	cfg.ram_size = ram;
	if ((ret = vmm_vm_create(&cfg, &vm)))
		return ret;
	if ((ret = vmm_vcpu_create(vm, 0, &vcpu)) ||
	    (ret = vmm_mem_write(vm, CODE_GPA, dirty_code, sizeof(dirty_code))) ||
	    (ret = vmm_debug_exit_attach(vm, PORT_STOP, 4, &dev)) ||
	    (ret = bench_cpl3_state(vcpu, CODE_GPA, pages)) ||
	    (ret = vmm_vcpu_get_state(vcpu, &st)))
		goto out;
	st.gpr[VMM_RBX] = DIRTY_BASE;
	st.gpr[VMM_RAX] = 0x5a5a5a5a;
	/* some content, so that a copy restore has pages to copy */
	for (uint64_t a = 0; a < ram && !ret; a += 16 * 4096)
		ret = vmm_mem_fill(vm, a + 8192, 0x11, 4096);
	if (!ret && !(ret = vmm_vcpu_set_state(vcpu, &st)))
		ret = vmm_snapshot_save(vm, path, &so);
out:
	vmm_vm_destroy(vm);
	return ret;
}

/* One configuration: medians of reset, copy restore, cow restore (us). */
static int snap_measure(const struct params *p, uint64_t ram, uint32_t pages,
			double *reset_us, double *copy_us, double *cow_us)
{
	char path[] = "/tmp/vmm-bench-snap-XXXXXX";
	double *a = calloc((size_t)p->trials, sizeof(double));
	double *b = calloc((size_t)p->trials, sizeof(double));
	double *c = calloc((size_t)p->trials, sizeof(double));
	struct vmm_restore_opts ro = { .attach = snap_attach,
				       .flags = VMM_RESTORE_COW |
						VMM_RESTORE_TRACK_DIRTY };
	struct vmm_restore_opts co = { .attach = snap_attach };
	struct vmm_config ov;
	vmm_snapshot *snap = NULL;
	vmm_vm *vm = NULL, *tmp;
	struct vmm_exit e;
	char err[256];
	int fd, ret = -1;

	vmm_config_init(&ov);
	ov.backend = VMM_BACKEND_KVM;
	fd = mkstemp(path);
	if (fd < 0 || !a || !b || !c)
		goto out;
	close(fd);
	if (snap_make(path, ram, pages) ||
	    vmm_snapshot_open(path, &snap, err, sizeof(err)) ||
	    vmm_snapshot_restore_snap(snap, &ov, &ro, &vm))
		goto out;
	for (int t = 0; t < p->trials; t++) {
		double t0;
		int n;

		if (vmm_vcpu_run_loop(vmm_vm_get_vcpu(vm, 0), &e) ||
		    e.kind != VMM_EXIT_GUEST_EXIT)
			goto out;
		t0 = now_ns();
		n = vmm_snapshot_reset(vm, snap);
		a[t] = (now_ns() - t0) / 1e3;
		if (n < (int)pages)
			goto out;

		t0 = now_ns();
		if (vmm_snapshot_restore_snap(snap, &ov, &co, &tmp))
			goto out;
		b[t] = (now_ns() - t0) / 1e3;
		vmm_vm_destroy(tmp);

		ro.flags = VMM_RESTORE_COW;
		t0 = now_ns();
		if (vmm_snapshot_restore_snap(snap, &ov, &ro, &tmp))
			goto out;
		c[t] = (now_ns() - t0) / 1e3;
		ro.flags |= VMM_RESTORE_TRACK_DIRTY;
		vmm_vm_destroy(tmp);
	}
	*reset_us = median(a, p->trials);
	*copy_us = median(b, p->trials);
	*cow_us = median(c, p->trials);
	ret = 0;
out:
	vmm_vm_destroy(vm);
	vmm_snapshot_close(snap);
	unlink(path);
	free(a);
	free(b);
	free(c);
	return ret;
}


static int bench_snapshot_reset(const struct params *p, struct result *res)
{
	static const uint64_t rams[] = { 64ull << 20, 256ull << 20 };
	static const uint32_t pages[] = { 1, 16, 256 };
	static char name[6][48]; /* *res points into it after return */
	int k = 0;

	/* short runs (the smoke test) measure the 256 MiB guest only */
	for (size_t i = p->trials < 5 ? 1 : 0; i < 2; i++) {
		for (size_t j = 0; j < 3; j++, k++) {
			double reset = 0, copy = 0, cow = 0;
			struct result r;

			if (snap_measure(p, rams[i], pages[j], &reset, &copy, &cow))
				return -1;
			snprintf(name[k], sizeof(name[k]),
				 "snapshot-reset/%lluM/%up",
				 (unsigned long long)(rams[i] >> 20), pages[j]);
			r = (struct result){ name[k], reset, copy, "us",
					     "restore by copy", p->trials, 0 };
			if (i == 1 && j == 1) {
				*res = r; /* the headline: main prints it */
			} else {
				bench_print(p, &r);
			}
			if (j == 0) {
				char cn[48];
				snprintf(cn, sizeof(cn), "snapshot-restore-cow/%lluM",
					 (unsigned long long)(rams[i] >> 20));
				r = (struct result){ cn, cow, copy, "us",
						     "restore by copy", p->trials, 0 };
				bench_print(p, &r);
			}
		}
	}
	return 0;
}

/* ---- soft-mips: the software backend's speed on a CPL3 loop ---- */

/*
 * 4 instructions per iteration (ECX = iterations), then "out %eax, $0xf4",
 * the same bytes in 32- and 64-bit mode:
 * 1: add %ebx,%eax; xor %eax,%edx; sub $1,%ecx; jnz 1b
 */
static const uint8_t mips_code[] = {
	0x01, 0xd8, 0x31, 0xc2, 0x83, 0xe9, 0x01, 0x75, 0xf7,
	0xe7, 0xf4, 0xeb, 0xfe,
};
#define MIPS_INSNS_PER_ITER 4

/* Seconds for @iters iterations of mips_code on @backend at CPL3. */
static double mips_run(enum vmm_backend backend, long iters)
{
	struct vmm_boot_info bi;
	struct vmm_config cfg;
	struct vmm_exit e;
	vmm_vm *vm;
	vmm_vcpu *vcpu;
	vmm_dev *dev;
	double t0, t = -1;

	vmm_config_init(&cfg);
	cfg.backend = backend;
	cfg.ram_size = 2 << 20;
	cfg.flags = VMM_CFG_NO_IRQCHIP;
	if (vmm_vm_create(&cfg, &vm))
		return -1;
	/* 64-bit CPL3: KVM runs CPL3 natively here, while 32-bit code goes
	 * through its instruction emulator on nested KVM */
	if (vmm_vcpu_create(vm, 0, &vcpu) ||
	    vmm_image_load_flat(vm, mips_code, sizeof(mips_code), 0x100000,
			  VMM_BOOT_LONG64_USER, &bi) ||
	    vmm_debug_exit_attach(vm, PORT_STOP, 4, &dev))
		goto out;
	bi.regs[VMM_RCX] = (uint64_t)iters;
	if (vmm_boot_setup_vcpu(vcpu, &bi))
		goto out;
	t0 = now_ns();
	if (vmm_vcpu_run_loop(vcpu, &e) || e.kind != VMM_EXIT_GUEST_EXIT)
		goto out;
	t = (now_ns() - t0) / 1e9;
out:
	vmm_vm_destroy(vm);
	return t;
}

/*
 * The same loop as a multiboot image (a.out kludge, loaded at 1 MiB) for
 * QEMU's -kernel: QEMU starts it in 32-bit protected mode at CPL0.
 * Returns the path (static buffer) or NULL.
 */
static const char *mips_qemu_image(long iters)
{
	static char path[64];
	uint32_t hdr[8] = { 0x1badb002u, 0x00010000u, 0, 0x100000u,
			    0x100000u, 0, 0, 0x100000u + 32 };
	uint8_t img[64];
	uint32_t n = (uint32_t)iters;
	FILE *f;
	int fd;

	hdr[2] = (uint32_t)-(hdr[0] + hdr[1]);
	memset(img, 0, sizeof(img));
	memcpy(img, hdr, sizeof(hdr));
	img[32] = 0xb9; /* mov $n, %ecx */
	memcpy(img + 33, &n, 4);
	memcpy(img + 37, mips_code, sizeof(mips_code));
	snprintf(path, sizeof(path), "/tmp/vmm-bench-mips-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return NULL;
	f = fdopen(fd, "wb");
	if (!f || fwrite(img, 1, sizeof(img), f) != sizeof(img)) {
		if (f)
			fclose(f);
		unlink(path);
		return NULL;
	}
	fclose(f);
	return path;
}

/* Seconds QEMU TCG takes for the loop image, process start included. */
static double mips_qemu(const char *qemu, long iters)
{
	const char *img = mips_qemu_image(iters);
	char cmd[512];
	double t0, t;
	int st;

	if (!img)
		return -1;
	snprintf(cmd, sizeof(cmd),
		 "%s -accel tcg -nodefaults -display none -no-reboot "
		 "-device isa-debug-exit,iobase=0xf4,iosize=4 -kernel %s "
		 ">/dev/null 2>&1", qemu, img);
	t0 = now_ns();
	st = system(cmd);
	t = (now_ns() - t0) / 1e9;
	unlink(img);
	/* isa-debug-exit: status (EAX << 1) | 1, odd */
	if (st == -1 || !WIFEXITED(st) || !(WEXITSTATUS(st) & 1))
		return -1;
	return t;
}

static const char *find_qemu(void)
{
	static const char *const paths[] = { "/usr/bin/qemu-system-x86_64",
					     "/usr/local/bin/qemu-system-x86_64" };

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

/*
 * soft-mips: guest instructions per second of the software backend on a
 * register loop at CPL3, against the same guest under KVM in the same run
 * (ratio soft / KVM), and, when qemu-system-x86_64 is installed, against
 * QEMU TCG on the same loop (soft-vs-tcg, ratio soft / TCG; QEMU's start-up
 * is cancelled by timing a short and a long run).
 */
static int bench_soft_mips(const struct params *p, struct result *res)
{
	long iters = p->iters * 200;
	double *s = calloc((size_t)p->trials, sizeof(double));
	double *k = calloc((size_t)p->trials, sizeof(double));
	double *q = calloc((size_t)p->trials, sizeof(double));
	const char *qemu = find_qemu();
	int ret = -1, nq = 0;
	struct result r;

	if (iters < 100000)
		iters = 100000;
	if (iters > 50000000)
		iters = 50000000;
	if (!s || !k || !q)
		goto out;
	for (int t = 0; t < p->trials; t++) {
		double ts = mips_run(VMM_BACKEND_SOFT, iters);
		double tk = mips_run(VMM_BACKEND_KVM, iters * 20);
		if (ts <= 0 || tk <= 0)
			goto out;
		s[t] = iters * (double)MIPS_INSNS_PER_ITER / ts / 1e6;
		k[t] = iters * 20.0 * MIPS_INSNS_PER_ITER / tk / 1e6;
		if (qemu) {
			/* long enough that process start-up noise is small */
			long qi = iters * 20 > 100000000 ? iters * 20 : 100000000;
			double q0 = mips_qemu(qemu, 1000);
			double q1 = mips_qemu(qemu, qi + 1000);
			if (q0 > 0 && q1 > q0)
				q[nq++] = qi * (double)MIPS_INSNS_PER_ITER /
					  (q1 - q0) / 1e6;
		}
	}
	r = (struct result){ "soft-mips", median(s, p->trials),
			     median(k, p->trials), "Minsn/s",
			     "same guest on KVM", p->trials, iters };
	bench_print(p, &r);
	if (nq) {
		r = (struct result){ "soft-vs-tcg", median(s, p->trials),
				     median(q, nq), "Minsn/s",
				     "QEMU TCG, same loop", nq, iters };
		bench_print(p, &r);
	}
	(void)res;
	ret = 1; /* printed its own lines */
out:
	free(s);
	free(k);
	free(q);
	return ret;
}

/* ---- snapshot-save: save and restore throughput ----
 *
 * A guest of 256 MiB (and 1 GiB) whose every page holds data.  Save (RAW,
 * no fsync) against write() of the same bytes to a file in the same
 * directory; restore by copy against read() of them; copy-on-write
 * restore against restore by copy.  MiB/s of guest memory.
 */
static int save_measure(const struct params *p, uint64_t ram,
			struct result *first, char *first_name)
{
	char path[] = "/tmp/vmm-bench-save-XXXXXX";
	char raw[] = "/tmp/vmm-bench-raw-XXXXXX";
	struct vmm_save_opts so = { .flags = VMM_SAVE_NO_SYNC };
	struct vmm_restore_opts ro = { 0 };
	int trials = p->trials > 5 ? 5 : p->trials;
	double *sv = calloc((size_t)trials, sizeof(double));
	double *wr = calloc((size_t)trials, sizeof(double));
	double *rs = calloc((size_t)trials, sizeof(double));
	double *rd = calloc((size_t)trials, sizeof(double));
	double *cw = calloc((size_t)trials, sizeof(double));
	double mib = (double)(ram >> 20);
	struct vmm_config cfg;
	struct iovec iov;
	vmm_snapshot *snap;
	vmm_vm *vm = NULL, *tmp;
	vmm_vcpu *vcpu;
	char err[256], name[64];
	int fd = -1, rfd = -1, ret = -1;

	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_KVM;
	cfg.ram_size = ram;
	if (!sv || !wr || !rs || !rd || !cw || (fd = mkstemp(path)) < 0 ||
	    (rfd = mkstemp(raw)) < 0 || vmm_vm_create(&cfg, &vm) ||
	    vmm_vcpu_create(vm, 0, &vcpu) ||
	    vmm_mem_iovec(vm, 0, ram, true, &iov, 1) != 1)
		goto out;
	for (uint64_t i = 0; i < ram / 8; i++) /* every page non-zero */
		((uint64_t *)iov.iov_base)[i] = i * 0x9e3779b97f4a7c15ull | 1;
	for (int t = 0; t < trials; t++) {
		double t0 = now_ns();
		char *buf;

		if (vmm_snapshot_save(vm, path, &so))
			goto out;
		sv[t] = mib / ((now_ns() - t0) / 1e9);

		t0 = now_ns();
		if (ftruncate(rfd, 0) || lseek(rfd, 0, SEEK_SET) ||
		    write(rfd, iov.iov_base, ram) != (ssize_t)ram)
			goto out;
		wr[t] = mib / ((now_ns() - t0) / 1e9);

		if (vmm_snapshot_open(path, &snap, err, sizeof(err)))
			goto out;
		ro.flags = 0;
		t0 = now_ns();
		if (vmm_snapshot_restore_snap(snap, &cfg, &ro, &tmp))
			goto out_snap;
		rs[t] = mib / ((now_ns() - t0) / 1e9);
		vmm_vm_destroy(tmp);
		ro.flags = VMM_RESTORE_COW;
		t0 = now_ns();
		if (vmm_snapshot_restore_snap(snap, &cfg, &ro, &tmp))
			goto out_snap;
		cw[t] = mib / ((now_ns() - t0) / 1e9);
		vmm_vm_destroy(tmp);
		vmm_snapshot_close(snap);

		buf = malloc(ram);
		t0 = now_ns();
		if (!buf || pread(rfd, buf, ram, 0) != (ssize_t)ram) {
			free(buf);
			goto out;
		}
		memset(buf, 1, ram); /* a restore writes guest memory too */
		rd[t] = mib / ((now_ns() - t0) / 1e9);
		free(buf);
	}
	snprintf(first ? first_name : name, sizeof(name), "snapshot-save/%lluM",
		 (unsigned long long)(ram >> 20));
	{
		struct result r = { first ? first_name : name, median(sv, trials),
				    median(wr, trials), "MiB/s",
				    "write() of the bytes", trials, 0 };
		if (first)
			*first = r; /* main prints it last */
		else
			bench_print(p, &r);
	}
	snprintf(name, sizeof(name), "snapshot-restore/%lluM",
		 (unsigned long long)(ram >> 20));
	bench_print(p, &(struct result){ name, median(rs, trials), median(rd, trials),
				   "MiB/s", "read() of the bytes", trials, 0 });
	snprintf(name, sizeof(name), "snapshot-restore-cow/%lluM",
		 (unsigned long long)(ram >> 20));
	bench_print(p, &(struct result){ name, median(cw, trials), median(rs, trials),
				   "MiB/s", "restore by copy", trials, 0 });
	ret = 0;
	goto out;
out_snap:
	vmm_snapshot_close(snap);
out:
	vmm_vm_destroy(vm);
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	if (rfd >= 0) {
		close(rfd);
		unlink(raw);
	}
	free(sv);
	free(wr);
	free(rs);
	free(rd);
	free(cw);
	return ret;
}

static int bench_snapshot_save(const struct params *p, struct result *res)
{
	static char first_name[64];

	/* short runs (the smoke test) skip the 1 GiB guest */
	if (p->trials < 5)
		return save_measure(p, 256ull << 20, res, first_name);
	if (save_measure(p, 256ull << 20, NULL, NULL) ||
	    save_measure(p, 1ull << 30, res, first_name))
		return -1;
	return 0;
}

/* ---- migrate: live migration modes vs guest size and dirty rate ----
 *
 * A 64-bit CPL3 guest (no CPL0 code; the loop of examples/migguest.c) that
 * rewrites one quadword of the next of its 4096 data pages per iteration,
 * with a countdown between writes (calibrated here to the wanted rate of
 * distinct pages dirtied per second; the rate seen under dirty logging is
 * measured and reported too).  Migration goes over a unix socketpair to a
 * receiving thread (optionally capped: --migrate-link), downtime target
 * 5 ms.  Modes: precopy, precopy+autoconverge, postcopy (switch after 2
 * rounds that did not converge; the destination starts at once).
 * "guest_slowdown": the guest's iteration rate before migrating divided by
 * its rate during the migration (pre-copy: on the source; post-copy: on
 * the destination between the switch-over and the last page).  Baseline:
 * the guest's RAM pushed through a socketpair with plain write()/read().
 * Everything shares the 2 loaded cores: compare ratios within one run.
 */
/* the library's switch-over breakdown lines (VMM_LOG_INFO) of the
 * current run: source and destination */
static char mig_src_log[400], mig_dst_log[2][300];

static void mig_log(void *opaque, int level, const char *msg)
{
	(void)opaque;
	if (level <= VMM_LOG_WARN)
		fprintf(stderr, "libvmm: %s\n", msg);
	if (strstr(msg, "stop-and-copy ") || strstr(msg, "switch-over "))
		snprintf(mig_src_log, sizeof(mig_src_log), "%s", msg);
	else if (strstr(msg, "(destination): state loaded"))
		snprintf(mig_dst_log[0], sizeof(mig_dst_log[0]), "%s", msg);
	else if (strstr(msg, "(destination):"))
		snprintf(mig_dst_log[1], sizeof(mig_dst_log[1]), "%s", msg);
}

static int mig_guest(enum vmm_backend b, uint64_t ram, uint32_t delay,
		     vmm_vm **out)
{
	struct migguest_params mp = { .target = ~0ull, .npages = 4096,
				      .delay = delay, .out_mask = 0xffffffff };
	struct vmm_config cfg;
	vmm_vm *vm;
	vmm_vcpu *vcpu;
	vmm_dev *dev;
	int ret;

	vmm_config_init(&cfg);
	cfg.backend = b;
	cfg.ram_size = ram;
	cfg.log = mig_log;
	cfg.log_level = VMM_LOG_INFO;
	if ((ret = vmm_vm_create(&cfg, &vm)))
		return ret;
	if ((ret = vmm_vcpu_create(vm, 0, &vcpu)) ||
	    (ret = vmm_debug_exit_attach(vm, PORT_STOP, 4, &dev)) ||
	    (ret = migguest_load(vm, vcpu, &mp))) {
		vmm_vm_destroy(vm);
		return ret;
	}
	*out = vm;
	return 0;
}

static int mig_cb(void *opaque, vmm_vcpu *vcpu, struct vmm_exit *e)
{
	return e->kind == VMM_EXIT_INTERRUPTED ? 0 : 1;
}

/* the guest's iteration counter (pauses a running VM for the read) */
static uint64_t mig_iters(vmm_vm *vm, bool running)
{
	struct vmm_cpu_state cs;

	if (running && vmm_vm_pause(vm))
		return 0;
	if (vmm_vcpu_get_state(vmm_vm_get_vcpu(vm, 0), &cs))
		cs.gpr[VMM_RSI] = 0;
	if (running)
		vmm_vm_resume(vm);
	return cs.gpr[VMM_RSI];
}

struct mig_rx {
	int fd;
	enum vmm_backend backend;
	bool postcopy;
	vmm_vm *vm;
	int ret;
	struct vmm_migrate_stats st;
	double pc_iters_per_s;
};

static void *mig_rx_thread(void *arg)
{
	struct mig_rx *r = arg;
	struct vmm_restore_opts ro = { .attach = snap_attach };
	struct vmm_migrate_opts mo = { .struct_size = sizeof(mo),
				       .timeout_ms = 60000,
				       .flags = r->postcopy ? VMM_MIGRATE_POSTCOPY : 0 };
	struct vmm_config ov;
	uint64_t i0;
	double t0;

	vmm_config_init(&ov);
	ov.backend = r->backend;
	ov.log = mig_log;
	ov.log_level = VMM_LOG_INFO;
	r->st.struct_size = sizeof(r->st);
	r->ret = vmm_migrate_receive(r->fd, &ov, &ro, &mo, &r->vm, &r->st);
	if (r->ret || !r->st.postcopy)
		return NULL;
	/* post-copy: run at once, as an embedder would */
	i0 = mig_iters(r->vm, false);
	t0 = now_ns();
	if ((r->ret = vmm_vm_start(r->vm, mig_cb, NULL)))
		return NULL;
	r->st.struct_size = sizeof(r->st);
	r->ret = vmm_migrate_wait(r->vm, 120000, &r->st);
	r->pc_iters_per_s = (double)(mig_iters(r->vm, true) - i0) /
			    ((now_ns() - t0) / 1e9);
	return NULL;
}

struct mig_sink {
	int fd;
	uint64_t bytes;
};

static void *mig_sink_thread(void *arg)
{
	struct mig_sink *s = arg;
	char *buf = malloc(1 << 20);
	ssize_t n;

	while (buf && s->bytes && (n = read(s->fd, buf, 1 << 20)) > 0)
		s->bytes -= (uint64_t)n < s->bytes ? (uint64_t)n : s->bytes;
	free(buf);
	return NULL;
}

/* ms to push @bytes through a socketpair with write()/read() */
static double mig_baseline(const uint8_t *src, uint64_t bytes)
{
	struct mig_sink s;
	pthread_t t;
	int sv[2];
	double t0;
	uint64_t done = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return -1;
	s.fd = sv[1];
	s.bytes = bytes;
	t0 = now_ns();
	pthread_create(&t, NULL, mig_sink_thread, &s);
	while (done < bytes) {
		size_t n = bytes - done < (1 << 20) ? bytes - done : 1 << 20;
		ssize_t w = write(sv[0], src + done % (16 << 20) / 4096 * 4096,
				  n);
		if (w <= 0)
			break;
		done += (uint64_t)w;
	}
	pthread_join(t, NULL);
	close(sv[0]);
	close(sv[1]);
	return (now_ns() - t0) / 1e6;
}

/* iterations per second of a fresh guest with @delay (no dirty log) */
static double mig_speed(enum vmm_backend b, uint32_t delay)
{
	vmm_vm *vm = NULL;
	uint64_t i0;
	double t0, r;

	if (mig_guest(b, 32 << 20, delay, &vm) || vmm_vm_start(vm, mig_cb, NULL)) {
		vmm_vm_destroy(vm);
		return -1;
	}
	usleep(50000);
	i0 = mig_iters(vm, true);
	t0 = now_ns();
	usleep(300000);
	r = (double)(mig_iters(vm, true) - i0) / ((now_ns() - t0) / 1e9);
	vmm_vm_destroy(vm);
	return r;
}

/* parse "a,b,c" of unsigned numbers into @v (at most @max); count or -1 */
static int mig_list(const char *s, unsigned *v, int max)
{
	int n = 0;

	while (s && *s && n < max) {
		char *end;
		unsigned long x = strtoul(s, &end, 10);

		if (end == s || (*end && *end != ','))
			return -1;
		v[n++] = (unsigned)x;
		s = *end ? end + 1 : end;
	}
	return n;
}

static const char *const mig_mode_names[] = { "precopy",
	"precopy+autoconverge", "postcopy" };

static int bench_migrate(const struct params *p, struct result *res)
{
	unsigned sizes[8], rates[8];
	/* the full table by default; a short smoke run (--trials < 5, as
	 * the test suite's) takes one small guest at two rates */
	bool small = p->trials < 5;
	int nsz = mig_list(p->mig_sizes ? p->mig_sizes : small ? "64" : "256,1024",
			   sizes, 8);
	int nrt = mig_list(p->mig_rates ? p->mig_rates : small ? "0,80" : "0,20,80,300",
			   rates, 8);
	bool mode_on[3] = { true, true, true };
	enum vmm_backend b = p->backend;
	uint8_t *buf = calloc(1, 16 << 20);
	uint64_t *bm = NULL;
	double s1, s2, a, k, worst = 0;
	int ret = -1;

	if (nsz <= 0 || nrt <= 0) {
		fprintf(stderr, "vmm-bench: bad --migrate-sizes/--migrate-rates\n");
		goto out;
	}
	if (p->mig_modes) {
		for (int m = 0; m < 3; m++) {
			const char *q = strstr(p->mig_modes, mig_mode_names[m]);
			size_t l = strlen(mig_mode_names[m]);

			/* whole names only ("precopy" in "precopy+...") */
			mode_on[m] = false;
			while (q) {
				if ((q == p->mig_modes || q[-1] == ',') &&
				    (q[l] == 0 || q[l] == ','))
					mode_on[m] = true;
				q = strstr(q + 1, mig_mode_names[m]);
			}
		}
	}
	/* iteration time = a + k * delay, from two speeds */
	s1 = mig_speed(b, 1);
	s2 = mig_speed(b, 20000);
	if (!buf || s1 <= 0 || s2 <= 0)
		goto out;
	a = 1 / s1;
	k = (1 / s2 - a) / 19999;
	if (k <= 0)
		k = 1e-9;
	for (int si = 0; si < nsz; si++) {
		uint64_t ram = (uint64_t)sizes[si] << 20;
		double base_ms;

		free(bm);
		bm = calloc(ram / 4096 / 64 + 1, 8);
		if (!bm || ram < (32u << 20))
			goto out;
		base_ms = mig_baseline(buf, ram);
		for (int ri = 0; ri < nrt; ri++) {
			/* wanted pages per second -> countdown per iteration */
			double pps = rates[ri] * 256.0;
			double d = pps > 0 ? (1 / pps - a) / k : 4e9;
			uint32_t delay = d < 1 ? 1 : d > 4e9 ? 4000000000u : (uint32_t)d;

			for (int m = 0; m < 3; m++) {
				struct vmm_migrate_opts mo = {
					.struct_size = sizeof(mo),
					.max_downtime_ms = 5,
					.timeout_ms = 60000, /* loaded CI hosts */
					.max_bandwidth = (uint64_t)p->mig_link << 20,
					.postcopy_after_rounds = 2,
				};
				struct vmm_migrate_stats st = {
					.struct_size = sizeof(st)
				};
				struct mig_rx rx = { 0 };
				double dirty_mib_s, speed0, slowdown, t0;
				uint64_t i0;
				pthread_t t;
				vmm_vm *vm = NULL;
				int sv[2], n;

				if (!mode_on[m])
					continue;
				mo.flags = m == 1 ? VMM_MIGRATE_AUTO_CONVERGE :
					   m == 2 ? VMM_MIGRATE_POSTCOPY : 0;
				if (mig_guest(b, ram, delay, &vm) ||
				    vmm_vm_start(vm, mig_cb, NULL)) {
					vmm_vm_destroy(vm);
					goto out;
				}
				usleep(100000);
				/* speed and dirty rate (under the log) */
				i0 = mig_iters(vm, true);
				t0 = now_ns();
				if (vmm_mem_dirty_log(vm, true) ||
				    vmm_mem_dirty_fetch(vm, 0, bm, ram / 4096 / 64 + 1) < 0) {
					vmm_vm_destroy(vm);
					goto out;
				}
				usleep(200000);
				n = vmm_mem_dirty_fetch(vm, 0, bm, ram / 4096 / 64 + 1);
				vmm_mem_dirty_log(vm, false);
				dirty_mib_s = n * 4096.0 / (1 << 20) /
					      ((now_ns() - t0) / 1e9);
				usleep(100000);
				speed0 = (double)(mig_iters(vm, true) - i0) /
					 ((now_ns() - t0) / 1e9);

				mig_src_log[0] = mig_dst_log[0][0] = mig_dst_log[1][0] = 0;
				socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
				rx.fd = sv[1];
				rx.backend = b;
				rx.postcopy = m == 2;
				pthread_create(&t, NULL, mig_rx_thread, &rx);
				i0 = mig_iters(vm, true);
				ret = vmm_migrate_send(vm, sv[0], &mo, &st);
				pthread_join(t, NULL);
				if (!ret && !st.postcopy)
					rx.pc_iters_per_s = (double)(mig_iters(vm, false) - i0) /
							    (st.total_ms / 1e3);
				close(sv[0]);
				close(sv[1]);
				vmm_vm_destroy(vm);
				vmm_vm_destroy(rx.vm);
				if (ret || rx.ret) {
					fprintf(stderr, "vmm-bench: migrate %s: %s / %s\n",
						mig_mode_names[m], vmm_strerror(ret),
						vmm_strerror(rx.ret));
					ret = -1;
					goto out;
				}
				slowdown = rx.pc_iters_per_s > 0 ? speed0 / rx.pc_iters_per_s : 0;
				if (st.downtime_ms > worst)
					worst = st.downtime_ms;
				if (p->json)
					printf("{\"bench\":\"migrate\",\"mode\":\"%s\",\"backend\":\"%s\","
					       "\"mem_mib\":%u,\"target_dirty_mib_s\":%u,"
					       "\"dirty_mib_s\":%.2f,\"link_mib_s\":%u,"
					       "\"downtime_ms\":%.3f,\"total_ms\":%.2f,"
					       "\"rounds\":%u,\"pages\":%llu,\"bytes\":%llu,"
					       "\"converged\":%s,\"throttle_pct\":%u,"
					       "\"postcopy\":%s,\"postcopy_pages\":%llu,"
					       "\"remote_faults\":%llu,\"postcopy_ms\":%.2f,"
					       "\"guest_slowdown\":%.3f,"
					       "\"baseline_ms\":%.2f,\"ratio\":%.4f,"
					       "\"baseline_name\":\"RAM through a socketpair\","
					       "\"switch_src\":\"%s\",\"switch_dst\":\"%s %s\"}\n",
					       mig_mode_names[m], vmm_backend_name(b),
					       sizes[si], rates[ri], dirty_mib_s,
					       p->mig_link, st.downtime_ms, st.total_ms,
					       st.rounds, (unsigned long long)st.pages_sent,
					       (unsigned long long)st.bytes_sent,
					       st.converged ? "true" : "false",
					       st.throttle_pct,
					       st.postcopy ? "true" : "false",
					       (unsigned long long)st.postcopy_pages,
					       (unsigned long long)rx.st.remote_faults,
					       st.postcopy_ms, slowdown, base_ms,
					       st.total_ms / base_ms, mig_src_log,
					       mig_dst_log[0], mig_dst_log[1]);
				else
					printf("migrate %-20s %4uM dirty %3u (%.1f) MiB/s: downtime %.3f ms, total %.1f ms, %u rounds, %llu bytes, throttle %u%%, %s%llu remote faults, slowdown %.2fx\n",
					       mig_mode_names[m], sizes[si], rates[ri],
					       dirty_mib_s, st.downtime_ms, st.total_ms,
					       st.rounds, (unsigned long long)st.bytes_sent,
					       st.throttle_pct,
					       st.postcopy ? "post-copy, " :
					       st.converged ? "" : "not converged, ",
					       (unsigned long long)rx.st.remote_faults,
					       slowdown);
				fflush(stdout);
			}
		}
	}
	*res = (struct result){ "migrate-downtime-max", worst, 5.0, "ms",
				"target", 1, 0 };
	ret = 0;
out:
	free(buf);
	free(bm);
	return ret;
}

/* ---- virtio-blk per queue count, vhost-user-blk vs qemu-storage-daemon ---- */

/* Wall time of the workload (4 KiB random QD32 or 128 KiB sequential QD16,
 * as virtio-blk-*-read) in the guest and its MB/s. */
static double vb_mbps(bool rnd, long reqs, double secs)
{
	return (double)reqs * (rnd ? 4096.0 : 131072.0) / secs / 1e6;
}

static void vb_cmd(char *cmd, size_t n, bool rnd, long reqs, unsigned nq)
{
	snprintf(cmd, n, "bench=%s reqs=%ld qd=%u bs=%u queues=%u",
		 rnd ? "rand" : "seq", reqs, rnd ? 32u : 16u,
		 rnd ? 4096u : 131072u, nq);
}

static long vb_reqs(const struct params *p, bool rnd)
{
	return rnd ? p->iters * 2 : (p->iters / 4 > 100 ? p->iters / 4 : 100);
}

/*
 * virtio-blk-{rand,seq}-read-q{1,2,4}: the bench guest spreads its queue
 * depth over 1, 2 and 4 queues (VIRTIO_BLK_F_MQ, one vCPU) against host
 * io_uring on the same file at the same depth; trials interleave the
 * queue counts and alternate which side goes first.
 */
static int bench_virtio_mq(const struct params *p, bool rnd)
{
	static const unsigned qs[] = { 1, 2, 4 };
	static const char *const names[2][3] = {
		{ "virtio-blk-seq-read-q1", "virtio-blk-seq-read-q2",
		  "virtio-blk-seq-read-q4" },
		{ "virtio-blk-rand-read-q1", "virtio-blk-rand-read-q2",
		  "virtio-blk-rand-read-q4" },
	};
	long reqs = vb_reqs(p, rnd);
	size_t img_len = 0;
	char *img = vb_guest_image(&img_len), path[64], cmd[160];
	double *g = calloc((size_t)p->trials * 3, sizeof(double));
	double *h = calloc((size_t)p->trials * 3, sizeof(double));
	struct vb_cpu cpu[3] = { { 0 } };
	int fd = -1, ret = -1;

	if (!img || !g || !h || (fd = vb_make_file(path)) < 0)
		goto out;
	for (int t = 0; t < p->trials; t++) {
		for (unsigned k = 0; k < 3; k++) {
			double gs = 0, hs = 0;
			uint64_t ex;
			bool host_first = (t + k) % 2;

			vb_cmd(cmd, sizeof(cmd), rnd, reqs, qs[k]);
			if ((host_first &&
			     vb_host_run_cpu(fd, rnd, reqs, rnd ? 32 : 16,
					     rnd ? 4096 : 131072, &hs,
					     &cpu[k])) ||
			    vb_guest_run_dev(img, img_len, path, cmd, 0, qs[k],
					     NULL, &gs, &ex, &cpu[k]) ||
			    (!host_first &&
			     vb_host_run_cpu(fd, rnd, reqs, rnd ? 32 : 16,
					     rnd ? 4096 : 131072, &hs,
					     &cpu[k]))) {
				fprintf(stderr, "vmm-bench: %s: run failed\n",
					names[rnd][k]);
				goto out;
			}
			g[k * p->trials + t] = vb_mbps(rnd, reqs, gs);
			h[k * p->trials + t] = vb_mbps(rnd, reqs, hs);
		}
	}
	if (!p->json)
		for (unsigned k = 0; k < 3; k++)
			fprintf(stderr, "%s: CPU over all trials: vCPU thread "
				"user %.2f s sys %.2f s, I/O thread user %.2f s "
				"sys %.2f s\n", names[rnd][k], cpu[k].vcpu_user,
				cpu[k].vcpu_sys, cpu[k].io_user, cpu[k].io_sys);
	for (unsigned k = 0; k < 3; k++) {
		struct result r = { names[rnd][k],
				    median(g + k * p->trials, p->trials),
				    median(h + k * p->trials, p->trials), "MB/s",
				    rnd ? "host io_uring 4K QD32, warm"
					: "host io_uring 128K QD16, warm",
				    p->trials, reqs };
		vb_print(p, &r, &cpu[k], NULL);
	}
	ret = BENCH_PRINTED;
out:
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	free(img);
	free(g);
	free(h);
	return ret;
}

static int bench_virtio_mq_rand(const struct params *p, struct result *res)
{
	(void)res;
	return bench_virtio_mq(p, true);
}

static int bench_virtio_mq_seq(const struct params *p, struct result *res)
{
	(void)res;
	return bench_virtio_mq(p, false);
}

/* CPU time (user, sys in clock ticks) of every thread of @pid. */
struct vb_thr {
	int tid;
	char comm[32];
	unsigned long long ut, st;
};

static int vb_threads(pid_t pid, struct vb_thr *out, int max)
{
	char dpath[64];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(dpath, sizeof(dpath), "/proc/%d/task", (int)pid);
	if (!(d = opendir(dpath)))
		return 0;
	while ((de = readdir(d)) && n < max) {
		char f[400];

		if (de->d_name[0] == '.')
			continue;
		snprintf(f, sizeof(f), "%s/%s/stat", dpath, de->d_name);
		if (!vb_stat(f, out[n].comm, sizeof(out[n].comm), &out[n].ut,
			     &out[n].st)) {
			out[n].tid = atoi(de->d_name);
			n++;
		}
	}
	closedir(d);
	return n;
}

/* Print the per-thread CPU time @pid used since @before, and the whole
 * process's (threads that ended included), since @p_ut/@p_st (stderr). */
static void vb_cpu_report(const char *who, pid_t pid, const struct vb_thr *before,
			  int nb, unsigned long long p_ut, unsigned long long p_st)
{
	struct vb_thr now[64];
	int n = vb_threads(pid, now, 64);
	double tick = (double)sysconf(_SC_CLK_TCK);
	unsigned long long ut, st;
	char f[64];

	for (int i = 0; i < n; i++) {
		ut = now[i].ut;
		st = now[i].st;
		for (int j = 0; j < nb; j++)
			if (before[j].tid == now[i].tid) {
				ut -= before[j].ut;
				st -= before[j].st;
			}
		if (ut || st)
			fprintf(stderr, "  %s thread %-16s user %.2f s sys %.2f s\n",
				who, now[i].comm, ut / tick, st / tick);
	}
	snprintf(f, sizeof(f), "/proc/%d/stat", (int)pid);
	if (!vb_stat(f, NULL, 0, &ut, &st))
		fprintf(stderr, "  %s process total          user %.2f s sys "
			"%.2f s\n", who, (ut - p_ut) / tick, (st - p_st) / tick);
}

static bool vb_wait_socket(const char *path, pid_t pid)
{
	for (int i = 0; i < 300; i++) {
		struct stat sb;
		if (!stat(path, &sb) && S_ISSOCK(sb.st_mode))
			return true;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return false;
		usleep(10000);
	}
	return false;
}

/* Our back-end in a child process (like qsd, a process of its own). */
static pid_t vb_start_ours(const char *sock, const char *file)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct vmm_vhost_user_server_config sc;
		vmm_vhost_user_server *srv;

		vmm_vhost_user_server_config_init(&sc, VMM_VHOST_USER_BLK);
		sc.socket_path = sock;
		sc.blk.path = file;
		if (vmm_vhost_user_server_create(&sc, &srv))
			_exit(1);
		vmm_vhost_user_server_run(srv);
		_exit(0);
	}
	return pid;
}

static pid_t vb_start_qsd(const char *sock, const char *file)
{
	pid_t pid = fork();

	if (pid == 0) {
		char bd[256], ex[256];
		int nul = open("/dev/null", O_RDWR);

		/* the same setup as ours: io_uring, the host page cache */
		snprintf(bd, sizeof(bd), "driver=file,node-name=f,filename=%s,"
			 "aio=io_uring,cache.direct=off", file);
		snprintf(ex, sizeof(ex), "type=vhost-user-blk,id=e,node-name=f,"
			 "addr.type=unix,addr.path=%s,writable=on,num-queues=1",
			 sock);
		if (nul >= 0) {
			dup2(nul, 1);
			dup2(nul, 2);
		}
		execlp("qemu-storage-daemon", "qemu-storage-daemon",
		       "--blockdev", bd, "--export", ex, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void vb_stop(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
}

/*
 * vhost-user-blk-vs-qsd: the same libvmm guest driver (vmm_vhost_user_attach,
 * memfd guest RAM) against our back-end (vmm_vhost_user_server in a child
 * process) and against qemu-storage-daemon (io_uring, page cache), serving
 * the same file; 4 KiB random QD32 and 128 KiB sequential QD16, trials
 * alternating which back-end goes first.  Ratio = ours / qsd.  The back-end
 * processes' per-thread CPU time is printed on stderr.
 */
static int bench_vhost_qsd(const struct params *p, struct result *res)
{
	static const char *const names[2] = { "vhost-user-blk-vs-qsd-seq",
					      "vhost-user-blk-vs-qsd" };
	char dir[] = "/tmp/vmm-bench-vu-XXXXXX", s1[96] = "", s2[96] = "";
	char path[64] = "", cmd[160];
	size_t img_len = 0;
	char *img = vb_guest_image(&img_len);
	double *a = calloc((size_t)p->trials * 2, sizeof(double));
	double *b = calloc((size_t)p->trials * 2, sizeof(double));
	pid_t ours = -1, qsd = -1;
	struct vb_thr t_ours[64], t_qsd[64];
	struct vb_cpu gcpu[2] = { { 0 } };
	unsigned long long pu[2] = { 0 }, ps[2] = { 0 };
	int n_ours = 0, n_qsd = 0, fd = -1, ret = -1;

	(void)res;
	if (system("command -v qemu-storage-daemon >/dev/null 2>&1") != 0) {
		fprintf(stderr, "vmm-bench: vhost-user-blk-vs-qsd: no "
			"qemu-storage-daemon (package qemu-system-common): "
			"skipped\n");
		ret = BENCH_PRINTED;
		goto out;
	}
	if (!img || !a || !b || !mkdtemp(dir))
		goto out;
	if ((fd = vb_make_file(path)) < 0)
		goto out;
	snprintf(s1, sizeof(s1), "%s/ours.sock", dir);
	snprintf(s2, sizeof(s2), "%s/qsd.sock", dir);
	ours = vb_start_ours(s1, path);
	qsd = vb_start_qsd(s2, path);
	if (!vb_wait_socket(s1, ours)) {
		fprintf(stderr, "vmm-bench: our vhost-user back-end did not start\n");
		goto out;
	}
	if (!vb_wait_socket(s2, qsd)) {
		fprintf(stderr, "vmm-bench: qemu-storage-daemon did not start "
			"(installed? package qemu-system-common)\n");
		goto out;
	}
	n_ours = vb_threads(ours, t_ours, 64);
	n_qsd = vb_threads(qsd, t_qsd, 64);
	snprintf(cmd, sizeof(cmd), "/proc/%d/stat", (int)ours);
	vb_stat(cmd, NULL, 0, &pu[0], &ps[0]);
	snprintf(cmd, sizeof(cmd), "/proc/%d/stat", (int)qsd);
	vb_stat(cmd, NULL, 0, &pu[1], &ps[1]);
	for (int t = 0; t < p->trials; t++) {
		for (int rnd = 0; rnd < 2; rnd++) {
			long reqs = vb_reqs(p, rnd);
			double gs1 = 0, gs2 = 0;
			uint64_t ex;
			bool qsd_first = (t + rnd) % 2;

			vb_cmd(cmd, sizeof(cmd), rnd, reqs, 1);
			if ((qsd_first &&
			     vb_guest_run_dev(img, img_len, path, cmd, 0, 1, s2,
					      &gs2, &ex, &gcpu[1])) ||
			    vb_guest_run_dev(img, img_len, path, cmd, 0, 1, s1,
					     &gs1, &ex, &gcpu[0]) ||
			    (!qsd_first &&
			     vb_guest_run_dev(img, img_len, path, cmd, 0, 1, s2,
					      &gs2, &ex, &gcpu[1]))) {
				fprintf(stderr, "vmm-bench: %s: guest run failed\n",
					names[rnd]);
				goto out;
			}
			a[rnd * p->trials + t] = vb_mbps(rnd, reqs, gs1);
			b[rnd * p->trials + t] = vb_mbps(rnd, reqs, gs2);
		}
	}
	if (!p->json) {
		fprintf(stderr, "vhost-user-blk-vs-qsd: back-end CPU time over "
			"all trials:\n");
		vb_cpu_report("libvmm", ours, t_ours, n_ours, pu[0], ps[0]);
		vb_cpu_report("qsd", qsd, t_qsd, n_qsd, pu[1], ps[1]);
		for (int i = 0; i < 2; i++)
			fprintf(stderr, "  guest side with %s: vCPU thread user "
				"%.2f s sys %.2f s (the vhost-user front-end has no "
				"I/O thread work)\n", i ? "qsd" : "libvmm",
				gcpu[i].vcpu_user, gcpu[i].vcpu_sys);
	}
	{
		/* the CPU breakdown for the JSON lines: each back-end
		 * process's user/sys and the guest's vCPU thread with each,
		 * over the trials of both entries (seconds) */
		double tick = (double)sysconf(_SC_CLK_TCK), la[3] = { -1, -1, -1 };
		unsigned long long ut[2] = { 0 }, st[2] = { 0 };
		pid_t pids[2] = { ours, qsd };
		char ex[512];

		for (int i = 0; i < 2; i++) {
			snprintf(cmd, sizeof(cmd), "/proc/%d/stat", (int)pids[i]);
			if (vb_stat(cmd, NULL, 0, &ut[i], &st[i]))
				ut[i] = pu[i], st[i] = ps[i];
		}
		if (getloadavg(la, 3) < 0)
			la[0] = la[1] = la[2] = -1;
		snprintf(ex, sizeof(ex),
			 "\"cpu_s\":{\"backend\":[%.2f,%.2f],"
			 "\"vcpu\":[%.2f,%.2f,%.3f,%.3f]},"
			 "\"cpu_s_baseline\":{\"backend\":[%.2f,%.2f],"
			 "\"vcpu\":[%.2f,%.2f,%.3f,%.3f]},"
			 "\"cpu_over\":\"both vhost-user entries\","
			 "\"loadavg\":[%.2f,%.2f,%.2f]",
			 (ut[0] - pu[0]) / tick, (st[0] - ps[0]) / tick,
			 gcpu[0].vcpu_user, gcpu[0].vcpu_sys, gcpu[0].vcpu_run,
			 gcpu[0].vcpu_wait, (ut[1] - pu[1]) / tick,
			 (st[1] - ps[1]) / tick, gcpu[1].vcpu_user,
			 gcpu[1].vcpu_sys, gcpu[1].vcpu_run, gcpu[1].vcpu_wait,
			 la[0], la[1], la[2]);
		for (int rnd = 0; rnd < 2; rnd++) {
			struct result r = { names[rnd],
					    median(a + rnd * p->trials, p->trials),
					    median(b + rnd * p->trials, p->trials),
					    "MB/s",
					    rnd ? "qemu-storage-daemon 4K QD32"
						: "qemu-storage-daemon 128K QD16",
					    p->trials, vb_reqs(p, rnd) };
			double ratio = r.baseline > 0 ? r.value / r.baseline : 0;

			if (p->json)
				printf("{\"bench\":\"%s\",\"backend\":\"kvm\","
				       "\"value\":%.3f,\"baseline\":%.3f,"
				       "\"ratio\":%.4f,\"unit\":\"%s\","
				       "\"baseline_name\":\"%s\",\"trials\":%d,"
				       "\"iters\":%ld,%s}\n",
				       r.bench, r.value, r.baseline, ratio, r.unit,
				       r.baseline_name, r.trials, r.iters, ex);
			else
				bench_print(p, &r);
			fflush(stdout);
		}
	}
	ret = BENCH_PRINTED;
out:
	vb_stop(ours);
	vb_stop(qsd);
	if (s1[0]) {
		unlink(s1);
		unlink(s2);
		rmdir(dir);
	}
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	free(img);
	free(a);
	free(b);
	return ret;
}

static const struct {
	const char *name;
	int (*fn)(const struct params *, struct result *);
	/* run only when named on the command line (long entries) */
	bool on_request;
} benches[] = {
	{ "exit-roundtrip", bench_exit_roundtrip },
	{ "create-destroy", bench_create_destroy_modes },
	{ "process-start", bench_process_start },
	{ "density", bench_density },
	{ "snapshot-reset", bench_snapshot_reset },
	{ "snapshot-reset-breakdown", bench_snapshot_reset_breakdown },
	{ "snapshot-save", bench_snapshot_save },
	{ "migrate", bench_migrate },
	{ "virtio-blk-seq-read", bench_virtio_seq },
	{ "virtio-blk-rand-read", bench_virtio_rand },
	{ "virtio-blk-exits", bench_virtio_exits },
	/* 3 queue counts x both sides: only when named */
	{ "virtio-blk-rand-read-mq", bench_virtio_mq_rand, true },
	{ "virtio-blk-seq-read-mq", bench_virtio_mq_seq, true },
	{ "vhost-user-blk-vs-qsd", bench_vhost_qsd },
	/* net.c */
	{ "virtio-net-pps-tx", bench_net_pps_tx },
	{ "virtio-net-pps-rx", bench_net_pps_rx },
	{ "virtio-net-gbps-tx", bench_net_gbps_tx },
	{ "virtio-net-gbps-rx", bench_net_gbps_rx },
	{ "virtio-net-gbps-tx-nooffload", bench_net_gbps_tx_nooff, true },
	{ "virtio-net-gbps-rx-nooffload", bench_net_gbps_rx_nooff, true },
	{ "hypercall-roundtrip", bench_hypercall_roundtrip },
	{ "hypercall-batch", bench_hypercall_batch },
	{ "hypercall-batch-exits", bench_hypercall_batch_exits },
	{ "soft-mips", bench_soft_mips },
	/* linux_boot.c; "linux-boot" names both */
	{ "linux-boot-1cpu", bench_linux_boot_1 },
	{ "linux-boot-2cpu", bench_linux_boot_2 },
#ifdef VMM_BENCH_KERNELS_GUEST
	/* soft_kernels.c */
	{ "soft-vs-tcg-sieve", bench_soft_tcg_sieve },
	{ "soft-vs-tcg-crc32", bench_soft_tcg_crc32 },
	{ "soft-vs-tcg-memcpy", bench_soft_tcg_memcpy },
	{ "soft-vs-tcg-chase", bench_soft_tcg_chase },
	{ "soft-vs-tcg-interp", bench_soft_tcg_interp },
	{ "soft-vs-tcg-regloop", bench_soft_tcg_regloop },
	{ "soft-vs-tcg-loadstore", bench_soft_tcg_loadstore },
	{ "soft-vs-tcg-geomean", bench_soft_tcg_geomean },
	{ "soft-vs-kvm-geomean", bench_soft_kvm_geomean },
	{ "soft-vs-tcg-cc", bench_soft_tcg_cc, true },
	{ "soft-vs-tcg-all-geomean", bench_soft_tcg_all_geomean, true },
	{ "soft-vs-unicorn-loadstore", bench_soft_unicorn_loadstore },
	{ "soft-vs-unicorn", bench_soft_unicorn, true },
#endif
#ifdef VMM_BENCH_MODELS_GUEST
	{ "device-models", bench_device_models },
#endif
#ifdef VMM_BENCH_SANDBOX_IMAGE
	{ "sandbox-call", bench_sandbox_call },
	{ "sandbox-vs-fork", bench_sandbox_fork },
#endif
};

void bench_print(const struct params *p, const struct result *r)
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

static const char *const backend_names[] = { "kvm", "soft", NULL };

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "json", no_argument, 0, 'j' },
		{ "trials", required_argument, 0, 't' },
		{ "iters", required_argument, 0, 'n' },
		{ "backend", required_argument, 0, 'b' },
		{ "migrate-sizes", required_argument, 0, 'S' },
		{ "migrate-rates", required_argument, 0, 'R' },
		{ "migrate-modes", required_argument, 0, 'M' },
		{ "migrate-link", required_argument, 0, 'L' },
		{ "help", no_argument, 0, 'h' },
		{ 0 },
	};
	struct params p = { .trials = 11, .iters = 20000,
			    .backend = VMM_BACKEND_KVM };
	char why[160];
	int c, failed = 0;

	cli_set_prog("vmm-bench");
	opterr = 0; /* our messages name the option */
	while ((c = getopt_long(argc, argv, ":", lopts, NULL)) != -1) {
		unsigned u;
		uint64_t v;
		int bi;

		switch (c) {
		case 'j': p.json = true; break;
		case 't':
			if (cli_uint("--trials", optarg, 1, 1000, &u))
				return 2;
			p.trials = (int)u;
			break;
		case 'n':
			if (cli_u64("--iters", optarg, 1, 1000000000, &v))
				return 2;
			p.iters = (long)v;
			break;
		case 'b':
			if (cli_choice("--backend", optarg, backend_names, &bi))
				return 2;
			p.backend = bi ? VMM_BACKEND_SOFT : VMM_BACKEND_KVM;
			break;
		case 'S': p.mig_sizes = optarg; break;
		case 'R': p.mig_rates = optarg; break;
		case 'M': p.mig_modes = optarg; break;
		case 'L':
			if (cli_uint("--migrate-link", optarg, 0, 1000000, &u))
				return 2;
			p.mig_link = u;
			break;
		case 'h':
			printf("usage: vmm-bench [--json] [--trials N] [--iters N] [--backend kvm|soft] [BENCH...]\n"
			       "  --trials N   trials per bench, median reported (1..1000, default 11)\n"
			       "  --iters N    iterations per trial (1..1000000000, default 20000)\n"
			       "  --backend    for device-models and migrate (the others compare KVM with a KVM baseline)\n"
			       "  --migrate-sizes MIB,...  guest sizes of migrate (default 256,1024)\n"
			       "  --migrate-rates MIBS,... dirty rates of migrate (default 0,20,80,300)\n"
			       "  --migrate-modes M,...    precopy,precopy+autoconverge,postcopy (default all)\n"
			       "  --migrate-link MIBS      cap the migration link (default 0: none)\n"
			       "  --json       one JSON object per result\n"
			       "  soft-vs-tcg-cc, soft-vs-tcg-all-geomean, soft-vs-unicorn and virtio-blk-*-read-mq run only when named\n"
			       "benches:");
			for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
				printf(" %s", benches[i].name);
			printf(" linux-boot\nexit status: 0 all ran, 1 a bench failed, 2 usage, 77 no KVM\n");
			return 0;
		case ':':
			cli_error("%s needs a value", argv[optind - 1]);
			return 2;
		default:
			cli_error("unknown option %s (see --help)", argv[optind - 1]);
			return 2;
		}
	}
	/* every named bench must exist: a typo is not an empty table */
	for (int j = optind; j < argc; j++) {
		bool known = !strcmp(argv[j], "linux-boot");
		for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
			known |= !strcmp(argv[j], benches[i].name);
		if (!known) {
			cli_error("unknown bench '%s' (see --help for the list)",
				  argv[j]);
			return 2;
		}
	}
	if (vmm_backend_probe(VMM_BACKEND_KVM, why, sizeof(why))) {
		fprintf(stderr, "vmm-bench: KVM not available (%s): skipping\n", why);
		return 77;
	}
	if (!p.json)
		printf("%-16s %12s %12s %8s  unit\n", "bench", "libvmm",
		       "baseline", "ratio");
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++) {
		struct result r;
		/* linux-boot takes minutes, the on_request entries too:
		 * only when named */
		bool want = optind >= argc && !benches[i].on_request &&
			    strncmp(benches[i].name, "linux-boot-", 11);
		for (int j = optind; j < argc; j++)
			want |= !strcmp(argv[j], benches[i].name) ||
				(!strcmp(argv[j], "linux-boot") &&
				 !strncmp(benches[i].name, "linux-boot-", 11));
		if (!want)
			continue;
		int rc = benches[i].fn(&p, &r);
		if (rc == 1) /* BENCH_PRINTED: it printed its own lines */
			continue;
		if (rc) {
			fprintf(stderr, "vmm-bench: %s failed\n", benches[i].name);
			failed = 1;
			continue;
		}
		bench_print(&p, &r);
	}
	return failed;
}
