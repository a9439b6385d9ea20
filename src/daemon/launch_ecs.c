/* launch_ecs.c - start and stop tasks on ECS (see launch.h). */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poky/app.h"
#include "poky/awsreq.h"
#include "poky/creds.h"
#include "poky/launch.h"
#include "poky/launchq.h"
#include "poky/log.h"
#include "poky/logs.h"
#include "poky/str.h"

static void
set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = v && *v ? strdup(v) : NULL;
}

/* ---- where a task logs --------------------------------------------------- */

/* DescribeTaskDefinition once per task definition revision (they never
 * change), for the container Poky overrides.  A few entries: a pokyd runs
 * a handful of templates. */
#define LOGCACHE_SIZE 32

static struct logcache_entry {
	char task_definition[256];
	char container[256];
	struct ecs_log_config lc;
} logcache[LOGCACHE_SIZE];
static size_t logcache_n, logcache_next;
static pthread_mutex_t logcache_lock = PTHREAD_MUTEX_INITIALIZER;

static bool
logcache_get(const char *td, const char *container, struct ecs_log_config *lc)
{
	bool hit = false;

	pthread_mutex_lock(&logcache_lock);
	for (size_t i = 0; i < logcache_n && !hit; i++)
		if (strcmp(logcache[i].task_definition, td) == 0 &&
		    strcmp(logcache[i].container, container) == 0) {
			*lc = logcache[i].lc;
			hit = true;
		}
	pthread_mutex_unlock(&logcache_lock);
	return hit;
}

static void
logcache_put(const char *td, const char *container,
	     const struct ecs_log_config *lc)
{
	struct logcache_entry *x;

	pthread_mutex_lock(&logcache_lock);
	x = &logcache[logcache_next];
	logcache_next = (logcache_next + 1) % LOGCACHE_SIZE;
	if (logcache_n < LOGCACHE_SIZE)
		logcache_n++;
	str_copy(x->task_definition, sizeof(x->task_definition), td);
	str_copy(x->container, sizeof(x->container), container);
	x->lc = *lc;
	pthread_mutex_unlock(&logcache_lock);
}

void
launch_ecs_log_names(struct app *app, const struct tmpl *t, struct task *task,
		     const char *task_definition)
{
	struct ecs_log_config lc = { 0 };
	const char *group = t->log_group, *prefix = t->log_stream_prefix;
	char stream[1100];

	/* An empty key in the config is an unset one. */
	if (group != NULL && *group == '\0')
		group = NULL;
	if (prefix != NULL && *prefix == '\0')
		prefix = NULL;

	/* The template's keys win: no ECS call when both are set. */
	if ((group == NULL || prefix == NULL) && task_definition != NULL &&
	    !logcache_get(task_definition, t->container, &lc)) {
		struct aws_client *aws = app_aws(app, NULL);
		struct poky_error e;

		if (aws != NULL && ecs_describe_task_definition(aws,
		    task_definition, t->container, &lc, &e) == POKY_OK)
			logcache_put(task_definition, t->container, &lc);
		else if (aws != NULL)
			/* Not cached: the next launch asks again. */
			log_warnx("task %s: where it logs is unknown: %s",
			    task->id, e.message);
	}
	if (group == NULL)
		group = lc.group;
	if (prefix == NULL)
		prefix = lc.stream_prefix;
	ecs_log_stream_name(prefix, t->container, task->ecs_task_arn, stream,
	    sizeof(stream));
	set_str(&task->ecs_log_group, group);
	set_str(&task->ecs_log_stream, group && *group ? stream : NULL);
}

enum poky_err
launch_ecs_start(struct app *app, const struct tmpl *t, struct task *task,
		 const struct ecs_kv *env, size_t n_env, json_t **raw,
		 struct poky_error *e)
{
	struct aws_client *aws = app_aws(app, e);
	struct ecs_run_task rt = {
		.cluster = t->cluster, .task_definition = t->task_definition,
		.platform_version = t->platform_version,
		.subnets = (const char *const *)t->subnets, .n_subnets = t->n_subnets,
		.security_groups = (const char *const *)t->security_groups,
		.n_security_groups = t->n_security_groups,
		.assign_public_ip = t->assign_public_ip, .container = t->container,
		.env = env, .n_env = n_env, .task_role_arn = t->task_role_arn,
		.execution_role_arn = t->execution_role_arn, .count = 1,
		.started_by = "poky",
		/* The launch queue paces throttled launches itself. */
		.no_throttle_retry = 1,
	};
	struct ecs_kv tags[2] = { { "poky:task-id", task->id },
				  { "poky:template", t->name } };
	struct ecs_task et;
	char token[96];
	size_t tries = t->n_capacity_providers ? t->n_capacity_providers : 1;
	enum poky_err rc = POKY_ERR_INTERNAL;

