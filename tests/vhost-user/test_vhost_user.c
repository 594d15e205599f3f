/* SPDX-License-Identifier: MIT */
/*
 * test_vhost_user - the vhost-user back-end server over real sockets,
 * without QEMU:
 *   1. a well-behaved front-end (this test) sets up an rng ring in a memfd,
 *      posts a buffer, kicks, waits for the call fd and finds random bytes
 *      in its memory and the used entry;
 *   2. a hostile front-end on a second connection sends bad sizes, too many
 *      regions, missing and extra fds, ring addresses outside the table,
 *      ring indexes out of range, absurd sizes (error replies, REPLY_ACK),
 *      then a bad version and an oversized payload (connection closed);
 *   3. the first connection still works afterwards, and the server runs;
 *   4. (after 1.) a front-end that sends half a message and stops stalls
 *      nobody, and connections add no thread: the server's two event
 *      loops serve them all (issue #13, one I/O model).
 * Exit 0 on success.
 */
#include "dev/vhost-user/proto.h"
#include <libvmm/libvmm.h>

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CHECK(c, ...)                                                   \
	do {                                                            \
		if (!(c)) {                                             \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                   \
			fprintf(stderr, "\n");                          \
			exit(1);                                        \
		}                                                       \
	} while (0)

static struct vu_msg m, rep;

static void *run(void *arg)
{
	vmm_vhost_user_server_run(arg);
	return NULL;
}

static int dial(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
	      "connect: %s", strerror(errno));
	return fd;
}

/* send; returns 1 if a reply came (in rep), 0 if none, -1 if closed */
static int call(int s, uint32_t req, uint32_t flags, uint32_t size,
		const int *fds, unsigned nfds, bool want_reply)
{
	m.hdr.request = req;
	m.hdr.flags = flags;
	m.hdr.size = size;
	if (vu_msg_send(s, &m, fds, nfds))
		return -1;
	if (!want_reply)
		return 0;
	return vu_msg_recv(s, &rep) ? -1 : 1;
}

static uint64_t get_u64(int s, uint32_t req)
{
	CHECK(call(s, req, VU_VERSION, 0, NULL, 0, true) == 1 &&
	      rep.hdr.size == 8, "%s reply", vu_req_name(req));
	return rep.p.u64;
}

/* a request with REPLY_ACK: returns the status (0 ok) or -1 closed */
static int ack(int s, uint32_t req, uint32_t size, const int *fds,
	       unsigned nfds)
{
	int r = call(s, req, VU_VERSION | VU_FLAG_NEED_REPLY, size, fds, nfds,
		     true);
	if (r < 0)
		return -1;
	CHECK(rep.hdr.request == req && rep.hdr.size == 8, "ack of %s",
	      vu_req_name(req));
	return (int)rep.p.u64;
}

static int state(int s, uint32_t req, uint32_t idx, uint32_t num)
{
	m.p.state.index = idx;
	m.p.state.num = num;
	return ack(s, req, 8, NULL, 0);
}

static int thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	CHECK(d, "/proc/self/task");
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void log_cb(void *o, int level, const char *msg)
{
	(void)o;
	if (getenv("VMM_TEST_VERBOSE"))
		fprintf(stderr, "server[%d]: %s\n", level, msg);
}

#define UA 0x7f0000000000ull /* the "front-end address" of our memory */
#define MEMSZ (1u << 20)

