/* SPDX-License-Identifier: MIT */
/*
 * net.c - virtio-net (VIRTIO 1.2, 5.1) on a TAP device: receiveq 0
 * (device-writable), transmitq 1 (device-readable), the 12-byte struct
 * virtio_net_hdr (VERSION_1 layout) in front of every frame.
 *
 * Offloads.  When the tap carries a vnet header (IFF_VNET_HDR: always on
 * a tap we open ourselves; on a tap the embedder passes in when it set
 * that flag), the device offers VIRTIO_NET_F_CSUM, HOST_TSO4/6 (the
 * guest hands over partially checksummed frames and 64 KiB TCP segments:
 * the header is checked - net_hdr.c - and passed to the tap, whose kernel
 * side finishes the work) and GUEST_CSUM, GUEST_TSO4/6 (TUNSETOFFLOAD
 * tells the tap what the driver accepted, so the kernel hands us
 * unchecksummed or unsegmented frames only then).  The tap's header size
 * is set to 12 (TUNSETVNETHDRSZ), so the tap reads and writes the guest's
 * header in place.  Without IFF_VNET_HDR no offload is offered and the
 * device writes a zero header itself.
 *
 * Receive.  One readv() per frame, straight into the first receive chain
 * (header included).  A frame longer than that chain: with
 * VIRTIO_NET_F_MRG_RXBUF its overflow was read into a 64 KiB staging
 * buffer; the frame is spread over as many chains as it needs and they are
 * made visible together (vmm_vq_push_batch(), num_buffers in the first
 * header).  When the ring does not hold enough chains, the frame waits in
 * the staging buffer (the chains are given back) until the driver posts
 * more - one frame at most: the tap is not read meanwhile.  Without
 * MRG_RXBUF such a frame is dropped and the chain reused.  The tap is read
 * only while the driver has buffers posted: a driver that never posts any
 * costs no host memory (the kernel's tap queue drops) and never blocks the
 * event loop (the tap is non-blocking).
 *
 * Transmit.  Each chain: the header copied out and checked, then writev()
 * of the checked header and the frame's iovecs (guest memory, no copy).
 * A header that lies (net_hdr.h) drops the frame; the chain completes and
 * the violation is logged (driver_errors).
 */
#include "dev/virtio/net_hdr.h"
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

#define NET_HDR_LEN VMM_NET_HDR_LEN
/* mac, status, max_virtqueue_pairs, mtu: the fields we offer (12) */
#define CONFIG_SIZE offsetof(struct virtio_net_config, speed)
/* the staging buffer: a whole frame with its header */
#define NET_STAGE (NET_HDR_LEN + VMM_NET_MAX_FRAME)
/* receive chains one mergeable frame may take */
#define NET_MAX_BUFS 256

#define F(b) (1ull << (b))
#define NET_BASE_FEATURES (F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) | \
			   F(VIRTIO_NET_F_MRG_RXBUF))
#define NET_OFFLOADS (F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) |  \
		      F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6) | \
		      F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6))

struct net {
	struct vmm_virtio *vd;
	vmm_vm *vm;
	int tap;
	bool vnet;                /* the tap has IFF_VNET_HDR (size 12) */
	struct vmm_ev_watch *watch;
	struct vmm_virtio_dev_ops ops;
	uint8_t config[CONFIG_SIZE];
	uint64_t offl_features;   /* guest features TUNSETOFFLOAD reflects */
	bool offl_valid;
	uint64_t tx_dropped, rx_dropped;
	unsigned rx_pushed;       /* chains completed in this net_rx() */
	/* a received frame waiting for receive chains (MRG_RXBUF) */
	uint8_t *stage;
	size_t pend_len;          /* bytes in @stage, header included */
	struct vmm_vq_used used[NET_MAX_BUFS];
	struct iovec first[VMM_VQ_MAX_IOV];
	unsigned nfirst;
	struct vmm_vq_elem e;
	struct iovec frag[VMM_VQ_MAX_IOV + 2];
};

static void net_config_read(void *be, uint32_t off, void *buf, unsigned len)
{
	memcpy(buf, ((struct net *)be)->config + off, len);
}

