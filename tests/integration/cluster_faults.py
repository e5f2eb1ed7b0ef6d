"""A region of ferry-brokers on etcd for fault tests, a workload that remembers what was
acknowledged, and the checker that counts what a fault cost: acknowledged records missing from the
log (lost) and records in the log more than once (duplicated). Used by test_cluster_faults.py (a
bounded set in CI) and soak_cluster.py (scripts/soak-cluster.sh, >= 100 faults).
"""

import collections
import glob
import json
import os
import signal
import subprocess
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from etcd_harness import EtcdCluster
from ferry_harness import Broker, create_topics, wait_until

PREFIX = "/ferry/cluster"


class Region:
    """`n` brokers on `etcd_members` etcd members under one prefix. `bootstrap` lists the running
    brokers, which is what the client helpers need of "a broker"."""

    def __init__(self, n=3, etcd_members=1, session_ms=3000, prepare=None, **extra):
        """`prepare(broker)`, when given, runs for each broker before its first start (to change
        its config, its group, its log dir)."""
        self.etcd = EtcdCluster(etcd_members)
        self.session_ms = session_ms
        config = {"metadata.store": "etcd", "etcd.endpoints": self.etcd.endpoints, "etcd.prefix": PREFIX,
                  "broker.session.timeout.ms": session_ms, "broker.heartbeat.interval.ms": 500,
                  "replica.lag.time.max.ms": 4000, "replica.fetch.backoff.ms": 200}
        config.update(extra)
        self.brokers = []
        try:
            for i in range(1, n + 1):
                b = Broker(dict(config), node_id=i, start=prepare is None)
                self.brokers.append(b)
                if prepare:
                    prepare(b)
                    b.write_config()
                    b.start()
            wait_until(lambda: len(self.metadata().brokers) == n, timeout=30, what=f"{n} registered brokers")
        except BaseException:
            self.close()
            raise

    @property
    def bootstrap(self):
        return ",".join(b.bootstrap for b in self.brokers if b.running() and not getattr(b, "stopped_by_signal", False))

    def close(self):
        for b in self.brokers:
            if getattr(b, "stopped_by_signal", False):
                os.kill(b.proc.pid, signal.SIGCONT)
            b.close()
        self.etcd.close()

    def broker(self, node_id):
        return next(b for b in self.brokers if b.node_id == node_id)

    def metadata(self, topic=None):
        return AdminClient({"bootstrap.servers": self.bootstrap}).list_topics(topic=topic, timeout=10)

    def partition(self, topic, index=0):
        """The partition as Metadata shows it (through librdkafka, from a running broker)."""
        return self.metadata(topic).topics[topic].partitions[index]

    def state(self, topic, index=0):
        """The partition's leadership as the controller wrote it in etcd: {"leader", "leader_epoch",
        "isr", ...}; None before it has one. Read from etcd, so a frozen broker cannot stall it."""
        key = f"{PREFIX}/partitions/{topic}/{index}"
        got = self._range(key)
        return json.loads(got[key]) if key in got else None

    def _range(self, key):
        # Any live member; "leader changed" while an etcd member dies is retried.
        last = None
        for _ in range(50):
            for i in range(len(self.etcd.members)):
                try:
                    return self.etcd.range(key, member=i)
                except Exception as e:  # a dead member, or UNAVAILABLE during an election
                    last = e
            time.sleep(0.1)
        raise last

    def topic(self, name):
        """The topic's value in etcd ({"partitions", "assignment", "reassignments", ...}); None when absent."""
        key = f"{PREFIX}/topics/{name}"
        got = self._range(key)
        return json.loads(got[key]) if key in got else None

    def leader(self, topic, index=0):
        s = self.state(topic, index)
        return s["leader"] if s else -1

    def controller(self):
        key = f"{PREFIX}/controller"
        return int(self._range(key).get(key, "-1"))

    def sigstop(self, b):
        os.kill(b.proc.pid, signal.SIGSTOP)
        b.stopped_by_signal = True

    def sigcont(self, b):
        os.kill(b.proc.pid, signal.SIGCONT)
        b.stopped_by_signal = False

    def wait_isr(self, topic, size, index=0, timeout=40):
        wait_until(lambda: len((self.state(topic, index) or {}).get("isr", [])) == size, timeout=timeout,
                   what=f"an ISR of {size} for {topic}-{index}")

    def wait_leader(self, topic, index=0, not_in=(), timeout=30):
        """Waits until the partition has a leader that is live and not in `not_in`; returns its id."""
        def ok():
            l = self.leader(topic, index)
            return l >= 0 and l not in not_in and self.broker(l).running()
        wait_until(ok, timeout=timeout, what=f"a leader of {topic}-{index} outside {list(not_in)}")
        return self.leader(topic, index)


