/* SPDX-License-Identifier: MIT */
/*
 * test_postcopy - post-copy live migration with recovery (docs/migration.md)
 * through the public API.  The guest of mguest.h walks 1024 data pages as
 * fast as it can, faster than the link (the source's bandwidth cap), so
 * pre-copy cannot converge and the migration switches to post-copy; the
 * destination runs at once and faults the rest in with userfaultfd.  At
 * the end the guest gets a target, finishes on the destination, and its
 * exit value, memory and UART output must equal an uninterrupted run's.
 * Exit 0 pass, 1 fail, 77 skip (/dev/kvm absent for a KVM mode, or no
 * userfaultfd here).
 *
 *   test_postcopy soft|kvm|kvm-soft|soft-kvm   source-destination backends
 *   test_postcopy cut       (KVM, or soft without KVM) the connection cut
 *                           at several points after the switch-over:
 *                           before the COMMIT the source keeps running;
 *                           after it both sides resume on a new
 *                           connection and the guest completes correctly
 *   test_postcopy authcut   the same with a pre-shared key on both ends
 *                           (every frame MACed, post-copy ones too): cut
 *                           after 30% of the post-copy; a resume with a
 *                           wrong key and one without a key are refused
 *                           and lose nothing, the one with the key runs
 *                           a fresh handshake and completes
 *   test_postcopy request   post-copy on request only
 *                           (vmm_migrate_start_postcopy(), automatic
 *                           switch off): asked during the first pass
 *                           (zstd on: the compressible pages not sent yet
 *                           arrive as PAGES_ZSTD during post-copy) and
 *                           during the rounds; refused without
 *                           VMM_MIGRATE_POSTCOPY, by a destination that
 *                           takes none, and with no migration running;
 *                           asked before the destination's reply to
 *                           HELLO (the call waits for it: 0, -ENOTSUP,
 *                           or -ECANCELED when the connection is cut)
 *   test_postcopy into      (soft) vmm_migrate_receive_into() into VMs
 *                           whose post-copy migration completed: the
 *                           finished source (runs again after it) and
 *                           the finished destination
 *   test_postcopy converge  pre-copy + auto-converge: the throttle rises
 *                           until the rest fits the downtime target
 *   test_postcopy available as an unprivileged user (root drops to
 *                           nobody in a child): KVM destinations get
 *                           -ENOTSUP with the reason, soft ones a
 *                           user-mode-only userfaultfd
 */
#include "mcheck.h"
#include "mguest.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RAM (64u << 20)
#define NPAGES 1024
#define FOREVER (1ull << 62)
#define MORE 2000000ull /* iterations after the migration */

static bool verbose;

/* authcut: the pre-shared key of both ends (NULL: none) */
static const char *test_key;
#define KEY_A "libvmm post-copy test key, 0123456789"
#define KEY_B "libvmm post-copy test key, 0123456788"

static void set_key(struct vmm_migrate_opts *mo, const char *key)
{
	mo->key = key;
	mo->key_len = key ? (uint32_t)strlen(key) : 0;
}

static void log_cb(void *opaque, int level, const char *msg)
{
	if (verbose || level <= VMM_LOG_WARN)
		fprintf(stderr, "  [libvmm %d] %s\n", level, msg);
}

/* a KVM backend in this library and a usable /dev/kvm (a -Dkvm=disabled
 * build on a KVM host has neither backend nor reason to skip soft tests) */
static bool have_kvm(void)
{
	return vmm_backend_available(VMM_BACKEND_KVM) == 0;
}

/* the destination: receive, start the VM at once, wait for the pages */
struct rx_arg {
	int fd;
	enum vmm_backend backend;
	struct mg g;
	vmm_vm *vm;
	int ret, wait_ret;
	int64_t value;
	struct vmm_migrate_stats st;
	bool no_postcopy;      /* a receiver that takes no post-copy */
};

static void *rx_thread(void *arg)
{
	struct rx_arg *a = arg;
	struct vmm_restore_opts ro = { .attach = mg_attach, .opaque = &a->g };
	struct vmm_migrate_opts mo = { .struct_size = sizeof(mo),
				       .flags = a->no_postcopy ? 0 :
						VMM_MIGRATE_POSTCOPY,
				       .timeout_ms = 5000 };
	struct vmm_config ov;

	vmm_config_init(&ov);
	set_key(&mo, test_key);
	ov.backend = a->backend;
	ov.log = log_cb;
	a->value = -1;
	a->st.struct_size = sizeof(a->st);
	a->ret = vmm_migrate_receive(a->fd, &ov, &ro, &mo, &a->vm, &a->st);
	if (a->ret)
		return NULL;
	a->ret = vmm_vm_start(a->vm, mg_stop_on_exit, &a->value);
	a->st.struct_size = sizeof(a->st);
	if (!a->ret)
		a->wait_ret = vmm_migrate_wait(a->vm, -1, &a->st);
	return NULL;
}

static const struct vmm_migrate_opts src_opts = {
	.struct_size = sizeof(struct vmm_migrate_opts),
	.flags = VMM_MIGRATE_POSTCOPY,
	.max_downtime_ms = 1,
	.postcopy_after_rounds = 1,
	.max_bandwidth = 16 << 20, /* 16 MiB/s: slower than the guest dirties */
	.timeout_ms = 5000,
};

/* The guest continued on @vm (running) to its end: compare with an
 * uninterrupted run on @ref_backend. */
static void finish_and_compare(const char *what, vmm_vm *vm, struct mg *g,
			       int64_t *value, const char *before,
			       enum vmm_backend ref_backend)
{
	struct vmm_cpu_state cs;
	struct mg r;
	uint64_t target;
	int64_t rv;
	char out[1 << 17];

	OK(vm, vmm_vm_pause(vm));
	OK(vm, vmm_vcpu_get_state(vmm_vm_get_vcpu(vm, 0), &cs));
	target = cs.gpr[VMM_RSI] + MORE;
	OK(vm, migguest_set_target(vm, target));
	OK(vm, vmm_vm_resume(vm));
	CHECK(vmm_vm_wait(vm, 60000) == 1, "%s: the guest did not finish", what);

	mg_init(&r);
	OK(NULL, mg_create(&r, ref_backend, RAM, target, NPAGES, 1, 0xfffff));
	rv = mg_run_to_exit(r.vcpu);
	CHECK(rv >= 0, "reference run: %lld", (long long)rv);
	CHECK(*value == rv, "%s: exit value 0x%llx, reference 0x%llx", what,
	      (long long)*value, (long long)rv);
	CHECK(migguest_hash(vm, NPAGES) == migguest_hash(r.vm, NPAGES),
	      "%s: memory checksum differs", what);
	pthread_mutex_lock(&g->lock);
	snprintf(out, sizeof(out), "%s%s", before, g->out);
	pthread_mutex_unlock(&g->lock);
	CHECK(!strcmp(out, r.out), "%s: output differs:\n  got %s\n  ref %s",
	      what, out, r.out);
	printf("ok: %s: value 0x%llx after %llu iterations, memory and output "
	       "match\n", what, (long long)rv, (unsigned long long)target);
	vmm_vm_destroy(r.vm);
}

