/* sigv4.c - AWS Signature Version 4 (see sigv4.h).
 *
 * sigv4_sign is a pipeline of named stages, each a function below: payload
 * hash, canonical request (method, URI, query, headers, signed headers,
 * payload, in the order AWS documents them), string to sign, signature,
 * emit (a query or headers).  Every stage's output is kept in the result, so
 * a test against AWS's suite names the stage that went wrong.
 * OpenSSL objects are fetched once; each thread keeps its own digest and MAC
 * contexts, so a signature costs two SHA-256 runs and one HMAC when the
 * derived key is cached. */
#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "poky/sigv4.h"
#include "poky/str.h"

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

enum poky_err
sigv4_sha256_hex(const void *data, size_t n, char out[65])
{
	struct crypto_tls *t = crypto_get();
	unsigned char md[32];

	if (t == NULL || !sha256(t, data, n, md))
		return POKY_ERR_CRYPTO;
	str_hex(out, md, 32);
	return POKY_OK;
}

enum poky_err
sigv4_hmac_sha256_hex(const void *key, size_t key_len, const void *msg,
		      size_t n, char out[65])
{
	struct crypto_tls *t = crypto_get();
	unsigned char mac[32];
	bool ok;

	/* OpenSSL refuses a NULL key even when its length is 0. */
	ok = t != NULL && hmac(t, key_len ? key : (const void *)"", key_len,
	    msg, n, mac);
	if (ok)
		str_hex(out, mac, 32);
	OPENSSL_cleanse(mac, sizeof(mac));
	return ok ? POKY_OK : POKY_ERR_CRYPTO;
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

/* ---- header names --------------------------------------------------------- */

/* Hop-by-hop or rewritten on the way (proxies, SDK middleware): signing
 * them makes signatures fail for reasons outside our control. */
static const char *const unsigned_headers[] = {
	"authorization", "expect", "transfer-encoding", "user-agent",
	"x-amzn-trace-id", "connection", NULL,
};

static const char *const added_headers[] = {
	"authorization", "x-amz-date", "x-amz-security-token",
	"x-amz-content-sha256", NULL,
};

static bool
name_in(const char *name, size_t n, const char *const *list)
{
	for (; *list != NULL; list++)
		if (str_ieq(name, n, *list))
			return true;
	return false;
}

int
sigv4_header_is_unsigned(const char *name, size_t name_len)
{
	return name_in(name, name_len, unsigned_headers);
}

int
sigv4_header_is_added(const char *name, size_t name_len)
{
	return name_in(name, name_len, added_headers);
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

/* ---- canonical URI -------------------------------------------------------- */

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
	    c == '\f';
}

/* RFC 3986 5.2.4 dot-segment removal; AWS also drops empty segments, so
 * "//a//" becomes "/a/".  path starts with '/'.  The output itself is the
 * segment stack: ".." cuts it back to the previous '/'. */
static enum poky_err
uri_remove_dot_segments(struct buf *out, const char *path, size_t n)
{
	size_t base = out->len, i = 0;
	enum poky_err rc;

	while (i < n) {
		size_t j = i, l;

		while (j < n && path[j] != '/')
			j++;
		l = j - i;
		if (l == 2 && path[i] == '.' && path[i + 1] == '.') {
			while (out->len > base && out->data[out->len - 1] != '/')
				out->len--;
			if (out->len > base)
				out->len--;
			out->data[out->len] = '\0';
		} else if (l > 0 && !(l == 1 && path[i] == '.')) {
			if ((rc = buf_append_byte(out, '/')) ||
			    (rc = buf_append(out, path + i, l)))
				return rc;
		}
		i = j + 1;
	}
	if (out->len == base || path[n - 1] == '/')
		return buf_append_byte(out, '/');
	return POKY_OK;
}

/* S3 signs the path as sent: valid %XX escapes stay (hex made uppercase),
 * bytes that may not appear raw in a path are escaped once. */
static enum poky_err
uri_s3_path(struct buf *out, const char *p, size_t n)
{
	enum poky_err rc;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '%' && i + 2 < n && str_hexval((unsigned char)p[i + 1]) >= 0 &&
		    str_hexval((unsigned char)p[i + 2]) >= 0) {
			char esc[3] = { '%', (char)toupper((unsigned char)p[i + 1]),
					(char)toupper((unsigned char)p[i + 2]) };

			if ((rc = buf_append(out, esc, 3)))
				return rc;
			i += 2;
		} else if ((rc = str_uri_encode(out, p + i, 1, true))) {
			return rc;
		}
	}
	return POKY_OK;
}

