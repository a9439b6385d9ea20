/* webhook.c - deliver task callbacks (see webhook.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "poky/app.h"
#include "poky/bgthread.h"
#include "poky/buf.h"
#include "poky/clock.h"
#include "poky/crypto.h"
#include "poky/httpc.h"
#include "poky/log.h"
#include "poky/metrics.h"
#include "poky/str.h"
#include "poky/version.h"
#include "poky/webhook.h"

#include "webhook_internal.h"

#define MAX_DUE 256                     /* deliveries per round */
#define IDLE_WAIT 60.0                  /* seconds between scans when idle */
#define RESP_BODY_MAX 4096              /* error answers kept, then dropped */
#define JITTER 0.2

#define CB_PENDING "pending"
#define CB_DELIVERED "delivered"
#define CB_FAILED "failed"

/* Deliveries run on a pool of workers, so an unresponsive receiver delays
 * only its own host: at most PER_HOST at once to one host, and a host that
 * has used HOST_BUDGET seconds of deliveries in a BUDGET_WINDOW waits, the
 * least-used host going first.  The scanning thread only queues what is
 * due; it never waits on a delivery. */
#define WORKERS 16
#define PER_HOST 2
#define HOST_BUDGET 15.0
#define BUDGET_WINDOW 60.0

struct due_item {
	char id[TASK_ID_LEN + 1];
	char host[HOST_MAX];            /* the URL's authority, lowercased */
	bool started;                   /* a worker has it */
};

struct host_use {
	char host[HOST_MAX];
	int in_flight;
	double spent;                   /* seconds of deliveries in the window */
	double window;                  /* monotonic start of the window */
};

struct webhook {
	struct app *app;
	struct bgthread bg;
	pthread_mutex_t lock;           /* what follows */
	pthread_cond_t changed;
	struct due_item *q;             /* queued or in flight, MAX_DUE */
	size_t n_q;
	struct host_use *hosts;         /* MAX_DUE */
	size_t n_hosts;
	bool stop;
	pthread_t workers[WORKERS];
	size_t n_workers;
};

/* ---- signature ------------------------------------------------------------ */

enum poky_err
webhook_signature(const char *secret, time_t t, const char *body,
		  size_t body_len, char out[WEBHOOK_SIGNATURE_MAX])
{
	char hex[65];
	struct buf msg;
	enum poky_err rc;

	if (secret == NULL || *secret == '\0') {
		snprintf(out, WEBHOOK_SIGNATURE_MAX, "t=%lld", (long long)t);
		return POKY_OK;
	}
	/* Signed: the decimal timestamp, a dot, the raw body. */
	buf_init(&msg, body_len + 32);
	if ((rc = buf_printf(&msg, "%lld.", (long long)t)) == POKY_OK &&
	    (rc = buf_append(&msg, body, body_len)) == POKY_OK)
		rc = crypto_hmac_sha256_hex(secret, strlen(secret), msg.data, msg.len,
		    hex);
	if (rc == POKY_OK)
		snprintf(out, WEBHOOK_SIGNATURE_MAX, "t=%lld,v1=%s", (long long)t, hex);
	crypto_wipe(hex, sizeof(hex));
	buf_free(&msg);
	return rc;
}

double
webhook_backoff(int attempt, double r)
{
	double d = 1.0;

	for (int i = 1; i < attempt && d < WEBHOOK_BACKOFF_MAX; i++)
		d *= 2;
	if (d > WEBHOOK_BACKOFF_MAX)
		d = WEBHOOK_BACKOFF_MAX;
	return d * (1.0 - JITTER * r);
}

/* ---- one delivery --------------------------------------------------------- */

static int
discard(void *ud, const char *p, size_t n)
{
	(void)ud;
	(void)p;
	(void)n;
	return 0;
}

/* POST the record once.  True on a 2xx answer; otherwise why[] says what
 * came back. */
