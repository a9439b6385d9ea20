/* worker.h - poky-worker's private interfaces (not part of libpoky).
 *
 * plan.c holds the pure rules (environment, renaming, key checks, part
 * plans, ETag arithmetic, exit codes) so unit tests can include it alone.
 * The rest of the worker, each layer using only those below it:
 *
 *   main.c      the process: flags, the one output line, the exit status
 *   run.c       one S3 run: HEAD, pick a strategy, verify, delete (strategy.h)
 *   s3copy.c, stream.c, local.c
 *               the strategies, one copy each (strategy.h)
 *   parts.c     multipart machinery: clients, retries, one upload from
 *               create to complete or abort, the part queue and its
 *               threads, the sweep of earlier runs' uploads (parts.h)
 *   stop.c      signals, the cleanup window, the stop deadline (stop.h)
 *   plan.c      pure rules and types (this header) */
#ifndef POKY_WORKER_H
#define POKY_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "poky/err.h"
#include "poky/s3.h"

/* Exit statuses: the contract with whoever launched the worker. */
enum wk_exit {
	WK_EXIT_OK = 0,
	WK_EXIT_FAILED = 1,     /* anything else: local I/O, an unexpected answer */
	WK_EXIT_USAGE = 2,      /* bad or missing parameters */
	WK_EXIT_NOTFOUND = 3,   /* source object or a bucket does not exist */
	WK_EXIT_DENIED = 4,     /* access denied, bad or missing credentials */
	WK_EXIT_TRANSIENT = 5,  /* still failing after retries; worth a re-run */
	WK_EXIT_VERIFY = 6,     /* the copy did not match the source; nothing deleted */
	WK_EXIT_NOT_MOVED = 7,  /* copied and verified, but the source was not deleted */
	WK_EXIT_SIGNAL = 128,   /* + signal number: interrupted, nothing left behind */
};

#define WK_DEFAULT_THRESHOLD ((int64_t)5 << 30)
#define WK_DEFAULT_PART_SIZE ((int64_t)64 << 20)
#define WK_DEFAULT_CONCURRENCY 4
#define WK_MAX_CONCURRENCY 16
#define WK_UUID_LEN 36
#define WK_DEFAULT_STALL_SECONDS 120
#define WK_MAX_STALL_SECONDS 3600

struct wk_params {
	const char *src_bucket;
	const char *src_key;
	const char *dst_bucket;
	char dst_key[S3_KEY_MAX + 1];
	bool dst_key_given;             /* OUTPUT_KEY was set */
	bool move;                      /* DELETE_SOURCE=true */
	const char *local_root;         /* POKY_LOCAL_ROOT, NULL for S3 */
	const char *src_endpoint;       /* POKY_SOURCE_ENDPOINT_URL_S3, or NULL */
	int64_t threshold;              /* multipart above this many bytes */
	int64_t part_size;
	int concurrency;
	bool sweep_uploads;             /* POKY_ABORT_STALE_UPLOADS (default true) */
	long stall_seconds;             /* POKY_STALL_SECONDS: a streamed GET or
					 * PUT moving no byte this long is retried */
};

/* Why the run failed: the exit status, a message without secrets, and the
 * remote service's own words when there are any. */
struct wk_error {
	int exit;
	char message[768];
	char aws_code[POKY_ERR_NAME_MAX];
	char request_id[POKY_ERR_NAME_MAX];
	int http_status;
};

struct wk_result {
	int64_t bytes;
	const char *strategy;           /* "copy", "multipart-copy", "stream", "local" */
	char etag[S3_ETAG_MAX];         /* of the destination, with S3's quotes */
};

/* ---- plan.c: pure rules ---------------------------------------------------- */

/* Fill p from the environment (rename included: uuid is the one used for
 * the default name).  WK_EXIT_OK, or WK_EXIT_USAGE with err->message. */
int wk_params_from_env(struct wk_params *p, const char *uuid,
		       struct wk_error *err);

/* "<stem>_<uuid><.ext>": the extension starts at the last '.' of the last
 * '/'-segment, unless that '.' opens the segment.  False if the result
 * would not fit in cap bytes (with its NUL). */
bool wk_rename(const char *key, const char *uuid, char *out, size_t cap);

/* Parse a byte count: digits with an optional K, M, G, KiB, MiB or GiB
 * (all binary).  False on anything else or on overflow. */
bool wk_parse_bytes(const char *s, int64_t *out);

/* true/false, 1/0, yes/no in any case; "" is false.  -1 if none of them. */
int wk_parse_bool(const char *s);

/* True when s[0..n) is well-formed UTF-8 (no overlongs, no surrogates). */
bool wk_utf8_valid(const char *s, size_t n);

/* Local mode: a bucket is one directory name; a key is a relative path of
 * non-empty segments, none of them "." or "..".  On false, *why says. */
bool wk_local_bucket_ok(const char *bucket, const char **why);
bool wk_local_key_ok(const char *key, const char **why);

/* Parts for a multipart copy of size bytes (> 0) with parts of about want
 * bytes: at least S3's minimum, grown when S3_MAX_PARTS would not do.
 * False when the object is too large for any plan. */
bool wk_plan_parts(int64_t size, int64_t want, int64_t *part_size, int *n_parts);

/* Byte range [first, last] of part i (0-based). */
void wk_part_range(int64_t size, int64_t part_size, int i, int64_t *first,
		   int64_t *last);

/* True when etag is a plain MD5 ETag ("hex32", quoted or not). */
bool wk_etag_is_md5(const char *etag);

/* ETags equal, ignoring quotes and case. */
bool wk_etag_equal(const char *a, const char *b);

/* The ETag S3 gives a multipart object: MD5 of the parts' binary MD5s,
 * "-N".  False unless every part ETag is a plain MD5. */
bool wk_multipart_etag(const struct s3_part *parts, size_t n,
		       char out[S3_ETAG_MAX]);

/* Milliseconds since the epoch of an S3 time ("2026-11-28T04:40:01.123Z",
 * fraction optional). */
bool wk_time_ms(const char *iso, int64_t *ms);

/* An upload begun at `initiated` is a leftover of an earlier run when it
 * started strictly before ours (own_initiated); false if either time is
 * missing or unreadable, so nothing is aborted on a doubt. */
bool wk_upload_stale(const char *own_initiated, const char *initiated);

/* Exit status for a failed AWS call. */
int wk_exit_for(const struct poky_error *e);

/* Stable name of an exit status ("not-found", ...). */
const char *wk_exit_name(int code);

/* printf into err->message and set err->exit; returns the exit status. */
int wk_fail(struct wk_error *err, int exit_code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* wk_fail for an AWS failure: "<what>: <AwsCode> (HTTP n): <message>". */
int wk_fail_aws(struct wk_error *err, const struct poky_error *e,
		const char *what);

#endif
