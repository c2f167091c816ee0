"""Transparent outbound proxying (SO_ORIGINAL_DST) in a network namespace of
its own, with iptables REDIRECT as a sidecar's init step would install it:

    client -> 10.96.x.x (fake ClusterIPs) --REDIRECT--> outbound proxy
           -> mTLS + transport header -> inbound proxy -> backend on 127.0.0.1

The rule matches the fake service range by destination, so the proxy's own
connections to its peers (127.x) are never redirected, and skips the
outbound proxy's own group (it runs with GID 2102 through setpriv; Linkerd
matches its proxy's UID), so a passthrough connection to an address in the
range is not redirected back into the proxy.

The last tests take their routes from a real strait-controller (--destination)
against a strait-apiserver with a Service whose ClusterIP is in a second fake
range (10.97.0.0/16): the ClusterIP path of the destination API, and the
negative cache of "no route" answers for unknown original destinations.

Needs root, `ip netns` and iptables (CI runs as root; scripts/setup.sh
installs iptables); skipped otherwise."""
import ctypes
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "proxy"))
from conftest import Apiserver, Proc, binary, check_sanitizers, wait_until  # noqa: E402
from proxy_harness import Backend, Pki, Proxy, gauge, ident, metric, write_routes  # noqa: E402

PROXY_GID = 2102
SERVICE_RANGE = "10.96.0.0/16"
ECHO_IP, ECHO_PORT = "10.96.7.7", 7000        # opaque, client speaks first
BANNER_IP = "10.96.7.8"                        # server speaks first
BANNER_DETECT_PORT, BANNER_OPAQUE_PORT = 7001, 7002
HTTP_IP, HTTP_PORT = "10.96.7.9", 80           # plain HTTP
UNKNOWN_IP, UNKNOWN_PORT = "10.96.9.9", 9000   # not in discovery: passthrough
WORKLOAD_IP = "10.96.5.5"                      # a workload (pod) address, not a ClusterIP
LOOP_IP = "10.96.0.1"                          # a local address: <LOOP_IP>:<outbound port> loops
SERVICE_RANGE6, ECHO_IP6 = "fd00:96::/64", "fd00:96::7"  # IPv6 (IP6T_SO_ORIGINAL_DST)
GRPC_IP, GRPC_PORT = "10.96.7.11", 7010        # an HTTP/2-capable app (a gRPC server)
DETECT_MS = 1500
CLONE_NEWNET = 0x40000000


# An HTTP/2 app: a gRPC server (generic handler) that echoes with a prefix. Run with
# /usr/bin/python3 in a process of its own, so that its threads live in the namespace.
GRPC_SERVER = r"""
import sys
from concurrent import futures
import grpc

def echo(req, ctx):
    return b"h2-app:" + req

h = grpc.method_handlers_generic_handler(
    "t.T", {"Echo": grpc.unary_unary_rpc_method_handler(echo)})
s = grpc.server(futures.ThreadPoolExecutor(4))
s.add_generic_rpc_handlers((h,))
port = s.add_insecure_port("127.0.0.1:0")
s.start()
print(f"port={port}", flush=True)
s.wait_for_termination()
"""

# A gRPC client (prior-knowledge HTTP/2) to argv[1] with the :authority argv[2].
GRPC_CLIENT = r"""
import sys
import grpc

ch = grpc.insecure_channel(sys.argv[1], options=[("grpc.default_authority", sys.argv[2]),
                                                 ("grpc.enable_http_proxy", 0)])
call = ch.unary_unary("/t.T/Echo")
for i in range(3):
    print(call(b"ping%d" % i, timeout=10).decode(), flush=True)
"""


def _have_grpc():
    return subprocess.run(["/usr/bin/python3", "-c", "import grpc"],
                          capture_output=True).returncode == 0


