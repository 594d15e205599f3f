/* SPDX-License-Identifier: MIT */
/*
 * mmio.c - the virtio-mmio transport, version 2 (VIRTIO 1.2, 4.2): a 4 KiB
 * register window at a page-aligned guest-physical address and a
 * level-triggered interrupt line.
 *
 * Control registers (below 0x100) take only aligned 32-bit accesses; other
 * widths read 0 / are dropped and logged.  The device config space at 0x100
 * takes 1, 2, 4 and 8-byte accesses.  QueueNotify writes become an eventfd
 * signal: in the kernel (KVM ioeventfd with datamatch = queue index) or
 * from the write handler here.
 */
#include "dev/virtio/virtio_dev.h"
#include "dev/direct.h"
#include "core/statebuf.h"

#include <stdio.h>
#include <string.h>

#define MMIO_SIZE 0x1000
#define MMIO_MAGIC 0x74726976 /* "virt": the kernel names no value */
#define MMIO_VENDOR 0x4d4d564c /* "LVMM" */

/* Register offsets: the kernel's (<linux/virtio_mmio.h>, via
 * virtio_dev.h) under short names.  QueueReset (VIRTIO 1.2 4.2.2, 0x0c0)
 * is newer than the kernel headers we build with (6.1 has no
 * VIRTIO_MMIO_QUEUE_RESET): ours. */
enum {
	R_MAGIC = VIRTIO_MMIO_MAGIC_VALUE, R_VERSION = VIRTIO_MMIO_VERSION,
	R_DEVICE_ID = VIRTIO_MMIO_DEVICE_ID, R_VENDOR_ID = VIRTIO_MMIO_VENDOR_ID,
	R_DEV_FEAT = VIRTIO_MMIO_DEVICE_FEATURES,
	R_DEV_FEAT_SEL = VIRTIO_MMIO_DEVICE_FEATURES_SEL,
	R_DRV_FEAT = VIRTIO_MMIO_DRIVER_FEATURES,
	R_DRV_FEAT_SEL = VIRTIO_MMIO_DRIVER_FEATURES_SEL,
	R_QUEUE_SEL = VIRTIO_MMIO_QUEUE_SEL,
	R_QUEUE_NUM_MAX = VIRTIO_MMIO_QUEUE_NUM_MAX,
	R_QUEUE_NUM = VIRTIO_MMIO_QUEUE_NUM,
	R_QUEUE_READY = VIRTIO_MMIO_QUEUE_READY,
	R_QUEUE_NOTIFY = VIRTIO_MMIO_QUEUE_NOTIFY,
	R_INT_STATUS = VIRTIO_MMIO_INTERRUPT_STATUS,
	R_INT_ACK = VIRTIO_MMIO_INTERRUPT_ACK, R_STATUS = VIRTIO_MMIO_STATUS,
	R_DESC_LO = VIRTIO_MMIO_QUEUE_DESC_LOW,
	R_DESC_HI = VIRTIO_MMIO_QUEUE_DESC_HIGH,
	R_DRIVER_LO = VIRTIO_MMIO_QUEUE_AVAIL_LOW,
	R_DRIVER_HI = VIRTIO_MMIO_QUEUE_AVAIL_HIGH,
	R_DEVICE_LO = VIRTIO_MMIO_QUEUE_USED_LOW,
	R_DEVICE_HI = VIRTIO_MMIO_QUEUE_USED_HIGH,
	R_SHM_SEL = VIRTIO_MMIO_SHM_SEL, R_SHM_LEN_LO = VIRTIO_MMIO_SHM_LEN_LOW,
	R_SHM_LEN_HI = VIRTIO_MMIO_SHM_LEN_HIGH,
	R_SHM_BASE_LO = VIRTIO_MMIO_SHM_BASE_LOW,
	R_SHM_BASE_HI = VIRTIO_MMIO_SHM_BASE_HIGH,
	R_QUEUE_RESET = 0x0c0,
	R_CONFIG_GEN = VIRTIO_MMIO_CONFIG_GENERATION,
	R_CONFIG = VIRTIO_MMIO_CONFIG,
};

struct virtio_mmio {
	vmm_vm *vm;
	struct vmm_virtio *vd;
	void (*be_destroy)(void *be);
	uint64_t base;
	int irq;
	int level;
	bool ioeventfd;
};

