/* creds_internal.h - what the credentials providers share inside src/aws.
 *
 * One provider per file (creds_env.c, creds_webid.c, creds_profile.c,
 * creds_container.c, creds_imds.c, with creds_process.c for
 * credential_process); creds.c chains them and caches the answer.
 *
 * A provider answers one of three ways:
 *   POKY_OK             *out holds credentials (and out->source its name);
 *   POKY_ERR_NOTFOUND   it is not configured here; e->message says why in a
 *                       few words, and the chain goes on to the next one;
 *   anything else       it is configured but failed; the chain stops there,
 *                       so a broken setup never silently falls through to
 *                       some other identity (an instance role, say).
 * Messages name variables, files, profiles and roles, never a secret. */
#ifndef POKY_CREDS_INTERNAL_H
#define POKY_CREDS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "poky/buf.h"
#include "poky/creds.h"
#include "poky/err.h"
#include "poky/profile.h"

#define CREDS_PROFILE_MAX 128
#define CREDS_PROCESS_TIMEOUT_MS 60000
#define CREDS_PROCESS_MAX_OUTPUT (64u << 10)
#define CREDS_PROCESS_MAX_COMMAND 8192
#define CREDS_PROCESS_MAX_ARGS 1024
#define CREDS_TOKEN_FILE_MAX (64u << 10)
#define CREDS_RETRY_SECONDS 10  /* after a failed refresh, wait this long */

/* What one resolution knows; built by the chain for each pass. */
struct creds_ctx {
	char profile[CREDS_PROFILE_MAX]; /* the profile to read */
	bool profile_explicit;          /* named by config or AWS_PROFILE */
	bool profile_from_config;       /* named in code: env keys are skipped */
	struct aws_client *sts;         /* for AssumeRole*; may be NULL */
	long imds_timeout_ms;           /* 0: AWS_METADATA_SERVICE_TIMEOUT, 1 s */
	time_t now;
};

struct creds_provider {
	const char *name;               /* "env", "profile", ... */
	enum poky_err (*get)(const struct creds_ctx *ctx, void *ud,
			     struct aws_creds *out, struct poky_error *e);
	void *ud;
};

/* ---- creds.c: helpers every provider uses ------------------------------ */

/* Check and copy one set of credentials into *c (cleared first).  Keys and
 * token must be printable ASCII without blanks and fit their fields; what
 * says whose they are in an error ("credential_process"). */
enum poky_err creds_set(struct aws_creds *c, const char *source,
			const char *access_key_id, const char *secret,
			const char *token, time_t expiration, const char *what,
			struct poky_error *e);

/* Take AccessKeyId, SecretAccessKey, token_key (NULL: none) and Expiration
 * (required when need_expiration) from a JSON object, as the container and
 * instance endpoints and credential_process send them. */
enum poky_err creds_from_json(const json_t *obj, const char *source,
			      const char *token_key, bool need_expiration,
			      const char *what, struct aws_creds *out,
			      struct poky_error *e);

