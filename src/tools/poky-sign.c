/* poky-sign - sign a raw HTTP request with AWS Signature Version 4.
 *
 * Reads one request on stdin (the format of AWS's signing test suite) and
 * prints it signed, or one stage of the signing.  For debugging requests and
 * for checking the signer against other implementations. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "poky/buf.h"
#include "poky/rawreq.h"
#include "poky/sigv4.h"
#include "poky/str.h"
#include "poky/version.h"

#define INPUT_MAX (64u << 20)

enum print_what { PRINT_REQUEST, PRINT_CANONICAL, PRINT_STS, PRINT_SIGNATURE };

static void
usage(FILE *f)
{
	fputs(
"usage: poky-sign --region R --service S [options] < request.txt\n"
"\n"
"Reads one raw HTTP/1.1 request on stdin (request line, Name:value headers,\n"
"blank line, body) and prints it signed with AWS Signature Version 4.\n"
"\n"
"  --region R, --service S   credential scope (required)\n"
"  --time YYYYMMDDTHHMMSSZ   signing time (default: now; ISO 8601 also read)\n"
"  --access-key AK --secret-key SK [--session-token T]\n"
"                            credentials (default: AWS_ACCESS_KEY_ID,\n"
"                            AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)\n"
"  --s3                      S3 rules: path as sent, x-amz-content-sha256 signed\n"
"  --unsigned-payload        payload hash UNSIGNED-PAYLOAD\n"
"  --sign-body               add and sign x-amz-content-sha256 (non-S3)\n"
"  --no-normalize            keep dot segments and '//' in the path (non-S3)\n"
"  --presign --expires N     sign as a presigned URL valid N seconds\n"
"  --omit-session-token      add the session token after signing, unsigned\n"
"  --print request|canonical|string-to-sign|signature   (default: request)\n"
"  --help, --version\n"
"\n"
"Exit status: 0 signed, 2 bad input or options.\n", f);
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line on stderr; returns the exit status for bad input. */
static int
fail(const char *fmt, ...)
{
	va_list ap;

	fputs("poky-sign: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 2;
}

static enum poky_err
read_all(FILE *in, struct buf *b)
{
	char chunk[65536];
	size_t n;
	enum poky_err rc;

	while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0)
		if ((rc = buf_append(b, chunk, n)) != POKY_OK)
			return rc;
	return ferror(in) ? POKY_ERR_IO : buf_reserve(b, 0);
}

static void
write_span(const char *p, size_t n)
{
	fwrite(p, 1, n, stdout);
}

/* The request as the suite's *-signed-request.txt files show it: the
 * original lines kept (less headers the signature replaces), the signing
 * headers after them, or the auth query appended to the target. */
static void
print_signed(const struct rawreq *r, const struct sigv4_result *res,
	     bool presign)
{
	write_span(r->method, r->method_len);
	putchar(' ');
	write_span(r->target, r->target_len);
	if (presign) {
		const char *q = memchr(r->target, '?', r->target_len);
		char last = r->target[r->target_len - 1];

		/* "/k?" and "/k?a=1&" need no separator of their own. */
		if (q == NULL)
			putchar('?');
		else if (last != '?' && last != '&')
			putchar('&');
		write_span(res->query.data, res->query.len);
	}
	putchar(' ');
	write_span(r->version, r->version_len);
	putchar('\n');
	for (size_t i = 0; i < r->n_headers; i++) {
		if (!presign && sigv4_header_is_added(r->headers[i].name,
		    r->headers[i].name_len))
			continue;
		write_span(r->lines[i].p, r->lines[i].len);
		putchar('\n');
	}
	for (size_t i = 0; i < res->n_added; i++) {
		write_span(res->added[i].name, res->added[i].name_len);
		putchar(':');
		write_span(res->added[i].value, res->added[i].value_len);
		putchar('\n');
	}
	putchar('\n');
	write_span(r->body, r->body_len);
}

