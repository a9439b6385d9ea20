/* httpc.h - the one place Poky talks HTTP as a client (libcurl).
 *
 * A struct httpc wraps one curl easy handle, so connections are kept alive
 * between requests.  It is not thread-safe: use one per thread.  TLS peers
 * are always verified; proxies follow the usual http_proxy/https_proxy/
 * no_proxy variables. */
#ifndef POKY_HTTPC_H
#define POKY_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "poky/buf.h"
#include "poky/err.h"
#include "poky/hdr.h"

#define HTTPC_DEFAULT_MAX_BODY (8u << 20)
#define HTTPC_READ_ABORT ((size_t)-1)

struct httpc_config {
	long connect_timeout_ms;        /* 0: 3000 */
	long timeout_ms;                /* whole exchange; 0: 30000 */
	long stall_seconds;             /* a streamed body (read or write
					 * callback) moving no byte this long
					 * fails as a timeout; 0: never */
	const char *ca_file;            /* NULL: the system bundle */
	const char *unix_socket;        /* talk HTTP over this socket (Docker) */
};

struct httpc_request {
	const char *method;             /* "GET", "PUT", ... */
	const char *url;
	const struct hdr *headers;
	size_t n_headers;
	const void *body;               /* sent as is, with Content-Length */
	size_t body_len;
	/* Streaming upload instead of body: read() fills up to n bytes and
	 * returns the count, 0 at the end, HTTPC_READ_ABORT to give up.
	 * upload_len is the exact length (sent as Content-Length). */
	size_t (*read)(void *ud, char *buf, size_t n);
	void *read_ud;
	int64_t upload_len;
	/* Streaming download: 2xx bodies go to write() instead of the response
	 * buffer (error bodies are still buffered for parsing).  Non-zero from
	 * write() aborts the transfer. */
	int (*write)(void *ud, const char *p, size_t n);
	void *write_ud;
	long timeout_ms;                /* 0: the config's */
	int no_body;                    /* HEAD-like: don't expect a body */
	/* "host:port:addr[,addr]..." (IPv6 addresses in brackets): connect to
	 * these addresses for host:port instead of resolving it, and directly,
	 * never through a proxy, so the peer is the one the caller checked.
	 * NULL: resolve as usual. */
	const char *resolve;
};

struct httpc_response {
	long status;                    /* 0 if no response was received */
	struct buf body;                /* bounded by max_body */
	struct buf headers;             /* "name\0value\0"..., names lowercased */
	size_t n_headers;
};

struct httpc;

/* NULL on allocation failure.  cfg is copied. */
struct httpc *httpc_new(const struct httpc_config *cfg);
void httpc_free(struct httpc *h);

void httpc_response_init(struct httpc_response *r, size_t max_body);
void httpc_response_reset(struct httpc_response *r);
void httpc_response_cleanup(struct httpc_response *r);

/* The last value of a response header (name in lowercase), or NULL. */
const char *httpc_response_header(const struct httpc_response *r,
				  const char *lname);

/* Perform one exchange.  POKY_OK when any HTTP response arrived (check
 * resp->status); POKY_ERR_TRANSIENT (e->retryable, e->timeout set) when the
 * connection failed, reset or timed out; POKY_ERR_LIMIT when the buffered
 * body would pass its maximum; POKY_ERR_INVALID for a bad URL. */
enum poky_err httpc_perform(struct httpc *h, const struct httpc_request *req,
			    struct httpc_response *resp, struct poky_error *e);

#define HTTPC_SCHEME_MAX 32
#define HTTPC_HOST_MAX 256

/* A URL's scheme and host, as libcurl reads it (the parser that will
 * connect, so a check made on these judges what curl will reach). */
struct httpc_url {
	char scheme[HTTPC_SCHEME_MAX];  /* as written: compare without case */
	char host[HTTPC_HOST_MAX];      /* an IPv6 literal without its brackets */
	bool ip6;                       /* host was an IPv6 literal ("[...]") */
};

/* Split url into *out.  POKY_ERR_INVALID when it is not an absolute URL
 * with a host, or its scheme or host is longer than the fields above;
 * POKY_ERR_NOMEM. */
enum poky_err httpc_url_split(const char *url, struct httpc_url *out);

/* Process-wide libcurl setup; call once before threads start (idempotent). */
void httpc_global_init(void);
void httpc_global_cleanup(void);

#endif
