"""Webhooks and /metrics: a task's end is POSTed to its callback_url, signed (Poky-Signature,
checked here with Python's hmac), retried after a 500, resumed after pokyd is killed with SIGKILL;
callback URLs into this machine, the metadata endpoint or private addresses are refused at submit
unless a webhook_allow prefix names the host, and again at delivery when a name resolves there;
/metrics parses with prometheus_client (Debian's python3-prometheus-client) and its counters match
what the test did.
"""
import collections
import contextlib
import hashlib
import hmac
import http.server
import json
import re
import socket
import threading
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytest.register_assert_rewrite("pokyd")
from pokyd import Client, ecs_template, local_template, wait_for, wait_task  # noqa: E402

pytest_plugins = ["pokyd"]      # fixtures: fake_ecs, pokyd_factory, openapi ...

SECRET = "whsec-poky-test-0123456789"
SIGNATURE = re.compile(r"^t=(\d+),v1=([0-9a-f]{64})$")
TEMPLATES = {"true": local_template("/bin/true"), "false": local_template("/bin/false")}


# --------------------------------------------------------------------------- the receiver

def free_port():
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    """A webhook receiver on 127.0.0.1: records every delivery, answers the statuses in
    `script` first (one each), then 200."""

    def __init__(self, port=0, script=(), secret=SECRET):
        self.secret = secret.encode()
        self.script = collections.deque(script)
        self.deliveries = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.lock:
                    status = outer.script.popleft() if outer.script else 200
                    outer.deliveries.append({
                        "path": self.path, "headers": dict(self.headers.items()),
                        "body": body, "status": status, "at": time.time(),
                        "signature_ok": outer.verify(self.headers.get("Poky-Signature"),
                                                     body)})
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def verify(self, header, body):
        """What a receiver does: HMAC-SHA256 over "<t>.<raw body>", constant-time compare."""
        m = SIGNATURE.match(header or "")
        if not m:
            return False
        want = hmac.new(self.secret, m.group(1).encode() + b"." + body,
                        hashlib.sha256).hexdigest()
        return hmac.compare_digest(want, m.group(2))

    def url(self, path="/hook", host="127.0.0.1"):
        return "http://%s:%d%s" % (host, self.port, path)

    def got(self, n=1, timeout=15):
        wait_for(lambda: len(self.deliveries) >= n, timeout,
                 what="%d webhook deliveries (have %d)" % (n, len(self.deliveries)))
        with self.lock:
            return list(self.deliveries)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def webhook_tracker(*allow, secret=SECRET):
    return {"webhook_allow": list(allow), "webhook_secret": secret}


def callback_of(api, task_id, state, timeout=15):
    """Wait until the record's callback reaches state; returns the callback object."""
    def ready():
        cb = api.get("/tasks/" + task_id).json.get("callback")
        return cb if cb and cb["state"] == state else None
    return wait_for(ready, timeout, what="callback %s of task %s" % (state, task_id))


# --------------------------------------------------------------------------- delivery

def test_delivered_when_the_task_ends_signed_with_the_record(pokyd_factory, receiver):
    d = pokyd_factory.new(TEMPLATES, tracker=webhook_tracker(receiver.url("/")))
    api = d.client()
    rec = api.submit("true", callback_url=receiver.url("/hook?x=1"))
    done = wait_task(api, rec["id"], "succeeded")
    (got,) = receiver.got(1)
    assert got["path"] == "/hook?x=1"
    assert got["signature_ok"], got["headers"].get("Poky-Signature")
    t = int(SIGNATURE.match(got["headers"]["Poky-Signature"]).group(1))
    assert abs(t - time.time()) < 60
    assert got["headers"]["Content-Type"] == "application/json"
    assert got["headers"]["Poky-Task-Id"] == rec["id"]
    assert got["headers"]["User-Agent"].startswith("poky/")
    body = json.loads(got["body"])
    assert body["id"] == rec["id"] and body["status"] == "succeeded"
    assert body["exit_code"] == 0 and body["finished_at"] == done["finished_at"]
    assert body["callback"]["url"] == receiver.url("/hook?x=1")
    cb = callback_of(api, rec["id"], "delivered")
    assert cb["attempts"] == 1
    # Delivered once: nothing more comes.
    time.sleep(1.5)
    assert len(receiver.deliveries) == 1
    # The secret and the signature never reach the log.
    assert SECRET not in d.log()
    assert got["headers"]["Poky-Signature"].split("v1=")[1] not in d.log()


def test_retried_after_a_500_with_backoff(pokyd_factory):
    r = Receiver(script=[500])
    try:
        d = pokyd_factory.new(TEMPLATES, tracker=webhook_tracker(r.url("/")))
        api = d.client()
        rec = api.submit("false", callback_url=r.url())
        wait_task(api, rec["id"], "failed")
        first, second = r.got(2)
        assert [first["status"], second["status"]] == [500, 200]
        assert first["signature_ok"] and second["signature_ok"]
        for got in (first, second):
            body = json.loads(got["body"])
            assert body["id"] == rec["id"] and body["status"] == "failed"
            assert body["exit_code"] == 1
        # First retry after 1 s, less up to 20 % jitter.
        assert second["at"] - first["at"] >= 0.7
        cb = callback_of(api, rec["id"], "delivered")
        assert cb["attempts"] == 2
        d.wait_log(r"task %s: webhook attempt 1 to 127\.0\.0\.1 failed: HTTP 500" % rec["id"])
    finally:
        r.close()


