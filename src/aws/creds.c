/* creds.c - the credentials provider chain and its cache (see creds.h).
 *
 * The chain is the list of providers in creds_internal.h, tried in order;
 * the cache in front of it holds one set of credentials and the provider
 * that gave them, which is asked again (alone) when they near expiry.  The
 * refresh itself runs outside the lock, so a slow STS or a credential
 * process only holds up the callers that have nothing valid to use. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "poky/crypto.h"
#include "poky/log.h"
#include "poky/str.h"

#include "creds_internal.h"

#define CHAIN_MAX_PROVIDERS 8
#define NO_SOURCE ((size_t)-1)
#define MSG_PREFIX "no AWS credentials: "

enum window {
	WIN_FRESH,                      /* use the cache */
	WIN_ADVISORY,                   /* one caller refreshes, others use it */
	WIN_MANDATORY,                  /* refresh before use (still valid) */
	WIN_NONE,                       /* nothing valid: refresh and wait */
};

struct creds_chain {
	pthread_mutex_t lock;
	pthread_cond_t done;            /* a refresh finished */
	char *profile;                  /* from the config; NULL if none */
	struct aws_client *sts;
	long imds_timeout_ms;
	const struct creds_provider *providers;
	size_t n_providers;
	time_t (*clock)(void *ud);
	void *clock_ud;
	struct aws_creds cached;        /* valid when have */
	bool have;
	size_t source;                  /* index of the provider that gave them */
	bool refreshing;                /* a caller is resolving, unlocked */
	time_t retry_at;                /* after a failed refresh: not before */
};

static const struct creds_provider default_providers[] = {
	{ "env", creds_env_get, NULL },
	{ "web-identity", creds_webid_get, NULL },
	{ "profile", creds_profile_get, NULL },
	{ "container", creds_container_get, NULL },
	{ "imds", creds_imds_get, NULL },
};

/* ---- helpers for the providers ----------------------------------------- */

void
creds_clear(struct aws_creds *c)
{
	if (c != NULL)
		crypto_wipe(c, sizeof(*c));
}

/* Printable ASCII without blanks: what goes into headers must not be able
 * to split them. */
static bool
creds_token_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static enum poky_err
creds_check(const char *v, size_t cap, const char *field, const char *what,
	    bool required, struct poky_error *e)
{
	if (v == NULL || v[0] == '\0') {
		if (!required)
			return POKY_OK;
		return poky_error_set(e, POKY_ERR_INVALID, "%s: no %s", what, field);
	}
	if (strlen(v) >= cap)
		return poky_error_set(e, POKY_ERR_LIMIT, "%s: %s longer than %zu",
		    what, field, cap - 1);
	if (!creds_token_ok(v))
		return poky_error_set(e, POKY_ERR_INVALID,
		    "%s: %s holds blanks or control characters", what, field);
	return POKY_OK;
}

enum poky_err
creds_set(struct aws_creds *c, const char *source, const char *access_key_id,
	  const char *secret, const char *token, time_t expiration,
	  const char *what, struct poky_error *e)
{
	enum poky_err rc;

	creds_clear(c);
	if ((rc = creds_check(access_key_id, sizeof(c->access_key_id),
	    "access key id", what, true, e)) != POKY_OK ||
	    (rc = creds_check(secret, sizeof(c->secret_access_key),
	    "secret access key", what, true, e)) != POKY_OK ||
	    (rc = creds_check(token, sizeof(c->session_token), "session token",
	    what, false, e)) != POKY_OK)
		return rc;
	str_copy(c->access_key_id, sizeof(c->access_key_id), access_key_id);
	str_copy(c->secret_access_key, sizeof(c->secret_access_key), secret);
	if (token != NULL)
		str_copy(c->session_token, sizeof(c->session_token), token);
	c->expiration = expiration;
	str_copy(c->source, sizeof(c->source), source);
	return POKY_OK;
}

void
creds_set_source(struct aws_creds *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->source, sizeof(c->source), fmt, ap);
	va_end(ap);
}