static void start_source(struct mg *g, enum vmm_backend b, int64_t *value)
{
	mg_init(g);
	OK(NULL, mg_create(g, b, RAM, FOREVER, NPAGES, 1, 0xfffff));
	OK(g->vm, vmm_vm_start(g->vm, mg_stop_on_exit, value));
	/* until every data page was written (whatever the host's load) */
	for (int i = 0; i < 2000; i++) {
		struct vmm_cpu_state cs;

		usleep(10000);
		OK(g->vm, vmm_vm_pause(g->vm));
		OK(g->vm, vmm_vcpu_get_state(g->vcpu, &cs));
		OK(g->vm, vmm_vm_resume(g->vm));
		if (cs.gpr[VMM_RSI] >= 4 * NPAGES)
			break;
	}
}

static void source_output(struct mg *g, char *before, size_t len)
{
	pthread_mutex_lock(&g->lock);
	snprintf(before, len, "%s", g->out);
	pthread_mutex_unlock(&g->lock);
}

static void test_pair(enum vmm_backend from, enum vmm_backend to)
{
	struct rx_arg *rx = calloc(1, sizeof(*rx));
	struct vmm_migrate_stats st = { .struct_size = sizeof(st) };
	struct mg g;
	int64_t value = -1;
	char before[1 << 16], what[64];
	pthread_t t;
	int sv[2], ret;

	snprintf(what, sizeof(what), "post-copy %s -> %s",
		 vmm_backend_name(from), vmm_backend_name(to));
	start_source(&g, from, &value);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	rx->fd = sv[1];
	rx->backend = to;
	mg_init(&rx->g);
	pthread_create(&t, NULL, rx_thread, rx);
	ret = vmm_migrate_send(g.vm, sv[0], &src_opts, &st);
	pthread_join(t, NULL);
	OK(g.vm, ret);
	OK(NULL, rx->ret);
	OK(rx->vm, rx->wait_ret);
	printf("%s: %u rounds, dirty %.1f MiB/s, link %.1f MiB/s, downtime "
	       "%.2f ms, %llu pages missing at the switch, %llu requested by "
	       "the destination (%llu zero-filled locally), post-copy %.1f ms, "
	       "total %.1f ms\n", what, st.rounds, st.dirty_rate_mib_s,
	       st.bandwidth_mib_s, st.downtime_ms,
	       (unsigned long long)st.postcopy_pages,
	       (unsigned long long)rx->st.remote_faults,
	       (unsigned long long)rx->st.local_faults, st.postcopy_ms,
	       st.total_ms);
	CHECK(st.postcopy && rx->st.postcopy, "%s: no post-copy switch", what);
	CHECK(!st.converged, "%s: pre-copy converged: the guest is too slow",
	      what);
	CHECK(st.postcopy_pages > 0 && rx->st.postcopy_pages == st.postcopy_pages,
	      "%s: %llu pages missing, destination %llu", what,
	      (unsigned long long)st.postcopy_pages,
	      (unsigned long long)rx->st.postcopy_pages);
	CHECK(rx->st.pages_sent + rx->st.zero_pages == st.postcopy_pages,
	      "%s: destination placed %llu pages of %llu", what,
	      (unsigned long long)(rx->st.pages_sent + rx->st.zero_pages),
	      (unsigned long long)st.postcopy_pages);
	CHECK(rx->st.remote_faults > 0,
	      "%s: the guest never waited for a page", what);
	/* the source is paused for good */
	CHECK(vmm_vm_resume(g.vm) == -EBUSY, "%s: source resumable", what);
	CHECK(value == -1, "%s: source finished", what);
	source_output(&g, before, sizeof(before));
	vmm_vm_destroy(g.vm);
	finish_and_compare(what, rx->vm, &rx->g, &rx->value, before,
			   have_kvm() ? VMM_BACKEND_KVM : VMM_BACKEND_SOFT);
	vmm_vm_destroy(rx->vm);
	close(sv[0]);
	close(sv[1]);
	free(rx);
}

/* ---- cuts ---- */

/*
 * A proxy that forwards frames source -> destination (parsing their
 * headers) and bytes back, and cuts both connections @cut bytes after the
 * end of the SWITCH frame (0x42); CUT_BACK: cuts when the destination's
 * first request (0x43... any byte after its ACK) comes back instead.
 */
#define CUT_BACK ((size_t)-1)
/* no cut: the first post-copy PAGES frame gets its first page's address
 * forged (to FORGE_GPA, a page the guest never writes: zero at the
 * source, so never missing, whenever the switch came; the code page was
 * used before, but a switch in the first pass may find it not sent yet,
 * and then the forged copy is taken as legitimately missing), checksums
 * recomputed: the destination must refuse it and place nothing */
#define CUT_FORGE ((size_t)-2)
#define FORGE_GPA (48u << 20)

