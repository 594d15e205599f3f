/* SPDX-License-Identifier: MIT */
/*
 * vmm-migrate - live migration between two processes (or hosts) with
 * libvmm's public API.
 *
 *   vmm-migrate receive ADDR [--backend B] [--timeout SEC] [--postcopy]
 *                    [--control SOCK] [--key-file FILE | --insecure]
 *   vmm-migrate send ADDR [--backend B] [--snapshot FILE] [--after MS]
 *                    [--downtime MS] [--rounds N] [--bandwidth MIBS]
 *                    [--postcopy] [--postcopy-on-request] [--auto-converge]
 *                    [--zstd] [--control SOCK] [--guest-iterations N]
 *                    [--guest-pages N] [--guest-delay N]
 *                    [--key-file FILE | --insecure]
 *   vmm-migrate resume SOCK ADDR   (a post-copy whose connection broke)
 *   vmm-migrate postcopy SOCK      (switch a running send to post-copy)
 *   vmm-migrate cancel SOCK        (the destination never ran the VM)
 *   vmm-migrate status SOCK
 *
 * ADDR is a unix socket path (contains '/') or HOST:PORT for TCP.  The
 * receiver listens, takes one VM, runs it to its end and prints the value
 * the guest wrote to the debug-exit port.  The sender starts a VM, from a snapshot
 * (vmm-run --snapshot-on-exit) or else a built-in demo guest that dirties
 * memory continuously and prints a checksum character every 2^24
 * iterations, runs it for --after milliseconds (default 500), migrates it
 * and prints the statistics.  If the migration fails the sender's VM just
 * keeps running here, to its end.  Serial output goes to stdout on both.
 *
 * With --postcopy on both, a migration that does not converge switches to
 * post-copy (--postcopy-on-request: only when `vmm-migrate postcopy SOCK`
 * asks): the receiver runs the VM at once while the rest of its memory
 * arrives.  If the connection breaks after the switch-over both keep
 * their VM.  Without --control they resume by themselves
 * (vmm_migrate_resume()): the receiver listens on ADDR again, the sender
 * reconnects every 0.5 s for up to 60 s.  With --control SOCK (a unix
 * socket each process listens on, as QEMU's monitor) they wait, paused
 * where a page is missing, for the operator (QEMU's migrate-recover and
 * migrate -r): `vmm-migrate resume DST-SOCK NEWADDR` makes the receiver
 * listen on NEWADDR, then `vmm-migrate resume SRC-SOCK NEWADDR` makes the
 * sender connect there and deliver every page the receiver still lacks
 * (with the key: every connection runs its own handshake).  If the
 * receiver died before it ran the VM, `vmm-migrate cancel SRC-SOCK`
 * runs it on at the sender (docs/migration.md, failure semantics).
 *
 * Over TCP the stream is authenticated by default: both ends read the same
 * pre-shared key from --key-file (16..4096 bytes, e.g. from
 * `head -c 32 /dev/urandom`), prove it to each other and MAC every frame
 * (docs/migration.md).  TCP without a key needs --insecure.  A unix socket
 * takes a key too but does not require one (the socket file's permissions
 * guard it).
 */
#include <libvmm/libvmm.h>

#include "cli.h"
#include "migguest.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* The demo guest (examples/migguest.c: 64-bit, CPL3, no CPL0 code):
 * 1.5e9 iterations over 256 pages at 1 MiB, a character every 2^24
 * (--guest-iterations, --guest-pages, --guest-delay change them). */
static struct migguest_params demo = {
	.target = 1500000000ull, .npages = 256, .delay = 1,
	.out_mask = 0xffffff,
};

static int attach_devices(void *opaque, vmm_vm *vm)
{
	struct vmm_uart_config uc;
	vmm_dev *dev;
	int ret;

	(void)opaque;
	vmm_uart_config_init(&uc);
	uc.out_fd = 1;
	if ((ret = vmm_uart_attach(vm, &uc, &dev)))
		return ret;
	return vmm_debug_exit_attach(vm, 0xf4, 4, &dev);
}

static int on_exit_cb(void *opaque, vmm_vcpu *vcpu, struct vmm_exit *e)
{
	(void)vcpu;
	if (e->kind == VMM_EXIT_GUEST_EXIT) {
		*(uint32_t *)opaque = e->guest.value;
		return 2;
	}
	if (e->kind == VMM_EXIT_INTERRUPTED)
		return 0;
	fprintf(stderr, "vmm-migrate: exit %s\n", vmm_exit_name(e->kind));
	return 1;
}

static void log_cb(void *opaque, int level, const char *msg)
{
	(void)opaque;
	(void)level;
	fprintf(stderr, "libvmm: %s\n", msg);
}

/*
 * A connected (@listen_mode false) or listening stream socket for @addr
 * (a unix path when it contains '/', else HOST:PORT), or -errno.
 */
