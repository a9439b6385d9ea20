"""pokyd --print-iam-policy allows exactly what pokyd does (issue #20).

pokyd runs against the fakes: a submit with s3= checks (HeadBucket, HeadObject), a launch
(RunTask, with tags and roles), tracking (DescribeTasks) and a cancel (StopTask).  Every call the
fakes received becomes the IAM requests AWS authorizes it as, and each is evaluated with
@cloud-copilot/iam-simulate (test/iam_simulate.js; test/npm-tools.sh installs it) against the
printed policy: all must be Allowed.  Requests next to them (another task definition, another
cluster, tagging outside RunTask, another bucket, another role) must be ImplicitlyDenied.

Which IAM actions a call needs comes from iam.c's table (pokyd --print-iam-calls), the same
table the policy is made from; the table is held here against what AWS's Service Authorization
Reference says (EXPECTED) and against the simulator's own copy of that reference (it must know
every action, resource type and context key), and every operation the fakes saw must be in it.
"""
import json
import subprocess

import pytest

pytest.register_assert_rewrite("pokyd")
from conftest import ROOT  # noqa: E402
from pokyd import ecs_template, wait_task  # noqa: E402

pytest_plugins = ["pokyd"]      # fixtures: fake_ecs, fake_s3, pokyd_factory, openapi ...

ACCOUNT = "123456789012"        # the fakes' account
REGION = "us-east-1"
PRINCIPAL = "arn:aws:iam::%s:role/pokyd" % ACCOUNT
TASK_ROLE = "arn:aws:iam::%s:role/poky-task" % ACCOUNT
EXEC_ROLE = "arn:aws:iam::%s:role/poky-exec" % ACCOUNT
SIMULATE = ROOT / "test" / "iam_simulate.js"
FOREVER = [["PENDING", 0.05], ["RUNNING", 0.1]]          # runs until stopped

# What AWS authorizes each call pokyd makes as (Service Authorization Reference, and the ECS
# guide's "Grant permission to tag resources on creation"): operation -> {(action, resource
# type, context keys, when)}.  RunTask with tags is also ecs:TagResource on the new task.
EXPECTED = {
    "ecs:RunTask": {("ecs:RunTask", "task-definition", ("ecs:cluster",), "always"),
                    ("ecs:TagResource", "task", ("ecs:CreateAction",), "tags"),
                    ("iam:PassRole", "role", ("iam:PassedToService",), "per_role")},
    "ecs:DescribeTasks": {("ecs:DescribeTasks", "task", ("ecs:cluster",), "always")},
    "ecs:StopTask": {("ecs:StopTask", "task", ("ecs:cluster",), "always")},
    "ecs:DescribeTaskDefinition": {("ecs:DescribeTaskDefinition", "*", (), "always")},
    "logs:GetLogEvents": {("logs:GetLogEvents", "log-stream", (), "always")},
    "s3:HeadBucket": {("s3:ListBucket", "bucket", (), "always")},
    "s3:HeadObject": {("s3:GetObject", "object", (), "always")},
}

TEMPLATES = {
    "convert": ecs_template(
        task_role_arn=TASK_ROLE, execution_role_arn=EXEC_ROLE,
        **{"param.source_bucket": "required env=SOURCE_BUCKET max=63 "
                                  "pattern=^(poky-in|poky-archive)$ s3=bucket",
           "param.source_key": "required env=SOURCE_KEY max=1024 s3=object:source_bucket",
           "param.output_bucket": "required env=OUTPUT_BUCKET max=63 pattern=^poky-out$ "
                                  "s3=bucket"}),
    # Another family in another cluster: its grants must not let "convert"'s task
    # definition run there.
    "batch": ecs_template(cluster="batch", task_definition="batch-job",
                          task_role_arn=TASK_ROLE, execution_role_arn=EXEC_ROLE),
}
PARAMS = {"source_bucket": "poky-in", "source_key": "data/in.txt", "output_bucket": "poky-out"}


def ecs_arn(kind, rest):
    return "arn:aws:ecs:%s:%s:%s/%s" % (REGION, ACCOUNT, kind, rest)


def simulate(policy, requests):
    if not (ROOT / "test" / "node_modules" / "@cloud-copilot" / "iam-simulate").is_dir():
        pytest.fail("@cloud-copilot/iam-simulate is not installed: run sh test/npm-tools.sh")
    p = subprocess.run(["node", str(SIMULATE)], capture_output=True, text=True, timeout=120,
                       input=json.dumps({"policy": policy, "principal": PRINCIPAL,
                                         "requests": requests}))
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def pokyd_print(d, flag):
    p = subprocess.run([str(d.binary), "-c", str(d.config_path), flag], capture_output=True,
                       text=True, env=d.env, timeout=30)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


# --------------------------------------------------------------------------- recorded calls

