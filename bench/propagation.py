#!/usr/bin/python3
"""End-to-end discovery propagation on a local cluster (issue 4's benchmark):
the delay from an endpoints change to the first request a meshed client
routes by the new state.

A local cluster runs two strait-terminus workloads, A and B, and a Service
that selects one of them. A meshed client workload sends requests through its
sidecar proxy as fast as one keep-alive connection allows, recording which
backend answered. Each round switches the Service's selector to the other
workload (one merge patch with the Python Kubernetes client, so the Endpoints
go from {A} to {B} in one step) and measures from the patch's acknowledgement
to the first answer from the new backend. The chain measured is the whole
one: API write -> endpoints controller -> Endpoints -> destination stream ->
proxy table -> routed request. (Adding an endpoint beside a warm one is not
used: the balancer's cold-start cost rightly keeps new endpoints idle at
first, which is not discovery latency.)

Usage: bench/propagation.py [--build DIR] [--changes 100]
Prints: propagation_e2e changes=N p50_ms=... p99_ms=... max_ms=... goal_p99_ms=100 ratio=...
"""
import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from kubernetes import client, config

CTX = "prop"
NS = "prop"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(os.path.dirname(__file__), "..", "build"))
    ap.add_argument("--changes", type=int, default=100)
    args = ap.parse_args()
    bin_dir = os.path.abspath(os.path.join(args.build, "bin"))
    for b in ("strait", "strait-apiserver", "strait-controller", "strait-proxy", "strait-terminus"):
        if not os.access(os.path.join(bin_dir, b), os.X_OK):
            sys.exit(f"propagation: {bin_dir}/{b} is missing; build first")
    home = tempfile.mkdtemp(prefix="strait-bench-prop-")
    env = dict(os.environ, STRAIT_HOME=home, KUBECONFIG=os.path.join(home, "kubeconfig"))

    def strait(*a, check=True):
        r = subprocess.run([os.path.join(bin_dir, "strait")] + list(a), env=env,
                           capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            sys.exit(f"strait {' '.join(a)}: {r.stderr.strip()}")
        return r

    try:
        strait("cluster", "create", CTX)
        config.load_kube_config(config_file=env["KUBECONFIG"], context=CTX)
        core = client.CoreV1Api()
        custom = client.CustomObjectsApi()
        core.create_namespace({"metadata": {"name": NS}})
        core.create_namespaced_service(NS, {
            "metadata": {"name": "svc"},
            "spec": {"selector": {"app": "a"},
                     "ports": [{"name": "http", "port": 80, "targetPort": 8888}]}})
        term = os.path.join(bin_dir, "strait-terminus")
        for name in ("a", "b"):
            strait("--context", CTX, "run", "-n", NS, "--name", name, "--label", f"app={name}",
                   "--port", "8888", "--detach", "--", term, "--payload", name)
        strait("--context", CTX, "run", "-n", NS, "--name", "client", "--port", "9999",
               "--detach", "--", term, "--payload", "client")
        with open(os.path.join(home, "clusters", CTX, "workloads", NS, "client.json")) as f:
            proxy_host = json.load(f)["address"]

        answers = []  # (monotonic time, payload)
        stop = threading.Event()

        def load():
            conn = http.client.HTTPConnection(proxy_host, 4140, timeout=5)
            while not stop.is_set():
                try:
                    conn.request("GET", "http://svc.prop.svc.cluster.local:80/")
                    r = conn.getresponse()
                    body = r.read()
                    t = time.monotonic()
                    if r.status == 200:
                        answers.append((t, json.loads(body)["payload"]))
                except (OSError, http.client.HTTPException, ValueError):
                    conn.close()
                    conn = http.client.HTTPConnection(proxy_host, 4140, timeout=5)
                    time.sleep(0.01)

        th = threading.Thread(target=load, daemon=True)
        th.start()
        deadline = time.monotonic() + 20
        while not any(p == "a" for _, p in answers):
            if time.monotonic() > deadline:
                sys.exit("propagation: no answer from backend a through the client's proxy")
            time.sleep(0.05)

        def select(name):
            core.patch_namespaced_service("svc", NS, {"spec": {"selector": {"app": name}}})

        delays, misses = [], 0
        current, other = "a", "b"
        for _ in range(args.changes):
            select(other)
            acked = time.monotonic()
            first = None
            limit = acked + 5.0
            while first is None and time.monotonic() < limit:
                for t, p in reversed(answers[-5000:]):
                    if t < acked:
                        break
                    if p == other:
                        first = t  # keeps going back: the earliest one after the ack
                if first is None:
                    time.sleep(0.001)
            if first is None:
                misses += 1
            else:
                delays.append((first - acked) * 1000.0)
            # Settle: only the new backend answers before the next round.
            limit = time.monotonic() + 5.0
            while time.monotonic() < limit:
                recent = [p for t, p in answers[-20:]]
                if recent and all(p == other for p in recent):
                    break
                time.sleep(0.01)
            current, other = other, current
        stop.set()
        th.join(timeout=10)
        if not delays:
            sys.exit("propagation: no change was observed")
        delays.sort()
        p50 = delays[len(delays) // 2]
        p99 = delays[min(len(delays) - 1, (len(delays) * 99) // 100)]
        print(f"propagation_e2e changes={len(delays)} missed={misses} p50_ms={p50:.2f} "
              f"p99_ms={p99:.2f} max_ms={delays[-1]:.2f} requests={len(answers)} "
              f"goal_p99_ms=100 ratio={p99 / 100.0:.3f}")
    finally:
        strait("cluster", "delete", CTX, check=False)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
