/* test_lifecycle.c - the lifecycle rule, from the table in
 * test/data/lifecycle/cases.json: an outcome in, status, reason code and
 * reason out.  One rule for every launcher: the table is its definition. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "poky/lifecycle.h"

static json_t *
load_cases(void)
{
	const char *dir = getenv("POKY_TEST_DATA");
	char path[1024];
	json_error_t err;
	json_t *j;

	snprintf(path, sizeof(path), "%s/lifecycle/cases.json", dir ? dir : "test/data");
	j = json_load_file(path, 0, &err);
	if (j == NULL)
		fail_msg("%s: %s (line %d)", path, err.text, err.line);
	return j;
}

static void
outcome_from(const json_t *o, struct task_outcome *out)
{
	memset(out, 0, sizeof(*out));
	out->lost = json_is_true(json_object_get(o, "lost"));
	out->timed_out = json_is_true(json_object_get(o, "timed_out"));
	out->timeout = (long)json_integer_value(json_object_get(o, "timeout"));
	out->cancelled_by = json_string_value(json_object_get(o, "cancelled_by"));
	out->never_started = json_is_true(json_object_get(o, "never_started"));
	out->oom = json_is_true(json_object_get(o, "oom"));
	out->signal = (int)json_integer_value(json_object_get(o, "signal"));
	out->has_exit_code = json_is_true(json_object_get(o, "has_exit_code"));
	out->exit_code = (int)json_integer_value(json_object_get(o, "exit_code"));
	out->detail = json_string_value(json_object_get(o, "detail"));
}

static void
test_every_case_of_the_table(void **state)
{
	json_t *cases = load_cases(), *c;
	size_t i;

	(void)state;
	assert_true(json_array_size(cases) >= 15);
	json_array_foreach(cases, i, c) {
		const char *name = json_string_value(json_object_get(c, "name"));
		const json_t *code = json_object_get(c, "reason_code");
		struct task_outcome o;
		struct task_verdict v;

		outcome_from(json_object_get(c, "outcome"), &o);
		lifecycle_judge(&o, &v);
		if (strcmp(v.status, json_string_value(json_object_get(c, "status"))) != 0)
			fail_msg("%s: status %s", name, v.status);
		if (json_is_null(code) ? v.reason_code != NULL :
		    v.reason_code == NULL ||
		    strcmp(v.reason_code, json_string_value(code)) != 0)
			fail_msg("%s: reason_code %s", name,
			    v.reason_code ? v.reason_code : "(null)");
		if (strcmp(v.reason, json_string_value(json_object_get(c, "reason"))) != 0)
			fail_msg("%s: reason '%s'", name, v.reason);
	}
	json_decref(cases);
}

/* Every code the rule can give is in the published list, and the table
 * reaches every one of them. */
static void
test_the_table_reaches_every_reason_code(void **state)
{
	json_t *cases = load_cases(), *c;
	size_t i, n = 0;

	(void)state;
	for (const char *const *p = lifecycle_reason_codes; *p; p++, n++) {
		bool seen = false;

		json_array_foreach(cases, i, c) {
			const char *code = json_string_value(json_object_get(c, "reason_code"));

			seen = seen || (code != NULL && strcmp(code, *p) == 0);
		}
		if (!seen)
			fail_msg("no case gives %s", *p);
	}
	assert_int_equal(n, 8);
	json_decref(cases);
}

static void
test_a_long_detail_is_cut_not_overrun(void **state)
{
	char big[4096];
	struct task_outcome o = { .never_started = true, .detail = big };
	struct task_verdict v;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	lifecycle_judge(&o, &v);
	assert_int_equal(strlen(v.reason), sizeof(v.reason) - 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_case_of_the_table),
		cmocka_unit_test(test_the_table_reaches_every_reason_code),
		cmocka_unit_test(test_a_long_detail_is_cut_not_overrun),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
