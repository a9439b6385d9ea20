/* creds_profile.c - credentials from the shared credentials and config
 * files (read through profile.c).
 *
 * Within a profile the first that applies answers:
 *   1. role_arn, with source_profile, credential_source (Environment,
 *      Ec2InstanceMetadata, EcsContainer) or web_identity_token_file;
 *   2. static keys: aws_access_key_id + aws_secret_access_key
 *      (+ aws_session_token);
 *   3. credential_process.
 * An SSO profile (sso_session, or the legacy sso_start_url) comes after
 * role_arn and before static keys, as in botocore's chain (creds_sso.c).
 * A source profile that has static keys uses them even when it also has a
 * role_arn (so "source_profile = itself" works), as botocore does. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poky/awsini.h"
#include "poky/log.h"
#include "poky/str.h"
#include "poky/sts.h"

#include "creds_internal.h"

#define PROFILE_MAX_DEPTH 8             /* source_profile hops */

struct resolve {
	const struct creds_ctx *ctx;
	const struct profile_files *f;
	const char *visited[PROFILE_MAX_DEPTH + 1];
	size_t depth;
};

static bool
profile_has_static(const struct profile *p)
{
	return profile_get(p, "aws_access_key_id") != NULL ||
	    profile_get(p, "aws_secret_access_key") != NULL;
}

/* Static keys come whole from one file: a key id from one file and a
 * secret from the other would be a pair nobody wrote. */
static enum poky_err
profile_static(const struct profile *p, struct aws_creds *out,
	       struct poky_error *e)
{
	const struct awsini *files[2] = { p->f->cred, p->f->conf };
	const char *secs[2] = { p->cred_sec, p->conf_sec };
	const char *paths[2] = { p->f->cred_path, p->f->conf_path };
	enum poky_err rc;

	for (int i = 0; i < 2; i++) {
		const char *akid = awsini_get(files[i], secs[i], "aws_access_key_id");
		const char *sk = awsini_get(files[i], secs[i], "aws_secret_access_key");
		const char *tok = awsini_get(files[i], secs[i], "aws_session_token");
		char what[96];

		if (akid != NULL && akid[0] == '\0')
			akid = NULL;
		if (sk != NULL && sk[0] == '\0')
			sk = NULL;
		if (akid == NULL && sk == NULL)
			continue;
		if (akid == NULL || sk == NULL)
			return poky_error_set(e, POKY_ERR_INVALID,
			    "profile \"%.64s\" in %.100s: %s without %s", p->name,
			    paths[i], akid ? "aws_access_key_id" :
			    "aws_secret_access_key", akid ? "aws_secret_access_key" :
			    "aws_access_key_id");
		if (tok == NULL || tok[0] == '\0')
			tok = awsini_get(files[i], secs[i], "aws_security_token");
		snprintf(what, sizeof(what), "profile \"%.64s\"", p->name);
		if ((rc = creds_set(out, "profile", akid, sk, tok, 0, what, e)) !=
		    POKY_OK)
			return rc;
		creds_set_source(out, "profile:%s", p->name);
		return POKY_OK;
	}
	return poky_error_set(e, POKY_ERR_NOTFOUND,
	    "profile \"%.64s\" has no keys", p->name);
}

static enum poky_err profile_resolve(struct resolve *r, const char *name,
				     bool as_source, struct aws_creds *out,
				     struct poky_error *e);

/* credential_source: where a role's source credentials come from instead
 * of a profile. */
static enum poky_err
profile_credential_source(const struct resolve *r, const char *name,
			  const char *src, struct aws_creds *out,
			  struct poky_error *e)
{
	struct creds_ctx ctx = *r->ctx;
	struct poky_error pe;
	enum poky_err rc;

	poky_error_clear(&pe);
	/* Asked for by name, so the environment counts even when a profile
	 * was chosen in code. */
	ctx.profile_from_config = false;
	if (strcmp(src, "Environment") == 0)
		rc = creds_env_get(&ctx, NULL, out, &pe);
	else if (strcmp(src, "Ec2InstanceMetadata") == 0)
		rc = creds_imds_get(&ctx, NULL, out, &pe);
	else if (strcmp(src, "EcsContainer") == 0)
		rc = creds_container_get(&ctx, NULL, out, &pe);
	else
		return poky_error_set(e, POKY_ERR_INVALID,
		    "profile \"%.64s\": credential_source \"%.32s\" is not "
		    "Environment, Ec2InstanceMetadata or EcsContainer", name, src);
	if (rc == POKY_OK)
		return POKY_OK;
	return poky_error_set(e, rc == POKY_ERR_NOTFOUND ? POKY_ERR_INVALID : rc,
	    "profile \"%.64s\": credential_source %s: %s", name, src, pe.message);
}

