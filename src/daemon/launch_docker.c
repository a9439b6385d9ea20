/* launch_docker.c - tasks as containers of a Docker engine (launcher = docker).
 *
 * pokyd speaks the Docker Engine API (v1.41) to the engine's unix socket
 * (the template's docker_host, else DOCKER_HOST, else /var/run/docker.sock)
 * with libcurl.  A task's container is named poky-<id> and labelled
 * poky.task-id and poky.template; its environment is the parameters and the
 * template's env, never pokyd's own.  The image is pulled as the template's
 * `pull` says (missing, always, never).
 *
 * A runner thread inspects every container it follows twice a second: it
 * enforces timeouts and cancels (the container's stop signal, SIGKILL after
 * kill_grace), starts queued tasks as slots free up (max_running, FIFO), and
 * at the end copies the container's output to state_dir/logs/<id>.log,
 * records how it ended and removes the container (remove = true).
 *
 * The record moves queued -> starting (the container exists; its id is on
 * the record) -> running -> succeeded | failed | cancelled | lost.  The
 * engine keeps the containers while pokyd restarts: a new pokyd follows
 * every unfinished docker task again (by the container id on the record, or
 * the poky.task-id label) and marks lost a task whose container is gone.
 *
 * This file holds the slots (a template's max_running places), submit,
 * cancel, the resume after a restart and the launcher_ops glue; the engine
 * client, the containers and the runner thread are in the docker_*.c files
 * (see docker_internal.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "poky/clock.h"
#include "poky/lifecycle.h"
#include "poky/log.h"
#include "poky/str.h"

#include "docker_internal.h"

/* ---- slots ---------------------------------------------------------------- */


struct slot *
docker_slot_find(struct docker_runner *r, const char *id)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->slots[i].id, id) == 0)
			return &r->slots[i];
	return NULL;
}

size_t
docker_slots_of(struct docker_runner *r, const char *tmpl)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n; i++)
		n += strcmp(r->slots[i].template_name, tmpl) == 0;
	return n;
}

void
docker_slot_drop(struct docker_runner *r, const char *id)
{
	struct slot *s;

	pthread_mutex_lock(&r->bg.lock);
	if ((s = docker_slot_find(r, id)) != NULL)
		*s = r->slots[--r->n];
	pthread_mutex_unlock(&r->bg.lock);
}

/* Take a place for task id of template t.  Called with r->bg.lock held. */
struct slot *
docker_slot_take(struct docker_runner *r, const struct tmpl *t, const char *id,
	  long timeout)
{
	struct slot *s;

	if (r->n == MAX_SLOTS || docker_slot_find(r, id) != NULL)
		return NULL;
	s = &r->slots[r->n++];
	memset(s, 0, sizeof(*s));
	str_copy(s->id, sizeof(s->id), id);
	str_copy(s->template_name, sizeof(s->template_name), t->name);
	docker_host_of(t, s->host, sizeof(s->host));
	s->state = SLOT_STARTING;
	s->remove = t->docker_remove;
	s->kill_grace = t->kill_grace;
	s->timeout = timeout;
	return s;
}


/* ---- the launcher's interface --------------------------------------------- */

/* The runner, kicked by another submit, may have taken this very record
 * from the queue between its insert and this call.  Its start is then under
 * way on the runner's thread: wait for it (bounded; this runs on an offload
 * thread) so the answer shows what a start here would have - the container
 * and its status - and not a record that is "queued" only for a moment. */
static void
started_elsewhere(struct docker_runner *r, struct task *task)
{
	double until = clock_mono() + (double)CALL_TIMEOUT_MS / 1000.0;
	bool taken = false;

	for (;;) {
		const struct slot *s;
		bool starting;

		pthread_mutex_lock(&r->bg.lock);
		s = docker_slot_find(r, task->id);
		starting = s != NULL && s->state == SLOT_STARTING;
		taken = taken || s != NULL;
		pthread_mutex_unlock(&r->bg.lock);
		if (!starting || bgthread_stopping(&r->bg) || clock_mono() >= until)
			break;
		usleep(10000);
	}
	if (taken && store_get(r->app->store, task->id, task, NULL) != POKY_OK)
		log_warnx("task %s: cannot read it back", task->id);
}

