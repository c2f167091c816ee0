"""strait-proxy refuses what it must: peers with foreign, expired or wrongly
named certificates, plaintext on the inbound port, traffic before it holds a
certificate, and request smuggling on the outbound port."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "proxy"))
from proxy_harness import (Backend, Pki, Proxy, curl, hold_port, ident, raw,  # noqa: E402
                           write_routes)

SVC = "backend-svc"


@pytest.fixture(scope="module")
def env():
    d = tempfile.mkdtemp(prefix="strait-proxy-sec-")
    pki = Pki(os.path.join(d, "pki"))
    foreign = Pki(os.path.join(d, "foreign"), "foreign-anchor")
    backend = Backend()
    empty = os.path.join(d, "empty.json")
    write_routes(empty)
    good = Proxy(d, "good", *pki.leaf(ident("backend"), "backend"), pki.anchor, empty)
    alien = Proxy(d, "alien", *foreign.leaf(ident("backend"), "alien"), foreign.anchor, empty)
    exp_cert, exp_key = pki.leaf(ident("backend"), "expired", expired=True)
    port = free_port()
    s_server = subprocess.Popen(
        ["openssl", "s_server", "-quiet", "-accept", f"127.0.0.1:{port}", "-tls1_3",
         "-cert", exp_cert, "-key", exp_key, "-cert_chain", os.path.join(pki.dir, "issuer.pem"),
         "-alpn", "h2", "-naccept", "100"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)

    def ep(addr, identity):
        return {"endpoints": [{"addr": addr, "identity": identity,
                               "target_port": backend.port}]}
    # "down" has nothing listening: its port stays bound (not listening) for the module,
    # so no other test's server can appear there.
    down_sock, down_port = hold_port()
    routes = os.path.join(d, "routes.json")
    write_routes(routes, services={
        f"good:{backend.port}": ep(good.inbound, ident("backend")),
        f"alien:{backend.port}": ep(alien.inbound, ident("backend")),
        f"expired:{backend.port}": ep(f"127.0.0.1:{port}", ident("backend")),
        f"wrongid:{backend.port}": ep(good.inbound, ident("someone-else")),
        f"down:{backend.port}": ep(f"127.0.0.1:{down_port}", ident("backend")),
    })
    client = Proxy(d, "client", *pki.leaf(ident("client"), "client"), pki.anchor, routes)
    # A client whose certificate the good proxy does not trust.
    stranger = Proxy(d, "stranger", *foreign.leaf(ident("client"), "stranger"), pki.anchor,
                     routes)
    client.wait_ready()

    class E:
        pass
    e = E()
    e.d, e.pki, e.backend, e.good, e.client, e.stranger = d, pki, backend, good, client, stranger
    yield e
    for p in (client, stranger, good, alien):
        p.stop()
    s_server.kill()
    s_server.wait()
    down_sock.close()
    backend.shutdown()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"port {port} never opened")


def get(e, host, proxy=None):
    r = curl("-x", f"http://{(proxy or e.client).outbound}", "-i",
             f"http://{host}:{e.backend.port}/x")
    return r.stdout


def test_good_peer_works(env):
    out = get(env, "good")
    assert out.startswith(b"HTTP/1.1 200"), out


def test_foreign_anchor_peer_refused(env):
    n = len(env.backend.requests)
    out = get(env, "alien")
    assert out.startswith(b"HTTP/1.1 502"), out
    assert b"mTLS to the peer proxy failed" in out
    assert len(env.backend.requests) == n


def test_expired_peer_refused(env):
    out = get(env, "expired")
    assert out.startswith(b"HTTP/1.1 502"), out
    assert b"expired" in out


def test_wrong_identity_refused(env):
    n = len(env.backend.requests)
    out = get(env, "wrongid")
    assert out.startswith(b"HTTP/1.1 502"), out
    assert len(env.backend.requests) == n


def test_unreachable_peer_is_503(env):
    out = get(env, "down")
    assert out.startswith(b"HTTP/1.1 503"), out


def test_client_with_foreign_anchor_refused_by_inbound(env):
    n = len(env.backend.requests)
    out = get(env, "good", proxy=env.stranger)
    assert out.startswith(b"HTTP/1.1 502"), out
    assert len(env.backend.requests) == n


def test_plaintext_to_inbound_refused(env):
    out = raw(env.good.inbound, b"GET / HTTP/1.1\r\nHost: good\r\n\r\n")
    assert b"HTTP/1.1" not in out
    n = len(env.backend.requests)
    assert len(env.backend.requests) == n


def test_tls_client_without_certificate_refused(env):
    host, port = env.good.inbound.rsplit(":", 1)
    r = subprocess.run(["openssl", "s_client", "-connect", f"{host}:{port}", "-tls1_3",
                        "-alpn", "h2", "-CAfile", env.pki.anchor, "-quiet"],
                       input=b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", capture_output=True, timeout=20)
    assert b"certificate required" in r.stderr or r.returncode != 0, r.stderr


def test_tls12_refused(env):
    host, port = env.good.inbound.rsplit(":", 1)
    cert, key = env.pki.leaf(ident("client"), "client12")
    r = subprocess.run(["openssl", "s_client", "-connect", f"{host}:{port}", "-tls1_2",
                        "-cert", cert, "-key", key, "-CAfile", env.pki.anchor],
                       input=b"", capture_output=True, timeout=20)
    assert b"TLSv1.2" not in r.stdout or r.returncode != 0


def test_no_certificate_serves_nothing(env):
    routes = os.path.join(env.d, "routes.json")
    bare = Proxy(env.d, "bare", routes=routes)
    try:
        time.sleep(0.3)
        status, body = bare.get_admin("/ready")
        assert status == 503 and "no valid certificate" in body
        out = get(env, "good", proxy=bare)
        assert out.startswith(b"HTTP/1.1 503"), out
        assert b"no identity certificate" in out
        out = raw(bare.inbound, b"\x16\x03\x01\x00\x05hello")
        assert b"HTTP" not in out
        # Once certificate files appear, it starts serving (fail closed, then open).
    finally:
        bare.stop()


def test_certificate_loaded_later(env):
    d = os.path.join(env.d, "late")
    os.makedirs(d)
    cert, key = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
    routes = os.path.join(env.d, "routes.json")
    p = Proxy(env.d, "late", cert, key, env.pki.anchor, routes)
    try:
        assert p.get_admin("/ready")[0] == 503
        c, k = env.pki.leaf(ident("late"), "late")
        os.rename(k, key)
        os.rename(c, cert)
        p.wait_ready()
        out = get(env, "good", proxy=p)
        assert out.startswith(b"HTTP/1.1 200"), out
        assert json.loads(out.split(b"\r\n\r\n", 1)[1])["headers"]["strait-client-id"] == \
            ident("late")
    finally:
        p.stop()


SMUGGLING = [
    ("cl-and-te", b"POST http://good:{p}/ HTTP/1.1\r\nHost: good:{p}\r\nContent-Length: 3\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("two-cl", b"POST http://good:{p}/ HTTP/1.1\r\nHost: good:{p}\r\nContent-Length: 3\r\n"
               b"Content-Length: 4\r\n\r\nabcd", 400),
    ("obs-fold", b"GET http://good:{p}/ HTTP/1.1\r\nHost: good:{p}\r\nX-A: 1\r\n b\r\n\r\n", 400),
    ("bare-cr", b"GET http://good:{p}/ HTTP/1.1\r\nHost: good:{p}\r\nX-A: 1\rX-B: 2\r\n\r\n", 400),
    ("nul", b"GET http://good:{p}/ HTTP/1.1\r\nHost: good:{p}\r\nX-A: a\x00b\r\n\r\n", 400),
    ("space-before-colon", b"GET http://good:{p}/ HTTP/1.1\r\nHost: good:{p}\r\n"
                           b"Content-Length : 0\r\n\r\n", 400),
    ("te-not-chunked-last", b"POST http://good:{p}/ HTTP/1.1\r\nHost: good:{p}\r\n"
                            b"Transfer-Encoding: chunked, gzip\r\n\r\n", 400),
    ("bad-chunk-size", b"POST http://good:{p}/ HTTP/1.1\r\nHost: good:{p}\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400),
    ("huge-header", b"GET http://good:{p}/ HTTP/1.1\r\nHost: good:{p}\r\nX-Big: " +
     b"a" * 70000 + b"\r\n\r\n", 431),
    ("many-headers", b"GET http://good:{p}/ HTTP/1.1\r\nHost: good:{p}\r\n" +
     b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n", 431),
    ("no-host", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("http-2.0-line", b"GET / HTTP/2.0\r\nHost: good\r\n\r\n", 505),
]


@pytest.mark.parametrize("name,req,status", SMUGGLING, ids=[s[0] for s in SMUGGLING])
def test_smuggling_refused_and_closed(env, name, req, status):
    n = len(env.backend.requests)
    out = raw(env.client.outbound, req.replace(b"{p}", str(env.backend.port).encode()),
              timeout=5)
    assert out.startswith(b"HTTP/1.1 %d" % status), out[:200]
    assert b"connection: close" in out.lower()
    assert not out.endswith(b"<timeout>"), "the connection was left open"
    assert not out.endswith(b"<reset>"), "the answer was reset"
    if name != "bad-chunk-size":
        assert len(env.backend.requests) == n
