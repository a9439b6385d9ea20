/* creds_sso.c - IAM Identity Center (SSO) profiles.
 *
 * "aws sso login" leaves an access token in ~/.aws/sso/cache/<KEY>.json,
 * KEY being the hex SHA-1 of the [sso-session NAME]'s NAME, or of the
 * profile's sso_start_url for the legacy form (botocore's
 * SSOTokenProvider and utils.SSOTokenLoader).  We read that token (never
 * refresh it: "aws sso login" does) and exchange it at the SSO portal,
 * GetRoleCredentials:
 *   GET /federation/credentials?role_name=R&account_id=A
 *   x-amz-sso_bearer_token: TOKEN       (unsigned)
 * on https://portal.sso.REGION.amazonaws.com, or AWS_ENDPOINT_URL_SSO.
 * The answer's credentials expire; the chain refreshes them like any
 * other temporary credentials. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "poky/awsreq.h"
#include "poky/buf.h"
#include "poky/crypto.h"
#include "poky/httpc.h"
#include "poky/str.h"

#include "creds_internal.h"

#define SSO_CACHE_MAX (64u << 10)
#define SSO_MAX_BODY (64u << 10)
#define SSO_CONNECT_MS 3000
#define SSO_TIMEOUT_MS 10000

void
creds_sso_cache_key(const char *s, char out[41])
{
	if (crypto_sha1_hex(s, strlen(s), out) != POKY_OK)
		out[0] = '\0';
}

enum poky_err
creds_sso_parse_token(const char *data, size_t n, time_t now, struct buf *token,
		      struct poky_error *e)
{
	json_error_t jerr;
	json_t *j = json_loadb(data, n, 0, &jerr);
	const json_t *at, *exp;
	time_t t;
	enum poky_err rc = POKY_OK;

	if (j == NULL || !json_is_object(j)) {
		rc = poky_error_set(e, POKY_ERR_INVALID, "the SSO token cache is "
		    "not a JSON object");
		goto out;
	}
	at = json_object_get(j, "accessToken");
	exp = json_object_get(j, "expiresAt");
	if (!json_is_string(at) || json_string_length(at) == 0 ||
	    !json_is_string(exp)) {
		rc = poky_error_set(e, POKY_ERR_INVALID, "the SSO token cache "
		    "lacks accessToken or expiresAt");
		goto out;
	}
	if (!str_time_parse(json_string_value(exp), &t)) {
		rc = poky_error_set(e, POKY_ERR_INVALID, "the SSO token cache's "
		    "expiresAt is not an ISO 8601 time");
		goto out;
	}
	if (t <= now) {
		rc = poky_error_set(e, POKY_ERR_AUTH, "the SSO token has expired: "
		    "run \"aws sso login\"");
		goto out;
	}
	/* The token goes into a header: printable ASCII only. */
	for (const char *p = json_string_value(at); *p != '\0'; p++) {
		if (*p < 0x21 || *p > 0x7e) {
			rc = poky_error_set(e, POKY_ERR_INVALID, "the SSO token "
			    "has bytes a header cannot carry");
			goto out;
		}
	}
	buf_reset(token);
	if (buf_append(token, json_string_value(at), json_string_length(at)) !=
	    POKY_OK || buf_append_byte(token, '\0') != POKY_OK)
		rc = poky_error_set(e, POKY_ERR_LIMIT, "the SSO token is too long");
	else
		token->len--;
out:
	if (j != NULL) {
		/* Wipe the token's copy inside jansson before it is freed. */
		at = json_object_get(j, "accessToken");
		if (json_is_string(at))
			crypto_wipe((char *)json_string_value(at),
			    json_string_length(at));
		json_decref(j);
	}
	return rc;
}

enum poky_err
creds_sso_parse_role(const char *data, size_t n, const char *source,
		     struct aws_creds *out, struct poky_error *e)
{
	json_error_t jerr;
	json_t *j = json_loadb(data, n, 0, &jerr);
	const json_t *rc_, *ak, *sk, *tok, *exp;
	enum poky_err rc;

	rc_ = json_object_get(j, "roleCredentials");
	ak = json_object_get(rc_, "accessKeyId");
	sk = json_object_get(rc_, "secretAccessKey");
	tok = json_object_get(rc_, "sessionToken");
	exp = json_object_get(rc_, "expiration");
	if (j == NULL || !json_is_object(rc_) || !json_is_string(ak) ||
	    !json_is_string(sk) || !json_is_string(tok) ||
	    !json_is_integer(exp) || json_integer_value(exp) <= 0) {
		rc = poky_error_set(e, POKY_ERR_INVALID, "SSO GetRoleCredentials: "
		    "the answer lacks roleCredentials {accessKeyId, "
		    "secretAccessKey, sessionToken, expiration}");
	} else {
		/* expiration is in milliseconds since the epoch. */
		rc = creds_set(out, source, json_string_value(ak),
		    json_string_value(sk), json_string_value(tok),
		    (time_t)(json_integer_value(exp) / 1000),
		    "SSO GetRoleCredentials", e);
	}
	if (json_is_string(sk))
		crypto_wipe((char *)json_string_value(sk), json_string_length(sk));
	if (json_is_string(tok))
		crypto_wipe((char *)json_string_value(tok),
		    json_string_length(tok));
	json_decref(j);
	return rc;
}

/* Region names go into a host name: letters, digits and '-'. */
static bool
sso_region_ok(const char *r)
{
	size_t n = strlen(r);

	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)r[i]) && !isdigit((unsigned char)r[i]) &&
		    r[i] != '-')
			return false;
	return true;
}

