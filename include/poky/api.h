/* api.h - pokyd's HTTP API, independent of the HTTP server.
 *
 * Handlers take a parsed request and fill a response (status, JSON body,
 * a few headers); they never see libmicrohttpd, so they are unit-tested by
 * calling them directly.  Errors are RFC 9457 problem documents. */
#ifndef POKY_API_H
#define POKY_API_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "poky/hdr.h"

struct app;

#define API_MAX_PATH_ARG 128
#define API_MAX_JSON_DEPTH 32

struct api_req {
	const char *method;
	const char *path;               /* decoded path, no query */
	const char *query;              /* raw query string or NULL */
	const struct hdr *headers;      /* names as sent; look up with api_header */
	size_t n_headers;
	const char *body;
	size_t body_len;
	const char *request_id;
	const char *token_name;         /* authenticated caller, NULL if anonymous */
	unsigned scopes;                /* the token's AUTH_* (anonymous: AUTH_ALL) */
	char arg[API_MAX_PATH_ARG];     /* the {id} or {name} of the route */
	const char *route;              /* the matched pattern, for logs/metrics */
	/* On a thread that serves HTTP: a handler that would wait on the
	 * network (S3 checks, a launch, the Docker engine) sets resp->defer
	 * instead, changing nothing, and is called again, with may_defer
	 * false, off the request threads.  Direct callers (tests) leave it
	 * false and get the answer at once. */
	bool may_defer;
	/* On an MHD thread, a handler that watches (?wait=) may set
	 * resp->wait instead of answering: it is called again when the task
	 * changes or at resp->wait_until, with wait_until set to that
	 * deadline (0 on the first call). */
	bool may_wait;
	double wait_until;
	const char *wait_etag;          /* the version first seen ("" at first) */
};

/* A body made while it is sent (SSE, a followed log).  read fills buf and
 * returns the bytes (> 0); 0 to wait until the task named in key (""
 * for any task) changes or *until (monotonic seconds) passes; -1 at the
 * end.  It runs on an MHD thread: no network waits in it.  free(ud) when
 * the response goes. */
struct api_stream {
	long (*read)(void *ud, char *buf, size_t max, char *key, size_t key_cap,
		     double *until);
	void (*free)(void *ud);
	void *ud;
};

#define API_MAX_RESP_HEADERS 8

struct api_resp {
	int status;
	json_t *json;                   /* body; owned by the response */
	const char *content_type;       /* NULL: application/json */
	char *text;                     /* a non-JSON body (malloc'd), or NULL */
	size_t text_len;
	struct {
		char name[32];
		char value[256];
	} headers[API_MAX_RESP_HEADERS];
	size_t n_headers;
	bool defer;                     /* see api_req.may_defer */
	bool wait;                      /* see api_req.may_wait */
	char wait_key[40];              /* the task watched */
	long long wait_seen;            /* watch_seq before the record was read */
	double wait_until;
	char wait_etag[40];             /* kept across the calls of a watch */
	struct api_stream *stream;      /* the body, sent as it is made */
	/* A body sent from an open file (a log) instead of memory: MHD
	 * streams it, so an answer costs no memory however slow its reader. */
	bool has_file;
	int file_fd;                    /* owned by the response */
	unsigned long long file_off, file_len;
};

typedef void (*api_handler)(struct app *app, struct api_req *req,
			    struct api_resp *resp);

struct api_route {
	const char *method;
	const char *pattern;            /* "/tasks/{id}": one {arg} at most */
	api_handler handler;
	bool open;                      /* no token needed */
	unsigned scope;                 /* AUTH_* a token needs one of (0: any) */
	/* Its answer may be large and is built in memory (a list): refused
	 * 503 while too many such answers wait for their clients (http.c). */
	bool large;
};

/* The route table, ended by a NULL method. */
extern const struct api_route api_routes[];

/* Match method and path.  NULL if nothing matches; *path_known is set when
 * the path matched some route with another method (405), with the allowed
 * methods written into allow. */
const struct api_route *api_match(const char *method, const char *path,
				  char *arg, size_t arg_cap, bool *path_known,
				  char *allow, size_t allow_cap);

void api_resp_init(struct api_resp *r);
void api_resp_cleanup(struct api_resp *r);
void api_resp_header(struct api_resp *r, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Error answers: api_fail() and api_fail_fields() of poky/problem.h, from
 * the one registry of statuses, problem types and titles. */

/* Value of a request header (case-insensitive name), or NULL. */
const char *api_header(const struct api_req *req, const char *name);

/* Value of a query parameter (decoded into out), or NULL if absent. */
const char *api_query(const struct api_req *req, const char *name, char *out,
		      size_t cap);

/* Deepest nesting of [ and { in a JSON text (strings skipped). */
int api_json_depth(const char *s, size_t n);

#endif
