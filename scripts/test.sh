#!/usr/bin/env bash
# Builds strait and runs every test (unit, integration, fuzz corpus replay)
# with ctest. Usage: scripts/test.sh [PRESET]   (default, asan, fuzz)
# Installs missing Debian packages first. Exits non-zero when a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-default}"

bash scripts/setup.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
# Integration tests start many processes; two at a time keeps 2 cores busy
# without starving the servers under test.
ctest --preset "$preset" -j 2
