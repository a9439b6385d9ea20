/* sigv4.c - AWS Signature Version 4 (see sigv4.h).
 *
 * sigv4_sign is a pipeline of named stages, each a function below: payload
 * hash, canonical request (method, URI, query, headers, signed headers,
 * payload, in the order AWS documents them), string to sign, signature,
 * emit (a query or headers).  Every stage's output is kept in the result, so
 * a test against AWS's suite names the stage that went wrong.  The
 * canonical forms themselves (URI, query, headers) and the input checks
 * are text work without keys, in sigv4_canon.c.
 *
 * OpenSSL objects are fetched once; each thread keeps its own digest and MAC
 * contexts, so a signature costs two SHA-256 runs and one HMAC when the
 * derived key is cached. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "poky/sigv4.h"
#include "poky/str.h"
#include "sigv4_canon.h"

#define ALGORITHM "AWS4-HMAC-SHA256"
#define KEY_CACHE_SLOTS 8
#define CACHE_FIELD_MAX 64
#define CACHE_SECRET_MAX 128

/* ---- OpenSSL objects: fetched once, contexts per thread ---------------- */

struct crypto_tls {
	EVP_MD_CTX *md;
	EVP_MAC_CTX *mac;
};

static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;
static EVP_MAC *hmac_mac;
static pthread_key_t crypto_key;
static bool crypto_ready;

static void
crypto_tls_free(void *p)
{
	struct crypto_tls *t = p;

	if (t == NULL)
		return;
	EVP_MD_CTX_free(t->md);
	EVP_MAC_CTX_free(t->mac);
	free(t);
}

static void
crypto_init(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (sha256_md == NULL || hmac_mac == NULL)
		return;
	if (pthread_key_create(&crypto_key, crypto_tls_free) != 0)
		return;
	crypto_ready = true;
}

static struct crypto_tls *
crypto_get(void)
{
	struct crypto_tls *t;
	OSSL_PARAM params[2];

	pthread_once(&crypto_once, crypto_init);
	if (!crypto_ready)
		return NULL;
	t = pthread_getspecific(crypto_key);
	if (t != NULL)
		return t;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->md = EVP_MD_CTX_new();
	t->mac = EVP_MAC_CTX_new(hmac_mac);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	/* Setting the digest once here keeps the per-HMAC init free of a
	 * name lookup. */
	if (t->md == NULL || t->mac == NULL ||
	    !EVP_MAC_CTX_set_params(t->mac, params) ||
	    pthread_setspecific(crypto_key, t) != 0) {
		crypto_tls_free(t);
		return NULL;
	}
	return t;
}

static bool
sha256(struct crypto_tls *t, const void *p, size_t n, unsigned char out[32])
{
	return EVP_DigestInit_ex(t->md, sha256_md, NULL) &&
	    EVP_DigestUpdate(t->md, p, n) &&
	    EVP_DigestFinal_ex(t->md, out, NULL);
}

static bool
hmac(struct crypto_tls *t, const unsigned char *key, size_t klen,
     const void *msg, size_t n, unsigned char out[32])
{
	size_t outl = 0;

	return EVP_MAC_init(t->mac, key, klen, NULL) &&
	    EVP_MAC_update(t->mac, msg, n) &&
	    EVP_MAC_final(t->mac, out, &outl, 32) && outl == 32;
}

/* ---- derived signing keys, cached --------------------------------------- */

struct key_slot {
	bool used;
	char date[9];
	char region[CACHE_FIELD_MAX];
	char service[CACHE_FIELD_MAX];
	size_t secret_len;
	unsigned char secret[CACHE_SECRET_MAX];
	unsigned char key[32];
};

static pthread_mutex_t key_lock = PTHREAD_MUTEX_INITIALIZER;
static struct key_slot key_cache[KEY_CACHE_SLOTS];
static unsigned key_next;

