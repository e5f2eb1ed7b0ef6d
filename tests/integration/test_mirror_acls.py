"""MM2's topic ACL sync between two secured regions (SASL_PLAINTEXT, SCRAM-SHA-512, ACL authorizer):
the source's ALLOW ACLs of a replicated topic reach its remote topic on the target, WRITE never
does, ALL becomes READ, DENY and prefixed bindings stay behind; afterwards a reader can consume the
replica on the target and a writer cannot write into it. ACLs are managed with kafka-python's
KafkaAdminClient, the replica is read with confluent-kafka.
"""

import os
import time
import unittest

from confluent_kafka import Consumer, Producer
from kafka.admin import (ACL, ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType, KafkaAdminClient,
                         ResourcePattern, ResourcePatternFilter, ResourceType)

from ferry_harness import Broker, BrokerTestCase, first_value, free_port, scram_specs

TIMEOUT_S = 30
USERS = {"admin": "admin-pw", "mirror": "mirror-pw", "reader": "reader-pw", "writer": "writer-pw",
         "ops": "ops-pw", "bad": "bad-pw"}


def props(user):
    return {"security.protocol": "sasl_plaintext", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": user,
            "sasl.password": USERS[user]}


def admin(broker):
    return KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10000,
                            security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
                            sasl_plain_username="admin", sasl_plain_password=USERS["admin"])


def topic_acl(name, principal, operation, permission=ACLPermissionType.ALLOW,
              pattern=ACLResourcePatternType.LITERAL):
    return ACL(principal, "*", operation, permission, ResourcePattern(ResourceType.TOPIC, name, pattern))


def topic_acls(broker, name):
    a = admin(broker)
    try:
        listed, _ = a.describe_acls(ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY,
                                              ResourcePatternFilter(ResourceType.TOPIC, name,
                                                                    ACLResourcePatternType.LITERAL)))
        return sorted((x.principal, x.operation.name, x.permission_type.name) for x in listed)
    finally:
        a.close()


@unittest.skipUnless(os.environ.get("FERRY_MIRROR"), "FERRY_MIRROR not set (build ferry-mirror)")
class MirrorAclSyncTest(BrokerTestCase):
    def secured_broker(self):
        port = free_port()
        b = Broker(config={"listeners": f"SASL_PLAINTEXT://127.0.0.1:{port}",
                           "sasl.enabled.mechanisms": "SCRAM-SHA-512", "super.users": "User:admin;User:mirror"},
                   start=False)
        self.addCleanup(b.close)
        b.port = port
        b.add_scram(*scram_specs(USERS))
        b.start()
        return b

    def test_allow_acls_of_replicated_topics_reach_the_replicas(self):
        east, west = self.secured_broker(), self.secured_broker()
        p = Producer({"bootstrap.servers": east.bootstrap, **props("admin")})
        p.produce("orders", b"order-1")
        self.assertEqual(p.flush(TIMEOUT_S), 0)
        a = admin(east)
        result = a.create_acls([
            topic_acl("orders", "User:reader", ACLOperation.READ),
            topic_acl("orders", "User:writer", ACLOperation.WRITE),
            topic_acl("orders", "User:ops", ACLOperation.ALL),
            topic_acl("orders", "User:bad", ACLOperation.READ, ACLPermissionType.DENY),
            topic_acl("ord", "User:reader", ACLOperation.DESCRIBE, pattern=ACLResourcePatternType.PREFIXED),
        ])
        a.close()
        self.assertEqual(result["failed"], [])

        self.start_mirror(
            {"east": {"bootstrap.servers": east.bootstrap, "client": props("mirror")},
             "west": {"bootstrap.servers": west.bootstrap, "client": props("mirror")}},
            [{"source": "east", "target": "west", "topics": ["orders"], "refresh.topics.interval.seconds": 1,
              "sync.topic.acls.interval.seconds": 1}])
        expected = [("User:ops", "READ", "ALLOW"), ("User:reader", "READ", "ALLOW")]
        deadline = time.monotonic() + TIMEOUT_S
        while topic_acls(west, "east.orders") != expected:
            self.assertLess(time.monotonic(), deadline, f"west has {topic_acls(west, 'east.orders')}")
            time.sleep(0.5)

        # The reader can consume the replica (with READ on its group on the target); the writer
        # cannot write into it.
        a = admin(west)
        a.create_acls([ACL("User:reader", "*", ACLOperation.READ, ACLPermissionType.ALLOW,
                           ResourcePattern(ResourceType.GROUP, "replica-readers"))])
        a.close()
        c = Consumer({"bootstrap.servers": west.bootstrap, "group.id": "replica-readers",
                      "auto.offset.reset": "earliest", **props("reader")})
        c.subscribe(["east.orders"])
        got = first_value(c, TIMEOUT_S)
        c.close()
        self.assertEqual(got, b"order-1")
        w = Producer({"bootstrap.servers": west.bootstrap, "message.timeout.ms": 8000, **props("writer")})
        errors = []
        w.produce("east.orders", b"forged", on_delivery=lambda err, m: errors.append(err))
        w.flush(TIMEOUT_S)
        self.assertEqual(len(errors), 1)
        self.assertIn("TOPIC_AUTHORIZATION_FAILED", str(errors[0]))


if __name__ == "__main__":
    unittest.main()
