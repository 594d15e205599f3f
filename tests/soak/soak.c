/* SPDX-License-Identifier: MIT */
/*
 * soak - many VMs, many cycles, flat resources.
 *
 *   soak [--duration SECONDS] [--workers N] [--backends soft,kvm]
 *
 * N worker threads (default 4) each repeat, until the duration is over:
 *   create a VM (alternating backends) with a UART, the debug-exit port and
 *   the interrupt controllers -> run its guest to the debug-exit port ->
 *   snapshot it into a memfd -> run again -> vmm_snapshot_reset and check
 *   that memory and vCPU went back -> live-migrate it over a unix
 *   socketpair to a receiver thread (to the other backend every other
 *   cycle when both exist) -> run the received VM and check it continues
 *   from the migrated state -> destroy both.
 * The guest (real mode, at 0x1000) increments a word at 0x500 and writes
 * the debug-exit port, in a loop: each vmm_vcpu_run_loop() is one step.
 *
 * The main thread samples the process every 250 ms: resident memory
 * (/proc/self/statm), open fds (/proc/self/fd), threads (/proc/self/task).
 * Checks, with the bounds stated here:
 *   - after the workers have stopped and joined, fds and threads are back
 *     exactly at what the process had before the first VM;
 *   - threads and fds sampled during the last half of the run never exceed
 *     the maximum seen in the second quarter (the first is warm-up:
 *     allocator caches and ASan's quarantine filling) by more than 8 fds and 3
 *     threads per worker (what one cycle holds at its peak: two VMs with
 *     their vCPU, UART and I/O threads, eventfds, the snapshot memfd and
 *     the socketpair; the samples catch workers in different phases);
 *   - resident memory in the last half never exceeds the second quarter's
 *     maximum by more than 32 MiB (under ASan the allocator's quarantine
 *     is set to 16 MiB below, so freed memory does not read as growth);
 *   - every cycle's checks pass (exit kinds, counters after reset and
 *     migration), and at least one cycle per worker ran.
 * Under ASan, LeakSanitizer checks at exit that nothing leaked.
 * Prints one line per second of progress and a summary line.
 */
#include <libvmm/libvmm.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* keep ASan's quarantine small, so RSS measures live memory */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "quarantine_size_mb=16:detect_leaks=1";
}

#define RAM (2ull << 20)
#define COUNTER 0x500
#define MAX_WORKERS 16
#define MAX_SAMPLES 100000

static const uint8_t guest[] = {
	0xff, 0x06, 0x00, 0x05, /* inc word [0x500] */
	0xb0, 0x01,             /* mov al, 1 */
	0xe6, 0xf4,             /* out 0xf4, al */
	0xeb, 0xf6,             /* jmp 0x1000 */
};

static enum vmm_backend backends[2];
static unsigned nbackends;
static atomic_bool stop_flag;
static atomic_ulong cycles_total, migrations_cross;

struct worker {
	pthread_t t;
	unsigned id;
	unsigned long cycles;
	char err[256];
};

#define FAIL(w, ...)                                                     \
	do {                                                             \
		snprintf((w)->err, sizeof((w)->err), __VA_ARGS__);       \
		return -1;                                               \
	} while (0)

static int step(vmm_vm *vm, uint16_t want, struct worker *w)
{
	struct vmm_exit e;
	uint16_t v;
	vmm_vcpu *c = vmm_vm_get_vcpu(vm, 0);

	if (!c || vmm_vcpu_run_loop(c, &e))
		FAIL(w, "run failed");
	if (e.kind != VMM_EXIT_GUEST_EXIT)
		FAIL(w, "exit %s (%s)", vmm_exit_name(e.kind),
		     e.kind == VMM_EXIT_INTERNAL ? e.internal.msg : "");
	if (vmm_mem_read(vm, COUNTER, &v, 2))
		FAIL(w, "read counter");
	if (v != want)
		FAIL(w, "counter %u, expected %u", v, want);
	return 0;
}

static int attach(void *opaque, vmm_vm *vm)
{
	struct vmm_uart_config uc;
	vmm_dev *d;
	int r;

	(void)opaque;
	vmm_uart_config_init(&uc);
	uc.out_fd = -1;
	uc.in_fd = -1;
	if ((r = vmm_uart_attach(vm, &uc, &d)) ||
	    (r = vmm_debug_exit_attach(vm, 0xf4, 1, &d)))
		return r;
	return 0;
}

struct rx {
	int fd;
	enum vmm_backend b;
	int ret;
	vmm_vm *vm;
};

