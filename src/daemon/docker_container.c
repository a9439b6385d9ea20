/* docker_container.c - a task's container in a Docker engine: its create
 * body (the template's image and command, the task's parameters and the
 * template's env, never pokyd's own), start/kill/remove/inspect, and its
 * output (the logs stream, demultiplexed: saved to state_dir/logs/<id>.log
 * at the end, or tailed while it runs).  docker_ping serves readiness. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "poky/buf.h"
#include "poky/lifecycle.h"
#include "poky/log.h"
#include "poky/str.h"

#include "docker_internal.h"

/* ---- containers ----------------------------------------------------------- */

/* A template command as Cmd: a JSON array of strings (exec form, words may
 * hold blanks), or words split on blanks.  No shell either way. */
static json_t *
command_json(const char *cmd)
{
	json_t *arr;
	char *copy, *save = NULL;

	while (*cmd == ' ' || *cmd == '\t')
		cmd++;
	if (*cmd == '[')
		return json_loads(cmd, 0, NULL);        /* checked by config.c */
	if ((arr = json_array()) == NULL || (copy = strdup(cmd)) == NULL) {
		json_decref(arr);
		return NULL;
	}
	for (char *tok = strtok_r(copy, " \t", &save); tok != NULL &&
	     json_array_size(arr) < MAX_ARGS; tok = strtok_r(NULL, " \t", &save))
		json_array_append_new(arr, json_string(tok));
	free(copy);
	return arr;
}

/* The body of POST /containers/create: text the caller frees. */
static char *
create_body(const struct tmpl *t, const struct task *task)
{
	struct ecs_kv env[TMPL_MAX_ENV];
	json_t *params = NULL, *envj = json_array(), *hc, *o = NULL;
	size_t n_env;
	char *text = NULL;

	params = json_loads(task->parameters ? task->parameters : "{}", 0, NULL);
	if (params == NULL || envj == NULL)
		goto out;
	/* Only the parameters and the template's env: pokyd's own variables
	 * (credentials among them) never reach a container. */
	n_env = tmpl_env_task(t, params, task->id, env, TMPL_MAX_ENV);
	for (size_t i = 0; i < n_env; i++)
		json_array_append_new(envj, json_sprintf("%s=%s", env[i].name,
		    env[i].value));
	/* No privileges beyond the engine's default, and none to gain. */
	hc = json_pack("{s:b, s:[s], s:b}", "Privileged", 0, "SecurityOpt",
	    "no-new-privileges", "AutoRemove", 0);
	if (hc != NULL && t->docker_network != NULL && *t->docker_network)
		json_object_set_new(hc, "NetworkMode", json_string(t->docker_network));
	o = json_pack("{s:s, s:O, s:{s:s, s:s}, s:o, s:b, s:b, s:b}",
	    "Image", t->image, "Env", envj, "Labels", "poky.task-id", task->id,
	    "poky.template", t->name, "HostConfig", hc, "Tty", 0,
	    "OpenStdin", 0, "AttachStdin", 0);
	if (o != NULL && t->command != NULL && *t->command) {
		json_t *cmd = command_json(t->command);

		if (cmd == NULL)
			goto out;
		json_object_set_new(o, "Cmd", cmd);
	}
	if (o != NULL)
		text = json_dumps(o, JSON_COMPACT);
out:
	json_decref(o);
	json_decref(envj);
	json_decref(params);
	return text;
}

enum poky_err
engine_container_create(struct engine *en, const struct tmpl *t, const struct task *task,
		 char *cid, size_t cap, struct poky_error *e)
{
	char path[128], *body = create_body(t, task);
	struct call c = { .method = "POST", .path = path, .body = body };
	json_t *j = NULL;
	const char *id;
	enum poky_err rc;

	if (body == NULL)
		return poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	snprintf(path, sizeof(path), "/containers/create?name=poky-%s", task->id);
	rc = engine_json(en, &c, &j, e);
	free(body);
	if (rc == POKY_ERR_NOTFOUND)
		rc = engine_error_prefix(e, rc, "image '%.100s' not found", t->image);
	if (rc != POKY_OK)
		return rc;
	id = json_string_value(json_object_get(j, "Id"));
	if (id == NULL || *id == '\0' || strlen(id) >= cap) {
		json_decref(j);
		return poky_error_set(e, POKY_ERR_REMOTE,
		    "Docker engine at %.120s: no container id in its answer", en->host);
	}
	str_copy(cid, cap, id);
	json_decref(j);
	return POKY_OK;
}

