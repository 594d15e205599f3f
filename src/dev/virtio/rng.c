/* SPDX-License-Identifier: MIT */
/*
 * rng.c - virtio-rng / entropy device (VIRTIO 1.2, 5.4): one queue of
 * device-writable buffers, filled from getrandom(2).  A device-readable
 * descriptor breaks the queue (the walker enforces the direction).
 */
#include "dev/virtio/virtio_dev.h"

#include <string.h>
#include <sys/random.h>

#define VIRTIO_ID_RNG 4

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
			vd->stats.bytes_in += done;
			vd->stats.requests++;
			if (vmm_vq_push(vq, r->e.head, (uint32_t)done)) {
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

int vmm_virtio_rng_attach(vmm_vm *vm, const struct vmm_virtio_config *cfg,
			  vmm_dev **out)
{
	struct rng *r;

	if (!vm)
		return -EINVAL;
	if (!cfg || !out)
		return vmm__err(vm, -EINVAL, "virtio-rng: NULL argument");
	r = vmm__alloc(vm, sizeof(*r));
	if (!r)
		return vmm__err(vm, -ENOMEM, "virtio-rng: out of memory");
	r->vm = vm;
	return vmm__virtio_attach(vm, cfg, &rng_ops, r, rng_destroy, out, &r->vd);
}
