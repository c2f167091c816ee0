#!/usr/bin/env bash
# Benchmarks the controller's discovery (bench/controller_bench.c): memory
# with 1,000 Services / 5,000 ExternalWorkloads and one resolve stream per
# Service, and the delay from an Endpoints-changing write to the snapshot's
# arrival at an st_dest subscriber (p50/p99 over 100 changes).
# Usage: bench/controller.sh [BUILD_DIR] (default build/). Environment:
# SERVICES (1000), PER_SERVICE (5), CHANGES (100), CLIENTS (8), PARALLEL (16).
# Starts its own strait-apiserver and strait-controller on 127.0.0.1 (ports
# picked by the kernel) with a throw-away directory, set up as
# tests/test_destination.py does (CRDs, RBAC, issuer and anchors, client
# certificates through the certify API), and stops everything at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
build="$(cd "${1:-build}" && pwd)"
for b in bin/strait-apiserver bin/strait-controller bin/strait bin/dest-check \
    bench/controller_bench; do
    [ -x "$build/$b" ] || {
        echo "build first: cmake --build $build --target strait-apiserver strait-controller" \
            "strait dest-check controller_bench" >&2
        exit 2
    }
done
dir=$(mktemp -d /tmp/strait-bench-controller.XXXXXX)
api_pid=""
ctl_pid=""
cleanup() {
    for p in $ctl_pid $api_pid; do
        kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n 8192 2>/dev/null || true
services=${SERVICES:-1000}
clients=${CLIENTS:-8}

"$build/bin/strait-apiserver" --data-dir "$dir/data" --listen 127.0.0.1:0 \
    --write-kubeconfig "$dir/kubeconfig" >"$dir/api.out" 2>"$dir/api.log" &
api_pid=$!
for _ in $(seq 100); do grep -q ready "$dir/api.out" "$dir/api.log" 2>/dev/null && break; sleep 0.1; done
url=$(grep -ho 'https://[0-9.:]*' "$dir/api.out" "$dir/api.log" | head -1 || true)
[ -n "$url" ] || { echo "the apiserver did not start: $(tail -5 "$dir/api.log")" >&2; exit 1; }

# Objects, identities and the controller's kubeconfig, with the tests' helpers.
STRAIT_BIN="$build/bin" timeout 120 /usr/bin/python3 - "$dir" "$url" "$clients" <<'EOF'
import os, re, sys
sys.path.insert(0, "tests")
from conftest import Apiserver
from test_identity import RBAC, apply_anchors, apply_issuer, make_pki, sa_token
from test_destination import CRDS, DEST_RBAC

d, url, clients = sys.argv[1], sys.argv[2], int(sys.argv[3])
api = Apiserver(d)
api.url = url
for f in sorted(os.listdir(CRDS)):
    if f.endswith(".yaml"):
        api.kubectl("apply", "-f", os.path.join(CRDS, f))
api.kubectl("apply", "-f", "-", input=RBAC)
api.kubectl("apply", "-f", "-", input=DEST_RBAC)
api.kubectl("create", "namespace", "bench")
token = sa_token(api, "strait", "strait-controller")
a_crt, _, i_crt, i_key = make_pki(d)
apply_anchors(api, a_crt)
apply_issuer(api, i_crt, i_key)
with open(api.kubeconfig) as f:
    ca = re.search(r"certificate-authority-data:\s*(\S+)", f.read()).group(1)
path = os.path.join(d, "controller.kubeconfig")
with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
    f.write(f"""apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {{server: "{url}", certificate-authority-data: {ca}}}
users:
- name: u
  user: {{token: "{token}"}}
contexts:
- name: ctx
  context: {{cluster: c, user: u, namespace: strait}}
current-context: ctx
""")
for i in range(clients):
    with open(os.path.join(d, f"client-{i}.token"), "w") as f:
        f.write(sa_token(api, "bench", f"client-{i}"))
EOF

# CONTROLLER_WRAP (e.g. "heaptrack -o /tmp/ctl") runs the controller under a profiler; the
# memory figures are then the wrapper's, not the controller's.
${CONTROLLER_WRAP:-} "$build/bin/strait-controller" --kubeconfig "$dir/controller.kubeconfig" --namespace strait \
    --listen 127.0.0.1:0 --admin 127.0.0.1:0 --log-level info >"$dir/controller.out" 2>"$dir/controller.log" &
ctl_pid=$!
addr=""
for _ in $(seq 200); do
    addr=$(grep -ho 'ready api=https://[0-9.:]*' "$dir/controller.out" "$dir/controller.log" |
        head -1 | sed 's|.*//||' || true)
    [ -n "$addr" ] && break
    sleep 0.1
done
[ -n "$addr" ] || { echo "the controller did not start: $(tail -5 "$dir/controller.log")" >&2; exit 1; }
ctl_id="strait-controller.strait.serviceaccount.identity.strait.cluster.local"
# The controller serves its own certificate once its issuer loaded: retry for a while.
for i in $(seq 0 $((clients - 1))); do
    for try in $(seq 20); do
        timeout 60 "$build/bin/dest-check" --certify --addr "$addr" --server-identity "$ctl_id" \
            --anchors "$dir/anchor.crt" --token-file "$dir/client-$i.token" --sa "client-$i" \
            --ns bench --cert "$dir/client-$i.crt" --key "$dir/client-$i.key" \
            2>"$dir/certify.err" && break
        [ "$try" = 20 ] && { cat "$dir/certify.err" >&2; exit 1; }
        sleep 0.5
    done
done

echo "controller $addr pid $ctl_pid; apiserver $url pid $api_pid"
rc=0
timeout 170 "$build/bench/controller_bench" --server "$url" --token "$(cat "$dir/data/admin.token")" \
    --cacert "$dir/data/ca.crt" --pid "$ctl_pid" --dest "$addr" --dest-identity "$ctl_id" \
    --anchors "$dir/anchor.crt" --certs "$dir" --clients "$clients" --namespace bench \
    --services "$services" --per-service "${PER_SERVICE:-5}" --changes "${CHANGES:-100}" \
    --parallel "${PARALLEL:-16}" || rc=$?
echo "controller_log warnings_and_errors=$(grep -c ' WARN \| ERROR ' "$dir/controller.log" || true)"
exit $rc
