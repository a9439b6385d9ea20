/* test_creds.c - unit tests for the credentials chain (src/aws/creds*.c).
 *
 * Every test starts from an environment without AWS variables, with HOME,
 * AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE in a private temporary
 * directory and IMDS switched off, so nothing here reads the machine's own
 * credentials or waits on 169.254.169.254.  Refresh timing uses stand-in
 * providers and a fixed clock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "poky/creds.h"
#include "poky/log.h"
#include "poky/profile.h"
#include "poky/sts.h"

#include "../../src/aws/creds_internal.h"

#define SECRET_MARK "SECRETMARK"        /* every test secret holds this */

static char tmpdir[256];

static const char *const aws_vars[] = {
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AWS_SECURITY_TOKEN", "AWS_CREDENTIAL_EXPIRATION", "AWS_PROFILE",
	"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	"AWS_EC2_METADATA_SERVICE_ENDPOINT",
	"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "AWS_METADATA_SERVICE_TIMEOUT",
	"AWS_METADATA_SERVICE_NUM_ATTEMPTS", "AWS_EC2_METADATA_DISABLED",
	"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE",
	"AWS_SHARED_CREDENTIALS_FILE",
};

/* A path in the test directory, in one of a few rotating buffers. */
static const char *
tpath(const char *name)
{
	static char bufs[4][512];
	static int next;
	char *b = bufs[next++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s/%s", tmpdir, name);
	return b;
}

static const char *
write_file(const char *name, const char *text, mode_t mode)
{
	const char *p = tpath(name);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(p, mode), 0);
	return p;
}

