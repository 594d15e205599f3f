/* SPDX-License-Identifier: MIT */
/*
 * test_migrate_netns - live migration of a running guest (mguest.h) over
 * TCP between two network namespaces joined by a veth pair, which the test
 * creates itself.  Standalone; exit 0 pass, 1 fail, 77 skip (only when
 * /dev/kvm is absent or creating a network namespace is not permitted).
 * Needs iproute2 (`ip`).  Runs as root, not in parallel with other tests.
 *
 *   test_migrate_netns tcp   migrate while the guest dirties memory: the
 *                            destination continues with the checksum,
 *                            memory and output of an uninterrupted run
 *   test_migrate_netns cut   cut mid-stream twice (receiver killed, then
 *                            the veth link brought down): the migration
 *                            fails, the destination keeps nothing, the
 *                            source keeps running and ends correctly
 *   test_migrate_netns rx NS TIMEOUT_MS FD
 *                            (internal) the receiver: enters namespace NS,
 *                            listens, reports the port and, at the end,
 *                            a struct rx_report on FD
 *
 * Namespaces "vmm-mig-PID-src" and "vmm-mig-PID-dst", veth "vmsPID" (src,
 * 10.77.0.2/24) and "vmdPID" (dst, 10.77.0.1/24).  They are deleted at exit,
 * on a fatal signal, and, if a run was SIGKILLed, by the next run (names
 * whose PID is gone).  The receiver is a separate process (fork + exec of
 * this program: the source VM's threads are running when it is spawned);
 * the sender is this process, its socket created inside the src namespace
 * (setns(2) there and back on the main thread).
 */
#include "mcheck.h"
#include "mguest.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NPAGES 256
#define OUT_MASK 0xffffff
#define MIG_TARGET 200000000ull
#define DST_ADDR "10.77.0.1"
#define SRC_ADDR "10.77.0.2"
#define NS_PREFIX "vmm-mig-"

static void log_cb(void *opaque, int level, const char *msg)
{
	fprintf(stderr, "  [libvmm %s %d] %s\n", (const char *)opaque, level,
		msg);
}

/* ---- the network: namespaces, veth pair, cleanup ---- */

static pid_t owner;            /* the process that made the namespaces */
static char ip_bin[32];
static char ns_name[2][40];    /* [0] src, [1] dst */
static char veth[2][16];
static bool ns_made[2];
static pid_t kids[4];
static int orig_ns = -1;       /* this process's network namespace */
static char self_exe[4096];

/* Run ip with @argv (fork + execv: async-signal-safe, used by the signal
 * handler); its stderr into @err if not NULL.  Returns the exit status or
 * -1. */
