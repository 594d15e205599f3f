/* SPDX-License-Identifier: MIT */
/*
 * virtio.c - the transport-independent virtio device (VIRTIO 1.2 chapters
 * 2 and 3): status, feature negotiation, queue enable with layout checks,
 * the device config space with bounds checks, kicks through eventfds onto
 * the event loop, interrupts through the transport, NEEDS_RESET.
 */
#include "dev/virtio/virtio_dev.h"
#include "io/evloop.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

void vmm_virtio_log(struct vmm_virtio *vd, int level, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (vd->vm)
		vmm__log(vd->vm, level, "%s: %s", vd->name, msg);
	else if (vd->log)
		vd->log(vd->log_opaque, level, msg);
}

void vmm_virtio_driver_error(struct vmm_virtio *vd, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	__atomic_add_fetch(&vd->stats.driver_errors, 1, __ATOMIC_RELAXED);
	vmm_virtio_log(vd, VMM_LOG_WARN, "driver error: %s", msg);
}

/* ---- guest memory of a VM ---- */

static int vm_read(void *opaque, uint64_t gpa, void *buf, size_t len)
{
	return vmm_mem_read(opaque, gpa, buf, len);
}

static int vm_write(void *opaque, uint64_t gpa, const void *buf, size_t len)
{
	return vmm_mem_write(opaque, gpa, buf, len);
}

static int vm_iovec(void *opaque, uint64_t gpa, size_t len, bool for_write,
		    struct iovec *iov, int max)
{
	return vmm_mem_iovec(opaque, gpa, len, for_write, iov, max);
}

static void vm_dirty(void *opaque, const struct iovec *iov, unsigned n)
{
	vmm__mem_dirty_host(opaque, iov, n);
}

/* Direct ring access: safe because memory removal freezes every device
 * (mem_before_remove) before it unmaps anything, and a device touches its
 * rings only while not frozen; the layout generation tells the queue when
 * to translate again. */
static void *vm_map(void *opaque, uint64_t gpa, size_t len, void **tok)
{
	return vmm__mem_map(opaque, gpa, len, tok);
}

static void vm_wrote(void *opaque, void *tok, const void *p, size_t len)
{
	vmm__mem_wrote(opaque, tok, p, len);
}

void vmm_vq_mem_vm(struct vmm_vq_mem *mem, vmm_vm *vm)
{
	mem->read = vm_read;
	mem->write = vm_write;
	mem->iovec = vm_iovec;
	mem->dirty = vm_dirty;
	mem->opaque = vm;
	mem->map = vm_map;
	mem->wrote = vm_wrote;
	mem->gen = vmm__mem_gen(vm);
}

/* ---- kicks ---- */

static void kick_cb(void *opaque, int fd, unsigned events)
{
	struct vmm_virtio_queue *q = opaque;
	struct vmm_virtio *vd = q->vd;
	eventfd_t v;

	if (eventfd_read(fd, &v) < 0)
		return;
	pthread_mutex_lock(&vd->lock);
	vd->stats.kicks += v;
	if (vd->status & VIRTIO_CONFIG_S_NEEDS_RESET) {
		/* ignored until the driver resets the device */
	} else if (vd->frozen) {
		/* saved state: vmm__virtio_thaw() looks at the rings again */
	} else if (!(vd->status & VIRTIO_CONFIG_S_DRIVER_OK)) {
		vmm_virtio_driver_error(vd, "notify of queue %u before DRIVER_OK",
					q->index);
	} else if (!q->vq.ready) {
		vmm_virtio_driver_error(vd, "notify of disabled queue %u",
					q->index);
	} else {
		vd->ops->queue_notify(vd->be, q->index);
	}
	pthread_mutex_unlock(&vd->lock);
}

void vmm_virtio_kick(struct vmm_virtio *vd, uint32_t q)
{
	if (q >= vd->nq) {
		vmm_virtio_driver_error(vd, "notify of queue %u (device has %u)",
					q, vd->nq);
		return;
	}
	if (eventfd_write(vd->q[q].kick_fd, 1) < 0) {
		/* cannot overflow with one per write */
	}
}

/* ---- lifecycle ---- */

/* Guest memory is about to lose [gpa, gpa+size): stop starting requests
 * and wait for those in flight (their iovecs point into guest memory). */
