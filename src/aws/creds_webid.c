/* creds_webid.c - a web identity token file exchanged with STS
 * (AssumeRoleWithWebIdentity), as on EKS with IAM roles for service
 * accounts.  The file is read afresh on every refresh: the platform rotates
 * the token in place. */
#include <limits.h>
#include <string.h>

#include "poky/sts.h"

#include "creds_internal.h"

enum poky_err
creds_webid_assume(const struct creds_ctx *ctx, const char *token_file,
		   const char *role_arn, const char *session_name,
		   const char *source, struct aws_creds *out,
		   struct poky_error *e)
{
	struct buf tok;
	char path[PATH_MAX];
	char *s;
	size_t n;
	enum poky_err rc;

	buf_init(&tok, CREDS_TOKEN_FILE_MAX);
	if ((rc = profile_expand_home(token_file, path, sizeof(path), e)) != POKY_OK)
		goto out;
	if ((rc = profile_read_file(path, CREDS_TOKEN_FILE_MAX, &tok, e)) != POKY_OK) {
		/* Named but missing is a broken setup, not an absent one. */
		if (rc == POKY_ERR_NOTFOUND)
			rc = poky_error_set(e, POKY_ERR_IO,
			    "web identity token file %s does not exist", path);
		goto out;
	}
	/* A JWT holds no blanks; editors and echo add a final newline. */
	s = tok.data;
	n = tok.len;
	while (n > 0 && strchr(" \t\r\n", s[n - 1]) != NULL)
		s[--n] = '\0';
	while (n > 0 && strchr(" \t\r\n", s[0]) != NULL) {
		s++;
		n--;
	}
	if (n == 0) {
		rc = poky_error_set(e, POKY_ERR_INVALID,
		    "web identity token file %s is empty", path);
		goto out;
	}
	rc = sts_assume_role_with_web_identity(ctx->sts,
	    &(struct sts_assume_role){ .role_arn = role_arn,
	    .session_name = session_name, .web_identity_token = s }, out, e);
	if (rc == POKY_OK)
		creds_set_source(out, "%s", source);
out:
	buf_free_secure(&tok);
	return rc;
}

enum poky_err
creds_webid_get(const struct creds_ctx *ctx, void *ud, struct aws_creds *out,
		struct poky_error *e)
{
	const char *file = profile_env("AWS_WEB_IDENTITY_TOKEN_FILE");
	const char *arn = profile_env("AWS_ROLE_ARN");

	(void)ud;
	if (file == NULL)
		return poky_error_set(e, POKY_ERR_NOTFOUND,
		    "no AWS_WEB_IDENTITY_TOKEN_FILE");
	if (arn == NULL)
		return poky_error_set(e, POKY_ERR_INVALID,
		    "AWS_WEB_IDENTITY_TOKEN_FILE set without AWS_ROLE_ARN");
	return creds_webid_assume(ctx, file, arn,
	    profile_env("AWS_ROLE_SESSION_NAME"), "web-identity", out, e);
}
