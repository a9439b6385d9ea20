/* test_err.c - unit tests for src/common/err.c */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "poky/err.h"

/* ---- poky_err_name ------------------------------------------------------ */

static void
test_err_name_of_every_code_is_its_stable_name(void **state)
{
	(void)state;
	assert_string_equal(poky_err_name(POKY_OK), "ok");
	assert_string_equal(poky_err_name(POKY_ERR_NOMEM), "out of memory");
	assert_string_equal(poky_err_name(POKY_ERR_LIMIT), "limit exceeded");
	assert_string_equal(poky_err_name(POKY_ERR_INVALID), "invalid");
	assert_string_equal(poky_err_name(POKY_ERR_NOTFOUND), "not found");
	assert_string_equal(poky_err_name(POKY_ERR_IO), "i/o error");
	assert_string_equal(poky_err_name(POKY_ERR_CRYPTO), "crypto error");
	assert_string_equal(poky_err_name(POKY_ERR_AUTH), "auth error");
	assert_string_equal(poky_err_name(POKY_ERR_REMOTE), "remote error");
	assert_string_equal(poky_err_name(POKY_ERR_TRANSIENT), "transient error");
	assert_string_equal(poky_err_name(POKY_ERR_CONFLICT), "conflict");
	assert_string_equal(poky_err_name(POKY_ERR_INTERNAL), "internal error");
}

static void
test_err_name_of_every_code_is_nonempty_and_distinct(void **state)
{
	(void)state;
	for (int i = 0; i < POKY_ERR__COUNT; i++) {
		const char *a = poky_err_name((enum poky_err)i);

		assert_non_null(a);
		assert_true(a[0] != '\0');
		for (int j = 0; j < i; j++)
			assert_string_not_equal(a, poky_err_name((enum poky_err)j));
	}
}

static void
test_err_name_out_of_range_is_unknown_never_null(void **state)
{
	(void)state;
	assert_string_equal(poky_err_name(POKY_ERR__COUNT), "unknown error");
	assert_string_equal(poky_err_name((enum poky_err)15), "unknown error");
	assert_string_equal(poky_err_name((enum poky_err)1000), "unknown error");
	assert_string_equal(poky_err_name((enum poky_err)-1), "unknown error");
}

/* ---- poky_error_set ----------------------------------------------------- */

static void
test_err_set_fills_code_and_formatted_message(void **state)
{
	struct poky_error e;

	(void)state;
	poky_error_clear(&e);
	poky_error_set(&e, POKY_ERR_INVALID, "bad time '%s' at %d", "x", 7);
	assert_int_equal(e.code, POKY_ERR_INVALID);
	assert_string_equal(e.message, "bad time 'x' at 7");
}

static void
test_err_set_returns_the_code(void **state)
{
	struct poky_error e;

	(void)state;
	poky_error_clear(&e);
	assert_int_equal(poky_error_set(&e, POKY_ERR_LIMIT, "too big"),
	    POKY_ERR_LIMIT);
	assert_int_equal(poky_error_set(&e, POKY_OK, "fine"), POKY_OK);
}

static void
test_err_set_with_null_error_returns_the_code(void **state)
{
	(void)state;
	assert_int_equal(poky_error_set(NULL, POKY_ERR_IO, "read %s", "f"),
	    POKY_ERR_IO);
	assert_int_equal(poky_error_set(NULL, POKY_ERR_INTERNAL, "x"),
	    POKY_ERR_INTERNAL);
}

static void
test_err_set_replaces_previous_message(void **state)
{
	struct poky_error e;

	(void)state;
	poky_error_clear(&e);
	poky_error_set(&e, POKY_ERR_INVALID, "a long first message");
	poky_error_set(&e, POKY_ERR_NOTFOUND, "short");
	assert_int_equal(e.code, POKY_ERR_NOTFOUND);
	assert_string_equal(e.message, "short");
}

static void
test_err_set_truncates_message_at_msg_max_and_terminates(void **state)
{
	struct poky_error e;
	char longmsg[POKY_ERR_MSG_MAX * 2];

	(void)state;
	memset(longmsg, 'x', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = '\0';
	poky_error_clear(&e);
	poky_error_set(&e, POKY_ERR_INVALID, "%s", longmsg);
	assert_int_equal(strlen(e.message), POKY_ERR_MSG_MAX - 1);
	assert_memory_equal(e.message, longmsg, POKY_ERR_MSG_MAX - 1);
	assert_int_equal(e.code, POKY_ERR_INVALID);
}

static void
test_err_set_message_of_exactly_msg_max_minus_one_fits(void **state)
{
	struct poky_error e;
	char msg[POKY_ERR_MSG_MAX];

	(void)state;
	memset(msg, 'y', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	poky_error_clear(&e);
	poky_error_set(&e, POKY_ERR_INVALID, "%s", msg);
	assert_string_equal(e.message, msg);
}

static enum poky_err call_vset(struct poky_error *e, enum poky_err code,
			       const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum poky_err
call_vset(struct poky_error *e, enum poky_err code, const char *fmt, ...)
{
	va_list ap;
	enum poky_err rc;

	va_start(ap, fmt);
	rc = poky_error_vset(e, code, fmt, ap);
	va_end(ap);
	return rc;
}

static void
test_err_vset_fills_and_returns_code_like_set(void **state)
{
	struct poky_error e;

	(void)state;
	poky_error_clear(&e);
	assert_int_equal(call_vset(&e, POKY_ERR_AUTH, "key %s", "missing"),
	    POKY_ERR_AUTH);
	assert_int_equal(e.code, POKY_ERR_AUTH);
	assert_string_equal(e.message, "key missing");
	assert_int_equal(call_vset(NULL, POKY_ERR_CRYPTO, "%d", 1),
	    POKY_ERR_CRYPTO);
}

/* ---- poky_error_clear --------------------------------------------------- */

static void
test_err_clear_resets_every_field(void **state)
{
	struct poky_error e, zero;

	(void)state;
	memset(&e, 0x5a, sizeof(e));
	e.code = POKY_ERR_REMOTE;
	e.http_status = 503;
	e.sys_errno = 5;
	strcpy(e.aws_code, "ThrottlingException");
	strcpy(e.message, "slow down");
	poky_error_clear(&e);
	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(&e, &zero, sizeof(e));     /* every field, new ones too */
	assert_int_equal(e.code, POKY_OK);
	assert_int_equal(e.http_status, 0);
	assert_int_equal(e.sys_errno, 0);
	assert_string_equal(e.aws_code, "");
	assert_string_equal(e.message, "");
}

static void
test_err_clear_null_is_noop(void **state)
{
	(void)state;
	poky_error_clear(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_err_name_of_every_code_is_its_stable_name),
		cmocka_unit_test(test_err_name_of_every_code_is_nonempty_and_distinct),
		cmocka_unit_test(test_err_name_out_of_range_is_unknown_never_null),
		cmocka_unit_test(test_err_set_fills_code_and_formatted_message),
		cmocka_unit_test(test_err_set_returns_the_code),
		cmocka_unit_test(test_err_set_with_null_error_returns_the_code),
		cmocka_unit_test(test_err_set_replaces_previous_message),
		cmocka_unit_test(test_err_set_truncates_message_at_msg_max_and_terminates),
		cmocka_unit_test(test_err_set_message_of_exactly_msg_max_minus_one_fits),
		cmocka_unit_test(test_err_vset_fills_and_returns_code_like_set),
		cmocka_unit_test(test_err_clear_resets_every_field),
		cmocka_unit_test(test_err_clear_null_is_noop),
	};

	return cmocka_run_group_tests_name("err", tests, NULL, NULL);
}
