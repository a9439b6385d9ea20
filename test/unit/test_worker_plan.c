/* test_worker_plan.c - unit tests for src/worker/plan.c, poky-worker's pure
 * rules.  Unit tests link only libpoky, so the file under test is included. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../src/worker/plan.c"

#define UUID "0b7e5a3c-1f2d-4e6a-9b8c-7d6e5f4a3b2c"
#define MIB_ ((int64_t)1 << 20)

static void
check_rename(const char *key, const char *want)
{
	char out[S3_KEY_MAX + 1];

	assert_true(wk_rename(key, UUID, out, sizeof(out)));
	assert_string_equal(out, want);
}

/* ---- rename -------------------------------------------------------------------- */

static void
test_rename_puts_uuid_before_the_last_extension(void **state)
{
	(void)state;
	check_rename("report.final.csv", "report.final_" UUID ".csv");
	check_rename("test_file.txt", "test_file_" UUID ".txt");
}

static void
test_rename_keeps_the_prefix(void **state)
{
	(void)state;
	check_rename("dir/sub/data.json", "dir/sub/data_" UUID ".json");
}

static void
test_rename_without_extension_adds_no_dot(void **state)
{
	(void)state;
	check_rename("dir/noext", "dir/noext_" UUID);
	check_rename("noext", "noext_" UUID);
}

static void
test_rename_ignores_dots_in_directories(void **state)
{
	(void)state;
	check_rename("v1.2/readme", "v1.2/readme_" UUID);
	check_rename("a.b/c.d/e", "a.b/c.d/e_" UUID);
}

static void
test_rename_leading_dot_is_not_an_extension(void **state)
{
	(void)state;
	check_rename(".bashrc", ".bashrc_" UUID);
	check_rename("home/.profile", "home/.profile_" UUID);
	check_rename(".bashrc.bak", ".bashrc_" UUID ".bak");
}

static void
test_rename_trailing_dot_and_slash(void **state)
{
	(void)state;
	check_rename("file.", "file_" UUID ".");
	check_rename("dir/", "dir/_" UUID);
}

static void
test_rename_keeps_unicode_and_odd_bytes(void **state)
{
	(void)state;
	check_rename("r\xc3\xa9sum\xc3\xa9 +=&,;:@$#?.pdf",
	    "r\xc3\xa9sum\xc3\xa9 +=&,;:@$#?_" UUID ".pdf");
	check_rename("a//b.c", "a//b_" UUID ".c");
}

static void
test_rename_refuses_what_does_not_fit(void **state)
{
	char key[S3_KEY_MAX + 1], out[S3_KEY_MAX + 1];

	(void)state;
	memset(key, 'k', S3_KEY_MAX);
	key[S3_KEY_MAX] = '\0';
	assert_false(wk_rename(key, UUID, out, sizeof(out)));
	key[S3_KEY_MAX - 37] = '\0';           /* exactly fits: 987 + 37 */
	assert_true(wk_rename(key, UUID, out, sizeof(out)));
	assert_int_equal(strlen(out), S3_KEY_MAX);
}

/* ---- parsing ------------------------------------------------------------------ */

static void
test_parse_bytes_plain_and_suffixed(void **state)
{
	int64_t v;

	(void)state;
	assert_true(wk_parse_bytes("0", &v));
	assert_int_equal(v, 0);
	assert_true(wk_parse_bytes("8388608", &v));
	assert_int_equal(v, 8388608);
	assert_true(wk_parse_bytes("5M", &v));
	assert_int_equal(v, 5 * MIB_);
	assert_true(wk_parse_bytes("64MiB", &v));
	assert_int_equal(v, 64 * MIB_);
	assert_true(wk_parse_bytes("5G", &v));
	assert_int_equal(v, (int64_t)5 << 30);
	assert_true(wk_parse_bytes("1KiB", &v));
	assert_int_equal(v, 1024);
}

static void
test_parse_bytes_rejects_junk_and_overflow(void **state)
{
	int64_t v = 42;

	(void)state;
	assert_false(wk_parse_bytes("", &v));
	assert_false(wk_parse_bytes(NULL, &v));
	assert_false(wk_parse_bytes("-1", &v));
	assert_false(wk_parse_bytes(" 5", &v));
	assert_false(wk_parse_bytes("5 M", &v));
	assert_false(wk_parse_bytes("5MB", &v));
	assert_false(wk_parse_bytes("1.5G", &v));
	assert_false(wk_parse_bytes("0x10", &v));
	assert_false(wk_parse_bytes("99999999999999999999", &v));
	assert_false(wk_parse_bytes("9999999999999G", &v));
	assert_int_equal(v, 42);
}