def recorded(fake_ecs, fake_s3, fake_logs):
    """Every call pokyd made that the fakes answered, as (operation, facts)."""
    out = []
    for c in fake_ecs.calls():
        assert c["status"] == 200, c
        body = c["body"]
        facts = dict(c["authz"])
        facts["tags"] = bool(body.get("tags"))
        overrides = body.get("overrides") or {}
        facts["roles"] = [r for r in (overrides.get("taskRoleArn"),
                                      overrides.get("executionRoleArn")) if r]
        out.append(("ecs:" + c["op"], facts))
    for c in fake_s3.calls():
        assert c["status"] == 200, c
        out.append(("s3:" + c["op"], {"bucket": c["bucket"], "key": c["key"]}))
    for c in fake_logs.calls():
        assert c["status"] == 200, c
        out.append(("logs:" + c["op"], dict(c["authz"])))
    return out


def context_value(key, facts):
    """What AWS puts in the request context for key (values the test knows, not the table)."""
    if key == "ecs:cluster":
        return facts["cluster_arn"]
    if key == "ecs:CreateAction":
        return "RunTask"
    if key == "iam:PassedToService":
        return "ecs-tasks.amazonaws.com"
    raise AssertionError("the table names a context key this test cannot supply: " + key)


def requests_for(op, facts, rows):
    """The IAM requests AWS makes of one recorded call, per the table's rows for op."""
    out = []
    for row in rows:
        if row["when"] == "tags" and not facts["tags"]:
            continue
        kind = row["resource_type"]
        if kind == "task-definition":
            resources = [facts["task_definition_arn"]]
        elif kind == "task":
            resources = facts["task_arns"]
        elif kind == "role":
            assert row["when"] == "per_role"
            resources = facts["roles"]
        elif kind == "bucket":
            resources = ["arn:aws:s3:::" + facts["bucket"]]
        elif kind == "object":
            resources = ["arn:aws:s3:::%s/%s" % (facts["bucket"], facts["key"])]
        elif kind == "*":
            resources = ["*"]
        elif kind == "log-stream":
            resources = ["arn:aws:logs:%s:%s:log-group:%s:log-stream:%s" % (
                REGION, ACCOUNT, facts["log_group"], facts["log_stream"])]
        else:
            raise AssertionError("resource type this test cannot build: " + kind)
        for res in resources:
            out.append({"what": "%s -> %s on %s" % (op, row["action"], res),
                        "action": row["action"], "resource": res, "account": ACCOUNT,
                        "resource_type": kind,
                        "context": {k: context_value(k, facts) for k in row["context_keys"]}})
    return out


# --------------------------------------------------------------------------- the test

@pytest.fixture
def scenario(pokyd_factory, fake_ecs, fake_s3, fake_logs):
    """Submit with s3 checks, launch (and read where the task logs), track, read the task's
    logs, cancel; the daemon and what the fakes saw."""
    fake_ecs.set_config(clusters=["poky-cluster", "batch"], progression=FOREVER,
                        task_definitions={"poky-task-definition": {
                            "containers": ["poky"], "logConfiguration": {
                                "logDriver": "awslogs", "options": {
                                    "awslogs-group": "/ecs/poky-worker",
                                    "awslogs-stream-prefix": "ecs"}}},
                            "batch-job": {}})
    fake_s3.set_config(buckets={"poky-in": ["data/in.txt"], "poky-out": []})
    d = pokyd_factory.new(TEMPLATES, env={"AWS_ENDPOINT_URL_LOGS": fake_logs.url})
    api = d.client()
    rec = api.submit("convert", PARAMS)
    wait_task(api, rec["id"], "running")        # DescribeTasks saw it start
    rec = api.get("/tasks/" + rec["id"]).json
    fake_logs.append(rec["ecs"]["log_group"], rec["ecs"]["log_stream"], ["hello"])
    assert api.get("/tasks/%s/logs" % rec["id"]).body == b"hello\n"
    assert api.delete("/tasks/" + rec["id"]).status == 202
    wait_task(api, rec["id"], "cancelled")
    calls = recorded(fake_ecs, fake_s3, fake_logs)
    return d, calls


def test_table_is_what_aws_authorizes(scenario):
    d, calls = scenario
    table = pokyd_print(d, "--print-iam-calls")
    assert (table["partition"], table["region"]) == ("aws", REGION)
    got = {}
    for row in table["calls"]:
        got.setdefault(row["operation"], set()).add(
            (row["action"], row["resource_type"], tuple(row["context_keys"]), row["when"]))
    assert got == EXPECTED
    # Every call pokyd made is in the table, and the table holds no call pokyd does not make.
    assert {op for op, _ in calls} == set(got)


def test_printed_policy_allows_every_call_pokyd_made(scenario):
    d, calls = scenario
    policy = pokyd_print(d, "--print-iam-policy")
    rows = pokyd_print(d, "--print-iam-calls")["calls"]
    by_op = {}
    for row in rows:
        if row["template"] == "convert":
            by_op.setdefault(row["operation"], []).append(row)
    requests = [rq for op, facts in calls for rq in requests_for(op, facts, by_op[op])]
    actions = {rq["action"] for rq in requests}
    assert actions == {"ecs:RunTask", "ecs:TagResource", "iam:PassRole", "ecs:DescribeTasks",
                       "ecs:StopTask", "s3:ListBucket", "s3:GetObject",
                       "ecs:DescribeTaskDefinition", "logs:GetLogEvents"}, actions
    results = simulate(policy, requests)
    bad = [(rq["what"], rq["context"], res) for rq, res in zip(requests, results)
           if res["result"] != "Allowed"]
    assert not bad, "denied under the printed policy:\n%s\n%s" % (
        "\n".join(map(repr, bad)), json.dumps(policy, indent=1))
    # The simulator knows each action, resource type and context key from its own copy of
    # the Service Authorization Reference: none dropped as not applying to the action.
    for rq, res in zip(requests, results):
        # An action without a resource type (Resource "*") has none to report.
        assert res.get("resourceType", "*") == rq["resource_type"], (rq["what"], res)
        assert res["ignoredContextKeys"] == [], (rq["what"], res)


