/* fuzz_http_api.c - one HTTP request, from its bytes to the handler's
 * answer, without libmicrohttpd.
 *
 * Input framing (LF or CRLF line ends):
 *
 *   METHOD SP TARGET LF          TARGET is path[?query], percent-encoded
 *   Name: value LF               any number of header lines
 *   LF
 *   body                         everything after the empty line
 *
 * What http.c's on_request does goes through the functions it calls
 * (http.h): http_conn_header for each header, http_conn_head_done (request
 * id, framing checks, declared Content-Length), http_conn_upload for the
 * body, http_query_add for each query argument, http_answer (limits 414,
 * 400, 431, 413, api_match 404/405, the token, the handler, the access
 * log) and http_resp_body.  Only MHD's own share is done here, the way
 * MHD hands a request over: the request line and header lines split, the
 * path percent-decoded (cut at a NUL, as a C string is), the query split
 * into decoded arguments, header values trimmed; and the MHD response
 * (headers, Connection: close, HEAD without a body) is left out.
 *
 * The app has no tokens, so every route's handler is reached anonymously;
 * an Authorization header still goes through http_token_name against a
 * token file (the fuzzer can't find a token's hash).  A client's untame
 * X-Request-Id is replaced by a random UUID, as in pokyd.
 *
 * Every route's handler runs on a static app with its store in a temporary
 * directory.  Nothing can launch: each template has a required s3=bucket
 * parameter checked under a POKY_LOCAL_ROOT that does not exist, so a
 * POST that passes validation stops at "does not exist" (400) before a
 * record is written; the store stays empty, so GET/DELETE /tasks/{id} and
 * the logs answer 404.  Beyond "no crash": every answer has a status of
 * 200..599 and a body (the handlers always give one), no handler leaves
 * the answer to http_answer's "no answer" 500, and no POST is ever
 * accepted.  The access log line is formatted too (JSON, thrown away),
 * with the client's method and X-Request-Id in it.
 *
 * POKY_FUZZ_DEBUG=1 prints each answer. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>

#include <jansson.h>

#include "poky/api.h"
#include "poky/app.h"
#include "poky/auth.h"
#include "poky/buf.h"
#include "poky/config.h"
#include "poky/http.h"
#include "poky/log.h"
#include "poky/metrics.h"
#include "poky/store.h"
#include "poky/str.h"

#include "fuzz_tmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static void remove_dir(void);

/* A failed check removes the temporary files before it aborts. */
#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz_http_api: check failed: %s (line %d)\n", #cond, \
	    __LINE__); remove_dir(); abort(); } } while (0)

static const char config_text[] =
	"[server]\n"
	"listen = 127.0.0.1:0\n"
	"state_dir = %s/state\n"
	"max_body_bytes = 4096\n"
	"[tracker]\n"
	"webhook_allow = https://, http://hooks.example.com/\n"
	"[template.process_file]\n"
	"launcher = local\n"
	"command = /bin/true\n"
	"param.source_bucket = required env=SOURCE_BUCKET max=63 s3=bucket\n"
	"param.source_key = required env=SOURCE_KEY s3=object:source_bucket\n"
	"param.destination_bucket = required env=DESTINATION_BUCKET max=63\n"
	"env.poky_local_root = /nonexistent/poky-fuzz-root\n"
	"[template.copy]\n"
	"launcher = local\n"
	"command = /bin/true\n"
	"param.bucket = required env=BUCKET max=63 pattern=^[a-z0-9.-]+$ s3=bucket\n"
	"param.mode = optional env=MODE default=copy pattern=^(copy|move)$\n"
	"env.poky_local_root = /nonexistent/poky-fuzz-root\n";

static char dir[4096];
static struct app app;
static struct auth_tokens *tokens;
static FILE *devnull;
static bool debug;              /* POKY_FUZZ_DEBUG=1: print each answer */