def _why_skip():
    if os.geteuid() != 0:
        return "needs root (network namespaces and iptables)"
    for tool in ("ip", "iptables", "setpriv", "ss"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def _run(*args, check=True):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r


_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


class LineServer:
    """A TCP server on (ip, port 0 = any): optional banner on accept, then one
    answer line per line received (prefix + line). Records its peers."""

    def __init__(self, ip, port=0, banner=None, prefix=b""):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, port))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.banner, self.prefix = banner, prefix
        self.peers = []
        self.stopped = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stopped:
            try:
                c, peer = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.peers.append((peer, c.getsockname()))
            threading.Thread(target=self._one, args=(c,), daemon=True).start()

    def _one(self, c):
        c.settimeout(30)
        try:
            if self.banner:
                c.sendall(self.banner)
            buf = b""
            while True:
                d = c.recv(65536)
                if not d:
                    break
                buf += d
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    c.sendall(self.prefix + line + b"\n")
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self.stopped = True
        self.sock.close()


def recv_until(s, n_lines=1, timeout=5.0):
    """Reads until <n_lines> newlines, EOF or <timeout>; returns the bytes."""
    s.settimeout(timeout)
    deadline = time.monotonic() + timeout
    out = b""
    while out.count(b"\n") < n_lines and time.monotonic() < deadline:
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        if not d:
            break
        out += d
    return out


def read_response(s, timeout=10.0):
    """Reads one HTTP/1 response with a content-length; returns (head, body)."""
    s.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise AssertionError(f"connection closed before a response head: {buf!r}")
        buf += d
    head, body = buf.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, v = line.split(b":", 1)
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(body) < length:
        d = s.recv(65536)
        if not d:
            break
        body += d
    return head, body


