/* test_log.c - unit tests for src/common/log.c */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "poky/log.h"
#include "poky/str.h"

static FILE *log_file;
static char got[65536];

static int
setup(void **state)
{
	(void)state;
	log_file = tmpfile();
	if (log_file == NULL)
		return -1;
	log_setup(log_file, LOG_FORMAT_TEXT, LOG_LEVEL_DEBUG);
	log_set_request_id(NULL);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	log_setup(NULL, LOG_FORMAT_TEXT, LOG_LEVEL_INFO);
	log_set_request_id(NULL);
	if (log_file != NULL)
		fclose(log_file);
	log_file = NULL;
	return 0;
}

/* Everything written to the log file so far, NUL-terminated in got[]. */
static size_t
read_log(void)
{
	size_t n;

	assert_int_equal(fflush(log_file), 0);
	rewind(log_file);
	n = fread(got, 1, sizeof(got) - 1, log_file);
	assert_false(ferror(log_file));
	got[n] = '\0';
	return n;
}

static size_t
count_lines(void)
{
	size_t n = 0;

	for (const char *p = got; *p != '\0'; p++)
		n += *p == '\n';
	return n;
}

/* The log holds exactly one line; return it (with its newline). */
static const char *
read_one_line(void)
{
	size_t n = read_log();

	assert_true(n > 0);
	assert_int_equal(count_lines(), 1);
	assert_int_equal(got[n - 1], '\n');
	return got;
}

/* The log holds one JSON line; return it parsed (caller json_decref). */
static json_t *
read_one_json(void)
{
	json_error_t jerr;
	json_t *j;

	read_one_line();
	j = json_loads(got, 0, &jerr);
	if (j == NULL)
		fail_msg("not JSON (%s): %.120s", jerr.text, got);
	assert_true(json_is_object(j));
	return j;
}

static const char *
json_str(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL || !json_is_string(v))
		return NULL;
	return json_string_value(v);
}

