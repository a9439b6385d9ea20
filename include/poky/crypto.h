/* crypto.h - the one wrapper of OpenSSL for libpoky, pokyd and the tools
 * (L1): hashes, HMAC, random bytes and wiping secrets.
 *
 * Every file but this module's crypto.c (and the SigV4 signer, which keeps
 * its own per-thread contexts and derived-key cache on its hot path) calls
 * these instead of OpenSSL, so the library is reached from one place
 * (docs/ARCHITECTURE.md; test/integration/test_layers.py recounts it). */
#ifndef POKY_CRYPTO_H
#define POKY_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#include "poky/err.h"

#define CRYPTO_SHA256_LEN 32
#define CRYPTO_SHA1_LEN 20
#define CRYPTO_MD5_LEN 16

/* SHA-256 of data[0..n), raw into out[32] or as lowercase hex into out[65].
 * POKY_ERR_CRYPTO when OpenSSL refuses (no provider). */
enum poky_err crypto_sha256(const void *data, size_t n,
			    unsigned char out[CRYPTO_SHA256_LEN]);
enum poky_err crypto_sha256_hex(const void *data, size_t n, char out[65]);

/* Lowercase hex SHA-1 of data[0..n) into out[41] (the AWS CLI's SSO cache
 * file names; not for anything that needs collision resistance). */
enum poky_err crypto_sha1_hex(const void *data, size_t n, char out[41]);

/* HMAC-SHA256 of msg keyed with key, raw into out[32] or as lowercase hex
 * into out[65].  key may be NULL when key_len is 0.  The caller wipes out
 * when it is a secret. */
enum poky_err crypto_hmac_sha256(const void *key, size_t key_len,
				 const void *msg, size_t n,
				 unsigned char out[CRYPTO_SHA256_LEN]);
enum poky_err crypto_hmac_sha256_hex(const void *key, size_t key_len,
				     const void *msg, size_t n, char out[65]);

/* MD5 (S3's Content-MD5 and ETags).  One-shot, or streaming: _new gives a
 * started context (NULL when out of memory or OpenSSL refuses), _update
 * adds bytes, _final writes the digest (once), _free(NULL) is a no-op. */
struct crypto_md5;

enum poky_err crypto_md5(const void *data, size_t n,
			 unsigned char out[CRYPTO_MD5_LEN]);
struct crypto_md5 *crypto_md5_new(void);
enum poky_err crypto_md5_update(struct crypto_md5 *c, const void *data,
				size_t n);
enum poky_err crypto_md5_final(struct crypto_md5 *c,
			       unsigned char out[CRYPTO_MD5_LEN]);
void crypto_md5_free(struct crypto_md5 *c);

/* n bytes from OpenSSL's CSPRNG into out.  POKY_ERR_CRYPTO when it is not
 * seeded. */
enum poky_err crypto_random(void *out, size_t n);

/* True when a[0..n) equals b[0..n), in time that depends on n only (for
 * comparing secrets and their hashes). */
bool crypto_equal(const void *a, const void *b, size_t n);

/* Zero p[0..n) in a way the compiler may not drop (secrets before free).
 * p may be NULL when n is 0. */
void crypto_wipe(void *p, size_t n);

#endif
