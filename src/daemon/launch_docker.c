/* launch_docker.c - tasks as containers of a Docker engine (launcher = docker).
 *
 * pokyd speaks the Docker Engine API (v1.41) to the engine's unix socket
 * (the template's docker_host, else DOCKER_HOST, else /var/run/docker.sock)
 * with libcurl.  A task's container is named poky-<id> and labelled
 * poky.task-id and poky.template; its environment is the parameters and the
 * template's env, never pokyd's own.  The image is pulled as the template's
 * `pull` says (missing, always, never).
 *
 * A runner thread inspects every container it follows twice a second: it
 * enforces timeouts and cancels (the container's stop signal, SIGKILL after
 * kill_grace), starts queued tasks as slots free up (max_running, FIFO), and
 * at the end copies the container's output to state_dir/logs/<id>.log,
 * records how it ended and removes the container (remove = true).
 *
 * The record moves queued -> starting (the container exists; its id is on
 * the record) -> running -> succeeded | failed | cancelled | lost.  The
 * engine keeps the containers while pokyd restarts: a new pokyd follows
 * every unfinished docker task again (by the container id on the record, or
 * the poky.task-id label) and marks lost a task whose container is gone. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "poky/app.h"
#include "poky/bgthread.h"
#include "poky/buf.h"
#include "poky/clock.h"
#include "poky/httpc.h"
#include "poky/launch.h"
#include "poky/lifecycle.h"
#include "poky/log.h"
#include "poky/str.h"
#include "poky/templates.h"

#define DOCKER_API "/v1.41"
#define DOCKER_DEFAULT_HOST "unix:///var/run/docker.sock"
#define TICK_MS 500
#define MAX_SLOTS 4096
#define MAX_ENGINES 16
#define HOST_MAX 256
#define SUN_PATH_MAX 108                /* sizeof(sockaddr_un.sun_path) */
#define CID_MAX 80
#define CALL_TIMEOUT_MS 60000L
#define PULL_TIMEOUT_MS (30L * 60 * 1000)
#define LOGS_TIMEOUT_MS (5L * 60 * 1000)
#define ERROR_BODY_MAX (64u << 10)
#define PULL_LINE_MAX (64u << 10)
#define LOG_FILE_MAX ((off_t)256 << 20)
#define MAX_ARGS 64
#define RETRIES 8
#define WARN_EVERY 30.0                 /* seconds between repeated warnings */

/* ---- talking to an engine ------------------------------------------------- */

/* One connection to one engine.  Not thread-safe: one per thread. */
struct engine {
	struct httpc *h;
	const atomic_bool *cancel;      /* set: give up a pull (shutdown) */
	char host[HOST_MAX];            /* as configured, for messages */
	char base[HOST_MAX + 32];       /* URL up to and with the API version */
};

/* The engine of a template: its docker_host, else DOCKER_HOST, else the
 * usual socket. */
static void
host_of(const struct tmpl *t, char *out, size_t cap)
{
	const char *h = t != NULL ? t->docker_host : NULL;

	if (h == NULL || *h == '\0')
		h = getenv("DOCKER_HOST");
	if (h == NULL || *h == '\0')
		h = DOCKER_DEFAULT_HOST;
	str_copy(out, cap, h);
}

static void
engine_close(struct engine *en)
{
	httpc_free(en->h);
	memset(en, 0, sizeof(*en));
}

static enum poky_err
engine_open(struct engine *en, const char *host, struct poky_error *e)
{
	struct httpc_config hc = { .connect_timeout_ms = 3000,
		.timeout_ms = CALL_TIMEOUT_MS };
	const char *rest;

	memset(en, 0, sizeof(*en));
	if (!str_copy(en->host, sizeof(en->host), host))
		return poky_error_set(e, POKY_ERR_INVALID, "docker_host is too long");
	if (strncmp(host, "unix://", 7) == 0) {
		rest = host + 7;
		if (rest[0] != '/' || strlen(rest) >= SUN_PATH_MAX)
			return poky_error_set(e, POKY_ERR_INVALID, "docker_host '%.200s' "
			    "is not unix:///PATH (under %d bytes)", host, SUN_PATH_MAX);
		hc.unix_socket = rest;
		snprintf(en->base, sizeof(en->base), "http://localhost" DOCKER_API);
	} else if (strncmp(host, "tcp://", 6) == 0) {
		rest = host + 6;
		if (*rest == '\0' || strpbrk(rest, "/?#@ \t") != NULL)
			return poky_error_set(e, POKY_ERR_INVALID,
			    "docker_host '%.200s' is not tcp://HOST:PORT", host);
		snprintf(en->base, sizeof(en->base), "http://%s" DOCKER_API, rest);
	} else {
		return poky_error_set(e, POKY_ERR_INVALID, "docker_host '%.200s' is "
		    "not unix:///PATH or tcp://HOST:PORT", host);
	}
	en->h = httpc_new(&hc);
	if (en->h == NULL)
		return poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	return POKY_OK;
}

