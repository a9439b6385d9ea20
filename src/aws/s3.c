/* s3.c - S3 over awsreq (see s3.h). */
#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poky/awsreq.h"
#include "poky/s3.h"
#include "poky/str.h"
#include "poky/xml.h"

#define S3_MAX_XML (8u << 20)
#define S3_MAX_HEADERS 80
#define BODY_ERROR_RETRIES 3            /* for 200-with-<Error> answers */

void
s3_object_init(struct s3_object *o)
{
	memset(o, 0, sizeof(*o));
	buf_init(&o->meta, 8192);
}

void
s3_object_cleanup(struct s3_object *o)
{
	buf_free(&o->meta);
}

int
s3_etag_is_multipart(const char *etag)
{
	const char *dash = strrchr(etag, '-');

	if (dash == NULL)
		return 0;
	for (dash++; isdigit((unsigned char)*dash); dash++)
		;
	return *dash == '"' || *dash == '\0';
}

/* "aws:kms" and "aws:kms:dsse" */
static bool
sse_kms(const char *sse)
{
	return sse != NULL && strncmp(sse, "aws:kms", 7) == 0;
}

int
s3_etag_opaque(const struct s3_object *o)
{
	return o->sse_customer || sse_kms(o->sse);
}

int
s3_etag_is_content_md5(const struct s3_object *o)
{
	return o->etag[0] != '\0' && !s3_etag_is_multipart(o->etag) &&
	    !s3_etag_opaque(o);
}

int
s3_bucket_name_valid(const char *b)
{
	size_t n = strlen(b);

	if (n < 3 || n > 63 || !isalnum((unsigned char)b[0]) ||
	    !isalnum((unsigned char)b[n - 1]))
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)b[i];

		if (!(islower(c) || isdigit(c) || c == '-' || c == '.' ||
		    (isupper(c))))  /* legacy buckets may have capitals */
			return 0;
		if (c == '.' && i + 1 < n && b[i + 1] == '.')
			return 0;
	}
	return 1;
}

/* Virtual-hosted only where the name can be a DNS label under AWS's
 * certificate: lower case, no dots (a dot breaks the wildcard match). */
static bool
virtual_ok(const char *b)
{
	for (const char *p = b; *p != '\0'; p++)
		if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) ||
		    *p == '-'))
			return false;
	return s3_bucket_name_valid(b);
}

/* ---- request plumbing ----------------------------------------------------- */

struct s3_call {
	struct aws_client *c;
	const char *op;
	const char *method;
	const char *bucket;
	const char *key;                /* NULL for bucket operations */
	struct buf query;               /* encoded, without '?' */
	struct hdr h[S3_MAX_HEADERS];
	size_t nh;
	/* Copied names and values live in hstore; their offsets are turned
	 * into pointers only at send time, since the store may move. */
	struct buf hstore;
	size_t name_off[S3_MAX_HEADERS];        /* NO_OFF: a constant name */
	size_t value_off[S3_MAX_HEADERS];
};

#define NO_OFF ((size_t)-1)

static void
call_init(struct s3_call *k, struct aws_client *c, const char *op,
	  const char *method, const char *bucket, const char *key)
{
	memset(k, 0, sizeof(*k));
	k->c = c;
	k->op = op;
	k->method = method;
	k->bucket = bucket;
	k->key = key;
	buf_init(&k->query, 4096);
	buf_init(&k->hstore, 64 * 1024);
}

static void
call_cleanup(struct s3_call *k)
{
	buf_free(&k->query);
	buf_free(&k->hstore);
}