static int ip_exec(char *const argv[], char *err, size_t errlen)
{
	int p[2] = { -1, -1 }, st;
	pid_t pid;

	if (err && pipe2(p, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		dup2(err ? p[1] : null, 2);
		execv(ip_bin, argv);
		_exit(127);
	}
	if (err) {
		size_t got = 0;
		ssize_t n;

		close(p[1]);
		while (pid > 0 && got + 1 < errlen &&
		       (n = read(p[0], err + got, errlen - 1 - got)) > 0)
			got += (size_t)n;
		err[got] = 0;
		close(p[0]);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ip with the words of a printf-formatted line; fails the test with ip's
 * message unless @may_fail. */
static int ip_cmd(bool may_fail, const char *fmt, ...)
{
	char line[256], shown[256], err[512], *argv[24], *save;
	int argc = 0, st;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	memcpy(shown, line, sizeof(shown));
	argv[argc++] = "ip";
	for (char *w = strtok_r(line, " ", &save); w && argc < 23;
	     w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	argv[argc] = NULL;
	st = ip_exec(argv, err, sizeof(err));
	if (st && !may_fail) {
		fprintf(stderr, "FAIL: `ip %s` exited %d: %s\n", shown, st,
			err);
		exit(1);
	}
	return st;
}

static void cleanup(void)
{
	if (getpid() != owner)
		return;
	for (size_t i = 0; i < sizeof(kids) / sizeof(kids[0]); i++) {
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
			kids[i] = 0;
		}
	}
	for (int i = 0; i < 2; i++) {
		if (ns_made[i]) {
			char *argv[] = { "ip", "netns", "del", ns_name[i], NULL };

			ns_made[i] = false;
			ip_exec(argv, NULL, 0);
		}
	}
}

static void on_fatal(int sig)
{
	cleanup();
	raise(sig); /* SA_RESETHAND: now the default action */
}

/* Delete the namespaces of earlier runs that were SIGKILLed. */
static void sweep_stale(void)
{
	DIR *d = opendir("/run/netns");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		int pid;

		if (sscanf(e->d_name, NS_PREFIX "%d-", &pid) == 1 && pid > 0 &&
		    kill(pid, 0) && errno == ESRCH) {
			fprintf(stderr, "removing stale namespace %s\n",
				e->d_name);
			ip_cmd(true, "netns del %s", e->d_name);
		}
	}
	closedir(d);
}

static void net_setup(void)
{
	static const char *const bins[] = { "/usr/sbin/ip", "/sbin/ip",
					    "/usr/bin/ip", "/bin/ip" };
	struct sigaction sa = { .sa_handler = on_fatal,
				.sa_flags = SA_RESETHAND };
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT,
				    SIGABRT, SIGSEGV, SIGBUS };
	char err[512];
	pid_t pid;
	int st;

	for (size_t i = 0; i < sizeof(bins) / sizeof(bins[0]); i++)
		if (!access(bins[i], X_OK)) {
			snprintf(ip_bin, sizeof(ip_bin), "%s", bins[i]);
			break;
		}
	CHECK(ip_bin[0], "iproute2 (`ip`) is not installed: scripts/deps.sh --test");

	/* may this process make network namespaces at all? */
	pid = fork();
	if (pid == 0)
		_exit(unshare(CLONE_NEWNET) ? errno : 0);
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st),
	      "unshare probe");
	if (WEXITSTATUS(st) == EPERM) {
		printf("SKIP: creating a network namespace is not permitted here (unshare(CLONE_NEWNET): EPERM; run as root)\n");
		exit(77);
	}
	CHECK(WEXITSTATUS(st) == 0, "unshare(CLONE_NEWNET): %s",
	      strerror(WEXITSTATUS(st)));

	owner = getpid();
	atexit(cleanup);
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	sweep_stale();

	snprintf(ns_name[0], sizeof(ns_name[0]), NS_PREFIX "%d-src", owner);
	snprintf(ns_name[1], sizeof(ns_name[1]), NS_PREFIX "%d-dst", owner);
	snprintf(veth[0], sizeof(veth[0]), "vms%d", owner);
	snprintf(veth[1], sizeof(veth[1]), "vmd%d", owner);
	for (int i = 0; i < 2; i++) {
		char *argv[] = { "ip", "netns", "add", ns_name[i], NULL };

		ns_made[i] = true; /* a half-made one is deleted too */
		if ((st = ip_exec(argv, err, sizeof(err)))) {
			if (strstr(err, "not permitted") ||
			    strstr(err, "Permission denied")) {
				printf("SKIP: `ip netns add` is not permitted here: %s",
				       err);
				exit(77);
			}
			CHECK(0, "`ip netns add %s` exited %d: %s", ns_name[i],
			      st, err);
		}
	}
	ip_cmd(false, "link add name %s netns %s type veth peer name %s netns %s",
	       veth[0], ns_name[0], veth[1], ns_name[1]);
	ip_cmd(false, "-n %s addr add " SRC_ADDR "/24 dev %s", ns_name[0],
	       veth[0]);
	ip_cmd(false, "-n %s addr add " DST_ADDR "/24 dev %s", ns_name[1],
	       veth[1]);
	for (int i = 0; i < 2; i++) {
		ip_cmd(false, "-n %s link set dev lo up", ns_name[i]);
		ip_cmd(false, "-n %s link set dev %s up", ns_name[i], veth[i]);
	}
	orig_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	CHECK(orig_ns >= 0, "open own netns: %s", strerror(errno));
	printf("network: %s (%s " SRC_ADDR ") <-> %s (%s " DST_ADDR ")\n",
	       ns_name[0], veth[0], ns_name[1], veth[1]);
}

