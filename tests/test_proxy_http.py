"""strait-proxy end to end: curl -> outbound proxy -> mTLS/HTTP2 -> inbound proxy
-> backend, with real processes on loopback."""
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "proxy"))
from proxy_harness import (NS, Backend, Pki, Proxy, curl, ident, metric, raw,  # noqa: E402
                           sanitized, write_routes)

SVC = "backend-svc"


@pytest.fixture(scope="module")
def mesh():
    d = tempfile.mkdtemp(prefix="strait-proxy-it-")
    pki = Pki(os.path.join(d, "pki"))
    backend = Backend()
    cert_b, key_b = pki.leaf(ident("backend"), "backend")
    cert_a, key_a = pki.leaf(ident("client"), "client")
    empty = os.path.join(d, "empty.json")
    write_routes(empty)
    server = Proxy(d, "server", cert_b, key_b, pki.anchor, empty)
    routes = os.path.join(d, "routes.json")
    write_routes(routes, services={
        f"{SVC}:{backend.port}": {"endpoints": [
            {"addr": server.inbound, "identity": ident("backend"),
             "target_port": backend.port}]},
    })
    client = Proxy(d, "client", cert_a, key_a, pki.anchor, routes)
    client.wait_ready()
    server.wait_ready()

    class M:
        pass
    m = M()
    m.dir, m.pki, m.backend, m.server, m.client, m.routes = d, pki, backend, server, client, routes
    m.url = f"http://{SVC}:{backend.port}"
    m.proxy = f"http://{client.outbound}"
    yield m
    client.stop()
    server.stop()
    backend.shutdown()


def last_request(m):
    return m.backend.requests[-1]


def test_get(mesh):
    r = curl("-x", mesh.proxy, "-i", mesh.url + "/hello?x=1")
    assert r.returncode == 0, r.stderr
    head, body = r.stdout.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200")
    assert b"x-backend: yes" in head
    info = json.loads(body)
    assert info["method"] == "GET"
    assert info["target"] == "/hello?x=1"
    assert info["headers"]["host"] == f"{SVC}:{mesh.backend.port}"
    # The inbound side tells the app who called, and strips the routing header.
    assert info["headers"]["strait-client-id"] == ident("client")
    assert "strait-dst" not in info["headers"]
    assert "proxy-connection" not in info["headers"]


def test_post_100mb_streams(mesh):
    size = 100 * 1024 * 1024
    path = os.path.join(mesh.dir, "big.bin")
    block = os.urandom(1 << 20)
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for _ in range(size >> 20):
            f.write(block)
            h.update(block)
    r = curl("-x", mesh.proxy, "--data-binary", "@" + path, "-H",
             "content-type: application/octet-stream", mesh.url + "/upload", timeout=120)
    os.unlink(path)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["length"] == size
    assert info["sha256"] == h.hexdigest()
    # Bounded memory: the proxies never held the body (RSS well under its size).
    for p in (mesh.client, mesh.server):
        if sanitized():
            break
        with open(f"/proc/{p.proc.p.pid}/status") as f:
            rss = int([l for l in f if l.startswith("VmHWM")][0].split()[1])
        assert rss < 40 * 1024, f"peak RSS {rss} kB"


def test_download_large(mesh):
    n = 20 * 1024 * 1024
    r = curl("-x", mesh.proxy, "-o", "/dev/null", "-w", "%{size_download}",
             mesh.url + f"/big?n={n}")
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) == n


def test_chunked_upload_with_trailers(mesh):
    # A chunked request body reaches the app chunked (its length is unknown), with trailers.
    req = (f"POST {mesh.url}/chunked HTTP/1.1\r\nHost: {SVC}:{mesh.backend.port}\r\n"
           "Transfer-Encoding: chunked\r\nTE: trailers\r\nConnection: close\r\n\r\n"
           "5\r\nhello\r\n7\r\n, world\r\n0\r\nx-sum: 42\r\n\r\n").encode()
    out = raw(mesh.client.outbound, req)
    assert out.startswith(b"HTTP/1.1 200"), out
    info = json.loads(out.split(b"\r\n\r\n", 1)[1].split(b"\r\n", 1)[1].rsplit(b"\r\n0", 1)[0]
                      if b"chunked" in out.split(b"\r\n\r\n")[0].lower()
                      else out.split(b"\r\n\r\n", 1)[1])
    assert info["length"] == 12
    assert info["sha256"] == hashlib.sha256(b"hello, world").hexdigest()
    assert info["chunked"]
    assert info["trailers"] == {"x-sum": "42"}


