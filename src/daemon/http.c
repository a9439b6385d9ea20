/* http.c - libmicrohttpd glue: the request path (MHD's callbacks,
 * http_answer) and the server's start and stop.
 *
 * Everything that comes from outside is bounded before any handler runs:
 * URL length, header count and size (MHD's per-connection memory limit),
 * body size (413), and how long a client may take (slow clients are
 * dropped: http_conn.c).  Handlers get a parsed struct api_req and never
 * see MHD.  What needs no MHD types (the head's checks, the query, the
 * answer) is exported in http.h; the MHD callbacks below only feed it.
 * The module's other parts are listed in http_internal.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http_internal.h"
#include "poky/auth.h"
#include "poky/clock.h"
#include "poky/log.h"
#include "poky/problem.h"
#include "poky/str.h"
#include "poky/watch.h"

#define CONN_MEMORY (64 * 1024)

/* How long a stop waits for requests in flight: a RunTask with its retries
 * fits; a client that never finishes its request does not hold us. */
#define DRAIN_MAX_MS 60000

static enum MHD_Result
collect_header(void *cls, enum MHD_ValueKind kind, const char *k, size_t k_len,
	       const char *v, size_t v_len)
{
	(void)kind;
	return http_conn_header(cls, k, k_len, v, v_len) ? MHD_YES : MHD_NO;
}

enum poky_err
http_query_add(struct buf *q, const char *k, const char *v)
{
	if ((q->len > 0 && buf_append_byte(q, '&') != POKY_OK) ||
	    str_uri_encode(q, k, strlen(k), false) != POKY_OK ||
	    (v != NULL && (buf_append_byte(q, '=') != POKY_OK ||
	     str_uri_encode(q, v, strlen(v), false) != POKY_OK)))
		return POKY_ERR_LIMIT;
	return POKY_OK;
}

/* The request's head, before any route: answered (true) when over a limit
 * or badly framed. */
static bool
head_refused(const struct http_conn *c, const char *url, struct api_resp *r)
{
	if (strlen(url) > HTTP_MAX_URL) {
		api_fail(r, REASON_URI_TOO_LONG, NULL, "at most %d bytes",
		    HTTP_MAX_URL);
		return true;
	}
	if (c->bad_framing != NULL) {
		api_fail(r, REASON_BAD_REQUEST, NULL, "%s", c->bad_framing);
		return true;
	}
	if (c->too_many_headers) {
		api_fail(r, REASON_TOO_MANY_HEADERS, NULL, "at most %d",
		    HTTP_MAX_HEADERS);
		return true;
	}
	if (c->too_large) {
		api_fail(r, REASON_BODY_TOO_LARGE, NULL,
		    "the body exceeds max_body_bytes (%zu)", c->body.max);
		return true;
	}
	return false;
}

/* The route, once the caller may use it (token, Host and Origin, scopes,
 * the large-answers budget); NULL when r holds the refusal. */
static const struct api_route *
route_admitted(struct app *app, const struct http_conn *c, const char *method,
	       const char *url, struct api_req *req, struct api_resp *r)
{
	const struct api_route *rt;
	char allow[128];
	bool known, auth_ok;

	rt = api_match(method, url, req->arg, sizeof(req->arg), &known, allow,
	    sizeof(allow));
	if (rt == NULL) {
		if (known) {
			api_fail(r, REASON_METHOD, NULL,
			    "%s is not allowed here", method);
			api_resp_header(r, "Allow", "%s", allow);
		} else {
			api_fail(r, REASON_NOT_FOUND, NULL, "no route for %.200s", url);
		}
		return NULL;
	}
	req->route = rt->pattern;
	req->token_name = http_authenticate(app, c, rt->open, &auth_ok, &req->scopes);
	if (!auth_ok) {
		api_fail(r, REASON_UNAUTHORIZED, NULL,
		    "send Authorization: Bearer TOKEN");
		api_resp_header(r, "WWW-Authenticate", "Bearer realm=\"poky\"");
		return NULL;
	}
	{
		const char *why = http_browser_refusal(app, c, rt,
		    req->token_name == NULL && req->scopes == AUTH_ALL);

		if (why != NULL) {
			api_fail(r, REASON_FORBIDDEN, NULL, "%s", why);
			return NULL;
		}
	}
	if (rt->scope != 0 && !rt->open && (req->scopes & rt->scope) == 0) {
		api_fail(r, REASON_FORBIDDEN, NULL,
		    "this token's scopes do not cover %s %s", method, rt->pattern);
		return NULL;
	}
	if (rt->large && http_held_full()) {
		http_answer_busy(r);
		return NULL;
	}
	return rt;
}

