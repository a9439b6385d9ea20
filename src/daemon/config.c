/* config.c - load and check pokyd's INI configuration (see config.h). */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iniparser.h>
#include <jansson.h>

#include "poky/config.h"
#include "poky/log.h"
#include "poky/str.h"

#define KEY_MAX 256

struct loader {
	const char *path;
	dictionary *d;
	struct config *c;
	struct poky_error *e;
};

static enum poky_err
bad(struct loader *l, const char *sec, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Every configuration error names file, section and key. */
static enum poky_err
bad(struct loader *l, const char *sec, const char *key, const char *fmt, ...)
{
	char what[POKY_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (key != NULL)
		return poky_error_set(l->e, POKY_ERR_INVALID, "%s: [%s] %s: %s",
		    l->path, sec, key, what);
	return poky_error_set(l->e, POKY_ERR_INVALID, "%s: [%s]: %s", l->path,
	    sec, what);
}

static const char *
get(struct loader *l, const char *sec, const char *key)
{
	char full[KEY_MAX * 2];

	snprintf(full, sizeof(full), "%s:%s", sec, key);
	return iniparser_getstring(l->d, full, NULL);
}

static enum poky_err
dup_str(struct loader *l, char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
	return *dst ? POKY_OK : poky_error_set(l->e, POKY_ERR_NOMEM, "out of memory");
}

static enum poky_err
get_str(struct loader *l, const char *sec, const char *key, char **dst)
{
	const char *v = get(l, sec, key);

	return v == NULL ? POKY_OK : dup_str(l, dst, v);
}

static enum poky_err
get_long(struct loader *l, const char *sec, const char *key, long lo, long hi,
	 long *dst)
{
	const char *v = get(l, sec, key);
	char *end;
	long x;

	if (v == NULL)
		return POKY_OK;
	errno = 0;
	x = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno != 0 || x < lo || x > hi)
		return bad(l, sec, key, "'%s' is not a whole number in %ld..%ld",
		    v, lo, hi);
	*dst = x;
	return POKY_OK;
}

static enum poky_err
get_int(struct loader *l, const char *sec, const char *key, int lo, int hi,
	int *dst)
{
	long x = *dst;
	enum poky_err rc = get_long(l, sec, key, lo, hi, &x);

	*dst = (int)x;
	return rc;
}

static enum poky_err
get_bool(struct loader *l, const char *sec, const char *key, bool *dst)
{
	const char *v = get(l, sec, key);

	if (v == NULL)
		return POKY_OK;
	if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "1") == 0)
		*dst = true;
	else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 ||
	    strcmp(v, "0") == 0)
		*dst = false;
	else
		return bad(l, sec, key, "'%s' is not true or false", v);
	return POKY_OK;
}

/* A duration: a whole number with an optional unit, s (the default), m, h
 * or d ("30d", "12h", "3600"), into seconds within lo..hi (0 is allowed
 * too when zero_ok).  Empty keeps the default. */
static enum poky_err
get_duration(struct loader *l, const char *sec, const char *key, double lo,
	     double hi, bool zero_ok, double *dst)
{
	const char *v = get(l, sec, key);
	char *end;
	unsigned long long x;
	double mult = 1, secs;

	if (v == NULL || *v == '\0')         /* "key =": the default */
		return POKY_OK;
	/* strtoull takes a sign and blanks; a duration starts with a digit. */
	if (!isdigit((unsigned char)*v))
		goto bad;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno != 0 || (end[0] != '\0' &&
	    (end[1] != '\0' || strchr("smhd", end[0]) == NULL)))
		goto bad;
	switch (*end) {
	case 'm': mult = 60; break;
	case 'h': mult = 3600; break;
	case 'd': mult = 86400; break;
	default: break;
	}
	secs = (double)x * mult;
	if ((secs == 0 && zero_ok) || (secs >= lo && secs <= hi)) {
		*dst = secs;
		return POKY_OK;
	}
bad:
	return bad(l, sec, key, "'%s' is not a duration (a whole number with s, "
	    "m, h or d) in %.0fs..%.0fd%s", v, lo, hi / 86400,
	    zero_ok ? ", or 0" : "");
}

/* "a, b ,c" -> {"a","b","c"}; empty items are dropped. */
static enum poky_err
get_list(struct loader *l, const char *sec, const char *key, char **items,
	 size_t *n)
{
	const char *v = get(l, sec, key), *p;

	if (v == NULL)
		return POKY_OK;
	while (*n > 0)
		free(items[--*n]);
	for (p = v; *p != '\0';) {
		const char *q = p + strcspn(p, ",");
		const char *s = p, *t = q;

		while (s < t && isspace((unsigned char)*s))
			s++;
		while (t > s && isspace((unsigned char)t[-1]))
			t--;
		if (t > s) {
			if (*n == CONFIG_MAX_LIST)
				return bad(l, sec, key, "more than %d items",
				    CONFIG_MAX_LIST);
			items[*n] = strndup(s, (size_t)(t - s));
			if (items[*n] == NULL)
				return poky_error_set(l->e, POKY_ERR_NOMEM, "out of memory");
			(*n)++;
		}
		p = *q ? q + 1 : q;
	}
	return POKY_OK;
}

static bool
in_list(const char *key, const char *const *keys)
{
	for (; *keys != NULL; keys++)
		if (strcmp(key, *keys) == 0)
			return true;
	return false;
}

