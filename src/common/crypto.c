/* crypto.c - OpenSSL behind one small API (see crypto.h).
 *
 * The digests and the MAC are fetched once per process: an implicit fetch
 * (EVP_sha256()) looks the algorithm up under a lock on every call, and
 * pokyd hashes a bearer token on every request.  Contexts are per call;
 * nothing here is on a path that a per-thread cache would pay for (the
 * signer keeps its own). */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "poky/crypto.h"
#include "poky/str.h"

static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_sha256, *md_sha1, *md_md5;
static EVP_MAC *mac_hmac;

static void
crypto_fetch(void)
{
	/* A NULL left here (a provider without the algorithm) makes each
	 * call that needs it answer POKY_ERR_CRYPTO. */
	md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
	md_md5 = EVP_MD_fetch(NULL, "MD5", NULL);
	mac_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

static const EVP_MD *
crypto_md(EVP_MD **which)
{
	pthread_once(&crypto_once, crypto_fetch);
	return *which;
}

static enum poky_err
crypto_digest(EVP_MD **which, const void *data, size_t n, unsigned char *out,
	      unsigned int want)
{
	const EVP_MD *md = crypto_md(which);
	unsigned int len = 0;

	if (md == NULL || EVP_Digest(n ? data : "", n, out, &len, md, NULL) != 1 ||
	    len != want)
		return POKY_ERR_CRYPTO;
	return POKY_OK;
}

enum poky_err
crypto_sha256(const void *data, size_t n, unsigned char out[CRYPTO_SHA256_LEN])
{
	return crypto_digest(&md_sha256, data, n, out, CRYPTO_SHA256_LEN);
}

enum poky_err
crypto_sha256_hex(const void *data, size_t n, char out[65])
{
	unsigned char md[CRYPTO_SHA256_LEN];
	enum poky_err rc = crypto_sha256(data, n, md);

	if (rc == POKY_OK)
		str_hex(out, md, sizeof(md));
	return rc;
}

enum poky_err
crypto_sha1_hex(const void *data, size_t n, char out[41])
{
	unsigned char md[CRYPTO_SHA1_LEN];
	enum poky_err rc = crypto_digest(&md_sha1, data, n, md, CRYPTO_SHA1_LEN);

	if (rc == POKY_OK)
		str_hex(out, md, sizeof(md));
	return rc;
}

enum poky_err
crypto_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t n,
		   unsigned char out[CRYPTO_SHA256_LEN])
{
	EVP_MAC_CTX *ctx;
	OSSL_PARAM params[2];
	size_t outl = 0;
	bool ok;

	pthread_once(&crypto_once, crypto_fetch);
	if (mac_hmac == NULL || (ctx = EVP_MAC_CTX_new(mac_hmac)) == NULL)
		return POKY_ERR_CRYPTO;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	/* OpenSSL refuses a NULL key even when its length is 0. */
	ok = EVP_MAC_init(ctx, key_len ? key : (const void *)"", key_len, params) &&
	    EVP_MAC_update(ctx, n ? msg : (const void *)"", n) &&
	    EVP_MAC_final(ctx, out, &outl, CRYPTO_SHA256_LEN) &&
	    outl == CRYPTO_SHA256_LEN;
	EVP_MAC_CTX_free(ctx);
	return ok ? POKY_OK : POKY_ERR_CRYPTO;
}

enum poky_err
crypto_hmac_sha256_hex(const void *key, size_t key_len, const void *msg,
		       size_t n, char out[65])
{
	unsigned char mac[CRYPTO_SHA256_LEN];
	enum poky_err rc = crypto_hmac_sha256(key, key_len, msg, n, mac);

	if (rc == POKY_OK)
		str_hex(out, mac, sizeof(mac));
	crypto_wipe(mac, sizeof(mac));
	return rc;
}

enum poky_err
crypto_md5(const void *data, size_t n, unsigned char out[CRYPTO_MD5_LEN])
{
	return crypto_digest(&md_md5, data, n, out, CRYPTO_MD5_LEN);
}

struct crypto_md5 {
	EVP_MD_CTX *ctx;
};

struct crypto_md5 *
crypto_md5_new(void)
{
	const EVP_MD *md = crypto_md(&md_md5);
	struct crypto_md5 *c;

	if (md == NULL || (c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->ctx = EVP_MD_CTX_new();
	if (c->ctx == NULL || EVP_DigestInit_ex(c->ctx, md, NULL) != 1) {
		crypto_md5_free(c);
		return NULL;
	}
	return c;
}

enum poky_err
crypto_md5_update(struct crypto_md5 *c, const void *data, size_t n)
{
	if (n == 0)
		return POKY_OK;
	return EVP_DigestUpdate(c->ctx, data, n) == 1 ? POKY_OK : POKY_ERR_CRYPTO;
}

enum poky_err
crypto_md5_final(struct crypto_md5 *c, unsigned char out[CRYPTO_MD5_LEN])
{
	unsigned int len = 0;

	if (EVP_DigestFinal_ex(c->ctx, out, &len) != 1 || len != CRYPTO_MD5_LEN)
		return POKY_ERR_CRYPTO;
	return POKY_OK;
}

void
crypto_md5_free(struct crypto_md5 *c)
{
	if (c == NULL)
		return;
	EVP_MD_CTX_free(c->ctx);
	free(c);
}

enum poky_err
crypto_random(void *out, size_t n)
{
	/* RAND_bytes takes an int; callers ask for a few dozen bytes. */
	if (n > (size_t)0x7fffffff)
		return POKY_ERR_INVALID;
	if (n == 0)
		return POKY_OK;
	return RAND_bytes(out, (int)n) == 1 ? POKY_OK : POKY_ERR_CRYPTO;
}

bool
crypto_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

void
crypto_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}
