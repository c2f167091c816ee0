"""Helpers for the strait-proxy integration tests: test certificates, a small
HTTP/1.1 backend (with WebSocket echo), and proxy processes on loopback."""
import base64
import hashlib
import json
import os
import re
import socket
import socketserver
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from conftest import Proc, binary  # noqa: E402

DOMAIN = "cluster.local"
NS = "test"


def ident(sa, ns=NS):
    return f"{sa}.{ns}.serviceaccount.identity.strait.{DOMAIN}"


class Pki:
    """A trust anchor with an issuer, and workload certificates from it."""

    def __init__(self, d, name="anchor"):
        self.dir = d
        subprocess.run([binary("strait-proxy-testpki"), "ca", d, name], check=True)
        self.anchor = os.path.join(d, "anchor.pem")

    def leaf(self, identity, name, expired=False):
        out = os.path.join(self.dir, name)
        args = [binary("strait-proxy-testpki"), "leaf", self.dir, identity, out]
        if expired:
            args.append("expired")
        subprocess.run(args, check=True)
        return out + ".crt", out + ".key"


class Backend(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """A raw HTTP/1.1 app: answers with JSON about the request it saw.

    GET /slow?ms=N waits; /close-early closes without an answer;
    /answer-then-close?ms=N answers (keep-alive by its headers), waits N ms
    and closes; POST bodies
    (content-length or chunked) are hashed, not stored; a WebSocket upgrade
    echoes text frames."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), BackendHandler)
        self.port = self.server_address[1]
        self.requests = []
        self.conns = 0
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()


class BackendHandler(socketserver.BaseRequestHandler):
    def readline(self):
        while b"\r\n" not in self.buf:
            d = self.request.recv(65536)
            if not d:
                raise EOFError
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_exact(self, n, h=None):
        while n > 0:
            if not self.buf:
                self.buf = self.request.recv(1 << 20)
                if not self.buf:
                    raise EOFError
            take = self.buf[:n]
            self.buf = self.buf[len(take):]
            n -= len(take)
            if h is not None:
                h.update(take)

    def handle(self):
        self.buf = b""
        with self.server.lock:
            self.server.conns += 1
        try:
            while self.one():
                pass
        except (EOFError, ConnectionError):
            pass

    def one(self):
        line = self.readline()
        method, target, version = line.decode().split(" ")
        headers = []
        while True:
            l = self.readline()
            if not l:
                break
            k, v = l.decode().split(":", 1)
            headers.append((k.strip().lower(), v.strip()))
        hd = dict(headers)
        h = hashlib.sha256()
        length = 0
        trailers = {}
        if hd.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(self.readline().split(b";")[0], 16)
                if size == 0:
                    while True:
                        t = self.readline()
                        if not t:
                            break
                        k, v = t.decode().split(":", 1)
                        trailers[k.strip().lower()] = v.strip()
                    break
                self.read_exact(size, h)
                length += size
                self.readline()
        elif "content-length" in hd:
            length = int(hd["content-length"])
            if hd.get("expect", "").lower() == "100-continue":
                self.request.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.read_exact(length, h)
        info = {"method": method, "target": target, "headers": hd, "length": length,
                "sha256": h.hexdigest(), "trailers": trailers,
                "chunked": hd.get("transfer-encoding") == "chunked"}
        with self.server.lock:
            self.server.requests.append(info)
        path = target.split("?")[0]
        if hd.get("upgrade", "").lower() == "websocket":
            self.websocket(hd)
            return False
        if path == "/close-early":
            return False
        if path == "/slow":
            ms = int(target.split("ms=")[1]) if "ms=" in target else 500
            time.sleep(ms / 1000)
        if path.startswith("/status/"):
            status = int(path.split("/")[2])
        else:
            status = 200
        if path == "/big":
            n = int(target.split("n=")[1])
            self.request.sendall(f"HTTP/1.1 200 OK\r\ncontent-length: {n}\r\n\r\n".encode())
            chunk = b"x" * 65536
            while n > 0:
                self.request.sendall(chunk[:n])
                n -= min(n, len(chunk))
            return True
        if path == "/chunked-trailers":
            self.request.sendall(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n"
                                 b"trailer: x-checksum\r\n\r\n5\r\nhello\r\n6\r\n world\r\n"
                                 b"0\r\nx-checksum: abc\r\n\r\n")
            return True
        body = json.dumps(info).encode()
        answer = (f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
                  f"content-length: {len(body)}\r\nx-backend: yes\r\n\r\n".encode() + body)
        if path == "/answer-then-close":
            ms = int(urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)
                     .get("ms", ["0"])[0])
            if ms == 0:
                # Corked, the answer and the FIN leave in one segment: the
                # proxy sees the answer and the close in one event.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
                self.request.sendall(answer)
                self.request.shutdown(socket.SHUT_WR)
            else:
                self.request.sendall(answer)
                time.sleep(ms / 1000)
            return False
        self.request.sendall(answer)
        return hd.get("connection", "").lower() != "close"

    def websocket(self, hd):
        key = hd["sec-websocket-key"]
        acc = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        self.request.sendall(
            ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
             f"Connection: Upgrade\r\nSec-WebSocket-Accept: {acc}\r\n\r\n").encode())
        while True:
            hdr = self.take(2)
            op, ln = hdr[0] & 0x0f, hdr[1] & 0x7f
            if ln == 126:
                ln = int.from_bytes(self.take(2), "big")
            mask = self.take(4) if hdr[1] & 0x80 else b"\0\0\0\0"
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.take(ln)))
            if op == 8:
                self.request.sendall(b"\x88\x00")
                return
            self.request.sendall(bytes([0x81, len(data)]) + data)

    def take(self, n):
        while len(self.buf) < n:
            d = self.request.recv(65536)
            if not d:
                raise EOFError
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


class Proxy:
    """One strait-proxy process; addresses come from its "listening" line."""

    def __init__(self, workdir, name, cert=None, key=None, anchor=None, routes=None,
                 extra=()):
        args = [binary("strait-proxy"), "--outbound", "127.0.0.1:0", "--inbound",
                "127.0.0.1:0", "--admin", "127.0.0.1:0", "--namespace", NS,
                "--reload-interval-ms", "100"]
        if cert:
            args += ["--identity-cert", cert, "--identity-key", key, "--trust-anchors", anchor]
        if routes:
            args += ["--routes", routes]
        args += list(extra)
        self.proc = Proc(args, os.path.join(workdir, f"{name}.log"))
        m = self.proc.wait_line(r"outbound=(\S+) inbound=(\S+) admin=(\S+)")
        self.outbound, self.inbound, self.admin = m.group(1), m.group(2), m.group(3)
        self.inbound_port = int(self.inbound.rsplit(":", 1)[1])

    def get_admin(self, path):
        try:
            with urllib.request.urlopen(f"http://{self.admin}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def wait_ready(self, timeout=60):
        """Polls /ready until it answers 200. The timeout is generous: a sanitizer build on a
        busy machine can take seconds to load its identity and routes."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.get_admin("/ready")
                if last[0] == 200:
                    return
            except OSError as e:  # a slow admin thread: connect or read timed out
                last = repr(e)
            if self.proc.p.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"proxy not ready: {last}; exit={self.proc.p.poll()}; "
                             f"{self.proc.tail()}")

    def metrics(self):
        return self.get_admin("/metrics")[1]

    def stop(self):
        rc = self.proc.kill()
        with open(self.proc.log_path, "rb") as f:
            log = f.read()
        # Under the sanitizer build a report fails the test that owned the proxy.
        for bad in (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer", b"runtime error:"):
            assert bad not in log, f"{self.proc.log_path}: {log[log.find(bad):][:3000]!r}"
        return rc


def sanitized():
    """True when the binaries were built with ASan (RSS figures mean nothing then)."""
    with open(binary("strait-proxy"), "rb") as f:
        return b"__asan_init" in f.read()


def metric(text, name, **labels):
    """Sums the samples of <name> whose labels include <labels>."""
    total = 0
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+)\{(.*)\} (\d+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', m.group(2)))
        if all(got.get(k) == str(v) for k, v in labels.items()):
            total += int(m.group(3))
    return total


def write_routes(path, services=None, splits=None):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"services": services or {}, "splits": splits or {}}, f)
    os.replace(tmp, path)


