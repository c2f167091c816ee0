#!/usr/bin/python3
"""Regenerates proxy/hot-symbols.txt: the functions strait-proxy runs.

Runs a pair of proxies (client and server, files mode) under valgrind's
callgrind with a backend behind them, sends the kinds of traffic the proxy
carries (HTTP/1.1 GET, POST, chunked upload, keep-alive, HTTP/2 with prior
knowledge, CONNECT, refusals, metrics scrapes), stops them with SIGTERM, and
writes the union of the function names callgrind saw, one per line. With
--controller HOST:PORT (a local cluster's controller, see docs/cli.md) a
third proxy certifies and takes its routes from the destination API as well.

With --local-controller the script starts a strait-apiserver and a
strait-controller from BUILD_DIR itself (as tests/test_proxy_identity.py
does), with a Service backed by an ExternalWorkload, and the third proxy
certifies and routes with them; no cluster is needed.

lld lays the binary's text out in this order (proxy/link.cmake), so the code
these runs touch shares few pages. A stale list costs memory, never
correctness: rerun this after large changes to the proxy or to OpenSSL.

    proxy/hot_symbols.py BUILD_DIR [--local-controller | --controller ADDR
                                    --anchors FILE --token-file FILE
                                    --identity NAME [--routes FILE] [--url URL]...]

For example, with a local cluster made by `strait cluster create c1` and a
workload started by `strait run -n default --name web --port 8080 ...`:

    proxy/hot_symbols.py build --controller 127.1.0.2:8086 \
        --anchors $STRAIT_HOME/trust/anchor.crt \
        --token-file $STRAIT_HOME/clusters/c1/workloads/default/web/token \
        --identity default.default.serviceaccount.identity.strait.cluster.local \
        --routes $STRAIT_HOME/clusters/c1/routes.json \
        --url http://127.1.1.1:8080/ --url http://web.default.svc.cluster.local:8080/
"""
import argparse
import glob
import os
import re
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--local-controller", action="store_true",
                    help="start an apiserver and a controller from BUILD_DIR for the third proxy")
    ap.add_argument("--controller")
    ap.add_argument("--anchors")
    ap.add_argument("--token-file")
    ap.add_argument("--identity")
    ap.add_argument("--routes", help="a routes file for the certify proxy as well")
    ap.add_argument("--url", action="append", default=[],
                    help="URLs to ask through the certify proxy (repeatable)")
    ap.add_argument("--out", default=os.path.join(HERE, "hot-symbols.txt"))
    a = ap.parse_args()
    os.environ["STRAIT_BIN"] = os.path.join(os.path.abspath(a.build), "bin")
    # Imported after STRAIT_BIN is set: the harness reads it at import.
    from proxy_harness import NS, Backend, Pki, curl, tool_files_pair, tool_proxy, tool_wait_ready
    from conftest import binary

    d = tempfile.mkdtemp(prefix="strait-hot-")
    procs = []

    def proxy(name, args):
        cg = os.path.join(d, f"callgrind.{name}")
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={cg}",
               binary("strait-proxy"), "--outbound", "127.0.0.1:0", "--inbound", "127.0.0.1:0",
               "--admin", "127.0.0.1:0", "--namespace", NS] + args
        p = tool_proxy(cmd, os.path.join(d, f"{name}.log"), timeout=120)
        procs.append(p)
        return p

    def ready(p):
        tool_wait_ready(p, tries=600)

    backend = None
    cluster = []
    try:
        pki = Pki(os.path.join(d, "pki"))
        backend = Backend()
        if a.local_controller:
            local_controller(a, d, pki, backend, cluster)
        server, client, routes, svc = tool_files_pair(d, pki, backend, proxy)
        ready(server)
        ready(client)
        px, url = f"http://{client.outbound}", f"http://{svc}"
        body = os.path.join(d, "body")
        with open(body, "wb") as f:
            f.write(os.urandom(1 << 20))
        for _ in range(3):
            curl("-x", px, url + "/a", url + "/b")                       # keep-alive
            curl("-x", px, "--data-binary", "@" + body, url + "/post")
            curl("-x", px, "-H", "transfer-encoding: chunked", "--data-binary", "@" + body,
                 url + "/chunked")
            curl("--http2-prior-knowledge", "-H", f"host: {svc}", f"http://{client.outbound}/h2")
            curl("-p", "-x", px, url + "/tunnel")                        # CONNECT
            curl("-x", px, "http://unknown-svc:80/")                     # no route
            curl("-x", px, "-H", "bad header", url + "/bad")             # refused head
            for p in (client, server):
                curl(f"http://{p.admin}/metrics", f"http://{p.admin}/live")
                curl(f"http://{p.admin}/metrics/window?ms=1000")
            time.sleep(0.6)                                              # file polls
        if a.local_controller and a.routes is None:
            a.routes = routes  # the certify proxy carries mTLS traffic to the server too
            a.url.append(url + "/dest")
        if a.controller:
            dest = proxy("dest", ["--identity-mode", "certify", "--controller", a.controller,
                                  "--token-file", a.token_file, "--identity", a.identity,
                                  "--trust-anchors", a.anchors, "--destination", a.controller]
                         + (["--routes", a.routes] if a.routes else []))
            ready(dest)
            for _ in range(3):
                for u in a.url:
                    curl("-x", f"http://{dest.outbound}", u)
                curl(f"http://{dest.admin}/metrics")
                time.sleep(0.6)
    finally:
        for p in procs:
            p.kill(signal.SIGTERM, timeout=60)
        for stop in reversed(cluster):
            stop()
        if backend is not None:
            backend.shutdown()

    # Per run: the files-mode pair, and the certify/destination proxy if any.
    runs = {}
    for cg in glob.glob(os.path.join(d, "callgrind.*")):
        kind = "dest" if cg.endswith(".dest") else "files"
        with open(cg, errors="replace") as f:
            for line in f:
                m = re.match(r"^c?fn=\(\d+\) (\S+)", line)
                if m:
                    runs.setdefault(kind, set()).add(m.group(1))
    # What both modes run comes first, then what only files mode runs (its
    # traffic reached more paths), then what only certify/destination runs:
    # a files-mode proxy touches one contiguous stretch, a certify-mode one
    # two, with what it never runs beyond both.
    files, dest = runs.get("files", set()), runs.get("dest", set())
    common = files & dest if dest else files
    order = sorted(common) + sorted(files - common) + sorted(dest - common)
    with open(a.out, "w") as f:
        f.write("".join(n + "\n" for n in order))
    names = set(order)
    print(f"{a.out}: {len(names)} functions from {len(procs)} proxies ({d})")


