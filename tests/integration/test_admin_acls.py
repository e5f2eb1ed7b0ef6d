"""ferry-admin acls list | add | remove against a broker with the ACL authorizer, with
kafka-acls.sh's flags; the bindings it adds decide a real client's produce."""

import json
import os
import subprocess
import time
import unittest

from confluent_kafka import Producer

from ferry_harness import BrokerTestCase

TIMEOUT_S = 30


@unittest.skipUnless(os.environ.get("FERRY_ADMIN"), "FERRY_ADMIN not set (build ferry-admin)")
class AdminAclsTest(BrokerTestCase):
    def admin(self, b, *args):
        p = subprocess.run([os.environ["FERRY_ADMIN"], *args, "--bootstrap-server", b.bootstrap],
                           capture_output=True, text=True, timeout=TIMEOUT_S)
        return p

    def listed(self, b, *args):
        p = self.admin(b, "acls", "list", "--json", *args)
        self.assertEqual(p.returncode, 0, p.stderr)
        return sorted((a["resource_type"], a["resource_name"], a["pattern_type"], a["principal"], a["operation"],
                       a["permission"]) for a in json.loads(p.stdout)["acls"])

    def test_add_list_remove_and_the_effect_on_a_client(self):
        # PLAINTEXT: every caller is User:ANONYMOUS; it administers ACLs as a super user, and an
        # ACL for User:* decides the producer below.
        b = self.start_broker({"authorizer": "acl", "super.users": "User:ANONYMOUS"})
        p = self.admin(b, "acls", "add", "--allow-principal", "User:alice", "--allow-principal", "User:bob",
                       "--operation", "read", "--operation", "Describe", "--topic", "orders")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("User:alice", p.stdout)
        self.assertEqual(len(self.listed(b)), 4)
        p = self.admin(b, "acls", "add", "--deny-principal", "User:mallory", "--operation", "All", "--topic", "ord",
                       "--resource-pattern-type", "prefixed")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.listed(b, "--topic", "orders", "--resource-pattern-type", "match"),
                         sorted([("Topic", "orders", "LITERAL", "User:alice", "Read", "ALLOW"),
                                 ("Topic", "orders", "LITERAL", "User:alice", "Describe", "ALLOW"),
                                 ("Topic", "orders", "LITERAL", "User:bob", "Read", "ALLOW"),
                                 ("Topic", "orders", "LITERAL", "User:bob", "Describe", "ALLOW"),
                                 ("Topic", "ord", "PREFIXED", "User:mallory", "All", "DENY")]))
        self.assertEqual(len(self.listed(b, "--principal", "User:bob")), 2)
        p = self.admin(b, "acls", "remove", "--allow-principal", "User:bob", "--operation", "Read", "--topic", "orders")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn(("Topic", "orders", "LITERAL", "User:bob", "Read", "ALLOW"), self.listed(b))
        p = self.admin(b, "acls", "remove", "--topic", "orders")  # every ACL of the literal resource
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.listed(b), [("Topic", "ord", "PREFIXED", "User:mallory", "All", "DENY")])

        # A binding added with ferry-admin opens a topic for a real client, and removing it closes it.
        p = self.admin(b, "acls", "add", "--allow-principal", "User:*", "--operation", "Write", "--operation",
                       "Describe", "--topic", "open", "--cluster")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.admin(b, "topics", "create", "--topic", "open", "--partitions", "1").returncode, 0)

        def produce():
            pr = Producer({"bootstrap.servers": b.bootstrap, "message.timeout.ms": 8000, "enable.idempotence": False})
            errs = []
            pr.produce("open", b"x", on_delivery=lambda err, m: errs.append(err))
            pr.flush(TIMEOUT_S)
            return errs[0] if errs else "no report"

        self.assertIsNone(produce())

    def test_bad_flags_name_the_option(self):
        b = self.start_broker({"authorizer": "acl", "super.users": "User:ANONYMOUS"})
        for args, expected in [
            (["acls", "add", "--allow-principal", "User:a", "--operation", "Fly", "--topic", "t"], "--operation"),
            (["acls", "add", "--allow-principal", "alice", "--operation", "Read", "--topic", "t"], "--allow-principal"),
            (["acls", "add", "--allow-principal", "User:a", "--operation", "Read"], "--topic"),
            (["acls", "add", "--operation", "Read", "--topic", "t"], "--allow-principal"),
            (["acls", "list", "--resource-pattern-type", "weird"], "--resource-pattern-type"),
        ]:
            with self.subTest(args=args):
                p = self.admin(b, *args)
                self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
                self.assertIn(expected, p.stderr)

    def test_without_an_acl_authorizer_the_broker_says_security_disabled(self):
        b = self.start_broker()  # PLAINTEXT only: allow-all
        p = self.admin(b, "acls", "add", "--allow-principal", "User:a", "--operation", "Read", "--topic", "t")
        self.assertEqual(p.returncode, 1)
        self.assertIn("SECURITY_DISABLED", p.stderr)
        # librdkafka 2.0.2 drops DescribeAcls' top-level error: a listing shows no ACLs instead.


if __name__ == "__main__":
    unittest.main()