static bool
has_control_char_before_end(const char *line)
{
	size_t n = strlen(line);

	for (size_t i = 0; i + 1 < n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			return true;
	return false;
}

/* ---- destination and filtering ------------------------------------------ */

static void
test_log_setup_writes_lines_to_the_given_stream(void **state)
{
	(void)state;
	log_info("hello");
	assert_non_null(strstr(read_one_line(), "hello"));
}

static void
test_log_each_call_writes_exactly_one_line(void **state)
{
	(void)state;
	log_info("one");
	log_info("two");
	log_errorx("three");
	read_log();
	assert_int_equal(count_lines(), 3);
	assert_true(strstr(got, "one") < strstr(got, "two"));
	assert_true(strstr(got, "two") < strstr(got, "three"));
}

static void
test_log_level_filter_drops_lines_below_minimum(void **state)
{
	(void)state;
	log_setup(log_file, LOG_FORMAT_TEXT, LOG_LEVEL_WARN);
	log_debug("dropped-debug");
	log_info("dropped-info");
	log_warnx("kept-warn");
	log_errorx("kept-error");
	read_log();
	assert_int_equal(count_lines(), 2);
	assert_null(strstr(got, "dropped"));
	assert_non_null(strstr(got, "kept-warn"));
	assert_non_null(strstr(got, "kept-error"));
}

static void
test_log_level_debug_writes_every_level(void **state)
{
	(void)state;
	log_setup(log_file, LOG_FORMAT_TEXT, LOG_LEVEL_DEBUG);
	log_debug("a");
	log_info("b");
	log_warnx("c");
	log_errorx("d");
	read_log();
	assert_int_equal(count_lines(), 4);
}

static void
test_log_level_error_writes_only_errors(void **state)
{
	(void)state;
	log_setup(log_file, LOG_FORMAT_TEXT, LOG_LEVEL_ERROR);
	log_debug("a");
	log_info("b");
	log_warnx("c");
	errno = EIO;
	log_warn("d");
	log_errorx("only-this");
	assert_non_null(strstr(read_one_line(), "only-this"));
}

static void
test_log_json_line_below_minimum_level_writes_nothing(void **state)
{
	(void)state;
	log_setup(log_file, LOG_FORMAT_JSON, LOG_LEVEL_INFO);
	log_debug("%s", "nothing");
	assert_int_equal(read_log(), 0);
}

/* ---- text format -------------------------------------------------------- */

static void
test_log_text_line_starts_with_utc_timestamp(void **state)
{
	const char *line;
	char ts[64];
	time_t t;
	size_t n;

	(void)state;
	log_info("msg");
	line = read_one_line();
	n = strcspn(line, " ");
	assert_true(n > 0 && n < sizeof(ts));
	memcpy(ts, line, n);
	ts[n] = '\0';
	assert_true(str_time_parse(ts, &t));
}

static void
test_log_text_line_has_level_and_message(void **state)
{
	const char *line;

	(void)state;
	log_info("hello %s %d", "world", 42);
	line = read_one_line();
	assert_non_null(strstr(line, " info "));
	assert_non_null(strstr(line, "hello world 42\n"));
}

static void
test_log_text_line_names_each_level(void **state)
{
	const char *d, *i, *w, *e;

	(void)state;
	log_debug("m");
	log_info("m");
	log_warnx("m");
	log_errorx("m");
	read_log();
	d = strstr(got, " debug ");
	i = strstr(got, " info ");
	w = strstr(got, " warn ");
	e = strstr(got, " error ");
	assert_non_null(d);
	assert_non_null(i);
	assert_non_null(w);
	assert_non_null(e);
	assert_true(d < i && i < w && w < e);
}

static void
test_log_text_line_has_request_id_in_brackets_when_set(void **state)
{
	(void)state;
	log_set_request_id("req-123");
	log_info("with id");
	assert_non_null(strstr(read_one_line(), "[req-123] with id"));
}

static void
test_log_text_line_has_no_request_id_after_clearing(void **state)
{
	const char *line;

	(void)state;
	log_set_request_id("req-123");
	log_set_request_id(NULL);
	log_info("no id");
	line = read_one_line();
	assert_null(strstr(line, "req-123"));
	assert_null(strchr(line, '['));
	assert_non_null(strstr(line, "no id"));
}

static void
test_log_request_id_is_copied(void **state)
{
	char id[16];

	(void)state;
	strcpy(id, "abc");
	log_set_request_id(id);
	strcpy(id, "xyz");
	log_info("m");
	assert_non_null(strstr(read_one_line(), "[abc]"));
}

static void
test_log_text_newline_in_message_cannot_forge_a_second_line(void **state)
{
	const char *line;

	(void)state;
	log_info("user said: %s", "hi\n2015-08-30T12:36:00.000Z error forged");
	line = read_one_line();
	assert_false(has_control_char_before_end(line));
	assert_non_null(strstr(line, "forged"));
}

static void
test_log_text_control_chars_in_message_are_replaced(void **state)
{
	const char *line;

	(void)state;
	log_info("a\rb\tc\x01" "d\x1b[31me\x7f" "f");
	line = read_one_line();
	assert_false(has_control_char_before_end(line));
	assert_non_null(strstr(line, "a"));
	assert_non_null(strstr(line, "f\n"));
}

static void
test_log_text_control_chars_in_request_id_cannot_forge_a_line(void **state)
{
	const char *line;

	(void)state;
	log_set_request_id("id\nforged line\r");
	log_info("msg");
	line = read_one_line();
	assert_false(has_control_char_before_end(line));
	assert_non_null(strstr(line, "msg\n"));
}

static void
test_log_text_overlong_message_is_still_one_line(void **state)
{
	static char big[20000];
	const char *line;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_info("%s", big);
	line = read_one_line();
	assert_non_null(strstr(line, "xxxxxxxx"));
}

/* ---- JSON format -------------------------------------------------------- */

static void
test_log_json_line_parses_with_ts_level_and_msg(void **state)
{
	json_t *j;
	time_t t;

	(void)state;
	log_setup(log_file, LOG_FORMAT_JSON, LOG_LEVEL_DEBUG);
	log_warnx("disk %d%% full", 91);
	j = read_one_json();
	assert_string_equal(json_str(j, "level"), "warn");
	assert_string_equal(json_str(j, "msg"), "disk 91% full");
	assert_non_null(json_str(j, "ts"));
	assert_true(str_time_parse(json_str(j, "ts"), &t));
	json_decref(j);
}

static void
test_log_json_level_names_every_level(void **state)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };

	(void)state;
	log_setup(log_file, LOG_FORMAT_JSON, LOG_LEVEL_DEBUG);
	for (int lvl = LOG_LEVEL_DEBUG; lvl <= LOG_LEVEL_ERROR; lvl++) {
		json_t *j;

		rewind(log_file);
		assert_int_equal(ftruncate(fileno(log_file), 0), 0);
		log_msg((enum log_level)lvl, "m");
		j = read_one_json();
		assert_string_equal(json_str(j, "level"), names[lvl]);
		json_decref(j);
	}
}

