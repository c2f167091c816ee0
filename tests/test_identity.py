"""Identity: `strait identity` (anchors, issuers, inspect) and the controller's
certify API against a real strait-apiserver, with certify-check (a driver of
the st_certify client) and raw HTTPS for the malformed cases."""
import base64
import http.client
import json
import os
import re
import ssl
import stat
import subprocess
import time
import urllib.request

import pytest

from conftest import Apiserver, Proc, binary

CRDS = os.path.join(os.path.dirname(__file__), "..", "crds")

TD = "cluster.local"
CTL_ID = f"strait-controller.strait.serviceaccount.identity.strait.{TD}"


def strait(*args, check=None):
    r = subprocess.run([binary("strait")] + list(args), capture_output=True, text=True,
                       timeout=60)
    if check is not None:
        assert r.returncode == check, f"strait {args}: rc={r.returncode}\n{r.stdout}{r.stderr}"
    return r


def one_line_error(r, pattern):
    lines = r.stderr.strip().splitlines()
    assert lines and lines[0].startswith("strait: "), r.stderr
    assert re.search(pattern, lines[0]), r.stderr


def make_pki(d, name="", lifetime=None):
    """A trust anchor and an issuer under it, as files in <d>."""
    a_crt, a_key = os.path.join(d, f"anchor{name}.crt"), os.path.join(d, f"anchor{name}.key")
    i_crt, i_key = os.path.join(d, f"issuer{name}.crt"), os.path.join(d, f"issuer{name}.key")
    strait("identity", "create-anchor", "--cert", a_crt, "--key", a_key, check=0)
    args = ["identity", "create-issuer", "--anchor-cert", a_crt, "--anchor-key", a_key,
            "--cert", i_crt, "--key", i_key]
    if lifetime:
        args += ["--lifetime", lifetime]
    strait(*args, check=0)
    return a_crt, a_key, i_crt, i_key


# ---- the CLI ---------------------------------------------------------------------


def test_cli_help_version_and_usage_errors():
    r = strait("--help", check=0)
    assert "identity" in r.stdout and "version" in r.stdout and "--context" in r.stdout
    r = strait("version", check=0)
    assert re.match(r"strait version \d+\.\d+\.\d+", r.stdout)
    r = strait("no-such-command", check=2)
    one_line_error(r, 'unknown command "no-such-command"')
    r = strait("identity", "frobnicate", check=2)
    one_line_error(r, "unknown identity command")
    r = strait("identity", "--help", check=0)
    assert "create-anchor" in r.stdout and "inspect" in r.stdout
    r = strait("--context", check=2)
    one_line_error(r, "needs a value")