static bool
post(struct httpc *http, const struct config *cfg, const struct task *t,
     const struct target *tg, char *why, size_t why_cap)
{
	static const char ua[] = "poky/" POKY_VERSION;
	struct httpc_response resp;
	struct poky_error e;
	char sig[WEBHOOK_SIGNATURE_MAX];
	json_t *rec = task_to_json(t);
	char *body = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
	bool ok = false;

	json_decref(rec);
	sig[0] = '\0';
	if (body == NULL) {
		snprintf(why, why_cap, "out of memory");
		return false;
	}
	if (webhook_signature(cfg->tracker.webhook_secret, time(NULL), body,
	    strlen(body), sig) != POKY_OK) {
		snprintf(why, why_cap, "cannot compute the signature");
		free(body);
		return false;
	}
	{
		const struct hdr hs[] = {
			{ "Content-Type", 12, "application/json", 16 },
			{ "User-Agent", 10, ua, sizeof(ua) - 1 },
			{ "Poky-Task-Id", 12, t->id, strlen(t->id) },
			{ "Poky-Signature", 14, sig, strlen(sig) },
		};
		const struct httpc_request req = {
			.method = "POST", .url = tg->url, .headers = hs,
			.n_headers = sizeof(hs) / sizeof(hs[0]), .body = body,
			.body_len = strlen(body), .write = discard,
			.timeout_ms = WEBHOOK_TIMEOUT_MS,
			.resolve = tg->resolve[0] ? tg->resolve : NULL,
		};

		httpc_response_init(&resp, RESP_BODY_MAX);
		if (httpc_perform(http, &req, &resp, &e) != POKY_OK)
			snprintf(why, why_cap, "%s", e.message);
		else if (resp.status >= 200 && resp.status < 300)
			ok = true;
		else
			snprintf(why, why_cap, "HTTP %ld", resp.status);
		httpc_response_cleanup(&resp);
	}
	crypto_wipe(sig, sizeof(sig));
	free(body);
	return ok;
}

static void
set_state(struct task *t, const char *state)
{
	char *s = strdup(state);

	if (s == NULL)
		return;                 /* kept pending: tried again later */
	free(t->callback_state);
	t->callback_state = s;
}

static void
count(struct webhook *w, const char *outcome)
{
	metrics_add(w->app->metrics, "poky_webhook_deliveries_total", 1,
	    "outcome", outcome, METRICS_END);
}

/* One attempt for the callback of task id.  False when its outcome could
 * not be stored (the callback stays due: wait before trying it again). */
static bool
deliver(struct webhook *w, struct httpc *http, const char *id)
{
	struct app *app = w->app;
	struct app_conf *conf = NULL;
	struct target *tg = NULL;
	struct task t;
	char why[512];
	double deadline, now, next;
	enum verdict v;
	bool stored = false;

	task_init(&t);
	if (store_get(app->store, id, &t, NULL) != POKY_OK)
		goto out;
	if (t.callback_url == NULL || t.callback_state == NULL ||
	    strcmp(t.callback_state, CB_PENDING) != 0) {
		stored = true;          /* someone else's now */
		goto out;
	}
	conf = app_config_get(app);
	deadline = (t.finished_at > 0 ? t.finished_at : t.updated_at) +
	    (double)conf->cfg->tracker.webhook_max_seconds;
	why[0] = '\0';
	if ((tg = malloc(sizeof(*tg))) == NULL)
		goto out;
	v = webhook_target_check(conf->cfg, t.callback_url, tg, why, sizeof(why));
	if (v == TARGET_REFUSED) {
		set_state(&t, CB_FAILED);
		if ((stored = store_update(app->store, &t, t.status, NULL) == POKY_OK)) {
			log_warnx("task %s: webhook refused: %s", t.id, why);
			count(w, "failed");
		}
		goto out;
	}
	t.callback_attempts++;
	if (v == TARGET_OK && post(http, conf->cfg, &t, tg, why, sizeof(why))) {
		set_state(&t, CB_DELIVERED);
		if ((stored = store_update(app->store, &t, t.status, NULL) == POKY_OK)) {
			log_info("task %s: webhook delivered to %s (attempt %d)", t.id,
			    tg->host, t.callback_attempts);
			count(w, "delivered");
		}
		goto out;
	}
	now = clock_real();
	if (now >= deadline) {
		set_state(&t, CB_FAILED);
		if ((stored = store_update(app->store, &t, t.status, NULL) == POKY_OK)) {
			log_warnx("task %s: webhook to %s failed after %d attempts: %s",
			    t.id, tg->host, t.callback_attempts, why);
			count(w, "failed");
		}
		goto out;
	}
	/* The last try is at the deadline itself. */
	next = now + webhook_backoff(t.callback_attempts,
	    (double)arc4random() / 4294967296.0);
	t.callback_next_at = next < deadline ? next : deadline;
	if ((stored = store_update(app->store, &t, t.status, NULL) == POKY_OK)) {
		log_warnx("task %s: webhook attempt %d to %s failed: %s; next in %.1f s",
		    t.id, t.callback_attempts, tg->host, why, t.callback_next_at - now);
		count(w, "retry");
	}
out:
	free(tg);
	if (conf != NULL)
		app_config_put(app, conf);
	task_cleanup(&t);
	return stored;
}

