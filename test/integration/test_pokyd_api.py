"""pokyd's HTTP API: every route, every 4xx path, request limits, the record shape, metrics.

One daemon serves the whole module (auth off, local templates and one ECS template against the
fake ECS); every answer is checked against src/daemon/openapi.json by the client.
"""
import http.client
import json
import uuid

import pytest

pytest.register_assert_rewrite("pokyd")
from pokyd import (ecs_template, local_template, module_factory, parse_metrics,  # noqa: E402
                   wait_for, wait_task)

pytest_plugins = ["pokyd"]      # fixtures: fake_ecs, fake_s3, pokyd_factory, openapi ...

MAX_BODY = 4096


@pytest.fixture(scope="module")
def daemon(bindir, tmp_path_factory, fake_ecs_server, fake_s3_server):
    f = module_factory(bindir, tmp_path_factory, fake_ecs_server, fake_s3_server, "api")
    d = f.new({
        "echo": local_template("/usr/bin/env",
                               **{"param.greeting": "required env=GREETING max=64",
                                  "param.mood": "optional env=MOOD default=calm pattern=^[a-z]+$",
                                  "env.FIXED": "yes"}),
        "listme": local_template("/bin/true"),
        "sleep": local_template("/bin/sleep 30", kill_grace=2),
        "job": ecs_template(),
    }, server={"max_body_bytes": MAX_BODY})
    yield d
    f.close()


@pytest.fixture
def api(daemon):
    return daemon.client()


def problem(r, status, field=None):
    """Assert a problem document with this status (and, when given, an error on field)."""
    assert r.status == status, r
    assert r.media_type == "application/problem+json", r.headers
    doc = r.json
    assert doc["status"] == status
    if field is not None:
        fields = [e["field"] for e in doc.get("errors", [])]
        assert field in fields, doc
    return doc


# --------------------------------------------------------------------------- POST /tasks

def test_post_task_answers_202_with_location_and_record(api):
    r = api.post("/tasks", {"template": "echo", "parameters": {"greeting": "hello"}})
    assert r.status == 202, r
    rec = r.json
    assert r.header("Location") == "/tasks/" + rec["id"]
    assert uuid.UUID(rec["id"]).version == 7
    assert rec["template"] == "echo"
    assert rec["launcher"] == "local"
    assert rec["status"] in ("queued", "running", "succeeded")
    # Defaults are filled in; the template's fixed env is not a parameter.
    assert rec["parameters"] == {"greeting": "hello", "mood": "calm"}
    assert rec["created_at"].endswith("Z") and rec["finished_at"] is None or \
        rec["status"] == "succeeded"
    assert rec["local"]["log"] == "/tasks/%s/logs" % rec["id"]
    done = wait_task(api, rec["id"], "succeeded")
    assert done["exit_code"] == 0 and done["reason"] is None
    assert done["started_at"] and done["finished_at"]
    assert done["created_at"] <= done["started_at"] <= done["finished_at"]
    got = api.get(r.header("Location"))
    assert got.status == 200 and got.json["id"] == rec["id"]


def test_task_logs_hold_the_process_output(api):
    rec = api.submit("echo", {"greeting": "hi there", "mood": "happy"})
    wait_task(api, rec["id"], "succeeded")
    r = api.get("/tasks/%s/logs" % rec["id"])
    assert r.status == 200 and r.media_type == "text/plain"
    env = dict(line.split("=", 1) for line in r.text.splitlines() if "=" in line)
    # Only the parameters, the template's env, the record's id and a default PATH reach
    # the task.
    assert env == {"GREETING": "hi there", "MOOD": "happy", "FIXED": "yes",
                   "POKY_TASK_ID": rec["id"], "PATH": "/usr/local/bin:/usr/bin:/bin"}