static bool
key_cacheable(const char *secret, size_t slen, const char *region,
	      const char *service)
{
	(void)secret;
	return slen <= CACHE_SECRET_MAX && strlen(region) < CACHE_FIELD_MAX &&
	    strlen(service) < CACHE_FIELD_MAX;
}

static bool
key_lookup(const char *date, const char *secret, size_t slen,
	   const char *region, const char *service, unsigned char key[32])
{
	bool found = false;

	pthread_mutex_lock(&key_lock);
	for (int i = 0; i < KEY_CACHE_SLOTS; i++) {
		struct key_slot *s = &key_cache[i];

		if (s->used && s->secret_len == slen &&
		    strcmp(s->date, date) == 0 &&
		    strcmp(s->region, region) == 0 &&
		    strcmp(s->service, service) == 0 &&
		    CRYPTO_memcmp(s->secret, secret, slen) == 0) {
			memcpy(key, s->key, 32);
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&key_lock);
	return found;
}

static void
key_store(const char *date, const char *secret, size_t slen,
	  const char *region, const char *service, const unsigned char key[32])
{
	struct key_slot *s;

	pthread_mutex_lock(&key_lock);
	s = &key_cache[key_next++ % KEY_CACHE_SLOTS];
	OPENSSL_cleanse(s, sizeof(*s));
	s->used = true;
	str_copy(s->date, sizeof(s->date), date);
	strcpy(s->region, region);
	strcpy(s->service, service);
	memcpy(s->secret, secret, slen);
	s->secret_len = slen;
	memcpy(s->key, key, 32);
	pthread_mutex_unlock(&key_lock);
}

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
 * "aws4_request") */
static bool
derive_key(struct crypto_tls *t, const char *date, const char *secret,
	   const char *region, const char *service, unsigned char key[32])
{
	size_t slen = strlen(secret);
	unsigned char *k0;
	bool ok;

	if (key_cacheable(secret, slen, region, service) &&
	    key_lookup(date, secret, slen, region, service, key))
		return true;
	k0 = malloc(slen + 5);
	if (k0 == NULL)
		return false;
	memcpy(k0, "AWS4", 4);
	memcpy(k0 + 4, secret, slen + 1);
	ok = hmac(t, k0, slen + 4, date, 8, key) &&
	    hmac(t, key, 32, region, strlen(region), key) &&
	    hmac(t, key, 32, service, strlen(service), key) &&
	    hmac(t, key, 32, "aws4_request", 12, key);
	OPENSSL_cleanse(k0, slen + 5);
	free(k0);
	if (ok && key_cacheable(secret, slen, region, service))
		key_store(date, secret, slen, region, service, key);
	return ok;
}

void
sigv4_cleanup(void)
{
	struct crypto_tls *t;

	pthread_mutex_lock(&key_lock);
	OPENSSL_cleanse(key_cache, sizeof(key_cache));
	pthread_mutex_unlock(&key_lock);
	if (!crypto_ready)
		return;
	t = pthread_getspecific(crypto_key);
	pthread_setspecific(crypto_key, NULL);
	crypto_tls_free(t);
	EVP_MD_free(sha256_md);
	EVP_MAC_free(hmac_mac);
	sha256_md = NULL;
	hmac_mac = NULL;
	crypto_ready = false;
}

/* ---- result ------------------------------------------------------------- */

void
sigv4_result_init(struct sigv4_result *res)
{
	memset(res, 0, sizeof(*res));
	buf_init(&res->query, SIGV4_MAX_TARGET);
	buf_init(&res->authorization, 4096 + (size_t)64 * SIGV4_MAX_HEADERS);
	buf_init(&res->canonical_request, SIGV4_MAX_CANONICAL);
	buf_init(&res->string_to_sign, 1024);
	buf_init(&res->scratch, SIGV4_MAX_CANONICAL);
}

void
sigv4_result_cleanup(struct sigv4_result *res)
{
	buf_free(&res->query);
	buf_free(&res->authorization);
	buf_free(&res->canonical_request);
	buf_free(&res->string_to_sign);
	buf_free(&res->scratch);
	OPENSSL_cleanse(res->signature, sizeof(res->signature));
}

