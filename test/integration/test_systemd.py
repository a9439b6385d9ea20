"""The systemd unit and pokyd's sd_notify protocol, judged by systemd-analyze.

systemd-analyze verify must print nothing about config/pokyd.service (warnings fail
too), its offline security score must be at most 2.5, and pokyd must tell a test
NOTIFY_SOCKET READY=1 once it listens, RELOADING=1/READY=1 around SIGHUP, WATCHDOG=1
while healthy, and STOPPING=1 on SIGTERM.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import ROOT

UNIT = ROOT / "config" / "pokyd.service"


@pytest.fixture
def unit_copy(bindir, tmp_path):
    """The unit with its binary paths pointing at this build (verify checks them)."""
    text = UNIT.read_text().replace("/usr/local/bin/pokyd", str(bindir / "pokyd"))
    p = tmp_path / "pokyd.service"
    p.write_text(text)
    return p


def analyze():
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.fail("systemd-analyze is missing (Debian package systemd)")
    return exe


def test_unit_verifies_without_any_warning(unit_copy):
    p = subprocess.run([analyze(), "verify", str(unit_copy)], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stderr.strip() == "" and p.stdout.strip() == "", p.stderr + p.stdout


def test_unit_security_exposure_at_most_2_5(unit_copy):
    p = subprocess.run([analyze(), "security", "--offline=yes", "--threshold=25",
                        str(unit_copy)], capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", p.stdout + p.stderr)
    assert m, p.stdout + p.stderr
    assert float(m.group(1)) <= 2.5
    assert p.returncode == 0


def test_unit_is_type_notify_with_reload_and_state_directory():
    text = UNIT.read_text()
    for line in ("Type=notify", "ExecReload=/bin/sh -c 'kill -HUP \"$MAINPID\"'",
                 "StateDirectory=poky", "DynamicUser=yes", "WatchdogSec="):
        assert line in text


def write_config(tmp_path, port="0"):
    cfg = tmp_path / "pokyd.ini"
    cfg.write_text(f"""[server]
listen = 127.0.0.1:{port}
state_dir = {tmp_path}/state
[template.t]
launcher = local
command = /bin/true
""")
    return cfg


def recv_until(sock, want, timeout=20):
    got = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        sock.settimeout(max(0.05, end - time.monotonic()))
        try:
            msg = sock.recv(4096).decode()
        except socket.timeout:
            break
        got.append(msg)
        if want in msg.split("\n"):
            return got
    raise AssertionError(f"{want!r} not received; got {got!r}")


def test_sd_notify_ready_reload_watchdog_stopping(bindir, tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    cfg = write_config(tmp_path)
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="200000",
               HOME=str(tmp_path))
    proc = subprocess.Popen([str(bindir / "pokyd"), "-c", str(cfg)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        recv_until(sock, "READY=1")
        recv_until(sock, "WATCHDOG=1")
        proc.send_signal(signal.SIGHUP)
        got = recv_until(sock, "READY=1")
        assert any("RELOADING=1" in m for m in got)
        proc.send_signal(signal.SIGTERM)
        recv_until(sock, "STOPPING=1")
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "ERROR: AddressSanitizer" not in err and "runtime error" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()


def test_make_install_lays_out_binaries_unit_and_config(tmp_path):
    dest = tmp_path / "root"
    p = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "install",
                        f"DESTDIR={dest}", "PREFIX=/usr"], capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stderr
    for rel in ("usr/bin/pokyd", "usr/bin/poky-sign", "usr/bin/poky-worker",
                "etc/poky/pokyd.ini", "usr/lib/systemd/system/pokyd.service"):
        assert (dest / rel).exists(), rel
    unit = (dest / "usr/lib/systemd/system/pokyd.service").read_text()
    assert "ExecStart=/usr/bin/pokyd -c /etc/poky/pokyd.ini" in unit
    # The dynamic user reads the configuration; the secrets are root's alone.
    modes = {rel: (dest / rel).stat().st_mode & 0o777 for rel in (
        "etc/poky/pokyd.ini", "etc/poky/webhook_secret", "etc/default/pokyd")}
    assert modes == {"etc/poky/pokyd.ini": 0o644, "etc/poky/webhook_secret": 0o600,
                     "etc/default/pokyd": 0o600}, modes
    assert (dest / "etc/poky/webhook_secret").read_text() == ""
    # An operator's edited config survives a second install.
    for rel in ("etc/poky/pokyd.ini", "etc/poky/webhook_secret", "etc/default/pokyd"):
        (dest / rel).write_text("; mine\n")
    subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "install",
                    f"DESTDIR={dest}", "PREFIX=/usr"], capture_output=True, check=True,
                   timeout=600)
    for rel in ("etc/poky/pokyd.ini", "etc/poky/webhook_secret", "etc/default/pokyd"):
        assert (dest / rel).read_text() == "; mine\n", rel


def test_make_install_under_usr_local_puts_the_unit_in_etc(tmp_path):
    dest = tmp_path / "root"
    p = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "install",
                        f"DESTDIR={dest}"], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    unit = (dest / "etc/systemd/system/pokyd.service").read_text()
    assert "ExecStart=/usr/local/bin/pokyd -c /etc/poky/pokyd.ini" in unit
    assert not (dest / "usr/lib/systemd").exists()


def test_unit_hands_over_secrets_and_aws_environment():
    text = UNIT.read_text()
    for line in ("LoadCredential=tokens:/etc/poky/tokens",
                 "LoadCredential=webhook_secret:/etc/poky/webhook_secret",
                 "EnvironmentFile=-/etc/default/pokyd"):
        assert line in text.splitlines(), line
