/* test_webhook.c - unit tests for src/daemon/webhook.c: the Poky-Signature
 * header, the address rules against SSRF, the retry schedule. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/evp.h>

#include "poky/crypto.h"
#include "poky/config.h"
#include "poky/webhook.h"

#define BODY "{\"id\":\"0190a5c4-7f3e-7000-8000-000000000001\",\"status\":\"succeeded\"}"

/* HMAC-SHA256 the way a receiver computes it, with OpenSSL's one-shot
 * call: independent of the module's cached contexts. */
static void
reference_hmac(const char *key, const char *msg, size_t n, char out[65])
{
	unsigned char mac[32];
	size_t len = 0;

	assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key,
	    strlen(key), (const unsigned char *)msg, n, mac, sizeof(mac), &len));
	assert_int_equal(len, 32);
	for (size_t i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

static void
test_signature_is_t_and_v1_over_timestamp_dot_body(void **state)
{
	char sig[WEBHOOK_SIGNATURE_MAX], msg[256], want_hex[65], want[128];

	(void)state;
	assert_int_equal(webhook_signature("whsec-test", 1700000000, BODY,
	    strlen(BODY), sig), POKY_OK);
	snprintf(msg, sizeof(msg), "1700000000.%s", BODY);
	reference_hmac("whsec-test", msg, strlen(msg), want_hex);
	snprintf(want, sizeof(want), "t=1700000000,v1=%s", want_hex);
	assert_string_equal(sig, want);
}

static void
test_signature_hex_is_64_lowercase_digits(void **state)
{
	char sig[WEBHOOK_SIGNATURE_MAX];
	const char *v1;

	(void)state;
	assert_int_equal(webhook_signature("k", 1, "{}", 2, sig), POKY_OK);
	v1 = strstr(sig, ",v1=");
	assert_non_null(v1);
	v1 += 4;
	assert_int_equal(strlen(v1), 64);
	assert_int_equal(strspn(v1, "0123456789abcdef"), 64);
}

static void
test_signature_covers_the_timestamp(void **state)
{
	char a[WEBHOOK_SIGNATURE_MAX], b[WEBHOOK_SIGNATURE_MAX];

	(void)state;
	assert_int_equal(webhook_signature("k", 1700000000, BODY, strlen(BODY), a),
	    POKY_OK);
	assert_int_equal(webhook_signature("k", 1700000001, BODY, strlen(BODY), b),
	    POKY_OK);
	assert_string_not_equal(strstr(a, "v1="), strstr(b, "v1="));
}

static void
test_signature_covers_every_body_byte(void **state)
{
	static const char body[] = "{\"a\":\"x\0y\"}";
	char sig[WEBHOOK_SIGNATURE_MAX], msg[64], want_hex[65];
	size_t n = sizeof(body) - 1;

	(void)state;
	/* A NUL in the body is signed too: the length counts, not strlen. */
	assert_int_equal(webhook_signature("k", 42, body, n, sig), POKY_OK);
	memcpy(msg, "42.", 3);
	memcpy(msg + 3, body, n);
	reference_hmac("k", msg, n + 3, want_hex);
	assert_string_equal(strstr(sig, "v1=") + 3, want_hex);
}

static void
test_signature_without_secret_is_timestamp_only(void **state)
{
	char sig[WEBHOOK_SIGNATURE_MAX];

	(void)state;
	assert_int_equal(webhook_signature("", 1700000000, BODY, strlen(BODY), sig),
	    POKY_OK);
	assert_string_equal(sig, "t=1700000000");
	assert_int_equal(webhook_signature(NULL, 5, BODY, strlen(BODY), sig),
	    POKY_OK);
	assert_string_equal(sig, "t=5");
}

/* RFC 4231 test case 2. */
static void
test_hmac_helper_matches_rfc4231(void **state)
{
	static const char msg[] = "what do ya want for nothing?";
	char out[65];

	(void)state;
	assert_int_equal(crypto_hmac_sha256_hex("Jefe", 4, msg, strlen(msg), out),
	    POKY_OK);
	assert_string_equal(out,
	    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

/* ---- addresses ------------------------------------------------------------ */

static bool
refused(const char *text)
{
	unsigned char a[16];

	if (inet_pton(AF_INET, text, a) == 1)
		return webhook_addr_refused(AF_INET, a);
	if (inet_pton(AF_INET6, text, a) == 1)
		return webhook_addr_refused(AF_INET6, a);
	fail_msg("not an address: %s", text);
	return false;
}

static void
check_all(const char *const *list, bool want)
{
	for (size_t i = 0; list[i] != NULL; i++)
		if (refused(list[i]) != want)
			fail_msg("%s: want %s", list[i], want ? "refused" : "allowed");
}

static void
test_addr_refuses_loopback_and_unspecified(void **state)
{
	static const char *const l[] = { "127.0.0.1", "127.255.255.254", "0.0.0.0",
		"0.1.2.3", "::1", "::", NULL };

	(void)state;
	check_all(l, true);
}

static void
test_addr_refuses_the_metadata_endpoint_and_link_local(void **state)
{
	static const char *const l[] = { "169.254.169.254", "169.254.0.1",
		"fe80::1", "febf:ffff::1", "fd00:ec2::254", NULL };

	(void)state;
	check_all(l, true);
}

static void
test_addr_refuses_private_and_shared(void **state)
{
	static const char *const l[] = { "10.0.0.1", "10.255.255.255",
		"172.16.0.1", "172.31.255.255", "192.168.1.1", "100.64.0.1",
		"100.127.255.255", NULL };

	(void)state;
	check_all(l, true);
}

static void
test_addr_refuses_unique_and_site_local(void **state)
{
	static const char *const l[] = { "fc00::1", "fdff:ffff::1", "fec0::1", NULL };

	(void)state;
	check_all(l, true);
}

static void
test_addr_refuses_multicast_reserved_and_broadcast(void **state)
{
	static const char *const l[] = { "224.0.0.1", "239.255.255.250",
		"240.0.0.1", "255.255.255.255", "192.0.0.8", "198.18.0.1",
		"ff02::1", NULL };

	(void)state;
	check_all(l, true);
}

static void
test_addr_refuses_ipv6_forms_of_refused_ipv4(void **state)
{
	static const char *const l[] = { "::ffff:127.0.0.1", "::ffff:169.254.169.254",
		"::ffff:10.1.2.3", "::127.0.0.1", "64:ff9b::a9fe:a9fe",
		"2002:a9fe:a9fe::1", "2002:7f00:1::", "64:ff9b:1::1", NULL };

	(void)state;
	check_all(l, true);
}

static void
test_addr_allows_public_addresses(void **state)
{
	static const char *const l[] = { "93.184.216.34", "8.8.8.8", "1.1.1.1",
		"172.15.255.255", "172.32.0.1", "100.63.255.255", "100.128.0.1",
		"169.253.255.255", "11.0.0.1", "223.255.255.254",
		"2606:2800:220:1:248:1893:25c8:1946", "2001:4860:4860::8888",
		"::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1", NULL };

	(void)state;
	check_all(l, false);
}

static void
test_addr_refuses_unknown_families(void **state)
{
	unsigned char a[16] = { 8, 8, 8, 8 };

	(void)state;
	assert_true(webhook_addr_refused(AF_UNIX, a));
}

/* ---- retry schedule ------------------------------------------------------- */

static void
test_backoff_doubles_from_one_second(void **state)
{
	(void)state;
	assert_true(webhook_backoff(1, 0) == 1.0);
	assert_true(webhook_backoff(2, 0) == 2.0);
	assert_true(webhook_backoff(3, 0) == 4.0);
	assert_true(webhook_backoff(9, 0) == 256.0);
}

static void
test_backoff_is_capped_at_five_minutes(void **state)
{
	(void)state;
	assert_true(webhook_backoff(10, 0) == WEBHOOK_BACKOFF_MAX);
	assert_true(webhook_backoff(1000, 0) == WEBHOOK_BACKOFF_MAX);
}

static void
test_backoff_jitter_takes_off_at_most_a_fifth(void **state)
{
	(void)state;
	for (int n = 1; n < 12; n++) {
		double base = webhook_backoff(n, 0), low = webhook_backoff(n, 0.999999);

		assert_true(low <= base && low > base * 0.8 - 1e-9);
	}
}

static const char *
url_refused(const char *allow0, const char *allow1, const char *url)
{
	static char why[256];
	struct config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.tracker.webhook_allow[0] = (char *)allow0;
	cfg.tracker.webhook_allow[1] = (char *)allow1;
	cfg.tracker.n_webhook_allow = allow1 ? 2 : 1;
	return webhook_url_refused(&cfg, url, why, sizeof(why));
}

static void
test_url_needs_an_allowed_prefix_and_a_plain_authority(void **state)
{
	(void)state;
	assert_null(url_refused("https://", NULL, "https://hooks.example.com/p"));
	assert_non_null(url_refused("https://", NULL, "http://hooks.example.com/p"));
	assert_non_null(url_refused("https://", NULL, "https://user@hooks.example.com/"));
	assert_non_null(url_refused("https://", NULL, "https://hooks.example.com./"));
	assert_non_null(url_refused("https://", NULL, "https://a b/"));
	assert_non_null(url_refused("https://", NULL, "ftp://x/"));
}

static void
test_url_literal_private_and_localhost_refused_unless_named(void **state)
{
	(void)state;
	assert_non_null(url_refused("http://", NULL, "http://169.254.169.254/latest"));
	assert_non_null(url_refused("http://", NULL, "http://[::ffff:127.0.0.1]:80/"));
	assert_non_null(url_refused("http://", NULL, "http://localhost:8080/"));
	assert_non_null(url_refused("http://", NULL, "http://app.localhost/"));
	assert_non_null(url_refused("http://", NULL, "http://2130706433/"));
	assert_null(url_refused("http://", "http://10.0.0.5:8080/",
	    "http://10.0.0.5:8080/hook"));
	/* A prefix that stops inside the host names nothing. */
	assert_non_null(url_refused("http://10.", NULL, "http://10.0.0.5/"));
	assert_null(url_refused("http://", NULL, "http://93.184.216.34/hook"));
}

static const char *
norm(const char *url)
{
	static char out[256];

	return webhook_url_normalize(url, out, sizeof(out)) == NULL ? out : NULL;
}

static void
test_url_dot_segments_are_resolved_before_the_prefix(void **state)
{
	(void)state;
	assert_string_equal(norm("http://h/hooks/../admin/x"), "http://h/admin/x");
	assert_string_equal(norm("http://h/hooks/%2e%2e/admin"), "http://h/admin");
	assert_string_equal(norm("http://h/hooks/%2E./a/./b/"), "http://h/a/b/");
	assert_string_equal(norm("http://h/a/b/.."), "http://h/a/");
	assert_string_equal(norm("http://h/../../x?q=/../y"), "http://h/x?q=/../y");
	assert_string_equal(norm("http://h"), "http://h");
	assert_string_equal(norm("http://h/a%20b/%41"), "http://h/a%20b/%41");
	assert_null(norm("http://h/hooks/..%2fadmin"));
	assert_null(norm("http://h/hooks\\..\\admin"));
	assert_null(norm("http://h/hooks/%5c"));
	/* the prefix is held against what is sent */
	assert_non_null(url_refused("http://127.0.0.1:9/hooks/", NULL,
	    "http://127.0.0.1:9/hooks/../admin/x"));
	assert_non_null(url_refused("http://127.0.0.1:9/hooks/", NULL,
	    "http://127.0.0.1:9/hooks/%2e%2e/admin/x"));
	assert_null(url_refused("http://127.0.0.1:9/hooks/", NULL,
	    "http://127.0.0.1:9/hooks/a/../b"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signature_is_t_and_v1_over_timestamp_dot_body),
		cmocka_unit_test(test_signature_hex_is_64_lowercase_digits),
		cmocka_unit_test(test_signature_covers_the_timestamp),
		cmocka_unit_test(test_signature_covers_every_body_byte),
		cmocka_unit_test(test_signature_without_secret_is_timestamp_only),
		cmocka_unit_test(test_hmac_helper_matches_rfc4231),
		cmocka_unit_test(test_addr_refuses_loopback_and_unspecified),
		cmocka_unit_test(test_addr_refuses_the_metadata_endpoint_and_link_local),
		cmocka_unit_test(test_addr_refuses_private_and_shared),
		cmocka_unit_test(test_addr_refuses_unique_and_site_local),
		cmocka_unit_test(test_addr_refuses_multicast_reserved_and_broadcast),
		cmocka_unit_test(test_addr_refuses_ipv6_forms_of_refused_ipv4),
		cmocka_unit_test(test_addr_allows_public_addresses),
		cmocka_unit_test(test_addr_refuses_unknown_families),
		cmocka_unit_test(test_backoff_doubles_from_one_second),
		cmocka_unit_test(test_backoff_is_capped_at_five_minutes),
		cmocka_unit_test(test_backoff_jitter_takes_off_at_most_a_fifth),
		cmocka_unit_test(test_url_needs_an_allowed_prefix_and_a_plain_authority),
		cmocka_unit_test(test_url_literal_private_and_localhost_refused_unless_named),
		cmocka_unit_test(test_url_dot_segments_are_resolved_before_the_prefix),
	};

	return cmocka_run_group_tests_name("webhook", tests, NULL, NULL);
}
