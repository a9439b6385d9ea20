/* test_store.c - the task store: deferred updates (queued, not awaited) and
 * the read-your-writes rule that makes them safe to answer from.
 *
 * To catch a deferred write before it commits, a second SQLite connection
 * holds the database's write lock (BEGIN IMMEDIATE): the store's writer then
 * waits (busy timeout) while WAL readers go on, so a read that did not wait
 * for the deferred write would see the old row at once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "poky/log.h"
#include "poky/store.h"

static char tmpdir[64];
static int dirs;

struct fixture {
	char dir[128];
	struct store *s;
	sqlite3 *blocker;               /* holds the write lock when asked */
};

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct poky_error e;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s/s%d", tmpdir, dirs++);
	f->s = store_open(f->dir, &e);
	assert_non_null(f->s);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	if (f->blocker != NULL)
		sqlite3_close(f->blocker);
	store_close(f->s);
	free(f);
	return 0;
}

/* Take the database's write lock from another connection. */
static void
block_writer(struct fixture *f)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/poky.db", f->dir);
	assert_int_equal(sqlite3_open(path, &f->blocker), SQLITE_OK);
	assert_int_equal(sqlite3_exec(f->blocker, "BEGIN IMMEDIATE", NULL, NULL,
	    NULL), SQLITE_OK);
}

static void
unblock_writer(struct fixture *f)
{
	assert_int_equal(sqlite3_exec(f->blocker, "ROLLBACK", NULL, NULL, NULL),
	    SQLITE_OK);
}

static void
new_task(struct task *t, const char *id)
{
	task_init(t);
	snprintf(t->id, sizeof(t->id), "%s", id);
	snprintf(t->template_name, sizeof(t->template_name), "job");
	snprintf(t->launcher, sizeof(t->launcher), "ecs");
	snprintf(t->status, sizeof(t->status), TS_STARTING);
	t->parameters = strdup("{}");
	t->client_token = strdup(id);
	t->created_at = t->updated_at = 1700000000.0;
}

static void
insert(struct fixture *f, struct task *t, const char *id)
{
	new_task(t, id);
	assert_int_equal(store_insert(f->s, t, NULL), POKY_OK);
}

static void
set_arn(struct task *t, const char *arn)
{
	free(t->ecs_task_arn);
	t->ecs_task_arn = strdup(arn);
	free(t->ecs_cluster);
	t->ecs_cluster = strdup("poky-cluster");
}

struct reader {
	struct store *s;
	const char *id;
	struct task t;
	enum poky_err rc;
	atomic_bool done;
};

static void *
read_main(void *p)
{
	struct reader *r = p;

	task_init(&r->t);
	r->rc = store_get(r->s, r->id, &r->t, NULL);
	atomic_store(&r->done, true);
	return NULL;
}

/* ---- tests ---- */

static void
test_deferred_update_is_queued_and_a_later_read_waits_for_it(void **state)
{
	struct fixture *f = *state;
	struct reader r = { .s = f->s, .id = "00000000-0000-7000-8000-000000000001" };
	struct task t;
	pthread_t th;
	double t0, before;

	insert(f, &t, r.id);
	before = t.updated_at;
	block_writer(f);
	set_arn(&t, "arn:aws:ecs:us-east-1:123456789012:task/poky-cluster/a1");
	t0 = mono();
	assert_int_equal(store_update_deferred(f->s, &t, TS_STARTING, NULL), POKY_OK);
	/* Answered without the commit, which can't happen while blocked. */
	assert_true(mono() - t0 < 1.0);
	assert_true(t.updated_at > before);

	assert_int_equal(pthread_create(&th, NULL, read_main, &r), 0);
	usleep(300 * 1000);
	assert_false(atomic_load(&r.done));     /* waiting for the write */
	unblock_writer(f);
	pthread_join(th, NULL);
	assert_int_equal(r.rc, POKY_OK);
	assert_non_null(r.t.ecs_task_arn);
	assert_string_equal(r.t.ecs_task_arn, t.ecs_task_arn);
	assert_string_equal(r.t.ecs_cluster, "poky-cluster");
	/* The version the caller answered with is the stored one. */
	assert_true(r.t.updated_at == t.updated_at);
	assert_int_equal(store_deferred_failures(f->s), 0);
	task_cleanup(&r.t);
	task_cleanup(&t);
}

static void
test_reads_do_not_wait_when_nothing_is_deferred(void **state)
{
	struct fixture *f = *state;
	struct task t, got;
	double t0;

	insert(f, &t, "00000000-0000-7000-8000-000000000002");
	block_writer(f);
	task_init(&got);
	t0 = mono();
	assert_int_equal(store_get(f->s, t.id, &got, NULL), POKY_OK);
	assert_true(mono() - t0 < 0.5);
	assert_null(got.ecs_task_arn);
	unblock_writer(f);
	task_cleanup(&got);
	task_cleanup(&t);
}

