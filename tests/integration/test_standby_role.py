"""The disaster-recovery role of a cluster (ferry.cluster.role), the broker side of ferry-dr's
fencing: set to standby through IncrementalAlterConfigs (KIP-339) on the cluster-wide entity, it
makes every application's Produce fail at once with a non-retriable error and appends nothing,
while the mirror's clients (client.id prefix ferry-mirror) still write, consumers still read and
commit, and the role survives a SIGKILL and restart. Back to primary, producing works again. A bad
value is INVALID_CONFIG and a bad value in the config file stops the broker with exit 2."""

import subprocess
import unittest
import urllib.request

from confluent_kafka import KafkaError, TopicPartition
from confluent_kafka.admin import ConfigResource, ConfigSource
from kafka import KafkaProducer
from kafka.errors import KafkaError as PyKafkaError

import kafka_wire as kw
from ferry_harness import (Broker, BrokerTestCase, admin, consumer, create_topics, free_port, produce_all,
                           producer, run_kcat, watermarks)
from test_configs import BROKER, DELETE, SET, incremental_alter_v0

ROLE = "ferry.cluster.role"
POLICY_VIOLATION = 44
INVALID_CONFIG = 40


def set_role(b, role, entity=""):
    with kw.Connection("127.0.0.1", b.port) as c:
        if role is None:
            return incremental_alter_v0(c, entity, [(ROLE, DELETE, None)], BROKER)
        return incremental_alter_v0(c, entity, [(ROLE, SET, role)], BROKER)


def role_entry(b):
    res = ConfigResource(ConfigResource.Type.BROKER, str(b.node_id))
    a = admin(b)  # kept alive until the future resolves
    return a.describe_configs([res])[res].result(15)[ROLE]


def scrape(port):
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()


def try_produce(b, topic, value, partition=0, **conf):
    """One record through an idempotent confluent-kafka producer: the delivery error (None when
    stored). Waits at most 30 s, far below the 120 s delivery timeout a retried error would take."""
    errors = []
    p = producer(b, **{"enable.idempotence": True, "message.timeout.ms": 60000, **conf})
    p.produce(topic, value, partition=partition, on_delivery=lambda err, msg: errors.append(err))
    left = p.flush(30)
    if left:
        raise AssertionError(f"the delivery of {value!r} is still pending after 30 s: the error was retried")
    return errors[0]


