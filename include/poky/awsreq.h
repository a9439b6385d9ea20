/* awsreq.h - send signed requests to AWS with the SDKs' standard retries.
 *
 * One struct aws_client is shared by all threads: it holds the settings, the
 * credentials chain, the retry quota and the clock-skew correction; each
 * thread gets its own connection (kept alive) on first use.
 *
 * Retries (AWS "standard" mode): up to max_attempts attempts in all, with a
 * full-jitter delay of random(0,1) x min(2^(attempt-1) x base, 20 s), or the
 * server's x-amz-retry-after; a quota of 500 tokens, 5 per retry (10 after a
 * timeout), refunded on success; every attempt is signed afresh.  Retried:
 * connection errors and timeouts, HTTP 500/502/503/504 and 429, throttling
 * and transient error codes.  A clock-skew error (RequestTimeTooSkewed,
 * InvalidSignatureException "Signature expired", ...) with a Date header sets
 * the client's clock offset and retries. */
#ifndef POKY_AWSREQ_H
#define POKY_AWSREQ_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "poky/err.h"
#include "poky/hdr.h"
#include "poky/httpc.h"
#include "poky/sigv4.h"

#define AWS_URL_MAX 1024
#define AWS_REGION_MAX 64


struct aws_config {
	const char *region;             /* default when env and profile have none */
	const char *profile;            /* NULL: AWS_PROFILE or "default" */
	const char *endpoint_url;       /* like AWS_ENDPOINT_URL */
	const char *ecs_endpoint_url;   /* like AWS_ENDPOINT_URL_ECS */
	const char *s3_endpoint_url;
	const char *sts_endpoint_url;
	const char *logs_endpoint_url;  /* CloudWatch Logs */
	int max_attempts;               /* 0: AWS_MAX_ATTEMPTS, else 3 */
	long connect_timeout_ms;        /* 0: 3000 */
	long timeout_ms;                /* per attempt; 0: 30000 */
	long stall_seconds;             /* streamed bodies: see httpc_config */
	const char *ca_file;            /* NULL: AWS_CA_BUNDLE, else the system's */
	long retry_base_ms;             /* 0: POKY_RETRY_BASE_MS, else 1000 */
	int s3_addressing;              /* AWS_S3_ADDR_*; AUTO: POKY_S3_ADDRESSING_STYLE */
	int endpoints_over_env;         /* the endpoints above beat AWS_ENDPOINT_URL* */
	const char *app_name;           /* in the User-Agent: "pokyd"; NULL "poky" */
};

#define AWS_UA_MAX 256

/* The User-Agent and x-amz-user-agent values every AWS call sends, so
 * CloudTrail's userAgent finds pokyd and the worker:
 *   User-Agent: poky/VERSION (APP; OS ARCH)
 *   x-amz-user-agent: poky/VERSION ua/2.0 os/OS md/arch#ARCH app/APP
 * app NULL: "poky".  User-Agent is never signed (a proxy may rewrite it);
 * x-amz-user-agent is, like any x-amz- header. */
void aws_user_agent(const char *app, char *ua, size_t ua_cap, char *xua,
		    size_t xua_cap);

/* No wait between two attempts of one call is longer than this. */
#define AWS_MAX_BACKOFF_MS 20000L

enum aws_s3_addressing { AWS_S3_ADDR_AUTO, AWS_S3_ADDR_PATH, AWS_S3_ADDR_VIRTUAL };

struct aws_client;

#define CREDS_KEY_MAX 128
#define CREDS_TOKEN_MAX 4096

/* One set of credentials: what the client signs with. */
struct aws_creds {
	char access_key_id[CREDS_KEY_MAX];
	char secret_access_key[CREDS_KEY_MAX];
	char session_token[CREDS_TOKEN_MAX];   /* "" for long-term keys */
	time_t expiration;                     /* 0: does not expire */
	char source[48];                       /* provider name, for logs */
};

/* Where a client's credentials come from: its caller's choice (in practice
 * creds_client_new's provider chain, creds.h), so the client does not
 * depend on the providers, some of which call STS through a client. */
struct aws_creds_source {
	/* Copy valid credentials into *out; POKY_ERR_AUTH when none. */
	enum poky_err (*get)(void *ud, struct aws_creds *out,
			     struct poky_error *e);
	/* The service called them expired: fetch new ones next time. */
	void (*invalidate)(void *ud);
	/* Called by aws_client_free; NULL when the caller keeps ud. */
	void (*release)(void *ud);
	void *ud;
};

/* Resolve region (profile.h) and endpoints (environment first, then cfg).
 * The client has no credentials until aws_client_set_creds (requests that
 * need them fail with POKY_ERR_AUTH).  NULL with e set on a bad endpoint
 * URL or no memory. */
struct aws_client *aws_client_new(const struct aws_config *cfg,
				  struct poky_error *e);
void aws_client_free(struct aws_client *c);

