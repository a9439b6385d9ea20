/* ecs.h - the ECS operations Poky needs (JSON 1.1 protocol over awsreq).
 *
 * RunTask's HTTP 200 can still be a failure: no task and failures[] with a
 * reason.  ecs_run_task turns that into POKY_ERR_REMOTE with aws_code
 * "RunTaskFailure" and the reason as the message, so callers can't miss it.
 * The clientToken makes RunTask idempotent: choose it once per launch and
 * keep it across retries (awsreq re-sends the same body).
 *
 * Each operation's answer is read by its own *_answer function, which the
 * operation calls on the body of a 2xx answer (and the fuzz target on any
 * bytes): body need not be NUL-terminated; a body that is not a JSON object
 * gives POKY_ERR_TRANSIENT, retryable. */
#ifndef POKY_ECS_H
#define POKY_ECS_H

#include <stddef.h>

#include <jansson.h>

#include "poky/err.h"

struct aws_client;

#define ECS_MAX_CONTAINERS 10
#define ECS_DESCRIBE_BATCH 100
#define ECS_MAX_COUNT 10
#define ECS_MAX_OVERRIDES 8192          /* characters of the overrides JSON */
#define ECS_CLIENT_TOKEN_MAX 64

struct ecs_kv {
	const char *name;
	const char *value;
};

struct ecs_run_task {
	const char *cluster;
	const char *task_definition;
	const char *launch_type;        /* "FARGATE", or NULL with capacity_provider */
	const char *capacity_provider;  /* strategy of one provider, or NULL */
	const char *platform_version;
	const char *const *subnets;
	size_t n_subnets;
	const char *const *security_groups;
	size_t n_security_groups;
	int assign_public_ip;           /* -1 unset, 0 DISABLED, 1 ENABLED */
	const char *container;          /* container the overrides apply to */
	const struct ecs_kv *env;       /* environment overrides, in order */
	size_t n_env;
	const char *const *command;     /* command override, or NULL */
	size_t n_command;
	const char *task_role_arn;
	const char *execution_role_arn;
	int count;                      /* 0: 1 */
	const char *started_by;
	const struct ecs_kv *tags;
	size_t n_tags;
	const char *client_token;       /* <= 64 printable ASCII */
	int no_throttle_retry;          /* the caller paces throttled launches */
};

struct ecs_container {
	char name[128];
	char last_status[32];
	int has_exit_code;
	int exit_code;
	char reason[256];
};

struct ecs_task {
	char task_arn[256];
	char cluster_arn[256];
	char task_definition_arn[256];  /* the revision ECS ran */
	char last_status[32];           /* PROVISIONING ... STOPPED, or "MISSING" */
	char desired_status[32];
	char stop_code[64];
	char stopped_reason[512];
	char launch_type[32];
	char capacity_provider[64];
	double created_at, started_at, stopped_at;  /* epoch seconds, 0 if unset */
	struct ecs_container containers[ECS_MAX_CONTAINERS];
	size_t n_containers;
	int missing;                    /* in failures[] as MISSING */
};

/* Check a request against ECS's own limits before sending it. */
enum poky_err ecs_run_task_check(const struct ecs_run_task *in,
				 struct poky_error *e);

/* The RunTask body as ECS wants it (new reference), or NULL with e set. */
json_t *ecs_run_task_body(const struct ecs_run_task *in, struct poky_error *e);

/* Start tasks.  On success *task holds the first task and, if raw is not
 * NULL, *raw the whole response document (caller json_decref's it). */
enum poky_err ecs_run_task(struct aws_client *c, const struct ecs_run_task *in,
			   struct ecs_task *task, json_t **raw,
			   struct poky_error *e);

/* True when a RunTask failure reason means "no capacity here now" (Fargate
 * Spot and capacity provider messages), i.e. another strategy may work. */
int ecs_failure_is_capacity(const char *reason);

/* Describe n tasks (any n; sent in batches of 100).  out[i] matches arns[i];
 * tasks ECS no longer knows come back with missing = 1. */
enum poky_err ecs_describe_tasks(struct aws_client *c, const char *cluster,
				 const char *const *arns, size_t n,
				 struct ecs_task *out, struct poky_error *e);

/* Stop a task with a reason (<= 255 characters are kept). */
enum poky_err ecs_stop_task(struct aws_client *c, const char *cluster,
			    const char *task_arn, const char *reason,
			    struct ecs_task *task, struct poky_error *e);

/* One page of ListTasks.  started_by may be NULL; next_token in/out ("" at
 * the end).  The ARNs are appended to arns (a JSON array). */
enum poky_err ecs_list_tasks(struct aws_client *c, const char *cluster,
			     const char *started_by, char *next_token,
			     size_t next_cap, json_t *arns, struct poky_error *e);

/* Parse one task object of a DescribeTasks/RunTask/StopTask answer. */
void ecs_task_from_json(const json_t *j, struct ecs_task *t);

/* Where a task definition's container logs (its awslogs options). */
struct ecs_log_config {
	char container[256];            /* the container these are for */
	char group[513];                /* awslogs-group; "" when not awslogs */
	char stream_prefix[513];        /* awslogs-stream-prefix, or "" */
};

/* The DescribeTaskDefinition body for one task definition (family,
 * family:revision or ARN); new reference, NULL when out of memory. */
json_t *ecs_describe_task_definition_body(const char *task_definition);

/* Read the log options of container (NULL: the first container that logs
 * with awslogs) from the task definition. */
enum poky_err ecs_describe_task_definition(struct aws_client *c,
					   const char *task_definition,
					   const char *container,
					   struct ecs_log_config *out,
					   struct poky_error *e);

/* The stream awslogs writes a task's container to: PREFIX/CONTAINER/TASK_ID
 * (the id is the last part of the task ARN).  "" when there is no prefix
 * (awslogs then names streams after the container's id, which nobody can
 * know beforehand) or the name does not fit. */
void ecs_log_stream_name(const char *prefix, const char *container,
			 const char *task_arn, char *out, size_t cap);

/* ---- answers: what the operations above make of a 2xx body ---- */

/* RunTask's: *task the first task (if task is not NULL), *raw the document
 * (if raw is not NULL; NULL on failure); no task is the POKY_ERR_REMOTE
 * "RunTaskFailure" described at the top. */
enum poky_err ecs_run_task_answer(const char *body, size_t n,
				  struct ecs_task *task, json_t **raw,
				  struct poky_error *e);

/* DescribeTasks' for the n_arns ARNs asked for: out[i] is reset to
 * arns[i] alone, then filled from tasks[] or marked missing from
 * failures[] (a bare task id matches a full ARN). */
enum poky_err ecs_describe_tasks_answer(const char *body, size_t n,
					const char *const *arns, size_t n_arns,
					struct ecs_task *out,
					struct poky_error *e);

/* StopTask's: *task the stopped task (task may be NULL). */
enum poky_err ecs_stop_task_answer(const char *body, size_t n,
				   struct ecs_task *task, struct poky_error *e);

/* ListTasks': taskArns appended to arns, next_token ("" at the end). */
enum poky_err ecs_list_tasks_answer(const char *body, size_t n,
				    char *next_token, size_t next_cap,
				    json_t *arns, struct poky_error *e);

/* DescribeTaskDefinition's: *out from taskDefinition.containerDefinitions
 * (see ecs_describe_task_definition); a container that is not there is
 * POKY_ERR_NOTFOUND. */
enum poky_err ecs_describe_task_definition_answer(const char *body, size_t n,
						  const char *container,
						  struct ecs_log_config *out,
						  struct poky_error *e);

#endif
