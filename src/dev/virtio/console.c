/* SPDX-License-Identifier: MIT */
/*
 * console.c - virtio-console (VIRTIO 1.2, 5.3) with one port and no
 * multiport: receiveq (0, device-writable) fed from an input fd,
 * transmitq (1, device-readable) written to an output fd.
 *
 * Input is read only when the guest has posted receive buffers (the fd
 * watch is disarmed while the receive queue is empty and re-armed on the
 * next kick), so a fast producer cannot make the device drop data.
 */
#include "dev/virtio/virtio_dev.h"
#include "io/evloop.h"

#include <fcntl.h>
#include <linux/virtio_console.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* cols, rows, max_nr_ports, emerg_wr */
#define CONFIG_SIZE sizeof(struct virtio_console_config)

struct console {
	struct vmm_virtio *vd;
	vmm_vm *vm;
	int out_fd, in_fd;
	struct vmm_ev_watch *in_watch;
	bool in_eof;
	struct vmm_vq_elem e;
};

static void con_config_read(void *be, uint32_t off, void *buf, unsigned len)
{
	uint8_t cfg[CONFIG_SIZE] = { 80, 0, 25, 0, 1, 0, 0, 0 };

	memcpy(buf, cfg + off, len);
}

static void con_config_write(void *be, uint32_t off, const void *buf,
			     unsigned len)
{
	struct console *c = be;

	/* emerg_wr (8..11): one character to the output */
	if (off == 8 && c->out_fd >= 0) {
		if (write(c->out_fd, buf, 1) < 0) {
			/* output gone: dropped */
		}
	}
}

static void con_tx(struct console *c)
{
	struct vmm_virtio *vd = c->vd;
	struct vmm_vq *vq = &vd->q[1].vq;
	int ret;

	for (;;) {
		vmm_vq_disable_notify(vq);
		while ((ret = vmm_vq_pop(vq, &c->e)) == 1) {
			if (c->out_fd >= 0 && c->e.out_len) {
				struct iovec *iov = c->e.iov;
				unsigned n = c->e.n_out;
				/* blocking write, retried until complete */
				while (n) {
					ssize_t w = writev(c->out_fd, iov, (int)n);
					if (w < 0 && errno == EINTR)
						continue;
					if (w <= 0)
						break;
					while (n && (size_t)w >= iov->iov_len) {
						w -= (ssize_t)iov->iov_len;
						iov++;
						n--;
					}
					if (n) {
						iov->iov_base = (uint8_t *)iov->iov_base + w;
						iov->iov_len -= (size_t)w;
					}
				}
			}
			vd->stats.bytes_out += c->e.out_len;
			vd->stats.requests++;
			if (vmm_vq_push(vq, &c->e, 0)) {
				vmm_virtio_queue_error(vd, 1);
				return;
			}
			vmm_virtio_notify_queue(vd, 1);
		}
		if (ret < 0) {
			vmm_virtio_queue_error(vd, 1);
			return;
		}
		if (!vmm_vq_enable_notify(vq))
			return;
	}
}

/* Move input into receive buffers.  Lock held. */
static void con_rx(struct console *c)
{
	struct vmm_virtio *vd = c->vd;
	struct vmm_vq *vq = &vd->q[0].vq;

	if (c->in_fd < 0 || c->in_eof || !vmm_virtio_running(vd) || !vq->ready)
		return;
	for (;;) {
		ssize_t n;
		int ret;

		if (!vmm_vq_has_avail(vq)) {
			/* no buffers: stop reading until the guest posts some */
			vmm_evloop_watch_arm(c->in_watch, false);
			if (!vmm_vq_enable_notify(vq))
				return;
		}
		ret = vmm_vq_pop(vq, &c->e);
		if (ret < 0) {
			vmm_virtio_queue_error(vd, 0);
			return;
		}
		if (ret == 0)
			return;
		n = readv(c->in_fd, &c->e.iov[c->e.n_out], (int)c->e.n_in);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			/* nothing to read after all: give the buffer back */
			vmm_vq_unpop(vq, &c->e);
			vmm_evloop_watch_arm(c->in_watch, true);
			return;
		}
		if (n <= 0) {
			c->in_eof = true;
			vmm_vq_unpop(vq, &c->e);
			vmm_evloop_watch_arm(c->in_watch, false);
			return;
		}
		vmm_vq_written(vq, &c->e, NULL);
		vd->stats.bytes_in += (uint64_t)n;
		vd->stats.requests++;
		if (vmm_vq_push(vq, &c->e, (uint32_t)n)) {
			vmm_virtio_queue_error(vd, 0);
			return;
		}
		vmm_virtio_notify_queue(vd, 0);
		vmm_evloop_watch_arm(c->in_watch, true);
		return; /* one read per readiness event */
	}
}