void vmm__virtio_mmio_destroy(void *priv);

static void mmio_update_irq(struct virtio_mmio *m)
{
	int level = m->vd->isr ? 1 : 0;

	if (m->irq < 0 || level == m->level)
		return;
	m->level = level;
	vmm_irq_set_line(m->vm, (uint32_t)m->irq, level);
}

static void mmio_interrupt(struct vmm_virtio *vd, int q)
{
	struct virtio_mmio *m = vd->t_priv;

	vd->isr |= q < 0 ? VIRTIO_MMIO_INT_CONFIG : VIRTIO_MMIO_INT_VRING;
	mmio_update_irq(m);
}

static const struct vmm_virtio_transport_ops mmio_transport = {
	.interrupt = mmio_interrupt,
};

static uint64_t *queue_addr(struct vmm_virtio_queue *q, uint64_t off)
{
	switch (off & ~7ull) {
	case R_DESC_LO:
		return &q->vq.desc;
	case R_DRIVER_LO:
		return &q->vq.avail;
	case R_DEVICE_LO:
		return &q->vq.used;
	}
	return NULL;
}

static uint32_t mmio_reg_read(struct virtio_mmio *m, uint64_t off)
{
	struct vmm_virtio *vd = m->vd;
	struct vmm_virtio_queue *q = vmm_virtio_sel(vd);

	switch (off) {
	case R_MAGIC:
		return MMIO_MAGIC;
	case R_VERSION:
		return 2;
	case R_DEVICE_ID:
		return vd->ops->device_id;
	case R_VENDOR_ID:
		return MMIO_VENDOR;
	case R_DEV_FEAT:
		return vmm_virtio_get_dev_features(vd);
	case R_DEV_FEAT_SEL:
		return vd->dev_feat_sel;
	case R_DRV_FEAT:
		return vmm_virtio_get_drv_features(vd);
	case R_DRV_FEAT_SEL:
		return vd->drv_feat_sel;
	case R_QUEUE_SEL:
		return vd->queue_sel;
	case R_QUEUE_NUM_MAX:
		return q ? q->size_max : 0;
	case R_QUEUE_NUM:
		return q ? q->vq.size : 0;
	case R_QUEUE_READY:
		return q ? q->vq.ready : 0;
	case R_INT_STATUS:
		return vd->isr;
	case R_STATUS:
		return vd->status;
	case R_DESC_LO: case R_DESC_HI: case R_DRIVER_LO: case R_DRIVER_HI:
	case R_DEVICE_LO: case R_DEVICE_HI:
		return q ? (uint32_t)(*queue_addr(q, off) >> (off & 4 ? 32 : 0)) : 0;
	case R_SHM_LEN_LO: case R_SHM_LEN_HI: case R_SHM_BASE_LO:
	case R_SHM_BASE_HI:
		return 0xffffffffu; /* no shared memory regions */
	case R_CONFIG_GEN:
		return vd->config_gen;
	}
	return 0;
}