static int enter_ns(const char *name)
{
	char path[128];
	int fd, ret;

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = setns(fd, CLONE_NEWNET) ? -errno : 0;
	close(fd);
	return ret;
}

/* A TCP connection from the src namespace to the receiver. */
static int tcp_connect(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port) };
	int fd, ret;

	OK(NULL, enter_ns(ns_name[0]));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ret = errno;
	CHECK(setns(orig_ns, CLONE_NEWNET) == 0, "setns back: %s",
	      strerror(errno));
	CHECK(fd >= 0, "socket: %s", strerror(ret));
	inet_pton(AF_INET, DST_ADDR, &a.sin_addr);
	CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0,
	      "connect to " DST_ADDR ":%u: %s", port, strerror(errno));
	return fd;
}

/* ---- the receiver process ---- */

struct rx_report {
	int ret;               /* vmm_migrate_receive() */
	int have_vm;           /* a VM was handed over despite a failure */
	uint64_t counter;      /* the guest's RSI when it arrived */
	int64_t value;         /* exit value after running to the end */
	uint64_t hash;
	char err[320];
	char out[8192];
};

static int rx_main(const char *ns, unsigned timeout_ms, int fd)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	struct vmm_restore_opts ro = { .attach = mg_attach };
	struct vmm_migrate_opts mo = { .timeout_ms = timeout_ms };
	struct vmm_migrate_stats st = { .struct_size = sizeof(st) };
	struct vmm_config ov;
	struct pollfd pfd;
	static struct rx_report rep;
	static struct mg g;
	vmm_vm *vm = NULL;
	uint16_t port;
	int l, c, ret;

	if ((ret = enter_ns(ns))) {
		fprintf(stderr, "rx: setns %s: %s\n", ns, strerror(-ret));
		return 2;
	}
	inet_pton(AF_INET, DST_ADDR, &a.sin_addr);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &alen)) {
		perror("rx: listen");
		return 2;
	}
	port = ntohs(a.sin_port);
	if (write(fd, &port, sizeof(port)) != sizeof(port))
		return 2;
	pfd = (struct pollfd){ l, POLLIN, 0 };
	if (poll(&pfd, 1, 30000) != 1 || (c = accept(l, NULL, NULL)) < 0) {
		fprintf(stderr, "rx: no connection\n");
		return 2;
	}
	close(l);
	mg_init(&g);
	ro.opaque = &g;
	vmm_config_init(&ov);
	ov.backend = VMM_BACKEND_KVM;
	ov.log = log_cb;
	ov.log_opaque = (void *)"rx";
	rep.ret = vmm_migrate_receive(c, &ov, &ro, &mo, &vm, &st);
	rep.have_vm = vm != NULL;
	if (rep.ret == 0 && vm) {
		struct vmm_cpu_state cs;

		if ((ret = vmm_vcpu_get_state(vmm_vm_get_vcpu(vm, 0), &cs))) {
			rep.ret = ret;
		} else {
			rep.counter = cs.gpr[VMM_RSI];
			rep.value = mg_run_to_exit(vmm_vm_get_vcpu(vm, 0));
			rep.hash = migguest_hash(vm, NPAGES);
			vmm_last_error(vm, rep.err, sizeof(rep.err));
			memcpy(rep.out, g.out,
			       g.out_len < sizeof(rep.out) ? g.out_len :
							     sizeof(rep.out) - 1);
		}
	} else {
		snprintf(rep.err, sizeof(rep.err), "%s",
			 vmm_strerror(rep.ret));
	}
	if (write(fd, &rep, sizeof(rep)) != sizeof(rep))
		return 3;
	vmm_vm_destroy(vm);
	close(c);
	return 0;
}

struct rx {
	int slot;
	pid_t pid;
	int rd;
	uint16_t port;
};

