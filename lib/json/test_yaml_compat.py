#!/usr/bin/python3
"""Checks lib/json's YAML against real readers and writers.

1. Documents dumped by st_yaml_dump_all must read back to the same JSON with
   PyYAML (yaml.safe_load_all), with kubectl, and with our own loader.
2. YAML written by hand must load to the same JSON with our loader as with
   kubectl (which runs sigs.k8s.io/yaml over go-yaml v2), and inputs kubectl
   refuses must be refused by us too.

kubectl needs no API server for `kubectl label --local -o json -f -`, which
decodes the manifests, adds a label and prints them back as JSON. When
kubectl is not installed the kubectl half is skipped.

Usage: test_yaml_compat.py PATH/TO/yamlconv
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

YAMLCONV = sys.argv[1]
KUBECTL = shutil.which("kubectl")
LABEL = "strait-compat-test"

TRICKY = [
    "true", "yes", "Off", "y", "n", "null", "~", "", "8888", "1.5", "0x1", "0o17", "0755",
    "1e3", ".inf", "-.inf", ".nan", " lead", "trail ", "a: b", "a #b", "end:", "-x", "?x",
    ":x", ",x", "[x", "]x", "{x", "}x", "#x", "&x", "*x", "!x", "|x", ">x", "'x", '"x',
    "%x", "@x", "`x", "<<", "=", "tab\there", "back\\slash", "2001-12-14",
    "2001-12-14T21:59:43.10-05:00", "12:30", "190:20:30", "---", "...", "a,b[c]{d}",
    "http://x:80/#frag", "café", "nel\u0085", "ls\u2028", "bom\ufeff", "ctl\u0007",
    "line1\nline2\n", "a\nb", "a\n\n", "a\n\n  b\n", "trail \nx", " lead\nx", "\nfirst", "\n",
    "cr\r\nx", "# not a comment\n--- not a marker\n", "500m", "1_000", "+1", "-0", "0b11",
    "1:20", "x" * 300,
]


def run(args, stdin):
    return subprocess.run(args, input=stdin.encode(), capture_output=True, timeout=60)


def yamlconv(cmd, text):
    p = run([YAMLCONV, cmd], text)
    if p.returncode != 0:
        return None, p.stderr.decode()
    return json.loads(p.stdout), None


def norm(v):
    """Compares numbers by value (kubectl prints 1e20 as an integer)."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, list):
        return [norm(x) for x in v]
    return {k: norm(x) for k, x in v.items()}


def kubectl(text):
    """Objects as kubectl reads them, without our label; None and the error if refused."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as empty:
        p = run([KUBECTL, "--kubeconfig", empty.name, "label", "--local", "-o", "json",
                 "-f", "-", LABEL + "=1"], text)
    if p.returncode != 0:
        return None, p.stderr.decode()
    # One JSON object per input object, concatenated (or a List).
    text, dec, items = p.stdout.decode(), json.JSONDecoder(), []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        out, pos = dec.raw_decode(text, pos)
        items.extend(out["items"] if out.get("kind") == "List" else [out])
    for obj in items:
        labels = obj["metadata"]["labels"]
        del labels[LABEL]
        if not labels:
            del obj["metadata"]["labels"]
    return items, None


def thing(name, spec):
    return {"apiVersion": "example.strait.io/v1", "kind": "Thing",
            "metadata": {"name": name}, "spec": spec}


def documents():
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "backend-zero-svc", "namespace": "multicluster-test",
                        "labels": {"mirror.strait.io/exported": "true"},
                        "annotations": {"strait.io/inject": "enabled"}},
           "spec": {"type": "ClusterIP", "selector": {"app": "backend-zero"},
                    "ports": [{"name": "http", "port": 8888, "targetPort": 8888,
                               "protocol": "TCP"}]}}
    ts = {"apiVersion": "split.smi-spec.io/v1alpha1", "kind": "TrafficSplit",
          "metadata": {"name": "cluster-split", "namespace": "multicluster-test"},
          "spec": {"service": "backend-zero-svc",
                   "backends": [{"service": s, "weight": "500m"} for s in
                                ("backend-zero-svc", "backend-one-svc-remote",
                                 "backend-two-svc-remote")]}}
    strings = thing("strings", {"values": TRICKY, "asKeys": {s: i for i, s in enumerate(TRICKY)}})
    shapes = thing("shapes", {"empty": {}, "none": [], "nested": [[1, [2, []]], [{}], [{"a": [{}]}]],
                              "numbers": [0, -1, 9223372036854775807, -9223372036854775808, 0.5,
                                          -2.5e-7, 1e20, 3.141592653589793, 1e-300],
                              "flags": [True, False, None], "k" * 1200: {"long": "key"}})
    return [svc, ts, strings, shapes]


HAND_WRITTEN = """\
apiVersion: example.strait.io/v1
kind: Thing
metadata:
  name: scalars
