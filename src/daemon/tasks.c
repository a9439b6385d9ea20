/* tasks.c - submitting, cancelling and presenting tasks (see app.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "poky/app.h"
#include "poky/awsreq.h"
#include "poky/clock.h"
#include "poky/crypto.h"
#include "poky/launch.h"
#include "poky/launchq.h"
#include "poky/lifecycle.h"
#include "poky/localfs.h"
#include "poky/log.h"
#include "poky/logs.h"
#include "poky/metrics.h"
#include "poky/s3.h"
#include "poky/str.h"
#include "poky/templates.h"
#include "poky/uuid.h"
#include "poky/webhook.h"


/* The reason of an ECS record whose launch the tracker is to finish (same
 * text in tracker.c). */

static char *
xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

void
submit_result_init(struct submit_result *r)
{
	memset(r, 0, sizeof(*r));
	task_init(&r->task);
}

void
submit_result_cleanup(struct submit_result *r)
{
	task_cleanup(&r->task);
	json_decref(r->field_errors);
	json_decref(r->run_response);
	memset(r, 0, sizeof(*r));
}

static enum poky_err
fail(struct submit_result *r, struct poky_error *e, enum poky_err code,
     enum poky_reason why, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Say what failed (the API's problem registry chooses the answer), and
 * the error detail, in one line. */
static enum poky_err
fail(struct submit_result *r, struct poky_error *e, enum poky_err code,
     enum poky_reason why, const char *fmt, ...)
{
	va_list ap;
	char msg[POKY_ERR_MSG_MAX];

	/* Format first: the arguments are often e->message itself, which
	 * poky_error_set clears before writing. */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	poky_error_set(e, code, "%s", msg);
	r->reason = why;
	return code;
}

/* ---- presenting ----------------------------------------------------------- */

static json_t *
time_json(double t)
{
	char s[32], ms[8];
	time_t sec = (time_t)t;

	if (t <= 0)
		return json_null();
	str_time_iso8601(s, sec);
	/* "...:SSZ" -> "...:SS.mmmZ" */
	snprintf(ms, sizeof(ms), ".%03dZ", (int)((t - (double)sec) * 1000 + 0.5) % 1000);
	s[19] = '\0';
	return json_sprintf("%s%s", s, ms);
}

static json_t *
str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

/* Stored JSON text back to a value; null when it does not parse. */
static json_t *
json_or_null(const char *text)
{
	json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);

	return j ? j : json_null();
}

static json_t *
json_object_or_empty(const char *text)
{
	json_t *j = text ? json_loads(text, 0, NULL) : NULL;

	if (!json_is_object(j)) {
		json_decref(j);
		j = json_object();
	}
	return j;
}

json_t *
task_to_json(const struct task *t)
{
	json_t *o, *params;

	params = t->parameters ? json_loads(t->parameters, 0, NULL) : NULL;
	o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
	    "id", t->id, "template", t->template_name, "status", t->status,
	    "launcher", launcher_kind_name(t->launcher),
	    "parameters", params ? params : json_object(),
	    "created_at", time_json(t->created_at),
	    "updated_at", time_json(t->updated_at),
	    "started_at", time_json(t->started_at),
	    "finished_at", time_json(t->finished_at),
	    "exit_code", t->has_exit_code ? json_integer(t->exit_code) : json_null(),
	    "reason", str_or_null(t->reason));
	if (o == NULL)
		return NULL;
	json_object_set_new(o, "timeout_seconds", t->timeout_seconds > 0 ?
	    json_integer(t->timeout_seconds) : json_null());
	json_object_set_new(o, "reason_code", str_or_null(t->reason_code));
	json_object_set_new(o, "created_by", str_or_null(t->created_by));
	json_object_set_new(o, "labels", json_object_or_empty(t->labels));
	json_object_set_new(o, "result", t->result ? json_or_null(t->result) :
	    json_null());
	if (t->callback_url != NULL)
		json_object_set_new(o, "callback", json_pack("{s:s, s:o, s:i}",
		    "url", t->callback_url, "state", str_or_null(t->callback_state),
		    "attempts", t->callback_attempts));
	json_object_set_new(o, launcher_kind_name(t->launcher),
	    launcher_ops(t->launcher)->detail_json(t));
	return o;
}

/* ---- state changes -------------------------------------------------------- */

static void tasks_result_local(struct app *app, struct task *t);

enum poky_err
tasks_set_status(struct app *app, struct task *t, const char *status,
		 struct poky_error *e)
{
	char old[16];
	enum poky_err rc;

	str_copy(old, sizeof(old), t->status);
	str_copy(t->status, sizeof(t->status), status);
	if (strcmp(status, TS_RUNNING) == 0 && t->started_at <= 0)
		t->started_at = clock_real_ms();
	rc = store_update(app->store, t, old, e);
	if (rc == POKY_OK && strcmp(old, status) != 0)
		log_fields(LOG_LEVEL_INFO, LOG_FIELDS(LF_STR("task_id", t->id),
		    LF_STR("template", t->template_name), LF_STR("status", status)),
		    "task %s: %s -> %s", t->id, old, status);
	return rc;
}

