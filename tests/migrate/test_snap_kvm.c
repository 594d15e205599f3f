/* SPDX-License-Identifier: MIT */
/*
 * test_snap_kvm - snapshots and migration of a running guest (mguest.h),
 * through the public API.  Standalone; exit 0 pass, 1 fail, 77 skip (only
 * when /dev/kvm is absent, or for "cross" when the software backend cannot
 * run the guest yet).
 *
 *   test_snap_kvm roundtrip   save mid-run, restore (copy, copy-on-write,
 *                             from a pipe), continue: same checksum, output
 *                             and memory as an uninterrupted run
 *   test_snap_kvm reset       restore copy-on-write with dirty tracking,
 *                             then 1000 x (run, reset): same result every
 *                             time, reset cost follows the dirtied pages
 *   test_snap_kvm migrate     live migration between two threads over a
 *                             unix socket while the guest dirties memory
 *   test_snap_kvm process     the same between two processes
 *   test_snap_kvm cut         connections cut at several points: the
 *                             source keeps running and ends correctly
 *   test_snap_kvm cross       KVM snapshot restored on the soft backend and
 *                             back, without and with interrupt controllers
 *                             (their state compared after each restore)
 */
#include "mcheck.h"
#include "mguest.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/vmm-snap-XXXXXX";

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void log_cb(void *opaque, int level, const char *msg)
{
	fprintf(stderr, "  [libvmm %d] %s\n", level, msg);
}

/* The reference: an uninterrupted run to @target. */
struct ref {
	int64_t value;
	uint64_t hash;
	char out[1 << 16];
};

#define NPAGES 64

static void reference(struct ref *r, uint64_t target, uint32_t npages,
		      uint32_t delay, uint32_t out_mask)
{
	struct mg g;

	mg_init(&g);
	OK(NULL, mg_create(&g, VMM_BACKEND_KVM, 16 << 20, target, npages, delay,
			   out_mask));
	r->value = mg_run_to_exit(g.vcpu);
	CHECK(r->value >= 0, "reference run failed: %lld", (long long)r->value);
	r->hash = migguest_hash(g.vm, npages);
	memcpy(r->out, g.out, g.out_len + 1);
	vmm_vm_destroy(g.vm);
}

struct kicker {
	vmm_vcpu *vcpu;
	int ms;
};

