"""pokyd with the ECS launcher against the fake ECS (botocore checks every signature and every
request body against the ECS model): launches, tracking to the end, cancel, timeout, upstream
failures, idempotency, concurrency, and auth (this module's daemon requires tokens).
"""
import collections
import threading
import time
import uuid

import pytest

pytest.register_assert_rewrite("pokyd")
from pokyd import ecs_template, module_factory, parse_metrics, wait_for, wait_task  # noqa: E402

pytest_plugins = ["pokyd"]      # fixtures: fake_ecs, fake_s3, pokyd_factory, openapi ...

ALICE, BOB = "alice-token-0123456789abcdef", "bob-token-fedcba9876543210"
PARAMS = {"source_bucket": "test-poky-input", "source_key": "test_file.txt",
          "output_bucket": "test-poky-output"}
FOREVER = [["PENDING", 0.05], ["RUNNING", 0.1]]          # runs until stopped


@pytest.fixture(scope="module")
def daemon(bindir, tmp_path_factory, fake_ecs_server, fake_s3_server):
    f = module_factory(bindir, tmp_path_factory, fake_ecs_server, fake_s3_server, "ecs")
    d = f.new({
        "job": ecs_template(),
        "spot": ecs_template(launch_type=None, capacity_providers="FARGATE_SPOT, FARGATE"),
    }, tokens={"alice": ALICE, "bob": BOB}, server={"threads": 8})
    # These tests look at what RunTask was sent and answered: each submit waits for its
    # launch (test_launchq.py covers answering while the task is still queued).
    d.launch_wait = 30
    yield d
    f.close()


@pytest.fixture
def api(daemon):
    return daemon.client(token=ALICE)


def run_task_calls(fake):
    return [c for c in fake.calls("RunTask") if c["status"] == 200]


# --------------------------------------------------------------------------- launching

def test_post_launches_one_runtask_with_the_environment(api, fake_ecs):
    rec = api.submit("job", PARAMS)
    assert rec["launcher"] == "ecs" and rec["status"] == "starting"
    calls = fake_ecs.calls("RunTask")
    assert len(calls) == 1 and calls[0]["signature_ok"] is True
    body = calls[0]["body"]
    assert body["cluster"] == "poky-cluster"
    assert body["taskDefinition"] == "poky-task-definition:4"
    assert body["launchType"] == "FARGATE"
    assert body["count"] == 1
    assert body["startedBy"] == "poky"
    assert body["clientToken"] == rec["id"]
    vpc = body["networkConfiguration"]["awsvpcConfiguration"]
    assert vpc["subnets"] == ["subnet-0ce2fa0212d96fa7b", "subnet-0dffaf4fdefae3cd6"]
    assert vpc["assignPublicIp"] == "ENABLED"
    co = body["overrides"]["containerOverrides"]
    assert co == [{"name": "poky", "environment": [
        {"name": "SOURCE_BUCKET", "value": "test-poky-input"},
        {"name": "SOURCE_KEY", "value": "test_file.txt"},
        {"name": "OUTPUT_BUCKET", "value": "test-poky-output"},
        {"name": "DELETE_SOURCE", "value": "false"},
        {"name": "AWS_REGION", "value": "us-east-1"},
        {"name": "POKY_TASK_ID", "value": rec["id"]}]}]
    assert {"key": "poky:task-id", "value": rec["id"]} in body["tags"]
    fake_task = fake_ecs.tasks()[0]
    assert rec["ecs"]["task_arn"] == fake_task["taskArn"]
    assert rec["ecs"]["cluster"] == "poky-cluster"
    assert rec["ecs"]["last_status"] == "PROVISIONING"


