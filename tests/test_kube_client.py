"""lib/kube against the real strait-apiserver: the kube-check driver runs the
blocking requests (CRUD, three patch types, paginated lists) and an informer
(list + watch with a label selector) with the kubeconfig the server writes."""
import subprocess

from conftest import binary


def run_check(apiserver, scenario, namespace):
    r = subprocess.run([binary("kube-check"), apiserver.kubeconfig, scenario, namespace],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"ok {scenario}"


def test_crud_and_lists(apiserver):
    run_check(apiserver, "crud", "default")
    # What the C client wrote is what kubectl sees.
    names = apiserver.kubectl("get", "configmaps", "-l", "app=pages", "-o", "name").stdout.split()
    assert len(names) == 5


def test_informer(apiserver):
    run_check(apiserver, "informer", "default")
