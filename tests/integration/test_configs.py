"""Config APIs against the real broker: DescribeConfigs shows a topic's effective values with their
source (topic override, static broker key, default) and synonyms; AlterConfigs changes a topic's
config at run time (a smaller max.message.bytes refuses a record at once) and the change survives a
restart; invalid values are INVALID_CONFIG; IncrementalAlterConfigs appends to, subtracts from and
deletes list configs; broker configs are described, and the dynamic ones (KIP-226: the broker-wide
defaults of topic configs, per broker or cluster-wide) change at run time, persist, and take effect
on every topic without its own override."""

import unittest

from confluent_kafka import KafkaException
from confluent_kafka.admin import ConfigResource, ConfigSource

import kafka_wire as kw
from ferry_harness import BrokerTestCase, admin, create_topics, producer

SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3


def describe(b, topic):
    a = admin(b)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return a.describe_configs([res])[res].result(15)


TOPIC, BROKER = 2, 4


def incremental_alter_v0(conn, name, ops, resource_type=TOPIC):
    """IncrementalAlterConfigs v0 for one resource: ops = [(key, operation, value)]; returns the
    resource's error code."""
    configs = kw.array([kw.string(n) + kw.i8(op) + kw.string(v) for n, op, v in ops])
    body = kw.array([kw.i8(resource_type) + kw.string(name) + configs]) + kw.i8(0)
    r = kw.Reader(conn.request(44, 0, body))
    r.i32()
    assert r.i32() == 1
    return r.i16()