/* ---- signing: the stages ------------------------------------------------- */

/* What one signature is working on; the stages below fill it in order. */
struct sign {
	const struct sigv4_request *req;
	const struct sigv4_params *pa;
	const struct sigv4_creds *cr;
	struct sigv4_result *res;
	struct crypto_tls *t;
	bool presign;                   /* query-string (presigned URL) mode */
	bool token;                     /* the credentials carry a session token */
	bool sign_token;                /* ... and it is part of what is signed */
	bool content_hdr;               /* x-amz-content-sha256 is sent */
	char date8[9];                  /* YYYYMMDD of the scope */
	char expires[16];
	struct chdr *h;                 /* the headers that are signed */
	size_t nh;
	struct qlist q;
	struct buf qstore, tmp, signed_hdrs, cred;
};

/* A buffer limit or allocation failure in a stage: one message for each,
 * since which buffer ran out says nothing useful to the caller. */
static enum poky_err
sign_limit(struct poky_error *e, enum poky_err rc)
{
	return poky_error_set(e, rc, rc == POKY_ERR_NOMEM ? "out of memory" :
	    "request too large to sign");
}

static void
sign_init(struct sign *s, const struct sigv4_request *req,
	  const struct sigv4_params *pa, const struct sigv4_creds *cr,
	  struct sigv4_result *res)
{
	unsigned flags = pa->flags;

	memset(s, 0, sizeof(*s));
	s->req = req;
	s->pa = pa;
	s->cr = cr;
	s->res = res;
	s->presign = flags & SIGV4_PRESIGN;
	s->token = cr->session_token != NULL && cr->session_token[0] != '\0';
	s->sign_token = s->token && !(flags & SIGV4_OMIT_TOKEN);
	s->content_hdr = !s->presign && (flags & (SIGV4_S3 | SIGV4_SIGN_BODY));
	buf_init(&s->qstore, SIGV4_MAX_CANONICAL);
	buf_init(&s->tmp, SIGV4_MAX_TARGET);
	buf_init(&s->signed_hdrs, (size_t)64 * SIGV4_MAX_HEADERS);
	buf_init(&s->cred, 1024);
	/* A result reused from an earlier signature must not leak into this
	 * one, even when this one fails. */
	res->n_added = 0;
	buf_reset(&res->query);
	buf_reset(&res->authorization);
	buf_reset(&res->canonical_request);
	buf_reset(&res->string_to_sign);
	res->signature[0] = '\0';
}

static void
sign_cleanup(struct sign *s)
{
	free(s->h);
	free(s->q.v);
	buf_free(&s->qstore);
	buf_free(&s->tmp);
	buf_free(&s->signed_hdrs);
	buf_free(&s->cred);
}

/* Buffers, crypto contexts and the date, before any stage runs. */
static enum poky_err
sign_prepare(struct sign *s, struct poky_error *e)
{
	enum poky_err rc;

	/* Allocate up front so spans into these buffers are never NULL. */
	if ((rc = buf_reserve(&s->qstore, 0)) || (rc = buf_reserve(&s->signed_hdrs, 0)) ||
	    (rc = buf_reserve(&s->res->scratch, 0)))
		return sign_limit(e, rc);
	if ((s->t = crypto_get()) == NULL)
		return poky_error_set(e, POKY_ERR_CRYPTO, "OpenSSL SHA-256/HMAC unavailable");
	str_time_amz(s->res->amz_date, s->pa->time);
	memcpy(s->date8, s->res->amz_date, 8);
	s->date8[8] = '\0';
	return POKY_OK;
}

/* Stage 1.  The payload hash ends the canonical request and may be sent as
 * a header, so it comes first: UNSIGNED-PAYLOAD when asked (and always for
 * presigned S3 URLs, whose body is not known), the caller's own hash for a
 * streamed body, else SHA-256 of the body. */