/* Unknown keys are mistakes (a typo would otherwise be silently ignored). */
static enum poky_err
check_keys(struct loader *l, const char *sec, const char *const *known,
	   bool template)
{
	int n = iniparser_getsecnkeys(l->d, sec);
	const char **keys;
	size_t slen = strlen(sec) + 1;
	enum poky_err rc = POKY_OK;

	if (n <= 0)
		return POKY_OK;
	keys = calloc((size_t)n, sizeof(*keys));
	if (keys == NULL)
		return poky_error_set(l->e, POKY_ERR_NOMEM, "out of memory");
	iniparser_getseckeys(l->d, sec, keys);
	for (int i = 0; i < n && rc == POKY_OK; i++) {
		const char *k = keys[i] + slen;

		if (in_list(k, known))
			continue;
		if (template && (strncmp(k, "param.", 6) == 0 ||
		    strncmp(k, "env.", 4) == 0))
			continue;
		rc = bad(l, sec, k, "unknown key");
	}
	free(keys);
	return rc;
}

/* A number of unit (fractions allowed) in lo..hi; *out is kept when the
 * key is absent. */
static enum poky_err
get_number(struct loader *l, const char *sec, const char *key, double lo,
	   double hi, const char *unit, double *out)
{
	const char *v = get(l, sec, key);
	char *end;
	double x;

	if (v == NULL)
		return POKY_OK;
	errno = 0;
	x = strtod(v, &end);
	if (*v == '\0' || *end != '\0' || errno != 0 || !isfinite(x) ||
	    x < lo || x > hi)
		return bad(l, sec, key, "'%s' is not a number of %s in %g..%g",
		    v, unit, lo, hi);
	*out = x;
	return POKY_OK;
}

/* ---- sections ------------------------------------------------------------- */

static const char *const server_keys[] = { "listen", "threads",
	"max_body_bytes", "tokens_file", "allow_anonymous", "state_dir",
	"log_format", "log_level", "request_timeout", "max_connections",
	"max_watchers", "max_connections_per_client", "min_transfer_rate",
	"server_names", NULL };

static enum poky_err
load_server(struct loader *l)
{
	struct config *c = l->c;
	const char *v;
	long body = (long)c->server.max_body_bytes;
	enum poky_err rc;

	if ((rc = check_keys(l, "server", server_keys, false)) ||
	    (rc = get_str(l, "server", "listen", &c->server.listen)) ||
	    (rc = get_int(l, "server", "threads", 1, 256, &c->server.threads)) ||
	    (rc = get_long(l, "server", "max_body_bytes", 256, 16L << 20, &body)) ||
	    (rc = get_str(l, "server", "tokens_file", &c->server.tokens_file)) ||
	    (rc = get_bool(l, "server", "allow_anonymous", &c->server.allow_anonymous)) ||
	    (rc = get_str(l, "server", "state_dir", &c->server.state_dir)) ||
	    (rc = get_long(l, "server", "request_timeout", 1, 3600,
	     &c->server.request_timeout)) ||
	    (rc = get_int(l, "server", "max_connections", 4, 65536,
	     &c->server.max_connections)) ||
	    (rc = get_int(l, "server", "max_watchers", 1, 65536,
	     &c->server.max_watchers)) ||
	    (rc = get_int(l, "server", "max_connections_per_client", 0, 65536,
	     &c->server.max_conns_per_client)) ||
	    (rc = get_long(l, "server", "min_transfer_rate", 1, 1L << 30,
	     &c->server.min_transfer_rate)) ||
	    (rc = get_list(l, "server", "server_names", c->server.server_names,
	     &c->server.n_server_names)))
		return rc;
	c->server.max_body_bytes = (size_t)body;
	if ((v = get(l, "server", "log_format")) != NULL &&
	    (c->server.log_format = log_format_parse(v)) < 0)
		return bad(l, "server", "log_format", "'%s' is not text or json", v);
	if ((v = get(l, "server", "log_level")) != NULL &&
	    (c->server.log_level = log_level_parse(v)) < 0)
		return bad(l, "server", "log_level",
		    "'%s' is not debug, info, warn or error", v);
	if (c->server.state_dir[0] == '\0' || strlen(c->server.state_dir) > 1900)
		return bad(l, "server", "state_dir", "must be 1..1900 characters");
	if (c->server.tokens_file != NULL && c->server.tokens_file[0] == '\0') {
		free(c->server.tokens_file);
		c->server.tokens_file = NULL;
	}
	{
		char host[256];
		unsigned port;
		struct poky_error e2;

		if (config_split_listen(c->server.listen, host, sizeof(host), &port,
		    &e2) != POKY_OK)
			return bad(l, "server", "listen", "%s", e2.message);
	}
	return POKY_OK;
}

static const char *const aws_keys[] = { "region", "profile", "endpoint_url",
	"ecs_endpoint_url", "s3_endpoint_url", "sts_endpoint_url",
	"logs_endpoint_url",
	"max_attempts", "connect_timeout", "request_timeout", "max_in_flight",
	"runtask_rate", "runtask_burst", "max_queued", NULL };

static enum poky_err
check_url(struct loader *l, const char *sec, const char *key, const char *v)
{
	if (v == NULL || *v == '\0')
		return POKY_OK;
	if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
		return bad(l, sec, key, "'%s' must start with http:// or https://", v);
	return POKY_OK;
}