static void
env_reset(void)
{
	static const char *const files[] = {
		"config", "credentials", "token", "proc.sh", "authtoken",
	};

	for (size_t i = 0; i < sizeof(aws_vars) / sizeof(aws_vars[0]); i++)
		unsetenv(aws_vars[i]);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlink(tpath(files[i]));
	setenv("HOME", tmpdir, 1);
	setenv("AWS_CONFIG_FILE", tpath("config"), 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", tpath("credentials"), 1);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

static int
group_setup(void **state)
{
	(void)state;
	log_setup(NULL, LOG_FORMAT_TEXT, LOG_LEVEL_ERROR);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/poky-test-creds-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	env_reset();
	unsetenv("AWS_CONFIG_FILE");
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	rmdir(tmpdir);
	return 0;
}

static int
setup(void **state)
{
	(void)state;
	env_reset();
	return 0;
}

/* Resolve once with a fresh chain. */
static enum poky_err
chain_once(const char *profile, struct aws_creds *c, struct poky_error *e)
{
	struct creds_chain *ch = creds_chain_new(&(struct creds_chain_config){
	    .profile = profile });
	enum poky_err rc;

	assert_non_null(ch);
	rc = creds_get(ch, c, e);
	creds_chain_free(ch);
	return rc;
}

static void
assert_source(const char *profile, const char *want_source,
	      const char *want_akid)
{
	struct aws_creds c;
	struct poky_error e;

	if (chain_once(profile, &c, &e) != POKY_OK)
		fail_msg("creds_get failed: %s", e.message);
	assert_string_equal(c.source, want_source);
	if (want_akid != NULL)
		assert_string_equal(c.access_key_id, want_akid);
	creds_clear(&c);
}

static void
assert_has(const char *s, const char *part)
{
	if (strstr(s, part) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", s, part);
}

static void
assert_lacks(const char *s, const char *part)
{
	if (strstr(s, part) != NULL)
		fail_msg("\"%s\" holds \"%s\"", s, part);
}

/* The chain fails with POKY_ERR_AUTH; the message holds each of parts and
 * no secret. */
static void
assert_chain_fails(const char *profile, const char *const *parts)
{
	struct aws_creds c;
	struct poky_error e;

	assert_int_equal(chain_once(profile, &c, &e), POKY_ERR_AUTH);
	assert_int_equal(e.code, POKY_ERR_AUTH);
	for (; *parts != NULL; parts++)
		assert_has(e.message, *parts);
	assert_lacks(e.message, SECRET_MARK);
	assert_true(strlen(e.message) < POKY_ERR_MSG_MAX);
	assert_string_equal(c.access_key_id, "");
}

#define FAILS(profile, ...) \
	assert_chain_fails(profile, (const char *const[]){ __VA_ARGS__, NULL })

/* ---- small helpers -------------------------------------------------------- */

static void
test_creds_clear_wipes_every_field(void **state)
{
	struct aws_creds c, zero;

	(void)state;
	memset(&c, 'x', sizeof(c));
	memset(&zero, 0, sizeof(zero));
	creds_clear(&c);
	assert_memory_equal(&c, &zero, sizeof(c));
	creds_clear(NULL);
}

static void
test_creds_set_refuses_line_breaks_and_names_only_the_field(void **state)
{
	struct aws_creds c;
	struct poky_error e;

	(void)state;
	assert_int_equal(creds_set(&c, "t", "AKID", "bad\n" SECRET_MARK, NULL, 0,
	    "test", &e), POKY_ERR_INVALID);
	assert_has(e.message, "secret access key");
	assert_lacks(e.message, SECRET_MARK);
	assert_int_equal(creds_set(&c, "t", "AK ID", "s", NULL, 0, "test", &e),
	    POKY_ERR_INVALID);
	assert_int_equal(creds_set(&c, "t", "AKID", "s", "to\rken", 0, "test", &e),
	    POKY_ERR_INVALID);
	assert_int_equal(creds_set(&c, "t", "", "s", NULL, 0, "test", &e),
	    POKY_ERR_INVALID);
	assert_string_equal(c.access_key_id, "");
}

static void
test_creds_set_refuses_overlong_fields(void **state)
{
	char big[CREDS_TOKEN_MAX + 2];
	struct aws_creds c;
	struct poky_error e;

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(creds_set(&c, "t", "AKID", "s", big, 0, "test", &e),
	    POKY_ERR_LIMIT);
	big[CREDS_KEY_MAX] = '\0';
	assert_int_equal(creds_set(&c, "t", big, "s", NULL, 0, "test", &e),
	    POKY_ERR_LIMIT);
	big[CREDS_KEY_MAX - 1] = '\0';
	assert_int_equal(creds_set(&c, "t", big, "s", NULL, 0, "test", &e),
	    POKY_OK);
}

static void
test_creds_parse_time_accepts_z_and_any_utc_offset(void **state)
{
	time_t t = 0;

	(void)state;
	assert_true(creds_parse_time("2030-01-02T03:04:05Z", &t));
	assert_int_equal(t, 1893553445);
	assert_true(creds_parse_time("2030-01-02T03:04:05.123Z", &t));
	assert_true(creds_parse_time("2030-01-02T03:04:05+00:00", &t));
	assert_int_equal(t, 1893553445);
	assert_true(creds_parse_time("2030-01-02T03:04:05+01:00", &t));
	assert_int_equal(t, 1893553445 - 3600);
	assert_true(creds_parse_time("2030-01-02T03:04:05-05:30", &t));
	assert_int_equal(t, 1893553445 + 5 * 3600 + 1800);
	assert_false(creds_parse_time("tomorrow", &t));
	assert_false(creds_parse_time(NULL, &t));
}

/* ---- environment ---------------------------------------------------------- */

static void
test_creds_env_keys_answer(void **state)
{
	struct aws_creds c;
	struct poky_error e;

	(void)state;
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", SECRET_MARK "env", 1);
	setenv("AWS_SESSION_TOKEN", "tokenenv", 1);
	assert_int_equal(chain_once(NULL, &c, &e), POKY_OK);
	assert_string_equal(c.source, "env");
	assert_string_equal(c.access_key_id, "AKIDENV");
	assert_string_equal(c.secret_access_key, SECRET_MARK "env");
	assert_string_equal(c.session_token, "tokenenv");
	assert_int_equal(c.expiration, 0);
	creds_clear(&c);
}

static void
test_creds_env_reads_old_security_token_name(void **state)
{
	struct aws_creds c;
	struct poky_error e;

	(void)state;
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", SECRET_MARK, 1);
	setenv("AWS_SECURITY_TOKEN", "oldtoken", 1);
	assert_int_equal(creds_env_get(&(struct creds_ctx){ 0 }, NULL, &c, &e),
	    POKY_OK);
	assert_string_equal(c.session_token, "oldtoken");
}

static void
test_creds_env_reads_expiration(void **state)
{
	struct aws_creds c;
	struct poky_error e;

	(void)state;
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", SECRET_MARK, 1);
	setenv("AWS_CREDENTIAL_EXPIRATION", "2030-01-02T03:04:05Z", 1);
	assert_int_equal(creds_env_get(&(struct creds_ctx){ 0 }, NULL, &c, &e),
	    POKY_OK);
	assert_int_equal(c.expiration, 1893553445);
	setenv("AWS_CREDENTIAL_EXPIRATION", "soon", 1);
	assert_int_equal(creds_env_get(&(struct creds_ctx){ 0 }, NULL, &c, &e),
	    POKY_ERR_INVALID);
}

static void
test_creds_env_half_a_key_pair_stops_the_chain(void **state)
{
	(void)state;
	write_file("credentials", "[default]\naws_access_key_id = AKIDFILE\n"
	    "aws_secret_access_key = " SECRET_MARK "\n", 0600);
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	FAILS(NULL, "env failed: AWS_ACCESS_KEY_ID set without "
	    "AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_ACCESS_KEY_ID");
	setenv("AWS_SECRET_ACCESS_KEY", SECRET_MARK "env", 1);
	FAILS(NULL, "env failed: AWS_SECRET_ACCESS_KEY set without");
}

static void
test_creds_empty_env_values_count_as_unset(void **state)
{
	(void)state;
	setenv("AWS_ACCESS_KEY_ID", "", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "", 1);
	write_file("credentials", "[default]\naws_access_key_id = AKIDFILE\n"
	    "aws_secret_access_key = " SECRET_MARK "\n", 0600);
	assert_source(NULL, "profile:default", "AKIDFILE");
}

/* ---- chain order ---------------------------------------------------------- */

static void
test_creds_chain_env_beats_profile(void **state)
{
	(void)state;
	write_file("credentials", "[default]\naws_access_key_id = AKIDFILE\n"
	    "aws_secret_access_key = " SECRET_MARK "\n", 0600);
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", SECRET_MARK, 1);
	assert_source(NULL, "env", "AKIDENV");
}

static void
test_creds_chain_env_beats_profile_named_by_aws_profile(void **state)
{
	(void)state;
	write_file("credentials", "[dev]\naws_access_key_id = AKIDDEV\n"
	    "aws_secret_access_key = " SECRET_MARK "\n", 0600);
	setenv("AWS_PROFILE", "dev", 1);
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", SECRET_MARK, 1);
	assert_source(NULL, "env", "AKIDENV");
}

static void
test_creds_chain_profile_named_in_code_beats_env(void **state)
{
	(void)state;
	write_file("credentials", "[dev]\naws_access_key_id = AKIDDEV\n"
	    "aws_secret_access_key = " SECRET_MARK "\n", 0600);
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", SECRET_MARK, 1);
	assert_source("dev", "profile:dev", "AKIDDEV");
}

static void
test_creds_chain_profile_beats_container(void **state)
{
	(void)state;
	write_file("credentials", "[default]\naws_access_key_id = AKIDFILE\n"
	    "aws_secret_access_key = " SECRET_MARK "\n", 0600);
	/* Nothing listens there: reaching it would fail the test. */
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/c", 1);
	assert_source(NULL, "profile:default", "AKIDFILE");
}

static void
test_creds_chain_web_identity_beats_profile(void **state)
{
	(void)state;
	write_file("credentials", "[default]\naws_access_key_id = AKIDFILE\n"
	    "aws_secret_access_key = " SECRET_MARK "\n", 0600);
	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", write_file("token", "jwt\n", 0600), 1);
	setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/web", 1);
	/* No STS client here: the web identity provider was chosen, and
	 * says why it could not finish. */
	FAILS(NULL, "env (no AWS_ACCESS_KEY_ID)", "web-identity failed:",
	    "AssumeRoleWithWebIdentity", "no AWS client");
}

static void
test_creds_chain_container_failure_stops_before_imds(void **state)
{
	struct aws_creds c;
	struct poky_error e;

	(void)state;
	unsetenv("AWS_EC2_METADATA_DISABLED");
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1", 1);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/c", 1);
	assert_int_equal(chain_once(NULL, &c, &e), POKY_ERR_AUTH);
	assert_has(e.message, "container failed:");
	assert_lacks(e.message, "imds");
}

static void
test_creds_chain_error_lists_every_provider_tried(void **state)
{
	(void)state;
	FAILS(NULL, "no AWS credentials", "env (no AWS_ACCESS_KEY_ID)",
	    "web-identity (no AWS_WEB_IDENTITY_TOKEN_FILE)",
	    "profile (no profile \"default\"", "container (", "imds (",
	    "AWS_EC2_METADATA_DISABLED");
}

static void
test_creds_chain_imds_unreachable_is_passed_over(void **state)
{
	(void)state;
	unsetenv("AWS_EC2_METADATA_DISABLED");
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1/", 1);
	FAILS(NULL, "imds (http://127.0.0.1:1: ");
}

/* ---- profiles ------------------------------------------------------------- */

static void
test_creds_profile_default_from_credentials_file(void **state)
{
	struct aws_creds c;
	struct poky_error e;

	(void)state;
	write_file("credentials", "[default]\naws_access_key_id = AKIDFILE\n"
	    "aws_secret_access_key = " SECRET_MARK "\naws_session_token = tok\n",
	    0600);
	assert_int_equal(chain_once(NULL, &c, &e), POKY_OK);
	assert_string_equal(c.source, "profile:default");
	assert_string_equal(c.session_token, "tok");
	assert_int_equal(c.expiration, 0);
}

static void
test_creds_profile_aws_profile_picks_bare_section_in_credentials(void **state)
{
	(void)state;
	write_file("credentials", "[default]\naws_access_key_id = AKIDDEF\n"
	    "aws_secret_access_key = s\n[dev]\naws_access_key_id = AKIDDEV\n"
	    "aws_secret_access_key = s\n", 0600);
	setenv("AWS_PROFILE", "dev", 1);
	assert_source(NULL, "profile:dev", "AKIDDEV");
}

static void
test_creds_profile_aws_profile_picks_prefixed_section_in_config(void **state)
{
	(void)state;
	write_file("config", "[profile dev]\naws_access_key_id = AKIDCONF\n"
	    "aws_secret_access_key = s\n", 0600);
	setenv("AWS_PROFILE", "dev", 1);
	assert_source(NULL, "profile:dev", "AKIDCONF");
}

static void
test_creds_profile_bare_section_in_config_is_not_a_profile(void **state)
{
	(void)state;
	write_file("config", "[dev]\naws_access_key_id = AKIDCONF\n"
	    "aws_secret_access_key = " SECRET_MARK "\n", 0600);
	setenv("AWS_PROFILE", "dev", 1);
	FAILS(NULL, "profile failed: no profile \"dev\"");
}

static void
test_creds_profile_prefixed_section_in_credentials_is_not_a_profile(void **state)
{
	(void)state;
	write_file("credentials", "[profile dev]\naws_access_key_id = AKIDCONF\n"
	    "aws_secret_access_key = " SECRET_MARK "\n", 0600);
	setenv("AWS_PROFILE", "dev", 1);
	FAILS(NULL, "no profile \"dev\"");
}

static void
test_creds_profile_credentials_file_beats_config_file(void **state)
{
	(void)state;
	write_file("config", "[default]\naws_access_key_id = AKIDCONF\n"
	    "aws_secret_access_key = s\n", 0600);
	write_file("credentials", "[default]\naws_access_key_id = AKIDCRED\n"
	    "aws_secret_access_key = s\n", 0600);
	assert_source(NULL, "profile:default", "AKIDCRED");
}

static void
test_creds_profile_missing_default_is_passed_over(void **state)
{
	(void)state;
	write_file("credentials", "[other]\naws_access_key_id = A\n"
	    "aws_secret_access_key = s\n", 0600);
	FAILS(NULL, "profile (no profile \"default\"", "container (", "imds (");
}

static void
test_creds_profile_named_but_missing_stops_the_chain(void **state)
{
	(void)state;
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/c", 1);
	FAILS("nosuch", "profile failed: no profile \"nosuch\"");
}

static void
test_creds_profile_without_credentials_is_passed_over(void **state)
{
	(void)state;
	write_file("config", "[default]\nregion = eu-west-1\n", 0600);
	FAILS(NULL, "profile (profile \"default\" has no credentials)");
}

static void
test_creds_profile_half_a_key_pair_is_an_error(void **state)
{
	(void)state;
	write_file("credentials", "[default]\naws_secret_access_key = "
	    SECRET_MARK "\n", 0600);
	FAILS(NULL, "profile failed:", "aws_secret_access_key without "
	    "aws_access_key_id");
}

static void
test_creds_profile_malformed_file_names_file_and_line(void **state)
{
	(void)state;
	write_file("credentials", "[default]\naws_access_key_id = A\n"
	    "aws_secret_access_key " SECRET_MARK "\n", 0600);
	FAILS(NULL, "profile failed:", "credentials: line 3");
}

static void
test_creds_profile_expands_tilde_in_file_variables(void **state)
{
	(void)state;
	write_file("credentials", "[default]\naws_access_key_id = AKIDHOME\n"
	    "aws_secret_access_key = s\n", 0600);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "~/credentials", 1);
	assert_source(NULL, "profile:default", "AKIDHOME");
}

static void
test_creds_profile_static_keys_beat_credential_process(void **state)
{
	(void)state;
	write_file("credentials", "[default]\naws_access_key_id = AKIDFILE\n"
	    "aws_secret_access_key = s\ncredential_process = /bin/false\n", 0600);
	assert_source(NULL, "profile:default", "AKIDFILE");
}

static void
test_creds_profile_credential_process_answers(void **state)
{
	const char *script;
	char cfg[1024];

	(void)state;
	script = write_file("proc.sh", "#!/bin/sh\n"
	    "echo '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROC\", "
	    "\"SecretAccessKey\": \"" SECRET_MARK "\", \"SessionToken\": \"t\", "
	    "\"Expiration\": \"2099-01-01T00:00:00Z\"}'\n", 0700);
	snprintf(cfg, sizeof(cfg), "[profile p]\ncredential_process = %s --flag "
	    "'quoted arg'\n", script);
	write_file("config", cfg, 0600);
	setenv("AWS_PROFILE", "p", 1);
	assert_source(NULL, "process:p", "AKIDPROC");
}

static void
test_creds_profile_credential_process_failure_names_profile(void **state)
{
	(void)state;
	write_file("config", "[default]\ncredential_process = /bin/sh -c 'exit 7'\n",
	    0600);
	FAILS(NULL, "profile failed: profile \"default\": credential_process",
	    "exit status 7");
}

static void
test_creds_profile_role_without_source_is_an_error(void **state)
{
	(void)state;
	write_file("config", "[default]\nrole_arn = arn:aws:iam::1:role/r\n", 0600);
	FAILS(NULL, "role_arn without source_profile");
}

static void
test_creds_profile_role_with_both_sources_is_an_error(void **state)
{
	(void)state;
	write_file("config", "[default]\nrole_arn = arn:aws:iam::1:role/r\n"
	    "source_profile = a\ncredential_source = Environment\n", 0600);
	FAILS(NULL, "both source_profile and credential_source");
}

static void
test_creds_profile_source_profile_loop_is_an_error(void **state)
{
	(void)state;
	write_file("config", "[profile a]\nrole_arn = arn:aws:iam::1:role/a\n"
	    "source_profile = b\n[profile b]\nrole_arn = arn:aws:iam::1:role/b\n"
	    "source_profile = a\n", 0600);
	setenv("AWS_PROFILE", "a", 1);
	FAILS(NULL, "source_profile loop through \"a\"");
}

static void
test_creds_profile_missing_source_profile_is_an_error(void **state)
{
	(void)state;
	write_file("config", "[default]\nrole_arn = arn:aws:iam::1:role/r\n"
	    "source_profile = gone\n", 0600);
	FAILS(NULL, "source profile \"gone\" not found");
}

static void
test_creds_profile_source_without_keys_is_an_error(void **state)
{
	(void)state;
	write_file("config", "[default]\nrole_arn = arn:aws:iam::1:role/r\n"
	    "source_profile = base\n[profile base]\nregion = x\n", 0600);
	FAILS(NULL, "profile \"base\" has no credentials");
}

static void
test_creds_profile_mfa_serial_is_refused(void **state)
{
	(void)state;
	write_file("config", "[default]\nrole_arn = arn:aws:iam::1:role/r\n"
	    "source_profile = base\nmfa_serial = arn:aws:iam::1:mfa/me\n"
	    "[profile base]\naws_access_key_id = A\naws_secret_access_key = s\n",
	    0600);
	FAILS(NULL, "mfa_serial");
}

static void
test_creds_profile_duration_seconds_is_checked(void **state)
{
	(void)state;
	write_file("config", "[default]\nrole_arn = arn:aws:iam::1:role/r\n"
	    "source_profile = base\nduration_seconds = 60\n"
	    "[profile base]\naws_access_key_id = A\naws_secret_access_key = s\n",
	    0600);
	FAILS(NULL, "duration_seconds must be 900..43200");
}

static void
test_creds_profile_role_reaches_sts_with_source_keys(void **state)
{
	(void)state;
	/* No STS client in a unit test: reaching "no AWS client" shows the
	 * source was resolved and AssumeRole was next. */
	write_file("config", "[default]\nrole_arn = arn:aws:iam::1:role/r\n"
	    "source_profile = base\n[profile base]\naws_access_key_id = A\n"
	    "aws_secret_access_key = " SECRET_MARK "\n", 0600);
	FAILS(NULL, "STS AssumeRole", "no AWS client");
}

static void
test_creds_profile_self_source_uses_its_own_keys(void **state)
{
	(void)state;
	write_file("credentials", "[default]\nrole_arn = arn:aws:iam::1:role/r\n"
	    "source_profile = default\naws_access_key_id = A\n"
	    "aws_secret_access_key = " SECRET_MARK "\n", 0600);
	FAILS(NULL, "STS AssumeRole", "no AWS client");
	write_file("credentials", "[default]\nrole_arn = arn:aws:iam::1:role/r\n"
	    "source_profile = default\n", 0600);
	FAILS(NULL, "is its own source_profile but has no keys");
}

static void
test_creds_profile_credential_source_must_be_known(void **state)
{
	(void)state;
	write_file("config", "[default]\nrole_arn = arn:aws:iam::1:role/r\n"
	    "credential_source = Somewhere\n", 0600);
	FAILS(NULL, "credential_source \"Somewhere\" is not");
}

static void
test_creds_profile_credential_source_environment_needs_keys(void **state)
{
	(void)state;
	write_file("config", "[default]\nrole_arn = arn:aws:iam::1:role/r\n"
	    "credential_source = Environment\n", 0600);
	FAILS(NULL, "credential_source Environment: no AWS_ACCESS_KEY_ID");
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", SECRET_MARK, 1);
	/* The env provider answers first in the chain itself. */
	assert_source(NULL, "env", "AKIDENV");
}

static void
test_creds_profile_web_identity_token_file(void **state)
{
	char cfg[512];

	(void)state;
	snprintf(cfg, sizeof(cfg), "[default]\nrole_arn = arn:aws:iam::1:role/w\n"
	    "web_identity_token_file = %s\n", tpath("token"));
	write_file("config", cfg, 0600);
	FAILS(NULL, "web identity token file", "does not exist");
	write_file("token", "jwt", 0600);
	FAILS(NULL, "AssumeRoleWithWebIdentity", "no AWS client");
}

/* ---- web identity from the environment ------------------------------------ */

static void
test_creds_webid_token_file_without_role_is_an_error(void **state)
{
	(void)state;
	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", write_file("token", "jwt", 0600), 1);
	FAILS(NULL, "web-identity failed: AWS_WEB_IDENTITY_TOKEN_FILE set "
	    "without AWS_ROLE_ARN");
}

static void
test_creds_webid_role_alone_is_not_configured(void **state)
{
	(void)state;
	setenv("AWS_ROLE_ARN", "arn:aws:iam::1:role/w", 1);
	FAILS(NULL, "web-identity (no AWS_WEB_IDENTITY_TOKEN_FILE)");
}

static void
test_creds_webid_empty_token_file_is_an_error(void **state)
{
	(void)state;
	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", write_file("token", " \n", 0600), 1);
	setenv("AWS_ROLE_ARN", "arn:aws:iam::1:role/w", 1);
	FAILS(NULL, "web-identity failed:", "is empty");
}

/* ---- region ----------------------------------------------------------------- */

static void
assert_region(const char *profile, const char *want)
{
	char r[64];

	memset(r, 'x', sizeof(r));
	profile_region(profile, r, sizeof(r));
	assert_string_equal(r, want);
}

static void
test_creds_region_order_is_env_then_default_env_then_profile(void **state)
{
	(void)state;
	write_file("config", "[default]\nregion = eu-west-3\n", 0600);
	setenv("AWS_REGION", "us-east-2", 1);
	setenv("AWS_DEFAULT_REGION", "ap-south-1", 1);
	assert_region(NULL, "us-east-2");
	unsetenv("AWS_REGION");
	assert_region(NULL, "ap-south-1");
	unsetenv("AWS_DEFAULT_REGION");
	assert_region(NULL, "eu-west-3");
}

static void
test_creds_region_reads_the_named_profile(void **state)
{
	(void)state;
	write_file("config", "[default]\nregion = eu-west-3\n[profile dev]\n"
	    "region = sa-east-1\n[ops]\nregion = af-south-1\n", 0600);
	assert_region("dev", "sa-east-1");
	setenv("AWS_PROFILE", "dev", 1);
	assert_region(NULL, "sa-east-1");
	assert_region("", "sa-east-1");
	assert_region("default", "eu-west-3");
	assert_region("ops", "");
}

static void
test_creds_region_ignores_the_credentials_file(void **state)
{
	(void)state;
	write_file("credentials", "[default]\nregion = eu-west-3\n", 0600);
	assert_region(NULL, "");
}

static void
test_creds_region_skips_values_that_are_not_region_names(void **state)
{
	(void)state;
	write_file("config", "[default]\nregion = eu-west-1\n", 0600);
	setenv("AWS_REGION", "evil.example.com/", 1);
	assert_region(NULL, "eu-west-1");
	unsetenv("AWS_REGION");
	write_file("config", "[default]\nregion = a b\n", 0600);
	assert_region(NULL, "");
}

static void
test_creds_region_is_empty_without_any_source(void **state)
{
	(void)state;
	assert_region(NULL, "");
}

/* ---- shlex ------------------------------------------------------------------ */

static void
assert_split(const char *cmd, const char *const *want)
{
	char **argv = NULL;
	size_t argc = 0, n = 0;
	struct poky_error e;

	if (creds_shlex_split(cmd, &argv, &argc, &e) != POKY_OK)
		fail_msg("split of [%s] failed: %s", cmd, e.message);
	while (want[n] != NULL)
		n++;
	if (argc != n)
		fail_msg("split of [%s]: %zu words, want %zu", cmd, argc, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(argv[i], want[i]);
	assert_null(argv[argc]);
	free(argv);
}

#define SPLITS(cmd, ...) \
	assert_split(cmd, (const char *const[]){ __VA_ARGS__, NULL })

static void
split_fails(const char *cmd, enum poky_err want, const char *part)
{
	char **argv = (char **)1;
	size_t argc = 1;
	struct poky_error e;

	assert_int_equal(creds_shlex_split(cmd, &argv, &argc, &e), want);
	assert_null(argv);
	assert_int_equal(argc, 0);
	assert_has(e.message, part);
}

/* Expected words are Python's shlex.split of the same text. */
static void
test_creds_shlex_splits_on_blanks(void **state)
{
	(void)state;
	SPLITS("a b  c", "a", "b", "c");
	SPLITS("  x\ty\nz  ", "x", "y", "z");
	SPLITS("/usr/bin/tool", "/usr/bin/tool");
}

static void
test_creds_shlex_single_quotes_are_literal(void **state)
{
	(void)state;
	SPLITS("'a b' c", "a b", "c");
	SPLITS("'a\\b'", "a\\b");
	SPLITS("'it'\\''s'", "it's");
}

static void
test_creds_shlex_double_quotes_escape_only_quote_and_backslash(void **state)
{
	(void)state;
	SPLITS("\"a \\\"b\\\" c\"", "a \"b\" c");
	SPLITS("\"a\\nb\"", "a\\nb");
	SPLITS("\"a\\$b\"", "a\\$b");
	SPLITS("\"\\\\\"", "\\");
	SPLITS("/bin/echo \"{\\\"Version\\\": 1}\"", "/bin/echo", "{\"Version\": 1}");
}

static void
test_creds_shlex_backslash_outside_quotes_escapes_anything(void **state)
{
	(void)state;
	SPLITS("a\\ b", "a b");
	SPLITS("a\\\\b", "a\\b");
	SPLITS("\\\"", "\"");
	SPLITS("a\\\nb", "a\nb");
}

static void
test_creds_shlex_joins_adjacent_quoted_parts(void **state)
{
	(void)state;
	SPLITS("a''b", "ab");
	SPLITS("a\"b c\"d", "ab cd");
}

static void
test_creds_shlex_empty_quotes_make_an_empty_word(void **state)
{
	(void)state;
	SPLITS("''", "");
	SPLITS("a \"\" b", "a", "", "b");
}

static void
test_creds_shlex_hash_is_not_a_comment(void **state)
{
	(void)state;
	SPLITS("#notacomment x", "#notacomment", "x");
	SPLITS("a # b", "a", "#", "b");
}

static void
test_creds_shlex_rejects_unclosed_quotes_and_trailing_backslash(void **state)
{
	(void)state;
	split_fails("'abc", POKY_ERR_INVALID, "no closing quotation");
	split_fails("\"abc", POKY_ERR_INVALID, "no closing quotation");
	split_fails("abc\\", POKY_ERR_INVALID, "no character after");
}

static void
test_creds_shlex_rejects_empty_and_overlong_commands(void **state)
{
	char big[CREDS_PROCESS_MAX_COMMAND + 2];

	(void)state;
	split_fails("", POKY_ERR_INVALID, "empty command");
	split_fails(" \t\n", POKY_ERR_INVALID, "empty command");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	split_fails(big, POKY_ERR_LIMIT, "longer than");
}

static void
test_creds_shlex_handles_the_most_words_that_fit(void **state)
{
	char cmd[2 * 600 + 1];
	char **argv = NULL;
	size_t argc = 0;
	struct poky_error e;

	(void)state;
	for (int i = 0; i < 600; i++) {
		cmd[2 * i] = 'w';
		cmd[2 * i + 1] = ' ';
	}
	cmd[sizeof(cmd) - 1] = '\0';
	assert_int_equal(creds_shlex_split(cmd, &argv, &argc, &e), POKY_OK);
	assert_int_equal(argc, 600);
	free(argv);
	/* Empty quoted words are the densest: two characters and a blank. */
	for (int i = 0; i < 400; i++)
		memcpy(cmd + 3 * i, "'' ", 3);
	cmd[1200] = '\0';
	assert_int_equal(creds_shlex_split(cmd, &argv, &argc, &e), POKY_OK);
	assert_int_equal(argc, 400);
	free(argv);
}

/* ---- credential_process output -------------------------------------------- */

static enum poky_err
parse_process(const char *json, struct aws_creds *c, struct poky_error *e)
{
	enum poky_err rc = creds_process_parse(json, strlen(json), "process:t",
	    c, e);

	if (rc != POKY_OK) {
		assert_lacks(e->message, SECRET_MARK);
		assert_string_equal(c->access_key_id, "");
	}
	return rc;
}

static void
test_creds_process_parse_reads_version_1(void **state)
{
	struct aws_creds c;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse_process("{\"Version\": 1, \"AccessKeyId\": \"AK\", "
	    "\"SecretAccessKey\": \"" SECRET_MARK "\", \"SessionToken\": \"T\", "
	    "\"Expiration\": \"2030-01-02T03:04:05Z\"}", &c, &e), POKY_OK);
	assert_string_equal(c.access_key_id, "AK");
	assert_string_equal(c.secret_access_key, SECRET_MARK);
	assert_string_equal(c.session_token, "T");
	assert_int_equal(c.expiration, 1893553445);
	assert_string_equal(c.source, "process:t");
}

static void
test_creds_process_parse_token_and_expiration_are_optional(void **state)
{
	struct aws_creds c;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse_process("{\"Version\": 1, \"AccessKeyId\": \"AK\", "
	    "\"SecretAccessKey\": \"S\"}", &c, &e), POKY_OK);
	assert_string_equal(c.session_token, "");
	assert_int_equal(c.expiration, 0);
}