void
http_answer(struct app *app, const struct http_conn *c, const char *method,
	    const char *url, const char *query, bool query_too_long,
	    bool may_defer, struct api_req *req, struct api_resp *r)
{
	const struct api_route *rt;

	memset(req, 0, sizeof(*req));
	req->method = method;
	req->request_id = c->reqid;
	req->route = "unmatched";
	if (head_refused(c, url, r) ||
	    (rt = route_admitted(app, c, method, url, req, r)) == NULL)
		goto log;
	req->path = url;
	req->headers = c->headers;
	req->n_headers = c->n_headers;
	req->body = c->body.data;
	req->body_len = c->body.len;
	if (query_too_long) {
		api_fail(r, REASON_URI_TOO_LONG, NULL,
		    "the query is over %d bytes", HTTP_MAX_QUERY);
		goto log;
	}
	req->query = query;
	req->may_defer = may_defer;
	/* Watches park only where a connection can be suspended: on an MHD
	 * thread (may_defer) and with a registry to wake them. */
	req->may_wait = may_defer && app->watch != NULL;
	req->wait_until = c->wait_until;
	req->wait_etag = c->wait_etag;
	log_set_request_id(c->reqid);
	rt->handler(app, req, r);
	log_set_request_id(NULL);
	if (r->defer && may_defer)
		return;
	if (r->wait && req->may_wait)
		return;
	r->defer = false;
	r->wait = false;
	if (r->status == 0)
		api_fail(r, REASON_INTERNAL, NULL, "handler gave no answer");
log:
	/* Serialise the body now (http_send_resp sends r->text) so the log has its
	 * exact size; r->json stays for callers that read the answer. */
	if (r->json != NULL && r->text == NULL) {
		r->text = json_dumps(r->json, JSON_COMPACT | JSON_ENSURE_ASCII |
		    JSON_ENCODE_ANY);
		r->text_len = r->text != NULL ? strlen(r->text) : 0;
	}
	http_access_log(app, c, method, url, query, req->route, r->status,
	    strcmp(method, "HEAD") == 0 ? 0 : r->text_len, req->token_name);
}

/* The query string, rebuilt from MHD's decoded arguments (MHD keeps no raw
 * copy). */
struct args {
	struct buf *b;
	bool overflow;          /* the query did not fit: refuse, never cut it */
};

static enum MHD_Result
add_arg(void *cls, enum MHD_ValueKind kind, const char *k, const char *v)
{
	struct args *a = cls;

	(void)kind;
	if (http_query_add(a->b, k, v) != POKY_OK) {
		a->overflow = true;
		return MHD_NO;
	}
	return MHD_YES;
}

/* The peer's address as text, for the access log. */
static void
client_address(struct MHD_Connection *mc, struct http_conn *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;

	c->client[0] = '\0';
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->
		    sin_addr, c->client, sizeof(c->client));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->
		    sin6_addr, c->client, sizeof(c->client));
}

/* A new request: its state, with the head read and checked.  NULL: no
 * memory. */
static struct http_conn *
conn_begin(struct http_server *srv, struct MHD_Connection *mc,
	   const char *version)
{
	struct app *app = srv->app;
	struct http_conn *c;
	struct app_conf *conf;
	size_t app_max;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	atomic_fetch_add(&srv->in_flight, 1);   /* until on_completed */
	conf = app_config_get(app);
	app_max = conf->cfg->server.max_body_bytes;
	app_config_put(app, conf);
	http_conn_init(c, app_max);
	client_address(mc, c);
	c->http10 = strcmp(version, MHD_HTTP_VERSION_1_0) == 0;
	MHD_get_connection_values_n(mc, MHD_HEADER_KIND, collect_header, c);
	http_conn_head_done(c);
	return c;
}

/* The whole request is in: answer it now, or hand it to an offload
 * thread (r.defer) or park it (r.wait) with its connection suspended. */
static enum MHD_Result
answer_request(struct http_server *srv, struct MHD_Connection *mc,
	       struct http_conn *c, const char *url, const char *method)
{
	struct api_resp r;
	struct api_req req;
	struct buf query;
	struct args a = { &query, false };
	enum MHD_Result ret;

