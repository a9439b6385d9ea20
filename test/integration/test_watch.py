"""Watching tasks without polling: long-poll (?wait=, until=final, ETag/If-None-Match),
the SSE change stream (/events, Last-Event-ID), followed logs, the watcher cap, idle watchers
holding no thread, a stalled reader dropped; and the API details beside them (labels,
unknown query parameters, Idempotent-Replayed, an over-limit timeout)."""
import json
import os
import socket
import threading
import time

import pytest

pytest.register_assert_rewrite("pokyd")
from pokyd import local_template, module_factory, wait_task  # noqa: E402

pytest_plugins = ["pokyd"]

MAX_WATCHERS = 1100


@pytest.fixture(scope="module")
def daemon(bindir, tmp_path_factory, fake_ecs_server, fake_s3_server):
    f = module_factory(bindir, tmp_path_factory, fake_ecs_server, fake_s3_server, "watch")
    talk = tmp_path_factory.mktemp("talk") / "talk.sh"
    talk.write_text("#!/bin/sh\necho one\nsleep 1\necho two\n")
    talk.chmod(0o755)
    d = f.new({
        "nap": local_template("/bin/sleep 0.3", max_running=250, timeout=100),
        "slow": local_template("/bin/sleep 30", kill_grace=1),
        "talk": local_template(str(talk)),
    }, server={"max_watchers": MAX_WATCHERS, "max_connections": 4096,
               # All watchers come from 127.0.0.1: the per-client cap must not be
               # what stops them before the watcher cap is reached.
               "max_connections_per_client": 4096,
               "request_timeout": 3, "threads": 4})
    yield d
    f.close()


@pytest.fixture
def api(daemon):
    return daemon.client()


def submit(api, template="nap", **body):
    r = api.post("/tasks", {"template": template, **body})
    assert r.status == 202, r.body
    return r.json


