"""What an operator reads (issue 19): the access log (path with ids, query without secrets,
bytes, client, user agent, token name, request id; probes at debug), JSON log lines with the
documented fields (docs/logging.md), journald priorities when stderr is the journal's stream,
and the metrics alerts are built on, parsed with prometheus_client's parser.
"""
import http.client
import json
import os
import re
import subprocess
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytest.register_assert_rewrite("pokyd")
from pokyd import AWS_KEY, AWS_SECRET, ecs_template, local_template, wait_task  # noqa: E402

pytest_plugins = ["pokyd"]      # fixtures: fake_ecs, fake_s3, pokyd_factory, openapi ...

LEVELS = {"debug", "info", "warn", "error"}
ECS_PARAMS = {"source_bucket": "test-poky-input", "source_key": "test_file.txt",
              "output_bucket": "test-poky-output"}


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
    # Unknown query parameters are refused (400), and logged like any request.
    status, body = raw_get(d.port, "/tasks/%s?limit=5&access_token=hunter2&X-Amz-Signature=abc"
                           % rec["id"], {"Authorization": "Bearer s3cr3t-tok",
                                         "User-Agent": "ops-probe/1.0", "X-Request-Id": "al-1"})
    assert status == 400
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
    assert x["http_status"] == 400 and isinstance(x["http_status"], int)
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


# --------------------------------------------------------------------------- metrics

def scrape(d):
    r = d.client(check=False).get("/metrics")
    assert r.status == 200
    return {f.name: f for f in text_string_to_metric_families(r.text)}


def sample(fams, family, name=None, **labels):
    for s in fams[family].samples:
        if s.name == (name or family) and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise AssertionError("no %s %r in %r" % (name or family, labels, fams[family].samples))


def test_process_collector(pokyd_factory):
    before = time.time()
    d = pokyd_factory.new({"t": local_template("/bin/true")})
    fams = scrape(d)
    for name, kind in (("process_start_time_seconds", "gauge"),
                       ("process_cpu_seconds", "counter"),     # the parser drops _total
                       ("process_resident_memory_bytes", "gauge"),
                       ("process_virtual_memory_bytes", "gauge"),
                       ("process_open_fds", "gauge"), ("process_max_fds", "gauge")):
        assert fams[name].type == kind, name
    start = sample(fams, "process_start_time_seconds")
    assert before - 5 <= start <= time.time() + 1, (before, start)
    assert sample(fams, "process_cpu_seconds", "process_cpu_seconds_total") >= 0
    rss = sample(fams, "process_resident_memory_bytes")
    assert 1 << 20 <= rss <= sample(fams, "process_virtual_memory_bytes")
    fds = sample(fams, "process_open_fds")
    assert 3 <= fds <= len(os.listdir("/proc/%d/fd" % d.proc.pid)) + 5
    assert sample(fams, "process_max_fds") >= fds


def test_config_reload_gauges(pokyd_factory):
    d = pokyd_factory.new({"t": local_template("/bin/true")})
    fams = scrape(d)
    assert sample(fams, "poky_config_last_reload_successful") == 1
    t0 = sample(fams, "poky_config_last_reload_success_timestamp_seconds")
    assert abs(t0 - time.time()) < 60
    good = d.config_path.read_text()
    d.write_config(good + "\n[server\nbroken\n")
    assert d.reload() == "failed"
    fams = scrape(d)
    assert sample(fams, "poky_config_last_reload_successful") == 0
    assert sample(fams, "poky_config_last_reload_success_timestamp_seconds") == t0
    d.write_config(good)
    time.sleep(1.1)
    assert d.reload() == "reloaded"
    fams = scrape(d)
    assert sample(fams, "poky_config_last_reload_successful") == 1
    assert sample(fams, "poky_config_last_reload_success_timestamp_seconds") > t0


