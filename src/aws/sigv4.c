/* sigv4.c - AWS Signature Version 4 (see sigv4.h).
 *
 * The canonical request is built as a list of small named steps, in the order
 * AWS documents them: method, URI, query, headers, signed headers, payload.
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

/* ---- signing ------------------------------------------------------------- */

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

enum poky_err
sigv4_sign(const struct sigv4_request *req, const struct sigv4_params *pa,
	   const struct sigv4_creds *cr, struct sigv4_result *res,
	   struct poky_error *e)
{
	unsigned flags = pa->flags;
	bool presign = flags & SIGV4_PRESIGN;
	bool token = cr != NULL && cr->session_token != NULL &&
	    cr->session_token[0] != '\0';
	bool sign_token = token && !(flags & SIGV4_OMIT_TOKEN);
	bool content_hdr = !presign && (flags & (SIGV4_S3 | SIGV4_SIGN_BODY));
	struct crypto_tls *t;
	struct chdr *h = NULL;
	struct qlist q = { 0 };
	struct buf qstore, tmp, signed_hdrs, cred;
	const char *qmark;
	size_t path_len, nh = 0;
	char date8[9], expires[16];
	unsigned char digest[32], key[32];
	enum poky_err rc;

	if (cr == NULL)
		return poky_error_set(e, POKY_ERR_INVALID, "no credentials");
	buf_init(&qstore, SIGV4_MAX_CANONICAL);
	buf_init(&tmp, SIGV4_MAX_TARGET);
	buf_init(&signed_hdrs, (size_t)64 * SIGV4_MAX_HEADERS);
	buf_init(&cred, 1024);
	res->n_added = 0;
	buf_reset(&res->query);
	buf_reset(&res->authorization);
	buf_reset(&res->canonical_request);
	buf_reset(&res->string_to_sign);
	res->signature[0] = '\0';

	if ((rc = check_input(req, pa, cr, e)) != POKY_OK)
		goto out;
	/* Allocate up front so spans into these buffers are never NULL. */
	if ((rc = buf_reserve(&qstore, 0)) || (rc = buf_reserve(&signed_hdrs, 0)) ||
	    (rc = buf_reserve(&res->scratch, 0)))
		goto fail_limit;
	if ((t = crypto_get()) == NULL) {
		rc = poky_error_set(e, POKY_ERR_CRYPTO, "OpenSSL SHA-256/HMAC unavailable");
		goto out;
	}
	str_time_amz(res->amz_date, pa->time);
	memcpy(date8, res->amz_date, 8);
	date8[8] = '\0';

	/* Payload hash. */
	if ((flags & SIGV4_UNSIGNED_PAYLOAD) || (presign && (flags & SIGV4_S3))) {
		strcpy(res->payload_hash, SIGV4_UNSIGNED_PAYLOAD_HASH);
	} else if (req->payload_hash != NULL) {
		strcpy(res->payload_hash, req->payload_hash);
	} else {
		if (!sha256(t, req->body ? req->body : "", req->body_len, digest)) {
			rc = poky_error_set(e, POKY_ERR_CRYPTO, "SHA-256 failed");
			goto out;
		}
		str_hex(res->payload_hash, digest, 32);
	}

	/* Headers: the request's own, less unsigned ones and those we add. */
	h = calloc(req->n_headers + SIGV4_MAX_ADDED, sizeof(*h));
	if (h == NULL) {
		rc = poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct hdr *x = &req->headers[i];

		if (sigv4_header_is_unsigned(x->name, x->name_len) ||
		    (!presign && sigv4_header_is_added(x->name, x->name_len)))
			continue;
		h[nh++] = (struct chdr){ x->name, x->name_len, x->value,
					 x->value_len, i };
	}
	if (!presign) {
		h[nh++] = (struct chdr){ "x-amz-date", 10, res->amz_date, 16,
					 req->n_headers };
		if (sign_token)
			h[nh++] = (struct chdr){ "x-amz-security-token", 20,
			    cr->session_token, strlen(cr->session_token),
			    req->n_headers + 1 };
		if (content_hdr)
			h[nh++] = (struct chdr){ "x-amz-content-sha256", 20,
			    res->payload_hash, strlen(res->payload_hash),
			    req->n_headers + 2 };
	}

	/* Canonical request: method, URI, query, headers, signed, payload. */
	struct buf *crq = &res->canonical_request;
	qmark = memchr(req->target, '?', req->target_len);
	path_len = qmark ? (size_t)(qmark - req->target) : req->target_len;
	if ((rc = buf_append_str(crq, req->method)) ||
	    (rc = buf_append_byte(crq, '\n')) ||
	    (rc = canonical_uri(crq, &res->scratch, req->target, path_len, flags)) ||
	    (rc = buf_append_byte(crq, '\n')))
		goto fail_limit;

	/* The signed-header list is needed by the presigned query, so build
	 * the header block aside first. */
	buf_reset(&res->scratch);
	if ((rc = canonical_headers(h, nh, &res->scratch, &signed_hdrs)))
		goto fail_limit;