/* Add a header; the value (and, with copy_name, the name) is copied. */
static enum poky_err
call_header2(struct s3_call *k, const char *name, bool copy_name,
	     const char *value)
{
	size_t noff = NO_OFF, voff;
	enum poky_err rc;

	if (k->nh == S3_MAX_HEADERS)
		return POKY_ERR_LIMIT;
	if (copy_name) {
		noff = k->hstore.len;
		if ((rc = buf_append(&k->hstore, name, strlen(name) + 1)))
			return rc;
	}
	voff = k->hstore.len;
	if ((rc = buf_append(&k->hstore, value, strlen(value) + 1)))
		return rc;
	k->h[k->nh] = (struct hdr){ name, strlen(name), NULL, strlen(value) };
	k->name_off[k->nh] = noff;
	k->value_off[k->nh] = voff;
	k->nh++;
	return POKY_OK;
}

static enum poky_err
call_header(struct s3_call *k, const char *name, const char *value)
{
	return call_header2(k, name, false, value);
}

static enum poky_err
call_query(struct s3_call *k, const char *name, const char *value)
{
	enum poky_err rc;

	if ((k->query.len > 0 && (rc = buf_append_byte(&k->query, '&'))) ||
	    (rc = str_uri_encode(&k->query, name, strlen(name), false)))
		return rc;
	if (value == NULL)
		return POKY_OK;
	if ((rc = buf_append_byte(&k->query, '=')))
		return rc;
	return str_uri_encode(&k->query, value, strlen(value), false);
}

/* x-amz-copy-source: bucket/key URL-encoded ('/' kept), ?versionId= when
 * pinned. */
static enum poky_err
call_copy_source(struct s3_call *k, const char *bucket, const char *key,
		 const char *version)
{
	struct buf v;
	enum poky_err rc;

	buf_init(&v, 8192);
	if ((rc = buf_printf(&v, "/%s/", bucket)) ||
	    (rc = str_uri_encode(&v, key, strlen(key), true)))
		goto out;
	if (version != NULL && *version != '\0' &&
	    ((rc = buf_append_str(&v, "?versionId=")) ||
	     (rc = str_uri_encode(&v, version, strlen(version), false))))
		goto out;
	rc = call_header(k, "x-amz-copy-source", v.data);
out:
	buf_free(&v);
	return rc;
}

/* Content headers and user metadata of an object, for PUT and multipart. */
static enum poky_err
call_object_headers(struct s3_call *k, const struct s3_put_opts *opts)
{
	const struct s3_object *o = opts ? opts->from : NULL;
	char name[256];
	enum poky_err rc = POKY_OK;

	if (opts != NULL && opts->content_md5 != NULL &&
	    (rc = call_header(k, "Content-MD5", opts->content_md5)))
		return rc;
	if (o == NULL)
		return POKY_OK;
	if ((o->content_type[0] && (rc = call_header(k, "Content-Type", o->content_type))) ||
	    (o->content_encoding[0] && (rc = call_header(k, "Content-Encoding",
	     o->content_encoding))) ||
	    (o->cache_control[0] && (rc = call_header(k, "Cache-Control",
	     o->cache_control))) ||
	    (o->content_disposition[0] && (rc = call_header(k,
	     "Content-Disposition", o->content_disposition))))
		return rc;
	const char *p = o->meta.data;
	for (size_t i = 0; i < o->n_meta; i++) {
		const char *v = p + strlen(p) + 1;

		snprintf(name, sizeof(name), "x-amz-meta-%s", p);
		if ((rc = call_header2(k, name, true, v)))
			return rc;
		p = v + strlen(v) + 1;
	}
	return POKY_OK;
}

static enum poky_err
call_send(struct s3_call *k, struct aws_request *rq,
	  struct httpc_response *resp, struct poky_error *e)
{
	struct aws_client *c = k->c;
	bool virt;
	int mode = aws_client_s3_addressing(c);
	struct buf path;
	char prefix[80] = "";
	enum poky_err rc;

