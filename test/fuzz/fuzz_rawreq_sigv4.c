/* fuzz_rawreq_sigv4.c - poky-sign's path: rawreq_parse, then sigv4_sign.
 *
 * Input: one flags byte, then a raw HTTP request (test/data/sigv4 format).
 * The flags byte picks the signing mode, so one corpus covers header and
 * presigned signing, S3 and the other services' path rules:
 *
 *   bit 0 SIGV4_S3             bit 4 SIGV4_PRESIGN
 *   bit 1 SIGV4_NO_NORMALIZE   bit 5 SIGV4_OMIT_TOKEN
 *   bit 2 SIGV4_SIGN_BODY      bit 6 sign with a session token
 *   bit 3 SIGV4_UNSIGNED_PAYLOAD  bit 7 payload hash given by the caller
 *
 * Beyond "no crash", a signature must have the shape AWS checks: the
 * canonical URI and query are fully encoded, there is one header line per
 * signed header, Host is signed, and signing again gives the same answer
 * (the derived-key cache must not change a signature). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poky/rawreq.h"
#include "poky/sigv4.h"
#include "poky/str.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz_rawreq_sigv4: check failed: %s (line %d)\n", \
	    #cond, __LINE__); abort(); } } while (0)

static bool
is_hex64(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == 64;
}

/* Every byte of a canonical URI or query is unreserved, '%XX' with
 * uppercase hex, or one of the separators allowed there. */
static bool
encoded(const char *p, size_t n, const char *seps)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (str_is_unreserved(c) || (c != '\0' && strchr(seps, c) != NULL))
			continue;
		if (c != '%' || i + 2 >= n || str_hexval((unsigned char)p[i + 1]) < 0 ||
		    str_hexval((unsigned char)p[i + 2]) < 0 ||
		    (p[i + 1] >= 'a' && p[i + 1] <= 'f') ||
		    (p[i + 2] >= 'a' && p[i + 2] <= 'f'))
			return false;
		i += 2;
	}
	return true;
}

static void
check_result(const struct sigv4_result *res, const char *method, unsigned flags)
{
	const char *cr = res->canonical_request.data, *p, *nl;
	size_t lines = 0, signed_n = 1, len = res->canonical_request.len;
	const char *sh;

	CHECK(is_hex64(res->signature));
	CHECK(strlen(res->amz_date) == 16);
	/* method \n uri \n query \n headers... \n \n signed \n payload */
	CHECK(strncmp(cr, method, strlen(method)) == 0 && cr[strlen(method)] == '\n');
	for (p = cr; (nl = memchr(p, '\n', len - (size_t)(p - cr))) != NULL; p = nl + 1)
		lines++;
	p = cr + strlen(method) + 1;
	nl = memchr(p, '\n', len - (size_t)(p - cr));
	CHECK(nl != NULL && nl > p && p[0] == '/');
	CHECK(encoded(p, (size_t)(nl - p), "/"));
	p = nl + 1;
	nl = memchr(p, '\n', len - (size_t)(p - cr));
	CHECK(nl != NULL && encoded(p, (size_t)(nl - p), "=&"));
	/* The signed-header list is the second-to-last line. */
	sh = cr + len;
	while (sh > cr && sh[-1] != '\n')
		sh--;
	CHECK(sh > cr);
	nl = sh - 1;
	sh = nl;
	while (sh > cr && sh[-1] != '\n')
		sh--;
	for (p = sh; p < nl; p++)
		signed_n += *p == ';';
	CHECK(nl > sh);
	CHECK(lines == 5 + signed_n);
	CHECK(strncmp(sh, "host;", 5) == 0 || strncmp(sh, "host\n", 5) == 0 ||
	    memmem(sh, (size_t)(nl - sh + 1), ";host;", 6) != NULL ||
	    memmem(sh, (size_t)(nl - sh + 1), ";host\n", 6) != NULL);
	if (flags & SIGV4_PRESIGN) {
		const char *sig = strstr(res->query.data, "&X-Amz-Signature=");

		CHECK(res->n_added == 0);
		CHECK(sig != NULL && strcmp(sig + 17, res->signature) == 0);
		CHECK(encoded(res->query.data, res->query.len, "=&"));
	} else {
		CHECK(res->n_added >= 2 && res->n_added <= SIGV4_MAX_ADDED);
		CHECK(strncmp(res->authorization.data,
		    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/", 40) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static const char empty_hash[] =
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	struct rawreq r;
	struct sigv4_request req = { 0 };
	struct sigv4_params pa = { .region = "us-east-1", .service = "service",
		.time = 1440938160, .expires = 3600 };
	struct sigv4_creds cr = { "AKIDEXAMPLE",
		"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL };
	struct sigv4_result res, again;
	struct poky_error e;
	char *method = NULL;
	unsigned fl;
	enum poky_err rc;

	if (n < 1)
		return 0;
	fl = d[0];
	pa.flags = fl & (SIGV4_S3 | SIGV4_NO_NORMALIZE | SIGV4_SIGN_BODY |
	    SIGV4_UNSIGNED_PAYLOAD | SIGV4_PRESIGN | SIGV4_OMIT_TOKEN);
	if (pa.flags & SIGV4_S3)
		pa.service = "s3";
	if (fl & 0x40)
		cr.session_token = "IQoJb3JpZ2luX2VjEXAMPLE/TOKEN+==";
	if (fl & 0x80)
		req.payload_hash = empty_hash;
	if (rawreq_parse(&r, (const char *)d + 1, n - 1, &e) != POKY_OK)
		return 0;
	CHECK(r.method_len > 0 && r.target_len > 0 && r.n_headers <= RAWREQ_MAX_HEADERS);
	CHECK(r.body >= (const char *)d + 1 && r.body + r.body_len == (const char *)d + n);
	method = strndup(r.method, r.method_len);
	CHECK(method != NULL);
	req.method = method;
	req.target = r.target;
	req.target_len = r.target_len;
	req.headers = r.headers;
	req.n_headers = r.n_headers;
	req.body = r.body;
	req.body_len = r.body_len;

	sigv4_result_init(&res);
	sigv4_result_init(&again);
	rc = sigv4_sign(&req, &pa, &cr, &res, &e);
	if (rc == POKY_OK) {
		check_result(&res, method, pa.flags);
		CHECK(sigv4_sign(&req, &pa, &cr, &again, &e) == POKY_OK);
		CHECK(strcmp(res.signature, again.signature) == 0);
		CHECK(res.canonical_request.len == again.canonical_request.len);
	} else {
		CHECK(rc == POKY_ERR_INVALID || rc == POKY_ERR_LIMIT);
		CHECK(strstr(e.message, cr.secret_access_key) == NULL);
	}
	sigv4_result_cleanup(&again);
	sigv4_result_cleanup(&res);
	rawreq_cleanup(&r);
	free(method);
	return 0;
}