def test_printed_policy_denies_the_neighbours(scenario):
    d, calls = scenario
    policy = pokyd_print(d, "--print-iam-policy")
    run = next(f for op, f in calls if op == "ecs:RunTask")
    task = run["task_arns"][0]
    poky_cluster, batch = ecs_arn("cluster", "poky-cluster"), ecs_arn("cluster", "batch")
    tid = task.rsplit("/", 1)[1]
    allowed = [
        ("RunTask of the other template, in its cluster", "ecs:RunTask",
         ecs_arn("task-definition", "batch-job:3"), {"ecs:cluster": batch}),
        ("TagResource on a new task in batch", "ecs:TagResource",
         ecs_arn("task", "batch/" + tid), {"ecs:CreateAction": "RunTask"}),
    ]
    denied = [
        ("RunTask of another family", "ecs:RunTask",
         ecs_arn("task-definition", "someone-else:1"), {"ecs:cluster": poky_cluster}),
        ("RunTask of another revision", "ecs:RunTask",
         ecs_arn("task-definition", "poky-task-definition:5"), {"ecs:cluster": poky_cluster}),
        ("RunTask in another cluster", "ecs:RunTask", run["task_definition_arn"],
         {"ecs:cluster": ecs_arn("cluster", "elsewhere")}),
        ("RunTask of convert's task definition in batch's cluster", "ecs:RunTask",
         run["task_definition_arn"], {"ecs:cluster": batch}),
        ("TagResource outside RunTask", "ecs:TagResource", task, {}),
        ("TagResource from another creating action", "ecs:TagResource", task,
         {"ecs:CreateAction": "StartTask"}),
        ("TagResource on a task definition", "ecs:TagResource", run["task_definition_arn"],
         {"ecs:CreateAction": "RunTask"}),
        ("StopTask in another cluster", "ecs:StopTask", ecs_arn("task", "elsewhere/" + tid),
         {"ecs:cluster": ecs_arn("cluster", "elsewhere")}),
        ("DescribeTasks in another cluster", "ecs:DescribeTasks",
         ecs_arn("task", "elsewhere/" + tid), {"ecs:cluster": ecs_arn("cluster", "elsewhere")}),
        ("GetObject on another bucket", "s3:GetObject", "arn:aws:s3:::someone-else/data/in.txt",
         {}),
        ("GetObject on the output bucket (no s3=object there)", "s3:GetObject",
         "arn:aws:s3:::poky-out/data/in.txt", {}),
        ("ListBucket on another bucket", "s3:ListBucket", "arn:aws:s3:::someone-else", {}),
        ("PutObject on a checked bucket", "s3:PutObject", "arn:aws:s3:::poky-in/x", {}),
        ("PassRole of another role", "iam:PassRole", "arn:aws:iam::%s:role/admin" % ACCOUNT,
         {"iam:PassedToService": "ecs-tasks.amazonaws.com"}),
        ("PassRole of the task role to another service", "iam:PassRole", TASK_ROLE,
         {"iam:PassedToService": "ec2.amazonaws.com"}),
        ("GetLogEvents in another log group", "logs:GetLogEvents",
         "arn:aws:logs:%s:%s:log-group:/aws/lambda/x:log-stream:y" % (REGION, ACCOUNT), {}),
        ("ListTasks (pokyd never calls it)", "ecs:ListTasks",
         ecs_arn("container-instance", "poky-cluster/x"), {"ecs:cluster": poky_cluster}),
    ]
    cases = allowed + denied
    results = simulate(policy, [{"action": a, "resource": r, "account": ACCOUNT, "context": c}
                                for _, a, r, c in cases])
    got = [(name, res["result"]) for (name, _, _, _), res in zip(cases, results)]
    want = [(name, "Allowed") for name, _, _, _ in allowed] + \
        [(name, "ImplicitlyDenied") for name, _, _, _ in denied]
    assert got == want


def test_readme_shows_the_policy_printed_for_the_example_config(bindir):
    """README's policy for config/pokyd.ini is what pokyd prints for it (region us-east-1)."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### pokyd's own permissions"):]
    block = section[section.index("```json\n") + 8:]
    shown = json.loads(block[:block.index("```")])
    env = {"PATH": "/usr/bin:/bin", "AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null",
           "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    p = subprocess.run([str(bindir / "pokyd"), "-c", str(ROOT / "config" / "pokyd.ini"),
                        "--print-iam-policy"], capture_output=True, text=True, env=env,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == shown
