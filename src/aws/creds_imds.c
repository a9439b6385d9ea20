/* creds_imds.c - the EC2 instance role from the instance metadata service.
 *
 * IMDSv2 only: PUT /latest/api/token for a session token, then GET
 * /latest/meta-data/iam/security-credentials/ (the role name) and
 * /latest/meta-data/iam/security-credentials/<role> with it.  There is
 * deliberately no fallback to IMDSv1 (plain GETs without a token): v1 is what
 * SSRF bugs in other software turn into stolen instance credentials, and an
 * instance that requires v2 answers v1 with 401 anyway.
 *
 * Off EC2 nothing answers at 169.254.169.254, so timeouts are short and a
 * service that cannot be reached counts as "not configured". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "poky/awsreq.h"
#include "poky/crypto.h"
#include "poky/httpc.h"
#include "poky/log.h"
#include "poky/str.h"

#include "creds_internal.h"

#define IMDS_V4 "http://169.254.169.254"
#define IMDS_V6 "http://[fd00:ec2::254]"
#define IMDS_TOKEN_TTL "21600"          /* seconds: 6 hours, the maximum */
#define IMDS_DEFAULT_TIMEOUT_MS 1000
#define IMDS_MAX_BODY (64u << 10)
#define IMDS_TOKEN_MAX 4096
#define IMDS_ROLE_MAX 128
#define IMDS_CREDS_PATH "/latest/meta-data/iam/security-credentials/"

enum poky_err
creds_imds_endpoint(char *out, size_t cap, struct poky_error *e)
{
	const char *ep = profile_env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	const char *mode = profile_env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
	size_t n;

	if (ep != NULL) {
		if (strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0)
			return poky_error_set(e, POKY_ERR_INVALID,
			    "AWS_EC2_METADATA_SERVICE_ENDPOINT is not an http(s) URL");
		if (!str_copy(out, cap, ep))
			return poky_error_set(e, POKY_ERR_LIMIT,
			    "AWS_EC2_METADATA_SERVICE_ENDPOINT too long");
		for (n = strlen(out); n > 0 && out[n - 1] == '/'; n--)
			out[n - 1] = '\0';
		return POKY_OK;
	}
	if (mode == NULL || strcasecmp(mode, "IPv4") == 0)
		ep = IMDS_V4;
	else if (strcasecmp(mode, "IPv6") == 0)
		ep = IMDS_V6;
	else
		return poky_error_set(e, POKY_ERR_INVALID,
		    "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE must be IPv4 or IPv6");
	if (!str_copy(out, cap, ep))
		return poky_error_set(e, POKY_ERR_LIMIT, "IMDS endpoint too long");
	return POKY_OK;
}

static long
imds_timeout_ms(const struct creds_ctx *ctx)
{
	const char *v = profile_env("AWS_METADATA_SERVICE_TIMEOUT");
	char *end = NULL;
	double s;

	if (ctx != NULL && ctx->imds_timeout_ms > 0)
		return ctx->imds_timeout_ms;
	if (v == NULL)
		return IMDS_DEFAULT_TIMEOUT_MS;
	s = strtod(v, &end);
	if (end == v || *end != '\0' || !(s > 0 && s <= 3600)) {
		log_warnx("ignoring AWS_METADATA_SERVICE_TIMEOUT: want seconds, "
		    "0 < s <= 3600");
		return IMDS_DEFAULT_TIMEOUT_MS;
	}
	return (long)(s * 1000);
}

static int
imds_attempts(void)
{
	const char *v = profile_env("AWS_METADATA_SERVICE_NUM_ATTEMPTS");
	char *end = NULL;
	long n;

	if (v == NULL)
		return 1;
	n = strtol(v, &end, 10);
	if (end == v || *end != '\0' || n < 1 || n > 10)
		return 1;
	return (int)n;
}

struct imds {
	struct httpc *h;
	char base[AWS_URL_MAX];
	int attempts;
	struct httpc_response resp;
};

/* One exchange, tried again on connection failures and 5xx. */
static enum poky_err
imds_call(struct imds *m, const char *method, const char *path,
	  const struct hdr *hs, size_t nh, struct poky_error *e)
{
	char url[AWS_URL_MAX + 256];
	enum poky_err rc = POKY_OK;

	if ((size_t)snprintf(url, sizeof(url), "%s%s", m->base, path) >= sizeof(url))
		return poky_error_set(e, POKY_ERR_LIMIT, "IMDS URL too long");
	for (int i = 0; i < m->attempts; i++) {
		rc = httpc_perform(m->h, &(struct httpc_request){ .method = method,
		    .url = url, .headers = hs, .n_headers = nh }, &m->resp, e);
		if (rc == POKY_OK && m->resp.status < 500)
			break;
		if (rc == POKY_OK)
			rc = poky_error_set(e, POKY_ERR_TRANSIENT,
			    "IMDS answered HTTP %ld", m->resp.status);
	}
	return rc;
}

static void
imds_trim(struct buf *b)
{
	while (b->len > 0 && strchr(" \t\r\n", b->data[b->len - 1]) != NULL)
		b->data[--b->len] = '\0';
}