static enum poky_err
canonical_uri(struct buf *cr, struct buf *scratch, const char *path, size_t n,
	      unsigned flags)
{
	enum poky_err rc;

	if (n == 0)
		return buf_append_byte(cr, '/');
	if (flags & SIGV4_S3)
		return uri_s3_path(cr, path, n);
	if (flags & SIGV4_NO_NORMALIZE)
		return str_uri_encode(cr, path, n, true);
	/* Other services normalise, then encode the (already encoded) wire
	 * path a second time. */
	buf_reset(scratch);
	if ((rc = uri_remove_dot_segments(scratch, path, n)))
		return rc;
	if (scratch->len == 0)
		return buf_append_byte(cr, '/');
	return str_uri_encode(cr, scratch->data, scratch->len, true);
}

/* ---- canonical query ------------------------------------------------------ */

struct qparam {
	size_t name_off, name_len, value_off, value_len;
	const char *name, *value;   /* set once the store stops growing */
};

struct qlist {
	struct qparam *v;
	size_t n, cap;
	struct buf *store;          /* encoded names and values */
};

static int
span_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c != 0)
		return c;
	return an < bn ? -1 : an > bn;
}

/* By encoded name, then encoded value, bytewise. */
static int
qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int c = span_cmp(x->name, x->name_len, y->name, y->name_len);

	return c != 0 ? c : span_cmp(x->value, x->value_len, y->value, y->value_len);
}

static void
qlist_sort(struct qlist *q)
{
	for (size_t i = 0; i < q->n; i++) {
		q->v[i].name = q->store->data + q->v[i].name_off;
		q->v[i].value = q->store->data + q->v[i].value_off;
	}
	if (q->n > 1)
		qsort(q->v, q->n, sizeof(*q->v), qparam_cmp);
}

/* Add one parameter.  raw: decode the wire form first, then re-encode;
 * otherwise the strings are plain values to encode. */
static enum poky_err
qlist_add(struct qlist *q, struct buf *tmp, const char *name, size_t nlen,
	  const char *value, size_t vlen, bool raw)
{
	struct qparam *p;
	enum poky_err rc;

	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 16;
		struct qparam *v;

		if (cap > SIGV4_MAX_TARGET)
			return POKY_ERR_LIMIT;
		v = realloc(q->v, cap * sizeof(*v));
		if (v == NULL)
			return POKY_ERR_NOMEM;
		q->v = v;
		q->cap = cap;
	}
	p = &q->v[q->n];
	p->name_off = q->store->len;
	if (raw) {
		buf_reset(tmp);
		if ((rc = str_uri_decode(tmp, name, nlen)) ||
		    (rc = str_uri_encode(q->store, tmp->data ? tmp->data : "",
		     tmp->len, false)))
			return rc;
	} else if ((rc = str_uri_encode(q->store, name, nlen, false))) {
		return rc;
	}
	p->name_len = q->store->len - p->name_off;
	p->value_off = q->store->len;
	if (raw) {
		buf_reset(tmp);
		if ((rc = str_uri_decode(tmp, value, vlen)) ||
		    (rc = str_uri_encode(q->store, tmp->data ? tmp->data : "",
		     tmp->len, false)))
			return rc;
	} else if ((rc = str_uri_encode(q->store, value, vlen, false))) {
		return rc;
	}
	p->value_len = q->store->len - p->value_off;
	q->n++;
	return POKY_OK;
}

/* Split the wire query at '&' and '='; a parameter without '=' is
 * canonicalised as "name=" (S3's "?uploads"). Empty pieces are skipped. */
static enum poky_err
qlist_parse(struct qlist *q, struct buf *tmp, const char *s, size_t n)
{
	size_t i = 0;
	enum poky_err rc;

	while (i < n) {
		size_t j = i, eq;

		while (j < n && s[j] != '&')
			j++;
		if (j > i) {
			for (eq = i; eq < j && s[eq] != '='; eq++)
				;
			if ((rc = qlist_add(q, tmp, s + i, eq - i,
			    s + (eq < j ? eq + 1 : j), eq < j ? j - eq - 1 : 0,
			    true)))
				return rc;
		}
		i = j + 1;
	}
	return POKY_OK;
}