	if (aws == NULL)
		return e ? e->code : POKY_ERR_AUTH;
	rt.tags = tags;
	rt.n_tags = 2;
	for (size_t i = 0; i < tries; i++) {
		/* ECS never falls back from one strategy to another by itself,
		 * and a new strategy is a new request: it needs its own token. */
		if (i == 0)
			str_copy(token, sizeof(token), task->client_token);
		else
			snprintf(token, sizeof(token), "%.60s-%zu", task->client_token, i);
		rt.client_token = token;
		if (t->n_capacity_providers > 0) {
			rt.launch_type = NULL;
			rt.capacity_provider = t->capacity_providers[i];
		} else {
			rt.launch_type = t->launch_type;
		}
		if (raw != NULL) {
			json_decref(*raw);
			*raw = NULL;
		}
		rc = ecs_run_task(aws, &rt, &et, raw, e);
		if (rc == POKY_OK)
			break;
		if (e == NULL || strcmp(e->aws_code, "RunTaskFailure") != 0 ||
		    !ecs_failure_is_capacity(e->message) || i + 1 == tries)
			return rc;
		log_warnx("task %s: no capacity on %s, trying %s", task->id,
		    t->capacity_providers[i], t->capacity_providers[i + 1]);
	}
	if (rc != POKY_OK)
		return rc;
	set_str(&task->ecs_task_arn, et.task_arn);
	set_str(&task->ecs_cluster, t->cluster);
	set_str(&task->ecs_last_status, et.last_status);
	set_str(&task->capacity_provider, rt.capacity_provider ?
	    rt.capacity_provider : et.capacity_provider);
	launch_ecs_log_names(app, t, task, et.task_definition_arn[0] ?
	    et.task_definition_arn : t->task_definition);
	return POKY_OK;
}

enum poky_err
launch_ecs_stop(struct app *app, const struct task *task, const char *reason,
		struct poky_error *e)
{
	struct aws_client *aws = app_aws(app, e);

	if (aws == NULL)
		return e ? e->code : POKY_ERR_AUTH;
	return ecs_stop_task(aws, task->ecs_cluster, task->ecs_task_arn, reason,
	    NULL, e);
}

/* ---- the launcher interface --------------------------------------------- */

static enum poky_err
ecs_submit(struct app *app, struct task *task, struct poky_error *e)
{
	return launchq_push(app->launchq, task->id, task->template_name, e);
}

static bool
ecs_unstarted(const struct task *task)
{
	/* Queued, or RunTask under way: a launch that finishes after the
	 * cancel stops what it started (tasks.c, launching_touch). */
	return task->ecs_task_arn == NULL;
}

static json_t *
str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *
ecs_detail_json(const struct task *t)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
	    "task_arn", str_or_null(t->ecs_task_arn),
	    "cluster", str_or_null(t->ecs_cluster),
	    "last_status", str_or_null(t->ecs_last_status),
	    "stop_code", str_or_null(t->stop_code),
	    "stopped_reason", str_or_null(t->ecs_stopped_reason),
	    "capacity_provider", str_or_null(t->capacity_provider),
	    "log_group", str_or_null(t->ecs_log_group),
	    "log_stream", str_or_null(t->ecs_log_stream));
}

/* The task's CloudWatch Logs stream (GetLogEvents), when the record names
 * it: the template's log_group/log_stream_prefix, or the task definition's
 * awslogs options. */
static enum poky_err
ecs_logs(struct app *app, const struct task *t, size_t max,
	 struct task_logs *out, enum poky_reason *why, struct poky_error *e)
{
	struct aws_client *aws;
	enum poky_err rc;

	if (t->ecs_log_group == NULL || t->ecs_log_stream == NULL) {
		*why = REASON_LOGS_UNKNOWN;
		return poky_error_set(e, POKY_ERR_NOTFOUND, "%s",
		    t->ecs_task_arn == NULL ? "the task has not been launched" :
		    "where this task logs is unknown: give its template "
		    "log_group and log_stream_prefix, or use the awslogs driver "
		    "with a stream prefix");
	}
	*why = REASON_LOGS_CWL;
	if ((aws = app_aws(app, e)) == NULL)
		return e->code;
	rc = logs_read_stream(aws, t->ecs_log_group, t->ecs_log_stream, max,
	    &out->text, &out->text_len, e);
	if (rc == POKY_ERR_NOTFOUND) {
		/* No stream yet: the task has not written anything. */
		if ((out->text = strdup("")) == NULL)
			return poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
		out->text_len = 0;
		return POKY_OK;
	}
	if (rc != POKY_OK)
		e->code = rc;
	return rc;
}

/* Credentials resolve, when some template launches on ECS. */
static bool
ecs_ready(struct app *app, const struct config *cfg, json_t *checks)
{
	struct poky_error e;
	struct aws_client *aws;
	struct aws_creds c;
	bool ok, needed = false;

	for (size_t i = 0; i < cfg->n_templates; i++)
		needed = needed || cfg->templates[i]->launcher == LAUNCHER_ECS;
	if (!needed)
		return true;
	memset(&c, 0, sizeof(c));
	aws = app_aws(app, &e);
	ok = aws != NULL && aws_client_creds_get(aws, &c, &e) == POKY_OK;
	creds_clear(&c);
	json_object_set_new(checks, "credentials", json_boolean(ok));
	if (!ok)
		json_object_set_new(checks, "credentials_error",
		    json_string(e.message));
	return ok;
}

const struct launcher_ops launch_ecs_ops = {
	.submit = ecs_submit, .queued_launch = true,
	.unstarted = ecs_unstarted, .stop = launch_ecs_stop,
	.detail_json = ecs_detail_json,
	.logs_block = true, .logs = ecs_logs, .ready = ecs_ready,
};

const struct launcher_ops *
launcher_ops(enum launcher_kind kind)
{
	switch (kind) {
	case LAUNCHER_LOCAL:
		return &launch_local_ops;
	case LAUNCHER_DOCKER:
		return &launch_docker_ops;
	case LAUNCHER_ECS:
	default:
		return &launch_ecs_ops;
	}
}
