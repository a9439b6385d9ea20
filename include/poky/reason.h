/* reason.h - why a request failed, in words every daemon layer shares.
 *
 * The domain (tasks.c) and the handlers name what failed with a reason and
 * an enum poky_err; they never choose an HTTP status.  The API's problem
 * registry (src/daemon/problem.c, include/poky/problem.h) turns the pair
 * into the answer: status, problem type, title, Retry-After.  A new reason
 * needs a row there, a case in test/data/problems/cases.json, and - for a
 * new problem type - a line in README's and openapi.json's lists. */
#ifndef POKY_REASON_H
#define POKY_REASON_H

enum poky_reason {
	REASON_INTERNAL = 0,            /* a bug, or a reason never set */
	/* the request itself (http.c, every handler) */
	REASON_URI_TOO_LONG,
	REASON_BAD_REQUEST,             /* framing, a console file's query */
	REASON_TOO_MANY_HEADERS,
	REASON_BODY_TOO_LARGE,
	REASON_METHOD,                  /* the path exists, not with this method */
	REASON_NOT_FOUND,               /* no route, task, template, file */
	REASON_UNAUTHORIZED,
	REASON_FORBIDDEN,
	REASON_TOO_MANY_WATCHERS,
	REASON_NO_THREAD,               /* no offload thread free */
	REASON_ANSWERS_HELD,            /* large answers' budget spent (http.c) */
	REASON_NOMEM,
	REASON_MEDIA_TYPE,
	REASON_JSON,
	REASON_INVALID_QUERY,           /* field errors on the query */
	REASON_INVALID_REQUEST,         /* field errors on the body */
	/* a submit (tasks_submit) */
	REASON_INVALID_PARAMETERS,      /* the template's parameter checks */
	REASON_INPUT_MISSING,           /* an s3= bucket/object or local folder */
	REASON_IDEM_REUSED,             /* same key, another request */
	REASON_IDEM_IN_USE,             /* same key, a request under way */
	REASON_AWS_CLIENT,              /* no AWS client could be made */
	REASON_S3_CHECK,                /* an existence check got no answer */
	REASON_SUBMIT_INTERNAL,         /* hashing, random numbers */
	REASON_SUBMIT_NOMEM,
	REASON_SUBMIT_STORE,            /* the record could not be stored/read */
	REASON_LAUNCH_QUEUE_FULL,
	REASON_LAUNCH,                  /* an ECS (or local) launch started nothing */
	REASON_LAUNCH_FAILED,           /* RunTask answered failures[] */
	REASON_LAUNCH_DOCKER,           /* the Docker engine started nothing */
	/* reads and cancels */
	REASON_STORE,                   /* the task store did not answer */
	REASON_CANCEL,                  /* tasks_cancel */
	REASON_LOGS_CWL,                /* CloudWatch Logs */
	REASON_LOGS_DOCKER,             /* the engine's log API */
	REASON_LOGS_UNKNOWN,            /* where an ECS task logs is unknown */
	REASON_LOGS_UNSUPPORTED,        /* a launcher without logs in Poky */
	REASON_FOLLOW_UNSUPPORTED,
	REASON_STREAMS_UNSUPPORTED,     /* no HTTP server to stream from */
	REASON__COUNT
};

#endif
