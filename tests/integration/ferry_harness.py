"""Starts real `ferry-broker` and `ferry-mirror` processes for the integration tests and drives
them with real clients.

The binaries come from $FERRY_BROKER and $FERRY_MIRROR (CTest sets them to the built targets); a
test needing one that is not set is skipped. Every process gets a free port, its own temp dir
(config, data, log) and is killed with its temp dir removed when the test ends, whether it passed
or not; `prctl(PR_SET_PDEATHSIG)` also takes it down if the test runner itself is killed (e.g. by
a CTest timeout), and stale temp dirs of dead runs are swept on import.
"""

import atexit
import ctypes
import glob
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

# The client helpers live in kafka_clients; tests import them from here.
from kafka_clients import (admin, consume_all, consumer, create_topics, first_value,  # noqa: F401
                           partition_count, next_record, poll_detail, produce_all, producer, run_kcat, wait_until,
                           watermarks)
# Ports outside the ephemeral range, reserved machine-wide (see ports.py); tests import it from here.
from ports import free_port  # noqa: F401

START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 30.0
TMP_PREFIX = "ferry-it-"

_live_brokers = set()


def binary_from_env(var, name):
    """The executable environment variable `var` names (CTest sets it to the built `name`);
    skips the calling test when it is not set to an executable."""
    path = os.environ.get(var, "")
    if not path or not os.access(path, os.X_OK):
        raise unittest.SkipTest(f"{var} not set to an executable {name} (got {path!r})")
    return path


def broker_binary():
    """Path of the broker under test; skips the calling test when it is not configured."""
    return binary_from_env("FERRY_BROKER", "ferry-broker")


