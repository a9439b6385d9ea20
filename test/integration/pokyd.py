"""Run pokyd in integration tests: generated configs, start/stop with checks, an HTTP client
that holds every answer against the OpenAPI document, and the fakes pokyd talks to.

Test modules load this file as a plugin for its fixtures, and import the helpers they use::

    from pokyd import local_template, wait_task
    pytest_plugins = ["pokyd"]     # fake_ecs, fake_s3, pokyd_factory, openapi, ...

* ``Pokyd``: one daemon.  Its config is generated into its own directory (state_dir beside it),
  it listens on 127.0.0.1:0 and the port is read from its log ("listening on HOST:PORT"), it is
  ready when /healthz answers.  ``stop()`` sends SIGTERM and asserts exit status 0 and no
  sanitizer report in its stderr (ASan, LSan, UBSan: the tests normally run build/asan).
  Environment: only PATH, a clean HOME and the AWS_* variables of ``pokyd_env`` (no ~/.aws
  files can leak in), plus the sanitizer options of the caller if set.
* ``Client``: http.client, a new connection per request; every answer is checked against
  src/daemon/openapi.json (status documented for the route, content type, required headers,
  JSON body valid against the schema, with python3-jsonschema).
* ``FakeService``: a fake from test/fakes/ run as a subprocess (its own interpreter, so 100
  concurrent clients in pytest don't share a GIL with it), steered through /_fake/.
"""
import collections
import contextlib
import hashlib
import http.client
import json
import os
import pathlib
import re
import signal
import subprocess
import time
import urllib.parse

import pytest
from jsonschema import Draft202012Validator, RefResolver

from conftest import ROOT     # bindir, conftest's fixture, is where pokyd comes from

FAKES = ROOT / "test" / "fakes"
OPENAPI_PATH = ROOT / "src" / "daemon" / "openapi.json"
PYTHON = "/usr/bin/python3"
AWS_KEY, AWS_SECRET = "AKIDPOKYTEST", "pokySecretKey"

# What a sanitizer prints when it finds something (with -fno-sanitize-recover=all the process
# also dies, but a leak report comes at a clean exit).
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "UndefinedBehaviorSanitizer", "ThreadSanitizer", "AddressSanitizer:")

LISTENING = re.compile(r"listening on (\[[0-9a-fA-F:.]+\]|[0-9.]+|localhost):(\d+)")
FINAL = {"succeeded", "failed", "cancelled", "lost"}


# --------------------------------------------------------------------------- configuration

def render_ini(sections):
    """{section: {key: value}} -> INI text; None values are left out, lists joined by ', '."""
    out = []
    for name, keys in sections.items():
        out.append("[%s]" % name)
        for key, value in keys.items():
            if value is None:
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, (list, tuple)):
                value = ", ".join(str(v) for v in value)
            out.append("%s = %s" % (key, value))
        out.append("")
    return "\n".join(out)


def config_sections(state_dir, templates, listen="127.0.0.1:0", server=None, aws=None,
                    tracker=None):
    """The sections of a test config: fast tracker polls, quiet-enough logs."""
    srv = {"listen": listen, "threads": 4, "state_dir": str(state_dir), "log_level": "info"}
    srv.update(server or {})
    trk = {"poll_interval": 0.2}
    trk.update(tracker or {})
    sections = collections.OrderedDict()
    sections["server"] = srv
    if aws:
        sections["aws"] = dict(aws)
    sections["tracker"] = trk
    for name, keys in templates.items():
        sections["template." + name] = keys
    return sections


