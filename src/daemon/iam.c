/* iam.c - the AWS calls pokyd makes and the policy that allows them (see iam.h). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "poky/profile.h"
#include "poky/str.h"

#include "iam.h"

#define IAM_NAME_MAX 256
#define IAM_MAX_CONTEXT 2

/* Which resources of a template an entry is granted on. */
enum iam_scope {
	IAM_TASK_DEFINITION,    /* the template's task definition */
	IAM_CLUSTER_TASKS,      /* every task of the template's cluster */
	IAM_TASK_ROLES,         /* the roles RunTask passes to the task */
	IAM_CHECKED_BUCKETS,    /* buckets named by s3=bucket parameters */
	IAM_CHECKED_OBJECTS,    /* objects in the buckets of s3=object parameters */
	IAM_ANY_UNLESS_LOGS_SET, /* "*", when log_group/log_stream_prefix are not both set */
	IAM_LOG_STREAMS,        /* the streams of the template's log group */
};

/* Where a condition's value comes from. */
enum iam_value {
	IAM_VALUE_NONE,
	IAM_VALUE_CLUSTER,      /* the template's cluster ARN */
	IAM_VALUE_LITERAL,
};

#define IAM_ECS (1u << LAUNCHER_ECS)
/* Docker templates run no ECS task, but their s3= checks ask S3 too. */
#define IAM_S3_CHECKS ((1u << LAUNCHER_ECS) | (1u << LAUNCHER_DOCKER))

struct iam_entry {
	const char *operation;          /* the API call pokyd makes */
	const char *when;               /* "always", "tags", "per_role" (iam.h) */
	const char *action;
	const char *resource_type;      /* as the Authorization Reference names it */
	enum iam_scope scope;
	unsigned launchers;             /* templates that make the call */
	const char *context[IAM_MAX_CONTEXT + 1];  /* keys AWS sends; NULL ends */
	const char *cond_op;            /* the policy's condition on them, or NULL */
	const char *cond_key;
	enum iam_value cond_value;
	const char *cond_literal;
	const char *sid;                /* the policy statement it goes to */
};

/* Every AWS call pokyd makes, with what AWS's Service Authorization Reference
 * says it is authorized as.  A new call is a new row (and a new case for the
 * test that replays the fakes' calls, test/integration/test_iam_policy.py).
 * Task logs: pokyd reads where a task logs from its task definition
 * (DescribeTaskDefinition: no resource type, so "*"; not called when the
 * template sets log_group and log_stream_prefix) and reads the stream with
 * GetLogEvents, authorized on the log stream. */
