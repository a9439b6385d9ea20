/* test_creds_sso.c - unit tests for the SSO parsers (src/aws/creds_sso.c).
 *
 * The integration tests drive the whole provider against a fake portal;
 * these pin the three pure pieces one input at a time: the token cache's
 * file name, the cache file, and GetRoleCredentials' answer.  Expected
 * cache keys were computed with Python's hashlib.sha1 (what botocore's
 * SSOTokenLoader does), times with datetime.fromisoformat. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "poky/buf.h"
#include "poky/creds.h"
#include "poky/err.h"

#include "../../src/aws/creds_internal.h"

/* 2026-12-03T10:00:00Z */
#define T_10Z ((time_t)1796292000)

static void
test_cache_key_is_sha1_hex(void **state)
{
	char key[41];

	(void)state;
	creds_sso_cache_key("my-sso", key);
	assert_string_equal(key, "0ad374308c5a4e22f723adf10145eafad7c4031c");
	creds_sso_cache_key("https://my-sso-portal.awsapps.com/start", key);
	assert_string_equal(key, "c7aaaf71fcc8777ae2475525ed049d39fe16c484");
	creds_sso_cache_key("", key);
	assert_string_equal(key, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

static enum poky_err
parse_token(const char *json, time_t now, struct buf *tok, struct poky_error *e)
{
	return creds_sso_parse_token(json, strlen(json), now, tok, e);
}

static void
test_token_valid_any_offset(void **state)
{
	struct buf tok;
	struct poky_error e;

	(void)state;
	buf_init(&tok, 4096);
	/* The AWS CLI writes "Z"; other tools write an offset: the same
	 * instant (12:00+02:00 is 10:00Z) must be read as such. */
	assert_int_equal(parse_token("{\"accessToken\":\"abc.DEF-1\","
	    "\"expiresAt\":\"2026-12-03T12:00:00+02:00\"}", T_10Z - 1, &tok, &e),
	    POKY_OK);
	assert_string_equal(tok.data, "abc.DEF-1");
	assert_int_equal(tok.len, 9);
	assert_int_equal(parse_token("{\"accessToken\":\"abc\","
	    "\"expiresAt\":\"2026-12-03T12:00:00+02:00\"}", T_10Z, &tok, &e),
	    POKY_ERR_AUTH);
	assert_non_null(strstr(e.message, "aws sso login"));
	assert_int_equal(parse_token("{\"accessToken\":\"xyz\","
	    "\"expiresAt\":\"2026-12-03T10:00:01Z\",\"region\":\"eu-west-1\"}",
	    T_10Z, &tok, &e), POKY_OK);
	assert_string_equal(tok.data, "xyz");
	buf_free_secure(&tok);
}

static void
test_token_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{not json",
		"{\"expiresAt\":\"2030-01-01T00:00:00Z\"}",
		"{\"accessToken\":\"\",\"expiresAt\":\"2030-01-01T00:00:00Z\"}",
		"{\"accessToken\":7,\"expiresAt\":\"2030-01-01T00:00:00Z\"}",
		"{\"accessToken\":\"abc\"}",
		"{\"accessToken\":\"abc\",\"expiresAt\":1893456000}",
		"{\"accessToken\":\"abc\",\"expiresAt\":\"next tuesday\"}",
		/* bytes a header cannot carry: CR LF would split it */
		"{\"accessToken\":\"abc\\r\\nX-Evil: 1\","
		"\"expiresAt\":\"2030-01-01T00:00:00Z\"}",
		"{\"accessToken\":\"a b\",\"expiresAt\":\"2030-01-01T00:00:00Z\"}",
		"{\"accessToken\":\"\\u00e9\",\"expiresAt\":\"2030-01-01T00:00:00Z\"}",
	};
	struct buf tok;
	struct poky_error e;

	(void)state;
	buf_init(&tok, 4096);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum poky_err rc = parse_token(bad[i], T_10Z, &tok, &e);

		if (rc != POKY_ERR_INVALID)
			fail_msg("case %zu (%s): rc %d, want INVALID", i, bad[i],
			    (int)rc);
		assert_true(e.message[0] != '\0');
	}
	buf_free_secure(&tok);
}

static void
test_token_too_long_is_a_limit(void **state)
{
	char json[300];
	char big[200];
	struct buf tok;
	struct poky_error e;

	(void)state;
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	snprintf(json, sizeof(json), "{\"accessToken\":\"%s\","
	    "\"expiresAt\":\"2030-01-01T00:00:00Z\"}", big);
	buf_init(&tok, 64);
	assert_int_equal(parse_token(json, T_10Z, &tok, &e), POKY_ERR_LIMIT);
	buf_free_secure(&tok);
}

static enum poky_err
parse_role(const char *json, struct aws_creds *c, struct poky_error *e)
{
	return creds_sso_parse_role(json, strlen(json), "sso:dev", c, e);
}

static void
test_role_credentials(void **state)
{
	struct aws_creds c;
	struct poky_error e;

	(void)state;
	memset(&c, 0, sizeof(c));
	/* expiration is milliseconds since the epoch (the SSO model's
	 * ExpirationTimestampType is a long). */
	assert_int_equal(parse_role("{\"roleCredentials\":{\"accessKeyId\":"
	    "\"ASIAEXAMPLE\",\"secretAccessKey\":\"s3cr3t\",\"sessionToken\":"
	    "\"tok\",\"expiration\":1796292000999}}", &c, &e), POKY_OK);
	assert_string_equal(c.access_key_id, "ASIAEXAMPLE");
	assert_string_equal(c.secret_access_key, "s3cr3t");
	assert_string_equal(c.session_token, "tok");
	assert_int_equal(c.expiration, T_10Z);
	assert_non_null(strstr(c.source, "sso"));
	creds_clear(&c);
}

static void
test_role_credentials_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"{}",
		"{\"roleCredentials\":null}",
		"{\"roleCredentials\":{\"accessKeyId\":\"A\",\"secretAccessKey\":"
		"\"S\",\"sessionToken\":\"T\"}}",
		"{\"roleCredentials\":{\"accessKeyId\":\"A\",\"secretAccessKey\":"
		"\"S\",\"sessionToken\":\"T\",\"expiration\":\"1796292000999\"}}",
		"{\"roleCredentials\":{\"accessKeyId\":\"A\",\"secretAccessKey\":"
		"\"S\",\"sessionToken\":\"T\",\"expiration\":0}}",
		"{\"roleCredentials\":{\"accessKeyId\":\"A\",\"secretAccessKey\":"
		"\"S\",\"sessionToken\":\"T\",\"expiration\":-5}}",
		"{\"roleCredentials\":{\"secretAccessKey\":\"S\",\"sessionToken\":"
		"\"T\",\"expiration\":1796292000999}}",
		"{\"roleCredentials\":{\"accessKeyId\":\"A\",\"sessionToken\":"
		"\"T\",\"expiration\":1796292000999}}",
	};
	struct aws_creds c;
	struct poky_error e;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&c, 0, sizeof(c));
		if (parse_role(bad[i], &c, &e) == POKY_OK)
			fail_msg("case %zu (%s) was accepted", i, bad[i]);
		/* The message never echoes the answer (it may hold secrets). */
		assert_null(strstr(e.message, "\"S\""));
		assert_string_equal(c.secret_access_key, "");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache_key_is_sha1_hex),
		cmocka_unit_test(test_token_valid_any_offset),
		cmocka_unit_test(test_token_refused),
		cmocka_unit_test(test_token_too_long_is_a_limit),
		cmocka_unit_test(test_role_credentials),
		cmocka_unit_test(test_role_credentials_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
