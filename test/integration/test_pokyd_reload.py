"""pokyd across SIGHUP and restarts: templates and tokens reload atomically (a broken config is
logged and the old one kept), records survive a restart, and an ECS launch interrupted by a
crash is finished after it with the same clientToken (one task on ECS, not two).
"""
import contextlib
import copy
import http.client
import signal
import threading

import pytest

pytest.register_assert_rewrite("pokyd")
from pokyd import ecs_template, hash_token_line, local_template, wait_for, wait_task  # noqa: E402

pytest_plugins = ["pokyd"]      # fixtures: fake_ecs, fake_s3, pokyd_factory, openapi ...

A, B = "token-a-0123456789abcdef", "token-b-0123456789abcdef"


def test_sighup_adds_a_template(pokyd_factory):
    d = pokyd_factory.new({"t": local_template("/bin/true")})
    api = d.client()
    assert api.get("/templates/new").status == 404
    sections = copy.deepcopy(d.sections)
    sections["template.new"] = local_template("/bin/true")
    d.write_config(sections)
    assert d.reload() == "reloaded"
    assert d.log().count("reloaded %s" % d.config_path) == 1
    assert api.get("/templates/new").status == 200
    assert [t["name"] for t in api.get("/templates").json["templates"]] == ["t", "new"]
    rec = api.submit("new")
    wait_task(api, rec["id"], "succeeded")


def test_sighup_with_a_broken_config_keeps_the_old_one(pokyd_factory):
    d = pokyd_factory.new({"t": local_template("/bin/true")})
    api = d.client()
    good = copy.deepcopy(d.sections)
    broken = copy.deepcopy(good)
    broken["template.new"] = local_template("/bin/true", colour="blue")
    d.write_config(broken)
    assert d.reload() == "failed"
    d.wait_log(r"reload failed, keeping the old configuration: %s: \[template.new\] colour: "
               r"unknown key" % d.config_path)
    assert api.get("/templates/new").status == 404
    rec = api.submit("t")
    wait_task(api, rec["id"], "succeeded")
    # Still alive to SIGHUP after the failure.
    d.write_config(good)
    assert d.reload() == "reloaded"
    assert d.client().get("/healthz").status == 200


def test_sighup_reloads_tokens(pokyd_factory, tmp_path):
    d = pokyd_factory.new({"t": local_template("/bin/true")}, tokens={"a": A})
    assert d.client(token=A).get("/templates").status == 200
    assert d.client(token=B).get("/templates").status == 401
    tokens = d.workdir / "tokens"
    tokens.write_text(hash_token_line("b", B) + "\n")
    assert d.reload() == "reloaded"
    assert d.client(token=B).get("/templates").status == 200
    assert d.client(token=A).get("/templates").status == 401
    # A tokens file that no longer parses keeps the tokens that worked.
    tokens.write_text("b not-a-hash\n")
    assert d.reload() == "failed"
    assert d.client(token=B).get("/templates").status == 200


def test_sighup_while_requests_run(pokyd_factory):
    d = pokyd_factory.new({"t": local_template("/bin/true")})
    stop = threading.Event()
    errors = []

    def hammer():
        c = d.client()
        while not stop.is_set():
            r = c.get("/templates")
            if r.status != 200:
                errors.append(r)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(5):
            sections = copy.deepcopy(d.sections)
            sections["template.extra%d" % i] = local_template("/bin/true")
            d.write_config(sections)
            assert d.reload() == "reloaded"
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors
    assert len(d.client().get("/templates").json["templates"]) == 6


def test_restart_keeps_records(pokyd_factory):
    d = pokyd_factory.new({"t": local_template("/bin/true"), "f": local_template("/bin/false")})
    api = d.client()
    ok = api.submit("t", headers={"Idempotency-Key": "keep-me"})
    bad = api.submit("f")
    wait_task(api, ok["id"], "succeeded")
    wait_task(api, bad["id"], "failed")
    before = {i: api.get("/tasks/" + i).json for i in (ok["id"], bad["id"])}
    d.restart()
    api = d.client()
    for i, rec in before.items():
        assert api.get("/tasks/" + i).json == rec
    listed = [t["id"] for t in api.get("/tasks").json["tasks"]]
    assert listed == [bad["id"], ok["id"]]
    # The idempotency key outlives the restart too.
    r = api.post("/tasks", {"template": "t"}, headers={"Idempotency-Key": "keep-me"})
    assert r.status == 200 and r.json["id"] == ok["id"]


