/* plan.c - poky-worker's pure rules: parameters, names, parts, ETags.
 *
 * Nothing here does I/O besides getenv, so the unit tests include this file
 * directly (test/unit/test_worker_plan.c). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "poky/crypto.h"
#include "poky/str.h"
#include "worker.h"

#define MIB ((int64_t)1 << 20)

/* ---- errors ------------------------------------------------------------------ */

int
wk_fail(struct wk_error *err, int exit_code, const char *fmt, ...)
{
	va_list ap;

	memset(err, 0, sizeof(*err));
	err->exit = exit_code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return exit_code;
}

static bool
code_in(const char *code, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(code, *list) == 0)
			return true;
	return false;
}

bool
wk_time_ms(const char *iso, int64_t *ms)
{
	const char *dot;
	time_t t;
	int64_t frac = 0;
	int digits = 0;

	if (iso == NULL || !str_time_parse(iso, &t))
		return false;
	/* str_time_parse drops the fraction; order within a second needs it. */
	if ((dot = strchr(iso, '.')) != NULL)
		for (dot++; isdigit((unsigned char)*dot); dot++)
			if (digits < 3) {
				frac = frac * 10 + (*dot - '0');
				digits++;
			}
	for (; digits < 3; digits++)
		frac *= 10;
	*ms = (int64_t)t * 1000 + frac;
	return true;
}

bool
wk_upload_stale(const char *own_initiated, const char *initiated)
{
	int64_t own, other;

	return wk_time_ms(own_initiated, &own) && wk_time_ms(initiated, &other) &&
	    other < own;
}

int
wk_exit_for(const struct poky_error *e)
{
	static const char *const notfound[] = { "NoSuchKey", "NoSuchBucket",
		"NotFound", "NoSuchVersion", "NoSuchUpload", NULL };
	static const char *const denied[] = { "AccessDenied", "Forbidden",
		"SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidToken",
		"ExpiredToken", "AllAccessDisabled", "AccountProblem",
		"InvalidSecurity", "InvalidObjectState", NULL };

	switch (e->code) {
	case POKY_OK:
		return WK_EXIT_OK;
	case POKY_ERR_INVALID:
		return WK_EXIT_USAGE;
	case POKY_ERR_NOTFOUND:
		return WK_EXIT_NOTFOUND;
	case POKY_ERR_AUTH:
		return WK_EXIT_DENIED;
	case POKY_ERR_TRANSIENT:
		return WK_EXIT_TRANSIENT;
	case POKY_ERR_REMOTE:
		if (e->http_status == 404 || code_in(e->aws_code, notfound))
			return WK_EXIT_NOTFOUND;
		if (e->http_status == 403 || code_in(e->aws_code, denied))
			return WK_EXIT_DENIED;
		/* The source changed between our HEAD and the copy: a re-run
		 * will see the new one. */
		if (e->http_status == 412 || strcmp(e->aws_code, "PreconditionFailed") == 0)
			return WK_EXIT_TRANSIENT;
		return WK_EXIT_FAILED;
	default:
		return WK_EXIT_FAILED;
	}
}

int
wk_fail_aws(struct wk_error *err, const struct poky_error *e, const char *what)
{
	int code = wk_exit_for(e);

	/* aws_error_from_response leaves "HTTP <status>" when S3 said no more. */
	bool detail = e->message[0] != '\0' && strncmp(e->message, "HTTP ", 5) != 0;

	if (e->aws_code[0] != '\0' && e->http_status > 0)
		wk_fail(err, code, "%s: %s (HTTP %d)%s%s", what, e->aws_code,
		    e->http_status, detail ? ": " : "", detail ? e->message : "");
	else
		wk_fail(err, code, "%s: %s", what,
		    e->message[0] ? e->message : poky_err_name(e->code));
	str_copy(err->aws_code, sizeof(err->aws_code), e->aws_code);
	str_copy(err->request_id, sizeof(err->request_id), e->request_id);
	err->http_status = e->http_status;
	return code;
}

const char *
wk_exit_name(int code)
{
	switch (code) {
	case WK_EXIT_OK: return "ok";
	case WK_EXIT_USAGE: return "bad-parameters";
	case WK_EXIT_NOTFOUND: return "not-found";
	case WK_EXIT_DENIED: return "access-denied";
	case WK_EXIT_TRANSIENT: return "transient";
	case WK_EXIT_VERIFY: return "verification-failed";
	case WK_EXIT_NOT_MOVED: return "copied-not-moved";
	default: return code > WK_EXIT_SIGNAL ? "interrupted" : "failed";
	}
}

