/* auth.h - bearer tokens, stored hashed ("NAME SHA256HEX" lines).
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

struct auth_tokens;

/* Load a tokens file; errors name the line. */
enum poky_err auth_load(const char *path, struct auth_tokens **out,
			struct poky_error *e);
void auth_free(struct auth_tokens *t);
size_t auth_count(const struct auth_tokens *t);

/* The name of the token, or NULL when it matches none. */
const char *auth_check(const struct auth_tokens *t, const char *token,
		       size_t len);

/* "NAME SHA256HEX" for a token, into out[AUTH_NAME_MAX + 66]. */
enum poky_err auth_hash_line(const char *name, const char *token, size_t len,
			     char *out, size_t cap, struct poky_error *e);

#endif
