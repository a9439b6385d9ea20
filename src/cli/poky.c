/* poky.c - `poky`, the command line client of pokyd (docs/man/poky.1).
 *
 * Submits, lists, follows and cancels tasks over pokyd's HTTP API through
 * libpoky's httpc wrapper.  Waiting uses the watch API (a long poll on the
 * task with If-None-Match) and falls back to polling with backoff on a server
 * without it: never a tight loop.  The exit status mirrors the task, so
 * `poky run T --wait && next-step` works in scripts. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "poky/buf.h"
#include "poky/httpc.h"
#include "poky/str.h"

/* Exit statuses beside the task's own (documented in poky.1). */
enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAILED = 1,            /* failed without an exit code */
	CLI_EXIT_USAGE = 64,            /* bad usage, config, or an HTTP 4xx */
	CLI_EXIT_SERVER = 69,           /* network error or an HTTP 5xx */
	CLI_EXIT_CANCELLED = 122,
	CLI_EXIT_LOST = 123,
	CLI_EXIT_TIMEOUT = 124          /* the wait ran out (as timeout(1)) */
};

#define CLI_DEFAULT_URL "http://127.0.0.1:8080"
#define CLI_URL_MAX 2048
#define CLI_TOKEN_MAX 1024
#define CLI_BODY_MAX (16u << 20)
#define CLI_CONF_LINE_MAX 4096
#define CLI_LONGPOLL_S 30               /* one watch request waits this long */
#define CLI_BACKOFF_MIN_MS 500
#define CLI_BACKOFF_MAX_MS 5000
#define CLI_RETRIES 5                   /* network or 5xx answers in a row */
#define CLI_MAX_PARAMS 256
#define CLI_MAX_LABELS 64
#define CLI_DUR_MAX_MS (30L * 24 * 3600 * 1000)

struct cli {
	char url[CLI_URL_MAX];          /* base, without a trailing '/' */
	char token[CLI_TOKEN_MAX];      /* secret: never printed, wiped at exit */
	bool json;                      /* --output json */
	bool tty;                       /* stderr is a terminal */
	bool line_open;                 /* a progress line waits for its '\n' */
	struct httpc *h;
};

struct cli_req {
	const char *method;
	const char *path;               /* with its query, already encoded */
	const char *body;               /* JSON, or NULL */
	const char *if_none_match;
	const char *idem_key;
	long timeout_ms;
	int (*write)(void *ud, const char *p, size_t n);
	void *write_ud;
};

static const char *cli_prog = "poky";

static void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
cli_warn(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cli_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
cli_usage(FILE *f)
{
	fputs(
"usage: poky [--url URL] [--output table|json] COMMAND [ARGS]\n"
"\n"
"  run TEMPLATE [key=value...] [--wait] [--logs] [--timeout DUR]\n"
"      [--task-timeout DUR] [--label k=v] [--idempotency-key K]\n"
"  get ID                 show a task\n"
"  ls [--status S] [--template T] [--limit N]\n"
"  logs [-f] ID           print (or follow) a task's output\n"
"  cancel ID\n"
"  wait ID [--timeout DUR]\n"
"  templates [NAME]\n"
"\n"
"POKY_URL and POKY_TOKEN, or url/token in $XDG_CONFIG_HOME/poky/config.\n"
"Exit: 0 succeeded, the task's exit code when it failed (1 if none),\n"
"122 cancelled, 123 lost, 124 wait timed out, 64 usage or HTTP 4xx,\n"
"69 network error or HTTP 5xx.  See poky(1).\n", f);
}

static int
cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cli_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(poky --help for usage)\n", stderr);
	return CLI_EXIT_USAGE;
}

static long
cli_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
cli_sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* "90", "90s", "1500ms", "5m", "2h" into milliseconds (1 ms .. 30 days). */
static bool
cli_parse_dur(const char *s, long *ms)
{
	char *end;
	long mult = 1000;
	long v;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0)
		return false;
	if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "s") == 0 || *end == '\0')
		mult = 1000;
	else if (strcmp(end, "m") == 0)
		mult = 60L * 1000;
	else if (strcmp(end, "h") == 0)
		mult = 3600L * 1000;
	else
		return false;
	if (v < 1 || v > CLI_DUR_MAX_MS / mult)
		return false;
	*ms = v * mult;
	return true;
}

/* ---- configuration ---------------------------------------------------------- */

static char *
cli_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* A token goes into a header line: no control bytes, no spaces. */
static bool
cli_token_ok(const char *t)
{
	for (; *t; t++)
		if ((unsigned char)*t <= ' ' || (unsigned char)*t == 0x7f)
			return false;
	return true;
}

/* $XDG_CONFIG_HOME/poky/config ("url = ...", "token = ..."), when it exists.
 * Like ssh with a private key, a file holding a token that others may read
 * is refused: the token would be theirs too. */
