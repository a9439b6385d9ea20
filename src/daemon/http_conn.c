/* http_conn.c - one connection: its head (headers, framing, request id,
 * body) and its deadlines (the sweep thread and the reserve).
 *
 * Everything that comes from outside is bounded here before any handler
 * runs: header count, framing, body size, and how long a client may take
 * (slow clients are dropped). */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "http_internal.h"
#include "poky/clock.h"
#include "poky/log.h"
#include "poky/str.h"
#include "poky/uuid.h"

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

void
http_on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
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
void
http_track_set(struct http_server *srv, struct MHD_Connection *mc,
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

void
http_deadlines_init(struct http_server *srv)
{
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
}

void
http_deadlines_start(struct http_server *srv)
{
	if (pthread_create(&srv->sweeper, NULL, sweep_thread, srv) == 0)
		srv->sweeping = true;
	else
		log_warnx("http: no deadline thread: slow clients keep idle timers only");
}

/* Ends the sweep thread (if it runs) and frees what init made. */
void
http_deadlines_stop(struct http_server *srv)
{
	if (srv->sweeping) {
		pthread_mutex_lock(&srv->tlock);
		srv->sweep_stop = true;
		pthread_cond_signal(&srv->tick);
		pthread_mutex_unlock(&srv->tlock);
		pthread_join(srv->sweeper, NULL);
	}
	pthread_cond_destroy(&srv->tick);
	pthread_mutex_destroy(&srv->tlock);
}
