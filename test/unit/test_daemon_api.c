/* test_daemon_api.c - pokyd's handlers called directly (no HTTP server),
 * and the pure pieces under them: routes, query parsing, JSON limits,
 * templates, configuration errors, tokens, metrics. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "poky/api.h"
#include "poky/app.h"
#include "poky/auth.h"
#include "poky/config.h"
#include "poky/metrics.h"
#include "poky/store.h"
#include "poky/templates.h"

/* Config texts are templates with one %s for the temporary directory. */
#pragma GCC diagnostic ignored "-Wformat-nonliteral"

static char tmpdir[64];

static const char *
write_file(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static const char base_ini[] =
	"[server]\nlisten = 127.0.0.1:0\nstate_dir = %s/state\n"
	"[template.copy]\nlauncher = local\ncommand = /bin/true\n"
	"param.src = required env=SRC max=8 pattern=^[a-z]+$\n"
	"param.mode = optional env=MODE default=fast\n"
	"env.fixed_var = 1\n";

static struct config *
load(const char *text, struct poky_error *e)
{
	struct config *c = NULL;
	char buf[2048];

	snprintf(buf, sizeof(buf), text, tmpdir);
	if (config_load(write_file("t.ini", buf), &c, e) != POKY_OK)
		return NULL;
	return c;
}

/* ---- routes ---- */

static void
test_routes_match_with_argument_and_405_lists_allowed(void **state)
{
	char arg[API_MAX_PATH_ARG], allow[128];
	bool known;
	const struct api_route *r;

	(void)state;
	r = api_match("GET", "/tasks/abc", arg, sizeof(arg), &known, allow, sizeof(allow));
	assert_non_null(r);
	assert_string_equal(r->pattern, "/tasks/{id}");
	assert_string_equal(arg, "abc");
	r = api_match("PUT", "/tasks/abc", arg, sizeof(arg), &known, allow, sizeof(allow));
	assert_null(r);
	assert_true(known);
	assert_string_equal(allow, "GET, DELETE");
	r = api_match("GET", "/nothing", arg, sizeof(arg), &known, allow, sizeof(allow));
	assert_null(r);
	assert_false(known);
	r = api_match("POST", "/", arg, sizeof(arg), &known, allow, sizeof(allow));
	assert_null(r);
	assert_false(known);
	r = api_match("HEAD", "/healthz", arg, sizeof(arg), &known, allow, sizeof(allow));
	assert_non_null(r);
}

/* Open: health, and the console's static files (the page holds no data;
 * its API calls carry the token). */
static void
test_only_health_and_console_routes_are_open(void **state)
{
	(void)state;
	for (const struct api_route *r = api_routes; r->method; r++)
		assert_int_equal(r->open, strcmp(r->pattern, "/healthz") == 0 ||
		    strcmp(r->pattern, "/readyz") == 0 ||
		    (strncmp(r->pattern, "/ui", 3) == 0 && strcmp(r->method, "GET") == 0));
}

static void
test_query_values_decoded_plus_is_space(void **state)
{
	struct api_req req = { .query = "a=1&status=run%20ning&t=x+y&empty=&flag" };
	char out[32];

	(void)state;
	assert_string_equal(api_query(&req, "status", out, sizeof(out)), "run ning");
	assert_string_equal(api_query(&req, "t", out, sizeof(out)), "x y");
	assert_string_equal(api_query(&req, "empty", out, sizeof(out)), "");
	assert_string_equal(api_query(&req, "flag", out, sizeof(out)), "");
	assert_null(api_query(&req, "missing", out, sizeof(out)));
}

static void
test_json_depth_ignores_brackets_in_strings(void **state)
{
	(void)state;
	assert_int_equal(api_json_depth("{\"a\":[{\"b\":\"[[[{{{\"}]}", 23), 3);
	assert_int_equal(api_json_depth("\"\\\"[\"", 5), 0);
}

/* ---- templates ---- */

static void
test_template_check_reports_every_bad_field(void **state)
{
	struct poky_error e;
	struct config *c = load(base_ini, &e);
	json_t *errs = NULL, *params = json_pack("{s:s, s:s}", "src", "UPPER", "bogus", "1");

	(void)state;
	assert_non_null(c);
	assert_null(tmpl_check(config_template(c, "copy"), params, &errs));
	assert_int_equal(json_array_size(errs), 2);
	json_decref(errs);
	json_decref(params);
	params = json_pack("{s:s}", "src", "toolongvalue");
	assert_null(tmpl_check(config_template(c, "copy"), params, &errs));
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(errs, 0),
	    "message")), "longer than 8"));
	json_decref(errs);
	json_decref(params);
	config_free(c);
}

