/* test_str.c - unit tests for src/common/str.c */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "poky/str.h"

/* Encode/decode the C string s into a fresh buffer, compare with want, free. */
static void
check_encode(const char *s, bool keep_slash, const char *want)
{
	struct buf b;
	enum poky_err rc;

	buf_init(&b, 4096);
	rc = str_uri_encode(&b, s, strlen(s), keep_slash);
	assert_int_equal(rc, POKY_OK);
	assert_int_equal(b.len, strlen(want));
	if (b.len > 0)
		assert_string_equal(b.data, want);
	buf_free(&b);
}

static void
check_decode(const char *s, const char *want, size_t want_len)
{
	struct buf b;
	enum poky_err rc;

	buf_init(&b, 4096);
	rc = str_uri_decode(&b, s, strlen(s));
	assert_int_equal(rc, POKY_OK);
	assert_int_equal(b.len, want_len);
	if (want_len > 0)
		assert_memory_equal(b.data, want, want_len);
	buf_free(&b);
}

static time_t
parse_ok(const char *s)
{
	time_t t = (time_t)-12345;

	assert_true(str_time_parse(s, &t));
	return t;
}

static void
parse_fails(const char *s)
{
	time_t t = 0;

	if (str_time_parse(s, &t))
		fail_msg("str_time_parse accepted \"%s\"", s != NULL ? s : "(null)");
}

/* ---- str_is_unreserved -------------------------------------------------- */

static void
test_str_is_unreserved_is_exactly_alpha_digit_and_dash_dot_underscore_tilde(void **state)
{
	(void)state;
	for (int c = 0; c < 256; c++) {
		bool want = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~';

		if (str_is_unreserved((unsigned char)c) != want)
			fail_msg("str_is_unreserved(0x%02x) != %d", c, want);
	}
}

/* ---- str_uri_encode ----------------------------------------------------- */

static void
test_str_uri_encode_keeps_unreserved_bytes(void **state)
{
	(void)state;
	check_encode("ABCXYZabcxyz0189-._~", false,
	    "ABCXYZabcxyz0189-._~");
}

static void
test_str_uri_encode_escapes_slash_without_keep_slash(void **state)
{
	(void)state;
	check_encode("/a/b/", false, "%2Fa%2Fb%2F");
}

static void
test_str_uri_encode_keeps_slash_with_keep_slash(void **state)
{
	(void)state;
	check_encode("/a/b c/", true, "/a/b%20c/");
}

static void
test_str_uri_encode_uses_uppercase_hex(void **state)
{
	(void)state;
	check_encode("\xab\xcd\xef\xff", false, "%AB%CD%EF%FF");
	check_encode(":", false, "%3A");
}

static void
test_str_uri_encode_escapes_each_utf8_byte(void **state)
{
	(void)state;
	/* U+00E9 (e acute) and U+1234 in UTF-8 */
	check_encode("\xc3\xa9\xe1\x88\xb4", false, "%C3%A9%E1%88%B4");
}

static void
test_str_uri_encode_space_is_percent_20(void **state)
{
	(void)state;
	check_encode("a b", false, "a%20b");
}

static void
test_str_uri_encode_plus_is_percent_2b(void **state)
{
	(void)state;
	check_encode("a+b", false, "a%2Bb");
}

static void
test_str_uri_encode_percent_is_percent_25(void **state)
{
	(void)state;
	check_encode("100%", false, "100%25");
}

static void
test_str_uri_encode_escapes_reserved_and_control_bytes(void **state)
{
	(void)state;
	check_encode("?=&#@!*'()\t\x7f", true,
	    "%3F%3D%26%23%40%21%2A%27%28%29%09%7F");
}

