"""Retries of requests that the peer did not process: a stream refused with
RST_STREAM(REFUSED_STREAM), a stream above the last-stream-id of a GOAWAY, a
connection that could not be made. A request is sent again once, and only
while its whole body (at most 64 KiB) is held; never after a response began.

A scripted HTTP/2 peer (mTLS with a mesh certificate, frames written by hand)
refuses, answers or goes away on command, and records what reached it; real
inbound proxies are drained and restarted under load."""
import os
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent import futures

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "proxy"))
from proxy_harness import (Backend, Pki, Proxy, curl, hold_port, ident, metric,  # noqa: E402
                           write_routes)

FAKE = "fake-svc:80"
REAL = "real-svc"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST, SETTINGS, PING, GOAWAY, WINDOW = 0, 1, 3, 4, 6, 7, 8
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
REFUSED_STREAM = 7


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid) + payload


class FakePeer:
    """An HTTP/2 server over mTLS that acts per request as self.decide() says:
    "refuse" (RST_STREAM REFUSED_STREAM at the HEADERS), "refuse-after:N"
    (after N body bytes), "goaway" (GOAWAY with last-stream-id 0, then close)
    or "ok" (200 with the number of body bytes it received as the body)."""

    def __init__(self, pki, cert, key):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_cert_chain(cert, key)
        ctx.load_verify_locations(pki.anchor)
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.set_alpn_protocols(["h2"])
        self.ctx = ctx
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.headers = []      # (connection number, stream id, end_stream)
        self.bodies = {}       # (connection number, stream id) -> bytes received
        self.conns = 0
        self.decide = lambda conn, sid: "ok"
        self.closed = False
        threading.Thread(target=self.accept, daemon=True).start()

    def close(self):
        self.closed = True
        self.sock.close()

    def accept(self):
        while not self.closed:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(s,), daemon=True).start()

    def serve(self, raw):
        try:
            s = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        with self.lock:
            self.conns += 1
            conn = self.conns
        buf = b""

        def need(n):
            nonlocal buf
            while len(buf) < n:
                d = s.recv(65536)
                if not d:
                    raise EOFError
                buf += d
            out, buf = buf[:n], buf[n:]
            return out

        pending = {}  # stream id -> action while its body arrives
        try:
            if need(len(PREFACE)) != PREFACE:
                return
            s.sendall(frame(SETTINGS, 0, 0))
            while True:
                hd = need(9)
                length = int.from_bytes(hd[:3], "big")
                ftype, flags = hd[3], hd[4]
                sid = int.from_bytes(hd[5:9], "big") & 0x7fffffff
                payload = need(length)
                if ftype == SETTINGS and not flags & ACK:
                    s.sendall(frame(SETTINGS, ACK, 0))
                elif ftype == PING and not flags & ACK:
                    s.sendall(frame(PING, ACK, 0, payload))
                elif ftype == HEADERS:
                    with self.lock:
                        self.headers.append((conn, sid, bool(flags & END_STREAM)))
                        self.bodies[(conn, sid)] = 0
                    action = self.decide(conn, sid)
                    if action == "refuse":
                        s.sendall(frame(RST, 0, sid, struct.pack(">I", REFUSED_STREAM)))
                    elif action == "goaway":
                        s.sendall(frame(GOAWAY, 0, 0, struct.pack(">II", 0, 0)))
                        time.sleep(0.05)
                        return
                    elif flags & END_STREAM:
                        self.answer(s, sid, 0)
                    else:
                        pending[sid] = action
                elif ftype == DATA:
                    if length:
                        s.sendall(frame(WINDOW, 0, 0, struct.pack(">I", length)))
                    if sid not in pending:
                        continue
                    s.sendall(frame(WINDOW, 0, sid, struct.pack(">I", length))
                              if length else b"")
                    with self.lock:
                        self.bodies[(conn, sid)] += length
                        got = self.bodies[(conn, sid)]
                    action = pending[sid]
                    if action.startswith("refuse-after:") and got >= int(action.split(":")[1]):
                        del pending[sid]
                        s.sendall(frame(RST, 0, sid, struct.pack(">I", REFUSED_STREAM)))
                    elif flags & END_STREAM:
                        del pending[sid]
                        self.answer(s, sid, got)
        except (EOFError, OSError, ssl.SSLError):
            pass
        finally:
            s.close()

    @staticmethod
    def answer(s, sid, n):
        # 0x88 is ":status: 200" from HPACK's static table.
        s.sendall(frame(HEADERS, END_HEADERS, sid, b"\x88") +
                  frame(DATA, END_STREAM, sid, str(n).encode()))

    def seen(self):
        with self.lock:
            return len(self.headers)