def test_task_is_tracked_to_succeeded(api, fake_ecs):
    rec = api.submit("job", PARAMS)
    done = wait_task(api, rec["id"], "succeeded")
    assert done["exit_code"] == 0 and done["reason"] is None
    assert done["ecs"]["last_status"] == "STOPPED"
    assert done["ecs"]["stop_code"] == "EssentialContainerExited"
    assert done["ecs"]["stopped_reason"] == "Essential container in task exited"
    assert done["started_at"] and done["finished_at"]
    assert done["started_at"] <= done["finished_at"]
    # One DescribeTasks call covers every task of a cluster.
    assert fake_ecs.calls("DescribeTasks")
    assert len(run_task_calls(fake_ecs)) == 1


def test_running_is_seen_before_the_end(api, fake_ecs):
    fake_ecs.set_config(progression=FOREVER)
    rec = api.submit("job", PARAMS)
    run = wait_task(api, rec["id"], "running")
    assert run["ecs"]["last_status"] == "RUNNING" and run["started_at"]
    fake_ecs.steer(run["ecs"]["task_arn"], lastStatus="STOPPED", exitCode=0)
    wait_task(api, rec["id"], "succeeded")


def test_exit_code_1_is_failed(api, fake_ecs):
    fake_ecs.set_config(exit_code=1)
    rec = api.submit("job", PARAMS)
    done = wait_task(api, rec["id"], "failed")
    assert done["exit_code"] == 1
    assert done["reason"] == "exited with status 1"


def test_task_that_never_ran_is_failed_without_exit_code(api, fake_ecs):
    fake_ecs.set_config(progression=[["STOPPED", 0.1]], stop_code="TaskFailedToStart",
                        stopped_reason="CannotPullContainerError: pull access denied")
    rec = api.submit("job", PARAMS)
    done = wait_task(api, rec["id"], "failed")
    assert done["exit_code"] is None
    assert done["reason"] == ("task failed to start: CannotPullContainerError: pull access "
                              "denied")
    assert done["ecs"]["stop_code"] == "TaskFailedToStart"


def test_task_ecs_forgets_is_lost(api, fake_ecs):
    fake_ecs.set_config(progression=FOREVER)
    rec = api.submit("job", PARAMS)
    wait_task(api, rec["id"], "running")
    fake_ecs.steer(rec["ecs"]["task_arn"], forget=True)
    done = wait_task(api, rec["id"], "lost")
    assert done["reason"] == "ECS no longer knows this task"
    assert done["finished_at"]


def test_delete_stops_the_task_with_a_reason_naming_the_token(daemon, fake_ecs):
    fake_ecs.set_config(progression=FOREVER)
    rec = daemon.client(token=ALICE).submit("job", PARAMS)
    bob = daemon.client(token=BOB)
    wait_task(bob, rec["id"], "running")
    r = bob.delete("/tasks/" + rec["id"])
    assert r.status == 202, r
    stops = fake_ecs.stops()
    assert [(s["taskArn"], s["reason"]) for s in stops] == [
        (rec["ecs"]["task_arn"], "cancelled through the Poky API by bob")]
    done = wait_task(bob, rec["id"], "cancelled")
    assert done["reason"] == "cancelled through the Poky API by bob"
    assert done["exit_code"] == 143           # SIGTERM reached the container
    r = bob.delete("/tasks/" + rec["id"])
    assert r.status == 409, r
    assert len(fake_ecs.stops()) == 1


def test_delete_while_still_starting_is_cancelled(api, fake_ecs):
    fake_ecs.set_config(progression=[["PENDING", 30]])
    rec = api.submit("job", PARAMS)
    assert api.delete("/tasks/" + rec["id"]).status == 202
    done = wait_task(api, rec["id"], "cancelled")
    assert done["exit_code"] is None
    assert done["reason"] == "cancelled through the Poky API by alice"


