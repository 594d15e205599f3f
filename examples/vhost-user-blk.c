/* SPDX-License-Identifier: MIT */
/*
 * vhost-user-blk - serve a raw image as a vhost-user-blk back-end (a
 * separate, possibly more privileged, process: the lecture's service
 * domain) with libvmm's virtio-blk device.
 *
 *   vhost-user-blk --socket PATH --image FILE [--readonly] [--rng]
 *                  [--sessions N] [--verbose]
 *
 * With --rng it serves virtio-rng instead (no --image).  Runs until
 * SIGINT/SIGTERM, then removes the socket.  Try it with QEMU:
 *
 *   qemu-system-x86_64 -object memory-backend-memfd,id=mem,size=512M,share=on \
 *     -numa node,memdev=mem -chardev socket,id=vu,path=PATH \
 *     -device vhost-user-blk-pci,chardev=vu ...
 */
#include <libvmm/libvmm.h>

#include "cli.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static vmm_vhost_user_server *g_srv; /* for the signal handler only */

static void on_signal(int sig)
{
	(void)sig;
	vmm_vhost_user_server_stop(g_srv);
}

static void log_cb(void *opaque, int level, const char *msg)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	(void)opaque;
	fprintf(stderr, "vhost-user-blk: %s: %s\n",
		level >= 0 && level <= 3 ? names[level] : "?", msg);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: vhost-user-blk --socket PATH --image FILE "
		"[--readonly] [--sessions N] [--verbose]\n"
		"       vhost-user-blk --socket PATH --rng [--sessions N] [--verbose]\n"
		"  --socket PATH   the unix socket to listen on (created)\n"
		"  --image FILE    the raw disk image to serve (virtio-blk)\n"
		"  --readonly      refuse writes\n"
		"  --rng           serve virtio-rng instead (no --image)\n"
		"  --sessions N    front-ends served at once (1..1024, default 1)\n"
		"  --verbose       more log (twice: debug)\n"
		"exit status: 0 stopped by SIGINT/SIGTERM, 1 failure, 2 usage\n");
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "socket", required_argument, 0, 'S' },
		{ "image", required_argument, 0, 'i' },
		{ "sessions", required_argument, 0, 'n' },
		{ "readonly", no_argument, 0, 'r' },
		{ "rng", no_argument, 0, 'R' },
		{ "verbose", no_argument, 0, 'v' },
		{ "help", no_argument, 0, 'h' },
		{ 0 },
	};
	struct vmm_vhost_user_server_config cfg;
	struct vmm_vhost_user_server_stats st;
	struct sigaction sa;
	const char *sock = NULL, *image = NULL;
	bool ro = false, rng = false;
	int verbose = 0, ret, c;
	unsigned sessions = 1;

	cli_set_prog("vhost-user-blk");
	opterr = 0; /* our messages name the option */
	while ((c = getopt_long(argc, argv, ":", lopts, NULL)) != -1) {
		switch (c) {
		case 'S':
			if (!optarg[0])
				return cli_error("--socket: empty path"), 2;
			sock = optarg;
			break;
		case 'i':
			if (!optarg[0])
				return cli_error("--image: empty path"), 2;
			image = optarg;
			break;
		case 'n':
			if (cli_uint("--sessions", optarg, 1, 1024, &sessions))
				return 2;
			break;
		case 'r': ro = true; break;
		case 'R': rng = true; break;
		case 'v': verbose++; break;
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
	if (optind < argc) {
		cli_error("unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (!sock) {
		cli_error("--socket PATH is required (see --help)");
		return 2;
	}
	if (rng && (image || ro)) {
		cli_error("--rng takes no %s", image ? "--image" : "--readonly");
		return 2;
	}
	if (!rng && !image) {
		cli_error("--image FILE (or --rng) is required");
		return 2;
	}
	vmm_vhost_user_server_config_init(&cfg, rng ? VMM_VHOST_USER_RNG
						   : VMM_VHOST_USER_BLK);
	cfg.socket_path = sock;
	cfg.blk.path = image;
	cfg.blk.readonly = ro;
	cfg.max_sessions = sessions;
	cfg.log = log_cb;
	cfg.log_level = verbose > 1 ? VMM_LOG_DEBUG
				    : verbose ? VMM_LOG_INFO : VMM_LOG_WARN;
	ret = vmm_vhost_user_server_create(&cfg, &g_srv);
	if (ret) {
		fprintf(stderr, "vhost-user-blk: %s: %s\n", sock,
			vmm_strerror(ret));
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fprintf(stderr, "vhost-user-blk: serving %s on %s\n",
		rng ? "virtio-rng" : image, sock);
	ret = vmm_vhost_user_server_run(g_srv);
	memset(&st, 0, sizeof(st));
	st.struct_size = sizeof(st);
	if (vmm_vhost_user_server_get_stats(g_srv, &st) < 0)
		memset(&st, 0, sizeof(st));
	vmm_vhost_user_server_destroy(g_srv);
	fprintf(stderr, "vhost-user-blk: %llu connections, %llu messages, "
		"%llu rejected, %llu dropped, %llu requests\n",
		(unsigned long long)st.connections,
		(unsigned long long)st.messages,
		(unsigned long long)st.rejected, (unsigned long long)st.dropped,
		(unsigned long long)st.requests);
	return ret ? 1 : 0;
}
