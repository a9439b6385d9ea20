"""`make run` as the first command on a bare Debian 12, in a fresh container.

test_make_run.py runs it in a clone on this machine, where every package is already
installed; that hides a Makefile that needs its -dev packages before it is parsed. Here
the clone (what git tracks or would track: no build/) goes into a new container from the local
debootstrapped base (no compiler, no -dev package), which gets only what the README's
quick start asks for before `make run` (make, and curl for its examples), as root. Then
`make run` must install the rest, build and serve, and the README's sample task must
succeed through it: POST /tasks, and the original's POST /process_file.

Bounded: about 1-3 min of apt-get and a build on 2 cores; fails at 8 min.
"""
import json
import re
import shutil
import time
import uuid

import pytest

import readme
from containers import CA_IN_CONTAINER, apt_args, base_image, clean_tree, podman, podman_env

DEADLINE = 480

# The quick start's first block, read from README.md (readme.py): `make run` and `make test`,
# one test each, as written (make test with one documented restriction, below).
README = readme.Claims("test_fresh_debian.py")
FIRST = README.block("Quick start", "make run")


def readme_command(key):
    found = [c for c in FIRST.commands if c.key == key]
    assert len(found) == 1, f"the quick start's first block is now " \
        f"{[c.key for c in FIRST.commands]}: this test runs `make run` and `make test` only"
    return found[0]


def test_the_first_block_is_what_these_tests_run():
    assert [c.key for c in FIRST.commands] == ["make run", "make test"], \
        "a command added to the quick start's first block: run it here"


def exec_sh(env, name, script, timeout=60, check=True):
    return podman(env, "exec", name, "bash", "-c", script, timeout=timeout, check=check)


@pytest.fixture
def work(tmp_path):
    if shutil.which("podman") is None or shutil.which("git") is None:
        pytest.fail("podman and git are needed (make deps)")
    return tmp_path


def test_make_run_first_on_bare_debian(work):
    env = podman_env(str(work))
    image = base_image(env)
    src = clean_tree(work / "poky")
    assert not (src / "build").exists()
    name = f"poky-fresh-{uuid.uuid4().hex[:8]}"
    # The README's quick start, as root on a machine that has only Debian itself:
    # apt-get install make (and curl for the examples), then `make run`.  -j2: the
    # 2 cores this machine shares.
    script = ("set -e; export DEBIAN_FRONTEND=noninteractive; "
              "apt-get update -q >/dev/null; "
              "apt-get install -y -q --no-install-recommends make curl >/dev/null; "
              f"cd /src; echo '==> make run'; exec {readme_command('make run').key}")
    podman(env, "run", "-d", "--name", name, *apt_args(str(work)),
           "-e", "MAKEFLAGS=-j2", "-v", f"{src}:/src", image, "bash", "-c", script)
    t0 = time.monotonic()
    try:
        while True:
            state = podman(env, "inspect", "--format", "{{.State.Running}}", name).stdout
            logs = podman(env, "logs", name, check=False)
            text = logs.stdout + logs.stderr
            assert state.strip() == "true", f"make run exited:\n{text[-4000:]}"
            if "listening on 127.0.0.1:8080" in text:
                break
            assert time.monotonic() - t0 < DEADLINE, f"not serving after {DEADLINE} s:\n" \
                + text[-4000:]
            time.sleep(2)
        served = time.monotonic() - t0

        # The README's sample, in a second terminal.
        # (Read from the README, not claimed: test_readme_commands.py runs that block.)
        second = readme.find_block("Quick start", "curl -s -X POST localhost:8080/tasks")
        p = exec_sh(env, name, second.commands[0].text)
        task = json.loads(p.stdout)["id"]
        end = time.monotonic() + 60
        while True:
            rec = json.loads(exec_sh(env, name, f"curl -s localhost:8080/tasks/{task}").stdout)
            if rec["status"] in ("succeeded", "failed", "cancelled", "lost"):
                break
            assert time.monotonic() < end, rec
            time.sleep(0.5)
        assert rec["status"] == "succeeded" and rec["exit_code"] == 0, rec
        out = exec_sh(env, name, "cd /src && ls var/buckets/test-poky-output/").stdout.split()
        assert any(re.fullmatch(r"test_file_[0-9a-f-]{36}\.txt", n) for n in out), out

        original = [c for c in second.commands
                    if c.key.startswith("curl -s -X POST localhost:8080/process_file")]
        p = exec_sh(env, name, original[0].text)
        arn = json.loads(p.stdout)["tasks"][0]["taskArn"]
        end = time.monotonic() + 60
        while json.loads(exec_sh(env, name, f"curl -s localhost:8080/tasks/{arn}")
                         .stdout)["status"] != "succeeded":
            assert time.monotonic() < end, "the /process_file task did not succeed"
            time.sleep(0.5)
        print(f"bare Debian 12: make run served after {served:.0f} s, "
              f"sample done at {time.monotonic() - t0:.0f} s")
    finally:
        podman(env, "rm", "-f", "-t", "5", name, check=False)
        # Root-owned build output of the container, inside pytest's tmp_path.
        shutil.rmtree(src, ignore_errors=True)


def test_make_test_first_on_bare_debian(work):
    """`make test` as the first command: packages, the ASan build, then the unit tests
    (--only unit: the integration suite needs containers and a network of its own, which
    this container is not; the flags problem is the same for both)."""
    env = podman_env(str(work))
    image = base_image(env)
    src = clean_tree(work / "poky")
    name = f"poky-fresh-{uuid.uuid4().hex[:8]}"
    script = ("set -e; export DEBIAN_FRONTEND=noninteractive; "
              "apt-get update -q >/dev/null; "
              "apt-get install -y -q --no-install-recommends make >/dev/null; "
              f"cd /src; exec {readme_command('make test').key} TEST_ARGS='--only unit'")
    t0 = time.monotonic()
    try:
        p = podman(env, "run", "--name", name, *apt_args(str(work)),
                   "-e", "MAKEFLAGS=-j2", "-e", f"NODE_EXTRA_CA_CERTS={CA_IN_CONTAINER}",
                   "-v", f"{src}:/src", image, "bash", "-c", script, timeout=DEADLINE,
                   check=False)
        out = p.stdout + p.stderr
        assert p.returncode == 0, out[-4000:]
        m = re.search(r"total: (\d+) passed, (\d+) failed", out)
        assert m and int(m.group(1)) > 0 and m.group(2) == "0", out[-3000:]
        print(f"bare Debian 12: make test (unit) done in {time.monotonic() - t0:.0f} s")
    finally:
        podman(env, "rm", "-f", "-t", "5", name, check=False)
        shutil.rmtree(src, ignore_errors=True)
