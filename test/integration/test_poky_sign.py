"""poky-sign against AWS's own v4 signing suite, and its command-line contract.

Every case of test/data/sigv4/v4 is signed in header and query mode; the
canonical request, string to sign, signature and the whole signed request
must equal AWS's files byte for byte.
"""
import json
import pathlib
import subprocess

import pytest

from conftest import DATA

SUITE = DATA / "sigv4" / "v4"
CASES = sorted(p.name for p in SUITE.iterdir() if p.is_dir())
STAGES = {
    "canonical": "canonical-request.txt",
    "string-to-sign": "string-to-sign.txt",
    "signature": "signature.txt",
    "request": "signed-request.txt",
}


def suite_args(case: pathlib.Path, mode: str) -> list[str]:
    ctx = json.loads((case / "context.json").read_text())
    cred = ctx["credentials"]
    args = ["--region", ctx["region"], "--service", ctx["service"],
            "--time", ctx["timestamp"],
            "--access-key", cred["access_key_id"],
            "--secret-key", cred["secret_access_key"]]
    if "token" in cred:
        args += ["--session-token", cred["token"]]
    if not ctx["normalize"]:
        args.append("--no-normalize")
    if ctx["sign_body"]:
        args.append("--sign-body")
    if ctx.get("omit_session_token"):
        args.append("--omit-session-token")
    if mode == "query":
        args += ["--presign", "--expires", str(ctx["expiration_in_seconds"])]
    return args


def run(poky_sign, args, stdin: bytes, env=None):
    return subprocess.run([str(poky_sign)] + args, input=stdin,
                          capture_output=True, timeout=30, env=env)


def test_suite_has_every_case():
    assert len(CASES) == 38


@pytest.mark.parametrize("stage", list(STAGES))
@pytest.mark.parametrize("mode", ["header", "query"])
@pytest.mark.parametrize("case", CASES)
def test_aws_suite_case(poky_sign, case, mode, stage):
    d = SUITE / case
    p = run(poky_sign, suite_args(d, mode) + ["--print", stage],
            (d / "request.txt").read_bytes())
    assert p.returncode == 0, p.stderr.decode()
    want = (d / f"{mode}-{STAGES[stage]}").read_bytes()
    got = p.stdout
    if stage != "request":
        # Stages are printed with one newline for the shell's sake.
        assert got.endswith(b"\n")
        got = got[:-1]
    assert got == want


BASE = ["--region", "us-east-1", "--service", "service",
        "--time", "20150830T123600Z", "--access-key", "AKIDEXAMPLE",
        "--secret-key", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"]
GET = b"GET / HTTP/1.1\nHost:example.amazonaws.com\n\n"


def test_credentials_from_environment(poky_sign):
    env = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
           "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
           "PATH": "/usr/bin:/bin"}
    p = run(poky_sign, BASE[:6] + ["--print", "signature"], GET, env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == (SUITE / "get-vanilla" / "header-signature.txt").read_bytes()


def test_crlf_request_signs_like_lf(poky_sign):
    crlf = GET.replace(b"\n", b"\r\n")
    a = run(poky_sign, BASE + ["--print", "signature"], GET)
    b = run(poky_sign, BASE + ["--print", "signature"], crlf)
    assert a.returncode == b.returncode == 0
    assert a.stdout == b.stdout


def test_s3_request_gets_content_sha256_and_keeps_path(poky_sign):
    req = b"GET /bucket/a/../b%20c HTTP/1.1\nHost:s3.amazonaws.com\n\n"
    p = run(poky_sign, BASE + ["--s3", "--print", "request"], req)
    assert p.returncode == 0, p.stderr
    assert b"\nx-amz-content-sha256:e3b0c442" in p.stdout
    c = run(poky_sign, BASE + ["--s3", "--print", "canonical"], req)
    assert c.stdout.split(b"\n")[1] == b"/bucket/a/../b%20c"


def test_s3_unsigned_payload(poky_sign):
    req = b"PUT /b/k HTTP/1.1\nHost:s3.amazonaws.com\n\nbody"
    p = run(poky_sign, BASE + ["--s3", "--unsigned-payload"], req)
    assert p.returncode == 0
    assert b"\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n" in p.stdout
    assert p.stdout.endswith(b"\n\nbody")


@pytest.mark.parametrize("args,stdin,needle", [
    ([], b"", b"empty request"),
    ([], b"GET /\nHost:x\n\n", b"line 1"),
    ([], b"GET / HTTP/1.1\nNoColonHere\n\n", b"line 2"),
    ([], b"GET / HTTP/1.1\n folded-first\n\n", b"continuation"),
    ([], b"GET / HTTP/1.1\nX-A:1\n\n", b"Host"),
    (["--time", "2015-13-01T00:00:00Z"], GET, b"--time"),
    (["--time", "yesterday"], GET, b"--time"),
    (["--presign", "--expires", "0"], GET, b"--expires"),
    (["--presign", "--expires", "604801"], GET, b"--expires"),
    (["--expires", "60"], GET, b"--presign"),
    (["--print", "everything"], GET, b"--print"),
    (["--bogus"], GET, b"usage"),
])
def test_bad_input_is_one_line_and_exit_2(poky_sign, args, stdin, needle):
    p = run(poky_sign, BASE + args, stdin)
    assert p.returncode == 2
    assert p.stdout == b""
    assert needle in p.stderr
    if needle != b"usage":
        assert p.stderr.count(b"\n") == 1


def test_missing_secret_is_an_error_without_secret_material(poky_sign):
    p = run(poky_sign, ["--region", "r", "--service", "s", "--access-key", "AK"],
            GET, env={"PATH": "/usr/bin:/bin"})
    assert p.returncode == 2
    assert b"secret" in p.stderr


def test_missing_region_is_an_error(poky_sign):
    p = run(poky_sign, ["--service", "s"], GET)
    assert p.returncode == 2
    assert b"--region" in p.stderr


def test_version_and_help(poky_sign):
    v = run(poky_sign, ["--version"], b"")
    assert v.returncode == 0 and v.stdout.startswith(b"poky-sign ")
    h = run(poky_sign, ["--help"], b"")
    assert h.returncode == 0 and b"--presign" in h.stdout


@pytest.mark.parametrize("target,want", [
    (b"/k", b"/k?X-Amz-Algorithm="),
    (b"/k?", b"/k?X-Amz-Algorithm="),
    (b"/k?a=1", b"/k?a=1&X-Amz-Algorithm="),
    (b"/k?a=1&", b"/k?a=1&X-Amz-Algorithm="),
    (b"/a&b", b"/a&b?X-Amz-Algorithm="),
])
def test_presign_appends_auth_query_with_one_separator(poky_sign, target, want):
    req = b"GET " + target + b" HTTP/1.1\nHost:example.amazonaws.com\n\n"
    p = run(poky_sign, BASE + ["--presign", "--expires", "60"], req)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(b"GET " + want)
