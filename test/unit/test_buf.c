/* test_buf.c - unit tests for src/common/buf.c */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "poky/buf.h"

/* Every non-empty buffer must be a valid C string of exactly len bytes. */
static void
assert_buf_is(const struct buf *b, const char *want, size_t want_len)
{
	assert_int_equal(b->len, want_len);
	assert_non_null(b->data);
	assert_true(b->cap >= b->len + 1);
	assert_memory_equal(b->data, want, want_len);
	assert_int_equal(b->data[b->len], '\0');
}

/* ---- init --------------------------------------------------------------- */

static void
test_buf_init_allocates_nothing(void **state)
{
	struct buf b;

	(void)state;
	memset(&b, 0x5a, sizeof(b));
	buf_init(&b, 100);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_int_equal(b.max, 100);
}

/* ---- append ------------------------------------------------------------- */

static void
test_buf_append_copies_bytes_and_nul_terminates(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(buf_append(&b, "hello", 5), POKY_OK);
	assert_buf_is(&b, "hello", 5);
	assert_string_equal(b.data, "hello");
	buf_free(&b);
}

static void
test_buf_append_only_copies_n_bytes(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(buf_append(&b, "hello world", 4), POKY_OK);
	assert_string_equal(b.data, "hell");
	assert_int_equal(b.len, 4);
	buf_free(&b);
}

static void
test_buf_append_keeps_embedded_nul_bytes_in_len(void **state)
{
	struct buf b;
	static const char bin[] = { 'a', '\0', 'b', '\0', (char)0xff };

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(buf_append(&b, bin, sizeof(bin)), POKY_OK);
	assert_buf_is(&b, bin, sizeof(bin));
	buf_free(&b);
}

static void
test_buf_appends_concatenate_in_order(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(buf_append(&b, "ab", 2), POKY_OK);
	assert_int_equal(buf_append_str(&b, "cd"), POKY_OK);
	assert_int_equal(buf_append_byte(&b, 'e'), POKY_OK);
	assert_int_equal(buf_printf(&b, "%d", 42), POKY_OK);
	assert_buf_is(&b, "abcde42", 7);
	buf_free(&b);
}

static void
test_buf_append_zero_bytes_to_empty_buffer_gives_empty_string(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(buf_append(&b, "", 0), POKY_OK);
	assert_buf_is(&b, "", 0);
	buf_free(&b);
}

static void
test_buf_append_null_pointer_with_zero_length_is_ok(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(buf_append_str(&b, "x"), POKY_OK);
	assert_int_equal(buf_append(&b, NULL, 0), POKY_OK);
	assert_buf_is(&b, "x", 1);
	buf_free(&b);
}

static void
test_buf_append_str_appends_whole_c_string(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(buf_append_str(&b, "foo"), POKY_OK);
	assert_int_equal(buf_append_str(&b, ""), POKY_OK);
	assert_int_equal(buf_append_str(&b, "bar"), POKY_OK);
	assert_buf_is(&b, "foobar", 6);
	buf_free(&b);
}

static void
test_buf_append_byte_appends_one_byte_including_nul(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(buf_append_byte(&b, 'x'), POKY_OK);
	assert_int_equal(buf_append_byte(&b, '\0'), POKY_OK);
	assert_int_equal(buf_append_byte(&b, 'y'), POKY_OK);
	assert_buf_is(&b, "x\0y", 3);
	buf_free(&b);
}

static void
test_buf_many_appends_grow_and_stay_terminated(void **state)
{
	struct buf b;
	char want[1000];

	(void)state;
	buf_init(&b, sizeof(want));
	for (size_t i = 0; i < sizeof(want); i++) {
		want[i] = (char)('a' + i % 26);
		assert_int_equal(buf_append_byte(&b, want[i]), POKY_OK);
		assert_buf_is(&b, want, i + 1);
	}
	buf_free(&b);
}

/* ---- max ---------------------------------------------------------------- */

static void
test_buf_append_exactly_max_bytes_fits(void **state)
{
	struct buf b;
	char data[100];

	(void)state;
	memset(data, 'm', sizeof(data));
	buf_init(&b, sizeof(data));
	assert_int_equal(buf_append(&b, data, sizeof(data)), POKY_OK);
	assert_buf_is(&b, data, sizeof(data));
	buf_free(&b);
}

static void
test_buf_append_past_max_is_limit_error_and_keeps_contents(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 5);
	assert_int_equal(buf_append_str(&b, "abcd"), POKY_OK);
	assert_int_equal(buf_append(&b, "xy", 2), POKY_ERR_LIMIT);
	assert_buf_is(&b, "abcd", 4);
	buf_free(&b);
}