def toml_value(v):
    """Renders a Python value as a TOML value (bool, int, str, list of str)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot render {v!r} as TOML")


_libc = ctypes.CDLL("libc.so.6", use_errno=True)  # loaded here: dlopen after fork could deadlock


def _die_with_parent():
    # Runs in the child between fork and exec: SIGKILL the broker when the thread that started it
    # (the test's main thread) dies, even if the test process is killed without cleanup.
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _sweep_stale_tmpdirs():
    for d in glob.glob(os.path.join(tempfile.gettempdir(), TMP_PREFIX + "*")):
        m = re.match(re.escape(TMP_PREFIX) + r"(\d+)-", os.path.basename(d))
        if not m:
            continue
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            pass


class ProcessStartError(AssertionError):
    """A process under test exited during startup or never became ready; the message has its log
    tail."""


class BrokerStartError(ProcessStartError):
    """The broker exited during startup or never opened its port; the message has its log tail."""


class MirrorStartError(ProcessStartError):
    """The mirror exited during startup or never served its status endpoint; the message has its
    log tail."""


_live_processes = set()


class _ManagedProcess:
    """What Broker and Mirror share: a temp dir, one log file collecting stdout and stderr of every
    start in order, stop (SIGTERM) / kill (SIGKILL), and cleanup that keeps the log text in memory
    so a failing test can still print it. Subclasses set `binary`, `config_path` and `log_path`
    and implement start(). Setting `nofile_limit` before a start caps the process's open files
    (soft and hard RLIMIT_NOFILE) from that start on; setting `gid` runs it in that group (uid
    unchanged), so nftables rules can tell its sockets apart (cluster_faults.NetworkCut)."""

    name = "process"

    def __init__(self, log_name):
        self.tmpdir = tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-")
        self.log_path = os.path.join(self.tmpdir, log_name)
        self.proc = None
        self.last_returncode = None
        self.final_log = ""
        self._log_start = 0
        self._closed = False
        _live_processes.add(self)

    @property
    def pid(self):
        """PID of the running process, or None when stopped."""
        return self.proc.pid if self.proc else None

    def running(self):
        """Whether the process exists and has not exited."""
        return self.proc is not None and self.proc.poll() is None

    def _spawn(self, args):
        # The child is tied to the lifetime of the calling thread (PR_SET_PDEATHSIG), so start
        # processes from the test's main thread.
        assert not self.running(), f"{self.name} already running"
        self._log_start = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        with open(self.log_path, "ab") as log:
            env = dict(os.environ, **self.extra_env) if getattr(self, "extra_env", None) else None
            nofile = getattr(self, "nofile_limit", None)
            gid = getattr(self, "gid", None)

            def child_setup():
                _die_with_parent()
                if nofile:  # soft and hard: the process cannot raise it back
                    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
                if gid is not None:  # its sockets then carry this group: nftables' `meta skgid` picks them
                    os.setgroups([])
                    os.setgid(gid)

            self.proc = subprocess.Popen([self.binary] + list(args), stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         preexec_fn=child_setup, env=env)

    def stop(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM, wait up to `timeout` s, SIGKILL if still running. Returns the exit code
        (negative = killed by that signal, as subprocess reports it)."""
        if self.proc is None:
            return self.last_returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.last_returncode = self.proc.returncode
        self.proc = None
        return self.last_returncode

    def kill(self):
        """SIGKILL (a crash as far as the process can tell) and reap."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.last_returncode = self.proc.returncode
        self.proc = None

    def restart(self, graceful=True):
        """Stops (SIGTERM, or SIGKILL if not `graceful`) and starts again with the same config,
        ports and data."""
        if graceful:
            self.stop()
        else:
            self.kill()
        self.start()

    def log_text(self):
        """Everything the process wrote to stdout/stderr across all starts."""
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return self.final_log

    def log_since_start(self):
        """What the process wrote since its most recent start."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_start)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=40):
        """The last `lines` lines of log_text()."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def rss_kib(self):
        """Resident set size of the process in KiB (VmRSS from /proc/PID/status)."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS line")

    def close(self):
        """Kills the process and removes the temp dir (idempotent). Keeps the log text in memory
        so a failing test can still print it; FERRY_IT_KEEP_TMP keeps the temp dir."""
        if self._closed:
            return
        self._closed = True
        self.kill()
        self.final_log = self.log_text()
        if not os.environ.get("FERRY_IT_KEEP_TMP"):
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        _live_processes.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Broker(_ManagedProcess):
    """One ferry-broker process with its own port, temp dir, config file and log file.

    `config` maps Kafka-style keys to values and overrides the defaults (node.id 1, a PLAINTEXT
    listener on a free 127.0.0.1 port, log.dirs inside the temp dir). The log file collects stdout
    and stderr of every start, in order. With start=False the port is chosen but nothing listens
    on it until start(), which is how a test gives another process an address that comes up
    later.
    """

    name = "ferry-broker"

    def __init__(self, config=None, start=True, node_id=1, env=None):
        self.binary = broker_binary()
        self.extra_env = dict(env or {})  # added to the process environment at every start
        super().__init__("broker.log")
        self.port = free_port()
        self.node_id = node_id
        self.data_dir = os.path.join(self.tmpdir, "data")
        self.config_path = os.path.join(self.tmpdir, "broker.toml")
        self.config = {
            "node.id": node_id,
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "log.dirs": self.data_dir,
        }
        self.config.update(config or {})
        self.write_config()
        if start:
            self.start()

    @property
    def bootstrap(self):
        """"host:port" for bootstrap.servers / kcat -b."""
        return f"127.0.0.1:{self.port}"

    def write_config(self):
        """(Re)writes the TOML file from self.config; takes effect at the next start()."""
        with open(self.config_path, "w") as f:
            for k, v in self.config.items():
                f.write(f"{k} = {toml_value(v)}\n")

    def spawn(self):
        """Starts the broker without waiting for anything (to crash it at the very first
        instant, or during recovery); kill() or stop() reaps it."""
        self._spawn(["--config", self.config_path])

    def start(self, timeout=START_TIMEOUT_S):
        """Starts the broker and waits until its port accepts TCP connections.

        Raises BrokerStartError with the log tail if the process exits first or the port does not
        open within `timeout` seconds. Call it from the test's main thread: the broker is tied to
        the lifetime of the starting thread (PR_SET_PDEATHSIG).
        """
        self._spawn(["--config", self.config_path])
        deadline = time.monotonic() + timeout
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.last_returncode = rc
                raise BrokerStartError(f"ferry-broker exited with {rc} during startup; log tail:\n"
                                       + self.log_tail())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise BrokerStartError(f"port {self.port} not accepting after {timeout}s; log tail:\n"
                                       + self.log_tail())
            time.sleep(0.05)

    def add_scram(self, *specs, timeout=60):
        """Stores SCRAM credentials with `ferry-broker --config <its file> --add-scram SPEC ...`, as
        `kafka-storage format --add-scram` does before a KRaft cluster's first start (see
        scram_specs()); call it before start(). Returns the CompletedProcess (text mode); raises
        ProcessStartError with stderr when the command fails."""
        args = [self.binary, "--config", self.config_path]
        for spec in specs:
            args += ["--add-scram", spec]
        out = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise ProcessStartError(f"ferry-broker --add-scram exited {out.returncode}; stderr:\n{out.stderr}")
        return out


