"""strait-proxy in certify mode against a real strait-apiserver and
strait-controller: two proxies certify as two service accounts and carry
traffic, renew short-lived certificates under load without a failed request,
fail closed with a refused token, and wait out a controller that is down at
start. Also the proxy's metrics: counts equal what was sent, label sets as
docs/metrics.md lists them, and the windowed /metrics/window endpoint."""
import calendar
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import pytest

from conftest import Apiserver, Proc, binary, check_sanitizers
from test_identity import RBAC, apply_anchors, apply_issuer, make_pki, sa_token

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "proxy"))
from proxy_harness import (NS, Backend, Pki, Proxy, certify_args, curl,  # noqa: E402
                           free_port, gauge, ident, metric, raw, series, write_routes)

SVC = "backend-svc"
LIFETIME_S = 30  # the controller's --workload-cert-lifetime for these tests


class Controller:
    """strait-controller on a fixed loopback port, so that it can come and go."""

    def __init__(self, workdir, api, token, port, tag="controller"):
        self.kubeconfig = api.token_kubeconfig(os.path.join(workdir, "controller.kubeconfig"),
                                               token)
        self.proc = Proc([binary("strait-controller"), "--kubeconfig", self.kubeconfig,
                          "--namespace", "strait", "--listen", f"127.0.0.1:{port}",
                          "--admin", "127.0.0.1:0",
                          "--workload-cert-lifetime", f"{LIFETIME_S}s"],
                         os.path.join(workdir, f"{tag}.log"))
        m = self.proc.wait_line(r"ready api=https://(\S+) admin=http://(\S+)")
        self.addr, self.admin = m.group(1), m.group(2)

    def wait_ready(self, timeout=20):
        """Waits for the identity service (the destination service has no RBAC here)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://{self.admin}/ready", timeout=5) as r:
                    if r.status == 200:
                        return
            except urllib.error.HTTPError as e:
                if "identity" not in e.read().decode():
                    return
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.05)
        raise AssertionError(f"controller not ready; log: {self.proc.tail()}")

    def stop(self):
        self.proc.kill()
        check_sanitizers(self.proc)


@pytest.fixture(scope="module")
def cp():
    """An apiserver, a controller with an issuer, tokens for two accounts, a backend."""
    d = tempfile.mkdtemp(prefix="strait-pident-")
    api = Apiserver(d).start()
    ctl = None
    c = None
    backend = Backend()
    try:
        api.kubectl("apply", "-f", "-", input=RBAC)
        api.kubectl("create", "namespace", NS)
        ctl_token = sa_token(api, "strait", "strait-controller")
        a_crt, a_key, i_crt, i_key = make_pki(d)
        apply_anchors(api, a_crt)
        apply_issuer(api, i_crt, i_key)
        tokens = {}
        for sa in ("client", "backend"):
            path = os.path.join(d, f"{sa}.token")
            with open(path, "w") as f:
                f.write(sa_token(api, NS, sa) + "\n")
            tokens[sa] = path
        port = free_port()
        ctl = Controller(d, api, ctl_token, port)
        ctl.wait_ready()

        class CP:
            pass
        c = CP()
        c.dir, c.api, c.ctl, c.anchor, c.tokens, c.backend = d, api, ctl, a_crt, tokens, backend
        c.ctl_token, c.port = ctl_token, port
        yield c
    finally:
        # A test may have replaced the controller (cp.ctl): stop whichever runs.
        for running in {id(x): x for x in (ctl, getattr(c, "ctl", None)) if x is not None}.values():
            running.stop()
        api.stop()
        backend.shutdown()
        shutil.rmtree(d, ignore_errors=True)


def pair(cp, tag):
    """A backend-side proxy and a client-side proxy routing SVC to it, both certifying."""
    ctl = f"127.0.0.1:{cp.port}"
    empty = os.path.join(cp.dir, f"empty-{tag}.json")
    write_routes(empty)
    server = Proxy(cp.dir, f"server-{tag}", routes=empty,
                   extra=certify_args(ctl, cp.anchor, cp.tokens["backend"], ident("backend")))
    routes = os.path.join(cp.dir, f"routes-{tag}.json")
    write_routes(routes, services={
        f"{SVC}:{cp.backend.port}": {"endpoints": [
            {"addr": server.inbound, "identity": ident("backend"),
             "target_port": cp.backend.port}]},
    })
    client = Proxy(cp.dir, f"client-{tag}", routes=routes,
                   extra=certify_args(ctl, cp.anchor, cp.tokens["client"], ident("client")))
    server.wait_ready(timeout=20)
    client.wait_ready(timeout=20)
    return client, server


def get(cp, client, path="/"):
    r = curl("-x", f"http://{client.outbound}", "-o", "/dev/null", "-w", "%{http_code}",
             f"http://{SVC}:{cp.backend.port}{path}", timeout=10)
    return r.stdout.decode()


def served_identity(inbound):
    """The DNS SANs of the certificate a proxy's inbound port presents."""
    host, port = inbound.rsplit(":", 1)
    r = subprocess.run(["openssl", "s_client", "-connect", f"{host}:{port}", "-alpn", "h2",
                        "-showcerts"], input=b"", capture_output=True, timeout=20)
    m = re.search(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", r.stdout, re.S)
    assert m, r.stdout + r.stderr
    x = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName"], input=m.group(0),
                       capture_output=True, timeout=20)
    return x.stdout.decode()