def test_task_duration_histogram_per_template(pokyd_factory):
    d = pokyd_factory.new({"quick": local_template("/bin/true"),
                           "slow": local_template("/bin/sleep 1.2")})
    api = d.client()
    for tpl in ("quick", "slow"):
        rec = api.post("/tasks", {"template": tpl}).json
        wait_task(api, rec["id"], "succeeded")
    fams = scrape(d)
    fam = fams["poky_task_duration_seconds"]
    assert fam.type == "histogram"
    assert sample(fams, "poky_task_duration_seconds", "poky_task_duration_seconds_count",
                  template="slow", status="succeeded") == 1
    assert sample(fams, "poky_task_duration_seconds", "poky_task_duration_seconds_sum",
                  template="slow", status="succeeded") >= 1.0
    # Long buckets (seconds to a day), not the 10 s request ones.
    les = {float(s.labels["le"]) for s in fam.samples if s.name.endswith("_bucket")}
    assert 3600 in les and 86400 in les
    buckets = {(s.labels["template"], float(s.labels["le"])): s.value for s in fam.samples
               if s.name.endswith("_bucket") and s.labels["status"] == "succeeded"}
    assert buckets[("slow", 1.0)] == 0 and buckets[("slow", 5.0)] == 1
    assert buckets[("quick", 1.0)] == 1


def test_aws_latency_and_errors_per_operation(pokyd_factory, fake_ecs):
    d = pokyd_factory.new({"job": ecs_template()})
    api = d.client()
    api.launch_wait = 30
    rec = api.submit("job", ECS_PARAMS)
    assert rec["status"] in ("starting", "running")
    fake_ecs.faults("RunTask", [{"status": 400, "type": "AccessDeniedException",
                                 "message": "not allowed"}])
    r = api.post("/tasks", {"template": "job", "parameters": ECS_PARAMS},
                 headers={"Prefer": "wait=30"})
    assert r.status >= 400, r
    fams = scrape(d)
    assert fams["poky_aws_request_duration_seconds"].type == "histogram"
    assert sample(fams, "poky_aws_request_duration_seconds",
                  "poky_aws_request_duration_seconds_count",
                  service="ecs", operation="RunTask") == 2
    assert sample(fams, "poky_aws_request_duration_seconds",
                  "poky_aws_request_duration_seconds_sum",
                  service="ecs", operation="RunTask") > 0
    assert sample(fams, "poky_aws_errors", "poky_aws_errors_total",
                  service="ecs", operation="RunTask") == 1


# --------------------------------------------------------------------------- User-Agent

UA = re.compile(r"^poky/\S+ \((pokyd|poky-worker); [a-z]+ [A-Za-z0-9_]+\)$")


def check_user_agent(call, app):
    h = call["headers"]
    assert UA.match(h["user-agent"]), h["user-agent"]
    assert "(%s;" % app in h["user-agent"]
    xua = h["x-amz-user-agent"]
    assert xua.startswith("poky/") and " ua/2.0 " in xua and xua.endswith(" app/" + app), xua
    signed = call["signed_headers"]
    signed = signed.split(";") if isinstance(signed, str) else signed
    assert "user-agent" not in signed            # AWS: never sign User-Agent
    assert "x-amz-user-agent" in signed
    assert call["signature_ok"] is True


def test_pokyd_sends_user_agent_on_aws_calls(pokyd_factory, fake_ecs):
    d = pokyd_factory.new({"job": ecs_template()})
    api = d.client()
    api.launch_wait = 30
    api.submit("job", ECS_PARAMS)
    calls = fake_ecs.calls("RunTask")
    assert calls
    for c in calls:
        check_user_agent(c, "pokyd")


def test_worker_sends_user_agent_on_aws_calls(bindir, fake_s3):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AWS_ACCESS_KEY_ID": AWS_KEY,
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET, "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": fake_s3.url, "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/nonexistent/c", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/c",
        "AWS_MAX_ATTEMPTS": "1", "SOURCE_BUCKET": "test-poky-input",
        "SOURCE_KEY": "no-such-key", "OUTPUT_BUCKET": "test-poky-output",
    }
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    p = subprocess.run([str(bindir / "poky-worker")], env=env, capture_output=True, timeout=60)
    assert p.returncode != 0            # the source does not exist
    calls = fake_s3.calls()
    assert calls, p.stderr.decode(errors="replace")
    for c in calls:
        check_user_agent(c, "poky-worker")
