/* SPDX-License-Identifier: MIT */
/*
 * net_hdr.c - checking the virtio-net header a driver transmits
 * (net_hdr.h).  Pure functions: the fuzz target fuzz_virtio_net runs them
 * on arbitrary bytes.
 */
#include "dev/virtio/net_hdr.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

void vmm__net_hdr_get(struct vmm_net_hdr *h, const uint8_t raw[VMM_NET_HDR_LEN])
{
	h->flags = raw[0];
	h->gso_type = raw[1];
	h->hdr_len = le16(raw + 2);
	h->gso_size = le16(raw + 4);
	h->csum_start = le16(raw + 6);
	h->csum_offset = le16(raw + 8);
	h->num_buffers = le16(raw + 10);
}

void vmm__net_hdr_put(uint8_t raw[VMM_NET_HDR_LEN], const struct vmm_net_hdr *h)
{
	raw[0] = h->flags;
	raw[1] = h->gso_type;
	put16(raw + 2, h->hdr_len);
	put16(raw + 4, h->gso_size);
	put16(raw + 6, h->csum_start);
	put16(raw + 8, h->csum_offset);
	put16(raw + 10, h->num_buffers);
}

static bool has(uint64_t features, unsigned bit)
{
	return (features >> bit) & 1;
}

int vmm__net_tx_hdr_check(const uint8_t raw[VMM_NET_HDR_LEN], uint64_t features,
			  uint64_t frame_len, uint8_t out[VMM_NET_HDR_LEN],
			  char *why, size_t whylen)
{
	struct vmm_net_hdr h;
	unsigned gso;

	vmm__net_hdr_get(&h, raw);
	gso = h.gso_type & (unsigned)~VMM_NET_HDR_GSO_ECN;
	if (frame_len < 14 || frame_len > VMM_NET_MAX_FRAME) {
		snprintf(why, whylen, "frame of %llu bytes",
			 (unsigned long long)frame_len);
		return -EINVAL;
	}
	if (h.flags & ~VMM_NET_HDR_F_NEEDS_CSUM) {
		snprintf(why, whylen, "header flags 0x%x", h.flags);
		return -EINVAL;
	}
	if (h.flags & VMM_NET_HDR_F_NEEDS_CSUM) {
		if (!has(features, VIRTIO_NET_F_CSUM)) {
			snprintf(why, whylen, "NEEDS_CSUM without "
				 "VIRTIO_NET_F_CSUM");
			return -EINVAL;
		}
		/* the 16-bit checksum field lies inside the frame */
		if ((uint64_t)h.csum_start + h.csum_offset + 2 > frame_len ||
		    (uint64_t)h.csum_start + h.csum_offset + 2 > 0xffff) {
			snprintf(why, whylen, "checksum at %u+%u outside the "
				 "%llu-byte frame", h.csum_start, h.csum_offset,
				 (unsigned long long)frame_len);
			return -EINVAL;
		}
	}
	if (gso != VMM_NET_HDR_GSO_NONE) {
		bool ok = (gso == VMM_NET_HDR_GSO_TCPV4 &&
			   has(features, VIRTIO_NET_F_HOST_TSO4)) ||
			  (gso == VMM_NET_HDR_GSO_TCPV6 &&
			   has(features, VIRTIO_NET_F_HOST_TSO6));

		if (!ok || ((h.gso_type & VMM_NET_HDR_GSO_ECN) &&
			    !has(features, VIRTIO_NET_F_HOST_ECN))) {
			snprintf(why, whylen, "gso_type 0x%x not negotiated",
				 h.gso_type);
			return -EINVAL;
		}
		if (!(h.flags & VMM_NET_HDR_F_NEEDS_CSUM)) {
			snprintf(why, whylen, "GSO without NEEDS_CSUM");
			return -EINVAL;
		}
		if (h.gso_size == 0) {
			snprintf(why, whylen, "GSO with gso_size 0");
			return -EINVAL;
		}
		if (h.hdr_len > frame_len) {
			snprintf(why, whylen, "hdr_len %u beyond the %llu-byte "
				 "frame", h.hdr_len,
				 (unsigned long long)frame_len);
			return -EINVAL;
		}
	} else if (h.gso_type) {
		snprintf(why, whylen, "gso_type 0x%x", h.gso_type);
		return -EINVAL;
	}
	if (!(h.flags & VMM_NET_HDR_F_NEEDS_CSUM) && gso == 0) {
		/* nothing to offload: the other fields mean nothing */
		h.hdr_len = h.csum_start = h.csum_offset = h.gso_size = 0;
	} else if (h.flags & VMM_NET_HDR_F_NEEDS_CSUM) {
		/* hdr_len is a hint (5.1.6.2.2): cover the checksum field */
		uint32_t need = (uint32_t)h.csum_start + h.csum_offset + 2;
		if (h.hdr_len < need || h.hdr_len > frame_len)
			h.hdr_len = (uint16_t)need;
	}
	h.num_buffers = 0;
	vmm__net_hdr_put(out, &h);
	return 0;
}