static void
test_parse_bool(void **state)
{
	(void)state;
	assert_int_equal(wk_parse_bool("true"), 1);
	assert_int_equal(wk_parse_bool("TRUE"), 1);
	assert_int_equal(wk_parse_bool("1"), 1);
	assert_int_equal(wk_parse_bool("false"), 0);
	assert_int_equal(wk_parse_bool(""), 0);
	assert_int_equal(wk_parse_bool(NULL), 0);
	assert_int_equal(wk_parse_bool("ture"), -1);
	assert_int_equal(wk_parse_bool("true "), -1);
}

static void
test_utf8_validation(void **state)
{
	(void)state;
	assert_true(wk_utf8_valid("plain", 5));
	assert_true(wk_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));
	assert_false(wk_utf8_valid("\xc3", 1));                 /* cut short */
	assert_false(wk_utf8_valid("\xc0\xaf", 2));             /* overlong '/' */
	assert_false(wk_utf8_valid("\xed\xa0\x80", 3));         /* surrogate */
	assert_false(wk_utf8_valid("\xf4\x90\x80\x80", 4));     /* > U+10FFFF */
	assert_false(wk_utf8_valid("\xff", 1));
}

/* ---- local mode names ------------------------------------------------------------ */

static void
test_local_key_accepts_nested_keys(void **state)
{
	const char *why = NULL;

	(void)state;
	assert_true(wk_local_key_ok("a", &why));
	assert_true(wk_local_key_ok("a/b/c.txt", &why));
	assert_true(wk_local_key_ok("..a/b..", &why));
	assert_true(wk_local_key_ok("with space/+=&,;:@$#?", &why));
}

static void
test_local_key_refuses_escapes(void **state)
{
	static const char *const bad[] = { "/etc/passwd", "..", "../x", "a/../b",
		"a/..", ".", "./a", "a/./b", "a//b", "a/", "", NULL };
	const char *why;

	(void)state;
	for (int i = 0; bad[i] != NULL; i++) {
		why = NULL;
		if (wk_local_key_ok(bad[i], &why))
			fail_msg("accepted '%s'", bad[i]);
		assert_non_null(why);
	}
}

static void
test_local_bucket_is_one_name(void **state)
{
	const char *why;

	(void)state;
	assert_true(wk_local_bucket_ok("test-poky-input", &why));
	assert_false(wk_local_bucket_ok("a/b", &why));
	assert_false(wk_local_bucket_ok("..", &why));
	assert_false(wk_local_bucket_ok(".", &why));
	assert_false(wk_local_bucket_ok("", &why));
}

/* ---- parts -------------------------------------------------------------------- */

static void
test_plan_parts_even_and_ragged(void **state)
{
	int64_t ps, first, last;
	int n;

	(void)state;
	assert_true(wk_plan_parts(64 * MIB_, 5 * MIB_, &ps, &n));
	assert_int_equal(ps, 5 * MIB_);
	assert_int_equal(n, 13);
	wk_part_range(64 * MIB_, ps, 12, &first, &last);
	assert_int_equal(first, 60 * MIB_);
	assert_int_equal(last, 64 * MIB_ - 1);
	assert_true(wk_plan_parts(10 * MIB_, 5 * MIB_, &ps, &n));
	assert_int_equal(n, 2);
	wk_part_range(10 * MIB_, ps, 1, &first, &last);
	assert_int_equal(first, 5 * MIB_);
	assert_int_equal(last, 10 * MIB_ - 1);
}

static void
test_plan_parts_raises_a_small_part_size_to_the_minimum(void **state)
{
	int64_t ps;
	int n;

	(void)state;
	assert_true(wk_plan_parts(1, 1024, &ps, &n));
	assert_int_equal(ps, S3_MIN_PART);
	assert_int_equal(n, 1);
}