enum poky_err
docker_submit(struct docker_runner *r, struct task *task, struct poky_error *e)
{
	struct app_conf *conf;
	const struct tmpl *t;
	struct slot *s = NULL;
	struct engine en;
	char host[HOST_MAX];
	enum poky_err rc;

	if (r == NULL)
		return poky_error_set(e, POKY_ERR_INVALID,
		    "the docker launcher is not running");
	conf = app_config_get(r->app);
	t = config_template(conf->cfg, task->template_name);
	if (t == NULL || t->launcher != LAUNCHER_DOCKER) {
		app_config_put(r->app, conf);
		return poky_error_set(e, POKY_ERR_INVALID, "template %s is not a "
		    "docker template", task->template_name);
	}
	pthread_mutex_lock(&r->bg.lock);
	/* FIFO: a new task may start only when no older one is waiting. */
	if (docker_slots_of(r, t->name) < (size_t)t->max_running) {
		struct task head;

		task_init(&head);
		if (store_oldest(r->app->store, TS_QUEUED, t->name, &head,
		    NULL) == POKY_OK && strcmp(head.id, task->id) == 0)
			s = docker_slot_take(r, t, task->id, task->timeout_seconds);
		task_cleanup(&head);
	}
	pthread_mutex_unlock(&r->bg.lock);
	if (s == NULL) {
		app_config_put(r->app, conf);
		bgthread_kick(&r->bg);
		started_elsewhere(r, task);
		return POKY_OK;                 /* queued, or started by the runner */
	}
	docker_host_of(t, host, sizeof(host));
	rc = engine_open(&en, host, e);
	if (rc == POKY_OK) {
		rc = docker_start_task(r, &en, t, task->id, true, e);
		/* Here, not in docker_start_task: the runner calls that too,
		 * and a kick of its own would cost it a needless extra round. */
		bgthread_kick(&r->bg);
	}
	engine_close(&en);
	app_config_put(r->app, conf);
	if (rc != POKY_OK) {
		/* Nothing runs: the record goes (the caller answers the error)
		 * before its place is given back, or the runner would take the
		 * still queued record for a launch of its own meanwhile. */
		store_delete(r->app->store, task->id, NULL);
		docker_slot_drop(r, task->id);
		return rc;
	}
	/* The answer shows the record as it is now (running, its container). */
	if (store_get(r->app->store, task->id, task, NULL) != POKY_OK)
		log_warnx("task %s: cannot read it back", task->id);
	return POKY_OK;
}

enum poky_err
docker_cancel(struct docker_runner *r, const struct task *task,
	      struct poky_error *e)
{
	struct slot *s;

	(void)e;
	if (r == NULL)
		return POKY_OK;
	pthread_mutex_lock(&r->bg.lock);
	if ((s = docker_slot_find(r, task->id)) != NULL)
		s->term_wanted = true;
	pthread_mutex_unlock(&r->bg.lock);
	bgthread_kick(&r->bg);
	return POKY_OK;
}

/* After a restart: follow again every docker task that had a container,
 * or may have. */
static int
resume_one(void *ud, const struct task *t)
{
	struct docker_runner *r = ud;
	struct app_conf *conf;
	const struct tmpl *tp;
	struct slot *s;

	if (t->launcher != LAUNCHER_DOCKER || strcmp(t->status, TS_QUEUED) == 0)
		return 0;
	if (r->n == MAX_SLOTS)
		return 1;
	conf = app_config_get(r->app);
	tp = config_template(conf->cfg, t->template_name);
	s = &r->slots[r->n++];
	memset(s, 0, sizeof(*s));
	str_copy(s->id, sizeof(s->id), t->id);
	str_copy(s->template_name, sizeof(s->template_name), t->template_name);
	docker_host_of(tp, s->host, sizeof(s->host));
	str_copy(s->container, sizeof(s->container),
	    t->container_id ? t->container_id : "");
	s->state = SLOT_RUNNING;
	s->remove = tp ? tp->docker_remove : true;
	s->kill_grace = tp ? tp->kill_grace : 10;
	s->timeout = t->timeout_seconds;
	s->running_recorded = strcmp(t->status, TS_RUNNING) == 0;
	s->term_wanted = t->cancel_requested_by != NULL;
	if (t->timeout_seconds > 0 && t->started_at > 0) {
		s->deadline = clock_mono() + (t->started_at + (double)t->timeout_seconds -
		    clock_real());
		if (s->deadline <= 0)
			s->deadline = 1e-9;
	}
	app_config_put(r->app, conf);
	log_info("task %s: following container %.12s again", t->id,
	    s->container[0] ? s->container : "(by label)");
	return 0;
}

