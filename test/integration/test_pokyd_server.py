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
    assert "task store schema 99 is newer than this pokyd (2)" in d.log()
    db = sqlite3.connect(str(d.state_dir / "poky.db"))
    db.execute("PRAGMA user_version=2")
    db.commit()
    db.close()
    d.start()
