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

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
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

static void usage(void)
{
	fprintf(stderr, "usage: vhost-user-blk --socket PATH --image FILE "
		"[--readonly] [--sessions N] [--verbose]\n"
		"       vhost-user-blk --socket PATH --rng\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct vmm_vhost_user_server_config cfg;
	struct vmm_vhost_user_server_stats st;
	struct sigaction sa;
	const char *sock = NULL, *image = NULL;
	bool ro = false, rng = false;
	int verbose = 0, ret;
	unsigned sessions = 1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			sock = argv[++i];
		else if (!strcmp(argv[i], "--image") && i + 1 < argc)
			image = argv[++i];
		else if (!strcmp(argv[i], "--sessions") && i + 1 < argc)
			sessions = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--readonly"))
			ro = true;
		else if (!strcmp(argv[i], "--rng"))
			rng = true;
		else if (!strcmp(argv[i], "--verbose"))
			verbose++;
		else
			usage();
	}
	if (!sock || (!image && !rng))
		usage();
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
	vmm_vhost_user_server_stats(g_srv, &st);
	vmm_vhost_user_server_destroy(g_srv);
	fprintf(stderr, "vhost-user-blk: %llu connections, %llu messages, "
		"%llu rejected, %llu dropped, %llu requests\n",
		(unsigned long long)st.connections,
		(unsigned long long)st.messages,
		(unsigned long long)st.rejected, (unsigned long long)st.dropped,
		(unsigned long long)st.requests);
	return ret ? 1 : 0;
}