static void
test_plan_parts_grows_parts_past_10000(void **state)
{
	int64_t size = (int64_t)5 << 40, ps;      /* 5 TiB, S3's largest object */
	int n;

	(void)state;
	assert_true(wk_plan_parts(size, 64 * MIB_, &ps, &n));
	assert_true(n <= S3_MAX_PARTS);
	assert_int_equal(ps % MIB_, 0);
	assert_true(ps * n >= size);
	assert_true(ps * (n - 1) < size);
}

static void
test_plan_parts_refuses_empty_and_huge(void **state)
{
	int64_t ps;
	int n;

	(void)state;
	assert_false(wk_plan_parts(0, 64 * MIB_, &ps, &n));
	assert_false(wk_plan_parts(S3_MAX_PART * S3_MAX_PARTS + 1, 64 * MIB_, &ps, &n));
}

/* ---- ETags -------------------------------------------------------------------- */

static void
test_etag_kinds_and_equality(void **state)
{
	(void)state;
	assert_true(wk_etag_is_md5("\"0cc175b9c0f1b6a831c399e269772661\""));
	assert_true(wk_etag_is_md5("0cc175b9c0f1b6a831c399e269772661"));
	assert_false(wk_etag_is_md5("\"96e024ba2074fe77e8e965ba43a704be-2\""));
	assert_false(wk_etag_is_md5(""));
	assert_true(wk_etag_equal("\"ABCDEF\"", "abcdef"));
	assert_false(wk_etag_equal("\"abc\"", "\"abd\""));
	assert_false(wk_etag_equal("", ""));
}

static void
test_multipart_etag_is_md5_of_part_md5s(void **state)
{
	/* md5("a"), md5("b"); python: md5(bytes.fromhex(a) + bytes.fromhex(b)) */
	struct s3_part parts[2] = {
		{ 1, "\"0cc175b9c0f1b6a831c399e269772661\"" },
		{ 2, "92eb5ffee6ae2fec3ad71c777531578f" },
	};
	char out[S3_ETAG_MAX];

	(void)state;
	assert_true(wk_multipart_etag(parts, 2, out));
	assert_string_equal(out, "\"96e024ba2074fe77e8e965ba43a704be-2\"");
}

static void
test_multipart_etag_needs_md5_parts(void **state)
{
	struct s3_part parts[1] = { { 1, "\"not-an-md5\"" } };
	char out[S3_ETAG_MAX];

	(void)state;
	assert_false(wk_multipart_etag(parts, 1, out));
	assert_false(wk_multipart_etag(parts, 0, out));
}

/* ---- exit codes ------------------------------------------------------------------ */

static struct poky_error
remote(int status, const char *code)
{
	struct poky_error e;

	poky_error_set(&e, POKY_ERR_REMOTE, "x");
	e.http_status = status;
	str_copy(e.aws_code, sizeof(e.aws_code), code);
	return e;
}

static void
test_exit_codes_for_aws_errors(void **state)
{
	struct poky_error e;

	(void)state;
	e = remote(404, "NotFound");
	assert_int_equal(wk_exit_for(&e), WK_EXIT_NOTFOUND);
	e = remote(404, "NoSuchBucket");
	assert_int_equal(wk_exit_for(&e), WK_EXIT_NOTFOUND);
	e = remote(403, "SignatureDoesNotMatch");
	assert_int_equal(wk_exit_for(&e), WK_EXIT_DENIED);
	e = remote(400, "InvalidAccessKeyId");
	assert_int_equal(wk_exit_for(&e), WK_EXIT_DENIED);
	e = remote(412, "PreconditionFailed");
	assert_int_equal(wk_exit_for(&e), WK_EXIT_TRANSIENT);
	e = remote(400, "InvalidRequest");
	assert_int_equal(wk_exit_for(&e), WK_EXIT_FAILED);
	poky_error_set(&e, POKY_ERR_TRANSIENT, "timeout");
	assert_int_equal(wk_exit_for(&e), WK_EXIT_TRANSIENT);
	poky_error_set(&e, POKY_ERR_AUTH, "no credentials");
	assert_int_equal(wk_exit_for(&e), WK_EXIT_DENIED);
	assert_string_equal(wk_exit_name(WK_EXIT_NOT_MOVED), "copied-not-moved");
	assert_string_equal(wk_exit_name(WK_EXIT_SIGNAL + 15), "interrupted");
}

/* ---- the environment --------------------------------------------------------------- */