enum poky_err
engine_container_op(struct engine *en, const char *method, const char *cid,
	     const char *what, struct poky_error *e)
{
	char path[256];

	snprintf(path, sizeof(path), "/containers/%s%s", cid, what);
	return engine_simple(en, method, path, NULL, 0, e);
}

enum poky_err
engine_container_kill(struct engine *en, const char *cid, const char *sig,
	       struct poky_error *e)
{
	char what[64];

	snprintf(what, sizeof(what), "/kill?signal=%s", sig);
	return engine_container_op(en, "POST", cid, what, e);
}

void
engine_container_remove(struct engine *en, const char *id, const char *cid)
{
	struct poky_error e;
	enum poky_err rc = engine_container_op(en, "DELETE", cid, "?force=1", &e);

	if (rc != POKY_OK && rc != POKY_ERR_NOTFOUND)
		log_warnx("task %s: cannot remove container %.12s: %s", id, cid,
		    e.message);
}

/* The container labelled with task id (all states).  POKY_ERR_NOTFOUND
 * when there is none. */
enum poky_err
engine_container_by_label(struct engine *en, const char *id, char *cid, size_t cap,
		   struct poky_error *e)
{
	char filter[128];
	struct buf path;
	struct call c = { .method = "GET" };
	json_t *j = NULL;
	const char *found;
	enum poky_err rc;

	snprintf(filter, sizeof(filter), "{\"label\":[\"poky.task-id=%s\"]}", id);
	buf_init(&path, 1024);
	if (buf_append_str(&path, "/containers/json?all=1&filters=") != POKY_OK ||
	    str_uri_encode(&path, filter, strlen(filter), false) != POKY_OK) {
		buf_free(&path);
		return poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	}
	c.path = path.data;
	rc = engine_json(en, &c, &j, e);
	buf_free(&path);
	if (rc != POKY_OK)
		return rc;
	found = json_string_value(json_object_get(json_array_get(j, 0), "Id"));
	if (found == NULL || strlen(found) >= cap)
		rc = poky_error_set(e, POKY_ERR_NOTFOUND, "no container for task %s", id);
	else
		str_copy(cid, cap, found);
	json_decref(j);
	return rc;
}

/* "2026-11-28T02:55:14.163882069Z" -> seconds since the epoch, to the
 * millisecond as the API shows times; 0 for the engine's zero time
 * ("0001-01-01T00:00:00Z") or anything else. */
static double
engine_time(const char *s)
{
	const char *dot;
	double frac = 0;
	time_t t;

	if (s == NULL || !str_time_parse(s, &t))
		return 0;
	if ((dot = strchr(s, '.')) != NULL)
		frac = strtod(dot, NULL);
	return (double)t + (double)(long)(frac * 1000) / 1000.0;
}

enum poky_err
engine_container_inspect(struct engine *en, const char *cid, struct seen *s,
		  struct poky_error *e)
{
	char path[256];
	struct call c = { .method = "GET", .path = path };
	json_t *j = NULL, *state, *cfg, *sig;
	enum poky_err rc;

	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "/containers/%s/json", cid);
	if ((rc = engine_json(en, &c, &j, e)) != POKY_OK)
		return rc;
	state = json_object_get(j, "State");
	cfg = json_object_get(j, "Config");
	if (!json_is_object(state)) {
		json_decref(j);
		return poky_error_set(e, POKY_ERR_REMOTE, "Docker engine at %.120s: "
		    "no State for container %.12s", en->host, cid);
	}
	str_copy(s->status, sizeof(s->status),
	    json_string_value(json_object_get(state, "Status")) ?
	    json_string_value(json_object_get(state, "Status")) : "");
	s->has_exit = json_is_integer(json_object_get(state, "ExitCode"));
	s->exit_code = (int)json_integer_value(json_object_get(state, "ExitCode"));
	s->oom = json_is_true(json_object_get(state, "OOMKilled"));
	s->started_at = engine_time(json_string_value(json_object_get(state,
	    "StartedAt")));
	if (json_string_value(json_object_get(state, "Error")) != NULL)
		str_copy(s->error, sizeof(s->error),
		    json_string_value(json_object_get(state, "Error")));
	/* "SIGTERM" from Docker; podman gives the number. */
	sig = json_object_get(cfg, "StopSignal");
	if (json_is_string(sig))
		str_copy(s->stop_signal, sizeof(s->stop_signal), json_string_value(sig));
	else if (json_is_integer(sig) && json_integer_value(sig) > 0 &&
	    json_integer_value(sig) < 65)
		snprintf(s->stop_signal, sizeof(s->stop_signal), "%d",
		    (int)json_integer_value(sig));
	json_decref(j);
	return POKY_OK;
}

