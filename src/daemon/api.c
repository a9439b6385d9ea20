/* api.c - the route table and the handlers of pokyd's API (see api.h). */
#include <ctype.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "poky/api.h"
#include "poky/app.h"
#include "poky/auth.h"
#include "poky/awsreq.h"
#include "poky/clock.h"
#include "poky/creds.h"
#include "poky/launch.h"
#include "poky/log.h"
#include "poky/logs.h"
#include "poky/metrics.h"
#include "poky/problem.h"
#include "poky/str.h"
#include "poky/templates.h"
#include "poky/tracker.h"
#include "poky/ui.h"
#include "poky/uuid.h"
#include "poky/version.h"
#include "poky/watch.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000
#define IDEM_KEY_MAX 255
#define LOG_MAX_BYTES (8u << 20)
#define MAX_TIMEOUT_SECONDS (30L * 86400)
#define PREFER_WAIT_MAX 60              /* Prefer: wait=N is capped here */
#define WATCH_WAIT_MAX 60.0             /* ?wait= is capped here */
#define LABELS_MAX 16                   /* per record */
#define LABEL_KEY_MAX 63
#define LABEL_VALUE_MAX 255
#define LABEL_FILTERS_MAX 8             /* ?label= on one list */
#define SSE_KEEPALIVE 15.0              /* seconds between comments */
#define SSE_BATCH 64                    /* events read per store query */
#define FOLLOW_POLL 0.5                 /* a followed log is looked at */
/* /process_file answers with RunTask's answer, as the original did, so it
 * waits for the launch - this long at most, then it answers 202 with the
 * queued record. */
#define COMPAT_WAIT_SECONDS 60

extern const char poky_openapi_json[];

/* ---- responses ------------------------------------------------------------ */

void
api_resp_init(struct api_resp *r)
{
	memset(r, 0, sizeof(*r));
}

void
api_resp_cleanup(struct api_resp *r)
{
	json_decref(r->json);
	free(r->text);
	if (r->stream != NULL) {
		if (r->stream->free != NULL)
			r->stream->free(r->stream->ud);
		free(r->stream);
	}
	if (r->has_file)
		close(r->file_fd);
	memset(r, 0, sizeof(*r));
}

void
api_resp_header(struct api_resp *r, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (r->n_headers == API_MAX_RESP_HEADERS)
		return;
	str_copy(r->headers[r->n_headers].name, sizeof(r->headers[0].name), name);
	va_start(ap, fmt);
	vsnprintf(r->headers[r->n_headers].value, sizeof(r->headers[0].value), fmt, ap);
	va_end(ap);
	r->n_headers++;
}

static void
set_json(struct api_resp *r, int status, json_t *j)
{
	json_decref(r->json);
	r->status = status;
	r->json = j;
	r->content_type = NULL;
}

/* ---- requests ------------------------------------------------------------- */

const char *
api_header(const struct api_req *req, const char *name)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (str_ieq(req->headers[i].name, req->headers[i].name_len, name))
			return req->headers[i].value;
	return NULL;
}

const char *
api_query(const struct api_req *req, const char *name, char *out, size_t cap)
{
	const char *q = req->query;
	size_t nl = strlen(name);
	struct buf b;

	if (q == NULL)
		return NULL;
	while (*q) {
		size_t n = strcspn(q, "&");
		const char *eq = memchr(q, '=', n);
		size_t kl = eq ? (size_t)(eq - q) : n;

		if (kl == nl && memcmp(q, name, nl) == 0) {
			const char *v = eq ? eq + 1 : q + n;
			size_t vl = (size_t)(q + n - v);

			buf_init(&b, cap - 1);
			/* '+' is a space in a query string's form encoding. */
			for (size_t i = 0; i < vl; i++) {
				char c = v[i] == '+' ? ' ' : v[i];

				if (c == '%' && i + 2 < vl + 0 && str_hexval((unsigned char)v[i + 1]) >= 0 &&
				    str_hexval((unsigned char)v[i + 2]) >= 0) {
					c = (char)(str_hexval((unsigned char)v[i + 1]) << 4 |
					    str_hexval((unsigned char)v[i + 2]));
					i += 2;
				}
				if (buf_append_byte(&b, c) != POKY_OK) {
					buf_free(&b);
					return NULL;
				}
			}
			str_copy(out, cap, b.data ? b.data : "");
			buf_free(&b);
			return out;
		}
		q += n;
		if (*q == '&')
			q++;
	}
	return NULL;
}

int
api_json_depth(const char *s, size_t n)
{
	int depth = 0, max = 0;
	bool in_str = false;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > max)
				max = depth;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return max;
}

