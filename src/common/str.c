/* str.c - RFC 3986 encoding, hex and time formats. */
#include <ctype.h>
#include <string.h>

#include "poky/str.h"

static const char hexdigits_upper[] = "0123456789ABCDEF";
static const char hexdigits_lower[] = "0123456789abcdef";

bool
str_is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

enum poky_err
str_uri_encode(struct buf *out, const char *s, size_t n, bool keep_slash)
{
	enum poky_err rc;
	size_t i, run;

	for (i = 0; i < n; i += run) {
		unsigned char c = (unsigned char)s[i];

		/* Copy runs of bytes that need no escape in one append. */
		for (run = 0; i + run < n; run++) {
			c = (unsigned char)s[i + run];
			if (!str_is_unreserved(c) && !(keep_slash && c == '/'))
				break;
		}
		if (run > 0) {
			if ((rc = buf_append(out, s + i, run)) != POKY_OK)
				return rc;
			continue;
		}
		char esc[3] = { '%', hexdigits_upper[c >> 4],
				hexdigits_upper[c & 15] };
		if ((rc = buf_append(out, esc, 3)) != POKY_OK)
			return rc;
		run = 1;
	}
	return POKY_OK;
}

int
str_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
str_pct_byte(const char *s, size_t n)
{
	int hi, lo;

	if (n < 3 || s[0] != '%' || (hi = str_hexval((unsigned char)s[1])) < 0 ||
	    (lo = str_hexval((unsigned char)s[2])) < 0)
		return -1;
	return hi << 4 | lo;
}

/* The one decoder: form says whether '+' is a space. */
static enum poky_err
pct_decode(struct buf *out, const char *s, size_t n, bool form)
{
	enum poky_err rc;

	for (size_t i = 0; i < n; i++) {
		int v = str_pct_byte(s + i, n - i);
		char c = s[i];

		if (v >= 0) {
			c = (char)v;
			i += 2;
		} else if (form && c == '+') {
			c = ' ';
		}
		if ((rc = buf_append_byte(out, c)) != POKY_OK)
			return rc;
	}
	return POKY_OK;
}

enum poky_err
str_uri_decode(struct buf *out, const char *s, size_t n)
{
	return pct_decode(out, s, n, false);
}

enum poky_err
str_form_decode(struct buf *out, const char *s, size_t n)
{
	return pct_decode(out, s, n, true);
}

size_t
str_uri_decode_path(char *s)
{
	char *w = s;
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++) {
		int v = str_pct_byte(s + i, n - i);

		if (v > 0 && v != '/') {
			*w++ = (char)v;
			i += 2;
		} else {
			*w++ = s[i];
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

void
str_hex(char *out, const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hexdigits_lower[p[i] >> 4];
		out[2 * i + 1] = hexdigits_lower[p[i] & 15];
	}
	out[2 * n] = '\0';
}

bool
str_ieq(const char *s, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (lit[i] == '\0' ||
		    tolower((unsigned char)s[i]) != tolower((unsigned char)lit[i]))
			return false;
	}
	return lit[n] == '\0';
}