	virt = mode == AWS_S3_ADDR_VIRTUAL ||
	    (mode == AWS_S3_ADDR_AUTO && !aws_client_endpoint_custom(c, "s3") &&
	     virtual_ok(k->bucket));
	buf_init(&path, 8192);
	if (virt) {
		snprintf(prefix, sizeof(prefix), "%s.", k->bucket);
		rc = buf_append_byte(&path, '/');
	} else {
		rc = buf_printf(&path, "/%s%s", k->bucket, k->key ? "/" : "");
	}
	if (rc == POKY_OK && k->key != NULL)
		rc = str_uri_encode(&path, k->key, strlen(k->key), true);
	if (rc != POKY_OK) {
		buf_free(&path);
		return poky_error_set(e, rc, "S3 key too long");
	}
	/* Resolve header offsets now that the store no longer grows. */
	for (size_t i = 0; i < k->nh; i++) {
		k->h[i].value = k->hstore.data + k->value_off[i];
		if (k->name_off[i] != NO_OFF)
			k->h[i].name = k->hstore.data + k->name_off[i];
	}
	rq->service = "s3";
	rq->operation = k->op;
	rq->method = k->method;
	rq->path = path.data;
	rq->query = k->query.len ? k->query.data : NULL;
	rq->host_prefix = virt ? prefix : NULL;
	rq->headers = k->h;
	rq->n_headers = k->nh;
	rq->sign_flags = SIGV4_S3;
	rc = aws_send(c, rq, resp, e);
	buf_free(&path);
	return rc;
}

/* Parse an XML answer; a root <Error> on a 200 is an error like any other. */
static enum poky_err
parse_result(const struct httpc_response *resp, struct xml_doc *doc,
	     const char *want_root, struct poky_error *e)
{
	enum poky_err rc;

	rc = xml_parse(doc, resp->body.data, resp->body.len, e);
	if (rc != POKY_OK) {
		if (e != NULL) {
			e->retryable = 1;   /* a cut answer is worth another try */
			e->code = POKY_ERR_TRANSIENT;
		}
		return POKY_ERR_TRANSIENT;
	}
	if (strcmp(xml_local_name(doc->root), "Error") == 0) {
		xml_doc_free(doc);
		rc = aws_error_from_response(resp, e);
		/* A 200 with an <Error>: retry what AWS says is retryable, and
		 * treat InternalError this way too. */
		return rc;
	}
	if (want_root != NULL && strcmp(xml_local_name(doc->root), want_root) != 0) {
		xml_doc_free(doc);
		return poky_error_set(e, POKY_ERR_REMOTE,
		    "unexpected S3 answer <%s>, wanted <%s>", xml_local_name(doc->root),
		    want_root);
	}
	return POKY_OK;
}

static void
copy_etag(char *out, const char *etag)
{
	if (out != NULL)
		str_copy(out, S3_ETAG_MAX, etag ? etag : "");
}

/* ---- objects -------------------------------------------------------------- */

static void
object_from_headers(const struct httpc_response *r, struct s3_object *o)
{
	const char *p = r->headers.data, *h;

	if ((h = httpc_response_header(r, "content-length")) != NULL)
		o->size = strtoll(h, NULL, 10);
	if ((h = httpc_response_header(r, "content-range")) != NULL &&
	    (h = strchr(h, '/')) != NULL && h[1] != '*')
		o->size = strtoll(h + 1, NULL, 10);
	str_copy(o->etag, sizeof(o->etag), (h = httpc_response_header(r, "etag")) ? h : "");
	str_copy(o->version_id, sizeof(o->version_id),
	    (h = httpc_response_header(r, "x-amz-version-id")) && strcmp(h, "null") != 0 ?
	    h : "");
	str_copy(o->content_type, sizeof(o->content_type),
	    (h = httpc_response_header(r, "content-type")) ? h : "");
	str_copy(o->content_encoding, sizeof(o->content_encoding),
	    (h = httpc_response_header(r, "content-encoding")) ? h : "");
	str_copy(o->cache_control, sizeof(o->cache_control),
	    (h = httpc_response_header(r, "cache-control")) ? h : "");
	str_copy(o->content_disposition, sizeof(o->content_disposition),
	    (h = httpc_response_header(r, "content-disposition")) ? h : "");
	str_copy(o->checksum_sha256, sizeof(o->checksum_sha256),
	    (h = httpc_response_header(r, "x-amz-checksum-sha256")) ? h : "");
	str_copy(o->last_modified, sizeof(o->last_modified),
	    (h = httpc_response_header(r, "last-modified")) ? h : "");
	str_copy(o->sse, sizeof(o->sse),
	    (h = httpc_response_header(r, "x-amz-server-side-encryption")) ? h : "");
	o->sse_customer = httpc_response_header(r,
	    "x-amz-server-side-encryption-customer-algorithm") != NULL;
	buf_reset(&o->meta);
	o->n_meta = 0;
	for (size_t i = 0; i < r->n_headers; i++) {
		const char *v = p + strlen(p) + 1;

		if (strncmp(p, "x-amz-meta-", 11) == 0 && o->n_meta < S3_MAX_META &&
		    buf_append(&o->meta, p + 11, strlen(p + 11) + 1) == POKY_OK &&
		    buf_append(&o->meta, v, strlen(v) + 1) == POKY_OK)
			o->n_meta++;
		p = v + strlen(v) + 1;
	}
}