static enum poky_err
sign_payload_hash(struct sign *s, struct poky_error *e)
{
	const struct sigv4_request *req = s->req;
	struct sigv4_result *res = s->res;
	struct crypto_tls *t = s->t;
	unsigned char digest[32];

	if ((s->pa->flags & SIGV4_UNSIGNED_PAYLOAD) ||
	    (s->presign && (s->pa->flags & SIGV4_S3))) {
		strcpy(res->payload_hash, SIGV4_UNSIGNED_PAYLOAD_HASH);
	} else if (req->payload_hash != NULL) {
		strcpy(res->payload_hash, req->payload_hash);
	} else {
		if (!sha256(t, req->body ? req->body : "", req->body_len, digest))
			return poky_error_set(e, POKY_ERR_CRYPTO, "SHA-256 failed");
		str_hex(res->payload_hash, digest, 32);
	}
	return POKY_OK;
}

/* Stage 2a.  The headers to sign: the request's own, less those that
 * change on the way and those we add ourselves - which, in header mode,
 * are then signed with the values we are about to send. */
static enum poky_err
sign_headers(struct sign *s, struct poky_error *e)
{
	const struct sigv4_request *req = s->req;
	struct sigv4_result *res = s->res;
	struct chdr *h;
	size_t nh = 0;

	h = s->h = calloc(req->n_headers + SIGV4_MAX_ADDED, sizeof(*h));
	if (h == NULL)
		return poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct hdr *x = &req->headers[i];

		if (sigv4_header_is_unsigned(x->name, x->name_len) ||
		    (!s->presign && sigv4_header_is_added(x->name, x->name_len)))
			continue;
		h[nh++] = (struct chdr){ x->name, x->name_len, x->value,
					 x->value_len, i };
	}
	if (!s->presign) {
		h[nh++] = (struct chdr){ "x-amz-date", 10, res->amz_date, 16,
					 req->n_headers };
		if (s->sign_token)
			h[nh++] = (struct chdr){ "x-amz-security-token", 20,
			    s->cr->session_token, strlen(s->cr->session_token),
			    req->n_headers + 1 };
		if (s->content_hdr)
			h[nh++] = (struct chdr){ "x-amz-content-sha256", 20,
			    res->payload_hash, strlen(res->payload_hash),
			    req->n_headers + 2 };
	}
	s->nh = nh;
	return POKY_OK;
}

/* Stage 2b.  The query: the target's own parameters and, for a presigned
 * URL, the X-Amz-* ones - which name the signed headers and the
 * credential scope, so those are built before this runs. */
static enum poky_err
sign_query(struct sign *s, const char *query, size_t query_len)
{
	struct qlist *q = &s->q;
	struct buf *tmp = &s->tmp;
	const struct sigv4_creds *cr = s->cr;
	enum poky_err rc;

	q->store = &s->qstore;
	if (query != NULL && (rc = sigv4_qlist_parse(q, tmp, query, query_len)))
		return rc;
	if (s->presign) {
		snprintf(s->expires, sizeof(s->expires), "%u", s->pa->expires);
		if ((rc = sigv4_qlist_add(q, tmp, "X-Amz-Algorithm", 15, ALGORITHM,
		     strlen(ALGORITHM), false)) ||
		    (rc = sigv4_qlist_add(q, tmp, "X-Amz-Credential", 16, s->cred.data,
		     s->cred.len, false)) ||
		    (rc = sigv4_qlist_add(q, tmp, "X-Amz-Date", 10, s->res->amz_date, 16,
		     false)) ||
		    (rc = sigv4_qlist_add(q, tmp, "X-Amz-Expires", 13, s->expires,
		     strlen(s->expires), false)) ||
		    (s->sign_token && (rc = sigv4_qlist_add(q, tmp, "X-Amz-Security-Token",
		     20, cr->session_token, strlen(cr->session_token), false))) ||
		    (rc = sigv4_qlist_add(q, tmp, "X-Amz-SignedHeaders", 19,
		     s->signed_hdrs.data, s->signed_hdrs.len, false)))
			return rc;
	}
	sigv4_qlist_sort(q);
	return POKY_OK;
}

