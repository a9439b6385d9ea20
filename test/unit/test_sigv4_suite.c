/* test_sigv4_suite.c - every case of AWS's v4 signing suite, through the
 * library: canonical request, string to sign and signature in header and
 * query mode, each compared byte for byte so a failure names the stage.
 * (The signed-request files are checked through poky-sign by pytest.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "poky/rawreq.h"
#include "poky/sigv4.h"
#include "poky/str.h"

#define MAX_CASES 128

struct suite_case {
	char dir[1024];
	char name[320];
	int presign;
};

static char *
slurp(const char *dir, const char *file, size_t *len)
{
	char path[1200];
	FILE *f;
	char *p;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)n + 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	p[n] = '\0';
	fclose(f);
	if (len != NULL)
		*len = (size_t)n;
	return p;
}

static void
run_case(void **state)
{
	const struct suite_case *c = *state;
	const char *mode = c->presign ? "query" : "header";
	json_t *ctx, *cred;
	json_error_t jerr;
	struct rawreq r;
	struct sigv4_result res;
	struct poky_error err = { 0 };
	struct sigv4_creds cr;
	struct sigv4_params pa = { 0 };
	struct sigv4_request req = { 0 };
	char path[1200], file[64], *raw, *want, method[16];
	size_t rawlen;

	snprintf(path, sizeof(path), "%s/context.json", c->dir);
	ctx = json_load_file(path, 0, &jerr);
	assert_non_null(ctx);
	cred = json_object_get(ctx, "credentials");
	cr.access_key_id = json_string_value(json_object_get(cred, "access_key_id"));
	cr.secret_access_key = json_string_value(json_object_get(cred,
	    "secret_access_key"));
	cr.session_token = json_string_value(json_object_get(cred, "token"));
	pa.region = json_string_value(json_object_get(ctx, "region"));
	pa.service = json_string_value(json_object_get(ctx, "service"));
	assert_true(str_time_parse(json_string_value(json_object_get(ctx,
	    "timestamp")), &pa.time));
	if (!json_is_true(json_object_get(ctx, "normalize")))
		pa.flags |= SIGV4_NO_NORMALIZE;
	if (json_is_true(json_object_get(ctx, "sign_body")))
		pa.flags |= SIGV4_SIGN_BODY;
	if (json_is_true(json_object_get(ctx, "omit_session_token")))
		pa.flags |= SIGV4_OMIT_TOKEN;
	if (c->presign) {
		pa.flags |= SIGV4_PRESIGN;
		pa.expires = (unsigned)json_integer_value(json_object_get(ctx,
		    "expiration_in_seconds"));
	}

	raw = slurp(c->dir, "request.txt", &rawlen);
	assert_int_equal(rawreq_parse(&r, raw, rawlen, &err), POKY_OK);
	assert_true(r.method_len < sizeof(method));
	memcpy(method, r.method, r.method_len);
	method[r.method_len] = '\0';
	req.method = method;
	req.target = r.target;
	req.target_len = r.target_len;
	req.headers = r.headers;
	req.n_headers = r.n_headers;
	req.body = r.body;
	req.body_len = r.body_len;

	sigv4_result_init(&res);
	assert_int_equal(sigv4_sign(&req, &pa, &cr, &res, &err), POKY_OK);

	snprintf(file, sizeof(file), "%s-canonical-request.txt", mode);
	want = slurp(c->dir, file, NULL);
	assert_string_equal(res.canonical_request.data, want);
	free(want);
	snprintf(file, sizeof(file), "%s-string-to-sign.txt", mode);
	want = slurp(c->dir, file, NULL);
	assert_string_equal(res.string_to_sign.data, want);
	free(want);
	snprintf(file, sizeof(file), "%s-signature.txt", mode);
	want = slurp(c->dir, file, NULL);
	assert_string_equal(res.signature, want);
	free(want);

	sigv4_result_cleanup(&res);
	rawreq_cleanup(&r);
	free(raw);
	json_decref(ctx);
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(((const struct suite_case *)a)->name,
	    ((const struct suite_case *)b)->name);
}

int
main(void)
{
	const char *data = getenv("POKY_TEST_DATA");
	static struct suite_case cases[MAX_CASES];
	static struct CMUnitTest tests[MAX_CASES];
	char root[256];
	struct dirent *de;
	size_t n = 0;
	DIR *d;
	int rc;

	snprintf(root, sizeof(root), "%s/sigv4/v4", data ? data : "test/data");
	d = opendir(root);
	if (d == NULL) {
		fprintf(stderr, "test_sigv4_suite: cannot open %s\n", root);
		return 1;
	}
	while ((de = readdir(d)) != NULL && n + 2 <= MAX_CASES) {
		if (de->d_name[0] == '.')
			continue;
		for (int q = 0; q < 2; q++) {
			snprintf(cases[n].dir, sizeof(cases[n].dir), "%s/%s", root,
			    de->d_name);
			snprintf(cases[n].name, sizeof(cases[n].name), "%s/%s",
			    de->d_name, q ? "query" : "header");
			cases[n].presign = q;
			n++;
		}
	}
	closedir(d);
	/* Fewer cases than the suite has means the data went missing. */
	if (n < 76) {
		fprintf(stderr, "test_sigv4_suite: only %zu cases in %s\n", n, root);
		return 1;
	}
	qsort(cases, n, sizeof(cases[0]), by_name);
	for (size_t i = 0; i < n; i++) {
		tests[i].name = cases[i].name;
		tests[i].test_func = run_case;
		tests[i].initial_state = &cases[i];
	}
	rc = _cmocka_run_group_tests("sigv4_suite", tests, n, NULL, NULL);
	sigv4_cleanup();
	return rc;
}
