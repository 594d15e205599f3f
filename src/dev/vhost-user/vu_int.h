/* SPDX-License-Identifier: MIT */
/*
 * vu_int.h - vhost-user back-end internals shared by the session code
 * (backend.c), the server (server.c) and the fuzz target.
 */
#ifndef LIBVMM_DEV_VHOST_USER_INT_H
#define LIBVMM_DEV_VHOST_USER_INT_H

#include "dev/virtio/virtio_dev.h"
#include "dev/vhost-user/proto.h"
#include <libvmm/vhost_user.h>

#define VU_OFFERED_PROTOCOL                                              \
	((1ull << VU_PF_MQ) | (1ull << VU_PF_REPLY_ACK) |                \
	 (1ull << VU_PF_CONFIG))

/* One region of the front-end's memory table, mapped here. */
struct vu_map {
	uint64_t gpa, size, uaddr;
	void *map;
	size_t map_len;
	uint8_t *host; /* gpa's byte in this process */
};

/* What the front-end told us about one ring. */
struct vu_ring {
	uint16_t num, base;
	uint64_t desc_ua, avail_ua, used_ua;
	bool addr_set, enabled, started;
	int kick_fd, call_fd, err_fd;
};

struct vu_session {
	struct vmm_virtio vd;
	struct vmm__virtio_be nb;
	vmm_log_fn log;
	void *log_opaque;
	int log_level;
	int sock;
	bool owner, features_set, proto_acked;
	uint64_t protocol;
	unsigned nregions;
	struct vu_map reg[VU_MAX_REGIONS];
	struct vu_ring vr[VMM_VIRTIO_MAX_QUEUES];
	uint64_t messages, rejected;
	/* message reception on the server's control loop */
	struct vu_msg *m, *rep;
	size_t got;              /* bytes of *m received so far */
	/* server bookkeeping */
	struct vmm_vhost_user_server *srv;
	struct vmm_ev_watch *watch;
	struct vu_session *next;
};

/* A device instance for @cfg on @loop (no socket yet).  0 or -errno. */
int vmm__vu_session_new(const struct vmm_vhost_user_server_config *cfg,
			struct vmm_evloop *loop, struct vu_session **out);
void vmm__vu_session_free(struct vu_session *s);
/*
 * vmm__vu_handle() - handle message @m (its fds are consumed: kept or
 * closed).  Fills @rep and sets *@has_reply when a reply must be sent.
 * Returns 0, or a negative errno when the connection must be closed.
 */
int vmm__vu_handle(struct vu_session *s, struct vu_msg *m, struct vu_msg *rep,
		   bool *has_reply);
/* Handle what arrived on the non-blocking s->sock: 1 (go on), 0 (closed)
 * or -errno (protocol broken: close it).  See backend.c. */
int vmm__vu_session_step(struct vu_session *s);
uint64_t vmm__vu_session_requests(struct vu_session *s);
void vmm__vu_kick_cb(void *opaque, int fd, unsigned events);

#endif
