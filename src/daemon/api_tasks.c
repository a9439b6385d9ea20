/* api_tasks.c - /tasks: submit (POST), read and watch (GET /tasks/{id}),
 * list (GET /tasks), cancel (DELETE).  Thin: the body and query are checked
 * here, the work is tasks.c's, the error answers problem.c's. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "poky/api.h"
#include "poky/api_internal.h"
#include "poky/app.h"
#include "poky/auth.h"
#include "poky/clock.h"
#include "poky/launch.h"
#include "poky/metrics.h"
#include "poky/problem.h"
#include "poky/str.h"
#include "poky/tracker.h"
#include "poky/uuid.h"
#include "poky/watch.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000
#define IDEM_KEY_MAX 255
#define MAX_TIMEOUT_SECONDS (30L * 86400)
#define PREFER_WAIT_MAX 60              /* Prefer: wait=N is capped here */
#define WATCH_WAIT_MAX 60.0             /* ?wait= is capped here */
#define LABELS_MAX 16                   /* per record */
#define LABEL_KEY_MAX 63
#define LABEL_VALUE_MAX 255
#define LABEL_FILTERS_MAX 8             /* ?label= on one list */

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

void
api_tasks_post(struct app *app, struct api_req *req, struct api_resp *r)
{
	json_t *body, *errors = json_array(), *v;
	const char *key, *idem = api_header(req, "idempotency-key");
	struct submit s = { .owner = req->token_name ? req->token_name : "anonymous" };
	struct submit_result res;
	struct poky_error e = { 0 };
	struct app_conf *conf;

	if (!api_query_only(req, r, NULL)) {
		json_decref(errors);
		return;
	}
	if ((body = api_body_object(req, r)) == NULL) {
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
		api_answer_submit_error(r, &res, &e);
	} else {
		char tag[40];

		api_set_json(r, res.replayed ? 200 : 202, task_to_json(&res.task));
		api_resp_header(r, "Location", "/tasks/%s", res.task.id);
		api_task_etag(&res.task, tag, sizeof(tag));
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
		return !api_etag_matches(inm, tag);
	return first != NULL && first[0] != '\0' && strcmp(first, tag) != 0;
}

static const char *const task_get_params[] = { "wait", "until", NULL };

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
	yes = store_get(app->store, req->arg, &t, &e) == POKY_OK && !api_owns(req, &t);
	task_cleanup(&t);
	return yes;
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

/* GET /tasks/{id}: the record, with its version as ETag.  ?wait=D parks
 * the request (no thread) until the record changes from what the client
 * has (If-None-Match, else the version first read) - or, with
 * until=final, until it is final - or D passes. */
void
api_tasks_get(struct app *app, struct api_req *req, struct api_resp *r)
{
	struct task t;
	struct poky_error e;
	char wait_s[32], until_s[16], tag[40];
	const char *wv, *uv, *inm = api_header(req, "if-none-match");
	double wait = 0;
	long long seen;
	bool until_final = false;

	if (!api_query_only(req, r, task_get_params))
		return;
	wv = api_query(req, "wait", wait_s, sizeof(wait_s));
	uv = api_query(req, "until", until_s, sizeof(until_s));
	if (api_query_has(req, "wait") && ((wait = parse_duration(wv)) < 0)) {
		api_fail_fields(r, REASON_INVALID_QUERY, json_pack("[{s:s, s:s}]",
		    "field", "wait", "message",
		    "a duration such as 30s, 500ms or 2m (at most 60s)"));
		return;
	}
	if (api_query_has(req, "until")) {
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
	} else if (!api_owns(req, &t)) {
		/* Another owner's task: the same answer as none at all. */
		api_fail(r, REASON_NOT_FOUND, NULL, "no task '%s'", req->arg);
		goto out;
	}
	api_task_etag(&t, tag, sizeof(tag));
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
	if (api_etag_matches(inm, tag)) {
		r->status = 304;        /* no body */
		goto out;
	}
	api_set_json(r, 200, task_to_json(&t));
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

	if (api_owns(c->req, t))
		json_array_append_new(c->arr, task_to_json(t));
	str_copy(c->last, sizeof(c->last), t->id);
	c->seen++;
	return 0;
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

void
api_tasks_list(struct app *app, struct api_req *req, struct api_resp *r)
{
	char status[32], tmpl[80], cursor[80], lim[16], *end;
	json_t *errors = json_array();
	const char *st = api_query_arg(req, "status", status, sizeof(status), errors);
	const char *tp = api_query_arg(req, "template", tmpl, sizeof(tmpl), errors);
	const char *cur = api_query_arg(req, "cursor", cursor, sizeof(cursor), errors);
	const char *ls = api_query_arg(req, "limit", lim, sizeof(lim), errors);
	struct list_ctx c = { .arr = NULL, .req = req };
	struct poky_error e;
	long limit = LIST_DEFAULT;
	json_t *labels = NULL;
	char *labels_text = NULL;

	if (!api_query_only(req, r, list_params)) {
		json_decref(errors);
		return;
	}
	labels = label_filters(req, errors);

	if (st != NULL && !api_valid_status(st))
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
	api_set_json(r, 200, json_pack("{s:o, s:o}", "tasks", c.arr, "next_cursor",
	    c.seen == limit ? json_string(c.last) :
	    json_null()));
}

void
api_tasks_delete(struct app *app, struct api_req *req, struct api_resp *r)
{
	struct task t;
	struct poky_error e;

	if (!api_query_only(req, r, NULL))
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

		api_set_json(r, 202, task_to_json(&t));
		api_task_etag(&t, tag, sizeof(tag));
		api_resp_header(r, "ETag", "%s", tag);
		tracker_kick(app->tracker);
	} else if (e.code == POKY_ERR_NOTFOUND) {
		api_fail(r, REASON_NOT_FOUND, NULL, "no task '%s'", req->arg);
	} else {
		api_fail(r, REASON_CANCEL, &e, "%s", e.message);
	}
	task_cleanup(&t);
}