static void
test_log_json_has_request_id_when_set(void **state)
{
	json_t *j;

	(void)state;
	log_setup(log_file, LOG_FORMAT_JSON, LOG_LEVEL_DEBUG);
	log_set_request_id("req-7");
	log_info("m");
	j = read_one_json();
	assert_string_equal(json_str(j, "request_id"), "req-7");
	assert_string_equal(json_str(j, "msg"), "m");
	json_decref(j);
}

static void
test_log_json_has_no_request_id_after_clearing(void **state)
{
	json_t *j;

	(void)state;
	log_setup(log_file, LOG_FORMAT_JSON, LOG_LEVEL_DEBUG);
	log_set_request_id("req-7");
	log_set_request_id(NULL);
	log_info("m");
	j = read_one_json();
	assert_null(json_object_get(j, "request_id"));
	json_decref(j);
}

static void
test_log_json_escapes_quotes_backslash_newline_and_control_chars(void **state)
{
	static const char msg[] =
	    "q\"uote b\\ack nl\nx cr\rx tab\tx \x01\x02\x1f del\x7f end";
	json_t *j;

	(void)state;
	log_setup(log_file, LOG_FORMAT_JSON, LOG_LEVEL_DEBUG);
	log_info("%s", msg);
	j = read_one_json();    /* one line: the newline was escaped */
	assert_string_equal(json_str(j, "msg"), msg);
	json_decref(j);
	assert_non_null(strstr(got, "\\\""));
	assert_non_null(strstr(got, "\\\\"));
	assert_non_null(strstr(got, "\\n"));
	assert_false(has_control_char_before_end(got));
}

static void
test_log_json_escapes_request_id(void **state)
{
	static const char id[] = "a\"b\\c\nd";
	json_t *j;

	(void)state;
	log_setup(log_file, LOG_FORMAT_JSON, LOG_LEVEL_DEBUG);
	log_set_request_id(id);
	log_info("m");
	j = read_one_json();
	assert_string_equal(json_str(j, "request_id"), id);
	json_decref(j);
}

static void
test_log_json_keeps_utf8_message_intact(void **state)
{
	static const char msg[] = "caf\xc3\xa9 \xe2\x82\xac";
	json_t *j;

	(void)state;
	log_setup(log_file, LOG_FORMAT_JSON, LOG_LEVEL_DEBUG);
	log_info("%s", msg);
	j = read_one_json();
	assert_string_equal(json_str(j, "msg"), msg);
	json_decref(j);
}

