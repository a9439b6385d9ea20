/* docker_runner.c - the docker launcher's runner thread.
 *
 * Twice a second it looks at every container it follows: it enforces
 * timeouts and cancels (the container's stop signal, SIGKILL after
 * kill_grace), starts a container again whose start was interrupted, and at
 * the end saves the output, records how it ended and removes the container.
 * Then it starts queued tasks as their template's places free up (FIFO).
 * Record changes are retried on a conflict so no writer's change is lost. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poky/clock.h"
#include "poky/lifecycle.h"
#include "poky/log.h"
#include "poky/str.h"

#include "docker_internal.h"

/* ---- records -------------------------------------------------------------- */

/* A change made to a fresh copy of a record, again when another writer got
 * there first (POKY_ERR_CONFLICT), so none is lost. */
typedef enum poky_err (*change_fn)(struct app *app, struct task *t, void *ud,
				   struct poky_error *e);

static enum poky_err
change(struct app *app, const char *id, change_fn fn, void *ud,
       struct poky_error *e)
{
	struct task t;
	enum poky_err rc = POKY_ERR_CONFLICT;

	for (int i = 0; i < RETRIES && rc == POKY_ERR_CONFLICT; i++) {
		task_init(&t);
		rc = store_get(app->store, id, &t, e);
		if (rc == POKY_OK)
			rc = fn(app, &t, ud, e);
		task_cleanup(&t);
	}
	return rc;
}

struct created {
	const char *cid;
	const char *image;
	bool gone;                      /* the record is final: run nothing */
};

/* queued -> starting, with the container's id (and the image, when
 * known). */
static enum poky_err
ch_created(struct app *app, struct task *t, void *ud, struct poky_error *e)
{
	struct created *c = ud;

	if (task_status_final(t->status)) {
		c->gone = true;
		return POKY_OK;
	}
	free(t->container_id);
	t->container_id = strdup(c->cid);
	if (c->image != NULL) {
		free(t->container_image);
		t->container_image = strdup(c->image);
	}
	if (t->container_id == NULL || (c->image && t->container_image == NULL))
		return poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	if (strcmp(t->status, TS_QUEUED) == 0)
		return tasks_set_status(app, t, TS_STARTING, e);
	return store_update(app->store, t, t->status, e);
}

static enum poky_err
ch_running(struct app *app, struct task *t, void *ud, struct poky_error *e)
{
	(void)ud;
	if (task_status_final(t->status) || strcmp(t->status, TS_RUNNING) == 0)
		return POKY_OK;
	return tasks_set_status(app, t, TS_RUNNING, e);
}

/* How a task ended, from its container or from a failure to run it. */
struct outcome {
	bool has_exit;
	int exit_code;
	bool oom;
	const char *error;              /* the engine's, or why it can't run */
	bool timed_out;
	long timeout;
	double started_at;              /* the engine's, 0: unknown */
	const char *status;             /* forced status (lost), or NULL */
};

static enum poky_err
ch_finish(struct app *app, struct task *t, void *ud, struct poky_error *e)
{
	const struct outcome *o = ud;
	struct task_outcome to = { .lost = o->status != NULL &&
		strcmp(o->status, TS_LOST) == 0,
		.timed_out = o->timed_out, .timeout = o->timeout,
		.cancelled_by = t->cancel_requested_by, .oom = o->oom,
		.has_exit_code = o->has_exit, .exit_code = o->exit_code,
		.detail = o->error };

	/* Ended between two looks (or while pokyd was down): never seen
	 * running, but the engine knows when it started. */
	if (t->started_at <= 0 && o->started_at > 0)
		t->started_at = o->started_at;
	/* An engine error without an exit status: it never ran. */
	if (!o->has_exit && o->error != NULL && *o->error && !to.lost)
		to.never_started = true;
	return tasks_finish(app, t, &to, e);
}

static void
finish(struct app *app, const char *id, const struct outcome *o)
{
	struct poky_error e;

	if (change(app, id, ch_finish, (void *)o, &e) != POKY_OK)
		log_warnx("task %s: could not record its end: %s", id, e.message);
}

static void
mark_lost(struct app *app, const char *id, const char *why)
{
	struct outcome o = { .status = TS_LOST, .error = why };

	finish(app, id, &o);
}


/* ---- the runner ----------------------------------------------------------- */

/* The runner thread's connection to host. */
static struct engine *
runner_engine(struct docker_runner *r, const char *host, struct poky_error *e)
{
	struct engine *en;

	for (size_t i = 0; i < r->n_engines; i++)
		if (strcmp(r->engines[i].host, host) == 0)
			return &r->engines[i];
	if (r->n_engines == MAX_ENGINES)
		engine_close(&r->engines[--r->n_engines]);
	en = &r->engines[r->n_engines];
	if (engine_open(en, host, e) != POKY_OK) {
		engine_close(en);
		return NULL;
	}
	en->cancel = &r->bg.stop;
	r->n_engines++;
	return en;
}

