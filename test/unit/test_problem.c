/* test_problem.c - the problem registry, from the table in
 * test/data/problems/cases.json: a reason and an error kind in; status,
 * problem type, title and Retry-After out, as api_fail() answers them.
 * The cases are the API's error answers as they were before the registry
 * (status, type, title and Retry-After are part of the contract), and
 * every row of the registry must be reached by one.  Then the published
 * lists of problem types (openapi.json, README) must be the registry's. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "poky/api.h"
#include "poky/problem.h"

extern const char poky_openapi_json[];

static const char *
data_dir(void)
{
	const char *dir = getenv("POKY_TEST_DATA");

	return dir ? dir : "test/data";
}

static json_t *
load_cases(void)
{
	char path[1024];
	json_error_t err;
	json_t *j;

	snprintf(path, sizeof(path), "%s/problems/cases.json", data_dir());
	j = json_load_file(path, 0, &err);
	if (j == NULL)
		fail_msg("%s: %s (line %d)", path, err.text, err.line);
	return j;
}

static enum poky_reason
reason_named(const char *name)
{
	for (int i = 0; i < REASON__COUNT; i++)
		if (name != NULL && strcmp(problem_reason_name((enum poky_reason)i),
		    name) == 0)
			return (enum poky_reason)i;
	fail_msg("no reason named '%s'", name ? name : "(null)");
	return REASON_INTERNAL;
}

/* An enum poky_err by its poky_err_name(); NULL: no error kind given. */
static enum poky_err
kind_named(const char *name)
{
	if (name == NULL)
		return POKY_OK;
	for (int i = 0; i < POKY_ERR__COUNT; i++)
		if (strcmp(poky_err_name((enum poky_err)i), name) == 0)
			return (enum poky_err)i;
	fail_msg("no error kind named '%s'", name);
	return POKY_OK;
}

