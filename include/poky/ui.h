/* ui.h - the web console's static files, compiled into pokyd.
 *
 * The files of src/daemon/ui/ become a table (the Makefile generates it:
 * name, content type, an ETag from their hash, the bytes); ui_serve
 * answers one of them with the console's security headers. */
#ifndef POKY_UI_H
#define POKY_UI_H

#include <stddef.h>

#include "poky/api.h"

struct ui_file {
	const char *name;               /* "app.js": no directory part */
	const char *content_type;
	const char *etag;               /* quoted, as sent */
	const char *data;
	size_t len;
};

/* The table, ended by a NULL name. */
extern const struct ui_file ui_files[];

/* The file named name, or NULL. */
const struct ui_file *ui_find(const char *name);

/* Answer GET /ui/{name} ("" is index.html): the file, a 304 when
 * If-None-Match names its ETag, a 404 for any other name, a 400 when the
 * request has a query (the console documents none). */
void ui_serve(const char *name, const struct api_req *req, struct api_resp *r);

#endif