static int
cli_read_config(char *url, size_t url_cap, char *token, size_t token_cap)
{
	char path[4096], line[CLI_CONF_LINE_MAX];
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	struct stat st;
	FILE *f = NULL;
	int rc = CLI_EXIT_OK, lineno = 0;
	bool has_token = false;

	if (xdg != NULL && *xdg == '/')
		snprintf(path, sizeof(path), "%s/poky/config", xdg);
	else if (home != NULL && *home == '/')
		snprintf(path, sizeof(path), "%s/.config/poky/config", home);
	else
		return CLI_EXIT_OK;
	f = fopen(path, "r");
	if (f == NULL) {
		if (errno == ENOENT || errno == ENOTDIR)
			return CLI_EXIT_OK;
		cli_warn("cannot read %s: %s", path, strerror(errno));
		return CLI_EXIT_USAGE;
	}
	if (fstat(fileno(f), &st) != 0) {
		cli_warn("cannot read %s: %s", path, strerror(errno));
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *k, *v, *eq;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			cli_warn("%s:%d: line too long", path, lineno);
			rc = CLI_EXIT_USAGE;
			goto out;
		}
		k = cli_trim(line);
		if (*k == '\0' || *k == '#' || *k == ';')
			continue;
		eq = strchr(k, '=');
		if (eq == NULL) {
			cli_warn("%s:%d: expected key = value", path, lineno);
			rc = CLI_EXIT_USAGE;
			goto out;
		}
		*eq = '\0';
		k = cli_trim(k);
		v = cli_trim(eq + 1);
		if (strcmp(k, "url") == 0) {
			if (!str_copy(url, url_cap, v)) {
				cli_warn("%s:%d: url too long", path, lineno);
				rc = CLI_EXIT_USAGE;
				goto out;
			}
		} else if (strcmp(k, "token") == 0) {
			has_token = true;
			if (!str_copy(token, token_cap, v) || !cli_token_ok(token)) {
				/* Never echo the value: it is a secret. */
				cli_warn("%s:%d: token is not a valid token", path, lineno);
				rc = CLI_EXIT_USAGE;
				goto out;
			}
		} else {
			cli_warn("%s:%d: unknown key '%.64s' (ignored)", path, lineno, k);
		}
	}
	if (has_token && (st.st_mode & 077) != 0) {
		cli_warn("%s holds a token and is accessible by others (mode %04o); "
		    "run: chmod 600 %s", path, (unsigned)(st.st_mode & 07777), path);
		rc = CLI_EXIT_USAGE;
	}
out:
	explicit_bzero(line, sizeof(line));
	if (rc != CLI_EXIT_OK)
		explicit_bzero(token, token_cap);
	fclose(f);
	return rc;
}

static int
cli_setup(struct cli *c, const char *url_flag)
{
	char url[CLI_URL_MAX] = CLI_DEFAULT_URL;
	const char *env_url = getenv("POKY_URL"), *env_tok = getenv("POKY_TOKEN");
	size_t n;
	int rc;
	struct httpc_config hc = { .connect_timeout_ms = 5000, .timeout_ms = 30000 };

	rc = cli_read_config(url, sizeof(url), c->token, sizeof(c->token));
	if (rc != CLI_EXIT_OK)
		return rc;
	if (env_url != NULL && *env_url)
		str_copy(url, sizeof(url), env_url);
	if (url_flag != NULL)
		str_copy(url, sizeof(url), url_flag);
	if (env_tok != NULL && *env_tok) {
		if (!str_copy(c->token, sizeof(c->token), env_tok) ||
		    !cli_token_ok(c->token)) {
			explicit_bzero(c->token, sizeof(c->token));
			return cli_usage_error("POKY_TOKEN is not a valid token");
		}
	}
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return cli_usage_error("server URL '%.200s' must start with http:// "
		    "or https://", url);
	n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		url[--n] = '\0';
	str_copy(c->url, sizeof(c->url), url);
	c->h = httpc_new(&hc);
	if (c->h == NULL) {
		cli_warn("out of memory");
		return CLI_EXIT_SERVER;
	}
	return CLI_EXIT_OK;
}

/* ---- HTTP --------------------------------------------------------------- */

/* One exchange with pokyd.  POKY_OK when any HTTP answer came (resp->status),
 * else the network error in *e. */
static enum poky_err
cli_http(struct cli *c, const struct cli_req *q, struct httpc_response *resp,
	 struct poky_error *e)
{
	struct buf url, auth;
	struct hdr h[5];
	size_t nh = 0;
	enum poky_err rc;
	struct httpc_request req = { .method = q->method, .timeout_ms = q->timeout_ms,
		.write = q->write, .write_ud = q->write_ud };

	buf_init(&url, CLI_URL_MAX * 2);
	buf_init(&auth, CLI_TOKEN_MAX + 16);
	if (buf_printf(&url, "%s%s", c->url, q->path) != POKY_OK) {
		rc = poky_error_set(e, POKY_ERR_LIMIT, "URL too long");
		goto out;
	}
	if (c->token[0] != '\0') {
		if (buf_printf(&auth, "Bearer %s", c->token) != POKY_OK) {
			rc = poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
			goto out;
		}
		h[nh++] = (struct hdr){ "Authorization", 13, auth.data, auth.len };
	}
	h[nh++] = (struct hdr){ "Accept", 6, "application/json, text/plain, "
	    "application/problem+json", 55 };
	if (q->body != NULL) {
		h[nh++] = (struct hdr){ "Content-Type", 12, "application/json", 16 };
		req.body = q->body;
		req.body_len = strlen(q->body);
	}
	if (q->if_none_match != NULL && *q->if_none_match)
		h[nh++] = (struct hdr){ "If-None-Match", 13, q->if_none_match,
			strlen(q->if_none_match) };
	if (q->idem_key != NULL)
		h[nh++] = (struct hdr){ "Idempotency-Key", 15, q->idem_key,
			strlen(q->idem_key) };
	req.url = url.data;
	req.headers = h;
	req.n_headers = nh;
	rc = httpc_perform(c->h, &req, resp, e);
out:
	buf_free_secure(&auth);
	buf_free(&url);
	return rc;
}

/* The exit status for a failed exchange, after telling why on stderr. */
static int
cli_net_error(struct cli *c, const struct poky_error *e)
{
	cli_warn("cannot talk to %s: %s", c->url, e->message);
	return e->code == POKY_ERR_INVALID ? CLI_EXIT_USAGE : CLI_EXIT_SERVER;
}

