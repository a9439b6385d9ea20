/* fuzz_ecs_json.c - ECS answers: the bytes as the body of a RunTask,
 * DescribeTasks, StopTask and ListTasks answer, and as an ECS error answer.
 *
 * ecs.c exports ecs_task_from_json but parses the rest of an answer inside
 * the functions that also send the request, so the walks below repeat what
 * ecs_run_task, ecs_describe_tasks, ecs_stop_task and ecs_list_tasks do
 * with the parsed document (keep them in step with ecs.c).  Beyond "no
 * crash": every field of struct ecs_task stays NUL-terminated in its array
 * and containers stay within ECS_MAX_CONTAINERS. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "poky/awsreq.h"
#include "poky/ecs.h"
#include "poky/httpc.h"
#include "poky/str.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz_ecs_json: check failed: %s (line %d)\n", #cond, \
	    __LINE__); abort(); } } while (0)

#define TERMINATED(field) CHECK(memchr((field), '\0', sizeof(field)) != NULL)

static void
task_check(const struct ecs_task *t)
{
	TERMINATED(t->task_arn);
	TERMINATED(t->cluster_arn);
	TERMINATED(t->last_status);
	TERMINATED(t->desired_status);
	TERMINATED(t->stop_code);
	TERMINATED(t->stopped_reason);
	TERMINATED(t->launch_type);
	TERMINATED(t->capacity_provider);
	CHECK(t->n_containers <= ECS_MAX_CONTAINERS);
	for (size_t i = 0; i < t->n_containers; i++) {
		TERMINATED(t->containers[i].name);
		TERMINATED(t->containers[i].last_status);
		TERMINATED(t->containers[i].reason);
		CHECK(t->containers[i].has_exit_code == 0 ||
		    t->containers[i].has_exit_code == 1);
	}
}

/* ecs_run_task after a 200: the first task, or failures[0] as the error. */
static void
run_task_answer(const json_t *ans)
{
	const json_t *tasks = json_object_get(ans, "tasks");
	const json_t *fails = json_object_get(ans, "failures");
	struct ecs_task t;
	struct poky_error e;

	if (json_array_size(tasks) == 0) {
		const json_t *f0 = json_array_get(fails, 0);
		const char *reason = json_string_value(json_object_get(f0, "reason"));
		const char *detail = json_string_value(json_object_get(f0, "detail"));

		poky_error_set(&e, POKY_ERR_REMOTE, "RunTask started no task: %s%s%s",
		    reason ? reason : "no reason given", detail ? " - " : "",
		    detail ? detail : "");
		str_copy(e.aws_code, sizeof(e.aws_code), "RunTaskFailure");
		e.retryable = ecs_failure_is_capacity(reason);
		CHECK(strlen(e.message) < sizeof(e.message));
		return;
	}
	ecs_task_from_json(json_array_get(tasks, 0), &t);
	task_check(&t);
}

/* ecs_describe_tasks: match tasks[] and failures[] to the ARNs asked for. */
static long
find_arn(const char *const *arns, size_t n, const char *arn)
{
	for (size_t i = 0; i < n; i++) {
		const char *slash;

		if (strcmp(arns[i], arn) == 0)
			return (long)i;
		slash = strrchr(arn, '/');
		if (slash != NULL && strcmp(arns[i], slash + 1) == 0)
			return (long)i;
	}
	return -1;
}

static void
describe_answer(const json_t *ans)
{
	static const char *const arns[] = {
		"arn:aws:ecs:us-east-1:123456789012:task/poky/0123456789abcdef0",
		"fedcba9876543210f", "" };
	struct ecs_task out[3];
	const json_t *x;
	size_t i;

	memset(out, 0, sizeof(out));
	json_array_foreach(json_object_get(ans, "tasks"), i, x) {
		const char *arn = json_string_value(json_object_get(x, "taskArn"));
		long k = arn ? find_arn(arns, 3, arn) : -1;

		if (k >= 0)
			ecs_task_from_json(x, &out[k]);
	}
	json_array_foreach(json_object_get(ans, "failures"), i, x) {
		const char *arn = json_string_value(json_object_get(x, "arn"));
		const char *why = json_string_value(json_object_get(x, "reason"));
		long k = arn ? find_arn(arns, 3, arn) : -1;

		if (k >= 0 && why != NULL && strcmp(why, "MISSING") == 0) {
			out[k].missing = 1;
			strcpy(out[k].last_status, "MISSING");
		}
	}
	for (i = 0; i < 3; i++)
		task_check(&out[i]);
}

static void
other_answers(const json_t *ans)
{
	struct ecs_task t;
	json_t *arns = json_array();
	char next[2048];
	const json_t *x;
	size_t i;

	/* ecs_stop_task */
	ecs_task_from_json(json_object_get(ans, "task"), &t);
	task_check(&t);
	/* ecs_list_tasks */
	json_array_foreach(json_object_get(ans, "taskArns"), i, x)
		json_array_append(arns, (json_t *)x);
	str_copy(next, sizeof(next), json_string_value(json_object_get(ans,
	    "nextToken")) ? json_string_value(json_object_get(ans, "nextToken")) : "");
	json_decref(arns);
	/* every task of the answer, as the tracker sees them */
	json_array_foreach(json_object_get(ans, "tasks"), i, x) {
		ecs_task_from_json(x, &t);
		task_check(&t);
	}
}

static void
error_answer(const char *data, size_t n)
{
	struct httpc_response r;
	struct poky_error e;
	enum poky_err rc;

	httpc_response_init(&r, 1u << 20);
	r.status = 400;
	CHECK(buf_append(&r.body, data, n) == POKY_OK);
	rc = aws_error_from_response(&r, &e);
	CHECK(rc == POKY_ERR_REMOTE || rc == POKY_ERR_TRANSIENT);
	CHECK(e.aws_code[0] != '\0' && strchr(e.aws_code, '#') == NULL);
	httpc_response_cleanup(&r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	json_error_t jerr;
	json_t *ans;

	/* As ecs_call parses a 2xx body. */
	ans = json_loadb((const char *)d, n, 0, &jerr);
	if (json_is_object(ans)) {
		run_task_answer(ans);
		describe_answer(ans);
		other_answers(ans);
	}
	json_decref(ans);
	error_answer((const char *)d, n);
	return 0;
}