/* ---- parsing ----------------------------------------------------------------- */

bool
wk_parse_bytes(const char *s, int64_t *out)
{
	static const struct { const char *suffix; int shift; } units[] = {
		{ "", 0 }, { "K", 10 }, { "KiB", 10 }, { "M", 20 }, { "MiB", 20 },
		{ "G", 30 }, { "GiB", 30 },
	};
	int64_t v = 0;
	const char *p = s;

	if (s == NULL || !isdigit((unsigned char)*p))
		return false;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (INT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (*p - '0');
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].suffix) != 0)
			continue;
		if (v > (INT64_MAX >> units[i].shift))
			return false;
		*out = v << units[i].shift;
		return true;
	}
	return false;
}

int
wk_parse_bool(const char *s)
{
	static const char *const yes[] = { "true", "1", "yes", NULL };
	static const char *const no[] = { "false", "0", "no", "", NULL };

	if (s == NULL)
		return 0;
	for (int i = 0; yes[i] != NULL; i++)
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
	for (int i = 0; no[i] != NULL; i++)
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	return -1;
}

bool
wk_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		unsigned c = p[i];
		size_t len;
		unsigned cp, min;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			len = 2; cp = c & 0x1f; min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3; cp = c & 0x0f; min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4; cp = c & 0x07; min = 0x10000;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

/* ---- names ------------------------------------------------------------------- */

bool
wk_rename(const char *key, const char *uuid, char *out, size_t cap)
{
	const char *seg = strrchr(key, '/');
	const char *dot;
	size_t stem;
	int n;

	seg = seg ? seg + 1 : key;
	dot = strrchr(seg, '.');
	/* ".bashrc" is a name, not an extension. */
	stem = dot != NULL && dot > seg ? (size_t)(dot - key) : strlen(key);
	if (stem > (size_t)INT32_MAX)
		return false;
	n = snprintf(out, cap, "%.*s_%s%s", (int)stem, key, uuid, key + stem);
	return n >= 0 && (size_t)n < cap;
}

bool
wk_local_bucket_ok(const char *bucket, const char **why)
{
	if (bucket[0] == '\0')
		*why = "is empty";
	else if (strchr(bucket, '/') != NULL)
		*why = "contains '/'";
	else if (strcmp(bucket, ".") == 0 || strcmp(bucket, "..") == 0)
		*why = "is '.' or '..'";
	else if (strlen(bucket) > 255)
		*why = "is longer than 255 bytes";
	else
		return true;
	return false;
}

bool
wk_local_key_ok(const char *key, const char **why)
{
	const char *p = key;

	if (key[0] == '/') {
		*why = "is an absolute path";
		return false;
	}
	for (;;) {
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n == 0) {
			*why = "has an empty path segment ('//', or '/' at an end)";
			return false;
		}
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
			*why = "has a '.' or '..' segment";
			return false;
		}
		if (n > 255) {
			*why = "has a segment longer than 255 bytes";
			return false;
		}
		if (end == NULL)
			return true;
		p = end + 1;
	}
}

/* ---- parameters -------------------------------------------------------------- */

static const char *
env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

static int
key_check(const char *name, const char *key, struct wk_error *err)
{
	size_t n = strlen(key);

	if (n > S3_KEY_MAX)
		return wk_fail(err, WK_EXIT_USAGE,
		    "%s is %zu bytes long; S3 keys are at most %d", name, n, S3_KEY_MAX);
	if (!wk_utf8_valid(key, n))
		return wk_fail(err, WK_EXIT_USAGE, "%s is not valid UTF-8", name);
	return WK_EXIT_OK;
}

static int
bytes_env(const char *name, int64_t def, int64_t lo, int64_t hi, int64_t *out,
	  struct wk_error *err)
{
	const char *v = env_nonempty(name);

	*out = def;
	if (v == NULL)
		return WK_EXIT_OK;
	if (!wk_parse_bytes(v, out) || *out < lo || *out > hi)
		return wk_fail(err, WK_EXIT_USAGE,
		    "%s=%.40s: want a byte count from %" PRId64 " to %" PRId64
		    " (suffixes K, M, G allowed)", name, v, lo, hi);
	return WK_EXIT_OK;
}