void
creds_error_prefix(struct poky_error *e, const char *fmt, ...)
{
	char pre[POKY_ERR_MSG_MAX];
	size_t p, old;
	va_list ap;
	int n;

	if (e == NULL)
		return;
	va_start(ap, fmt);
	n = vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	p = strlen(pre);
	old = strnlen(e->message, sizeof(e->message) - 1);
	if (old > sizeof(e->message) - 1 - p)
		old = sizeof(e->message) - 1 - p;
	memmove(e->message + p, e->message, old);
	memcpy(e->message, pre, p);
	e->message[p + old] = '\0';
}

bool
creds_parse_time(const char *s, time_t *t)
{
	/* Any UTC offset, as the SDKs accept ("+00:00" from Python's
	 * isoformat(), "+02:00" from a local clock). */
	return str_time_parse(s, t);
}

static enum poky_err
json_string_field(const json_t *obj, const char *key, bool required,
		  const char *what, const char **out, struct poky_error *e)
{
	const json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required)
			return poky_error_set(e, POKY_ERR_INVALID, "%s: no %s",
			    what, key);
		return POKY_OK;
	}
	if (!json_is_string(v))
		return poky_error_set(e, POKY_ERR_INVALID, "%s: %s is not a string",
		    what, key);
	*out = json_string_value(v);
	return POKY_OK;
}

enum poky_err
creds_from_json(const json_t *obj, const char *source, const char *token_key,
		bool need_expiration, const char *what, struct aws_creds *out,
		struct poky_error *e)
{
	const char *akid, *secret, *token = NULL, *exp;
	time_t t = 0;
	enum poky_err rc;

	if (!json_is_object(obj))
		return poky_error_set(e, POKY_ERR_INVALID,
		    "%s: answer is not a JSON object", what);
	if ((rc = json_string_field(obj, "AccessKeyId", true, what, &akid, e)) ||
	    (rc = json_string_field(obj, "SecretAccessKey", true, what, &secret, e)) ||
	    (token_key != NULL &&
	     (rc = json_string_field(obj, token_key, false, what, &token, e))) ||
	    (rc = json_string_field(obj, "Expiration", need_expiration, what,
	     &exp, e)))
		return rc;
	if (exp != NULL && !creds_parse_time(exp, &t))
		return poky_error_set(e, POKY_ERR_INVALID,
		    "%s: Expiration is not an ISO 8601 time", what);
	return creds_set(out, source, akid, secret, token, t, what, e);
}

/* ---- the chain ------------------------------------------------------------ */

static time_t
clock_real(void *ud)
{
	(void)ud;
	return time(NULL);
}

struct creds_chain *
creds_chain_new(const struct creds_chain_config *cfg)
{
	struct creds_chain *ch = calloc(1, sizeof(*ch));

	if (ch == NULL)
		return NULL;
	if (cfg != NULL && cfg->profile != NULL && cfg->profile[0] != '\0' &&
	    (ch->profile = strdup(cfg->profile)) == NULL) {
		free(ch);
		return NULL;
	}
	if (pthread_mutex_init(&ch->lock, NULL) != 0) {
		free(ch->profile);
		free(ch);
		return NULL;
	}
	if (pthread_cond_init(&ch->done, NULL) != 0) {
		pthread_mutex_destroy(&ch->lock);
		free(ch->profile);
		free(ch);
		return NULL;
	}
	if (cfg != NULL) {
		ch->sts = cfg->sts;
		ch->imds_timeout_ms = cfg->imds_timeout_ms;
	}
	ch->providers = default_providers;
	ch->n_providers = sizeof(default_providers) / sizeof(default_providers[0]);
	ch->clock = clock_real;
	ch->source = NO_SOURCE;
	return ch;
}

void
creds_chain_free(struct creds_chain *ch)
{
	if (ch == NULL)
		return;
	creds_clear(&ch->cached);
	pthread_cond_destroy(&ch->done);
	pthread_mutex_destroy(&ch->lock);
	free(ch->profile);
	free(ch);
}

