/* SPDX-License-Identifier: MIT */
/*
 * frontend.c - a virtio device of this VM whose queues an external
 * vhost-user back-end processes.  The guest sees an ordinary virtio-mmio or
 * virtio-pci device (the transports of src/dev/virtio); the device ops here
 * forward to the back-end:
 *
 *   attach      GET_FEATURES, GET/SET_PROTOCOL_FEATURES (REPLY_ACK, CONFIG,
 *               MQ), GET_QUEUE_NUM, SET_OWNER, GET_CONFIG (cached)
 *   DRIVER_OK   SET_FEATURES, SET_MEM_TABLE (the VM's RAM regions: their
 *               fds, our mapping as the user address), and per ready queue
 *               SET_VRING_NUM/ADDR/BASE, SET_VRING_CALL, SET_VRING_KICK,
 *               SET_VRING_ENABLE
 *   reset       SET_VRING_ENABLE 0 + GET_VRING_BASE per started queue
 *
 * Kicks: each queue's kick eventfd (wired to the guest's notify register
 * with an ioeventfd by the transport) goes to the back-end as the ring's
 * kick fd and is not watched here, so a guest kick reaches the other
 * process without a user-space exit.  Interrupts: the back-end signals a
 * call eventfd per queue that the VM's I/O thread watches and turns into
 * the transport's interrupt (MSI-X vector or INTx + ISR).
 *
 * Guest RAM must be fd-backed and shared (VMM_MEM_MEMFD, or VMM_MEM_FD
 * with VMM_MEM_SHARED): the back-end maps the same pages.
 */
#include "dev/vhost-user/proto.h"
#include "dev/virtio/virtio_dev.h"
#include "io/evloop.h"
#include <libvmm/vhost_user.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define BLK_CONFIG_SIZE 60
#define VU_REPLY_TIMEOUT_S 10
#define DEVICE_BITS 0xffffffull /* feature bits 0..23: device specific */

struct vu_fe {
	vmm_vm *vm;
	struct vmm_virtio *vd;
	struct vmm_virtio_dev_ops ops;
	int sock;
	bool broken;       /* the back-end went away or refused */
	bool started;
	uint64_t be_features, protocol;
	uint8_t config[VU_MAX_CONFIG];
	int call_fd[VMM_VIRTIO_MAX_QUEUES];
	struct vmm_ev_watch *call_watch[VMM_VIRTIO_MAX_QUEUES];
	bool ring_on[VMM_VIRTIO_MAX_QUEUES];
	struct vu_msg m, rep;
	/* guest memory changes: the back-end gets an updated memory table
	 * (without a region before it is removed, with one after it is added) */
	struct vmm_mem_listener ml;
	bool excl;               /* leave out the region at excl_gpa */
	vmm_gpa_t excl_gpa;
};

static int fe_fail(struct vu_fe *fe, int err, const char *what)
{
	fe->broken = true;
	return vmm__err(fe->vm, err, "vhost-user %s: %s: %s", fe->ops.name,
			what, vmm_strerror(err));
}

/* Send @req with @size payload bytes already in fe->m.p (+fds); wait for
 * the reply when the request has one or REPLY_ACK asks for one.  */
static int fe_call(struct vu_fe *fe, uint32_t req, uint32_t size,
		   const int *fds, unsigned nfds, bool has_reply)
{
	bool ack = !has_reply && (fe->protocol & (1ull << VU_PF_REPLY_ACK));
	int ret;

	if (fe->broken)
		return -EPIPE;
	fe->m.hdr.request = req;
	fe->m.hdr.flags = VU_VERSION | (ack ? VU_FLAG_NEED_REPLY : 0);
	fe->m.hdr.size = size;
	ret = vu_msg_send(fe->sock, &fe->m, fds, nfds);
	if (ret)
		return fe_fail(fe, ret, vu_req_name(req));
	if (!has_reply && !ack)
		return 0;
	ret = vu_msg_recv(fe->sock, &fe->rep);
	if (ret)
		return fe_fail(fe, ret, vu_req_name(req));
	vu_msg_close_fds(&fe->rep);
	if (fe->rep.hdr.request != req || !(fe->rep.hdr.flags & VU_FLAG_REPLY))
		return fe_fail(fe, -EPROTO, vu_req_name(req));
	if (ack) {
		if (fe->rep.hdr.size != 8)
			return fe_fail(fe, -EPROTO, vu_req_name(req));
		if (fe->rep.p.u64)
			return vmm__err(fe->vm, -EIO, "vhost-user %s: the back-end "
					"refused %s", fe->ops.name,
					vu_req_name(req));
	}
	return 0;
}