static void
test_str_uri_encode_empty_input_appends_nothing(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(str_uri_encode(&b, "", 0, false), POKY_OK);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void
test_str_uri_encode_encodes_only_first_n_bytes_including_nul(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(str_uri_encode(&b, "a\0bcd", 3, false), POKY_OK);
	assert_string_equal(b.data, "a%00b");
	buf_free(&b);
}

static void
test_str_uri_encode_appends_after_existing_contents(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(buf_append_str(&b, "x="), POKY_OK);
	assert_int_equal(str_uri_encode(&b, "a b", 3, false), POKY_OK);
	assert_string_equal(b.data, "x=a%20b");
	buf_free(&b);
}

static void
test_str_uri_encode_past_buffer_max_is_limit_error(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 4);
	assert_int_equal(str_uri_encode(&b, "ab ", 3, false), POKY_ERR_LIMIT);
	assert_true(b.len <= 4);
	buf_free(&b);
}

/* ---- str_uri_decode ----------------------------------------------------- */

static void
test_str_uri_decode_decodes_uppercase_and_lowercase_escapes(void **state)
{
	(void)state;
	check_decode("%41%4a%4A%2f%2F", "AJJ//", 5);
}

static void
test_str_uri_decode_keeps_plain_bytes(void **state)
{
	(void)state;
	check_decode("abc-._~/", "abc-._~/", 8);
}

static void
test_str_uri_decode_lone_percent_is_kept_literally(void **state)
{
	(void)state;
	check_decode("%", "%", 1);
	check_decode("a%", "a%", 2);
}

static void
test_str_uri_decode_truncated_escape_is_kept_literally(void **state)
{
	(void)state;
	check_decode("%4", "%4", 2);
	check_decode("ab%4", "ab%4", 4);
}

static void
test_str_uri_decode_non_hex_escape_is_kept_literally(void **state)
{
	(void)state;
	check_decode("%zz", "%zz", 3);
	check_decode("%4g", "%4g", 3);
	check_decode("%g4", "%g4", 3);
}

static void
test_str_uri_decode_percent_before_valid_escape_is_kept(void **state)
{
	(void)state;
	check_decode("%%41", "%A", 2);
}

/* ---- str_form_decode, str_uri_decode_path, str_pct_byte ------------------ */

static void
test_str_form_decode_plus_is_space_and_escapes_decode(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 4096);
	assert_int_equal(str_form_decode(&b, "a+b%2B%20c%", 11), POKY_OK);
	assert_int_equal(b.len, 7);
	assert_memory_equal(b.data, "a b+ c%", 7);
	buf_free(&b);
}

static void
test_str_form_decode_respects_the_buffer_limit(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 2);
	assert_int_equal(str_form_decode(&b, "%41%42%43", 9), POKY_ERR_LIMIT);
	buf_free(&b);
}

static void
test_str_uri_decode_path_keeps_slash_and_nul_encoded(void **state)
{
	char s[] = "/tasks%2fID%00x%41%2F%4";

	(void)state;
	assert_int_equal(str_uri_decode_path(s), strlen("/tasks%2fID%00xA%2F%4"));
	assert_string_equal(s, "/tasks%2fID%00xA%2F%4");
}

static void
test_str_pct_byte_reads_one_escape(void **state)
{
	(void)state;
	assert_int_equal(str_pct_byte("%2e", 3), '.');
	assert_int_equal(str_pct_byte("%2E/", 4), '.');
	assert_int_equal(str_pct_byte("%2e", 2), -1);
	assert_int_equal(str_pct_byte("%g0", 3), -1);
	assert_int_equal(str_pct_byte("a2e", 3), -1);
}

static void
test_str_uri_decode_plus_stays_plus(void **state)
{
	(void)state;
	check_decode("a+b", "a+b", 3);
}

static void
test_str_uri_decode_escaped_nul_and_high_bytes_are_decoded(void **state)
{
	(void)state;
	check_decode("%00%C3%a9%fF", "\0\xc3\xa9\xff", 4);
}

