/* parts.h - the multipart machinery the strategies share (parts.c): the
 * worker's S3 clients, retries, one multipart upload from create to
 * complete or abort (struct wk_upload), the queue of parts its threads
 * share, and sweeping up earlier runs' uploads. */
#ifndef POKY_WORKER_PARTS_H
#define POKY_WORKER_PARTS_H

#include <pthread.h>
#include <stdbool.h>

#include "poky/err.h"
#include "poky/s3.h"
#include "worker.h"

struct aws_client;

/* A client for endpoint (NULL: the usual AWS_ENDPOINT_URL_S3 /
 * AWS_ENDPOINT_URL resolution).  max_attempts 0 keeps the standard
 * retries.  NULL with e set on failure; the caller frees it. */
struct aws_client *wk_client_new(const char *endpoint, int max_attempts,
				 long timeout_ms, long stall_seconds,
				 struct poky_error *e);

/* Retry fn while it fails with a retryable error (for clients whose own
 * retries are off).  Standard-mode backoff; AWS_MAX_ATTEMPTS attempts. */
enum poky_err wk_retry(enum poky_err (*fn)(void *ud, struct poky_error *e),
		       void *ud, struct poky_error *e);

/* The parts of a multipart job, handed out to its threads one by one. */
struct wk_part_queue {
	pthread_mutex_t lock;
	int next;                       /* next part to hand out, 0-based */
	bool failed;                    /* a part failed: hand out no more */
	struct poky_error first_err;
	int failed_part;                /* 1-based */
};

/* The next part (0-based) of n to work on, or -1 when every part is handed
 * out, one has failed, or a stop was asked for. */
int wk_part_take(struct wk_part_queue *q, int n);

/* Part i (0-based) failed with e: keep e if it is the first failure
 * (returns true then). */
bool wk_part_fail(struct wk_part_queue *q, int i, const struct poky_error *e);

/* AbortMultipartUpload with short timeouts (fallback: client c if that
 * client cannot be made); logs a failure, ignores NoSuchUpload. */
void wk_abort_upload(struct aws_client *c, const struct wk_params *p,
		     const char *upload_id);

/* Free the client wk_abort_upload made, if it made one. */
void wk_abort_client_free(void);

/* After our own CreateMultipartUpload (own_id): abort the uploads to the
 * same destination key that were begun before it - what a killed earlier
 * run left.  Failures are logged, never fatal. */
void wk_sweep_uploads(struct aws_client *c, const struct wk_params *p,
		      const char *own_id);

/* One multipart upload to the destination key, its parts worked by
 * threads.  The part function takes parts from q, fills parts[i] (number
 * and ETag), and on a failure calls wk_part_fail - and when that returns
 * true and the part's bytes were not what it read, sets part_mismatch. */
struct wk_upload {
	struct aws_client *c;           /* the destination's client */
	const struct wk_params *p;
	const struct s3_object *so;     /* the source's HEAD */
	int64_t part_size;
	int n_parts;
	struct s3_part *parts;          /* n_parts, filled by the part threads */
	char upload_id[S3_UPLOAD_ID_MAX];
	struct wk_part_queue q;
	bool part_mismatch;             /* the first failure: bytes that did not match */
	char etag[S3_ETAG_MAX];         /* what CompleteMultipartUpload answered */
};

/* Plan the parts of so (p->part_size, S3's limits) and allocate u->parts.
 * WK_EXIT_OK, or the exit status with err set; wk_upload_cleanup frees
 * either way. */
int wk_upload_init(struct wk_upload *u, struct aws_client *c,
		   const struct wk_params *p, const struct s3_object *so,
		   struct wk_error *err);
void wk_upload_cleanup(struct wk_upload *u);

/* Inside the cleanup window: CreateMultipartUpload, abort the uploads
 * earlier runs left (wk_sweep_uploads), run part_fn(arg) on up to
 * p->concurrency threads, then CompleteMultipartUpload - or abort the
 * upload on a stop, a failed part or a failed completion.  A stop while
 * parts are in flight aborts at once; requests still stuck 5 s later are
 * abandoned and the process exits with the stop's status (this never
 * returns then).  what names the part step in an error ("UploadPartCopy"
 * -> "UploadPartCopy part 3: ...").  WK_EXIT_OK with u->etag, or the exit
 * status with err set. */
int wk_upload_run(struct wk_upload *u, void *(*part_fn)(void *), void *arg,
		  const char *what, struct wk_error *err);

#endif