def test_logs_of_unknown_task_and_of_an_ecs_task_without_a_stream_404(api, fake_ecs):
    problem(api.get("/tasks/%s/logs" % uuid.uuid4()), 404)
    problem(api.get("/tasks/not-a-uuid/logs"), 404)
    rec = api.submit("job", {"source_bucket": "in", "source_key": "k", "output_bucket": "out"})
    # Queued (or launched without a known log stream): nothing to read yet.
    problem(api.get("/tasks/%s/logs" % rec["id"]), 404)


def test_unicode_parameter_values_reach_the_task_unchanged(api):
    value = "h\u00e9llo \u2713 \u4e16\u754c \U0001F680 \"quoted\" 'single' $HOME `x` ;&|"
    rec = api.submit("echo", {"greeting": value})
    assert rec["parameters"]["greeting"] == value
    wait_task(api, rec["id"], "succeeded")
    assert api.get("/tasks/" + rec["id"]).json["parameters"]["greeting"] == value
    logs = api.get("/tasks/%s/logs" % rec["id"]).text
    assert "GREETING=" + value in logs.splitlines()


def test_unicode_parameter_values_reach_ecs_unchanged(api, fake_ecs):
    value = "\u00fcber/\u6587\u4ef6 \U0001F4C4.txt"
    api.submit("job", {"source_bucket": "in", "source_key": value, "output_bucket": "out"},
               headers={"Prefer": "wait=30"})
    body = fake_ecs.calls("RunTask")[-1]["body"]
    env = body["overrides"]["containerOverrides"][0]["environment"]
    assert {"name": "SOURCE_KEY", "value": value} in env


def test_unknown_template_is_400(api):
    doc = problem(api.post("/tasks", {"template": "nope"}), 400, "template")
    assert "nope" in doc["detail"]


def test_unknown_body_fields_and_parameters_are_listed(api):
    r = api.post("/tasks", {"template": "echo", "parameters": {"greeting": "x", "bogus": "1"},
                            "extra": True, "priority": 1})
    doc = problem(r, 400)
    fields = sorted(e["field"] for e in doc["errors"])
    assert fields == ["extra", "priority"]
    doc = problem(api.post("/tasks", {"template": "echo",
                                      "parameters": {"greeting": "x", "bogus": "1",
                                                     "other": "2"}}), 400)
    assert sorted(e["field"] for e in doc["errors"]) == ["bogus", "other"]
    assert all(e["message"] == "unknown parameter" for e in doc["errors"])


@pytest.mark.parametrize("params,field,message", [
    ({}, "greeting", "required"),
    ({"greeting": ""}, "greeting", "must not be empty"),
    ({"greeting": "x" * 65}, "greeting", "longer than 64 bytes"),
    ({"greeting": 5}, "greeting", "must be a string"),
    ({"greeting": "x", "mood": "Not Lower"}, "mood", "does not match ^[a-z]+$"),
], ids=["missing", "empty", "too-long", "not-a-string", "pattern"])
def test_parameter_validation_names_the_field(api, params, field, message):
    doc = problem(api.post("/tasks", {"template": "echo", "parameters": params}), 400, field)
    assert {"field": field, "message": message} in doc["errors"]
    assert doc["type"] == "urn:poky:problem:validation"


@pytest.mark.parametrize("body,field", [
    ({"parameters": {}}, "template"),
    ({"template": 7}, "template"),
    ({"template": "echo", "parameters": ["greeting"]}, "parameters"),
    ({"template": "echo", "parameters": {"greeting": "x"}, "timeout_seconds": 0},
     "timeout_seconds"),
    ({"template": "echo", "parameters": {"greeting": "x"}, "timeout_seconds": "5"},
     "timeout_seconds"),
    ({"template": "echo", "parameters": {"greeting": "x"}, "timeout_seconds": 2592001},
     "timeout_seconds"),
    ({"template": "echo", "parameters": {"greeting": "x"}, "callback_url": 5}, "callback_url"),
    ({"template": "echo", "parameters": {"greeting": "x"},
      "callback_url": "https://127.0.0.1/hook"}, "callback_url"),
    ({"template": "echo", "parameters": {"greeting": "x"},
      "callback_url": "http://example.com/hook"}, "callback_url"),
], ids=["no-template", "template-not-string", "parameters-not-object", "timeout-0",
        "timeout-string", "timeout-too-big", "callback-not-string", "callback-loopback",
        "callback-not-allowed-prefix"])
