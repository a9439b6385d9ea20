"""Every shell command of README.md is run by a test, read from the README when it runs.

readme.py splits the README's ```sh blocks into commands; a test module that runs some of
them says so with a `readme.Claims`. This module runs the blocks a user runs against a pokyd
on their own machine, and checks that every README command has exactly one runner.

How they run here: as a user pastes them, one bash session per test (variables such as `T`
or `id` carry from one command to the next), in a directory laid out like the clone after
`make` / `make run` (`build/` holds the binaries under test, `config/` is the repository's,
`var/buckets/` has the sample), against a pokyd that serves `config/pokyd.local.ini` as
`make run` does. Nothing is rewritten to reach it: the session and pokyd live in a network
namespace this test creates (`unshare -n`, its loopback up), so `localhost:8080` is theirs
and no other process on this machine can collide with it or be reached.

Substitutions, the only changes made to a command (each must match, see Command.sub):
- `ID` in `/tasks/ID` → the id of the task the block submitted (the README: "use the id
  from the answer");
- `{...}` in a body's `"parameters":{...}` → the sample's parameters.
Between blocks the test does what the README says the user does: (re)starts pokyd with
`tokens_file = tokens` once the token block wrote that file, reloads it after the scopes line.

Every command must exit 0, and a curl that answers a problem (`application/problem+json`
body: `status` ≥ 400) fails unless the runner names the expected one.
"""
import importlib
import json
import os
import pathlib
import re
import select
import shutil
import signal
import subprocess
import time

import pytest

import readme
from conftest import ROOT
from pokyd import sanitizer_report

README = readme.Claims("test_readme_commands.py")
QUICK = README.block("Quick start", "curl -s -X POST localhost:8080/tasks")
TOKENS = README.block("The launch queue", "T=$(head -c 24 /dev/urandom")
SCOPES = README.block("Token scopes and ownership", "C=$(head -c 24 /dev/urandom")
CLI = README.block("The CLI: `poky`", "build/poky templates")
SIGN = README.block("`poky-sign`: SigV4 on the command line", "printf")

# README commands no test can run here, by key, with the reason (printed by the coverage
# test). Keep it as short as it is honest.
CANNOT_RUN = {}

SAMPLE = '{"source_bucket":"test-poky-input","source_key":"test_file.txt",' \
         '"output_bucket":"test-poky-output"}'
FINAL = ("succeeded", "failed", "cancelled", "lost")
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


# --------------------------------------------------------------------------- the sandbox

class Netns:
    """A network namespace of our own with its loopback up, held by a sleeping process."""

    def __init__(self):
        if shutil.which("unshare") is None or shutil.which("ip") is None:
            pytest.fail("unshare (util-linux) and ip (iproute2) are needed (make deps)")
        user = [] if os.geteuid() == 0 else ["-r"]          # a user namespace when not root
        self.holder = subprocess.Popen(
            ["unshare", *user, "-n", "--", "sh", "-c",
             "ip link set lo up && echo up && exec sleep 3600"],
            stdout=subprocess.PIPE, text=True)
        assert self.holder.stdout.readline() == "up\n", "could not make a network namespace"
        self.enter = ["nsenter", "-t", str(self.holder.pid), "-n"]
        if user:
            self.enter += ["-U", "--preserve-credentials"]

    def close(self):
        self.holder.kill()
        self.holder.wait()