@pytest.fixture(scope="module")
def env():
    d = tempfile.mkdtemp(prefix="strait-retry-it-")
    pki = Pki(os.path.join(d, "pki"))
    cert_b, key_b = pki.leaf(ident("backend"), "backend")
    cert_a, key_a = pki.leaf(ident("client"), "client")
    fake = FakePeer(pki, cert_b, key_b)
    routes = os.path.join(d, "routes.json")
    write_routes(routes, services={
        FAKE: {"endpoints": [{"addr": fake.addr, "identity": ident("backend"),
                              "target_port": 80}]},
    })
    client = Proxy(d, "client", cert_a, key_a, pki.anchor, routes)
    client.wait_ready()

    class E:
        pass
    e = E()
    e.dir, e.pki, e.fake, e.client, e.routes = d, pki, fake, client, routes
    e.certs = {"backend": (cert_b, key_b), "client": (cert_a, key_a)}
    yield e
    client.stop()
    fake.close()


def retries(px, reason):
    return metric(px.metrics(), "request_retry_total", direction="outbound", reason=reason)


def post(env, path, size):
    body = os.path.join(env.dir, "body.bin")
    with open(body, "wb") as f:
        f.write(os.urandom(size))
    return curl("-x", f"http://{env.client.outbound}", "-sS", "-w", "\n%{http_code}",
                "--data-binary", "@" + body, f"http://{FAKE}{path}")


def status_and_body(r):
    body, code = r.stdout.rsplit(b"\n", 1)
    return int(code), body


def test_refused_stream_is_retried_once(env):
    env.fake.decide = lambda conn, sid: "refuse"
    seen, before = env.fake.seen(), retries(env.client, "refused")
    r = curl("-x", f"http://{env.client.outbound}", "-w", "\n%{http_code}", f"http://{FAKE}/r")
    code, body = status_and_body(r)
    # Sent twice (the first try and one retry), then failed cleanly.
    assert code == 503, r.stdout
    assert b"REFUSED_STREAM" in body
    assert env.fake.seen() - seen == 2
    assert retries(env.client, "refused") - before == 1


def test_refused_then_served_with_body_replayed(env):
    for size in (0, 1000, 60 * 1024):
        state = {"n": 0}

        def decide(conn, sid):
            state["n"] += 1
            return "refuse" if state["n"] == 1 else "ok"
        env.fake.decide = decide
        seen, before = env.fake.seen(), retries(env.client, "refused")
        code, body = status_and_body(post(env, "/p", size))
        assert code == 200
        # The second try carried the whole body, no byte lost or doubled.
        assert int(body) == size
        assert env.fake.seen() - seen == 2
        assert retries(env.client, "refused") - before == 1


def test_large_streamed_body_is_not_retried(env):
    state = {"n": 0}

    def decide(conn, sid):
        state["n"] += 1
        return "refuse-after:100000" if state["n"] == 1 else "ok"
    env.fake.decide = decide
    seen, before = env.fake.seen(), retries(env.client, "refused")
    code, body = status_and_body(post(env, "/big", 1 << 20))
    # More than 64 KiB of the body had gone: the refusal is the answer.
    assert code == 503, body
    assert env.fake.seen() - seen == 1
    assert retries(env.client, "refused") - before == 0


def test_goaway_above_last_stream_is_retried_on_a_new_connection(env):
    env.fake.decide = lambda conn, sid: "ok"
    assert status_and_body(post(env, "/warm", 10))[0] == 200  # a pooled connection
    first = {"done": False}

    def decide(conn, sid):
        if not first["done"]:
            first["done"] = True
            return "goaway"
        return "ok"
    env.fake.decide = decide
    conns, before = env.fake.conns, retries(env.client, "goaway")
    code, body = status_and_body(post(env, "/g", 5000))
    assert code == 200
    assert int(body) == 5000
    assert env.fake.conns - conns == 1
    assert retries(env.client, "goaway") - before == 1