class ConfigsTest(BrokerTestCase):
    def test_describe_shows_values_sources_and_synonyms(self):
        b = self.start_broker({"log.retention.ms": 123456})
        create_topics(b, "cfg-describe", partitions=1, config={"max.message.bytes": "50000"})
        entries = describe(b, "cfg-describe")
        self.assertEqual(entries["max.message.bytes"].value, "50000")
        self.assertEqual(entries["max.message.bytes"].source, ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
        self.assertEqual(entries["retention.ms"].value, "123456")
        self.assertEqual(entries["retention.ms"].source, ConfigSource.STATIC_BROKER_CONFIG.value)
        self.assertEqual(entries["segment.bytes"].source, ConfigSource.DEFAULT_CONFIG.value)
        synonyms = [s.name for s in entries["retention.ms"].synonyms.values()]
        self.assertIn("log.retention.ms", synonyms)

    def test_alter_applies_at_once_and_survives_restart(self):
        b = self.start_broker()
        create_topics(b, "cfg-alter", partitions=1)
        p = producer(b, **{"message.send.max.retries": 0})
        errors = []
        p.produce("cfg-alter", key=b"k", value=b"x" * 5000, on_delivery=lambda e, m: errors.append(e))
        p.flush(10)
        self.assertEqual(errors, [None])

        a = admin(b)
        res = ConfigResource(ConfigResource.Type.TOPIC, "cfg-alter", set_config={"max.message.bytes": "2000"})
        a.alter_configs([res])[res].result(15)
        p.produce("cfg-alter", key=b"k", value=b"x" * 5000, on_delivery=lambda e, m: errors.append(e))
        p.flush(10)
        self.assertIsNotNone(errors[-1], "a 5000-byte batch was accepted after max.message.bytes=2000")
        self.assertIn("MSG_SIZE_TOO_LARGE", errors[-1].name())

        b.kill()
        b.start()
        self.assertEqual(describe(b, "cfg-alter")["max.message.bytes"].value, "2000")

    def test_invalid_values_are_refused_with_the_key_named(self):
        b = self.start_broker()
        create_topics(b, "cfg-bad", partitions=1)
        a = admin(b)
        res = ConfigResource(ConfigResource.Type.TOPIC, "cfg-bad", set_config={"retention.ms": "soon"})
        with self.assertRaises(KafkaException) as ctx:
            a.alter_configs([res])[res].result(15)
        err = ctx.exception.args[0]
        self.assertEqual(err.name(), "INVALID_CONFIG")
        self.assertIn("retention.ms", err.str())
        self.assertEqual(describe(b, "cfg-bad")["retention.ms"].source, ConfigSource.DEFAULT_CONFIG.value)

    def test_incremental_alter_appends_subtracts_and_deletes(self):
        b = self.start_broker()
        create_topics(b, "cfg-incr", partitions=1)
        with kw.Connection("127.0.0.1", b.port) as c:
            self.assertEqual(incremental_alter_v0(c, "cfg-incr", [("cleanup.policy", APPEND, "compact")]), 0)
            self.assertEqual(describe(b, "cfg-incr")["cleanup.policy"].value, "delete,compact")
            self.assertEqual(incremental_alter_v0(c, "cfg-incr", [("cleanup.policy", SUBTRACT, "delete")]), 0)
            self.assertEqual(describe(b, "cfg-incr")["cleanup.policy"].value, "compact")
            self.assertEqual(incremental_alter_v0(c, "cfg-incr", [("retention.ms", SET, "1000")]), 0)
            self.assertEqual(describe(b, "cfg-incr")["retention.ms"].value, "1000")
            self.assertEqual(incremental_alter_v0(c, "cfg-incr", [("cleanup.policy", DELETE, None)]), 0)
            self.assertEqual(describe(b, "cfg-incr")["cleanup.policy"].value, "delete")
            self.assertEqual(describe(b, "cfg-incr")["retention.ms"].value, "1000", "DELETE touched another key")
            # APPEND on a non-list key and an unknown key are INVALID_CONFIG (40).
            self.assertEqual(incremental_alter_v0(c, "cfg-incr", [("retention.ms", APPEND, "5")]), 40)
            self.assertEqual(incremental_alter_v0(c, "cfg-incr", [("no.such.key", SET, "1")]), 40)

    def test_broker_configs_are_described_read_only(self):
        b = self.start_broker()
        a = admin(b)
        res = ConfigResource(ConfigResource.Type.BROKER, str(b.node_id))
        entries = a.describe_configs([res])[res].result(15)
        self.assertEqual(entries["log.dirs"].value, b.data_dir)
        self.assertTrue(entries["log.dirs"].is_read_only)
        self.assertEqual(entries["log.dirs"].source, ConfigSource.STATIC_BROKER_CONFIG.value)
        self.assertEqual(entries["num.partitions"].source, ConfigSource.DEFAULT_CONFIG.value)


    def test_dynamic_broker_configs_apply_at_once_and_persist(self):
        b = self.start_broker({"log.retention.ms": 123456})
        node = str(b.node_id)
        create_topics(b, "dyn-follow", partitions=1)
        create_topics(b, "dyn-own", partitions=1, config={"retention.ms": "777"})
        a = admin(b)
        broker_res = ConfigResource(ConfigResource.Type.BROKER, node)

        def broker_entry(key):
            return a.describe_configs([broker_res])[broker_res].result(15)[key]

        with kw.Connection("127.0.0.1", b.port) as c:
            self.assertEqual(incremental_alter_v0(c, node, [("log.retention.ms", SET, "60000"),
                                                            ("message.max.bytes", SET, "2000")], BROKER), 0)
            # The cluster-wide default sits below this broker's own value.
            self.assertEqual(incremental_alter_v0(c, "", [("log.retention.ms", SET, "99999"),
                                                          ("log.segment.bytes", SET, "2000000")], BROKER), 0)
        e = broker_entry("log.retention.ms")
        self.assertEqual((e.value, e.source, e.is_read_only),
                         ("60000", ConfigSource.DYNAMIC_BROKER_CONFIG.value, False))
        topic = describe(b, "dyn-follow")
        self.assertEqual((topic["retention.ms"].value, topic["retention.ms"].source),
                         ("60000", ConfigSource.DYNAMIC_BROKER_CONFIG.value))
        self.assertEqual((topic["segment.bytes"].value, topic["segment.bytes"].source),
                         ("2000000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value))
        self.assertEqual(describe(b, "dyn-own")["retention.ms"].value, "777", "a topic override wins")

        # Applied without a restart: the smaller message.max.bytes refuses a 5000-byte record now.
        p = producer(b, **{"message.send.max.retries": 0})
        errors = []
        p.produce("dyn-follow", key=b"k", value=b"x" * 5000, on_delivery=lambda e, m: errors.append(e))
        p.flush(10)
        self.assertIsNotNone(errors[-1], "a 5000-byte batch was accepted after message.max.bytes=2000")
        self.assertIn("MSG_SIZE_TOO_LARGE", errors[-1].name())

        b.kill()
        b.start()
        a = admin(b)
        self.assertEqual(describe(b, "dyn-follow")["retention.ms"].value, "60000", "lost across SIGKILL")
        with kw.Connection("127.0.0.1", b.port) as c:
            self.assertEqual(incremental_alter_v0(c, node, [("log.retention.ms", DELETE, None)], BROKER), 0)
        self.assertEqual(describe(b, "dyn-follow")["retention.ms"].value, "99999",
                         "deleting the broker's value falls back to the cluster default")

    def test_dynamic_broker_config_errors_name_the_key(self):
        b = self.start_broker()
        node = str(b.node_id)
        with kw.Connection("127.0.0.1", b.port) as c:
            # INVALID_CONFIG (40): a key that needs a restart, an unknown key, a bad value.
            self.assertEqual(incremental_alter_v0(c, node, [("num.partitions", SET, "3")], BROKER), 40)
            self.assertEqual(incremental_alter_v0(c, node, [("no.such.key", SET, "1")], BROKER), 40)
            self.assertEqual(incremental_alter_v0(c, node, [("log.cleanup.policy", SET, "shred")], BROKER), 40)
            # Another broker's id is not this broker: INVALID_REQUEST (42).
            self.assertEqual(incremental_alter_v0(c, "99", [("log.retention.ms", SET, "1")], BROKER), 42)
        a = admin(b)
        res = ConfigResource(ConfigResource.Type.BROKER, node, set_config={"log.retention.ms": "soon"})
        with self.assertRaises(KafkaException) as ctx:
            a.alter_configs([res])[res].result(15)
        self.assertEqual(ctx.exception.args[0].name(), "INVALID_CONFIG")
        self.assertIn("log.retention.ms", ctx.exception.args[0].str())
        res = ConfigResource(ConfigResource.Type.BROKER, node)
        entry = a.describe_configs([res])[res].result(15)["log.retention.ms"]
        self.assertEqual(entry.source, ConfigSource.DEFAULT_CONFIG.value, "a refused change left a trace")


if __name__ == "__main__":
    unittest.main()