static void *kick_later(void *arg)
{
	struct kicker *k = arg;
	struct timespec ts = { k->ms / 1000, (k->ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
	vmm_vcpu_kick(k->vcpu);
	return NULL;
}

/* Run @g until a kick after @ms; false if the guest finished first. */
/* Run until a kick @ms later (short: the guest must still be running on a
 * fast, idle host; a kick before it starts is fine too). */
static bool run_until_kick(struct mg *g, int ms)
{
	struct kicker k = { g->vcpu, ms };
	struct vmm_exit e;
	pthread_t t;
	int ret;

	pthread_create(&t, NULL, kick_later, &k);
	ret = vmm_vcpu_run_loop(g->vcpu, &e);
	pthread_join(t, NULL);
	OK(g->vm, ret);
	CHECK(e.kind == VMM_EXIT_INTERRUPTED || e.kind == VMM_EXIT_GUEST_EXIT,
	      "exit %s", vmm_exit_name(e.kind));
	return e.kind == VMM_EXIT_INTERRUPTED;
}

/* Continue a restored VM to the end and compare with the reference. */
static void finish_and_compare(const char *what, vmm_vm *vm, struct mg *g,
			       const char *before, const struct ref *r,
			       uint32_t npages)
{
	int64_t v = mg_run_to_exit(vmm_vm_get_vcpu(vm, 0));
	char out[sizeof(r->out) * 2];

	CHECK(v == r->value, "%s: exit value 0x%llx, reference 0x%llx", what,
	      (long long)v, (long long)r->value);
	CHECK(migguest_hash(vm, npages) == r->hash, "%s: memory differs", what);
	snprintf(out, sizeof(out), "%s%s", before, g->out);
	CHECK(!strcmp(out, r->out), "%s: output differs:\n  got %s\n  ref %s",
	      what, out, r->out);
	printf("ok: %s: value 0x%llx, %zu output bytes\n", what,
	       (long long)v, strlen(out));
}

struct pipe_writer {
	vmm_vm *vm;
	int fd;
	int ret;
};

static void *pipe_write(void *arg)
{
	struct pipe_writer *pw = arg;

	pw->ret = vmm_snapshot_save_fd(pw->vm, pw->fd, NULL);
	close(pw->fd);
	return NULL;
}

static void test_roundtrip(void)
{
	const uint64_t target = 60000000;
	struct ref *r = calloc(1, sizeof(*r));
	struct mg g, g2;
	char path[128], before[1 << 16];
	struct vmm_restore_opts ro = { .attach = mg_attach };
	struct vmm_config ov;
	vmm_snapshot *snap;
	struct vmm_snapshot_info info = { .struct_size = sizeof(info) };
	char err[256];
	vmm_vm *vm;
	double t;
	int pfd[2];

	vmm_config_init(&ov);
	ov.backend = VMM_BACKEND_KVM;
	ov.log = log_cb;
	reference(r, target, NPAGES, 1, 0xfffff);

	mg_init(&g);
	OK(NULL, mg_create(&g, VMM_BACKEND_KVM, 16 << 20, target, NPAGES, 1,
			   0xfffff));
	CHECK(run_until_kick(&g, 15), "guest finished before the kick");
	snprintf(path, sizeof(path), "%s/rt.snap", tmpdir);
	t = now_s();
	OK(g.vm, vmm_snapshot_save(g.vm, path, NULL));
	printf("save: %.2f ms\n", (now_s() - t) * 1e3);
	memcpy(before, g.out, g.out_len + 1);

	CHECK(vmm_snapshot_open(path, &snap, err, sizeof(err)) == 0, "open: %s",
	      err);
	OK(NULL, vmm_snapshot_get_info(snap, &info));
	CHECK(info.raw_memory && info.ncpus == 1 && info.devices == 2 &&
	      info.irqchip, "info: raw %d ncpus %u devices %u irqchip %d",
	      info.raw_memory, info.ncpus, info.devices, info.irqchip);
	printf("snapshot: %llu bytes file, %llu pages stored of %llu\n",
	       (unsigned long long)info.file_bytes,
	       (unsigned long long)info.stored_pages,
	       (unsigned long long)(info.ram_bytes / 4096));

	/* copy restore */
	mg_init(&g2);
	ro.opaque = &g2;
	t = now_s();
	OK(NULL, vmm_snapshot_restore_snap(snap, &ov, &ro, &vm));
	printf("restore (copy): %.2f ms\n", (now_s() - t) * 1e3);
	finish_and_compare("copy restore", vm, &g2, before, r, NPAGES);
	vmm_vm_destroy(vm);

	/* copy-on-write restore */
	mg_init(&g2);
	ro.flags = VMM_RESTORE_COW;
	t = now_s();
	OK(NULL, vmm_snapshot_restore_snap(snap, &ov, &ro, &vm));
	printf("restore (cow): %.2f ms\n", (now_s() - t) * 1e3);
	finish_and_compare("cow restore", vm, &g2, before, r, NPAGES);
	vmm_vm_destroy(vm);
	vmm_snapshot_close(snap);

	/* the original continues as well */
	finish_and_compare("source after save", g.vm, &g, "", r, NPAGES);
	vmm_vm_destroy(g.vm);

	/* through a pipe (PACKED layout), restored from the stream */
	CHECK(pipe(pfd) == 0, "pipe");
	mg_init(&g);
	OK(NULL, mg_create(&g, VMM_BACKEND_KVM, 16 << 20, target, NPAGES, 1,
			   0xfffff));
	CHECK(run_until_kick(&g, 10), "guest finished before the kick");
	memcpy(before, g.out, g.out_len + 1);
	{
		struct pipe_writer pw = { g.vm, pfd[1], -1 };
		pthread_t wt;

		pthread_create(&wt, NULL, pipe_write, &pw);
		CHECK(vmm_snapshot_open_fd(pfd[0], &snap, err, sizeof(err)) == 0,
		      "open_fd: %s", err);
		pthread_join(wt, NULL);
		close(pfd[0]);
		OK(g.vm, pw.ret);
	}
	OK(NULL, vmm_snapshot_get_info(snap, &info));
	CHECK(!info.raw_memory, "a pipe gets the PACKED layout");
	mg_init(&g2);
	ro.opaque = &g2;
	ro.flags = VMM_RESTORE_COW;
	CHECK(vmm_snapshot_restore_snap(snap, &ov, &ro, &vm) == -EINVAL,
	      "copy-on-write of a PACKED snapshot must be refused");
	ro.flags = 0;
	OK(NULL, vmm_snapshot_restore_snap(snap, &ov, &ro, &vm));
	finish_and_compare("pipe restore", vm, &g2, before, r, NPAGES);
	vmm_vm_destroy(vm);
	vmm_snapshot_close(snap);

	/* without the devices attached, restore names what is missing */
	{
		int rc = vmm_snapshot_restore(path, &ov, &vm);
		CHECK(rc == -ENODEV, "restore without devices gave %d", rc);
	}
	vmm_vm_destroy(g.vm);
	unlink(path);
	free(r);
}

static void test_reset(void)
{
	const uint64_t steps = 20000;
	struct mg g, g2;
	struct vmm_restore_opts ro = { .attach = mg_attach,
				       .flags = VMM_RESTORE_COW |
						VMM_RESTORE_TRACK_DIRTY };
	struct vmm_config ov;
	char path[128], err[256], out0[1 << 12];
	vmm_snapshot *snap;
	uint64_t hash0, maxpages = 0;
	int64_t value0 = -1;
	double t, total = 0;
	vmm_vm *vm;

	vmm_config_init(&ov);
	ov.backend = VMM_BACKEND_KVM;
	ov.log = log_cb;
	mg_init(&g);
	/* 8 data pages, output every 4096 iterations */
	OK(NULL, mg_create(&g, VMM_BACKEND_KVM, 64 << 20, steps, 8, 1, 0xfff));
	snprintf(path, sizeof(path), "%s/reset.snap", tmpdir);
	OK(g.vm, vmm_snapshot_save(g.vm, path, NULL));
	vmm_vm_destroy(g.vm);
	CHECK(vmm_snapshot_open(path, &snap, err, sizeof(err)) == 0, "open: %s",
	      err);
	mg_init(&g2);
	ro.opaque = &g2;
	OK(NULL, vmm_snapshot_restore_snap(snap, &ov, &ro, &vm));
	hash0 = migguest_hash(vm, 8);
	for (int i = 0; i < 1000; i++) {
		int64_t v;
		int n;

		g2.out_len = 0;
		g2.out[0] = 0;
		v = mg_run_to_exit(vmm_vm_get_vcpu(vm, 0));
		if (i == 0) {
			value0 = v;
			snprintf(out0, sizeof(out0), "%s", g2.out);
			CHECK(v >= 0 && strlen(out0) == steps / 4096,
			      "first run: %lld, output '%s'", (long long)v,
			      out0);
		}
		CHECK(v == value0, "run %d: value 0x%llx, first 0x%llx", i,
		      (long long)v, (long long)value0);
		CHECK(!strcmp(g2.out, out0), "run %d: output '%s' != '%s'", i,
		      g2.out, out0);
		t = now_s();
		n = vmm_snapshot_reset(vm, snap);
		total += now_s() - t;
		OK(vm, n);
		if ((uint64_t)n > maxpages)
			maxpages = (uint64_t)n;
		if (i % 100 == 0)
			CHECK(migguest_hash(vm, 8) == hash0, "reset %d: memory differs",
			      i);
	}
	printf("ok: 1000 resets, value 0x%llx each time, %.1f us per reset, at most %llu pages restored\n",
	       (long long)value0, total * 1e6 / 1000,
	       (unsigned long long)maxpages);
	/* 8 data pages: nothing else may be copied back */
	CHECK(maxpages <= 16, "reset restored %llu pages",
	      (unsigned long long)maxpages);
	vmm_vm_destroy(vm);
	vmm_snapshot_close(snap);
	unlink(path);
}

/* ---- migration ---- */

struct rx_arg {
	int fd;
	struct mg g;
	vmm_vm *vm;
	int ret;
	struct vmm_migrate_stats st;
};

static void *rx_thread(void *arg)
{
	struct rx_arg *a = arg;
	struct vmm_restore_opts ro = { .attach = mg_attach, .opaque = &a->g };
	struct vmm_config ov;

	vmm_config_init(&ov);
	ov.backend = VMM_BACKEND_KVM;
	ov.log = log_cb;
	a->st.struct_size = sizeof(a->st);
	a->ret = vmm_migrate_receive(a->fd, &ov, &ro, NULL, &a->vm, &a->st);
	return NULL;
}

#define MIG_TARGET 200000000ull

static void test_migrate(void)
{
	struct ref *r = calloc(1, sizeof(*r));
	struct rx_arg *rx = calloc(1, sizeof(*rx));
	struct vmm_migrate_opts mo = { .max_downtime_ms = 10 };
	struct vmm_migrate_stats st = { .struct_size = sizeof(st) };
	struct mg g;
	int64_t value = -1;
	int sv[2];
	pthread_t t;
	char before[1 << 16];
	int ret;

	reference(r, MIG_TARGET, 256, 1, 0xffffff);
	mg_init(&g);
	OK(NULL, mg_create(&g, VMM_BACKEND_KVM, 64 << 20, MIG_TARGET, 256, 1,
			   0xffffff));
	OK(g.vm, vmm_vm_start(g.vm, mg_stop_on_exit, &value));
	usleep(300000);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	rx->fd = sv[1];
	mg_init(&rx->g);
	pthread_create(&t, NULL, rx_thread, rx);
	ret = vmm_migrate_send(g.vm, sv[0], &mo, &st);
	pthread_join(t, NULL);
	OK(g.vm, ret);
	OK(NULL, rx->ret);
	printf("migrate: %u rounds, %llu pages, %llu zero, %llu bytes, last round %llu pages, downtime %.2f ms, total %.1f ms, converged %d\n",
	       st.rounds, (unsigned long long)st.pages_sent,
	       (unsigned long long)st.zero_pages,
	       (unsigned long long)st.bytes_sent,
	       (unsigned long long)st.last_round_pages, st.downtime_ms,
	       st.total_ms, st.converged);
	/* the receiver's statistics describe the same stream (they were
	 * all zero and "not converged" before) */
	CHECK(rx->st.bytes_sent == st.bytes_sent && st.bytes_sent > 0,
	      "receiver read %llu bytes, source wrote %llu",
	      (unsigned long long)rx->st.bytes_sent,
	      (unsigned long long)st.bytes_sent);
	CHECK(rx->st.pages_sent == st.pages_sent &&
	      rx->st.zero_pages == st.zero_pages && rx->st.rounds == st.rounds,
	      "receiver counted %llu+%llu pages in %u rounds, source %llu+%llu in %u",
	      (unsigned long long)rx->st.pages_sent,
	      (unsigned long long)rx->st.zero_pages, rx->st.rounds,
	      (unsigned long long)st.pages_sent,
	      (unsigned long long)st.zero_pages, st.rounds);
	CHECK(rx->st.converged == st.converged,
	      "receiver says converged %d, source %d", rx->st.converged,
	      st.converged);
	CHECK(value == -1, "source finished before migrating");
	/* the source stays paused; what it printed so far goes first */
	pthread_mutex_lock(&g.lock);
	memcpy(before, g.out, g.out_len + 1);
	pthread_mutex_unlock(&g.lock);
	vmm_vm_destroy(g.vm);
	finish_and_compare("live migration (threads)", rx->vm, &rx->g, before,
			   r, 256);
	vmm_vm_destroy(rx->vm);
	close(sv[0]);
	close(sv[1]);
	free(r);
	free(rx);
}

static void test_process(void)
{
	struct ref *r = calloc(1, sizeof(*r));
	struct vmm_migrate_stats st = { .struct_size = sizeof(st) };
	struct mg g;
	int64_t value = -1;
	int sv[2], status;
	pid_t pid;
	char before[1 << 16];
	int ret;

	reference(r, MIG_TARGET, 256, 1, 0xffffff);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	pid = fork();
	if (pid == 0) {
		/* destination process: receive, run to the end, report */
		struct rx_arg *rx = calloc(1, sizeof(*rx));
		int64_t v;
		char line[1 << 17];
		ssize_t n;

		close(sv[0]);
		rx->fd = sv[1];
		mg_init(&rx->g);
		rx_thread(rx);
		if (rx->ret) {
			fprintf(stderr, "receive: %s\n", vmm_strerror(rx->ret));
			_exit(2);
		}
		v = mg_run_to_exit(vmm_vm_get_vcpu(rx->vm, 0));
		n = snprintf(line, sizeof(line), "%lld %llu %s",
			     (long long)v,
			     (unsigned long long)migguest_hash(rx->vm, 256),
			     rx->g.out);
		if (write(sv[1], line, (size_t)n + 1) != n + 1)
			_exit(3);
		_exit(0);
	}
	close(sv[1]);
	mg_init(&g);
	OK(NULL, mg_create(&g, VMM_BACKEND_KVM, 64 << 20, MIG_TARGET, 256, 1,
			   0xffffff));
	OK(g.vm, vmm_vm_start(g.vm, mg_stop_on_exit, &value));
	usleep(300000);
	ret = vmm_migrate_send(g.vm, sv[0], NULL, &st);
	OK(g.vm, ret);
	printf("migrate (processes): %u rounds, %llu pages, downtime %.2f ms, total %.1f ms\n",
	       st.rounds, (unsigned long long)st.pages_sent, st.downtime_ms,
	       st.total_ms);
	pthread_mutex_lock(&g.lock);
	memcpy(before, g.out, g.out_len + 1);
	pthread_mutex_unlock(&g.lock);
	vmm_vm_destroy(g.vm);
	{
		static char line[1 << 17];
		size_t got = 0;
		long long v;
		unsigned long long h;
		int off = 0;
		char out[1 << 17];

		for (;;) {
			ssize_t n = read(sv[0], line + got, sizeof(line) - 1 - got);
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		line[got] = 0;
		waitpid(pid, &status, 0);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "destination process failed (status 0x%x)", status);
		CHECK(sscanf(line, "%lld %llu %n", &v, &h, &off) == 2,
		      "bad report '%s'", line);
		CHECK(v == r->value && h == r->hash,
		      "destination ended with 0x%llx/%llx, reference 0x%llx/%llx",
		      v, h, (long long)r->value,
		      (unsigned long long)r->hash);
		snprintf(out, sizeof(out), "%s%s", before, line + off);
		CHECK(!strcmp(out, r->out), "output differs");
		printf("ok: live migration (processes): value 0x%llx\n", v);
	}
	close(sv[0]);
	free(r);
}

/*
 * A man in the middle between the source and a real destination: forwards
 * both ways and cuts both connections once @cut bytes went from source to
 * destination (@cut == 1: replaces them by garbage instead; CUT_ACK:
 * everything reaches the destination, its acknowledgement never returns).
 */
struct proxy {
	int src, dst;
	size_t cut;
};
#define CUT_ACK ((size_t)-1)

static void *proxy_thread(void *arg)
{
	struct proxy *p = arg;
	struct pollfd pfd[2] = { { p->src, POLLIN, 0 }, { p->dst, POLLIN, 0 } };
	char buf[65536];
	size_t fwd = 0, back = 0;

	while (fwd < p->cut) {
		/* generous: a loaded host creates the destination VM slowly */
		if (poll(pfd, 2, 60000) <= 0)
			break;
		if (pfd[0].revents) {
			size_t want = p->cut - fwd < sizeof(buf) ? p->cut - fwd :
								    sizeof(buf);
			ssize_t n = read(p->src, buf, want);
			if (n <= 0)
				break;
			if (p->cut == 1)
				memset(buf, 0x5a, (size_t)n);
			if (write(p->dst, buf, (size_t)n) != n)
				break;
			fwd += (size_t)n;
		}
		if (pfd[1].revents) {
			ssize_t n = read(p->dst, buf, sizeof(buf));
			/*
			 * CUT_ACK: pass what the destination says at the start
			 * (CAPS, READY: one read or several), cut at its ACK,
			 * the first frame back after the bulk of the stream
			 * (3 MiB of the 4 MiB fill alone) went through
			 */
			if (n <= 0 || (p->cut == CUT_ACK && fwd >= (3u << 20)))
				break;
			if (write(p->src, buf, (size_t)n) != n)
				break;
			back += (size_t)n;
		}
	}
	shutdown(p->src, SHUT_RDWR);
	shutdown(p->dst, SHUT_RDWR);
	return NULL;
}

static void test_cut(void)
{
	/* byte offsets inside the stream.  Zero pages are elided, and the
	 * guest's own pages make ~1 MB or less, which under load (few dirty
	 * rounds) was shorter than the later cuts: the migration then
	 * succeeded.  So FILL_BYTES of guest RAM the guest never touches
	 * are filled with non-zero data first: every stream carries them in
	 * its first pass and is longer than the last byte offset (the
	 * CUT_ACK run, which sees the whole stream, checks that). */
	static const size_t cuts[] = { 0, 1, 100, 5000, 300000, 700000,
				       CUT_ACK };
	const size_t last_cut = 700000;
	const vmm_gpa_t fill_gpa = 32 << 20;
	const size_t fill_bytes = 4 << 20;
	struct ref *r = calloc(1, sizeof(*r));
	struct mg g;
	int64_t value = -1;
	char before[1 << 16];

	struct vmm_cpu_state st;
	uint64_t target;

	/* runs "forever" until the end is set below */
	mg_init(&g);
	OK(NULL, mg_create(&g, VMM_BACKEND_KVM, 64 << 20, 1ull << 62, 256, 1,
			   0xffffff));
	for (size_t off = 0; off < fill_bytes; off += 4096)
		OK(g.vm, vmm_mem_fill(g.vm, fill_gpa + off,
				      0x11 + (int)(off >> 12) % 200, 4096));
	OK(g.vm, vmm_vm_start(g.vm, mg_stop_on_exit, &value));
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		/*
		 * Every cut ends the stream by closing it (EPIPE), never by a
		 * timeout; a long timeout keeps a loaded host (the destination
		 * creating its VM slowly) from ending the uncut run early -
		 * seen as "a whole stream of 92 bytes" under load.
		 */
		struct vmm_migrate_opts mo = { .timeout_ms = 60000 };
		struct vmm_migrate_stats st = { .struct_size = sizeof(st) };
		struct rx_arg *rx = calloc(1, sizeof(*rx));
		struct proxy px;
		pthread_t t, tr;
		int a[2], b[2], ret;
		char msg[320];

		CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, a) == 0 &&
		      socketpair(AF_UNIX, SOCK_STREAM, 0, b) == 0, "socketpair");
		px = (struct proxy){ a[1], b[0], cuts[i] };
		rx->fd = b[1];
		mg_init(&rx->g);
		pthread_create(&t, NULL, proxy_thread, &px);
		pthread_create(&tr, NULL, rx_thread, rx);
		ret = vmm_migrate_send(g.vm, a[0], &mo, &st);
		shutdown(a[0], SHUT_RDWR);
		pthread_join(t, NULL);
		pthread_join(tr, NULL);
		for (int k = 0; k < 2; k++) {
			close(a[k]);
			close(b[k]);
		}
		vmm_last_error(g.vm, msg, sizeof(msg));
		CHECK(ret < 0, "cut at %zu: migration succeeded", cuts[i]);
		if (cuts[i] == CUT_ACK) {
			/* the destination sent ACK and got no COMMIT: it
			 * keeps the paused VM (the source may have
			 * committed); this source did not (it failed), so
			 * the embedder destroys the destination's copy */
			CHECK(rx->ret == VMM_MIGRATE_COMMIT_UNVERIFIED && rx->vm,
			      "cut at the ACK: destination %d, not commit-unverified",
			      rx->ret);
			vmm_vm_destroy(rx->vm);
			rx->vm = NULL;
		} else {
			CHECK(rx->ret < 0 && !rx->vm,
			      "cut at %zu: the destination kept a VM", cuts[i]);
		}
		printf("ok: cut after %zu bytes: source %s (%s) after %llu bytes sent, destination %s\n",
		       cuts[i], vmm_err_name(ret), msg,
		       (unsigned long long)st.bytes_sent,
		       vmm_err_name(rx->ret));
		if (cuts[i] == CUT_ACK)
			CHECK(st.bytes_sent > last_cut + fill_bytes / 2,
			      "a whole stream of %llu bytes: the cuts up to %zu "
			      "may land after its end",
			      (unsigned long long)st.bytes_sent, last_cut);
		free(rx);
		CHECK(value == -1, "guest ended during the cuts");
	}
	/* the source still runs: give it an end and it reaches it with the
	 * result of an uninterrupted run */
	OK(g.vm, vmm_vm_pause(g.vm));
	OK(g.vm, vmm_vcpu_get_state(g.vcpu, &st));
	target = st.gpr[VMM_RSI] + 100000000;
	OK(g.vm, migguest_set_target(g.vm, target));
	OK(g.vm, vmm_vm_resume(g.vm));
	reference(r, target, 256, 1, 0xffffff);
	CHECK(vmm_vm_wait(g.vm, 120000) == 1, "source did not finish");
	CHECK(value == r->value, "source ended with 0x%llx, reference 0x%llx",
	      (long long)value, (long long)r->value);
	CHECK(migguest_hash(g.vm, 256) == r->hash, "source memory differs");
	pthread_mutex_lock(&g.lock);
	memcpy(before, g.out, g.out_len + 1);
	pthread_mutex_unlock(&g.lock);
	CHECK(!strcmp(before, r->out), "source output differs");
	printf("ok: the source kept running through %zu cut migrations\n",
	       sizeof(cuts) / sizeof(cuts[0]));
	vmm_vm_destroy(g.vm);
	free(r);
}