/* CRC-32C (Castagnoli, reflected), bitwise: the frames' checksum */
static uint32_t crc32c(const uint8_t *p, size_t len)
{
	uint32_t c = ~0u;

	while (len--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
	}
	return ~c;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

struct proxy {
	int src, dst;
	size_t cut;        /* bytes after SWITCH, or CUT_BACK */
	unsigned pct;      /* else: this share of the post-copy bytes */
	bool switched, forged;
	size_t after;
};

static int read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

static void *proxy_back(void *arg)
{
	struct proxy *p = arg;
	char buf[65536];
	size_t back = 0;

	for (;;) {
		ssize_t n = read(p->dst, buf, sizeof(buf));

		if (n <= 0)
			break;
		back += (size_t)n;
		/* READY (24), ACK (24) pass; with CUT_BACK the first
		 * request after the switch-over cuts */
		if (p->cut == CUT_BACK && p->switched && back > 48 + 28)
			break;
		if (write(p->src, buf, (size_t)n) != n)
			break;
	}
	shutdown(p->src, SHUT_RDWR);
	shutdown(p->dst, SHUT_RDWR);
	return NULL;
}

static void *proxy_fwd(void *arg)
{
	struct proxy *p = arg;
	static __thread uint8_t buf[24 + (64 * (4096 + 8) + 4096) + 32];

	for (;;) {
		uint32_t len;
		size_t total;

		if (read_full(p->src, buf, 24))
			break;
		len = (uint32_t)buf[12] | (uint32_t)buf[13] << 8 |
		      (uint32_t)buf[14] << 16 | (uint32_t)buf[15] << 24;
		if (len > sizeof(buf) - 24 || read_full(p->src, buf + 24, len))
			break;
		total = 24 + len;
		/* an authenticated frame: its 32-byte MAC follows */
		if ((buf[6] & 1) && read_full(p->src, buf + total, 32))
			break;
		if (buf[6] & 1)
			total += 32;
		if (p->cut == CUT_FORGE && p->switched && buf[4] == 4 &&
		    !p->forged) {
			uint64_t e = FORGE_GPA | (buf[24 + 8] & 1);

			for (int k = 0; k < 8; k++)
				buf[24 + 8 + k] = (uint8_t)(e >> (8 * k));
			put32(buf + 16, crc32c(buf + 24, len));
			put32(buf + 20, crc32c(buf, 20));
			p->forged = true;
		}
		if (p->switched && p->cut != CUT_BACK && p->cut != CUT_FORGE &&
		    p->after + total > p->cut) {
			size_t part = p->cut - p->after;

			if (part && write(p->dst, buf, part) < 0)
				break;
			break;
		}
		if (write(p->dst, buf, total) != (ssize_t)total)
			break;
		if (p->switched)
			p->after += total;
		if (buf[4] == 0x42 && len == 32) {
			uint64_t missing = 0;

			for (int k = 7; k >= 0; k--)
				missing = missing << 8 | buf[24 + 24 + k];
			if (p->pct)
				p->cut = (size_t)(missing * (4096 + 8) * p->pct / 100);
			p->switched = true;
		}
	}
	shutdown(p->src, SHUT_RDWR);
	shutdown(p->dst, SHUT_RDWR);
	return NULL;
}

struct resume_arg {
	vmm_vm *vm;
	int fd, ret;
	struct vmm_migrate_stats st;
	const char *key;
};

static void *resume_thread(void *arg)
{
	struct resume_arg *a = arg;
	struct vmm_migrate_opts mo = { .struct_size = sizeof(mo),
				       .timeout_ms = 5000 };

	set_key(&mo, a->key);
	a->st.struct_size = sizeof(a->st);
	a->ret = vmm_migrate_resume(a->vm, a->fd, &mo, &a->st);
	return NULL;
}

/*
 * Ask for post-copy as soon as the send runs (vmm_migrate_start_postcopy()
 * waits for the destination's reply): the cut tests need a post-copy
 * phase, and whether the automatic switch comes depends on the guest
 * outrunning the link, which a loaded host does not grant (at load 28
 * with two spinners a starved guest let pre-copy converge: 1 of 13 runs
 * of "cut" failed that way).
 */
struct asap {
	vmm_vm *vm;
	atomic_bool done;
	int ret;
};

static void *asap_thread(void *arg)
{
	struct asap *q = arg;

	while ((q->ret = vmm_migrate_start_postcopy(q->vm)) == -EINVAL &&
	       !atomic_load(&q->done))
		usleep(1000);
	return NULL;
}

static void cut_one(enum vmm_backend b, size_t cut, unsigned pct)
{
	struct rx_arg *rx = calloc(1, sizeof(*rx));
	struct vmm_migrate_opts so = src_opts;
	struct vmm_migrate_stats st = { .struct_size = sizeof(st) };
	struct proxy px;
	struct mg g;
	int64_t value = -1;
	char before[1 << 16], what[96], msg[320];
	struct asap asap = { 0 };
	pthread_t t, tf, tb, tq;
	int a[2], c[2], ret;

	if (cut == CUT_BACK)
		snprintf(what, sizeof(what), "cut at the first request");
	else if (cut == CUT_FORGE)
		snprintf(what, sizeof(what), "a forged post-copy page");
	else if (pct)
		snprintf(what, sizeof(what), "cut after %u%% of the post-copy",
			 pct);
	else
		snprintf(what, sizeof(what), "cut %zu bytes after SWITCH", cut);
	if (test_key)
		snprintf(what + strlen(what), sizeof(what) - strlen(what),
			 " (authenticated)");
	set_key(&so, test_key);
	start_source(&g, b, &value);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, a) == 0 &&
	      socketpair(AF_UNIX, SOCK_STREAM, 0, c) == 0, "socketpair");
	px = (struct proxy){ a[1], c[0], cut, pct, false, false, 0 };
	rx->fd = c[1];
	rx->backend = b;
	mg_init(&rx->g);
	pthread_create(&tf, NULL, proxy_fwd, &px);
	pthread_create(&tb, NULL, proxy_back, &px);
	pthread_create(&t, NULL, rx_thread, rx);
	asap.vm = g.vm;
	pthread_create(&tq, NULL, asap_thread, &asap);
	ret = vmm_migrate_send(g.vm, a[0], &so, &st);
	atomic_store(&asap.done, true);
	pthread_join(tq, NULL);
	/* both proxy sides: after refusing a forged frame the destination
	 * reads no more, and the proxy may sit in a write to it */
	shutdown(a[0], SHUT_RDWR);
	shutdown(c[0], SHUT_RDWR);
	pthread_join(tf, NULL);
	pthread_join(tb, NULL);
	pthread_join(t, NULL);
	vmm_last_error(g.vm, msg, sizeof(msg));
	CHECK(ret < 0, "%s: the migration succeeded", what);
	if (!st.postcopy || rx->ret) {
		/* cut before the COMMIT arrived: the destination discarded
		 * (never ran), the source runs on - after vmm_migrate_cancel()
		 * when it had sent its COMMIT already (0 lost VMs) */
		CHECK(rx->ret < 0 && !rx->vm, "%s: destination %d", what,
		      rx->ret);
		if (st.postcopy) {
			CHECK(vmm_vm_resume(g.vm) == -EBUSY,
			      "%s: source resumable before cancel", what);
			OK(g.vm, vmm_migrate_cancel(g.vm));
			OK(g.vm, vmm_vm_resume(g.vm));
		}
		printf("ok: %s: before the destination had the COMMIT: source "
		       "%s (%s)%s, runs on\n", what, vmm_err_name(ret), msg,
		       st.postcopy ? ", cancelled" : "");
		finish_and_compare(what, g.vm, &g, &value, "", b);
		vmm_vm_destroy(g.vm);
		goto out;
	}
	/* the destination may have had every page when only its FIN was
	 * lost; the source learns it on resume */
	CHECK(rx->wait_ret < 0 || cut == CUT_BACK,
	      "%s: the destination completed", what);
	CHECK(vmm_vm_resume(g.vm) == -EBUSY, "%s: source resumable", what);
	/* the destination refused the forged page; the source hears its
	 * ERROR, or times out writing to a destination that reads no more */
	if (cut == CUT_FORGE)
		CHECK(rx->wait_ret == -EBADMSG &&
		      ((ret == -EBADMSG && strstr(msg, "was not missing")) ||
		       ret == -ETIMEDOUT),
		      "%s: destination %s, source %s (%s)", what,
		      vmm_err_name(rx->wait_ret), vmm_err_name(ret), msg);
	printf("%s: source %s (%s), destination %s; resuming\n", what,
	       vmm_err_name(ret), msg, vmm_err_name(rx->wait_ret));
	/* authenticated: the destination with a wrong key, then with
	 * none, is refused; both sides keep everything for the next try */
	for (int bad = 0; test_key && bad < 2; bad++) {
		struct resume_arg ra = { rx->vm, -1, 0, { 0 },
					 bad ? NULL : KEY_B };
		struct vmm_migrate_opts mo = { .struct_size = sizeof(mo),
				       .timeout_ms = 5000 };
		int n[2];

		set_key(&mo, test_key);
		CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, n) == 0, "socketpair");
		ra.fd = n[1];
		pthread_create(&t, NULL, resume_thread, &ra);
		ret = vmm_migrate_resume(g.vm, n[0], &mo, NULL);
		pthread_join(t, NULL);
		vmm_last_error(g.vm, msg, sizeof(msg));
		CHECK(ret == -EACCES && ra.ret == -EACCES,
		      "%s: resume with %s: source %s (%s), destination %s",
		      what, bad ? "no key" : "a wrong key", vmm_err_name(ret),
		      msg, vmm_err_name(ra.ret));
		printf("ok: %s: resume with %s refused: source %s (%s), "
		       "destination %s\n", what, bad ? "no key" : "a wrong key",
		       vmm_err_name(ret), msg, vmm_err_name(ra.ret));
		CHECK(vmm_vm_resume(g.vm) == -EBUSY, "%s: source resumable",
		      what);
		close(n[0]);
		close(n[1]);
	}
	{
		struct resume_arg ra = { rx->vm, -1, 0, { 0 }, test_key };
		struct vmm_migrate_opts mo = { .struct_size = sizeof(mo),
				       .timeout_ms = 5000 };
		struct vmm_migrate_stats rs = { .struct_size = sizeof(rs) };
		struct vmm_migrate_stats ws = { .struct_size = sizeof(ws) };
		int n[2];

		set_key(&mo, test_key);
		CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, n) == 0, "socketpair");
		ra.fd = n[1];
		pthread_create(&t, NULL, resume_thread, &ra);
		ret = vmm_migrate_resume(g.vm, n[0], &mo, &rs);
		pthread_join(t, NULL);
		OK(g.vm, ret);
		OK(rx->vm, ra.ret);
		OK(rx->vm, vmm_migrate_wait(rx->vm, 30000, &ws));
		printf("%s: resumed: %llu pages were still missing, %llu "
		       "requested on the new connection, %u resume\n", what,
		       (unsigned long long)rs.postcopy_pages,
		       (unsigned long long)rs.remote_faults, ws.resumes);
		CHECK(ws.resumes == 1, "%s: %u resumes", what, ws.resumes);
		CHECK(ws.pages_sent + ws.zero_pages == ws.postcopy_pages,
		      "%s: destination placed %llu of %llu pages", what,
		      (unsigned long long)(ws.pages_sent + ws.zero_pages),
		      (unsigned long long)ws.postcopy_pages);
		/* a second resume has nothing to do */
		CHECK(vmm_migrate_resume(g.vm, n[0], &mo, NULL) == -EINVAL,
		      "%s: second resume", what);
		close(n[0]);
		close(n[1]);
	}
	source_output(&g, before, sizeof(before));
	vmm_vm_destroy(g.vm);
	finish_and_compare(what, rx->vm, &rx->g, &rx->value, before, b);
	vmm_vm_destroy(rx->vm);