static int fe_get_u64(struct vu_fe *fe, uint32_t req, uint64_t *v)
{
	int ret = fe_call(fe, req, 0, NULL, 0, true);

	if (ret)
		return ret;
	if (fe->rep.hdr.size != 8)
		return fe_fail(fe, -EPROTO, vu_req_name(req));
	*v = fe->rep.p.u64;
	return 0;
}

static int fe_set_u64(struct vu_fe *fe, uint32_t req, uint64_t v,
		      const int *fds, unsigned nfds)
{
	fe->m.p.u64 = v;
	return fe_call(fe, req, 8, fds, nfds, false);
}

static int fe_state(struct vu_fe *fe, uint32_t req, uint32_t idx,
		    uint32_t num, bool reply)
{
	fe->m.p.state.index = idx;
	fe->m.p.state.num = num;
	return fe_call(fe, req, sizeof(fe->m.p.state), NULL, 0, reply);
}

/* host address of [gpa, gpa+len) (one region) for the back-end */
static int gpa_to_ua(struct vu_fe *fe, uint64_t gpa, uint64_t len,
		     uint64_t *ua)
{
	struct iovec iov;

	if (vmm_mem_iovec(fe->vm, gpa, len, false, &iov, 1) != 1)
		return -EFAULT;
	*ua = (uint64_t)(uintptr_t)iov.iov_base;
	return 0;
}

static int fe_mem_table(struct vu_fe *fe)
{
	struct vmm_mem_info info[VU_MAX_REGIONS + 1];
	int fds[VU_MAX_REGIONS];
	int n = vmm__mem_get_regions(fe->vm, info, VU_MAX_REGIONS + 1);
	unsigned k = 0;

	if (n < 0)
		return n;
	if (n > VU_MAX_REGIONS)
		return vmm__err(fe->vm, -E2BIG, "vhost-user: more than %d "
				"memory regions", VU_MAX_REGIONS);
	for (int i = 0; i < n; i++) {
		struct vu_region *r = &fe->m.p.mem.r[k];
		uint64_t ua;
		if (info[i].flags & VMM_MEM_READONLY)
			continue;
		if (fe->excl && info[i].gpa == fe->excl_gpa)
			continue;
		if (gpa_to_ua(fe, info[i].gpa, 1, &ua))
			return -EFAULT;
		r->gpa = info[i].gpa;
		r->size = info[i].size;
		r->mmap_offset = (uint64_t)info[i].offset;
		r->uaddr = ua;
		fds[k++] = info[i].fd;
	}
	fe->m.p.mem.nregions = k;
	fe->m.p.mem.padding = 0;
	return fe_call(fe, VU_SET_MEM_TABLE,
		       8 + k * (uint32_t)sizeof(struct vu_region), fds, k, false);
}

/*
 * Send the memory table again and make sure the back-end has applied it
 * before we go on: with REPLY_ACK fe_call() waits for the ack, otherwise a
 * GET_FEATURES round trip (messages are handled in order) is the barrier.
 */
static void fe_broken(struct vu_fe *fe);

static int fe_mem_table_sync(struct vu_fe *fe)
{
	uint64_t v;
	int ret = fe_mem_table(fe);

	if (!ret && !(fe->protocol & (1ull << VU_PF_REPLY_ACK)))
		ret = fe_get_u64(fe, VU_GET_FEATURES, &v);
	return ret;
}