static void
test_str_uri_decode_is_inverse_of_encode(void **state)
{
	struct buf enc, dec;
	char all[256];

	(void)state;
	for (int i = 0; i < 256; i++)
		all[i] = (char)i;
	buf_init(&enc, 4096);
	buf_init(&dec, 4096);
	assert_int_equal(str_uri_encode(&enc, all, sizeof(all), false), POKY_OK);
	assert_int_equal(str_uri_decode(&dec, enc.data, enc.len), POKY_OK);
	assert_int_equal(dec.len, sizeof(all));
	assert_memory_equal(dec.data, all, sizeof(all));
	buf_free(&enc);
	buf_free(&dec);
}

static void
test_str_uri_decode_empty_input_appends_nothing(void **state)
{
	(void)state;
	check_decode("", "", 0);
}

static void
test_str_uri_decode_does_not_read_past_n(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 100);
	/* Only "a%4" is in range; the '1' after it must not complete it. */
	assert_int_equal(str_uri_decode(&b, "a%41", 3), POKY_OK);
	assert_int_equal(b.len, 3);
	assert_string_equal(b.data, "a%4");
	buf_free(&b);
}

static void
test_str_uri_decode_past_buffer_max_is_limit_error(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 2);
	assert_int_equal(str_uri_decode(&b, "abc", 3), POKY_ERR_LIMIT);
	buf_free(&b);
}

/* ---- str_hexval / str_hex ----------------------------------------------- */

static void
test_str_hexval_of_hex_digits_in_both_cases(void **state)
{
	(void)state;
	for (int i = 0; i < 10; i++)
		assert_int_equal(str_hexval((unsigned char)('0' + i)), i);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(str_hexval((unsigned char)('a' + i)), 10 + i);
		assert_int_equal(str_hexval((unsigned char)('A' + i)), 10 + i);
	}
}

static void
test_str_hexval_of_non_hex_is_minus_one(void **state)
{
	(void)state;
	for (int c = 0; c < 256; c++) {
		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		    (c >= 'A' && c <= 'F'))
			continue;
		if (str_hexval((unsigned char)c) != -1)
			fail_msg("str_hexval(0x%02x) != -1", c);
	}
}

static void
test_str_hex_is_lowercase_two_digits_per_byte(void **state)
{
	static const unsigned char in[] = { 0x00, 0x01, 0x7f, 0xab, 0xff, 0x10 };
	char out[2 * sizeof(in) + 1];

	(void)state;
	memset(out, 'X', sizeof(out));
	str_hex(out, in, sizeof(in));
	assert_string_equal(out, "00017fabff10");
}

static void
test_str_hex_of_zero_bytes_is_empty_string(void **state)
{
	char out[1] = { 'X' };

	(void)state;
	str_hex(out, (const unsigned char *)"", 0);
	assert_string_equal(out, "");
}

/* ---- str_ieq ------------------------------------------------------------ */

static void
test_str_ieq_equal_ignoring_case(void **state)
{
	(void)state;
	assert_true(str_ieq("Content-Type", 12, "content-type"));
	assert_true(str_ieq("HOST", 4, "host"));
	assert_true(str_ieq("host", 4, "HoSt"));
}

static void
test_str_ieq_compares_only_first_n_bytes_of_s(void **state)
{
	(void)state;
	assert_true(str_ieq("Hostname", 4, "host"));
}

static void
test_str_ieq_different_lengths_are_unequal(void **state)
{
	(void)state;
	assert_false(str_ieq("host", 4, "hostname"));
	assert_false(str_ieq("hostname", 8, "host"));
	assert_false(str_ieq("host", 3, "host"));
}

static void
test_str_ieq_different_letters_are_unequal(void **state)
{
	(void)state;
	assert_false(str_ieq("hosx", 4, "host"));
	assert_false(str_ieq("a-b", 3, "a_b"));
}

static void
test_str_ieq_empty_equals_only_empty(void **state)
{
	(void)state;
	assert_true(str_ieq("", 0, ""));
	assert_true(str_ieq("abc", 0, ""));
	assert_false(str_ieq("", 0, "a"));
	assert_false(str_ieq("a", 1, ""));
}