enum poky_err
s3_head_bucket(struct aws_client *c, const char *bucket, struct poky_error *e)
{
	struct s3_call k;
	struct httpc_response resp;
	enum poky_err rc;

	call_init(&k, c, "HeadBucket", "HEAD", bucket, NULL);
	httpc_response_init(&resp, 4096);
	rc = call_send(&k, &(struct aws_request){ .no_body = 1 }, &resp, e);
	httpc_response_cleanup(&resp);
	call_cleanup(&k);
	return rc;
}

enum poky_err
s3_head_object(struct aws_client *c, const char *bucket, const char *key,
	       const char *version_id, struct s3_object *o, struct poky_error *e)
{
	struct s3_call k;
	struct httpc_response resp;
	enum poky_err rc;

	call_init(&k, c, "HeadObject", "HEAD", bucket, key);
	httpc_response_init(&resp, 4096);
	if ((version_id && *version_id && (rc = call_query(&k, "versionId", version_id))) ||
	    (rc = call_header(&k, "x-amz-checksum-mode", "ENABLED")))
		goto out;
	rc = call_send(&k, &(struct aws_request){ .no_body = 1 }, &resp, e);
	if (rc == POKY_OK && o != NULL)
		object_from_headers(&resp, o);
out:
	httpc_response_cleanup(&resp);
	call_cleanup(&k);
	return rc;
}

enum poky_err
s3_get_object(struct aws_client *c, const char *bucket, const char *key,
	      const char *version_id, int64_t first, int64_t last,
	      const char *if_match,
	      int (*write)(void *ud, const char *p, size_t n), void *ud,
	      struct s3_object *o, struct poky_error *e)
{
	struct s3_call k;
	struct httpc_response resp;
	char range[64];
	enum poky_err rc = POKY_OK;

	call_init(&k, c, "GetObject", "GET", bucket, key);
	httpc_response_init(&resp, 64 * 1024);
	if (version_id && *version_id)
		rc = call_query(&k, "versionId", version_id);
	if (rc == POKY_OK && (first > 0 || last >= 0)) {
		if (last >= 0)
			snprintf(range, sizeof(range), "bytes=%" PRId64 "-%" PRId64,
			    first, last);
		else
			snprintf(range, sizeof(range), "bytes=%" PRId64 "-", first);
		rc = call_header(&k, "Range", range);
	}
	if (rc == POKY_OK && if_match != NULL)
		rc = call_header(&k, "If-Match", if_match);
	if (rc != POKY_OK) {
		poky_error_set(e, rc, "S3 GetObject: request too large");
		goto out;
	}
	/* A streamed GET can't be replayed into the writer: no retries past
	 * the first byte, so the writer sees each byte once. */
	rc = call_send(&k, &(struct aws_request){ .write = write, .write_ud = ud },
	    &resp, e);
	if (rc == POKY_OK && o != NULL)
		object_from_headers(&resp, o);
out:
	httpc_response_cleanup(&resp);
	call_cleanup(&k);
	return rc;
}