void
str_time_amz(char out[17], time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

void
str_time_iso8601(char out[21], time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Read exactly n decimal digits. */
static bool
digits(const char **s, int n, int *v)
{
	int x = 0;

	while (n-- > 0) {
		if (!isdigit((unsigned char)**s))
			return false;
		x = x * 10 + (**s - '0');
		(*s)++;
	}
	*v = x;
	return true;
}

static bool
expect(const char **s, char c)
{
	if (**s != c)
		return false;
	(*s)++;
	return true;
}

/* The zone of an ISO 8601 time: "Z", or a UTC offset "+HH:MM"/"-HH:MM"
 * (basic format: "+HHMM"), as seconds east of UTC.  AWS sends "Z", but a
 * credential_process or an SDK-written cache may use an offset, which the
 * SDKs accept. */
static bool
zone_offset(const char **s, bool ext, long *off)
{
	int oh, om, sign;

	if (**s == 'Z') {
		(*s)++;
		*off = 0;
		return true;
	}
	if (**s != '+' && **s != '-')
		return false;
	sign = **s == '-' ? -1 : 1;
	(*s)++;
	if (!digits(s, 2, &oh) || (ext && !expect(s, ':')) || !digits(s, 2, &om) ||
	    oh > 23 || om > 59)
		return false;
	*off = sign * (oh * 3600L + om * 60L);
	return true;
}

bool
str_time_parse(const char *s, time_t *t)
{
	struct tm tm;
	int y, mo, d, h, mi, se;
	long off;
	time_t local;
	bool ext;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || !digits(&s, 4, &y))
		return false;
	ext = *s == '-';
	if (ext)
		s++;
	if (!digits(&s, 2, &mo) || (ext && !expect(&s, '-')) ||
	    !digits(&s, 2, &d) || !expect(&s, 'T') || !digits(&s, 2, &h) ||
	    (ext && !expect(&s, ':')) || !digits(&s, 2, &mi) ||
	    (ext && !expect(&s, ':')) || !digits(&s, 2, &se))
		return false;
	if (ext && *s == '.') {         /* fractional seconds are dropped */
		s++;
		if (!isdigit((unsigned char)*s))
			return false;
		while (isdigit((unsigned char)*s))
			s++;
	}
	if (!zone_offset(&s, ext, &off) || *s != '\0')
		return false;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || se > 59)
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	local = timegm(&tm);
	/* timegm normalises 31 February into March: refuse such dates. */
	struct tm back;
	gmtime_r(&local, &back);
	if (back.tm_mday != d || back.tm_mon != mo - 1 || local - off < 0)
		return false;
	*t = local - off;
	return true;
}

bool
str_time_parse_http(const char *s, time_t *t)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	static const char days[] = "MonTueWedThuFriSatSun";
	struct tm tm;
	int d, y, h, mi, se, mon = -1;
	bool wd = false;

	/* Fixed layout: "Sun, 06 Nov 1994 08:49:37 GMT" (29 characters). */
	if (s == NULL || strlen(s) != 29)
		return false;
	for (int i = 0; i < 7; i++)
		wd = wd || memcmp(s, days + 3 * i, 3) == 0;
	for (int i = 0; i < 12 && mon < 0; i++)
		if (memcmp(s + 8, months + 3 * i, 3) == 0)
			mon = i;
	if (!wd || mon < 0 || memcmp(s + 3, ", ", 2) != 0 || s[7] != ' ' ||
	    s[11] != ' ' || s[16] != ' ' || strcmp(s + 25, " GMT") != 0)
		return false;
	s += 5;
	if (!digits(&s, 2, &d) || !expect(&s, ' '))
		return false;
	s += 4;
	if (!digits(&s, 4, &y) || !expect(&s, ' ') || !digits(&s, 2, &h) ||
	    !expect(&s, ':') || !digits(&s, 2, &mi) || !expect(&s, ':') ||
	    !digits(&s, 2, &se))
		return false;
	if (y < 1970 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return false;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mon;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	*t = timegm(&tm);
	return true;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if it is not one:
 * no overlongs, no surrogates, nothing past U+10FFFF, none cut short. */
int
str_utf8_seq(const unsigned char *s)
{
	int n;
	unsigned min, cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2; min = 0x80; cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3; min = 0x800; cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4; min = 0x10000; cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)      /* also stops at the NUL */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void
str_utf8_scrub(char *s)
{
	while (*s != '\0') {
		int n = str_utf8_seq((const unsigned char *)s);

		if (n == 0)
			*s++ = '?';
		else
			s += n;
	}
}

bool
str_copy(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (cap == 0)
		return false;
	if (n >= cap) {
		memcpy(dst, src, cap - 1);
		dst[cap - 1] = '\0';
		return false;
	}
	memcpy(dst, src, n + 1);
	return true;
}