/* Unblock the writer after a moment, from another thread. */
static void *
release_main(void *p)
{
	struct fixture *f = p;

	usleep(200 * 1000);
	unblock_writer(f);
	return NULL;
}

static int
count_arn(void *ud, const struct task *t)
{
	int *n = ud;

	if (t->ecs_task_arn != NULL)
		(*n)++;
	return 0;
}

static void
test_list_oldest_and_unfinished_wait_for_deferred_updates(void **state)
{
	struct fixture *f = *state;
	struct task t, got;
	pthread_t th;
	int listed = 0, unfinished = 0;

	insert(f, &t, "00000000-0000-7000-8000-000000000003");
	block_writer(f);
	set_arn(&t, "arn:aws:ecs:us-east-1:123456789012:task/poky-cluster/a3");
	assert_int_equal(store_update_deferred(f->s, &t, TS_STARTING, NULL), POKY_OK);
	assert_int_equal(pthread_create(&th, NULL, release_main, f), 0);
	assert_int_equal(store_list(f->s, NULL, NULL, "", 10, count_arn, &listed,
	    NULL), POKY_OK);
	assert_int_equal(listed, 1);
	pthread_join(th, NULL);

	/* Again for the tracker's and the queue's reads. */
	set_arn(&t, "arn:aws:ecs:us-east-1:123456789012:task/poky-cluster/a3b");
	assert_int_equal(sqlite3_exec(f->blocker, "BEGIN IMMEDIATE", NULL, NULL,
	    NULL), SQLITE_OK);
	assert_int_equal(store_update_deferred(f->s, &t, TS_STARTING, NULL), POKY_OK);
	assert_int_equal(pthread_create(&th, NULL, release_main, f), 0);
	task_init(&got);
	assert_int_equal(store_oldest(f->s, TS_STARTING, "job", &got, NULL), POKY_OK);
	assert_string_equal(got.ecs_task_arn, t.ecs_task_arn);
	pthread_join(th, NULL);
	assert_int_equal(store_unfinished(f->s, count_arn, &unfinished, NULL), POKY_OK);
	assert_int_equal(unfinished, 1);
	task_cleanup(&got);
	task_cleanup(&t);
}

/* A deferred update that finds the row changed (a cancel came first) does
 * nothing to it, and is not silent: logged as an error and counted. */
static void
test_deferred_conflict_is_logged_counted_and_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct task t, cancel, got;
	char logbuf[4096] = "";
	FILE *log = tmpfile();
	size_t n;

	assert_non_null(log);
	insert(f, &t, "00000000-0000-7000-8000-000000000004");
	new_task(&cancel, t.id);
	cancel.updated_at = t.updated_at;
	snprintf(cancel.status, sizeof(cancel.status), TS_CANCELLED);
	assert_int_equal(store_update(f->s, &cancel, TS_STARTING, NULL), POKY_OK);

	log_setup(log, LOG_FORMAT_TEXT, LOG_LEVEL_WARN);
	set_arn(&t, "arn:aws:ecs:us-east-1:123456789012:task/poky-cluster/a4");
	assert_int_equal(store_update_deferred(f->s, &t, TS_STARTING, NULL), POKY_OK);
	task_init(&got);
	assert_int_equal(store_get(f->s, t.id, &got, NULL), POKY_OK);
	log_setup(NULL, LOG_FORMAT_TEXT, LOG_LEVEL_WARN);
	assert_string_equal(got.status, TS_CANCELLED);
	assert_null(got.ecs_task_arn);
	assert_int_equal(store_deferred_failures(f->s), 1);
	rewind(log);
	n = fread(logbuf, 1, sizeof(logbuf) - 1, log);
	logbuf[n] = '\0';
	fclose(log);
	assert_non_null(strstr(logbuf, t.id));
	assert_non_null(strstr(logbuf, "deferred update not stored"));
	assert_non_null(strstr(logbuf, "task/poky-cluster/a4"));
	task_cleanup(&got);
	task_cleanup(&cancel);
	task_cleanup(&t);
}

/* A synchronous write queued after a deferred one of the same row is
 * applied after it (the writer keeps queue order), with the version the
 * deferred one answered with. */