static void
write_file(const char *name, const char *text)
{
	char path[4200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	CHECK(f != NULL && fputs(text, f) >= 0 && fclose(f) == 0);
}

static void
remove_dir(void)
{
	if (dir[0] != '\0')
		fuzz_remove_tree(dir);
	dir[0] = '\0';
}

static void
teardown(void)
{
	store_close(app.store);
	metrics_free(app.metrics);
	app_config_put(&app, app.conf);
	auth_free(tokens);
	remove_dir();
	if (devnull != NULL)
		fclose(devnull);
}

static void
setup(void)
{
	char text[sizeof(config_text) + 4096], path[4200], line[256];
	struct config *cfg = NULL;
	struct poky_error e;

	fuzz_sweep(fuzz_tmpdir(), "poky-fuzz-api-");
	snprintf(dir, sizeof(dir), "%s/poky-fuzz-api-%ld", fuzz_tmpdir(),
	    (long)getpid());
	fuzz_remove_tree(dir);          /* a dead namesake's */
	CHECK(mkdir(dir, 0700) == 0);
	atexit(teardown);
	snprintf(text, sizeof(text), config_text, dir);
	write_file("pokyd.ini", text);
	snprintf(path, sizeof(path), "%s/pokyd.ini", dir);
	if (config_load(path, &cfg, &e) != POKY_OK) {
		fprintf(stderr, "fuzz_http_api: %s\n", e.message);
		abort();
	}
	CHECK(auth_hash_line("alice", "fuzz-token-0123456789", 21, line,
	    sizeof(line), &e) == POKY_OK);
	strcat(line, "\n");
	write_file("tokens", line);
	snprintf(path, sizeof(path), "%s/tokens", dir);
	CHECK(auth_load(path, &tokens, &e) == POKY_OK);

	pthread_mutex_init(&app.conf_lock, NULL);
	pthread_mutex_init(&app.aws_lock, NULL);
	snprintf(app.state_dir, sizeof(app.state_dir), "%s", cfg->server.state_dir);
	app.store = store_open(cfg->server.state_dir, &e);
	CHECK(app.store != NULL);
	app.metrics = metrics_new();
	app.started = 1700000000;
	/* Tokens stay out of the app: a request without one must still get
	 * to its handler. */
	app_config_swap(&app, cfg, NULL);
	/* Log lines are formatted (JSON escaping of whatever a handler logs)
	 * but thrown away. */
	devnull = fopen("/dev/null", "w");
	CHECK(devnull != NULL);
	log_setup(devnull, LOG_FORMAT_JSON, LOG_LEVEL_DEBUG);
}

/* ---- framing ----------------------------------------------------------- */

struct line_reader {
	const char *p, *end;
};

/* The next line without its end; false at the end of the input. */
static bool
next_line(struct line_reader *lr, const char **s, size_t *n)
{
	const char *lf;

	if (lr->p >= lr->end)
		return false;
	lf = memchr(lr->p, '\n', (size_t)(lr->end - lr->p));
	*s = lr->p;
	*n = lf ? (size_t)(lf - lr->p) : (size_t)(lr->end - lr->p);
	lr->p = lf ? lf + 1 : lr->end;
	if (*n > 0 && (*s)[*n - 1] == '\r')
		(*n)--;
	return true;
}

/* Percent-decoding as MHD does it, '+' too for arguments; the result is
 * a C string, so it ends at the first NUL. */
static char *
decode(const char *s, size_t n, bool plus)
{
	struct buf b;

	buf_init(&b, n);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (plus && c == '+')
			c = ' ';
		else if (c == '%' && i + 2 < n && str_hexval((unsigned char)s[i + 1]) >= 0 &&
		    str_hexval((unsigned char)s[i + 2]) >= 0) {
			c = (char)(str_hexval((unsigned char)s[i + 1]) << 4 |
			    str_hexval((unsigned char)s[i + 2]));
			i += 2;
		}
		CHECK(buf_append_byte(&b, c) == POKY_OK);
	}
	return buf_take(&b);
}

/* The query split into arguments and decoded, as MHD does, and rebuilt by
 * http_query_add, as add_arg does; false when it does not fit. */
static bool
rebuild_query(const char *q, size_t n, struct buf *out)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i, eq;

		while (j < n && q[j] != '&')
			j++;
		if (j > i) {
			char *k, *v = NULL;
			enum poky_err rc;

			for (eq = i; eq < j && q[eq] != '='; eq++)
				;
			k = decode(q + i, eq - i, true);
			if (eq < j)
				v = decode(q + eq + 1, j - eq - 1, true);
			rc = http_query_add(out, k, v);
			free(k);
			free(v);
			if (rc != POKY_OK)
				return false;
		}
		i = j + 1;
	}
	return true;
}

struct request {
	char *method;
	char *path;
	struct buf query;
	bool query_too_long;
	/* One more than fits: MHD hands that one over too, and is stopped. */
	char *names[HTTP_MAX_HEADERS + 1], *values[HTTP_MAX_HEADERS + 1];
	size_t n_strings;
	struct http_conn c;
};

/* The head and the body into rq->c; false when MHD would not get as far
 * as calling pokyd. */
