/* SPDX-License-Identifier: MIT */
/*
 * pagecodec.h - zstd compression of page batches, for the migration
 * stream's PAGES_ZSTD frames and the ZSTD memory encoding of snapshot
 * format 2 (docs/migration.md, docs/snapshot-format.md).  Built only with
 * libzstd (meson -Dzstd=auto); without it vmm__pz_available() is false,
 * compression is refused with -ENOTSUP and compressed input is refused as
 * unsupported.  The decompressor writes into a buffer of exactly the
 * expected size and fails unless the stream fills it exactly.
 */
#ifndef LIBVMM_MIGRATE_PAGECODEC_H
#define LIBVMM_MIGRATE_PAGECODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PZ_LEVEL_MIGRATE 1   /* per 64-page batch, on the live path */
#define PZ_LEVEL_SNAPSHOT 3  /* zstd's default */

struct pagecodec {
	void *cctx, *dctx;
};

bool vmm__pz_available(void);
/* worst-case compressed size of @len bytes (0 without zstd) */
size_t vmm__pz_bound(size_t len);
/*
 * Compress @len bytes at @src into @dst (@cap bytes).  Returns the
 * compressed size, or a negative errno (-ENOTSUP without zstd, -ENOMEM,
 * -EIO).
 */
int64_t vmm__pz_compress(struct pagecodec *c, int level, const void *src,
			 size_t len, void *dst, size_t cap);
/*
 * Decompress the zstd frame at @src (@len bytes) into @dst, which must
 * come out exactly @want bytes: anything else (a longer or shorter
 * result, a corrupt or truncated frame, trailing bytes) is -EBADMSG with
 * the reason in @err.  -ENOTSUP without zstd.
 */
int vmm__pz_decompress(struct pagecodec *c, const void *src, size_t len,
		       void *dst, size_t want, char *err, size_t el);
/*
 * The content size a zstd frame declares in its header, checked against
 * @want without decompressing (what a parser can afford): 0 or -EBADMSG.
 */
int vmm__pz_check_frame(const void *src, size_t len, size_t want, char *err,
			size_t el);
void vmm__pz_free(struct pagecodec *c);

#endif