static bool
content_type_is(const struct api_req *req, const char *want)
{
	const char *ct = api_header(req, "content-type");
	size_t n = strlen(want);

	return ct != NULL && strncasecmp(ct, want, n) == 0 &&
	    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* Parse the body as a JSON object; answer the problem and return NULL if it
 * is not one. */
static json_t *
body_object(const struct api_req *req, struct api_resp *r)
{
	json_error_t jerr;
	json_t *j;

	if (!content_type_is(req, "application/json")) {
		api_fail(r, REASON_MEDIA_TYPE, NULL,
		    "send Content-Type: application/json");
		return NULL;
	}
	if (api_json_depth(req->body, req->body_len) > API_MAX_JSON_DEPTH) {
		api_fail(r, REASON_JSON, NULL, "nested deeper than %d levels", API_MAX_JSON_DEPTH);
		return NULL;
	}
	j = json_loadb(req->body ? req->body : "", req->body_len,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL) {
		api_fail(r, REASON_JSON, NULL, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		api_fail(r, REASON_JSON, NULL, "the body must be a JSON object");
		return NULL;
	}
	return j;
}


/* ---- query checks, shared by every route ---------------------------------- */

static bool query_has(const struct api_req *req, const char *name);

/* Answer 400 naming the first query parameter not in allowed (NULL-ended;
 * may be NULL for none): a misspelt filter must not answer with
 * everything.  True when the query is fine. */
static bool
query_only(const struct api_req *req, struct api_resp *r,
	   const char *const *allowed)
{
	const char *q = req->query;

	while (q != NULL && *q) {
		size_t n = strcspn(q, "&"), kl = strcspn(q, "=&");
		bool ok = kl == 0;      /* "&&" carries nothing */

		for (int i = 0; !ok && allowed && allowed[i]; i++)
			ok = strlen(allowed[i]) == kl &&
			    memcmp(q, allowed[i], kl) == 0;
		if (!ok) {
			json_t *errors = json_array();

			json_array_append_new(errors, json_pack("{s:s%, s:s}",
			    "field", q, kl > 64 ? (size_t)64 : kl, "message",
			    "unknown query parameter"));
			api_fail_fields(r, REASON_INVALID_QUERY, errors);
			return false;
		}
		q += n;
		if (*q == '&')
			q++;
	}
	return true;
}

/* "30s", "500ms", "2m", or a bare number of seconds; -1 when it is none of
 * these. */
static double
parse_duration(const char *v)
{
	char *end;
	double n;

	if (v == NULL || !isdigit((unsigned char)*v))
		return -1;
	n = strtod(v, &end);
	if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
		return n;
	if (strcmp(end, "ms") == 0)
		return n / 1000;
	if (strcmp(end, "m") == 0)
		return n * 60;
	return -1;
}

/* A record's entity tag: its version (updated_at changes with every
 * write, strictly increasing). */
static void
task_etag(const struct task *t, char *out, size_t cap)
{
	snprintf(out, cap, "\"%.3f\"", t->updated_at);
}

/* If-None-Match against tag: "*" or a list containing it (weak or not). */
static bool
etag_matches(const char *inm, const char *tag)
{
	size_t tl = strlen(tag);

	if (inm == NULL)
		return false;
	for (const char *p = inm; *p;) {
		p += strspn(p, " \t,");
		if (*p == '*')
			return true;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (strncmp(p, tag, tl) == 0 && (p[tl] == '\0' || p[tl] == ',' ||
		    p[tl] == ' ' || p[tl] == '\t'))
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

/* Answer a failed submit from the reason the domain gave: the field
 * errors of a 400, with the domain's message as detail; otherwise the
 * problem and the AWS error behind it. */
static void
answer_submit_error(struct api_resp *r, struct submit_result *res,
		    const struct poky_error *e)
{
	if (res->field_errors != NULL &&
	    problem_find(res->reason, e->code)->status == 400) {
		api_fail_fields(r, res->reason, res->field_errors);
		res->field_errors = NULL;
		json_object_set_new(r->json, "detail", json_string(e->message));
		return;
	}
	api_fail(r, res->reason, e, "%s", e->message);
	if (e->aws_code[0])
		json_object_set_new(r->json, "aws_error", json_string(e->aws_code));
}

/* ---- /tasks --------------------------------------------------------------- */

/* The wait=N of a Prefer header (RFC 7240: preferences separated by
 * commas, their parameters by semicolons), capped; 0 when absent or not a
 * number (an unusable preference is ignored). */
static double
prefer_wait(const struct api_req *req)
{
	const char *p = api_header(req, "prefer");

	while (p != NULL && *p != '\0') {
		p += strspn(p, " \t,");
		if (strncasecmp(p, "wait", 4) == 0) {
			const char *v = p + 4;
			long n = 0;
			int digits = 0;

			v += strspn(v, " \t");
			if (*v == '=') {
				v++;
				v += strspn(v, " \t");
				if (*v == '"')
					v++;
				for (; isdigit((unsigned char)*v) && digits < 9; v++, digits++)
					n = n * 10 + (*v - '0');
				if (digits > 0 && !isdigit((unsigned char)*v))
					return n > PREFER_WAIT_MAX ? PREFER_WAIT_MAX : (double)n;
			}
		}
		p = strchr(p, ',');
	}
	return 0;
}

static const char *const task_fields[] = { "template", "parameters",
	"callback_url", "timeout_seconds", "labels", NULL };

static bool
label_key_ok(const char *k)
{
	size_t n = strlen(k);

	if (n == 0 || n > LABEL_KEY_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)k[i]) && !strchr("._-/", k[i]))
			return false;
	return true;
}

static bool
label_value_ok(const char *v)
{
	size_t n = strlen(v);

	if (n > LABEL_VALUE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < ' ' || v[i] == 0x7f)
			return false;
	return true;
}

/* labels: an object of at most LABELS_MAX strings, with tame keys. */
static void
check_labels(json_t *v, json_t *errors)
{
	const char *k;
	json_t *x;

	if (!json_is_object(v)) {
		json_array_append_new(errors, json_pack("{s:s, s:s}", "field",
		    "labels", "message", "must be an object of strings"));
		return;
	}
	if (json_object_size(v) > LABELS_MAX) {
		json_array_append_new(errors, json_pack("{s:s, s:s}", "field",
		    "labels", "message", "at most 16 labels"));
		return;
	}
	json_object_foreach(v, k, x) {
		char field[96];

		snprintf(field, sizeof(field), "labels.%.64s", k);
		if (!label_key_ok(k))
			json_array_append_new(errors, json_pack("{s:s, s:s}", "field",
			    field, "message", "a key is 1-63 of A-Z a-z 0-9 . _ - /"));
		else if (!json_is_string(x) || !label_value_ok(json_string_value(x)))
			json_array_append_new(errors, json_pack("{s:s, s:s}", "field",
			    field, "message",
			    "a value is a string of at most 255 printable characters"));
	}
}

static void
h_tasks_post(struct app *app, struct api_req *req, struct api_resp *r)
{
	json_t *body, *errors = json_array(), *v;
	const char *key, *idem = api_header(req, "idempotency-key");
	struct submit s = { .owner = req->token_name ? req->token_name : "anonymous" };
	struct submit_result res;
	struct poky_error e = { 0 };
	struct app_conf *conf;

	if (!query_only(req, r, NULL)) {
		json_decref(errors);
		return;
	}
	if ((body = body_object(req, r)) == NULL) {
		json_decref(errors);
		return;
	}
	json_object_foreach(body, key, v) {
		bool known = false;

		for (int i = 0; task_fields[i]; i++)
			known = known || strcmp(key, task_fields[i]) == 0;
		if (!known)
			json_array_append_new(errors, json_pack("{s:s, s:s}", "field",
			    key, "message", "unknown field"));
	}
	v = json_object_get(body, "template");
	if (!json_is_string(v))
		json_array_append_new(errors, json_pack("{s:s, s:s}", "field",
		    "template", "message", "required, a string"));
	else
		s.template_name = json_string_value(v);
	v = json_object_get(body, "parameters");
	if (v != NULL && !json_is_object(v))
		json_array_append_new(errors, json_pack("{s:s, s:s}", "field",
		    "parameters", "message", "must be an object"));
	s.parameters = v;
	v = json_object_get(body, "callback_url");
	if (v != NULL && !json_is_string(v))
		json_array_append_new(errors, json_pack("{s:s, s:s}", "field",
		    "callback_url", "message", "must be a string"));
	s.callback_url = json_string_value(v);
	v = json_object_get(body, "timeout_seconds");
	if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > MAX_TIMEOUT_SECONDS))
		json_array_append_new(errors, json_pack("{s:s, s:s}", "field",
		    "timeout_seconds", "message", "must be a whole number 1..2592000"));
	else if (v != NULL)
		s.timeout_seconds = (long)json_integer_value(v);
	v = json_object_get(body, "labels");
	if (v != NULL)
		check_labels(v, errors);
	s.labels = v;
	if (idem != NULL) {
		size_t n = strlen(idem);
		bool ok = n > 0 && n <= IDEM_KEY_MAX;

		for (size_t i = 0; ok && i < n; i++)
			ok = (unsigned char)idem[i] > ' ' && (unsigned char)idem[i] < 0x7f;
		if (!ok)
			json_array_append_new(errors, json_pack("{s:s, s:s}", "field",
			    "Idempotency-Key", "message",
			    "1-255 printable ASCII characters without spaces"));
		s.idem_key = idem;
	}
	if (json_array_size(errors) > 0) {
		api_fail_fields(r, REASON_INVALID_REQUEST, errors);
		json_decref(body);
		return;
	}
	json_decref(errors);
	s.wait_seconds = prefer_wait(req);

	conf = app_config_get(app);
	if (req->may_defer && tasks_submit_blocks(conf->cfg, &s)) {
		r->defer = true;
		app_config_put(app, conf);
		json_decref(body);
		return;
	}
	submit_result_init(&res);
	if (tasks_submit(app, conf->cfg, &s, &res, &e) != POKY_OK) {
		answer_submit_error(r, &res, &e);
	} else {
		char tag[40];

		set_json(r, res.replayed ? 200 : 202, task_to_json(&res.task));
		api_resp_header(r, "Location", "/tasks/%s", res.task.id);
		task_etag(&res.task, tag, sizeof(tag));
		api_resp_header(r, "ETag", "%s", tag);
		if (res.replayed)
			api_resp_header(r, "Idempotent-Replayed", "true");
		if (!res.replayed)
			metrics_add(app->metrics, "poky_tasks_launched_total", 1,
			    "template", res.task.template_name, "launcher",
			    launcher_kind_name(res.task.launcher), METRICS_END);
	}
	app_config_put(app, conf);
	submit_result_cleanup(&res);
	json_decref(body);
}

