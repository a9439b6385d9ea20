/* test_rawreq.c - unit tests for src/common/rawreq.c */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poky/buf.h"
#include "poky/rawreq.h"

/* The span p[0..n) holds exactly the C string want. */
#define assert_span(p, n, want) do {                                      \
		assert_int_equal((n), strlen(want));                      \
		assert_memory_equal((p), (want), strlen(want));           \
	} while (0)

static enum poky_err
parse(struct rawreq *r, const char *msg, struct poky_error *e)
{
	poky_error_clear(e);
	return rawreq_parse(r, msg, strlen(msg), e);
}

static bool
rawreq_is_empty(const struct rawreq *r)
{
	return r->method == NULL && r->method_len == 0 && r->target == NULL &&
	    r->target_len == 0 && r->version == NULL && r->version_len == 0 &&
	    r->headers == NULL && r->lines == NULL && r->n_headers == 0 &&
	    r->body == NULL && r->body_len == 0;
}

static void
assert_rawreq_empty(const struct rawreq *r)
{
	assert_true(rawreq_is_empty(r));
}

/* msg must be refused with code, *r left empty, and e->message naming want
 * (e.g. "line 3").  If owned is not NULL it is freed before any assertion,
 * so a failing check leaks nothing. */
static void
check_refused(const char *msg, size_t len, struct buf *owned,
	      enum poky_err code, const char *want)
{
	struct rawreq r;
	struct poky_error e;
	enum poky_err rc;
	bool empty;

	poky_error_clear(&e);
	rc = rawreq_parse(&r, msg, len, &e);
	empty = rawreq_is_empty(&r);
	rawreq_cleanup(&r);
	buf_free(owned);
	assert_int_equal(rc, code);
	assert_int_equal(e.code, code);
	assert_true(empty);
	if (want != NULL && strstr(e.message, want) == NULL)
		fail_msg("error message \"%s\" does not contain \"%s\"",
		    e.message, want);
}

static void
assert_refused(const char *msg, size_t len, enum poky_err code,
	       const char *want)
{
	check_refused(msg, len, NULL, code, want);
}

/* Like assert_refused for the contents of b, which it frees. */
static void
assert_refused_buf(struct buf *b, enum poky_err code, const char *want)
{
	check_refused(b->data, b->len, b, code, want);
}

static void
assert_refused_str(const char *msg, enum poky_err code, const char *want)
{
	assert_refused(msg, strlen(msg), code, want);
}

/* A request line and n headers "H<i>:v", each line ended by LF, then a
 * blank line; returned in b (caller frees). */
static void
make_headers(struct buf *b, size_t n)
{
	buf_init(b, 16 * 1024 * 1024);
	assert_int_equal(buf_append_str(b, "GET / HTTP/1.1\n"), POKY_OK);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(buf_printf(b, "H%zu:v\n", i), POKY_OK);
	assert_int_equal(buf_append_str(b, "\n"), POKY_OK);
}

/* A request whose line number `which` (1 = request line, 2 = a header) is
 * exactly `len` bytes long, followed by `eol`. */
static void
make_long_line(struct buf *b, int which, size_t len, const char *eol)
{
	buf_init(b, 4 * RAWREQ_MAX_LINE);
	if (which == 1) {
		assert_int_equal(buf_append_str(b, "GET /"), POKY_OK);
		for (size_t i = 0; i < len - strlen("GET / HTTP/1.1"); i++)
			assert_int_equal(buf_append_byte(b, 'a'), POKY_OK);
		assert_int_equal(buf_append_str(b, " HTTP/1.1"), POKY_OK);
		assert_int_equal(buf_append_str(b, eol), POKY_OK);
		assert_int_equal(buf_append_str(b, "Host:x"), POKY_OK);
	} else {
		assert_int_equal(buf_append_str(b, "GET / HTTP/1.1"), POKY_OK);
		assert_int_equal(buf_append_str(b, eol), POKY_OK);
		assert_int_equal(buf_append_str(b, "X-Long:"), POKY_OK);
		for (size_t i = 0; i < len - strlen("X-Long:"); i++)
			assert_int_equal(buf_append_byte(b, 'v'), POKY_OK);
	}
	assert_int_equal(buf_append_str(b, eol), POKY_OK);
	assert_int_equal(buf_append_str(b, eol), POKY_OK);
}