static void
test_creds_process_parse_rejects_other_versions(void **state)
{
	struct aws_creds c;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse_process("{\"Version\": 2, \"AccessKeyId\": \"AK\", "
	    "\"SecretAccessKey\": \"" SECRET_MARK "\"}", &c, &e), POKY_ERR_INVALID);
	assert_has(e.message, "Version is not 1");
	assert_int_equal(parse_process("{\"Version\": \"1\", \"AccessKeyId\": "
	    "\"AK\", \"SecretAccessKey\": \"" SECRET_MARK "\"}", &c, &e),
	    POKY_ERR_INVALID);
	assert_int_equal(parse_process("{\"AccessKeyId\": \"AK\", "
	    "\"SecretAccessKey\": \"" SECRET_MARK "\"}", &c, &e), POKY_ERR_INVALID);
	assert_has(e.message, "no Version");
}

static void
test_creds_process_parse_names_missing_fields(void **state)
{
	struct aws_creds c;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse_process("{\"Version\": 1, \"SecretAccessKey\": \""
	    SECRET_MARK "\"}", &c, &e), POKY_ERR_INVALID);
	assert_has(e.message, "no AccessKeyId");
	assert_int_equal(parse_process("{\"Version\": 1, \"AccessKeyId\": \"AK\"}",
	    &c, &e), POKY_ERR_INVALID);
	assert_has(e.message, "no SecretAccessKey");
	assert_int_equal(parse_process("{\"Version\": 1, \"AccessKeyId\": 5, "
	    "\"SecretAccessKey\": \"" SECRET_MARK "\"}", &c, &e), POKY_ERR_INVALID);
	assert_has(e.message, "AccessKeyId is not a string");
}