/* Tell an HTTP error answer (problem+json when the server sent one) and
 * return the exit status it maps to. */
static int
cli_http_error(const struct httpc_response *r)
{
	json_t *p = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, NULL);
	const char *title = json_string_value(json_object_get(p, "title"));
	const char *detail = json_string_value(json_object_get(p, "detail"));
	json_t *errs = json_object_get(p, "errors"), *fe;
	size_t i;

	if (title != NULL)
		cli_warn("HTTP %ld: %s%s%s", r->status, title, detail ? ": " : "",
		    detail ? detail : "");
	else
		cli_warn("HTTP %ld", r->status);
	json_array_foreach(errs, i, fe) {
		const char *f = json_string_value(json_object_get(fe, "field"));
		const char *m = json_string_value(json_object_get(fe, "message"));

		fprintf(stderr, "  %s: %s\n", f ? f : "?", m ? m : "?");
	}
	if (r->status == 401)
		fputs("  (set POKY_TOKEN or token in the config file)\n", stderr);
	json_decref(p);
	return r->status >= 400 && r->status < 500 ? CLI_EXIT_USAGE : CLI_EXIT_SERVER;
}

/* GET/POST/DELETE answering JSON: *out gets the parsed 2xx body.  Returns
 * an exit status (CLI_EXIT_OK when *out is set). */
static int
cli_call_json(struct cli *c, const struct cli_req *q, json_t **out, long *status)
{
	struct httpc_response r;
	struct poky_error e;
	json_error_t je;
	int rc = CLI_EXIT_OK;

	*out = NULL;
	httpc_response_init(&r, CLI_BODY_MAX);
	if (cli_http(c, q, &r, &e) != POKY_OK) {
		rc = cli_net_error(c, &e);
		goto out;
	}
	if (status != NULL)
		*status = r.status;
	if (r.status < 200 || r.status > 299) {
		rc = cli_http_error(&r);
		goto out;
	}
	*out = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, &je);
	if (*out == NULL) {
		cli_warn("%s %s: the answer is not JSON (%s)", q->method, q->path, je.text);
		rc = CLI_EXIT_SERVER;
	}
out:
	httpc_response_cleanup(&r);
	return rc;
}

static enum poky_err
cli_encode(struct buf *b, const char *s)
{
	return str_uri_encode(b, s, strlen(s), false);
}

/* ---- output --------------------------------------------------------------- */

static const char *
cli_str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "-";
}

static void
cli_print_json(const json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
}

static void
cli_print_task(const json_t *t)
{
	const json_t *ex = json_object_get(t, "exit_code"), *params, *v;
	const char *k;

	printf("id:          %s\n", cli_str(t, "id"));
	printf("template:    %s\n", cli_str(t, "template"));
	printf("status:      %s\n", cli_str(t, "status"));
	printf("launcher:    %s\n", cli_str(t, "launcher"));
	if (json_is_integer(ex))
		printf("exit_code:   %lld\n", (long long)json_integer_value(ex));
	else
		printf("exit_code:   -\n");
	printf("reason:      %s\n", cli_str(t, "reason"));
	printf("created_at:  %s\n", cli_str(t, "created_at"));
	printf("started_at:  %s\n", cli_str(t, "started_at"));
	printf("finished_at: %s\n", cli_str(t, "finished_at"));
	params = json_object_get(t, "parameters");
	json_object_foreach((json_t *)params, k, v)
		printf("param:       %s=%s\n", k, json_string_value(v) ?
		    json_string_value(v) : "");
}

static void
cli_print_summary(FILE *f, const json_t *t)
{
	const json_t *ex = json_object_get(t, "exit_code");

	fprintf(f, "%s\t%s", cli_str(t, "id"), cli_str(t, "status"));
	if (json_is_integer(ex))
		fprintf(f, "\texit=%lld", (long long)json_integer_value(ex));
	if (json_is_string(json_object_get(t, "reason")))
		fprintf(f, "\t%s", cli_str(t, "reason"));
	fputc('\n', f);
}

static bool
cli_final(const char *status)
{
	return strcmp(status, "succeeded") == 0 || strcmp(status, "failed") == 0 ||
	    strcmp(status, "cancelled") == 0 || strcmp(status, "lost") == 0;
}

/* The exit status that mirrors a finished task (see poky.1). */
static int
cli_task_exit(const json_t *t)
{
	const char *st = cli_str(t, "status");
	const json_t *ex = json_object_get(t, "exit_code");

	if (strcmp(st, "succeeded") == 0)
		return CLI_EXIT_OK;
	if (strcmp(st, "cancelled") == 0)
		return CLI_EXIT_CANCELLED;
	if (strcmp(st, "lost") == 0)
		return CLI_EXIT_LOST;
	if (strcmp(st, "failed") == 0 && json_is_integer(ex) &&
	    json_integer_value(ex) > 0 && json_integer_value(ex) < 256)
		return (int)json_integer_value(ex);
	return CLI_EXIT_FAILED;
}

/* Status changes: rewritten in place on a terminal, a line each when not. */
static void
cli_progress(struct cli *c, const json_t *t)
{
	if (c->tty) {
		fprintf(stderr, "\r\033[K%s %s", cli_str(t, "id"), cli_str(t, "status"));
		c->line_open = true;
	} else {
		fprintf(stderr, "%s %s\n", cli_str(t, "id"), cli_str(t, "status"));
	}
	fflush(stderr);
}

static void
cli_progress_end(struct cli *c)
{
	if (c->line_open)
		fputc('\n', stderr);
	c->line_open = false;
}

/* ---- watching ----------------------------------------------------------- */

static long
cli_backoff_next(long ms)
{
	return ms * 2 > CLI_BACKOFF_MAX_MS ? CLI_BACKOFF_MAX_MS : ms * 2;
}