static bool
account_ok(const char *a)
{
	size_t n = strlen(a);

	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)a[i]))
			return false;
	return n == 12;
}

/* The portal URL for GetRoleCredentials, into url. */
static enum poky_err
sso_url(const struct creds_sso_profile *p, struct buf *url, struct poky_error *e)
{
	const char *ep = profile_env("AWS_ENDPOINT_URL_SSO");
	enum poky_err rc;

	if (ep == NULL)
		ep = profile_env("AWS_ENDPOINT_URL");
	if (ep != NULL) {
		size_t n = strlen(ep);

		if (strncmp(ep, "https://", 8) != 0 && strncmp(ep, "http://", 7) != 0)
			return poky_error_set(e, POKY_ERR_INVALID, "AWS_ENDPOINT_URL_SSO "
			    "is not an http(s) URL");
		while (n > 0 && ep[n - 1] == '/')
			n--;
		rc = buf_printf(url, "%.*s", (int)n, ep);
	} else {
		rc = buf_printf(url, "https://portal.sso.%s.amazonaws.com", p->region);
	}
	if (rc == POKY_OK &&
	    (rc = buf_printf(url, "/federation/credentials?role_name=")) == POKY_OK &&
	    (rc = str_uri_encode(url, p->role_name, strlen(p->role_name), false)) ==
	    POKY_OK)
		rc = buf_printf(url, "&account_id=%s", p->account_id);
	if (rc != POKY_OK)
		return poky_error_set(e, POKY_ERR_LIMIT, "the SSO portal URL is too long");
	return POKY_OK;
}

enum poky_err
creds_sso_get(const struct creds_sso_profile *p, time_t now,
	      struct aws_creds *out, struct poky_error *e)
{
	char key[41], rel[96], path[PATH_MAX], source[96];
	char ua[AWS_UA_MAX], xua[AWS_UA_MAX];
	struct buf cache, token, url;
	struct httpc *h = NULL;
	struct httpc_response resp;
	struct hdr hs[4];
	enum poky_err rc;

	buf_init(&cache, SSO_CACHE_MAX);
	buf_init(&token, SSO_CACHE_MAX);
	buf_init(&url, AWS_URL_MAX);
	httpc_response_init(&resp, SSO_MAX_BODY);
	if (p->start_url == NULL || p->region == NULL || p->account_id == NULL ||
	    p->role_name == NULL) {
		rc = poky_error_set(e, POKY_ERR_INVALID, "an SSO profile needs "
		    "sso_start_url and sso_region (in the profile or its "
		    "[sso-session]), sso_account_id and sso_role_name");
		goto out;
	}
	if (!sso_region_ok(p->region) || !account_ok(p->account_id)) {
		rc = poky_error_set(e, POKY_ERR_INVALID, "sso_region must be a "
		    "region name and sso_account_id 12 digits");
		goto out;
	}
	creds_sso_cache_key(p->session != NULL ? p->session : p->start_url, key);
	snprintf(rel, sizeof(rel), "~/.aws/sso/cache/%s.json", key);
	if ((rc = profile_expand_home(rel, path, sizeof(path), e)) != POKY_OK)
		goto out;
	rc = profile_read_file(path, SSO_CACHE_MAX, &cache, e);
	if (rc == POKY_ERR_NOTFOUND) {
		rc = poky_error_set(e, POKY_ERR_AUTH, "no SSO token for %s \"%.80s\" "
		    "(%s): run \"aws sso login%s%.64s\"", p->session ? "sso-session" :
		    "start URL", p->session ? p->session : p->start_url, rel,
		    p->session ? " --sso-session " : "", p->session ? p->session : "");
		goto out;
	}
	if (rc != POKY_OK)
		goto out;
	if ((rc = creds_sso_parse_token(cache.data, cache.len, now, &token, e)))
		goto out;
	if ((rc = sso_url(p, &url, e)) != POKY_OK)
		goto out;
	aws_user_agent(NULL, ua, sizeof(ua), xua, sizeof(xua));
	hs[0] = (struct hdr){ "x-amz-sso_bearer_token", 22, token.data, token.len };
	hs[1] = (struct hdr){ "Accept", 6, "application/json", 16 };
	hs[2] = (struct hdr){ "User-Agent", 10, ua, strlen(ua) };
	hs[3] = (struct hdr){ "x-amz-user-agent", 16, xua, strlen(xua) };
	h = httpc_new(&(struct httpc_config){ .connect_timeout_ms = SSO_CONNECT_MS,
	    .timeout_ms = SSO_TIMEOUT_MS });
	if (h == NULL) {
		rc = poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = httpc_perform(h, &(struct httpc_request){ .method = "GET",
	    .url = url.data, .headers = hs, .n_headers = 4 }, &resp, e)) != POKY_OK)
		goto out;
	if (resp.status != 200) {
		rc = aws_error_from_response(&resp, e);
		creds_error_prefix(e, "SSO GetRoleCredentials (HTTP %ld): ",
		    resp.status);
		if (resp.status == 401 || resp.status == 403)
			rc = POKY_ERR_AUTH;
		goto out;
	}
	snprintf(source, sizeof(source), "sso:%.80s", p->profile);
	rc = creds_sso_parse_role(resp.body.data, resp.body.len, source, out, e);
out:
	if (resp.body.data != NULL)
		crypto_wipe(resp.body.data, resp.body.cap);
	httpc_response_cleanup(&resp);
	httpc_free(h);
	buf_free_secure(&cache);
	buf_free_secure(&token);
	buf_free(&url);
	return rc;
}