class Shell:
    """One bash session inside the namespace; run() feeds it a command, as pasted."""

    def __init__(self, ns, cwd, env):
        self.cwd, self.n = pathlib.Path(cwd), 0
        (self.cwd / ".out").mkdir()
        self.proc = subprocess.Popen([*ns.enter, "bash", "--noprofile", "--norc"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     cwd=cwd, env=env, start_new_session=True)

    def run(self, text, timeout=120):
        """(exit status, stdout, stderr) of `text` run in the session."""
        self.n += 1
        out, err = self.cwd / f".out/{self.n}.out", self.cwd / f".out/{self.n}.err"
        # Braces, not a subshell: assignments stay in the session. A newline before the
        # closing brace: the command may end in a comment.
        script = f"{{ {text}\n}} </dev/null >{out} 2>{err}; echo \"@@rc $?\"\n"
        self.proc.stdin.write(script.encode())
        self.proc.stdin.flush()
        buf, end = b"", time.monotonic() + timeout
        while b"\n" not in buf:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                raise AssertionError(f"still running after {timeout} s:\n{text}")
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            assert chunk, f"the shell ended while running:\n{text}"
            buf += chunk
        m = re.match(rb"@@rc (\d+)\n", buf)
        assert m, buf
        return int(m.group(1)), out.read_text(errors="replace"), err.read_text(errors="replace")

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            # Still in a command that timed out: end the session's process group (the
            # shell leads it, so it is ours) while the shell is alive to hold its id.
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class Sandbox:
    """A clone-like directory, a namespace, a shell in it, and the pokyd the README runs."""

    def __init__(self, bindir, tmp):
        self.dir = tmp / "clone"
        (self.dir / "build").mkdir(parents=True)
        for name in ("pokyd", "poky", "poky-worker", "poky-sign"):
            (self.dir / "build" / name).symlink_to(bindir / name)
        shutil.copytree(ROOT / "config", self.dir / "config")
        # What `make run` puts in place before it serves (Makefile, target run).
        (self.dir / "var/buckets/test-poky-output").mkdir(parents=True)
        (self.dir / "var/buckets/test-poky-input").mkdir()
        (self.dir / "var/buckets/test-poky-input/test_file.txt").write_text(
            "Poky test file: copy me to the output bucket.\n")
        home = tmp / "home"
        home.mkdir()
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
                    "XDG_CONFIG_HOME": str(home / ".config"), "LANG": "C.UTF-8"}
        for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if name in os.environ:
                self.env[name] = os.environ[name]
        self.ns = Netns()
        self.shell = Shell(self.ns, self.dir, self.env)
        self.pokyd, self.runs, self.ran = None, 0, []

    # ---- pokyd, as `make run` starts it: build/pokyd -c config/pokyd.local.ini
    def start(self, config="config/pokyd.local.ini"):
        assert self.pokyd is None
        self.runs += 1
        self.log = self.dir / f"pokyd.{self.runs}.log"
        with open(self.log, "wb") as f:
            self.pokyd = subprocess.Popen([*self.ns.enter, "build/pokyd", "-c", config],
                                          stdin=subprocess.DEVNULL, stdout=f, stderr=f,
                                          cwd=self.dir, env=self.env)
        end = time.monotonic() + 20
        while "listening on 127.0.0.1:8080" not in self.log.read_text(errors="replace"):
            assert self.pokyd.poll() is None, self.log.read_text()
            assert time.monotonic() < end, self.log.read_text()
            time.sleep(0.05)

    def reload(self):
        before = self.log.read_text().count(" reloaded")
        self.pokyd.send_signal(signal.SIGHUP)
        end = time.monotonic() + 10
        while self.log.read_text().count(" reloaded") == before:
            assert "reload failed" not in self.log.read_text(), self.log.read_text()[-2000:]
            assert time.monotonic() < end, self.log.read_text()[-2000:]
            time.sleep(0.05)

    def stop(self):
        if self.pokyd is None:
            return
        p, self.pokyd = self.pokyd, None
        p.send_signal(signal.SIGTERM)
        rc = p.wait(30)
        text = self.log.read_text(errors="replace")
        report = sanitizer_report(text)
        assert report is None, report
        assert rc == 0, text[-3000:]

    # ---- running the README's commands
    def run(self, cmd, text=None, problem=None, timeout=120):
        """Runs README command `cmd` (or `text`, its substituted form) and returns its
        stdout. Exit status 0; a JSON problem answer only when `problem` names its status."""
        rc, out, err = self.shell.run(text or cmd.text, timeout)
        self.ran.append(cmd)
        assert rc == 0, f"{cmd.where()} exited {rc}:\n{text or cmd.text}\n{out[-2000:]}" \
            f"\n{err[-2000:]}"
        answer = as_json(out)
        if isinstance(answer, dict) and isinstance(answer.get("status"), int) \
                and answer.get("title"):
            assert answer["status"] == problem, f"{cmd.where()} answered a problem:\n" \
                f"{text or cmd.text}\n{out}"
        return out

    def curl(self, args):
        """The test's own look (not a README command): body of curl in the namespace."""
        p = subprocess.run([*self.ns.enter, "curl", "-s", *args], capture_output=True,
                           text=True, timeout=30, env=self.env)
        return p.stdout

    def close(self):
        try:
            self.stop()
        finally:
            if self.pokyd is not None:
                self.pokyd.kill()
            self.shell.close()
            self.ns.close()


def as_json(text):
    try:
        return json.loads(text)
    except ValueError:
        return None


def expect_all_ran(sandbox, *blocks):
    """Every command of the claimed blocks was run (a command added to one of them must
    be run here too, not just parsed)."""
    ran = {id(c) for c in sandbox.ran}
    missed = [c.where() + ": " + c.key for b in blocks for c in b.commands
              if id(c) not in ran]
    assert not missed, "README commands of a claimed block not run:\n" + "\n".join(missed)


@pytest.fixture
def sandbox(bindir, tmp_path):
    s = Sandbox(bindir, tmp_path)
    yield s
    s.close()


