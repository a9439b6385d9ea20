/* api_streams.c - a task's output (GET /tasks/{id}/logs, followed or not)
 * and the change stream (GET /events, Server-Sent Events): the answers
 * that are bodies made while they are sent, or read from a service. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "poky/api.h"
#include "poky/api_internal.h"
#include "poky/app.h"
#include "poky/auth.h"
#include "poky/buf.h"
#include "poky/clock.h"
#include "poky/launch.h"
#include "poky/problem.h"
#include "poky/str.h"
#include "poky/uuid.h"

#define LOG_MAX_BYTES (8u << 20)
#define SSE_KEEPALIVE 15.0              /* seconds between comments */
#define SSE_BATCH 64                    /* events read per store query */
#define FOLLOW_POLL 0.5                 /* a followed log is looked at */

struct sse {
	struct app *app;
	int64_t after;                  /* the last seq sent (or skipped) */
	char tmpl[80];                  /* "" any */
	char status[16];                /* "" any */
	char owner[AUTH_NAME_MAX + 1];  /* "" every task; else only this token's */
	char pending[512];              /* a first message (hello or reset) */
	double last_write;
	struct buf out;                 /* formatted, not yet given to MHD */
	size_t out_pos;
};

struct sse_fill {
	struct sse *x;
	int n;
};

static int
sse_one(void *ud, const struct store_event *ev)
{
	struct sse_fill *f = ud;
	struct sse *x = f->x;
	char line[512];
	int n;

	x->after = ev->seq;
	f->n++;
	if ((x->tmpl[0] && strcmp(x->tmpl, ev->template_name) != 0) ||
	    (x->status[0] && strcmp(x->status, ev->status) != 0))
		return 0;
	if (x->owner[0]) {
		/* A token sees its own tasks' changes only (as everywhere). */
		struct task t;
		bool mine;

		task_init(&t);
		mine = store_get(x->app->store, ev->task_id, &t, NULL) == POKY_OK &&
		    t.created_by != NULL && strcmp(t.created_by, x->owner) == 0;
		task_cleanup(&t);
		if (!mine)
			return 0;
	}
	n = snprintf(line, sizeof(line), "id: %lld\nevent: task\ndata: "
	    "{\"id\":\"%s\",\"status\":\"%s\",\"template\":\"%s\","
	    "\"updated_at\":%.3f}\n\n", (long long)ev->seq, ev->task_id,
	    ev->status, ev->template_name, ev->ts);
	if (n > 0 && (size_t)n < sizeof(line))
		buf_append(&x->out, line, (size_t)n);
	return 0;
}

/* Give MHD what is formatted; format more from the change log when that
 * is used up; wait (for any change, or the keep-alive) when there is
 * none.  A template name is plain (config-checked), a status one of
 * ours, an id a UUID: no JSON escaping needed. */
static long
sse_read(void *ud, char *buf, size_t max, char *key, size_t key_cap,
	 double *until)
{
	struct sse *x = ud;
	struct poky_error e;
	size_t n;

	if (x->out_pos >= x->out.len) {
		struct sse_fill f = { x, 0 };

		x->out.len = x->out_pos = 0;
		if (x->pending[0]) {
			buf_append(&x->out, x->pending, strlen(x->pending));
			x->pending[0] = '\0';
		}
		/* Template and status filters may skip a whole batch: go on
		 * while the log has more and nothing is ready. */
		do {
			f.n = 0;
			if (store_events(x->app->store, x->after, SSE_BATCH, sse_one,
			    &f, &e) != POKY_OK)
				return -1;      /* the client reconnects with its id */
		} while (f.n == SSE_BATCH && x->out.len == 0);
		if (x->out.len == 0 && clock_mono() - x->last_write >= SSE_KEEPALIVE)
			buf_append(&x->out, ": keep-alive\n\n", 14);
	}
	if (x->out_pos >= x->out.len) {
		key[0] = '\0';
		(void)key_cap;
		*until = x->last_write + SSE_KEEPALIVE;
		return 0;
	}
	n = x->out.len - x->out_pos;
	if (n > max)
		n = max;
	memcpy(buf, x->out.data + x->out_pos, n);
	x->out_pos += n;
	x->last_write = clock_mono();
	return (long)n;
}