enum poky_err
tasks_finish(struct app *app, struct task *t, const struct task_outcome *o,
	     struct poky_error *e)
{
	struct task_verdict v;
	const char *reason;
	char old[16];
	enum poky_err rc;

	if (task_status_final(t->status))
		return POKY_OK;
	lifecycle_judge(o, &v);
	reason = v.reason[0] ? v.reason : NULL;
	str_copy(old, sizeof(old), t->status);
	str_copy(t->status, sizeof(t->status), v.status);
	if (o->has_exit_code) {
		t->has_exit_code = true;
		t->exit_code = o->exit_code;
	}
	t->timed_out = t->timed_out || o->timed_out;
	t->launch_pending = false;
	if (t->launcher != LAUNCHER_ECS)
		tasks_result_local(app, t);     /* the output is in a file here */
	if (t->finished_at <= 0)
		t->finished_at = clock_real_ms();
	free(t->reason);
	t->reason = reason ? strdup(reason) : NULL;
	free(t->reason_code);
	t->reason_code = v.reason_code ? strdup(v.reason_code) : NULL;
	/* A webhook is owed once a task ends. */
	if (t->callback_url != NULL && t->callback_state == NULL) {
		t->callback_state = strdup("pending");
		t->callback_next_at = t->finished_at;
	}
	rc = store_update(app->store, t, old, e);
	if (rc == POKY_OK && t->launcher == LAUNCHER_ECS &&
	    strcmp(old, TS_QUEUED) != 0)
		launchq_ended(app->launchq, t->template_name);
	if (rc == POKY_OK) {
		if (t->has_exit_code)
			log_fields(LOG_LEVEL_INFO, LOG_FIELDS(LF_STR("task_id", t->id),
			    LF_STR("template", t->template_name), LF_STR("status",
			    v.status), LF_INT("exit_code", t->exit_code)),
			    "task %s: %s -> %s (exit %d%s%s)", t->id, old, v.status,
			    t->exit_code, reason ? ": " : "", reason ? reason : "");
		else
			log_fields(LOG_LEVEL_INFO, LOG_FIELDS(LF_STR("task_id", t->id),
			    LF_STR("template", t->template_name), LF_STR("status",
			    v.status)), "task %s: %s -> %s%s%s", t->id, old, v.status,
			    reason ? ": " : "", reason ? reason : "");
		metrics_add(app->metrics, "poky_tasks_finished_total", 1,
		    "template", t->template_name, "status", v.status, METRICS_END);
		metrics_observe(app->metrics, "poky_task_duration_seconds",
		    t->finished_at - (t->started_at > 0 ? t->started_at :
		    t->created_at), "template", t->template_name, "status",
		    v.status, METRICS_END);
		if (t->callback_state != NULL &&
		    strcmp(t->callback_state, "pending") == 0)
			webhook_kick(app->webhook);
	}
	return rc;
}

/* ---- checks --------------------------------------------------------------- */

static const char *
tmpl_env_value(const struct tmpl *t, const char *name)
{
	for (size_t i = 0; i < t->n_env; i++)
		if (strcmp(t->env[i].name, name) == 0)
			return t->env[i].value;
	return NULL;
}

/* "source_bucket" -> "source bucket", as the original's messages read. */
static void
human(const char *name, char *out, size_t cap)
{
	str_copy(out, cap, name);
	for (char *p = out; *p; p++)
		if (*p == '_')
			*p = ' ';
}

/* A bucket or object name safe to look up under a local root. */
static bool
local_name_ok(const char *s)
{
	const char *p = s;

	if (*s == '\0' || *s == '/')
		return false;
	while (*p) {
		size_t n = strcspn(p, "/");

		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += n;
		if (*p == '/')
			p++;
	}
	return true;
}

/* The original Poky checked that buckets and the object exist before
 * launching; s3= parameters ask for the same.  A local template with
 * POKY_LOCAL_ROOT checks its folders instead. */