struct call {
	const char *method;
	const char *path;               /* after the API version, query included */
	const char *body;               /* JSON text, or NULL */
	long timeout_ms;                /* 0: CALL_TIMEOUT_MS */
	/* 2xx bodies streamed here instead of buffered. */
	int (*write)(void *ud, const char *p, size_t n);
	void *write_ud;
};

/* The engine's own words from an error body ({"message": ...}). */
static void
engine_message(const struct httpc_response *resp, char *out, size_t cap)
{
	json_t *j = resp->body.len ? json_loadb(resp->body.data, resp->body.len, 0,
	    NULL) : NULL;
	const char *m = json_string_value(json_object_get(j, "message"));

	if (m != NULL)
		str_copy(out, cap, m);
	else if (resp->body.len > 0)
		snprintf(out, cap, "%.*s", (int)strcspn(resp->body.data, "\r\n"),
		    resp->body.data);
	else
		snprintf(out, cap, "HTTP %ld", resp->status);
	json_decref(j);
}

/* One Engine API call.  POKY_OK on 2xx (the body in resp unless streamed).
 * POKY_ERR_TRANSIENT when the engine can't be reached; POKY_ERR_NOTFOUND on
 * 404, POKY_ERR_CONFLICT on 409, POKY_ERR_REMOTE on any other status, with
 * the engine's message and e->http_status. */
static enum poky_err
engine_call(struct engine *en, const struct call *c,
	    struct httpc_response *resp, struct poky_error *e)
{
	struct hdr ct = { "Content-Type", 12, "application/json", 16 };
	struct httpc_request rq = { .method = c->method, .body = c->body,
		.body_len = c->body ? strlen(c->body) : 0,
		.headers = c->body ? &ct : NULL, .n_headers = c->body ? 1 : 0,
		.timeout_ms = c->timeout_ms, .write = c->write,
		.write_ud = c->write_ud };
	struct poky_error he;
	struct buf url;
	char msg[POKY_ERR_MSG_MAX];
	enum poky_err rc;

	buf_init(&url, 16384);
	if (buf_printf(&url, "%s%s", en->base, c->path) != POKY_OK) {
		buf_free(&url);
		return poky_error_set(e, POKY_ERR_LIMIT, "engine request too long");
	}
	rq.url = url.data;
	rc = httpc_perform(en->h, &rq, resp, &he);
	buf_free(&url);
	if (rc == POKY_ERR_TRANSIENT) {
		rc = poky_error_set(e, POKY_ERR_TRANSIENT, "Docker engine unavailable "
		    "at %.120s: %.100s", en->host, he.message);
		if (e != NULL)
			e->retryable = 1;
		return rc;
	}
	if (rc != POKY_OK)
		return poky_error_set(e, rc, "Docker engine at %.120s: %.100s",
		    en->host, he.message);
	if (resp->status >= 200 && resp->status < 300)
		return POKY_OK;
	engine_message(resp, msg, sizeof(msg));
	rc = resp->status == 404 ? POKY_ERR_NOTFOUND :
	    resp->status == 409 ? POKY_ERR_CONFLICT : POKY_ERR_REMOTE;
	poky_error_set(e, rc, "%s", msg);
	if (e != NULL)
		e->http_status = (int)resp->status;
	return rc;
}