static const struct iam_entry iam_table[] = {
	/* RunTask is authorized on the task definition; the cluster is only a
	 * context key, so the condition is what keeps the task definition from
	 * being run in any other cluster. */
	{ "ecs:RunTask", "always", "ecs:RunTask", "task-definition",
	  IAM_TASK_DEFINITION, IAM_ECS, { "ecs:cluster", NULL }, "ArnLike",
	  "ecs:cluster", IAM_VALUE_CLUSTER, NULL, "PokyRunTask" },
	/* pokyd always sends tags (poky:task-id, poky:template).  ECS authorizes
	 * tags on create as ecs:TagResource on the new task, marked with the
	 * creating action: the condition allows tagging no existing task. */
	{ "ecs:RunTask", "tags", "ecs:TagResource", "task", IAM_CLUSTER_TASKS,
	  IAM_ECS, { "ecs:CreateAction", NULL }, "StringEquals",
	  "ecs:CreateAction", IAM_VALUE_LITERAL, "RunTask", "PokyTagNewTasks" },
	/* RunTask passes the template's roles, or those of the task definition
	 * when the template names none, to the task. */
	{ "ecs:RunTask", "per_role", "iam:PassRole", "role", IAM_TASK_ROLES,
	  IAM_ECS, { "iam:PassedToService", NULL }, "StringEquals",
	  "iam:PassedToService", IAM_VALUE_LITERAL, "ecs-tasks.amazonaws.com",
	  "PokyPassTaskRoles" },
	/* Tracking and cancelling: the task ARN names the cluster already. */
	{ "ecs:DescribeTasks", "always", "ecs:DescribeTasks", "task",
	  IAM_CLUSTER_TASKS, IAM_ECS, { "ecs:cluster", NULL }, NULL, NULL,
	  IAM_VALUE_NONE, NULL, "PokyTrackTasks" },
	{ "ecs:StopTask", "always", "ecs:StopTask", "task", IAM_CLUSTER_TASKS,
	  IAM_ECS, { "ecs:cluster", NULL }, NULL, NULL, IAM_VALUE_NONE, NULL,
	  "PokyTrackTasks" },
	{ "ecs:DescribeTaskDefinition", "always", "ecs:DescribeTaskDefinition",
	  "*", IAM_ANY_UNLESS_LOGS_SET, IAM_ECS, { NULL }, NULL, NULL,
	  IAM_VALUE_NONE, NULL, "PokyTaskLogConfig" },
	{ "logs:GetLogEvents", "always", "logs:GetLogEvents", "log-stream",
	  IAM_LOG_STREAMS, IAM_ECS, { NULL }, NULL, NULL, IAM_VALUE_NONE, NULL,
	  "PokyReadTaskLogs" },
	/* The original Poky's existence checks (s3= parameters). */
	{ "s3:HeadBucket", "always", "s3:ListBucket", "bucket",
	  IAM_CHECKED_BUCKETS, IAM_S3_CHECKS, { NULL }, NULL, NULL,
	  IAM_VALUE_NONE, NULL, "PokyCheckBuckets" },
	{ "s3:HeadObject", "always", "s3:GetObject", "object",
	  IAM_CHECKED_OBJECTS, IAM_S3_CHECKS, { NULL }, NULL, NULL,
	  IAM_VALUE_NONE, NULL, "PokyCheckObjects" },
};

#define IAM_TABLE_LEN (sizeof(iam_table) / sizeof(iam_table[0]))

/* Where pokyd's calls go: the region its AWS client resolves. */
struct iam_where {
	char partition[16];
	char region[64];
};

static void
where_init(const struct config *cfg, struct iam_where *w)
{
	/* The same order as the AWS client (awsreq.c): environment and
	 * profile, then [aws] region, then us-east-1. */
	profile_region(cfg->aws.profile, w->region, sizeof(w->region));
	if (w->region[0] == '\0' && cfg->aws.region != NULL && *cfg->aws.region)
		str_copy(w->region, sizeof(w->region), cfg->aws.region);
	if (w->region[0] == '\0')
		str_copy(w->region, sizeof(w->region), "us-east-1");
	if (strncmp(w->region, "cn-", 3) == 0)
		str_copy(w->partition, sizeof(w->partition), "aws-cn");
	else if (strncmp(w->region, "us-gov-", 7) == 0)
		str_copy(w->partition, sizeof(w->partition), "aws-us-gov");
	else
		str_copy(w->partition, sizeof(w->partition), "aws");
}

static int
append_unique(json_t *a, json_t *v)
{
	size_t i;
	json_t *x;

	if (v == NULL)
		return -1;
	json_array_foreach(a, i, x)
		if (json_equal(x, v)) {
			json_decref(v);
			return 0;
		}
	return json_array_append_new(a, v);
}

/* The names an anchored list of literals admits (^name$, ^(in|out)$), as
 * ARN patterns: the pattern's '.' is any one character, IAM's '?'.  false
 * when the pattern may admit more: the caller then grants any name. */
static bool
pattern_names(const char *re, json_t *out)
{
	char name[IAM_NAME_MAX];
	size_t len = re ? strlen(re) : 0, n = 0;
	const char *p, *end;
	json_t *names = json_array();
	bool group;

	if (names == NULL || len < 3 || re[0] != '^' || re[len - 1] != '$' ||
	    re[len - 2] == '\\')
		goto no;
	p = re + 1;
	end = re + len - 1;
	group = *p == '(' && end[-1] == ')';
	if (group) {
		p++;
		end--;
	}
	for (; p <= end; p++) {
		if (p == end || *p == '|') {
			/* ^a|b$ is (^a)|(b$): only a group keeps every
			 * alternative anchored. */
			if (n == 0 || (*p == '|' && !group))
				goto no;
			name[n] = '\0';
			if (append_unique(names, json_string(name)) != 0)
				goto no;
			n = 0;
			continue;
		}
		if (n + 1 >= sizeof(name))
			goto no;
		if (*p == '\\' && p + 1 < end && p[1] == '.') {
			name[n++] = '.';
			p++;
		} else if (*p == '.') {
			name[n++] = '?';
		} else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_') {
			name[n++] = *p;
		} else {
			goto no;
		}
	}
	if (json_array_extend(out, names) != 0)
		goto no;
	json_decref(names);
	return true;
