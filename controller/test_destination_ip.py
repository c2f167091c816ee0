"""Resolving by ClusterIP through the destination service's index of
Services by ClusterIP (controller/destination.c): an IP stream follows the
Service that takes the address, a second Service with the same address,
and their deletion, against a real strait-apiserver and strait-controller.
It reuses the fixtures and helpers of tests/test_destination.py."""
import os
import re
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from conftest import workdir  # noqa: E402,F401 (a fixture)
from test_destination import (NS, Stream, apply, cluster, ep_addrs,  # noqa: E402,F401
                              make_client_files, service, workload)

IP = "10.96.200.200"


def with_ip(svc, ip):
    svc["spec"]["clusterIP"] = ip
    return svc


def test_resolve_by_cluster_ip_follows_services(workdir, cluster):
    api, ctl, _, anchors, _ = cluster
    crt, key = os.path.join(workdir, "client.crt"), os.path.join(workdir, "client.key")
    make_client_files(workdir, api, ctl, anchors, crt, key)
    apply(api, workload("ip-a", "127.1.3.1", {"app": "ip-a"}, [("http", 8080)]),
          workload("ip-b", "127.1.3.2", {"app": "ip-b"}, [("http", 8080)]))

    # Nobody has the address yet: not found, and the stream stays open.
    s = Stream(ctl, f"{IP}:80", crt, key, anchors)
    assert s.status == 200
    assert s.next()["kind"] == "not_found"

    # A Service takes it: the stream gets its endpoints.
    apply(api, with_ip(service("ip-a", {"app": "ip-a"}, [("http", 80, 8080)]), IP))
    snap = s.until(lambda x: x["kind"] == "service" and x["endpoints"], "the service by IP")
    assert snap["service"] == "ip-a" and snap["namespace"] == NS
    assert ep_addrs(snap) == ["127.1.3.1:8080"]

    # Another Service elsewhere changes nothing for this address.
    apply(api, service("ip-other", {"app": "ip-b"}, [("http", 80, 8080)]))
    t = Stream(ctl, f"{IP}:80", crt, key, anchors)
    assert t.next()["service"] == "ip-a"
    t.close()

    # The Service goes away: not found again; a new owner of the address is picked up.
    api.kubectl("delete", "service", "ip-a", "-n", NS)
    s.until(lambda x: x["kind"] == "not_found", "not found after the delete")
    apply(api, with_ip(service("ip-b", {"app": "ip-b"}, [("http", 80, 8080)]), IP))
    snap = s.until(lambda x: x["kind"] == "service" and x["endpoints"], "the new owner")
    assert snap["service"] == "ip-b" and ep_addrs(snap) == ["127.1.3.2:8080"]
    s.close()

    # The compact caches report their size.
    with urllib.request.urlopen(f"http://{ctl.admin}/metrics", timeout=10) as r:
        text = r.read().decode()
    sizes = dict(re.findall(r'^destination_cache_bytes\{cache="(\w+)"\} (\S+)$', text, re.M))
    assert float(sizes["services"]) > 0 and float(sizes["externalworkloads"]) > 0, sizes
    assert float(sizes["trafficsplits"]) == 0, sizes  # kept as trees
