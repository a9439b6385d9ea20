"""The ECS client (src/aws/ecs.c over awsreq.c) against the botocore-judged fake ECS.

Driven through test/tools/ecsctl.c. What is checked: every body the client sends is
accepted by the ECS service model and every signature by botocore; retries keep the
clientToken so ECS launches exactly once; throttling and 5xx are retried, client errors
are not; clock skew is corrected from the Date header; RunTask failures[] is an error.
"""
import json
import os
import subprocess
import sys
import urllib.request

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "test" / "fakes"))
import common  # noqa: E402
import fake_ecs  # noqa: E402

AK, SK = "AKIDPOKYTEST", "pokySecretKey"


@pytest.fixture(scope="module")
def ecs():
    server, _thread, port = fake_ecs.start(port=0)
    yield f"http://127.0.0.1:{port}"
    common.stop(server)


@pytest.fixture(autouse=True)
def reset(ecs):
    ctl(ecs, "reset", {})


def ctl(base, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{base}/_fake/{path}", data=data,
                                 method="POST" if data is not None else "GET",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")


def env_for(base, **extra):
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent",
           "AWS_ACCESS_KEY_ID": AK, "AWS_SECRET_ACCESS_KEY": SK,
           "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_ECS": base,
           "AWS_EC2_METADATA_DISABLED": "true", "POKY_RETRY_BASE_MS": "5",
           "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}
    env.update({k: v for k, v in extra.items() if v is not None})
    return env


def run(tooldir, args, env, ok=True):
    p = subprocess.run([str(tooldir / "ecsctl")] + args, env=env, capture_output=True,
                       text=True, timeout=60)
    out = json.loads(p.stdout) if p.stdout.strip() else None
    if ok:
        assert p.returncode == 0, (p.stdout, p.stderr)
    else:
        assert p.returncode == 1, (p.stdout, p.stderr)
    assert "==ERROR" not in p.stderr and "runtime error" not in p.stderr, p.stderr
    return out


RUN = ["run-task", "--cluster", "poky-cluster", "--task-definition",
       "poky-task-definition:4", "--launch-type", "FARGATE", "--subnet", "subnet-1",
       "--public-ip", "ENABLED", "--container", "poky",
       "--env", "SOURCE_BUCKET=in", "--env", "SOURCE_KEY=a b/ü+.txt",
       "--env", "OUTPUT_BUCKET=out"]


def test_run_task_accepted_by_model_and_signature(ecs, tooldir):
    out = run(tooldir, RUN + ["--client-token", "tok-1", "--started-by", "poky",
                              "--tag", "poky:task-id=abc"], env_for(ecs))
    assert out["task"]["taskArn"].startswith("arn:aws:ecs:us-east-1:")
    calls = ctl(ecs, "calls?op=RunTask")
    assert len(calls) == 1 and calls[0]["signature_ok"] is True and calls[0]["status"] == 200
    env = out["raw"]["tasks"][0]["overrides"]["containerOverrides"][0]["environment"]
    assert [e["name"] for e in env] == ["SOURCE_BUCKET", "SOURCE_KEY", "OUTPUT_BUCKET"]
    assert env[1]["value"] == "a b/ü+.txt"


def test_retries_after_5xx_keep_the_client_token_and_launch_once(ecs, tooldir):
    ctl(ecs, "faults", {"op": "RunTask", "faults": [{"status": 500}, {"status": 503}]})
    out = run(tooldir, RUN + ["--client-token", "tok-retry"], env_for(ecs))
    calls = ctl(ecs, "calls?op=RunTask")
    assert len(calls) == 3
    assert {c["body"]["clientToken"] for c in calls} == {"tok-retry"}
    launches = ctl(ecs, "launches")
    assert launches["total_tasks_created"] == 1
    assert out["task"]["taskArn"]


def test_lost_response_retried_returns_the_same_task(ecs, tooldir):
    ctl(ecs, "faults", {"op": "RunTask", "faults": [
        {"after_processing": True, "reset": True}]})
    out = run(tooldir, RUN + ["--client-token", "tok-lost"], env_for(ecs))
    launches = ctl(ecs, "launches")
    assert launches["total_tasks_created"] == 1
    tasks = ctl(ecs, "tasks")
    assert [t["taskArn"] for t in tasks] == [out["task"]["taskArn"]]


def test_throttling_retried_until_attempts_run_out(ecs, tooldir):
    ctl(ecs, "faults", {"op": "RunTask", "faults": [
        {"status": 400, "type": "ThrottlingException", "message": "Rate exceeded"}] * 5})
    err = run(tooldir, RUN, env_for(ecs, AWS_MAX_ATTEMPTS="4"), ok=False)
    assert err["aws_code"] == "ThrottlingException"
    assert err["retryable"] is True and err["error"] == "transient error"
    assert len(ctl(ecs, "calls?op=RunTask")) == 4


@pytest.mark.parametrize("code", ["ClientException", "InvalidParameterException",
                                  "AccessDeniedException", "ClusterNotFoundException"])
def test_client_errors_are_not_retried(ecs, tooldir, code):
    ctl(ecs, "faults", {"op": "RunTask", "faults": [
        {"status": 400, "type": code, "message": "no"}]})
    err = run(tooldir, RUN, env_for(ecs), ok=False)
    assert err["aws_code"] == code and err["retryable"] is False
    assert err["http_status"] == 400
    assert len(ctl(ecs, "calls?op=RunTask")) == 1


def test_namespaced_error_type_and_capital_message(ecs, tooldir):
    ctl(ecs, "config", {"error_type_prefix": "com.amazonaws.ecs#",
                        "error_message_key": "Message"})
    err = run(tooldir, ["run-task", "--cluster", "nope", "--task-definition", "td:1",
                        "--launch-type", "FARGATE", "--subnet", "s"], env_for(ecs), ok=False)
    assert err["aws_code"] == "ClusterNotFoundException"
    assert err["message"]


def test_connection_reset_is_retried(ecs, tooldir):
    ctl(ecs, "faults", {"op": "RunTask", "faults": [{"reset": "rst"}]})
    run(tooldir, RUN + ["--client-token", "tok-rst"], env_for(ecs))
    assert ctl(ecs, "launches")["total_tasks_created"] == 1


def test_clock_skew_corrected_from_date_header(ecs, tooldir):
    ctl(ecs, "config", {"clock_skew_seconds": 3600})
    run(tooldir, RUN, env_for(ecs))
    calls = ctl(ecs, "calls?op=RunTask")
    assert len(calls) == 2
    assert calls[0]["status"] == 400 and "expired" in (calls[0]["auth_error"] or "").lower()
    assert calls[1]["status"] == 200 and calls[1]["signature_ok"] is True


def test_wrong_secret_rejected_by_botocore_and_not_retried(ecs, tooldir):
    err = run(tooldir, RUN, env_for(ecs, AWS_SECRET_ACCESS_KEY="wrong"), ok=False)
    assert err["aws_code"] == "InvalidSignatureException"
    assert len(ctl(ecs, "calls?op=RunTask")) == 1
    assert "wrong" not in json.dumps(err)


def test_run_task_failures_are_an_error_with_the_reason(ecs, tooldir):
    ctl(ecs, "config", {"run_failures": [{"reason": "RESOURCE:MEMORY"}]})
    err = run(tooldir, RUN, env_for(ecs), ok=False)
    assert err["aws_code"] == "RunTaskFailure"
    assert "RESOURCE:MEMORY" in err["message"]


def test_capacity_provider_strategy_and_spot_failure(ecs, tooldir):
    ctl(ecs, "config", {"capacity_unavailable": ["FARGATE_SPOT"]})
    args = [a for a in RUN if a not in ("--launch-type", "FARGATE")]
    err = run(tooldir, args + ["--capacity-provider", "FARGATE_SPOT"], env_for(ecs),
              ok=False)
    assert "Capacity is unavailable" in err["message"] and err["retryable"] is True
    out = run(tooldir, args + ["--capacity-provider", "FARGATE"], env_for(ecs))
    assert out["task"]["capacityProvider"] == "FARGATE"


def test_describe_batches_of_100_and_missing_tasks(ecs, tooldir):
    arns = []
    for i in range(3):
        arns.append(run(tooldir, RUN, env_for(ecs))["task"]["taskArn"])
    bogus = [f"arn:aws:ecs:us-east-1:123456789012:task/poky-cluster/{i:032x}"
             for i in range(150)]
    out = run(tooldir, ["describe-tasks", "--cluster", "poky-cluster"] + arns + bogus,
              env_for(ecs))
    assert len(out) == 153
    assert [t["missing"] for t in out[:3]] == [False] * 3
    assert all(t["missing"] and t["lastStatus"] == "MISSING" for t in out[3:])
    calls = ctl(ecs, "calls?op=DescribeTasks")
    assert [len(c["body"]["tasks"]) for c in calls] == [100, 53]
    assert all(c["signature_ok"] for c in calls)


def test_stop_task_sends_the_reason(ecs, tooldir):
    arn = run(tooldir, RUN, env_for(ecs))["task"]["taskArn"]
    out = run(tooldir, ["stop-task", "--cluster", "poky-cluster", "--reason",
                        "cancelled by alice", arn], env_for(ecs))
    assert out["taskArn"] == arn
    stops = ctl(ecs, "stops")
    assert stops[-1]["reason"] == "cancelled by alice"


def test_list_tasks_pages_through_every_task(ecs, tooldir):
    for _ in range(3):
        run(tooldir, RUN + ["--started-by", "lister"], env_for(ecs))
    out = run(tooldir, ["list-tasks", "--cluster", "poky-cluster", "--started-by", "lister"],
              env_for(ecs))
    assert len(out) == 3


@pytest.mark.parametrize("extra,want,custom", [
    ({}, "https://ecs.eu-west-1.amazonaws.com", False),
    ({"AWS_ENDPOINT_URL": "http://127.0.0.1:1"}, "http://127.0.0.1:1", True),
    ({"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_ENDPOINT_URL_ECS": "https://e.example:8443/p/"},
     "https://e.example:8443/p", True),
    ({"AWS_ENDPOINT_URL_ECS": "https://e.example:443", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"},
     "https://ecs.eu-west-1.amazonaws.com", False),
    ({"AWS_ENDPOINT_URL_ECS": "https://e.example:443"}, "https://e.example", True),
    ({"AWS_REGION": "cn-north-1"}, "https://ecs.cn-north-1.amazonaws.com.cn", False),
])
def test_endpoint_resolution_order(tooldir, extra, want, custom):
    env = env_for("x", AWS_REGION="eu-west-1")
    del env["AWS_ENDPOINT_URL_ECS"]
    env.update(extra)
    out = run(tooldir, ["endpoint", "ecs"], env)
    assert out["endpoint"] == want and out["custom"] is custom


def test_bad_endpoint_url_is_a_clear_error(tooldir):
    err = run(tooldir, ["endpoint", "ecs"], env_for("ftp://nope"), ok=False)
    assert "http://" in err["message"]
