"""Crash safety: pokyd is killed with SIGKILL while 16 clients submit ECS tasks, then restarted
on the same state_dir.  Every task that got a 202 must be in GET /tasks and be tracked to its
end, no record may be half-written, the SQLite database must pass PRAGMA integrity_check and
ECS (the fake, which counts launches per clientToken) must never have started a task twice.
"""
import http.client
import json
import sqlite3
import threading
import time

import pytest

pytest.register_assert_rewrite("pokyd")
from pokyd import FINAL, ecs_template, parse_metrics, wait_for  # noqa: E402

pytest_plugins = ["pokyd"]

PARAMS = {"source_bucket": "test-poky-input", "source_key": "test_file.txt",
          "output_bucket": "test-poky-output"}
CLIENTS = 16
RECORD_KEYS = {"id", "template", "status", "launcher", "parameters", "created_at",
               "updated_at"}


def integrity(db_path):
    con = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=10)
    try:
        return [row[0] for row in con.execute("PRAGMA integrity_check")]
    finally:
        con.close()


def all_tasks(client):
    out, cursor = [], None
    while True:
        path = "/tasks?limit=1000" + ("&cursor=" + cursor if cursor else "")
        r = client.get(path)
        assert r.status == 200, r
        out += r.json["tasks"]
        cursor = r.json.get("next_cursor")
        if not cursor:
            return out


def submitter(port, accepted, errors, stop, n):
    """Submits until stop is set or the daemon dies; records every 202 it got."""
    body = json.dumps({"template": "job", "parameters": PARAMS}).encode()
    i = 0
    while not stop.is_set():
        i += 1
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        try:
            conn.request("POST", "/tasks", body=body,
                         headers={"Content-Type": "application/json",
                                  "Idempotency-Key": "crash-%d-%d" % (n, i)})
            r = conn.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException):
            return                      # the daemon is gone: this client is done
        finally:
            conn.close()
        if r.status == 202:
            accepted.append(json.loads(data))
        else:
            errors.append((r.status, data[:300]))


@pytest.mark.parametrize("kill_after", [0.7, 1.5])
def test_kill_9_under_load_loses_nothing_and_launches_once(pokyd_factory, fake_ecs,
                                                           kill_after):
    fake_ecs.set_config(progression=[["PENDING", 0.1], ["RUNNING", 0.3], ["STOPPED", 0.8]])
    # Submits are answered once queued, so thousands are accepted before the kill; the fake
    # does not throttle, so the launch queue need not pace them at ECS's 20/s.
    d = pokyd_factory.new({"job": ecs_template()}, server={"threads": 8},
                          aws={"runtask_rate": 2000, "runtask_burst": 2000})
    accepted, errors, stop = [], [], threading.Event()
    threads = [threading.Thread(target=submitter, args=(d.port, accepted, errors, stop, n))
               for n in range(CLIENTS)]
    for t in threads:
        t.start()
    time.sleep(kill_after)
    d.kill()                            # SIGKILL, mid-flight
    killed_at = len(accepted)
    stop.set()
    for t in threads:
        t.join(30)
        assert not t.is_alive(), "a client hung after the daemon died"
    assert not errors, "non-202 answers before the kill: %r" % errors[:5]
    assert killed_at >= CLIENTS, "too few submits before the kill (%d)" % killed_at

    db = d.state_dir / "poky.db"
    assert integrity(db) == ["ok"]

    d.start()                           # same config, same state_dir
    api = d.client()
    ids = {rec["id"] for rec in accepted}
    assert len(ids) == len(accepted), "two 202s carried the same id"
    listed = {t["id"]: t for t in all_tasks(api)}
    missing = ids - set(listed)
    assert not missing, "tasks that got a 202 are gone after the crash: %r" % sorted(missing)[:5]

    # Everything (acknowledged or not) reaches a final status; acknowledged ones succeed.
    def settled():
        now = {t["id"]: t for t in all_tasks(api)}
        return now if all(t["status"] in FINAL for t in now.values()) else None
    final = wait_for(settled, timeout=60, interval=0.3,
                     what="every task final after restart")
    for tid in ids:
        rec = final[tid]
        assert rec["status"] == "succeeded", rec
        assert rec["ecs"]["task_arn"], rec
    for rec in final.values():         # no half-written record: every field is there
        assert RECORD_KEYS <= set(rec), rec
        assert rec["template"] == "job" and rec["parameters"] == dict(PARAMS, delete_source="false"), rec
        full = api.get("/tasks/" + rec["id"])
        assert full.status == 200, full

    launches = fake_ecs.launches()
    by_token = launches["by_client_token"]
    assert all(n == 1 for n in by_token.values()), \
        {k: v for k, v in by_token.items() if v != 1}
    arns = [t["ecs"]["task_arn"] for t in final.values() if t["ecs"]["task_arn"]]
    assert len(arns) == len(set(arns)), "two records share one ECS task"
    # Every ECS task belongs to exactly one record, and no record launched twice.
    assert launches["total_tasks_created"] == len(arns)
    assert set(by_token) <= set(final), "ECS ran a task no record knows"
    assert {t["taskArn"] for t in fake_ecs.tasks()} == set(arns)

    d.stop()
    assert integrity(db) == ["ok"]


# --------------------------------------------------------------------------- launch ids stored after the 202

