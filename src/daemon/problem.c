/* problem.c - the one registry of pokyd's error answers (see problem.h).
 *
 * Why a table: a status, a problem type and a title chosen by hand at each
 * error site drift apart (the same failure answered 502 here and 503
 * there).  Here each (reason, kind) is written once, and the golden cases
 * in test/data/problems/cases.json pin every row. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "poky/problem.h"
#include "poky/str.h"

#define T_VALIDATION "urn:poky:problem:validation"
#define T_JSON "urn:poky:problem:json"
#define T_MEDIA_TYPE "urn:poky:problem:media-type"
#define T_CONFLICT "urn:poky:problem:conflict"
#define T_UPSTREAM "urn:poky:problem:upstream"

#define ANY PROBLEM_ANY
#define HINT PROBLEM_RETRY_HINT

const char *const problem_types[] = { "about:blank", T_VALIDATION, T_JSON,
	T_MEDIA_TYPE, T_CONFLICT, T_UPSTREAM, NULL };

/* The first row of a reason that matches the kind wins: specific kinds
 * first, ANY last.  Upstream (urn:poky:problem:upstream) is what Poky could
 * not get from a service it depends on - or, in a submit, any 5xx: a
 * client retries those alike. */
const struct problem problem_rows[] = {
	/* reason                       kind                status type    title                          Retry-After */
	{ REASON_INTERNAL,              ANY,                500, NULL, "Internal error", 0 },
	{ REASON_URI_TOO_LONG,          ANY,                414, NULL, "URI too long", 0 },
	{ REASON_BAD_REQUEST,           ANY,                400, NULL, "Bad request", 0 },
	{ REASON_TOO_MANY_HEADERS,      ANY,                431, NULL, "Too many headers", 0 },
	{ REASON_BODY_TOO_LARGE,        ANY,                413, NULL, "Body too large", 0 },
	{ REASON_METHOD,                ANY,                405, NULL, "Method not allowed", 0 },
	{ REASON_NOT_FOUND,             ANY,                404, NULL, "Not found", 0 },
	{ REASON_UNAUTHORIZED,          ANY,                401, NULL, "Unauthorized", 0 },
	{ REASON_FORBIDDEN,             ANY,                403, NULL, "Forbidden", 0 },
	{ REASON_TOO_MANY_WATCHERS,     ANY,                503, NULL, "Too many watchers", 5 },
	{ REASON_NO_THREAD,             ANY,                503, NULL, "Service unavailable", 1 },
	{ REASON_ANSWERS_HELD,          ANY,                503, NULL, "Server busy", 1 },
	{ REASON_NOMEM,                 ANY,                503, NULL, "Out of memory", 5 },
	{ REASON_MEDIA_TYPE,            ANY,                415, T_MEDIA_TYPE, "Unsupported media type", 0 },
	{ REASON_JSON,                  ANY,                400, T_JSON, "Malformed JSON", 0 },
	{ REASON_INVALID_QUERY,         ANY,                400, T_VALIDATION, "Invalid query", 0 },
	{ REASON_INVALID_REQUEST,       ANY,                400, T_VALIDATION, "Invalid request", 0 },
	{ REASON_INVALID_PARAMETERS,    ANY,                400, T_VALIDATION, "Invalid parameters", 0 },
	/* The original Poky's title for a missing bucket or object. */
	{ REASON_INPUT_MISSING,         ANY,                400, T_VALIDATION, "Not found", 0 },
	{ REASON_IDEM_REUSED,           ANY,                409, T_CONFLICT, "Idempotency key reused", 0 },
	{ REASON_IDEM_IN_USE,           ANY,                409, T_CONFLICT, "Idempotency key in use", 0 },
	{ REASON_AWS_CLIENT,            ANY,                503, T_UPSTREAM, "AWS unavailable", HINT },
	/* S3 answered an error that says nothing of the bucket: not ours
	 * to retry; no answer at all: retry later. */
	{ REASON_S3_CHECK,              POKY_ERR_REMOTE,    502, T_UPSTREAM, "S3 check failed", 0 },
	{ REASON_S3_CHECK,              ANY,                503, T_UPSTREAM, "S3 unavailable", HINT },
	{ REASON_SUBMIT_INTERNAL,       ANY,                500, T_UPSTREAM, "Internal error", 0 },
	{ REASON_SUBMIT_NOMEM,          ANY,                503, T_UPSTREAM, "Out of memory", HINT },
	{ REASON_SUBMIT_STORE,          POKY_ERR_TRANSIENT, 503, T_UPSTREAM, "Task store unavailable", HINT },
	{ REASON_SUBMIT_STORE,          ANY,                500, T_UPSTREAM, "Task store unavailable", 0 },
	{ REASON_LAUNCH_QUEUE_FULL,     ANY,                503, T_UPSTREAM, "Launch queue full", HINT },
	{ REASON_LAUNCH,                POKY_ERR_TRANSIENT, 503, T_UPSTREAM, "Launcher unavailable", HINT },
	{ REASON_LAUNCH,                POKY_ERR_AUTH,      503, T_UPSTREAM, "AWS credentials unavailable", HINT },
	{ REASON_LAUNCH,                ANY,                502, T_UPSTREAM, "Task not started", 0 },
	{ REASON_LAUNCH_FAILED,         ANY,                502, T_UPSTREAM, "Task not started", 0 },
	{ REASON_LAUNCH_DOCKER,         POKY_ERR_TRANSIENT, 503, T_UPSTREAM, "Docker engine unavailable", HINT },
	{ REASON_LAUNCH_DOCKER,         ANY,                502, T_UPSTREAM, "Task not started", 0 },
	{ REASON_STORE,                 ANY,                503, NULL, "Task store unavailable", 5 },
	{ REASON_CANCEL,                POKY_ERR_CONFLICT,  409, T_CONFLICT, "Task already finished", 0 },
	{ REASON_CANCEL,                POKY_ERR_TRANSIENT, 503, T_UPSTREAM, "Cancel failed", HINT },
	{ REASON_CANCEL,                POKY_ERR_AUTH,      503, T_UPSTREAM, "Cancel failed", HINT },
	{ REASON_CANCEL,                ANY,                502, T_UPSTREAM, "Cancel failed", 0 },
	{ REASON_LOGS_CWL,              POKY_ERR_TRANSIENT, 503, T_UPSTREAM, "CloudWatch Logs unavailable", 5 },
	{ REASON_LOGS_CWL,              POKY_ERR_NOMEM,     503, T_UPSTREAM, "CloudWatch Logs unavailable", 5 },
	{ REASON_LOGS_CWL,              ANY,                502, T_UPSTREAM, "Logs not available", 0 },
	{ REASON_LOGS_DOCKER,           POKY_ERR_TRANSIENT, 503, T_UPSTREAM, "Docker engine unavailable", 5 },
	{ REASON_LOGS_DOCKER,           POKY_ERR_NOMEM,     503, T_UPSTREAM, "Docker engine unavailable", 5 },
	{ REASON_LOGS_DOCKER,           ANY,                502, T_UPSTREAM, "Logs not available", 0 },
	{ REASON_LOGS_UNKNOWN,          ANY,                404, NULL, "Logs not available", 0 },
	{ REASON_LOGS_UNSUPPORTED,      ANY,                501, NULL, "Logs not available", 0 },
	{ REASON_FOLLOW_UNSUPPORTED,    ANY,                501, NULL, "Follow not available", 0 },
	{ REASON_STREAMS_UNSUPPORTED,   ANY,                501, NULL, "Not available", 0 },
};

