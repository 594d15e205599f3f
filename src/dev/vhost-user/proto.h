/* SPDX-License-Identifier: MIT */
/*
 * proto.h - the vhost-user wire protocol (QEMU docs/interop/vhost-user.rst):
 * message numbers, flags, feature bits and payload layouts, plus the
 * message I/O over a unix socket with SCM_RIGHTS, shared by the back-end
 * (backend.c) and the front-end (frontend.c).
 *
 * Everything is little endian on the wire; like every vhost-user
 * implementation we run on x86 and read the fields natively.
 */
#ifndef LIBVMM_DEV_VHOST_USER_PROTO_H
#define LIBVMM_DEV_VHOST_USER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Front-end requests. */
enum {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_GET_CONFIG = 24,
	VU_SET_CONFIG = 25,
	VU_REQ_MAX = 64,
};

/* Header flags. */
#define VU_VERSION 0x1u
#define VU_VERSION_MASK 0x3u
#define VU_FLAG_REPLY (1u << 2)
#define VU_FLAG_NEED_REPLY (1u << 3)

/* Virtio feature bit that says protocol features exist. */
#define VU_F_PROTOCOL_FEATURES 30
#define VU_F_LOG_ALL 26

/* Protocol feature bits. */
#define VU_PF_MQ 0
#define VU_PF_LOG_SHMFD 1
#define VU_PF_REPLY_ACK 3
#define VU_PF_BACKEND_REQ 5
#define VU_PF_CONFIG 9

/* SET_VRING_KICK/CALL/ERR payload. */
#define VU_VRING_IDX_MASK 0xffull
#define VU_VRING_NOFD (1ull << 8)

#define VU_MAX_REGIONS 8
#define VU_MAX_FDS 8
#define VU_MAX_CONFIG 256
/* no defined payload is larger; anything bigger closes the connection */
#define VU_MAX_PAYLOAD 512

struct vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
} __attribute__((packed));

struct vu_vring_state {
	uint32_t index;
	uint32_t num;
} __attribute__((packed));

struct vu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;  /* front-end user addresses */
	uint64_t used;
	uint64_t avail;
	uint64_t log;
} __attribute__((packed));

struct vu_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;
	uint64_t mmap_offset;
} __attribute__((packed));

struct vu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vu_region r[VU_MAX_REGIONS];
} __attribute__((packed));

struct vu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t data[VU_MAX_CONFIG];
} __attribute__((packed));
#define VU_CONFIG_HDR 12u

/* A message as read from or written to the socket. */
struct vu_msg {
	struct vu_hdr hdr;
	union {
		uint64_t u64;
		struct vu_vring_state state;
		struct vu_vring_addr addr;
		struct vu_mem_table mem;
		struct vu_config config;
		uint8_t raw[VU_MAX_PAYLOAD];
	} p;
	int fds[VU_MAX_FDS];
	unsigned nfds;
};

/*
 * vu_msg_recv() - read one message: the header (with any fds), then
 * exactly hdr.size payload bytes.  0, -ECONNRESET (peer closed),
 * -EPROTO (bad version, payload larger than VU_MAX_PAYLOAD, fds
 * truncated: the received fds are closed) or -errno.
 */
int vu_msg_recv(int sock, struct vu_msg *m);
/*
 * vu_msg_recv_nb() - the non-blocking receive of a server on an event
 * loop: continue the message in @m of which *@got bytes (header, then
 * payload) have arrived; *@got is 0 at a message start.  Returns 1 when
 * the message is complete (*@got is left for the caller to reset), 0 when
 * the socket has no more bytes yet, or a negative errno (-ECONNRESET at
 * EOF, -EPROTO for a bad header); on error the caller closes the fds.
 * Sizes are checked before a byte is stored, as in vu_msg_recv().
 */
int vu_msg_recv_nb(int sock, struct vu_msg *m, size_t *got);
/* vu_msg_send() - write header + payload (+ @fds).  0 or -errno.  On a
 * non-blocking socket a full send buffer is -EAGAIN (the server drops a
 * front-end that does not read its replies). */
int vu_msg_send(int sock, const struct vu_msg *m, const int *fds,
		unsigned nfds);
/* vu_msg_close_fds() - close the fds a message carried. */
void vu_msg_close_fds(struct vu_msg *m);
/* vu_req_name() - a request's name for messages ("?" if unknown). */
const char *vu_req_name(uint32_t req);

#endif
