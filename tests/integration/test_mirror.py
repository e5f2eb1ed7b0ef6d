"""ferry-mirror's data path between two real regions: two ferry-broker processes, "east" and
"west", on loopback, and the real ferry-mirror binary, checked only through what a Kafka client
sees on the brokers and what the mirror's /status reports.

Every replicated record must arrive on the same partition number, in order, with key, value,
timestamp and user headers unchanged, plus the two provenance headers `ferry.origin` (the cluster
the record was first produced on) and `ferry.upstream` ("<source alias>/<partition>/<offset>" of
this hop). The SIGKILL and broker-restart tests derive "exactly once, in order" from those
upstream offsets: west partition p must hold east partition p's records at upstream offsets
0, 1, 2, ... with no repeats and no holes.

The mirror's consumer group on the source has a 10 s session by default, so a SIGKILLed mirror's
partitions reach its successor only after that; the SIGKILL test sets the broker's minimum (6 s)
through the cluster's client properties to keep the module short. FERRY_MIRROR_SEED replays the
random kill moments and record contents (the seed is printed).
"""

import ctypes
import os
import random
import threading
import time
import unittest

from confluent_kafka import TIMESTAMP_CREATE_TIME, TopicPartition
from confluent_kafka.admin import ConfigResource, NewPartitions

from ferry_harness import (BrokerTestCase, admin, consume_all, consumer, create_topics, poll_detail,
                           mirror_binary, partition_count, produce_all, producer, wait_until,
                           watermarks)

REGION_CONFIG = {"group.initial.rebalance.delay.ms": 0}
ORIGIN, UPSTREAM = "ferry.origin", "ferry.upstream"
FAST_REFRESH = {"refresh.topics.interval.seconds": 1}
SEED = int(os.environ.get("FERRY_MIRROR_SEED", random.randrange(1 << 30)))
print(f"test_mirror: FERRY_MIRROR_SEED={SEED}")


def message_headers(msg):
    """msg.headers(), working around confluent-kafka 1.7's Message.headers() returning None for a
    null header value without taking a reference to it (confluent-kafka-python issue #1191): the
    interpreter aborts with "deallocating None" after enough such calls, so the missing
    references are added here."""
    headers = msg.headers() or []
    for _, v in headers:
        if v is None:
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(None))
    return headers


def split_headers(msg):
    """(user headers as a list of (key, value) in order, {ferry header: [values]})."""
    user, ferry = [], {}
    for k, v in message_headers(msg):
        if k in (ORIGIN, UPSTREAM):
            ferry.setdefault(k, []).append(v)
        else:
            user.append((k, v))
    return user, ferry


def content(msg):
    """What must survive a hop unchanged: key, value, (timestamp type, timestamp), user headers."""
    return msg.key(), msg.value(), msg.timestamp(), split_headers(msg)[0]


def provenance(test, msg, where):
    """The (origin, upstream) header values of a replicated record; fails unless each is present
    exactly once."""
    ferry = split_headers(msg)[1]
    test.assertEqual(len(ferry.get(ORIGIN, [])), 1, f"{where}: ferry.origin headers {ferry}")
    test.assertEqual(len(ferry.get(UPSTREAM, [])), 1, f"{where}: ferry.upstream headers {ferry}")
    return ferry[ORIGIN][0].decode(), ferry[UPSTREAM][0].decode()


def topic_configs(broker, topic):
    """{name: value} of a topic's DescribeConfigs entries."""
    a = admin(broker)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return {k: e.value for k, e in a.describe_configs([res])[res].result(15).items()}


def topic_names(broker):
    return set(admin(broker).list_topics(timeout=10).topics)