/* ---- well-formed requests ----------------------------------------------- */

static void
test_rawreq_parses_aws_suite_style_request_with_lf(void **state)
{
	static const char msg[] =
	    "GET /?Param1=value1 HTTP/1.1\n"
	    "Host:example.amazonaws.com\n"
	    "X-Amz-Date:20150830T123600Z\n"
	    "\n";
	struct rawreq r;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse(&r, msg, &e), POKY_OK);
	assert_span(r.method, r.method_len, "GET");
	assert_span(r.target, r.target_len, "/?Param1=value1");
	assert_span(r.version, r.version_len, "HTTP/1.1");
	assert_int_equal(r.n_headers, 2);
	assert_span(r.headers[0].name, r.headers[0].name_len, "Host");
	assert_span(r.headers[0].value, r.headers[0].value_len,
	    "example.amazonaws.com");
	assert_span(r.headers[1].name, r.headers[1].name_len, "X-Amz-Date");
	assert_span(r.headers[1].value, r.headers[1].value_len,
	    "20150830T123600Z");
	assert_int_equal(r.body_len, 0);
	rawreq_cleanup(&r);
}

static void
test_rawreq_spans_point_into_the_message(void **state)
{
	static const char msg[] = "PUT /k HTTP/1.1\nHost:h\n\nbody";
	struct rawreq r;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse(&r, msg, &e), POKY_OK);
	assert_ptr_equal(r.method, msg);
	assert_ptr_equal(r.target, msg + 4);
	assert_ptr_equal(r.version, msg + 7);
	assert_ptr_equal(r.headers[0].name, msg + 16);
	assert_ptr_equal(r.headers[0].value, msg + 21);
	assert_ptr_equal(r.body, msg + 24);
	rawreq_cleanup(&r);
}

static void
test_rawreq_accepts_crlf_and_keeps_cr_out_of_spans(void **state)
{
	static const char msg[] =
	    "POST /path HTTP/1.1\r\n"
	    "Host:example.com\r\n"
	    "Content-Type:text/plain\r\n"
	    "\r\n"
	    "hello";
	struct rawreq r;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse(&r, msg, &e), POKY_OK);
	assert_span(r.method, r.method_len, "POST");
	assert_span(r.target, r.target_len, "/path");
	assert_span(r.version, r.version_len, "HTTP/1.1");
	assert_int_equal(r.n_headers, 2);
	assert_span(r.headers[0].value, r.headers[0].value_len, "example.com");
	assert_span(r.headers[1].value, r.headers[1].value_len, "text/plain");
	assert_span(r.lines[1].p, r.lines[1].len, "Content-Type:text/plain");
	assert_span(r.body, r.body_len, "hello");
	rawreq_cleanup(&r);
}

static void
test_rawreq_accepts_mixed_lf_and_crlf_lines(void **state)
{
	static const char msg[] = "GET / HTTP/1.1\r\nA:1\nB:2\r\n\nbody";
	struct rawreq r;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse(&r, msg, &e), POKY_OK);
	assert_int_equal(r.n_headers, 2);
	assert_span(r.headers[0].value, r.headers[0].value_len, "1");
	assert_span(r.headers[1].value, r.headers[1].value_len, "2");
	assert_span(r.body, r.body_len, "body");
	rawreq_cleanup(&r);
}

static void
test_rawreq_target_may_contain_spaces(void **state)
{
	static const char msg[] =
	    "GET /example space/ HTTP/1.1\nHost:example.amazonaws.com\n\n";
	struct rawreq r;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse(&r, msg, &e), POKY_OK);
	assert_span(r.method, r.method_len, "GET");
	assert_span(r.target, r.target_len, "/example space/");
	assert_span(r.version, r.version_len, "HTTP/1.1");
	rawreq_cleanup(&r);
}

