/* webhook.h - deliver task callbacks (a background thread).
 *
 * When a task with a callback_url ends, tasks_finish marks its callback
 * "pending"; this thread POSTs the task record (task_to_json, compact) to the
 * URL and keeps the delivery state in the record, so a restart resumes what
 * was pending.  At-least-once: a receiver deduplicates on the task id (in the
 * body and in Poky-Task-Id).
 *
 * Each attempt sends
 *   Content-Type: application/json
 *   User-Agent: poky/VERSION
 *   Poky-Task-Id: ID
 *   Poky-Signature: t=UNIX,v1=HEX
 * where HEX is the lowercase hex HMAC-SHA256 of "<t>.<raw body>" keyed with
 * [tracker] webhook_secret.  With no secret configured the header carries
 * t= only (no v1=): a receiver that expects a signature then refuses, rather
 * than trusting a value anyone could compute.
 *
 * A 2xx answer delivers ("delivered").  Anything else is retried after 1 s,
 * 2 s, 4 s ... (at most 5 min, minus up to 20 % jitter) until
 * webhook_max_seconds after the task finished, then the callback is
 * "failed".  A host name that does not resolve counts as a failed attempt.
 * Redirects are not followed; each attempt has 5 s; a 2xx body is read and
 * dropped, other bodies are kept up to 4 KiB.  Attempts are sequential, in
 * one thread: a receiver that hangs delays the others by up to 5 s each.
 *
 * SSRF: at every attempt the URL must still start with a webhook_allow
 * prefix, and every address its host resolves to must be public (see
 * webhook_addr_refused) unless a prefix names that host explicitly
 * ("http://10.0.0.5:8080/"); the connection is then pinned to the checked
 * addresses, so a second DNS answer can't point it elsewhere.  A refused
 * callback is "failed" at once, with the reason logged. */
#ifndef POKY_WEBHOOK_H
#define POKY_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "poky/err.h"

struct app;
struct webhook;

#define WEBHOOK_TIMEOUT_MS 5000
#define WEBHOOK_BACKOFF_MAX 300.0       /* seconds */
#define WEBHOOK_SIGNATURE_MAX 96        /* "t=...,v1=<64 hex>" and NUL */

/* Start the delivery thread; it first delivers whatever is due.  NULL on
 * failure.  webhook_free(NULL) is a no-op. */
struct webhook *webhook_new(struct app *app);
void webhook_free(struct webhook *w);

/* Look for due callbacks now (a task just finished).  NULL is a no-op. */
void webhook_kick(struct webhook *w);

/* The Poky-Signature value for body sent at time t, into out.  secret NULL
 * or "": "t=T" alone.  out holds a signature: the caller wipes it. */
enum poky_err webhook_signature(const char *secret, time_t t, const char *body,
				size_t body_len, char out[WEBHOOK_SIGNATURE_MAX]);

struct config;

/* url as its receiver reads it, into out: "%2e" in the path decoded, dot
 * segments removed.  NULL when done, else why not (an encoded slash or a
 * backslash in the path, too long for cap). */
const char *webhook_url_normalize(const char *url, char *out, size_t cap);

/* The checks that need no DNS lookup (length, scheme, a webhook_allow
 * prefix, a plain authority, no odd IPv4 spellings, no literal address or
 * localhost name that webhook_addr_refused refuses unless a prefix names
 * the host): NULL when url passes, else why (written into why).  Used at
 * submit, and again before every delivery, which also resolves the name. */
const char *webhook_url_refused(const struct config *cfg, const char *url,
				char *why, size_t why_cap);

/* Whether a webhook may not reach this address without a prefix naming its
 * host: family AF_INET (addr a struct in_addr) or AF_INET6 (struct
 * in6_addr).  Refused: unspecified, loopback, private (10/8, 172.16/12,
 * 192.168/16), shared (100.64/10), link-local (169.254/16, fe80::/10),
 * unique-local (fc00::/7), site-local (fec0::/10), IETF/benchmark/reserved
 * IPv4 blocks, multicast, broadcast, and IPv6 forms that embed a refused IPv4
 * address (IPv4-mapped, IPv4-compatible, NAT64 64:ff9b::/96, 6to4).  Any
 * other family is refused. */
bool webhook_addr_refused(int family, const void *addr);

/* The delay before the retry that follows attempt n (1-based), seconds:
 * min(2^(n-1), WEBHOOK_BACKOFF_MAX) x (1 - 0.2 r), r in [0,1). */
double webhook_backoff(int attempt, double r);

#endif
