"""ECS tasks give something back (issue 15, item 4): the record names the task's CloudWatch log
group and stream (from the task definition's awslogs options, read once with
DescribeTaskDefinition, or from the template's log_group / log_stream_prefix), GET
/tasks/{id}/logs reads the stream with GetLogEvents (paged, against the fake CloudWatch Logs:
botocore checks every signature and body), the worker's JSON line becomes the record's result
for ECS and local tasks, and every task gets POKY_TASK_ID.
"""
import json

import pytest

pytest.register_assert_rewrite("pokyd")
from pokyd import ecs_template, local_template, wait_task  # noqa: E402

pytest_plugins = ["pokyd"]      # fixtures: fake_ecs, fake_logs, pokyd_factory ...

PARAMS = {"source_bucket": "test-poky-input", "source_key": "test_file.txt",
          "output_bucket": "test-poky-output"}
FOREVER = [["PENDING", 0.05], ["RUNNING", 0.1]]          # runs until stopped
GROUP = "/ecs/poky-worker"
AWSLOGS = {"logDriver": "awslogs", "options": {"awslogs-group": GROUP,
                                               "awslogs-region": "us-east-1",
                                               "awslogs-stream-prefix": "ecs"}}
RESULT = {"status": "succeeded", "destination": {"bucket": "test-poky-output",
                                                 "key": "test_file.20240101.txt"}}


def start(pokyd_factory, fake_ecs, fake_logs, templates=None):
    fake_ecs.set_config(progression=FOREVER, task_definitions={
        "poky-task-definition": {"containers": ["sidecar", "poky"],
                                 "logConfiguration": AWSLOGS}})
    d = pokyd_factory.new(templates or {"job": ecs_template()},
                          env={"AWS_ENDPOINT_URL_LOGS": fake_logs.url})
    d.launch_wait = 30
    return d, d.client()


def test_log_names_from_the_task_definition_and_logs_paged(pokyd_factory, fake_ecs, fake_logs):
    d, api = start(pokyd_factory, fake_ecs, fake_logs)
    rec = api.submit("job", PARAMS)
    task_id = rec["ecs"]["task_arn"].rsplit("/", 1)[1]
    stream = "ecs/poky/" + task_id                      # PREFIX/CONTAINER/ECS_TASK_ID
    assert rec["ecs"]["log_group"] == GROUP and rec["ecs"]["log_stream"] == stream
    # The task definition is read once, whatever the number of launches.
    rec2 = api.submit("job", PARAMS)
    assert rec2["ecs"]["log_group"] == GROUP
    described = fake_ecs.calls("DescribeTaskDefinition")
    assert len(described) == 1 and described[0]["status"] == 200
    assert described[0]["body"] == {"taskDefinition": fake_ecs.tasks()[0]["taskDefinitionArn"]}

    # No stream yet (the container has not logged): empty, not an error.
    r = api.get("/tasks/%s/logs" % rec["id"])
    assert r.status == 200 and r.body == b""

    lines = ["line %03d" % i for i in range(25)]
    fake_logs.set_config(page_size=4)
    fake_logs.append(GROUP, stream, lines)
    r = api.get("/tasks/%s/logs" % rec["id"])
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("text/plain")
    assert r.body.decode() == "".join(x + "\n" for x in lines)
    calls = fake_logs.calls("GetLogEvents")
    # 25 events, 4 a page: 7 pages, then the page that gives the token back.
    assert len(calls) == 1 + 8, [c["body"] for c in calls]
    assert all(c["body"]["logGroupName"] == GROUP and c["body"]["logStreamName"] == stream
               and c["body"]["startFromHead"] is True for c in calls[1:])
    assert "nextToken" not in calls[1]["body"]
    # Forward tokens followed until one comes back unchanged (f/25: the end).
    assert [c["body"].get("nextToken") for c in calls[1:]] == \
        [None] + ["f/%056d" % n for n in (4, 8, 12, 16, 20, 24, 25)]