/* Name where credentials came from ("assume-role:dev"); cut to fit. */
void creds_set_source(struct aws_creds *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Put "prefix" (printf-style) before e->message, cutting its end to fit;
 * the rest of *e is kept. */
void creds_error_prefix(struct poky_error *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ISO 8601 UTC as AWS writes it ("...Z", also "+00:00"), into *t. */
bool creds_parse_time(const char *s, time_t *t);

/* Test hooks: a fixed clock and a chain of stand-in providers (the array
 * must outlive the chain).  Not for production code. */
void creds_chain_set_clock(struct creds_chain *ch, time_t (*now)(void *ud),
			   void *ud);
void creds_chain_set_providers(struct creds_chain *ch,
			       const struct creds_provider *p, size_t n);

/* ---- the providers ------------------------------------------------------ */

/* creds_env.c: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
 * (or the older AWS_SECURITY_TOKEN), AWS_CREDENTIAL_EXPIRATION. */
enum poky_err creds_env_get(const struct creds_ctx *ctx, void *ud,
			    struct aws_creds *out, struct poky_error *e);

/* creds_webid.c: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN
 * (+ AWS_ROLE_SESSION_NAME) through STS AssumeRoleWithWebIdentity. */
enum poky_err creds_webid_get(const struct creds_ctx *ctx, void *ud,
			      struct aws_creds *out, struct poky_error *e);

/* The same exchange for a profile's web_identity_token_file; session_name
 * NULL makes one up. */
enum poky_err creds_webid_assume(const struct creds_ctx *ctx,
				 const char *token_file, const char *role_arn,
				 const char *session_name, const char *source,
				 struct aws_creds *out, struct poky_error *e);

/* creds_profile.c: the shared credentials and config files. */
enum poky_err creds_profile_get(const struct creds_ctx *ctx, void *ud,
				struct aws_creds *out, struct poky_error *e);

/* creds_container.c: the ECS/EKS container credentials endpoint. */
enum poky_err creds_container_get(const struct creds_ctx *ctx, void *ud,
				  struct aws_creds *out, struct poky_error *e);

/* The URL to ask, from the environment: POKY_ERR_NOTFOUND when neither
 * variable is set, POKY_ERR_INVALID for a FULL_URI that is not allowed. */
enum poky_err creds_container_url(char *out, size_t cap, struct poky_error *e);

/* Whether AWS_CONTAINER_CREDENTIALS_FULL_URI may be this URL: https, or
 * http to loopback (127.0.0.0/8, ::1, or a name that resolves only to
 * those), 169.254.170.2, 169.254.170.23 or fd00:ec2::23. */
enum poky_err creds_container_url_check(const char *url, struct poky_error *e);

/* creds_imds.c: EC2 instance metadata, IMDSv2 only. */
enum poky_err creds_imds_get(const struct creds_ctx *ctx, void *ud,
			     struct aws_creds *out, struct poky_error *e);

/* The IMDS base URL (no trailing '/') from the environment. */
enum poky_err creds_imds_endpoint(char *out, size_t cap, struct poky_error *e);

/* ---- creds_sso.c: IAM Identity Center profiles --------------------------- */

struct creds_sso_profile {
	const char *profile;            /* for the source name and messages */
	const char *session;            /* sso_session name; NULL: legacy form */
	const char *start_url;          /* sso_start_url */
	const char *region;             /* sso_region */
	const char *account_id;         /* sso_account_id, 12 digits */
	const char *role_name;          /* sso_role_name */
};

/* Credentials for p from the AWS CLI's token cache and the SSO portal's
 * GetRoleCredentials.  POKY_ERR_AUTH when there is no valid token (the
 * message says to run "aws sso login"). */
enum poky_err creds_sso_get(const struct creds_sso_profile *p, time_t now,
			    struct aws_creds *out, struct poky_error *e);

/* The token cache file's name without ".json": the hex SHA-1 of the
 * sso_session name, or of the start URL for a legacy profile. */
void creds_sso_cache_key(const char *s, char out[41]);

/* The accessToken of a cache file, checked against its expiresAt (ISO
 * 8601, any offset) and now, into token (NUL-terminated). */
enum poky_err creds_sso_parse_token(const char *data, size_t n, time_t now,
				    struct buf *token, struct poky_error *e);

/* GetRoleCredentials' answer ({"roleCredentials": {accessKeyId,
 * secretAccessKey, sessionToken, expiration (ms)}}) into *out. */
enum poky_err creds_sso_parse_role(const char *data, size_t n,
				   const char *source, struct aws_creds *out,
				   struct poky_error *e);

/* ---- creds_process.c: credential_process -------------------------------- */

/* Split a command line like Python's shlex.split (POSIX mode, no comments):
 * blanks separate words, '...' is literal, "..." honours \" and \\, a
 * backslash outside quotes escapes the next character.  *argv is one
 * allocation, NULL-terminated; free() it. */
enum poky_err creds_shlex_split(const char *cmd, char ***argv, size_t *argc,
				struct poky_error *e);

/* Check credential_process output: a JSON object with Version 1,
 * AccessKeyId, SecretAccessKey, optional SessionToken and Expiration. */
enum poky_err creds_process_parse(const char *data, size_t n,
				  const char *source, struct aws_creds *out,
				  struct poky_error *e);

/* Run cmd without a shell, read at most CREDS_PROCESS_MAX_OUTPUT bytes of
 * its stdout (stderr goes to ours), kill it after timeout_ms, parse. */
enum poky_err creds_process_run(const char *cmd, long timeout_ms,
				const char *source, struct aws_creds *out,
				struct poky_error *e);

#endif