/* The ETag of a PUT or UploadPart answer, and whether it can be an MD5. */
static void
written(struct s3_written *w, const struct httpc_response *r)
{
	if (w == NULL)
		return;
	copy_etag(w->etag, httpc_response_header(r, "etag"));
	w->etag_opaque = sse_kms(httpc_response_header(r,
	    "x-amz-server-side-encryption")) || httpc_response_header(r,
	    "x-amz-server-side-encryption-customer-algorithm") != NULL;
}

enum poky_err
s3_put_object(struct aws_client *c, const char *bucket, const char *key,
	      int64_t len, size_t (*read)(void *ud, char *buf, size_t n),
	      int (*rewind)(void *ud), void *ud, const struct s3_put_opts *opts,
	      struct s3_written *out, struct poky_error *e)
{
	struct s3_call k;
	struct httpc_response resp;
	enum poky_err rc;

	call_init(&k, c, "PutObject", "PUT", bucket, key);
	httpc_response_init(&resp, 64 * 1024);
	if ((rc = call_object_headers(&k, opts)) != POKY_OK) {
		poky_error_set(e, rc, "S3 PutObject: too many headers");
		goto out;
	}
	rc = call_send(&k, &(struct aws_request){ .read = read, .rewind = rewind,
	    .read_ud = ud, .upload_len = len }, &resp, e);
	if (rc == POKY_OK)
		written(out, &resp);
out:
	httpc_response_cleanup(&resp);
	call_cleanup(&k);
	return rc;
}

/* Copy operations answer 200 before the copy is done; retry an <Error>
 * that says it is transient. */
static enum poky_err
send_copy(struct s3_call *k, const char *want_root, struct httpc_response *resp,
	  char *etag_out, struct poky_error *e)
{
	struct xml_doc doc;
	enum poky_err rc = POKY_OK;

	for (int i = 0; i < BODY_ERROR_RETRIES; i++) {
		rc = call_send(k, &(struct aws_request){ 0 }, resp, e);
		if (rc != POKY_OK)
			return rc;
		rc = parse_result(resp, &doc, want_root, e);
		if (rc == POKY_OK) {
			copy_etag(etag_out, xml_path_text(doc.root, "ETag"));
			xml_doc_free(&doc);
			if (etag_out != NULL && etag_out[0] == '\0')
				return poky_error_set(e, POKY_ERR_REMOTE,
				    "S3 %s: answer without an ETag", k->op);
			return POKY_OK;
		}
		if (rc != POKY_ERR_TRANSIENT)
			return rc;
	}
	return rc;
}

enum poky_err
s3_copy_object(struct aws_client *c, const char *src_bucket, const char *src_key,
	       const char *src_version, const char *if_match,
	       const char *dst_bucket, const char *dst_key, char *etag_out,
	       char *version_out, struct poky_error *e)
{
	struct s3_call k;
	struct httpc_response resp;
	char etag[S3_ETAG_MAX];
	const char *v;
	enum poky_err rc;

	call_init(&k, c, "CopyObject", "PUT", dst_bucket, dst_key);
	httpc_response_init(&resp, S3_MAX_XML);
	if ((rc = call_copy_source(&k, src_bucket, src_key, src_version)) ||
	    (rc = call_header(&k, "x-amz-metadata-directive", "COPY")) ||
	    (if_match && (rc = call_header(&k, "x-amz-copy-source-if-match", if_match)))) {
		poky_error_set(e, rc, "S3 CopyObject: request too large");
		goto out;
	}
	rc = send_copy(&k, "CopyObjectResult", &resp, etag, e);
	if (rc == POKY_OK) {
		copy_etag(etag_out, etag);
		if (version_out != NULL)
			str_copy(version_out, S3_VERSION_MAX,
			    (v = httpc_response_header(&resp, "x-amz-version-id")) &&
			    strcmp(v, "null") != 0 ? v : "");
	}
out:
	httpc_response_cleanup(&resp);
	call_cleanup(&k);
	return rc;
}

