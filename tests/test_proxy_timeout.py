"""The request timeout of strait-proxy runs from the end of the request to the
response head: a client-streaming gRPC call or a chunked upload that lasts
longer than --request-timeout-ms succeeds while its body flows; an upstream
that does not answer once the request is complete gets 504 (DEADLINE_EXCEEDED
for gRPC) after that timeout; a body that stops flowing for --idle-timeout-ms
fails (408). Real proxies on loopback, a grpcio server and an HTTP/1.1 app."""
import os
import socket
import sys
import tempfile
import time
from concurrent import futures

import pytest

grpc = pytest.importorskip(
    "grpc", reason="python3-grpcio is not installed (scripts/setup.sh installs it)")

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "proxy"))
from proxy_harness import Backend, Pki, Proxy, ident, metric, write_routes  # noqa: E402

GRPC_SVC = "slow-grpc"
WEB_SVC = "slow-web"
# The outbound proxy's request timeout; the inbound one's is longer, so that the
# outbound proxy is the one that answers a silent upstream.
RTO_MS = 1000
IN_RTO_MS = 1500
IDLE_MS = 2500
STEP = 0.3  # seconds between the pieces of a slow body
PIECES = 12  # 3.6 s of body: longer than both request timeouts


class Service:
    def collect(self, it, ctx):
        count = total = 0
        for m in it:
            count += 1
            total += len(m)
        return f"{count}:{total}".encode()

    def unary(self, req, ctx):
        if req.startswith(b"sleep:"):
            end = time.monotonic() + float(req[6:])
            while time.monotonic() < end and ctx.is_active():
                time.sleep(0.01)
            return b"woke"
        return req


@pytest.fixture(scope="module")
def mesh():
    d = tempfile.mkdtemp(prefix="strait-timeout-it-")
    pki = Pki(os.path.join(d, "pki"))
    svc = Service()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Slow", {
        "Collect": grpc.stream_unary_rpc_method_handler(svc.collect),
        "Unary": grpc.unary_unary_rpc_method_handler(svc.unary),
    }),))
    gport = server.add_insecure_port("127.0.0.1:0")
    server.start()
    backend = Backend()
    cert_b, key_b = pki.leaf(ident("backend"), "backend")
    cert_a, key_a = pki.leaf(ident("client"), "client")
    empty = os.path.join(d, "empty.json")
    write_routes(empty)
    inbound = Proxy(d, "server", cert_b, key_b, pki.anchor, empty,
                    extra=["--request-timeout-ms", str(IN_RTO_MS)])
    routes = os.path.join(d, "routes.json")
    write_routes(routes, services={
        f"{GRPC_SVC}:{gport}": {"endpoints": [
            {"addr": inbound.inbound, "identity": ident("backend"), "target_port": gport}]},
        f"{WEB_SVC}:{backend.port}": {"endpoints": [
            {"addr": inbound.inbound, "identity": ident("backend"),
             "target_port": backend.port}]},
    })
    outbound = Proxy(d, "client", cert_a, key_a, pki.anchor, routes,
                     extra=["--request-timeout-ms", str(RTO_MS),
                            "--idle-timeout-ms", str(IDLE_MS)])
    outbound.wait_ready()
    inbound.wait_ready()
    channel = grpc.insecure_channel(outbound.outbound, options=[
        ("grpc.default_authority", f"{GRPC_SVC}:{gport}"), ("grpc.enable_http_proxy", 0)])
    grpc.channel_ready_future(channel).result(timeout=10)

    class M:
        pass
    m = M()
    m.svc, m.backend, m.inbound, m.outbound = svc, backend, inbound, outbound
    m.grpc_authority = f"{GRPC_SVC}:{gport}"
    m.web_authority = f"{WEB_SVC}:{backend.port}"
    m.collect = channel.stream_unary("/test.Slow/Collect")
    m.unary = channel.unary_unary("/test.Slow/Unary")
    yield m
    channel.close()
    outbound.stop()
    inbound.stop()
    server.stop(0)
    backend.shutdown()