static int addr_socket(const char *addr, bool listen_mode)
{
	int fd, c;

	if (strchr(addr, '/')) {
		struct sockaddr_un un = { .sun_family = AF_UNIX };

		if (strlen(addr) >= sizeof(un.sun_path))
			return -ENAMETOOLONG;
		snprintf(un.sun_path, sizeof(un.sun_path), "%s", addr);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (listen_mode) {
			unlink(addr);
			if (bind(fd, (struct sockaddr *)&un, sizeof(un)) ||
			    listen(fd, 1))
				goto fail;
			return fd;
		}
		if (connect(fd, (struct sockaddr *)&un, sizeof(un)))
			goto fail;
		return fd;
	} else {
		char host[256], *port;
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
					  .ai_flags = listen_mode ? AI_PASSIVE : 0 };
		struct addrinfo *ai;
		int one = 1;

		snprintf(host, sizeof(host), "%s", addr);
		port = strrchr(host, ':');
		if (!port)
			return -EINVAL;
		*port++ = 0;
		if (getaddrinfo(host[0] ? host : NULL, port, &hints, &ai))
			return -EHOSTUNREACH;
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			freeaddrinfo(ai);
			return -errno;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (listen_mode) {
			if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 1)) {
				freeaddrinfo(ai);
				goto fail;
			}
			freeaddrinfo(ai);
			return fd;
		}
		c = connect(fd, ai->ai_addr, ai->ai_addrlen);
		freeaddrinfo(ai);
		if (c)
			goto fail;
		return fd;
	}
fail:
	c = -errno;
	close(fd);
	return c;
}

/* A connected (send) or accepted (receive) stream socket for @addr. */
static int open_socket(const char *addr, bool listen_mode)
{
	int fd = addr_socket(addr, listen_mode), c;

	if (fd < 0 || !listen_mode)
		return fd;
	c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	c = c < 0 ? -errno : c;
	close(fd);
	return c;
}

/* connect to @addr, retrying for up to @ms while nobody listens yet */
static int dial_retry(const char *addr, int ms)
{
	int fd;

	for (;;) {
		fd = addr_socket(addr, false);
		if (fd >= 0 || ms <= 0 ||
		    (fd != -ECONNREFUSED && fd != -ENOENT))
			return fd;
		usleep(100000);
		ms -= 100;
	}
}

/* ---- the control socket (--control SOCK) ----
 *
 * One command per connection, one line each way: "status", "postcopy",
 * "resume ADDR", "cancel"; the answer starts with "ok " or "error ".  A
 * command the main thread carries out (resume, cancel) is handed to it
 * and answered when it is done (receive side resume: once it listens).
 */
enum { CMD_NONE, CMD_RESUME, CMD_CANCEL };

struct ctl {
	int lfd;
	const char *path;
	bool sender;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	vmm_vm *vm;              /* once it exists */
	char state[200];         /* for "status" */
	bool broken;             /* post-copy interrupted: resume/cancel */
	int cmd;                 /* for the main thread */
	char addr[256];
	bool answered;
	bool busy;               /* a resume/cancel waits for its answer */
	int unsent;              /* resume/cancel answers not written yet */
	char answer[300];
};

static struct ctl ctl_s = {
	.lfd = -1,
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};
static struct ctl *ctl; /* NULL without --control */

