/* http.c - libmicrohttpd glue: limits, auth, request ids, access log.
 *
 * Everything that comes from outside is bounded here, before any handler
 * runs: URL length, header count and size (MHD's per-connection memory
 * limit), body size (413), and how long a client may take (slow clients
 * are dropped).  Handlers get a parsed struct api_req and never see MHD.
 * What needs no MHD types (the head's checks, the query, the answer) is
 * exported in http.h; the MHD callbacks below only feed it. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "poky/api.h"
#include "poky/app.h"
#include "poky/auth.h"
#include "poky/clock.h"
#include "poky/http.h"
#include "poky/log.h"
#include "poky/metrics.h"
#include "poky/problem.h"
#include "poky/str.h"
#include "poky/uuid.h"
#include "poky/watch.h"

#define CONN_MEMORY (64 * 1024)

/* How long a stop waits for requests in flight: a RunTask with its retries
 * fits; a client that never finishes its request does not hold us. */
#define DRAIN_MAX_MS 60000

/* Handlers that wait on the network run on offload threads, started on
 * demand up to [aws] max_in_flight (and this), while MHD keeps their
 * connection suspended: a request thread never waits on AWS, so status
 * reads stay fast while launches and S3 checks are slow. */
#define OFFLOAD_MAX_THREADS 512
#define OFFLOAD_STACK (1u << 20)

struct http_job {
	struct MHD_Connection *mc;
	struct http_conn *c;
	char *method, *url, *query;
	bool query_too_long;
	bool done;
	struct api_resp r;
	struct http_job *next;
};

struct http_track {
	struct http_track *prev, *next;
	MHD_socket fd;
	enum http_phase phase;
	double since;                   /* monotonic seconds the phase began */
	unsigned long long bytes;       /* body bytes so far; answer size */
	bool dropped;                   /* shut down once: MHD closes it */
};

struct http_server {
	struct MHD_Daemon *d;
	struct app *app;
	unsigned port;
	atomic_int in_flight;           /* requests begun and not yet answered */
	MHD_socket quiesced;            /* the listen socket after http_quiesce */
	pthread_mutex_t lock;           /* the offload pool */
	pthread_cond_t work;
	struct http_job *jobs, *jobs_tail;
	pthread_t threads[OFFLOAD_MAX_THREADS];
	int n_threads, idle, max_threads;
	bool stop;
	/* Deadlines: every open connection, and the thread that ends the
	 * ones past theirs. */
	pthread_mutex_t tlock;
	pthread_cond_t tick;
	struct http_track *tracks;
	int n_live;                     /* tracked and not dropped */
	int evict_at;                   /* n_live from which the oldest head goes */
	double grace, rate;
	pthread_t sweeper;
	bool sweeping, sweep_stop;
};

/* ---- deadlines ------------------------------------------------------------
 *
 * MHD's connection timeout is an idle timer: any byte resets it, so a client
 * trickling a byte a second holds its connection (and a drain) forever.  We
 * keep our own record of every connection from accept on (NOTIFY_CONNECTION)
 * and a thread that shuts down the socket of any connection past its
 * deadline; MHD then sees the end of the stream and closes it itself.  The
 * record leaves the list (under tlock) in the CLOSED notification, which MHD
 * sends before it closes the socket, so a shutdown under tlock never hits a
 * reused descriptor. */

#define SWEEP_MS 200
#define EVICT_MIN_AGE 1.0       /* a head younger than this is not evicted */

bool
http_deadline_passed(enum http_phase ph, double age, unsigned long long bytes,
		     double grace, double rate)
{
	switch (ph) {
	case HTTP_PHASE_HEAD:   /* the whole head, however it trickles */
		return age > grace;
	case HTTP_PHASE_BODY:   /* after the grace, at least rate on average */
		return age > grace && (double)bytes < rate * (age - grace);
	case HTTP_PHASE_SEND:   /* the answer, at rate after the grace */
		return age > grace + (double)bytes / rate;
	case HTTP_PHASE_BUSY:   /* ours to finish: the handler runs */
	default:
		return false;
	}
}

/* Call with tlock held. */
static void
track_drop(struct http_server *srv, struct http_track *t, const char *why)
{
	t->dropped = true;
	srv->n_live--;
	(void)shutdown(t->fd, SHUT_RDWR);
	log_debug("http: dropped a connection: %s", why);
}

/* When the server is nearly full, the oldest connection still sending its
 * head goes, so a new client is served (the reserve).  A real client sends
 * its head at once; one that is slow about it is the one to lose.  Call
 * with tlock held. */
static void
track_evict(struct http_server *srv, double now)
{
	while (srv->n_live >= srv->evict_at) {
		struct http_track *old = NULL;

		for (struct http_track *t = srv->tracks; t; t = t->next)
			if (!t->dropped && t->phase == HTTP_PHASE_HEAD &&
			    now - t->since >= EVICT_MIN_AGE &&
			    (old == NULL || t->since < old->since))
				old = t;
		if (old == NULL)
			return;
		track_drop(srv, old, "server full, oldest head");
	}
}

static void *
sweep_thread(void *ud)
{
	struct http_server *srv = ud;

	pthread_mutex_lock(&srv->tlock);
	while (!srv->sweep_stop) {
		struct timespec ts;
		double now = clock_mono();

		for (struct http_track *t = srv->tracks; t; t = t->next)
			if (!t->dropped && http_deadline_passed(t->phase,
			    now - t->since, t->bytes, srv->grace, srv->rate))
				track_drop(srv, t, "past its deadline");
		track_evict(srv, now);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += SWEEP_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&srv->tick, &srv->tlock, &ts);
	}
	pthread_mutex_unlock(&srv->tlock);
	return NULL;
}

