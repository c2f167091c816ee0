"""`strait stat ts|svc|workloads` against a real strait-apiserver holding the
TrafficSplit, Services and ExternalWorkloads, and against stand-in proxies: small
HTTP servers on loopback that serve Prometheus text with Linkerd's names and
labels (docs/metrics.md) on the admin paths the real proxy serves. The
--prometheus tests run Debian's real Prometheus scraping those servers."""
import http.server
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import pytest

from conftest import Apiserver, Proc, binary

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "proxy"))
from proxy_harness import hold_port  # noqa: E402

NS = "multicluster-test"
CRDS = os.path.join(os.path.dirname(__file__), "..", "crds")
BOUNDS = [1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000, 4000,
          5000, 10000, 20000, 30000, 40000, 50000]
APEX_FQ = f"backend-zero-svc.{NS}.svc.cluster.local:8888"
SEED_HEADER = ("NAME            APEX               LEAF                     WEIGHT   SUCCESS      RPS"
               "   LATENCY_P50   LATENCY_P95   LATENCY_P99")


# ---- stand-in proxies ---------------------------------------------------------------

def out_series(authority, leaf, status, obs, dst_ns=NS):
    """An outbound response series: <obs> maps a bucket bound to observations in it."""
    return {"labels": {"direction": "outbound", "authority": authority, "dst_namespace": dst_ns,
                       "dst_service": leaf, "tls": "true",
                       "server_id": f"default.{dst_ns}.serviceaccount.identity.strait.cluster.local"},
            "status": status, "obs": obs}


def in_series(status, obs):
    return {"labels": {"direction": "inbound", "authority": APEX_FQ, "tls": "true",
                       "client_id": f"default.{NS}.serviceaccount.identity.strait.cluster.local"},
            "status": status, "obs": obs}


def lbl(d):
    return ",".join(f'{k}="{v}"' for k, v in sorted(d.items()))


def render(specs, scale, tcp=None):
    """Prometheus text of <specs>, every count multiplied by <scale>."""
    req, lines_resp, lines_lat = {}, [], []
    for s in specs:
        n = sum(s["obs"].values()) * scale
        key = lbl(s["labels"])
        req[key] = req.get(key, 0) + n
        cls = "failure" if s["status"] >= 500 else "success"
        rl = dict(s["labels"], status_code=str(s["status"]), classification=cls)
        lines_resp.append(f"response_total{{{lbl(rl)}}} {n}")
        ll = dict(s["labels"], status_code=str(s["status"]))
        cum, total = 0, 0.0
        for b in BOUNDS:
            cum += s["obs"].get(b, 0) * scale
            total += s["obs"].get(b, 0) * scale * b * 0.75
            lines_lat.append(f'response_latency_ms_bucket{{{lbl(ll)},le="{b}"}} {cum}')
        lines_lat.append(f'response_latency_ms_bucket{{{lbl(ll)},le="+Inf"}} {cum}')
        lines_lat.append(f"response_latency_ms_sum{{{lbl(ll)}}} {total}")
        lines_lat.append(f"response_latency_ms_count{{{lbl(ll)}}} {cum}")
    out = ["# HELP request_total Total count of HTTP requests.", "# TYPE request_total counter"]
    out += [f"request_total{{{k}}} {v}" for k, v in req.items()]
    out += ["# HELP response_total Total count of HTTP responses.",
            "# TYPE response_total counter"] + lines_resp
    out += ["# HELP response_latency_ms Elapsed times between a request's headers being "
            "received and its response stream completing",
            "# TYPE response_latency_ms histogram"] + lines_lat
    if tcp is not None:
        out += ["# TYPE tcp_open_connections gauge",
                'tcp_open_connections{direction="inbound",peer="src",tls="true"} %d' % tcp,
                'tcp_open_connections{direction="outbound",peer="dst",tls="true"} 99']
    return "\n".join(out) + "\n"