static void *receiver(void *p)
{
	struct rx *x = p;
	struct vmm_config ov;
	struct vmm_restore_opts ro = { sizeof(ro), 0, attach, NULL };

	vmm_config_init(&ov);
	ov.backend = x->b;
	x->ret = vmm_migrate_receive(x->fd, &ov, &ro, NULL, &x->vm, NULL);
	return NULL;
}

static int cycle(struct worker *w, unsigned long n)
{
	enum vmm_backend b = backends[(n + w->id) % nbackends];
	enum vmm_backend b2 = backends[(n / 2 + w->id) % nbackends];
	struct vmm_save_opts so = { sizeof(so), VMM_SAVE_RAW | VMM_SAVE_NO_SYNC };
	struct vmm_config cfg;
	struct vmm_cpu_state st;
	vmm_snapshot *snap = NULL;
	vmm_vm *vm = NULL;
	vmm_vcpu *cpu;
	char why[160];
	struct rx x = { -1, b2, 0, NULL };
	pthread_t t;
	int sv[2] = { -1, -1 }, fd = -1, r = -1;

	vmm_config_init(&cfg);
	cfg.backend = b;
	cfg.ram_size = RAM;
	if (vmm_vm_create(&cfg, &vm)) {
		snprintf(w->err, sizeof(w->err), "create on %s",
			 vmm_backend_name(b));
		return -1;
	}
	if (vmm_vcpu_create(vm, 0, &cpu) || attach(NULL, vm) ||
	    vmm_mem_write(vm, 0x1000, guest, sizeof(guest)) ||
	    vmm_vcpu_get_state(cpu, &st)) {
		snprintf(w->err, sizeof(w->err), "set up");
		goto out;
	}
	vmm_state_flat_real(&st, 0, 0x1000, 0x800);
	if (vmm_vcpu_set_state(cpu, &st)) {
		snprintf(w->err, sizeof(w->err), "set state");
		goto out;
	}
	if (step(vm, 1, w))
		goto out;
	/* snapshot, run on, reset: back to 1 */
	fd = memfd_create("soak-snap", MFD_CLOEXEC);
	if (fd < 0 || vmm_snapshot_save_fd(vm, fd, &so) ||
	    vmm_snapshot_open_fd(fd, &snap, why, sizeof(why))) {
		snprintf(w->err, sizeof(w->err), "snapshot");
		goto out;
	}
	if (step(vm, 2, w) || step(vm, 3, w))
		goto out;
	if (vmm_snapshot_reset(vm, snap) < 0) {
		snprintf(w->err, sizeof(w->err), "reset");
		goto out;
	}
	if (step(vm, 2, w))
		goto out;
	/* live migration over a unix socketpair */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		snprintf(w->err, sizeof(w->err), "socketpair");
		goto out;
	}
	x.fd = sv[1];
	if (pthread_create(&t, NULL, receiver, &x)) {
		snprintf(w->err, sizeof(w->err), "thread");
		goto out;
	}
	r = vmm_migrate_send(vm, sv[0], NULL, NULL);
	pthread_join(t, NULL);
	if (r || x.ret) {
		snprintf(w->err, sizeof(w->err), "migrate %s -> %s: %d/%d",
			 vmm_backend_name(b), vmm_backend_name(b2), r, x.ret);
		r = -1;
		goto out;
	}
	if (b2 != b)
		atomic_fetch_add(&migrations_cross, 1);
	r = step(x.vm, 3, w);
out:
	vmm_vm_destroy(x.vm);
	if (snap)
		vmm_snapshot_close(snap);
	if (fd >= 0)
		close(fd);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	vmm_vm_destroy(vm);
	return r;
}

static void *worker_main(void *p)
{
	struct worker *w = p;

	while (!atomic_load(&stop_flag)) {
		if (cycle(w, w->cycles)) {
			atomic_store(&stop_flag, true);
			break;
		}
		w->cycles++;
		atomic_fetch_add(&cycles_total, 1);
	}
	return NULL;
}

struct sample {
	double t;
	long rss_kb;
	int fds, threads;
};

static int count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - (strcmp(path, "/proc/self/fd") == 0); /* opendir's own */
}

