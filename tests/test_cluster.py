"""Local clusters and workloads end to end: `strait cluster create/delete/list`,
`strait run/exec/workloads/stop` and `strait check`, with the real binaries
(apiserver, controller, proxy, terminus) on 127.N.0.0/16, kubectl and curl.
Every test uses its own $STRAIT_HOME and deletes its clusters in a finally."""
import contextlib
import glob
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import binary, cluster_create_lock, wait_until


def run_strait(home, *args, check=True, timeout=300):
    env = dict(os.environ, STRAIT_HOME=home)
    env.pop("KUBECONFIG", None)
    # Concurrent creates (another test run on this machine) pick the same number.
    lock = cluster_create_lock() if list(args[:2]) == ["cluster", "create"] else \
        contextlib.nullcontext()
    with lock:
        r = subprocess.run([binary("strait")] + list(args), env=env, capture_output=True,
                           text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"strait {' '.join(args)} failed ({r.returncode}):\n"
                             f"{r.stdout}\n{r.stderr}")
    return r


def kubectl(home, ctx, *args, check=True):
    cmd = ["kubectl", "--kubeconfig", os.path.join(home, "kubeconfig"), "--context", ctx]
    r = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed:\n{r.stderr}")
    return r


def pid_alive(pid):
    """True when <pid> runs and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def cluster_pids(home, name):
    """Every pid recorded for cluster <name>: its processes and its workloads'."""
    d = os.path.join(home, "clusters", name)
    pids = []
    for f in glob.glob(os.path.join(d, "pids", "*.pid")):
        with open(f) as fh:
            pids.append(int(fh.read().split()[0]))
    for f in glob.glob(os.path.join(d, "workloads", "*", "*.json")):
        with open(f) as fh:
            w = json.load(fh)
        pids += [w[k] for k in ("pid", "appPid", "proxyPid") if w.get(k)]
    return pids


@pytest.fixture
def home(tmp_path):
    h = str(tmp_path / "strait-home")
    try:
        yield h
    finally:
        for d in glob.glob(os.path.join(h, "clusters", "*")):
            name = os.path.basename(d)
            pids = cluster_pids(h, name)
            run_strait(h, "cluster", "delete", name, check=False)
            for p in pids:  # never leave a process behind, even if delete failed
                if pid_alive(p):
                    os.kill(p, signal.SIGKILL)


def create(home, name, *extra):
    r = run_strait(home, "cluster", "create", name, *extra)
    assert f"export KUBECONFIG={home}/kubeconfig" in r.stdout.splitlines()
    return r


def number(home, name):
    """Cluster <name>'s number N (its addresses are 127.N.0.0/16). It is the lowest one free
    on the machine, so it is 1 only when no other cluster runs here (another test run may
    hold one: ctest's resource lock covers only its own run)."""
    with open(os.path.join(home, "clusters", name, "cluster.json")) as f:
        return json.load(f)["number"]


def metric_lines(addr, pred, timeout=60.0):
    """The lines of the proxy's /metrics at <addr> for which <pred> holds, once there are
    any: a proxy counts a request when its stream ends, which may be just after the
    client has read the response."""
    def lines():
        text = subprocess.run(["curl", "-s", "--noproxy", "*", "-m", "5",
                               f"http://{addr}/metrics"], capture_output=True, text=True).stdout
        return [l for l in text.splitlines() if pred(l)]
    return wait_until(lines, timeout, what=f"matching metrics at {addr}")


def list_clusters(home):
    lines = run_strait(home, "cluster", "list").stdout.splitlines()
    assert lines[0].split() == ["NAME", "NUMBER", "API", "HEALTH"]
    return {l.split()[0]: l.split() for l in lines[1:]}


