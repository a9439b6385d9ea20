/* main.c - pokyd: flags, configuration, signals, sd_notify, wiring (L5). */
#include <arpa/inet.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "poky/app.h"
#include "poky/auth.h"
#include "poky/awsreq.h"
#include "poky/config.h"
#include "poky/http.h"
#include "poky/httpc.h"
#include "poky/launch.h"
#include "poky/launchq.h"
#include "poky/log.h"
#include "poky/metrics.h"
#include "poky/retention.h"
#include "poky/sigv4.h"
#include "poky/store.h"
#include "poky/tracker.h"
#include "poky/version.h"
#include "poky/watch.h"
#include "poky/webhook.h"

#include "cmds.h"

#define DEFAULT_CONFIG "/etc/poky/pokyd.ini"

static void
usage(FILE *f)
{
	fputs(
"usage: pokyd [-c FILE] [--listen HOST:PORT]     run the daemon\n"
"       pokyd -c FILE -t                          check a configuration\n"
"       pokyd -c FILE --print-iam-policy          least-privilege IAM policy\n"
"       pokyd --hash-token [NAME] < token         a tokens_file line for a token\n"
"       pokyd -c FILE --backup OUT [--force]      copy the task store (online)\n"
"       pokyd --init FILE [NAME]                  add a new random token to FILE\n"
"       pokyd --version | --help\n"
"\n"
"  -c, --config FILE   configuration (default " DEFAULT_CONFIG ")\n"
"  -t, --test          check the configuration, print 'configuration OK'\n"
"  --listen ADDR       override [server] listen (port 0: any free port)\n"
"\n"
"Signals: SIGHUP reloads templates and tokens; SIGTERM/SIGINT drain and stop.\n",
	    f);
}