static bool ring_in(uint64_t a, uint64_t len, vmm_gpa_t gpa, uint64_t size)
{
	return a < gpa + size && gpa < a + len;
}

/* Memory listener: before [gpa, gpa+size) goes, the back-end must stop
 * using it.  Refused (-EBUSY) while a running ring lives there. */
static int fe_mem_before_remove(void *opaque, vmm_gpa_t gpa, uint64_t size)
{
	struct vu_fe *fe = opaque;
	struct vmm_virtio *vd = fe->vd;
	int ret = 0;

	pthread_mutex_lock(&vd->lock);
	if (!fe->started || fe->broken)
		goto out;
	for (unsigned i = 0; i < vd->nq; i++) {
		struct vmm_vq *vq = &vd->q[i].vq;

		if (fe->ring_on[i] &&
		    (ring_in(vq->desc, 16ull * vq->size, gpa, size) ||
		     ring_in(vq->avail, 6 + 2ull * vq->size, gpa, size) ||
		     ring_in(vq->used, 6 + 8ull * vq->size, gpa, size))) {
			vmm_virtio_log(vd, VMM_LOG_ERROR, "vhost-user: queue %u's "
				       "rings are in the memory being removed", i);
			ret = -EBUSY;
			goto out;
		}
	}
	fe->excl = true;
	fe->excl_gpa = gpa;
	if (fe_mem_table_sync(fe))
		ret = -EBUSY; /* the back-end may still use it */
	fe->excl = false;
out:
	pthread_mutex_unlock(&vd->lock);
	return ret;
}

static void fe_mem_after_remove(void *opaque, vmm_gpa_t gpa, uint64_t size,
				bool removed)
{
	struct vu_fe *fe = opaque;

	if (removed)
		return;
	/* another user refused: the region stays, tell the back-end again */
	pthread_mutex_lock(&fe->vd->lock);
	if (fe->started && !fe->broken && fe_mem_table_sync(fe))
		fe_broken(fe);
	pthread_mutex_unlock(&fe->vd->lock);
}

static void fe_mem_added(void *opaque, vmm_gpa_t gpa, uint64_t size)
{
	fe_mem_after_remove(opaque, gpa, size, false);
}

/* ---- device ops (vd->lock held) ---- */

static void fe_config_read(void *be, uint32_t off, void *buf, unsigned len)
{
	struct vu_fe *fe = be;

	memcpy(buf, fe->config + off, len);
}

static void fe_queue_notify(void *be, unsigned q)
{
	/* kicks go to the back-end's process; nothing runs here */
	(void)be;
	(void)q;
}