static enum poky_err
s3_checks(struct app *app, const struct tmpl *t, const json_t *checked,
	  const struct submit *s, struct submit_result *r, struct poky_error *e)
{
	const char *root = t->launcher == LAUNCHER_LOCAL ?
	    tmpl_env_value(t, "POKY_LOCAL_ROOT") : NULL;
	struct aws_client *aws = NULL;

	for (size_t i = 0; i < t->n_params; i++) {
		const struct tmpl_param *p = &t->params[i];
		const char *v = json_string_value(json_object_get(checked, p->name));
		const char *bucket = v, *key = NULL;
		char what[80];
		struct poky_error se;
		enum poky_err rc;
		bool exists;

		if (p->s3 == PARAM_S3_NONE || v == NULL)
			continue;
		if (p->s3 == PARAM_S3_OBJECT) {
			bucket = json_string_value(json_object_get(checked,
			    p->s3_bucket_param));
			key = v;
			if (bucket == NULL)
				continue;
		}
		human(p->name, what, sizeof(what));
		if (t->launcher == LAUNCHER_LOCAL) {
			if (root == NULL)
				continue;       /* nothing to check against */
			/* No link followed: the worker refuses them. */
			exists = local_name_ok(bucket) &&
			    (key == NULL || local_name_ok(key)) &&
			    localfs_exists(root, bucket, key);
			rc = exists ? POKY_OK : POKY_ERR_NOTFOUND;
		} else {
			if (aws == NULL && (aws = app_aws(app, e)) == NULL)
				return fail(r, e, POKY_ERR_AUTH, REASON_AWS_CLIENT,
				    "%s", e ? e->message : "no AWS client");
			rc = key ? s3_head_object(aws, bucket, key, NULL, NULL, &se) :
			    s3_head_bucket(aws, bucket, &se);
			if (rc == POKY_ERR_REMOTE && se.http_status != 403 &&
			    se.http_status != 404 && se.http_status != 400 &&
			    se.http_status != 301)
				return fail(r, e, POKY_ERR_REMOTE, REASON_S3_CHECK,
				    "checking %s: %s", what, se.message);
			if (rc == POKY_ERR_TRANSIENT || rc == POKY_ERR_AUTH ||
			    rc == POKY_ERR_NOMEM)
				return fail(r, e, rc, REASON_S3_CHECK,
				    "checking %s: %s", what, se.message);
		}
		if (rc != POKY_OK) {
			/* The original's wording, field by field. */
			json_t *errs = json_array();

			json_array_append_new(errs, json_pack("{s:s, s:s}", "field",
			    p->name, "message", "does not exist, or you do not have "
			    "permissions to access it"));
			r->field_errors = errs;
			return fail(r, e, POKY_ERR_INVALID, REASON_INPUT_MISSING,
			    "The %s provided does not exist, or you do not have "
			    "permissions to access it", what);
		}
	}
	(void)s;
	return POKY_OK;
}

/* ---- submit --------------------------------------------------------------- */

/* Whether a failed ECS launch may still have started the task: the request
 * went out but no answer came, or only 5xx ones.  Throttling, an error
 * document or RunTask failures[] mean ECS started nothing -- unless an
 * earlier attempt of the same call got no answer or a 5xx
 * (maybe_processed): then that attempt may have started it. */
static bool
launch_outcome_unknown(const struct tmpl *t, enum poky_err rc,
		       const struct poky_error *e)
{
	if (t->launcher != LAUNCHER_ECS || rc == POKY_OK || e == NULL)
		return false;
	if (e->maybe_processed && strcmp(e->aws_code, "RunTaskFailure") != 0)
		return true;
	return rc == POKY_ERR_TRANSIENT && !aws_error_is_throttling(e->aws_code) &&
	    (e->aws_code[0] == '\0' || e->http_status >= 500);
}

static enum poky_err
request_hash(const struct submit *s, char out[65])
{
	json_t *o = json_pack("{s:s, s:O, s:s?, s:I}", "template", s->template_name,
	    "parameters", s->parameters ? s->parameters : json_null(),
	    "callback_url", s->callback_url, "timeout_seconds",
	    (json_int_t)s->timeout_seconds);
	char *text;

	/* Only when given: a key reused across an upgrade hashes the same. */
	if (o != NULL && s->labels != NULL && json_object_size(s->labels) > 0)
		json_object_set(o, "labels", s->labels);
	text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	enum poky_err rc;

	json_decref(o);
	if (text == NULL)
		return POKY_ERR_NOMEM;
	rc = crypto_sha256_hex(text, strlen(text), out);
	free(text);
	return rc;
}

/* Store what RunTask answered, waiting for the commit.  Only a DELETE
 * changes a record while its launch is on the way; when one came, ECS has
 * the task all the same: stop it, and keep its ids on the (cancelled)
 * record, which becomes the answer. */
static enum poky_err
store_launch(struct app *app, struct task *task, struct poky_error *e)
{
	struct task cur;
	enum poky_err rc;

	if ((rc = store_update(app->store, task, TS_STARTING, e)) !=
	    POKY_ERR_CONFLICT)
		return rc;
	task_init(&cur);
	for (int i = 0; i < 8 && rc == POKY_ERR_CONFLICT; i++) {
		if ((rc = store_get(app->store, task->id, &cur, e)) != POKY_OK)
			break;
		if (task_status_final(cur.status) && launch_ecs_stop(app, task,
		    cur.reason ? cur.reason : "cancelled", NULL) != POKY_OK)
			log_fields(LOG_LEVEL_WARN, LOG_FIELDS(LF_STR("task_id",
			    task->id), LF_STR("template", task->template_name)),
			    "task %s: cancelled while it launched; StopTask "
			    "on %s failed", task->id, task->ecs_task_arn);
		free(cur.ecs_task_arn);
		free(cur.ecs_cluster);
		free(cur.ecs_last_status);
		free(cur.capacity_provider);
		cur.ecs_task_arn = xstrdup(task->ecs_task_arn);
		cur.ecs_cluster = xstrdup(task->ecs_cluster);
		cur.ecs_last_status = xstrdup(task->ecs_last_status);
		cur.capacity_provider = xstrdup(task->capacity_provider);
		rc = store_update(app->store, &cur, cur.status, e);
	}
	if (rc == POKY_OK) {
		task_cleanup(task);
		*task = cur;
	} else {
		task_cleanup(&cur);
	}
	return rc;
}

