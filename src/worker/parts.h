/* parts.h - the multipart machinery the strategies share (parts.c): the
 * worker's S3 clients, retries, the queue of parts and the threads that
 * work it, aborting an upload, and sweeping up earlier runs' uploads. */
#ifndef POKY_WORKER_PARTS_H
#define POKY_WORKER_PARTS_H

#include <pthread.h>
#include <stdbool.h>

#include "poky/err.h"
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

/* Run fn(arg) on n threads (at most WK_MAX_CONCURRENCY; on the calling
 * thread if none can start) and wait for all.  When a stop is requested,
 * on_stop(arg) runs at once (it aborts the multipart upload, so parts still
 * in flight are refused); threads stuck in a request get WK_STOP_GRACE_MS
 * more, after which on_stop runs again and the process exits with the
 * stop's status: this never returns then. */
#define WK_STOP_GRACE_MS 5000L
void wk_run_threads(int n, void *(*fn)(void *), void *arg,
		    void (*on_stop)(void *arg));

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

#endif
