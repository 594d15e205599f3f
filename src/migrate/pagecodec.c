/* SPDX-License-Identifier: MIT */
/*
 * pagecodec.c - zstd for page batches (see pagecodec.h).  libzstd does the
 * compression; this file bounds what comes out of it.
 */
#include "config.h"
#include "migrate/pagecodec.h"
#include "migrate/snap.h"

#include <errno.h>

#if VMM_HAVE_ZSTD
#include <zstd.h>

bool vmm__pz_available(void)
{
	return true;
}

size_t vmm__pz_bound(size_t len)
{
	return ZSTD_compressBound(len);
}

int64_t vmm__pz_compress(struct pagecodec *c, int level, const void *src,
			 size_t len, void *dst, size_t cap)
{
	size_t r;

	if (!c->cctx && !(c->cctx = ZSTD_createCCtx()))
		return -ENOMEM;
	r = ZSTD_compressCCtx(c->cctx, dst, cap, src, len, level);
	if (ZSTD_isError(r))
		return -EIO; /* includes "destination too small" */
	return (int64_t)r;
}

int vmm__pz_check_frame(const void *src, size_t len, size_t want, char *err,
			size_t el)
{
	unsigned long long cs = ZSTD_getFrameContentSize(src, len);
	size_t fs = ZSTD_findFrameCompressedSize(src, len);

	if (ZSTD_isError(fs) || fs != len)
		return vmm__snap_errf(err, el, -EBADMSG,
				      "zstd frame of %zu bytes is malformed or has trailing bytes",
				      len);
	if (cs == ZSTD_CONTENTSIZE_UNKNOWN || cs == ZSTD_CONTENTSIZE_ERROR)
		return vmm__snap_errf(err, el, -EBADMSG,
				      "zstd frame without its content size (%zu bytes expected)",
				      want);
	if (cs != want)
		return vmm__snap_errf(err, el, -EBADMSG,
				      "zstd frame declares %llu bytes, %zu expected",
				      cs, want);
	return 0;
}

int vmm__pz_decompress(struct pagecodec *c, const void *src, size_t len,
		       void *dst, size_t want, char *err, size_t el)
{
	size_t r;
	int ret;

	/* the declared size first: a frame claiming more than the batch
	 * is refused before a byte is produced */
	if ((ret = vmm__pz_check_frame(src, len, want, err, el)))
		return ret;
	if (!c->dctx && !(c->dctx = ZSTD_createDCtx()))
		return vmm__snap_errf(err, el, -ENOMEM, "out of memory");
	/* the output buffer is exactly @want: zstd stops with an error
	 * rather than write past it */
	r = ZSTD_decompressDCtx(c->dctx, dst, want, src, len);
	if (ZSTD_isError(r))
		return vmm__snap_errf(err, el, -EBADMSG,
				      "zstd: %s", ZSTD_getErrorName(r));
	if (r != want)
		return vmm__snap_errf(err, el, -EBADMSG,
				      "zstd batch decompressed to %zu bytes, %zu expected",
				      r, want);
	return 0;
}

void vmm__pz_free(struct pagecodec *c)
{
	ZSTD_freeCCtx(c->cctx);
	ZSTD_freeDCtx(c->dctx);
	c->cctx = c->dctx = NULL;
}

#else /* !VMM_HAVE_ZSTD */

bool vmm__pz_available(void)
{
	return false;
}

size_t vmm__pz_bound(size_t len)
{
	(void)len;
	return 0;
}

int64_t vmm__pz_compress(struct pagecodec *c, int level, const void *src,
			 size_t len, void *dst, size_t cap)
{
	(void)c, (void)level, (void)src, (void)len, (void)dst, (void)cap;
	return -ENOTSUP;
}

int vmm__pz_check_frame(const void *src, size_t len, size_t want, char *err,
			size_t el)
{
	(void)src, (void)len, (void)want;
	return vmm__snap_errf(err, el, -ENOTSUP,
			      "zstd-compressed data, and libvmm was built without zstd");
}

int vmm__pz_decompress(struct pagecodec *c, const void *src, size_t len,
		       void *dst, size_t want, char *err, size_t el)
{
	(void)c, (void)dst;
	return vmm__pz_check_frame(src, len, want, err, el);
}

void vmm__pz_free(struct pagecodec *c)
{
	(void)c;
}
#endif
