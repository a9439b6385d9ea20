"""Retention and backup: [store] keep_finished prunes finished records and their logs (and
nothing else), its values are checked, and `pokyd --backup` copies the task store while pokyd
takes a load of POST /tasks - a copy that opens, passes integrity_check, holds every task
acknowledged before the backup began, and restores as the README says.
"""
import sqlite3
import subprocess
import threading
import time

import pytest

pytest.register_assert_rewrite("pokyd")
from pokyd import local_template, parse_metrics, wait_for, wait_task  # noqa: E402

pytest_plugins = ["pokyd"]      # fixtures: pokyd_factory, ...

# Nothing listens on port 1: a webhook to it is retried, so it stays pending.
DEAD_HOOK = "http://127.0.0.1:1/hook"


def with_store(d, **keys):
    """Add a [store] section to d's config (before it starts)."""
    d.sections["store"] = keys
    d.write_config(d.sections)
    return d


# --------------------------------------------------------------------------- prune

def test_finished_records_and_logs_go_unfinished_and_webhook_pending_stay(pokyd_factory):
    d = pokyd_factory.new({
        "true": local_template("/bin/echo done"),
        "sleep": local_template("/bin/sleep 30", kill_grace=1),
    }, tracker={"webhook_allow": DEAD_HOOK}, start=False)
    with_store(d, keep_finished="2s", prune_interval="1s")
    d.start()
    api = d.client()
    logs = d.state_dir / "logs"

    done = [api.submit("true")["id"] for _ in range(3)]
    for tid in done:
        wait_task(api, tid, "succeeded")
        assert (logs / (tid + ".log")).read_text() == "done\n"
    running = api.submit("sleep")["id"]
    wait_task(api, running, "running")
    hooked = api.submit("true", callback_url=DEAD_HOOK)["id"]
    wait_task(api, hooked, "succeeded")

    # keep_finished 2s, a round every second: gone within a few seconds.
    wait_for(lambda: all(api.get("/tasks/" + t).status == 404 for t in done), timeout=15,
             what="the finished records pruned")
    for tid in done:
        assert not (logs / (tid + ".log")).exists()
        assert not (logs / (tid + ".status")).exists()
        assert api.get("/tasks/%s/logs" % tid).status == 404
    # A few more rounds: the others stay.
    time.sleep(3)
    rec = api.get("/tasks/" + running).json
    assert rec["status"] == "running"
    assert (logs / (running + ".log")).exists()
    rec = api.get("/tasks/" + hooked).json
    assert rec["status"] == "succeeded" and rec["callback"]["state"] == "pending", rec
    assert (logs / (hooked + ".log")).exists()

    samples, _ = parse_metrics(api.get("/metrics").text)
    assert samples[("poky_store_pruned_total", ())] == 3
    assert "retention: pruned" in d.log()

    # Once it ends, the cancelled one goes too.
    assert api.delete("/tasks/" + running).status in (200, 202)
    wait_task(api, running, "cancelled")
    wait_for(lambda: api.get("/tasks/" + running).status == 404, timeout=15,
             what="the cancelled record pruned")
    assert not (logs / (running + ".log")).exists()


def test_keep_finished_values(pokyd_factory, tmp_path):
    d = pokyd_factory.new({"true": local_template("/bin/true")}, start=False)

    def check(**keys):
        with_store(d, **keys)
        return subprocess.run([str(d.binary), "-c", str(d.config_path), "-t"],
                              capture_output=True, text=True, timeout=30)

    for good in ("30d", "12h", "90m", "3600", "3600s", "0"):
        r = check(keep_finished=good)
        assert r.returncode == 0 and "configuration OK" in r.stdout, (good, r.stderr)
    for bad in ("30x", "-1", "1.5d", "d", "+5", "5 d", "99999999999999999999", "36500000d"):
        r = check(keep_finished=bad)
        assert r.returncode != 0, bad
        assert "[store] keep_finished" in r.stderr and "duration" in r.stderr, r.stderr
    r = check(prune_interval="0")
    assert r.returncode != 0 and "[store] prune_interval" in r.stderr, r.stderr
    r = check(keep_since="1d")
    assert r.returncode != 0 and "[store] keep_since: unknown key" in r.stderr, r.stderr


# --------------------------------------------------------------------------- backup

PAD = "x" * 3000        # ~1 page a task: the store outgrows one backup step quickly


class Load:
    """Threads POSTing /tasks until stopped; every 202 is kept with the time it arrived."""

    def __init__(self, d, threads=4):
        self.d = d
        self.lock = threading.Lock()
        self.acked = []                 # (monotonic time of the 202, id)
        self.spans = []                 # (sent, answered) of every request
        self.errors = []
        self.slowest = 0.0
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]

    def run(self):
        api = self.d.client(check=False)
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                r = api.post("/tasks", {"template": "queue", "parameters": {"pad": PAD}})
            except OSError as e:
                with self.lock:
                    self.errors.append(repr(e))
                continue
            t1 = time.monotonic()
            with self.lock:
                self.slowest = max(self.slowest, t1 - t0)
                self.spans.append((t0, t1))
                if r.status == 202:
                    self.acked.append((t1, r.json["id"]))
                else:
                    self.errors.append("%d %s" % (r.status, r.body[:200]))

    def start(self):
        for t in self.threads:
            t.start()

    def count(self):
        with self.lock:
            return len(self.acked)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)


