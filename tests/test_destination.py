"""Discovery: the controller's destination API, the workload endpoints
controller and leader election, against a real strait-apiserver and real
strait-controllers. Clients get workload certificates through the certify
API (certify-check) and then stream /v1/resolve over mTLS, with Python's
ssl module and with dest-check (a driver of the st_dest client library)."""
import glob
import http.client
import json
import os
import re
import select
import signal
import ssl
import subprocess
import time

import pytest

from conftest import Apiserver, Proc, binary
from test_identity import CONTROLLER_RBAC, RBAC, Controller, apply_anchors, apply_issuer, make_pki, sa_token

TD = "cluster.local"
NS = "mc"
CTL_ID = f"strait-controller.strait.serviceaccount.identity.strait.{TD}"
CRDS = os.path.join(os.path.dirname(__file__), "..", "crds")

DEST_RBAC = CONTROLLER_RBAC + f"""---
apiVersion: v1
kind: Namespace
metadata: {{name: {NS}}}
"""


def workload(name, ip, labels, ports, ready=True, sa="default"):
    return {
        "apiVersion": "workload.strait.io/v1beta1", "kind": "ExternalWorkload",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {"meshTLS": {"identity": f"{sa}.{NS}.serviceaccount.identity.strait.{TD}",
                             "serverName": f"{sa}.{NS}.serviceaccount.identity.strait.{TD}"},
                 "workloadIPs": [{"ip": ip}],
                 "ports": [{"name": n, "port": p} for n, p in ports]},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def service(name, selector, ports):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
            "spec": {"selector": selector,
                     "ports": [{"name": n, "port": p, "targetPort": t} for n, p, t in ports]}}


def apply(api, *objs):
    """kubectl apply; workload status goes through the status subresource, as `strait run`
    reports it (a create ignores status when the CRD has that subresource)."""
    api.kubectl("apply", "-f", "-", input="\n".join(json.dumps(o) for o in objs))
    for o in objs:
        if o["kind"] == "ExternalWorkload":
            api.kubectl("patch", "externalworkload", o["metadata"]["name"], "-n", NS,
                        "--subresource=status", "--type=merge",
                        "-p", json.dumps({"status": o["status"]}))


def wait_for(fn, what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def endpoints(api, name):
    r = api.kubectl("get", "endpoints", name, "-n", NS, "-o", "json", check=False)
    return json.loads(r.stdout) if r.returncode == 0 else None


def addrs(eps, key="addresses"):
    out = []
    for ss in (eps or {}).get("subsets") or []:
        for a in ss.get(key) or []:
            out.append((a["ip"], tuple(sorted(p["port"] for p in ss["ports"]))))
    return sorted(out)


class Stream:
    """One /v1/resolve stream over mTLS with Python's ssl; yields snapshot lines."""

    def __init__(self, ctl, authority, cert=None, key=None, anchors=None):
        host, port = ctl.addr.rsplit(":", 1)
        ctx = ssl.create_default_context(cafile=anchors)
        ctx.check_hostname = False
        if anchors is None:
            ctx.verify_mode = ssl.CERT_NONE
        if cert:
            ctx.load_cert_chain(cert, key)
        self.conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=20)
        self.conn.request("GET", f"/v1/resolve?authority={authority}")
        self.resp = self.conn.getresponse()
        self.status = self.resp.status

    def next(self, skip_heartbeats=True):
        while True:
            line = self.resp.readline()
            assert line, "the stream ended"
            snap = json.loads(line)
            if not (skip_heartbeats and snap.get("kind") == "heartbeat"):
                return snap

    def until(self, pred, what, timeout=15.0):
        deadline = time.monotonic() + timeout
        while True:
            snap = self.next()
            if pred(snap):
                return snap
            assert time.monotonic() < deadline, f"no snapshot with {what}; last {snap}"

    def close(self):
        self.conn.close()


