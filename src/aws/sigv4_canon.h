/* sigv4_canon.h - what sigv4.c's stages use from sigv4_canon.c: the
 * canonical URI, query and headers, and the input checks.  Inside src/aws
 * only; the public API is poky/sigv4.h. */
#ifndef POKY_SIGV4_CANON_H
#define POKY_SIGV4_CANON_H

#include <stdbool.h>
#include <stddef.h>

#include "poky/buf.h"
#include "poky/err.h"
#include "poky/sigv4.h"

struct qparam {
	size_t name_off, name_len, value_off, value_len;
	const char *name, *value;   /* set once the store stops growing */
};

struct qlist {
	struct qparam *v;
	size_t n, cap;
	struct buf *store;          /* encoded names and values */
};

struct chdr {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
	size_t order;               /* keeps repeated headers in sent order */
};

/* Append the canonical URI of path[0..n) to cr.  S3 (SIGV4_S3 in flags):
 * the path as sent, its escapes kept; SIGV4_NO_NORMALIZE: encoded once;
 * other services: dot segments removed, then encoded again.  scratch is
 * working space. */
enum poky_err sigv4_canon_uri(struct buf *cr, struct buf *scratch,
			      const char *path, size_t n, unsigned flags);

/* Query parameters, kept encoded in q->store.  parse takes a raw query
 * string; add one parameter (raw: in wire form, decoded first); sort puts
 * them in canonical order and must run before write appends them as
 * "a=1&b=2".  tmp is working space. */
enum poky_err sigv4_qlist_parse(struct qlist *q, struct buf *tmp, const char *s,
				size_t n);
enum poky_err sigv4_qlist_add(struct qlist *q, struct buf *tmp, const char *name,
			      size_t nlen, const char *value, size_t vlen, bool raw);
void sigv4_qlist_sort(struct qlist *q);
enum poky_err sigv4_qlist_write(struct qlist *q, struct buf *out);

/* Sort h[0..n) and append the canonical header block to cr and the
 * ';'-separated list of names to signed_hdrs. */
enum poky_err sigv4_canon_headers(struct chdr *h, size_t n, struct buf *cr,
				  struct buf *signed_hdrs);

/* POKY_OK when req, pa and cr can be signed; else why, never quoting a
 * secret. */
enum poky_err sigv4_check_input(const struct sigv4_request *req,
				const struct sigv4_params *pa,
				const struct sigv4_creds *cr, struct poky_error *e);

#endif
