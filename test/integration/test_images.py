"""The container images, built and run with podman (no Docker engine needed).

A session fixture runs test/images.sh, which builds docker/Dockerfile.worker
and docker/Dockerfile.pokyd with `podman build --pull=never` from a locally made
debian:bookworm-slim (debootstrap, once per machine) and installs podman with
apt-get when missing.  Then the images are run as users would run them: the
worker copies objects on radosgw (`--network host`), judged by botocore; pokyd
starts with a mounted tokens file, answers on its published port and passes
its own HEALTHCHECK.  What the runtime images must not hold (a shell, a
package manager, root) is checked in the exported filesystem.
"""
import gzip
import http.server
import json
import os
import pathlib
import re
import ssl
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest

import readme
from containers import CONTAINERS_CONF  # the one sandbox config
from rgw import free_port, rgw  # noqa: F401  (rgw: the session fixture)

ROOT = pathlib.Path(__file__).resolve().parents[2]
IMAGES_SH = ROOT / "test" / "images.sh"
WORKER = "localhost/poky-worker:test"
POKYD = "localhost/pokyd:test"
NONROOT = "65532:65532"
# The token-protected configuration in the image (the default is the sample).
SECURE = ("-c", "/etc/poky/pokyd.container.ini")
BASE = "localhost/poky-base:bookworm"
VERSION = (ROOT / "VERSION").read_text().strip()
SAMPLE = {"source_bucket": "test-poky-input", "source_key": "test_file.txt",
          "output_bucket": "test-poky-output"}
WORKER_MAX_GZ = 10 * 1000 * 1000          # "under 10 MB compressed"
TOKEN = "images-test-token-" + uuid.uuid4().hex
UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


# The README's two container blocks ("Running it"), read from README.md when the test runs
# (readme.py) and run by test_readme_container_blocks below.
README = readme.Claims("test_images.py")
DOCKER_RUN = README.block("Running it", "make image")
SECURE_RUN = README.block("Running it", 'echo "$T" | podman run --rm -i pokyd:')

# Files no runtime image may hold: a shell, a package manager, setuid helpers.
FORBIDDEN = re.compile(r"^(bin|usr/bin|sbin|usr/sbin)/|/(sh|bash|dash|busybox|apt|apt-get|dpkg)$")


class Podman:
    def __init__(self, env: dict):
        self.env = env

    def run(self, *args, check=True, timeout=120, **kw) -> subprocess.CompletedProcess:
        p = subprocess.run(["podman", *args], env=self.env, capture_output=True,
                           timeout=timeout, **kw)
        if check and p.returncode != 0:
            err = p.stderr if isinstance(p.stderr, str) else p.stderr.decode(errors="replace")
            raise AssertionError(f"podman {' '.join(args)} exited {p.returncode}: {err}")
        return p

    def text(self, *args, **kw) -> str:
        return self.run(*args, text=True, **kw).stdout.strip()

    def inspect(self, what: str) -> dict:
        return json.loads(self.text("inspect", what))[0]

    def files(self, image: str) -> dict:
        """The runtime filesystem, {path: TarInfo}, as `podman export` gives it."""
        cid = self.text("create", image)
        try:
            with tempfile.TemporaryFile() as f:
                subprocess.run(["podman", "export", cid], env=self.env, stdout=f,
                               check=True, timeout=120)
                f.seek(0)
                with tarfile.open(fileobj=f) as tar:
                    return {m.name.lstrip("./"): m for m in tar.getmembers()}
        finally:
            self.run("rm", "-f", "-v", cid, check=False)


@pytest.fixture(scope="session")
def podman():
    """test/images.sh, once: both images built (or found in the layer cache)."""
    conf = tempfile.NamedTemporaryFile("w", prefix="poky-containers-", suffix=".conf",
                                       delete=False)
    conf.write(CONTAINERS_CONF)
    conf.close()
    env = dict(os.environ, CONTAINERS_CONF=conf.name, IMAGE_TAG="test")
    t0 = time.monotonic()
    try:
        # Cold machine: apt-get podman (~10 s), debootstrap (~30-75 s), two
        # builds (~30 s); warm: a few seconds.
        p = subprocess.run([str(IMAGES_SH)], env=env, capture_output=True, text=True,
                           timeout=1500)
    except subprocess.TimeoutExpired as e:
        os.unlink(conf.name)
        pytest.fail(f"test/images.sh timed out: {str(e.stderr)[-3000:]}")
    if p.returncode != 0:
        os.unlink(conf.name)
        pytest.fail(f"test/images.sh exited {p.returncode}:\n{p.stderr[-5000:]}")
    print(f"images built in {time.monotonic() - t0:.0f} s")
    try:
        yield Podman(env)
    finally:
        os.unlink(conf.name)


