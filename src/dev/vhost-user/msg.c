/* SPDX-License-Identifier: MIT */
/*
 * msg.c - vhost-user message I/O on a unix stream socket: fds travel as
 * SCM_RIGHTS with the header; the payload follows.  Every size is checked
 * before a byte is stored.
 */
#include "dev/vhost-user/proto.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

void vu_msg_close_fds(struct vu_msg *m)
{
	for (unsigned i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	m->nfds = 0;
}

static int read_full(int sock, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = recv(sock, p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int vu_msg_recv(int sock, struct vu_msg *m)
{
	union {
		char buf[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { &m->hdr, sizeof(m->hdr) };
	struct msghdr mh = { 0 };
	struct cmsghdr *c;
	ssize_t n;
	int ret;

	m->nfds = 0;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ECONNRESET;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (m->nfds < VU_MAX_FDS)
				m->fds[m->nfds++] = fd;
			else
				close(fd);
		}
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		ret = -EPROTO;
		goto err;
	}
	if ((size_t)n < sizeof(m->hdr) &&
	    (ret = read_full(sock, (uint8_t *)&m->hdr + n,
			     sizeof(m->hdr) - (size_t)n)))
		goto err;
	if ((m->hdr.flags & VU_VERSION_MASK) != VU_VERSION ||
	    m->hdr.size > VU_MAX_PAYLOAD) {
		ret = -EPROTO;
		goto err;
	}
	memset(&m->p, 0, sizeof(m->p));
	if (m->hdr.size && (ret = read_full(sock, &m->p, m->hdr.size)))
		goto err;
	return 0;
err:
	vu_msg_close_fds(m);
	return ret;
}

/* Take the SCM_RIGHTS fds of @mh into @m (extra ones closed). */
static void take_fds(struct msghdr *mh, struct vu_msg *m)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (m->nfds < VU_MAX_FDS)
				m->fds[m->nfds++] = fd;
			else
				close(fd);
		}
	}
}

int vu_msg_recv_nb(int sock, struct vu_msg *m, size_t *got)
{
	const size_t hsz = sizeof(m->hdr);
	ssize_t n;

	if (*got < hsz) {
		union {
			char buf[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { (uint8_t *)&m->hdr + *got, hsz - *got };
		struct msghdr mh = { 0 };

		if (!*got)
			m->nfds = 0;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		if (n == 0)
			return -ECONNRESET;
		take_fds(&mh, m);
		if (mh.msg_flags & MSG_CTRUNC)
			return -EPROTO;
		*got += (size_t)n;
		if (*got < hsz)
			return 0;
		if ((m->hdr.flags & VU_VERSION_MASK) != VU_VERSION ||
		    m->hdr.size > VU_MAX_PAYLOAD)
			return -EPROTO;
		memset(&m->p, 0, sizeof(m->p));
	}
	if (*got - hsz < m->hdr.size) {
		n = recv(sock, (uint8_t *)&m->p + (*got - hsz),
			 m->hdr.size - (*got - hsz), MSG_DONTWAIT);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		if (n == 0)
			return -ECONNRESET;
		*got += (size_t)n;
		if (*got - hsz < m->hdr.size)
			return 0;
	}
	return 1;
}

int vu_msg_send(int sock, const struct vu_msg *m, const int *fds,
		unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov[2] = {
		{ (void *)&m->hdr, sizeof(m->hdr) },
		{ (void *)&m->p, m->hdr.size },
	};
	struct msghdr mh = { 0 };
	size_t total = sizeof(m->hdr) + m->hdr.size, done = 0;

	if (m->hdr.size > VU_MAX_PAYLOAD || nfds > VU_MAX_FDS)
		return -EINVAL;
	mh.msg_iov = iov;
	mh.msg_iovlen = m->hdr.size ? 2 : 1;
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	while (done < total) {
		ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		/* advance the iovecs */
		while (n > 0 && mh.msg_iovlen) {
			if ((size_t)n >= mh.msg_iov->iov_len) {
				n -= (ssize_t)mh.msg_iov->iov_len;
				mh.msg_iov++;
				mh.msg_iovlen--;
			} else {
				mh.msg_iov->iov_base =
					(uint8_t *)mh.msg_iov->iov_base + n;
				mh.msg_iov->iov_len -= (size_t)n;
				n = 0;
			}
		}
	}
	return 0;
}

const char *vu_req_name(uint32_t req)
{
	static const char *const names[] = {
		[VU_GET_FEATURES] = "GET_FEATURES",
		[VU_SET_FEATURES] = "SET_FEATURES",
		[VU_SET_OWNER] = "SET_OWNER",
		[VU_RESET_OWNER] = "RESET_OWNER",
		[VU_SET_MEM_TABLE] = "SET_MEM_TABLE",
		[VU_SET_LOG_BASE] = "SET_LOG_BASE",
		[VU_SET_LOG_FD] = "SET_LOG_FD",
		[VU_SET_VRING_NUM] = "SET_VRING_NUM",
		[VU_SET_VRING_ADDR] = "SET_VRING_ADDR",
		[VU_SET_VRING_BASE] = "SET_VRING_BASE",
		[VU_GET_VRING_BASE] = "GET_VRING_BASE",
		[VU_SET_VRING_KICK] = "SET_VRING_KICK",
		[VU_SET_VRING_CALL] = "SET_VRING_CALL",
		[VU_SET_VRING_ERR] = "SET_VRING_ERR",
		[VU_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
		[VU_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
		[VU_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
		[VU_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
		[VU_GET_CONFIG] = "GET_CONFIG",
		[VU_SET_CONFIG] = "SET_CONFIG",
	};

	if (req < sizeof(names) / sizeof(names[0]) && names[req])
		return names[req];
	return "?";
}