def test_pair_certifies_and_carries_requests(cp):
    client, server = pair(cp, "basic")
    try:
        for i in range(10):
            assert get(cp, client, f"/r{i}") == "200"
        # The inbound side saw the client's certified identity.
        assert cp.backend.requests[-1]["headers"]["strait-client-id"] == ident("client")
        sans = served_identity(server.inbound)
        assert f"DNS:{ident('backend')}" in sans
        assert f"URI:spiffe://cluster.local/ns/{NS}/sa/backend" in sans
        now = time.time()
        for p in (client, server):
            m = p.metrics()
            assert gauge(m, "identity_cert_refresh_total") >= 1
            assert gauge(m, "identity_cert_refresh_failures_total") == 0
            expiry = gauge(m, "identity_cert_expiry_timestamp_seconds")
            assert now < expiry <= now + LIFETIME_S + 2, (expiry, now)
    finally:
        assert client.stop() == 0
        assert server.stop() == 0


def test_renewal_under_steady_load(cp):
    client, server = pair(cp, "renew")
    failures, codes = [], []
    stop = threading.Event()

    def load():
        i = 0
        while not stop.is_set():
            code = get(cp, client, f"/load{i}")
            codes.append(code)
            if code != "200":
                failures.append((i, code))
            i += 1
            time.sleep(0.05)

    try:
        first = {p: gauge(p.metrics(), "identity_cert_expiry_timestamp_seconds")
                 for p in (client, server)}
        t = threading.Thread(target=load)
        t.start()
        # A 30 s certificate (back-dated 20 s) renews about 15 s after it was issued.
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            if all(gauge(p.metrics(), "identity_cert_refresh_total") >= 2
                   for p in (client, server)):
                break
            time.sleep(0.5)
        time.sleep(1)  # a little traffic on the new certificates
        stop.set()
        t.join(timeout=30)
        for p in (client, server):
            m = p.metrics()
            assert gauge(m, "identity_cert_refresh_total") >= 2, p.proc.tail()
            assert gauge(m, "identity_cert_expiry_timestamp_seconds") > first[p]
        assert len(codes) > 50
        assert not failures, failures
        # The new certificate is the one served.
        assert f"DNS:{ident('backend')}" in served_identity(server.inbound)
    finally:
        stop.set()
        assert client.stop() == 0
        assert server.stop() == 0


def test_refused_token_never_ready_and_serves_nothing(cp):
    ctl = f"127.0.0.1:{cp.port}"
    bad = os.path.join(cp.dir, "bad.token")
    with open(bad, "w") as f:
        f.write("not-a-valid-token\n")
    routes = os.path.join(cp.dir, "routes-bad.json")
    write_routes(routes, services={
        f"{SVC}:{cp.backend.port}": {"endpoints": [
            {"addr": "127.0.0.1:1", "identity": ident("backend"),
             "target_port": cp.backend.port}]},
    })
    # A valid token that asks for another account's identity is refused too.
    proxies = [
        Proxy(cp.dir, "badtoken", routes=routes,
              extra=certify_args(ctl, cp.anchor, bad, ident("client"))),
        Proxy(cp.dir, "wrongname", routes=routes,
              extra=certify_args(ctl, cp.anchor, cp.tokens["client"], ident("backend"))),
    ]
    try:
        time.sleep(2.5)
        for p in proxies:
            status, body = p.get_admin("/ready")
            assert status == 503 and "no valid certificate" in body
            m = p.metrics()
            assert gauge(m, "identity_cert_refresh_failures_total") >= 1
            assert gauge(m, "identity_cert_refresh_total") == 0
            r = curl("-x", f"http://{p.outbound}", "-i", f"http://{SVC}:{cp.backend.port}/")
            assert r.stdout.startswith(b"HTTP/1.1 503"), r.stdout
            assert b"HTTP" not in raw(p.inbound, b"\x16\x03\x01\x00\x05hello")
        assert "refused" in proxies[0].proc.tail() or "401" in proxies[0].proc.tail()
    finally:
        for p in proxies:
            t0 = time.monotonic()
            assert p.stop() == 0
            assert time.monotonic() - t0 < 5  # the identity thread stops at once


def test_controller_down_at_start(cp):
    cp.ctl.stop()
    cp.ctl = None
    ctl = f"127.0.0.1:{cp.port}"
    empty = os.path.join(cp.dir, "empty-late.json")
    write_routes(empty)
    p = Proxy(cp.dir, "late", routes=empty,
              extra=certify_args(ctl, cp.anchor, cp.tokens["backend"], ident("backend")))
    try:
        time.sleep(2)
        assert p.get_admin("/ready")[0] == 503
        assert gauge(p.metrics(), "identity_cert_refresh_failures_total") >= 1
        cp.ctl = Controller(cp.dir, cp.api, cp.ctl_token, cp.port, tag="controller2")
        cp.ctl.wait_ready()
        p.wait_ready(timeout=30)  # the back-off is 1 s doubling, jittered
        assert gauge(p.metrics(), "identity_cert_refresh_total") >= 1
    finally:
        assert p.stop() == 0


