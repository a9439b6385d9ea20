"""Browsers against an API that trusts its callers (issue 18): without tokens (and for
/process_file always) a request a browser marks cross-site (Origin, Sec-Fetch-Site) is refused,
and so is a Host that is neither the bound address nor one of server_names (DNS rebinding);
an HTTP/1.1 request with two Host headers or none is refused.
"""
import socket

import pytest

pytest.register_assert_rewrite("pokyd")
from pokyd import local_template  # noqa: E402

pytest_plugins = ["pokyd"]

FORM = "bucket=in&key=a.txt"


def raw_status(port, head):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(head)
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return int(data.split(b" ")[1]) if data else None
    finally:
        s.close()


@pytest.fixture
def anon(pokyd_factory):
    return pokyd_factory.new({"t": local_template("/bin/true")},
                             server={"server_names": "poky.internal"})


def test_cross_site_form_post_and_reads_are_refused_when_anonymous(anon):
    api = anon.client(check=False)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    r = api.post("/process_file", body=FORM.encode(),
                 headers=dict(form, Origin="http://evil.test"))
    assert r.status == 403, r
    r = api.post("/tasks", {"template": "t"}, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status == 403, r
    assert api.get("/tasks", headers={"Origin": "null"}).status == 403
    # the same origin, or no browser at all, is served
    own = "http://127.0.0.1:%d" % anon.port
    assert api.get("/tasks", headers={"Origin": own, "Sec-Fetch-Site": "same-origin"}).status == 200
    assert api.get("/tasks").status == 200
    anon.stop()


def test_a_foreign_host_is_refused_and_server_names_are_served(anon):
    api = anon.client(check=False)
    assert api.get("/tasks", headers={"Host": "rebind.evil.test:%d" % anon.port}).status == 403
    assert api.get("/tasks", headers={"Host": "poky.internal:%d" % anon.port}).status == 200
    assert api.get("/tasks", headers={"Host": "localhost:%d" % anon.port}).status == 200
    anon.stop()


def test_two_host_headers_or_none_are_refused(anon):
    assert raw_status(anon.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"Host: evil.test\r\n\r\n") == 400
    assert raw_status(anon.port, b"GET /healthz HTTP/1.1\r\n\r\n") == 400
    assert raw_status(anon.port, b"GET /healthz HTTP/1.0\r\n\r\n") == 200
    anon.stop()


def test_process_file_form_from_another_site_is_refused_even_with_a_token(pokyd_factory):
    d = pokyd_factory.new({"t": local_template("/bin/true")},
                          tokens={"alice": "alice-token-0123456789"})
    api = d.client(token="alice-token-0123456789", check=False)
    r = api.post("/process_file", body=FORM.encode(),
                 headers={"Content-Type": "application/x-www-form-urlencoded",
                          "Origin": "http://evil.test", "Sec-Fetch-Site": "cross-site"})
    assert r.status == 403, r
    d.stop()
