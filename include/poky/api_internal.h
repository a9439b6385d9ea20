/* api_internal.h - what the handler files (src/daemon/api*.c) share, and
 * their handlers for the route table in api.c.  Not for other modules:
 * http.c and the tests go through api.h. */
#ifndef POKY_API_INTERNAL_H
#define POKY_API_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "poky/api.h"
#include "poky/err.h"

struct app;
struct task;
struct submit_result;

/* ---- shared by the handlers (api.c) ---------------------------------------- */

/* Answer status with body j (owned by the answer from here on). */
void api_set_json(struct api_resp *r, int status, json_t *j);

/* Whether the Content-Type is want (parameters after ';' allowed). */
bool api_content_type_is(const struct api_req *req, const char *want);

/* The body as a JSON object (the caller's), or NULL with 415/400 answered. */
json_t *api_body_object(const struct api_req *req, struct api_resp *r);

/* False, with 400 answered, when the query has a parameter not in allowed
 * (NULL-ended; NULL for none). */
bool api_query_only(const struct api_req *req, struct api_resp *r,
		    const char *const *allowed);

/* Whether the query names the parameter at all. */
bool api_query_has(const struct api_req *req, const char *name);

/* api_query that adds "too long" to errors for a value over cap. */
const char *api_query_arg(const struct api_req *req, const char *name,
			  char *out, size_t cap, json_t *errors);

/* A record's ETag, and If-None-Match against one. */
void api_task_etag(const struct task *t, char *out, size_t cap);
bool api_etag_matches(const char *inm, const char *tag);

/* Whether the caller may see task t (else: 404, as if it did not exist). */
bool api_owns(const struct api_req *req, const struct task *t);

/* The task statuses, NULL-ended, and whether s is one. */
extern const char *const api_task_statuses[];
bool api_valid_status(const char *s);

/* Answer a failed tasks_submit (its reason, field errors, AWS error). */
void api_answer_submit_error(struct api_resp *r, struct submit_result *res,
			     const struct poky_error *e);

/* r->stream and zeroed state of size bytes (free()d by the stream's
 * free), or NULL with 503 answered. */
void *api_stream_begin(struct api_resp *r, size_t size);

/* ---- handlers, one file per resource ---------------------------------------- */

/* api_tasks.c */
void api_tasks_post(struct app *app, struct api_req *req, struct api_resp *r);
void api_tasks_get(struct app *app, struct api_req *req, struct api_resp *r);
void api_tasks_list(struct app *app, struct api_req *req, struct api_resp *r);
void api_tasks_delete(struct app *app, struct api_req *req, struct api_resp *r);
/* api_streams.c */
void api_streams_logs(struct app *app, struct api_req *req, struct api_resp *r);
void api_streams_events(struct app *app, struct api_req *req, struct api_resp *r);
/* api_compat.c */
void api_compat_process_file(struct app *app, struct api_req *req,
			     struct api_resp *r);
/* api_ops.c */
void api_ops_templates(struct app *app, struct api_req *req, struct api_resp *r);
void api_ops_template(struct app *app, struct api_req *req, struct api_resp *r);
void api_ops_healthz(struct app *app, struct api_req *req, struct api_resp *r);
void api_ops_readyz(struct app *app, struct api_req *req, struct api_resp *r);
void api_ops_metrics(struct app *app, struct api_req *req, struct api_resp *r);
void api_ops_openapi(struct app *app, struct api_req *req, struct api_resp *r);
void api_ops_ui(struct app *app, struct api_req *req, struct api_resp *r);
void api_ops_ui_redirect(struct app *app, struct api_req *req, struct api_resp *r);

#endif