/* ---- the thread ----------------------------------------------------------- */

struct due {
	struct webhook *w;
	double now;
	double next;                    /* earliest next_at not yet due */
	size_t added;
};

/* "scheme://Host:port/..." -> "host:port": what a receiver is, for the
 * per-host bounds (no DNS: two names for one address are two hosts). */
static void
host_key(const char *url, char *out, size_t cap)
{
	const char *a = url ? strstr(url, "://") : NULL;
	size_t n;

	a = a ? a + 3 : "";
	n = strcspn(a, "/?#");
	if (n >= cap)
		n = cap - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)a[i]);
	out[n] = '\0';
}

/* Queue t's delivery unless it is queued already.  Call with w->lock. */
static int
note_due(void *ud, const struct task *t)
{
	struct due *d = ud;
	struct webhook *w = d->w;

	if (t->callback_next_at > d->now) {
		if (t->callback_next_at < d->next)
			d->next = t->callback_next_at;
		return 0;
	}
	for (size_t i = 0; i < w->n_q; i++)
		if (strcmp(w->q[i].id, t->id) == 0)
			return 0;
	if (w->n_q == MAX_DUE)
		return 0;               /* the queue is full: a later scan */
	memset(&w->q[w->n_q], 0, sizeof(w->q[0]));
	str_copy(w->q[w->n_q].id, TASK_ID_LEN + 1, t->id);
	host_key(t->callback_url, w->q[w->n_q].host, HOST_MAX);
	w->n_q++;
	d->added++;
	return 0;
}

/* The record of host, made (or recycled from an idle one) when new; NULL
 * when the table is full of busy hosts.  Call with w->lock. */
static struct host_use *
host_of(struct webhook *w, const char *host, double now)
{
	struct host_use *h = NULL;

	for (size_t i = 0; i < w->n_hosts; i++)
		if (strcmp(w->hosts[i].host, host) == 0)
			h = &w->hosts[i];
	if (h == NULL) {
		for (size_t i = 0; h == NULL && i < w->n_hosts; i++)
			if (w->hosts[i].in_flight == 0 &&
			    now - w->hosts[i].window >= BUDGET_WINDOW)
				h = &w->hosts[i];
		if (h == NULL && w->n_hosts < MAX_DUE)
			h = &w->hosts[w->n_hosts++];
		if (h == NULL)
			return NULL;
		memset(h, 0, sizeof(*h));
		str_copy(h->host, HOST_MAX, host);
		h->window = now;
	}
	if (now - h->window >= BUDGET_WINDOW) {
		h->window = now;
		h->spent = 0;
	}
	return h;
}

/* The next item to deliver: its host under PER_HOST and HOST_BUDGET, the
 * host that has used the least time first.  Call with w->lock. */
static struct due_item *
pick(struct webhook *w, double now)
{
	struct due_item *best = NULL;
	double best_spent = 0;

	for (size_t i = 0; i < w->n_q; i++) {
		struct due_item *it = &w->q[i];
		struct host_use *h;

		if (it->started || (h = host_of(w, it->host, now)) == NULL ||
		    h->spent >= HOST_BUDGET || h->in_flight >= PER_HOST)
			continue;
		if (best == NULL || h->spent < best_spent) {
			best = it;
			best_spent = h->spent;
		}
	}
	return best;
}