class FakeProxy:
    """An admin server on loopback. Modes:
    two      -- /metrics shows the counts once on the first scrape and twice later, so the
                window (second minus first) is exactly <specs>; no history endpoint
    history  -- /metrics/window?ms=N answers <specs> as the window of the last 60 s
    live     -- /metrics grows every 100 ms in proportion to <specs> (for Prometheus)
    """

    def __init__(self, specs, mode, tcp=None):
        self.specs, self.mode, self.tcp = specs, mode, tcp
        self.scrapes = 0
        self.scrape_times = []  # time.monotonic() of each /metrics answer
        self.window_queries = []
        self.t0 = time.monotonic()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                u = urllib.parse.urlsplit(self.path)
                headers = {}
                if u.path == "/metrics/window" and proxy.mode == "history":
                    proxy.window_queries.append(urllib.parse.parse_qs(u.query))
                    body = render(proxy.specs, 1, proxy.tcp)
                    headers["strait-window-ms"] = "60000"
                elif u.path == "/metrics":
                    proxy.scrapes += 1
                    if proxy.mode == "live":
                        scale = 1000 + int((time.monotonic() - proxy.t0) * 10)
                    elif proxy.mode == "two":
                        scale = 1 if proxy.scrapes == 1 else 2
                    else:
                        scale = 7
                    body = render(proxy.specs, scale, proxy.tcp)
                else:
                    self.send_error(404)
                    return
                data = body.encode()
                if u.path == "/metrics":
                    proxy.scrape_times.append(time.monotonic())
                self.send_response(200)
                self.send_header("content-type", "text/plain; version=0.0.4")
                self.send_header("content-length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.addr = "127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxies():
    made = []

    def make(*a, **kw):
        p = FakeProxy(*a, **kw)
        made.append(p)
        return p
    yield make
    for p in made:
        p.stop()


# ---- cluster objects --------------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def setup_api(api, split=True):
    api.kubectl("apply", "-f", os.path.join(CRDS, "trafficsplit.yaml"),
                "-f", os.path.join(CRDS, "externalworkload.yaml"))
    api.kubectl("create", "namespace", NS)
    api.kubectl("create", "namespace", "clients")
    api.kubectl("create", "namespace", "empty")
    deadline = time.monotonic() + 60
    while True:  # a stored CRD becomes a served resource
        if api.kubectl("get", "trafficsplits", "-n", NS, check=False).returncode == 0:
            break
        assert time.monotonic() < deadline, "the TrafficSplit CRD is not served"
        time.sleep(0.1)
    if split:
        api.kubectl("apply", "-f", "-", input=f"""
apiVersion: split.smi-spec.io/v1alpha1
kind: TrafficSplit
metadata:
  name: cluster-split
  namespace: {NS}
spec:
  service: backend-zero-svc
  backends:
  - service: backend-zero-svc
    weight: 500m
  - service: backend-one-svc-remote
    weight: 500m
  - service: backend-two-svc-remote
    weight: 500m
""")


def add_workload(api, ns, name, admin, labels=None):
    labels = labels or {"app": name}
    obj = {"apiVersion": "workload.strait.io/v1beta1", "kind": "ExternalWorkload",
           "metadata": {"name": name, "namespace": ns, "labels": labels,
                        "annotations": {"strait.io/proxy-admin": admin} if admin else {}},
           "spec": {"meshTLS": {"identity": f"default.{ns}.serviceaccount.identity.strait."
                                            "cluster.local",
                                "serverName": f"default.{ns}.serviceaccount.identity.strait."
                                              "cluster.local"},
                    "workloadIPs": [{"ip": "127.1.1.9"}],
                    "ports": [{"port": 8888, "name": "http"}]}}
    api.kubectl("apply", "-f", "-", input=json.dumps(obj))


def strait(api, *args, timeout=60):
    return subprocess.run([binary("strait"), "--kubeconfig", api.kubeconfig] + list(args),
                          capture_output=True, text=True, timeout=timeout)


def table(rows, right):
    """Linkerd's layout, as the CLI must print it: 3 spaces, numbers right-aligned."""
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [c.rjust(w[i]) if right[i] else c.ljust(w[i]) for i, c in enumerate(r)]
        out.append("   ".join(cells).rstrip())
    return "\n".join(out) + "\n"


TS_RIGHT = [False] * 3 + [True] * 6

# Client A lives in the split's namespace, client B in another one. Leaf one-remote: A 30
# successes in (100,200]; B 8 successes and 2 failures in (200,300]. Merged: 40 responses,
# p50 = 100 + 100*20/30 = 166.7, p95 = 200 + 100*8/10 = 280, p99 = 200 + 100*9.6/10 = 296.
# Averaging the proxies' p50s would give 200. Leaf zero-svc (bare authority, from A only):
# 7 in (1,2], 3 in (10,20]: p50 = 1 + 5/7, p95 = 10 + 10*2.5/3, p99 = 10 + 10*2.9/3.
CLIENT_A = [
    out_series(APEX_FQ, "backend-one-svc-remote", 200, {200: 30}),
    out_series("backend-zero-svc:8888", "backend-zero-svc", 200, {2: 7, 20: 3}),
    # Another apex to the same leaf, and inbound traffic: neither belongs to the split.
    out_series(f"other-svc.{NS}.svc.cluster.local:8888", "backend-one-svc-remote", 200,
               {1: 50}),
    in_series(200, {5: 11}),
]
CLIENT_B = [
    out_series(f"backend-zero-svc.{NS}:8888", "backend-one-svc-remote", 200, {300: 8}),
    out_series(f"backend-zero-svc.{NS}:8888", "backend-one-svc-remote", 503, {300: 2}),
    # B's own backend-zero-svc, asked by its bare name: another namespace's service.
    out_series("backend-zero-svc:8888", "backend-zero-svc", 200, {1: 40}, dst_ns="clients"),
]


def expected_ts(rps_one, rps_zero):
    return table([SEED_HEADER.split(),
                  ["cluster-split", "backend-zero-svc", "backend-one-svc-remote", "500m",
                   "95.00%", rps_one, "167ms", "280ms", "296ms"],
                  ["cluster-split", "backend-zero-svc", "backend-two-svc-remote", "500m",
                   "-", "-", "-", "-", "-"],
                  ["cluster-split", "backend-zero-svc", "backend-zero-svc", "500m",
                   "100.00%", rps_zero, "2ms", "18ms", "20ms"]], TS_RIGHT)


def rps_of(cell):
    m = re.fullmatch(r"(\d+\.\d)rps", cell)
    assert m, cell
    return float(m.group(1))


# ---- tests ---------------------------------------------------------------------------

def test_ts_table_from_two_scrapes(workdir, apiserver, proxies):
    setup_api(apiserver)
    a, b = proxies(CLIENT_A, "two"), proxies(CLIENT_B, "two")
    add_workload(apiserver, NS, "client-a", a.addr)
    add_workload(apiserver, "clients", "client-b", b.addr)
    t0 = time.monotonic()
    r = strait(apiserver, "stat", "ts", "-n", NS, "--window", "5s")
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert took >= 5.0
    lines = r.stdout.splitlines()
    # The counters doubled between the scrapes: the window holds the specs once.
    assert a.scrapes == 2 and b.scrapes == 2
    assert lines[0] == SEED_HEADER
    cells = [ln.split() for ln in lines[1:]]
    # 40 responses (30 from A, 10 from B) and 10 responses (A) over each proxy's window: the
    # real time between the CLI's receipt of its two answers. Both answers came while the
    # CLI ran, so a window is at most <took>; it is at least the time between the proxy's
    # two answers less the first answer's delivery (not observable; allowed up to 1 s, as
    # on a loaded machine the CLI may read it late). Printed with one decimal.
    wa = (took, a.scrape_times[1] - a.scrape_times[0] - 1.0)
    wb = (took, b.scrape_times[1] - b.scrape_times[0] - 1.0)
    assert 30 / wa[0] + 10 / wb[0] - 0.05 <= rps_of(cells[0][5]) <= 30 / wa[1] + 10 / wb[1] + 0.05
    assert 10 / wa[0] - 0.05 <= rps_of(cells[2][5]) <= 10 / wa[1] + 0.05
    assert r.stdout == expected_ts(cells[0][5], cells[2][5])


def test_ts_history_json_and_unreachable(workdir, apiserver, proxies):
    setup_api(apiserver)
    a, b = proxies(CLIENT_A, "history"), proxies(CLIENT_B, "history")
    add_workload(apiserver, NS, "client-a", a.addr)
    add_workload(apiserver, "clients", "client-b", b.addr)
    # Bound and not listening for the whole test: refused, and nobody else can serve there.
    dead_sock, dead_port = hold_port()
    dead = "127.0.0.1:%d" % dead_port
    add_workload(apiserver, NS, "client-gone", dead)
    add_workload(apiserver, NS, "client-bad", "http://x/y")
    t0 = time.monotonic()
    try:
        r = strait(apiserver, "stat", "ts", "-n", NS, "-o", "json")
    finally:
        dead_sock.close()
    assert r.returncode == 0, r.stderr
    # The proxies' windows answer at once: no waiting for the minute of the window (half of
    # it is allowed for a sanitizer build on a loaded machine).
    assert time.monotonic() - t0 < 30
    assert a.window_queries == [{"ms": ["60000"]}] and a.scrapes == 0
    assert re.search(rf"warning: proxy {NS}/client-gone at {dead} unreachable", r.stderr)
    assert re.search(rf"warning: workload {NS}/client-bad: strait.io/proxy-admin", r.stderr)
    rows = json.loads(r.stdout)
    assert [x["leaf"] for x in rows] == ["backend-one-svc-remote", "backend-two-svc-remote",
                                         "backend-zero-svc"]
    one, two, zero = rows
    assert one["namespace"] == NS and one["name"] == "cluster-split"
    assert one["apex"] == "backend-zero-svc" and one["weight"] == "500m"
    assert one["requests"] == 40
    assert one["success"] == pytest.approx(0.95)
    assert one["rps"] == pytest.approx(40 / 60)
    assert one["latency_ms_p50"] == pytest.approx(100 + 100 * 20 / 30)
    assert one["latency_ms_p95"] == pytest.approx(280)
    assert one["latency_ms_p99"] == pytest.approx(296)
    assert two["requests"] == 0 and two["success"] is None and two["rps"] is None
    assert two["latency_ms_p50"] is None
    assert zero["requests"] == 10 and zero["success"] == pytest.approx(1.0)
    assert zero["latency_ms_p50"] == pytest.approx(1 + 5 / 7)
    assert zero["latency_ms_p95"] == pytest.approx(10 + 10 * 2.5 / 3)
    assert zero["latency_ms_p99"] == pytest.approx(10 + 10 * 2.9 / 3)

    # The table of the same windows: RPS is exact here (a 60 s window).
    r = strait(apiserver, "stat", "ts", "-n", NS)
    assert r.returncode == 0
    assert r.stdout == expected_ts("0.7rps", "0.2rps")


def test_hung_proxies_time_out_together(workdir, apiserver, proxies):
    """Proxies that accept but never answer cost one 2 s timeout together, not one each."""
    setup_api(apiserver)
    a = proxies(CLIENT_A, "history")
    add_workload(apiserver, NS, "client-a", a.addr)
    # What the command costs here without hung proxies (slow under a sanitizer or load).
    t0 = time.monotonic()
    r = strait(apiserver, "stat", "ts", "-n", NS, "-o", "json")
    base = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    hung = []
    for i in range(4):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(8)  # the kernel completes the handshake; nobody ever reads
        hung.append(s)
        add_workload(apiserver, NS, f"hung-{i}", "127.0.0.1:%d" % s.getsockname()[1])
    try:
        t0 = time.monotonic()
        r = strait(apiserver, "stat", "ts", "-n", NS, "-o", "json")
        took = time.monotonic() - t0
    finally:
        for s in hung:
            s.close()
    assert r.returncode == 0, r.stderr
    assert len(re.findall(r"warning: proxy .*/hung-\d .* unreachable: no answer within 2000 ms",
                          r.stderr)) == 4
    # One 2 s timeout for the four of them: one each would cost 8 s more than <base>. Up to
    # 6 s above the base leaves room for a slow run and still tells the two apart.
    assert 2.0 <= took < base + 6.0, (took, base)
    assert json.loads(r.stdout)[0]["requests"] == 30  # client A alone


def test_ts_no_split_and_usage(workdir, apiserver):
    setup_api(apiserver, split=False)
    r = strait(apiserver, "stat", "ts", "-n", "empty")
    assert r.returncode == 0
    assert r.stdout == ""
    assert r.stderr == "No TrafficSplits found in namespace empty.\n"
    r = strait(apiserver, "stat", "ts", "-n", "empty", "-o", "json")
    assert r.returncode == 0 and json.loads(r.stdout) == []
    for args, msg in [(["stat"], "which resource"),
                      (["stat", "pods"], 'unknown resource "pods"'),
                      (["stat", "ts", "--window", "forever"], "--window"),
                      (["stat", "ts", "--window", "10ms"], "between 100ms and 24h"),
                      (["stat", "ts", "-o", "yaml"], "-o must be table or json"),
                      (["stat", "ts", "--prometheus", "localhost:9090"], "http(s) URL"),
                      (["stat", "ts", "-n", "Bad_NS"], "not a namespace name")]:
        r = strait(apiserver, *args)
        assert r.returncode == 2, args
        assert r.stderr.startswith("strait: ") and msg in r.stderr, r.stderr
    r = strait(apiserver, "stat", "--help")
    assert r.returncode == 0 and "stat ts|svc|workloads" in r.stdout


def test_ts_apiserver_down(workdir):
    api = Apiserver(workdir).start()
    api.stop()
    r = strait(api, "stat", "ts", "-n", NS)
    assert r.returncode == 1
    assert r.stderr.startswith("strait: ") and len(r.stderr.splitlines()) == 1


# Backends: zero-a and zero-b serve backend-zero-svc (app=backend-zero), one serves
# backend-one-svc. zero-a: 18 OK in (4,5] + 2 failures in (40,50]; zero-b: 20 OK in
# (10,20]. backend-zero-svc merged: 40, 38 OK; p50: rank 20 in (10,20]: 10 + 10*2/20 = 11;
# p95: rank 38 is the top of (10,20]: 20; p99: rank 39.6 in (40,50]: 40 + 10*1.6/2 = 48.
ZERO_A = [in_series(200, {5: 18}), in_series(500, {50: 2}),
          out_series(APEX_FQ, "backend-one-svc-remote", 200, {1: 9})]
ZERO_B = [in_series(200, {20: 20})]
ONE = [in_series(200, {200: 5})]  # the seed's 150ms 195ms 199ms


def test_svc_and_workloads(workdir, apiserver, proxies):
    setup_api(apiserver, split=False)
    za, zb = proxies(ZERO_A, "history", tcp=3), proxies(ZERO_B, "history", tcp=4)
    one = proxies(ONE, "history", tcp=1)
    add_workload(apiserver, NS, "zero-a", za.addr, {"app": "backend-zero"})
    add_workload(apiserver, NS, "zero-b", zb.addr, {"app": "backend-zero"})
    add_workload(apiserver, NS, "zero-c", None, {"app": "backend-zero"})  # not meshed
    add_workload(apiserver, NS, "one", one.addr, {"app": "backend-one"})
    for name, app in [("backend-zero-svc", "backend-zero"), ("backend-one-svc", "backend-one"),
                      ("backend-two-svc-remote", None)]:  # a mirror: no selector
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
               "spec": {"ports": [{"port": 8888, "targetPort": 8888}]}}
        if app:
            svc["spec"]["selector"] = {"app": app}
        apiserver.kubectl("apply", "-f", "-", input=json.dumps(svc))
    r = strait(apiserver, "stat", "svc", "-n", NS)
    assert r.returncode == 0, r.stderr
    right = [False, False] + [True] * 6
    assert r.stdout == table([
        ["NAME", "MESHED", "SUCCESS", "RPS", "LATENCY_P50", "LATENCY_P95", "LATENCY_P99",
         "TCP_CONN"],
        ["backend-one-svc", "1/1", "100.00%", "0.1rps", "150ms", "195ms", "199ms", "1"],
        ["backend-two-svc-remote", "-", "-", "-", "-", "-", "-", "-"],
        ["backend-zero-svc", "2/3", "95.00%", "0.7rps", "11ms", "20ms", "48ms", "7"],
    ], right)

    r = strait(apiserver, "stat", "wl", "-n", NS, "-o", "json")
    assert r.returncode == 0, r.stderr
    rows = {x["name"]: x for x in json.loads(r.stdout)}
    assert sorted(rows) == ["one", "zero-a", "zero-b", "zero-c"]
    za_row = rows["zero-a"]
    assert za_row["meshed"] == "1/1" and za_row["requests"] == 20
    assert za_row["success"] == pytest.approx(0.9)
    assert za_row["tcp_open_connections"] == 3
    # zero-a: 18 in (4,5], 2 in (40,50]: p50 = 4 + 10/18, p99 = 40 + 10*(19.8-18)/2.
    assert za_row["latency_ms_p50"] == pytest.approx(4 + 10 / 18)
    assert za_row["latency_ms_p99"] == pytest.approx(40 + 10 * 1.8 / 2)
    assert rows["zero-c"]["meshed"] == "0/1" and rows["zero-c"]["requests"] == 0
    assert rows["zero-c"]["success"] is None

    r = strait(apiserver, "stat", "workloads", "-n", NS)
    assert r.returncode == 0
    assert r.stdout.splitlines()[0].split() == ["NAME", "MESHED", "SUCCESS", "RPS",
                                                "LATENCY_P50", "LATENCY_P95", "LATENCY_P99",
                                                "TCP_CONN"]
    assert r.stdout.splitlines()[4].split() == ["zero-c", "0/1", "-", "-", "-", "-", "-", "-"]


