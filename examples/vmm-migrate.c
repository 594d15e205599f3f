/* SPDX-License-Identifier: MIT */
/*
 * vmm-migrate - live migration between two processes (or hosts) with
 * libvmm's public API.
 *
 *   vmm-migrate receive ADDR [--backend B] [--timeout SEC] [--postcopy]
 *                    [--key-file FILE | --insecure]
 *   vmm-migrate send ADDR [--backend B] [--snapshot FILE] [--after MS]
 *                    [--downtime MS] [--rounds N] [--bandwidth MIBS]
 *                    [--postcopy] [--auto-converge] [--zstd]
 *                    [--key-file FILE | --insecure]
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
 * post-copy: the receiver runs the VM at once while the rest of its memory
 * arrives.  If the connection breaks after the switch-over both keep
 * their VM and resume (vmm_migrate_resume()): the receiver listens on
 * ADDR again, the sender reconnects every 0.5 s for up to 60 s (with the
 * key: every connection runs its own handshake).
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
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* The demo guest (examples/migguest.c: 64-bit, CPL3, no CPL0 code):
 * 1.5e9 iterations over 256 pages at 1 MiB, a character every 2^24. */
static const struct migguest_params demo = {
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

/* A connected (send) or accepted (receive) stream socket for @addr. */
static int open_socket(const char *addr, bool listen_mode)
{
	int fd, c;

	if (strchr(addr, '/')) {
		struct sockaddr_un un = { .sun_family = AF_UNIX };

		snprintf(un.sun_path, sizeof(un.sun_path), "%s", addr);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (listen_mode) {
			unlink(addr);
			if (bind(fd, (struct sockaddr *)&un, sizeof(un)) ||
			    listen(fd, 1))
				goto fail;
			c = accept(fd, NULL, NULL);
			close(fd);
			return c < 0 ? -errno : c;
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
			c = accept(fd, NULL, NULL);
			close(fd);
			return c < 0 ? -errno : c;
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

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmm-migrate receive ADDR [--backend B] [--timeout SEC] [--postcopy]\n"
		"       vmm-migrate send ADDR [--backend B] [--snapshot FILE] [--after MS]\n"
		"                   [--downtime MS] [--rounds N] [--timeout SEC] [--zstd]\n"
		"                   [--bandwidth MIBS] [--postcopy] [--auto-converge]\n"
		"       (both: [--key-file FILE | --insecure]; TCP needs one of them)\n"
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
		"  --auto-converge  send: throttle the vCPUs while the guest outpaces the link\n"
		"  --key-file FILE  a pre-shared key (16..4096 bytes, the same file on both ends):\n"
		"                   the ends authenticate each other and every frame carries a MAC\n"
		"  --insecure       allow TCP without --key-file (anyone reaching the port can\n"
		"                   send a VM or read this one)\n"
		"  --zstd           send: compress pages with zstd (when the receiver can decode them)\n"
		"  --help           this text\n"
		"exit status: 0 the guest ended (or the VM now runs at ADDR), 1 failure, 2 usage\n");
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
		{ "help", no_argument, 0, 'h' },
		{ 0 },
	};
	struct vmm_restore_opts ro = { .attach = attach_devices };
	struct vmm_migrate_opts mo = { .struct_size = sizeof(mo) };
	struct vmm_migrate_stats st = { .struct_size = sizeof(st) };
	struct vmm_config cfg;
	const char *snapshot = NULL, *mode, *addr, *key_file = NULL;
	static uint8_t key[4097];
	bool insecure = false;
	int after = 500, timeout = -1, c, fd, ret;
	uint32_t value = 0;
	vmm_vm *vm = NULL;

	vmm_config_init(&cfg);
	cfg.log = log_cb;
	cli_set_prog("vmm-migrate");
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
		cli_error("mode '%s': expected receive or send", argv[optind]);
		return 2;
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

	if (!strcmp(mode, "receive")) {
		fd = open_socket(addr, true);
		if (fd < 0) {
			fprintf(stderr, "vmm-migrate: %s: %s\n", addr, strerror(-fd));
			return 1;
		}
		ret = vmm_migrate_receive(fd, &cfg, &ro, &mo, &vm, &st);
		if (ret) {
			close(fd);
			fprintf(stderr, "vmm-migrate: receive failed: %s\n",
				vmm_strerror(ret));
			return 1;
		}
		print_stats("receive", &st);
		ret = vmm_vm_start(vm, on_exit_cb, &value);
		/* post-copy: the rest of memory comes while the VM runs; a
		 * cut connection is resumed on a new one (the fd stays open
		 * until every page arrived) */
		while (!ret && st.postcopy &&
		       (ret = vmm_migrate_wait(vm, -1, &st)) < 0) {
			int nfd;

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
		if (st.postcopy)
			fprintf(stderr, "vmm-migrate receive: post-copy done in "
				"%.1f ms, %llu remote faults, %u resumes\n",
				st.postcopy_ms,
				(unsigned long long)st.remote_faults, st.resumes);
		if (!ret)
			ret = vmm_vm_wait(vm, timeout >= 0 ? timeout * 1000 : -1);
		vmm_vm_destroy(vm);
		printf("\n");
		if (ret == 2)
			fprintf(stderr, "vmm-migrate: guest exited with value 0x%x\n",
				value);
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
	usleep((useconds_t)after * 1000);
	fd = open_socket(addr, false);
	if (fd < 0) {
		fprintf(stderr, "vmm-migrate: %s: %s\n", addr, strerror(-fd));
		ret = -1;
	} else {
		ret = vmm_migrate_send(vm, fd, &mo, &st);
		close(fd);
		print_stats("send", &st);
		/* cut after a post-copy switch-over: the VM may be running
		 * there, it never runs here again; reconnect and resume */
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
	if (ret) {
		fprintf(stderr, "vmm-migrate: migration failed (%s); the VM continues here\n",
			ret < 0 ? vmm_strerror(ret) : "no connection");
		ret = vmm_vm_wait(vm, timeout >= 0 ? timeout * 1000 : -1);
		vmm_vm_destroy(vm);
		if (ret == 2)
			fprintf(stderr, "vmm-migrate: guest exited with value 0x%x\n",
				value);
		return ret == 2 ? 0 : 1;
	}
	fprintf(stderr, "vmm-migrate: the VM now runs at %s\n", addr);
	vmm_vm_destroy(vm);
	return 0;
}
