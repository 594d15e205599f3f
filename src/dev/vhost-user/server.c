/* SPDX-License-Identifier: MIT */
/*
 * server.c - the vhost-user back-end server: listens on a unix socket,
 * gives every connection its own device instance (vu_session) and thread,
 * runs all queues on one event loop.  A connection that breaks the
 * protocol is closed alone; the others keep running.
 */
#include "dev/vhost-user/vu_int.h"
#include "io/evloop.h"

#include <poll.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct vmm_vhost_user_server {
	struct vmm_vhost_user_server_config cfg;
	char *path, *blk_path, *serial;
	int listen_fd, stop_fd;
	struct vmm_evloop *loop;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct vu_session *sessions; /* under lock */
	unsigned live;
	struct vmm_vhost_user_server_stats st;
};

static void srv_log(vmm_vhost_user_server *srv, int level, const char *fmt,
		    ...) VMM_PRINTF(3, 4);

static void srv_log(vmm_vhost_user_server *srv, int level, const char *fmt,
		    ...)
{
	char msg[256];
	va_list ap;

	if (!srv->cfg.log || level > srv->cfg.log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	srv->cfg.log(srv->cfg.log_opaque, level, msg);
}

void vmm_vhost_user_server_config_init(struct vmm_vhost_user_server_config *cfg,
				       enum vmm_vhost_user_device device)
{
	memset(cfg, 0, sizeof(*cfg));
	vmm_virtio_blk_config_init(&cfg->blk, VMM_VIRTIO_MMIO);
	cfg->device = device;
	cfg->log_level = VMM_LOG_WARN;
}

int vmm_vhost_user_server_create(const struct vmm_vhost_user_server_config *cfg,
				 vmm_vhost_user_server **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	vmm_vhost_user_server *srv;
	int ret;

	if (!cfg || !out || !cfg->socket_path ||
	    strlen(cfg->socket_path) >= sizeof(sa.sun_path) ||
	    (cfg->device != VMM_VHOST_USER_BLK &&
	     cfg->device != VMM_VHOST_USER_RNG) ||
	    (cfg->device == VMM_VHOST_USER_BLK && !cfg->blk.path &&
	     cfg->blk.fd < 0))
		return -EINVAL;
	/* the image must open now: a server that "serves" a missing image
	 * would accept every front-end and then drop it */
	if (cfg->device == VMM_VHOST_USER_BLK && cfg->blk.path) {
		int fd = open(cfg->blk.path, (cfg->blk.readonly ? O_RDONLY : O_RDWR) |
					     O_CLOEXEC);

		if (fd < 0) {
			ret = -errno;
			if (cfg->log && cfg->log_level >= VMM_LOG_ERROR) {
				char m[320];

				snprintf(m, sizeof(m), "vhost-user server: image "
					 "%s: %s", cfg->blk.path, strerror(-ret));
				cfg->log(cfg->log_opaque, VMM_LOG_ERROR, m);
			}
			return ret;
		}
		close(fd);
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->cfg = *cfg;
	srv->listen_fd = srv->stop_fd = -1;
	srv->path = strdup(cfg->socket_path);
	srv->blk_path = cfg->blk.path ? strdup(cfg->blk.path) : NULL;
	srv->serial = cfg->blk.serial ? strdup(cfg->blk.serial) : NULL;
	if (!srv->path || (cfg->blk.path && !srv->blk_path) ||
	    (cfg->blk.serial && !srv->serial)) {
		ret = -ENOMEM;
		goto err;
	}
	srv->cfg.socket_path = srv->path;
	srv->cfg.blk.path = srv->blk_path;
	srv->cfg.blk.serial = srv->serial;
	if (!srv->cfg.max_sessions)
		srv->cfg.max_sessions = 1;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->cond, NULL);
	srv->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	srv->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (srv->stop_fd < 0 || srv->listen_fd < 0) {
		ret = -errno;
		goto err;
	}
	strcpy(sa.sun_path, srv->path);
	if (bind(srv->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(srv->listen_fd, 8) < 0) {
		ret = -errno;
		goto err;
	}
	ret = vmm_evloop_create(NULL, "vmm-vhost-user", &srv->loop);
	if (ret) {
		unlink(srv->path);
		goto err;
	}
	*out = srv;
	return 0;
err:
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	if (srv->stop_fd >= 0)
		close(srv->stop_fd);
	free(srv->path);
	free(srv->blk_path);
	free(srv->serial);
	free(srv);
	return ret;
}

static void *session_thread(void *arg)
{
	struct vu_session *s = arg;
	vmm_vhost_user_server *srv = s->srv;
	int ret = vmm__vu_session_serve(s);

	pthread_mutex_lock(&srv->lock);
	srv->st.messages += s->messages;
	srv->st.rejected += s->rejected;
	if (ret)
		srv->st.dropped++;
	srv->st.requests += vmm__vu_session_requests(s);
	s->done = true;
	pthread_cond_broadcast(&srv->cond);
	pthread_mutex_unlock(&srv->lock);
	srv_log(srv, ret ? VMM_LOG_WARN : VMM_LOG_INFO,
		"connection closed%s%s", ret ? ": " : "",
		ret ? strerror(-ret) : "");
	return NULL;
}

/* Join and free finished sessions (all when @all, waiting).  No lock. */
static void reap(vmm_vhost_user_server *srv, bool all)
{
	for (;;) {
		struct vu_session *s = NULL, **pp;

		pthread_mutex_lock(&srv->lock);
		for (;;) {
			for (pp = &srv->sessions; *pp; pp = &(*pp)->next)
				if ((*pp)->done)
					break;
			if (*pp || !all || !srv->sessions)
				break;
			pthread_cond_wait(&srv->cond, &srv->lock);
		}
		if (*pp) {
			s = *pp;
			*pp = s->next;
			srv->live--;
		}
		pthread_mutex_unlock(&srv->lock);
		if (!s)
			return;
		pthread_join(s->thread, NULL);
		vmm__vu_session_free(s);
	}
}

int vmm_vhost_user_server_run(vmm_vhost_user_server *srv)
{
	if (!srv)
		return -EINVAL;
	for (;;) {
		struct pollfd p[2] = { { srv->stop_fd, POLLIN, 0 },
				       { srv->listen_fd, POLLIN, 0 } };
		struct vu_session *s;
		bool full;
		int fd, ret;

		reap(srv, false);
		pthread_mutex_lock(&srv->lock);
		full = srv->live >= srv->cfg.max_sessions;
		pthread_mutex_unlock(&srv->lock);
		/* when full, wake up now and then to reap */
		if (poll(p, full ? 1 : 2, full ? 100 : 1000) < 0 &&
		    errno != EINTR)
			return -errno;
		if (p[0].revents) {
			eventfd_t v;
			if (eventfd_read(srv->stop_fd, &v) < 0) {
				/* consumed already */
			}
			return 0;
		}
		if (full || !(p[1].revents & POLLIN))
			continue;
		fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED ||
			    errno == EAGAIN)
				continue;
			return -errno;
		}
		ret = vmm__vu_session_new(&srv->cfg, srv->loop, &s);
		if (ret) {
			srv_log(srv, VMM_LOG_ERROR, "cannot create the device: %s",
				strerror(-ret));
			close(fd);
			continue;
		}
		s->sock = fd;
		s->srv = srv;
		pthread_mutex_lock(&srv->lock);
		s->next = srv->sessions;
		srv->sessions = s;
		srv->live++;
		srv->st.connections++;
		ret = -pthread_create(&s->thread, NULL, session_thread, s);
		if (ret) {
			srv->sessions = s->next;
			srv->live--;
		}
		pthread_mutex_unlock(&srv->lock);
		if (ret) {
			vmm__vu_session_free(s);
			continue;
		}
		srv_log(srv, VMM_LOG_INFO, "connection accepted");
	}
}

void vmm_vhost_user_server_stop(vmm_vhost_user_server *srv)
{
	if (srv && eventfd_write(srv->stop_fd, 1) < 0) {
		/* already signalled */
	}
}

void vmm_vhost_user_server_stats(vmm_vhost_user_server *srv,
				 struct vmm_vhost_user_server_stats *st)
{
	pthread_mutex_lock(&srv->lock);
	*st = srv->st;
	pthread_mutex_unlock(&srv->lock);
}

void vmm_vhost_user_server_destroy(vmm_vhost_user_server *srv)
{
	if (!srv)
		return;
	/* wake the session threads: their sockets read EOF */
	pthread_mutex_lock(&srv->lock);
	for (struct vu_session *s = srv->sessions; s; s = s->next)
		shutdown(s->sock, SHUT_RDWR);
	pthread_mutex_unlock(&srv->lock);
	reap(srv, true);
	vmm_evloop_destroy(srv->loop);
	close(srv->listen_fd);
	close(srv->stop_fd);
	unlink(srv->path);
	pthread_mutex_destroy(&srv->lock);
	pthread_cond_destroy(&srv->cond);
	free(srv->path);
	free(srv->blk_path);
	free(srv->serial);
	free(srv);
}
