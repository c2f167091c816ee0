"""One local cluster, meshed, end to end (issue 4, "How it will be tried"), with the
real binaries only: a cluster, three strait-terminus backends behind Services, an SMI
TrafficSplit applied with kubectl, and curl loops from meshed clients whose proxies route
with the controller's destination API. The module shares one cluster (its own
$STRAIT_HOME); the tests run in order and each leaves the split as it found it."""
import contextlib
import glob
import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time

import pytest

from conftest import Proc, binary, check_sanitizers, cluster_create_lock, wait_until

CTX = "mesh"
NS = "mc-test"
LEAVES = ("zero", "one", "two")
CHI2_1PCT_2DF = 9.21


def run_strait(home, *args, check=True, timeout=180):
    env = dict(os.environ, STRAIT_HOME=home, KUBECONFIG=os.path.join(home, "kubeconfig"))
    # Concurrent creates (another test run on this machine) pick the same number.
    lock = cluster_create_lock() if list(args[:2]) == ["cluster", "create"] else \
        contextlib.nullcontext()
    with lock:
        r = subprocess.run([binary("strait")] + list(args), env=env, capture_output=True,
                           text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"strait {' '.join(args)} failed ({r.returncode}):\n"
                             f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def kubectl(home, *args, input=None, check=True):
    cmd = ["kubectl", "--kubeconfig", os.path.join(home, "kubeconfig"), "--context", CTX]
    r = subprocess.run(cmd + list(args), input=input, capture_output=True, text=True,
                       timeout=60)
    if check and r.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed:\n{r.stderr}")
    return r


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def cluster_pids(home):
    d = os.path.join(home, "clusters", CTX)
    pids = []
    for f in glob.glob(os.path.join(d, "pids", "*.pid")):
        with open(f) as fh:
            pids.append(int(fh.read().split()[0]))
    for f in glob.glob(os.path.join(d, "workloads", "*", "*.json")):
        try:
            with open(f) as fh:
                w = json.load(fh)
        except (OSError, ValueError):
            continue
        pids += [w[k] for k in ("pid", "appPid", "proxyPid") if w.get(k)]
    return pids


SERVICES = "".join(f"""---
apiVersion: v1
kind: Service
metadata: {{name: backend-{leaf}-svc, namespace: {NS}}}
spec:
  selector: {{app: backend-{leaf}}}
  ports: [{{name: http, port: 8888, targetPort: 8888}}]
""" for leaf in LEAVES)


def split_yaml(weights):
    backends = "".join(f"  - {{service: backend-{leaf}-svc, weight: {w}}}\n"
                       for leaf, w in zip(LEAVES, weights))
    return f"""apiVersion: split.smi-spec.io/v1alpha1
kind: TrafficSplit
metadata: {{name: backend-split, namespace: {NS}}}
spec:
  service: backend-zero-svc
  backends:
{backends}"""


def set_weights(home, weights):
    kubectl(home, "apply", "-f", "-", input=split_yaml(weights))


def run_backend(home, leaf):
    run_strait(home, "--context", CTX, "run", "-n", NS, "--name", f"backend-{leaf}",
               "--label", f"app=backend-{leaf}", "--port", "8888", "--detach", "--",
               binary("strait-terminus"), "--payload", f"hello-{leaf}")


def endpoints_ready(home, svc):
    r = kubectl(home, "-n", NS, "get", "endpoints", svc, "-o",
                "jsonpath={.subsets[*].addresses[*].ip}", check=False)
    return r.returncode == 0 and r.stdout.strip() != ""


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    h = str(tmp_path_factory.mktemp("mesh") / "strait-home")
    try:
        r = run_strait(h, "cluster", "create", CTX)
        assert f"export KUBECONFIG={h}/kubeconfig" in r.stdout
        kubectl(h, "create", "namespace", NS)
        run_strait(h, "--context", CTX, "run", "-n", NS, "--name", "frontend", "--label",
                   "app=frontend", "--port", "8080", "--detach", "--",
                   binary("strait-terminus"), "--payload", "frontend")
        for leaf in LEAVES:
            run_backend(h, leaf)
        kubectl(h, "apply", "-f", "-", input=SERVICES)
        set_weights(h, ("500m", "500m", "500m"))
        for leaf in LEAVES:
            wait_until(lambda: endpoints_ready(h, f"backend-{leaf}-svc"),
                       what=f"the Endpoints of backend-{leaf}-svc")
        yield h
    finally:
        pids = cluster_pids(h)
        logs = os.path.join(h, "clusters", CTX, "logs")
        if os.path.isdir(logs):  # kept beside the home for post-mortems
            shutil.copytree(logs, h + "-logs", dirs_exist_ok=True)
        run_strait(h, "cluster", "delete", CTX, check=False)
        for p in pids:
            if pid_alive(p):
                os.kill(p, signal.SIGKILL)
        bad = []
        for log in glob.glob(os.path.join(h + "-logs", "*.log")):
            with open(log, errors="replace") as f:
                text = f.read()
            if "ERROR: AddressSanitizer" in text or "ERROR: LeakSanitizer" in text or \
                    "runtime error:" in text:
                bad.append(log)
        assert not bad, f"sanitizer reports in {bad}"


# Each response becomes one line "STATUS PAYLOAD TIME" (payload "-" when not the JSON).
LOOP = ("for i in $(seq {n}); do "
        "b=$(curl -s -m 10 -w ' %{{http_code}}' http://backend-zero-svc:8888 | tr -d '\\r\\n'); "
        "echo \"$b $(date +%s.%N)\"; done")
FOREVER = ("while :; do "
           "b=$(curl -s -m 10 -w ' %{http_code}' http://backend-zero-svc:8888 | tr -d '\\r\\n'); "
           "echo \"$b $(date +%s.%N)\"; done")


def parse(line):
    """(status, payload or None, time) of one loop line."""
    body, status, ts = line.rsplit(" ", 2)
    try:
        payload = json.loads(body)
        assert "requestUID" in payload
        payload = payload["payload"]
    except (ValueError, AssertionError, TypeError):
        payload = None
    return int(status), payload, float(ts)


def exec_loop(home, n, via="frontend"):
    extra = ["--workload", via] if via else []
    r = run_strait(home, "--context", CTX, "exec", "-n", NS, *extra, "--", "sh", "-c",
                   LOOP.format(n=n))
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    assert len(lines) == n, r.stdout[-2000:]
    return [parse(l) for l in lines]


class Load:
    """A curl loop running in the frontend in the background; lines arrive on a queue."""

    def __init__(self, home):
        env = dict(os.environ, STRAIT_HOME=home)
        self.proc = subprocess.Popen(
            [binary("strait"), "--context", CTX, "exec", "-n", NS, "--workload", "frontend",
             "--", "sh", "-c", FOREVER], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        self.q = queue.Queue()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.proc.stdout:
            if line.strip():
                self.q.put(parse(line.rstrip("\n")))

    def take(self, until):
        """Every response that arrived until monotonic time <until>."""
        out = []
        while True:
            left = until - time.monotonic()
            try:
                out.append(self.q.get(timeout=max(left, 0.01)))
            except queue.Empty:
                if time.monotonic() >= until:
                    return out

    def wait_for(self, pred, timeout, what):
        """Reads responses until pred(history) is true; returns the history."""
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                seen.append(self.q.get(timeout=0.5))
            except queue.Empty:
                continue
            if pred(seen):
                return seen
        raise AssertionError(f"timed out waiting for {what}; last: {seen[-10:]}")

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)


def chi_square(counts, n):
    expected = n / len(counts)
    return sum((c - expected) ** 2 / expected for c in counts)


def cluster_net(home):
    """"127.N" of the cluster (N is not assumed to be 1: other homes may hold it)."""
    with open(os.path.join(home, "clusters", CTX, "cluster.json")) as f:
        return f"127.{json.load(f)['number']}"


def scrape(url, name, labels=""):
    """The value of series <name>{<labels>} at <url> (0 when absent)."""
    r = subprocess.run(["curl", "-s", "--noproxy", "*", "-m", "5", url], capture_output=True,
                       text=True)
    want = f"{name}{{{labels}}} " if labels else f"{name} "
    for line in r.stdout.splitlines():
        if line.startswith(want):
            return float(line.split()[-1])
    return 0.0


def test_one_certificate_per_proxy(home):
    """Every proxy of the cluster (gateway, frontend, three backends) certified once with
    the controller, as its ServiceAccount: the destination client shares the certificate."""
    net = cluster_net(home)
    issued = scrape(f"http://{net}.0.2:9990/metrics", "identity_certify_total",
                    'result="issued"')
    assert issued == 5, issued
    for name in ["frontend"] + [f"backend-{l}" for l in LEAVES]:
        ew = json.loads(kubectl(home, "-n", NS, "get", "ew", name, "-o", "json").stdout)
        assert ew["spec"]["meshTLS"]["identity"] == \
            f"default.{NS}.serviceaccount.identity.strait.cluster.local"
        admin = ew["metadata"]["annotations"]["strait.io/proxy-admin"]
        assert scrape(f"http://{admin}/metrics", "identity_cert_refresh_total") == 1, name


def stat_ts(home, *extra):
    """`strait stat ts -n NS -o json`: the process and the rows by leaf."""
    r = run_strait(home, "--context", CTX, "stat", "ts", "-n", NS, "-o", "json", *extra)
    rows = json.loads(r.stdout)
    assert sorted(row["leaf"] for row in rows) == sorted(f"backend-{l}-svc" for l in LEAVES)
    assert all(row["apex"] == "backend-zero-svc" and row["weight"] == "500m" for row in rows)
    return r, {row["leaf"]: row for row in rows}


def records(home):
    return sorted(glob.glob(os.path.join(home, "clusters", CTX, "stats", NS, "*.json")))


def leaf_counts(results):
    payloads = [p for _, p, _ in results]
    return {f"backend-{leaf}-svc": payloads.count(f"hello-{leaf}") for leaf in LEAVES}


def test_split_thirds_and_stat(home):
    """The issue's flow, literally: 300 requests from one plain `strait exec` (a client with
    a proxy of its own, which stops with the loop); afterwards `stat ts` shows three rows
    whose request counts add up to what was sent, from the record exec left behind."""
    n = 300
    results = exec_loop(home, n, via=None)
    assert all(s == 200 for s, _, _ in results), [r for r in results if r[0] != 200][:5]
    counts = leaf_counts(results)
    assert sum(counts.values()) == n, [p for _, p, _ in results][:10]
    stat = chi_square(list(counts.values()), n)
    print(f"leaf counts {counts}, chi-square {stat:.2f}")
    assert stat < CHI2_1PCT_2DF

    # The client and its proxy are gone; what its proxy counted is kept, 0600.
    assert not glob.glob(os.path.join(home, "clusters", CTX, "workloads", NS, "_exec-*"))
    recs = records(home)
    assert len(recs) == 1, recs
    assert os.stat(recs[0]).st_mode & 0o777 == 0o600

    # stat ts (default window 1m): three rows, one per leaf, adding up to what was sent.
    r, rows = stat_ts(home)
    assert {leaf: row["requests"] for leaf, row in rows.items()} == counts, rows
    assert all(row["success"] == 1 and row["rps"] > 0 for row in rows.values())
    assert all(row["latency_ms_p50"] is not None for row in rows.values())
    table = run_strait(home, "--context", CTX, "stat", "ts", "-n", NS).stdout.splitlines()
    assert table[0].split() == ["NAME", "APEX", "LEAF", "WEIGHT", "SUCCESS", "RPS",
                                "LATENCY_P50", "LATENCY_P95", "LATENCY_P99"]
    assert len(table) == 4
    for line in table[1:]:
        cells = line.split()
        assert cells[:2] == ["backend-split", "backend-zero-svc"] and cells[3] == "500m"
        assert cells[4] == "100.00%" and cells[5].endswith("rps") and cells[6].endswith("ms")


def test_stat_counts_finished_clients(home):
    """Finished clients add up with each other and with live proxies, leave the window once
    it starts after their end, and a damaged record is skipped with a warning."""
    _, before = stat_ts(home, "--window", "10m")
    before = {leaf: row["requests"] for leaf, row in before.items()}
    assert sum(before.values()) >= 300

    # A second plain exec adds to the counts.
    second = exec_loop(home, 30, via=None)
    assert all(s == 200 for s, _, _ in second)
    ended = time.monotonic()
    added = leaf_counts(second)
    _, rows = stat_ts(home, "--window", "10m")
    assert {l: row["requests"] for l, row in rows.items()} == \
        {l: before[l] + added[l] for l in before}, rows
    assert len(records(home)) == 2

    # A window that starts after both clients ended shows no traffic for them.
    time.sleep(max(0.0, ended + 3.5 - time.monotonic()))
    _, rows = stat_ts(home, "--window", "2s")
    assert all(row["requests"] == 0 and row["success"] is None for row in rows.values()), rows

    # A damaged record: one warning, the other numbers still there.
    bad = os.path.join(home, "clusters", CTX, "stats", NS, "_exec-1-1.json")
    with open(recs_first := records(home)[0]) as f:
        text = f.read()
    with open(bad, "w") as f:
        f.write(text[:len(text) // 2])
    try:
        r, rows = stat_ts(home, "--window", "10m")
        warnings = [l for l in r.stderr.splitlines() if "warning: exec record" in l]
        assert len(warnings) == 1 and bad in warnings[0] and "skipped" in warnings[0], r.stderr
        assert {l: row["requests"] for l, row in rows.items()} == \
            {l: before[l] + added[l] for l in before}, rows
    finally:
        os.unlink(bad)
    assert os.path.exists(recs_first)

    # A client through a live workload's proxy adds to the finished ones.
    third = exec_loop(home, 30)
    _, rows = stat_ts(home, "--window", "10m")
    more = leaf_counts(third)
    assert {l: row["requests"] for l, row in rows.items()} == \
        {l: before[l] + added[l] + more[l] for l in before}, rows


def test_stat_counts_running_exec_client(home, tmp_path):
    """A plain exec client counts while it runs (its own proxy is read) and, once it has
    ended, from its record: the same numbers, not twice."""
    _, before = stat_ts(home, "--window", "10m")
    before = {leaf: row["requests"] for leaf, row in before.items()}
    flag = tmp_path / "done"
    script = LOOP.format(n=20) + \
        f"; for i in $(seq 300); do [ -e {flag} ] && break; sleep 0.1; done"
    env = dict(os.environ, STRAIT_HOME=home)
    proc = subprocess.Popen([binary("strait"), "--context", CTX, "exec", "-n", NS, "--", "sh",
                             "-c", script], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        lines = [parse(proc.stdout.readline().rstrip("\n")) for _ in range(20)]
        assert all(s == 200 for s, _, _ in lines)
        want = {l: before[l] + c for l, c in leaf_counts(lines).items()}
        _, rows = stat_ts(home, "--window", "10m")
        assert {l: row["requests"] for l, row in rows.items()} == want, rows
        flag.touch()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    _, rows = stat_ts(home, "--window", "10m")
    assert {l: row["requests"] for l, row in rows.items()} == want, rows


def test_plain_exec_client(home):
    """The seed's loop from a one-off client with a proxy of its own (strait exec)."""
    results = exec_loop(home, 30, via=None)
    assert all(s == 200 and p in {f"hello-{l}" for l in LEAVES} for s, p, _ in results)
    # Unknown services answer 502 at once with a clear body.
    r = run_strait(home, "--context", CTX, "exec", "-n", NS, "--workload", "frontend", "--",
                   "curl", "-s", "-w", " %{http_code}", "http://nothing-here:8888/")
    assert r.stdout.endswith(" 502") and "no route to nothing-here." + NS in r.stdout


def test_files_mode_destination_follows_rotation(home, tmp_path):
    """A proxy in files mode routes with the destination API using its identity's
    certificate, and the destination client follows a rotation of the files: a
    certificate the controller does not trust breaks new streams, a good one mends them."""
    net = cluster_net(home)
    ident = f"files.{NS}.serviceaccount.identity.strait.cluster.local"
    cdir = os.path.join(home, "clusters", CTX, "identity")
    good, foreign = tmp_path / "good", tmp_path / "foreign"
    good.mkdir()
    shutil.copy(os.path.join(cdir, "issuer.crt"), good / "issuer.pem")
    shutil.copy(os.path.join(cdir, "issuer.key"), good / "issuer.key")
    pki = binary("strait-proxy-testpki")
    subprocess.run([pki, "ca", str(foreign), "root.foreign.example"], check=True)
    for d, out in ((good, "a"), (good, "b"), (foreign, "x")):
        subprocess.run([pki, "leaf", str(d), ident, str(tmp_path / out)], check=True)
    crt, key = tmp_path / "id.crt", tmp_path / "id.key"

    def install(name):
        for src, dst in ((tmp_path / f"{name}.key", key), (tmp_path / f"{name}.crt", crt)):
            shutil.copy(src, str(dst) + ".tmp")
            os.replace(str(dst) + ".tmp", dst)
    install("a")
    proxy = Proc([binary("strait-proxy"), "--outbound", "127.0.0.1:0", "--inbound",
                  "127.0.0.1:0", "--admin", "127.0.0.1:0", "--identity-mode", "files",
                  "--identity-cert", str(crt), "--identity-key", str(key), "--trust-anchors",
                  os.path.join(home, "trust", "anchor.crt"), "--destination",
                  f"{net}.0.2:8086", "--namespace", NS, "--reload-interval-ms", "100",
                  "--destination-wait-ms", "2000"], str(tmp_path / "proxy.log"))
    try:
        m = proxy.wait_line(r"outbound=(\S+) inbound=\S+ admin=(\S+)")
        out, admin = m.group(1), m.group(2)

        def get(svc):
            r = subprocess.run(["curl", "-s", "-m", "10", "-x", f"http://{out}", "-w",
                                " %{http_code}", f"http://{svc}:8888/"], capture_output=True,
                               text=True, timeout=20)
            body, _, code = r.stdout.rpartition(" ")
            return code, body

        def refreshes():
            return scrape(f"http://{admin}/metrics", "identity_cert_refresh_total")
        wait_until(lambda: refreshes() == 1, what="the first certificate")
        code, body = wait_until(lambda: (lambda r: r if r[0] == "200" else None)(
            get("backend-one-svc")), what="a route through the destination API")
        assert json.loads(body)["payload"] == "hello-one"

        install("x")  # the controller does not trust this one: new streams fail
        wait_until(lambda: refreshes() == 2, what="the foreign certificate to be loaded")
        code, body = get("backend-two-svc")
        assert code == "503" and "no answer from the destination service" in body, body

        install("b")  # a good one again: the stream comes up with it
        wait_until(lambda: refreshes() == 3, what="the good certificate to be loaded")
        code, body = wait_until(lambda: (lambda r: r if r[0] == "200" else None)(
            get("backend-two-svc")), timeout=30, what="the stream to recover")
        assert json.loads(body)["payload"] == "hello-two"
    finally:
        proxy.kill()
        check_sanitizers(proxy)


def test_weights_follow(home):
    load = Load(home)
    try:
        load.wait_for(lambda h: len(h) >= 10, 30, "the load to start")
        t0 = time.time()
        set_weights(home, ("1000m", "0", "0"))
        applied = time.time()

        def settled(h):
            tail = [x for x in h if x[2] > applied]
            return len(tail) >= 20 and all(p == "hello-zero" for _, p, _ in tail[-20:])
        seen = load.wait_for(settled, 10, "the shares to follow the new weights")
        after = [x for x in seen if x[2] > applied]
        # The first response of the final run of hello-zero answers.
        i = len(after)
        while i > 0 and after[i - 1][1] == "hello-zero":
            i -= 1
        first = after[i][2] if i < len(after) else after[0][2]
        print(f"weights applied in {applied - t0:.3f}s; traffic followed "
              f"{max(first - applied, 0):.3f}s later")
        assert all(s == 200 for s, _, _ in seen)
        set_weights(home, ("500m", "500m", "500m"))
        load.wait_for(lambda h: {p for _, p, t in h if t > time.time() - 5} >=
                      {f"hello-{l}" for l in LEAVES}, 15, "all three leaves again")
    finally:
        load.stop()


def test_backend_killed_and_restarted(home):
    load = Load(home)
    try:
        load.wait_for(lambda h: len(h) >= 10, 30, "the load to start")
        stopped = time.time()
        run_strait(home, "--context", CTX, "stop", "-n", NS, "backend-two")
        done = time.time()

        def moved(h):
            tail = [x for x in h if x[2] > done]
            return len(tail) >= 30 and all(s == 200 and p != "hello-two"
                                           for s, p, _ in tail[-30:])
        seen = load.wait_for(moved, 20, "traffic to leave the stopped backend")
        failed = [x for x in seen if x[2] > stopped and x[0] != 200]
        print(f"{len(failed)} failed request(s) while backend-two stopped")
        assert len(failed) <= 5, failed

        run_backend(home, "two")
        load.wait_for(lambda h: any(p == "hello-two" for _, p, _ in h[-50:]), 20,
                      "the restarted backend to get traffic again")
    finally:
        load.stop()


def test_controller_restart_under_load(home):
    """Controller down: the proxies keep routing with their last snapshot; once it is back
    their streams reconnect (st_dest's back-off) and resubscribe."""
    pidfile = os.path.join(home, "clusters", CTX, "pids", "controller.pid")
    with open(pidfile) as f:
        ctl = int(f.read().split()[0])
    log = os.path.join(home, "clusters", CTX, "logs", f"{NS}-frontend-proxy.log")
    load = Load(home)
    try:
        load.wait_for(lambda h: len(h) >= 10, 30, "the load to start")
        os.kill(ctl, signal.SIGTERM)
        wait_until(lambda: not pid_alive(ctl), what="the controller to stop")
        down = load.take(time.monotonic() + 3)
        assert len(down) >= 5 and all(s == 200 for s, _, _ in down), down[-5:]
        assert {p for _, p, _ in down} == {f"hello-{l}" for l in LEAVES}

        with open(log) as f:
            before = f.read().count("stream back")
        run_strait(home, "cluster", "create", CTX)  # restarts what is not running

        def back():
            with open(log) as f:
                return f.read().count("stream back") > before
        wait_until(back, timeout=30, what="the frontend's stream to reconnect")
        after = load.take(time.monotonic() + 2)
        assert len(after) >= 5 and all(s == 200 for s, _, _ in after), after[-5:]
    finally:
        load.stop()


def test_changes_after_controller_restart(home):
    """After the restart, changes reach the resubscribed streams and new Services route."""
    kubectl(home, "apply", "-f", "-", input=f"""apiVersion: v1
kind: Service
metadata: {{name: backend-new-svc, namespace: {NS}}}
spec:
  selector: {{app: backend-one}}
  ports: [{{port: 9999, targetPort: 8888}}]
""")
    wait_until(lambda: endpoints_ready(home, "backend-new-svc"), what="the new Endpoints")
    r = run_strait(home, "--context", CTX, "exec", "-n", NS, "--workload", "frontend", "--",
                   "curl", "-s", "-m", "10", "http://backend-new-svc:9999/")
    assert json.loads(r.stdout)["payload"] == "hello-one"
    load = Load(home)
    try:
        set_weights(home, ("0", "1000m", "0"))
        applied = time.time()
        load.wait_for(
            lambda h: len([x for x in h if x[2] > applied]) >= 20 and
            all(p == "hello-one" for _, p, t in h[-20:]), 20,
            "the shares to follow a change made after the restart")
    finally:
        load.stop()
        set_weights(home, ("500m", "500m", "500m"))
