/* sts.c - STS AssumeRole and AssumeRoleWithWebIdentity (see sts.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "poky/awsreq.h"
#include "poky/buf.h"
#include "poky/crypto.h"
#include "poky/str.h"
#include "poky/sts.h"
#include "poky/xml.h"

#include "creds_internal.h"

#define STS_VERSION "2011-06-15"
#define STS_BODY_MAX (64u << 10)
#define STS_RESPONSE_MAX (256u << 10)
#define STS_ARN_MAX 2048

static const char form_type[] = "application/x-www-form-urlencoded; charset=utf-8";

/* Append "&name=value", value form-encoded (RFC 3986 unreserved kept). */
static enum poky_err
sts_param(struct buf *b, const char *name, const char *value)
{
	enum poky_err rc;

	if ((rc = buf_printf(b, "&%s=", name)) != POKY_OK)
		return rc;
	return str_uri_encode(b, value, strlen(value), false);
}

/* The text of parsed nodes may be a secret: wipe it before the tree goes. */
static void
sts_wipe(struct xml_node *n)
{
	for (; n != NULL; n = n->next) {
		if (n->text.data != NULL)
			crypto_wipe(n->text.data, n->text.cap);
		sts_wipe(n->first_child);
	}
}

enum poky_err
sts_parse_credentials(const char *xml, size_t n, const char *action,
		      struct aws_creds *out, struct poky_error *e)
{
	struct xml_doc doc = { NULL, 0 };
	const struct xml_node *c;
	const char *akid, *secret, *token, *exp;
	char root[64], result[80];
	time_t t = 0;
	enum poky_err rc;

	creds_clear(out);
	snprintf(root, sizeof(root), "%sResponse", action);
	snprintf(result, sizeof(result), "%sResult/Credentials", action);
	if ((rc = xml_parse(&doc, xml, n, e)) != POKY_OK)
		return rc;
	if (strcmp(xml_local_name(doc.root), root) != 0) {
		rc = poky_error_set(e, POKY_ERR_INVALID, "STS %s: answer is <%s>, "
		    "not <%s>", action, xml_local_name(doc.root), root);
		goto out;
	}
	c = xml_path(doc.root, result);
	akid = xml_path_text(c, "AccessKeyId");
	secret = xml_path_text(c, "SecretAccessKey");
	token = xml_path_text(c, "SessionToken");
	exp = xml_path_text(c, "Expiration");
	if (c == NULL || akid == NULL || secret == NULL || token == NULL ||
	    exp == NULL) {
		rc = poky_error_set(e, POKY_ERR_INVALID,
		    "STS %s: answer lacks %s/{AccessKeyId,SecretAccessKey,"
		    "SessionToken,Expiration}", action, result);
		goto out;
	}
	if (!str_time_parse(exp, &t)) {
		rc = poky_error_set(e, POKY_ERR_INVALID,
		    "STS %s: Expiration is not an ISO 8601 time", action);
		goto out;
	}
	snprintf(root, sizeof(root), "STS %s", action);
	rc = creds_set(out, "sts", akid, secret, token, t, root, e);
out:
	sts_wipe(doc.root);
	xml_doc_free(&doc);
	return rc;
}

static enum poky_err
sts_call(struct aws_client *c, const char *action, const struct aws_creds *src,
	 const struct sts_assume_role *p, struct aws_creds *out,
	 struct poky_error *e)
{
	struct httpc_response resp;
	struct buf body;
	struct sigv4_creds sc = { NULL, NULL, NULL };
	struct hdr h[1];
	char session[STS_SESSION_NAME_MAX + 1];
	enum poky_err rc;