/* Whether a watch is over: the task is final (until=final), or its version
 * differs from the one the client has (If-None-Match) or first saw. */
static bool
watch_done(const struct task *t, const char *tag, bool until_final,
	   const char *inm, const char *first)
{
	if (until_final)
		return task_status_final(t->status);
	if (inm != NULL)
		return !etag_matches(inm, tag);
	return first != NULL && first[0] != '\0' && strcmp(first, tag) != 0;
}

static const char *const task_get_params[] = { "wait", "until", NULL };

/* GET /tasks/{id}: the record, with its version as ETag.  ?wait=D parks
 * the request (no thread) until the record changes from what the client
 * has (If-None-Match, else the version first read) - or, with
 * until=final, until it is final - or D passes. */
/* Whether the caller may see task t: anonymous mode (no tokens), an admin
 * token, or the token that made it.  Another owner's task is a 404, the
 * same answer as a task that does not exist. */
static bool
owns(const struct api_req *req, const struct task *t)
{
	return req->token_name == NULL || (req->scopes & AUTH_ADMIN) ||
	    (t->created_by != NULL && strcmp(t->created_by, req->token_name) == 0);
}

/* Whether req->arg is a task the caller does not own (absent: false). */
static bool
foreign(struct app *app, const struct api_req *req)
{
	struct task t;
	struct poky_error e;
	bool yes;

	if (req->token_name == NULL || (req->scopes & AUTH_ADMIN))
		return false;
	task_init(&t);
	yes = store_get(app->store, req->arg, &t, &e) == POKY_OK && !owns(req, &t);
	task_cleanup(&t);
	return yes;
}