static void ctl_state(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void ctl_state(const char *fmt, ...)
{
	va_list ap;

	if (!ctl)
		return;
	pthread_mutex_lock(&ctl->lock);
	va_start(ap, fmt);
	vsnprintf(ctl->state, sizeof(ctl->state), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&ctl->lock);
}

/* main thread: wait for a command (resume or cancel) while broken; with
 * @poll_only return CMD_NONE at once when there is none */
static int ctl_take(char *addr, size_t len, bool poll_only)
{
	int cmd;

	pthread_mutex_lock(&ctl->lock);
	ctl->broken = true;
	while (!ctl->cmd && !poll_only)
		pthread_cond_wait(&ctl->cond, &ctl->lock);
	cmd = ctl->cmd;
	ctl->cmd = CMD_NONE;
	snprintf(addr, len, "%s", ctl->addr);
	pthread_mutex_unlock(&ctl->lock);
	return cmd;
}

static void ctl_answer(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ctl_answer(bool ok, const char *fmt, ...)
{
	va_list ap;
	int n;

	pthread_mutex_lock(&ctl->lock);
	n = snprintf(ctl->answer, sizeof(ctl->answer), "%s ", ok ? "ok" : "error");
	va_start(ap, fmt);
	vsnprintf(ctl->answer + n, sizeof(ctl->answer) - (size_t)n, fmt, ap);
	va_end(ap);
	ctl->answered = true;
	pthread_cond_broadcast(&ctl->cond);
	pthread_mutex_unlock(&ctl->lock);
}

static void ctl_unbroken(void)
{
	if (!ctl)
		return;
	pthread_mutex_lock(&ctl->lock);
	ctl->broken = false;
	pthread_mutex_unlock(&ctl->lock);
}

/* control thread: carry out @line, put the answer in @out; true for a
 * resume or cancel the main thread answered (counted in ctl->unsent) */
static bool ctl_command(char *line, char *out, size_t len)
{
	char *arg = strchr(line, ' ');
	int ret;

	if (arg)
		*arg++ = 0;
	if (!strcmp(line, "status") && !arg) {
		pthread_mutex_lock(&ctl->lock);
		snprintf(out, len, "ok %s: %s", ctl->sender ? "send" : "receive",
			 ctl->state);
		pthread_mutex_unlock(&ctl->lock);
		return false;
	}
	if (!strcmp(line, "postcopy") && !arg) {
		vmm_vm *vm;

		pthread_mutex_lock(&ctl->lock);
		vm = ctl->vm;
		pthread_mutex_unlock(&ctl->lock);
		if (!ctl->sender || !vm) {
			snprintf(out, len, "error %s", !ctl->sender ?
				 "postcopy is a command for the sender" :
				 "no migration runs yet");
			return false;
		}
		ret = vmm_migrate_start_postcopy(vm);
		if (ret) {
			char why[200];

			vmm_last_error(vm, why, sizeof(why));
			snprintf(out, len, "error %s", why);
		} else {
			snprintf(out, len, "ok switching to post-copy");
		}
		return false;
	}
	if ((!strcmp(line, "resume") && arg && *arg &&
	     strlen(arg) < sizeof(ctl->addr)) ||
	    (!strcmp(line, "cancel") && !arg)) {
		bool resume = line[0] == 'r';

		pthread_mutex_lock(&ctl->lock);
		if (!ctl->broken) {
			snprintf(out, len, "error no interrupted post-copy here "
				 "(%s)", ctl->state);
			pthread_mutex_unlock(&ctl->lock);
			return false;
		}
		if (!resume && !ctl->sender) {
			snprintf(out, len, "error cancel is a command for the sender");
			pthread_mutex_unlock(&ctl->lock);
			return false;
		}
		if (ctl->cmd || ctl->busy) {
			snprintf(out, len, "error another resume or cancel is "
				 "under way");
			pthread_mutex_unlock(&ctl->lock);
			return false;
		}
		ctl->busy = true;
		ctl->unsent++;       /* written by ctl_client_thread() */
		ctl->cmd = resume ? CMD_RESUME : CMD_CANCEL;
		snprintf(ctl->addr, sizeof(ctl->addr), "%s", resume ? arg : "");
		ctl->answered = false;
		pthread_cond_broadcast(&ctl->cond);
		while (!ctl->answered)
			pthread_cond_wait(&ctl->cond, &ctl->lock);
		ctl->busy = false;
		snprintf(out, len, "%s", ctl->answer);
		pthread_mutex_unlock(&ctl->lock);
		return true;
	}
	snprintf(out, len, "error unknown command '%.60s' (status, postcopy, "
		 "resume ADDR, cancel)", line);
	return false;
}

/* one client: a command line in, the answer out (its own thread, so
 * that "status" answers while a "resume" runs) */
static void *ctl_client_thread(void *arg)
{
	int c = (int)(intptr_t)arg;

	{
		char line[320], out[400];
		size_t got = 0;

		/* one line, within 5 s */
		while (got < sizeof(line) - 1) {
			struct pollfd pf = { c, POLLIN, 0 };
			ssize_t n;

			if (poll(&pf, 1, 5000) <= 0)
				break;
			n = read(c, line + got, sizeof(line) - 1 - got);
			if (n <= 0)
				break;
			got += (size_t)n;
			if (memchr(line, '\n', got))
				break;
		}
		line[got] = 0;
		line[strcspn(line, "\r\n")] = 0;
		bool owed = ctl_command(line, out, sizeof(out));

		strcat(out, "\n");
		if (write(c, out, strlen(out)) < 0) {
			/* the client went away */
		}
		close(c);
		pthread_mutex_lock(&ctl->lock);
		if (owed) {
			/* this client's resume/cancel: its answer is out */
			ctl->unsent--;
			pthread_cond_broadcast(&ctl->cond);
		}
		pthread_mutex_unlock(&ctl->lock);
	}
	return NULL;
}

/*
 * The process is about to end: remove the control socket and wait (at
 * most 5 s) until the answer to a resume or cancel that led here has
 * been written to its client - the main thread's work can finish before
 * the client's thread wakes up to write, and exit() would cut it off
 * (the client then sees no answer).
 */
static void ctl_close(const char *path)
{
	struct timespec end;

	if (!ctl)
		return;
	unlink(path);
	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += 5;
	pthread_mutex_lock(&ctl->lock);
	while (ctl->unsent &&
	       pthread_cond_timedwait(&ctl->cond, &ctl->lock, &end) == 0)
		;
	pthread_mutex_unlock(&ctl->lock);
}

static void *ctl_thread(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_t t;
		int c = accept4(ctl->lfd, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL;
		}
		if (pthread_create(&t, NULL, ctl_client_thread,
				   (void *)(intptr_t)c)) {
			close(c);
			continue;
		}
		pthread_detach(t);
	}
}

static int ctl_start(const char *path, bool sender)
{
	pthread_t t;
	int fd;

	if (!strchr(path, '/')) {
		cli_error("--control %s: a unix socket path (with a '/')", path);
		return -1;
	}
	fd = addr_socket(path, true);
	if (fd < 0) {
		cli_error("--control %s: %s", path, strerror(-fd));
		return -1;
	}
	ctl = &ctl_s;
	ctl->lfd = fd;
	ctl->path = path;
	ctl->sender = sender;
	snprintf(ctl->state, sizeof(ctl->state), "starting");
	if (pthread_create(&t, NULL, ctl_thread, NULL)) {
		cli_error("--control: no thread");
		return -1;
	}
	pthread_detach(t);
	return 0;
}

/* `vmm-migrate resume|postcopy|cancel|status SOCK [ADDR]`: the client */
static int ctl_client(const char *cmd, const char *sock, const char *arg)
{
	char line[400], out[512];
	size_t got = 0;
	ssize_t n;
	int fd;

	if (!strchr(sock, '/')) {
		cli_error("SOCK '%s': the --control socket path of a running "
			  "send or receive", sock);
		return 2;
	}
	fd = addr_socket(sock, false);
	if (fd < 0) {
		fprintf(stderr, "vmm-migrate: %s: %s (is a send or receive "
			"with --control %s running?)\n", sock, strerror(-fd), sock);
		return 1;
	}
	snprintf(line, sizeof(line), "%s%s%s\n", cmd, arg ? " " : "",
		 arg ? arg : "");
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
		fprintf(stderr, "vmm-migrate: %s: %s\n", sock, strerror(errno));
		close(fd);
		return 1;
	}
	/* the answer may take as long as the resume does */
	while (got < sizeof(out) - 1 &&
	       (n = read(fd, out + got, sizeof(out) - 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	out[got] = 0;
	out[strcspn(out, "\n")] = 0;
	if (!strncmp(out, "ok ", 3)) {
		printf("%s\n", out + 3);
		return 0;
	}
	fprintf(stderr, "vmm-migrate %s: %s\n", cmd,
		!strncmp(out, "error ", 6) ? out + 6 :
		got ? out : "no answer (the process ended?)");
	return 1;
}

static void print_stats(const char *who, const struct vmm_migrate_stats *st)
{
	if (!strcmp(who, "receive")) {
		/* the receiver measures no downtime and no last round */
		fprintf(stderr,
			"vmm-migrate receive: rounds %u, pages %llu (+%llu zero), %llu bytes received, total %.1f ms%s\n",
			st->rounds, (unsigned long long)st->pages_sent,
			(unsigned long long)st->zero_pages,
			(unsigned long long)st->bytes_sent, st->total_ms,
			st->converged ? "" : " (source stopped at --rounds, not converged)");
		return;
	}
	fprintf(stderr,
		"vmm-migrate %s: rounds %u, pages %llu (+%llu zero), %llu bytes, last round %llu pages, downtime %.2f ms, total %.1f ms%s\n",
		who, st->rounds, (unsigned long long)st->pages_sent,
		(unsigned long long)st->zero_pages,
		(unsigned long long)st->bytes_sent,
		(unsigned long long)st->last_round_pages, st->downtime_ms,
		st->total_ms, st->converged ? "" : " (not converged)");
}

/*
 * Receiver, --control: the post-copy connection broke (@err).  The VM
 * runs on (vCPUs wait where a page is missing) until `vmm-migrate resume
 * SOCK ADDR` makes this listen on ADDR and a sender resumes there.  A
 * resume that fails (wrong key, another migration) leaves it listening.
 * Returns 0 (resumed; *@fd is the new connection).
 */
static int recv_recover(vmm_vm *vm, int *fd, const struct vmm_migrate_opts *mo,
			int err)
{
	char addr[256];
	int lfd = -1;

	fprintf(stderr, "vmm-migrate: post-copy connection lost (%s); waiting "
		"for `vmm-migrate resume %s ADDR`\n", vmm_strerror(err),
		ctl->path);
	ctl_state("post-copy interrupted (%s), the VM waits where a page is "
		  "missing: `vmm-migrate resume %s ADDR`", vmm_strerror(err),
		  ctl->path);
	for (;;) {
		struct pollfd pf;
		int cmd = ctl_take(addr, sizeof(addr), lfd >= 0), c, r;

		if (cmd == CMD_RESUME) {
			int nl = addr_socket(addr, true);

			if (nl < 0) {
				ctl_answer(false, "listen on %s: %s", addr,
					   strerror(-nl));
				continue;
			}
			if (lfd >= 0)
				close(lfd);
			lfd = nl;
			ctl_state("post-copy interrupted; listening on %s for "
				  "the sender's resume", addr);
			ctl_answer(true, "listening on %s (now: vmm-migrate "
				   "resume SENDER-SOCK %s)", addr, addr);
		}
		if (lfd < 0)
			continue;
		pf = (struct pollfd){ lfd, POLLIN, 0 };
		if (poll(&pf, 1, 200) <= 0)
			continue;
		c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		r = vmm_migrate_resume(vm, c, mo, NULL);
		if (r) {
			char why[200];

			vmm_last_error(vm, why, sizeof(why));
			fprintf(stderr, "vmm-migrate: a resume was refused (%s); "
				"still listening\n", why);
			close(c);
			continue;
		}
		close(lfd);
		close(*fd);
		*fd = c;
		ctl_unbroken();
		ctl_state("running; post-copy resumed, the rest of memory arriving");
		fprintf(stderr, "vmm-migrate: post-copy resumed\n");
		return 0;
	}
}

/*
 * Sender, --control: the post-copy connection broke (@err).  The VM stays
 * paused here (it may run at the receiver) until `vmm-migrate resume SOCK
 * ADDR` (connect to ADDR, where the receiver listens, and deliver what it
 * lacks: 0) or `vmm-migrate cancel SOCK` (the receiver never ran it: the
 * VM runs on here, 1).  A failed resume can be repeated.
 */
static int send_recover(vmm_vm *vm, const struct vmm_migrate_opts *mo, int err)
{
	char addr[256], why[200];

	fprintf(stderr, "vmm-migrate: post-copy interrupted (%s); waiting for "
		"`vmm-migrate resume %s ADDR` (or `cancel` if the receiver "
		"never ran the VM)\n", vmm_strerror(err), ctl->path);
	for (;;) {
		struct vmm_migrate_stats rst = { .struct_size = sizeof(rst) };
		int cmd, fd, r;

		ctl_state("post-copy interrupted (%s): the VM is paused here and "
			  "may run at the receiver; `vmm-migrate resume %s ADDR` "
			  "delivers the rest", vmm_strerror(err), ctl->path);
		cmd = ctl_take(addr, sizeof(addr), false);
		if (cmd == CMD_CANCEL) {
			r = vmm_migrate_cancel(vm);
			if (!r)
				r = vmm_vm_resume(vm);
			if (r) {
				vmm_last_error(vm, why, sizeof(why));
				ctl_answer(false, "cancel: %s", why);
				continue;
			}
			ctl_unbroken();
			ctl_state("running here again (post-copy cancelled)");
			ctl_answer(true, "cancelled: the VM runs here again");
			fprintf(stderr, "vmm-migrate: post-copy cancelled; the VM "
				"runs here again\n");
			return 1;
		}
		ctl_state("resuming the post-copy at %s", addr);
		fd = dial_retry(addr, 10000);
		if (fd < 0) {
			ctl_answer(false, "%s: %s", addr, strerror(-fd));
			continue;
		}
		r = vmm_migrate_resume(vm, fd, mo, &rst);
		close(fd);
		if (r) {
			vmm_last_error(vm, why, sizeof(why));
			fprintf(stderr, "vmm-migrate: %s\n", why);
			ctl_answer(false, "%s", why);
			err = r;
			continue;
		}
		ctl_unbroken();
		ctl_state("done: the VM runs at the receiver");
		ctl_answer(true, "resumed at %s: %llu pages delivered (%llu asked "
			   "for first), %llu bytes, %.1f ms", addr,
			   (unsigned long long)rst.postcopy_pages,
			   (unsigned long long)rst.remote_faults,
			   (unsigned long long)rst.bytes_sent, rst.total_ms);
		fprintf(stderr, "vmm-migrate: post-copy resumed at %s and "
			"complete\n", addr);
		return 0;
	}
}

/* the demo guest's exit: its value and memory hash (data pages from its
 * parameters; meaningless for a snapshot's guest) */
static void print_exit(vmm_vm *vm, uint32_t value)
{
	uint32_t np = 0;

	if (vmm_mem_read(vm, MIGGUEST_PARAMS + 8, &np, 4) || np >= 4096)
		np = 0;
	fprintf(stderr, "vmm-migrate: guest exited with value 0x%x, memory "
		"hash %016llx\n", value,
		(unsigned long long)migguest_hash(vm, np + 1));
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmm-migrate receive ADDR [--backend B] [--timeout SEC] [--postcopy]\n"
		"       vmm-migrate send ADDR [--backend B] [--snapshot FILE] [--after MS]\n"
		"                   [--downtime MS] [--rounds N] [--timeout SEC] [--zstd]\n"
		"                   [--bandwidth MIBS] [--postcopy] [--auto-converge]\n"
		"                   [--postcopy-on-request] [--control SOCK]\n"
		"                   [--guest-iterations N] [--guest-pages N] [--guest-delay N]\n"
		"       (both: [--key-file FILE | --insecure]; TCP needs one of them)\n"
		"       vmm-migrate resume SOCK ADDR  post-copy cut: receiver listens on ADDR /\n"
		"                                     sender connects to ADDR and resumes\n"
		"       vmm-migrate postcopy SOCK     switch the running send to post-copy now\n"
		"       vmm-migrate cancel SOCK       the receiver never ran the VM: run it here\n"
		"       vmm-migrate status SOCK\n"
		"  ADDR             a unix socket path (contains '/') or HOST:PORT (TCP)\n"
		"  --backend B      kvm, soft or auto (default auto)\n"
		"  --snapshot FILE  send: start from this snapshot (vmm-run --snapshot-on-exit)\n"
		"                   instead of the built-in demo guest\n"
		"  --after MS       send: run this long before migrating (0..3600000, default 500)\n"
		"  --downtime MS    send: stop-and-copy when the rest fits in this (1..60000, default 300)\n"
		"  --rounds N       send: dirty-page rounds at most (1..10000, default 30)\n"
		"  --timeout SEC    wait at most this long for the guest to end (0..86400, default: forever)\n"
		"  --bandwidth MIBS send: cap the link at this many MiB/s (1..1000000)\n"
		"  --postcopy       both: switch to post-copy when pre-copy does not converge;\n"
		"                   after a cut both sides resume on a new connection to ADDR\n"
		"  --postcopy-on-request  send: with --postcopy, switch only when\n"
		"                   `vmm-migrate postcopy SOCK` asks (--rounds default 10000)\n"
		"  --control SOCK   both: take resume/postcopy/cancel/status commands on this\n"
		"                   unix socket; after a post-copy cut wait for them instead\n"
		"                   of reconnecting to ADDR by ourselves\n"
		"  --guest-iterations N, --guest-pages N (power of two <= 4096), --guest-delay N\n"
		"                   send: the demo guest's length, data pages and pace\n"
		"  --auto-converge  send: throttle the vCPUs while the guest outpaces the link\n"
		"  --key-file FILE  a pre-shared key (16..4096 bytes, the same file on both ends):\n"
		"                   the ends authenticate each other and every frame carries a MAC\n"
		"  --insecure       allow TCP without --key-file (anyone reaching the port can\n"
		"                   send a VM or read this one)\n"
		"  --zstd           send: compress pages with zstd (when the receiver can decode them)\n"
		"  --help           this text\n"
		"exit status: 0 the guest ended (or the VM now runs at ADDR; a command\n"
		"             succeeded), 1 failure, 2 usage\n");
}

static const char *const backend_names[] = { "auto", "kvm", "soft", NULL };

/* The whole of @path as the key: 0, or -1 after a one-line message. */
static int read_key(const char *path, uint8_t *key, uint32_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	ssize_t n;

	if (fd < 0) {
		cli_error("--key-file %s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = read(fd, key + got, 4097 - got)) > 0)
		got += (size_t)n;
	close(fd);
	if (n < 0 || got < 16 || got > 4096) {
		cli_error("--key-file %s: %s", path,
			  n < 0 ? strerror(errno) :
			  "a key is 16..4096 bytes");
		return -1;
	}
	*len = (uint32_t)got;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "backend", required_argument, 0, 'b' },
		{ "snapshot", required_argument, 0, 's' },
		{ "after", required_argument, 0, 'a' },
		{ "downtime", required_argument, 0, 'd' },
		{ "rounds", required_argument, 0, 'r' },
		{ "timeout", required_argument, 0, 't' },
		{ "bandwidth", required_argument, 0, 'w' },
		{ "postcopy", no_argument, 0, 'p' },
		{ "auto-converge", no_argument, 0, 'c' },
		{ "key-file", required_argument, 0, 'k' },
		{ "insecure", no_argument, 0, 'I' },
		{ "zstd", no_argument, 0, 'z' },
		{ "control", required_argument, 0, 'C' },
		{ "postcopy-on-request", no_argument, 0, 'q' },
		{ "guest-iterations", required_argument, 0, 'G' },
		{ "guest-pages", required_argument, 0, 'P' },
		{ "guest-delay", required_argument, 0, 'D' },
		{ "help", no_argument, 0, 'h' },
		{ 0 },
	};
	struct vmm_restore_opts ro = { .attach = attach_devices };
	struct vmm_migrate_opts mo = { .struct_size = sizeof(mo) };
	struct vmm_migrate_stats st = { .struct_size = sizeof(st) };
	struct vmm_config cfg;
	const char *snapshot = NULL, *mode, *addr, *key_file = NULL;
	const char *control = NULL;
	static uint8_t key[4097];
	bool insecure = false, on_request = false;
	int after = 500, timeout = -1, c, fd, ret;
	uint32_t value = 0;
	vmm_vm *vm = NULL;

	vmm_config_init(&cfg);
	cfg.log = log_cb;
	cli_set_prog("vmm-migrate");
	/* the control commands: vmm-migrate CMD SOCK [ADDR] */
	if (argc >= 2 && (!strcmp(argv[1], "resume") || !strcmp(argv[1], "postcopy") ||
			  !strcmp(argv[1], "cancel") || !strcmp(argv[1], "status"))) {
		int want = !strcmp(argv[1], "resume") ? 4 : 3;

		if (argc != want || !argv[2][0] || (want == 4 && !argv[3][0])) {
			cli_error("usage: vmm-migrate %s SOCK%s", argv[1],
				  want == 4 ? " ADDR" : "");
			return 2;
		}
		signal(SIGPIPE, SIG_IGN);
		return ctl_client(argv[1], argv[2], want == 4 ? argv[3] : NULL);
	}
	opterr = 0; /* our messages name the option */
	while ((c = getopt_long(argc, argv, ":h", lopts, NULL)) != -1) {
		unsigned u;
		int bi;

		switch (c) {
		case 'b':
			if (cli_choice("--backend", optarg, backend_names, &bi))
				return 2;
			cfg.backend = bi == 1 ? VMM_BACKEND_KVM :
				      bi == 2 ? VMM_BACKEND_SOFT : VMM_BACKEND_AUTO;
			break;
		case 's': snapshot = optarg; break;
		case 'a':
			if (cli_uint("--after", optarg, 0, 3600000, &u))
				return 2;
			after = (int)u;
			break;
		case 'd':
			if (cli_uint("--downtime", optarg, 1, 60000, &u))
				return 2;
			mo.max_downtime_ms = u;
			break;
		case 'r':
			if (cli_uint("--rounds", optarg, 1, 10000, &u))
				return 2;
			mo.max_rounds = u;
			break;
		case 't':
			if (cli_uint("--timeout", optarg, 0, 86400, &u))
				return 2;
			timeout = (int)u;
			break;
		case 'w':
			if (cli_uint("--bandwidth", optarg, 1, 1000000, &u))
				return 2;
			mo.max_bandwidth = (uint64_t)u << 20;
			break;
		case 'p': mo.flags |= VMM_MIGRATE_POSTCOPY; break;
		case 'c': mo.flags |= VMM_MIGRATE_AUTO_CONVERGE; break;
		case 'k': key_file = optarg; break;
		case 'I': insecure = true; break;
		case 'z': mo.flags |= VMM_MIGRATE_ZSTD; break;
		case 'C': control = optarg; break;
		case 'q': on_request = true; break;
		case 'G':
			if (cli_u64("--guest-iterations", optarg, 1,
				    UINT64_MAX / 2, &demo.target))
				return 2;
			break;
		case 'P':
			if (cli_uint("--guest-pages", optarg, 1, 4096, &u))
				return 2;
			if (u & (u - 1)) {
				cli_error("--guest-pages %u: a power of two", u);
				return 2;
			}
			demo.npages = u;
			break;
		case 'D':
			if (cli_uint("--guest-delay", optarg, 1, 1000000000, &u))
				return 2;
			demo.delay = u;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case ':':
			cli_error("%s needs a value", argv[optind - 1]);
			return 2;
		default:
			cli_error("unknown option %s (see --help)", argv[optind - 1]);
			return 2;
		}
	}
	if (argc - optind != 2) {
		if (argc - optind > 2)
			cli_error("unexpected argument '%s'", argv[optind + 2]);
		else
			cli_error("expected receive|send and ADDR (see --help)");
		return 2;
	}
	if (strcmp(argv[optind], "receive") && strcmp(argv[optind], "send")) {
		cli_error("mode '%s': expected receive, send, resume, postcopy, "
			  "cancel or status", argv[optind]);
		return 2;
	}
	if (on_request) {
		if (!(mo.flags & VMM_MIGRATE_POSTCOPY)) {
			cli_error("--postcopy-on-request needs --postcopy");
			return 2;
		}
		mo.postcopy_after_rounds = UINT32_MAX;
		if (!mo.max_rounds)
			mo.max_rounds = 10000;
	}
	if (!argv[optind + 1][0]) {
		cli_error("empty ADDR");
		return 2;
	}
	mode = argv[optind];
	addr = argv[optind + 1];
	if (key_file && insecure) {
		cli_error("--key-file and --insecure exclude each other");
		return 2;
	}
	if (!key_file && !insecure && !strchr(addr, '/')) {
		cli_error("TCP without authentication: give --key-file FILE (the same key on both ends) or --insecure");
		return 2;
	}
	if (key_file) {
		if (read_key(key_file, key, &mo.key_len))
			return 2;
		mo.key = key;
	}
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IONBF, 0);

	if (control && ctl_start(control, !strcmp(mode, "send")))
		return 2;

	if (!strcmp(mode, "receive")) {
		ctl_state("waiting for the sender on %s", addr);
		fd = open_socket(addr, true);
		if (fd < 0) {
			fprintf(stderr, "vmm-migrate: %s: %s\n", addr, strerror(-fd));
			return 1;
		}
		ctl_state("receiving");
		ret = vmm_migrate_receive(fd, &cfg, &ro, &mo, &vm, &st);
		if (ret == VMM_MIGRATE_COMMIT_UNVERIFIED) {
			char why[256];

			/* docs/migration.md "Commit unverified": this tool
			 * has no channel to ask the sender; it does not run
			 * the VM (the sender's paused copy decides) */
			vmm_last_error(vm, why, sizeof(why));
			fprintf(stderr, "vmm-migrate: %s; not run here\n", why);
			vmm_vm_destroy(vm);
			close(fd);
			return 3;
		}
		if (ret) {
			close(fd);
			fprintf(stderr, "vmm-migrate: receive failed: %s\n",
				vmm_strerror(ret));
			return 1;
		}
		print_stats("receive", &st);
		if (ctl) {
			pthread_mutex_lock(&ctl->lock);
			ctl->vm = vm;
			pthread_mutex_unlock(&ctl->lock);
		}
		ctl_state(st.postcopy ? "running; post-copy, the rest of memory "
			  "arriving" : "running");
		ret = vmm_vm_start(vm, on_exit_cb, &value);
		/* post-copy: the rest of memory comes while the VM runs; a
		 * cut connection is resumed on a new one (the fd stays open
		 * until every page arrived) */
		while (!ret && st.postcopy &&
		       (ret = vmm_migrate_wait(vm, -1, &st)) < 0) {
			int nfd;

			if (ctl) {
				ret = recv_recover(vm, &fd, &mo, ret);
				continue;
			}
			fprintf(stderr, "vmm-migrate: post-copy connection lost "
				"(%s); waiting for the sender on %s\n",
				vmm_strerror(ret), addr);
			nfd = open_socket(addr, true);
			if (nfd < 0) {
				ret = nfd;
				break;
			}
			close(fd);
			fd = nfd;
			ret = vmm_migrate_resume(vm, fd, &mo, NULL);
			if (ret)
				fprintf(stderr, "vmm-migrate: resume: %s\n",
					vmm_strerror(ret));
			ret = 0;
		}
		close(fd);
		if (st.postcopy) {
			fprintf(stderr, "vmm-migrate receive: post-copy done in "
				"%.1f ms, %llu remote faults, %u resumes\n",
				st.postcopy_ms,
				(unsigned long long)st.remote_faults, st.resumes);
			ctl_state("running; every page arrived");
		}
		if (!ret)
			ret = vmm_vm_wait(vm, timeout >= 0 ? timeout * 1000 : -1);
		printf("\n");
		if (ret == 2)
			print_exit(vm, value);
		ctl_state("the guest ended");
		vmm_vm_destroy(vm);
		ctl_close(control);
		return ret == 2 ? 0 : 1;
	}
	if (snapshot) {
		vmm_snapshot *snap;
		char err[256];

		if (vmm_snapshot_open(snapshot, &snap, err, sizeof(err))) {
			fprintf(stderr, "vmm-migrate: %s\n", err);
			return 1;
		}
		ret = vmm_snapshot_restore_snap(snap, &cfg, &ro, &vm);
		vmm_snapshot_close(snap);
	} else {
		vmm_vcpu *vcpu;

		cfg.ram_size = 64 << 20;
		ret = vmm_vm_create(&cfg, &vm);
		if (!ret && !(ret = vmm_vcpu_create(vm, 0, &vcpu)) &&
		    !(ret = attach_devices(NULL, vm)))
			ret = migguest_load(vm, vcpu, &demo);
	}
	if (ret || (ret = vmm_vm_start(vm, on_exit_cb, &value))) {
		fprintf(stderr, "vmm-migrate: cannot start the VM: %s\n",
			vmm_strerror(ret));
		vmm_vm_destroy(vm);
		return 1;
	}
	if (ctl) {
		pthread_mutex_lock(&ctl->lock);
		ctl->vm = vm;
		pthread_mutex_unlock(&ctl->lock);
	}
	ctl_state("running here; migrating to %s after %d ms", addr, after);
	usleep((useconds_t)after * 1000);
	fd = open_socket(addr, false);
	if (fd < 0) {
		fprintf(stderr, "vmm-migrate: %s: %s\n", addr, strerror(-fd));
		ret = -1;
	} else {
		ctl_state("migrating to %s", addr);
		ret = vmm_migrate_send(vm, fd, &mo, &st);
		close(fd);
		print_stats("send", &st);
		/* cut after a post-copy switch-over: the VM may be running
		 * there, it never runs here again unless the operator
		 * cancels (--control) */
		if (ret && st.postcopy && ctl) {
			ret = send_recover(vm, &mo, ret);
		} else {
			for (int i = 0; ret && st.postcopy && i < 120; i++) {
				fprintf(stderr, "vmm-migrate: post-copy interrupted (%s); "
					"resuming\n", vmm_strerror(ret));
				usleep(500000);
				fd = open_socket(addr, false);
				if (fd < 0)
					continue;
				ret = vmm_migrate_resume(vm, fd, &mo, NULL);
				close(fd);
			}
		}
	}
	if (ret) {
		if (ret > 0)
			ret = 0;
		else
			fprintf(stderr, "vmm-migrate: migration failed (%s); the VM continues here\n",
				ret < -1 ? vmm_strerror(ret) : "no connection");
		ctl_state("running here (not migrated)");
		ret = vmm_vm_wait(vm, timeout >= 0 ? timeout * 1000 : -1);
		if (ret == 2)
			print_exit(vm, value);
		vmm_vm_destroy(vm);
		ctl_close(control);
		return ret == 2 ? 0 : 1;
	}
	ctl_state("done: the VM runs at %s", addr);
	ctl_close(control);
	fprintf(stderr, "vmm-migrate: the VM now runs at %s\n", addr);
	vmm_vm_destroy(vm);
	return 0;
}
