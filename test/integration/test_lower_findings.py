"""The lower findings of issue 18, each as the attack: an encoded slash or NUL in the path,
"?limit=%205", /readyz details without a token, and a SIGHUP that drops
tokens_file while the socket is bound to 0.0.0.0.
"""
import socket

import pytest

pytest.register_assert_rewrite("pokyd")
from pokyd import local_template, render_ini  # noqa: E402

pytest_plugins = ["pokyd"]

TOKEN = "alice-token-0123456789"


def raw(port, data):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(data)
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        return int(got.split(b" ")[1]) if got else None
    finally:
        s.close()


@pytest.fixture
def daemon(pokyd_factory):
    return pokyd_factory.new({"t": local_template("/bin/sleep 30", kill_grace=1)},
                             tokens={"alice": TOKEN})


def test_encoded_slash_and_nul_in_the_path_do_not_route(daemon):
    api = daemon.client(token=TOKEN)
    rec = api.post("/tasks", {"template": "t"}).json
    hdr = b"Host: 127.0.0.1\r\nAuthorization: Bearer " + TOKEN.encode() + b"\r\n\r\n"
    assert raw(daemon.port, b"GET /tasks/" + rec["id"].encode() + b" HTTP/1.1\r\n" + hdr) == 200
    assert raw(daemon.port, b"GET /tasks%2f" + rec["id"].encode() + b" HTTP/1.1\r\n" + hdr) == 404
    assert raw(daemon.port, b"GET /tasks%2F" + rec["id"].encode() + b" HTTP/1.1\r\n" + hdr) == 404
    assert raw(daemon.port, b"GET /tasks/" + rec["id"].encode() + b"%00junk HTTP/1.1\r\n"
               + hdr) == 404
    api.delete("/tasks/" + rec["id"])
    daemon.stop()


def test_a_limit_with_a_space_is_refused(daemon):
    api = daemon.client(token=TOKEN)
    assert api.get("/tasks?limit=%205").status == 400
    assert api.get("/tasks?limit=+5").status == 400
    assert api.get("/tasks?limit=5").status == 200
    daemon.stop()


def test_readyz_details_only_to_a_token(pokyd_factory):
    d = pokyd_factory.new({"c": {"launcher": "docker", "image": "poky-none:1",
                                 "docker_host": "unix:///nonexistent/poky-docker.sock"}},
                          tokens={"alice": TOKEN})
    anon = d.client().get("/readyz")
    assert anon.status == 503
    assert "docker_engine_error" not in anon.json["checks"], anon.json
    assert "nonexistent" not in anon.text
    full = d.client(token=TOKEN).get("/readyz")
    assert "docker_engine_error" in full.json["checks"], full.json
    d.stop()


def test_sighup_dropping_tokens_while_bound_to_any_keeps_refusing(pokyd_factory):
    d = pokyd_factory.new({"t": local_template("/bin/true")}, server={"listen": "0.0.0.0:0"},
                          tokens={"alice": TOKEN})
    assert d.client().get("/templates").status == 401
    sections = dict(d.sections)
    srv = dict(sections["server"])
    srv.pop("tokens_file")
    srv["listen"] = "127.0.0.1:0"       # the new file claims loopback; the socket is not
    sections["server"] = srv
    d.config_path.write_text(render_ini(sections))
    assert d.reload() == "failed"
    assert d.client().get("/templates").status == 401
    assert d.client(token=TOKEN).get("/templates").status == 200
    d.stop()


def test_the_submit_existence_check_follows_no_symlink(pokyd_factory, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside the root\n")
    root = tmp_path / "root"
    (root / "in").mkdir(parents=True)
    (root / "in" / "real.txt").write_text("x\n")
    (root / "in" / "link.txt").symlink_to(outside / "secret.txt")
    (root / "in" / "sub").symlink_to(outside)
    (root / "linked").symlink_to(outside)
    d = pokyd_factory.new({"p": local_template("/bin/true", **{
        "param.source_bucket": "required env=SOURCE_BUCKET max=63 s3=bucket",
        "param.source_key": "required env=SOURCE_KEY max=1024 s3=object:source_bucket",
        "env.POKY_LOCAL_ROOT": str(root)})}, tokens={"alice": TOKEN})
    api = d.client(token=TOKEN)

    def submit(bucket, key):
        return api.post("/tasks", {"template": "p", "parameters": {
            "source_bucket": bucket, "source_key": key}}).status

    assert submit("in", "real.txt") == 202
    # a link (to a file, through a directory, as the bucket) is "does not exist", as the
    # worker would find it: no oracle for paths outside the root
    assert submit("in", "link.txt") == 400
    assert submit("in", "sub/secret.txt") == 400
    assert submit("linked", "secret.txt") == 400
    d.stop()