@pytest.fixture(scope="module")
def ns():
    why = _why_skip()
    if why:
        pytest.skip(why)
    name = f"strait-tp-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    if subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode != 0:
        pytest.skip("cannot create a network namespace (ip netns add failed)")
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    entered = False
    try:
        _run("ip", "-n", name, "link", "set", "lo", "up")
        # The fake service range is local inside the namespace: connect() finds a
        # route (then the nat rule redirects it), and test servers can bind to it.
        _run("ip", "-n", name, "route", "add", "local", SERVICE_RANGE, "dev", "lo")
        _run("ip", "-n", name, "-6", "route", "add", "local", SERVICE_RANGE6, "dev", "lo",
             check=False)
        fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
        try:
            _setns(fd)  # this thread, and every thread and process it starts from now on
            entered = True
        finally:
            os.close(fd)
        yield name
    finally:
        if entered:
            _setns(home)
        os.close(home)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def mesh(ns):
    d = tempfile.mkdtemp(prefix="strait-tp-it-")
    procs, servers = [], []
    try:
        pki = Pki(os.path.join(d, "pki"))
        cert_b, key_b = pki.leaf(ident("backend"), "backend")
        cert_a, key_a = pki.leaf(ident("client"), "client")
        echo = LineServer("127.0.0.1")
        banner = LineServer("127.0.0.1", banner=b"220 banner ready\r\n")
        passthrough = LineServer(UNKNOWN_IP, UNKNOWN_PORT, prefix=b"pass:")
        servers += [echo, banner, passthrough]
        http = Backend()
        grpc_app = None
        if _have_grpc():
            grpc_app = Proc(["/usr/bin/python3", "-c", GRPC_SERVER], os.path.join(d, "grpc.log"))
            procs.append(grpc_app)
            grpc_app.port = int(grpc_app.wait_line(r"port=(\d+)").group(1))
        empty = os.path.join(d, "empty.json")
        write_routes(empty)
        # The inbound proxy listens on every address, so that it also stands for a workload
        # at WORKLOAD_IP (a pod IP a client may connect to directly).
        server = Proxy(d, "server", cert_b, key_b, pki.anchor, empty,
                       extra=["--inbound", "0.0.0.0:0"])
        procs.append(server)

        def ep(port, ip="127.0.0.1"):
            return {"endpoints": [{"addr": f"{ip}:{server.inbound_port}",
                                   "identity": ident("backend"), "target_port": port}]}
        routes = os.path.join(d, "routes.json")
        grpc_routes = {f"{GRPC_IP}:{GRPC_PORT}": ep(grpc_app.port)} if grpc_app else {}
        write_routes(routes, services={
            **grpc_routes,
            f"{ECHO_IP}:{ECHO_PORT}": ep(echo.port),
            f"[{ECHO_IP6}]:{ECHO_PORT}": ep(echo.port),
            f"{BANNER_IP}:{BANNER_DETECT_PORT}": ep(banner.port),
            f"{BANNER_IP}:{BANNER_OPAQUE_PORT}": ep(banner.port),
            f"{HTTP_IP}:{HTTP_PORT}": ep(http.port),
            # Only reachable by its workload address: <WORKLOAD_IP>:<echo port>.
            f"workload-svc:{ECHO_PORT}": ep(echo.port, WORKLOAD_IP),
        })
        def start_client(name, outbound):
            # Listens on the wildcard address (as in a pod) and runs with the group the
            # nat rule skips.
            args = ["setpriv", f"--regid={PROXY_GID}", "--clear-groups", binary("strait-proxy"),
                    "--outbound", outbound, "--inbound", "127.0.0.1:0",
                    "--admin", "127.0.0.1:0", "--namespace", "test",
                    "--reload-interval-ms", "100", "--identity-cert", cert_a,
                    "--identity-key", key_a, "--trust-anchors", pki.anchor, "--routes", routes,
                    "--detect-timeout-ms", str(DETECT_MS),
                    "--opaque-ports", str(BANNER_OPAQUE_PORT)]
            proc = Proc(args, os.path.join(d, f"{name}.log"))
            procs.append(proc)
            m = proc.wait_line(r"outbound=(\S+) inbound=(\S+) admin=(\S+)")
            px = Proxy.__new__(Proxy)  # the admin helpers, for a proxy started through setpriv
            px.admin, px.proc = m.group(3), proc
            return px, int(m.group(1).rsplit(":", 1)[1])

        admin_proxy, out_port = start_client("client", "0.0.0.0:0")
        _run("iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", SERVICE_RANGE,
             "-m", "owner", "!", "--gid-owner", str(PROXY_GID),
             "-j", "REDIRECT", "--to-ports", str(out_port))
        # IPv6: a second outbound proxy on [::] (listeners are IPv6-only), when ip6tables
        # can do nat here.
        client6, why6 = None, None
        if _run("ip", "-6", "route", "show", "table", "local", check=False).stdout.find(
                "fd00:96::/64") < 0:
            why6 = "cannot add an IPv6 local route"
        else:
            client6, out_port6 = start_client("client6", "[::]:0")
            r = _run("ip6tables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", SERVICE_RANGE6,
                     "-m", "owner", "!", "--gid-owner", str(PROXY_GID),
                     "-j", "REDIRECT", "--to-ports", str(out_port6), check=False)
            if r.returncode != 0:
                client6, why6 = None, f"ip6tables nat: {r.stderr.strip()}"
            else:
                client6.wait_ready()
        server.wait_ready()
        admin_proxy.wait_ready()

        class M:
            pass
        mm = M()
        mm.dir, mm.server, mm.client, mm.out_port = d, server, admin_proxy, out_port
        mm.echo, mm.banner, mm.passthrough, mm.http = echo, banner, passthrough, http
        mm.client6, mm.why6 = client6, why6
        mm.grpc = grpc_app
        yield mm
    finally:
        for p in procs:
            if isinstance(p, Proxy):
                p.stop()
            else:
                p.kill()
                check_sanitizers(p)
        for s in servers:
            s.stop()
        shutil.rmtree(d, ignore_errors=True)


def connect(ip, port, timeout=5.0):
    return socket.create_connection((ip, port), timeout=timeout)


def owner_pid(local, remote):
    """The pid of the process that owns the TCP socket from <local> to <remote> (ss -p)."""
    r = _run("ss", "-Htnp", "state", "established", "src", f"{local[0]}:{local[1]}",
             "dst", f"{remote[0]}:{remote[1]}")
    for tok in r.stdout.split("pid=")[1:]:
        return int(tok.split(",")[0])
    return None