def test_create_anchor_and_issuer(workdir):
    a_crt, a_key = os.path.join(workdir, "a.crt"), os.path.join(workdir, "a.key")
    r = strait("identity", "create-anchor", "--cert", a_crt, "--key", a_key,
               "--lifetime", "87600h", "--cn", "root.test", check=0)
    assert "wrote trust anchor" in r.stdout and "CN=root.test" in r.stdout
    assert stat.S_IMODE(os.stat(a_key).st_mode) == 0o600
    assert "BEGIN PRIVATE KEY" in open(a_key).read()

    r = strait("identity", "inspect", a_crt, check=0)
    assert "subject: CN=root.test" in r.stdout and "issuer: CN=root.test" in r.stdout
    assert "is_ca: true" in r.stdout and "key: EC P-256" in r.stdout
    assert re.search(r"^serial: [0-9A-F]+$", r.stdout, re.M)
    assert re.search(r"^sha256: [0-9a-f]{64}$", r.stdout, re.M)
    days = int(re.search(r"^days_left: (\d+)", r.stdout, re.M).group(1))
    assert 3640 <= days <= 3650

    # No overwrite without --force; the files stay as they were.
    before = open(a_key).read(), open(a_crt).read()
    r = strait("identity", "create-anchor", "--cert", a_crt, "--key", a_key, check=1)
    one_line_error(r, "a.key already exists; refusing to overwrite")
    other_key = os.path.join(workdir, "other.key")
    r = strait("identity", "create-anchor", "--cert", a_crt, "--key", other_key, check=1)
    one_line_error(r, "a.crt already exists")
    assert not os.path.exists(other_key)
    assert (open(a_key).read(), open(a_crt).read()) == before
    strait("identity", "create-anchor", "--cert", a_crt, "--key", a_key, "--force", check=0)
    assert open(a_key).read() != before[0]

    i_crt, i_key = os.path.join(workdir, "i.crt"), os.path.join(workdir, "i.key")
    r = strait("identity", "create-issuer", "--anchor-cert", a_crt, "--anchor-key", a_key,
               "--cert", i_crt, "--key", i_key, "--lifetime", "1h30m", check=0)
    assert "wrote issuer" in r.stdout and "CN=identity.strait.cluster.local" in r.stdout
    assert stat.S_IMODE(os.stat(i_key).st_mode) == 0o600
    r = strait("identity", "inspect", i_crt, "--anchors", a_crt, check=0)
    assert "issuer: CN=root.strait.cluster.local" in r.stdout
    assert "is_ca: true" in r.stdout and "pathlen: 0" in r.stdout
    assert "chains_to_anchors: yes" in r.stdout
    nb = re.search(r"^not_before: (\S+)", r.stdout, re.M).group(1)
    na = re.search(r"^not_after: (\S+)", r.stdout, re.M).group(1)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    life = time.mktime(time.strptime(na, fmt)) - time.mktime(time.strptime(nb, fmt))
    assert life == 90 * 60 + 20  # 1h30m plus the 20 s back-dating

    r = strait("identity", "create-issuer", "--anchor-cert", a_crt, "--anchor-key", a_key,
               "--cert", i_crt, "--key", i_key, check=1)
    one_line_error(r, "already exists")


def test_inspect_refusals(workdir):
    a_crt, a_key, i_crt, i_key = make_pki(workdir)
    b_crt, b_key, _, _ = make_pki(workdir, name="b")
    # Not chained to a foreign anchor: exit 1, still prints the certificate.
    r = strait("identity", "inspect", i_crt, "--anchors", b_crt, check=1)
    assert "chains_to_anchors: no" in r.stdout and "subject:" in r.stdout
    one_line_error(r, "does not chain to the anchors")
    # Missing and bad files.
    r = strait("identity", "inspect", os.path.join(workdir, "missing.crt"), check=1)
    one_line_error(r, "cannot read .*missing.crt")
    junk = os.path.join(workdir, "junk.crt")
    open(junk, "w").write("not a certificate\n")
    r = strait("identity", "inspect", junk, check=1)
    one_line_error(r, "cannot read .*junk.crt")
    r = strait("identity", "inspect", i_crt, "--anchors", junk, check=1)
    one_line_error(r, "cannot read the anchors")
    r = strait("identity", "inspect", check=2)
    one_line_error(r, "exactly one FILE")
    # An issuer from a key that is not the anchor's, or from a leaf that is no CA.
    r = strait("identity", "create-issuer", "--anchor-cert", a_crt, "--anchor-key", b_key,
               "--cert", os.path.join(workdir, "x.crt"), "--key", os.path.join(workdir, "x.key"),
               check=1)
    one_line_error(r, "is not the key of")
    assert not os.path.exists(os.path.join(workdir, "x.key"))
    r = strait("identity", "create-issuer", "--anchor-cert", junk, "--anchor-key", a_key,
               "--cert", os.path.join(workdir, "x.crt"), "--key", os.path.join(workdir, "x.key"),
               check=1)
    one_line_error(r, "cannot read the anchor certificate")
    # Durations: Go syntax, one-line usage errors.
    for bad in ("1d", "10", "-5h", "0s"):
        r = strait("identity", "create-anchor", "--cert", os.path.join(workdir, "y.crt"),
                   "--key", os.path.join(workdir, "y.key"), "--lifetime", bad, check=2)
        one_line_error(r, "--lifetime")
    r = strait("identity", "create-anchor", "--cert", a_crt, "--key", a_crt, check=2)
    one_line_error(r, "different files")


# ---- the certify API --------------------------------------------------------------


