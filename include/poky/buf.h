/* buf.h - growable byte buffers with a hard maximum.
 *
 * The data is always NUL-terminated (the NUL is not counted in len), so a
 * buffer can be used as a C string when it holds text.  Every append checks
 * the maximum first: outside input can never grow a buffer without bound. */
#ifndef POKY_BUF_H
#define POKY_BUF_H

#include <stddef.h>
#include <stdarg.h>

#include "poky/err.h"

struct buf {
	char *data;    /* NULL until the first append; owned by the buffer */
	size_t len;    /* bytes used, not counting the terminating NUL */
	size_t cap;    /* bytes allocated */
	size_t max;    /* largest len allowed */
};

/* Start an empty buffer that may hold at most max bytes. Allocates nothing. */
void buf_init(struct buf *b, size_t max);

/* Free the data and reset to empty (max kept). NULL is a no-op. */
void buf_free(struct buf *b);

/* Forget the contents but keep the allocation, for reuse. */
void buf_reset(struct buf *b);

/* Make room for n more bytes. POKY_ERR_LIMIT past max, POKY_ERR_NOMEM. */
enum poky_err buf_reserve(struct buf *b, size_t n);

enum poky_err buf_append(struct buf *b, const void *p, size_t n);
enum poky_err buf_append_str(struct buf *b, const char *s);
enum poky_err buf_append_byte(struct buf *b, char c);
enum poky_err buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
enum poky_err buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Hand the data over to the caller (who frees it with free()); the buffer is
 * left empty.  Returns an empty allocated string for an empty buffer, NULL
 * only when out of memory. */
char *buf_take(struct buf *b);

/* Zero the contents (explicit_bzero) before freeing: for secrets. */
void buf_free_secure(struct buf *b);

#endif