static void
test_creds_process_parse_rejects_bad_expiration(void **state)
{
	struct aws_creds c;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse_process("{\"Version\": 1, \"AccessKeyId\": \"AK\", "
	    "\"SecretAccessKey\": \"" SECRET_MARK "\", \"Expiration\": \"soon\"}",
	    &c, &e), POKY_ERR_INVALID);
	assert_has(e.message, "Expiration");
}

static void
test_creds_process_parse_rejects_non_objects_without_quoting(void **state)
{
	struct aws_creds c;
	struct poky_error e;

	(void)state;
	assert_int_equal(parse_process("[1, 2]", &c, &e), POKY_ERR_INVALID);
	assert_int_equal(parse_process("{\"SecretAccessKey\": \"" SECRET_MARK
	    "\" oops", &c, &e), POKY_ERR_INVALID);
	assert_has(e.message, "not JSON");
	assert_int_equal(parse_process("", &c, &e), POKY_ERR_INVALID);
	assert_int_equal(parse_process("{\"Version\": 1, \"Version\": 1}", &c, &e),
	    POKY_ERR_INVALID);
}

/* ---- credential_process runs ------------------------------------------------ */

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
test_creds_process_run_reads_stdout_without_a_shell(void **state)
{
	struct aws_creds c;
	struct poky_error e;

	(void)state;
	/* $HOME, ; and | would mean something to a shell. */
	assert_int_equal(creds_process_run("/bin/echo '{\"Version\": 1, "
	    "\"AccessKeyId\": \"AK$HOME;|\", \"SecretAccessKey\": \"S\"}'",
	    5000, "process:t", &c, &e), POKY_OK);
	assert_string_equal(c.access_key_id, "AK$HOME;|");
	assert_string_equal(c.source, "process:t");
	creds_clear(&c);
}

