/* SPDX-License-Identifier: MIT */
/*
 * server.c - the vhost-user back-end server: listens on a unix socket and
 * gives every connection its own device instance (vu_session).  No thread
 * per connection: two event loops (src/io/evloop.h) do everything.
 *
 *  - The control loop watches the listening socket and every session's
 *    (non-blocking) socket; messages are assembled as bytes arrive, so a
 *    front-end that sends half a message stalls nobody.
 *  - The data loop runs every queue's kick watch and the block I/O.
 *
 * Two loops and not one because some requests wait for I/O: GET_VRING_BASE
 * and a device reset drain the requests in flight, whose completions run
 * on the data loop; handled on the data loop itself that wait would never
 * end.  While one session drains, the others' messages wait (bounded by
 * the I/O in flight); their queues keep running.  A connection that
 * breaks the protocol, or does not read its replies (the send buffer
 * fills), is closed alone; the others keep running.
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
	struct vmm_evloop *loop;      /* data: queues, block I/O */
	struct vmm_evloop *ctl;       /* control: sockets */
	struct vmm_ev_watch *listen_watch; /* ctl thread; set while run() */
	pthread_mutex_t lock;         /* @st */
	struct vu_session *sessions;  /* ctl thread only */
	unsigned live;                /* ctl thread only */
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
	cfg->struct_size = sizeof(*cfg);
	vmm_virtio_blk_config_init(&cfg->blk, VMM_VIRTIO_MMIO);
	cfg->device = device;
	cfg->log_level = VMM_LOG_WARN;
}