RBAC = """
apiVersion: v1
kind: Namespace
metadata: {name: strait}
---
apiVersion: v1
kind: Namespace
metadata: {name: emojivoto}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: strait-controller, namespace: strait}
---
apiVersion: v1
kind: Secret
metadata:
  name: strait-controller-token
  namespace: strait
  annotations: {kubernetes.io/service-account.name: strait-controller}
type: kubernetes.io/service-account-token
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: strait-identity}
rules:
- apiGroups: [authentication.k8s.io]
  resources: [tokenreviews]
  verbs: [create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: strait-identity}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: strait-identity}
subjects:
- {kind: ServiceAccount, name: strait-controller, namespace: strait}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: strait-identity, namespace: strait}
rules:
- apiGroups: [""]
  resources: [secrets, configmaps]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: strait-identity, namespace: strait}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: strait-identity}
subjects:
- {kind: ServiceAccount, name: strait-controller, namespace: strait}
"""


# What the controller's other services (destination, endpoints, leases) read
# and write; without it the controller's /ready waits for their caches.
CONTROLLER_RBAC = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: strait-destination}
rules:
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [endpoints]
  verbs: [get, list, watch, create, update, delete]
- apiGroups: [split.smi-spec.io]
  resources: [trafficsplits]
  verbs: [get, list, watch]
- apiGroups: [workload.strait.io]
  resources: [externalworkloads]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: strait-destination}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: strait-destination}
subjects:
- {kind: ServiceAccount, name: strait-controller, namespace: strait}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: strait-lease, namespace: strait}
rules:
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, create, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: strait-lease, namespace: strait}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: strait-lease}
subjects:
- {kind: ServiceAccount, name: strait-controller, namespace: strait}
"""


def sa_token(api, ns, name):
    """Creates ServiceAccount <name> with a token Secret; returns the token."""
    api.kubectl("apply", "-f", "-", input=f"""
apiVersion: v1
kind: ServiceAccount
metadata: {{name: {name}, namespace: {ns}}}
---
apiVersion: v1
kind: Secret
metadata:
  name: {name}-token
  namespace: {ns}
  annotations: {{kubernetes.io/service-account.name: {name}}}