static const char *
resp_header(const struct api_resp *r, const char *name)
{
	for (size_t i = 0; i < r->n_headers; i++)
		if (strcmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

static void
test_every_case_of_the_table(void **state)
{
	json_t *cases = load_cases(), *c;
	size_t i;

	(void)state;
	assert_true(json_array_size(cases) >= 50);
	json_array_foreach(cases, i, c) {
		const char *name = json_string_value(json_object_get(c, "name"));
		const char *kind = json_string_value(json_object_get(c, "kind"));
		const char *want_ra = json_string_value(json_object_get(c, "retry_after"));
		struct poky_error e = { 0 };
		struct api_resp r;
		const char *ra;

		e.code = kind_named(kind);
		e.retry_after_ms = (int)json_integer_value(json_object_get(c,
		    "retry_after_ms"));
		api_resp_init(&r);
		api_fail(&r, reason_named(json_string_value(json_object_get(c,
		    "reason"))), kind ? &e : NULL, "detail of %s", name);
		ra = resp_header(&r, "Retry-After");
		if (r.status != json_integer_value(json_object_get(c, "status")))
			fail_msg("%s: status %d", name, r.status);
		if (strcmp(r.content_type, "application/problem+json") != 0)
			fail_msg("%s: content type %s", name, r.content_type);
		if (json_integer_value(json_object_get(r.json, "status")) != r.status)
			fail_msg("%s: the body's status differs", name);
		if (!json_equal(json_object_get(r.json, "type"), json_object_get(c, "type")))
			fail_msg("%s: type %s", name, json_string_value(
			    json_object_get(r.json, "type")));
		if (!json_equal(json_object_get(r.json, "title"), json_object_get(c, "title")))
			fail_msg("%s: title '%s'", name, json_string_value(
			    json_object_get(r.json, "title")));
		if ((want_ra == NULL) != (ra == NULL) ||
		    (ra != NULL && strcmp(ra, want_ra) != 0))
			fail_msg("%s: Retry-After %s", name, ra ? ra : "(none)");
		if (strncmp(json_string_value(json_object_get(r.json, "detail")),
		    "detail of ", 10) != 0)
			fail_msg("%s: detail lost", name);
		api_resp_cleanup(&r);
	}
	json_decref(cases);
}

/* A row no case reaches is an answer nobody wrote down; a reason without
 * a row would answer 500. */
static void
test_the_table_reaches_every_row_and_reason(void **state)
{
	json_t *cases = load_cases(), *c;
	size_t i;

	(void)state;
	for (size_t k = 0; k < problem_n_rows; k++) {
		bool seen = false;

		json_array_foreach(cases, i, c) {
			const char *kind = json_string_value(json_object_get(c, "kind"));

			seen = seen || problem_find(reason_named(json_string_value(
			    json_object_get(c, "reason"))), kind_named(kind)) ==
			    &problem_rows[k];
		}
		if (!seen)
			fail_msg("no case reaches the row of %s (kind %d)",
			    problem_reason_name(problem_rows[k].reason),
			    problem_rows[k].kind);
	}
	for (int r = 0; r < REASON__COUNT; r++) {
		const struct problem *p = problem_find((enum poky_reason)r,
		    POKY_ERR_INTERNAL);

		if (problem_reason_name((enum poky_reason)r) == NULL)
			fail_msg("reason %d has no name", r);
		if (p->reason != (enum poky_reason)r)
			fail_msg("reason %s has no row for every kind",
			    problem_reason_name((enum poky_reason)r));
	}
	json_decref(cases);
}

static bool
listed(const char *type)
{
	for (const char *const *t = problem_types; *t; t++)
		if (strcmp(*t, type) == 0)
			return true;
	return false;
}

/* Every row's type is one of the published ones. */
static void
test_every_row_has_a_published_type(void **state)
{
	(void)state;
	for (size_t k = 0; k < problem_n_rows; k++)
		if (!listed(problem_rows[k].type ? problem_rows[k].type :
		    "about:blank"))
			fail_msg("%s: type %s is not in problem_types",
			    problem_reason_name(problem_rows[k].reason),
			    problem_rows[k].type);
}

/* openapi.json (as served) lists exactly the registry's types. */
static void
test_openapi_lists_the_registry_types(void **state)
{
	json_error_t err;
	json_t *doc = json_loads(poky_openapi_json, 0, &err), *types, *v;
	size_t i, n = 0;

	(void)state;
	assert_non_null(doc);
	types = json_object_get(json_object_get(json_object_get(json_object_get(
	    json_object_get(json_object_get(doc, "components"), "schemas"),
	    "Problem"), "properties"), "type"), "enum");
	if (!json_is_array(types))
		fail_msg("openapi.json: Problem.type has no enum of problem types");
	json_array_foreach(types, i, v)
		if (!listed(json_string_value(v)))
			fail_msg("openapi.json lists %s, which the registry does not "
			    "answer with", json_string_value(v));
	for (const char *const *t = problem_types; *t; t++, n++) {
		bool found = false;

		json_array_foreach(types, i, v)
			found = found || strcmp(json_string_value(v), *t) == 0;
		if (!found)
			fail_msg("openapi.json does not list %s", *t);
	}
	assert_int_equal(json_array_size(types), n);
	json_decref(doc);
}

/* README's list of problem types is the registry's: each type of it is
 * named there, and every urn:poky:problem: named there is one. */
static void
test_readme_lists_the_registry_types(void **state)
{
	char path[1024];
	FILE *f;
	static char text[1 << 20];
	size_t n;
	const char *p;

	(void)state;
	snprintf(path, sizeof(path), "%s/../../README.md", data_dir());
	f = fopen(path, "r");
	if (f == NULL)
		fail_msg("%s: cannot open", path);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	for (const char *const *t = problem_types; *t; t++) {
		char quoted[128];

		snprintf(quoted, sizeof(quoted), "`%s`", *t);
		if (strstr(text, quoted) == NULL)
			fail_msg("README.md does not list %s", *t);
	}
	/* Its table's row of each type lists the statuses the registry
	 * answers with that type, no more, no less. */
	for (const char *const *t = problem_types; *t; t++) {
		char head[128];
		const char *row;
		bool want[600] = { false }, have[600] = { false };

		snprintf(head, sizeof(head), "\n| `%s` | ", *t);
		if ((row = strstr(text, head)) == NULL)
			fail_msg("README.md has no table row for %s", *t);
		for (p = row + strlen(head); *p != '|' && *p != '\0'; p++)
			if (p[0] >= '1' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9' &&
			    p[2] >= '0' && p[2] <= '9') {
				have[atoi(p)] = true;
				p += 2;
			}
		for (size_t k = 0; k < problem_n_rows; k++)
			if (strcmp(problem_rows[k].type ? problem_rows[k].type :
			    "about:blank", *t) == 0)
				want[problem_rows[k].status] = true;
		for (int st = 0; st < 600; st++)
			if (want[st] != have[st])
				fail_msg("README.md's row of %s %s %d", *t, want[st] ?
				    "lacks" : "has, and the registry does not answer",
				    st);
	}
	for (p = strstr(text, "urn:poky:problem:"); p != NULL;
	    p = strstr(p + 1, "urn:poky:problem:")) {
		char type[128];
		size_t len = strspn(p + 17, "abcdefghijklmnopqrstuvwxyz-") + 17;

		if (len >= sizeof(type))
			fail_msg("README.md: an over-long problem type");
		memcpy(type, p, len);
		type[len] = '\0';
		if (!listed(type))
			fail_msg("README.md names %s, which the registry does not "
			    "answer with", type);
	}
}

static void
test_field_errors_go_with_the_problem(void **state)
{
	struct api_resp r;

	(void)state;
	api_resp_init(&r);
	api_fail_fields(&r, REASON_INVALID_QUERY, json_pack("[{s:s, s:s}]",
	    "field", "limit", "message", "must be 1..1000"));
	assert_int_equal(r.status, 400);
	assert_string_equal(json_string_value(json_object_get(r.json, "detail")),
	    "1 field rejected");
	assert_int_equal(json_array_size(json_object_get(r.json, "errors")), 1);
	api_resp_cleanup(&r);
}

/* A detail quoting request input stays valid JSON. */
static void
test_a_detail_that_is_not_utf8_is_scrubbed(void **state)
{
	struct api_resp r;

	(void)state;
	api_resp_init(&r);
	api_fail(&r, REASON_NOT_FOUND, NULL, "no task '%s'", "\xff\xfe");
	assert_non_null(r.json);
	assert_int_equal(r.status, 404);
	api_resp_cleanup(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_case_of_the_table),
		cmocka_unit_test(test_the_table_reaches_every_row_and_reason),
		cmocka_unit_test(test_every_row_has_a_published_type),
		cmocka_unit_test(test_openapi_lists_the_registry_types),
		cmocka_unit_test(test_readme_lists_the_registry_types),
		cmocka_unit_test(test_field_errors_go_with_the_problem),
		cmocka_unit_test(test_a_detail_that_is_not_utf8_is_scrubbed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