int vmm_vhost_user_server_create(const struct vmm_vhost_user_server_config *ucfg,
				 vmm_vhost_user_server **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const struct vmm_vhost_user_server_config *cfg = ucfg;
	struct vmm_vhost_user_server_config c;
	vmm_vhost_user_server *srv;
	int ret;

	if (!ucfg || !out)
		return -EINVAL;
	vmm_vhost_user_server_config_init(&c, VMM_VHOST_USER_BLK);
	if (VMM__STRUCT_IN_V(&c, ucfg, VMM__VHOST_USER_SERVER_CONFIG_V02)) {
		/* no VM to hold the message: the config's own log */
		uint32_t n = ucfg->struct_size;

		if ((n == 0 || n >= offsetof(struct vmm_vhost_user_server_config,
					     log_level) + sizeof(int)) &&
		    ucfg->log && ucfg->log_level >= VMM_LOG_ERROR)
			ucfg->log(ucfg->log_opaque, VMM_LOG_ERROR,
				  "vhost-user server: bad struct_size or "
				  "unknown non-zero fields in struct "
				  "vmm_vhost_user_server_config");
		return -EINVAL;
	}
	cfg = &c;
	if (!cfg->socket_path ||
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
	if (!ret) {
		ret = vmm_evloop_create(NULL, "vmm-vu-ctl", &srv->ctl);
		if (ret)
			vmm_evloop_destroy(srv->loop);
	}
	if (ret) {
		unlink(srv->path);
		pthread_mutex_destroy(&srv->lock);
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

/* Control loop: @s is over (@ret: 0 closed, -errno dropped); free it. */
static void session_end(vmm_vhost_user_server *srv, struct vu_session *s,
			int ret)
{
	for (struct vu_session **pp = &srv->sessions; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	srv->live--;
	pthread_mutex_lock(&srv->lock);
	srv->st.messages += s->messages;
	srv->st.rejected += s->rejected;
	if (ret)
		srv->st.dropped++;
	srv->st.requests += vmm__vu_session_requests(s);
	pthread_mutex_unlock(&srv->lock);
	srv_log(srv, ret ? VMM_LOG_WARN : VMM_LOG_INFO,
		"connection closed%s%s", ret ? ": " : "",
		ret ? strerror(-ret) : "");
	/* on the loop thread: the watch goes once this callback returns */
	vmm_evloop_unwatch(srv->ctl, s->watch);
	vmm__vu_session_free(s); /* stops its rings on the data loop */
	if (srv->listen_watch)
		vmm_evloop_watch_arm(srv->listen_watch, true);
}

static void session_cb(void *opaque, int fd, unsigned events)
{
	struct vu_session *s = opaque;
	int ret;

	(void)fd, (void)events;
	ret = vmm__vu_session_step(s);
	if (ret != 1)
		session_end(s->srv, s, ret);
}

/* Control loop: the listening socket is readable. */
static void accept_cb(void *opaque, int lfd, unsigned events)
{
	vmm_vhost_user_server *srv = opaque;
	struct vu_session *s;
	int fd, ret;

	(void)events;
	if (srv->live >= srv->cfg.max_sessions) {
		vmm_evloop_watch_arm(srv->listen_watch, false);
		return; /* re-armed when a session ends */
	}
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return; /* EAGAIN, ECONNABORTED ...: the next one */
	ret = vmm__vu_session_new(&srv->cfg, srv->loop, &s);
	if (ret) {
		srv_log(srv, VMM_LOG_ERROR, "cannot create the device: %s",
			strerror(-ret));
		close(fd);
		return;
	}
	s->sock = fd;
	s->srv = srv;
	ret = vmm_evloop_watch(srv->ctl, fd, session_cb, s, true, &s->watch);
	if (ret) {
		srv_log(srv, VMM_LOG_ERROR, "cannot watch the connection: %s",
			strerror(-ret));
		vmm__vu_session_free(s);
		return;
	}
	s->next = srv->sessions;
	srv->sessions = s;
	srv->live++;
	pthread_mutex_lock(&srv->lock);
	srv->st.connections++;
	pthread_mutex_unlock(&srv->lock);
	if (srv->live >= srv->cfg.max_sessions)
		vmm_evloop_watch_arm(srv->listen_watch, false);
	srv_log(srv, VMM_LOG_INFO, "connection accepted");
}

struct listen_cmd {
	vmm_vhost_user_server *srv;
	struct vmm_ev_watch *w;
};

static void listen_begin(void *opaque)
{
	struct listen_cmd *c = opaque;

	c->srv->listen_watch = c->w;
	vmm_evloop_watch_arm(c->w, c->srv->live < c->srv->cfg.max_sessions);
}

static void listen_end(void *opaque)
{
	struct listen_cmd *c = opaque;

	c->srv->listen_watch = NULL;
	vmm_evloop_unwatch(c->srv->ctl, c->w);
}

int vmm_vhost_user_server_run(vmm_vhost_user_server *srv)
{
	struct listen_cmd c;
	struct pollfd p;
	eventfd_t v;
	int ret;

	if (!srv)
		return -EINVAL;
	c.srv = srv;
	ret = vmm_evloop_watch(srv->ctl, srv->listen_fd, accept_cb, srv, false,
			       &c.w);
	if (ret)
		return ret;
	vmm_evloop_call(srv->ctl, listen_begin, &c);
	/* the loops serve; this thread only waits for the stop */
	p = (struct pollfd){ srv->stop_fd, POLLIN, 0 };
	while (poll(&p, 1, -1) < 0 && errno == EINTR)
		;
	if (eventfd_read(srv->stop_fd, &v) < 0) {
		/* consumed already */
	}
	vmm_evloop_call(srv->ctl, listen_end, &c);
	return 0;
}

void vmm_vhost_user_server_stop(vmm_vhost_user_server *srv)
{
	if (srv && eventfd_write(srv->stop_fd, 1) < 0) {
		/* already signalled */
	}
}

int vmm_vhost_user_server_get_stats(vmm_vhost_user_server *srv,
				    struct vmm_vhost_user_server_stats *st)
{
	struct vmm_vhost_user_server_stats s;

	if (!srv || !st)
		return -EINVAL;
	pthread_mutex_lock(&srv->lock);
	s = srv->st;
	pthread_mutex_unlock(&srv->lock);
	s.struct_size = sizeof(s);
	return vmm__struct_out(st, &s, sizeof(s),
			       VMM__VHOST_USER_SERVER_STATS_V02);
}

static void close_all(void *opaque)
{
	vmm_vhost_user_server *srv = opaque;

	while (srv->sessions)
		session_end(srv, srv->sessions, 0);
}

void vmm_vhost_user_server_destroy(vmm_vhost_user_server *srv)
{
	if (!srv)
		return;
	/* close every session (on the control loop), then stop the loops */
	vmm_evloop_call(srv->ctl, close_all, srv);
	vmm_evloop_destroy(srv->ctl);
	vmm_evloop_destroy(srv->loop);
	close(srv->listen_fd);
	close(srv->stop_fd);
	unlink(srv->path);
	pthread_mutex_destroy(&srv->lock);
	free(srv->path);
	free(srv->blk_path);
	free(srv->serial);
	free(srv);
}