struct docker_runner *
docker_new(struct app *app)
{
	struct docker_runner *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->app = app;
	r->slots = calloc(MAX_SLOTS, sizeof(*r->slots));
	if (r->slots == NULL || bgthread_init(&r->bg) != 0) {
		free(r->slots);
		free(r);
		return NULL;
	}
	pthread_mutex_lock(&r->bg.lock);
	store_unfinished(app->store, resume_one, r, NULL);
	pthread_mutex_unlock(&r->bg.lock);
	if (bgthread_start(&r->bg, docker_runner_main, r) != 0) {
		docker_free(r);
		return NULL;
	}
	return r;
}

void
docker_free(struct docker_runner *r)
{
	if (r == NULL)
		return;
	/* The engines are the thread's: closed once it is gone. */
	bgthread_destroy(&r->bg);
	for (size_t i = 0; i < r->n_engines; i++)
		engine_close(&r->engines[i]);
	free(r->slots);
	free(r);
}

/* ---- the launcher interface --------------------------------------------- */

static enum poky_err
docker_ops_submit(struct app *app, struct task *task, struct poky_error *e)
{
	return docker_submit(app->docker, task, e);
}

static bool
docker_unstarted(const struct task *task)
{
	/* Queued: waiting for a slot, nothing runs yet. */
	return strcmp(task->status, TS_QUEUED) == 0;
}

static enum poky_err
docker_stop(struct app *app, const struct task *task, const char *reason,
       struct poky_error *e)
{
	(void)reason;           /* a signal carries none */
	return docker_cancel(app->docker, task, e);
}

static json_t *
docker_detail_json(const struct task *t)
{
	char log[64];

	snprintf(log, sizeof(log), "/tasks/%s/logs", t->id);
	return json_pack("{s:o, s:o, s:s}", "container_id",
	    t->container_id ? json_string(t->container_id) : json_null(),
	    "image", t->container_image ? json_string(t->container_image) :
	    json_null(), "log", log);
}

static enum poky_err
docker_ops_logs(struct app *app, const struct task *t, size_t max,
		struct task_logs *out, enum poky_reason *why,
		struct poky_error *e)
{
	*why = REASON_LOGS_DOCKER;
	return docker_logs(app, t, max, &out->text, &out->text_len, e);
}

/* Every docker template's engine answers _ping (the first failure is
 * the detail). */
static bool
docker_ready(struct app *app, const struct config *cfg, json_t *checks)
{
	bool ok = true;

	(void)app;
	for (size_t i = 0; i < cfg->n_templates; i++) {
		const struct tmpl *t = cfg->templates[i];
		struct poky_error e;

		if (t->launcher != LAUNCHER_DOCKER)
			continue;
		if (ok && docker_ping(t, &e) != POKY_OK) {
			ok = false;
			json_object_set_new(checks, "docker_engine_error",
			    json_string(e.message));
		}
		json_object_set_new(checks, "docker_engine", json_boolean(ok));
	}
	return ok;
}

const struct launcher_ops launch_docker_ops = {
	.submit = docker_ops_submit, .unstarted = docker_unstarted,
	.stop = docker_stop, .detail_json = docker_detail_json,
	.logs_block = true, .logs = docker_ops_logs, .ready = docker_ready,
};
