"""poky, the command line client, against a live pokyd in local mode: every command, the exit
status for each final status of a task, --output json held against the OpenAPI schemas, the
token from the environment and from the config file, usage errors and an unreachable server.
A small fake server checks the fallback from the watch long-poll to polling with backoff.
"""
import http.server
import json
import os
import socket
import subprocess
import threading
import time

import pytest

pytest.register_assert_rewrite("pokyd")
from pokyd import (load_openapi, local_template, module_factory, sanitizer_report,  # noqa: E402
                   wait_task)

pytest_plugins = ["pokyd"]

TOKEN = "cli-test-token-6f1d2c"

# Exit statuses documented in docs/man/poky.1.
EXIT_USAGE, EXIT_SERVER, EXIT_CANCELLED, EXIT_LOST, EXIT_TIMEOUT = 64, 69, 122, 123, 124

SCRIPTS = {
    "hello.sh": 'echo "hello $NAME"\n',
    "exit.sh": 'echo "exiting $CODE"\nexit "$CODE"\n',
    "chatty.sh": 'for i in 1 2 3; do echo "line $i"; sleep 0.7; done\n',
}


@pytest.fixture(scope="module")
def daemon(bindir, tmp_path_factory, fake_ecs_server, fake_s3_server):
    f = module_factory(bindir, tmp_path_factory, fake_ecs_server, fake_s3_server, "cli")
    for name, text in SCRIPTS.items():
        (f.base / name).write_text(text)
    d = f.new({
        "hello": local_template("/bin/sh " + str(f.base / "hello.sh"),
                                **{"param.name": "optional env=NAME max=64 default=world"}),
        "exit": local_template("/bin/sh " + str(f.base / "exit.sh"),
                               **{"param.code": "required env=CODE max=3 pattern=^[0-9]+$"}),
        "chatty": local_template("/bin/sh " + str(f.base / "chatty.sh")),
        "slow": local_template("/bin/sleep 30", kill_grace=1),
    }, tokens={"cli": TOKEN})
    yield d
    f.close()


@pytest.fixture
def api(daemon):
    return daemon.client(token=TOKEN)


@pytest.fixture
def cli(bindir, daemon, tmp_path):
    """poky(args, env=..., url=...) -> CompletedProcess; the token never shows in its output and
    the sanitizers stay quiet."""
    xdg = tmp_path / "xdg"
    xdg.mkdir()

    def run(*args, env=None, url=None, token=TOKEN, timeout=60):
        e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
             "XDG_CONFIG_HOME": str(xdg),
             "POKY_URL": url or "http://127.0.0.1:%d" % daemon.port}
        if token is not None:
            e["POKY_TOKEN"] = token
        for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if name in os.environ:
                e[name] = os.environ[name]
        for k, v in (env or {}).items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        p = subprocess.run([str(bindir / "poky")] + list(args), env=e, capture_output=True,
                           text=True, timeout=timeout)
        report = sanitizer_report(p.stderr)
        assert report is None, "sanitizer report from poky:\n" + report
        assert TOKEN not in p.stdout and TOKEN not in p.stderr, "the token was printed"
        return p
    run.xdg = xdg
    return run


def schema_check(instance, name):
    load_openapi().validate(instance, {"$ref": "#/components/schemas/" + name}, "poky " + name)


# --------------------------------------------------------------------------- exit statuses

def test_run_wait_succeeded_exits_0(cli):
    p = cli("run", "hello", "name=poky", "--wait")
    assert p.returncode == 0, p
    task_id, status = p.stdout.split("\t")[:2]
    assert status.strip() == "succeeded"
    # Piped stderr: plain lines, one per status seen, no terminal escapes.
    assert "\r" not in p.stderr and "\033" not in p.stderr
    assert p.stderr.splitlines()[-1] == task_id + " succeeded", p.stderr


def test_run_wait_failed_exits_with_the_task_exit_code(cli):
    p = cli("run", "exit", "code=3", "--wait")
    assert p.returncode == 3, p
    assert "\tfailed\texit=3" in p.stdout


def test_run_wait_json_is_the_final_task_record(cli):
    p = cli("--output", "json", "run", "exit", "code=5", "--wait")
    assert p.returncode == 5, p
    rec = json.loads(p.stdout)
    schema_check(rec, "Task")
    assert rec["status"] == "failed" and rec["exit_code"] == 5
    assert rec["parameters"] == {"code": "5"}


def test_cancelled_task_exits_122(cli, api):
    p = cli("run", "slow")
    assert p.returncode == 0, p
    task_id = p.stdout.strip()
    wait_task(api, task_id, "running")
    c = cli("cancel", task_id, "-o", "json")
    assert c.returncode == 0, c
    schema_check(json.loads(c.stdout), "Task")
    w = cli("wait", task_id, "--timeout", "20s")
    assert w.returncode == EXIT_CANCELLED, w
    assert "\tcancelled" in w.stdout
    again = cli("cancel", task_id)
    assert again.returncode == EXIT_USAGE and "409" in again.stderr, again