static void
test_template_env_in_order_with_defaults_and_uppercased_fixed_env(void **state)
{
	struct poky_error e;
	struct config *c = load(base_ini, &e);
	json_t *errs = NULL, *params = json_pack("{s:s}", "src", "abc"), *ok;
	struct ecs_kv env[8];
	size_t n;

	(void)state;
	ok = tmpl_check(config_template(c, "copy"), params, &errs);
	assert_non_null(ok);
	n = tmpl_env(config_template(c, "copy"), ok, env, 8);
	assert_int_equal(n, 3);
	assert_string_equal(env[0].name, "SRC");
	assert_string_equal(env[1].name, "MODE");
	assert_string_equal(env[1].value, "fast");
	assert_string_equal(env[2].name, "FIXED_VAR");
	json_decref(ok);
	json_decref(params);
	config_free(c);
}

/* ---- configuration ---- */

static void
check_config_error(const char *text, const char *needle)
{
	struct poky_error e;
	struct config *c = load(text, &e);

	assert_null(c);
	if (strstr(e.message, needle) == NULL)
		fail_msg("'%s' not in '%s'", needle, e.message);
}

static void
test_config_errors_name_file_section_and_key(void **state)
{
	(void)state;
	check_config_error("[server]\nlisten = 127.0.0.1:0\nstate_dir=%s\nbogus = 1\n"
	    "[template.a]\nlauncher=local\ncommand=/bin/true\n", "[server] bogus: unknown key");
	check_config_error("[server]\nthreads = many\nstate_dir=%s\n[template.a]\n"
	    "launcher=local\ncommand=x\n", "[server] threads: 'many' is not a whole number");
	check_config_error("[srv]\nstate_dir=%s\n", "[srv]: unknown section");
	check_config_error("[server]\nstate_dir=%s\n[template.a]\nlauncher=ecs\n",
	    "needs cluster, task_definition and container");
	check_config_error("[server]\nstate_dir=%s\n[template.a]\nlauncher=local\n"
	    "command=x\nparam.p = required\n", "needs env=VARIABLE");
	check_config_error("[server]\nstate_dir=%s\n[template.a]\nlauncher=local\n"
	    "command=x\nparam.p = required env=P pattern=([\n", "pattern");
	check_config_error("[server]\nstate_dir=%s\n[template.a]\nlauncher=local\n"
	    "command=x\nparam.p = required env=P s3=object:nope\n", "names no parameter");
	check_config_error("[server]\nlisten = nowhere\nstate_dir=%s\n[template.a]\n"
	    "launcher=local\ncommand=x\n", "[server] listen");
	check_config_error("[server]\nstate_dir=%s\n", "no [template.NAME] section");
	check_config_error("[server]\nstate_dir=%s\n[tracker]\npoll_interval = 0\n"
	    "[template.a]\nlauncher=local\ncommand=x\n", "poll_interval");
	/* Found by fuzzing (test/fuzz/crashes-fixed/config/). */
	check_config_error("[server]\nstate_dir=%s\n[template.a]\nlauncher=local\n"
	    "command=x\n[template.a:param.x]\n", "param.x: has no value");
	check_config_error("[server]\nstate_dir=%s\n[template.a]\nlauncher=local\n"
	    "command=x\nparam.p = required env=P pattern=((a{1,255}){1,255}){1,255}\n",
	    "repetitions over 1000");
	check_config_error("[server]\nstate_dir=%s\n[template.a]\nlauncher=local\n"
	    "command=x\nparam.p = required env=P pattern=a{2,} \n", "repetitions");
	check_config_error("[server]\nstate_dir=%s\n[template.a]\nlauncher=local\n"
	    "command=x\nparam.p = required env=P pattern=^a$ pattern=^b$\n",
	    "pattern given twice");
}

