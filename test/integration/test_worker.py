"""poky-worker against a real S3 (Ceph radosgw) and in local mode.

Every outcome is judged by botocore or the file system, never by the worker's
own client: bytes, Content-Type and user metadata of the copy, the source's
fate after a move, and what is left in ListMultipartUploads.
"""
import hashlib
import json
import os
import pathlib
import re
import resource
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time

import pytest

from rgw import rgw  # noqa: F401  (the session fixture)

ROOT = pathlib.Path(__file__).resolve().parents[2]
MIB = 1 << 20
UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
SANITIZER = re.compile(r"Sanitizer|runtime error:")

MULTIPART = {"POKY_MULTIPART_THRESHOLD": "8388608", "POKY_PART_SIZE": "5242880"}


# ---- running the worker -------------------------------------------------------

class Run:
    def __init__(self, rc, out, err, peak_rss_kib=0):
        self.rc, self.out, self.err, self.peak_rss_kib = rc, out, err, peak_rss_kib
        assert not SANITIZER.search(err), f"sanitizer report:\n{err}"

    @property
    def result(self) -> dict:
        lines = self.out.splitlines()
        assert len(lines) == 1, f"want one JSON line on stdout, got {self.out!r} / {self.err!r}"
        return json.loads(lines[0])

    @property
    def error(self) -> dict:
        lines = self.err.strip().splitlines()
        assert lines, "no error line on stderr"
        return json.loads(lines[-1])

    def __repr__(self):
        return f"Run(rc={self.rc}, out={self.out!r}, err={self.err[-2000:]!r})"


