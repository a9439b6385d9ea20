/* test_ecs.c - RunTask bodies, ECS limits, task and answer parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "poky/ecs.h"

static const struct ecs_kv env3[] = {
	{ "SOURCE_BUCKET", "in" }, { "SOURCE_KEY", "a/b.txt" }, { "OUTPUT_BUCKET", "out" },
};
static const char *const subnets[] = { "subnet-1", "subnet-2" };

static struct ecs_run_task
base(void)
{
	return (struct ecs_run_task){
		.cluster = "poky-cluster", .task_definition = "poky-task-definition:4",
		.launch_type = "FARGATE", .subnets = subnets, .n_subnets = 2,
		.assign_public_ip = 1, .container = "poky", .env = env3, .n_env = 3,
		.client_token = "tok-1",
	};
}

static void
test_run_task_body_has_overrides_in_order(void **state)
{
	struct ecs_run_task in = base();
	json_t *b = ecs_run_task_body(&in, NULL);
	json_t *envj;

	(void)state;
	assert_non_null(b);
	assert_string_equal(json_string_value(json_object_get(b, "launchType")), "FARGATE");
	assert_int_equal(json_integer_value(json_object_get(b, "count")), 1);
	assert_string_equal(json_string_value(json_object_get(b, "clientToken")), "tok-1");
	envj = json_object_get(json_array_get(json_object_get(json_object_get(b,
	    "overrides"), "containerOverrides"), 0), "environment");
	assert_int_equal(json_array_size(envj), 3);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(json_string_value(json_object_get(
		    json_array_get(envj, i), "name")), env3[i].name);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    json_object_get(b, "networkConfiguration"), "awsvpcConfiguration"),
	    "assignPublicIp")), "ENABLED");
	json_decref(b);
}

static void
test_capacity_provider_replaces_launch_type(void **state)
{
	struct ecs_run_task in = base();
	json_t *b;

	(void)state;
	in.launch_type = NULL;
	in.capacity_provider = "FARGATE_SPOT";
	b = ecs_run_task_body(&in, NULL);
	assert_non_null(b);
	assert_null(json_object_get(b, "launchType"));
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(b, "capacityProviderStrategy"), 0), "capacityProvider")),
	    "FARGATE_SPOT");
	json_decref(b);
}

static void
test_launch_type_and_capacity_provider_are_exclusive(void **state)
{
	struct ecs_run_task in = base();
	struct poky_error e;

	(void)state;
	in.capacity_provider = "FARGATE_SPOT";
	assert_null(ecs_run_task_body(&in, &e));
	assert_int_equal(e.code, POKY_ERR_INVALID);
}

static void
test_overrides_over_8192_characters_refused(void **state)
{
	struct ecs_run_task in = base();
	struct ecs_kv big = { "BIG", NULL };
	struct poky_error e;
	char *v = malloc(9000);

	(void)state;
	memset(v, 'x', 8999);
	v[8999] = '\0';
	big.value = v;
	in.env = &big;
	in.n_env = 1;
	assert_null(ecs_run_task_body(&in, &e));
	assert_int_equal(e.code, POKY_ERR_LIMIT);
	assert_non_null(strstr(e.message, "8192"));
	free(v);
}

static void
test_client_token_limits(void **state)
{
	struct ecs_run_task in = base();
	char tok[66];

	(void)state;
	memset(tok, 'a', 65);
	tok[65] = '\0';
	in.client_token = tok;
	assert_int_equal(ecs_run_task_check(&in, NULL), POKY_ERR_INVALID);
	tok[64] = '\0';
	assert_int_equal(ecs_run_task_check(&in, NULL), POKY_OK);
	in.client_token = "tab\there";
	assert_int_equal(ecs_run_task_check(&in, NULL), POKY_ERR_INVALID);
}

static void
test_count_must_be_1_to_10(void **state)
{
	struct ecs_run_task in = base();

	(void)state;
	in.count = 11;
	assert_int_equal(ecs_run_task_check(&in, NULL), POKY_ERR_INVALID);
	in.count = 10;
	assert_int_equal(ecs_run_task_check(&in, NULL), POKY_OK);
}

static void
test_task_without_exit_code_is_not_exit_zero(void **state)
{
	struct ecs_task t;
	json_t *j = json_loads("{\"taskArn\":\"arn:t/1\",\"lastStatus\":\"STOPPED\","
	    "\"stopCode\":\"TaskFailedToStart\",\"stoppedReason\":\"CannotPullContainerError\","
	    "\"containers\":[{\"name\":\"poky\",\"lastStatus\":\"STOPPED\"},"
	    "{\"name\":\"side\",\"exitCode\":0}]}", 0, NULL);

	(void)state;
	ecs_task_from_json(j, &t);
	assert_string_equal(t.stop_code, "TaskFailedToStart");
	assert_int_equal(t.n_containers, 2);
	assert_false(t.containers[0].has_exit_code);
	assert_true(t.containers[1].has_exit_code);
	assert_int_equal(t.containers[1].exit_code, 0);
	json_decref(j);
}

static void
test_capacity_failure_reasons_recognised(void **state)
{
	(void)state;
	assert_true(ecs_failure_is_capacity("Capacity is unavailable at this time. "
	    "Please try again later or in a different availability zone"));
	assert_true(ecs_failure_is_capacity("RESOURCE:MEMORY"));
	assert_false(ecs_failure_is_capacity("MISSING"));
	assert_false(ecs_failure_is_capacity(NULL));
}

static void
test_run_task_answer_without_task_is_a_failure(void **state)
{
	static const char ans[] = "{\"tasks\":[],\"failures\":[{\"reason\":"
	    "\"Capacity is unavailable at this time\",\"detail\":\"az-1\"}]}";
	struct poky_error e;
	json_t *before = json_object(), *raw = before;

	(void)state;
	assert_int_equal(ecs_run_task_answer(ans, strlen(ans), NULL, &raw, &e),
	    POKY_ERR_REMOTE);
	assert_null(raw);
	json_decref(before);
	assert_string_equal(e.aws_code, "RunTaskFailure");
	assert_int_equal(e.http_status, 200);
	assert_true(e.retryable);
	assert_non_null(strstr(e.message, "unavailable at this time - az-1"));
	/* Not JSON (no NUL either): worth another try. */
	assert_int_equal(ecs_run_task_answer("{\"tasks\"", 8, NULL, NULL, &e),
	    POKY_ERR_TRANSIENT);
	assert_true(e.retryable);
}

