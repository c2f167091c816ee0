"""strait-terminus, the demo backend: the real binary on loopback, talked to
with curl, http.client and raw sockets."""
import concurrent.futures
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import Proc, binary

UID_RE = re.compile(r"^in:http-sid:terminus-grpc:-1-h1:(\d+)-(\d+)$")


class Terminus:
    """One strait-terminus with its stderr in a log file."""

    def __init__(self, workdir, *args, env=None, name="terminus"):
        self.proc = Proc([binary("strait-terminus")] + list(args),
                         os.path.join(workdir, name + ".log"), env=env)
        m = self.proc.wait_line(r"^strait-terminus listening on (127\.0\.0\.1:(\d+))$")
        self.addr = m.group(1)
        self.port = int(m.group(2))
        self.url = f"http://{self.addr}"

    def stop(self, sig=signal.SIGTERM):
        return self.proc.kill(sig)


@pytest.fixture
def start(workdir):
    started = []

    def _start(*args, env=None):
        t = Terminus(workdir, "--listen", "127.0.0.1:0", *args, env=env,
                     name=f"terminus{len(started)}")
        started.append(t)
        return t

    yield _start
    for t in started:
        rc = t.stop()
        log = t.proc.tail(100000)
        # Sanitizer builds report leaks and errors at exit: none are allowed.
        assert "Sanitizer" not in log and "runtime error" not in log, log
        assert rc == 0, (rc, log[-2000:])


def curl(*args, timeout=30):
    """Runs curl; returns (status, body) from `-w` with the body before it."""
    r = subprocess.run(["curl", "-sS", "--max-time", "20", "-w", "\n%{http_code}"] + list(args),
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr
    body, _, code = r.stdout.rpartition("\n")
    return int(code), body


def check_answer(body, port, payload):
    doc = json.loads(body)
    m = UID_RE.match(doc["requestUID"])
    assert m, doc
    assert int(m.group(1)) == port
    assert doc["payload"] == payload
    return doc


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_get_answers_seed_json(start):
    t = start("--payload", "hello-local-0")
    code, body = curl(t.url + "/")
    assert code == 200
    doc = check_answer(body, t.port, "hello-local-0")
    assert set(doc) == {"requestUID", "payload"}
    # Any path and query get the same kind of answer, each with its own UID.
    code2, body2 = curl(t.url + "/some/path?x=1")
    assert code2 == 200
    doc2 = check_answer(body2, t.port, "hello-local-0")
    assert doc2["requestUID"] != doc["requestUID"]


def test_content_type_is_json(start):
    t = start()
    r = subprocess.run(["curl", "-sS", "-D", "-", "-o", "/dev/null", t.url + "/"],
                       capture_output=True, text=True, timeout=30)
    assert re.search(r"(?im)^content-type:\s*application/json\s*$", r.stdout), r.stdout


def test_post_body_is_accepted_and_ignored(start, workdir):
    t = start("--payload", "p")
    code, body = curl("-X", "POST", "-d", "some form data", t.url + "/submit")
    assert code == 200
    check_answer(body, t.port, "p")
    # A larger binary body, sent with chunked encoding, changes nothing either.
    path = os.path.join(workdir, "blob")
    with open(path, "wb") as f:
        f.write(os.urandom(300 * 1024))
    code, body = curl("-H", "Transfer-Encoding: chunked", "--data-binary", "@" + path,
                      t.url + "/upload")
    assert code == 200
    check_answer(body, t.port, "p")
    code, body = curl("-X", "PUT", "--data-binary", "@" + path, t.url + "/x")
    assert code == 200
    check_answer(body, t.port, "p")


def test_body_over_cap_is_refused(start, workdir):
    t = start()
    path = os.path.join(workdir, "big")
    with open(path, "wb") as f:
        f.write(b"x" * (5 << 20))
    code, _ = curl("--data-binary", "@" + path, t.url + "/")
    assert code == 413
    # The server is still fine afterwards.
    code, body = curl(t.url + "/")
    assert code == 200


def test_default_payload_and_env_payload(start):
    env = dict(os.environ)
    env.pop("TERMINUS_PAYLOAD", None)
    t = start(env=env)
    check_answer(curl(t.url)[1], t.port, "hello")
    env["TERMINUS_PAYLOAD"] = "hello-remote-1"
    t2 = start(env=env)
    check_answer(curl(t2.url)[1], t2.port, "hello-remote-1")
    # The flag wins over the environment.
    t3 = start("--payload", "from-flag", env=env)
    check_answer(curl(t3.url)[1], t3.port, "from-flag")


def test_payload_is_json_escaped(start):
    payload = 'quote " backslash \\ tab \t é ✓'
    t = start("--payload", payload)
    check_answer(curl(t.url)[1], t.port, payload)


def test_keep_alive_serves_many_requests_on_one_connection(start):
    t = start("--payload", "ka")
    conn = http.client.HTTPConnection("127.0.0.1", t.port, timeout=10)
    try:
        conn.request("GET", "/")
        r = conn.getresponse()
        check_answer(r.read(), t.port, "ka")
        sock = conn.sock
        assert sock is not None
        local = sock.getsockname()
        for i in range(5):
            method = "POST" if i % 2 else "GET"
            conn.request(method, f"/{i}", body=b"b" * i if method == "POST" else None)
            r = conn.getresponse()
            assert r.status == 200
            assert r.getheader("Connection", "").lower() != "close"
            check_answer(r.read(), t.port, "ka")
            # http.client reconnects silently when the server closes: the
            # same socket and local port show it did not.
            assert conn.sock is sock
            assert conn.sock.getsockname() == local
    finally:
        conn.close()


def test_curl_reuses_the_connection(start):
    t = start()
    r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-o", "/dev/null",
                        "-w", "%{num_connects}\n", t.url + "/a", t.url + "/b"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "0"]


