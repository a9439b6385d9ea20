/* launchq.c - the ECS launch queue (see launchq.h).
 *
 * One lock (the dispatcher's bgthread lock) guards everything here: the
 * per-template FIFOs, the bucket, the counts, the jobs handed to launch
 * threads, the waiters.  It is never held across store or network I/O.
 * The dispatcher only decides; launch threads (started on demand, up to
 * max_in_flight) call RunTask through tasks_launch_ecs and settle what it
 * came to. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "poky/app.h"
#include "poky/awsreq.h"
#include "poky/bgthread.h"
#include "poky/clock.h"
#include "poky/launchq.h"
#include "poky/log.h"
#include "poky/metrics.h"
#include "poky/str.h"

#define LQ_MAX_RETRIES 8            /* launches that started nothing, then failed */
#define LQ_RETRY_MAX_S 60.0
#define LQ_THREAD_STACK (256u << 10)
#define LQ_MAX_THREADS 64           /* launch threads (each waits on RunTask) */

/* ---- the queue ---------------------------------------------------------------- */

struct lq_entry {
	char id[TASK_ID_LEN + 1];
	double enqueued;                /* monotonic seconds */
	double not_before;              /* after a launch that started nothing */
	int tries;                      /* launches that started nothing */
	bool resume;                    /* record in starting: same clientToken */
	struct lq_tmpl *tm;
	struct lq_entry *next;
};

struct lq_tmpl {
	char name[65];
	struct lq_entry *head, *tail;
	size_t depth;
	int running;                    /* launched (or launching), not ended */
	int max_running;                /* 0: no limit */
	struct lq_tmpl *next;
};

struct lq_waiter {
	char id[TASK_ID_LEN + 1];
	bool want_raw;
	bool done;
	struct launch_outcome out;
	struct lq_waiter *next;
};

struct launchq {
	struct app *app;
	struct bgthread bg;             /* dispatcher; its lock guards all */
	pthread_cond_t settled;         /* a waiter's outcome is in */
	pthread_cond_t work;            /* a job for the launch threads */
	struct lq_tmpl *tmpls;
	struct lq_tmpl *cursor;         /* round robin: the next to serve */
	struct tbucket bucket;
	size_t depth;                   /* queued, all templates */
	long max_queued;
	int max_in_flight;
	int in_flight;                  /* jobs handed out, not settled */
	struct lq_entry *jobs, *jobs_tail; /* handed out, not yet taken */
	struct lq_entry *launching;     /* taken by a launch thread */
	struct lq_waiter *waiters;
	pthread_t threads[LQ_MAX_THREADS];
	int n_threads, idle;
};

void
launch_outcome_cleanup(struct launch_outcome *o)
{
	json_decref(o->raw);
	if (o->has_task)
		task_cleanup(&o->task);
	memset(o, 0, sizeof(*o));
}

