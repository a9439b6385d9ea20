/* fuzz_xml.c - S3 and STS answers: xml_parse and the walks the AWS layer
 * makes over the tree, then the same bytes as an error answer.
 *
 * The walks are those of s3.c (ListObjectsV2 Contents/Key/Size/ETag,
 * ListMultipartUploads Upload, UploadId, ETag), sts.c (sts_parse_credentials
 * for both actions) and awsreq.c (aws_error_from_response with a few
 * statuses and headers).  Beyond "no crash": a parsed tree keeps its
 * bounds, and no error message quotes the secret key of the answer. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poky/awsreq.h"
#include "poky/creds.h"
#include "poky/httpc.h"
#include "poky/sts.h"
#include "poky/xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz_xml: check failed: %s (line %d)\n", #cond, \
	    __LINE__); abort(); } } while (0)

/* Depth and node count as the parser promised, and every text NUL-ended. */
static size_t
tree_check(const struct xml_node *x, size_t depth)
{
	size_t count = 0;

	for (; x != NULL; x = x->next) {
		CHECK(depth <= XML_MAX_DEPTH);
		CHECK(x->name != NULL && xml_local_name(x) != NULL);
		CHECK(x->text.len <= XML_MAX_TEXT);
		CHECK(x->text.data == NULL || x->text.data[x->text.len] == '\0');
		count += 1 + tree_check(x->first_child, depth + 1);
	}
	return count;
}

static void
walks(const struct xml_doc *doc)
{
	static const char *const paths[] = { "Code", "Message", "RequestId",
		"Error/Code", "Error/Message", "UploadId", "ETag", "IsTruncated",
		"NextContinuationToken", "Key", "Bucket", "a/b/c/d/e/f/g", "",
		"/", "//Code", NULL };
	const struct xml_node *x;
	volatile size_t sink = 0;

	CHECK(tree_check(doc->root, 1) == doc->n_nodes);
	for (int i = 0; paths[i] != NULL; i++) {
		const char *s = xml_path_text(doc->root, paths[i]);

		if (s != NULL)
			sink += strlen(s);
	}
	for (x = xml_child(doc->root, "Contents"); x != NULL; x = xml_next_named(x)) {
		const char *k = xml_path_text(x, "Key"), *sz = xml_path_text(x, "Size");
		const char *et = xml_path_text(x, "ETag");

		sink += (k ? strlen(k) : 0) + (sz ? (size_t)strtoll(sz, NULL, 10) : 0) +
		    (et ? strlen(et) : 0);
	}
	for (x = xml_child(doc->root, "Upload"); x != NULL; x = xml_next_named(x))
		sink++;
	(void)sink;
}

/* The secret of an STS answer, if it has one worth looking for. */
static const char *
secret_of(const struct xml_doc *doc)
{
	static const char *const paths[] = {
		"AssumeRoleResult/Credentials/SecretAccessKey",
		"AssumeRoleWithWebIdentityResult/Credentials/SecretAccessKey", NULL };

	for (int i = 0; paths[i] != NULL; i++) {
		const char *s = xml_path_text(doc->root, paths[i]);

		/* Short ones may be words the messages use anyway; the root's
		 * name is quoted on purpose ("answer is <X>"). */
		if (s != NULL && strlen(s) >= 12 &&
		    strstr(xml_local_name(doc->root), s) == NULL)
			return s;
	}
	return NULL;
}

static void
sts(const char *data, size_t n, const char *secret)
{
	static const char *const actions[] = { "AssumeRole",
		"AssumeRoleWithWebIdentity" };
	struct aws_creds c;
	struct poky_error e;

	for (int i = 0; i < 2; i++) {
		if (sts_parse_credentials(data, n, actions[i], &c, &e) == POKY_OK) {
			CHECK(c.access_key_id[0] != '\0' && c.secret_access_key[0] != '\0');
			CHECK(c.expiration > 0);
		} else {
			CHECK(secret == NULL || strstr(e.message, secret) == NULL);
		}
		creds_clear(&c);
	}
}

/* The answer's headers, as httpc stores them: "name\0value\0"... */
static void
add_header(struct httpc_response *r, const char *name, const char *value)
{
	CHECK(buf_append(&r->headers, name, strlen(name) + 1) == POKY_OK);
	CHECK(buf_append(&r->headers, value, strlen(value) + 1) == POKY_OK);
	r->n_headers++;
}

static void
errors(const char *data, size_t n)
{
	static const long statuses[] = { 200, 400, 503 };
	struct httpc_response r;
	struct poky_error e;
	enum poky_err rc;
	char head[80];
	size_t hn = n < sizeof(head) - 1 ? n : sizeof(head) - 1;

	/* A header value as curl hands it: no NUL, no line end. */
	memcpy(head, data, hn);
	head[hn] = '\0';
	head[strcspn(head, "\r\n")] = '\0';
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		httpc_response_init(&r, 1u << 20);
		r.status = statuses[i];
		CHECK(buf_append(&r.body, data, n) == POKY_OK);
		if (i % 2 == 1) {
			add_header(&r, "x-amzn-errortype", head);
			add_header(&r, "x-amz-request-id", head);
			add_header(&r, "x-amz-retry-after", head);
		}
		rc = aws_error_from_response(&r, &e);
		CHECK(rc == POKY_ERR_REMOTE || rc == POKY_ERR_TRANSIENT);
		CHECK(e.code == rc && e.http_status == (int)statuses[i]);
		CHECK(e.aws_code[0] != '\0');
		CHECK(e.retry_after_ms >= 0 && e.retry_after_ms <= 20000);
		httpc_response_cleanup(&r);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	const char *data = (const char *)d;
	struct xml_doc doc;
	struct poky_error e;
	const char *secret = NULL;
	char *keep = NULL;

	if (xml_parse(&doc, data, n, &e) == POKY_OK) {
		CHECK(doc.root != NULL && doc.n_nodes >= 1 && doc.n_nodes <= XML_MAX_NODES);
		walks(&doc);
		if ((secret = secret_of(&doc)) != NULL)
			secret = keep = strdup(secret);
		xml_doc_free(&doc);
	} else {
		CHECK(doc.root == NULL);
		CHECK(e.code == POKY_ERR_INVALID || e.code == POKY_ERR_LIMIT);
	}
	sts(data, n, secret);
	errors(data, n);
	free(keep);
	return 0;
}