static const char *const env_names[] = { "SOURCE_BUCKET", "SOURCE_KEY",
	"OUTPUT_BUCKET", "OUTPUT_KEY", "DELETE_SOURCE", "POKY_ABORT_STALE_UPLOADS",
	"POKY_STALL_SECONDS",
	"POKY_LOCAL_ROOT",
	"POKY_SOURCE_ENDPOINT_URL_S3", "POKY_MULTIPART_THRESHOLD",
	"POKY_PART_SIZE", "POKY_CONCURRENCY", NULL };

static int
env_reset(void **state)
{
	(void)state;
	for (int i = 0; env_names[i] != NULL; i++)
		unsetenv(env_names[i]);
	setenv("SOURCE_BUCKET", "test-poky-input", 1);
	setenv("SOURCE_KEY", "in/test_file.txt", 1);
	setenv("OUTPUT_BUCKET", "test-poky-output", 1);
	return 0;
}

static void
test_env_defaults(void **state)
{
	struct wk_params p;
	struct wk_error err;

	(void)state;
	assert_int_equal(wk_params_from_env(&p, UUID, &err), WK_EXIT_OK);
	assert_string_equal(p.dst_key, "in/test_file_" UUID ".txt");
	assert_false(p.dst_key_given);
	assert_false(p.move);
	assert_null(p.local_root);
	assert_int_equal(p.threshold, (int64_t)5 << 30);
	assert_int_equal(p.part_size, 64 * MIB_);
	assert_int_equal(p.concurrency, 4);
}

static void
test_env_output_key_and_move(void **state)
{
	struct wk_params p;
	struct wk_error err;

	(void)state;
	setenv("OUTPUT_KEY", "exact/name.bin", 1);
	setenv("DELETE_SOURCE", "true", 1);
	setenv("POKY_PART_SIZE", "5242880", 1);
	setenv("POKY_CONCURRENCY", "16", 1);
	setenv("POKY_MULTIPART_THRESHOLD", "8M", 1);
	assert_int_equal(wk_params_from_env(&p, UUID, &err), WK_EXIT_OK);
	assert_string_equal(p.dst_key, "exact/name.bin");
	assert_true(p.dst_key_given);
	assert_true(p.move);
	assert_int_equal(p.part_size, 5 * MIB_);
	assert_int_equal(p.concurrency, 16);
	assert_int_equal(p.threshold, 8 * MIB_);
}

static void
test_env_missing_names_every_missing_variable(void **state)
{
	struct wk_params p;
	struct wk_error err;

	(void)state;
	unsetenv("SOURCE_BUCKET");
	setenv("OUTPUT_BUCKET", "", 1);
	assert_int_equal(wk_params_from_env(&p, UUID, &err), WK_EXIT_USAGE);
	assert_non_null(strstr(err.message, "SOURCE_BUCKET"));
	assert_non_null(strstr(err.message, "OUTPUT_BUCKET"));
	assert_null(strstr(err.message, "SOURCE_KEY"));
}

static void
test_env_rejects_bad_numbers(void **state)
{
	static const char *const cases[][2] = {
		{ "POKY_PART_SIZE", "4M" }, { "POKY_PART_SIZE", "6G" },
		{ "POKY_CONCURRENCY", "0" }, { "POKY_CONCURRENCY", "17" },
		{ "POKY_CONCURRENCY", "four" }, { "POKY_MULTIPART_THRESHOLD", "6G" },
		{ "DELETE_SOURCE", "yes please" },
	};
	struct wk_params p;
	struct wk_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		env_reset(NULL);
		setenv(cases[i][0], cases[i][1], 1);
		if (wk_params_from_env(&p, UUID, &err) != WK_EXIT_USAGE)
			fail_msg("%s=%s accepted", cases[i][0], cases[i][1]);
		assert_non_null(strstr(err.message, cases[i][0]));
	}
}

static void
test_env_rejects_same_object(void **state)
{
	struct wk_params p;
	struct wk_error err;

	(void)state;
	setenv("OUTPUT_BUCKET", "test-poky-input", 1);
	setenv("OUTPUT_KEY", "in/test_file.txt", 1);
	assert_int_equal(wk_params_from_env(&p, UUID, &err), WK_EXIT_USAGE);
}