static void
test_buf_append_max_plus_one_into_empty_is_limit_error(void **state)
{
	struct buf b;
	char data[101];

	(void)state;
	memset(data, 'm', sizeof(data));
	buf_init(&b, 100);
	assert_int_equal(buf_append(&b, data, sizeof(data)), POKY_ERR_LIMIT);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void
test_buf_append_byte_at_max_is_limit_error_and_keeps_contents(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 3);
	assert_int_equal(buf_append_str(&b, "abc"), POKY_OK);
	assert_int_equal(buf_append_byte(&b, 'd'), POKY_ERR_LIMIT);
	assert_buf_is(&b, "abc", 3);
	buf_free(&b);
}

static void
test_buf_append_str_past_max_is_limit_error_and_keeps_contents(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 6);
	assert_int_equal(buf_append_str(&b, "abc"), POKY_OK);
	assert_int_equal(buf_append_str(&b, "defg"), POKY_ERR_LIMIT);
	assert_buf_is(&b, "abc", 3);
	assert_int_equal(buf_append_str(&b, "def"), POKY_OK);
	assert_buf_is(&b, "abcdef", 6);
	buf_free(&b);
}

static void
test_buf_max_zero_accepts_only_empty_appends(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(buf_append(&b, "", 0), POKY_OK);
	assert_int_equal(buf_append_byte(&b, 'a'), POKY_ERR_LIMIT);
	assert_buf_is(&b, "", 0);
	buf_free(&b);
}

static void
test_buf_append_with_huge_length_is_limit_error_not_overflow(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(buf_append_str(&b, "abc"), POKY_OK);
	/* len + n would wrap around; must be refused before touching p. */
	assert_int_equal(buf_append(&b, "x", SIZE_MAX), POKY_ERR_LIMIT);
	assert_int_equal(buf_append(&b, "x", SIZE_MAX - 1), POKY_ERR_LIMIT);
	assert_buf_is(&b, "abc", 3);
	buf_free(&b);
}

/* ---- printf ------------------------------------------------------------- */

static void
test_buf_printf_formats_and_appends(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(buf_append_str(&b, "x="), POKY_OK);
	assert_int_equal(buf_printf(&b, "%d/%s/%02x", -7, "s", 10), POKY_OK);
	assert_buf_is(&b, "x=-7/s/0a", 9);
	buf_free(&b);
}

static void
test_buf_printf_growing_past_64_bytes_keeps_whole_text(void **state)
{
	struct buf b;
	char want[300];

	(void)state;
	memset(want, 'q', sizeof(want));
	buf_init(&b, 1000);
	assert_int_equal(buf_append_str(&b, "qqqqqqqqqq"), POKY_OK);
	assert_int_equal(buf_printf(&b, "%.*s", 290, want), POKY_OK);
	assert_buf_is(&b, want, 300);
	buf_free(&b);
}

static void
test_buf_printf_of_empty_string_on_empty_buffer_gives_empty_string(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(buf_printf(&b, "%s", ""), POKY_OK);
	assert_buf_is(&b, "", 0);
	buf_free(&b);
}

static void
test_buf_printf_exactly_to_max_fits(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(buf_append_str(&b, "ab"), POKY_OK);
	assert_int_equal(buf_printf(&b, "%06d", 123), POKY_OK);
	assert_buf_is(&b, "ab000123", 8);
	buf_free(&b);
}

static void
test_buf_printf_past_max_is_limit_error_and_keeps_contents(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(buf_append_str(&b, "ab"), POKY_OK);
	assert_int_equal(buf_printf(&b, "%07d", 123), POKY_ERR_LIMIT);
	assert_buf_is(&b, "ab", 2);
	buf_free(&b);
}

/* ---- reserve ------------------------------------------------------------ */

static void
test_buf_reserve_makes_room_without_changing_contents(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 1000);
	assert_int_equal(buf_append_str(&b, "abc"), POKY_OK);
	assert_int_equal(buf_reserve(&b, 500), POKY_OK);
	assert_true(b.cap >= 3 + 500 + 1);
	assert_buf_is(&b, "abc", 3);
	buf_free(&b);
}

