/* retention.c - prune finished records and their logs (see retention.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "poky/app.h"
#include "poky/bgthread.h"
#include "poky/clock.h"
#include "poky/launch.h"
#include "poky/log.h"
#include "poky/metrics.h"
#include "poky/retention.h"
#include "poky/store.h"

#define PRUNED_METRIC "poky_store_pruned_total"

struct retention {
	struct app *app;
	struct bgthread bg;
};

static void
unlink_quiet(const char *path)
{
	if (unlink(path) != 0 && errno != ENOENT)
		log_warn("retention: cannot remove %s", path);
}

/* A task's files: its log (local_log_path: the local launcher's output and
 * the docker launcher's saved copy), the local supervisor's .status beside
 * it, and a docker .log.tmp an interrupted save may have left. */
static void
remove_files(const struct app *app, const char *id)
{
	char log[PATH_MAX], other[PATH_MAX + 16];
	size_t n;

	local_log_path(app, id, log, sizeof(log));
	n = strlen(log);
	unlink_quiet(log);
	snprintf(other, sizeof(other), "%s.tmp", log);
	unlink_quiet(other);
	if (n > 4 && strcmp(log + n - 4, ".log") == 0) {
		snprintf(other, sizeof(other), "%.*s.status", (int)(n - 4), log);
		unlink_quiet(other);
	}
}

enum poky_err
retention_prune(struct app *app, double now, double keep, size_t batch,
		const atomic_bool *stop, size_t *pruned, struct poky_error *e)
{
	char (*ids)[TASK_ID_LEN + 1];
	double cutoff = now - keep;
	enum poky_err rc = POKY_OK;
	size_t n;

	*pruned = 0;
	if (keep <= 0)
		return POKY_OK;         /* keep forever */
	if (batch == 0 || batch > STORE_PRUNE_BATCH_MAX)
		batch = RETENTION_BATCH;
	ids = calloc(batch, sizeof(*ids));
	if (ids == NULL)
		return poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	do {
		size_t deleted = 0;

		if ((rc = store_prunable(app->store, cutoff, ids, batch, &n,
		    e)) != POKY_OK)
			break;
		/* Files first, rows after: a crash in between leaves records
		 * without logs, which the next round deletes, never logs
		 * that nothing would name again.  No lock and no read
		 * transaction is held here. */
		for (size_t i = 0; i < n; i++)
			remove_files(app, ids[i]);
		if ((rc = store_prune(app->store, cutoff,
		    (const char (*)[TASK_ID_LEN + 1])ids, n, &deleted, e)) != POKY_OK)
			break;
		*pruned += deleted;
		if (app->metrics != NULL && deleted > 0)
			metrics_add(app->metrics, PRUNED_METRIC, (double)deleted,
			    METRICS_END);
	} while (n == batch && !(stop != NULL && atomic_load(stop)));
	free(ids);
	return rc;
}

static void
round_once(struct retention *r)
{
	struct app_conf *conf = app_config_get(r->app);
	double keep = conf->cfg->store.keep_finished;
	struct poky_error e = { 0 };
	size_t pruned = 0;

	app_config_put(r->app, conf);
	if (retention_prune(r->app, clock_real(), keep, RETENTION_BATCH,
	    &r->bg.stop, &pruned, &e) != POKY_OK)
		log_warnx("retention: %s (pruned %zu records first)", e.message,
		    pruned);
	if (pruned == 0)
		return;
	log_info("retention: pruned %zu finished records older than %.0fs",
	    pruned, keep);
	if (store_compact(r->app->store, &e) != POKY_OK)
		log_debug("retention: compact: %s (again after the next prune)",
		    e.message);
}

static void *
retention_main(void *p)
{
	struct retention *r = p;

	pthread_mutex_lock(&r->bg.lock);
	while (!bgthread_stopping(&r->bg)) {
		struct app_conf *conf;
		double interval;

		pthread_mutex_unlock(&r->bg.lock);
		round_once(r);
		conf = app_config_get(r->app);
		interval = config_prune_interval(conf->cfg);
		app_config_put(r->app, conf);
		pthread_mutex_lock(&r->bg.lock);
		bgthread_wait(&r->bg, interval);
	}
	pthread_mutex_unlock(&r->bg.lock);
	return NULL;
}

struct retention *
retention_new(struct app *app)
{
	struct retention *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->app = app;
	metrics_describe(app->metrics, PRUNED_METRIC, "counter",
	    "Finished task records pruned ([store] keep_finished), with their logs.");
	metrics_add(app->metrics, PRUNED_METRIC, 0, METRICS_END);
	if (bgthread_init(&r->bg) != 0) {
		free(r);
		return NULL;
	}
	if (bgthread_start(&r->bg, retention_main, r) != 0) {
		retention_free(r);
		return NULL;
	}
	return r;
}

void
retention_free(struct retention *r)
{
	if (r == NULL)
		return;
	bgthread_destroy(&r->bg);
	free(r);
}