static void
sse_free(void *ud)
{
	struct sse *x = ud;

	buf_free(&x->out);
	free(x);
}

static const char *const events_params[] = { "template", "status",
	"last_event_id", NULL };

/* GET /events: task changes as Server-Sent Events, from the store's change
 * log.  Last-Event-ID (or ?last_event_id=) resumes after that event; an
 * id the log no longer has gets an "event: reset" first (re-list, then
 * follow). */
void
api_streams_events(struct app *app, struct api_req *req, struct api_resp *r)
{
	char tmpl[80], status[32], idq[32];
	json_t *errors = json_array();
	const char *tp, *st, *id = api_header(req, "last-event-id");
	int64_t first, last, from = -1;
	struct poky_error e;
	struct sse *x;

	if (!api_query_only(req, r, events_params)) {
		json_decref(errors);
		return;
	}
	tp = api_query_arg(req, "template", tmpl, sizeof(tmpl), errors);
	st = api_query_arg(req, "status", status, sizeof(status), errors);
	if (id == NULL)
		id = api_query_arg(req, "last_event_id", idq, sizeof(idq), errors);
	if (st != NULL && !api_valid_status(st))
		json_array_append_new(errors, json_pack("{s:s, s:s}", "field",
		    "status", "message", "not a task status"));
	if (id != NULL) {
		char *end;
		long long v = strtoll(id, &end, 10);

		if (*id == '\0' || *end != '\0' || v < 0)
			json_array_append_new(errors, json_pack("{s:s, s:s}", "field",
			    "Last-Event-ID", "message", "an event id from this stream"));
		from = v;
	}
	if (json_array_size(errors) > 0) {
		api_fail_fields(r, REASON_INVALID_QUERY, errors);
		return;
	}
	json_decref(errors);
	if (!req->may_wait) {
		api_fail(r, REASON_STREAMS_UNSUPPORTED, NULL, "event streams need the HTTP server");
		return;
	}
	if (store_events_range(app->store, &first, &last, &e) != POKY_OK) {
		api_fail(r, REASON_STORE, &e, "%s", e.message);
		return;
	}
	if ((x = api_stream_begin(r, sizeof(*x))) == NULL)
		return;
	x->app = app;
	if (req->token_name != NULL && !(req->scopes & AUTH_ADMIN))
		str_copy(x->owner, sizeof(x->owner), req->token_name);
	buf_init(&x->out, 64 * 1024);
	str_copy(x->tmpl, sizeof(x->tmpl), tp ? tp : "");
	str_copy(x->status, sizeof(x->status), st ? st : "");
	x->last_write = clock_mono();
	if (from < 0) {
		x->after = last;        /* from now on */
		snprintf(x->pending, sizeof(x->pending), "retry: 2000\n: stream "
		    "of task changes from id %lld\n\n", (long long)last);
	} else if (from + 1 < first || from > last) {
		/* Entries after `from` are gone (or never were): the client
		 * missed changes it can't be told of. */
		x->after = last;
		snprintf(x->pending, sizeof(x->pending), "id: %lld\nevent: reset\n"
		    "data: {\"reason\":\"last_event_id %lld is not in the change "
		    "log (it starts at %lld): list the tasks again, then follow "
		    "from here\",\"first_id\":%lld}\n\n", (long long)last,
		    (long long)from, (long long)first, (long long)first);
	} else {
		x->after = from;
		str_copy(x->pending, sizeof(x->pending), "retry: 2000\n\n");
	}
	r->stream->read = sse_read;
	r->stream->free = sse_free;
	r->stream->ud = x;
	r->status = 200;
	r->content_type = "text/event-stream";
}

struct follow {
	struct app *app;
	char id[TASK_ID_LEN + 1];
	char path[4096];
	off_t off;
	bool final_seen;                /* read to the end once after final */
};

