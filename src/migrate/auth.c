/* SPDX-License-Identifier: MIT */
/*
 * auth.c - HMAC-SHA256 through the kernel's AF_ALG sockets (or libcrypto
 * where the kernel lacks them and libvmm was built with it) and the
 * migration stream's handshake on top (see auth.h, docs/migration.md).
 * No cryptographic primitive is implemented here: this file only frames
 * the inputs of HMAC-SHA256 and compares its outputs in constant time.
 */
#include "config.h"
#include "migrate/auth.h"
#include "migrate/snap.h"

#include <errno.h>
#include <linux/if_alg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#if VMM_HAVE_LIBCRYPTO
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#endif

#ifndef AF_ALG
#define AF_ALG 38
#endif
#ifndef SOL_ALG
#define SOL_ALG 279
#endif

static int alg_open(struct mig_hmac *h, const void *key, size_t len)
{
	struct sockaddr_alg sa = { .salg_family = AF_ALG };
	int ret;

	memcpy(sa.salg_type, "hash", 5);
	memcpy(sa.salg_name, "hmac(sha256)", 13);
	h->tfm = socket(AF_ALG, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (h->tfm < 0)
		return -errno;
	if (bind(h->tfm, (struct sockaddr *)&sa, sizeof(sa)) ||
	    setsockopt(h->tfm, SOL_ALG, ALG_SET_KEY, key, (socklen_t)len) ||
	    (h->op = accept4(h->tfm, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		ret = -errno;
		close(h->tfm);
		h->tfm = -1;
		return ret;
	}
	h->impl = HMAC_AF_ALG;
	return 0;
}

static int alg_mac(struct mig_hmac *h, const struct iovec *v, int n,
		   uint8_t *out)
{
	struct msghdr m = { .msg_iov = (struct iovec *)v,
			    .msg_iovlen = (size_t)n };
	size_t total = 0;
	ssize_t r;

	for (int i = 0; i < n; i++)
		total += v[i].iov_len;
	/* one sendmsg without MSG_MORE hashes everything and finalizes;
	 * the next one starts a new hash with the same key */
	do {
		r = sendmsg(h->op, &m, 0);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if ((size_t)r != total)
		return -EIO;
	do {
		r = read(h->op, out, MIG_MAC_LEN);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r == MIG_MAC_LEN ? 0 : -EIO;
}

#if VMM_HAVE_LIBCRYPTO
static int ssl_open(struct mig_hmac *h, const void *key, size_t len)
{
	OSSL_PARAM par[2] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						 (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;

	if (!ctx || !EVP_MAC_init(ctx, key, len, par)) {
		EVP_MAC_CTX_free(ctx);
		EVP_MAC_free(mac);
		return -ENOTSUP;
	}
	h->mac = mac;
	h->ctx = ctx;
	h->impl = HMAC_LIBCRYPTO;
	return 0;
}

static int ssl_mac(struct mig_hmac *h, const struct iovec *v, int n,
		   uint8_t *out)
{
	size_t len = 0;

	/* NULL key: start again with the key given at open */
	if (!EVP_MAC_init(h->ctx, NULL, 0, NULL))
		return -EIO;
	for (int i = 0; i < n; i++)
		if (v[i].iov_len &&
		    !EVP_MAC_update(h->ctx, v[i].iov_base, v[i].iov_len))
			return -EIO;
	if (!EVP_MAC_final(h->ctx, out, &len, MIG_MAC_LEN) ||
	    len != MIG_MAC_LEN)
		return -EIO;
	return 0;
}
#endif

int vmm__hmac_open(struct mig_hmac *h, int impl, const void *key, size_t len,
		   char *err, size_t el)
{
	int ret = -ENOTSUP;

	memset(h, 0, sizeof(*h));
	h->tfm = h->op = -1;
	if (impl == HMAC_ANY || impl == HMAC_AF_ALG) {
		ret = alg_open(h, key, len);
		if (!ret || impl == HMAC_AF_ALG) {
			if (ret)
				vmm__snap_errf(err, el, ret == -EAFNOSUPPORT ?
					       -ENOTSUP : ret,
					       "HMAC-SHA256 through AF_ALG: %s",
					       strerror(-ret));
			return ret == -EAFNOSUPPORT ? -ENOTSUP : ret;
		}
	}
#if VMM_HAVE_LIBCRYPTO
	ret = ssl_open(h, key, len);
	if (ret)
		vmm__snap_errf(err, el, ret, "HMAC-SHA256 from libcrypto failed");
	return ret;
#else
	return vmm__snap_errf(err, el, -ENOTSUP,
			      "no HMAC-SHA256 here: the kernel has no AF_ALG hash sockets (CONFIG_CRYPTO_USER_API_HASH) and libvmm was built without libcrypto");
#endif
}

int vmm__hmac(struct mig_hmac *h, const struct iovec *v, int n,
	      uint8_t out[MIG_MAC_LEN])
{
	if (h->impl == HMAC_AF_ALG)
		return alg_mac(h, v, n, out);
#if VMM_HAVE_LIBCRYPTO
	if (h->impl == HMAC_LIBCRYPTO)
		return ssl_mac(h, v, n, out);
#endif
	return -EBADF;
}

void vmm__hmac_close(struct mig_hmac *h)
{
	if (h->impl == HMAC_AF_ALG) {
		close(h->op);
		close(h->tfm);
	}
#if VMM_HAVE_LIBCRYPTO
	if (h->impl == HMAC_LIBCRYPTO) {
		EVP_MAC_CTX_free(h->ctx);
		EVP_MAC_free(h->mac);
	}
#endif
	memset(h, 0, sizeof(*h));
	h->tfm = h->op = -1;
}

bool vmm__mac_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
	volatile uint8_t d = 0;

	for (size_t i = 0; i < len; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

/* ---- handshake ---- */

/* Labels make each use of the key distinct (a MAC of one role is never
 * valid as another's). */
static const char L_DST[] = "libvmm-migrate-auth-1 destination proof";
static const char L_SRC[] = "libvmm-migrate-auth-1 source proof";
static const char L_KSD[] = "libvmm-migrate-auth-1 key source->destination";
static const char L_KDS[] = "libvmm-migrate-auth-1 key destination->source";

/* HMAC(K, label || ns || nd) */
static int labelled(struct mig_auth *a, const char *label, uint8_t *out)
{
	struct iovec v[3] = {
		{ (void *)label, strlen(label) },
		{ a->ns, MIG_NONCE_LEN },
		{ a->nd, MIG_NONCE_LEN },
	};

	return vmm__hmac(&a->key, v, 3, out);
}

int vmm__mig_auth_init(struct mig_auth *a, bool src, const void *key,
		       size_t len, char *err, size_t el)
{
	memset(a, 0, sizeof(*a));
	a->src = src;
	a->key.tfm = a->key.op = a->tx.tfm = a->tx.op = -1;
	a->rx.tfm = a->rx.op = -1;
	if (!key || len < MIG_KEY_MIN || len > MIG_KEY_MAX)
		return vmm__snap_errf(err, el, -EINVAL,
				      "a migration key of %zu bytes (%d..%d)",
				      len, MIG_KEY_MIN, MIG_KEY_MAX);
	return vmm__hmac_open(&a->key, HMAC_ANY, key, len, err, el);
}

void vmm__mig_auth_free(struct mig_auth *a)
{
	vmm__hmac_close(&a->key);
	vmm__hmac_close(&a->tx);
	vmm__hmac_close(&a->rx);
	memset(a->ns, 0, sizeof(a->ns));
	memset(a->nd, 0, sizeof(a->nd));
	a->on = false;
}

static int nonce(uint8_t *p)
{
	size_t got = 0;

	while (got < MIG_NONCE_LEN) {
		ssize_t r = getrandom(p + got, MIG_NONCE_LEN - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		got += (size_t)r;
	}
	return 0;
}

/* Both session keys from the nonces; the pre-shared key's handle closes. */
static int derive(struct mig_auth *a, char *err, size_t el)
{
	uint8_t ksd[MIG_MAC_LEN], kds[MIG_MAC_LEN];
	int ret;

	if ((ret = labelled(a, L_KSD, ksd)) || (ret = labelled(a, L_KDS, kds)))
		return vmm__snap_errf(err, el, ret, "deriving the session keys");
	ret = vmm__hmac_open(&a->tx, a->key.impl, a->src ? ksd : kds,
			     MIG_MAC_LEN, err, el);
	if (!ret)
		ret = vmm__hmac_open(&a->rx, a->key.impl, a->src ? kds : ksd,
				     MIG_MAC_LEN, err, el);
	memset(ksd, 0, sizeof(ksd));
	memset(kds, 0, sizeof(kds));
	if (ret)
		return ret;
	vmm__hmac_close(&a->key);
	return 0;
}

int vmm__mig_auth1(struct mig_auth *a, uint8_t *out)
{
	int ret = nonce(a->ns);

	vmm__le_put32(out, MIG_AUTH_VERSION);
	vmm__le_put32(out + 4, MIG_AUTH_ALG_HMAC_SHA256);
	memcpy(out + 8, a->ns, MIG_NONCE_LEN);
	return ret;
}

int vmm__mig_auth2(struct mig_auth *a, const uint8_t *in, size_t len,
		   uint8_t *out, char *err, size_t el)
{
	int ret;

	if (len != MIG_AUTH1_LEN)
		return vmm__snap_errf(err, el, -EBADMSG,
				      "AUTH1 of %zu bytes", len);
	if (vmm__le_get32(in) != MIG_AUTH_VERSION ||
	    vmm__le_get32(in + 4) != MIG_AUTH_ALG_HMAC_SHA256)
		return vmm__snap_errf(err, el, -ENOTSUP,
				      "authentication version %u, algorithm %u (this libvmm: %d, %d)",
				      vmm__le_get32(in), vmm__le_get32(in + 4),
				      MIG_AUTH_VERSION,
				      MIG_AUTH_ALG_HMAC_SHA256);
	memcpy(a->ns, in + 8, MIG_NONCE_LEN);
	if ((ret = nonce(a->nd)))
		return vmm__snap_errf(err, el, ret, "getrandom failed");
	memcpy(out, a->nd, MIG_NONCE_LEN);
	if ((ret = labelled(a, L_DST, out + MIG_NONCE_LEN)))
		return vmm__snap_errf(err, el, ret, "HMAC failed");
	return 0;
}

int vmm__mig_auth3(struct mig_auth *a, const uint8_t *in, size_t len,
		   uint8_t *out, char *err, size_t el)
{
	uint8_t want[MIG_MAC_LEN];
	int ret;

	if (len != MIG_AUTH2_LEN)
		return vmm__snap_errf(err, el, -EBADMSG,
				      "AUTH2 of %zu bytes", len);
	memcpy(a->nd, in, MIG_NONCE_LEN);
	if ((ret = labelled(a, L_DST, want)))
		return vmm__snap_errf(err, el, ret, "HMAC failed");
	if (!vmm__mac_equal(want, in + MIG_NONCE_LEN, MIG_MAC_LEN))
		return vmm__snap_errf(err, el, -EACCES,
				      "authentication failed: the destination does not have our key (the keys differ)");
	if ((ret = labelled(a, L_SRC, out)))
		return vmm__snap_errf(err, el, ret, "HMAC failed");
	return derive(a, err, el);
}

int vmm__mig_auth_finish(struct mig_auth *a, const uint8_t *in, size_t len,
			 char *err, size_t el)
{
	uint8_t want[MIG_MAC_LEN];
	int ret;

	if (len != MIG_AUTH3_LEN)
		return vmm__snap_errf(err, el, -EBADMSG,
				      "AUTH3 of %zu bytes", len);
	if ((ret = labelled(a, L_SRC, want)))
		return vmm__snap_errf(err, el, ret, "HMAC failed");
	if (!vmm__mac_equal(want, in, MIG_MAC_LEN))
		return vmm__snap_errf(err, el, -EACCES,
				      "authentication failed: the source does not have our key (the keys differ)");
	return derive(a, err, el);
}

int vmm__mig_auth_mac(struct mig_hmac *h, const uint8_t *hdr,
		      const struct iovec *v, int n, uint8_t out[MIG_MAC_LEN])
{
	struct iovec all[4];

	if (n > 3)
		return -EINVAL;
	all[0].iov_base = (void *)hdr;
	all[0].iov_len = 24;
	for (int i = 0; i < n; i++)
		all[i + 1] = v[i];
	return vmm__hmac(h, all, n + 1, out);
}
