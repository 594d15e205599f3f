/* SPDX-License-Identifier: MIT */
/*
 * fuzz_vhost_user.c - libFuzzer target for the vhost-user back-end's
 * message handling: the input is a stream of messages (12-byte header, a
 * payload of at most VU_MAX_PAYLOAD bytes, then one byte whose low bits say
 * how many fake fds ride along: small memfds or eventfds) fed to
 * vmm__vu_handle() of a fresh blk or rng session.  No socket; guest memory
 * is whatever memfds the input's SET_MEM_TABLE maps, so ring setups reach
 * the virtqueue walker on the event loop too.
 *
 *   ./build-vufuzz/fuzz/fuzz_vhost_user fuzz/corpus/vhost_user \
 *       -max_total_time=60
 */
#include "dev/vhost-user/vu_int.h"
#include "io/evloop.h"

#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

/* harness state, created once */
static struct vmm_evloop *loop;
static int image_fd = -1;

static int fake_fd(unsigned kind)
{
	if (kind & 1)
		return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int fd = memfd_create("fuzz-mem", MFD_CLOEXEC);
	if (fd >= 0 && ftruncate(fd, (kind & 2) ? 4096 : 1 << 20) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmm_vhost_user_server_config cfg;
	struct vu_session *s;
	static struct vu_msg m, rep;
	size_t off = 1;

	if (!loop && vmm_evloop_create(NULL, "fuzz-vu", &loop))
		return 0;
	if (image_fd < 0) {
		image_fd = memfd_create("fuzz-img", MFD_CLOEXEC);
		if (image_fd < 0 || ftruncate(image_fd, 1 << 20) < 0)
			return 0;
	}
	if (size < 1)
		return 0;
	vmm_vhost_user_server_config_init(&cfg, (data[0] & 1)
						       ? VMM_VHOST_USER_RNG
						       : VMM_VHOST_USER_BLK);
	cfg.blk.fd = image_fd;
	cfg.blk.virtio.queue_size = 64;
	if (vmm__vu_session_new(&cfg, loop, &s))
		return 0;
	while (off + sizeof(struct vu_hdr) <= size) {
		bool has_reply;
		unsigned nfds;

		memcpy(&m.hdr, data + off, sizeof(m.hdr));
		off += sizeof(m.hdr);
		/* what vu_msg_recv() enforces before the handler runs */
		m.hdr.flags = (m.hdr.flags & ~VU_VERSION_MASK) | VU_VERSION;
		m.hdr.size %= VU_MAX_PAYLOAD + 1;
		if (m.hdr.size > size - off)
			m.hdr.size = (uint32_t)(size - off);
		memset(&m.p, 0, sizeof(m.p));
		memcpy(&m.p, data + off, m.hdr.size);
		off += m.hdr.size;
		nfds = off < size ? data[off++] : 0;
		m.nfds = 0;
		for (unsigned i = 0; i < (nfds & 7); i++) {
			int fd = fake_fd(nfds >> (3 + (i & 3)));
			if (fd >= 0)
				m.fds[m.nfds++] = fd;
		}
		if (vmm__vu_handle(s, &m, &rep, &has_reply))
			break; /* the connection would be closed */
	}
	vmm__vu_session_free(s);
	return 0;
}
