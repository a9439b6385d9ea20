/* logs.c - CloudWatch Logs GetLogEvents (see logs.h). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poky/awsreq.h"
#include "poky/logs.h"
#include "poky/str.h"

#define LOGS_TARGET "Logs_20140328.GetLogEvents"
#define LOGS_MAX_RESPONSE (8u << 20)    /* a page is at most 1 MB of events */
#define LOGS_LIMIT_MAX 10000
#define LOGS_NAME_MAX 512               /* group and stream names */

json_t *
logs_get_events_body(const struct logs_get_events *in, struct poky_error *e)
{
	json_t *b;

	if (in->group == NULL || *in->group == '\0' || in->stream == NULL ||
	    *in->stream == '\0') {
		poky_error_set(e, POKY_ERR_INVALID, "log group and stream needed");
		return NULL;
	}
	if (strlen(in->group) > LOGS_NAME_MAX || strlen(in->stream) > LOGS_NAME_MAX) {
		poky_error_set(e, POKY_ERR_INVALID,
		    "log group and stream names are at most %d characters",
		    LOGS_NAME_MAX);
		return NULL;
	}
	if (in->limit < 0 || in->limit > LOGS_LIMIT_MAX) {
		poky_error_set(e, POKY_ERR_INVALID, "limit must be 1..%d",
		    LOGS_LIMIT_MAX);
		return NULL;
	}
	b = json_pack("{s:s, s:s, s:b}", "logGroupName", in->group,
	    "logStreamName", in->stream, "startFromHead",
	    in->start_from_head ? 1 : 0);
	if (b != NULL && in->next_token != NULL && *in->next_token != '\0' &&
	    json_object_set_new(b, "nextToken", json_string(in->next_token)))
		goto nomem;
	if (b != NULL && in->limit > 0 &&
	    json_object_set_new(b, "limit", json_integer(in->limit)))
		goto nomem;
	if (b != NULL)
		return b;
nomem:
	json_decref(b);
	poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	return NULL;
}

enum poky_err
logs_get_events_answer(const char *body, size_t n, logs_event_fn fn, void *ud,
		       char *next_forward, size_t cap, struct poky_error *e)
{
	json_error_t jerr;
	json_t *ans = json_loadb(body, n, 0, &jerr), *ev;
	const char *tok;
	size_t i;

	if (cap > 0)
		next_forward[0] = '\0';
	if (!json_is_object(ans)) {
		json_decref(ans);
		poky_error_set(e, POKY_ERR_TRANSIENT, "CloudWatch Logs "
		    "GetLogEvents: malformed JSON answer: %s", jerr.text);
		if (e != NULL)
			e->retryable = 1;
		return POKY_ERR_TRANSIENT;
	}
	tok = json_string_value(json_object_get(ans, "nextForwardToken"));
	if (tok != NULL && strlen(tok) >= cap) {
		json_decref(ans);
		return poky_error_set(e, POKY_ERR_LIMIT, "CloudWatch Logs "
		    "GetLogEvents: a nextForwardToken of %zu characters",
		    strlen(tok));
	}
	str_copy(next_forward, cap, tok ? tok : "");
	json_array_foreach(json_object_get(ans, "events"), i, ev) {
		const json_t *m = json_object_get(ev, "message");

		if (!json_is_string(m))
			continue;
		if (fn != NULL && fn(ud, json_string_value(m),
		    json_string_length(m)) != 0)
			break;
	}
	json_decref(ans);
	return POKY_OK;
}

enum poky_err
logs_get_events(struct aws_client *c, const struct logs_get_events *in,
		logs_event_fn fn, void *ud, char *next_forward, size_t cap,
		struct poky_error *e)
{
	struct httpc_response resp;
	struct hdr hs[2];
	json_t *body = logs_get_events_body(in, e);
	char *text;
	enum poky_err rc;

	if (body == NULL)
		return e != NULL ? e->code : POKY_ERR_INVALID;
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (text == NULL)
		return poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	httpc_response_init(&resp, LOGS_MAX_RESPONSE);
	hs[0] = (struct hdr){ "Content-Type", 12, "application/x-amz-json-1.1", 26 };
	hs[1] = (struct hdr){ "X-Amz-Target", 12, LOGS_TARGET, strlen(LOGS_TARGET) };
	rc = aws_send(c, &(struct aws_request){
	    .service = "logs", .operation = "GetLogEvents", .method = "POST",
	    .path = "/", .headers = hs, .n_headers = 2, .body = text,
	    .body_len = strlen(text),
	}, &resp, e);
	free(text);
	if (rc == POKY_OK) {
		rc = logs_get_events_answer(resp.body.data, resp.body.len, fn, ud,
		    next_forward, cap, e);
		if (rc != POKY_OK && e != NULL && e->http_status == 0)
			e->http_status = (int)resp.status;
	} else if (e != NULL) {
		char m[POKY_ERR_MSG_MAX + 64];

		/* No stream yet (the task has not started) or no group. */
		if (strcmp(e->aws_code, "ResourceNotFoundException") == 0)
			rc = e->code = POKY_ERR_NOTFOUND;
		snprintf(m, sizeof(m), "CloudWatch Logs GetLogEvents: %s",
		    e->message);
		str_copy(e->message, sizeof(e->message), m);
	}
	httpc_response_cleanup(&resp);
	return rc;
}