def test_create_recreate_delete(home):
    r = create(home, "alpha")
    assert "started apiserver" in r.stdout and "started controller" in r.stdout
    kubectl(home, "alpha", "get", "ns", "strait")
    crds = kubectl(home, "alpha", "get", "crd", "-o", "name").stdout.split()
    assert sorted(crds) == ["customresourcedefinition.apiextensions.k8s.io/"
                            "externalworkloads.workload.strait.io",
                            "customresourcedefinition.apiextensions.k8s.io/"
                            "links.multicluster.strait.io",
                            "customresourcedefinition.apiextensions.k8s.io/"
                            "trafficsplits.split.smi-spec.io"]
    # The control plane objects of `strait install` are there.
    kubectl(home, "alpha", "-n", "strait", "get", "secret", "strait-identity-issuer")
    kubectl(home, "alpha", "-n", "strait", "get", "configmap", "strait-identity-trust-roots")
    kubectl(home, "alpha", "-n", "strait", "get", "deployment", "strait-controller")
    rows = list_clusters(home)
    n = number(home, "alpha")
    assert rows["alpha"][1:] == [str(n), f"https://127.{n}.0.1:6443", "healthy"]

    # Re-running create keeps the data and restarts only what is down.
    kubectl(home, "alpha", "create", "configmap", "keepme", "--from-literal=a=b")
    with open(os.path.join(home, "clusters", "alpha", "pids", "controller.pid")) as f:
        ctl = int(f.read().split()[0])
    os.kill(ctl, signal.SIGKILL)
    wait_until(lambda: not pid_alive(ctl), what="the controller to die")
    assert "unhealthy" in list_clusters(home)["alpha"][3]
    r = create(home, "alpha")
    assert "running apiserver" in r.stdout and "started controller" in r.stdout
    assert f"restarting cluster alpha (number {n}," in r.stdout
    cm = json.loads(kubectl(home, "alpha", "get", "cm", "keepme", "-o", "json").stdout)
    assert cm["data"] == {"a": "b"}
    assert list_clusters(home)["alpha"][3] == "healthy"

    pids = cluster_pids(home, "alpha")
    assert len(pids) == 3
    r = run_strait(home, "cluster", "delete", "alpha")
    assert "cluster alpha deleted" in r.stdout
    for p in pids:
        assert not pid_alive(p), f"pid {p} of cluster alpha still runs"
    ctxs = subprocess.run(["kubectl", "--kubeconfig", os.path.join(home, "kubeconfig"), "config",
                           "get-contexts", "-o", "name"], capture_output=True, text=True).stdout
    assert "alpha" not in ctxs.split()
    assert not os.path.exists(os.path.join(home, "clusters", "alpha"))
    assert list_clusters(home) == {}
    r = run_strait(home, "cluster", "delete", "alpha", check=False)
    assert r.returncode == 1 and r.stderr.strip() == 'strait: unknown cluster "alpha"'


def test_two_clusters_share_anchor(home):
    create(home, "east")
    create(home, "west")
    rows = list_clusters(home)
    assert rows["east"][1] != rows["west"][1]
    assert rows["east"][3] == rows["west"][3] == "healthy"
    anchor = os.path.join(home, "trust", "anchor.crt")
    issuers = []
    for name in ("east", "west"):
        issuer = os.path.join(home, "clusters", name, "identity", "issuer.crt")
        r = run_strait(home, "identity", "inspect", issuer, "--anchors", anchor)
        assert "chains_to_anchors: yes" in r.stdout
        with open(issuer) as f:
            issuers.append(f.read())
        # The cluster's trust roots are the shared anchor.
        roots = json.loads(kubectl(home, name, "-n", "strait", "get", "cm",
                                   "strait-identity-trust-roots", "-o", "json").stdout)
        with open(anchor) as f:
            assert roots["data"]["ca-bundle.crt"] == f.read()
    assert issuers[0] != issuers[1]
    run_strait(home, "cluster", "delete", "east")
    assert list(list_clusters(home)) == ["west"]


def test_concurrent_creates_of_two_homes_pick_different_numbers(home, tmp_path):
    """Cluster numbers belong to the machine: two creates started together from two
    $STRAIT_HOMEs (no test-side lock here) must pick different numbers and both come up."""
    other = str(tmp_path / "other-home")
    env = {h: dict(os.environ, STRAIT_HOME=h) for h in (home, other)}
    for e in env.values():
        e.pop("KUBECONFIG", None)
    try:
        procs = [subprocess.Popen([binary("strait"), "cluster", "create", name], env=env[h],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for h, name in ((home, "left"), (other, "right"))]
        outs = [p.communicate(timeout=300) for p in procs]
        for p, (out, err) in zip(procs, outs):
            assert p.returncode == 0, f"create failed ({p.returncode}):\n{out}\n{err}"
        a, b = number(home, "left"), number(other, "right")
        assert a != b
        assert list_clusters(home)["left"][3] == "healthy"
        assert list_clusters(other)["right"][3] == "healthy"
    finally:
        for d in glob.glob(os.path.join(other, "clusters", "*")):
            name = os.path.basename(d)
            pids = cluster_pids(other, name)
            run_strait(other, "cluster", "delete", name, check=False)
            for p in pids:
                if pid_alive(p):
                    os.kill(p, signal.SIGKILL)


def ew_ready(home, ctx, ns, name):
    r = kubectl(home, ctx, "-n", ns, "get", "externalworkload", name, "-o", "json", check=False)
    if r.returncode != 0:
        return None
    conds = json.loads(r.stdout).get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)