static enum poky_err
load_aws(struct loader *l)
{
	struct config *c = l->c;
	enum poky_err rc;

	if ((rc = check_keys(l, "aws", aws_keys, false)) ||
	    (rc = get_str(l, "aws", "region", &c->aws.region)) ||
	    (rc = get_str(l, "aws", "profile", &c->aws.profile)) ||
	    (rc = get_str(l, "aws", "endpoint_url", &c->aws.endpoint_url)) ||
	    (rc = get_str(l, "aws", "ecs_endpoint_url", &c->aws.ecs_endpoint_url)) ||
	    (rc = get_str(l, "aws", "s3_endpoint_url", &c->aws.s3_endpoint_url)) ||
	    (rc = get_str(l, "aws", "sts_endpoint_url", &c->aws.sts_endpoint_url)) ||
	    (rc = get_str(l, "aws", "logs_endpoint_url", &c->aws.logs_endpoint_url)) ||
	    (rc = get_int(l, "aws", "max_attempts", 1, 10, &c->aws.max_attempts)) ||
	    (rc = get_long(l, "aws", "connect_timeout", 1, 60, &c->aws.connect_timeout)) ||
	    (rc = get_long(l, "aws", "request_timeout", 1, 600, &c->aws.request_timeout)) ||
	    (rc = get_int(l, "aws", "max_in_flight", 1, 4096, &c->aws.max_in_flight)) ||
	    (rc = get_int(l, "aws", "runtask_burst", 1, 100000, &c->aws.runtask_burst)) ||
	    (rc = get_long(l, "aws", "max_queued", 1, 10000000L, &c->aws.max_queued)) ||
	    (rc = get_number(l, "aws", "runtask_rate", 0.01, 10000,
	     "calls per second", &c->aws.runtask_rate)) ||
	    (rc = check_url(l, "aws", "endpoint_url", c->aws.endpoint_url)) ||
	    (rc = check_url(l, "aws", "ecs_endpoint_url", c->aws.ecs_endpoint_url)) ||
	    (rc = check_url(l, "aws", "s3_endpoint_url", c->aws.s3_endpoint_url)) ||
	    (rc = check_url(l, "aws", "sts_endpoint_url", c->aws.sts_endpoint_url)) ||
	    (rc = check_url(l, "aws", "logs_endpoint_url", c->aws.logs_endpoint_url)))
		return rc;
	return POKY_OK;
}

static const char *const tracker_keys[] = { "poll_interval", "webhook_allow",
	"webhook_secret", "webhook_max_seconds", NULL };

static enum poky_err
load_tracker(struct loader *l)
{
	struct config *c = l->c;
	enum poky_err rc;

	if ((rc = check_keys(l, "tracker", tracker_keys, false)) ||
	    (rc = get_list(l, "tracker", "webhook_allow", c->tracker.webhook_allow,
	     &c->tracker.n_webhook_allow)) ||
	    (rc = get_str(l, "tracker", "webhook_secret", &c->tracker.webhook_secret)) ||
	    (rc = get_long(l, "tracker", "webhook_max_seconds", 1, 7 * 86400,
	     &c->tracker.webhook_max_seconds)))
		return rc;
	/* "https://hooks.example.com" also admits
	 * "https://hooks.example.com.attacker.net/": a prefix is a scheme
	 * alone, or goes on to the "/" after its host[:port]. */
	for (size_t i = 0; i < c->tracker.n_webhook_allow; i++) {
		const char *pre = c->tracker.webhook_allow[i];
		const char *a = strstr(pre, "://");

		if (a == NULL || (a[3] != '\0' && strchr(a + 3, '/') == NULL))
			return bad(l, "tracker", "webhook_allow", "'%s' ends inside "
			    "its host: end it with the '/' after the host "
			    "(https://hooks.example.com/)", pre);
	}
	return get_number(l, "tracker", "poll_interval", 0.05, 3600, "seconds",
	    &c->tracker.poll_interval);
}

static const char *const store_keys[] = { "keep_finished", "prune_interval",
	NULL };

#define KEEP_FINISHED_MAX (100.0 * 365 * 86400)

static enum poky_err
load_store(struct loader *l)
{
	struct config *c = l->c;
	enum poky_err rc;

	if ((rc = check_keys(l, "store", store_keys, false)) ||
	    (rc = get_duration(l, "store", "keep_finished", 1, KEEP_FINISHED_MAX,
	     true, &c->store.keep_finished)) ||
	    (rc = get_duration(l, "store", "prune_interval", 1, 86400, false,
	     &c->store.prune_interval)))
		return rc;
	return POKY_OK;
}

double
config_prune_interval(const struct config *c)
{
	double x = c->store.keep_finished / 10;

	if (c->store.prune_interval > 0)
		return c->store.prune_interval;
	return x < 1 ? 1 : x > 3600 ? 3600 : x;
}

/* ---- templates ---------------------------------------------------------- */

static const char *const launcher_names[] = { "ecs", "local", "docker" };

const char *
launcher_kind_name(enum launcher_kind k)
{
	return (unsigned)k < sizeof(launcher_names) / sizeof(launcher_names[0]) ?
	    launcher_names[k] : "unknown";
}

