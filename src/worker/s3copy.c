/* s3copy.c - copies S3 makes itself, within one endpoint: CopyObject for
 * an object up to the threshold, parallel UploadPartCopy above it.
 *
 * Both are pinned to the ETag and version the source's HEAD gave, so an
 * object replaced during the copy fails the copy rather than mixing two
 * versions. */
#include "poky/log.h"
#include "poky/s3.h"
#include "poky/str.h"
#include "parts.h"
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

static void *
copy_part_thread(void *arg)
{
	struct wk_upload *u = arg;
	const struct wk_params *p = u->p;
	struct poky_error e;
	int i;

	while ((i = wk_part_take(&u->q, u->n_parts)) >= 0) {
		int64_t first, last;

		wk_part_range(u->so->size, u->part_size, i, &first, &last);
		u->parts[i].number = i + 1;
		if (s3_upload_part_copy(u->c, p->src_bucket, p->src_key,
		    u->so->version_id, u->so->etag[0] ? u->so->etag : NULL, first,
		    last, p->dst_bucket, p->dst_key, u->upload_id, i + 1,
		    u->parts[i].etag, &e) != POKY_OK) {
			wk_part_fail(&u->q, i, &e);
			break;
		}
		log_debug("part %d/%d copied (bytes %lld-%lld)", i + 1, u->n_parts,
		    (long long)first, (long long)last);
	}
	return NULL;
}

int
wk_multipart_copy(struct aws_client *c, const struct wk_params *p,
		  const struct s3_object *so, struct wk_result *res,
		  struct wk_error *err)
{
	struct wk_upload u;
	int rc;

	if ((rc = wk_upload_init(&u, c, p, so, err)) != WK_EXIT_OK ||
	    (rc = wk_upload_run(&u, copy_part_thread, &u, "UploadPartCopy",
	     err)) != WK_EXIT_OK)
		goto out;
	res->bytes = so->size;
	res->strategy = "multipart-copy";
	/* What the destination's ETag must be: S3's multipart formula. */
	if (!wk_multipart_etag(u.parts, (size_t)u.n_parts, res->etag))
		str_copy(res->etag, sizeof(res->etag), u.etag);
out:
	wk_upload_cleanup(&u);
	return rc;
}