static void
test_sync_update_after_a_deferred_one_sees_its_version(void **state)
{
	struct fixture *f = *state;
	struct task t, got;

	insert(f, &t, "00000000-0000-7000-8000-000000000005");
	set_arn(&t, "arn:aws:ecs:us-east-1:123456789012:task/poky-cluster/a5");
	assert_int_equal(store_update_deferred(f->s, &t, TS_STARTING, NULL), POKY_OK);
	snprintf(t.status, sizeof(t.status), TS_RUNNING);
	assert_int_equal(store_update(f->s, &t, TS_STARTING, NULL), POKY_OK);
	task_init(&got);
	assert_int_equal(store_get(f->s, t.id, &got, NULL), POKY_OK);
	assert_string_equal(got.status, TS_RUNNING);
	assert_string_equal(got.ecs_task_arn, t.ecs_task_arn);
	assert_int_equal(store_deferred_failures(f->s), 0);
	task_cleanup(&got);
	task_cleanup(&t);
}

/* Closing the store writes what is queued: a clean stop loses nothing. */
static void
test_close_commits_queued_deferred_updates(void **state)
{
	struct fixture *f = *state;
	struct task t, got;
	struct poky_error e;

	insert(f, &t, "00000000-0000-7000-8000-000000000006");
	set_arn(&t, "arn:aws:ecs:us-east-1:123456789012:task/poky-cluster/a6");
	assert_int_equal(store_update_deferred(f->s, &t, TS_STARTING, NULL), POKY_OK);
	store_close(f->s);
	f->s = store_open(f->dir, &e);
	assert_non_null(f->s);
	task_init(&got);
	assert_int_equal(store_get(f->s, t.id, &got, NULL), POKY_OK);
	assert_string_equal(got.ecs_task_arn, t.ecs_task_arn);
	task_cleanup(&got);
	task_cleanup(&t);
}

static void
test_deferred_update_needs_an_expected_status(void **state)
{
	struct fixture *f = *state;
	struct task t;
	struct poky_error e;

	insert(f, &t, "00000000-0000-7000-8000-000000000007");
	assert_int_equal(store_update_deferred(f->s, &t, NULL, &e), POKY_ERR_INVALID);
	task_cleanup(&t);
}

/* Many threads at once, each: insert, deferred update, then read back at
 * once - every read sees its own thread's write. */
#define RYW_THREADS 8
#define RYW_ROUNDS 150

struct ryw {
	struct store *s;
	int n;
	int bad;
};

static void *
ryw_main(void *p)
{
	struct ryw *w = p;

	for (int i = 0; i < RYW_ROUNDS; i++) {
		struct task t, got;
		char id[TASK_ID_LEN + 1], arn[96];

		snprintf(id, sizeof(id), "00000000-0000-7000-9%03d-%012d", w->n, i);
		snprintf(arn, sizeof(arn), "arn:aws:ecs:us-east-1:1:task/c/%d-%d", w->n, i);
		new_task(&t, id);
		task_init(&got);
		if (store_insert(w->s, &t, NULL) != POKY_OK)
			w->bad++;
		set_arn(&t, arn);
		if (store_update_deferred(w->s, &t, TS_STARTING, NULL) != POKY_OK)
			w->bad++;
		if (store_get(w->s, id, &got, NULL) != POKY_OK ||
		    got.ecs_task_arn == NULL || strcmp(got.ecs_task_arn, arn) != 0 ||
		    got.updated_at != t.updated_at)
			w->bad++;
		task_cleanup(&got);
		task_cleanup(&t);
	}
	return NULL;
}

static void
test_read_your_writes_under_concurrency(void **state)
{
	struct fixture *f = *state;
	struct ryw w[RYW_THREADS];
	pthread_t th[RYW_THREADS];
	int listed = 0;

	for (int i = 0; i < RYW_THREADS; i++) {
		w[i] = (struct ryw){ .s = f->s, .n = i };
		assert_int_equal(pthread_create(&th[i], NULL, ryw_main, &w[i]), 0);
	}
	for (int i = 0; i < RYW_THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].bad, 0);
	}
	assert_int_equal(store_list(f->s, NULL, NULL, "", RYW_THREADS * RYW_ROUNDS,
	    count_arn, &listed, NULL), POKY_OK);
	assert_int_equal(listed, RYW_THREADS * RYW_ROUNDS);
	assert_int_equal(store_deferred_failures(f->s), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_deferred_update_is_queued_and_a_later_read_waits_for_it,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_reads_do_not_wait_when_nothing_is_deferred, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_list_oldest_and_unfinished_wait_for_deferred_updates,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_deferred_conflict_is_logged_counted_and_changes_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_sync_update_after_a_deferred_one_sees_its_version,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_close_commits_queued_deferred_updates, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_deferred_update_needs_an_expected_status, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_read_your_writes_under_concurrency, setup, teardown),
	};
	char cmd[128];
	int rc;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/poky-unit-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	rc = cmocka_run_group_tests_name("store", tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		rc = rc ? rc : 1;
	return rc;
}
