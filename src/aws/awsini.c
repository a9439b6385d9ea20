/* awsini.c - AWS's INI-style shared files (see awsini.h).
 *
 * The input is copied once and cut up in place: names and values are NUL-
 * terminated spans of that copy, so freeing is one wipe and three frees. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "poky/awsini.h"
#include "poky/crypto.h"

struct awsini_entry {
	size_t section;                 /* index into sections */
	const char *key;
	const char *value;
};

struct awsini {
	char *mem;                      /* the copy of the input */
	size_t mem_len;
	const char **sections;          /* distinct names, in order of appearance */
	size_t n_sections, cap_sections;
	struct awsini_entry *entries;
	size_t n_entries, cap_entries;
};

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Trim blanks at both ends of s[0..*n), in place; returns the new start. */
static char *
trim(char *s, size_t *n)
{
	while (*n > 0 && is_blank(s[0])) {
		s++;
		(*n)--;
	}
	while (*n > 0 && (is_blank(s[*n - 1]) || s[*n - 1] == '\r'))
		(*n)--;
	s[*n] = '\0';
	return s;
}

static enum poky_err
grow(void **p, size_t *cap, size_t n, size_t size, size_t max)
{
	size_t ncap;
	void *np;

	if (n < *cap)
		return POKY_OK;
	if (n >= max)
		return POKY_ERR_LIMIT;
	ncap = *cap ? *cap * 2 : 16;
	if (ncap > max)
		ncap = max;
	np = realloc(*p, ncap * size);
	if (np == NULL)
		return POKY_ERR_NOMEM;
	*p = np;
	*cap = ncap;
	return POKY_OK;
}

static enum poky_err
section_add(struct awsini *ini, const char *name, size_t *idx)
{
	enum poky_err rc;
	void *p;

	/* Duplicate headers are merged into the first section of that name. */
	for (size_t i = 0; i < ini->n_sections; i++) {
		if (strcmp(ini->sections[i], name) == 0) {
			*idx = i;
			return POKY_OK;
		}
	}
	p = ini->sections;
	rc = grow(&p, &ini->cap_sections, ini->n_sections, sizeof(*ini->sections),
	    AWSINI_MAX_SECTIONS);
	ini->sections = p;
	if (rc != POKY_OK)
		return rc;
	*idx = ini->n_sections;
	ini->sections[ini->n_sections++] = name;
	return POKY_OK;
}

static enum poky_err
entry_add(struct awsini *ini, size_t section, const char *key,
	  const char *value)
{
	enum poky_err rc;
	void *p = ini->entries;

	rc = grow(&p, &ini->cap_entries, ini->n_entries, sizeof(*ini->entries),
	    AWSINI_MAX_ENTRIES);
	ini->entries = p;
	if (rc != POKY_OK)
		return rc;
	ini->entries[ini->n_entries++] = (struct awsini_entry){
		.section = section, .key = key, .value = value,
	};
	return POKY_OK;
}

static enum poky_err
fail_line(struct poky_error *e, enum poky_err rc, size_t lineno, const char *why)
{
	if (rc == POKY_ERR_NOMEM)
		return poky_error_set(e, rc, "out of memory");
	return poky_error_set(e, rc, "line %zu: %s", lineno, why);
}

enum poky_err
awsini_parse(const char *data, size_t n, struct awsini **out,
	     struct poky_error *e)
{
	struct awsini *ini = NULL;
	enum poky_err rc = POKY_OK;
	size_t pos = 0, lineno = 0, cur = 0, key_indent = 0;
	bool have_section = false, have_key = false;

	*out = NULL;
	if (n > AWSINI_MAX_BYTES)
		return poky_error_set(e, POKY_ERR_LIMIT, "file larger than %u bytes",
		    AWSINI_MAX_BYTES);
	if (memchr(data, '\0', n) != NULL)
		return poky_error_set(e, POKY_ERR_INVALID, "file holds a NUL byte");
	if ((ini = calloc(1, sizeof(*ini))) == NULL ||
	    (ini->mem = malloc(n + 1)) == NULL) {
		rc = poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
		goto fail;
	}
	memcpy(ini->mem, data, n);
	ini->mem[n] = '\0';
	ini->mem_len = n + 1;
	/* A UTF-8 byte order mark, as some Windows editors write, is not text. */
	if (n >= 3 && memcmp(ini->mem, "\xEF\xBB\xBF", 3) == 0)
		pos = 3;