static void
test_describe_answer_matches_bare_ids_and_missing(void **state)
{
	static const char ans[] = "{\"tasks\":[{\"taskArn\":"
	    "\"arn:aws:ecs:r:1:task/c/abc\",\"lastStatus\":\"RUNNING\"}],"
	    "\"failures\":[{\"arn\":\"arn:aws:ecs:r:1:task/c/def\","
	    "\"reason\":\"MISSING\"}]}";
	static const char *const arns[] = { "def", "abc", "ghi" };
	struct ecs_task out[3];
	struct poky_error e;

	(void)state;
	assert_int_equal(ecs_describe_tasks_answer(ans, strlen(ans), arns, 3, out,
	    &e), POKY_OK);
	assert_true(out[0].missing);
	assert_string_equal(out[0].last_status, "MISSING");
	assert_string_equal(out[1].task_arn, "arn:aws:ecs:r:1:task/c/abc");
	assert_string_equal(out[1].last_status, "RUNNING");
	assert_string_equal(out[2].task_arn, "ghi");
	assert_false(out[2].missing);
	assert_string_equal(out[2].last_status, "");
}

static void
test_list_answer_appends_and_ends(void **state)
{
	static const char ans[] = "{\"taskArns\":[\"a\",\"b\"]}";
	char next[16] = "page-2";
	json_t *arns = json_pack("[s]", "z");
	struct poky_error e;

	(void)state;
	assert_int_equal(ecs_list_tasks_answer(ans, strlen(ans), next, sizeof(next),
	    arns, &e), POKY_OK);
	assert_int_equal(json_array_size(arns), 3);
	assert_string_equal(json_string_value(json_array_get(arns, 2)), "b");
	assert_string_equal(next, "");
	json_decref(arns);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_task_body_has_overrides_in_order),
		cmocka_unit_test(test_capacity_provider_replaces_launch_type),
		cmocka_unit_test(test_launch_type_and_capacity_provider_are_exclusive),
		cmocka_unit_test(test_overrides_over_8192_characters_refused),
		cmocka_unit_test(test_client_token_limits),
		cmocka_unit_test(test_count_must_be_1_to_10),
		cmocka_unit_test(test_task_without_exit_code_is_not_exit_zero),
		cmocka_unit_test(test_capacity_failure_reasons_recognised),
		cmocka_unit_test(test_run_task_answer_without_task_is_a_failure),
		cmocka_unit_test(test_describe_answer_matches_bare_ids_and_missing),
		cmocka_unit_test(test_list_answer_appends_and_ends),
	};

	return cmocka_run_group_tests_name("ecs", tests, NULL, NULL);
}
