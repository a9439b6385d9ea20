/* awsini.h - AWS's INI-style shared files (~/.aws/credentials, ~/.aws/config).
 *
 * The dialect is Python configparser's as botocore uses it: "[section]"
 * headers, "key = value" (or "key: value") lines with keys lowercased and
 * both sides trimmed, full-line comments starting with '#' or ';', no inline
 * comments.  A line indented deeper than the key line before it continues
 * that key (a multi-line value or a nested sub-section such as "s3 =" with
 * indented settings); such lines are skipped, as nothing here reads them.
 *
 * Parsing is a pure function over a buffer (no I/O), so it can be fuzzed.
 * Unlike configparser, duplicate sections are merged and a repeated key keeps
 * its last value, as the AWS CLI v2 and SDKs for Java and Go do.  Sizes are
 * bounded; the parsed copy is wiped when freed, as it may hold secrets.
 * Error messages give line numbers, never line contents. */
#ifndef POKY_AWSINI_H
#define POKY_AWSINI_H

#include <stddef.h>

#include "poky/err.h"

#define AWSINI_MAX_BYTES (1u << 20)
#define AWSINI_MAX_LINE 8192
#define AWSINI_MAX_SECTIONS 4096
#define AWSINI_MAX_ENTRIES 32768

/* Which file a profile is looked up in: the config file names profiles
 * "[profile NAME]" (and "[default]"); the credentials file names them
 * "[NAME]". */
enum awsini_kind { AWSINI_CONFIG, AWSINI_CREDENTIALS };

struct awsini;

/* Parse data[0..n).  On success *out holds the parsed file, to be released
 * with awsini_free.  POKY_ERR_INVALID for a line that is neither a header, a
 * key line nor a comment (or a key before any header), POKY_ERR_LIMIT past
 * the bounds above, POKY_ERR_NOMEM. */
enum poky_err awsini_parse(const char *data, size_t n, struct awsini **out,
			   struct poky_error *e);

/* Wipe and free.  NULL is a no-op. */
void awsini_free(struct awsini *ini);

/* Whether a section of exactly this (trimmed) name exists. */
int awsini_has_section(const struct awsini *ini, const char *section);

/* The value of key (lowercase) in section, the last one when repeated;
 * NULL if absent.  Points into ini. */
const char *awsini_get(const struct awsini *ini, const char *section,
		       const char *key);

/* The section that holds profile name in a file of this kind, or NULL:
 * config: "[profile NAME]" (any run of blanks after "profile"), and for
 * "default" also "[default]" ("[profile default]" wins when both exist);
 * credentials: "[NAME]".  Points into ini. */
const char *awsini_profile_section(const struct awsini *ini,
				   enum awsini_kind kind, const char *name);

#endif
