/* awsreq.c - signed AWS requests with standard retries (see awsreq.h). */
#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "poky/awsreq.h"
#include "poky/buf.h"
#include "poky/clock.h"
#include "poky/crypto.h"
#include "poky/log.h"
#include "poky/profile.h"
#include "poky/str.h"
#include "poky/version.h"
#include "poky/xml.h"

#define MAX_BACKOFF_MS AWS_MAX_BACKOFF_MS
#define QUOTA_MAX 500
#define QUOTA_RETRY_COST 5
#define QUOTA_TIMEOUT_COST 10
#define QUOTA_SUCCESS_INCREMENT 1
#define MAX_ATTEMPTS_LIMIT 10
#define SKEW_THRESHOLD 60               /* seconds of offset worth correcting */
#define MAX_REQ_HEADERS 64

enum aws_service { SVC_ECS, SVC_S3, SVC_STS, SVC_LOGS, SVC__COUNT };

static const char *const svc_names[SVC__COUNT] = { "ecs", "s3", "sts", "logs" };
static const char *const svc_env[SVC__COUNT] = {
	"AWS_ENDPOINT_URL_ECS", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_STS",
	"AWS_ENDPOINT_URL_LOGS",
};

struct endpoint {
	char base[AWS_URL_MAX];         /* scheme://host[:port][/prefix] */
	char scheme[8];                 /* "http" or "https" */
	char host[256];                 /* the Host header: host[:non-default port] */
	char prefix[256];               /* path prefix, "" or "/x" */
	bool custom;
};

struct aws_client {
	char region[AWS_REGION_MAX];
	struct endpoint ep[SVC__COUNT];
	int max_attempts;
	long retry_base_ms;
	int s3_addressing;
	struct httpc_config http;
	char *ca_file;
	struct aws_creds_source creds;
	pthread_key_t conn_key;         /* this thread's struct httpc */
	bool conn_key_ok;
	pthread_mutex_t quota_lock;
	int quota;
	atomic_long skew;
	aws_observer_fn observer;
	void *observer_ud;
	char ua[AWS_UA_MAX], xua[AWS_UA_MAX];
};

/* ---- user agent ----------------------------------------------------------- */

/* Keep only what a User-Agent token may hold (RFC 9110 token characters);
 * uname's fields are the system's, but never trust them into a header. */
static void
ua_token(char *s)
{
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && strchr("!#$%&'*+-.^_`|~", *s) == NULL)
			*s = '_';
}