/* Read exactly @len bytes from @fd within @ms; false on EOF or timeout. */
static bool read_full(int fd, void *buf, size_t len, int ms)
{
	uint8_t *p = buf;

	while (len) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		ssize_t n;

		if (poll(&pfd, 1, ms) != 1)
			return false;
		n = read(fd, p, len);
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Start a receiver in the dst namespace; returns once it listens. */
static void rx_spawn(struct rx *rx, int slot, unsigned timeout_ms)
{
	int p[2];
	char tmo[16], fds[16];

	CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
	snprintf(tmo, sizeof(tmo), "%u", timeout_ms);
	snprintf(fds, sizeof(fds), "%d", p[1]);
	rx->pid = fork();
	CHECK(rx->pid >= 0, "fork: %s", strerror(errno));
	if (rx->pid == 0) {
		/* only async-signal-safe calls until exec: the source VM's
		 * threads run in the parent */
		char *argv[] = { "test_migrate_netns", "rx", ns_name[1], tmo,
				 fds, NULL };

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fcntl(p[1], F_SETFD, 0);
		execv(self_exe, argv);
		_exit(127);
	}
	close(p[1]);
	rx->slot = slot;
	rx->rd = p[0];
	kids[slot] = rx->pid;
	CHECK(read_full(rx->rd, &rx->port, sizeof(rx->port), 30000),
	      "the receiver did not start listening");
}

/* Collect the receiver's report (false if it sent none) and exit status. */
static bool rx_finish(struct rx *rx, struct rx_report *rep, int *status)
{
	bool got = read_full(rx->rd, rep, sizeof(*rep), 60000);

	close(rx->rd);
	CHECK(waitpid(rx->pid, status, 0) == rx->pid, "waitpid: %s",
	      strerror(errno));
	kids[rx->slot] = 0;
	return got;
}

/* ---- the tests ---- */

struct ref {
	int64_t value;
	uint64_t hash;
	char out[1 << 16];
};

/* The reference: an uninterrupted run to @target. */
static void reference(struct ref *r, uint64_t target)
{
	struct mg g;

	mg_init(&g);
	OK(NULL, mg_create(&g, VMM_BACKEND_KVM, 16 << 20, target, NPAGES, 1,
			   OUT_MASK));
	r->value = mg_run_to_exit(g.vcpu);
	CHECK(r->value >= 0, "reference run failed: %lld", (long long)r->value);
	r->hash = migguest_hash(g.vm, NPAGES);
	memcpy(r->out, g.out, g.out_len + 1);
	vmm_vm_destroy(g.vm);
}

static void print_stats(const char *what, const struct vmm_migrate_stats *st)
{
	printf("%s: %u rounds, %llu pages sent, %llu zero, %llu bytes, last round %llu pages, downtime %.2f ms, total %.1f ms, converged %d\n",
	       what, st->rounds, (unsigned long long)st->pages_sent,
	       (unsigned long long)st->zero_pages,
	       (unsigned long long)st->bytes_sent,
	       (unsigned long long)st->last_round_pages, st->downtime_ms,
	       st->total_ms, st->converged);
}

static uint64_t counter(struct mg *g)
{
	struct vmm_cpu_state cs;

	OK(g->vm, vmm_vm_pause(g->vm));
	OK(g->vm, vmm_vcpu_get_state(g->vcpu, &cs));
	OK(g->vm, vmm_vm_resume(g->vm));
	return cs.gpr[VMM_RSI];
}

static void test_tcp(void)
{
	static struct ref r;
	static struct rx_report rep;
	static struct mg g;
	static char before[1 << 16], out[1 << 17];
	struct vmm_migrate_opts mo = { .max_downtime_ms = 10 };
	struct vmm_migrate_stats st = { .struct_size = sizeof(st) };
	int64_t value = -1;
	uint64_t c0;
	struct rx rx;
	int fd, status;

	reference(&r, MIG_TARGET);
	rx_spawn(&rx, 0, 10000);
	mg_init(&g);
	OK(NULL, mg_create(&g, VMM_BACKEND_KVM, 64 << 20, MIG_TARGET, NPAGES,
			   1, OUT_MASK));
	OK(g.vm, vmm_vm_start(g.vm, mg_stop_on_exit, &value));
	usleep(300000);
	fd = tcp_connect(rx.port);
	c0 = counter(&g);
	OK(g.vm, vmm_migrate_send(g.vm, fd, &mo, &st));
	close(fd);
	print_stats("migrate over TCP (veth, netns)", &st);
	CHECK(value == -1, "the source finished before migrating");
	CHECK(st.pages_sent >= NPAGES, "only %llu pages sent",
	      (unsigned long long)st.pages_sent);
	/* the source stays paused; what it printed so far goes first */
	pthread_mutex_lock(&g.lock);
	memcpy(before, g.out, g.out_len + 1);
	pthread_mutex_unlock(&g.lock);
	vmm_vm_destroy(g.vm);

	CHECK(rx_finish(&rx, &rep, &status), "no report from the receiver");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "receiver status 0x%x", status);
	CHECK(rep.ret == 0, "receive: %s (%s)", vmm_err_name(rep.ret), rep.err);
	CHECK(rep.counter > c0 && rep.counter < MIG_TARGET,
	      "the guest arrived with counter %llu (%llu before), not mid-run",
	      (unsigned long long)rep.counter, (unsigned long long)c0);
	printf("the guest ran %llu iterations during the migration\n",
	       (unsigned long long)(rep.counter - c0));
	CHECK(rep.value == r.value,
	      "destination exit value 0x%llx, reference 0x%llx (%s)",
	      (long long)rep.value, (long long)r.value, rep.err);
	CHECK(rep.hash == r.hash, "destination memory differs");
	snprintf(out, sizeof(out), "%s%s", before, rep.out);
	CHECK(!strcmp(out, r.out), "output differs:\n  got %s\n  ref %s", out,
	      r.out);
	printf("ok: live migration over TCP between namespaces: arrived at counter %llu, ended with value 0x%llx, memory and %zu output bytes as an uninterrupted run\n",
	       (unsigned long long)rep.counter, (long long)rep.value,
	       strlen(out));
}