static void
test_env_rejects_bad_bucket_and_key(void **state)
{
	struct wk_params p;
	struct wk_error err;

	(void)state;
	setenv("SOURCE_BUCKET", "no_underscores", 1);
	assert_int_equal(wk_params_from_env(&p, UUID, &err), WK_EXIT_USAGE);
	env_reset(NULL);
	setenv("SOURCE_KEY", "bad \xff utf-8", 1);
	assert_int_equal(wk_params_from_env(&p, UUID, &err), WK_EXIT_USAGE);
}

static void
test_env_s3_keeps_dot_segments_local_refuses_them(void **state)
{
	struct wk_params p;
	struct wk_error err;

	(void)state;
	setenv("SOURCE_KEY", "a/../b", 1);
	assert_int_equal(wk_params_from_env(&p, UUID, &err), WK_EXIT_OK);
	setenv("POKY_LOCAL_ROOT", "/tmp", 1);
	assert_int_equal(wk_params_from_env(&p, UUID, &err), WK_EXIT_USAGE);
	assert_non_null(strstr(err.message, "SOURCE_KEY"));
	setenv("SOURCE_KEY", "ok/key", 1);
	setenv("OUTPUT_KEY", "/abs", 1);
	assert_int_equal(wk_params_from_env(&p, UUID, &err), WK_EXIT_USAGE);
	assert_non_null(strstr(err.message, "OUTPUT_KEY"));
	/* Local bucket names are directory names, not S3 names. */
	setenv("OUTPUT_KEY", "fine", 1);
	setenv("SOURCE_BUCKET", "Local_Bucket", 1);
	assert_int_equal(wk_params_from_env(&p, UUID, &err), WK_EXIT_OK);
}

static void
test_time_ms_keeps_the_milliseconds(void **state)
{
	int64_t ms;

	(void)state;
	assert_true(wk_time_ms("1970-01-01T00:00:01.250Z", &ms));
	assert_int_equal(ms, 1250);
	assert_true(wk_time_ms("2026-11-28T04:40:01Z", &ms));
	assert_int_equal(ms, (int64_t)1795840801 * 1000);
	/* More than three digits: the rest is dropped, not rounded. */
	assert_true(wk_time_ms("2026-11-28T04:40:01.123999Z", &ms));
	assert_int_equal(ms % 1000, 123);
	assert_true(wk_time_ms("2026-11-28T04:40:01.5Z", &ms));
	assert_int_equal(ms % 1000, 500);
	assert_false(wk_time_ms(NULL, &ms));
	assert_false(wk_time_ms("", &ms));
	assert_false(wk_time_ms("yesterday", &ms));
	assert_false(wk_time_ms("2026-11-28T04:40:01.Z", &ms));
}

static void
test_upload_stale_only_when_strictly_earlier(void **state)
{
	const char *own = "2026-11-28T04:40:01.500Z";

	(void)state;
	assert_true(wk_upload_stale(own, "2026-11-28T04:40:01.499Z"));
	assert_true(wk_upload_stale(own, "2025-01-01T00:00:00Z"));
	/* Same instant or later: another live run's, left alone. */
	assert_false(wk_upload_stale(own, own));
	assert_false(wk_upload_stale(own, "2026-11-28T04:40:01.501Z"));
	/* Within the same second: the fraction decides. */
	assert_false(wk_upload_stale("2026-11-28T04:40:01Z", "2026-11-28T04:40:01.900Z"));
	assert_true(wk_upload_stale("2026-11-28T04:40:01.900Z", "2026-11-28T04:40:01Z"));
	/* A doubt aborts nothing. */
	assert_false(wk_upload_stale(own, NULL));
	assert_false(wk_upload_stale(own, "garbage"));
	assert_false(wk_upload_stale(NULL, "2025-01-01T00:00:00Z"));
	assert_false(wk_upload_stale("", "2025-01-01T00:00:00Z"));
}

static void
test_env_abort_stale_uploads_switch(void **state)
{
	struct wk_params p;
	struct wk_error err;

	(void)state;
	assert_int_equal(wk_params_from_env(&p, UUID, &err), WK_EXIT_OK);
	assert_true(p.sweep_uploads);
	setenv("POKY_ABORT_STALE_UPLOADS", "false", 1);
	assert_int_equal(wk_params_from_env(&p, UUID, &err), WK_EXIT_OK);
	assert_false(p.sweep_uploads);
	setenv("POKY_ABORT_STALE_UPLOADS", "YES", 1);
	assert_int_equal(wk_params_from_env(&p, UUID, &err), WK_EXIT_OK);
	assert_true(p.sweep_uploads);
	setenv("POKY_ABORT_STALE_UPLOADS", "sometimes", 1);
	assert_int_equal(wk_params_from_env(&p, UUID, &err), WK_EXIT_USAGE);
	assert_non_null(strstr(err.message, "POKY_ABORT_STALE_UPLOADS"));
}