static void
test_creds_process_run_reports_exit_status(void **state)
{
	struct aws_creds c;
	struct poky_error e;

	(void)state;
	assert_int_equal(creds_process_run("/bin/sh -c 'exit 3'", 5000, "p", &c,
	    &e), POKY_ERR_IO);
	assert_has(e.message, "exit status 3");
	assert_int_equal(creds_process_run("/bin/sh -c 'kill -9 $$'", 5000, "p",
	    &c, &e), POKY_ERR_IO);
	assert_has(e.message, "killed by signal 9");
}

static void
test_creds_process_run_reports_a_missing_program(void **state)
{
	struct aws_creds c;
	struct poky_error e;

	(void)state;
	assert_int_equal(creds_process_run("/nonexistent/poky-helper --secret "
	    SECRET_MARK, 5000, "p", &c, &e), POKY_ERR_IO);
	assert_has(e.message, "cannot run /nonexistent/poky-helper");
	assert_lacks(e.message, SECRET_MARK);
}

static void
test_creds_process_run_kills_on_timeout(void **state)
{
	struct aws_creds c;
	struct poky_error e;
	long long t0 = now_ms();

	(void)state;
	assert_int_equal(creds_process_run("/bin/sleep 10", 200, "p", &c, &e),
	    POKY_ERR_TRANSIENT);
	assert_true(e.timeout);
	assert_has(e.message, "no answer in 200 ms, killed");
	assert_true(now_ms() - t0 < 3000);
}

static void
test_creds_process_run_caps_output_at_64_kib(void **state)
{
	struct aws_creds c;
	struct poky_error e;
	long long t0 = now_ms();

	(void)state;
	assert_int_equal(creds_process_run("/bin/sh -c 'head -c 70000 /dev/zero; "
	    "sleep 10'", 5000, "p", &c, &e), POKY_ERR_LIMIT);
	assert_has(e.message, "more than 65536 bytes");
	assert_true(now_ms() - t0 < 3000);
}

static void
test_creds_process_run_rejects_bad_output(void **state)
{
	struct aws_creds c;
	struct poky_error e;

	(void)state;
	assert_int_equal(creds_process_run("/bin/echo " SECRET_MARK, 5000, "p", &c,
	    &e), POKY_ERR_INVALID);
	assert_lacks(e.message, SECRET_MARK);
	assert_int_equal(creds_process_run("/bin/true", 5000, "p", &c, &e),
	    POKY_ERR_INVALID);
}

static void
test_creds_process_child_gets_no_extra_descriptors(void **state)
{
	struct aws_creds c;
	struct poky_error e;
	FILE *f = fopen(tpath("credentials"), "w");      /* fd 3 or above */

	(void)state;
	assert_non_null(f);
	/* ls of /proc/self/fd lists 0, 1, 2 and the directory it reads. */
	assert_int_equal(creds_process_run("/bin/sh -c '"
	    "n=$(ls /proc/self/fd | wc -l); "
	    "echo {\\\"Version\\\":1,\\\"AccessKeyId\\\":\\\"FD$n\\\","
	    "\\\"SecretAccessKey\\\":\\\"s\\\"}'", 5000, "p", &c, &e), POKY_OK);
	fclose(f);
	assert_string_equal(c.access_key_id, "FD4");
}

/* ---- container ------------------------------------------------------------- */

static void
url_allowed(const char *url)
{
	struct poky_error e;

	if (creds_container_url_check(url, &e) != POKY_OK)
		fail_msg("%s refused: %s", url, e.message);
}

static void
url_refused(const char *url)
{
	struct poky_error e;

	if (creds_container_url_check(url, &e) == POKY_OK)
		fail_msg("%s allowed", url);
	assert_int_equal(e.code, POKY_ERR_INVALID);
}

static void
test_creds_container_full_uri_allows_https_anywhere(void **state)
{
	(void)state;
	url_allowed("https://example.com/creds");
	url_allowed("https://10.1.2.3:8443/creds");
}

static void
test_creds_container_full_uri_allows_loopback_over_http(void **state)
{
	(void)state;
	url_allowed("http://127.0.0.1/creds");
	url_allowed("http://127.0.0.1:51679/creds");
	url_allowed("http://127.250.3.4/x");
	url_allowed("http://[::1]:8080/x");
	url_allowed("http://localhost:8080/x");
	url_allowed("http://2130706433/x");             /* curl: 127.0.0.1 */
	url_allowed("http://[::ffff:127.0.0.1]/x");
}

static void
test_creds_container_full_uri_allows_ecs_and_eks_link_local(void **state)
{
	(void)state;
	url_allowed("http://169.254.170.2/v2/credentials/x");
	url_allowed("http://169.254.170.23/v1/credentials");
	url_allowed("http://[fd00:ec2::23]/v1/credentials");
}

static void
test_creds_container_full_uri_refuses_other_http_hosts(void **state)
{
	(void)state;
	url_refused("http://10.0.0.1/creds");
	url_refused("http://169.254.169.254/latest/meta-data/");
	url_refused("http://169.254.170.3/x");
	url_refused("http://128.0.0.1/x");
	url_refused("http://[fd00:ec2::24]/x");
	url_refused("http://[::2]/x");
	url_refused("http://example.com/x");
	url_refused("http://167772161/x");             /* 10.0.0.1 */
}

static void
test_creds_container_full_uri_refuses_other_schemes_and_junk(void **state)
{
	(void)state;
	url_refused("ftp://127.0.0.1/x");
	url_refused("file:///etc/passwd");
	url_refused("not a url");
	url_refused("");
}

static void
test_creds_container_relative_uri_goes_to_the_ecs_agent(void **state)
{
	char url[256];
	struct poky_error e;

	(void)state;
	setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc", 1);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1/ignored", 1);
	assert_int_equal(creds_container_url(url, sizeof(url), &e), POKY_OK);
	assert_string_equal(url, "http://169.254.170.2/v2/credentials/abc");
	setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "v2/x", 1);
	assert_int_equal(creds_container_url(url, sizeof(url), &e),
	    POKY_ERR_INVALID);
}

static void
test_creds_container_url_from_full_uri(void **state)
{
	char url[256];
	struct poky_error e;

	(void)state;
	assert_int_equal(creds_container_url(url, sizeof(url), &e),
	    POKY_ERR_NOTFOUND);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/c", 1);
	assert_int_equal(creds_container_url(url, sizeof(url), &e), POKY_OK);
	assert_string_equal(url, "http://127.0.0.1:9/c");
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.0.0.1/c", 1);
	assert_int_equal(creds_container_url(url, sizeof(url), &e),
	    POKY_ERR_INVALID);
}

static void
test_creds_container_refuses_tokens_with_line_breaks(void **state)
{
	struct aws_creds c;
	struct poky_error e;

	(void)state;
	/* Port 1: refused at once if the token check ever let it through. */
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/c", 1);
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "tok\r\nX-Evil: 1", 1);
	assert_int_equal(creds_container_get(NULL, NULL, &c, &e), POKY_ERR_INVALID);
	assert_has(e.message, "line break");
	unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	    write_file("authtoken", "tok\n", 0600), 1);
	assert_int_equal(creds_container_get(NULL, NULL, &c, &e), POKY_ERR_INVALID);
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tpath("nosuchfile"), 1);
	assert_int_equal(creds_container_get(NULL, NULL, &c, &e), POKY_ERR_IO);
	assert_has(e.message, "does not exist");
}

static void
test_creds_container_unreachable_endpoint_is_an_error(void **state)
{
	struct aws_creds c;
	struct poky_error e;

	(void)state;
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/c", 1);
	assert_int_equal(creds_container_get(NULL, NULL, &c, &e),
	    POKY_ERR_TRANSIENT);
}

/* ---- IMDS ------------------------------------------------------------------ */

static void
assert_imds_endpoint(const char *want)
{
	char url[256];
	struct poky_error e;

	assert_int_equal(creds_imds_endpoint(url, sizeof(url), &e), POKY_OK);
	assert_string_equal(url, want);
}