def ep_addrs(snap):
    return sorted(e["addr"] for e in snap.get("endpoints", []))


def start_controller(workdir, api, token, listen="127.0.0.1:0"):
    """Starts a controller with --listen <listen> (Controller picks a free port)."""
    ctl = Controller.__new__(Controller)
    n = len(glob.glob(os.path.join(workdir, "controller*.log")))
    ctl.kubeconfig = api.token_kubeconfig(os.path.join(workdir, "controller.kubeconfig"), token)
    ctl.proc = Proc([binary("strait-controller"), "--kubeconfig", ctl.kubeconfig,
                     "--namespace", "strait", "--listen", listen, "--admin", "127.0.0.1:0",
                     "--log-level", "debug"], os.path.join(workdir, f"controller{n}.log"))
    m = ctl.proc.wait_line(r"ready api=https://(\S+) admin=http://(\S+)")
    ctl.addr, ctl.admin = m.group(1), m.group(2)
    return ctl


@pytest.fixture
def cluster(workdir):
    api = Apiserver(workdir).start()
    ctls = []
    try:
        for f in sorted(glob.glob(os.path.join(CRDS, "*.yaml"))):
            api.kubectl("apply", "-f", f)
        api.kubectl("apply", "-f", "-", input=RBAC)
        api.kubectl("apply", "-f", "-", input=DEST_RBAC)
        ctl_token = sa_token(api, "strait", "strait-controller")
        a_crt, a_key, i_crt, i_key = make_pki(workdir)
        apply_anchors(api, a_crt)
        apply_issuer(api, i_crt, i_key)
        ctl = start_controller(workdir, api, ctl_token)
        ctls.append(ctl)
        ctl.wait_ready()
        yield api, ctl, ctl_token, a_crt, ctls
    finally:
        failed = []
        for c in ctls:
            rc = c.proc.kill()
            log = c.proc.tail(200000)
            if rc != 0 or "runtime error" in log or "Sanitizer" in log:
                failed.append(f"controller exited {rc}: {c.proc.tail()}")
        api.stop()
        assert not failed, failed


def dest_check(ctl, anchors, cert_dir, authority, log, extra=()):
    """dest-check streams <authority> with st_dest and prints one line per snapshot."""
    args = [binary("dest-check"), "--addr", ctl.addr, "--server-identity", CTL_ID,
            "--anchors", anchors, "--cert", os.path.join(cert_dir, "client.crt"),
            "--key", os.path.join(cert_dir, "client.key"), "--authority", authority] + list(extra)
    return Proc(args, log)


def read_json_lines(proc, pred, what, timeout=20.0):
    """Reads dest-check's stdout until a snapshot line satisfies <pred>."""
    deadline = time.monotonic() + timeout
    os.set_blocking(proc.p.stdout.fileno(), False)
    buf = getattr(proc, "buf", b"")
    while time.monotonic() < deadline:
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.startswith(b"snapshot "):
                snap = json.loads(line[len(b"snapshot "):])
                if pred(snap):
                    proc.buf = buf
                    return snap
            elif line.startswith(b"event "):
                proc.events = getattr(proc, "events", []) + [line.decode()]
        select.select([proc.p.stdout], [], [], 0.1)
        chunk = proc.p.stdout.read()
        if chunk:
            buf += chunk
        elif proc.p.poll() is not None:
            break
    raise AssertionError(f"dest-check: no snapshot with {what}; log: {proc.tail()}")


