/* http_log.c - the access log: one line per request, its metrics, and
 * the query as logged (secrets redacted). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "http_internal.h"
#include "poky/clock.h"
#include "poky/log.h"
#include "poky/metrics.h"
#include "poky/str.h"

/* The method as a metrics label: the client chooses it, and every new
 * value would be a new series (crowding out real ones at the bound). */
static const char *
method_label(const char *method)
{
	static const char *const known[] = { "GET", "HEAD", "POST", "PUT",
		"DELETE", "PATCH", "OPTIONS", NULL };

	for (int i = 0; known[i]; i++)
		if (strcmp(method, known[i]) == 0)
			return known[i];
	return "other";
}

/* Query argument names whose values never reach a log line.  Matched as
 * substrings of the (lower-cased) name: "X-Amz-Signature", "access_token"
 * and "db_password" all match. */
static bool
query_name_secret(const char *name, size_t n)
{
	static const char *const words[] = { "token", "secret", "passw", "pwd",
		"signature", "credential", "auth", "session", "apikey", "api_key",
		"api-key", "access_key", "private", NULL };
	char low[64];

	if (n >= sizeof(low))
		return true;    /* a name this long: don't guess, hide it */
	for (size_t i = 0; i < n; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[n] = '\0';
	for (int i = 0; words[i] != NULL; i++)
		if (strstr(low, words[i]) != NULL)
			return true;
	return false;
}

/* Append n bytes to out (len so far in *len); false once it is full. */
static bool
put_cut(char *out, size_t cap, size_t *len, const char *p, size_t n)
{
	if (*len + n >= cap)
		return false;
	memcpy(out + *len, p, n);
	*len += n;
	out[*len] = '\0';
	return true;
}

void
http_log_query(char *out, size_t cap, const char *query)
{
	const char *p = query;
	size_t len = 0;
	bool ok = true;

	if (cap == 0)
		return;
	out[0] = '\0';
	if (query == NULL || cap < 4)
		return;
	while (ok && *p != '\0') {
		size_t n = strcspn(p, "&");
		size_t k = strcspn(p, "=&");

		if (len > 0)
			ok = put_cut(out, cap, &len, "&", 1);
		if (ok && query_name_secret(p, k))
			ok = put_cut(out, cap, &len, p, k) && (k == n ||
			    put_cut(out, cap, &len, "=REDACTED", 9));
		else if (ok)
			ok = put_cut(out, cap, &len, p, n);
		p += n;
		if (*p == '&')
			p++;
	}
	if (!ok) {
		/* Cut: never in the middle of a value that was redacted,
		 * since the cut text comes from what was written. */
		len = len < cap - 4 ? len : cap - 4;
		memcpy(out + len, "...", 4);
	}
}

/* Load balancer and monitoring probes: at debug while they succeed, so
 * they don't bury the requests that matter. */
static bool
probe_route(const char *route)
{
	return strcmp(route, "/healthz") == 0 || strcmp(route, "/readyz") == 0 ||
	    strcmp(route, "/metrics") == 0;
}

/* One line per request: what was asked (method, path with its ids, query
 * without secrets), the answer (status, bytes), how long, and who (client
 * address, user agent, token name, request id).  bytes is the body as it
 * will be sent. */
void
http_access_log(struct app *app, const struct http_conn *c, const char *method,
	   const char *path, const char *query, const char *route, int status,
	   size_t bytes, const char *who)
{
	double dt = clock_mono() - c->t0;
	char code[8], q[256], pth[256], ua[160];
	const char *agent = http_conn_find(c, "user-agent");
	enum log_level lvl = probe_route(route) && status < 400 ?
	    LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;

	snprintf(code, sizeof(code), "%d", status);
	str_copy(pth, sizeof(pth), path != NULL ? path : "");
	str_copy(ua, sizeof(ua), agent != NULL ? agent : "");
	http_log_query(q, sizeof(q), query);
	log_set_request_id(c->reqid);
	log_fields(lvl, LOG_FIELDS(LF_STR("method", method), LF_STR("path", pth),
	    LF_STR("query", q[0] ? q : NULL), LF_STR("route", route),
	    LF_INT("http_status", status), LF_INT("bytes", bytes),
	    LF_NUM("duration_ms", dt * 1000),
	    LF_STR("client_addr", c->client[0] ? c->client : NULL),
	    LF_STR("user_agent", agent != NULL ? ua : NULL),
	    LF_STR("token_name", who)),
	    "%s %s%s%s %d %zuB %.1fms %s \"%s\" %s", method, pth, q[0] ? "?" : "",
	    q, status, bytes, dt * 1000, c->client[0] ? c->client : "-",
	    agent != NULL ? ua : "-", who ? who : "-");
	log_set_request_id(NULL);
	metrics_add(app->metrics, "poky_http_requests_total", 1, "method",
	    method_label(method), "route", route, "code", code, METRICS_END);
	metrics_observe(app->metrics, "poky_http_request_duration_seconds", dt,
	    "route", route, METRICS_END);
}