static void
test_buf_reserve_on_empty_buffer_allocates_room_and_nul(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(buf_reserve(&b, 10), POKY_OK);
	assert_non_null(b.data);
	assert_true(b.cap >= 11);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void
test_buf_reserve_up_to_max_is_ok(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(buf_append_str(&b, "abc"), POKY_OK);
	assert_int_equal(buf_reserve(&b, 7), POKY_OK);
	assert_true(b.cap >= 11);
	buf_free(&b);
}

static void
test_buf_reserve_past_max_is_limit_error_and_keeps_contents(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(buf_append_str(&b, "abc"), POKY_OK);
	assert_int_equal(buf_reserve(&b, 8), POKY_ERR_LIMIT);
	assert_int_equal(buf_reserve(&b, SIZE_MAX), POKY_ERR_LIMIT);
	assert_buf_is(&b, "abc", 3);
	buf_free(&b);
}

static void
test_buf_reserved_room_is_used_without_reallocation(void **state)
{
	struct buf b;
	const char *before;
	char data[200];

	(void)state;
	memset(data, 'r', sizeof(data));
	buf_init(&b, 1000);
	assert_int_equal(buf_reserve(&b, sizeof(data)), POKY_OK);
	before = b.data;
	assert_int_equal(buf_append(&b, data, sizeof(data)), POKY_OK);
	assert_ptr_equal(b.data, before);
	assert_buf_is(&b, data, sizeof(data));
	buf_free(&b);
}

static void
test_buf_with_max_size_max_reserve_makes_room(void **state)
{
	struct buf b;
	enum poky_err rc;
	size_t cap;

	(void)state;
	/* A caller wanting "no limit" may pass SIZE_MAX; max + 1 must not
	 * wrap to 0 and shrink the allocation. */
	buf_init(&b, SIZE_MAX);
	rc = buf_reserve(&b, 10);
	cap = b.cap;
	buf_free(&b);           /* before asserting, so a failure leaks nothing */
	assert_int_equal(rc, POKY_OK);
	assert_true(cap >= 11);
}

/* ---- reset -------------------------------------------------------------- */

static void
test_buf_reset_empties_but_keeps_allocation(void **state)
{
	struct buf b;
	char *data;
	size_t cap;

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(buf_append_str(&b, "some text"), POKY_OK);
	data = b.data;
	cap = b.cap;
	buf_reset(&b);
	assert_ptr_equal(b.data, data);
	assert_int_equal(b.cap, cap);
	assert_int_equal(b.max, 100);
	assert_buf_is(&b, "", 0);
	buf_free(&b);
}

static void
test_buf_reset_on_unallocated_buffer_leaves_it_unallocated(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 100);
	buf_reset(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
}

static void
test_buf_reset_lets_the_buffer_fill_to_max_again(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 4);
	assert_int_equal(buf_append_str(&b, "abcd"), POKY_OK);
	buf_reset(&b);
	assert_int_equal(buf_append_str(&b, "wxyz"), POKY_OK);
	assert_buf_is(&b, "wxyz", 4);
	buf_free(&b);
}

/* ---- take --------------------------------------------------------------- */

static void
test_buf_take_hands_over_data_and_leaves_buffer_empty(void **state)
{
	struct buf b;
	char *p, *data;

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(buf_append_str(&b, "payload"), POKY_OK);
	data = b.data;
	p = buf_take(&b);
	assert_ptr_equal(p, data);
	assert_string_equal(p, "payload");
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_int_equal(b.max, 100);
	free(p);
}

static void
test_buf_take_on_empty_buffer_returns_allocated_empty_string(void **state)
{
	struct buf b;
	char *p;

	(void)state;
	buf_init(&b, 100);
	p = buf_take(&b);
	assert_non_null(p);
	assert_string_equal(p, "");
	assert_null(b.data);
	free(p);
}

static void
test_buf_take_after_reset_returns_empty_string(void **state)
{
	struct buf b;
	char *p;

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(buf_append_str(&b, "gone"), POKY_OK);
	buf_reset(&b);
	p = buf_take(&b);
	assert_non_null(p);
	assert_string_equal(p, "");
	free(p);
}

static void
test_buf_is_reusable_after_take(void **state)
{
	struct buf b;
	char *p;

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(buf_append_str(&b, "first"), POKY_OK);
	p = buf_take(&b);
	assert_int_equal(buf_append_str(&b, "second"), POKY_OK);
	assert_buf_is(&b, "second", 6);
	assert_string_equal(p, "first");
	free(p);
	buf_free(&b);
}

/* ---- free --------------------------------------------------------------- */

static void
test_buf_free_null_is_noop(void **state)
{
	(void)state;
	buf_free(NULL);
}

static void
test_buf_free_releases_data_and_keeps_max(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 77);
	assert_int_equal(buf_append_str(&b, "abc"), POKY_OK);
	buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_int_equal(b.max, 77);
}

static void
test_buf_free_twice_is_safe(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(buf_append_str(&b, "abc"), POKY_OK);
	buf_free(&b);
	buf_free(&b);
	assert_null(b.data);
}

