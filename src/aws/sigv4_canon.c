/* sigv4_canon.c - the canonical forms SigV4 signs (see sigv4_canon.h):
 * URI, query and headers, and the checks on what is to be signed.
 *
 * Pure text work on bounded buffers: no keys, no OpenSSL, so these can be
 * read (and fuzzed) apart from the signer in sigv4.c. */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "poky/sigv4.h"
#include "poky/str.h"
#include "sigv4_canon.h"

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

enum poky_err
sigv4_canon_uri(struct buf *cr, struct buf *scratch, const char *path, size_t n,
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

void
sigv4_qlist_sort(struct qlist *q)
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
enum poky_err
sigv4_qlist_add(struct qlist *q, struct buf *tmp, const char *name, size_t nlen,
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
enum poky_err
sigv4_qlist_parse(struct qlist *q, struct buf *tmp, const char *s, size_t n)
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
			if ((rc = sigv4_qlist_add(q, tmp, s + i, eq - i,
			    s + (eq < j ? eq + 1 : j), eq < j ? j - eq - 1 : 0,
			    true)))
				return rc;
		}
		i = j + 1;
	}
	return POKY_OK;
}

enum poky_err
sigv4_qlist_write(struct qlist *q, struct buf *out)
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
enum poky_err
sigv4_canon_headers(struct chdr *h, size_t n, struct buf *cr,
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

enum poky_err
sigv4_check_input(const struct sigv4_request *req, const struct sigv4_params *pa,
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
