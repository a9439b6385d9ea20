/* err.c - error codes and their detail. */
#include <stdio.h>
#include <string.h>

#include "poky/err.h"

static const char *const err_names[POKY_ERR__COUNT] = {
	[POKY_OK] = "ok",
	[POKY_ERR_NOMEM] = "out of memory",
	[POKY_ERR_LIMIT] = "limit exceeded",
	[POKY_ERR_INVALID] = "invalid",
	[POKY_ERR_NOTFOUND] = "not found",
	[POKY_ERR_IO] = "i/o error",
	[POKY_ERR_CRYPTO] = "crypto error",
	[POKY_ERR_AUTH] = "auth error",
	[POKY_ERR_REMOTE] = "remote error",
	[POKY_ERR_TRANSIENT] = "transient error",
	[POKY_ERR_CONFLICT] = "conflict",
	[POKY_ERR_INTERNAL] = "internal error",
};

const char *
poky_err_name(enum poky_err code)
{
	if ((unsigned)code >= POKY_ERR__COUNT)
		return "unknown error";
	return err_names[code];
}

enum poky_err
poky_error_vset(struct poky_error *e, enum poky_err code, const char *fmt,
		va_list ap)
{
	if (e == NULL)
		return code;
	/* Start clean: a reused struct must not carry an old status or a
	 * stale retryable flag into a new error. */
	memset(e, 0, sizeof(*e));
	e->code = code;
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	return code;
}

enum poky_err
poky_error_set(struct poky_error *e, enum poky_err code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	poky_error_vset(e, code, fmt, ap);
	va_end(ap);
	return code;
}

void
poky_error_clear(struct poky_error *e)
{
	if (e != NULL)
		memset(e, 0, sizeof(*e));
}
