"""The README's run command, as a newcomer runs it: `make run` in a fresh clone.

The clone builds from nothing, pokyd serves config/pokyd.local.ini on
127.0.0.1:8080, and the sample task of the README (POST /tasks, then poll, then the
log, then the renamed file in the output folder) and the original's POST
/process_file both complete. Bounded in time; pokyd is stopped with SIGINT like a
Ctrl-C, and must exit 0.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import ROOT

BASE = "http://127.0.0.1:8080"


def port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def call(method, path, body=None, form=None, timeout=10):
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    elif form is not None:
        data = form.encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(BASE + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_final(task_id, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        status, body = call("GET", "/tasks/" + task_id)
        rec = json.loads(body)
        if rec["status"] in ("succeeded", "failed", "cancelled", "lost"):
            return rec
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} did not finish: {rec}")


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    if shutil.which("git") is None:
        pytest.fail("git is needed to clone the repository")
    dest = tmp_path_factory.mktemp("clone") / "poky"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(dest)], check=True, timeout=120)
    # The work tree as it is now, so the test checks this code, not the last commit.
    subprocess.run(["rsync", "-a", "--exclude", ".git", "--exclude", "build",
                    "--exclude", "var", "--exclude", "node_modules", f"{ROOT}/", f"{dest}/"],
                   check=True, timeout=120)
    return dest


def test_make_run_serves_and_completes_the_sample(clone):
    assert port_free(8080), "127.0.0.1:8080 is in use: stop whatever listens there"
    log = open(clone / "make-run.log", "w")
    proc = subprocess.Popen(["make", "--no-print-directory", "-j2", "run"], cwd=clone,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        end = time.monotonic() + 600          # a cold build of everything fits in this
        while time.monotonic() < end:
            assert proc.poll() is None, (clone / "make-run.log").read_text()[-3000:]
            try:
                if call("GET", "/healthz", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            raise AssertionError("make run did not serve /healthz in 600 s")

        assert (clone / "var/buckets/test-poky-input/test_file.txt").exists()
        status, body = call("POST", "/tasks", {"template": "process_file", "parameters": {
            "source_bucket": "test-poky-input", "source_key": "test_file.txt",
            "output_bucket": "test-poky-output"}})
        assert status == 202, body
        rec = wait_final(json.loads(body)["id"])
        assert rec["status"] == "succeeded" and rec["exit_code"] == 0, rec
        status, logtext = call("GET", f"/tasks/{rec['id']}/logs")
        assert status == 200
        line = json.loads(logtext.decode().strip().splitlines()[-1])
        assert line["strategy"] == "local" and line["bytes"] > 0
        out = os.listdir(clone / "var/buckets/test-poky-output")
        assert any(re.fullmatch(r"test_file_[0-9a-f-]{36}\.txt", n) for n in out), out

        status, body = call("POST", "/process_file", form="source_bucket=test-poky-input"
                            "&source_key=test_file.txt&output_bucket=test-poky-output")
        assert status == 200, body
        env = json.loads(body)["tasks"][0]["overrides"]["containerOverrides"][0]["environment"]
        assert [e["name"] for e in env][:3] == ["SOURCE_BUCKET", "SOURCE_KEY", "OUTPUT_BUCKET"]
        task_id = json.loads(body)["tasks"][0]["taskArn"]
        assert wait_final(task_id)["status"] == "succeeded"
        assert len(os.listdir(clone / "var/buckets/test-poky-output")) == 2
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)     # Ctrl-C in the terminal
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
    text = (clone / "make-run.log").read_text()
    assert "listening on 127.0.0.1:8080" in text, text[-3000:]
    assert "draining requests and stopping" in text, text[-3000:]
