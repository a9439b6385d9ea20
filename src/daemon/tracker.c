/* tracker.c - follow ECS tasks to their end (see tracker.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "poky/app.h"
#include "poky/awsreq.h"
#include "poky/bgthread.h"
#include "poky/clock.h"
#include "poky/ecs.h"
#include "poky/launch.h"
#include "poky/launchq.h"
#include "poky/lifecycle.h"
#include "poky/log.h"
#include "poky/str.h"
#include "poky/templates.h"
#include "poky/tracker.h"

#define MAX_TRACKED 10000
#define BACKOFF_MAX 4.0                 /* x poll_interval while idle */
#define TIMEOUT_PREFIX "timeout after "
/* An ECS record without a task ARN is queued, being launched by the launch
 * queue right now (launchq_has), or has the launch-pending reason: its
 * launch was interrupted by a restart or its outcome is unknown, and the
 * tracker hands it back to the launch queue to finish. */

struct tracker {
	struct app *app;
	struct bgthread bg;             /* its lock guards factor */
	double factor;                  /* current backoff multiple */
};

struct batch {
	char *cluster;
	char **arns;
	char **ids;
	size_t n;
};

struct collect {
	struct app *app;
	struct batch *b;
	size_t nb;
	int relaunched;
};

static void
set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = v && *v ? strdup(v) : NULL;
}


/* An ECS record in starting, without an ARN and not in the launch queue,
 * whose last change (queued -> starting, before RunTask) is older than any
 * launch of it can take - every attempt, every wait between them, and one
 * attempt more to spare - had its ids lost (a store update after RunTask
 * that failed): the launch queue finishes it as after a restart, with the
 * same clientToken, so ECS answers with the task it started. */
static bool
launch_overdue(struct app *app, const struct task *t)
{
	struct app_conf *conf = app_config_get(app);
	const struct config *cfg = conf->cfg;
	double attempt = (double)(cfg->aws.connect_timeout + cfg->aws.request_timeout);
	double bound = (cfg->aws.max_attempts + 1) * attempt +
	    (cfg->aws.max_attempts - 1) * (AWS_MAX_BACKOFF_MS / 1000.0) + 5.0;

	app_config_put(app, conf);
	return t->updated_at > 0 && clock_real() - t->updated_at > bound;
}

struct orphans {
	char (*ids)[TASK_ID_LEN + 1];
	size_t n, cap;
};

static int
note_orphan(void *ud, const struct task *t)
{
	struct orphans *o = ud;

	if (t->launcher != LAUNCHER_ECS || t->ecs_task_arn != NULL ||
	    strcmp(t->status, TS_QUEUED) == 0 || t->launch_pending)
		return 0;
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 16;
		void *v = realloc(o->ids, cap * sizeof(*o->ids));

		if (v == NULL)
			return 1;
		o->ids = v;
		o->cap = cap;
	}
	str_copy(o->ids[o->n++], TASK_ID_LEN + 1, t->id);
	return 0;
}

/* Before any request runs: every ECS record still without an ARN was being
 * launched when pokyd stopped.  Mark them for the tracker to finish. */
static void
adopt_interrupted(struct app *app)
{
	struct orphans o = { 0 };

	store_unfinished(app->store, note_orphan, &o, NULL);
	for (size_t i = 0; i < o.n; i++) {
		struct task t;

		task_init(&t);
		if (store_get(app->store, o.ids[i], &t, NULL) == POKY_OK) {
			free(t.reason);
			t.reason = strdup(LAUNCH_PENDING_PREFIX "interrupted by a restart");
			t.launch_pending = true;
			store_update(app->store, &t, t.status, NULL);
		}
		task_cleanup(&t);
	}
	free(o.ids);
}

