"""bench/proxy_bench.sh, the data-plane benchmark, run for real in a tiny shape.

It starts every path (direct, plain, HAProxy, nginx and strait pairs with
mutual TLS between the sides) and must print what bench/README.md promises:
a header, one line per path with its fields and no failed request, the host
line, and the ratio line last. Nothing here judges the figures: this machine
is shared, and the benchmark itself is where speed is measured.
"""
import os
import re
import shutil
import subprocess

import pytest

from conftest import BIN

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "bench", "proxy_bench.sh")
BUILD = os.path.normpath(os.path.join(BIN, ".."))
PATHS = ["direct", "plain", "haproxy", "nginx", "strait"]


def fields(line):
    return dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)


def run_bench(*args, timeout=400):
    for tool in ("haproxy", "nginx", "openssl", "curl"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: scripts/setup.sh installs it")
    return subprocess.run(["bash", SCRIPT, "--build", BUILD] + list(args),
                          capture_output=True, text=True, timeout=timeout)


def test_tiny_run_prints_every_line():
    r = run_bench("--quick", "--rates", "200", "--rate-seconds", "1", "--slices", "1",
                  "--max-seconds", "1", "--paths", " ".join(PATHS))
    assert r.returncode == 0, r.stderr[-4000:]
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("# strait proxy benchmark: "), lines[0]

    by_path = {}
    for line in lines:
        m = re.match(r"^path=(\w+) ", line)
        if m:
            by_path[m.group(1)] = fields(line)
    assert sorted(by_path) == sorted(PATHS), r.stdout
    for path, f in by_path.items():
        assert f["errors"] == "0", (path, r.stdout)
        assert int(f["max_rps"]) > 0, (path, f)
        p50, p99, p999 = (float(v) for v in f["p50/p99/p999_ms@200"].split("/"))
        assert 0 < p50 <= p99 <= p999, (path, f)
        assert "p99_ms_slice_median@200" in f and "steal_ms@200" in f
    for path in ("plain", "haproxy", "nginx", "strait"):
        f = by_path[path]
        # Both sides' memory, and CPU per 1,000 requests, are measured for a pair.
        for key in ("rss_idle_kb", "rss_load_kb", "pss_idle_kb", "pss_load_kb"):
            a, b = f[key].split("+")
            assert int(a) > 0 and int(b) > 0, (path, key, f[key])
        assert float(f["cpu_ms_per_1k@max"]) > 0, (path, f)
    assert by_path["direct"]["rss_idle_kb"] == "-"
    # The peers' side B refused TLS 1.2 and clients without a certificate.
    assert by_path["haproxy"]["mtls_check"] == "ok"
    assert by_path["nginx"]["mtls_check"] == "ok"

    host = [l for l in lines if l.startswith("host ")]
    assert len(host) == 1, r.stdout
    h = fields(host[0])
    for key in ("wake_p50/p99_us@start", "wake_p50/p99_us@end"):
        if h[key] == "n/a":
            continue  # the wakeup tool could not pin its two processes here
        p50, p99 = (float(v) for v in h[key].split("/"))
        assert 0 < p50 <= p99, host[0]
    assert 0 <= float(h["steal_pct"]) <= 100

    goals = [l for l in lines if l.startswith("goals ")]
    assert len(goals) == 1 and lines[-2] == goals[0], r.stdout
    g = fields(goals[0])
    assert sorted(g) == sorted(["throughput_1.3x", "rss_idle_4MB", "rss_load_16MB",
                                "added_p99_0.5ms"]), goals[0]
    assert all(v in ("met", "missed") for v in g.values()), goals[0]
    # The verdicts follow the figures printed above them.
    f_st = by_path["strait"]
    idle = [int(v) * 1024 for v in f_st["rss_idle_kb"].split("+")]
    assert g["rss_idle_4MB"] == ("met" if max(idle) < 4_000_000 else "missed"), goals[0]
    load = [int(v) * 1024 for v in f_st["rss_load_kb"].split("+")]
    assert g["rss_load_16MB"] == ("met" if max(load) < 16_000_000 else "missed"), goals[0]

    # The last line compares strait with the others, every figure present.
    last = lines[-1]
    assert last.startswith("ratio "), last
    f = fields(last)
    for key in ("strait/haproxy", "strait/nginx", "strait/direct"):
        assert float(f[key]) > 0, last
    for key in ("added_p99_ms", "added_p99_ms_slice_median", "plain_added_p99_ms",
                "plain_added_p99_ms_slice_median"):
        float(f[key])  # a number, perhaps negative on a noisy machine; never n/a
    ratios = min(float(f["strait/haproxy"]), float(f["strait/nginx"]))
    assert g["throughput_1.3x"] == ("met" if ratios >= 1.3 else "missed"), (goals, last)
    assert g["added_p99_0.5ms"] == ("met" if float(f["added_p99_ms"]) < 0.5 else "missed")


def test_unknown_path_is_reported_not_measured():
    r = run_bench("--quick", "--rates", "100", "--rate-seconds", "1", "--slices", "1",
                  "--max-seconds", "1", "--paths", "direct nosuch")
    assert r.returncode == 0, r.stderr[-4000:]
    assert "unknown path nosuch" in r.stderr
    lines = r.stdout.strip().splitlines()
    assert any(l.startswith("path=direct ") for l in lines), r.stdout
    assert "path=nosuch skipped: unknown path" in lines, r.stdout
    # Without a strait path there is nothing to compare: n/a, not a made-up figure.
    f = fields(lines[-1])
    assert lines[-1].startswith("ratio ") and f["strait/direct"] == "n/a", lines[-1]
    assert f["added_p99_ms"] == "n/a"
    g = fields(lines[-2])
    assert lines[-2].startswith("goals ") and set(g.values()) == {"n/a"}, lines[-2]