class KeyedStream(threading.Thread):
    """Produces record i = key "<tag>-<i:08d>", a value and a "seq" header derived from i, to
    partition i % partitions of `topic`, at about `rate` records/s with acks=all, until stop().
    librdkafka retries through broker outages, so a broker restart does not end the stream."""

    def __init__(self, broker, topic, partitions, rate, tag="s"):
        super().__init__(daemon=True)
        self.p = producer(broker, **{"message.timeout.ms": 120000, "linger.ms": 5})
        self.topic, self.partitions, self.rate, self.tag = topic, partitions, rate, tag
        self.sent = 0
        self.acked = 0
        self.errors = []
        self._halt = threading.Event()
        self.exc = None

    def _on_delivery(self, err, msg):
        if err is None:
            self.acked += 1
        else:
            self.errors.append(err)

    def run(self):
        try:
            start = time.monotonic()
            while not self._halt.is_set():
                due = int((time.monotonic() - start) * self.rate) + 1
                while self.sent < due and not self._halt.is_set():
                    i = self.sent
                    try:
                        self.p.produce(self.topic, key=f"{self.tag}-{i:08d}".encode(),
                                       value=f"value-{self.tag}-{i}-".encode() * (1 + i % 5),
                                       partition=i % self.partitions,
                                       headers=[("seq", str(i).encode())],
                                       on_delivery=self._on_delivery)
                        self.sent += 1
                    except BufferError:
                        self.p.poll(0.05)
                self.p.poll(0.01)
            self.p.flush(120)
        except Exception as e:  # surfaced by stop()
            self.exc = e

    def stop(self):
        """Ends the stream once everything sent is acknowledged (or failed). Idempotent."""
        if self._halt.is_set() and not self.is_alive():
            return
        self._halt.set()
        self.join(150)
        if self.is_alive():
            raise AssertionError("producer thread did not finish")
        if self.exc:
            raise self.exc
        if self.errors:
            raise AssertionError(f"{len(self.errors)} of {self.sent} records to {self.topic} failed; "
                                 f"first: {self.errors[0]}")


class MirrorTestCase(BrokerTestCase):
    def setUp(self):
        mirror_binary()  # skip before starting brokers when FERRY_MIRROR is not set

    def regions(self, start_west=True, start_east=True):
        east = self.start_broker(REGION_CONFIG, start=start_east)
        west = self.start_broker(REGION_CONFIG, start=start_west)
        return east, west

    def poll_until(self, check, timeout, what, interval=0.5):
        """Polls check() -> (done, detail) until done; on timeout fails with the last detail."""
        return poll_detail(check, timeout, what, interval)

    def wait_caught_up(self, mirror, source, target, topics, remote, timeout=60,
                       same_watermarks=True):
        """Waits until flow source->target has replicated every record of `topics` ({source topic:
        partition count}) that the source holds now: /status lists every partition with lag 0 and
        next_offset equal to the source's high watermark, and (with `same_watermarks`, for a
        target written by this flow only) the remote partition `remote(topic)` ends at the same
        offset. Produce nothing to the source while waiting."""
        sc, tc = consumer(source), consumer(target)
        self.addCleanup(sc.close)
        self.addCleanup(tc.close)
        names = (alias_of(mirror, source), alias_of(mirror, target))

        def check():
            st = mirror.flow_status(*names)
            parts = {(p["topic"], p["partition"]): p for p in st["partitions"]}
            for topic, n in topics.items():
                for p in range(n):
                    s = parts.get((topic, p))
                    high = sc.get_watermark_offsets(TopicPartition(topic, p), cached=False)[1]
                    if s is None or s["next_offset"] != high or s["lag_records"] != 0:
                        return False, (f"{topic}-{p}: source high {high}, status {s}; "
                                       f"last_error {st['last_error']}")
                    if same_watermarks:
                        rhigh = tc.get_watermark_offsets(TopicPartition(remote(topic), p), cached=False)[1]
                        if rhigh != high:
                            return False, f"{remote(topic)}-{p} ends at {rhigh}, source at {high}"
            return True, st

        return self.poll_until(check, timeout, "flow {}->{} to catch up".format(*names))

    def assert_exact_copy(self, east, west, topic, remote, partitions, source="east"):
        """Every record of `topic` on `east` is on `remote` on `west` once, in order, same
        partition, same content, with ferry.upstream naming its source offset; nothing else is
        there. Returns the number of records compared."""
        src = consume_all(east, topic, partitions=list(range(partitions)), timeout=90)
        dst = consume_all(west, remote, partitions=list(range(partitions)), timeout=90)
        total = 0
        for p in range(partitions):
            upstream, origins = [], set()
            for m in dst[p]:
                origin, up = provenance(self, m, f"{remote}-{p}@{m.offset()}")
                upstream.append(up)
                origins.add(origin)
            want = [f"{source}/{p}/{m.offset()}" for m in src[p]]
            if upstream != want:
                seen, dups = set(), []
                for u in upstream:
                    if u in seen:
                        dups.append(u)
                    seen.add(u)
                missing = sorted(set(want) - seen, key=lambda u: int(u.rsplit("/", 1)[1]))
                self.fail(f"{remote}-{p}: {len(upstream)} records for {len(want)} source records; "
                          f"{len(dups)} duplicates (first {dups[:5]}), {len(missing)} missing "
                          f"(first {missing[:5]}), first difference at index "
                          f"{next(i for i, (a, b) in enumerate(zip(upstream + [None], want + [None])) if a != b)}")
            self.assertLessEqual(origins, {source}, f"{remote}-{p} ferry.origin")
            for a, b in zip(src[p], dst[p]):
                if content(a) != content(b):
                    self.fail(f"{topic}-{p}@{a.offset()} differs on {remote}-{p}@{b.offset()}: "
                              f"{content(a)} != {content(b)}")
            total += len(src[p])
        return total