static enum poky_err
profile_int(const struct profile *p, const char *key, int lo, int hi, int *out,
	    struct poky_error *e)
{
	const char *v = profile_get(p, key);
	char *end = NULL;
	long x;

	*out = 0;
	if (v == NULL)
		return POKY_OK;
	x = strtol(v, &end, 10);
	if (end == v || *end != '\0' || x < lo || x > hi)
		return poky_error_set(e, POKY_ERR_INVALID,
		    "profile \"%.64s\": %s must be %d..%d", p->name, key, lo, hi);
	*out = (int)x;
	return POKY_OK;
}

static enum poky_err
profile_assume(struct resolve *r, const struct profile *p, const char *role_arn,
	       struct aws_creds *out, struct poky_error *e)
{
	const char *src_prof = profile_get(p, "source_profile");
	const char *cred_src = profile_get(p, "credential_source");
	const char *token_file = profile_get(p, "web_identity_token_file");
	const char *session = profile_get(p, "role_session_name");
	struct aws_creds src;
	int duration = 0;
	enum poky_err rc;

	memset(&src, 0, sizeof(src));
	if (src_prof != NULL && cred_src != NULL)
		return poky_error_set(e, POKY_ERR_INVALID, "profile \"%.64s\" has "
		    "both source_profile and credential_source", p->name);
	if (src_prof == NULL && cred_src == NULL) {
		if (token_file != NULL) {
			rc = creds_webid_assume(r->ctx, token_file, role_arn, session,
			    "web-identity", out, e);
			if (rc == POKY_OK)
				creds_set_source(out, "web-identity:%s", p->name);
			return rc;
		}
		return poky_error_set(e, POKY_ERR_INVALID, "profile \"%.64s\": "
		    "role_arn without source_profile, credential_source or "
		    "web_identity_token_file", p->name);
	}
	/* Nothing here can ask a person for a code. */
	if (profile_get(p, "mfa_serial") != NULL)
		return poky_error_set(e, POKY_ERR_INVALID, "profile \"%.64s\": "
		    "mfa_serial needs a code typed in, which poky cannot ask for",
		    p->name);
	if ((rc = profile_int(p, "duration_seconds", 900, 43200, &duration, e)))
		return rc;
	if (r->depth >= PROFILE_MAX_DEPTH)
		return poky_error_set(e, POKY_ERR_INVALID, "profile \"%.64s\": "
		    "more than %d source_profile hops", p->name, PROFILE_MAX_DEPTH);
	r->visited[r->depth++] = p->name;
	if (cred_src != NULL) {
		rc = profile_credential_source(r, p->name, cred_src, &src, e);
	} else if (strcmp(src_prof, p->name) == 0) {
		/* Itself: its own static keys assume its role. */
		rc = profile_static(p, &src, e);
		if (rc == POKY_ERR_NOTFOUND)
			rc = poky_error_set(e, POKY_ERR_INVALID, "profile \"%.64s\" "
			    "is its own source_profile but has no keys", p->name);
	} else {
		for (size_t i = 0; i < r->depth; i++) {
			if (strcmp(r->visited[i], src_prof) == 0) {
				rc = poky_error_set(e, POKY_ERR_INVALID,
				    "source_profile loop through \"%.64s\"", src_prof);
				goto out;
			}
		}
		rc = profile_resolve(r, src_prof, true, &src, e);
	}
	if (rc != POKY_OK)
		goto out;
	rc = sts_assume_role(r->ctx->sts, &src, &(struct sts_assume_role){
	    .role_arn = role_arn, .session_name = session,
	    .external_id = profile_get(p, "external_id"),
	    .duration_seconds = duration }, out, e);
	if (rc == POKY_OK)
		creds_set_source(out, "assume-role:%s", p->name);
out:
	creds_clear(&src);
	return rc;
}

/* An SSO profile: its sso_session's [sso-session NAME] section gives the
 * start URL and region (the profile's own keys, when set, must agree, as
 * botocore requires). */