	creds_clear(out);
	httpc_response_init(&resp, STS_RESPONSE_MAX);
	buf_init(&body, STS_BODY_MAX);
	if (c == NULL) {
		rc = poky_error_set(e, POKY_ERR_INVALID, "STS %s: no AWS client",
		    action);
		goto out;
	}
	if (p->role_arn == NULL || p->role_arn[0] == '\0' ||
	    strlen(p->role_arn) > STS_ARN_MAX) {
		rc = poky_error_set(e, POKY_ERR_INVALID, "STS %s: bad role ARN",
		    action);
		goto out;
	}
	if (p->session_name != NULL && p->session_name[0] != '\0') {
		if (!str_copy(session, sizeof(session), p->session_name)) {
			rc = poky_error_set(e, POKY_ERR_INVALID,
			    "STS %s: role session name longer than %d", action,
			    STS_SESSION_NAME_MAX);
			goto out;
		}
	} else {
		snprintf(session, sizeof(session), "poky-%lld",
		    (long long)time(NULL));
	}
	if ((rc = buf_printf(&body, "Action=%s&Version=%s", action,
	    STS_VERSION)) != POKY_OK ||
	    (rc = sts_param(&body, "RoleArn", p->role_arn)) != POKY_OK ||
	    (rc = sts_param(&body, "RoleSessionName", session)) != POKY_OK ||
	    (p->external_id != NULL && (rc = sts_param(&body, "ExternalId",
	    p->external_id)) != POKY_OK) ||
	    (p->duration_seconds > 0 && (rc = buf_printf(&body,
	    "&DurationSeconds=%d", p->duration_seconds)) != POKY_OK) ||
	    (p->web_identity_token != NULL && (rc = sts_param(&body,
	    "WebIdentityToken", p->web_identity_token)) != POKY_OK)) {
		rc = poky_error_set(e, rc, "STS %s: request too large", action);
		goto out;
	}
	h[0] = (struct hdr){ "Content-Type", 12, form_type, sizeof(form_type) - 1 };
	if (src != NULL) {
		sc.access_key_id = src->access_key_id;
		sc.secret_access_key = src->secret_access_key;
		sc.session_token = src->session_token;
	}
	struct aws_request req = {
		.service = "sts", .operation = action, .method = "POST",
		.path = "/", .headers = h, .n_headers = 1,
		.body = body.data, .body_len = body.len,
		.unsigned_request = src == NULL,
		.creds = src != NULL ? &sc : NULL,
	};
	if ((rc = aws_send(c, &req, &resp, e)) != POKY_OK) {
		/* Keep the service's word, and say what was asked. */
		if (e != NULL)
			creds_error_prefix(e, "STS %s %.100s: %s%s", action,
			    p->role_arn, e->aws_code, e->aws_code[0] ? ": " : "");
		goto out;
	}
	rc = sts_parse_credentials(resp.body.data, resp.body.len, action, out, e);
out:
	if (resp.body.data != NULL)
		crypto_wipe(resp.body.data, resp.body.cap);
	httpc_response_cleanup(&resp);
	buf_free_secure(&body);
	if (rc != POKY_OK)
		creds_clear(out);
	return rc;
}

enum poky_err
sts_assume_role(struct aws_client *c, const struct aws_creds *source,
		const struct sts_assume_role *p, struct aws_creds *out,
		struct poky_error *e)
{
	struct sts_assume_role q = *p;

	if (source == NULL)
		return poky_error_set(e, POKY_ERR_INVALID,
		    "STS AssumeRole: no source credentials");
	q.web_identity_token = NULL;
	return sts_call(c, "AssumeRole", source, &q, out, e);
}

enum poky_err
sts_assume_role_with_web_identity(struct aws_client *c,
				  const struct sts_assume_role *p,
				  struct aws_creds *out, struct poky_error *e)
{
	struct sts_assume_role q = *p;

	if (p->web_identity_token == NULL || p->web_identity_token[0] == '\0')
		return poky_error_set(e, POKY_ERR_INVALID,
		    "STS AssumeRoleWithWebIdentity: empty web identity token");
	if (strlen(p->web_identity_token) > STS_WEB_IDENTITY_TOKEN_MAX)
		return poky_error_set(e, POKY_ERR_LIMIT,
		    "STS AssumeRoleWithWebIdentity: web identity token longer "
		    "than %d", STS_WEB_IDENTITY_TOKEN_MAX);
	q.external_id = NULL;
	return sts_call(c, "AssumeRoleWithWebIdentity", NULL, &q, out, e);
}