class StandbyRoleTest(BrokerTestCase):
    def test_a_standby_refuses_applications_but_not_the_mirror_and_stays_fenced_after_a_restart(self):
        metrics_port = free_port()
        b = self.start_broker({"metrics.listener": f"127.0.0.1:{metrics_port}",
                               "group.initial.rebalance.delay.ms": 0})
        topic = "fenced"
        create_topics(b, topic, partitions=1)
        produce_all(b, topic, [{"value": b"before-%d" % i, "partition": 0} for i in range(10)])
        self.assertEqual(role_entry(b).value, "primary")
        metrics = scrape(metrics_port)
        self.assertIn('ferry_broker_cluster_role{role="primary"} 1', metrics)
        self.assertIn("ferry_broker_standby_rejected_produce_total 0", metrics)

        self.assertEqual(set_role(b, "standby"), 0)
        entry = role_entry(b)
        self.assertEqual((entry.value, entry.source), ("standby", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value))

        err = try_produce(b, topic, b"from-the-app")
        self.assertIsNotNone(err, "a standby stored an application's record")
        self.assertEqual(err.code(), KafkaError.POLICY_VIOLATION, err)
        self.assertEqual(watermarks(b, topic, 0)[1], 10)
        # The operator reading the broker log learns who was refused and why.
        self.assertRegex(b.log_text(), r"refused Produce from client 'rdkafka'.*cluster is in the standby role")

        # kafka-python reports it as a failed send, not an endless retry.
        kp = KafkaProducer(bootstrap_servers=b.bootstrap, retries=3, max_block_ms=10000, request_timeout_ms=10000)
        try:
            with self.assertRaises(PyKafkaError) as ctx:
                kp.send(topic, b"from-kafka-python", partition=0).get(timeout=30)
            self.assertIn("PolicyViolation", type(ctx.exception).__name__ + str(ctx.exception))
        finally:
            kp.close(5)
        r = run_kcat(b, ["-P", "-t", topic, "-p", "0"], input="from-kcat\n", check=False)
        self.assertNotEqual(r.returncode, 0, "kcat reported success against a standby")
        self.assertEqual(watermarks(b, topic, 0)[1], 10)

        # The mirror's clients still write, and reading and committing are served.
        self.assertIsNone(try_produce(b, topic, b"replicated", **{"client.id": "ferry-mirror-target"}))
        c = consumer(b, **{"group.id": "reader", "enable.auto.commit": False})
        c.subscribe([topic])  # the group protocol (JoinGroup, SyncGroup, Heartbeat) is served too
        got = []
        while len(got) < 11:
            m = c.poll(10)
            self.assertIsNotNone(m, f"read {len(got)} of 11 records from the standby")
            self.assertIsNone(m.error())
            got.append(m.value())
        self.assertEqual(got[-1], b"replicated")
        c.commit(offsets=[TopicPartition(topic, 0, 11)], asynchronous=False)
        self.assertEqual(c.committed([TopicPartition(topic, 0)], timeout=10)[0].offset, 11)
        c.close()

        # Fencing is durable: a standby that crashes comes back fenced.
        b.kill()
        b.start()
        self.assertEqual(role_entry(b).value, "standby")
        self.assertEqual(try_produce(b, topic, b"after-restart").code(), KafkaError.POLICY_VIOLATION)
        metrics = scrape(metrics_port)
        self.assertIn('ferry_broker_cluster_role{role="standby"} 1', metrics)
        self.assertIn('ferry_broker_cluster_role{role="primary"} 0', metrics)
        self.assertRegex(metrics, r"ferry_broker_standby_rejected_produce_total [1-9]")

        # Promoted back (the dynamic value deleted: the file's default, primary), it serves again.
        self.assertEqual(set_role(b, None), 0)
        self.assertEqual(role_entry(b).value, "primary")
        self.assertIsNone(try_produce(b, topic, b"promoted"))
        self.assertEqual(watermarks(b, topic, 0)[1], 12)
        self.assertIn('ferry_broker_cluster_role{role="primary"} 1', scrape(metrics_port))

    def test_the_node_entity_overrides_the_cluster_default_and_bad_values_are_refused(self):
        b = self.start_broker()
        create_topics(b, "roles", partitions=1)
        self.assertEqual(set_role(b, "standby"), 0)
        self.assertEqual(set_role(b, "primary", str(b.node_id)), 0)
        self.assertIsNone(try_produce(b, "roles", b"node says primary"))
        self.assertEqual(set_role(b, "passive"), INVALID_CONFIG)
        self.assertEqual(set_role(b, None, str(b.node_id)), 0)
        self.assertEqual(try_produce(b, "roles", b"cluster says standby").code(), KafkaError.POLICY_VIOLATION)

    def test_the_role_in_the_config_file_is_checked_and_used(self):
        bad = Broker({ROLE: "passive"}, start=False)
        self.addCleanup(bad.close)
        r = subprocess.run([bad.binary, "--config", bad.config_path], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(ROLE, r.stderr)
        self.assertIn("passive", r.stderr)

        b = self.start_broker({ROLE: "standby", "ferry.standby.allowed.client.id.prefixes": ["replicator-"]})
        create_topics(b, "static", partitions=1)
        self.assertEqual(role_entry(b).source, ConfigSource.STATIC_BROKER_CONFIG.value)
        self.assertEqual(try_produce(b, "static", b"app").code(), KafkaError.POLICY_VIOLATION)
        self.assertEqual(try_produce(b, "static", b"mirror", **{"client.id": "ferry-mirror-target"}).code(),
                         KafkaError.POLICY_VIOLATION)
        self.assertIsNone(try_produce(b, "static", b"ours", **{"client.id": "replicator-1"}))


if __name__ == "__main__":
    unittest.main()