static void
on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
	      enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *srv = cls;
	struct http_track *t = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);

		if (ci == NULL || (t = calloc(1, sizeof(*t))) == NULL)
			return;         /* untracked: MHD's idle timer only */
		t->fd = ci->connect_fd;
		t->phase = HTTP_PHASE_HEAD;
		t->since = clock_mono();
		pthread_mutex_lock(&srv->tlock);
		t->next = srv->tracks;
		if (srv->tracks != NULL)
			srv->tracks->prev = t;
		srv->tracks = t;
		srv->n_live++;
		track_evict(srv, t->since);
		pthread_mutex_unlock(&srv->tlock);
		*socket_context = t;
		return;
	}
	if (t == NULL)
		return;
	pthread_mutex_lock(&srv->tlock);
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		srv->tracks = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	if (!t->dropped)
		srv->n_live--;
	pthread_mutex_unlock(&srv->tlock);
	free(t);
	*socket_context = NULL;
}

/* Move mc's record to phase ph (add: bytes += n, else bytes = n). */
static void
track_set(struct http_server *srv, struct MHD_Connection *mc,
	  enum http_phase ph, unsigned long long n, bool add)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct http_track *t = ci ? ci->socket_context : NULL;

	if (t == NULL)
		return;
	pthread_mutex_lock(&srv->tlock);
	if (add && t->phase == ph) {
		t->bytes += n;
	} else {
		t->phase = ph;
		t->since = clock_mono();
		t->bytes = n;
	}
	pthread_mutex_unlock(&srv->tlock);
}

void
http_conn_init(struct http_conn *c, size_t max_body)
{
	c->t0 = clock_mono();
	buf_init(&c->body, max_body);
}

void
http_conn_cleanup(struct http_conn *c)
{
	buf_free(&c->body);
}

bool
http_conn_header(struct http_conn *c, const char *k, size_t k_len,
		 const char *v, size_t v_len)
{
	/* A NUL inside a name or value (RFC 9110 5.5: reject). */
	if (strlen(k) != k_len || (v != NULL && strlen(v) != v_len))
		c->bad_framing = "NUL in a header";
	if (c->n_headers == HTTP_MAX_HEADERS) {
		c->too_many_headers = true;
		return false;
	}
	c->headers[c->n_headers++] = (struct hdr){ k, strlen(k), v ? v : "",
		v ? strlen(v) : 0 };
	return true;
}

static enum MHD_Result
collect_header(void *cls, enum MHD_ValueKind kind, const char *k, size_t k_len,
	       const char *v, size_t v_len)
{
	(void)kind;
	return http_conn_header(cls, k, k_len, v, v_len) ? MHD_YES : MHD_NO;
}

/* Request smuggling shapes (RFC 9112 6.1, 6.3): more than one
 * Content-Length, Content-Length with Transfer-Encoding, or a transfer
 * coding other than a lone "chunked" make the body's end ambiguous between
 * us and any proxy in front: refuse them. */
static void
check_framing(struct http_conn *c)
{
	size_t n_cl = 0, n_te = 0, n_host = 0;
	const char *te = NULL;

	for (size_t i = 0; i < c->n_headers; i++) {
		/* "Content-Length : 4" is not a Content-Length to us but may
		 * be one to a proxy (RFC 9112 5.1: reject). */
		if (strcspn(c->headers[i].name, " \t") != c->headers[i].name_len)
			c->bad_framing = "whitespace in a header name";
		if (str_ieq(c->headers[i].name, c->headers[i].name_len, "host"))
			n_host++;
		if (str_ieq(c->headers[i].name, c->headers[i].name_len,
		    "content-length"))
			n_cl++;
		else if (str_ieq(c->headers[i].name, c->headers[i].name_len,
		    "transfer-encoding")) {
			n_te++;
			te = c->headers[i].value;
		}
	}
	if (c->bad_framing != NULL)
		return;
	if (n_cl > 1)
		c->bad_framing = "more than one Content-Length";
	else if (n_cl > 0 && n_te > 0)
		c->bad_framing = "both Content-Length and Transfer-Encoding";
	else if (n_te > 1 || (te != NULL && strcasecmp(te, "chunked") != 0))
		c->bad_framing = "unsupported Transfer-Encoding";
	/* RFC 9112 3.2: exactly one Host in HTTP/1.1 (which of two would a
	 * proxy route by?), at most one in 1.0. */
	else if (n_host > 1)
		c->bad_framing = "more than one Host";
	else if (n_host == 0 && !c->http10)
		c->bad_framing = "no Host header";
}

/* A client's X-Request-Id is kept if it is tame; otherwise we make one. */
static void
request_id(struct http_conn *c, const char *given)
{
	bool ok = given != NULL && *given && strlen(given) <= HTTP_REQID_MAX;

	for (const char *p = given; ok && *p; p++)
		ok = isalnum((unsigned char)*p) || strchr("-_.:", *p);
	if (ok)
		str_copy(c->reqid, sizeof(c->reqid), given);
	else if (uuid_v4(c->reqid) != POKY_OK)
		str_copy(c->reqid, sizeof(c->reqid), "unknown");
}

