/* SPDX-License-Identifier: MIT */
/*
 * net.c - virtio-net (VIRTIO 1.2, 5.1) on a TAP device without offloads:
 * receiveq 0 (device-writable), transmitq 1 (device-readable), the 12-byte
 * struct virtio_net_hdr (VERSION_1 layout, num_buffers = 1) in front of
 * every frame.  Transmit strips the header and writes the frame to the tap;
 * receive reads one frame per receive buffer behind a zeroed header.  The
 * tap is read only while the guest has receive buffers posted.
 */
#include "dev/virtio/virtio_dev.h"
#include "io/evloop.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Short names for the kernel's constants (<linux/virtio_net.h>). */
#define NET_F_MTU VIRTIO_NET_F_MTU
#define NET_F_MAC VIRTIO_NET_F_MAC
#define NET_F_STATUS VIRTIO_NET_F_STATUS
/* VIRTIO 1.x: the header always has num_buffers (12 bytes) */
#define NET_HDR_LEN sizeof(struct virtio_net_hdr_mrg_rxbuf)
/* mac, status, max_virtqueue_pairs, mtu: the fields we offer (12) */
#define CONFIG_SIZE offsetof(struct virtio_net_config, speed)

struct net {
	struct vmm_virtio *vd;
	vmm_vm *vm;
	int tap;
	struct vmm_ev_watch *watch;
	uint8_t config[CONFIG_SIZE];
	uint64_t tx_dropped;
	struct vmm_vq_elem e;
	struct iovec frag[VMM_VQ_MAX_IOV];
};

static void net_config_read(void *be, uint32_t off, void *buf, unsigned len)
{
	memcpy(buf, ((struct net *)be)->config + off, len);
}

