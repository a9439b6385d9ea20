/* sigv4.h - AWS Signature Version 4, as a pure function.
 *
 * Time, credentials and the request go in; the headers to add (or the query
 * to append, for a presigned URL) come out.  No I/O, no clock, no globals the
 * caller can see.  Rules follow AWS's SigV4 documentation and its signing test
 * suite; S3's differences are chosen with SIGV4_S3.
 *
 * Thread-safe.  Derived signing keys are cached per (secret, date, region,
 * service) inside the module; sigv4_cleanup() wipes the cache at exit. */
#ifndef POKY_SIGV4_H
#define POKY_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "poky/buf.h"
#include "poky/err.h"
#include "poky/hdr.h"

#define SIGV4_MAX_EXPIRES 604800u     /* 7 days: AWS's limit for presigned URLs */
#define SIGV4_MAX_HEADERS 256
#define SIGV4_MAX_TARGET 65536        /* bytes of path and query */
#define SIGV4_MAX_CANONICAL (1u << 20)
#define SIGV4_UNSIGNED_PAYLOAD_HASH "UNSIGNED-PAYLOAD"

enum sigv4_flag {
	SIGV4_S3 = 1u << 0,             /* path as sent, never normalised;
					   header mode adds x-amz-content-sha256 */
	SIGV4_NO_NORMALIZE = 1u << 1,   /* non-S3: keep dot segments and "//" */
	SIGV4_SIGN_BODY = 1u << 2,      /* add and sign x-amz-content-sha256 */
	SIGV4_UNSIGNED_PAYLOAD = 1u << 3, /* payload hash "UNSIGNED-PAYLOAD" */
	SIGV4_PRESIGN = 1u << 4,        /* query-string signing */
	SIGV4_OMIT_TOKEN = 1u << 5,     /* session token added after signing */
};

struct sigv4_creds {
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token;      /* NULL or "" for long-term keys */
};

struct sigv4_request {
	const char *method;             /* "GET", "POST", ... */
	const char *target;             /* path[?query] exactly as sent */
	size_t target_len;
	const struct hdr *headers;      /* must include Host, exactly as sent */
	size_t n_headers;
	const void *body;
	size_t body_len;
	const char *payload_hash;       /* hex SHA-256 of the body if known, or NULL */
};

struct sigv4_params {
	const char *region;
	const char *service;
	time_t time;                    /* the signing time, UTC */
	unsigned expires;               /* presign only: 1..SIGV4_MAX_EXPIRES seconds */
	unsigned flags;                 /* enum sigv4_flag */
};

#define SIGV4_MAX_ADDED 4

/* What sigv4_sign produces.  Initialise with sigv4_result_init, release with
 * sigv4_result_cleanup; one result can be reused for many signatures. */
struct sigv4_result {
	char amz_date[17];              /* "YYYYMMDDTHHMMSSZ" */
	char payload_hash[65];          /* hex, or "UNSIGNED-PAYLOAD" */
	char signature[65];             /* hex */
	/* Header mode: add these, in this order (X-Amz-Security-Token,
	 * X-Amz-Date, x-amz-content-sha256, Authorization, each only when it
	 * applies).  Any header of the same name in the request is replaced.
	 * Values point into this result or into the creds passed to sign. */
	struct hdr added[SIGV4_MAX_ADDED];
	size_t n_added;
	/* Presign mode: "X-Amz-Algorithm=...&...&X-Amz-Signature=..." to append
	 * to the target with '?' or '&'. */
	struct buf query;
	struct buf authorization;       /* header mode: the Authorization value */
	struct buf canonical_request;   /* the stages, kept for tests and debugging */
	struct buf string_to_sign;
	struct buf scratch;             /* internal */
};

void sigv4_result_init(struct sigv4_result *res);
void sigv4_result_cleanup(struct sigv4_result *res);

/* Sign req.  On success res holds what to send; on error e says why (never
 * quoting a secret).  Errors: POKY_ERR_INVALID (no Host, bad target, missing
 * credential fields, bad expiry), POKY_ERR_LIMIT, POKY_ERR_NOMEM,
 * POKY_ERR_CRYPTO. */
enum poky_err sigv4_sign(const struct sigv4_request *req,
			 const struct sigv4_params *params,
			 const struct sigv4_creds *creds,
			 struct sigv4_result *res, struct poky_error *e);

/* True when a header of this name is never signed (User-Agent, Expect,
 * Transfer-Encoding, X-Amzn-Trace-Id, Authorization). */
int sigv4_header_is_unsigned(const char *name, size_t name_len);

/* True when sigv4_sign adds (and so replaces) a header of this name in
 * header mode: Authorization, X-Amz-Date, X-Amz-Security-Token,
 * x-amz-content-sha256. */
int sigv4_header_is_added(const char *name, size_t name_len);

/* Wipe the key cache and free OpenSSL objects (at exit; optional). */
void sigv4_cleanup(void);

#endif
