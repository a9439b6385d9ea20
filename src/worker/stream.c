/* stream.c - copy between two S3 endpoints: GET -> PUT, bounded memory.
 *
 * Each part (or the whole object, when it fits in one part) is a pair of
 * threads: one GETs the byte range into a small ring buffer, the other
 * PUTs from it, so memory stays at RING_BYTES per part in flight whatever
 * the object's size.  Neither request can be replayed on its own (the
 * bytes are gone), so a failed part is retried whole: a fresh ranged GET
 * and a fresh PUT.  The MD5 of the bytes sent is checked against the ETag
 * each PUT returns, and against the source's ETag when that is an MD5. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "poky/crypto.h"
#include "poky/httpc.h"
#include "poky/log.h"
#include "poky/s3.h"
#include "poky/str.h"
#include "parts.h"
#include "stop.h"
#include "strategy.h"

#define RING_BYTES (1u << 20)
#define READ_LOW_WATER (128u << 10)     /* bytes a PUT read waits for */
#define WAIT_TICK_MS 100                /* how often a waiter looks for a stop */

/* ---- ring buffer ------------------------------------------------------------- */

struct ring {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *buf;
	size_t cap, start, len;
	int64_t want;                   /* bytes the part has */
	int64_t produced, consumed;
	bool writer_done, writer_failed, reader_done;
	bool writer_cut;                /* the GET was stopped from this side */
	bool writer_waits;              /* for room */
	size_t reader_needs;            /* bytes the waiting PUT wants; 0: none */
	struct crypto_md5 *md5;         /* of what the reader took; reader only */
};

static enum poky_err
ring_init(struct ring *r, int64_t want)
{
	pthread_condattr_t ca;

	memset(r, 0, sizeof(*r));
	r->want = want;
	r->cap = want < (int64_t)RING_BYTES ? (size_t)want + 1 : RING_BYTES;
	r->buf = malloc(r->cap);
	r->md5 = crypto_md5_new();
	if (r->buf == NULL || r->md5 == NULL) {
		free(r->buf);
		crypto_md5_free(r->md5);
		return POKY_ERR_NOMEM;
	}
	pthread_mutex_init(&r->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cv, &ca);
	pthread_condattr_destroy(&ca);
	return POKY_OK;
}

static void
ring_cleanup(struct ring *r)
{
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r->buf);
	crypto_md5_free(r->md5);
}

/* Wait for a change, or a tick so a stop request is seen.  Holds r->mu. */
static void
ring_wait(struct ring *r)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += WAIT_TICK_MS * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&r->cv, &r->mu, &ts);
}

