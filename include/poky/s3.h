/* s3.h - the S3 operations Poky needs, over awsreq.
 *
 * Addressing: virtual-hosted ("bucket.s3.REGION.amazonaws.com") on AWS's
 * own endpoints, path-style on custom endpoints and for bucket names that
 * are not DNS-safe (dots over https, upper case, ...); the client's
 * s3_addressing setting (aws_config, or POKY_S3_ADDRESSING_STYLE=path|
 * virtual|auto) overrides.  Keys are sent percent-encoded once with '/' kept, and the
 * request path is signed exactly as sent (S3 never normalises "a/../b").
 *
 * CopyObject, UploadPartCopy and CompleteMultipartUpload can answer HTTP 200
 * with an <Error> document: success needs a parsed result with an ETag, and
 * a 200-with-error comes back as POKY_ERR_TRANSIENT or POKY_ERR_REMOTE like
 * any other S3 error. */
#ifndef POKY_S3_H
#define POKY_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "poky/buf.h"
#include "poky/err.h"
#include "poky/hdr.h"

struct aws_client;

#define S3_ETAG_MAX 128
#define S3_VERSION_MAX 1024
#define S3_KEY_MAX 1024                 /* bytes of UTF-8, S3's own limit */
#define S3_UPLOAD_ID_MAX 1024
#define S3_MAX_META 64                  /* user metadata entries kept */
#define S3_MIN_PART ((int64_t)5 << 20)
#define S3_MAX_PART ((int64_t)5 << 30)
#define S3_MAX_PARTS 10000
#define S3_MAX_COPY ((int64_t)5 << 30)  /* CopyObject's limit */

struct s3_object {
	int64_t size;
	char etag[S3_ETAG_MAX];                 /* with its quotes, as S3 sends it */
	char version_id[S3_VERSION_MAX];        /* "" when unversioned */
	char content_type[256];
	char content_encoding[64];
	char cache_control[256];
	char content_disposition[512];
	char checksum_sha256[64];               /* base64, "" if S3 has none */
	char sse[32];                           /* x-amz-server-side-encryption */
	bool sse_customer;                      /* SSE-C (customer key) */
	char last_modified[64];
	/* User metadata: "name\0value\0" pairs without the x-amz-meta- prefix. */
	struct buf meta;
	size_t n_meta;
};

void s3_object_init(struct s3_object *o);
void s3_object_cleanup(struct s3_object *o);

/* True when the ETag is a multipart one ("...-N"), i.e. not an MD5. */
int s3_etag_is_multipart(const char *etag);

/* True when o is encrypted with KMS or a customer key: its ETag is then
 * opaque, not derived from the MD5 of its content. */
int s3_etag_opaque(const struct s3_object *o);

/* True when o's ETag can be the MD5 of its content: not multipart, and not
 * opaque. */
int s3_etag_is_content_md5(const struct s3_object *o);

/* What a PUT or an UploadPart answered. */
struct s3_written {
	char etag[S3_ETAG_MAX];         /* with its quotes */
	bool etag_opaque;               /* SSE-KMS or SSE-C: not the body's MD5 */
};

/* Bucket names S3 accepts (3-63 of a-z 0-9 . -, ...). */
int s3_bucket_name_valid(const char *bucket);

enum poky_err s3_head_bucket(struct aws_client *c, const char *bucket,
			     struct poky_error *e);

/* HEAD an object (version_id may be NULL). */
enum poky_err s3_head_object(struct aws_client *c, const char *bucket,
			     const char *key, const char *version_id,
			     struct s3_object *o, struct poky_error *e);

/* GET an object (or bytes first..last, inclusive; last < 0 for "to the
 * end"), streaming the body to write().  o (may be NULL) gets the headers.
 * if_match pins the ETag (NULL for none). */
enum poky_err s3_get_object(struct aws_client *c, const char *bucket,
			    const char *key, const char *version_id,
			    int64_t first, int64_t last, const char *if_match,
			    int (*write)(void *ud, const char *p, size_t n),
			    void *ud, struct s3_object *o, struct poky_error *e);

/* What to send with a PUT, a copy or a multipart upload. */
struct s3_put_opts {
	const struct s3_object *from;   /* content type, metadata etc. to set; NULL: none */
	const char *content_md5;        /* base64 MD5 of the body, or NULL */
};

/* PUT len bytes pulled from read() (rewind() lets a failed attempt be
 * retried).  out may be NULL. */
enum poky_err s3_put_object(struct aws_client *c, const char *bucket,
			    const char *key, int64_t len,
			    size_t (*read)(void *ud, char *buf, size_t n),
			    int (*rewind)(void *ud), void *ud,
			    const struct s3_put_opts *opts, struct s3_written *out,
			    struct poky_error *e);

/* Server-side copy (CopyObject), metadata copied from the source.
 * if_match: x-amz-copy-source-if-match (NULL for none). */
enum poky_err s3_copy_object(struct aws_client *c, const char *src_bucket,
			     const char *src_key, const char *src_version,
			     const char *if_match, const char *dst_bucket,
			     const char *dst_key, char *etag_out,
			     char *version_out, struct poky_error *e);

/* Multipart uploads. upload_id is S3_UPLOAD_ID_MAX bytes. */
enum poky_err s3_create_multipart(struct aws_client *c, const char *bucket,
				  const char *key, const struct s3_put_opts *opts,
				  char *upload_id, struct poky_error *e);

enum poky_err s3_upload_part(struct aws_client *c, const char *bucket,
			     const char *key, const char *upload_id, int part,
			     int64_t len,
			     size_t (*read)(void *ud, char *buf, size_t n),
			     int (*rewind)(void *ud), void *ud,
			     struct s3_written *out, struct poky_error *e);

/* Copy bytes first..last (inclusive) of the source into one part. */
enum poky_err s3_upload_part_copy(struct aws_client *c, const char *src_bucket,
				  const char *src_key, const char *src_version,
				  const char *if_match, int64_t first,
				  int64_t last, const char *bucket,
				  const char *key, const char *upload_id,
				  int part, char *etag_out,
				  struct poky_error *e);

struct s3_part {
	int number;
	char etag[S3_ETAG_MAX];
};

enum poky_err s3_complete_multipart(struct aws_client *c, const char *bucket,
				    const char *key, const char *upload_id,
				    const struct s3_part *parts, size_t n,
				    char *etag_out, struct poky_error *e);

enum poky_err s3_abort_multipart(struct aws_client *c, const char *bucket,
				 const char *key, const char *upload_id,
				 struct poky_error *e);

/* Delete one object (version_id NULL: the current one). */
enum poky_err s3_delete_object(struct aws_client *c, const char *bucket,
			       const char *key, const char *version_id,
			       struct poky_error *e);

/* One multipart upload in progress. */
struct s3_upload {
	const char *key;
	const char *upload_id;
	const char *initiated;          /* ISO 8601, may be NULL */
};

/* ListMultipartUploads under prefix (NULL: all), page after page (at most
 * max_pages, else POKY_ERR_LIMIT); calls fn for each upload until it
 * returns non-zero.  Keys come as S3 stores them (no encoding-type). */
enum poky_err s3_list_multipart_uploads(struct aws_client *c,
					const char *bucket, const char *prefix,
					size_t max_pages,
					int (*fn)(void *ud,
						  const struct s3_upload *up),
					void *ud, struct poky_error *e);

#endif