def test_delete_racing_the_tracker_always_cancels(api, fake_ecs):
    """DELETEs land while the tracker moves records (starting -> running): every one is
    accepted and every task ends cancelled, none stopped twice."""
    fake_ecs.set_config(progression=[["PENDING", 0.1], ["RUNNING", 0.3]])
    ids = [api.submit("job", PARAMS)["id"] for _ in range(8)]
    for n, i in enumerate(ids):
        time.sleep(0.06)
        r = api.delete("/tasks/" + i)
        assert r.status == 202, (n, r)
    for i in ids:
        assert wait_task(api, i, "cancelled")["reason"] == \
            "cancelled through the Poky API by alice"
    stops = collections.Counter(s["taskArn"] for s in fake_ecs.stops())
    assert len(stops) == 8 and set(stops.values()) == {1}


def test_delete_of_a_task_ecs_stops_at_once_is_cancelled_not_failed(api, fake_ecs):
    """ECS stops the task at once but StopTask's answer is slow: the tracker sees STOPPED
    before the DELETE has its answer.  The cancel was stored before StopTask went out, so
    the task ends cancelled (not failed) and the DELETE is accepted (not 409)."""
    fake_ecs.set_config(progression=FOREVER, stop_delay=0)
    rec = api.submit("job", PARAMS)
    wait_task(api, rec["id"], "running")
    fake_ecs.faults("StopTask", [{"delay_after": 1.5}])
    r = api.delete("/tasks/" + rec["id"])
    assert r.status == 202, r
    done = wait_task(api, rec["id"], "cancelled")
    assert done["reason"] == "cancelled through the Poky API by alice"
    assert len(fake_ecs.stops()) == 1


def test_delete_whose_stoptask_fails_leaves_the_task_uncancelled(api, fake_ecs):
    """StopTask refused: the DELETE fails, and the task, which goes on, ends as what it
    is (succeeded), not "cancelled" because of a request ECS never took."""
    fake_ecs.set_config(progression=[["PENDING", 0.05], ["RUNNING", 0.1], ["STOPPED", 2.5]],
                        exit_code=0)
    rec = api.submit("job", PARAMS)
    wait_task(api, rec["id"], "running")
    fake_ecs.faults("StopTask", [{"status": 400, "type": "AccessDeniedException",
                                  "message": "not allowed"}])
    r = api.delete("/tasks/" + rec["id"])
    assert r.status >= 400, r
    got = api.get("/tasks/" + rec["id"]).json
    assert got["status"] == "running", got
    done = wait_task(api, rec["id"], "succeeded")
    assert done["reason"] is None, done


def test_delete_during_runtask_stops_the_task_exactly_once(api, fake_ecs):
    """A DELETE lands while RunTask is in flight, so it cancels a record that has no ARN yet:
    the launch then stops the task ECS started - once - and keeps its ids on the cancelled
    record, which is what its 202 shows."""
    fake_ecs.set_config(progression=FOREVER)
    fake_ecs.faults("RunTask", [{"delay": 1.0}])
    key = "race-" + uuid.uuid4().hex
    result = {}

    def post():
        result["r"] = api.post("/tasks", {"template": "job",
                                          "parameters": dict(PARAMS, source_key=key)},
                               timeout=30)

    t = threading.Thread(target=post)
    t.start()
    # Read only once RunTask is on its way: a connection accepted together with the POST's
    # may wait in the same server thread until the POST is answered.
    wait_for(lambda: fake_ecs.calls("RunTask"), what="RunTask in flight")

    def stored():
        for rec in api.get("/tasks?status=starting&limit=100").json["tasks"]:
            if rec["parameters"]["source_key"] == key:
                return rec
        return None
    rec = wait_for(stored, what="the record stored before RunTask")
    assert rec["ecs"]["task_arn"] is None
    r = api.delete("/tasks/" + rec["id"])
    assert r.status == 202, r
    t.join(30)
    assert not t.is_alive()
    posted = result["r"]
    assert posted.status == 202, posted
    arn = fake_ecs.tasks()[0]["taskArn"]
    assert posted.json["id"] == rec["id"]
    assert posted.json["status"] == "cancelled"
    assert posted.json["ecs"]["task_arn"] == arn
    time.sleep(0.6)                             # tracker rounds: nothing stops it again
    assert [(s["taskArn"], s["reason"]) for s in fake_ecs.stops()] == [
        (arn, "cancelled through the Poky API by alice")]
    got = api.get("/tasks/" + rec["id"]).json
    assert got["status"] == "cancelled" and got["ecs"]["task_arn"] == arn
    assert fake_ecs.launches()["total_tasks_created"] == 1