static void *
worker_main(void *p)
{
	struct webhook *w = p;
	const struct httpc_config hc = {
		.connect_timeout_ms = WEBHOOK_TIMEOUT_MS,
		.timeout_ms = WEBHOOK_TIMEOUT_MS,
	};
	struct httpc *http = httpc_new(&hc);

	pthread_mutex_lock(&w->lock);
	while (http != NULL && !w->stop) {
		struct due_item *it;
		struct host_use *h;
		char id[TASK_ID_LEN + 1], host[HOST_MAX];
		double t0, dt;
		bool stored;

		if ((it = pick(w, clock_mono())) == NULL) {
			struct timespec ts;

			/* A host over its budget comes back within a second. */
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&w->changed, &w->lock, &ts);
			continue;
		}
		it->started = true;
		str_copy(id, sizeof(id), it->id);
		str_copy(host, sizeof(host), it->host);
		h = host_of(w, host, clock_mono());
		h->in_flight++;
		pthread_mutex_unlock(&w->lock);
		t0 = clock_mono();
		stored = deliver(w, http, id);
		dt = clock_mono() - t0;
		pthread_mutex_lock(&w->lock);
		/* The table only recycles idle hosts: h is still host's. */
		h->in_flight--;
		h->spent += dt;
		for (size_t i = 0; i < w->n_q; i++)
			if (strcmp(w->q[i].id, id) == 0) {
				w->q[i] = w->q[--w->n_q];
				break;
			}
		pthread_cond_broadcast(&w->changed);
		pthread_mutex_unlock(&w->lock);
		/* Its next_at moved: the scan learns it (or, when the store
		 * refused the write, it is due again after a pause). */
		if (!stored) {
			struct timespec pause = { 1, 0 };

			nanosleep(&pause, NULL);
		}
		bgthread_kick(&w->bg);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	httpc_free(http);
	return NULL;
}

/* Queue what is due for the workers; returns when to look again. */
static double
run_due(struct webhook *w)
{
	struct due d = { .w = w, .now = clock_real() };
	struct poky_error e;

	d.next = d.now + IDLE_WAIT;
	pthread_mutex_lock(&w->lock);
	/* Every pending callback, due or not, to learn the next wake-up. */
	if (store_callbacks_due(w->app->store, d.now + 1e9, note_due, &d, &e) !=
	    POKY_OK) {
		log_warnx("webhooks: cannot read pending deliveries: %s", e.message);
		d.next = d.now + 1;
	}
	if (d.added > 0)
		pthread_cond_broadcast(&w->changed);
	/* Queued ones wake us when done; a full queue is looked at again. */
	if (w->n_q == MAX_DUE && d.next > d.now + 1)
		d.next = d.now + 1;
	pthread_mutex_unlock(&w->lock);
	return d.next;
}

static void *
webhook_main(void *p)
{
	struct webhook *w = p;

	pthread_mutex_lock(&w->bg.lock);
	while (!bgthread_stopping(&w->bg)) {
		double next;

		pthread_mutex_unlock(&w->bg.lock);
		next = run_due(w);
		pthread_mutex_lock(&w->bg.lock);
		/* next is wall-clock time (the records' next_at); the sleep
		 * itself is measured on the monotonic clock. */
		bgthread_wait(&w->bg, next - clock_real());
	}
	pthread_mutex_unlock(&w->bg.lock);
	return NULL;
}

struct webhook *
webhook_new(struct app *app)
{
	struct webhook *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->app = app;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->changed, NULL);
	w->q = calloc(MAX_DUE, sizeof(*w->q));
	w->hosts = calloc(MAX_DUE, sizeof(*w->hosts));
	if (w->q == NULL || w->hosts == NULL || bgthread_init(&w->bg) != 0) {
		free(w->q);
		free(w->hosts);
		pthread_cond_destroy(&w->changed);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return NULL;
	}
	for (size_t i = 0; i < WORKERS; i++)
		if (pthread_create(&w->workers[w->n_workers], NULL, worker_main,
		    w) == 0)
			w->n_workers++;
	if (w->n_workers == 0 || bgthread_start(&w->bg, webhook_main, w) != 0) {
		webhook_free(w);
		return NULL;
	}
	return w;
}

void
webhook_kick(struct webhook *w)
{
	if (w == NULL)
		return;
	bgthread_kick(&w->bg);
}

void
webhook_free(struct webhook *w)
{
	if (w == NULL)
		return;
	/* The workers first, each finishing the delivery it has (they kick
	 * the scanner), then the scanner. */
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_broadcast(&w->changed);
	pthread_mutex_unlock(&w->lock);
	for (size_t i = 0; i < w->n_workers; i++)
		pthread_join(w->workers[i], NULL);
	bgthread_destroy(&w->bg);
	pthread_cond_destroy(&w->changed);
	pthread_mutex_destroy(&w->lock);
	free(w->q);
	free(w->hosts);
	free(w);
}
