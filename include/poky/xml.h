/* xml.h - small read-only XML trees (expat), for S3 and STS answers.
 *
 * Element names are compared without their namespace prefix.  Documents
 * with a DOCTYPE are refused (no entities, no external anything), and depth,
 * node count and text size are bounded. */
#ifndef POKY_XML_H
#define POKY_XML_H

#include <stddef.h>

#include "poky/buf.h"
#include "poky/err.h"

#define XML_MAX_DEPTH 64
#define XML_MAX_NODES 200000
#define XML_MAX_TEXT (1u << 20)

struct xml_node {
	char *name;
	struct buf text;                /* the element's own character data */
	struct xml_node *parent;
	struct xml_node *first_child;
	struct xml_node *last_child;
	struct xml_node *next;          /* next sibling */
};

struct xml_doc {
	struct xml_node *root;
	size_t n_nodes;
};

/* Parse data[0..n).  On success doc->root is the document element; free it
 * with xml_doc_free.  POKY_ERR_INVALID for malformed XML, POKY_ERR_LIMIT
 * past the bounds above. */
enum poky_err xml_parse(struct xml_doc *doc, const char *data, size_t n,
			struct poky_error *e);
void xml_doc_free(struct xml_doc *doc);

/* Local name of a node: "Code" for "s3:Code". */
const char *xml_local_name(const struct xml_node *n);

/* First child named name, or NULL. */
const struct xml_node *xml_child(const struct xml_node *n, const char *name);

/* Follow "A/B/C" from n, one child per step; NULL if any step is missing. */
const struct xml_node *xml_path(const struct xml_node *n, const char *path);

/* Text of xml_path(n, path): NULL if missing, "" if empty. */
const char *xml_path_text(const struct xml_node *n, const char *path);

/* Next sibling with the same local name as n, or NULL. */
const struct xml_node *xml_next_named(const struct xml_node *n);

#endif
