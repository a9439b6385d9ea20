/* parts.c - the multipart machinery the strategies share: the worker's S3
 * clients and retries, one multipart upload from create to complete (or
 * abort), the queue of parts and the threads that work it, and sweeping up
 * what earlier runs left.
 *
 * Both multipart strategies (s3copy.c's UploadPartCopy, stream.c's
 * GET -> UploadPart) supply only the work on one part; the upload around
 * it is here, so a stop, a failed part or a stuck request is handled the
 * same way whichever copies. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "poky/awsreq.h"
#include "poky/creds.h"
#include "poky/log.h"
#include "poky/s3.h"
#include "poky/str.h"
#include "parts.h"
#include "stop.h"

/* Aborts run while ECS counts down to SIGKILL (30 s by default). */
#define WK_ABORT_TIMEOUT_MS 4000L
#define WK_ABORT_ATTEMPTS 2
/* A stopped upload's requests in flight get this long to finish. */
#define WK_STOP_GRACE_MS 5000L

/* ---- clients and retries --------------------------------------------------- */

struct aws_client *
wk_client_new(const char *endpoint, int max_attempts, long timeout_ms,
	   long stall_seconds, struct poky_error *e)
{
	/* A client for an explicit endpoint (the source on another store)
	 * must not be redirected by AWS_ENDPOINT_URL_S3. */
	struct aws_config cfg = { .timeout_ms = timeout_ms,
		.stall_seconds = stall_seconds,
		.max_attempts = max_attempts, .s3_endpoint_url = endpoint,
		.endpoints_over_env = endpoint != NULL, .app_name = "poky-worker" };

	return creds_client_new(&cfg, e);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && !wk_stopping())
		;
}

enum poky_err
wk_retry(enum poky_err (*fn)(void *ud, struct poky_error *e), void *ud,
	 struct poky_error *e)
{
	int max = (int)aws_env_long("AWS_MAX_ATTEMPTS", 3, 1, 10);
	long base = aws_env_long("POKY_RETRY_BASE_MS", 1000, 1, 60000);
	enum poky_err rc;

	for (int attempt = 1;; attempt++) {
		rc = fn(ud, e);
		if (rc == POKY_OK || !e->retryable || attempt >= max || wk_stopping())
			return rc;
		log_debug("attempt %d/%d failed (%s %s); retrying", attempt, max,
		    e->aws_code, e->message);
		sleep_ms(e->retry_after_ms > 0 ? e->retry_after_ms :
		    aws_backoff_ms(attempt, base, (double)arc4random() / 4294967296.0));
	}
}

/* ---- the part queue and its threads ---------------------------------------- */

int
wk_part_take(struct wk_part_queue *q, int n)
{
	int i;

	pthread_mutex_lock(&q->lock);
	i = q->failed || wk_stopping() || q->next >= n ? -1 : q->next++;
	pthread_mutex_unlock(&q->lock);
	return i;
}

bool
wk_part_fail(struct wk_part_queue *q, int i, const struct poky_error *e)
{
	bool first;

	pthread_mutex_lock(&q->lock);
	first = !q->failed;
	if (first) {
		q->failed = true;
		q->first_err = *e;
		q->failed_part = i + 1;
	}
	pthread_mutex_unlock(&q->lock);
	return first;
}

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int running;
	void *(*fn)(void *);
	void *arg;
};

static void *
pool_thread(void *a)
{
	struct pool *pl = a;

	pl->fn(pl->arg);
	pthread_mutex_lock(&pl->mu);
	pl->running--;
	pthread_cond_broadcast(&pl->cv);
	pthread_mutex_unlock(&pl->mu);
	return NULL;
}