	api_resp_init(&r);
	buf_init(&query, HTTP_MAX_QUERY);
	/* MHD gives the path decoded and without its query. */
	MHD_get_connection_values(mc, MHD_GET_ARGUMENT_KIND, add_arg, &a);
	http_answer(srv->app, c, method, url, query.data, a.overflow, true, &req, &r);
	if (r.defer) {
		if (http_offload(srv, mc, c, method, url, query.data, a.overflow)) {
			api_resp_cleanup(&r);
			buf_free(&query);
			return MHD_YES;
		}
		api_resp_cleanup(&r);
		api_resp_init(&r);
		api_fail(&r, REASON_NO_THREAD, NULL,
		    "no thread to serve this request");
	}
	if (r.wait) {
		if (http_park(srv, mc, c, &r)) {
			api_resp_cleanup(&r);
			buf_free(&query);
			return MHD_YES;
		}
		api_resp_cleanup(&r);
		api_resp_init(&r);
		api_fail(&r, REASON_TOO_MANY_WATCHERS, NULL,
		    "[server] max_watchers are waiting; try again later");
	}
	if (r.stream != NULL && r.status == 200 && strcmp(method, "GET") == 0)
		ret = http_send_stream(srv, mc, c, &r);
	else
		ret = http_send_resp(srv, mc, c, &r, method);
	api_resp_cleanup(&r);
	buf_free(&query);
	return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *mc, const char *url,
	   const char *method, const char *version, const char *upload,
	   size_t *upload_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct http_conn *c = *con_cls;
	enum MHD_Result ret;

	if (c == NULL) {
		if ((c = conn_begin(srv, mc, version)) == NULL)
			return MHD_NO;
		*con_cls = c;
		/* A head refused (400) or a declared body over the limit (413)
		 * is answered now, before any body is read: MHD sends no
		 * "100 Continue" once an answer is queued. */
		if (c->bad_framing == NULL && !c->too_large) {
			http_track_set(srv, mc, HTTP_PHASE_BODY, 0, false);
			return MHD_YES;
		}
	}
	if (c->parked) {
		/* Resumed from a watch: the handler looks again below. */
		c->parked = false;
	} else if (c->job != NULL) {
		/* Resumed: the offload thread has answered. */
		ret = c->job->done ? http_send_resp(srv, mc, c, &c->job->r, method) : MHD_NO;
		http_job_free(c->job);
		c->job = NULL;
		return ret;
	}
	if (*upload_size > 0) {
		http_track_set(srv, mc, HTTP_PHASE_BODY, *upload_size, true);
		/* A chunked body far past the limit: close rather than read
		 * the rest (a little past it still gets its 413). */
		ret = http_conn_upload(c, upload, *upload_size) ? MHD_YES : MHD_NO;
		*upload_size = 0;
		return ret;
	}
	http_track_set(srv, mc, HTTP_PHASE_BUSY, 0, false);
	return answer_request(srv, mc, c, url, method);
}

static void
on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
	     enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_conn *c = *con_cls;

	(void)toe;
	/* Keep-alive: the next head is due within the grace from now. */
	http_track_set(srv, mc, HTTP_PHASE_HEAD, 0, false);
	if (c == NULL)
		return;
	http_job_free(c->job);
	if (c->watching)
		watch_leave(srv->app->watch);
	http_conn_cleanup(c);
	free(c);
	*con_cls = NULL;
	atomic_fetch_sub(&srv->in_flight, 1);
}

/* MHD decodes the path and the query arguments with this.  "%2F" and
 * "%00" stay as they are: a decoded slash would route "/tasks%2fID" as
 * "/tasks/ID", and a NUL would cut the string short ("/tasks/ID%00junk").
 * Kept encoded, neither matches a route or a valid value. */
static size_t
unescape(void *cls, struct MHD_Connection *mc, char *s)
{
	(void)cls;
	(void)mc;
	return str_uri_decode_path(s);
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_debug("http: %s", line);
}

/* The server's state before MHD starts: the offload pool and the
 * deadlines, with their limits from the config. */