static int
local_checks(const struct wk_params *p, struct wk_error *err)
{
	const char *why;

	if (!wk_local_bucket_ok(p->src_bucket, &why))
		return wk_fail(err, WK_EXIT_USAGE, "SOURCE_BUCKET %s", why);
	if (!wk_local_bucket_ok(p->dst_bucket, &why))
		return wk_fail(err, WK_EXIT_USAGE, "OUTPUT_BUCKET %s", why);
	if (!wk_local_key_ok(p->src_key, &why))
		return wk_fail(err, WK_EXIT_USAGE,
		    "SOURCE_KEY %s; local mode refuses keys that leave the bucket", why);
	if (!wk_local_key_ok(p->dst_key, &why))
		return wk_fail(err, WK_EXIT_USAGE,
		    "OUTPUT_KEY %s; local mode refuses keys that leave the bucket", why);
	return WK_EXIT_OK;
}

int
wk_params_from_env(struct wk_params *p, const char *uuid, struct wk_error *err)
{
	static const char *const required[] = { "SOURCE_BUCKET", "SOURCE_KEY",
		"OUTPUT_BUCKET" };
	char missing[128] = "";
	const char *v;
	int64_t conc;
	int rc, b;

	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < 3; i++)
		if (env_nonempty(required[i]) == NULL)
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing),
			    "%s%s", missing[0] ? ", " : "", required[i]);
	if (missing[0] != '\0')
		return wk_fail(err, WK_EXIT_USAGE,
		    "missing required environment variable%s: %s (see --help)",
		    strchr(missing, ',') ? "s" : "", missing);
	p->src_bucket = env_nonempty("SOURCE_BUCKET");
	p->src_key = env_nonempty("SOURCE_KEY");
	p->dst_bucket = env_nonempty("OUTPUT_BUCKET");
	if ((rc = key_check("SOURCE_KEY", p->src_key, err)) != WK_EXIT_OK)
		return rc;
	if ((v = env_nonempty("OUTPUT_KEY")) != NULL) {
		if ((rc = key_check("OUTPUT_KEY", v, err)) != WK_EXIT_OK)
			return rc;
		str_copy(p->dst_key, sizeof(p->dst_key), v);
		p->dst_key_given = true;
	} else if (!wk_rename(p->src_key, uuid, p->dst_key, sizeof(p->dst_key))) {
		return wk_fail(err, WK_EXIT_USAGE,
		    "SOURCE_KEY is too long to rename: the new name would pass %d bytes; "
		    "set OUTPUT_KEY", S3_KEY_MAX);
	}
	if ((b = wk_parse_bool(getenv("DELETE_SOURCE"))) < 0)
		return wk_fail(err, WK_EXIT_USAGE,
		    "DELETE_SOURCE=%.40s: want true or false", getenv("DELETE_SOURCE"));
	p->move = b == 1;
	if ((b = wk_parse_bool(getenv("POKY_ABORT_STALE_UPLOADS"))) < 0)
		return wk_fail(err, WK_EXIT_USAGE,
		    "POKY_ABORT_STALE_UPLOADS=%.40s: want true or false",
		    getenv("POKY_ABORT_STALE_UPLOADS"));
	p->sweep_uploads = b == 1 || env_nonempty("POKY_ABORT_STALE_UPLOADS") == NULL;
	p->local_root = env_nonempty("POKY_LOCAL_ROOT");
	p->src_endpoint = env_nonempty("POKY_SOURCE_ENDPOINT_URL_S3");
	if ((rc = bytes_env("POKY_MULTIPART_THRESHOLD", WK_DEFAULT_THRESHOLD, 0,
	    S3_MAX_COPY, &p->threshold, err)) ||
	    (rc = bytes_env("POKY_PART_SIZE", WK_DEFAULT_PART_SIZE, S3_MIN_PART,
	    S3_MAX_PART, &p->part_size, err)) ||
	    (rc = bytes_env("POKY_CONCURRENCY", WK_DEFAULT_CONCURRENCY, 1,
	    WK_MAX_CONCURRENCY, &conc, err)))
		return rc;
	p->concurrency = (int)conc;
	if ((v = env_nonempty("POKY_STALL_SECONDS")) == NULL) {
		p->stall_seconds = WK_DEFAULT_STALL_SECONDS;
	} else {
		char *end;

		errno = 0;
		p->stall_seconds = strtol(v, &end, 10);
		if (errno != 0 || end == v || *end != '\0' || p->stall_seconds < 1 ||
		    p->stall_seconds > WK_MAX_STALL_SECONDS)
			return wk_fail(err, WK_EXIT_USAGE,
			    "POKY_STALL_SECONDS=%.40s: want whole seconds from 1 to %d", v,
			    WK_MAX_STALL_SECONDS);
	}
	if (p->local_root != NULL) {
		if ((rc = local_checks(p, err)) != WK_EXIT_OK)
			return rc;
		p->src_endpoint = NULL;
	} else {
		if (!s3_bucket_name_valid(p->src_bucket))
			return wk_fail(err, WK_EXIT_USAGE,
			    "SOURCE_BUCKET '%.80s' is not a valid bucket name", p->src_bucket);
		if (!s3_bucket_name_valid(p->dst_bucket))
			return wk_fail(err, WK_EXIT_USAGE,
			    "OUTPUT_BUCKET '%.80s' is not a valid bucket name", p->dst_bucket);
	}
	if (p->src_endpoint == NULL && strcmp(p->src_bucket, p->dst_bucket) == 0 &&
	    strcmp(p->src_key, p->dst_key) == 0)
		return wk_fail(err, WK_EXIT_USAGE,
		    "source and destination are the same object");
	return WK_EXIT_OK;
}