/* Sleep the backoff, but never past the deadline (0: none). */
static void
cli_backoff_sleep(long ms, long deadline)
{
	if (deadline > 0 && cli_now_ms() + ms > deadline)
		ms = deadline - cli_now_ms();
	if (ms > 0)
		cli_sleep_ms(ms);
}

/* Follow a task until it is final or the wait runs out, telling each new
 * status (after seen, already told; may be NULL).  *final gets the last
 * record (owned by the caller).  Returns an exit status; for a final
 * task CLI_EXIT_OK (the caller maps the record). */
static int
cli_watch(struct cli *c, const char *id, long timeout_ms, const char *seen,
	  json_t **final)
{
	char path[512], etag[256] = "", prev[128] = "", prev_st[32] = "";
	struct buf enc;
	bool longpoll = true;
	long deadline = timeout_ms > 0 ? cli_now_ms() + timeout_ms : 0;
	long backoff = CLI_BACKOFF_MIN_MS;
	int failures = 0, rc = CLI_EXIT_OK;
	struct httpc_response r;
	struct poky_error e;

	*final = NULL;
	if (seen != NULL)
		str_copy(prev_st, sizeof(prev_st), seen);
	buf_init(&enc, 256);
	httpc_response_init(&r, CLI_BODY_MAX);
	if (cli_encode(&enc, id) != POKY_OK) {
		rc = cli_usage_error("task id too long");
		goto out;
	}
	for (;;) {
		long remaining = deadline > 0 ? deadline - cli_now_ms() : LONG_MAX;
		long wait_s = CLI_LONGPOLL_S, t0;
		struct cli_req q = { .method = "GET", .path = path };
		json_t *t;
		const char *st, *tag;
		char cur[128];
		bool changed, quick;

		if (remaining <= 0) {
			cli_progress_end(c);
			cli_warn("timed out waiting for task %s", id);
			rc = CLI_EXIT_TIMEOUT;
			goto out;
		}
		if (longpoll) {
			if (remaining / 1000 < wait_s)
				wait_s = remaining / 1000 + 1;
			snprintf(path, sizeof(path), "/tasks/%s?wait=%lds&until=final",
			    enc.data, wait_s);
			q.if_none_match = etag;
			q.timeout_ms = wait_s * 1000 + 15000;
		} else {
			snprintf(path, sizeof(path), "/tasks/%s", enc.data);
			q.timeout_ms = 30000;
		}
		t0 = cli_now_ms();
		if (cli_http(c, &q, &r, &e) != POKY_OK || r.status >= 500) {
			/* A restart of pokyd or a blip: try again a few times. */
			if (++failures > CLI_RETRIES) {
				cli_progress_end(c);
				rc = r.status >= 500 ? cli_http_error(&r) : cli_net_error(c, &e);
				goto out;
			}
			cli_backoff_sleep(backoff, deadline);
			backoff = cli_backoff_next(backoff);
			continue;
		}
		failures = 0;
		if (r.status == 304)
			continue;       /* the wait ran out with no change */
		if (r.status == 400 && longpoll) {
			/* A server without the watch API refuses `wait`. */
			longpoll = false;
			continue;
		}
		if (r.status != 200) {
			cli_progress_end(c);
			rc = cli_http_error(&r);
			goto out;
		}
		t = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, NULL);
		st = json_string_value(json_object_get(t, "status"));
		if (st == NULL) {
			json_decref(t);
			cli_progress_end(c);
			cli_warn("GET %s: not a task record", path);
			rc = CLI_EXIT_SERVER;
			goto out;
		}
		snprintf(cur, sizeof(cur), "%s %s", st, cli_str(t, "updated_at"));
		changed = strcmp(cur, prev) != 0;
		if (strcmp(st, prev_st) != 0)
			cli_progress(c, t);
		str_copy(prev_st, sizeof(prev_st), st);
		str_copy(prev, sizeof(prev), cur);
		if (cli_final(st)) {
			cli_progress_end(c);
			*final = t;
			goto out;
		}
		json_decref(t);
		if (longpoll) {
			tag = httpc_response_header(&r, "etag");
			quick = cli_now_ms() - t0 < wait_s * 1000 / 2;
			/* An answer at once with nothing new (or no version to
			 * resume from) means the server ignored `wait`. */
			if (quick && (tag == NULL || !changed)) {
				longpoll = false;
			} else {
				if (tag != NULL)
					str_copy(etag, sizeof(etag), tag);
				continue;
			}
		}
		if (changed)
			backoff = CLI_BACKOFF_MIN_MS;
		cli_backoff_sleep(backoff, deadline);
		backoff = cli_backoff_next(backoff);
	}
out:
	httpc_response_cleanup(&r);
	buf_free(&enc);
	return rc;
}

struct cli_logsink {
	size_t skip;            /* bytes printed before this request */
	size_t seen;            /* bytes of this answer so far */
	bool write_failed;
};

static int
cli_log_write(void *ud, const char *p, size_t n)
{
	struct cli_logsink *s = ud;
	size_t off = s->seen, start;

	s->seen += n;
	if (s->seen <= s->skip)
		return 0;
	start = off < s->skip ? s->skip - off : 0;
	if (fwrite(p + start, 1, n - start, stdout) != n - start || fflush(stdout) != 0) {
		s->write_failed = true;
		return 1;
	}
	return 0;
}

