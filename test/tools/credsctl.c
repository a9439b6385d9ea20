/* credsctl - drive the AWS credentials chain from tests (not installed).
 *
 *   credsctl [--profile P] [--count N] [--sleep-ms MS] [--invalidate]
 *            [--whoami]
 *   credsctl --region [--profile P]
 *
 * Builds an AWS client (which builds the chain) from the environment like
 * any SDK and resolves credentials N times (default 1), printing one JSON
 * line each: {"source", "access_key_id", "token" (present or not),
 * "expiration" (ISO 8601 or null), "secret_sha256"}.  The secret and the
 * token themselves are never printed.  --invalidate forgets the cache
 * before each resolution after the first; --whoami also sends STS
 * GetCallerIdentity signed by the chain and adds its "arn".  --region prints
 * {"region": ...} from profile_region.
 *
 * On failure: a JSON error object on stdout, the message on stderr, exit
 * status 1 (2 for bad usage). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "poky/awsreq.h"
#include "poky/creds.h"
#include "poky/profile.h"
#include "poky/crypto.h"
#include "poky/log.h"
#include "poky/str.h"
#include "poky/xml.h"

static int
usage(void)
{
	fputs("usage: credsctl [--profile P] [--count N] [--sleep-ms MS] "
	    "[--invalidate] [--whoami] | --region [--profile P]\n", stderr);
	return 2;
}

static int
print_error(const struct poky_error *e)
{
	json_t *j = json_pack("{s:s, s:s, s:i, s:s, s:b}",
	    "error", poky_err_name(e->code), "aws_code", e->aws_code,
	    "http_status", e->http_status, "message", e->message,
	    "retryable", e->retryable);

	json_dumpf(j, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(j);
	fprintf(stderr, "credsctl: %s\n", e->message);
	return 1;
}

/* STS GetCallerIdentity, signed with the chain's credentials. */
static enum poky_err
whoami(struct aws_client *c, char *arn, size_t cap, struct poky_error *e)
{
	static const char body[] = "Action=GetCallerIdentity&Version=2011-06-15";
	static const char ctype[] = "application/x-www-form-urlencoded; charset=utf-8";
	struct hdr h = { "Content-Type", 12, ctype, sizeof(ctype) - 1 };
	struct aws_request req = {
		.service = "sts", .operation = "GetCallerIdentity",
		.method = "POST", .path = "/", .headers = &h, .n_headers = 1,
		.body = body, .body_len = sizeof(body) - 1,
	};
	struct httpc_response resp;
	struct xml_doc doc = { NULL, 0 };
	const char *s;
	enum poky_err rc;

	httpc_response_init(&resp, 1u << 20);
	if ((rc = aws_send(c, &req, &resp, e)) != POKY_OK)
		goto out;
	if ((rc = xml_parse(&doc, resp.body.data, resp.body.len, e)) != POKY_OK)
		goto out;
	s = xml_path_text(doc.root, "GetCallerIdentityResult/Arn");
	if (s == NULL) {
		rc = poky_error_set(e, POKY_ERR_INVALID, "GetCallerIdentity: no Arn");
		goto out;
	}
	str_copy(arn, cap, s);
out:
	xml_doc_free(&doc);
	httpc_response_cleanup(&resp);
	return rc;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "profile", required_argument, NULL, 'p' },
		{ "count", required_argument, NULL, 'n' },
		{ "sleep-ms", required_argument, NULL, 's' },
		{ "invalidate", no_argument, NULL, 'i' },
		{ "whoami", no_argument, NULL, 'w' },
		{ "region", no_argument, NULL, 'r' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	const char *profile = NULL;
	long count = 1, pause = 0;
	int opt, status = 0;
	int invalidate = 0, who = 0, region = 0, verbose = 0;
	struct aws_client *c = NULL;
	struct poky_error e;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			profile = optarg;
			break;
		case 'n':
			count = strtol(optarg, NULL, 10);
			break;
		case 's':
			pause = strtol(optarg, NULL, 10);
			break;
		case 'i':
			invalidate = 1;
			break;
		case 'w':
			who = 1;
			break;
		case 'r':
			region = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			return usage();
		}
	}
	if (optind != argc || count < 1 || count > 100 || pause < 0)
		return usage();
	log_setup(NULL, LOG_FORMAT_TEXT, verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	poky_error_clear(&e);

	if (region) {
		char r[AWS_REGION_MAX];
		json_t *j;

		profile_region(profile, r, sizeof(r));
		j = json_pack("{s:s}", "region", r);
		json_dumpf(j, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(j);
		return 0;
	}

	c = creds_client_new(&(struct aws_config){ .profile = profile }, &e);
	if (c == NULL)
		return print_error(&e);
	for (long i = 0; i < count && status == 0; i++) {
		struct aws_creds cr;
		char sha[65], exp[21], arn[512];
		json_t *j;

		if (i > 0 && pause > 0)
			sleep_ms(pause);
		if (i > 0 && invalidate)
			aws_client_creds_invalidate(c);
		if (aws_client_creds_get(c, &cr, &e) != POKY_OK) {
			status = print_error(&e);
			break;
		}
		crypto_sha256_hex(cr.secret_access_key, strlen(cr.secret_access_key),
		    sha);
		if (cr.expiration != 0)
			str_time_iso8601(exp, cr.expiration);
		j = json_pack("{s:s, s:s, s:b, s:s?, s:s}", "source", cr.source,
		    "access_key_id", cr.access_key_id, "token",
		    cr.session_token[0] != '\0', "expiration",
		    cr.expiration != 0 ? exp : NULL, "secret_sha256", sha);
		creds_clear(&cr);
		if (who) {
			if (whoami(c, arn, sizeof(arn), &e) != POKY_OK) {
				json_decref(j);
				status = print_error(&e);
				break;
			}
			json_object_set_new(j, "arn", json_string(arn));
		}
		json_dumpf(j, stdout, JSON_COMPACT);
		putchar('\n');
		fflush(stdout);
		json_decref(j);
	}
	aws_client_free(c);
	return status;
}