static int
collect_one(void *ud, const struct task *t)
{
	struct collect *c = ud;
	struct batch *b = NULL;

	if (t->launcher != LAUNCHER_ECS || strcmp(t->status, TS_QUEUED) == 0)
		return 0;
	if (t->ecs_task_arn == NULL) {
		/* Only a queue push here: no network I/O inside the store's
		 * iteration. */
		if (!launchq_has(c->app->launchq, t->id) &&
		    (t->launch_pending || launch_overdue(c->app, t))) {
			launchq_resume(c->app->launchq, t->id, t->template_name);
			c->relaunched++;
		}
		return 0;
	}
	for (size_t i = 0; i < c->nb; i++)
		if (strcmp(c->b[i].cluster, t->ecs_cluster) == 0)
			b = &c->b[i];
	if (b == NULL) {
		struct batch *v = realloc(c->b, (c->nb + 1) * sizeof(*v));

		if (v == NULL)
			return 1;
		c->b = v;
		b = &c->b[c->nb++];
		memset(b, 0, sizeof(*b));
		b->cluster = strdup(t->ecs_cluster);
		b->arns = calloc(MAX_TRACKED, sizeof(char *));
		b->ids = calloc(MAX_TRACKED, sizeof(char *));
		if (b->cluster == NULL || b->arns == NULL || b->ids == NULL)
			return 1;
	}
	if (b->n == MAX_TRACKED)
		return 0;
	b->arns[b->n] = strdup(t->ecs_task_arn);
	b->ids[b->n] = strdup(t->id);
	if (b->arns[b->n] != NULL && b->ids[b->n] != NULL)
		b->n++;
	return 0;
}

/* The container Poky overrides is the one whose exit counts; without it,
 * the first that reports one. */
static const struct ecs_container *
main_container(const struct ecs_task *et, const char *name)
{
	for (size_t i = 0; i < et->n_containers; i++)
		if (name != NULL && strcmp(et->containers[i].name, name) == 0)
			return &et->containers[i];
	for (size_t i = 0; i < et->n_containers; i++)
		if (et->containers[i].has_exit_code)
			return &et->containers[i];
	return et->n_containers ? &et->containers[0] : NULL;
}

/* Apply what ECS says to one record; true when something changed. */
static bool
apply(struct app *app, const char *id, const struct ecs_task *et)
{
	struct task t;
	bool changed = false;
	char reason[768];

	task_init(&t);
	if (store_get(app->store, id, &t, NULL) != POKY_OK ||
	    task_status_final(t.status))
		goto out;
	if (et->missing) {
		/* ECS forgets stopped tasks after about an hour. */
		const struct task_outcome lost = { .lost = true,
			.detail = "ECS no longer knows this task" };

		tasks_finish(app, &t, &lost, NULL);
		changed = true;
		goto out;
	}
	if (t.ecs_last_status == NULL || strcmp(t.ecs_last_status, et->last_status) != 0) {
		set_str(&t.ecs_last_status, et->last_status);
		changed = true;
	}
	if (et->started_at > 0 && t.started_at <= 0)
		t.started_at = et->started_at;
	if (strcmp(et->last_status, "STOPPED") == 0) {
		struct app_conf *conf = app_config_get(app);
		const struct tmpl *tp = config_template(conf->cfg, t.template_name);
		const struct ecs_container *c = main_container(et, tp ? tp->container : NULL);
		struct task_outcome o = { .timed_out = t.timed_out,
			.timeout = t.timeout_seconds,
			.cancelled_by = t.cancel_requested_by, .detail = reason };

		set_str(&t.stop_code, et->stop_code);
		set_str(&t.ecs_stopped_reason, et->stopped_reason);
		if (et->stopped_at > 0)
			t.finished_at = et->stopped_at;
		reason[0] = '\0';
		if (c != NULL && c->has_exit_code) {
			o.has_exit_code = true;
			o.exit_code = c->exit_code;
		}
		if (strcmp(et->stop_code, "TaskFailedToStart") == 0) {
			o.never_started = true;
			snprintf(reason, sizeof(reason), "task failed to start: %s",
			    et->stopped_reason);
		} else if (c == NULL || !c->has_exit_code) {
			/* No exit code means the container never ran: that is
			 * a failure, whatever else ECS says. */
			o.never_started = true;
			snprintf(reason, sizeof(reason), "no exit code: %s%s%s",
			    et->stopped_reason, c && c->reason[0] ? " - " : "",
			    c ? c->reason : "");
		}
		app_config_put(app, conf);
		/* Outside any store iteration, on the tracker's thread. */
		tasks_result_from_ecs(app, &t);
		tasks_finish(app, &t, &o, NULL);
		changed = true;
		goto out;
	}
	if (strcmp(et->last_status, "RUNNING") == 0 && strcmp(t.status, TS_STARTING) == 0) {
		tasks_set_status(app, &t, TS_RUNNING, NULL);
		changed = true;
	} else if (changed) {
		store_update(app->store, &t, t.status, NULL);
	}
	/* Timeout: ECS has no run-time limit of its own. */
	if (t.timeout_seconds > 0 && !task_status_final(t.status) && !t.timed_out &&
	    clock_real() - (t.started_at > 0 ? t.started_at : t.created_at) >
	    (double)t.timeout_seconds) {
		struct poky_error e;

		snprintf(reason, sizeof(reason), TIMEOUT_PREFIX "%ld s", t.timeout_seconds);
		if (launch_ecs_stop(app, &t, reason, &e) == POKY_OK) {
			set_str(&t.reason, reason);
			t.timed_out = true;
			store_update(app->store, &t, t.status, NULL);
			log_fields(LOG_LEVEL_INFO, LOG_FIELDS(LF_STR("task_id", t.id),
			    LF_STR("template", t.template_name), LF_STR("status",
			    t.status)), "task %s: %s, stopping it", t.id, reason);
			changed = true;
		} else {
			log_fields(LOG_LEVEL_WARN, LOG_FIELDS(LF_STR("task_id", t.id),
			    LF_STR("template", t.template_name), LF_STR("status",
			    t.status)), "task %s: StopTask after timeout failed: %s",
			    t.id, e.message);
		}
	}
out:
	task_cleanup(&t);
	return changed;
}

