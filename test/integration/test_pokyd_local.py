"""The local launcher: processes under pokyd's supervisor (no shell), exit codes, the queue past
max_running, cancel (SIGTERM), timeouts, a command that can't run, logs, and restarts while a
task runs (re-adopted, or judged from the status file, or lost: never stuck).
"""
import os
import signal
import time

import pytest

pytest.register_assert_rewrite("pokyd")
from pokyd import local_template, module_factory, wait_for, wait_task  # noqa: E402

pytest_plugins = ["pokyd"]      # fixtures: fake_ecs, fake_s3, pokyd_factory, openapi ...


STUBBORN = """import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(60)
"""


@pytest.fixture(scope="module")
def daemon(bindir, tmp_path_factory, fake_ecs_server, fake_s3_server):
    f = module_factory(bindir, tmp_path_factory, fake_ecs_server, fake_s3_server, "local")
    script = f.base / "stubborn.py"
    script.write_text(STUBBORN)
    d = f.new({
        "true": local_template("/bin/true"),
        "false": local_template("/bin/false"),
        "sleep": local_template("/bin/sleep 30", kill_grace=1),
        "one": local_template("/bin/sleep 30", max_running=1, kill_grace=1),
        "stubborn": local_template("/usr/bin/python3 " + str(script), kill_grace=1),
        "short": local_template("/bin/sleep 30", timeout=1, kill_grace=1),
        "missing": local_template("/nonexistent/bin/poky-task"),
        "args": local_template("/bin/echo one two  three"),
    })
    yield d
    f.close()


@pytest.fixture
def api(daemon):
    return daemon.client()


def test_exit_0_is_succeeded(api):
    rec = api.submit("true")
    done = wait_task(api, rec["id"], "succeeded")
    assert done["exit_code"] == 0 and done["reason"] is None
    assert done["local"]["pid"] > 0


@pytest.mark.parametrize("template,code", [("false", 1)])
def test_nonzero_exit_is_failed(api, template, code):
    rec = api.submit(template)
    done = wait_task(api, rec["id"], "failed")
    assert done["exit_code"] == code
    assert done["reason"] == "exited with status %d" % code


def test_command_words_are_arguments_not_a_shell(api):
    rec = api.submit("args")
    wait_task(api, rec["id"], "succeeded")
    assert api.get("/tasks/%s/logs" % rec["id"]).text == "one two three\n"


def test_bad_command_path_fails_with_a_reason(api):
    r = api.post("/tasks", {"template": "missing"})
    assert r.status == 202, r
    done = wait_task(api, r.json["id"], "failed")
    assert done["reason"] == "cannot run the command: No such file or directory"
    assert done["exit_code"] is None
    log = api.get("/tasks/%s/logs" % r.json["id"]).text
    assert "cannot run '/nonexistent/bin/poky-task'" in log


def test_cancel_running_task_sends_sigterm(api, daemon):
    rec = api.submit("sleep")
    run = wait_task(api, rec["id"], "running")
    pid = run["local"]["pid"]
    assert api.delete("/tasks/" + rec["id"]).status == 202
    done = wait_task(api, rec["id"], "cancelled")
    assert done["reason"] == "cancelled through the Poky API by anonymous"
    # The supervisor is gone (reaped), and so is the command it ran.
    wait_for(lambda: not os.path.exists("/proc/%d" % pid), what="supervisor reaped")
    assert supervisor_of(daemon.state_dir, rec["id"]) is None


def test_cancel_escalates_to_sigkill_after_the_grace(api):
    rec = api.submit("stubborn")
    wait_task(api, rec["id"], "running")
    wait_for(lambda: "ready" in api.get("/tasks/%s/logs" % rec["id"]).text, what="handler set")
    t0 = time.monotonic()
    assert api.delete("/tasks/" + rec["id"]).status == 202
    done = wait_task(api, rec["id"], "cancelled", timeout=15)
    assert time.monotonic() - t0 >= 0.9         # kill_grace = 1
    assert done["reason"] == "cancelled through the Poky API by anonymous"