static enum poky_err
error_prefix(struct poky_error *e, enum poky_err rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "what: <the message already in e>" (poky_error_set clears e first, so
 * the old message is copied out before). */
static enum poky_err
error_prefix(struct poky_error *e, enum poky_err rc, const char *fmt, ...)
{
	char what[POKY_ERR_MSG_MAX], was[POKY_ERR_MSG_MAX];
	va_list ap;

	if (e == NULL)
		return rc;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	str_copy(was, sizeof(was), e->message);
	return poky_error_set(e, rc, "%.100s: %.150s", what, was);
}

/* A call whose answer is JSON; *out is the caller's (json_decref). */
static enum poky_err
engine_json(struct engine *en, const struct call *c, json_t **out,
	    struct poky_error *e)
{
	struct httpc_response resp;
	enum poky_err rc;

	*out = NULL;
	httpc_response_init(&resp, 0);
	rc = engine_call(en, c, &resp, e);
	if (rc == POKY_OK && resp.status != 204 && resp.body.len > 0) {
		*out = json_loadb(resp.body.data, resp.body.len, 0, NULL);
		if (*out == NULL)
			rc = poky_error_set(e, POKY_ERR_REMOTE,
			    "Docker engine at %.120s answered %s with invalid JSON",
			    en->host, c->path);
	}
	httpc_response_cleanup(&resp);
	return rc;
}

static enum poky_err
engine_simple(struct engine *en, const char *method, const char *path,
	      const char *body, long timeout_ms, struct poky_error *e)
{
	struct call c = { .method = method, .path = path, .body = body,
		.timeout_ms = timeout_ms };
	struct httpc_response resp;
	enum poky_err rc;

	httpc_response_init(&resp, ERROR_BODY_MAX);
	rc = engine_call(en, &c, &resp, e);
	httpc_response_cleanup(&resp);
	return rc;
}

/* ---- images --------------------------------------------------------------- */

/* "reg:5000/a/b:tag" -> "reg:5000/a/b" + "tag"; a digest stays whole. */
static void
image_ref(const char *image, char *repo, size_t rcap, char *tag, size_t tcap)
{
	const char *slash = strrchr(image, '/');
	const char *colon = strrchr(slash ? slash : image, ':');

	if (strchr(image, '@') != NULL) {
		str_copy(repo, rcap, image);
		str_copy(tag, tcap, "");
	} else if (colon != NULL) {
		snprintf(repo, rcap, "%.*s", (int)(colon - image), image);
		str_copy(tag, tcap, colon + 1);
	} else {
		str_copy(repo, rcap, image);
		str_copy(tag, tcap, "latest");
	}
}

static enum poky_err
image_present(struct engine *en, const char *image, struct poky_error *e)
{
	struct buf path;
	enum poky_err rc;

	buf_init(&path, 4096);
	if (buf_append_str(&path, "/images/") != POKY_OK ||
	    str_uri_encode(&path, image, strlen(image), true) != POKY_OK ||
	    buf_append_str(&path, "/json") != POKY_OK) {
		buf_free(&path);
		return poky_error_set(e, POKY_ERR_LIMIT, "image name too long");
	}
	rc = engine_simple(en, "GET", path.data, NULL, 0, e);
	buf_free(&path);
	return rc;
}

struct pull {
	const atomic_bool *cancel;
	struct buf line;
	bool skip;                      /* this line is over the limit */
	char error[POKY_ERR_MSG_MAX];
};

/* A line of the progress stream: {"status": ...} or {"error": ...}. */
static void
pull_line(struct pull *pl)
{
	json_t *j = json_loadb(pl->line.data, pl->line.len, 0, NULL);
	const char *m = json_string_value(json_object_get(j, "error"));

	if (m == NULL)
		m = json_string_value(json_object_get(json_object_get(j,
		    "errorDetail"), "message"));
	if (m != NULL && pl->error[0] == '\0')
		str_copy(pl->error, sizeof(pl->error), m[0] ? m : "unknown error");
	json_decref(j);
}

static int
pull_write(void *ud, const char *p, size_t n)
{
	struct pull *pl = ud;

	if (pl->cancel != NULL && atomic_load(pl->cancel))
		return 1;               /* pokyd is stopping */
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t k = nl ? (size_t)(nl - p) : n;

		if (!pl->skip && buf_append(&pl->line, p, k) != POKY_OK)
			pl->skip = true;
		if (nl == NULL)
			break;
		if (!pl->skip && pl->line.len > 0)
			pull_line(pl);
		buf_reset(&pl->line);
		pl->skip = false;
		p += k + 1;
		n -= k + 1;
	}
	return 0;
}

/* POST /images/create and read its progress stream to the end: the engine
 * answers 200 at once and reports a failure inside the stream. */