static int mem_before_remove(void *opaque, vmm_gpa_t gpa, uint64_t size)
{
	struct vmm_virtio *vd = opaque;

	pthread_mutex_lock(&vd->lock);
	vd->mem_was_frozen = vd->frozen;
	vmm__virtio_freeze(vd);
	vd->stats.mem_drains++;
	pthread_mutex_unlock(&vd->lock);
	if (vd->ops->mem_change)
		vd->ops->mem_change(vd->be);
	return 0;
}

static void mem_after_remove(void *opaque, vmm_gpa_t gpa, uint64_t size,
			     bool removed)
{
	struct vmm_virtio *vd = opaque;

	pthread_mutex_lock(&vd->lock);
	if (!vd->mem_was_frozen)
		vmm__virtio_thaw(vd);
	pthread_mutex_unlock(&vd->lock);
}

int vmm_virtio_init(struct vmm_virtio *vd, vmm_vm *vm,
		    const struct vmm_virtio_dev_ops *ops, void *be,
		    struct vmm_evloop *loop, const struct vmm_vq_mem *mem,
		    uint32_t flags, uint16_t queue_max)
{
	unsigned i;
	int ret = 0;

	if (!ops || ops->num_queues == 0 ||
	    ops->num_queues > VMM_VIRTIO_MAX_QUEUES || !queue_max ||
	    (queue_max & (queue_max - 1)) || queue_max > VMM_VQ_MAX_SIZE)
		return -EINVAL;
	vd->vm = vm;
	vd->ops = ops;
	vd->be = be;
	vd->loop = loop;
	vd->mem = *mem;
	vd->nq = ops->num_queues;
	if (!vd->name[0])
		snprintf(vd->name, sizeof(vd->name), "virtio-%s", ops->name);
	vd->host_features = ops->features | (1ull << VIRTIO_F_VERSION_1);
	if (!(flags & VMM_VIRTIO_NO_EVENT_IDX))
		vd->host_features |= 1ull << VIRTIO_RING_F_EVENT_IDX;
	if (!(flags & VMM_VIRTIO_NO_INDIRECT))
		vd->host_features |= 1ull << VIRTIO_RING_F_INDIRECT_DESC;
	if (flags & VMM_VIRTIO_PACKED)
		vd->host_features |= 1ull << VIRTIO_F_RING_PACKED;
	vd->config_msix = VIRTIO_MSI_NO_VECTOR;
	vd->stats.device_id = ops->device_id;
	pthread_mutex_init(&vd->lock, NULL);
	pthread_cond_init(&vd->cond, NULL);
	for (i = 0; i < vd->nq; i++) {
		struct vmm_virtio_queue *q = &vd->q[i];

		q->vd = vd;
		q->index = i;
		q->size_max = queue_max;
		q->vq.mem = &vd->mem;
		q->vq.dirs = ops->queue_dirs[i] ? ops->queue_dirs[i]
						: VMM_VQ_DIR_ANY;
		q->vq.size = queue_max;
		q->msix_vector = VIRTIO_MSI_NO_VECTOR;
		q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (q->kick_fd < 0) {
			ret = -errno;
			break;
		}
		q->own_kick_fd = true;
		ret = vmm_evloop_watch(loop, q->kick_fd, kick_cb, q, true,
				       &q->watch);
		if (ret) {
			close(q->kick_fd);
			break;
		}
	}
	if (ret) {
		while (i--) {
			vmm_evloop_unwatch(loop, vd->q[i].watch);
			close(vd->q[i].kick_fd);
		}
		pthread_mutex_destroy(&vd->lock);
		pthread_cond_destroy(&vd->cond);
		return ret;
	}
	if (vm) {
		vd->mem_listener.before_remove = mem_before_remove;
		vd->mem_listener.after_remove = mem_after_remove;
		vd->mem_listener.opaque = vd;
		vmm__mem_listener_add(vm, &vd->mem_listener);
	}
	return 0;
}

static void do_reset(struct vmm_virtio *vd)
{
	if (vd->ops->reset)
		vd->ops->reset(vd->be);
	for (unsigned i = 0; i < vd->nq; i++) {
		struct vmm_virtio_queue *q = &vd->q[i];

		vmm_vq_reset(&q->vq);
		q->vq.size = q->size_max;
		q->msix_vector = VIRTIO_MSI_NO_VECTOR;
	}
	vd->status = 0;
	vd->isr = 0;
	vd->guest_features = 0;
	vd->dev_feat_sel = vd->drv_feat_sel = 0;
	vd->queue_sel = 0;
	vd->config_msix = VIRTIO_MSI_NO_VECTOR;
}