static void net_tx(struct net *n)
{
	struct vmm_virtio *vd = n->vd;
	struct vmm_vq *vq = &vd->q[1].vq;
	int ret;

	for (;;) {
		vmm_vq_disable_notify(vq);
		while ((ret = vmm_vq_pop(vq, &n->e)) == 1) {
			if (n->e.out_len < NET_HDR_LEN) {
				vmm_virtio_driver_error(vd, "tx chain %u shorter "
							"than the header",
							n->e.head);
			} else {
				int k = vmm_iov_slice(n->e.iov, n->e.n_out,
						      NET_HDR_LEN,
						      n->e.out_len - NET_HDR_LEN,
						      n->frag, VMM_VQ_MAX_IOV);
				if (k > 0 && writev(n->tap, n->frag, k) < 0)
					n->tx_dropped++;
				vd->stats.bytes_out += n->e.out_len - NET_HDR_LEN;
			}
			vd->stats.requests++;
			if (vmm_vq_push(vq, &n->e, 0)) {
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

/* Frames from the tap into receive buffers.  Lock held. */
static void net_rx(struct net *n)
{
	struct vmm_virtio *vd = n->vd;
	struct vmm_vq *vq = &vd->q[0].vq;
	static const uint8_t hdr[NET_HDR_LEN] = { [10] = 1 }; /* num_buffers */

	for (;;) {
		ssize_t got;
		int ret, k;

		if (!vmm_vq_has_avail(vq)) {
			vmm_evloop_watch_arm(n->watch, false);
			if (!vmm_vq_enable_notify(vq))
				return;
		}
		ret = vmm_vq_pop(vq, &n->e);
		if (ret < 0) {
			vmm_virtio_queue_error(vd, 0);
			return;
		}
		if (ret == 0)
			return;
		if (n->e.in_len <= NET_HDR_LEN) {
			vmm_virtio_driver_error(vd, "rx buffer %u too small",
						n->e.head);
			vmm_vq_push(vq, &n->e, 0);
			continue;
		}
		k = vmm_iov_slice(&n->e.iov[n->e.n_out], n->e.n_in, NET_HDR_LEN,
				  n->e.in_len - NET_HDR_LEN, n->frag,
				  VMM_VQ_MAX_IOV);
		got = k > 0 ? readv(n->tap, n->frag, k) : -1;
		if (got <= 0) {
			/* nothing there: give the buffer back, wait */
			vmm_vq_unpop(vq, &n->e);
			vmm_evloop_watch_arm(n->watch, true);
			return;
		}
		vmm_iov_from_buf(&n->e.iov[n->e.n_out], n->e.n_in, 0, hdr,
				 NET_HDR_LEN);
		vmm_vq_written(vq, &n->e, NULL);
		vd->stats.bytes_in += (uint64_t)got;
		vd->stats.requests++;
		if (vmm_vq_push(vq, &n->e, (uint32_t)got + NET_HDR_LEN)) {
			vmm_virtio_queue_error(vd, 0);
			return;
		}
		vmm_virtio_notify_queue(vd, 0);
	}
}

static void net_tap_cb(void *opaque, int fd, unsigned events)
{
	struct net *n = opaque;

	pthread_mutex_lock(&n->vd->lock);
	if (vmm_virtio_running(n->vd) && n->vd->q[0].vq.ready)
		net_rx(n);
	else
		vmm_evloop_watch_arm(n->watch, false);
	pthread_mutex_unlock(&n->vd->lock);
}

static void net_queue_notify(void *be, unsigned q)
{
	struct net *n = be;

	if (q == 1)
		net_tx(n);
	else
		vmm_evloop_watch_arm(n->watch, true);
}

static void net_destroy(void *be)
{
	struct net *n = be;

	if (n->watch)
		vmm_evloop_unwatch(n->vd->loop, n->watch);
	if (n->tap >= 0)
		close(n->tap);
	vmm__free(n->vm, n);
}

static const struct vmm_virtio_dev_ops net_ops = {
	.name = "net",
	.device_id = VIRTIO_ID_NET,
	.num_queues = 2,
	.queue_dirs = { VMM_VQ_DIR_WRITE, VMM_VQ_DIR_READ },
	.features = (1ull << NET_F_MAC) | (1ull << NET_F_STATUS),
	.config_size = CONFIG_SIZE,
	.config_read = net_config_read,
	.queue_notify = net_queue_notify,
};

static const struct vmm_virtio_dev_ops net_ops_mtu = {
	.name = "net",
	.device_id = VIRTIO_ID_NET,
	.num_queues = 2,
	.queue_dirs = { VMM_VQ_DIR_WRITE, VMM_VQ_DIR_READ },
	.features = (1ull << NET_F_MAC) | (1ull << NET_F_STATUS) |
		    (1ull << NET_F_MTU),
	.config_size = CONFIG_SIZE,
	.config_read = net_config_read,
	.queue_notify = net_queue_notify,
};

static int tap_open(vmm_vm *vm, const char *name)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return vmm__err(vm, -errno, "virtio-net: /dev/net/tun: %s",
				strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;
		close(fd);
		return vmm__err(vm, -e, "virtio-net: TUNSETIFF %s: %s", name,
				strerror(e));
	}
	return fd;
}

void vmm_virtio_net_config_init(struct vmm_virtio_net_config *cfg,
				enum vmm_virtio_transport transport)
{
	memset(cfg, 0, sizeof(*cfg));
	vmm_virtio_config_init(&cfg->virtio, transport);
	cfg->tap_fd = -1;
}

int vmm_virtio_net_attach(vmm_vm *vm, const struct vmm_virtio_net_config *cfg,
			  vmm_dev **out)
{
	static const uint8_t zero[6];
	struct net *n;
	int ret, fl;

	if (!vm)
		return -EINVAL;
	if (!cfg || !out || (cfg->tap_fd < 0 && !cfg->ifname))
		return vmm__err(vm, -EINVAL, "virtio-net: no tap");
	n = vmm__alloc(vm, sizeof(*n));
	if (!n)
		return vmm__err(vm, -ENOMEM, "virtio-net: out of memory");
	n->vm = vm;
	if (cfg->tap_fd >= 0) {
		n->tap = fcntl(cfg->tap_fd, F_DUPFD_CLOEXEC, 3);
		if (n->tap < 0 || (fl = fcntl(n->tap, F_GETFL)) < 0 ||
		    fcntl(n->tap, F_SETFL, fl | O_NONBLOCK) < 0) {
			ret = vmm__err(vm, -errno, "virtio-net: tap fd: %s",
				       strerror(errno));
			n->tap = n->tap < 0 ? -1 : n->tap;
			net_destroy(n);
			return ret;
		}
	} else {
		n->tap = tap_open(vm, cfg->ifname);
		if (n->tap < 0) {
			ret = n->tap;
			n->tap = -1;
			net_destroy(n);
			return ret;
		}
	}
	if (memcmp(cfg->mac, zero, 6)) {
		memcpy(n->config, cfg->mac, 6);
	} else {
		static const uint8_t def[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
		memcpy(n->config, def, 6);
	}
	n->config[6] = 1; /* VIRTIO_NET_S_LINK_UP */
	n->config[8] = 1; /* max_virtqueue_pairs */
	n->config[10] = (uint8_t)cfg->mtu;
	n->config[11] = (uint8_t)(cfg->mtu >> 8);
	ret = vmm__virtio_attach(vm, &cfg->virtio,
				 cfg->mtu ? &net_ops_mtu : &net_ops, n,
				 net_destroy, out, &n->vd);
	if (ret)
		return ret;
	ret = vmm_evloop_watch(n->vd->loop, n->tap, net_tap_cb, n, false,
			       &n->watch);
	if (ret) {
		vmm_dev_detach(*out);
		return vmm__err(vm, ret, "virtio-net: cannot watch the tap");
	}
	return 0;
}