def test_opaque_echo_through_mtls(mesh):
    c0, s0 = mesh.client.metrics(), mesh.server.metrics()
    payload = [b"hello %d" % i + b"\n" for i in range(20)]
    with connect(ECHO_IP, ECHO_PORT) as s:
        # The app believes it talks to the ClusterIP.
        assert s.getpeername() == (ECHO_IP, ECHO_PORT)
        s.sendall(payload[0])
        assert recv_until(s) == payload[0]
        s.sendall(b"".join(payload[1:]))
        got = recv_until(s, n_lines=len(payload) - 1)
        assert got == b"".join(payload[1:])
        # The backend's peer is the inbound proxy, not the client or the outbound proxy.
        peer, local = mesh.echo.peers[-1]
        assert peer[0] == "127.0.0.1"
        assert owner_pid(peer, local) == mesh.server.proc.p.pid
    nbytes = sum(len(p) for p in payload)

    def closed():
        c, s = mesh.client.metrics(), mesh.server.metrics()
        return (metric(c, "tcp_close_total", direction="outbound", peer="dst", tls="true")
                > metric(c0, "tcp_close_total", direction="outbound", peer="dst", tls="true")
                and metric(s, "tcp_close_total", direction="inbound", peer="dst")
                > metric(s0, "tcp_close_total", direction="inbound", peer="dst"))
    wait_until(closed, what="both proxies to close the tunnel")
    c1, s1 = mesh.client.metrics(), mesh.server.metrics()

    def delta(a, b, name, **labels):
        return metric(b, name, **labels) - metric(a, name, **labels)
    dst = dict(direction="outbound", peer="dst", tls="true",
               authority=f"{ECHO_IP}:{ECHO_PORT}", server_id=ident("backend"))
    assert delta(c0, c1, "tcp_open_total", **dst) == 1
    # The header (10 bytes) and the payload go out; the echo comes back (TLS adds its
    # records on top, so the peer-side counts are at least the payload).
    assert delta(c0, c1, "tcp_write_bytes_total", **dst) >= nbytes + 10
    assert delta(c0, c1, "tcp_read_bytes_total", **dst) >= nbytes
    src = dict(direction="outbound", peer="src")
    assert delta(c0, c1, "tcp_open_total", **src) == 1
    assert delta(c0, c1, "tcp_read_bytes_total", **src) == nbytes
    assert delta(c0, c1, "tcp_write_bytes_total", **src) == nbytes
    assert delta(s0, s1, "tcp_open_total", direction="inbound", peer="src", tls="true",
                 client_id=ident("client")) == 1
    app = dict(direction="inbound", peer="dst")
    assert delta(s0, s1, "tcp_open_total", **app) == 1
    assert delta(s0, s1, "tcp_write_bytes_total", **app) == nbytes
    assert delta(s0, s1, "tcp_read_bytes_total", **app) == nbytes


def test_server_speaks_first_after_detect_timeout(mesh):
    t0 = time.monotonic()
    with connect(BANNER_IP, BANNER_DETECT_PORT, timeout=10) as s:
        banner = recv_until(s, timeout=DETECT_MS / 1000 + 5)
        waited = time.monotonic() - t0
        assert banner == b"220 banner ready\r\n"
        # Nothing was sent, so detection had to give up first; then it is opaque TCP.
        assert waited >= DETECT_MS / 1000 - 0.1, waited
        s.sendall(b"QUIT\n")
        assert recv_until(s) == b"QUIT\n"


def test_server_speaks_first_on_opaque_port_is_immediate(mesh):
    t0 = time.monotonic()
    with connect(BANNER_IP, BANNER_OPAQUE_PORT) as s:
        banner = recv_until(s, timeout=5)
        waited = time.monotonic() - t0
        assert banner == b"220 banner ready\r\n"
        assert waited < DETECT_MS / 1000 - 0.5, waited
        s.sendall(b"x\n")
        assert recv_until(s) == b"x\n"


def test_http_without_host_routes_by_original_destination(mesh):
    before = mesh.client.metrics()
    n0 = len(mesh.http.requests)
    with connect(HTTP_IP, HTTP_PORT) as s:
        s.sendall(b"GET /nohost?a=1 HTTP/1.0\r\n\r\n")
        got = b""
        s.settimeout(10)
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
    assert got.startswith(b"HTTP/1.0 200") or got.startswith(b"HTTP/1.1 200"), got[:200]
    assert b"x-backend: yes" in got
    req = mesh.http.requests[n0]
    assert req["target"] == "/nohost?a=1"
    assert req["headers"]["strait-client-id"] == ident("client")
    assert req["headers"]["host"] == f"{HTTP_IP}:{HTTP_PORT}"
    # A Host nobody knows: the original destination still decides (keep-alive, two requests).
    with connect(HTTP_IP, HTTP_PORT) as s:
        for i in range(2):
            s.sendall(b"GET /unknown-host/%d HTTP/1.1\r\nHost: nowhere.example\r\n\r\n" % i)
            head, _ = read_response(s)
            assert head.startswith(b"HTTP/1.1 200"), head
    assert [r["target"] for r in mesh.http.requests[n0 + 1:n0 + 3]] == \
        ["/unknown-host/0", "/unknown-host/1"]
    # Routed by the original destination, but the app gets the Host the client wrote.
    assert [r["headers"]["host"] for r in mesh.http.requests[n0 + 1:n0 + 3]] == \
        ["nowhere.example"] * 2
    after = mesh.client.metrics()
    assert (metric(after, "request_total", direction="outbound",
                   authority=f"{HTTP_IP}:{HTTP_PORT}")
            - metric(before, "request_total", direction="outbound",
                     authority=f"{HTTP_IP}:{HTTP_PORT}")) == 3


