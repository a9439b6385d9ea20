"""Token scopes and ownership (issue 18): tokens_file lines are ``NAME HASH [scope...]`` with
scopes submit, read, cancel, metrics, admin; a line without scopes is admin (the files written
before scopes keep working).  A token sees, lists, reads the logs of and cancels only the tasks
it made, unless it is admin; another owner's task is a 404, like one that does not exist.
"""
import hashlib
import subprocess

import pytest

pytest.register_assert_rewrite("pokyd")
from pokyd import local_template, wait_task  # noqa: E402

pytest_plugins = ["pokyd"]

TOKENS = {
    "alice": ("alice-token-0123456789", "submit read cancel"),
    "bob": ("bob-token-0123456789ab", "submit read cancel"),
    "root": ("root-token-0123456789a", ""),            # a line from before scopes: admin
    "prom": ("prom-token-0123456789a", "metrics"),
    "viewer": ("viewer-token-01234567", "read"),
}


def tokens_text(tokens):
    return "".join("%s %s %s\n" % (n, hashlib.sha256(t.encode()).hexdigest(), s)
                   for n, (t, s) in tokens.items())


@pytest.fixture
def daemon(pokyd_factory, tmp_path):
    tf = tmp_path / "tokens"
    tf.write_text(tokens_text(TOKENS))
    return pokyd_factory.new({"sleep": local_template("/bin/sleep 30", kill_grace=1),
                              "echo": local_template("/bin/echo hello")},
                             server={"tokens_file": str(tf)})


def client(d, name):
    return d.client(token=TOKENS[name][0])


def listed(api):
    r = api.get("/tasks?limit=1000")
    assert r.status == 200, r
    return {t["id"] for t in r.json["tasks"]}


def test_two_tokens_are_isolated_on_every_route(daemon):
    alice, bob, root = client(daemon, "alice"), client(daemon, "bob"), client(daemon, "root")
    a = alice.post("/tasks", {"template": "sleep"}).json
    done = alice.post("/tasks", {"template": "echo"}).json
    b = bob.post("/tasks", {"template": "sleep"}).json
    wait_task(alice, done["id"], "succeeded")
    # bob: alice's tasks do not exist for him, on every route that names a task
    for tid in (a["id"], done["id"]):
        assert bob.get("/tasks/" + tid).status == 404
        assert bob.get("/tasks/%s/logs" % tid).status == 404
        assert bob.delete("/tasks/" + tid).status == 404
    assert listed(bob) == {b["id"]}
    # and the other way round
    assert alice.get("/tasks/" + b["id"]).status == 404
    assert alice.delete("/tasks/" + b["id"]).status == 404
    assert listed(alice) == {a["id"], done["id"]}
    # the owner sees its own (callback_url and all), and its logs
    assert alice.get("/tasks/" + a["id"]).json["id"] == a["id"]
    assert alice.get("/tasks/%s/logs" % done["id"]).text == "hello\n"
    # a one-field line is admin: every task, whoever made it
    assert {a["id"], b["id"], done["id"]} <= listed(root)
    assert root.get("/tasks/%s/logs" % done["id"]).status == 200
    assert bob.get("/tasks/" + b["id"]).json["status"] in ("starting", "running")
    # bob's refused cancel changed nothing; alice's own cancel works; root cancels bob's
    assert alice.get("/tasks/" + a["id"]).json["status"] in ("starting", "running")
    assert alice.delete("/tasks/" + a["id"]).status == 202
    assert root.delete("/tasks/" + b["id"]).status == 202
    wait_task(alice, a["id"], "cancelled")
    wait_task(root, b["id"], "cancelled")
    daemon.stop()


def test_scopes_limit_the_routes(daemon):
    prom, viewer, alice = client(daemon, "prom"), client(daemon, "viewer"), client(daemon, "alice")
    assert prom.get("/metrics").status == 200
    assert prom.get("/tasks").status == 403
    assert prom.post("/tasks", {"template": "echo"}).status == 403
    assert alice.get("/metrics").status == 403
    assert viewer.post("/tasks", {"template": "echo"}).status == 403
    assert viewer.get("/tasks").status == 200
    assert viewer.get("/templates").status == 200
    rec = alice.post("/tasks", {"template": "sleep"}).json
    assert viewer.delete("/tasks/" + rec["id"]).status == 403
    assert client(daemon, "root").get("/metrics").status == 200
    assert alice.delete("/tasks/" + rec["id"]).status == 202
    wait_task(alice, rec["id"], "cancelled")
    daemon.stop()


def test_an_unknown_scope_is_refused_without_echoing_it(bindir, tmp_path):
    tf = tmp_path / "tokens"
    secret = "plain-token-pasted-by-mistake"
    tf.write_text("alice %s read %s\n" % (hashlib.sha256(b"x" * 20).hexdigest(), secret))
    ini = tmp_path / "p.ini"
    ini.write_text("[server]\nlisten = 127.0.0.1:0\nstate_dir = %s\ntokens_file = %s\n"
                   "[template.t]\nlauncher = local\ncommand = /bin/true\n"
                   % (tmp_path / "state", tf))
    p = subprocess.run([str(bindir / "pokyd"), "-c", str(ini), "-t"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode != 0
    assert "unknown scope" in p.stderr and ":1:" in p.stderr, p.stderr
    assert secret not in p.stderr + p.stdout