def curl(*args, timeout=60):
    return subprocess.run(["curl", "-sS", "--max-time", str(timeout), *args],
                          capture_output=True, timeout=timeout + 10)


# ---- for the tools (hot_symbols.py, measure_rss.py) ---------------------------------

def tool_proxy(cmd, log_path, timeout=60):
    """Starts strait-proxy by <cmd> (the binary and its arguments, perhaps behind a
    wrapper such as valgrind) and waits for its listening line; the process gets
    .outbound, .inbound and .admin."""
    p = Proc(cmd, log_path)
    m = p.wait_line(r"outbound=(\S+) inbound=(\S+) admin=(\S+)", timeout=timeout)
    p.outbound, p.inbound, p.admin = m.group(1), m.group(2), m.group(3)
    return p


def tool_wait_ready(p, tries=300):
    """Polls the admin /ready of a tool_proxy() every 0.1 s, <tries> times; exits if it
    never answers 200."""
    for _ in range(tries):
        if curl("-o", "/dev/null", "-w", "%{http_code}", f"http://{p.admin}/ready",
                timeout=10).stdout == b"200":
            return
        time.sleep(0.1)
    raise SystemExit(f"proxy not ready: {p.tail()}")


def tool_files_pair(d, pki, backend, start, extra_services=None):
    """The files-mode pair the tools run: a server proxy with no routes, and a client
    proxy whose routes file sends backend-svc:<port> (and <extra_services>) to the
    server's inbound port. <start>(name, args) starts one proxy. Returns (server,
    client, routes file, the backend's authority); the caller waits for them to be
    ready."""
    cert_b, key_b = pki.leaf(ident("backend"), "backend")
    cert_a, key_a = pki.leaf(ident("client"), "client")
    empty = os.path.join(d, "empty.json")
    write_routes(empty)
    server = start("server", ["--identity-cert", cert_b, "--identity-key", key_b,
                              "--trust-anchors", pki.anchor, "--routes", empty])
    routes = os.path.join(d, "routes.json")
    svc = f"backend-svc:{backend.port}"
    ports = {svc: backend.port, **(extra_services or {})}
    write_routes(routes, services={
        authority: {"endpoints": [{"addr": server.inbound, "identity": ident("backend"),
                                   "target_port": port}]}
        for authority, port in ports.items()})
    client = start("client", ["--identity-cert", cert_a, "--identity-key", key_a,
                              "--trust-anchors", pki.anchor, "--routes", routes])
    return server, client, routes, svc