def hold_write_lock(db):
    """Take the database's write lock from this process: pokyd's writer then waits (its busy
    timeout is 10 s) while its readers go on.  ROLLBACK (or close) releases it."""
    con = sqlite3.connect(str(db), timeout=10, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    return con


def post_during_a_slow_runtask(api, fake_ecs, result):
    """POST /tasks in a thread (its answer into result["r"]) with RunTask answering after
    0.5 s; returns the thread once RunTask is in flight, i.e. once the record is inserted."""
    def post():
        # Prefer: wait - the answer is the launch's, and must not wait for its commit.
        result["r"] = api.post("/tasks", {"template": "job", "parameters": PARAMS}, timeout=30,
                               headers={"Prefer": "wait=20"})
    fake_ecs.faults("RunTask", [{"delay": 0.5}])
    t = threading.Thread(target=post)
    t.start()
    wait_for(lambda: fake_ecs.calls("RunTask"), what="RunTask in flight (record inserted)")
    return t


def assert_tracked_once(api, fake_ecs, rec, timeout):
    """The task ends succeeded with the ARN the 202 gave, launched exactly once."""
    done = wait_for(lambda: (lambda r: r if r["status"] in FINAL else None)(
        api.get("/tasks/" + rec["id"]).json), timeout=timeout, what="the task final")
    assert done["status"] == "succeeded", done
    assert done["ecs"]["task_arn"] == rec["ecs"]["task_arn"]
    assert fake_ecs.launches()["by_client_token"] == {rec["id"]: 1}
    assert fake_ecs.launches()["total_tasks_created"] == 1


def test_202_does_not_wait_for_the_launch_ids_but_reads_do(pokyd_factory, fake_ecs):
    """The record is durable before RunTask; the ids RunTask answers are queued for the store
    and the 202 (which carries them) does not wait for that commit.  A GET after the 202 waits
    for it: it never shows the record without the ARN the client was given."""
    d = pokyd_factory.new({"job": ecs_template()})
    api = d.client()
    result = {}
    t = post_during_a_slow_runtask(api, fake_ecs, result)
    con = hold_write_lock(d.state_dir / "poky.db")
    try:
        t.join(5)
        assert "r" in result, "the 202 waited for a commit the write lock holds back"
        rec = result["r"]
        assert rec.status == 202, rec
        arn = rec.json["ecs"]["task_arn"]
        assert arn == fake_ecs.tasks()[0]["taskArn"]
        got = {}
        g = threading.Thread(target=lambda: got.update(r=api.get("/tasks/" + rec.json["id"])))
        g.start()
        time.sleep(0.5)
        assert "r" not in got, "a read after the 202 did not wait for its ids: %r" % got
    finally:
        con.execute("ROLLBACK")
        con.close()
    g.join(15)
    assert got["r"].status == 200 and got["r"].json["ecs"]["task_arn"] == arn, got
    wait_for(lambda: api.get("/tasks/" + rec.json["id"]).json["status"] == "succeeded",
             what="the task tracked to its end")


def test_kill_9_after_the_202_before_the_ids_are_stored(pokyd_factory, fake_ecs):
    """SIGKILL after the 202 but before the launch ids were committed: the record is there
    without them, and after the restart the tracker finishes the launch with the same
    clientToken - ECS answers with the task it started, nothing starts twice - and the record
    ends with the ARN the client was given."""
    d = pokyd_factory.new({"job": ecs_template()})
    api = d.client()
    result = {}
    t = post_during_a_slow_runtask(api, fake_ecs, result)
    db = d.state_dir / "poky.db"
    con = hold_write_lock(db)
    try:
        t.join(5)
        assert "r" in result and result["r"].status == 202, result
        d.kill()
    finally:
        con.execute("ROLLBACK")
        con.close()
    rec = result["r"].json
    ro = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    try:
        row = ro.execute("SELECT status, ecs_task_arn FROM tasks WHERE id = ?",
                         (rec["id"],)).fetchone()
    finally:
        ro.close()
    assert row == ("starting", None), row      # the kill came before the commit
    assert integrity(db) == ["ok"]

    d.start()
    api = d.client()
    assert_tracked_once(api, fake_ecs, rec, timeout=30)


def test_ids_lost_by_a_failed_store_are_recovered_without_a_restart(pokyd_factory, fake_ecs):
    """The ids RunTask answered cannot be stored after the 202 (the database stays locked past
    the writer's 10 s busy timeout): the failure is logged and counted, and once no launch of
    the record can still be under way, the tracker finishes it with the same clientToken - the
    record gets the ARN the client was given and is tracked to its end, without a restart."""
    d = pokyd_factory.new({"job": ecs_template()},
                          aws={"max_attempts": 1, "request_timeout": 1, "connect_timeout": 1})
    api = d.client()
    result = {}
    t = post_during_a_slow_runtask(api, fake_ecs, result)
    con = hold_write_lock(d.state_dir / "poky.db")
    try:
        t.join(5)
        assert "r" in result and result["r"].status == 202, result
        d.wait_log("deferred update not stored", timeout=20)
    finally:
        con.execute("ROLLBACK")
        con.close()
    rec = result["r"].json
    samples, _ = parse_metrics(api.get("/metrics").text)
    assert samples[("poky_store_deferred_failures_total", ())] == 1
    assert_tracked_once(api, fake_ecs, rec, timeout=40)