static void mmio_reg_write(struct virtio_mmio *m, uint64_t off, uint32_t v)
{
	struct vmm_virtio *vd = m->vd;
	struct vmm_virtio_queue *q = vmm_virtio_sel(vd);

	switch (off) {
	case R_DEV_FEAT_SEL:
		vd->dev_feat_sel = v;
		return;
	case R_DRV_FEAT:
		vmm_virtio_set_drv_features(vd, v);
		return;
	case R_DRV_FEAT_SEL:
		vd->drv_feat_sel = v;
		return;
	case R_QUEUE_SEL:
		vd->queue_sel = (uint16_t)(v > 0xffff ? 0xffff : v);
		return;
	case R_INT_ACK:
		vd->isr &= ~v;
		mmio_update_irq(m);
		return;
	case R_STATUS:
		vmm_virtio_set_status(vd, (uint8_t)v);
		mmio_update_irq(m);
		return;
	case R_SHM_SEL:
		return;
	case R_QUEUE_NUM: case R_QUEUE_READY: case R_DESC_LO: case R_DESC_HI:
	case R_DRIVER_LO: case R_DRIVER_HI: case R_DEVICE_LO: case R_DEVICE_HI:
	case R_QUEUE_RESET:
		break;
	default:
		vmm_virtio_driver_error(vd, "write 0x%x to read-only or unknown "
					"register 0x%llx", v,
					(unsigned long long)off);
		return;
	}
	if (!q) {
		vmm_virtio_driver_error(vd, "queue register 0x%llx with queue_sel "
					"%u (device has %u)",
					(unsigned long long)off, vd->queue_sel,
					vd->nq);
		return;
	}
	if (off == R_QUEUE_READY) {
		vmm_virtio_queue_enable(vd, q, v & 1);
		mmio_update_irq(m);
		return;
	}
	if (off == R_QUEUE_RESET) {
		vmm_virtio_driver_error(vd, "queue reset not offered");
		return;
	}
	if (q->vq.ready) {
		vmm_virtio_driver_error(vd, "queue %u reconfigured while enabled",
					q->index);
		return;
	}
	if (off == R_QUEUE_NUM) {
		/* checked (power of two, <= max) when the queue is enabled */
		q->vq.size = (uint16_t)(v > 0xffff ? 0 : v);
		if (v > 0xffff)
			vmm_virtio_driver_error(vd, "queue size %u", v);
		return;
	}
	uint64_t *a = queue_addr(q, off);
	if (off & 4)
		*a = (*a & 0xffffffffull) | ((uint64_t)v << 32);
	else
		*a = (*a & ~0xffffffffull) | v;
}

static int mmio_read(void *opaque, uint64_t off, void *data, unsigned size,
		     struct vmm_io_ctx *ctx)
{
	struct virtio_mmio *m = opaque;
	struct vmm_virtio *vd = m->vd;

	memset(data, 0, size);
	if (off >= MMIO_SIZE || size > MMIO_SIZE - off)
		return 0;
	pthread_mutex_lock(&vd->lock);
	if (off >= R_CONFIG) {
		vmm_virtio_config_read(vd, (uint32_t)(off - R_CONFIG), data, size);
	} else if (size != 4 || (off & 3)) {
		vmm_virtio_driver_error(vd, "%u-byte read of register 0x%llx",
					size, (unsigned long long)off);
	} else {
		vmm__le_put(data, 4, mmio_reg_read(m, off));
	}
	pthread_mutex_unlock(&vd->lock);
	return 0;
}

static int mmio_write(void *opaque, uint64_t off, const void *data,
		      unsigned size, struct vmm_io_ctx *ctx)
{
	struct virtio_mmio *m = opaque;
	struct vmm_virtio *vd = m->vd;

	if (off >= MMIO_SIZE || size > MMIO_SIZE - off)
		return 0;
	if (off == R_QUEUE_NOTIFY && size == 4) {
		/* no lock: the eventfd is the hand-off to the loop */
		vmm_virtio_kick(vd, (uint32_t)vmm__le_get(data, 4));
		return 0;
	}
	pthread_mutex_lock(&vd->lock);
	if (off >= R_CONFIG) {
		vmm_virtio_config_write(vd, (uint32_t)(off - R_CONFIG), data, size);
		mmio_update_irq(m);
	} else if (size != 4 || (off & 3)) {
		vmm_virtio_driver_error(vd, "%u-byte write of register 0x%llx",
					size, (unsigned long long)off);
	} else {
		mmio_reg_write(m, off, (uint32_t)vmm__le_get(data, 4));
	}
	pthread_mutex_unlock(&vd->lock);
	return 0;
}

static const struct vmm_io_ops mmio_ops = {
	.read = mmio_read,
	.write = mmio_write,
};

static void mmio_ioeventfd_del(struct virtio_mmio *m, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		vmm_ioeventfd_remove(m->vm, VMM_SPACE_MMIO,
				     m->base + R_QUEUE_NOTIFY, 4, i,
				     VMM_IOEVENTFD_DATAMATCH,
				     m->vd->q[i].kick_fd);
}