out:
	for (int k = 0; k < 2; k++) {
		close(a[k]);
		close(c[k]);
	}
	free(rx);
}

static void test_cut(void)
{
	/* 0: the cut falls on ACK/COMMIT (before the destination may run);
	 * 24: COMMIT passes, nothing after it */
	static const struct { size_t cut; unsigned pct; } cuts[] = {
		{ 0, 0 }, { 24, 0 }, { 5000, 0 }, { 0, 30 }, { 0, 70 },
		{ CUT_BACK, 0 }, { CUT_FORGE, 0 },
	};
	enum vmm_backend b = have_kvm() ? VMM_BACKEND_KVM : VMM_BACKEND_SOFT;

	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
		cut_one(b, cuts[i].cut, cuts[i].pct);
	printf("ok: %zu cuts, 0 lost VMs\n", sizeof(cuts) / sizeof(cuts[0]));
}

static void test_authcut(void)
{
	enum vmm_backend b = have_kvm() ? VMM_BACKEND_KVM : VMM_BACKEND_SOFT;

	test_key = KEY_A;
	cut_one(b, 0, 30);
	printf("ok: authenticated post-copy cut and resumed, 0 lost VMs\n");
}

/* ---- auto-converge ---- */

static void converge_one(bool autoconv)
{
	enum vmm_backend b = have_kvm() ? VMM_BACKEND_KVM : VMM_BACKEND_SOFT;
	struct vmm_migrate_opts mo = {
		.struct_size = sizeof(mo),
		.flags = autoconv ? VMM_MIGRATE_AUTO_CONVERGE : 0,
		.max_downtime_ms = 20,
		.max_rounds = 12,
		.max_bandwidth = 16 << 20,
		.timeout_ms = 5000,
	};
	struct rx_arg *rx = calloc(1, sizeof(*rx));
	struct vmm_migrate_stats st = { .struct_size = sizeof(st) };
	struct mg g;
	int64_t value = -1;
	char before[1 << 16];
	pthread_t t;
	int sv[2], ret;

	start_source(&g, b, &value);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	rx->fd = sv[1];
	rx->backend = b;
	mg_init(&rx->g);
	pthread_create(&t, NULL, rx_thread, rx);
	ret = vmm_migrate_send(g.vm, sv[0], &mo, &st);
	pthread_join(t, NULL);
	OK(g.vm, ret);
	OK(NULL, rx->ret);
	printf("pre-copy%s: %u rounds, throttle %u%%, dirty %.1f MiB/s, "
	       "link %.1f MiB/s, converged %d, downtime %.2f ms, total %.1f ms\n",
	       autoconv ? " + auto-converge" : "", st.rounds, st.throttle_pct,
	       st.dirty_rate_mib_s, st.bandwidth_mib_s, st.converged,
	       st.downtime_ms, st.total_ms);
	CHECK(!st.postcopy, "post-copy without asking");
	if (autoconv) {
		CHECK(st.throttle_pct > 0, "the throttle never engaged");
		CHECK(st.converged, "did not converge with the throttle");
	} else {
		/* the control: without the throttle this guest does not */
		CHECK(!st.converged && st.throttle_pct == 0,
		      "converged without auto-converge: the guest is too slow");
	}
	source_output(&g, before, sizeof(before));
	vmm_vm_destroy(g.vm);
	finish_and_compare(autoconv ? "pre-copy + auto-converge" : "pre-copy",
			   rx->vm, &rx->g, &rx->value, before, b);
	vmm_vm_destroy(rx->vm);
	close(sv[0]);
	close(sv[1]);
	free(rx);
}

