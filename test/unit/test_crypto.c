/* test_crypto.c - unit tests for src/common/crypto.c, against published
 * vectors (FIPS 180-2 appendix B, RFC 1321 appendix A.5, RFC 4231). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "poky/crypto.h"
#include "poky/str.h"

static void
hex_of(const unsigned char *p, size_t n, char *out)
{
	str_hex(out, p, n);
}

static void
test_sha256_of_empty_and_abc(void **state)
{
	char out[65];
	unsigned char raw[CRYPTO_SHA256_LEN];

	(void)state;
	assert_int_equal(crypto_sha256_hex("", 0, out), POKY_OK);
	assert_string_equal(out,
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_int_equal(crypto_sha256_hex(NULL, 0, out), POKY_OK);
	assert_string_equal(out,
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_int_equal(crypto_sha256("abc", 3, raw), POKY_OK);
	hex_of(raw, sizeof(raw), out);
	assert_string_equal(out,
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void
test_sha1_of_abc(void **state)
{
	char out[41];

	(void)state;
	assert_int_equal(crypto_sha1_hex("abc", 3, out), POKY_OK);
	assert_string_equal(out, "a9993e364706816aba3e25717850c26c9cd0d89d");
}

/* RFC 4231 test cases 1 and 2, and an empty key (NULL allowed). */
static void
test_hmac_sha256_matches_rfc4231(void **state)
{
	static const char msg[] = "what do ya want for nothing?";
	unsigned char key[20];
	char out[65];

	(void)state;
	memset(key, 0x0b, sizeof(key));
	assert_int_equal(crypto_hmac_sha256_hex(key, sizeof(key), "Hi There", 8,
	    out), POKY_OK);
	assert_string_equal(out,
	    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	assert_int_equal(crypto_hmac_sha256_hex("Jefe", 4, msg, strlen(msg), out),
	    POKY_OK);
	assert_string_equal(out,
	    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	assert_int_equal(crypto_hmac_sha256_hex(NULL, 0, "", 0, out), POKY_OK);
	assert_string_equal(out,
	    "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

static void
test_md5_one_shot_and_streamed_agree(void **state)
{
	static const char text[] = "12345678901234567890123456789012345678901234567890"
	    "123456789012345678901234567890";
	unsigned char a[CRYPTO_MD5_LEN], b[CRYPTO_MD5_LEN];
	struct crypto_md5 *c;
	char out[33];

	(void)state;
	assert_int_equal(crypto_md5("", 0, a), POKY_OK);
	hex_of(a, sizeof(a), out);
	assert_string_equal(out, "d41d8cd98f00b204e9800998ecf8427e");
	assert_int_equal(crypto_md5(text, strlen(text), a), POKY_OK);
	hex_of(a, sizeof(a), out);
	assert_string_equal(out, "57edf4a22be3c955ac49da2e2107b67a");
	/* In uneven pieces, with an empty one, as the worker feeds it. */
	c = crypto_md5_new();
	assert_non_null(c);
	assert_int_equal(crypto_md5_update(c, text, 7), POKY_OK);
	assert_int_equal(crypto_md5_update(c, NULL, 0), POKY_OK);
	assert_int_equal(crypto_md5_update(c, text + 7, strlen(text) - 7), POKY_OK);
	assert_int_equal(crypto_md5_final(c, b), POKY_OK);
	crypto_md5_free(c);
	crypto_md5_free(NULL);
	assert_memory_equal(a, b, sizeof(a));
}

static void
test_random_fills_and_differs(void **state)
{
	unsigned char a[32], b[32], zero[32] = { 0 };

	(void)state;
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	assert_int_equal(crypto_random(a, sizeof(a)), POKY_OK);
	assert_int_equal(crypto_random(b, sizeof(b)), POKY_OK);
	assert_memory_not_equal(a, zero, sizeof(a));
	assert_memory_not_equal(a, b, sizeof(a));
	assert_int_equal(crypto_random(NULL, 0), POKY_OK);
}

static void
test_wipe_zeroes(void **state)
{
	char secret[] = "wJalrXUtnFEMI/K7MDENG";
	char zero[sizeof(secret)] = { 0 };

	(void)state;
	crypto_wipe(secret, sizeof(secret));
	assert_memory_equal(secret, zero, sizeof(secret));
	crypto_wipe(NULL, 0);
}

static void
test_equal_compares_bytes(void **state)
{
	(void)state;
	assert_true(crypto_equal("abcd", "abcd", 4));
	assert_false(crypto_equal("abcd", "abce", 4));
	assert_true(crypto_equal("abcd", "abce", 3));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_of_empty_and_abc),
		cmocka_unit_test(test_sha1_of_abc),
		cmocka_unit_test(test_hmac_sha256_matches_rfc4231),
		cmocka_unit_test(test_md5_one_shot_and_streamed_agree),
		cmocka_unit_test(test_random_fills_and_differs),
		cmocka_unit_test(test_equal_compares_bytes),
		cmocka_unit_test(test_wipe_zeroes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
