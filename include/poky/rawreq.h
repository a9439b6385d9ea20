/* rawreq.h - parse one raw HTTP/1.1 request message.
 *
 * The format is the one AWS's signing test suite uses (and what goes on the
 * wire): a request line whose target may hold any byte but CR/LF, header
 * lines "Name:value" that may repeat or be folded onto continuation lines,
 * an empty line, then the body.  LF and CRLF line ends are both accepted.
 * Used by poky-sign; kept separate from it so it can be fuzzed. */
#ifndef POKY_RAWREQ_H
#define POKY_RAWREQ_H

#include <stddef.h>

#include "poky/err.h"
#include "poky/hdr.h"

#define RAWREQ_MAX_HEADERS 256
#define RAWREQ_MAX_LINE 65536

struct rawreq_line {
	const char *p;  /* the header's raw text, continuation lines included, */
	size_t len;     /* without the final line end */
};

struct rawreq {
	const char *method;
	size_t method_len;
	const char *target;    /* path[?query] exactly as in the request line */
	size_t target_len;
	const char *version;   /* "HTTP/1.1" */
	size_t version_len;
	struct hdr *headers;   /* values span their folded lines, untrimmed */
	struct rawreq_line *lines; /* lines[i] is the raw text of headers[i] */
	size_t n_headers;
	const char *body;
	size_t body_len;
};

/* Parse msg[0..len).  The result points into msg, which must outlive it.
 * On error *r is left empty and e says which line is wrong. */
enum poky_err rawreq_parse(struct rawreq *r, const char *msg, size_t len,
			   struct poky_error *e);

/* Free the arrays rawreq_parse allocated.  A zeroed struct is fine. */
void rawreq_cleanup(struct rawreq *r);

#endif
