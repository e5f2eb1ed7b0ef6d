"""A region of three ferry-brokers on etcd whose only listener is SASL_SSL (certificates made by
openssl at test time, SCRAM users stored in etcd): followers log in to their leaders with
inter.broker.sasl.username over TLS, acks=all replicates, and a follower without CLUSTER_ACTION
is refused and the ISR shrinks rather than acknowledging without it.
"""

import unittest

from etcd_harness import EtcdCluster
from ferry_harness import Broker, consume_all, free_port, produce_all, scram_specs, wait_until
from security_pki import PkiTestCase

PREFIX = "/ferry/secure"


class SecureRegion:
    def __init__(self, brokers):
        self.brokers = brokers
        self.bootstrap = ",".join(b.bootstrap for b in brokers)


class ClusterSecurityTest(PkiTestCase):
    PKI_PREFIX = "ferry-cluster-pki-"

    def region(self, broker_user="broker", super_users=("broker", "app")):
        etcd = EtcdCluster(1)
        self.addCleanup(etcd.close)
        brokers = []
        for node in (1, 2, 3):
            port = free_port()
            config = {"listeners": f"SASL_SSL://127.0.0.1:{port}", "ssl.keystore.location": self.server.keystore,
                      "ssl.truststore.location": self.pki.ca_cert, "sasl.enabled.mechanisms": "SCRAM-SHA-512",
                      "super.users": ";".join(f"User:{u}" for u in super_users),
                      "metadata.store": "etcd", "etcd.endpoints": etcd.endpoints, "etcd.prefix": PREFIX,
                      "broker.session.timeout.ms": 3000, "broker.heartbeat.interval.ms": 500,
                      "replica.lag.time.max.ms": 3000, "replica.fetch.backoff.ms": 200,
                      "inter.broker.sasl.username": broker_user, "inter.broker.sasl.password": f"{broker_user}-secret"}
            b = Broker(config=config, node_id=node, start=False)
            self.addCleanup(b.close)
            b.port = port
            if node == 1:  # the credentials live in etcd: one broker stores them for the region
                b.add_scram(*scram_specs({"broker": "broker-secret", "app": "app-secret",
                                          "intruder": "intruder-secret"}))
            b.start()
            self.__dict__.setdefault("_processes", []).append(b)
            brokers.append(b)
        return SecureRegion(brokers)

    def client(self):
        return {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "app",
                "sasl.password": "app-secret", "ssl.ca.location": self.pki.ca_cert}

    def create(self, region, topic, min_isr):
        from confluent_kafka.admin import AdminClient, NewTopic
        a = AdminClient(dict(self.client(), **{"bootstrap.servers": region.bootstrap}))
        fut = a.create_topics([NewTopic(topic, 1, 3, config={"min.insync.replicas": str(min_isr)})],
                              operation_timeout=20)[topic]
        fut.result(30)
        wait_until(lambda: len(self.isr(region, topic)) == 3, timeout=30, what=f"{topic} with an ISR of 3")

    def isr(self, region, topic):
        from confluent_kafka.admin import AdminClient
        md = AdminClient(dict(self.client(), **{"bootstrap.servers": region.bootstrap})).list_topics(topic, timeout=10)
        return sorted(md.topics[topic].partitions[0].isrs)

    def test_followers_replicate_over_sasl_ssl(self):
        region = self.region()
        self.create(region, "secure", 3)
        produce_all(region, "secure", [{"value": f"s{i}".encode()} for i in range(500)], acks="all", **self.client())
        self.assertEqual(self.isr(region, "secure"), [1, 2, 3])
        got = consume_all(region, "secure", **self.client())
        self.assertEqual(len(got[0]), 500)

    def test_a_follower_without_cluster_action_leaves_the_isr(self):
        # The brokers log in as "intruder", who is no super user: every follower Fetch is refused
        # (TOPIC_AUTHORIZATION_FAILED), so followers never catch up and leave the ISR; acks=all with
        # min.insync.replicas 2 is then refused instead of acknowledged by the leader alone.
        region = self.region(broker_user="intruder", super_users=("app",))
        self.create(region, "locked", 2)
        produce_all(region, "locked", [{"value": b"one"}], acks=1, **self.client())
        wait_until(lambda: len(self.isr(region, "locked")) == 1, timeout=30, what="the ISR down to the leader")
        from confluent_kafka import KafkaError, Producer
        p = Producer(dict(self.client(), **{"bootstrap.servers": region.bootstrap, "acks": "all", "retries": 0,
                                            "message.timeout.ms": 5000}))
        errs = []
        p.produce("locked", value=b"two", on_delivery=lambda err, msg: errs.append(err))
        p.flush(10)
        self.assertEqual(len(errs), 1)
        self.assertIsNotNone(errs[0])
        self.assertEqual(errs[0].code(), KafkaError.NOT_ENOUGH_REPLICAS)
        # The leader says why it is alone: every follower fetch was refused.
        logs = "".join(b.log_text() for b in region.brokers)
        self.assertRegex(logs, r"locked-0: ISR \d,\d,\d -> \d at leader epoch 0")


if __name__ == "__main__":
    unittest.main()