def test_wait_timeout_exits_124(cli, api):
    task_id = cli("run", "slow").stdout.strip()
    t0 = time.monotonic()
    w = cli("wait", task_id, "--timeout", "1500ms")
    took = time.monotonic() - t0
    assert w.returncode == EXIT_TIMEOUT, w
    assert "timed out" in w.stderr
    assert took < 8, took
    assert cli("cancel", task_id).returncode == 0


def test_run_timeout_without_wait_is_a_usage_error(cli):
    p = cli("run", "hello", "--timeout", "5s")
    assert p.returncode == EXIT_USAGE and "--task-timeout" in p.stderr, p


# --------------------------------------------------------------------------- other commands

def test_get_ls_templates_json_match_the_schemas(cli):
    task_id = cli("run", "hello", "--wait").stdout.split("\t")[0]
    g = cli("get", task_id, "--output=json")
    assert g.returncode == 0, g
    schema_check(json.loads(g.stdout), "Task")
    t = cli("get", task_id)
    assert "status:      succeeded" in t.stdout and "param:       name=world" in t.stdout

    ls = cli("ls", "--template", "hello", "--status", "succeeded", "--limit", "5", "-o", "json")
    assert ls.returncode == 0, ls
    page = json.loads(ls.stdout)
    schema_check(page, "TaskList")
    assert page["tasks"] and len(page["tasks"]) <= 5
    assert all(x["template"] == "hello" and x["status"] == "succeeded" for x in page["tasks"])
    table = cli("ls", "--template", "hello")
    assert table.stdout.startswith("ID ") and task_id in table.stdout

    tl = cli("templates", "-o", "json")
    schema_check(json.loads(tl.stdout), "TemplateList")
    one = cli("templates", "exit", "-o", "json")
    schema_check(json.loads(one.stdout), "Template")
    assert "param:    code (required" in cli("templates", "exit").stdout
    assert "chatty" in cli("templates").stdout


def test_ls_bad_status_is_a_client_error(cli):
    p = cli("ls", "--status", "sleeping")
    assert p.returncode == EXIT_USAGE and "status: not a task status" in p.stderr, p


def test_logs_and_logs_follow_print_each_byte_once(cli):
    task_id = cli("run", "chatty").stdout.strip()
    f = cli("logs", "-f", task_id)
    assert f.returncode == 0, f
    assert f.stdout == "line 1\nline 2\nline 3\n"
    p = cli("logs", task_id)
    assert p.returncode == 0 and p.stdout == f.stdout


def test_run_logs_streams_the_output_then_mirrors_the_status(cli):
    p = cli("run", "exit", "code=4", "--logs")
    assert p.returncode == 4, p
    assert p.stdout == "exiting 4\n"
    assert "\tfailed\texit=4" in p.stderr


def test_idempotency_key_replays_the_same_task(cli):
    a = cli("run", "hello", "--idempotency-key", "cli-idem-1")
    b = cli("run", "hello", "--idempotency-key", "cli-idem-1")
    assert a.returncode == b.returncode == 0
    assert a.stdout == b.stdout and len(a.stdout.strip()) == 36


def test_unknown_task_and_template_are_client_errors(cli):
    g = cli("get", "0190a0a0-0000-7000-8000-000000000000")
    assert g.returncode == EXIT_USAGE and "HTTP 404" in g.stderr, g
    r = cli("run", "nope")
    assert r.returncode == EXIT_USAGE and r.stderr.startswith("poky: HTTP 4"), r
    m = cli("run", "exit")
    assert m.returncode == EXIT_USAGE and "code" in m.stderr, m


# --------------------------------------------------------------------------- token and config

def test_missing_token_is_a_client_error(cli):
    p = cli("ls", token=None)
    assert p.returncode == EXIT_USAGE and "HTTP 401" in p.stderr, p


def test_token_from_a_private_config_file(cli, daemon):
    d = cli.xdg / "poky"
    d.mkdir()
    conf = d / "config"
    conf.write_text("# poky\nurl = http://127.0.0.1:%d/\ntoken = %s\n" % (daemon.port, TOKEN))
    conf.chmod(0o600)
    p = cli("templates", token=None, env={"POKY_URL": None})
    assert p.returncode == 0, p
    assert "hello" in p.stdout


def test_config_file_readable_by_others_is_refused(cli, daemon):
    d = cli.xdg / "poky"
    d.mkdir()
    conf = d / "config"
    conf.write_text("url = http://127.0.0.1:%d\ntoken = %s\n" % (daemon.port, TOKEN))
    conf.chmod(0o644)
    p = cli("templates", token=None)
    assert p.returncode == EXIT_USAGE, p
    assert "chmod 600" in p.stderr and p.stdout == ""


