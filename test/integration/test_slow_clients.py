"""Slow clients against the connection deadlines (issue 18): the head has a total deadline from
accept, the body a minimum rate, the answer a send deadline; the oldest slow head goes when the
server is nearly full (the reserve), so trickling clients never lock /healthz out; a SIGTERM
drain ends within those deadlines; a declared or chunked body over max_body_bytes is refused at
once, without "100 Continue".

The tricklers use non-blocking sockets and really send a byte every second or so (a client that
sends nothing is caught by any idle timer; one that trickles is not).  They connect from
127.0.0.2.. so that they are several "clients" for the per-client cap.
"""
import errno
import http.client
import signal
import socket
import time

import pytest

pytest.register_assert_rewrite("pokyd")
from pokyd import local_template, wait_for  # noqa: E402

pytest_plugins = ["pokyd"]


def trickler(port, src, head=b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.setblocking(False)
    err = s.connect_ex(("127.0.0.1", port))
    assert err in (0, errno.EINPROGRESS), err
    return {"sock": s, "pending": head, "src": src}


def tick(t, byte=b"a"):
    """Send the next byte (or what is left of the head); False once the server has hung up."""
    s = t["sock"]
    try:
        data = s.recv(4096)
        if data == b"" or data:
            return False           # closed, or answered (an error): either way, not held
    except BlockingIOError:
        pass
    except OSError:
        return False
    try:
        if t["pending"]:
            n = s.send(t["pending"])
            t["pending"] = t["pending"][n:]
        else:
            s.send(byte)
    except BlockingIOError:
        pass                       # still connecting, or the buffer is full: try again later
    except OSError:
        return False
    return True


def probe(port, timeout=3.0):
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/healthz")
        r = conn.getresponse()
        r.read()
        return r.status, time.monotonic() - t0
    except OSError as e:
        return repr(e), time.monotonic() - t0
    finally:
        conn.close()


def test_trickling_clients_beyond_max_connections_leave_healthz_served(pokyd_factory):
    # request_timeout is long: what keeps /healthz served here is the reserve, not the deadline.
    d = pokyd_factory.new({"t": local_template("/bin/true")},
                          server={"max_connections": 16, "request_timeout": 60})
    sources = ["127.0.0.%d" % i for i in range(2, 8)]
    slow = [trickler(d.port, sources[i % len(sources)]) for i in range(30)]
    failures, reconnects = [], 0
    try:
        end = time.monotonic() + 10
        while time.monotonic() < end:
            for i, t in enumerate(slow):
                if not tick(t):
                    t["sock"].close()       # an attacker comes back at once
                    slow[i] = trickler(d.port, t["src"])
                    reconnects += 1
            status, took = probe(d.port)
            if status != 200:
                failures.append((status, round(took, 2)))
            time.sleep(0.7)
    finally:
        for t in slow:
            t["sock"].close()
    assert not failures, "healthz failed under %d trickling clients: %s" % (len(slow), failures)
    assert reconnects > 0           # the slow heads were dropped, the attack was real
    d.stop()


def test_a_head_trickled_at_one_byte_a_second_is_dropped_by_its_deadline(pokyd_factory):
    d = pokyd_factory.new({"t": local_template("/bin/true")}, server={"request_timeout": 2})
    t = trickler(d.port, "127.0.0.2")
    t0 = time.monotonic()
    try:
        while tick(t):
            assert time.monotonic() - t0 < 10, "a 1 byte/s head kept its connection for 10 s"
            time.sleep(1)
    finally:
        t["sock"].close()
    assert time.monotonic() - t0 < 5
    assert probe(d.port)[0] == 200
    d.stop()


def trickled_body(port):
    head = (b"POST /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n{")
    return trickler(port, "127.0.0.3", head=head)


def test_a_body_trickled_at_one_byte_a_second_is_dropped_below_the_minimum_rate(pokyd_factory):
    d = pokyd_factory.new({"t": local_template("/bin/true")}, server={"request_timeout": 2})
    t = trickled_body(d.port)
    t0 = time.monotonic()
    try:
        while tick(t, b" "):
            assert time.monotonic() - t0 < 12, "a 1 byte/s body kept its connection for 12 s"
            time.sleep(1)
    finally:
        t["sock"].close()
    assert time.monotonic() - t0 < 6
    d.stop()


def test_sigterm_drain_is_bounded_by_the_deadlines(pokyd_factory):
    d = pokyd_factory.new({"t": local_template("/bin/true")}, server={"request_timeout": 2})
    t = trickled_body(d.port)
    try:
        for _ in range(2):
            assert tick(t, b" ")
            time.sleep(0.5)
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        while d.proc.poll() is None and time.monotonic() - t0 < 15:
            tick(t, b" ")
            time.sleep(0.5)
        took = time.monotonic() - t0
    finally:
        t["sock"].close()
    assert d.proc.poll() is not None, "pokyd still draining a trickled body after 15 s"
    assert took < 8, took
    d.stop()


def raw(port, data, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    return s


def test_a_declared_body_over_the_limit_is_refused_before_it_is_sent(pokyd_factory):
    d = pokyd_factory.new({"t": local_template("/bin/true")})
    for expect in (b"Expect: 100-continue\r\n", b""):
        s = raw(d.port, b"POST /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000000000\r\n"
                + expect + b"\r\n")
        try:
            t0 = time.monotonic()
            got = b""
            while b"\r\n\r\n" not in got:
                data = s.recv(4096)
                assert data, "closed without an answer: %r" % got
                got += data
            assert got.startswith(b"HTTP/1.1 413"), got[:200]
            assert b"100 Continue" not in got
            assert b"connection: close" in got.lower()
            assert time.monotonic() - t0 < 3
        finally:
            s.close()
    assert probe(d.port)[0] == 200
    d.stop()


def test_a_chunked_body_over_the_limit_is_not_read_to_its_end(pokyd_factory):
    d = pokyd_factory.new({"t": local_template("/bin/true")}, server={"max_body_bytes": 65536})
    s = raw(d.port, b"POST /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"
    sent = 0
    refused = False
    try:
        while sent < 64 << 20:              # 64 MiB: far more than anyone should read
            try:
                s.sendall(chunk)
            except OSError:
                refused = True
                break
            sent += len(chunk)
    finally:
        s.close()
    assert refused, "the server read a %d-byte chunked body" % sent
    assert sent < 8 << 20, sent
    assert probe(d.port)[0] == 200
    d.stop()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def non_reading_clients(port, path, n):
    """n connections (from 4 loopback addresses: the per-client cap is not what is tested)
    that ask for path with a tiny receive buffer and never read the answer."""
    socks = []
    for i in range(n):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.bind(("127.0.0.%d" % (2 + i % 4), 0))
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path.encode())
        socks.append(s)
    return socks


def test_150_log_readers_that_never_read_cost_no_log_sized_memory(pokyd_factory):
    # An 8 MB log; each client asks for it and never reads: an answer built in memory would
    # cost 150 x 8 MB.  Streamed from the file, it costs a socket buffer.
    d = pokyd_factory.new({"big": local_template("/usr/bin/head -c 8000000 /dev/zero")},
                          server={"max_connections": 400})
    api = d.client()
    rec = api.submit("big")
    from pokyd import wait_task
    wait_task(api, rec["id"], "succeeded")
    before = rss_kib(d.proc.pid)
    socks = []
    try:
        socks = non_reading_clients(d.port, "/tasks/%s/logs" % rec["id"], 150)
        time.sleep(3)                      # every answer is under way
        after = rss_kib(d.proc.pid)
        assert probe(d.port)[0] == 200
    finally:
        for s in socks:
            s.close()
    grown = (after - before) // 1024
    print("RSS before %d MiB, with 150 non-reading log clients %d MiB"
          % (before // 1024, after // 1024))
    assert grown < 100, "RSS grew by %d MiB for 150 log answers" % grown
    d.stop()


def test_150_list_readers_that_never_read_hold_a_bounded_memory(pokyd_factory):
    # 120 records with a 60 KB parameter each: a full list is ~7 MB of JSON, built in memory
    # (unlike logs, which stream from their file).  150 clients ask for it and never read:
    # held each, that is ~1 GB.  Large answers share one budget; beyond it they are 503.
    d = pokyd_factory.new({"big": local_template("/bin/true", **{
        "param.blob": "required env=BLOB max=65536"})},
        server={"max_connections": 400, "max_body_bytes": 1 << 20})
    api = d.client()
    blob = "x" * 60000
    for _ in range(120):
        api.submit("big", {"blob": blob})
    first = api.get("/tasks?limit=1000")
    assert first.status == 200 and len(first.body) > 7_000_000, (first.status, len(first.body))
    before = rss_kib(d.proc.pid)
    socks = []
    try:
        socks = non_reading_clients(d.port, "/tasks?limit=1000", 150)
        # Building 150 lists keeps the HTTP threads busy a while (seconds under ASan);
        # then every answer is built and under way, or refused.
        wait_for(lambda: probe(d.port, timeout=1)[0] == 200, timeout=120,
                 what="/healthz once the lists are answered")
        time.sleep(1)
        after = rss_kib(d.proc.pid)
        print("RSS before %d MiB, with 150 non-reading list clients %d MiB"
              % (before // 1024, after // 1024))
        # A small answer still passes while the budget is taken.
        assert api.get("/tasks?limit=1").status == 200
        busy = api.get("/tasks?limit=1000")
        assert busy.status == 503 and busy.header("Retry-After") == "1", busy
        assert busy.media_type == "application/problem+json"
    finally:
        for s in socks:
            s.close()
    grown = (after - before) // 1024
    assert grown < 200, "RSS grew by %d MiB for 150 list answers" % grown
    # Once the clients are gone the budget is free again.
    wait_for(lambda: api.get("/tasks?limit=1000").status == 200, timeout=10,
             what="a large answer after the readers left")
    d.stop()
