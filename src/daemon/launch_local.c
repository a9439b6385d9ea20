/* launch_local.c - tasks as local processes (launcher = local).
 *
 * Each task runs under a small supervisor: pokyd re-executes itself as
 * `pokyd --supervise`, which starts the command (execvp, no shell) in its own
 * process group with stdout/stderr to state_dir/logs/<id>.log, forwards
 * SIGTERM (then SIGKILL after the grace period), and writes the exit status
 * to state_dir/logs/<id>.status atomically.  That file outlives pokyd, so a
 * restarted pokyd still learns how a task ended; a task whose supervisor is
 * gone without a status file is "lost". */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "poky/app.h"
#include "poky/bgthread.h"
#include "poky/clock.h"
#include "poky/launch.h"
#include "poky/lifecycle.h"
#include "poky/log.h"
#include "poky/str.h"
#include "poky/templates.h"

#define TICK_MS 50
#define MAX_RUNNING_TOTAL 4096
#define MAX_ARGS 64

struct running {
	char id[TASK_ID_LEN + 1];
	char template_name[65];
	pid_t pid;                      /* the supervisor */
	bool ours;                      /* our child (waitpid works) */
	double deadline;                /* monotonic; 0 = no timeout */
	long timeout;
	bool term_sent;
	bool timed_out;
};

struct local_runner {
	struct app *app;
	struct bgthread bg;             /* its lock guards run and n_run */
	struct running *run;
	size_t n_run;
};

void
local_log_path(const struct app *app, const char *id, char *out, size_t cap)
{
	snprintf(out, cap, "%s/logs/%s.log", app->state_dir, id);
}

enum poky_err
local_log_tail(const char *path, size_t max, char **out, size_t *len,
	       struct poky_error *e)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	char *data;
	off_t start = 0;

	*out = NULL;
	*len = 0;
	if (f == NULL)
		return poky_error_set(e, POKY_ERR_NOTFOUND, "%s: %s", path,
		    strerror(errno));
	if (fstat(fileno(f), &st) != 0) {
		fclose(f);
		return poky_error_set(e, POKY_ERR_IO, "%s: %s", path, strerror(errno));
	}
	/* Anything else (a FIFO put in its place) could block the reader. */
	if (!S_ISREG(st.st_mode)) {
		fclose(f);
		return poky_error_set(e, POKY_ERR_NOTFOUND, "%s: not a regular file",
		    path);
	}
	if (st.st_size > (off_t)max)
		start = st.st_size - (off_t)max;
	if (fseeko(f, start, SEEK_SET) != 0 ||
	    (data = malloc((size_t)(st.st_size - start) + 1)) == NULL) {
		fclose(f);
		return poky_error_set(e, POKY_ERR_NOMEM, "cannot read the log");
	}
	*len = fread(data, 1, (size_t)(st.st_size - start), f);
	data[*len] = '\0';
	fclose(f);
	*out = data;
	return POKY_OK;
}

static void
status_path(const struct app *app, const char *id, char *out, size_t cap)
{
	snprintf(out, cap, "%s/logs/%s.status", app->state_dir, id);
}

static size_t
count_running(struct local_runner *r, const char *tmpl)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n_run; i++)
		n += strcmp(r->run[i].template_name, tmpl) == 0;
	return n;
}

/* ---- starting ------------------------------------------------------------- */

/* Split a template command on blanks: there is no shell, so no quoting. */
static size_t
split_command(char *cmd, char **argv, size_t cap)
{
	size_t n = 0;
	char *save = NULL;

	for (char *tok = strtok_r(cmd, " \t", &save); tok && n + 1 < cap;
	     tok = strtok_r(NULL, " \t", &save))
		argv[n++] = tok;
	argv[n] = NULL;
	return n;
}

static enum poky_err
spawn(struct local_runner *r, const struct tmpl *t, struct task *task,
      struct poky_error *e)
{
	struct app *app = r->app;
	char logp[PATH_MAX], statp[PATH_MAX], grace[24], dir[PATH_MAX];
	char *cmd = NULL, *cargv[MAX_ARGS], *argv[MAX_ARGS + 8];
	char **envp = NULL;
	json_t *params = NULL;
	struct ecs_kv env[TMPL_MAX_ENV];
	size_t n_env, n_cmd, k = 0;
	bool has_path = false;
	pid_t pid;
	enum poky_err rc = POKY_OK;