def test_metrics_counts_and_label_sets(cp):
    client, server = pair(cp, "metrics")
    try:
        auth = f"{SVC}:{cp.backend.port}"
        n_ok, n_fail = 6, 2
        for i in range(n_ok):
            assert get(cp, client, f"/m{i}") == "200"
        for _ in range(n_fail):
            assert get(cp, client, "/status/500") == "500"
        c, s = client.metrics(), server.metrics()
        n = n_ok + n_fail

        out_labels = {"direction": "outbound", "authority": auth, "dst_namespace": NS,
                      "dst_service": SVC, "tls": "true", "server_id": ident("backend")}
        assert series(c, "request_total") == [out_labels]
        assert metric(c, "request_total", **out_labels) == n
        assert metric(c, "response_total", status_code=200, classification="success",
                      **out_labels) == n_ok
        assert metric(c, "response_total", status_code=500, classification="failure",
                      **out_labels) == n_fail
        # Latency histograms carry status_code but not classification.
        lat = series(c, "response_latency_ms_count")
        assert sorted(x["status_code"] for x in lat) == ["200", "500"]
        assert all("classification" not in x for x in series(c, "response_latency_ms_bucket"))
        assert metric(c, "response_latency_ms_count", **out_labels) == n
        assert metric(c, "response_latency_ms_bucket", le="+Inf", **out_labels) == n

        in_labels = {"direction": "inbound", "authority": auth, "tls": "true",
                     "client_id": ident("client")}
        assert series(s, "request_total") == [in_labels]
        assert metric(s, "request_total", **in_labels) == n
        assert metric(s, "response_total", classification="success", **in_labels) == n_ok

        # TCP: mTLS between the proxies, plain (Linkerd's no_identity) to and from the apps.
        assert metric(c, "tcp_open_total", direction="outbound", peer="dst", tls="true",
                      server_id=ident("backend")) >= 1
        assert metric(s, "tcp_open_total", direction="inbound", peer="src", tls="true",
                      client_id=ident("client")) >= 1
        plain = series(c, "tcp_open_total")
        assert {"direction": "outbound", "peer": "src", "tls": "no_identity",
                "no_tls_reason": "loopback"} in plain
        assert metric(c, "tcp_open_total", direction="outbound", peer="src") == n
        assert metric(s, "tcp_open_total", direction="inbound", peer="dst",
                      tls="no_identity", no_tls_reason="loopback") >= 1
        assert 'tls="false"' not in c + s

        # The window: the proxies are younger than a history period, so a minute
        # covers everything they counted, and the header tells the real length.
        with urllib.request.urlopen(f"http://{client.admin}/metrics/window?ms=60000",
                                    timeout=5) as r:
            real = int(r.headers["strait-window-ms"])
            w = r.read().decode()
        assert 0 < real <= 60000
        assert metric(w, "request_total", **out_labels) == n
        assert metric(w, "response_total", classification="failure", **out_labels) == n_fail
        for bad in ("", "?ms=0", "?ms=abc", "?window=1m"):
            assert client.get_admin(f"/metrics/window{bad}")[0] == 400
        assert client.get_admin("/metrics")[0] == 200
    finally:
        assert client.stop() == 0
        assert server.stop() == 0


def test_files_mode_identity_metrics(cp):
    d = os.path.join(cp.dir, "files")
    os.makedirs(d)
    pki = Pki(os.path.join(d, "pki"))
    crt, key = pki.leaf(ident("filer"), "filer")
    cert, kpath = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
    shutil.copy(crt, cert)
    shutil.copy(key, kpath)
    empty = os.path.join(d, "empty.json")
    write_routes(empty)
    p = Proxy(d, "filer", cert, kpath, pki.anchor, empty)
    try:
        p.wait_ready()
        end = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in", cert],
                             capture_output=True, text=True, check=True).stdout
        not_after = calendar.timegm(time.strptime(end.strip().split("=", 1)[1],
                                                  "%b %d %H:%M:%S %Y GMT"))
        m = p.metrics()
        assert gauge(m, "identity_cert_expiry_timestamp_seconds") == not_after
        assert gauge(m, "identity_cert_refresh_total") == 1
        # A broken certificate is a failed refresh; the old one stays in use.
        with open(cert + ".tmp", "w") as f:
            f.write("garbage\n")
        os.replace(cert + ".tmp", cert)
        deadline = time.monotonic() + 10
        while gauge(p.metrics(), "identity_cert_refresh_failures_total") < 1:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert p.get_admin("/ready")[0] == 200
        assert gauge(p.metrics(), "identity_cert_refresh_total") == 1
    finally:
        assert p.stop() == 0
