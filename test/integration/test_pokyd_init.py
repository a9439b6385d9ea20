"""pokyd --init FILE [NAME]: a new random token, its hash appended to FILE (made 0600), the
token printed once on stdout and nowhere else; the tokens file it makes is one pokyd
loads, and the token opens the API while another does not.
"""
import hashlib
import os
import re
import stat
import subprocess

import pytest

pytest.register_assert_rewrite("pokyd")
from pokyd import local_template, sanitizer_report  # noqa: E402

pytest_plugins = ["pokyd"]      # fixtures: pokyd_factory ...


def init(bindir, path, *name):
    p = subprocess.run([str(bindir / "pokyd"), "--init", str(path), *name],
                       capture_output=True, text=True, timeout=30)
    assert sanitizer_report(p.stderr) is None, p.stderr
    return p


def test_init_makes_a_0600_file_of_hashes_and_prints_each_token_once(bindir, tmp_path):
    path = tmp_path / "tokens"
    a = init(bindir, path, "alice")
    assert a.returncode == 0, a.stderr
    tok_a = a.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", tok_a), a.stdout
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert tok_a not in a.stderr and "alice" in a.stderr
    b = init(bindir, path)                       # default name, appended
    assert b.returncode == 0, b.stderr
    tok_b = b.stdout.strip()
    assert tok_b != tok_a
    lines = path.read_text().splitlines()
    assert lines == [f"alice {hashlib.sha256(tok_a.encode()).hexdigest()}",
                     f"admin {hashlib.sha256(tok_b.encode()).hexdigest()}"]


def test_init_refuses_a_bad_name_and_an_unwritable_file(bindir, tmp_path):
    p = init(bindir, tmp_path / "tokens", "no spaces")
    assert p.returncode == 2 and "token name must be" in p.stderr and p.stdout == ""
    assert not (tmp_path / "tokens").exists()
    p = init(bindir, tmp_path / "missing-dir" / "tokens", "ok")
    assert p.returncode == 1 and "missing-dir/tokens: No such file" in p.stderr
    assert p.stdout == ""                        # no token shown that was not stored
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    p = init(bindir, tmp_path / "link", "ok")
    assert p.returncode == 1 and p.stdout == ""
    assert not (tmp_path / "elsewhere").exists()


def test_the_token_opens_the_api(pokyd_factory, bindir, tmp_path):
    path = tmp_path / "tokens"
    token = init(bindir, path, "ops").stdout.strip()
    d = pokyd_factory.new({"t": local_template("/bin/true")},
                          server={"tokens_file": str(path)})
    c = d.client(check=False)
    assert c.request("GET", "/tasks", token=token).status == 200
    assert c.request("GET", "/tasks", token="f" * 64).status == 401
    assert c.request("GET", "/tasks").status == 401
