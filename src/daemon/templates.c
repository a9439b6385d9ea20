/* templates.c - parameters of a template (see templates.h). */
#include <string.h>

#include "poky/templates.h"


static void
field_error(json_t *errors, const char *field, const char *message)
{
	json_array_append_new(errors, json_pack("{s:s, s:s}", "field", field,
	    "message", message));
}

static bool
has_nul(const char *s, size_t n)
{
	return memchr(s, '\0', n) != NULL;
}

json_t *
tmpl_check(const struct tmpl *t, const json_t *params, json_t **errors)
{
	json_t *out = json_object(), *errs = json_array();
	const char *key;
	json_t *v;
	char msg[160];

	*errors = NULL;
	if (out == NULL || errs == NULL)
		goto fail;
	if (params != NULL && !json_is_object(params)) {
		field_error(errs, "parameters", "must be an object");
		goto fail;
	}
	/* Unknown names first: a typo must not be silently dropped. */
	json_object_foreach((json_t *)params, key, v) {
		bool known = false;

		for (size_t i = 0; i < t->n_params && !known; i++)
			known = strcmp(t->params[i].name, key) == 0;
		if (!known)
			field_error(errs, key, "unknown parameter");
	}
	for (size_t i = 0; i < t->n_params; i++) {
		const struct tmpl_param *p = &t->params[i];
		const json_t *jv = params ? json_object_get(params, p->name) : NULL;
		const char *s;
		size_t n;

		if (jv == NULL || json_is_null(jv)) {
			if (p->required) {
				field_error(errs, p->name, "required");
			} else if (p->def != NULL) {
				json_object_set_new(out, p->name, json_string(p->def));
			}
			continue;
		}
		if (!json_is_string(jv)) {
			field_error(errs, p->name, "must be a string");
			continue;
		}
		s = json_string_value(jv);
		n = json_string_length(jv);
		if (n > p->max) {
			snprintf(msg, sizeof(msg), "longer than %zu bytes", p->max);
			field_error(errs, p->name, msg);
			continue;
		}
		if (has_nul(s, n)) {
			field_error(errs, p->name, "contains a NUL character");
			continue;
		}
		if (p->required && n == 0) {
			field_error(errs, p->name, "must not be empty");
			continue;
		}
		if (p->pattern != NULL && regexec(&p->re, s, 0, NULL, 0) != 0) {
			snprintf(msg, sizeof(msg), "does not match %.120s", p->pattern);
			field_error(errs, p->name, msg);
			continue;
		}
		json_object_set_new(out, p->name, json_stringn(s, n));
	}
	if (json_array_size(errs) > 0)
		goto fail;
	json_decref(errs);
	return out;
fail:
	json_decref(out);
	*errors = errs;
	return NULL;
}

size_t
tmpl_env(const struct tmpl *t, const json_t *checked, struct ecs_kv *out,
	 size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < t->n_params && n < cap; i++) {
		const char *v = json_string_value(json_object_get(checked,
		    t->params[i].name));

		if (v != NULL)
			out[n++] = (struct ecs_kv){ t->params[i].env, v };
	}
	for (size_t i = 0; i < t->n_env && n < cap; i++)
		out[n++] = (struct ecs_kv){ t->env[i].name, t->env[i].value };
	return n;
}

size_t
tmpl_env_task(const struct tmpl *t, const json_t *checked, const char *task_id,
	      struct ecs_kv *out, size_t cap)
{
	size_t n = 0, m;

	if (cap == 0)
		return 0;
	m = tmpl_env(t, checked, out, cap - 1);
	/* The record's id is Poky's to say: a template's own POKY_TASK_ID
	 * would make the variable lie. */
	for (size_t i = 0; i < m; i++)
		if (strcmp(out[i].name, "POKY_TASK_ID") != 0)
			out[n++] = out[i];
	/* Last: the parameters keep their places (the original Poky's
	 * clients read RunTask's overrides by position). */
	out[n++] = (struct ecs_kv){ "POKY_TASK_ID", task_id };
	return n;
}

json_t *
tmpl_to_json(const struct tmpl *t)
{
	json_t *params = json_array(), *o;

	for (size_t i = 0; i < t->n_params; i++) {
		const struct tmpl_param *p = &t->params[i];
		json_t *j = json_pack("{s:s, s:b, s:s, s:I}", "name", p->name,
		    "required", p->required, "env", p->env, "max_length",
		    (json_int_t)p->max);

		if (p->def != NULL)
			json_object_set_new(j, "default", json_string(p->def));
		if (p->pattern != NULL)
			json_object_set_new(j, "pattern", json_string(p->pattern));
		if (p->s3 == PARAM_S3_BUCKET)
			json_object_set_new(j, "s3_check", json_string("bucket"));
		else if (p->s3 == PARAM_S3_OBJECT)
			json_object_set_new(j, "s3_check", json_sprintf("object in %s",
			    p->s3_bucket_param));
		json_array_append_new(params, j);
	}
	o = json_pack("{s:s, s:s, s:o, s:I}", "name", t->name, "launcher",
	    launcher_kind_name(t->launcher), "parameters", params, "timeout_seconds",
	    (json_int_t)t->timeout);
	if (t->launcher != LAUNCHER_ECS)
		json_object_set_new(o, "max_running", json_integer(t->max_running));
	return o;
}