static void mmio_ioeventfd_add(struct virtio_mmio *m, uint32_t flags)
{
	unsigned i;

	if ((flags & VMM_VIRTIO_NO_IOEVENTFD) ||
	    !(vmm_vm_caps(m->vm) & VMM_CAP_IOEVENTFD))
		return;
	for (i = 0; i < m->vd->nq; i++) {
		if (vmm_ioeventfd_add(m->vm, VMM_SPACE_MMIO,
				      m->base + R_QUEUE_NOTIFY, 4, i,
				      VMM_IOEVENTFD_DATAMATCH,
				      m->vd->q[i].kick_fd) < 0)
			break;
	}
	if (i < m->vd->nq) {
		vmm_virtio_log(m->vd, VMM_LOG_INFO,
			       "no ioeventfd, queue notifies exit to user space");
		mmio_ioeventfd_del(m, i);
		return;
	}
	m->ioeventfd = true;
	m->vd->stats.ioeventfd = true;
}

/* ---- snapshot state, version 1 (docs/snapshot-format.md) ----
 * u32 transport (1 = mmio), then the virtio core state (state.c).  Saving
 * freezes the device (in-flight requests drained first); the snapshot code
 * thaws it (state_resume) once memory is saved too. */
#define MMIO_STATE_VERSION 1
#define STATE_MMIO 1

static int mmio_save(void *priv, struct vmm_sbuf *b)
{
	struct virtio_mmio *m = priv;

	pthread_mutex_lock(&m->vd->lock);
	vmm__virtio_freeze(m->vd);
	vmm__sb_u32(b, STATE_MMIO);
	vmm__virtio_save_core(m->vd, b);
	pthread_mutex_unlock(&m->vd->lock);
	return vmm__sb_error(b);
}

/*
 * Is @r exactly what mmio_save() would write now?  Then @s gets the
 * current state (vmm__virtio_capture_core(): no validation needed) and
 * the restore applies it as it would a parsed one.  A snapshot reset
 * (vmm_snapshot_reset) restores every device; most of them are unchanged
 * since the last one, and validating their queues against guest memory
 * was most of the reset's cost.  Compared, not tracked: whatever changed
 * the device (bus access, I/O thread, host API) shows in its state.
 */
static bool mmio_same(struct virtio_mmio *m, const struct vmm_sreader *r,
		      struct vmm__virtio_saved *s)
{
	struct vmm_sbuf b;
	bool same;

	vmm__sb_init(&b, m->vm);
	pthread_mutex_lock(&m->vd->lock);
	vmm__sb_u32(&b, STATE_MMIO);
	vmm__virtio_save_core(m->vd, &b);
	same = vmm__sb_equals_rest(&b, r);
	if (same)
		vmm__virtio_capture_core(m->vd, s);
	pthread_mutex_unlock(&m->vd->lock);
	vmm__sb_free(&b);
	return same;
}

static void mmio_state_resume(void *priv)
{
	struct virtio_mmio *m = priv;

	pthread_mutex_lock(&m->vd->lock);
	vmm__virtio_thaw(m->vd);
	pthread_mutex_unlock(&m->vd->lock);
}

static int mmio_restore(void *priv, uint32_t version, struct vmm_sreader *r)
{
	struct virtio_mmio *m = priv;
	struct vmm_virtio *vd = m->vd;
	struct vmm__virtio_saved *s;
	char err[200] = "";
	int ret = -EINVAL;

	if (version != MMIO_STATE_VERSION)
		return vmm__err(m->vm, -ENOTSUP, "%s: state version %u", vd->name,
				version);
	s = vmm__alloc(m->vm, sizeof(*s));
	if (!s)
		return vmm__err(m->vm, -ENOMEM, "%s: out of memory", vd->name);
	if (mmio_same(m, r, s))
		; /* the device's own state: applied unchecked */
	else if (vmm__sr_u32(r) != STATE_MMIO)
		snprintf(err, sizeof(err), "%s", vmm__sr_ok(r) ? "not the state "
			 "of a virtio-mmio device" : "state truncated");
	else if (!vmm__virtio_parse_core(vd, r, 0, s, err, sizeof(err)) &&
		 !vmm__sr_done(r))
		snprintf(err, sizeof(err), "%zu bytes after the state",
			 vmm__sr_left(r));
	if (!err[0]) {
		pthread_mutex_lock(&vd->lock);
		vmm__virtio_freeze(vd);
		vmm__virtio_apply_core(vd, s);
		m->level = -1; /* drive the line from the restored ISR */
		mmio_update_irq(m);
		vmm__virtio_thaw(vd);
		pthread_mutex_unlock(&vd->lock);
		ret = 0;
	}
	vmm__free(m->vm, s);
	if (ret)
		return vmm__err(m->vm, ret, "%s: invalid saved state: %s",
				vd->name, err);
	return 0;
}

