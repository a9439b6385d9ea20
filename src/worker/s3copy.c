/* s3copy.c - copies S3 makes itself, within one endpoint: CopyObject for
 * an object up to the threshold, parallel UploadPartCopy above it.
 *
 * Both are pinned to the ETag and version the source's HEAD gave, so an
 * object replaced during the copy fails the copy rather than mixing two
 * versions. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "poky/log.h"
#include "poky/s3.h"
#include "poky/str.h"
#include "parts.h"
#include "stop.h"
#include "strategy.h"

int
wk_copy_object(struct aws_client *c, const struct wk_params *p,
	       const struct s3_object *so, char *dst_version,
	       struct wk_result *res, struct wk_error *err)
{
	struct poky_error e;

	if (s3_copy_object(c, p->src_bucket, p->src_key, so->version_id,
	    so->etag[0] ? so->etag : NULL, p->dst_bucket, p->dst_key, res->etag,
	    dst_version, &e) != POKY_OK)
		return wk_fail_aws(err, &e, "CopyObject");
	res->bytes = so->size;
	res->strategy = "copy";
	return WK_EXIT_OK;
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

static void
mp_stop(void *arg)
{
	const struct mp_job *j = arg;

	wk_abort_upload(j->c, j->p, j->upload_id);
}

int
wk_multipart_copy(struct aws_client *c, const struct wk_params *p,
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
		return wk_fail_stopped(err, wk_stopping(), "nothing was copied");
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
		rc = wk_fail_stopped(err, sig, "multipart upload aborted");
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