/* Stage 2.  The canonical request, in AWS's order: method, URI, query,
 * headers, signed-header list, payload hash.  It is kept in the result so
 * a failing test can show which line differs. */
static enum poky_err
sign_canonical_request(struct sign *s, struct poky_error *e)
{
	const struct sigv4_request *req = s->req;
	struct sigv4_result *res = s->res;
	struct buf *crq = &res->canonical_request;
	const char *qmark = memchr(req->target, '?', req->target_len);
	size_t path_len = qmark ? (size_t)(qmark - req->target) : req->target_len;
	enum poky_err rc;

	if ((rc = sign_headers(s, e)))
		return rc;
	if ((rc = buf_append_str(crq, req->method)) ||
	    (rc = buf_append_byte(crq, '\n')) ||
	    (rc = sigv4_canon_uri(crq, &res->scratch, req->target, path_len,
	     s->pa->flags)) ||
	    (rc = buf_append_byte(crq, '\n')))
		return sign_limit(e, rc);
	/* The signed-header list is needed by the presigned query, so build
	 * the header block aside first. */
	buf_reset(&res->scratch);
	if ((rc = sigv4_canon_headers(s->h, s->nh, &res->scratch, &s->signed_hdrs)) ||
	    (rc = buf_printf(&s->cred, "%s/%s/%s/%s/aws4_request",
	     s->cr->access_key_id, s->date8, s->pa->region, s->pa->service)) ||
	    (rc = sign_query(s, qmark ? qmark + 1 : NULL,
	     qmark ? req->target_len - path_len - 1 : 0)))
		return sign_limit(e, rc);
	if ((rc = sigv4_qlist_write(&s->q, crq)) ||
	    (rc = buf_append_byte(crq, '\n')) ||
	    (rc = buf_append(crq, res->scratch.data, res->scratch.len)) ||
	    (rc = buf_append_byte(crq, '\n')) ||
	    (rc = buf_append(crq, s->signed_hdrs.data, s->signed_hdrs.len)) ||
	    (rc = buf_append_byte(crq, '\n')) ||
	    (rc = buf_append_str(crq, res->payload_hash)))
		return sign_limit(e, rc);
	return POKY_OK;
}

/* Stage 3.  The string to sign binds the canonical request (by its hash)
 * to the time and the credential scope, so a signature is good for one
 * region, service and day only. */
static enum poky_err
sign_string_to_sign(struct sign *s, struct poky_error *e)
{
	struct sigv4_result *res = s->res;
	const struct buf *crq = &res->canonical_request;
	struct crypto_tls *t = s->t;
	unsigned char digest[32];
	char crhex[65];
	enum poky_err rc;

	if (!sha256(t, crq->data, crq->len, digest))
		return poky_error_set(e, POKY_ERR_CRYPTO, "SHA-256 failed");
	str_hex(crhex, digest, 32);
	if ((rc = buf_printf(&res->string_to_sign, ALGORITHM "\n%s\n%s/%s/%s/aws4_request\n%s",
	    res->amz_date, s->date8, s->pa->region, s->pa->service, crhex)))
		return sign_limit(e, rc);
	return POKY_OK;
}

/* Stage 4.  HMAC of the string to sign with the key derived from the
 * secret for this scope; the derived key is wiped as soon as it is used
 * (the cache keeps its own copy). */
static enum poky_err
sign_signature(struct sign *s, struct poky_error *e)
{
	struct sigv4_result *res = s->res;
	struct crypto_tls *t = s->t;
	unsigned char digest[32], key[32];

	if (!derive_key(t, s->date8, s->cr->secret_access_key, s->pa->region,
	    s->pa->service, key) ||
	    !hmac(t, key, 32, res->string_to_sign.data, res->string_to_sign.len,
	    digest)) {
		OPENSSL_cleanse(key, sizeof(key));
		return poky_error_set(e, POKY_ERR_CRYPTO, "HMAC-SHA256 failed");
	}
	OPENSSL_cleanse(key, sizeof(key));
	str_hex(res->signature, digest, 32);
	return POKY_OK;
}