static bool has(const struct net *n, unsigned bit)
{
	return (n->vd->guest_features >> bit) & 1;
}

/* TUNSETOFFLOAD = what the driver accepts (GUEST_*); on every change of
 * the negotiated features, including a restored snapshot's. */
static void net_sync_offloads(struct net *n)
{
	unsigned off = 0;

	if (!n->vnet || (n->offl_valid &&
			 n->offl_features == n->vd->guest_features))
		return;
	if (has(n, VIRTIO_NET_F_GUEST_CSUM)) {
		off |= TUN_F_CSUM;
		if (has(n, VIRTIO_NET_F_GUEST_TSO4))
			off |= TUN_F_TSO4;
		if (has(n, VIRTIO_NET_F_GUEST_TSO6))
			off |= TUN_F_TSO6;
	}
	if (ioctl(n->tap, TUNSETOFFLOAD, off) < 0)
		vmm_virtio_log(n->vd, VMM_LOG_WARN, "TUNSETOFFLOAD 0x%x: %s",
			       off, strerror(errno));
	n->offl_features = n->vd->guest_features;
	n->offl_valid = true;
}

static void net_tx(struct net *n)
{
	struct vmm_virtio *vd = n->vd;
	struct vmm_vq *vq = &vd->q[1].vq;
	bool pushed = false;
	int ret;

	for (;;) {
		vmm_vq_disable_notify(vq);
		while ((ret = vmm_vq_pop(vq, &n->e)) == 1) {
			uint8_t raw[NET_HDR_LEN], hdr[NET_HDR_LEN];
			uint64_t flen = n->e.out_len - NET_HDR_LEN;
			char why[96];
			int k;

			if (n->e.out_len < NET_HDR_LEN) {
				vmm_virtio_driver_error(vd, "tx chain %u shorter "
							"than the header",
							n->e.head);
				goto done;
			}
			vmm_iov_to_buf(n->e.iov, n->e.n_out, 0, raw,
				       NET_HDR_LEN);
			if (vmm__net_tx_hdr_check(raw, vd->guest_features, flen,
						  hdr, why, sizeof(why))) {
				n->tx_dropped++;
				vmm_virtio_driver_error(vd, "tx chain %u dropped: "
							"%s", n->e.head, why);
				goto done;
			}
			k = vmm_iov_slice(n->e.iov, n->e.n_out, NET_HDR_LEN,
					  flen, n->frag + 1, VMM_VQ_MAX_IOV);
			if (k <= 0) {
				n->tx_dropped++;
				goto done;
			}
			if (n->vnet) {
				n->frag[0].iov_base = hdr;
				n->frag[0].iov_len = NET_HDR_LEN;
				ret = (int)writev(n->tap, n->frag, k + 1);
			} else {
				ret = (int)writev(n->tap, n->frag + 1, k);
			}
			if (ret < 0)
				n->tx_dropped++;
			vd->stats.bytes_out += flen;
done:
			vd->stats.requests++;
			if (vmm_vq_push(vq, &n->e, 0)) {
				vmm_virtio_queue_error(vd, 1);
				return;
			}
			pushed = true;
		}
		/* one interrupt check per batch, not per frame */
		if (pushed)
			vmm_virtio_notify_queue(vd, 1);
		pushed = false;
		if (ret < 0) {
			vmm_virtio_queue_error(vd, 1);
			return;
		}
		if (!vmm_vq_enable_notify(vq))
			return;
	}
}

/* Give back chains popped for a frame that cannot be delivered yet. */
static void net_unpop_all(struct vmm_vq *vq, const struct vmm_vq_used *u,
			  unsigned cnt)
{
	struct vmm_vq_elem e;

	while (cnt--) {
		e.head = u[cnt].head;
		e.ndesc = u[cnt].ndesc;
		vmm_vq_unpop(vq, &e);
	}
}

/*
 * The frame in @stage (pend_len bytes, header first) into as many chains
 * as it needs.  1 delivered, 0 not enough chains yet (nothing consumed),
 * -1 the queue broke.
 */
