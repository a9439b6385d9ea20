"""The HTTP server and the process around it: keep-alive, limits enforced before any handler
(URL length, slow clients), JSON logs, and the task store's schema version.
"""
import http.client
import json
import socket
import sqlite3
import time

import pytest

pytest.register_assert_rewrite("pokyd")
from pokyd import local_template, wait_task  # noqa: E402

pytest_plugins = ["pokyd"]      # fixtures: fake_ecs, fake_s3, pokyd_factory, openapi ...


def test_keep_alive_serves_many_requests_on_one_connection(pokyd_factory):
    d = pokyd_factory.new({"t": local_template("/bin/true")})
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
    try:
        ids = set()
        for i in range(20):
            conn.request("GET", "/healthz", headers={"X-Request-Id": "ka-%d" % i})
            r = conn.getresponse()
            assert r.status == 200 and r.getheader("X-Request-Id") == "ka-%d" % i
            r.read()
            ids.add(conn.sock.getsockname())
        body = json.dumps({"template": "t"})
        conn.request("POST", "/tasks", body=body, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        assert r.status == 202
        rec = json.loads(r.read())
        assert len(ids) == 1                # one connection all along
    finally:
        conn.close()
    wait_task(d.client(), rec["id"], "succeeded")


def test_uri_too_long_is_414(pokyd_factory):
    d = pokyd_factory.new({"t": local_template("/bin/true")})
    r = d.client().get("/tasks/" + "a" * 3000)
    assert r.status == 414, r
    assert r.media_type == "application/problem+json"


def test_slow_client_is_dropped(pokyd_factory):
    d = pokyd_factory.new({"t": local_template("/bin/true")}, server={"request_timeout": 1})
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    try:
        s.sendall(b"POST /tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{")
        t0 = time.monotonic()
        data = s.recv(4096)               # nothing more comes: the server hangs up
        assert data == b"" or data.startswith(b"HTTP/1.1 4"), data
        assert time.monotonic() - t0 < 8
    finally:
        s.close()
    assert d.client().get("/healthz").status == 200


def test_json_logs_are_one_object_a_line(pokyd_factory):
    d = pokyd_factory.new({"t": local_template("/bin/true")},
                          server={"log_format": "json", "log_level": "debug"})
    api = d.client()
    rec = api.post("/tasks", {"template": "t"}, headers={"X-Request-Id": "json-1"}).json
    wait_task(api, rec["id"], "succeeded")
    d.stop()
    lines = [json.loads(line) for line in d.log().splitlines()]
    assert all({"ts", "level", "msg"} <= set(x) for x in lines)
    mine = [x for x in lines if x.get("request_id") == "json-1"]
    assert any(x["msg"].startswith("POST /tasks 202 ") for x in mine)
    assert any("created" in x["msg"] for x in mine)
    d.start()


def test_a_newer_task_store_schema_is_refused(pokyd_factory):
    d = pokyd_factory.new({"t": local_template("/bin/true")})
    d.stop()
    db = sqlite3.connect(str(d.state_dir / "poky.db"))
    db.execute("PRAGMA user_version=99")
    db.commit()
    db.close()
    with pytest.raises(AssertionError, match="exited 1 before listening"):
        d.start()
    assert "task store schema 99 is newer than this pokyd (4)" in d.log()
    db = sqlite3.connect(str(d.state_dir / "poky.db"))
    db.execute("PRAGMA user_version=4")
    db.commit()
    db.close()
    d.start()


# The task store as a schema-2 pokyd left it (schema v1 plus the Docker columns), with the
# flags that lived in the reason's text.
SCHEMA_V2 = """
CREATE TABLE tasks (
 id TEXT PRIMARY KEY, template TEXT NOT NULL, launcher TEXT NOT NULL, status TEXT NOT NULL,
 parameters TEXT NOT NULL, idem_key TEXT, idem_owner TEXT, request_hash TEXT,
 client_token TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
 started_at REAL, finished_at REAL, exit_code INTEGER, stop_code TEXT, reason TEXT,
 ecs_task_arn TEXT, ecs_cluster TEXT, ecs_last_status TEXT, ecs_stopped_reason TEXT,
 capacity_provider TEXT, local_pid INTEGER, local_start_ticks INTEGER, timeout_seconds INTEGER,
 callback_url TEXT, callback_state TEXT, callback_attempts INTEGER NOT NULL DEFAULT 0,
 callback_next_at REAL, created_by TEXT, cancel_requested_by TEXT,
 container_id TEXT, container_image TEXT);
CREATE UNIQUE INDEX tasks_idem ON tasks(idem_owner, idem_key) WHERE idem_key IS NOT NULL;
CREATE INDEX tasks_status ON tasks(status, id);
CREATE INDEX tasks_template ON tasks(template, id);
CREATE INDEX tasks_callback ON tasks(callback_state, callback_next_at)
 WHERE callback_state = 'pending';
PRAGMA user_version=2;
"""


def test_a_schema_2_store_is_migrated_with_its_flags(pokyd_factory, fake_ecs, tmp_path):
    """v3 turns the flags hidden in reason texts into columns: a launch-pending ECS record is
    still finished with its own clientToken (once), a timed-out one keeps its timeout, and
    every old record reads with the new fields."""
    from pokyd import ecs_template
    d = pokyd_factory.new({"job": ecs_template()})
    d.stop()
    db_path = d.state_dir / "poky.db"
    for suffix in ("", "-wal", "-shm"):
        p = d.state_dir / ("poky.db" + suffix)
        if p.exists():
            p.unlink()
    now = time.time()
    params = json.dumps({"source_bucket": "test-poky-input", "source_key": "test_file.txt",
                         "output_bucket": "test-poky-output", "delete_source": "false"})
    pending, timed = "01a00000-0000-7000-8000-000000000001", "01a00000-0000-7000-8000-000000000002"
    db = sqlite3.connect(str(db_path))
    db.executescript(SCHEMA_V2)
    row = ("INSERT INTO tasks (id, template, launcher, status, parameters, client_token, "
           "created_at, updated_at, finished_at, reason, created_by) "
           "VALUES (?, 'job', 'ecs', ?, ?, ?, ?, ?, ?, ?, 'alice')")
    db.execute(row, (pending, "starting", params, pending, now - 5, now - 5, None,
                     "launch pending: no answer from ECS"))
    db.execute(row, (timed, "failed", params, timed, now - 9, now - 8, now - 8,
                     "timeout after 5 s"))
    db.commit()
    db.close()
    d.start()
    db = sqlite3.connect(str(db_path))
    assert db.execute("PRAGMA user_version").fetchone()[0] == 4
    flags = dict((r[0], r[1:]) for r in db.execute(
        "SELECT id, launch_pending, timed_out FROM tasks"))
    db.close()
    assert flags[timed] == (0, 1)
    api = d.client()
    old = api.get("/tasks/" + timed).json
    assert old["status"] == "failed" and old["reason"] == "timeout after 5 s"
    assert old["labels"] == {} and old["result"] is None and old["created_by"] == "alice"
    done = wait_task(api, pending, "succeeded", timeout=30)
    assert done["reason"] is None and done["ecs"]["task_arn"]
    assert fake_ecs.launches()["by_client_token"] == {pending: 1}
