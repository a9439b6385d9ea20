/* api_compat.c - POST /process_file, the original Poky's one route: its
 * form fields, its error texts (JSON strings), its RunTask answer. */
#include <stdlib.h>
#include <string.h>

#include "poky/api.h"
#include "poky/api_internal.h"
#include "poky/app.h"
#include "poky/buf.h"
#include "poky/launch.h"
#include "poky/metrics.h"
#include "poky/problem.h"
#include "poky/str.h"

/* /process_file answers with RunTask's answer, as the original did, so it
 * waits for the launch - this long at most, then it answers 202 with the
 * queued record. */
#define COMPAT_WAIT_SECONDS 60

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
		const char *amp = memchr(s + i, '&', n - i);
		size_t j = amp != NULL ? (size_t)(amp - s) : n;
		const char *eq = memchr(s + i, '=', j - i);
		size_t kn = eq != NULL ? (size_t)(eq - (s + i)) : j - i;

		buf_reset(&k);
		buf_reset(&v);
		if (str_form_decode(&k, s + i, kn) != POKY_OK ||
		    (eq != NULL && str_form_decode(&v, eq + 1, j - i - kn - 1) != POKY_OK)) {
			json_decref(o);
			o = NULL;
			break;
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
	api_set_json(r, status, json_string(msg));
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

void
api_compat_process_file(struct app *app, struct api_req *req, struct api_resp *r)
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
	if (api_content_type_is(req, "application/json")) {
		if ((sent = api_body_object(req, r)) == NULL)
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
			api_answer_submit_error(r, &res, &e);
		goto out;
	}
	metrics_add(app->metrics, "poky_tasks_launched_total", 1, "template",
	    res.task.template_name, "launcher", launcher_kind_name(res.task.launcher),
	    METRICS_END);
	if (res.launch == LAUNCH_WAITING || res.launch == LAUNCH_GONE) {
		/* Not launched within the wait (a long queue), or cancelled
		 * before it launched: the record says what happens next. */
		api_set_json(r, 202, task_to_json(&res.task));
	} else if (res.run_response != NULL) {
		api_set_json(r, 200, res.run_response);
		res.run_response = NULL;
	} else {
		api_set_json(r, 200, compat_run_response(&res.task, tp, params));
	}
	api_resp_header(r, "Location", "/tasks/%s", res.task.id);
out:
	json_decref(params);
	json_decref(sent);
	submit_result_cleanup(&res);
	buf_free(&list);
	app_config_put(app, conf);
}
