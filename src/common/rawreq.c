/* rawreq.c - parse one raw HTTP/1.1 request message (see rawreq.h). */
#include <stdlib.h>
#include <string.h>

#include "poky/rawreq.h"

/* RFC 9110 token characters, the only ones allowed in a method or a name. */
static int
is_tchar(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Find the end of the line starting at p: *eol = first byte of the line end
 * (CR of CRLF, or LF), return the start of the next line (msg end if none). */
static const char *
next_line(const char *p, const char *end, const char **eol)
{
	const char *lf = memchr(p, '\n', (size_t)(end - p));

	if (lf == NULL) {
		*eol = end;
		return end;
	}
	*eol = (lf > p && lf[-1] == '\r') ? lf - 1 : lf;
	return lf + 1;
}

static enum poky_err
parse_request_line(struct rawreq *r, const char *p, const char *eol,
		   struct poky_error *e)
{
	const char *sp1, *sp2;

	sp1 = memchr(p, ' ', (size_t)(eol - p));
	if (sp1 == NULL || sp1 == p)
		return poky_error_set(e, POKY_ERR_INVALID,
		    "line 1: expected 'METHOD TARGET HTTP/1.1'");
	for (const char *q = p; q < sp1; q++)
		if (!is_tchar((unsigned char)*q))
			return poky_error_set(e, POKY_ERR_INVALID,
			    "line 1: bad character in method");
	/* The target may contain spaces (the AWS suite has such cases), so
	 * the version is whatever follows the last space. */
	for (sp2 = eol - 1; sp2 > sp1 && *sp2 != ' '; sp2--)
		;
	if (sp2 <= sp1 + 1 || (size_t)(eol - sp2 - 1) < 5 ||
	    memcmp(sp2 + 1, "HTTP/", 5) != 0)
		return poky_error_set(e, POKY_ERR_INVALID,
		    "line 1: expected 'METHOD TARGET HTTP/1.1'");
	for (const char *q = sp1 + 1; q < sp2; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			return poky_error_set(e, POKY_ERR_INVALID,
			    "line 1: control character in target");
	r->method = p;
	r->method_len = (size_t)(sp1 - p);
	r->target = sp1 + 1;
	r->target_len = (size_t)(sp2 - sp1 - 1);
	r->version = sp2 + 1;
	r->version_len = (size_t)(eol - sp2 - 1);
	return POKY_OK;
}

enum poky_err
rawreq_parse(struct rawreq *r, const char *msg, size_t len,
	     struct poky_error *e)
{
	const char *p, *end = msg + len, *eol, *next;
	enum poky_err rc;
	unsigned lineno = 1;

	memset(r, 0, sizeof(*r));
	if (len == 0)
		return poky_error_set(e, POKY_ERR_INVALID, "empty request");
	next = next_line(msg, end, &eol);
	if (eol - msg > RAWREQ_MAX_LINE)
		return poky_error_set(e, POKY_ERR_LIMIT, "line 1: too long");
	if ((rc = parse_request_line(r, msg, eol, e)) != POKY_OK)
		return rc;

	r->headers = calloc(RAWREQ_MAX_HEADERS, sizeof(*r->headers));
	r->lines = calloc(RAWREQ_MAX_HEADERS, sizeof(*r->lines));
	if (r->headers == NULL || r->lines == NULL) {
		rc = poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
		goto fail;
	}
	for (p = next; p < end; p = next) {
		const char *colon;
		struct hdr *h;

		lineno++;
		next = next_line(p, end, &eol);
		if (eol - p > RAWREQ_MAX_LINE) {
			rc = poky_error_set(e, POKY_ERR_LIMIT, "line %u: too long",
			    lineno);
			goto fail;
		}
		if (eol == p) {                 /* the empty line: body follows */
			r->body = next;
			r->body_len = (size_t)(end - next);
			return POKY_OK;
		}
		if (*p == ' ' || *p == '\t') {  /* obs-fold continuation */
			if (r->n_headers == 0) {
				rc = poky_error_set(e, POKY_ERR_INVALID,
				    "line %u: continuation line before any header",
				    lineno);
				goto fail;
			}
			h = &r->headers[r->n_headers - 1];
			h->value_len = (size_t)(eol - h->value);
			r->lines[r->n_headers - 1].len =
			    (size_t)(eol - r->lines[r->n_headers - 1].p);
			continue;
		}
		colon = memchr(p, ':', (size_t)(eol - p));
		if (colon == NULL || colon == p) {
			rc = poky_error_set(e, POKY_ERR_INVALID,
			    "line %u: header without 'Name:'", lineno);
			goto fail;
		}
		for (const char *q = p; q < colon; q++) {
			if (!is_tchar((unsigned char)*q)) {
				rc = poky_error_set(e, POKY_ERR_INVALID,
				    "line %u: bad character in header name",
				    lineno);
				goto fail;
			}
		}
		if (r->n_headers == RAWREQ_MAX_HEADERS) {
			rc = poky_error_set(e, POKY_ERR_LIMIT,
			    "line %u: more than %d headers", lineno,
			    RAWREQ_MAX_HEADERS);
			goto fail;
		}
		h = &r->headers[r->n_headers];
		h->name = p;
		h->name_len = (size_t)(colon - p);
		h->value = colon + 1;
		h->value_len = (size_t)(eol - colon - 1);
		r->lines[r->n_headers].p = p;
		r->lines[r->n_headers].len = (size_t)(eol - p);
		r->n_headers++;
	}
	/* Input ended inside the header section: no body. */
	r->body = end;
	r->body_len = 0;
	return POKY_OK;
fail:
	rawreq_cleanup(r);
	return rc;
}

void
rawreq_cleanup(struct rawreq *r)
{
	free(r->headers);
	free(r->lines);
	memset(r, 0, sizeof(*r));
}
