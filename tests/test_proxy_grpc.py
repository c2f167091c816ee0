"""gRPC end to end through the mesh: a grpcio client speaks HTTP/2 (prior
knowledge) to the outbound proxy, which routes by :authority over mTLS to the
inbound proxy, which speaks HTTP/2 to a grpcio server. Unary, server-,
client- and bidi-streaming calls, trailers (status, details, custom trailing
metadata), trailers-only errors, deadlines, 4 MB messages, cancellation, and
the proxies' metrics."""
import os
import sys
import tempfile
import threading
import time
from concurrent import futures

import pytest

grpc = pytest.importorskip(
    "grpc", reason="python3-grpcio is not installed (scripts/setup.sh installs it)")

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "proxy"))
from proxy_harness import NS, Pki, Proxy, ident, metric, write_routes  # noqa: E402

SVC = "grpc-svc"
BIG = 4 * 1024 * 1024
MSG_OPTS = [("grpc.max_receive_message_length", 16 << 20),
            ("grpc.max_send_message_length", 16 << 20)]


class Service:
    """A gRPC service written with generic handlers (bytes in, bytes out)."""

    def __init__(self):
        self.cancelled = threading.Event()
        self.deadline_seen = []
        self.metadata = []

    def unary(self, req, ctx):
        self.metadata.append(dict(ctx.invocation_metadata()))
        if req.startswith(b"notfound:"):
            ctx.abort(grpc.StatusCode.NOT_FOUND, req[9:].decode())
        if req.startswith(b"fail:"):
            # Nothing sent yet: the status goes out as a trailers-only response.
            ctx.set_trailing_metadata((("x-why", "asked"),))
            ctx.abort(grpc.StatusCode.FAILED_PRECONDITION, req[5:].decode())
        if req.startswith(b"late-fail:"):
            # A message first, then a failing status in the trailers.
            ctx.send_initial_metadata((("x-head", "1"),))
            ctx.set_trailing_metadata((("x-trailer", "late"),))
            ctx.set_code(grpc.StatusCode.RESOURCE_EXHAUSTED)
            ctx.set_details("late failure")
            return b"partial"
        if req.startswith(b"sleep:"):
            self.deadline_seen.append(ctx.time_remaining())
            end = time.monotonic() + float(req[6:])
            while time.monotonic() < end and ctx.is_active():
                time.sleep(0.01)
            if not ctx.is_active():
                self.cancelled.set()
            return b"woke"
        ctx.set_trailing_metadata((("x-trailer", "t1"), ("x-bin-bin", b"\x00\x01\xff")))
        return req

    def stream(self, req, ctx):
        """Server streaming: "N:SIZE" gives N messages of SIZE bytes; N=0 streams until cancelled."""
        n, size = (int(v) for v in req.decode().split(":"))
        ctx.add_callback(self.cancelled.set)
        i = 0
        while n == 0 or i < n:
            if not ctx.is_active():
                return
            yield bytes([i % 256]) * size
            i += 1
            if n == 0:
                time.sleep(0.01)
        ctx.set_trailing_metadata((("x-count", str(i)),))

    def collect(self, it, ctx):
        total = count = 0
        for m in it:
            total += len(m)
            count += 1
        return f"{count}:{total}".encode()

    def chat(self, it, ctx):
        for m in it:
            yield b"echo:" + m