static int net_deliver_staged(struct net *n)
{
	struct vmm_virtio *vd = n->vd;
	struct vmm_vq *vq = &vd->q[0].vq;
	size_t off = 0;
	unsigned cnt = 0;
	uint16_t nb;
	int ret;

	while (off < n->pend_len) {
		if (cnt == NET_MAX_BUFS) {
			/* buffers too small for any frame we may get */
			vmm_virtio_driver_error(vd, "rx: a %zu-byte frame needs "
						"more than %u buffers",
						n->pend_len, NET_MAX_BUFS);
			net_unpop_all(vq, n->used, cnt);
			n->rx_dropped++;
			n->pend_len = 0;
			return 1;
		}
		ret = vmm_vq_pop(vq, &n->e);
		if (ret < 0) {
			vmm_virtio_queue_error(vd, 0);
			return -1;
		}
		if (ret == 0) {
			net_unpop_all(vq, n->used, cnt);
			return 0;
		}
		if (cnt == 0 && n->e.in_len <= NET_HDR_LEN) {
			/* no room for the header: complete it empty */
			vmm_virtio_driver_error(vd, "rx buffer %u too small",
						n->e.head);
			if (vmm_vq_push(vq, &n->e, 0)) {
				vmm_virtio_queue_error(vd, 0);
				return -1;
			}
			n->rx_pushed++;
			continue;
		}
		size_t c = n->pend_len - off;
		if (c > n->e.in_len)
			c = n->e.in_len;
		vmm_iov_from_buf(&n->e.iov[n->e.n_out], n->e.n_in, 0,
				 n->stage + off, c);
		vmm_vq_written(vq, &n->e, NULL);
		if (cnt == 0) {
			n->nfirst = n->e.n_in;
			memcpy(n->first, &n->e.iov[n->e.n_out],
			       n->e.n_in * sizeof(struct iovec));
		}
		n->used[cnt].head = n->e.head;
		n->used[cnt].ndesc = n->e.ndesc;
		n->used[cnt].len = (uint32_t)c;
		cnt++;
		off += c;
	}
	nb = (uint16_t)cnt;
	uint8_t le[2] = { (uint8_t)nb, (uint8_t)(nb >> 8) };
	vmm_iov_from_buf(n->first, n->nfirst, 10, le, 2);
	vd->stats.bytes_in += n->pend_len - NET_HDR_LEN;
	vd->stats.requests += cnt;
	n->pend_len = 0;
	if (vmm_vq_push_batch(vq, n->used, cnt)) {
		vmm_virtio_queue_error(vd, 0);
		return -1;
	}
	n->rx_pushed += cnt;
	return 1;
}

/* Frames from the tap into receive buffers (n->rx_pushed counts the
 * completed chains).  Lock held. */
