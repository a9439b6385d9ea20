/* buf.c - growable byte buffers with a hard maximum. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poky/buf.h"

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void
buf_free(struct buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
buf_free_secure(struct buf *b)
{
	if (b == NULL)
		return;
	/* explicit_bzero, not crypto_wipe: buf is below crypto.c (which
	 * uses buf through str.c), and a layer never calls up. */
	if (b->data != NULL)
		explicit_bzero(b->data, b->cap);
	buf_free(b);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

enum poky_err
buf_reserve(struct buf *b, size_t n)
{
	size_t need, cap;
	char *p;

	if (n > b->max || b->len > b->max - n)
		return POKY_ERR_LIMIT;
	need = b->len + n + 1;          /* room for the NUL */
	if (need <= b->cap)
		return POKY_OK;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	/* Never allocate far past the maximum just because of doubling. */
	if (b->max < SIZE_MAX && cap > b->max + 1)
		cap = b->max + 1;
	p = realloc(b->data, cap);
	if (p == NULL)
		return POKY_ERR_NOMEM;
	b->data = p;
	b->cap = cap;
	return POKY_OK;
}

enum poky_err
buf_append(struct buf *b, const void *p, size_t n)
{
	enum poky_err rc;

	if ((rc = buf_reserve(b, n)) != POKY_OK)
		return rc;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return POKY_OK;
}

enum poky_err
buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

enum poky_err
buf_append_byte(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

enum poky_err
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	enum poky_err rc;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return POKY_ERR_INVALID;
	if ((rc = buf_reserve(b, (size_t)n)) != POKY_OK)
		return rc;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return POKY_OK;
}

enum poky_err
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	enum poky_err rc;

	va_start(ap, fmt);
	rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

char *
buf_take(struct buf *b)
{
	char *p;

	if (b->data == NULL)
		return calloc(1, 1);
	p = b->data;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}
