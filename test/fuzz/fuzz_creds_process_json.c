/* fuzz_creds_process_json.c - what a profile's credential_process prints
 * (creds_process_parse), and, on the same bytes as a command line, the
 * shlex-style split that runs it (creds_shlex_split).
 *
 * Beyond "no crash": accepted credentials are the printable, bounded
 * strings creds_set promises; a refused answer's message never quotes the
 * secret key or the session token it held; a split command is a
 * NULL-terminated argv of at least one word. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../src/aws/creds_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz_creds_process_json: check failed: %s (line %d)\n", \
	    #cond, __LINE__); abort(); } } while (0)

/* Every word an error message is made of: a "secret" that is one of them
 * (or inside one) shows up there by coincidence, not as a leak. */
static const char message_words[] =
    "credential_process: output is not JSON (line %d, column %d) "
    "not a JSON object no Version Version is not 1 answer "
    "AccessKeyId SecretAccessKey SessionToken Expiration is not a string "
    "Expiration is not an ISO 8601 time access key id secret access key "
    "session token longer than holds blanks or control characters "
    "0123456789";

static bool
printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static bool
leaks(const char *msg, const json_t *j, const char *key)
{
	const char *s = json_string_value(json_object_get(j, key));

	return s != NULL && strlen(s) >= 6 && strstr(message_words, s) == NULL &&
	    strstr(msg, s) != NULL;
}

static void
parse(const char *data, size_t n)
{
	struct aws_creds c;
	struct poky_error e;
	json_t *j;

	if (creds_process_parse(data, n, "process", &c, &e) == POKY_OK) {
		CHECK(c.access_key_id[0] != '\0' && printable(c.access_key_id));
		CHECK(c.secret_access_key[0] != '\0' && printable(c.secret_access_key));
		CHECK(printable(c.session_token));
		CHECK(strcmp(c.source, "process") == 0);
	} else {
		CHECK(e.code != POKY_OK && e.message[0] != '\0');
		j = json_loadb(data, n, 0, NULL);
		CHECK(!leaks(e.message, j, "SecretAccessKey"));
		CHECK(!leaks(e.message, j, "SessionToken"));
		json_decref(j);
	}
	creds_clear(&c);
}

static void
split(const char *data, size_t n)
{
	char *cmd = malloc(n + 1), **argv = NULL;
	struct poky_error e;
	size_t argc = 0;

	CHECK(cmd != NULL);
	memcpy(cmd, data, n);
	cmd[n] = '\0';
	if (creds_shlex_split(cmd, &argv, &argc, &e) == POKY_OK) {
		CHECK(argv != NULL && argc >= 1 && argc <= CREDS_PROCESS_MAX_ARGS);
		CHECK(argv[argc] == NULL);
		for (size_t i = 0; i < argc; i++)
			CHECK(argv[i] != NULL && strlen(argv[i]) <= n);
	} else {
		CHECK(argv == NULL && argc == 0);
	}
	free(argv);
	free(cmd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	parse((const char *)d, n);
	split((const char *)d, n);
	return 0;
}