class Workload:
    """An idempotent acks=all producer writing "<n>" values to `topic` from a thread, recording each
    acknowledged value; errors are kept (a delivery error is not a loss: the client was told)."""

    def __init__(self, region, topic, **conf):
        c = {"bootstrap.servers": region.bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 2,
             "message.timeout.ms": 120000, "request.timeout.ms": 5000, "retry.backoff.ms": 100,
             "topic.metadata.refresh.interval.ms": 1000}
        c.update(conf)
        if os.environ.get("FERRY_IT_RDKAFKA_DEBUG"):  # e.g. "eos,topic,broker": librdkafka's own account, on stderr
            c["debug"] = os.environ["FERRY_IT_RDKAFKA_DEBUG"]
        c["error_cb"] = self._on_error
        self.producer = Producer(c)
        self.topic = topic
        self.acked = []
        self.errors = []
        self.sent = 0
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _on_error(self, err):
        # Client-level events (a broker unreachable, all brokers down); only fatal ones matter.
        if err.fatal():
            with self.lock:
                self.errors.append(err)

    def _on_delivery(self, err, msg):
        with self.lock:
            if err:
                self.errors.append(err)
            else:
                self.acked.append((msg.value(), time.monotonic()))

    def _run(self):
        try:
            while not self.stop_flag.is_set():
                try:
                    self.producer.produce(self.topic, value=str(self.sent).encode(), on_delivery=self._on_delivery)
                    self.sent += 1
                    if self.sent % 64 == 0:
                        self.producer.poll(0.001)
                except BufferError:
                    self.producer.poll(0.01)
            self.producer.flush(150)
        except Exception as e:  # a fatal producer error: kept for the test to report
            with self.lock:
                self.errors.append(e)

    def acked_count(self):
        with self.lock:
            return len(self.acked)

    def wait_acked(self, more, timeout=60):
        target = self.acked_count() + more

        def done():
            with self.lock:
                fatal = [e for e in self.errors if not hasattr(e, "fatal") or e.fatal()]
            if fatal:
                raise AssertionError(f"the producer failed: {fatal[0]}")
            return self.acked_count() >= target
        try:
            wait_until(done, timeout=timeout, what=f"{more} more acknowledgements")
        except AssertionError as e:
            with self.lock:
                last = self.acked[-1][1] if self.acked else None
            raise AssertionError(f"{e}: {self.acked_count()} acknowledged of {self.sent} sent, the last "
                                 f"{time.monotonic() - last:.1f} s ago" if last else f"{e}: nothing acknowledged")

    def stop(self):
        self.stop_flag.set()
        self.thread.join(180)


class NetworkCut:
    """Cuts one broker off the other brokers and off etcd with an nftables table of this test's
    own, while clients (this process, gid 0) still reach it: a leader on the wrong side of a
    partition, which must not acknowledge anything alone. Each broker runs in a group of its own
    (Region(prepare=NetworkCut.tag)); the rules drop the isolated broker's own outgoing
    connections (to etcd and the leaders it follows) and the other brokers' connections to it.
    Needs root and nft (Debian's nftables); heal() or close() removes the table."""

    BASE_GID = 40000 + (os.getpid() % 5000) * 8  # groups of this test process: tests run side by side

    @classmethod
    def tag(cls, broker):
        broker.gid = cls.BASE_GID + broker.node_id

    def __init__(self, region, broker):
        self.table = f"ferry_cut_{os.getpid()}"
        others = ", ".join(str(self.BASE_GID + b.node_id) for b in region.brokers if b is not broker)
        self.rules = (f"table inet {self.table} {{\n chain out {{\n"
                      "  type filter hook output priority 0; policy accept;\n"
                      f"  meta skgid {self.BASE_GID + broker.node_id} tcp sport != {broker.port} drop\n"
                      f"  meta skgid {{ {others} }} tcp dport {broker.port} drop\n }}\n}}\n")
        self.active = False

    def cut(self):
        p = subprocess.run(["nft", "-f", "-"], input=self.rules, text=True, capture_output=True)
        if p.returncode != 0:
            raise AssertionError(f"nft refused the cut ({p.stderr.strip()}):\n{self.rules}")
        self.active = True

    def heal(self):
        if self.active:
            subprocess.run(["nft", "delete", "table", "inet", self.table], check=False, capture_output=True)
            self.active = False

    close = heal

    @staticmethod
    def available():
        try:
            return subprocess.run(["nft", "list", "tables"], capture_output=True).returncode == 0
        except OSError:
            return False


def read_log(region, topic, partitions, timeout=60):
    """Every value in `topic`'s partitions, from the start to the high watermark at the time of
    the call, in offset order per partition."""
    c = Consumer({"bootstrap.servers": region.bootstrap, "group.id": "ferry-fault-checker",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100})
    try:
        ends = {}
        for p in range(partitions):
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            ends[p] = hi
        c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        got = collections.defaultdict(list)
        done = {p for p, hi in ends.items() if hi == 0}
        deadline = time.monotonic() + timeout
        while len(done) < partitions:
            if time.monotonic() > deadline:
                raise AssertionError(f"reading {topic} timed out at {({p: len(v) for p, v in got.items()})} of {ends}")
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            got[m.partition()].append(m.value())
            if m.offset() + 1 >= ends[m.partition()]:
                done.add(m.partition())
        return [v for p in range(partitions) for v in got[p]]
    finally:
        c.close()


def check(acked_values, log_values):
    """(lost, duplicated): acknowledged values absent from the log, and values present more than once."""
    counts = collections.Counter(log_values)
    lost = len(set(acked_values) - set(counts))
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    return lost, duplicated


def replica_bytes(broker, topic, partition):
    """The bytes of a replica's log, segment by segment in offset order."""
    log_dir = broker.config.get("log.dirs", broker.data_dir)
    files = sorted(glob.glob(os.path.join(log_dir, f"{topic}-{partition}", "*.log")))
    out = b""
    for f in files:
        with open(f, "rb") as fh:
            out += fh.read()
    return out


def new_topic(region, name, partitions=1):
    create_topics(region, name, partitions=partitions, replication_factor=3, config={"min.insync.replicas": "2"})
    return name
