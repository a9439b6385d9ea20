/* httpc.c - HTTP client over one reused libcurl easy handle (see httpc.h). */
#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "poky/httpc.h"
#include "poky/str.h"

#define HTTPC_STREAM_BUFFER (256L * 1024)
#define HTTPC_MAX_HEADER_BYTES (64u << 10)
#define HTTPC_MAX_REQ_HEADERS 128

struct httpc {
	CURL *curl;
	struct httpc_config cfg;
	char *ca_file;
	char *unix_socket;
};

struct transfer {
	const struct httpc_request *req;
	struct httpc_response *resp;
	CURL *curl;
	bool overflow;                  /* a buffer limit was hit */
	bool write_failed;              /* the caller's write() gave up */
	bool read_failed;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void
global_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

enum poky_err
httpc_url_split(const char *url, struct httpc_url *out)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	const char *h;
	size_t n;
	enum poky_err rc = POKY_ERR_INVALID;

	memset(out, 0, sizeof(*out));
	if (u == NULL)
		return POKY_ERR_NOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	/* curl gives IPv6 literals in brackets (and a zone id after '%'). */
	h = host;
	n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		out->ip6 = true;
		h++;
		n -= 2;
	}
	if (n >= sizeof(out->host) || !str_copy(out->scheme, sizeof(out->scheme), scheme))
		goto out;
	memcpy(out->host, h, n);
	out->host[n] = '\0';
	rc = POKY_OK;
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

void
httpc_global_init(void)
{
	pthread_once(&global_once, global_init_once);
}

void
httpc_global_cleanup(void)
{
	curl_global_cleanup();
}

struct httpc *
httpc_new(const struct httpc_config *cfg)
{
	struct httpc *h;

	httpc_global_init();
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	if (cfg != NULL)
		h->cfg = *cfg;
	if (h->cfg.connect_timeout_ms <= 0)
		h->cfg.connect_timeout_ms = 3000;
	if (h->cfg.timeout_ms <= 0)
		h->cfg.timeout_ms = 30000;
	h->ca_file = h->cfg.ca_file ? strdup(h->cfg.ca_file) : NULL;
	h->unix_socket = h->cfg.unix_socket ? strdup(h->cfg.unix_socket) : NULL;
	h->curl = curl_easy_init();
	if (h->curl == NULL || (h->cfg.ca_file && !h->ca_file) ||
	    (h->cfg.unix_socket && !h->unix_socket)) {
		httpc_free(h);
		return NULL;
	}
	return h;
}

void
httpc_free(struct httpc *h)
{
	if (h == NULL)
		return;
	if (h->curl != NULL)
		curl_easy_cleanup(h->curl);
	free(h->ca_file);
	free(h->unix_socket);
	free(h);
}

void
httpc_response_init(struct httpc_response *r, size_t max_body)
{
	r->status = 0;
	r->n_headers = 0;
	buf_init(&r->body, max_body ? max_body : HTTPC_DEFAULT_MAX_BODY);
	buf_init(&r->headers, HTTPC_MAX_HEADER_BYTES);
}

void
httpc_response_reset(struct httpc_response *r)
{
	r->status = 0;
	r->n_headers = 0;
	buf_reset(&r->body);
	buf_reset(&r->headers);
}

void
httpc_response_cleanup(struct httpc_response *r)
{
	buf_free(&r->body);
	buf_free(&r->headers);
}

const char *
httpc_response_header(const struct httpc_response *r, const char *lname)
{
	const char *p = r->headers.data, *found = NULL;

	for (size_t i = 0; i < r->n_headers; i++) {
		const char *v = p + strlen(p) + 1;

		if (strcmp(p, lname) == 0)
			found = v;
		p = v + strlen(v) + 1;
	}
	return found;
}

/* Header lines arrive one per call; a new status line (after a 100 or a
 * redirect) starts the list afresh. */
static size_t
on_header(char *p, size_t size, size_t n, void *ud)
{
	struct transfer *t = ud;
	struct httpc_response *r = t->resp;
	size_t len = size * n, nl, vs, ve;
	const char *colon;

	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		r->n_headers = 0;
		buf_reset(&r->headers);
		return len;
	}
	colon = memchr(p, ':', len);
	if (colon == NULL)
		return len;             /* the blank line, or junk */
	nl = (size_t)(colon - p);
	for (vs = nl + 1; vs < len && (p[vs] == ' ' || p[vs] == '\t'); vs++)
		;
	for (ve = len; ve > vs && isspace((unsigned char)p[ve - 1]); ve--)
		;
	size_t at = r->headers.len;
	if (buf_append(&r->headers, p, nl) || buf_append_byte(&r->headers, '\0') ||
	    buf_append(&r->headers, p + vs, ve - vs) ||
	    buf_append_byte(&r->headers, '\0')) {
		t->overflow = true;
		return 0;               /* abort: too many header bytes */
	}
	for (size_t i = 0; i < nl; i++)
		r->headers.data[at + i] = (char)tolower((unsigned char)r->headers.data[at + i]);
	r->n_headers++;
	return len;
}

static size_t
on_body(char *p, size_t size, size_t n, void *ud)
{
	struct transfer *t = ud;
	size_t len = size * n;
	long status = 0;

	curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
	if (t->req->write != NULL && status >= 200 && status < 300) {
		if (t->req->write(t->req->write_ud, p, len) != 0) {
			t->write_failed = true;
			return 0;
		}
		return len;
	}
	if (buf_append(&t->resp->body, p, len) != POKY_OK) {
		t->overflow = true;
		return 0;
	}
	return len;
}

