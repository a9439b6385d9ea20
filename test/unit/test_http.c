/* test_http.c - http.c's request checks without MHD: the head (framing,
 * limits, request id), the body limit and the rebuilt query. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "poky/buf.h"
#include "poky/http.h"

/* A head from "Name", "value" pairs, NULL-terminated. */
static void
head(struct http_conn *c, size_t max_body, const char *const *kv)
{
	memset(c, 0, sizeof(*c));
	http_conn_init(c, max_body);
	for (; kv[0] != NULL; kv += 2)
		if (!http_conn_header(c, kv[0], strlen(kv[0]), kv[1], strlen(kv[1])))
			break;
	http_conn_head_done(c);
}

static const char *
framing(const char *const *kv)
{
	struct http_conn c;

	head(&c, 100, kv);
	http_conn_cleanup(&c);
	return c.bad_framing;
}

static void
test_smuggling_shapes_are_refused(void **state)
{
	(void)state;
	assert_null(framing((const char *const[]){ "Content-Length", "4",
	    "Host", "x", NULL }));
	assert_null(framing((const char *const[]){ "Transfer-Encoding",
	    "Chunked", "Host", "x", NULL }));
	assert_string_equal(framing((const char *const[]){ "Host", "a",
	    "host", "b", NULL }), "more than one Host");
	assert_string_equal(framing((const char *const[]){ "Content-Length",
	    "0", NULL }), "no Host header");
	assert_string_equal(framing((const char *const[]){ "Content-Length", "4",
	    "content-length", "4", NULL }), "more than one Content-Length");
	assert_string_equal(framing((const char *const[]){ "Content-Length", "4",
	    "Transfer-Encoding", "chunked", NULL }),
	    "both Content-Length and Transfer-Encoding");
	assert_string_equal(framing((const char *const[]){ "Transfer-Encoding",
	    "gzip, chunked", NULL }), "unsupported Transfer-Encoding");
	assert_string_equal(framing((const char *const[]){ "Content-Length ",
	    "4", NULL }), "whitespace in a header name");
}

static void
test_nul_in_a_header_is_refused(void **state)
{
	struct http_conn c;

	(void)state;
	memset(&c, 0, sizeof(c));
	http_conn_init(&c, 100);
	/* "X-A\0b: v" as received: 5 bytes of name, 3 before the NUL. */
	assert_true(http_conn_header(&c, "X-A", 5, "v", 1));
	http_conn_head_done(&c);
	assert_string_equal(c.bad_framing, "NUL in a header");
	http_conn_cleanup(&c);
}

static void
test_header_count_and_body_limits(void **state)
{
	struct http_conn c;
	const char *kv[2 * (HTTP_MAX_HEADERS + 1) + 1];

	(void)state;
	for (size_t i = 0; i < 2 * (HTTP_MAX_HEADERS + 1); i++)
		kv[i] = "x";
	kv[2 * (HTTP_MAX_HEADERS + 1)] = NULL;
	head(&c, 100, kv);
	assert_true(c.too_many_headers);
	assert_int_equal(c.n_headers, HTTP_MAX_HEADERS);
	http_conn_cleanup(&c);

	head(&c, 100, (const char *const[]){ "Content-Length", "101", NULL });
	assert_true(c.too_large);
	http_conn_cleanup(&c);

	head(&c, 4, (const char *const[]){ NULL });
	http_conn_upload(&c, "abc", 3);
	assert_false(c.too_large);
	http_conn_upload(&c, "de", 2);
	assert_true(c.too_large);
	assert_int_equal(c.body.len, 3);
	http_conn_cleanup(&c);
}

static void
test_request_id_kept_only_when_tame(void **state)
{
	struct http_conn c;

	(void)state;
	head(&c, 100, (const char *const[]){ "X-Request-Id", "abc-1.2:3_4",
	    NULL });
	assert_string_equal(c.reqid, "abc-1.2:3_4");
	assert_string_equal(http_conn_find(&c, "x-request-id"), "abc-1.2:3_4");
	http_conn_cleanup(&c);
	head(&c, 100, (const char *const[]){ "X-Request-Id", "a b", NULL });
	assert_int_equal(strlen(c.reqid), 36);      /* a UUID */
	http_conn_cleanup(&c);
}