def test_curl_chunked_upload(mesh):
    r = curl("-x", mesh.proxy, "-H", "Transfer-Encoding: chunked", "--data-binary", "@-",
             mesh.url + "/c")
    # curl with stdin and chunked sends an empty chunked body here
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["chunked"]


def test_response_trailers(mesh):
    out = raw(mesh.client.outbound,
              f"GET {mesh.url}/chunked-trailers HTTP/1.1\r\nHost: x\r\nTE: trailers\r\n"
              "Connection: close\r\n\r\n".encode())
    assert out.startswith(b"HTTP/1.1 200"), out
    head, body = out.split(b"\r\n\r\n", 1)
    assert b"transfer-encoding: chunked" in head.lower()
    assert b"hello" in body and b" world" in body
    assert b"x-checksum: abc" in body


def test_expect_100_continue(mesh):
    data = b"y" * 300000
    path = os.path.join(mesh.dir, "e.bin")
    with open(path, "wb") as f:
        f.write(data)
    r = curl("-x", mesh.proxy, "-H", "Expect: 100-continue", "--data-binary", "@" + path,
             "-v", mesh.url + "/expect")
    assert r.returncode == 0, r.stderr
    assert b"100 Continue" in r.stderr
    assert json.loads(r.stdout)["length"] == len(data)


def test_keepalive_reuse(mesh):
    before = mesh.backend.conns
    urls = [mesh.url + f"/k{i}" for i in range(5)]
    r = curl("-x", mesh.proxy, "-v", *urls)
    assert r.returncode == 0, r.stderr
    # One client connection carried all five requests...
    assert r.stderr.count(b"Re-using existing connection") + \
        r.stderr.count(b"Reusing existing") >= 4
    # ...and the inbound side reused its pooled connection to the backend.
    assert mesh.backend.conns - before <= 1
    assert [q["target"] for q in mesh.backend.requests[-5:]] == [f"/k{i}" for i in range(5)]


def test_status_passthrough(mesh):
    r = curl("-x", mesh.proxy, "-o", "/dev/null", "-w", "%{http_code}", mesh.url + "/status/404")
    assert r.stdout == b"404"
    r = curl("-x", mesh.proxy, "-o", "/dev/null", "-w", "%{http_code}", mesh.url + "/status/503")
    assert r.stdout == b"503"


def test_slow_backend(mesh):
    t = time.monotonic()
    r = curl("-x", mesh.proxy, mesh.url + "/slow?ms=1500")
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t >= 1.4
    assert json.loads(r.stdout)["target"] == "/slow?ms=1500"


def test_backend_closes_early(mesh):
    r = curl("-x", mesh.proxy, "-i", mesh.url + "/close-early")
    assert r.stdout.startswith(b"HTTP/1.1 502"), r.stdout
    assert b"strait-proxy:" in r.stdout
    # The proxy is still fine afterwards.
    r = curl("-x", mesh.proxy, "-o", "/dev/null", "-w", "%{http_code}", mesh.url + "/after")
    assert r.stdout == b"200"


@pytest.mark.parametrize("ms", [0, 300])
def test_backend_closes_after_answer(mesh, ms):
    """An app that answers with keep-alive headers and then closes, at once or
    a little later: its connection is not reused, and the next requests get a
    fresh one and succeed (the inbound side looks at a pooled connection with
    a system call only when it has been idle for a second or more)."""
    for i in range(4):
        conns = mesh.backend.conns
        r = curl("-x", mesh.proxy, "-o", "/dev/null", "-w", "%{http_code}",
                 mesh.url + f"/answer-then-close?ms={ms}&i={i}")
        assert r.stdout == b"200"
        if ms:
            time.sleep(2 * ms / 1000)
        r = curl("-x", mesh.proxy, "-i", mesh.url + f"/after-close-{i}")
        assert r.stdout.startswith(b"HTTP/1.1 200"), r.stdout
        assert json.loads(r.stdout.split(b"\r\n\r\n", 1)[1])["target"] == f"/after-close-{i}"
        # The answer came on a pooled or new connection, the next one on a new one.
        assert mesh.backend.conns - conns >= 1


def test_unknown_authority_is_502(mesh):
    r = curl("-x", mesh.proxy, "-i", "http://nowhere-svc:8080/")
    assert r.stdout.startswith(b"HTTP/1.1 502"), r.stdout
    assert b"no route to nowhere-svc.test.svc.cluster.local:8080" in r.stdout