/* The log file from off on; at its end, the task's status decides: final
 * (and read once more after that) ends the stream; otherwise wait for a
 * change of the task or FOLLOW_POLL (the file grows without telling). */
static long
follow_read(void *ud, char *buf, size_t max, char *key, size_t key_cap,
	    double *until)
{
	struct follow *x = ud;
	struct task t;
	struct poky_error e;
	ssize_t n = 0;
	int fd = open(x->path, O_RDONLY | O_CLOEXEC);
	bool final;

	if (fd >= 0) {
		n = pread(fd, buf, max, x->off);
		close(fd);
	}
	if (n > 0) {
		x->off += n;
		return (long)n;
	}
	if (x->final_seen)
		return -1;
	task_init(&t);
	final = store_get(x->app->store, x->id, &t, &e) != POKY_OK ||
	    task_status_final(t.status);
	task_cleanup(&t);
	if (final) {
		/* Its last lines may have come after the read above. */
		x->final_seen = true;
		*until = clock_mono();
	} else {
		*until = clock_mono() + FOLLOW_POLL;
	}
	str_copy(key, key_cap, x->id);
	return 0;
}

static const char *const logs_params[] = { "follow", NULL };

void
api_streams_logs(struct app *app, struct api_req *req, struct api_resp *r)
{
	struct task t;
	struct poky_error e;
	struct task_logs lg = { .fd = -1 };
	enum poky_reason why = REASON_INTERNAL;
	const struct launcher_ops *ops;
	char fv[8];
	const char *follow;

	if (!api_query_only(req, r, logs_params))
		return;
	follow = api_query(req, "follow", fv, sizeof(fv));
	if (follow != NULL && strcmp(follow, "1") != 0 &&
	    strcmp(follow, "true") != 0 && strcmp(follow, "0") != 0 &&
	    strcmp(follow, "false") != 0) {
		api_fail_fields(r, REASON_INVALID_QUERY, json_pack("[{s:s, s:s}]",
		    "field", "follow", "message", "1 or 0"));
		return;
	}
	task_init(&t);
	if (!uuid_valid(req->arg) || store_get(app->store, req->arg, &t, &e) != POKY_OK ||
	    !api_owns(req, &t)) {
		api_fail(r, REASON_NOT_FOUND, NULL, "no task '%.64s'", req->arg);
		goto out;
	}
	ops = launcher_ops(t.launcher);
	if (follow != NULL && (follow[0] == '1' || follow[0] == 't')) {
		struct follow *x;

		if (ops->follow_path == NULL || !req->may_wait) {
			api_fail(r, REASON_FOLLOW_UNSUPPORTED, NULL, "following logs "
			    "works for the local launcher only; read them without "
			    "follow");
			goto out;
		}
		if ((x = api_stream_begin(r, sizeof(*x))) == NULL)
			goto out;
		x->app = app;
		str_copy(x->id, sizeof(x->id), t.id);
		ops->follow_path(app, &t, x->path, sizeof(x->path));
		r->stream->read = follow_read;
		r->stream->free = free;
		r->stream->ud = x;
		r->status = 200;
		r->content_type = "text/plain; charset=utf-8";
		goto out;
	}
	if (ops->logs == NULL) {
		api_fail(r, REASON_LOGS_UNSUPPORTED, NULL, "the %s launcher does "
		    "not keep logs in Poky yet", launcher_kind_name(t.launcher));
		goto out;
	}
	if (ops->logs_block && req->may_defer) {
		r->defer = true;        /* CloudWatch Logs, the engine's log API */
		goto out;
	}
	if (ops->logs(app, &t, LOG_MAX_BYTES, &lg, &why, &e) != POKY_OK) {
		api_fail(r, why, &e, "%s", e.message);
		goto out;
	}
	if (lg.fd >= 0) {
		r->file_fd = lg.fd;
		r->has_file = true;
		r->file_off = lg.off;
		r->file_len = lg.len;
	} else {
		r->text = lg.text;
		r->text_len = lg.text_len;
	}
	r->status = 200;
	r->content_type = "text/plain; charset=utf-8";
out:
	task_cleanup(&t);
}
