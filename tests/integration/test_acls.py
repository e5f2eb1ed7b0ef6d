"""Kafka ACLs end to end: a broker with authorizer = acl on PLAINTEXT (every client is
User:ANONYMOUS), ACLs managed with kafka-python's KafkaAdminClient (CreateAcls / DescribeAcls /
DeleteAcls; confluent-kafka 1.7 here has no ACL admin API), enforced against confluent-kafka
producers, consumers and metadata requests.

What a user would notice: without an ACL a produce fails with TOPIC_AUTHORIZATION_FAILED; an
ALLOW WRITE lets it through at once; a DENY wins over it; a PREFIXED pattern covers every topic it
prefixes; Metadata does not list topics the caller may not describe; a consumer group needs READ on
the group; ACLs survive a SIGKILL restart; super.users bypass ACLs; malformed bindings get Kafka's
INVALID_REQUEST; without an ACL authorizer the ACL APIs answer SECURITY_DISABLED.
"""

import unittest

from confluent_kafka import KafkaError, KafkaException
from kafka.admin import (ACL, ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType,
                         ConfigResource, ConfigResourceType, KafkaAdminClient, ResourcePattern, ResourcePatternFilter, ResourceType)
from kafka.errors import SecurityDisabledError

from ferry_harness import BrokerTestCase, admin, consumer, create_topics, producer

ANON = "User:ANONYMOUS"


def kadmin(broker):
    return KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10000,
                            api_version_auto_timeout_ms=10000)


def acl(resource_type, name, operation, permission=ACLPermissionType.ALLOW, pattern=ACLResourcePatternType.LITERAL,
        principal=ANON, host="*"):
    return ACL(principal, host, operation, permission, ResourcePattern(resource_type, name, pattern))


def create(a, *acls):
    """Creates ACLs; returns the list of (acl, error) failures."""
    return a.create_acls(list(acls))["failed"]


def produce_error(broker, topic):
    """Produces one record; None when delivered, else the delivery error's code."""
    p = producer(broker, **{"message.timeout.ms": 5000})
    result = []
    p.produce(topic, value=b"v", on_delivery=lambda err, msg: result.append(err))
    p.flush(15)
    assert result, f"no delivery report for {topic}"
    return None if result[0] is None else result[0].code()


