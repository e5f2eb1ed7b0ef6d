"""OffsetForLeaderEpoch (API 23) and the leader-epoch-checkpoint behind it, on the real broker:
the end offset of an epoch follows what was produced and what survived a SIGKILL at full speed,
fencing by CurrentLeaderEpoch answers Kafka's error codes, and unknown partitions and epochs are
answered, not dropped. (Followers of issue 17 truncate divergent tails with exactly this answer.)
"""

import os
import threading
import unittest

import kafka_wire as kw
from ferry_harness import BrokerTestCase, create_topics, produce_all, wait_until, watermarks

API = 23
NONE, UNKNOWN_TOPIC_OR_PARTITION, FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH = 0, 3, 74, 75


def request_v3(topic_partitions, replica_id=-1):
    """OffsetForLeaderEpoch v3 body: ReplicaId, Topics[Topic, Partitions[Partition,
    CurrentLeaderEpoch, LeaderEpoch]]. `topic_partitions`: {topic: [(partition, current, epoch)]}."""
    body = kw.i32(replica_id) + kw.i32(len(topic_partitions))
    for topic, parts in topic_partitions.items():
        body += kw.string(topic) + kw.i32(len(parts))
        for p, current, epoch in parts:
            body += kw.i32(p) + kw.i32(current) + kw.i32(epoch)
    return body


def parse_v3(body):
    """{(topic, partition): (error, leader_epoch, end_offset)} of a v2/v3 response."""
    r = kw.Reader(body)
    r.i32()  # throttle
    out = {}
    for _ in range(r.i32()):
        topic = r.string()
        for _ in range(r.i32()):
            error, partition, epoch, end = r.i16(), r.i32(), r.i32(), r.i64()
            out[(topic, partition)] = (error, epoch, end)
    return out


def fetch_v11(topic, partition, offset, current_leader_epoch=-1, replica_id=-1):
    """Fetch v11 body for one partition: ReplicaId, MaxWaitMs 0, MinBytes 1, MaxBytes,
    IsolationLevel 0, no session, Topics[Topic, Partitions[Partition, CurrentLeaderEpoch (v9+),
    FetchOffset, LogStartOffset, PartitionMaxBytes]], no forgotten topics, RackId ""."""
    return (kw.i32(replica_id) + kw.i32(0) + kw.i32(1) + kw.i32(1 << 20) + kw.i8(0) + kw.i32(0) + kw.i32(-1)
            + kw.i32(1) + kw.string(topic) + kw.i32(1)
            + kw.i32(partition) + kw.i32(current_leader_epoch) + kw.i64(offset) + kw.i64(-1) + kw.i32(1 << 20)
            + kw.i32(0) + kw.string(""))


def parse_fetch_v11(body):
    """(error, high watermark, record bytes) of the one partition of a Fetch v11 response."""
    r = kw.Reader(body)
    r.i32(), r.i16(), r.i32()  # throttle, error, session
    assert r.i32() == 1
    r.string()
    assert r.i32() == 1
    r.i32()  # partition
    error, hw = r.i16(), r.i64()
    r.i64(), r.i64()  # last stable offset, log start
    r.array(lambda x: (x.i64(), x.i64()))  # aborted transactions
    r.i32()  # preferred read replica
    records = r.nbytes() or b""
    return error, hw, len(records)


def parse_v0(body):
    r = kw.Reader(body)
    out = {}
    for _ in range(r.i32()):
        topic = r.string()
        for _ in range(r.i32()):
            error, partition, end = r.i16(), r.i32(), r.i64()
            out[(topic, partition)] = (error, end)
    return out