static void
test_creds_imds_endpoint_defaults_to_ipv4_link_local(void **state)
{
	(void)state;
	assert_imds_endpoint("http://169.254.169.254");
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "ipv4", 1);
	assert_imds_endpoint("http://169.254.169.254");
}

static void
test_creds_imds_endpoint_mode_ipv6(void **state)
{
	(void)state;
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6", 1);
	assert_imds_endpoint("http://[fd00:ec2::254]");
}

static void
test_creds_imds_endpoint_variable_wins_and_loses_trailing_slash(void **state)
{
	char url[256];
	struct poky_error e;

	(void)state;
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6", 1);
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:8111//", 1);
	assert_imds_endpoint("http://127.0.0.1:8111");
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "127.0.0.1", 1);
	assert_int_equal(creds_imds_endpoint(url, sizeof(url), &e),
	    POKY_ERR_INVALID);
}

static void
test_creds_imds_endpoint_rejects_unknown_mode(void **state)
{
	char url[256];
	struct poky_error e;

	(void)state;
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv5", 1);
	assert_int_equal(creds_imds_endpoint(url, sizeof(url), &e),
	    POKY_ERR_INVALID);
}

static void
test_creds_imds_disabled_is_not_configured(void **state)
{
	struct aws_creds c;
	struct poky_error e;

	(void)state;
	setenv("AWS_EC2_METADATA_DISABLED", "TRUE", 1);
	assert_int_equal(creds_imds_get(&(struct creds_ctx){ 0 }, NULL, &c, &e),
	    POKY_ERR_NOTFOUND);
	assert_has(e.message, "AWS_EC2_METADATA_DISABLED");
}

/* ---- the cache and its refresh windows (stand-in providers) --------------- */

struct fake {
	pthread_mutex_t lock;
	const char *name;
	enum poky_err answer;           /* what the next calls return */
	time_t expiration;
	int calls;
	int delay_ms;
	const char *reason;
};

static enum poky_err
fake_get(const struct creds_ctx *ctx, void *ud, struct aws_creds *out,
	 struct poky_error *e)
{
	struct fake *f = ud;
	char akid[64];
	enum poky_err answer;
	int n;

	(void)ctx;
	pthread_mutex_lock(&f->lock);
	n = ++f->calls;
	answer = f->answer;
	pthread_mutex_unlock(&f->lock);
	if (f->delay_ms > 0)
		usleep((useconds_t)f->delay_ms * 1000);
	if (answer != POKY_OK) {
		poky_error_set(e, answer, "%s",
		    f->reason ? f->reason : "stand-in says no");
		if (answer == POKY_ERR_TRANSIENT) {
			e->retryable = 1;
			e->http_status = 400;
			snprintf(e->aws_code, sizeof(e->aws_code), "Throttling");
		}
		return answer;
	}
	snprintf(akid, sizeof(akid), "AKID%s%d", f->name, n);
	return creds_set(out, f->name, akid, SECRET_MARK, "tok", f->expiration,
	    "fake", e);
}

static struct fake *
fake_new(const char *name, enum poky_err answer, time_t exp)
{
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	pthread_mutex_init(&f->lock, NULL);
	f->name = name;
	f->answer = answer;
	f->expiration = exp;
	return f;
}

static void
fake_free(struct fake *f)
{
	pthread_mutex_destroy(&f->lock);
	free(f);
}

static time_t fake_now;

static time_t
fake_clock(void *ud)
{
	(void)ud;
	return __atomic_load_n(&fake_now, __ATOMIC_SEQ_CST);
}

#define T0 ((time_t)2000000000)

static struct creds_chain *
chain_with(struct creds_provider *p, size_t n)
{
	struct creds_chain *ch = creds_chain_new(&(struct creds_chain_config){ 0 });

	assert_non_null(ch);
	fake_now = T0;
	creds_chain_set_clock(ch, fake_clock, NULL);
	creds_chain_set_providers(ch, p, n);
	return ch;
}

static const char *
get_akid(struct creds_chain *ch, char out[CREDS_KEY_MAX])
{
	struct aws_creds c;
	struct poky_error e;

	if (creds_get(ch, &c, &e) != POKY_OK)
		fail_msg("creds_get failed: %s", e.message);
	memcpy(out, c.access_key_id, CREDS_KEY_MAX);
	creds_clear(&c);
	return out;
}

static void
test_creds_cache_answers_without_asking_again(void **state)
{
	struct fake *f = fake_new("a", POKY_OK, T0 + 3600);
	struct creds_provider p[] = { { "a", fake_get, f } };
	struct creds_chain *ch = chain_with(p, 1);
	char k[CREDS_KEY_MAX];

	(void)state;
	assert_string_equal(get_akid(ch, k), "AKIDa1");
	fake_now = T0 + 3600 - CREDS_ADVISORY_REFRESH - 1;
	assert_string_equal(get_akid(ch, k), "AKIDa1");
	assert_int_equal(f->calls, 1);
	creds_chain_free(ch);
	fake_free(f);
}

static void
test_creds_cache_refreshes_in_the_advisory_window(void **state)
{
	struct fake *f = fake_new("a", POKY_OK, T0 + 3600);
	struct creds_provider p[] = { { "a", fake_get, f } };
	struct creds_chain *ch = chain_with(p, 1);
	char k[CREDS_KEY_MAX];

	(void)state;
	get_akid(ch, k);
	f->expiration = T0 + 7200;
	fake_now = T0 + 3600 - CREDS_ADVISORY_REFRESH;
	assert_string_equal(get_akid(ch, k), "AKIDa2");
	assert_string_equal(get_akid(ch, k), "AKIDa2");
	assert_int_equal(f->calls, 2);
	creds_chain_free(ch);
	fake_free(f);
}

static void
test_creds_cache_keeps_creds_when_an_advisory_refresh_fails(void **state)
{
	struct fake *f = fake_new("a", POKY_OK, T0 + 3600);
	struct creds_provider p[] = { { "a", fake_get, f } };
	struct creds_chain *ch = chain_with(p, 1);
	char k[CREDS_KEY_MAX];

	(void)state;
	get_akid(ch, k);
	f->answer = POKY_ERR_TRANSIENT;
	fake_now = T0 + 3600 - CREDS_ADVISORY_REFRESH + 10;
	assert_string_equal(get_akid(ch, k), "AKIDa1");
	assert_int_equal(f->calls, 2);
	/* No new attempt right after a failure ... */
	assert_string_equal(get_akid(ch, k), "AKIDa1");
	assert_int_equal(f->calls, 2);
	/* ... but again once the pause is over. */
	fake_now += CREDS_RETRY_SECONDS;
	f->answer = POKY_OK;
	assert_string_equal(get_akid(ch, k), "AKIDa3");
	creds_chain_free(ch);
	fake_free(f);
}

static void
test_creds_cache_keeps_valid_creds_when_a_mandatory_refresh_fails(void **state)
{
	struct fake *f = fake_new("a", POKY_OK, T0 + 3600);
	struct creds_provider p[] = { { "a", fake_get, f } };
	struct creds_chain *ch = chain_with(p, 1);
	char k[CREDS_KEY_MAX];

	(void)state;
	get_akid(ch, k);
	f->answer = POKY_ERR_TRANSIENT;
	fake_now = T0 + 3600 - CREDS_MANDATORY_REFRESH;
	assert_string_equal(get_akid(ch, k), "AKIDa1");
	assert_int_equal(f->calls, 2);
	creds_chain_free(ch);
	fake_free(f);
}

static void
test_creds_cache_fails_when_expired_and_refresh_fails(void **state)
{
	struct fake *f = fake_new("a", POKY_OK, T0 + 3600);
	struct creds_provider p[] = { { "a", fake_get, f } };
	struct creds_chain *ch = chain_with(p, 1);
	struct aws_creds c;
	struct poky_error e;
	char k[CREDS_KEY_MAX];

	(void)state;
	get_akid(ch, k);
	f->answer = POKY_ERR_REMOTE;
	f->reason = "STS said AccessDenied";
	fake_now = T0 + 3600;
	assert_int_equal(creds_get(ch, &c, &e), POKY_ERR_AUTH);
	assert_has(e.message, "a failed: STS said AccessDenied");
	assert_string_equal(c.access_key_id, "");
	creds_chain_free(ch);
	fake_free(f);
}

static void
test_creds_cache_never_refreshes_long_term_keys(void **state)
{
	struct fake *f = fake_new("a", POKY_OK, 0);
	struct creds_provider p[] = { { "a", fake_get, f } };
	struct creds_chain *ch = chain_with(p, 1);
	char k[CREDS_KEY_MAX];

	(void)state;
	get_akid(ch, k);
	fake_now = T0 + 86400 * 365;
	assert_string_equal(get_akid(ch, k), "AKIDa1");
	assert_int_equal(f->calls, 1);
	creds_chain_free(ch);
	fake_free(f);
}

