/* run.c - one S3 copy or move, whichever strategy carries it out.
 *
 * The order never changes: HEAD the source (size, ETag, version); copy
 * pinned to that ETag and version (s3copy.c, or stream.c between two
 * endpoints); HEAD the destination and compare; only then, for a move,
 * delete exactly the version that was copied. */
#include <stdlib.h>
#include <string.h>

#include "poky/awsreq.h"
#include "poky/log.h"
#include "poky/s3.h"
#include "poky/str.h"
#include "parts.h"
#include "stop.h"
#include "strategy.h"

/* One attempt may carry a 5 GiB CopyObject, which S3 answers only when the
 * copy is done; the library's 30 s default would cut it off. */
#define WK_REQUEST_TIMEOUT_MS (15L * 60 * 1000)

/* ---- calls with our own retries ------------------------------------------------ */

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
	if ((dst = wk_client_new(NULL, 0, WK_REQUEST_TIMEOUT_MS, p->stall_seconds, &e)) == NULL) {
		rc = wk_fail_aws(err, &e, "S3 client");
		goto out;
	}
	if (p->src_endpoint != NULL) {
		/* The source client makes no retries of its own: a GET retried
		 * after some bytes went to the writer would send them twice
		 * (stream.c retries whole parts instead). */
		if ((src = wk_client_new(p->src_endpoint, 1, WK_REQUEST_TIMEOUT_MS,
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
		rc = wk_multipart_copy(dst, p, &so, res, err);
	} else {
		rc = wk_copy_object(dst, p, &so, dst_version, res, err);
	}
	if (rc != WK_EXIT_OK)
		goto out;
	if ((sig = wk_stopping()) != 0) {
		rc = wk_fail_stopped(err, sig, "the copy is complete but was not verified");
		goto out;
	}
	if ((rc = verify(dst, p, &so, dst_version[0] ? dst_version : NULL, res, err)))
		goto out;
	if (p->move) {
		if ((sig = wk_stopping()) != 0) {
			rc = wk_fail_stopped(err, sig, "copied and verified, source not deleted");
			goto out;
		}
		rc = delete_source(src ? src : dst, src != NULL, p, &so, err);
	}
out:
	s3_object_cleanup(&so);
	wk_abort_client_free();
	aws_client_free(src);
	aws_client_free(dst);
	return rc;
}
