/* creds.h - AWS credentials, found the way every AWS SDK finds them.
 *
 * The chain tries, in order: environment variables; a web identity token
 * file (STS AssumeRoleWithWebIdentity); the shared credentials and config
 * files with profiles (static keys, role_arn + source_profile or
 * credential_source -> STS AssumeRole, credential_process); the container
 * credentials endpoint (ECS/EKS); EC2 IMDSv2.  The first provider that is
 * configured answers; one that is not configured is skipped; when none
 * answers, the error names every provider tried and why it was passed over.
 *
 * The chain caches what it found and refreshes temporary credentials before
 * they expire: from 15 minutes before, one thread refreshes while the others
 * keep using the cached credentials; from 10 minutes before (or when there
 * are none), callers wait for the refresh.  Thread-safe.
 *
 * Secrets live only in struct aws_creds, which is wiped by creds_clear; no
 * error message or log line ever holds one. */
#ifndef POKY_CREDS_H
#define POKY_CREDS_H

#include <stddef.h>
#include <time.h>

#include "poky/awsreq.h"
#include "poky/err.h"

/* How the rules above play out (src/aws/creds*.c):
 * - A provider that is configured but broken (half a key pair, a missing
 *   token file, a credential_process that fails, STS answering AccessDenied)
 *   stops the chain: it never falls through to some other identity.  A
 *   profile named by config or AWS_PROFILE must exist; "default" may not.
 * - A profile named in creds_chain_config (like "aws --profile") makes the
 *   chain skip the AWS_ACCESS_KEY_ID variables, as botocore does; one named
 *   by AWS_PROFILE does not.
 * - Within a profile: role_arn (with source_profile, credential_source or
 *   web_identity_token_file), then static keys, then credential_process.
 * - A refresh asks the provider that answered last.  When it fails and the
 *   cached credentials are still valid, they are kept (with a warning) and
 *   no new attempt is made for 10 seconds. */

#define CREDS_ADVISORY_REFRESH 900      /* seconds before expiry: try */
#define CREDS_MANDATORY_REFRESH 600     /* seconds before expiry: must */

/* Wipe every field (crypto_wipe; struct aws_creds is in awsreq.h: the client signs
 * with it). */
void creds_clear(struct aws_creds *c);

struct creds_chain;

struct creds_chain_config {
	const char *profile;            /* NULL or "": AWS_PROFILE, else "default" */
	struct aws_client *sts;         /* client used for STS calls */
	long imds_timeout_ms;           /* 0: 1000 */
};

/* NULL on allocation failure.  Reads nothing until the first creds_get. */
struct creds_chain *creds_chain_new(const struct creds_chain_config *cfg);
void creds_chain_free(struct creds_chain *ch);

/* Copy valid credentials into *out, resolving or refreshing as needed.
 * POKY_ERR_AUTH when no provider could give any (e->message lists them). */
enum poky_err creds_get(struct creds_chain *ch, struct aws_creds *out,
			struct poky_error *e);

/* Forget the cache, e.g. after the service rejected the credentials. */
void creds_invalidate(struct creds_chain *ch);

/* aws_client_new with a provider chain for cfg->profile as its credentials
 * source; the chain's STS calls go through the same client, and
 * aws_client_free frees the chain.  NULL with e set as aws_client_new. */
struct aws_client *creds_client_new(const struct aws_config *cfg,
				    struct poky_error *e);

#endif