/* GET the task (plain) into *t.  Returns an exit status. */
static int
cli_get_task(struct cli *c, const char *id, json_t **t)
{
	struct buf p;
	int rc;

	buf_init(&p, 512);
	if (buf_append_str(&p, "/tasks/") != POKY_OK || cli_encode(&p, id) != POKY_OK) {
		buf_free(&p);
		return cli_usage_error("task id too long");
	}
	rc = cli_call_json(c, &(struct cli_req){ .method = "GET", .path = p.data }, t, NULL);
	buf_free(&p);
	return rc;
}

/* Print a task's output as it grows until the task is final: the streaming
 * logs (?follow=1) when the server has them, else the logs endpoint polled
 * with backoff, printing only the new bytes.  *final as for cli_watch;
 * *no_logs set (and CLI_EXIT_OK) when the launcher keeps none (501). */
static int
cli_follow(struct cli *c, const char *id, long timeout_ms, json_t **final,
	   bool *no_logs)
{
	char path[512];
	struct buf enc;
	bool stream = true, last = false;
	long deadline = timeout_ms > 0 ? cli_now_ms() + timeout_ms : 0;
	long backoff = CLI_BACKOFF_MIN_MS;
	size_t printed = 0;
	int failures = 0, rc = CLI_EXIT_OK;
	struct httpc_response r;
	struct poky_error e;
	json_t *t = NULL;

	*final = NULL;
	*no_logs = false;
	buf_init(&enc, 256);
	httpc_response_init(&r, CLI_BODY_MAX);
	if (cli_encode(&enc, id) != POKY_OK) {
		rc = cli_usage_error("task id too long");
		goto out;
	}
	for (;;) {
		long remaining = deadline > 0 ? deadline - cli_now_ms() : 3600L * 1000;
		struct cli_logsink sink = { .skip = printed };
		struct cli_req q = { .method = "GET", .path = path,
			.write = cli_log_write, .write_ud = &sink };
		bool streamed, got;
		long t0;

		if (remaining <= 0) {
			cli_warn("timed out waiting for task %s", id);
			rc = CLI_EXIT_TIMEOUT;
			goto out;
		}
		snprintf(path, sizeof(path), "/tasks/%s/logs%s", enc.data,
		    stream && !last ? "?follow=1" : "");
		q.timeout_ms = stream && !last ?
		    (remaining < 3600L * 1000 ? remaining : 3600L * 1000) : 30000;
		t0 = cli_now_ms();
		if (cli_http(c, &q, &r, &e) != POKY_OK) {
			if (sink.write_failed) {
				rc = CLI_EXIT_SERVER;   /* stdout went away */
				goto out;
			}
			if (sink.seen > printed)
				printed = sink.seen;
			/* The stream's own timeout: reconnect. */
			if (e.timeout && stream && deadline == 0)
				continue;
			if (++failures > CLI_RETRIES) {
				rc = cli_net_error(c, &e);
				goto out;
			}
			cli_backoff_sleep(backoff, deadline);
			backoff = cli_backoff_next(backoff);
			continue;
		}
		if (r.status == 400 && stream && !last) {
			stream = false;         /* no `follow` on this server */
			continue;
		}
		if (r.status == 501) {
			*no_logs = true;
			cli_http_error(&r);
			goto out;
		}
		if (r.status >= 500 && ++failures <= CLI_RETRIES) {
			cli_backoff_sleep(backoff, deadline);
			backoff = cli_backoff_next(backoff);
			continue;
		}
		if (r.status != 200) {
			rc = cli_http_error(&r);
			goto out;
		}
		failures = 0;
		got = sink.seen > printed;
		if (got)
			printed = sink.seen;
		if (last) {
			*final = t;
			t = NULL;
			goto out;
		}
		/* A streaming answer has no length: it ends with the task. */
		streamed = httpc_response_header(&r, "content-length") == NULL;
		json_decref(t);
		t = NULL;
		rc = cli_get_task(c, id, &t);
		if (rc != CLI_EXIT_OK)
			goto out;
		if (cli_final(cli_str(t, "status"))) {
			/* One more read for what was written before the end. */
			last = true;
			continue;
		}
		if (stream && !streamed)
			stream = false;
		if (stream && (got || cli_now_ms() - t0 > 1000)) {
			backoff = CLI_BACKOFF_MIN_MS;
			continue;       /* the stream ended early: reconnect */
		}
		if (got)
			backoff = CLI_BACKOFF_MIN_MS;
		cli_backoff_sleep(backoff, deadline);
		backoff = cli_backoff_next(backoff);
	}
out:
	json_decref(t);
	httpc_response_cleanup(&r);
	buf_free(&enc);
	return rc;
}

/* ---- commands ----------------------------------------------------------- */

struct cli_opts {
	const char *pos[CLI_MAX_PARAMS + 2];    /* positional arguments */
	int npos;
	const char *labels[CLI_MAX_LABELS];
	int nlabels;
	bool wait, logs, follow;
	const char *timeout, *task_timeout, *idem, *status, *tmpl, *limit;
};

/* A finished wait: print the record, return the status that mirrors it. */
static int
cli_finish(struct cli *c, json_t *t, bool summary_to_stderr)
{
	int rc;

	if (c->json)
		cli_print_json(t);
	else
		cli_print_summary(summary_to_stderr ? stderr : stdout, t);
	rc = cli_task_exit(t);
	json_decref(t);
	return rc;
}

/* Wait for a task, following its logs when asked (falling back to a plain
 * wait when its launcher keeps none). */
static int
cli_wait_for(struct cli *c, const char *id, const char *seen, long timeout_ms,
	     bool logs)
{
	json_t *t = NULL;
	bool no_logs = false;
	int rc;

	if (logs) {
		rc = cli_follow(c, id, timeout_ms, &t, &no_logs);
		if (rc != CLI_EXIT_OK)
			return rc;
		if (!no_logs)
			return cli_finish(c, t, true);
	}
	rc = cli_watch(c, id, timeout_ms, seen, &t);
	if (rc != CLI_EXIT_OK)
		return rc;
	return cli_finish(c, t, false);
}

