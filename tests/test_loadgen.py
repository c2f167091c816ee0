"""bench/loadgen, the proxy benchmark's load generator: the real binary against
a real strait-terminus on loopback. Checks what the benchmark relies on: the
open-loop schedule, the counts, --save/--merge, --trace and its errors."""
import os
import re
import subprocess

import pytest

from conftest import BIN, Proc, binary

LOADGEN = os.path.join(BIN, "..", "bench", "loadgen")


def loadgen(*args, timeout=60):
    if not os.path.exists(LOADGEN):
        pytest.fail(f"{LOADGEN} is missing: build first")
    return subprocess.run([LOADGEN] + list(args), capture_output=True, text=True,
                          timeout=timeout)


def fields(line):
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


@pytest.fixture
def backend(workdir):
    p = Proc([binary("strait-terminus"), "--listen", "127.0.0.1:0"],
             os.path.join(workdir, "terminus.log"))
    m = p.wait_line(r"^strait-terminus listening on (127\.0\.0\.1:\d+)$")
    yield m.group(1)
    p.kill()


def test_rate_run_with_trace(backend, workdir):
    trace = os.path.join(workdir, "trace.txt")
    r = loadgen("--target", backend, "--rate", "200", "--duration", "1", "--warmup", "0.2",
                "--conns", "4", "--trace", trace)
    assert r.returncode == 0, r.stderr
    f = fields(r.stdout.strip())
    assert f["rate"] == "200" and f["sent"] == "200" and f["ok"] == "200", r.stdout
    assert f["errors"] == "0"
    lines = open(trace).read().splitlines()
    assert len(lines) == 200
    rows = [tuple(map(int, line.split())) for line in lines]
    # One line per measured request, in schedule order, 1/200 s apart from 0.
    assert [at for at, _ in rows] == [i * 5_000_000 for i in range(200)]
    lat = [ns for _, ns in rows]
    assert all(0 < ns < 2_000_000_000 for ns in lat)
    # The histogram's exact maximum is the trace's largest latency.
    assert abs(max(lat) / 1e6 - float(f["max_ms"])) < 0.0015


def test_trace_errors(backend, workdir):
    # --trace needs a schedule: refused with --max and with --merge, as a usage error.
    r = loadgen("--target", backend, "--max", "--duration", "0.2", "--trace",
                os.path.join(workdir, "t"))
    assert r.returncode == 2 and "usage:" in r.stderr
    r = loadgen("--merge", "--trace", os.path.join(workdir, "t"), os.path.join(workdir, "x"))
    assert r.returncode == 2 and "usage:" in r.stderr
    # A trace that cannot be written fails the run, after its line.
    r = loadgen("--target", backend, "--rate", "50", "--duration", "0.2", "--warmup", "0",
                "--trace", os.path.join(workdir, "missing", "t"))
    assert r.returncode == 1
    assert re.search(r"cannot write .*missing/t: No such file or directory", r.stderr)
    assert fields(r.stdout.strip())["ok"] == "10"
    # A schedule too long to keep in memory is refused before any load.
    r = loadgen("--target", backend, "--rate", "1000000", "--duration", "11", "--warmup", "0",
                "--trace", os.path.join(workdir, "t"))
    assert r.returncode == 1 and "--trace keeps at most" in r.stderr
    assert r.stdout == ""


def test_save_and_merge(backend, workdir):
    saved = []
    for i in range(2):
        path = os.path.join(workdir, f"slice{i}")
        r = loadgen("--target", backend, "--rate", "100", "--duration", "0.5",
                    "--warmup", "0.1", "--save", path)
        assert r.returncode == 0, r.stderr
        saved.append((path, fields(r.stdout.strip())))
    r = loadgen("--merge", *[p for p, _ in saved])
    assert r.returncode == 0, r.stderr
    m = fields(r.stdout.strip())
    assert int(m["sent"]) == 100 and int(m["ok"]) == 100
    # The merged maximum is the larger of the two runs' maxima.
    assert float(m["max_ms"]) == max(float(f["max_ms"]) for _, f in saved)
    r = loadgen("--merge", os.path.join(workdir, "nothing-here"))
    assert r.returncode != 0
