"""Pins issue 13 defect 8: Kafka behaviours that clients rely on, each against the real broker with
librdkafka (confluent-kafka) or, where confluent-kafka 1.7 has no API, raw frames (kafka_wire):

- every topic config Kafka 3.x documents is accepted by CreateTopics, AlterConfigs and
  IncrementalAlterConfigs, shown by DescribeConfigs, and a bad value is INVALID_CONFIG naming the
  key (Kafka's LogConfig validators);
- a compacted topic refuses a batch holding keyless records the way Kafka's LogValidator does:
  INVALID_RECORD for the whole batch, and at Produce v8+ one record error per keyless record plus
  processRecordErrors' message (KIP-467);
- DescribeCluster and Metadata v8+ answer authorized operations (KIP-430) when asked, INT32_MIN
  when not; Metadata v10+ carries topic ids (KIP-516) and v12 looks a topic up by its id alone.
"""

import unittest

from confluent_kafka import KafkaException
from confluent_kafka.admin import ConfigResource, ConfigSource

import kafka_wire as kw
from ferry_harness import BrokerTestCase, admin, create_topics

TOPIC_RESOURCE = 2
SET = 0
ERR_INVALID_CONFIG = 40
ERR_INVALID_RECORD = 87

# Topic configs Kafka 3.x documents that Ferry had no key for, with a valid non-default value each.
ACCEPTED = {
    "compression.type": "gzip",
    "compression.gzip.level": "5",
    "compression.lz4.level": "10",
    "compression.zstd.level": "7",
    "file.delete.delay.ms": "1000",
    "follower.replication.throttled.replicas": "*",
    "leader.replication.throttled.replicas": "0:1,1:1",
    "local.retention.bytes": "1048576",
    "local.retention.ms": "3600000",
    "max.compaction.lag.ms": "86400000",
    "message.downconversion.enable": "false",
    "message.format.version": "2.8",
    "message.timestamp.difference.max.ms": "60000",
    "message.timestamp.before.max.ms": "60000",
    "message.timestamp.after.max.ms": "60000",
    "min.cleanable.dirty.ratio": "0.25",
    "preallocate": "true",
    "remote.storage.enable": "false",
    "segment.jitter.ms": "10",
    "unclean.leader.election.enable": "true",
}

# Values Kafka's validators refuse, per key.
REFUSED = {
    "compression.type": "brotli",
    "compression.gzip.level": "0",
    "file.delete.delay.ms": "-1",
    "follower.replication.throttled.replicas": "0-1",
    "local.retention.ms": "-3",
    "max.compaction.lag.ms": "0",
    "message.downconversion.enable": "maybe",
    "message.format.version": "9.9",
    "min.cleanable.dirty.ratio": "1.5",
    "preallocate": "yes",
    "remote.storage.enable": "true",
    "segment.jitter.ms": "-1",
}


def describe(b, topic):
    a = admin(b)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return a.describe_configs([res])[res].result(15)


def incremental_alter_v0(conn, name, ops):
    """IncrementalAlterConfigs v0 (KIP-339) on one topic: ops = [(key, op, value)]; returns
    (error_code, error_message)."""
    configs = kw.array([kw.string(n) + kw.i8(op) + kw.string(v) for n, op, v in ops])
    body = kw.array([kw.i8(TOPIC_RESOURCE) + kw.string(name) + configs]) + kw.i8(0)
    r = kw.Reader(conn.request(44, 0, body))
    r.i32()
    assert r.i32() == 1
    return r.i16(), r.string()