def test_unknown_destination_is_passed_through(mesh):
    labels = dict(direction="outbound", peer="dst", target_addr=f"{UNKNOWN_IP}:{UNKNOWN_PORT}",
                  tls="no_identity", no_tls_reason="not_provided_by_service_discovery")
    before = mesh.client.metrics()
    n0 = len(mesh.passthrough.peers)
    with connect(UNKNOWN_IP, UNKNOWN_PORT) as s:
        s.sendall(b"hi\n")
        assert recv_until(s) == b"pass:hi\n"
        # The server got a direct connection from the outbound proxy (not redirected again).
        peer, local = mesh.passthrough.peers[n0]
        assert owner_pid(peer, local) == mesh.client.proc.p.pid
    assert len(mesh.passthrough.peers) == n0 + 1
    wait_until(lambda: metric(mesh.client.metrics(), "tcp_close_total", **labels)
             > metric(before, "tcp_close_total", **labels), what="the passthrough close")
    after = mesh.client.metrics()
    assert metric(after, "tcp_open_total", **labels) - metric(before, "tcp_open_total",
                                                              **labels) == 1
    assert metric(after, "tcp_write_bytes_total", **labels) - \
        metric(before, "tcp_write_bytes_total", **labels) == 3
    assert metric(after, "tcp_read_bytes_total", **labels) - \
        metric(before, "tcp_read_bytes_total", **labels) == 8


def test_loop_to_the_outbound_listener_is_refused(mesh):
    t0 = time.monotonic()
    with connect(LOOP_IP, mesh.out_port) as s:
        s.settimeout(5)
        try:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            got = s.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            got = b""
    assert got == b""
    assert time.monotonic() - t0 < 4
    # Still serving.
    with connect(ECHO_IP, ECHO_PORT) as s:
        s.sendall(b"after loop\n")
        assert recv_until(s) == b"after loop\n"


def test_ipv6_original_destination(mesh):
    if mesh.client6 is None:
        pytest.skip(mesh.why6)
    before = mesh.client6.metrics()
    with socket.create_connection((ECHO_IP6, ECHO_PORT), timeout=5) as s:
        assert s.getpeername()[:2] == (ECHO_IP6, ECHO_PORT)
        s.sendall(b"over ipv6\n")
        assert recv_until(s) == b"over ipv6\n"
    labels = dict(direction="outbound", peer="dst", tls="true",
                  authority=f"[{ECHO_IP6}]:{ECHO_PORT}", server_id=ident("backend"))
    assert metric(mesh.client6.metrics(), "tcp_open_total", **labels) - \
        metric(before, "tcp_open_total", **labels) == 1


def test_workload_address_known_to_discovery_goes_over_mtls(mesh):
    labels = dict(direction="outbound", peer="dst", tls="true", server_id=ident("backend"),
                  authority=f"{WORKLOAD_IP}:{mesh.echo.port}")
    before = mesh.client.metrics()
    with connect(WORKLOAD_IP, mesh.echo.port) as s:
        s.sendall(b"to the pod\n")
        assert recv_until(s) == b"to the pod\n"
        peer, local = mesh.echo.peers[-1]
        assert owner_pid(peer, local) == mesh.server.proc.p.pid
    assert metric(mesh.client.metrics(), "tcp_open_total", **labels) - \
        metric(before, "tcp_open_total", **labels) == 1