static int
cli_cmd_run(struct cli *c, const struct cli_opts *o)
{
	json_t *body = json_object(), *params = json_object(), *labels = NULL, *t = NULL;
	char *text = NULL;
	long timeout_ms = 0, task_ms = 0;
	int rc;

	if (o->npos < 1) {
		rc = cli_usage_error("run: which template?");
		goto out;
	}
	if (o->timeout != NULL && !cli_parse_dur(o->timeout, &timeout_ms)) {
		rc = cli_usage_error("--timeout: '%.64s' is not a duration (30s, 5m, 2h)",
		    o->timeout);
		goto out;
	}
	if (o->timeout != NULL && !o->wait && !o->logs) {
		rc = cli_usage_error("--timeout limits --wait; the task's own limit is "
		    "--task-timeout");
		goto out;
	}
	if (o->task_timeout != NULL && (!cli_parse_dur(o->task_timeout, &task_ms) ||
	    task_ms < 1000)) {
		rc = cli_usage_error("--task-timeout: '%.64s' is not a duration of a "
		    "second or more", o->task_timeout);
		goto out;
	}
	for (int i = 1; i < o->npos; i++) {
		const char *eq = strchr(o->pos[i], '=');
		char key[256];

		if (eq == NULL || eq == o->pos[i] || (size_t)(eq - o->pos[i]) >= sizeof(key)) {
			rc = cli_usage_error("run: '%.64s' is not key=value", o->pos[i]);
			goto out;
		}
		memcpy(key, o->pos[i], (size_t)(eq - o->pos[i]));
		key[eq - o->pos[i]] = '\0';
		if (json_object_get(params, key) != NULL) {
			rc = cli_usage_error("run: parameter '%s' given twice", key);
			goto out;
		}
		json_object_set_new(params, key, json_string(eq + 1));
	}
	for (int i = 0; i < o->nlabels; i++) {
		const char *eq = strchr(o->labels[i], '=');
		char key[256];

		if (eq == NULL || eq == o->labels[i] ||
		    (size_t)(eq - o->labels[i]) >= sizeof(key)) {
			rc = cli_usage_error("--label: '%.64s' is not k=v", o->labels[i]);
			goto out;
		}
		memcpy(key, o->labels[i], (size_t)(eq - o->labels[i]));
		key[eq - o->labels[i]] = '\0';
		if (labels == NULL)
			labels = json_object();
		json_object_set_new(labels, key, json_string(eq + 1));
	}
	json_object_set_new(body, "template", json_string(o->pos[0]));
	if (json_object_size(params) > 0)
		json_object_set(body, "parameters", params);
	if (task_ms > 0)
		json_object_set_new(body, "timeout_seconds",
		    json_integer((task_ms + 999) / 1000));
	if (labels != NULL)
		json_object_set(body, "labels", labels);
	if (json_object_get(body, "template") == NULL ||
	    (text = json_dumps(body, JSON_COMPACT)) == NULL) {
		rc = cli_usage_error("run: the arguments are not valid UTF-8");
		goto out;
	}
	rc = cli_call_json(c, &(struct cli_req){ .method = "POST", .path = "/tasks",
	    .body = text, .idem_key = o->idem }, &t, NULL);
	if (rc != CLI_EXIT_OK)
		goto out;
	if (!o->wait && !o->logs) {
		if (c->json)
			cli_print_json(t);
		else
			printf("%s\n", cli_str(t, "id"));
		goto out;
	}
	if (!o->logs)
		cli_progress(c, t);
	rc = cli_wait_for(c, cli_str(t, "id"), o->logs ? NULL : cli_str(t, "status"),
	    timeout_ms, o->logs);
out:
	free(text);
	json_decref(t);
	json_decref(labels);
	json_decref(params);
	json_decref(body);
	return rc;
}

static int
cli_cmd_get(struct cli *c, const struct cli_opts *o)
{
	json_t *t = NULL;
	int rc;

	if (o->npos != 1)
		return cli_usage_error("get: one task id");
	rc = cli_get_task(c, o->pos[0], &t);
	if (rc == CLI_EXIT_OK) {
		if (c->json)
			cli_print_json(t);
		else
			cli_print_task(t);
	}
	json_decref(t);
	return rc;
}

static int
cli_cmd_ls(struct cli *c, const struct cli_opts *o)
{
	struct buf p;
	json_t *list = NULL, *t;
	char sep = '?';
	size_t i;
	int rc;
	const char *names[3] = { "status", "template", "limit" };
	const char *vals[3] = { o->status, o->tmpl, o->limit };

	if (o->npos != 0)
		return cli_usage_error("ls: no arguments besides options");
	buf_init(&p, 2048);
	rc = buf_append_str(&p, "/tasks") != POKY_OK;
	for (int k = 0; k < 3 && rc == 0; k++) {
		if (vals[k] == NULL)
			continue;
		rc = buf_printf(&p, "%c%s=", sep, names[k]) != POKY_OK ||
		    cli_encode(&p, vals[k]) != POKY_OK;
		sep = '&';
	}
	if (rc != 0) {
		buf_free(&p);
		return cli_usage_error("ls: options too long");
	}
	rc = cli_call_json(c, &(struct cli_req){ .method = "GET", .path = p.data },
	    &list, NULL);
	buf_free(&p);
	if (rc != CLI_EXIT_OK)
		return rc;
	if (c->json) {
		cli_print_json(list);
	} else {
		printf("%-36s  %-16s  %-9s  %-24s  %s\n", "ID", "TEMPLATE", "STATUS",
		    "CREATED", "EXIT");
		json_array_foreach(json_object_get(list, "tasks"), i, t) {
			const json_t *ex = json_object_get(t, "exit_code");

			printf("%-36s  %-16s  %-9s  %-24s  ", cli_str(t, "id"),
			    cli_str(t, "template"), cli_str(t, "status"),
			    cli_str(t, "created_at"));
			if (json_is_integer(ex))
				printf("%lld\n", (long long)json_integer_value(ex));
			else
				printf("-\n");
		}
	}
	json_decref(list);
	return CLI_EXIT_OK;
}

