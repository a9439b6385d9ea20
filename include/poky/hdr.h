/* hdr.h - an HTTP header field as a pair of byte spans. */
#ifndef POKY_HDR_H
#define POKY_HDR_H

#include <stddef.h>

/* Neither span is NUL-terminated; the owner of the bytes is whoever made the
 * array (a parsed message, a request builder, a signing result). */
struct hdr {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

#endif