def test_sigint_stops_cleanly_too(pokyd_factory):
    d = pokyd_factory.new({"t": local_template("/bin/true")})
    d.send(signal.SIGINT)
    assert d.proc.wait(20) == 0
    d.proc = None
    d.start()


def test_ecs_tasks_are_tracked_after_a_restart(pokyd_factory, fake_ecs):
    fake_ecs.set_config(progression=[["PENDING", 0.05], ["RUNNING", 0.1]])
    d = pokyd_factory.new({"job": ecs_template()})
    api = d.client()
    rec = api.submit("job", {"source_bucket": "a", "source_key": "b", "output_bucket": "c"})
    rec = wait_task(api, rec["id"], "running")
    d.stop()
    fake_ecs.steer(rec["ecs"]["task_arn"], lastStatus="STOPPED", exitCode=3)
    d.start()
    done = wait_task(d.client(), rec["id"], "failed")
    assert done["exit_code"] == 3 and done["reason"] == "exited with status 3"


def test_launch_interrupted_by_a_crash_is_finished_once(pokyd_factory, fake_ecs):
    """pokyd dies (SIGKILL) while RunTask is in flight; ECS starts the task anyway.  After the
    restart the record, durable before the launch, is finished with the same clientToken and
    body: ECS answers with the task it started, and nothing starts twice."""
    d = pokyd_factory.new({"job": ecs_template()})
    api = d.client()
    fake_ecs.faults("RunTask", [{"delay": 1.5}])
    params = {"source_bucket": "a", "source_key": "b", "output_bucket": "c"}

    def post():
        with contextlib.suppress(OSError, http.client.HTTPException):
            api.post("/tasks", {"template": "job", "parameters": params}, check=False,
                     timeout=10)

    t = threading.Thread(target=post)
    t.start()
    wait_for(lambda: fake_ecs.calls("RunTask"), what="RunTask in flight")
    d.kill()
    t.join()
    wait_for(lambda: fake_ecs.launches()["total_tasks_created"] == 1, what="ECS launch")
    d.start()
    api = d.client()
    tasks = api.get("/tasks").json["tasks"]
    assert len(tasks) == 1
    rec = tasks[0]
    done = wait_task(api, rec["id"], "succeeded")
    assert done["ecs"]["task_arn"] == fake_ecs.tasks()[0]["taskArn"]
    assert fake_ecs.launches()["by_client_token"] == {rec["id"]: 1}
    d.wait_log(r"task %s: launched \(arn:" % rec["id"])


def test_sigterm_drains_a_request_in_flight(pokyd_factory, fake_ecs):
    """SIGTERM while a POST waits on ECS: the request still gets its answer, then pokyd exits
    0 (Pokyd.stop checks the status and the sanitizer log)."""
    d = pokyd_factory.new({"job": ecs_template()})
    api = d.client()
    fake_ecs.faults("RunTask", [{"delay": 1.0}])
    result = {}

    def post():
        result["r"] = api.post("/tasks", {"template": "job", "parameters": {
            "source_bucket": "a", "source_key": "b", "output_bucket": "c"}}, timeout=20)

    t = threading.Thread(target=post)
    t.start()
    wait_for(lambda: fake_ecs.calls("RunTask"), what="RunTask in flight")
    d.send(signal.SIGTERM)
    t.join(20)
    assert result["r"].status == 202, result["r"]
    assert d.proc.wait(20) == 0
    d.stop()                            # the exit status and sanitizer checks
    assert "signal 15: draining requests and stopping" in d.log()
    assert "still in flight" not in d.log()
