/* SPDX-License-Identifier: MIT */
/*
 * libvmm/vhost_user.h - split devices across processes (vhost-user, as
 * specified in QEMU's docs/interop/vhost-user.rst).
 *
 * Back-end side: a vmm_vhost_user_server serves a libvmm virtio device
 * (blk or rng) on a unix socket to any vhost-user front-end (QEMU, another
 * libvmm process).  Each connection gets its own device instance.  Two
 * threads serve every connection, whatever their number: an event loop
 * (io_uring, else poll()) for the sockets and protocol messages, and one
 * for the devices' queues and block I/O, which runs
 * straight on the front-end's guest memory (the memory table's fds,
 * mmap()ed MAP_SHARED).  No VM exists in that process: messages go to
 * @log.  Every message is validated; a malformed one gets an error reply
 * (REPLY_ACK) or closes that connection, never the server.
 *
 * Supported: GET/SET_FEATURES, GET/SET_PROTOCOL_FEATURES (MQ, REPLY_ACK,
 * CONFIG), SET_OWNER, RESET_OWNER, SET_MEM_TABLE (up to 8 regions),
 * SET_VRING_NUM/ADDR/BASE/KICK/CALL/ERR/ENABLE, GET_VRING_BASE,
 * GET_QUEUE_NUM, GET/SET_CONFIG.  Not supported: dirty logging for
 * migration (LOG_ALL is not offered; SET_LOG_BASE/FD close the
 * connection), the back-end request channel, inflight tracking, packed
 * rings, polling without a kick fd.
 */
#ifndef LIBVMM_VHOST_USER_H
#define LIBVMM_VHOST_USER_H

#include <libvmm/common.h>
#include <libvmm/virtio.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Device types a server or front-end handles. */
enum vmm_vhost_user_device {
	VMM_VHOST_USER_BLK = 2, /**< virtio-blk (VIRTIO device ID 2) */
	VMM_VHOST_USER_RNG = 4, /**< virtio-rng (device ID 4) */
};

typedef struct vmm_vhost_user_server vmm_vhost_user_server;

/**
 * struct vmm_vhost_user_server_config - a back-end server.
 * @socket_path:  where to listen (must not exist).
 * @device:       what to serve.
 * @blk:          for VMM_VHOST_USER_BLK: the image (path or fd, readonly,
 *                serial); @blk.virtio.queue_size and .flags apply to
 *                every device type (@blk.virtio.transport is unused;
 *                VMM_VIRTIO_PACKED is ignored: split rings only).
 * @max_sessions: connections served at once (0 = 1); more wait.
 * @log, @log_opaque, @log_level: messages (the library never prints).
 */
struct vmm_vhost_user_server_config {
	uint32_t struct_size; /**< sizeof(); 0 = 0.2 size (docs/api.md) */
	const char *socket_path;
	enum vmm_vhost_user_device device;
	struct vmm_virtio_blk_config blk;
	unsigned max_sessions;
	vmm_log_fn log;
	void *log_opaque;
	int log_level;
};

/** vmm_vhost_user_server_config_init() - defaults for @device. */
VMM_API void
vmm_vhost_user_server_config_init(struct vmm_vhost_user_server_config *cfg,
				  enum vmm_vhost_user_device device);

/**
 * vmm_vhost_user_server_create() - bind and listen on @cfg->socket_path and
 * start the two event-loop threads.  0, -EINVAL, -EADDRINUSE, -ENOMEM or
 * -errno.
 */
VMM_API VMM_MUST_CHECK int
vmm_vhost_user_server_create(const struct vmm_vhost_user_server_config *cfg,
			     vmm_vhost_user_server **out);

/**
 * vmm_vhost_user_server_run() - accept and serve connections until
 * vmm_vhost_user_server_stop().  The server's event loops do the work;
 * the calling thread only waits for the stop.  Connections accepted stay
 * served after run() returns, until vmm_vhost_user_server_destroy().
 * Returns 0 after a stop, or -errno if the listening socket cannot be
 * watched.
 */
VMM_API int vmm_vhost_user_server_run(vmm_vhost_user_server *srv);

/** vmm_vhost_user_server_stop() - make run() return; async-signal-safe. */
VMM_API void vmm_vhost_user_server_stop(vmm_vhost_user_server *srv);

/** vmm_vhost_user_server_destroy() - close every connection, free. */
VMM_API void vmm_vhost_user_server_destroy(vmm_vhost_user_server *srv);

/** Counters of a server, from vmm_vhost_user_server_get_stats(). */
struct vmm_vhost_user_server_stats {
	uint32_t struct_size; /**< in: sizeof() (0 = 0.2 size); out: written */
	uint64_t connections;  /**< accepted */
	uint64_t messages;     /**< handled */
	uint64_t rejected;     /**< answered with an error */
	uint64_t dropped;      /**< connections closed for a protocol error */
	uint64_t requests;     /**< virtio requests completed (all sessions) */
};
/**
 * vmm_vhost_user_server_get_stats() - the counters of @srv; set
 * @st->struct_size first (docs/api.md, "Growable structs").  0, or
 * -EINVAL for a NULL argument or a bad @st->struct_size.
 */
VMM_API int vmm_vhost_user_server_get_stats(vmm_vhost_user_server *srv,
					    struct vmm_vhost_user_server_stats *st);

/**
 * struct vmm_vhost_user_config - a front-end: a virtio device of this VM
 * whose queues an external vhost-user back-end processes.
 * @socket_path: the back-end's socket.
 * @device:      the device type (its config space size).
 * @virtio:      transport, address, IRQ, queue size, flags as for the
 *               in-process devices.
 *
 * Guest RAM must be shareable: every RAM region fd-backed (VMM_MEM_MEMFD,
 * or VMM_MEM_FD with VMM_MEM_SHARED); otherwise -EINVAL with a message.
 */
struct vmm_vhost_user_config {
	uint32_t struct_size; /**< sizeof(); 0 = 0.2 size (docs/api.md) */
	const char *socket_path;
	enum vmm_vhost_user_device device;
	struct vmm_virtio_config virtio;
};

/**
 * vmm_vhost_user_attach() - connect to the back-end at @cfg->socket_path,
 * negotiate (the back-end must offer VIRTIO_F_VERSION_1, and for blk the
 * CONFIG protocol feature) and attach the device on @cfg->virtio's
 * transport.  The rings are handed to the back-end when the driver sets
 * DRIVER_OK and taken back at reset.  Returns 0, -EINVAL (configuration,
 * or guest RAM not shareable), -ECONNREFUSED/-ENOENT (socket), -ENOTSUP
 * (the back-end lacks what we need), -EPROTO (it broke the protocol),
 * -ENOMEM, or the transport's errors.  Detach with vmm_dev_detach().
 */
VMM_API VMM_MUST_CHECK int
vmm_vhost_user_attach(vmm_vm *vm, const struct vmm_vhost_user_config *cfg,
		      vmm_dev **out);

#ifdef __cplusplus
}
#endif
#endif
