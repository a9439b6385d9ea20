/* app.c - shared state: the current configuration and the AWS client. */
#include <stdlib.h>
#include <string.h>

#include "poky/app.h"
#include "poky/auth.h"
#include "poky/awsreq.h"
#include "poky/creds.h"
#include "poky/metrics.h"

struct app_conf *
app_config_get(struct app *app)
{
	struct app_conf *c;

	pthread_mutex_lock(&app->conf_lock);
	c = app->conf;
	c->refs++;
	pthread_mutex_unlock(&app->conf_lock);
	return c;
}

static void
conf_free(struct app_conf *c)
{
	config_free(c->cfg);
	auth_free(c->tokens);
	free(c);
}

void
app_config_put(struct app *app, struct app_conf *c)
{
	bool last;

	pthread_mutex_lock(&app->conf_lock);
	last = --c->refs == 0;
	pthread_mutex_unlock(&app->conf_lock);
	if (last)
		conf_free(c);
}

void
app_config_swap(struct app *app, struct config *cfg, struct auth_tokens *tokens)
{
	struct app_conf *n = calloc(1, sizeof(*n)), *old;

	if (n == NULL) {
		config_free(cfg);
		auth_free(tokens);
		return;
	}
	n->cfg = cfg;
	n->tokens = tokens;
	n->refs = 1;                    /* the app's own reference */
	pthread_mutex_lock(&app->conf_lock);
	old = app->conf;
	app->conf = n;
	pthread_mutex_unlock(&app->conf_lock);
	if (old != NULL)
		app_config_put(app, old);
}

/* One AWS call ended: count it, its retries and its throttled answers. */
static void
aws_observed(void *ud, const struct aws_call_stats *s)
{
	struct metrics *m = ((struct app *)ud)->metrics;

	metrics_add(m, "poky_aws_requests_total", 1, "service", s->service,
	    "operation", s->operation, "outcome", s->outcome, METRICS_END);
	metrics_add(m, "poky_aws_retries_total",
	    s->attempts > 1 ? (double)(s->attempts - 1) : 0, "service", s->service,
	    "operation", s->operation, METRICS_END);
	metrics_add(m, "poky_aws_throttles_total", (double)s->throttles,
	    "service", s->service, "operation", s->operation, METRICS_END);
	metrics_observe(m, "poky_aws_request_duration_seconds", s->seconds,
	    "service", s->service, "operation", s->operation, METRICS_END);
	/* Present at 0 for every operation used, so a rate() has a series
	 * before the first error. */
	metrics_add(m, "poky_aws_errors_total", strcmp(s->outcome, "ok") != 0,
	    "service", s->service, "operation", s->operation, METRICS_END);
}

struct aws_client *
app_aws(struct app *app, struct poky_error *e)
{
	struct aws_client *c;

	pthread_mutex_lock(&app->aws_lock);
	if (app->aws == NULL) {
		struct app_conf *conf = app_config_get(app);
		const struct config *cfg = conf->cfg;
		struct aws_config ac = {
			.region = cfg->aws.region, .profile = cfg->aws.profile,
			.endpoint_url = cfg->aws.endpoint_url,
			.ecs_endpoint_url = cfg->aws.ecs_endpoint_url,
			.s3_endpoint_url = cfg->aws.s3_endpoint_url,
			.sts_endpoint_url = cfg->aws.sts_endpoint_url,
			.logs_endpoint_url = cfg->aws.logs_endpoint_url,
			.max_attempts = cfg->aws.max_attempts,
			.connect_timeout_ms = cfg->aws.connect_timeout * 1000,
			.timeout_ms = cfg->aws.request_timeout * 1000,
			.app_name = "pokyd",
		};

		app->aws = creds_client_new(&ac, e);
		if (app->aws != NULL)
			aws_client_set_observer(app->aws, aws_observed, app);
		app_config_put(app, conf);
	}
	c = app->aws;
	pthread_mutex_unlock(&app->aws_lock);
	return c;
}
