/* auth.h - bearer tokens, stored hashed ("NAME SHA256HEX [SCOPE...]" lines).
 *
 * A presented token is hashed and compared with every stored hash in
 * constant time (no early exit), so timing tells nothing about which
 * tokens exist or how much of one matched. */
#ifndef POKY_AUTH_H
#define POKY_AUTH_H

#include <stddef.h>

#include "poky/err.h"

#define AUTH_MAX_TOKENS 1024
#define AUTH_NAME_MAX 64
#define AUTH_TOKEN_MAX 4096

/* What a token may do.  A line without scopes is every scope (admin): the
 * tokens files written before scopes keep working as they did. */
#define AUTH_SUBMIT  0x01u      /* POST /tasks, /process_file */
#define AUTH_READ    0x02u      /* its own tasks, their logs; templates */
#define AUTH_CANCEL  0x04u      /* DELETE its own tasks */
#define AUTH_METRICS 0x08u      /* GET /metrics, /readyz details */
#define AUTH_ADMIN   0x10u      /* every task, whoever made it */
#define AUTH_ALL     0x1fu

struct auth_tokens;

/* Scope words ("submit read", spaces or tabs between) into *out; the
 * empty list is AUTH_ALL.  POKY_ERR_INVALID names the unknown word. */
enum poky_err auth_parse_scopes(const char *s, size_t n, unsigned *out,
				struct poky_error *e);

/* Load a tokens file; errors name the line. */
enum poky_err auth_load(const char *path, struct auth_tokens **out,
			struct poky_error *e);
void auth_free(struct auth_tokens *t);
size_t auth_count(const struct auth_tokens *t);

/* The name of the token, or NULL when it matches none. */
const char *auth_check(const struct auth_tokens *t, const char *token,
		       size_t len);

/* auth_check, with the token's scopes in *scopes (0 when none matches). */
const char *auth_lookup(const struct auth_tokens *t, const char *token,
			size_t len, unsigned *scopes);

/* "NAME SHA256HEX" for a token, into out[AUTH_NAME_MAX + 66]. */
enum poky_err auth_hash_line(const char *name, const char *token, size_t len,
			     char *out, size_t cap, struct poky_error *e);

#endif
