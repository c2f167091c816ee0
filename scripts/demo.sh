#!/usr/bin/env bash
# The demo, on one local cluster (multicluster comes later): builds strait if
# needed, creates a cluster under a temporary STRAIT_HOME, runs three
# strait-terminus backends behind Services, splits backend-zero-svc across
# them with an SMI TrafficSplit applied with kubectl, runs the seed's curl
# loop as a one-off meshed client (strait exec, with a proxy of its own that
# stops with the loop) and prints `strait stat ts`, which still counts the
# finished client (docs/stat.md).
# Everything it started is stopped and removed at the end, also on failure.
#
# Usage: scripts/demo.sh            (STRAIT_BIN=DIR uses binaries already built there)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

bin=${STRAIT_BIN:-}
if [ -z "$bin" ]; then
    bash scripts/setup.sh
    cmake --preset default >/dev/null
    cmake --build --preset default -j "$(nproc)" \
        --target strait strait-apiserver strait-controller strait-proxy strait-terminus
    bin="$repo/build/bin"
fi
for b in strait strait-apiserver strait-controller strait-proxy strait-terminus; do
    [ -x "$bin/$b" ] || { echo "demo: $bin/$b is missing" >&2; exit 1; }
done

export STRAIT_HOME KUBECONFIG
STRAIT_HOME=$(mktemp -d /tmp/strait-demo.XXXXXX)
KUBECONFIG="$STRAIT_HOME/kubeconfig"
ctx=demo
ns=multicluster-test
strait() { "$bin/strait" "$@"; }
k() { kubectl --context "$ctx" "$@"; }

cleanup() {
    echo
    echo "== cleaning up"
    "$bin/strait" cluster delete "$ctx" >/dev/null 2>&1 || true
    rm -rf "$STRAIT_HOME"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== strait cluster create $ctx   (STRAIT_HOME=$STRAIT_HOME)"
strait cluster create "$ctx"

echo
echo "== three backends (strait-terminus) and their Services"
k create namespace "$ns"
for leaf in zero one two; do
    strait --context "$ctx" run -n "$ns" --name "backend-$leaf" --label "app=backend-$leaf" \
        --port 8888 --detach -- "$bin/strait-terminus" --payload "hello-$leaf"
    k apply -f - <<EOF
apiVersion: v1
kind: Service
metadata: {name: backend-$leaf-svc, namespace: $ns}
spec:
  selector: {app: backend-$leaf}
  ports: [{name: http, port: 8888, targetPort: 8888}]
EOF
done

echo
echo "== the TrafficSplit: backend-zero-svc split in three"
k apply -f - <<EOF
apiVersion: split.smi-spec.io/v1alpha1
kind: TrafficSplit
metadata: {name: backend-split, namespace: $ns}
spec:
  service: backend-zero-svc
  backends:
  - {service: backend-zero-svc, weight: 500m}
  - {service: backend-one-svc, weight: 500m}
  - {service: backend-two-svc, weight: 500m}
EOF

# The controller writes the Endpoints once the workloads are ready; wait for them.
for leaf in zero one two; do
    for _ in $(seq 100); do
        addrs=$(k -n "$ns" get endpoints "backend-$leaf-svc" \
            -o jsonpath='{.subsets[*].addresses[*].ip}' 2>/dev/null || true)
        [ -n "$addrs" ] && break
        sleep 0.1
    done
done
strait --context "$ctx" workloads -n "$ns"

echo
echo "== the seed's curl loop, from a one-off meshed client"
strait --context "$ctx" exec -n "$ns" -- sh -c \
    'for i in $(seq 100); do curl -s http://backend-zero-svc:8888; echo; done'

echo
echo "== strait stat ts -n $ns"
strait --context "$ctx" stat ts -n "$ns"