static void net_rx_frames(struct net *n)
{
	struct vmm_virtio *vd = n->vd;
	struct vmm_vq *vq = &vd->q[0].vq;
	static const uint8_t zhdr[NET_HDR_LEN];
	bool mrg = has(n, VIRTIO_NET_F_MRG_RXBUF);

	net_sync_offloads(n);
	for (;;) {
		ssize_t got;
		size_t cap, total, skip = n->vnet ? 0 : NET_HDR_LEN;
		int ret, k;

		if (n->pend_len) {
			ret = net_deliver_staged(n);
			if (ret < 0)
				return;
			if (ret == 0) {
				/* wait for buffers, not for the tap */
				vmm_evloop_watch_arm(n->watch, false);
				if (!vmm_vq_enable_notify(vq))
					return;
				continue;
			}
			continue;
		}
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
			if (vmm_vq_push(vq, &n->e, 0)) {
				vmm_virtio_queue_error(vd, 0);
				return;
			}
			n->rx_pushed++;
			continue;
		}
		cap = n->e.in_len < NET_STAGE ? (size_t)n->e.in_len : NET_STAGE;
		k = vmm_iov_slice(&n->e.iov[n->e.n_out], n->e.n_in, skip,
				  cap - skip, n->frag, VMM_VQ_MAX_IOV);
		if (k <= 0) {
			vmm_virtio_driver_error(vd, "rx buffer %u: %d pieces",
						n->e.head, k);
			if (vmm_vq_push(vq, &n->e, 0)) {
				vmm_virtio_queue_error(vd, 0);
				return;
			}
			n->rx_pushed++;
			continue;
		}
		if (cap < NET_STAGE) {
			/* the rest of a longer frame lands in the staging
			 * buffer, at the offset it has in the frame */
			n->frag[k].iov_base = n->stage + cap;
			n->frag[k].iov_len = NET_STAGE - cap;
			k++;
		}
		got = readv(n->tap, n->frag, k);
		if (got <= 0 || (size_t)got + skip <= NET_HDR_LEN) {
			/* nothing there: give the buffer back, wait */
			vmm_vq_unpop(vq, &n->e);
			vmm_evloop_watch_arm(n->watch, true);
			return;
		}
		total = (size_t)got + skip;
		if (!n->vnet)
			vmm_iov_from_buf(&n->e.iov[n->e.n_out], n->e.n_in, 0,
					 zhdr, NET_HDR_LEN);
		if (total <= cap) {
			static const uint8_t one[2] = { 1, 0 };
			vmm_iov_from_buf(&n->e.iov[n->e.n_out], n->e.n_in, 10,
					 one, 2);
			vmm_vq_written(vq, &n->e, NULL);
			vd->stats.bytes_in += total - NET_HDR_LEN;
			vd->stats.requests++;
			if (vmm_vq_push(vq, &n->e, (uint32_t)total)) {
				vmm_virtio_queue_error(vd, 0);
				return;
			}
			n->rx_pushed++;
			continue;
		}
		/* longer than the chain */
		vmm_vq_unpop(vq, &n->e);
		if (!mrg) {
			n->rx_dropped++;
			vmm_virtio_log(vd, VMM_LOG_DEBUG, "rx: %zu-byte frame "
				       "dropped: buffers of %zu bytes", total,
				       cap);
			continue;
		}
		vmm_iov_to_buf(&n->e.iov[n->e.n_out], n->e.n_in, 0, n->stage,
			       cap);
		n->pend_len = total;
	}
}

/* ... then one interrupt check for all of them. */
static void net_rx(struct net *n)
{
	n->rx_pushed = 0;
	net_rx_frames(n);
	if (n->rx_pushed && n->vd->q[0].vq.ready && !n->vd->q[0].vq.broken)
		vmm_virtio_notify_queue(n->vd, 0);
}

static void net_tap_cb(void *opaque, int fd, unsigned events)
{
	struct net *n = opaque;

	(void)fd;
	(void)events;
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
	else if (n->pend_len)
		net_rx(n); /* a staged frame waits for these buffers */
	else
		vmm_evloop_watch_arm(n->watch, true);
}

static void net_driver_ok(void *be)
{
	net_sync_offloads(be);
}

/* Driver reset: a staged frame is dropped, the tap back to no offloads. */
static void net_reset(void *be)
{
	struct net *n = be;

	n->pend_len = 0;
	if (n->vnet && n->offl_valid && n->offl_features)
		ioctl(n->tap, TUNSETOFFLOAD, 0);
	n->offl_valid = false;
}

static void net_destroy(void *be)
{
	struct net *n = be;

	if (n->watch)
		vmm_evloop_unwatch(n->vd->loop, n->watch);
	if (n->tap >= 0)
		close(n->tap);
	if (n->stage)
		vmm__free(n->vm, n->stage);
	vmm__free(n->vm, n);
}

/* Our own tap: IFF_VNET_HDR, so the offloads can be offered. */
static int tap_open(vmm_vm *vm, const char *name)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return vmm__err(vm, -errno, "virtio-net: /dev/net/tun: %s",
				strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;
		close(fd);
		return vmm__err(vm, -e, "virtio-net: TUNSETIFF %s: %s", name,
				strerror(e));
	}
	return fd;
}

/*
 * Does the tap carry a vnet header?  Then make it ours (12 bytes) with no
 * offload until a driver accepts some.  An fd that is no tap at all (a
 * datagram socket) carries bare frames; a tun device or a tap with packet
 * information is refused.
 */
