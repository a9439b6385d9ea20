"""The web console (/ui/): its files and headers, and the page itself in Debian's chromium.

The browser part runs test/console/console_test.js (puppeteer-core from test/npm-tools.sh) against
a pokyd in local mode with a tokens file: it submits through the form (once with a bad parameter,
whose API message must appear beside the field), follows the task to succeeded without a reload,
reads its logs, cancels a slow task, and checks that no request leaves pokyd, no console error and
no CSP violation happen.  Every answer the page received is then held against openapi.json here.
Screenshots (desktop and 375 px) go to build/console/.
"""
import gzip
import json
import shutil
import subprocess

import pytest

from conftest import ROOT
from pokyd import Response, local_template

pytest_plugins = ["pokyd"]

TOKEN = "console-test-token-5f1c"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
UI_DIR = ROOT / "src" / "daemon" / "ui"
NODE_MODULES = ROOT / "test" / "node_modules"


def console_templates(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    copy = tmp_path / "copy.sh"
    copy.write_text('set -e\ncp "$SOURCE" "%s/copy.txt"\necho "$GREETING: copied $SOURCE"\n' % out)
    slow = tmp_path / "slow.sh"
    slow.write_text("echo started slow\nsleep 60\necho never\n")
    return out, {
        "copy": local_template("/bin/sh " + str(copy), **{
            "param.source": "required env=SOURCE max=200",
            "param.greeting": "optional env=GREETING default=hello pattern=^[a-z]+$ max=32"}),
        "slow": local_template("/bin/sh " + str(slow), kill_grace=1),
    }


@pytest.fixture
def console_pokyd(pokyd_factory, tmp_path):
    out, templates = console_templates(tmp_path)
    d = pokyd_factory.new(templates, tokens={"ops": TOKEN})
    return d, out


def test_files_are_served_with_the_console_headers(console_pokyd):
    d, _ = console_pokyd
    c = d.client()                  # no token: the page is open
    for name, ctype in (("", "text/html"), ("index.html", "text/html"),
                        ("app.js", "text/javascript"), ("app.css", "text/css")):
        r = c.get("/ui/" + name)
        assert r.status == 200, r
        assert r.media_type == ctype
        assert r.header("Content-Security-Policy") == CSP
        assert r.header("X-Frame-Options") == "DENY"
        assert r.header("Referrer-Policy") == "no-referrer"
        assert r.header("X-Content-Type-Options") == "nosniff"
        assert r.header("Cache-Control") == "no-cache"
        assert r.body == (UI_DIR / (name or "index.html")).read_bytes()
        again = c.get("/ui/" + name, headers={"If-None-Match": r.header("ETag")})
        assert again.status == 304 and again.body == b""
    # The API keeps no-store.
    assert c.get("/tasks", token=TOKEN).header("Cache-Control") == "no-store"


def test_only_compiled_in_names_and_no_query(console_pokyd):
    d, _ = console_pokyd
    c = d.client()
    for path in ("/ui/nope.js", "/ui/..", "/ui/app.js.map", "/ui/%2e%2e%2fapi.c"):
        r = c.get(path)
        assert r.status == 404, (path, r)
    assert c.get("/ui/a/b").status == 404
    assert c.get("/ui/?token=x").status == 400
    assert c.get("/ui/app.js?v=1").status == 400
    r = c.get("/ui")
    assert r.status == 308 and r.header("Location") == "/ui/"
    assert c.request("POST", "/ui/", body="x", content_type="text/plain").status == 405


def test_index_has_nothing_inline_or_external():
    html = (UI_DIR / "index.html").read_text()
    low = html.lower()
    assert "<style" not in low and " style=" not in low and " on" + "click=" not in low
    assert "<script>" not in low                     # only <script src=...>
    for marker in ("http://", "https://", "//cdn", "@import", "url("):
        for f in UI_DIR.iterdir():
            assert marker not in f.read_text(), (marker, f.name)


def test_bundle_is_small():
    raw = sum(f.stat().st_size for f in UI_DIR.iterdir())
    gz = sum(len(gzip.compress(f.read_bytes(), 9)) for f in UI_DIR.iterdir())
    print("console bundle: %d bytes, %d gzip" % (raw, gz))
    assert gz < 100 * 1024


def test_console_in_chromium(console_pokyd, tmp_path, openapi):
    if not shutil.which("node") or not (NODE_MODULES / "puppeteer-core").is_dir():
        pytest.fail("puppeteer-core not installed: run sh test/npm-tools.sh")
    if not shutil.which("/usr/bin/chromium"):
        pytest.fail("chromium not installed: apt-get install chromium (make deps-test)")
    d, out = console_pokyd
    source = tmp_path / "input.txt"
    source.write_text("Poky console test file\n")
    shots = ROOT / "build" / "console"
    shots.mkdir(parents=True, exist_ok=True)
    cfg = {
        "base": "http://127.0.0.1:%d" % d.port, "token": TOKEN, "outdir": str(shots),
        "results": str(tmp_path / "results.json"),
        "copy": {"template": "copy", "source": str(source), "greeting_bad": "BAD!",
                 "greeting": "hello", "greeting_message": "does not match ^[a-z]+$",
                 "log_line": "hello: copied " + str(source)},
        "slow": {"template": "slow", "log_line": "started slow"},
    }
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    p = subprocess.run(["node", str(ROOT / "test" / "console" / "console_test.js"),
                        str(tmp_path / "cfg.json")], capture_output=True, text=True,
                       timeout=240, cwd=str(tmp_path))
    assert p.returncode == 0, "console test failed:\n%s\n%s\npokyd:\n%s" % (
        p.stdout, p.stderr[-6000:], d.log()[-3000:])
    assert (out / "copy.txt").read_text() == source.read_text()
    # What the page received is what the API documents.
    results = json.loads((tmp_path / "results.json").read_text())
    checked = 0
    for x in results["responses"]:
        if x["body"] is None or not x["url"].startswith(cfg["base"]):
            continue
        # A body the page never read (the 404 of /events) is not kept by chromium.
        if len(x["body"].encode()) != int(x["headers"].get("content-length", -1)):
            continue
        path = x["url"][len(cfg["base"]):]
        resp = Response(x["status"], "", list(x["headers"].items()), x["body"].encode())
        openapi.check(x["method"], path, resp)
        checked += 1
    assert checked >= 10
    for name in ("console-list-desktop.png", "console-list-phone.png",
                 "console-task-desktop.png", "console-task-phone.png"):
        assert (shots / name).stat().st_size > 5000, name