def raw(daemon, path, headers=None, rcvbuf=None):
    """A request on a plain socket, for streams: returns the socket after the request."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", daemon.port))
    head = "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % path
    for k, v in (headers or {}).items():
        head += "%s: %s\r\n" % (k, v)
    s.sendall((head + "\r\n").encode())
    return s


class Sse:
    """Reads an event stream (chunked) from a socket into events [(id, event, data)]."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.head = None
        self.text = ""

    def _fill(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return True
        if not data:
            return False
        self.buf += data
        if self.head is None and b"\r\n\r\n" in self.buf:
            self.head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if self.head is not None:
            # De-chunk what is complete.
            while True:
                if b"\r\n" not in self.buf:
                    break
                size_line, rest = self.buf.split(b"\r\n", 1)
                n = int(size_line, 16)
                if len(rest) < n + 2:
                    break
                self.text += rest[:n].decode()
                self.buf = rest[n + 2:]
        return True

    def events(self, until, timeout=30):
        """Read until until(events) is true; returns the events parsed so far."""
        end = time.monotonic() + timeout
        while True:
            evs = self.parse()
            if until(evs):
                return evs
            assert time.monotonic() < end, "stream: no more events (%d so far)" % len(evs)
            assert self._fill(0.5), "stream closed"

    def parse(self):
        out = []
        for block in self.text.split("\n\n")[:-1]:
            ev = {"id": None, "event": None, "data": None}
            for line in block.split("\n"):
                if line.startswith(":") or not line:
                    continue
                k, _, v = line.partition(": ")
                ev[k] = v
            if ev["event"]:
                out.append(ev)
        return out


# ---- long-poll ------------------------------------------------------------------------------

def test_wait_until_final_answers_when_the_task_ends(api):
    t = submit(api)
    t0 = time.monotonic()
    r = api.get("/tasks/%s?wait=20s&until=final" % t["id"])
    dt = time.monotonic() - t0
    assert r.status == 200
    assert r.json["status"] == "succeeded"
    assert dt < 5, dt


def test_wait_answers_on_the_first_change(api):
    t = submit(api, "slow")
    wait_task(api, t["id"], ["running"])
    etag = api.get("/tasks/%s" % t["id"]).header("ETag")
    result = {}

    def watch():
        t0 = time.monotonic()
        result["r"] = api.get("/tasks/%s?wait=30s" % t["id"], headers={"If-None-Match": etag})
        result["dt"] = time.monotonic() - t0

    th = threading.Thread(target=watch)
    th.start()
    time.sleep(1.0)
    assert th.is_alive(), "the watch answered before anything changed"
    t1 = time.monotonic()
    assert api.request("DELETE", "/tasks/%s" % t["id"]).status == 202
    th.join(10)
    assert not th.is_alive()
    r = result["r"]
    assert r.status == 200
    assert r.header("ETag") != etag
    assert time.monotonic() - t1 < 3


@pytest.mark.parametrize("wait,seconds", [("1500ms", 1.5), ("2s", 2.0), ("1", 1.0)])
def test_wait_runs_out_on_time(api, wait, seconds):
    t = submit(api)
    r = api.get("/tasks/%s?wait=20s&until=final" % t["id"])
    etag = r.header("ETag")
    t0 = time.monotonic()
    r = api.get("/tasks/%s?wait=%s" % (t["id"], wait), headers={"If-None-Match": etag})
    dt = time.monotonic() - t0
    assert r.status == 304
    assert seconds - 0.05 <= dt <= seconds + 1.0, dt


def test_etag_and_if_none_match(api):
    t = submit(api)
    r = api.get("/tasks/%s?wait=20s&until=final" % t["id"])
    etag = r.header("ETag")
    assert etag and etag.startswith('"')
    r = api.get("/tasks/%s" % t["id"], headers={"If-None-Match": etag})
    assert r.status == 304 and r.body == b""
    r = api.get("/tasks/%s" % t["id"], headers={"If-None-Match": '"1.000"'})
    assert r.status == 200 and r.header("ETag") == etag


@pytest.mark.parametrize("q", ["wait=abc", "wait=-1s", "wait=10h", "until=done", "until=final&x=1"])
def test_bad_watch_queries_are_400(api, q):
    t = submit(api)
    r = api.get("/tasks/%s?%s" % (t["id"], q))
    assert r.status == 400, r.body


# ---- SSE ------------------------------------------------------------------------------------

def test_sse_every_transition_of_200_tasks_across_a_reconnect(daemon, api):
    s = Sse(raw(daemon, "/events?template=nap"))
    s.events(lambda evs: s.head is not None, timeout=5)
    assert b"text/event-stream" in (s.head or b"")
    mine = []                   # this test's tasks (others of the module may still change)
    threads = [threading.Thread(target=lambda: mine.extend(submit(api)["id"]
                                                         for _ in range(50)))
               for _ in range(4)]
    for th in threads:
        th.start()
    first = s.events(lambda evs: len(evs) >= 150, timeout=60)
    s.sock.close()              # forced reconnect, mid-burst
    last_id = first[-1]["id"]
    s2 = Sse(raw(daemon, "/events?template=nap", {"Last-Event-ID": last_id}))
    for th in threads:
        th.join()

    assert len(mine) == 200

    def statuses(evs):
        per = {}
        for e in evs:
            d = json.loads(e["data"])
            if d["id"] in mine:
                per.setdefault(d["id"], []).append(d["status"])
        return per

    def all_final(evs):
        per = statuses(first + evs)
        return len(per) == 200 and all(v[-1] == "succeeded" for v in per.values())

    second = s2.events(all_final, timeout=90)
    s2.sock.close()
    evs = first + second
    ids = [int(e["id"]) for e in evs]
    assert ids == sorted(ids) and len(ids) == len(set(ids)), "gap-free resume: no duplicate"
    assert int(second[0]["id"]) > int(last_id)
    per = statuses(evs)
    assert len(per) == 200
    for tid, statuses in per.items():
        assert statuses == ["queued", "running", "succeeded"], (tid, statuses)


def test_sse_old_id_gets_a_reset_event(daemon):
    s = Sse(raw(daemon, "/events?last_event_id=999999999"))
    evs = s.events(lambda evs: len(evs) >= 1, timeout=5)
    s.sock.close()
    assert evs[0]["event"] == "reset"
    assert "list the tasks again" in json.loads(evs[0]["data"])["reason"]


def test_sse_stalled_reader_is_dropped_others_keep_receiving(daemon, api):
    stalled = raw(daemon, "/events?last_event_id=0", rcvbuf=4096)
    live = Sse(raw(daemon, "/events"))
    live.events(lambda evs: live.head is not None, timeout=5)
    # Enough changes to fill the stalled reader's buffers many times over.
    tasks = [submit(api) for _ in range(180)]
    ids = {t["id"] for t in tasks}
    live.events(lambda evs: ids <= {json.loads(e["data"])["id"] for e in evs
                                    if json.loads(e["data"])["status"] == "succeeded"},
                timeout=60)
    n_live = len(live.parse())
    # The stalled one was cut after request_timeout (3s) without progress: draining it now
    # ends in EOF instead of blocking.
    time.sleep(5)
    stalled.settimeout(5)
    got = 0
    while True:
        data = stalled.recv(1 << 20)
        if not data:
            break
        got += len(data)
    stalled.close()
    # And the live stream still works.
    submit(api)
    live.events(lambda evs: len(evs) > n_live, timeout=10)
    live.sock.close()


# ---- followed logs -------------------------------------------------------------------------

def test_logs_follow_streams_until_final(daemon, api):
    t = submit(api, "talk")
    s = raw(daemon, "/tasks/%s/logs?follow=1" % t["id"])
    s.settimeout(15)
    data = b""
    t0 = time.monotonic()
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
        if data.endswith(b"0\r\n\r\n"):
            break
    s.close()
    assert b"one" in data and b"two" in data
    assert time.monotonic() - t0 < 10


# ---- idle watchers --------------------------------------------------------------------------

def proc_status(pid):
    threads = len(os.listdir("/proc/%d/task" % pid))
    rss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return threads, rss, cpu


def test_1000_idle_watchers_hold_no_thread(daemon, api):
    t = submit(api)
    etag = api.get("/tasks/%s?wait=20s&until=final" % t["id"]).header("ETag")
    pid = daemon.proc.pid
    time.sleep(0.5)
    th0, rss0, _ = proc_status(pid)
    socks = []
    for i in range(1000):
        if i % 2:
            socks.append(raw(daemon, "/tasks/%s?wait=60s" % t["id"], {"If-None-Match": etag}))
        else:
            socks.append(raw(daemon, "/events"))
    time.sleep(2)
    th1, rss1, cpu1 = proc_status(pid)
    time.sleep(3)
    th2, rss2, cpu2 = proc_status(pid)
    idle_cpu = (cpu2 - cpu1) / 3
    print("watchers=1000 threads %d -> %d, RSS %d kB -> %d kB (+%.0f B/watcher), idle CPU %.1f%%"
          % (th0, th2, rss0, rss2, (rss2 - rss0) * 1024 / 1000, idle_cpu * 100))
    assert th2 - th0 <= 2, (th0, th2)
    assert idle_cpu < 0.05, idle_cpu
    # Over the cap: a clear 503.
    extra = [raw(daemon, "/events") for _ in range(MAX_WATCHERS - 1000 + 1)]
    time.sleep(1)
    r = api.get("/tasks/%s?wait=5s" % t["id"], headers={"If-None-Match": etag})
    assert r.status == 503, r.status
    for s in socks + extra:
        s.close()


# ---- API details ----------------------------------------------------------------------------

ROUTES = ["/tasks", "/tasks/{id}", "/tasks/{id}/logs", "/events", "/templates",
          "/templates/nap", "/healthz", "/readyz", "/metrics", "/openapi.json"]


@pytest.mark.parametrize("route", ROUTES)
def test_unknown_query_parameter_is_400(api, route):
    t = submit(api)
    r = api.get(route.replace("{id}", t["id"]) + "?colour=blue")
    assert r.status == 400
    assert r.json["errors"][0]["field"] == "colour"


def test_unknown_query_parameter_on_post_and_delete(api):
    r = api.post("/tasks?colour=blue", {"template": "nap"})
    assert r.status == 400
    t = submit(api, "slow")
    r = api.request("DELETE", "/tasks/%s?force=1" % t["id"])
    assert r.status == 400
    assert api.request("DELETE", "/tasks/%s" % t["id"]).status == 202


def test_labels_stored_and_filtered(api):
    a = submit(api, labels={"team": "blue", "env": "dev"})
    b = submit(api, labels={"team": "blue", "env": "prod"})
    submit(api, labels={"team": "red"})
    assert api.get("/tasks/%s" % a["id"]).json["labels"] == {"team": "blue", "env": "dev"}
    ids = [t["id"] for t in api.get("/tasks?label=team=blue").json["tasks"]]
    assert set(ids) >= {a["id"], b["id"]} and len(ids) == 2 or a["id"] in ids
    ids = [t["id"] for t in api.get("/tasks?label=team=blue&label=env=prod").json["tasks"]]
    assert ids == [b["id"]]
    assert api.get("/tasks?label=team=green").json["tasks"] == []
    assert api.get("/tasks?label=nope").status == 400


@pytest.mark.parametrize("labels,field", [
    ("x", "labels"), ({"bad key": "v"}, "labels.bad key"), ({"k": 1}, "labels.k"),
    ({"k": "v" * 256}, "labels.k"), ({"k%d" % i: "v" for i in range(17)}, "labels"),
])
def test_bad_labels_are_400_naming_the_field(api, labels, field):
    r = api.post("/tasks", {"template": "nap", "labels": labels})
    assert r.status == 400
    assert r.json["errors"][0]["field"] == field


def test_idempotent_replay_says_so(api):
    h = {"Idempotency-Key": "watch-replay-1"}
    r1 = api.post("/tasks", {"template": "nap"}, headers=h)
    assert r1.status == 202 and r1.header("Idempotent-Replayed") is None
    r2 = api.post("/tasks", {"template": "nap"}, headers=h)
    assert r2.status == 200 and r2.header("Idempotent-Replayed") == "true"
    assert r2.json["id"] == r1.json["id"]


def test_timeout_over_the_template_limit_is_400(api):
    r = api.post("/tasks", {"template": "nap", "timeout_seconds": 101})
    assert r.status == 400
    assert r.json["errors"][0]["field"] == "timeout_seconds"
    assert "100" in r.json["detail"]
    assert api.post("/tasks", {"template": "nap", "timeout_seconds": 100}).status == 202