static void
test_log_json_overlong_escaped_message_is_still_one_valid_line(void **state)
{
	static char big[5000];
	json_t *j;

	(void)state;
	/* Every byte escapes to six: far more than a line can hold. */
	memset(big, '\x01', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_setup(log_file, LOG_FORMAT_JSON, LOG_LEVEL_DEBUG);
	log_set_request_id("req-long");
	log_info("%s", big);
	j = read_one_json();
	assert_string_equal(json_str(j, "level"), "info");
	assert_string_equal(json_str(j, "request_id"), "req-long");
	assert_non_null(json_str(j, "msg"));
	json_decref(j);
}

static void
test_log_json_overlong_utf8_message_is_cut_on_a_character_boundary(void **state)
{
	static char big[6001];
	json_t *j;

	(void)state;
	/* 3000 x U+00E9: valid UTF-8, longer than a message may be, so it
	 * gets cut; the cut must not split a character or the line is no
	 * longer valid JSON. */
	for (size_t i = 0; i + 1 < sizeof(big); i += 2) {
		big[i] = '\xc3';
		big[i + 1] = '\xa9';
	}
	big[sizeof(big) - 1] = '\0';
	log_setup(log_file, LOG_FORMAT_JSON, LOG_LEVEL_DEBUG);
	log_info("%s", big);
	j = read_one_json();
	assert_non_null(json_str(j, "msg"));
	json_decref(j);
}

static void
test_log_json_invalid_utf8_in_message_still_gives_valid_json(void **state)
{
	json_t *j;

	(void)state;
	/* A request target may hold any byte; logging it must not break the
	 * JSON line for every consumer. */
	log_setup(log_file, LOG_FORMAT_JSON, LOG_LEVEL_DEBUG);
	log_info("target %s", "/a\xff\xfe\xc3" "b");
	j = read_one_json();
	assert_non_null(json_str(j, "msg"));
	json_decref(j);
}

/* ---- log_warn / log_error ----------------------------------------------- */

static void
test_log_warn_appends_strerror_of_errno(void **state)
{
	char want[256];
	const char *line;

	(void)state;
	snprintf(want, sizeof(want), "open %s: %s\n", "/x", strerror(ENOENT));
	errno = ENOENT;
	log_warn("open %s", "/x");
	line = read_one_line();
	assert_non_null(strstr(line, want));
	assert_non_null(strstr(line, " warn "));
}

static void
test_log_error_appends_strerror_of_errno_at_error_level(void **state)
{
	char want[256];
	const char *line;

	(void)state;
	snprintf(want, sizeof(want), "read: %s\n", strerror(EACCES));
	errno = EACCES;
	log_error("read");
	line = read_one_line();
	assert_non_null(strstr(line, want));
	assert_non_null(strstr(line, " error "));
}

static void
test_log_warnx_does_not_append_strerror(void **state)
{
	const char *line;

	(void)state;
	errno = ENOENT;
	log_warnx("plain");
	line = read_one_line();
	assert_non_null(strstr(line, "plain\n"));
	assert_null(strstr(line, strerror(ENOENT)));
}

static void
test_log_warn_in_json_has_strerror_in_msg(void **state)
{
	char want[256];
	json_t *j;

	(void)state;
	log_setup(log_file, LOG_FORMAT_JSON, LOG_LEVEL_DEBUG);
	snprintf(want, sizeof(want), "connect: %s", strerror(ECONNREFUSED));
	errno = ECONNREFUSED;
	log_warn("connect");
	j = read_one_json();
	assert_string_equal(json_str(j, "msg"), want);
	assert_string_equal(json_str(j, "level"), "warn");
	json_decref(j);
}

/* ---- request id is per thread ------------------------------------------- */

static void *
log_from_thread(void *arg)
{
	(void)arg;
	log_info("from-thread");
	return NULL;
}

static void
test_log_request_id_belongs_to_the_calling_thread(void **state)
{
	pthread_t th;
	const char *line;

	(void)state;
	log_set_request_id("main-id");
	assert_int_equal(pthread_create(&th, NULL, log_from_thread, NULL), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	line = read_one_line();
	assert_non_null(strstr(line, "from-thread"));
	assert_null(strstr(line, "main-id"));
}

/* ---- parsing names ------------------------------------------------------ */

static void
test_log_level_parse_known_names(void **state)
{
	(void)state;
	assert_int_equal(log_level_parse("debug"), LOG_LEVEL_DEBUG);
	assert_int_equal(log_level_parse("info"), LOG_LEVEL_INFO);
	assert_int_equal(log_level_parse("warn"), LOG_LEVEL_WARN);
	assert_int_equal(log_level_parse("error"), LOG_LEVEL_ERROR);
}

static void
test_log_level_parse_unknown_is_minus_one(void **state)
{
	(void)state;
	assert_int_equal(log_level_parse(""), -1);
	assert_int_equal(log_level_parse("verbose"), -1);
	assert_int_equal(log_level_parse("warning"), -1);
	assert_int_equal(log_level_parse("info "), -1);
	assert_int_equal(log_level_parse("inf"), -1);
}

static void
test_log_format_parse_known_names(void **state)
{
	(void)state;
	assert_int_equal(log_format_parse("text"), LOG_FORMAT_TEXT);
	assert_int_equal(log_format_parse("json"), LOG_FORMAT_JSON);
}

static void
test_log_format_parse_unknown_is_minus_one(void **state)
{
	(void)state;
	assert_int_equal(log_format_parse(""), -1);
	assert_int_equal(log_format_parse("xml"), -1);
	assert_int_equal(log_format_parse("jsonl"), -1);
	assert_int_equal(log_format_parse("tex"), -1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* ---- structured fields (docs/logging.md) -------------------------------- */

static void
test_log_json_fields_are_typed_members(void **state)
{
	json_t *j;

	(void)state;
	log_setup(log_file, LOG_FORMAT_JSON, LOG_LEVEL_DEBUG);
	log_fields(LOG_LEVEL_INFO, LOG_FIELDS(LF_STR("task_id", "abc"),
	    LF_STR("template", "copy"), LF_STR("status", "running"),
	    LF_INT("http_status", 202), LF_NUM("duration_ms", 1.5)),
	    "task %s started", "abc");
	j = read_one_json();
	assert_string_equal(json_str(j, "msg"), "task abc started");
	assert_string_equal(json_str(j, "task_id"), "abc");
	assert_string_equal(json_str(j, "template"), "copy");
	assert_string_equal(json_str(j, "status"), "running");
	assert_true(json_is_integer(json_object_get(j, "http_status")));
	assert_int_equal(json_integer_value(json_object_get(j, "http_status")), 202);
	assert_true(json_is_real(json_object_get(j, "duration_ms")));
	assert_true(json_real_value(json_object_get(j, "duration_ms")) == 1.5);
	json_decref(j);
}

static void
test_log_json_null_string_field_is_left_out(void **state)
{
	json_t *j;

	(void)state;
	log_setup(log_file, LOG_FORMAT_JSON, LOG_LEVEL_DEBUG);
	log_fields(LOG_LEVEL_INFO, LOG_FIELDS(LF_STR("token", NULL),
	    LF_STR("route", "/tasks")), "x");
	j = read_one_json();
	assert_null(json_object_get(j, "token"));
	assert_string_equal(json_str(j, "route"), "/tasks");
	json_decref(j);
}

static void
test_log_json_field_values_are_escaped(void **state)
{
	json_t *j;

	(void)state;
	log_setup(log_file, LOG_FORMAT_JSON, LOG_LEVEL_DEBUG);
	log_fields(LOG_LEVEL_INFO, LOG_FIELDS(LF_STR("user_agent",
	    "a\"b\n\\c\x01")), "x");
	j = read_one_json();
	assert_string_equal(json_str(j, "user_agent"), "a\"b\n\\c\x01");
	json_decref(j);
}

static void
test_log_json_fields_past_the_line_size_still_give_one_object(void **state)
{
	static char big[6000];
	json_t *j;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	log_setup(log_file, LOG_FORMAT_JSON, LOG_LEVEL_DEBUG);
	log_fields(LOG_LEVEL_INFO, LOG_FIELDS(LF_STR("a", big), LF_STR("b", big),
	    LF_INT("c", 7)), "%s", big);
	j = read_one_json();
	assert_int_equal(json_integer_value(json_object_get(j, "c")), 7);
	json_decref(j);
}

static void
test_log_text_fields_do_not_change_the_line(void **state)
{
	(void)state;
	log_fields(LOG_LEVEL_INFO, LOG_FIELDS(LF_STR("task_id", "abc")), "hello");
	assert_non_null(strstr(read_one_line(), " info hello\n"));
	assert_null(strstr(got, "task_id"));
}

/* ---- journald priorities ------------------------------------------------- */

static void
set_journal_stream(FILE *f)
{
	struct stat st;
	char v[64];

	assert_int_equal(fstat(fileno(f), &st), 0);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino);
	assert_int_equal(setenv("JOURNAL_STREAM", v, 1), 0);
}

static void
test_log_journal_stream_prefixes_syslog_priorities(void **state)
{
	(void)state;
	set_journal_stream(log_file);
	log_setup(log_file, LOG_FORMAT_TEXT, LOG_LEVEL_DEBUG);
	unsetenv("JOURNAL_STREAM");
	assert_true(log_journal_prefixes());
	log_debug("d");
	log_info("i");
	log_warnx("w");
	log_errorx("e");
	read_log();
	assert_int_equal(count_lines(), 4);
	assert_memory_equal(got, "<7>", 3);
	assert_non_null(strstr(got, "\n<6>"));
	assert_non_null(strstr(got, "\n<4>"));
	assert_non_null(strstr(got, "\n<3>"));
}

static void
test_log_journal_prefix_then_json_object(void **state)
{
	json_error_t jerr;
	json_t *j;

	(void)state;
	set_journal_stream(log_file);
	log_setup(log_file, LOG_FORMAT_JSON, LOG_LEVEL_DEBUG);
	unsetenv("JOURNAL_STREAM");
	log_errorx("bad");
	read_one_line();
	assert_memory_equal(got, "<3>{", 4);
	j = json_loads(got + 3, 0, &jerr);
	assert_non_null(j);
	assert_string_equal(json_str(j, "level"), "error");
	json_decref(j);
}

static void
test_log_journal_stream_of_another_file_gives_no_prefix(void **state)
{
	FILE *other = tmpfile();

	(void)state;
	assert_non_null(other);
	set_journal_stream(other);
	log_setup(log_file, LOG_FORMAT_TEXT, LOG_LEVEL_DEBUG);
	unsetenv("JOURNAL_STREAM");
	fclose(other);
	assert_false(log_journal_prefixes());
	log_errorx("e");
	assert_true(read_one_line()[0] != '<');
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_log_setup_writes_lines_to_the_given_stream),
		T(test_log_each_call_writes_exactly_one_line),
		T(test_log_level_filter_drops_lines_below_minimum),
		T(test_log_level_debug_writes_every_level),
		T(test_log_level_error_writes_only_errors),
		T(test_log_json_line_below_minimum_level_writes_nothing),
		T(test_log_text_line_starts_with_utc_timestamp),
		T(test_log_text_line_has_level_and_message),
		T(test_log_text_line_names_each_level),
		T(test_log_text_line_has_request_id_in_brackets_when_set),
		T(test_log_text_line_has_no_request_id_after_clearing),
		T(test_log_request_id_is_copied),
		T(test_log_text_newline_in_message_cannot_forge_a_second_line),
		T(test_log_text_control_chars_in_message_are_replaced),
		T(test_log_text_control_chars_in_request_id_cannot_forge_a_line),
		T(test_log_text_overlong_message_is_still_one_line),
		T(test_log_json_line_parses_with_ts_level_and_msg),
		T(test_log_json_level_names_every_level),
		T(test_log_json_has_request_id_when_set),
		T(test_log_json_has_no_request_id_after_clearing),
		T(test_log_json_escapes_quotes_backslash_newline_and_control_chars),
		T(test_log_json_escapes_request_id),
		T(test_log_json_keeps_utf8_message_intact),
		T(test_log_json_overlong_escaped_message_is_still_one_valid_line),
		T(test_log_json_overlong_utf8_message_is_cut_on_a_character_boundary),
		T(test_log_json_invalid_utf8_in_message_still_gives_valid_json),
		T(test_log_warn_appends_strerror_of_errno),
		T(test_log_error_appends_strerror_of_errno_at_error_level),
		T(test_log_warnx_does_not_append_strerror),
		T(test_log_warn_in_json_has_strerror_in_msg),
		T(test_log_request_id_belongs_to_the_calling_thread),
		T(test_log_level_parse_known_names),
		T(test_log_level_parse_unknown_is_minus_one),
		T(test_log_format_parse_known_names),
		T(test_log_format_parse_unknown_is_minus_one),
		T(test_log_json_fields_are_typed_members),
		T(test_log_json_null_string_field_is_left_out),
		T(test_log_json_field_values_are_escaped),
		T(test_log_json_fields_past_the_line_size_still_give_one_object),
		T(test_log_text_fields_do_not_change_the_line),
		T(test_log_journal_stream_prefixes_syslog_priorities),
		T(test_log_journal_prefix_then_json_object),
		T(test_log_journal_stream_of_another_file_gives_no_prefix),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