static void
test_rawreq_target_may_contain_non_ascii_bytes(void **state)
{
	static const char msg[] = "GET /\xe1\x88\xb4 HTTP/1.1\n\n";
	struct rawreq r;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse(&r, msg, &e), POKY_OK);
	assert_span(r.target, r.target_len, "/\xe1\x88\xb4");
	rawreq_cleanup(&r);
}

static void
test_rawreq_keeps_repeated_headers_in_order(void **state)
{
	static const char msg[] =
	    "GET / HTTP/1.1\n"
	    "Host:example.amazonaws.com\n"
	    "My-Header1:value2\n"
	    "My-Header1:value2\n"
	    "My-Header1:value1\n"
	    "\n";
	struct rawreq r;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse(&r, msg, &e), POKY_OK);
	assert_int_equal(r.n_headers, 4);
	for (size_t i = 1; i < 4; i++)
		assert_span(r.headers[i].name, r.headers[i].name_len,
		    "My-Header1");
	assert_span(r.headers[1].value, r.headers[1].value_len, "value2");
	assert_span(r.headers[2].value, r.headers[2].value_len, "value2");
	assert_span(r.headers[3].value, r.headers[3].value_len, "value1");
	rawreq_cleanup(&r);
}

static void
test_rawreq_header_value_is_kept_untrimmed(void **state)
{
	static const char msg[] = "GET / HTTP/1.1\nMy-Header:  a   b  \n\n";
	struct rawreq r;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse(&r, msg, &e), POKY_OK);
	assert_span(r.headers[0].name, r.headers[0].name_len, "My-Header");
	assert_span(r.headers[0].value, r.headers[0].value_len, "  a   b  ");
	rawreq_cleanup(&r);
}

static void
test_rawreq_header_value_may_be_empty(void **state)
{
	static const char msg[] = "GET / HTTP/1.1\nX-Empty:\nHost:h\n\n";
	struct rawreq r;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse(&r, msg, &e), POKY_OK);
	assert_int_equal(r.n_headers, 2);
	assert_span(r.headers[0].name, r.headers[0].name_len, "X-Empty");
	assert_int_equal(r.headers[0].value_len, 0);
	rawreq_cleanup(&r);
}

static void
test_rawreq_header_value_may_contain_colons(void **state)
{
	static const char msg[] = "GET / HTTP/1.1\nHost:example.com:8080\n\n";
	struct rawreq r;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse(&r, msg, &e), POKY_OK);
	assert_span(r.headers[0].name, r.headers[0].name_len, "Host");
	assert_span(r.headers[0].value, r.headers[0].value_len,
	    "example.com:8080");
	rawreq_cleanup(&r);
}

static void
test_rawreq_folded_value_spans_its_continuation_lines(void **state)
{
	static const char msg[] =
	    "GET / HTTP/1.1\n"
	    "Host:example.amazonaws.com\n"
	    "My-Header1:value1\n"
	    "  value2\n"
	    "     value3\n"
	    "\n";
	struct rawreq r;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse(&r, msg, &e), POKY_OK);
	assert_int_equal(r.n_headers, 2);
	assert_span(r.headers[1].name, r.headers[1].name_len, "My-Header1");
	assert_span(r.headers[1].value, r.headers[1].value_len,
	    "value1\n  value2\n     value3");
	rawreq_cleanup(&r);
}

static void
test_rawreq_folded_raw_line_spans_its_continuation_lines(void **state)
{
	static const char msg[] =
	    "GET / HTTP/1.1\n"
	    "Host:example.amazonaws.com\n"
	    "My-Header1:value1\n"
	    "  value2\n"
	    "     value3\n"
	    "\n";
	struct rawreq r;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse(&r, msg, &e), POKY_OK);
	assert_span(r.lines[0].p, r.lines[0].len,
	    "Host:example.amazonaws.com");
	assert_span(r.lines[1].p, r.lines[1].len,
	    "My-Header1:value1\n  value2\n     value3");
	rawreq_cleanup(&r);
}