static void
h_task_get(struct app *app, struct api_req *req, struct api_resp *r)
{
	struct task t;
	struct poky_error e;
	char wait_s[32], until_s[16], tag[40];
	const char *wv, *uv, *inm = api_header(req, "if-none-match");
	double wait = 0;
	long long seen;
	bool until_final = false;

	if (!query_only(req, r, task_get_params))
		return;
	wv = api_query(req, "wait", wait_s, sizeof(wait_s));
	uv = api_query(req, "until", until_s, sizeof(until_s));
	if (query_has(req, "wait") && ((wait = parse_duration(wv)) < 0)) {
		api_fail_fields(r, REASON_INVALID_QUERY, json_pack("[{s:s, s:s}]",
		    "field", "wait", "message",
		    "a duration such as 30s, 500ms or 2m (at most 60s)"));
		return;
	}
	if (query_has(req, "until")) {
		if (uv == NULL || strcmp(uv, "final") != 0) {
			api_fail_fields(r, REASON_INVALID_QUERY, json_pack("[{s:s, s:s}]",
			    "field", "until", "message", "the only value is final"));
			return;
		}
		until_final = true;
	}
	if (wait > WATCH_WAIT_MAX)
		wait = WATCH_WAIT_MAX;
	/* Before the read: a change after it wakes the park at once. */
	seen = app->watch ? watch_seq(app->watch) : 0;
	task_init(&t);
	if (!uuid_valid(req->arg)) {
		api_fail(r, REASON_NOT_FOUND, NULL, "no task '%.64s'", req->arg);
		goto out;
	} else if (store_get(app->store, req->arg, &t, &e) != POKY_OK) {
		if (e.code == POKY_ERR_NOTFOUND)
			api_fail(r, REASON_NOT_FOUND, NULL, "no task '%s'", req->arg);
		else
			api_fail(r, REASON_STORE, &e, "%s", e.message);
		goto out;
	} else if (!owns(req, &t)) {
		/* Another owner's task: the same answer as none at all. */
		api_fail(r, REASON_NOT_FOUND, NULL, "no task '%s'", req->arg);
		goto out;
	}
	task_etag(&t, tag, sizeof(tag));
	if (wait > 0 && req->may_wait && (req->wait_until == 0 ||
	    clock_mono() < req->wait_until) && !watch_done(&t, tag, until_final,
	    inm, req->wait_etag)) {
		r->wait = true;
		str_copy(r->wait_key, sizeof(r->wait_key), t.id);
		r->wait_seen = seen;
		r->wait_until = req->wait_until > 0 ? req->wait_until :
		    clock_mono() + wait;
		str_copy(r->wait_etag, sizeof(r->wait_etag),
		    req->wait_etag && req->wait_etag[0] ? req->wait_etag : tag);
		goto out;
	}
	api_resp_header(r, "ETag", "%s", tag);
	if (etag_matches(inm, tag)) {
		r->status = 304;        /* no body */
		goto out;
	}
	set_json(r, 200, task_to_json(&t));
out:
	task_cleanup(&t);
}

struct list_ctx {
	json_t *arr;
	char last[TASK_ID_LEN + 1];
	const struct api_req *req;
	long seen;
};

/* Another owner's tasks are left out of the page; the cursor still moves
 * past them (a page may hold fewer than limit, next_cursor says more). */
static int
list_one(void *ud, const struct task *t)
{
	struct list_ctx *c = ud;

	if (owns(c->req, t))
		json_array_append_new(c->arr, task_to_json(t));
	str_copy(c->last, sizeof(c->last), t->id);
	c->seen++;
	return 0;
}

static const char *const task_statuses[] = { TS_QUEUED, TS_STARTING,
	TS_RUNNING, TS_SUCCEEDED, TS_FAILED, TS_CANCELLED, TS_LOST, NULL };

static bool
valid_status(const char *s)
{
	for (int i = 0; task_statuses[i]; i++)
		if (strcmp(s, task_statuses[i]) == 0)
			return true;
	return false;
}

/* Whether the query names a parameter at all (api_query also answers NULL
 * for a value that does not fit its buffer). */
static bool
query_has(const struct api_req *req, const char *name)
{
	const char *q = req->query;
	size_t nl = strlen(name);

	while (q != NULL && *q) {
		size_t n = strcspn(q, "&");

		if (n >= nl && memcmp(q, name, nl) == 0 && (n == nl || q[nl] == '='))
			return true;
		q += n;
		if (*q == '&')
			q++;
	}
	return false;
}

/* A query parameter into out; NULL when absent.  One too long for out is
 * refused (added to errors) rather than taken as absent: ignoring a filter
 * would answer with tasks the caller did not ask for. */
static const char *
query_arg(const struct api_req *req, const char *name, char *out, size_t cap,
	  json_t *errors)
{
	const char *v = api_query(req, name, out, cap);

	if (v == NULL && query_has(req, name))
		json_array_append_new(errors, json_pack("{s:s, s:s}", "field", name,
		    "message", "too long"));
	return v;
}

static const char *const list_params[] = { "status", "template", "cursor",
	"limit", "label", NULL };

/* Every ?label=k=v of the query (AND), as an object; bad ones go to
 * errors. */
static json_t *
label_filters(const struct api_req *req, json_t *errors)
{
	json_t *o = json_object();
	const char *q = req->query;
	int n = 0;

	while (q != NULL && *q) {
		size_t len = strcspn(q, "&");

		if (len > 6 && strncmp(q, "label=", 6) == 0) {
			struct api_req one = { .query = NULL };
			char pair[LABEL_KEY_MAX + LABEL_VALUE_MAX + 8], *eq;
			char raw[3 * (LABEL_KEY_MAX + LABEL_VALUE_MAX + 8)];

			/* api_query decodes the first "label" of a query: give it
			 * this one alone. */
			if (len >= sizeof(raw) || ++n > LABEL_FILTERS_MAX) {
				json_array_append_new(errors, json_pack("{s:s, s:s}",
				    "field", "label", "message", n > LABEL_FILTERS_MAX ?
				    "at most 8 label filters" : "too long"));
				break;
			}
			memcpy(raw, q, len);
			raw[len] = '\0';
			one.query = raw;
			if (api_query(&one, "label", pair, sizeof(pair)) == NULL ||
			    (eq = strchr(pair, '=')) == NULL) {
				json_array_append_new(errors, json_pack("{s:s, s:s}",
				    "field", "label", "message", "must be key=value"));
				break;
			}
			*eq = '\0';
			if (!label_key_ok(pair) || !label_value_ok(eq + 1)) {
				json_array_append_new(errors, json_pack("{s:s, s:s}",
				    "field", "label", "message", "not a valid label"));
				break;
			}
			json_object_set_new(o, pair, json_string(eq + 1));
		} else if (len >= 5 && strncmp(q, "label", 5) == 0 &&
		    (len == 5 || q[5] == '=')) {
			json_array_append_new(errors, json_pack("{s:s, s:s}", "field",
			    "label", "message", "must be key=value"));
			break;
		}
		q += len;
		if (*q == '&')
			q++;
	}
	return o;
}