/* ---- launches in flight ----------------------------------------------------
 *
 * The ids RunTask answers need not be durable before the 202: a record
 * without them is what a crash mid-launch leaves too, and the tracker
 * finishes such launches after a restart with the same clientToken (ECS
 * answers with the task it already started).  So the update after RunTask
 * is deferred (store_update_deferred): queued, not awaited, and every read
 * that begins after it is queued waits for its commit (read-your-writes).
 *
 * What the writer can't do is the one thing a conflict needs: a DELETE that
 * finalised the record while RunTask was in flight must be followed by a
 * StopTask, and network I/O has no place on the store's writer thread.  So
 * a conflict is never left for the writer to find: each ECS launch is
 * registered here from before its insert until its update is queued, and
 * tasks_cancel marks the entry of its id (touched) before it reads the
 * record.  The submitting thread, under the same lock, either finds its
 * entry touched - and stores synchronously with store_launch, which stops
 * the task exactly once as before - or queues the deferred update while
 * still holding the lock.  A DELETE that comes later marks nothing, but its
 * first read begins after the update was queued, so it waits for it and
 * sees the ARN: it stops the task itself (cancel_once), or finds it
 * already final.  A DELETE learns an id only from a read of the record
 * (after its insert, so after its registration) or from the 202.  DELETEs
 * are rare; a touched launch just takes the old, synchronous path. */

struct launching {
	const char *id;
	bool touched;
	struct launching *next;
};

static pthread_mutex_t launching_lock = PTHREAD_MUTEX_INITIALIZER;
static struct launching *launching_head;

static void
launching_add(struct launching *l, const char *id)
{
	l->id = id;
	l->touched = false;
	pthread_mutex_lock(&launching_lock);
	l->next = launching_head;
	launching_head = l;
	pthread_mutex_unlock(&launching_lock);
}

/* Take l off the list (launching_lock held); whether a DELETE touched it. */
static bool
launching_unlink(struct launching *l)
{
	for (struct launching **p = &launching_head; *p != NULL; p = &(*p)->next)
		if (*p == l) {
			*p = l->next;
			break;
		}
	return l->touched;
}

static void
launching_remove(struct launching *l)
{
	pthread_mutex_lock(&launching_lock);
	launching_unlink(l);
	pthread_mutex_unlock(&launching_lock);
}

/* A DELETE of id is about to read the record. */
static void
launching_touch(const char *id)
{
	pthread_mutex_lock(&launching_lock);
	for (struct launching *l = launching_head; l != NULL; l = l->next)
		if (strcmp(l->id, id) == 0)
			l->touched = true;
	pthread_mutex_unlock(&launching_lock);
}

/* Store what RunTask answered and unregister l: deferred when no DELETE
 * came meanwhile (see above), else synchronously. */
static enum poky_err
launch_done(struct app *app, struct launching *l, struct task *task,
	    struct poky_error *e)
{
	enum poky_err rc = POKY_ERR_CONFLICT;

	pthread_mutex_lock(&launching_lock);
	if (!launching_unlink(l))
		rc = store_update_deferred(app->store, task, TS_STARTING, e);
	pthread_mutex_unlock(&launching_lock);
	if (rc == POKY_OK)
		return rc;
	/* Touched, or no memory to queue it: the synchronous way. */
	return store_launch(app, task, e);
}

enum tasks_launch
tasks_launch_ecs(struct app *app, const char *id, json_t **raw,
		 struct task *launched, struct poky_error *e)
{
	struct app_conf *conf = app_config_get(app);
	const struct tmpl *t;
	struct launching launch = { 0 };
	struct ecs_kv env[TMPL_MAX_ENV];
	json_t *params = NULL;
	struct task task;
	enum tasks_launch res = TL_GONE;
	enum poky_err rc;
	size_t n_env;

