#!/usr/bin/env bash
# Installs, with apt, every Debian package that building, testing, benchmarking
# and the demo need. Safe to run again: it installs only what is missing.
set -euo pipefail

packages=(
    build-essential cmake pkg-config clang clang-format libclang-rt-14-dev llvm lld
    libssl-dev libnghttp2-dev libjansson-dev libyaml-dev libcurl4-openssl-dev
    libsqlite3-dev libcmocka-dev
    python3 python3-pytest python3-kubernetes python3-yaml python3-grpcio
    curl openssl iproute2 iptables procps psmisc haproxy nginx prometheus
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# kubectl comes from Debian's kubernetes-client when the machine has none.
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts nginx, haproxy and prometheus as services on install; the
# benchmarks and tests start their own instances on loopback, so stop these.
for svc in nginx haproxy prometheus; do
    $sudo systemctl disable --now "$svc" >/dev/null 2>&1 || $sudo service "$svc" stop >/dev/null 2>&1 || true
done