static void con_in_cb(void *opaque, int fd, unsigned events)
{
	struct console *c = opaque;

	pthread_mutex_lock(&c->vd->lock);
	if (vmm_virtio_running(c->vd) && c->vd->q[0].vq.ready)
		con_rx(c);
	else
		vmm_evloop_watch_arm(c->in_watch, false);
	pthread_mutex_unlock(&c->vd->lock);
}

static void con_queue_notify(void *be, unsigned q)
{
	struct console *c = be;

	if (q == 1) {
		con_tx(c);
	} else if (c->in_fd >= 0 && !c->in_eof) {
		/* buffers posted: (re)start reading input */
		vmm_evloop_watch_arm(c->in_watch, true);
	}
}

static void con_destroy(void *be)
{
	struct console *c = be;

	if (c->in_watch)
		vmm_evloop_unwatch(c->vd->loop, c->in_watch);
	if (c->out_fd >= 0)
		close(c->out_fd);
	if (c->in_fd >= 0)
		close(c->in_fd);
	vmm__free(c->vm, c);
}

static const struct vmm_virtio_dev_ops con_ops = {
	.name = "console",
	.device_id = VIRTIO_ID_CONSOLE,
	.num_queues = 2,
	.queue_dirs = { VMM_VQ_DIR_WRITE, VMM_VQ_DIR_READ },
	.config_size = CONFIG_SIZE,
	.config_read = con_config_read,
	.config_write = con_config_write,
	.queue_notify = con_queue_notify,
};

void vmm_virtio_console_config_init(struct vmm_virtio_console_config *cfg,
				    enum vmm_virtio_transport transport)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->struct_size = sizeof(*cfg);
	vmm_virtio_config_init(&cfg->virtio, transport);
	cfg->out_fd = cfg->in_fd = -1;
}

int vmm_virtio_console_attach(vmm_vm *vm,
			      const struct vmm_virtio_console_config *ucfg,
			      vmm_dev **out)
{
	const struct vmm_virtio_console_config *cfg = ucfg;
	struct vmm_virtio_console_config cc;
	struct console *c;
	int ret;

	if (!vm)
		return -EINVAL;
	if (!cfg || !out)
		return vmm__err(vm, -EINVAL, "virtio-console: NULL argument");
	vmm_virtio_console_config_init(&cc, VMM_VIRTIO_MMIO);
	if (VMM__STRUCT_IN_V(&cc, ucfg, VMM__VIRTIO_CONSOLE_CONFIG_V02))
		return vmm__err(vm, -EINVAL,
				"virtio-console: bad struct_size %u or unknown "
				"non-zero fields in struct "
				"vmm_virtio_console_config",
				ucfg->struct_size);
	cfg = &cc;
	c = vmm__alloc(vm, sizeof(*c));
	if (!c)
		return vmm__err(vm, -ENOMEM, "virtio-console: out of memory");
	c->vm = vm;
	c->out_fd = c->in_fd = -1;
	if (cfg->out_fd >= 0 &&
	    (c->out_fd = fcntl(cfg->out_fd, F_DUPFD_CLOEXEC, 3)) < 0) {
		ret = vmm__err(vm, -errno, "virtio-console: out_fd: %s",
			       strerror(errno));
		con_destroy(c);
		return ret;
	}
	if (cfg->in_fd >= 0) {
		int fl;

		c->in_fd = fcntl(cfg->in_fd, F_DUPFD_CLOEXEC, 3);
		if (c->in_fd < 0 || (fl = fcntl(c->in_fd, F_GETFL)) < 0 ||
		    fcntl(c->in_fd, F_SETFL, fl | O_NONBLOCK) < 0) {
			ret = vmm__err(vm, -errno, "virtio-console: in_fd: %s",
				       strerror(errno));
			con_destroy(c);
			return ret;
		}
	}
	ret = vmm__virtio_attach(vm, &cfg->virtio, &con_ops, c, con_destroy, out,
				 &c->vd);
	if (ret || c->in_fd < 0)
		return ret;
	ret = vmm_evloop_watch(c->vd->loop, c->in_fd, con_in_cb, c, false,
			       &c->in_watch);
	if (ret) {
		vmm_dev_detach(*out);
		return vmm__err(vm, ret, "virtio-console: cannot watch input");
	}
	return 0;
}
