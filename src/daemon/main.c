/* main.c - pokyd: flags, configuration, signals, sd_notify, wiring (L5). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
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

#include "iam.h"

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

static int
hash_token(const char *name)
{
	char tok[AUTH_TOKEN_MAX + 2], line[AUTH_NAME_MAX + 80];
	struct poky_error e;
	size_t n;

	if (fgets(tok, sizeof(tok), stdin) == NULL) {
		fprintf(stderr, "pokyd: no token on stdin\n");
		return 2;
	}
	n = strcspn(tok, "\r\n");
	tok[n] = '\0';
	if (auth_hash_line(name, tok, n, line, sizeof(line), &e) != POKY_OK) {
		fprintf(stderr, "pokyd: %s\n", e.message);
		return 2;
	}
	puts(line);
	return 0;
}

/* A new random token for NAME: its hashed line is appended to FILE (made 0600
 * when absent, so a root-owned tokens file stays root's), the token itself goes
 * to stdout once and is not kept anywhere. */
static int
init_token(const char *path, const char *name)
{
	unsigned char raw[32];
	char tok[2 * sizeof(raw) + 1], line[AUTH_NAME_MAX + 80];
	struct poky_error e;
	size_t n;
	int fd, status = 1;

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		fprintf(stderr, "pokyd: no random bytes: %s\n", strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(tok + 2 * i, 3, "%02x", raw[i]);
	if (auth_hash_line(name, tok, strlen(tok), line, sizeof(line), &e) != POKY_OK) {
		fprintf(stderr, "pokyd: %s\n", e.message);
		status = 2;
		goto out;
	}
	n = strlen(line);
	line[n++] = '\n';
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		fprintf(stderr, "pokyd: %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (write(fd, line, n) != (ssize_t)n || fsync(fd) != 0) {
		fprintf(stderr, "pokyd: %s: %s\n", path, strerror(errno));
		close(fd);
		goto out;
	}
	if (close(fd) != 0) {
		fprintf(stderr, "pokyd: %s: %s\n", path, strerror(errno));
		goto out;
	}
	printf("%s\n", tok);
	fprintf(stderr, "pokyd: token '%s' added to %s; it is shown only this once "
	    "(send it as 'Authorization: Bearer TOKEN')\n", name, path);
	status = 0;
out:
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(tok, sizeof(tok));
	return status;
}

/* --print-iam-policy: the policy iam.c makes from its table of calls;
 * --print-iam-calls: that table, resolved for the configuration (tests). */
static int
print_iam(const struct config *cfg, bool calls)
{
	struct poky_error e = { 0 };
	json_t *doc = calls ? iam_calls(cfg, &e) : iam_policy(cfg, &e);
	char *text;

	if (doc == NULL) {
		fprintf(stderr, "pokyd: %s\n", e.message);
		return 1;
	}
	if (!calls && json_array_size(json_object_get(doc, "Statement")) == 0) {
		fprintf(stderr, "pokyd: no template calls AWS: no AWS permissions "
		    "needed\n");
		json_decref(doc);
		return 0;
	}
	text = json_dumps(doc, JSON_INDENT(2));
	json_decref(doc);
	if (text == NULL) {
		fprintf(stderr, "pokyd: out of memory\n");
		return 1;
	}
	puts(text);
	free(text);
	return 0;
}

/* --backup: only state_dir is needed, so the configuration is not checked
 * further (tokens, listen) than loading it. */
static int
store_backup_main(const char *cfg_path, const char *out, bool force)
{
	struct config *cfg = NULL;
	struct store_backup_stats st;
	struct poky_error e = { 0 };

	if (config_load(cfg_path, &cfg, &e) != POKY_OK ||
	    store_backup(cfg->server.state_dir, out, force, &st, &e) != POKY_OK) {
		fprintf(stderr, "pokyd: backup failed: %s\n", e.message);
		config_free(cfg);
		return 1;
	}
	printf("backup: %s: %d pages in %d steps (%d restarts)\n", out, st.pages,
	    st.steps, st.restarts);
	config_free(cfg);
	return 0;
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

int
main(int argc, char **argv)
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
	const char *cfg_path = DEFAULT_CONFIG, *listen = NULL, *backup = NULL;
	bool test = false, iam = false, iam_calls_only = false, force = false;
	struct retention *retention = NULL;
	struct config *cfg = NULL;
	struct auth_tokens *tokens = NULL;
	struct poky_error e = { 0 };
	struct http_server *srv = NULL;
	struct app app;
	char host[256], bound[300];
	unsigned port;
	sigset_t sigs;
	uint64_t wd_usec = 0;
	int c, status = 1;

	if (argc > 1 && strcmp(argv[1], "--supervise") == 0)
		return local_supervise_main(argc, argv);
	while ((c = getopt_long(argc, argv, "c:th", opts, NULL)) != -1) {
		switch (c) {
		case 'c': cfg_path = optarg; break;
		case 't': test = true; break;
		case 'L': listen = optarg; break;
		case 'P': iam = true; break;
		case 'I': iam = iam_calls_only = true; break;
		case 'B': backup = optarg; break;
		case 'F': force = true; break;
		case 'H':
			return hash_token(optarg ? optarg : (optind < argc &&
			    argv[optind][0] != '-' ? argv[optind] : "token"));
		case 'N':
			return init_token(optarg, optind < argc &&
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
	if (iam && !test) {
		/* The policy depends on the templates only: no tokens_file or
		 * listen address needs to be there to print it. */
		if (config_load(cfg_path, &cfg, &e) != POKY_OK || cfg == NULL) {
			fprintf(stderr, "pokyd: %s\n", e.message);
			return 1;
		}
		status = print_iam(cfg, iam_calls_only);
		config_free(cfg);
		return status;
	}
	if (backup != NULL)
		return store_backup_main(cfg_path, backup, force);
	if (load_all(cfg_path, listen, &cfg, &tokens, &e) != POKY_OK || cfg == NULL) {
		fprintf(stderr, "pokyd: %s\n", e.message);
		return 1;
	}
	if (test || iam) {
		if (test)
			puts("configuration OK");
		status = iam ? print_iam(cfg, iam_calls_only) : 0;
		config_free(cfg);
		auth_free(tokens);
		return status;
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

	memset(&app, 0, sizeof(app));
	pthread_mutex_init(&app.conf_lock, NULL);
	pthread_mutex_init(&app.aws_lock, NULL);
	app.started = time(NULL);
	snprintf(app.state_dir, sizeof(app.state_dir), "%s", cfg->server.state_dir);
	config_split_listen(cfg->server.listen, host, sizeof(host), &port, NULL);
	/* A reload is checked against the socket we hold, not the new file's
	 * listen (which needs a restart): a SIGHUP that drops tokens_file
	 * while bound to 0.0.0.0 must not serve anonymously. */
	snprintf(bound, sizeof(bound), "%s", cfg->server.listen);
	app_config_swap(&app, cfg, tokens);
	app.metrics = metrics_new();
	app.store = store_open(app.state_dir, &e);
	if (app.store != NULL) {
		struct app_conf *wconf = app_config_get(&app);

		/* Set once, before any write: the writer tells the watches. */
		app.watch = watch_new(wconf->cfg->server.max_watchers, &e);
		app_config_put(&app, wconf);
		if (app.watch == NULL) {
			store_close(app.store);
			app.store = NULL;
		} else {
			store_set_notify(app.store, watch_notify, app.watch);
		}
	}
	if (app.metrics == NULL || app.store == NULL) {
		log_errorx("cannot start: %s", app.store ? "out of memory" : e.message);
		goto out;
	}
	metrics_describe(app.metrics, "poky_build_info", "gauge", "Build information.");
	metrics_describe(app.metrics, "poky_http_requests_total", "counter",
	    "HTTP requests by method, route and status code.");
	metrics_describe(app.metrics, "poky_http_request_duration_seconds",
	    "histogram", "HTTP request duration by route.");
	metrics_describe(app.metrics, "poky_tasks_launched_total", "counter",
	    "Tasks launched by template and launcher.");
	metrics_describe(app.metrics, "poky_tasks", "gauge",
	    "Task records by status.");
	metrics_describe(app.metrics, "poky_tasks_finished_total", "counter",
	    "Tasks that reached a final status, by template and status.");
	metrics_describe(app.metrics, "poky_tasks_running", "gauge",
	    "Tasks running now.");
	metrics_describe(app.metrics, "poky_aws_requests_total", "counter",
	    "AWS API calls by service, operation and outcome (ok, client_error, "
	    "server_error, throttled, network), retries included in one call.");
	metrics_describe(app.metrics, "poky_aws_retries_total", "counter",
	    "AWS requests sent again after a failed attempt.");
	metrics_describe(app.metrics, "poky_aws_throttles_total", "counter",
	    "AWS answers that were throttling errors.");
	metrics_describe(app.metrics, "poky_webhook_deliveries_total", "counter",
	    "Webhook delivery attempts by outcome: delivered, retry (another "
	    "attempt scheduled) or failed (given up or refused).");
	metrics_describe(app.metrics, "poky_uptime_seconds", "gauge",
	    "Seconds since pokyd started (deprecated: use "
	    "time() - process_start_time_seconds).");
	metrics_describe(app.metrics, "poky_store_deferred_failures_total", "counter",
	    "Launch ids RunTask answered that could not be stored after the 202 "
	    "(a restart finishes those launches with the same clientToken).");
	metrics_describe(app.metrics, "poky_launch_queue_depth", "gauge",
	    "ECS tasks waiting in the launch queue, by template.");
	metrics_describe(app.metrics, "poky_launch_queue_wait_seconds", "histogram",
	    "Time from a task's 202 to the start of its launch, by template.");
	metrics_describe(app.metrics, "poky_launch_duration_seconds", "histogram",
	    "Time one launch (RunTask, retries included) took, by template.");
	metrics_describe(app.metrics, "poky_launch_throttled_total", "counter",
	    "Launches ECS throttled past the retries (re-queued, paced), by "
	    "template.");
	metrics_describe(app.metrics, "poky_aws_request_duration_seconds",
	    "histogram", "AWS API call duration by service and operation, "
	    "retries and their waits included.");
	metrics_describe(app.metrics, "poky_aws_errors_total", "counter",
	    "AWS API calls that ended in an error (any outcome but ok), by "
	    "service and operation.");
	metrics_describe_long(app.metrics, "poky_task_duration_seconds",
	    "Run time of finished tasks (start to end; creation to end for "
	    "tasks that never started), by template and final status.");
	metrics_describe(app.metrics, "poky_config_last_reload_successful",
	    "gauge", "1 if the last configuration load (start or SIGHUP) "
	    "succeeded, 0 if it failed (the old configuration is kept).");
	metrics_describe(app.metrics,
	    "poky_config_last_reload_success_timestamp_seconds", "gauge",
	    "Time of the last successful configuration load, Unix seconds.");
	metrics_describe_process(app.metrics);
	metrics_set(app.metrics, "poky_build_info", 1, "version", POKY_VERSION, METRICS_END);
	config_loaded(&app, true);

	/* Webhooks first: the launchers may finish tasks as they start. */
	app.webhook = webhook_new(&app);
	app.local = local_new(&app);
	app.docker = docker_new(&app);
	/* The queue before the tracker, which hands it interrupted launches. */
	app.launchq = launchq_new(&app);
	app.tracker = app.launchq ? tracker_new(&app) : NULL;
	retention = retention_new(&app);
	if (app.webhook == NULL || app.local == NULL || app.docker == NULL ||
	    app.launchq == NULL || app.tracker == NULL || retention == NULL) {
		log_errorx("cannot start background threads");
		goto out;
	}
	{
		struct app_conf *conf = app_config_get(&app);

		srv = http_start(&app, host, port, conf->cfg->server.threads,
		    conf->cfg->server.request_timeout,
		    conf->cfg->server.max_connections, &e);
		app_config_put(&app, conf);
	}
	if (srv == NULL) {
		log_errorx("%s", e.message);
		goto out;
	}
	log_info("pokyd %s listening on %s%s%s:%u (config %s, state %s)",
	    POKY_VERSION, strchr(host, ':') ? "[" : "", host,
	    strchr(host, ':') ? "]" : "", http_port(srv), cfg_path, app.state_dir);
	/* allow_anonymous let this through load_all; the container's sample
	 * config runs this way, so its log must say what that means. */
	if (tokens == NULL && !loopback(host))
		log_warnx("no tokens_file: anyone who can reach port %u can start "
		    "tasks (allow_anonymous = true); publish it on loopback only, "
		    "or set [server] tokens_file", http_port(srv));
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
		sig = sigtimedwait(&sigs, NULL, &ts);
		if (sig < 0) {
			/* A healthy loop pings the watchdog; a stuck store does
			 * not, and systemd restarts us. */
			if (wd_usec > 0 && store_writable(app.store))
				notify("WATCHDOG=1");
			continue;
		}
		if (sig == SIGHUP) {
			struct config *ncfg;
			struct auth_tokens *ntok;

			notify("RELOADING=1");
			if (load_all(cfg_path, bound, &ncfg, &ntok, &e) == POKY_OK) {
				app_config_swap(&app, ncfg, ntok);
				config_loaded(&app, true);
				log_info("reloaded %s (templates and tokens; listen, "
				    "threads and state_dir need a restart)", cfg_path);
			} else {
				config_loaded(&app, false);
				log_errorx("reload failed, keeping the old configuration: %s",
				    e.message);
			}
			notify("READY=1");
			continue;
		}
		log_info("signal %d: draining requests and stopping", sig);
		break;
	}
	notify("STOPPING=1");
	status = 0;
out:
	/* Requests waiting for a launch give up their wait and answer. */
	atomic_store(&app.stopping, true);
	http_quiesce(srv);
	http_stop(srv);
	retention_free(retention);
	tracker_free(app.tracker);
	launchq_free(app.launchq);
	app.launchq = NULL;
	local_free(app.local);
	docker_free(app.docker);
	webhook_free(app.webhook);
	store_close(app.store);
	watch_free(app.watch);
	aws_client_free(app.aws);
	metrics_free(app.metrics);
	if (app.conf != NULL)
		app_config_put(&app, app.conf);
	sigv4_cleanup();
	httpc_global_cleanup();
	return status;
}
