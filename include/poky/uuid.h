/* uuid.h - random (v4) and time-ordered (v7) UUIDs, RFC 9562. */
#ifndef POKY_UUID_H
#define POKY_UUID_H

#include "poky/err.h"

#define UUID_STR_LEN 36

/* Write the lowercase text form into out[37]. POKY_ERR_CRYPTO if the
 * random source fails. */
enum poky_err uuid_v4(char out[UUID_STR_LEN + 1]);

/* Time-ordered: ids made later sort later (millisecond clock, then a
 * counter within the millisecond, then random bits). */
enum poky_err uuid_v7(char out[UUID_STR_LEN + 1]);

/* True when s is a UUID in lowercase or uppercase text form. */
int uuid_valid(const char *s);

#endif