static void
test_creds_invalidate_forgets_the_cache(void **state)
{
	struct fake *f = fake_new("a", POKY_OK, 0);
	struct creds_provider p[] = { { "a", fake_get, f } };
	struct creds_chain *ch = chain_with(p, 1);
	char k[CREDS_KEY_MAX];

	(void)state;
	get_akid(ch, k);
	creds_invalidate(ch);
	assert_string_equal(get_akid(ch, k), "AKIDa2");
	creds_chain_free(ch);
	fake_free(f);
}

static void
test_creds_refresh_asks_only_the_provider_that_answered(void **state)
{
	struct fake *a = fake_new("a", POKY_ERR_NOTFOUND, 0);
	struct fake *b = fake_new("b", POKY_OK, T0 + 3600);
	struct creds_provider p[] = { { "a", fake_get, a }, { "b", fake_get, b } };
	struct creds_chain *ch = chain_with(p, 2);
	char k[CREDS_KEY_MAX];

	(void)state;
	assert_string_equal(get_akid(ch, k), "AKIDb1");
	fake_now = T0 + 3600 - 1;
	assert_string_equal(get_akid(ch, k), "AKIDb2");
	assert_int_equal(a->calls, 1);
	assert_int_equal(b->calls, 2);
	creds_chain_free(ch);
	fake_free(a);
	fake_free(b);
}

static void
test_creds_refresh_walks_the_chain_when_its_provider_is_gone(void **state)
{
	struct fake *a = fake_new("a", POKY_ERR_NOTFOUND, 0);
	struct fake *b = fake_new("b", POKY_OK, T0 + 3600);
	struct creds_provider p[] = { { "a", fake_get, a }, { "b", fake_get, b } };
	struct creds_chain *ch = chain_with(p, 2);
	struct aws_creds c;
	struct poky_error e;
	char k[CREDS_KEY_MAX];

	(void)state;
	get_akid(ch, k);
	b->answer = POKY_ERR_NOTFOUND;
	a->answer = POKY_OK;
	fake_now = T0 + 3600;
	assert_int_equal(creds_get(ch, &c, &e), POKY_OK);
	assert_string_equal(c.source, "a");
	creds_chain_free(ch);
	fake_free(a);
	fake_free(b);
}

static void
test_creds_chain_stops_at_a_provider_that_fails(void **state)
{
	struct fake *a = fake_new("first", POKY_ERR_NOTFOUND, 0);
	struct fake *b = fake_new("second", POKY_ERR_INVALID, 0);
	struct fake *c3 = fake_new("third", POKY_OK, 0);
	struct creds_provider p[] = { { "first", fake_get, a },
		{ "second", fake_get, b }, { "third", fake_get, c3 } };
	struct creds_chain *ch = chain_with(p, 3);
	struct aws_creds c;
	struct poky_error e;

	(void)state;
	a->reason = "not here";
	b->reason = "broken setup";
	assert_int_equal(creds_get(ch, &c, &e), POKY_ERR_AUTH);
	assert_string_equal(e.message, "no AWS credentials: first (not here); "
	    "second failed: broken setup");
	assert_int_equal(c3->calls, 0);
	creds_chain_free(ch);
	fake_free(a);
	fake_free(b);
	fake_free(c3);
}

static void
test_creds_chain_error_keeps_aws_code_and_retryable(void **state)
{
	struct fake *a = fake_new("a", POKY_ERR_TRANSIENT, 0);
	struct creds_provider p[] = { { "a", fake_get, a } };
	struct creds_chain *ch = chain_with(p, 1);
	struct aws_creds c;
	struct poky_error e;

	(void)state;
	/* The stand-in fails like a throttled STS. */
	assert_int_equal(creds_get(ch, &c, &e), POKY_ERR_AUTH);
	assert_int_equal(e.code, POKY_ERR_AUTH);
	assert_true(e.retryable);
	assert_string_equal(e.aws_code, "Throttling");
	assert_int_equal(e.http_status, 400);
	creds_chain_free(ch);
	fake_free(a);
}

static void
test_creds_chain_error_names_all_providers_even_with_long_reasons(void **state)
{
	static const char *const names[] = { "env", "web-identity", "profile",
		"container", "imds" };
	struct fake *f[5];
	struct creds_provider p[5];
	struct creds_chain *ch;
	struct aws_creds c;
	struct poky_error e;

	(void)state;
	for (int i = 0; i < 5; i++) {
		f[i] = fake_new(names[i], POKY_ERR_NOTFOUND, 0);
		f[i]->reason = "a very long reason that goes on and on about "
		    "files and variables and paths /home/someone/.aws/config";
		p[i] = (struct creds_provider){ names[i], fake_get, f[i] };
	}
	ch = chain_with(p, 5);
	assert_int_equal(creds_get(ch, &c, &e), POKY_ERR_AUTH);
	for (int i = 0; i < 5; i++) {
		char want[32];

		snprintf(want, sizeof(want), "%s (a very", names[i]);
		assert_has(e.message, want);
	}
	assert_has(e.message, "...)");
	assert_true(strlen(e.message) < POKY_ERR_MSG_MAX);
	creds_chain_free(ch);
	for (int i = 0; i < 5; i++)
		fake_free(f[i]);
}

struct getter {
	struct creds_chain *ch;
	enum poky_err rc;
	char akid[CREDS_KEY_MAX];
	long long ms;
};

static void *
getter_run(void *ud)
{
	struct getter *g = ud;
	struct aws_creds c;
	struct poky_error e;
	long long t0 = now_ms();

	g->rc = creds_get(g->ch, &c, &e);
	g->ms = now_ms() - t0;
	memcpy(g->akid, c.access_key_id, sizeof(g->akid));
	creds_clear(&c);
	return NULL;
}