/* ---- time formatting ---------------------------------------------------- */

#define T_SUITE ((time_t)1440938160)   /* 2015-08-30T12:36:00Z */

static void
test_str_time_amz_formats_basic_utc(void **state)
{
	char out[17];

	(void)state;
	str_time_amz(out, T_SUITE);
	assert_string_equal(out, "20150830T123600Z");
}

static void
test_str_time_amz_of_epoch(void **state)
{
	char out[17];

	(void)state;
	str_time_amz(out, 0);
	assert_string_equal(out, "19700101T000000Z");
}

static void
test_str_time_iso8601_formats_extended_utc(void **state)
{
	char out[21];

	(void)state;
	str_time_iso8601(out, T_SUITE);
	assert_string_equal(out, "2015-08-30T12:36:00Z");
}

static void
test_str_time_iso8601_of_epoch(void **state)
{
	char out[21];

	(void)state;
	str_time_iso8601(out, 0);
	assert_string_equal(out, "1970-01-01T00:00:00Z");
}

/* ---- str_time_parse: accepted ------------------------------------------- */

static void
test_str_time_parse_accepts_basic_format(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("20150830T123600Z"), T_SUITE);
}

static void
test_str_time_parse_accepts_extended_format(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("2015-08-30T12:36:00Z"), T_SUITE);
}

static void
test_str_time_parse_accepts_and_drops_fractional_seconds(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("2015-08-30T12:36:00.123Z"), T_SUITE);
	assert_int_equal(parse_ok("2015-08-30T12:36:00.9Z"), T_SUITE);
}

static void
test_str_time_parse_of_epoch_is_zero(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("19700101T000000Z"), 0);
	assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
}

static void
test_str_time_parse_accepts_field_maxima(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("20151231T235959Z"), (time_t)1451606399);
}

static void
test_str_time_parse_accepts_leap_day_in_leap_year(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("20160229T000000Z"), (time_t)1456704000);
}

static void
test_str_time_parse_roundtrips_with_formatters(void **state)
{
	char amz[17], iso[21];
	const time_t t = (time_t)1700000000;

	(void)state;
	str_time_amz(amz, t);
	str_time_iso8601(iso, t);
	assert_int_equal(parse_ok(amz), t);
	assert_int_equal(parse_ok(iso), t);
}

/* ---- str_time_parse: rejected ------------------------------------------- */

static void
test_str_time_parse_rejects_missing_z(void **state)
{
	(void)state;
	parse_fails("20150830T123600");
	parse_fails("2015-08-30T12:36:00");
	parse_fails("2015-08-30T12:36:00.123");
}

static void
test_str_time_parse_rejects_trailing_junk(void **state)
{
	(void)state;
	parse_fails("20150830T123600Zx");
	parse_fails("2015-08-30T12:36:00Z ");
	parse_fails("20150830T123600ZZ");
}

static void
test_str_time_parse_rejects_lowercase_z_and_t(void **state)
{
	(void)state;
	parse_fails("20150830T123600z");
	parse_fails("20150830t123600Z");
}

static void
test_str_time_parse_rejects_month_13_and_month_0(void **state)
{
	(void)state;
	parse_fails("20151330T123600Z");
	parse_fails("20150030T123600Z");
}

static void
test_str_time_parse_rejects_day_0_and_day_32(void **state)
{
	(void)state;
	parse_fails("20150800T123600Z");
	parse_fails("20150832T123600Z");
}

static void
test_str_time_parse_rejects_feb_30(void **state)
{
	(void)state;
	parse_fails("20150230T123600Z");
	parse_fails("2015-02-30T12:36:00Z");
}

static void
test_str_time_parse_rejects_feb_29_in_non_leap_year(void **state)
{
	(void)state;
	parse_fails("20150229T000000Z");
}