def test_endpoints_and_resolve(workdir, cluster):
    api, ctl, _, anchors, _ = cluster

    # Services and workloads: ready, not ready, named and numeric target ports.
    apply(api, service("web", {"app": "web"}, [("http", 80, "http"), ("admin", 9000, 9001)]),
          workload("web-1", "127.1.1.1", {"app": "web"}, [("http", 8080)]),
          workload("web-2", "127.1.1.2", {"app": "web"}, [("http", 8080)]),
          workload("web-3", "127.1.1.3", {"app": "web"}, [("http", 8080)], ready=False),
          workload("db-1", "127.1.1.9", {"app": "db"}, [("http", 8080)]))
    eps = wait_for(lambda: (lambda e: e if addrs(e) and addrs(e, "notReadyAddresses") else None)(
        endpoints(api, "web")), "the Endpoints of web")
    assert addrs(eps) == [("127.1.1.1", (8080, 9001)), ("127.1.1.2", (8080, 9001))]
    assert addrs(eps, "notReadyAddresses") == [("127.1.1.3", (8080, 9001))]
    assert eps["metadata"]["labels"]["endpoints.strait.io/managed-by"] == "strait-controller"

    # Idempotent: a resync pass writes nothing when nothing changed.
    rv = eps["metadata"]["resourceVersion"]
    time.sleep(1.0)
    assert endpoints(api, "web")["metadata"]["resourceVersion"] == rv

    # Drift: an edit of a managed object is repaired; a deleted one comes back.
    api.kubectl("patch", "endpoints", "web", "-n", NS, "--type", "merge",
                "-p", json.dumps({"subsets": [{"addresses": [{"ip": "10.9.9.9"}],
                                               "ports": [{"port": 1}]}]}))
    wait_for(lambda: addrs(endpoints(api, "web")) ==
             [("127.1.1.1", (8080, 9001)), ("127.1.1.2", (8080, 9001))], "repair after an edit")
    api.kubectl("delete", "endpoints", "web", "-n", NS)
    wait_for(lambda: len(addrs(endpoints(api, "web"))) == 2, "re-creation after a delete")

    # Endpoints without our label are never touched.
    apply(api, {"apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": "legacy", "namespace": NS},
                "subsets": [{"addresses": [{"ip": "10.1.1.1"}], "ports": [{"port": 80}]}]},
          service("legacy", {"app": "web"}, [("http", 80, 8080)]))
    time.sleep(1.0)
    assert addrs(endpoints(api, "legacy")) == [("10.1.1.1", (80,))]

    # A client without a certificate is refused.
    s = Stream(ctl, "web:80")
    assert s.status == 401
    s.close()

    # Resolve: the ready endpoints, by every name form and by ClusterIP.
    client_key = os.path.join(workdir, "client.key")
    client_crt = os.path.join(workdir, "client.crt")
    make_client_files(workdir, api, ctl, anchors, client_crt, client_key)
    svc = api.kubectl_json("get", "service", "web", "-n", NS)
    forms = ["web", "web:80", f"web.{NS}", f"web.{NS}.svc:80", f"web.{NS}.svc.cluster.local:80",
             f"{svc['spec']['clusterIP']}:80"]
    for form in forms:
        s = Stream(ctl, form, client_crt, client_key, anchors)
        assert s.status == 200, form
        snap = s.next()
        s.close()
        assert snap["kind"] == "service", (form, snap)
        assert ep_addrs(snap) == ["127.1.1.1:8080", "127.1.1.2:8080"], (form, snap)
        e = snap["endpoints"][0]
        assert e["proxy_port"] == 4143 and e["ready"] is True
        assert e["identity"] == f"default.{NS}.serviceaccount.identity.strait.{TD}"
        assert e["labels"]["app"] == "web" and e["labels"]["workload"] == "web-1"
    s = Stream(ctl, "web:9000", client_crt, client_key, anchors)
    assert ep_addrs(s.next()) == ["127.1.1.1:9001", "127.1.1.2:9001"]
    s.close()

    # Unknown and malformed authorities.
    s = Stream(ctl, "nothing-here:80", client_crt, client_key, anchors)
    snap = s.next()
    assert snap == {"kind": "not_found", "authority": f"nothing-here.{NS}.svc.cluster.local:80"}
    # ...and the stream stays open: the service appears later.
    apply(api, service("nothing-here", {"app": "db"}, [("http", 80, "http")]))
    snap = s.until(lambda x: x["kind"] == "service" and x["endpoints"], "the late service")
    assert ep_addrs(snap) == ["127.1.1.9:8080"]
    s.close()
    for bad in ["web:0", "we%20b", "", "web:99999"]:
        s = Stream(ctl, bad, client_crt, client_key, anchors)
        assert s.status == 400, bad
        s.close()

    # Scaling pushes a new snapshot; print how long it took.
    s = Stream(ctl, "web:80", client_crt, client_key, anchors)
    assert len(s.next()["endpoints"]) == 2
    t0 = time.monotonic()
    apply(api, workload("web-4", "127.1.1.4", {"app": "web"}, [("http", 8080)]))
    snap = s.until(lambda x: len(x.get("endpoints", [])) == 3, "the added workload")
    print(f"scale-up reached the stream {1000 * (time.monotonic() - t0):.0f} ms after kubectl "
          "started")
    assert "127.1.1.4:8080" in ep_addrs(snap)
    api.kubectl("delete", "externalworkload", "web-1", "-n", NS)
    snap = s.until(lambda x: len(x.get("endpoints", [])) == 2, "the removed workload")
    assert "127.1.1.1:8080" not in ep_addrs(snap)
    # Readiness: web-3 becomes ready.
    apply(api, workload("web-3", "127.1.1.3", {"app": "web"}, [("http", 8080)], ready=True))
    snap = s.until(lambda x: len(x.get("endpoints", [])) == 3, "the now ready workload")
    assert "127.1.1.3:8080" in ep_addrs(snap)
    s.close()

    # A Service that loses its selector loses its managed Endpoints.
    api.kubectl("patch", "service", "web", "-n", NS, "--type", "json",
                "-p", '[{"op":"remove","path":"/spec/selector"}]')
    wait_for(lambda: endpoints(api, "web") is None, "the Endpoints of web to go")
    assert endpoints(api, "legacy") is not None


