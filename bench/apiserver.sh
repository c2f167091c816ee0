#!/usr/bin/env bash
# Benchmarks strait-apiserver from the outside (bench/apiserver_bench.c):
# creates per second, watch-event delivery latency to 100 watchers, and RSS
# with 10,000 Services stored. Usage: bench/apiserver.sh [BUILD_DIR]
# (default build/). Starts its own apiserver on 127.0.0.1 with a throw-away
# data directory and stops it at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
[ -x "$build/bin/strait-apiserver" ] && [ -x "$build/bench/apiserver_bench" ] || {
    echo "build first: cmake --preset default && cmake --build --preset default" >&2
    exit 2
}
dir=$(mktemp -d /tmp/strait-bench-apiserver.XXXXXX)
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT

"$build/bin/strait-apiserver" --data-dir "$dir/data" --listen 127.0.0.1:0 \
    --write-kubeconfig "$dir/kubeconfig" >"$dir/out" 2>"$dir/log" &
pid=$!
for _ in $(seq 100); do grep -q ready "$dir/out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'https://[0-9.:]*' "$dir/out")
token=$(cat "$dir/data/admin.token")
echo "apiserver $url pid $pid; idle rss_mb=$(awk '/VmRSS/{printf "%.1f", $2/1024}' /proc/$pid/status)"
"$build/bench/apiserver_bench" --server "$url" --token "$token" --cacert "$dir/data/ca.crt" \
    --pid "$pid" --watchers "${WATCHERS:-100}" --events "${EVENTS:-200}" \
    --services "${SERVICES:-10000}" --conns "${CONNS:-4}"
