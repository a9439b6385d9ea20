/* test_awsreq.c - AWS error parsing, retry classification and backoff. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poky/awsreq.h"
#include "poky/str.h"

static void
resp_make(struct httpc_response *r, long status, const char *body,
	  const char *hname, const char *hvalue)
{
	httpc_response_init(r, 0);
	r->status = status;
	assert_int_equal(buf_append_str(&r->body, body), POKY_OK);
	if (hname != NULL) {
		assert_int_equal(buf_append(&r->headers, hname, strlen(hname) + 1), POKY_OK);
		assert_int_equal(buf_append(&r->headers, hvalue, strlen(hvalue) + 1), POKY_OK);
		r->n_headers = 1;
	}
}

static void
parse(long status, const char *body, const char *hname, const char *hvalue,
      struct poky_error *e)
{
	struct httpc_response r;

	resp_make(&r, status, body, hname, hvalue);
	aws_error_from_response(&r, e);
	httpc_response_cleanup(&r);
}

static void
test_json_error_type_namespace_stripped(void **state)
{
	struct poky_error e;

	(void)state;
	parse(400, "{\"__type\":\"com.amazonaws.ecs#ClientException\","
	    "\"message\":\"bad cluster\"}", NULL, NULL, &e);
	assert_string_equal(e.aws_code, "ClientException");
	assert_string_equal(e.message, "bad cluster");
	assert_int_equal(e.http_status, 400);
	assert_int_equal(e.code, POKY_ERR_REMOTE);
	assert_false(e.retryable);
}

static void
test_json_error_capital_message_and_url_suffix(void **state)
{
	struct poky_error e;

	(void)state;
	parse(400, "{\"__type\":\"ThrottlingException:http://internal.amazon.com/\","
	    "\"Message\":\"Rate exceeded\"}", NULL, NULL, &e);
	assert_string_equal(e.aws_code, "ThrottlingException");
	assert_string_equal(e.message, "Rate exceeded");
	assert_true(e.retryable);
	assert_int_equal(e.code, POKY_ERR_TRANSIENT);
}

static void
test_s3_xml_error_with_request_id(void **state)
{
	struct poky_error e;

	(void)state;
	parse(404, "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code>"
	    "<Message>The specified key does not exist.</Message>"
	    "<RequestId>R123</RequestId></Error>", NULL, NULL, &e);
	assert_string_equal(e.aws_code, "NoSuchKey");
	assert_string_equal(e.message, "The specified key does not exist.");
	assert_string_equal(e.request_id, "R123");
	assert_false(e.retryable);
}

static void
test_sts_error_response_shape(void **state)
{
	struct poky_error e;

	(void)state;
	parse(403, "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
	    "<Error><Type>Sender</Type><Code>InvalidClientTokenId</Code>"
	    "<Message>The security token included in the request is invalid.</Message>"
	    "</Error><RequestId>abc</RequestId></ErrorResponse>", NULL, NULL, &e);
	assert_string_equal(e.aws_code, "InvalidClientTokenId");
	assert_string_equal(e.request_id, "abc");
}

static void
test_error_type_header_used_when_body_has_none(void **state)
{
	struct poky_error e;

	(void)state;
	parse(400, "", "x-amzn-errortype", "AccessDeniedException:http://x", &e);
	assert_string_equal(e.aws_code, "AccessDeniedException");
}

static void
test_head_404_without_body_is_not_found(void **state)
{
	struct poky_error e;

	(void)state;
	parse(404, "", NULL, NULL, &e);
	assert_string_equal(e.aws_code, "NotFound");
	assert_int_equal(e.http_status, 404);
}

static void
test_5xx_and_429_are_retryable(void **state)
{
	struct poky_error e;
	static const long retry[] = { 500, 502, 503, 504, 429 };

	(void)state;
	for (size_t i = 0; i < sizeof(retry) / sizeof(retry[0]); i++) {
		parse(retry[i], "", NULL, NULL, &e);
		assert_true(e.retryable);
	}
	parse(501, "", NULL, NULL, &e);
	assert_false(e.retryable);
}

static void
test_client_errors_never_retried(void **state)
{
	static const char *const codes[] = { "ClientException",
		"InvalidParameterException", "AccessDeniedException",
		"ClusterNotFoundException", "ConflictException", NULL };
	struct poky_error e;
	char body[128];

	(void)state;
	for (int i = 0; codes[i] != NULL; i++) {
		snprintf(body, sizeof(body), "{\"__type\":\"%s\"}", codes[i]);
		parse(400, body, NULL, NULL, &e);
		assert_false(e.retryable);
		assert_int_equal(e.code, POKY_ERR_REMOTE);
	}
}

static void
test_retry_after_header_read_in_milliseconds(void **state)
{
	struct poky_error e;

	(void)state;
	parse(503, "", "x-amz-retry-after", "1500", &e);
	assert_int_equal(e.retry_after_ms, 1500);
	parse(503, "", "x-amz-retry-after", "999999", &e);
	assert_int_equal(e.retry_after_ms, 20000);
}

static void
test_malformed_bodies_still_give_an_error(void **state)
{
	struct poky_error e;

	(void)state;
	parse(500, "{\"__type\": trunc", NULL, NULL, &e);
	assert_string_equal(e.aws_code, "ServerError");
	assert_true(e.retryable);
	parse(400, "<Error><Code>Bad", NULL, NULL, &e);
	assert_string_equal(e.aws_code, "BadRequest");
}

static void
test_throttling_and_skew_code_lists(void **state)
{
	(void)state;
	assert_true(aws_error_is_throttling("ThrottlingException"));
	assert_true(aws_error_is_throttling("SlowDown"));
	assert_false(aws_error_is_throttling("ClientException"));
	assert_false(aws_error_is_throttling(NULL));
	assert_true(aws_error_is_clock_skew("RequestTimeTooSkewed"));
	assert_true(aws_error_is_clock_skew("InvalidSignatureException"));
	assert_false(aws_error_is_clock_skew("ThrottlingException"));
}

static void
test_backoff_is_full_jitter_doubling_capped_at_20s(void **state)
{
	(void)state;
	assert_int_equal(aws_backoff_ms(1, 1000, 0.999), 999);
	assert_int_equal(aws_backoff_ms(2, 1000, 0.5), 1000);
	assert_int_equal(aws_backoff_ms(3, 1000, 0.5), 2000);
	assert_int_equal(aws_backoff_ms(6, 1000, 0.99), 19800);
	assert_int_equal(aws_backoff_ms(30, 1000, 0.99), 19800);
	assert_int_equal(aws_backoff_ms(4, 1000, 0.0), 0);
}

static void
test_http_date_parsing(void **state)
{
	time_t t;

	(void)state;
	assert_true(str_time_parse_http("Sun, 30 Aug 2015 12:36:00 GMT", &t));
	assert_int_equal(t, 1440938160);
	assert_false(str_time_parse_http("Sun, 30 Foo 2015 12:36:00 GMT", &t));
	assert_false(str_time_parse_http("Xyz, 30 Aug 2015 12:36:00 GMT", &t));
	assert_false(str_time_parse_http("Sun, 30 Aug 2015 12:36:00 UTC", &t));
	assert_false(str_time_parse_http("Sun, 30 Aug 2015 12:36", &t));
	assert_false(str_time_parse_http(NULL, &t));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_error_type_namespace_stripped),
		cmocka_unit_test(test_json_error_capital_message_and_url_suffix),
		cmocka_unit_test(test_s3_xml_error_with_request_id),
		cmocka_unit_test(test_sts_error_response_shape),
		cmocka_unit_test(test_error_type_header_used_when_body_has_none),
		cmocka_unit_test(test_head_404_without_body_is_not_found),
		cmocka_unit_test(test_5xx_and_429_are_retryable),
		cmocka_unit_test(test_client_errors_never_retried),
		cmocka_unit_test(test_retry_after_header_read_in_milliseconds),
		cmocka_unit_test(test_malformed_bodies_still_give_an_error),
		cmocka_unit_test(test_throttling_and_skew_code_lists),
		cmocka_unit_test(test_backoff_is_full_jitter_doubling_capped_at_20s),
		cmocka_unit_test(test_http_date_parsing),
	};

	return cmocka_run_group_tests_name("awsreq", tests, NULL, NULL);
}
