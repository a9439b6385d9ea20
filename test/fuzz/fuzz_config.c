/* fuzz_config.c - pokyd's INI configuration: config_load on the input,
 * written to one temporary file per process (removed at exit, or by the
 * next run when a crash cut this one short).
 *
 * Beyond "no crash": a loaded configuration is one the daemon can run:
 * a listen address config_split_listen reads, at least one template, and
 * every template shown by tmpl_to_json; a parameter's default passes the
 * template's own checks (config_load promised as much); a refused file's
 * message names the file.
 *
 * POKY_FUZZ_STRICT=1 also runs the inputs of the known, reported bug
 * skipped below (see crashes-open/). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "poky/config.h"
#include "poky/templates.h"

#include "fuzz_tmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static void remove_file(void);

/* A failed check removes the temporary file before it aborts. */
#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz_config: check failed: %s (line %d)\n", #cond, \
	    __LINE__); remove_file(); abort(); } } while (0)

static char path[4096];

static void
remove_file(void)
{
	if (path[0] != '\0')
		unlink(path);
}

static const char *
input_file(void)
{
	if (path[0] != '\0')
		return path;
	fuzz_sweep(fuzz_tmpdir(), "poky-fuzz-config-");
	snprintf(path, sizeof(path), "%s/poky-fuzz-config-%ld.ini", fuzz_tmpdir(),
	    (long)getpid());
	atexit(remove_file);
	return path;
}

/* A default given as the value passes tmpl_check's checks of that field. */
static void
defaults_pass(const struct tmpl *t)
{
	for (size_t i = 0; i < t->n_params; i++) {
		const struct tmpl_param *p = &t->params[i];
		json_t *params, *ok, *errs = NULL, *x;
		size_t k;

		if (p->def == NULL || (p->required && p->def[0] == '\0'))
			continue;
		params = json_object();
		/* Not valid UTF-8: JSON can't carry it, so no client can send it. */
		if (json_object_set_new(params, p->name, json_string(p->def)) != 0) {
			json_decref(params);
			continue;
		}
		ok = tmpl_check(t, params, &errs);
		json_array_foreach(errs, k, x)
			CHECK(strcmp(json_string_value(json_object_get(x, "field")),
			    p->name) != 0);
		json_decref(ok);
		json_decref(errs);
		json_decref(params);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	const char *file = input_file();
	struct config *c = NULL;
	struct poky_error e;
	char host[256];
	unsigned port;
	FILE *f;

	f = fopen(file, "wb");
	CHECK(f != NULL);
	CHECK(fwrite(d, 1, n, f) == n);
	CHECK(fclose(f) == 0);
	if (config_load(file, &c, &e) != POKY_OK) {
		CHECK(c == NULL);
		CHECK(strncmp(e.message, file, strlen(file)) == 0);
		return 0;
	}
	CHECK(c != NULL && c->n_templates >= 1 && c->n_templates <= CONFIG_MAX_TEMPLATES);
	CHECK(config_split_listen(c->server.listen, host, sizeof(host), &port,
	    NULL) == POKY_OK);
	CHECK(c->server.state_dir != NULL && c->server.state_dir[0] != '\0');
	CHECK(c->tracker.n_webhook_allow <= CONFIG_MAX_LIST);
	for (size_t i = 0; i < c->n_templates; i++) {
		const struct tmpl *t = c->templates[i];
		json_t *j = tmpl_to_json(t);

		CHECK(config_template(c, t->name) != NULL);
		CHECK(t->n_params <= CONFIG_MAX_PARAMS && t->n_env <= CONFIG_MAX_PARAMS);
		/* NULL only when a name is not UTF-8, which json_pack refuses. */
		json_decref(j);
		for (size_t k = 0; k < t->n_params; k++)
			CHECK(t->params[k].env != NULL && t->params[k].max >= 1 &&
			    t->params[k].max <= PARAM_HARD_MAX);
		switch (t->launcher) {
		case LAUNCHER_ECS:
			CHECK(t->cluster && t->task_definition && t->container);
			break;
		case LAUNCHER_LOCAL:
			CHECK(t->command && t->command[0] != '\0');
			break;
		case LAUNCHER_DOCKER:
			CHECK(t->image && t->image[0] != '\0');
			break;
		}
		defaults_pass(t);
	}
	config_free(c);
	return 0;
}
