/* webhook_url.c - which callback URLs a webhook may go to: the URL
 * normalised (dot segments, escaped '.' and '/') and checked against
 * webhook_allow as sent, the authority split strictly, and every address
 * its host resolves to refused when loopback, private, link-local or
 * otherwise not public (unless webhook_allow names it). */
#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "poky/config.h"
#include "poky/str.h"
#include "poky/webhook.h"

#include "webhook_internal.h"

/* ---- address rules -------------------------------------------------------- */

static bool
v4_refused(const unsigned char a[4])
{
	return a[0] == 0 ||                                 /* "this network" */
	    a[0] == 10 ||                                   /* private */
	    (a[0] == 100 && (a[1] & 0xc0) == 64) ||         /* shared (CGNAT) */
	    a[0] == 127 ||                                  /* loopback */
	    (a[0] == 169 && a[1] == 254) ||                 /* link-local */
	    (a[0] == 172 && (a[1] & 0xf0) == 16) ||         /* private */
	    (a[0] == 192 && a[1] == 0 && a[2] == 0) ||      /* IETF protocol */
	    (a[0] == 192 && a[1] == 168) ||                 /* private */
	    (a[0] == 198 && (a[1] & 0xfe) == 18) ||         /* benchmarking */
	    a[0] >= 224;                                    /* multicast, reserved,
							       broadcast */
}

bool
webhook_addr_refused(int family, const void *addr)
{
	static const unsigned char mapped[12] = { [10] = 0xff, [11] = 0xff };
	static const unsigned char zero[12] = { 0 };
	static const unsigned char nat64[12] = { 0, 0x64, 0xff, 0x9b };
	const unsigned char *a = addr;

	if (family == AF_INET)
		return v4_refused(a);
	if (family != AF_INET6)
		return true;
	if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
		return v4_refused(a + 12);
	if (memcmp(a, zero, 12) == 0)
		/* "::", "::1" and the deprecated IPv4-compatible form. */
		return true;
	if (a[0] == 0x20 && a[1] == 0x02)                   /* 6to4 */
		return v4_refused(a + 2);
	if (a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b &&
	    a[4] == 0x00 && a[5] == 0x01)                   /* local-use NAT64 */
		return true;
	return (a[0] & 0xfe) == 0xfc ||                     /* unique-local */
	    (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) ||      /* link-local */
	    (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) ||      /* site-local */
	    a[0] == 0xff;                                   /* multicast */
}

/* ---- the target of one delivery ------------------------------------------- */


/* Characters an authority may hold here: a DNS name, an IPv4 literal or a
 * bracketed IPv6 one, and a port.  Anything else (userinfo, escapes, a
 * backslash...) could be read differently by libcurl than by this check. */
static bool
authority_char(unsigned char c)
{
	return isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':' ||
	    c == '[' || c == ']';
}

/* Split "scheme://authority..." into the authority's host (lowercased) and
 * port.  NULL when fine, else why not. */
static const char *
split_authority(const char *url, char *host, size_t cap, char port[8],
		size_t *auth_end)
{
	const char *p = strstr(url, "://"), *a, *end, *hp;
	size_t n;

	if (p == NULL)
		return "is not an http:// or https:// URL";
	a = p + 3;
	end = a + strcspn(a, "/?#");
	*auth_end = (size_t)(end - url);
	for (const char *q = a; q < end; q++)
		if (!authority_char((unsigned char)*q))
			return "has characters its host may not hold";
	if (*a == '[') {
		const char *rb = memchr(a, ']', (size_t)(end - a));

		if (rb == NULL || (size_t)(rb - a - 1) >= cap || rb == a + 1)
			return "has a malformed host";
		unsigned char a6[16];

		n = (size_t)(rb - a - 1);
		memcpy(host, a + 1, n);
		host[n] = '\0';
		if (inet_pton(AF_INET6, host, a6) != 1)
			return "has a malformed IPv6 address";
		hp = rb + 1;
	} else {
		n = strcspn(a, ":/?#");
		if (n == 0 || n >= cap || memchr(a, '[', n) || memchr(a, ']', n))
			return "has a malformed host";
		memcpy(host, a, n);
		hp = a + n;
	}
	host[n] = '\0';
	for (size_t i = 0; i < n; i++)
		host[i] = (char)tolower((unsigned char)host[i]);
	if (host[n - 1] == '.')
		return "has a host ending in a dot";
	if (hp == end) {
		snprintf(port, 8, "%s", strncmp(url, "https:", 6) == 0 ? "443" : "80");
		return NULL;
	}
	if (*hp != ':' || end - hp < 2 || end - hp > 6)
		return "has a malformed port";
	{
		long v = 0;

		for (const char *q = hp + 1; q < end; q++) {
			if (!isdigit((unsigned char)*q))
				return "has a malformed port";
			v = v * 10 + (*q - '0');
		}
		if (v < 1 || v > 65535)
			return "has a malformed port";
		snprintf(port, 8, "%ld", v);
	}
	return NULL;
}

