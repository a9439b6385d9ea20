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
 * What http.c's on_request does around MHD is done here the way MHD hands
 * it over: the path percent-decoded (cut at a NUL, as a C string is), the
 * query split into decoded arguments and re-encoded like add_arg, header
 * values trimmed, then the same limits (URL length 414, header count 431,
 * body size 413), api_match (404/405), the bearer token looked up (but not
 * required: the fuzzer can't find a token's hash), and the handler.
 *
 * Every route's handler runs on a static app with its store in a temporary
 * directory.  Nothing can launch: each template has a required s3=bucket
 * parameter checked under a POKY_LOCAL_ROOT that does not exist, so a
 * POST that passes validation stops at "does not exist" (400) before a
 * record is written; the store stays empty, so GET/DELETE /tasks/{id} and
 * the logs answer 404.  Beyond "no crash": every answer has a status of
 * 200..599 and a body that serialises as send_resp does it, and no POST
 * is ever accepted.  The access log line is formatted too (JSON, thrown
 * away), with the client's method and X-Request-Id in it.
 *
 * POKY_FUZZ_DEBUG=1 prints each answer. */
#include <ctype.h>
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

/* As in http.c. */
#define MAX_URL 2048
#define MAX_HEADERS 64

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

/* The query rebuilt from decoded arguments, as add_arg does. */
static void
rebuild_query(const char *q, size_t n, struct buf *out)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i, eq;

		while (j < n && q[j] != '&')
			j++;
		if (j > i) {
			char *k, *v = NULL;

			for (eq = i; eq < j && q[eq] != '='; eq++)
				;
			k = decode(q + i, eq - i, true);
			if (eq < j)
				v = decode(q + eq + 1, j - eq - 1, true);
			if ((out->len > 0 && buf_append_byte(out, '&') != POKY_OK) ||
			    str_uri_encode(out, k, strlen(k), false) != POKY_OK ||
			    (v != NULL && (buf_append_byte(out, '=') != POKY_OK ||
			     str_uri_encode(out, v, strlen(v), false) != POKY_OK))) {
				free(k);
				free(v);
				return;
			}
			free(k);
			free(v);
		}
		i = j + 1;
	}
}

struct request {
	char *method;
	char *path;
	struct buf query;
	char *names[MAX_HEADERS + 1], *values[MAX_HEADERS + 1];
	struct hdr headers[MAX_HEADERS + 1];
	size_t n_headers;
	bool too_many_headers;
	const char *body;
	size_t body_len;
};

