#!/usr/bin/python3
"""A small stand-in for an external Kubernetes API server, for lib/kube's tests.

It serves one resource (core v1 configmaps) over HTTPS with bearer-token auth
and speaks the list/watch protocol: paginated lists with `limit`/`continue`,
watches as chunked streams of JSON lines starting after `resourceVersion`,
BOOKMARK events, ERROR events with code 410 for expired versions, and
Kubernetes Status bodies for errors. Control endpoints under /_control/ let a
test change its state behind the watchers' backs, expire history, end or cut
streams, and rotate the accepted token.

The stream controls (cut, expire, end, bookmark) act on the streams that are
open when they arrive: a stream snapshots the generations when it opens, so a
control sent before the server has seen a watch request does not touch that
watch. A client that has just started a watch is not yet known to be open
here, so tests first wait for /_control/streams?ns=NS to count it. A stream
leaves that count in the same locked section in which it sends its last bytes
(so a client that has seen the end never finds its old stream counted), and
when its client has gone away.

Usage: fake_apiserver.py WORKDIR. Prints "PORT <n> CA <path>" when ready.
"""
import json
import os
import select
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Store:
    def __init__(self):
        self.lock = threading.Condition()
        self.objs = {}        # (ns, name) -> object
        self.rv = 100
        self.events = []      # (rv, type, object)
        self.compacted = 0    # watches from versions below this get 410
        self.token = "tok-1"
        self.cut_gen = 0      # bumping it cuts every watch stream abruptly
        self.expire_gen = 0   # bumping it sends ERROR 410 and ends every watch stream
        self.end_gen = 0      # bumping it ends every watch stream cleanly
        self.bookmark_gen = 0
        self.streams = {}     # id -> namespace (None: all) of each open watch stream
        self.next_stream = 0

    def bump(self):
        self.rv += 1
        return str(self.rv)

    def record(self, typ, obj):
        self.events.append((int(obj["metadata"]["resourceVersion"]), typ, json.loads(json.dumps(obj))))
        self.lock.notify_all()


