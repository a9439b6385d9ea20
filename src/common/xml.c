/* xml.c - read-only XML trees over expat (see xml.h). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "poky/xml.h"

struct xml_build {
	XML_Parser p;
	struct xml_doc *doc;
	struct xml_node *cur;
	size_t depth;
	enum poky_err err;
	const char *why;
};

static void
node_free(struct xml_node *n)
{
	while (n != NULL) {
		struct xml_node *next = n->next;

		node_free(n->first_child);
		free(n->name);
		buf_free(&n->text);
		free(n);
		n = next;
	}
}

void
xml_doc_free(struct xml_doc *doc)
{
	if (doc == NULL)
		return;
	node_free(doc->root);
	doc->root = NULL;
	doc->n_nodes = 0;
}

static void
stop(struct xml_build *b, enum poky_err err, const char *why)
{
	if (b->err == POKY_OK) {
		b->err = err;
		b->why = why;
	}
	XML_StopParser(b->p, XML_FALSE);
}

static void XMLCALL
on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct xml_build *b = ud;
	struct xml_node *n;

	(void)attrs;
	if (b->err != POKY_OK)
		return;
	if (++b->depth > XML_MAX_DEPTH) {
		stop(b, POKY_ERR_LIMIT, "XML nested too deeply");
		return;
	}
	if (++b->doc->n_nodes > XML_MAX_NODES) {
		stop(b, POKY_ERR_LIMIT, "XML has too many elements");
		return;
	}
	n = calloc(1, sizeof(*n));
	if (n == NULL || (n->name = strdup(name)) == NULL) {
		free(n);
		stop(b, POKY_ERR_NOMEM, "out of memory");
		return;
	}
	buf_init(&n->text, XML_MAX_TEXT);
	n->parent = b->cur;
	if (b->cur == NULL) {
		b->doc->root = n;
	} else if (b->cur->last_child == NULL) {
		b->cur->first_child = b->cur->last_child = n;
	} else {
		b->cur->last_child->next = n;
		b->cur->last_child = n;
	}
	b->cur = n;
}

static void XMLCALL
on_end(void *ud, const XML_Char *name)
{
	struct xml_build *b = ud;

	(void)name;
	if (b->err != POKY_OK || b->cur == NULL)
		return;
	b->depth--;
	b->cur = b->cur->parent;
}

static void XMLCALL
on_text(void *ud, const XML_Char *s, int len)
{
	struct xml_build *b = ud;

	if (b->err != POKY_OK || b->cur == NULL)
		return;
	if (buf_append(&b->cur->text, s, (size_t)len) != POKY_OK)
		stop(b, POKY_ERR_LIMIT, "XML text too long");
}

/* No DOCTYPE means no entity definitions, so no entity expansion attacks. */
static void XMLCALL
on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
	   const XML_Char *pubid, int has_internal)
{
	(void)name; (void)sysid; (void)pubid; (void)has_internal;
	stop(ud, POKY_ERR_INVALID, "XML with a DOCTYPE is refused");
}

enum poky_err
xml_parse(struct xml_doc *doc, const char *data, size_t n,
	  struct poky_error *e)
{
	struct xml_build b = { .doc = doc };
	enum XML_Status st;

	doc->root = NULL;
	doc->n_nodes = 0;
	if (n > (size_t)0x7fffffff)
		return poky_error_set(e, POKY_ERR_LIMIT, "XML document too large");
	b.p = XML_ParserCreate("UTF-8");
	if (b.p == NULL)
		return poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	XML_SetUserData(b.p, &b);
	XML_SetElementHandler(b.p, on_start, on_end);
	XML_SetCharacterDataHandler(b.p, on_text);
	XML_SetStartDoctypeDeclHandler(b.p, on_doctype);
	st = XML_Parse(b.p, data, (int)n, XML_TRUE);
	if (b.err == POKY_OK && (st != XML_STATUS_OK || doc->root == NULL)) {
		b.err = POKY_ERR_INVALID;
		poky_error_set(e, POKY_ERR_INVALID, "malformed XML at line %lu: %s",
		    (unsigned long)XML_GetCurrentLineNumber(b.p),
		    doc->root == NULL && st == XML_STATUS_OK ? "no element" :
		    XML_ErrorString(XML_GetErrorCode(b.p)));
	} else if (b.err != POKY_OK) {
		poky_error_set(e, b.err, "%s", b.why);
	}
	XML_ParserFree(b.p);
	if (b.err != POKY_OK)
		xml_doc_free(doc);
	return b.err;
}

const char *
xml_local_name(const struct xml_node *n)
{
	const char *colon = strrchr(n->name, ':');

	return colon ? colon + 1 : n->name;
}

const struct xml_node *
xml_child(const struct xml_node *n, const char *name)
{
	if (n == NULL)
		return NULL;
	for (const struct xml_node *c = n->first_child; c != NULL; c = c->next)
		if (strcmp(xml_local_name(c), name) == 0)
			return c;
	return NULL;
}

const struct xml_node *
xml_path(const struct xml_node *n, const char *path)
{
	char step[128];

	while (n != NULL && *path != '\0') {
		size_t l = strcspn(path, "/");

		if (l >= sizeof(step))
			return NULL;
		memcpy(step, path, l);
		step[l] = '\0';
		n = xml_child(n, step);
		path += l;
		if (*path == '/')
			path++;
	}
	return n;
}

const char *
xml_path_text(const struct xml_node *n, const char *path)
{
	n = xml_path(n, path);
	if (n == NULL)
		return NULL;
	return n->text.data ? n->text.data : "";
}

const struct xml_node *
xml_next_named(const struct xml_node *n)
{
	const char *name = xml_local_name(n);

	for (n = n->next; n != NULL; n = n->next)
		if (strcmp(xml_local_name(n), name) == 0)
			return n;
	return NULL;
}