def test_workloads_exec_check(home):
    create(home, "wl")
    net = f"127.{number(home, 'wl')}"
    kubectl(home, "wl", "create", "ns", "demo")
    terminus = binary("strait-terminus")
    r = run_strait(home, "--context", "wl", "run", "-n", "demo", "--name", "backend",
                   "--label", "app=backend", "--port", "8888", "--detach", "--",
                   terminus, "--payload", "hello")
    assert f"workload demo/backend ready at {net}.1.1" in r.stdout
    assert ew_ready(home, "wl", "demo", "backend")
    ew = json.loads(kubectl(home, "wl", "-n", "demo", "get", "ew", "backend", "-o",
                            "json").stdout)
    assert ew["metadata"]["labels"] == {"app": "backend"}
    assert ew["metadata"]["annotations"]["strait.io/proxy-admin"] == f"{net}.1.1:4191"
    assert ew["spec"]["workloadIPs"] == [{"ip": f"{net}.1.1"}]
    assert ew["spec"]["ports"] == [{"port": 8888, "protocol": "TCP"}]
    assert ew["spec"]["meshTLS"]["identity"] == \
        "default.demo.serviceaccount.identity.strait.cluster.local"
    lines = run_strait(home, "--context", "wl", "workloads", "-n", "demo").stdout.splitlines()
    assert lines[0].split() == ["NAME", "ADDRESS", "PORTS", "READY", "PID"]
    assert lines[1].split()[:4] == ["backend", f"{net}.1.1", "8888", "true"]

    # A meshed client: curl goes through its own outbound proxy, mTLS to the
    # backend's inbound proxy, and the terminus answers.
    r = run_strait(home, "--context", "wl", "exec", "-n", "demo", "--", "curl", "-s",
                   "-m", "10", f"http://{net}.1.1:8888/")
    body = json.loads(r.stdout)
    assert body["payload"] == "hello" and "requestUID" in body
    inbound = metric_lines(f"{net}.1.1:4191", lambda l: 'direction="inbound"' in l)
    assert any('client_id="default.demo.serviceaccount.identity.strait.cluster.local"' in l
               for l in inbound), inbound
    r = run_strait(home, "--context", "wl", "exec", "-n", "demo", "--", "sh", "-c",
                   "echo $http_proxy $STRAIT_POD_IP; exit 7", check=False)
    assert r.returncode == 7
    proxy_url, pod_ip = r.stdout.split()
    assert proxy_url == f"http://{pod_ip}:4140" and pod_ip.startswith(f"{net}.1.")

    r = run_strait(home, "--context", "wl", "check")
    assert "[FAIL]" not in r.stdout and "all checks passed" in r.stdout
    assert "the proxies of 1 workload(s) are ready" in r.stdout

    # A foreground run: SIGTERM stops the app, then the registration goes away.
    env = dict(os.environ, STRAIT_HOME=home)
    fg = subprocess.Popen([binary("strait"), "--context", "wl", "run", "-n", "demo", "--name",
                           "front", "--port", "9000", "--", terminus], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: ew_ready(home, "wl", "demo", "front"), what="front to be ready")
        fg.send_signal(signal.SIGTERM)
        out, err = fg.communicate(timeout=30)
    finally:
        if fg.poll() is None:
            fg.kill()
    assert f"workload demo/front ready at {net}.1.2" in err
    assert ew_ready(home, "wl", "demo", "front") is None

    # Stopping the detached one removes its ExternalWorkload and its processes.
    with open(os.path.join(home, "clusters", "wl", "workloads", "demo", "backend.json")) as f:
        state = json.load(f)
    r = run_strait(home, "--context", "wl", "stop", "-n", "demo", "backend")
    assert r.stdout.strip() == "stopped demo/backend"
    assert ew_ready(home, "wl", "demo", "backend") is None
    for k in ("pid", "appPid", "proxyPid"):
        assert not pid_alive(state[k]), k
    assert run_strait(home, "--context", "wl", "workloads", "-n", "demo").stdout.count("\n") == 1
    r = run_strait(home, "--context", "wl", "stop", "-n", "demo", "backend", check=False)
    assert r.returncode == 1 and "no workload demo/backend" in r.stderr

    # Without the controller, check fails with a clear line.
    with open(os.path.join(home, "clusters", "wl", "pids", "controller.pid")) as f:
        ctl = int(f.read().split()[0])
    os.kill(ctl, signal.SIGTERM)
    wait_until(lambda: not pid_alive(ctl), what="the controller to stop")
    r = run_strait(home, "--context", "wl", "check", check=False)
    assert r.returncode == 1
    assert "[FAIL] the controller is not running" in r.stdout
    assert r.stderr.strip() == "strait: 1 check(s) failed"