void
creds_chain_set_clock(struct creds_chain *ch, time_t (*now)(void *ud), void *ud)
{
	pthread_mutex_lock(&ch->lock);
	ch->clock = now != NULL ? now : clock_real;
	ch->clock_ud = ud;
	pthread_mutex_unlock(&ch->lock);
}

void
creds_chain_set_providers(struct creds_chain *ch,
			  const struct creds_provider *p, size_t n)
{
	pthread_mutex_lock(&ch->lock);
	if (n > CHAIN_MAX_PROVIDERS)
		n = CHAIN_MAX_PROVIDERS;
	ch->providers = p;
	ch->n_providers = n;
	creds_clear(&ch->cached);
	ch->have = false;
	ch->source = NO_SOURCE;
	pthread_mutex_unlock(&ch->lock);
}

void
creds_invalidate(struct creds_chain *ch)
{
	pthread_mutex_lock(&ch->lock);
	creds_clear(&ch->cached);
	ch->have = false;
	ch->source = NO_SOURCE;
	ch->retry_at = 0;
	pthread_mutex_unlock(&ch->lock);
}

static enum window
chain_window(const struct creds_chain *ch, time_t now)
{
	time_t exp = ch->cached.expiration;

	if (!ch->have || (exp != 0 && now >= exp))
		return WIN_NONE;
	if (exp == 0 || now < exp - CREDS_ADVISORY_REFRESH)
		return WIN_FRESH;
	if (now < exp - CREDS_MANDATORY_REFRESH)
		return WIN_ADVISORY;
	return WIN_MANDATORY;
}

/* Called locked: what this pass of the providers needs to know. */
static enum poky_err
chain_ctx(const struct creds_chain *ch, time_t now, struct creds_ctx *ctx,
	  struct poky_error *e)
{
	const char *p = ch->profile;

	memset(ctx, 0, sizeof(*ctx));
	ctx->sts = ch->sts;
	ctx->imds_timeout_ms = ch->imds_timeout_ms;
	ctx->now = now;
	if (p != NULL) {
		ctx->profile_explicit = ctx->profile_from_config = true;
	} else if ((p = profile_env("AWS_PROFILE")) != NULL) {
		ctx->profile_explicit = true;
	} else {
		p = "default";
	}
	if (!str_copy(ctx->profile, sizeof(ctx->profile), p))
		return poky_error_set(e, POKY_ERR_AUTH,
		    MSG_PREFIX "profile name longer than %d", CREDS_PROFILE_MAX - 1);
	return POKY_OK;
}

struct chain_note {
	const char *name;
	char reason[POKY_ERR_MSG_MAX];
	bool failed;
};

/* Share out what room the message has so every provider tried is named,
 * each with as much of its reason as fits; the one that failed comes first
 * in the sharing, as its reason matters most. */
