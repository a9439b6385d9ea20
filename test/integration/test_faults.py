"""Upstream faults against the fake ECS (botocore-judged; it counts launches per clientToken):
throttling storms, 500/503 bursts, connection resets (FIN and RST), truncated and malformed
JSON, lost answers (the launch happened, the answer did not arrive), slow answers past pokyd's
AWS timeout, and a flaky DescribeTasks under the tracker.

Every storm checks the same contract:
  * each POST /tasks is answered within a bound (no hung worker thread), with 202 or a problem
    (502, or 503 with Retry-After);
  * every 202 record is tracked to its end (a "launch pending" record is launched by the
    tracker with the same clientToken);
  * ECS never started a task twice: launches per clientToken are all 1, every ECS task belongs
    to a record that got a 202, and the number of tasks equals the number of such records.
"""
import http.client
import json
import subprocess
import threading
import time

import pytest

pytest.register_assert_rewrite("pokyd")
from pokyd import (FINAL, PYTHON, FakeService, PokydFactory, ecs_template,  # noqa: E402
                   wait_for)

pytest_plugins = ["pokyd"]

PARAMS = {"source_bucket": "test-poky-input", "source_key": "test_file.txt",
          "output_bucket": "test-poky-output"}
REQUEST_BOUND = 15          # seconds any one POST may take under these (delay-free) faults
WAIT = 10                   # Prefer: wait=WAIT; a launch still queued then is answered 202


@pytest.fixture
def daemon(pokyd_factory, fake_ecs):
    fake_ecs.set_config(progression=[["PENDING", 0.05], ["RUNNING", 0.1], ["STOPPED", 0.3]])
    return pokyd_factory.new({"job": ecs_template()}, server={"threads": 8})


def post_task(port, timeout=REQUEST_BOUND + 5, wait=WAIT):
    body = json.dumps({"template": "job", "parameters": PARAMS}).encode()
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        # Prefer: wait - each answer is its launch's outcome (test_launchq.py storms the
        # queue without it).
        conn.request("POST", "/tasks", body=body, headers={"Content-Type": "application/json",
                                                           "Prefer": "wait=%d" % wait})
        r = conn.getresponse()
        data = r.read()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data, \
            time.monotonic() - t0
    finally:
        conn.close()