static int
cli_cmd_logs(struct cli *c, const struct cli_opts *o)
{
	struct buf p;
	struct httpc_response r;
	struct poky_error e;
	int rc = CLI_EXIT_OK;

	if (o->npos != 1)
		return cli_usage_error("logs: one task id");
	if (o->follow) {
		json_t *t = NULL;
		bool no_logs;

		rc = cli_follow(c, o->pos[0], 0, &t, &no_logs);
		if (rc == CLI_EXIT_OK && no_logs)
			rc = CLI_EXIT_SERVER;
		if (rc == CLI_EXIT_OK) {
			rc = cli_task_exit(t);
			json_decref(t);
		}
		return rc;
	}
	buf_init(&p, 512);
	httpc_response_init(&r, CLI_BODY_MAX);
	if (buf_append_str(&p, "/tasks/") != POKY_OK || cli_encode(&p, o->pos[0]) != POKY_OK ||
	    buf_append_str(&p, "/logs") != POKY_OK) {
		rc = cli_usage_error("task id too long");
		goto out;
	}
	if (cli_http(c, &(struct cli_req){ .method = "GET", .path = p.data }, &r,
	    &e) != POKY_OK)
		rc = cli_net_error(c, &e);
	else if (r.status != 200)
		rc = cli_http_error(&r);
	else if (r.body.len > 0 && fwrite(r.body.data, 1, r.body.len, stdout) != r.body.len)
		rc = CLI_EXIT_SERVER;
out:
	httpc_response_cleanup(&r);
	buf_free(&p);
	return rc;
}

static int
cli_cmd_cancel(struct cli *c, const struct cli_opts *o)
{
	struct buf p;
	json_t *t = NULL;
	int rc;

	if (o->npos != 1)
		return cli_usage_error("cancel: one task id");
	buf_init(&p, 512);
	if (buf_append_str(&p, "/tasks/") != POKY_OK || cli_encode(&p, o->pos[0]) != POKY_OK) {
		buf_free(&p);
		return cli_usage_error("task id too long");
	}
	rc = cli_call_json(c, &(struct cli_req){ .method = "DELETE", .path = p.data },
	    &t, NULL);
	buf_free(&p);
	if (rc == CLI_EXIT_OK) {
		if (c->json)
			cli_print_json(t);
		else
			cli_print_summary(stdout, t);
	}
	json_decref(t);
	return rc;
}

static int
cli_cmd_wait(struct cli *c, const struct cli_opts *o)
{
	long timeout_ms = 0;

	if (o->npos != 1)
		return cli_usage_error("wait: one task id");
	if (o->timeout != NULL && !cli_parse_dur(o->timeout, &timeout_ms))
		return cli_usage_error("--timeout: '%.64s' is not a duration (30s, 5m, 2h)",
		    o->timeout);
	return cli_wait_for(c, o->pos[0], NULL, timeout_ms, false);
}

static void
cli_print_template(const json_t *t)
{
	const json_t *p;
	size_t i;

	printf("name:     %s\n", cli_str(t, "name"));
	printf("launcher: %s\n", cli_str(t, "launcher"));
	printf("timeout:  %llds\n", (long long)json_integer_value(
	    json_object_get(t, "timeout_seconds")));
	json_array_foreach(json_object_get(t, "parameters"), i, p) {
		printf("param:    %s (%s, env %s, max %lld)", cli_str(p, "name"),
		    json_is_true(json_object_get(p, "required")) ? "required" : "optional",
		    cli_str(p, "env"), (long long)json_integer_value(
		    json_object_get(p, "max_length")));
		if (json_is_string(json_object_get(p, "default")))
			printf(" default=%s", cli_str(p, "default"));
		if (json_is_string(json_object_get(p, "pattern")))
			printf(" pattern=%s", cli_str(p, "pattern"));
		putchar('\n');
	}
}

static int
cli_cmd_templates(struct cli *c, const struct cli_opts *o)
{
	struct buf p;
	json_t *v = NULL, *t;
	size_t i;
	int rc;

	if (o->npos > 1)
		return cli_usage_error("templates: at most one template name");
	buf_init(&p, 512);
	if (buf_append_str(&p, "/templates") != POKY_OK ||
	    (o->npos == 1 && (buf_append_byte(&p, '/') != POKY_OK ||
	    cli_encode(&p, o->pos[0]) != POKY_OK))) {
		buf_free(&p);
		return cli_usage_error("template name too long");
	}
	rc = cli_call_json(c, &(struct cli_req){ .method = "GET", .path = p.data }, &v, NULL);
	buf_free(&p);
	if (rc != CLI_EXIT_OK)
		return rc;
	if (c->json) {
		cli_print_json(v);
	} else if (o->npos == 1) {
		cli_print_template(v);
	} else {
		printf("%-24s  %-8s  %-8s  %s\n", "NAME", "LAUNCHER", "TIMEOUT", "PARAMETERS");
		json_array_foreach(json_object_get(v, "templates"), i, t) {
			const json_t *pp;
			size_t j;

			printf("%-24s  %-8s  %-8lld ", cli_str(t, "name"),
			    cli_str(t, "launcher"), (long long)json_integer_value(
			    json_object_get(t, "timeout_seconds")));
			json_array_foreach(json_object_get(t, "parameters"), j, pp)
				printf(" %s%s", cli_str(pp, "name"), json_is_true(
				    json_object_get(pp, "required")) ? "" : "?");
			putchar('\n');
		}
	}
	json_decref(v);
	return CLI_EXIT_OK;
}

