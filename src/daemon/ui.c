/* ui.c - serve the web console's compiled-in files (see ui.h). */
#include <stdlib.h>
#include <string.h>

#include "poky/problem.h"
#include "poky/ui.h"

/* Nothing inline and nothing from elsewhere: the page's own script, style
 * and fetch() to pokyd only.  A script injected into a task's logs or
 * parameters (shown on the page) has nowhere to run and nowhere to send. */
#define UI_CSP "default-src 'none'; script-src 'self'; style-src 'self'; " \
	"connect-src 'self'; img-src 'self' data:; base-uri 'none'; " \
	"form-action 'none'; frame-ancestors 'none'"

const struct ui_file *
ui_find(const char *name)
{
	for (const struct ui_file *f = ui_files; f->name != NULL; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

/* Whether an If-None-Match list (RFC 9110 13.1.2, weak comparison) names
 * etag. */
static bool
etag_listed(const char *list, const char *etag)
{
	size_t n = strlen(etag);

	while (list != NULL && *list != '\0') {
		list += strspn(list, " \t,");
		if (*list == '*')
			return true;
		if (strncmp(list, "W/", 2) == 0)
			list += 2;
		if (strncmp(list, etag, n) == 0 &&
		    (list[n] == '\0' || list[n] == ',' || list[n] == ' ' || list[n] == '\t'))
			return true;
		list = strchr(list, ',');
	}
	return false;
}

void
ui_serve(const char *name, const struct api_req *req, struct api_resp *r)
{
	const struct ui_file *f = ui_find(*name ? name : "index.html");

	api_resp_header(r, "Content-Security-Policy", "%s", UI_CSP);
	api_resp_header(r, "X-Frame-Options", "DENY");
	api_resp_header(r, "Referrer-Policy", "no-referrer");
	if (req->query != NULL && *req->query != '\0') {
		api_fail(r, REASON_BAD_REQUEST, NULL,
		    "the console's files take no query parameters");
		return;
	}
	if (f == NULL) {
		api_fail(r, REASON_NOT_FOUND, NULL, "no console file '%.64s'", name);
		return;
	}
	/* Revalidated on every load (a new pokyd may serve a new console),
	 * answered by a 304 while the files are the same. */
	api_resp_header(r, "Cache-Control", "no-cache");
	api_resp_header(r, "ETag", "%s", f->etag);
	if (etag_listed(api_header(req, "if-none-match"), f->etag)) {
		r->status = 304;
		return;
	}
	r->text = malloc(f->len + 1);
	if (r->text == NULL) {
		api_fail(r, REASON_NOMEM, NULL, "cannot answer");
		return;
	}
	memcpy(r->text, f->data, f->len);
	r->text[f->len] = '\0';
	r->text_len = f->len;
	r->status = 200;
	r->content_type = f->content_type;
}