static void test_converge(void)
{
	converge_one(false);
	converge_one(true);
}

/* ---- post-copy on request ---- */

/* "request" log lines seen (the first pass or the rounds), and the
 * rounds that went on to another */
static int pass0_logged, rounds_logged;
static atomic_int rounds_begun;

static void req_log_cb(void *opaque, int level, const char *msg)
{
	(void)opaque;
	if (strstr(msg, "post-copy requested during the first pass"))
		pass0_logged++;
	if (strstr(msg, "switch to post-copy (requested)"))
		rounds_logged++;
	if (strstr(msg, "migrate: round ") && strstr(msg, ": another round"))
		atomic_fetch_add(&rounds_begun, 1);
	log_cb(NULL, level, msg);
}

/* the request from another thread, @delay_ms after the send started, or
 * (@after_round) once the first dirty round went on to another: a fixed
 * delay assumed that the first pass ends within it, which a loaded host
 * does not grant */
struct req_arg {
	vmm_vm *vm;
	int delay_ms;
	bool after_round;
	bool retry;        /* -EINVAL: the send has not begun yet, again */
	int ret;
};

static void *req_thread(void *arg)
{
	struct req_arg *q = arg;

	usleep((useconds_t)q->delay_ms * 1000);
	for (int i = 0; q->after_round && !atomic_load(&rounds_begun) &&
			i < 60000; i++)
		usleep(1000);
	for (int i = 0; (q->ret = vmm_migrate_start_postcopy(q->vm)) ==
			-EINVAL && q->retry && i < 10000; i++)
		usleep(1000);
	return NULL;
}

#define TEXT_GPA (32u << 20)
#define TEXT_PAGES 512

/* compressible, non-zero pages the guest never touches */
static void text_fill(uint8_t *buf, size_t len)
{
	static const char words[] = "the quick brown fox jumps over the lazy dog; ";

	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)words[(i + i / 4096) % (sizeof(words) - 1)];
}

/*
 * @in_pass0: asked 60 ms in at 1 MiB/s (the first pass, data pages and
 * then 2 MiB of text, takes ~300 ms even at zstd's 9:1), zstd on (when
 * built with it: the text pushed during post-copy shrinks); else after
 * the first dirty round that went on to another at 16 MiB/s (the guest
 * outruns the rounds: the automatic switch is off).
 */
static void request_one(bool in_pass0)
{
	enum vmm_backend b = have_kvm() ? VMM_BACKEND_KVM : VMM_BACKEND_SOFT;
	struct vmm_migrate_opts mo = src_opts;
	struct rx_arg *rx = calloc(1, sizeof(*rx));
	struct vmm_migrate_stats st = { .struct_size = sizeof(st) };
	struct req_arg q = { .delay_ms = in_pass0 ? 60 : 0,
			     .after_round = !in_pass0, .retry = true };
	bool zstd = in_pass0 && TEST_HAVE_ZSTD;
	const char *what = in_pass0 ? "post-copy requested in the first pass" :
				      "post-copy requested in the rounds";
	uint8_t *text = malloc(TEXT_PAGES * 4096), *back = malloc(4096);
	struct mg g;
	int64_t value = -1;
	char before[1 << 16];
	pthread_t t, tq;
	int sv[2], ret;

	mo.postcopy_after_rounds = UINT32_MAX; /* only on request */
	mo.max_rounds = 10000;
	mo.max_bandwidth = in_pass0 ? 1 << 20 : 16 << 20;
	if (zstd)
		mo.flags |= VMM_MIGRATE_ZSTD;
	pass0_logged = rounds_logged = 0;
	atomic_store(&rounds_begun, 0);
	mg_log_hook = req_log_cb;
	start_source(&g, b, &value);
	mg_log_hook = NULL;
	text_fill(text, TEXT_PAGES * 4096);
	OK(g.vm, vmm_mem_write(g.vm, TEXT_GPA, text, TEXT_PAGES * 4096));
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	rx->fd = sv[1];
	rx->backend = b;
	mg_init(&rx->g);
	pthread_create(&t, NULL, rx_thread, rx);
	q.vm = g.vm;
	pthread_create(&tq, NULL, req_thread, &q);
	ret = vmm_migrate_send(g.vm, sv[0], &mo, &st);
	pthread_join(tq, NULL);
	pthread_join(t, NULL);
	OK(g.vm, ret);
	OK(NULL, rx->ret);
	OK(rx->vm, rx->wait_ret);
	printf("%s%s: request %d, %u rounds, downtime %.2f ms, %llu pages "
	       "missing at the switch, %llu requested, post-copy %llu bytes "
	       "for %llu data + %llu zero pages, total %.1f ms\n", what,
	       zstd ? " (zstd)" : "", q.ret, st.rounds, st.downtime_ms,
	       (unsigned long long)st.postcopy_pages,
	       (unsigned long long)rx->st.remote_faults,
	       (unsigned long long)rx->st.bytes_sent,
	       (unsigned long long)rx->st.pages_sent,
	       (unsigned long long)rx->st.zero_pages, st.total_ms);
	OK(g.vm, q.ret);
	CHECK(st.postcopy && rx->st.postcopy, "%s: no post-copy switch", what);
	if (in_pass0) {
		CHECK(st.rounds == 0 && pass0_logged == 1,
		      "%s: %u rounds, %d first-pass logs", what, st.rounds,
		      pass0_logged);
		/* the text pages were not sent before the switch */
		CHECK(st.postcopy_pages >= TEXT_PAGES / 2,
		      "%s: %llu pages missing", what,
		      (unsigned long long)st.postcopy_pages);
		/* post-copy bytes (the destination's count starts at the
		 * switch): pages the guest asked for go raw, the pushed
		 * rest as zstd batches, which shrink the text pages about
		 * 9:1.  How many the guest asks for before the push reaches
		 * them depends on scheduling (960 of 1034 on a loaded
		 * host), so the bound is: the requested pages raw with a
		 * frame header each, plus at most 80 % of the pushed ones. */
		if (zstd) {
			uint64_t req = rx->st.remote_faults;
			uint64_t pushed = rx->st.pages_sent > req ?
					  rx->st.pages_sent - req : 0;
			uint64_t bound = req * (4096 + 128) +
					 pushed * 4096 * 8 / 10 + 4096;

			CHECK(rx->st.bytes_sent < bound,
			      "%s: %llu bytes for %llu pages (%llu requested): "
			      "pushed pages not compressed (bound %llu)",
			      what, (unsigned long long)rx->st.bytes_sent,
			      (unsigned long long)rx->st.pages_sent,
			      (unsigned long long)req,
			      (unsigned long long)bound);
		}
	} else {
		CHECK(st.rounds >= 1 && rounds_logged == 1 && !pass0_logged,
		      "%s: %u rounds, %d round logs", what, st.rounds,
		      rounds_logged);
		CHECK(!zstd && rx->st.bytes_sent >= rx->st.pages_sent * 4096,
		      "%s: fewer bytes than pages without zstd", what);
	}
	for (uint32_t i = 0; i < TEXT_PAGES; i++) {
		OK(rx->vm, vmm_mem_read(rx->vm, TEXT_GPA + i * 4096ull, back,
					4096));
		CHECK(!memcmp(back, text + i * 4096ull, 4096),
		      "%s: text page %u differs", what, i);
	}
	/* finished: no migration to switch any more */
	CHECK(vmm_migrate_start_postcopy(g.vm) == -EINVAL,
	      "%s: request after the end accepted", what);
	source_output(&g, before, sizeof(before));
	vmm_vm_destroy(g.vm);
	finish_and_compare(what, rx->vm, &rx->g, &rx->value, before, b);
	vmm_vm_destroy(rx->vm);
	close(sv[0]);
	close(sv[1]);
	free(rx);
	free(text);
	free(back);
}

