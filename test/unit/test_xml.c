/* test_xml.c - the XML reader used for S3 and STS answers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poky/xml.h"

static enum poky_err
parse(struct xml_doc *d, const char *s, struct poky_error *e)
{
	return xml_parse(d, s, strlen(s), e);
}

static void
test_paths_ignore_namespace_prefixes(void **state)
{
	struct xml_doc d;

	(void)state;
	assert_int_equal(parse(&d, "<s:R xmlns:s=\"u\"><s:A><s:B>x</s:B></s:A></s:R>",
	    NULL), POKY_OK);
	assert_string_equal(xml_path_text(d.root, "A/B"), "x");
	assert_string_equal(xml_local_name(d.root), "R");
	xml_doc_free(&d);
}

static void
test_missing_path_is_null_and_empty_element_is_empty_string(void **state)
{
	struct xml_doc d;

	(void)state;
	assert_int_equal(parse(&d, "<R><E/><F></F></R>", NULL), POKY_OK);
	assert_null(xml_path_text(d.root, "A/B"));
	assert_string_equal(xml_path_text(d.root, "E"), "");
	assert_string_equal(xml_path_text(d.root, "F"), "");
	xml_doc_free(&d);
}

static void
test_siblings_with_the_same_name_iterate_in_order(void **state)
{
	struct xml_doc d;
	const struct xml_node *n;
	char seen[8] = "";

	(void)state;
	assert_int_equal(parse(&d, "<L><C>1</C><X/><C>2</C><C>3</C></L>", NULL),
	    POKY_OK);
	for (n = xml_child(d.root, "C"); n != NULL; n = xml_next_named(n))
		strcat(seen, n->text.data);
	assert_string_equal(seen, "123");
	xml_doc_free(&d);
}

static void
test_entities_and_cdata_decoded(void **state)
{
	struct xml_doc d;

	(void)state;
	assert_int_equal(parse(&d, "<K>a&amp;b&lt;&#x41;<![CDATA[<z>]]></K>", NULL),
	    POKY_OK);
	assert_string_equal(d.root->text.data, "a&b<A<z>");
	xml_doc_free(&d);
}

static void
test_doctype_refused_so_no_entity_expansion(void **state)
{
	struct xml_doc d;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse(&d, "<!DOCTYPE r [<!ENTITY a \"aaaa\">]><r>&a;</r>", &e),
	    POKY_ERR_INVALID);
	assert_non_null(strstr(e.message, "DOCTYPE"));
	assert_null(d.root);
}

static void
test_malformed_and_empty_documents_rejected(void **state)
{
	struct xml_doc d;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse(&d, "<a><b></a>", &e), POKY_ERR_INVALID);
	assert_non_null(strstr(e.message, "line 1"));
	assert_int_equal(parse(&d, "", &e), POKY_ERR_INVALID);
	assert_int_equal(parse(&d, "<a>", &e), POKY_ERR_INVALID);
}

static void
test_depth_limit(void **state)
{
	struct xml_doc d;
	struct poky_error e;
	char *s = malloc(8 * (XML_MAX_DEPTH + 2) + 1), *p = s;

	(void)state;
	for (int i = 0; i < XML_MAX_DEPTH + 1; i++)
		p += sprintf(p, "<a>");
	for (int i = 0; i < XML_MAX_DEPTH + 1; i++)
		p += sprintf(p, "</a>");
	assert_int_equal(parse(&d, s, &e), POKY_ERR_LIMIT);
	free(s);
}

static void
test_node_count_limit(void **state)
{
	struct xml_doc d;
	struct poky_error e;
	size_t n = XML_MAX_NODES + 1;
	char *s = malloc(4 * n + 16), *p = s;

	(void)state;
	p += sprintf(p, "<r>");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "<a/>");
	sprintf(p, "</r>");
	assert_int_equal(parse(&d, s, &e), POKY_ERR_LIMIT);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths_ignore_namespace_prefixes),
		cmocka_unit_test(test_missing_path_is_null_and_empty_element_is_empty_string),
		cmocka_unit_test(test_siblings_with_the_same_name_iterate_in_order),
		cmocka_unit_test(test_entities_and_cdata_decoded),
		cmocka_unit_test(test_doctype_refused_so_no_entity_expansion),
		cmocka_unit_test(test_malformed_and_empty_documents_rejected),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_node_count_limit),
	};

	return cmocka_run_group_tests_name("xml", tests, NULL, NULL);
}
