#!/usr/bin/python3
"""Checks how strait-proxy was linked when ST_PROXY_STATIC is on (proxy/link.cmake):
OpenSSL, nghttp2 and jansson inside the binary (only glibc's libraries are
needed at run time), no PIE, and no exported symbols from the archives."""
import re
import subprocess
import sys

binary = sys.argv[1]
dyn = subprocess.run(["readelf", "-dW", binary], capture_output=True, text=True, check=True).stdout
needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn))
allowed = {"libc.so.6", "libm.so.6", "ld-linux-x86-64.so.2", "libpthread.so.0", "libdl.so.2"}
extra = needed - allowed
assert not extra, f"{binary} still needs {sorted(extra)}"

head = subprocess.run(["readelf", "-hW", binary], capture_output=True, text=True, check=True).stdout
assert re.search(r"Type:\s+EXEC", head), f"{binary} is not a position-dependent executable"

syms = subprocess.run(["readelf", "--dyn-syms", "-W", binary], capture_output=True, text=True,
                      check=True).stdout
defined = [l for l in syms.splitlines()
           if re.match(r"\s*\d+:", l) and " UND " not in l and l.split()[-1] not in ("0", "")]
assert len(defined) < 50, f"{binary} exports {len(defined)} symbols (--exclude-libs missing?)"
print(f"ok: needs {sorted(needed)}, EXEC, {len(defined)} exported symbols")