static void
test_config_defaults(void **state)
{
	struct poky_error e;
	struct config *c = load(base_ini, &e);

	(void)state;
	assert_non_null(c);
	assert_int_equal(c->server.threads, 4);
	assert_int_equal(c->server.max_body_bytes, 65536);
	assert_int_equal(c->aws.max_attempts, 3);
	assert_int_equal(c->aws.connect_timeout, 3);
	assert_int_equal(c->aws.request_timeout, 30);
	assert_true(c->tracker.poll_interval == 5.0);
	assert_string_equal(c->tracker.webhook_allow[0], "https://");
	assert_int_equal(config_template(c, "copy")->max_running, 2);
	config_free(c);
}

static void
test_listen_forms(void **state)
{
	char host[64];
	unsigned port;

	(void)state;
	assert_int_equal(config_split_listen("[::1]:8080", host, sizeof(host), &port, NULL),
	    POKY_OK);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 8080);
	assert_int_equal(config_split_listen("0.0.0.0:0", host, sizeof(host), &port, NULL),
	    POKY_OK);
	assert_int_not_equal(config_split_listen("::1:80", host, sizeof(host), &port, NULL),
	    POKY_OK);
	assert_int_not_equal(config_split_listen("h:70000", host, sizeof(host), &port, NULL),
	    POKY_OK);
}

/* ---- tokens ---- */

static void
test_tokens_hashed_and_checked(void **state)
{
	char line[200], file[400];
	struct auth_tokens *t = NULL;
	struct poky_error e;

	(void)state;
	assert_int_equal(auth_hash_line("alice", "s3cr3t-token-0001", 17, line,
	    sizeof(line), &e), POKY_OK);
	assert_null(strstr(line, "s3cr3t"));
	snprintf(file, sizeof(file), "# tokens\n%s\n\nbob %064d\n", line, 0);
	assert_int_equal(auth_load(write_file("tokens", file), &t, &e), POKY_OK);
	assert_int_equal(auth_count(t), 2);
	assert_string_equal(auth_check(t, "s3cr3t-token-0001", 17), "alice");
	assert_null(auth_check(t, "s3cr3t-token-0002", 17));
	assert_null(auth_check(t, "", 0));
	auth_free(t);
	assert_int_equal(auth_load(write_file("tokens", "alice plain-token\n"), &t, &e),
	    POKY_ERR_INVALID);
	assert_null(strstr(e.message, "plain-token"));
	assert_non_null(strstr(e.message, ":1:"));
	assert_int_equal(auth_hash_line("alice", "short", 5, line, sizeof(line), &e),
	    POKY_ERR_INVALID);
}

/* ---- metrics ---- */

static void
test_metrics_text_format(void **state)
{
	struct metrics *m = metrics_new();
	char *text;
	size_t n;

	(void)state;
	metrics_describe(m, "x_total", "counter", "Things.");
	metrics_describe(m, "lat_seconds", "histogram", "Latency.");
	metrics_add(m, "x_total", 2, "route", "/a\"b\\c\nd", METRICS_END);
	metrics_observe(m, "lat_seconds", 0.003, "route", "/a", METRICS_END);
	text = metrics_render(m, &n);
	assert_non_null(strstr(text, "# TYPE x_total counter\n"));
	assert_non_null(strstr(text, "x_total{route=\"/a\\\"b\\\\c\\nd\"} 2\n"));
	assert_non_null(strstr(text, "lat_seconds_bucket{route=\"/a\",le=\"0.0025\"} 0\n"));
	assert_non_null(strstr(text, "lat_seconds_bucket{route=\"/a\",le=\"0.005\"} 1\n"));
	assert_non_null(strstr(text, "lat_seconds_count{route=\"/a\"} 1\n"));
	free(text);
	metrics_free(m);
}

/* ---- handlers, called directly ---- */

struct fixture {
	struct app app;
};

