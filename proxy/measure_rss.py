#!/usr/bin/python3
"""Measures the memory of idle strait-proxy processes (docs/proxy.md, "Memory").

Two setups, each measured once its proxies are ready, have carried a few
requests and have been idle for --settle seconds:

- files mode: a client proxy with a routes file sends three requests over
  mTLS to a server proxy (certificates from strait-proxy-testpki); both are
  measured.
- certify + destination: a strait-apiserver and a strait-controller are
  started from the build (as proxy/hot_symbols.py --local-controller does),
  with a Service web.mc backed by an ExternalWorkload; a third proxy
  certifies with the controller, routes with --destination and with the
  routes file of the client (so it holds one pooled mTLS connection to the
  server proxy and one destination stream), and sends three requests each
  way. It is started --runs times, one after the other.

For each proxy it prints VmRSS and VmHWM (/proc/PID/status), Pss
(smaps_rollup) and a summary of /proc/PID/smaps by kind of mapping: the
binary's text, read-only data (with RELRO), .data; the main heap, the other
malloc arenas (64 MiB-aligned anonymous mappings with a PROT_NONE tail),
thread stacks (anonymous mappings with a guard page below), the main stack,
other anonymous mappings (malloc's mmap'd chunks, the tail of .bss) and the
rest. --maps lists every mapping with resident pages as well.

    proxy/measure_rss.py BUILD_DIR [--servers BUILD_DIR] [--threads N]
                         [--runs N] [--settle S] [--maps] [--only files|dest]

BUILD_DIR/bin/strait-proxy is the proxy measured; the apiserver, the
controller and strait-proxy-testpki come from --servers (default BUILD_DIR).
The binary's pages are written back and dropped from the page cache first
(--keep-cache: not), so its text is read from disk as on a freshly started
machine: a copy made with cp sits in the cache in large folios and maps more
text (docs/proxy.md, "Measuring"). Nothing else may run that binary then.
Everything listens on 127.0.0.1 on ports the kernel picks, and is stopped at
the end.
"""
import argparse
import bisect
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

HEAP_MAX = 64 << 20  # glibc's HEAP_MAX_SIZE on 64-bit: non-main arenas are aligned to it


def status(pid):
    """VmRSS, VmHWM, RssAnon, RssFile in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0])
    return out


def pss(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def smaps(pid):
    """The mappings of <pid>: dicts with start, end, perms, path and the KiB fields."""
    maps, cur = [], None
    head = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \d+\s*(.*)$")
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = head.match(line)
            if m:
                cur = {"start": int(m.group(1), 16), "end": int(m.group(2), 16),
                       "perms": m.group(3), "path": m.group(4).strip()}
                maps.append(cur)
                continue
            k, _, v = line.partition(":")
            v = v.split()
            if cur is not None and len(v) == 2 and v[1] == "kB":
                cur[k] = int(v[0])
    return maps


def classify(maps, exe):
    """Names the kind of each mapping (sets m["kind"])."""
    by_start = {m["start"]: m for m in maps}
    by_end = {m["end"]: m for m in maps}
    exe_end = max((m["end"] for m in maps if m["path"] == exe), default=0)
    for m in maps:
        p, perms = m["path"], m["perms"]
        if p == exe:
            m["kind"] = {"r-xp": "text", "r--p": "rodata+relro", "rw-p": ".data"}.get(
                perms, "binary " + perms)
        elif p == "[heap]":
            m["kind"] = "heap (main arena)"
        elif p == "[stack]":
            m["kind"] = "stack (main thread)"
        elif p in ("[vdso]", "[vvar]", "[vsyscall]"):
            m["kind"] = "vdso/vvar"
        elif p == "" and perms == "rw-p":
            below, above = by_end.get(m["start"]), by_start.get(m["end"])
            if m["start"] % HEAP_MAX == 0 and above is not None and above["perms"] == "---p":
                m["kind"] = "malloc arenas (threads)"
            elif below is not None and below["perms"] == "---p" and below["path"] == "":
                m["kind"] = "thread stacks"
            elif m["start"] == exe_end:
                m["kind"] = ".bss"
            else:
                m["kind"] = "anon (mmap'd chunks)"
        elif p == "":
            m["kind"] = "anon " + perms
        else:
            m["kind"] = "file " + os.path.basename(p)
    return maps


KINDS = ["text", "rodata+relro", ".data", ".bss", "heap (main arena)",
         "malloc arenas (threads)", "anon (mmap'd chunks)", "stack (main thread)",
         "thread stacks", "vdso/vvar"]


def snapshot(massif, name, pid):
    """Writes massif's detailed snapshot of <pid> to <massif>/<name>.idle."""
    out = os.path.join(massif, name.replace(" ", "-").replace("+", "-") + ".idle")
    subprocess.run(["vgdb", f"--pid={pid}", "detailed_snapshot", out], check=True,
                   stdout=subprocess.DEVNULL, timeout=60)
    print(f"{name}: massif snapshot {out} (ms_print it)")


