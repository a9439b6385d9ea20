/* watch.c - parked watchers, woken by changes or deadlines (see watch.h). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "poky/clock.h"
#include "poky/store.h"
#include "poky/watch.h"

struct watcher {
	char key[TASK_ID_LEN + 1];      /* "" for every task */
	double deadline;
	watch_wake_fn fn;
	void *ud;
	struct watcher *prev, *next;
};

struct watch {
	pthread_mutex_t lock;
	pthread_cond_t tick;            /* the timer: an earlier deadline, or stop */
	struct watcher *head;           /* parked, unordered */
	int parked;
	atomic_int active;              /* watch_enter'ed */
	int max;
	_Atomic int64_t seq;
	bool closed;
	bool timer_ok;
	pthread_t timer;
};

static void
unlink_watcher(struct watch *w, struct watcher *x)
{
	if (x->prev != NULL)
		x->prev->next = x->next;
	else
		w->head = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	w->parked--;
}

/* Call each fn of a list taken out of the registry, outside its lock: a
 * wake function (MHD_resume_connection) takes locks of its own. */
static void
wake_list(struct watcher *list)
{
	for (struct watcher *x = list, *next; x != NULL; x = next) {
		next = x->next;
		x->fn(x->ud);
		free(x);
	}
}

/* The deadlines: sleeps until the earliest one (or a new earlier park). */
static void *
timer_main(void *p)
{
	struct watch *w = p;

	pthread_mutex_lock(&w->lock);
	while (!w->closed) {
		double now = clock_mono(), next = now + 60;
		struct watcher *due = NULL;
		struct timespec ts;

		for (struct watcher *x = w->head, *nx; x != NULL; x = nx) {
			nx = x->next;
			if (x->deadline <= now) {
				unlink_watcher(w, x);
				x->prev = NULL;
				x->next = due;
				due = x;
			} else if (x->deadline < next) {
				next = x->deadline;
			}
		}
		if (due != NULL) {
			pthread_mutex_unlock(&w->lock);
			wake_list(due);
			pthread_mutex_lock(&w->lock);
			continue;
		}
		ts.tv_sec = (time_t)next;
		ts.tv_nsec = (long)((next - (double)ts.tv_sec) * 1e9);
		pthread_cond_timedwait(&w->tick, &w->lock, &ts);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

struct watch *
watch_new(int max, struct poky_error *e)
{
	struct watch *w = calloc(1, sizeof(*w));
	pthread_condattr_t ca;

	if (w == NULL) {
		poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
		return NULL;
	}
	w->max = max;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->tick, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&w->timer, NULL, timer_main, w) != 0) {
		poky_error_set(e, POKY_ERR_NOMEM, "cannot start the watch timer");
		watch_free(w);
		return NULL;
	}
	w->timer_ok = true;
	return w;
}

void
watch_close(struct watch *w)
{
	struct watcher *all;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->closed = true;
	all = w->head;
	w->head = NULL;
	w->parked = 0;
	pthread_cond_signal(&w->tick);
	pthread_mutex_unlock(&w->lock);
	wake_list(all);
}

void
watch_free(struct watch *w)
{
	if (w == NULL)
		return;
	watch_close(w);
	if (w->timer_ok)
		pthread_join(w->timer, NULL);
	pthread_cond_destroy(&w->tick);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

void
watch_notify(void *ud, const char *task_id, int64_t seq)
{
	struct watch *w = ud;
	struct watcher *due = NULL;

	pthread_mutex_lock(&w->lock);
	if (seq > atomic_load(&w->seq))
		atomic_store(&w->seq, seq);
	for (struct watcher *x = w->head, *nx; x != NULL; x = nx) {
		nx = x->next;
		if (x->key[0] == '\0' || strcmp(x->key, task_id) == 0) {
			unlink_watcher(w, x);
			x->prev = NULL;
			x->next = due;
			due = x;
		}
	}
	pthread_mutex_unlock(&w->lock);
	wake_list(due);
}

int64_t
watch_seq(struct watch *w)
{
	return atomic_load(&w->seq);
}

bool
watch_enter(struct watch *w)
{
	int n = atomic_fetch_add(&w->active, 1);

	if (n >= w->max) {
		atomic_fetch_sub(&w->active, 1);
		return false;
	}
	return true;
}

void
watch_leave(struct watch *w)
{
	atomic_fetch_sub(&w->active, 1);
}

int
watch_active(struct watch *w)
{
	return atomic_load(&w->active);
}

enum watch_park
watch_park(struct watch *w, const char *key, int64_t seen, double deadline,
	   watch_wake_fn fn, void *ud)
{
	struct watcher *x = calloc(1, sizeof(*x));
	enum watch_park rc = WATCH_PARKED;

	if (x == NULL)
		return WATCH_CHANGED;   /* answer now rather than never */
	if (key != NULL)
		strncpy(x->key, key, TASK_ID_LEN);
	x->deadline = deadline;
	x->fn = fn;
	x->ud = ud;
	pthread_mutex_lock(&w->lock);
	if (w->closed) {
		rc = WATCH_CLOSED;
	} else if (atomic_load(&w->seq) > seen) {
		rc = WATCH_CHANGED;
	} else {
		x->next = w->head;
		if (w->head != NULL)
			w->head->prev = x;
		w->head = x;
		w->parked++;
		/* The timer may sleep past this deadline: let it look again. */
		pthread_cond_signal(&w->tick);
	}
	pthread_mutex_unlock(&w->lock);
	if (rc != WATCH_PARKED)
		free(x);
	return rc;
}