int
launcher_kind_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(launcher_names) / sizeof(launcher_names[0]); i++)
		if (name != NULL && strcmp(name, launcher_names[i]) == 0)
			return (int)i;
	return -1;
}

static const char *const tmpl_keys[] = { "launcher", "cluster",
	"task_definition", "container", "launch_type", "capacity_providers",
	"platform_version", "subnets", "security_groups", "assign_public_ip",
	"task_role_arn", "execution_role_arn", "timeout", "command",
	"max_running", "kill_grace", "image", "docker_host", "pull", "remove",
	"docker_network", "log_group", "log_stream_prefix", NULL };

static bool
valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return false;
	return true;
}

static bool
valid_env_name(const char *s)
{
	if (!isalpha((unsigned char)*s) && *s != '_')
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return strlen(s) <= 128;
}

#define PATTERN_MAX 512
#define PATTERN_REPEAT_MAX 1000L

/* glibc compiles {m,n} by copying the atom n times: nested bounds multiply
 * ("((a{1,255}){1,255}){1,255}" takes gigabytes).  The product of every
 * upper bound in the pattern bounds that, whatever the nesting. */
static bool
pattern_tame(const char *re)
{
	long product = 1;

	if (strlen(re) > PATTERN_MAX)
		return false;
	for (const char *p = re; *p != '\0'; p++) {
		const char *q;
		long hi = 0;

		if (*p != '{' || (p > re && p[-1] == '\\'))
			continue;
		for (q = p + 1; *q != '\0' && *q != '}'; q++)
			if (isdigit((unsigned char)*q)) {
				hi = hi * 10 + (*q - '0');
				if (hi > PATTERN_REPEAT_MAX)
					return false;
			} else if (*q == ',') {
				hi = 0;
			} else {
				break;
			}
		if (*q != '}')
			continue;               /* not a bound: a literal '{' */
		if (q[-1] == ',')
			return false;           /* {m,}: unbounded */
		product *= hi > 0 ? hi : 1;
		if (product > PATTERN_REPEAT_MAX)
			return false;
	}
	return true;
}

/* "required env=VAR [default=V] [max=N] [pattern=RE] [s3=bucket|object:P]" */
static enum poky_err
parse_param(struct loader *l, const char *sec, const char *key,
	    struct tmpl_param *p, const char *spec)
{
	char *copy = strdup(spec), *tok, *save = NULL;
	enum poky_err rc = POKY_OK;
	int i = 0;

	if (copy == NULL)
		return poky_error_set(l->e, POKY_ERR_NOMEM, "out of memory");
	p->max = PARAM_DEFAULT_MAX;
	for (tok = strtok_r(copy, " \t", &save); tok != NULL && rc == POKY_OK;
	     tok = strtok_r(NULL, " \t", &save), i++) {
		char *eq = strchr(tok, '=');
		const char *v = eq ? eq + 1 : NULL;

		if (i == 0) {
			if (strcmp(tok, "required") == 0)
				p->required = true;
			else if (strcmp(tok, "optional") != 0)
				rc = bad(l, sec, key, "must start with required or optional");
			continue;
		}
		if (eq == NULL) {
			rc = bad(l, sec, key, "'%s' is not name=value", tok);
			break;
		}
		*eq = '\0';
		if (strcmp(tok, "env") == 0) {
			if (!valid_env_name(v))
				rc = bad(l, sec, key, "env '%s' is not a variable name", v);
			else
				rc = dup_str(l, &p->env, v);
		} else if (strcmp(tok, "default") == 0) {
			rc = dup_str(l, &p->def, v);
		} else if (strcmp(tok, "max") == 0) {
			char *end;
			long x = strtol(v, &end, 10);

			if (*v == '\0' || *end != '\0' || x < 1 || x > PARAM_HARD_MAX)
				rc = bad(l, sec, key, "max '%s' is not 1..%d", v,
				    PARAM_HARD_MAX);
			p->max = (size_t)x;
		} else if (strcmp(tok, "pattern") == 0) {
			char msg[128];
			int r;

			if (p->pattern != NULL) {
				rc = bad(l, sec, key, "pattern given twice");
				break;
			}
			if (!pattern_tame(v)) {
				rc = bad(l, sec, key, "pattern longer than %d characters or "
				    "with repetitions over %ld in all", PATTERN_MAX,
				    PATTERN_REPEAT_MAX);
				break;
			}
			if ((rc = dup_str(l, &p->pattern, v)) != POKY_OK)
				break;
			r = regcomp(&p->re, v, REG_EXTENDED | REG_NOSUB);
			if (r != 0) {
				regerror(r, &p->re, msg, sizeof(msg));
				free(p->pattern);
				p->pattern = NULL;
				rc = bad(l, sec, key, "pattern '%s': %s", v, msg);
			}
		} else if (strcmp(tok, "s3") == 0) {
			if (strcmp(v, "bucket") == 0) {
				p->s3 = PARAM_S3_BUCKET;
			} else if (strncmp(v, "object:", 7) == 0 && v[7] != '\0') {
				p->s3 = PARAM_S3_OBJECT;
				rc = dup_str(l, &p->s3_bucket_param, v + 7);
			} else {
				rc = bad(l, sec, key,
				    "s3 '%s' is not bucket or object:PARAM", v);
			}
		} else {
			rc = bad(l, sec, key, "unknown attribute '%s'", tok);
		}
	}
	free(copy);
	if (rc == POKY_OK && i == 0)
		rc = bad(l, sec, key, "empty parameter specification");
	if (rc == POKY_OK && p->env == NULL)
		rc = bad(l, sec, key, "needs env=VARIABLE");
	if (rc == POKY_OK && p->def != NULL && strlen(p->def) > p->max)
		rc = bad(l, sec, key, "default longer than max");
	if (rc == POKY_OK && p->def != NULL && p->pattern != NULL &&
	    regexec(&p->re, p->def, 0, NULL, 0) != 0)
		rc = bad(l, sec, key, "default does not match its pattern");
	return rc;
}