type: kubernetes.io/service-account-token
""")
    for _ in range(100):
        s = api.kubectl_json("get", "secret", f"{name}-token", "-n", ns)
        if s.get("data", {}).get("token"):
            return base64.b64decode(s["data"]["token"]).decode()
        time.sleep(0.05)
    raise AssertionError(f"no token for {ns}/{name}")


def apply_issuer(api, i_crt, i_key):
    y = api.kubectl("create", "secret", "tls", "strait-identity-issuer", "-n", "strait",
                    "--cert", i_crt, "--key", i_key, "--dry-run=client", "-o", "yaml").stdout
    api.kubectl("apply", "-f", "-", input=y)


def apply_anchors(api, a_crt):
    y = api.kubectl("create", "configmap", "strait-identity-trust-roots", "-n", "strait",
                    f"--from-file=ca-bundle.crt={a_crt}", "--dry-run=client",
                    "-o", "yaml").stdout
    api.kubectl("apply", "-f", "-", input=y)


class Controller:
    def __init__(self, workdir, api, token):
        self.kubeconfig = api.token_kubeconfig(os.path.join(workdir, "controller.kubeconfig"),
                                               token)
        self.proc = Proc([binary("strait-controller"), "--kubeconfig", self.kubeconfig,
                          "--namespace", "strait", "--listen", "127.0.0.1:0",
                          "--admin", "127.0.0.1:0", "--log-level", "debug"],
                         os.path.join(workdir, "controller.log"))
        m = self.proc.wait_line(r"ready api=https://(\S+) admin=http://(\S+)")
        self.addr, self.admin = m.group(1), m.group(2)

    def admin_get(self, path):
        try:
            with urllib.request.urlopen(f"http://{self.admin}{path}", timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.admin_get("/ready")[0] == 200:
                return
            time.sleep(0.05)
        raise AssertionError(f"controller not ready: {self.admin_get('/ready')}; "
                             f"log: {self.proc.tail()}")

    def raw(self, body, path="/v1/certify", method="POST"):
        """One HTTPS request without verification; returns (status, parsed body)."""
        host, port = self.addr.rsplit(":", 1)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        c = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=20)
        try:
            c.request(method, path, body=body, headers={"Content-Type": "application/json"})
            r = c.getresponse()
            text = r.read().decode()
        finally:
            c.close()
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text

    def certify(self, workdir, anchors, token, sa, ns, extra_dns=None, tag="x"):
        tf = os.path.join(workdir, f"token-{tag}")
        with open(tf, "w") as f:
            f.write(token + "\n")
        out_cert = os.path.join(workdir, f"leaf-{tag}.crt")
        out_chain = os.path.join(workdir, f"chain-{tag}.crt")
        args = [binary("certify-check"), "--addr", self.addr, "--server-identity", CTL_ID,
                "--anchors", anchors, "--token-file", tf, "--sa", sa, "--ns", ns,
                "--out-cert", out_cert, "--out-chain", out_chain]
        if extra_dns:
            args += ["--extra-dns", extra_dns]
        r = subprocess.run(args, capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout.strip(), out_cert, out_chain


@pytest.fixture
def mesh(workdir):
    api = Apiserver(workdir).start()
    ctl = None
    try:
        api.kubectl("apply", "-f", CRDS)
        api.kubectl("apply", "-f", "-", input=RBAC)
        api.kubectl("apply", "-f", "-", input=CONTROLLER_RBAC)
        ctl_token = sa_token(api, "strait", "strait-controller")
        ctl = Controller(workdir, api, ctl_token)
        yield api, ctl
    finally:
        if ctl is not None:
            rc = ctl.proc.kill()
            assert rc == 0, f"controller exited {rc}: {ctl.proc.tail()}"
        api.stop()


def test_certify_end_to_end(workdir, mesh):
    api, ctl = mesh
    a_crt, a_key, i_crt, i_key = make_pki(workdir)
    web = sa_token(api, "emojivoto", "web")
    other = sa_token(api, "emojivoto", "other")

    # No issuer yet: not ready, and certify answers 503.
    status, _ = ctl.admin_get("/ready")
    assert status == 503
    status, body = ctl.raw(json.dumps({"token": web, "csr": "x"}))
    assert status == 400  # the CSR is checked first
    rc, out, _, _ = ctl.certify(workdir, a_crt, web, "web", "emojivoto")
    assert rc == 1 and "code=" in out  # the stand-in serving certificate does not verify

    apply_anchors(api, a_crt)
    apply_issuer(api, i_crt, i_key)
    ctl.wait_ready()

    # The right identity gets a chain that inspect accepts.
    rc, out, leaf, chain = ctl.certify(workdir, a_crt, web, "web", "emojivoto", tag="web")
    assert rc == 0, out
    assert "http=200" in out and "lifetime=86420" in out
    bundle = os.path.join(workdir, "web-bundle.crt")
    with open(bundle, "w") as f:
        f.write(open(leaf).read() + open(chain).read())
    r = strait("identity", "inspect", bundle, "--anchors", a_crt, check=0)
    assert f"dns: web.emojivoto.serviceaccount.identity.strait.{TD}" in r.stdout
    assert f"uri: spiffe://{TD}/ns/emojivoto/sa/web" in r.stdout
    assert "eku: serverAuth clientAuth" in r.stdout and "is_ca: false" in r.stdout
    assert "chains_to_anchors: yes" in r.stdout
    assert len(re.findall(r"^dns: ", r.stdout, re.M)) == 1
    assert open(chain).read() == open(i_crt).read()

    # Many at once: the review workers and the loop hand jobs back and forth.
    tf = os.path.join(workdir, "token-par")
    with open(tf, "w") as f:
        f.write(web)
    procs = [subprocess.Popen([binary("certify-check"), "--addr", ctl.addr, "--server-identity",
                               CTL_ID, "--anchors", a_crt, "--token-file", tf, "--sa", "web",
                               "--ns", "emojivoto"], stdout=subprocess.PIPE, text=True)
             for _ in range(12)]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs

    # Another account's token for the web identity: 403.
    rc, out, _, _ = ctl.certify(workdir, a_crt, other, "web", "emojivoto")
    assert rc == 1 and "http=403" in out and "does not ask for exactly" in out, out
    # A token the API does not know: 401.
    rc, out, _, _ = ctl.certify(workdir, a_crt, "not-a-real-token", "web", "emojivoto")
    assert rc == 1 and "http=401" in out, out
    # A CSR with an extra SAN: 403.
    rc, out, _, _ = ctl.certify(workdir, a_crt, web, "web", "emojivoto",
                                extra_dns="evil.example.com")
    assert rc == 1 and "http=403" in out, out
    # A token that is no service account's (the admin token): 403.
    rc, out, _, _ = ctl.certify(workdir, a_crt, api.admin_token(), "web", "emojivoto")
    assert rc == 1 and "http=403" in out and "not a service account" in out, out

    # Malformed and oversized bodies.
    status, body = ctl.raw("{not json")
    assert status == 400 and body["code"] == 400 and body["error"]
    status, body = ctl.raw(json.dumps({"token": web}))
    assert status == 400 and "csr" in body["error"]
    status, body = ctl.raw(json.dumps({"token": web, "csr": "x" * (40 << 10)}))
    assert status == 413 and body["code"] == 413
    status, body = ctl.raw("x" * (200 << 10))
    assert status == 413
    status, body = ctl.raw("", method="GET")
    assert status == 405
    status, body = ctl.raw("", path="/v1/nothing", method="GET")
    assert status == 404

    # Rotation: the next certificate carries the new issuer, without a restart.
    i2_crt, i2_key = os.path.join(workdir, "issuer2.crt"), os.path.join(workdir, "issuer2.key")
    strait("identity", "create-issuer", "--anchor-cert", a_crt, "--anchor-key", a_key,
           "--cert", i2_crt, "--key", i2_key, "--cn", "identity2.strait.cluster.local", check=0)
    apply_issuer(api, i2_crt, i2_key)
    deadline = time.monotonic() + 10
    while True:
        rc, out, leaf, chain = ctl.certify(workdir, a_crt, web, "web", "emojivoto", tag="rot")
        assert rc == 0, out
        if open(chain).read() == open(i2_crt).read():
            break
        assert time.monotonic() < deadline, "the rotated issuer was not used"
        time.sleep(0.1)
    r = strait("identity", "inspect", leaf, check=0)
    assert "issuer: CN=identity2.strait.cluster.local" in r.stdout

    # An issuer that does not chain to the anchors is refused; the previous one stays.
    _, _, f_crt, f_key = make_pki(workdir, name="foreign")
    apply_issuer(api, f_crt, f_key)
    deadline = time.monotonic() + 10
    while "refusing the issuer" not in ctl.proc.tail(20000):
        assert time.monotonic() < deadline, ctl.proc.tail()
        time.sleep(0.05)
    rc, out, leaf, chain = ctl.certify(workdir, a_crt, web, "web", "emojivoto", tag="after")
    assert rc == 0, out
    assert open(chain).read() == open(i2_crt).read()

    # Metrics count what happened.
    status, text = ctl.admin_get("/metrics")
    assert status == 200
    issued = float(re.search(r'^identity_certify_total\{result="issued"\} (\S+)', text,
                             re.M).group(1))
    assert issued >= 15
    assert re.search(r'^identity_certify_total\{result="forbidden"\} 3$', text, re.M), text
    assert re.search(r'^identity_certify_total\{result="unauthenticated"\} 1$', text, re.M)
    assert re.search(r"^identity_issuer_refused_total 1$", text, re.M), text
    assert ctl.admin_get("/live")[0] == 200

    # Without RBAC for TokenReviews the review itself fails: 503, and the
    # controller keeps serving.
    api.kubectl("delete", "clusterrolebinding", "strait-identity")
    rc, out, _, _ = ctl.certify(workdir, a_crt, web, "web", "emojivoto", tag="norbac")
    assert rc == 1 and "http=503" in out and "token review failed" in out, out
    assert ctl.admin_get("/ready")[0] == 200
