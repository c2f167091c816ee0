#!/usr/bin/python3
"""Checks how strait-proxy was linked when ST_PROXY_STATIC is on (proxy/link.cmake).

    check_link.py [--full] BINARY

Without --full (ST_PROXY_STATIC=ON): OpenSSL, nghttp2 and jansson inside the
binary (only glibc's libraries are needed at run time), no PIE, and no
exported symbols from the archives. With --full (FULL, the default for release
builds): glibc inside as well, so no program interpreter and no dynamic
section at all, and still no PIE."""
import re
import subprocess
import sys


def readelf(*args):
    return subprocess.run(["readelf", *args], capture_output=True, text=True, check=True).stdout


full = "--full" in sys.argv[1:]
binary = [a for a in sys.argv[1:] if a != "--full"][0]

head = readelf("-hW", binary)
assert re.search(r"Type:\s+EXEC", head), f"{binary} is not a position-dependent executable"

if full:
    phdrs = readelf("-lW", binary)
    assert " INTERP " not in phdrs, f"{binary} has a program interpreter (ld.so)"
    assert " DYNAMIC " not in phdrs, f"{binary} has a dynamic section"
    print("ok: fully static, EXEC, no INTERP, no DYNAMIC")
    sys.exit(0)

dyn = readelf("-dW", binary)
needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn))
allowed = {"libc.so.6", "libm.so.6", "ld-linux-x86-64.so.2", "libpthread.so.0", "libdl.so.2"}
extra = needed - allowed
assert not extra, f"{binary} still needs {sorted(extra)}"

syms = readelf("--dyn-syms", "-W", binary)
defined = [l for l in syms.splitlines()
           if re.match(r"\s*\d+:", l) and " UND " not in l and l.split()[-1] not in ("0", "")]
assert len(defined) < 50, f"{binary} exports {len(defined)} symbols (--exclude-libs missing?)"
print(f"ok: needs {sorted(needed)}, EXEC, {len(defined)} exported symbols")