def read_response(f):
    """Reads one response from a socket file: (status, headers, body)."""
    status = int(f.readline().split()[1])
    headers = {}
    while True:
        line = f.readline().decode().rstrip("\r\n")
        if not line:
            break
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers


def test_head_has_length_but_no_body(start):
    t = start("--payload", "head-check")
    code, get_body = curl(t.url + "/")
    assert code == 200
    with socket.create_connection(("127.0.0.1", t.port), timeout=10) as s:
        # A HEAD and then a GET on the same connection: if the HEAD answer
        # carried a body, the GET's status line would not come next.
        s.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        f = s.makefile("rb")
        status, headers = read_response(f)
        assert status == 200
        # The same length as a GET answer (the UID digits vary, the size barely).
        assert abs(int(headers["content-length"]) - len(get_body.encode()) - 1) <= 10
        status, headers = read_response(f)
        assert status == 200
        body = f.read(int(headers["content-length"]))
        check_answer(body, t.port, "head-check")
    r = subprocess.run(["curl", "-sS", "-I", "-o", "/dev/null", "-w",
                        "%{http_code} %{size_download}", t.url + "/"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "200 0"


def test_fail_rate_one_answers_500(start):
    t = start("--fail-rate", "1", "--payload", "broken")
    for path in ("/", "/a", "/b"):
        code, body = curl(t.url + path)
        assert code == 500
        doc = check_answer(body, t.port, "broken")
        assert "error" in doc
    code, body = curl("-d", "x", t.url + "/")
    assert code == 500


def test_fail_rate_zero_and_half(start):
    t0 = start("--fail-rate", "0")
    codes = [curl(t0.url)[0] for _ in range(5)]
    assert codes == [200] * 5
    # With half the requests failing, 60 requests all alike has chance 2^-59.
    t = start("--fail-rate", "0.5")
    conn = http.client.HTTPConnection("127.0.0.1", t.port, timeout=10)
    seen = []
    try:
        for _ in range(60):
            conn.request("GET", "/")
            r = conn.getresponse()
            r.read()
            seen.append(r.status)
    finally:
        conn.close()
    assert set(seen) == {200, 500}


def test_latency_delays_answers(start):
    t = start("--latency-ms", "300", "--payload", "slow")
    for _ in range(2):
        began = time.monotonic()
        code, body = curl(t.url + "/")
        assert time.monotonic() - began >= 0.3
        assert code == 200
        check_answer(body, t.port, "slow")


def test_latency_does_not_serialize_requests(start):
    """Several delayed requests are held at once; each still waits the latency."""
    t = start("--latency-ms", "400", "--payload", "par")

    def one(i):
        began = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", t.port, timeout=20)
        try:
            conn.request("POST" if i % 2 else "GET", f"/{i}", body=b"x" if i % 2 else None)
            r = conn.getresponse()
            return r.status, r.read(), time.monotonic() - began
        finally:
            conn.close()

    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        results = list(ex.map(one, range(6)))
    for status, body, elapsed in results:
        assert status == 200
        check_answer(body, t.port, "par")
        assert elapsed >= 0.4


def test_latency_with_failures(start):
    t = start("--latency-ms", "200", "--fail-rate", "1")
    began = time.monotonic()
    code, _ = curl(t.url)
    assert code == 500
    assert time.monotonic() - began >= 0.2


def test_client_leaving_during_latency(start):
    t = start("--latency-ms", "500")
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", t.port), timeout=10)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        s.close()
    time.sleep(0.8)  # the timers of the gone clients fire into nothing
    code, _ = curl(t.url)
    assert code == 200
    assert t.proc.p.poll() is None


def test_listens_on_pod_ip_and_port_from_env(workdir):
    port = free_port()
    env = dict(os.environ, STRAIT_POD_IP="127.0.0.1", PORT=str(port), TERMINUS_PAYLOAD="envy")
    t = Terminus(workdir, env=env)
    try:
        assert t.port == port
        check_answer(curl(t.url)[1], port, "envy")
    finally:
        assert t.stop() == 0


def test_sigterm_drains_a_request_in_flight(start):
    t = start("--latency-ms", "700", "--payload", "drain", "--log-level", "debug")
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        fut = ex.submit(curl, t.url + "/in-flight")
        # The debug line shows the request arrived and its answer is held back.
        deadline = time.monotonic() + 10
        while "/in-flight" not in t.proc.tail() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "/in-flight" in t.proc.tail()
        os.killpg(t.proc.p.pid, signal.SIGTERM)
        code, body = fut.result(timeout=30)
    assert code == 200
    check_answer(body, t.port, "drain")
    assert t.proc.p.wait(timeout=15) == 0
    assert "draining" in t.proc.tail()


def test_second_signal_stops_at_once(start):
    """A second SIGTERM drops an answer still held back, cleanly, and exits 0."""
    t = start("--latency-ms", "60000", "--log-level", "debug")
    s = socket.create_connection(("127.0.0.1", t.port), timeout=30)
    try:
        s.sendall(b"GET /held HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = time.monotonic() + 10
        while "/held" not in t.proc.tail() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.killpg(t.proc.p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while "draining" not in t.proc.tail() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert t.proc.p.poll() is None  # still draining: the answer is held back
        os.killpg(t.proc.p.pid, signal.SIGTERM)
        assert t.proc.p.wait(timeout=10) == 0
        assert s.recv(1024) == b""  # closed without an answer
    finally:
        s.close()


def test_sigterm_idle_exits_zero(start):
    t = start()
    assert curl(t.url)[0] == 200
    assert t.stop(signal.SIGTERM) == 0
    # Nothing listens any more.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", t.port), timeout=2).close()


def test_requests_logged_at_debug_only(start):
    quiet = start()
    loud = start("--log-level", "debug")
    assert curl(quiet.url + "/quiet-path")[0] == 200
    assert curl("-d", "abc", loud.url + "/loud-path")[0] == 200
    quiet.stop()
    loud.stop()
    assert "/quiet-path" not in quiet.proc.tail()
    assert re.search(r"debug POST /loud-path from 127\.0\.0\.1:\d+, 3 body bytes: 200",
                     loud.proc.tail()), loud.proc.tail()


@pytest.mark.parametrize("args,env,pattern", [
    (["--bogus"], {}, r"unknown option --bogus"),
    (["--latency-ms"], {}, r"--latency-ms needs a value"),
    (["--latency-ms", "-5"], {}, r"--latency-ms takes"),
    (["--latency-ms", "abc"], {}, r"--latency-ms takes"),
    (["--latency-ms", "600001"], {}, r"--latency-ms takes"),
    (["--fail-rate", "1.5"], {}, r"--fail-rate takes"),
    (["--fail-rate", "-0.1"], {}, r"--fail-rate takes"),
    (["--fail-rate", "nan"], {}, r"--fail-rate takes"),
    (["--fail-rate", "1e-3"], {}, r"--fail-rate takes"),
    (["--fail-rate", ""], {}, r"--fail-rate takes"),
    (["--listen", "localhost:80"], {}, r"--listen takes"),
    (["--listen", "127.0.0.1"], {}, r"--listen takes"),
    (["--log-level", "loud"], {}, r"--log-level takes"),
    (["--listen", "127.0.0.1:0", "extra"], {}, r"unexpected argument"),
    ([], {"PORT": None}, r"\$PORT is not set"),
    ([], {"PORT": "99999"}, r"\$PORT is not a port"),
    ([], {"PORT": "80", "STRAIT_POD_IP": "not-an-ip"}, r"\$STRAIT_POD_IP"),
    (["--listen", "127.0.0.1:0", "--payload", "x" * 70000], {}, r"payload is longer"),
])
def test_bad_flags_exit_2_with_one_line(args, env, pattern):
    e = dict(os.environ)
    e.pop("PORT", None)
    e.pop("STRAIT_POD_IP", None)
    for k, v in env.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    r = subprocess.run([binary("strait-terminus")] + args, env=e, capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("strait-terminus: ")
    assert re.search(pattern, lines[0]), lines[0]
    assert "listening" not in r.stdout


def test_help_exits_zero():
    r = subprocess.run([binary("strait-terminus"), "--help"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 0
    assert "--fail-rate" in r.stdout and "--latency-ms" in r.stdout


def test_port_in_use_fails(start):
    t = start()
    r = subprocess.run([binary("strait-terminus"), "--listen", t.addr], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 1
    assert "listening" not in r.stdout