/* Create and start the container of task id, whose slot (STARTING) the
 * caller took.  Called without the lock, holding a reference to the
 * configuration t comes from.  The slot is RUNNING when this returns
 * POKY_OK with the task started (or followed: a start the engine did not
 * answer), and dropped otherwise - but on an error, kept when hold is true
 * (the caller drops it). */
enum poky_err
docker_start_task(struct docker_runner *r, struct engine *en, const struct tmpl *t,
	   const char *id, bool hold, struct poky_error *e)
{
	struct app *app = r->app;
	struct task task;
	struct created cr = { .image = t->image };
	char cid[CID_MAX] = "";
	bool follow = false;
	enum poky_err rc;
	struct slot *s;

	task_init(&task);
	rc = store_get(app->store, id, &task, e);
	if (rc == POKY_ERR_NOTFOUND || (rc == POKY_OK &&
	    task_status_final(task.status))) {
		rc = POKY_OK;                   /* cancelled, or given up */
		goto out;
	}
	if (rc != POKY_OK || (rc = engine_image_ensure(en, t, e)) != POKY_OK)
		goto out;
	rc = engine_container_create(en, t, &task, cid, sizeof(cid), e);
	if (rc == POKY_ERR_CONFLICT || (rc == POKY_ERR_REMOTE && e != NULL &&
	    strstr(e->message, "already in use") != NULL)) {
		/* Made before a restart that came before the record said so:
		 * it never started.  Make it again. */
		char old[64];

		snprintf(old, sizeof(old), "poky-%s", id);
		engine_container_remove(en, id, old);
		rc = engine_container_create(en, t, &task, cid, sizeof(cid), e);
	}
	if (rc != POKY_OK)
		goto out;
	cr.cid = cid;
	if ((rc = change(app, id, ch_created, &cr, e)) != POKY_OK || cr.gone) {
		engine_container_remove(en, id, cid);
		if (cr.gone)
			rc = POKY_OK;
		goto out;
	}
	rc = engine_container_op(en, "POST", cid, "/start", e);
	if (rc == POKY_ERR_TRANSIENT) {
		/* The engine took the container and then went quiet: it may
		 * have started it.  The runner finds out. */
		log_warnx("task %s: starting container %.12s: %s; following it",
		    id, cid, e ? e->message : "no answer");
		follow = true;
	} else if (rc != POKY_OK) {
		engine_error_prefix(e, rc, "starting the container");
		engine_container_remove(en, id, cid);
		goto out;
	}
	pthread_mutex_lock(&r->bg.lock);
	if ((s = docker_slot_find(r, id)) != NULL) {
		s->state = SLOT_RUNNING;
		str_copy(s->container, sizeof(s->container), cid);
		if (!follow && s->timeout > 0)
			s->deadline = clock_mono() + (double)s->timeout;
		s->running_recorded = !follow;
	}
	pthread_mutex_unlock(&r->bg.lock);
	if (!follow) {
		struct poky_error we;

		log_info("task %s: container %.12s of image %s started on %s", id,
		    cid, t->image, en->host);
		if (change(app, id, ch_running, NULL, &we) != POKY_OK)
			log_warnx("task %s: cannot record it running: %s", id,
			    we.message);
	}
	task_cleanup(&task);
	return POKY_OK;
out:
	task_cleanup(&task);
	if (rc == POKY_OK || !hold)
		docker_slot_drop(r, id);
	return rc;
}

/* The end of a container: its output saved, the record final, the
 * container removed.  False when it must wait (the engine did not give the
 * output): the next tick tries again. */
static bool
end_task(struct docker_runner *r, struct engine *en, struct slot *x,
	 const struct seen *st)
{
	struct poky_error e;
	struct outcome o = { .has_exit = st->has_exit, .exit_code = st->exit_code,
		.oom = st->oom, .error = st->error, .timed_out = x->timed_out,
		.timeout = x->timeout, .started_at = st->started_at };
	enum poky_err rc;

	/* The output first: whoever sees the end can read all of it, and a
	 * removed container's output lives on in the file. */
	rc = engine_logs_save(r->app, en, x->id, x->container, &e);
	if (rc == POKY_ERR_TRANSIENT)
		return false;
	if (rc != POKY_OK)
		log_warnx("task %s: cannot save the output of container %.12s: %s",
		    x->id, x->container, e.message);
	finish(r->app, x->id, &o);
	if (x->remove && rc == POKY_OK)
		engine_container_remove(en, x->id, x->container);
	else if (x->remove)
		log_warnx("task %s: container %.12s kept: its output is not saved",
		    x->id, x->container);
	return true;
}