/* GET side (httpc write callback): non-zero aborts the download. */
static int
ring_write(void *ud, const char *p, size_t n)
{
	struct ring *r = ud;
	int rc = 0;

	pthread_mutex_lock(&r->mu);
	/* More bytes than the range has: never pass them on. */
	if ((int64_t)n > r->want - r->produced) {
		rc = 1;
		goto out;
	}
	while (n > 0) {
		size_t end, room;

		while (r->len == r->cap && !r->reader_done && !wk_stopping()) {
			r->writer_waits = true;
			ring_wait(r);
		}
		r->writer_waits = false;
		if (r->reader_done || wk_stopping()) {
			r->writer_cut = true;
			rc = 1;
			goto out;
		}
		end = (r->start + r->len) % r->cap;
		room = r->cap - r->len;
		if (room > r->cap - end)
			room = r->cap - end;
		if (room > n)
			room = n;
		memcpy(r->buf + end, p, room);
		r->len += room;
		r->produced += (int64_t)room;
		p += room;
		n -= room;
		/* Wake the PUT only when it waits and has what it wants. */
		if (r->reader_needs > 0 && r->len >= r->reader_needs)
			pthread_cond_broadcast(&r->cv);
	}
out:
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/* PUT side (httpc read callback). */
static size_t
ring_read(void *ud, char *out, size_t n)
{
	struct ring *r = ud;
	size_t got, need;

	/* Wait for a good piece (not each few KiB the GET brings), or for
	 * the rest of the part. */
	need = n < READ_LOW_WATER ? n : READ_LOW_WATER;
	pthread_mutex_lock(&r->mu);
	if ((int64_t)need > r->want - r->consumed)
		need = (size_t)(r->want - r->consumed);
	if (need == 0)
		need = 1;
	while (r->len < need && !r->writer_done && !wk_stopping()) {
		r->reader_needs = need;
		ring_wait(r);
	}
	r->reader_needs = 0;
	if (wk_stopping() || r->writer_failed ||
	    (r->len == 0 && r->consumed != r->want)) {
		pthread_mutex_unlock(&r->mu);
		return HTTPC_READ_ABORT;
	}
	got = r->len < n ? r->len : n;
	if (got > r->cap - r->start)
		got = r->cap - r->start;
	memcpy(out, r->buf + r->start, got);
	r->start = (r->start + got) % r->cap;
	r->len -= got;
	r->consumed += (int64_t)got;
	if (r->writer_waits)
		pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	if (crypto_md5_update(r->md5, out, got) != POKY_OK)
		return HTTPC_READ_ABORT;
	return got;
}

/* ---- one part ------------------------------------------------------------------ */

struct stream_job {
	struct aws_client *src, *dst;
	const struct wk_params *p;
	const struct s3_object *so;
	int64_t size;
	struct wk_upload u;                     /* upload_id "" for a single PUT */
	char (*md5)[S3_ETAG_MAX];               /* per part: of the bytes sent */
};

struct xfer {
	struct stream_job *j;
	int part;                       /* 1-based; 0: one PutObject */
	int64_t first, last;
	char *etag;                     /* S3_ETAG_MAX: what the PUT answered */
	char *md5;                      /* S3_ETAG_MAX: of the bytes sent */
	struct ring ring;
	enum poky_err get_rc;
	struct poky_error get_err;
	bool mismatch;
};

static void *
get_thread(void *arg)
{
	struct xfer *x = arg;
	const struct stream_job *j = x->j;

	x->get_rc = s3_get_object(j->src, j->p->src_bucket, j->p->src_key,
	    j->so->version_id, x->first, x->last,
	    j->so->etag[0] ? j->so->etag : NULL, ring_write, &x->ring, NULL,
	    &x->get_err);
	pthread_mutex_lock(&x->ring.mu);
	x->ring.writer_done = true;
	x->ring.writer_failed = x->get_rc != POKY_OK;
	pthread_cond_broadcast(&x->ring.cv);
	pthread_mutex_unlock(&x->ring.mu);
	return NULL;
}

/* One attempt at one part: GET and PUT side by side. */
static enum poky_err
xfer_once(void *ud, struct poky_error *e)
{
	struct xfer *x = ud;
	struct stream_job *j = x->j;
	struct s3_put_opts opts = { .from = j->so };
	struct s3_written w = { .etag = "" };
	int64_t len = x->last - x->first + 1;
	unsigned char md[CRYPTO_MD5_LEN];
	char hex[33];
	pthread_t t;
	bool have_get = len > 0;
	enum poky_err rc;

	if (ring_init(&x->ring, len) != POKY_OK)
		return poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	x->get_rc = POKY_OK;
	if (!have_get) {
		x->ring.writer_done = true;         /* an empty object: nothing to GET */
	} else if (pthread_create(&t, NULL, get_thread, x) != 0) {
		ring_cleanup(&x->ring);
		return poky_error_set(e, POKY_ERR_NOMEM, "cannot start a thread");
	}
	if (x->part == 0)
		rc = s3_put_object(j->dst, j->p->dst_bucket, j->p->dst_key, len,
		    ring_read, NULL, &x->ring, &opts, &w, e);
	else
		rc = s3_upload_part(j->dst, j->p->dst_bucket, j->p->dst_key,
		    j->u.upload_id, x->part, len, ring_read, NULL, &x->ring, &w, e);
	str_copy(x->etag, S3_ETAG_MAX, w.etag);
	pthread_mutex_lock(&x->ring.mu);
	x->ring.reader_done = true;
	pthread_cond_broadcast(&x->ring.cv);
	pthread_mutex_unlock(&x->ring.mu);
	if (have_get)
		pthread_join(t, NULL);
	/* A GET that failed on its own is why the PUT was cut short (and
	 * makes the part suspect even if the PUT got its bytes); a GET that
	 * we cut because the PUT gave up says nothing. */
	if (x->get_rc != POKY_OK && !x->ring.writer_cut) {
		*e = x->get_err;
		rc = x->get_rc;
	}
	if (rc == POKY_OK && x->ring.consumed != len)
		rc = poky_error_set(e, POKY_ERR_TRANSIENT, "part %d: sent %lld of %lld bytes",
		    x->part, (long long)x->ring.consumed, (long long)len);
	if (rc == POKY_OK &&
	    crypto_md5_final(x->ring.md5, md) == POKY_OK) {
		str_hex(hex, md, 16);
		snprintf(x->md5, S3_ETAG_MAX, "\"%s\"", hex);
		/* The store's ETag of a plain PUT is the MD5 of what arrived
		 * - unless the destination encrypts with KMS or a customer
		 * key (the answer says so): then the ETag is opaque. */
		if (!w.etag_opaque && wk_etag_is_md5(x->etag) &&
		    !wk_etag_equal(x->etag, x->md5)) {
			rc = poky_error_set(e, POKY_ERR_REMOTE,
			    "part %d: the store's ETag %s is not the MD5 %s of the bytes sent",
			    x->part, x->etag, x->md5);
			x->mismatch = true;
		}
	}
	ring_cleanup(&x->ring);
	if (rc != POKY_OK && wk_stopping())
		e->retryable = 0;
	return rc;
}

static enum poky_err
xfer(struct stream_job *j, int part, int64_t first, int64_t last, char *etag,
     char *md5, bool *mismatch, struct poky_error *e)
{
	struct xfer x = { .j = j, .part = part, .first = first, .last = last,
		.etag = etag, .md5 = md5 };
	enum poky_err rc = wk_retry(xfer_once, &x, e);

	*mismatch = x.mismatch;
	return rc;
}

static void *
part_thread(void *arg)
{
	struct stream_job *j = arg;
	struct poky_error e;
	bool mismatch;
	int i;

	while ((i = wk_part_take(&j->u.q, j->u.n_parts)) >= 0) {
		int64_t first, last;

		wk_part_range(j->size, j->u.part_size, i, &first, &last);
		j->u.parts[i].number = i + 1;
		if (xfer(j, i + 1, first, last, j->u.parts[i].etag, j->md5[i],
		    &mismatch, &e) != POKY_OK) {
			/* Read only after the threads are joined. */
			if (wk_part_fail(&j->u.q, i, &e))
				j->u.part_mismatch = mismatch;
			break;
		}
		log_debug("part %d/%d streamed", i + 1, j->u.n_parts);
	}
	return NULL;
}

/* ---- the strategy ------------------------------------------------------------ */

static int
stream_single(struct stream_job *j, struct wk_result *res, struct wk_error *err)
{
	char etag[S3_ETAG_MAX] = "", md5[S3_ETAG_MAX] = "";
	struct poky_error e;
	bool mismatch;
	int sig;

	if (!wk_cleanup_enter())
		return wk_fail_stopped(err, wk_stopping(), "nothing was copied");
	if (xfer(j, 0, 0, j->size - 1, etag, md5, &mismatch, &e) != POKY_OK) {
		wk_cleanup_leave();
		if ((sig = wk_stopping()) != 0)
			return wk_fail_stopped(err, sig,
			    "the upload was cut off, nothing was stored");
		if (mismatch)
			return wk_fail(err, WK_EXIT_VERIFY, "%s", e.message);
		return wk_fail_aws(err, &e, "streaming GetObject -> PutObject");
	}
	wk_cleanup_leave();
	/* The bytes we read are the source object's, if its ETag is an MD5. */
	if (wk_etag_is_md5(j->so->etag) && !wk_etag_equal(j->so->etag, md5))
		return wk_fail(err, WK_EXIT_VERIFY,
		    "the bytes read from the source have MD5 %s, its ETag is %s",
		    md5, j->so->etag);
	res->bytes = j->size;
	str_copy(res->etag, sizeof(res->etag), etag[0] ? etag : md5);
	return WK_EXIT_OK;
}

/* The parts, each GET -> UploadPart, through parts.c's upload. */
static int
stream_multipart(struct stream_job *j, struct wk_result *res,
		 struct wk_error *err)
{
	struct s3_part *md5_parts = NULL;
	int n = j->u.n_parts, rc;

	j->md5 = calloc((size_t)n, sizeof(*j->md5));
	md5_parts = calloc((size_t)n, sizeof(*md5_parts));
	if (j->md5 == NULL || md5_parts == NULL) {
		rc = wk_fail(err, WK_EXIT_FAILED, "out of memory");
		goto out;
	}
	if ((rc = wk_upload_run(&j->u, part_thread, j, "streaming", err)) != WK_EXIT_OK)
		goto out;
	/* The destination's ETag must follow from the MD5s of what we sent. */
	for (int i = 0; i < n; i++) {
		md5_parts[i].number = i + 1;
		memcpy(md5_parts[i].etag, j->md5[i], S3_ETAG_MAX);
	}
	if (!wk_multipart_etag(md5_parts, (size_t)n, res->etag))
		str_copy(res->etag, sizeof(res->etag), j->u.etag);
	res->bytes = j->size;
out:
	free(md5_parts);
	free(j->md5);
	return rc;
}

int
wk_stream_copy(struct aws_client *src, struct aws_client *dst,
	       const struct wk_params *p, const struct s3_object *src_obj,
	       struct wk_result *res, struct wk_error *err)
{
	struct stream_job j = { .src = src, .dst = dst, .p = p, .so = src_obj,
		.size = src_obj->size };
	int rc;

	res->strategy = "stream";
	/* A failure costs one part, not the object: parts as soon as there is
	 * more than one part's worth. */
	if (j.size <= p->part_size)
		return stream_single(&j, res, err);
	if ((rc = wk_upload_init(&j.u, dst, p, src_obj, err)) == WK_EXIT_OK)
		rc = stream_multipart(&j, res, err);
	wk_upload_cleanup(&j.u);
	return rc;
}