def test_h2_prior_knowledge_to_http1_app_keeps_authority(mesh):
    """HTTP/2 with prior knowledge through the redirect, to an app that speaks HTTP/1.1
    only: each stream names an authority discovery does not know, so it is routed by the
    original destination, and the app still sees the :authority the client sent as Host
    (the inbound proxy falls back to HTTP/1.1 for this app)."""
    before = mesh.client.metrics()
    n0 = len(mesh.http.requests)
    # One curl per request: curl 7.88 fails to reuse a prior-knowledge connection for a
    # second URL before sending anything (the gRPC test below multiplexes calls instead).
    for path in ("/h2/a", "/h2/b"):
        r = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "--noproxy", "*",
                            "-m", "10", "-H", "Host: app.example:8080", "-o", "/dev/null",
                            "-w", "%{http_code} %{http_version}",
                            f"http://{HTTP_IP}:{HTTP_PORT}{path}"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "200 2", r.stdout
    # The inbound's HTTP/2 probe of this app ("PRI * HTTP/2.0") shows up as a request to "*".
    got = [q for q in mesh.http.requests[n0:] if q["target"] != "*"]
    assert [q["target"] for q in got] == ["/h2/a", "/h2/b"]
    assert all(q["headers"]["host"] == "app.example:8080" for q in got), got
    assert all(q["headers"]["strait-client-id"] == ident("client") for q in got)
    # Counted under the authority that routed them (the original destination).
    after = mesh.client.metrics()
    lbl = dict(direction="outbound", authority=f"{HTTP_IP}:{HTTP_PORT}")
    assert metric(after, "request_total", **lbl) - metric(before, "request_total", **lbl) == 2


def test_h2_prior_knowledge_to_h2_app_by_original_destination(mesh):
    """A gRPC client (HTTP/2 prior knowledge) to a ClusterIP with an :authority nobody
    knows: routed by the original destination over mTLS, and spoken as HTTP/2 to the app
    (a gRPC server cannot answer otherwise)."""
    if mesh.grpc is None:
        pytest.skip("python3-grpcio is not installed (scripts/setup.sh installs it)")
    before = mesh.client.metrics()
    r = subprocess.run(["/usr/bin/python3", "-c", GRPC_CLIENT, f"{GRPC_IP}:{GRPC_PORT}",
                        "unknown.example:50051"], capture_output=True, text=True, timeout=60,
                       env={k: v for k, v in os.environ.items() if "proxy" not in k.lower()})
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["h2-app:ping0", "h2-app:ping1", "h2-app:ping2"]
    after = mesh.client.metrics()
    lbl = dict(direction="outbound", authority=f"{GRPC_IP}:{GRPC_PORT}",
               server_id=ident("backend"))
    assert metric(after, "request_total", **lbl) - metric(before, "request_total", **lbl) == 3
    ok = dict(lbl, classification="success", status_code="200")
    assert metric(after, "response_total", **ok) - metric(before, "response_total", **ok) == 3


# ---- routes from the destination API ------------------------------------------------------

DEST_RANGE = "10.97.0.0/16"          # the apiserver's service CIDR in this test
DEST_SVC_IP = "10.97.8.8"            # dest-svc's ClusterIP
DEST_WORKLOAD_IP = "127.0.0.5"       # the backend workload (ExternalWorkload)
DEST_NS = "mc"
DEST_UNKNOWN = ["10.97.9.1", "10.97.9.2", "10.97.9.3"]  # no Service has these
DEST_PASS_PORT = 9100
DEST_WAIT_MS, NEG_TTL_MS = 1500, 3000
CTL_ID = "strait-controller.strait.serviceaccount.identity.strait.cluster.local"
CRDS = os.path.join(os.path.dirname(__file__), "..", "crds")