const char *
http_conn_find(const struct http_conn *c, const char *name)
{
	for (size_t i = 0; i < c->n_headers; i++)
		if (str_ieq(c->headers[i].name, c->headers[i].name_len, name))
			return c->headers[i].value;
	return NULL;
}

void
http_conn_head_done(struct http_conn *c)
{
	const char *cl;

	request_id(c, http_conn_find(c, "x-request-id"));
	check_framing(c);
	/* A declared body over the limit is refused before it arrives. */
	cl = http_conn_find(c, "content-length");
	if (cl != NULL && strtoull(cl, NULL, 10) > c->body.max)
		c->too_large = true;
}

bool
http_conn_upload(struct http_conn *c, const char *data, size_t n)
{
	if (!c->too_large && buf_append(&c->body, data, n) != POKY_OK)
		c->too_large = true;
	if (c->too_large)
		c->discarded += n;
	return c->discarded <= HTTP_DISCARD_MAX;
}

const char *
http_token_scoped(const struct auth_tokens *tokens, const char *authorization,
		  unsigned *scopes)
{
	const char *tok;

	*scopes = 0;
	if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
		return NULL;
	tok = authorization + 7;
	while (*tok == ' ')
		tok++;
	return auth_lookup(tokens, tok, strlen(tok), scopes);
}

const char *
http_token_name(const struct auth_tokens *tokens, const char *authorization)
{
	unsigned scopes;

	return http_token_scoped(tokens, authorization, &scopes);
}

/* Bearer auth; the token name is what logs and records show, never the
 * token.  Returns NULL and sets *ok=false when a token is needed and wrong.
 * *scopes: the token's (AUTH_ALL when anonymous). */
static const char *
authenticate(struct app *app, const struct http_conn *c, bool open, bool *ok,
	     unsigned *scopes)
{
	struct app_conf *conf = app_config_get(app);
	const char *name;

	*ok = true;
	*scopes = AUTH_ALL;
	if (conf->tokens == NULL) {
		/* No tokens file: anonymous (main refuses this on a public
		 * address unless allow_anonymous is set). */
		app_config_put(app, conf);
		return NULL;
	}
	name = http_token_scoped(conf->tokens, http_conn_find(c, "authorization"),
	    scopes);
	app_config_put(app, conf);
	/* The names come from a config that may be swapped: hand out a
	 * static copy per thread. */
	if (name != NULL) {
		static _Thread_local char copy[AUTH_NAME_MAX + 1];

		str_copy(copy, sizeof(copy), name);
		return copy;
	}
	*scopes = 0;
	*ok = open;
	return NULL;
}

