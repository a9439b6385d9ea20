/* retention.h - prune finished task records and their logs ([store]
 * keep_finished), on a background thread.
 *
 * Every prune_interval the thread removes, in batches of RETENTION_BATCH,
 * the records store_prunable names (final, finished longer ago than
 * keep_finished, no webhook pending) and their files under
 * state_dir/logs/, then compacts the database (store_compact).  The
 * configuration is read each round, so SIGHUP changes it. */
#ifndef POKY_RETENTION_H
#define POKY_RETENTION_H

#include <stdatomic.h>
#include <stddef.h>

#include "poky/err.h"

#define RETENTION_BATCH 500

struct app;
struct retention;

struct retention *retention_new(struct app *app);
void retention_free(struct retention *r);

/* One round at time now (seconds since the epoch; a parameter so tests
 * can fix the clock): prune what finished before now - keep, batch by
 * batch (batch <= STORE_PRUNE_BATCH_MAX), until a short batch or *stop.
 * Uses app->store and app->state_dir, counts into app->metrics (may be
 * NULL).  *pruned: records deleted. */
enum poky_err retention_prune(struct app *app, double now, double keep,
			      size_t batch, const atomic_bool *stop,
			      size_t *pruned, struct poky_error *e);

#endif