static void
tmpl_free(struct tmpl *t)
{
	if (t == NULL)
		return;
	free(t->name);
	free(t->cluster);
	free(t->task_definition);
	free(t->container);
	free(t->log_group);
	free(t->log_stream_prefix);
	free(t->launch_type);
	free(t->platform_version);
	for (size_t i = 0; i < t->n_capacity_providers; i++)
		free(t->capacity_providers[i]);
	for (size_t i = 0; i < t->n_subnets; i++)
		free(t->subnets[i]);
	for (size_t i = 0; i < t->n_security_groups; i++)
		free(t->security_groups[i]);
	free(t->task_role_arn);
	free(t->execution_role_arn);
	free(t->command);
	free(t->image);
	free(t->docker_host);
	free(t->docker_network);
	for (size_t i = 0; i < t->n_params; i++) {
		struct tmpl_param *p = &t->params[i];

		free(p->name);
		free(p->env);
		free(p->def);
		if (p->pattern != NULL)
			regfree(&p->re);
		free(p->pattern);
		free(p->s3_bucket_param);
	}
	for (size_t i = 0; i < t->n_env; i++) {
		free(t->env[i].name);
		free(t->env[i].value);
	}
	free(t);
}

static enum poky_err
load_template_lists(struct loader *l, const char *sec, struct tmpl *t)
{
	const char *v;
	long x;
	enum poky_err rc;

	if ((rc = get_list(l, sec, "capacity_providers", t->capacity_providers,
	     &t->n_capacity_providers)) ||
	    (rc = get_list(l, sec, "subnets", t->subnets, &t->n_subnets)) ||
	    (rc = get_list(l, sec, "security_groups", t->security_groups,
	     &t->n_security_groups)))
		return rc;
	if ((v = get(l, sec, "assign_public_ip")) != NULL && *v != '\0') {
		if (strcmp(v, "ENABLED") == 0)
			t->assign_public_ip = 1;
		else if (strcmp(v, "DISABLED") == 0)
			t->assign_public_ip = 0;
		else
			return bad(l, sec, "assign_public_ip",
			    "'%s' is not ENABLED or DISABLED", v);
	}
	/* ECS has no slots of its own: without max_running, any number of
	 * tasks run (Fargate's quotas are the limit). */
	x = t->launcher == LAUNCHER_ECS ? 0 : t->max_running;
	if ((rc = get_long(l, sec, "max_running", 1, 1024, &x)))
		return rc;
	t->max_running = (int)x;
	return POKY_OK;
}

/* The keys every launcher kind shares the names of (each kind reads its
 * own; the check per kind below says which it needs). */
static enum poky_err
load_template_scalars(struct loader *l, const char *sec, struct tmpl *t)
{
	const char *v;
	enum poky_err rc;

	if ((rc = get_str(l, sec, "cluster", &t->cluster)) ||
	    (rc = get_str(l, sec, "task_definition", &t->task_definition)) ||
	    (rc = get_str(l, sec, "container", &t->container)) ||
	    (rc = get_str(l, sec, "launch_type", &t->launch_type)) ||
	    (rc = get_str(l, sec, "platform_version", &t->platform_version)) ||
	    (rc = get_str(l, sec, "task_role_arn", &t->task_role_arn)) ||
	    (rc = get_str(l, sec, "execution_role_arn", &t->execution_role_arn)) ||
	    (rc = get_long(l, sec, "timeout", 0, 30L * 86400, &t->timeout)) ||
	    (rc = get_str(l, sec, "command", &t->command)) ||
	    (rc = get_long(l, sec, "kill_grace", 0, 3600, &t->kill_grace)) ||
	    (rc = get_str(l, sec, "image", &t->image)) ||
	    (rc = get_str(l, sec, "docker_host", &t->docker_host)) ||
	    (rc = get_str(l, sec, "docker_network", &t->docker_network)) ||
	    (rc = get_str(l, sec, "log_group", &t->log_group)) ||
	    (rc = get_str(l, sec, "log_stream_prefix", &t->log_stream_prefix)) ||
	    (rc = get_bool(l, sec, "remove", &t->docker_remove)) ||
	    (rc = load_template_lists(l, sec, t)))
		return rc;
	if ((v = get(l, sec, "pull")) != NULL) {
		if (strcmp(v, "missing") == 0)
			t->docker_pull = DOCKER_PULL_MISSING;
		else if (strcmp(v, "always") == 0)
			t->docker_pull = DOCKER_PULL_ALWAYS;
		else if (strcmp(v, "never") == 0)
			t->docker_pull = DOCKER_PULL_NEVER;
		else
			return bad(l, sec, "pull", "'%s' is not missing, always or never", v);
	}
	return POKY_OK;
}