static enum poky_err
qlist_write(struct qlist *q, struct buf *out)
{
	enum poky_err rc;

	for (size_t i = 0; i < q->n; i++) {
		const struct qparam *p = &q->v[i];

		if ((i > 0 && (rc = buf_append_byte(out, '&'))) ||
		    (rc = buf_append(out, p->name, p->name_len)) ||
		    (rc = buf_append_byte(out, '=')) ||
		    (rc = buf_append(out, p->value, p->value_len)))
			return rc;
	}
	return POKY_OK;
}

/* ---- canonical headers ---------------------------------------------------- */

struct chdr {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
	size_t order;               /* keeps repeated headers in sent order */
};

static int
name_icmp(const char *a, size_t an, const char *b, size_t bn)
{
	size_t n = an < bn ? an : bn;

	for (size_t i = 0; i < n; i++) {
		int x = tolower((unsigned char)a[i]), y = tolower((unsigned char)b[i]);

		if (x != y)
			return x - y;
	}
	return an < bn ? -1 : an > bn;
}

static int
chdr_cmp(const void *a, const void *b)
{
	const struct chdr *x = a, *y = b;
	int c = name_icmp(x->name, x->name_len, y->name, y->name_len);

	if (c != 0)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Trim the value and collapse inner whitespace runs (folded lines too) to
 * one space. */
static enum poky_err
append_header_value(struct buf *out, const char *v, size_t n)
{
	enum poky_err rc;
	size_t i = 0;
	bool pending_space = false, any = false;

	while (i < n) {
		size_t j = i;

		if (is_ws(v[i])) {
			while (i < n && is_ws(v[i]))
				i++;
			pending_space = any;
			continue;
		}
		while (j < n && !is_ws(v[j]))
			j++;
		if (pending_space && (rc = buf_append_byte(out, ' ')))
			return rc;
		if ((rc = buf_append(out, v + i, j - i)))
			return rc;
		any = true;
		pending_space = false;
		i = j;
	}
	return POKY_OK;
}

static enum poky_err
append_lower(struct buf *out, const char *s, size_t n)
{
	enum poky_err rc;
	size_t at = out->len;

	if ((rc = buf_append(out, s, n)))
		return rc;
	for (size_t i = 0; i < n; i++)
		out->data[at + i] = (char)tolower((unsigned char)out->data[at + i]);
	return POKY_OK;
}

/* Writes "name:value\n" lines into cr and "a;b;c" into signed_hdrs. */
static enum poky_err
canonical_headers(struct chdr *h, size_t n, struct buf *cr,
		  struct buf *signed_hdrs)
{
	enum poky_err rc;
	size_t i = 0;

	qsort(h, n, sizeof(*h), chdr_cmp);
	while (i < n) {
		size_t j = i + 1;

		if ((signed_hdrs->len > 0 &&
		     (rc = buf_append_byte(signed_hdrs, ';'))) ||
		    (rc = append_lower(signed_hdrs, h[i].name, h[i].name_len)) ||
		    (rc = append_lower(cr, h[i].name, h[i].name_len)) ||
		    (rc = buf_append_byte(cr, ':')) ||
		    (rc = append_header_value(cr, h[i].value, h[i].value_len)))
			return rc;
		for (; j < n && name_icmp(h[i].name, h[i].name_len, h[j].name,
		     h[j].name_len) == 0; j++) {
			if ((rc = buf_append_byte(cr, ',')) ||
			    (rc = append_header_value(cr, h[j].value, h[j].value_len)))
				return rc;
		}
		if ((rc = buf_append_byte(cr, '\n')))
			return rc;
		i = j;
	}
	return POKY_OK;
}

/* ---- checks ------------------------------------------------------------- */

/* Scope parts and the key id go into a '/'-separated credential string. */
static bool
valid_scope_part(const char *s)
{
	if (s == NULL || *s == '\0' || strlen(s) > 128)
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' &&
		    *s != '.')
			return false;
	return true;
}