static void
add_header(struct sigv4_result *res, const char *name, const char *value,
	   size_t value_len)
{
	struct hdr *h = &res->added[res->n_added++];

	h->name = name;
	h->name_len = strlen(name);
	h->value = value;
	h->value_len = value_len;
}

/* Stage 5, presigned: the query to append, in the order AWS's own
 * presigners use (the token, even when not signed, must travel). */
static enum poky_err
sign_emit_query(struct sign *s)
{
	const struct sigv4_creds *cr = s->cr;
	struct buf *o = &s->res->query;
	enum poky_err rc;

	if ((rc = buf_append_str(o, "X-Amz-Algorithm=" ALGORITHM
	     "&X-Amz-Credential=")) ||
	    (rc = str_uri_encode(o, s->cred.data, s->cred.len, false)) ||
	    (rc = buf_printf(o, "&X-Amz-Date=%s&X-Amz-SignedHeaders=",
	     s->res->amz_date)) ||
	    (rc = str_uri_encode(o, s->signed_hdrs.data, s->signed_hdrs.len, false)) ||
	    (rc = buf_printf(o, "&X-Amz-Expires=%s", s->expires)))
		return rc;
	if (s->token && ((rc = buf_append_str(o, "&X-Amz-Security-Token=")) ||
	    (rc = str_uri_encode(o, cr->session_token,
	     strlen(cr->session_token), false))))
		return rc;
	return buf_printf(o, "&X-Amz-Signature=%s", s->res->signature);
}

/* Stage 5, headers: Authorization and the headers it signed that the
 * caller does not send itself, in the order sigv4.h promises. */
static enum poky_err
sign_emit_headers(struct sign *s)
{
	const struct sigv4_creds *cr = s->cr;
	struct sigv4_result *res = s->res;
	enum poky_err rc;

	if ((rc = buf_printf(&res->authorization,
	    ALGORITHM " Credential=%s, SignedHeaders=%s, Signature=%s",
	    s->cred.data, s->signed_hdrs.data, res->signature)))
		return rc;
	if (s->token)
		add_header(res, "X-Amz-Security-Token", cr->session_token,
		    strlen(cr->session_token));
	add_header(res, "X-Amz-Date", res->amz_date, 16);
	if (s->content_hdr)
		add_header(res, "x-amz-content-sha256", res->payload_hash,
		    strlen(res->payload_hash));
	add_header(res, "Authorization", res->authorization.data,
	    res->authorization.len);
	return POKY_OK;
}

/* Stage 5.  What the caller sends: a query, or headers. */
static enum poky_err
sign_emit(struct sign *s, struct poky_error *e)
{
	enum poky_err rc = s->presign ? sign_emit_query(s) : sign_emit_headers(s);

	return rc ? sign_limit(e, rc) : POKY_OK;
}

/* ---- signing --------------------------------------------------------------- */

enum poky_err
sigv4_sign(const struct sigv4_request *req, const struct sigv4_params *pa,
	   const struct sigv4_creds *cr, struct sigv4_result *res,
	   struct poky_error *e)
{
	struct sign s;
	enum poky_err rc;

	if (cr == NULL)
		return poky_error_set(e, POKY_ERR_INVALID, "no credentials");
	sign_init(&s, req, pa, cr, res);
	if ((rc = sigv4_check_input(req, pa, cr, e)) ||
	    (rc = sign_prepare(&s, e)) ||
	    (rc = sign_payload_hash(&s, e)) ||
	    (rc = sign_canonical_request(&s, e)) ||
	    (rc = sign_string_to_sign(&s, e)) ||
	    (rc = sign_signature(&s, e)) ||
	    (rc = sign_emit(&s, e)))
		goto out;
	rc = POKY_OK;
out:
	sign_cleanup(&s);
	return rc;
}