static void
test_rawreq_folded_crlf_value_ends_before_final_cr(void **state)
{
	static const char msg[] = "GET / HTTP/1.1\r\nA:x\r\n y\r\nB:z\r\n\r\n";
	struct rawreq r;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse(&r, msg, &e), POKY_OK);
	assert_int_equal(r.n_headers, 2);
	assert_span(r.headers[0].value, r.headers[0].value_len, "x\r\n y");
	assert_span(r.lines[0].p, r.lines[0].len, "A:x\r\n y");
	assert_span(r.headers[1].value, r.headers[1].value_len, "z");
	rawreq_cleanup(&r);
}

static void
test_rawreq_tab_starts_a_continuation_line(void **state)
{
	static const char msg[] = "GET / HTTP/1.1\nA:x\n\ty\n\n";
	struct rawreq r;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse(&r, msg, &e), POKY_OK);
	assert_int_equal(r.n_headers, 1);
	assert_span(r.headers[0].value, r.headers[0].value_len, "x\n\ty");
	rawreq_cleanup(&r);
}

static void
test_rawreq_lines_are_the_raw_text_of_each_header(void **state)
{
	static const char msg[] = "GET / HTTP/1.1\nHost:h\nX-A: 1 \n\n";
	struct rawreq r;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse(&r, msg, &e), POKY_OK);
	assert_int_equal(r.n_headers, 2);
	for (size_t i = 0; i < r.n_headers; i++)
		assert_ptr_equal(r.lines[i].p, r.headers[i].name);
	assert_span(r.lines[0].p, r.lines[0].len, "Host:h");
	assert_span(r.lines[1].p, r.lines[1].len, "X-A: 1 ");
	rawreq_cleanup(&r);
}

static void
test_rawreq_body_is_exactly_the_bytes_after_the_blank_line(void **state)
{
	static const char msg[] =
	    "POST / HTTP/1.1\nHost:h\n\nline1\n\nNot-A-Header\r\n\r\n";
	struct rawreq r;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse(&r, msg, &e), POKY_OK);
	assert_int_equal(r.n_headers, 1);
	assert_span(r.body, r.body_len, "line1\n\nNot-A-Header\r\n\r\n");
	rawreq_cleanup(&r);
}

static void
test_rawreq_body_may_hold_nul_bytes(void **state)
{
	static const char msg[] = "POST / HTTP/1.1\nHost:h\n\na\0b\0";
	struct rawreq r;
	struct poky_error e;

	(void)state;
	poky_error_clear(&e);
	assert_int_equal(rawreq_parse(&r, msg, sizeof(msg) - 1, &e), POKY_OK);
	assert_int_equal(r.body_len, 4);
	assert_memory_equal(r.body, "a\0b\0", 4);
	rawreq_cleanup(&r);
}

static void
test_rawreq_crlf_blank_line_starts_the_body(void **state)
{
	static const char msg[] = "POST / HTTP/1.1\r\nHost:h\r\n\r\nParam1=value1";
	struct rawreq r;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse(&r, msg, &e), POKY_OK);
	assert_span(r.body, r.body_len, "Param1=value1");
	rawreq_cleanup(&r);
}

static void
test_rawreq_blank_line_right_after_request_line_means_no_headers(void **state)
{
	static const char msg[] = "GET / HTTP/1.1\n\nbody";
	struct rawreq r;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse(&r, msg, &e), POKY_OK);
	assert_int_equal(r.n_headers, 0);
	assert_span(r.body, r.body_len, "body");
	rawreq_cleanup(&r);
}

static void
test_rawreq_input_ending_in_headers_without_blank_line_has_empty_body(void **state)
{
	static const char msg[] = "GET / HTTP/1.1\nHost:h\nA:b\n";
	struct rawreq r;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse(&r, msg, &e), POKY_OK);
	assert_int_equal(r.n_headers, 2);
	assert_int_equal(r.body_len, 0);
	rawreq_cleanup(&r);
}

static void
test_rawreq_last_header_without_trailing_newline_parses(void **state)
{
	static const char msg[] = "GET / HTTP/1.1\nHost:h\nA:b";
	struct rawreq r;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse(&r, msg, &e), POKY_OK);
	assert_int_equal(r.n_headers, 2);
	assert_span(r.headers[1].value, r.headers[1].value_len, "b");
	assert_int_equal(r.body_len, 0);
	rawreq_cleanup(&r);
}