def vm_hwm_kib(pid: int) -> int:
    """Peak RSS of the running process image.  (wait4's ru_maxrss would
    count the pytest process the child was forked from.)"""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_worker(binary, env, timeout=180, preexec_fn=None, cwd=None) -> Run:
    """Run to the end, sampling the peak RSS while it runs."""
    proc = subprocess.Popen([str(binary)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=preexec_fn, cwd=cwd)
    chunks = {"out": b"", "err": b""}

    def drain(name, f):
        chunks[name] = f.read()

    readers = [threading.Thread(target=drain, args=("out", proc.stdout)),
               threading.Thread(target=drain, args=("err", proc.stderr))]
    for t in readers:
        t.start()
    deadline = time.monotonic() + timeout
    peak = 0
    while proc.poll() is None:
        peak = max(peak, vm_hwm_kib(proc.pid))
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            break
        time.sleep(0.002)
    for t in readers:
        t.join()
    rc = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    return Run(rc, chunks["out"].decode(errors="replace"),
               chunks["err"].decode(errors="replace"), peak)


@pytest.fixture(scope="session")
def worker(bindir) -> pathlib.Path:
    w = bindir / "poky-worker"
    if not w.exists():
        pytest.fail(f"{w} not built; run `make SAN=1 all`")
    return w


@pytest.fixture(scope="session")
def big() -> bytes:
    return os.urandom(64 * MIB)


def plain_build_fresh(binary: pathlib.Path) -> bool:
    """True when the non-sanitizer binary is newer than every source file."""
    if not binary.exists():
        return False
    newest = max(p.stat().st_mtime for d in ("src", "include")
                 for p in (ROOT / d).rglob("*") if p.suffix in (".c", ".h"))
    return binary.stat().st_mtime >= newest


def md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def rename_pattern(key: str) -> re.Pattern:
    """The default name, by the rule in the worker contract."""
    head, slash, seg = key.rpartition("/")
    dot = seg.rfind(".")
    stem, ext = (seg[:dot], seg[dot:]) if dot > 0 else (seg, "")
    return re.compile(re.escape(head + slash + stem) + "_" + UUID4 + re.escape(ext) + r"\Z",
                      re.S)


STRATEGIES = {
    "copy": {},
    "multipart": {"POKY_MULTIPART_THRESHOLD": "0", "POKY_PART_SIZE": "5242880"},
    "stream": {"POKY_PART_SIZE": "5242880"},        # + the alias endpoint
}


def strategy_env(rgw, name: str) -> dict:
    env = dict(STRATEGIES[name])
    if name == "stream":
        env["POKY_SOURCE_ENDPOINT_URL_S3"] = rgw.alias_endpoint
    return env


def expected_strategy(name: str, size: int) -> str:
    if name == "multipart":
        return "multipart-copy" if size > 0 else "copy"
    return name


def check_copy(rgw, run, src, key, dst, dst_key, body, content_type, metadata):
    """The copy is byte-exact, keeps type and metadata, and the summary says so."""
    assert run.rc == 0, run
    r = run.result
    assert r["source"] == f"s3://{src}/{key}"
    assert r["destination"] == f"s3://{dst}/{dst_key}"
    assert r["bytes"] == len(body)
    assert isinstance(r["seconds"], (int, float)) and r["seconds"] >= 0
    head = rgw.head(dst, dst_key)
    assert head["ContentLength"] == len(body)
    assert head["ContentType"] == content_type
    assert head["Metadata"] == metadata
    assert r["etag"] == head["ETag"].strip('"')
    got = rgw.get(dst, dst_key)
    assert len(got) == len(body) and md5(got) == md5(body)
    return r


# ---- flags and parameters ---------------------------------------------------------

def test_help_lists_every_exit_code(worker):
    p = subprocess.run([str(worker), "--help"], capture_output=True, text=True)
    assert p.returncode == 0
    for code in ("0", "1", "2", "3", "4", "5", "6", "7"):
        assert re.search(rf"^\s+{code}\s+\S", p.stdout, re.M), code
    for name in ("SOURCE_BUCKET", "OUTPUT_KEY", "DELETE_SOURCE", "POKY_LOCAL_ROOT",
                 "POKY_MULTIPART_THRESHOLD", "POKY_PART_SIZE", "POKY_CONCURRENCY"):
        assert name in p.stdout


def test_version_flag(worker):
    p = subprocess.run([str(worker), "--version"], capture_output=True, text=True)
    version = (ROOT / "VERSION").read_text().strip()
    assert p.returncode == 0 and p.stdout == f"poky-worker {version}\n"


def test_unknown_flag_is_a_usage_error(worker):
    p = subprocess.run([str(worker), "--frobnicate"], capture_output=True, text=True)
    assert p.returncode == 2
    assert json.loads(p.stderr)["code"] == "bad-parameters"


def test_missing_env_exits_2_naming_the_variables(worker, rgw):
    env = rgw.worker_env(SOURCE_KEY="x")
    run = run_worker(worker, env)
    assert run.rc == 2 and run.out == ""
    lines = run.err.strip().splitlines()
    assert len(lines) == 1
    err = json.loads(lines[0])
    assert err["exit"] == 2 and err["code"] == "bad-parameters"
    assert "SOURCE_BUCKET" in err["error"] and "OUTPUT_BUCKET" in err["error"]
    assert "SOURCE_KEY" not in err["error"]


@pytest.mark.parametrize("name,value", [
    ("POKY_PART_SIZE", "1048576"), ("POKY_CONCURRENCY", "17"),
    ("POKY_MULTIPART_THRESHOLD", "lots"), ("DELETE_SOURCE", "maybe")])
def test_bad_tuning_values_exit_2(worker, rgw, name, value):
    env = rgw.worker_env(SOURCE_BUCKET="aaa", SOURCE_KEY="k", OUTPUT_BUCKET="bbb",
                         **{name: value})
    run = run_worker(worker, env)
    assert run.rc == 2, run
    assert name in run.error["error"]


# ---- sizes x strategies ------------------------------------------------------------

@pytest.mark.parametrize("strategy", ["copy", "multipart", "stream"])
@pytest.mark.parametrize("size", [0, 1, 5 * MIB - 1, 5 * MIB, 5 * MIB + 1],
                         ids=["0B", "1B", "5MiB-1", "5MiB", "5MiB+1"])
def test_copy_sizes(worker, rgw, size, strategy):
    src, dst = rgw.make_bucket(), rgw.make_bucket()
    body = os.urandom(size)
    meta = {"owner": "poky", "run": str(size)}
    rgw.put(src, "in/data.bin", body, "application/x-poky", meta)
    env = rgw.worker_env(SOURCE_BUCKET=src, SOURCE_KEY="in/data.bin", OUTPUT_BUCKET=dst,
                         **strategy_env(rgw, strategy))
    run = run_worker(worker, env)
    assert run.rc == 0, run
    dst_key = run.result["destination"].split("/", 3)[3]
    assert rename_pattern("in/data.bin").match(dst_key), dst_key
    r = check_copy(rgw, run, src, "in/data.bin", dst, dst_key, body,
                   "application/x-poky", meta)
    assert r["strategy"] == expected_strategy(strategy, size)
    assert rgw.exists(src, "in/data.bin")          # a copy keeps its source
    assert rgw.uploads(dst) == []


def test_64mib_multipart_copy_keeps_type_and_metadata(worker, rgw, big):
    src, dst = rgw.make_bucket(), rgw.make_bucket()
    meta = {"purpose": "multipart", "x": "y z"}
    rgw.put(src, "big.bin", big, "application/x-big", meta)
    env = rgw.worker_env(SOURCE_BUCKET=src, SOURCE_KEY="big.bin", OUTPUT_BUCKET=dst,
                         OUTPUT_KEY="copied/big.bin", **MULTIPART)
    run = run_worker(worker, env)
    r = check_copy(rgw, run, src, "big.bin", dst, "copied/big.bin", big,
                   "application/x-big", meta)
    assert r["strategy"] == "multipart-copy"
    assert r["etag"].endswith("-13")               # 64 MiB in 5 MiB parts
    assert rgw.uploads(dst) == []


def test_64mib_stream_between_endpoints_bounded_memory(worker, rgw, big, bindir):
    src, dst = rgw.make_bucket(), rgw.make_bucket()
    meta = {"purpose": "stream"}
    rgw.put(src, "big.bin", big, "video/x-poky", meta)
    env = rgw.worker_env(SOURCE_BUCKET=src, SOURCE_KEY="big.bin", OUTPUT_BUCKET=dst,
                         OUTPUT_KEY="streamed.bin", POKY_PART_SIZE="8388608",
                         POKY_SOURCE_ENDPOINT_URL_S3=rgw.alias_endpoint)
    # Peak memory is judged on the plain build when it is up to date: ASan's
    # shadow memory and quarantine are not the worker's.
    plain = ROOT / "build" / "poky-worker"
    binary = plain if plain_build_fresh(plain) else worker
    run = run_worker(binary, env)
    r = check_copy(rgw, run, src, "big.bin", dst, "streamed.bin", big, "video/x-poky", meta)
    assert r["strategy"] == "stream"
    assert r["etag"].endswith("-8")
    peak_mib = run.peak_rss_kib / 1024
    assert peak_mib > 1, "no RSS sample"
    limit = 64 if binary == plain else 256
    assert peak_mib < limit, f"peak RSS {peak_mib:.1f} MiB with {binary}"


# ---- keys ------------------------------------------------------------------------------

ODD_KEYS = [
    "with space/file name.txt",
    "unicod\u00e9/\u65e5\u672c\u8a9e \u00fc.csv",
    "+ = & , ; : @ $ # ?.dat",
    "a//b.txt",
    "a/../b.txt",
    "dir/noext",
    ".bashrc",
    "report.final.csv",
]


@pytest.mark.parametrize("strategy", ["copy", "multipart", "stream"])
@pytest.mark.parametrize("key", ODD_KEYS)
def test_odd_keys_default_rename(worker, rgw, key, strategy):
    src, dst = rgw.make_bucket(), rgw.make_bucket()
    body = os.urandom(1000)
    rgw.put(src, key, body, "text/plain", {"k": "v"})
    env = rgw.worker_env(SOURCE_BUCKET=src, SOURCE_KEY=key, OUTPUT_BUCKET=dst,
                         **strategy_env(rgw, strategy))
    run = run_worker(worker, env)
    assert run.rc == 0, run
    (dst_key,) = rgw.keys(dst)
    assert rename_pattern(key).match(dst_key), dst_key
    check_copy(rgw, run, src, key, dst, dst_key, body, "text/plain", {"k": "v"})


def test_odd_output_key_is_used_exactly(worker, rgw):
    src, dst = rgw.make_bucket(), rgw.make_bucket()
    out_key = "out//x/../+ = & , ; : @ $ # ?/\u00e9t\u00e9.txt"
    rgw.put(src, "in.txt", b"hello", "text/plain")
    env = rgw.worker_env(SOURCE_BUCKET=src, SOURCE_KEY="in.txt", OUTPUT_BUCKET=dst,
                         OUTPUT_KEY=out_key)
    run = run_worker(worker, env)
    assert run.rc == 0, run
    assert rgw.keys(dst) == [out_key]
    assert rgw.get(dst, out_key) == b"hello"


# ---- moves --------------------------------------------------------------------------------

@pytest.mark.parametrize("strategy", ["copy", "multipart", "stream"])
def test_move_deletes_source_after_verified_copy(worker, rgw, strategy):
    src, dst = rgw.make_bucket(), rgw.make_bucket()
    body = os.urandom(11 * MIB + 7)
    rgw.put(src, "move/me.bin", body, "application/x-move", {"m": "1"})
    env = rgw.worker_env(SOURCE_BUCKET=src, SOURCE_KEY="move/me.bin", OUTPUT_BUCKET=dst,
                         DELETE_SOURCE="true", **strategy_env(rgw, strategy))
    run = run_worker(worker, env)
    assert run.rc == 0, run
    (dst_key,) = rgw.keys(dst)
    check_copy(rgw, run, src, "move/me.bin", dst, dst_key, body, "application/x-move",
               {"m": "1"})
    assert run.result["strategy"] == expected_strategy(strategy, len(body))
    assert rgw.keys(src) == []


def test_move_in_versioned_bucket_deletes_exactly_the_copied_version(worker, rgw):
    src, dst = rgw.make_bucket(versioned=True), rgw.make_bucket()
    v1 = rgw.put(src, "doc.txt", b"version one")["VersionId"]
    v2 = rgw.put(src, "doc.txt", b"version two")["VersionId"]
    env = rgw.worker_env(SOURCE_BUCKET=src, SOURCE_KEY="doc.txt", OUTPUT_BUCKET=dst,
                         OUTPUT_KEY="doc.txt", DELETE_SOURCE="true")
    run = run_worker(worker, env)
    assert run.rc == 0, run
    assert rgw.get(dst, "doc.txt") == b"version two"
    versions = rgw.s3.list_object_versions(Bucket=src)
    assert [v["VersionId"] for v in versions.get("Versions", [])] == [v1]
    assert versions.get("DeleteMarkers", []) == []        # deleted, not hidden
    assert v2 != v1 and rgw.get(src, "doc.txt") == b"version one"


def test_move_whose_delete_is_denied_is_copied_not_moved(worker, rgw):
    """A bucket policy denies s3:DeleteObject to everyone (radosgw applies an
    explicit Deny to the bucket owner too, like S3): the copy must stand,
    verified, and the source must stay."""
    src, dst = rgw.make_bucket(), rgw.make_bucket()
    body = os.urandom(3000)
    rgw.put(src, "keep.bin", body, "application/x-keep", {"a": "b"})
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
        "Resource": f"arn:aws:s3:::{src}/*"}]}
    rgw.s3.put_bucket_policy(Bucket=src, Policy=json.dumps(policy))
    try:
        env = rgw.worker_env(SOURCE_BUCKET=src, SOURCE_KEY="keep.bin", OUTPUT_BUCKET=dst,
                             OUTPUT_KEY="kept.bin", DELETE_SOURCE="true")
        run = run_worker(worker, env)
    finally:
        rgw.s3.delete_bucket_policy(Bucket=src)
    assert run.rc == 7, run
    err = run.error
    assert err["code"] == "copied-not-moved" and err["exit"] == 7
    assert err.get("aws_code") == "AccessDenied"
    assert err["destination"] == f"s3://{dst}/kept.bin"
    assert run.out == ""
    assert rgw.get(src, "keep.bin") == body
    assert rgw.get(dst, "kept.bin") == body