def make_client_files(workdir, api, ctl, anchors, crt, key):
    """A client key and certificate through the certify API (dest-check --certify)."""
    token = sa_token(api, NS, "client")
    tf = os.path.join(workdir, "client.token")
    with open(tf, "w") as f:
        f.write(token)
    r = subprocess.run([binary("dest-check"), "--certify", "--addr", ctl.addr,
                        "--server-identity", CTL_ID, "--anchors", anchors, "--token-file", tf,
                        "--sa", "client", "--ns", NS, "--cert", crt, "--key", key],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_split_and_reconnect(workdir, cluster):
    api, ctl, ctl_token, anchors, ctls = cluster
    crt, key = os.path.join(workdir, "client.crt"), os.path.join(workdir, "client.key")
    make_client_files(workdir, api, ctl, anchors, crt, key)
    objs = []
    for i, n in enumerate(["zero", "one", "two"]):
        objs.append(service(f"backend-{n}-svc", {"app": f"backend-{n}"}, [("http", 8888, "http")]))
        objs.append(workload(f"backend-{n}", f"127.1.1.{i + 10}", {"app": f"backend-{n}"},
                             [("http", 8888)]))
    apply(api, *objs)
    ts = {"apiVersion": "split.smi-spec.io/v1alpha1", "kind": "TrafficSplit",
          "metadata": {"name": "backend-split", "namespace": NS},
          "spec": {"service": "backend-zero-svc",
                   "backends": [{"service": f"backend-{n}-svc", "weight": "500m"}
                                for n in ["zero", "one", "two"]]}}
    apply(api, ts)

    proc = dest_check(ctl, anchors, workdir, "backend-zero-svc:8888",
                      os.path.join(workdir, "dest-check.log"))
    try:
        def three_leaves(s):
            return (s.get("kind") == "split" and len(s["leaves"]) == 3 and
                    all(len(l["endpoints"]) == 1 for l in s["leaves"]))
        snap = read_json_lines(proc, three_leaves, "three leaves with endpoints")
        assert [l["weight"] for l in snap["leaves"]] == [500, 500, 500]
        assert [l["service"] for l in snap["leaves"]] == [
            f"backend-{n}-svc.{NS}.svc.cluster.local:8888" for n in ["zero", "one", "two"]]
        assert snap["leaves"][1]["endpoints"][0]["addr"] == "127.1.1.11:8888"

        # New weights with kubectl (v1alpha2 integers) reach the stream.
        ts2 = dict(ts, apiVersion="split.smi-spec.io/v1alpha2")
        ts2["spec"] = {"service": "backend-zero-svc",
                       "backends": [{"service": "backend-zero-svc", "weight": 0},
                                    {"service": "backend-one-svc", "weight": 1},
                                    {"service": "backend-two-svc", "weight": 3}]}
        t0 = time.monotonic()
        apply(api, ts2)
        snap = read_json_lines(proc, lambda s: s.get("kind") == "split" and
                               [l["weight"] for l in s["leaves"]] == [0, 1000, 3000],
                               "the new weights")
        print(f"new weights reached dest-check {1000 * (time.monotonic() - t0):.0f} ms after "
              "kubectl started")

        # Kill the controller: the client keeps its state and reconnects to a new one.
        ctl.proc.kill(signal.SIGKILL)
        ctls.remove(ctl)
        api.kubectl("delete", "trafficsplit", "backend-split", "-n", NS)
        ctl2 = start_controller(workdir, api, ctl_token, listen=ctl.addr)
        ctls.append(ctl2)
        snap = read_json_lines(proc, lambda s: s.get("kind") == "service",
                               "the current state after the restart", timeout=40)
        assert [e["addr"] for e in snap["endpoints"]] == ["127.1.1.10:8888"]
    finally:
        rc = proc.kill()
    log = open(os.path.join(workdir, "dest-check.log")).read()
    assert rc == 0 and "Sanitizer" not in log and "runtime error" not in log, log
    assert "disconnected" in log and "connected" in log, log


def lease_holder(api):
    r = api.kubectl("get", "lease", "strait-controller", "-n", "strait", "-o", "json",
                    check=False)
    return json.loads(r.stdout)["spec"].get("holderIdentity") if r.returncode == 0 else None


def leader_metric(ctl):
    status, text = ctl.admin_get("/metrics")
    m = re.search(r"^leader (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_leader_election(workdir, cluster):
    api, ctl, ctl_token, anchors, ctls = cluster
    ctl2 = start_controller(workdir, api, ctl_token)
    ctls.append(ctl2)
    ctl2.wait_ready()
    wait_for(lambda: lease_holder(api), "a lease holder")
    wait_for(lambda: sorted([leader_metric(ctl), leader_metric(ctl2)]) == [0.0, 1.0],
             "exactly one leader")
    lease = api.kubectl_json("get", "lease", "strait-controller", "-n", "strait")
    assert lease["spec"]["leaseDurationSeconds"] == 15
    assert lease["spec"]["renewTime"] and lease["spec"]["acquireTime"]
    time.sleep(3)  # several renewals later: still exactly one leader
    assert sorted([leader_metric(ctl), leader_metric(ctl2)]) == [0.0, 1.0]
    leader, standby = (ctl, ctl2) if leader_metric(ctl) == 1.0 else (ctl2, ctl)

    # Only the leader writes Endpoints; every replica serves the destination API.
    apply(api, service("solo", {"app": "solo"}, [("http", 80, 8080)]),
          workload("solo-1", "127.1.2.1", {"app": "solo"}, [("http", 8080)]))
    wait_for(lambda: addrs(endpoints(api, "solo")), "the Endpoints of solo")
    assert "endpoints: created mc/solo" in leader.proc.tail(100000)
    assert "endpoints: created" not in standby.proc.tail(100000)

    # A killed leader (no release): the standby takes over after the lease duration.
    t0 = time.monotonic()
    leader.proc.kill(signal.SIGKILL)
    ctls.remove(leader)
    wait_for(lambda: leader_metric(standby) == 1.0, "the standby to take over", timeout=40)
    took = time.monotonic() - t0
    print(f"takeover after a kill -9: {took:.1f} s")
    # The new leader keeps the Endpoints up to date.
    apply(api, workload("solo-2", "127.1.2.2", {"app": "solo"}, [("http", 8080)]))
    wait_for(lambda: len(addrs(endpoints(api, "solo"))) == 2, "the new leader's write")

    # SIGTERM releases the lease: a new standby takes over at once.
    ctl3 = start_controller(workdir, api, ctl_token)
    ctls.append(ctl3)
    ctl3.wait_ready()
    time.sleep(2)
    assert leader_metric(ctl3) == 0.0
    t0 = time.monotonic()
    assert standby.proc.kill() == 0
    ctls.remove(standby)
    wait_for(lambda: leader_metric(ctl3) == 1.0, "the hand-over", timeout=15)
    print(f"hand-over after SIGTERM: {time.monotonic() - t0:.1f} s")
    assert api.kubectl_json("get", "lease", "strait-controller", "-n",
                            "strait")["spec"]["leaseTransitions"] >= 2


def test_label_move_and_scoped_updates(workdir, cluster):
    """The indexes behind the scaling work: a workload whose labels change leaves the
    Endpoints its old labels selected and joins the new ones; a change to one Service
    reaches its own streams and sends nothing on the streams of an unrelated one."""
    api, ctl, _, anchors, _ = cluster
    crt, key = os.path.join(workdir, "client.crt"), os.path.join(workdir, "client.key")
    make_client_files(workdir, api, ctl, anchors, crt, key)
    apply(api, service("left", {"app": "left"}, [("http", 80, "http")]),
          service("right", {"app": "right", "tier": "x"}, [("http", 80, "http")]),
          workload("mover", "127.1.2.1", {"app": "left", "tier": "x"}, [("http", 8080)]),
          workload("stay", "127.1.2.2", {"app": "right", "tier": "x"}, [("http", 8080)]))
    wait_for(lambda: addrs(endpoints(api, "left")) == [("127.1.2.1", (8080,))], "left")
    wait_for(lambda: addrs(endpoints(api, "right")) == [("127.1.2.2", (8080,))], "right")
    sl = Stream(ctl, "left:80", crt, key, anchors)
    sr = Stream(ctl, "right:80", crt, key, anchors)
    assert ep_addrs(sl.next()) == ["127.1.2.1:8080"]
    assert ep_addrs(sr.next()) == ["127.1.2.2:8080"]

    # The move: "left" loses the workload, "right" gains it.
    api.kubectl("label", "externalworkload", "mover", "-n", NS, "app=right", "--overwrite")
    snap = sl.until(lambda x: x.get("endpoints") == [], "left without the mover")
    assert snap["kind"] == "service"
    snap = sr.until(lambda x: len(x.get("endpoints", [])) == 2, "right with the mover")
    assert ep_addrs(snap) == ["127.1.2.1:8080", "127.1.2.2:8080"]
    wait_for(lambda: addrs(endpoints(api, "left")) == [], "the Endpoints of left emptied")

    # Only "right" changes now: "left" gets nothing but heartbeats (none within 10 s).
    api.kubectl("label", "externalworkload", "stay", "-n", NS, "tier-")
    snap = sr.until(lambda x: len(x.get("endpoints", [])) == 1, "right without stay")
    assert ep_addrs(snap) == ["127.1.2.1:8080"]
    sl.conn.sock.settimeout(1.0)
    with pytest.raises(TimeoutError):
        sl.next()
    sl.close()
    sr.close()