def storm(daemon, fake_ecs, n_requests, clients=16):
    """n_requests POST /tasks from `clients` threads; returns the answers."""
    answers, lock = [], threading.Lock()
    todo = list(range(n_requests))

    def run():
        while True:
            with lock:
                if not todo:
                    return
                todo.pop()
            a = post_task(daemon.port)
            with lock:
                answers.append(a)
    threads = [threading.Thread(target=run) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
        assert not t.is_alive(), "a client is stuck: pokyd hung a request"
    assert len(answers) == n_requests
    return answers


def check_answers(answers, allowed=(202, 502, 503)):
    accepted = []
    for status, headers, body, took in answers:
        assert took < REQUEST_BOUND, "a request took %.1fs" % took
        assert status in allowed, (status, body[:300])
        doc = json.loads(body)
        if status == 202:
            # starting: launched (or its outcome unknown: launch pending); queued: still
            # paced by the launch queue when the wait ran out; or already further on when a
            # launch pending was finished before the answer was made.
            assert doc["status"] in ("starting", "queued", "running") or \
                doc["status"] in FINAL, doc
            if doc["status"] == "starting" and doc["ecs"]["task_arn"] is None:
                assert doc["reason"].startswith("launch pending: "), doc
            accepted.append(doc)
        else:
            assert headers["content-type"].startswith("application/problem+json")
            assert doc["status"] == status and doc["detail"], doc
            if status == 503:
                assert int(headers["retry-after"]) >= 1, headers
    return accepted


def check_exactly_once(daemon, fake_ecs, accepted, timeout=60):
    api = daemon.client()
    ids = {a["id"] for a in accepted}
    assert len(ids) == len(accepted)

    def done():
        recs = {i: api.get("/tasks/" + i).json for i in ids}
        return (recs,) if all(r["status"] in FINAL for r in recs.values()) else None
    recs, = wait_for(done, timeout=timeout, interval=0.3, what="every accepted task final")
    for r in recs.values():
        assert r["status"] == "succeeded", r
        assert r["ecs"]["task_arn"], r
    launches = fake_ecs.launches()
    bad = {k: v for k, v in launches["by_client_token"].items() if v != 1}
    assert not bad, "ECS started a task twice: %r" % bad
    extra = set(launches["by_client_token"]) - ids
    assert not extra, "ECS started a task for a request that was not answered 202: %r" % [
        (tok, [(c["status"], c["fault"]) for c in fake_ecs.calls("RunTask")
               if c["body"]["clientToken"] == tok], api.get("/tasks/" + tok).json)
        for tok in sorted(extra)[:3]]
    assert launches["total_tasks_created"] == len(ids)
    arns = {r["ecs"]["task_arn"] for r in recs.values()}
    assert arns == {t["taskArn"] for t in fake_ecs.tasks()}
    # Every RunTask attempt carried the clientToken of a record that was accepted, or of a
    # request that was refused without ECS starting anything.
    return recs


# --------------------------------------------------------------------------- storms

def test_throttling_storm(daemon, fake_ecs):
    """Throttling past the retries refuses nothing any more (it was a 503): the launch queue
    paces the launches and every request is launched, once."""
    fake_ecs.faults("RunTask", [{"status": 400, "type": "ThrottlingException",
                                 "message": "Rate exceeded"}] * 40)
    answers = storm(daemon, fake_ecs, 40)
    accepted = check_answers(answers, allowed=(202,))
    assert len(accepted) == 40
    # Throttled calls start nothing; a launched task carries its ARN.
    assert all(a["ecs"]["task_arn"] for a in accepted if a["status"] == "starting")
    check_exactly_once(daemon, fake_ecs, accepted)
    # Once the storm is over, pokyd serves normally.
    assert post_task(daemon.port)[0] == 202


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_burst(daemon, fake_ecs, status):
    fake_ecs.faults("RunTask", [{"status": status}] * 30)
    answers = storm(daemon, fake_ecs, 30)
    accepted = check_answers(answers)
    check_exactly_once(daemon, fake_ecs, accepted)


@pytest.mark.parametrize("reset", [True, "rst"])
def test_connection_resets(daemon, fake_ecs, reset):
    fake_ecs.faults("RunTask", [{"reset": reset}] * 30)
    answers = storm(daemon, fake_ecs, 30)
    accepted = check_answers(answers)
    check_exactly_once(daemon, fake_ecs, accepted)


@pytest.mark.parametrize("fault", [
    {"partial": True},
    {"body": '{"tasks": [{"taskArn": ', "status": 200,
     "content_type": "application/x-amz-json-1.1"},
    {"body": "<html>bad gateway</html>", "status": 200, "content_type": "text/html"},
    {"body": "[]", "status": 200, "content_type": "application/x-amz-json-1.1"},
    {"body": '{"tasks": "nope", "failures": 7}', "status": 200,
     "content_type": "application/x-amz-json-1.1"},
], ids=["partial", "truncated", "html", "array", "wrong-types"])
def test_truncated_and_malformed_answers(daemon, fake_ecs, fault):
    fake_ecs.faults("RunTask", [fault] * 24)
    answers = storm(daemon, fake_ecs, 24)
    accepted = check_answers(answers)
    check_exactly_once(daemon, fake_ecs, accepted)


@pytest.mark.parametrize("fault", [
    {"after_processing": True, "status": 500},
    {"after_processing": True, "status": 503},
    {"after_processing": True, "reset": True},
    {"after_processing": True, "partial": True},
    {"after_processing": True, "body": "{\"tasks\": [", "status": 200},
], ids=["500", "503", "reset", "partial", "truncated"])
def test_lost_answers_never_launch_twice(daemon, fake_ecs, fault):
    """The task IS created, the answer is lost: a retry (same clientToken) must find it."""
    fake_ecs.faults("RunTask", [fault] * 40)
    answers = storm(daemon, fake_ecs, 24)
    accepted = check_answers(answers, allowed=(202,))   # ECS started it: never refuse
    recs = check_exactly_once(daemon, fake_ecs, accepted)
    assert len(recs) == 24


def test_mixed_fault_storm(daemon, fake_ecs):
    faults = [{"status": 400, "type": "ThrottlingException"}, {"status": 500},
              {"reset": True}, {"after_processing": True, "status": 503}, {"partial": True},
              {"after_processing": True, "reset": "rst"}, {"status": 503},
              {"body": "{", "status": 200}]
    fake_ecs.faults("RunTask", faults * 8)
    fake_ecs.faults("DescribeTasks", [{"status": 500}, {"reset": True}, {"partial": True},
                                      {"status": 400, "type": "ThrottlingException"}] * 5)
    answers = storm(daemon, fake_ecs, 48)
    accepted = check_answers(answers)
    check_exactly_once(daemon, fake_ecs, accepted)


def test_flaky_describe_tasks_does_not_lose_tasks(daemon, fake_ecs):
    api = daemon.client()
    recs = [api.submit("job", PARAMS) for _ in range(6)]
    fake_ecs.faults("DescribeTasks", [{"status": 500}, {"reset": "rst"}, {"partial": True},
                                      {"body": "{\"tasks\": 3}", "status": 200},
                                      {"status": 400, "type": "ThrottlingException"}] * 6)
    check_exactly_once(daemon, fake_ecs, recs)


# --------------------------------------------------------------------------- slow upstream

def test_slow_answer_past_the_timeout_is_bounded_and_launches_once(daemon, fake_ecs):
    """RunTask answers after 32 s, past pokyd's 30 s AWS timeout: the request is retried with
    the same clientToken (so ECS starts one task), and while it waits the other worker threads
    keep serving."""
    fake_ecs.faults("RunTask", [{"delay": 32}])
    t_fault = time.monotonic()
    result = {}

    def slow():
        result["answer"] = post_task(daemon.port, timeout=120, wait=60)
    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.5)
    api = daemon.client()
    worst = 0.0
    while t.is_alive():
        t0 = time.monotonic()
        assert api.get("/healthz", timeout=5).status == 200
        rec = api.submit("job", PARAMS)          # other launches go through meanwhile
        worst = max(worst, time.monotonic() - t0)
        time.sleep(1)
    t.join()
    assert worst < 2, "other requests waited %.1fs while one was stuck upstream" % worst
    status, headers, body, took = result["answer"]
    assert status in (202, 503), body
    assert took < 100, took
    doc = json.loads(body)
    calls = fake_ecs.calls("RunTask")
    if status == 202:
        tok = doc["id"]
        assert [c["body"]["clientToken"] for c in calls].count(tok) >= 2, \
            "the timed-out RunTask was not retried"
    # The fake answers the slow call only after its delay: wait for it, so that its task is
    # counted here and not in the next test.
    time.sleep(max(0.0, t_fault + 34 - time.monotonic()))
    launches = fake_ecs.launches()
    assert all(v == 1 for v in launches["by_client_token"].values()), launches
    assert rec["status"] in ("queued", "starting")
    if status == 202:
        assert launches["by_client_token"].get(doc["id"]) == 1, launches