/*
 * Run the first half of the guest on @from, snapshot it, restore it on
 * @to and run the second half there: the result must be that of an
 * uninterrupted run.
 */
static void cross_one(const char *what, enum vmm_backend from,
		      enum vmm_backend to, uint32_t vm_flags,
		      uint32_t restore_flags, const struct ref *r,
		      uint64_t target)
{
	struct vmm_restore_opts ro = { .attach = mg_attach,
				       .flags = restore_flags };
	struct vmm_config ov;
	char path[128], before[1 << 16], err[256];
	vmm_snapshot *snap;
	struct mg g, g2;
	vmm_vm *vm;
	int64_t v;

	vmm_config_init(&ov);
	ov.log = log_cb;
	ov.backend = to;
	snprintf(path, sizeof(path), "%s/cross.snap", tmpdir);
	mg_init(&g);
	OK(NULL, mg_create_flags(&g, from, vm_flags, 16 << 20, target / 2,
				 NPAGES, 1, 0x3fff));
	v = mg_run_to_exit(g.vcpu);
	CHECK(v >= 0, "%s: first half failed (%lld)", what, (long long)v);
	OK(g.vm, migguest_set_target(g.vm, target));
	memcpy(before, g.out, g.out_len + 1);
	OK(g.vm, vmm_snapshot_save(g.vm, path, NULL));
	vmm_vm_destroy(g.vm);
	CHECK(vmm_snapshot_open(path, &snap, err, sizeof(err)) == 0, "open: %s",
	      err);
	mg_init(&g2);
	ro.opaque = &g2;
	OK(NULL, vmm_snapshot_restore_snap(snap, &ov, &ro, &vm));
	vmm_snapshot_close(snap);
	CHECK(vmm_vm_backend(vm) == to, "restored on %s",
	      vmm_backend_name(vmm_vm_backend(vm)));
	finish_and_compare(what, vm, &g2, before, r, NPAGES);
	vmm_vm_destroy(vm);
	unlink(path);
}