	task_init(&task);
	/* Registered before the record is read: a DELETE from here on
	 * touches it, and the ids after RunTask are then stored the
	 * synchronous way (see above). */
	launching_add(&launch, id);
	rc = store_get(app->store, id, &task, e);
	if (rc != POKY_OK) {
		res = rc == POKY_ERR_NOTFOUND ? TL_GONE : TL_RETRY;
		goto out;
	}
	if (task_status_final(task.status) || task.ecs_task_arn != NULL ||
	    task.launcher != LAUNCHER_ECS)
		goto out;
	if (strcmp(task.status, TS_QUEUED) == 0) {
		/* Stored before RunTask: a crash from here on leaves a record
		 * in starting without an ARN, which is finished with the same
		 * clientToken - never a second task. */
		str_copy(task.status, sizeof(task.status), TS_STARTING);
		if ((rc = store_update(app->store, &task, TS_QUEUED, e)) != POKY_OK) {
			res = rc == POKY_ERR_CONFLICT ? TL_GONE : TL_RETRY;
			goto out;
		}
	}
	t = config_template(conf->cfg, task.template_name);
	if (t == NULL || t->launcher != LAUNCHER_ECS) {
		poky_error_set(e, POKY_ERR_INVALID, "template '%s' is no longer "
		    "configured for ECS", task.template_name);
		res = TL_REFUSED;
		goto out;
	}
	params = json_loads(task.parameters ? task.parameters : "{}", 0, NULL);
	n_env = tmpl_env_task(t, params, task.id, env, TMPL_MAX_ENV);
	rc = launch_ecs_start(app, t, &task, env, n_env, raw, e);
	if (rc != POKY_OK && launch_outcome_unknown(t, rc, e)) {
		/* ECS may have started it (no answer, or a 5xx after every
		 * retry): the tracker finishes the launch with the same
		 * clientToken and body. */
		char pending[POKY_ERR_MSG_MAX + 32];

		snprintf(pending, sizeof(pending), LAUNCH_PENDING_PREFIX "%s",
		    e->message);
		free(task.reason);
		task.reason = strdup(pending);
		task.launch_pending = true;
		store_update(app->store, &task, TS_STARTING, NULL);
		log_fields(LOG_LEVEL_WARN, LOG_FIELDS(LF_STR("task_id", task.id),
		    LF_STR("template", task.template_name), LF_STR("status",
		    task.status)), "task %s: %s; the tracker will finish the launch",
		    task.id, pending);
		res = TL_PENDING;
		goto out;
	}
	if (rc != POKY_OK) {
		if (e != NULL && aws_error_is_throttling(e->aws_code))
			res = TL_THROTTLED;
		else if (rc == POKY_ERR_TRANSIENT || rc == POKY_ERR_AUTH ||
		    rc == POKY_ERR_NOMEM)
			res = TL_RETRY;
		else
			res = TL_REFUSED;
		goto out;
	}
	if (task.launch_pending) {
		task.launch_pending = false;
		free(task.reason);
		task.reason = NULL;
	}
	if (launch_done(app, &launch, &task, e) != POKY_OK)
		/* The task runs but its ids are not stored: the tracker
		 * finds it again through the same clientToken. */
		log_fields(LOG_LEVEL_WARN, LOG_FIELDS(LF_STR("task_id", task.id),
		    LF_STR("template", task.template_name), LF_STR("status",
		    task.status)), "task %s: launched as %s, but its ids were "
		    "not stored", task.id, task.ecs_task_arn);
	else
		log_fields(LOG_LEVEL_INFO, LOG_FIELDS(LF_STR("task_id", task.id),
		    LF_STR("template", task.template_name), LF_STR("status",
		    task.status)), "task %s: launched (%s)", task.id,
		    task.ecs_task_arn);
	json_decref(params);
	if (launched != NULL) {
		task_cleanup(launched);
		*launched = task;
		task_init(&task);
	}
	task_cleanup(&task);
	app_config_put(app, conf);
	return TL_LAUNCHED;
out:
	launching_remove(&launch);
	json_decref(params);
	task_cleanup(&task);
	app_config_put(app, conf);
	return res;
}

enum poky_err
tasks_requeue(struct app *app, const char *id)
{
	struct task t;
	enum poky_err rc;

	task_init(&t);
	rc = store_get(app->store, id, &t, NULL);
	if (rc == POKY_OK && strcmp(t.status, TS_QUEUED) == 0) {
		/* The launch failed before it moved the record on. */
	} else if (rc == POKY_OK && strcmp(t.status, TS_STARTING) == 0 &&
	    t.ecs_task_arn == NULL) {
		str_copy(t.status, sizeof(t.status), TS_QUEUED);
		rc = store_update(app->store, &t, TS_STARTING, NULL);
	} else if (rc == POKY_OK) {
		rc = POKY_ERR_CONFLICT;
	}
	task_cleanup(&t);
	return rc;
}

void
tasks_launch_failed(struct app *app, const char *id, const char *why)
{
	char reason[POKY_ERR_MSG_MAX + 32];
	struct task_outcome o = { .never_started = true, .detail = reason };
	struct task t;

	task_init(&t);
	snprintf(reason, sizeof(reason), "not started: %s", why);
	for (int i = 0; i < 8; i++) {
		if (store_get(app->store, id, &t, NULL) != POKY_OK ||
		    tasks_finish(app, &t, &o, NULL) !=
		    POKY_ERR_CONFLICT)
			break;
		task_cleanup(&t);
		task_init(&t);
	}
	task_cleanup(&t);
}

bool
tasks_submit_blocks(const struct config *cfg, const struct submit *s)
{
	const struct tmpl *t = config_template(cfg, s->template_name);

	if (t == NULL)
		return false;
	if (t->launcher == LAUNCHER_DOCKER || s->wait_seconds > 0)
		return true;
	/* Local checks look at folders; ECS templates ask S3. */
	for (size_t i = 0; t->launcher == LAUNCHER_ECS && i < t->n_params; i++)
		if (t->params[i].s3 != PARAM_S3_NONE)
			return true;
	return false;
}

/* A launch that started nothing: which launch failed, and how (fail()
 * resets e, so the AWS detail the answer is made of - error code,
 * Retry-After - is put back after it). */
static enum poky_err
launch_refused(struct submit_result *r, struct poky_error *e,
	       enum launcher_kind kind, enum poky_err rc)
{
	struct poky_error keep = { 0 };

