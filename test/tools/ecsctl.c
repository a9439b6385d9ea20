/* ecsctl - drive the ECS client from tests (not installed).
 *
 *   ecsctl run-task --cluster C --task-definition TD [--container N]
 *          [--env K=V]... [--command ARG]... [--launch-type T]
 *          [--capacity-provider P] [--subnet S]... [--security-group G]...
 *          [--public-ip ENABLED|DISABLED] [--client-token T] [--started-by S]
 *          [--tag K=V]... [--task-role-arn A] [--execution-role-arn A]
 *   ecsctl describe-tasks --cluster C ARN...
 *   ecsctl stop-task --cluster C --reason R ARN
 *   ecsctl list-tasks --cluster C [--started-by S]
 *   ecsctl endpoint SERVICE          print the resolved endpoint and region
 *
 * Prints one JSON document on stdout; on failure a JSON error object and
 * exit status 1 (2 for bad usage).  Settings come from the environment like
 * any AWS SDK (AWS_ENDPOINT_URL_ECS, AWS_REGION, credentials, ...). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "poky/awsreq.h"
#include "poky/creds.h"
#include "poky/ecs.h"
#include "poky/log.h"
#include "poky/sigv4.h"

#define MAX_LIST 64

static int
usage(void)
{
	fputs("usage: ecsctl run-task|describe-tasks|stop-task|list-tasks|endpoint "
	    "[options]\n", stderr);
	return 2;
}

static int
print_error(const struct poky_error *e)
{
	json_t *j = json_pack("{s:s, s:s, s:i, s:s, s:s, s:b}",
	    "error", poky_err_name(e->code), "aws_code", e->aws_code,
	    "http_status", e->http_status, "message", e->message,
	    "request_id", e->request_id, "retryable", e->retryable);

	json_dumpf(j, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(j);
	return 1;
}

static json_t *
task_json(const struct ecs_task *t)
{
	json_t *cs = json_array();

	for (size_t i = 0; i < t->n_containers; i++) {
		const struct ecs_container *c = &t->containers[i];
		json_t *o = json_pack("{s:s, s:s, s:s}", "name", c->name,
		    "lastStatus", c->last_status, "reason", c->reason);

		if (c->has_exit_code)
			json_object_set_new(o, "exitCode", json_integer(c->exit_code));
		json_array_append_new(cs, o);
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:o}",
	    "taskArn", t->task_arn, "lastStatus", t->last_status,
	    "desiredStatus", t->desired_status, "stopCode", t->stop_code,
	    "stoppedReason", t->stopped_reason, "capacityProvider",
	    t->capacity_provider, "missing", t->missing, "containers", cs);
}

static int
split_kv(char *arg, struct ecs_kv *kv)
{
	char *eq = strchr(arg, '=');

	if (eq == NULL)
		return -1;
	*eq = '\0';
	kv->name = arg;
	kv->value = eq + 1;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cluster", required_argument, NULL, 'c' },
		{ "task-definition", required_argument, NULL, 'd' },
		{ "container", required_argument, NULL, 'n' },
		{ "env", required_argument, NULL, 'e' },
		{ "command", required_argument, NULL, 'C' },
		{ "launch-type", required_argument, NULL, 'l' },
		{ "capacity-provider", required_argument, NULL, 'p' },
		{ "subnet", required_argument, NULL, 's' },
		{ "security-group", required_argument, NULL, 'g' },
		{ "public-ip", required_argument, NULL, 'i' },
		{ "client-token", required_argument, NULL, 't' },
		{ "started-by", required_argument, NULL, 'b' },
		{ "tag", required_argument, NULL, 'T' },
		{ "task-role-arn", required_argument, NULL, 'r' },
		{ "execution-role-arn", required_argument, NULL, 'x' },
		{ "reason", required_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	struct ecs_run_task rt = { .assign_public_ip = -1 };
	struct ecs_kv env[MAX_LIST], tags[MAX_LIST];
	const char *cmd[MAX_LIST], *subnets[MAX_LIST], *sgs[MAX_LIST];
	const char *reason = NULL, *sub;
	struct poky_error err = { 0 };
	struct aws_client *c = NULL;
	json_t *out = NULL;
	int ch, status = 1;

	if (argc < 2)
		return usage();
	sub = argv[1];
	optind = 2;
	rt.env = env;
	rt.tags = tags;
	rt.command = cmd;
	rt.subnets = subnets;
	rt.security_groups = sgs;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': rt.cluster = optarg; break;
		case 'd': rt.task_definition = optarg; break;
		case 'n': rt.container = optarg; break;
		case 'e':
			if (rt.n_env == MAX_LIST || split_kv(optarg, &env[rt.n_env++]))
				return usage();
			break;
		case 'T':
			if (rt.n_tags == MAX_LIST || split_kv(optarg, &tags[rt.n_tags++]))
				return usage();
			break;
		case 'C':
			if (rt.n_command == MAX_LIST)
				return usage();
			cmd[rt.n_command++] = optarg;
			break;
		case 'l': rt.launch_type = optarg; break;
		case 'p': rt.capacity_provider = optarg; break;
		case 's':
			if (rt.n_subnets == MAX_LIST)
				return usage();
			subnets[rt.n_subnets++] = optarg;
			break;
		case 'g':
			if (rt.n_security_groups == MAX_LIST)
				return usage();
			sgs[rt.n_security_groups++] = optarg;
			break;
		case 'i': rt.assign_public_ip = strcmp(optarg, "ENABLED") == 0; break;
		case 't': rt.client_token = optarg; break;
		case 'b': rt.started_by = optarg; break;
		case 'r': rt.task_role_arn = optarg; break;
		case 'x': rt.execution_role_arn = optarg; break;
		case 'R': reason = optarg; break;
		default: return usage();
		}
	}
	log_setup(stderr, LOG_FORMAT_TEXT,
	    getenv("POKY_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	c = creds_client_new(NULL, &err);
	if (c == NULL) {
		print_error(&err);
		goto out;
	}
	if (strcmp(sub, "endpoint") == 0 && optind < argc) {
		const char *ep = aws_client_endpoint(c, argv[optind]);

		out = json_pack("{s:s?, s:s, s:b}", "endpoint", ep, "region",
		    aws_client_region(c), "custom",
		    aws_client_endpoint_custom(c, argv[optind]));
	} else if (strcmp(sub, "run-task") == 0) {
		struct ecs_task t;
		json_t *raw = NULL;

		if (ecs_run_task(c, &rt, &t, &raw, &err) != POKY_OK) {
			print_error(&err);
			goto out;
		}
		out = json_pack("{s:o, s:o}", "task", task_json(&t), "raw", raw);
	} else if (strcmp(sub, "describe-tasks") == 0) {
		size_t n = (size_t)(argc - optind);
		struct ecs_task *ts = calloc(n ? n : 1, sizeof(*ts));

		if (ecs_describe_tasks(c, rt.cluster, (const char *const *)argv + optind,
		    n, ts, &err) != POKY_OK) {
			free(ts);
			print_error(&err);
			goto out;
		}
		out = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(out, task_json(&ts[i]));
		free(ts);
	} else if (strcmp(sub, "stop-task") == 0 && optind < argc) {
		struct ecs_task t;

		if (ecs_stop_task(c, rt.cluster, argv[optind], reason, &t, &err)) {
			print_error(&err);
			goto out;
		}
		out = task_json(&t);
	} else if (strcmp(sub, "list-tasks") == 0) {
		char next[1024] = "";
		json_t *arns = json_array();

		do {
			if (ecs_list_tasks(c, rt.cluster, rt.started_by, next,
			    sizeof(next), arns, &err) != POKY_OK) {
				json_decref(arns);
				print_error(&err);
				goto out;
			}
		} while (next[0] != '\0');
		out = arns;
	} else {
		status = usage();
		goto out;
	}
	json_dumpf(out, stdout, JSON_COMPACT);
	putchar('\n');
	status = 0;
out:
	json_decref(out);
	aws_client_free(c);
	sigv4_cleanup();
	httpc_global_cleanup();
	return status;
}