static void
test_rawreq_request_line_alone_without_newline_parses(void **state)
{
	static const char msg[] = "GET /x HTTP/1.1";
	struct rawreq r;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse(&r, msg, &e), POKY_OK);
	assert_span(r.method, r.method_len, "GET");
	assert_span(r.target, r.target_len, "/x");
	assert_span(r.version, r.version_len, "HTTP/1.1");
	assert_int_equal(r.n_headers, 0);
	assert_int_equal(r.body_len, 0);
	rawreq_cleanup(&r);
}

static void
test_rawreq_parses_only_len_bytes(void **state)
{
	static const char msg[] = "GET / HTTP/1.1\nHost:h\n\nbodyEXTRA";
	struct rawreq r;
	struct poky_error e;

	(void)state;
	poky_error_clear(&e);
	assert_int_equal(rawreq_parse(&r, msg, strlen(msg) - 5, &e), POKY_OK);
	assert_span(r.body, r.body_len, "body");
	rawreq_cleanup(&r);
}

static void
test_rawreq_method_may_be_any_token(void **state)
{
	static const char msg[] = "M-SEARCH.v2_x! * HTTP/1.0\n\n";
	struct rawreq r;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse(&r, msg, &e), POKY_OK);
	assert_span(r.method, r.method_len, "M-SEARCH.v2_x!");
	assert_span(r.target, r.target_len, "*");
	assert_span(r.version, r.version_len, "HTTP/1.0");
	rawreq_cleanup(&r);
}

static void
test_rawreq_exactly_max_headers_is_ok(void **state)
{
	struct buf b;
	struct rawreq r;
	struct poky_error e;

	(void)state;
	make_headers(&b, RAWREQ_MAX_HEADERS);
	poky_error_clear(&e);
	assert_int_equal(rawreq_parse(&r, b.data, b.len, &e), POKY_OK);
	assert_int_equal(r.n_headers, RAWREQ_MAX_HEADERS);
	assert_span(r.headers[RAWREQ_MAX_HEADERS - 1].name,
	    r.headers[RAWREQ_MAX_HEADERS - 1].name_len, "H255");
	rawreq_cleanup(&r);
	buf_free(&b);
}

static void
test_rawreq_header_line_of_exactly_max_line_is_ok(void **state)
{
	struct buf b;
	struct rawreq r;
	struct poky_error e;

	(void)state;
	make_long_line(&b, 2, RAWREQ_MAX_LINE, "\r\n");
	poky_error_clear(&e);
	assert_int_equal(rawreq_parse(&r, b.data, b.len, &e), POKY_OK);
	assert_int_equal(r.n_headers, 1);
	assert_int_equal(r.lines[0].len, RAWREQ_MAX_LINE);
	rawreq_cleanup(&r);
	buf_free(&b);
}

static void
test_rawreq_request_line_of_exactly_max_line_is_ok(void **state)
{
	struct buf b;
	struct rawreq r;
	struct poky_error e;

	(void)state;
	make_long_line(&b, 1, RAWREQ_MAX_LINE, "\n");
	poky_error_clear(&e);
	assert_int_equal(rawreq_parse(&r, b.data, b.len, &e), POKY_OK);
	assert_int_equal(r.method_len + 1 + r.target_len + 1 + r.version_len,
	    RAWREQ_MAX_LINE);
	rawreq_cleanup(&r);
	buf_free(&b);
}

/* ---- refused requests --------------------------------------------------- */

static void
test_rawreq_empty_input_is_invalid(void **state)
{
	(void)state;
	assert_refused("", 0, POKY_ERR_INVALID, NULL);
}

static void
test_rawreq_blank_first_line_is_invalid(void **state)
{
	(void)state;
	assert_refused_str("\nHost:h\n\n", POKY_ERR_INVALID, "line 1");
	assert_refused_str("\r\n", POKY_ERR_INVALID, "line 1");
}