static size_t
on_read(char *p, size_t size, size_t n, void *ud)
{
	struct transfer *t = ud;
	size_t got = t->req->read(t->req->read_ud, p, size * n);

	if (got == HTTPC_READ_ABORT) {
		t->read_failed = true;
		return CURL_READFUNC_ABORT;
	}
	return got;
}

static enum poky_err
fail_curl(struct poky_error *e, CURLcode cc, const struct transfer *t)
{
	enum poky_err code = POKY_ERR_TRANSIENT;

	if (t->overflow)
		return poky_error_set(e, POKY_ERR_LIMIT, "response too large");
	if (t->write_failed)
		return poky_error_set(e, POKY_ERR_IO, "download aborted by the receiver");
	if (t->read_failed)
		return poky_error_set(e, POKY_ERR_IO, "upload aborted by the sender");
	switch (cc) {
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		code = POKY_ERR_INVALID;
		break;
	case CURLE_OUT_OF_MEMORY:
		code = POKY_ERR_NOMEM;
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		/* A TLS identity problem will not fix itself on a retry. */
		code = POKY_ERR_REMOTE;
		break;
	default:
		break;
	}
	poky_error_set(e, code, "%s", curl_easy_strerror(cc));
	if (e != NULL) {
		e->retryable = code == POKY_ERR_TRANSIENT;
		e->timeout = cc == CURLE_OPERATION_TIMEDOUT;
	}
	return code;
}

enum poky_err
httpc_perform(struct httpc *h, const struct httpc_request *req,
	      struct httpc_response *resp, struct poky_error *e)
{
	struct transfer t = { .req = req, .resp = resp, .curl = h->curl };
	struct curl_slist *hl = NULL, *pin = NULL, *tmp;
	struct buf line;
	CURL *c = h->curl;
	CURLcode cc;
	enum poky_err rc = POKY_OK;
	bool has_expect = false, has_ctype = false;

	httpc_response_reset(resp);
	buf_init(&line, 16384);
	if (req->n_headers > HTTPC_MAX_REQ_HEADERS)
		return poky_error_set(e, POKY_ERR_LIMIT, "too many request headers");
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct hdr *x = &req->headers[i];

		buf_reset(&line);
		if (buf_append(&line, x->name, x->name_len) ||
		    buf_append(&line, x->value_len ? ": " : ";", x->value_len ? 2 : 1) ||
		    buf_append(&line, x->value, x->value_len)) {
			rc = poky_error_set(e, POKY_ERR_LIMIT, "request header too long");
			goto out;
		}
		if (str_ieq(x->name, x->name_len, "expect"))
			has_expect = true;
		if (str_ieq(x->name, x->name_len, "content-type"))
			has_ctype = true;
		if ((tmp = curl_slist_append(hl, line.data)) == NULL) {
			rc = poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
			goto out;
		}
		hl = tmp;
	}
	/* curl adds these on its own; none is wanted (the first costs a round
	 * trip, the second would be a lie for signed bodies). */
	{
		const char *blank[3] = { has_expect ? NULL : "Expect:",
			has_ctype ? NULL : "Content-Type:", "Accept:" };

		for (int i = 0; i < 3; i++) {
			if (blank[i] == NULL)
				continue;
			if ((tmp = curl_slist_append(hl, blank[i])) == NULL) {
				rc = poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
				goto out;
			}
			hl = tmp;
		}
	}

	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->cfg.connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
	    req->timeout_ms > 0 ? req->timeout_ms : h->cfg.timeout_ms);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	/* "/a/../b" is a real S3 key: send the path exactly as signed. */
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	if (h->ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
	if (h->unix_socket != NULL)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, h->unix_socket);
	if (req->resolve != NULL) {
		/* An entry replaces any earlier one for the same host:port in
		 * the handle's DNS cache. */
		if ((pin = curl_slist_append(NULL, req->resolve)) == NULL) {
			rc = poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
			goto out;
		}
		curl_easy_setopt(c, CURLOPT_RESOLVE, pin);
		curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	}
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
	/* Streamed bodies come and go in bigger pieces than curl's 16 KiB
	 * and 64 KiB defaults: fewer callbacks, wake-ups and send()s. */
	if (req->write != NULL)
		curl_easy_setopt(c, CURLOPT_BUFFERSIZE, HTTPC_STREAM_BUFFER);
	if (req->read != NULL)
		curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, HTTPC_STREAM_BUFFER);
	/* A long transfer may need the whole timeout, but a stalled one
	 * (a frozen peer) should not hold it: bytes must keep moving. */
	if ((req->write != NULL || req->read != NULL) && h->cfg.stall_seconds > 0) {
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, h->cfg.stall_seconds);
	}

	if (strcmp(req->method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (req->read != NULL) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, &t);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
		    (curl_off_t)req->upload_len);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	} else if (req->body != NULL || strcmp(req->method, "POST") == 0 ||
	    strcmp(req->method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)req->body_len);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	} else {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	}
	if (req->no_body)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);

	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		rc = fail_curl(e, cc, &t);
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	buf_reserve(&resp->body, 0);    /* body.data is never NULL after this */
out:
	curl_slist_free_all(hl);
	curl_slist_free_all(pin);
	buf_free(&line);
	return rc;
}