static enum poky_err
image_pull(struct engine *en, const char *image, struct poky_error *e)
{
	char repo[1024], tag[256];
	struct pull pl;
	struct buf path;
	struct httpc_response resp;
	struct call c = { .method = "POST", .timeout_ms = PULL_TIMEOUT_MS,
		.write = pull_write };
	enum poky_err rc;

	image_ref(image, repo, sizeof(repo), tag, sizeof(tag));
	memset(&pl, 0, sizeof(pl));
	pl.cancel = en->cancel;
	buf_init(&pl.line, PULL_LINE_MAX);
	buf_init(&path, 4096);
	httpc_response_init(&resp, ERROR_BODY_MAX);
	if (buf_append_str(&path, "/images/create?fromImage=") != POKY_OK ||
	    str_uri_encode(&path, repo, strlen(repo), false) != POKY_OK ||
	    (tag[0] && (buf_append_str(&path, "&tag=") != POKY_OK ||
	    str_uri_encode(&path, tag, strlen(tag), false) != POKY_OK))) {
		rc = poky_error_set(e, POKY_ERR_LIMIT, "image name too long");
		goto out;
	}
	c.path = path.data;
	c.write_ud = &pl;
	log_info("pulling image %s from %s", image, en->host);
	rc = engine_call(en, &c, &resp, e);
	if (rc == POKY_OK && !pl.skip && pl.line.len > 0)
		pull_line(&pl);
	if (rc == POKY_OK && pl.error[0] != '\0')
		rc = poky_error_set(e, POKY_ERR_REMOTE, "pulling image '%.100s' "
		    "failed: %.120s", image, pl.error);
	else if (rc == POKY_ERR_NOTFOUND || rc == POKY_ERR_REMOTE)
		rc = error_prefix(e, rc, "pulling image '%.100s' failed", image);
out:
	httpc_response_cleanup(&resp);
	buf_free(&path);
	buf_free(&pl.line);
	return rc;
}

/* The template's image, present in the engine as its pull policy says. */
static enum poky_err
image_ensure(struct engine *en, const struct tmpl *t, struct poky_error *e)
{
	enum poky_err rc;

	if (t->docker_pull != DOCKER_PULL_ALWAYS) {
		rc = image_present(en, t->image, e);
		if (rc != POKY_ERR_NOTFOUND)
			return rc;
		if (t->docker_pull == DOCKER_PULL_NEVER)
			return poky_error_set(e, POKY_ERR_NOTFOUND, "image '%.100s' is "
			    "not in the Docker engine at %.100s (pull = never)",
			    t->image, en->host);
	}
	return image_pull(en, t->image, e);
}

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

static enum poky_err
container_create(struct engine *en, const struct tmpl *t, const struct task *task,
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
		rc = error_prefix(e, rc, "image '%.100s' not found", t->image);
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

static enum poky_err
container_op(struct engine *en, const char *method, const char *cid,
	     const char *what, struct poky_error *e)
{
	char path[256];

	snprintf(path, sizeof(path), "/containers/%s%s", cid, what);
	return engine_simple(en, method, path, NULL, 0, e);
}

static enum poky_err
container_kill(struct engine *en, const char *cid, const char *sig,
	       struct poky_error *e)
{
	char what[64];

	snprintf(what, sizeof(what), "/kill?signal=%s", sig);
	return container_op(en, "POST", cid, what, e);
}

static void
container_remove(struct engine *en, const char *id, const char *cid)
{
	struct poky_error e;
	enum poky_err rc = container_op(en, "DELETE", cid, "?force=1", &e);

	if (rc != POKY_OK && rc != POKY_ERR_NOTFOUND)
		log_warnx("task %s: cannot remove container %.12s: %s", id, cid,
		    e.message);
}

/* The container labelled with task id (all states).  POKY_ERR_NOTFOUND
 * when there is none. */
static enum poky_err
container_by_label(struct engine *en, const char *id, char *cid, size_t cap,
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

/* What GET /containers/{id}/json says about a container. */
struct seen {
	char status[32];                /* created, running, exited, ... */
	bool has_exit;
	int exit_code;
	bool oom;
	char error[POKY_ERR_MSG_MAX];
	char stop_signal[24];
	double started_at;              /* 0: never started */
};

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

static enum poky_err
container_inspect(struct engine *en, const char *cid, struct seen *s,
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

static bool
status_ended(const char *st)
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
static enum poky_err
logs_save(struct app *app, struct engine *en, const char *id, const char *cid,
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
	host_of(config_template(conf->cfg, task->template_name), host, sizeof(host));
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

	host_of(t, host, sizeof(host));
	if ((rc = engine_open(&en, host, e)) != POKY_OK)
		return rc;
	/* _ping has no version prefix in the engine's routes, but the
	 * prefixed one is served too and keeps engine_call simple. */
	rc = engine_simple(&en, "GET", "/_ping", NULL, 5000, e);
	engine_close(&en);
	return rc;
}

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

enum slot_state { SLOT_STARTING, SLOT_RUNNING };

/* A task that holds one of its template's max_running places: being
 * started by some thread (STARTING), or followed by the runner (RUNNING). */
struct slot {
	char id[TASK_ID_LEN + 1];
	char template_name[65];
	char host[HOST_MAX];
	char container[CID_MAX];        /* "" until known */
	enum slot_state state;
	bool remove;
	bool running_recorded;          /* the record says running */
	long kill_grace;
	long timeout;
	double deadline;                /* monotonic; 0: none */
	bool term_wanted;               /* cancel or timeout: stop it */
	bool timed_out;
	double term_at;                 /* monotonic time of the stop signal */
	bool kill_sent;
	double warned_at;               /* engine trouble last logged */
	char stop_signal[24];
};

struct docker_runner {
	struct app *app;
	struct bgthread bg;             /* its lock guards slots and n */
	struct slot *slots;
	size_t n;
	/* The runner thread's connections, one per engine: only it uses them. */
	struct engine engines[MAX_ENGINES];
	size_t n_engines;
	double start_warned_at;
};

static struct slot *
slot_find(struct docker_runner *r, const char *id)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->slots[i].id, id) == 0)
			return &r->slots[i];
	return NULL;
}