def local_controller(a, d, pki, backend, cluster):
    """Starts an apiserver and a controller (stop functions go to <cluster>) and points
    the --controller options of <a> at them: a token for test/client, the anchor of
    <pki>, a Service web.mc (port 80) backed by an ExternalWorkload, and the URLs to
    ask through the certify proxy (web.mc, and backend-svc from the routes file when
    --routes is given)."""
    from conftest import Apiserver
    from proxy_harness import NS, ident
    from test_destination import apply, start_controller, workload
    from test_identity import CONTROLLER_RBAC, RBAC, apply_anchors, apply_issuer, sa_token

    api = Apiserver(os.path.join(d)).start()
    cluster.append(api.stop)
    for f in sorted(glob.glob(os.path.join(HERE, "..", "crds", "*.yaml"))):
        api.kubectl("apply", "-f", f)
    api.kubectl("apply", "-f", "-", input=RBAC)
    api.kubectl("apply", "-f", "-", input=CONTROLLER_RBAC)
    for ns in (NS, "mc"):
        api.kubectl("create", "namespace", ns, check=False)
    apply_anchors(api, pki.anchor)
    apply_issuer(api, os.path.join(pki.dir, "issuer.pem"), os.path.join(pki.dir, "issuer.key"))
    ctl = start_controller(d, api, sa_token(api, "strait", "strait-controller"))
    cluster.append(ctl.proc.kill)
    ctl.wait_ready()
    a.token_file = os.path.join(d, "client.token")
    with open(a.token_file, "w") as f:
        f.write(sa_token(api, NS, "client") + "\n")
    apply(api, {"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "web", "namespace": "mc"},
                "spec": {"selector": {"app": "web"},
                         "ports": [{"name": "http", "port": 80, "targetPort": backend.port}]}},
          workload("web-1", "127.0.0.99", {"app": "web"}, [("http", backend.port)],
                   sa="backend"))
    a.controller, a.anchors, a.identity = ctl.addr, pki.anchor, ident("client")
    a.url = a.url or ["http://web.mc.svc.cluster.local:80/"]


if __name__ == "__main__":
    main()