	if (e != NULL)
		keep = *e;
	if (e != NULL && strcmp(keep.aws_code, "RunTaskFailure") == 0)
		rc = fail(r, e, rc, REASON_LAUNCH_FAILED, "%s", keep.message);
	else if (kind == LAUNCHER_DOCKER)
		rc = fail(r, e, rc, REASON_LAUNCH_DOCKER, "%s", e ? keep.message :
		    rc == POKY_ERR_TRANSIENT ? "no answer" :
		    "the Docker engine refused");
	else
		rc = fail(r, e, rc, REASON_LAUNCH, "%s",
		    e ? keep.message : "launch failed");
	if (e != NULL) {
		e->http_status = keep.http_status;
		e->retryable = keep.retryable;
		e->retry_after_ms = keep.retry_after_ms;
		str_copy(e->aws_code, sizeof(e->aws_code), keep.aws_code);
		str_copy(e->request_id, sizeof(e->request_id), keep.request_id);
	}
	return rc;
}

/* A submit that asked to wait (Prefer: wait, /process_file) gets the queued
 * launch's outcome, or the record as it is when the wait runs out first. */
static enum poky_err
wait_launch(struct app *app, const struct submit *s, struct submit_result *r,
	    struct poky_error *e)
{
	struct task *task = &r->task;
	struct launch_outcome out = { 0 };
	char id[TASK_ID_LEN + 1];
	enum poky_err rc;

	str_copy(id, sizeof(id), task->id);
	launchq_wait(app->launchq, task->id, s->wait_seconds, &out);
	if (out.result == LAUNCH_REFUSED) {
		if (e != NULL)
			*e = out.e;
		rc = launch_refused(r, e, LAUNCHER_ECS, out.e.code ? out.e.code :
		    POKY_ERR_REMOTE);
		launch_outcome_cleanup(&out);
		return rc;
	}
	r->run_response = out.raw;
	out.raw = NULL;
	r->launch = out.result;
	task_cleanup(task);
	task_init(task);
	if (out.has_task) {
		/* As the launch left it: its ids need not be committed for the
		 * answer (reads after it wait for them). */
		*task = out.task;
		out.has_task = false;
		task_init(&out.task);
		launch_outcome_cleanup(&out);
		return POKY_OK;
	}
	launch_outcome_cleanup(&out);
	return store_get(app->store, id, task, e) == POKY_OK ? POKY_OK :
	    fail(r, e, POKY_ERR_TRANSIENT, REASON_SUBMIT_STORE, "%s",
	    e ? e->message : "store error");
}

enum poky_err
tasks_submit(struct app *app, const struct config *cfg, const struct submit *s,
	     struct submit_result *r, struct poky_error *e)
{
	const struct tmpl *t = config_template(cfg, s->template_name);
	struct task *task = &r->task;
	json_t *checked = NULL, *errors = NULL;
	char hash[65], id[UUID_STR_LEN + 1];
	const char *why;
	char whybuf[256];
	long timeout;
	const struct launcher_ops *ops;
	enum poky_err rc;

	if (t == NULL) {
		r->field_errors = json_pack("[{s:s, s:s}]", "field", "template",
		    "message", "no such template");
		return fail(r, e, POKY_ERR_INVALID, REASON_INVALID_REQUEST,
		    "no template named '%.64s'", s->template_name);
	}
	checked = tmpl_check(t, s->parameters, &errors);
	if (checked == NULL) {
		r->field_errors = errors;
		return fail(r, e, POKY_ERR_INVALID, REASON_INVALID_PARAMETERS,
		    "%zu parameter(s) rejected", json_array_size(errors));
	}
	if (s->callback_url != NULL && (why = webhook_url_refused(cfg,
	    s->callback_url, whybuf, sizeof(whybuf))) != NULL) {
		json_decref(checked);
		r->field_errors = json_pack("[{s:s, s:s}]", "field", "callback_url",
		    "message", why);
		return fail(r, e, POKY_ERR_INVALID, REASON_INVALID_REQUEST,
		    "callback_url: %s", why);
	}
	/* A longer timeout than the template allows is refused, not cut:
	 * the caller would believe the task had the time it asked for. */
	if (s->timeout_seconds > 0 && t->timeout > 0 &&
	    s->timeout_seconds > t->timeout) {
		json_decref(checked);
		r->field_errors = json_pack("[{s:s, s:s}]", "field",
		    "timeout_seconds", "message", "over the template's timeout");
		return fail(r, e, POKY_ERR_INVALID, REASON_INVALID_REQUEST,
		    "timeout_seconds: at most %ld for template '%s'", t->timeout,
		    t->name);
	}
	timeout = s->timeout_seconds > 0 ? s->timeout_seconds : t->timeout;

	if ((rc = request_hash(s, hash)) != POKY_OK) {
		json_decref(checked);
		return fail(r, e, rc, REASON_SUBMIT_INTERNAL, "cannot hash request");
	}
	if (s->idem_key != NULL) {
		rc = store_get_by_idem(app->store, s->owner, s->idem_key, task, NULL);
		if (rc == POKY_OK) {
			json_decref(checked);
			if (task->request_hash && strcmp(task->request_hash, hash) == 0) {
				r->replayed = true;
				return POKY_OK;
			}
			return fail(r, e, POKY_ERR_CONFLICT, REASON_IDEM_REUSED,
			    "Idempotency-Key was used with a different request");
		}
	}
	if ((rc = s3_checks(app, t, checked, s, r, e)) != POKY_OK) {
		json_decref(checked);
		return rc;
	}