/*
 * Cross-backend restore WITH the interrupt controllers: the source's PIC
 * pair, IOAPIC and PIT are programmed to a non-reset state through
 * vmm_vm_set_irqchip() (everything masked, so the guest sees no
 * interrupt), the VM is snapshotted, restored on the other backend,
 * snapshotted again there and restored on the first backend: every
 * vmm_vm_get_irqchip() along the way must mean the same thing.
 */
static void irq_program(vmm_vm *vm, struct vmm_irqchip_state *st)
{
	struct vmm_pit_channel *c;

	OK(vm, vmm_vm_get_irqchip(vm, st));
	CHECK((st->valid & (VMM_IRQCHIP_PIC | VMM_IRQCHIP_IOAPIC |
			    VMM_IRQCHIP_PIT)) ==
		      (VMM_IRQCHIP_PIC | VMM_IRQCHIP_IOAPIC | VMM_IRQCHIP_PIT),
	      "valid 0x%x", st->valid);
	for (int i = 0; i < 2; i++) {
		struct vmm_pic_state *p = &st->pic[i];
		p->vector_base = i ? 0x28 : 0x20;
		p->imr = 0xff;
		p->isr = 0;
		p->irr = i ? 0x10 : 0x01;
		p->priority_add = i ? 5 : 3;
		p->read_isr = !i;
		p->special_mask = 0;
		p->poll = 0;
		p->init_state = 0;
		p->auto_eoi = 0;
		p->rotate_on_auto_eoi = i;
		p->special_fully_nested = 0;
		p->icw4_needed = 1;
		p->elcr = i ? 0x0c : 0x20;
		p->last_irr = 0;
	}
	st->ioapic.id = 3;
	st->ioapic.ioregsel = 0x12;
	st->ioapic.irr = 0;
	for (int i = 0; i < VMM_IOAPIC_PINS; i++)
		st->ioapic.redir[i] = (1ull << 16) | (uint64_t)(0x30 + i) |
				      ((uint64_t)(i & 3) << 56) |
				      (i >= 16 ? 1ull << 15 : 0);
	c = &st->pit.ch[0];
	c->count = 0x1000;
	c->mode = 2;
	c->rw_mode = 3;
	c->read_state = 3;
	c->write_state = 3;
	c->bcd = 0;
	c->gate = 1;
	c->count_latched = 0;
	c->status_latched = 0;
	c->load_age_ns = 0;
	st->valid &= ~VMM_IRQCHIP_CLOCK;
	OK(vm, vmm_vm_set_irqchip(vm, st));
	OK(vm, vmm_vm_get_irqchip(vm, st));
}

