"""strait-apiserver as kubectl sees it: the real binary on loopback, the real
kubectl of this machine, and assertions on what a user would read."""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import Apiserver

CRDS = os.path.join(os.path.dirname(__file__), "..", "crds")

SERVICE_YAML = """\
apiVersion: v1
kind: Namespace
metadata:
  name: multicluster-test
---
apiVersion: v1
kind: Service
metadata:
  name: backend-one-svc
  namespace: multicluster-test
  labels:
    app: backend-one
spec:
  selector:
    app: backend-one
  ports:
  - name: http
    port: {port}
"""


def table(text):
    """Splits kubectl's column output into (header, rows)."""
    lines = [l for l in text.splitlines() if l.strip()]
    return re.split(r"\s{2,}", lines[0].strip()), [re.split(r"\s{2,}", l.strip()) for l in lines[1:]]


def test_fresh_server_has_default_namespaces(apiserver):
    out = apiserver.kubectl("get", "namespaces").stdout
    header, rows = table(out)
    assert header == ["NAME", "STATUS", "AGE"]
    names = {r[0] for r in rows}
    assert {"default", "kube-system", "kube-public"} <= names
    assert all(r[1] == "Active" for r in rows)


def test_apply_get_columns_and_second_apply_updates_port(apiserver):
    r = apiserver.kubectl("apply", "-f", "-", input=SERVICE_YAML.format(port=8888))
    assert "service/backend-one-svc created" in r.stdout
    header, rows = table(apiserver.kubectl("get", "svc", "-n", "multicluster-test").stdout)
    assert header == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert len(rows) == 1
    name, typ, ip, ext, ports, age = rows[0]
    assert (name, typ, ext, ports) == ("backend-one-svc", "ClusterIP", "<none>", "8888/TCP")
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", ip)
    assert re.fullmatch(r"\d+s", age)

    r = apiserver.kubectl("apply", "-f", "-", input=SERVICE_YAML.format(port=9999))
    assert "service/backend-one-svc configured" in r.stdout
    svc = apiserver.kubectl_json("get", "svc", "-n", "multicluster-test", "backend-one-svc")
    assert [p["port"] for p in svc["spec"]["ports"]] == [9999]
    assert svc["spec"]["ports"][0]["targetPort"] == 9999
    assert svc["spec"]["clusterIP"] == ip  # immutable across updates
    # A third apply with nothing changed changes nothing.
    r = apiserver.kubectl("apply", "-f", "-", input=SERVICE_YAML.format(port=9999))
    assert "service/backend-one-svc unchanged" in r.stdout


def test_describe_patch_delete(apiserver):
    apiserver.kubectl("apply", "-f", "-", input=SERVICE_YAML.format(port=8888))
    out = apiserver.kubectl("describe", "svc", "-n", "multicluster-test", "backend-one-svc").stdout
    assert re.search(r"Port:\s+http\s+8888/TCP", out)
    assert re.search(r"Selector:\s+app=backend-one", out)

    apiserver.kubectl("patch", "svc", "-n", "multicluster-test", "backend-one-svc",
                      "-p", '{"metadata":{"labels":{"tier":"web"}}}')
    apiserver.kubectl("patch", "svc", "-n", "multicluster-test", "backend-one-svc",
                      "--type=merge", "-p", '{"metadata":{"annotations":{"a":"b"}}}')
    apiserver.kubectl("patch", "svc", "-n", "multicluster-test", "backend-one-svc",
                      "--type=json", "-p", '[{"op":"replace","path":"/spec/ports/0/port","value":7777}]')
    svc = apiserver.kubectl_json("get", "svc", "-n", "multicluster-test", "backend-one-svc")
    assert svc["metadata"]["labels"] == {"app": "backend-one", "tier": "web"}
    assert svc["metadata"]["annotations"]["a"] == "b"
    assert svc["spec"]["ports"][0]["port"] == 7777

    out = apiserver.kubectl("get", "svc", "-n", "multicluster-test", "-l", "tier=web", "-o", "name").stdout
    assert out.strip() == "service/backend-one-svc"
    out = apiserver.kubectl("get", "svc", "-n", "multicluster-test", "-l", "tier=db", "-o", "name").stdout
    assert out.strip() == ""

    apiserver.kubectl("delete", "svc", "-n", "multicluster-test", "backend-one-svc")
    r = apiserver.kubectl("get", "svc", "-n", "multicluster-test", "backend-one-svc", check=False)
    assert r.returncode != 0
    assert 'services "backend-one-svc" not found' in r.stderr