STORE = Store()


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients that hang up (timeouts, cut streams) are expected here


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def match_labels(obj, selector):
    if not selector:
        return True
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in selector.split(","):
        k, _, v = term.partition("=")
        if labels.get(k) != v:
            return False
    return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send_json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n)) if n else None

    def route(self):
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        parts = [urllib.parse.unquote(p) for p in url.path.split("/") if p]
        return parts, q

    def client_cn(self):
        peer = self.connection.getpeercert() or {}
        for rdn in peer.get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    return v
        return None

    def authorized(self):
        if self.headers.get("Authorization") == "Bearer " + STORE.token:
            return True
        if self.client_cn() == "cert-user":
            return True
        self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
        return False

    def control(self, parts, q):
        s = STORE
        what = parts[1]
        with s.lock:
            if what in ("sleep", "whoami"):
                pass
            elif what == "streams":
                ns = q.get("ns")
                n = sum(1 for v in s.streams.values() if ns is None or v == ns)
                return self.send_json(200, {"ok": True, "streams": n})
            elif what == "token":
                s.token = q["value"]
            elif what == "compact":
                s.compacted = s.rv
                s.events = []
            elif what == "cut":
                s.cut_gen += 1
            elif what == "expire":
                s.expire_gen += 1
            elif what == "end":
                s.end_gen += 1
            elif what == "bookmark":
                s.bookmark_gen += 1
            elif what == "silent_delete":
                s.objs.pop((q["ns"], q["name"]), None)
                s.bump()
            elif what == "silent_label":
                obj = s.objs[(q["ns"], q["name"])]
                obj["metadata"].setdefault("labels", {})[q["key"]] = q["value"]
                obj["metadata"]["resourceVersion"] = s.bump()
            s.lock.notify_all()
        if what == "sleep":
            time.sleep(int(q.get("ms", "1000")) / 1000)
        self.send_json(200, {"ok": True, "rv": str(s.rv), "cn": self.client_cn()})

    def do_GET(self):
        parts, q = self.route()
        if parts[:1] == ["_control"]:
            return self.control(parts, q)
        if not self.authorized():
            return
        ns, name = self.parse_target(parts)
        if ns is False:
            return self.send_json(404, status(404, "NotFound", "the server could not find the requested resource"))
        if name is not None:
            with STORE.lock:
                obj = STORE.objs.get((ns, name))
            if obj is None:
                return self.send_json(404, status(404, "NotFound", f'configmaps "{name}" not found'))
            return self.send_json(200, obj)
        if q.get("watch") in ("1", "true"):
            return self.watch(ns, q)
        return self.list(ns, q)

    def parse_target(self, parts):
        """Returns (namespace or None, name or None), or (False, None) for other paths."""
        if parts[:2] != ["api", "v1"]:
            return False, None
        rest = parts[2:]
        if rest[:1] == ["namespaces"] and len(rest) >= 3 and rest[2] == "configmaps":
            return rest[1], (rest[3] if len(rest) > 3 else None)
        if rest == ["configmaps"]:
            return None, None
        return False, None

    def list(self, ns, q):
        s = STORE
        limit = int(q.get("limit", "0"))
        with s.lock:
            if "continue" in q:
                snap, _, off = q["continue"].partition(":")
                if int(snap) < s.compacted:
                    return self.send_json(410, status(410, "Expired",
                                                      "The provided continue parameter is too old"))
                off = int(off)
            else:
                snap, off = str(s.rv), 0
            items = [o for (n, _), o in sorted(s.objs.items())
                     if (ns is None or n == ns) and match_labels(o, q.get("labelSelector"))]
            page = items[off:off + limit] if limit else items[off:]
            meta = {"resourceVersion": snap}
            if limit and off + limit < len(items):
                meta["continue"] = f"{snap}:{off + limit}"
                meta["remainingItemCount"] = len(items) - off - limit
            body = {"kind": "ConfigMapList", "apiVersion": "v1", "metadata": meta,
                    "items": json.loads(json.dumps(page))}
        self.send_json(200, body)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def client_gone(self):
        """True when the client closed the connection (a watch client sends nothing more)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def watch(self, ns, q):
        s = STORE
        timeout = int(q.get("timeoutSeconds", "300"))
        since = int(q.get("resourceVersion") or "0")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        deadline = time.monotonic() + timeout
        with s.lock:
            if since and since < s.compacted:
                ev = {"type": "ERROR", "object": status(410, "Expired",
                                                        f"too old resource version: {since} ({s.compacted})")}
                self.chunk(json.dumps(ev).encode() + b"\n")
                self.wfile.write(b"0\r\n\r\n")
                return
            gens = (s.cut_gen, s.expire_gen, s.end_gen, s.bookmark_gen)
            sid = s.next_stream
            s.next_stream += 1
            s.streams[sid] = ns
            try:
                self.stream(ns, q, since, gens, deadline)
            finally:
                s.streams.pop(sid, None)

    def stream(self, ns, q, since, gens, deadline):
        """The body of a watch; runs with STORE.lock held except while waiting."""
        s = STORE
        if not since:
            since = s.rv
        sent = since
        while True:
            for rv, typ, obj in s.events:
                if rv > sent and (ns is None or obj["metadata"].get("namespace") == ns) \
                        and match_labels(obj, q.get("labelSelector")):
                    self.chunk(json.dumps({"type": typ, "object": obj}).encode() + b"\n")
                sent = max(sent, rv)
            if s.cut_gen != gens[0]:
                # An abrupt end: no final chunk, the connection just goes away.
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if s.expire_gen != gens[1]:
                ev = {"type": "ERROR", "object": status(410, "Expired", "too old resource version")}
                self.chunk(json.dumps(ev).encode() + b"\n")
                break
            if s.end_gen != gens[2] or time.monotonic() >= deadline:
                break
            if self.client_gone():
                self.close_connection = True
                return
            if s.bookmark_gen != gens[3]:
                gens = (gens[0], gens[1], gens[2], s.bookmark_gen)
                bm = {"kind": "ConfigMap", "apiVersion": "v1",
                      "metadata": {"resourceVersion": str(s.rv)}}
                self.chunk(json.dumps({"type": "BOOKMARK", "object": bm}).encode() + b"\n")
                sent = s.rv
            s.lock.wait(0.05)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_POST(self):
        parts, q = self.route()
        if not self.authorized():
            return
        ns, name = self.parse_target(parts)
        obj = self.read_body()
        if ns is False or name is not None or ns is None:
            return self.send_json(405, status(405, "MethodNotAllowed", "method not allowed"))
        name = obj.get("metadata", {}).get("name", "")
        with STORE.lock:
            if (ns, name) in STORE.objs:
                return self.send_json(409, status(409, "AlreadyExists",
                                                  f'configmaps "{name}" already exists'))
            obj.setdefault("metadata", {})["namespace"] = ns
            obj["metadata"]["resourceVersion"] = STORE.bump()
            obj["kind"], obj["apiVersion"] = "ConfigMap", "v1"
            STORE.objs[(ns, name)] = obj
            STORE.record("ADDED", obj)
        self.send_json(201, obj)

    def modify(self, fn):
        parts, q = self.route()
        if not self.authorized():
            return
        ns, name = self.parse_target(parts)
        body = self.read_body()
        with STORE.lock:
            cur = STORE.objs.get((ns, name)) if ns else None
            if cur is None:
                return self.send_json(404, status(404, "NotFound", f'configmaps "{name}" not found'))
            new, err = fn(cur, body)
            if err:
                return self.send_json(err[0], status(err[0], err[1], err[2]))
            new["metadata"]["resourceVersion"] = STORE.bump()
            STORE.objs[(ns, name)] = new
            STORE.record("MODIFIED", new)
        self.send_json(200, new)

    def do_PUT(self):
        def put(cur, body):
            want = body.get("metadata", {}).get("resourceVersion")
            if want and want != cur["metadata"]["resourceVersion"]:
                return None, (409, "Conflict", "the object has been modified; please apply your "
                              "changes to the latest version and try again")
            body["metadata"]["namespace"] = cur["metadata"]["namespace"]
            return body, None
        self.modify(put)

    def do_PATCH(self):
        ctype = self.headers.get("Content-Type", "")
        if ctype != "application/merge-patch+json":
            self.read_body()
            return self.send_json(415, status(415, "UnsupportedMediaType",
                                              f"the body of the request was in an unknown format: {ctype}"))

        def merge(dst, patch):
            for k, v in patch.items():
                if v is None:
                    dst.pop(k, None)
                elif isinstance(v, dict) and isinstance(dst.get(k), dict):
                    merge(dst[k], v)
                else:
                    dst[k] = v
            return dst
        self.modify(lambda cur, body: (merge(json.loads(json.dumps(cur)), body), None))

    def do_DELETE(self):
        parts, q = self.route()
        if not self.authorized():
            return
        ns, name = self.parse_target(parts)
        with STORE.lock:
            obj = STORE.objs.pop((ns, name), None) if ns else None
            if obj is None:
                return self.send_json(404, status(404, "NotFound", f'configmaps "{name}" not found'))
            obj["metadata"]["resourceVersion"] = STORE.bump()
            STORE.record("DELETED", obj)
        self.send_json(200, obj)


def main():
    work = sys.argv[1]
    cert, key = os.path.join(work, "server.crt"), os.path.join(work, "server.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=fake-kube",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:fake.kube.test",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    # A client certificate signed by the server's self-signed certificate, for mTLS tests.
    ccert, ckey, csr = (os.path.join(work, n) for n in ("client.crt", "client.key", "client.csr"))
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=cert-user",
                    "-keyout", ckey, "-out", csr], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", cert, "-CAkey", key,
                    "-CAcreateserial", "-days", "1", "-out", ccert], check=True, capture_output=True)
    srv = Server(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.load_verify_locations(cert)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print(f"PORT {srv.server_address[1]} CA {cert}", flush=True)
    # Stop when the test goes away (stdin closes), so no server outlives its test.
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
