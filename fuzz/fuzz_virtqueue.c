/* SPDX-License-Identifier: MIT */
/*
 * fuzz_virtqueue - libFuzzer target for the descriptor-chain walker
 * (src/dev/virtio/virtqueue.c).  The input is a 64 KiB "guest memory"
 * (rings, indirect tables, buffers - all attacker-controlled) behind a
 * struct vmm_vq_mem of our own, preceded by 8 bytes of queue setup: size
 * exponent, features, directions, ring offsets.  The walker must never
 * hand out an iovec outside that memory, never loop, and keep its counts
 * consistent; used-ring writes must stay inside memory too.
 *
 * Bit 6 of byte 1 selects a packed ring (VIRTIO_F_RING_PACKED): then byte
 * 0 also gives sizes that are no power of two, byte 5 the avail/used
 * position and byte 6 bit 0 the wrap counter, and completions are pushed
 * in an order the input picks (out of order, several chains in flight).
 *
 *   ./build-fuzz/fuzz/fuzz_virtqueue -max_total_time=60
 */
#include "dev/virtio/virtqueue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MEM_SIZE 0x10000u

struct fmem {
	uint8_t *buf;
	size_t size;
};

static int f_read(void *o, uint64_t gpa, void *buf, size_t len)
{
	struct fmem *m = o;
	if (gpa > m->size || len > m->size - gpa)
		return -EFAULT;
	memcpy(buf, m->buf + gpa, len);
	return 0;
}

static int f_write(void *o, uint64_t gpa, const void *buf, size_t len)
{
	struct fmem *m = o;
	if (gpa > m->size || len > m->size - gpa)
		return -EFAULT;
	memcpy(m->buf + gpa, buf, len);
	return 0;
}

static int f_iovec(void *o, uint64_t gpa, size_t len, bool w,
		   struct iovec *iov, int max)
{
	struct fmem *m = o;
	if (max <= 0)
		return -E2BIG;
	if (gpa > m->size || len > m->size - gpa)
		return -EFAULT;
	/* split at 4 KiB boundaries to exercise the iovec bound */
	int n = 0;
	while (len) {
		size_t c = 0x1000 - (gpa & 0xfff);
		if (c > len)
			c = len;
		if (n == max)
			return -E2BIG;
		iov[n].iov_base = m->buf + gpa;
		iov[n].iov_len = c;
		n++;
		gpa += c;
		len -= c;
	}
	return n;
}

static struct vmm_vq_elem elem;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *mem;
	struct fmem fm;
	struct vmm_vq_mem vm = { f_read, f_write, f_iovec, &fm };
	struct vmm_vq vq;
	static struct vmm_vq_elem held[4];
	unsigned nheld = 0;

	if (size < 8)
		return 0;
	if (!mem)
		mem = malloc(MEM_SIZE);
	memset(mem, 0, MEM_SIZE);
	memcpy(mem, data + 8, size - 8 < MEM_SIZE ? size - 8 : MEM_SIZE);
	fm.buf = mem;
	fm.size = MEM_SIZE;

	memset(&vq, 0, sizeof(vq));
	vq.mem = &vm;
	vq.size = (uint16_t)(1u << (data[0] % 16));
	vq.event_idx = data[1] & 1;
	vq.indirect = data[1] & 2;
	vq.dirs = (data[1] >> 2) & 3 ? (data[1] >> 2) & 3 : VMM_VQ_DIR_ANY;
	vq.max_chain_bytes = (data[1] & 0x10) ? 0x2000 : 0;
	vq.desc = (uint64_t)data[2] << 8 | ((data[1] & 0x20) ? 0xffffffff00000000ull : 0);
	vq.avail = (uint64_t)data[3] << 8;
	vq.used = (uint64_t)data[4] << 8;
	vq.last_avail = (uint16_t)(data[5] | data[6] << 8);
	vq.used_idx = vq.last_avail;
	vq.packed = data[1] & 0x40;
	if (vq.packed) {
		/* any size 1..4096, positions inside the ring */
		vq.size = (uint16_t)(1 + ((data[0] * 37u + data[5]) % 4096));
		vq.last_avail = vq.used_idx = (uint16_t)(data[5] % vq.size);
		vq.avail_wrap = vq.used_wrap = data[6] & 1;
	}
	if (vmm_vq_check_layout(&vq))
		return 0;
	vq.ready = true;
	for (int i = 0; i < 64; i++) {
		int r = vmm_vq_pop(&vq, &elem);
		if (r <= 0) {
			if (r < 0 && !vq.broken)
				abort();
			break;
		}
		if (vq.packed && (elem.ndesc == 0 || elem.ndesc > vq.size ||
				  vq.last_avail >= vq.size))
			abort();
		uint64_t out = 0, in = 0;
		if (elem.n_out + elem.n_in > VMM_VQ_MAX_IOV || elem.head >= vq.size)
			abort();
		for (unsigned k = 0; k < elem.n_out + elem.n_in; k++) {
			uint8_t *b = elem.iov[k].iov_base;
			if (b < mem || b + elem.iov[k].iov_len > mem + MEM_SIZE)
				abort();
			if (k < elem.n_out)
				out += elem.iov[k].iov_len;
			else
				in += elem.iov[k].iov_len;
			if (k >= elem.n_out && (data[7] & 1))
				memset(b, 0xa5, elem.iov[k].iov_len);
		}
		if (out != elem.out_len || in != elem.in_len)
			abort();
		if (vq.packed && nheld < 4 && (data[7] & (4u << nheld))) {
			/* complete later, after younger chains */
			held[nheld++] = elem;
			continue;
		}
		if (vmm_vq_push(&vq, &elem, (uint32_t)in))
			break;
		if (vq.packed && vq.used_idx >= vq.size)
			abort();
		while (nheld && !(data[7] & 0x40))
			if (vmm_vq_push(&vq, &held[--nheld], 0))
				break;
		(void)vmm_vq_need_interrupt(&vq);
		if (data[7] & 2)
			(void)vmm_vq_enable_notify(&vq);
		else if (data[7] & 0x80)
			vmm_vq_disable_notify(&vq);
	}
	while (nheld && !vq.broken)
		if (vmm_vq_push(&vq, &held[--nheld], 0))
			break;
	(void)vmm_vq_has_avail(&vq);
	return 0;
}