def test_result_and_task_id_of_an_ecs_task(pokyd_factory, fake_ecs, fake_logs):
    d, api = start(pokyd_factory, fake_ecs, fake_logs)
    rec = api.submit("job", PARAMS)
    env = fake_ecs.calls("RunTask")[0]["body"]["overrides"]["containerOverrides"][0]
    assert {"name": "POKY_TASK_ID", "value": rec["id"]} in env["environment"]
    wait_task(api, rec["id"], "running")
    stream = rec["ecs"]["log_stream"]
    fake_logs.append(GROUP, stream, ["copying...", "{not json", json.dumps(RESULT),
                                     "worker: done"])
    fake_ecs.steer(rec["ecs"]["task_arn"], lastStatus="STOPPED", exitCode=0)
    done = wait_task(api, rec["id"], "succeeded")
    assert done["result"] == RESULT
    tail = [c for c in fake_logs.calls("GetLogEvents") if c["body"]["startFromHead"] is False]
    assert len(tail) == 1 and tail[0]["body"]["limit"] <= 100


def test_log_names_from_the_template_need_no_describe(pokyd_factory, fake_ecs, fake_logs):
    d, api = start(pokyd_factory, fake_ecs, fake_logs, {"job": ecs_template(
        log_group="/poky/stack", log_stream_prefix="poky")})
    rec = api.submit("job", PARAMS)
    task_id = rec["ecs"]["task_arn"].rsplit("/", 1)[1]
    assert rec["ecs"]["log_group"] == "/poky/stack"
    assert rec["ecs"]["log_stream"] == "poky/poky/" + task_id
    assert fake_ecs.calls("DescribeTaskDefinition") == []


def test_unknown_log_names_are_404_not_501(pokyd_factory, fake_ecs, fake_logs):
    fake_ecs_cfg = {"poky-task-definition": {"containers": ["poky"]}}     # no awslogs
    d = pokyd_factory.new({"job": ecs_template()}, env={"AWS_ENDPOINT_URL_LOGS": fake_logs.url})
    fake_ecs.set_config(progression=FOREVER, task_definitions=fake_ecs_cfg)
    d.launch_wait = 30
    api = d.client()
    rec = api.submit("job", PARAMS)
    assert rec["ecs"]["log_group"] is None and rec["ecs"]["log_stream"] is None
    r = api.get("/tasks/%s/logs" % rec["id"])
    assert r.status == 404 and "log_group" in r.json["detail"]


def test_local_result_line_and_task_id(pokyd_factory, tmp_path):
    script = tmp_path / "job.sh"
    script.write_text('#!/bin/sh\necho "starting $POKY_TASK_ID"\n'
                      'echo \'{"early": true}\'\n'
                      'echo "{\\"task\\": \\"$POKY_TASK_ID\\", \\"n\\": 1}"\n'
                      'echo "bye" >&2\n')
    script.chmod(0o755)
    d = pokyd_factory.new({"sh": local_template(str(script))})
    api = d.client()
    rec = api.submit("sh", {})
    done = wait_task(api, rec["id"], "succeeded")
    assert done["result"] == {"task": rec["id"], "n": 1}
    r = api.get("/tasks/%s/logs" % rec["id"])
    assert ("starting %s\n" % rec["id"]).encode() in r.body


def test_local_result_too_large_is_not_stored(pokyd_factory, tmp_path):
    script = tmp_path / "big.sh"
    script.write_text('#!/bin/sh\necho \'{"small": 1}\'\n'
                      'printf \'{"big": "%s"}\\n\' "$(head -c 20000 /dev/zero | tr "\\0" x)"\n')
    script.chmod(0o755)
    d = pokyd_factory.new({"sh": local_template(str(script))})
    api = d.client()
    rec = api.submit("sh", {})
    done = wait_task(api, rec["id"], "succeeded")
    assert done["result"] is None