@pytest.fixture(scope="module")
def dest_mesh(ns):
    """An apiserver and a controller in the namespace; a Service with a ClusterIP whose
    endpoint is an ExternalWorkload (127.0.0.5, its inbound proxy reached on 4143 by a nat
    rule to a test port); an outbound proxy routing with --destination only, for
    redirected connections to the 10.97.0.0/16 range."""
    from test_destination import apply, start_controller, workload  # noqa: E402
    from test_identity import CONTROLLER_RBAC, RBAC, apply_anchors, apply_issuer, sa_token
    import glob
    d = tempfile.mkdtemp(prefix="strait-tp-dest-")
    procs, servers, api, ctl = [], [], None, None
    try:
        _run("ip", "-n", ns, "route", "add", "local", DEST_RANGE, "dev", "lo")
        api = Apiserver(d, extra_args=["--service-cidr", DEST_RANGE]).start()
        for f in sorted(glob.glob(os.path.join(CRDS, "*.yaml"))):
            api.kubectl("apply", "-f", f)
        api.kubectl("apply", "-f", "-", input=RBAC)
        api.kubectl("apply", "-f", "-", input=CONTROLLER_RBAC + f"""---
apiVersion: v1
kind: Namespace
metadata: {{name: {DEST_NS}}}
""")
        ctl_token = sa_token(api, "strait", "strait-controller")
        pki = Pki(os.path.join(d, "pki"))
        apply_anchors(api, pki.anchor)
        apply_issuer(api, os.path.join(pki.dir, "issuer.pem"), os.path.join(pki.dir, "issuer.key"))
        ctl = start_controller(d, api, ctl_token)
        ctl.wait_ready()

        http, echo = Backend(), LineServer("127.0.0.1")
        passthrough = LineServer("0.0.0.0", DEST_PASS_PORT, prefix=b"pass:")
        servers += [echo, passthrough]
        cert_b, key_b = pki.leaf(ident("backend", DEST_NS), "backend")
        cert_c, key_c = pki.leaf(ident("client", DEST_NS), "client")
        empty = os.path.join(d, "empty.json")
        write_routes(empty)
        server = Proxy(d, "dest-server", cert_b, key_b, pki.anchor, empty)
        procs.append(server)
        # The controller names 4143 as every workload's proxy port: send it to the test port.
        _run("iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", DEST_WORKLOAD_IP,
             "--dport", "4143", "-j", "REDIRECT", "--to-ports", str(server.inbound_port))
        apply(api,
              {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "dest-svc", "namespace": DEST_NS},
               "spec": {"clusterIP": DEST_SVC_IP, "selector": {"app": "dest"},
                        "ports": [{"name": "http", "port": 80, "targetPort": http.port},
                                  {"name": "echo", "port": 7000, "targetPort": echo.port}]}},
              workload("dest-1", DEST_WORKLOAD_IP, {"app": "dest"},
                       [("http", http.port), ("echo", echo.port)], sa="backend"))
        args = ["setpriv", f"--regid={PROXY_GID}", "--clear-groups", binary("strait-proxy"),
                "--outbound", "0.0.0.0:0", "--inbound", "127.0.0.1:0",
                "--admin", "127.0.0.1:0", "--namespace", DEST_NS, "--reload-interval-ms", "100",
                "--identity-mode", "files", "--identity-cert", cert_c, "--identity-key", key_c,
                "--trust-anchors", pki.anchor, "--destination", ctl.addr,
                "--destination-identity", CTL_ID, "--destination-wait-ms", str(DEST_WAIT_MS),
                "--negative-ttl-ms", str(NEG_TTL_MS), "--detect-timeout-ms", str(DETECT_MS)]
        proc = Proc(args, os.path.join(d, "dest-client.log"))
        procs.append(proc)
        m = proc.wait_line(r"outbound=(\S+) inbound=(\S+) admin=(\S+)")
        client = Proxy.__new__(Proxy)
        client.admin, client.proc = m.group(3), proc
        out_port = int(m.group(1).rsplit(":", 1)[1])
        _run("iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", DEST_RANGE,
             "-m", "owner", "!", "--gid-owner", str(PROXY_GID),
             "-j", "REDIRECT", "--to-ports", str(out_port))
        server.wait_ready()
        client.wait_ready()

        class M:
            pass
        mm = M()
        mm.dir, mm.api, mm.ctl, mm.server, mm.client = d, api, ctl, server, client
        mm.http, mm.echo, mm.passthrough = http, echo, passthrough
        yield mm
    finally:
        for p in procs:
            if isinstance(p, Proxy):
                p.stop()
            else:
                p.kill()
                check_sanitizers(p)
        for srv in servers:
            srv.stop()
        if ctl is not None:
            ctl.proc.kill()
            check_sanitizers(ctl.proc)
        if api is not None:
            api.stop()
        shutil.rmtree(d, ignore_errors=True)


