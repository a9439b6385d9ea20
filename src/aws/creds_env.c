/* creds_env.c - credentials from environment variables. */
#include "creds_internal.h"

enum poky_err
creds_env_get(const struct creds_ctx *ctx, void *ud, struct aws_creds *out,
	      struct poky_error *e)
{
	const char *akid = profile_env("AWS_ACCESS_KEY_ID");
	const char *secret = profile_env("AWS_SECRET_ACCESS_KEY");
	const char *token = profile_env("AWS_SESSION_TOKEN");
	const char *exp = profile_env("AWS_CREDENTIAL_EXPIRATION");
	time_t t = 0;

	(void)ud;
	/* A profile named in code beats keys in the environment, as with
	 * "aws --profile": the caller asked for that identity by name. */
	if (ctx != NULL && ctx->profile_from_config)
		return poky_error_set(e, POKY_ERR_NOTFOUND,
		    "skipped: profile \"%s\" chosen", ctx->profile);
	if (akid == NULL && secret == NULL)
		return poky_error_set(e, POKY_ERR_NOTFOUND,
		    "no AWS_ACCESS_KEY_ID");
	/* Half a key pair is a mistake to report, not a reason to go on and
	 * find some other identity. */
	if (akid == NULL)
		return poky_error_set(e, POKY_ERR_INVALID,
		    "AWS_SECRET_ACCESS_KEY set without AWS_ACCESS_KEY_ID");
	if (secret == NULL)
		return poky_error_set(e, POKY_ERR_INVALID,
		    "AWS_ACCESS_KEY_ID set without AWS_SECRET_ACCESS_KEY");
	if (token == NULL)
		token = profile_env("AWS_SECURITY_TOKEN");        /* the old name */
	if (exp != NULL && !creds_parse_time(exp, &t))
		return poky_error_set(e, POKY_ERR_INVALID,
		    "AWS_CREDENTIAL_EXPIRATION is not an ISO 8601 UTC time");
	return creds_set(out, "env", akid, secret, token, t, "environment", e);
}
