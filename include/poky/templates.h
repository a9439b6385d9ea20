/* templates.h - a template's parameters: checking a request against them and
 * turning them into the task's environment.  Values only ever become
 * environment variables: never a shell word, never a path. */
#ifndef POKY_TEMPLATES_H
#define POKY_TEMPLATES_H

#include <stddef.h>

#include <jansson.h>

#include "poky/config.h"
#include "poky/ecs.h"

#define TMPL_MAX_ENV (2 * CONFIG_MAX_PARAMS)

/* Check params (a JSON object) against t.  Returns a new object with every
 * parameter's value (defaults filled in), or NULL with *errors set to a new
 * array of {field, message}. */
json_t *tmpl_check(const struct tmpl *t, const json_t *params, json_t **errors);

/* Environment for a checked parameter object: the parameters' variables in
 * template order, then the template's fixed env.  Returns the count; the
 * strings point into checked and t. */
size_t tmpl_env(const struct tmpl *t, const json_t *checked,
		struct ecs_kv *out, size_t cap);

/* tmpl_env with POKY_TASK_ID=task_id last (every launcher gives the task
 * its record's id; the parameters keep their places); a template variable
 * of that name is dropped. */
size_t tmpl_env_task(const struct tmpl *t, const json_t *checked,
		     const char *task_id, struct ecs_kv *out, size_t cap);

/* The template as the API shows it (GET /templates/{name}). */
json_t *tmpl_to_json(const struct tmpl *t);

#endif
