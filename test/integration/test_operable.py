"""What an operator reads (issue 19): the access log (path with ids, query without secrets,
bytes, client, user agent, token name, request id; probes at debug), JSON log lines with the
documented fields (docs/logging.md), journald priorities when stderr is the journal's stream,
and the metrics alerts are built on, parsed with prometheus_client's parser.
"""
import http.client
import json
import os
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytest.register_assert_rewrite("pokyd")
from pokyd import local_template, wait_task, wait_for  # noqa: E402

pytest_plugins = ["pokyd"]      # fixtures: fake_ecs, fake_s3, pokyd_factory, openapi ...

LEVELS = {"debug", "info", "warn", "error"}


def json_lines(d):
    return [json.loads(line) for line in d.log().splitlines()]


def raw_get(port, path, headers):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def access_lines(lines):
    return [x for x in lines if "http_status" in x]


# --------------------------------------------------------------------------- access log

def test_access_log_has_path_query_bytes_client_agent_token_and_request_id(pokyd_factory):
    d = pokyd_factory.new({"t": local_template("/bin/true")}, tokens={"alice": "s3cr3t-tok"},
                          server={"log_format": "json"})
    api = d.client(token="s3cr3t-tok")
    rec = api.post("/tasks", {"template": "t"}).json
    wait_task(api, rec["id"], "succeeded")
    status, body = raw_get(d.port, "/tasks/%s?limit=5&access_token=hunter2&X-Amz-Signature=abc"
                           % rec["id"], {"Authorization": "Bearer s3cr3t-tok",
                                         "User-Agent": "ops-probe/1.0", "X-Request-Id": "al-1"})
    assert status == 200
    d.stop()
    text = d.log()
    assert "hunter2" not in text and "s3cr3t-tok" not in text
    mine = [x for x in access_lines(json_lines(d)) if x.get("request_id") == "al-1"]
    assert len(mine) == 1, mine
    x = mine[0]
    assert x["level"] == "info"
    assert x["method"] == "GET"
    assert x["path"] == "/tasks/" + rec["id"]          # the id, not the route template
    assert x["route"] == "/tasks/{id}"
    assert x["http_status"] == 200 and isinstance(x["http_status"], int)
    assert x["bytes"] == len(body)
    assert isinstance(x["duration_ms"], (int, float)) and x["duration_ms"] >= 0
    assert x["client_addr"] == "127.0.0.1"
    assert x["user_agent"] == "ops-probe/1.0"
    assert x["token_name"] == "alice"
    q = x["query"]
    assert "limit=5" in q and "access_token=REDACTED" in q and "X-Amz-Signature=REDACTED" in q
    assert x["msg"].startswith("GET /tasks/%s?limit=5&access_token=REDACTED" % rec["id"])
    d.start()


def test_access_log_unknown_path_is_logged_as_sent(pokyd_factory):
    d = pokyd_factory.new({"t": local_template("/bin/true")}, server={"log_format": "json"})
    status, body = raw_get(d.port, "/no/such/thing-42", {"X-Request-Id": "nf-1"})
    assert status == 404
    d.stop()
    x = [x for x in access_lines(json_lines(d)) if x.get("request_id") == "nf-1"][0]
    assert x["path"] == "/no/such/thing-42" and x["route"] == "unmatched"
    assert x["http_status"] == 404 and x["bytes"] == len(body)
    assert "token_name" not in x
    d.start()


def test_probes_are_logged_at_debug_only(pokyd_factory):
    d = pokyd_factory.new({"t": local_template("/bin/true")}, server={"log_format": "json"})
    for path in ("/healthz", "/readyz", "/metrics"):
        raw_get(d.port, path, {"X-Request-Id": "probe" + path.replace("/", "-")})
    raw_get(d.port, "/templates", {"X-Request-Id": "not-a-probe"})
    d.stop()
    ids = {x.get("request_id") for x in access_lines(json_lines(d))}
    assert "not-a-probe" in ids
    assert not any(i and i.startswith("probe") for i in ids), ids

    d2 = pokyd_factory.new({"t": local_template("/bin/true")},
                           server={"log_format": "json", "log_level": "debug"})
    for path in ("/healthz", "/readyz", "/metrics"):
        raw_get(d2.port, path, {"X-Request-Id": "probe" + path.replace("/", "-")})
    d2.stop()
    probes = [x for x in access_lines(json_lines(d2))
              if (x.get("request_id") or "").startswith("probe")]
    assert {x["route"] for x in probes} == {"/healthz", "/readyz", "/metrics"}
    assert {x["level"] for x in probes} == {"debug"}
    d.start()
    d2.start()


# --------------------------------------------------------------------------- JSON fields

def test_task_lifecycle_lines_carry_task_id_template_and_status(pokyd_factory):
    d = pokyd_factory.new({"t": local_template("/bin/true")}, server={"log_format": "json"})
    api = d.client()
    rec = api.post("/tasks", {"template": "t"}).json
    wait_task(api, rec["id"], "succeeded")
    d.stop()
    lines = json_lines(d)
    for x in lines:
        assert {"ts", "level", "msg"} <= set(x) and x["level"] in LEVELS
    mine = [x for x in lines if x.get("task_id") == rec["id"]]
    assert mine, "no line with task_id"
    assert all(x["template"] == "t" for x in mine)
    assert "succeeded" in {x.get("status") for x in mine}
    d.start()


# --------------------------------------------------------------------------- journald

def test_journal_stream_gives_syslog_priorities(pokyd_factory):
    d = pokyd_factory.new({"t": local_template("/bin/true")}, start=False)
    # Pokyd.start opens pokyd.N.log with "wb" (truncate: same inode); name that file's device
    # and inode in JOURNAL_STREAM, as systemd does for a service whose stderr is the journal.
    path = d.workdir / ("pokyd.%d.log" % (d.runs + 1))
    path.write_bytes(b"")
    st = os.stat(path)
    d.env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
    d.start()
    raw_get(d.port, "/no/such", {})
    d.stop()
    lines = d.log().splitlines()
    assert lines and all(line[:3] in ("<7>", "<6>", "<4>", "<3>") for line in lines), lines[:5]
    assert any(line.startswith("<6>") and "listening on" in line for line in lines)
    assert any(line.startswith("<6>") and "GET /no/such 404" in line for line in lines)


def test_journal_stream_naming_another_file_gives_plain_lines(pokyd_factory):
    d = pokyd_factory.new({"t": local_template("/bin/true")}, start=False)
    other = d.workdir / "not-stderr"
    other.write_bytes(b"")
    st = os.stat(other)
    d.env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
    d.start()
    d.stop()
    assert not any(line.startswith("<") for line in d.log().splitlines())
    d.start()