static void
warn_engine(struct slot *x, const struct poky_error *e)
{
	double now = clock_mono();

	if (x->warned_at == 0 || now - x->warned_at >= WARN_EVERY) {
		log_warnx("task %s: %s", x->id, e->message);
		x->warned_at = now;
	}
}

/* What a step of follow() leaves to do. */
enum look { LOOK_ON, LOOK_KEEP, LOOK_DROP };

/* Resumed with no container id on the record (one written by an older
 * pokyd, say): the label tells whether it has one. */
static enum look
follow_label(struct docker_runner *r, struct engine *en, struct slot *x)
{
	struct poky_error e;
	struct created cr = { .cid = x->container };
	enum poky_err rc;

	rc = engine_container_by_label(en, x->id, x->container,
	    sizeof(x->container), &e);
	if (rc == POKY_ERR_NOTFOUND) {
		mark_lost(r->app, x->id, "its container was not created "
		    "before pokyd restarted");
		return LOOK_DROP;
	}
	if (rc != POKY_OK) {
		warn_engine(x, &e);
		return LOOK_KEEP;
	}
	rc = change(r->app, x->id, ch_created, &cr, &e);
	if (rc == POKY_OK && cr.gone) {
		engine_container_remove(en, x->id, x->container);
		return LOOK_DROP;
	}
	if (rc != POKY_OK)
		log_warnx("task %s: cannot record its container: %s", x->id,
		    e.message);
	return LOOK_ON;
}

/* A container still "created": its start was interrupted (restart, or no
 * answer).  Start it, or end it when it is to be stopped. */
static bool
follow_created(struct docker_runner *r, struct engine *en, struct slot *x)
{
	struct poky_error e;
	struct outcome o = { .error = NULL };
	enum poky_err rc;

	if (x->term_wanted) {
		finish(r->app, x->id, &o);      /* cancelled, never ran */
		if (x->remove)
			engine_container_remove(en, x->id, x->container);
		return false;
	}
	rc = engine_container_op(en, "POST", x->container, "/start", &e);
	if (rc == POKY_ERR_TRANSIENT) {
		warn_engine(x, &e);
		return true;
	}
	if (rc != POKY_OK) {
		char why[POKY_ERR_MSG_MAX + 32];

		snprintf(why, sizeof(why), "starting the container: %s", e.message);
		o.error = why;
		finish(r->app, x->id, &o);
		engine_container_remove(en, x->id, x->container);
		return false;
	}
	return true;                    /* the next look sees it run */
}

/* A running container past its deadline, or to be cancelled: the stop
 * signal, then SIGKILL after kill_grace. */
static void
follow_stop(struct engine *en, struct slot *x, double now)
{
	struct poky_error e;
	enum poky_err rc;

	if (x->deadline > 0 && now >= x->deadline && !x->term_wanted) {
		log_info("task %s: timeout after %ld s, stopping container %.12s",
		    x->id, x->timeout, x->container);
		x->timed_out = true;
		x->term_wanted = true;
	}
	if (x->term_wanted && x->term_at == 0) {
		rc = engine_container_kill(en, x->container,
		    x->stop_signal[0] ? x->stop_signal : "SIGTERM", &e);
		if (rc == POKY_OK || rc == POKY_ERR_CONFLICT)
			x->term_at = now;
		else
			warn_engine(x, &e);
	} else if (x->term_at > 0 && !x->kill_sent &&
	    now - x->term_at >= (double)x->kill_grace) {
		rc = engine_container_kill(en, x->container, "SIGKILL", &e);
		if (rc == POKY_OK || rc == POKY_ERR_CONFLICT)
			x->kill_sent = true;
		else
			warn_engine(x, &e);
	}
}

/* One look at a followed container (x is the runner's copy of its slot).
 * False when the task is over and its slot goes. */
static bool
follow(struct docker_runner *r, struct engine *en, struct slot *x)
{
	struct poky_error e;
	struct seen st;
	enum poky_err rc;
	enum look lk;
	double now = clock_mono();

	if (x->container[0] == '\0' && (lk = follow_label(r, en, x)) != LOOK_ON)
		return lk == LOOK_KEEP;
	rc = engine_container_inspect(en, x->container, &st, &e);
	if (rc == POKY_ERR_NOTFOUND) {
		mark_lost(r->app, x->id, "its container is gone (removed outside Poky)");
		return false;
	}
	if (rc != POKY_OK) {
		warn_engine(x, &e);
		return true;
	}
	x->warned_at = 0;
	if (st.stop_signal[0] != '\0')
		str_copy(x->stop_signal, sizeof(x->stop_signal), st.stop_signal);
	if (strcmp(st.status, "created") == 0)
		return follow_created(r, en, x);
	if (engine_status_ended(st.status))
		return !end_task(r, en, x, &st);
	if (!x->running_recorded) {
		if (change(r->app, x->id, ch_running, NULL, &e) != POKY_OK)
			return true;
		x->running_recorded = true;
		if (x->timeout > 0 && x->deadline == 0)
			x->deadline = now + (double)x->timeout;
	}
	follow_stop(en, x, now);
	return true;
}

