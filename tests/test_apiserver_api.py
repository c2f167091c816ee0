"""strait-apiserver through the Python Kubernetes client (Debian's
python3-kubernetes) and raw HTTPS: list and watch, resume and 410 Gone,
optimistic concurrency, service-account tokens and RBAC, Status errors."""
import base64
import json
import ssl
import threading
import time
import urllib.error
import urllib.request

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from conftest import Apiserver


# The class name differs between versions of the Python client.
SUBJECT = getattr(client, "RbacV1Subject", None) or getattr(client, "V1Subject")


def api_client(apiserver, token=None):
    cfg = client.Configuration()
    config.load_kube_config(config_file=apiserver.kubeconfig, client_configuration=cfg)
    if token is not None:
        cfg.api_key = {"authorization": "Bearer " + token}
    return client.ApiClient(cfg)


def raw(apiserver, method, path, body=None, token=None, ctype="application/json", headers=None,
        parse=True):
    """One HTTPS request with urllib; returns (status, parsed JSON or text)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(apiserver.url + path, data=data, method=method)
    if token is None:
        token = apiserver.admin_token()
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", ctype)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=20) as r:
            text = r.read().decode()
            status = r.status
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        status = e.code
    if not parse:
        return status, text
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def make_cm(v1, name, ns="default", data=None):
    return v1.create_namespaced_config_map(ns, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name), data=data or {"k": "v"}))


def test_python_client_list_and_watch_stream(apiserver):
    v1 = client.CoreV1Api(api_client(apiserver))
    for i in range(3):
        make_cm(v1, f"pre-{i}")
    lst = v1.list_namespaced_config_map("default")
    assert sorted(i.metadata.name for i in lst.items) == ["pre-0", "pre-1", "pre-2"]
    rv = lst.metadata.resource_version

    seen = []

    def consume():
        w = watch.Watch()
        for ev in w.stream(v1.list_namespaced_config_map, "default", resource_version=rv,
                           timeout_seconds=10):
            seen.append((ev["type"], ev["object"].metadata.name))
            if len(seen) == 3:
                w.stop()

    t = threading.Thread(target=consume)
    t.start()
    time.sleep(0.5)
    make_cm(v1, "live")
    v1.patch_namespaced_config_map("live", "default", {"data": {"k": "v2"}})
    v1.delete_namespaced_config_map("live", "default")
    t.join(timeout=15)
    assert seen == [("ADDED", "live"), ("MODIFIED", "live"), ("DELETED", "live")]


def test_paging_with_limit_and_continue(apiserver):
    v1 = client.CoreV1Api(api_client(apiserver))
    for i in range(25):
        make_cm(v1, f"page-{i:02d}")
    names, cont = [], None
    pages = 0
    while True:
        lst = v1.list_namespaced_config_map("default", limit=10, _continue=cont)
        names += [i.metadata.name for i in lst.items]
        pages += 1
        cont = lst.metadata._continue
        if not cont:
            break
    assert pages == 3
    assert names == sorted(f"page-{i:02d}" for i in range(25))
    status, body = raw(apiserver, "GET", "/api/v1/namespaces/default/configmaps?limit=5&continue=garbage!")
    assert status in (400, 410) and body["kind"] == "Status"


def test_watch_resume_and_410_gone(workdir):
    # A small event window, so that versions expire after a few writes.
    apiserver = Apiserver(workdir, extra_args=["--event-window", "10"]).start()
    try:
        v1 = client.CoreV1Api(api_client(apiserver))
        first = make_cm(v1, "a")
        make_cm(v1, "b")
        # Resuming from the first object's version replays exactly what came after it.
        status, text = raw(apiserver, "GET", "/api/v1/namespaces/default/configmaps?watch=true"
                           f"&resourceVersion={first.metadata.resource_version}&timeoutSeconds=1",
                           parse=False)
        assert status == 200
        events = [json.loads(l) for l in text.splitlines() if l.strip()]
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "b")]
        for i in range(15):
            make_cm(v1, f"filler-{i}")
        # The first version is now older than the window: an ERROR event with 410.
        status, text = raw(apiserver, "GET", "/api/v1/namespaces/default/configmaps?watch=true"
                           f"&resourceVersion={first.metadata.resource_version}&timeoutSeconds=1",
                           parse=False)
        if status == 200:
            ev = json.loads(text.splitlines()[0])
            assert ev["type"] == "ERROR" and ev["object"]["code"] == 410
            assert ev["object"]["reason"] in ("Expired", "Gone")
        else:
            assert status == 410
        # A list gives a fresh version to watch from, as clients do after a 410.
        rv = v1.list_namespaced_config_map("default").metadata.resource_version
        status, text = raw(apiserver, "GET", "/api/v1/namespaces/default/configmaps?watch=true"
                           f"&resourceVersion={rv}&timeoutSeconds=1", parse=False)
        assert status == 200 and text.strip() == ""
    finally:
        apiserver.stop()


def test_optimistic_concurrency(apiserver):
    v1 = client.CoreV1Api(api_client(apiserver))
    cm = make_cm(v1, "cc")
    stale = cm.metadata.resource_version
    cm.data = {"k": "one"}
    v1.replace_namespaced_config_map("cc", "default", cm)
    cm.metadata.resource_version = stale
    cm.data = {"k": "two"}
    with pytest.raises(ApiException) as e:
        v1.replace_namespaced_config_map("cc", "default", cm)
    assert e.value.status == 409
    body = json.loads(e.value.body)
    assert body["reason"] == "Conflict"
    assert v1.read_namespaced_config_map("cc", "default").data == {"k": "one"}
    with pytest.raises(ApiException) as e:
        make_cm(v1, "cc")
    assert e.value.status == 409 and json.loads(e.value.body)["reason"] == "AlreadyExists"


def test_generate_name_uid_and_timestamps(apiserver):
    v1 = client.CoreV1Api(api_client(apiserver))
    a = v1.create_namespaced_config_map("default", client.V1ConfigMap(
        metadata=client.V1ObjectMeta(generate_name="gen-")))
    b = v1.create_namespaced_config_map("default", client.V1ConfigMap(
        metadata=client.V1ObjectMeta(generate_name="gen-")))
    assert a.metadata.name.startswith("gen-") and b.metadata.name.startswith("gen-")
    assert a.metadata.name != b.metadata.name
    assert a.metadata.uid and a.metadata.uid != b.metadata.uid
    assert a.metadata.creation_timestamp is not None


def test_service_account_token_rbac(apiserver):
    admin = client.CoreV1Api(api_client(apiserver))
    rbac = client.RbacAuthorizationV1Api(api_client(apiserver))
    admin.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="team")))
    admin.create_namespaced_service_account("team", client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name="reader")))
    admin.create_namespaced_secret("team", client.V1Secret(
        metadata=client.V1ObjectMeta(name="reader-token",
                                     annotations={"kubernetes.io/service-account.name": "reader"}),
        type="kubernetes.io/service-account-token"))
    secret = admin.read_namespaced_secret("reader-token", "team")
    token = base64.b64decode(secret.data["token"]).decode()
    assert base64.b64decode(secret.data["namespace"]).decode() == "team"
    assert b"BEGIN CERTIFICATE" in base64.b64decode(secret.data["ca.crt"])

    rbac.create_namespaced_role("team", client.V1Role(
        metadata=client.V1ObjectMeta(name="read-services"),
        rules=[client.V1PolicyRule(api_groups=[""], resources=["services", "configmaps"],
                                   verbs=["get", "list", "watch"])]))
    rbac.create_namespaced_role_binding("team", client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="reader-binding"),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role",
                                  name="read-services"),
        subjects=[SUBJECT(kind="ServiceAccount", name="reader", namespace="team")]))

    reader = client.CoreV1Api(api_client(apiserver, token=token))
    assert reader.list_namespaced_config_map("team").items == []
    with pytest.raises(ApiException) as e:
        make_cm(reader, "nope", ns="team")
    assert e.value.status == 403
    body = json.loads(e.value.body)
    assert body["reason"] == "Forbidden"
    assert 'User "system:serviceaccount:team:reader" cannot create resource "configmaps"' in body["message"]
    with pytest.raises(ApiException) as e:
        reader.list_namespaced_config_map("default")
    assert e.value.status == 403
    with pytest.raises(ApiException) as e:
        reader.list_namespaced_secret("team")
    assert e.value.status == 403
    assert admin.list_namespaced_config_map("team").items == []  # nothing was written

    # TokenReview says who the token is.
    status, review = raw(apiserver, "POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                         {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                          "spec": {"token": token}})
    assert status == 201 and review["status"]["authenticated"] is True
    assert review["status"]["user"]["username"] == "system:serviceaccount:team:reader"

    # Deleting the token's Secret revokes it.
    admin.delete_namespaced_secret("reader-token", "team")
    with pytest.raises(ApiException) as e:
        reader.list_namespaced_config_map("team")
    assert e.value.status == 401


def test_unauthenticated_and_bad_tokens(apiserver):
    status, body = raw(apiserver, "GET", "/api/v1/namespaces", token="")
    assert status in (401, 403)
    status, body = raw(apiserver, "GET", "/api/v1/namespaces", token="not-a-token")
    assert status == 401 and body["kind"] == "Status" and body["reason"] == "Unauthorized"


def test_status_errors_for_bad_requests(apiserver):
    status, body = raw(apiserver, "POST", "/api/v1/namespaces/default/configmaps", b"{not json")
    assert status == 400 and body["kind"] == "Status" and body["status"] == "Failure"
    status, body = raw(apiserver, "GET", "/api/v1/namespaces/default/configmaps/missing")
    assert status == 404 and body["reason"] == "NotFound"
    assert body["details"]["name"] == "missing" and body["details"]["kind"] == "configmaps"
    status, body = raw(apiserver, "GET", "/apis/no.such.group/v1/things")
    assert status == 404
    status, body = raw(apiserver, "GET", "/api/v1/namespaces/default/configmaps?labelSelector=a%20in%20(b")
    assert status == 400
    status, body = raw(apiserver, "POST", "/api/v1/namespaces/default/configmaps",
                       {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "UPPER"}})
    assert status == 422 and body["reason"] == "Invalid"
    big = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
           "data": {"x": "y" * (4 << 20)}}
    status, body = raw(apiserver, "POST", "/api/v1/namespaces/default/configmaps", big)
    assert status == 413 and body["kind"] == "Status" and body["reason"] == "RequestEntityTooLarge"
    status, body = raw(apiserver, "GET", "/api/v1/namespaces/default/configmaps")
    assert status == 200 and body["items"] == []


def test_concurrent_writes_are_all_committed_and_watched_in_order(apiserver):
    """Writes from many connections share commits; each is acknowledged only
    once stored, and watchers see every one exactly once, in order."""
    v1 = client.CoreV1Api(api_client(apiserver))
    rv0 = v1.list_namespaced_config_map("default").metadata.resource_version
    errors = []

    def writer(t):
        mine = client.CoreV1Api(api_client(apiserver))
        for i in range(40):
            try:
                make_cm(mine, f"w{t}-{i}")
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    items = v1.list_namespaced_config_map("default").items
    assert len(items) == 320
    rvs = sorted(int(i.metadata.resource_version) for i in items)
    assert len(set(rvs)) == 320
    status, text = raw(apiserver, "GET", "/api/v1/namespaces/default/configmaps?watch=true"
                       f"&resourceVersion={rv0}&timeoutSeconds=1", parse=False)
    events = [json.loads(l) for l in text.splitlines() if l.strip()]
    assert [e["type"] for e in events] == ["ADDED"] * 320
    seen = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert seen == rvs


def test_page_size_is_capped(apiserver):
    """A limit above the server's page cap gets a full page and a continue token."""
    v1 = client.CoreV1Api(api_client(apiserver))
    names = [f"cap-{i:05d}" for i in range(5003)]
    # Created on four pooled connections, to keep the test short.
    def create(chunk):
        mine = client.CoreV1Api(api_client(apiserver))
        for n in chunk:
            mine.create_namespaced_config_map("default", {"metadata": {"name": n}})
    threads = [threading.Thread(target=create, args=(names[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    page = v1.list_namespaced_config_map("default", limit=100000)
    assert len(page.items) == 5000 and page.metadata._continue
    rest = v1.list_namespaced_config_map("default", limit=100000, _continue=page.metadata._continue)
    assert len(rest.items) == 3 and not rest.metadata._continue
    assert len(v1.list_namespaced_config_map("default").items) == 5003
