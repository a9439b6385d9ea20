/* test_sigv4.c - one test per SigV4 rule, each named by the rule. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "poky/sigv4.h"
#include "poky/str.h"

#define T0 1440938160   /* 2015-08-30T12:36:00Z, the AWS suite's time */

static const struct sigv4_creds creds = { "AKIDEXAMPLE",
	"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL };

struct fixture {
	struct sigv4_result res;
	struct poky_error err;
	struct hdr h[16];
	size_t nh;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	sigv4_result_init(&f->res);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	sigv4_result_cleanup(&f->res);
	free(f);
	return 0;
}

static void
add_hdr(struct fixture *f, const char *name, const char *value)
{
	f->h[f->nh++] = (struct hdr){ name, strlen(name), value, strlen(value) };
}

static enum poky_err
sign_full(struct fixture *f, const char *method, const char *target,
	  const char *body, unsigned flags, unsigned expires,
	  const struct sigv4_creds *c)
{
	struct sigv4_request req = {
		.method = method, .target = target, .target_len = strlen(target),
		.headers = f->h, .n_headers = f->nh,
		.body = body, .body_len = body ? strlen(body) : 0,
	};
	struct sigv4_params pa = { "us-east-1", "service", T0, expires, flags };

	if (f->nh == 0)
		add_hdr(f, "Host", "example.amazonaws.com"), req.n_headers = 1;
	return sigv4_sign(&req, &pa, c, &f->res, &f->err);
}

static enum poky_err
sign(struct fixture *f, const char *target, unsigned flags)
{
	return sign_full(f, "GET", target, NULL, flags, 3600, &creds);
}

/* Line n (0-based) of the canonical request, into a static buffer. */
static const char *
cr_line(struct fixture *f, int n)
{
	static char line[4096];
	const char *p = f->res.canonical_request.data;

	for (; n > 0; n--) {
		p = strchr(p, '\n');
		assert_non_null(p);
		p++;
	}
	size_t l = strcspn(p, "\n");
	assert_true(l < sizeof(line));
	memcpy(line, p, l);
	line[l] = '\0';
	return line;
}

static const char *
added(struct fixture *f, const char *name)
{
	static char v[4096];

	for (size_t i = 0; i < f->res.n_added; i++) {
		if (str_ieq(f->res.added[i].name, f->res.added[i].name_len, name)) {
			memcpy(v, f->res.added[i].value, f->res.added[i].value_len);
			v[f->res.added[i].value_len] = '\0';
			return v;
		}
	}
	return NULL;
}

/* ---- canonical URI ---- */

static void
test_non_s3_path_is_normalised_then_encoded_again(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(sign(f, "/a/./b/../c%20d//e", 0), POKY_OK);
	assert_string_equal(cr_line(f, 1), "/a/c%2520d/e");
}

static void
test_non_s3_no_normalize_keeps_dots_and_double_slashes(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(sign(f, "/a/./b/..//c", SIGV4_NO_NORMALIZE), POKY_OK);
	assert_string_equal(cr_line(f, 1), "/a/./b/..//c");
}

static void
test_non_s3_path_of_only_dots_normalises_to_slash(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(sign(f, "/a/b/../..", 0), POKY_OK);
	assert_string_equal(cr_line(f, 1), "/");
}

static void
test_non_s3_trailing_slash_kept_after_normalising(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(sign(f, "//a/b/../", 0), POKY_OK);
	assert_string_equal(cr_line(f, 1), "/a/");
}

static void
test_s3_path_is_kept_as_sent_with_dot_segments(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(sign(f, "/bucket/a/../b//c%20d", SIGV4_S3), POKY_OK);
	assert_string_equal(cr_line(f, 1), "/bucket/a/../b//c%20d");
}

static void
test_s3_path_raw_reserved_bytes_escaped_once(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(sign(f, "/b/a+b=c \xe1\x88\xb4%2f", SIGV4_S3), POKY_OK);
	assert_string_equal(cr_line(f, 1), "/b/a%2Bb%3Dc%20%E1%88%B4%2F");
}

static void
test_empty_path_signs_as_slash(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(sign(f, "/?a=b", 0), POKY_OK);
	assert_string_equal(cr_line(f, 1), "/");
}

/* ---- canonical query ---- */

static void
test_query_valueless_parameter_gets_equals_sign(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(sign(f, "/b/k?uploads", SIGV4_S3), POKY_OK);
	assert_string_equal(cr_line(f, 2), "uploads=");
}

static void
test_query_empty_value_kept(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(sign(f, "/?b=&a", 0), POKY_OK);
	assert_string_equal(cr_line(f, 2), "a=&b=");
}

static void
test_query_sorted_by_encoded_name_then_value(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(sign(f, "/?b=2&a=2&a=1&A=3&a-b=0", 0), POKY_OK);
	assert_string_equal(cr_line(f, 2), "A=3&a=1&a=2&a-b=0&b=2");
}

static void
test_query_decoded_then_reencoded_uppercase(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(sign(f, "/?k=a%2fb+c%41&%7E=~", 0), POKY_OK);
	assert_string_equal(cr_line(f, 2), "k=a%2Fb%2BcA&~=~");
}

static void
test_query_empty_pieces_skipped(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(sign(f, "/?a=1&&b=2&", 0), POKY_OK);
	assert_string_equal(cr_line(f, 2), "a=1&b=2");
}

static void
test_query_value_split_at_first_equals_only(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(sign(f, "/?a=b=c", 0), POKY_OK);
	assert_string_equal(cr_line(f, 2), "a=b%3Dc");
}

/* ---- canonical headers ---- */

static void
test_header_values_trimmed_and_inner_spaces_collapsed(void **state)
{
	struct fixture *f = *state;

	add_hdr(f, "Host", "example.amazonaws.com");
	add_hdr(f, "My-Header", "  a   b \t c  ");
	assert_int_equal(sign(f, "/", 0), POKY_OK);
	assert_string_equal(cr_line(f, 4), "my-header:a b c");
}

static void
test_repeated_headers_joined_with_comma_in_sent_order(void **state)
{
	struct fixture *f = *state;

	add_hdr(f, "X-B", "2");
	add_hdr(f, "Host", "example.amazonaws.com");
	add_hdr(f, "x-b", "1");
	add_hdr(f, "X-B", " 3 ");
	assert_int_equal(sign(f, "/", 0), POKY_OK);
	assert_string_equal(cr_line(f, 5), "x-b:2,1,3");
	assert_string_equal(cr_line(f, 7), "host;x-amz-date;x-b");
}

static void
test_folded_header_lines_joined_with_one_space(void **state)
{
	struct fixture *f = *state;

	add_hdr(f, "Host", "example.amazonaws.com");
	add_hdr(f, "X-Fold", "one\n  two\r\n\tthree");
	assert_int_equal(sign(f, "/", 0), POKY_OK);
	assert_string_equal(cr_line(f, 5), "x-fold:one two three");
}

static void
test_header_names_lowercased_and_sorted(void **state)
{
	struct fixture *f = *state;

	add_hdr(f, "ZZ", "z");
	add_hdr(f, "Host", "example.amazonaws.com");
	add_hdr(f, "Content-Type", "text/plain");
	assert_int_equal(sign(f, "/", 0), POKY_OK);
	assert_string_equal(cr_line(f, 8), "content-type;host;x-amz-date;zz");
}

static void
test_volatile_headers_never_signed(void **state)
{
	struct fixture *f = *state;

	add_hdr(f, "Host", "example.amazonaws.com");
	add_hdr(f, "User-Agent", "curl/8");
	add_hdr(f, "Expect", "100-continue");
	add_hdr(f, "X-Amzn-Trace-Id", "Root=1-2");
	add_hdr(f, "Transfer-Encoding", "chunked");
	add_hdr(f, "Connection", "keep-alive");
	assert_int_equal(sign(f, "/", 0), POKY_OK);
	assert_null(strstr(f->res.canonical_request.data, "user-agent"));
	assert_null(strstr(f->res.authorization.data, "expect"));
	assert_non_null(strstr(f->res.authorization.data,
	    "SignedHeaders=host;x-amz-date,"));
}

static void
test_existing_auth_headers_replaced_not_signed_twice(void **state)
{
	struct fixture *f = *state;

	add_hdr(f, "Host", "example.amazonaws.com");
	add_hdr(f, "X-Amz-Date", "19990101T000000Z");
	add_hdr(f, "Authorization", "stale");
	assert_int_equal(sign(f, "/", 0), POKY_OK);
	assert_string_equal(cr_line(f, 4), "x-amz-date:20150830T123600Z");
	assert_string_equal(cr_line(f, 6), "host;x-amz-date");
}

static void
test_host_with_port_signed_exactly_as_sent(void **state)
{
	struct fixture *f = *state;

	add_hdr(f, "Host", "127.0.0.1:7480");
	assert_int_equal(sign(f, "/", 0), POKY_OK);
	assert_string_equal(cr_line(f, 3), "host:127.0.0.1:7480");
}

static void
test_missing_host_is_invalid(void **state)
{
	struct fixture *f = *state;

	add_hdr(f, "X-Other", "1");
	assert_int_equal(sign(f, "/", 0), POKY_ERR_INVALID);
	assert_non_null(strstr(f->err.message, "Host"));
}

/* ---- payload and S3 ---- */

static void
test_payload_is_sha256_of_body(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(sign_full(f, "POST", "/", "Param1=value1", 0, 0, &creds),
	    POKY_OK);
	assert_string_equal(f->res.payload_hash,
	    "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
	assert_null(added(f, "x-amz-content-sha256"));
}

static void
test_sign_body_adds_signed_content_sha256(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(sign_full(f, "POST", "/", "Param1=value1",
	    SIGV4_SIGN_BODY, 0, &creds), POKY_OK);
	assert_string_equal(added(f, "x-amz-content-sha256"), f->res.payload_hash);
	assert_non_null(strstr(f->res.authorization.data,
	    "SignedHeaders=host;x-amz-content-sha256;x-amz-date,"));
}

static void
test_s3_always_signs_content_sha256(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(sign(f, "/b/k", SIGV4_S3), POKY_OK);
	assert_string_equal(added(f, "x-amz-content-sha256"),
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_string_equal(cr_line(f, 4), "x-amz-content-sha256:"
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void
test_s3_unsigned_payload_in_header_and_last_line(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(sign_full(f, "PUT", "/b/k", "data",
	    SIGV4_S3 | SIGV4_UNSIGNED_PAYLOAD, 0, &creds), POKY_OK);
	assert_string_equal(added(f, "x-amz-content-sha256"), "UNSIGNED-PAYLOAD");
	assert_string_equal(cr_line(f, 8), "UNSIGNED-PAYLOAD");
}

static void
test_s3_presign_uses_unsigned_payload_and_adds_no_header(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(sign_full(f, "GET", "/b/k", NULL,
	    SIGV4_S3 | SIGV4_PRESIGN, 900, &creds), POKY_OK);
	assert_int_equal(f->res.n_added, 0);
	assert_string_equal(cr_line(f, 6), "UNSIGNED-PAYLOAD");
	assert_non_null(strstr(f->res.query.data, "X-Amz-Expires=900&"));
}

static void
test_precomputed_payload_hash_used_instead_of_body(void **state)
{
	struct fixture *f = *state;
	struct sigv4_request req = { .method = "PUT", .target = "/b/k",
		.target_len = 4, .payload_hash = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" };
	struct sigv4_params pa = { "us-east-1", "s3", T0, 0, SIGV4_S3 };

	add_hdr(f, "Host", "h");
	req.headers = f->h;
	req.n_headers = f->nh;
	assert_int_equal(sigv4_sign(&req, &pa, &creds, &f->res, &f->err), POKY_OK);
	assert_string_equal(added(f, "x-amz-content-sha256"),
	    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
}

/* ---- session tokens ---- */

static void
test_session_token_added_and_signed(void **state)
{
	struct fixture *f = *state;
	struct sigv4_creds c = creds;

	c.session_token = "TOKEN/+=";
	assert_int_equal(sign_full(f, "GET", "/", NULL, 0, 0, &c), POKY_OK);
	assert_string_equal(added(f, "X-Amz-Security-Token"), "TOKEN/+=");
	assert_string_equal(cr_line(f, 5), "x-amz-security-token:TOKEN/+=");
}

static void
test_omitted_session_token_sent_but_not_signed(void **state)
{
	struct fixture *f = *state;
	struct sigv4_creds c = creds;

	c.session_token = "TOKEN";
	assert_int_equal(sign_full(f, "GET", "/", NULL, SIGV4_OMIT_TOKEN, 0, &c),
	    POKY_OK);
	assert_string_equal(added(f, "X-Amz-Security-Token"), "TOKEN");
	assert_null(strstr(f->res.canonical_request.data, "TOKEN"));
}

static void
test_presign_session_token_in_query_encoded(void **state)
{
	struct fixture *f = *state;
	struct sigv4_creds c = creds;

	c.session_token = "a/b+c=";
	assert_int_equal(sign_full(f, "GET", "/", NULL, SIGV4_PRESIGN, 60, &c),
	    POKY_OK);
	assert_non_null(strstr(f->res.query.data,
	    "&X-Amz-Security-Token=a%2Fb%2Bc%3D&X-Amz-Signature="));
	assert_non_null(strstr(cr_line(f, 2), "X-Amz-Security-Token=a%2Fb%2Bc%3D"));
}

/* ---- presign ---- */

static void
test_presign_expiry_must_be_within_one_week(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(sign_full(f, "GET", "/", NULL, SIGV4_PRESIGN, 0, &creds),
	    POKY_ERR_INVALID);
	assert_int_equal(sign_full(f, "GET", "/", NULL, SIGV4_PRESIGN, 604801,
	    &creds), POKY_ERR_INVALID);
	assert_int_equal(sign_full(f, "GET", "/", NULL, SIGV4_PRESIGN, 604800,
	    &creds), POKY_OK);
}

static void
test_presign_query_in_aws_order_ending_with_signature(void **state)
{
	struct fixture *f = *state;
	char want[512];

	assert_int_equal(sign_full(f, "GET", "/", NULL, SIGV4_PRESIGN, 3600,
	    &creds), POKY_OK);
	snprintf(want, sizeof(want), "X-Amz-Algorithm=AWS4-HMAC-SHA256&"
	    "X-Amz-Credential=AKIDEXAMPLE%%2F20150830%%2Fus-east-1%%2Fservice"
	    "%%2Faws4_request&X-Amz-Date=20150830T123600Z&"
	    "X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=%s",
	    f->res.signature);
	assert_string_equal(f->res.query.data, want);
}

/* ---- input checks ---- */

static void
test_target_must_be_origin_form(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(sign(f, "http://h/x", 0), POKY_ERR_INVALID);
	assert_int_equal(sign(f, "*", 0), POKY_ERR_INVALID);
}

static void
test_overlong_target_is_limit_error(void **state)
{
	struct fixture *f = *state;
	char *t = malloc(SIGV4_MAX_TARGET + 2);

	memset(t, 'a', SIGV4_MAX_TARGET + 1);
	t[0] = '/';
	t[SIGV4_MAX_TARGET + 1] = '\0';
	assert_int_equal(sign(f, t, 0), POKY_ERR_LIMIT);
	free(t);
}

static void
test_missing_or_malformed_credentials_are_invalid(void **state)
{
	struct fixture *f = *state;
	struct sigv4_creds c = creds;

	c.secret_access_key = "";
	assert_int_equal(sign_full(f, "GET", "/", NULL, 0, 0, &c), POKY_ERR_INVALID);
	c = creds;
	c.access_key_id = "AK/ID";
	assert_int_equal(sign_full(f, "GET", "/", NULL, 0, 0, &c), POKY_ERR_INVALID);
	c = creds;
	c.session_token = "has space";
	assert_int_equal(sign_full(f, "GET", "/", NULL, 0, 0, &c), POKY_ERR_INVALID);
	assert_int_equal(sign_full(f, "GET", "/", NULL, 0, 0, NULL), POKY_ERR_INVALID);
}

static void
test_error_messages_never_quote_the_secret(void **state)
{
	struct fixture *f = *state;
	struct sigv4_creds c = { "AK", "SECRETVALUE", "bad token" };

	assert_int_not_equal(sign_full(f, "GET", "/", NULL, 0, 0, &c), POKY_OK);
	assert_null(strstr(f->err.message, "SECRETVALUE"));
	assert_null(strstr(f->err.message, "bad token"));
}

static void
test_region_with_slash_is_invalid(void **state)
{
	struct fixture *f = *state;
	struct sigv4_request req = { .method = "GET", .target = "/", .target_len = 1 };
	struct sigv4_params pa = { "us/east", "service", T0, 0, 0 };

	add_hdr(f, "Host", "h");
	req.headers = f->h;
	req.n_headers = 1;
	assert_int_equal(sigv4_sign(&req, &pa, &creds, &f->res, &f->err),
	    POKY_ERR_INVALID);
}

/* ---- signature, independently recomputed ---- */

static void
hmac256(const void *k, size_t kl, const char *m, unsigned char out[32])
{
	size_t ol = 0;

	assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, k, kl,
	    (const unsigned char *)m, strlen(m), out, 32, &ol));
	assert_int_equal(ol, 32);
}

/* The signature from the one-shot OpenSSL API, no caching. */
static void
reference_signature(const char *secret, const char *sts, const char *region,
		    const char *service, char out[65])
{
	unsigned char k[32];
	char k0[256];

	snprintf(k0, sizeof(k0), "AWS4%s", secret);
	hmac256(k0, strlen(k0), "20150830", k);
	hmac256(k, 32, region, k);
	hmac256(k, 32, service, k);
	hmac256(k, 32, "aws4_request", k);
	hmac256(k, 32, sts, k);
	str_hex(out, k, 32);
}

static void
test_cached_key_keeps_secrets_apart(void **state)
{
	struct fixture *f = *state;
	struct sigv4_creds a = { "AK", "secret-A", NULL }, b = { "AK", "secret-B", NULL };
	char ref[65];

	for (int round = 0; round < 3; round++) {
		const struct sigv4_creds *c = round == 1 ? &b : &a;

		assert_int_equal(sign_full(f, "GET", "/", NULL, 0, 0, c), POKY_OK);
		reference_signature(c->secret_access_key, f->res.string_to_sign.data,
		    "us-east-1", "service", ref);
		assert_string_equal(f->res.signature, ref);
	}
}

struct thread_arg {
	char secret[32];
	int ok;
};

static void *
sign_thread(void *p)
{
	struct thread_arg *a = p;
	struct sigv4_result res;
	struct hdr h = { "Host", 4, "h", 1 };
	struct sigv4_creds c = { "AK", a->secret, NULL };
	struct sigv4_request req = { .method = "GET", .target = "/", .target_len = 1,
		.headers = &h, .n_headers = 1 };
	struct sigv4_params pa = { "us-east-1", "service", T0, 0, 0 };
	char ref[65];

	a->ok = 1;
	sigv4_result_init(&res);
	for (int i = 0; i < 200 && a->ok; i++) {
		if (sigv4_sign(&req, &pa, &c, &res, NULL) != POKY_OK) {
			a->ok = 0;
			break;
		}
		reference_signature(a->secret, res.string_to_sign.data, "us-east-1",
		    "service", ref);
		a->ok = strcmp(ref, res.signature) == 0;
	}
	sigv4_result_cleanup(&res);
	return NULL;
}

static void
test_concurrent_signers_with_many_secrets_agree_with_reference(void **state)
{
	pthread_t th[12];
	struct thread_arg args[12];

	(void)state;
	/* More secrets than cache slots, so entries are evicted under load. */
	for (int i = 0; i < 12; i++) {
		snprintf(args[i].secret, sizeof(args[i].secret), "secret-%d", i);
		assert_int_equal(pthread_create(&th[i], NULL, sign_thread, &args[i]), 0);
	}
	for (int i = 0; i < 12; i++) {
		pthread_join(th[i], NULL);
		assert_true(args[i].ok);
	}
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_non_s3_path_is_normalised_then_encoded_again),
		T(test_non_s3_no_normalize_keeps_dots_and_double_slashes),
		T(test_non_s3_path_of_only_dots_normalises_to_slash),
		T(test_non_s3_trailing_slash_kept_after_normalising),
		T(test_s3_path_is_kept_as_sent_with_dot_segments),
		T(test_s3_path_raw_reserved_bytes_escaped_once),
		T(test_empty_path_signs_as_slash),
		T(test_query_valueless_parameter_gets_equals_sign),
		T(test_query_empty_value_kept),
		T(test_query_sorted_by_encoded_name_then_value),
		T(test_query_decoded_then_reencoded_uppercase),
		T(test_query_empty_pieces_skipped),
		T(test_query_value_split_at_first_equals_only),
		T(test_header_values_trimmed_and_inner_spaces_collapsed),
		T(test_repeated_headers_joined_with_comma_in_sent_order),
		T(test_folded_header_lines_joined_with_one_space),
		T(test_header_names_lowercased_and_sorted),
		T(test_volatile_headers_never_signed),
		T(test_existing_auth_headers_replaced_not_signed_twice),
		T(test_host_with_port_signed_exactly_as_sent),
		T(test_missing_host_is_invalid),
		T(test_payload_is_sha256_of_body),
		T(test_sign_body_adds_signed_content_sha256),
		T(test_s3_always_signs_content_sha256),
		T(test_s3_unsigned_payload_in_header_and_last_line),
		T(test_s3_presign_uses_unsigned_payload_and_adds_no_header),
		T(test_precomputed_payload_hash_used_instead_of_body),
		T(test_session_token_added_and_signed),
		T(test_omitted_session_token_sent_but_not_signed),
		T(test_presign_session_token_in_query_encoded),
		T(test_presign_expiry_must_be_within_one_week),
		T(test_presign_query_in_aws_order_ending_with_signature),
		T(test_target_must_be_origin_form),
		T(test_overlong_target_is_limit_error),
		T(test_missing_or_malformed_credentials_are_invalid),
		T(test_error_messages_never_quote_the_secret),
		T(test_region_with_slash_is_invalid),
		T(test_cached_key_keeps_secrets_apart),
		cmocka_unit_test(test_concurrent_signers_with_many_secrets_agree_with_reference),
	};
	int rc = cmocka_run_group_tests_name("sigv4", tests, NULL, NULL);

	sigv4_cleanup();
	return rc;
}