	if ((rc = buf_printf(&cred, "%s/%s/%s/%s/aws4_request",
	    cr->access_key_id, date8, pa->region, pa->service)))
		goto fail_limit;
	q.store = &qstore;
	if (qmark != NULL &&
	    (rc = qlist_parse(&q, &tmp, qmark + 1,
	     req->target_len - path_len - 1)))
		goto fail_limit;
	if (presign) {
		snprintf(expires, sizeof(expires), "%u", pa->expires);
		if ((rc = qlist_add(&q, &tmp, "X-Amz-Algorithm", 15, ALGORITHM,
		     strlen(ALGORITHM), false)) ||
		    (rc = qlist_add(&q, &tmp, "X-Amz-Credential", 16, cred.data,
		     cred.len, false)) ||
		    (rc = qlist_add(&q, &tmp, "X-Amz-Date", 10, res->amz_date, 16,
		     false)) ||
		    (rc = qlist_add(&q, &tmp, "X-Amz-Expires", 13, expires,
		     strlen(expires), false)) ||
		    (sign_token && (rc = qlist_add(&q, &tmp, "X-Amz-Security-Token",
		     20, cr->session_token, strlen(cr->session_token), false))) ||
		    (rc = qlist_add(&q, &tmp, "X-Amz-SignedHeaders", 19,
		     signed_hdrs.data, signed_hdrs.len, false)))
			goto fail_limit;
	}
	qlist_sort(&q);
	if ((rc = qlist_write(&q, crq)) ||
	    (rc = buf_append_byte(crq, '\n')) ||
	    (rc = buf_append(crq, res->scratch.data, res->scratch.len)) ||
	    (rc = buf_append_byte(crq, '\n')) ||
	    (rc = buf_append(crq, signed_hdrs.data, signed_hdrs.len)) ||
	    (rc = buf_append_byte(crq, '\n')) ||
	    (rc = buf_append_str(crq, res->payload_hash)))
		goto fail_limit;

	/* String to sign. */
	if (!sha256(t, crq->data, crq->len, digest)) {
		rc = poky_error_set(e, POKY_ERR_CRYPTO, "SHA-256 failed");
		goto out;
	}
	char crhex[65];
	str_hex(crhex, digest, 32);
	if ((rc = buf_printf(&res->string_to_sign, ALGORITHM "\n%s\n%s/%s/%s/aws4_request\n%s",
	    res->amz_date, date8, pa->region, pa->service, crhex)))
		goto fail_limit;

	/* Signature. */
	if (!derive_key(t, date8, cr->secret_access_key, pa->region,
	    pa->service, key) ||
	    !hmac(t, key, 32, res->string_to_sign.data, res->string_to_sign.len,
	    digest)) {
		OPENSSL_cleanse(key, sizeof(key));
		rc = poky_error_set(e, POKY_ERR_CRYPTO, "HMAC-SHA256 failed");
		goto out;
	}
	OPENSSL_cleanse(key, sizeof(key));
	str_hex(res->signature, digest, 32);

	if (presign) {
		/* The order AWS's own presigners use. */
		struct buf *o = &res->query;

		if ((rc = buf_append_str(o, "X-Amz-Algorithm=" ALGORITHM
		     "&X-Amz-Credential=")) ||
		    (rc = str_uri_encode(o, cred.data, cred.len, false)) ||
		    (rc = buf_printf(o, "&X-Amz-Date=%s&X-Amz-SignedHeaders=",
		     res->amz_date)) ||
		    (rc = str_uri_encode(o, signed_hdrs.data, signed_hdrs.len, false)) ||
		    (rc = buf_printf(o, "&X-Amz-Expires=%s", expires)))
			goto fail_limit;
		if (token && ((rc = buf_append_str(o, "&X-Amz-Security-Token=")) ||
		    (rc = str_uri_encode(o, cr->session_token,
		     strlen(cr->session_token), false))))
			goto fail_limit;
		if ((rc = buf_printf(o, "&X-Amz-Signature=%s", res->signature)))
			goto fail_limit;
	} else {
		if ((rc = buf_printf(&res->authorization,
		    ALGORITHM " Credential=%s, SignedHeaders=%s, Signature=%s",
		    cred.data, signed_hdrs.data, res->signature)))
			goto fail_limit;
		if (token)
			add_header(res, "X-Amz-Security-Token", cr->session_token,
			    strlen(cr->session_token));
		add_header(res, "X-Amz-Date", res->amz_date, 16);
		if (content_hdr)
			add_header(res, "x-amz-content-sha256", res->payload_hash,
			    strlen(res->payload_hash));
		add_header(res, "Authorization", res->authorization.data,
		    res->authorization.len);
	}
	rc = POKY_OK;
	goto out;
fail_limit:
	poky_error_set(e, rc, rc == POKY_ERR_NOMEM ? "out of memory" :
	    "request too large to sign");
out:
	free(h);
	free(q.v);
	buf_free(&qstore);
	buf_free(&tmp);
	buf_free(&signed_hdrs);
	buf_free(&cred);
	return rc;
}
