/* log.c - text or JSON log lines on stderr. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#include "poky/log.h"
#include "poky/str.h"

#define LOG_LINE_MAX 4096
#define LOG_REQID_MAX 64

static FILE *log_out;
static enum log_format log_fmt = LOG_FORMAT_TEXT;
static enum log_level log_min = LOG_LEVEL_INFO;
static int log_journal;
static _Thread_local char log_reqid[LOG_REQID_MAX + 1];

static const char *const level_names[] = { "debug", "info", "warn", "error" };
/* syslog priorities: debug 7, info 6, warning 4, err 3. */
static const char level_prio[] = { '7', '6', '4', '3' };

/* systemd sets JOURNAL_STREAM=DEV:INO for a service whose stderr goes to
 * the journal; compare it with out, since a child may have inherited the
 * variable with a different stderr (a redirect to a file). */
static int
journal_stream_is(FILE *out)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char *end;

	if (js == NULL || !isdigit((unsigned char)*js))
		return 0;
	errno = 0;
	dev = strtoull(js, &end, 10);
	if (errno != 0 || *end != ':' || !isdigit((unsigned char)end[1]))
		return 0;
	ino = strtoull(end + 1, &end, 10);
	if (errno != 0 || *end != '\0')
		return 0;
	if (fstat(fileno(out), &st) != 0)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_setup(FILE *out, enum log_format format, enum log_level level)
{
	log_out = out;
	log_fmt = format;
	log_min = level;
	log_journal = journal_stream_is(out != NULL ? out : stderr);
}

int
log_journal_prefixes(void)
{
	return log_journal;
}

int
log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

int
log_format_parse(const char *s)
{
	if (strcmp(s, "text") == 0)
		return LOG_FORMAT_TEXT;
	if (strcmp(s, "json") == 0)
		return LOG_FORMAT_JSON;
	return -1;
}

void
log_set_request_id(const char *id)
{
	if (id == NULL)
		log_reqid[0] = '\0';
	else
		str_copy(log_reqid, sizeof(log_reqid), id);
}

/* A fixed line being built; appends past the end are dropped, and one
 * byte is always left for the final newline. */
struct line {
	char p[LOG_LINE_MAX * 2];
	size_t len;
};

static void
line_putc(struct line *l, char c)
{
	if (l->len + 1 < sizeof(l->p))
		l->p[l->len++] = c;
}

static void
line_puts(struct line *l, const char *s)
{
	for (; *s != '\0'; s++)
		line_putc(l, *s);
}

/* s as the inside of a JSON string; bytes that are not UTF-8 (a cut
 * message, raw bytes from a request) become U+FFFD so the line stays valid
 * JSON. */
static void
line_put_json(struct line *l, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x80) {
			int n = str_utf8_seq((const unsigned char *)s);

			if (n == 0) {
				line_puts(l, "\\ufffd");
				continue;
			}
			/* Only whole characters, or none, go in. */
			if (l->len + (size_t)n + 1 < sizeof(l->p))
				for (int i = 0; i < n; i++)
					line_putc(l, s[i]);
			s += n - 1;
		} else if (c == '"' || c == '\\') {
			line_putc(l, '\\');
			line_putc(l, (char)c);
		} else if (c == '\n') {
			line_puts(l, "\\n");
		} else if (c < 0x20 || c == 0x7f) {
			line_puts(l, "\\u00");
			line_putc(l, hex[c >> 4]);
			line_putc(l, hex[c & 15]);
		} else {
			line_putc(l, (char)c);
		}
	}
}

/* s with control characters as spaces: input can't forge text lines. */
static void
line_put_text(struct line *l, const char *s)
{
	for (; *s != '\0'; s++)
		line_putc(l, ((unsigned char)*s < 0x20 || *s == 0x7f) ? ' ' : *s);
}

static void
line_put_field(struct line *l, const struct log_field *f)
{
	char num[64];

	if (f->key == NULL || (f->type == LOG_F_STR && f->s == NULL))
		return;
	line_puts(l, ",\"");
	line_put_json(l, f->key);
	line_puts(l, "\":");
	switch (f->type) {
	case LOG_F_STR:
		line_putc(l, '"');
		line_put_json(l, f->s);
		line_putc(l, '"');
		return;
	case LOG_F_INT:
		snprintf(num, sizeof(num), "%lld", f->i);
		break;
	case LOG_F_NUM:
		/* JSON has no NaN or infinity. */
		if (isfinite(f->d))
			snprintf(num, sizeof(num), "%.3f", f->d);
		else
			snprintf(num, sizeof(num), "null");
		break;
	}
	line_puts(l, num);
}

static void
log_vwrite(enum log_level level, const struct log_field *fields,
	   size_t n_fields, const char *fmt, va_list ap, int errnum)
{
	char msg[LOG_LINE_MAX], ts[32];
	static _Thread_local struct line l;
	struct timeval tv;
	struct tm tm;
	FILE *out = log_out != NULL ? log_out : stderr;
	int n;

	if (level < log_min)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (errnum != 0) {
		size_t ml = strlen(msg);
		snprintf(msg + ml, sizeof(msg) - ml, ": %s", strerror(errnum));
	}
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = (int)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - (size_t)n, ".%03dZ", (int)(tv.tv_usec / 1000));

	l.len = 0;
	if (log_journal) {
		line_putc(&l, '<');
		line_putc(&l, level_prio[level]);
		line_putc(&l, '>');
	}
	if (log_fmt == LOG_FORMAT_JSON) {
		line_puts(&l, "{\"ts\":\"");
		line_puts(&l, ts);
		line_puts(&l, "\",\"level\":\"");
		line_puts(&l, level_names[level]);
		if (log_reqid[0] != '\0') {
			line_puts(&l, "\",\"request_id\":\"");
			line_put_json(&l, log_reqid);
		}
		line_puts(&l, "\",\"msg\":\"");
		/* Leave room to close the object even when msg is cut. */
		size_t keep = l.len;
		line_put_json(&l, msg);
		if (l.len > sizeof(l.p) - 4) {
			l.len = keep;
			line_puts(&l, "(message too long)");
		}
		line_putc(&l, '"');
		/* Fields after msg; a field that would not fit whole is
		 * dropped, so the line stays one valid object. */
		for (size_t i = 0; i < n_fields; i++) {
			keep = l.len;
			line_put_field(&l, &fields[i]);
			if (l.len > sizeof(l.p) - 4)
				l.len = keep;
		}
		line_putc(&l, '}');
	} else {
		line_puts(&l, ts);
		line_putc(&l, ' ');
		line_puts(&l, level_names[level]);
		line_putc(&l, ' ');
		if (log_reqid[0] != '\0') {
			line_putc(&l, '[');
			line_put_text(&l, log_reqid);
			line_puts(&l, "] ");
		}
		line_put_text(&l, msg);
	}
	l.p[l.len++] = '\n';
	/* One write per line so lines from threads never interleave. */
	fwrite(l.p, 1, l.len, out);
	fflush(out);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(level, NULL, 0, fmt, ap, 0);
	va_end(ap);
}

void
log_fields(enum log_level level, const struct log_field *f, size_t n,
	   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(level, f, n, fmt, ap, 0);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;
	int errnum = errno;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_WARN, NULL, 0, fmt, ap, errnum);
	va_end(ap);
}

void
log_error(const char *fmt, ...)
{
	va_list ap;
	int errnum = errno;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, NULL, 0, fmt, ap, errnum);
	va_end(ap);
}