static void
chain_message(struct poky_error *e, const struct chain_note *notes, size_t n)
{
	size_t want[CHAIN_MAX_PROVIDERS], alloc[CHAIN_MAX_PROVIDERS];
	bool done[CHAIN_MAX_PROVIDERS];
	size_t fixed = strlen(MSG_PREFIX), avail, left = 0;
	char *m;
	size_t at;

	if (e == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		want[i] = strlen(notes[i].reason);
		fixed += strlen(notes[i].name) + (notes[i].failed ? 9 : 3) +
		    (i > 0 ? 2 : 0);
		done[i] = false;
		alloc[i] = 0;
	}
	avail = fixed < POKY_ERR_MSG_MAX - 1 ? POKY_ERR_MSG_MAX - 1 - fixed : 0;
	for (size_t i = 0; i < n; i++) {
		if (notes[i].failed) {
			size_t rest = (n - 1) * 16;

			alloc[i] = avail > rest ? avail - rest : avail / 2;
			if (alloc[i] > want[i])
				alloc[i] = want[i];
			avail -= alloc[i];
			done[i] = true;
		} else {
			left++;
		}
	}
	/* Water-filling: short reasons take what they need, long ones split
	 * what is left evenly. */
	while (left > 0) {
		size_t share = avail / left;
		bool any = false;

		for (size_t i = 0; i < n; i++) {
			if (!done[i] && want[i] <= share) {
				alloc[i] = want[i];
				avail -= want[i];
				done[i] = true;
				left--;
				any = true;
			}
		}
		if (!any) {
			for (size_t i = 0; i < n; i++)
				if (!done[i])
					alloc[i] = share;
			break;
		}
	}
	m = e->message;
	at = (size_t)snprintf(m, POKY_ERR_MSG_MAX, "%s", MSG_PREFIX);
	for (size_t i = 0; i < n && at < POKY_ERR_MSG_MAX - 1; i++) {
		int len = (int)alloc[i];
		bool cut = alloc[i] < want[i];

		if (cut && len >= 3)
			len -= 3;
		at += (size_t)snprintf(m + at, POKY_ERR_MSG_MAX - at,
		    "%s%s%s%.*s%s%s", i > 0 ? "; " : "", notes[i].name,
		    notes[i].failed ? " failed: " : " (", len, notes[i].reason,
		    cut && alloc[i] >= 3 ? "..." : "", notes[i].failed ? "" : ")");
	}
}

/* Ask the providers in turn (or, when refreshing, the one that answered
 * last, falling back to all of them if it is no longer configured). */
static enum poky_err
chain_resolve(const struct creds_chain *ch, const struct creds_ctx *ctx,
	      size_t from, struct aws_creds *out, size_t *idx,
	      struct poky_error *e)
{
	struct chain_note notes[CHAIN_MAX_PROVIDERS];
	struct poky_error pe;
	size_t n = 0;
	enum poky_err rc;

	poky_error_clear(&pe);
	if (from != NO_SOURCE) {
		const struct creds_provider *p = &ch->providers[from];

		rc = p->get(ctx, p->ud, out, &pe);
		if (rc == POKY_OK) {
			*idx = from;
			return POKY_OK;
		}
		creds_clear(out);
		if (rc != POKY_ERR_NOTFOUND) {
			notes[0].name = p->name;
			notes[0].failed = true;
			str_copy(notes[0].reason, sizeof(notes[0].reason), pe.message);
			n = 1;
			goto fail;
		}
	}
	for (size_t i = 0; i < ch->n_providers; i++) {
		const struct creds_provider *p = &ch->providers[i];

		poky_error_clear(&pe);
		rc = p->get(ctx, p->ud, out, &pe);
		if (rc == POKY_OK) {
			*idx = i;
			return POKY_OK;
		}
		creds_clear(out);
		notes[n].name = p->name;
		notes[n].failed = rc != POKY_ERR_NOTFOUND;
		str_copy(notes[n].reason, sizeof(notes[n].reason),
		    pe.message[0] ? pe.message : poky_err_name(rc));
		n++;
		if (rc != POKY_ERR_NOTFOUND)
			break;
	}
	if (n == 0) {
		poky_error_clear(&pe);
		notes[0].name = "chain";
		notes[0].failed = false;
		str_copy(notes[0].reason, sizeof(notes[0].reason), "no providers");
		n = 1;
	}
fail:
	poky_error_set(e, POKY_ERR_AUTH, "%s", MSG_PREFIX);
	chain_message(e, notes, n);
	/* Keep what the failure knew: a throttled STS is worth a retry. */
	if (e != NULL) {
		e->http_status = pe.http_status;
		e->retryable = pe.retryable;
		e->timeout = pe.timeout;
		memcpy(e->aws_code, pe.aws_code, sizeof(e->aws_code));
		memcpy(e->request_id, pe.request_id, sizeof(e->request_id));
	}
	return POKY_ERR_AUTH;
}

