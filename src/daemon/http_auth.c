/* http_auth.c - who may ask: bearer tokens (the token's name is what logs
 * show, never the token), the Host a request names, and cross-site
 * browser requests. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "http_internal.h"
#include "poky/auth.h"
#include "poky/str.h"

const char *
http_token_scoped(const struct auth_tokens *tokens, const char *authorization,
		  unsigned *scopes)
{
	const char *tok;

	*scopes = 0;
	if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
		return NULL;
	tok = authorization + 7;
	while (*tok == ' ')
		tok++;
	return auth_lookup(tokens, tok, strlen(tok), scopes);
}

const char *
http_token_name(const struct auth_tokens *tokens, const char *authorization)
{
	unsigned scopes;

	return http_token_scoped(tokens, authorization, &scopes);
}

/* Bearer auth; the token name is what logs and records show, never the
 * token.  Returns NULL and sets *ok=false when a token is needed and wrong.
 * *scopes: the token's (AUTH_ALL when anonymous). */
const char *
http_authenticate(struct app *app, const struct http_conn *c, bool open, bool *ok,
	     unsigned *scopes)
{
	struct app_conf *conf = app_config_get(app);
	const char *name;

	*ok = true;
	*scopes = AUTH_ALL;
	if (conf->tokens == NULL) {
		/* No tokens file: anonymous (main refuses this on a public
		 * address unless allow_anonymous is set). */
		app_config_put(app, conf);
		return NULL;
	}
	name = http_token_scoped(conf->tokens, http_conn_find(c, "authorization"),
	    scopes);
	app_config_put(app, conf);
	/* The names come from a config that may be swapped: hand out a
	 * static copy per thread. */
	if (name != NULL) {
		static _Thread_local char copy[AUTH_NAME_MAX + 1];

		str_copy(copy, sizeof(copy), name);
		return copy;
	}
	*scopes = 0;
	*ok = open;
	return NULL;
}

static char bound_host[INET6_ADDRSTRLEN + 16];

void
http_set_bound_host(const char *host)
{
	str_copy(bound_host, sizeof(bound_host), host ? host : "");
}

/* host[:port] -> host (brackets kept off an IPv6 literal) into out. */
static bool
host_part(const char *v, char *out, size_t cap)
{
	size_t n;

	if (*v == '[') {
		const char *e = strchr(v, ']');

		if (e == NULL || (e[1] != '\0' && e[1] != ':'))
			return false;
		v++;
		n = (size_t)(e - v);
	} else {
		n = strcspn(v, ":");
	}
	if (n == 0 || n >= cap)
		return false;
	memcpy(out, v, n);
	out[n] = '\0';
	return true;
}

bool
http_host_allowed(const char *host, const char *bound, char *const *names,
		  size_t n_names)
{
	char h[256];
	unsigned char a[16];
	bool any = bound == NULL || *bound == '\0' || strcmp(bound, "0.0.0.0") == 0 ||
	    strcmp(bound, "::") == 0;
	bool loop = bound != NULL && (strcmp(bound, "localhost") == 0 ||
	    strncmp(bound, "127.", 4) == 0 || strcmp(bound, "::1") == 0);

	if (host == NULL || !host_part(host, h, sizeof(h)))
		return false;
	for (size_t i = 0; i < n_names; i++)
		if (strcasecmp(h, names[i]) == 0)
			return true;
	if (inet_pton(AF_INET, h, a) == 1 || inet_pton(AF_INET6, h, a) == 1)
		return any || strcasecmp(h, bound) == 0;
	return strcasecmp(h, "localhost") == 0 && (any || loop);
}

bool
http_cross_site(const char *origin, const char *sec_fetch_site,
		const char *host)
{
	const char *p;

	if (sec_fetch_site != NULL && strcmp(sec_fetch_site, "same-origin") != 0 &&
	    strcmp(sec_fetch_site, "none") != 0)
		return true;
	if (origin == NULL)
		return false;
	if ((p = strstr(origin, "://")) == NULL)
		return true;            /* "null" and other opaque origins */
	return host == NULL || strcasecmp(p + 3, host) != 0;
}

/* Browsers: a page on another site (a form post, or DNS rebinding that
 * makes its own name point at us) must not drive an API that trusts its
 * callers.  Checked when anonymous (no tokens: the caller is trusted) and
 * for /process_file always (a form can post it); the Host also whenever
 * server_names is set.  NULL: fine; else why not (answer 403). */
const char *
http_browser_refusal(struct app *app, const struct http_conn *c,
		const struct api_route *rt, bool anonymous)
{
	struct app_conf *conf = app_config_get(app);
	const char *host = http_conn_find(c, "host");
	const char *why = NULL;
	bool form = strcmp(rt->pattern, "/process_file") == 0;

	if ((anonymous || conf->cfg->server.n_server_names > 0) && host != NULL &&
	    !http_host_allowed(host, bound_host, conf->cfg->server.server_names,
	    conf->cfg->server.n_server_names))
		why = "the Host is not this server (see server_names)";
	else if ((anonymous || form) && http_cross_site(http_conn_find(c,
	    "origin"), http_conn_find(c, "sec-fetch-site"), host))
		why = "a cross-site browser request";
	app_config_put(app, conf);
	return why;
}