void
aws_user_agent(const char *app, char *ua, size_t ua_cap, char *xua,
	       size_t xua_cap)
{
	struct utsname u;
	char os[32] = "linux", arch[32] = "unknown", name[32];

	if (uname(&u) == 0) {
		str_copy(arch, sizeof(arch), u.machine);
		str_copy(os, sizeof(os), u.sysname);
		for (char *p = os; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	str_copy(name, sizeof(name), app != NULL && *app != '\0' ? app : "poky");
	ua_token(os);
	ua_token(arch);
	ua_token(name);
	snprintf(ua, ua_cap, "poky/%s (%s; %s %s)", POKY_VERSION, name, os, arch);
	snprintf(xua, xua_cap, "poky/%s ua/2.0 os/%s md/arch#%s app/%s",
	    POKY_VERSION, os, arch, name);
}

/* ---- endpoints ------------------------------------------------------------ */

static int
svc_index(const char *service)
{
	for (int i = 0; i < SVC__COUNT; i++)
		if (strcmp(svc_names[i], service) == 0)
			return i;
	return -1;
}

/* Split "scheme://authority[/prefix]" into ep.  The Host header drops a
 * port that is the scheme's default, as HTTP clients do on the wire. */
static enum poky_err
endpoint_parse(struct endpoint *ep, const char *url, bool custom,
	       struct poky_error *e)
{
	const char *auth, *slash;
	size_t alen;

	memset(ep, 0, sizeof(*ep));
	if (strncmp(url, "https://", 8) == 0) {
		strcpy(ep->scheme, "https");
		auth = url + 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		strcpy(ep->scheme, "http");
		auth = url + 7;
	} else {
		return poky_error_set(e, POKY_ERR_INVALID,
		    "endpoint URL '%.200s' must start with http:// or https://", url);
	}
	slash = strchr(auth, '/');
	alen = slash ? (size_t)(slash - auth) : strlen(auth);
	if (alen == 0 || alen >= sizeof(ep->host) || strchr(url, '?') ||
	    strchr(url, '#') || memchr(auth, '@', alen))
		return poky_error_set(e, POKY_ERR_INVALID,
		    "endpoint URL '%.200s' has no valid host", url);
	for (size_t i = 0; i < alen; i++)
		if ((unsigned char)auth[i] <= ' ' || auth[i] == 0x7f)
			return poky_error_set(e, POKY_ERR_INVALID,
			    "endpoint URL '%.200s' has no valid host", url);
	memcpy(ep->host, auth, alen);
	ep->host[alen] = '\0';
	/* host:443 on https and host:80 on http are sent without the port. */
	{
		char *colon = strrchr(ep->host, ':');
		char *bracket = strrchr(ep->host, ']');

		if (colon != NULL && (bracket == NULL || colon > bracket) &&
		    ((strcmp(ep->scheme, "https") == 0 && strcmp(colon, ":443") == 0) ||
		     (strcmp(ep->scheme, "http") == 0 && strcmp(colon, ":80") == 0)))
			*colon = '\0';
	}
	if (slash != NULL) {
		size_t plen = strlen(slash);

		while (plen > 0 && slash[plen - 1] == '/')
			plen--;
		if (plen >= sizeof(ep->prefix))
			return poky_error_set(e, POKY_ERR_INVALID,
			    "endpoint URL path too long");
		memcpy(ep->prefix, slash, plen);
		ep->prefix[plen] = '\0';
	}
	if ((size_t)snprintf(ep->base, sizeof(ep->base), "%s://%s%s", ep->scheme,
	    ep->host, ep->prefix) >= sizeof(ep->base))
		return poky_error_set(e, POKY_ERR_INVALID, "endpoint URL too long");
	ep->custom = custom;
	return POKY_OK;
}

static const char *
nonempty(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : NULL;
}

static bool
env_true(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

/* Service variable, then AWS_ENDPOINT_URL, then the config's service key,
 * then its global key, then AWS's default - the SDKs' order. */
static enum poky_err
endpoint_resolve(struct aws_client *c, int svc, const struct aws_config *cfg,
		 struct poky_error *e)
{
	const char *cfg_svc[SVC__COUNT] = { cfg->ecs_endpoint_url,
		cfg->s3_endpoint_url, cfg->sts_endpoint_url, cfg->logs_endpoint_url };
	const char *url = NULL;
	char def[AWS_URL_MAX];
	const char *suffix = strncmp(c->region, "cn-", 3) == 0 ?
	    "amazonaws.com.cn" : "amazonaws.com";

	/* A client made for one explicit endpoint (the worker's source) is not
	 * redirected by the environment. */
	if (cfg->endpoints_over_env)
		url = nonempty(cfg_svc[svc]) ? cfg_svc[svc] : nonempty(cfg->endpoint_url);
	if (url == NULL && !env_true("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")) {
		url = nonempty(getenv(svc_env[svc]));
		if (url == NULL)
			url = nonempty(getenv("AWS_ENDPOINT_URL"));
		if (url == NULL)
			url = nonempty(cfg_svc[svc]);
		if (url == NULL)
			url = nonempty(cfg->endpoint_url);
	}
	if (url != NULL)
		return endpoint_parse(&c->ep[svc], url, true, e);
	snprintf(def, sizeof(def), "https://%s.%s.%s", svc_names[svc], c->region,
	    suffix);
	return endpoint_parse(&c->ep[svc], def, false, e);
}

/* ---- client --------------------------------------------------------------- */

static void
conn_free(void *p)
{
	httpc_free(p);
}

long
aws_env_long(const char *name, long def, long lo, long hi)
{
	const char *v = getenv(name);
	char *end;
	long x;

	if (v == NULL || *v == '\0')
		return def;
	x = strtol(v, &end, 10);
	if (*end != '\0' || x < lo || x > hi) {
		log_warnx("ignoring %s=%.40s: want a number %ld..%ld", name, v, lo, hi);
		return def;
	}
	return x;
}

struct aws_client *
aws_client_new(const struct aws_config *cfg, struct poky_error *e)
{
	static const struct aws_config none;
	struct aws_client *c;
	const char *ca;

	if (cfg == NULL)
		cfg = &none;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&c->quota_lock, NULL);
	c->quota = QUOTA_MAX;
	atomic_init(&c->skew, 0);
	aws_user_agent(cfg->app_name, c->ua, sizeof(c->ua), c->xua, sizeof(c->xua));
	profile_region(cfg->profile, c->region, sizeof(c->region));
	if (c->region[0] == '\0' && nonempty(cfg->region))
		str_copy(c->region, sizeof(c->region), cfg->region);
	if (c->region[0] == '\0')
		strcpy(c->region, "us-east-1");
	for (int i = 0; i < SVC__COUNT; i++)
		if (endpoint_resolve(c, i, cfg, e) != POKY_OK)
			goto fail;
	c->max_attempts = cfg->max_attempts > 0 ? cfg->max_attempts :
	    (int)aws_env_long("AWS_MAX_ATTEMPTS", 3, 1, MAX_ATTEMPTS_LIMIT);
	if (c->max_attempts > MAX_ATTEMPTS_LIMIT)
		c->max_attempts = MAX_ATTEMPTS_LIMIT;
	c->retry_base_ms = cfg->retry_base_ms > 0 ? cfg->retry_base_ms :
	    aws_env_long("POKY_RETRY_BASE_MS", 1000, 1, 60000);
	c->s3_addressing = cfg->s3_addressing;
	if (c->s3_addressing == AWS_S3_ADDR_AUTO) {
		const char *st = getenv("POKY_S3_ADDRESSING_STYLE");

		if (st != NULL && strcmp(st, "path") == 0)
			c->s3_addressing = AWS_S3_ADDR_PATH;
		else if (st != NULL && strcmp(st, "virtual") == 0)
			c->s3_addressing = AWS_S3_ADDR_VIRTUAL;
	}
	c->http.connect_timeout_ms = cfg->connect_timeout_ms;
	c->http.timeout_ms = cfg->timeout_ms;
	c->http.stall_seconds = cfg->stall_seconds;
	ca = nonempty(cfg->ca_file) ? cfg->ca_file : nonempty(getenv("AWS_CA_BUNDLE"));
	if (ca != NULL && (c->ca_file = strdup(ca)) == NULL) {
		poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
		goto fail;
	}
	c->http.ca_file = c->ca_file;
	if (pthread_key_create(&c->conn_key, conn_free) != 0) {
		poky_error_set(e, POKY_ERR_NOMEM, "no thread key");
		goto fail;
	}
	c->conn_key_ok = true;
	httpc_global_init();
	return c;
fail:
	aws_client_free(c);
	return NULL;
}

void
aws_client_free(struct aws_client *c)
{
	if (c == NULL)
		return;
	if (c->conn_key_ok) {
		httpc_free(pthread_getspecific(c->conn_key));
		pthread_setspecific(c->conn_key, NULL);
		pthread_key_delete(c->conn_key);
	}
	if (c->creds.release != NULL)
		c->creds.release(c->creds.ud);
	pthread_mutex_destroy(&c->quota_lock);
	free(c->ca_file);
	free(c);
}

const char *
aws_client_region(const struct aws_client *c)
{
	return c->region;
}

void
aws_client_set_creds(struct aws_client *c, const struct aws_creds_source *src)
{
	c->creds = *src;
}

enum poky_err
aws_client_creds_get(struct aws_client *c, struct aws_creds *out,
		     struct poky_error *e)
{
	memset(out, 0, sizeof(*out));
	if (c->creds.get == NULL)
		return poky_error_set(e, POKY_ERR_AUTH,
		    "no credentials source for this AWS client");
	return c->creds.get(c->creds.ud, out, e);
}

void
aws_client_creds_invalidate(struct aws_client *c)
{
	if (c->creds.invalidate != NULL)
		c->creds.invalidate(c->creds.ud);
}

const char *
aws_client_endpoint(const struct aws_client *c, const char *service)
{
	int i = svc_index(service);

	return i < 0 ? NULL : c->ep[i].base;
}

int
aws_client_endpoint_custom(const struct aws_client *c, const char *service)
{
	int i = svc_index(service);

	return i >= 0 && c->ep[i].custom;
}

int
aws_client_s3_addressing(const struct aws_client *c)
{
	return c->s3_addressing;
}

void
aws_client_set_observer(struct aws_client *c, aws_observer_fn fn, void *ud)
{
	c->observer = fn;
	c->observer_ud = ud;
}

static struct httpc *
conn_get(struct aws_client *c)
{
	struct httpc *h = pthread_getspecific(c->conn_key);

	if (h == NULL) {
		h = httpc_new(&c->http);
		if (h != NULL && pthread_setspecific(c->conn_key, h) != 0) {
			httpc_free(h);
			h = NULL;
		}
	}
	return h;
}

/* ---- errors --------------------------------------------------------------- */

static const char *const throttling_codes[] = {
	"Throttling", "ThrottlingException", "ThrottledException",
	"RequestThrottledException", "TooManyRequestsException",
	"ProvisionedThroughputExceededException", "TransactionInProgressException",
	"RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException",
	"RequestThrottled", "SlowDown", "PriorRequestNotComplete",
	"EC2ThrottledException", NULL,
};

static const char *const transient_codes[] = {
	"RequestTimeout", "RequestTimeoutException", "InternalError",
	"ServiceUnavailable", "InternalFailure", "ServerException", NULL,
};

static const char *const skew_codes[] = {
	"RequestTimeTooSkewed", "RequestExpired", "RequestInTheFuture",
	"InvalidSignatureException", "SignatureDoesNotMatch", "AuthFailure",
	NULL,
};

static bool
in_list(const char *code, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(code, *list) == 0)
			return true;
	return false;
}

int
aws_error_is_throttling(const char *code)
{
	return code != NULL && in_list(code, throttling_codes);
}

int
aws_error_is_clock_skew(const char *code)
{
	return code != NULL && in_list(code, skew_codes);
}

/* "com.amazonaws.ecs#ClientException:http://..." -> "ClientException" */
static void
set_code(struct poky_error *e, const char *raw)
{
	const char *hash = strrchr(raw, '#');
	size_t n;

	if (hash != NULL)
		raw = hash + 1;
	n = strcspn(raw, ":");
	if (n >= sizeof(e->aws_code))
		n = sizeof(e->aws_code) - 1;
	memcpy(e->aws_code, raw, n);
	e->aws_code[n] = '\0';
}

static void
set_message(struct poky_error *e, const char *msg)
{
	if (msg != NULL && *msg != '\0')
		snprintf(e->message, sizeof(e->message), "%s", msg);
}

static void
parse_json_error(const struct httpc_response *r, struct poky_error *e)
{
	json_error_t jerr;
	json_t *j = json_loadb(r->body.data, r->body.len, 0, &jerr);
	const char *s;

	if (!json_is_object(j)) {
		json_decref(j);
		return;
	}
	if ((s = json_string_value(json_object_get(j, "__type"))) != NULL ||
	    (s = json_string_value(json_object_get(j, "code"))) != NULL ||
	    (s = json_string_value(json_object_get(j, "Code"))) != NULL)
		set_code(e, s);
	if ((s = json_string_value(json_object_get(j, "message"))) != NULL ||
	    (s = json_string_value(json_object_get(j, "Message"))) != NULL ||
	    (s = json_string_value(json_object_get(j, "errorMessage"))) != NULL)
		set_message(e, s);
	json_decref(j);
}

static void
parse_xml_error(const struct httpc_response *r, struct poky_error *e)
{
	struct xml_doc doc;
	const struct xml_node *err;
	const char *s;

	if (xml_parse(&doc, r->body.data, r->body.len, NULL) != POKY_OK)
		return;
	/* S3: <Error>; STS and other query services: <ErrorResponse><Error>. */
	err = strcmp(xml_local_name(doc.root), "Error") == 0 ? doc.root :
	    xml_child(doc.root, "Error");
	if (err != NULL) {
		if ((s = xml_path_text(err, "Code")) != NULL && *s != '\0')
			set_code(e, s);
		set_message(e, xml_path_text(err, "Message"));
		if ((s = xml_path_text(err, "RequestId")) != NULL ||
		    (s = xml_path_text(doc.root, "RequestId")) != NULL)
			str_copy(e->request_id, sizeof(e->request_id), s);
	}
	xml_doc_free(&doc);
}

enum poky_err
aws_error_from_response(const struct httpc_response *r, struct poky_error *e)
{
	struct poky_error tmp;
	const char *body = r->body.data ? r->body.data : "";
	const char *h;
	long st = r->status;
	size_t i = 0;

	if (e == NULL)
		e = &tmp;
	poky_error_set(e, POKY_ERR_REMOTE, "HTTP %ld", st);
	e->http_status = (int)st;
	while (i < r->body.len && isspace((unsigned char)body[i]))
		i++;
	if (i < r->body.len && body[i] == '{')
		parse_json_error(r, e);
	else if (i < r->body.len && body[i] == '<')
		parse_xml_error(r, e);
	if (e->aws_code[0] == '\0' &&
	    (h = httpc_response_header(r, "x-amzn-errortype")) != NULL)
		set_code(e, h);
	if (e->aws_code[0] == '\0')
		/* HEAD answers carry no body: name the status like botocore. */
		snprintf(e->aws_code, sizeof(e->aws_code), "%s",
		    st == 404 ? "NotFound" : st == 403 ? "Forbidden" :
		    st == 400 ? "BadRequest" : st == 301 ? "PermanentRedirect" :
		    st >= 500 ? "ServerError" : "HTTPError");
	if (e->request_id[0] == '\0' &&
	    ((h = httpc_response_header(r, "x-amzn-requestid")) != NULL ||
	     (h = httpc_response_header(r, "x-amz-request-id")) != NULL))
		str_copy(e->request_id, sizeof(e->request_id), h);
	if ((h = httpc_response_header(r, "x-amz-retry-after")) != NULL) {
		long ms = strtol(h, NULL, 10);

		if (ms > 0)
			e->retry_after_ms = (int)(ms > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : ms);
	}
	e->retryable = st == 500 || st == 502 || st == 503 || st == 504 ||
	    st == 429 || in_list(e->aws_code, throttling_codes) ||
	    in_list(e->aws_code, transient_codes);
	e->code = e->retryable ? POKY_ERR_TRANSIENT : POKY_ERR_REMOTE;
	return e->code;
}

/* ---- retries -------------------------------------------------------------- */

long
aws_backoff_ms(int attempt, long base_ms, double r)
{
	long cap = base_ms;

	for (int i = 1; i < attempt && cap < MAX_BACKOFF_MS; i++)
		cap *= 2;
	if (cap > MAX_BACKOFF_MS)
		cap = MAX_BACKOFF_MS;
	return (long)(r * (double)cap);
}

static bool
quota_take(struct aws_client *c, int cost)
{
	bool ok;

	pthread_mutex_lock(&c->quota_lock);
	ok = c->quota >= cost;
	if (ok)
		c->quota -= cost;
	pthread_mutex_unlock(&c->quota_lock);
	return ok;
}

static void
quota_refund(struct aws_client *c, int amount)
{
	pthread_mutex_lock(&c->quota_lock);
	c->quota += amount;
	if (c->quota > QUOTA_MAX)
		c->quota = QUOTA_MAX;
	pthread_mutex_unlock(&c->quota_lock);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* On a skew error, take the server's clock from its Date header; true when
 * that moved our offset enough to be worth another attempt. */
static bool
skew_correct(struct aws_client *c, const struct httpc_response *r,
	     const struct poky_error *e)
{
	time_t server;
	long offset, old = atomic_load(&c->skew);

	if (!aws_error_is_clock_skew(e->aws_code) ||
	    !str_time_parse_http(httpc_response_header(r, "date"), &server))
		return false;
	offset = (long)(server - time(NULL));
	if (labs(offset - old) < SKEW_THRESHOLD)
		return false;
	atomic_store(&c->skew, offset);
	log_warnx("clock differs from %s's by %ld s; correcting signatures",
	    "AWS", offset);
	return true;
}

/* ---- sending -------------------------------------------------------------- */

/* Counts what a streamed download handed to the caller, so a failure after
 * the first byte is never retried into a writer that already has data. */
struct write_guard {
	const struct aws_request *rq;
	int64_t delivered;
};

static int
guarded_write(void *ud, const char *p, size_t n)
{
	struct write_guard *g = ud;

	g->delivered += (int64_t)n;
	return g->rq->write(g->rq->write_ud, p, n);
}

static enum poky_err
attempt_once(struct aws_client *c, struct httpc *h, const struct aws_request *rq,
	     const struct endpoint *ep, struct httpc_response *resp,
	     struct write_guard *guard, struct poky_error *e)
{
	struct hdr hs[MAX_REQ_HEADERS + SIGV4_MAX_ADDED + 3];
	struct sigv4_result sig;
	struct aws_creds cr;
	struct sigv4_creds sc;
	struct buf url, target, host;
	size_t n = 0;
	enum poky_err rc;

	sigv4_result_init(&sig);
	buf_init(&url, AWS_URL_MAX + SIGV4_MAX_TARGET);
	buf_init(&target, SIGV4_MAX_TARGET);
	buf_init(&host, 512);
	memset(&cr, 0, sizeof(cr));
	if (rq->n_headers > MAX_REQ_HEADERS) {
		rc = poky_error_set(e, POKY_ERR_LIMIT, "too many headers");
		goto out;
	}
	if ((rc = buf_printf(&host, "%s%s", rq->host_prefix ? rq->host_prefix : "",
	    ep->host)) ||
	    (rc = buf_printf(&target, "%s%s%s%s", ep->prefix, rq->path,
	    rq->query ? "?" : "", rq->query ? rq->query : "")) ||
	    (rc = buf_printf(&url, "%s://%s%s", ep->scheme, host.data,
	    target.data))) {
		poky_error_set(e, rc, "request URL too long");
		goto out;
	}
	hs[n++] = (struct hdr){ "Host", 4, host.data, host.len };
	hs[n++] = (struct hdr){ "User-Agent", 10, c->ua, strlen(c->ua) };
	hs[n++] = (struct hdr){ "x-amz-user-agent", 16, c->xua, strlen(c->xua) };
	for (size_t i = 0; i < rq->n_headers; i++)
		hs[n++] = rq->headers[i];

	if (!rq->unsigned_request) {
		struct sigv4_request sr = {
			.method = rq->method, .target = target.data,
			.target_len = target.len, .headers = hs, .n_headers = n,
			.body = rq->body, .body_len = rq->body_len,
			.payload_hash = rq->payload_hash,
		};
		struct sigv4_params sp = {
			.region = c->region, .service = rq->service,
			.time = time(NULL) + atomic_load(&c->skew),
			.flags = rq->sign_flags,
		};

		if (rq->creds != NULL) {
			sc = *rq->creds;
		} else {
			if ((rc = aws_client_creds_get(c, &cr, e)) != POKY_OK)
				goto out;
			sc.access_key_id = cr.access_key_id;
			sc.secret_access_key = cr.secret_access_key;
			sc.session_token = cr.session_token;
		}
		if (rq->read != NULL && rq->payload_hash == NULL)
			sp.flags |= SIGV4_UNSIGNED_PAYLOAD;
		if ((rc = sigv4_sign(&sr, &sp, &sc, &sig, e)) != POKY_OK)
			goto out;
		for (size_t i = 0; i < sig.n_added; i++)
			hs[n++] = sig.added[i];
	}

	struct httpc_request hr = {
		.method = rq->method, .url = url.data, .headers = hs,
		.n_headers = n, .body = rq->body, .body_len = rq->body_len,
		.read = rq->read, .read_ud = rq->read_ud, .upload_len = rq->upload_len,
		.write = rq->write ? guarded_write : NULL, .write_ud = guard,
		.timeout_ms = rq->timeout_ms, .no_body = rq->no_body,
	};
	rc = httpc_perform(h, &hr, resp, e);
out:
	sigv4_result_cleanup(&sig);
	crypto_wipe(&cr, sizeof(cr));
	buf_free(&url);
	buf_free(&target);
	buf_free(&host);
	return rc;
}

/* The attempts loop of aws_send; *attempts and *throttles count what was
 * sent and how much of it was throttled. */
static enum poky_err
send_attempts(struct aws_client *c, const struct aws_request *rq,
	      struct httpc_response *resp, struct poky_error *e,
	      int *attempts, int *throttles)
{
	struct httpc *h;
	int svc = svc_index(rq->service);
	int attempt, last_cost = 0;
	bool creds_retried = false, maybe_processed = false;
	struct write_guard guard = { .rq = rq };
	enum poky_err rc = POKY_OK;

	if (svc < 0)
		return poky_error_set(e, POKY_ERR_INVALID, "unknown service '%s'",
		    rq->service);
	if (rq->path == NULL || rq->path[0] != '/')
		return poky_error_set(e, POKY_ERR_INVALID, "path must start with '/'");
	if ((h = conn_get(c)) == NULL)
		return poky_error_set(e, POKY_ERR_NOMEM, "cannot create HTTP client");

	for (attempt = 1; attempt <= c->max_attempts; attempt++) {
		long delay;

		rc = attempt_once(c, h, rq, &c->ep[svc], resp, &guard, e);
		/* Counted once something was sent: a request that could not
		 * be signed never left. */
		if (rc == POKY_OK || rc == POKY_ERR_TRANSIENT)
			*attempts = attempt;
		if (rc == POKY_OK && resp->status >= 200 && resp->status < 300) {
			quota_refund(c, last_cost ? last_cost : QUOTA_SUCCESS_INCREMENT);
			return POKY_OK;
		}
		if (rc == POKY_OK) {
			rc = aws_error_from_response(resp, e);
			if (resp->status == 429 || aws_error_is_throttling(e->aws_code)) {
				(*throttles)++;
				if (rq->no_throttle_retry)
					break;
			}
			if (skew_correct(c, resp, e))
				e->retryable = 1;
			/* Expired temporary credentials: fetch new ones, once. */
			if (!creds_retried && rq->creds == NULL &&
			    (strcmp(e->aws_code, "ExpiredToken") == 0 ||
			     strcmp(e->aws_code, "ExpiredTokenException") == 0)) {
				aws_client_creds_invalidate(c);
				creds_retried = true;
				e->retryable = 1;
			}
		} else if (rc != POKY_ERR_TRANSIENT) {
			return rc;      /* no credentials, bad URL, no memory */
		}
		/* No answer or a 5xx: the service may have acted on it, and
		 * a later definite refusal (throttling) does not undo that. */
		if (e->http_status == 0 || e->http_status >= 500)
			maybe_processed = true;
		log_debug("aws %s %s attempt %d/%d: %s%s%s", rq->service,
		    rq->operation ? rq->operation : rq->method, attempt,
		    c->max_attempts, e->aws_code, e->aws_code[0] ? ": " : "",
		    e->message);
		if (!e->retryable || attempt == c->max_attempts)
			break;
		if (guard.delivered > 0)
			break;          /* the writer has part of a body already */
		if (rq->read != NULL && (rq->rewind == NULL ||
		    rq->rewind(rq->read_ud) != 0))
			break;          /* the stream can't be sent again */
		last_cost = e->timeout ? QUOTA_TIMEOUT_COST : QUOTA_RETRY_COST;
		if (!quota_take(c, last_cost)) {
			log_warnx("aws %s: retry quota exhausted, not retrying",
			    rq->service);
			break;
		}
		delay = e->retry_after_ms > 0 ? e->retry_after_ms :
		    aws_backoff_ms(attempt, c->retry_base_ms,
		    (double)arc4random() / 4294967296.0);
		if (delay > 0)
			sleep_ms(delay);
	}
	if (rc == POKY_OK)
		rc = POKY_ERR_REMOTE;
	e->code = e->retryable ? POKY_ERR_TRANSIENT : rc;
	e->maybe_processed = maybe_processed;
	return e->code;
}

static const char *
call_outcome(enum poky_err rc, const struct poky_error *e)
{
	if (rc == POKY_OK)
		return "ok";
	if (e->http_status == 429 || aws_error_is_throttling(e->aws_code))
		return "throttled";
	if (e->http_status >= 500)
		return "server_error";
	if (e->http_status == 0 && (rc == POKY_ERR_TRANSIENT ||
	    rc == POKY_ERR_REMOTE || rc == POKY_ERR_IO))
		return "network";       /* no answer, or a TLS peer refused */
	return "client_error";
}

enum poky_err
aws_send(struct aws_client *c, const struct aws_request *rq,
	 struct httpc_response *resp, struct poky_error *e)
{
	struct poky_error tmp;
	int attempts = 0, throttles = 0;
	double t0;
	enum poky_err rc;

	if (e == NULL)
		e = &tmp;
	poky_error_clear(e);
	t0 = clock_mono();
	rc = send_attempts(c, rq, resp, e, &attempts, &throttles);
	if (c->observer != NULL)
		c->observer(c->observer_ud, &(struct aws_call_stats){
		    .service = rq->service,
		    .operation = rq->operation ? rq->operation : rq->method,
		    .outcome = call_outcome(rc, e), .attempts = attempts,
		    .throttles = throttles,
		    .seconds = clock_mono() - t0 });
	return rc;
}