def wait_final(sandbox, cmd, text):
    """Runs the README's poll command until the record is final, as a user polls."""
    end = time.monotonic() + 60
    while True:
        rec = json.loads(sandbox.run(cmd, text))
        if rec["status"] in FINAL:
            return rec
        assert time.monotonic() < end, rec
        time.sleep(0.3)


def by_key(block, prefix):
    found = [c for c in block.commands if c.key.startswith(prefix)]
    assert len(found) == 1, f"{block.heading}: {len(found)} commands start with {prefix!r}"
    return found[0]


# --------------------------------------------------------------------------- the runners

def test_quick_start_and_cli(sandbox):
    """Quick start's second terminal, then the CLI block, against `make run`'s pokyd."""
    sandbox.start()
    task_id = None
    for cmd in QUICK.commands:
        if cmd.key.startswith("curl -s -X POST localhost:8080/tasks "):
            rec = json.loads(sandbox.run(cmd))
            assert rec["template"] == "process_file", rec
            task_id = rec["id"]
        elif cmd.key == "curl -s localhost:8080/tasks/ID":
            rec = wait_final(sandbox, cmd, cmd.sub("/tasks/ID", f"/tasks/{task_id}"))
            assert rec["status"] == "succeeded" and rec["exit_code"] == 0, rec
        elif cmd.key == "curl -s localhost:8080/tasks/ID/logs":
            out = sandbox.run(cmd, cmd.sub("/tasks/ID", f"/tasks/{task_id}"))
            line = json.loads(out.strip().splitlines()[-1])
            assert line["strategy"] == "local" and line["bytes"] > 0, out
        elif cmd.key.startswith("curl -s 'localhost:8080/tasks?"):
            page = json.loads(sandbox.run(cmd))
            assert task_id in [t["id"] for t in page["tasks"]], page
        elif cmd.key.startswith("ls var/buckets/test-poky-output"):
            names = sandbox.run(cmd).split()
            assert any(re.fullmatch(rf"test_file_{UUID}\.txt", n) for n in names), names
        elif cmd.key.startswith("curl -s -X POST localhost:8080/process_file"):
            answer = json.loads(sandbox.run(cmd))
            arn = answer["tasks"][0]["taskArn"]
            assert json.loads(sandbox.curl([f"localhost:8080/tasks/{arn}"]))["id"] == arn
        else:
            sandbox.run(cmd)            # a command added to the block: run as written
    assert task_id, "the quick start submits no task"

    for cmd in CLI.commands:
        out = sandbox.run(cmd, timeout=90)
        if cmd.key.startswith("build/poky templates"):
            assert "process_file" in out, out
        if cmd.key.startswith("build/poky --output json get"):
            rec = json.loads(out)
            assert rec["status"] == "succeeded" and rec["template"] == "process_file", rec
        if cmd.key.startswith("build/poky logs -f"):
            assert '"strategy":"local"' in out.replace(" ", ""), out
    expect_all_ran(sandbox, QUICK, CLI)
    sandbox.stop()


def test_token_examples(sandbox):
    """"Examples with a token" and the scopes line: the token made by the README's own
    commands is the one pokyd is given (`tokens_file = tokens`, the file they append to)."""
    # The README's configuration, with the tokens file the examples write.
    local = (sandbox.dir / "config/pokyd.local.ini").read_text()
    assert "[server]\n" in local
    (sandbox.dir / "with-tokens.ini").write_text(
        local.replace("[server]\n", "[server]\ntokens_file = tokens\n", 1))
    task_id = None
    for cmd in TOKENS.commands:
        if cmd.key.startswith("curl") and sandbox.pokyd is None:
            lines = (sandbox.dir / "tokens").read_text().splitlines()
            assert len(lines) == 1 and re.fullmatch(r"alice [0-9a-f]{64}", lines[0]), lines
            sandbox.start("with-tokens.ini")
            # Without the token: refused (so the examples' 200s are the token's doing).
            assert json.loads(sandbox.curl(["localhost:8080/templates"]))["status"] == 401
        if cmd.key.startswith("curl -s -H") and "/templates" in cmd.key:
            names = [t["name"] for t in json.loads(sandbox.run(cmd))["templates"]]
            assert "process_file" in names, names
        elif "localhost:8080/tasks -d" in cmd.key and "{...}" in cmd.text:
            rec = json.loads(sandbox.run(cmd, cmd.sub("{...}", SAMPLE)))
            assert rec["template"] == "process_file", rec
            task_id = rec["id"]
        elif cmd.key.startswith("curl -s -X DELETE"):
            # Cancelling a task that may already have succeeded: 202, or 409 once final.
            out = sandbox.run(cmd, cmd.sub("/tasks/ID", f"/tasks/{task_id}"), problem=409)
            assert json.loads(out).get("id", task_id) == task_id, out
        else:
            sandbox.run(cmd)
    assert task_id, "the token examples submit no task"
    for cmd in SCOPES.commands:
        sandbox.run(cmd)
    lines = (sandbox.dir / "tokens").read_text().splitlines()
    assert re.fullmatch(r"ci [0-9a-f]{64} submit read cancel", lines[-1]), lines
    sandbox.reload()
    # alice is still alice (admin, her task hers), whatever the scopes line added.
    look = f'curl -s -o /dev/null -w "%{{http_code}}" -H "Authorization: Bearer $T" ' \
        f'localhost:8080/tasks/{task_id}'
    assert sandbox.shell.run(look)[1] == "200", \
        f"alice's token no longer reads her task after the scopes example: {lines}"
    assert len({ln.split()[1] for ln in lines}) == len(lines), \
        f"the scopes example hashed a token already in the file: {lines}"
    # ci's token has exactly its scopes: read yes, metrics no.
    code = 'curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $C" localhost:8080'
    assert sandbox.shell.run(code + "/templates")[1] == "200"
    assert sandbox.shell.run(code + "/metrics")[1] == "403"
    expect_all_ran(sandbox, TOKENS, SCOPES)
    sandbox.stop()