static bool
valid_token_chars(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

static enum poky_err
check_input(const struct sigv4_request *req, const struct sigv4_params *pa,
	    const struct sigv4_creds *cr, struct poky_error *e)
{
	if (!valid_scope_part(pa->region))
		return poky_error_set(e, POKY_ERR_INVALID,
		    "region must be letters, digits, '-', '_' or '.'");
	if (!valid_scope_part(pa->service))
		return poky_error_set(e, POKY_ERR_INVALID,
		    "service must be letters, digits, '-', '_' or '.'");
	if (cr == NULL || !valid_scope_part(cr->access_key_id))
		return poky_error_set(e, POKY_ERR_INVALID,
		    "access key id missing or malformed");
	if (cr->secret_access_key == NULL || cr->secret_access_key[0] == '\0')
		return poky_error_set(e, POKY_ERR_INVALID,
		    "secret access key missing");
	if (cr->session_token != NULL && !valid_token_chars(cr->session_token))
		return poky_error_set(e, POKY_ERR_INVALID,
		    "session token holds characters outside printable ASCII");
	if (req->method == NULL || req->method[0] == '\0')
		return poky_error_set(e, POKY_ERR_INVALID, "method missing");
	if (req->target == NULL || req->target_len == 0 || req->target[0] != '/')
		return poky_error_set(e, POKY_ERR_INVALID,
		    "target must start with '/'");
	if (req->target_len > SIGV4_MAX_TARGET)
		return poky_error_set(e, POKY_ERR_LIMIT,
		    "target longer than %u bytes", SIGV4_MAX_TARGET);
	if (req->n_headers > SIGV4_MAX_HEADERS)
		return poky_error_set(e, POKY_ERR_LIMIT, "more than %d headers",
		    SIGV4_MAX_HEADERS);
	if (req->payload_hash != NULL && (strlen(req->payload_hash) > 64 ||
	    !valid_token_chars(req->payload_hash)))
		return poky_error_set(e, POKY_ERR_INVALID, "bad payload hash");
	if ((pa->flags & SIGV4_PRESIGN) &&
	    (pa->expires < 1 || pa->expires > SIGV4_MAX_EXPIRES))
		return poky_error_set(e, POKY_ERR_INVALID,
		    "expires must be 1..%u seconds", SIGV4_MAX_EXPIRES);
	for (size_t i = 0; i < req->n_headers; i++)
		if (str_ieq(req->headers[i].name, req->headers[i].name_len, "host"))
			return POKY_OK;
	return poky_error_set(e, POKY_ERR_INVALID, "no Host header");
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
	if (query != NULL && (rc = qlist_parse(q, tmp, query, query_len)))
		return rc;
	if (s->presign) {
		snprintf(s->expires, sizeof(s->expires), "%u", s->pa->expires);
		if ((rc = qlist_add(q, tmp, "X-Amz-Algorithm", 15, ALGORITHM,
		     strlen(ALGORITHM), false)) ||
		    (rc = qlist_add(q, tmp, "X-Amz-Credential", 16, s->cred.data,
		     s->cred.len, false)) ||
		    (rc = qlist_add(q, tmp, "X-Amz-Date", 10, s->res->amz_date, 16,
		     false)) ||
		    (rc = qlist_add(q, tmp, "X-Amz-Expires", 13, s->expires,
		     strlen(s->expires), false)) ||
		    (s->sign_token && (rc = qlist_add(q, tmp, "X-Amz-Security-Token",
		     20, cr->session_token, strlen(cr->session_token), false))) ||
		    (rc = qlist_add(q, tmp, "X-Amz-SignedHeaders", 19,
		     s->signed_hdrs.data, s->signed_hdrs.len, false)))
			return rc;
	}
	qlist_sort(q);
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
	    (rc = canonical_uri(crq, &res->scratch, req->target, path_len,
	     s->pa->flags)) ||
	    (rc = buf_append_byte(crq, '\n')))
		return sign_limit(e, rc);
	/* The signed-header list is needed by the presigned query, so build
	 * the header block aside first. */
	buf_reset(&res->scratch);
	if ((rc = canonical_headers(s->h, s->nh, &res->scratch, &s->signed_hdrs)) ||
	    (rc = buf_printf(&s->cred, "%s/%s/%s/%s/aws4_request",
	     s->cr->access_key_id, s->date8, s->pa->region, s->pa->service)) ||
	    (rc = sign_query(s, qmark ? qmark + 1 : NULL,
	     qmark ? req->target_len - path_len - 1 : 0)))
		return sign_limit(e, rc);
	if ((rc = qlist_write(&s->q, crq)) ||
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
	if ((rc = check_input(req, pa, cr, e)) ||
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