static void irq_compare(const char *what, const struct vmm_irqchip_state *a,
			const struct vmm_irqchip_state *b)
{
	const uint64_t redir_mask = 0xff0000000001efffull; /* no delivery status */

	CHECK((a->valid & 7) == (b->valid & 7), "%s: valid 0x%x / 0x%x", what,
	      a->valid, b->valid);
	for (int i = 0; i < 2; i++) {
		const struct vmm_pic_state *p = &a->pic[i], *q = &b->pic[i];
#define PIC_EQ(f)                                                              \
	CHECK(p->f == q->f, "%s: PIC %d " #f " 0x%x / 0x%x", what, i, p->f, q->f)
		PIC_EQ(irr);
		PIC_EQ(isr);
		PIC_EQ(imr);
		PIC_EQ(last_irr);
		PIC_EQ(vector_base);
		PIC_EQ(priority_add);
		PIC_EQ(read_isr);
		PIC_EQ(poll);
		PIC_EQ(special_mask);
		PIC_EQ(init_state);
		PIC_EQ(auto_eoi);
		PIC_EQ(rotate_on_auto_eoi);
		PIC_EQ(special_fully_nested);
		PIC_EQ(icw4_needed);
		PIC_EQ(elcr);
		PIC_EQ(elcr_mask);
#undef PIC_EQ
	}
	CHECK(a->ioapic.base == b->ioapic.base, "%s: IOAPIC base", what);
	CHECK(a->ioapic.id == b->ioapic.id, "%s: IOAPIC id %u / %u", what,
	      a->ioapic.id, b->ioapic.id);
	CHECK(a->ioapic.ioregsel == b->ioapic.ioregsel, "%s: IOREGSEL", what);
	CHECK(a->ioapic.irr == b->ioapic.irr, "%s: IOAPIC irr 0x%x / 0x%x",
	      what, a->ioapic.irr, b->ioapic.irr);
	for (int i = 0; i < VMM_IOAPIC_PINS; i++)
		CHECK((a->ioapic.redir[i] & redir_mask) ==
			      (b->ioapic.redir[i] & redir_mask),
		      "%s: redir[%d] 0x%llx / 0x%llx", what, i,
		      (unsigned long long)a->ioapic.redir[i],
		      (unsigned long long)b->ioapic.redir[i]);
	for (int i = 0; i < 3; i++) {
		const struct vmm_pit_channel *p = &a->pit.ch[i], *q = &b->pit.ch[i];
#define PIT_EQ(f)                                                              \
	CHECK(p->f == q->f, "%s: PIT %d " #f " %u / %u", what, i,            \
	      (unsigned)p->f, (unsigned)q->f)
		PIT_EQ(mode);
		PIT_EQ(gate);
		if (p->mode == 0xff)
			continue;
		PIT_EQ(count);
		PIT_EQ(rw_mode);
		PIT_EQ(bcd);
		PIT_EQ(read_state);
		PIT_EQ(write_state);
		PIT_EQ(count_latched);
		PIT_EQ(status_latched);
		if (p->count_latched)
			PIT_EQ(latched_count);
		if (p->status_latched)
			PIT_EQ(status);
#undef PIT_EQ
		/* KVM restarts the count on KVM_SET_PIT2: only bound it */
		CHECK(q->load_age_ns >= 0 &&
			      q->load_age_ns <= p->load_age_ns + 30000000000ll,
		      "%s: PIT %d load age %lld / %lld", what, i,
		      (long long)p->load_age_ns, (long long)q->load_age_ns);
	}
}

static vmm_vm *irq_restore(const char *path, enum vmm_backend to,
			   struct mg *g)
{
	struct vmm_restore_opts ro = { .attach = mg_attach, .opaque = g };
	struct vmm_config ov;
	vmm_snapshot *snap;
	char err[256];
	vmm_vm *vm;

	vmm_config_init(&ov);
	ov.log = log_cb;
	ov.backend = to;
	mg_init(g);
	CHECK(vmm_snapshot_open(path, &snap, err, sizeof(err)) == 0, "open: %s",
	      err);
	OK(NULL, vmm_snapshot_restore_snap(snap, &ov, &ro, &vm));
	vmm_snapshot_close(snap);
	CHECK(vmm_vm_backend(vm) == to, "restored on %s",
	      vmm_backend_name(vmm_vm_backend(vm)));
	return vm;
}

static void cross_irqchip(const char *what, enum vmm_backend from,
			  enum vmm_backend to, const struct ref *r,
			  uint64_t target)
{
	static struct mg g, g2, g3;
	static char before[1 << 16];
	struct vmm_irqchip_state src, dst, back;
	char path[128], path2[128], name[160];
	vmm_vm *vm, *vm2;
	int64_t v;

	snprintf(path, sizeof(path), "%s/cross-irq.snap", tmpdir);
	snprintf(path2, sizeof(path2), "%s/cross-irq2.snap", tmpdir);
	mg_init(&g);
	OK(NULL, mg_create_flags(&g, from, 0, 16 << 20, target / 2, NPAGES, 1,
				 0x3fff));
	v = mg_run_to_exit(g.vcpu);
	CHECK(v >= 0, "%s: first half failed (%lld)", what, (long long)v);
	OK(g.vm, migguest_set_target(g.vm, target));
	memcpy(before, g.out, g.out_len + 1);
	irq_program(g.vm, &src);
	OK(g.vm, vmm_snapshot_save(g.vm, path, NULL));
	vmm_vm_destroy(g.vm);

	vm = irq_restore(path, to, &g2);
	OK(vm, vmm_vm_get_irqchip(vm, &dst));
	snprintf(name, sizeof(name), "%s: restored", what);
	irq_compare(name, &src, &dst);
	OK(vm, vmm_snapshot_save(vm, path2, NULL));

	vm2 = irq_restore(path2, from, &g3);
	OK(vm2, vmm_vm_get_irqchip(vm2, &back));
	snprintf(name, sizeof(name), "%s: and back", what);
	irq_compare(name, &src, &back);

	finish_and_compare(what, vm, &g2, before, r, NPAGES);
	vmm_vm_destroy(vm);
	snprintf(name, sizeof(name), "%s, and back", what);
	finish_and_compare(name, vm2, &g3, before, r, NPAGES);
	vmm_vm_destroy(vm2);
	unlink(path);
	unlink(path2);
}

static void test_cross(void)
{
	const uint64_t target = 400000;
	struct ref *r = calloc(1, sizeof(*r));
	char why[160];
	struct mg g;
	int ret;

	if (vmm_backend_probe(VMM_BACKEND_SOFT, why, sizeof(why))) {
		printf("SKIP: cross-backend restore: the software backend is not available here (%s)\n",
		       why);
		exit(77);
	}
	/* can the soft backend run the guest at all? */
	mg_init(&g);
	ret = mg_create_flags(&g, VMM_BACKEND_SOFT, VMM_CFG_NO_IRQCHIP,
			      16 << 20, 1000, 8, 1, 0xfff);
	if (ret == 0) {
		int64_t v = mg_run_to_exit(g.vcpu);
		vmm_vm_destroy(g.vm);
		ret = v < 0 ? (int)v : 0;
	}
	if (ret) {
		printf("SKIP: cross-backend restore: the software backend cannot run the test guest yet (%s)\n",
		       vmm_strerror(ret));
		exit(77);
	}
	reference(r, target, NPAGES, 1, 0x3fff);
	cross_one("KVM -> soft", VMM_BACKEND_KVM, VMM_BACKEND_SOFT,
		  VMM_CFG_NO_IRQCHIP, 0, r, target);
	cross_one("soft -> KVM", VMM_BACKEND_SOFT, VMM_BACKEND_KVM,
		  VMM_CFG_NO_IRQCHIP, 0, r, target);
	cross_one("KVM with irqchip -> soft (irqchip state dropped)",
		  VMM_BACKEND_KVM, VMM_BACKEND_SOFT, 0,
		  VMM_RESTORE_DROP_IRQCHIP, r, target);
	cross_one("KVM with irqchip -> soft", VMM_BACKEND_KVM,
		  VMM_BACKEND_SOFT, 0, 0, r, target);
	cross_one("soft with irqchip -> KVM", VMM_BACKEND_SOFT,
		  VMM_BACKEND_KVM, 0, 0, r, target);
	cross_irqchip("irqchip state KVM -> soft", VMM_BACKEND_KVM,
		      VMM_BACKEND_SOFT, r, target);
	cross_irqchip("irqchip state soft -> KVM", VMM_BACKEND_SOFT,
		      VMM_BACKEND_KVM, r, target);
	printf("ok: cross-backend restore both ways\n");
	free(r);
}

int main(int argc, char **argv)
{
	char why[160];
	const char *t = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (vmm_backend_probe(VMM_BACKEND_KVM, why, sizeof(why))) {
		printf("SKIP: KVM not available: %s\n", why);
		return 77;
	}
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	if (!strcmp(t, "roundtrip"))
		test_roundtrip();
	else if (!strcmp(t, "reset"))
		test_reset();
	else if (!strcmp(t, "migrate"))
		test_migrate();
	else if (!strcmp(t, "process"))
		test_process();
	else if (!strcmp(t, "cut"))
		test_cut();
	else if (!strcmp(t, "cross"))
		test_cross();
	else {
		fprintf(stderr, "usage: test_snap_kvm roundtrip|reset|migrate|process|cut|cross\n");
		rmdir(tmpdir);
		return 2;
	}
	rmdir(tmpdir);
	return 0;
}
