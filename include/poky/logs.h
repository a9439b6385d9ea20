/* logs.h - CloudWatch Logs GetLogEvents (JSON 1.1 over awsreq), what Poky
 * needs to show an ECS task's output and read the worker's result line.
 *
 * Paging as AWS does it: a forward read starts at the head and follows
 * nextForwardToken; the end is reached when the token that comes back is
 * the one that was sent (a page may be empty before the end).  Every read
 * here is bounded in bytes and in pages. */
#ifndef POKY_LOGS_H
#define POKY_LOGS_H

#include <stddef.h>

#include <jansson.h>

#include "poky/err.h"

struct aws_client;

#define LOGS_TOKEN_MAX 1024
#define LOGS_MAX_PAGES 256              /* requests of one logs_read_stream */

struct logs_get_events {
	const char *group;              /* logGroupName */
	const char *stream;             /* logStreamName */
	const char *next_token;         /* NULL or "": the first page */
	int start_from_head;            /* 1: oldest first (forward reading) */
	int limit;                      /* events per page, 0: the service's */
};

/* Called for each event of a page, oldest first; non-zero stops. */
typedef int (*logs_event_fn)(void *ud, const char *msg, size_t len);

/* The request body; NULL with e set on bad input (no group or stream, a
 * limit outside 1..10000) or no memory. */
json_t *logs_get_events_body(const struct logs_get_events *in,
			     struct poky_error *e);

/* A 2xx answer: fn for each event's message (events without one are
 * skipped), next_forward set to nextForwardToken ("" if none; cut answers
 * give POKY_ERR_TRANSIENT).  body need not be NUL-terminated. */
enum poky_err logs_get_events_answer(const char *body, size_t n,
				     logs_event_fn fn, void *ud,
				     char *next_forward, size_t cap,
				     struct poky_error *e);

/* One page.  A stream or group that does not exist (yet) is
 * POKY_ERR_NOTFOUND. */
enum poky_err logs_get_events(struct aws_client *c,
			      const struct logs_get_events *in,
			      logs_event_fn fn, void *ud, char *next_forward,
			      size_t cap, struct poky_error *e);

/* The whole stream as text, one line per event (a newline added where the
 * message has none), keeping the last max bytes when it is longer (cut at
 * a line start).  *out is malloc'd and NUL-terminated. */
enum poky_err logs_read_stream(struct aws_client *c, const char *group,
			       const char *stream, size_t max, char **out,
			       size_t *len, struct poky_error *e);

/* The last `limit` events of the stream (newest page, startFromHead=false),
 * as logs_read_stream writes them, at most max bytes. */
enum poky_err logs_read_tail(struct aws_client *c, const char *group,
			     const char *stream, int limit, size_t max,
			     char **out, size_t *len, struct poky_error *e);

#endif