class LeaderEpochTest(BrokerTestCase):
    def ask(self, broker, topic_partitions, version=3):
        with kw.Connection("127.0.0.1", broker.port) as c:
            return parse_v3(c.request(API, version, request_v3(topic_partitions)))

    def test_the_end_offset_of_an_epoch_follows_the_log(self):
        b = self.start_broker()
        create_topics(b, ["t", "empty"], partitions=2)
        produce_all(b, "t", [{"value": b"v%d" % i, "partition": 0} for i in range(25)], acks="all")
        got = self.ask(b, {"t": [(0, -1, 0), (1, -1, 0), (7, -1, 0)],
                           "empty": [(0, -1, 0)], "nope": [(0, -1, 0)]})
        self.assertEqual(got[("t", 0)], (NONE, 0, 25))  # the latest epoch ends at the log end offset
        # Nothing written: the leader's epoch, ending at the log end offset 0 (Kafka's answer).
        self.assertEqual(got[("t", 1)], (NONE, 0, 0))
        self.assertEqual(got[("empty", 0)], (NONE, 0, 0))
        self.assertEqual(got[("t", 7)][0], UNKNOWN_TOPIC_OR_PARTITION)
        self.assertEqual(got[("nope", 0)][0], UNKNOWN_TOPIC_OR_PARTITION)
        # One epoch and no file yet: it is written when the history first needs the disk (a second
        # epoch, a truncation); until then the log's first batch says it (storage/log.h).
        self.assertFalse(os.path.exists(os.path.join(b.data_dir, "t-0", "leader-epoch-checkpoint")))
        # Epochs the history does not hold: above it (-1, -1); -1 itself (-1, -1).
        with kw.Connection("127.0.0.1", b.port) as c:
            above = parse_v3(c.request(API, 3, request_v3({"t": [(0, -1, 1)]})))
            none = parse_v3(c.request(API, 3, request_v3({"t": [(0, -1, -1)]})))
            v0 = parse_v0(c.request(API, 0, kw.i32(1) + kw.string("t") + kw.i32(1) + kw.i32(0) + kw.i32(0)))
        self.assertEqual(above[("t", 0)], (NONE, -1, -1))
        self.assertEqual(none[("t", 0)], (NONE, -1, -1))
        self.assertEqual(v0[("t", 0)], (NONE, 25))

    def test_current_leader_epoch_fences_as_kafka_does(self):
        b = self.start_broker()
        create_topics(b, "t")
        produce_all(b, "t", [{"value": b"x"}])
        with kw.Connection("127.0.0.1", b.port) as c:
            ahead = parse_v3(c.request(API, 3, request_v3({"t": [(0, 3, 0)]})))
            current = parse_v3(c.request(API, 3, request_v3({"t": [(0, 0, 0)]})))
        # The broker's epoch is 0: a client that believes in epoch 3 knows a leader this broker
        # does not (UNKNOWN_LEADER_EPOCH); a matching one is answered.
        self.assertEqual(ahead[("t", 0)][0], UNKNOWN_LEADER_EPOCH)
        self.assertEqual(current[("t", 0)], (NONE, 0, 1))

    def test_fetch_is_fenced_by_epoch_and_only_brokers_fetch_as_followers(self):
        FETCH, NOT_LEADER, TOPIC_AUTH = 1, 6, 29
        # An ACL authorizer where the cluster has an ACL and ANONYMOUS lacks CLUSTER_ACTION, while
        # the topic has none (allow.everyone.if.no.acl.found): consumers read, followers may not.
        b = self.start_broker({"authorizer": "acl", "allow.everyone.if.no.acl.found": True})
        create_topics(b, "t")
        produce_all(b, "t", [{"value": b"x"} for _ in range(3)], acks="all")
        from kafka.admin import ACL, ACLOperation, ACLPermissionType, KafkaAdminClient, ResourcePattern, ResourceType
        a = KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=10000, api_version_auto_timeout_ms=10000)
        self.addCleanup(a.close)
        self.assertEqual(a.create_acls([ACL("User:ANONYMOUS", "*", ACLOperation.ALTER, ACLPermissionType.ALLOW,
                                            ResourcePattern(ResourceType.CLUSTER, "kafka-cluster"))])["failed"], [])
        with kw.Connection("127.0.0.1", b.port) as c:
            def fetch(**kwargs):
                return parse_fetch_v11(c.request(FETCH, 11, fetch_v11("t", 0, 0, **kwargs)))
            self.assertEqual(fetch(), (NONE, 3, fetch()[2]))
            self.assertGreater(fetch()[2], 0)
            self.assertEqual(fetch(current_leader_epoch=0)[0], NONE)
            self.assertEqual(fetch(current_leader_epoch=4)[:2], (UNKNOWN_LEADER_EPOCH, -1))
            # A follower without CLUSTER_ACTION: refused, no records, whatever its epoch says.
            self.assertEqual(fetch(replica_id=2), (TOPIC_AUTH, -1, 0))
            # OffsetForLeaderEpoch takes CLUSTER_ACTION or DESCRIBE on the topic (KIP-320), so a
            # caller that claims a replica id is still answered for a topic it may describe.
            self.assertEqual(parse_v3(c.request(API, 3, request_v3({"t": [(0, -1, 0)]}, replica_id=2)))[("t", 0)],
                             (NONE, 0, 3))
        # With CLUSTER_ACTION it is a broker, but no partition here has a follower yet.
        self.assertEqual(a.create_acls([ACL("User:ANONYMOUS", "*", ACLOperation.CLUSTER_ACTION,
                                            ACLPermissionType.ALLOW,
                                            ResourcePattern(ResourceType.CLUSTER, "kafka-cluster"))])["failed"], [])
        with kw.Connection("127.0.0.1", b.port) as c:
            got = parse_fetch_v11(c.request(FETCH, 11, fetch_v11("t", 0, 0, replica_id=2)))
            self.assertEqual(got, (NOT_LEADER, -1, 0))
            got = parse_fetch_v11(c.request(FETCH, 11, fetch_v11("t", 0, 0, replica_id=2, current_leader_epoch=0)))
            self.assertEqual(got, (UNKNOWN_LEADER_EPOCH, -1, 0))
        # An ACL on the topic for someone else takes ANONYMOUS's DESCRIBE and READ away: its
        # consumer fetch is refused, its OffsetForLeaderEpoch still answered through CLUSTER_ACTION.
        self.assertEqual(a.create_acls([ACL("User:bob", "*", ACLOperation.READ, ACLPermissionType.ALLOW,
                                            ResourcePattern(ResourceType.TOPIC, "t"))])["failed"], [])
        with kw.Connection("127.0.0.1", b.port) as c:
            self.assertEqual(parse_fetch_v11(c.request(FETCH, 11, fetch_v11("t", 0, 0)))[0], TOPIC_AUTH)
            self.assertEqual(parse_v3(c.request(API, 3, request_v3({"t": [(0, -1, 0)]})))[("t", 0)], (NONE, 0, 3))

    def test_a_sigkill_at_full_speed_leaves_history_and_log_agreeing(self):
        b = self.start_broker({"log.flush.acks.all": False})
        create_topics(b, "t")
        stop = threading.Event()

        def produce():
            from confluent_kafka import Producer
            p = Producer({"bootstrap.servers": b.bootstrap, "acks": "1", "linger.ms": 0,
                          "message.timeout.ms": 3000, "retries": 0})
            i = 0
            while not stop.is_set():
                try:
                    p.produce("t", b"r%d" % i)
                    i += 1
                except BufferError:
                    pass
                p.poll(0)
            p.flush(1)

        t = threading.Thread(target=produce)
        t.start()
        try:
            wait_until(lambda: watermarks(b, "t", 0)[1] > 2000, timeout=30, what="2000 records produced")
            b.kill()  # no pause: mid-append, mid-produce
        finally:
            stop.set()
            t.join(timeout=30)
        b.start()
        low, high = watermarks(b, "t", 0)
        got = self.ask(b, {"t": [(0, -1, 0)]})
        self.assertEqual(got[("t", 0)], (NONE, 0, high))


if __name__ == "__main__":
    unittest.main()
