"""strait-proxy operations: traffic splits with per-leaf metrics, several loop
threads, certificate rotation under load, route reloads and the SIGTERM drain."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "proxy"))
from proxy_harness import (NS, Backend, Pki, Proxy, curl, ident, metric,  # noqa: E402
                           write_routes)


@pytest.fixture(scope="module")
def env():
    d = tempfile.mkdtemp(prefix="strait-proxy-ops-")
    pki = Pki(os.path.join(d, "pki"))
    b1, b2 = Backend(), Backend()
    empty = os.path.join(d, "empty.json")
    write_routes(empty)
    srv_cert, srv_key = os.path.join(d, "srv.crt"), os.path.join(d, "srv.key")
    c, k = pki.leaf(ident("backend"), "backend")
    shutil.copy(c, srv_cert)
    shutil.copy(k, srv_key)
    server = Proxy(d, "server", srv_cert, srv_key, pki.anchor, empty)

    def ep(port):
        return {"endpoints": [{"addr": server.inbound, "identity": ident("backend"),
                               "target_port": port}]}
    routes = os.path.join(d, "routes.json")
    write_routes(routes, services={"one:80": ep(b1.port), "two:80": ep(b2.port)},
                 splits={"apex:80": {"leaves": [{"service": "one:80", "weight": 1},
                                                {"service": "two:80", "weight": 3}]}})
    client = Proxy(d, "client", *pki.leaf(ident("client"), "client"), pki.anchor, routes,
                   extra=["--threads", "2"])
    client.wait_ready()
    server.wait_ready()

    class E:
        pass
    e = E()
    e.d, e.pki, e.b1, e.b2, e.server, e.client, e.routes = d, pki, b1, b2, server, client, routes
    e.srv_cert, e.srv_key = srv_cert, srv_key
    e.ep = ep
    yield e
    client.stop()
    server.stop()
    b1.shutdown()
    b2.shutdown()


def test_split_weights_and_leaf_metrics(env):
    n1, n2 = len(env.b1.requests), len(env.b2.requests)
    before = env.client.metrics()
    total = 200
    urls = ["http://apex/s"] * total
    r = curl("-x", f"http://{env.client.outbound}", "-o", "/dev/null", "-s", *urls)
    assert r.returncode == 0, r.stderr
    got1, got2 = len(env.b1.requests) - n1, len(env.b2.requests) - n2
    assert got1 + got2 == total
    assert 25 <= got1 <= 80, (got1, got2)  # 1:3 -> 50 expected
    after = env.client.metrics()
    for svc, got in (("one", got1), ("two", got2)):
        assert metric(after, "response_total", authority="apex", dst_service=svc,
                      dst_namespace=NS, status_code=200) - \
            metric(before, "response_total", authority="apex", dst_service=svc,
                   dst_namespace=NS, status_code=200) == got


def test_two_threads_serve_in_parallel(env):
    def one(i, out):
        out[i] = curl("-x", f"http://{env.client.outbound}", "-s", "http://one/slow?ms=300")
    out = [None] * 8
    ts = [threading.Thread(target=one, args=(i, out)) for i in range(8)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert all(r.returncode == 0 and json.loads(r.stdout)["target"] == "/slow?ms=300"
               for r in out)
    assert time.monotonic() - t0 < 2.5


def test_routes_reload(env):
    out = curl("-x", f"http://{env.client.outbound}", "-i", "http://three/x").stdout
    assert out.startswith(b"HTTP/1.1 502")
    write_routes(env.routes, services={"one:80": env.ep(env.b1.port),
                                       "two:80": env.ep(env.b2.port),
                                       "three:80": env.ep(env.b1.port)},
                 splits={"apex:80": {"leaves": [{"service": "one:80", "weight": 1},
                                                {"service": "two:80", "weight": 3}]}})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        out = curl("-x", f"http://{env.client.outbound}", "-i", "http://three/x").stdout
        if out.startswith(b"HTTP/1.1 200"):
            break
        time.sleep(0.1)
    assert out.startswith(b"HTTP/1.1 200"), out


def test_certificate_rotation_under_load(env):
    stop = threading.Event()
    failures, count = [], [0]

    def load():
        while not stop.is_set():
            r = curl("-x", f"http://{env.client.outbound}", "-s", "-o", "/dev/null", "-w",
                     "%{http_code}", "http://one/rot", timeout=10)
            count[0] += 1
            if r.stdout != b"200":
                failures.append((r.stdout, r.stderr))
    ts = [threading.Thread(target=load) for _ in range(3)]
    for t in ts:
        t.start()
    for i in range(6):
        c, k = env.pki.leaf(ident("backend"), f"rot{i}")
        os.replace(k, env.srv_key)
        os.replace(c, env.srv_cert)
        time.sleep(0.4)
    stop.set()
    for t in ts:
        t.join()
    assert count[0] > 20
    assert failures == []


def test_sigterm_drains_in_flight(env):
    d = env.d
    routes = os.path.join(d, "routes.json")
    p = Proxy(d, "drain", *env.pki.leaf(ident("drain"), "drain"), env.pki.anchor, routes)
    p.wait_ready()
    res = {}

    def slow():
        res["r"] = curl("-x", f"http://{p.outbound}", "-s", "http://one/slow?ms=1500")
    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    os.killpg(p.proc.p.pid, signal.SIGTERM)
    time.sleep(0.2)
    assert p.get_admin("/live")[0] == 200  # still up while draining...
    # ...but no longer accepting new work on the outbound port.
    r = curl("-x", f"http://{p.outbound}", "-s", "http://one/x", timeout=3)
    assert r.returncode != 0
    t.join()
    assert res["r"].returncode == 0
    assert json.loads(res["r"].stdout)["target"] == "/slow?ms=1500"
    assert p.proc.p.wait(timeout=10) == 0
    assert time.monotonic() - t0 < 5
    p.stop()