# Templates the tests share.  ECS ones need the fake ECS (cluster "poky-cluster" exists there).
def ecs_template(**extra):
    t = collections.OrderedDict([
        ("launcher", "ecs"), ("cluster", "poky-cluster"),
        ("task_definition", "poky-task-definition:4"), ("container", "poky"),
        ("subnets", "subnet-0ce2fa0212d96fa7b, subnet-0dffaf4fdefae3cd6"),
        ("assign_public_ip", "ENABLED"),
        ("param.source_bucket", "required env=SOURCE_BUCKET max=63"),
        ("param.source_key", "required env=SOURCE_KEY max=1024"),
        ("param.output_bucket", "required env=OUTPUT_BUCKET max=63"),
        ("param.delete_source", "optional env=DELETE_SOURCE default=false pattern=^(true|false)$"),
        ("env.AWS_REGION", "us-east-1"),
    ])
    t.update(extra)
    return t


def local_template(command, **extra):
    t = collections.OrderedDict([("launcher", "local"), ("command", command),
                                 ("max_running", 4)])
    t.update(extra)
    return t


def pokyd_env(home, ecs_url, s3_url=None, extra=None):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": AWS_KEY,
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_ECS": ecs_url,
        # Never AWS: tests that read task logs give the fake's URL (fake_logs).
        "AWS_ENDPOINT_URL_LOGS": "http://127.0.0.1:9",
        "AWS_EC2_METADATA_DISABLED": "true",
        "POKY_RETRY_BASE_MS": "10",
    }
    if s3_url:
        env["AWS_ENDPOINT_URL_S3"] = s3_url
    for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if name in os.environ:
            env[name] = os.environ[name]
    for name, value in (extra or {}).items():
        if value is None:
            env.pop(name, None)         # None takes a variable away
        else:
            env[name] = value
    return env


def hash_token_line(name, token):
    return "%s %s" % (name, hashlib.sha256(token.encode()).hexdigest())


def sanitizer_report(text):
    """The first lines of a sanitizer report in text, or None."""
    for marker in SANITIZER_MARKERS:
        i = text.find(marker)
        if i >= 0:
            return text[max(0, i - 200):i + 3000]
    return None


# --------------------------------------------------------------------------- OpenAPI checks