static struct http_server *
server_new(struct app *app, long timeout, int max_conns, int *per_client)
{
	struct http_server *srv = calloc(1, sizeof(*srv));
	int max_threads;

	if (srv == NULL)
		return NULL;
	srv->app = app;
	srv->quiesced = MHD_INVALID_SOCKET;
	atomic_init(&srv->in_flight, 0);
	{
		struct app_conf *conf = app_config_get(app);

		max_threads = conf->cfg->aws.max_in_flight;
		*per_client = conf->cfg->server.max_conns_per_client;
		srv->rate = (double)conf->cfg->server.min_transfer_rate;
		app_config_put(app, conf);
	}
	http_offload_init(srv, max_threads);
	srv->grace = (double)timeout;
	/* 0: a quarter of the connections (one proxy in front of us is one
	 * client: set it to max_connections there). */
	if (*per_client <= 0)
		*per_client = max_conns / 4 > 4 ? max_conns / 4 : 4;
	/* The reserve: a sixteenth of the connections, at least two. */
	srv->evict_at = max_conns - (max_conns / 16 > 2 ? max_conns / 16 : 2);
	http_deadlines_init(srv);
	return srv;
}

/* host (an IP address or "localhost") and port as a socket address;
 * *flags gets MHD_USE_IPv6 for an IPv6 one.  False: not an address. */
static bool
listen_addr(const char *host, unsigned port, struct sockaddr_storage *ss,
	    unsigned *flags)
{
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		((struct sockaddr_in *)ss)->sin_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
		*flags |= MHD_USE_IPv6;
	} else if (strcmp(host, "localhost") == 0) {
		((struct sockaddr_in *)ss)->sin_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	} else {
		return false;
	}
	return true;
}

/* Free a server MHD never ran for (no threads started). */
static void
server_free(struct http_server *srv)
{
	http_offload_stop(srv);
	http_deadlines_stop(srv);
	pthread_cond_destroy(&srv->work);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}

struct http_server *
http_start(struct app *app, const char *host, unsigned port, int threads,
	   long timeout, int max_conns, struct poky_error *e)
{
	struct http_server *srv;
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	    MHD_USE_ERROR_LOG | MHD_USE_SUSPEND_RESUME;
	const union MHD_DaemonInfo *di;
	int per_client;

	if ((srv = server_new(app, timeout, max_conns, &per_client)) == NULL) {
		poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
		return NULL;
	}
	if (!listen_addr(host, port, &ss, &flags)) {
		server_free(srv);
		poky_error_set(e, POKY_ERR_INVALID,
		    "listen host '%s' must be an IP address or localhost", host);
		return NULL;
	}
	srv->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, srv,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)timeout,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)max_conns,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)per_client,
	    MHD_OPTION_NOTIFY_CONNECTION, http_on_connection, srv,
	    MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_END);
	if (srv->d == NULL) {
		int err = errno;

		server_free(srv);
		poky_error_set(e, POKY_ERR_IO, "cannot listen on %s:%u: %s", host, port,
		    strerror(err));
		return NULL;
	}
	di = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = di ? di->port : port;
	http_set_bound_host(host);
	http_deadlines_start(srv);
	return srv;
}

unsigned
http_port(const struct http_server *srv)
{
	return srv->port;
}

void
http_quiesce(struct http_server *srv)
{
	if (srv != NULL && srv->d != NULL && srv->quiesced == MHD_INVALID_SOCKET)
		srv->quiesced = MHD_quiesce_daemon(srv->d);
}

void
http_stop(struct http_server *srv)
{
	struct timespec tick = { 0, 10 * 1000000L };

	if (srv == NULL)
		return;
	/* Watches answer now and streams end: they would hold the drain. */
	watch_close(srv->app->watch);
	/* A request being handled gets its answer before the daemon goes:
	 * MHD_stop_daemon closes connections whose response is queued but
	 * not sent, and the client would never learn its task started. */
	for (int ms = 0; ms < DRAIN_MAX_MS && atomic_load(&srv->in_flight) > 0;
	     ms += 10)
		nanosleep(&tick, NULL);
	if (atomic_load(&srv->in_flight) > 0)
		log_warnx("http: stopping with %d request(s) still in flight",
		    atomic_load(&srv->in_flight));
	/* Offloaded requests end (and resume their connections) before MHD
	 * goes: it must not stop with a connection suspended. */
	http_offload_stop(srv);
	if (srv->d != NULL)
		MHD_stop_daemon(srv->d);
	/* The deadlines ran through the drain above (a trickled body ends
	 * within them); every record is gone with MHD. */
	http_deadlines_stop(srv);
	pthread_cond_destroy(&srv->work);
	pthread_mutex_destroy(&srv->lock);
	/* MHD hands the quiesced socket to us, to close after the stop. */
	if (srv->quiesced != MHD_INVALID_SOCKET)
		close(srv->quiesced);
	free(srv);
}