static void
h_tasks_list(struct app *app, struct api_req *req, struct api_resp *r)
{
	char status[32], tmpl[80], cursor[80], lim[16], *end;
	json_t *errors = json_array();
	const char *st = query_arg(req, "status", status, sizeof(status), errors);
	const char *tp = query_arg(req, "template", tmpl, sizeof(tmpl), errors);
	const char *cur = query_arg(req, "cursor", cursor, sizeof(cursor), errors);
	const char *ls = query_arg(req, "limit", lim, sizeof(lim), errors);
	struct list_ctx c = { .arr = NULL, .req = req };
	struct poky_error e;
	long limit = LIST_DEFAULT;
	json_t *labels = NULL;
	char *labels_text = NULL;

	if (!query_only(req, r, list_params)) {
		json_decref(errors);
		return;
	}
	labels = label_filters(req, errors);

	if (st != NULL && !valid_status(st))
		json_array_append_new(errors, json_pack("{s:s, s:s}", "field",
		    "status", "message", "not a task status"));
	if (ls != NULL) {
		limit = strtol(ls, &end, 10);
		/* strtol skips spaces and takes a sign: " 5" is not a limit. */
		if (!isdigit((unsigned char)*ls) || *end != '\0' || limit < 1 ||
		    limit > LIST_MAX)
			json_array_append_new(errors, json_pack("{s:s, s:s}", "field",
			    "limit", "message", "must be 1..1000"));
	}
	if (cur != NULL && *cur != '\0' && !uuid_valid(cur))
		json_array_append_new(errors, json_pack("{s:s, s:s}", "field",
		    "cursor", "message", "not a cursor from this API"));
	if (json_array_size(errors) > 0) {
		api_fail_fields(r, REASON_INVALID_QUERY, errors);
		json_decref(labels);
		return;
	}
	json_decref(errors);
	if (labels != NULL && json_object_size(labels) > 0)
		labels_text = json_dumps(labels, JSON_COMPACT);
	json_decref(labels);
	c.arr = json_array();
	if (store_list_labeled(app->store, st, tp, labels_text, cur, (int)limit,
	    list_one, &c, &e) != POKY_OK) {
		free(labels_text);
		json_decref(c.arr);
		api_fail(r, REASON_STORE, &e, "%s", e.message);
		return;
	}
	free(labels_text);
	set_json(r, 200, json_pack("{s:o, s:o}", "tasks", c.arr, "next_cursor",
	    c.seen == limit ? json_string(c.last) :
	    json_null()));
}

static void
h_task_delete(struct app *app, struct api_req *req, struct api_resp *r)
{
	struct task t;
	struct poky_error e;

	if (!query_only(req, r, NULL))
		return;
	/* A cancel may call StopTask or the Docker engine. */
	if (req->may_defer && uuid_valid(req->arg)) {
		r->defer = true;
		return;
	}
	task_init(&t);
	if (!uuid_valid(req->arg) || foreign(app, req)) {
		api_fail(r, REASON_NOT_FOUND, NULL, "no task '%.64s'", req->arg);
	} else if (tasks_cancel(app, req->arg, req->token_name, &t, &e) == POKY_OK) {
		char tag[40];

		set_json(r, 202, task_to_json(&t));
		task_etag(&t, tag, sizeof(tag));
		api_resp_header(r, "ETag", "%s", tag);
		tracker_kick(app->tracker);
	} else if (e.code == POKY_ERR_NOTFOUND) {
		api_fail(r, REASON_NOT_FOUND, NULL, "no task '%s'", req->arg);
	} else {
		api_fail(r, REASON_CANCEL, &e, "%s", e.message);
	}
	task_cleanup(&t);
}

/* An ECS task's output: its CloudWatch Logs stream (network I/O, so on an
 * offload thread), the last LOG_MAX_BYTES of it. */
static void
ecs_logs(struct app *app, struct api_req *req, struct api_resp *r,
	 const struct task *t)
{
	struct aws_client *aws;
	struct poky_error e;
	enum poky_err rc;

	if (t->ecs_log_group == NULL || t->ecs_log_stream == NULL) {
		api_fail(r, REASON_LOGS_UNKNOWN, NULL, "%s",
		    t->ecs_task_arn == NULL ? "the task has not been launched" :
		    "where this task logs is unknown: give its template "
		    "log_group and log_stream_prefix, or use the awslogs driver "
		    "with a stream prefix");
		return;
	}
	if (req->may_defer) {
		r->defer = true;        /* GetLogEvents */
		return;
	}
	if ((aws = app_aws(app, &e)) == NULL)
		rc = e.code;
	else
		rc = logs_read_stream(aws, t->ecs_log_group, t->ecs_log_stream,
		    LOG_MAX_BYTES, &r->text, &r->text_len, &e);
	if (rc == POKY_OK || rc == POKY_ERR_NOTFOUND) {
		/* No stream yet: the task has not written anything. */
		if (rc == POKY_ERR_NOTFOUND && (r->text = strdup("")) != NULL)
			r->text_len = 0;
		r->status = 200;
		r->content_type = "text/plain; charset=utf-8";
	} else {
		e.code = rc;
		api_fail(r, REASON_LOGS_CWL, &e, "%s", e.message);
	}
}


/* ---- streams: GET /events, GET /tasks/{id}/logs?follow=1 ------------------ */

/* A streamed answer's r->stream and its state (size bytes, zeroed): the
 * state, or NULL with the 503 answered. */