def test_bad_body_fields_are_400(api, body, field):
    problem(api.post("/tasks", body), 400, field)


@pytest.mark.parametrize("key", ["has space", "x" * 256, "tab\tkey", "caf\u00e9"],
                         ids=["space", "too-long", "control", "non-ascii"])
def test_bad_idempotency_key_is_400(api, key):
    body = json.dumps({"template": "echo", "parameters": {"greeting": "x"}}).encode()
    # http.client refuses to send some of these in a header: build the request by hand.
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    try:
        conn.putrequest("POST", "/tasks")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(len(body)))
        conn._output(b"Idempotency-Key: " + key.encode("utf-8"))
        conn.endheaders(body)
        r = conn.getresponse()
        status, data, ctype = r.status, r.read(), r.getheader("Content-Type")
    finally:
        conn.close()
    if status == 400 and ctype == "application/problem+json":
        doc = json.loads(data)
        assert any(e["field"] == "Idempotency-Key" for e in doc.get("errors", [])), doc
    else:
        # MHD itself may refuse a header with a control character.
        assert key == "tab\tkey" and status == 400, (status, data)


# --------------------------------------------------------------------------- body limits

@pytest.mark.parametrize("text,detail", [
    ("{", "line 1"),
    ('{"template": "echo",}', "line 1"),
    ("", "line 1"),
    ("[]", "must be a JSON object"),
    ('"echo"', "expected"),
    ('{"template": "echo", "template": "listme"}', "duplicate"),
    ('{"template": "ec\\u0000ho"}', "NUL"),
], ids=["truncated", "trailing-comma", "empty", "array", "string", "duplicate-key", "nul"])
def test_malformed_json_is_400(api, text, detail):
    doc = problem(api.request("POST", "/tasks", body=text, content_type="application/json"), 400)
    assert doc["type"] == "urn:poky:problem:json"
    assert detail.lower() in doc["detail"].lower(), doc


def test_json_nested_deeper_than_32_is_400(api):
    deep = "[" * 33 + "]" * 33
    doc = problem(api.request("POST", "/tasks", content_type="application/json",
                              body='{"template": "echo", "parameters": {"greeting": %s}}' % deep),
                  400)
    assert "nested deeper than 32" in doc["detail"]
    # 32 levels in all (the body object counts) is parsed: the value is then checked.
    ok = "[" * 30 + "]" * 30
    doc = problem(api.request("POST", "/tasks", content_type="application/json",
                              body='{"template": "echo", "parameters": {"greeting": %s}}' % ok),
                  400, "greeting")
    assert {"field": "greeting", "message": "must be a string"} in doc["errors"]
    # Brackets inside strings are not nesting.
    r = api.post("/tasks", {"template": "echo", "parameters": {"greeting": "[" * 40}})
    assert r.status == 202, r


@pytest.mark.parametrize("ctype", [None, "text/plain", "application/x-www-form-urlencoded",
                                   "application/jsonp", "multipart/form-data; boundary=x"])
def test_wrong_content_type_is_415(api, ctype):
    body = json.dumps({"template": "echo", "parameters": {"greeting": "x"}})
    doc = problem(api.request("POST", "/tasks", body=body, content_type=ctype), 415)
    assert doc["type"] == "urn:poky:problem:media-type"


def test_json_content_type_with_charset_is_accepted(api):
    body = json.dumps({"template": "echo", "parameters": {"greeting": "x"}})
    r = api.request("POST", "/tasks", body=body, content_type="application/json; charset=utf-8")
    assert r.status == 202, r
    r = api.request("POST", "/tasks", body=body, content_type="Application/JSON")
    assert r.status == 202, r