	while (pos < n) {
		char *line = ini->mem + pos, *nl = memchr(line, '\n', n - pos);
		size_t len = nl ? (size_t)(nl - line) : n - pos, indent = 0;
		char *s, *delim, *key, *value;
		size_t klen, vlen;

		pos += len + 1;
		lineno++;
		if (len > AWSINI_MAX_LINE) {
			rc = fail_line(e, POKY_ERR_LIMIT, lineno, "line too long");
			goto fail;
		}
		while (indent < len && is_blank(line[indent]))
			indent++;
		s = trim(line, &len);
		if (len == 0 || s[0] == '#' || s[0] == ';')
			continue;
		/* Deeper than the key above it: a continuation or a nested
		 * sub-section ("s3 =" then "  addressing_style = path"). */
		if (have_key && indent > key_indent)
			continue;
		if (s[0] == '[') {
			/* configparser reads up to the last ']' and ignores the
			 * rest of the line. */
			char *close = strrchr(s, ']');
			size_t nlen;
			char *name;

			if (close == NULL) {
				rc = fail_line(e, POKY_ERR_INVALID, lineno,
				    "section header without ']'");
				goto fail;
			}
			nlen = (size_t)(close - s - 1);
			name = trim(s + 1, &nlen);
			if (nlen == 0) {
				rc = fail_line(e, POKY_ERR_INVALID, lineno,
				    "empty section name");
				goto fail;
			}
			if ((rc = section_add(ini, name, &cur)) != POKY_OK) {
				rc = fail_line(e, rc, lineno, "too many sections");
				goto fail;
			}
			have_section = true;
			have_key = false;
			continue;
		}
		if (!have_section) {
			rc = fail_line(e, POKY_ERR_INVALID, lineno,
			    "setting before any [section] header");
			goto fail;
		}
		delim = s + strcspn(s, "=:");
		if (*delim == '\0') {
			rc = fail_line(e, POKY_ERR_INVALID, lineno,
			    "expected 'key = value'");
			goto fail;
		}
		klen = (size_t)(delim - s);
		vlen = len - klen - 1;
		value = trim(delim + 1, &vlen);
		key = trim(s, &klen);
		if (klen == 0) {
			rc = fail_line(e, POKY_ERR_INVALID, lineno, "empty key");
			goto fail;
		}
		for (size_t i = 0; i < klen; i++)
			if (key[i] >= 'A' && key[i] <= 'Z')
				key[i] = (char)(key[i] - 'A' + 'a');
		if ((rc = entry_add(ini, cur, key, value)) != POKY_OK) {
			rc = fail_line(e, rc, lineno, "too many settings");
			goto fail;
		}
		have_key = true;
		key_indent = indent;
	}
	*out = ini;
	return POKY_OK;
fail:
	awsini_free(ini);
	return rc;
}

void
awsini_free(struct awsini *ini)
{
	if (ini == NULL)
		return;
	if (ini->mem != NULL)
		crypto_wipe(ini->mem, ini->mem_len);
	free(ini->mem);
	free(ini->sections);
	free(ini->entries);
	free(ini);
}

static bool
section_index(const struct awsini *ini, const char *section, size_t *idx)
{
	for (size_t i = 0; i < ini->n_sections; i++) {
		if (strcmp(ini->sections[i], section) == 0) {
			*idx = i;
			return true;
		}
	}
	return false;
}

int
awsini_has_section(const struct awsini *ini, const char *section)
{
	size_t idx;

	return ini != NULL && section_index(ini, section, &idx);
}

const char *
awsini_get(const struct awsini *ini, const char *section, const char *key)
{
	size_t idx;

	if (ini == NULL || section == NULL || !section_index(ini, section, &idx))
		return NULL;
	for (size_t i = ini->n_entries; i-- > 0;) {
		const struct awsini_entry *en = &ini->entries[i];

		if (en->section == idx && strcmp(en->key, key) == 0)
			return en->value;
	}
	return NULL;
}

/* "profile NAME" with one or more blanks between: NAME, else NULL. */
static const char *
profile_name(const char *section)
{
	if (strncmp(section, "profile", 7) != 0 || !is_blank(section[7]))
		return NULL;
	section += 7;
	while (is_blank(*section))
		section++;
	return section;
}

const char *
awsini_profile_section(const struct awsini *ini, enum awsini_kind kind,
		       const char *name)
{
	const char *fallback = NULL;

	if (ini == NULL || name == NULL || name[0] == '\0')
		return NULL;
	for (size_t i = 0; i < ini->n_sections; i++) {
		const char *s = ini->sections[i], *p;

		if (kind == AWSINI_CREDENTIALS) {
			if (strcmp(s, name) == 0)
				return s;
			continue;
		}
		if ((p = profile_name(s)) != NULL && strcmp(p, name) == 0)
			return s;
		if (strcmp(name, "default") == 0 && strcmp(s, "default") == 0)
			fallback = s;
	}
	return fallback;
}