static void
test_env_stall_seconds(void **state)
{
	static const char *const bad[] = { "0", "-1", "3601", "2s", "", NULL };
	struct wk_params p;
	struct wk_error err;

	(void)state;
	assert_int_equal(wk_params_from_env(&p, UUID, &err), WK_EXIT_OK);
	assert_int_equal(p.stall_seconds, WK_DEFAULT_STALL_SECONDS);
	setenv("POKY_STALL_SECONDS", "7", 1);
	assert_int_equal(wk_params_from_env(&p, UUID, &err), WK_EXIT_OK);
	assert_int_equal(p.stall_seconds, 7);
	for (int i = 0; bad[i] != NULL; i++) {
		setenv("POKY_STALL_SECONDS", bad[i], 1);
		/* "" is unset: the default. */
		if (bad[i][0] == '\0') {
			assert_int_equal(wk_params_from_env(&p, UUID, &err), WK_EXIT_OK);
			assert_int_equal(p.stall_seconds, WK_DEFAULT_STALL_SECONDS);
			continue;
		}
		assert_int_equal(wk_params_from_env(&p, UUID, &err), WK_EXIT_USAGE);
		assert_non_null(strstr(err.message, "POKY_STALL_SECONDS"));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rename_puts_uuid_before_the_last_extension),
		cmocka_unit_test(test_rename_keeps_the_prefix),
		cmocka_unit_test(test_rename_without_extension_adds_no_dot),
		cmocka_unit_test(test_rename_ignores_dots_in_directories),
		cmocka_unit_test(test_rename_leading_dot_is_not_an_extension),
		cmocka_unit_test(test_rename_trailing_dot_and_slash),
		cmocka_unit_test(test_rename_keeps_unicode_and_odd_bytes),
		cmocka_unit_test(test_rename_refuses_what_does_not_fit),
		cmocka_unit_test(test_parse_bytes_plain_and_suffixed),
		cmocka_unit_test(test_parse_bytes_rejects_junk_and_overflow),
		cmocka_unit_test(test_parse_bool),
		cmocka_unit_test(test_utf8_validation),
		cmocka_unit_test(test_local_key_accepts_nested_keys),
		cmocka_unit_test(test_local_key_refuses_escapes),
		cmocka_unit_test(test_local_bucket_is_one_name),
		cmocka_unit_test(test_plan_parts_even_and_ragged),
		cmocka_unit_test(test_plan_parts_raises_a_small_part_size_to_the_minimum),
		cmocka_unit_test(test_plan_parts_grows_parts_past_10000),
		cmocka_unit_test(test_plan_parts_refuses_empty_and_huge),
		cmocka_unit_test(test_etag_kinds_and_equality),
		cmocka_unit_test(test_multipart_etag_is_md5_of_part_md5s),
		cmocka_unit_test(test_multipart_etag_needs_md5_parts),
		cmocka_unit_test(test_exit_codes_for_aws_errors),
		cmocka_unit_test(test_time_ms_keeps_the_milliseconds),
		cmocka_unit_test(test_upload_stale_only_when_strictly_earlier),
		cmocka_unit_test_setup(test_env_abort_stale_uploads_switch, env_reset),
		cmocka_unit_test_setup(test_env_stall_seconds, env_reset),
		cmocka_unit_test_setup(test_env_defaults, env_reset),
		cmocka_unit_test_setup(test_env_output_key_and_move, env_reset),
		cmocka_unit_test_setup(test_env_missing_names_every_missing_variable, env_reset),
		cmocka_unit_test_setup(test_env_rejects_bad_numbers, env_reset),
		cmocka_unit_test_setup(test_env_rejects_same_object, env_reset),
		cmocka_unit_test_setup(test_env_rejects_bad_bucket_and_key, env_reset),
		cmocka_unit_test_setup(test_env_s3_keeps_dot_segments_local_refuses_them, env_reset),
	};

	return cmocka_run_group_tests_name("worker_plan", tests, NULL, NULL);
}
