/* SPDX-License-Identifier: MIT */
/*
 * fuzz_virtio_net - libFuzzer target for the virtio-net transmit header
 * check (src/dev/virtio/net_hdr.c), the one place where a driver's
 * offload request (flags, gso_type, hdr_len, gso_size, csum_start,
 * csum_offset, num_buffers) meets the frame length before it goes to the
 * tap.  Input: 8 bytes of negotiated features, 4 bytes of frame length,
 * then headers of 12 bytes each.  An accepted header must describe only
 * negotiated offloads and only bytes inside the frame; a rejected one
 * must say why.  Any violation aborts.
 *
 *   ./build-fuzz/fuzz/fuzz_virtio_net fuzz/corpus/virtio_net -max_total_time=60
 */
#include "dev/virtio/net_hdr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int has(uint64_t f, unsigned bit)
{
	return (int)((f >> bit) & 1);
}

static void check(const uint8_t raw[VMM_NET_HDR_LEN], uint64_t features,
		  uint64_t flen)
{
	uint8_t out[VMM_NET_HDR_LEN];
	char why[96];
	struct vmm_net_hdr in, h;
	unsigned gso;

	why[0] = 0;
	int ret = vmm__net_tx_hdr_check(raw, features, flen, out, why,
					sizeof(why));
	if (ret) {
		if (ret != -EINVAL || !why[0])
			abort();
		return;
	}
	vmm__net_hdr_get(&in, raw);
	vmm__net_hdr_get(&h, out);
	gso = h.gso_type & (unsigned)~VMM_NET_HDR_GSO_ECN;
	if (flen < 14 || flen > VMM_NET_MAX_FRAME)
		abort();
	if (h.flags & ~VMM_NET_HDR_F_NEEDS_CSUM || h.num_buffers)
		abort();
	/* the checked copy describes the same offload request */
	if (h.flags != in.flags || h.gso_type != in.gso_type)
		abort();
	if (h.flags & VMM_NET_HDR_F_NEEDS_CSUM) {
		if (!has(features, VIRTIO_NET_F_CSUM))
			abort();
		if ((uint64_t)h.csum_start + h.csum_offset + 2 > flen)
			abort();
		if (h.hdr_len < h.csum_start + h.csum_offset + 2u)
			abort();
	}
	if (h.hdr_len > flen)
		abort();
	if (gso == VMM_NET_HDR_GSO_NONE) {
		if (h.gso_type)
			abort();
		if (!h.flags && (h.hdr_len || h.gso_size || h.csum_start ||
				 h.csum_offset))
			abort();
	} else {
		if (!(h.flags & VMM_NET_HDR_F_NEEDS_CSUM) || !h.gso_size)
			abort();
		if (!(gso == VMM_NET_HDR_GSO_TCPV4 &&
		      has(features, VIRTIO_NET_F_HOST_TSO4)) &&
		    !(gso == VMM_NET_HDR_GSO_TCPV6 &&
		      has(features, VIRTIO_NET_F_HOST_TSO6)))
			abort();
		if ((h.gso_type & VMM_NET_HDR_GSO_ECN) &&
		    !has(features, VIRTIO_NET_F_HOST_ECN))
			abort();
	}
	/* checking the checked copy again changes nothing */
	uint8_t again[VMM_NET_HDR_LEN];
	if (vmm__net_tx_hdr_check(out, features, flen, again, why, sizeof(why)) ||
	    memcmp(again, out, sizeof(out)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t features = 0;
	uint32_t flen = 0;

	if (size < 12 + VMM_NET_HDR_LEN)
		return 0;
	memcpy(&features, data, 8);
	memcpy(&flen, data + 8, 4);
	/* mostly lengths near the interesting range */
	if (flen & 0x80000000u)
		flen &= 0x1ffff;
	data += 12;
	size -= 12;
	for (; size >= VMM_NET_HDR_LEN; data += VMM_NET_HDR_LEN,
					size -= VMM_NET_HDR_LEN)
		check(data, features, flen);
	return 0;
}