static int
app_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct poky_error e;
	struct config *c = load(base_ini, &e);
	char dir[128];

	assert_non_null(c);
	pthread_mutex_init(&f->app.conf_lock, NULL);
	pthread_mutex_init(&f->app.aws_lock, NULL);
	snprintf(dir, sizeof(dir), "%s/state", tmpdir);
	snprintf(f->app.state_dir, sizeof(f->app.state_dir), "%s", dir);
	app_config_swap(&f->app, c, NULL);
	f->app.store = store_open(dir, &e);
	f->app.metrics = metrics_new();
	assert_non_null(f->app.store);
	*state = f;
	return 0;
}

static int
app_teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->app.store);
	metrics_free(f->app.metrics);
	app_config_put(&f->app, f->app.conf);
	free(f);
	return 0;
}

static void
call(struct fixture *f, const char *method, const char *path, const char *ctype,
     const char *body, struct api_resp *r)
{
	struct hdr h[1] = { { "Content-Type", 12, ctype, ctype ? strlen(ctype) : 0 } };
	struct api_req req = { .method = method, .path = path, .headers = h,
		.n_headers = ctype ? 1 : 0, .body = body, .body_len = body ? strlen(body) : 0,
		.request_id = "test" };
	bool known;
	char allow[64];
	const struct api_route *rt = api_match(method, path, req.arg, sizeof(req.arg),
	    &known, allow, sizeof(allow));

	assert_non_null(rt);
	api_resp_init(r);
	rt->handler(&f->app, &req, r);
}

static void
test_post_tasks_wrong_content_type_is_415(void **state)
{
	struct api_resp r;

	call(*state, "POST", "/tasks", "text/plain", "{}", &r);
	assert_int_equal(r.status, 415);
	assert_string_equal(r.content_type, "application/problem+json");
	api_resp_cleanup(&r);
}

static void
test_post_tasks_malformed_and_deep_json_are_400(void **state)
{
	struct api_resp r;
	char deep[200];

	call(*state, "POST", "/tasks", "application/json", "{\"template\":", &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(json_string_value(json_object_get(r.json, "detail")), "line 1"));
	api_resp_cleanup(&r);
	memset(deep, '[', 40);
	strcpy(deep + 40, "]");
	call(*state, "POST", "/tasks", "application/json", deep, &r);
	assert_int_equal(r.status, 400);
	api_resp_cleanup(&r);
	call(*state, "POST", "/tasks", "application/json", "{\"a\":1,\"a\":2}", &r);
	assert_int_equal(r.status, 400);
	api_resp_cleanup(&r);
}

static void
test_post_tasks_lists_every_invalid_field(void **state)
{
	struct api_resp r;
	json_t *errs;

	call(*state, "POST", "/tasks", "application/json",
	    "{\"template\":\"copy\",\"parameters\":{\"src\":\"BAD\",\"x\":\"1\"},"
	    "\"timeout_seconds\":0,\"extra\":true}", &r);
	assert_int_equal(r.status, 400);
	errs = json_object_get(r.json, "errors");
	/* timeout_seconds and extra first (request shape), then no launch. */
	assert_int_equal(json_array_size(errs), 2);
	api_resp_cleanup(&r);
	call(*state, "POST", "/tasks", "application/json",
	    "{\"template\":\"copy\",\"parameters\":{\"src\":\"BAD\",\"x\":\"1\"}}", &r);
	assert_int_equal(r.status, 400);
	errs = json_object_get(r.json, "errors");
	assert_int_equal(json_array_size(errs), 2);
	api_resp_cleanup(&r);
	call(*state, "POST", "/tasks", "application/json", "{\"template\":\"nope\"}", &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(r.json, "errors"), 0), "field")), "template");
	api_resp_cleanup(&r);
}

static void
test_get_unknown_task_is_404_problem(void **state)
{
	struct api_resp r;

	call(*state, "GET", "/tasks/01234567-89ab-7def-8123-456789abcdef", NULL, NULL, &r);
	assert_int_equal(r.status, 404);
	assert_int_equal(json_integer_value(json_object_get(r.json, "status")), 404);
	api_resp_cleanup(&r);
	call(*state, "GET", "/tasks/not-a-uuid", NULL, NULL, &r);
	assert_int_equal(r.status, 404);
	api_resp_cleanup(&r);
}

