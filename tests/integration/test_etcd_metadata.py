"""ferry-broker with `metadata.store = "etcd"` against real etcd members (Debian's etcd-server):
the cluster's metadata survives the broker's SIGKILL because it lives in etcd, the broker
registers under a lease that a crash lets expire, a second broker with the same node.id is
refused while the first lives, one etcd member of three may die, and bad settings or an
unreachable etcd give a clear error instead of a broker that half works. Regions of several
brokers on one prefix are test_cluster.py's.
"""

import json
import os
import subprocess
import time
import unittest

import kafka_wire as kw

from etcd_harness import EtcdCluster
from ferry_harness import (BrokerStartError, BrokerTestCase, consume_all, create_topics, free_port, produce_all,
                           wait_until)

PREFIX = "/ferry/it"


class EtcdMetadataTest(BrokerTestCase):
    def etcd(self, members=1):
        e = EtcdCluster(members)
        self.addCleanup(e.close)
        return e

    def etcd_broker(self, etcd, node_id=1, start=True, **extra):
        config = {"metadata.store": "etcd", "etcd.endpoints": etcd.endpoints, "etcd.prefix": PREFIX,
                  "broker.session.timeout.ms": 3000, "broker.heartbeat.interval.ms": 500}
        config.update(extra)
        return self.start_broker(config, node_id=node_id, start=start)

    def registration(self, etcd, node_id=1):
        got = etcd.range(f"{PREFIX}/brokers/ids/{node_id}")
        return json.loads(got[f"{PREFIX}/brokers/ids/{node_id}"]) if got else None

    def test_topics_and_records_survive_a_sigkill_and_the_metadata_is_in_etcd(self):
        etcd = self.etcd()
        b = self.etcd_broker(etcd)
        wait_until(lambda: self.registration(etcd), timeout=10, what="the broker's registration")
        create_topics(b, "orders", partitions=3, config={"retention.ms": "86400000"})
        produce_all(b, "orders", [{"value": f"r{i}".encode(), "partition": i % 3} for i in range(300)], acks="all")
        stored = etcd.prefix(f"{PREFIX}/topics/")
        self.assertIn(f"{PREFIX}/topics/orders", stored)
        topic = json.loads(stored[f"{PREFIX}/topics/orders"])
        self.assertEqual(topic["partitions"], 3)
        self.assertEqual(topic["configs"], {"retention.ms": "86400000"})
        cluster_id = etcd.range(f"{PREFIX}/cluster_id")[f"{PREFIX}/cluster_id"]
        self.assertEqual(len(cluster_id), 22)
        # No file store beside the logs: the metadata has one home.
        self.assertFalse(os.path.exists(os.path.join(b.data_dir, "ferry-metadata.toml")))

        b.kill()
        # The SIGKILLed broker's registration outlives it until its lease (3 s) runs out; the
        # restart waits for that instead of failing.
        started = time.monotonic()
        b.start(timeout=30)
        self.assertLess(time.monotonic() - started, 15)
        got = consume_all(b, "orders")
        self.assertEqual(sorted(m.value() for p in got.values() for m in p),
                         sorted(f"r{i}".encode() for i in range(300)))
        self.assertEqual(etcd.range(f"{PREFIX}/cluster_id")[f"{PREFIX}/cluster_id"], cluster_id)
        self.assertIn("waiting up to broker.session.timeout.ms", b.log_since_start())

    def test_metadata_names_the_controller_from_the_first_instant(self):
        # A broker's port opens before it registers and wins the election. librdkafka 2.0.2's
        # admin requests wait for a controller id and, told -1, never ask again: a CreateTopics
        # sent in those milliseconds hung until its timeout (1 run in 15 under load). Metadata
        # waits for the election instead. Three starts, each asked the instant the port opens.
        etcd = self.etcd()
        b = self.etcd_broker(etcd, start=False)
        for attempt in range(3):
            b.start()
            with kw.Connection("127.0.0.1", b.port) as c:
                controller, brokers = kw.parse_metadata_v1_controller(
                    c.request(kw.API_METADATA, 1, kw.metadata_v1_body([])))
            self.assertEqual((controller, brokers), (1, [1]), f"start {attempt + 1}")
            b.stop()
        b.start()
        create_topics(b, "first-instant", partitions=1)

    def test_registration_lives_with_the_broker_and_leaves_with_it(self):
        etcd = self.etcd()
        b = self.etcd_broker(etcd, node_id=7, **{"broker.rack": "rack-a"})
        # The broker registers once its listeners are bound, just after its port opens.
        reg = wait_until(lambda: self.registration(etcd, 7), timeout=10, what="broker 7's registration")
        self.assertEqual(reg["node_id"], 7)
        # Alone under its prefix, it is also the elected controller.
        wait_until(lambda: etcd.range(f"{PREFIX}/controller").get(f"{PREFIX}/controller") == "7", timeout=10,
                   what="broker 7 to hold the controller key")
        self.assertEqual(reg["rack"], "rack-a")
        self.assertEqual(reg["endpoints"], [f"PLAINTEXT://127.0.0.1:{b.port}"])
        # Renewed every 500 ms: still there after three session timeouts.
        time.sleep(9.5)
        self.assertIsNotNone(self.registration(etcd, 7))
        # A clean stop revokes the lease: gone at once.
        self.assertEqual(b.stop(), 0)
        self.assertIsNone(self.registration(etcd, 7))
        self.assertEqual(etcd.range(f"{PREFIX}/controller"), {})
        # A SIGKILL leaves it to expire within the session timeout.
        b.start()
        wait_until(lambda: self.registration(etcd, 7), timeout=10, what="broker 7's registration after a restart")
        b.kill()
        killed = time.monotonic()
        wait_until(lambda: self.registration(etcd, 7) is None, timeout=10,
                   what="the SIGKILLed broker's registration to expire")
        self.assertLess(time.monotonic() - killed, 3.0 + 2.5)

    def test_a_second_broker_with_the_same_node_id_is_refused_while_the_first_lives(self):
        etcd = self.etcd()
        first = self.etcd_broker(etcd, node_id=1)
        create_topics(first, "t")
        wait_until(lambda: self.registration(etcd, 1), timeout=10, what="the first broker's registration")
        second = self.etcd_broker(etcd, node_id=1, start=False)
        with self.assertRaises(BrokerStartError) as ctx:
            second.start(timeout=20)
        message = str(ctx.exception)
        self.assertIn("node.id 1 is registered by another live broker", message)
        self.assertIn(f"127.0.0.1:{first.port}", message)
        self.assertNotEqual(second.last_returncode, 0)
        # The first broker kept serving, and its registration is its own.
        produce_all(first, "t", [{"value": b"still here"}])
        self.assertEqual(self.registration(etcd)["endpoints"], [f"PLAINTEXT://127.0.0.1:{first.port}"])

    def test_one_etcd_member_of_three_may_die(self):
        etcd = self.etcd(3)
        b = self.etcd_broker(etcd)
        create_topics(b, "before")
        etcd.kill_member(0)  # the first endpoint the broker tries
        create_topics(b, "after", partitions=2)
        produce_all(b, "after", [{"value": b"x", "partition": 1}])
        self.assertIn(f"{PREFIX}/topics/after", etcd.prefix(f"{PREFIX}/topics/"))
        b.kill()
        b.start(timeout=30)
        self.assertEqual(len(consume_all(b, "after")[1]), 1)

    def test_garbage_in_etcd_is_named_and_the_broker_keeps_serving(self):
        etcd = self.etcd()
        b = self.etcd_broker(etcd)
        create_topics(b, "good")
        # Someone writes by hand under the broker's prefix while it runs, and before a restart.
        etcd.put(f"{PREFIX}/topics/broken", "not json")
        etcd.put(f"{PREFIX}/acls/0000", '{"resource_type": "x"}')
        etcd.put(f"{PREFIX}/brokers/ids/9", "nonsense")
        produce_all(b, "good", [{"value": b"still served"}])
        wait_until(lambda: f"{PREFIX}/topics/broken" in b.log_text(), timeout=10,
                   what="the broker to name the malformed key")
        b.kill()
        b.start(timeout=30)  # starts on the same garbage
        self.assertEqual([m.value() for m in consume_all(b, "good")[0]], [b"still served"])
        self.assertIn(f"{PREFIX}/acls/0000", b.log_since_start())
        from confluent_kafka.admin import AdminClient
        topics = AdminClient({"bootstrap.servers": b.bootstrap}).list_topics(timeout=10).topics
        self.assertIn("good", topics)
        self.assertNotIn("broken", topics)

    def test_bad_settings_and_an_unreachable_etcd_are_named(self):
        cases = [
            ({"metadata.store": "etcd"}, "etcd.endpoints"),
            ({"metadata.store": "zookeeper"}, "metadata.store"),
            ({"metadata.store": "etcd", "etcd.endpoints": "127.0.0.1:2379", "etcd.prefix": "ferry"}, "etcd.prefix"),
            ({"metadata.store": "etcd", "etcd.endpoints": "127.0.0.1:2379", "broker.heartbeat.interval.ms": 9000},
             "broker.heartbeat.interval.ms"),
            ({"metadata.store": "etcd", "etcd.endpoints": "127.0.0.1:0"}, "etcd.endpoints"),
        ]
        for config, key in cases:
            with self.subTest(config=config):
                b = self.start_broker(config, start=False)
                out = subprocess.run([b.binary, "--config", b.config_path], capture_output=True, text=True,
                                     timeout=30)
                self.assertEqual(out.returncode, 2, out.stderr)
                self.assertIn(key, out.stderr)
        dead = f"127.0.0.1:{free_port()}"
        b = self.start_broker({"metadata.store": "etcd", "etcd.endpoints": dead}, start=False)
        started = time.monotonic()
        out = subprocess.run([b.binary, "--config", b.config_path], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn(dead, out.stderr)
        self.assertLess(time.monotonic() - started, 30)


if __name__ == "__main__":
    unittest.main()
