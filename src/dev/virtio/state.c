/* SPDX-License-Identifier: MIT */
/*
 * state.c - snapshot state of the transport-independent virtio device:
 * quiescing (freeze: no new work, in-flight requests drained so that the
 * used rings in guest memory are complete), saving, and validating saved
 * state before any of it is loaded.  The transports (mmio.c, pci.c) wrap
 * this in their device state (layout: docs/snapshot-format.md, "virtio
 * devices").
 *
 * Saved state is untrusted input: every field is checked against what
 * this device offers (features, queue count and maximum size, MSI-X
 * vectors) and against guest memory (ring layout), and a queue that runs
 * must have nothing in flight (used index = avail position), as save
 * leaves it.  Nothing changes before everything is checked.
 */
#include "dev/virtio/virtio_dev.h"
#include "core/statebuf.h"

#include <stdio.h>
#include <string.h>

#define STATUS_KNOWN                                                         \
	(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |                  \
	 VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_FEATURES_OK |               \
	 VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED)

void vmm__virtio_freeze(struct vmm_virtio *vd)
{
	vd->frozen = true;
	if (vd->ops->drain)
		vd->ops->drain(vd->be);
}

void vmm__virtio_thaw(struct vmm_virtio *vd)
{
	if (!vd->frozen)
		return;
	vd->frozen = false;
	/* kicks that came while frozen were dropped, and a restored ring may
	 * hold buffers the driver made available before the snapshot: kick
	 * the queues that have some.  A queue with none needs no kick (its
	 * next buffer comes with the driver's own); not kicking saves a loop
	 * thread wake-up per queue on every snapshot reset.  Queues run
	 * elsewhere (vhost-user front-end) keep their own ring index: kick. */
	if (!vmm_virtio_running(vd))
		return;
	for (unsigned i = 0; i < vd->nq; i++)
		if (vd->q[i].vq.ready &&
		    (vd->ops->no_state || vmm_vq_has_avail(&vd->q[i].vq)))
			vmm_virtio_kick(vd, i);
}

/* A queue's state flags (VMM__VQS_*) as saved. */
static uint8_t vq_flags(const struct vmm_vq *vq)
{
	return (uint8_t)((vq->ready ? VMM__VQS_READY : 0) |
			 (vq->broken ? VMM__VQS_BROKEN : 0) |
			 (vq->signalled_valid ? VMM__VQS_SIGNALLED : 0) |
			 (vq->packed && vq->avail_wrap ? VMM__VQS_AVAIL_WRAP : 0) |
			 (vq->packed && vq->used_wrap ? VMM__VQS_USED_WRAP : 0) |
			 (vq->packed && vq->signalled_wrap ?
				  VMM__VQS_SIGNALLED_WRAP : 0));
}

void vmm__virtio_save_core(struct vmm_virtio *vd, struct vmm_sbuf *b)
{
	uint32_t csize = vd->ops->config_size;
	uint8_t *cfg;

	vmm__sb_u32(b, vd->ops->device_id);
	vmm__sb_u32(b, vd->nq);
	vmm__sb_u64(b, vd->host_features);
	vmm__sb_u64(b, vd->guest_features);
	vmm__sb_u8(b, vd->status);
	vmm__sb_u8(b, vd->isr);
	vmm__sb_u16(b, vd->queue_sel);
	vmm__sb_u32(b, vd->config_gen);
	vmm__sb_u32(b, vd->dev_feat_sel);
	vmm__sb_u32(b, vd->drv_feat_sel);
	vmm__sb_u16(b, vd->config_msix);
	vmm__sb_u16(b, 0);
	for (unsigned i = 0; i < vd->nq; i++) {
		const struct vmm_virtio_queue *q = &vd->q[i];
		const struct vmm_vq *vq = &q->vq;

		vmm__sb_u16(b, vq->size);
		vmm__sb_u16(b, q->size_max);
		vmm__sb_u16(b, q->msix_vector);
		vmm__sb_u8(b, vq_flags(vq));
		vmm__sb_u8(b, 0);
		vmm__sb_u64(b, vq->desc);
		vmm__sb_u64(b, vq->avail);
		vmm__sb_u64(b, vq->used);
		vmm__sb_u16(b, vq->last_avail);
		vmm__sb_u16(b, vq->used_idx);
		vmm__sb_u16(b, vq->signalled_used);
		vmm__sb_u16(b, 0);
	}
	/* the device configuration the driver saw (capacity, MAC, ...):
	 * restore refuses a device that would show another one */
	vmm__sb_u32(b, csize);
	cfg = vmm__sb_room(b, csize);
	if (cfg && csize) {
		memset(cfg, 0, csize);
		if (vd->ops->config_read)
			vd->ops->config_read(vd->be, 0, cfg, csize);
	}
}

