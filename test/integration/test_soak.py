"""Load: a 60-second constant-rate soak of pokyd against the fake ECS, and a short scenario under
valgrind --leak-check=full.

Both run the plain build (build/pokyd, `make all`; the fixture runs it, a no-op when fresh):
ASan's quarantine grows RSS by design and valgrind cannot run an ASan binary.

* Soak: 100 requests/s for 60 s (20 POST /tasks + 80 GETs a second), open-loop like wrk2:
  requests are scheduled at fixed times and latency is measured from the scheduled time, so a
  stall is not hidden by the client waiting.  Zero errors; pokyd's RSS sampled each second must
  stay flat: the median of the last 5 s may exceed the median of seconds 5-10 by at most
  RSS_GROWTH_MIB; p50/p99/max are printed.  Every task launched exactly once.
* valgrind: ECS and local submits, faults, idempotent replays, bad requests, a reload, then
  SIGTERM; valgrind exits 99 on any error or definite leak.
"""
import http.client
import json
import os
import shutil
import subprocess
import threading
import time

import pytest

pytest.register_assert_rewrite("pokyd")
from pokyd import (FINAL, PokydFactory, ecs_template, load_openapi,  # noqa: E402
                   local_template, wait_for, wait_task)
from conftest import ROOT  # noqa: E402

pytest_plugins = ["pokyd"]

PARAMS = {"source_bucket": "test-poky-input", "source_key": "test_file.txt",
          "output_bucket": "test-poky-output"}
RATE = 100                  # requests a second
POST_EVERY = 5              # one in five is a POST /tasks
DURATION = 60
RSS_GROWTH_MIB = 8