static int tap_vnet_setup(vmm_vm *vm, int fd, bool *vnet)
{
	struct ifreq ifr;
	int sz = NET_HDR_LEN;

	*vnet = false;
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0)
		return 0; /* not a tap: one frame per read/write, no header */
	if (!(ifr.ifr_flags & IFF_TAP) || !(ifr.ifr_flags & IFF_NO_PI))
		return vmm__err(vm, -EINVAL, "virtio-net: the fd must be a "
				"tap with IFF_NO_PI");
	if (!(ifr.ifr_flags & IFF_VNET_HDR))
		return 0;
	if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0 ||
	    ioctl(fd, TUNSETOFFLOAD, 0) < 0)
		return vmm__err(vm, -errno, "virtio-net: tap vnet header: %s",
				strerror(errno));
	*vnet = true;
	return 0;
}

void vmm_virtio_net_config_init(struct vmm_virtio_net_config *cfg,
				enum vmm_virtio_transport transport)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->struct_size = sizeof(*cfg);
	vmm_virtio_config_init(&cfg->virtio, transport);
	cfg->tap_fd = -1;
}

int vmm_virtio_net_attach(vmm_vm *vm, const struct vmm_virtio_net_config *ucfg,
			  vmm_dev **out)
{
	static const uint8_t zero[6];
	const struct vmm_virtio_net_config *cfg = ucfg;
	struct vmm_virtio_net_config c;
	struct net *n;
	int ret, fl;

	if (!vm)
		return -EINVAL;
	if (!cfg || !out)
		return vmm__err(vm, -EINVAL, "virtio-net: no tap");
	vmm_virtio_net_config_init(&c, VMM_VIRTIO_MMIO);
	if (VMM__STRUCT_IN_V(&c, ucfg, VMM__VIRTIO_NET_CONFIG_V02))
		return vmm__err(vm, -EINVAL,
				"virtio-net: bad struct_size %u or unknown "
				"non-zero fields in struct vmm_virtio_net_config",
				ucfg->struct_size);
	cfg = &c;
	if (cfg->tap_fd < 0 && !cfg->ifname)
		return vmm__err(vm, -EINVAL, "virtio-net: no tap");
	n = vmm__alloc(vm, sizeof(*n));
	if (!n)
		return vmm__err(vm, -ENOMEM, "virtio-net: out of memory");
	memset(n, 0, sizeof(*n));
	n->vm = vm;
	n->tap = -1;
	n->stage = vmm__alloc(vm, NET_STAGE);
	if (!n->stage) {
		net_destroy(n);
		return vmm__err(vm, -ENOMEM, "virtio-net: out of memory");
	}
	if (cfg->tap_fd >= 0) {
		n->tap = fcntl(cfg->tap_fd, F_DUPFD_CLOEXEC, 3);
		if (n->tap < 0 || (fl = fcntl(n->tap, F_GETFL)) < 0 ||
		    fcntl(n->tap, F_SETFL, fl | O_NONBLOCK) < 0) {
			ret = vmm__err(vm, -errno, "virtio-net: tap fd: %s",
				       strerror(errno));
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
	if ((ret = tap_vnet_setup(vm, n->tap, &n->vnet))) {
		net_destroy(n);
		return ret;
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
	n->ops = (struct vmm_virtio_dev_ops){
		.name = "net",
		.device_id = VIRTIO_ID_NET,
		.num_queues = 2,
		.queue_dirs = { VMM_VQ_DIR_WRITE, VMM_VQ_DIR_READ },
		.features = NET_BASE_FEATURES | (n->vnet ? NET_OFFLOADS : 0) |
			    (cfg->mtu ? F(VIRTIO_NET_F_MTU) : 0),
		.config_size = CONFIG_SIZE,
		.config_read = net_config_read,
		.queue_notify = net_queue_notify,
		.driver_ok = net_driver_ok,
		.reset = net_reset,
	};
	ret = vmm__virtio_attach(vm, &cfg->virtio, &n->ops, n, net_destroy,
				 out, &n->vd);
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