def raw(addr, data, timeout=5.0, read_all=True):
    """Sends raw bytes to ADDR and returns what comes back until close or timeout."""
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout)
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        return b"<reset>"
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
            if not read_all:
                break
    except socket.timeout:
        out += b"<timeout>"
    except ConnectionResetError:
        out += b"<reset>"
    s.close()
    return out


# ---- certify mode ------------------------------------------------------------------


def free_port():
    """A loopback port that was free a moment ago (for a server started later)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def hold_port(shared=False):
    """A socket bound to a loopback port and not listening: connections to the port are
    refused, and no other process can take it while the socket is open (close it when
    done). With <shared>, the socket has SO_REUSEADDR and SO_REUSEPORT, as strait-proxy's
    listeners do, so a proxy of ours can bind the same port, again and again, while the
    hold keeps everyone else off it between runs. Returns (socket, port)."""
    s = socket.socket()
    if shared:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


def certify_args(controller, anchor, token_file, identity, mode="certify"):
    """The flags of a proxy that certifies with the controller at <controller>."""
    return ["--identity-mode", mode, "--controller", controller, "--trust-anchors", anchor,
            "--token-file", token_file, "--identity", identity]


def gauge(text, name, **labels):
    """The value of the first sample of <name> with <labels> (floats too), or None."""
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(got.get(k) == str(v) for k, v in labels.items()):
            return float(m.group(3))
    return None


def series(text, name):
    """The label sets (dicts) of every sample of <name>."""
    out = []
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$", line)
        if m and m.group(1) == name:
            out.append(dict(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', m.group(2) or "")))
    return out