static bool
frame(struct request *rq, const char *d, size_t n)
{
	struct line_reader lr = { d, d + n };
	const char *s, *sp, *t, *qm;
	size_t len, tlen;

	if (!next_line(&lr, &s, &len) || (sp = memchr(s, ' ', len)) == NULL || sp == s)
		return false;
	rq->method = strndup(s, (size_t)(sp - s));
	t = sp + 1;
	tlen = len - (size_t)(t - s);
	qm = memchr(t, '?', tlen);
	rq->path = decode(t, qm ? (size_t)(qm - t) : tlen, false);
	buf_init(&rq->query, 2 * MAX_URL);
	if (qm != NULL)
		rebuild_query(qm + 1, (size_t)(t + tlen - qm - 1), &rq->query);
	while (next_line(&lr, &s, &len) && len > 0) {
		const char *colon = memchr(s, ':', len), *v, *ve;

		if (colon == NULL || colon == s)
			continue;               /* MHD refuses the request */
		if (rq->n_headers == MAX_HEADERS) {
			rq->too_many_headers = true;
			continue;
		}
		for (v = colon + 1; v < s + len && (*v == ' ' || *v == '\t'); v++)
			;
		for (ve = s + len; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
			;
		rq->names[rq->n_headers] = strndup(s, (size_t)(colon - s));
		rq->values[rq->n_headers] = strndup(v, (size_t)(ve - v));
		rq->headers[rq->n_headers] = (struct hdr){
			rq->names[rq->n_headers], strlen(rq->names[rq->n_headers]),
			rq->values[rq->n_headers], strlen(rq->values[rq->n_headers]) };
		rq->n_headers++;
	}
	rq->body = lr.p;
	rq->body_len = (size_t)(d + n - lr.p);
	return rq->method != NULL && rq->method[0] != '\0';
}

static void
request_free(struct request *rq)
{
	free(rq->method);
	free(rq->path);
	buf_free(&rq->query);
	for (size_t i = 0; i < rq->n_headers; i++) {
		free(rq->names[i]);
		free(rq->values[i]);
	}
}

static const char *
find_header(const struct request *rq, const char *name)
{
	for (size_t i = 0; i < rq->n_headers; i++)
		if (str_ieq(rq->headers[i].name, rq->headers[i].name_len, name))
			return rq->headers[i].value;
	return NULL;
}

/* ---- the request ------------------------------------------------------- */

/* As http.c's request_id: a tame X-Request-Id is kept. */
static const char *
request_id(const struct request *rq, char *out)
{
	const char *given = find_header(rq, "x-request-id");
	bool ok = given != NULL && *given && strlen(given) <= 64;

	for (const char *p = given; ok && *p; p++)
		ok = isalnum((unsigned char)*p) || strchr("-_.:", *p);
	str_copy(out, 65, ok ? given : "fuzz-request");
	return out;
}

/* The access log line http.c writes after every request. */
static void
access_log(const struct request *rq, const struct api_req *req, int status)
{
	log_set_request_id(req->request_id);
	log_info("%s %s %d %.1fms %s", rq->method, req->route, status, 0.0,
	    req->token_name ? req->token_name : "-");
	log_set_request_id(NULL);
}

static void
answer(struct request *rq, struct api_resp *r)
{
	struct api_req req;
	const struct api_route *rt;
	const char *cl, *auth;
	char allow[128], reqid[65];
	bool known;

	memset(&req, 0, sizeof(req));
	req.method = rq->method;
	req.request_id = request_id(rq, reqid);
	req.route = "unmatched";
	if (strlen(rq->path) > MAX_URL) {
		api_problem(r, 414, NULL, "URI too long", "at most %d bytes", MAX_URL);
		goto out;
	}
	if (rq->too_many_headers) {
		api_problem(r, 431, NULL, "Too many headers", "at most %d", MAX_HEADERS);
		goto out;
	}
	cl = find_header(rq, "content-length");
	if (rq->body_len > 4096 || (cl != NULL && strtoull(cl, NULL, 10) > 4096)) {
		api_problem(r, 413, NULL, "Body too large",
		    "the body exceeds max_body_bytes (%d)", 4096);
		goto out;
	}
	rt = api_match(rq->method, rq->path, req.arg, sizeof(req.arg), &known,
	    allow, sizeof(allow));
	if (rt == NULL) {
		if (known) {
			api_problem(r, 405, NULL, "Method not allowed",
			    "%s is not allowed here", rq->method);
			api_resp_header(r, "Allow", "%s", allow);
		} else {
			api_problem(r, 404, NULL, "Not found", "no route for %.200s",
			    rq->path);
		}
		goto out;
	}
	CHECK(strlen(req.arg) < sizeof(req.arg));
	req.route = rt->pattern;
	auth = find_header(rq, "authorization");
	if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0)
		req.token_name = auth_check(tokens, auth + 7, strlen(auth + 7));
	req.path = rq->path;
	req.headers = rq->headers;
	req.n_headers = rq->n_headers;
	req.body = rq->body;
	req.body_len = rq->body_len;
	req.query = rq->query.data;
	log_set_request_id(req.request_id);
	rt->handler(&app, &req, r);
	log_set_request_id(NULL);
	CHECK(r->status != 0);
	CHECK(strcmp(rq->method, "POST") != 0 || r->status >= 400);
out:
	access_log(rq, &req, r->status);
}

/* The pure helpers the handlers use, on the raw query and the body. */
static void
helpers(const struct request *rq)
{
	static const char *const names[] = { "status", "template", "cursor",
		"limit", "source_bucket", "", NULL };
	struct api_req req = { .query = rq->query.data };
	char out[16];

	for (int i = 0; names[i] != NULL; i++) {
		const char *v = api_query(&req, names[i], out, sizeof(out));

		CHECK(v == NULL || (v == out && strlen(out) < sizeof(out)));
	}
	CHECK(api_json_depth(rq->body, rq->body_len) >= 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct request rq;
	struct api_resp r;
	char *body;

	if (app.store == NULL) {
		setup();
		debug = getenv("POKY_FUZZ_DEBUG") != NULL;
	}
	memset(&rq, 0, sizeof(rq));
	if (!frame(&rq, (const char *)d, n)) {
		request_free(&rq);
		return 0;
	}
	helpers(&rq);
	api_resp_init(&r);
	answer(&rq, &r);
	/* As send_resp sends it. */
	CHECK(r.status >= 200 && r.status <= 599);
	CHECK(r.n_headers <= API_MAX_RESP_HEADERS);
	if (r.text == NULL) {
		CHECK(r.json != NULL);
		body = json_dumps(r.json, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
		CHECK(body != NULL);
		if (debug)
			fprintf(stderr, "%s %s -> %d %.300s\n", rq.method, rq.path,
			    r.status, body);
		free(body);
	}
	api_resp_cleanup(&r);
	request_free(&rq);
	return 0;
}