static struct lq_tmpl *
tmpl_find(struct launchq *q, const char *name, bool create)
{
	struct lq_tmpl *t;

	for (t = q->tmpls; t != NULL; t = t->next)
		if (strcmp(t->name, name) == 0)
			return t;
	if (!create || (t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	str_copy(t->name, sizeof(t->name), name);
	t->next = q->tmpls;
	q->tmpls = t;
	return t;
}

/* The template's current max_running (0 for none), from the configuration
 * in force. */
static int
tmpl_max_running(struct app *app, const char *name)
{
	struct app_conf *conf = app_config_get(app);
	const struct tmpl *t = config_template(conf->cfg, name);
	int n = t != NULL ? t->max_running : 0;

	app_config_put(app, conf);
	return n;
}

/* Wake the dispatcher; the lock is held (bgthread_kick takes it). */
static void
kick(struct launchq *q)
{
	q->bg.kicked = true;
	pthread_cond_signal(&q->bg.wake);
}

static void
gauge(struct launchq *q, const struct lq_tmpl *t)
{
	metrics_set(q->app->metrics, "poky_launch_queue_depth", (double)t->depth,
	    "template", t->name, METRICS_END);
}

static void
entry_append(struct launchq *q, struct lq_tmpl *t, struct lq_entry *en,
	     bool front)
{
	en->tm = t;
	if (front) {
		en->next = t->head;
		t->head = en;
		if (t->tail == NULL)
			t->tail = en;
	} else {
		en->next = NULL;
		if (t->tail != NULL)
			t->tail->next = en;
		else
			t->head = en;
		t->tail = en;
	}
	t->depth++;
	q->depth++;
	gauge(q, t);
}

static struct lq_waiter *
waiter_find(struct launchq *q, const char *id)
{
	for (struct lq_waiter *w = q->waiters; w != NULL; w = w->next)
		if (strcmp(w->id, id) == 0)
			return w;
	return NULL;
}

/* Hand an outcome to id's waiter, if one is there (lock held).  raw is
 * taken over either way. */
static bool
settle_waiter(struct launchq *q, const char *id, enum launch_result res,
	      const struct poky_error *e, json_t *raw, struct task *launched)
{
	struct lq_waiter *w = waiter_find(q, id);

	if (w == NULL || w->done) {
		json_decref(raw);
		return false;
	}
	w->done = true;
	w->out.result = res;
	if (e != NULL)
		w->out.e = *e;
	w->out.raw = raw;
	if (launched != NULL && res == LAUNCH_STARTED) {
		w->out.task = *launched;
		w->out.has_task = true;
		task_init(launched);
	}
	pthread_cond_broadcast(&q->settled);
	return true;
}

/* ---- launch threads ------------------------------------------------------------ */

/* What a launch came to, with the lock held again: count, pace, requeue.
 *
 * Slots (max_running): a popped entry holds one from the pop (a resume
 * entry's record holds one already); a final status gives it back through
 * tasks_finish -> launchq_ended, anything else that ends the record's
 * launch without a final status gives it back here. */
static void
settle(struct launchq *q, struct lq_entry *en, enum tasks_launch res,
       const struct poky_error *e, json_t *raw, struct task *launched,
       double took)
{
	struct app *app = q->app;
	struct lq_tmpl *t = en->tm;
	struct lq_waiter *w = waiter_find(q, en->id);
	enum launch_result wres = LAUNCH_GONE;
	enum { KEEP, REQUEUE, FAIL, DELETE } then = KEEP;
	char why[POKY_ERR_MSG_MAX];

	str_copy(why, sizeof(why), e->message);
	switch (res) {
	case TL_LAUNCHED:
		tbucket_success(&q->bucket);
		wres = LAUNCH_STARTED;
		break;
	case TL_PENDING:
		wres = LAUNCH_PENDING;
		break;
	case TL_GONE:
		if (!en->resume)
			t->running--;
		break;
	case TL_THROTTLED:
		/* Pace, don't fail: the bucket slows down and the task keeps
		 * its place at the head of its queue. */
		tbucket_throttled(&q->bucket, clock_mono());
		metrics_add(app->metrics, "poky_launch_throttled_total", 1,
		    "template", t->name, METRICS_END);
		then = REQUEUE;
		break;
	case TL_RETRY:
	case TL_REFUSED:
		/* A waiting client gets the error, as a synchronous launch
		 * answered it, and the record goes (a retry with the same
		 * Idempotency-Key launches again); without one the task
		 * retries, or fails. */
		if (w != NULL && !w->done) {
			then = DELETE;
			wres = LAUNCH_REFUSED;
			t->running--;
		} else if (res == TL_RETRY && ++en->tries < LQ_MAX_RETRIES) {
			then = REQUEUE;
		} else {
			then = FAIL;
		}
		break;
	}
	if (res != TL_GONE && res != TL_THROTTLED)
		metrics_observe(app->metrics, "poky_launch_duration_seconds", took,
		    "template", t->name, METRICS_END);
	for (struct lq_entry **p = &q->launching; *p != NULL; p = &(*p)->next)
		if (*p == en) {
			*p = en->next;
			break;
		}
	q->in_flight--;
	kick(q);
	if (then == KEEP) {
		settle_waiter(q, en->id, wres, e, raw, launched);
		free(en);
		return;
	}
	/* Store work without the lock, and before the waiter hears of it: a
	 * client told "not started" may retry at once. */
	pthread_mutex_unlock(&q->bg.lock);
	if (then == DELETE) {
		store_delete(app->store, en->id, NULL);
		log_fields(LOG_LEVEL_WARN, LOG_FIELDS(LF_STR("task_id", en->id),
		    LF_STR("template", en->tm->name)), "task %s: not started: %s",
		    en->id, why);
	} else if (then == FAIL) {
		log_fields(LOG_LEVEL_WARN, LOG_FIELDS(LF_STR("task_id", en->id),
		    LF_STR("template", en->tm->name)), "task %s: not started: %s",
		    en->id, why);
		tasks_launch_failed(app, en->id, why);
	} else if (tasks_requeue(app, en->id) != POKY_OK) {
		then = KEEP;            /* cancelled meanwhile */
	}
	pthread_mutex_lock(&q->bg.lock);
	if (then == REQUEUE) {
		double wait = res == TL_THROTTLED ? 0 : 1.0 * (1 << (en->tries - 1));

		if (wait > LQ_RETRY_MAX_S)
			wait = LQ_RETRY_MAX_S;
		t->running--;
		en->not_before = clock_mono() + wait;
		en->resume = false;
		entry_append(q, t, en, true);
		if (res == TL_RETRY)
			log_fields(LOG_LEVEL_WARN, LOG_FIELDS(LF_STR("task_id",
			    en->id), LF_STR("template", en->tm->name)),
			    "task %s: not started (%s); retry %d in %.0f s",
			    en->id, why, en->tries, wait);
		kick(q);
		json_decref(raw);
	} else {
		settle_waiter(q, en->id, wres, e, raw, launched);
		free(en);
	}
}

static void *
launch_thread(void *ud)
{
	struct launchq *q = ud;

	pthread_mutex_lock(&q->bg.lock);
	for (;;) {
		struct lq_entry *en;
		struct poky_error e = { 0 };
		enum tasks_launch res;
		json_t *raw = NULL;
		struct task launched;
		struct lq_waiter *w;
		bool want_raw, want_task;
		double t0;

		while (q->jobs == NULL && !bgthread_stopping(&q->bg)) {
			q->idle++;
			pthread_cond_wait(&q->work, &q->bg.lock);
			q->idle--;
		}
		/* Jobs not taken by then stay queued in the store. */
		if (bgthread_stopping(&q->bg) || (en = q->jobs) == NULL)
			break;
		q->jobs = en->next;
		if (q->jobs == NULL)
			q->jobs_tail = NULL;
		en->next = q->launching;
		q->launching = en;
		w = waiter_find(q, en->id);
		want_task = w != NULL;
		want_raw = w != NULL && w->want_raw;
		metrics_observe(q->app->metrics, "poky_launch_queue_wait_seconds",
		    clock_mono() - en->enqueued, "template", en->tm->name, METRICS_END);
		pthread_mutex_unlock(&q->bg.lock);

		t0 = clock_mono();
		task_init(&launched);
		res = tasks_launch_ecs(q->app, en->id, want_raw ? &raw : NULL,
		    want_task ? &launched : NULL, &e);

		pthread_mutex_lock(&q->bg.lock);
		settle(q, en, res, &e, raw, &launched, clock_mono() - t0);
		task_cleanup(&launched);
	}
	pthread_mutex_unlock(&q->bg.lock);
	return NULL;
}

/* Give en to a launch thread, starting one when none is idle (lock held). */
static void
hand_out(struct launchq *q, struct lq_entry *en)
{
	en->next = NULL;
	if (q->jobs_tail != NULL)
		q->jobs_tail->next = en;
	else
		q->jobs = en;
	q->jobs_tail = en;
	q->in_flight++;
	if (q->idle == 0 && q->n_threads < LQ_MAX_THREADS &&
	    q->n_threads < q->max_in_flight) {
		pthread_attr_t attr;

		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, LQ_THREAD_STACK);
		if (pthread_create(&q->threads[q->n_threads], &attr, launch_thread,
		    q) == 0)
			q->n_threads++;
		pthread_attr_destroy(&attr);
	}
	pthread_cond_signal(&q->work);
}

/* The next entry to launch, round robin over templates with work and room,
 * from the template whose turn it is (lock held).  NULL with *wait set to
 * the seconds until one may be. */
static struct lq_entry *
next_entry(struct launchq *q, double now, double *wait)
{
	struct lq_tmpl *t = q->cursor ? q->cursor : q->tmpls;

	*wait = 5;
	for (struct lq_tmpl *start = t; t != NULL;) {
		struct lq_entry *en = t->head;

		if (en != NULL && (en->resume || t->max_running == 0 ||
		    t->running < t->max_running)) {
			if (en->not_before <= now)
				return en;
			if (en->not_before - now < *wait)
				*wait = en->not_before - now;
		}
		t = t->next ? t->next : q->tmpls;
		if (t == start)
			break;
	}
	return NULL;
}

static void *
dispatcher(void *ud)
{
	struct launchq *q = ud;

	pthread_mutex_lock(&q->bg.lock);
	while (!bgthread_stopping(&q->bg)) {
		double now = clock_mono(), wait = 5, bw;
		struct lq_entry *en;

		if (q->in_flight < q->max_in_flight &&
		    (en = next_entry(q, now, &wait)) != NULL) {
			if (!tbucket_take(&q->bucket, now, &bw)) {
				wait = bw;
			} else {
				struct lq_tmpl *t = en->tm;

				/* The turn passes only with a launch: a template
				 * whose turn came while the bucket was empty keeps
				 * it. */
				q->cursor = t->next;
				t->head = en->next;
				if (t->head == NULL)
					t->tail = NULL;
				t->depth--;
				q->depth--;
				if (!en->resume)
					t->running++;
				gauge(q, t);
				hand_out(q, en);
				continue;
			}
		}
		bgthread_wait(&q->bg, wait > 0.001 ? wait : 0.001);
	}
	pthread_mutex_unlock(&q->bg.lock);
	return NULL;
}

/* ---- the interface ------------------------------------------------------------- */

/* bounded: refuse past max_queued (new submits; not what is already
 * stored and acknowledged). */
static enum poky_err
push(struct launchq *q, const char *id, const char *template_name,
     bool resume, bool bounded, struct poky_error *e)
{
	struct lq_entry *en = calloc(1, sizeof(*en));
	struct lq_tmpl *t;
	int max_running = tmpl_max_running(q->app, template_name);

	if (en == NULL)
		return poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	str_copy(en->id, sizeof(en->id), id);
	en->enqueued = clock_mono();
	en->resume = resume;
	pthread_mutex_lock(&q->bg.lock);
	if (bounded && q->depth >= (size_t)q->max_queued) {
		pthread_mutex_unlock(&q->bg.lock);
		free(en);
		return poky_error_set(e, POKY_ERR_LIMIT, "%zu tasks are waiting to "
		    "launch already ([aws] max_queued)", (size_t)q->max_queued);
	}
	if ((t = tmpl_find(q, template_name, true)) == NULL) {
		pthread_mutex_unlock(&q->bg.lock);
		free(en);
		return poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	}
	t->max_running = max_running;
	entry_append(q, t, en, false);
	kick(q);
	pthread_mutex_unlock(&q->bg.lock);
	return POKY_OK;
}

enum poky_err
launchq_push(struct launchq *q, const char *id, const char *template_name,
	     struct poky_error *e)
{
	return push(q, id, template_name, false, true, e);
}

static bool
has_locked(struct launchq *q, const char *id)
{
	for (struct lq_tmpl *t = q->tmpls; t != NULL; t = t->next)
		for (struct lq_entry *en = t->head; en != NULL; en = en->next)
			if (strcmp(en->id, id) == 0)
				return true;
	for (struct lq_entry *en = q->jobs; en != NULL; en = en->next)
		if (strcmp(en->id, id) == 0)
			return true;
	for (struct lq_entry *en = q->launching; en != NULL; en = en->next)
		if (strcmp(en->id, id) == 0)
			return true;
	return false;
}

bool
launchq_has(struct launchq *q, const char *id)
{
	bool has;

	pthread_mutex_lock(&q->bg.lock);
	has = has_locked(q, id);
	pthread_mutex_unlock(&q->bg.lock);
	return has;
}

void
launchq_resume(struct launchq *q, const char *id, const char *template_name)
{
	if (!launchq_has(q, id))
		push(q, id, template_name, true, false, NULL);
}

void
launchq_forget(struct launchq *q, const char *id)
{
	bool removed = false;

	pthread_mutex_lock(&q->bg.lock);
	for (struct lq_tmpl *t = q->tmpls; t != NULL; t = t->next)
		for (struct lq_entry **p = &t->head, *prev = NULL; *p != NULL;
		     prev = *p, p = &(*p)->next) {
			struct lq_entry *en = *p;

			if (strcmp(en->id, id) != 0)
				continue;
			*p = en->next;
			if (t->tail == en)
				t->tail = prev;
			t->depth--;
			q->depth--;
			gauge(q, t);
			free(en);
			removed = true;
			break;
		}
	/* A launch under way tells its waiter itself, when RunTask answers. */
	if (removed || !has_locked(q, id))
		settle_waiter(q, id, LAUNCH_GONE, NULL, NULL, NULL);
	pthread_mutex_unlock(&q->bg.lock);
}

void
launchq_ended(struct launchq *q, const char *template_name)
{
	struct lq_tmpl *t;

	if (q == NULL)
		return;
	pthread_mutex_lock(&q->bg.lock);
	if ((t = tmpl_find(q, template_name, false)) != NULL && t->running > 0) {
		t->running--;
		kick(q);
	}
	pthread_mutex_unlock(&q->bg.lock);
}

void
launchq_watch(struct launchq *q, const char *id, bool want_raw)
{
	struct lq_waiter *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return;                 /* launchq_wait then just waits */
	str_copy(w->id, sizeof(w->id), id);
	w->want_raw = want_raw;
	pthread_mutex_lock(&q->bg.lock);
	w->next = q->waiters;
	q->waiters = w;
	pthread_mutex_unlock(&q->bg.lock);
}

void
launchq_unwatch(struct launchq *q, const char *id)
{
	struct lq_waiter *w = NULL;

	pthread_mutex_lock(&q->bg.lock);
	for (struct lq_waiter **p = &q->waiters; *p != NULL; p = &(*p)->next)
		if (strcmp((*p)->id, id) == 0) {
			w = *p;
			*p = w->next;
			break;
		}
	pthread_mutex_unlock(&q->bg.lock);
	if (w != NULL) {
		launch_outcome_cleanup(&w->out);
		free(w);
	}
}

void
launchq_wait(struct launchq *q, const char *id, double seconds,
	     struct launch_outcome *out)
{
	double end = clock_mono() + seconds;
	struct lq_waiter *w;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&q->bg.lock);
	/* Short slices, so a shutdown (app->stopping) ends the wait. */
	while ((w = waiter_find(q, id)) != NULL && !w->done &&
	    !atomic_load(&q->app->stopping) && !bgthread_stopping(&q->bg)) {
		double left = end - clock_mono();
		struct timespec ts;

		if (left <= 0)
			break;
		if (left > 0.25)
			left = 0.25;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)left;
		ts.tv_nsec += (long)((left - (double)(time_t)left) * 1e9);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&q->settled, &q->bg.lock, &ts);
	}
	for (struct lq_waiter **p = &q->waiters; *p != NULL; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	pthread_mutex_unlock(&q->bg.lock);
	if (w != NULL) {
		if (w->done)
			*out = w->out;
		else
			out->result = LAUNCH_WAITING;
		free(w);
	}
}