def test_without_a_secret_the_signature_has_no_v1(pokyd_factory, receiver):
    d = pokyd_factory.new(TEMPLATES, tracker=webhook_tracker(receiver.url("/"), secret=None))
    api = d.client()
    api.submit("true", callback_url=receiver.url())
    (got,) = receiver.got(1)
    assert re.match(r"^t=\d+$", got["headers"]["Poky-Signature"])
    assert not got["signature_ok"]


# --------------------------------------------------------------------------- SSRF

@pytest.fixture
def guarded(pokyd_factory, receiver):
    """A daemon whose allow list has the receiver by address and by name, and "http://",
    which names no host: anything else reached through it must be a public address."""
    d = pokyd_factory.new(TEMPLATES, tracker=webhook_tracker(
        receiver.url("/"), receiver.url("/", host="localhost"), "http://"))
    return d, d.client()


def refused_at_submit(api, url):
    r = api.post("/tasks", {"template": "true", "callback_url": url})
    assert r.status == 400, (url, r)
    fields = {e["field"]: e["message"] for e in r.json["errors"]}
    return fields["callback_url"]


def test_refused_for_a_disallowed_prefix(guarded):
    _, api = guarded
    msg = refused_at_submit(api, "https://hooks.example.com/poky")
    assert "allowed prefix" in msg


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://[::ffff:169.254.169.254]/",
    "http://[fe80::1]/",
    "http://10.0.0.1/hook",
    "http://192.168.1.1:8080/hook",
])
def test_refused_for_link_local_and_private_addresses(guarded, url):
    _, api = guarded
    assert "private" in refused_at_submit(api, url)


def test_refused_for_this_machine_unless_named(guarded, receiver):
    d, api = guarded
    # Another port on localhost: only "http://" matches, and it names no host.
    other = free_port()
    assert "loopback" in refused_at_submit(api, "http://localhost:%d/hook" % other)
    assert "private" in refused_at_submit(api, "http://127.0.0.1:%d/hook" % other)
    # The receiver's own prefix names localhost:PORT explicitly.
    rec = api.submit("true", callback_url=receiver.url(host="localhost"))
    (got,) = receiver.got(1)
    assert json.loads(got["body"])["id"] == rec["id"]
    assert callback_of(api, rec["id"], "delivered")["attempts"] == 1


@pytest.mark.parametrize("host", ["2130706433", "127.1", "0x7f.0.0.1", "017700000001"])
def test_odd_ipv4_spellings_refused_at_submit(guarded, receiver, host):
    _, api = guarded
    msg = refused_at_submit(api, "http://%s:%d/hook" % (host, receiver.port))
    assert "non-standard form" in msg


def loopback_names():
    """Names /etc/hosts maps to loopback, other than localhost itself (Debian puts
    the machine's own name on 127.0.1.1, and ip6-loopback on ::1)."""
    names = []
    with contextlib.suppress(OSError):
        for line in open("/etc/hosts"):
            words = line.split("#")[0].split()
            if len(words) >= 2 and (words[0].startswith("127.") or words[0] == "::1"):
                names += [w for w in words[1:] if "localhost" not in w]
    return names


def test_refused_at_delivery_when_a_name_resolves_to_loopback(guarded, receiver):
    d, api = guarded
    names = loopback_names()
    assert names, "/etc/hosts names no loopback alias to test with"
    url = "http://%s:%d/hook" % (names[0], receiver.port)
    # Nothing in the URL says loopback: accepted at submit (no DNS there) ...
    rec = api.submit("true", callback_url=url)
    wait_task(api, rec["id"], "succeeded")
    # ... and refused when the name is resolved, before any connection.
    cb = callback_of(api, rec["id"], "failed")
    assert cb["attempts"] == 0
    d.wait_log(r"task %s: webhook refused: " % rec["id"])
    assert receiver.deliveries == []


# --------------------------------------------------------------------------- restarts

def test_pending_delivery_resumed_after_sigkill(pokyd_factory):
    port = free_port()
    url = "http://127.0.0.1:%d/hook" % port
    d = pokyd_factory.new(TEMPLATES, tracker=webhook_tracker(url))
    api = d.client()
    rec = api.submit("true", callback_url=url)
    wait_task(api, rec["id"], "succeeded")
    # The receiver is down: attempts fail (connection refused) and are retried.
    wait_for(lambda: api.get("/tasks/" + rec["id"]).json["callback"]["attempts"] >= 2, 15,
             what="two failed attempts")
    assert api.get("/tasks/" + rec["id"]).json["callback"]["state"] == "pending"
    d.kill()
    r = Receiver(port=port)
    try:
        d.start()
        (got,) = r.got(1, timeout=20)
        assert got["signature_ok"]
        body = json.loads(got["body"])
        assert body["id"] == rec["id"] and body["status"] == "succeeded"
        cb = callback_of(d.client(), rec["id"], "delivered")
        assert cb["attempts"] >= 3
    finally:
        r.close()