def test_reads_and_deletes_right_after_the_202_see_the_launch(daemon, fake_ecs):
    """The ids RunTask answered are stored after the 202 without waiting for the commit; a
    GET, a list or a DELETE sent after the 202 must still see them (read-your-writes), from
    16 clients at once.  Every DELETEd task is stopped exactly once."""
    # STOPPING for a while before STOPPED: a tracker round that sees STOPPED between a
    # DELETE's StopTask and its write of the cancel request ends the task "failed" (a race of
    # its own, not this test's subject).
    fake_ecs.set_config(progression=FOREVER, stop_delay=3)
    clients, rounds = 16, 6
    problems, deleted = [], []
    barrier = threading.Barrier(clients)

    def one(i):
        c = daemon.client(token=ALICE)
        barrier.wait()
        for k in range(rounds):
            r = c.post("/tasks", {"template": "job",
                                  "parameters": dict(PARAMS, source_key="ryw-%d-%d" % (i, k))})
            if r.status != 202:
                problems.append(("post", r))
                continue
            rec = r.json
            arn = rec["ecs"]["task_arn"]
            if not arn:
                problems.append(("202 without an ARN", rec))
            got = c.get("/tasks/" + rec["id"]).json
            if got["ecs"]["task_arn"] != arn:
                problems.append(("get", arn, got))
            if k % 3 == 1:
                listed = c.get("/tasks?limit=5").json["tasks"]
                mine = [t for t in listed if t["id"] == rec["id"]]
                if mine and mine[0]["ecs"]["task_arn"] != arn:
                    problems.append(("list", arn, mine[0]))
            if k % 2:
                d = c.delete("/tasks/" + rec["id"])
                if d.status != 202 or d.json["ecs"]["task_arn"] != arn:
                    problems.append(("delete", d))
                deleted.append(arn)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not problems, problems[:5]
    assert len(deleted) == clients * (rounds // 2)
    time.sleep(0.6)
    stops = collections.Counter(s["taskArn"] for s in fake_ecs.stops())
    assert set(stops) == set(deleted) and set(stops.values()) == {1}, stops


def test_stoptask_failure_is_an_upstream_error(api, fake_ecs):
    fake_ecs.set_config(progression=FOREVER)
    rec = api.submit("job", PARAMS)
    fake_ecs.faults("StopTask", [{"status": 400, "type": "AccessDeniedException",
                                  "message": "not allowed to stop"}])
    r = api.delete("/tasks/" + rec["id"])
    assert r.status == 502, r
    assert "not allowed to stop" in r.json["detail"]
    # Nothing was recorded: a second DELETE tries again.
    assert api.delete("/tasks/" + rec["id"]).status == 202
    wait_task(api, rec["id"], "cancelled")


def test_timeout_stops_the_task_and_fails_it(api, fake_ecs):
    fake_ecs.set_config(progression=FOREVER)
    rec = api.submit("job", PARAMS, timeout_seconds=1)
    assert rec["timeout_seconds"] == 1
    done = wait_task(api, rec["id"], "failed", timeout=15)
    assert done["reason"] == "timeout after 1 s"
    stops = fake_ecs.stops()
    assert [s["reason"] for s in stops] == ["timeout after 1 s"]
    assert stops[0]["taskArn"] == rec["ecs"]["task_arn"]


# --------------------------------------------------------------------------- upstream errors

def test_runtask_failures_are_502_naming_the_reason(api, fake_ecs):
    before = api.get("/tasks?template=job&limit=1000").json["tasks"]
    fake_ecs.set_config(run_failures=[{"reason": "RESOURCE:MEMORY",
                                       "arn": "arn:aws:ecs:us-east-1:123456789012:cluster/x"}])
    r = api.post("/tasks", {"template": "job", "parameters": PARAMS})
    assert r.status == 502, r
    assert "RESOURCE:MEMORY" in r.json["detail"]
    assert r.json["type"] == "urn:poky:problem:upstream"
    # The failed launch leaves no record behind.
    after = api.get("/tasks?template=job&limit=1000").json["tasks"]
    assert after == before


def test_throttling_that_outlasts_retries_keeps_the_task_queued(daemon, api, fake_ecs):
    """A launch ECS throttles past the retries is not an error any more (it was a 503): the
    task goes back to the head of its queue, the launch queue slows down, and the task is
    launched once ECS lets go - with the same clientToken, once."""
    fake_ecs.faults("RunTask", [{"status": 400, "type": "ThrottlingException",
                                 "message": "Rate exceeded"}] * 3)
    before = parse_metrics(api.get("/metrics").text)[0]
    r = api.post("/tasks", {"template": "job", "parameters": PARAMS})
    assert r.status == 202, r
    assert r.json["status"] == "starting" and r.json["ecs"]["task_arn"], r.json
    calls = fake_ecs.calls("RunTask")
    # Each throttled try goes back to the queue (no retry inside the call, which would
    # spend ECS's allowance again at once), and the fourth went through.
    assert [c["status"] for c in calls] == [400, 400, 400, 200]
    assert {c["body"]["clientToken"] for c in calls} == {r.json["id"]}
    assert fake_ecs.launches()["total_tasks_created"] == 1
    after = parse_metrics(api.get("/metrics").text)[0]
    key = ("poky_launch_throttled_total", (("template", "job"),))
    assert after.get(key, 0) - before.get(key, 0) == 3


def test_throttling_then_success_is_retried_inside_the_request(api, fake_ecs):
    fake_ecs.faults("RunTask", [{"status": 400, "type": "ThrottlingException"},
                                {"status": 500}])
    rec = api.submit("job", PARAMS)
    calls = fake_ecs.calls("RunTask")
    assert [c["status"] for c in calls] == [400, 500, 200]
    # Every retry carries the same clientToken: ECS can't start it twice.
    assert {c["body"]["clientToken"] for c in calls} == {rec["id"]}
    assert fake_ecs.launches()["total_tasks_created"] == 1


def test_lost_answer_is_retried_without_a_second_launch(api, fake_ecs):
    fake_ecs.faults("RunTask", [{"after_processing": True, "status": 503}])
    rec = api.submit("job", PARAMS)
    assert fake_ecs.launches()["total_tasks_created"] == 1
    assert len(fake_ecs.calls("RunTask")) == 2
    assert rec["ecs"]["task_arn"] == fake_ecs.tasks()[0]["taskArn"]


def test_capacity_providers_are_tried_in_order(api, fake_ecs):
    fake_ecs.set_config(capacity_unavailable=["FARGATE_SPOT"])
    rec = api.submit("spot", PARAMS)
    bodies = [c["body"] for c in fake_ecs.calls("RunTask")]
    assert [b["capacityProviderStrategy"][0]["capacityProvider"] for b in bodies] == [
        "FARGATE_SPOT", "FARGATE"]
    assert "launchType" not in bodies[0]
    assert bodies[0]["clientToken"] != bodies[1]["clientToken"]
    assert rec["ecs"]["capacity_provider"] == "FARGATE"


# --------------------------------------------------------------------------- idempotency

def test_idempotent_replay_returns_the_original_and_launches_once(api, fake_ecs):
    key = "order-%s" % uuid.uuid4()
    h = {"Idempotency-Key": key}
    first = api.post("/tasks", {"template": "job", "parameters": PARAMS}, headers=h)
    assert first.status == 202, first
    again = api.post("/tasks", {"template": "job", "parameters": PARAMS}, headers=h)
    assert again.status == 200, again
    assert again.json["id"] == first.json["id"]
    assert again.header("Location") == "/tasks/" + first.json["id"]
    other = dict(PARAMS, source_key="other.txt")
    conflict = api.post("/tasks", {"template": "job", "parameters": other}, headers=h)
    assert conflict.status == 409, conflict
    assert conflict.json["type"] == "urn:poky:problem:conflict"
    # ECS saw exactly one launch, under the record's clientToken.
    launches = fake_ecs.launches()
    assert launches["total_tasks_created"] == 1
    assert launches["by_client_token"] == {first.json["id"]: 1}
    assert [c["body"]["clientToken"] for c in fake_ecs.calls("RunTask")] == [first.json["id"]]


def test_unknown_launch_outcome_keeps_the_record_and_launches_once(api, fake_ecs):
    """5xx on every attempt: ECS may have started the task.  The record stays (202, launch
    pending), a retried POST with the key replays it, and the tracker finishes the launch
    with the same clientToken, so ECS starts one task."""
    key = "unknown-%s" % uuid.uuid4()
    h = {"Idempotency-Key": key}
    fake_ecs.faults("RunTask", [{"after_processing": True, "status": 500}] +
                    [{"status": 503}] * 2)
    r = api.post("/tasks", {"template": "job", "parameters": PARAMS}, headers=h)
    assert r.status == 202, r
    rec = r.json
    assert rec["status"] == "starting" and rec["ecs"]["task_arn"] is None
    assert rec["reason"].startswith("launch pending: ")
    again = api.post("/tasks", {"template": "job", "parameters": PARAMS}, headers=h)
    assert again.status == 200 and again.json["id"] == rec["id"]
    done = wait_task(api, rec["id"], "succeeded")
    assert done["reason"] is None
    assert done["ecs"]["task_arn"] == fake_ecs.tasks()[0]["taskArn"]
    assert fake_ecs.launches() == {"total_tasks_created": 1, "run_task_calls_creating_tasks": 1,
                                   "by_client_token": {rec["id"]: 1}}
    assert {c["body"]["clientToken"] for c in fake_ecs.calls("RunTask")} == {rec["id"]}


def test_idempotency_keys_belong_to_their_token(daemon, api, fake_ecs):
    h = {"Idempotency-Key": "shared-key-%s" % uuid.uuid4()}
    a = api.post("/tasks", {"template": "job", "parameters": PARAMS}, headers=h)
    b = daemon.client(token=BOB).post("/tasks", {"template": "job", "parameters": PARAMS},
                                      headers=h)
    assert a.status == 202 and b.status == 202
    assert a.json["id"] != b.json["id"]
    assert fake_ecs.launches()["total_tasks_created"] == 2


def test_key_of_a_failed_launch_can_be_retried(api, fake_ecs):
    """ECS started nothing (failures[]): the retry with the same key is a new try, with a new
    clientToken (ECS would answer a reused one with the old failure)."""
    h = {"Idempotency-Key": "retry-me-%s" % uuid.uuid4()}
    fake_ecs.set_config(run_failures=[{"reason": "AGENT"}])
    r = api.post("/tasks", {"template": "job", "parameters": PARAMS}, headers=h)
    assert r.status == 502, r
    assert "AGENT" in r.json["detail"]
    fake_ecs.set_config(run_failures=[])
    r = api.post("/tasks", {"template": "job", "parameters": PARAMS}, headers=h)
    assert r.status == 202, r
    tokens = [c["body"]["clientToken"] for c in fake_ecs.calls("RunTask")]
    assert len(tokens) == 2 and tokens[1] == r.json["id"] != tokens[0]
    assert fake_ecs.launches()["total_tasks_created"] == 1


# --------------------------------------------------------------------------- concurrency

def test_100_concurrent_clients_each_get_their_own_task(daemon, fake_ecs):
    n = 100
    results = [None] * n
    barrier = threading.Barrier(n)

    def one(i):
        c = daemon.client(token=ALICE if i % 2 else BOB)
        barrier.wait()
        results[i] = c.post("/tasks", {"template": "job",
                                       "parameters": dict(PARAMS, source_key="f%03d" % i)},
                            timeout=60)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    statuses = collections.Counter(r.status if r else None for r in results)
    assert statuses == {202: n}, [r for r in results if not r or r.status != 202][:3]
    ids = {r.json["id"] for r in results}
    assert len(ids) == n
    assert {r.json["parameters"]["source_key"] for r in results} == {"f%03d" % i
                                                                    for i in range(n)}
    launches = fake_ecs.launches()
    assert launches["total_tasks_created"] == n
    assert len(launches["by_client_token"]) == n
    # One RunTask per request: nothing else launched them a second time.
    assert len(fake_ecs.calls("RunTask")) == n
    arns = {r.json["ecs"]["task_arn"] for r in results}
    assert len(arns) == n
    for i in list(ids)[:5]:
        wait_task(daemon.client(token=ALICE), i, "succeeded", timeout=20)


# --------------------------------------------------------------------------- auth

def test_requests_without_a_valid_token_are_401(daemon):
    anon = daemon.client()
    for method, path in (("GET", "/tasks"), ("GET", "/templates"), ("GET", "/metrics"),
                         ("GET", "/openapi.json"), ("GET", "/tasks/%s" % uuid.uuid4()),
                         ("DELETE", "/tasks/%s" % uuid.uuid4()),
                         ("GET", "/tasks/%s/logs" % uuid.uuid4())):
        r = anon.request(method, path)
        assert r.status == 401, (method, path, r)
        assert r.header("WWW-Authenticate").startswith("Bearer")
        assert r.media_type == "application/problem+json"
    r = anon.post("/tasks", {"template": "job", "parameters": PARAMS})
    assert r.status == 401
    for bad in ("wrong-token-0123456789", ALICE + "x", ALICE[:-1], "", "Bearer"):
        r = anon.get("/templates", headers={"Authorization": "Bearer " + bad})
        assert r.status == 401, (bad, r)
    for header in ("Basic " + ALICE, ALICE, "bearer  " + ALICE):
        r = anon.get("/templates", headers={"Authorization": header})
        assert r.status == (200 if header.startswith("bearer") else 401), (header, r)


def test_healthz_and_readyz_need_no_token(daemon):
    anon = daemon.client()
    assert anon.get("/healthz").status == 200
    r = anon.get("/readyz")
    assert r.status == 200 and r.json["checks"]["credentials"] is True


def test_the_token_name_is_logged_never_the_token(daemon, api):
    r = api.get("/templates", headers={"X-Request-Id": "who-am-i"})
    assert r.status == 200
    daemon.wait_log(r"\[who-am-i\] GET /templates 200 [0-9]+B [0-9.]+ms 127\.0\.0\.1 \"[^\"]*\" alice")
    assert ALICE not in daemon.log() and BOB not in daemon.log()


def test_credentials_unavailable_is_503(pokyd_factory, fake_ecs):
    d = pokyd_factory.new({"job": ecs_template()},
                          env={"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None})
    d.launch_wait = 30
    api = d.client()
    r = api.post("/tasks", {"template": "job", "parameters": PARAMS})
    assert r.status == 503, r
    assert r.json["title"] == "AWS credentials unavailable"
    assert r.header("Retry-After")
    assert api.get("/tasks").json["tasks"] == []
    r = api.get("/readyz")
    assert r.status == 503, r
    assert r.json["status"] == "not ready"
    assert r.json["checks"]["credentials"] is False
    assert r.json["checks"]["credentials_error"]
    assert fake_ecs.calls("RunTask") == []
