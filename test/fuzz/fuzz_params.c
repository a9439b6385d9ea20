/* fuzz_params.c - a task's parameters: the JSON a client sends, checked
 * by tmpl_check against fixed templates and turned into the task's
 * environment by tmpl_env.
 *
 * The input goes through what POST /tasks does to a body first (the depth
 * limit, then jansson with duplicate keys refused); an object's
 * "parameters" member is checked when it has one, else the whole value.
 * Beyond "no crash", what tmpl_check accepts must hold up when checked
 * again by hand: only known names, each value a string within its max,
 * without NUL, not empty when required, matching its pattern; and tmpl_env
 * gives exactly those values, in template order, then the fixed env.  A
 * refusal lists at least one {field, message}. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "poky/api.h"
#include "poky/config.h"
#include "poky/templates.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz_params: check failed: %s (line %d)\n", #cond, \
	    __LINE__); abort(); } } while (0)

/* The shapes the shipped configs use: S3 buckets and keys with the
 * original Poky's patterns, defaults, tight limits, a fixed env. */
static const char config_text[] =
	"[server]\n"
	"listen = 127.0.0.1:0\n"
	"state_dir = /nonexistent/poky-fuzz\n"
	"[template.process_file]\n"
	"launcher = local\n"
	"command = /bin/true\n"
	"param.source_bucket = required env=SOURCE_BUCKET max=63 "
	    "pattern=^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ s3=bucket\n"
	"param.source_key = required env=SOURCE_KEY max=1024 "
	    "s3=object:source_bucket\n"
	"param.destination_bucket = required env=DESTINATION_BUCKET max=63 "
	    "pattern=^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$\n"
	"param.mode = optional env=MODE default=copy pattern=^(copy|move)$\n"
	"param.note = optional env=NOTE max=16\n"
	"env.poky_local_root = /nonexistent/poky-fuzz-root\n"
	"[template.copy]\n"
	"launcher = ecs\n"
	"cluster = poky\n"
	"task_definition = poky-copy:1\n"
	"container = copy\n"
	"param.src = required env=SRC max=8 pattern=^[a-z]+$\n"
	"param.dst = optional env=DST default=out\n"
	"param.n = optional env=N pattern=^[0-9]{1,4}$\n"
	"env.fixed_var = 1\n";

static struct config *cfg;

static void
load_config(void)
{
	const char *tmp = getenv("TMPDIR");
	char path[4096];
	struct poky_error e;
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s/poky-fuzz-params-XXXXXX.ini",
	    tmp && *tmp ? tmp : "/tmp");
	fd = mkstemps(path, 4);
	CHECK(fd >= 0);
	f = fdopen(fd, "w");
	CHECK(f != NULL && fputs(config_text, f) >= 0 && fclose(f) == 0);
	if (config_load(path, &cfg, &e) != POKY_OK) {
		fprintf(stderr, "fuzz_params: %s\n", e.message);
		abort();
	}
	unlink(path);
}

static const struct tmpl_param *
param_named(const struct tmpl *t, const char *name)
{
	for (size_t i = 0; i < t->n_params; i++)
		if (strcmp(t->params[i].name, name) == 0)
			return &t->params[i];
	return NULL;
}

static void
check_accepted(const struct tmpl *t, const json_t *params, json_t *ok)
{
	struct ecs_kv env[TMPL_MAX_ENV];
	const char *key;
	json_t *v;
	size_t n, at = 0;

	CHECK(json_is_object(ok));
	json_object_foreach(ok, key, v) {
		const struct tmpl_param *p = param_named(t, key);
		const char *s = json_string_value(v);
		size_t len = json_string_length(v);

		CHECK(p != NULL && s != NULL);
		CHECK(len <= p->max && memchr(s, '\0', len) == NULL);
		CHECK(!p->required || len > 0);
		CHECK(p->pattern == NULL || regexec(&p->re, s, 0, NULL, 0) == 0);
		/* What was sent is kept as sent; absent means the default. */
		if (json_object_get(params, key) != NULL &&
		    !json_is_null(json_object_get(params, key)))
			CHECK(json_equal(v, json_object_get(params, key)));
		else
			CHECK(p->def != NULL && strcmp(s, p->def) == 0);
	}
	for (size_t i = 0; i < t->n_params; i++)
		CHECK(!t->params[i].required ||
		    json_object_get(ok, t->params[i].name) != NULL);

	n = tmpl_env(t, ok, env, TMPL_MAX_ENV);
	CHECK(n == json_object_size(ok) + t->n_env);
	for (size_t i = 0; i < t->n_params; i++) {
		const char *s = json_string_value(json_object_get(ok, t->params[i].name));

		if (s == NULL)
			continue;
		CHECK(strcmp(env[at].name, t->params[i].env) == 0);
		CHECK(env[at].value == s);
		at++;
	}
	for (size_t i = 0; i < t->n_env; i++, at++)
		CHECK(strcmp(env[at].name, t->env[i].name) == 0 &&
		    strcmp(env[at].value, t->env[i].value) == 0);
	/* A short array is filled, never overrun. */
	CHECK(tmpl_env(t, ok, env, 1) == (n > 0 ? 1u : 0u));
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	json_t *body, *params, *ok, *errs, *x;
	json_error_t jerr;
	size_t k;

	if (cfg == NULL)
		load_config();
	if (api_json_depth((const char *)d, n) > API_MAX_JSON_DEPTH)
		return 0;
	body = json_loadb((const char *)d, n, JSON_REJECT_DUPLICATES, &jerr);
	if (body == NULL)
		return 0;
	params = json_is_object(body) && json_object_get(body, "parameters") ?
	    json_object_get(body, "parameters") : body;
	for (size_t i = 0; i < cfg->n_templates; i++) {
		const struct tmpl *t = cfg->templates[i];

		errs = NULL;
		ok = tmpl_check(t, params, &errs);
		if (ok != NULL) {
			CHECK(errs == NULL);
			check_accepted(t, params, ok);
			json_decref(ok);
			continue;
		}
		CHECK(json_array_size(errs) >= 1);
		json_array_foreach(errs, k, x)
			CHECK(json_is_string(json_object_get(x, "field")) &&
			    json_is_string(json_object_get(x, "message")));
		json_decref(errs);
	}
	json_decref(body);
	return 0;
}