/* ---- main ------------------------------------------------------------------- */

struct cli_command {
	const char *name;
	int (*fn)(struct cli *c, const struct cli_opts *o);
	const char *opts;       /* the options it takes, " --x --y " */
};

static const struct cli_command cli_commands[] = {
	{ "run", cli_cmd_run, " --wait --logs --timeout --task-timeout --label "
	    "--idempotency-key " },
	{ "get", cli_cmd_get, " " },
	{ "ls", cli_cmd_ls, " --status --template --limit " },
	{ "logs", cli_cmd_logs, " -f --follow " },
	{ "cancel", cli_cmd_cancel, " " },
	{ "wait", cli_cmd_wait, " --timeout " },
	{ "templates", cli_cmd_templates, " " },
	{ NULL, NULL, NULL }
};

static bool
cli_takes(const struct cli_command *cmd, const char *opt)
{
	char key[80];

	snprintf(key, sizeof(key), " %s ", opt);
	return cmd != NULL && strstr(cmd->opts, key) != NULL;
}

int
main(int argc, char **argv)
{
	struct cli c = { .url = "" };
	struct cli_opts o = { .npos = 0 };
	const struct cli_command *cmd = NULL;
	const char *url_flag = NULL, *output = "table";
	bool dashdash = false;
	int rc;

	for (int i = 1; i < argc; i++) {
		char name[64];
		const char *a = argv[i], *val = NULL, *eq;
		bool has_val;

		if (dashdash || a[0] != '-' || a[1] == '\0') {
			if (cmd == NULL) {
				for (cmd = cli_commands; cmd->name; cmd++)
					if (strcmp(cmd->name, a) == 0)
						break;
				if (cmd->name == NULL)
					return cli_usage_error("unknown command '%.64s'", a);
			} else if (o.npos < (int)(sizeof(o.pos) / sizeof(o.pos[0]))) {
				o.pos[o.npos++] = a;
			} else {
				return cli_usage_error("too many arguments");
			}
			continue;
		}
		if (strcmp(a, "--") == 0) {
			dashdash = true;
			continue;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			cli_usage(stdout);
			return CLI_EXIT_OK;
		}
		if (strcmp(a, "--version") == 0) {
			printf("poky %s\n", POKY_VERSION);
			return CLI_EXIT_OK;
		}
		eq = strchr(a, '=');
		snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - a) : (int)strlen(a), a);
		has_val = strcmp(name, "--url") == 0 || strcmp(name, "--output") == 0 ||
		    strcmp(name, "-o") == 0 || strcmp(name, "--timeout") == 0 ||
		    strcmp(name, "--task-timeout") == 0 || strcmp(name, "--label") == 0 ||
		    strcmp(name, "--idempotency-key") == 0 ||
		    strcmp(name, "--status") == 0 || strcmp(name, "--template") == 0 ||
		    strcmp(name, "--limit") == 0;
		if (has_val) {
			if (eq != NULL)
				val = eq + 1;
			else if (i + 1 < argc)
				val = argv[++i];
			else
				return cli_usage_error("%s needs a value", name);
		} else if (eq != NULL) {
			return cli_usage_error("%s takes no value", name);
		}
		if (strcmp(name, "--url") == 0) {
			url_flag = val;
		} else if (strcmp(name, "--output") == 0 || strcmp(name, "-o") == 0) {
			output = val != NULL ? val : output;
		} else if (!cli_takes(cmd, name)) {
			return cli_usage_error("%s%s: unknown option '%.64s'",
			    cmd ? cmd->name : "", cmd ? "" : "(no command)", name);
		} else if (strcmp(name, "--wait") == 0) {
			o.wait = true;
		} else if (strcmp(name, "--logs") == 0) {
			o.logs = true;
		} else if (strcmp(name, "-f") == 0 || strcmp(name, "--follow") == 0) {
			o.follow = true;
		} else if (strcmp(name, "--timeout") == 0) {
			o.timeout = val;
		} else if (strcmp(name, "--task-timeout") == 0) {
			o.task_timeout = val;
		} else if (strcmp(name, "--idempotency-key") == 0) {
			o.idem = val;
		} else if (strcmp(name, "--status") == 0) {
			o.status = val;
		} else if (strcmp(name, "--template") == 0) {
			o.tmpl = val;
		} else if (strcmp(name, "--limit") == 0) {
			o.limit = val;
		} else if (strcmp(name, "--label") == 0) {
			if (o.nlabels >= CLI_MAX_LABELS)
				return cli_usage_error("too many labels");
			o.labels[o.nlabels++] = val;
		}
	}
	if (cmd == NULL) {
		cli_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(output, "json") == 0)
		c.json = true;
	else if (strcmp(output, "table") != 0)
		return cli_usage_error("--output: table or json, not '%.32s'", output);
	c.tty = isatty(STDERR_FILENO) == 1;
	rc = cli_setup(&c, url_flag);
	if (rc == CLI_EXIT_OK)
		rc = cmd->fn(&c, &o);
	if (fflush(stdout) != 0 && rc == CLI_EXIT_OK)
		rc = CLI_EXIT_SERVER;
	explicit_bzero(c.token, sizeof(c.token));
	httpc_free(c.h);
	httpc_global_cleanup();
	return rc;
}