static void
test_buf_free_of_unallocated_buffer_is_safe(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 10);
	buf_free(&b);
	assert_null(b.data);
}

static void
test_buf_is_reusable_after_free(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(buf_append_str(&b, "abc"), POKY_OK);
	buf_free(&b);
	assert_int_equal(buf_append_str(&b, "0123456789"), POKY_OK);
	assert_buf_is(&b, "0123456789", 10);
	buf_free(&b);
}

static void
test_buf_free_secure_releases_data_and_leaves_empty(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(buf_append_str(&b, "secret-key"), POKY_OK);
	buf_free_secure(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_int_equal(b.max, 100);
}

static void
test_buf_free_secure_null_and_unallocated_are_noops(void **state)
{
	struct buf b;

	(void)state;
	buf_free_secure(NULL);
	buf_init(&b, 10);
	buf_free_secure(&b);
	assert_null(b.data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_init_allocates_nothing),
		cmocka_unit_test(test_buf_append_copies_bytes_and_nul_terminates),
		cmocka_unit_test(test_buf_append_only_copies_n_bytes),
		cmocka_unit_test(test_buf_append_keeps_embedded_nul_bytes_in_len),
		cmocka_unit_test(test_buf_appends_concatenate_in_order),
		cmocka_unit_test(test_buf_append_zero_bytes_to_empty_buffer_gives_empty_string),
		cmocka_unit_test(test_buf_append_null_pointer_with_zero_length_is_ok),
		cmocka_unit_test(test_buf_append_str_appends_whole_c_string),
		cmocka_unit_test(test_buf_append_byte_appends_one_byte_including_nul),
		cmocka_unit_test(test_buf_many_appends_grow_and_stay_terminated),
		cmocka_unit_test(test_buf_append_exactly_max_bytes_fits),
		cmocka_unit_test(test_buf_append_past_max_is_limit_error_and_keeps_contents),
		cmocka_unit_test(test_buf_append_max_plus_one_into_empty_is_limit_error),
		cmocka_unit_test(test_buf_append_byte_at_max_is_limit_error_and_keeps_contents),
		cmocka_unit_test(test_buf_append_str_past_max_is_limit_error_and_keeps_contents),
		cmocka_unit_test(test_buf_max_zero_accepts_only_empty_appends),
		cmocka_unit_test(test_buf_append_with_huge_length_is_limit_error_not_overflow),
		cmocka_unit_test(test_buf_printf_formats_and_appends),
		cmocka_unit_test(test_buf_printf_growing_past_64_bytes_keeps_whole_text),
		cmocka_unit_test(test_buf_printf_of_empty_string_on_empty_buffer_gives_empty_string),
		cmocka_unit_test(test_buf_printf_exactly_to_max_fits),
		cmocka_unit_test(test_buf_printf_past_max_is_limit_error_and_keeps_contents),
		cmocka_unit_test(test_buf_reserve_makes_room_without_changing_contents),
		cmocka_unit_test(test_buf_reserve_on_empty_buffer_allocates_room_and_nul),
		cmocka_unit_test(test_buf_reserve_up_to_max_is_ok),
		cmocka_unit_test(test_buf_reserve_past_max_is_limit_error_and_keeps_contents),
		cmocka_unit_test(test_buf_reserved_room_is_used_without_reallocation),
		cmocka_unit_test(test_buf_with_max_size_max_reserve_makes_room),
		cmocka_unit_test(test_buf_reset_empties_but_keeps_allocation),
		cmocka_unit_test(test_buf_reset_on_unallocated_buffer_leaves_it_unallocated),
		cmocka_unit_test(test_buf_reset_lets_the_buffer_fill_to_max_again),
		cmocka_unit_test(test_buf_take_hands_over_data_and_leaves_buffer_empty),
		cmocka_unit_test(test_buf_take_on_empty_buffer_returns_allocated_empty_string),
		cmocka_unit_test(test_buf_take_after_reset_returns_empty_string),
		cmocka_unit_test(test_buf_is_reusable_after_take),
		cmocka_unit_test(test_buf_free_null_is_noop),
		cmocka_unit_test(test_buf_free_releases_data_and_keeps_max),
		cmocka_unit_test(test_buf_free_twice_is_safe),
		cmocka_unit_test(test_buf_free_of_unallocated_buffer_is_safe),
		cmocka_unit_test(test_buf_is_reusable_after_free),
		cmocka_unit_test(test_buf_free_secure_releases_data_and_leaves_empty),
		cmocka_unit_test(test_buf_free_secure_null_and_unallocated_are_noops),
	};

	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