void vmm_virtio_fini(struct vmm_virtio *vd)
{
	if (vd->vm)
		vmm__mem_listener_remove(vd->vm, &vd->mem_listener);
	pthread_mutex_lock(&vd->lock);
	do_reset(vd);
	pthread_mutex_unlock(&vd->lock);
	for (unsigned i = 0; i < vd->nq; i++) {
		vmm_evloop_unwatch(vd->loop, vd->q[i].watch);
		if (vd->q[i].own_kick_fd)
			close(vd->q[i].kick_fd);
	}
	pthread_mutex_destroy(&vd->lock);
	pthread_cond_destroy(&vd->cond);
}

/* ---- registers ---- */

uint32_t vmm_virtio_get_dev_features(struct vmm_virtio *vd)
{
	if (vd->dev_feat_sel > 1)
		return 0;
	return (uint32_t)(vd->host_features >> (32 * vd->dev_feat_sel));
}

uint32_t vmm_virtio_get_drv_features(struct vmm_virtio *vd)
{
	if (vd->drv_feat_sel > 1)
		return 0;
	return (uint32_t)(vd->guest_features >> (32 * vd->drv_feat_sel));
}

void vmm_virtio_set_drv_features(struct vmm_virtio *vd, uint32_t v)
{
	unsigned sh;

	if (vd->status & VIRTIO_CONFIG_S_FEATURES_OK) {
		vmm_virtio_driver_error(vd, "feature write after FEATURES_OK");
		return;
	}
	if (vd->drv_feat_sel > 1) {
		if (v)
			vmm_virtio_driver_error(vd, "features word %u = 0x%x",
						vd->drv_feat_sel, v);
		return;
	}
	sh = 32 * vd->drv_feat_sel;
	vd->guest_features = (vd->guest_features & ~(0xffffffffull << sh)) |
			     ((uint64_t)v << sh);
}