def mirror_binary():
    """Path of the mirror under test; skips the calling test when it is not configured."""
    return binary_from_env("FERRY_MIRROR", "ferry-mirror")


def _toml_assignments(table):
    # Keys are always quoted: flow keys such as "topics.exclude" would otherwise be dotted keys
    # extending "topics" (docs/mirror-config.md).
    return "".join(f"{json.dumps(k)} = {toml_value(v)}\n" for k, v in table.items())


class Mirror(_ManagedProcess):
    """One ferry-mirror process with its own status port, temp dir, TOML config and log file.

    `clusters` maps an alias to a Broker, a "host:port" string, or a dict of cluster keys
    ({"bootstrap.servers": ..., "client": {librdkafka property: value}}). `flows` is a list of
    dicts of [[flows]] keys (docs/mirror-config.md), e.g. {"source": "east", "target": "west",
    "topics": ["orders"]}. `mirror` overrides [mirror] keys; "status.listener" defaults to a free
    127.0.0.1 port so status() and metrics_text() work. Every attribute stays editable; call
    write_config() (start() does) for a change to reach the file.
    """

    name = "ferry-mirror"

    def __init__(self, clusters, flows, mirror=None, start=True):
        self.binary = mirror_binary()
        super().__init__("mirror.log")
        self.config_path = os.path.join(self.tmpdir, "mirror.toml")
        self.status_port = free_port()
        self.mirror = {"status.listener": f"127.0.0.1:{self.status_port}"}
        self.mirror.update(mirror or {})
        self.clusters = dict(clusters)
        self.flows = [dict(f) for f in flows]
        self.write_config()
        if start:
            self.start()

    def render_config(self):
        """The TOML text of the current mirror/clusters/flows attributes."""
        out = ["[mirror]\n", _toml_assignments(self.mirror)]
        for alias, c in self.clusters.items():
            if isinstance(c, Broker):
                c = {"bootstrap.servers": c.bootstrap}
            elif isinstance(c, str):
                c = {"bootstrap.servers": c}
            c = dict(c)
            client = c.pop("client", None)
            out += [f"\n[clusters.{json.dumps(alias)}]\n", _toml_assignments(c)]
            if client:
                out += [f"[clusters.{json.dumps(alias)}.client]\n", _toml_assignments(client)]
        for f in self.flows:
            out += ["\n[[flows]]\n", _toml_assignments(f)]
        return "".join(out)

    def write_config(self):
        """(Re)writes the TOML file; takes effect at the next start()."""
        with open(self.config_path, "w") as f:
            f.write(self.render_config())

    @property
    def status_url(self):
        """Base URL of the HTTP endpoint (/status, /metrics, /healthz)."""
        listener = self.mirror.get("status.listener", "")
        return f"http://{listener}" if listener else None

    def _get(self, path, timeout):
        with urllib.request.urlopen(self.status_url + path, timeout=timeout) as r:
            return r.read().decode("utf-8")

    def start(self, timeout=START_TIMEOUT_S):
        """Writes the config, starts the mirror and waits until GET /healthz answers (at once when
        no status listener is configured).

        Raises MirrorStartError with the log tail if the process exits first or the endpoint does
        not answer within `timeout` s. Call it from the test's main thread (PR_SET_PDEATHSIG).
        """
        self.write_config()
        self._spawn(["--config", self.config_path])
        if not self.status_url:
            return
        deadline = time.monotonic() + timeout
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.last_returncode = rc
                raise MirrorStartError(f"ferry-mirror exited with {rc} during startup; log tail:\n"
                                       + self.log_tail())
            try:
                self._get("/healthz", 1)
                return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise MirrorStartError(f"{self.status_url}/healthz not answering after {timeout}s; "
                                       "log tail:\n" + self.log_tail())
            time.sleep(0.05)

    def run_to_exit(self, timeout=15):
        """Runs the mirror on the current config in the foreground, for configs it must refuse:
        returns the CompletedProcess (text, stdout and stderr apart). Raises AssertionError if it
        is still running after `timeout` s (it is killed first)."""
        self.write_config()
        try:
            return subprocess.run([self.binary, "--config", self.config_path], capture_output=True,
                                  text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                                  preexec_fn=_die_with_parent)
        except subprocess.TimeoutExpired as e:
            raise AssertionError(f"ferry-mirror still running after {timeout}s; stderr so far:\n"
                                 f"{e.stderr}") from None

    def status(self, timeout=5):
        """GET /status parsed: {"flows": [{"flow", "source", "target", "records_replicated",
        "records_skipped_as_loops", "topics", "partitions": [{"topic", "partition",
        "remote_topic", "next_offset", "source_end_offset", "lag_records"}], "last_error", ...}]}.
        """
        return json.loads(self._get("/status", timeout))

    def flow_status(self, source, target, timeout=5):
        """The /status entry of flow `source` -> `target`; raises if the mirror does not list it."""
        for f in self.status(timeout)["flows"]:
            if f["source"] == source and f["target"] == target:
                return f
        raise AssertionError(f"flow {source}->{target} not in /status")

    def metrics_text(self, timeout=5):
        """GET /metrics (Prometheus text format)."""
        return self._get("/metrics", timeout)