no:
	json_decref(names);
	return false;
}

static const struct tmpl_param *
param_named(const struct tmpl *t, const char *name)
{
	for (size_t i = 0; name != NULL && i < t->n_params; i++)
		if (strcmp(t->params[i].name, name) == 0)
			return &t->params[i];
	return NULL;
}

/* The buckets a parameter can name, as ARNs with suffix ("" or "/ *"). */
static int
bucket_arns(const struct iam_where *w, const struct tmpl_param *p,
	    const char *suffix, json_t *out)
{
	json_t *names = json_array(), *x;
	size_t i;
	int rc = 0;

	if (names == NULL)
		return -1;
	if (p == NULL || !pattern_names(p->pattern, names)) {
		json_array_clear(names);
		rc = json_array_append_new(names, json_string("*"));
	}
	json_array_foreach(names, i, x)
		if (rc == 0)
			rc = append_unique(out, json_sprintf("arn:%s:s3:::%s%s",
			    w->partition, json_string_value(x), suffix));
	json_decref(names);
	return rc;
}

/* A cluster's name and ARN (pattern) from a name or an ARN. */
static void
cluster_names(const struct iam_where *w, const char *cluster, char *name,
	      size_t name_cap, char *arn, size_t arn_cap)
{
	const char *c = cluster ? cluster : "default";
	const char *slash = strstr(c, ":cluster/");

	if (strncmp(c, "arn:", 4) == 0 && slash != NULL) {
		str_copy(name, name_cap, slash + 9);
		str_copy(arn, arn_cap, c);
	} else {
		str_copy(name, name_cap, c);
		snprintf(arn, arn_cap, "arn:%s:ecs:%s:*:cluster/%s", w->partition,
		    w->region, c);
	}
}

static int
scope_resources(const struct iam_where *w, enum iam_scope scope,
		const struct tmpl *t, json_t *out)
{
	char name[IAM_NAME_MAX], arn[2 * IAM_NAME_MAX];
	const char *td = t->task_definition, *slash;
	int rc = 0;

	switch (scope) {
	case IAM_TASK_DEFINITION:
		slash = td ? strstr(td, ":task-definition/") : NULL;
		if (td == NULL)
			return 0;
		if (strncmp(td, "arn:", 4) == 0 && slash != NULL)
			/* Without a revision ECS runs the latest ACTIVE one. */
			return append_unique(out, json_sprintf("%s%s", td,
			    strchr(slash + 17, ':') ? "" : ":*"));
		return append_unique(out, json_sprintf(
		    "arn:%s:ecs:%s:*:task-definition/%s%s", w->partition, w->region,
		    td, strchr(td, ':') ? "" : ":*"));
	case IAM_CLUSTER_TASKS:
		cluster_names(w, t->cluster, name, sizeof(name), arn, sizeof(arn));
		slash = strstr(arn, ":cluster/");
		return append_unique(out, json_sprintf("%.*s:task/%s/*",
		    (int)(slash - arn), arn, name));
	case IAM_TASK_ROLES:
		/* A role the template leaves out is the task definition's own:
		 * pokyd cannot know it, so any role, for ECS tasks only. */
		if (t->task_role_arn == NULL || *t->task_role_arn == '\0' ||
		    t->execution_role_arn == NULL || *t->execution_role_arn == '\0')
			rc = append_unique(out, json_string("*"));
		if (rc == 0 && t->task_role_arn != NULL && *t->task_role_arn)
			rc = append_unique(out, json_string(t->task_role_arn));
		if (rc == 0 && t->execution_role_arn != NULL && *t->execution_role_arn)
			rc = append_unique(out, json_string(t->execution_role_arn));
		return rc;
	case IAM_ANY_UNLESS_LOGS_SET:
		if (t->log_group != NULL && *t->log_group &&
		    t->log_stream_prefix != NULL && *t->log_stream_prefix)
			return 0;
		return append_unique(out, json_string("*"));
	case IAM_LOG_STREAMS:
		/* A group pokyd learns only from the task definition at run
		 * time: the usual names, /ecs/FAMILY (the console's) and
		 * /poky/STACK (deploy/); log_group in the template names it
		 * exactly. */
		if (t->log_group != NULL && *t->log_group)
			return append_unique(out, json_sprintf(
			    "arn:%s:logs:%s:*:log-group:%s:log-stream:*",
			    w->partition, w->region, t->log_group));
		rc = append_unique(out, json_sprintf(
		    "arn:%s:logs:%s:*:log-group:/ecs/*:log-stream:*",
		    w->partition, w->region));
		if (rc == 0)
			rc = append_unique(out, json_sprintf(
			    "arn:%s:logs:%s:*:log-group:/poky/*:log-stream:*",
			    w->partition, w->region));
		return rc;
	case IAM_CHECKED_BUCKETS:
		for (size_t i = 0; rc == 0 && i < t->n_params; i++)
			if (t->params[i].s3 == PARAM_S3_BUCKET)
				rc = bucket_arns(w, &t->params[i], "", out);
		return rc;
	case IAM_CHECKED_OBJECTS:
		for (size_t i = 0; rc == 0 && i < t->n_params; i++)
			if (t->params[i].s3 == PARAM_S3_OBJECT)
				rc = bucket_arns(w, param_named(t,
				    t->params[i].s3_bucket_param), "/*", out);
		return rc;
	}
	return -1;
}