static void fe_broken(struct vu_fe *fe)
{
	struct vmm_virtio *vd = fe->vd;

	if (vd->status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	vd->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	vd->stats.status = vd->status;
	vmm_virtio_config_changed(vd);
}

static void fe_driver_ok(void *be)
{
	struct vu_fe *fe = be;
	struct vmm_virtio *vd = fe->vd;
	int ret;

	ret = fe_set_u64(fe, VU_SET_FEATURES, vd->guest_features |
			 (fe->be_features & (1ull << VU_F_PROTOCOL_FEATURES)),
			 NULL, 0);
	if (!ret)
		ret = fe_mem_table(fe);
	for (unsigned i = 0; !ret && i < vd->nq; i++) {
		struct vmm_vq *vq = &vd->q[i].vq;
		struct vu_vring_addr *a = &fe->m.p.addr;
		uint64_t d, av, u;

		if (!vq->ready)
			continue;
		if ((ret = fe_state(fe, VU_SET_VRING_NUM, i, vq->size, false)) ||
		    (ret = gpa_to_ua(fe, vq->desc, 16ull * vq->size, &d)) ||
		    (ret = gpa_to_ua(fe, vq->avail, 6 + 2ull * vq->size, &av)) ||
		    (ret = gpa_to_ua(fe, vq->used, 6 + 8ull * vq->size, &u)))
			break;
		memset(a, 0, sizeof(*a));
		a->index = i;
		a->desc = d;
		a->avail = av;
		a->used = u;
		if ((ret = fe_call(fe, VU_SET_VRING_ADDR, sizeof(*a), NULL, 0,
				   false)) ||
		    (ret = fe_state(fe, VU_SET_VRING_BASE, i, 0, false)) ||
		    (ret = fe_set_u64(fe, VU_SET_VRING_CALL, i, &fe->call_fd[i],
				      1)) ||
		    (ret = fe_set_u64(fe, VU_SET_VRING_KICK, i,
				      &vd->q[i].kick_fd, 1)))
			break;
		if (fe->be_features & (1ull << VU_F_PROTOCOL_FEATURES))
			ret = fe_state(fe, VU_SET_VRING_ENABLE, i, 1, false);
		fe->ring_on[i] = !ret;
	}
	fe->started = true;
	if (ret) {
		vmm_virtio_log(vd, VMM_LOG_ERROR, "vhost-user back-end setup "
			       "failed: %s", vmm_strerror(ret));
		fe_broken(fe);
	}
}

static void fe_reset(void *be)
{
	struct vu_fe *fe = be;

	for (unsigned i = 0; i < fe->vd->nq; i++) {
		if (!fe->ring_on[i])
			continue;
		if (fe->be_features & (1ull << VU_F_PROTOCOL_FEATURES))
			fe_state(fe, VU_SET_VRING_ENABLE, i, 0, false);
		/* stops the ring; the back-end finishes in-flight requests */
		fe_state(fe, VU_GET_VRING_BASE, i, 0, true);
		fe->ring_on[i] = false;
	}
	fe->started = false;
}

static void fe_call_cb(void *opaque, int fd, unsigned events)
{
	struct vmm_virtio_queue *q = opaque;
	struct vmm_virtio *vd = q->vd;
	eventfd_t v;

	(void)events;
	if (eventfd_read(fd, &v) < 0)
		return;
	pthread_mutex_lock(&vd->lock);
	vd->stats.interrupts++;
	vd->t->interrupt(vd, (int)q->index);
	pthread_mutex_unlock(&vd->lock);
}

static void fe_destroy(void *be)
{
	struct vu_fe *fe = be;

	vmm__mem_listener_remove(fe->vm, &fe->ml);
	for (unsigned i = 0; i < VMM_VIRTIO_MAX_QUEUES; i++) {
		if (fe->call_watch[i])
			vmm_evloop_unwatch(fe->vd->loop, fe->call_watch[i]);
		if (fe->call_fd[i] >= 0)
			close(fe->call_fd[i]);
	}
	if (fe->sock >= 0)
		close(fe->sock);
	vmm__free(fe->vm, fe);
}

/* ---- attach ---- */

static int fe_check_memory(vmm_vm *vm)
{
	struct vmm_mem_info info[VU_MAX_REGIONS + 1];
	int n = vmm__mem_get_regions(vm, info, VU_MAX_REGIONS + 1);

	if (n <= 0)
		return vmm__err(vm, -EINVAL, "vhost-user: the VM has no RAM");
	if (n > VU_MAX_REGIONS)
		return vmm__err(vm, -E2BIG, "vhost-user: more than %d memory "
				"regions", VU_MAX_REGIONS);
	for (int i = 0; i < n; i++) {
		if (info[i].flags & VMM_MEM_READONLY)
			continue;
		/* a memfd answers F_GET_SEALS; other fds must be shared */
		if (info[i].fd < 0 ||
		    (!(info[i].flags & VMM_MEM_SHARED) &&
		     fcntl(info[i].fd, F_GET_SEALS) < 0))
			return vmm__err(vm, -EINVAL,
					"vhost-user: RAM at 0x%llx is not "
					"shareable: create guest memory with "
					"VMM_MEM_MEMFD (or VMM_MEM_FD + "
					"VMM_MEM_SHARED)",
					(unsigned long long)info[i].gpa);
	}
	return 0;
}

static int fe_connect(struct vu_fe *fe, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path))
		return vmm__err(fe->vm, -ENAMETOOLONG, "vhost-user: %s", path);
	/* a back-end that stops answering must not hang a vCPU thread
	 * forever (replies are awaited at DRIVER_OK and reset) */
	struct timeval tmo = { .tv_sec = VU_REPLY_TIMEOUT_S };

	strcpy(sa.sun_path, path);
	fe->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fe->sock < 0 ||
	    connect(fe->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return vmm__err(fe->vm, -errno, "vhost-user: %s: %s", path,
				strerror(errno));
	setsockopt(fe->sock, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo));
	setsockopt(fe->sock, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo));
	return 0;
}

