/* api_ops.c - what operators and tools read: the templates, /healthz,
 * /readyz, /metrics, /openapi.json and the web console's files. */
#include <string.h>
#include <time.h>

#include "poky/api.h"
#include "poky/api_internal.h"
#include "poky/app.h"
#include "poky/auth.h"
#include "poky/launch.h"
#include "poky/metrics.h"
#include "poky/problem.h"
#include "poky/templates.h"
#include "poky/ui.h"

extern const char poky_openapi_json[];

/* ---- templates --------------------------------------------------------- */

void
api_ops_templates(struct app *app, struct api_req *req, struct api_resp *r)
{
	struct app_conf *conf = app_config_get(app);
	json_t *arr = json_array();

	(void)req;
	for (size_t i = 0; i < conf->cfg->n_templates; i++)
		json_array_append_new(arr, tmpl_to_json(conf->cfg->templates[i]));
	app_config_put(app, conf);
	api_set_json(r, 200, json_pack("{s:o}", "templates", arr));
}

void
api_ops_template(struct app *app, struct api_req *req, struct api_resp *r)
{
	struct app_conf *conf = app_config_get(app);
	const struct tmpl *t = config_template(conf->cfg, req->arg);

	if (t == NULL)
		api_fail(r, REASON_NOT_FOUND, NULL, "no template '%.64s'", req->arg);
	else
		api_set_json(r, 200, tmpl_to_json(t));
	app_config_put(app, conf);
}

/* ---- health, metrics, documents ---------------------------------------- */

void
api_ops_healthz(struct app *app, struct api_req *req, struct api_resp *r)
{
	(void)app;
	(void)req;
	api_set_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

void
api_ops_readyz(struct app *app, struct api_req *req, struct api_resp *r)
{
	static const enum launcher_kind kinds[] = { LAUNCHER_ECS,
		LAUNCHER_LOCAL, LAUNCHER_DOCKER };
	struct app_conf *conf = app_config_get(app);
	bool store_ok = store_writable(app->store), ready = store_ok;
	json_t *checks;

	checks = json_pack("{s:b, s:b}", "store_writable", store_ok,
	    "config_loaded", 1);
	/* What each launcher needs for its templates: credentials (ECS), the
	 * engines' _ping (docker). */
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const struct launcher_ops *ops = launcher_ops(kinds[i]);

		if (ops->ready != NULL && !ops->ready(app, conf->cfg, checks))
			ready = false;
	}
	app_config_put(app, conf);
	/* Open to probes, but what failed (credential chains, file paths,
	 * engine addresses) only to a token, or when there are none. */
	if (req->token_name == NULL && req->scopes != AUTH_ALL) {
		json_object_del(checks, "credentials_error");
		json_object_del(checks, "docker_engine_error");
	}
	api_set_json(r, ready ? 200 : 503, json_pack("{s:s, s:o}",
	    "status", ready ? "ready" : "not ready", "checks", checks));
}

void
api_ops_metrics(struct app *app, struct api_req *req, struct api_resp *r)
{
	json_t *counts = store_counts(app->store);

	(void)req;
	/* Task gauges come from the store, so they are right after restarts;
	 * a status with no task left reads 0, not its last count. */
	for (int i = 0; api_task_statuses[i]; i++)
		metrics_set(app->metrics, "poky_tasks", (double)json_integer_value(
		    json_object_get(counts, api_task_statuses[i])), "status",
		    api_task_statuses[i], METRICS_END);
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

void
api_ops_openapi(struct app *app, struct api_req *req, struct api_resp *r)
{
	json_error_t jerr;

	(void)app;
	(void)req;
	api_set_json(r, 200, json_loads(poky_openapi_json, 0, &jerr));
	if (r->json == NULL)
		api_fail(r, REASON_INTERNAL, NULL, "OpenAPI document broken");
}

/* ---- the web console --------------------------------------------------- */

/* Open routes: the page itself holds no data; the API calls it makes carry
 * the user's token. */
void
api_ops_ui(struct app *app, struct api_req *req, struct api_resp *r)
{
	(void)app;
	ui_serve(req->arg, req, r);
}

/* /ui without its slash: the page's relative links need the directory. */
void
api_ops_ui_redirect(struct app *app, struct api_req *req, struct api_resp *r)
{
	(void)app;
	(void)req;
	r->status = 308;
	api_resp_header(r, "Location", "/ui/");
}
