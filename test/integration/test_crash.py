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
from pokyd import FINAL, ecs_template, wait_for  # noqa: E402

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
    d = pokyd_factory.new({"job": ecs_template()}, server={"threads": 8})
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