def test_cancel_right_after_submit_is_never_lost(api):
    """A cancel that reaches the supervisor before it is ready must still end the task as
    cancelled (it used to kill the supervisor and leave the command running)."""
    ids = [api.submit("sleep")["id"] for _ in range(4)]
    for i in ids:
        assert api.delete("/tasks/" + i).status == 202
    for i in ids:
        assert wait_task(api, i, "cancelled")["status"] == "cancelled"


def test_queue_past_max_running(api):
    a = api.submit("one")
    wait_task(api, a["id"], "running")
    b = api.submit("one")
    c = api.submit("one")
    assert b["status"] == "queued" and c["status"] == "queued"
    assert api.get("/tasks/" + b["id"]).json["started_at"] is None
    listed = api.get("/tasks?template=one&status=queued").json["tasks"]
    assert {t["id"] for t in listed} == {b["id"], c["id"]}
    # A queued task is cancelled at once, never started.
    r = api.delete("/tasks/" + c["id"])
    assert r.status == 202 and r.json["status"] == "cancelled"
    assert r.json["started_at"] is None
    # When the slot frees, the next in line runs.
    assert api.delete("/tasks/" + a["id"]).status == 202
    wait_task(api, a["id"], "cancelled")
    run = wait_task(api, b["id"], "running")
    assert run["started_at"]
    assert api.get("/tasks/" + c["id"]).json["status"] == "cancelled"
    api.delete("/tasks/" + b["id"])
    wait_task(api, b["id"], "cancelled")


def test_queue_runs_in_order(api):
    first = api.submit("one")
    wait_task(api, first["id"], "running")
    later = [api.submit("one")["id"] for _ in range(3)]
    for i, tid in enumerate(later):
        prev = first["id"] if i == 0 else later[i - 1]
        api.delete("/tasks/" + prev)
        wait_task(api, prev, "cancelled")
        wait_task(api, tid, "running")
        for other in later[i + 1:]:
            assert api.get("/tasks/" + other).json["status"] == "queued"
    api.delete("/tasks/" + later[-1])
    wait_task(api, later[-1], "cancelled")


def test_timeout_stops_the_process(api):
    rec = api.submit("short")
    assert rec["timeout_seconds"] == 1
    done = wait_task(api, rec["id"], "failed", timeout=15)
    assert done["reason"] == "timeout after 1 s"


def test_request_timeout_cannot_exceed_the_templates(api):
    # Over the template's limit is refused, naming it (it used to be clamped silently).
    r = api.post("/tasks", {"template": "short", "timeout_seconds": 600})
    assert r.status == 400, r
    assert r.json["errors"][0]["field"] == "timeout_seconds"
    assert "at most 1" in r.json["detail"]
    rec = api.submit("short", timeout_seconds=1)
    assert rec["timeout_seconds"] == 1
    api.delete("/tasks/" + rec["id"])
    rec = api.submit("sleep", timeout_seconds=1)
    assert rec["timeout_seconds"] == 1
    assert wait_task(api, rec["id"], "failed")["reason"] == "timeout after 1 s"


def test_logs_of_a_task_that_has_not_run_are_empty(api):
    a = api.submit("one")
    b = api.submit("one")
    assert b["status"] == "queued"
    r = api.get("/tasks/%s/logs" % b["id"])
    assert r.status == 200 and r.body == b""
    api.delete("/tasks/" + b["id"])
    api.delete("/tasks/" + a["id"])
    wait_task(api, a["id"], "cancelled")


# --------------------------------------------------------------------------- restarts

def processes():
    """{pid: (ppid, argv)} of every process now."""
    out = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            with open("/proc/%s/cmdline" % p, "rb") as fh:
                argv = fh.read().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        out[int(p)] = (ppid, argv)
    return out


def supervisor_of(state_dir, task_id):
    """The pid of the task's supervisor (not its child between fork and exec, which has the
    same command line for a moment)."""
    procs = processes()
    sup = {pid for pid, (_, argv) in procs.items()
           if b"--supervise" in argv and task_id.encode() in argv}
    top = [pid for pid in sup if procs[pid][0] not in sup]
    return top[0] if top else None


def command_of(supervisor):
    """The pid of the command a supervisor runs, once it has been exec'ed."""
    for pid, (ppid, argv) in processes().items():
        if ppid == supervisor and b"--supervise" not in argv:
            return pid
    return None