def metric(url, name, labels=""):
    """The value of the series <name>{<labels>} (labels as written, sorted) at <url>, or 0."""
    text = subprocess.run(["curl", "-s", "--noproxy", "*", "-m", "5", url],
                          capture_output=True, text=True).stdout
    want = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return 0.0


def served_identity(addr):
    """The DNS SANs of the certificate a proxy's inbound port presents (TLS 1.3 sends it
    before asking for ours, so no client certificate is needed to read it)."""
    host, port = addr.rsplit(":", 1)
    r = subprocess.run(["openssl", "s_client", "-connect", f"{host}:{port}", "-alpn", "h2",
                        "-showcerts"], input=b"", capture_output=True, timeout=20)
    m = re.search(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", r.stdout, re.S)
    assert m, r.stdout + r.stderr
    x = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName"], input=m.group(0),
                       capture_output=True, timeout=20)
    return x.stdout.decode()


def proxy_args(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().decode().split("\0")


def test_identity_certified_per_service_account(home):
    """Every proxy of a local cluster certifies once with the controller, as its
    workload's ServiceAccount, with a token the CLI got from the account's token Secret;
    deleting that Secret revokes the token, and a proxy that must certify again then
    never becomes ready."""
    create(home, "ids")
    with open(os.path.join(home, "clusters", "ids", "cluster.json")) as f:
        net = f"127.{json.load(f)['number']}"  # not assumed to be 1: other homes may run
    kubectl(home, "ids", "create", "ns", "demo")
    ctl_metrics = f"http://{net}.0.2:9990/metrics"
    issued = 'identity_certify_total{result="issued"}'

    def certified():
        return metric(ctl_metrics, "identity_certify_total", 'result="issued"')
    # The gateway: its own account in the control plane namespace, one certificate.
    assert "DNS:strait-gateway.strait.serviceaccount.identity.strait.cluster.local" in \
        served_identity(f"{net}.0.3:4143")
    kubectl(home, "ids", "-n", "strait", "get", "sa", "strait-gateway")
    assert certified() == 1, issued
    gw_token = os.path.join(home, "clusters", "ids", "gateway", "token")
    assert os.stat(gw_token).st_mode & 0o777 == 0o600

    terminus = binary("strait-terminus")
    run_strait(home, "--context", "ids", "run", "-n", "demo", "--name", "backend",
               "--service-account", "web", "--port", "8888", "--detach", "--", terminus)
    web = "web.demo.serviceaccount.identity.strait.cluster.local"
    # The account was made for it, with a token Secret; the token is a 0600 file.
    kubectl(home, "ids", "-n", "demo", "get", "sa", "web")
    secret = json.loads(kubectl(home, "ids", "-n", "demo", "get", "secret", "web-token", "-o",
                                "json").stdout)
    assert secret["type"] == "kubernetes.io/service-account-token"
    assert secret["metadata"]["annotations"]["kubernetes.io/service-account.name"] == "web"
    state_file = os.path.join(home, "clusters", "ids", "workloads", "demo", "backend.json")
    with open(state_file) as f:
        state = json.load(f)
    token = os.path.join(state["identityDir"], "token")
    assert os.stat(token).st_mode & 0o777 == 0o600
    assert sorted(os.listdir(state["identityDir"])) == ["token"]  # no key, no certificate
    args = proxy_args(state["proxyPid"])
    for flag, value in (("--identity-mode", "certify"), ("--controller", f"{net}.0.2:8086"),
                        ("--token-file", token), ("--identity", web),
                        ("--destination", f"{net}.0.2:8086")):
        assert args[args.index(flag) + 1] == value, flag
    assert "--identity-cert" not in args and "--identity-key" not in args
    ew = json.loads(kubectl(home, "ids", "-n", "demo", "get", "ew", "backend", "-o",
                            "json").stdout)
    assert ew["spec"]["meshTLS"] == {"identity": web, "serverName": web}
    assert f"DNS:{web}" in served_identity(f"{net}.1.1:4143")
    # One certificate per proxy: the destination client uses the same one.
    assert certified() == 2, issued

    # A client as another account: the backend sees that identity.
    r = run_strait(home, "--context", "ids", "exec", "-n", "demo", "--service-account", "cli",
                   "--", "curl", "-s", "-m", "10", f"http://{net}.1.1:8888/")
    assert "requestUID" in json.loads(r.stdout)
    inbound = metric_lines(f"{net}.1.1:4191", lambda l: l.startswith("request_total{") and
                           'direction="inbound"' in l)
    assert len(inbound) == 1 and inbound[0].endswith(" 1"), inbound
    assert 'client_id="cli.demo.serviceaccount.identity.strait.cluster.local"' in inbound[0]
    assert certified() == 3, issued

    # Revoked: the Secret goes, so does the token's validity. The running proxy keeps its
    # certificate; a restarted one cannot certify and the workload stays not ready.
    kubectl(home, "ids", "-n", "demo", "delete", "secret", "web-token")
    refused = metric(ctl_metrics, "identity_certify_total", 'result="unauthenticated"')
    os.kill(state["proxyPid"], signal.SIGKILL)

    def restarted():
        with open(state_file) as f:
            st = json.load(f)
        return st["proxyPid"] != state["proxyPid"] and pid_alive(st["proxyPid"]) and \
            st["proxyPid"]
    new_proxy = wait_until(restarted, what="the proxy to be restarted")
    wait_until(lambda: metric(ctl_metrics, "identity_certify_total",
                              'result="unauthenticated"') > refused,
               what="the controller to refuse the revoked token")
    wait_until(lambda: ew_ready(home, "ids", "demo", "backend") is False,
               what="the workload to be marked not ready")
    time.sleep(3)
    assert ew_ready(home, "ids", "demo", "backend") is False
    assert subprocess.run(["curl", "-s", "--noproxy", "*", "-o", "/dev/null", "-w",
                           "%{http_code}", f"http://{net}.1.1:4191/ready"],
                          capture_output=True, text=True).stdout == "503"
    lines = run_strait(home, "--context", "ids", "workloads", "-n", "demo").stdout.splitlines()
    assert lines[1].split()[:4] == ["backend", f"{net}.1.1", "8888", "false"]
    assert certified() == 3, issued
    with open(os.path.join(home, "clusters", "ids", "logs", "demo-backend-proxy.log")) as f:
        assert "certify failed" in f.read()

    # A new run gets a new token Secret and is ready again.
    run_strait(home, "--context", "ids", "stop", "-n", "demo", "backend")
    assert not pid_alive(new_proxy)
    run_strait(home, "--context", "ids", "run", "-n", "demo", "--name", "backend",
               "--service-account", "web", "--port", "8888", "--detach", "--", terminus)
    assert ew_ready(home, "ids", "demo", "backend")
    kubectl(home, "ids", "-n", "demo", "get", "secret", "web-token")


def test_delete_stops_running_workloads(home):
    create(home, "gone")
    net = f"127.{number(home, 'gone')}"
    kubectl(home, "gone", "create", "ns", "demo")
    run_strait(home, "--context", "gone", "run", "-n", "demo", "--name", "w1", "--port",
               "8080", "--detach", "--", binary("strait-terminus"))
    pids = cluster_pids(home, "gone")
    assert len(pids) == 6  # apiserver, controller, gateway; supervisor, app, proxy
    # A sidecar that dies is restarted by the supervisor, and traffic flows again.
    state_file = os.path.join(home, "clusters", "gone", "workloads", "demo", "w1.json")
    with open(state_file) as f:
        old_proxy = json.load(f)["proxyPid"]
    os.kill(old_proxy, signal.SIGKILL)

    def restarted():
        with open(state_file) as f:
            st = json.load(f)
        return st["proxyPid"] != old_proxy and pid_alive(st["proxyPid"]) and \
            ew_ready(home, "gone", "demo", "w1") and st["proxyPid"]
    new_proxy = wait_until(restarted, what="the proxy to be restarted")
    r = run_strait(home, "--context", "gone", "exec", "-n", "demo", "--", "curl", "-s",
                   "-m", "10", f"http://{net}.1.1:8080/")
    assert "requestUID" in json.loads(r.stdout)
    pids.append(new_proxy)
    r = run_strait(home, "cluster", "delete", "gone")
    assert "stopped 1 workload(s)" in r.stdout
    for p in pids:
        assert not pid_alive(p), f"pid {p} still runs"


@pytest.mark.parametrize("args,code,message", [
    (["cluster", "delete", "nope"], 1, 'strait: unknown cluster "nope"'),
    (["cluster", "create", "Bad_Name"], 2, "is not a valid cluster name"),
    (["cluster", "create"], 2, "takes exactly one NAME"),
    (["cluster", "create", "a", "--trust-anchor", "x.crt"], 2, "go together"),
    (["cluster", "frob"], 2, 'unknown cluster command "frob"'),
    (["--context", "nope", "run", "-n", "x", "--name", "y", "--port", "1", "--", "true"], 1,
     'unknown cluster "nope"'),
    (["--context", "nope", "run", "-n", "x", "--name", "y", "--port", "1", "true"], 2,
     "missing -- before the command"),
    (["--context", "nope", "run", "-n", "x", "--name", "y", "--port", "1", "--"], 2,
     "missing the command after --"),
    (["--context", "nope", "run", "-n", "x", "--name", "Y", "--port", "1", "--", "true"], 2,
     "not a valid workload name"),
    (["--context", "nope", "run", "-n", "x", "--name", "y", "--port", "4143", "--", "true"], 2,
     'bad --port "4143"'),
    (["--context", "nope", "run", "-n", "x", "--name", "y", "--", "true"], 2,
     "at least one --port"),
    (["--context", "nope", "run", "-n", "x", "--port", "1", "--", "true"], 2, "needs --name"),
    (["--context", "nope", "run", "--name", "y", "--port", "1", "--label", "novalue", "--",
      "true"], 2, "--label wants KEY=VALUE"),
    (["--context", "nope", "exec", "-n", "x", "--name", "y", "--", "true"], 2,
     "exec takes only"),
    (["--context", "nope", "exec", "-n", "x", "--workload", "w", "--service-account", "s", "--",
      "true"], 2, "no --service-account"),
    (["--context", "nope", "run", "-n", "x", "--name", "y", "--port", "1",
      "--service-account", "Not_Valid", "--", "true"], 2, "not a valid service account name"),
    (["run", "-n", "x", "--name", "y", "--port", "1", "--", "true"], 2, "no cluster given"),
    (["--context", "nope", "workloads"], 1, 'unknown cluster "nope"'),
    (["--context", "nope", "stop", "-n", "x"], 2, "exactly one workload name"),
    (["install", "--issuer-cert", "x"], 2, "go together"),
])
def test_bad_input(home, args, code, message):
    r = run_strait(home, *args, check=False)
    assert r.returncode == code, r.stderr
    assert r.stderr.startswith("strait: ") and message in r.stderr.splitlines()[0]
    assert r.stdout == ""
    assert not os.path.exists(os.path.join(home, "clusters"))


def test_install_prints_manifests(tmp_path):
    import yaml
    r = subprocess.run([binary("strait"), "install"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    docs = list(yaml.safe_load_all(r.stdout))
    kinds = [d["kind"] for d in docs]
    assert kinds[0] == "Namespace" and kinds.count("CustomResourceDefinition") == 3
    assert {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
            "Secret", "ConfigMap", "Service", "Deployment"} <= set(kinds)
    byname = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    secret = byname[("Secret", "strait-identity-issuer")]
    assert secret["type"] == "kubernetes.io/tls" and secret["data"]["tls.crt"]
    roots = byname[("ConfigMap", "strait-identity-trust-roots")]["data"]["ca-bundle.crt"]
    assert roots.startswith("-----BEGIN CERTIFICATE-----")
    # The issuer chains to the anchor printed with it.
    import base64
    (tmp_path / "issuer.crt").write_bytes(base64.b64decode(secret["data"]["tls.crt"]))
    (tmp_path / "anchor.crt").write_text(roots)
    r = subprocess.run([binary("strait"), "identity", "inspect", str(tmp_path / "issuer.crt"),
                        "--anchors", str(tmp_path / "anchor.crt")], capture_output=True,
                       text=True)
    assert "chains_to_anchors: yes" in r.stdout
    # Given files are used as they are; --ha runs three replicas.
    a, ak = tmp_path / "a.crt", tmp_path / "a.key"
    i, ik = tmp_path / "i.crt", tmp_path / "i.key"
    for args in (["create-anchor", "--cert", a, "--key", ak],
                 ["create-issuer", "--anchor-cert", a, "--anchor-key", ak, "--cert", i,
                  "--key", ik]):
        subprocess.run([binary("strait"), "identity"] + [str(x) for x in args], check=True,
                       capture_output=True)
    r = subprocess.run([binary("strait"), "install", "--trust-anchor", str(a), "--issuer-cert",
                        str(i), "--issuer-key", str(ik), "--ha"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    docs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(r.stdout)}
    assert docs[("ConfigMap", "strait-identity-trust-roots")]["data"]["ca-bundle.crt"] == \
        a.read_text()
    assert base64.b64decode(docs[("Secret", "strait-identity-issuer")]["data"]["tls.crt"]) \
        .decode() == i.read_text()
    assert docs[("Deployment", "strait-controller")]["spec"]["replicas"] == 3
    # A mismatched issuer and anchor are refused.
    a2, ak2 = tmp_path / "a2.crt", tmp_path / "a2.key"
    subprocess.run([binary("strait"), "identity", "create-anchor", "--cert", str(a2), "--key",
                    str(ak2)], check=True, capture_output=True)
    r = subprocess.run([binary("strait"), "install", "--trust-anchor", str(a2), "--issuer-cert",
                        str(i), "--issuer-key", str(ik)], capture_output=True, text=True)
    assert r.returncode == 1 and "does not chain" in r.stderr and r.stdout == ""


def test_install_applies_and_check_on_plain_api(tmp_path):
    """`strait install | kubectl apply -f -` against a bare API, then `strait check`
    through --kubeconfig: everything passes but the (inert) controller Deployment."""
    from conftest import Apiserver
    api = Apiserver(str(tmp_path)).start()
    try:
        manifests = subprocess.run([binary("strait"), "install"], capture_output=True,
                                   text=True, check=True).stdout
        r = api.kubectl("apply", "-f", "-", input=manifests)
        assert "namespace/strait created" in r.stdout
        assert "deployment.apps/strait-controller created" in r.stdout
        r = api.kubectl("apply", "-f", "-", input=manifests)  # idempotent
        assert "created" not in r.stdout
        r = subprocess.run([binary("strait"), "--kubeconfig", api.kubeconfig, "check"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 1
        assert "[ok]   the 3 CRDs are installed" in r.stdout
        assert re.search(r"^\[ok\]   the issuer is valid for 36[45] more days and chains to "
                         r"the anchors$", r.stdout, re.M)
        assert "[FAIL] the controller Deployment has no ready replica" in r.stdout
        assert r.stdout.count("[FAIL]") == 1
        # The controller's service account may do what it needs and no more.
        sa = "system:serviceaccount:strait:strait-controller"
        for verb, res, ns, want in [("create", "tokenreviews.authentication.k8s.io", None, "yes"),
                                    ("watch", "secrets", "strait", "yes"),
                                    ("get", "secrets", "default", "no"),
                                    ("update", "endpoints", "default", "yes"),
                                    ("list", "externalworkloads.workload.strait.io", None,
                                     "yes"),
                                    ("create", "externalworkloads.workload.strait.io",
                                     "default", "no"),
                                    ("delete", "namespaces", None, "no")]:
            args = ["auth", "can-i", verb, res, "--as", sa]
            args += ["-n", ns] if ns else ["-A"]
            got = api.kubectl(*args, check=False).stdout.strip()
            assert got == want, (verb, res, ns, got)
    finally:
        api.stop()
