/* SPDX-License-Identifier: MIT */
/*
 * auth.h - authentication of the migration stream (docs/migration.md,
 * "Authentication"): HMAC-SHA256 from the kernel's AF_ALG socket interface
 * (or, when the kernel has no AF_ALG hash support, OpenSSL's libcrypto if
 * libvmm was built with it); never crypto of our own.  A pre-shared key,
 * a mutual challenge-response handshake with a nonce from each side, a
 * session key per direction derived from both nonces, and a MAC over the
 * header (with its sequence number) and payload of every later frame.
 */
#ifndef LIBVMM_MIGRATE_AUTH_H
#define LIBVMM_MIGRATE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define MIG_MAC_LEN 32
#define MIG_NONCE_LEN 32
#define MIG_KEY_MIN 16           /* bytes; shorter keys are refused */
#define MIG_KEY_MAX 4096

/* which implementation computes the HMAC */
enum mig_hmac_impl {
	HMAC_ANY = 0,        /* AF_ALG, else libcrypto */
	HMAC_AF_ALG = 1,
	HMAC_LIBCRYPTO = 2,
};

struct mig_hmac {
	int impl;            /* enum mig_hmac_impl, 0 = not open */
	int tfm, op;         /* AF_ALG sockets */
	void *mac, *ctx;     /* libcrypto EVP_MAC / EVP_MAC_CTX */
};

/*
 * Open an HMAC-SHA256 keyed with @key.  0, or -ENOTSUP (no implementation
 * here: message in @err) or another negative errno.
 */
int vmm__hmac_open(struct mig_hmac *h, int impl, const void *key, size_t len,
		   char *err, size_t el);
/* MAC of the concatenation of @n pieces into @out. */
int vmm__hmac(struct mig_hmac *h, const struct iovec *v, int n,
	      uint8_t out[MIG_MAC_LEN]);
void vmm__hmac_close(struct mig_hmac *h);

/* Constant-time comparison of two MACs: true when equal. */
bool vmm__mac_equal(const uint8_t *a, const uint8_t *b, size_t len);

/* ---- the handshake and the per-frame MAC ---- */

struct mig_auth {
	bool on;                     /* frames after the handshake carry MACs */
	bool src;
	struct mig_hmac key;         /* the pre-shared key (handshake only) */
	struct mig_hmac tx, rx;      /* session keys: our frames, the peer's */
	uint8_t ns[MIG_NONCE_LEN], nd[MIG_NONCE_LEN];
};

#define MIG_AUTH_VERSION 1
#define MIG_AUTH_ALG_HMAC_SHA256 1
#define MIG_AUTH1_LEN (8 + MIG_NONCE_LEN)
#define MIG_AUTH2_LEN (MIG_NONCE_LEN + MIG_MAC_LEN)
#define MIG_AUTH3_LEN MIG_MAC_LEN

int vmm__mig_auth_init(struct mig_auth *a, bool src, const void *key,
		       size_t len, char *err, size_t el);
void vmm__mig_auth_free(struct mig_auth *a);
/* source: the AUTH1 payload (MIG_AUTH1_LEN bytes) with a fresh nonce */
int vmm__mig_auth1(struct mig_auth *a, uint8_t *out);
/* destination: check AUTH1, answer with AUTH2 (MIG_AUTH2_LEN bytes) */
int vmm__mig_auth2(struct mig_auth *a, const uint8_t *in, size_t len,
		   uint8_t *out, char *err, size_t el);
/* source: check AUTH2 (-EACCES: keys differ), write AUTH3, derive keys
 * (the caller sets @on once AUTH3 is sent) */
int vmm__mig_auth3(struct mig_auth *a, const uint8_t *in, size_t len,
		   uint8_t *out, char *err, size_t el);
/* destination: check AUTH3 (-EACCES: keys differ), derive keys (the
 * caller sets @on) */
int vmm__mig_auth_finish(struct mig_auth *a, const uint8_t *in, size_t len,
			 char *err, size_t el);
/* MAC of a frame: its 24-byte header, then its payload pieces */
int vmm__mig_auth_mac(struct mig_hmac *h, const uint8_t *hdr,
		      const struct iovec *v, int n, uint8_t out[MIG_MAC_LEN]);

#endif