/* Whether a webhook_allow prefix that url starts with names url's host
 * exactly ("https://hooks.example.com/" names hooks.example.com;
 * "https://hooks." names nothing). */
static bool
host_named(const struct config *cfg, const char *url, const char *host)
{
	for (size_t i = 0; i < cfg->tracker.n_webhook_allow; i++) {
		const char *pre = cfg->tracker.webhook_allow[i];
		char ph[HOST_MAX], pp[8];
		size_t end;

		/* A prefix that stops inside the host ("https://hooks.")
		 * yields a shorter host than the URL's: no match. */
		if (strncmp(url, pre, strlen(pre)) == 0 &&
		    split_authority(pre, ph, sizeof(ph), pp, &end) == NULL &&
		    strcmp(ph, host) == 0)
			return true;
	}
	return false;
}

static bool
prefix_allowed(const struct config *cfg, const char *url)
{
	for (size_t i = 0; i < cfg->tracker.n_webhook_allow; i++) {
		const char *pre = cfg->tracker.webhook_allow[i];

		if (strncmp(url, pre, strlen(pre)) == 0)
			return true;
	}
	return false;
}

const char *
webhook_url_normalize(const char *url, char *out, size_t cap)
{
	const char *a = strstr(url, "://"), *path, *rest;
	struct buf dec, res;
	const char *why = NULL;

	if (a == NULL)
		return "is not an http:// or https:// URL";
	path = a + 3 + strcspn(a + 3, "/?#");
	rest = path + strcspn(path, "?#");
	buf_init(&dec, URL_MAX + 1);
	buf_init(&res, URL_MAX + 1);
	/* The path as the receiver will read it: "%2e" is a dot (and "%2e%2e"
	 * a parent); an encoded slash or any backslash has no one reading. */
	for (const char *q = path; q < rest && why == NULL; q++) {
		int v;

		if (*q == '\\') {
			why = "has a backslash in its path";
		} else if ((v = str_pct_byte(q, (size_t)(rest - q))) >= 0) {
			if (v == '/' || v == '\\')
				why = "has an encoded slash in its path";
			else if (v == '.')
				buf_append_byte(&dec, '.');
			else
				buf_append(&dec, q, 3);
			q += 2;
		} else {
			buf_append_byte(&dec, *q);
		}
	}
	/* Dot segments out (RFC 3986 5.2.4), segment by segment. */
	buf_append(&res, url, (size_t)(path - url));
	for (size_t i = 0, base = res.len; why == NULL && i < dec.len;) {
		size_t j = i + 1;

		while (j < dec.len && dec.data[j] != '/')
			j++;
		if (j - i - 1 == 1 && dec.data[i + 1] == '.') {
			if (j == dec.len)
				buf_append_byte(&res, '/');
		} else if (j - i - 1 == 2 && dec.data[i + 1] == '.' &&
		    dec.data[i + 2] == '.') {
			while (res.len > base && res.data[res.len - 1] != '/')
				res.len--;
			if (res.len > base)
				res.len--;
			if (j == dec.len)
				buf_append_byte(&res, '/');
		} else {
			buf_append(&res, dec.data + i, j - i);
		}
		i = j;
	}
	if (why == NULL && (buf_append(&res, rest, strlen(rest)) != POKY_OK ||
	    res.len >= cap))
		why = "is too long";
	if (why == NULL) {
		memcpy(out, res.data, res.len);
		out[res.len] = '\0';
	}
	buf_free(&dec);
	buf_free(&res);
	return why;
}

/* The checks that need no DNS, shared by submit (webhook_url_refused) and
 * every delivery: fills tg->host, port and url, *named (a prefix names the
 * host) and *literal (the host is an address). */