static void
test_str_time_parse_rejects_day_31_in_30_day_month(void **state)
{
	(void)state;
	parse_fails("20150431T000000Z");
}

static void
test_str_time_parse_rejects_hour_24(void **state)
{
	(void)state;
	parse_fails("20150830T240000Z");
}

static void
test_str_time_parse_rejects_minute_60_and_second_60(void **state)
{
	(void)state;
	parse_fails("20150830T126000Z");
	parse_fails("20150830T123660Z");
}

static void
test_str_time_parse_rejects_empty_string(void **state)
{
	(void)state;
	parse_fails("");
}

static void
test_str_time_parse_rejects_null(void **state)
{
	(void)state;
	parse_fails(NULL);
}

static void
test_str_time_parse_rejects_year_before_1970(void **state)
{
	(void)state;
	parse_fails("19691231T235959Z");
	parse_fails("0000-01-01T00:00:00Z");
}

static void
test_str_time_parse_rejects_mixed_basic_and_extended_formats(void **state)
{
	(void)state;
	parse_fails("2015-0830T123600Z");
	parse_fails("201508-30T12:36:00Z");
	parse_fails("2015-08-30T123600Z");
	parse_fails("20150830T12:36:00Z");
	parse_fails("2015-08-30T12:3600Z");
}

static void
test_str_time_parse_rejects_fraction_in_basic_format(void **state)
{
	(void)state;
	parse_fails("20150830T123600.123Z");
}

static void
test_str_time_parse_rejects_fraction_without_digits(void **state)
{
	(void)state;
	parse_fails("2015-08-30T12:36:00.Z");
}

static void
test_str_time_parse_rejects_truncated_and_non_digit_fields(void **state)
{
	(void)state;
	parse_fails("2015");
	parse_fails("20150830T");
	parse_fails("20150830T1236Z");
	parse_fails("2015083OT123600Z");
	parse_fails("+2015-08-30T12:36:00Z");
	parse_fails(" 20150830T123600Z");
	parse_fails("2015-08-30 12:36:00Z");
}

/* ---- str_copy ----------------------------------------------------------- */

static void
test_str_copy_that_fits_returns_true(void **state)
{
	char dst[8];

	(void)state;
	assert_true(str_copy(dst, sizeof(dst), "abc"));
	assert_string_equal(dst, "abc");
}

static void
test_str_copy_of_exactly_cap_minus_one_fits(void **state)
{
	char dst[4];

	(void)state;
	assert_true(str_copy(dst, sizeof(dst), "abc"));
	assert_string_equal(dst, "abc");
}

static void
test_str_copy_truncation_returns_false_and_terminates(void **state)
{
	char dst[4];

	(void)state;
	assert_false(str_copy(dst, sizeof(dst), "abcd"));
	assert_string_equal(dst, "abc");
	assert_false(str_copy(dst, sizeof(dst), "a much longer string"));
	assert_string_equal(dst, "a m");
}

static void
test_str_copy_into_one_byte_gives_empty_string(void **state)
{
	char dst[1] = { 'X' };

	(void)state;
	assert_false(str_copy(dst, sizeof(dst), "a"));
	assert_string_equal(dst, "");
	assert_true(str_copy(dst, sizeof(dst), ""));
	assert_string_equal(dst, "");
}

static void
test_str_copy_with_zero_cap_returns_false_and_writes_nothing(void **state)
{
	char dst[2] = { 'X', 'Y' };

	(void)state;
	assert_false(str_copy(dst, 0, "a"));
	assert_int_equal(dst[0], 'X');
	assert_int_equal(dst[1], 'Y');
}

/* ---- ISO 8601 with UTC offsets (issue 19) -------------------------------- */