const size_t problem_n_rows = sizeof(problem_rows) / sizeof(problem_rows[0]);

static const char *const reason_names[REASON__COUNT] = {
	[REASON_INTERNAL] = "internal",
	[REASON_URI_TOO_LONG] = "uri_too_long",
	[REASON_BAD_REQUEST] = "bad_request",
	[REASON_TOO_MANY_HEADERS] = "too_many_headers",
	[REASON_BODY_TOO_LARGE] = "body_too_large",
	[REASON_METHOD] = "method",
	[REASON_NOT_FOUND] = "not_found",
	[REASON_UNAUTHORIZED] = "unauthorized",
	[REASON_FORBIDDEN] = "forbidden",
	[REASON_TOO_MANY_WATCHERS] = "too_many_watchers",
	[REASON_NO_THREAD] = "no_thread",
	[REASON_ANSWERS_HELD] = "answers_held",
	[REASON_NOMEM] = "nomem",
	[REASON_MEDIA_TYPE] = "media_type",
	[REASON_JSON] = "json",
	[REASON_INVALID_QUERY] = "invalid_query",
	[REASON_INVALID_REQUEST] = "invalid_request",
	[REASON_INVALID_PARAMETERS] = "invalid_parameters",
	[REASON_INPUT_MISSING] = "input_missing",
	[REASON_IDEM_REUSED] = "idem_reused",
	[REASON_IDEM_IN_USE] = "idem_in_use",
	[REASON_AWS_CLIENT] = "aws_client",
	[REASON_S3_CHECK] = "s3_check",
	[REASON_SUBMIT_INTERNAL] = "submit_internal",
	[REASON_SUBMIT_NOMEM] = "submit_nomem",
	[REASON_SUBMIT_STORE] = "submit_store",
	[REASON_LAUNCH_QUEUE_FULL] = "launch_queue_full",
	[REASON_LAUNCH] = "launch",
	[REASON_LAUNCH_FAILED] = "launch_failed",
	[REASON_LAUNCH_DOCKER] = "launch_docker",
	[REASON_STORE] = "store",
	[REASON_CANCEL] = "cancel",
	[REASON_LOGS_CWL] = "logs_cwl",
	[REASON_LOGS_DOCKER] = "logs_docker",
	[REASON_LOGS_UNKNOWN] = "logs_unknown",
	[REASON_LOGS_UNSUPPORTED] = "logs_unsupported",
	[REASON_FOLLOW_UNSUPPORTED] = "follow_unsupported",
	[REASON_STREAMS_UNSUPPORTED] = "streams_unsupported",
};