# --------------------------------------------------------------------------- /metrics

class CountingClient(Client):
    """Counts every answer by (method, route pattern, status), as pokyd's metrics should."""

    def __init__(self, base):
        super().__init__(base.host, base.port, token=base.token, openapi=base.openapi)
        self.counts = collections.Counter()

    def request(self, method, path, **kw):
        r = super().request(method, path, **kw)
        route = re.sub(r"^/tasks/[^/?]+", "/tasks/{id}", path.split("?")[0])
        self.counts[(method, route, str(r.status))] += 1
        return r


def scrape(api):
    r = api.get("/metrics")
    assert r.status == 200 and r.media_type == "text/plain", r
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    samples = {}
    for f in families.values():
        # Every family comes with HELP and TYPE.
        assert f.type != "unknown" and f.documentation, f.name
        for s in f.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return families, samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def test_metrics_parse_and_count_what_happened(pokyd_factory, fake_ecs):
    r = Receiver(script=[500])
    try:
        templates = dict(TEMPLATES, job=ecs_template())
        d = pokyd_factory.new(templates, tracker=webhook_tracker(r.url("/")))
        api = CountingClient(d.client())
        ids = [api.submit("true", callback_url=r.url())["id"] for _ in range(3)]
        ids += [api.submit("false")["id"] for _ in range(2)]
        assert api.post("/tasks", {"template": "nope"}).status == 400
        assert api.get("/tasks/does-not-exist").status == 404
        # One ECS launch, throttled once first: a retry inside one RunTask call.
        fake_ecs.faults("RunTask", [{"status": 400, "type": "ThrottlingException",
                                     "message": "Rate exceeded"}])
        ids.append(api.submit("job", {"source_bucket": "in", "source_key": "k",
                                      "output_bucket": "out"})["id"])
        for i in ids:
            wait_task(api, i, {"succeeded", "failed"}, timeout=20)
        # Three callbacks, the first answered 500 once: four attempts.
        r.got(4)
        for i in ids[:3]:
            callback_of(api, i, "delivered")
        families, samples = scrape(api)
    finally:
        r.close()

    # HTTP requests by route and code, as this client saw them.
    for (method, route, code), n in api.counts.items():
        if route == "/metrics":
            continue        # the scrape in progress is counted after it answers
        assert value(samples, "poky_http_requests_total", method=method, route=route,
                     code=code) == n, (method, route, code)
    assert value(samples, "poky_http_requests_total", method="POST", route="/tasks",
                 code="202") == 6
    assert value(samples, "poky_http_request_duration_seconds_count", route="/tasks") == 7
    assert families["poky_http_request_duration_seconds"].type == "histogram"
    # Tasks launched and finished.
    assert value(samples, "poky_tasks_launched_total", template="true", launcher="local") == 3
    assert value(samples, "poky_tasks_launched_total", template="false", launcher="local") == 2
    assert value(samples, "poky_tasks_launched_total", template="job", launcher="ecs") == 1
    assert value(samples, "poky_tasks_finished_total", template="true", status="succeeded") == 3
    assert value(samples, "poky_tasks_finished_total", template="false", status="failed") == 2
    assert value(samples, "poky_tasks_finished_total", template="job", status="succeeded") == 1
    assert sum(v for (n, _), v in samples.items() if n == "poky_tasks_finished_total") == 6
    assert value(samples, "poky_tasks_running") == 0
    assert value(samples, "poky_tasks", status="succeeded") == 4
    assert value(samples, "poky_tasks", status="failed") == 2
    # Webhooks: three delivered, one retry, nothing failed.
    assert value(samples, "poky_webhook_deliveries_total", outcome="delivered") == 3
    assert value(samples, "poky_webhook_deliveries_total", outcome="retry") == 1
    assert value(samples, "poky_webhook_deliveries_total", outcome="failed") == 0
    # AWS: RunTask was throttled once; the launch queue (not a retry inside the call) made
    # the second call, which went through.
    assert value(samples, "poky_aws_requests_total", service="ecs", operation="RunTask",
                 outcome="ok") == 1
    assert value(samples, "poky_aws_requests_total", service="ecs", operation="RunTask",
                 outcome="throttled") == 1
    assert value(samples, "poky_aws_retries_total", service="ecs", operation="RunTask") == 0
    assert value(samples, "poky_aws_throttles_total", service="ecs", operation="RunTask") == 1
    assert value(samples, "poky_launch_throttled_total", template="job") == 1
    assert value(samples, "poky_aws_requests_total", service="ecs", operation="DescribeTasks",
                 outcome="ok") >= 1
    assert len(fake_ecs.calls("RunTask")) == 2
    (build,) = families["poky_build_info"].samples
    assert build.value == 1 and build.labels["version"]