#define BAD(...)                                                             \
	do {                                                                 \
		snprintf(err, errlen, __VA_ARGS__);                          \
		return -EINVAL;                                              \
	} while (0)

static int check_queue(struct vmm_virtio *vd, unsigned i,
		       const struct vmm__virtio_saved *s,
		       const struct vmm__virtio_saved_queue *sq,
		       uint16_t saved_max, unsigned nvec, char *err,
		       size_t errlen)
{
	const struct vmm_virtio_queue *q = &vd->q[i];
	const uint8_t wraps = VMM__VQS_AVAIL_WRAP | VMM__VQS_USED_WRAP |
			      VMM__VQS_SIGNALLED_WRAP;
	bool packed = (s->status & VIRTIO_CONFIG_S_FEATURES_OK) &&
		      (s->guest_features & (1ull << VIRTIO_F_RING_PACKED));
	struct vmm_vq probe;

	if (sq->flags & ~(VMM__VQS_READY | VMM__VQS_BROKEN | VMM__VQS_SIGNALLED |
			  wraps))
		BAD("queue %u: unknown flags 0x%x", i, sq->flags);
	if (!packed && (sq->flags & wraps))
		BAD("queue %u: wrap counters 0x%x on a split ring", i,
		    sq->flags & wraps);
	if (sq->msix_vector != VIRTIO_MSI_NO_VECTOR && sq->msix_vector >= nvec)
		BAD("queue %u: MSI-X vector %u (device has %u)", i,
		    sq->msix_vector, nvec);
	if (saved_max > q->size_max && sq->size > q->size_max)
		BAD("queue %u: size %u larger than the maximum %u of this device "
		    "(saved with %u)", i, sq->size, q->size_max, saved_max);
	if (!(sq->flags & VMM__VQS_READY))
		return 0; /* inert: checked when the driver enables it */
	if (!(s->status & VIRTIO_CONFIG_S_FEATURES_OK))
		BAD("queue %u enabled without FEATURES_OK", i);
	if (sq->size == 0 || sq->size > q->size_max ||
	    (!packed && (sq->size & (sq->size - 1))))
		BAD("queue %u: size %u is not a%s <= %u", i, sq->size,
		    packed ? " size" : " power of two", q->size_max);
	if (sq->flags & VMM__VQS_BROKEN)
		return 0; /* the driver has to reset the device anyway */
	memset(&probe, 0, sizeof(probe));
	probe.mem = &vd->mem;
	probe.size = sq->size;
	probe.desc = sq->desc;
	probe.avail = sq->avail;
	probe.used = sq->used;
	probe.packed = packed;
	if (vmm_vq_check_layout(&probe))
		BAD("queue %u: %s", i, probe.err);
	if (packed) {
		/* ring positions; every chain taken was returned, so the
		 * used position caught up with the avail one, lap and all */
		if (sq->last_avail >= sq->size || sq->used_idx >= sq->size ||
		    sq->signalled_used >= sq->size)
			BAD("queue %u: packed ring position %u/%u/%u beyond size %u",
			    i, sq->last_avail, sq->used_idx, sq->signalled_used,
			    sq->size);
		if (sq->used_idx != sq->last_avail ||
		    !(sq->flags & VMM__VQS_USED_WRAP) !=
			    !(sq->flags & VMM__VQS_AVAIL_WRAP))
			BAD("queue %u: used position %u (wrap %u) but avail "
			    "position %u (wrap %u): requests in flight were not "
			    "drained", i, sq->used_idx,
			    !!(sq->flags & VMM__VQS_USED_WRAP), sq->last_avail,
			    !!(sq->flags & VMM__VQS_AVAIL_WRAP));
		return 0;
	}
	if (sq->used_idx != sq->last_avail)
		BAD("queue %u: used index %u but %u buffers taken: requests in "
		    "flight were not drained", i, sq->used_idx, sq->last_avail);
	return 0;
}