static int fe_handshake(struct vu_fe *fe, unsigned nq)
{
	uint64_t pf = 0, qn;
	int ret;

	if ((ret = fe_get_u64(fe, VU_GET_FEATURES, &fe->be_features)))
		return ret;
	if (!(fe->be_features & (1ull << VIRTIO_F_VERSION_1)))
		return vmm__err(fe->vm, -ENOTSUP, "vhost-user %s: the back-end "
				"does not offer VIRTIO_F_VERSION_1",
				fe->ops.name);
	if (fe->be_features & (1ull << VU_F_PROTOCOL_FEATURES)) {
		if ((ret = fe_get_u64(fe, VU_GET_PROTOCOL_FEATURES, &pf)))
			return ret;
		pf &= (1ull << VU_PF_REPLY_ACK) | (1ull << VU_PF_CONFIG) |
		      (1ull << VU_PF_MQ);
		if ((ret = fe_set_u64(fe, VU_SET_PROTOCOL_FEATURES, pf, NULL,
				      0)))
			return ret;
		fe->protocol = pf;
	}
	if (pf & (1ull << VU_PF_MQ)) {
		if ((ret = fe_get_u64(fe, VU_GET_QUEUE_NUM, &qn)))
			return ret;
		if (qn < nq)
			return vmm__err(fe->vm, -ENOTSUP, "vhost-user %s: the "
					"back-end has %llu queues, need %u",
					fe->ops.name, (unsigned long long)qn,
					nq);
	}
	if ((ret = fe_call(fe, VU_SET_OWNER, 0, NULL, 0, false)))
		return ret;
	if (fe->ops.config_size) {
		struct vu_config *c = &fe->m.p.config;
		if (!(pf & (1ull << VU_PF_CONFIG)))
			return vmm__err(fe->vm, -ENOTSUP, "vhost-user %s: the "
					"back-end has no CONFIG protocol "
					"feature", fe->ops.name);
		memset(c, 0, sizeof(*c));
		c->size = fe->ops.config_size;
		ret = fe_call(fe, VU_GET_CONFIG, VU_CONFIG_HDR + c->size, NULL,
			      0, true);
		if (ret)
			return ret;
		if (fe->rep.hdr.size != VU_CONFIG_HDR + fe->ops.config_size ||
		    fe->rep.p.config.size != fe->ops.config_size)
			return fe_fail(fe, -EPROTO, "GET_CONFIG");
		memcpy(fe->config, fe->rep.p.config.data, fe->ops.config_size);
	}
	return 0;
}