static struct timespec
deadline_after(long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

static bool
past(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > t->tv_sec ||
	    (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

/* Run fn(arg) on n threads (at most WK_MAX_CONCURRENCY; on the calling
 * thread if none can start) and wait for all.  When a stop is requested,
 * on_stop(stop_arg) runs at once (it aborts the multipart upload, so parts
 * still in flight are refused); threads stuck in a request get
 * WK_STOP_GRACE_MS more, after which on_stop runs again and the process
 * exits with the stop's status: this never returns then. */
static void
run_threads(int n, void *(*fn)(void *), void *arg, void (*on_stop)(void *),
	    void *stop_arg)
{
	struct pool pl = { .fn = fn, .arg = arg };
	pthread_condattr_t ca;
	pthread_t t[WK_MAX_CONCURRENCY];
	struct timespec grace_end = { 0, 0 };
	bool stopped = false;
	int started = 0;

	pthread_mutex_init(&pl.mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pl.cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_lock(&pl.mu);
	for (; started < n && started < WK_MAX_CONCURRENCY; started++) {
		if (pthread_create(&t[started], NULL, pool_thread, &pl) != 0)
			break;
		pl.running++;
	}
	if (started == 0) {
		pthread_mutex_unlock(&pl.mu);
		fn(arg);                /* no threads to be had: do it here */
		pthread_mutex_lock(&pl.mu);
	}
	while (pl.running > 0) {
		struct timespec tick = deadline_after(100);

		pthread_cond_timedwait(&pl.cv, &pl.mu, &tick);
		if (pl.running == 0)
			break;
		if (!stopped && wk_stopping()) {
			stopped = true;
			grace_end = deadline_after(WK_STOP_GRACE_MS);
			pthread_mutex_unlock(&pl.mu);
			log_debug("stopping: aborting while %d request(s) finish", pl.running);
			on_stop(stop_arg);
			pthread_mutex_lock(&pl.mu);
		} else if (stopped && past(&grace_end)) {
			/* Stuck in a request: abort again for any part that landed
			 * since, and leave without the threads (the pool and arg
			 * stay valid: this frame never returns). */
			pthread_mutex_unlock(&pl.mu);
			on_stop(stop_arg);
			wk_exit_stopped("multipart upload aborted (requests still in flight "
			    "were abandoned)");
		}
	}
	pthread_mutex_unlock(&pl.mu);
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	pthread_cond_destroy(&pl.cv);
	pthread_mutex_destroy(&pl.mu);
}

/* ---- aborts ---------------------------------------------------------------- */

/* A destination client with short timeouts, for aborts only; made on
 * first use. */
static pthread_mutex_t abort_lock = PTHREAD_MUTEX_INITIALIZER;
static struct aws_client *abort_cl;

void
wk_abort_upload(struct aws_client *fallback, const struct wk_params *p,
		const char *id)
{
	struct aws_client *c;
	struct poky_error e;

	pthread_mutex_lock(&abort_lock);
	if (abort_cl == NULL)
		abort_cl = wk_client_new(NULL, WK_ABORT_ATTEMPTS, WK_ABORT_TIMEOUT_MS, 0,
		    NULL);
	c = abort_cl ? abort_cl : fallback;
	/* Aborts are serialised: a second one waits for the first. */
	if (s3_abort_multipart(c, p->dst_bucket, p->dst_key, id, &e) != POKY_OK &&
	    wk_exit_for(&e) != WK_EXIT_NOTFOUND)
		/* The upload id lets an operator clean up; so would a
		 * lifecycle rule (AbortIncompleteMultipartUpload). */
		log_warnx("could not abort multipart upload %s: %s %s", id,
		    e.aws_code, e.message);
	else
		log_debug("multipart upload aborted");
	pthread_mutex_unlock(&abort_lock);
}

void
wk_abort_client_free(void)
{
	pthread_mutex_lock(&abort_lock);
	aws_client_free(abort_cl);
	abort_cl = NULL;
	pthread_mutex_unlock(&abort_lock);
}

/* ---- leftovers of earlier runs --------------------------------------------- */

#define SWEEP_MAX_PAGES 10              /* 10,000 uploads under the key */
#define SWEEP_MAX_FOUND 256             /* uploads to this exact key we act on */
#define S3_TIME_MAX 64

struct sweep {
	const char *key;
	const char *own_id;
	char own_initiated[S3_TIME_MAX];
	struct {
		char id[S3_UPLOAD_ID_MAX];
		char initiated[S3_TIME_MAX];
	} *found;
	size_t n;
};

static int
sweep_note(void *ud, const struct s3_upload *up)
{
	struct sweep *sw = ud;
	const char *when = up->initiated ? up->initiated : "";

	/* The listing is by prefix: "out/a.bin" also lists "out/a.bin.1". */
	if (strcmp(up->key, sw->key) != 0)
		return 0;
	if (strcmp(up->upload_id, sw->own_id) == 0) {
		str_copy(sw->own_initiated, sizeof(sw->own_initiated), when);
		return 0;
	}
	if (sw->n == SWEEP_MAX_FOUND || strlen(up->upload_id) >= S3_UPLOAD_ID_MAX)
		return 0;
	str_copy(sw->found[sw->n].id, S3_UPLOAD_ID_MAX, up->upload_id);
	str_copy(sw->found[sw->n].initiated, S3_TIME_MAX, when);
	sw->n++;
	return 0;
}

void
wk_sweep_uploads(struct aws_client *c, const struct wk_params *p,
		 const char *own_id)
{
	struct sweep sw = { .key = p->dst_key, .own_id = own_id };
	struct poky_error e;
	size_t aborted = 0;

	if (!p->sweep_uploads)
		return;
	if ((sw.found = calloc(SWEEP_MAX_FOUND, sizeof(*sw.found))) == NULL)
		return;
	if (s3_list_multipart_uploads(c, p->dst_bucket, p->dst_key,
	    SWEEP_MAX_PAGES, sweep_note, &sw, &e) != POKY_OK) {
		/* Often only s3:ListBucketMultipartUploads missing from the
		 * role: the copy itself does not need it. */
		log_warnx("could not list earlier uploads to this key: %s %s",
		    e.aws_code, e.message);
		goto out;
	}
	if (sw.own_initiated[0] == '\0') {
		log_debug("our upload is not listed yet; earlier uploads left alone");
		goto out;
	}
	/* Only uploads begun before ours: one begun later belongs to a run
	 * that started after us, which is not ours to judge. */
	for (size_t i = 0; i < sw.n; i++) {
		if (!wk_upload_stale(sw.own_initiated, sw.found[i].initiated))
			continue;
		log_info("aborting an earlier run's multipart upload to this key "
		    "(begun %s)", sw.found[i].initiated);
		wk_abort_upload(c, p, sw.found[i].id);
		aborted++;
	}
	if (aborted > 0)
		log_debug("%zu earlier upload(s) aborted", aborted);
out:
	free(sw.found);
}

/* ---- one multipart upload ---------------------------------------------------- */

int
wk_upload_init(struct wk_upload *u, struct aws_client *c,
	       const struct wk_params *p, const struct s3_object *so,
	       struct wk_error *err)
{
	memset(u, 0, sizeof(*u));
	u->c = c;
	u->p = p;
	u->so = so;
	if (!wk_plan_parts(so->size, p->part_size, &u->part_size, &u->n_parts))
		return wk_fail(err, WK_EXIT_USAGE, "the source is too large to copy");
	if ((u->parts = calloc((size_t)u->n_parts, sizeof(*u->parts))) == NULL)
		return wk_fail(err, WK_EXIT_FAILED, "out of memory");
	return WK_EXIT_OK;
}

void
wk_upload_cleanup(struct wk_upload *u)
{
	free(u->parts);
	u->parts = NULL;
}

static void
upload_abort(void *arg)
{
	const struct wk_upload *u = arg;

	wk_abort_upload(u->c, u->p, u->upload_id);
}

/* The parts have run: a stop wins over a failed part, whose first error
 * is the one reported. */
static int
upload_parts_outcome(const struct wk_upload *u, const char *what,
		     struct wk_error *err)
{
	char step[64];
	int sig;

	if ((sig = wk_stopping()) != 0)
		return wk_fail_stopped(err, sig, "multipart upload aborted");
	if (!u->q.failed)
		return WK_EXIT_OK;
	if (u->part_mismatch)
		return wk_fail(err, WK_EXIT_VERIFY, "%s", u->q.first_err.message);
	snprintf(step, sizeof(step), "%s part %d", what, u->q.failed_part);
	return wk_fail_aws(err, &u->q.first_err, step);
}

int
wk_upload_run(struct wk_upload *u, void *(*part_fn)(void *), void *arg,
	      const char *what, struct wk_error *err)
{
	const struct wk_params *p = u->p;
	struct s3_put_opts opts = { .from = u->so };
	struct poky_error e;
	int rc;

	if (!wk_cleanup_enter())
		return wk_fail_stopped(err, wk_stopping(), "nothing was copied");
	if (s3_create_multipart(u->c, p->dst_bucket, p->dst_key, &opts,
	    u->upload_id, &e) != POKY_OK) {
		rc = wk_fail_aws(err, &e, "CreateMultipartUpload (destination)");
		goto out;
	}
	log_debug("multipart upload started: %d parts of %lld bytes, %d at a time (%s)",
	    u->n_parts, (long long)u->part_size, p->concurrency, what);
	wk_sweep_uploads(u->c, p, u->upload_id);
	pthread_mutex_init(&u->q.lock, NULL);
	run_threads(p->concurrency < u->n_parts ? p->concurrency : u->n_parts,
	    part_fn, arg, upload_abort, u);
	pthread_mutex_destroy(&u->q.lock);
	if ((rc = upload_parts_outcome(u, what, err)) != WK_EXIT_OK) {
		wk_abort_upload(u->c, p, u->upload_id);
		goto out;
	}
	if (s3_complete_multipart(u->c, p->dst_bucket, p->dst_key, u->upload_id,
	    u->parts, (size_t)u->n_parts, u->etag, &e) != POKY_OK) {
		wk_abort_upload(u->c, p, u->upload_id);
		rc = wk_fail_aws(err, &e, "CompleteMultipartUpload");
	}
out:
	wk_cleanup_leave();
	return rc;
}