	if (uuid_v7(id) != POKY_OK) {
		json_decref(checked);
		return fail(r, e, POKY_ERR_CRYPTO, REASON_SUBMIT_INTERNAL,
		    "no random numbers");
	}
	task_cleanup(task);
	str_copy(task->id, sizeof(task->id), id);
	str_copy(task->template_name, sizeof(task->template_name), t->name);
	task->launcher = t->launcher;
	str_copy(task->status, sizeof(task->status), TS_QUEUED);
	task->parameters = json_dumps(checked, JSON_COMPACT);
	task->idem_key = xstrdup(s->idem_key);
	task->idem_owner = s->idem_key ? xstrdup(s->owner) : NULL;
	task->request_hash = strdup(hash);
	/* clientToken: the record's id, so every retry of this launch (inside
	 * awsreq, or by the tracker after a restart or an unknown outcome)
	 * sends the same token and body and ECS can't start it twice, while a
	 * new try after a definite failure is a new record and a new token:
	 * ECS keeps a token for 24 h and answers a reused one with the old
	 * failure or ConflictException.  A retried POST with the same
	 * Idempotency-Key finds the kept record instead of launching. */
	task->client_token = strdup(id);
	task->created_at = task->updated_at = clock_real_ms();
	task->timeout_seconds = timeout;
	task->callback_url = xstrdup(s->callback_url);
	task->created_by = xstrdup(s->owner);
	task->labels = s->labels && json_object_size(s->labels) > 0 ?
	    json_dumps(s->labels, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (task->parameters == NULL || task->request_hash == NULL ||
	    task->client_token == NULL || task->created_by == NULL) {
		json_decref(checked);
		return fail(r, e, POKY_ERR_NOMEM, REASON_SUBMIT_NOMEM, "out of memory");
	}

	/* Durable before anything starts: after a crash, the record is what
	 * lets the launch be made (ECS: queued, or same clientToken) or judged. */
	rc = store_insert(app->store, task, e);
	if (rc == POKY_ERR_CONFLICT && s->idem_key != NULL) {
		/* A concurrent request with the same key won the race. */
		json_decref(checked);
		return fail(r, e, POKY_ERR_CONFLICT, REASON_IDEM_IN_USE,
		    "a request with this Idempotency-Key is being processed");
	}
	if (rc != POKY_OK) {
		json_decref(checked);
		return fail(r, e, rc, REASON_SUBMIT_STORE, "%s", e ? e->message : "store error");
	}
	json_decref(checked);

	ops = launcher_ops(t->launcher);
	if (s->wait_seconds > 0 && ops->queued_launch)
		launchq_watch(app->launchq, task->id, s->compat);
	if ((rc = ops->submit(app, task, e)) != POKY_OK) {
		/* Nothing started: forget the record so a retry (same key) can
		 * try again instead of replaying a failure. */
		if (s->wait_seconds > 0 && ops->queued_launch)
			launchq_unwatch(app->launchq, task->id);
		store_delete(app->store, task->id, NULL);
		if (rc == POKY_ERR_LIMIT)
			return fail(r, e, rc, REASON_LAUNCH_QUEUE_FULL, "%s",
			    e ? e->message : "the launch queue is full");
		return launch_refused(r, e, t->launcher, rc);
	}
	log_fields(LOG_LEVEL_INFO, LOG_FIELDS(LF_STR("task_id", task->id),
	    LF_STR("template", task->template_name), LF_STR("status",
	    task->status)), "task %s: created (%s, template %s, by %s)", task->id,
	    task->status, task->template_name, task->created_by);
	if (!ops->queued_launch) {
		r->launch = LAUNCH_STARTED;
		return POKY_OK;
	}
	return s->wait_seconds > 0 ? wait_launch(app, s, r, e) : POKY_OK;
}

/* ---- cancel --------------------------------------------------------------- */

/* One try at cancelling out (not final).  POKY_ERR_CONFLICT when the record
 * changed underneath (the tracker or the local runner moved it on). */
/* StopTask failed: the task goes on, and ends however it ends - not as
 * "cancelled" because of a request that did not reach ECS. */
static void
withdraw_cancel(struct app *app, const char *id)
{
	enum poky_err rc = POKY_ERR_CONFLICT;
	struct task t;

	task_init(&t);
	for (int i = 0; i < 8 && rc == POKY_ERR_CONFLICT; i++) {
		if (store_get(app->store, id, &t, NULL) != POKY_OK ||
		    task_status_final(t.status) || t.cancel_requested_by == NULL)
			break;
		free(t.cancel_requested_by);
		t.cancel_requested_by = NULL;
		rc = store_update(app->store, &t, t.status, NULL);
	}
	task_cleanup(&t);
}

static enum poky_err
cancel_once(struct app *app, struct task *out, const char *by,
	    const char *reason, struct poky_error *e)
{
	const struct task_outcome cancelled = { .cancelled_by = by };
	const struct launcher_ops *ops = launcher_ops(out->launcher);
	enum poky_err rc;

	free(out->cancel_requested_by);
	out->cancel_requested_by = strdup(by);
	if (out->cancel_requested_by == NULL)
		return poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	/* Nothing runs yet (queued; an ECS launch under way stops what its
	 * RunTask started: launching_touch): the record just ends. */
	if (ops->unstarted(out)) {
		if ((rc = tasks_finish(app, out, &cancelled, e)) == POKY_OK)
			launchq_forget(app->launchq, out->id);
		return rc;
	}
	/* The request is stored before the stop: ECS may stop the task at
	 * once, and a tracker round that saw STOPPED before the request was
	 * stored would call the task failed; the lifecycle rule turns the end
	 * into "cancelled" because of it. */
	if ((rc = store_update(app->store, out, out->status, e)) != POKY_OK)
		return rc;
	if ((rc = ops->stop(app, out, reason, e)) != POKY_OK) {
		withdraw_cancel(app, out->id);
		return rc;
	}
	return POKY_OK;
}

enum poky_err
tasks_cancel(struct app *app, const char *id, const char *by, struct task *out,
	     struct poky_error *e)
{
	char reason[160];
	enum poky_err rc = POKY_ERR_CONFLICT;