/* ---- multipart ------------------------------------------------------------ */

enum poky_err
s3_create_multipart(struct aws_client *c, const char *bucket, const char *key,
		    const struct s3_put_opts *opts, char *upload_id,
		    struct poky_error *e)
{
	struct s3_call k;
	struct httpc_response resp;
	struct xml_doc doc;
	const char *id;
	enum poky_err rc;

	call_init(&k, c, "CreateMultipartUpload", "POST", bucket, key);
	httpc_response_init(&resp, S3_MAX_XML);
	if ((rc = call_query(&k, "uploads", NULL)) ||
	    (rc = call_object_headers(&k, opts))) {
		poky_error_set(e, rc, "S3 CreateMultipartUpload: request too large");
		goto out;
	}
	if ((rc = call_send(&k, &(struct aws_request){ 0 }, &resp, e)) ||
	    (rc = parse_result(&resp, &doc, "InitiateMultipartUploadResult", e)))
		goto out;
	id = xml_path_text(doc.root, "UploadId");
	if (id == NULL || *id == '\0' || strlen(id) >= S3_UPLOAD_ID_MAX)
		rc = poky_error_set(e, POKY_ERR_REMOTE,
		    "S3 CreateMultipartUpload: no usable UploadId");
	else
		strcpy(upload_id, id);
	xml_doc_free(&doc);
out:
	httpc_response_cleanup(&resp);
	call_cleanup(&k);
	return rc;
}

static enum poky_err
part_query(struct s3_call *k, int part, const char *upload_id)
{
	char num[16];
	enum poky_err rc;

	snprintf(num, sizeof(num), "%d", part);
	if ((rc = call_query(k, "partNumber", num)))
		return rc;
	return call_query(k, "uploadId", upload_id);
}

enum poky_err
s3_upload_part(struct aws_client *c, const char *bucket, const char *key,
	       const char *upload_id, int part, int64_t len,
	       size_t (*read)(void *ud, char *buf, size_t n),
	       int (*rewind)(void *ud), void *ud, struct s3_written *out,
	       struct poky_error *e)
{
	struct s3_call k;
	struct httpc_response resp;
	enum poky_err rc;

	call_init(&k, c, "UploadPart", "PUT", bucket, key);
	httpc_response_init(&resp, 64 * 1024);
	if ((rc = part_query(&k, part, upload_id))) {
		poky_error_set(e, rc, "S3 UploadPart: request too large");
		goto out;
	}
	rc = call_send(&k, &(struct aws_request){ .read = read, .rewind = rewind,
	    .read_ud = ud, .upload_len = len }, &resp, e);
	if (rc == POKY_OK)
		written(out, &resp);
out:
	httpc_response_cleanup(&resp);
	call_cleanup(&k);
	return rc;
}

enum poky_err
s3_upload_part_copy(struct aws_client *c, const char *src_bucket,
		    const char *src_key, const char *src_version,
		    const char *if_match, int64_t first, int64_t last,
		    const char *bucket, const char *key, const char *upload_id,
		    int part, char *etag_out, struct poky_error *e)
{
	struct s3_call k;
	struct httpc_response resp;
	char range[64];
	enum poky_err rc;

	call_init(&k, c, "UploadPartCopy", "PUT", bucket, key);
	httpc_response_init(&resp, S3_MAX_XML);
	snprintf(range, sizeof(range), "bytes=%" PRId64 "-%" PRId64, first, last);
	if ((rc = part_query(&k, part, upload_id)) ||
	    (rc = call_copy_source(&k, src_bucket, src_key, src_version)) ||
	    (rc = call_header(&k, "x-amz-copy-source-range", range)) ||
	    (if_match && (rc = call_header(&k, "x-amz-copy-source-if-match", if_match)))) {
		poky_error_set(e, rc, "S3 UploadPartCopy: request too large");
		goto out;
	}
	rc = send_copy(&k, "CopyPartResult", &resp, etag_out, e);
out:
	httpc_response_cleanup(&resp);
	call_cleanup(&k);
	return rc;
}

