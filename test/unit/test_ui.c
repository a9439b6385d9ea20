/* test_ui.c - the console's compiled-in files and how ui_serve answers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "poky/api.h"
#include "poky/ui.h"

static const char *
resp_header(const struct api_resp *r, const char *name)
{
	for (size_t i = 0; i < r->n_headers; i++)
		if (strcmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

static void
serve(const char *name, const char *query, const char *inm, struct api_resp *r)
{
	struct hdr h = { "If-None-Match", 13, inm, inm ? strlen(inm) : 0 };
	struct api_req req = { .method = "GET", .query = query, .headers = &h,
		.n_headers = inm ? 1 : 0 };

	api_resp_init(r);
	ui_serve(name, &req, r);
}

static void
test_index_is_the_directory(void **state)
{
	struct api_resp r;
	const struct ui_file *f = ui_find("index.html");

	(void)state;
	assert_non_null(f);
	serve("", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "text/html; charset=utf-8");
	assert_int_equal(r.text_len, f->len);
	assert_memory_equal(r.text, f->data, f->len);
	assert_non_null(strstr(resp_header(&r, "Content-Security-Policy"), "default-src 'none'"));
	assert_string_equal(resp_header(&r, "X-Frame-Options"), "DENY");
	assert_string_equal(resp_header(&r, "ETag"), f->etag);
	api_resp_cleanup(&r);
}

static void
test_each_file_has_its_type(void **state)
{
	struct api_resp r;

	(void)state;
	serve("app.js", NULL, NULL, &r);
	assert_string_equal(r.content_type, "text/javascript; charset=utf-8");
	api_resp_cleanup(&r);
	serve("app.css", "", NULL, &r);
	assert_string_equal(r.content_type, "text/css; charset=utf-8");
	api_resp_cleanup(&r);
}

static void
test_etag_in_if_none_match_is_304(void **state)
{
	struct api_resp r;
	char list[128];

	(void)state;
	snprintf(list, sizeof(list), "\"nope\", W/%s", ui_find("app.js")->etag);
	serve("app.js", NULL, list, &r);
	assert_int_equal(r.status, 304);
	assert_null(r.text);
	api_resp_cleanup(&r);
	serve("app.js", NULL, "\"nope\"", &r);
	assert_int_equal(r.status, 200);
	api_resp_cleanup(&r);
	serve("app.js", NULL, "*", &r);
	assert_int_equal(r.status, 304);
	api_resp_cleanup(&r);
}

static void
test_other_names_and_queries_refused(void **state)
{
	static const char *const names[] = { "..", "app", "APP.JS", "index.html.bak",
		"openapi.json", "app.js ", NULL };
	struct api_resp r;

	(void)state;
	for (int i = 0; names[i]; i++) {
		serve(names[i], NULL, NULL, &r);
		assert_int_equal(r.status, 404);
		assert_string_equal(r.content_type, "application/problem+json");
		api_resp_cleanup(&r);
	}
	serve("app.js", "v=1", NULL, &r);
	assert_int_equal(r.status, 400);
	api_resp_cleanup(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_index_is_the_directory),
		cmocka_unit_test(test_each_file_has_its_type),
		cmocka_unit_test(test_etag_in_if_none_match_is_304),
		cmocka_unit_test(test_other_names_and_queries_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