static void
test_str_time_parse_accepts_utc_offsets(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("2015-08-30T14:36:00+02:00"), T_SUITE);
	assert_int_equal(parse_ok("2015-08-30T07:06:00-05:30"), T_SUITE);
	assert_int_equal(parse_ok("2015-08-30T12:36:00+00:00"), T_SUITE);
	assert_int_equal(parse_ok("2015-08-30T12:36:00-00:00"), T_SUITE);
	assert_int_equal(parse_ok("2015-08-30T14:36:00.5+02:00"), T_SUITE);
	assert_int_equal(parse_ok("20150830T143600+0200"), T_SUITE);
	/* The offset moves the day: still the same instant. */
	assert_int_equal(parse_ok("2015-08-31T01:36:00+13:00"), T_SUITE);
}

static void
test_str_time_parse_refuses_bad_offsets(void **state)
{
	(void)state;
	parse_fails("2015-08-30T14:36:00+02");
	parse_fails("2015-08-30T14:36:00+0200");        /* basic offset, extended time */
	parse_fails("20150830T143600+02:00");           /* extended offset, basic time */
	parse_fails("2015-08-30T14:36:00+24:00");
	parse_fails("2015-08-30T14:36:00+02:60");
	parse_fails("2015-08-30T14:36:00+02:00Z");
	parse_fails("2015-08-30T14:36:00 +02:00");
	parse_fails("2015-08-30T14:36:00*02:00");
	parse_fails("1970-01-01T00:30:00+01:00");       /* before the epoch in UTC */
	parse_fails("2015-02-29T01:00:00+02:00");       /* no such local date */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_str_is_unreserved_is_exactly_alpha_digit_and_dash_dot_underscore_tilde),
		cmocka_unit_test(test_str_uri_encode_keeps_unreserved_bytes),
		cmocka_unit_test(test_str_uri_encode_escapes_slash_without_keep_slash),
		cmocka_unit_test(test_str_uri_encode_keeps_slash_with_keep_slash),
		cmocka_unit_test(test_str_uri_encode_uses_uppercase_hex),
		cmocka_unit_test(test_str_uri_encode_escapes_each_utf8_byte),
		cmocka_unit_test(test_str_uri_encode_space_is_percent_20),
		cmocka_unit_test(test_str_uri_encode_plus_is_percent_2b),
		cmocka_unit_test(test_str_uri_encode_percent_is_percent_25),
		cmocka_unit_test(test_str_uri_encode_escapes_reserved_and_control_bytes),
		cmocka_unit_test(test_str_uri_encode_empty_input_appends_nothing),
		cmocka_unit_test(test_str_uri_encode_encodes_only_first_n_bytes_including_nul),
		cmocka_unit_test(test_str_uri_encode_appends_after_existing_contents),
		cmocka_unit_test(test_str_uri_encode_past_buffer_max_is_limit_error),
		cmocka_unit_test(test_str_uri_decode_decodes_uppercase_and_lowercase_escapes),
		cmocka_unit_test(test_str_uri_decode_keeps_plain_bytes),
		cmocka_unit_test(test_str_uri_decode_lone_percent_is_kept_literally),
		cmocka_unit_test(test_str_uri_decode_truncated_escape_is_kept_literally),
		cmocka_unit_test(test_str_uri_decode_non_hex_escape_is_kept_literally),
		cmocka_unit_test(test_str_uri_decode_percent_before_valid_escape_is_kept),
		cmocka_unit_test(test_str_form_decode_plus_is_space_and_escapes_decode),
		cmocka_unit_test(test_str_form_decode_respects_the_buffer_limit),
		cmocka_unit_test(test_str_uri_decode_path_keeps_slash_and_nul_encoded),
		cmocka_unit_test(test_str_pct_byte_reads_one_escape),
		cmocka_unit_test(test_str_uri_decode_plus_stays_plus),
		cmocka_unit_test(test_str_uri_decode_escaped_nul_and_high_bytes_are_decoded),
		cmocka_unit_test(test_str_uri_decode_is_inverse_of_encode),
		cmocka_unit_test(test_str_uri_decode_empty_input_appends_nothing),
		cmocka_unit_test(test_str_uri_decode_does_not_read_past_n),
		cmocka_unit_test(test_str_uri_decode_past_buffer_max_is_limit_error),
		cmocka_unit_test(test_str_hexval_of_hex_digits_in_both_cases),
		cmocka_unit_test(test_str_hexval_of_non_hex_is_minus_one),
		cmocka_unit_test(test_str_hex_is_lowercase_two_digits_per_byte),
		cmocka_unit_test(test_str_hex_of_zero_bytes_is_empty_string),
		cmocka_unit_test(test_str_ieq_equal_ignoring_case),
		cmocka_unit_test(test_str_ieq_compares_only_first_n_bytes_of_s),
		cmocka_unit_test(test_str_ieq_different_lengths_are_unequal),
		cmocka_unit_test(test_str_ieq_different_letters_are_unequal),
		cmocka_unit_test(test_str_ieq_empty_equals_only_empty),
		cmocka_unit_test(test_str_time_amz_formats_basic_utc),
		cmocka_unit_test(test_str_time_amz_of_epoch),
		cmocka_unit_test(test_str_time_iso8601_formats_extended_utc),
		cmocka_unit_test(test_str_time_iso8601_of_epoch),
		cmocka_unit_test(test_str_time_parse_accepts_basic_format),
		cmocka_unit_test(test_str_time_parse_accepts_utc_offsets),
		cmocka_unit_test(test_str_time_parse_refuses_bad_offsets),
		cmocka_unit_test(test_str_time_parse_accepts_extended_format),
		cmocka_unit_test(test_str_time_parse_accepts_and_drops_fractional_seconds),
		cmocka_unit_test(test_str_time_parse_of_epoch_is_zero),
		cmocka_unit_test(test_str_time_parse_accepts_field_maxima),
		cmocka_unit_test(test_str_time_parse_accepts_leap_day_in_leap_year),
		cmocka_unit_test(test_str_time_parse_roundtrips_with_formatters),
		cmocka_unit_test(test_str_time_parse_rejects_missing_z),
		cmocka_unit_test(test_str_time_parse_rejects_trailing_junk),
		cmocka_unit_test(test_str_time_parse_rejects_lowercase_z_and_t),
		cmocka_unit_test(test_str_time_parse_rejects_month_13_and_month_0),
		cmocka_unit_test(test_str_time_parse_rejects_day_0_and_day_32),
		cmocka_unit_test(test_str_time_parse_rejects_feb_30),
		cmocka_unit_test(test_str_time_parse_rejects_feb_29_in_non_leap_year),
		cmocka_unit_test(test_str_time_parse_rejects_day_31_in_30_day_month),
		cmocka_unit_test(test_str_time_parse_rejects_hour_24),
		cmocka_unit_test(test_str_time_parse_rejects_minute_60_and_second_60),
		cmocka_unit_test(test_str_time_parse_rejects_empty_string),
		cmocka_unit_test(test_str_time_parse_rejects_null),
		cmocka_unit_test(test_str_time_parse_rejects_year_before_1970),
		cmocka_unit_test(test_str_time_parse_rejects_mixed_basic_and_extended_formats),
		cmocka_unit_test(test_str_time_parse_rejects_fraction_in_basic_format),
		cmocka_unit_test(test_str_time_parse_rejects_fraction_without_digits),
		cmocka_unit_test(test_str_time_parse_rejects_truncated_and_non_digit_fields),
		cmocka_unit_test(test_str_copy_that_fits_returns_true),
		cmocka_unit_test(test_str_copy_of_exactly_cap_minus_one_fits),
		cmocka_unit_test(test_str_copy_truncation_returns_false_and_terminates),
		cmocka_unit_test(test_str_copy_into_one_byte_gives_empty_string),
		cmocka_unit_test(test_str_copy_with_zero_cap_returns_false_and_writes_nothing),
	};

	return cmocka_run_group_tests_name("str", tests, NULL, NULL);
}
