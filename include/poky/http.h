/* http.h - the HTTP server (libmicrohttpd): an internal polling thread with
 * epoll and a thread pool; every limit enforced before a handler runs. */
#ifndef POKY_HTTP_H
#define POKY_HTTP_H

#include "poky/err.h"

struct app;
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

#endif