static void
test_query_rebuilt_encoded_and_bounded(void **state)
{
	struct buf q;

	(void)state;
	buf_init(&q, 16);
	assert_int_equal(http_query_add(&q, "a b", "x&y"), POKY_OK);
	assert_int_equal(http_query_add(&q, "flag", NULL), POKY_OK);
	assert_string_equal(q.data, "a%20b=x%26y&flag");
	assert_int_not_equal(http_query_add(&q, "more", "1"), POKY_OK);
	buf_free(&q);
}

static void
test_host_and_origin_checks(void **state)
{
	char *names[] = { "poky.example.com" };

	(void)state;
	assert_true(http_host_allowed("127.0.0.1:8080", "127.0.0.1", NULL, 0));
	assert_true(http_host_allowed("localhost:8080", "127.0.0.1", NULL, 0));
	assert_true(http_host_allowed("[::1]:8080", "::", NULL, 0));
	assert_true(http_host_allowed("10.0.0.5", "0.0.0.0", NULL, 0));
	assert_true(http_host_allowed("POKY.example.com:443", "0.0.0.0", names, 1));
	/* a rebinding page's own name, another address, junk */
	assert_false(http_host_allowed("attacker.test:8080", "127.0.0.1", NULL, 0));
	assert_false(http_host_allowed("attacker.test", "0.0.0.0", names, 1));
	assert_false(http_host_allowed("127.0.0.2:8080", "127.0.0.1", NULL, 0));
	assert_false(http_host_allowed("[::1", "::", NULL, 0));
	assert_false(http_host_allowed(":80", "::", NULL, 0));
	assert_false(http_cross_site(NULL, NULL, "127.0.0.1:8080"));
	assert_false(http_cross_site("http://127.0.0.1:8080", "same-origin",
	    "127.0.0.1:8080"));
	assert_false(http_cross_site(NULL, "none", "127.0.0.1:8080"));
	assert_true(http_cross_site(NULL, "cross-site", "127.0.0.1:8080"));
	assert_true(http_cross_site(NULL, "same-site", "127.0.0.1:8080"));
	assert_true(http_cross_site("http://evil.test", NULL, "127.0.0.1:8080"));
	assert_true(http_cross_site("null", NULL, "127.0.0.1:8080"));
}

/* The deadlines are totals and rates, never idle timers: a byte now and
 * then does not move them. */
static void
test_deadlines_are_totals_not_idle_timers(void **state)
{
	(void)state;
	/* head: grace 2 s in all, however many bytes came */
	assert_false(http_deadline_passed(HTTP_PHASE_HEAD, 1.9, 100, 2, 1024));
	assert_true(http_deadline_passed(HTTP_PHASE_HEAD, 2.1, 100, 2, 1024));
	/* body: 1 byte/s is below 1024 B/s once past the grace */
	assert_false(http_deadline_passed(HTTP_PHASE_BODY, 1.9, 2, 2, 1024));
	assert_true(http_deadline_passed(HTTP_PHASE_BODY, 3.0, 3, 2, 1024));
	assert_false(http_deadline_passed(HTTP_PHASE_BODY, 3.0, 2048, 2, 1024));
	/* answer: grace + size / rate */
	assert_false(http_deadline_passed(HTTP_PHASE_SEND, 11.0, 10240, 2, 1024));
	assert_true(http_deadline_passed(HTTP_PHASE_SEND, 12.5, 10240, 2, 1024));
	/* our own handler is never timed out from here */
	assert_false(http_deadline_passed(HTTP_PHASE_BUSY, 1e6, 0, 2, 1024));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smuggling_shapes_are_refused),
		cmocka_unit_test(test_nul_in_a_header_is_refused),
		cmocka_unit_test(test_header_count_and_body_limits),
		cmocka_unit_test(test_request_id_kept_only_when_tame),
		cmocka_unit_test(test_query_rebuilt_encoded_and_bounded),
		cmocka_unit_test(test_deadlines_are_totals_not_idle_timers),
		cmocka_unit_test(test_host_and_origin_checks),
	};

	return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
