/* log.h - one log line per event, as text or JSON lines.
 *
 * Lines go to stderr (journald and docker logs pick them up there).  The
 * request id of the calling thread, when set, is added to every line so all
 * lines of one HTTP request can be found together.  Nothing here knows what a
 * secret is: callers must never pass one (credentials, tokens, signatures). */
#ifndef POKY_LOG_H
#define POKY_LOG_H

#include <stdio.h>

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

/* Set where, how and from which level lines are written.  out NULL = stderr. */
void log_setup(FILE *out, enum log_format format, enum log_level level);

/* Parse "debug|info|warn|error" / "text|json". Return -1 if unknown. */
int log_level_parse(const char *s);
int log_format_parse(const char *s);

/* Under systemd, whether stderr is the journal's stream (JOURNAL_STREAM
 * names the device and inode of out): each line then starts with a
 * syslog "<N>" priority, which journald strips and keeps as PRIORITY, so
 * "journalctl -p err" finds errors.  Decided once, in log_setup. */
int log_journal_prefixes(void);

/* The request id added to this thread's lines; NULL clears it. Copied. */
void log_set_request_id(const char *id);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warnx(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_errorx(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

/* Structured fields for the JSON lines, given by the caller (never parsed
 * out of the message).  A string field whose value is NULL is left out.
 * The schema (names and types) is in docs/logging.md: keep to it. */
enum log_ftype { LOG_F_STR, LOG_F_INT, LOG_F_NUM };

struct log_field {
	const char *key;
	enum log_ftype type;
	const char *s;
	long long i;
	double d;
};

#define LF_STR(k, v) ((struct log_field){ .key = (k), .type = LOG_F_STR, .s = (v) })
#define LF_INT(k, v) ((struct log_field){ .key = (k), .type = LOG_F_INT, \
	.i = (long long)(v) })
#define LF_NUM(k, v) ((struct log_field){ .key = (k), .type = LOG_F_NUM, \
	.d = (double)(v) })

/* An array literal of fields and its length, for log_fields. */
#define LOG_FIELDS(...) (const struct log_field[]){ __VA_ARGS__ }, \
	(sizeof((const struct log_field[]){ __VA_ARGS__ }) / \
	 sizeof(struct log_field))

/* One line with fields: log_fields(LOG_LEVEL_INFO, LOG_FIELDS(LF_STR(
 * "task_id", id)), "task %s started", id).  In text format the fields are
 * not written (the message says it for people). */
void log_fields(enum log_level level, const struct log_field *f, size_t n,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Like log_warnx/log_errorx with ": strerror(errno)" appended. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