def test_backup_under_load_is_consistent_and_complete(pokyd_factory, tmp_path):
    d = pokyd_factory.new({
        # One slot, a long command: the tasks queue and nothing else runs.
        "queue": local_template("/bin/sleep 300", max_running=1, kill_grace=1,
                                **{"param.pad": "optional env=PAD max=4096"}),
    }, server={"threads": 8})
    out = tmp_path / "poky-backup.db"
    load = Load(d)
    load.start()
    try:
        wait_for(lambda: load.count() >= 2000, timeout=120, interval=0.1,
                 what="2000 tasks posted")
        with load.lock:
            before = {tid for _, tid in load.acked}
        t0 = time.monotonic()
        r = subprocess.run([str(d.binary), "-c", str(d.config_path), "--backup", str(out)],
                           capture_output=True, text=True, timeout=120)
        took = time.monotonic() - t0
        during = sum(1 for t, _ in load.acked if t0 <= t <= t0 + took)
        with load.lock:
            slowest_during = max([b - a for a, b in load.spans if b >= t0 and a <= t0 + took],
                                 default=0.0)
        time.sleep(0.5)
    finally:
        load.finish()
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("backup: %s: " % out), r.stdout
    print("%s; %.2fs, %d tasks acknowledged meanwhile, slowest POST %.3fs then, %.3fs overall"
          % (r.stdout.strip(), took, during, slowest_during, load.slowest))
    assert not load.errors, load.errors[:5]
    assert during > 0, "the load did not run during the backup"
    assert not out.with_name(out.name + ".tmp").exists()

    db = sqlite3.connect("file:%s?mode=ro" % out, uri=True)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        ids = {row[0] for row in db.execute("SELECT id FROM tasks")}
    finally:
        db.close()
    missing = before - ids
    assert not missing, "%d acknowledged tasks not in the backup, e.g. %s" % (
        len(missing), sorted(missing)[:3])

    # An existing file is refused, --force replaces it.
    r = subprocess.run([str(d.binary), "-c", str(d.config_path), "--backup", str(out)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "exists (--force replaces it)" in r.stderr, r.stderr
    r = subprocess.run([str(d.binary), "-c", str(d.config_path), "--backup", str(out),
                        "--force"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr

    # Restore, as the README says: stop, put the copy in place, drop the WAL, start.
    some = sorted(before)[0]
    d.stop()
    state = d.state_dir
    subprocess.run(["cp", str(out), str(state / "poky.db")], check=True)
    subprocess.run(["rm", "-f", str(state / "poky.db-wal"), str(state / "poky.db-shm")],
                   check=True)
    d.start()
    assert d.client().get("/tasks/" + some).status == 200


def test_backup_failures_are_clear(pokyd_factory, tmp_path):
    d = pokyd_factory.new({"true": local_template("/bin/true")}, start=False)

    def backup(*args):
        return subprocess.run([str(d.binary), "-c", str(d.config_path), "--backup"]
                              + list(args), capture_output=True, text=True, timeout=30)

    r = backup(str(tmp_path / "b.db"))
    assert r.returncode == 1 and "no task store" in r.stderr, r.stderr
    d.start()
    r = backup(str(tmp_path / "no-such-dir" / "b.db"))
    assert r.returncode == 1 and "backup failed" in r.stderr, r.stderr
    r = backup(str(d.state_dir / "poky.db"), "--force")
    assert r.returncode == 1 and "is the task store itself" in r.stderr, r.stderr


def test_readme_vacuum_converts_an_old_database(pokyd_factory):
    """A store made before auto_vacuum=INCREMENTAL: the README's command converts it, and the
    records survive."""
    d = pokyd_factory.new({"true": local_template("/bin/true")})
    tid = d.client().submit("true")["id"]
    wait_task(d.client(), tid, "succeeded")
    d.stop()
    path = d.state_dir / "poky.db"
    db = sqlite3.connect(str(path), isolation_level=None)
    db.execute("PRAGMA auto_vacuum=NONE")
    db.execute("VACUUM")
    assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    db.close()
    # As README "Retention and backup" says, with pokyd stopped:
    subprocess.run(["sqlite3", str(path), "PRAGMA auto_vacuum=INCREMENTAL; VACUUM;"],
                   check=True, timeout=60)
    db = sqlite3.connect(str(path))
    assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
    db.close()
    d.start()
    assert d.client().get("/tasks/" + tid).json["status"] == "succeeded"