static struct sample take(double t)
{
	struct sample s = { t, 0, count_dir("/proc/self/fd"),
			    count_dir("/proc/self/task") };
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, res = 0;

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &res) != 2)
			res = 0;
		fclose(f);
	}
	s.rss_kb = res * (sysconf(_SC_PAGESIZE) / 1024);
	return s;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static struct sample samples[MAX_SAMPLES];
	static struct worker workers[MAX_WORKERS];
	const char *which = "soft,kvm";
	double duration = 60, t0, next_print;
	unsigned nworkers = 4, ns = 0;
	struct sample before, after, q1 = { 0 }, late = { 0 };
	int fail = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--duration") && i + 1 < argc)
			duration = atof(argv[++i]);
		else if (!strcmp(argv[i], "--workers") && i + 1 < argc)
			nworkers = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--backends") && i + 1 < argc)
			which = argv[++i];
		else {
			fprintf(stderr, "usage: %s [--duration S] [--workers N]"
				" [--backends soft,kvm]\n", argv[0]);
			return 2;
		}
	}
	if (nworkers < 1 || nworkers > MAX_WORKERS || duration <= 0)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strstr(which, "soft") && !vmm_backend_available(VMM_BACKEND_SOFT))
		backends[nbackends++] = VMM_BACKEND_SOFT;
	if (strstr(which, "kvm") && !vmm_backend_available(VMM_BACKEND_KVM))
		backends[nbackends++] = VMM_BACKEND_KVM;
	if (!nbackends) {
		printf("no backend available\n");
		return 77;
	}
	printf("soak: %u workers, %.0f s, backends:", nworkers, duration);
	for (unsigned i = 0; i < nbackends; i++)
		printf(" %s", vmm_backend_name(backends[i]));
	printf("\n");

	before = take(0);
	t0 = now();
	next_print = 1;
	for (unsigned i = 0; i < nworkers; i++) {
		workers[i].id = i;
		if (pthread_create(&workers[i].t, NULL, worker_main, &workers[i]))
			return 1;
	}
	while (!atomic_load(&stop_flag)) {
		double t = now() - t0;
		if (t >= duration)
			break;
		if (ns < MAX_SAMPLES)
			samples[ns++] = take(t);
		if (t >= next_print) {
			struct sample *s = &samples[ns - 1];
			printf("t=%.0fs cycles=%lu rss=%ld KiB fds=%d threads=%d\n",
			       t, atomic_load(&cycles_total), s->rss_kb, s->fds,
			       s->threads);
			next_print += duration > 60 ? 10 : 1;
		}
		usleep(250000);
	}
	atomic_store(&stop_flag, true);
	for (unsigned i = 0; i < nworkers; i++)
		pthread_join(workers[i].t, NULL);
	after = take(now() - t0);

	for (unsigned i = 0; i < nworkers; i++) {
		if (workers[i].err[0]) {
			printf("FAIL worker %u, cycle %lu: %s\n", i,
			       workers[i].cycles, workers[i].err);
			fail = 1;
		} else if (!workers[i].cycles) {
			printf("FAIL worker %u ran no cycle\n", i);
			fail = 1;
		}
	}
	for (unsigned i = 0; i < ns; i++) {
		struct sample *s = &samples[i], *m;
		if (s->t <= duration / 4)
			continue; /* warm-up: allocator caches, ASan quarantine */
		m = s->t <= duration / 2 ? &q1 : &late;
		if (s->rss_kb > m->rss_kb)
			m->rss_kb = s->rss_kb;
		if (s->fds > m->fds)
			m->fds = s->fds;
		if (s->threads > m->threads)
			m->threads = s->threads;
	}
	printf("soak: %lu cycles (%lu cross-backend migrations) in %.1f s; "
	       "rss second quarter max %ld KiB, last half max %ld KiB; fds "
	       "%d/%d (before/after), max %d/%d (second quarter/last half); "
	       "threads %d/%d, max %d/%d\n",
	       atomic_load(&cycles_total), atomic_load(&migrations_cross),
	       after.t, q1.rss_kb, late.rss_kb, before.fds, after.fds, q1.fds,
	       late.fds, before.threads, after.threads, q1.threads,
	       late.threads);
	if (after.fds != before.fds || after.threads != before.threads) {
		printf("FAIL fds/threads not back: fds %d -> %d, threads %d -> "
		       "%d\n", before.fds, after.fds, before.threads,
		       after.threads);
		fail = 1;
	}
	if (late.rss_kb && q1.rss_kb && late.rss_kb > q1.rss_kb + 32 * 1024) {
		printf("FAIL rss grew by %ld KiB (bound 32768)\n",
		       late.rss_kb - q1.rss_kb);
		fail = 1;
	}
	if (late.fds > q1.fds + 8 * (int)nworkers ||
	    late.threads > q1.threads + 3 * (int)nworkers) {
		printf("FAIL fds/threads grew: fds %d -> %d, threads %d -> %d\n",
		       q1.fds, late.fds, q1.threads, late.threads);
		fail = 1;
	}
	return fail;
}
