/* fuzz_awsini.c - the shared credentials and config file parser (awsini.c).
 *
 * Built and run by `make fuzz` (test/fuzz/fuzz.mk).  Every input must parse
 * or be refused cleanly; on success every lookup the credentials code makes
 * must work on the result, and a value comes back trimmed, on one line. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poky/awsini.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz_awsini: check failed: %s (line %d)\n", #cond, \
	    __LINE__); abort(); } } while (0)

static void
value_check(const char *v)
{
	size_t n;

	if (v == NULL)
		return;
	n = strlen(v);
	CHECK(strchr(v, '\n') == NULL);
	CHECK(n == 0 || (v[0] != ' ' && v[0] != '\t' && v[n - 1] != ' ' &&
	    v[n - 1] != '\t'));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "default", "dev", "profile dev",
		"spaced", "", NULL };
	static const char *const keys[] = { "region", "aws_access_key_id",
		"aws_secret_access_key", "aws_session_token", "role_arn",
		"source_profile", "credential_source", "credential_process",
		"web_identity_token_file", "role_session_name", "s3", "", NULL };
	struct awsini *ini = NULL;
	struct poky_error e;

	if (awsini_parse((const char *)data, size, &ini, &e) != POKY_OK) {
		CHECK(ini == NULL);
		CHECK(e.code != POKY_OK);
		return 0;
	}
	for (size_t i = 0; names[i] != NULL; i++) {
		const char *c = awsini_profile_section(ini, AWSINI_CONFIG, names[i]);
		const char *k = awsini_profile_section(ini, AWSINI_CREDENTIALS, names[i]);

		CHECK(c == NULL || awsini_has_section(ini, c));
		CHECK(k == NULL || awsini_has_section(ini, k));
		for (size_t j = 0; keys[j] != NULL; j++) {
			value_check(awsini_get(ini, c, keys[j]));
			value_check(awsini_get(ini, k, keys[j]));
		}
		(void)awsini_has_section(ini, names[i]);
	}
	awsini_free(ini);
	return 0;
}