static void
test_rawreq_request_line_without_version_is_invalid(void **state)
{
	(void)state;
	assert_refused_str("GET /\nHost:h\n\n", POKY_ERR_INVALID, "line 1");
}

static void
test_rawreq_request_line_with_method_only_is_invalid(void **state)
{
	(void)state;
	assert_refused_str("GET\n\n", POKY_ERR_INVALID, "line 1");
	assert_refused_str("GET \n\n", POKY_ERR_INVALID, "line 1");
}

static void
test_rawreq_version_not_http_is_invalid(void **state)
{
	(void)state;
	assert_refused_str("GET / FTP/1.1\n\n", POKY_ERR_INVALID, "line 1");
	assert_refused_str("GET / http/1.1\n\n", POKY_ERR_INVALID, "line 1");
	assert_refused_str("GET / HTTP\n\n", POKY_ERR_INVALID, "line 1");
	assert_refused_str("GET /a b\n\n", POKY_ERR_INVALID, "line 1");
}

static void
test_rawreq_empty_target_is_invalid(void **state)
{
	(void)state;
	assert_refused_str("GET  HTTP/1.1\n\n", POKY_ERR_INVALID, "line 1");
}

static void
test_rawreq_empty_method_is_invalid(void **state)
{
	(void)state;
	assert_refused_str(" / HTTP/1.1\n\n", POKY_ERR_INVALID, "line 1");
}

static void
test_rawreq_method_with_bad_character_is_invalid(void **state)
{
	(void)state;
	assert_refused_str("GE(T / HTTP/1.1\n\n", POKY_ERR_INVALID, "line 1");
	assert_refused_str("GET\t/ HTTP/1.1\n\n", POKY_ERR_INVALID, "line 1");
	assert_refused_str("G\x01T / HTTP/1.1\n\n", POKY_ERR_INVALID, "line 1");
	assert_refused_str("G\xc3\xa9T / HTTP/1.1\n\n", POKY_ERR_INVALID,
	    "line 1");
	assert_refused("G\0T / HTTP/1.1\n\n", 17, POKY_ERR_INVALID, "line 1");
}

static void
test_rawreq_control_char_in_target_is_invalid(void **state)
{
	(void)state;
	assert_refused_str("GET /a\x01" "b HTTP/1.1\n\n", POKY_ERR_INVALID,
	    "line 1");
	assert_refused_str("GET /a\tb HTTP/1.1\n\n", POKY_ERR_INVALID, "line 1");
	assert_refused_str("GET /a\x7f HTTP/1.1\n\n", POKY_ERR_INVALID,
	    "line 1");
	assert_refused_str("GET /a\rb HTTP/1.1\n\n", POKY_ERR_INVALID,
	    "line 1");
	assert_refused("GET /a\0b HTTP/1.1\n\n", 20, POKY_ERR_INVALID,
	    "line 1");
}

static void
test_rawreq_header_without_colon_is_invalid_and_names_its_line(void **state)
{
	(void)state;
	assert_refused_str("GET / HTTP/1.1\nHost:h\nNoColonHere\n\n",
	    POKY_ERR_INVALID, "line 3");
}

static void
test_rawreq_header_with_empty_name_is_invalid_and_names_its_line(void **state)
{
	(void)state;
	assert_refused_str("GET / HTTP/1.1\n:value\n\n", POKY_ERR_INVALID,
	    "line 2");
}

static void
test_rawreq_header_name_with_bad_character_is_invalid(void **state)
{
	(void)state;
	assert_refused_str("GET / HTTP/1.1\nHost :h\n\n", POKY_ERR_INVALID,
	    "line 2");
	assert_refused_str("GET / HTTP/1.1\nA:1\nB(x):h\n\n",
	    POKY_ERR_INVALID, "line 3");
	assert_refused_str("GET / HTTP/1.1\nA\x01:h\n\n", POKY_ERR_INVALID,
	    "line 2");
}

