"""Real etcd members (Debian's etcd-server) for the integration tests, and a few reads of etcd
through its v3 JSON gateway (POST /v3/kv/range, bytes as base64), so a test can check what a
broker wrote there without any client library of ours.

An EtcdCluster starts `members` processes forming one fresh cluster on free loopback ports, each
with its own data dir in a temp dir, waits until every member answers a linearizable read, and
SIGKILLs them all on close().
"""

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from ferry_harness import TMP_PREFIX, _die_with_parent, free_port


def etcd_binary():
    """The etcd server binary ($FERRY_ETCD, else Debian's /usr/bin/etcd); fails the calling test
    when it is missing: scripts/setup-deps.sh installs etcd-server, so a missing one is a broken
    setup, not a reason to skip."""
    path = os.environ.get("FERRY_ETCD") or shutil.which("etcd") or "/usr/bin/etcd"
    if not os.access(path, os.X_OK):
        raise AssertionError(f"no etcd binary at {path!r}; run scripts/setup-deps.sh (Debian's etcd-server)")
    return path


def _b64(data):
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def prefix_end(prefix):
    """etcd's range_end for every key that starts with `prefix` (rpc.proto RangeRequest)."""
    b = bytearray(prefix.encode())
    while b and b[-1] == 0xFF:
        b.pop()
    if not b:
        return b"\0"
    b[-1] += 1
    return bytes(b)


class EtcdCluster:
    """`members` real etcd processes (1 or 3) on free ports; see the module docstring."""

    def __init__(self, members=1, timeout=20.0):
        self.binary = etcd_binary()
        self.tmpdir = tempfile.mkdtemp(prefix=f"{TMP_PREFIX}etcd-{os.getpid()}-")
        self.members = []
        for i in range(members):
            self.members.append({"name": f"m{i + 1}", "client": free_port(), "peer": free_port(), "proc": None})
        self.initial = ",".join(f"{m['name']}=http://127.0.0.1:{m['peer']}" for m in self.members)
        self.token = f"ferry-it-{os.getpid()}-{self.members[0]['client']}"
        try:
            for i in range(members):
                self._start(i)
            for i in range(members):
                self._wait_ready(i, timeout)
        except BaseException:
            self.close()
            raise

    def endpoint(self, i=0):
        return f"127.0.0.1:{self.members[i]['client']}"

    @property
    def endpoints(self):
        """Every member's "host:port", comma-separated, as etcd.endpoints takes them."""
        return ",".join(self.endpoint(i) for i in range(len(self.members)))

    def _start(self, i):
        m = self.members[i]
        client, peer = f"http://127.0.0.1:{m['client']}", f"http://127.0.0.1:{m['peer']}"
        args = [self.binary, "--name", m["name"], "--data-dir", os.path.join(self.tmpdir, m["name"] + ".etcd"),
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", self.initial, "--initial-cluster-state", "new",
                "--initial-cluster-token", self.token, "--logger=zap", "--log-outputs=stderr"]
        log = open(os.path.join(self.tmpdir, m["name"] + ".log"), "ab")
        m["proc"] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     preexec_fn=_die_with_parent)
        log.close()

    def _wait_ready(self, i, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.members[i]["proc"].poll() is not None:
                raise AssertionError(f"etcd member {self.members[i]['name']} exited at start:\n{self.log_tail(i)}")
            try:
                self.range("ferry-it-ready", member=i, timeout=1)
                return
            except (OSError, urllib.error.URLError, AssertionError):
                time.sleep(0.1)
        raise AssertionError(f"etcd member {self.members[i]['name']} not ready after {timeout}s:\n{self.log_tail(i)}")

    def log_tail(self, i, lines=20):
        try:
            with open(os.path.join(self.tmpdir, self.members[i]["name"] + ".log"), "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def kill_member(self, i):
        """SIGKILLs member i and reaps it."""
        p = self.members[i]["proc"]
        if p and p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait()

    def _post(self, path, body, member=None, timeout=5):
        order = [member] if member is not None else [i for i, m in enumerate(self.members)
                                                      if m["proc"] and m["proc"].poll() is None]
        last = None
        for i in order:
            req = urllib.request.Request(f"http://{self.endpoint(i)}{path}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=timeout) as r:
                    return json.loads(r.read())
            except urllib.error.HTTPError as e:
                raise AssertionError(f"etcd {path}: HTTP {e.code}: {e.read()[:300]!r}")
            except OSError as e:
                last = e
        raise last or AssertionError("no etcd member running")

    def range(self, key, range_end=None, member=None, timeout=5):
        """{key: value} (both str) of `key`, or of [key, range_end) when range_end is given."""
        body = {"key": _b64(key)}
        if range_end is not None:
            body["range_end"] = _b64(range_end)
        reply = self._post("/v3/kv/range", body, member=member, timeout=timeout)
        return {base64.b64decode(kv["key"]).decode("utf-8", "replace"):
                base64.b64decode(kv.get("value", "")).decode("utf-8", "replace")
                for kv in reply.get("kvs", [])}

    def prefix(self, prefix):
        """{key: value} of every key under `prefix`."""
        return self.range(prefix, prefix_end(prefix))

    def put(self, key, value):
        self._post("/v3/kv/put", {"key": _b64(key), "value": _b64(value)})

    def close(self):
        for i in range(len(self.members)):
            self.kill_member(i)
        if not os.environ.get("FERRY_IT_KEEP_TMP"):
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