bool
engine_status_ended(const char *st)
{
	return strcmp(st, "exited") == 0 || strcmp(st, "dead") == 0 ||
	    strcmp(st, "stopped") == 0;
}

/* ---- logs ----------------------------------------------------------------- */

/* The logs endpoint multiplexes stdout and stderr into frames: one byte of
 * stream, three zero bytes, a big-endian 32-bit length, the payload.  A TTY
 * container's log comes raw. */
struct demux {
	unsigned char hdr[8];
	size_t have;                    /* header bytes so far */
	size_t left;                    /* payload bytes left in this frame */
	int mode;                       /* 0 unknown, 1 framed, 2 raw */
	int (*sink)(void *ud, const char *p, size_t n);
	void *ud;
};

static int
demux_feed(void *ud, const char *p, size_t n)
{
	struct demux *d = ud;

	if (d->mode == 0 && n > 0)
		d->mode = (unsigned char)p[0] <= 2 ? 1 : 2;
	if (d->mode == 2)
		return d->sink(d->ud, p, n);
	while (n > 0) {
		size_t k;

		if (d->left == 0) {
			k = sizeof(d->hdr) - d->have < n ? sizeof(d->hdr) - d->have : n;
			memcpy(d->hdr + d->have, p, k);
			d->have += k;
			p += k;
			n -= k;
			if (d->have < sizeof(d->hdr))
				break;
			d->have = 0;
			d->left = (size_t)d->hdr[4] << 24 | (size_t)d->hdr[5] << 16 |
			    (size_t)d->hdr[6] << 8 | (size_t)d->hdr[7];
			continue;
		}
		k = d->left < n ? d->left : n;
		if (d->sink(d->ud, p, k) != 0)
			return 1;
		p += k;
		n -= k;
		d->left -= k;
	}
	return 0;
}

static enum poky_err
container_logs(struct engine *en, const char *cid,
	       int (*sink)(void *ud, const char *p, size_t n), void *ud,
	       struct poky_error *e)
{
	char path[256];
	struct demux d = { .sink = sink, .ud = ud };
	struct call c = { .method = "GET", .path = path,
		.timeout_ms = LOGS_TIMEOUT_MS, .write = demux_feed, .write_ud = &d };
	struct httpc_response resp;
	enum poky_err rc;

	snprintf(path, sizeof(path), "/containers/%s/logs?stdout=1&stderr=1", cid);
	httpc_response_init(&resp, ERROR_BODY_MAX);
	rc = engine_call(en, &c, &resp, e);
	httpc_response_cleanup(&resp);
	return rc;
}

struct log_file {
	FILE *f;
	off_t written;
	bool truncated;
};

static int
file_sink(void *ud, const char *p, size_t n)
{
	struct log_file *lf = ud;

	if (lf->written + (off_t)n > LOG_FILE_MAX) {
		lf->truncated = true;
		n = (size_t)(LOG_FILE_MAX - lf->written);
	}
	if (n > 0 && fwrite(p, 1, n, lf->f) != n)
		return 1;
	lf->written += (off_t)n;
	return 0;
}

/* Copy the container's output to state_dir/logs/<id>.log (atomically: the
 * file is whole once it is there). */
enum poky_err
engine_logs_save(struct app *app, struct engine *en, const char *id, const char *cid,
	  struct poky_error *e)
{
	char dir[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX + 8];
	struct log_file lf = { 0 };
	enum poky_err rc;