static void
test_creds_threads_without_creds_wait_for_one_resolution(void **state)
{
	struct fake *f = fake_new("a", POKY_OK, T0 + 3600);
	struct creds_provider p[] = { { "a", fake_get, f } };
	struct creds_chain *ch = chain_with(p, 1);
	struct getter g[8];
	pthread_t t[8];

	(void)state;
	f->delay_ms = 200;
	for (int i = 0; i < 8; i++) {
		g[i].ch = ch;
		assert_int_equal(pthread_create(&t[i], NULL, getter_run, &g[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(g[i].rc, POKY_OK);
		assert_string_equal(g[i].akid, "AKIDa1");
	}
	assert_int_equal(f->calls, 1);
	creds_chain_free(ch);
	fake_free(f);
}

static void
test_creds_threads_in_advisory_window_do_not_wait(void **state)
{
	struct fake *f = fake_new("a", POKY_OK, T0 + 3600);
	struct creds_provider p[] = { { "a", fake_get, f } };
	struct creds_chain *ch = chain_with(p, 1);
	struct getter slow = { .ch = ch }, quick = { .ch = ch };
	pthread_t t;
	char k[CREDS_KEY_MAX];

	(void)state;
	get_akid(ch, k);
	f->delay_ms = 500;
	f->expiration = T0 + 7200;
	__atomic_store_n(&fake_now, T0 + 3600 - CREDS_ADVISORY_REFRESH + 1,
	    __ATOMIC_SEQ_CST);
	assert_int_equal(pthread_create(&t, NULL, getter_run, &slow), 0);
	while (__atomic_load_n(&f->calls, __ATOMIC_SEQ_CST) < 2)
		usleep(1000);
	getter_run(&quick);
	assert_int_equal(quick.rc, POKY_OK);
	assert_string_equal(quick.akid, "AKIDa1");
	assert_true(quick.ms < 250);
	pthread_join(t, NULL);
	assert_string_equal(slow.akid, "AKIDa2");
	assert_string_equal(get_akid(ch, k), "AKIDa2");
	creds_chain_free(ch);
	fake_free(f);
}

static void
test_creds_threads_in_mandatory_window_wait_for_the_refresh(void **state)
{
	struct fake *f = fake_new("a", POKY_OK, T0 + 3600);
	struct creds_provider p[] = { { "a", fake_get, f } };
	struct creds_chain *ch = chain_with(p, 1);
	struct getter first = { .ch = ch }, second = { .ch = ch };
	pthread_t t;
	char k[CREDS_KEY_MAX];

	(void)state;
	get_akid(ch, k);
	f->delay_ms = 300;
	f->expiration = T0 + 7200;
	__atomic_store_n(&fake_now, T0 + 3600 - CREDS_MANDATORY_REFRESH + 1,
	    __ATOMIC_SEQ_CST);
	assert_int_equal(pthread_create(&t, NULL, getter_run, &first), 0);
	while (__atomic_load_n(&f->calls, __ATOMIC_SEQ_CST) < 2)
		usleep(1000);
	getter_run(&second);
	pthread_join(t, NULL);
	assert_string_equal(first.akid, "AKIDa2");
	assert_string_equal(second.akid, "AKIDa2");
	assert_int_equal(f->calls, 2);
	creds_chain_free(ch);
	fake_free(f);
}

/* ---- STS answers ----------------------------------------------------------- */

static void
test_creds_sts_parses_assume_role_answer(void **state)
{
	static const char xml[] =
	    "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
	    "<AssumeRoleResult><AssumedRoleUser><Arn>arn</Arn></AssumedRoleUser>"
	    "<Credentials><AccessKeyId>ASIAX</AccessKeyId>"
	    "<SecretAccessKey>" SECRET_MARK "</SecretAccessKey>"
	    "<SessionToken>TOK</SessionToken>"
	    "<Expiration>2030-01-02T03:04:05.123Z</Expiration></Credentials>"
	    "</AssumeRoleResult></AssumeRoleResponse>";
	struct aws_creds c;
	struct poky_error e;

	(void)state;
	assert_int_equal(sts_parse_credentials(xml, sizeof(xml) - 1, "AssumeRole",
	    &c, &e), POKY_OK);
	assert_string_equal(c.access_key_id, "ASIAX");
	assert_string_equal(c.secret_access_key, SECRET_MARK);
	assert_string_equal(c.session_token, "TOK");
	assert_int_equal(c.expiration, 1893553445);
	creds_clear(&c);
}

static void
test_creds_sts_rejects_answers_without_credentials(void **state)
{
	static const char other[] = "<AssumeRoleResponse><AssumeRoleResult>"
	    "</AssumeRoleResult></AssumeRoleResponse>";
	static const char wrong[] = "<AssumeRoleWithWebIdentityResponse/>";
	struct aws_creds c;
	struct poky_error e;

	(void)state;
	assert_int_equal(sts_parse_credentials(other, sizeof(other) - 1,
	    "AssumeRole", &c, &e), POKY_ERR_INVALID);
	assert_int_equal(sts_parse_credentials(wrong, sizeof(wrong) - 1,
	    "AssumeRole", &c, &e), POKY_ERR_INVALID);
	assert_has(e.message, "not <AssumeRoleResponse>");
	assert_int_equal(sts_parse_credentials("junk", 4, "AssumeRole", &c, &e),
	    POKY_ERR_INVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup(name, setup)
		T(test_creds_clear_wipes_every_field),
		T(test_creds_set_refuses_line_breaks_and_names_only_the_field),
		T(test_creds_set_refuses_overlong_fields),
		T(test_creds_parse_time_accepts_z_and_any_utc_offset),
		T(test_creds_env_keys_answer),
		T(test_creds_env_reads_old_security_token_name),
		T(test_creds_env_reads_expiration),
		T(test_creds_env_half_a_key_pair_stops_the_chain),
		T(test_creds_empty_env_values_count_as_unset),
		T(test_creds_chain_env_beats_profile),
		T(test_creds_chain_env_beats_profile_named_by_aws_profile),
		T(test_creds_chain_profile_named_in_code_beats_env),
		T(test_creds_chain_profile_beats_container),
		T(test_creds_chain_web_identity_beats_profile),
		T(test_creds_chain_container_failure_stops_before_imds),
		T(test_creds_chain_error_lists_every_provider_tried),
		T(test_creds_chain_imds_unreachable_is_passed_over),
		T(test_creds_profile_default_from_credentials_file),
		T(test_creds_profile_aws_profile_picks_bare_section_in_credentials),
		T(test_creds_profile_aws_profile_picks_prefixed_section_in_config),
		T(test_creds_profile_bare_section_in_config_is_not_a_profile),
		T(test_creds_profile_prefixed_section_in_credentials_is_not_a_profile),
		T(test_creds_profile_credentials_file_beats_config_file),
		T(test_creds_profile_missing_default_is_passed_over),
		T(test_creds_profile_named_but_missing_stops_the_chain),
		T(test_creds_profile_without_credentials_is_passed_over),
		T(test_creds_profile_half_a_key_pair_is_an_error),
		T(test_creds_profile_malformed_file_names_file_and_line),
		T(test_creds_profile_expands_tilde_in_file_variables),
		T(test_creds_profile_static_keys_beat_credential_process),
		T(test_creds_profile_credential_process_answers),
		T(test_creds_profile_credential_process_failure_names_profile),
		T(test_creds_profile_role_without_source_is_an_error),
		T(test_creds_profile_role_with_both_sources_is_an_error),
		T(test_creds_profile_source_profile_loop_is_an_error),
		T(test_creds_profile_missing_source_profile_is_an_error),
		T(test_creds_profile_source_without_keys_is_an_error),
		T(test_creds_profile_mfa_serial_is_refused),
		T(test_creds_profile_duration_seconds_is_checked),
		T(test_creds_profile_role_reaches_sts_with_source_keys),
		T(test_creds_profile_self_source_uses_its_own_keys),
		T(test_creds_profile_credential_source_must_be_known),
		T(test_creds_profile_credential_source_environment_needs_keys),
		T(test_creds_profile_web_identity_token_file),
		T(test_creds_webid_token_file_without_role_is_an_error),
		T(test_creds_webid_role_alone_is_not_configured),
		T(test_creds_webid_empty_token_file_is_an_error),
		T(test_creds_region_order_is_env_then_default_env_then_profile),
		T(test_creds_region_reads_the_named_profile),
		T(test_creds_region_ignores_the_credentials_file),
		T(test_creds_region_skips_values_that_are_not_region_names),
		T(test_creds_region_is_empty_without_any_source),
		T(test_creds_shlex_splits_on_blanks),
		T(test_creds_shlex_single_quotes_are_literal),
		T(test_creds_shlex_double_quotes_escape_only_quote_and_backslash),
		T(test_creds_shlex_backslash_outside_quotes_escapes_anything),
		T(test_creds_shlex_joins_adjacent_quoted_parts),
		T(test_creds_shlex_empty_quotes_make_an_empty_word),
		T(test_creds_shlex_hash_is_not_a_comment),
		T(test_creds_shlex_rejects_unclosed_quotes_and_trailing_backslash),
		T(test_creds_shlex_rejects_empty_and_overlong_commands),
		T(test_creds_shlex_handles_the_most_words_that_fit),
		T(test_creds_process_parse_reads_version_1),
		T(test_creds_process_parse_token_and_expiration_are_optional),
		T(test_creds_process_parse_rejects_other_versions),
		T(test_creds_process_parse_names_missing_fields),
		T(test_creds_process_parse_rejects_bad_expiration),
		T(test_creds_process_parse_rejects_non_objects_without_quoting),
		T(test_creds_process_run_reads_stdout_without_a_shell),
		T(test_creds_process_run_reports_exit_status),
		T(test_creds_process_run_reports_a_missing_program),
		T(test_creds_process_run_kills_on_timeout),
		T(test_creds_process_run_caps_output_at_64_kib),
		T(test_creds_process_run_rejects_bad_output),
		T(test_creds_process_child_gets_no_extra_descriptors),
		T(test_creds_container_full_uri_allows_https_anywhere),
		T(test_creds_container_full_uri_allows_loopback_over_http),
		T(test_creds_container_full_uri_allows_ecs_and_eks_link_local),
		T(test_creds_container_full_uri_refuses_other_http_hosts),
		T(test_creds_container_full_uri_refuses_other_schemes_and_junk),
		T(test_creds_container_relative_uri_goes_to_the_ecs_agent),
		T(test_creds_container_url_from_full_uri),
		T(test_creds_container_refuses_tokens_with_line_breaks),
		T(test_creds_container_unreachable_endpoint_is_an_error),
		T(test_creds_imds_endpoint_defaults_to_ipv4_link_local),
		T(test_creds_imds_endpoint_mode_ipv6),
		T(test_creds_imds_endpoint_variable_wins_and_loses_trailing_slash),
		T(test_creds_imds_endpoint_rejects_unknown_mode),
		T(test_creds_imds_disabled_is_not_configured),
		T(test_creds_cache_answers_without_asking_again),
		T(test_creds_cache_refreshes_in_the_advisory_window),
		T(test_creds_cache_keeps_creds_when_an_advisory_refresh_fails),
		T(test_creds_cache_keeps_valid_creds_when_a_mandatory_refresh_fails),
		T(test_creds_cache_fails_when_expired_and_refresh_fails),
		T(test_creds_cache_never_refreshes_long_term_keys),
		T(test_creds_invalidate_forgets_the_cache),
		T(test_creds_refresh_asks_only_the_provider_that_answered),
		T(test_creds_refresh_walks_the_chain_when_its_provider_is_gone),
		T(test_creds_chain_stops_at_a_provider_that_fails),
		T(test_creds_chain_error_keeps_aws_code_and_retryable),
		T(test_creds_chain_error_names_all_providers_even_with_long_reasons),
		T(test_creds_threads_without_creds_wait_for_one_resolution),
		T(test_creds_threads_in_advisory_window_do_not_wait),
		T(test_creds_threads_in_mandatory_window_wait_for_the_refresh),
		T(test_creds_sts_parses_assume_role_answer),
		T(test_creds_sts_rejects_answers_without_credentials),
#undef T
	};

	return cmocka_run_group_tests_name("creds", tests, group_setup,
	    group_teardown);
}