def test_move_to_missing_bucket_keeps_the_source(worker, rgw):
    src = rgw.make_bucket()
    rgw.put(src, "stay.txt", b"stay")
    env = rgw.worker_env(SOURCE_BUCKET=src, SOURCE_KEY="stay.txt",
                         OUTPUT_BUCKET="no-such-bucket-poky", DELETE_SOURCE="true")
    run = run_worker(worker, env)
    assert run.rc == 3, run
    assert run.error["code"] == "not-found"
    assert rgw.get(src, "stay.txt") == b"stay"


# ---- failures ---------------------------------------------------------------------------

@pytest.mark.parametrize("strategy", ["copy", "multipart"])
def test_wrong_secret_is_access_denied_and_touches_nothing(worker, rgw, strategy):
    src, dst = rgw.make_bucket(), rgw.make_bucket()
    rgw.put(src, "secret.txt", os.urandom(6 * MIB))
    env = rgw.worker_env(SOURCE_BUCKET=src, SOURCE_KEY="secret.txt", OUTPUT_BUCKET=dst,
                         DELETE_SOURCE="true", AWS_SECRET_ACCESS_KEY="not-the-secret",
                         **strategy_env(rgw, strategy))
    run = run_worker(worker, env)
    assert run.rc == 4, run
    assert run.error["code"] == "access-denied"
    assert "not-the-secret" not in run.err and rgw.secret_key not in run.err
    assert rgw.keys(dst) == [] and rgw.uploads(dst) == []
    assert rgw.exists(src, "secret.txt")


