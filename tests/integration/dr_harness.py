"""ferry-dr under test: a DR helper that writes a ferry-dr TOML config for Broker/Mirror objects,
runs one-shot commands (status, role, audit verify) and runs `ferry-dr watch` as a managed
process with its own metrics port. FERRY_DR names the binary; tests skip without it."""

import json
import os
import subprocess
import time
import urllib.request

from ferry_harness import (Broker, BrokerTestCase, _die_with_parent, binary_from_env, _ManagedProcess, free_port, mirror_binary, toml_value,
                           wait_until)


def dr_binary():
    """Path of ferry-dr under test; skips the calling test when it is not configured."""
    return binary_from_env("FERRY_DR", "ferry-dr")


def _assign(table):
    return "".join(f"{json.dumps(k)} = {toml_value(v)}\n" for k, v in table.items())


class DR(_ManagedProcess):
    """One ferry-dr configuration (regions from Broker objects, flows from Mirror objects) in its
    own temp dir, with run() for one-shot commands and start_watch() for the daemon.

    `regions` maps a name to a Broker; `flows` is a list of (source, target, [Mirror, ...]).
    `dr` and `policy` override keys of those sections."""

    name = "ferry-dr"

    def __init__(self, regions, flows=(), dr=None, policy=None):
        self.binary = dr_binary()
        super().__init__("dr.log")
        self.config_path = os.path.join(self.tmpdir, "dr.toml")
        self.state_dir = os.path.join(self.tmpdir, "state")
        self.metrics_port = free_port()
        self.dr = {"state.dir": self.state_dir,
                   "bootstrap.file": os.path.join(self.tmpdir, "bootstrap.servers"),
                   "metrics.listener": f"127.0.0.1:{self.metrics_port}",
                   "watch.interval.seconds": 1}
        self.dr.update(dr or {})
        self.regions = dict(regions)
        self.flows = list(flows)
        self.policy = dict(policy or {})
        self.write_config()

    @property
    def status_url(self):
        """Base URL of watch's HTTP endpoint (named like Mirror's, for the harness's failure report)."""
        return f"http://127.0.0.1:{self.metrics_port}"

    @property
    def audit_log(self):
        return self.dr.get("audit.log") or os.path.join(self.state_dir, "audit.jsonl")

    def write_config(self):
        out = ["[dr]\n", _assign(self.dr)]
        for name, b in self.regions.items():
            out += [f"\n[regions.{json.dumps(name)}]\n",
                    _assign({"bootstrap.servers": b.bootstrap if isinstance(b, Broker) else b})]
        for source, target, mirrors in self.flows:
            out += ["\n[[flows]]\n", _assign({"source": source, "target": target,
                                              "status.urls": [m.status_url for m in mirrors]})]
        if self.policy:
            out += ["\n[policy]\n", _assign(self.policy)]
        with open(self.config_path, "w") as f:
            f.write("".join(out))

    def run(self, *args, timeout=60, env=None):
        """Runs `ferry-dr ARGS --config FILE` to completion; returns the CompletedProcess (text).
        `env` adds environment variables (e.g. FERRY_DR_CRASH_AT)."""
        full_env = dict(os.environ, **(env or {}))
        return subprocess.run([self.binary, *args, "--config", self.config_path], capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                              preexec_fn=_die_with_parent, env=full_env)

    def state(self):
        """state.json as a dict, or None when ferry-dr never wrote it."""
        try:
            with open(os.path.join(self.state_dir, "state.json")) as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def journal(self):
        """Every journal.jsonl event as a dict, in order."""
        try:
            with open(os.path.join(self.state_dir, "journal.jsonl")) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def bootstrap(self):
        """The bootstrap file's first line ("" when absent)."""
        try:
            with open(self.dr["bootstrap.file"]) as f:
                return f.readline().strip()
        except FileNotFoundError:
            return ""

    def status_json(self):
        """(exit code, parsed `status --json`)."""
        p = self.run("status", "--json")
        try:
            return p.returncode, json.loads(p.stdout)
        except json.JSONDecodeError:
            raise AssertionError(f"status --json printed no JSON (exit {p.returncode}); stderr:\n{p.stderr}")

    def start_watch(self, timeout=15):
        """Starts `ferry-dr watch` and waits until its /healthz answers."""
        self._spawn(["watch", "--config", self.config_path])
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"ferry-dr watch exited with {self.proc.returncode}; log:\n"
                                     + self.log_tail())
            try:
                self.get("/healthz", 1)
                return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError("ferry-dr watch /healthz not answering; log:\n" + self.log_tail())
            time.sleep(0.05)

    def get(self, path, timeout=5):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}{path}", timeout=timeout) as r:
            return r.read().decode("utf-8")


REGION_CONFIG = {"group.initial.rebalance.delay.ms": 0}
FLOW_KEYS = {"replication.policy": "identity", "refresh.topics.interval.seconds": 1,
             "refresh.groups.interval.seconds": 1, "emit.checkpoints.interval.seconds": 1,
             "sync.group.offsets.interval.seconds": 1, "emit.heartbeats.interval.seconds": 1}


class DrPairCase(BrokerTestCase):
    """Two regions east and west, one ferry-mirror with east->west running and west->east paused,
    and a ferry-dr for both (used by test_dr_failover and test_dr_property)."""

    def setUp(self):
        dr_binary()
        mirror_binary()

    def pair(self, policy=None, east_client=None, west_client=None):
        """east and west brokers, one mirror with east->west running and west->east paused, and a
        ferry-dr configured for both flows. `east_client` adds librdkafka properties to the
        mirror's connection to east."""
        self.east = self.start_broker(REGION_CONFIG)
        self.west = self.start_broker(REGION_CONFIG)
        flows = [dict(FLOW_KEYS, source="east", target="west"),
                 dict(FLOW_KEYS, source="west", target="east", paused=True)]
        east_cluster = {"bootstrap.servers": self.east.bootstrap, "client": east_client} if east_client else self.east
        west_cluster = {"bootstrap.servers": self.west.bootstrap, "client": west_client} if west_client else self.west
        self.mirror = self.start_mirror({"east": east_cluster, "west": west_cluster}, flows, start=False)
        # Pauses from ferry-dr survive a mirror restart (docs/mirror.md, Control API).
        self.mirror.mirror["state.dir"] = os.path.join(self.mirror.tmpdir, "state")
        self.mirror.start()
        pol = {"drain.timeout.seconds": 30}
        pol.update(policy or {})
        self.dr = DR({"east": self.east, "west": self.west},
                     [("east", "west", [self.mirror]), ("west", "east", [self.mirror])], policy=pol)
        self.addCleanup(self.dr.close)
        self.__dict__.setdefault("_processes", []).append(self.dr)
        return self.east, self.west

    def ferry_dr(self, *args, expect=0, timeout=120, env=None):
        p = self.dr.run(*args, timeout=timeout, env=env)
        if expect is not None and p.returncode != expect:
            self.fail(f"ferry-dr {' '.join(args)} exited {p.returncode}, expected {expect}\n"
                      f"stdout:\n{p.stdout[-3000:]}\nstderr:\n{p.stderr[-5000:]}")
        return p

    def role(self, region):
        return self.ferry_dr("role", region).stdout.split()[-1]

    def wait_replicated(self, topic, partitions, timeout=30):
        """Waits until the east->west flow lists every partition of `topic`."""
        def listed():
            st = self.mirror.flow_status("east", "west")
            return len([p for p in st["partitions"] if p["topic"] == topic]) == partitions
        wait_until(listed, timeout, interval=0.2, what=f"mirror replicating {topic}")