class TopicConfigsTest(BrokerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.b = cls.start_class_broker()

    def test_create_topics_accepts_every_kafka_topic_config_and_describes_it(self):
        create_topics(self.b, "kb-create", partitions=1, config=ACCEPTED)
        entries = describe(self.b, "kb-create")
        for key, value in ACCEPTED.items():
            self.assertIn(key, entries, f"DescribeConfigs does not list {key}")
            self.assertEqual(entries[key].value, value, key)
            self.assertEqual(entries[key].source, ConfigSource.DYNAMIC_TOPIC_CONFIG.value, key)

    def test_describe_shows_kafka_defaults_for_keys_never_set(self):
        create_topics(self.b, "kb-defaults", partitions=1)
        entries = describe(self.b, "kb-defaults")
        self.assertEqual(entries["compression.type"].value, "producer")
        self.assertEqual(entries["min.cleanable.dirty.ratio"].value, "0.5")
        self.assertEqual(entries["file.delete.delay.ms"].value, "60000")
        self.assertEqual(entries["local.retention.ms"].value, "-2")
        self.assertEqual(entries["preallocate"].value, "false")
        self.assertEqual(entries["compression.type"].source, ConfigSource.DEFAULT_CONFIG.value)

    def test_alter_configs_and_incremental_alter_accept_them(self):
        create_topics(self.b, "kb-alter", partitions=1)
        a = admin(self.b)
        res = ConfigResource(ConfigResource.Type.TOPIC, "kb-alter",
                             set_config={"compression.type": "zstd", "message.format.version": "3.0-IV1"})
        a.alter_configs([res])[res].result(15)
        entries = describe(self.b, "kb-alter")
        self.assertEqual(entries["compression.type"].value, "zstd")
        self.assertEqual(entries["message.format.version"].value, "3.0-IV1")
        with kw.Connection("127.0.0.1", self.b.port) as c:
            code, msg = incremental_alter_v0(c, "kb-alter", [("min.cleanable.dirty.ratio", SET, "0.9"),
                                                             ("file.delete.delay.ms", SET, "5")])
            self.assertEqual(code, 0, msg)
        entries = describe(self.b, "kb-alter")
        self.assertEqual(entries["min.cleanable.dirty.ratio"].value, "0.9")
        self.assertEqual(entries["file.delete.delay.ms"].value, "5")
        self.assertEqual(entries["compression.type"].value, "zstd", "incremental SET dropped another key")

    def test_bad_values_are_invalid_config_naming_key_and_value(self):
        create_topics(self.b, "kb-bad", partitions=1)
        a = admin(self.b)
        for key, value in REFUSED.items():
            with self.subTest(key=key):
                res = ConfigResource(ConfigResource.Type.TOPIC, "kb-bad", set_config={key: value})
                with self.assertRaises(KafkaException) as ctx:
                    a.alter_configs([res])[res].result(15)
                err = ctx.exception.args[0]
                self.assertEqual(err.name(), "INVALID_CONFIG")
                self.assertIn(key, err.str())
                self.assertIn(value, err.str())
        # LogConfig.validateValues: min.compaction.lag.ms above max.compaction.lag.ms.
        with kw.Connection("127.0.0.1", self.b.port) as c:
            code, msg = incremental_alter_v0(c, "kb-bad", [("min.compaction.lag.ms", SET, "5000"),
                                                           ("max.compaction.lag.ms", SET, "1000")])
            self.assertEqual(code, ERR_INVALID_CONFIG)
            self.assertIn("max.compaction.lag.ms", msg)

    def test_create_topics_refuses_a_bad_value(self):
        with self.assertRaises(KafkaException) as ctx:
            create_topics(self.b, "kb-create-bad", partitions=1, config={"min.cleanable.dirty.ratio": "half"})
        self.assertEqual(ctx.exception.args[0].name(), "INVALID_CONFIG")



def produce_v8(conn, topic, batch):
    """Produce v8 (KIP-467) to partition 0: (error_code, base_offset, log_start_offset,
    [(batch_index, batch_index_error_message)], error_message)."""
    r = kw.Reader(conn.request(0, 8, kw.produce_body(topic, 0, batch, acks=-1)))
    assert r.i32() == 1
    r.string()
    assert r.i32() == 1
    r.i32()
    code, base = r.i16(), r.i64()
    r.i64()  # log_append_time_ms
    start = r.i64()
    errors = r.array(lambda rr: (rr.i32(), rr.string()))
    return code, base, start, errors, r.string()


class CompactedNullKeyTest(BrokerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.b = cls.start_class_broker()
        create_topics(cls.b, "kb-compacted", partitions=1, config={"cleanup.policy": "compact"})

    def test_keyless_records_refuse_the_batch_with_one_record_error_each(self):
        why = "Compacted topic cannot accept message without key in topic partition kb-compacted-0"
        batch = kw.record_batch([(None, b"v0"), (b"k1", b"v1"), (None, b"v2")])
        with kw.Connection("127.0.0.1", self.b.port) as c:
            code, base, _, errors, message = produce_v8(c, "kb-compacted", batch)
            self.assertEqual(code, ERR_INVALID_RECORD)
            self.assertEqual(base, -1)
            self.assertEqual(errors, [(0, why), (2, why)])
            self.assertEqual(message,
                             "One or more records have been rejected due to 2 record errors in total, and only "
                             f"showing the first three errors at most: [RecordError(batchIndex=0, message='{why}'), "
                             f"RecordError(batchIndex=2, message='{why}')]")
            # The whole batch was refused: the keyed record in it was not appended either.
            code, base, _, errors, message = produce_v8(c, "kb-compacted", kw.record_batch([(b"k", b"v")]))
            self.assertEqual((code, base, errors, message), (0, 0, [], None))



def uvarint_at(r):
    shift = value = 0
    while True:
        b = r.i8() & 0xFF
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value
        shift += 7


def compact_string_at(r):
    n = uvarint_at(r) - 1
    return None if n < 0 else r._take(n).decode()


def describe_cluster_v0(conn, include):
    """DescribeCluster v0 (flexible, KIP-700): (error_code, broker ids, cluster_authorized_operations)."""
    r = kw.Reader(conn.request(60, 0, kw.i8(1 if include else 0) + b"\x00", flexible=True))
    uvarint_at(r)  # response header tagged fields
    r.i32()  # throttle_time_ms
    code = r.i16()
    compact_string_at(r)  # error_message
    compact_string_at(r)  # cluster_id
    r.i32()  # controller_id
    brokers = []
    for _ in range(uvarint_at(r) - 1):
        brokers.append(r.i32())
        compact_string_at(r)
        r.i32()
        compact_string_at(r)
        uvarint_at(r)
    return code, brokers, r.i32()


# Kafka's AclOperation codes of what AclEntry.supportedOperations(CLUSTER) lists.
CLUSTER_OPERATIONS = {"CREATE": 5, "ALTER": 7, "DESCRIBE": 8, "CLUSTER_ACTION": 9, "DESCRIBE_CONFIGS": 10,
                      "ALTER_CONFIGS": 11, "IDEMPOTENT_WRITE": 12}


TOPIC_OPERATIONS = {"READ": 3, "WRITE": 4, "CREATE": 5, "DELETE": 6, "ALTER": 7, "DESCRIBE": 8,
                    "DESCRIBE_CONFIGS": 10, "ALTER_CONFIGS": 11}
ZERO_ID = bytes(16)
ERR_INVALID_REQUEST = 42
ERR_UNKNOWN_TOPIC_ID = 100


def metadata_flexible(conn, version, topics, include_cluster=False, include_topic=False):
    """Metadata v9-v12 (flexible). `topics`: None for all, else (name or None, 16-byte id) pairs.
    Returns (cluster_authorized_operations or None above v10, [topic dicts])."""
    body = b""
    if topics is None:
        body += kw.uvarint(0)
    else:
        body += kw.uvarint(len(topics) + 1)
        for name, topic_id in topics:
            if version >= 10:
                body += topic_id
            body += (kw.uvarint(0) if name is None else kw.compact_string(name)) + b"\x00"
    body += kw.i8(0)  # allow_auto_topic_creation
    if version <= 10:
        body += kw.i8(1 if include_cluster else 0)
    body += kw.i8(1 if include_topic else 0) + b"\x00"
    r = kw.Reader(conn.request(3, version, body, flexible=True))
    uvarint_at(r)  # response header tagged fields
    r.i32()  # throttle_time_ms
    for _ in range(uvarint_at(r) - 1):  # brokers
        r.i32()
        compact_string_at(r)
        r.i32()
        compact_string_at(r)
        uvarint_at(r)
    compact_string_at(r)  # cluster_id
    r.i32()  # controller_id
    out = []
    for _ in range(uvarint_at(r) - 1):
        t = {"error": r.i16(), "name": compact_string_at(r)}
        t["id"] = r._take(16) if version >= 10 else None
        t["internal"] = r.i8()
        t["partitions"] = []
        for _ in range(uvarint_at(r) - 1):
            r.i16()  # error_code
            index, leader, epoch = r.i32(), r.i32(), r.i32()
            for _ in range(3):  # replicas, isr, offline
                for _ in range(uvarint_at(r) - 1):
                    r.i32()
            uvarint_at(r)
            t["partitions"].append((index, leader, epoch))
        t["ops"] = r.i32()
        uvarint_at(r)
        out.append(t)
    cluster_ops = r.i32() if version <= 10 else None
    return cluster_ops, out


class AuthorizedOperationsTest(BrokerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.b = cls.start_class_broker()

    def test_describe_cluster_reports_cluster_operations_only_when_asked(self):
        with kw.Connection("127.0.0.1", self.b.port) as c:
            code, brokers, ops = describe_cluster_v0(c, include=False)
            self.assertEqual((code, len(brokers)), (0, 1))
            self.assertEqual(ops, -2**31, "INT32_MIN when not requested")
            code, _, ops = describe_cluster_v0(c, include=True)
            self.assertEqual(code, 0)
            # No authorizer configured: every operation Kafka supports on the cluster is allowed.
            self.assertEqual(ops, sum(1 << bit for bit in CLUSTER_OPERATIONS.values()))

    def test_metadata_v8_plus_reports_operations_only_when_asked(self):
        create_topics(self.b, ["kb-ops"], partitions=2)
        every_topic_op = sum(1 << bit for bit in TOPIC_OPERATIONS.values())
        every_cluster_op = sum(1 << bit for bit in CLUSTER_OPERATIONS.values())
        with kw.Connection("127.0.0.1", self.b.port) as c:
            for version in (9, 10, 11, 12):
                cluster_ops, topics = metadata_flexible(c, version, [("kb-ops", ZERO_ID)])
                self.assertEqual(topics[0]["ops"], -2**31, f"v{version}: INT32_MIN when not asked")
                self.assertIn(cluster_ops, (-2**31, None), f"v{version}")
                cluster_ops, topics = metadata_flexible(c, version, [("kb-ops", ZERO_ID)],
                                                        include_cluster=True, include_topic=True)
                self.assertEqual(topics[0]["error"], 0)
                # No authorizer configured: every operation Kafka supports on a topic is allowed.
                self.assertEqual(topics[0]["ops"], every_topic_op, f"v{version}")
                # The cluster's field exists in v8-v10 only (DescribeCluster carries it after).
                self.assertEqual(cluster_ops, every_cluster_op if version <= 10 else None, f"v{version}")
                # Leader epoch (v7+): one broker leads for good, epoch 0 on every partition.
                self.assertEqual(topics[0]["partitions"], [(0, self.b.node_id, 0), (1, self.b.node_id, 0)])

    def test_metadata_v10_ids_and_v12_lookup_by_id(self):
        create_topics(self.b, ["kb-ids"], partitions=1)
        with kw.Connection("127.0.0.1", self.b.port) as c:
            _, topics = metadata_flexible(c, 10, [("kb-ids", ZERO_ID)])
            topic_id = topics[0]["id"]
            self.assertNotEqual(topic_id, ZERO_ID, "a topic has an id from v10")
            _, all_topics = metadata_flexible(c, 12, None)
            ids = {t["name"]: t["id"] for t in all_topics}
            self.assertEqual(ids["kb-ids"], topic_id, "the same id every time")
            self.assertEqual(len(set(ids.values())), len(ids), "ids are distinct")
            # v12 by id alone: the topic, with its name.
            _, topics = metadata_flexible(c, 12, [(None, topic_id)], include_topic=True)
            self.assertEqual((topics[0]["error"], topics[0]["name"], topics[0]["id"]), (0, "kb-ids", topic_id))
            self.assertEqual(len(topics[0]["partitions"]), 1)
            # An id nobody has: UNKNOWN_TOPIC_ID, name null, the id echoed.
            unknown = bytes(range(1, 17))
            _, topics = metadata_flexible(c, 12, [(None, unknown)])
            self.assertEqual((topics[0]["error"], topics[0]["name"], topics[0]["id"]),
                             (ERR_UNKNOWN_TOPIC_ID, None, unknown))
            # Below v12 a null name or an id is INVALID_REQUEST, as Kafka answers; others are served.
            for version in (10, 11):
                _, topics = metadata_flexible(c, version, [(None, topic_id), ("kb-ids", ZERO_ID)])
                self.assertEqual([t["error"] for t in topics], [ERR_INVALID_REQUEST, 0], f"v{version}")


if __name__ == "__main__":
    unittest.main()