int vmm__virtio_parse_core(struct vmm_virtio *vd, struct vmm_sreader *r,
			   unsigned nvec, struct vmm__virtio_saved *s,
			   char *err, size_t errlen)
{
	uint16_t saved_max[VMM_VIRTIO_MAX_QUEUES];
	uint32_t id, nq, csize;
	uint64_t host;
	uint8_t mine[256];
	const uint8_t *cfg;

	memset(s, 0, sizeof(*s));
	id = vmm__sr_u32(r);
	nq = vmm__sr_u32(r);
	host = vmm__sr_u64(r);
	s->guest_features = vmm__sr_u64(r);
	s->status = vmm__sr_u8(r);
	s->isr = vmm__sr_u8(r);
	s->queue_sel = vmm__sr_u16(r);
	s->config_gen = vmm__sr_u32(r);
	s->dev_feat_sel = vmm__sr_u32(r);
	s->drv_feat_sel = vmm__sr_u32(r);
	s->config_msix = vmm__sr_u16(r);
	vmm__sr_u16(r);
	if (!vmm__sr_ok(r))
		BAD("state truncated");
	if (id != vd->ops->device_id)
		BAD("saved device ID %u, this is device ID %u", id,
		    vd->ops->device_id);
	if (nq != vd->nq)
		BAD("saved with %u queues, this device has %u", nq, vd->nq);
	for (unsigned i = 0; i < nq; i++) {
		struct vmm__virtio_saved_queue *sq = &s->q[i];

		sq->size = vmm__sr_u16(r);
		saved_max[i] = vmm__sr_u16(r);
		sq->msix_vector = vmm__sr_u16(r);
		sq->flags = vmm__sr_u8(r);
		vmm__sr_u8(r);
		sq->desc = vmm__sr_u64(r);
		sq->avail = vmm__sr_u64(r);
		sq->used = vmm__sr_u64(r);
		sq->last_avail = vmm__sr_u16(r);
		sq->used_idx = vmm__sr_u16(r);
		sq->signalled_used = vmm__sr_u16(r);
		vmm__sr_u16(r);
	}
	csize = vmm__sr_u32(r);
	if (!vmm__sr_ok(r))
		BAD("state truncated");
	if (csize != vd->ops->config_size || csize > sizeof(mine))
		BAD("saved device configuration has %u bytes, this device %u",
		    csize, vd->ops->config_size);
	cfg = vmm__sr_take(r, csize);
	if (!cfg)
		BAD("state truncated");

	/* status and features */
	if (s->status & ~STATUS_KNOWN)
		BAD("device status 0x%x has unknown bits", s->status);
	if ((s->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
	    !(s->status & VIRTIO_CONFIG_S_FEATURES_OK))
		BAD("device status 0x%x: DRIVER_OK without FEATURES_OK",
		    s->status);
	if (s->status & VIRTIO_CONFIG_S_FEATURES_OK) {
		if (s->guest_features & ~vd->host_features)
			BAD("negotiated features 0x%llx are not all offered by this "
			    "device (0x%llx; the source offered 0x%llx)",
			    (unsigned long long)s->guest_features,
			    (unsigned long long)vd->host_features,
			    (unsigned long long)host);
		if (!(s->guest_features & (1ull << VIRTIO_F_VERSION_1)))
			BAD("negotiated features 0x%llx lack VERSION_1",
			    (unsigned long long)s->guest_features);
	}
	if (s->isr & ~(VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG))
		BAD("ISR 0x%x has unknown bits", s->isr);
	if (s->config_msix != VIRTIO_MSI_NO_VECTOR && s->config_msix >= nvec)
		BAD("configuration MSI-X vector %u (device has %u)",
		    s->config_msix, nvec);
	for (unsigned i = 0; i < nq; i++) {
		int ret = check_queue(vd, i, s, &s->q[i], saved_max[i], nvec,
				      err, errlen);
		if (ret)
			return ret;
	}
	memset(mine, 0, sizeof(mine));
	if (csize && vd->ops->config_read)
		vd->ops->config_read(vd->be, 0, mine, csize);
	for (uint32_t i = 0; i < csize; i++)
		if (cfg[i] != mine[i])
			BAD("device configuration differs from the saved one at byte "
			    "%u (0x%02x, saved 0x%02x): another image, size or "
			    "address attached?", i, mine[i], cfg[i]);
	return 0;
}

void vmm__virtio_apply_core(struct vmm_virtio *vd,
			    const struct vmm__virtio_saved *s)
{
	vd->guest_features = s->guest_features;
	vd->status = s->status;
	vd->isr = s->isr;
	vd->queue_sel = s->queue_sel;
	vd->config_gen = s->config_gen;
	vd->dev_feat_sel = s->dev_feat_sel;
	vd->drv_feat_sel = s->drv_feat_sel;
	vd->config_msix = s->config_msix;
	vd->stats.status = vd->status;
	vd->stats.features = vd->guest_features;
	for (unsigned i = 0; i < vd->nq; i++) {
		struct vmm_virtio_queue *q = &vd->q[i];
		const struct vmm__virtio_saved_queue *sq = &s->q[i];
		struct vmm_vq *vq = &q->vq;

		vmm_vq_reset(vq);
		vq->size = sq->size;
		vq->desc = sq->desc;
		vq->avail = sq->avail;
		vq->used = sq->used;
		q->msix_vector = sq->msix_vector;
		vq->ready = sq->flags & VMM__VQS_READY;
		vq->event_idx = vd->guest_features & (1ull << VIRTIO_RING_F_EVENT_IDX);
		vq->indirect = vd->guest_features &
			       (1ull << VIRTIO_RING_F_INDIRECT_DESC);
		vq->packed = vd->guest_features & (1ull << VIRTIO_F_RING_PACKED);
		vq->avail_wrap = sq->flags & VMM__VQS_AVAIL_WRAP;
		vq->used_wrap = sq->flags & VMM__VQS_USED_WRAP;
		vq->signalled_wrap = sq->flags & VMM__VQS_SIGNALLED_WRAP;
		vq->last_avail = sq->last_avail;
		vq->used_idx = sq->used_idx;
		vq->signalled_used = sq->signalled_used;
		vq->signalled_valid = sq->flags & VMM__VQS_SIGNALLED;
		if (sq->flags & VMM__VQS_BROKEN) {
			vq->broken = true;
			snprintf(vq->err, sizeof(vq->err),
				 "broken before the snapshot was taken");
		}
	}
}

void vmm__virtio_capture_core(const struct vmm_virtio *vd,
			      struct vmm__virtio_saved *s)
{
	memset(s, 0, sizeof(*s));
	s->guest_features = vd->guest_features;
	s->status = vd->status;
	s->isr = vd->isr;
	s->queue_sel = vd->queue_sel;
	s->config_gen = vd->config_gen;
	s->dev_feat_sel = vd->dev_feat_sel;
	s->drv_feat_sel = vd->drv_feat_sel;
	s->config_msix = vd->config_msix;
	for (unsigned i = 0; i < vd->nq; i++) {
		const struct vmm_virtio_queue *q = &vd->q[i];
		const struct vmm_vq *vq = &q->vq;
		struct vmm__virtio_saved_queue *sq = &s->q[i];

		sq->size = vq->size;
		sq->msix_vector = q->msix_vector;
		sq->flags = vq_flags(vq);
		sq->desc = vq->desc;
		sq->avail = vq->avail;
		sq->used = vq->used;
		sq->last_avail = vq->last_avail;
		sq->used_idx = vq->used_idx;
		sq->signalled_used = vq->signalled_used;
	}
}