@pytest.fixture(scope="module")
def plain_bindir():
    """The plain build, brought up to date (make all builds only what changed)."""
    r = subprocess.run(["make", "-C", str(ROOT), "-j8", "--no-print-directory", "all"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, "make all failed:\n" + r.stdout[-2000:] + r.stderr[-2000:]
    d = ROOT / "build"
    assert (d / "pokyd").exists()
    return d


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def one(port, method, path, body=None, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_soak_60s_constant_rate(plain_bindir, tmp_path, fake_ecs_server, fake_s3_server,
                                fake_ecs):
    fake_ecs.set_config(progression=[["PENDING", 0.1], ["RUNNING", 0.2], ["STOPPED", 0.5]])
    f = PokydFactory(plain_bindir, tmp_path, fake_ecs_server.url, fake_s3_server.url,
                     load_openapi())
    try:
        d = f.new({"job": ecs_template()}, server={"threads": 8},
                  tracker={"poll_interval": 0.5})
        port = d.port
        body = json.dumps({"template": "job", "parameters": PARAMS}).encode()
        ids, errors, lat = [], [], []
        lock = threading.Lock()
        n_total = RATE * DURATION
        start = time.monotonic() + 0.5
        next_i = [0]

        def worker():
            while True:
                with lock:
                    i = next_i[0]
                    if i >= n_total:
                        return
                    next_i[0] += 1
                    known = ids[-50:] if ids else []
                due = start + i / RATE
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                try:
                    if i % POST_EVERY == 0:
                        st, data = one(port, "POST", "/tasks", body)
                        ok = st == 202
                    elif known and i % 2:
                        st, data = one(port, "GET", "/tasks/" + known[i % len(known)])
                        ok = st == 200
                    else:
                        st, data = one(port, "GET", "/tasks?limit=20")
                        ok = st == 200
                except (OSError, http.client.HTTPException) as exc:
                    st, data, ok = None, repr(exc).encode(), False
                took = time.monotonic() - due          # from the scheduled time (wrk2)
                with lock:
                    lat.append(took)
                    if not ok:
                        errors.append((i, st, data[:200]))
                    elif i % POST_EVERY == 0:
                        ids.append(json.loads(data)["id"])

        rss = []
        threads = [threading.Thread(target=worker) for _ in range(32)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            rss.append(rss_kib(d.proc.pid))
            time.sleep(1)
        for t in threads:
            t.join()

        lat.sort()
        p50, p99 = lat[len(lat) // 2], lat[int(len(lat) * 0.99)]
        base = sorted(rss[5:10])[2] / 1024
        end = sorted(rss[-5:])[2] / 1024
        print("\nsoak: %d requests in %ds at %d/s, %d errors; latency p50 %.1f ms, p99 %.1f ms, "
              "max %.1f ms; RSS %.1f MiB at 5-10 s -> %.1f MiB at the end (peak %.1f MiB)"
              % (len(lat), DURATION, RATE, len(errors), p50 * 1000, p99 * 1000,
                 lat[-1] * 1000, base, end, max(rss) / 1024))
        assert not errors, errors[:10]
        assert len(lat) == n_total
        assert p99 < 1.0, "p99 %.3f s" % p99
        assert end - base <= RSS_GROWTH_MIB, "RSS grew %.1f MiB (%.1f -> %.1f)" % (
            end - base, base, end)

        # Every accepted task finishes, launched exactly once.
        api = d.client(check=False)

        def all_final():
            page = api.get("/tasks?limit=1000&status=succeeded").json["tasks"]
            return len(page) >= min(1000, len(ids))
        wait_for(all_final, timeout=60, interval=0.5, what="soak tasks finished")
        launches = fake_ecs.launches()
        assert launches["total_tasks_created"] == len(ids)
        assert all(v == 1 for v in launches["by_client_token"].values())
        assert set(launches["by_client_token"]) == set(ids)
    finally:
        f.close()


# --------------------------------------------------------------------------- valgrind

def test_short_scenario_under_valgrind_has_no_leaks(plain_bindir, tmp_path, fake_ecs_server,
                                                    fake_s3_server, fake_ecs):
    valgrind = shutil.which("valgrind")
    assert valgrind, "valgrind is not installed"
    vglog = tmp_path / "valgrind.%p.log"
    wrapper = tmp_path / "bin" / "pokyd"
    wrapper.parent.mkdir()
    wrapper.write_text("#!/bin/sh\nexec %s --quiet --leak-check=full --show-leak-kinds=definite "
                       "--errors-for-leak-kinds=definite --error-exitcode=99 "
                       "--log-file=%s %s \"$@\"\n" % (valgrind, vglog, plain_bindir / "pokyd"))
    wrapper.chmod(0o755)
    fake_ecs.set_config(progression=[["PENDING", 0.1], ["RUNNING", 0.2], ["STOPPED", 0.4]])
    f = PokydFactory(wrapper.parent, tmp_path / "d", fake_ecs_server.url, fake_s3_server.url,
                     load_openapi())
    try:
        d = f.new({"job": ecs_template(), "true": local_template("/bin/true"),
                   "echo": local_template("/bin/echo hi")},
                  tokens={"a": "valgrind-token-0123456789"}, start=False,
                  tracker={"poll_interval": 0.2})
        d.start(timeout=120)
        exe = os.readlink("/proc/%d/exe" % d.proc.pid)
        assert "memcheck" in exe or "valgrind" in exe, "not running under valgrind: " + exe
        api = d.client(token="valgrind-token-0123456789")
        recs = [api.submit("job", PARAMS) for _ in range(5)]
        recs += [api.submit("echo") for _ in range(3)]
        fake_ecs.faults("RunTask", [{"status": 500}, {"after_processing": True,
                                                      "reset": True},
                                    {"status": 400, "type": "ThrottlingException"},
                                    {"partial": True}])
        for _ in range(3):
            r = api.post("/tasks", {"template": "job", "parameters": PARAMS}, timeout=60)
            assert r.status in (202, 502, 503), r
            if r.status == 202:
                recs.append(r.json)
        h = {"Idempotency-Key": "vg-key"}
        first = api.post("/tasks", {"template": "true"}, headers=h)
        assert first.status == 202
        assert api.post("/tasks", {"template": "true"}, headers=h).status == 200
        assert api.post("/tasks", {"template": "echo"}, headers=h).status == 409
        bad = d.client(check=False)
        assert bad.get("/tasks").status == 401
        assert api.post("/tasks", body=b"{not json", content_type="application/json",
                        check=False).status == 400
        assert api.get("/tasks/" + "x" * 3000, check=False).status == 414
        assert api.get("/metrics", check=False).status == 200
        for rec in recs:
            wait_task(api, rec["id"], FINAL, timeout=60)
        assert api.get("/tasks/%s/logs" % recs[5]["id"]).status == 200
        assert d.reload() == "reloaded"
        rc = d.stop(timeout=120, check=False)
        logs = "".join(p.read_text(errors="replace") for p in tmp_path.glob("valgrind.*.log"))
        print("\nvalgrind:\n" + (logs[-3000:] or "(no report)"))
        assert list(tmp_path.glob("valgrind.*.log")), "valgrind wrote no log file"
        assert rc == 0, "pokyd under valgrind exited %s:\n%s" % (rc, logs[-5000:])
        assert "definitely lost" not in logs or "definitely lost: 0 bytes" in logs, logs[-5000:]
        assert "Invalid read" not in logs and "Invalid write" not in logs, logs[-5000:]
    finally:
        f.close()
