/* str.h - small string helpers: RFC 3986 encoding, hex, time formats. */
#ifndef POKY_STR_H
#define POKY_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "poky/buf.h"

/* RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~" */
bool str_is_unreserved(unsigned char c);

/* Percent-encode every byte of s[0..n) that is not unreserved (and not '/'
 * when keep_slash), with uppercase hex, appending to out. */
enum poky_err str_uri_encode(struct buf *out, const char *s, size_t n,
			     bool keep_slash);

/* Decode %XX escapes of s[0..n) into out. A '%' not followed by two hex
 * digits is kept literally ('+' is never a space here). */
enum poky_err str_uri_decode(struct buf *out, const char *s, size_t n);

/* The same for application/x-www-form-urlencoded (query strings, form
 * bodies): '+' is a space as well. */
enum poky_err str_form_decode(struct buf *out, const char *s, size_t n);

/* Decode a request path in place, leaving "%2F" and "%00" encoded: a
 * decoded slash would route "/tasks%2fID" as "/tasks/ID", and a NUL would
 * cut the string short.  Returns the new length. */
size_t str_uri_decode_path(char *s);

/* The byte the escape "%XX" at the start of s[0..n) stands for, or -1 when
 * s does not start with one.  For callers that judge each decoded byte. */
int str_pct_byte(const char *s, size_t n);

/* Lowercase hex of n bytes into out, which must hold 2n+1 chars. */
void str_hex(char *out, const unsigned char *p, size_t n);

/* Value of one hex digit, or -1. */
int str_hexval(unsigned char c);

/* Case-insensitive equality of s[0..n) with the C string lit. */
bool str_ieq(const char *s, size_t n, const char *lit);

/* "20150830T123600Z" (16 chars + NUL) from a UTC time. */
void str_time_amz(char out[17], time_t t);

/* "2015-08-30T12:36:00Z" (20 chars + NUL) from a UTC time. */
void str_time_iso8601(char out[21], time_t t);

/* Parse an ISO 8601 / RFC 3339 time into *t: "YYYYMMDDTHHMMSSZ" or
 * "YYYY-MM-DDTHH:MM:SS[.frac]Z", or with a UTC offset instead of Z
 * ("+02:00", "-05:30"; basic format "+0200").  The one parser for every
 * time AWS sends (STS, credential_process, container, IMDS, SSO).  Returns
 * false on anything else, including out-of-range fields and times before
 * 1970 UTC. */
bool str_time_parse(const char *s, time_t *t);

/* Parse an HTTP date (RFC 9110 IMF-fixdate: "Sun, 06 Nov 1994 08:49:37
 * GMT") into *t.  Returns false on anything else. */
bool str_time_parse_http(const char *s, time_t *t);

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is not one
 * (overlong, surrogate, past U+10FFFF, cut short). */
int str_utf8_seq(const unsigned char *s);

/* Replace every byte that does not start a valid UTF-8 sequence with '?',
 * in place, so the text can go into JSON. */
void str_utf8_scrub(char *s);

/* Copy at most cap-1 bytes of src into dst, always NUL-terminating.
 * Returns false if src was cut. */
bool str_copy(char *dst, size_t cap, const char *src);

#endif