def slow_messages(n=PIECES, size=100):
    for i in range(n):
        if i > 0:
            time.sleep(STEP)
        yield bytes([65 + i % 26]) * size


def test_grpc_client_streaming_outlasts_request_timeout(mesh):
    t = time.monotonic()
    resp = mesh.collect(slow_messages(), timeout=30)
    took = time.monotonic() - t
    assert resp == f"{PIECES}:{PIECES * 100}".encode()
    assert took > (PIECES - 1) * STEP > IN_RTO_MS / 1000 + 1


def test_grpc_silent_server_gets_deadline_after_request_timeout(mesh):
    before = mesh.outbound.metrics()
    t = time.monotonic()
    with pytest.raises(grpc.RpcError) as e:
        mesh.unary(b"sleep:10", timeout=30)
    took = time.monotonic() - t
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "did not answer in time" in e.value.details()
    assert RTO_MS / 1000 - 0.1 <= took < RTO_MS / 1000 + 1.5
    after = mesh.outbound.metrics()
    # The proxy's own answer counts with the HTTP status it stands for and the gRPC status sent.
    kw = dict(direction="outbound", authority=mesh.grpc_authority, status_code=504,
              classification="failure", grpc_status_code=4)
    assert metric(after, "response_total", **kw) - metric(before, "response_total", **kw) == 1


def send_slow_chunked(addr, authority, path, pieces, step=STEP):
    """POSTs a chunked body of <pieces> pieces, <step> seconds apart, through the
    outbound proxy; returns (status line, elapsed seconds from the last piece, whole time)."""
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=30)
    t0 = time.monotonic()
    try:
        s.sendall(f"POST http://{authority}{path} HTTP/1.1\r\nHost: {authority}\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n".encode())
        for i in range(pieces):
            if i > 0:
                time.sleep(step)
            s.sendall(b"a\r\n0123456789\r\n")
        s.sendall(b"0\r\n\r\n")
        t_end = time.monotonic()
        got = b""
        while b"\r\n" not in got:
            d = s.recv(4096)
            if not d:
                break
            got += d
        return got.split(b"\r\n", 1)[0], time.monotonic() - t_end, time.monotonic() - t0
    finally:
        s.close()


def test_chunked_upload_outlasts_request_timeout(mesh):
    line, _, took = send_slow_chunked(mesh.outbound.outbound, mesh.web_authority, "/upload",
                                      PIECES)
    assert line.startswith(b"HTTP/1.1 200"), line
    assert took > IN_RTO_MS / 1000 + 1
    seen = [r for r in mesh.backend.requests if r["target"] == "/upload"][-1]
    assert seen["length"] == 10 * PIECES and seen["chunked"]


def test_silent_app_after_upload_gets_504_after_request_timeout(mesh):
    # The app answers 8 s after the body ended; the timeout counts from that end.
    line, after_end, took = send_slow_chunked(mesh.outbound.outbound, mesh.web_authority,
                                              "/slow?ms=8000", 6)
    assert line.startswith(b"HTTP/1.1 504"), line
    assert RTO_MS / 1000 - 0.1 <= after_end < RTO_MS / 1000 + 1.5
    assert took > 5 * STEP + RTO_MS / 1000 - 0.1


def test_stalled_body_fails_after_idle_timeout(mesh):
    host, port = mesh.outbound.outbound.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=30)
    try:
        s.sendall(f"POST http://{mesh.web_authority}/stall HTTP/1.1\r\n"
                  f"Host: {mesh.web_authority}\r\nContent-Length: 100\r\n\r\n0123456789".encode())
        t = time.monotonic()
        got = s.recv(4096)
        took = time.monotonic() - t
    finally:
        s.close()
    # Not the request timeout: the body had not ended. The client stopped: 408.
    assert got.startswith(b"HTTP/1.1 408"), got
    assert IDLE_MS / 1000 - 0.1 <= took < IDLE_MS / 1000 + 1.5