def test_secrets_configmaps_serviceaccounts(apiserver):
    docs = """\
apiVersion: v1
kind: Secret
metadata: {name: s1, namespace: default}
type: Opaque
stringData: {password: hunter2}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c1, namespace: default}
data: {a: "1", b: "2"}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: robot, namespace: default}
"""
    apiserver.kubectl("apply", "-f", "-", input=docs)
    sec = apiserver.kubectl_json("get", "secret", "s1")
    import base64
    assert base64.b64decode(sec["data"]["password"]) == b"hunter2"
    assert "stringData" not in sec
    header, rows = table(apiserver.kubectl("get", "secret", "s1").stdout)
    assert header == ["NAME", "TYPE", "DATA", "AGE"] and rows[0][:3] == ["s1", "Opaque", "1"]
    header, rows = table(apiserver.kubectl("get", "cm", "c1").stdout)
    assert header == ["NAME", "DATA", "AGE"] and rows[0][:2] == ["c1", "2"]
    header, rows = table(apiserver.kubectl("get", "sa").stdout)
    assert header[0] == "NAME" and {"default", "robot"} <= {r[0] for r in rows}
    apiserver.kubectl("delete", "-f", "-", input=docs)
    assert apiserver.kubectl("get", "cm", "-o", "name").stdout.strip() == ""


def test_crds_and_custom_objects(apiserver):
    apiserver.kubectl("apply", "-f", CRDS)
    crds = apiserver.kubectl("get", "crd", "-o", "name").stdout.split()
    assert "customresourcedefinition.apiextensions.k8s.io/trafficsplits.split.smi-spec.io" in crds
    ts = """\
apiVersion: split.smi-spec.io/v1alpha1
kind: TrafficSplit
metadata: {name: cluster-split, namespace: default}
spec:
  service: backend-zero-svc
  backends:
  - service: backend-zero-svc
    weight: 500m
  - service: backend-one-svc-remote
    weight: 500m
"""
    # The CRD is served right away (kubectl may need a moment to refresh discovery).
    for _ in range(50):
        r = apiserver.kubectl("apply", "-f", "-", input=ts, check=False)
        if r.returncode == 0:
            break
        time.sleep(0.2)
    assert r.returncode == 0, r.stderr
    obj = apiserver.kubectl_json("get", "trafficsplits.v1alpha1.split.smi-spec.io", "cluster-split")
    assert obj["apiVersion"] == "split.smi-spec.io/v1alpha1"
    assert [b["weight"] for b in obj["spec"]["backends"]] == ["500m", "500m"]
    assert "cluster-split" in apiserver.kubectl("get", "ts").stdout
    # Deleting the CRD stops serving it and removes its objects.
    apiserver.kubectl("delete", "crd", "trafficsplits.split.smi-spec.io")
    r = apiserver.kubectl("get", "trafficsplits.split.smi-spec.io", check=False)
    assert r.returncode != 0


def test_get_watch_streams_changes(apiserver):
    apiserver.kubectl("apply", "-f", "-", input=SERVICE_YAML.format(port=8888))
    cmd = ["kubectl", "--kubeconfig", apiserver.kubeconfig, "get", "svc", "-n",
           "multicluster-test", "-w", "--output-watch-events"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        apiserver.kubectl("label", "svc", "-n", "multicluster-test", "backend-one-svc", "x=y")
        apiserver.kubectl("delete", "svc", "-n", "multicluster-test", "backend-one-svc")
        time.sleep(1.5)
    finally:
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=10)
    events = [l.split()[0] for l in out.splitlines()[1:] if l.strip()]
    assert events[:3] == ["ADDED", "MODIFIED", "DELETED"], out + err


def test_namespace_deletion_removes_its_objects(apiserver):
    apiserver.kubectl("apply", "-f", "-", input=SERVICE_YAML.format(port=8888))
    apiserver.kubectl("create", "-f", "-", input="""\
apiVersion: v1
kind: ConfigMap
metadata: {name: c1, namespace: multicluster-test}
""")
    apiserver.kubectl("delete", "namespace", "multicluster-test", timeout=60)
    r = apiserver.kubectl("get", "ns", "multicluster-test", check=False)
    assert "not found" in r.stderr
    # Recreating the namespace does not bring anything back.
    apiserver.kubectl("apply", "-f", "-", input="apiVersion: v1\nkind: Namespace\nmetadata: {name: multicluster-test}\n")
    assert apiserver.kubectl("get", "svc,cm", "-n", "multicluster-test", "-o", "name").stdout.strip() == ""


def test_bad_input_is_refused_and_changes_nothing(apiserver):
    r = apiserver.kubectl("apply", "-f", "-", check=False,
                          input="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\n")
    assert r.returncode != 0 and "Bad_Name" in r.stderr
    r = apiserver.kubectl("apply", "-f", "-", check=False,
                          input="apiVersion: v1\nkind: Frobnicator\nmetadata: {name: x}\n")
    assert r.returncode != 0
    r = apiserver.kubectl("get", "svc", "-l", "a in (b", check=False)
    assert r.returncode != 0
    r = apiserver.kubectl("create", "-f", "-", check=False,
                          input="apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: nowhere}\n"
                                "spec: {ports: [{port: 80}]}\n")
    assert r.returncode != 0 and "not found" in r.stderr
    assert apiserver.kubectl("get", "cm,svc", "-A", "-o", "name").stdout.strip() == ""


