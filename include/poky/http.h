/* http.h - the HTTP server (libmicrohttpd): an internal polling thread with
 * epoll and a thread pool; every limit enforced before a handler runs.
 *
 * The second half is what http.c does with a request once MHD has parsed
 * it, without MHD types: on_request feeds MHD's values to it, and the
 * http_api fuzz target feeds its own parse of raw bytes. */
#ifndef POKY_HTTP_H
#define POKY_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "poky/buf.h"
#include "poky/err.h"
#include "poky/hdr.h"

struct api_req;
struct api_resp;
struct app;
struct auth_tokens;
struct http_server;

/* Listen on host:port (port 0 picks a free one: see http_port). */
struct http_server *http_start(struct app *app, const char *host,
			       unsigned port, int threads, long timeout,
			       int max_conns, struct poky_error *e);
unsigned http_port(const struct http_server *srv);

/* Stop accepting new connections (requests in flight go on). */
void http_quiesce(struct http_server *srv);

/* Finish requests in flight and stop. */
void http_stop(struct http_server *srv);

/* Where a connection is, for its deadline: sending its head (from accept,
 * or the end of the previous answer), its body, waiting on our handler, or
 * receiving our answer. */
enum http_phase { HTTP_PHASE_HEAD, HTTP_PHASE_BODY, HTTP_PHASE_BUSY,
	HTTP_PHASE_SEND };

/* Whether a connection age seconds into phase ph, with bytes (body bytes so
 * far, or the answer's size), is past its deadline: the head within grace
 * seconds in all; the body at rate bytes/s on average after the grace; the
 * answer within grace + bytes/rate. */
bool http_deadline_passed(enum http_phase ph, double age,
			  unsigned long long bytes, double grace, double rate);

/* Whether a Host header value names us: an IP literal we are bound to (any
 * when bound to 0.0.0.0 or ::), localhost when bound to loopback or any, or
 * one of names (case-insensitive); a port is ignored.  bound NULL or "":
 * unknown, any IP literal.  A DNS-rebinding page sends its own name. */
bool http_host_allowed(const char *host, const char *bound,
		       char *const *names, size_t n_names);

/* Whether a browser says the request comes from another site: a
 * Sec-Fetch-Site other than same-origin or none, or an Origin whose
 * host[:port] is not host (NULL headers: not said). */
bool http_cross_site(const char *origin, const char *sec_fetch_site,
		     const char *host);

/* The address the server is bound to, for http_host_allowed. */
void http_set_bound_host(const char *host);

/* ---- one request, without MHD ------------------------------------------- */

#define HTTP_MAX_URL 2048               /* bytes of the decoded path: 414 */
#define HTTP_MAX_QUERY (2 * HTTP_MAX_URL) /* of the re-encoded query: 414 */
#define HTTP_MAX_HEADERS 64             /* more: 431 */
#define HTTP_CLIENT_MAX 48              /* an IPv6 address as text, and more */
#define HTTP_REQID_MAX 64               /* a longer X-Request-Id is replaced */
/* A chunked body over max_body is read this much further for its 413 (MHD
 * takes no answer in the middle of a body), then the connection closes. */
#define HTTP_DISCARD_MAX (1u << 20)

struct http_job;

/* A request from its first header on.  The header names and values are
 * NUL-terminated and owned by whoever parsed them (MHD, the fuzz target). */
struct http_conn {
	struct buf body;                /* at most max_body bytes */
	bool too_large;                 /* body over max_body, declared or sent */
	size_t discarded;               /* body bytes read past max_body */
	double t0;                      /* monotonic seconds at the start */
	struct hdr headers[HTTP_MAX_HEADERS];
	size_t n_headers;
	bool too_many_headers;
	const char *bad_framing;        /* why the request is refused (400) */
	bool http10;                    /* an HTTP/1.0 request: Host optional */
	char reqid[HTTP_REQID_MAX + 1];
	char client[HTTP_CLIENT_MAX];   /* peer address for the access log, or "" */
	struct http_job *job;           /* handler running off the MHD threads */
	double wait_until;              /* a watch's deadline, once parked */
	char wait_etag[40];             /* the version it watches from */
	bool watching;                  /* counted in the watch registry */
	bool parked;                    /* suspended until a change or the deadline */
};

/* Start c (all zero) for a body of at most max_body bytes. */
void http_conn_init(struct http_conn *c, size_t max_body);
void http_conn_cleanup(struct http_conn *c);

/* One header as received: k_len/v_len bytes, so a NUL inside shows (v may
 * be NULL).  False when the head is full: stop adding. */
bool http_conn_header(struct http_conn *c, const char *k, size_t k_len,
		      const char *v, size_t v_len);

/* After the last header: the request id, the framing checks (request
 * smuggling shapes set bad_framing), a Content-Length over max_body. */
void http_conn_head_done(struct http_conn *c);

/* The query for a log line: each argument whose name looks like a secret
 * (token, secret, password, signature, credential, auth, session, api key)
 * has its value replaced by REDACTED; cut (with "...") to fit out. */
void http_log_query(char *out, size_t cap, const char *query);

/* Value of a header (case-insensitive name), or NULL. */
const char *http_conn_find(const struct http_conn *c, const char *name);

/* The next piece of the body; past max_body it sets too_large instead.
 * False once HTTP_DISCARD_MAX bytes past the limit were read: close. */
bool http_conn_upload(struct http_conn *c, const char *data, size_t n);

/* Append one decoded query argument (v NULL: no '='), re-encoded so that
 * api_query decodes it the same; fails past q's maximum. */
enum poky_err http_query_add(struct buf *q, const char *k, const char *v);

/* The name of the token an Authorization header carries ("Bearer TOKEN"),
 * or NULL (no header, another scheme, an unknown token). */
const char *http_token_name(const struct auth_tokens *tokens,
			    const char *authorization);

/* http_token_name, with the token's AUTH_* scopes in *scopes. */
const char *http_token_scoped(const struct auth_tokens *tokens,
			      const char *authorization, unsigned *scopes);

/* The answer to a complete request: the limits (414, 400, 431, 413), the
 * route (404, 405), the token (401), the query (414 when query_too_long),
 * the handler; then the access log line and metrics.  url is the decoded
 * path, query the re-encoded one (NULL: none).  r was api_resp_init'ed;
 * *req is what the handler got (pointing into c, url and query).  With
 * may_defer, a handler that would wait on the network sets r->defer and
 * nothing is logged: call again without may_defer, off the request
 * threads. */
void http_answer(struct app *app, const struct http_conn *c,
		 const char *method, const char *url, const char *query,
		 bool query_too_long, bool may_defer, struct api_req *req,
		 struct api_resp *r);

/* The body to send for r (malloc'd; r->text is taken over), *len its
 * length; NULL when there is none or JSON could not be made. */
char *http_resp_body(struct api_resp *r, size_t *len);

#endif