class AclTest(BrokerTestCase):
    def test_acls_enforced_managed_and_durable(self):
        # Phase 1, as a super user: topics and the ACL that lets ANONYMOUS manage ACLs.
        b = self.start_broker({"authorizer": "acl", "super.users": ANON})
        create_topics(b, ["orders", "fin-ledger", "secret"])
        self.assertIsNone(produce_error(b, "secret"), "a super user is allowed without ACLs")
        a = kadmin(b)
        self.addCleanup(a.close)
        self.assertEqual(create(a, acl(ResourceType.CLUSTER, "kafka-cluster", ACLOperation.ALTER)), [])
        a.close()

        # Phase 2: SIGKILL, restart without super users: the ACL survived and is all ANONYMOUS has.
        b.kill()
        b.config.pop("super.users")
        b.write_config()
        b.start()
        a = kadmin(b)
        self.addCleanup(a.close)
        listed, _ = a.describe_acls(ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY,
                                              ResourcePatternFilter(ResourceType.ANY, None,
                                                                    ACLResourcePatternType.ANY)))
        self.assertEqual([(x.resource_pattern.resource_type, x.resource_pattern.resource_name, x.operation)
                          for x in listed], [(ResourceType.CLUSTER, "kafka-cluster", ACLOperation.ALTER)])

        # No ACL on the topic: refused.
        self.assertEqual(produce_error(b, "orders"), KafkaError.TOPIC_AUTHORIZATION_FAILED)
        # ALLOW WRITE: through, at once (WRITE implies the DESCRIBE Metadata needs).
        write_orders = acl(ResourceType.TOPIC, "orders", ACLOperation.WRITE)
        self.assertEqual(create(a, write_orders), [])
        self.assertIsNone(produce_error(b, "orders"))
        # A DENY from a prefixed pattern on every principal wins over the literal ALLOW.
        deny = acl(ResourceType.TOPIC, "ord", ACLOperation.WRITE, ACLPermissionType.DENY,
                   ACLResourcePatternType.PREFIXED, principal="User:*")
        self.assertEqual(create(a, deny), [])
        self.assertEqual(produce_error(b, "orders"), KafkaError.TOPIC_AUTHORIZATION_FAILED)
        _, deleted, err = a.delete_acls([ACLFilter("User:*", None, ACLOperation.ANY, ACLPermissionType.DENY,
                                                   ResourcePatternFilter(ResourceType.TOPIC, "orders",
                                                                         ACLResourcePatternType.MATCH))])[0]
        self.assertEqual([d[0].resource_pattern.resource_name for d in deleted], ["ord"])
        self.assertIsNone(produce_error(b, "orders"))
        # PREFIXED ALLOW covers fin-ledger.
        self.assertEqual(produce_error(b, "fin-ledger"), KafkaError.TOPIC_AUTHORIZATION_FAILED)
        self.assertEqual(create(a, acl(ResourceType.TOPIC, "fin-", ACLOperation.WRITE,
                                       pattern=ACLResourcePatternType.PREFIXED)), [])
        self.assertIsNone(produce_error(b, "fin-ledger"))

        # Metadata lists only what ANONYMOUS may describe: not "secret".
        self.assertEqual(sorted(t for t in admin(b).list_topics(timeout=10).topics if not t.startswith("__")),
                         ["fin-ledger", "orders"])

        # A consumer group needs READ on the group as well as on the topic.
        self.assertEqual(create(a, acl(ResourceType.TOPIC, "orders", ACLOperation.READ)), [])
        self.assertEqual(self.group_error(b, "g1"), KafkaError.GROUP_AUTHORIZATION_FAILED)
        self.assertEqual(create(a, acl(ResourceType.GROUP, "g1", ACLOperation.READ)), [])
        self.assertIsNone(self.group_error(b, "g1"))

        # Deleting the WRITE ACL closes the topic again.
        a.delete_acls([ACLFilter(ANON, "*", ACLOperation.WRITE, ACLPermissionType.ALLOW,
                                 ResourcePatternFilter(ResourceType.TOPIC, "orders", ACLResourcePatternType.LITERAL))])
        self.assertEqual(produce_error(b, "orders"), KafkaError.TOPIC_AUTHORIZATION_FAILED)

        # Bindings Kafka refuses get INVALID_REQUEST (42) each; the valid one beside them is created.
        failed = create(a, acl(ResourceType.CLUSTER, "my-cluster", ACLOperation.ALTER),
                        acl(ResourceType.TOPIC, "", ACLOperation.READ),
                        acl(ResourceType.TOPIC, "t", ACLOperation.READ, principal="ANONYMOUS"),
                        acl(ResourceType.TOPIC, "fine", ACLOperation.READ))
        self.assertEqual(sorted((f[0].resource_pattern.resource_name, f[1].errno) for f in failed),
                         [("", 42), ("my-cluster", 42), ("t", 42)])
        listed, _ = a.describe_acls(ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY,
                                              ResourcePatternFilter(ResourceType.TOPIC, "fine",
                                                                    ACLResourcePatternType.LITERAL)))
        self.assertEqual(len(listed), 1)

    def test_each_api_checks_what_kafka_checks(self):
        b = self.start_broker({"authorizer": "acl", "super.users": ANON, "group.initial.rebalance.delay.ms": 0})
        create_topics(b, ["orders"])
        self.assertIsNone(produce_error(b, "orders"))
        self.assertIsNone(self.group_error(b, "g0"))  # a group no ACL will name
        a = kadmin(b)
        self.assertEqual(create(a, acl(ResourceType.CLUSTER, "kafka-cluster", ACLOperation.ALTER),
                                acl(ResourceType.TOPIC, "orders", ACLOperation.WRITE),
                                acl(ResourceType.TOPIC, "auto-", ACLOperation.WRITE,
                                    pattern=ACLResourcePatternType.PREFIXED)), [])
        a.close()
        b.kill()
        b.config.pop("super.users")
        b.write_config()
        b.start()
        a = kadmin(b)
        self.addCleanup(a.close)

        with self.subTest('ListGroups'):
            # DESCRIBE on the cluster (implied by ALTER) lists every group.
            self.assertIn("g0", [g[0] for g in a.list_consumer_groups()])

        with self.subTest('Metadata auto-creation'):
            # Needs CREATE (cluster or topic), not only DESCRIBE.
            md = admin(b).list_topics(topic="auto-x", timeout=10)
            self.assertEqual(md.topics["auto-x"].error.code(), KafkaError.TOPIC_AUTHORIZATION_FAILED)
            self.assertEqual(create(a, acl(ResourceType.TOPIC, "auto-", ACLOperation.CREATE,
                                           pattern=ACLResourcePatternType.PREFIXED)), [])
            md = admin(b).list_topics(topic="auto-y", timeout=10)
            self.assertIsNone(md.topics["auto-y"].error)
            self.assertEqual(len(md.topics["auto-y"].partitions), 1)

        with self.subTest('IDEMPOTENT_WRITE'):
            # Idempotent producers need IDEMPOTENT_WRITE on the cluster, at InitProducerId and at
            # every Produce: revoking it stops a producer that already has its id.
            self.assertEqual(create(a, acl(ResourceType.CLUSTER, "kafka-cluster", ACLOperation.IDEMPOTENT_WRITE)), [])
            p = producer(b, **{"enable.idempotence": True, "message.timeout.ms": 5000})
            errs = []
            p.produce("orders", value=b"1", on_delivery=lambda err, msg: errs.append(err))
            p.flush(15)
            self.assertEqual(errs, [None])
            a.delete_acls([ACLFilter(ANON, "*", ACLOperation.IDEMPOTENT_WRITE, ACLPermissionType.ALLOW,
                                     ResourcePatternFilter(ResourceType.CLUSTER, "kafka-cluster",
                                                           ACLResourcePatternType.LITERAL))])
            p.produce("orders", value=b"2", on_delivery=lambda err, msg: errs.append(err))
            p.flush(15)
            self.assertEqual(len(errs), 2)
            self.assertIsNotNone(errs[1], "an idempotent Produce without IDEMPOTENT_WRITE was accepted")
            self.assertIn(errs[1].code(), (KafkaError.CLUSTER_AUTHORIZATION_FAILED, KafkaError._FATAL))

        with self.subTest('FindCoordinator transactional'):
            # DESCRIBE on the transactional id.
            tp = producer(b, **{"transactional.id": "tx-1", "enable.idempotence": True})
            with self.assertRaises(KafkaException) as caught:
                tp.init_transactions(10)
            self.assertEqual(caught.exception.args[0].code(), KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)

        with self.subTest('ferry.cluster.role'):
            # ferry.cluster.role is a broker config: changing it needs ALTER_CONFIGS on the cluster.
            resp = a.alter_configs([ConfigResource(ConfigResourceType.BROKER, "1",
                                                   configs={"ferry.cluster.role": "standby"})])
            self.assertEqual([r[0] for r in resp.resources], [31])

    def group_error(self, broker, group):
        """Subscribes a consumer in `group` to "orders"; None once it receives a record, else the
        first consumer error's code."""
        c = consumer(broker, **{"group.id": group, "session.timeout.ms": 6000})
        try:  # closed before returning: a refused consumer left running would rejoin once allowed
            c.subscribe(["orders"])
            for _ in range(60):
                m = c.poll(0.5)
                if m is None:
                    continue
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    return m.error().code()
                c.commit(message=m, asynchronous=False)
                return None
        finally:
            c.close()
        self.fail(f"group {group}: neither a record nor an error within 30 s")

    def test_without_an_acl_authorizer_the_acl_apis_are_disabled(self):
        b = self.start_broker()  # PLAINTEXT only: allow-all by default
        a = kadmin(b)
        self.addCleanup(a.close)
        with self.assertRaises(SecurityDisabledError):
            a.describe_acls(ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY,
                                      ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY)))
        self.assertIsNone(produce_error(b, "auto-created"))

    def test_cluster_acls_need_alter_on_the_cluster(self):
        b = self.start_broker({"authorizer": "acl", "allow.everyone.if.no.acl.found": True})
        a = kadmin(b)
        self.addCleanup(a.close)
        # The cluster has no ACL yet: allow.everyone.if.no.acl.found lets ANONYMOUS in.
        self.assertEqual(create(a, acl(ResourceType.CLUSTER, "kafka-cluster", ACLOperation.DESCRIBE)), [])
        # Now the cluster has an ACL, and it grants DESCRIBE only: CreateAcls is refused (31).
        failed = create(a, acl(ResourceType.TOPIC, "t", ACLOperation.READ))
        self.assertEqual([f[1].errno for f in failed], [31])


if __name__ == "__main__":
    unittest.main()