def test_body_over_max_body_bytes_is_413(api):
    pad = "x" * MAX_BODY
    body = json.dumps({"template": "echo", "parameters": {"greeting": pad}})
    doc = problem(api.request("POST", "/tasks", body=body, content_type="application/json"), 413)
    assert str(MAX_BODY) in doc["detail"]
    # Exactly at the limit is read (and then judged on its content).
    fill = MAX_BODY - len(json.dumps({"template": "echo", "parameters": {"greeting": ""}}))
    body = json.dumps({"template": "echo", "parameters": {"greeting": "y" * fill}})
    assert len(body) == MAX_BODY
    problem(api.request("POST", "/tasks", body=body, content_type="application/json"), 400,
            "greeting")


def test_chunked_body_over_the_limit_is_413(api):
    chunks = [b"{" + b" " * 1000] * 5 + [b"}"]
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    try:
        conn.request("POST", "/tasks", body=iter(chunks), encode_chunked=True,
                     headers={"Content-Type": "application/json",
                              "Transfer-Encoding": "chunked"})
        r = conn.getresponse()
        assert r.status == 413, (r.status, r.read())
        r.read()
    finally:
        conn.close()


def test_too_many_headers_is_431(api):
    headers = {"X-Pad-%d" % i: "v" for i in range(70)}
    r = api.get("/healthz", headers=headers)
    assert r.status == 431, r


# --------------------------------------------------------------------------- GET /tasks/{id}

def test_get_unknown_task_is_404(api):
    doc = problem(api.get("/tasks/%s" % uuid.uuid4()), 404)
    assert doc["title"] == "Not found"
    problem(api.get("/tasks/not-a-uuid"), 404)
    problem(api.get("/tasks/" + "a" * 200), 404)


# --------------------------------------------------------------------------- GET /tasks

