/* err.h - one error vocabulary for every layer of Poky.
 *
 * Functions return an enum poky_err (POKY_OK == 0) and, when the caller passes
 * a struct poky_error *, fill it with detail.  The detail never holds a secret:
 * callers put names and reasons in it, never credentials or tokens. */
#ifndef POKY_ERR_H
#define POKY_ERR_H

#include <stdarg.h>

enum poky_err {
	POKY_OK = 0,
	POKY_ERR_NOMEM,      /* allocation failed */
	POKY_ERR_LIMIT,      /* a bound on outside input was hit */
	POKY_ERR_INVALID,    /* malformed input or bad argument */
	POKY_ERR_NOTFOUND,   /* a named thing does not exist */
	POKY_ERR_IO,         /* a file or socket operation failed (errno kept) */
	POKY_ERR_CRYPTO,     /* OpenSSL refused an operation */
	POKY_ERR_AUTH,       /* credentials missing or rejected */
	POKY_ERR_REMOTE,     /* a remote service answered with an error */
	POKY_ERR_TRANSIENT,  /* worth retrying later: timeouts, throttling, 5xx */
	POKY_ERR_CONFLICT,   /* state does not allow the operation */
	POKY_ERR_INTERNAL,   /* a bug: an invariant did not hold */
	POKY_ERR__COUNT
};

#define POKY_ERR_MSG_MAX 256
#define POKY_ERR_NAME_MAX 64

struct poky_error {
	enum poky_err code;
	int http_status;                  /* remote HTTP status, 0 if none */
	int sys_errno;                    /* errno for POKY_ERR_IO, else 0 */
	int retryable;                    /* worth another attempt */
	int timeout;                      /* the failure was a timeout */
	int retry_after_ms;               /* server's hint, 0 if none */
	int maybe_processed;              /* some attempt may have been acted on
					     (no answer, or a 5xx) */
	char aws_code[POKY_ERR_NAME_MAX]; /* e.g. "ThrottlingException", "" if none */
	char request_id[POKY_ERR_NAME_MAX]; /* the service's request id, "" if none */
	char message[POKY_ERR_MSG_MAX];   /* human-readable, never a secret */
};

/* Short stable name of a code ("invalid", "limit exceeded", ...). Never NULL. */
const char *poky_err_name(enum poky_err code);

/* Reset *e, fill code and message (if e is not NULL) and return code, so
 * error paths are one line (set http_status etc. after this call):
 *   return poky_error_set(e, POKY_ERR_INVALID, "bad time '%s'", s); */
enum poky_err poky_error_set(struct poky_error *e, enum poky_err code,
			     const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

enum poky_err poky_error_vset(struct poky_error *e, enum poky_err code,
			      const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* Reset *e to POKY_OK with empty strings. NULL is a no-op. */
void poky_error_clear(struct poky_error *e);

#endif
