/* poky-worker - copy, rename or move one S3 object (or a local file).
 *
 * The example task Poky runs in its Fargate container.  Parameters come from
 * the environment (see usage() below and DESIGN.md, "Worker contract").  On
 * success it prints exactly one JSON line on stdout:
 *
 *   {"source":"s3://b/k","destination":"s3://b2/k2","bytes":N,
 *    "strategy":"copy|multipart-copy|stream|local","seconds":X,"etag":"..."}
 *
 * (etag: the destination's ETag without S3's quotes; in local mode the MD5
 * of the bytes, which is what S3 would give a single-part object)
 * and on failure one JSON line on stderr: {"error":"...","code":"...",
 * "exit":N, ...}.  Exit statuses (enum wk_exit in worker.h):
 *
 *   0  done
 *   1  failed for another reason (local I/O error, unexpected answer)
 *   2  bad or missing parameters
 *   3  not found: the source object or a bucket does not exist
 *   4  access denied, or credentials missing or rejected
 *   5  transient failure that persisted after retries (a re-run may work)
 *   6  verification failed: the copy does not match the source; the source
 *      was not deleted
 *   7  copied, not moved: the copy is complete and verified, but deleting
 *      the source failed (or the source changed after the copy)
 *   128+N  stopped by signal N (143 for SIGTERM): a multipart upload in
 *      progress was aborted and no temporary file is left
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "poky/httpc.h"
#include "poky/log.h"
#include "poky/sigv4.h"
#include "poky/str.h"
#include "poky/uuid.h"
#include "poky/version.h"
#include "stop.h"
#include "strategy.h"
#include "worker.h"

static void
usage(FILE *f)
{
	fputs(
"usage: poky-worker [--help | --version]\n"
"\n"
"Copies s3://SOURCE_BUCKET/SOURCE_KEY to s3://OUTPUT_BUCKET/OUTPUT_KEY, or\n"
"moves it; all parameters come from the environment.\n"
"\n"
"  SOURCE_BUCKET, SOURCE_KEY, OUTPUT_BUCKET   required\n"
"  OUTPUT_KEY            the new key; default <stem>_<uuid4><.ext>, the\n"
"                        extension taken from the last '.' of the last\n"
"                        '/'-segment (a/report.final.csv ->\n"
"                        a/report.final_<uuid4>.csv; .bashrc -> .bashrc_<uuid4>)\n"
"  DELETE_SOURCE=true    move: copy, verify the copy, then delete exactly the\n"
"                        source version that was copied\n"
"  AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, AWS_REGION, AWS_PROFILE, AWS_*\n"
"                        endpoint, region and the standard credentials chain\n"
"  POKY_SOURCE_ENDPOINT_URL_S3\n"
"                        the source lives on another S3 endpoint: the bytes\n"
"                        are streamed GET -> PUT with bounded memory\n"
"  POKY_MULTIPART_THRESHOLD  bytes; larger objects are copied in parts\n"
"                        (default 5G, at most 5G)\n"
"  POKY_PART_SIZE        bytes per part (default 64M, 5M..5G)\n"
"  POKY_CONCURRENCY      parts in flight (default 4, 1..16)\n"
"  POKY_ABORT_STALE_UPLOADS=false\n"
"                        keep the multipart uploads to the destination key\n"
"                        that earlier (killed) runs began; by default a\n"
"                        multipart run aborts those begun before its own\n"
"  POKY_STALL_SECONDS    a streamed GET or PUT that moves no byte for this\n"
"                        long is cut and its part retried (default 120)\n"
"  POKY_LOCAL_ROOT=DIR   local mode: buckets are directories DIR/<bucket>/\n"
"  POKY_LOG_LEVEL=debug  log each step on stderr (POKY_LOG_FORMAT=json)\n"
"\n"
"Prints one JSON line on stdout when done:\n"
"  {\"source\",\"destination\",\"bytes\",\"strategy\",\"seconds\",\"etag\"}\n"
"  (strategy: copy, multipart-copy, stream or local; etag: the destination's,\n"
"  without quotes)\n"
"and one JSON line {\"error\",\"code\",\"exit\"} on stderr when not.\n"
"\n"
"Exit status:\n"
"  0  done\n"
"  1  failed for another reason (local I/O error, unexpected answer)\n"
"  2  bad or missing parameters\n"
"  3  not found (source object or bucket)\n"
"  4  access denied, or credentials missing or rejected\n"
"  5  transient failure after retries; a re-run may work\n"
"  6  verification failed: the copy does not match; nothing deleted\n"
"  7  copied, not moved: copy verified, but the source was not deleted\n"
"  128+N  stopped by signal N (143: SIGTERM); multipart upload aborted\n", f);
}

static char src_uri[S3_KEY_MAX + 80];
static char dst_uri[S3_KEY_MAX + 80];

/* ---- output -------------------------------------------------------------------- */

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A JSON string from bytes that may not be UTF-8 (messages can quote
 * input): invalid bytes become '?'. */