/* One param.NAME key: its specification into the next parameter. */
static enum poky_err
load_template_param(struct loader *l, const char *sec, struct tmpl *t,
		    const char *k, const char *val)
{
	struct tmpl_param *p;
	enum poky_err rc;

	if (!valid_name(k + 6, 64))
		return bad(l, sec, k, "parameter names are letters, digits, '_' "
		    "or '-'");
	if (t->n_params == CONFIG_MAX_PARAMS)
		return bad(l, sec, k, "more than %d parameters", CONFIG_MAX_PARAMS);
	p = &t->params[t->n_params++];
	if ((rc = dup_str(l, &p->name, k + 6)) != POKY_OK)
		return rc;
	return parse_param(l, sec, k, p, val);
}

/* One env.NAME key: a fixed variable for the task (NAME upper-cased). */
static enum poky_err
load_template_env(struct loader *l, const char *sec, struct tmpl *t,
		  const char *k, const char *val)
{
	struct tmpl_env *ev;
	enum poky_err rc;

	if (!valid_env_name(k + 4))
		return bad(l, sec, k, "not an environment variable name");
	if (t->n_env == CONFIG_MAX_PARAMS)
		return bad(l, sec, k, "more than %d env entries", CONFIG_MAX_PARAMS);
	ev = &t->env[t->n_env++];
	if ((rc = dup_str(l, &ev->name, k + 4)) != POKY_OK ||
	    (rc = dup_str(l, &ev->value, val)) != POKY_OK)
		return rc;
	for (char *q = ev->name; *q; q++)
		*q = (char)toupper((unsigned char)*q);
	return POKY_OK;
}

/* param.* and env.* keys, in file order (the order tasks see them in). */
static enum poky_err
load_template_keys(struct loader *l, const char *sec, struct tmpl *t)
{
	int n = iniparser_getsecnkeys(l->d, sec);
	const char **keys = calloc((size_t)(n > 0 ? n : 1), sizeof(*keys));
	enum poky_err rc = POKY_OK;

	if (keys == NULL)
		return poky_error_set(l->e, POKY_ERR_NOMEM, "out of memory");
	iniparser_getseckeys(l->d, sec, keys);
	for (int i = 0; i < n && rc == POKY_OK; i++) {
		const char *k = keys[i] + strlen(sec) + 1;
		const char *val = iniparser_getstring(l->d, keys[i], NULL);

		/* iniparser keys are "section:key", so a section named
		 * [template.a:param.x] shows up here as a key without value. */
		if (val == NULL)
			rc = bad(l, sec, k, "has no value");
		else if (strncmp(k, "param.", 6) == 0)
			rc = load_template_param(l, sec, t, k, val);
		else if (strncmp(k, "env.", 4) == 0)
			rc = load_template_env(l, sec, t, k, val);
	}
	free(keys);
	if (rc != POKY_OK)
		return rc;
	/* s3=object:P must name a parameter of this template. */
	for (size_t i = 0; i < t->n_params; i++) {
		const struct tmpl_param *p = &t->params[i];
		bool found = false;

		if (p->s3 != PARAM_S3_OBJECT)
			continue;
		for (size_t j = 0; j < t->n_params; j++)
			found = found || strcmp(t->params[j].name, p->s3_bucket_param) == 0;
		if (!found) {
			char key[80];

			snprintf(key, sizeof(key), "param.%s", p->name);
			return bad(l, sec, key, "s3=object:%s names no parameter",
			    p->s3_bucket_param);
		}
	}
	return POKY_OK;
}

static enum poky_err
check_ecs_template(struct loader *l, const char *sec, struct tmpl *t)
{
	if (t->cluster == NULL || t->task_definition == NULL ||
	    t->container == NULL)
		return bad(l, sec, NULL, "launcher ecs needs cluster, "
		    "task_definition and container");
	if (t->launch_type != NULL && *t->launch_type &&
	    t->n_capacity_providers > 0)
		return bad(l, sec, "capacity_providers",
		    "launch_type and capacity_providers are exclusive");
	if ((t->launch_type == NULL || !*t->launch_type) &&
	    t->n_capacity_providers == 0)
		return dup_str(l, &t->launch_type, "FARGATE");
	return POKY_OK;
}

static enum poky_err
check_local_template(struct loader *l, const char *sec, struct tmpl *t)
{
	if (t->command == NULL || *t->command == '\0')
		return bad(l, sec, "command", "launcher local needs a command");
	return POKY_OK;
}

static enum poky_err
check_docker_template(struct loader *l, const char *sec, struct tmpl *t)
{
	if (t->image == NULL || *t->image == '\0')
		return bad(l, sec, "image", "launcher docker needs an image");
	if (t->docker_host != NULL && *t->docker_host &&
	    strncmp(t->docker_host, "unix:///", 8) != 0 &&
	    strncmp(t->docker_host, "tcp://", 6) != 0)
		return bad(l, sec, "docker_host",
		    "'%s' is not unix:///PATH or tcp://HOST:PORT", t->docker_host);
	if (t->command != NULL && t->command[strspn(t->command, " \t")] == '[') {
		/* Exec form: a JSON array of strings. */
		json_t *cmd = json_loads(t->command, 0, NULL), *w;
		size_t i;
		bool ok = json_is_array(cmd) && json_array_size(cmd) > 0 &&
		    json_array_size(cmd) <= 64;

		json_array_foreach(cmd, i, w)
			ok = ok && json_is_string(w);
		json_decref(cmd);
		if (!ok)
			return bad(l, sec, "command", "a command starting with '[' "
			    "must be a JSON array of 1..64 strings");
	}
	return POKY_OK;
}