def test_aws_request_timeout_is_configurable(pokyd_factory, fake_ecs):
    """[aws] request_timeout = 1: a RunTask that answers after 3 s is given up after 1 s and
    retried with the same clientToken; the POST ends long before the default 30 s would let
    it, and ECS starts one task."""
    fake_ecs.set_config(progression=[["PENDING", 0.05], ["RUNNING", 0.1], ["STOPPED", 0.3]])
    d = pokyd_factory.new({"job": ecs_template()}, aws={"request_timeout": 1,
                                                        "connect_timeout": 1})
    fake_ecs.faults("RunTask", [{"delay": 3}])
    t_fault = time.monotonic()
    status, _, body, took = post_task(d.port)
    assert status == 202, body
    assert took < 10, took
    tok = json.loads(body)["id"]
    calls = fake_ecs.calls("RunTask")
    assert [c["body"]["clientToken"] for c in calls].count(tok) >= 2, \
        "the timed-out RunTask was not retried"
    time.sleep(max(0.0, t_fault + 3.5 - time.monotonic()))   # the slow call's answer
    launches = fake_ecs.launches()
    assert launches["by_client_token"].get(tok) == 1, launches


def test_aws_timeouts_are_checked(pokyd_factory):
    for key, value in (("request_timeout", "0"), ("request_timeout", "601"),
                       ("connect_timeout", "61"), ("connect_timeout", "soon")):
        d = pokyd_factory.new({"job": ecs_template()}, aws={key: value}, start=False)
        run = subprocess.run([str(d.binary), "-c", str(d.config_path), "-t"], env=d.env,
                             capture_output=True, text=True, timeout=30)
        assert run.returncode != 0, (key, value)
        assert "[aws] " + key in run.stderr, run.stderr