/* the refusals: -EINVAL without VMM_MIGRATE_POSTCOPY, -ENOTSUP when the
 * destination takes none; the migration goes on as pre-copy */
static void request_refused(bool dst_refuses)
{
	enum vmm_backend b = have_kvm() ? VMM_BACKEND_KVM : VMM_BACKEND_SOFT;
	struct vmm_migrate_opts mo = src_opts;
	struct rx_arg *rx = calloc(1, sizeof(*rx));
	struct vmm_migrate_stats st = { .struct_size = sizeof(st) };
	struct req_arg q = { .delay_ms = 150 };
	int want = dst_refuses ? -ENOTSUP : -EINVAL;
	struct mg g;
	int64_t value = -1;
	pthread_t t, tq;
	int sv[2], ret;

	mo.flags = dst_refuses ? VMM_MIGRATE_POSTCOPY : 0;
	mo.postcopy_after_rounds = UINT32_MAX;
	mo.max_rounds = 3;
	mo.max_bandwidth = 8 << 20;
	start_source(&g, b, &value);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	rx->fd = sv[1];
	rx->backend = b;
	rx->no_postcopy = dst_refuses;
	mg_init(&rx->g);
	pthread_create(&t, NULL, rx_thread, rx);
	q.vm = g.vm;
	pthread_create(&tq, NULL, req_thread, &q);
	ret = vmm_migrate_send(g.vm, sv[0], &mo, &st);
	pthread_join(tq, NULL);
	pthread_join(t, NULL);
	OK(g.vm, ret);
	OK(NULL, rx->ret);
	CHECK(q.ret == want && !st.postcopy,
	      "request %s: %d (want %d), post-copy %d",
	      dst_refuses ? "to a destination without post-copy" :
	      "without VMM_MIGRATE_POSTCOPY", q.ret, want, st.postcopy);
	printf("ok: request %s refused (%d), pre-copy completed in %u rounds\n",
	       dst_refuses ? "to a destination without post-copy" :
	       "without VMM_MIGRATE_POSTCOPY", q.ret, st.rounds);
	vmm_vm_destroy(g.vm);
	vmm_vm_destroy(rx->vm);
	close(sv[0]);
	close(sv[1]);
	free(rx);
}

/*
 * A request before the destination replied to HELLO: whether it can be
 * honoured depends on that reply, so the call must wait for it.  A
 * gate between the two ends holds the source's HELLO until the request
 * is under way (and 250 ms more), then forwards it (or cuts both
 * connections).  The destination takes post-copy: 0, and the call
 * returned only after the gate opened, the switch happened in the first
 * pass; it takes none: -ENOTSUP and a pre-copy migration; cut: the send
 * fails and the call says -ECANCELED.  (Before the fix the call returned
 * 0 at once in all three.)
 */
enum { GATE_TAKES, GATE_REFUSES, GATE_CUT };

struct gate {
	int src, dst;          /* the source's peer end, the destination's */
	int mode;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool hello, open, calling, returned;
	double t_open, t_ret;
};

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void *gate_back(void *arg)
{
	struct gate *gt = arg;
	char buf[65536];
	ssize_t n;

	while ((n = read(gt->dst, buf, sizeof(buf))) > 0)
		if (write(gt->src, buf, (size_t)n) != n)
			break;
	shutdown(gt->src, SHUT_RDWR);
	return NULL;
}

static void *gate_fwd(void *arg)
{
	struct gate *gt = arg;
	static char buf[65536];
	ssize_t n = read(gt->src, buf, sizeof(buf));
	struct timespec ts;

	pthread_mutex_lock(&gt->lock);
	gt->hello = true; /* the send runs: its HELLO is here */
	pthread_cond_broadcast(&gt->cond);
	while (!gt->calling)
		pthread_cond_wait(&gt->cond, &gt->lock);
	/* the call is under way: 250 ms for it to return (it must not) */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 250 * 1000000l;
	if (ts.tv_nsec >= 1000000000l) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000l;
	}
	while (!gt->returned &&
	       pthread_cond_timedwait(&gt->cond, &gt->lock, &ts) == 0)
		;
	gt->open = true;
	gt->t_open = mono_ms();
	pthread_mutex_unlock(&gt->lock);
	if (gt->mode == GATE_CUT || n <= 0) {
		shutdown(gt->src, SHUT_RDWR);
		shutdown(gt->dst, SHUT_RDWR);
		return NULL;
	}
	do {
		if (write(gt->dst, buf, (size_t)n) != n)
			break;
	} while ((n = read(gt->src, buf, sizeof(buf))) > 0);
	shutdown(gt->dst, SHUT_RDWR);
	return NULL;
}

struct early_req {
	vmm_vm *vm;
	struct gate *gt;
	int ret;
};

static void *early_req_thread(void *arg)
{
	struct early_req *q = arg;
	struct gate *gt = q->gt;

	pthread_mutex_lock(&gt->lock);
	while (!gt->hello)
		pthread_cond_wait(&gt->cond, &gt->lock);
	gt->calling = true;
	pthread_cond_broadcast(&gt->cond);
	pthread_mutex_unlock(&gt->lock);
	q->ret = vmm_migrate_start_postcopy(q->vm);
	pthread_mutex_lock(&gt->lock);
	gt->returned = true;
	gt->t_ret = mono_ms();
	pthread_cond_broadcast(&gt->cond);
	pthread_mutex_unlock(&gt->lock);
	return NULL;
}