/* Set the credentials source (copied) before the client is shared. */
void aws_client_set_creds(struct aws_client *c,
			  const struct aws_creds_source *src);

/* Credentials from the client's source, as a request would get them. */
enum poky_err aws_client_creds_get(struct aws_client *c, struct aws_creds *out,
				   struct poky_error *e);
void aws_client_creds_invalidate(struct aws_client *c);

const char *aws_client_region(const struct aws_client *c);

/* Base URL for a service ("https://ecs.us-east-1.amazonaws.com", no
 * trailing slash), after overrides. */
const char *aws_client_endpoint(const struct aws_client *c, const char *service);

/* True when the service's endpoint was set by the user (a custom endpoint:
 * S3 then uses path-style addressing). */
int aws_client_endpoint_custom(const struct aws_client *c, const char *service);

/* The S3 addressing style chosen for this client. */
int aws_client_s3_addressing(const struct aws_client *c);

/* What one aws_send did, for metrics.  outcome: "ok", "client_error" (4xx,
 * or the request could not be made: no credentials, bad input),
 * "server_error" (5xx), "throttled" (the last answer was throttling) or
 * "network" (no answer: connection failed, reset or timed out). */
struct aws_call_stats {
	const char *service;            /* "ecs", "s3", "sts" */
	const char *operation;          /* "RunTask"; the method when not named */
	const char *outcome;
	int attempts;                   /* requests sent, retries included */
	int throttles;                  /* attempts answered with throttling */
	double seconds;                 /* the whole call, retries and waits included */
};

typedef void (*aws_observer_fn)(void *ud, const struct aws_call_stats *s);

/* Call fn once at the end of every aws_send, from the sending thread.  Set
 * it before the client is shared: it is read without a lock.  fn NULL: none. */
void aws_client_set_observer(struct aws_client *c, aws_observer_fn fn, void *ud);

struct aws_request {
	const char *service;            /* "ecs", "s3", "sts" */
	const char *operation;          /* for logs: "RunTask" */
	const char *method;
	const char *path;               /* already encoded, starts with '/' */
	const char *query;              /* already encoded, no '?'; NULL for none */
	const char *host_prefix;        /* virtual-hosted S3: "bucket." */
	const struct hdr *headers;
	size_t n_headers;
	const void *body;
	size_t body_len;
	unsigned sign_flags;            /* SIGV4_S3, SIGV4_UNSIGNED_PAYLOAD */
	int unsigned_request;           /* send without a signature */
	const struct sigv4_creds *creds; /* these instead of the chain's */
	/* Streaming, as in httpc; a streamed upload is retried only when
	 * rewind is given (returns 0 when the stream is back at its start). */
	size_t (*read)(void *ud, char *buf, size_t n);
	int (*rewind)(void *ud);
	void *read_ud;
	int64_t upload_len;
	const char *payload_hash;       /* hex SHA-256 of a streamed body, or NULL */
	int (*write)(void *ud, const char *p, size_t n);
	void *write_ud;
	int no_body;                    /* HEAD */
	long timeout_ms;                /* 0: the client's */
	/* Give up at the first throttling answer instead of retrying it: a
	 * caller with a pacing queue of its own (pokyd's launch queue) slows
	 * down and retries, so throttled calls don't multiply. */
	int no_throttle_retry;
};

/* Send req, retrying as described above.  POKY_OK with resp->status 2xx;
 * otherwise POKY_ERR_REMOTE (the service said no: e->aws_code,
 * e->http_status, e->message, e->request_id), POKY_ERR_TRANSIENT (retries
 * exhausted on throttling, 5xx or the network; e->retryable), POKY_ERR_AUTH
 * (no credentials), POKY_ERR_INVALID/LIMIT/NOMEM.  resp holds the last
 * answer (its body is the error document on failure).  resp must have been
 * initialised with httpc_response_init. */
enum poky_err aws_send(struct aws_client *c, const struct aws_request *req,
		       struct httpc_response *resp, struct poky_error *e);

/* Fill e from an AWS error answer: JSON (__type with or without namespace,
 * message/Message), XML (<Error><Code>, STS <ErrorResponse>), or the
 * x-amzn-ErrorType header; sets e->retryable by the standard rules.
 * Returns POKY_ERR_REMOTE or POKY_ERR_TRANSIENT. */
enum poky_err aws_error_from_response(const struct httpc_response *resp,
				      struct poky_error *e);

/* Whether an error code is throttling / transient under the standard rules. */
int aws_error_is_throttling(const char *code);
int aws_error_is_clock_skew(const char *code);

/* Full-jitter backoff for attempt (1-based, the one that just failed), in
 * milliseconds, with r in [0,1). */
long aws_backoff_ms(int attempt, long base_ms, double r);

/* A number from the environment variable name within lo..hi; def when
 * unset or empty, and (with a warning) when it is not such a number. */
long aws_env_long(const char *name, long def, long lo, long hi);

#endif