static enum verdict
static_check(const struct config *cfg, const char *given, struct target *tg,
	     bool *named, bool *literal, char *why, size_t why_cap)
{
	static _Thread_local char url[URL_MAX + 1];
	unsigned char lit[16];
	struct in_addr a4;
	const char *bad;
	size_t auth_end;
	int family = 0;

	memset(tg, 0, sizeof(*tg));
	if (strlen(given) > URL_MAX) {
		snprintf(why, why_cap, "the URL is longer than %d characters", URL_MAX);
		return TARGET_REFUSED;
	}
	for (const char *q = given; *q; q++)
		if ((unsigned char)*q <= ' ' || *q == 0x7f) {
			snprintf(why, why_cap, "the URL holds a space or control character");
			return TARGET_REFUSED;
		}
	/* The prefix is checked against, and the request sent to, the URL
	 * as its receiver reads it: "/hooks/../admin" is "/admin". */
	if ((bad = webhook_url_normalize(given, url, sizeof(url))) != NULL) {
		snprintf(why, why_cap, "the URL %s", bad);
		return TARGET_REFUSED;
	}
	if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) {
		snprintf(why, why_cap, "the URL is not http:// or https://");
		return TARGET_REFUSED;
	}
	if (!prefix_allowed(cfg, url)) {
		snprintf(why, why_cap, "the URL does not start with an allowed "
		    "prefix ([tracker] webhook_allow)");
		return TARGET_REFUSED;
	}
	if ((bad = split_authority(url, tg->host, sizeof(tg->host), tg->port,
	    &auth_end)) != NULL) {
		snprintf(why, why_cap, "the URL %s", bad);
		return TARGET_REFUSED;
	}
	if (inet_pton(AF_INET, tg->host, lit) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, tg->host, lit) == 1)
		family = AF_INET6;
	*literal = family != 0;
	if (!*literal && inet_aton(tg->host, &a4) != 0) {
		/* "2130706433", "127.1", "0x7f.1": the resolver reads these as
		 * addresses; nobody means them as names. */
		snprintf(why, why_cap, "host %s is an IPv4 address in a "
		    "non-standard form", tg->host);
		return TARGET_REFUSED;
	}
	*named = host_named(cfg, url, tg->host);
	if (!*named && ((*literal && webhook_addr_refused(family, lit)) ||
	    strcmp(tg->host, "localhost") == 0 ||
	    (strlen(tg->host) > 10 &&
	     strcmp(tg->host + strlen(tg->host) - 10, ".localhost") == 0))) {
		snprintf(why, why_cap, "host %s is a loopback, link-local, private or "
		    "reserved address (name the host in a webhook_allow prefix to "
		    "allow it)", tg->host);
		return TARGET_REFUSED;
	}
	/* The URL as sent: lowercase host, so libcurl's lookup key is the
	 * pinned entry's. */
	snprintf(tg->url, sizeof(tg->url), "%s", url);
	for (size_t i = (size_t)(strstr(url, "://") + 3 - url); i < auth_end; i++)
		tg->url[i] = (char)tolower((unsigned char)tg->url[i]);
	return TARGET_OK;
}

const char *
webhook_url_refused(const struct config *cfg, const char *url, char *why,
		    size_t why_cap)
{
	struct target tg;
	bool named, literal;

	return static_check(cfg, url, &tg, &named, &literal, why, why_cap) ==
	    TARGET_OK ? NULL : why;
}

/* Check url against the rules of webhook.h and resolve it.  TARGET_OK:
 * tg says where to send.  Otherwise why[] says why not: TARGET_REFUSED for
 * good, TARGET_RETRY (the name did not resolve) for now. */
enum verdict
webhook_target_check(const struct config *cfg, const char *url,
		     struct target *tg, char *why, size_t why_cap)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	char addrs[MAX_ADDRS][INET6_ADDRSTRLEN];
	size_t n_addrs = 0, pos;
	bool named, literal;
	enum verdict v;
	int r;

	if ((v = static_check(cfg, url, tg, &named, &literal, why, why_cap)) !=
	    TARGET_OK)
		return v;

	/* A name that does not resolve may yet: retried until the deadline. */
	r = getaddrinfo(tg->host, tg->port, &hints, &res);
	if (r != 0) {
		snprintf(why, why_cap, "cannot resolve %s: %s", tg->host,
		    gai_strerror(r));
		return TARGET_RETRY;
	}
	pos = (size_t)snprintf(tg->resolve, sizeof(tg->resolve), "%s:%s:",
	    tg->host, tg->port);
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		const void *addr;
		char text[INET6_ADDRSTRLEN];
		bool seen = false;

		if (ai->ai_family == AF_INET)
			addr = &((const struct sockaddr_in *)(const void *)ai->ai_addr)->sin_addr;
		else if (ai->ai_family == AF_INET6)
			addr = &((const struct sockaddr_in6 *)(const void *)ai->ai_addr)->sin6_addr;
		else
			continue;
		if (inet_ntop(ai->ai_family, addr, text, sizeof(text)) == NULL)
			continue;
		if (!named && webhook_addr_refused(ai->ai_family, addr)) {
			snprintf(why, why_cap, "host %s resolves to %s, a loopback, "
			    "link-local, private or reserved address (name the host "
			    "in a webhook_allow prefix to allow it)", tg->host, text);
			freeaddrinfo(res);
			return TARGET_REFUSED;
		}
		/* getaddrinfo answers once per socket type and protocol. */
		for (size_t i = 0; i < n_addrs; i++)
			seen = seen || strcmp(addrs[i], text) == 0;
		if (seen || n_addrs == MAX_ADDRS)
			continue;
		str_copy(addrs[n_addrs], sizeof(addrs[n_addrs]), text);
		pos += (size_t)snprintf(tg->resolve + pos, sizeof(tg->resolve) - pos,
		    ai->ai_family == AF_INET6 ? "%s[%s]" : "%s%s",
		    n_addrs ? "," : "", text);
		n_addrs++;
	}
	freeaddrinfo(res);
	if (n_addrs == 0) {
		snprintf(why, why_cap, "host %s has no IPv4 or IPv6 address", tg->host);
		return TARGET_RETRY;
	}
	if (literal)
		tg->resolve[0] = '\0';  /* libcurl never resolves a literal */
	return TARGET_OK;
}