def malloc_info(name, pid, log):
    """Has gdb call malloc_info() in <pid> (its stderr is <log>); prints per arena the
    bytes malloc holds from the system and how much of it is free."""
    with open(log, "rb") as f:
        f.seek(0, os.SEEK_END)
        at = f.tell()
    subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx",
                    "-ex", "call (int)malloc_info(0, (void *)stderr)"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=True)
    with open(log, "rb") as f:
        f.seek(at)
        xml = f.read().decode(errors="replace")
    for m in re.finditer(r'<heap nr="(\d+)">(.*?)</heap>', xml, re.S):
        body = m.group(2)
        free = sum(int(x) for x in re.findall(r'<total type="(?:fast|rest)" count="\d+" '
                                              r'size="(\d+)"', body))
        cur = re.search(r'<system type="current" size="(\d+)"', body)
        print(f"  malloc arena {m.group(1)}: {int(cur.group(1)) // 1024 if cur else 0} KiB "
              f"from the system, {free // 1024} KiB of it free")


def drop_cache(exe):
    """Writes the binary's pages back and drops them from the page cache, so the
    proxies read it from disk as a freshly started machine would: how a file's
    pages sit in the cache (large folios after a copy, dirty pages after a
    link) changes how much text the kernel maps around each fault."""
    fd = os.open(exe, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def text_blocks(pid, exe):
    """The 64 KiB blocks of the binary's text with resident pages (the kernel maps
    text in fault-around blocks of 64 KiB): {block address: (resident KiB, the
    function at the block's start)}. Reads /proc/PID/pagemap (root)."""
    start = end = 0
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            p = line.split()
            if len(p) >= 6 and p[1] == "r-xp" and p[5] == exe:
                start, end = (int(x, 16) for x in p[0].split("-"))
    syms = []
    nm = subprocess.run(["nm", "-n", exe], capture_output=True, text=True, check=True).stdout
    for line in nm.splitlines():
        p = line.split()
        if len(p) == 3 and p[1] in "tTwW":
            syms.append((int(p[0], 16), p[2]))
    addrs = [a for a, _ in syms]
    blocks = {}
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(start // 4096 * 8)
        data = f.read((end - start) // 4096 * 8)
    for i in range(len(data) // 8):
        if struct.unpack_from("<Q", data, i * 8)[0] >> 63:
            b = (start + i * 4096) & ~0xffff
            blocks[b] = blocks.get(b, 0) + 4
    out = {}
    for b, kib in blocks.items():
        j = bisect.bisect_right(addrs, b) - 1
        out[b] = (kib, syms[j][1] if j >= 0 else "?")
    return out


def report(name, pid, exe, show_maps):
    st = status(pid)
    maps = classify(smaps(pid), exe)
    with open(f"/proc/{pid}/status") as f:
        threads = next(int(line.split()[1]) for line in f if line.startswith("Threads:"))
    print(f"{name}: pid {pid}, {threads} threads: VmRSS {st['VmRSS']} KiB (anon "
          f"{st['RssAnon']}, file {st['RssFile']}), VmHWM {st['VmHWM']} KiB, "
          f"Pss {pss(pid)} KiB")
    sums = {}
    for m in maps:
        s = sums.setdefault(m["kind"], [0, 0, 0, 0])
        s[0] += m.get("Rss", 0)
        s[1] += m.get("Pss", 0)
        s[2] += m.get("Private_Dirty", 0)
        s[3] += 1
    order = KINDS + sorted(k for k in sums if k not in KINDS)
    print(f"  {'kind':<26} {'Rss':>7} {'Pss':>7} {'PrivDirty':>9} maps")
    for k in order:
        if k in sums and sums[k][0] > 0:
            r, p, d, n = sums[k]
            print(f"  {k:<26} {r:>7} {p:>7} {d:>9} {n:>4}")
    if show_maps:
        for m in maps:
            if m.get("Rss", 0) > 0:
                print(f"    {m['start']:012x}-{m['end']:012x} {m['perms']} "
                      f"{m.get('Size', 0):>8} KiB size {m['Rss']:>6} rss {m.get('Pss', 0):>6} pss"
                      f"  {m['kind']} {m['path']}")
    return st["VmRSS"]


def start_nginx(d, procs):
    """Starts bench/'s nginx backend (one worker, a small static body) in <d> on a
    port the kernel picked; returns the port."""
    from conftest import Proc
    from proxy_harness import free_port
    port = free_port()
    with open(os.path.join(HERE, "..", "bench", "peers", "backend-nginx.conf")) as f:
        conf = f.read().replace("@DIR@", d).replace("@PORT@", str(port))
    os.makedirs(os.path.join(d, "backend-tmp"), exist_ok=True)
    path = os.path.join(d, "backend-nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    procs.append(Proc(["nginx", "-c", path, "-p", d], os.path.join(d, "nginx.log")))
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return port
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nginx did not listen: {procs[-1].tail()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", help="the build whose bin/strait-proxy is measured")
    ap.add_argument("--servers", help="build with the apiserver, controller and testpki")
    ap.add_argument("--threads", type=int, default=1, help="loop threads of each proxy")
    ap.add_argument("--runs", type=int, default=1,
                    help="certify + destination proxies to start one after the other")
    ap.add_argument("--settle", type=float, default=2.0, help="idle seconds before measuring")
    ap.add_argument("--maps", action="store_true", help="list every resident mapping")
    ap.add_argument("--only", choices=["files", "dest"])
    ap.add_argument("--malloc-info", action="store_true",
                    help="after measuring, print glibc's malloc_info() of each proxy (gdb calls "
                    "it in the process; the static proxy keeps the symbol)")
    ap.add_argument("--load", type=float, metavar="S",
                    help="then load each certify + destination proxy for S seconds with "
                    "bench/loadgen --max (32 connections, to an nginx backend like "
                    "bench/proxy_bench.sh's through the server proxy) and print loadgen's "
                    "line: requests/s, CPU per 1,000 requests and peak RSS of both proxies")
    ap.add_argument("--keep-cache", action="store_true",
                    help="measure the binary as it sits in the page cache now, instead of "
                    "writing it back and dropping its cached pages first")
    ap.add_argument("--text-blocks", action="store_true",
                    help="list the 64 KiB blocks of text resident in the certify + destination "
                    "proxy and not in the files-mode client, with the function each starts in")
    ap.add_argument("--massif", metavar="DIR",
                    help="run the proxies under valgrind's massif (needs a dynamically linked "
                    "proxy, ST_PROXY_STATIC=OFF) and write a detailed snapshot of each idle "
                    "proxy to DIR; the RSS figures are then valgrind's")
    a = ap.parse_args()
    exe = os.path.realpath(os.path.join(a.build, "bin", "strait-proxy"))
    os.environ["STRAIT_BIN"] = os.path.join(os.path.abspath(a.servers or a.build), "bin")
    # Imported after STRAIT_BIN is set: the harness reads it at import.
    from proxy_harness import NS, Backend, Pki, curl, tool_files_pair, tool_proxy, tool_wait_ready

    if not a.keep_cache:
        drop_cache(exe)
    d = tempfile.mkdtemp(prefix="strait-rss-")
    procs, cluster, backend = [], [], None

    def proxy(name, args):
        wrap = []
        if a.massif:
            wrap = ["valgrind", "--tool=massif", "--vgdb=yes", "--threshold=0.2",
                    f"--massif-out-file={os.path.join(a.massif, name + '.massif')}"]
        cmd = wrap + [exe, "--outbound", "127.0.0.1:0", "--inbound", "127.0.0.1:0",
               "--admin", "127.0.0.1:0", "--namespace", NS, "--threads", str(a.threads)] + args
        p = tool_proxy(cmd, os.path.join(d, f"{name}.log"))
        procs.append(p)
        return p

    def ready(p):
        tool_wait_ready(p, tries=3000 if a.massif else 300)

    def ask(p, url, want=b"200"):
        r = curl("-o", "/dev/null", "-w", "%{http_code}", "-x", f"http://{p.outbound}", url)
        if want is not None and r.stdout != want:
            raise SystemExit(f"{url} through {p.outbound}: {r.stdout!r}, log: {p.tail()}")

    try:
        pki = Pki(os.path.join(d, "pki"))
        backend = Backend()
        extra = {}
        if a.load:
            nginx_port = start_nginx(d, procs)
            bench = f"bench-svc:{nginx_port}"
            extra[bench] = nginx_port
        server, client, routes, svc = tool_files_pair(d, pki, backend, proxy, extra)
        ready(server)
        ready(client)
        for _ in range(3):
            ask(client, f"http://{svc}/")
        files_text = {}
        if a.only != "dest":
            time.sleep(a.settle)
            if a.text_blocks:
                files_text = text_blocks(client.p.pid, exe)
                if a.only == "files":
                    print(f"  files client text: {len(files_text)} blocks of 64 KiB resident:")
                    for b in sorted(files_text):
                        print(f"    {b:#x} {files_text[b][0]:>3} KiB resident, "
                              f"starts in {files_text[b][1]}")
            print(f"files mode, {a.threads} loop thread(s), idle {a.settle:g} s after 3 requests")
            report("files client", client.p.pid, exe, a.maps)
            report("files server", server.p.pid, exe, a.maps)
            if a.massif:
                snapshot(a.massif, "files client", client.p.pid)
            if a.malloc_info:
                malloc_info("files client", client.p.pid, client.log_path)
        if a.only == "files":
            return
        from hot_symbols import local_controller

        class Opts:
            routes, url = None, []
        o = Opts()
        local_controller(o, d, pki, backend, cluster)
        figures = []
        for run in range(a.runs):
            dest = proxy(f"dest{run}", [
                "--identity-mode", "certify", "--controller", o.controller,
                "--token-file", o.token_file, "--identity", o.identity,
                "--trust-anchors", o.anchors, "--destination", o.controller,
                "--routes", routes])
            ready(dest)
            for _ in range(3):
                ask(dest, f"http://{svc}/")
                # web.mc's workload (127.0.0.99:4143) runs no proxy: the route is
                # resolved by the destination API, the connection is refused.
                ask(dest, "http://web.mc.svc.cluster.local:80/", want=None)
            time.sleep(a.settle)
            print(f"certify + destination, run {run + 1}, {a.threads} loop thread(s), idle "
                  f"{a.settle:g} s after 3 + 3 requests")
            figures.append(report("certify+destination", dest.p.pid, exe, a.maps))
            if a.massif:
                snapshot(a.massif, f"certify+destination {run + 1}", dest.p.pid)
            if a.malloc_info:
                malloc_info("certify+destination", dest.p.pid, dest.log_path)
            if a.text_blocks:
                tb = text_blocks(dest.p.pid, exe)
                extra = sorted(b for b in tb if b not in files_text)
                print(f"  text: {len(tb)} blocks of 64 KiB resident, {len(files_text)} in the "
                      f"files client; only here ({len(extra)}):")
                for b in extra:
                    print(f"    {b:#x} {tb[b][0]:>3} KiB resident, starts in {tb[b][1]}")
                gone = sorted(b for b in files_text if b not in tb)
                print(f"  and {len(gone)} resident in the files client only")
            if a.load:
                r = subprocess.run(
                    [os.path.join(a.build, "bench", "loadgen"), "--proxy", dest.outbound,
                     "--target", f"127.0.0.1:{nginx_port}", "--host", bench, "--max",
                     "--conns", "32", "--duration", str(a.load),
                     "--pids", f"{dest.p.pid},{server.p.pid}"],
                    capture_output=True, text=True, timeout=a.load + 60)
                print(f"  at load (certify+destination proxy, server proxy): "
                      f"{r.stdout.strip() or r.stderr.strip()}")
            dest.kill(signal.SIGTERM, timeout=30)
            procs.remove(dest)
        if a.runs > 1:
            print(f"certify+destination VmRSS over {a.runs} runs: min {min(figures)} "
                  f"max {max(figures)} KiB")
    finally:
        for p in procs:
            p.kill(signal.SIGTERM, timeout=30)
        for stop in reversed(cluster):
            stop()
        if backend is not None:
            backend.shutdown()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