static void *
stream_begin(struct api_resp *r, size_t size)
{
	void *x = calloc(1, size);

	r->stream = calloc(1, sizeof(*r->stream));
	if (x == NULL || r->stream == NULL) {
		free(x);
		free(r->stream);
		r->stream = NULL;
		api_fail(r, REASON_NOMEM, NULL, "try again");
		return NULL;
	}
	return x;
}

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
static void
h_events(struct app *app, struct api_req *req, struct api_resp *r)
{
	char tmpl[80], status[32], idq[32];
	json_t *errors = json_array();
	const char *tp, *st, *id = api_header(req, "last-event-id");
	int64_t first, last, from = -1;
	struct poky_error e;
	struct sse *x;

	if (!query_only(req, r, events_params)) {
		json_decref(errors);
		return;
	}
	tp = query_arg(req, "template", tmpl, sizeof(tmpl), errors);
	st = query_arg(req, "status", status, sizeof(status), errors);
	if (id == NULL)
		id = query_arg(req, "last_event_id", idq, sizeof(idq), errors);
	if (st != NULL && !valid_status(st))
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
	if ((x = stream_begin(r, sizeof(*x))) == NULL)
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

static void
h_task_logs(struct app *app, struct api_req *req, struct api_resp *r)
{
	struct task t;
	struct poky_error e;
	char path[4096];
	FILE *f;
	struct stat st;
	long start = 0;
	char fv[8];
	const char *follow;

	if (!query_only(req, r, logs_params))
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
	    !owns(req, &t)) {
		api_fail(r, REASON_NOT_FOUND, NULL, "no task '%.64s'", req->arg);
		goto out;
	}
	if (follow != NULL && (follow[0] == '1' || follow[0] == 't')) {
		struct follow *x;

		if (t.launcher != LAUNCHER_LOCAL || !req->may_wait) {
			api_fail(r, REASON_FOLLOW_UNSUPPORTED, NULL, "following logs works for the local launcher only; "
			    "read them without follow");
			goto out;
		}
		if ((x = stream_begin(r, sizeof(*x))) == NULL)
			goto out;
		x->app = app;
		str_copy(x->id, sizeof(x->id), t.id);
		local_log_path(app, t.id, x->path, sizeof(x->path));
		r->stream->read = follow_read;
		r->stream->free = free;
		r->stream->ud = x;
		r->status = 200;
		r->content_type = "text/plain; charset=utf-8";
		goto out;
	}
	if (t.launcher == LAUNCHER_DOCKER) {
		if (req->may_defer) {
			r->defer = true;        /* the engine's log API */
			goto out;
		}
		if (docker_logs(app, &t, LOG_MAX_BYTES, &r->text, &r->text_len,
		    &e) == POKY_OK) {
			r->status = 200;
			r->content_type = "text/plain; charset=utf-8";
		} else {
			api_fail(r, REASON_LOGS_DOCKER, &e, "%s", e.message);
		}
		goto out;
	}
	if (t.launcher == LAUNCHER_ECS) {
		ecs_logs(app, req, r, &t);
		goto out;
	}
	if (t.launcher != LAUNCHER_LOCAL) {
		api_fail(r, REASON_LOGS_UNSUPPORTED, NULL, "the %s launcher does not keep logs in Poky yet",
		    launcher_kind_name(t.launcher));
		goto out;
	}
	local_log_path(app, t.id, path, sizeof(path));
	f = fopen(path, "rb");
	if (f == NULL || fstat(fileno(f), &st) != 0) {
		if (f)
			fclose(f);
		r->status = 200;
		r->content_type = "text/plain; charset=utf-8";
		r->text = strdup("");
		r->text_len = 0;
		goto out;
	}
	/* The tail of a large log: the end is what people look for.  The
	 * file is streamed from its descriptor (bounded memory per answer,
	 * whatever the number of slow readers). */
	if (st.st_size > (off_t)LOG_MAX_BYTES)
		start = (long)(st.st_size - (off_t)LOG_MAX_BYTES);
	r->file_fd = dup(fileno(f));
	fclose(f);
	if (r->file_fd < 0) {
		api_fail(r, REASON_LOG_UNREADABLE, NULL, "cannot open the log");
		goto out;
	}
	r->has_file = true;
	r->file_off = (unsigned long long)start;
	r->file_len = (unsigned long long)(st.st_size - start);
	r->status = 200;
	r->content_type = "text/plain; charset=utf-8";
out:
	task_cleanup(&t);
}

/* ---- templates ------------------------------------------------------------ */

static void
h_templates(struct app *app, struct api_req *req, struct api_resp *r)
{
	struct app_conf *conf = app_config_get(app);
	json_t *arr = json_array();

	(void)req;
	for (size_t i = 0; i < conf->cfg->n_templates; i++)
		json_array_append_new(arr, tmpl_to_json(conf->cfg->templates[i]));
	app_config_put(app, conf);
	set_json(r, 200, json_pack("{s:o}", "templates", arr));
}

static void
h_template(struct app *app, struct api_req *req, struct api_resp *r)
{
	struct app_conf *conf = app_config_get(app);
	const struct tmpl *t = config_template(conf->cfg, req->arg);

	if (t == NULL)
		api_fail(r, REASON_NOT_FOUND, NULL, "no template '%.64s'", req->arg);
	else
		set_json(r, 200, tmpl_to_json(t));
	app_config_put(app, conf);
}

/* ---- /process_file: the original Poky's one route --------------------------- */

/* Parse application/x-www-form-urlencoded into a JSON object of strings. */
static json_t *
form_object(const char *s, size_t n)
{
	json_t *o = json_object();
	struct buf k, v;
	size_t i = 0;

	buf_init(&k, 4096);
	buf_init(&v, 65536);
	while (o != NULL && i < n) {
		size_t j = i;
		struct buf *cur = &k;

		buf_reset(&k);
		buf_reset(&v);
		for (; j < n && s[j] != '&'; j++) {
			char c = s[j];

			if (c == '=' && cur == &k) {
				cur = &v;
				continue;
			}
			if (c == '+')
				c = ' ';
			else if (c == '%' && j + 2 < n && str_hexval((unsigned char)s[j + 1]) >= 0 &&
			    str_hexval((unsigned char)s[j + 2]) >= 0) {
				c = (char)(str_hexval((unsigned char)s[j + 1]) << 4 |
				    str_hexval((unsigned char)s[j + 2]));
				j += 2;
			}
			if (buf_append_byte(cur, c) != POKY_OK) {
				json_decref(o);
				o = NULL;
				break;
			}
		}
		if (o != NULL && k.len > 0 && json_object_get(o, k.data) == NULL)
			json_object_set_new(o, k.data, json_stringn(v.data ? v.data : "",
			    v.len));
		i = j + 1;
	}
	buf_free(&k);
	buf_free(&v);
	return o;
}

/* Flask answered errors with a JSON string; keep that shape. */
static void
compat_error(struct api_resp *r, int status, const char *msg)
{
	set_json(r, status, json_string(msg));
}

/* A RunTask-shaped answer for a task that did not go to ECS, so the
 * original's clients find tasks[0].overrides where they look.  Only the
 * parameters sent: the template's fixed env (a local root, say) is the
 * server's business. */