size_t
launchq_depth(struct launchq *q)
{
	size_t n;

	pthread_mutex_lock(&q->bg.lock);
	n = q->depth;
	pthread_mutex_unlock(&q->bg.lock);
	return n;
}

/* Start-up: queued records into the queue (oldest first), launched ones
 * counted against max_running. */
static int
load_one(void *ud, const struct task *t)
{
	struct launchq *q = ud;
	struct lq_tmpl *tm;

	if (t->launcher != LAUNCHER_ECS)
		return 0;
	if (strcmp(t->status, TS_QUEUED) == 0)
		return push(q, t->id, t->template_name, false, false, NULL) ==
		    POKY_OK ? 0 : 1;
	pthread_mutex_lock(&q->bg.lock);
	if ((tm = tmpl_find(q, t->template_name, true)) != NULL)
		tm->running++;
	pthread_mutex_unlock(&q->bg.lock);
	return 0;
}

struct launchq *
launchq_new(struct app *app)
{
	struct launchq *q = calloc(1, sizeof(*q));
	struct app_conf *conf;
	pthread_condattr_t ca;

	if (q == NULL || bgthread_init(&q->bg) != 0) {
		free(q);
		return NULL;
	}
	q->app = app;
	pthread_cond_init(&q->work, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_REALTIME);
	pthread_cond_init(&q->settled, &ca);
	pthread_condattr_destroy(&ca);
	conf = app_config_get(app);
	tbucket_init(&q->bucket, conf->cfg->aws.runtask_rate,
	    conf->cfg->aws.runtask_burst, clock_mono());
	q->max_in_flight = conf->cfg->aws.max_in_flight;
	q->max_queued = conf->cfg->aws.max_queued;
	app_config_put(app, conf);
	store_unfinished(app->store, load_one, q, NULL);
	if (q->depth > 0)
		log_info("launch queue: %zu task(s) waiting to launch", q->depth);
	if (bgthread_start(&q->bg, dispatcher, q) != 0) {
		launchq_free(q);
		return NULL;
	}
	return q;
}

void
launchq_free(struct launchq *q)
{
	if (q == NULL)
		return;
	bgthread_stop(&q->bg);
	pthread_mutex_lock(&q->bg.lock);
	pthread_cond_broadcast(&q->work);
	pthread_cond_broadcast(&q->settled);
	pthread_mutex_unlock(&q->bg.lock);
	for (int i = 0; i < q->n_threads; i++)
		pthread_join(q->threads[i], NULL);
	/* Jobs not yet taken stay queued in the store. */
	for (struct lq_entry *en = q->jobs, *next; en != NULL; en = next) {
		next = en->next;
		free(en);
	}
	while (q->tmpls != NULL) {
		struct lq_tmpl *t = q->tmpls;

		q->tmpls = t->next;
		for (struct lq_entry *en = t->head, *next; en != NULL; en = next) {
			next = en->next;
			free(en);
		}
		free(t);
	}
	while (q->waiters != NULL) {
		struct lq_waiter *w = q->waiters;

		q->waiters = w->next;
		launch_outcome_cleanup(&w->out);
		free(w);
	}
	pthread_cond_destroy(&q->work);
	pthread_cond_destroy(&q->settled);
	bgthread_destroy(&q->bg);
	free(q);
}