static void
test_problem_detail_that_is_not_utf8_still_gives_a_body(void **state)
{
	struct api_resp r;

	/* Found by fuzzing (test/fuzz/crashes-fixed/http_api/). */
	call(*state, "GET", "/templates/a\xff\xc3", NULL, NULL, &r);
	assert_int_equal(r.status, 404);
	assert_non_null(r.json);
	assert_non_null(strstr(json_string_value(json_object_get(r.json, "detail")),
	    "a??"));
	api_resp_cleanup(&r);
}

static void
test_templates_listed_with_parameter_schemas(void **state)
{
	struct api_resp r;
	json_t *p;

	call(*state, "GET", "/templates/copy", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	p = json_array_get(json_object_get(r.json, "parameters"), 0);
	assert_string_equal(json_string_value(json_object_get(p, "name")), "src");
	assert_true(json_is_true(json_object_get(p, "required")));
	assert_int_equal(json_integer_value(json_object_get(p, "max_length")), 8);
	api_resp_cleanup(&r);
	call(*state, "GET", "/templates", NULL, NULL, &r);
	assert_int_equal(json_array_size(json_object_get(r.json, "templates")), 1);
	api_resp_cleanup(&r);
}

static void
test_list_rejects_bad_status_limit_and_cursor(void **state)
{
	struct fixture *f = *state;
	struct api_resp r;
	const char *bad[] = { "status=nope", "limit=0", "limit=1001", "limit=x",
		"cursor=zzz", NULL };

	for (int i = 0; bad[i]; i++) {
		struct api_req req = { .method = "GET", .path = "/tasks", .query = bad[i] };
		bool known;
		char allow[8];
		const struct api_route *rt = api_match("GET", "/tasks", req.arg,
		    sizeof(req.arg), &known, allow, sizeof(allow));

		api_resp_init(&r);
		rt->handler(&f->app, &req, &r);
		assert_int_equal(r.status, 400);
		api_resp_cleanup(&r);
	}
}

static void
test_openapi_document_is_served_and_parses(void **state)
{
	struct api_resp r;

	call(*state, "GET", "/openapi.json", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(json_object_get(r.json, "openapi"));
	api_resp_cleanup(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes_match_with_argument_and_405_lists_allowed),
		cmocka_unit_test(test_only_health_and_console_routes_are_open),
		cmocka_unit_test(test_query_values_decoded_plus_is_space),
		cmocka_unit_test(test_json_depth_ignores_brackets_in_strings),
		cmocka_unit_test(test_template_check_reports_every_bad_field),
		cmocka_unit_test(test_template_env_in_order_with_defaults_and_uppercased_fixed_env),
		cmocka_unit_test(test_config_errors_name_file_section_and_key),
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_listen_forms),
		cmocka_unit_test(test_tokens_hashed_and_checked),
		cmocka_unit_test(test_metrics_text_format),
		cmocka_unit_test_setup_teardown(test_post_tasks_wrong_content_type_is_415,
		    app_setup, app_teardown),
		cmocka_unit_test_setup_teardown(test_post_tasks_malformed_and_deep_json_are_400,
		    app_setup, app_teardown),
		cmocka_unit_test_setup_teardown(test_post_tasks_lists_every_invalid_field,
		    app_setup, app_teardown),
		cmocka_unit_test_setup_teardown(test_get_unknown_task_is_404_problem,
		    app_setup, app_teardown),
		cmocka_unit_test_setup_teardown(test_problem_detail_that_is_not_utf8_still_gives_a_body,
		    app_setup, app_teardown),
		cmocka_unit_test_setup_teardown(test_templates_listed_with_parameter_schemas,
		    app_setup, app_teardown),
		cmocka_unit_test_setup_teardown(test_list_rejects_bad_status_limit_and_cursor,
		    app_setup, app_teardown),
		cmocka_unit_test_setup_teardown(test_openapi_document_is_served_and_parses,
		    app_setup, app_teardown),
	};
	char cmd[128];
	int rc;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/poky-unit-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	rc = cmocka_run_group_tests_name("daemon_api", tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		rc = rc ? rc : 1;
	return rc;
}