static void request_before_reply(int mode)
{
	static const char *const names[] = {
		"a destination with post-copy", "a destination without "
		"post-copy", "a connection cut before the reply" };
	enum vmm_backend b = have_kvm() ? VMM_BACKEND_KVM : VMM_BACKEND_SOFT;
	struct vmm_migrate_opts mo = src_opts;
	struct rx_arg *rx = calloc(1, sizeof(*rx));
	struct vmm_migrate_stats st = { .struct_size = sizeof(st) };
	struct gate gt = { .mode = mode };
	struct early_req q = { .gt = &gt };
	const char *what = names[mode];
	struct mg g;
	int64_t value = -1;
	char before[1 << 16], msg[256];
	pthread_t t, tq, tf, tb;
	int a[2], c[2], ret;

	mo.postcopy_after_rounds = UINT32_MAX; /* only on request */
	/* refused: pre-copy that cannot converge ends after 3 rounds */
	mo.max_rounds = mode == GATE_REFUSES ? 3 : 10000;
	pthread_mutex_init(&gt.lock, NULL);
	pthread_cond_init(&gt.cond, NULL);
	pass0_logged = rounds_logged = 0;
	mg_log_hook = req_log_cb;
	start_source(&g, b, &value);
	mg_log_hook = NULL;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, a) == 0 &&
	      socketpair(AF_UNIX, SOCK_STREAM, 0, c) == 0, "socketpair");
	gt.src = a[1];
	gt.dst = c[0];
	rx->fd = c[1];
	rx->backend = b;
	rx->no_postcopy = mode == GATE_REFUSES;
	mg_init(&rx->g);
	q.vm = g.vm;
	pthread_create(&tf, NULL, gate_fwd, &gt);
	pthread_create(&tb, NULL, gate_back, &gt);
	pthread_create(&t, NULL, rx_thread, rx);
	pthread_create(&tq, NULL, early_req_thread, &q);
	ret = vmm_migrate_send(g.vm, a[0], &mo, &st);
	vmm_last_error(g.vm, msg, sizeof(msg));
	shutdown(a[0], SHUT_RDWR);
	pthread_join(tq, NULL);
	pthread_join(tf, NULL);
	pthread_join(tb, NULL);
	pthread_join(t, NULL);
	printf("%s: request %s %.1f ms after the gate opened, send %s, "
	       "post-copy %d, %llu pages missing at the switch\n", what,
	       vmm_err_name(q.ret), gt.t_ret - gt.t_open, vmm_err_name(ret),
	       st.postcopy, (unsigned long long)st.postcopy_pages);
	if (mode == GATE_CUT) {
		CHECK(ret < 0 && rx->ret < 0, "%s: send %d, receive %d", what,
		      ret, rx->ret);
		CHECK(q.ret == -ECANCELED, "%s: request %s (want ECANCELED)",
		      what, vmm_err_name(q.ret));
		/* the source runs on */
		OK(g.vm, vmm_vm_pause(g.vm));
		OK(g.vm, vmm_vm_resume(g.vm));
		vmm_vm_destroy(g.vm);
		goto out;
	}
	OK(g.vm, ret);
	OK(NULL, rx->ret);
	CHECK(gt.t_ret >= gt.t_open, "%s: the request returned %.1f ms "
	      "before the destination could reply", what,
	      gt.t_open - gt.t_ret);
	if (mode == GATE_REFUSES) {
		CHECK(q.ret == -ENOTSUP && !st.postcopy,
		      "%s: request %s (want ENOTSUP), post-copy %d", what,
		      vmm_err_name(q.ret), st.postcopy);
		vmm_vm_destroy(g.vm);
		vmm_vm_destroy(rx->vm);
		goto out;
	}
	OK(g.vm, q.ret);
	OK(rx->vm, rx->wait_ret);
	CHECK(st.postcopy && rx->st.postcopy && st.rounds == 0 &&
	      pass0_logged == 1, "%s: post-copy %d, %u rounds, %d first-pass "
	      "logs", what, st.postcopy, st.rounds, pass0_logged);
	source_output(&g, before, sizeof(before));
	vmm_vm_destroy(g.vm);
	finish_and_compare(what, rx->vm, &rx->g, &rx->value, before, b);
	vmm_vm_destroy(rx->vm);
out:
	printf("ok: a request before the reply, %s: %s\n", what,
	       vmm_err_name(q.ret));
	for (int k = 0; k < 2; k++) {
		close(a[k]);
		close(c[k]);
	}
	pthread_mutex_destroy(&gt.lock);
	pthread_cond_destroy(&gt.cond);
	free(rx);
}

static void test_request(void)
{
	CHECK(vmm_migrate_start_postcopy(NULL) == -EINVAL, "NULL VM");
	request_before_reply(GATE_TAKES);
	request_before_reply(GATE_REFUSES);
	request_before_reply(GATE_CUT);
	request_one(true);
	request_one(false);
	request_refused(false);
	request_refused(true);
}

/* ---- receiving into a VM whose post-copy migration completed ---- */

struct into_arg {
	vmm_vm *vm;
	int fd, ret;
};

static void *into_thread(void *arg)
{
	struct into_arg *a = arg;
	struct vmm_migrate_opts mo = { .struct_size = sizeof(mo),
				       .timeout_ms = 5000 };

	a->ret = vmm_migrate_receive_into(a->vm, a->fd, &mo, NULL);
	return NULL;
}

/* pre-copy @from (paused) into @to (paused, a VM of the same shape) */
static void precopy_into(vmm_vm *from, vmm_vm *to, const char *what)
{
	struct vmm_migrate_opts mo = { .struct_size = sizeof(mo),
				       .timeout_ms = 5000 };
	struct into_arg a = { .vm = to };
	pthread_t t;
	int sv[2], ret;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	a.fd = sv[1];
	pthread_create(&t, NULL, into_thread, &a);
	ret = vmm_migrate_send(from, sv[0], &mo, NULL);
	pthread_join(t, NULL);
	OK(to, a.ret);
	OK(from, ret);
	printf("ok: %s\n", what);
	close(sv[0]);
	close(sv[1]);
}

/* @g's output so far appended to @acc, then cleared */
static void take_output(struct mg *g, char *acc, size_t len)
{
	pthread_mutex_lock(&g->lock);
	if (verbose)
		printf("segment: \"%s\"\n", g->out);
	snprintf(acc + strlen(acc), len - strlen(acc), "%s", g->out);
	g->out_len = 0;
	memset(g->out, 0, sizeof(g->out)); /* (the UART appends unterminated) */
	pthread_mutex_unlock(&g->lock);
}

/*
 * A post-copy migration A -> B completes; then B goes back into A with
 * vmm_migrate_receive_into() (A: a finished post-copy source, paused for
 * good), and A into B (B: a finished post-copy destination).  Each VM's
 * completed post-copy is released by the receive: A runs again after it
 * (the "destination may be running it" block is gone with the old
 * state), and the guest ends with the value, memory and output of an
 * uninterrupted run.  A post-copy still under way is refused (-EBUSY).
 */
