/* ecs.c - ECS RunTask, DescribeTasks, StopTask, ListTasks,
 * DescribeTaskDefinition (see ecs.h). */
#include <string.h>
#include <strings.h>

#include "poky/awsreq.h"
#include "poky/ecs.h"
#include "poky/str.h"

#define ECS_TARGET_PREFIX "AmazonEC2ContainerServiceV20141113."
#define ECS_MAX_RESPONSE (16u << 20)

static bool
printable_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

/* ---- requests ------------------------------------------------------------- */

/* POST one operation (body: a reference the call takes; no_throttle_retry:
 * see aws_request).  resp is
 * initialised here, whatever happens, and the caller cleans it up; on
 * success it holds the 2xx answer for the operation's *_answer function. */
static enum poky_err
ecs_call(struct aws_client *c, const char *op, json_t *body,
	 int no_throttle_retry, struct httpc_response *resp,
	 struct poky_error *e)
{
	char target[96];
	struct hdr hs[2];
	char *text = NULL;
	enum poky_err rc;

	httpc_response_init(resp, ECS_MAX_RESPONSE);
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (text == NULL)
		return poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	snprintf(target, sizeof(target), ECS_TARGET_PREFIX "%s", op);
	hs[0] = (struct hdr){ "Content-Type", 12, "application/x-amz-json-1.1", 26 };
	hs[1] = (struct hdr){ "X-Amz-Target", 12, target, strlen(target) };
	rc = aws_send(c, &(struct aws_request){
	    .service = "ecs", .operation = op, .method = "POST", .path = "/",
	    .headers = hs, .n_headers = 2, .body = text, .body_len = strlen(text),
	    .no_throttle_retry = no_throttle_retry,
	}, resp, e);
	if (rc != POKY_OK && e != NULL && e->message[0] != '\0') {
		char m[POKY_ERR_MSG_MAX + 64];

		snprintf(m, sizeof(m), "ECS %s: %s", op, e->message);
		str_copy(e->message, sizeof(e->message), m);
	}
	free(text);
	return rc;
}

/* rc is what an *_answer function made of resp: a failure it reports
 * carries resp's status unless it chose one itself. */
static enum poky_err
ecs_answered(const struct httpc_response *resp, enum poky_err rc,
	     struct poky_error *e)
{
	if (rc != POKY_OK && e != NULL && e->http_status == 0)
		e->http_status = (int)resp->status;
	return rc;
}

static int
add_str(json_t *o, const char *k, const char *v)
{
	if (v == NULL || *v == '\0')
		return 0;
	return json_object_set_new(o, k, json_string(v));
}