static bool
frame(struct request *rq, const char *d, size_t n, size_t max_body)
{
	struct line_reader lr = { d, d + n };
	const char *s, *sp, *t, *qm;
	size_t len, tlen;

	http_conn_init(&rq->c, max_body);
	if (!next_line(&lr, &s, &len) || (sp = memchr(s, ' ', len)) == NULL || sp == s)
		return false;
	rq->method = strndup(s, (size_t)(sp - s));
	t = sp + 1;
	tlen = len - (size_t)(t - s);
	qm = memchr(t, '?', tlen);
	rq->path = decode(t, qm ? (size_t)(qm - t) : tlen, false);
	buf_init(&rq->query, HTTP_MAX_QUERY);
	if (qm != NULL)
		rq->query_too_long = !rebuild_query(qm + 1,
		    (size_t)(t + tlen - qm - 1), &rq->query);
	while (next_line(&lr, &s, &len) && len > 0) {
		const char *colon = memchr(s, ':', len), *v, *ve;
		size_t i = rq->n_strings;

		if (colon == NULL || colon == s)
			continue;               /* MHD refuses the request */
		if (rq->c.too_many_headers)
			continue;               /* MHD was told to stop */
		for (v = colon + 1; v < s + len && (*v == ' ' || *v == '\t'); v++)
			;
		for (ve = s + len; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
			;
		rq->names[i] = strndup(s, (size_t)(colon - s));
		rq->values[i] = strndup(v, (size_t)(ve - v));
		rq->n_strings++;
		CHECK(rq->names[i] != NULL && rq->values[i] != NULL);
		/* The lengths as received: a NUL inside shows. */
		http_conn_header(&rq->c, rq->names[i], (size_t)(colon - s),
		    rq->values[i], (size_t)(ve - v));
	}
	http_conn_head_done(&rq->c);
	/* pokyd answers a framing error before it reads a body. */
	if (rq->c.bad_framing == NULL && lr.p < d + n)
		http_conn_upload(&rq->c, lr.p, (size_t)(d + n - lr.p));
	return rq->method != NULL && rq->method[0] != '\0';
}

static void
request_free(struct request *rq)
{
	free(rq->method);
	free(rq->path);
	buf_free(&rq->query);
	http_conn_cleanup(&rq->c);
	for (size_t i = 0; i < rq->n_strings; i++) {
		free(rq->names[i]);
		free(rq->values[i]);
	}
}

/* ---- the request ------------------------------------------------------- */

static void
answer(struct request *rq, struct api_resp *r)
{
	struct api_req req;
	const char *detail;

	http_answer(&app, &rq->c, rq->method, rq->path, rq->query.data,
	    rq->query_too_long, false, &req, r);
	CHECK(strlen(req.arg) < sizeof(req.arg));
	detail = json_string_value(json_object_get(r->json, "detail"));
	CHECK(r->status != 500 || detail == NULL ||
	    strcmp(detail, "handler gave no answer") != 0);
	CHECK(strcmp(rq->method, "POST") != 0 || r->status >= 400);
}

/* The pure helpers the handlers use, on the raw query and the body, and
 * the token lookup the app's anonymous mode skips. */
static void
helpers(const struct request *rq)
{
	static const char *const names[] = { "status", "template", "cursor",
		"limit", "source_bucket", "", NULL };
	struct api_req req = { .query = rq->query.data };
	const char *who;
	char out[16];

	for (int i = 0; names[i] != NULL; i++) {
		const char *v = api_query(&req, names[i], out, sizeof(out));

		CHECK(v == NULL || (v == out && strlen(out) < sizeof(out)));
	}
	CHECK(api_json_depth(rq->c.body.data, rq->c.body.len) >= 0);
	who = http_token_name(tokens, http_conn_find(&rq->c, "authorization"));
	CHECK(who == NULL || strcmp(who, "alice") == 0);
}

static size_t
conf_max_body(void)
{
	struct app_conf *conf = app_config_get(&app);
	size_t max = conf->cfg->server.max_body_bytes;

	app_config_put(&app, conf);
	return max;
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct request rq;
	struct api_resp r;
	char *body;
	size_t len;

	if (app.store == NULL) {
		setup();
		debug = getenv("POKY_FUZZ_DEBUG") != NULL;
	}
	memset(&rq, 0, sizeof(rq));
	if (!frame(&rq, (const char *)d, n, conf_max_body())) {
		request_free(&rq);
		return 0;
	}
	helpers(&rq);
	api_resp_init(&r);
	answer(&rq, &r);
	/* As send_resp sends it. */
	CHECK(r.status >= 200 && r.status <= 599);
	CHECK(r.n_headers <= API_MAX_RESP_HEADERS);
	body = http_resp_body(&r, &len);
	CHECK(body != NULL);
	if (debug)
		fprintf(stderr, "%s %s -> %d %.*s\n", rq.method, rq.path, r.status,
		    (int)(len < 300 ? len : 300), body);
	free(body);
	api_resp_cleanup(&r);
	request_free(&rq);
	return 0;
}