char *
http_resp_body(struct api_resp *r, size_t *len)
{
	char *body = NULL;

	*len = 0;
	if (r->has_file) {
		/* Callers without MHD (the fuzz target): read it. */
		body = malloc(r->file_len + 1);
		if (body != NULL) {
			ssize_t n = pread(r->file_fd, body, r->file_len,
			    (off_t)r->file_off);

			*len = n > 0 ? (size_t)n : 0;
		}
	} else if (r->text != NULL) {
		body = r->text;
		*len = r->text_len;
		r->text = NULL;
	} else if (r->json != NULL) {
		body = json_dumps(r->json, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
		*len = body ? strlen(body) : 0;
	}
	return body;
}

static bool
resp_has_header(const struct api_resp *r, const char *name)
{
	for (size_t i = 0; i < r->n_headers; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return true;
	return false;
}

/* An answer built in memory stays there until its client has taken it.
 * Logs stream from their file, but a list (up to 1,000 records) is built
 * whole: clients that ask for large answers and never read them would
 * make pokyd hold a copy each.  So large answers share one budget; beyond
 * it they are refused (503, Retry-After), while small ones - records,
 * errors, health - always pass. */
#define HELD_MAX ((size_t)64 << 20)
#define HELD_SMALL ((size_t)64 << 10)

static atomic_size_t http_held;         /* answer bytes built, not yet sent */

struct held {
	char *body;
	size_t len;
};

static bool
held_take(size_t len)
{
	size_t cur = atomic_load(&http_held);

	do {
		if (len > HELD_SMALL && cur + len > HELD_MAX)
			return false;
	} while (!atomic_compare_exchange_weak(&http_held, &cur, cur + len));
	return true;
}

/* Whether a route that answers large (api_route.large) is refused before
 * its answer is even built: the budget is spent. */
static bool
held_full(void)
{
	return atomic_load(&http_held) + HELD_SMALL > HELD_MAX;
}

static void
answer_busy(struct api_resp *r)
{
	api_fail(r, REASON_ANSWERS_HELD, NULL, "too many large answers are "
	    "waiting for their clients to read them; retry shortly");
}

/* MHD is done with the answer (sent, or the connection closed). */
static void
held_free(void *cls)
{
	struct held *h = cls;

	atomic_fetch_sub(&http_held, h->len);
	free(h->body);
	free(h);
}

/* The body of r as an MHD answer, counted against the budget; NULL when
 * it does not fit (the caller answers 503) or memory ran out.  Takes
 * body. */
static struct MHD_Response *
held_response(char *body, size_t len, bool *over)
{
	struct held *h;
	struct MHD_Response *resp;

	*over = false;
	if (body == NULL)
		return MHD_create_response_from_buffer(0, (char *)"",
		    MHD_RESPMEM_PERSISTENT);
	if (!held_take(len)) {
		*over = true;
		free(body);
		return NULL;
	}
	if ((h = malloc(sizeof(*h))) == NULL) {
		atomic_fetch_sub(&http_held, len);
		free(body);
		return NULL;
	}
	h->body = body;
	h->len = len;
	resp = MHD_create_response_from_buffer_with_free_callback_cls(len, body,
	    held_free, h);
	if (resp == NULL)
		held_free(h);
	return resp;
}

static enum MHD_Result
send_resp(struct http_server *srv, struct MHD_Connection *mc,
	  const struct http_conn *c, struct api_resp *r, const char *method)
{
	struct MHD_Response *resp;
	size_t len = 0;
	char *body = NULL;
	enum MHD_Result ret;

	if (r->has_file && strcmp(method, "HEAD") != 0) {
		/* MHD streams it (sendfile) and closes the descriptor. */
		len = (size_t)r->file_len;
		resp = MHD_create_response_from_fd_at_offset64(r->file_len,
		    r->file_fd, r->file_off);
		if (resp == NULL)
			return MHD_NO;  /* api_resp_cleanup closes it */
		r->has_file = false;
	} else {
		bool over;

		if (strcmp(method, "HEAD") != 0)
			body = http_resp_body(r, &len);
		resp = held_response(body, len, &over);
		if (over) {
			api_resp_cleanup(r);
			api_resp_init(r);
			answer_busy(r);
			body = http_resp_body(r, &len);
			resp = held_response(body, len, &over);
		}
		if (resp == NULL)
			return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", r->content_type ?
	    r->content_type : "application/json");
	MHD_add_response_header(resp, "X-Request-Id", c->reqid);
	/* Where the body ends is unknown, or we won't read it. */
	if (c->bad_framing != NULL || c->too_large)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	track_set(srv, mc, HTTP_PHASE_SEND, len, false);
	/* API answers are never cached; a handler may say otherwise (the
	 * console's static files). */
	if (!resp_has_header(r, "Cache-Control"))
		MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	for (size_t i = 0; i < r->n_headers; i++)
		MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
	ret = MHD_queue_response(mc, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* The method as a metrics label: the client chooses it, and every new
 * value would be a new series (crowding out real ones at the bound). */
static const char *
method_label(const char *method)
{
	static const char *const known[] = { "GET", "HEAD", "POST", "PUT",
		"DELETE", "PATCH", "OPTIONS", NULL };

	for (int i = 0; known[i]; i++)
		if (strcmp(method, known[i]) == 0)
			return known[i];
	return "other";
}

/* Query argument names whose values never reach a log line.  Matched as
 * substrings of the (lower-cased) name: "X-Amz-Signature", "access_token"
 * and "db_password" all match. */
static bool
query_name_secret(const char *name, size_t n)
{
	static const char *const words[] = { "token", "secret", "passw", "pwd",
		"signature", "credential", "auth", "session", "apikey", "api_key",
		"api-key", "access_key", "private", NULL };
	char low[64];

	if (n >= sizeof(low))
		return true;    /* a name this long: don't guess, hide it */
	for (size_t i = 0; i < n; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[n] = '\0';
	for (int i = 0; words[i] != NULL; i++)
		if (strstr(low, words[i]) != NULL)
			return true;
	return false;
}

/* Append n bytes to out (len so far in *len); false once it is full. */
static bool
put_cut(char *out, size_t cap, size_t *len, const char *p, size_t n)
{
	if (*len + n >= cap)
		return false;
	memcpy(out + *len, p, n);
	*len += n;
	out[*len] = '\0';
	return true;
}

void
http_log_query(char *out, size_t cap, const char *query)
{
	const char *p = query;
	size_t len = 0;
	bool ok = true;

	if (cap == 0)
		return;
	out[0] = '\0';
	if (query == NULL || cap < 4)
		return;
	while (ok && *p != '\0') {
		size_t n = strcspn(p, "&");
		size_t k = strcspn(p, "=&");

		if (len > 0)
			ok = put_cut(out, cap, &len, "&", 1);
		if (ok && query_name_secret(p, k))
			ok = put_cut(out, cap, &len, p, k) && (k == n ||
			    put_cut(out, cap, &len, "=REDACTED", 9));
		else if (ok)
			ok = put_cut(out, cap, &len, p, n);
		p += n;
		if (*p == '&')
			p++;
	}
	if (!ok) {
		/* Cut: never in the middle of a value that was redacted,
		 * since the cut text comes from what was written. */
		len = len < cap - 4 ? len : cap - 4;
		memcpy(out + len, "...", 4);
	}
}

/* Load balancer and monitoring probes: at debug while they succeed, so
 * they don't bury the requests that matter. */
static bool
probe_route(const char *route)
{
	return strcmp(route, "/healthz") == 0 || strcmp(route, "/readyz") == 0 ||
	    strcmp(route, "/metrics") == 0;
}

/* One line per request: what was asked (method, path with its ids, query
 * without secrets), the answer (status, bytes), how long, and who (client
 * address, user agent, token name, request id).  bytes is the body as it
 * will be sent. */
static void
access_log(struct app *app, const struct http_conn *c, const char *method,
	   const char *path, const char *query, const char *route, int status,
	   size_t bytes, const char *who)
{
	double dt = clock_mono() - c->t0;
	char code[8], q[256], pth[256], ua[160];
	const char *agent = http_conn_find(c, "user-agent");
	enum log_level lvl = probe_route(route) && status < 400 ?
	    LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;

	snprintf(code, sizeof(code), "%d", status);
	str_copy(pth, sizeof(pth), path != NULL ? path : "");
	str_copy(ua, sizeof(ua), agent != NULL ? agent : "");
	http_log_query(q, sizeof(q), query);
	log_set_request_id(c->reqid);
	log_fields(lvl, LOG_FIELDS(LF_STR("method", method), LF_STR("path", pth),
	    LF_STR("query", q[0] ? q : NULL), LF_STR("route", route),
	    LF_INT("http_status", status), LF_INT("bytes", bytes),
	    LF_NUM("duration_ms", dt * 1000),
	    LF_STR("client_addr", c->client[0] ? c->client : NULL),
	    LF_STR("user_agent", agent != NULL ? ua : NULL),
	    LF_STR("token_name", who)),
	    "%s %s%s%s %d %zuB %.1fms %s \"%s\" %s", method, pth, q[0] ? "?" : "",
	    q, status, bytes, dt * 1000, c->client[0] ? c->client : "-",
	    agent != NULL ? ua : "-", who ? who : "-");
	log_set_request_id(NULL);
	metrics_add(app->metrics, "poky_http_requests_total", 1, "method",
	    method_label(method), "route", route, "code", code, METRICS_END);
	metrics_observe(app->metrics, "poky_http_request_duration_seconds", dt,
	    "route", route, METRICS_END);
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

static char bound_host[INET6_ADDRSTRLEN + 16];

void
http_set_bound_host(const char *host)
{
	str_copy(bound_host, sizeof(bound_host), host ? host : "");
}

/* host[:port] -> host (brackets kept off an IPv6 literal) into out. */
static bool
host_part(const char *v, char *out, size_t cap)
{
	size_t n;

	if (*v == '[') {
		const char *e = strchr(v, ']');

		if (e == NULL || (e[1] != '\0' && e[1] != ':'))
			return false;
		v++;
		n = (size_t)(e - v);
	} else {
		n = strcspn(v, ":");
	}
	if (n == 0 || n >= cap)
		return false;
	memcpy(out, v, n);
	out[n] = '\0';
	return true;
}

bool
http_host_allowed(const char *host, const char *bound, char *const *names,
		  size_t n_names)
{
	char h[256];
	unsigned char a[16];
	bool any = bound == NULL || *bound == '\0' || strcmp(bound, "0.0.0.0") == 0 ||
	    strcmp(bound, "::") == 0;
	bool loop = bound != NULL && (strcmp(bound, "localhost") == 0 ||
	    strncmp(bound, "127.", 4) == 0 || strcmp(bound, "::1") == 0);

	if (host == NULL || !host_part(host, h, sizeof(h)))
		return false;
	for (size_t i = 0; i < n_names; i++)
		if (strcasecmp(h, names[i]) == 0)
			return true;
	if (inet_pton(AF_INET, h, a) == 1 || inet_pton(AF_INET6, h, a) == 1)
		return any || strcasecmp(h, bound) == 0;
	return strcasecmp(h, "localhost") == 0 && (any || loop);
}

bool
http_cross_site(const char *origin, const char *sec_fetch_site,
		const char *host)
{
	const char *p;

	if (sec_fetch_site != NULL && strcmp(sec_fetch_site, "same-origin") != 0 &&
	    strcmp(sec_fetch_site, "none") != 0)
		return true;
	if (origin == NULL)
		return false;
	if ((p = strstr(origin, "://")) == NULL)
		return true;            /* "null" and other opaque origins */
	return host == NULL || strcasecmp(p + 3, host) != 0;
}

/* Browsers: a page on another site (a form post, or DNS rebinding that
 * makes its own name point at us) must not drive an API that trusts its
 * callers.  Checked when anonymous (no tokens: the caller is trusted) and
 * for /process_file always (a form can post it); the Host also whenever
 * server_names is set.  NULL: fine; else why not (answer 403). */
static const char *
browser_refusal(struct app *app, const struct http_conn *c,
		const struct api_route *rt, bool anonymous)
{
	struct app_conf *conf = app_config_get(app);
	const char *host = http_conn_find(c, "host");
	const char *why = NULL;
	bool form = strcmp(rt->pattern, "/process_file") == 0;

	if ((anonymous || conf->cfg->server.n_server_names > 0) && host != NULL &&
	    !http_host_allowed(host, bound_host, conf->cfg->server.server_names,
	    conf->cfg->server.n_server_names))
		why = "the Host is not this server (see server_names)";
	else if ((anonymous || form) && http_cross_site(http_conn_find(c,
	    "origin"), http_conn_find(c, "sec-fetch-site"), host))
		why = "a cross-site browser request";
	app_config_put(app, conf);
	return why;
}

void
http_answer(struct app *app, const struct http_conn *c, const char *method,
	    const char *url, const char *query, bool query_too_long,
	    bool may_defer, struct api_req *req, struct api_resp *r)
{
	const struct api_route *rt;
	char allow[128];
	bool known, auth_ok;

	memset(req, 0, sizeof(*req));
	req->method = method;
	req->request_id = c->reqid;
	req->route = "unmatched";
	if (strlen(url) > HTTP_MAX_URL) {
		api_fail(r, REASON_URI_TOO_LONG, NULL, "at most %d bytes",
		    HTTP_MAX_URL);
		goto log;
	}
	if (c->bad_framing != NULL) {
		api_fail(r, REASON_BAD_REQUEST, NULL, "%s", c->bad_framing);
		goto log;
	}
	if (c->too_many_headers) {
		api_fail(r, REASON_TOO_MANY_HEADERS, NULL, "at most %d",
		    HTTP_MAX_HEADERS);
		goto log;
	}
	if (c->too_large) {
		api_fail(r, REASON_BODY_TOO_LARGE, NULL,
		    "the body exceeds max_body_bytes (%zu)", c->body.max);
		goto log;
	}
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
		goto log;
	}
	req->route = rt->pattern;
	req->token_name = authenticate(app, c, rt->open, &auth_ok, &req->scopes);
	if (!auth_ok) {
		api_fail(r, REASON_UNAUTHORIZED, NULL,
		    "send Authorization: Bearer TOKEN");
		api_resp_header(r, "WWW-Authenticate", "Bearer realm=\"poky\"");
		goto log;
	}
	{
		const char *why = browser_refusal(app, c, rt,
		    req->token_name == NULL && req->scopes == AUTH_ALL);

		if (why != NULL) {
			api_fail(r, REASON_FORBIDDEN, NULL, "%s", why);
			goto log;
		}
	}
	if (rt->scope != 0 && !rt->open && (req->scopes & rt->scope) == 0) {
		api_fail(r, REASON_FORBIDDEN, NULL,
		    "this token's scopes do not cover %s %s", method, rt->pattern);
		goto log;
	}
	if (rt->large && held_full()) {
		answer_busy(r);
		goto log;
	}
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
	/* Serialise the body now (send_resp sends r->text) so the log has its
	 * exact size; r->json stays for callers that read the answer. */
	if (r->json != NULL && r->text == NULL) {
		r->text = json_dumps(r->json, JSON_COMPACT | JSON_ENSURE_ASCII |
		    JSON_ENCODE_ANY);
		r->text_len = r->text != NULL ? strlen(r->text) : 0;
	}
	access_log(app, c, method, url, query, req->route, r->status,
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

static void
job_free(struct http_job *j)
{
	if (j == NULL)
		return;
	api_resp_cleanup(&j->r);
	free(j->method);
	free(j->url);
	free(j->query);
	free(j);
}

static void *
offload_thread(void *ud)
{
	struct http_server *srv = ud;

	pthread_mutex_lock(&srv->lock);
	for (;;) {
		struct http_job *j;
		struct api_req req;

		while (srv->jobs == NULL && !srv->stop) {
			srv->idle++;
			pthread_cond_wait(&srv->work, &srv->lock);
			srv->idle--;
		}
		if ((j = srv->jobs) == NULL)
			break;          /* stopping, and nothing left to answer */
		srv->jobs = j->next;
		if (srv->jobs == NULL)
			srv->jobs_tail = NULL;
		pthread_mutex_unlock(&srv->lock);
		http_answer(srv->app, j->c, j->method, j->url, j->query,
		    j->query_too_long, false, &req, &j->r);
		j->done = true;
		/* MHD calls on_request again, which sends j->r. */
		MHD_resume_connection(j->mc);
		pthread_mutex_lock(&srv->lock);
	}
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

/* Suspend the connection and hand its request to an offload thread.
 * False when it can't be (no memory, no thread): answer 503 then. */
static bool
offload(struct http_server *srv, struct MHD_Connection *mc,
	struct http_conn *c, const char *method, const char *url,
	const char *query, bool query_too_long)
{
	struct http_job *j = calloc(1, sizeof(*j));
	bool ok = false;

	if (j == NULL)
		return false;
	j->mc = mc;
	j->c = c;
	j->method = strdup(method);
	j->url = strdup(url);
	j->query = query ? strdup(query) : NULL;
	j->query_too_long = query_too_long;
	api_resp_init(&j->r);
	if (j->method == NULL || j->url == NULL || (query && j->query == NULL)) {
		job_free(j);
		return false;
	}
	pthread_mutex_lock(&srv->lock);
	if (srv->idle == 0 && srv->n_threads < srv->max_threads && !srv->stop) {
		pthread_attr_t attr;

		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, OFFLOAD_STACK);
		if (pthread_create(&srv->threads[srv->n_threads], &attr,
		    offload_thread, srv) == 0)
			srv->n_threads++;
		pthread_attr_destroy(&attr);
	}
	if (srv->n_threads > 0 && !srv->stop) {
		c->job = j;
		MHD_suspend_connection(mc);
		if (srv->jobs_tail != NULL)
			srv->jobs_tail->next = j;
		else
			srv->jobs = j;
		srv->jobs_tail = j;
		pthread_cond_signal(&srv->work);
		ok = true;
	}
	pthread_mutex_unlock(&srv->lock);
	if (!ok)
		job_free(j);
	return ok;
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

/* ---- watches: parked requests and streamed bodies ----------------------- */

static void
wake_conn(void *ud)
{
	MHD_resume_connection(ud);
}

/* A watch handler asked to be called again on a change or its deadline:
 * suspend the connection (holding no thread) and park it.  False when the
 * watcher cap is reached (answer 503). */
static bool
park(struct http_server *srv, struct MHD_Connection *mc, struct http_conn *c,
     const struct api_resp *r)
{
	struct watch *w = srv->app->watch;

	if (!c->watching) {
		if (!watch_enter(w))
			return false;
		c->watching = true;
	}
	c->wait_until = r->wait_until;
	str_copy(c->wait_etag, sizeof(c->wait_etag), r->wait_etag);
	c->parked = true;
	/* Suspended before it is parked: a wake may come at once. */
	MHD_suspend_connection(mc);
	switch (watch_park(w, r->wait_key[0] ? r->wait_key : NULL,
	    (int64_t)r->wait_seen, r->wait_until, wake_conn, mc)) {
	case WATCH_PARKED:
		break;
	case WATCH_CLOSED:
		/* Stopping: the deadline is now, so the next pass answers. */
		c->wait_until = clock_mono() - 1;
		MHD_resume_connection(mc);
		break;
	case WATCH_CHANGED:
		MHD_resume_connection(mc);
		break;
	}
	return true;
}

struct http_stream {
	struct http_server *srv;
	struct MHD_Connection *mc;
	struct api_stream *st;
};

/* MHD asks for more of a streamed body.  With nothing to send, the
 * connection is suspended and parked (returning 0 alone would have MHD
 * call again at once: a busy loop); a change or the stream's deadline
 * resumes it and MHD asks again. */
static ssize_t
stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct http_stream *hs = cls;
	struct watch *w = hs->srv->app->watch;
	char key[40] = "";
	double until = 0;
	int64_t seen = watch_seq(w);
	long n;

	(void)pos;
	n = hs->st->read(hs->st->ud, buf, max, key, sizeof(key), &until);
	if (n > 0)
		return (ssize_t)n;
	if (n < 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	MHD_suspend_connection(hs->mc);
	switch (watch_park(w, key[0] ? key : NULL, seen, until, wake_conn, hs->mc)) {
	case WATCH_PARKED:
		break;
	case WATCH_CHANGED:
		MHD_resume_connection(hs->mc);
		break;
	case WATCH_CLOSED:
		MHD_resume_connection(hs->mc);
		return MHD_CONTENT_READER_END_OF_STREAM;
	}
	return 0;
}

static void
stream_free(void *cls)
{
	struct http_stream *hs = cls;

	if (hs->st->free != NULL)
		hs->st->free(hs->st->ud);
	free(hs->st);
	watch_leave(hs->srv->app->watch);
	free(hs);
}

/* Send a streamed body; r->stream is taken over.  Socket buffers for it are
 * kept small, so a reader that stops reading fills them soon and MHD's
 * connection timeout drops it; it holds nothing others wait for. */
static enum MHD_Result
send_stream(struct http_server *srv, struct MHD_Connection *mc,
	    const struct http_conn *c, struct api_resp *r)
{
	struct http_stream *hs;
	struct MHD_Response *resp;
	const union MHD_ConnectionInfo *ci;
	enum MHD_Result ret;

	if (!watch_enter(srv->app->watch)) {
		api_resp_cleanup(r);
		api_resp_init(r);
		api_fail(r, REASON_TOO_MANY_WATCHERS, NULL,
		    "[server] max_watchers are connected; try again later");
		return send_resp(srv, mc, c, r, "GET");
	}
	hs = calloc(1, sizeof(*hs));
	if (hs == NULL) {
		watch_leave(srv->app->watch);
		return MHD_NO;
	}
	hs->srv = srv;
	hs->mc = mc;
	hs->st = r->stream;
	r->stream = NULL;
	/* A stream is ours to end (a change, its deadline, a reader MHD's
	 * idle timeout drops): no send deadline of its own. */
	track_set(srv, mc, HTTP_PHASE_BUSY, 0, false);
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096,
	    stream_read, hs, stream_free);
	if (resp == NULL) {
		stream_free(hs);
		return MHD_NO;
	}
	ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci != NULL) {
		int sz = 16 * 1024;

		setsockopt(ci->connect_fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	}
	MHD_add_response_header(resp, "Content-Type", r->content_type ?
	    r->content_type : "text/event-stream");
	MHD_add_response_header(resp, "X-Request-Id", c->reqid);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	/* Proxies (nginx) would buffer the stream otherwise. */
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	for (size_t i = 0; i < r->n_headers; i++)
		MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
	ret = MHD_queue_response(mc, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *mc, const char *url,
	   const char *method, const char *version, const char *upload,
	   size_t *upload_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct app *app = srv->app;
	struct http_conn *c = *con_cls;
	struct api_resp r;
	struct api_req req;
	struct buf query;
	struct args a = { &query, false };
	enum MHD_Result ret;

	if (c == NULL) {
		struct app_conf *conf;
		size_t app_max;

		c = calloc(1, sizeof(*c));
		if (c == NULL)
			return MHD_NO;
		atomic_fetch_add(&srv->in_flight, 1);   /* until on_completed */
		conf = app_config_get(app);
		app_max = conf->cfg->server.max_body_bytes;
		app_config_put(app, conf);
		http_conn_init(c, app_max);
		client_address(mc, c);
		c->http10 = strcmp(version, MHD_HTTP_VERSION_1_0) == 0;
		MHD_get_connection_values_n(mc, MHD_HEADER_KIND, collect_header, c);
		http_conn_head_done(c);
		*con_cls = c;
		/* A head refused (400) or a declared body over the limit (413)
		 * is answered now, before any body is read: MHD sends no
		 * "100 Continue" once an answer is queued. */
		if (c->bad_framing == NULL && !c->too_large) {
			track_set(srv, mc, HTTP_PHASE_BODY, 0, false);
			return MHD_YES;
		}
	}
	if (c->parked) {
		/* Resumed from a watch: the handler looks again below. */
		c->parked = false;
	} else if (c->job != NULL) {
		/* Resumed: the offload thread has answered. */
		ret = c->job->done ? send_resp(srv, mc, c, &c->job->r, method) : MHD_NO;
		job_free(c->job);
		c->job = NULL;
		return ret;
	}
	if (*upload_size > 0) {
		track_set(srv, mc, HTTP_PHASE_BODY, *upload_size, true);
		/* A chunked body far past the limit: close rather than read
		 * the rest (a little past it still gets its 413). */
		ret = http_conn_upload(c, upload, *upload_size) ? MHD_YES : MHD_NO;
		*upload_size = 0;
		return ret;
	}
	track_set(srv, mc, HTTP_PHASE_BUSY, 0, false);

	api_resp_init(&r);
	buf_init(&query, HTTP_MAX_QUERY);
	/* MHD gives the path decoded and without its query. */
	MHD_get_connection_values(mc, MHD_GET_ARGUMENT_KIND, add_arg, &a);
	http_answer(app, c, method, url, query.data, a.overflow, true, &req, &r);
	if (r.defer) {
		if (offload(srv, mc, c, method, url, query.data, a.overflow)) {
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
		if (park(srv, mc, c, &r)) {
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
		ret = send_stream(srv, mc, c, &r);
	else
		ret = send_resp(srv, mc, c, &r, method);
	api_resp_cleanup(&r);
	buf_free(&query);
	return ret;
}

static void
on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
	     enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_conn *c = *con_cls;

	(void)toe;
	/* Keep-alive: the next head is due within the grace from now. */
	track_set(srv, mc, HTTP_PHASE_HEAD, 0, false);
	if (c == NULL)
		return;
	job_free(c->job);
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

struct http_server *
http_start(struct app *app, const char *host, unsigned port, int threads,
	   long timeout, int max_conns, struct poky_error *e)
{
	struct http_server *srv = calloc(1, sizeof(*srv));
	struct sockaddr_storage ss;
	socklen_t sl;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	    MHD_USE_ERROR_LOG | MHD_USE_SUSPEND_RESUME;
	const union MHD_DaemonInfo *di;
	int per_client;

	if (srv == NULL) {
		poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
		return NULL;
	}
	srv->app = app;
	srv->quiesced = MHD_INVALID_SOCKET;
	atomic_init(&srv->in_flight, 0);
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->work, NULL);
	{
		struct app_conf *conf = app_config_get(app);

		srv->max_threads = conf->cfg->aws.max_in_flight;
		per_client = conf->cfg->server.max_conns_per_client;
		srv->rate = (double)conf->cfg->server.min_transfer_rate;
		app_config_put(app, conf);
	}
	srv->grace = (double)timeout;
	/* 0: a quarter of the connections (one proxy in front of us is one
	 * client: set it to max_connections there). */
	if (per_client <= 0)
		per_client = max_conns / 4 > 4 ? max_conns / 4 : 4;
	/* The reserve: a sixteenth of the connections, at least two. */
	srv->evict_at = max_conns - (max_conns / 16 > 2 ? max_conns / 16 : 2);
	pthread_mutex_init(&srv->tlock, NULL);
	{
		/* The sweep's deadlines are on CLOCK_MONOTONIC: a condition
		 * on the default (realtime) clock would take them for long
		 * past and never sleep. */
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&srv->tick, &ca);
		pthread_condattr_destroy(&ca);
	}
	if (srv->max_threads > OFFLOAD_MAX_THREADS)
		srv->max_threads = OFFLOAD_MAX_THREADS;
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		sl = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		sl = sizeof(struct sockaddr_in6);
		flags |= MHD_USE_IPv6;
	} else if (strcmp(host, "localhost") == 0) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		sl = sizeof(struct sockaddr_in);
	} else {
		free(srv);
		poky_error_set(e, POKY_ERR_INVALID,
		    "listen host '%s' must be an IP address or localhost", host);
		return NULL;
	}
	(void)sl;
	srv->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, srv,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)timeout,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)max_conns,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)per_client,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
	    MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_END);
	if (srv->d == NULL) {
		int err = errno;

		pthread_cond_destroy(&srv->work);
		pthread_mutex_destroy(&srv->lock);
		pthread_cond_destroy(&srv->tick);
		pthread_mutex_destroy(&srv->tlock);
		free(srv);
		poky_error_set(e, POKY_ERR_IO, "cannot listen on %s:%u: %s", host, port,
		    strerror(err));
		return NULL;
	}
	di = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = di ? di->port : port;
	http_set_bound_host(host);
	if (pthread_create(&srv->sweeper, NULL, sweep_thread, srv) == 0)
		srv->sweeping = true;
	else
		log_warnx("http: no deadline thread: slow clients keep idle timers only");
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
	pthread_mutex_lock(&srv->lock);
	srv->stop = true;
	pthread_cond_broadcast(&srv->work);
	pthread_mutex_unlock(&srv->lock);
	for (int i = 0; i < srv->n_threads; i++)
		pthread_join(srv->threads[i], NULL);
	if (srv->d != NULL)
		MHD_stop_daemon(srv->d);
	/* The deadlines ran through the drain above (a trickled body ends
	 * within them); every record is gone with MHD. */
	if (srv->sweeping) {
		pthread_mutex_lock(&srv->tlock);
		srv->sweep_stop = true;
		pthread_cond_signal(&srv->tick);
		pthread_mutex_unlock(&srv->tlock);
		pthread_join(srv->sweeper, NULL);
	}
	pthread_cond_destroy(&srv->tick);
	pthread_mutex_destroy(&srv->tlock);
	pthread_cond_destroy(&srv->work);
	pthread_mutex_destroy(&srv->lock);
	/* MHD hands the quiesced socket to us, to close after the stop. */
	if (srv->quiesced != MHD_INVALID_SOCKET)
		close(srv->quiesced);
	free(srv);
}