static json_t *
str_array(const char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++)
		if (json_array_append_new(a, json_string(v[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *
kv_array(const struct ecs_kv *kv, size_t n, const char *kname,
	 const char *vname)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++) {
		json_t *o = json_pack("{s:s, s:s}", kname, kv[i].name, vname,
		    kv[i].value);

		if (o == NULL || json_array_append_new(a, o) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

enum poky_err
ecs_run_task_check(const struct ecs_run_task *in, struct poky_error *e)
{
	if (in->cluster == NULL || *in->cluster == '\0')
		return poky_error_set(e, POKY_ERR_INVALID, "cluster missing");
	if (in->task_definition == NULL || *in->task_definition == '\0')
		return poky_error_set(e, POKY_ERR_INVALID, "task definition missing");
	if (in->launch_type != NULL && in->capacity_provider != NULL)
		return poky_error_set(e, POKY_ERR_INVALID,
		    "launch type and capacity provider strategy are exclusive");
	if (in->count < 0 || in->count > ECS_MAX_COUNT)
		return poky_error_set(e, POKY_ERR_INVALID, "count must be 1..%d",
		    ECS_MAX_COUNT);
	if (in->client_token != NULL && (strlen(in->client_token) >
	    ECS_CLIENT_TOKEN_MAX || !printable_ascii(in->client_token)))
		return poky_error_set(e, POKY_ERR_INVALID,
		    "client token must be 1..64 printable ASCII characters");
	if ((in->n_env > 0 || in->n_command > 0) &&
	    (in->container == NULL || *in->container == '\0'))
		return poky_error_set(e, POKY_ERR_INVALID,
		    "overrides need a container name");
	for (size_t i = 0; i < in->n_env; i++)
		if (in->env[i].name == NULL || in->env[i].value == NULL)
			return poky_error_set(e, POKY_ERR_INVALID,
			    "environment entry %zu incomplete", i);
	return POKY_OK;
}

json_t *
ecs_run_task_body(const struct ecs_run_task *in, struct poky_error *e)
{
	json_t *b = NULL, *o = NULL;
	char *ov = NULL;
	size_t ovlen;

	if (ecs_run_task_check(in, e) != POKY_OK)
		return NULL;
	b = json_object();
	if (b == NULL)
		goto nomem;
	if (add_str(b, "cluster", in->cluster) ||
	    add_str(b, "taskDefinition", in->task_definition) ||
	    add_str(b, "launchType", in->launch_type) ||
	    add_str(b, "platformVersion", in->platform_version) ||
	    add_str(b, "startedBy", in->started_by) ||
	    add_str(b, "clientToken", in->client_token) ||
	    json_object_set_new(b, "count", json_integer(in->count ? in->count : 1)))
		goto nomem;
	if (in->capacity_provider != NULL &&
	    json_object_set_new(b, "capacityProviderStrategy", json_pack(
	    "[{s:s, s:i}]", "capacityProvider", in->capacity_provider,
	    "weight", 1)))
		goto nomem;
	if (in->n_subnets > 0 || in->n_security_groups > 0 ||
	    in->assign_public_ip >= 0) {
		json_t *vpc = json_object();

		if (vpc == NULL || json_object_set_new(b, "networkConfiguration",
		    json_pack("{s:o}", "awsvpcConfiguration", vpc)))
			goto nomem;
		if ((in->n_subnets > 0 && json_object_set_new(vpc, "subnets",
		     str_array(in->subnets, in->n_subnets))) ||
		    (in->n_security_groups > 0 && json_object_set_new(vpc,
		     "securityGroups", str_array(in->security_groups,
		     in->n_security_groups))) ||
		    (in->assign_public_ip >= 0 && add_str(vpc, "assignPublicIp",
		     in->assign_public_ip ? "ENABLED" : "DISABLED")))
			goto nomem;
	}
	o = json_object();
	if (o == NULL)
		goto nomem;
	if (in->n_env > 0 || in->n_command > 0) {
		json_t *co = json_pack("{s:s}", "name", in->container);

		if (co == NULL || json_object_set_new(o, "containerOverrides",
		    json_pack("[o]", co)))
			goto nomem;
		if ((in->n_env > 0 && json_object_set_new(co, "environment",
		     kv_array(in->env, in->n_env, "name", "value"))) ||
		    (in->n_command > 0 && json_object_set_new(co, "command",
		     str_array(in->command, in->n_command))))
			goto nomem;
	}
	if (add_str(o, "taskRoleArn", in->task_role_arn) ||
	    add_str(o, "executionRoleArn", in->execution_role_arn))
		goto nomem;
	if (json_object_size(o) > 0) {
		ov = json_dumps(o, JSON_COMPACT);
		if (ov == NULL)
			goto nomem;
		ovlen = strlen(ov);
		free(ov);
		if (ovlen > ECS_MAX_OVERRIDES) {
			json_decref(o);
			json_decref(b);
			poky_error_set(e, POKY_ERR_LIMIT,
			    "task overrides are %zu characters; ECS allows %d",
			    ovlen, ECS_MAX_OVERRIDES);
			return NULL;
		}
		if (json_object_set(b, "overrides", o))
			goto nomem;
	}
	json_decref(o);
	if (in->n_tags > 0 && json_object_set_new(b, "tags",
	    kv_array(in->tags, in->n_tags, "key", "value")))
		goto nomem;
	return b;
nomem:
	json_decref(o);
	json_decref(b);
	poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	return NULL;
}

/* ---- answers -------------------------------------------------------------- */

static void
copy_str(char *dst, size_t cap, const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	str_copy(dst, cap, s ? s : "");
}

static double
get_time(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	return json_is_number(v) ? json_number_value(v) : 0;
}

void
ecs_task_from_json(const json_t *j, struct ecs_task *t)
{
	const json_t *cs, *c;
	size_t i;

	memset(t, 0, sizeof(*t));
	copy_str(t->task_arn, sizeof(t->task_arn), j, "taskArn");
	copy_str(t->cluster_arn, sizeof(t->cluster_arn), j, "clusterArn");
	copy_str(t->task_definition_arn, sizeof(t->task_definition_arn), j,
	    "taskDefinitionArn");
	copy_str(t->last_status, sizeof(t->last_status), j, "lastStatus");
	copy_str(t->desired_status, sizeof(t->desired_status), j, "desiredStatus");
	copy_str(t->stop_code, sizeof(t->stop_code), j, "stopCode");
	copy_str(t->stopped_reason, sizeof(t->stopped_reason), j, "stoppedReason");
	copy_str(t->launch_type, sizeof(t->launch_type), j, "launchType");
	copy_str(t->capacity_provider, sizeof(t->capacity_provider), j,
	    "capacityProviderName");
	t->created_at = get_time(j, "createdAt");
	t->started_at = get_time(j, "startedAt");
	t->stopped_at = get_time(j, "stoppedAt");
	cs = json_object_get(j, "containers");
	json_array_foreach(cs, i, c) {
		struct ecs_container *k;
		const json_t *x;

		if (t->n_containers == ECS_MAX_CONTAINERS)
			break;
		k = &t->containers[t->n_containers++];
		copy_str(k->name, sizeof(k->name), c, "name");
		copy_str(k->last_status, sizeof(k->last_status), c, "lastStatus");
		copy_str(k->reason, sizeof(k->reason), c, "reason");
		x = json_object_get(c, "exitCode");
		/* Absent when the container never ran: that's not a success. */
		if (json_is_integer(x)) {
			k->has_exit_code = 1;
			k->exit_code = (int)json_integer_value(x);
		}
	}
}

int
ecs_failure_is_capacity(const char *reason)
{
	return reason != NULL && (strcasestr(reason, "capacity") != NULL ||
	    strncmp(reason, "RESOURCE:", 9) == 0);
}

/* A 2xx body is a JSON object; anything else is worth another try. */
static json_t *
answer_object(const char *op, const char *body, size_t n, struct poky_error *e)
{
	json_error_t jerr;
	json_t *ans = json_loadb(body, n, 0, &jerr);

	if (json_is_object(ans))
		return ans;
	json_decref(ans);
	poky_error_set(e, POKY_ERR_TRANSIENT, "ECS %s: malformed JSON answer: %s",
	    op, jerr.text);
	if (e != NULL)
		e->retryable = 1;
	return NULL;
}

enum poky_err
ecs_run_task_answer(const char *body, size_t n, struct ecs_task *task,
		    json_t **raw, struct poky_error *e)
{
	json_t *ans, *tasks, *fails;
	enum poky_err rc;

	if (raw != NULL)
		*raw = NULL;
	ans = answer_object("RunTask", body, n, e);
	if (ans == NULL)
		return POKY_ERR_TRANSIENT;
	tasks = json_object_get(ans, "tasks");
	fails = json_object_get(ans, "failures");
	if (json_array_size(tasks) == 0) {
		const json_t *f0 = json_array_get(fails, 0);
		const char *reason = json_string_value(json_object_get(f0, "reason"));
		const char *detail = json_string_value(json_object_get(f0, "detail"));

		rc = poky_error_set(e, POKY_ERR_REMOTE, "RunTask started no task: %s%s%s",
		    reason ? reason : "no reason given", detail ? " - " : "",
		    detail ? detail : "");
		if (e != NULL) {
			str_copy(e->aws_code, sizeof(e->aws_code), "RunTaskFailure");
			e->http_status = 200;
			e->retryable = ecs_failure_is_capacity(reason);
		}
		json_decref(ans);
		return rc;
	}
	if (task != NULL)
		ecs_task_from_json(json_array_get(tasks, 0), task);
	if (raw != NULL)
		*raw = ans;
	else
		json_decref(ans);
	return POKY_OK;
}

enum poky_err
ecs_run_task(struct aws_client *c, const struct ecs_run_task *in,
	     struct ecs_task *task, json_t **raw, struct poky_error *e)
{
	struct httpc_response resp;
	json_t *body;
	enum poky_err rc;

	if (raw != NULL)
		*raw = NULL;
	body = ecs_run_task_body(in, e);
	if (body == NULL)
		return e != NULL ? e->code : POKY_ERR_INVALID;
	rc = ecs_call(c, "RunTask", body, in->no_throttle_retry, &resp, e);
	if (rc == POKY_OK)
		rc = ecs_answered(&resp, ecs_run_task_answer(resp.body.data,
		    resp.body.len, task, raw, e), e);
	httpc_response_cleanup(&resp);
	return rc;
}

/* Position of arn in arns, matching a full ARN or a bare task id. */
static long
find_arn(const char *const *arns, size_t n, const char *arn)
{
	for (size_t i = 0; i < n; i++) {
		const char *slash;

		if (strcmp(arns[i], arn) == 0)
			return (long)i;
		slash = strrchr(arn, '/');
		if (slash != NULL && strcmp(arns[i], slash + 1) == 0)
			return (long)i;
	}
	return -1;
}

enum poky_err
ecs_describe_tasks_answer(const char *body, size_t n, const char *const *arns,
			  size_t n_arns, struct ecs_task *out,
			  struct poky_error *e)
{
	json_t *ans, *x;
	size_t i;

	for (i = 0; i < n_arns; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		str_copy(out[i].task_arn, sizeof(out[i].task_arn), arns[i]);
	}
	ans = answer_object("DescribeTasks", body, n, e);
	if (ans == NULL)
		return POKY_ERR_TRANSIENT;
	json_array_foreach(json_object_get(ans, "tasks"), i, x) {
		const char *arn = json_string_value(json_object_get(x, "taskArn"));
		long k = arn ? find_arn(arns, n_arns, arn) : -1;

		if (k >= 0)
			ecs_task_from_json(x, &out[(size_t)k]);
	}
	json_array_foreach(json_object_get(ans, "failures"), i, x) {
		const char *arn = json_string_value(json_object_get(x, "arn"));
		const char *why = json_string_value(json_object_get(x, "reason"));
		long k = arn ? find_arn(arns, n_arns, arn) : -1;

		if (k >= 0 && why != NULL && strcmp(why, "MISSING") == 0) {
			out[(size_t)k].missing = 1;
			strcpy(out[(size_t)k].last_status, "MISSING");
		}
	}
	json_decref(ans);
	return POKY_OK;
}

enum poky_err
ecs_describe_tasks(struct aws_client *c, const char *cluster,
		   const char *const *arns, size_t n, struct ecs_task *out,
		   struct poky_error *e)
{
	for (size_t at = 0; at < n; at += ECS_DESCRIBE_BATCH) {
		size_t m = n - at < ECS_DESCRIBE_BATCH ? n - at : ECS_DESCRIBE_BATCH;
		struct httpc_response resp;
		json_t *body;
		enum poky_err rc;

		body = json_pack("{s:s, s:o}", "cluster", cluster, "tasks",
		    str_array(arns + at, m));
		if (body == NULL)
			return poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
		rc = ecs_call(c, "DescribeTasks", body, 0, &resp, e);
		if (rc == POKY_OK)
			rc = ecs_answered(&resp, ecs_describe_tasks_answer(
			    resp.body.data, resp.body.len, arns + at, m, out + at,
			    e), e);
		httpc_response_cleanup(&resp);
		if (rc != POKY_OK)
			return rc;
	}
	return POKY_OK;
}

enum poky_err
ecs_stop_task_answer(const char *body, size_t n, struct ecs_task *task,
		     struct poky_error *e)
{
	json_t *ans = answer_object("StopTask", body, n, e);

	if (ans == NULL)
		return POKY_ERR_TRANSIENT;
	if (task != NULL)
		ecs_task_from_json(json_object_get(ans, "task"), task);
	json_decref(ans);
	return POKY_OK;
}

enum poky_err
ecs_stop_task(struct aws_client *c, const char *cluster, const char *task_arn,
	      const char *reason, struct ecs_task *task, struct poky_error *e)
{
	char r[256];
	struct httpc_response resp;
	json_t *body;
	enum poky_err rc;

	/* ECS keeps 255 characters of a reason. */
	str_copy(r, sizeof(r), reason ? reason : "");
	body = json_pack("{s:s, s:s, s:s}", "cluster", cluster, "task", task_arn,
	    "reason", r);
	if (body == NULL)
		return poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	rc = ecs_call(c, "StopTask", body, 0, &resp, e);
	if (rc == POKY_OK)
		rc = ecs_answered(&resp, ecs_stop_task_answer(resp.body.data,
		    resp.body.len, task, e), e);
	httpc_response_cleanup(&resp);
	return rc;
}

enum poky_err
ecs_list_tasks_answer(const char *body, size_t n, char *next_token,
		      size_t next_cap, json_t *arns, struct poky_error *e)
{
	json_t *ans = answer_object("ListTasks", body, n, e), *x;
	size_t i;

	if (ans == NULL)
		return POKY_ERR_TRANSIENT;
	json_array_foreach(json_object_get(ans, "taskArns"), i, x)
		json_array_append(arns, x);
	copy_str(next_token, next_cap, ans, "nextToken");
	json_decref(ans);
	return POKY_OK;
}

enum poky_err
ecs_list_tasks(struct aws_client *c, const char *cluster, const char *started_by,
	       char *next_token, size_t next_cap, json_t *arns,
	       struct poky_error *e)
{
	struct httpc_response resp;
	json_t *body;
	enum poky_err rc;

	body = json_pack("{s:s}", "cluster", cluster);
	if (body == NULL || add_str(body, "startedBy", started_by) ||
	    add_str(body, "nextToken", next_token)) {
		json_decref(body);
		return poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	}
	rc = ecs_call(c, "ListTasks", body, 0, &resp, e);
	if (rc == POKY_OK)
		rc = ecs_answered(&resp, ecs_list_tasks_answer(resp.body.data,
		    resp.body.len, next_token, next_cap, arns, e), e);
	httpc_response_cleanup(&resp);
	return rc;
}

/* ---- DescribeTaskDefinition ---------------------------------------------- */

json_t *
ecs_describe_task_definition_body(const char *task_definition)
{
	return json_pack("{s:s}", "taskDefinition",
	    task_definition ? task_definition : "");
}

static void
log_config_of(const json_t *cd, struct ecs_log_config *out)
{
	const json_t *lc = json_object_get(cd, "logConfiguration");
	const json_t *opts = json_object_get(lc, "options");
	const char *driver = json_string_value(json_object_get(lc, "logDriver"));

	copy_str(out->container, sizeof(out->container), cd, "name");
	out->group[0] = out->stream_prefix[0] = '\0';
	if (driver == NULL || strcmp(driver, "awslogs") != 0)
		return;
	copy_str(out->group, sizeof(out->group), opts, "awslogs-group");
	copy_str(out->stream_prefix, sizeof(out->stream_prefix), opts,
	    "awslogs-stream-prefix");
}

enum poky_err
ecs_describe_task_definition_answer(const char *body, size_t n,
				    const char *container,
				    struct ecs_log_config *out,
				    struct poky_error *e)
{
	json_t *ans, *cds, *cd;
	size_t i;
	bool found = false;

	memset(out, 0, sizeof(*out));
	ans = answer_object("DescribeTaskDefinition", body, n, e);
	if (ans == NULL)
		return POKY_ERR_TRANSIENT;
	cds = json_object_get(json_object_get(ans, "taskDefinition"),
	    "containerDefinitions");
	json_array_foreach(cds, i, cd) {
		const char *name = json_string_value(json_object_get(cd, "name"));

		if (name == NULL)
			continue;
		if (container != NULL && *container != '\0') {
			if (strcmp(name, container) != 0)
				continue;
			log_config_of(cd, out);
			found = true;
			break;
		}
		log_config_of(cd, out);
		if (out->group[0] != '\0') {
			found = true;
			break;
		}
	}
	json_decref(ans);
	if (found)
		return POKY_OK;
	memset(out, 0, sizeof(*out));
	if (container != NULL && *container != '\0')
		return poky_error_set(e, POKY_ERR_NOTFOUND, "ECS "
		    "DescribeTaskDefinition: no container '%.128s'", container);
	return POKY_OK;
}

enum poky_err
ecs_describe_task_definition(struct aws_client *c, const char *task_definition,
			     const char *container, struct ecs_log_config *out,
			     struct poky_error *e)
{
	struct httpc_response resp;
	json_t *body = ecs_describe_task_definition_body(task_definition);
	enum poky_err rc;

	memset(out, 0, sizeof(*out));
	if (body == NULL)
		return poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	rc = ecs_call(c, "DescribeTaskDefinition", body, 0, &resp, e);
	if (rc == POKY_OK)
		rc = ecs_answered(&resp, ecs_describe_task_definition_answer(
		    resp.body.data, resp.body.len, container, out, e), e);
	httpc_response_cleanup(&resp);
	return rc;
}

void
ecs_log_stream_name(const char *prefix, const char *container,
		    const char *task_arn, char *out, size_t cap)
{
	const char *id = task_arn ? strrchr(task_arn, '/') : NULL;
	int n;

	id = id ? id + 1 : task_arn;
	if (cap == 0)
		return;
	out[0] = '\0';
	if (prefix == NULL || *prefix == '\0' || container == NULL ||
	    *container == '\0' || id == NULL || *id == '\0')
		return;
	n = snprintf(out, cap, "%s/%s/%s", prefix, container, id);
	if (n < 0 || (size_t)n >= cap)
		out[0] = '\0';
}