def test_missing_source_is_not_found(worker, rgw):
    src, dst = rgw.make_bucket(), rgw.make_bucket()
    env = rgw.worker_env(SOURCE_BUCKET=src, SOURCE_KEY="nothing/here.txt",
                         OUTPUT_BUCKET=dst)
    run = run_worker(worker, env)
    assert run.rc == 3, run
    err = run.error
    assert err["code"] == "not-found" and "nothing/here.txt" in err["error"]
    assert rgw.keys(dst) == []


def test_missing_source_bucket_is_not_found(worker, rgw):
    dst = rgw.make_bucket()
    env = rgw.worker_env(SOURCE_BUCKET="no-such-bucket-poky", SOURCE_KEY="k",
                         OUTPUT_BUCKET=dst)
    assert run_worker(worker, env).rc == 3


def interrupt_after(worker, env, marker: bytes):
    """Start the worker with debug logs, SIGTERM it when marker shows up."""
    env = dict(env, POKY_LOG_LEVEL="debug")
    proc = subprocess.Popen([str(worker)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    seen = b""
    for line in proc.stderr:
        seen += line
        if marker in line:
            proc.send_signal(signal.SIGTERM)
            break
    out, err = proc.communicate(timeout=120)
    return Run(proc.returncode if proc.returncode >= 0 else 128 - proc.returncode,
               out.decode(), (seen + err).decode(errors="replace")), seen


@pytest.mark.parametrize("strategy,marker", [("multipart", b"part 1/13 copied"),
                                             ("stream", b"part 1/13 streamed")])
def test_sigterm_mid_multipart_aborts_the_upload(worker, rgw, big, strategy, marker):
    src, dst = rgw.make_bucket(), rgw.make_bucket()
    rgw.put(src, "big.bin", big)
    env = rgw.worker_env(SOURCE_BUCKET=src, SOURCE_KEY="big.bin", OUTPUT_BUCKET=dst,
                         OUTPUT_KEY="partial.bin", DELETE_SOURCE="true",
                         POKY_CONCURRENCY="1", **MULTIPART)
    if strategy == "stream":
        env["POKY_SOURCE_ENDPOINT_URL_S3"] = rgw.alias_endpoint
    run, seen = interrupt_after(worker, env, marker)
    assert marker in seen, run
    assert run.rc == 128 + signal.SIGTERM, run
    err = run.error
    assert err["code"] == "interrupted" and "aborted" in err["error"]
    assert run.out == ""
    assert rgw.uploads(dst) == []
    assert rgw.keys(dst) == []
    assert rgw.exists(src, "big.bin")


# ---- local mode ------------------------------------------------------------------------

@pytest.fixture
def local_root():
    """Buckets as directories; readable by others so a test can run the
    worker as another user."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="poky-local-"))
    d.chmod(0o755)
    for b in ("in", "out"):
        (d / b).mkdir()
        (d / b).chmod(0o755)
    yield d
    for p in d.rglob("*"):              # undo chmods made by tests
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o755)
    shutil.rmtree(d, ignore_errors=True)


def local_env(root, **extra):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "POKY_LOCAL_ROOT": str(root),
           "SOURCE_BUCKET": "in", "OUTPUT_BUCKET": "out"}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    env.update({k: str(v) for k, v in extra.items()})
    return env


def files_under(d: pathlib.Path) -> list:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*")
                  if p.is_symlink() or not p.is_dir())


def write(path: pathlib.Path, body: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)


def test_local_copy_nested_key_default_rename(worker, local_root):
    body = os.urandom(300_000)
    write(local_root / "in" / "dir" / "sub" / "report.final.csv", body)
    run = run_worker(worker, local_env(local_root, SOURCE_KEY="dir/sub/report.final.csv"))
    assert run.rc == 0, run
    r = run.result
    assert r["strategy"] == "local" and r["bytes"] == len(body) and r["etag"] == md5(body)
    (name,) = files_under(local_root / "out")
    assert rename_pattern("dir/sub/report.final.csv").match(name), name
    assert r["destination"] == f"s3://out/{name}"
    assert (local_root / "out" / name).read_bytes() == body
    assert (local_root / "in" / "dir" / "sub" / "report.final.csv").exists()


@pytest.mark.parametrize("key", [".bashrc", "dir/noext", "unicod\u00e9 +=&,;:@$#?.txt"])
def test_local_rename_shapes(worker, local_root, key):
    write(local_root / "in" / key, b"x")
    run = run_worker(worker, local_env(local_root, SOURCE_KEY=key))
    assert run.rc == 0, run
    (name,) = files_under(local_root / "out")
    assert rename_pattern(key).match(name), name


@pytest.mark.parametrize("size", [0, 1, 5 * MIB + 1])
def test_local_move_with_output_key_makes_directories(worker, local_root, size):
    body = os.urandom(size)
    write(local_root / "in" / "a" / "b.bin", body)
    (local_root / "in" / "a" / "b.bin").chmod(0o640)
    run = run_worker(worker, local_env(local_root, SOURCE_KEY="a/b.bin",
                                       OUTPUT_KEY="x/y/z.bin", DELETE_SOURCE="true"))
    assert run.rc == 0, run
    assert run.result["bytes"] == size
    out = local_root / "out" / "x" / "y" / "z.bin"
    assert out.read_bytes() == body
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert files_under(local_root / "in") == []
    assert files_under(local_root / "out") == ["x/y/z.bin"]


@pytest.mark.parametrize("var,key", [
    ("SOURCE_KEY", "../in/secret"), ("SOURCE_KEY", "a/../../etc/passwd"),
    ("SOURCE_KEY", "/etc/passwd"), ("SOURCE_KEY", "a//b"),
    ("OUTPUT_KEY", "../escaped.txt"), ("OUTPUT_KEY", "/tmp/escaped.txt"),
    ("OUTPUT_KEY", "ok/./x")])
def test_local_traversal_is_refused(worker, local_root, var, key):
    write(local_root / "in" / "ok.txt", b"ok")
    write(local_root / "in" / "secret", b"secret")
    extra = {"SOURCE_KEY": "ok.txt", var: key}
    before = files_under(local_root)
    run = run_worker(worker, local_env(local_root, **extra))
    assert run.rc == 2, run
    assert var in run.error["error"]
    assert files_under(local_root) == before
    assert not pathlib.Path("/tmp/escaped.txt").exists()


def test_local_symlink_out_of_the_bucket_is_not_followed(worker, local_root):
    outside = pathlib.Path(tempfile.mkdtemp(prefix="poky-outside-"))
    try:
        write(outside / "private.txt", b"private")
        (local_root / "in" / "link").symlink_to(outside)
        (local_root / "out" / "olink").symlink_to(outside)
        run = run_worker(worker, local_env(local_root, SOURCE_KEY="link/private.txt"))
        assert run.rc in (2, 3), run
        write(local_root / "in" / "ok.txt", b"ok")
        run = run_worker(worker, local_env(local_root, SOURCE_KEY="ok.txt",
                                           OUTPUT_KEY="olink/planted.txt"))
        assert run.rc != 0, run
        assert files_under(outside) == ["private.txt"]
        assert files_under(local_root / "out") == ["olink"]
    finally:
        shutil.rmtree(outside)


def test_local_missing_source_and_bucket(worker, local_root):
    run = run_worker(worker, local_env(local_root, SOURCE_KEY="none.txt"))
    assert run.rc == 3 and run.error["code"] == "not-found"
    write(local_root / "in" / "ok.txt", b"ok")
    run = run_worker(worker, local_env(local_root, SOURCE_KEY="ok.txt",
                                       OUTPUT_BUCKET="missing"))
    assert run.rc == 3, run
    assert files_under(local_root / "out") == []


def test_local_write_failure_leaves_no_file(worker, local_root):
    """RLIMIT_FSIZE makes write() fail with EFBIG part-way, like a full disk."""
    write(local_root / "in" / "big.bin", os.urandom(3 * MIB))

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (MIB, MIB))

    run = run_worker(worker, local_env(local_root, SOURCE_KEY="big.bin",
                                       OUTPUT_KEY="big.bin", DELETE_SOURCE="true"),
                     preexec_fn=limit)
    assert run.rc == 1, run
    assert "cannot write" in run.error["error"]
    assert files_under(local_root / "out") == []       # no partial, no temp
    assert (local_root / "in" / "big.bin").stat().st_size == 3 * MIB


def stop_when_temp_appears(proc, out_dir: pathlib.Path):
    """SIGSTOP the worker as soon as its temporary file exists."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any(p.name.startswith(".poky-tmp-") for p in out_dir.iterdir()):
            proc.send_signal(signal.SIGSTOP)
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.0005)
    return False


def test_local_source_shrinking_mid_copy_leaves_no_file(worker, local_root):
    src = local_root / "in" / "sparse.bin"
    with open(src, "wb") as f:          # sparse: reads fast, writes take time
        f.truncate(1024 * MIB)
    env = local_env(local_root, SOURCE_KEY="sparse.bin", OUTPUT_KEY="sparse.bin",
                    DELETE_SOURCE="true")
    proc = subprocess.Popen([str(worker)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    stopped = stop_when_temp_appears(proc, local_root / "out")
    os.truncate(src, MIB)
    proc.send_signal(signal.SIGCONT)
    out, err = proc.communicate(timeout=120)
    run = Run(proc.returncode, out.decode(), err.decode())
    assert stopped, run
    assert run.rc == 6, run
    assert run.error["code"] == "verification-failed"
    assert files_under(local_root / "out") == []
    assert src.stat().st_size == MIB


def test_local_sigterm_mid_copy_removes_the_temporary_file(worker, local_root):
    src = local_root / "in" / "sparse.bin"
    with open(src, "wb") as f:
        f.truncate(1024 * MIB)
    env = local_env(local_root, SOURCE_KEY="sparse.bin", OUTPUT_KEY="sparse.bin")
    proc = subprocess.Popen([str(worker)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    stopped = stop_when_temp_appears(proc, local_root / "out")
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGCONT)
    out, err = proc.communicate(timeout=120)
    run = Run(proc.returncode, out.decode(), err.decode())
    assert stopped, run
    assert run.rc == 128 + signal.SIGTERM, run
    assert run.error["code"] == "interrupted"
    assert files_under(local_root / "out") == []


def test_local_move_whose_delete_fails_is_copied_not_moved(worker, local_root):
    """The source directory is read-only for the worker's user (as root, the
    worker runs as nobody, since root may unlink anywhere)."""
    write(local_root / "in" / "ro" / "file.txt", b"read only")
    (local_root / "in" / "ro" / "file.txt").chmod(0o644)
    (local_root / "out").chmod(0o777)
    preexec = None
    if os.geteuid() == 0:
        def preexec():
            os.setgid(65534)
            os.setuid(65534)
    else:
        (local_root / "in" / "ro").chmod(0o555)
    run = run_worker(worker, local_env(local_root, SOURCE_KEY="ro/file.txt",
                                       OUTPUT_KEY="file.txt", DELETE_SOURCE="true"),
                     preexec_fn=preexec, cwd="/")
    assert run.rc == 7, run
    assert run.error["code"] == "copied-not-moved"
    assert (local_root / "out" / "file.txt").read_bytes() == b"read only"
    assert (local_root / "in" / "ro" / "file.txt").read_bytes() == b"read only"
