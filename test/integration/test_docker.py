"""The docker launcher against a real Docker Engine API: podman's (`podman system service` on a
unix socket), which speaks the Docker-compatible API v1.41 and runs containers with runc.

A module fixture starts the service with a private CONTAINERS_CONF (what this kind of sandbox
needs: ../shared/TESTING.md) and builds a tiny image, poky-test-sh:test, FROM the local
localhost/poky-base:bookworm base (test/images.sh makes that base with debootstrap when it is missing),
with `podman build --pull=never`: it has /bin/sh, so a template's `command` says what a task
does.  Nothing here reaches a registry; a pull is expected to fail.

Checked: exit 0 -> succeeded, exit 3 -> failed with its code, cancel -> cancelled within seconds
(stop signal, SIGKILL after kill_grace), timeout -> failed, the logs endpoint (from the engine
while a container runs, from the saved copy after it is removed), max_running and its FIFO
queue, the environment and labels of a container, engine errors as 503/502 problems, pokyd
restarts (re-adopted, judged, or lost), DOCKER_HOST, /readyz, and the v1 -> v2 task store
migration that added the container columns.
"""
import contextlib
import fcntl
import http.client
import json
import os
import pathlib
import shutil
import socket
import sqlite3
import subprocess
import time
import urllib.parse

import pytest

pytest.register_assert_rewrite("pokyd")
from pokyd import module_factory, wait_for, wait_task  # noqa: E402
from containers import CONTAINERS_CONF  # noqa: E402  (the one sandbox config)

pytest_plugins = ["pokyd"]

ROOT = pathlib.Path(__file__).resolve().parents[2]
IMAGES_SH = ROOT / "test" / "images.sh"
BASE = "localhost/poky-base:bookworm"
IMAGE = "poky-test-sh:test"
MISSING_IMAGE = "poky-no-such-image:v0"


# --------------------------------------------------------------------------- the engine