enum poky_err
s3_complete_multipart(struct aws_client *c, const char *bucket, const char *key,
		      const char *upload_id, const struct s3_part *parts,
		      size_t n, char *etag_out, struct poky_error *e)
{
	struct s3_call k;
	struct httpc_response resp;
	struct xml_doc doc;
	struct buf body;
	const char *et;
	enum poky_err rc;

	call_init(&k, c, "CompleteMultipartUpload", "POST", bucket, key);
	httpc_response_init(&resp, S3_MAX_XML);
	buf_init(&body, (size_t)S3_MAX_PARTS * 256 + 256);
	rc = buf_append_str(&body, "<CompleteMultipartUpload xmlns="
	    "\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (size_t i = 0; rc == POKY_OK && i < n; i++) {
		/* ETags are quoted hex: nothing in them needs XML escaping
		 * except the quotes, which S3 accepts raw. */
		rc = buf_printf(&body, "<Part><PartNumber>%d</PartNumber>"
		    "<ETag>%s</ETag></Part>", parts[i].number, parts[i].etag);
	}
	if (rc == POKY_OK)
		rc = buf_append_str(&body, "</CompleteMultipartUpload>");
	if (rc == POKY_OK)
		rc = call_query(&k, "uploadId", upload_id);
	if (rc != POKY_OK) {
		poky_error_set(e, rc, "S3 CompleteMultipartUpload: request too large");
		goto out;
	}
	for (int i = 0; i < BODY_ERROR_RETRIES; i++) {
		rc = call_send(&k, &(struct aws_request){ .body = body.data,
		    .body_len = body.len }, &resp, e);
		if (rc != POKY_OK)
			goto out;
		rc = parse_result(&resp, &doc, "CompleteMultipartUploadResult", e);
		if (rc == POKY_OK)
			break;
		if (rc != POKY_ERR_TRANSIENT)
			goto out;
	}
	if (rc != POKY_OK)
		goto out;
	et = xml_path_text(doc.root, "ETag");
	copy_etag(etag_out, et);
	xml_doc_free(&doc);
	/* radosgw answers an empty <ETag>; HEAD has the real one.  The
	 * upload is complete either way: a failed HEAD only leaves the ETag
	 * empty for the caller's own check, it does not undo the result. */
	if (etag_out != NULL && etag_out[0] == '\0') {
		struct s3_object o;

		s3_object_init(&o);
		if (s3_head_object(c, bucket, key, NULL, &o, NULL) == POKY_OK)
			copy_etag(etag_out, o.etag);
		s3_object_cleanup(&o);
	}
out:
	buf_free(&body);
	httpc_response_cleanup(&resp);
	call_cleanup(&k);
	return rc;
}

enum poky_err
s3_abort_multipart(struct aws_client *c, const char *bucket, const char *key,
		   const char *upload_id, struct poky_error *e)
{
	struct s3_call k;
	struct httpc_response resp;
	enum poky_err rc;

	call_init(&k, c, "AbortMultipartUpload", "DELETE", bucket, key);
	httpc_response_init(&resp, 64 * 1024);
	if ((rc = call_query(&k, "uploadId", upload_id)) == POKY_OK)
		rc = call_send(&k, &(struct aws_request){ 0 }, &resp, e);
	else
		poky_error_set(e, rc, "upload id too long");
	httpc_response_cleanup(&resp);
	call_cleanup(&k);
	return rc;
}