static bool
imds_role_ok(const char *r)
{
	size_t n = strlen(r);

	/* IAM role names: letters, digits and +=,.@_- */
	return n > 0 && n <= IMDS_ROLE_MAX &&
	    strspn(r, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789+=,.@_-") == n;
}

static enum poky_err
imds_session_token(struct imds *m, char *tok, size_t cap, struct poky_error *e)
{
	static const struct hdr ttl[] = {
		{ "X-aws-ec2-metadata-token-ttl-seconds", 36, IMDS_TOKEN_TTL, 5 },
	};
	enum poky_err rc;

	rc = imds_call(m, "PUT", "/latest/api/token", ttl, 1, e);
	if (rc == POKY_ERR_TRANSIENT || rc == POKY_ERR_INVALID) {
		/* Nothing listens: not on EC2 (or metadata is switched off). */
		char why[POKY_ERR_MSG_MAX];

		str_copy(why, sizeof(why), e != NULL ? e->message : "");
		return poky_error_set(e, POKY_ERR_NOTFOUND, "%.64s: %.80s",
		    m->base, why);
	}
	if (rc != POKY_OK)
		return rc;
	if (m->resp.status == 403)
		return poky_error_set(e, POKY_ERR_REMOTE, "IMDS refused a session "
		    "token (HTTP 403): instance metadata tags or hop limit?");
	if (m->resp.status != 200)
		return poky_error_set(e, POKY_ERR_REMOTE, "IMDS token request "
		    "answered HTTP %ld (IMDSv1 is never used)", m->resp.status);
	imds_trim(&m->resp.body);
	if (m->resp.body.len == 0 || m->resp.body.len >= cap ||
	    m->resp.body.len >= IMDS_TOKEN_MAX)
		return poky_error_set(e, POKY_ERR_INVALID,
		    "IMDS session token empty or too long");
	for (size_t i = 0; i < m->resp.body.len; i++)
		if ((unsigned char)m->resp.body.data[i] <= ' ' ||
		    (unsigned char)m->resp.body.data[i] >= 0x7f)
			return poky_error_set(e, POKY_ERR_INVALID,
			    "IMDS session token holds odd characters");
	memcpy(tok, m->resp.body.data, m->resp.body.len + 1);
	return POKY_OK;
}

enum poky_err
creds_imds_get(const struct creds_ctx *ctx, void *ud, struct aws_creds *out,
	       struct poky_error *e)
{
	const char *off = profile_env("AWS_EC2_METADATA_DISABLED");
	struct imds m;
	char token[IMDS_TOKEN_MAX], role[IMDS_ROLE_MAX + 1];
	char path[sizeof(IMDS_CREDS_PATH) + IMDS_ROLE_MAX];
	struct hdr th[1];
	json_error_t jerr;
	json_t *j = NULL;
	const char *code;
	enum poky_err rc;
	long timeout = imds_timeout_ms(ctx);

	(void)ud;
	memset(&m, 0, sizeof(m));
	token[0] = '\0';
	httpc_response_init(&m.resp, IMDS_MAX_BODY);
	if (off != NULL && strcasecmp(off, "true") == 0) {
		rc = poky_error_set(e, POKY_ERR_NOTFOUND,
		    "AWS_EC2_METADATA_DISABLED=true");
		goto out;
	}
	if ((rc = creds_imds_endpoint(m.base, sizeof(m.base), e)) != POKY_OK)
		goto out;
	m.attempts = imds_attempts();
	m.h = httpc_new(&(struct httpc_config){ .connect_timeout_ms = timeout,
	    .timeout_ms = 2 * timeout });
	if (m.h == NULL) {
		rc = poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = imds_session_token(&m, token, sizeof(token), e)) != POKY_OK)
		goto out;
	th[0] = (struct hdr){ "X-aws-ec2-metadata-token", 24, token, strlen(token) };

	if ((rc = imds_call(&m, "GET", IMDS_CREDS_PATH, th, 1, e)) != POKY_OK)
		goto out;
	if (m.resp.status == 404) {
		rc = poky_error_set(e, POKY_ERR_NOTFOUND,
		    "no IAM role attached to this instance");
		goto out;
	}
	if (m.resp.status != 200) {
		rc = poky_error_set(e, POKY_ERR_REMOTE,
		    "IMDS role list answered HTTP %ld", m.resp.status);
		goto out;
	}
	/* One role per instance profile; take the first line. */
	m.resp.body.len = strcspn(m.resp.body.data, "\r\n");
	m.resp.body.data[m.resp.body.len] = '\0';
	imds_trim(&m.resp.body);
	if (!imds_role_ok(m.resp.body.data)) {
		rc = poky_error_set(e, POKY_ERR_INVALID,
		    "IMDS gave no usable role name");
		goto out;
	}
	str_copy(role, sizeof(role), m.resp.body.data);
	snprintf(path, sizeof(path), "%s%s", IMDS_CREDS_PATH, role);

	if ((rc = imds_call(&m, "GET", path, th, 1, e)) != POKY_OK)
		goto out;
	if (m.resp.status != 200) {
		rc = poky_error_set(e, POKY_ERR_REMOTE,
		    "IMDS credentials of role %s answered HTTP %ld", role,
		    m.resp.status);
		goto out;
	}
	j = json_loadb(m.resp.body.data, m.resp.body.len, JSON_REJECT_DUPLICATES,
	    &jerr);
	if (!json_is_object(j)) {
		rc = poky_error_set(e, POKY_ERR_INVALID,
		    "IMDS credentials of role %s are not a JSON object", role);
		goto out;
	}
	code = json_string_value(json_object_get(j, "Code"));
	if (code != NULL && strcmp(code, "Success") != 0) {
		rc = poky_error_set(e, POKY_ERR_REMOTE,
		    "IMDS credentials of role %s: Code %.40s", role, code);
		goto out;
	}
	rc = creds_from_json(j, "imds", "Token", true, "IMDS", out, e);
	if (rc == POKY_OK)
		creds_set_source(out, "imds:%s", role);
out:
	json_decref(j);
	crypto_wipe(token, sizeof(token));
	if (m.resp.body.data != NULL)
		crypto_wipe(m.resp.body.data, m.resp.body.cap);
	httpc_response_cleanup(&m.resp);
	httpc_free(m.h);
	return rc;
}