/* The entry's condition for template t, or NULL (none, or no memory). */
static json_t *
entry_condition(const struct iam_where *w, const struct iam_entry *en,
		const struct tmpl *t)
{
	char name[IAM_NAME_MAX], arn[2 * IAM_NAME_MAX];
	const char *v = en->cond_literal;

	if (en->cond_op == NULL)
		return NULL;
	if (en->cond_value == IAM_VALUE_CLUSTER) {
		cluster_names(w, t->cluster, name, sizeof(name), arn, sizeof(arn));
		v = arn;
	}
	return json_pack("{s:{s:[s]}}", en->cond_op, en->cond_key, v);
}

/* One row of the resolved table. */
static json_t *
entry_row(const struct iam_where *w, const struct iam_entry *en,
	  const struct tmpl *t)
{
	json_t *res = json_array(), *ctx = json_array(), *cond, *row = NULL;

	if (res == NULL || ctx == NULL || scope_resources(w, en->scope, t, res) != 0)
		goto out;
	if (json_array_size(res) == 0) {
		/* Not a call this template makes (no s3= parameters). */
		row = json_null();
		goto out;
	}
	for (size_t k = 0; en->context[k] != NULL; k++)
		if (json_array_append_new(ctx, json_string(en->context[k])) != 0)
			goto out;
	cond = entry_condition(w, en, t);
	if (en->cond_op != NULL && cond == NULL)
		goto out;
	row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O, s:O, s:o, s:s}",
	    "template", t->name, "operation", en->operation, "when", en->when,
	    "action", en->action, "resource_type", en->resource_type,
	    "resources", res, "context_keys", ctx,
	    "condition", cond ? cond : json_null(), "sid", en->sid);
out:
	json_decref(res);
	json_decref(ctx);
	return row;
}

json_t *
iam_calls(const struct config *cfg, struct poky_error *e)
{
	struct iam_where w;
	json_t *calls = json_array();

	where_init(cfg, &w);
	for (size_t k = 0; calls != NULL && k < IAM_TABLE_LEN; k++) {
		const struct iam_entry *en = &iam_table[k];

		for (size_t i = 0; i < cfg->n_templates; i++) {
			const struct tmpl *t = cfg->templates[i];
			json_t *row;

			if ((en->launchers & (1u << t->launcher)) == 0)
				continue;
			if ((row = entry_row(&w, en, t)) == NULL) {
				json_decref(calls);
				calls = NULL;
				break;
			}
			if (json_is_null(row))
				json_decref(row);
			else if (json_array_append_new(calls, row) != 0) {
				json_decref(calls);
				calls = NULL;
				break;
			}
		}
	}
	if (calls == NULL) {
		poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
		return NULL;
	}
	return json_pack("{s:s, s:s, s:o}", "partition", w.partition, "region",
	    w.region, "calls", calls);
}