enum cut_how { CUT_KILL, CUT_LINK };

struct cutter {
	enum cut_how how;
	pid_t pid;
	int ms;
};

static void *cut_later(void *arg)
{
	struct cutter *c = arg;
	struct timespec ts = { c->ms / 1000, (c->ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
	if (c->how == CUT_KILL)
		kill(c->pid, SIGKILL);
	else
		ip_cmd(false, "-n %s link set dev %s down", ns_name[1],
		       veth[1]);
	return NULL;
}

static void test_cut(void)
{
	static const char *const names[] = { "receiver killed",
					     "veth link down" };
	static struct ref r;
	static struct mg g;
	static char before[1 << 16];
	int64_t value = -1;
	uint64_t c0, c1, target;

	/* runs "forever" until the end is set below */
	mg_init(&g);
	OK(NULL, mg_create(&g, VMM_BACKEND_KVM, 64 << 20, 1ull << 62, NPAGES,
			   1, OUT_MASK));
	OK(g.vm, vmm_vm_start(g.vm, mg_stop_on_exit, &value));
	usleep(200000);
	for (int how = CUT_KILL; how <= CUT_LINK; how++) {
		/* 1 MiB/s: the first pass (~2 MiB) is still going when the
		 * cut comes after 800 ms (300 ms was too early under load:
		 * the receiver process had not taken 64 KiB yet) */
		struct vmm_migrate_opts mo = { .timeout_ms = 2000,
					       .max_bandwidth = 1 << 20 };
		struct vmm_migrate_stats st = { .struct_size = sizeof(st) };
		struct rx_report rep;
		struct cutter ct;
		char msg[320];
		struct rx rx;
		pthread_t t;
		int fd, ret, status;
		bool got;

		rx_spawn(&rx, 1, 3000);
		fd = tcp_connect(rx.port);
		ct = (struct cutter){ (enum cut_how)how, rx.pid, 800 };
		pthread_create(&t, NULL, cut_later, &ct);
		ret = vmm_migrate_send(g.vm, fd, &mo, &st);
		pthread_join(t, NULL);
		close(fd);
		vmm_last_error(g.vm, msg, sizeof(msg));
		got = rx_finish(&rx, &rep, &status);
		CHECK(ret < 0, "%s: the migration succeeded", names[how]);
		CHECK(st.bytes_sent > 65536,
		      "%s: cut after %llu bytes, not mid-stream", names[how],
		      (unsigned long long)st.bytes_sent);
		if (how == CUT_KILL) {
			CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			      "receiver status 0x%x", status);
		} else {
			CHECK(got && WIFEXITED(status) &&
				      WEXITSTATUS(status) == 0,
			      "receiver status 0x%x", status);
			CHECK(rep.ret < 0 && !rep.have_vm,
			      "the destination kept a VM (%d)", rep.ret);
		}
		CHECK(value == -1, "the guest ended during the cuts");
		c0 = counter(&g);
		usleep(50000);
		c1 = counter(&g);
		CHECK(c1 > c0, "%s: the source is not running (%llu, %llu)",
		      names[how], (unsigned long long)c0,
		      (unsigned long long)c1);
		printf("ok: %s after 300 ms: source %s (%s) after %llu bytes, %u rounds, %s, %.0f ms; destination %s; the source runs on (counter %llu -> %llu)\n",
		       names[how], vmm_err_name(ret), msg,
		       (unsigned long long)st.bytes_sent, st.rounds,
		       st.last_round_pages ? "in stop-and-copy" : "in pre-copy",
		       st.total_ms,
		       how == CUT_KILL ? "killed" :
					 vmm_err_name(rep.ret),
		       (unsigned long long)c0, (unsigned long long)c1);
		if (how == CUT_LINK)
			ip_cmd(false, "-n %s link set dev %s up", ns_name[1],
			       veth[1]);
	}
	/* the source still runs: give it an end and it reaches it with the
	 * result of an uninterrupted run */
	OK(g.vm, vmm_vm_pause(g.vm));
	{
		struct vmm_cpu_state cs;

		OK(g.vm, vmm_vcpu_get_state(g.vcpu, &cs));
		target = cs.gpr[VMM_RSI] + 100000000;
	}
	OK(g.vm, migguest_set_target(g.vm, target));
	OK(g.vm, vmm_vm_resume(g.vm));
	reference(&r, target);
	CHECK(vmm_vm_wait(g.vm, 120000) == 1, "the source did not finish");
	CHECK(value == r.value, "source ended with 0x%llx, reference 0x%llx",
	      (long long)value, (long long)r.value);
	CHECK(migguest_hash(g.vm, NPAGES) == r.hash, "source memory differs");
	pthread_mutex_lock(&g.lock);
	memcpy(before, g.out, g.out_len + 1);
	pthread_mutex_unlock(&g.lock);
	CHECK(!strcmp(before, r.out), "source output differs");
	printf("ok: the source kept running through both cut migrations and ended at counter %llu with value 0x%llx, as an uninterrupted run\n",
	       (unsigned long long)target, (long long)value);
	vmm_vm_destroy(g.vm);
}

int main(int argc, char **argv)
{
	char why[160];
	const char *t = argc > 1 ? argv[1] : "";
	ssize_t n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(t, "rx") && argc == 5)
		return rx_main(argv[2], (unsigned)atoi(argv[3]), atoi(argv[4]));
	if (strcmp(t, "tcp") && strcmp(t, "cut")) {
		fprintf(stderr, "usage: test_migrate_netns tcp|cut\n");
		return 2;
	}
	if (vmm_backend_probe(VMM_BACKEND_KVM, why, sizeof(why))) {
		printf("SKIP: KVM not available: %s\n", why);
		return 77;
	}
	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	CHECK(n > 0, "readlink /proc/self/exe: %s", strerror(errno));
	self_exe[n] = 0;
	net_setup();
	if (!strcmp(t, "tcp"))
		test_tcp();
	else
		test_cut();
	return 0; /* atexit: cleanup() */
}