def test_poky_sign_prints_what_the_readme_shows(sandbox):
    shown = readme.fenced_after(SIGN)
    for cmd in SIGN.commands:
        out = sandbox.run(cmd)
        assert out.replace("\r\n", "\n").rstrip("\n") == shown.rstrip("\n"), out
    expect_all_ran(sandbox, SIGN)


# --------------------------------------------------------------------------- coverage

def claim_holders():
    """Every test module that holds a readme.Claims, imported: {module name: Claims}."""
    holders = {}
    for path in sorted(pathlib.Path(__file__).parent.glob("test_*.py")):
        if "readme.Claims(" not in path.read_text():
            continue
        mod = importlib.import_module(path.stem)
        claims = [v for v in vars(mod).values() if isinstance(v, readme.Claims)]
        assert len(claims) == 1, f"{path.name}: {len(claims)} readme.Claims at module level"
        holders[path.stem] = claims[0]
    return holders


def coverage_errors(commands, holders, cannot_run):
    """What is wrong with who runs `commands`: unclaimed, claimed twice, stale allowlist."""
    runners = {}
    for name, claims in holders.items():
        for c in claims.commands():
            runners.setdefault((c.line, c.key), []).append(name)
    errors = []
    for c in commands:
        who = runners.get((c.line, c.key), [])
        if c.key in cannot_run:
            who = who + ["CANNOT_RUN"]
        if not who:
            errors.append(f"{c.where()}: no test runs `{c.key}`: run it in a test that "
                          "claims its block (readme.Claims), or list it in CANNOT_RUN "
                          "with the reason")
        elif len(who) > 1:
            errors.append(f"{c.where()}: `{c.key}` is claimed by {', '.join(who)}")
    keys = {c.key for c in commands}
    errors += [f"CANNOT_RUN names `{k}`, which is not in the README any more"
               for k in cannot_run if k not in keys]
    return errors


def test_every_readme_command_has_exactly_one_runner():
    commands = readme.commands()
    holders = claim_holders()
    assert len(commands) >= 30, f"only {len(commands)} commands found: is the parser broken?"
    for name, claims in sorted(holders.items()):
        print(f"{name}: {len(claims.commands())} README commands")
    for key, reason in CANNOT_RUN.items():
        print(f"not run here: `{key}`: {reason}")
    errors = coverage_errors(commands, holders, CANNOT_RUN)
    assert not errors, "\n".join(errors)


def test_a_new_unclaimed_command_is_named():
    """The check fails, naming it, for a command added to a copy of the README."""
    text = readme.README.read_text().replace(
        "## The parts", "```sh\ncurl -s localhost:8080/healthz   # new\n```\n\n## The parts", 1)
    commands = readme.commands(text)
    holders = {name: claims.on(text) for name, claims in claim_holders().items()}
    errors = coverage_errors(commands, holders, CANNOT_RUN)
    assert len(errors) == 1 and "no test runs `curl -s localhost:8080/healthz`" in errors[0] \
        and "(Quick start)" in errors[0], errors


def test_commands_are_split_as_a_shell_reads_them():
    text = "\n".join([
        "## H", "```sh", "# a comment line", "a=1  # trailing", "curl -d '{\"x\":", "  1}' \\",
        "  -H 'A: #b' u   # c", "printf x |", "  wc -c", "", "```",
        "```console", "$ ls -l \\", "  /", "total 0", "```"])
    got = [(c.key, c.line) for c in readme.commands(text)]
    assert got == [("a=1", 4), ("curl -d '{\"x\": 1}' -H 'A: #b' u", 5),
                   ("printf x | wc -c", 8), ("ls -l /", 13)], got
