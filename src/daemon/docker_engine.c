/* docker_engine.c - the Docker Engine API client of the docker launcher.
 *
 * One connection (struct engine) to one engine over its unix socket or
 * tcp://HOST:PORT, with libcurl; a call answers POKY_OK on 2xx and the
 * engine's own message otherwise.  Images are pulled here (the progress
 * stream read to its end: a failure shows inside it). */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poky/buf.h"
#include "poky/log.h"
#include "poky/str.h"

#include "docker_internal.h"

/* ---- talking to an engine ------------------------------------------------- */

/* The engine of a template: its docker_host, else DOCKER_HOST, else the
 * usual socket. */
void
docker_host_of(const struct tmpl *t, char *out, size_t cap)
{
	const char *h = t != NULL ? t->docker_host : NULL;

	if (h == NULL || *h == '\0')
		h = getenv("DOCKER_HOST");
	if (h == NULL || *h == '\0')
		h = DOCKER_DEFAULT_HOST;
	str_copy(out, cap, h);
}

void
engine_close(struct engine *en)
{
	httpc_free(en->h);
	memset(en, 0, sizeof(*en));
}

enum poky_err
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
enum poky_err
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

/* "what: <the message already in e>" (poky_error_set clears e first, so
 * the old message is copied out before). */
enum poky_err
engine_error_prefix(struct poky_error *e, enum poky_err rc, const char *fmt, ...)
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
enum poky_err
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

enum poky_err
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
		rc = engine_error_prefix(e, rc, "pulling image '%.100s' failed", image);
out:
	httpc_response_cleanup(&resp);
	buf_free(&path);
	buf_free(&pl.line);
	return rc;
}

/* The template's image, present in the engine as its pull policy says. */
enum poky_err
engine_image_ensure(struct engine *en, const struct tmpl *t, struct poky_error *e)
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
