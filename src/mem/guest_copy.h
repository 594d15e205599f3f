/* SPDX-License-Identifier: MIT */
/*
 * guest_copy.h - copying to and from guest memory the way a device's DMA
 * does it: a naturally aligned 2-, 4- or 8-byte access is one load or one
 * store, so a field the guest updates concurrently (a virtqueue index, a
 * packed descriptor's flags, an event index) is seen entirely before or
 * entirely after the update, never half of each.
 *
 * memcpy() gives no such guarantee: glibc's x86-64 memcpy of 2 bytes loads
 * the 16-bit word and then the last byte again, and stores both, so a guest
 * store between the two loads yields the old low byte with the new high
 * byte (avail->idx 0x42fc -> 0x4300 read as 0x43fc: "avail index jumped"
 * by 256, docs/benchmarks.md).  Larger and unaligned copies stay memcpy():
 * nothing the guest shares with a device is read that way without an
 * index or flag (read with these helpers) ordering it first.
 */
#ifndef LIBVMM_MEM_GUEST_COPY_H
#define LIBVMM_MEM_GUEST_COPY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* @n bytes from guest memory at @guest into @dst. */
static inline void vmm__guest_load(void *dst, const void *guest, size_t n)
{
	uintptr_t a = (uintptr_t)guest;

	if (n == 2 && !(a & 1)) {
		uint16_t v = __atomic_load_n((const uint16_t *)guest,
					     __ATOMIC_RELAXED);
		memcpy(dst, &v, 2);
	} else if (n == 4 && !(a & 3)) {
		uint32_t v = __atomic_load_n((const uint32_t *)guest,
					     __ATOMIC_RELAXED);
		memcpy(dst, &v, 4);
	} else if (n == 8 && !(a & 7)) {
		uint64_t v = __atomic_load_n((const uint64_t *)guest,
					     __ATOMIC_RELAXED);
		memcpy(dst, &v, 8);
	} else {
		memcpy(dst, guest, n);
	}
}

/* @n bytes from @src into guest memory at @guest. */
static inline void vmm__guest_store(void *guest, const void *src, size_t n)
{
	uintptr_t a = (uintptr_t)guest;

	if (n == 2 && !(a & 1)) {
		uint16_t v;
		memcpy(&v, src, 2);
		__atomic_store_n((uint16_t *)guest, v, __ATOMIC_RELAXED);
	} else if (n == 4 && !(a & 3)) {
		uint32_t v;
		memcpy(&v, src, 4);
		__atomic_store_n((uint32_t *)guest, v, __ATOMIC_RELAXED);
	} else if (n == 8 && !(a & 7)) {
		uint64_t v;
		memcpy(&v, src, 8);
		__atomic_store_n((uint64_t *)guest, v, __ATOMIC_RELAXED);
	} else {
		memcpy(guest, src, n);
	}
}

#endif