void vmm_virtio_set_status(struct vmm_virtio *vd, uint8_t v)
{
	uint8_t old = vd->status;

	if (v == 0) {
		do_reset(vd);
		return;
	}
	if ((old & ~VIRTIO_CONFIG_S_NEEDS_RESET) & ~v)
		vmm_virtio_driver_error(vd, "status 0x%x clears bits of 0x%x",
					v, old);
	v |= old & ~VIRTIO_CONFIG_S_NEEDS_RESET;
	v &= ~VIRTIO_CONFIG_S_NEEDS_RESET; /* device-owned */
	if ((v & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    !(old & VIRTIO_CONFIG_S_FEATURES_OK)) {
		uint64_t extra = vd->guest_features & ~vd->host_features;

		if (extra) {
			vmm_virtio_driver_error(vd, "driver accepted features "
						"0x%llx the device did not offer",
						(unsigned long long)extra);
			v &= ~VIRTIO_CONFIG_S_FEATURES_OK;
		} else if (!(vd->guest_features &
			     (1ull << VIRTIO_F_VERSION_1))) {
			vmm_virtio_driver_error(vd, "legacy driver: "
						"VIRTIO_F_VERSION_1 not accepted");
			v &= ~VIRTIO_CONFIG_S_FEATURES_OK;
		}
	}
	if ((v & VIRTIO_CONFIG_S_DRIVER_OK) && !(old & VIRTIO_CONFIG_S_DRIVER_OK) &&
	    !(v & VIRTIO_CONFIG_S_FEATURES_OK)) {
		vmm_virtio_driver_error(vd, "DRIVER_OK without FEATURES_OK");
		v &= ~VIRTIO_CONFIG_S_DRIVER_OK;
	}
	vd->status = v | (old & VIRTIO_CONFIG_S_NEEDS_RESET);
	vd->stats.status = vd->status;
	vd->stats.features = vd->guest_features;
	if ((v & VIRTIO_CONFIG_S_DRIVER_OK) && !(old & VIRTIO_CONFIG_S_DRIVER_OK)) {
		if (vd->ops->driver_ok)
			vd->ops->driver_ok(vd->be);
		/* buffers made available before DRIVER_OK: look at them */
		for (unsigned i = 0; i < vd->nq; i++)
			if (vd->q[i].vq.ready)
				vmm_virtio_kick(vd, i);
	}
}

struct vmm_virtio_queue *vmm_virtio_sel(struct vmm_virtio *vd)
{
	return vd->queue_sel < vd->nq ? &vd->q[vd->queue_sel] : NULL;
}

void vmm_virtio_queue_enable(struct vmm_virtio *vd, struct vmm_virtio_queue *q,
			     bool on)
{
	if (!on) {
		if (q->vq.ready)
			vmm_virtio_driver_error(vd, "queue %u disabled without "
						"reset", q->index);
		q->vq.ready = false;
		return;
	}
	if (q->vq.ready)
		return;
	if (!(vd->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
		vmm_virtio_driver_error(vd, "queue %u enabled before FEATURES_OK",
					q->index);
		return;
	}
	q->vq.event_idx = vd->guest_features & (1ull << VIRTIO_RING_F_EVENT_IDX);
	q->vq.indirect = vd->guest_features & (1ull << VIRTIO_RING_F_INDIRECT_DESC);
	q->vq.packed = vd->guest_features & (1ull << VIRTIO_F_RING_PACKED);
	q->vq.broken = false;
	if (q->vq.size > q->size_max) {
		snprintf(q->vq.err, sizeof(q->vq.err),
			 "queue size %u larger than the maximum %u", q->vq.size,
			 q->size_max);
		q->vq.broken = true;
	} else {
		vmm_vq_check_layout(&q->vq);
	}
	if (q->vq.broken) {
		vmm_virtio_queue_error(vd, q->index);
		return;
	}
	q->vq.last_avail = q->vq.used_idx = 0;
	/* packed: both wrap counters start at 1 (2.8.1) */
	q->vq.avail_wrap = q->vq.used_wrap = true;
	q->vq.signalled_valid = false;
	q->vq.ready = true;
}

void vmm_virtio_config_read(struct vmm_virtio *vd, uint32_t off, void *buf,
			    unsigned len)
{
	uint32_t size = vd->ops->config_size;

	memset(buf, 0, len);
	if (off >= size || len > size - off) {
		vmm_virtio_driver_error(vd, "config read 0x%x+%u beyond %u bytes",
					off, len, size);
		if (off >= size)
			return;
		len = size - off;
	}
	if (vd->ops->config_read)
		vd->ops->config_read(vd->be, off, buf, len);
}

void vmm_virtio_config_write(struct vmm_virtio *vd, uint32_t off,
			     const void *buf, unsigned len)
{
	uint32_t size = vd->ops->config_size;

	if (off >= size || len > size - off) {
		vmm_virtio_driver_error(vd, "config write 0x%x+%u beyond %u bytes "
					"dropped", off, len, size);
		return;
	}
	if (vd->ops->config_write)
		vd->ops->config_write(vd->be, off, buf, len);
	else
		vmm_virtio_driver_error(vd, "write to read-only config 0x%x", off);
}

/* ---- for back-ends ---- */

void vmm_virtio_notify_queue(struct vmm_virtio *vd, unsigned q)
{
	if (!vmm_vq_need_interrupt(&vd->q[q].vq))
		return;
	vd->stats.interrupts++;
	vd->t->interrupt(vd, (int)q);
}

void vmm_virtio_queue_error(struct vmm_virtio *vd, unsigned q)
{
	vd->stats.queue_errors++;
	vmm_virtio_log(vd, VMM_LOG_ERROR, "queue %u broken, device needs reset: %s",
		       q, vd->q[q].vq.err);
	if (vd->status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	vd->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	vd->stats.status = vd->status;
	if (vd->status & VIRTIO_CONFIG_S_DRIVER_OK)
		vmm_virtio_config_changed(vd);
}

void vmm_virtio_config_changed(struct vmm_virtio *vd)
{
	vd->config_gen++;
	vd->stats.interrupts++;
	vd->t->interrupt(vd, -1);
}

/* ---- common attach ---- */

int vmm__virtio_attach(vmm_vm *vm, const struct vmm_virtio_config *cfg,
		       const struct vmm_virtio_dev_ops *ops, void *be,
		       void (*be_destroy)(void *be), vmm_dev **out,
		       struct vmm_virtio **vd_out)
{
	struct vmm_virtio *vd;
	struct vmm_evloop *loop;
	struct vmm_vq_mem mem;
	uint16_t qmax;
	int ret;

	qmax = cfg->queue_size ? cfg->queue_size : 256;
	if ((qmax & (qmax - 1)) || qmax > 1024) {
		ret = vmm__err(vm, -EINVAL, "virtio-%s: queue size %u not a "
			       "power of two <= 1024", ops->name, qmax);
		goto err_be;
	}
	if (cfg->transport != VMM_VIRTIO_MMIO && cfg->transport != VMM_VIRTIO_PCI) {
		ret = vmm__err(vm, -EINVAL, "virtio-%s: bad transport %d",
			       ops->name, cfg->transport);
		goto err_be;
	}
	loop = vmm__vm_evloop(vm);
	if (!loop) {
		ret = -ENOMEM;
		goto err_be;
	}
	vd = vmm__alloc(vm, sizeof(*vd));
	if (!vd) {
		ret = vmm__err(vm, -ENOMEM, "virtio-%s: out of memory", ops->name);
		goto err_be;
	}
	if (vd_out)
		*vd_out = vd; /* before init: the back-end's reset uses it */
	vmm_vq_mem_vm(&mem, vm);
	if (cfg->transport == VMM_VIRTIO_MMIO)
		snprintf(vd->name, sizeof(vd->name), "virtio-%s@0x%llx",
			 ops->name, (unsigned long long)cfg->mmio_base);
	else
		snprintf(vd->name, sizeof(vd->name), "virtio-%s-pci", ops->name);
	ret = vmm_virtio_init(vd, vm, ops, be, loop, &mem, cfg->flags, qmax);
	if (ret) {
		vmm__err(vm, ret, "%s: %s", vd->name, vmm_strerror(ret));
		vmm__free(vm, vd);
		goto err_be;
	}
	if (cfg->transport == VMM_VIRTIO_MMIO)
		return vmm__virtio_mmio_attach(vm, vd, cfg, be_destroy, out);
	return vmm__virtio_pci_attach(vm, vd, cfg, be_destroy, out);

err_be:
	be_destroy(be);
	return ret;
}

static void noop(void *opaque)
{
}

void vmm__virtio_sync(vmm_dev *dev)
{
	struct vmm_virtio *vd = vmm__virtio_of(dev);

	if (!vd)
		return;
	/*
	 * Explicit drain, no sleeping: (1) a call on the loop thread is a
	 * barrier — every kick callback the loop had seen has run, so its
	 * requests are counted in flight; (2) the device's drain op waits
	 * until nothing is in flight (completions are in the used ring);
	 * (3) a kick eventfd still readable is a kick the loop has not
	 * picked up yet: go round again.
	 */
	for (;;) {
		bool pending = false;

		vmm_evloop_call(vd->loop, noop, NULL);
		pthread_mutex_lock(&vd->lock);
		if (vd->ops->drain)
			vd->ops->drain(vd->be);
		pthread_mutex_unlock(&vd->lock);
		for (unsigned i = 0; i < vd->nq; i++) {
			struct pollfd p = { .fd = vd->q[i].kick_fd,
					    .events = POLLIN };

			if (vd->q[i].watch && vd->q[i].kick_fd >= 0 &&
			    poll(&p, 1, 0) == 1)
				pending = true;
		}
		if (!pending)
			break;
	}
}

int vmm_virtio_get_stats(vmm_dev *dev, struct vmm_virtio_stats *ust)
{
	struct vmm_virtio *vd = vmm__virtio_of(dev);
	struct vmm_virtio_stats s, *st = &s;

	if (!vd || !ust)
		return -EINVAL;
	pthread_mutex_lock(&vd->lock);
	*st = vd->stats;
	st->status = vd->status;
	st->features = vd->guest_features;
	pthread_mutex_unlock(&vd->lock);
	st->struct_size = sizeof(*st);
	return vmm__struct_out(ust, &s, sizeof(s), VMM__VIRTIO_STATS_V02);
}

void vmm_virtio_config_init(struct vmm_virtio_config *cfg,
			    enum vmm_virtio_transport transport)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->struct_size = sizeof(*cfg);
	cfg->transport = transport;
	cfg->irq = -1;
	cfg->pci_slot = -1;
}

struct vmm_virtio *vmm__virtio_mmio_of(vmm_dev *dev);
struct vmm_virtio *vmm__virtio_pci_of(vmm_dev *dev);

struct vmm_virtio *vmm__virtio_of(vmm_dev *dev)
{
	struct vmm_virtio *vd = vmm__virtio_mmio_of(dev);

	return vd ? vd : vmm__virtio_pci_of(dev);
}
