/* sts.h - the two AWS STS calls the credentials chain needs.
 *
 * Both are Query-protocol POSTs ("Action=...&Version=2011-06-15&...") sent
 * with aws_send to the client's "sts" endpoint, with its retries.  AssumeRole
 * is signed with the source credentials given (never the client's chain,
 * which may be what is being resolved); AssumeRoleWithWebIdentity is sent
 * unsigned, as the web identity token is the proof. */
#ifndef POKY_STS_H
#define POKY_STS_H

#include <stddef.h>

#include "poky/creds.h"
#include "poky/err.h"

struct aws_client;

#define STS_SESSION_NAME_MAX 64
#define STS_WEB_IDENTITY_TOKEN_MAX 20000   /* STS's own limit */

struct sts_assume_role {
	const char *role_arn;
	const char *session_name;       /* NULL or "": "poky-<unix time>" */
	const char *external_id;        /* NULL: none */
	int duration_seconds;           /* 0: STS's default (1 hour) */
	const char *web_identity_token; /* AssumeRoleWithWebIdentity only */
};

/* AssumeRole with source as the caller.  On success *out holds the role's
 * temporary credentials (out->source left for the caller to name).
 * POKY_ERR_REMOTE/TRANSIENT as aws_send (e->aws_code: AccessDenied, ...),
 * POKY_ERR_INVALID for a malformed answer or argument. */
enum poky_err sts_assume_role(struct aws_client *c,
			      const struct aws_creds *source,
			      const struct sts_assume_role *p,
			      struct aws_creds *out, struct poky_error *e);

/* AssumeRoleWithWebIdentity (p->web_identity_token required). */
enum poky_err sts_assume_role_with_web_identity(struct aws_client *c,
						const struct sts_assume_role *p,
						struct aws_creds *out,
						struct poky_error *e);

/* Read the <Credentials> of an AssumeRole* answer (action "AssumeRole" or
 * "AssumeRoleWithWebIdentity") into *out. */
enum poky_err sts_parse_credentials(const char *xml, size_t n,
				    const char *action, struct aws_creds *out,
				    struct poky_error *e);

#endif