/* Fill the free places of each docker template from its queue, oldest
 * first. */
static void
fill_queues(struct docker_runner *r, const struct config *cfg)
{
	for (size_t ti = 0; ti < cfg->n_templates; ti++) {
		const struct tmpl *t = cfg->templates[ti];

		if (t->launcher != LAUNCHER_DOCKER)
			continue;
		for (;;) {
			struct task q;
			struct slot *s = NULL;
			struct engine *en;
			struct poky_error e;
			enum poky_err rc;
			char id[TASK_ID_LEN + 1], host[HOST_MAX];

			task_init(&q);
			pthread_mutex_lock(&r->bg.lock);
			if (docker_slots_of(r, t->name) < (size_t)t->max_running &&
			    store_oldest(r->app->store, TS_QUEUED, t->name, &q,
			    NULL) == POKY_OK)
				s = docker_slot_take(r, t, q.id, q.timeout_seconds);
			pthread_mutex_unlock(&r->bg.lock);
			str_copy(id, sizeof(id), q.id);
			task_cleanup(&q);
			if (s == NULL)
				break;
			docker_host_of(t, host, sizeof(host));
			en = runner_engine(r, host, &e);
			rc = en ? docker_start_task(r, en, t, id, false, &e) : e.code;
			if (en == NULL)
				docker_slot_drop(r, id);
			if (rc == POKY_ERR_TRANSIENT) {
				/* Stays queued until the engine answers again. */
				double now = clock_mono();

				if (r->start_warned_at == 0 ||
				    now - r->start_warned_at >= WARN_EVERY) {
					log_warnx("task %s stays queued: %s", id, e.message);
					r->start_warned_at = now;
				}
				break;
			}
			if (rc != POKY_OK) {
				struct outcome o = { .error = e.message };

				log_warnx("task %s: cannot start: %s", id, e.message);
				finish(r->app, id, &o);
			}
		}
	}
}

static void
tick(struct docker_runner *r)
{
	struct app_conf *conf = app_config_get(r->app);
	size_t n;
	struct slot *copy;

	/* Work on a copy, without the lock: engine calls take time, and a
	 * cancel or a submit must not wait for them. */
	pthread_mutex_lock(&r->bg.lock);
	copy = r->n ? malloc(r->n * sizeof(*copy)) : NULL;
	n = copy ? r->n : 0;
	if (copy != NULL)
		memcpy(copy, r->slots, n * sizeof(*copy));
	pthread_mutex_unlock(&r->bg.lock);
	for (size_t i = 0; i < n && !bgthread_stopping(&r->bg); i++) {
		struct slot *x = &copy[i], *s;
		struct engine *en;
		struct poky_error e;
		bool keep = true;

		if (x->state != SLOT_RUNNING)
			continue;
		if ((en = runner_engine(r, x->host, &e)) == NULL)
			warn_engine(x, &e);
		else
			keep = follow(r, en, x);
		pthread_mutex_lock(&r->bg.lock);
		if ((s = docker_slot_find(r, x->id)) != NULL) {
			if (!keep) {
				*s = r->slots[--r->n];
			} else {
				/* What follow() owns; term_wanted may have been
				 * set by a cancel meanwhile. */
				str_copy(s->container, sizeof(s->container), x->container);
				s->running_recorded = x->running_recorded;
				s->deadline = x->deadline;
				s->timed_out = x->timed_out;
				s->term_wanted = s->term_wanted || x->term_wanted;
				s->term_at = x->term_at;
				s->kill_sent = x->kill_sent;
				s->warned_at = x->warned_at;
				str_copy(s->stop_signal, sizeof(s->stop_signal),
				    x->stop_signal);
			}
		}
		pthread_mutex_unlock(&r->bg.lock);
	}
	free(copy);
	if (!bgthread_stopping(&r->bg))
		fill_queues(r, conf->cfg);
	app_config_put(r->app, conf);
}

void *
docker_runner_main(void *p)
{
	struct docker_runner *r = p;

	pthread_mutex_lock(&r->bg.lock);
	while (!bgthread_stopping(&r->bg)) {
		pthread_mutex_unlock(&r->bg.lock);
		tick(r);
		pthread_mutex_lock(&r->bg.lock);
		bgthread_wait(&r->bg, TICK_MS / 1000.0);
	}
	pthread_mutex_unlock(&r->bg.lock);
	return NULL;
}