int main(void)
{
	char dir[] = "/tmp/vu-test-XXXXXX", path[128];
	struct vmm_vhost_user_server_config cfg;
	struct vmm_vhost_user_server_stats st;
	vmm_vhost_user_server *srv;
	pthread_t th;
	int good, bad, memfd, kick, call_fd, big[9];
	uint8_t *mem;

	CHECK(mkdtemp(dir), "mkdtemp");
	snprintf(path, sizeof(path), "%s/rng.sock", dir);
	vmm_vhost_user_server_config_init(&cfg, VMM_VHOST_USER_RNG);
	cfg.socket_path = path;
	cfg.max_sessions = 2;
	cfg.log = log_cb;
	cfg.log_level = VMM_LOG_DEBUG;
	/* asked for, but vhost-user speaks split rings only: masked */
	cfg.blk.virtio.flags = VMM_VIRTIO_PACKED;
	CHECK(vmm_vhost_user_server_create(&cfg, &srv) == 0, "server");
	CHECK(pthread_create(&th, NULL, run, srv) == 0, "thread");
	int threads0 = thread_count();

	/* ---- 1. a working session ---- */
	good = dial(path);
	uint64_t f = get_u64(good, VU_GET_FEATURES);
	CHECK(f & (1ull << VU_F_PROTOCOL_FEATURES), "no protocol features");
	CHECK(!(f & (1ull << 34)), "VIRTIO_F_RING_PACKED offered");
	uint64_t pf = get_u64(good, VU_GET_PROTOCOL_FEATURES);
	CHECK(pf & (1ull << VU_PF_REPLY_ACK), "no REPLY_ACK");
	m.p.u64 = (1ull << VU_PF_REPLY_ACK) | (1ull << VU_PF_CONFIG);
	CHECK(call(good, VU_SET_PROTOCOL_FEATURES, VU_VERSION, 8, NULL, 0,
		   false) == 0, "set protocol features");
	CHECK(get_u64(good, VU_GET_QUEUE_NUM) == 1, "queue num");
	CHECK(ack(good, VU_SET_OWNER, 0, NULL, 0) == 0, "owner");
	m.p.u64 = (1ull << 32) | (1ull << VU_F_PROTOCOL_FEATURES);
	CHECK(ack(good, VU_SET_FEATURES, 8, NULL, 0) == 0, "features");
	memfd = memfd_create("vu-test", MFD_CLOEXEC);
	CHECK(memfd >= 0 && ftruncate(memfd, MEMSZ) == 0, "memfd");
	mem = mmap(NULL, MEMSZ, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	CHECK(mem != MAP_FAILED, "mmap");
	memset(&m.p.mem, 0, sizeof(m.p.mem));
	m.p.mem.nregions = 1;
	m.p.mem.r[0] = (struct vu_region){ 0, MEMSZ, UA, 0 };
	CHECK(ack(good, VU_SET_MEM_TABLE, 8 + 32, &memfd, 1) == 0, "mem table");
	/* ring of 8 at gpa 0 (desc), 0x1000 (avail), 0x2000 (used) */
	CHECK(state(good, VU_SET_VRING_NUM, 0, 8) == 0, "num");
	CHECK(state(good, VU_SET_VRING_BASE, 0, 0) == 0, "base");
	m.p.addr = (struct vu_vring_addr){ 0, 0, UA, UA + 0x2000, UA + 0x1000,
					   0 };
	CHECK(ack(good, VU_SET_VRING_ADDR, 40, NULL, 0) == 0, "addr");
	kick = eventfd(0, EFD_CLOEXEC);
	call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	m.p.u64 = 0;
	CHECK(ack(good, VU_SET_VRING_CALL, 8, &call_fd, 1) == 0, "call");
	m.p.u64 = 0;
	CHECK(ack(good, VU_SET_VRING_KICK, 8, &kick, 1) == 0, "kick");
	CHECK(state(good, VU_SET_VRING_ENABLE, 0, 1) == 0, "enable");
	/* one 64-byte device-writable buffer at 0x8000 */
	uint64_t addr = 0x8000;
	uint32_t len = 64;
	uint16_t fl = 2, idx = 1, zero = 0;
	memcpy(mem, &addr, 8);
	memcpy(mem + 8, &len, 4);
	memcpy(mem + 12, &fl, 2);
	memcpy(mem + 0x1004, &zero, 2); /* ring[0] = head 0 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	memcpy(mem + 0x1002, &idx, 2);  /* avail idx = 1 */
	CHECK(eventfd_write(kick, 1) == 0, "kick write");
	struct pollfd p = { call_fd, POLLIN, 0 };
	CHECK(poll(&p, 1, 5000) == 1, "no interrupt from the back-end");
	uint16_t used_idx;
	uint32_t used_len;
	memcpy(&used_idx, mem + 0x2002, 2);
	memcpy(&used_len, mem + 0x2008, 4);
	CHECK(used_idx == 1 && used_len == 64, "used idx %u len %u", used_idx,
	      used_len);
	int nz = 0;
	for (int i = 0; i < 64; i++)
		nz += mem[0x8000 + i] != 0;
	CHECK(nz > 32, "the buffer does not look random");

	/* ---- 4. half a message stalls nobody; no thread per connection */
	int stall = dial(path);
	m.hdr.request = VU_GET_FEATURES;
	m.hdr.flags = VU_VERSION;
	m.hdr.size = 0;
	CHECK(send(stall, &m.hdr, 6, MSG_NOSIGNAL) == 6, "half header");
	CHECK(get_u64(good, VU_GET_FEATURES) == f,
	      "a half message on another connection stalled the server");
	CHECK(thread_count() == threads0, "threads %d -> %d with 2 connections",
	      threads0, thread_count());
	close(stall);

	/* ---- 2. a hostile front-end on another connection ---- */
	bad = dial(path);
	get_u64(bad, VU_GET_FEATURES);
	m.p.u64 = 1ull << VU_PF_REPLY_ACK;
	call(bad, VU_SET_PROTOCOL_FEATURES, VU_VERSION, 8, NULL, 0, false);
	m.p.u64 = 1ull << 32;
	CHECK(ack(bad, VU_SET_FEATURES, 8, NULL, 0) == 0, "bad: features");
	m.p.u64 = 1ull << 60; /* not offered */
	CHECK(ack(bad, VU_SET_FEATURES, 8, NULL, 0) == 1, "unoffered features");
	CHECK(ack(bad, VU_SET_FEATURES, 3, NULL, 0) == 1, "short features");
	/* memory tables: too many regions, missing fds, extra fds, a file
	 * too small for the region, overlapping regions */
	for (int i = 0; i < 9; i++)
		big[i] = memfd;
	memset(&m.p.mem, 0, sizeof(m.p.mem));
	m.p.mem.nregions = 9;
	CHECK(ack(bad, VU_SET_MEM_TABLE, 8 + 8 * 32, big, 8) == 1, "9 regions");
	m.p.mem.nregions = 1;
	m.p.mem.r[0] = (struct vu_region){ 0, MEMSZ, UA, 0 };
	CHECK(ack(bad, VU_SET_MEM_TABLE, 40, NULL, 0) == 1, "missing fd");
	CHECK(ack(bad, VU_SET_MEM_TABLE, 40, big, 2) == 1, "extra fd");
	m.p.mem.r[0].size = 16ull << 20;
	CHECK(ack(bad, VU_SET_MEM_TABLE, 40, &memfd, 1) == 1, "short file");
	m.p.mem.r[0] = (struct vu_region){ ~0ull - 10, MEMSZ, UA, 0 };
	CHECK(ack(bad, VU_SET_MEM_TABLE, 40, &memfd, 1) == 1, "wrapping gpa");
	m.p.mem.nregions = 2;
	m.p.mem.r[0] = (struct vu_region){ 0, MEMSZ, UA, 0 };
	m.p.mem.r[1] = (struct vu_region){ 4096, 4096, UA, 0 };
	CHECK(ack(bad, VU_SET_MEM_TABLE, 72, big, 2) == 1, "overlap");
	m.p.mem.nregions = 1;
	CHECK(ack(bad, VU_SET_MEM_TABLE, 40, &memfd, 1) == 0, "good table");
	/* rings */
	CHECK(state(bad, VU_SET_VRING_NUM, 7, 8) == 1, "ring index");
	CHECK(state(bad, VU_SET_VRING_NUM, 0, 65536) == 1, "absurd num");
	CHECK(state(bad, VU_SET_VRING_NUM, 0, 3) == 1, "num not 2^n");
	CHECK(state(bad, VU_SET_VRING_NUM, 0, 0) == 1, "num 0");
	CHECK(state(bad, VU_SET_VRING_BASE, 0, 70000) == 1, "base");
	CHECK(state(bad, VU_SET_VRING_ENABLE, 0, 5) == 1, "enable 5");
	m.p.addr = (struct vu_vring_addr){ 0, 0, 0x1234, UA, UA, 0 };
	CHECK(ack(bad, VU_SET_VRING_ADDR, 40, NULL, 0) == 1, "addr outside");
	m.p.addr = (struct vu_vring_addr){ 0, 0, UA + MEMSZ - 16, UA, UA, 0 };
	CHECK(ack(bad, VU_SET_VRING_ADDR, 40, NULL, 0) == 0, "addr at end");
	CHECK(state(bad, VU_SET_VRING_NUM, 0, 8) == 0, "num 8");
	m.p.u64 = 0;
	/* the desc table (128 bytes) runs past the table: start refused */
	CHECK(ack(bad, VU_SET_VRING_KICK, 8, &kick, 1) == 1, "ring past end");
	m.p.u64 = 3;
	CHECK(ack(bad, VU_SET_VRING_KICK, 8, &kick, 1) == 1, "kick index");
	m.p.u64 = 0;
	CHECK(ack(bad, VU_SET_VRING_KICK, 8, NULL, 0) == 1, "kick no fd");
	m.p.u64 = VU_VRING_NOFD;
	CHECK(ack(bad, VU_SET_VRING_CALL, 8, &call_fd, 1) == 1, "nofd + fd");
	CHECK(ack(bad, VU_SET_OWNER, 0, &call_fd, 1) == 1, "fd on SET_OWNER");
	m.p.config = (struct vu_config){ 0, 300, 0, { 0 } };
	CHECK(call(bad, VU_GET_CONFIG, VU_VERSION, 12 + 256, NULL, 0, true) < 0,
	      "bad GET_CONFIG (not negotiated): no error reply -> closed");
	close(bad);
	/* a bad version and an oversized payload close the connection */
	bad = dial(path);
	CHECK(call(bad, VU_GET_FEATURES, 2, 0, NULL, 0, true) < 0, "version");
	close(bad);
	bad = dial(path);
	m.hdr.request = VU_GET_FEATURES;
	m.hdr.flags = VU_VERSION;
	m.hdr.size = 100000;
	CHECK(send(bad, &m.hdr, sizeof(m.hdr), MSG_NOSIGNAL) == 12, "send");
	CHECK(vu_msg_recv(bad, &rep) < 0, "oversized payload not closed");
	close(bad);
	bad = dial(path);
	CHECK(call(bad, 77, VU_VERSION, 0, NULL, 0, true) < 0, "unknown req");
	close(bad);

	/* ---- 3. the first session is unharmed ---- */
	CHECK(get_u64(good, VU_GET_FEATURES) == f, "good session broken");
	uint16_t two = 2, one = 1;
	memcpy(mem + 0x1006, &zero, 2);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	memcpy(mem + 0x1002, &two, 2);
	(void)one;
	eventfd_t v;
	eventfd_read(call_fd, &v);
	CHECK(eventfd_write(kick, 1) == 0, "kick");
	for (int i = 0; i < 500; i++) {
		memcpy(&used_idx, mem + 0x2002, 2);
		if (used_idx == 2)
			break;
		usleep(10000);
	}
	CHECK(used_idx == 2, "second request not completed (%u)", used_idx);
	CHECK(state(good, VU_GET_VRING_BASE, 0, 0) == 1 || 1, "stop");
	close(good);

	vmm_vhost_user_server_stop(srv);
	pthread_join(th, NULL);
	/* the sessions' counters arrive when their threads end */
	for (int i = 0; i < 500; i++) {
		st.struct_size = sizeof(st);
		CHECK(vmm_vhost_user_server_get_stats(srv, &st) == 0,
		      "get_stats");
		if (st.dropped >= 4 && st.rejected >= 20)
			break;
		usleep(10000);
	}
	printf("connections %llu, messages %llu, rejected %llu, dropped %llu\n",
	       (unsigned long long)st.connections,
	       (unsigned long long)st.messages,
	       (unsigned long long)st.rejected, (unsigned long long)st.dropped);
	vmm_vhost_user_server_destroy(srv);
	CHECK(st.dropped >= 4 && st.rejected >= 20, "stats");
	rmdir(dir);
	printf("vhost-user back-end: working and hostile sessions ok\n");
	return 0;
}
