"""The Postman collection (test/postman/poky.postman_collection.json), run by newman.

test/postman/run-newman.sh installs newman with npm when it is missing, checks that the
collection imports cleanly (the Postman v2.1.0 schema, a postman-collection round trip, a
request for every route of openapi.json), starts a pokyd of its own (local launcher, the real
poky-worker, a random bearer token), runs the collection, and stops pokyd with SIGTERM
expecting exit status 0.  This test runs the script and reads newman's JSON report.

No npm, no registry, no newman: the test fails (a skip would hide that CI never ran the
collection).
"""
import json
import os
import signal
import subprocess
import sys

import pytest

from conftest import ROOT

POSTMAN = ROOT / "test" / "postman"
SCRIPT = POSTMAN / "run-newman.sh"
COLLECTION = POSTMAN / "poky.postman_collection.json"
GENERATED = ("poky.postman_collection.json", "poky.postman_environment.json")
TIMEOUT = 180


def requests_in(items, trail=()):
    for it in items:
        if "item" in it:
            yield from requests_in(it["item"], trail + (it["name"],))
        else:
            yield it["id"], " / ".join(trail + (it["name"],))


def run_script(bindir, report):
    env = dict(os.environ, POKY_BUILD_DIR=str(bindir), NEWMAN_JSON_EXPORT=str(report))
    # A session of its own: on a timeout the whole group (bash, newman, pokyd) gets SIGTERM,
    # so pokyd stops and the script's cleanup runs.
    proc = subprocess.Popen(["bash", str(SCRIPT), "--color", "off"], cwd=str(ROOT), env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        pytest.fail("run-newman.sh took over %d s:\n%s" % (
            TIMEOUT, out.decode("utf-8", "replace")[-6000:]))
    return proc.returncode, out.decode("utf-8", "replace")


def test_postman_collection_passes_under_newman(bindir, tmp_path):
    report = tmp_path / "newman.json"
    rc, out = run_script(bindir, report)
    assert rc == 0, "run-newman.sh exited %d:\n%s" % (rc, out[-10000:])
    assert "check-collection: " in out and "valid against the Postman v2.1.0 schema" in out, out
    assert report.is_file(), "newman wrote no JSON report:\n" + out[-4000:]

    run = json.loads(report.read_text())["run"]
    stats = run["stats"]
    assert run["error"] is None, run["error"]
    assert run["failures"] == [], json.dumps(run["failures"], indent=1)[:6000]
    assert stats["assertions"]["failed"] == 0, stats
    assert stats["requests"]["failed"] == 0, stats
    assert stats["testScripts"]["failed"] == 0, stats
    assert stats["prerequestScripts"]["failed"] == 0, stats

    # Every request of the collection ran (the Wait… ones may run more than once), and each
    # made assertions, none of them failing.
    wanted = dict(requests_in(json.loads(COLLECTION.read_text())["item"]))
    ran = {}
    for ex in run["executions"]:
        ran.setdefault(ex["item"]["id"], []).append(ex)
    missing = [name for rid, name in wanted.items() if rid not in ran]
    assert not missing, "requests newman never ran: %s" % missing
    for rid, name in wanted.items():
        asserts = [a for ex in ran[rid] for a in ex.get("assertions", [])]
        assert asserts, "%s: no assertions" % name
        bad = [a for a in asserts if a.get("error")]
        assert not bad, "%s: %s" % (name, bad)
    assert stats["assertions"]["total"] >= 4 * len(wanted), stats


def test_postman_files_are_what_make_collection_writes(tmp_path):
    """The JSON files are generated (helpers written once); an edit made only to the JSON
    (say, exported from the Postman app) must be carried into make-collection.py."""
    subprocess.run([sys.executable, str(POSTMAN / "make-collection.py"), str(tmp_path)],
                   check=True, capture_output=True, timeout=60)
    for name in GENERATED:
        assert (tmp_path / name).read_bytes() == (POSTMAN / name).read_bytes(), (
            "test/postman/%s differs from what test/postman/make-collection.py writes: "
            "edit the script and run it" % name)