class OpenAPI:
    """Holds answers against the document: the status must be documented for the operation,
    the content type declared, required headers present and valid, JSON bodies valid."""

    def __init__(self, doc):
        self.doc = doc
        self.resolver = RefResolver.from_schema(doc)
        self.routes = []
        for template, item in doc["paths"].items():
            rx = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
            self.routes.append((re.compile(rx), template, item))
        self.seen = collections.Counter()

    def deref(self, obj):
        while isinstance(obj, dict) and "$ref" in obj:
            _, obj = self.resolver.resolve(obj["$ref"])
        return obj

    def validate(self, instance, schema, where):
        v = Draft202012Validator(schema, resolver=self.resolver,
                                 format_checker=Draft202012Validator.FORMAT_CHECKER)
        errors = sorted(v.iter_errors(instance), key=lambda e: list(e.path))
        if errors:
            lines = ["%s: %s at %s" % (where, e.message, "/".join(map(str, e.path)))
                     for e in errors[:5]]
            raise AssertionError("answer does not match openapi.json:\n" + "\n".join(lines)
                                 + "\nbody: " + json.dumps(instance)[:2000])

    def operation(self, method, path):
        for rx, template, item in self.routes:
            if rx.match(path):
                m = "get" if method == "HEAD" else method.lower()
                return template, item.get(m)
        return None, None

    def check(self, method, path, resp):
        path = urllib.parse.urlsplit(path).path
        template, op = self.operation(method, path)
        where = "%s %s -> %d" % (method, path if len(path) < 200 else path[:200] + "...",
                                 resp.status)
        assert resp.header("X-Request-Id"), where + ": no X-Request-Id"
        if op is None:
            # Unknown path (404) or method (405): answered before routing, as a problem.
            assert resp.status in (404, 405, 414, 431), where + ": undocumented route"
            if resp.status == 405:
                assert resp.header("Allow"), where + ": 405 without Allow"
            if method != "HEAD":
                assert resp.media_type == "application/problem+json", where
                self.validate(resp.json, {"$ref": "#/components/schemas/Problem"}, where)
            self.seen[(method, "(unrouted)", resp.status)] += 1
            return
        responses = op["responses"]
        spec = responses.get(str(resp.status)) or responses.get("%dXX" % (resp.status // 100)) \
            or responses.get("default")
        assert spec is not None, where + ": status not documented for " + template
        spec = self.deref(spec)
        for name, h in (spec.get("headers") or {}).items():
            h = self.deref(h)
            value = resp.header(name)
            if h.get("required"):
                assert value is not None, "%s: header %s missing" % (where, name)
            if value is not None and "schema" in h:
                self.validate(value, h["schema"], where + " header " + name)
        self.seen[(method, template, resp.status)] += 1
        if method == "HEAD":
            return
        content = spec.get("content") or {}
        if not content:
            assert not resp.body, where + ": body where none is documented"
            return
        assert resp.media_type in content, "%s: content type %s not documented (%s)" % (
            where, resp.media_type, ", ".join(content))
        schema = content[resp.media_type].get("schema")
        if schema is None:
            return
        if resp.media_type.endswith("json"):
            self.validate(resp.json, schema, where)
        else:
            self.validate(resp.body.decode("utf-8"), schema, where)


_OPENAPI = None


def load_openapi():
    global _OPENAPI
    if _OPENAPI is None:
        _OPENAPI = OpenAPI(json.loads(OPENAPI_PATH.read_text()))
    return _OPENAPI


# --------------------------------------------------------------------------- HTTP client

class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers            # [(name, value)] as received
        self.body = body
        self._json = None

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    @property
    def media_type(self):
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    @property
    def json(self):
        if self._json is None:
            self._json = json.loads(self.body)
        return self._json

    @property
    def text(self):
        return self.body.decode("utf-8")

    def __repr__(self):
        return "<Response %d %s>" % (self.status, self.body[:300])


class Client:
    """A tiny HTTP client (http.client; a connection per request).  check=False skips the
    OpenAPI check (for answers the document cannot describe)."""

    def __init__(self, host, port, token=None, openapi=None):
        self.host, self.port, self.token = host, port, token
        self.openapi = openapi
        # Seconds submit() asks to wait for the launch (Prefer: wait=N); None: answer as
        # soon as the task is queued.  Tests of what RunTask was sent set it.
        self.launch_wait = None

    def request(self, method, path, *, json_body=None, body=None, headers=None,
                content_type=None, timeout=30, check=True, token=None):
        hdrs = {}
        tok = token if token is not None else self.token
        if tok:
            hdrs["Authorization"] = "Bearer " + tok
        if json_body is not None:
            body = json.dumps(json_body).encode()
            content_type = content_type or "application/json"
        if isinstance(body, str):
            body = body.encode()
        if content_type:
            hdrs["Content-Type"] = content_type
        hdrs.update(headers or {})
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
            resp = Response(r.status, r.reason, r.getheaders(), data)
        finally:
            conn.close()
        if check and self.openapi is not None:
            self.openapi.check(method, path, resp)
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, json_body=None, **kw):
        if self.launch_wait is not None and path == "/tasks":
            kw["headers"] = {"Prefer": f"wait={self.launch_wait}", **(kw.get("headers") or {})}
        return self.request("POST", path, json_body=json_body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def submit(self, template, parameters=None, expect=202, headers=None, **fields):
        body = {"template": template}
        if parameters is not None:
            body["parameters"] = parameters
        body.update(fields)
        r = self.post("/tasks", body, headers=headers)
        assert r.status == expect, r
        return r.json


def wait_task(client, task_id, statuses, timeout=15):
    """Poll GET /tasks/{id} until its status is one of statuses; returns the record."""
    if isinstance(statuses, str):
        statuses = {statuses}
    deadline = time.monotonic() + timeout
    rec = None
    while time.monotonic() < deadline:
        r = client.get("/tasks/" + task_id)
        assert r.status == 200, r
        rec = r.json
        if rec["status"] in statuses:
            return rec
        if rec["status"] in FINAL:
            raise AssertionError("task %s ended %s (%s), wanted %s" % (
                task_id, rec["status"], rec["reason"], sorted(statuses)))
        time.sleep(0.05)
    raise AssertionError("task %s still %s after %ss, wanted %s: %r" % (
        task_id, rec and rec["status"], timeout, sorted(statuses), rec))


def wait_for(predicate, timeout=10, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(interval)


# --------------------------------------------------------------------------- metrics

METRIC_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse_metrics(text):
    """Prometheus text format 0.0.4, strictly: returns ({(name, labels): value}, {name: type}).
    labels is a tuple of sorted (key, value) pairs."""
    samples, types, helps = {}, {}, set()
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP "):
            helps.add(line.split()[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert name not in types, "TYPE twice for " + name
            types[name] = kind
            continue
        assert not line.startswith("#"), line
        m = METRIC_LINE.match(line)
        assert m, "not a sample line: %r" % line
        name, _, labels_text, value = m.groups()
        labels = []
        if labels_text:
            pos = 0
            while pos < len(labels_text):
                lm = LABEL.match(labels_text, pos)
                assert lm, "bad labels in %r" % line
                labels.append((lm.group(1), lm.group(2)))
                pos = lm.end()
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or base in types, "sample before its TYPE: %r" % line
        key = (name, tuple(sorted(labels)))
        assert key not in samples, "duplicate series %r" % (key,)
        samples[key] = float(value)
    assert set(types) <= helps, "TYPE without HELP"
    return samples, types


# --------------------------------------------------------------------------- pokyd

def kill_strays(marker):
    """SIGKILL what pokyd left running for this test: supervisors (their command line mentions
    marker, a path inside the test's own temporary directory) and the process groups of the
    commands they run."""
    marker = str(marker).encode()
    procs = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as fh:
                cmdline = fh.read()
            with open("/proc/%s/stat" % entry) as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        procs[int(entry)] = (ppid, cmdline)
    strays = {pid for pid, (_, cmd) in procs.items() if marker in cmd and pid != os.getpid()}
    for pid, (ppid, _) in procs.items():
        if ppid in strays and pid not in strays:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)      # a command runs in its own group
    for pid in strays:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class Pokyd:
    def __init__(self, binary, workdir, sections, env, openapi=None, args=()):
        self.binary = pathlib.Path(binary)
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / "pokyd.ini"
        self.sections = sections
        self.env = env
        self.openapi = openapi
        self.args = list(args)
        self.proc = None
        self.runs = 0
        self.port = None
        self.write_config(sections)

    @property
    def state_dir(self):
        return pathlib.Path(self.sections["server"]["state_dir"])

    @property
    def stderr_path(self):
        return self.workdir / ("pokyd.%d.log" % self.runs)

    def write_config(self, sections_or_text):
        if isinstance(sections_or_text, str):
            self.config_path.write_text(sections_or_text)
        else:
            self.sections = sections_or_text
            self.config_path.write_text(render_ini(sections_or_text))

    def start(self, timeout=20):
        assert self.proc is None, "already running"
        self.runs += 1
        err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([str(self.binary), "-c", str(self.config_path)] + self.args,
                                     stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                     cwd=str(self.workdir), env=self.env)
        err.close()
        deadline = time.monotonic() + timeout
        while True:
            m = LISTENING.search(self.log())
            if m:
                self.port = int(m.group(2))
                break
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                raise AssertionError("pokyd exited %s before listening:\n%s" % (rc, self.log()))
            if time.monotonic() > deadline:
                raise AssertionError("pokyd did not log its port:\n" + self.log())
            time.sleep(0.02)
        c = self.client(check=False)
        while True:
            with contextlib.suppress(OSError):
                if c.get("/healthz", timeout=2).status == 200:
                    return self
            if time.monotonic() > deadline:
                raise AssertionError("pokyd /healthz never answered:\n" + self.log())
            time.sleep(0.02)

    def client(self, token=None, check=True):
        c = Client("127.0.0.1", self.port, token=token,
                   openapi=self.openapi if check else None)
        c.launch_wait = getattr(self, "launch_wait", None)
        return c

    def log(self, run=None):
        path = self.workdir / ("pokyd.%d.log" % (run or self.runs))
        try:
            return path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def all_logs(self):
        return "".join(self.log(i) for i in range(1, self.runs + 1))

    def wait_log(self, pattern, timeout=10):
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.log()), timeout, what="log line /%s/ in:\n%s"
                        % (pattern, self.log()[-3000:]))

    def send(self, sig):
        self.proc.send_signal(sig)

    RELOAD_LINE = re.compile(r" (reloaded|reload failed)[^\n]*\n")

    def reload(self, timeout=10):
        """SIGHUP; returns 'reloaded' or 'failed' from the (whole) log line it causes."""
        before = len(self.RELOAD_LINE.findall(self.log()))
        self.send(signal.SIGHUP)
        lines = wait_for(lambda: self.RELOAD_LINE.findall(self.log())[before:], timeout,
                         what="reload log line")
        return "reloaded" if lines[0] == "reloaded" else "failed"

    def stop(self, timeout=30, check=True):
        """SIGTERM; asserts exit status 0 and a clean sanitizer log."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError("pokyd did not stop within %ss of SIGTERM:\n%s"
                                 % (timeout, self.log()[-3000:]))
        if check:
            report = sanitizer_report(self.log())
            assert report is None, "sanitizer report in pokyd's stderr:\n" + report
            assert rc == 0, "pokyd exited %s:\n%s" % (rc, self.log()[-3000:])
        return rc

    def kill(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    def close(self):
        """Stop (with checks) and end whatever task processes it left behind."""
        try:
            self.stop()
        finally:
            self.kill()
            kill_strays(self.workdir)


class PokydFactory:
    """Makes daemons under base; close() stops them all with the exit and sanitizer checks."""

    def __init__(self, bindir, base, ecs_url, s3_url=None, openapi=None):
        self.bindir = pathlib.Path(bindir)
        self.base = pathlib.Path(base)
        self.ecs_url, self.s3_url = ecs_url, s3_url
        self.openapi = openapi
        self.daemons = []

    def new(self, templates, name=None, server=None, aws=None, tracker=None, env=None,
            tokens=None, start=True, args=()):
        """tokens: {name: token} written hashed to a tokens_file."""
        name = name or "pokyd%d" % (len(self.daemons) + 1)
        workdir = self.base / name
        workdir.mkdir(parents=True, exist_ok=True)
        home = workdir / "home"
        home.mkdir(exist_ok=True)
        server = dict(server or {})
        if tokens:
            tf = workdir / "tokens"
            tf.write_text("# test tokens\n" + "".join(hash_token_line(n, t) + "\n"
                                                     for n, t in tokens.items()))
            server.setdefault("tokens_file", str(tf))
        sections = config_sections(workdir / "state", templates, server=server, aws=aws,
                                   tracker=tracker)
        d = Pokyd(self.bindir / "pokyd", workdir, sections,
                  pokyd_env(home, self.ecs_url, self.s3_url, env), openapi=self.openapi,
                  args=args)
        self.daemons.append(d)
        if start:
            d.start()
        return d

    def close(self):
        errors = []
        for d in self.daemons:
            try:
                d.close()
            except AssertionError as exc:
                errors.append(str(exc))
        assert not errors, "\n\n".join(errors)


# --------------------------------------------------------------------------- fakes

class FakeService:
    """A fake from test/fakes/ in its own process, steered over its /_fake/ control API."""

    def __init__(self, script, workdir, config=None):
        self.script = FAKES / script
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.proc = None
        self.port = None

    def start(self, timeout=20):
        port_file = self.workdir / (self.script.stem + ".port")
        with contextlib.suppress(FileNotFoundError):
            port_file.unlink()
        cmd = [PYTHON, str(self.script), "--port", "0", "--port-file", str(port_file)]
        if self.config:
            cmd += ["--config", json.dumps(self.config)]
        self.log_path = self.workdir / (self.script.stem + ".log")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        wait_for(lambda: port_file.exists() or self.proc.poll() is not None, timeout,
                 what=self.script.name + " port file")
        assert self.proc.poll() is None, self.log_path.read_text()
        self.port = int(port_file.read_text())
        return self

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def ctl(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, "/_fake/" + path, body=data,
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            out = json.loads(r.read() or b"null")
            assert r.status == 200, (method, path, out)
            return out
        finally:
            conn.close()

    def reset(self):
        return self.ctl("POST", "reset")

    def set_config(self, **kw):
        return self.ctl("POST", "config", kw)

    def faults(self, op, faults):
        return self.ctl("POST", "faults", {"op": op, "faults": faults})

    def calls(self, op=None):
        return self.ctl("GET", "calls" + ("?op=" + op if op else ""))

    def assert_signed(self):
        bad = [c for c in self.calls() if c["signature_ok"] is False]
        assert not bad, "requests the fake refused to authenticate: %r" % bad[:3]

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


class FakeEcs(FakeService):
    def __init__(self, workdir):
        super().__init__("fake_ecs.py", workdir)

    def launches(self):
        return self.ctl("GET", "launches")

    def stops(self):
        return self.ctl("GET", "stops")

    def tasks(self):
        return self.ctl("GET", "tasks")

    def steer(self, task_arn, **body):
        return self.ctl("POST", "tasks/" + task_arn.rsplit("/", 1)[-1], body)


class FakeLogs(FakeService):
    def __init__(self, workdir):
        super().__init__("fake_logs.py", workdir)

    def append(self, group, stream, messages):
        return self.ctl("POST", "streams/append", {"group": group, "stream": stream,
                                                   "messages": messages})


class FakeS3(FakeService):
    def __init__(self, workdir):
        super().__init__("fake_s3_head.py", workdir)


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def openapi():
    return load_openapi()


@pytest.fixture(scope="session")
def fake_ecs_server(tmp_path_factory):
    f = FakeEcs(tmp_path_factory.mktemp("fake_ecs")).start()
    yield f
    f.stop()


@pytest.fixture
def fake_ecs(fake_ecs_server):
    """The session's fake ECS, reset (calls, tasks, faults, config) for this test."""
    fake_ecs_server.reset()
    yield fake_ecs_server
    fake_ecs_server.assert_signed()


@pytest.fixture(scope="session")
def fake_logs_server(tmp_path_factory):
    f = FakeLogs(tmp_path_factory.mktemp("fake_logs")).start()
    yield f
    f.stop()


@pytest.fixture
def fake_logs(fake_logs_server):
    """The session's fake CloudWatch Logs, reset; pokyd reaches it with
    env={"AWS_ENDPOINT_URL_LOGS": fake_logs.url}."""
    fake_logs_server.reset()
    yield fake_logs_server
    fake_logs_server.assert_signed()


@pytest.fixture(scope="session")
def fake_s3_server(tmp_path_factory):
    f = FakeS3(tmp_path_factory.mktemp("fake_s3")).start()
    yield f
    f.stop()


@pytest.fixture
def fake_s3(fake_s3_server):
    fake_s3_server.reset()
    yield fake_s3_server
    fake_s3_server.assert_signed()


@pytest.fixture
def pokyd_factory(bindir, tmp_path, fake_ecs_server, fake_s3_server, openapi):
    """Daemons for one test: pokyd_factory.new(templates, ...) starts one; all are stopped
    (exit 0, no sanitizer report) at the end of the test."""
    f = PokydFactory(bindir, tmp_path, fake_ecs_server.url, fake_s3_server.url, openapi)
    yield f
    f.close()


def module_factory(bindir, tmp_path_factory, fake_ecs_server, fake_s3_server, name):
    """A PokydFactory for module-scoped daemons (the caller closes it)."""
    return PokydFactory(bindir, tmp_path_factory.mktemp(name), fake_ecs_server.url,
                        fake_s3_server.url, load_openapi())
