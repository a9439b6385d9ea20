/* fuzz_ecs_json.c - ECS answers: the bytes as the body of a RunTask,
 * DescribeTasks, StopTask and ListTasks answer, and as an ECS error answer.
 *
 * The answers go through the functions ecs_run_task, ecs_describe_tasks,
 * ecs_stop_task and ecs_list_tasks call on a 2xx body (ecs_*_answer in
 * ecs.h), and every task of tasks[] through ecs_task_from_json.  Beyond
 * "no crash": every field of struct ecs_task stays NUL-terminated in its
 * array, containers stay within ECS_MAX_CONTAINERS, a failure is
 * POKY_ERR_TRANSIENT or POKY_ERR_REMOTE with a message, and RunTask hands
 * out its document exactly when it succeeds. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "poky/awsreq.h"
#include "poky/ecs.h"
#include "poky/httpc.h"

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

/* Every answer function must either succeed or fail as ecs.h says. */
static void
error_check(enum poky_err rc, const struct poky_error *e)
{
	if (rc == POKY_OK)
		return;
	CHECK(rc == POKY_ERR_TRANSIENT || rc == POKY_ERR_REMOTE);
	CHECK(e->code == rc && e->message[0] != '\0');
	TERMINATED(e->message);
	TERMINATED(e->aws_code);
}

static void
run_task_answer(const char *d, size_t n)
{
	struct ecs_task t;
	struct poky_error e;
	json_t *raw;
	enum poky_err rc;

	rc = ecs_run_task_answer(d, n, &t, &raw, &e);
	error_check(rc, &e);
	CHECK((rc == POKY_OK) == (raw != NULL));
	if (rc == POKY_OK)
		task_check(&t);
	json_decref(raw);
}

/* Two ARNs a tasks[] or failures[] entry may match (one by its bare id),
 * and an empty one. */
static void
describe_answer(const char *d, size_t n)
{
	static const char *const arns[] = {
		"arn:aws:ecs:us-east-1:123456789012:task/poky/0123456789abcdef0",
		"fedcba9876543210f", "" };
	struct ecs_task out[3];
	struct poky_error e;
	enum poky_err rc;

	rc = ecs_describe_tasks_answer(d, n, arns, 3, out, &e);
	error_check(rc, &e);
	for (size_t i = 0; i < 3; i++)
		task_check(&out[i]);
}

static void
stop_list_answers(const char *d, size_t n)
{
	struct ecs_task t;
	struct poky_error e;
	json_t *arns = json_array();
	char next[2048];
	enum poky_err rc;

	CHECK(arns != NULL);
	rc = ecs_stop_task_answer(d, n, &t, &e);
	error_check(rc, &e);
	if (rc == POKY_OK)
		task_check(&t);
	rc = ecs_list_tasks_answer(d, n, next, sizeof(next), arns, &e);
	error_check(rc, &e);
	if (rc == POKY_OK)
		TERMINATED(next);
	json_decref(arns);
}

/* Every task of the answer, not only those an ARN asked for. */
static void
every_task(const char *d, size_t n)
{
	struct ecs_task t;
	const json_t *x;
	json_t *ans;
	size_t i;

	ans = json_loadb(d, n, 0, NULL);
	json_array_foreach(json_object_get(ans, "tasks"), i, x) {
		ecs_task_from_json(x, &t);
		task_check(&t);
	}
	json_decref(ans);
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
	const char *body = (const char *)d;

	run_task_answer(body, n);
	describe_answer(body, n);
	stop_list_answers(body, n);
	every_task(body, n);
	error_answer(body, n);
	return 0;
}
