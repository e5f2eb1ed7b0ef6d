"""Kafka behaviours that clients rely on (issue 13, defect 8), each against the real broker with
librdkafka (confluent-kafka) or, where confluent-kafka 1.7 has no API, raw frames (kafka_wire):

- every topic config Kafka 3.x documents is accepted by CreateTopics, AlterConfigs and
  IncrementalAlterConfigs, shown by DescribeConfigs, and a bad value is INVALID_CONFIG naming the
  key (Kafka's LogConfig validators);
- more cases below, one class per behaviour.
"""

import unittest

from confluent_kafka import KafkaException
from confluent_kafka.admin import ConfigResource, ConfigSource

import kafka_wire as kw
from ferry_harness import BrokerTestCase, admin, create_topics

TOPIC_RESOURCE = 2
SET = 0
ERR_INVALID_CONFIG = 40

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


if __name__ == "__main__":
    unittest.main()