def test_restart_after_kill9_keeps_acknowledged_objects(workdir):
    a = Apiserver(workdir).start()
    try:
        for i in range(20):
            a.kubectl("create", "-f", "-", input=f"apiVersion: v1\nkind: ConfigMap\n"
                                                  f"metadata: {{name: c{i}, namespace: default}}\n")
        before = a.kubectl_json("get", "cm")
        rv_before = max(int(i["metadata"]["resourceVersion"]) for i in before["items"])
        mid_rv = int(a.kubectl_json("get", "cm", "c9")["metadata"]["resourceVersion"])
        a.stop(signal.SIGKILL)
        a.start()
        after = a.kubectl_json("get", "cm")
        # A watch from a version before the crash resumes with what came after it.
        r = a.kubectl("get", "--raw", f"/api/v1/namespaces/default/configmaps?watch=true"
                      f"&resourceVersion={mid_rv}&timeoutSeconds=1")
        replayed = [json.loads(l)["object"]["metadata"]["name"] for l in r.stdout.splitlines() if l]
        assert replayed == [f"c{i}" for i in range(10, 20)]
        assert sorted(i["metadata"]["name"] for i in after["items"]) == sorted(f"c{i}" for i in range(20))
        a.kubectl("create", "-f", "-", input="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: late}\n")
        late = a.kubectl_json("get", "cm", "late")
        assert int(late["metadata"]["resourceVersion"]) > rv_before
    finally:
        a.stop()


def test_imperative_creates_send_protobuf_and_work(apiserver):
    """kubectl's typed clients send protobuf bodies; they must work as with kubectl apply."""
    k = apiserver.kubectl
    k("create", "namespace", "imp")
    k("create", "service", "clusterip", "foo", "--tcp=8888:8888", "-n", "imp")
    k("create", "secret", "generic", "s", "--from-literal=a=b", "-n", "imp")
    k("create", "configmap", "c", "--from-literal=x=y", "-n", "imp")
    k("create", "serviceaccount", "robot", "-n", "imp")
    k("create", "deployment", "web", "--image=busybox", "--port=80", "-n", "imp")
    k("create", "role", "r", "--verb=get", "--resource=services", "-n", "imp")
    k("create", "rolebinding", "rb", "--role=r", "--serviceaccount=imp:robot", "-n", "imp")
    svc = apiserver.kubectl_json("get", "svc", "foo", "-n", "imp")
    assert svc["spec"]["ports"][0]["port"] == 8888 and svc["spec"]["ports"][0]["targetPort"] == 8888
    import base64
    assert base64.b64decode(apiserver.kubectl_json("get", "secret", "s", "-n", "imp")["data"]["a"]) == b"b"
    assert apiserver.kubectl_json("get", "cm", "c", "-n", "imp")["data"] == {"x": "y"}
    dep = apiserver.kubectl_json("get", "deploy", "web", "-n", "imp")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox"
    rb = apiserver.kubectl_json("get", "rolebinding", "rb", "-n", "imp")
    assert rb["subjects"] == [{"kind": "ServiceAccount", "name": "robot", "namespace": "imp"}]


def test_auth_can_i_follows_rbac(apiserver):
    k = apiserver.kubectl
    k("apply", "-f", "-", input="""\
apiVersion: v1
kind: Namespace
metadata: {name: team}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: reader, namespace: team}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: read-services, namespace: team}
rules:
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-services}
subjects:
- {kind: ServiceAccount, name: reader, namespace: team}
""")
    assert k("auth", "can-i", "create", "services", "-n", "team").stdout.strip() == "yes"
    sa = "system:serviceaccount:team:reader"
    def can(*args):
        r = k("auth", "can-i", *args, "--as", sa, check=False)
        return r.stdout.strip()
    assert can("list", "services", "-n", "team") == "yes"
    assert can("create", "services", "-n", "team") == "no"
    assert can("list", "services", "-n", "default") == "no"
    assert can("get", "secrets", "-n", "team") == "no"
    # Impersonated requests are authorized as the impersonated user.
    r = k("get", "secrets", "-n", "team", "--as", sa, check=False)
    assert r.returncode != 0 and "forbidden" in r.stderr.lower()
    assert k("get", "svc", "-n", "team", "--as", sa).returncode == 0


def test_refused_namespace_create_commits_later_writes(workdir):
    """Regression: a namespace create that failed (AlreadyExists) once left its
    transaction open, so later writes were answered but never committed."""
    a = Apiserver(workdir).start()
    try:
        a.kubectl("create", "namespace", "dup")
        r = a.kubectl("create", "namespace", "dup", check=False)
        assert r.returncode != 0 and "AlreadyExists" in r.stderr
        a.kubectl("create", "configmap", "after", "-n", "dup", "--from-literal=k=v")
        # Watchers hear of it ...
        rv = int(a.kubectl_json("get", "cm", "after", "-n", "dup")["metadata"]["resourceVersion"])
        r = a.kubectl("get", "--raw", f"/api/v1/namespaces/dup/configmaps?watch=true"
                      f"&resourceVersion={rv - 1}&timeoutSeconds=1")
        assert '"name":"after"' in r.stdout
        # ... and it survives a crash.
        a.stop(signal.SIGKILL)
        a.start()
        assert a.kubectl_json("get", "cm", "after", "-n", "dup")["data"] == {"k": "v"}
    finally:
        a.stop()