# --------------------------------------------------------------------------- usage and network

@pytest.mark.parametrize("args,needle", [
    ((), "usage:"),
    (("frobnicate",), "unknown command"),
    (("run",), "which template"),
    (("run", "hello", "novalue"), "not key=value"),
    (("run", "hello", "a=1", "a=2"), "given twice"),
    (("get",), "one task id"),
    (("--output", "yaml", "ls"), "table or json"),
    (("wait", "x", "--timeout", "soon"), "not a duration"),
    (("ls", "--wait"), "unknown option"),
    (("ls", "--limit"), "needs a value"),
])
def test_bad_usage_exits_64_with_a_message(cli, args, needle):
    p = cli(*args)
    assert p.returncode == EXIT_USAGE, p
    assert needle in p.stderr and p.stdout == "", p


def test_unreachable_server_is_a_network_error(cli):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                   # nothing listens there now
    p = cli("ls", url="http://127.0.0.1:%d" % port)
    assert p.returncode == EXIT_SERVER, p
    assert "cannot talk to" in p.stderr


def test_bad_url_scheme_is_a_usage_error(cli):
    p = cli("ls", url="ftp://127.0.0.1:1")
    assert p.returncode == EXIT_USAGE and "http://" in p.stderr, p


# --------------------------------------------------------------------------- watch fallback

class OldServer(http.server.ThreadingHTTPServer):
    """Serves one task that turns succeeded after `run_for` seconds; without the watch API,
    either refusing `wait` with a 400 or ignoring it.  Counts the GETs of the task."""
    daemon_threads = True

    def __init__(self, mode, run_for):
        self.mode, self.run_for, self.t0 = mode, run_for, time.monotonic()
        self.gets = []
        super().__init__(("127.0.0.1", 0), OldHandler)

    def record(self):
        done = time.monotonic() - self.t0 > self.run_for
        return {"id": "0190a0a0-0000-7000-8000-00000000abcd", "template": "t",
                "status": "succeeded" if done else "running", "launcher": "local",
                "parameters": {}, "created_at": "2026-01-01T00:00:00Z",
                "updated_at": "2026-01-01T00:00:01Z", "started_at": "2026-01-01T00:00:01Z",
                "finished_at": None, "exit_code": 0 if done else None, "reason": None,
                "timeout_seconds": None}


class OldHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        self.server.gets.append((time.monotonic(), self.path))
        if "wait=" in self.path and self.server.mode == "refuses":
            body, status, ctype = json.dumps({
                "type": "urn:poky:problem:validation", "title": "Invalid query",
                "status": 400, "detail": "unknown parameter",
                "errors": [{"field": "wait", "message": "unknown"}]}), 400, \
                "application/problem+json"
        else:
            body, status, ctype = json.dumps(self.server.record()), 200, "application/json"
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.mark.parametrize("mode", ["refuses", "ignores"])
def test_wait_falls_back_to_polling_with_backoff(cli, mode):
    srv = OldServer(mode, run_for=4.0)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        p = cli("wait", "0190a0a0-0000-7000-8000-00000000abcd",
                url="http://127.0.0.1:%d" % srv.server_address[1])
    finally:
        srv.shutdown()
        srv.server_close()
    assert p.returncode == 0, p
    times = [t for t, _ in srv.gets]
    # 4 s of a running task: a long-poll try, then polls 0.5, 1, 2 s apart (not a tight loop).
    assert 3 <= len(times) <= 7, srv.gets
    gaps = [b - a for a, b in zip(times[2:], times[3:])]
    assert all(g >= 0.4 for g in gaps), gaps
    assert gaps == sorted(gaps) or len(gaps) < 2, gaps     # backing off, never shorter


# --------------------------------------------------------------------------- man page, completion

def test_man_page_lints_clean():
    from conftest import ROOT
    p = subprocess.run(["mandoc", "-Tlint", "-Wwarning", str(ROOT / "docs/man/poky.1")],
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout == "", p.stdout + p.stderr


def test_bash_completion_offers_commands_and_statuses():
    from conftest import ROOT
    script = ("source %s; COMP_WORDS=(poky ca); COMP_CWORD=1; _poky; echo ${COMPREPLY[@]}; "
              "COMP_WORDS=(poky ls --status ru); COMP_CWORD=3; _poky; echo ${COMPREPLY[@]}"
              % (ROOT / "config/poky.bash-completion"))
    p = subprocess.run(["/bin/bash", "-c", script], capture_output=True, text=True,
                       env={"PATH": "/nonexistent"})
    assert p.returncode == 0 and p.stdout.split("\n")[:2] == ["cancel", "running"], p