int vmm_vhost_user_attach(vmm_vm *vm, const struct vmm_vhost_user_config *ucfg,
			  vmm_dev **out)
{
	const struct vmm_vhost_user_config *cfg = ucfg;
	struct vmm_vhost_user_config c;
	struct vu_fe *fe;
	struct vmm_virtio *vd;
	uint64_t keep;
	int ret;

	if (!vm)
		return -EINVAL;
	if (!cfg || !out)
		return vmm__err(vm, -EINVAL, "vhost-user: no socket path");
	/* defaults for an older caller: those of vmm_virtio_config_init() */
	memset(&c, 0, sizeof(c));
	vmm_virtio_config_init(&c.virtio, VMM_VIRTIO_MMIO);
	if (VMM__STRUCT_IN_V(&c, ucfg, VMM__VHOST_USER_CONFIG_V02))
		return vmm__err(vm, -EINVAL,
				"vhost-user: bad struct_size %u or unknown "
				"non-zero fields in struct vmm_vhost_user_config",
				ucfg->struct_size);
	cfg = &c;
	if (!cfg->socket_path)
		return vmm__err(vm, -EINVAL, "vhost-user: no socket path");
	if (cfg->device != VMM_VHOST_USER_BLK &&
	    cfg->device != VMM_VHOST_USER_RNG)
		return vmm__err(vm, -EINVAL, "vhost-user: device type %d",
				cfg->device);
	if ((ret = fe_check_memory(vm)))
		return ret;
	fe = vmm__alloc(vm, sizeof(*fe));
	if (!fe)
		return vmm__err(vm, -ENOMEM, "vhost-user: out of memory");
	fe->vm = vm;
	fe->sock = -1;
	for (unsigned i = 0; i < VMM_VIRTIO_MAX_QUEUES; i++)
		fe->call_fd[i] = -1;
	fe->ops = (struct vmm_virtio_dev_ops){
		.name = cfg->device == VMM_VHOST_USER_BLK ? "vhost-user-blk"
							  : "vhost-user-rng",
		.device_id = cfg->device,
		.num_queues = 1,
		.queue_dirs = { VMM_VQ_DIR_ANY },
		.config_size = cfg->device == VMM_VHOST_USER_BLK
				       ? BLK_CONFIG_SIZE : 0,
		.config_read = fe_config_read,
		.queue_notify = fe_queue_notify,
		.driver_ok = fe_driver_ok,
		.reset = fe_reset,
		/* queues and in-flight requests live in the back-end process:
		 * snapshots and migration refuse this device (docs/vhost-user.md) */
		.no_state = true,
	};
	if ((ret = fe_connect(fe, cfg->socket_path)) ||
	    (ret = fe_handshake(fe, fe->ops.num_queues)))
		goto err;
	fe->ops.features = fe->be_features & DEVICE_BITS;
	for (unsigned i = 0; i < fe->ops.num_queues; i++) {
		fe->call_fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fe->call_fd[i] < 0) {
			ret = vmm__err(vm, -errno, "vhost-user: eventfd: %s",
				       strerror(errno));
			goto err;
		}
	}
	/* on failure vmm__virtio_attach() has called fe_destroy() */
	ret = vmm__virtio_attach(vm, &cfg->virtio, &fe->ops, fe, fe_destroy,
				 out, &fe->vd);
	if (ret)
		return ret;
	vd = fe->vd;
	/* offer only what the back-end does too */
	keep = DEVICE_BITS | (1ull << VIRTIO_F_VERSION_1) |
	       (1ull << VIRTIO_RING_F_EVENT_IDX) | (1ull << VIRTIO_RING_F_INDIRECT_DESC);
	pthread_mutex_lock(&vd->lock);
	vd->host_features &= fe->be_features & keep;
	pthread_mutex_unlock(&vd->lock);
	for (unsigned i = 0; i < vd->nq; i++) {
		/* the kick eventfd is the back-end's to read */
		vmm_evloop_unwatch(vd->loop, vd->q[i].watch);
		vd->q[i].watch = NULL;
		ret = vmm_evloop_watch(vd->loop, fe->call_fd[i], fe_call_cb,
				       &vd->q[i], true, &fe->call_watch[i]);
		if (ret) {
			vmm_dev_detach(*out);
			return vmm__err(vm, ret, "vhost-user: cannot watch the "
					"call fd");
		}
	}
	fe->ml.before_remove = fe_mem_before_remove;
	fe->ml.after_remove = fe_mem_after_remove;
	fe->ml.added = fe_mem_added;
	fe->ml.opaque = fe;
	vmm__mem_listener_add(vm, &fe->ml);
	return 0;
err:
	fe_destroy(fe);
	return ret;
}