def test_list_tasks_pages_newest_first_with_filters(api):
    ids = [api.submit("listme")["id"] for _ in range(4)]
    for i in ids:
        wait_task(api, i, "succeeded")
    seen, cursor, pages = [], None, 0
    while True:
        q = "/tasks?template=listme&limit=2" + ("&cursor=" + cursor if cursor else "")
        r = api.get(q)
        assert r.status == 200, r
        page = r.json
        pages += 1
        seen += [t["id"] for t in page["tasks"]]
        assert all(t["template"] == "listme" for t in page["tasks"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert cursor == page["tasks"][-1]["id"]
    assert seen == sorted(ids, reverse=True)
    assert pages == 3          # 2 + 2 + an empty last page
    r = api.get("/tasks?template=listme&status=succeeded&limit=1000")
    assert sorted(t["id"] for t in r.json["tasks"]) == sorted(ids)
    assert r.json["next_cursor"] is None
    assert api.get("/tasks?template=listme&status=running").json["tasks"] == []
    assert api.get("/tasks?template=no-such-template").json == {"tasks": [],
                                                                "next_cursor": None}
    everything = api.get("/tasks").json["tasks"]
    assert len(everything) >= 4
    assert [t["id"] for t in everything] == sorted((t["id"] for t in everything), reverse=True)


def test_list_filters_decode_the_query(api):
    r = api.get("/tasks?template=list%6De&status=succ%65eded")
    assert r.status == 200 and all(t["template"] == "listme" for t in r.json["tasks"])


@pytest.mark.parametrize("query,field", [
    ("status=bogus", "status"),
    ("status=", "status"),
    ("status=" + "s" * 100, "status"),
    ("limit=0", "limit"),
    ("limit=1001", "limit"),
    ("limit=abc", "limit"),
    ("limit=", "limit"),
    ("limit=-1", "limit"),
    ("limit=" + "0" * 40 + "1", "limit"),
    ("cursor=not-a-cursor", "cursor"),
    ("cursor=" + "c" * 200, "cursor"),
    ("template=" + "t" * 200, "template"),
], ids=["status-bogus", "status-empty", "status-long", "limit-0", "limit-1001", "limit-abc",
        "limit-empty", "limit-negative", "limit-long", "cursor-bad", "cursor-long",
        "template-long"])
def test_bad_list_query_is_400(api, query, field):
    doc = problem(api.get("/tasks?" + query), 400, field)
    assert doc["type"] == "urn:poky:problem:validation"


# --------------------------------------------------------------------------- DELETE

def test_delete_running_local_task_cancels_it(api):
    rec = api.submit("sleep")
    wait_task(api, rec["id"], "running")
    r = api.delete("/tasks/" + rec["id"])
    assert r.status == 202, r
    assert r.json["id"] == rec["id"]
    done = wait_task(api, rec["id"], "cancelled", timeout=15)
    assert done["reason"] == "cancelled through the Poky API by anonymous"
    assert done["finished_at"]
    doc = problem(api.delete("/tasks/" + rec["id"]), 409)
    assert "cancelled" in doc["detail"]


def test_delete_finished_task_is_409_and_unknown_404(api):
    rec = api.submit("listme")
    wait_task(api, rec["id"], "succeeded")
    doc = problem(api.delete("/tasks/" + rec["id"]), 409)
    assert doc["type"] == "urn:poky:problem:conflict"
    problem(api.delete("/tasks/%s" % uuid.uuid4()), 404)
    problem(api.delete("/tasks/nope"), 404)


# --------------------------------------------------------------------------- templates

def test_templates_list_and_one(api):
    r = api.get("/templates")
    assert r.status == 200
    names = [t["name"] for t in r.json["templates"]]
    assert names == ["echo", "listme", "sleep", "job"]
    t = api.get("/templates/echo").json
    assert t == {
        "name": "echo", "launcher": "local", "timeout_seconds": 0, "max_running": 4,
        "parameters": [
            {"name": "greeting", "required": True, "env": "GREETING", "max_length": 64},
            {"name": "mood", "required": False, "env": "MOOD", "max_length": 4096,
             "default": "calm", "pattern": "^[a-z]+$"},
        ]}
    job = api.get("/templates/job").json
    assert job["launcher"] == "ecs" and "max_running" not in job
    assert [p["name"] for p in job["parameters"]] == ["source_bucket", "source_key",
                                                      "output_bucket", "delete_source"]
    problem(api.get("/templates/nope"), 404)
    problem(api.get("/templates/" + "n" * 300), 404)


# --------------------------------------------------------------------------- routing

def test_unknown_routes_are_404_and_wrong_methods_405(api):
    problem(api.get("/nope"), 404)
    problem(api.post("/", {"x": 1}), 404)
    problem(api.get("/tasks/"), 404)
    r = api.request("PUT", "/tasks", json_body={})
    problem(r, 405)
    assert r.header("Allow") == "POST, GET"
    r = api.request("PATCH", "/tasks/%s" % uuid.uuid4())
    assert problem(r, 405) and r.header("Allow") == "GET, DELETE"
    r = api.get("/process_file")
    assert problem(r, 405) and r.header("Allow") == "POST"


def test_head_is_answered_like_get_without_a_body(api):
    r = api.request("HEAD", "/healthz")
    assert r.status == 200 and r.body == b""


def test_request_id_is_echoed_or_made_and_logged(daemon, api):
    r = api.get("/templates", headers={"X-Request-Id": "req-42.a:b_c"})
    assert r.header("X-Request-Id") == "req-42.a:b_c"
    daemon.wait_log(r"\[req-42\.a:b_c\] GET /templates 200")
    r = api.get("/templates", headers={"X-Request-Id": "bad id with spaces"})
    assert uuid.UUID(r.header("X-Request-Id"))
    r = api.get("/templates")
    made = r.header("X-Request-Id")
    assert uuid.UUID(made)
    daemon.wait_log(r"\[%s\] GET /templates 200" % made)
    # The id is on the handler's own lines too.
    r = api.post("/tasks", {"template": "listme"}, headers={"X-Request-Id": "submit-7"})
    daemon.wait_log(r"\[submit-7\] task %s: created" % r.json["id"])


# --------------------------------------------------------------------------- ops

def test_healthz_and_readyz(api):
    assert api.get("/healthz").json == {"status": "ok"}
    r = api.get("/readyz")
    assert r.status == 200, r
    assert r.json == {"status": "ready", "checks": {"store_writable": True,
                                                    "config_loaded": True,
                                                    "credentials": True}}


def test_metrics_are_prometheus_text(api):
    rec = api.submit("listme")
    wait_task(api, rec["id"], "succeeded")
    api.get("/nope")
    r = api.get("/metrics")
    assert r.status == 200
    assert r.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8"
    samples, types = parse_metrics(r.text)
    assert types["poky_http_requests_total"] == "counter"
    assert types["poky_http_request_duration_seconds"] == "histogram"
    assert types["poky_tasks"] == "gauge"
    assert samples[("poky_build_info", (("version", "0.1.0"),))] == 1
    posted = samples[("poky_http_requests_total",
                      (("code", "202"), ("method", "POST"), ("route", "/tasks")))]
    assert posted >= 1
    assert samples[("poky_http_requests_total",
                    (("code", "404"), ("method", "GET"), ("route", "unmatched")))] >= 1
    launched = samples[("poky_tasks_launched_total",
                        (("launcher", "local"), ("template", "listme")))]
    assert launched >= 1
    assert samples[("poky_tasks", (("status", "succeeded"),))] >= 1
    assert samples[("poky_uptime_seconds", ())] >= 0
    assert samples[("poky_store_deferred_failures_total", ())] == 0
    # Histogram buckets are cumulative and end with +Inf == _count.
    route = (("route", "/tasks"),)
    count = samples[("poky_http_request_duration_seconds_count", route)]
    inf = samples[("poky_http_request_duration_seconds_bucket", (("le", "+Inf"),) + route)]
    assert inf == count
    buckets = sorted((float(dict(k[1])["le"]), v) for k, v in samples.items()
                     if k[0] == "poky_http_request_duration_seconds_bucket"
                     and dict(k[1])["route"] == "/tasks")
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)


def test_metrics_task_gauges_follow_the_store(api):
    """A status whose count drops to zero must read 0, not its last value."""
    rec = api.submit("sleep")
    wait_task(api, rec["id"], "running")
    samples, _ = parse_metrics(api.get("/metrics").text)
    assert samples[("poky_tasks", (("status", "running"),))] >= 1
    assert api.delete("/tasks/" + rec["id"]).status == 202
    wait_task(api, rec["id"], "cancelled")
    wait_for(lambda: api.get("/tasks?status=running").json["tasks"] == []
             and api.get("/tasks?status=starting").json["tasks"] == [], what="idle daemon")
    samples, _ = parse_metrics(api.get("/metrics").text)
    assert samples.get(("poky_tasks", (("status", "running"),)), 0) == 0


def test_metrics_labels_stay_bounded_for_odd_methods(api):
    for i in range(5):
        api.request("FOO%d" % i, "/tasks", check=False)
    samples, _ = parse_metrics(api.get("/metrics").text)
    methods = {dict(k[1]).get("method") for k in samples
               if k[0] == "poky_http_requests_total"}
    assert not any(m.startswith("FOO") for m in methods), methods


def test_openapi_json_is_served_and_is_the_source_document(api, openapi):
    r = api.get("/openapi.json")
    assert r.status == 200
    assert r.json == openapi.doc
    assert r.json["openapi"].startswith("3.1")