static json_t *
compat_run_response(const struct task *t, const struct tmpl *tp,
		    const json_t *params)
{
	json_t *envj = json_array();

	for (size_t i = 0; i < tp->n_params; i++) {
		const char *v = json_string_value(json_object_get(params,
		    tp->params[i].name));

		if (v != NULL)
			json_array_append_new(envj, json_pack("{s:s, s:s}", "name",
			    tp->params[i].env, "value", v));
	}
	return json_pack("{s:[{s:s, s:s, s:s, s:s, s:{s:[{s:s, s:o}]}}], s:[], s:s}",
	    "tasks", "taskArn", t->id, "launchType", "LOCAL", "lastStatus",
	    "PROVISIONING", "group", t->template_name, "overrides",
	    "containerOverrides", "name", tp->name, "environment", envj,
	    "failures", "pokyTaskId", t->id);
}

static void
h_process_file(struct app *app, struct api_req *req, struct api_resp *r)
{
	struct app_conf *conf = app_config_get(app);
	const struct tmpl *tp = config_template(conf->cfg, "process_file");
	json_t *params = NULL, *sent = NULL;
	struct submit s = { .template_name = "process_file",
		.owner = req->token_name ? req->token_name : "anonymous",
		.compat = true };
	struct submit_result res;
	struct poky_error e = { 0 };
	char q[4096];
	struct buf list;
	bool missing = false, first = true;

	submit_result_init(&res);
	buf_init(&list, 16384);
	if (tp == NULL) {
		api_fail(r, REASON_NOT_FOUND, NULL,
		    "no template 'process_file' is configured");
		goto out;
	}
	if (content_type_is(req, "application/json")) {
		if ((sent = body_object(req, r)) == NULL)
			goto out;
	} else {
		/* Flask's request.values: the form body and the query string. */
		sent = form_object(req->body ? req->body : "", req->body_len);
		if (sent == NULL) {
			compat_error(r, 400, "Malformed form body");
			goto out;
		}
	}
	params = json_object();
	/* The original's text: "Missing required field.  Required fields are
	 * ['a', 'b']" (a Python list's repr; the names are [A-Za-z0-9_-]). */
	buf_printf(&list, "Missing required field.  Required fields are [");
	for (size_t i = 0; i < tp->n_params; i++) {
		const struct tmpl_param *p = &tp->params[i];
		const json_t *v = json_object_get(sent, p->name);
		const char *qv = api_query(req, p->name, q, sizeof(q));

		if (p->required) {
			buf_printf(&list, "%s'%s'", first ? "" : ", ", p->name);
			first = false;
		}
		if (json_is_string(v))
			json_object_set(params, p->name, (json_t *)v);
		else if (qv != NULL)
			json_object_set_new(params, p->name, json_string(qv));
		else if (p->required)
			missing = true;
	}
	if (missing) {
		if (buf_printf(&list, "]") != POKY_OK) {
			api_fail(r, REASON_NOMEM, NULL, "cannot answer");
			goto out;
		}
		compat_error(r, 400, list.data);
		goto out;
	}
	s.parameters = params;
	if (tp->launcher == LAUNCHER_ECS)
		s.wait_seconds = COMPAT_WAIT_SECONDS;
	if (req->may_defer && tasks_submit_blocks(conf->cfg, &s)) {
		r->defer = true;
		goto out;
	}
	if (tasks_submit(app, conf->cfg, &s, &res, &e) != POKY_OK) {
		if (problem_find(res.reason, e.code)->status == 400)
			compat_error(r, 400, e.message);
		else
			answer_submit_error(r, &res, &e);
		goto out;
	}
	metrics_add(app->metrics, "poky_tasks_launched_total", 1, "template",
	    res.task.template_name, "launcher", launcher_kind_name(res.task.launcher),
	    METRICS_END);
	if (res.launch == LAUNCH_WAITING || res.launch == LAUNCH_GONE) {
		/* Not launched within the wait (a long queue), or cancelled
		 * before it launched: the record says what happens next. */
		set_json(r, 202, task_to_json(&res.task));
	} else if (res.run_response != NULL) {
		set_json(r, 200, res.run_response);
		res.run_response = NULL;
	} else {
		set_json(r, 200, compat_run_response(&res.task, tp, params));
	}
	api_resp_header(r, "Location", "/tasks/%s", res.task.id);
out:
	json_decref(params);
	json_decref(sent);
	submit_result_cleanup(&res);
	buf_free(&list);
	app_config_put(app, conf);
}

/* ---- health, metrics, documents ------------------------------------------ */