	snprintf(dir, sizeof(dir), "%s/logs", app->state_dir);
	if (mkdir(dir, 0750) != 0 && errno != EEXIST)
		return poky_error_set(e, POKY_ERR_IO, "%s: %s", dir, strerror(errno));
	local_log_path(app, task->id, logp, sizeof(logp));
	status_path(app, task->id, statp, sizeof(statp));
	unlink(statp);
	snprintf(grace, sizeof(grace), "%ld", t->kill_grace);
	params = json_loads(task->parameters ? task->parameters : "{}", 0, NULL);
	cmd = strdup(t->command);
	if (params == NULL || cmd == NULL) {
		rc = poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
		goto out;
	}
	n_cmd = split_command(cmd, cargv, MAX_ARGS);
	if (n_cmd == 0) {
		rc = poky_error_set(e, POKY_ERR_INVALID, "empty command");
		goto out;
	}
	n_env = tmpl_env_task(t, params, task->id, env, TMPL_MAX_ENV);
	envp = calloc(n_env + 2, sizeof(*envp));
	if (envp == NULL) {
		rc = poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* Only the template's environment and the parameters: pokyd's own
	 * variables (credentials among them) never reach a task. */
	for (size_t i = 0; i < n_env; i++) {
		if (asprintf(&envp[k], "%s=%s", env[i].name, env[i].value) < 0) {
			envp[k] = NULL;
			rc = poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
			goto out;
		}
		has_path = has_path || strcmp(env[i].name, "PATH") == 0;
		k++;
	}
	if (!has_path && (envp[k++] = strdup("PATH=/usr/local/bin:/usr/bin:/bin")) == NULL) {
		rc = poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
		goto out;
	}
	argv[0] = (char *)"pokyd";
	argv[1] = (char *)"--supervise";
	argv[2] = task->id;
	argv[3] = logp;
	argv[4] = statp;
	argv[5] = grace;
	argv[6] = (char *)"--";
	for (size_t i = 0; i <= n_cmd; i++)
		argv[7 + i] = cargv[i];

	pid = fork();
	if (pid < 0) {
		rc = poky_error_set(e, POKY_ERR_TRANSIENT, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		/* Between fork and exec only async-signal-safe calls.  SIGTERM
		 * and SIGINT stay blocked across the exec: a cancel that comes
		 * before the supervisor has its handler must wait for it, not
		 * kill the supervisor (the task would be lost, its command
		 * orphaned). */
		sigset_t mask;

		sigemptyset(&mask);
		sigaddset(&mask, SIGTERM);
		sigaddset(&mask, SIGINT);
		sigprocmask(SIG_SETMASK, &mask, NULL);
		execve("/proc/self/exe", argv, envp);
		_exit(126);
	}
	task->local_pid = pid;
	{
		struct running *x;

		if (r->n_run == MAX_RUNNING_TOTAL) {
			kill(pid, SIGKILL);
			rc = poky_error_set(e, POKY_ERR_LIMIT, "too many local tasks");
			goto out;
		}
		x = &r->run[r->n_run++];
		memset(x, 0, sizeof(*x));
		str_copy(x->id, sizeof(x->id), task->id);
		str_copy(x->template_name, sizeof(x->template_name), t->name);
		x->pid = pid;
		x->ours = true;
		x->timeout = task->timeout_seconds;
		x->deadline = task->timeout_seconds > 0 ?
		    clock_mono() + (double)task->timeout_seconds : 0;
	}
out:
	if (envp != NULL)
		for (size_t i = 0; i < k; i++)
			free(envp[i]);
	free(envp);
	free(cmd);
	json_decref(params);
	return rc;
}

/* Start task (status queued) now.  Called with r->bg.lock held. */
static enum poky_err
start_locked(struct local_runner *r, struct task *task, struct poky_error *e)
{
	struct app_conf *conf = app_config_get(r->app);
	const struct tmpl *t = config_template(conf->cfg, task->template_name);
	enum poky_err rc;

	if (t == NULL || t->launcher != LAUNCHER_LOCAL) {
		const struct task_outcome gone = { .never_started = true,
			.detail = "template no longer configured for local runs" };

		app_config_put(r->app, conf);
		return tasks_finish(r->app, task, &gone, e);
	}
	rc = spawn(r, t, task, e);
	app_config_put(r->app, conf);
	if (rc != POKY_OK) {
		const struct task_outcome failed = { .never_started = true,
			.detail = e ? e->message : "cannot start" };

		tasks_finish(r->app, task, &failed, NULL);
		return rc;
	}
	rc = tasks_set_status(r->app, task, TS_RUNNING, e);
	if (rc == POKY_ERR_CONFLICT) {
		/* Cancelled between leaving the queue and now: stop what
		 * just started (the record is final; the supervisor's end is
		 * only reaped). */
		log_info("task %s: cancelled while it started, stopping it",
		    task->id);
		kill((pid_t)task->local_pid, SIGTERM);
		r->run[r->n_run - 1].term_sent = true;
	}
	return rc;
}

enum poky_err
local_submit(struct local_runner *r, struct task *task, struct poky_error *e)
{
	struct app_conf *conf = app_config_get(r->app);
	const struct tmpl *t = config_template(conf->cfg, task->template_name);
	int max = t ? t->max_running : 1;
	enum poky_err rc = POKY_OK;

	app_config_put(r->app, conf);
	pthread_mutex_lock(&r->bg.lock);
	/* FIFO: a new task may start only when no older one is waiting. */
	if (count_running(r, task->template_name) < (size_t)max) {
		struct task head;

		task_init(&head);
		if (store_oldest(r->app->store, TS_QUEUED, task->template_name,
		    &head, NULL) == POKY_OK && strcmp(head.id, task->id) == 0) {
			rc = start_locked(r, task, e);
			/* Cancelled while it started, or ended before it began
			 * (bad command): that is the task's state, not a failed
			 * submit. */
			if ((rc == POKY_ERR_CONFLICT && store_get(r->app->store,
			    task->id, task, NULL) == POKY_OK) ||
			    (rc != POKY_OK && task_status_final(task->status)))
				rc = POKY_OK;
		}
		task_cleanup(&head);
	}
	pthread_mutex_unlock(&r->bg.lock);
	bgthread_kick(&r->bg);
	return rc;
}

enum poky_err
local_cancel(struct local_runner *r, const struct task *task,
	     struct poky_error *e)
{
	(void)e;
	pthread_mutex_lock(&r->bg.lock);
	for (size_t i = 0; i < r->n_run; i++) {
		struct running *x = &r->run[i];

		if (strcmp(x->id, task->id) == 0 && !x->term_sent) {
			kill(x->pid, SIGTERM);  /* the supervisor escalates */
			x->term_sent = true;
		}
	}
	pthread_mutex_unlock(&r->bg.lock);
	bgthread_kick(&r->bg);
	return POKY_OK;
}

/* ---- watching ------------------------------------------------------------- */

/* Read "exit N", "signal N" or "exec-error ERRNO". */
static bool
read_status(const char *path, char *kind, size_t cap, int *value)
{
	FILE *f = fopen(path, "r");
	char line[64], *sp, *end;
	long v;

	if (f == NULL)
		return false;
	if (fgets(line, sizeof(line), f) == NULL) {
		fclose(f);
		return false;
	}
	fclose(f);
	sp = strchr(line, ' ');
	if (sp == NULL)
		return false;
	*sp = '\0';
	v = strtol(sp + 1, &end, 10);
	if (end == sp + 1 || (*end != '\n' && *end != '\0') || v < 0 || v > 4096)
		return false;
	str_copy(kind, cap, line);
	*value = (int)v;
	return true;
}

/* One try at recording how x ended; POKY_ERR_CONFLICT when the record
 * changed meanwhile (a cancel request, say), to try again on a fresh copy. */
static enum poky_err
finish_once(struct local_runner *r, struct running *x, const char *kind,
	    int value)
{
	struct task t;
	char reason[256];
	struct task_outcome o = { .timed_out = x->timed_out,
		.timeout = x->timeout, .detail = reason };
	enum poky_err rc;

	task_init(&t);
	if ((rc = store_get(r->app->store, x->id, &t, NULL)) != POKY_OK) {
		task_cleanup(&t);
		return rc;
	}
	reason[0] = '\0';
	if (strcmp(kind, "exit") == 0) {
		o.has_exit_code = true;
		o.exit_code = value;
	} else if (strcmp(kind, "signal") == 0) {
		o.signal = value;
	} else {
		o.never_started = true;
		snprintf(reason, sizeof(reason), "cannot run the command: %s",
		    strerror(value));
	}
	o.cancelled_by = t.cancel_requested_by;
	rc = tasks_finish(r->app, &t, &o, NULL);
	task_cleanup(&t);
	return rc;
}

/* The end of a task is seen once: it must not be lost to a concurrent
 * write, or the record would stay "running" for ever. */
static void
finish_from_status(struct local_runner *r, struct running *x, const char *kind,
		   int value)
{
	for (int i = 0; i < 8; i++)
		if (finish_once(r, x, kind, value) != POKY_ERR_CONFLICT)
			return;
	log_warnx("task %s: could not record its end", x->id);
}

static void
mark_lost(struct local_runner *r, const char *id, const char *why)
{
	struct task t;
	enum poky_err rc = POKY_ERR_CONFLICT;

	for (int i = 0; i < 8 && rc == POKY_ERR_CONFLICT; i++) {
		task_init(&t);
		rc = store_get(r->app->store, id, &t, NULL);
		if (rc == POKY_OK) {
			const struct task_outcome lost = { .lost = true, .detail = why };

			rc = tasks_finish(r->app, &t, &lost, NULL);
		}
		task_cleanup(&t);
	}
}

/* A supervisor left from before a restart: is pid still the one that runs
 * this task?  Its command line names the task id. */
static bool
still_ours(pid_t pid, const char *id)
{
	char path[64], buf[4096];
	ssize_t n;
	int fd;
	bool found = false;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1)
		if (strcmp(buf + i, "--supervise") == 0 && i + 12 < n &&
		    strcmp(buf + i + 12, id) == 0)
			found = true;
	return found;
}

/* One pass: reap ended tasks, enforce timeouts, start queued ones. */
static void
tick(struct local_runner *r)
{
	double now = clock_mono();
	char path[PATH_MAX], kind[32];
	int value;

	for (size_t i = 0; i < r->n_run;) {
		struct running *x = &r->run[i];
		bool gone;

		status_path(r->app, x->id, path, sizeof(path));
		if (read_status(path, kind, sizeof(kind), &value)) {
			if (x->ours)
				waitpid(x->pid, NULL, 0);  /* it exits right after */
			finish_from_status(r, x, kind, value);
			r->run[i] = r->run[--r->n_run];
			continue;
		}
		if (x->ours) {
			int st;
			pid_t w = waitpid(x->pid, &st, WNOHANG);

			gone = w == x->pid;
			/* The status file is renamed into place before the
			 * supervisor exits: look once more. */
			if (gone && read_status(path, kind, sizeof(kind), &value)) {
				finish_from_status(r, x, kind, value);
				r->run[i] = r->run[--r->n_run];
				continue;
			}
		} else {
			/* Not our child: once it exits it is a zombie until its
			 * new parent reaps it (kill() still finds it then), and
			 * its pid may be reused; its command line tells. */
			gone = (kill(x->pid, 0) != 0 && errno == ESRCH) ||
			    !still_ours(x->pid, x->id);
		}
		if (gone) {
			mark_lost(r, x->id, "its supervisor ended without an exit status");
			r->run[i] = r->run[--r->n_run];
			continue;
		}
		if (x->deadline > 0 && now >= x->deadline && !x->term_sent) {
			log_info("task %s: timeout after %ld s, stopping it", x->id,
			    x->timeout);
			kill(x->pid, SIGTERM);
			x->term_sent = true;
			x->timed_out = true;
		}
		i++;
	}

	/* Fill free slots from each template's queue, oldest first. */
	struct app_conf *conf = app_config_get(r->app);
	for (size_t ti = 0; ti < conf->cfg->n_templates; ti++) {
		const struct tmpl *t = conf->cfg->templates[ti];

		if (t->launcher != LAUNCHER_LOCAL)
			continue;
		while (count_running(r, t->name) < (size_t)t->max_running) {
			struct task q;
			enum poky_err rc;

			task_init(&q);
			rc = store_oldest(r->app->store, TS_QUEUED, t->name, &q, NULL);
			if (rc == POKY_OK)
				start_locked(r, &q, NULL);
			task_cleanup(&q);
			if (rc != POKY_OK)
				break;
		}
	}
	app_config_put(r->app, conf);
}

static void *
runner_main(void *p)
{
	struct local_runner *r = p;

	pthread_mutex_lock(&r->bg.lock);
	while (!bgthread_stopping(&r->bg)) {
		tick(r);
		bgthread_wait(&r->bg, TICK_MS / 1000.0);
	}
	pthread_mutex_unlock(&r->bg.lock);
	return NULL;
}

static int
resume_one(void *ud, const struct task *t)
{
	struct local_runner *r = ud;
	char path[PATH_MAX], kind[32];
	int value;

	if (t->launcher != LAUNCHER_LOCAL || strcmp(t->status, TS_QUEUED) == 0)
		return 0;
	if (r->n_run == MAX_RUNNING_TOTAL)
		return 1;
	struct running *x = &r->run[r->n_run];
	memset(x, 0, sizeof(*x));
	str_copy(x->id, sizeof(x->id), t->id);
	str_copy(x->template_name, sizeof(x->template_name), t->template_name);
	x->pid = (pid_t)t->local_pid;
	x->timeout = t->timeout_seconds;
	if (t->timeout_seconds > 0 && t->started_at > 0) {
		x->deadline = clock_mono() + (t->started_at + (double)t->timeout_seconds -
		    clock_real());
	}
	status_path(r->app, t->id, path, sizeof(path));
	if (read_status(path, kind, sizeof(kind), &value)) {
		finish_from_status(r, x, kind, value);
		return 0;
	}
	if (x->pid > 0 && still_ours(x->pid, t->id)) {
		log_info("task %s: re-adopted running process %d", t->id, (int)x->pid);
		r->n_run++;
		return 0;
	}
	mark_lost(r, t->id, "its process was gone after pokyd restarted");
	return 0;
}

struct local_runner *
local_new(struct app *app)
{
	struct local_runner *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->app = app;
	r->run = calloc(MAX_RUNNING_TOTAL, sizeof(*r->run));
	if (r->run == NULL || bgthread_init(&r->bg) != 0) {
		free(r->run);
		free(r);
		return NULL;
	}
	pthread_mutex_lock(&r->bg.lock);
	store_unfinished(app->store, resume_one, r, NULL);
	pthread_mutex_unlock(&r->bg.lock);
	if (bgthread_start(&r->bg, runner_main, r) != 0) {
		local_free(r);
		return NULL;
	}
	return r;
}

void
local_free(struct local_runner *r)
{
	if (r == NULL)
		return;
	bgthread_destroy(&r->bg);
	free(r->run);
	free(r);
}

/* ---- the launcher interface --------------------------------------------- */

static enum poky_err
local_ops_submit(struct app *app, struct task *task, struct poky_error *e)
{
	return local_submit(app->local, task, e);
}

static bool
local_unstarted(const struct task *task)
{
	/* Queued: waiting for a slot, nothing runs yet. */
	return strcmp(task->status, TS_QUEUED) == 0;
}

static enum poky_err
local_stop(struct app *app, const struct task *task, const char *reason,
      struct poky_error *e)
{
	(void)reason;           /* a signal carries none */
	return local_cancel(app->local, task, e);
}

static json_t *
local_detail_json(const struct task *t)
{
	char log[64];

	snprintf(log, sizeof(log), "/tasks/%s/logs", t->id);
	return json_pack("{s:o, s:s}", "pid", t->local_pid > 0 ?
	    json_integer(t->local_pid) : json_null(), "log", log);
}

/* The log file's last max bytes, as a descriptor to stream from (bounded
 * memory per answer, whatever the number of slow readers).  No file yet:
 * the task has written nothing. */
static enum poky_err
local_logs(struct app *app, const struct task *t, size_t max,
	   struct task_logs *out, enum poky_reason *why, struct poky_error *e)
{
	char path[PATH_MAX];
	struct stat st;
	int fd;

	local_log_path(app, t->id, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		if ((out->text = strdup("")) == NULL) {
			*why = REASON_NOMEM;
			return poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
		}
		out->text_len = 0;
		return POKY_OK;
	}
	out->fd = fd;
	out->off = st.st_size > (off_t)max ? (unsigned long long)(st.st_size -
	    (off_t)max) : 0;
	out->len = (unsigned long long)st.st_size - out->off;
	return POKY_OK;
}

static void
local_follow_path(const struct app *app, const struct task *t, char *out,
		  size_t cap)
{
	local_log_path(app, t->id, out, cap);
}

const struct launcher_ops launch_local_ops = {
	.submit = local_ops_submit, .unstarted = local_unstarted,
	.stop = local_stop, .detail_json = local_detail_json,
	.logs = local_logs, .follow_path = local_follow_path,
};
