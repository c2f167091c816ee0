"""Fixtures shared by the integration tests: start the real strait binaries on
loopback with throw-away state, and talk to them with real clients."""
import contextlib
import fcntl
import json
import os
import re
import signal
import subprocess
import tempfile
import time

import pytest

BIN = os.environ.get("STRAIT_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "build", "bin")


def binary(name):
    path = os.path.join(BIN, name)
    if not os.path.exists(path):
        pytest.fail(f"{path} is missing: build first")
    return path


class Proc:
    """A started binary whose stderr goes to a log file; stopped at teardown."""

    def __init__(self, args, log_path, env=None):
        self.args = args
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log,
                                  env=env, start_new_session=True)

    def wait_line(self, pattern, timeout=60.0):
        """Reads stdout until a whole line matches <pattern>; returns the match.

        Only complete lines count: a read can end in the middle of a line, and a
        half-written "port=41" would match as well as the "port=4123" it becomes.
        Lines read past the match are kept for the next call."""
        deadline = time.monotonic() + timeout
        os.set_blocking(self.p.stdout.fileno(), False)
        if not hasattr(self, "_out"):
            self._out = b""
        while True:
            while b"\n" in self._out:
                line, self._out = self._out.split(b"\n", 1)
                m = re.search(pattern, line.decode(errors="replace"))
                if m:
                    return m
            if time.monotonic() >= deadline:
                break
            chunk = self.p.stdout.read()
            if chunk:
                self._out += chunk
                continue
            if self.p.poll() is not None:
                chunk = self.p.stdout.read()
                if not chunk:
                    break
                self._out += chunk + (b"" if chunk.endswith(b"\n") else b"\n")
                continue
            time.sleep(0.02)
        raise AssertionError(
            f"{self.args[0]} did not print /{pattern}/ (exit={self.p.poll()}); "
            f"unread stdout={self._out!r}; log tail={self.tail()}")

    def tail(self, n=4000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def kill(self, sig=signal.SIGTERM, timeout=10.0):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
        self.log.close()
        return self.p.returncode


@contextlib.contextmanager
def cluster_create_lock(timeout=900.0):
    """Held around `strait cluster create`, machine-wide (a flock on a file in /tmp).

    create picks the lowest cluster number whose 127.N.0.1:6443 and 127.N.0.2:8086 it can
    bind, and only later starts the apiserver there: two creates at the same time (two
    test runs of this machine, each with its own $STRAIT_HOME; ctest's RESOURCE_LOCK
    covers only one run) pick the same number and the second apiserver exits with
    EADDRINUSE. create returns once its servers listen, so one at a time is enough."""
    path = os.path.join(tempfile.gettempdir(), "strait-tests-cluster-create.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise AssertionError(f"{path} stayed locked for {timeout} s")
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)  # releases the lock


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def check_sanitizers(proc):
    """Fails the test when a sanitizer build of the binary reported anything."""
    log = proc.tail(1 << 20)
    for mark in SANITIZER_MARKS:
        if mark in log:
            raise AssertionError(f"{proc.args[0]} reported a sanitizer error:\n{log[-6000:]}")


def wait_until(fn, timeout=60.0, what="condition"):
    """Polls <fn> until it returns something true and returns that; fails after <timeout> s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Apiserver:
    """One strait-apiserver with its own data dir and kubeconfig."""

    def __init__(self, workdir, extra_args=()):
        self.dir = workdir
        self.data = os.path.join(workdir, "data")
        self.kubeconfig = os.path.join(workdir, "kubeconfig")
        self.extra_args = list(extra_args)
        self.proc = None
        self.url = None

    def start(self, listen="127.0.0.1:0"):
        args = [binary("strait-apiserver"), "--data-dir", self.data, "--listen", listen,
                "--write-kubeconfig", self.kubeconfig] + self.extra_args
        self.proc = Proc(args, os.path.join(self.dir, "apiserver.log"))
        m = self.proc.wait_line(r"ready.*(https://[0-9.]+:\d+)")
        self.url = m.group(1)
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc:
            proc = self.proc
            rc = proc.kill(sig)
            self.proc = None
            check_sanitizers(proc)
            return rc
        return None

    def kubectl(self, *args, input=None, check=True, timeout=60):
        """Runs kubectl against this apiserver; returns CompletedProcess."""
        cmd = ["kubectl", "--kubeconfig", self.kubeconfig] + list(args)
        r = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr}")
        return r

    def kubectl_json(self, *args):
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def token_kubeconfig(self, path, token, namespace="strait"):
        """Writes a kubeconfig (0600) at <path> for this apiserver with bearer <token>, as a
        service account's would be (the CA from the admin kubeconfig)."""
        with open(self.kubeconfig) as f:
            ca = re.search(r"certificate-authority-data:\s*(\S+)", f.read()).group(1)
        with open(path, "w") as f:
            f.write(f"""apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {{server: "{self.url}", certificate-authority-data: {ca}}}
users:
- name: u
  user: {{token: "{token}"}}
contexts:
- name: ctx
  context: {{cluster: c, user: u, namespace: {namespace}}}
current-context: ctx
""")
        os.chmod(path, 0o600)
        return path

    def admin_token(self):
        with open(self.kubeconfig) as f:
            m = re.search(r"token:\s*\"?([^\s\"]+)", f.read())
        return m.group(1)


@pytest.fixture
def workdir():
    with tempfile.TemporaryDirectory(prefix="strait-it-") as d:
        yield d


@pytest.fixture
def apiserver(workdir):
    a = Apiserver(workdir).start()
    yield a
    a.stop()