static void
h_healthz(struct app *app, struct api_req *req, struct api_resp *r)
{
	(void)app;
	(void)req;
	set_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

static void
h_readyz(struct app *app, struct api_req *req, struct api_resp *r)
{
	struct app_conf *conf = app_config_get(app);
	bool store_ok = store_writable(app->store), creds_ok = true, needs_aws = false;
	bool docker_ok = true, ready;
	json_t *checks;

	for (size_t i = 0; i < conf->cfg->n_templates; i++)
		needs_aws = needs_aws || conf->cfg->templates[i]->launcher == LAUNCHER_ECS;
	checks = json_pack("{s:b, s:b}", "store_writable", store_ok,
	    "config_loaded", 1);
	if (needs_aws) {
		struct poky_error e;
		struct aws_client *aws = app_aws(app, &e);
		struct aws_creds c;

		memset(&c, 0, sizeof(c));
		creds_ok = aws != NULL && creds_get(aws_client_creds(aws), &c, &e) == POKY_OK;
		creds_clear(&c);
		json_object_set_new(checks, "credentials", json_boolean(creds_ok));
		if (!creds_ok)
			json_object_set_new(checks, "credentials_error",
			    json_string(e.message));
	}
	/* Every docker template's engine answers _ping. */
	for (size_t i = 0; i < conf->cfg->n_templates; i++) {
		const struct tmpl *t = conf->cfg->templates[i];
		struct poky_error e;

		if (t->launcher != LAUNCHER_DOCKER)
			continue;
		if (docker_ok && docker_ping(t, &e) != POKY_OK) {
			docker_ok = false;
			json_object_set_new(checks, "docker_engine_error",
			    json_string(e.message));
		}
		json_object_set_new(checks, "docker_engine", json_boolean(docker_ok));
	}
	app_config_put(app, conf);
	/* Open to probes, but what failed (credential chains, file paths,
	 * engine addresses) only to a token, or when there are none. */
	if (req->token_name == NULL && req->scopes != AUTH_ALL) {
		json_object_del(checks, "credentials_error");
		json_object_del(checks, "docker_engine_error");
	}
	ready = store_ok && creds_ok && docker_ok;
	set_json(r, ready ? 200 : 503, json_pack("{s:s, s:o}",
	    "status", ready ? "ready" : "not ready", "checks", checks));
}

static void
h_metrics(struct app *app, struct api_req *req, struct api_resp *r)
{
	json_t *counts = store_counts(app->store);

	(void)req;
	/* Task gauges come from the store, so they are right after restarts;
	 * a status with no task left reads 0, not its last count. */
	for (int i = 0; task_statuses[i]; i++)
		metrics_set(app->metrics, "poky_tasks", (double)json_integer_value(
		    json_object_get(counts, task_statuses[i])), "status",
		    task_statuses[i], METRICS_END);
	metrics_set(app->metrics, "poky_tasks_running", (double)json_integer_value(
	    json_object_get(counts, TS_RUNNING)), METRICS_END);
	json_decref(counts);
	metrics_set(app->metrics, "poky_uptime_seconds",
	    (double)(time(NULL) - app->started), METRICS_END);
	metrics_set(app->metrics, "poky_store_deferred_failures_total",
	    (double)store_deferred_failures(app->store), METRICS_END);
	metrics_collect_process(app->metrics);
	r->text = metrics_render(app->metrics, &r->text_len);
	if (r->text == NULL) {
		api_fail(r, REASON_NOMEM, NULL, "cannot render the metrics");
		return;
	}
	r->status = 200;
	r->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

static void
h_openapi(struct app *app, struct api_req *req, struct api_resp *r)
{
	json_error_t jerr;

	(void)app;
	(void)req;
	set_json(r, 200, json_loads(poky_openapi_json, 0, &jerr));
	if (r->json == NULL)
		api_fail(r, REASON_INTERNAL, NULL, "OpenAPI document broken");
}

/* ---- the web console ------------------------------------------------------ */

/* Open routes: the page itself holds no data; the API calls it makes carry
 * the user's token. */
static void
h_ui(struct app *app, struct api_req *req, struct api_resp *r)
{
	(void)app;
	ui_serve(req->arg, req, r);
}

/* /ui without its slash: the page's relative links need the directory. */
static void
h_ui_redirect(struct app *app, struct api_req *req, struct api_resp *r)
{
	(void)app;
	(void)req;
	r->status = 308;
	api_resp_header(r, "Location", "/ui/");
}

/* ---- routes --------------------------------------------------------------- */

/* Routes that take no query parameter refuse any (400), as the others
 * refuse those they do not know. */
#define NO_QUERY(h) \
	static void h##_nq(struct app *app, struct api_req *req, \
			   struct api_resp *r) \
	{ \
		if (query_only(req, r, NULL)) \
			h(app, req, r); \
	}
NO_QUERY(h_templates)
NO_QUERY(h_template)
NO_QUERY(h_healthz)
NO_QUERY(h_readyz)
NO_QUERY(h_metrics)
NO_QUERY(h_openapi)

const struct api_route api_routes[] = {
	{ "POST", "/tasks", h_tasks_post, false, AUTH_SUBMIT },
	{ "GET", "/tasks", h_tasks_list, false, AUTH_READ },
	{ "GET", "/tasks/{id}", h_task_get, false, AUTH_READ },
	{ "DELETE", "/tasks/{id}", h_task_delete, false, AUTH_CANCEL },
	{ "GET", "/tasks/{id}/logs", h_task_logs, false, AUTH_READ },
	{ "GET", "/events", h_events, false, AUTH_READ },
	{ "GET", "/templates", h_templates_nq, false, AUTH_READ | AUTH_SUBMIT },
	{ "GET", "/templates/{name}", h_template_nq, false,
	  AUTH_READ | AUTH_SUBMIT },
	{ "POST", "/process_file", h_process_file, false, AUTH_SUBMIT },
	{ "GET", "/healthz", h_healthz_nq, true, 0 },
	{ "GET", "/readyz", h_readyz_nq, true, 0 },
	{ "GET", "/metrics", h_metrics_nq, false, AUTH_METRICS },
	{ "GET", "/openapi.json", h_openapi_nq, false, 0 },
	{ "GET", "/ui", h_ui_redirect, true, 0 },
	{ "GET", "/ui/", h_ui, true, 0 },
	{ "GET", "/ui/{file}", h_ui, true, 0 },
	{ NULL, NULL, NULL, false, 0 },
};

/* pattern "/a/{x}/b" against path; the {x} segment goes to arg. */
static bool
path_match(const char *pattern, const char *path, char *arg, size_t cap)
{
	while (*pattern && *path) {
		if (*pattern == '{') {
			const char *pe = strchr(pattern, '}');
			size_t n = strcspn(path, "/");

			if (pe == NULL || n == 0 || n >= cap)
				return false;
			memcpy(arg, path, n);
			arg[n] = '\0';
			pattern = pe + 1;
			path += n;
			continue;
		}
		if (*pattern != *path)
			return false;
		pattern++;
		path++;
	}
	return *pattern == '\0' && *path == '\0';
}

const struct api_route *
api_match(const char *method, const char *path, char *arg, size_t arg_cap,
	  bool *path_known, char *allow, size_t allow_cap)
{
	char tmp[API_MAX_PATH_ARG] = "";    /* stays "" for routes without {arg} */
	size_t pos = 0;

	*path_known = false;
	if (allow_cap > 0)
		allow[0] = '\0';
	for (const struct api_route *rt = api_routes; rt->method; rt++) {
		if (!path_match(rt->pattern, path, tmp, sizeof(tmp)))
			continue;
		if (strcmp(rt->method, method) == 0 ||
		    (strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)) {
			str_copy(arg, arg_cap, tmp);
			return rt;
		}
		*path_known = true;
		pos += (size_t)snprintf(allow + pos, pos < allow_cap ? allow_cap - pos : 0,
		    "%s%s", pos ? ", " : "", rt->method);
	}
	return NULL;
}