def start_server(svc):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=MSG_OPTS)
    h = grpc.method_handlers_generic_handler("test.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(svc.unary),
        "Stream": grpc.unary_stream_rpc_method_handler(svc.stream),
        "Collect": grpc.stream_unary_rpc_method_handler(svc.collect),
        "Chat": grpc.stream_stream_rpc_method_handler(svc.chat),
    })
    server.add_generic_rpc_handlers((h,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


@pytest.fixture(scope="module")
def mesh():
    d = tempfile.mkdtemp(prefix="strait-grpc-it-")
    pki = Pki(os.path.join(d, "pki"))
    svc = Service()
    server_grpc, port = start_server(svc)
    cert_b, key_b = pki.leaf(ident("backend"), "backend")
    cert_a, key_a = pki.leaf(ident("client"), "client")
    empty = os.path.join(d, "empty.json")
    write_routes(empty)
    inbound = Proxy(d, "server", cert_b, key_b, pki.anchor, empty)
    routes = os.path.join(d, "routes.json")
    write_routes(routes, services={
        f"{SVC}:{port}": {"endpoints": [
            {"addr": inbound.inbound, "identity": ident("backend"), "target_port": port}]},
    })
    outbound = Proxy(d, "client", cert_a, key_a, pki.anchor, routes)
    outbound.wait_ready()
    inbound.wait_ready()
    channel = grpc.insecure_channel(outbound.outbound, options=[
        ("grpc.default_authority", f"{SVC}:{port}"), ("grpc.enable_http_proxy", 0)] + MSG_OPTS)
    grpc.channel_ready_future(channel).result(timeout=10)

    class M:
        pass
    m = M()
    m.svc, m.port, m.inbound, m.outbound, m.channel = svc, port, inbound, outbound, channel
    m.authority = f"{SVC}:{port}"
    m.unary = channel.unary_unary("/test.Echo/Unary")
    m.stream = channel.unary_stream("/test.Echo/Stream")
    m.collect = channel.stream_unary("/test.Echo/Collect")
    m.chat = channel.stream_stream("/test.Echo/Chat")
    yield m
    channel.close()
    outbound.stop()
    inbound.stop()
    server_grpc.stop(0)


def test_unary_with_trailers(mesh):
    resp, call = mesh.unary.with_call(b"hello", metadata=(("x-req", "r1"),), timeout=10)
    assert resp == b"hello"
    assert call.code() == grpc.StatusCode.OK
    trailers = dict(call.trailing_metadata())
    assert trailers["x-trailer"] == "t1"
    assert trailers["x-bin-bin"] == b"\x00\x01\xff"
    seen = mesh.svc.metadata[-1]
    assert seen["x-req"] == "r1"
    # The inbound side tells the app who called, over HTTP/2 too.
    assert seen["strait-client-id"] == ident("client")
    assert ":authority" not in seen and "strait-dst" not in seen


def test_trailers_only_error(mesh):
    with pytest.raises(grpc.RpcError) as e:
        mesh.unary(b"fail:no such thing", timeout=10)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert e.value.details() == "no such thing"
    assert dict(e.value.trailing_metadata())["x-why"] == "asked"


def test_error_after_message(mesh):
    with pytest.raises(grpc.RpcError) as e:
        mesh.unary(b"late-fail:", timeout=10)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert e.value.details() == "late failure"
    assert dict(e.value.initial_metadata())["x-head"] == "1"
    assert dict(e.value.trailing_metadata())["x-trailer"] == "late"


def test_server_streaming(mesh):
    call = mesh.stream(b"50:1000", timeout=10)
    msgs = list(call)
    assert len(msgs) == 50
    assert all(m == bytes([i % 256]) * 1000 for i, m in enumerate(msgs))
    assert call.code() == grpc.StatusCode.OK
    assert dict(call.trailing_metadata())["x-count"] == "50"


def test_client_streaming(mesh):
    resp = mesh.collect(iter([b"a" * 100, b"b" * 70000, b"c"]), timeout=10)
    assert resp == b"3:70101"


def test_bidi_streaming_interleaves(mesh):
    # Each answer comes back before the next message is sent: a real conversation.
    q = []
    ev = threading.Event()

    def gen():
        for i in range(5):
            q.append(f"m{i}".encode())
            yield q[-1]
            assert ev.wait(5)
            ev.clear()

    call = mesh.chat(gen(), timeout=10)
    got = []
    for m in call:
        got.append(m)
        ev.set()
    assert got == [b"echo:" + m for m in q]
    assert call.code() == grpc.StatusCode.OK


def test_large_messages(mesh):
    data = os.urandom(BIG)
    resp = mesh.unary(data, timeout=30)
    assert resp == data
    msgs = list(mesh.stream(f"3:{BIG}".encode(), timeout=30))
    assert [len(m) for m in msgs] == [BIG] * 3


def test_deadline(mesh):
    mesh.svc.cancelled.clear()
    t = time.monotonic()
    with pytest.raises(grpc.RpcError) as e:
        mesh.unary(b"sleep:5", timeout=0.5)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - t < 3
    # grpc-timeout crossed both proxies: the server knew its deadline...
    assert mesh.svc.deadline_seen[-1] is not None and mesh.svc.deadline_seen[-1] <= 0.6
    # ...and saw the call end well before its 5 s sleep.
    assert mesh.svc.cancelled.wait(3)


def test_client_cancel_reaches_server(mesh):
    mesh.svc.cancelled.clear()
    call = mesh.stream(b"0:10", timeout=30)
    it = iter(call)
    for _ in range(3):
        next(it)
    call.cancel()
    # RST_STREAM(CANCEL) went client -> outbound -> inbound -> server.
    assert mesh.svc.cancelled.wait(5), "the server never saw the cancellation"
    with pytest.raises(grpc.RpcError) as e:
        for _ in it:
            pass
    assert e.value.code() == grpc.StatusCode.CANCELLED
    # The connection is still good afterwards.
    assert mesh.unary(b"after", timeout=10) == b"after"


def test_unknown_service_is_grpc_error(mesh):
    # A route the proxy cannot serve is answered in gRPC terms (UNAVAILABLE), not HTTP.
    ch = grpc.insecure_channel(mesh.outbound.outbound, options=[
        ("grpc.default_authority", "nowhere-svc:9"), ("grpc.enable_http_proxy", 0)])
    with pytest.raises(grpc.RpcError) as e:
        ch.unary_unary("/test.Echo/Unary")(b"x", timeout=10)
    ch.close()
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "no route to nowhere-svc" in e.value.details()


def test_metrics_classify_grpc_status(mesh):
    auth = mesh.authority
    before_c = mesh.outbound.metrics()
    before_s = mesh.inbound.metrics()
    for i in range(4):
        assert mesh.unary(f"ok{i}".encode(), timeout=10) == f"ok{i}".encode()
    for i in range(3):
        with pytest.raises(grpc.RpcError):
            mesh.unary(b"fail:x", timeout=10)
    for i in range(2):
        with pytest.raises(grpc.RpcError) as e:
            mesh.unary(b"notfound:gone", timeout=10)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as e:
        mesh.unary(b"late-fail:", timeout=10)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert len(list(mesh.stream(b"2:10", timeout=10))) == 2
    after_c = mesh.outbound.metrics()
    after_s = mesh.inbound.metrics()

    def delta(a, b, name, **kw):
        return metric(b, name, **kw) - metric(a, name, **kw)

    for before, after, direction in ((before_c, after_c, "outbound"),
                                     (before_s, after_s, "inbound")):
        assert delta(before, after, "request_total", direction=direction, authority=auth) == 11
        # HTTP 200 every time; the gRPC status decides the classification.
        assert delta(before, after, "response_total", direction=direction, authority=auth,
                     status_code=200, classification="success") == 5
        assert delta(before, after, "response_total", direction=direction, authority=auth,
                     status_code=200, classification="failure") == 6
        # grpc_status_code: from the trailers (OK, and a failure after a message) or from
        # the head of a trailers-only response (FAILED_PRECONDITION, NOT_FOUND).
        for code, n, cls in ((0, 5, "success"), (9, 3, "failure"), (5, 2, "failure"),
                             (8, 1, "failure")):
            assert delta(before, after, "response_total", direction=direction, authority=auth,
                         status_code=200, classification=cls, grpc_status_code=code) == n, \
                (direction, code)
        # Every gRPC response carries the label; none counts twice.
        assert sum(delta(before, after, "response_total", direction=direction, authority=auth,
                         grpc_status_code=c) for c in range(17)) == 11
        # The latency histogram keeps Linkerd's label set: status_code, no gRPC status.
        assert delta(before, after, "response_latency_ms_count", direction=direction,
                     authority=auth, status_code=200) == 11
        assert "grpc_status_code" not in "".join(
            l for l in after.splitlines() if l.startswith("response_latency_ms"))
    assert delta(before_c, after_c, "request_total", direction="outbound", authority=auth,
                 dst_service=SVC, dst_namespace=NS, server_id=ident("backend")) == 11
    # HTTP/2 to the app: the inbound side opened a plaintext connection to it.
    assert metric(after_s, "tcp_open_total", direction="inbound", peer="dst") >= 1