spec:
  s: [yes, no, on, off, y, n, ~, null, "", 0x1F, 0o17, 0755, 09, 1_000, 1.5, 1.0, 1e3, .5,
      2001-12-14, 500m, 1e400, +12, -0, 0b101, 18446744073709551615, 9223372036854775808,
      "quoted", 'single', !!str 12, True, NULL, 1., -.5, 0x_1F, 1e-7, 12:30, 1_0.5]
  keys:
    yes: 1
    1: 2
    0x10: 3
    1e6: 4
    1.50: 5
    .inf: 6
    "no": 7
    0.1: 8
    -0.0: 9
    500m: 10
  block: |
    one
      two
  folded: >
    a
    b

    c
  keep: |+
    x

  strip: |-
    y
  dup: 1
  dup: {yes: 1, on: 2}
---
# comment only
---
apiVersion: example.strait.io/v1
kind: Thing
metadata:
  name: anchors
base: &b {x: 1, z: [a, b]}
c: &c {x: 3, v: 6, w: 7}
spec:
  m:
    <<: *b
    x: 2
  before:
    x: 2
    <<: *b
  list:
    <<: [*b, *c]
  twice:
    <<: *b
    <<: *c
  copy: *b
---
apiVersion: v1
kind: List
items:
- apiVersion: example.strait.io/v1
  kind: Thing
  metadata: {name: in-list}
"""

REFUSED = [
    "apiVersion: v1\nkind: T\nmetadata: {name: a}\nspec: {v: .inf}\n",
    "apiVersion: v1\nkind: T\nmetadata: {name: a}\nspec: {~: 1}\n",
    "apiVersion: v1\nkind: T\nmetadata: {name: a}\nspec: {a: [1, 2}\n",
]


def main():
    failures = []
    docs = documents()
    dumped = run([YAMLCONV, "dump"], json.dumps(docs))
    assert dumped.returncode == 0, dumped.stderr
    text = dumped.stdout.decode()

    ours, err = yamlconv("load", text)
    if ours != docs:
        failures.append("our loader does not read our dump back: %s" % err)
    py = list(yaml.safe_load_all(text))
    for want, got in zip(docs, py):
        if norm(got) != norm(want):
            failures.append("PyYAML reads %s differently" % want["metadata"]["name"])
    if len(py) != len(docs):
        failures.append("PyYAML found %d documents" % len(py))

    if KUBECTL is None:
        print("kubectl not found: kubectl checks skipped")
    else:
        got, err = kubectl(text)
        if got is None:
            failures.append("kubectl refused our dump: " + err)
        else:
            for want, obj in zip(docs, got):
                if norm(obj) != norm(want):
                    failures.append("kubectl reads %s differently:\n%s\n%s" % (
                        want["metadata"]["name"], json.dumps(obj), json.dumps(want)))

        want, err = kubectl(HAND_WRITTEN)
        assert want is not None, err
        ours, err = yamlconv("objects", HAND_WRITTEN)
        if ours is None:
            failures.append("we refuse what kubectl reads: " + err)
        elif norm(ours) != norm(want):
            failures.append("hand-written YAML differs:\nours    %s\nkubectl %s" % (
                json.dumps(ours, sort_keys=True), json.dumps(want, sort_keys=True)))
        for bad in REFUSED:
            k, _ = kubectl(bad)
            o, _ = yamlconv("objects", bad)
            if (k is None) != (o is None):
                failures.append("kubectl %s but we %s: %r" % (
                    "refuses" if k is None else "accepts",
                    "refuse" if o is None else "accept", bad))

    for f in failures:
        print("FAIL:", f)
    if failures:
        sys.exit(1)
    print("yaml compat: %d documents, %d refusals checked, ok" % (len(docs), len(REFUSED)))


if __name__ == "__main__":
    main()
