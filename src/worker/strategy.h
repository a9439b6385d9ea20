/* strategy.h - the ways poky-worker copies one object, and the run that
 * picks one.  Each strategy stands alone on parts.h and stop.h; only
 * run.c (S3) and main.c (local or S3) choose between them. */
#ifndef POKY_WORKER_STRATEGY_H
#define POKY_WORKER_STRATEGY_H

#include "poky/s3.h"
#include "worker.h"

struct aws_client;

/* S3 copy or move (run.c): HEAD the source, copy with one of the
 * strategies below, verify, and for a move delete the source. */
int wk_run_s3(const struct wk_params *p, struct wk_result *res,
	      struct wk_error *err);

/* CopyObject within one endpoint (s3copy.c); res->etag is what the copy
 * made and dst_version (S3_VERSION_MAX) the new version, or "". */
int wk_copy_object(struct aws_client *c, const struct wk_params *p,
		   const struct s3_object *so, char *dst_version,
		   struct wk_result *res, struct wk_error *err);

/* Parallel UploadPartCopy within one endpoint (s3copy.c). */
int wk_multipart_copy(struct aws_client *c, const struct wk_params *p,
		      const struct s3_object *so, struct wk_result *res,
		      struct wk_error *err);

/* Streaming GET -> PUT between two endpoints (stream.c).  src_obj is the
 * source's HEAD. */
int wk_stream_copy(struct aws_client *src, struct aws_client *dst,
		   const struct wk_params *p, const struct s3_object *src_obj,
		   struct wk_result *res, struct wk_error *err);

/* POKY_LOCAL_ROOT mode (local.c). */
int wk_run_local(const struct wk_params *p, struct wk_result *res,
		 struct wk_error *err);

#endif
