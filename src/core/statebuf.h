/* SPDX-License-Identifier: MIT */
/*
 * statebuf.h - little-endian encoding of saved state: a growing writer and
 * a bounds-checked reader.  Used by devices' save/restore ops and by
 * src/migrate for every section of a snapshot or migration stream.
 *
 * Errors are sticky: after the first failure (out of memory, reading past
 * the end) every call is a no-op and reads return 0, so callers check once
 * at the end (vmm__sb_error(), vmm__sr_ok()).
 */
#ifndef LIBVMM_STATEBUF_H
#define LIBVMM_STATEBUF_H

#include "core/internal.h"

#include <string.h>

struct vmm_sbuf {
	vmm_vm *vm;          /* allocations go through its allocator */
	const struct vmm_allocator *a; /* or this, when vm is NULL */
	uint8_t *p;
	size_t len, cap;
	int err;             /* 0 or -ENOMEM / -E2BIG */
};

struct vmm_sreader {
	const uint8_t *p;
	size_t len, off;
	bool bad;            /* read past the end */
};

#define VMM_SBUF_MAX (64u << 20) /* one state blob never exceeds this */

static inline void vmm__sb_init(struct vmm_sbuf *b, vmm_vm *vm)
{
	memset(b, 0, sizeof(*b));
	b->vm = vm;
}

static inline void vmm__sb_free(struct vmm_sbuf *b)
{
	if (b->vm)
		vmm__free(b->vm, b->p);
	else
		vmm__free_with(b->a, b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static inline uint8_t *vmm__sb_room(struct vmm_sbuf *b, size_t n)
{
	uint8_t *np;
	size_t ncap;

	if (b->err)
		return NULL;
	if (n > VMM_SBUF_MAX || b->len > VMM_SBUF_MAX - n) {
		b->err = -E2BIG;
		return NULL;
	}
	if (b->len + n > b->cap) {
		ncap = b->cap ? b->cap : 256;
		while (ncap < b->len + n)
			ncap *= 2;
		np = b->vm ? vmm__alloc(b->vm, ncap) : vmm__alloc_with(b->a, ncap);
		if (!np) {
			b->err = -ENOMEM;
			return NULL;
		}
		if (b->len)
			memcpy(np, b->p, b->len);
		if (b->vm)
			vmm__free(b->vm, b->p);
		else
			vmm__free_with(b->a, b->p);
		b->p = np;
		b->cap = ncap;
	}
	b->len += n;
	return b->p + b->len - n;
}

static inline void vmm__sb_bytes(struct vmm_sbuf *b, const void *d, size_t n)
{
	uint8_t *p = vmm__sb_room(b, n);

	if (p && n)
		memcpy(p, d, n);
}

static inline void vmm__sb_zeros(struct vmm_sbuf *b, size_t n)
{
	uint8_t *p = vmm__sb_room(b, n);

	if (p && n)
		memset(p, 0, n);
}

static inline void vmm__sb_le(struct vmm_sbuf *b, uint64_t v, unsigned size)
{
	uint8_t *p = vmm__sb_room(b, size);

	for (unsigned i = 0; p && i < size; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline void vmm__sb_u8(struct vmm_sbuf *b, uint8_t v)
{
	vmm__sb_le(b, v, 1);
}
static inline void vmm__sb_u16(struct vmm_sbuf *b, uint16_t v)
{
	vmm__sb_le(b, v, 2);
}
static inline void vmm__sb_u32(struct vmm_sbuf *b, uint32_t v)
{
	vmm__sb_le(b, v, 4);
}
static inline void vmm__sb_u64(struct vmm_sbuf *b, uint64_t v)
{
	vmm__sb_le(b, v, 8);
}

static inline int vmm__sb_error(const struct vmm_sbuf *b)
{
	return b->err;
}

static inline void vmm__sr_init(struct vmm_sreader *r, const void *p,
				size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->bad = false;
}

static inline const uint8_t *vmm__sr_take(struct vmm_sreader *r, size_t n)
{
	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		return NULL;
	}
	r->off += n;
	return r->p + r->off - n;
}

static inline uint64_t vmm__sr_le(struct vmm_sreader *r, unsigned size)
{
	const uint8_t *p = vmm__sr_take(r, size);
	uint64_t v = 0;

	while (p && size--)
		v = (v << 8) | p[size];
	return v;
}

static inline uint8_t vmm__sr_u8(struct vmm_sreader *r)
{
	return (uint8_t)vmm__sr_le(r, 1);
}
static inline uint16_t vmm__sr_u16(struct vmm_sreader *r)
{
	return (uint16_t)vmm__sr_le(r, 2);
}
static inline uint32_t vmm__sr_u32(struct vmm_sreader *r)
{
	return (uint32_t)vmm__sr_le(r, 4);
}
static inline uint64_t vmm__sr_u64(struct vmm_sreader *r)
{
	return vmm__sr_le(r, 8);
}

static inline void vmm__sr_bytes(struct vmm_sreader *r, void *d, size_t n)
{
	const uint8_t *p = vmm__sr_take(r, n);

	if (p)
		memcpy(d, p, n);
	else
		memset(d, 0, n);
}

/* Bytes left to read. */
static inline size_t vmm__sr_left(const struct vmm_sreader *r)
{
	return r->bad ? 0 : r->len - r->off;
}

/* True if nothing was read past the end. */
static inline bool vmm__sr_ok(const struct vmm_sreader *r)
{
	return !r->bad;
}

/* True if everything was read, exactly. */
static inline bool vmm__sr_done(const struct vmm_sreader *r)
{
	return !r->bad && r->off == r->len;
}

/* What @r has left is exactly @b's content (and @b had no error). */
static inline bool vmm__sb_equals_rest(const struct vmm_sbuf *b,
				       const struct vmm_sreader *r)
{
	return !b->err && !r->bad && r->len - r->off == b->len &&
	       (!b->len || !memcmp(r->p + r->off, b->p, b->len));
}

#endif