@atexit.register
def _close_all():
    for p in list(_live_processes):
        p.close()


_sweep_stale_tmpdirs()


class BrokerTestCase(unittest.TestCase):
    """Base class: start_broker() and start_mirror() register cleanup; a failing test prints the
    log tails of its brokers and mirrors."""

    def start_broker(self, config=None, **kw):
        """A broker for this test only."""
        b = Broker(config, **kw)
        self.addCleanup(b.close)
        self.__dict__.setdefault("_processes", []).append(b)
        return b

    def start_mirror(self, clusters, flows, mirror=None, **kw):
        """A ferry-mirror for this test only (see Mirror)."""
        m = Mirror(clusters, flows, mirror, **kw)
        self.addCleanup(m.close)
        self.__dict__.setdefault("_processes", []).append(m)
        return m

    @classmethod
    def start_class_broker(cls, config=None, **kw):
        """A broker shared by the tests of one class (call from setUpClass)."""
        b = Broker(config, **kw)
        cls.addClassCleanup(b.close)
        cls._class_brokers = list(cls.__dict__.get("_class_brokers", [])) + [b]
        return b

    def run(self, result=None):
        before = (len(result.failures) + len(result.errors)) if result is not None else 0
        out = super().run(result)
        if result is not None and len(result.failures) + len(result.errors) > before:
            procs = self.__dict__.get("_processes", []) + type(self).__dict__.get("_class_brokers", [])
            for p in procs:
                tail = "\n".join((p.final_log or p.log_text()).splitlines()[-60:])
                where = f"port {p.port}" if isinstance(p, Broker) else f"status {p.status_url}"
                sys.stderr.write(f"\n--- {p.name} log tail ({self.id()}, {where}) ---\n"
                                 f"{tail}\n--- end of log ---\n")
        return out


# --- kcat ---------------------------------------------------------------------------------------

def kcat(bootstrap, props, *args, stdin=None, timeout=60):
    """Runs `kcat -b <bootstrap> -X key=value ... ARGS`, one -X per item of `props` (librdkafka
    properties, e.g. the security ones), with `stdin` (str) as input; returns the CompletedProcess
    (text mode) whatever kcat's exit code, so a test can assert on a refusal."""
    x = [a for k, v in props.items() for a in ("-X", f"{k}={v}")]
    return run_kcat(bootstrap, x + list(args), input=stdin, timeout=timeout, check=False)


# --- raw sockets --------------------------------------------------------------------------------

def closed_by_peer(sock, timeout=10, data_allowed=True):
    """True when the peer closes `sock` (end of stream or a reset) within `timeout` seconds of
    silence; False when it stays open. With data_allowed=False any byte before the close counts as
    an answer: False (e.g. "the broker closes without answering")."""
    sock.settimeout(timeout)
    try:
        while True:
            chunk = sock.recv(4096 if data_allowed else 1)
            if not chunk:
                return True
            if not data_allowed:
                return False
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


# --- SCRAM users --------------------------------------------------------------------------------

def scram_specs(users, mechanisms=("SCRAM-SHA-512",)):
    """`--add-scram` arguments (Kafka's kafka-storage format form) for `users` ({name: password}),
    one per user and mechanism, e.g. "SCRAM-SHA-512=[name=alice,password=pw]"."""
    return [f"{m}=[name={user},password={password}]" for user, password in users.items() for m in mechanisms]
