#!/usr/bin/python3
"""Captures the protobuf request body kubectl sends, as a fixture.

Usage: capture.py NAME -- kubectl ARGS...
Runs kubectl with -v=9 against $KUBECONFIG (any strait-apiserver will do; the
request may fail), takes the first "Request Body" hex dump that starts with the
"k8s\\0" magic and writes it to NAME.pb in this directory. Where kubectl can
print the same object as JSON (--dry-run=client -o json) the expected JSON is
written to NAME.json from that output; see docs/apiserver-protobuf.md.
"""
import os
import re
import subprocess
import sys


def bodies(log):
    out, cur = [], None
    for line in log.splitlines():
        if '"Request Body" body=<' in line:
            cur = bytearray()
            continue
        if cur is None:
            continue
        m = re.match(r'^\t[0-9a-f]{8}  ((?:[0-9a-f]{2} {1,2})+)', line)
        if m:
            cur += bytes.fromhex(m.group(1).replace(' ', ''))
            continue
        out.append(bytes(cur))
        cur = None
    return out


def main():
    name, cmd = sys.argv[1], sys.argv[3:]
    run = subprocess.run(cmd[:1] + ['-v=9'] + cmd[1:], capture_output=True, text=True, timeout=60)
    for body in bodies(run.stderr + run.stdout):
        if body.startswith(b'k8s\0'):
            path = os.path.join(os.path.dirname(os.path.abspath(__file__)), name + '.pb')
            with open(path, 'wb') as f:
                f.write(body)
            print('%s: %d bytes' % (path, len(body)))
            return 0
    sys.stderr.write('no protobuf request body in kubectl output\n')
    return 1


if __name__ == '__main__':
    sys.exit(main())
