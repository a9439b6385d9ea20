/* test_awsini.c - unit tests for src/aws/awsini.c */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poky/awsini.h"

static struct awsini *
parse_ok(const char *text)
{
	struct awsini *ini = NULL;
	struct poky_error e;

	if (awsini_parse(text, strlen(text), &ini, &e) != POKY_OK)
		fail_msg("awsini_parse failed: %s", e.message);
	assert_non_null(ini);
	return ini;
}

static void
parse_fails(const char *text, enum poky_err want, const char *msg_part)
{
	struct awsini *ini = (struct awsini *)1;
	struct poky_error e;

	assert_int_equal(awsini_parse(text, strlen(text), &ini, &e), want);
	assert_null(ini);
	assert_int_equal(e.code, want);
	if (msg_part != NULL && strstr(e.message, msg_part) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", e.message, msg_part);
}

static void
assert_value(const struct awsini *ini, const char *sec, const char *key,
	     const char *want)
{
	const char *v = awsini_get(ini, sec, key);

	if (want == NULL) {
		if (v != NULL)
			fail_msg("[%s] %s = \"%s\", want none", sec, key, v);
		return;
	}
	if (v == NULL)
		fail_msg("[%s] %s missing, want \"%s\"", sec, key, want);
	assert_string_equal(v, want);
}

/* ---- basic syntax --------------------------------------------------------- */

static void
test_awsini_reads_keys_of_a_section(void **state)
{
	struct awsini *ini;

	(void)state;
	ini = parse_ok("[default]\naws_access_key_id = AKID\nregion=eu-west-1\n");
	assert_value(ini, "default", "aws_access_key_id", "AKID");
	assert_value(ini, "default", "region", "eu-west-1");
	assert_value(ini, "default", "output", NULL);
	assert_value(ini, "other", "region", NULL);
	awsini_free(ini);
}

static void
test_awsini_lowercases_keys_but_not_values(void **state)
{
	struct awsini *ini;

	(void)state;
	ini = parse_ok("[default]\nAWS_Access_Key_ID = MixedCase\n");
	assert_value(ini, "default", "aws_access_key_id", "MixedCase");
	awsini_free(ini);
}

static void
test_awsini_trims_blanks_around_keys_and_values(void **state)
{
	struct awsini *ini;

	(void)state;
	ini = parse_ok("[ default ]\n\tregion \t=\t us-east-2 \t\n");
	assert_value(ini, "default", "region", "us-east-2");
	awsini_free(ini);
}

static void
test_awsini_accepts_colon_as_delimiter_like_configparser(void **state)
{
	struct awsini *ini;

	(void)state;
	ini = parse_ok("[default]\nregion: ap-south-1\n");
	assert_value(ini, "default", "region", "ap-south-1");
	awsini_free(ini);
}

static void
test_awsini_splits_at_the_first_delimiter_only(void **state)
{
	struct awsini *ini;

	(void)state;
	ini = parse_ok("[p]\ncredential_process = /bin/tool --url=http://x:1/?a=b\n"
	    "role_arn = arn:aws:iam::123456789012:role/r\n");
	assert_value(ini, "p", "credential_process", "/bin/tool --url=http://x:1/?a=b");
	assert_value(ini, "p", "role_arn", "arn:aws:iam::123456789012:role/r");
	awsini_free(ini);
}

static void
test_awsini_keeps_empty_values(void **state)
{
	struct awsini *ini;

	(void)state;
	ini = parse_ok("[p]\nregion =\n");
	assert_value(ini, "p", "region", "");
	awsini_free(ini);
}

static void
test_awsini_skips_full_line_comments(void **state)
{
	struct awsini *ini;

	(void)state;
	ini = parse_ok("# top\n; also top\n[p]\n  # indented comment\n;x = 1\n"
	    "a = 1\n");
	assert_value(ini, "p", "a", "1");
	assert_value(ini, "p", "x", NULL);
	assert_value(ini, "p", ";x", NULL);
	awsini_free(ini);
}

static void
test_awsini_keeps_hash_inside_a_value(void **state)
{
	struct awsini *ini;

	(void)state;
	/* configparser has no inline comments by default, nor has botocore. */
	ini = parse_ok("[p]\nsecret = abc#def ;ghi\n");
	assert_value(ini, "p", "secret", "abc#def ;ghi");
	awsini_free(ini);
}

static void
test_awsini_ignores_text_after_the_closing_bracket(void **state)
{
	struct awsini *ini;

	(void)state;
	ini = parse_ok("[profile dev] ; the dev account\nregion = x\n");
	assert_value(ini, "profile dev", "region", "x");
	awsini_free(ini);
}

static void
test_awsini_reads_crlf_line_endings(void **state)
{
	struct awsini *ini;

	(void)state;
	ini = parse_ok("[default]\r\nregion = us-west-2\r\nx = y\r\n");
	assert_value(ini, "default", "region", "us-west-2");
	assert_value(ini, "default", "x", "y");
	awsini_free(ini);
}

static void
test_awsini_skips_a_utf8_byte_order_mark(void **state)
{
	struct awsini *ini;

	(void)state;
	ini = parse_ok("\xEF\xBB\xBF[default]\nregion = r\n");
	assert_value(ini, "default", "region", "r");
	awsini_free(ini);
}

static void
test_awsini_reads_a_last_line_without_newline(void **state)
{
	struct awsini *ini;

	(void)state;
	ini = parse_ok("[default]\nregion = last");
	assert_value(ini, "default", "region", "last");
	awsini_free(ini);
}

static void
test_awsini_empty_input_has_no_sections(void **state)
{
	struct awsini *ini;

	(void)state;
	ini = parse_ok("");
	assert_false(awsini_has_section(ini, "default"));
	assert_null(awsini_profile_section(ini, AWSINI_CONFIG, "default"));
	awsini_free(ini);
}

/* ---- nesting and continuation ------------------------------------------- */

static void
test_awsini_skips_indented_sub_section_lines(void **state)
{
	struct awsini *ini;

	(void)state;
	ini = parse_ok("[default]\ns3 =\n    max_concurrent_requests = 20\n"
	    "    addressing_style = path\nregion = eu-north-1\n");
	assert_value(ini, "default", "s3", "");
	assert_value(ini, "default", "max_concurrent_requests", NULL);
	assert_value(ini, "default", "addressing_style", NULL);
	assert_value(ini, "default", "region", "eu-north-1");
	awsini_free(ini);
}

static void
test_awsini_skips_continuation_lines_of_a_value(void **state)
{
	struct awsini *ini;

	(void)state;
	ini = parse_ok("[p]\na = first\n  second = not a key\n\n  third\nb = 2\n");
	assert_value(ini, "p", "a", "first");
	assert_value(ini, "p", "second", NULL);
	assert_value(ini, "p", "b", "2");
	awsini_free(ini);
}

static void
test_awsini_reads_an_indented_first_key_of_a_section(void **state)
{
	struct awsini *ini;

	(void)state;
	/* Only lines deeper than the key above them continue it. */
	ini = parse_ok("[p]\n  a = 1\n  b = 2\n    c = 3\n");
	assert_value(ini, "p", "a", "1");
	assert_value(ini, "p", "b", "2");
	assert_value(ini, "p", "c", NULL);
	awsini_free(ini);
}

static void
test_awsini_section_header_ends_a_continuation(void **state)
{
	struct awsini *ini;

	(void)state;
	ini = parse_ok("[a]\ns3 =\n  x = 1\n[b]\n  y = 2\n");
	assert_value(ini, "b", "y", "2");
	awsini_free(ini);
}

/* ---- duplicates ----------------------------------------------------------- */

static void
test_awsini_repeated_key_keeps_the_last_value(void **state)
{
	struct awsini *ini;

	(void)state;
	ini = parse_ok("[p]\nregion = one\nregion = two\n");
	assert_value(ini, "p", "region", "two");
	awsini_free(ini);
}

static void
test_awsini_repeated_section_is_merged(void **state)
{
	struct awsini *ini;

	(void)state;
	ini = parse_ok("[p]\na = 1\nb = 1\n[q]\nz = 9\n[p]\nb = 2\n");
	assert_value(ini, "p", "a", "1");
	assert_value(ini, "p", "b", "2");
	assert_value(ini, "q", "z", "9");
	awsini_free(ini);
}

/* ---- profiles ------------------------------------------------------------- */

static void
test_awsini_config_profile_needs_profile_prefix(void **state)
{
	struct awsini *ini;

	(void)state;
	ini = parse_ok("[profile dev]\nregion = a\n[prod]\nregion = b\n");
	assert_string_equal(awsini_profile_section(ini, AWSINI_CONFIG, "dev"),
	    "profile dev");
	assert_null(awsini_profile_section(ini, AWSINI_CONFIG, "prod"));
	awsini_free(ini);
}

static void
test_awsini_credentials_profile_is_the_bare_name(void **state)
{
	struct awsini *ini;

	(void)state;
	ini = parse_ok("[dev]\na = 1\n[profile prod]\nb = 2\n");
	assert_string_equal(awsini_profile_section(ini, AWSINI_CREDENTIALS, "dev"),
	    "dev");
	assert_null(awsini_profile_section(ini, AWSINI_CREDENTIALS, "prod"));
	awsini_free(ini);
}

static void
test_awsini_config_default_is_bare_or_prefixed(void **state)
{
	struct awsini *ini;

	(void)state;
	ini = parse_ok("[default]\nregion = a\n");
	assert_string_equal(awsini_profile_section(ini, AWSINI_CONFIG, "default"),
	    "default");
	awsini_free(ini);
	ini = parse_ok("[profile default]\nregion = b\n");
	assert_string_equal(awsini_profile_section(ini, AWSINI_CONFIG, "default"),
	    "profile default");
	awsini_free(ini);
}

static void
test_awsini_config_profile_default_beats_bare_default(void **state)
{
	struct awsini *ini;

	(void)state;
	ini = parse_ok("[profile default]\nregion = b\n[default]\nregion = a\n");
	assert_string_equal(awsini_profile_section(ini, AWSINI_CONFIG, "default"),
	    "profile default");
	awsini_free(ini);
}

static void
test_awsini_profile_prefix_allows_several_blanks(void **state)
{
	struct awsini *ini;

	(void)state;
	ini = parse_ok("[profile \t  dev]\nregion = a\n");
	assert_non_null(awsini_profile_section(ini, AWSINI_CONFIG, "dev"));
	awsini_free(ini);
}

static void
test_awsini_profile_prefix_needs_a_blank(void **state)
{
	struct awsini *ini;

	(void)state;
	ini = parse_ok("[profiledev]\nregion = a\n");
	assert_null(awsini_profile_section(ini, AWSINI_CONFIG, "dev"));
	assert_null(awsini_profile_section(ini, AWSINI_CONFIG, ""));
	awsini_free(ini);
}

static void
test_awsini_null_file_has_no_profile(void **state)
{
	(void)state;
	assert_null(awsini_profile_section(NULL, AWSINI_CONFIG, "default"));
	assert_null(awsini_get(NULL, "default", "region"));
	assert_false(awsini_has_section(NULL, "default"));
}

/* ---- errors --------------------------------------------------------------- */

static void
test_awsini_rejects_key_before_any_section(void **state)
{
	(void)state;
	parse_fails("region = x\n[default]\n", POKY_ERR_INVALID, "line 1");
}

static void
test_awsini_rejects_line_without_delimiter_naming_its_number(void **state)
{
	(void)state;
	parse_fails("[default]\n\n# c\njust words\n", POKY_ERR_INVALID, "line 4");
}

static void
test_awsini_error_never_quotes_the_line(void **state)
{
	struct awsini *ini = NULL;
	struct poky_error e;
	const char *text = "[default]\naws_secret_access_key wJalrXUtnFEMI\n";

	(void)state;
	assert_int_equal(awsini_parse(text, strlen(text), &ini, &e),
	    POKY_ERR_INVALID);
	assert_null(strstr(e.message, "wJalr"));
	assert_null(strstr(e.message, "aws_secret"));
}

static void
test_awsini_rejects_header_without_closing_bracket(void **state)
{
	(void)state;
	parse_fails("[default\nregion = x\n", POKY_ERR_INVALID, "line 1");
}

static void
test_awsini_rejects_empty_section_name(void **state)
{
	(void)state;
	parse_fails("[  ]\n", POKY_ERR_INVALID, "empty section");
}

static void
test_awsini_rejects_empty_key(void **state)
{
	(void)state;
	parse_fails("[p]\n = value\n", POKY_ERR_INVALID, "line 2");
}

static void
test_awsini_rejects_nul_bytes(void **state)
{
	struct awsini *ini = NULL;
	struct poky_error e;
	static const char text[] = "[p]\na = b\0c\n";

	(void)state;
	assert_int_equal(awsini_parse(text, sizeof(text) - 1, &ini, &e),
	    POKY_ERR_INVALID);
	assert_null(ini);
}

static void
test_awsini_rejects_file_over_the_size_limit(void **state)
{
	struct awsini *ini = NULL;
	struct poky_error e;
	size_t n = AWSINI_MAX_BYTES + 1;
	char *big = malloc(n);

	(void)state;
	assert_non_null(big);
	memset(big, '#', n);
	assert_int_equal(awsini_parse(big, n, &ini, &e), POKY_ERR_LIMIT);
	assert_null(ini);
	free(big);
}

static void
test_awsini_rejects_overlong_line(void **state)
{
	size_t n = AWSINI_MAX_LINE + 20;
	char *text = malloc(n + 1);

	(void)state;
	assert_non_null(text);
	memcpy(text, "[p]\na = ", 8);
	memset(text + 8, 'x', n - 8);
	text[n] = '\0';
	parse_fails(text, POKY_ERR_LIMIT, "line 2");
	free(text);
}

static void
test_awsini_rejects_too_many_sections(void **state)
{
	struct buf_like { char *p; size_t n; } b;
	size_t cap = (AWSINI_MAX_SECTIONS + 2) * 16;

	(void)state;
	b.p = malloc(cap);
	b.n = 0;
	assert_non_null(b.p);
	for (int i = 0; i <= AWSINI_MAX_SECTIONS; i++)
		b.n += (size_t)snprintf(b.p + b.n, cap - b.n, "[s%d]\n", i);
	parse_fails(b.p, POKY_ERR_LIMIT, "too many sections");
	free(b.p);
}

/* A cheap fuzz pass: random bytes from the INI alphabet must never crash or
 * leak (ASan judges), whatever they parse to. */
static void
test_awsini_survives_random_input(void **state)
{
	static const char alphabet[] = "[]=:#; \t\r\nprofiledefaultabcXYZ\\\"'";
	uint32_t seed = 12345;
	char text[512];

	(void)state;
	for (int round = 0; round < 5000; round++) {
		size_t n = 0, len;
		struct awsini *ini = NULL;
		struct poky_error e;

		seed = seed * 1103515245u + 12345u;
		len = (seed >> 16) % sizeof(text);
		for (n = 0; n < len; n++) {
			seed = seed * 1103515245u + 12345u;
			text[n] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		if (awsini_parse(text, len, &ini, &e) == POKY_OK) {
			(void)awsini_profile_section(ini, AWSINI_CONFIG, "default");
			(void)awsini_get(ini, "default", "a");
			awsini_free(ini);
		} else {
			assert_null(ini);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_awsini_reads_keys_of_a_section),
		cmocka_unit_test(test_awsini_lowercases_keys_but_not_values),
		cmocka_unit_test(test_awsini_trims_blanks_around_keys_and_values),
		cmocka_unit_test(test_awsini_accepts_colon_as_delimiter_like_configparser),
		cmocka_unit_test(test_awsini_splits_at_the_first_delimiter_only),
		cmocka_unit_test(test_awsini_keeps_empty_values),
		cmocka_unit_test(test_awsini_skips_full_line_comments),
		cmocka_unit_test(test_awsini_keeps_hash_inside_a_value),
		cmocka_unit_test(test_awsini_ignores_text_after_the_closing_bracket),
		cmocka_unit_test(test_awsini_reads_crlf_line_endings),
		cmocka_unit_test(test_awsini_skips_a_utf8_byte_order_mark),
		cmocka_unit_test(test_awsini_reads_a_last_line_without_newline),
		cmocka_unit_test(test_awsini_empty_input_has_no_sections),
		cmocka_unit_test(test_awsini_skips_indented_sub_section_lines),
		cmocka_unit_test(test_awsini_skips_continuation_lines_of_a_value),
		cmocka_unit_test(test_awsini_reads_an_indented_first_key_of_a_section),
		cmocka_unit_test(test_awsini_section_header_ends_a_continuation),
		cmocka_unit_test(test_awsini_repeated_key_keeps_the_last_value),
		cmocka_unit_test(test_awsini_repeated_section_is_merged),
		cmocka_unit_test(test_awsini_config_profile_needs_profile_prefix),
		cmocka_unit_test(test_awsini_credentials_profile_is_the_bare_name),
		cmocka_unit_test(test_awsini_config_default_is_bare_or_prefixed),
		cmocka_unit_test(test_awsini_config_profile_default_beats_bare_default),
		cmocka_unit_test(test_awsini_profile_prefix_allows_several_blanks),
		cmocka_unit_test(test_awsini_profile_prefix_needs_a_blank),
		cmocka_unit_test(test_awsini_null_file_has_no_profile),
		cmocka_unit_test(test_awsini_rejects_key_before_any_section),
		cmocka_unit_test(test_awsini_rejects_line_without_delimiter_naming_its_number),
		cmocka_unit_test(test_awsini_error_never_quotes_the_line),
		cmocka_unit_test(test_awsini_rejects_header_without_closing_bracket),
		cmocka_unit_test(test_awsini_rejects_empty_section_name),
		cmocka_unit_test(test_awsini_rejects_empty_key),
		cmocka_unit_test(test_awsini_rejects_nul_bytes),
		cmocka_unit_test(test_awsini_rejects_file_over_the_size_limit),
		cmocka_unit_test(test_awsini_rejects_overlong_line),
		cmocka_unit_test(test_awsini_rejects_too_many_sections),
		cmocka_unit_test(test_awsini_survives_random_input),
	};

	return cmocka_run_group_tests_name("awsini", tests, NULL, NULL);
}