static bool
poll_once(struct tracker *tr)
{
	struct collect c = { .app = tr->app };
	bool changed = false;

	store_unfinished(tr->app->store, collect_one, &c, NULL);
	for (size_t i = 0; i < c.nb; i++) {
		struct batch *b = &c.b[i];
		struct ecs_task *out = b->n ? calloc(b->n, sizeof(*out)) : NULL;
		struct aws_client *aws;
		struct poky_error e;

		if (out != NULL && (aws = app_aws(tr->app, &e)) != NULL) {
			if (ecs_describe_tasks(aws, b->cluster,
			    (const char *const *)b->arns, b->n, out, &e) == POKY_OK) {
				for (size_t k = 0; k < b->n; k++)
					changed |= apply(tr->app, b->ids[k], &out[k]);
			} else {
				log_warnx("tracker: DescribeTasks on %s failed: %s",
				    b->cluster, e.message);
			}
		}
		free(out);
		for (size_t k = 0; k < b->n; k++) {
			free(b->arns[k]);
			free(b->ids[k]);
		}
		free(b->arns);
		free(b->ids);
		free(b->cluster);
	}
	free(c.b);
	return changed || c.relaunched > 0;
}

static void *
tracker_main(void *p)
{
	struct tracker *tr = p;

	pthread_mutex_lock(&tr->bg.lock);
	while (!bgthread_stopping(&tr->bg)) {
		struct app_conf *conf;
		double interval;
		bool changed;

		pthread_mutex_unlock(&tr->bg.lock);
		changed = poll_once(tr);
		conf = app_config_get(tr->app);
		interval = conf->cfg->tracker.poll_interval;
		app_config_put(tr->app, conf);
		pthread_mutex_lock(&tr->bg.lock);
		/* Back off while nothing moves; come back at once on a change. */
		tr->factor = changed ? 1.0 : (tr->factor * 2 > BACKOFF_MAX ?
		    BACKOFF_MAX : tr->factor * 2);
		bgthread_wait(&tr->bg, interval * tr->factor);
	}
	pthread_mutex_unlock(&tr->bg.lock);
	return NULL;
}

struct tracker *
tracker_new(struct app *app)
{
	struct tracker *tr = calloc(1, sizeof(*tr));

	if (tr == NULL)
		return NULL;
	tr->app = app;
	tr->factor = 1.0;
	adopt_interrupted(app);
	if (bgthread_init(&tr->bg) != 0) {
		free(tr);
		return NULL;
	}
	if (bgthread_start(&tr->bg, tracker_main, tr) != 0) {
		tracker_free(tr);
		return NULL;
	}
	return tr;
}

void
tracker_kick(struct tracker *tr)
{
	if (tr == NULL)
		return;
	pthread_mutex_lock(&tr->bg.lock);
	tr->factor = 1.0;
	pthread_mutex_unlock(&tr->bg.lock);
	bgthread_kick(&tr->bg);
}

void
tracker_free(struct tracker *tr)
{
	if (tr == NULL)
		return;
	bgthread_destroy(&tr->bg);
	free(tr);
}