enum poky_err
s3_delete_object(struct aws_client *c, const char *bucket, const char *key,
		 const char *version_id, struct poky_error *e)
{
	struct s3_call k;
	struct httpc_response resp;
	enum poky_err rc = POKY_OK;

	call_init(&k, c, "DeleteObject", "DELETE", bucket, key);
	httpc_response_init(&resp, 64 * 1024);
	if (version_id && *version_id)
		rc = call_query(&k, "versionId", version_id);
	if (rc == POKY_OK)
		rc = call_send(&k, &(struct aws_request){ 0 }, &resp, e);
	else
		poky_error_set(e, rc, "version id too long");
	httpc_response_cleanup(&resp);
	call_cleanup(&k);
	return rc;
}

/* ---- listings ------------------------------------------------------------- */

/* One page of ListMultipartUploads; *more and the markers say where the
 * next page starts. */
static enum poky_err
uploads_page(struct aws_client *c, const char *bucket, const char *prefix,
	     char *key_marker, char *id_marker, size_t cap,
	     int (*fn)(void *ud, const struct s3_upload *up), void *ud,
	     bool *more, struct poky_error *e)
{
	struct s3_call k;
	struct httpc_response resp;
	struct xml_doc doc;
	const struct xml_node *n;
	const char *t, *nk, *ni;
	enum poky_err rc;
	int stop = 0;

	*more = false;
	call_init(&k, c, "ListMultipartUploads", "GET", bucket, NULL);
	httpc_response_init(&resp, S3_MAX_XML);
	rc = call_query(&k, "uploads", NULL);
	if (rc == POKY_OK && prefix != NULL)
		rc = call_query(&k, "prefix", prefix);
	if (rc == POKY_OK && key_marker[0] != '\0')
		rc = call_query(&k, "key-marker", key_marker);
	if (rc == POKY_OK && id_marker[0] != '\0')
		rc = call_query(&k, "upload-id-marker", id_marker);
	if (rc == POKY_OK)
		rc = call_send(&k, &(struct aws_request){ 0 }, &resp, e);
	if (rc == POKY_OK)
		rc = parse_result(&resp, &doc, "ListMultipartUploadsResult", e);
	httpc_response_cleanup(&resp);
	call_cleanup(&k);
	if (rc != POKY_OK)
		return rc;
	for (n = xml_child(doc.root, "Upload"); n && !stop; n = xml_next_named(n)) {
		struct s3_upload up = {
			.key = xml_path_text(n, "Key"),
			.upload_id = xml_path_text(n, "UploadId"),
			.initiated = xml_path_text(n, "Initiated"),
		};

		if (up.key != NULL && up.upload_id != NULL)
			stop = fn(ud, &up);
	}
	t = xml_path_text(doc.root, "IsTruncated");
	nk = xml_path_text(doc.root, "NextKeyMarker");
	ni = xml_path_text(doc.root, "NextUploadIdMarker");
	/* A truncated page must move the markers on, or we would loop. */
	if (!stop && t && strcmp(t, "true") == 0 && nk && *nk &&
	    strlen(nk) < cap && (ni == NULL || strlen(ni) < cap) &&
	    (strcmp(nk, key_marker) != 0 || (ni && strcmp(ni, id_marker) != 0))) {
		strcpy(key_marker, nk);
		strcpy(id_marker, ni ? ni : "");
		*more = true;
	}
	xml_doc_free(&doc);
	return POKY_OK;
}

enum poky_err
s3_list_multipart_uploads(struct aws_client *c, const char *bucket,
			  const char *prefix, size_t max_pages,
			  int (*fn)(void *ud, const struct s3_upload *up),
			  void *ud, struct poky_error *e)
{
	char key_marker[S3_KEY_MAX + 1] = "", id_marker[S3_UPLOAD_ID_MAX] = "";
	enum poky_err rc = POKY_OK;
	bool more = true;

	for (size_t page = 0; more && rc == POKY_OK; page++) {
		if (page == max_pages)
			return poky_error_set(e, POKY_ERR_LIMIT,
			    "more than %zu pages of multipart uploads", max_pages);
		rc = uploads_page(c, bucket, prefix, key_marker, id_marker,
		    S3_UPLOAD_ID_MAX, fn, ud, &more, e);
	}
	return rc;
}