int vmm__virtio_mmio_attach(vmm_vm *vm, struct vmm_virtio *vd,
			    const struct vmm_virtio_config *cfg,
			    void (*be_destroy)(void *be), vmm_dev **out)
{
	struct virtio_mmio *m;
	vmm_dev *dev;
	int ret;

	if (!cfg->mmio_base || (cfg->mmio_base & (VMM_PAGE_SIZE - 1)) ||
	    cfg->mmio_base + MMIO_SIZE < cfg->mmio_base || cfg->irq < -1 ||
	    cfg->irq > 255) {
		ret = vmm__err(vm, -EINVAL, "%s: bad MMIO base 0x%llx or irq %d",
			       vd->name, (unsigned long long)cfg->mmio_base,
			       cfg->irq);
		goto err_vd;
	}
	if (vmm_mem_is_ram(vm, cfg->mmio_base, 1)) {
		ret = vmm__err(vm, -EEXIST, "%s: 0x%llx is RAM", vd->name,
			       (unsigned long long)cfg->mmio_base);
		goto err_vd;
	}
	m = vmm__alloc(vm, sizeof(*m));
	if (!m) {
		ret = vmm__err(vm, -ENOMEM, "%s: out of memory", vd->name);
		goto err_vd;
	}
	m->vm = vm;
	m->vd = vd;
	m->be_destroy = be_destroy;
	m->base = cfg->mmio_base;
	m->irq = cfg->irq;
	vd->t = &mmio_transport;
	vd->t_priv = m;
	vd->stats.mmio_base = m->base;
	ret = vmm_bus_register(vm, VMM_SPACE_MMIO, m->base, MMIO_SIZE,
			       &mmio_ops, m, vd->name);
	if (ret)
		goto err_m;
	mmio_ioeventfd_add(m, cfg->flags);
	dev = vmm__dev_new(vm, vd->name, m, vmm__virtio_mmio_destroy);
	if (!dev) {
		ret = -ENOMEM;
		goto err_bus;
	}
	/* device model (models.h): a split device, shareable, migratable */
	vmm__dev_set_model(dev, VMM_MODEL_SPLIT, 0);
	if (!vd->ops->no_state) {
		char type[24];

		snprintf(type, sizeof(type), "virtio-%s", vd->ops->name);
		if (vmm__dev_set_state_ops(dev, type, VMM_SPACE_MMIO, m->base,
					   MMIO_STATE_VERSION, mmio_save,
					   mmio_restore) == 0)
			dev->state_resume = mmio_state_resume;
	}
	*out = dev;
	return 0;

err_bus:
	if (m->ioeventfd)
		mmio_ioeventfd_del(m, vd->nq);
	vmm_bus_unregister(vm, VMM_SPACE_MMIO, m->base);
err_m:
	vmm__free(vm, m);
err_vd:
	vmm_virtio_fini(vd);
	be_destroy(vd->be);
	vmm__free(vm, vd);
	return ret;
}

void vmm__virtio_mmio_destroy(void *priv)
{
	struct virtio_mmio *m = priv;
	struct vmm_virtio *vd = m->vd;
	vmm_vm *vm = m->vm;

	vmm_bus_unregister(vm, VMM_SPACE_MMIO, m->base);
	if (m->ioeventfd)
		mmio_ioeventfd_del(m, vd->nq);
	vmm_virtio_fini(vd);
	if (m->irq >= 0 && m->level)
		vmm_irq_set_line(vm, (uint32_t)m->irq, 0);
	m->be_destroy(vd->be);
	vmm__free(vm, vd);
	vmm__free(vm, m);
}

struct vmm_virtio *vmm__virtio_mmio_of(vmm_dev *dev)
{
	if (!dev || dev->destroy != vmm__virtio_mmio_destroy)
		return NULL;
	return ((struct virtio_mmio *)dev->priv)->vd;
}
