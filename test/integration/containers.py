"""Fresh Debian 12 containers for tests: the local base image, and apt as this host has it.

The base is localhost/poky-base:bookworm from test/base-image.sh (debootstrap, made once per
machine, then reused). A container gets this host's apt sources and proxy settings (so it
reaches the same Debian mirror the same way) and this host's CA bundle, read-only, under
/run/host-ca (HTTPS may pass a TLS-intercepting proxy here); nothing of it is baked into an
image.
"""
import glob
import os
import re
import subprocess
import tempfile

import pytest

from conftest import ROOT

# What this sandbox needs (../shared/TESTING.md) and any machine tolerates: runc (crun fails
# on hybrid cgroups), cgroupfs, no journald, ulimits root cannot raise.
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""

HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
CA_IN_CONTAINER = "/run/host-ca/ca-certificates.crt"


def podman_env(tmp_dir):
    """os.environ with a private CONTAINERS_CONF unless the caller set one."""
    env = dict(os.environ)
    if not env.get("CONTAINERS_CONF"):
        conf = os.path.join(tmp_dir, "containers.conf")
        with open(conf, "w") as f:
            f.write(CONTAINERS_CONF)
        env["CONTAINERS_CONF"] = conf
    return env


def base_image(env):
    """The local Debian base, made by test/base-image.sh when absent (~35-75 s, once)."""
    p = subprocess.run([str(ROOT / "test" / "base-image.sh")], env=env, capture_output=True,
                       text=True, timeout=900)
    if p.returncode != 0:
        pytest.fail(f"test/base-image.sh exited {p.returncode}:\n{p.stderr[-3000:]}")
    return p.stdout.strip().splitlines()[-1]


def _active_sources():
    files = sorted(glob.glob("/etc/apt/sources.list.d/*.sources") +
                   glob.glob("/etc/apt/sources.list.d/*.list"))
    if os.path.isfile("/etc/apt/sources.list"):
        files.append("/etc/apt/sources.list")
    return files


def apt_args(tmp_dir):
    """podman run arguments that give a container this host's apt configuration.

    The sources files (and any keyring they name that is not Debian's own, which the
    base already has and apt may upgrade), the Acquire::*::Proxy settings and the
    *_proxy variables, the CA bundle for apt and for curl/OpenSSL.
    """
    args = []
    sources = _active_sources()
    if not sources:
        pytest.fail("this host has no apt sources to give the container")
    if "/etc/apt/sources.list" not in sources:
        # The base's own one-line sources.list would name the mirror a second time.
        args += ["-v", "/dev/null:/etc/apt/sources.list:ro"]
    for f in sources:
        args += ["-v", f"{f}:{f}:ro"]
        with open(f) as fh:
            for key in re.findall(r"(?:Signed-By:\s*|signed-by=)(/[^\s\]]+)", fh.read()):
                if os.path.isfile(key) and "/debian-archive-" not in key:
                    args += ["-v", f"{key}:{key}:ro"]
    conf = [line for line in subprocess.run(["apt-config", "dump"], capture_output=True,
                                            text=True, check=True).stdout.splitlines()
            if re.match(r"Acquire::(https?|ftp)::Proxy", line)]
    if os.path.isfile(HOST_CA):
        args += ["-v", f"{HOST_CA}:{CA_IN_CONTAINER}:ro",
                 "-e", f"SSL_CERT_FILE={CA_IN_CONTAINER}",
                 "-e", f"CURL_CA_BUNDLE={CA_IN_CONTAINER}"]
        conf.append(f'Acquire::https::CaInfo "{CA_IN_CONTAINER}";')
    if conf:
        path = os.path.join(tmp_dir, "99host-apt.conf")
        with open(path, "w") as f:
            f.write("\n".join(conf) + "\n")
        args += ["-v", f"{path}:/etc/apt/apt.conf.d/99host-apt:ro"]
    for var in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                "NO_PROXY"):
        if os.environ.get(var):
            args += ["-e", var]
    return args


def clean_tree(dest):
    """The repository as a fresh clone would have it, into dest: the files git tracks or
    would track (ls-files --cached --others --exclude-standard), as they are in the work
    tree, so the test judges this code, and nothing git ignores: no build/, var/ or
    node_modules."""
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], capture_output=True, check=True).stdout
    names = [n for n in files.decode().split("\0") if n and os.path.lexists(ROOT / n)]
    os.makedirs(dest, exist_ok=True)
    pack = subprocess.Popen(["tar", "-C", str(ROOT), "--null", "-T", "-", "-c"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    unpack = subprocess.Popen(["tar", "-x", "-C", str(dest)], stdin=pack.stdout)
    pack.stdout.close()
    pack.stdin.write("\0".join(names).encode())
    pack.stdin.close()
    assert pack.wait(timeout=120) == 0 and unpack.wait(timeout=120) == 0
    return dest


def podman(env, *args, timeout=120, check=True, input=None):
    p = subprocess.run(["podman", *args], env=env, capture_output=True, text=True,
                       timeout=timeout, input=input)
    if check and p.returncode != 0:
        raise AssertionError(f"podman {' '.join(args[:3])}... exited {p.returncode}:\n"
                             f"{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return p


def tmpdir(prefix):
    return tempfile.mkdtemp(prefix=prefix, dir="/var/tmp")


def _makefile_list(var):
    """A package list of the Makefile (DEPS_BUILD ...), continuation lines joined."""
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    m = re.search(rf"^{var}\s*:=\s*(.*)$", text, re.M)
    assert m, var
    return m.group(1).split()


def derived_image(env, tmp_dir, name, packages, from_image):
    """from_image plus Debian packages, committed as name and reused while its label
    lists the same packages. Made in a container with this host's apt configuration
    mounted, so nothing of it (sources, proxy, CA) stays in the image."""
    import fcntl
    packages = sorted(set(packages))
    want = " ".join(packages)
    with open("/tmp/poky-images.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        p = podman(env, "image", "inspect", "--format",
                   '{{index .Config.Labels "poky.packages"}}', name, check=False)
        if p.returncode == 0 and p.stdout.strip() == want:
            return name
        tmp = f"poky-image-{os.getpid()}"
        podman(env, "rm", "-f", tmp, check=False)
        try:
            podman(env, "run", "--name", tmp, *apt_args(tmp_dir), from_image, "bash", "-c",
                   "set -e; export DEBIAN_FRONTEND=noninteractive; apt-get update -q; "
                   f"apt-get install -y -q --no-install-recommends {want}; apt-get clean; "
                   "rm -rf /var/lib/apt/lists/*", timeout=900)
            podman(env, "commit", "-q", "--change", f"LABEL poky.packages={want}",
                   "--change", 'CMD ["/sbin/init"]', tmp, name, timeout=300)
        finally:
            podman(env, "rm", "-f", tmp, check=False)
    return name
