/* s3copy.c - copy or move one S3 object: CopyObject, parallel
 * UploadPartCopy, or (stream.c) GET -> PUT between endpoints.
 *
 * The order never changes: HEAD the source (size, ETag, version); copy
 * pinned to that ETag and version; HEAD the destination and compare; only
 * then, for a move, delete exactly the version that was copied. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "poky/awsreq.h"
#include "poky/creds.h"
#include "poky/log.h"
#include "poky/s3.h"
#include "poky/str.h"
#include "worker.h"

/* One attempt may carry a 5 GiB CopyObject, which S3 answers only when the
 * copy is done; the library's 30 s default would cut it off. */
#define WK_REQUEST_TIMEOUT_MS (15L * 60 * 1000)
/* Aborts run while ECS counts down to SIGKILL (30 s by default). */
#define WK_ABORT_TIMEOUT_MS 4000L
#define WK_ABORT_ATTEMPTS 2

/* ---- clients and retries --------------------------------------------------- */

/* A client for endpoint (NULL: the usual AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL
 * resolution).  max_attempts 0 keeps the standard retries. */
static struct aws_client *
client_new(const char *endpoint, int max_attempts, long timeout_ms,
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

static long
env_long(const char *name, long def, long lo, long hi)
{
	const char *v = getenv(name);
	char *end;
	long x;

	if (v == NULL || *v == '\0')
		return def;
	x = strtol(v, &end, 10);
	return *end != '\0' || x < lo || x > hi ? def : x;
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
	int max = (int)env_long("AWS_MAX_ATTEMPTS", 3, 1, 10);
	long base = env_long("POKY_RETRY_BASE_MS", 1000, 1, 60000);
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

struct head_call {
	struct aws_client *c;
	const char *bucket, *key, *version;
	struct s3_object *o;
};

static enum poky_err
head_once(void *ud, struct poky_error *e)
{
	struct head_call *h = ud;

	return s3_head_object(h->c, h->bucket, h->key, h->version, h->o, e);
}

/* HEAD, with our own retries when the client has none. */
static enum poky_err
head(struct aws_client *c, bool own_retries, const char *bucket,
     const char *key, const char *version, struct s3_object *o,
     struct poky_error *e)
{
	struct head_call h = { c, bucket, key, version, o };

	return own_retries ? wk_retry(head_once, &h, e) : head_once(&h, e);
}

struct delete_call {
	struct aws_client *c;
	const char *bucket, *key, *version;
};

static enum poky_err
delete_once(void *ud, struct poky_error *e)
{
	struct delete_call *d = ud;

	return s3_delete_object(d->c, d->bucket, d->key, d->version, e);
}

static int
interrupted(struct wk_error *err, int sig, const char *what)
{
	return wk_fail(err, WK_EXIT_SIGNAL + sig, "stopped by signal %d; %s", sig, what);
}

/* ---- multipart copy ---------------------------------------------------------- */

struct mp_job {
	struct aws_client *c;
	const struct wk_params *p;
	const struct s3_object *so;
	const char *upload_id;
	int64_t size, part_size;
	int n_parts;
	struct s3_part *parts;
	struct wk_part_queue q;
};

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

static void *
mp_thread(void *arg)
{
	struct mp_job *j = arg;
	struct poky_error e;
	int i;

	while ((i = wk_part_take(&j->q, j->n_parts)) >= 0) {
		int64_t first, last;

		wk_part_range(j->size, j->part_size, i, &first, &last);
		j->parts[i].number = i + 1;
		if (s3_upload_part_copy(j->c, j->p->src_bucket, j->p->src_key,
		    j->so->version_id, j->so->etag[0] ? j->so->etag : NULL, first,
		    last, j->p->dst_bucket, j->p->dst_key, j->upload_id, i + 1,
		    j->parts[i].etag, &e) != POKY_OK) {
			wk_part_fail(&j->q, i, &e);
			break;
		}
		log_debug("part %d/%d copied (bytes %lld-%lld)", i + 1, j->n_parts,
		    (long long)first, (long long)last);
	}
	return NULL;
}

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
		abort_cl = client_new(NULL, WK_ABORT_ATTEMPTS, WK_ABORT_TIMEOUT_MS, 0,
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

static void
abort_client_free(void)
{
	pthread_mutex_lock(&abort_lock);
	aws_client_free(abort_cl);
	abort_cl = NULL;
	pthread_mutex_unlock(&abort_lock);
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

void
wk_run_threads(int n, void *(*fn)(void *), void *arg, void (*on_stop)(void *arg))
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
			on_stop(arg);
			pthread_mutex_lock(&pl.mu);
		} else if (stopped && past(&grace_end)) {
			/* Stuck in a request: abort again for any part that landed
			 * since, and leave without the threads (the pool and arg
			 * stay valid: this frame never returns). */
			pthread_mutex_unlock(&pl.mu);
			on_stop(arg);
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

static void
mp_stop(void *arg)
{
	const struct mp_job *j = arg;

	wk_abort_upload(j->c, j->p, j->upload_id);
}

static int
multipart_copy(struct aws_client *c, const struct wk_params *p,
	       const struct s3_object *so, struct wk_result *res,
	       struct wk_error *err)
{
	struct mp_job j = { .c = c, .p = p, .so = so, .size = so->size };
	struct s3_put_opts opts = { .from = so };
	char upload_id[S3_UPLOAD_ID_MAX], etag[S3_ETAG_MAX];
	struct poky_error e;
	int rc = WK_EXIT_OK, sig;

	if (!wk_plan_parts(so->size, p->part_size, &j.part_size, &j.n_parts))
		return wk_fail(err, WK_EXIT_USAGE, "the source is too large to copy");
	if ((j.parts = calloc((size_t)j.n_parts, sizeof(*j.parts))) == NULL)
		return wk_fail(err, WK_EXIT_FAILED, "out of memory");
	if (!wk_cleanup_enter()) {
		free(j.parts);
		return interrupted(err, wk_stopping(), "nothing was copied");
	}
	if (s3_create_multipart(c, p->dst_bucket, p->dst_key, &opts, upload_id,
	    &e) != POKY_OK) {
		rc = wk_fail_aws(err, &e, "CreateMultipartUpload (destination)");
		goto out;
	}
	log_debug("multipart upload started: %d parts of %lld bytes, %d at a time",
	    j.n_parts, (long long)j.part_size, p->concurrency);
	wk_sweep_uploads(c, p, upload_id);
	j.upload_id = upload_id;
	pthread_mutex_init(&j.q.lock, NULL);
	wk_run_threads(p->concurrency < j.n_parts ? p->concurrency : j.n_parts,
	    mp_thread, &j, mp_stop);
	pthread_mutex_destroy(&j.q.lock);
	if ((sig = wk_stopping()) != 0) {
		wk_abort_upload(c, p, upload_id);
		rc = interrupted(err, sig, "multipart upload aborted");
		goto out;
	}
	if (j.q.failed) {
		char what[64];

		wk_abort_upload(c, p, upload_id);
		snprintf(what, sizeof(what), "UploadPartCopy part %d", j.q.failed_part);
		rc = wk_fail_aws(err, &j.q.first_err, what);
		goto out;
	}
	if (s3_complete_multipart(c, p->dst_bucket, p->dst_key, upload_id,
	    j.parts, (size_t)j.n_parts, etag, &e) != POKY_OK) {
		wk_abort_upload(c, p, upload_id);
		rc = wk_fail_aws(err, &e, "CompleteMultipartUpload");
		goto out;
	}
	res->bytes = so->size;
	res->strategy = "multipart-copy";
	/* What the destination's ETag must be: S3's multipart formula. */
	if (!wk_multipart_etag(j.parts, (size_t)j.n_parts, res->etag))
		str_copy(res->etag, sizeof(res->etag), etag);
out:
	wk_cleanup_leave();
	free(j.parts);
	return rc;
}

/* ---- verification and delete -------------------------------------------------- */

/* Both ETags of one kind (plain MD5, or multipart) and so comparable. */
static bool
etags_comparable(const char *a, const char *b)
{
	if (a[0] == '\0' || b[0] == '\0')
		return false;
	if (wk_etag_is_md5(a) && wk_etag_is_md5(b))
		return true;
	return s3_etag_is_multipart(a) && s3_etag_is_multipart(b);
}

/* HEAD the destination and compare it with the source and with what the
 * copy said it made (res->etag); res->etag becomes the destination's. */
static int
verify(struct aws_client *c, const struct wk_params *p,
       const struct s3_object *so, const char *dst_version,
       struct wk_result *res, struct wk_error *err)
{
	struct s3_object d;
	struct poky_error e;
	int rc = WK_EXIT_OK;

	s3_object_init(&d);
	if (s3_head_object(c, p->dst_bucket, p->dst_key, dst_version, &d, &e) != POKY_OK) {
		rc = wk_fail_aws(err, &e, "HeadObject (destination, to verify the copy)");
		if (rc == WK_EXIT_NOTFOUND)
			rc = wk_fail(err, WK_EXIT_VERIFY,
			    "the destination is missing right after the copy");
		goto out;
	}
	if (d.size != so->size) {
		rc = wk_fail(err, WK_EXIT_VERIFY,
		    "destination has %lld bytes, the source %lld",
		    (long long)d.size, (long long)so->size);
		goto out;
	}
	if (etags_comparable(res->etag, d.etag) && !s3_etag_opaque(&d) &&
	    !wk_etag_equal(res->etag, d.etag)) {
		rc = wk_fail(err, WK_EXIT_VERIFY,
		    "destination ETag %s is not the %s the copy should have made",
		    d.etag, res->etag);
		goto out;
	}
	/* A plain copy keeps the source's MD5 ETag - unless either side is
	 * encrypted with KMS or a customer key, whose ETags are opaque: then
	 * size (and a checksum, when S3 keeps one) is what can be compared. */
	if (strcmp(res->strategy, "copy") == 0 && s3_etag_is_content_md5(so) &&
	    s3_etag_is_content_md5(&d) && !wk_etag_equal(so->etag, d.etag)) {
		rc = wk_fail(err, WK_EXIT_VERIFY,
		    "destination ETag %s differs from the source's %s", d.etag, so->etag);
		goto out;
	}
	if (so->checksum_sha256[0] && d.checksum_sha256[0] &&
	    strcmp(so->checksum_sha256, d.checksum_sha256) != 0) {
		rc = wk_fail(err, WK_EXIT_VERIFY,
		    "destination SHA-256 checksum differs from the source's");
		goto out;
	}
	str_copy(res->etag, sizeof(res->etag), d.etag);
	log_debug("verified: %lld bytes, ETag %s", (long long)d.size, d.etag);
out:
	s3_object_cleanup(&d);
	return rc;
}

/* Delete the source version that was copied.  In an unversioned bucket,
 * first make sure the key still holds what was copied. */
static int
delete_source(struct aws_client *c, bool own_retries, const struct wk_params *p,
	      const struct s3_object *so, struct wk_error *err)
{
	struct delete_call d = { c, p->src_bucket, p->src_key,
		so->version_id[0] ? so->version_id : NULL };
	struct s3_object now;
	struct poky_error e;
	enum poky_err prc;
	int rc = WK_EXIT_OK;

	s3_object_init(&now);
	if (so->version_id[0] == '\0') {
		prc = head(c, own_retries, p->src_bucket, p->src_key, NULL, &now, &e);
		if (prc != POKY_OK) {
			wk_fail_aws(err, &e, "HeadObject (source, before deleting it)");
			rc = wk_fail(err, WK_EXIT_NOT_MOVED,
			    "copied and verified, but not moved: %s", err->message);
			goto out;
		}
		if (now.size != so->size || !wk_etag_equal(now.etag, so->etag)) {
			rc = wk_fail(err, WK_EXIT_NOT_MOVED,
			    "copied and verified, but not moved: the source changed after "
			    "the copy (ETag %s, was %s), so it was kept", now.etag, so->etag);
			goto out;
		}
	}
	prc = own_retries ? wk_retry(delete_once, &d, &e) : delete_once(&d, &e);
	if (prc != POKY_OK) {
		char msg[sizeof(err->message)];

		wk_fail_aws(err, &e, "DeleteObject (source)");
		str_copy(msg, sizeof(msg), err->message);
		snprintf(err->message, sizeof(err->message),
		    "copied and verified, but not moved: %.600s", msg);
		err->exit = rc = WK_EXIT_NOT_MOVED;
		goto out;
	}
	log_debug("source deleted%s%s", d.version ? ", version " : "",
	    d.version ? d.version : "");
out:
	s3_object_cleanup(&now);
	return rc;
}

/* ---- the whole run -------------------------------------------------------------- */

int
wk_run_s3(const struct wk_params *p, struct wk_result *res, struct wk_error *err)
{
	struct aws_client *dst = NULL, *src = NULL;
	struct s3_object so;
	struct poky_error e;
	char dst_version[S3_VERSION_MAX] = "";
	int rc, sig;

	s3_object_init(&so);
	if ((dst = client_new(NULL, 0, WK_REQUEST_TIMEOUT_MS, p->stall_seconds, &e)) == NULL) {
		rc = wk_fail_aws(err, &e, "S3 client");
		goto out;
	}
	if (p->src_endpoint != NULL) {
		/* The source client makes no retries of its own: a GET retried
		 * after some bytes went to the writer would send them twice
		 * (stream.c retries whole parts instead). */
		if ((src = client_new(p->src_endpoint, 1, WK_REQUEST_TIMEOUT_MS,
		    p->stall_seconds, &e)) == NULL) {
			rc = wk_fail_aws(err, &e, "S3 client (POKY_SOURCE_ENDPOINT_URL_S3)");
			goto out;
		}
		if (strcmp(aws_client_endpoint(src, "s3"), aws_client_endpoint(dst, "s3")) == 0) {
			aws_client_free(src);
			src = NULL;
		}
	}
	if (head(src ? src : dst, src != NULL, p->src_bucket, p->src_key, NULL, &so,
	    &e) != POKY_OK) {
		rc = wk_fail_aws(err, &e, "HeadObject (source)");
		if (rc == WK_EXIT_NOTFOUND)
			wk_fail(err, rc, "source s3://%s/%s not found", p->src_bucket,
			    p->src_key);
		goto out;
	}
	log_debug("source: %lld bytes, ETag %s%s%s", (long long)so.size, so.etag,
	    so.version_id[0] ? ", version " : "", so.version_id);

	if (src != NULL) {
		rc = wk_stream_copy(src, dst, p, &so, res, err);
	} else if (so.size > p->threshold && so.size > 0) {
		rc = multipart_copy(dst, p, &so, res, err);
	} else {
		if (s3_copy_object(dst, p->src_bucket, p->src_key, so.version_id,
		    so.etag[0] ? so.etag : NULL, p->dst_bucket, p->dst_key, res->etag,
		    dst_version, &e) != POKY_OK) {
			rc = wk_fail_aws(err, &e, "CopyObject");
			goto out;
		}
		res->bytes = so.size;
		res->strategy = "copy";
		rc = WK_EXIT_OK;
	}
	if (rc != WK_EXIT_OK)
		goto out;
	if ((sig = wk_stopping()) != 0) {
		rc = interrupted(err, sig, "the copy is complete but was not verified");
		goto out;
	}
	if ((rc = verify(dst, p, &so, dst_version[0] ? dst_version : NULL, res, err)))
		goto out;
	if (p->move) {
		if ((sig = wk_stopping()) != 0) {
			rc = interrupted(err, sig, "copied and verified, source not deleted");
			goto out;
		}
		rc = delete_source(src ? src : dst, src != NULL, p, &so, err);
	}
out:
	s3_object_cleanup(&so);
	abort_client_free();
	aws_client_free(src);
	aws_client_free(dst);
	return rc;
}