# ---- Prometheus -------------------------------------------------------------------------

class Prometheus:
    def __init__(self, workdir, targets):
        self.targets = len(targets)
        cfg = os.path.join(workdir, "prometheus.yml")
        jobs = ["global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n",
                "scrape_configs:\n"]
        for i, (addr, ns, name) in enumerate(targets):
            jobs.append(f"""- job_name: proxy{i}
  scrape_interval: 1s
  static_configs:
  - targets: ['{addr}']
    labels: {{namespace: {ns}, workload: {name}}}
""")
        with open(cfg, "w") as f:
            f.write("".join(jobs))
        # Prometheus cannot report a port it picked, so it gets one that was free a moment
        # ago; another process may take it first, and then Prometheus exits (or never says
        # it is ready): start again on another port.
        for attempt in range(5):
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            self.proc = Proc(["prometheus", f"--config.file={cfg}",
                              f"--storage.tsdb.path={os.path.join(workdir, 'tsdb')}",
                              f"--web.listen-address=127.0.0.1:{self.port}"],
                             os.path.join(workdir, f"prometheus-{attempt}.log"))
            if self.wait_started():
                return
            self.proc.kill()
        raise AssertionError("prometheus did not start: " + self.proc.tail())

    def wait_started(self, timeout=60):
        """True once this Prometheus (the process we started, still running) is ready."""
        deadline = time.monotonic() + timeout
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while time.monotonic() < deadline and self.proc.p.poll() is None:
            try:
                with opener.open(self.url + "/-/ready", timeout=5) as r:
                    if r.status == 200 and self.proc.p.poll() is None:
                        return True
            except OSError:
                pass
            time.sleep(0.2)
        return False

    def query(self, q):
        u = self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": q})
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(u, timeout=5) as r:
            return json.load(r)["data"]["result"]

    def wait_samples(self, n, timeout=120):
        """Waits until every target has at least <n> scrapes in the last 20 s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                res = self.query("count_over_time(up[20s])")
                if len(res) == self.targets and all(float(x["value"][1]) >= n for x in res):
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError("prometheus has no data: " + self.proc.tail())

    def stop(self):
        self.proc.kill()


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus is not installed")
def test_prometheus_gives_the_same_rows(workdir, apiserver, proxies):
    setup_api(apiserver)
    # Every series of one proxy grows in step, so the extrapolation of increase() and rate()
    # is the same factor for all of them: success rates and quantiles stay exact. One proxy
    # carries the failures and two latency buckets of a leaf, the other the second leaf.
    a = proxies([out_series(APEX_FQ, "backend-one-svc-remote", 200, {200: 3}),
                 out_series(f"backend-zero-svc.{NS}:8888", "backend-one-svc-remote", 503,
                            {300: 1}),
                 in_series(200, {5: 2})], "live", tcp=2)
    b = proxies([out_series("backend-zero-svc:8888", "backend-zero-svc", 200, {2: 7, 20: 3}),
                 out_series("backend-zero-svc:8888", "backend-zero-svc", 200, {1: 5},
                            dst_ns="clients")], "live")
    add_workload(apiserver, NS, "client-a", a.addr)
    add_workload(apiserver, NS, "client-b", b.addr)
    prom = Prometheus(workdir, [(a.addr, NS, "client-a"), (b.addr, NS, "client-b")])
    try:
        prom.wait_samples(8)  # data over the whole 5 s window, no partial extrapolation
        r = strait(apiserver, "stat", "ts", "-n", NS, "--window", "5s",
                   "--prometheus", prom.url + "/")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        cells = [ln.split() for ln in lines[1:]]
        assert lines[0].split() == SEED_HEADER.split()  # RPS is wider here: 100.0rps
        # one-remote: 3 OK in (100,200] and 1 failure in (200,300] per tick (10 ticks/s):
        # 75.00%; p50 = 100 + 100*2/3, p95 = 200 + 100*(3.8-3), p99 = 200 + 100*0.96.
        assert cells[0][3:5] == ["500m", "75.00%"] and cells[0][6:] == ["167ms", "280ms",
                                                                        "296ms"]
        assert 30 <= rps_of(cells[0][5]) <= 50  # 40/s, extrapolated
        assert cells[1][2:] == ["backend-two-svc-remote", "500m", "-", "-", "-", "-", "-"]
        assert cells[2][4] == "100.00%" and cells[2][6:] == ["2ms", "18ms", "20ms"]
        assert 75 <= rps_of(cells[2][5]) <= 125  # 100/s
        # The embedded path reads the same proxies (two scrapes 2 s apart) and agrees.
        r2 = strait(apiserver, "stat", "ts", "-n", NS, "--window", "2s")
        assert r2.returncode == 0, r2.stderr
        cells2 = [ln.split() for ln in r2.stdout.splitlines()[1:]]
        assert [c[:5] + c[6:] for c in cells2] == [c[:5] + c[6:] for c in cells]

        r = strait(apiserver, "stat", "wl", "-n", NS, "--window", "5s", "-o", "json",
                   "--prometheus", prom.url)
        assert r.returncode == 0, r.stderr
        rows = {x["name"]: x for x in json.loads(r.stdout)}
        ca = rows["client-a"]
        assert ca["success"] == pytest.approx(1.0)
        assert ca["latency_ms_p50"] == pytest.approx(4.5)
        assert ca["tcp_open_connections"] == 2
        assert 15 <= ca["rps"] <= 25
        assert rows["client-b"]["requests"] == 0

        # A Prometheus that does not answer: one line naming it.
        dead_sock, dead_port = hold_port()
        try:
            r = strait(apiserver, "stat", "ts", "-n", NS, "--prometheus",
                       "http://127.0.0.1:%d" % dead_port)
        finally:
            dead_sock.close()
        assert r.returncode == 1 and r.stderr.startswith("strait: prometheus at")
    finally:
        prom.stop()


# ---- the real proxy ------------------------------------------------------------------------

def test_real_proxy_metrics(workdir, apiserver):
    """A real strait-proxy (static routes, as its own tests run it): its window text reads
    back, and the requests it served are all in the split's rows."""
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "proxy"))
    from proxy_harness import NS as PNS, Backend, Pki, Proxy, curl, ident, metric, write_routes

    setup_api(apiserver, split=False)
    apiserver.kubectl("create", "namespace", PNS)
    apiserver.kubectl("apply", "-f", "-", input=f"""
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {{name: apex-split, namespace: {PNS}}}
spec:
  service: apex
  backends:
  - {{service: one, weight: 1}}
  - {{service: two, weight: 3}}
""")
    pki = Pki(os.path.join(workdir, "pki"))
    b1, b2 = Backend(), Backend()
    empty = os.path.join(workdir, "empty.json")
    write_routes(empty)
    server = Proxy(workdir, "server", *pki.leaf(ident("backend"), "backend"), pki.anchor, empty)

    def ep(port):
        return {"endpoints": [{"addr": server.inbound, "identity": ident("backend"),
                               "target_port": port}]}
    routes = os.path.join(workdir, "routes.json")
    write_routes(routes, services={"one:80": ep(b1.port), "two:80": ep(b2.port)},
                 splits={"apex:80": {"leaves": [{"service": "one:80", "weight": 1},
                                                {"service": "two:80", "weight": 3}]}})
    client = Proxy(workdir, "client", *pki.leaf(ident("client"), "client"), pki.anchor, routes)
    try:
        client.wait_ready()
        server.wait_ready()
        add_workload(apiserver, PNS, "client", client.admin)
        r = curl("-x", f"http://{client.outbound}", "-o", "/dev/null", *["http://apex/s"] * 40)
        assert r.returncode == 0, r.stderr
        # The proxy counts a response when its stream ends, which may be just after curl
        # read it: wait until it has counted all 40 before asking for the window.
        deadline = time.monotonic() + 60
        while metric(client.metrics(), "response_total", direction="outbound") < 40:
            assert time.monotonic() < deadline, client.metrics()
            time.sleep(0.05)
        # The proxy keeps its own history (/metrics/window): a minute costs no waiting, and
        # the proxy is younger than that, so the window holds everything it served.
        t0 = time.monotonic()
        r = strait(apiserver, "stat", "ts", "-n", PNS, "--window", "1m", "-o", "json")
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""
        assert time.monotonic() - t0 < 30  # not the minute itself (see above)
        out = r.stdout
        rows = json.loads(out)
        assert [(x["leaf"], x["weight"]) for x in rows] == [("one", 1), ("two", 3)]
        assert sum(x["requests"] for x in rows) == 40
        assert all(x["success"] == 1.0 for x in rows if x["requests"])
        assert all(x["latency_ms_p99"] is not None for x in rows if x["requests"])
    finally:
        client.stop()
        server.stop()
        b1.shutdown()
        b2.shutdown()
