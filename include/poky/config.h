/* config.h - pokyd's configuration (INI, iniparser): every key of the
 * contract, with defaults, units and validation.
 *
 * Unknown sections and keys, and bad values, are errors that name the file,
 * the section and the key.  INI keys are case-insensitive, so the variable
 * name of an `env.NAME = value` key is upper-cased. */
#ifndef POKY_CONFIG_H
#define POKY_CONFIG_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "poky/err.h"

#define CONFIG_MAX_TEMPLATES 64
#define CONFIG_MAX_PARAMS 64
#define CONFIG_MAX_LIST 16
#define PARAM_DEFAULT_MAX 4096
#define PARAM_HARD_MAX 65536

enum launcher_kind { LAUNCHER_ECS, LAUNCHER_LOCAL, LAUNCHER_DOCKER };

/* "ecs", "local", "docker" (the names in the config, the store and the
 * API); launcher_kind_parse: -1 for an unknown name. */
const char *launcher_kind_name(enum launcher_kind k);
int launcher_kind_parse(const char *name);
enum docker_pull { DOCKER_PULL_MISSING, DOCKER_PULL_ALWAYS, DOCKER_PULL_NEVER };
enum param_s3 { PARAM_S3_NONE, PARAM_S3_BUCKET, PARAM_S3_OBJECT };

struct tmpl_param {
	char *name;
	char *env;                      /* environment variable it becomes */
	bool required;
	char *def;                      /* default value, or NULL */
	size_t max;                     /* bytes */
	char *pattern;                  /* POSIX ERE source, or NULL */
	regex_t re;
	enum param_s3 s3;
	char *s3_bucket_param;          /* s3=object:PARAM: the bucket's parameter */
};

struct tmpl_env {
	char *name;
	char *value;
};

struct tmpl {
	char *name;
	enum launcher_kind launcher;
	/* ecs */
	char *cluster;
	char *task_definition;
	char *container;
	char *launch_type;
	char *platform_version;
	char *capacity_providers[CONFIG_MAX_LIST];
	size_t n_capacity_providers;
	char *subnets[CONFIG_MAX_LIST];
	size_t n_subnets;
	char *security_groups[CONFIG_MAX_LIST];
	size_t n_security_groups;
	int assign_public_ip;           /* -1 unset, 0, 1 */
	char *task_role_arn;
	char *execution_role_arn;
	/* The container's CloudWatch log group and stream prefix; NULL: read
	 * from the task definition's awslogs options. */
	char *log_group;
	char *log_stream_prefix;
	long timeout;                   /* seconds, 0 none */
	/* local */
	char *command;
	int max_running;
	long kill_grace;                /* seconds between SIGTERM and SIGKILL */
	/* docker */
	char *image;
	char *docker_host;
	enum docker_pull docker_pull;   /* when to pull the image */
	bool docker_remove;             /* remove the container after its end */
	char *docker_network;           /* HostConfig.NetworkMode, or NULL */
	struct tmpl_param params[CONFIG_MAX_PARAMS];
	size_t n_params;
	struct tmpl_env env[CONFIG_MAX_PARAMS];
	size_t n_env;
};

struct config {
	char *path;
	struct {
		char *listen;
		int threads;
		size_t max_body_bytes;
		char *tokens_file;
		bool allow_anonymous;
		char *state_dir;
		int log_format;
		int log_level;
		long request_timeout;   /* seconds a client may take */
		int max_connections;
		int max_watchers;       /* long-polls and streams at once */
		int max_conns_per_client;
		long min_transfer_rate; /* bytes/s, body in and answer out */
		char *server_names[CONFIG_MAX_LIST]; /* Host values besides the address */
		size_t n_server_names;
	} server;
	struct {
		char *region;
		char *profile;
		char *endpoint_url;
		char *ecs_endpoint_url;
		char *s3_endpoint_url;
		char *sts_endpoint_url;
		char *logs_endpoint_url;
		int max_attempts;
		long connect_timeout;   /* seconds, per connection */
		long request_timeout;   /* seconds, per attempt */
		int max_in_flight;      /* AWS calls at once (launch queue, offloads) */
		double runtask_rate;    /* RunTask calls per second (token bucket) */
		int runtask_burst;      /* and its burst */
		long max_queued;        /* tasks waiting to launch, at most */
	} aws;
	struct {
		double poll_interval;
		char *webhook_allow[CONFIG_MAX_LIST];
		size_t n_webhook_allow;
		char *webhook_secret;
		long webhook_max_seconds;
	} tracker;
	struct {
		double keep_finished;   /* seconds; 0 keeps records forever */
		double prune_interval;  /* seconds; 0: derived (config_prune_interval) */
	} store;
	struct tmpl *templates[CONFIG_MAX_TEMPLATES];
	size_t n_templates;
};

/* Load and check a file.  *out is owned by the caller (config_free). */
enum poky_err config_load(const char *path, struct config **out,
			  struct poky_error *e);
void config_free(struct config *c);

const struct tmpl *config_template(const struct config *c, const char *name);

/* Seconds between two prune rounds: [store] prune_interval, or by default
 * a tenth of keep_finished within 1 s..1 h. */
double config_prune_interval(const struct config *c);

/* "host:port" or "[v6]:port" into host and port. */
enum poky_err config_split_listen(const char *listen, char *host, size_t cap,
				  unsigned *port, struct poky_error *e);

#endif