static void
test_rawreq_continuation_before_any_header_is_invalid(void **state)
{
	(void)state;
	assert_refused_str("GET / HTTP/1.1\n  folded\nHost:h\n\n",
	    POKY_ERR_INVALID, "line 2");
	assert_refused_str("GET / HTTP/1.1\r\n\tfolded\r\n\r\n",
	    POKY_ERR_INVALID, "line 2");
}

static void
test_rawreq_line_numbers_count_crlf_and_continuation_lines(void **state)
{
	(void)state;
	assert_refused_str("GET / HTTP/1.1\r\nA:1\r\n  2\r\n  3\r\nbad\r\n\r\n",
	    POKY_ERR_INVALID, "line 5");
}

static void
test_rawreq_more_than_max_headers_is_limit_error(void **state)
{
	struct buf b;

	(void)state;
	make_headers(&b, RAWREQ_MAX_HEADERS + 1);
	assert_refused_buf(&b, POKY_ERR_LIMIT, NULL);
}

static void
test_rawreq_more_than_max_headers_error_names_the_line(void **state)
{
	struct buf b;
	char want[32];

	(void)state;
	/* The first header is line 2, so header number MAX+1 is line MAX+2. */
	make_headers(&b, RAWREQ_MAX_HEADERS + 1);
	snprintf(want, sizeof(want), "line %d", RAWREQ_MAX_HEADERS + 2);
	assert_refused_buf(&b, POKY_ERR_LIMIT, want);
}

static void
test_rawreq_header_line_over_max_line_is_limit_error(void **state)
{
	struct buf b;

	(void)state;
	make_long_line(&b, 2, RAWREQ_MAX_LINE + 1, "\n");
	assert_refused_buf(&b, POKY_ERR_LIMIT, "line 2");
}

static void
test_rawreq_request_line_over_max_line_is_limit_error(void **state)
{
	struct buf b;

	(void)state;
	make_long_line(&b, 1, RAWREQ_MAX_LINE + 1, "\r\n");
	assert_refused_buf(&b, POKY_ERR_LIMIT, "line 1");
}

static void
test_rawreq_last_line_over_max_line_without_newline_is_limit_error(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 2 * RAWREQ_MAX_LINE);
	assert_int_equal(buf_append_str(&b, "GET / HTTP/1.1\nX:"), POKY_OK);
	for (size_t i = 0; i < RAWREQ_MAX_LINE; i++)
		assert_int_equal(buf_append_byte(&b, 'v'), POKY_OK);
	assert_refused_buf(&b, POKY_ERR_LIMIT, "line 2");
}

static void
test_rawreq_error_with_null_error_pointer_still_returns_code(void **state)
{
	struct rawreq r;

	(void)state;
	assert_int_equal(rawreq_parse(&r, "GET /\n", 6, NULL), POKY_ERR_INVALID);
	assert_rawreq_empty(&r);
	assert_int_equal(rawreq_parse(&r, "GET / HTTP/1.1\nbad\n", 19, NULL),
	    POKY_ERR_INVALID);
	assert_rawreq_empty(&r);
	assert_int_equal(rawreq_parse(&r, "", 0, NULL), POKY_ERR_INVALID);
}

/* ---- cleanup ------------------------------------------------------------ */

static void
test_rawreq_cleanup_of_zeroed_struct_is_safe(void **state)
{
	struct rawreq r;

	(void)state;
	memset(&r, 0, sizeof(r));
	rawreq_cleanup(&r);
	assert_rawreq_empty(&r);
}