/* "*", or any bucket or object of S3: it swallows every other resource. */
static bool
any_resource(const char *r)
{
	const char *s3 = strstr(r, ":s3:::");

	return strcmp(r, "*") == 0 || (s3 != NULL && (strcmp(s3 + 6, "*") == 0 ||
	    strcmp(s3 + 6, "*/*") == 0));
}

static int
merge_resources(json_t *into, json_t *more)
{
	size_t i;
	json_t *r;

	json_array_foreach(more, i, r)
		if (append_unique(into, json_incref(r)) != 0)
			return -1;
	json_array_foreach(into, i, r)
		if (any_resource(json_string_value(r))) {
			json_t *only = json_incref(r);

			json_array_clear(into);
			return json_array_append_new(into, only);
		}
	return 0;
}

/* Rows with the same statement and condition become one statement, its
 * actions and resources merged; rows with another condition (another
 * cluster) get their own, numbered when a Sid is used more than once. */
static int
add_row(json_t *stmts, const json_t *row)
{
	const char *sid = json_string_value(json_object_get(row, "sid"));
	json_t *cond = json_object_get(row, "condition");
	json_t *action = json_object_get(row, "action"), *s, *st;
	size_t i;

	json_array_foreach(stmts, i, s) {
		if (strcmp(json_string_value(json_object_get(s, "Sid")), sid) != 0 ||
		    !json_equal(json_object_get(s, "Condition") ?
		    json_object_get(s, "Condition") : json_null(), cond))
			continue;
		if (append_unique(json_object_get(s, "Action"),
		    json_incref(action)) != 0)
			return -1;
		return merge_resources(json_object_get(s, "Resource"),
		    json_object_get(row, "resources"));
	}
	st = json_pack("{s:s, s:s, s:[O], s:[]}", "Sid", sid, "Effect", "Allow",
	    "Action", action, "Resource");
	if (st == NULL || merge_resources(json_object_get(st, "Resource"),
	    json_object_get(row, "resources")) != 0 ||
	    (!json_is_null(cond) && json_object_set(st, "Condition", cond) != 0)) {
		json_decref(st);
		return -1;
	}
	return json_array_append_new(stmts, st);
}

/* Sids are unique in a policy: PokyRunTask, or PokyRunTask1, 2 ... when
 * there are several (one per cluster).  The table's Sids have no digits. */
static int
number_sids(json_t *stmts)
{
	size_t i, j;
	json_t *s, *t;

	json_array_foreach(stmts, i, s) {
		char base[64];
		size_t same = 0;

		str_copy(base, sizeof(base), json_string_value(json_object_get(s,
		    "Sid")));
		json_array_foreach(stmts, j, t)
			same += strcmp(json_string_value(json_object_get(t, "Sid")),
			    base) == 0;
		if (same < 2)
			continue;
		same = 0;
		json_array_foreach(stmts, j, t)
			if (strcmp(json_string_value(json_object_get(t, "Sid")),
			    base) == 0 && json_object_set_new(t, "Sid",
			    json_sprintf("%s%zu", base, ++same)) != 0)
				return -1;
	}
	return 0;
}

json_t *
iam_policy(const struct config *cfg, struct poky_error *e)
{
	json_t *calls = iam_calls(cfg, e), *stmts = json_array(), *row;
	size_t i;

	if (calls == NULL || stmts == NULL)
		goto fail;
	json_array_foreach(json_object_get(calls, "calls"), i, row)
		if (add_row(stmts, row) != 0)
			goto fail;
	if (number_sids(stmts) != 0)
		goto fail;
	json_decref(calls);
	return json_pack("{s:s, s:o}", "Version", "2012-10-17", "Statement", stmts);
fail:
	json_decref(calls);
	json_decref(stmts);
	poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	return NULL;
}
