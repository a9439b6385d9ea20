/* auth.c - bearer tokens, stored hashed (see auth.h). */
#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poky/auth.h"
#include "poky/crypto.h"
#include "poky/str.h"

struct token {
	char name[AUTH_NAME_MAX + 1];
	unsigned char hash[32];
	unsigned scopes;
};

struct auth_tokens {
	struct token *v;
	size_t n;
};

static bool
valid_name(const char *s, size_t n)
{
	if (n == 0 || n > AUTH_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-@", s[i]))
			return false;
	return true;
}

static bool
parse_hex32(const char *s, size_t n, unsigned char out[32])
{
	if (n != 64)
		return false;
	for (size_t i = 0; i < 32; i++) {
		int hi = str_hexval((unsigned char)s[2 * i]);
		int lo = str_hexval((unsigned char)s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

enum poky_err
auth_parse_scopes(const char *s, size_t n, unsigned *out, struct poky_error *e)
{
	static const struct { const char *word; unsigned bit; } words[] = {
		{ "submit", AUTH_SUBMIT }, { "read", AUTH_READ },
		{ "cancel", AUTH_CANCEL }, { "metrics", AUTH_METRICS },
		{ "admin", AUTH_ALL },
	};
	size_t i = 0;

	*out = 0;
	while (i < n) {
		size_t w;
		bool found = false;

		if (s[i] == ' ' || s[i] == '\t') {
			i++;
			continue;
		}
		for (w = i; w < n && s[w] != ' ' && s[w] != '\t'; w++)
			;
		for (size_t k = 0; k < sizeof(words) / sizeof(words[0]); k++)
			if (strlen(words[k].word) == w - i &&
			    memcmp(words[k].word, s + i, w - i) == 0) {
				*out |= words[k].bit;
				found = true;
			}
		if (!found)
			/* Never echo the word: it might be a token. */
			return poky_error_set(e, POKY_ERR_INVALID,
			    "unknown scope (want submit, read, cancel, metrics, "
			    "admin)");
		i = w;
	}
	if (*out == 0)
		*out = AUTH_ALL;        /* a line from before scopes: admin */
	return POKY_OK;
}

enum poky_err
auth_load(const char *path, struct auth_tokens **out, struct poky_error *e)
{
	struct auth_tokens *t;
	char line[1024];
	unsigned lineno = 0;
	FILE *f;
	enum poky_err rc = POKY_OK;

	*out = NULL;
	f = fopen(path, "r");
	if (f == NULL)
		return poky_error_set(e, POKY_ERR_IO, "%s: %s", path, strerror(errno));
	t = calloc(1, sizeof(*t));
	if (t == NULL || (t->v = calloc(AUTH_MAX_TOKENS, sizeof(*t->v))) == NULL) {
		free(t);
		fclose(f);
		return poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p = line, *name, *hash;
		size_t nl, hl;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			rc = poky_error_set(e, POKY_ERR_INVALID, "%s:%u: line too long",
			    path, lineno);
			break;
		}
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		name = p;
		nl = strcspn(name, " \t");
		hash = name + nl;
		while (*hash == ' ' || *hash == '\t')
			hash++;
		hl = strcspn(hash, " \t\r\n");
		if (!valid_name(name, nl)) {
			rc = poky_error_set(e, POKY_ERR_INVALID,
			    "%s:%u: token name must be 1-%d of A-Z a-z 0-9 . _ - @",
			    path, lineno, AUTH_NAME_MAX);
			break;
		}
		if (t->n == AUTH_MAX_TOKENS) {
			rc = poky_error_set(e, POKY_ERR_LIMIT, "%s:%u: more than %d tokens",
			    path, lineno, AUTH_MAX_TOKENS);
			break;
		}
		if (!parse_hex32(hash, hl, t->v[t->n].hash)) {
			/* Never echo the value: it might be a plain token. */
			rc = poky_error_set(e, POKY_ERR_INVALID,
			    "%s:%u: want 'NAME SHA256HEX' (64 hex digits); make one "
			    "with pokyd --hash-token", path, lineno);
			break;
		}
		{
			const char *sc = hash + hl;
			size_t sl = strcspn(sc, "\r\n");
			struct poky_error e2;

			for (size_t k = sl; sc[k]; k++)
				if (!isspace((unsigned char)sc[k]))
					sl = 0;
			if (auth_parse_scopes(sc, sl, &t->v[t->n].scopes,
			    &e2) != POKY_OK) {
				rc = poky_error_set(e, POKY_ERR_INVALID, "%s:%u: %s",
				    path, lineno, e2.message);
				break;
			}
		}
		memcpy(t->v[t->n].name, name, nl);
		t->v[t->n].name[nl] = '\0';
		t->n++;
	}
	crypto_wipe(line, sizeof(line));
	fclose(f);
	if (rc != POKY_OK) {
		auth_free(t);
		return rc;
	}
	*out = t;
	return POKY_OK;
}

void
auth_free(struct auth_tokens *t)
{
	if (t == NULL)
		return;
	crypto_wipe(t->v, AUTH_MAX_TOKENS * sizeof(*t->v));
	free(t->v);
	free(t);
}

size_t
auth_count(const struct auth_tokens *t)
{
	return t ? t->n : 0;
}

const char *
auth_check(const struct auth_tokens *t, const char *token, size_t len)
{
	unsigned scopes;

	return auth_lookup(t, token, len, &scopes);
}

const char *
auth_lookup(const struct auth_tokens *t, const char *token, size_t len,
	    unsigned *scopes)
{
	unsigned char h[32];
	char hex[65];
	const char *found = NULL;

	*scopes = 0;
	if (t == NULL || len == 0 || len > AUTH_TOKEN_MAX)
		return NULL;
	if (crypto_sha256_hex(token, len, hex) != POKY_OK ||
	    !parse_hex32(hex, 64, h))
		return NULL;
	for (size_t i = 0; i < t->n; i++)
		if (crypto_equal(h, t->v[i].hash, 32)) {
			found = t->v[i].name;
			*scopes = t->v[i].scopes;
		}
	crypto_wipe(h, sizeof(h));
	crypto_wipe(hex, sizeof(hex));
	return found;
}

enum poky_err
auth_hash_line(const char *name, const char *token, size_t len, char *out,
	       size_t cap, struct poky_error *e)
{
	char hex[65];

	if (!valid_name(name, strlen(name)))
		return poky_error_set(e, POKY_ERR_INVALID,
		    "token name must be 1-%d of A-Z a-z 0-9 . _ - @", AUTH_NAME_MAX);
	if (len < 16 || len > AUTH_TOKEN_MAX)
		return poky_error_set(e, POKY_ERR_INVALID,
		    "a token must be 16..%d bytes", AUTH_TOKEN_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)token[i] <= ' ' || (unsigned char)token[i] > '~')
			return poky_error_set(e, POKY_ERR_INVALID,
			    "a token must be printable ASCII without spaces");
	if (crypto_sha256_hex(token, len, hex) != POKY_OK)
		return poky_error_set(e, POKY_ERR_CRYPTO, "SHA-256 failed");
	snprintf(out, cap, "%s %s", name, hex);
	return POKY_OK;
}