# ---- the worker image -------------------------------------------------------------

def run_worker(podman, rgw, **params) -> subprocess.CompletedProcess:
    """The image as ECS runs it: parameters and credentials in the environment
    (passed by name, so the secret is not on a command line)."""
    env = dict(podman.env, AWS_ACCESS_KEY_ID=rgw.access_key,
               AWS_SECRET_ACCESS_KEY=rgw.secret_key, AWS_REGION=rgw.region,
               AWS_ENDPOINT_URL_S3=rgw.endpoint, AWS_EC2_METADATA_DISABLED="true",
               POKY_RETRY_BASE_MS="50", **params)
    names = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
             "AWS_ENDPOINT_URL_S3", "AWS_EC2_METADATA_DISABLED", "POKY_RETRY_BASE_MS",
             *params]
    args = ["podman", "run", "--rm", "--network", "host"]
    for n in names:
        args += ["-e", n]
    return subprocess.run([*args, WORKER], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("mode", ["copy", "move", "stream"])
def test_worker_image_copies_an_object_on_radosgw(podman, rgw, mode):
    src, dst = rgw.make_bucket("img"), rgw.make_bucket("img")
    key = "in/report.final.csv"
    body = os.urandom(256 * 1024) + b"poky image test\n"
    rgw.put(src, key, body, "text/csv", {"origin": "test-images"})
    params = {"SOURCE_BUCKET": src, "SOURCE_KEY": key, "OUTPUT_BUCKET": dst}
    if mode == "move":
        params["DELETE_SOURCE"] = "true"
    if mode == "stream":
        # Another name for the same gateway: the worker streams GET -> PUT,
        # and "localhost" must resolve inside a scratch image (nsswitch, hosts).
        params["POKY_SOURCE_ENDPOINT_URL_S3"] = rgw.alias_endpoint
    p = run_worker(podman, rgw, **params)
    assert p.returncode == 0, f"worker exited {p.returncode}: {p.stderr}"
    result = json.loads(p.stdout.strip().splitlines()[-1])
    assert result["strategy"] == {"copy": "copy", "move": "copy", "stream": "stream"}[mode]
    out_key = result["destination"].removeprefix(f"s3://{dst}/")
    assert re.fullmatch(r"in/report\.final_" + UUID4 + r"\.csv", out_key), out_key
    # botocore is the judge.
    assert rgw.keys(dst) == [out_key]
    assert rgw.get(dst, out_key) == body
    head = rgw.head(dst, out_key)
    assert head["ContentType"] == "text/csv"
    assert head["Metadata"] == {"origin": "test-images"}
    assert result["etag"] == head["ETag"].strip('"')
    assert rgw.exists(src, key) == (mode != "move")


def test_worker_image_reports_bad_parameters_as_json(podman, rgw):
    p = run_worker(podman, rgw, SOURCE_BUCKET="only-this")
    assert p.returncode == 2
    err = json.loads(p.stderr.strip().splitlines()[-1])
    assert err["code"] == "bad-parameters" and err["exit"] == 2


@pytest.fixture
def tls_server(tmp_path):
    """An HTTPS server on 127.0.0.1 with a self-signed certificate that answers
    404 to everything: (endpoint URL, certificate path)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True,
                   capture_output=True, timeout=60)
    cert.chmod(0o644)

    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_HEAD

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"https://127.0.0.1:{srv.server_address[1]}", cert
    finally:
        srv.shutdown()
        srv.server_close()


def test_worker_image_verifies_tls_against_its_ca_bundle(podman, tls_server):
    """HTTPS is verified, against /etc/ssl/certs/ca-certificates.crt: a server
    the image's bundle does not know is refused; with that server's certificate
    mounted as the bundle, the worker gets through (and finds no object)."""
    endpoint, cert = tls_server
    env = dict(podman.env, AWS_ACCESS_KEY_ID="AKIDTLSTEST", AWS_SECRET_ACCESS_KEY="x",
               AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
               AWS_ENDPOINT_URL_S3=endpoint, POKY_RETRY_BASE_MS="10",
               SOURCE_BUCKET="tls-src", SOURCE_KEY="k", OUTPUT_BUCKET="tls-dst")
    args = ["podman", "run", "--rm", "--network", "host"]
    for n in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
              "AWS_EC2_METADATA_DISABLED", "AWS_ENDPOINT_URL_S3", "POKY_RETRY_BASE_MS",
              "SOURCE_BUCKET", "SOURCE_KEY", "OUTPUT_BUCKET"):
        args += ["-e", n]
    p = subprocess.run([*args, WORKER], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, p.stderr
    assert "SSL" in p.stderr or "certificate" in p.stderr, p.stderr
    bundle = "/etc/ssl/certs/ca-certificates.crt"
    p = subprocess.run([*args, "-v", f"{cert}:{bundle}:ro", WORKER], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 3, p.stderr                      # reached: not found
    assert json.loads(p.stderr.strip().splitlines()[-1])["code"] == "not-found"


def test_worker_image_has_no_shell(podman):
    p = podman.run("run", "--rm", "--entrypoint", "/bin/sh", WORKER, "-c", "true",
                   check=False, text=True)
    assert p.returncode != 0
    assert "no such file" in p.stderr.lower(), p.stderr


def test_worker_image_holds_only_the_worker_libraries_and_ca_bundle(podman):
    files = podman.files(WORKER)
    bad = sorted(n for n in files if FORBIDDEN.search(n))
    assert bad == [], f"a shell or package manager in the image: {bad}"
    programs = sorted(n for n, m in files.items()
                      if m.isfile() and m.mode & 0o111 and ".so" not in n)
    assert programs == ["usr/local/bin/poky-worker"]
    ca = files["etc/ssl/certs/ca-certificates.crt"]
    assert ca.isfile() and ca.size > 100_000 and ca.mode & 0o004
    assert not any(m.mode & 0o6000 for m in files.values()), "setuid/setgid file"


def test_worker_image_runs_as_non_root(podman, tmp_path):
    cfg = podman.inspect(WORKER)["Config"]
    assert cfg["User"] == NONROOT
    assert cfg["Entrypoint"] == ["/usr/local/bin/poky-worker"]
    # The runtime agrees: a file the worker writes (local mode, a bind-mounted
    # directory) belongs to UID 65532.
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "in" / "a.txt").write_bytes(b"local mode\n")
    for d in (tmp_path, tmp_path / "in", tmp_path / "out"):
        d.chmod(0o777)
    podman.run("run", "--rm", "-v", f"{tmp_path}:/data", "-e", "POKY_LOCAL_ROOT=/data",
               "-e", "SOURCE_BUCKET=in", "-e", "SOURCE_KEY=a.txt", "-e", "OUTPUT_BUCKET=out",
               "-e", "OUTPUT_KEY=b.txt", WORKER)
    out = tmp_path / "out" / "b.txt"
    assert out.read_bytes() == b"local mode\n"
    assert (out.stat().st_uid, out.stat().st_gid) == (65532, 65532)


def test_worker_image_is_under_10_mb_compressed(podman):
    """What Fargate pulls: the saved image, gzip -9."""
    with tempfile.TemporaryFile() as raw:
        subprocess.run(["podman", "save", WORKER], env=podman.env, stdout=raw,
                       stderr=subprocess.DEVNULL, check=True, timeout=120)
        unpacked = raw.tell()
        raw.seek(0)
        packed = len(gzip.compress(raw.read(), compresslevel=9))
    print(f"poky-worker image: {unpacked / 1e6:.1f} MB saved, {packed / 1e6:.2f} MB gzip -9")
    assert packed < WORKER_MAX_GZ, f"{packed} bytes compressed"


# ---- the pokyd image --------------------------------------------------------------

@pytest.fixture(scope="module")
def tokens_file(podman, tmp_path_factory) -> pathlib.Path:
    """A tokens file made by the image's own `pokyd --hash-token`."""
    line = podman.text("run", "--rm", "-i", POKYD, "--hash-token", "ci",
                       input=TOKEN + "\n")
    assert re.fullmatch(r"ci [0-9a-f]{64}", line), line
    path = tmp_path_factory.mktemp("pokyd-image") / "tokens"
    path.write_text(line + "\n")
    path.chmod(0o644)           # read by UID 65532; hashes, not tokens
    return path


def fetch(url, token=None, timeout=5):
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture(scope="module")
def pokyd(podman, tokens_file):
    """pokyd:test running detached, its port published on loopback."""
    name = f"poky-test-pokyd-{uuid.uuid4().hex[:8]}"
    port = free_port()
    # No systemd here to run the healthcheck timer: the tests run the check.
    podman.run("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080",
               "--health-interval", "disable",
               "-v", f"{tokens_file}:/etc/poky/tokens:ro", POKYD, *SECURE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if fetch(base + "/healthz", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                logs = podman.run("logs", name, check=False, text=True)
                pytest.fail(f"pokyd did not answer on {base}: {logs.stdout}{logs.stderr}")
            time.sleep(0.2)
        yield name, base
    finally:
        podman.run("rm", "-f", "-v", name, check=False)


def test_pokyd_image_refuses_to_start_without_tokens(podman):
    p = podman.run("run", "--rm", POKYD, *SECURE, check=False, text=True, timeout=60)
    assert p.returncode == 1
    assert "/etc/poky/tokens" in p.stderr, p.stderr


def test_pokyd_image_answers_healthz_and_requires_a_token(pokyd):
    _, base = pokyd
    status, body = fetch(base + "/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    assert fetch(base + "/tasks")[0] == 401
    assert fetch(base + "/tasks", token="not-" + TOKEN)[0] == 401
    assert fetch(base + "/tasks", token=TOKEN)[0] == 200


def test_pokyd_image_healthcheck_reports_healthy(podman, pokyd):
    name, _ = pokyd
    img = podman.inspect(POKYD)
    hc = img.get("Healthcheck") or img["Config"].get("Healthcheck")   # podman | docker
    assert hc["Test"] == ["CMD", "/usr/local/bin/poky-healthcheck",
                          "http://127.0.0.1:8080/healthz"]
    p = podman.run("healthcheck", "run", name, check=False, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    state = podman.inspect(name)["State"]
    health = state.get("Health") or state.get("Healthcheck")
    assert health["Status"] == "healthy"
    # The probe is not a yes-man: nothing listens on port 9.
    p = podman.run("exec", name, "/usr/local/bin/poky-healthcheck",
                   "http://127.0.0.1:9/healthz", check=False, text=True)
    assert p.returncode == 1 and "refused" in p.stderr.lower(), p.stderr


def test_pokyd_image_runs_as_non_root_with_volumes(podman, pokyd):
    name, _ = pokyd
    cfg = podman.inspect(POKYD)["Config"]
    assert cfg["User"] == NONROOT
    assert set(cfg["Volumes"]) == {"/etc/poky", "/var/lib/poky"}
    assert "8080/tcp" in cfg["ExposedPorts"]
    assert cfg["Entrypoint"] == ["/usr/local/bin/pokyd"]
    assert cfg["Cmd"] == ["-c", "/etc/poky/pokyd.ini"]
    # The daemon really is UID 65532, and its state volume is writable.
    assert podman.text("exec", name, "/usr/local/bin/pokyd", "--version").startswith("pokyd ")
    uids = podman.text("top", name, "huser").splitlines()[1:]     # host view
    assert uids and all(u.strip() == "65532" for u in uids), uids


def test_pokyd_image_holds_no_shell_or_package_manager(podman):
    files = podman.files(POKYD)
    bad = sorted(n for n in files if FORBIDDEN.search(n))
    assert bad == [], f"a shell or package manager in the image: {bad}"
    programs = sorted(n for n, m in files.items()
                      if m.isfile() and m.mode & 0o111 and ".so" not in n)
    assert programs == ["usr/local/bin/poky-healthcheck", "usr/local/bin/poky-worker",
                        "usr/local/bin/pokyd"]
    assert files["etc/poky/pokyd.ini"].isfile()
    assert files["etc/poky/pokyd.container.ini"].isfile()
    sample = files["var/lib/poky/buckets/test-poky-input/test_file.txt"]
    assert sample.isfile() and (sample.uid, sample.gid) == (65532, 65532)
    state = files["var/lib/poky"]
    assert state.isdir() and (state.uid, state.gid) == (65532, 65532)
    assert "etc/ssl/certs/ca-certificates.crt" in files


def test_pokyd_image_stops_cleanly_on_sigterm(podman, tokens_file):
    name = f"poky-test-stop-{uuid.uuid4().hex[:8]}"
    podman.run("run", "-d", "--name", name, "--health-interval", "disable",
               "-v", f"{tokens_file}:/etc/poky/tokens:ro", POKYD, *SECURE)
    try:
        deadline = time.monotonic() + 20
        while "listening on" not in podman.run("logs", name, text=True).stderr:
            assert time.monotonic() < deadline, "pokyd did not start"
            time.sleep(0.2)
        t0 = time.monotonic()
        podman.run("stop", "-t", "10", name)
        took = time.monotonic() - t0
        state = podman.inspect(name)["State"]
        assert state["ExitCode"] == 0, state
        assert took < 8, f"stop took {took:.1f} s: SIGTERM not handled as PID 1?"
    finally:
        podman.run("rm", "-f", "-v", name, check=False)


# ---- docker run: the sample, compose, labels, names ----------------------------------

def post_json(url, body, timeout=30):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def wait_healthy(podman, name, base, seconds=20):
    deadline = time.monotonic() + seconds
    while True:
        try:
            if fetch(base + "/healthz", timeout=1)[0] == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            logs = podman.run("logs", name, check=False, text=True)
            pytest.fail(f"pokyd did not answer on {base}: {logs.stdout}{logs.stderr}")
        time.sleep(0.2)


def run_sample_task(base) -> dict:
    """POST the original Poky's request, then the record once final."""
    status, body = post_json(base + "/process_file", SAMPLE)
    assert status == 200, body
    task_id = body["tasks"][0]["taskArn"]
    deadline = time.monotonic() + 60
    while True:
        status, raw = fetch(f"{base}/tasks/{task_id}")
        rec = json.loads(raw)
        if rec.get("status") in ("succeeded", "failed", "cancelled", "lost"):
            return rec
        assert time.monotonic() < deadline, rec
        time.sleep(0.2)


def volume_dir(podman, volume) -> pathlib.Path:
    return pathlib.Path(podman.inspect(volume)["Mountpoint"])


def test_pokyd_image_serves_the_sample_without_arguments(podman):
    """`docker run -p 8080:8080 pokyd:VERSION`, the README's way: no config, no
    tokens; the sample file is in the state volume, the worker in the image,
    the task succeeds and its output object appears in the volume.  The log
    says the API is open, and webhooks are off."""
    name = f"poky-test-sample-{uuid.uuid4().hex[:8]}"
    volume = f"poky-test-state-{uuid.uuid4().hex[:8]}"
    port = free_port()
    podman.run("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080",
               "--health-interval", "disable", "-v", f"{volume}:/var/lib/poky", POKYD)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(podman, name, base)
        rec = run_sample_task(base)
        assert rec["status"] == "succeeded" and rec["exit_code"] == 0, rec
        status, logtext = fetch(f"{base}/tasks/{rec['id']}/logs")
        assert status == 200
        line = json.loads(logtext.decode().strip().splitlines()[-1])
        assert line["strategy"] == "local" and line["bytes"] > 0, line
        out_key = line["destination"].removeprefix("s3://test-poky-output/")
        assert re.fullmatch(r"test_file_" + UUID4 + r"\.txt", out_key), line
        # The output object, in the named volume as the host sees it.
        out = volume_dir(podman, volume) / "buckets" / "test-poky-output" / out_key
        assert out.read_bytes() == b"Poky test file: copy me to the output bucket.\n"
        assert (out.stat().st_uid, out.stat().st_gid) == (65532, 65532)
        # No webhooks from an anonymous API: every callback_url is refused.
        status, body = post_json(base + "/tasks", {
            "template": "process_file", "parameters": SAMPLE,
            "callback_url": "https://hooks.example.com/poky"})
        assert status == 400 and "callback_url" in json.dumps(body), body
        logs = podman.run("logs", name, text=True).stderr
        assert "listening on 0.0.0.0:8080" in logs, logs
        assert re.search(r"warn .*no tokens_file: anyone who can reach port 8080", logs), logs
    finally:
        podman.run("rm", "-f", "-v", name, check=False)
        podman.run("volume", "rm", "-f", volume, check=False)


def test_images_carry_oci_labels(podman):
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                         text=True, check=True).stdout.strip()
    for image, title in ((POKYD, "pokyd"), (WORKER, "poky-worker")):
        labels = podman.inspect(image)["Config"]["Labels"]
        oci = {k.removeprefix("org.opencontainers.image."): v for k, v in labels.items()
               if k.startswith("org.opencontainers.image.")}
        assert oci["title"] == title
        assert oci["version"] == VERSION
        assert oci["licenses"] == "MIT"
        assert len(oci["description"]) > 20
        assert oci["revision"] in (rev, rev + "-dirty"), oci
        # RFC 3339, the commit's date.
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d([+-]\d\d:\d\d|Z)",
                            oci["created"]), oci
        assert oci["source"], oci


def test_no_image_of_ours_is_named_after_an_official_one(podman):
    """The locally made base is localhost/poky-base:bookworm, and nothing in the
    image store under docker.io/library/ is ours (the same image as our base, or
    a tarball we imported): such a name shadows the official image."""
    base_id = podman.inspect(BASE)["Id"]
    ours = {base_id}
    for ref in (POKYD, WORKER, "localhost/pokyd-build:test", "localhost/poky-worker-build:test"):
        ours.add(podman.inspect(ref)["Id"])
    images = json.loads(podman.text("images", "--all", "--format", "json"))
    bad = []
    for img in images:
        names = [n for n in img.get("Names") or [] if n.startswith("docker.io/library/")]
        if not names:
            continue
        history = json.loads(podman.text("image", "history", "--format", "json", img["Id"]))
        if img["Id"] in ours or any(h.get("comment") == "imported from tarball"
                                   for h in history):
            bad += names
    assert not bad, f"local images under official names: {sorted(set(bad))}"
    # The build stages really start from our base (its layer is at their bottom).
    base_layers = podman.inspect(BASE)["RootFS"]["Layers"]
    for ref in ("localhost/pokyd-build:test", "localhost/poky-worker-build:test"):
        assert podman.inspect(ref)["RootFS"]["Layers"][:len(base_layers)] == base_layers


def test_compose_file_runs_pokyd_with_its_state_volume(podman, tmp_path):
    """docker/compose.yaml with podman-compose (Debian's): pokyd from the built
    image, the sample task through it, the output in the compose volume, and
    `down -v` removes what `up` made."""
    import yaml
    compose = ROOT / "docker" / "compose.yaml"
    spec = yaml.safe_load(compose.read_text())
    svc = spec["services"]["pokyd"]
    assert svc["volumes"] == ["poky-state:/var/lib/poky"] and "poky-state" in spec["volumes"]
    assert svc["build"]["dockerfile"] == "docker/Dockerfile.pokyd"
    assert all(p.startswith("127.0.0.1:") for p in svc["ports"]), svc["ports"]
    project = f"pokytest{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = dict(podman.env, POKY_IMAGE=POKYD, POKY_PORT=str(port))
    cmd = ["podman-compose", "-f", str(compose), "-p", project]

    def compose_run(*args, check=True):
        p = subprocess.run([*cmd, *args], env=env, cwd=tmp_path, capture_output=True,
                           text=True, timeout=300)
        assert not check or p.returncode == 0, f"{args}: {p.stdout}\n{p.stderr}"
        return p

    compose_run("up", "-d")
    try:
        names = podman.text("ps", "--filter", f"label=io.podman.compose.project={project}",
                            "--format", "{{.Names}}").split()
        assert len(names) == 1, names
        base = f"http://127.0.0.1:{port}"
        wait_healthy(podman, names[0], base)
        rec = run_sample_task(base)
        assert rec["status"] == "succeeded", rec
        volume = f"{project}_poky-state"
        outs = list((volume_dir(podman, volume) / "buckets" / "test-poky-output").iterdir())
        assert len(outs) == 1 and outs[0].name.startswith("test_file_"), outs
    finally:
        compose_run("down", "-v", check=False)
    assert podman.run("volume", "exists", f"{project}_poky-state", check=False).returncode != 0


# ---- the README's container blocks, as written ---------------------------------------

class ReadmeShell:
    """bash -c for README commands, in a scratch directory (the user's), with podman's env."""

    def __init__(self, podman, cwd, **extra):
        self.env = {k: v for k, v in podman.env.items() if k != "IMAGE_TAG"}  # make's own
        self.env.update(extra)
        self.cwd = cwd

    def run(self, cmd, text=None, timeout=300):
        p = subprocess.run(["bash", "-c", text or cmd.text], cwd=self.cwd, env=self.env,
                           capture_output=True, text=True, timeout=timeout)
        assert p.returncode == 0, f"{cmd.where()} exited {p.returncode}:\n" \
            f"{text or cmd.text}\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}"
        return p.stdout


def test_readme_container_blocks(podman, tmp_path):
    """`make image`, the sample served by `podman run` and the original's request to it;
    then the token-protected configuration with a tokens file made by the image. As
    written, but for what would collide with other runs or leave loopback (each a
    `Command.sub`, which must match): the container's name and the volume get unique
    names, the published port a free one on 127.0.0.1 (the second block's `-p 8080:8080`
    publishes on every address; here only on loopback). The test waits for /healthz
    between `podman run -d` and the first request, as a user would wait a moment."""
    name = f"poky-readme-{uuid.uuid4().hex[:8]}"
    volume = f"poky-readme-state-{uuid.uuid4().hex[:8]}"
    token = "readme-" + uuid.uuid4().hex
    # The first block runs in the clone (make image); the second in the user's directory.
    sh = ReadmeShell(podman, ROOT)
    user = ReadmeShell(podman, tmp_path, T=token, AWS_ACCESS_KEY_ID="AKIDPOKYTEST",
                       AWS_SECRET_ACCESS_KEY="pokySecretKey")
    containers = [name]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        for c in DOCKER_RUN.commands:
            if c.key == "make image":
                sh.run(c, timeout=1500)
                assert podman.run("image", "exists", f"pokyd:{VERSION}",
                                  check=False).returncode == 0
            elif c.key.startswith("podman run -d --name pokyd"):
                text = c.sub("--name pokyd ", f"--name {name} ") \
                    .replace("127.0.0.1:8080:8080", f"127.0.0.1:{port}:8080") \
                    .replace("poky-state:", f"{volume}:")
                assert text.count(name) == text.count(volume) == text.count(f":{port}:") == 1
                sh.run(c, text)
                wait_healthy(podman, name, base)
            elif c.key.startswith("curl -X POST http://127.0.0.1:8080/process_file"):
                out = sh.run(c, c.sub("http://127.0.0.1:8080/", f"{base}/"))
                task_id = json.loads(out)["tasks"][0]["taskArn"]
                deadline = time.monotonic() + 60
                while json.loads(fetch(f"{base}/tasks/{task_id}")[1])["status"] != "succeeded":
                    assert time.monotonic() < deadline, "the README's sample task did not succeed"
                    time.sleep(0.2)
            else:
                sh.run(c)
        podman.run("rm", "-f", "-t", "5", name, check=False)

        secure = None
        for c in SECURE_RUN.commands:
            if c.key.startswith("podman run -d -p 8080:8080"):
                text = c.sub("-p 8080:8080 ", f"-p 127.0.0.1:{port}:8080 ") \
                    .replace("poky-state:", f"{volume}:")
                secure = user.run(c, text).strip()
                containers.append(secure)
                wait_healthy(podman, secure, base)
            else:
                user.run(c)
        line = (tmp_path / "tokens").read_text()
        assert re.fullmatch(r"alice [0-9a-f]{64}\n", line) and token not in line, line
        assert secure, "the second block starts no container"
        assert fetch(base + "/tasks")[0] == 401
        status, body = fetch(base + "/tasks", token=token)
        assert status == 200, body
        logs = podman.run("logs", secure, text=True).stderr
        assert "listening on 0.0.0.0:8080" in logs and "pokySecretKey" not in logs, logs
    finally:
        for c in containers:
            podman.run("rm", "-f", "-t", "5", c, check=False)
        podman.run("volume", "rm", "-f", volume, check=False)