static size_t
slots_of(struct docker_runner *r, const char *tmpl)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n; i++)
		n += strcmp(r->slots[i].template_name, tmpl) == 0;
	return n;
}

static void
slot_drop(struct docker_runner *r, const char *id)
{
	struct slot *s;

	pthread_mutex_lock(&r->bg.lock);
	if ((s = slot_find(r, id)) != NULL)
		*s = r->slots[--r->n];
	pthread_mutex_unlock(&r->bg.lock);
}

/* Take a place for task id of template t.  Called with r->bg.lock held. */
static struct slot *
slot_take(struct docker_runner *r, const struct tmpl *t, const char *id,
	  long timeout)
{
	struct slot *s;

	if (r->n == MAX_SLOTS || slot_find(r, id) != NULL)
		return NULL;
	s = &r->slots[r->n++];
	memset(s, 0, sizeof(*s));
	str_copy(s->id, sizeof(s->id), id);
	str_copy(s->template_name, sizeof(s->template_name), t->name);
	host_of(t, s->host, sizeof(s->host));
	s->state = SLOT_STARTING;
	s->remove = t->docker_remove;
	s->kill_grace = t->kill_grace;
	s->timeout = timeout;
	return s;
}

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
static enum poky_err
start_task(struct docker_runner *r, struct engine *en, const struct tmpl *t,
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
	if (rc != POKY_OK || (rc = image_ensure(en, t, e)) != POKY_OK)
		goto out;
	rc = container_create(en, t, &task, cid, sizeof(cid), e);
	if (rc == POKY_ERR_CONFLICT || (rc == POKY_ERR_REMOTE && e != NULL &&
	    strstr(e->message, "already in use") != NULL)) {
		/* Made before a restart that came before the record said so:
		 * it never started.  Make it again. */
		char old[64];

		snprintf(old, sizeof(old), "poky-%s", id);
		container_remove(en, id, old);
		rc = container_create(en, t, &task, cid, sizeof(cid), e);
	}
	if (rc != POKY_OK)
		goto out;
	cr.cid = cid;
	if ((rc = change(app, id, ch_created, &cr, e)) != POKY_OK || cr.gone) {
		container_remove(en, id, cid);
		if (cr.gone)
			rc = POKY_OK;
		goto out;
	}
	rc = container_op(en, "POST", cid, "/start", e);
	if (rc == POKY_ERR_TRANSIENT) {
		/* The engine took the container and then went quiet: it may
		 * have started it.  The runner finds out. */
		log_warnx("task %s: starting container %.12s: %s; following it",
		    id, cid, e ? e->message : "no answer");
		follow = true;
	} else if (rc != POKY_OK) {
		error_prefix(e, rc, "starting the container");
		container_remove(en, id, cid);
		goto out;
	}
	pthread_mutex_lock(&r->bg.lock);
	if ((s = slot_find(r, id)) != NULL) {
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
		slot_drop(r, id);
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
	rc = logs_save(r->app, en, x->id, x->container, &e);
	if (rc == POKY_ERR_TRANSIENT)
		return false;
	if (rc != POKY_OK)
		log_warnx("task %s: cannot save the output of container %.12s: %s",
		    x->id, x->container, e.message);
	finish(r->app, x->id, &o);
	if (x->remove && rc == POKY_OK)
		container_remove(en, x->id, x->container);
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

/* One look at a followed container (x is the runner's copy of its slot).
 * False when the task is over and its slot goes. */
static bool
follow(struct docker_runner *r, struct engine *en, struct slot *x)
{
	struct poky_error e;
	struct seen st;
	enum poky_err rc;
	double now = clock_mono();

	if (x->container[0] == '\0') {
		/* Resumed with no container id on the record (one written by
		 * an older pokyd, say): the label tells whether it has one. */
		struct created cr = { .cid = x->container };

		rc = container_by_label(en, x->id, x->container,
		    sizeof(x->container), &e);
		if (rc == POKY_ERR_NOTFOUND) {
			mark_lost(r->app, x->id, "its container was not created "
			    "before pokyd restarted");
			return false;
		}
		if (rc != POKY_OK) {
			warn_engine(x, &e);
			return true;
		}
		rc = change(r->app, x->id, ch_created, &cr, &e);
		if (rc == POKY_OK && cr.gone) {
			container_remove(en, x->id, x->container);
			return false;
		}
		if (rc != POKY_OK)
			log_warnx("task %s: cannot record its container: %s", x->id,
			    e.message);
	}
	rc = container_inspect(en, x->container, &st, &e);
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
	if (strcmp(st.status, "created") == 0) {
		/* Its start was interrupted (restart, or no answer). */
		struct outcome o = { .error = NULL };

		if (x->term_wanted) {
			finish(r->app, x->id, &o);      /* cancelled, never ran */
			if (x->remove)
				container_remove(en, x->id, x->container);
			return false;
		}
		rc = container_op(en, "POST", x->container, "/start", &e);
		if (rc == POKY_ERR_TRANSIENT) {
			warn_engine(x, &e);
			return true;
		}
		if (rc != POKY_OK) {
			char why[POKY_ERR_MSG_MAX + 32];

			snprintf(why, sizeof(why), "starting the container: %s", e.message);
			o.error = why;
			finish(r->app, x->id, &o);
			container_remove(en, x->id, x->container);
			return false;
		}
		return true;                    /* the next look sees it run */
	}
	if (status_ended(st.status))
		return !end_task(r, en, x, &st);
	if (!x->running_recorded) {
		if (change(r->app, x->id, ch_running, NULL, &e) != POKY_OK)
			return true;
		x->running_recorded = true;
		if (x->timeout > 0 && x->deadline == 0)
			x->deadline = now + (double)x->timeout;
	}
	if (x->deadline > 0 && now >= x->deadline && !x->term_wanted) {
		log_info("task %s: timeout after %ld s, stopping container %.12s",
		    x->id, x->timeout, x->container);
		x->timed_out = true;
		x->term_wanted = true;
	}
	if (x->term_wanted && x->term_at == 0) {
		rc = container_kill(en, x->container,
		    x->stop_signal[0] ? x->stop_signal : "SIGTERM", &e);
		if (rc == POKY_OK || rc == POKY_ERR_CONFLICT)
			x->term_at = now;
		else
			warn_engine(x, &e);
	} else if (x->term_at > 0 && !x->kill_sent &&
	    now - x->term_at >= (double)x->kill_grace) {
		rc = container_kill(en, x->container, "SIGKILL", &e);
		if (rc == POKY_OK || rc == POKY_ERR_CONFLICT)
			x->kill_sent = true;
		else
			warn_engine(x, &e);
	}
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
			if (slots_of(r, t->name) < (size_t)t->max_running &&
			    store_oldest(r->app->store, TS_QUEUED, t->name, &q,
			    NULL) == POKY_OK)
				s = slot_take(r, t, q.id, q.timeout_seconds);
			pthread_mutex_unlock(&r->bg.lock);
			str_copy(id, sizeof(id), q.id);
			task_cleanup(&q);
			if (s == NULL)
				break;
			host_of(t, host, sizeof(host));
			en = runner_engine(r, host, &e);
			rc = en ? start_task(r, en, t, id, false, &e) : e.code;
			if (en == NULL)
				slot_drop(r, id);
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
		if ((s = slot_find(r, x->id)) != NULL) {
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

static void *
runner_main(void *p)
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

/* ---- the launcher's interface --------------------------------------------- */

/* The runner, kicked by another submit, may have taken this very record
 * from the queue between its insert and this call.  Its start is then under
 * way on the runner's thread: wait for it (bounded; this runs on an offload
 * thread) so the answer shows what a start here would have - the container
 * and its status - and not a record that is "queued" only for a moment. */
static void
started_elsewhere(struct docker_runner *r, struct task *task)
{
	double until = clock_mono() + (double)CALL_TIMEOUT_MS / 1000.0;
	bool taken = false;

	for (;;) {
		const struct slot *s;
		bool starting;

		pthread_mutex_lock(&r->bg.lock);
		s = slot_find(r, task->id);
		starting = s != NULL && s->state == SLOT_STARTING;
		taken = taken || s != NULL;
		pthread_mutex_unlock(&r->bg.lock);
		if (!starting || bgthread_stopping(&r->bg) || clock_mono() >= until)
			break;
		usleep(10000);
	}
	if (taken && store_get(r->app->store, task->id, task, NULL) != POKY_OK)
		log_warnx("task %s: cannot read it back", task->id);
}

enum poky_err
docker_submit(struct docker_runner *r, struct task *task, struct poky_error *e)
{
	struct app_conf *conf;
	const struct tmpl *t;
	struct slot *s = NULL;
	struct engine en;
	char host[HOST_MAX];
	enum poky_err rc;

	if (r == NULL)
		return poky_error_set(e, POKY_ERR_INVALID,
		    "the docker launcher is not running");
	conf = app_config_get(r->app);
	t = config_template(conf->cfg, task->template_name);
	if (t == NULL || t->launcher != LAUNCHER_DOCKER) {
		app_config_put(r->app, conf);
		return poky_error_set(e, POKY_ERR_INVALID, "template %s is not a "
		    "docker template", task->template_name);
	}
	pthread_mutex_lock(&r->bg.lock);
	/* FIFO: a new task may start only when no older one is waiting. */
	if (slots_of(r, t->name) < (size_t)t->max_running) {
		struct task head;

		task_init(&head);
		if (store_oldest(r->app->store, TS_QUEUED, t->name, &head,
		    NULL) == POKY_OK && strcmp(head.id, task->id) == 0)
			s = slot_take(r, t, task->id, task->timeout_seconds);
		task_cleanup(&head);
	}
	pthread_mutex_unlock(&r->bg.lock);
	if (s == NULL) {
		app_config_put(r->app, conf);
		bgthread_kick(&r->bg);
		started_elsewhere(r, task);
		return POKY_OK;                 /* queued, or started by the runner */
	}
	host_of(t, host, sizeof(host));
	rc = engine_open(&en, host, e);
	if (rc == POKY_OK) {
		rc = start_task(r, &en, t, task->id, true, e);
		/* Here, not in start_task: the runner calls that too, and a
		 * kick of its own would cost it a needless extra round. */
		bgthread_kick(&r->bg);
	}
	engine_close(&en);
	app_config_put(r->app, conf);
	if (rc != POKY_OK) {
		/* Nothing runs: the record goes (the caller answers the error)
		 * before its place is given back, or the runner would take the
		 * still queued record for a launch of its own meanwhile. */
		store_delete(r->app->store, task->id, NULL);
		slot_drop(r, task->id);
		return rc;
	}
	/* The answer shows the record as it is now (running, its container). */
	if (store_get(r->app->store, task->id, task, NULL) != POKY_OK)
		log_warnx("task %s: cannot read it back", task->id);
	return POKY_OK;
}

enum poky_err
docker_cancel(struct docker_runner *r, const struct task *task,
	      struct poky_error *e)
{
	struct slot *s;

	(void)e;
	if (r == NULL)
		return POKY_OK;
	pthread_mutex_lock(&r->bg.lock);
	if ((s = slot_find(r, task->id)) != NULL)
		s->term_wanted = true;
	pthread_mutex_unlock(&r->bg.lock);
	bgthread_kick(&r->bg);
	return POKY_OK;
}

/* After a restart: follow again every docker task that had a container,
 * or may have. */
static int
resume_one(void *ud, const struct task *t)
{
	struct docker_runner *r = ud;
	struct app_conf *conf;
	const struct tmpl *tp;
	struct slot *s;

	if (t->launcher != LAUNCHER_DOCKER || strcmp(t->status, TS_QUEUED) == 0)
		return 0;
	if (r->n == MAX_SLOTS)
		return 1;
	conf = app_config_get(r->app);
	tp = config_template(conf->cfg, t->template_name);
	s = &r->slots[r->n++];
	memset(s, 0, sizeof(*s));
	str_copy(s->id, sizeof(s->id), t->id);
	str_copy(s->template_name, sizeof(s->template_name), t->template_name);
	host_of(tp, s->host, sizeof(s->host));
	str_copy(s->container, sizeof(s->container),
	    t->container_id ? t->container_id : "");
	s->state = SLOT_RUNNING;
	s->remove = tp ? tp->docker_remove : true;
	s->kill_grace = tp ? tp->kill_grace : 10;
	s->timeout = t->timeout_seconds;
	s->running_recorded = strcmp(t->status, TS_RUNNING) == 0;
	s->term_wanted = t->cancel_requested_by != NULL;
	if (t->timeout_seconds > 0 && t->started_at > 0) {
		s->deadline = clock_mono() + (t->started_at + (double)t->timeout_seconds -
		    clock_real());
		if (s->deadline <= 0)
			s->deadline = 1e-9;
	}
	app_config_put(r->app, conf);
	log_info("task %s: following container %.12s again", t->id,
	    s->container[0] ? s->container : "(by label)");
	return 0;
}

struct docker_runner *
docker_new(struct app *app)
{
	struct docker_runner *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->app = app;
	r->slots = calloc(MAX_SLOTS, sizeof(*r->slots));
	if (r->slots == NULL || bgthread_init(&r->bg) != 0) {
		free(r->slots);
		free(r);
		return NULL;
	}
	pthread_mutex_lock(&r->bg.lock);
	store_unfinished(app->store, resume_one, r, NULL);
	pthread_mutex_unlock(&r->bg.lock);
	if (bgthread_start(&r->bg, runner_main, r) != 0) {
		docker_free(r);
		return NULL;
	}
	return r;
}

void
docker_free(struct docker_runner *r)
{
	if (r == NULL)
		return;
	/* The engines are the thread's: closed once it is gone. */
	bgthread_destroy(&r->bg);
	for (size_t i = 0; i < r->n_engines; i++)
		engine_close(&r->engines[i]);
	free(r->slots);
	free(r);
}

/* ---- the launcher interface --------------------------------------------- */

static enum poky_err
docker_ops_submit(struct app *app, struct task *task, struct poky_error *e)
{
	return docker_submit(app->docker, task, e);
}

static bool
docker_unstarted(const struct task *task)
{
	/* Queued: waiting for a slot, nothing runs yet. */
	return strcmp(task->status, TS_QUEUED) == 0;
}

static enum poky_err
docker_stop(struct app *app, const struct task *task, const char *reason,
       struct poky_error *e)
{
	(void)reason;           /* a signal carries none */
	return docker_cancel(app->docker, task, e);
}

static json_t *
docker_detail_json(const struct task *t)
{
	char log[64];

	snprintf(log, sizeof(log), "/tasks/%s/logs", t->id);
	return json_pack("{s:o, s:o, s:s}", "container_id",
	    t->container_id ? json_string(t->container_id) : json_null(),
	    "image", t->container_image ? json_string(t->container_image) :
	    json_null(), "log", log);
}

static enum poky_err
docker_ops_logs(struct app *app, const struct task *t, size_t max,
		struct task_logs *out, enum poky_reason *why,
		struct poky_error *e)
{
	*why = REASON_LOGS_DOCKER;
	return docker_logs(app, t, max, &out->text, &out->text_len, e);
}

/* Every docker template's engine answers _ping (the first failure is
 * the detail). */
static bool
docker_ready(struct app *app, const struct config *cfg, json_t *checks)
{
	bool ok = true;

	(void)app;
	for (size_t i = 0; i < cfg->n_templates; i++) {
		const struct tmpl *t = cfg->templates[i];
		struct poky_error e;

		if (t->launcher != LAUNCHER_DOCKER)
			continue;
		if (ok && docker_ping(t, &e) != POKY_OK) {
			ok = false;
			json_object_set_new(checks, "docker_engine_error",
			    json_string(e.message));
		}
		json_object_set_new(checks, "docker_engine", json_boolean(ok));
	}
	return ok;
}

const struct launcher_ops launch_docker_ops = {
	.submit = docker_ops_submit, .unstarted = docker_unstarted,
	.stop = docker_stop, .detail_json = docker_detail_json,
	.logs_block = true, .logs = docker_ops_logs, .ready = docker_ready,
};
