/* SPDX-License-Identifier: MIT */
/*
 * net_hdr.h - the virtio-net header (VIRTIO 1.2, 5.1.6: struct
 * virtio_net_hdr with num_buffers, 12 bytes with VIRTIO_F_VERSION_1) as a
 * transmitting driver hands it to the device, and its validation against
 * the negotiated offloads and the frame behind it.
 *
 * Every field is guest-controlled.  The device copies the header out of
 * guest memory once, checks the copy and passes only the checked copy on
 * (to a tap with IFF_VNET_HDR), so a driver changing the header after the
 * check changes nothing.
 */
#ifndef LIBVMM_DEV_VIRTIO_NET_HDR_H
#define LIBVMM_DEV_VIRTIO_NET_HDR_H

#include <stddef.h>
#include <stdint.h>

/* Feature bits (5.1.3) and header constants: the kernel's names. */
#include <linux/virtio_net.h>

/* struct virtio_net_hdr: flags, gso_type, then le16 hdr_len, gso_size,
 * csum_start, csum_offset, num_buffers */
#define VMM_NET_HDR_LEN sizeof(struct virtio_net_hdr_mrg_rxbuf)
#define VMM_NET_HDR_F_NEEDS_CSUM VIRTIO_NET_HDR_F_NEEDS_CSUM
#define VMM_NET_HDR_F_DATA_VALID VIRTIO_NET_HDR_F_DATA_VALID
#define VMM_NET_HDR_GSO_NONE VIRTIO_NET_HDR_GSO_NONE
#define VMM_NET_HDR_GSO_TCPV4 VIRTIO_NET_HDR_GSO_TCPV4
#define VMM_NET_HDR_GSO_UDP VIRTIO_NET_HDR_GSO_UDP
#define VMM_NET_HDR_GSO_TCPV6 VIRTIO_NET_HDR_GSO_TCPV6
#define VMM_NET_HDR_GSO_ECN VIRTIO_NET_HDR_GSO_ECN

/* The largest frame (without the header) either direction carries: a
 * 64 KiB GSO packet plus an Ethernet header with one VLAN tag. */
#define VMM_NET_MAX_FRAME (65536 + 18)

struct vmm_net_hdr {
	uint8_t flags, gso_type;
	uint16_t hdr_len, gso_size, csum_start, csum_offset, num_buffers;
};

/* Decode / encode the 12 little-endian bytes. */
void vmm__net_hdr_get(struct vmm_net_hdr *h, const uint8_t raw[VMM_NET_HDR_LEN]);
void vmm__net_hdr_put(uint8_t raw[VMM_NET_HDR_LEN], const struct vmm_net_hdr *h);

/*
 * vmm__net_tx_hdr_check() - validate the header @raw of a transmitted frame
 * of @frame_len bytes (the header not counted) under the negotiated
 * @features.  Accepted: flags 0 or NEEDS_CSUM (with VIRTIO_NET_F_CSUM and
 * csum_start + csum_offset + 2 <= @frame_len); gso_type NONE, or TCPV4 /
 * TCPV6 with HOST_TSO4 / HOST_TSO6 (ECN bit with HOST_ECN), and then
 * NEEDS_CSUM set, gso_size non-zero and hdr_len <= @frame_len; a frame of
 * 14 .. VMM_NET_MAX_FRAME bytes.  num_buffers is ignored (5.1.6.2: the
 * driver sets it to 0).  On success 0 and @out = the header to hand on
 * (num_buffers 0, hdr_len raised to cover the checksummed bytes as the
 * specification allows the device to treat it as a hint).  Otherwise
 * -EINVAL, @why (of @whylen bytes) says what was wrong.
 */
int vmm__net_tx_hdr_check(const uint8_t raw[VMM_NET_HDR_LEN], uint64_t features,
			  uint64_t frame_len, uint8_t out[VMM_NET_HDR_LEN],
			  char *why, size_t whylen);

#endif
