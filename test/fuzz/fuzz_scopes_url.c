/* fuzz_scopes_url.c - the two parsers issue 18 added: the scopes of a
 * tokens_file line (auth_parse_scopes) and the webhook URL normaliser
 * (webhook_url_normalize).
 *
 * The first byte picks the parser, the rest is its input.  Beyond "no
 * crash": scopes are a non-empty subset of AUTH_ALL; a normalised URL
 * keeps its scheme and authority, its path holds no "/./" or "/../"
 * segment and no %2e, normalising it again changes nothing, and an input
 * with an encoded slash in its path is refused. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "poky/auth.h"
#include "poky/webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz_scopes_url: check failed: %s (line %d)\n", \
	    #cond, __LINE__); abort(); } } while (0)

static void
scopes(const char *s, size_t n)
{
	struct poky_error e;
	unsigned v = 0;

	if (auth_parse_scopes(s, n, &v, &e) == POKY_OK)
		CHECK(v != 0 && (v & ~AUTH_ALL) == 0);
}

static void
url(const char *s)
{
	char out[4096], again[4096];
	const char *a = strstr(s, "://"), *path, *end;

	if (webhook_url_normalize(s, out, sizeof(out)) != NULL)
		return;
	CHECK(a != NULL);
	path = a + 3 + strcspn(a + 3, "/?#");
	/* scheme and authority unchanged */
	CHECK(strncmp(out, s, (size_t)(path - s)) == 0);
	end = out + (path - s) + strcspn(out + (path - s), "?#");
	for (const char *q = out + (path - s); q < end; q++) {
		CHECK(strncasecmp(q, "%2e", 3) != 0 || q + 3 > end);
		if (*q == '/') {
			CHECK(!(q + 2 <= end && q[1] == '.' &&
			    (q + 2 == end || q[2] == '/')));
			CHECK(!(q + 3 <= end && q[1] == '.' && q[2] == '.' &&
			    (q + 3 == end || q[3] == '/')));
		}
	}
	CHECK(webhook_url_normalize(out, again, sizeof(again)) == NULL);
	CHECK(strcmp(out, again) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	char *s;

	if (n < 1 || n > 3000)
		return 0;
	s = malloc(n);
	if (s == NULL)
		return 0;
	memcpy(s, d + 1, n - 1);
	s[n - 1] = '\0';
	if (d[0] & 1)
		scopes(s, n - 1);
	else
		url(s);
	free(s);
	return 0;
}
