/* SPDX-License-Identifier: MIT */
/*
 * rng.c - virtio-rng / entropy device (VIRTIO 1.2, 5.4): one queue of
 * device-writable buffers, filled from getrandom(2).  A device-readable
 * descriptor breaks the queue (the walker enforces the direction).
 */
#include "dev/virtio/virtio_dev.h"

#include <string.h>
#include <sys/random.h>

struct rng {
	struct vmm_virtio *vd;
	vmm_vm *vm;
	struct vmm_vq_elem e;
};

static void rng_queue_notify(void *be, unsigned qi)
{
	struct rng *r = be;
	struct vmm_virtio *vd = r->vd;
	struct vmm_vq *vq = &vd->q[0].vq;

	for (;;) {
		int ret;

		vmm_vq_disable_notify(vq);
		while ((ret = vmm_vq_pop(vq, &r->e)) == 1) {
			uint64_t done = 0;

			for (unsigned i = 0; i < r->e.n_in; i++) {
				struct iovec *v = &r->e.iov[r->e.n_out + i];
				size_t off = 0;

				while (off < v->iov_len) {
					ssize_t n = getrandom((uint8_t *)v->iov_base + off,
							      v->iov_len - off, 0);
					if (n <= 0)
						break;
					off += (size_t)n;
				}
				done += off;
				if (off < v->iov_len)
					break;
			}
			vmm_vq_written(vq, &r->e, NULL);
			vd->stats.bytes_in += done;
			vd->stats.requests++;
			if (vmm_vq_push(vq, &r->e, (uint32_t)done)) {
				vmm_virtio_queue_error(vd, 0);
				return;
			}
			vmm_virtio_notify_queue(vd, 0);
		}
		if (ret < 0) {
			vmm_virtio_queue_error(vd, 0);
			return;
		}
		if (!vmm_vq_enable_notify(vq))
			return;
	}
}

static void rng_destroy(void *be)
{
	struct rng *r = be;

	vmm__free(r->vm, r);
}

static const struct vmm_virtio_dev_ops rng_ops = {
	.name = "rng",
	.device_id = VIRTIO_ID_RNG,
	.num_queues = 1,
	.queue_dirs = { VMM_VQ_DIR_WRITE },
	.config_size = 0,
	.queue_notify = rng_queue_notify,
};

int vmm__virtio_rng_new(vmm_vm *vm, const struct vmm_virtio_config *cfg,
			struct vmm__virtio_be *nb)
{
	struct rng *r = vmm__alloc(vm, sizeof(*r));

	if (!r)
		return vmm__err(vm, -ENOMEM, "virtio-rng: out of memory");
	r->vm = vm;
	nb->ops = &rng_ops;
	nb->be = r;
	nb->destroy = rng_destroy;
	nb->vd_slot = &r->vd;
	nb->queue_max = cfg && cfg->queue_size ? cfg->queue_size : 256;
	return 0;
}

int vmm_virtio_rng_attach(vmm_vm *vm, const struct vmm_virtio_config *ucfg,
			  vmm_dev **out)
{
	const struct vmm_virtio_config *cfg = ucfg;
	struct vmm_virtio_config c;
	struct vmm__virtio_be nb = { 0 };
	int ret;

	if (!vm)
		return -EINVAL;
	if (!cfg || !out)
		return vmm__err(vm, -EINVAL, "virtio-rng: NULL argument");
	vmm_virtio_config_init(&c, VMM_VIRTIO_MMIO);
	if (VMM__STRUCT_IN_V(&c, ucfg, VMM__VIRTIO_CONFIG_V02))
		return vmm__err(vm, -EINVAL,
				"virtio-rng: bad struct_size %u or unknown "
				"non-zero fields in struct vmm_virtio_config",
				ucfg->struct_size);
	cfg = &c;
	ret = vmm__virtio_rng_new(vm, cfg, &nb);
	if (ret)
		return ret;
	return vmm__virtio_attach(vm, cfg, nb.ops, nb.be, nb.destroy, out,
				  nb.vd_slot);
}