def test_http2_prior_knowledge(mesh):
    r = curl("--http2-prior-knowledge", "-i", "-H", f"host: {SVC}:{mesh.backend.port}",
             f"http://{mesh.client.outbound}/h2?q=1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"HTTP/2 200"), r.stdout
    info = json.loads(r.stdout.split(b"\r\n\r\n", 1)[1])
    assert info["target"] == "/h2?q=1"
    assert info["headers"]["strait-client-id"] == ident("client")


def test_http2_prior_knowledge_post(mesh):
    data = os.urandom(3 * 1024 * 1024)
    path = os.path.join(mesh.dir, "h2.bin")
    with open(path, "wb") as f:
        f.write(data)
    r = curl("--http2-prior-knowledge", "-H", f"host: {SVC}:{mesh.backend.port}",
             "--data-binary", "@" + path, f"http://{mesh.client.outbound}/h2post")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["length"] == len(data)
    assert info["sha256"] == hashlib.sha256(data).hexdigest()


def test_connect_tunnel(mesh):
    # CONNECT carries opaque TCP: here plain HTTP/1.1 spoken through the tunnel.
    host, port = mesh.client.outbound.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(f"CONNECT {SVC}:{mesh.backend.port} HTTP/1.1\r\nHost: {SVC}:{mesh.backend.port}"
              "\r\n\r\n".encode())
    resp = b""
    while b"\r\n\r\n" not in resp:
        resp += s.recv(4096)
    assert resp.startswith(b"HTTP/1.1 200"), resp
    rest = resp.split(b"\r\n\r\n", 1)[1]
    s.sendall(b"GET /through-tunnel HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    while True:
        d = s.recv(65536)
        if not d:
            break
        rest += d
    s.close()
    assert rest.startswith(b"HTTP/1.1 200"), rest
    assert json.loads(rest.split(b"\r\n\r\n", 1)[1])["target"] == "/through-tunnel"
    assert "strait-client-id" not in last_request(mesh)["headers"]


def test_websocket_echo(mesh):
    host, port = mesh.client.outbound.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(f"GET {mesh.url}/ws HTTP/1.1\r\nHost: {SVC}:{mesh.backend.port}\r\n"
              "Upgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
              "\r\n".encode())
    resp = b""
    while b"\r\n\r\n" not in resp:
        resp += s.recv(4096)
    assert resp.startswith(b"HTTP/1.1 101"), resp
    assert b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in resp
    rest = resp.split(b"\r\n\r\n", 1)[1]
    for msg in (b"hello", b"strait"):
        mask = b"\x01\x02\x03\x04"
        s.sendall(bytes([0x81, 0x80 | len(msg)]) + mask +
                  bytes(b ^ mask[i % 4] for i, b in enumerate(msg)))
        while len(rest) < 2 + len(msg):
            rest += s.recv(4096)
        assert rest[:2 + len(msg)] == bytes([0x81, len(msg)]) + msg
        rest = rest[2 + len(msg):]
    s.close()


def test_metrics_count_requests(mesh):
    auth = f"{SVC}:{mesh.backend.port}"
    before_c = mesh.client.metrics()
    before_s = mesh.server.metrics()
    n = 7
    for i in range(n):
        r = curl("-x", mesh.proxy, "-o", "/dev/null", mesh.url + f"/m{i}")
        assert r.returncode == 0
    r = curl("-x", mesh.proxy, "-o", "/dev/null", mesh.url + "/status/500")
    after_c = mesh.client.metrics()
    after_s = mesh.server.metrics()

    def delta(a, b, name, **kw):
        return metric(b, name, **kw) - metric(a, name, **kw)

    assert delta(before_c, after_c, "request_total", direction="outbound", authority=auth,
                 dst_service=SVC, dst_namespace=NS, server_id=ident("backend")) == n + 1
    assert delta(before_c, after_c, "response_total", direction="outbound", authority=auth,
                 status_code=200, classification="success") == n
    assert delta(before_c, after_c, "response_total", direction="outbound", authority=auth,
                 status_code=500, classification="failure") == 1
    assert delta(before_c, after_c, "response_latency_ms_count", direction="outbound",
                 authority=auth) == n + 1
    assert delta(before_c, after_c, "response_latency_ms_bucket", direction="outbound",
                 authority=auth, le="+Inf") == n + 1
    assert delta(before_s, after_s, "request_total", direction="inbound", authority=auth,
                 client_id=ident("client")) == n + 1
    assert delta(before_s, after_s, "response_total", direction="inbound", authority=auth,
                 status_code=200) == n
    assert metric(after_c, "tcp_open_total", direction="outbound", peer="dst") >= 1
    assert metric(after_s, "tcp_read_bytes_total", direction="inbound", peer="src") > 0
    assert "# TYPE response_latency_ms histogram" in after_c


def test_live_and_ready(mesh):
    assert mesh.client.get_admin("/live") == (200, "live\n")
    assert mesh.client.get_admin("/ready")[0] == 200
    assert mesh.client.get_admin("/nope")[0] == 404