static void test_into(void)
{
	enum vmm_backend b = VMM_BACKEND_SOFT;
	struct rx_arg *rx = calloc(1, sizeof(*rx));
	struct vmm_migrate_stats st = { .struct_size = sizeof(st) };
	static char acc[1 << 17];
	struct mg g;
	int64_t value = -1;
	pthread_t t;
	int sv[2], ret;

	start_source(&g, b, &value);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	rx->fd = sv[1];
	rx->backend = b;
	mg_init(&rx->g);
	pthread_create(&t, NULL, rx_thread, rx);
	ret = vmm_migrate_send(g.vm, sv[0], &src_opts, &st);
	pthread_join(t, NULL);
	OK(g.vm, ret);
	OK(NULL, rx->ret);
	OK(rx->vm, rx->wait_ret);
	CHECK(st.postcopy && rx->st.postcopy, "no post-copy switch");
	CHECK(vmm_vm_resume(g.vm) == -EBUSY, "source resumable");
	printf("ok: post-copy A -> B completed (%llu pages missing at the "
	       "switch)\n", (unsigned long long)st.postcopy_pages);
	acc[0] = 0;
	take_output(&g, acc, sizeof(acc));
	usleep(100000); /* B runs on a little */

	/* B back into A: A's post-copy (source) completed */
	OK(rx->vm, vmm_vm_pause(rx->vm));
	take_output(&rx->g, acc, sizeof(acc));
	precopy_into(rx->vm, g.vm, "B received into A, the finished "
		     "post-copy source");
	OK(g.vm, vmm_migrate_wait(g.vm, 0, NULL)); /* no post-copy left */
	OK(g.vm, vmm_vm_resume(g.vm));
	usleep(100000);

	/* A into B: B's post-copy (destination) completed */
	OK(g.vm, vmm_vm_pause(g.vm));
	take_output(&g, acc, sizeof(acc));
	precopy_into(g.vm, rx->vm, "A received into B, the finished "
		     "post-copy destination");
	/* B's old post-copy is gone: nothing to resume */
	CHECK(vmm_migrate_resume(rx->vm, sv[1], NULL, NULL) == -EINVAL,
	      "B still has a post-copy migration to resume");
	/* B was paused here and by its own vmm_migrate_send() to A (a
	 * source stays paused after it) */
	OK(rx->vm, vmm_vm_resume(rx->vm));
	OK(rx->vm, vmm_vm_resume(rx->vm));
	vmm_vm_destroy(g.vm);
	finish_and_compare("A -> B (post-copy) -> A -> B (received into)",
			   rx->vm, &rx->g, &rx->value, acc, b);
	vmm_vm_destroy(rx->vm);
	close(sv[0]);
	close(sv[1]);
	free(rx);
}

/* ---- availability ---- */

static int test_available(void)
{
	char why[256];
	int st;
	pid_t pid;

	/* here (root on the build machines): both */
	printf("here: kvm %d, soft %d\n",
	       vmm_migrate_postcopy_available(VMM_BACKEND_KVM, why, sizeof(why)),
	       vmm_migrate_postcopy_available(VMM_BACKEND_SOFT, NULL, 0));
	if (getuid() != 0) {
		printf("SKIP: not root (cannot drop to an unprivileged user)\n");
		return 77;
	}
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		FILE *f = fopen("/proc/sys/vm/unprivileged_userfaultfd", "r");
		int unpriv = f ? fgetc(f) - '0' : -1;
		int rk, rs;

		if (f)
			fclose(f);
		setvbuf(stdout, NULL, _IONBF, 0); /* _exit() flushes nothing */
		if (setgid(65534) || setuid(65534))
			_exit(3);
		rk = vmm_migrate_postcopy_available(VMM_BACKEND_KVM, why,
						    sizeof(why));
		printf("unprivileged: kvm %d (%s)\n", rk, why);
		if (unpriv == 1) {
			/* allowed for everyone here: nothing to refuse */
			_exit(rk == 0 ? 0 : 1);
		}
		if (rk != -ENOTSUP || !strstr(why, "unprivileged_userfaultfd=") ||
		    !strstr(why, "KVM"))
			_exit(1);
		rs = vmm_migrate_postcopy_available(VMM_BACKEND_SOFT, why,
						    sizeof(why));
		printf("unprivileged: soft %d%s%s\n", rs, rs ? ": " : "", why);
		/* UFFD_USER_MODE_ONLY: Linux 5.11 */
		_exit(rs == 0 || rs == -ENOTSUP ? 0 : 1);
	}
	CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "unprivileged availability check failed (status 0x%x)", st);
	printf("ok: availability reported with its reason\n");
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	char why[256];
	/* "into" runs on the soft backend */
	bool soft = !strcmp(mode, "soft") || !strcmp(mode, "into");

	verbose = getenv("VMM_TEST_VERBOSE") != NULL;
	if (!strcmp(mode, "available"))
		return test_available();
	signal(SIGPIPE, SIG_IGN); /* the cutting proxy writes to cut sockets */
	if (!soft && strcmp(mode, "cut") && strcmp(mode, "authcut") &&
	    strcmp(mode, "converge") && strcmp(mode, "request") &&
	    !have_kvm()) {
		printf("SKIP: /dev/kvm absent\n");
		return 77;
	}
	if (strcmp(mode, "converge") &&
	    vmm_migrate_postcopy_available(have_kvm() && !soft ?
					   VMM_BACKEND_KVM : VMM_BACKEND_SOFT,
					   why, sizeof(why))) {
		printf("SKIP: no post-copy here: %s\n", why);
		return 77;
	}
	if (!strcmp(mode, "soft"))
		test_pair(VMM_BACKEND_SOFT, VMM_BACKEND_SOFT);
	else if (!strcmp(mode, "kvm"))
		test_pair(VMM_BACKEND_KVM, VMM_BACKEND_KVM);
	else if (!strcmp(mode, "kvm-soft"))
		test_pair(VMM_BACKEND_KVM, VMM_BACKEND_SOFT);
	else if (!strcmp(mode, "soft-kvm"))
		test_pair(VMM_BACKEND_SOFT, VMM_BACKEND_KVM);
	else if (!strcmp(mode, "cut"))
		test_cut();
	else if (!strcmp(mode, "authcut"))
		test_authcut();
	else if (!strcmp(mode, "converge"))
		test_converge();
	else if (!strcmp(mode, "request"))
		test_request();
	else if (!strcmp(mode, "into"))
		test_into();
	else {
		fprintf(stderr, "usage: test_postcopy soft|kvm|kvm-soft|soft-kvm|cut|authcut|converge|request|into\n");
		return 2;
	}
	return 0;
}