int
main(int argc, char **argv)
{
	enum { O_REGION = 256, O_SERVICE, O_TIME, O_AK, O_SK, O_TOKEN, O_S3,
	       O_UNSIGNED, O_SIGNBODY, O_NONORM, O_PRESIGN, O_EXPIRES, O_OMIT,
	       O_PRINT, O_HELP, O_VERSION };
	static const struct option opts[] = {
		{ "region", required_argument, NULL, O_REGION },
		{ "service", required_argument, NULL, O_SERVICE },
		{ "time", required_argument, NULL, O_TIME },
		{ "access-key", required_argument, NULL, O_AK },
		{ "secret-key", required_argument, NULL, O_SK },
		{ "session-token", required_argument, NULL, O_TOKEN },
		{ "s3", no_argument, NULL, O_S3 },
		{ "unsigned-payload", no_argument, NULL, O_UNSIGNED },
		{ "sign-body", no_argument, NULL, O_SIGNBODY },
		{ "no-normalize", no_argument, NULL, O_NONORM },
		{ "presign", no_argument, NULL, O_PRESIGN },
		{ "expires", required_argument, NULL, O_EXPIRES },
		{ "omit-session-token", no_argument, NULL, O_OMIT },
		{ "print", required_argument, NULL, O_PRINT },
		{ "help", no_argument, NULL, O_HELP },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	struct sigv4_params pa = { .expires = 3600 };
	struct sigv4_creds cr = {
		.access_key_id = getenv("AWS_ACCESS_KEY_ID"),
		.secret_access_key = getenv("AWS_SECRET_ACCESS_KEY"),
		.session_token = getenv("AWS_SESSION_TOKEN"),
	};
	enum print_what what = PRINT_REQUEST;
	bool have_time = false, have_expires = false;
	struct sigv4_request req = { 0 };
	struct sigv4_result res;
	struct poky_error err = { 0 };
	struct rawreq r = { 0 };
	struct buf in;
	int c, status = 2;
	char *end;
	unsigned long ul;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_REGION: pa.region = optarg; break;
		case O_SERVICE: pa.service = optarg; break;
		case O_TIME:
			if (!str_time_parse(optarg, &pa.time))
				return fail("bad --time '%s' (want YYYYMMDDTHHMMSSZ)",
				    optarg);
			have_time = true;
			break;
		case O_AK: cr.access_key_id = optarg; break;
		case O_SK: cr.secret_access_key = optarg; break;
		case O_TOKEN: cr.session_token = optarg; break;
		case O_S3: pa.flags |= SIGV4_S3; break;
		case O_UNSIGNED: pa.flags |= SIGV4_UNSIGNED_PAYLOAD; break;
		case O_SIGNBODY: pa.flags |= SIGV4_SIGN_BODY; break;
		case O_NONORM: pa.flags |= SIGV4_NO_NORMALIZE; break;
		case O_PRESIGN: pa.flags |= SIGV4_PRESIGN; break;
		case O_OMIT: pa.flags |= SIGV4_OMIT_TOKEN; break;
		case O_EXPIRES:
			errno = 0;
			ul = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg ||
			    optarg[0] == '-' || ul < 1 || ul > SIGV4_MAX_EXPIRES)
				return fail("bad --expires '%s' (want 1..604800)",
				    optarg);
			pa.expires = (unsigned)ul;
			have_expires = true;
			break;
		case O_PRINT:
			if (strcmp(optarg, "request") == 0)
				what = PRINT_REQUEST;
			else if (strcmp(optarg, "canonical") == 0)
				what = PRINT_CANONICAL;
			else if (strcmp(optarg, "string-to-sign") == 0)
				what = PRINT_STS;
			else if (strcmp(optarg, "signature") == 0)
				what = PRINT_SIGNATURE;
			else
				return fail("bad --print '%s' (want request, "
				    "canonical, string-to-sign or signature)", optarg);
			break;
		case O_HELP: usage(stdout); return 0;
		case O_VERSION: printf("poky-sign %s\n", POKY_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc)
		return fail("unexpected argument '%s'", argv[optind]);
	if (pa.region == NULL || pa.service == NULL)
		return fail("%s", "--region and --service are required");
	if (have_expires && !(pa.flags & SIGV4_PRESIGN))
		return fail("%s", "--expires needs --presign");
	if (cr.access_key_id == NULL || cr.access_key_id[0] == '\0')
		return fail("%s", "no access key (--access-key or AWS_ACCESS_KEY_ID)");
	if (cr.secret_access_key == NULL || cr.secret_access_key[0] == '\0')
		return fail("%s", "no secret key (--secret-key or AWS_SECRET_ACCESS_KEY)");
	if (!have_time)
		pa.time = time(NULL);

	buf_init(&in, INPUT_MAX);
	sigv4_result_init(&res);
	switch (read_all(stdin, &in)) {
	case POKY_OK: break;
	case POKY_ERR_LIMIT:
		fail("input larger than %s", "64 MiB");
		goto out;
	default:
		fail("cannot read stdin: %s", strerror(errno));
		goto out;
	}
	if (rawreq_parse(&r, in.data, in.len, &err) != POKY_OK) {
		fail("%s", err.message);
		goto out;
	}
	req.method = strndup(r.method, r.method_len);
	if (req.method == NULL) {
		fail("%s", "out of memory");
		goto out;
	}
	req.target = r.target;
	req.target_len = r.target_len;
	req.headers = r.headers;
	req.n_headers = r.n_headers;
	req.body = r.body;
	req.body_len = r.body_len;
	if (sigv4_sign(&req, &pa, &cr, &res, &err) != POKY_OK) {
		fail("%s", err.message);
		goto out;
	}
	switch (what) {
	case PRINT_REQUEST:
		print_signed(&r, &res, pa.flags & SIGV4_PRESIGN);
		break;
	case PRINT_CANONICAL:
		printf("%s\n", res.canonical_request.data);
		break;
	case PRINT_STS:
		printf("%s\n", res.string_to_sign.data);
		break;
	case PRINT_SIGNATURE:
		printf("%s\n", res.signature);
		break;
	}
	status = fflush(stdout) == 0 ? 0 : 2;
	if (status != 0)
		fail("cannot write stdout: %s", strerror(errno));
out:
	free((char *)req.method);
	rawreq_cleanup(&r);
	sigv4_result_cleanup(&res);
	buf_free(&in);
	sigv4_cleanup();
	return status;
}