/* What each launcher kind needs of a template, by kind. */
static enum poky_err (*const check_template[])(struct loader *, const char *,
    struct tmpl *) = {
	[LAUNCHER_ECS] = check_ecs_template,
	[LAUNCHER_LOCAL] = check_local_template,
	[LAUNCHER_DOCKER] = check_docker_template,
};

static enum poky_err
load_template(struct loader *l, const char *sec)
{
	const char *name = sec + strlen("template."), *v;
	struct tmpl *t;
	enum poky_err rc;

	if (!valid_name(name, 64))
		return bad(l, sec, NULL,
		    "template names are 1-64 letters, digits, '_' or '-'");
	if (l->c->n_templates == CONFIG_MAX_TEMPLATES)
		return bad(l, sec, NULL, "more than %d templates", CONFIG_MAX_TEMPLATES);
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return poky_error_set(l->e, POKY_ERR_NOMEM, "out of memory");
	l->c->templates[l->c->n_templates++] = t;
	t->assign_public_ip = -1;
	t->max_running = 2;
	t->kill_grace = 10;
	t->docker_remove = true;
	if ((rc = dup_str(l, &t->name, name)) ||
	    (rc = check_keys(l, sec, tmpl_keys, true)))
		return rc;
	v = get(l, sec, "launcher");
	if (v == NULL)
		t->launcher = LAUNCHER_ECS;
	else if (launcher_kind_parse(v) >= 0)
		t->launcher = (enum launcher_kind)launcher_kind_parse(v);
	else
		return bad(l, sec, "launcher", "'%s' is not ecs, local or docker", v);
	if ((rc = load_template_scalars(l, sec, t)) ||
	    (rc = load_template_keys(l, sec, t)))
		return rc;
	return check_template[t->launcher](l, sec, t);
}

/* ---- whole file ----------------------------------------------------------- */

/* iniparser reports syntax errors through a callback: keep the first one
 * for the error we return. */
static _Thread_local char ini_first_error[256];

static int
ini_error(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	line[strcspn(line, "\n")] = '\0';
	if (ini_first_error[0] == '\0')
		str_copy(ini_first_error, sizeof(ini_first_error), line);
	return 0;
}

/* ---- systemd credentials --------------------------------------------------- */

#define CRED_SECRET_MAX 1024

/* Under systemd, LoadCredential= hands secrets over in $CREDENTIALS_DIRECTORY: a
 * private read-only copy only this service can read, so the file on disk stays
 * root's and the configuration holds no secret.  The rule: a key set in the
 * configuration wins; when [server] tokens_file is unset and the directory holds
 * "tokens", that is the tokens file; when [tracker] webhook_secret is unset and
 * it holds "webhook_secret", its first line is the secret (empty: none). */
static enum poky_err
load_credentials(struct loader *l)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	struct config *c = l->c;
	char path[PATH_MAX], buf[CRED_SECRET_MAX + 2];
	FILE *f = NULL;
	size_t n;
	enum poky_err rc = POKY_OK;

	if (dir == NULL || dir[0] != '/')
		return POKY_OK;
	if (c->server.tokens_file == NULL &&
	    snprintf(path, sizeof(path), "%s/tokens", dir) < (int)sizeof(path) &&
	    access(path, F_OK) == 0 && (rc = dup_str(l, &c->server.tokens_file, path)))
		return rc;
	if (c->tracker.webhook_secret != NULL && c->tracker.webhook_secret[0] != '\0')
		return POKY_OK;
	if (snprintf(path, sizeof(path), "%s/webhook_secret", dir) >= (int)sizeof(path) ||
	    (f = fopen(path, "re")) == NULL)
		return POKY_OK;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	/* The message names the file, never its content. */
	n = strlen(buf);
	if (ferror(f) || n > CRED_SECRET_MAX) {
		rc = poky_error_set(l->e, POKY_ERR_INVALID, "%s: %s", path,
		    ferror(f) ? "cannot be read" : "first line longer than 1024 bytes");
		goto out;
	}
	/* Empty: no secret (make install leaves an empty file for the unit). */
	if (n > 0)
		rc = dup_str(l, &c->tracker.webhook_secret, buf);
out:
	explicit_bzero(buf, sizeof(buf));
	fclose(f);
	return rc;
}

/* ---- load ------------------------------------------------------------------ */