/* ---- parts and ETags --------------------------------------------------------- */

bool
wk_plan_parts(int64_t size, int64_t want, int64_t *part_size, int *n_parts)
{
	int64_t ps = want < S3_MIN_PART ? S3_MIN_PART : want;
	int64_t n;

	if (size <= 0)
		return false;
	if (ps > S3_MAX_PART)
		ps = S3_MAX_PART;
	if ((size + ps - 1) / ps > S3_MAX_PARTS) {
		/* Grow the parts, in whole MiB, so 10,000 of them hold it all. */
		ps = (size + S3_MAX_PARTS - 1) / S3_MAX_PARTS;
		ps = (ps + MIB - 1) / MIB * MIB;
		if (ps > S3_MAX_PART)
			return false;
	}
	n = (size + ps - 1) / ps;
	*part_size = ps;
	*n_parts = (int)n;
	return true;
}

void
wk_part_range(int64_t size, int64_t part_size, int i, int64_t *first,
	      int64_t *last)
{
	*first = (int64_t)i * part_size;
	*last = *first + part_size > size ? size - 1 : *first + part_size - 1;
}

/* The 32 hex digits of an ETag, without quotes; NULL if it has none. */
static const char *
etag_hex(const char *etag, size_t *n)
{
	size_t len = strlen(etag);

	if (len >= 2 && etag[0] == '"' && etag[len - 1] == '"') {
		etag++;
		len -= 2;
	}
	*n = len;
	return etag;
}

bool
wk_etag_is_md5(const char *etag)
{
	size_t n;
	const char *h = etag_hex(etag, &n);

	if (n != 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)h[i]))
			return false;
	return true;
}

bool
wk_etag_equal(const char *a, const char *b)
{
	size_t na, nb;
	const char *ha = etag_hex(a, &na), *hb = etag_hex(b, &nb);

	return na > 0 && na == nb && strncasecmp(ha, hb, na) == 0;
}

bool
wk_multipart_etag(const struct s3_part *parts, size_t n, char out[S3_ETAG_MAX])
{
	struct crypto_md5 *ctx;
	unsigned char md[CRYPTO_MD5_LEN], raw[16];
	char hex[33];
	bool ok = n > 0;

	ctx = crypto_md5_new();
	if (ctx == NULL)
		ok = false;
	for (size_t i = 0; ok && i < n; i++) {
		size_t hn;
		const char *h = etag_hex(parts[i].etag, &hn);

		if (!wk_etag_is_md5(parts[i].etag)) {
			ok = false;
			break;
		}
		for (size_t k = 0; k < 16; k++)
			raw[k] = (unsigned char)(str_hexval((unsigned char)h[2 * k]) << 4 |
			    str_hexval((unsigned char)h[2 * k + 1]));
		ok = crypto_md5_update(ctx, raw, sizeof(raw)) == POKY_OK;
	}
	if (ok)
		ok = crypto_md5_final(ctx, md) == POKY_OK;
	crypto_md5_free(ctx);
	if (!ok)
		return false;
	str_hex(hex, md, 16);
	snprintf(out, S3_ETAG_MAX, "\"%s-%zu\"", hex, n);
	return true;
}