def ctl_streams(dm):
    with urllib.request.urlopen(f"http://{dm.ctl.admin}/metrics", timeout=10) as r:
        return gauge(r.read().decode(), "destination_streams") or 0


def test_destination_api_routes_a_cluster_ip(dest_mesh):
    """Redirected connections to a ClusterIP that only the destination API knows: HTTP
    (its Host "web.example" looks like a Service name to discovery, "web.example.svc.
    cluster.local:80"; the API says there is none, so the original destination routes it,
    and the app still gets that Host) and opaque TCP, both over mTLS to the workload's
    inbound proxy.
    """
    dm = dest_mesh
    n0 = len(dm.http.requests)
    with connect(DEST_SVC_IP, 80, timeout=15) as s:
        s.sendall(b"GET /by-cluster-ip HTTP/1.1\r\nHost: web.example\r\n\r\n")
        head, body = read_response(s, timeout=15)
    assert head.startswith(b"HTTP/1.1 200"), (head, body)
    req = dm.http.requests[n0]
    assert req["target"] == "/by-cluster-ip"
    assert req["headers"]["host"] == "web.example"
    assert req["headers"]["strait-client-id"] == ident("client", DEST_NS)
    with connect(DEST_SVC_IP, 7000, timeout=15) as s:
        s.sendall(b"opaque by cluster ip\n")
        assert recv_until(s, timeout=10) == b"opaque by cluster ip\n"
        peer, local = dm.echo.peers[-1]
        assert owner_pid(peer, local) == dm.server.proc.p.pid
    m = dm.client.metrics()
    assert metric(m, "request_total", direction="outbound", authority=f"{DEST_SVC_IP}:80",
                  server_id=ident("backend", DEST_NS)) == 1
    assert metric(m, "tcp_open_total", direction="outbound", peer="dst", tls="true",
                  authority=f"{DEST_SVC_IP}:7000", server_id=ident("backend", DEST_NS)) == 1


def test_unknown_addresses_open_one_stream_each(dest_mesh):
    """A client looping over a few unknown addresses: each is asked about once (one
    destination stream per address at the controller), and every connection is passed
    through to the address itself."""
    dm = dest_mesh
    s0 = ctl_streams(dm)
    n0 = len(dm.passthrough.peers)
    for i in range(30):
        with connect(DEST_UNKNOWN[i % 3], DEST_PASS_PORT, timeout=10) as s:
            s.sendall(b"loop %d\n" % i)
            assert recv_until(s, timeout=8) == b"pass:loop %d\n" % i
    assert len(dm.passthrough.peers) == n0 + 30
    assert ctl_streams(dm) - s0 <= len(DEST_UNKNOWN)


def test_no_answer_is_cached_for_the_ttl(dest_mesh):
    """With the controller gone, the first connection to an unknown address waits for the
    destination wait and is then passed through; the next ones within --negative-ttl-ms
    do not wait again; after the TTL the address is asked (and waited for) once more.
    Runs last: it stops the controller."""
    dm = dest_mesh
    dm.ctl.proc.kill()

    def timed(ip):
        t0 = time.monotonic()
        with connect(ip, DEST_PASS_PORT, timeout=10) as s:
            s.sendall(b"t\n")
            assert recv_until(s, timeout=DEST_WAIT_MS / 1000 + 5) == b"pass:t\n"
        return time.monotonic() - t0
    first = timed("10.97.9.77")
    assert first >= DEST_WAIT_MS / 1000 - 0.1, first
    t_put = time.monotonic()
    again = [timed("10.97.9.77") for _ in range(5)]
    assert time.monotonic() - t_put < NEG_TTL_MS / 1000 - 0.3  # all within the TTL
    assert max(again) < DEST_WAIT_MS / 1000 / 2, again
    time.sleep(max(0.0, NEG_TTL_MS / 1000 + 0.3 - (time.monotonic() - t_put)))
    after = timed("10.97.9.77")
    assert after >= DEST_WAIT_MS / 1000 - 0.1, after
    # What the API answered before it went away still routes.
    with connect(DEST_SVC_IP, 7000, timeout=10) as s:
        s.sendall(b"still\n")
        assert recv_until(s, timeout=8) == b"still\n"