static bool
loopback(const char *host)
{
	unsigned char a[16];
	static const unsigned char lo6[16] = { [15] = 1 };

	if (strcmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	if (inet_pton(AF_INET6, host, a) == 1)
		return memcmp(a, lo6, 16) == 0;
	return false;
}

static enum poky_err
load_all(const char *path, const char *listen, struct config **cfg,
	 struct auth_tokens **tokens, struct poky_error *e)
{
	char host[256];
	unsigned port;
	enum poky_err rc;

	*tokens = NULL;
	if ((rc = config_load(path, cfg, e)) != POKY_OK)
		return rc;
	if (listen != NULL) {
		free((*cfg)->server.listen);
		(*cfg)->server.listen = strdup(listen);
		if ((*cfg)->server.listen == NULL)
			return poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	}
	if ((rc = config_split_listen((*cfg)->server.listen, host, sizeof(host),
	    &port, e)) != POKY_OK)
		goto fail;
	if ((*cfg)->server.tokens_file != NULL &&
	    (rc = auth_load((*cfg)->server.tokens_file, tokens, e)) != POKY_OK)
		goto fail;
	if (auth_count(*tokens) == 0 && !loopback(host) &&
	    !(*cfg)->server.allow_anonymous) {
		rc = poky_error_set(e, POKY_ERR_INVALID,
		    "%s: listening on %s with no tokens would let anyone start "
		    "tasks; set [server] tokens_file, or allow_anonymous = true",
		    path, (*cfg)->server.listen);
		goto fail;
	}
	return POKY_OK;
fail:
	auth_free(*tokens);
	*tokens = NULL;
	config_free(*cfg);
	*cfg = NULL;
	return rc;
}

/* The reload gauges: a failed SIGHUP keeps the old configuration, which an
 * alert on poky_config_last_reload_successful == 0 should catch. */
static void
config_loaded(struct app *app, bool ok)
{
	metrics_set(app->metrics, "poky_config_last_reload_successful", ok ? 1 : 0,
	    METRICS_END);
	if (ok)
		metrics_set(app->metrics,
		    "poky_config_last_reload_success_timestamp_seconds",
		    (double)time(NULL), METRICS_END);
}

static void
notify(const char *state)
{
	sd_notify(0, state);
}

/* What pokyd's metrics mean: # HELP and # TYPE lines, described once at
 * start-up (a metric is shown from its first sample on). */
static const struct metric_doc {
	const char *name, *type, *help;
} metric_docs[] = {
	{ "poky_build_info", "gauge", "Build information." },
	{ "poky_http_requests_total", "counter",
	  "HTTP requests by method, route and status code." },
	{ "poky_http_request_duration_seconds", "histogram",
	  "HTTP request duration by route." },
	{ "poky_tasks_launched_total", "counter",
	  "Tasks launched by template and launcher." },
	{ "poky_tasks", "gauge", "Task records by status." },
	{ "poky_tasks_finished_total", "counter",
	  "Tasks that reached a final status, by template and status." },
	{ "poky_tasks_running", "gauge", "Tasks running now." },
	{ "poky_aws_requests_total", "counter",
	  "AWS API calls by service, operation and outcome (ok, client_error, "
	  "server_error, throttled, network), retries included in one call." },
	{ "poky_aws_retries_total", "counter",
	  "AWS requests sent again after a failed attempt." },
	{ "poky_aws_throttles_total", "counter",
	  "AWS answers that were throttling errors." },
	{ "poky_webhook_deliveries_total", "counter",
	  "Webhook delivery attempts by outcome: delivered, retry (another "
	  "attempt scheduled) or failed (given up or refused)." },
	{ "poky_uptime_seconds", "gauge",
	  "Seconds since pokyd started (deprecated: use "
	  "time() - process_start_time_seconds)." },
	{ "poky_store_deferred_failures_total", "counter",
	  "Launch ids RunTask answered that could not be stored after the 202 "
	  "(a restart finishes those launches with the same clientToken)." },
	{ "poky_launch_queue_depth", "gauge",
	  "ECS tasks waiting in the launch queue, by template." },
	{ "poky_launch_queue_wait_seconds", "histogram",
	  "Time from a task's 202 to the start of its launch, by template." },
	{ "poky_launch_duration_seconds", "histogram",
	  "Time one launch (RunTask, retries included) took, by template." },
	{ "poky_launch_throttled_total", "counter",
	  "Launches ECS throttled past the retries (re-queued, paced), by "
	  "template." },
	{ "poky_aws_request_duration_seconds", "histogram",
	  "AWS API call duration by service and operation, retries and their "
	  "waits included." },
	{ "poky_aws_errors_total", "counter",
	  "AWS API calls that ended in an error (any outcome but ok), by "
	  "service and operation." },
	/* A histogram with buckets up to days (metrics_describe_long). */
	{ "poky_task_duration_seconds", "histogram-long",
	  "Run time of finished tasks (start to end; creation to end for "
	  "tasks that never started), by template and final status." },
	{ "poky_config_last_reload_successful", "gauge",
	  "1 if the last configuration load (start or SIGHUP) succeeded, 0 if "
	  "it failed (the old configuration is kept)." },
	{ "poky_config_last_reload_success_timestamp_seconds", "gauge",
	  "Time of the last successful configuration load, Unix seconds." },
};

static void
describe_metrics(struct metrics *m)
{
	for (size_t i = 0; i < sizeof(metric_docs) / sizeof(metric_docs[0]); i++) {
		const struct metric_doc *d = &metric_docs[i];

		if (strcmp(d->type, "histogram-long") == 0)
			metrics_describe_long(m, d->name, d->help);
		else
			metrics_describe(m, d->name, d->type, d->help);
	}
	metrics_describe_process(m);
	metrics_set(m, "poky_build_info", 1, "version", POKY_VERSION, METRICS_END);
}

struct opts {
	const char *cfg_path, *listen, *backup;
	bool test, iam, iam_calls, force;
};

/* The flags into o.  -1: run the daemon (or a check); otherwise a one-shot
 * command ran, or the flags were wrong, and this is the exit status. */
static int
parse_flags(int argc, char **argv, struct opts *o)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test", no_argument, NULL, 't' },
		{ "listen", required_argument, NULL, 'L' },
		{ "print-iam-policy", no_argument, NULL, 'P' },
		{ "print-iam-calls", no_argument, NULL, 'I' },
		{ "hash-token", optional_argument, NULL, 'H' },
		{ "backup", required_argument, NULL, 'B' },
		{ "force", no_argument, NULL, 'F' },
		{ "init", required_argument, NULL, 'N' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->cfg_path = DEFAULT_CONFIG;
	while ((c = getopt_long(argc, argv, "c:th", opts, NULL)) != -1) {
		switch (c) {
		case 'c': o->cfg_path = optarg; break;
		case 't': o->test = true; break;
		case 'L': o->listen = optarg; break;
		case 'P': o->iam = true; break;
		case 'I': o->iam = o->iam_calls = true; break;
		case 'B': o->backup = optarg; break;
		case 'F': o->force = true; break;
		case 'H':
			return pokyd_cmd_hash_token(optarg ? optarg : (optind <
			    argc && argv[optind][0] != '-' ? argv[optind] :
			    "token"));
		case 'N':
			return pokyd_cmd_init(optarg, optind < argc &&
			    argv[optind][0] != '-' ? argv[optind] : "admin");
		case 'V': printf("pokyd %s\n", POKY_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pokyd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	return -1;
}

/* -t, --print-iam-policy and --backup, which read the configuration and
 * exit.  -1 when none was asked for. */
static int
run_offline(const struct opts *o)
{
	struct config *cfg = NULL;
	struct auth_tokens *tokens = NULL;
	struct poky_error e = { 0 };
	int status;

	if (o->backup != NULL)
		return pokyd_cmd_backup(o->cfg_path, o->backup, o->force);
	if (!o->test && !o->iam)
		return -1;
	/* The policy depends on the templates only: no tokens_file or listen
	 * address needs to be there to print it; -t checks everything. */
	if ((o->test ? load_all(o->cfg_path, o->listen, &cfg, &tokens, &e) :
	    config_load(o->cfg_path, &cfg, &e)) != POKY_OK || cfg == NULL) {
		fprintf(stderr, "pokyd: %s\n", e.message);
		return 1;
	}
	if (o->test)
		puts("configuration OK");
	status = o->iam ? pokyd_cmd_print_iam(cfg, o->iam_calls) : 0;
	config_free(cfg);
	auth_free(tokens);
	return status;
}

/* The shared state every part of the daemon uses: the configuration, the
 * metrics, the store and its watches. */
static bool
app_open(struct app *app, struct config *cfg, struct auth_tokens *tokens)
{
	struct poky_error e = { 0 };

	memset(app, 0, sizeof(*app));
	pthread_mutex_init(&app->conf_lock, NULL);
	pthread_mutex_init(&app->aws_lock, NULL);
	app->started = time(NULL);
	snprintf(app->state_dir, sizeof(app->state_dir), "%s", cfg->server.state_dir);
	app_config_swap(app, cfg, tokens);
	app->metrics = metrics_new();
	app->store = store_open(app->state_dir, &e);
	if (app->store != NULL) {
		/* Set once, before any write: the writer tells the watches. */
		app->watch = watch_new(cfg->server.max_watchers, &e);
		if (app->watch == NULL) {
			store_close(app->store);
			app->store = NULL;
		} else {
			store_set_notify(app->store, watch_notify, app->watch);
		}
	}
	if (app->metrics == NULL || app->store == NULL) {
		log_errorx("cannot start: %s", app->store ? "out of memory" :
		    e.message);
		return false;
	}
	describe_metrics(app->metrics);
	config_loaded(app, true);
	return true;
}

/* The background parts, in the order they may need each other. */
static bool
start_parts(struct app *app, struct retention **retention)
{
	/* Webhooks first: the launchers may finish tasks as they start. */
	app->webhook = webhook_new(app);
	app->local = local_new(app);
	app->docker = docker_new(app);
	/* The queue before the tracker, which hands it interrupted launches. */
	app->launchq = launchq_new(app);
	app->tracker = app->launchq ? tracker_new(app) : NULL;
	*retention = retention_new(app);
	if (app->webhook == NULL || app->local == NULL || app->docker == NULL ||
	    app->launchq == NULL || app->tracker == NULL || *retention == NULL) {
		log_errorx("cannot start background threads");
		return false;
	}
	return true;
}

static struct http_server *
start_http(struct app *app, const char *cfg_path, bool anonymous)
{
	struct app_conf *conf = app_config_get(app);
	const struct config *c = conf->cfg;
	struct http_server *srv;
	struct poky_error e = { 0 };
	char host[256];
	unsigned port;

	config_split_listen(c->server.listen, host, sizeof(host), &port, NULL);
	srv = http_start(app, host, port, c->server.threads,
	    c->server.request_timeout, c->server.max_connections, &e);
	app_config_put(app, conf);
	if (srv == NULL) {
		log_errorx("%s", e.message);
		return NULL;
	}
	log_info("pokyd %s listening on %s%s%s:%u (config %s, state %s)",
	    POKY_VERSION, strchr(host, ':') ? "[" : "", host,
	    strchr(host, ':') ? "]" : "", http_port(srv), cfg_path, app->state_dir);
	/* allow_anonymous let this through load_all; the container's sample
	 * config runs this way, so its log must say what that means. */
	if (anonymous && !loopback(host))
		log_warnx("no tokens_file: anyone who can reach port %u can start "
		    "tasks (allow_anonymous = true); publish it on loopback only, "
		    "or set [server] tokens_file", http_port(srv));
	return srv;
}

/* SIGHUP: templates and tokens from the file again.  The new file is
 * checked against the socket we hold (bound), not its own listen (which
 * needs a restart): a SIGHUP that drops tokens_file while bound to 0.0.0.0
 * must not serve anonymously. */
static void
reload(struct app *app, const char *cfg_path, const char *bound)
{
	struct config *ncfg;
	struct auth_tokens *ntok;
	struct poky_error e = { 0 };

	notify("RELOADING=1");
	if (load_all(cfg_path, bound, &ncfg, &ntok, &e) == POKY_OK) {
		app_config_swap(app, ncfg, ntok);
		config_loaded(app, true);
		log_info("reloaded %s (templates and tokens; listen, threads and "
		    "state_dir need a restart)", cfg_path);
	} else {
		config_loaded(app, false);
		log_errorx("reload failed, keeping the old configuration: %s",
		    e.message);
	}
	notify("READY=1");
}

/* Signals until SIGTERM or SIGINT; the systemd watchdog is pinged only
 * while the store still takes writes, so a stuck store gets us restarted. */
static void
serve(struct app *app, const sigset_t *sigs, const char *cfg_path,
      const char *bound)
{
	uint64_t wd_usec = 0;

	notify("READY=1");
	if (sd_watchdog_enabled(0, &wd_usec) <= 0)
		wd_usec = 0;
	for (;;) {
		struct timespec ts = { 1, 0 };
		int sig;

		if (wd_usec > 0) {
			ts.tv_sec = (time_t)(wd_usec / 2000000);
			ts.tv_nsec = (long)((wd_usec / 2) % 1000000) * 1000;
		}
		sig = sigtimedwait(sigs, NULL, &ts);
		if (sig < 0) {
			if (wd_usec > 0 && store_writable(app->store))
				notify("WATCHDOG=1");
			continue;
		}
		if (sig == SIGHUP) {
			reload(app, cfg_path, bound);
			continue;
		}
		log_info("signal %d: draining requests and stopping", sig);
		break;
	}
	notify("STOPPING=1");
}

/* Everything started, stopped in the reverse order of need. */
static void
app_close(struct app *app, struct http_server *srv, struct retention *retention)
{
	/* Requests waiting for a launch give up their wait and answer. */
	atomic_store(&app->stopping, true);
	http_quiesce(srv);
	http_stop(srv);
	retention_free(retention);
	tracker_free(app->tracker);
	launchq_free(app->launchq);
	app->launchq = NULL;
	local_free(app->local);
	docker_free(app->docker);
	webhook_free(app->webhook);
	store_close(app->store);
	watch_free(app->watch);
	aws_client_free(app->aws);
	metrics_free(app->metrics);
	if (app->conf != NULL)
		app_config_put(app, app->conf);
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct retention *retention = NULL;
	struct config *cfg = NULL;
	struct auth_tokens *tokens = NULL;
	struct poky_error e = { 0 };
	struct http_server *srv = NULL;
	struct app app;
	char bound[300];
	sigset_t sigs;
	int status = 1;

	if (argc > 1 && strcmp(argv[1], "--supervise") == 0)
		return local_supervise_main(argc, argv);
	if ((status = parse_flags(argc, argv, &o)) >= 0 ||
	    (status = run_offline(&o)) >= 0)
		return status;
	status = 1;
	if (load_all(o.cfg_path, o.listen, &cfg, &tokens, &e) != POKY_OK ||
	    cfg == NULL) {
		fprintf(stderr, "pokyd: %s\n", e.message);
		return 1;
	}
	log_setup(stderr, (enum log_format)cfg->server.log_format,
	    (enum log_level)cfg->server.log_level);

	/* Signals are taken by sigwait in this thread only: block them before
	 * any thread starts so every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	httpc_global_init();

	snprintf(bound, sizeof(bound), "%s", cfg->server.listen);
	if (app_open(&app, cfg, tokens) && start_parts(&app, &retention) &&
	    (srv = start_http(&app, o.cfg_path, tokens == NULL)) != NULL) {
		serve(&app, &sigs, o.cfg_path, bound);
		status = 0;
	}
	app_close(&app, srv, retention);
	sigv4_cleanup();
	httpc_global_cleanup();
	return status;
}