enum poky_err
config_load(const char *path, struct config **out, struct poky_error *e)
{
	struct loader l = { .path = path, .e = e };
	struct config *c;
	struct stat st;
	enum poky_err rc = POKY_OK;
	int nsec;

	*out = NULL;
	if (stat(path, &st) != 0)
		return poky_error_set(e, POKY_ERR_NOTFOUND, "%s: %s", path,
		    strerror(errno));
	if (!S_ISREG(st.st_mode))
		return poky_error_set(e, POKY_ERR_INVALID, "%s: not a file", path);
	if (st.st_size > (1 << 20))
		return poky_error_set(e, POKY_ERR_LIMIT, "%s: larger than 1 MiB", path);
	/* iniparser says only "cannot open": name the reason (a service user
	 * that may not read the file is the usual one). */
	if (access(path, R_OK) != 0)
		return poky_error_set(e, POKY_ERR_IO, "%s: %s", path, strerror(errno));
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	l.c = c;
	c->server.threads = 4;
	c->server.max_body_bytes = 65536;
	c->server.log_format = LOG_FORMAT_TEXT;
	c->server.log_level = LOG_LEVEL_INFO;
	c->server.request_timeout = 30;
	c->server.max_connections = 1024;
	c->server.max_watchers = 1000;
	c->server.max_conns_per_client = 0;    /* a quarter of max_connections */
	c->server.min_transfer_rate = 1024;
	c->aws.max_attempts = 3;
	c->aws.connect_timeout = 3;
	c->aws.request_timeout = 30;
	/* AWS's documented Fargate RunTask allowance: about 20 calls/s per
	 * account and Region, with a burst of about 100. */
	c->aws.runtask_rate = 20;
	c->aws.runtask_burst = 100;
	c->aws.max_in_flight = 256;
	c->aws.max_queued = 100000;
	c->tracker.poll_interval = 5;
	c->tracker.webhook_max_seconds = 3600;
	c->store.keep_finished = 30 * 86400;
	if ((rc = dup_str(&l, &c->path, path)) ||
	    (rc = dup_str(&l, &c->server.listen, "127.0.0.1:8080")) ||
	    (rc = dup_str(&l, &c->server.state_dir, "/var/lib/poky")) ||
	    (rc = dup_str(&l, &c->tracker.webhook_allow[0], "https://")))
		goto out;
	c->tracker.n_webhook_allow = 1;

	iniparser_set_error_callback(ini_error);
	ini_first_error[0] = '\0';
	l.d = iniparser_load(path);
	if (l.d == NULL || ini_first_error[0] != '\0') {
		/* "iniparser: syntax error in FILE (LINE):" names the line. */
		rc = poky_error_set(e, POKY_ERR_INVALID, "%s: not valid INI: %s", path,
		    ini_first_error[0] ? ini_first_error : "cannot be read");
		goto out;
	}
	nsec = iniparser_getnsec(l.d);
	for (int i = 0; i < nsec && rc == POKY_OK; i++) {
		const char *sec = iniparser_getsecname(l.d, i);

		if (strcmp(sec, "server") == 0)
			rc = load_server(&l);
		else if (strcmp(sec, "aws") == 0)
			rc = load_aws(&l);
		else if (strcmp(sec, "tracker") == 0)
			rc = load_tracker(&l);
		else if (strcmp(sec, "store") == 0)
			rc = load_store(&l);
		else if (strncmp(sec, "template.", 9) == 0)
			rc = load_template(&l, sec);
		else
			rc = bad(&l, sec, NULL, "unknown section");
	}
	if (rc == POKY_OK && c->n_templates == 0)
		rc = poky_error_set(e, POKY_ERR_INVALID,
		    "%s: no [template.NAME] section", path);
	if (rc == POKY_OK)
		rc = load_credentials(&l);
out:
	if (l.d != NULL)
		iniparser_freedict(l.d);
	if (rc != POKY_OK) {
		config_free(c);
		return rc;
	}
	*out = c;
	return POKY_OK;
}

void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	free(c->path);
	free(c->server.listen);
	free(c->server.tokens_file);
	free(c->server.state_dir);
	for (size_t i = 0; i < c->server.n_server_names; i++)
		free(c->server.server_names[i]);
	free(c->aws.region);
	free(c->aws.profile);
	free(c->aws.endpoint_url);
	free(c->aws.ecs_endpoint_url);
	free(c->aws.s3_endpoint_url);
	free(c->aws.sts_endpoint_url);
	free(c->aws.logs_endpoint_url);
	for (size_t i = 0; i < c->tracker.n_webhook_allow; i++)
		free(c->tracker.webhook_allow[i]);
	free(c->tracker.webhook_secret);
	for (size_t i = 0; i < c->n_templates; i++)
		tmpl_free(c->templates[i]);
	free(c);
}

const struct tmpl *
config_template(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->n_templates; i++)
		if (strcmp(c->templates[i]->name, name) == 0)
			return c->templates[i];
	return NULL;
}

enum poky_err
config_split_listen(const char *listen, char *host, size_t cap, unsigned *port,
		    struct poky_error *e)
{
	const char *colon, *hs = listen, *he;
	char *end;
	unsigned long p;

	if (listen[0] == '[') {
		he = strchr(listen, ']');
		if (he == NULL || he[1] != ':')
			return poky_error_set(e, POKY_ERR_INVALID,
			    "'%s' is not [v6]:port", listen);
		hs = listen + 1;
		colon = he + 1;
	} else {
		colon = strrchr(listen, ':');
		if (colon == NULL || strchr(listen, ':') != colon)
			return poky_error_set(e, POKY_ERR_INVALID,
			    "'%s' is not host:port", listen);
		he = colon;
	}
	if (he == hs || (size_t)(he - hs) >= cap)
		return poky_error_set(e, POKY_ERR_INVALID, "'%s' has no host", listen);
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || p > 65535)
		return poky_error_set(e, POKY_ERR_INVALID,
		    "'%s' has no port in 0..65535", listen);
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	*port = (unsigned)p;
	return POKY_OK;
}
