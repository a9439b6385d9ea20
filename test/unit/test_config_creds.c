/* test_config_creds.c - unit tests for config_load's systemd credentials:
 * $CREDENTIALS_DIRECTORY/tokens and /webhook_secret fill what pokyd.ini
 * leaves unset, never what it sets; a bad secret is refused without being
 * echoed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "poky/config.h"

#define TEMPLATE "[template.t]\nlauncher = local\ncommand = /bin/true\n"

struct dirs {
	char root[64];
	char ini[128];
	char creds[128];
	char tokens[160];
	char secret[160];
};

static void
put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static int
setup(void **state)
{
	struct dirs *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return -1;
	snprintf(d->root, sizeof(d->root), "/tmp/poky-creds-XXXXXX");
	if (mkdtemp(d->root) == NULL)
		return -1;
	snprintf(d->ini, sizeof(d->ini), "%s/pokyd.ini", d->root);
	snprintf(d->creds, sizeof(d->creds), "%s/creds", d->root);
	snprintf(d->tokens, sizeof(d->tokens), "%s/tokens", d->creds);
	snprintf(d->secret, sizeof(d->secret), "%s/webhook_secret", d->creds);
	if (mkdir(d->creds, 0700) != 0)
		return -1;
	setenv("CREDENTIALS_DIRECTORY", d->creds, 1);
	*state = d;
	return 0;
}

static int
teardown(void **state)
{
	struct dirs *d = *state;

	unsetenv("CREDENTIALS_DIRECTORY");
	unlink(d->ini);
	unlink(d->tokens);
	unlink(d->secret);
	rmdir(d->creds);
	rmdir(d->root);
	free(d);
	return 0;
}

static void
test_unset_keys_come_from_the_credentials(void **state)
{
	struct dirs *d = *state;
	struct config *c = NULL;
	struct poky_error e = { 0 };

	put(d->ini, TEMPLATE);
	put(d->tokens, "alice 0000000000000000000000000000000000000000000000000000000000000000\n");
	put(d->secret, "s3cret-value\n");
	assert_int_equal(config_load(d->ini, &c, &e), POKY_OK);
	assert_string_equal(c->server.tokens_file, d->tokens);
	assert_string_equal(c->tracker.webhook_secret, "s3cret-value");
	config_free(c);
}

static void
test_keys_set_in_the_file_win(void **state)
{
	struct dirs *d = *state;
	struct config *c = NULL;
	struct poky_error e = { 0 };

	put(d->ini, "[server]\ntokens_file = /etc/mine\n"
	    "[tracker]\nwebhook_secret = from-the-file\n" TEMPLATE);
	put(d->tokens, "\n");
	put(d->secret, "from-credentials\n");
	assert_int_equal(config_load(d->ini, &c, &e), POKY_OK);
	assert_string_equal(c->server.tokens_file, "/etc/mine");
	assert_string_equal(c->tracker.webhook_secret, "from-the-file");
	config_free(c);
}

static void
test_no_directory_or_no_files_change_nothing(void **state)
{
	struct dirs *d = *state;
	struct config *c = NULL;
	struct poky_error e = { 0 };

	put(d->ini, TEMPLATE);
	assert_int_equal(config_load(d->ini, &c, &e), POKY_OK);
	assert_null(c->server.tokens_file);
	assert_true(c->tracker.webhook_secret == NULL || c->tracker.webhook_secret[0] == '\0');
	config_free(c);
	/* An empty secret file (what make install leaves) is no secret. */
	put(d->secret, "");
	assert_int_equal(config_load(d->ini, &c, &e), POKY_OK);
	assert_true(c->tracker.webhook_secret == NULL || c->tracker.webhook_secret[0] == '\0');
	config_free(c);
	/* A relative directory is not systemd's: ignored. */
	setenv("CREDENTIALS_DIRECTORY", "creds", 1);
	put(d->secret, "x\n");
	assert_int_equal(config_load(d->ini, &c, &e), POKY_OK);
	assert_null(c->server.tokens_file);
	config_free(c);
}

static void
test_a_too_long_secret_is_refused_without_echo(void **state)
{
	struct dirs *d = *state;
	struct config *c = NULL;
	struct poky_error e = { 0 };
	char big[2048];

	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	put(d->ini, TEMPLATE);
	put(d->secret, big);
	assert_int_equal(config_load(d->ini, &c, &e), POKY_ERR_INVALID);
	assert_null(c);
	assert_non_null(strstr(e.message, "webhook_secret: first line longer than 1024"));
	assert_null(strstr(e.message, "kkkk"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unset_keys_come_from_the_credentials,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_keys_set_in_the_file_win, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_directory_or_no_files_change_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_too_long_secret_is_refused_without_echo,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