	snprintf(dir, sizeof(dir), "%s/logs", app->state_dir);
	if (mkdir(dir, 0750) != 0 && errno != EEXIST)
		return poky_error_set(e, POKY_ERR_IO, "%s: %s", dir, strerror(errno));
	local_log_path(app, id, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	lf.f = fopen(tmp, "wb");
	if (lf.f == NULL)
		return poky_error_set(e, POKY_ERR_IO, "%s: %s", tmp, strerror(errno));
	rc = container_logs(en, cid, file_sink, &lf, e);
	if (rc == POKY_OK && lf.truncated)
		fprintf(lf.f, "\npoky: output cut at %lld bytes\n",
		    (long long)LOG_FILE_MAX);
	if (fclose(lf.f) != 0 && rc == POKY_OK)
		rc = poky_error_set(e, POKY_ERR_IO, "%s: %s", tmp, strerror(errno));
	if (rc == POKY_OK && rename(tmp, path) != 0)
		rc = poky_error_set(e, POKY_ERR_IO, "%s: %s", path, strerror(errno));
	if (rc != POKY_OK)
		unlink(tmp);
	return rc;
}

/* The last max bytes of a stream. */
struct tail {
	char *data;
	size_t len, cap, max;
};

static int
tail_sink(void *ud, const char *p, size_t n)
{
	struct tail *t = ud;

	if (n >= t->max) {
		p += n - t->max;
		n = t->max;
		t->len = 0;
	} else if (t->len + n > t->max) {
		size_t drop = t->len + n - t->max;

		memmove(t->data, t->data + drop, t->len - drop);
		t->len -= drop;
	}
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 65536;
		char *d;

		while (cap < t->len + n + 1)
			cap *= 2;
		if (cap > t->max + 1)
			cap = t->max + 1;
		if ((d = realloc(t->data, cap)) == NULL)
			return 1;
		t->data = d;
		t->cap = cap;
	}
	memcpy(t->data + t->len, p, n);
	t->len += n;
	t->data[t->len] = '\0';
	return 0;
}

enum poky_err
docker_logs(struct app *app, const struct task *task, size_t max, char **out,
	    size_t *len, struct poky_error *e)
{
	char path[PATH_MAX], host[HOST_MAX];
	struct tail t = { .max = max };
	struct engine en;
	struct app_conf *conf;
	enum poky_err rc;

	*out = NULL;
	*len = 0;
	/* Saved when the task ended: the container may be gone since. */
	local_log_path(app, task->id, path, sizeof(path));
	rc = local_log_tail(path, max, out, len, e);
	if (rc != POKY_ERR_NOTFOUND)
		return rc;
	if (task->container_id == NULL) {
		*out = strdup("");
		return *out ? POKY_OK : poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	}
	conf = app_config_get(app);
	docker_host_of(config_template(conf->cfg, task->template_name), host, sizeof(host));
	app_config_put(app, conf);
	if ((rc = engine_open(&en, host, e)) != POKY_OK)
		return rc;
	rc = container_logs(&en, task->container_id, tail_sink, &t, e);
	engine_close(&en);
	if (rc == POKY_ERR_NOTFOUND) {
		/* Removed between the file check and now: the file is there
		 * (or the container went without its output being saved). */
		free(t.data);
		if (local_log_tail(path, max, out, len, NULL) == POKY_OK)
			return POKY_OK;
		t.data = NULL;
		t.len = 0;
	} else if (rc != POKY_OK) {
		free(t.data);
		return rc;
	}
	*out = t.data ? t.data : strdup("");
	*len = t.len;
	return *out ? POKY_OK : poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
}

enum poky_err
docker_ping(const struct tmpl *t, struct poky_error *e)
{
	char host[HOST_MAX];
	struct engine en;
	enum poky_err rc;

	docker_host_of(t, host, sizeof(host));
	if ((rc = engine_open(&en, host, e)) != POKY_OK)
		return rc;
	/* _ping has no version prefix in the engine's routes, but the
	 * prefixed one is served too and keeps engine_call simple. */
	rc = engine_simple(&en, "GET", "/_ping", NULL, 5000, e);
	engine_close(&en);
	return rc;
}
