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

/* The request id added to this thread's lines; NULL clears it. Copied. */
void log_set_request_id(const char *id);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warnx(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_errorx(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

/* Like log_warnx/log_errorx with ": strerror(errno)" appended. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