/* ---- reading a stream as text -------------------------------------------- */

struct text {
	char *p;
	size_t len, cap;
	size_t keep;                    /* the tail we want */
	bool nomem;
};

/* Keep the last t->keep bytes, starting at a line. */
static void
text_trim(struct text *t)
{
	size_t drop;
	const char *nl;

	if (t->len <= t->keep)
		return;
	drop = t->len - t->keep;
	nl = memchr(t->p + drop, '\n', t->len - drop);
	drop = nl ? (size_t)(nl - t->p) + 1 : t->len;
	memmove(t->p, t->p + drop, t->len - drop);
	t->len -= drop;
}

static int
text_add(void *ud, const char *msg, size_t n)
{
	struct text *t = ud;
	bool nl = n == 0 || msg[n - 1] != '\n';

	/* Trimmed only once it holds twice what is kept: each byte is
	 * moved a bounded number of times. */
	if (t->len + n + 1 > 2 * t->keep)
		text_trim(t);
	if (n + 1 > 2 * t->keep)
		return 0;               /* larger than all we keep: skip it */
	if (t->len + n + 2 > t->cap) {
		size_t cap = t->cap ? t->cap : 4096;
		char *v;

		while (cap < t->len + n + 2)
			cap *= 2;
		v = realloc(t->p, cap);
		if (v == NULL) {
			t->nomem = true;
			return 1;
		}
		t->p = v;
		t->cap = cap;
	}
	memcpy(t->p + t->len, msg, n);
	t->len += n;
	if (nl)
		t->p[t->len++] = '\n';
	t->p[t->len] = '\0';
	return 0;
}

static enum poky_err
text_done(struct text *t, enum poky_err rc, char **out, size_t *len,
	  struct poky_error *e)
{
	if (rc == POKY_OK && t->nomem)
		rc = poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	if (rc == POKY_OK && t->p == NULL && (t->p = strdup("")) == NULL)
		rc = poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	if (rc != POKY_OK) {
		free(t->p);
		*out = NULL;
		*len = 0;
		return rc;
	}
	text_trim(t);
	if (t->p != NULL)
		t->p[t->len] = '\0';
	*out = t->p;
	*len = t->len;
	return POKY_OK;
}

enum poky_err
logs_read_stream(struct aws_client *c, const char *group, const char *stream,
		 size_t max, char **out, size_t *len, struct poky_error *e)
{
	struct text t = { .keep = max };
	char sent[LOGS_TOKEN_MAX] = "", next[LOGS_TOKEN_MAX] = "";
	enum poky_err rc = POKY_OK;
	int pages;

	for (pages = 0; pages < LOGS_MAX_PAGES; pages++) {
		next[0] = '\0';
		rc = logs_get_events(c, &(struct logs_get_events){
		    .group = group, .stream = stream, .next_token = sent,
		    .start_from_head = 1 }, text_add, &t, next, sizeof(next), e);
		if (rc != POKY_OK || t.nomem)
			break;
		/* The same token back, or none: the end of the stream. */
		if (next[0] == '\0' || strcmp(next, sent) == 0)
			break;
		str_copy(sent, sizeof(sent), next);
	}
	if (rc == POKY_OK && pages == LOGS_MAX_PAGES) {
		static const char note[] = "[poky: the stream goes on; "
		    "only its first pages were read]";

		text_add(&t, note, sizeof(note) - 1);
	}
	return text_done(&t, rc, out, len, e);
}

enum poky_err
logs_read_tail(struct aws_client *c, const char *group, const char *stream,
	       int limit, size_t max, char **out, size_t *len,
	       struct poky_error *e)
{
	struct text t = { .keep = max };
	char next[LOGS_TOKEN_MAX];
	enum poky_err rc;

	/* startFromHead=false without a token: the newest events, still
	 * oldest first within the page. */
	rc = logs_get_events(c, &(struct logs_get_events){ .group = group,
	    .stream = stream, .start_from_head = 0, .limit = limit },
	    text_add, &t, next, sizeof(next), e);
	return text_done(&t, rc, out, len, e);
}
