"""Webhooks against hostile receivers (issue 18): deliveries to different hosts never wait on
each other (ten tarpits on 127.0.0.2-11 hold nobody else's webhook); a callback_url whose dot
segments leave the allowed prefix is refused; `pokyd -t` refuses a webhook_allow prefix that
ends inside its host name.
"""
import http.server
import socket
import subprocess
import threading
import time

import pytest

pytest.register_assert_rewrite("pokyd")
from pokyd import local_template, wait_task  # noqa: E402

pytest_plugins = ["pokyd"]


class Tarpit:
    """Accepts on addr and never answers."""

    def __init__(self, addr):
        self.sock = socket.socket()
        self.sock.bind((addr, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.addr = addr
        self.held = []
        self.stop = False
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
                self.held.append(c)
            except OSError:
                pass

    def url(self, path="/hook"):
        return "http://%s:%d%s" % (self.addr, self.port, path)

    def close(self):
        self.stop = True
        for c in self.held:
            c.close()
        self.sock.close()


class Quick:
    """Answers 200 at once and notes when each delivery came."""

    def __init__(self, addr):
        self.times = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.times.append(time.monotonic())
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer((addr, 0), H)
        self.addr, self.port = addr, self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def url(self, path="/hook"):
        return "http://%s:%d%s" % (self.addr, self.port, path)

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def test_ten_tarpits_do_not_delay_another_hosts_webhook(pokyd_factory):
    pits = [Tarpit("127.0.0.%d" % i) for i in range(2, 12)]
    quick = Quick("127.0.0.12")
    try:
        allow = [p.url("/") for p in pits] + [quick.url("/")]
        d = pokyd_factory.new({"true": local_template("/bin/true")},
                              tracker={"webhook_allow": allow})
        api = d.client()
        slow = [api.submit("true", callback_url=p.url()) for p in pits]
        for rec in slow:
            wait_task(api, rec["id"], "succeeded")
        time.sleep(0.5)                 # the tarpits hold their deliveries now
        t0 = time.monotonic()
        rec = api.submit("true", callback_url=quick.url())
        wait_task(api, rec["id"], "succeeded")
        while not quick.times and time.monotonic() - t0 < 30:
            time.sleep(0.05)
        assert quick.times, "the webhook never came"
        took = quick.times[0] - t0
        assert took < 2, "another host's webhook waited %.1f s behind ten tarpits" % took
        d.stop()
    finally:
        for p in pits:
            p.close()
        quick.close()


@pytest.mark.parametrize("path", ["/hooks/../admin/x", "/hooks/%2e%2e/admin/x",
                                  "/hooks/%2E%2e/admin/x", "/hooks/..%2fadmin/x"])
def test_a_callback_leaving_its_prefix_by_dot_segments_is_refused(pokyd_factory, path):
    base = "http://127.0.0.1:9"
    d = pokyd_factory.new({"true": local_template("/bin/true")},
                          tracker={"webhook_allow": base + "/hooks/"})
    r = d.client().post("/tasks", {"template": "true", "callback_url": base + path})
    assert r.status == 400, r
    ok = d.client().post("/tasks", {"template": "true",
                                    "callback_url": base + "/hooks/a/../b"})
    assert ok.status == 202, ok
    d.stop()


def test_t_refuses_a_prefix_that_ends_inside_its_host(bindir, tmp_path):
    for prefix, good in (("https://hooks.example.com", False), ("https://hooks.", False),
                         ("https://hooks.example.com:8443", False),
                         ("https://hooks.example.com/", True), ("https://", True)):
        ini = tmp_path / "p.ini"
        ini.write_text("[server]\nlisten = 127.0.0.1:0\nstate_dir = %s\n"
                       "[tracker]\nwebhook_allow = %s\n"
                       "[template.t]\nlauncher = local\ncommand = /bin/true\n"
                       % (tmp_path / "state", prefix))
        p = subprocess.run([str(bindir / "pokyd"), "-c", str(ini), "-t"],
                           capture_output=True, text=True, timeout=30)
        assert (p.returncode == 0) == good, (prefix, p.stderr)
        if not good:
            assert "ends inside its host" in p.stderr, p.stderr