	if (by == NULL)
		by = "anonymous";
	snprintf(reason, sizeof(reason), "cancelled through the Poky API by %s", by);
	/* Before the first read: a launch in flight then stores its ids
	 * synchronously, and stops the task if this cancel wins. */
	launching_touch(id);
	/* Each try works on a fresh copy of the record, so a change made
	 * meanwhile (starting -> running, queued -> running) is neither lost
	 * nor mistaken for the task having finished. */
	for (int i = 0; i < 8 && rc == POKY_ERR_CONFLICT; i++) {
		if ((rc = store_get(app->store, id, out, e)) != POKY_OK)
			return rc;
		if (task_status_final(out->status))
			return poky_error_set(e, POKY_ERR_CONFLICT, "task already %s",
			    out->status);
		rc = cancel_once(app, out, by, reason, e);
	}
	return rc;
}

/* ---- the worker's result ------------------------------------------------- */

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
	    c == '\f';
}

char *
tasks_result_from_text(const char *text, size_t n, size_t max, bool *too_big)
{
	size_t end = n;

	*too_big = false;
	while (end > 0) {
		size_t start = end, a, b;
		json_t *j;

		while (start > 0 && text[start - 1] != '\n')
			start--;
		a = start;
		b = end;
		end = start > 0 ? start - 1 : 0;
		while (a < b && is_space(text[a]))
			a++;
		while (b > a && is_space(text[b - 1]))
			b--;
		if (b - a < 2 || text[a] != '{' || text[b - 1] != '}')
			continue;
		if (b - a > max) {
			/* The result the worker meant, only too large: an
			 * older line would be the wrong answer. */
			*too_big = true;
			return NULL;
		}
		j = json_loadb(text + a, b - a, JSON_REJECT_DUPLICATES, NULL);
		if (json_is_object(j)) {
			char *r = strndup(text + a, b - a);

			json_decref(j);
			return r;
		}
		json_decref(j);
	}
	return NULL;
}

static void
take_result(struct task *t, const char *text, size_t n)
{
	bool too_big;
	char *r = tasks_result_from_text(text, n, TASK_RESULT_MAX, &too_big);

	if (too_big)
		log_warnx("task %s: its result line is larger than %u bytes; "
		    "not stored", t->id, TASK_RESULT_MAX);
	if (r == NULL)
		return;
	free(t->result);
	t->result = r;
}

void
tasks_result_from_file(struct task *t, const char *path)
{
	char *text = NULL;
	size_t n = 0;

	/* The summary is the worker's last line: the end of the output is
	 * enough, however long the output. */
	if (local_log_tail(path, TASK_RESULT_SCAN, &text, &n, NULL) != POKY_OK)
		return;
	take_result(t, text, n);
	free(text);
}

static void
tasks_result_local(struct app *app, struct task *t)
{
	char path[4096];

	local_log_path(app, t->id, path, sizeof(path));
	tasks_result_from_file(t, path);
}

/* Events of the stream's newest page looked at for the result line. */
#define RESULT_TAIL_EVENTS 50

void
tasks_result_from_ecs(struct app *app, struct task *t)
{
	struct aws_client *aws;
	struct poky_error e;
	char *text = NULL;
	size_t n = 0;

	if (t->ecs_log_group == NULL || t->ecs_log_stream == NULL)
		return;
	if ((aws = app_aws(app, &e)) == NULL)
		return;
	if (logs_read_tail(aws, t->ecs_log_group, t->ecs_log_stream,
	    RESULT_TAIL_EVENTS, TASK_RESULT_SCAN, &text, &n, &e) != POKY_OK) {
		if (e.code != POKY_ERR_NOTFOUND)
			log_warnx("task %s: no result from its log stream: %s",
			    t->id, e.message);
		return;
	}
	take_result(t, text, n);
	free(text);
}