static json_t *
json_text(const char *s)
{
	json_t *j = json_string(s);
	char *copy;

	if (j != NULL || s == NULL)
		return j;
	if ((copy = strdup(s)) == NULL)
		return NULL;
	for (char *p = copy; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

static void
print_json_line(FILE *f, json_t *o)
{
	char *line = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));

	if (line != NULL) {
		fprintf(f, "%s\n", line);
		free(line);
	}
	fflush(f);
}

static void
emit_error(const struct wk_error *err)
{
	json_t *o = json_object();

	json_object_set_new(o, "error", json_text(err->message));
	json_object_set_new(o, "code", json_string(wk_exit_name(err->exit)));
	json_object_set_new(o, "exit", json_integer(err->exit));
	if (err->aws_code[0] != '\0')
		json_object_set_new(o, "aws_code", json_text(err->aws_code));
	if (err->http_status > 0)
		json_object_set_new(o, "http_status", json_integer(err->http_status));
	if (err->request_id[0] != '\0')
		json_object_set_new(o, "request_id", json_text(err->request_id));
	if (src_uri[0] != '\0')
		json_object_set_new(o, "source", json_text(src_uri));
	if (dst_uri[0] != '\0')
		json_object_set_new(o, "destination", json_text(dst_uri));
	print_json_line(stderr, o);
	json_decref(o);
}

static void
emit_result(const struct wk_result *res, double seconds)
{
	json_t *o = json_object();
	char etag[S3_ETAG_MAX];
	size_t n;

	/* The ETag without S3's quotes. */
	str_copy(etag, sizeof(etag), res->etag);
	n = strlen(etag);
	if (n >= 2 && etag[0] == '"' && etag[n - 1] == '"') {
		memmove(etag, etag + 1, n - 2);
		etag[n - 2] = '\0';
	}
	json_object_set_new(o, "source", json_text(src_uri));
	json_object_set_new(o, "destination", json_text(dst_uri));
	json_object_set_new(o, "bytes", json_integer(res->bytes));
	json_object_set_new(o, "strategy", json_string(res->strategy));
	json_object_set_new(o, "seconds", json_real(seconds));
	json_object_set_new(o, "etag", json_text(etag));
	print_json_line(stdout, o);
	json_decref(o);
}

static void
logging_setup(void)
{
	const char *lv = getenv("POKY_LOG_LEVEL"), *fm = getenv("POKY_LOG_FORMAT");
	int level = lv ? log_level_parse(lv) : -1;
	int format = fm ? log_format_parse(fm) : -1;

	/* Quiet unless asked: stderr is for the one error line. */
	log_setup(stderr, format < 0 ? LOG_FORMAT_TEXT : (enum log_format)format,
	    level < 0 ? LOG_LEVEL_ERROR : (enum log_level)level);
}

int
main(int argc, char **argv)
{
	struct wk_params p;
	struct wk_result res;
	struct wk_error err;
	char uuid[WK_UUID_LEN + 1];
	double t0 = now_seconds();
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("poky-worker %s\n", POKY_VERSION);
			return 0;
		}
		wk_fail(&err, WK_EXIT_USAGE, "unknown argument '%.80s' (see --help)", argv[i]);
		emit_error(&err);
		return WK_EXIT_USAGE;
	}
	logging_setup();
	memset(&res, 0, sizeof(res));
	if (uuid_v4(uuid) != POKY_OK) {
		wk_fail(&err, WK_EXIT_FAILED, "no random numbers for the new name");
		emit_error(&err);
		return WK_EXIT_FAILED;
	}
	if ((rc = wk_params_from_env(&p, uuid, &err)) != WK_EXIT_OK) {
		emit_error(&err);
		return rc;
	}
	snprintf(src_uri, sizeof(src_uri), "s3://%s/%s", p.src_bucket, p.src_key);
	snprintf(dst_uri, sizeof(dst_uri), "s3://%s/%s", p.dst_bucket, p.dst_key);
	if (wk_stop_start(emit_error) != 0) {
		wk_fail(&err, WK_EXIT_FAILED, "cannot set up signal handling: %s",
		    strerror(errno));
		emit_error(&err);
		return WK_EXIT_FAILED;
	}
	log_debug("%s %s -> %s", p.move ? "move" : "copy", src_uri, dst_uri);

	rc = p.local_root ? wk_run_local(&p, &res, &err) : wk_run_s3(&p, &res, &err);

	wk_stop_finish();
	if (rc == WK_EXIT_OK)
		emit_result(&res, now_seconds() - t0);
	else
		emit_error(&err);
	sigv4_cleanup();
	httpc_global_cleanup();
	return rc;
}