def test_unreachable_endpoint_is_retried_on_another(env):
    # One endpoint has nothing listening: its requests go to the other one. The port stays
    # bound (not listening) for the whole test, so no other process can start serving on it.
    dead_sock, dead_port = hold_port()
    dead = f"127.0.0.1:{dead_port}"
    routes = os.path.join(env.dir, "routes2.json")
    write_routes(routes, services={
        "two-svc:80": {"endpoints": [
            {"addr": dead, "identity": ident("backend"), "target_port": 80},
            {"addr": env.fake.addr, "identity": ident("backend"), "target_port": 80}]},
    })
    client = Proxy(env.dir, "client2", *env.certs["client"], env.pki.anchor, routes)
    try:
        client.wait_ready()
        env.fake.decide = lambda conn, sid: "ok"
        for i in range(10):
            r = curl("-x", f"http://{client.outbound}", "-w", "\n%{http_code}",
                     f"http://two-svc/{i}")
            assert status_and_body(r)[0] == 200, r.stdout
        assert retries(client, "connection") >= 1
    finally:
        client.stop()
        dead_sock.close()


# ---- real inbound proxies, drained and restarted ------------------------------------


def start_inbound(env, name, port, routes):
    cert, key = env.certs["backend"]
    return Proxy(env.dir, name, cert, key, env.pki.anchor, routes,
                 extra=("--inbound", f"127.0.0.1:{port}", "--drain-timeout-ms", "3000"))


def get(client, url, timeout=10):
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"http": f"http://{client.outbound}"}))
    try:
        with opener.open(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_restarted_inbound_next_requests_succeed(env):
    backend = Backend()
    empty = os.path.join(env.dir, "empty.json")
    write_routes(empty)
    # The restarted proxy must get the same port back: hold it (shared, as the proxy's
    # listeners are) so nobody else takes it while no proxy listens there.
    hold, port = hold_port(shared=True)
    a = start_inbound(env, "inbound-a", port, empty)
    routes = os.path.join(env.dir, "routes3.json")
    write_routes(routes, services={f"{REAL}:{backend.port}": {"endpoints": [
        {"addr": f"127.0.0.1:{port}", "identity": ident("backend"),
         "target_port": backend.port}]}})
    client = Proxy(env.dir, "client3", *env.certs["client"], env.pki.anchor, routes)
    url = f"http://{REAL}:{backend.port}/x"
    try:
        client.wait_ready()
        a.wait_ready()
        assert get(client, url) == 200  # the outbound now holds a pooled connection
        a.stop()                        # SIGTERM: GOAWAY, drain, exit
        a = start_inbound(env, "inbound-a2", port, empty)
        a.wait_ready()
        for _ in range(20):
            assert get(client, url) == 200
    finally:
        client.stop()
        a.stop()
        hold.close()
        backend.shutdown()


def test_drain_under_load_loses_no_request(env):
    backend = Backend()
    empty = os.path.join(env.dir, "empty.json")
    write_routes(empty)
    holds = [hold_port(shared=True) for _ in range(2)]  # see test_restarted_inbound_...
    ports = [port for _, port in holds]
    a = start_inbound(env, "drain-a", ports[0], empty)
    b = start_inbound(env, "drain-b", ports[1], empty)
    routes = os.path.join(env.dir, "routes4.json")
    write_routes(routes, services={f"{REAL}:{backend.port}": {"endpoints": [
        {"addr": f"127.0.0.1:{p}", "identity": ident("backend"), "target_port": backend.port}
        for p in ports]}})
    client = Proxy(env.dir, "client4", *env.certs["client"], env.pki.anchor, routes)
    url = f"http://{REAL}:{backend.port}/slow?ms=20"
    stop = threading.Event()
    codes = []
    lock = threading.Lock()

    def worker():
        while not stop.is_set():
            code = get(client, url)
            with lock:
                codes.append(code)

    def wait_more(n, timeout=60):
        """Waits until <n> more requests have completed (requests flow, however slowly)."""
        with lock:
            want = len(codes) + n
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with lock:
                if len(codes) >= want:
                    return
            time.sleep(0.02)
        raise AssertionError(f"only {len(codes)} of {want} requests done in {timeout} s")

    try:
        client.wait_ready()
        a.wait_ready()
        b.wait_ready()
        with futures.ThreadPoolExecutor(4) as pool:
            jobs = [pool.submit(worker) for _ in range(4)]
            wait_more(20)
            a.stop()        # drained while requests flow through both
            wait_more(10)   # ...and with only b left
            a = start_inbound(env, "drain-a2", ports[0], empty)
            a.wait_ready()
            wait_more(20)
            stop.set()
            for j in jobs:
                j.result()
        assert len(codes) > 20
        bad = [c for c in codes if c != 200]
        assert not bad, f"{len(bad)} of {len(codes)} failed: {sorted(set(bad))}"
    finally:
        stop.set()
        client.stop()
        a.stop()
        b.stop()
        for s, _ in holds:
            s.close()
        backend.shutdown()