class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Engine:
    """`podman system service` on a unix socket, and a small client of its Docker API."""

    def __init__(self, workdir):
        self.workdir = pathlib.Path(workdir)
        self.sock = self.workdir / "podman.sock"
        self.conf = self.workdir / "containers.conf"
        self.conf.write_text(CONTAINERS_CONF)
        self.env = dict(os.environ, CONTAINERS_CONF=str(self.conf))
        self.proc = None

    @property
    def host(self):
        return "unix://" + str(self.sock)

    def podman(self, *args, timeout=300, check=True):
        p = subprocess.run(["podman", *args], env=self.env, capture_output=True, text=True,
                           timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("podman %s exited %d: %s" % (" ".join(args), p.returncode,
                                                              p.stderr[-2000:]))
        return p

    def start(self):
        log = open(self.workdir / "podman-service.log", "wb")
        self.proc = subprocess.Popen(["podman", "system", "service", "--time=0", self.host],
                                     env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=log, start_new_session=True)
        log.close()
        wait_for(lambda: self.ping() or self.proc.poll() is not None, timeout=30,
                 what="podman system service on " + str(self.sock))
        assert self.proc.poll() is None, (self.workdir / "podman-service.log").read_text()
        return self

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def call(self, method, path, body=None, timeout=30):
        conn = UnixHTTPConnection(str(self.sock), timeout=timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, "/v1.41" + path, body=data,
                         headers={"Content-Type": "application/json"} if data else {})
            r = conn.getresponse()
            raw = r.read()
            return r.status, (json.loads(raw) if raw and raw[:1] in b"[{" else raw)
        finally:
            conn.close()

    def ping(self):
        with contextlib.suppress(OSError):
            return self.call("GET", "/_ping", timeout=2)[0] == 200
        return False

    def inspect(self, name):
        status, body = self.call("GET", "/containers/%s/json" % name)
        return body if status == 200 else None

    def containers_of(self, task_id):
        flt = urllib.parse.quote(json.dumps({"label": ["poky.task-id=" + task_id]}))
        status, body = self.call("GET", "/containers/json?all=1&filters=" + flt)
        assert status == 200, body
        return body

    def remove(self, name):
        return self.call("DELETE", "/containers/%s?force=1" % name)[0]


def ensure_images(engine):
    """The base (test/images.sh makes it once per machine) and the tiny sh image."""
    if engine.podman("image", "exists", BASE, check=False).returncode != 0:
        p = subprocess.run(["bash", str(IMAGES_SH), "worker"], env=engine.env,
                           capture_output=True, text=True, timeout=900)
        assert p.returncode == 0, "test/images.sh failed:\n" + p.stderr[-3000:]
    ctx = engine.workdir / "image"
    ctx.mkdir(exist_ok=True)
    (ctx / "Containerfile").write_text(
        f"FROM {BASE}\n"
        "LABEL org.opencontainers.image.title=\"poky docker launcher tests\"\n")
    # One image build at a time on this machine (test/images.sh takes the same lock).
    with open("/tmp/poky-images.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        engine.podman("build", "--pull=never", "-q", "-t", IMAGE, str(ctx))
    engine.podman("rmi", "-f", MISSING_IMAGE, check=False)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed (`make deps-test` installs it)")
    e = Engine(tmp_path_factory.mktemp("podman")).start()
    try:
        ensure_images(e)
        yield e
    finally:
        e.stop()


def remove_containers(engine, daemons):
    """Every container a daemon of these tests made (found by the task ids in its store)."""
    for d in daemons:
        db = d.state_dir / "poky.db"
        if not db.exists():
            continue
        conn = sqlite3.connect(str(db))
        try:
            ids = [row[0] for row in conn.execute("SELECT id FROM tasks")]
        finally:
            conn.close()
        for task_id in ids:
            with contextlib.suppress(OSError):
                engine.remove("poky-" + task_id)


def docker_template(engine, command=None, **extra):
    t = {"launcher": "docker", "image": IMAGE, "docker_host": engine.host, "kill_grace": 1,
         "max_running": 4}
    if command is not None:
        # INI: ';' and '#' start a comment in an unquoted value; single quotes keep them.
        t["command"] = "'%s'" % json.dumps(command) if isinstance(command, list) else command
    t.update(extra)
    return t


def sh(script):
    return ["sh", "-c", script]


@pytest.fixture(scope="module")
def factory(bindir, tmp_path_factory, fake_ecs_server, fake_s3_server, engine):
    f = module_factory(bindir, tmp_path_factory, fake_ecs_server, fake_s3_server, "docker")
    yield f
    try:
        f.close()
    finally:
        remove_containers(engine, f.daemons)


@pytest.fixture(scope="module")
def daemon(factory, engine):
    return factory.new({
        "ok": docker_template(engine, sh("echo hi $GREETING; echo oops >&2; exit 0"),
                              **{"param.greeting": "optional env=GREETING default=there"}),
        "fail": docker_template(engine, sh("echo failing; exit 3")),
        "env": docker_template(engine, ["env"], remove=False,
                               **{"param.who": "required env=WHO max=64",
                                  "env.FIXED": "from the template"}),
        "sleep": docker_template(engine, "sleep 60"),
        "one": docker_template(engine, "sleep 60", max_running=1),
        "short": docker_template(engine, "sleep 60", timeout=1),
        "talk": docker_template(engine, sh("echo started; sleep 60")),
        "nap": docker_template(engine, sh("sleep 2; echo woke")),
        "words": docker_template(engine, "echo one two  three"),
        "badcmd": docker_template(engine, ["/nonexistent/poky-task"]),
        "never": docker_template(engine, image=MISSING_IMAGE, pull="never"),
        "pull": docker_template(engine, image=MISSING_IMAGE, pull="missing"),
    })


@pytest.fixture
def api(daemon):
    return daemon.client()


def logs(api, task_id):
    r = api.get("/tasks/%s/logs" % task_id)
    assert r.status == 200, r
    return r.text


# --------------------------------------------------------------------------- runs

def test_exit_0_is_succeeded_and_the_container_removed(api, engine):
    rec = api.submit("ok")
    assert rec["status"] in ("running", "succeeded")
    cid = rec["docker"]["container_id"]
    assert cid and rec["docker"]["image"] == IMAGE
    done = wait_task(api, rec["id"], "succeeded")
    assert done["exit_code"] == 0 and done["reason"] is None
    assert done["started_at"] and done["finished_at"]
    # remove = true (the default): gone from the engine, its output kept by Poky.
    wait_for(lambda: engine.inspect(cid) is None, what="container removed")
    out = logs(api, rec["id"])
    assert "hi there\n" in out and "oops\n" in out


def test_nonzero_exit_is_failed_with_its_code(api):
    rec = api.submit("fail")
    done = wait_task(api, rec["id"], "failed")
    assert done["exit_code"] == 3
    assert done["reason"] == "exited with status 3"
    assert logs(api, rec["id"]) == "failing\n"


def test_command_words_are_arguments_not_a_shell(api):
    rec = api.submit("words")
    wait_task(api, rec["id"], "succeeded")
    assert logs(api, rec["id"]) == "one two three\n"


def test_container_env_is_the_parameters_and_template_env_only(api, engine):
    rec = api.submit("env", {"who": "it's me; $(not a shell)"})
    done = wait_task(api, rec["id"], "succeeded")
    env = logs(api, rec["id"]).splitlines()
    assert "WHO=it's me; $(not a shell)" in env
    assert "FIXED=from the template" in env
    # pokyd's own environment (its AWS credentials, its HOME) never reaches a container.
    assert not [line for line in env if line.startswith("AWS_")], env
    c = engine.inspect(done["docker"]["container_id"])     # remove = false: still there
    assert c is not None
    assert c["Name"].lstrip("/") == "poky-" + rec["id"]
    assert c["Config"]["Labels"]["poky.task-id"] == rec["id"]
    assert c["Config"]["Labels"]["poky.template"] == "env"
    assert c["HostConfig"]["Privileged"] is False
    assert "no-new-privileges" in c["HostConfig"]["SecurityOpt"]
    assert engine.remove(done["docker"]["container_id"]) == 204


def test_cancel_stops_the_container_within_seconds(api, engine):
    rec = api.submit("sleep")
    run = wait_task(api, rec["id"], "running")
    cid = run["docker"]["container_id"]
    assert engine.inspect(cid)["State"]["Status"] == "running"
    t0 = time.monotonic()
    r = api.delete("/tasks/" + rec["id"])
    assert r.status == 202, r
    done = wait_task(api, rec["id"], "cancelled", timeout=10)
    # sleep as PID 1 ignores SIGTERM: SIGKILL after kill_grace = 1 ends it.
    assert time.monotonic() - t0 < 5
    assert done["reason"] == "cancelled through the Poky API by anonymous"
    wait_for(lambda: engine.inspect(cid) is None, what="container removed")
    assert api.delete("/tasks/" + rec["id"]).status == 409


def test_timeout_stops_the_container(api):
    rec = api.submit("short")
    assert rec["timeout_seconds"] == 1
    done = wait_task(api, rec["id"], "failed", timeout=15)
    assert done["reason"] == "timeout after 1 s"


def test_logs_come_from_the_engine_while_it_runs(api):
    rec = api.submit("talk")
    wait_task(api, rec["id"], "running")
    wait_for(lambda: logs(api, rec["id"]) == "started\n", what="output while running")
    api.delete("/tasks/" + rec["id"])
    wait_task(api, rec["id"], "cancelled")
    assert logs(api, rec["id"]) == "started\n"        # the saved copy


def test_queue_past_max_running(api, engine):
    a = api.submit("one")
    assert a["status"] == "running"
    b = api.submit("one")
    c = api.submit("one")
    assert b["status"] == "queued" and c["status"] == "queued"
    assert b["docker"]["container_id"] is None and b["started_at"] is None
    assert engine.containers_of(b["id"]) == []
    assert logs(api, b["id"]) == ""
    # A queued task is cancelled at once, never started.
    r = api.delete("/tasks/" + c["id"])
    assert r.status == 202 and r.json["status"] == "cancelled"
    # When the slot frees, the next in line runs.
    api.delete("/tasks/" + a["id"])
    wait_task(api, a["id"], "cancelled")
    run = wait_task(api, b["id"], "running")
    assert run["docker"]["container_id"]
    assert api.get("/tasks/" + c["id"]).json["status"] == "cancelled"
    assert engine.containers_of(c["id"]) == []
    api.delete("/tasks/" + b["id"])
    wait_task(api, b["id"], "cancelled")


def test_queue_runs_in_order(api):
    first = api.submit("one")
    later = [api.submit("one")["id"] for _ in range(3)]
    prev = first["id"]
    for i, tid in enumerate(later):
        api.delete("/tasks/" + prev)
        wait_task(api, prev, "cancelled")
        wait_task(api, tid, "running")
        for other in later[i + 1:]:
            assert api.get("/tasks/" + other).json["status"] == "queued"
        prev = tid
    api.delete("/tasks/" + prev)
    wait_task(api, prev, "cancelled")


def test_cancel_right_after_submit_is_never_lost(api):
    ids = [api.submit("sleep")["id"] for _ in range(3)]
    for i in ids:
        assert api.delete("/tasks/" + i).status == 202
    for i in ids:
        assert wait_task(api, i, "cancelled", timeout=15)["status"] == "cancelled"


def test_container_removed_outside_poky_is_lost(api, engine):
    rec = api.submit("sleep")
    run = wait_task(api, rec["id"], "running")
    assert engine.remove(run["docker"]["container_id"]) == 204
    done = wait_task(api, rec["id"], "lost")
    assert done["reason"] == "its container is gone (removed outside Poky)"


# --------------------------------------------------------------------------- engine errors

def test_a_command_the_image_lacks_is_502_with_the_engines_words(api, engine):
    r = api.post("/tasks", {"template": "badcmd"})
    assert r.status == 502, r
    assert r.json["title"] == "Task not started"
    assert "starting the container" in r.json["detail"]
    assert "/nonexistent/poky-task" in r.json["detail"]
    # Nothing kept: no record, no container.
    assert api.get("/tasks?template=badcmd").json["tasks"] == []


def test_missing_image_with_pull_never_is_502_naming_it(api):
    r = api.post("/tasks", {"template": "never"})
    assert r.status == 502, r
    assert r.media_type == "application/problem+json"
    assert MISSING_IMAGE in r.json["detail"] and "pull = never" in r.json["detail"]
    assert api.get("/tasks?template=never").json["tasks"] == []


def test_failed_pull_is_502_naming_the_image(api):
    """No registry is reachable here: the engine reports the failure inside its progress
    stream (HTTP 200), and that counts."""
    r = api.post("/tasks", {"template": "pull"})
    assert r.status == 502, r
    assert r.json["detail"].startswith("pulling image '%s' failed: " % MISSING_IMAGE)


def test_engine_unreachable_is_503(factory, engine, tmp_path):
    gone = tmp_path / "no-engine.sock"
    d = factory.new({"t": {"launcher": "docker", "image": IMAGE,
                           "docker_host": "unix://" + str(gone)}}, name="unreachable")
    try:
        api = d.client()
        r = api.post("/tasks", {"template": "t"})
        assert r.status == 503, r
        assert r.media_type == "application/problem+json"
        assert r.json["title"] == "Docker engine unavailable"
        assert str(gone) in r.json["detail"]
        assert r.header("Retry-After")
        assert api.get("/tasks?template=t").json["tasks"] == []
        ready = api.get("/readyz")
        assert ready.status == 503
        assert ready.json["checks"]["docker_engine"] is False
        assert str(gone) in ready.json["checks"]["docker_engine_error"]
    finally:
        d.close()


def test_readyz_pings_the_engine(api):
    r = api.get("/readyz")
    assert r.status == 200, r
    assert r.json["checks"]["docker_engine"] is True


def test_docker_host_comes_from_the_environment(factory, engine):
    d = factory.new({"t": {"launcher": "docker", "image": IMAGE, "command": "true"}},
                    name="envhost", env={"DOCKER_HOST": engine.host})
    try:
        api = d.client()
        rec = api.submit("t")
        assert wait_task(api, rec["id"], "succeeded")["exit_code"] == 0
    finally:
        d.close()


def test_bad_docker_settings_are_configuration_errors(factory, engine):
    cases = [
        ({"pull": "sometimes"}, "pull: 'sometimes' is not missing, always or never"),
        ({"remove": "maybe"}, "remove: 'maybe' is not true or false"),
        ({"docker_host": "ssh://host"}, "docker_host: 'ssh://host' is not unix:///PATH"),
        ({"command": "'[\"sh\", 3]'"}, "command: a command starting with '[' must be a JSON"),
    ]
    for keys, message in cases:
        d = factory.new({"t": docker_template(engine, **keys)}, start=False,
                        name="badcfg%d" % cases.index((keys, message)))
        p = subprocess.run([str(d.binary), "-c", str(d.config_path), "-t"],
                           capture_output=True, text=True, env=d.env, timeout=30)
        assert p.returncode == 1, (keys, p.stdout, p.stderr)
        assert message in p.stderr, (keys, p.stderr)


# --------------------------------------------------------------------------- restarts

def test_restart_readopts_a_running_container(factory, engine):
    d = factory.new({"nap": docker_template(engine, sh("sleep 3; echo woke"))}, name="restart")
    try:
        api = d.client()
        rec = api.submit("nap")
        assert rec["status"] == "running"
        d.restart()
        api = d.client()
        assert api.get("/tasks/" + rec["id"]).json["status"] == "running"
        d.wait_log(r"task %s: following container \w+ again" % rec["id"])
        done = wait_task(api, rec["id"], "succeeded", timeout=20)
        assert done["exit_code"] == 0
        assert logs(api, rec["id"]) == "woke\n"
    finally:
        d.close()


def test_restart_after_a_crash_judges_what_ended_meanwhile(factory, engine):
    d = factory.new({"fail": docker_template(engine, sh("sleep 1; exit 3")),
                     "sleep": docker_template(engine, "sleep 60")}, name="crash")
    try:
        api = d.client()
        fail = api.submit("fail")
        sleep = api.submit("sleep")
        # Containers start on the runner thread: be sure both run before the crash.
        wait_task(api, sleep["id"], "running")
        d.kill()                                        # SIGKILL: no clean stop
        wait_for(lambda: engine.inspect(fail["docker"]["container_id"])["State"]["Status"]
                 == "exited", timeout=15, what="container exited")
        d.start()
        api = d.client()
        done = wait_task(api, fail["id"], "failed")
        assert done["exit_code"] == 3 and done["reason"] == "exited with status 3"
        # The other one is still under control: a cancel reaches it.
        assert wait_task(api, sleep["id"], "running")["status"] == "running"
        assert api.delete("/tasks/" + sleep["id"]).status == 202
        wait_task(api, sleep["id"], "cancelled")
    finally:
        d.close()


def test_restart_with_the_container_gone_is_lost(factory, engine):
    d = factory.new({"sleep": docker_template(engine, "sleep 60")}, name="gone")
    try:
        api = d.client()
        rec = api.submit("sleep")
        d.stop()
        assert engine.remove(rec["docker"]["container_id"]) == 204
        d.start()
        done = wait_task(d.client(), rec["id"], "lost")
        assert done["reason"] == "its container is gone (removed outside Poky)"
    finally:
        d.close()


def test_restart_starts_what_was_queued(factory, engine):
    d = factory.new({"one": docker_template(engine, "sleep 60", max_running=1)}, name="queued")
    try:
        api = d.client()
        a = api.submit("one")
        b = api.submit("one")
        assert b["status"] == "queued"
        d.restart()
        api = d.client()
        api.delete("/tasks/" + a["id"])
        wait_task(api, a["id"], "cancelled")
        wait_task(api, b["id"], "running")
        api.delete("/tasks/" + b["id"])
        wait_task(api, b["id"], "cancelled")
    finally:
        d.close()


# --------------------------------------------------------------------------- the task store

def test_a_v1_task_store_gets_the_container_columns(factory, engine):
    """Schema 2 added container_id and container_image with ALTER TABLE: a v1 database keeps
    its rows and gains the columns."""
    d = factory.new({"ok": docker_template(engine, "true")}, name="migrate")
    try:
        api = d.client()
        old = api.submit("ok")
        wait_task(api, old["id"], "succeeded")
        d.stop()
        db = sqlite3.connect(str(d.state_dir / "poky.db"))
        db.execute("ALTER TABLE tasks DROP COLUMN container_id")
        db.execute("ALTER TABLE tasks DROP COLUMN container_image")
        db.execute("PRAGMA user_version=1")
        db.commit()
        db.close()
        d.start()
        api = d.client()
        kept = api.get("/tasks/" + old["id"]).json
        assert kept["status"] == "succeeded" and kept["docker"]["container_id"] is None
        new = api.submit("ok")
        assert wait_task(api, new["id"], "succeeded")["docker"]["container_id"]
        d.stop()
        db = sqlite3.connect(str(d.state_dir / "poky.db"))
        assert db.execute("PRAGMA user_version").fetchone()[0] == 4
        cols = {row[1] for row in db.execute("PRAGMA table_info(tasks)")}
        db.close()
        assert {"container_id", "container_image"} <= cols
    finally:
        d.close()


def set_record(d, task_id, **cols):
    """Change columns of a record while pokyd is stopped (what a crash at a bad moment leaves)."""
    db = sqlite3.connect(str(d.state_dir / "poky.db"))
    try:
        sets = ", ".join("%s = ?" % k for k in cols)
        db.execute("UPDATE tasks SET %s WHERE id = ?" % sets, list(cols.values()) + [task_id])
        db.commit()
    finally:
        db.close()


def create_container(engine, task_id, template, cmd):
    status, body = engine.call("POST", "/containers/create?name=poky-" + task_id, {
        "Image": IMAGE, "Cmd": cmd,
        "Labels": {"poky.task-id": task_id, "poky.template": template}})
    assert status == 201, body
    return body["Id"]


def test_restart_finds_the_container_by_its_label(factory, engine):
    d = factory.new({"nap": docker_template(engine, sh("sleep 2; echo woke"))}, name="label")
    try:
        api = d.client()
        rec = api.submit("nap")
        # the runner creates the container after the answer: wait for its id
        rec = wait_task(api, rec["id"], "running")
        assert rec["docker"]["container_id"], rec
        d.stop()
        set_record(d, rec["id"], container_id=None)
        d.start()
        d.wait_log(r"task %s: following container \(by label\) again" % rec["id"])
        done = wait_task(d.client(), rec["id"], "succeeded", timeout=20)
        assert done["docker"]["container_id"] == rec["docker"]["container_id"]
        assert logs(d.client(), rec["id"]) == "woke\n"
    finally:
        d.close()


def test_restart_starts_a_container_that_was_created_but_not_started(factory, engine):
    d = factory.new({"nap": docker_template(engine, sh("sleep 60"))}, name="created")
    try:
        api = d.client()
        rec = api.submit("nap")
        d.stop()
        # As if pokyd died between create and start: the record says starting.
        assert engine.remove(rec["docker"]["container_id"]) == 204
        cid = create_container(engine, rec["id"], "nap", ["sh", "-c", "echo late; exit 0"])
        set_record(d, rec["id"], container_id=cid, status="starting", started_at=None)
        d.start()
        done = wait_task(d.client(), rec["id"], "succeeded", timeout=20)
        assert done["docker"]["container_id"] == cid and done["started_at"]
        assert logs(d.client(), rec["id"]) == "late\n"
    finally:
        d.close()


def test_a_leftover_container_of_a_queued_task_is_made_again(factory, engine):
    """pokyd died after creating a container but before the record said so: the record is
    still queued, and the name poky-<id> is taken.  The next start replaces that container."""
    d = factory.new({"one": docker_template(engine, sh("echo fresh; sleep 60"),
                                            max_running=1)}, name="leftover")
    try:
        api = d.client()
        a = api.submit("one")
        b = api.submit("one")
        assert b["status"] == "queued"
        d.stop()
        stale = create_container(engine, b["id"], "one", ["sh", "-c", "echo stale"])
        d.start()
        api = d.client()
        api.delete("/tasks/" + a["id"])
        wait_task(api, a["id"], "cancelled")
        run = wait_task(api, b["id"], "running")
        assert run["docker"]["container_id"] != stale
        assert engine.inspect(stale) is None
        wait_for(lambda: logs(api, b["id"]) == "fresh\n", what="the new container's output")
        api.delete("/tasks/" + b["id"])
        wait_task(api, b["id"], "cancelled")
    finally:
        d.close()