def alias_of(mirror, broker):
    """The alias under which `broker` is configured in `mirror`."""
    for alias, c in mirror.clusters.items():
        if c is broker or (isinstance(c, dict) and c.get("bootstrap.servers") == broker.bootstrap):
            return alias
    raise KeyError(broker.bootstrap)


def byte_records(rng, n, topics, partitions):
    """n records spread round-robin over topics x partitions with assorted keys (binary, empty,
    null), values (binary, empty, null tombstones), user headers (repeated keys, null values) and
    non-monotonic CreateTime timestamps within the last two hours."""
    base = int(time.time() * 1000) - 2 * 3600 * 1000
    out = []
    for i in range(n):
        key = b"k%06d-" % i + rng.randbytes(rng.randrange(0, 24))
        if i % 997 == 0:
            key = None
        elif i % 991 == 0:
            key = b""
        value = rng.randbytes(rng.randrange(1, 400))
        if i % 1009 == 0:
            value = None
        elif i % 1013 == 0:
            value = b""
        headers = [("trace", b"t-%d" % i), ("bin", rng.randbytes(rng.randrange(0, 16)))]
        if i % 7 == 0:
            headers.append(("trace", b"again"))
        if i % 11 == 0:
            headers.append(("nothing", None))
        out.append({"topic": topics[i % len(topics)], "partition": (i // len(topics)) % partitions,
                    "key": key, "value": value, "headers": headers,
                    "timestamp": base + (i * 7919) % (3600 * 1000)})
    return out


def produce_batched(broker, records, timeout=120):
    """Produces records (dicts with "topic") with acks=all in large batches; returns {(topic,
    partition, offset): record} from the delivery reports."""
    p = producer(broker, **{"linger.ms": 20, "batch.num.messages": 10000,
                            "queue.buffering.max.messages": 200000})
    placed, errors = {}, []

    def on_delivery(err, msg, r):
        if err:
            errors.append(err)
        else:
            placed[(msg.topic(), msg.partition(), msg.offset())] = r

    for r in records:
        kw = {k: v for k, v in r.items() if k != "topic"}
        while True:
            try:
                p.produce(r["topic"], on_delivery=lambda e, m, r=r: on_delivery(e, m, r), **kw)
                break
            except BufferError:
                p.poll(0.05)
    left = p.flush(timeout)
    if errors or left or len(placed) != len(records):
        raise AssertionError(f"{len(placed)} of {len(records)} delivered, {left} queued, "
                             f"errors {errors[:3]}")
    return placed


class DataPathTest(MirrorTestCase):
    def test_100k_records_arrive_byte_for_byte_in_order(self):
        east, west = self.regions()
        topics = ["bytes-a", "bytes-b", "bytes-c"]
        create_topics(east, topics, partitions=4)
        rng = random.Random(SEED)
        n = 100_000
        records = byte_records(rng, n, topics, 4)
        t0 = time.monotonic()
        placed = produce_batched(east, records)
        t1 = time.monotonic()
        m = self.start_mirror({"east": east, "west": west},
                              [dict(source="east", target="west", **FAST_REFRESH)])
        st = self.wait_caught_up(m, east, west, {t: 4 for t in topics}, lambda t: f"east.{t}",
                                 timeout=120)
        t2 = time.monotonic()
        # History may hold a transient startup message (a topic subscribed a moment before the
        # consumer's metadata knew it); what must hold is that nothing is wrong now.
        st = wait_until(lambda: (lambda f: f if f["healthy"] else None)(m.flow_status("east", "west")), 30,
                        what="the flow to report healthy")
        self.assertEqual(st["current_errors"], [])
        # The mirror also replicates its own heartbeats, so count at least the test's records.
        self.assertGreaterEqual(st["records_replicated"], n)

        compared = 0
        for t in topics:
            got = consume_all(west, f"east.{t}", timeout=90)
            self.assertEqual(sorted(got), [0, 1, 2, 3], f"partitions of east.{t}")
            for p, msgs in got.items():
                want = sorted((o, r) for (tt, pp, o), r in placed.items() if tt == t and pp == p)
                self.assertEqual(len(msgs), len(want), f"east.{t}-{p} record count")
                for msg, (src_offset, r) in zip(msgs, want):
                    where = f"east.{t}-{p}@{msg.offset()}"
                    origin, upstream = provenance(self, msg, where)
                    self.assertEqual((origin, upstream), ("east", f"east/{p}/{src_offset}"), where)
                    self.assertEqual(msg.key(), r["key"], where)
                    self.assertEqual(msg.value(), r["value"], where)
                    self.assertEqual(msg.timestamp(), (TIMESTAMP_CREATE_TIME, r["timestamp"]), where)
                    self.assertEqual(split_headers(msg)[0], r["headers"], where)
                    compared += 1
        self.assertEqual(compared, n)
        print(f"\n{n} records: produced in {t1 - t0:.1f}s, replicated in {t2 - t1:.1f}s, "
              f"verified in {time.monotonic() - t2:.1f}s")


class FaultTest(MirrorTestCase):
    def test_mirror_sigkilled_five_times_under_load_loses_and_repeats_nothing(self):
        east, west = self.regions()
        topic, parts = "kills", 4
        create_topics(east, topic, partitions=parts)
        rng = random.Random(SEED + 2)
        # The broker's minimum session, so a dead mirror's partitions move after ~6 s, not 10.
        clusters = {"east": {"bootstrap.servers": east.bootstrap,
                             "client": {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}},
                    "west": west}
        m = self.start_mirror(clusters, [dict(source="east", target="west", topics=[topic],
                                              **FAST_REFRESH)])
        stream = KeyedStream(east, topic, parts, rate=1500)
        stream.start()
        self.addCleanup(stream.stop)
        kills = []
        for k in range(5):
            # Kill at a random moment once this incarnation is replicating: during its resume
            # scans or with records in flight.
            wait_until(lambda: m.flow_status("east", "west")["records_replicated"] > 0, 60,
                       interval=0.2, what=f"mirror incarnation {k + 1} replicating")
            time.sleep(rng.uniform(0.0, 2.0))
            st = m.flow_status("east", "west")
            kills.append(st["records_replicated"])
            m.kill()
            m.start()
        time.sleep(rng.uniform(1.0, 3.0))
        stream.stop()
        self.wait_caught_up(m, east, west, {topic: parts}, lambda t: f"east.{t}", timeout=90)
        total = self.assert_exact_copy(east, west, topic, f"east.{topic}", parts)
        self.assertEqual(total, stream.acked, "east holds exactly the acknowledged stream")
        print(f"\n{total} records, replicated per incarnation before its SIGKILL: {kills}")

    def test_broker_restarts_under_the_mirror_lose_and_repeat_nothing(self):
        east, west = self.regions()
        topic, parts = "restarts", 3
        create_topics(east, topic, partitions=parts)
        m = self.start_mirror({"east": east, "west": west},
                              [dict(source="east", target="west", topics=[topic], **FAST_REFRESH)])
        stream = KeyedStream(east, topic, parts, rate=1000)
        stream.start()
        self.addCleanup(stream.stop)

        def progressed(base, what):
            wait_until(lambda: m.flow_status("east", "west")["records_replicated"] > base + 500, 60,
                       interval=0.2, what=what)

        rng = random.Random(SEED + 3)
        progressed(0, "replication before the west restart")
        west.kill()
        time.sleep(rng.uniform(0.5, 3.0))  # records pile up on east meanwhile
        west.start()
        progressed(m.flow_status("east", "west")["records_replicated"], "replication after west came back")
        east.kill()
        time.sleep(rng.uniform(0.5, 3.0))
        east.start()
        progressed(m.flow_status("east", "west")["records_replicated"], "replication after east came back")
        stream.stop()
        self.assertTrue(m.running(), "the mirror exited:\n" + m.log_tail())
        self.wait_caught_up(m, east, west, {topic: parts}, lambda t: f"east.{t}", timeout=90)
        total = self.assert_exact_copy(east, west, topic, f"east.{topic}", parts)
        self.assertGreaterEqual(total, stream.acked)
        print(f"\n{total} records on east ({stream.acked} acknowledged), identical on west")


class PolicyTest(MirrorTestCase):
    def test_identity_bidirectional_pair_copies_each_record_once_and_never_loops(self):
        east, west = self.regions()
        topic, parts, n = "shared", 3, 1500
        for b in (east, west):
            create_topics(b, topic, partitions=parts)
        local = {"east": {}, "west": {}}  # alias -> {(partition, offset): key}

        def produce(alias, broker, start):
            recs = [{"key": f"{alias}-{i}".encode(), "value": f"from {alias} #{i}".encode(),
                     "partition": i % parts, "headers": [("made-in", alias.encode())]}
                    for i in range(start, start + n)]
            for msg in produce_all(broker, topic, recs):
                local[alias][(msg.partition(), msg.offset())] = msg.key()

        flows = [dict(source=s, target=t, topics=[topic], **{"replication.policy": "identity"},
                      **FAST_REFRESH) for s, t in (("east", "west"), ("west", "east"))]
        # The reverse flow is added to a running one-way setup: east then ends with its own
        # records followed by copies of west's, which the new east->west flow reads in one go
        # and must skip without losing track of where it is.
        produce("east", east, 0)
        m = self.start_mirror({"east": east, "west": west}, flows[1:])
        produce("west", west, 0)
        self.wait_caught_up(m, west, east, {topic: parts}, lambda t: t, same_watermarks=False)
        m.stop()
        m.flows = flows
        m.start()
        # More records on both sides while both flows run.
        produce("east", east, n)
        produce("west", west, n)
        want_total = 4 * n

        def totals():
            t = {a: sum(watermarks(b, topic, p)[1] for p in range(parts))
                 for a, b in (("east", east), ("west", west))}
            return t == {"east": want_total, "west": want_total}, t

        self.poll_until(totals, 90, "both clusters to hold both sides' records")
        time.sleep(4)  # a loop would show up as more records now
        stable, t = totals()
        self.assertTrue(stable, f"records kept arriving after both flows caught up (a loop): {t}")

        for alias, broker, other in (("east", east, "west"), ("west", west, "east")):
            got = consume_all(broker, topic, partitions=list(range(parts)))
            for p in range(parts):
                own = [m_.key() for m_ in got[p] if not split_headers(m_)[1]]
                want_own = [k for (pp, o), k in sorted(local[alias].items()) if pp == p]
                self.assertEqual(own, want_own, f"{alias} {topic}-{p}: its own records")
                copied = [(provenance(self, m_, f"{alias} {topic}-{p}@{m_.offset()}"), m_.key())
                          for m_ in got[p] if split_headers(m_)[1]]
                want_copied = [((other, f"{other}/{p}/{o}"), k)
                               for (pp, o), k in sorted(local[other].items()) if pp == p]
                self.assertEqual(copied, want_copied, f"{alias} {topic}-{p}: records from {other}")
        self.assertFalse({"east.shared", "west.shared"} & (topic_names(east) | topic_names(west)),
                         "identity policy must not create prefixed topics")
        for s, tg in (("east", "west"), ("west", "east")):
            st = m.flow_status(s, tg)
            self.assertGreater(st["records_skipped_as_loops"], 0, f"{s}->{tg} skipped nothing")
            self.assertIsNone(st["last_error"], f"{s}->{tg}")

        # Skipped records count as done: with everything copied, /status shows no lag.
        for s, tg, sb, tb in (("east", "west", east, west), ("west", "east", west, east)):
            self.wait_caught_up(m, sb, tb, {topic: parts}, lambda t: t, timeout=20,
                                same_watermarks=False)

    def test_default_policy_names_creates_grows_and_configures_remote_topics(self):
        east, west = self.regions()
        configs = {"retention.ms": "259200000", "max.message.bytes": "123456"}
        create_topics(east, "orders", partitions=2, config=configs)
        produce_all(east, "orders", [{"key": b"o%d" % i, "value": b"order %d" % i, "partition": i % 2}
                                     for i in range(200)])
        m = self.start_mirror({"east": east, "west": west},
                              [dict(source="east", target="west", topics=["orders", "payments"],
                                    **FAST_REFRESH)])
        self.wait_caught_up(m, east, west, {"orders": 2}, lambda t: f"east.{t}")
        names = topic_names(west)
        self.assertIn("east.orders", names)
        self.assertNotIn("orders", names, "default policy must prefix the source alias")
        remote_configs = topic_configs(west, "east.orders")
        for k, v in configs.items():
            self.assertEqual(remote_configs.get(k), v, f"{k} of east.orders")

        # A topic created after the mirror started.
        create_topics(east, "payments", partitions=3)
        produce_all(east, "payments", [{"value": b"pay %d" % i, "partition": i % 3} for i in range(90)])
        wait_until(lambda: partition_count(west, "east.payments") == 3, 20,
                   what="east.payments with 3 partitions on west")
        self.wait_caught_up(m, east, west, {"payments": 3}, lambda t: f"east.{t}", timeout=30)

        # CreatePartitions on the source grows the remote topic; new partitions are replicated.
        a = admin(east)
        for fut in a.create_partitions([NewPartitions("orders", 4)]).values():
            fut.result(15)
        wait_until(lambda: partition_count(west, "east.orders") == 4, 20,
                   what="east.orders grown to 4 partitions on west")
        produce_all(east, "orders", [{"key": b"n%d" % i, "value": b"new %d" % i, "partition": 2 + i % 2}
                                     for i in range(100)])
        self.wait_caught_up(m, east, west, {"orders": 4}, lambda t: f"east.{t}", timeout=30)
        self.assert_exact_copy(east, west, "orders", "east.orders", 4)
        self.assert_exact_copy(east, west, "payments", "east.payments", 3)
        self.assertEqual({t for t in topic_names(west) if "orders" in t or "payments" in t},
                         {"east.orders", "east.payments"})


class BadConfigTest(MirrorTestCase):
    def refused(self, clusters, flows):
        m = self.start_mirror(clusters, flows, start=False)
        started = time.monotonic()
        r = m.run_to_exit(timeout=10)
        self.assertEqual(r.returncode, 2, f"stdout {r.stdout!r} stderr {r.stderr!r}")
        self.assertLess(time.monotonic() - started, 10)
        return r.stderr

    def test_invalid_configs_exit_2_naming_the_key(self):
        clusters = {"east": "127.0.0.1:1", "west": "127.0.0.1:2"}
        err = self.refused(clusters, [dict(source="east", target="west", topics=["orders["])])
        self.assertIn("'topics'", err)
        self.assertIn("orders[", err)
        err = self.refused(clusters, [{"source": "east", "target": "west",
                                       "topics.exclude": ["(unclosed"]}])
        self.assertIn("'topics.exclude'", err)
        err = self.refused(clusters, [dict(source="east", target="north")])
        self.assertIn("'target'", err)
        self.assertIn("north", err)
        err = self.refused(clusters, [dict(source="south", target="west")])
        self.assertIn("'source'", err)
        err = self.refused(clusters, [dict(source="east", target="east")])
        self.assertIn("source and target", err)
        self.assertIn('"east"', err)

    def unreachable_then_up(self, down):
        """The mirror starts while region `down` has nothing listening: it keeps running, /status
        says the flow is unhealthy now (current_errors) and the errors metric counts it; once the
        region comes up every record arrives exactly once and the flow is healthy again."""
        east, west = self.regions(start_west=down != "west", start_east=down != "east")
        broker = east if down == "east" else west
        topic = f"late-{down}"
        m = self.start_mirror({"east": east, "west": west},
                              [dict(source="east", target="west", topics=[topic], **FAST_REFRESH)])
        flow = wait_until(lambda: (lambda f: f if f["current_errors"] else None)(m.flow_status("east", "west")),
                          60, what=f"/status current_errors while {down} is down")
        self.assertFalse(flow["healthy"], flow)
        self.assertTrue(any(f"cluster {down}" in e for e in flow["current_errors"]),
                        f"no current error names {down}: {flow['current_errors']}")
        self.assertTrue(m.running(), f"mirror exited while {down} was down:\n" + m.log_tail())
        errors = [float(line.rsplit(" ", 1)[1]) for line in m.metrics_text().splitlines()
                  if line.startswith("ferry_mirror_errors_total{")]
        self.assertTrue(errors and sum(errors) > 0, "ferry_mirror_errors_total did not count the failures")
        if down == "east":
            broker.start()
            create_topics(east, topic, partitions=2)
        else:
            create_topics(east, topic, partitions=2)
        produce_all(east, topic, [{"key": b"a%d" % i, "value": b"before %d" % i, "partition": i % 2}
                                  for i in range(500)])
        if down == "west":
            time.sleep(1)  # a topic refresh or two fails against the absent target meanwhile
            produce_all(east, topic, [{"key": b"b%d" % i, "value": b"while down %d" % i, "partition": i % 2}
                                      for i in range(500)])
            broker.start()
        else:
            produce_all(east, topic, [{"key": b"b%d" % i, "value": b"after %d" % i, "partition": i % 2}
                                      for i in range(500)])
        self.wait_caught_up(m, east, west, {topic: 2}, lambda t: f"east.{t}", timeout=90)
        self.assertEqual(self.assert_exact_copy(east, west, topic, f"east.{topic}", 2), 1000)
        healthy = wait_until(lambda: (lambda f: f if f["healthy"] else None)(m.flow_status("east", "west")),
                             30, what="the flow to report healthy again")
        self.assertEqual(healthy["current_errors"], [])
        self.assertIsNotNone(healthy["last_error"], "the history of the outage was lost")
        print(f"\nwhile {down} was down: {flow['current_errors']}")

    def test_unreachable_target_is_reported_and_replication_starts_when_it_comes_up(self):
        self.unreachable_then_up("west")

    def test_unreachable_source_is_reported_and_replication_starts_when_it_comes_up(self):
        self.unreachable_then_up("east")

if __name__ == "__main__":
    unittest.main()