static void
describe_expiry(char out[32], time_t exp)
{
	if (exp == 0) {
		snprintf(out, 32, "never");
		return;
	}
	str_time_iso8601(out, exp);
}

enum poky_err
creds_get(struct creds_chain *ch, struct aws_creds *out, struct poky_error *e)
{
	struct creds_ctx ctx;
	struct aws_creds fresh;
	struct poky_error err;
	enum poky_err rc;
	size_t from, idx = NO_SOURCE;
	time_t now;
	char when[32];

	memset(&fresh, 0, sizeof(fresh));
	poky_error_clear(&err);
	creds_clear(out);
	pthread_mutex_lock(&ch->lock);
	for (;;) {
		enum window w;

		now = ch->clock(ch->clock_ud);
		w = chain_window(ch, now);
		if (w == WIN_FRESH ||
		    (w == WIN_ADVISORY && (ch->refreshing || now < ch->retry_at)) ||
		    (w == WIN_MANDATORY && !ch->refreshing && now < ch->retry_at)) {
			*out = ch->cached;
			pthread_mutex_unlock(&ch->lock);
			return POKY_OK;
		}
		if (!ch->refreshing)
			break;
		pthread_cond_wait(&ch->done, &ch->lock);
	}
	ch->refreshing = true;
	from = ch->have ? ch->source : NO_SOURCE;
	rc = chain_ctx(ch, now, &ctx, &err);
	pthread_mutex_unlock(&ch->lock);

	if (rc == POKY_OK)
		rc = chain_resolve(ch, &ctx, from, &fresh, &idx, &err);

	pthread_mutex_lock(&ch->lock);
	ch->refreshing = false;
	pthread_cond_broadcast(&ch->done);
	now = ch->clock(ch->clock_ud);
	if (rc == POKY_OK) {
		describe_expiry(when, fresh.expiration);
		if (!ch->have || strcmp(ch->cached.source, fresh.source) != 0)
			log_info("AWS credentials from %s, expiring %s",
			    fresh.source, when);
		else
			log_debug("AWS credentials from %s refreshed, expiring %s",
			    fresh.source, when);
		creds_clear(&ch->cached);
		ch->cached = fresh;
		ch->have = true;
		ch->source = idx;
		ch->retry_at = 0;
		*out = fresh;
	} else if (ch->have && (ch->cached.expiration == 0 ||
	    now < ch->cached.expiration)) {
		/* Still valid: keep serving them, and do not hammer a failing
		 * source on every call. */
		log_warnx("refreshing AWS credentials from %s failed, keeping "
		    "the current ones: %s", ch->cached.source, err.message);
		ch->retry_at = now + CREDS_RETRY_SECONDS;
		*out = ch->cached;
		rc = POKY_OK;
	} else {
		if (e != NULL)
			*e = err;
	}
	pthread_mutex_unlock(&ch->lock);
	creds_clear(&fresh);
	return rc;
}

/* ---- a client with the chain as its source ---------------------------------- */

static enum poky_err
chain_source_get(void *ud, struct aws_creds *out, struct poky_error *e)
{
	return creds_get(ud, out, e);
}

static void
chain_source_invalidate(void *ud)
{
	creds_invalidate(ud);
}

static void
chain_source_release(void *ud)
{
	creds_chain_free(ud);
}

struct aws_client *
creds_client_new(const struct aws_config *cfg, struct poky_error *e)
{
	struct aws_client *c = aws_client_new(cfg, e);
	struct creds_chain *ch;

	if (c == NULL)
		return NULL;
	ch = creds_chain_new(&(struct creds_chain_config){
	    .profile = cfg != NULL ? cfg->profile : NULL, .sts = c });
	if (ch == NULL) {
		aws_client_free(c);
		poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
		return NULL;
	}
	aws_client_set_creds(c, &(struct aws_creds_source){
	    .get = chain_source_get, .invalidate = chain_source_invalidate,
	    .release = chain_source_release, .ud = ch });
	return c;
}