@pytest.mark.parametrize("first", [
    {"after_processing": True, "status": 503},
    {"after_processing": True, "reset": True},
], ids=["lost-503", "lost-reset"])
def test_definite_refusal_after_a_lost_answer_is_still_unknown(daemon, fake_ecs, first):
    """Attempt 1 started the task but its answer was lost; attempt 2 is throttled.  The last
    error alone says "nothing started", but attempt 1 may have: pokyd must keep the record
    (202, launch pending) and finish it, never answer 503 and leave an orphan ECS task."""
    fake_ecs.faults("RunTask", [first, {"status": 400, "type": "ThrottlingException"},
                                {"status": 400, "type": "ThrottlingException"}])
    status, headers, body, took = post_task(daemon.port)
    launches = fake_ecs.launches()
    assert launches["total_tasks_created"] == 1
    assert status == 202, "ECS started the task but pokyd answered %d: %s" % (status, body)
    check_exactly_once(daemon, fake_ecs, [json.loads(body)])


# --------------------------------------------------------------------------- expiring credentials

class CredsFake(FakeService):
    """A fake started with a shared --creds-file (what one hands out, the other accepts)."""

    def __init__(self, script, workdir, creds_file):
        super().__init__(script, workdir)
        self.creds_file = creds_file

    def start(self, timeout=20):
        port_file = self.workdir / (self.script.stem + ".port")
        cmd = [PYTHON, str(self.script), "--port", "0", "--port-file", str(port_file),
               "--creds-file", str(self.creds_file)]
        self.log_path = self.workdir / (self.script.stem + ".log")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        wait_for(lambda: port_file.exists() or self.proc.poll() is not None, timeout,
                 what=self.script.name + " port file")
        assert self.proc.poll() is None, self.log_path.read_text()
        self.port = int(port_file.read_text())
        return self


def test_credentials_expiring_under_load_never_fail_a_request(bindir, tmp_path, openapi,
                                                              fake_s3_server):
    """pokyd gets temporary credentials from the container endpoint, each set valid for 6 s;
    the fake ECS refuses them once expired (ExpiredTokenException).  Under ~25 submits a second
    for 15 s (so every set expires twice over), no request fails and no task launches twice."""
    creds_file = tmp_path / "creds.json"
    ecs = CredsFake("fake_ecs.py", tmp_path / "ecs", creds_file).start()
    cont = CredsFake("fake_container_creds.py", tmp_path / "cont", creds_file).start()
    try:
        ecs.set_config(progression=[["PENDING", 0.05], ["RUNNING", 0.1], ["STOPPED", 0.2]])
        cont.set_config(rotate=True, expiration_offset_seconds=6)
        f = PokydFactory(bindir, tmp_path / "p", ecs.url, fake_s3_server.url, openapi)
        try:
            d = f.new({"job": ecs_template()}, server={"threads": 8}, env={
                "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None,
                "AWS_CONTAINER_CREDENTIALS_FULL_URI": cont.url + "/v2/credentials/poky-task"})
            answers, lock = [], threading.Lock()
            t_end = time.monotonic() + 15

            def client():
                while time.monotonic() < t_end:
                    a = post_task(d.port)
                    with lock:
                        answers.append(a)
                    time.sleep(0.3)
            threads = [threading.Thread(target=client) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            bad = [(a[0], a[2][:300]) for a in answers if a[0] != 202]
            assert not bad, "requests failed while credentials rotated: %r" % bad[:5]
            assert len(answers) > 150
            served = cont.ctl("GET", "served")
            assert len(served) >= 3, "the credentials were not refreshed: %d sets" % len(served)
            calls = ecs.calls("RunTask")
            refused = [c for c in calls if c["status"] != 200]
            print("\ncreds: %d submits, %d credential sets served, %d RunTask calls (%d refused)"
                  % (len(answers), len(served), len(calls), len(refused)))
            # Never signed with credentials past their expiration.
            assert not [c for c in refused if "Expired" in (c.get("auth_error") or "")]
            launches = ecs.ctl("GET", "launches")
            assert launches["total_tasks_created"] == len(answers)
            assert all(v == 1 for v in launches["by_client_token"].values())
        finally:
            f.close()
    finally:
        ecs.stop()
        cont.stop()
