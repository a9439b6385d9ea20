/* http_send.c - answers to MHD: a body from memory (under the
 * large-answers budget) or a file, a streamed body, and a parked watch. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http_internal.h"
#include "poky/clock.h"
#include "poky/problem.h"
#include "poky/str.h"
#include "poky/watch.h"

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
bool
http_held_full(void)
{
	return atomic_load(&http_held) + HELD_SMALL > HELD_MAX;
}

void
http_answer_busy(struct api_resp *r)
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

enum MHD_Result
http_send_resp(struct http_server *srv, struct MHD_Connection *mc,
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
			http_answer_busy(r);
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
	http_track_set(srv, mc, HTTP_PHASE_SEND, len, false);
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

/* ---- watches: parked requests and streamed bodies ----------------------- */

static void
wake_conn(void *ud)
{
	MHD_resume_connection(ud);
}

/* A watch handler asked to be called again on a change or its deadline:
 * suspend the connection (holding no thread) and park it.  False when the
 * watcher cap is reached (answer 503). */
bool
http_park(struct http_server *srv, struct MHD_Connection *mc, struct http_conn *c,
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
enum MHD_Result
http_send_stream(struct http_server *srv, struct MHD_Connection *mc,
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
		return http_send_resp(srv, mc, c, r, "GET");
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
	http_track_set(srv, mc, HTTP_PHASE_BUSY, 0, false);
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
