/* log.c - text or JSON log lines on stderr. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "poky/log.h"
#include "poky/str.h"

#define LOG_LINE_MAX 4096
#define LOG_REQID_MAX 64

static FILE *log_out;
static enum log_format log_fmt = LOG_FORMAT_TEXT;
static enum log_level log_min = LOG_LEVEL_INFO;
static _Thread_local char log_reqid[LOG_REQID_MAX + 1];

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void
log_setup(FILE *out, enum log_format format, enum log_level level)
{
	log_out = out;
	log_fmt = format;
	log_min = level;
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

/* Append s to line[*pos..cap) as the inside of a JSON string. */
static void
json_escape(char *line, size_t cap, size_t *pos, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	for (; *s != '\0' && *pos + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			line[(*pos)++] = '\\';
			line[(*pos)++] = (char)c;
		} else if (c == '\n') {
			line[(*pos)++] = '\\';
			line[(*pos)++] = 'n';
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(line + *pos, "\\u00", 4);
			line[*pos + 4] = hex[c >> 4];
			line[*pos + 5] = hex[c & 15];
			*pos += 6;
		} else {
			line[(*pos)++] = (char)c;
		}
	}
}

/* Control characters in a text line would let input forge log lines. */
static void
text_sanitize(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

static void
log_vwrite(enum log_level level, const char *fmt, va_list ap, int errnum)
{
	char msg[LOG_LINE_MAX], line[LOG_LINE_MAX * 2], ts[32];
	struct timeval tv;
	struct tm tm;
	size_t pos = 0;
	FILE *out = log_out != NULL ? log_out : stderr;
	int n;

	if (level < log_min)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (errnum != 0) {
		size_t l = strlen(msg);
		snprintf(msg + l, sizeof(msg) - l, ": %s", strerror(errnum));
	}
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = (int)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - (size_t)n, ".%03dZ", (int)(tv.tv_usec / 1000));

	if (log_fmt == LOG_FORMAT_JSON) {
		pos = (size_t)snprintf(line, sizeof(line),
		    "{\"ts\":\"%s\",\"level\":\"%s\"", ts, level_names[level]);
		if (log_reqid[0] != '\0') {
			memcpy(line + pos, ",\"request_id\":\"", 15);
			pos += 15;
			json_escape(line, sizeof(line) - 8, &pos, log_reqid);
			line[pos++] = '"';
		}
		memcpy(line + pos, ",\"msg\":\"", 8);
		pos += 8;
		json_escape(line, sizeof(line) - 4, &pos, msg);
		memcpy(line + pos, "\"}\n", 4);
		pos += 3;
	} else {
		text_sanitize(msg);
		pos = (size_t)snprintf(line, sizeof(line), "%s %-5s %s%s%s%s\n",
		    ts, level_names[level], log_reqid[0] ? "[" : "", log_reqid,
		    log_reqid[0] ? "] " : "", msg);
		if (pos >= sizeof(line))
			pos = sizeof(line) - 1;
	}
	/* One write per line so lines from threads never interleave. */
	fwrite(line, 1, pos, out);
	fflush(out);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(level, fmt, ap, 0);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;
	int errnum = errno;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_WARN, fmt, ap, errnum);
	va_end(ap);
}

void
log_error(const char *fmt, ...)
{
	va_list ap;
	int errnum = errno;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, fmt, ap, errnum);
	va_end(ap);
}
