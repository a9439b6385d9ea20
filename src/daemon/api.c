/* api.c - the route table, and what every handler shares: requests and
 * answers, body and query checks, entity tags, ownership (see api.h).
 * The handlers live one file per resource: api_tasks.c (/tasks),
 * api_streams.c (/events, /tasks/{id}/logs), api_compat.c (/process_file),
 * api_ops.c (templates, health, metrics, documents, the console); every
 * error answer comes from the registry in problem.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "poky/api.h"
#include "poky/api_internal.h"
#include "poky/app.h"
#include "poky/auth.h"
#include "poky/problem.h"
#include "poky/str.h"

/* ---- responses --------------------------------------------------------- */

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

void
api_set_json(struct api_resp *r, int status, json_t *j)
{
	json_decref(r->json);
	r->status = status;
	r->json = j;
	r->content_type = NULL;
}

/* ---- requests ---------------------------------------------------------- */

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
			if (str_form_decode(&b, v, vl) != POKY_OK) {
				buf_free(&b);
				return NULL;
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

bool
api_content_type_is(const struct api_req *req, const char *want)
{
	const char *ct = api_header(req, "content-type");
	size_t n = strlen(want);

	return ct != NULL && strncasecmp(ct, want, n) == 0 &&
	    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* Parse the body as a JSON object; answer the problem and return NULL if it
 * is not one. */
json_t *
api_body_object(const struct api_req *req, struct api_resp *r)
{
	json_error_t jerr;
	json_t *j;

	if (!api_content_type_is(req, "application/json")) {
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

/* ---- query checks, shared by every route ------------------------------- */

/* Answer 400 naming the first query parameter not in allowed (NULL-ended;
 * may be NULL for none): a misspelt filter must not answer with
 * everything.  True when the query is fine. */
bool
api_query_only(const struct api_req *req, struct api_resp *r,
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

/* Whether the query names a parameter at all (api_query also answers NULL
 * for a value that does not fit its buffer). */
bool
api_query_has(const struct api_req *req, const char *name)
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
const char *
api_query_arg(const struct api_req *req, const char *name, char *out, size_t cap,
	  json_t *errors)
{
	const char *v = api_query(req, name, out, cap);

	if (v == NULL && api_query_has(req, name))
		json_array_append_new(errors, json_pack("{s:s, s:s}", "field", name,
		    "message", "too long"));
	return v;
}

/* ---- tasks: versions, owners, statuses, failed submits ----------------- */

/* A record's entity tag: its version (updated_at changes with every
 * write, strictly increasing). */
void
api_task_etag(const struct task *t, char *out, size_t cap)
{
	snprintf(out, cap, "\"%.3f\"", t->updated_at);
}

/* If-None-Match against tag: "*" or a list containing it (weak or not). */
bool
api_etag_matches(const char *inm, const char *tag)
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

/* Whether the caller may see task t: anonymous mode (no tokens), an admin
 * token, or the token that made it.  Another owner's task is a 404, the
 * same answer as a task that does not exist. */
bool
api_owns(const struct api_req *req, const struct task *t)
{
	return req->token_name == NULL || (req->scopes & AUTH_ADMIN) ||
	    (t->created_by != NULL && strcmp(t->created_by, req->token_name) == 0);
}

const char *const api_task_statuses[] = { TS_QUEUED, TS_STARTING,
	TS_RUNNING, TS_SUCCEEDED, TS_FAILED, TS_CANCELLED, TS_LOST, NULL };

bool
api_valid_status(const char *s)
{
	for (int i = 0; api_task_statuses[i]; i++)
		if (strcmp(s, api_task_statuses[i]) == 0)
			return true;
	return false;
}

/* Answer a failed submit from the reason the domain gave: the field
 * errors of a 400, with the domain's message as detail; otherwise the
 * problem and the AWS error behind it. */
void
api_answer_submit_error(struct api_resp *r, struct submit_result *res,
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

/* ---- streams ----------------------------------------------------------- */

/* A streamed answer's r->stream and its state (size bytes, zeroed): the
 * state, or NULL with the 503 answered. */
void *
api_stream_begin(struct api_resp *r, size_t size)
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

/* ---- routes ------------------------------------------------------------ */

/* Routes that take no query parameter refuse any (400), as the others
 * refuse those they do not know. */
#define NO_QUERY(h) \
	static void h##_nq(struct app *app, struct api_req *req, \
			   struct api_resp *r) \
	{ \
		if (api_query_only(req, r, NULL)) \
			h(app, req, r); \
	}
NO_QUERY(api_ops_templates)
NO_QUERY(api_ops_template)
NO_QUERY(api_ops_healthz)
NO_QUERY(api_ops_readyz)
NO_QUERY(api_ops_metrics)
NO_QUERY(api_ops_openapi)

const struct api_route api_routes[] = {
	{ "POST", "/tasks", api_tasks_post, false, AUTH_SUBMIT },
	{ "GET", "/tasks", api_tasks_list, false, AUTH_READ, true },
	{ "GET", "/tasks/{id}", api_tasks_get, false, AUTH_READ },
	{ "DELETE", "/tasks/{id}", api_tasks_delete, false, AUTH_CANCEL },
	{ "GET", "/tasks/{id}/logs", api_streams_logs, false, AUTH_READ },
	{ "GET", "/events", api_streams_events, false, AUTH_READ },
	{ "GET", "/templates", api_ops_templates_nq, false, AUTH_READ | AUTH_SUBMIT },
	{ "GET", "/templates/{name}", api_ops_template_nq, false,
	  AUTH_READ | AUTH_SUBMIT },
	{ "POST", "/process_file", api_compat_process_file, false, AUTH_SUBMIT },
	{ "GET", "/healthz", api_ops_healthz_nq, true, 0 },
	{ "GET", "/readyz", api_ops_readyz_nq, true, 0 },
	{ "GET", "/metrics", api_ops_metrics_nq, false, AUTH_METRICS },
	{ "GET", "/openapi.json", api_ops_openapi_nq, false, 0 },
	{ "GET", "/ui", api_ops_ui_redirect, true, 0 },
	{ "GET", "/ui/", api_ops_ui, true, 0 },
	{ "GET", "/ui/{file}", api_ops_ui, true, 0 },
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