def test_restart_readopts_a_running_task(pokyd_factory):
    d = pokyd_factory.new({"sleep": local_template("/bin/sleep 30", kill_grace=1)})
    api = d.client()
    rec = api.submit("sleep")
    wait_task(api, rec["id"], "running")
    d.restart()
    api = d.client()
    assert api.get("/tasks/" + rec["id"]).json["status"] == "running"
    d.wait_log(r"task %s: re-adopted running process" % rec["id"])
    # Still under control: a cancel reaches it, and its end is seen.
    assert api.delete("/tasks/" + rec["id"]).status == 202
    done = wait_task(api, rec["id"], "cancelled")
    assert done["reason"] == "cancelled through the Poky API by anonymous"


def test_restart_sees_how_a_task_ended_while_pokyd_was_down(pokyd_factory):
    d = pokyd_factory.new({"sleep": local_template("/bin/sleep 30", kill_grace=1)})
    api = d.client()
    rec = api.submit("sleep")
    wait_task(api, rec["id"], "running")
    sup = wait_for(lambda: supervisor_of(d.state_dir, rec["id"]), what="supervisor")
    d.stop()
    # The command dies while nobody watches; its supervisor writes the status file.
    cmd = wait_for(lambda: command_of(sup), what="the command under the supervisor")
    os.kill(cmd, signal.SIGKILL)
    wait_for(lambda: (d.state_dir / "logs" / (rec["id"] + ".status")).exists(),
             what="status file")
    d.start()
    done = wait_task(d.client(), rec["id"], "failed")
    assert done["reason"] == "killed by signal 9 (Killed)"


def test_restart_after_the_supervisor_vanished_is_lost(pokyd_factory):
    d = pokyd_factory.new({"sleep": local_template("/bin/sleep 30", kill_grace=1)})
    api = d.client()
    rec = api.submit("sleep")
    wait_task(api, rec["id"], "running")
    sup = wait_for(lambda: supervisor_of(d.state_dir, rec["id"]), what="supervisor")
    cmd = wait_for(lambda: command_of(sup), what="the command under the supervisor")
    d.stop()
    os.kill(sup, signal.SIGKILL)
    os.kill(cmd, signal.SIGKILL)
    d.start()
    done = wait_task(d.client(), rec["id"], "lost")
    assert done["reason"] == "its process was gone after pokyd restarted"


def test_supervisor_killed_while_adopted_is_lost_not_stuck(pokyd_factory):
    d = pokyd_factory.new({"sleep": local_template("/bin/sleep 30", kill_grace=1)})
    api = d.client()
    rec = api.submit("sleep")
    wait_task(api, rec["id"], "running")
    d.restart()
    sup = wait_for(lambda: supervisor_of(d.state_dir, rec["id"]), what="supervisor")
    cmd = wait_for(lambda: command_of(sup), what="the command under the supervisor")
    os.kill(sup, signal.SIGKILL)
    os.kill(cmd, signal.SIGKILL)
    done = wait_task(d.client(), rec["id"], "lost", timeout=10)
    assert done["reason"] == "its supervisor ended without an exit status"


def test_restart_starts_what_was_queued(pokyd_factory):
    d = pokyd_factory.new({"one": local_template("/bin/sleep 30", max_running=1,
                                                 kill_grace=1)})
    api = d.client()
    a = api.submit("one")
    b = api.submit("one")
    assert b["status"] == "queued"
    d.stop()
    sup = wait_for(lambda: supervisor_of(d.state_dir, a["id"]), what="supervisor")
    wait_for(lambda: command_of(sup), what="the command under the supervisor")
    os.kill(sup, signal.SIGTERM)
    wait_for(lambda: (d.state_dir / "logs" / (a["id"] + ".status")).exists(),
             what="status file")
    d.start()
    api = d.client()
    assert wait_task(api, a["id"], "failed")["reason"] == "killed by signal 15 (Terminated)"
    wait_task(api, b["id"], "running")
    api.delete("/tasks/" + b["id"])
    wait_task(api, b["id"], "cancelled")