static enum poky_err
profile_sso(struct resolve *r, const struct profile *p, struct aws_creds *out,
	    struct poky_error *e)
{
	const char *session = profile_get(p, "sso_session");
	struct creds_sso_profile sp = {
		.profile = p->name, .session = session,
		.start_url = profile_get(p, "sso_start_url"),
		.region = profile_get(p, "sso_region"),
		.account_id = profile_get(p, "sso_account_id"),
		.role_name = profile_get(p, "sso_role_name"),
	};

	if (session != NULL) {
		char sec[CREDS_PROFILE_MAX + 16];
		const char *url, *region;

		snprintf(sec, sizeof(sec), "sso-session %s", session);
		if (!awsini_has_section(r->f->conf, sec))
			return poky_error_set(e, POKY_ERR_INVALID, "profile "
			    "\"%.64s\": no [sso-session %.64s] in the config file",
			    p->name, session);
		url = awsini_get(r->f->conf, sec, "sso_start_url");
		region = awsini_get(r->f->conf, sec, "sso_region");
		if ((sp.start_url != NULL && url != NULL &&
		    strcmp(sp.start_url, url) != 0) || (sp.region != NULL &&
		    region != NULL && strcmp(sp.region, region) != 0))
			return poky_error_set(e, POKY_ERR_INVALID, "profile "
			    "\"%.64s\": sso_start_url or sso_region differs from "
			    "its sso-session's", p->name);
		sp.start_url = url != NULL && url[0] != '\0' ? url : sp.start_url;
		sp.region = region != NULL && region[0] != '\0' ? region : sp.region;
	}
	return creds_sso_get(&sp, r->ctx->now, out, e);
}

static enum poky_err
profile_resolve(struct resolve *r, const char *name, bool as_source,
		struct aws_creds *out, struct poky_error *e)
{
	struct profile p;
	const char *role_arn, *proc;
	bool has_static;
	enum poky_err rc;

	if (!profile_open(r->f, name, &p))
		return poky_error_set(e, as_source ? POKY_ERR_INVALID :
		    POKY_ERR_NOTFOUND, "%sprofile \"%.64s\" not found",
		    as_source ? "source " : "", name);
	role_arn = profile_get(&p, "role_arn");
	has_static = profile_has_static(&p);
	if (role_arn != NULL && !(as_source && has_static))
		return profile_assume(r, &p, role_arn, out, e);
	if (profile_get(&p, "sso_session") != NULL ||
	    profile_get(&p, "sso_start_url") != NULL)
		return profile_sso(r, &p, out, e);
	if (has_static)
		return profile_static(&p, out, e);
	if ((proc = profile_get(&p, "credential_process")) != NULL) {
		char source[64];

		snprintf(source, sizeof(source), "process:%s", name);
		rc = creds_process_run(proc, CREDS_PROCESS_TIMEOUT_MS, source, out, e);
		return rc;
	}
	return poky_error_set(e, as_source ? POKY_ERR_INVALID : POKY_ERR_NOTFOUND,
	    "profile \"%.64s\" has no credentials", name);
}

enum poky_err
creds_profile_get(const struct creds_ctx *ctx, void *ud, struct aws_creds *out,
		  struct poky_error *e)
{
	struct profile_files f;
	struct resolve r;
	struct profile p;
	struct poky_error pe;
	enum poky_err rc;

	(void)ud;
	poky_error_clear(&pe);
	if ((rc = profile_files_load(&f, true, e)) != POKY_OK)
		return rc;
	memset(&r, 0, sizeof(r));
	r.ctx = ctx;
	r.f = &f;
	if (!profile_open(&f, ctx->profile, &p)) {
		char a[PATH_MAX], b[PATH_MAX];

		/* A profile asked for by name must exist; "default" may not. */
		rc = poky_error_set(e, ctx->profile_explicit ? POKY_ERR_INVALID :
		    POKY_ERR_NOTFOUND, "no profile \"%.64s\" in %.80s, %.80s",
		    ctx->profile, profile_show(f.cred_path, a, sizeof(a)),
		    profile_show(f.conf_path, b, sizeof(b)));
		goto out;
	}
	rc = profile_resolve(&r, ctx->profile, false, out, &pe);
	if (rc != POKY_OK && rc != POKY_ERR_NOTFOUND &&
	    strstr(pe.message, "profile \"") == NULL)
		creds_error_prefix(&pe, "profile \"%.64s\": ", ctx->profile);
	if (e != NULL)
		*e = pe;
out:
	profile_files_free(&f);
	return rc;
}