static void
test_rawreq_cleanup_leaves_struct_empty_and_is_repeatable(void **state)
{
	struct rawreq r;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse(&r, "GET / HTTP/1.1\nHost:h\n\nb", &e), POKY_OK);
	rawreq_cleanup(&r);
	assert_rawreq_empty(&r);
	rawreq_cleanup(&r);
	assert_rawreq_empty(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rawreq_parses_aws_suite_style_request_with_lf),
		cmocka_unit_test(test_rawreq_spans_point_into_the_message),
		cmocka_unit_test(test_rawreq_accepts_crlf_and_keeps_cr_out_of_spans),
		cmocka_unit_test(test_rawreq_accepts_mixed_lf_and_crlf_lines),
		cmocka_unit_test(test_rawreq_target_may_contain_spaces),
		cmocka_unit_test(test_rawreq_target_may_contain_non_ascii_bytes),
		cmocka_unit_test(test_rawreq_keeps_repeated_headers_in_order),
		cmocka_unit_test(test_rawreq_header_value_is_kept_untrimmed),
		cmocka_unit_test(test_rawreq_header_value_may_be_empty),
		cmocka_unit_test(test_rawreq_header_value_may_contain_colons),
		cmocka_unit_test(test_rawreq_folded_value_spans_its_continuation_lines),
		cmocka_unit_test(test_rawreq_folded_raw_line_spans_its_continuation_lines),
		cmocka_unit_test(test_rawreq_folded_crlf_value_ends_before_final_cr),
		cmocka_unit_test(test_rawreq_tab_starts_a_continuation_line),
		cmocka_unit_test(test_rawreq_lines_are_the_raw_text_of_each_header),
		cmocka_unit_test(test_rawreq_body_is_exactly_the_bytes_after_the_blank_line),
		cmocka_unit_test(test_rawreq_body_may_hold_nul_bytes),
		cmocka_unit_test(test_rawreq_crlf_blank_line_starts_the_body),
		cmocka_unit_test(test_rawreq_blank_line_right_after_request_line_means_no_headers),
		cmocka_unit_test(test_rawreq_input_ending_in_headers_without_blank_line_has_empty_body),
		cmocka_unit_test(test_rawreq_last_header_without_trailing_newline_parses),
		cmocka_unit_test(test_rawreq_request_line_alone_without_newline_parses),
		cmocka_unit_test(test_rawreq_parses_only_len_bytes),
		cmocka_unit_test(test_rawreq_method_may_be_any_token),
		cmocka_unit_test(test_rawreq_exactly_max_headers_is_ok),
		cmocka_unit_test(test_rawreq_header_line_of_exactly_max_line_is_ok),
		cmocka_unit_test(test_rawreq_request_line_of_exactly_max_line_is_ok),
		cmocka_unit_test(test_rawreq_empty_input_is_invalid),
		cmocka_unit_test(test_rawreq_blank_first_line_is_invalid),
		cmocka_unit_test(test_rawreq_request_line_without_version_is_invalid),
		cmocka_unit_test(test_rawreq_request_line_with_method_only_is_invalid),
		cmocka_unit_test(test_rawreq_version_not_http_is_invalid),
		cmocka_unit_test(test_rawreq_empty_target_is_invalid),
		cmocka_unit_test(test_rawreq_empty_method_is_invalid),
		cmocka_unit_test(test_rawreq_method_with_bad_character_is_invalid),
		cmocka_unit_test(test_rawreq_control_char_in_target_is_invalid),
		cmocka_unit_test(test_rawreq_header_without_colon_is_invalid_and_names_its_line),
		cmocka_unit_test(test_rawreq_header_with_empty_name_is_invalid_and_names_its_line),
		cmocka_unit_test(test_rawreq_header_name_with_bad_character_is_invalid),
		cmocka_unit_test(test_rawreq_continuation_before_any_header_is_invalid),
		cmocka_unit_test(test_rawreq_line_numbers_count_crlf_and_continuation_lines),
		cmocka_unit_test(test_rawreq_more_than_max_headers_is_limit_error),
		cmocka_unit_test(test_rawreq_more_than_max_headers_error_names_the_line),
		cmocka_unit_test(test_rawreq_header_line_over_max_line_is_limit_error),
		cmocka_unit_test(test_rawreq_request_line_over_max_line_is_limit_error),
		cmocka_unit_test(test_rawreq_last_line_over_max_line_without_newline_is_limit_error),
		cmocka_unit_test(test_rawreq_error_with_null_error_pointer_still_returns_code),
		cmocka_unit_test(test_rawreq_cleanup_of_zeroed_struct_is_safe),
		cmocka_unit_test(test_rawreq_cleanup_leaves_struct_empty_and_is_repeatable),
	};

	return cmocka_run_group_tests_name("rawreq", tests, NULL, NULL);
}