const char *
problem_reason_name(enum poky_reason reason)
{
	if ((int)reason < 0 || reason >= REASON__COUNT)
		return NULL;
	return reason_names[reason];
}

const struct problem *
problem_find(enum poky_reason reason, enum poky_err kind)
{
	for (size_t i = 0; i < problem_n_rows; i++) {
		const struct problem *p = &problem_rows[i];

		if (p->reason == reason && (p->kind == ANY || p->kind == (int)kind))
			return p;
	}
	return &problem_rows[0];
}

int
problem_retry_after(const struct problem *p, const struct poky_error *e)
{
	if (p->retry_after != HINT)
		return p->retry_after;
	return e != NULL && e->retry_after_ms > 0 ?
	    (e->retry_after_ms + 999) / 1000 : 5;
}

static void
answer(struct api_resp *r, const struct problem *p, const struct poky_error *e,
       const char *detail)
{
	int ra = problem_retry_after(p, e);

	json_decref(r->json);
	r->status = p->status;
	r->json = json_pack("{s:s, s:s, s:i, s:s}", "type",
	    p->type ? p->type : "about:blank", "title", p->title, "status",
	    p->status, "detail", detail);
	r->content_type = "application/problem+json";
	if (ra > 0)
		api_resp_header(r, "Retry-After", "%d", ra);
}

void
api_fail(struct api_resp *r, enum poky_reason why, const struct poky_error *e,
	 const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	/* Details quote request input (a path, a name): JSON needs UTF-8. */
	str_utf8_scrub(detail);
	answer(r, problem_find(why, e ? e->code : POKY_OK), e, detail);
}

void
api_fail_fields(struct api_resp *r, enum poky_reason why, json_t *errors)
{
	size_t n = json_array_size(errors);

	api_fail(r, why, NULL, "%zu field%s rejected", n, n == 1 ? "" : "s");
	json_object_set_new(r->json, "errors", errors ? errors : json_array());
}
