"""SASL with unmodified clients and on the wire: kcat, confluent-kafka and kafka-python over
SASL_SSL and SASL_PLAINTEXT with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (kafka-python uses
SaslHandshake v0's raw tokens, librdkafka SaslAuthenticate); the first credential from
`ferry-broker --add-scram`; credentials managed with AlterUserScramCredentials and
DescribeUserScramCredentials, durable across SIGKILL; every bad input of the issue gets Kafka's
error code or a closed connection and is audited; 10,000 failed logins leave other clients served,
memory bounded and the audit log short; KIP-368 re-authentication.
"""

import json
import os
import stat
import subprocess
import threading
import time
import unittest

from confluent_kafka import Consumer, Producer

import kafka_wire as kw
import sasl_wire as sw
from ferry_harness import Broker, closed_by_peer, free_port, kcat, scram_specs
from security_pki import PkiTestCase

TIMEOUT_S = 20
ADMIN_PASSWORD = "admin-secret-Ω"


def sasl_props(mechanism, user, password, tls_ca=None):
    props = {"security.protocol": "sasl_ssl" if tls_ca else "sasl_plaintext", "sasl.mechanism": mechanism,
             "sasl.username": user, "sasl.password": password}
    if tls_ca:
        props["ssl.ca.location"] = tls_ca
    return props


class SaslTest(PkiTestCase):
    PKI_PREFIX = "ferry-sasl-"

    def sasl_broker(self, **extra):
        """A broker with SASL_SSL (self.tls_port) and SASL_PLAINTEXT (b.port) listeners and user
        admin (both SCRAM mechanisms) stored with --add-scram before the first start."""
        tls_port, plain_port = free_port(), free_port()
        config = {
            "listeners": f"SASL_PLAINTEXT://127.0.0.1:{plain_port},SASL_SSL://127.0.0.1:{tls_port}",
            "ssl.keystore.location": self.server.keystore,
            "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
            "super.users": "User:admin",  # the authorizer is acl by default on SASL listeners
        }
        config.update(extra)
        b = Broker(config=config, start=False)
        self.addCleanup(b.close)
        b.port, b.tls_port = plain_port, tls_port
        out = b.add_scram(*scram_specs({"admin": ADMIN_PASSWORD}, ("SCRAM-SHA-512", "SCRAM-SHA-256")))
        self.assertNotIn(ADMIN_PASSWORD, out.stdout + out.stderr)
        b.start()
        return b

    def admin_conn(self, b):
        conn = kw.Connection("127.0.0.1", b.port)
        (code, _, _, _), _ = sw.scram_login(conn, "SCRAM-SHA-512", "admin", ADMIN_PASSWORD)
        self.assertEqual(code, 0)
        return conn

    def audit_lines(self, b):
        path = os.path.join(b.data_dir, "ferry-audit", "security-audit.log")
        deadline = time.monotonic() + 10
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.1)
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def test_every_client_and_mechanism_on_both_sasl_listeners(self):
        b = self.sasl_broker()
        tls = f"127.0.0.1:{b.tls_port}"
        for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]:
            for bootstrap, ca in [(b.bootstrap, None), (tls, self.pki.ca_cert)]:
                with self.subTest(mechanism=mechanism, tls=ca is not None):
                    out = kcat(bootstrap, sasl_props(mechanism, "admin", ADMIN_PASSWORD, ca), "-P", "-t", "sasl-kcat",
                               stdin=f"{mechanism}\n")
                    self.assertEqual(out.returncode, 0, out.stderr)
        c = Consumer({"bootstrap.servers": tls, "group.id": "g-sasl", "auto.offset.reset": "earliest",
                      **sasl_props("SCRAM-SHA-512", "admin", ADMIN_PASSWORD, self.pki.ca_cert)})
        c.subscribe(["sasl-kcat"])
        got = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(got) < 6 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got.append(m.value().decode())
        c.close()
        self.assertEqual(sorted(got), sorted(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] * 2))

        import kafka
        for mechanism in ["PLAIN", "SCRAM-SHA-256"]:
            with self.subTest(kafka_python=mechanism):
                p = kafka.KafkaProducer(bootstrap_servers=b.bootstrap, security_protocol="SASL_PLAINTEXT",
                                        sasl_mechanism=mechanism, sasl_plain_username="admin",
                                        sasl_plain_password=ADMIN_PASSWORD)
                p.send("sasl-kafka-python", mechanism.encode()).get(timeout=TIMEOUT_S)
                p.close()
        logins = [e for e in self.audit_lines(b) if e["type"].endswith("/authentication")]
        self.assertTrue(any(e["data"]["result"]["status"] == "SUCCESS" for e in logins))

    def test_credentials_are_managed_on_the_wire_and_survive_sigkill(self):
        b = self.sasl_broker()
        with self.admin_conn(b) as conn:
            self.assertEqual(sw.alter_scram(conn, upsertions=[("bob", "SCRAM-SHA-256", "bob-pw", 8192)]),
                             {"bob": (0, None)})
            code, results = sw.describe_scram(conn)
            self.assertEqual(code, 0)
            self.assertEqual(results["bob"], (0, [(1, 8192)]))
            self.assertEqual(sorted(i[0] for i in results["admin"][1]), [1, 2])
            bad = sw.alter_scram(conn, upsertions=[("carol", "SCRAM-SHA-256", "pw", 100),
                                                   ("dave", "SCRAM-SHA-512", "pw", 4096),
                                                   ("dave", "SCRAM-SHA-256", "pw", 4096)],
                                 deletions=[("nobody", "SCRAM-SHA-512")])
            self.assertEqual(bad["carol"][0], sw.ERR_UNACCEPTABLE_CREDENTIAL)
            self.assertEqual(bad["dave"][0], sw.ERR_DUPLICATE_RESOURCE)
            self.assertEqual(bad["nobody"][0], sw.ERR_RESOURCE_NOT_FOUND)
            _, described = sw.describe_scram(conn, ["bob", "nobody"])
            self.assertEqual(described["nobody"][0], sw.ERR_RESOURCE_NOT_FOUND)
            self.assertNotIn("carol", sw.describe_scram(conn)[1])
        out = kcat(b.bootstrap, sasl_props("SCRAM-SHA-256", "bob", "bob-pw"), "-L")
        self.assertEqual(out.returncode, 0, out.stderr)
        b.kill()
        b.start()
        out = kcat(b.bootstrap, sasl_props("SCRAM-SHA-256", "bob", "bob-pw"), "-L")
        self.assertEqual(out.returncode, 0, "bob's credential did not survive SIGKILL: " + out.stderr)
        meta = os.path.join(b.data_dir, "ferry-metadata.toml")
        self.assertEqual(stat.S_IMODE(os.stat(meta).st_mode), 0o600)
        with open(meta) as f:
            text = f.read()
        self.assertNotIn("bob-pw", text)
        self.assertNotIn(ADMIN_PASSWORD, text)
        with self.admin_conn(b) as conn:
            self.assertEqual(sw.alter_scram(conn, deletions=[("bob", "SCRAM-SHA-256")]), {"bob": (0, None)})
        out = kcat(b.bootstrap, sasl_props("SCRAM-SHA-256", "bob", "bob-pw"), "-L", "-m", "3")
        self.assertNotEqual(out.returncode, 0)

    def test_bad_logins_get_kafkas_codes_or_a_close_and_are_audited(self):
        b = self.sasl_broker()
        with kw.Connection("127.0.0.1", b.port) as conn:  # wrong password
            (code, message, _, _), _ = sw.scram_login(conn, "SCRAM-SHA-512", "admin", "Wr0ng-guess-4711")
            self.assertEqual(code, sw.ERR_SASL_AUTHENTICATION_FAILED)
            self.assertIn("SCRAM-SHA-512", message)
            self.assertTrue(closed_by_peer(conn.sock, data_allowed=False))
        with kw.Connection("127.0.0.1", b.port) as conn:  # unknown user: the same answer
            (code, message2, _, _), _ = sw.scram_login(conn, "SCRAM-SHA-512", "mallory", "x")
            self.assertEqual((code, message2), (sw.ERR_SASL_AUTHENTICATION_FAILED, message))
        with kw.Connection("127.0.0.1", b.port) as conn:  # unsupported mechanism
            code, enabled = sw.handshake(conn, "GSSAPI")
            self.assertEqual(code, sw.ERR_UNSUPPORTED_SASL_MECHANISM)
            self.assertEqual(enabled, ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
            self.assertTrue(closed_by_peer(conn.sock, data_allowed=False))
        with kw.Connection("127.0.0.1", b.port) as conn:  # SaslAuthenticate before the handshake
            code, _, _, _ = sw.authenticate(conn, b"n,,n=admin,r=abc")
            self.assertEqual(code, sw.ERR_ILLEGAL_SASL_STATE)
            self.assertTrue(closed_by_peer(conn.sock, data_allowed=False))
        with kw.Connection("127.0.0.1", b.port) as conn:  # ApiVersions is allowed, Metadata is not
            self.assertEqual(kw.Reader(conn.request(kw.API_API_VERSIONS, 0, b"")).i16(), 0)
            conn.send_raw(kw.frame(kw.request_header(kw.API_METADATA, 1, 9) + kw.metadata_v1_body(None)))
            self.assertTrue(closed_by_peer(conn.sock, data_allowed=False))
        for name, token in [("truncated", b"n,,n=adm"), ("garbage", os.urandom(64)), ("empty", b"")]:
            with self.subTest(token=name), kw.Connection("127.0.0.1", b.port) as conn:
                sw.handshake(conn, "SCRAM-SHA-256")
                code, _, _, _ = sw.authenticate(conn, token)
                self.assertEqual(code, sw.ERR_SASL_AUTHENTICATION_FAILED)
        with kw.Connection("127.0.0.1", b.port) as conn:  # a frame over sasl.server.max.receive.size
            conn.send_raw(b"\x00\x10\x00\x00" + b"\x00" * 1024)
            self.assertTrue(closed_by_peer(conn.sock, data_allowed=False))
        with kw.Connection("127.0.0.1", b.tls_port) as conn:  # plaintext SASL on the TLS port
            conn.send_raw(kw.frame(kw.request_header(sw.API_SASL_HANDSHAKE, 1, 1) + kw.string("PLAIN")))
            self.assertTrue(closed_by_peer(conn.sock, data_allowed=False))
        # Still serving, and every failure is in the audit log without the password.
        self.assertEqual(kcat(b.bootstrap, sasl_props("PLAIN", "admin", ADMIN_PASSWORD), "-L").returncode, 0)
        deadline = time.monotonic() + 10
        while True:
            failures = [e for e in self.audit_lines(b) if e["type"].endswith("/authentication")
                        and e["data"]["result"]["status"] != "SUCCESS"]
            if len(failures) >= 6 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        reasons = " | ".join(e["data"]["result"].get("message", "") for e in failures)
        for expected in ["wrong password", "unknown user", "not enabled", "without a SaslHandshake",
                         "Metadata request before authentication", "TLS handshake failed"]:
            self.assertIn(expected, reasons)
        with open(os.path.join(b.data_dir, "ferry-audit", "security-audit.log")) as f:
            text = f.read()
        self.assertNotIn("Wr0ng-guess-4711", text)
        self.assertNotIn(ADMIN_PASSWORD, text)

    def test_ten_thousand_failed_logins_leave_others_served_and_memory_bounded(self):
        b = self.sasl_broker(**{"connection.failed.authentication.delay.ms": 0})
        rss_before = b.rss_kib()
        stop = threading.Event()
        served = []

        def good_client():
            p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 0,
                          **sasl_props("SCRAM-SHA-512", "admin", ADMIN_PASSWORD)})
            while not stop.is_set():
                p.produce("flood-survivor", b"x", on_delivery=lambda err, m: served.append(err is None))
                p.flush(5)
                time.sleep(0.05)

        t = threading.Thread(target=good_client)
        t.start()
        try:
            for i in range(10_000):
                with kw.Connection("127.0.0.1", b.port) as conn:
                    sw.handshake(conn, "SCRAM-SHA-256")
                    c = sw.ScramClient("SCRAM-SHA-256", "mallory", "guess")
                    code, _, first, _ = sw.authenticate(conn, c.first())
                    self.assertEqual(code, 0)  # an unknown user gets a plausible challenge
                    nonce = first.decode().split(",")[0]
                    code, _, _, _ = sw.authenticate(conn, f"c=biws,{nonce},p=AAAA".encode())
                    self.assertEqual(code, sw.ERR_SASL_AUTHENTICATION_FAILED)
        finally:
            stop.set()
            t.join()
        self.assertTrue(served and all(served[-5:]), "the good client was not served during the flood")
        self.assertLess(b.rss_kib() - rss_before, 64 * 1024, "memory grew by more than 64 MiB")
        # Folded repeats are written when their window closes: wait for the count to settle.
        deadline = time.monotonic() + 15
        while True:
            failures = [e for e in self.audit_lines(b) if e["type"].endswith("/authentication")
                        and e["data"]["result"]["status"] != "SUCCESS"]
            counted = sum(e["data"]["repeats"]["count"] if "repeats" in e["data"] else 1 for e in failures)
            if counted >= 10_000 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        mallory = sum(e["data"]["repeats"]["count"] if "repeats" in e["data"] else 1 for e in failures
                      if "mallory" in e["data"]["result"].get("message", ""))
        self.assertEqual(mallory, 10_000, [e["data"]["result"] for e in failures if "mallory" not in str(e)][:5])
        self.assertLess(len(failures), 1000, "repeats were logged one by one")

    def test_a_denied_produce_and_a_failed_login_appear_once_and_the_chain_verifies(self):
        admin_cli = os.environ.get("FERRY_ADMIN")
        if not admin_cli:
            self.skipTest("FERRY_ADMIN not set (build ferry-admin)")
        b = self.sasl_broker()
        with self.admin_conn(b) as conn:
            sw.alter_scram(conn, upsertions=[("bob", "SCRAM-SHA-512", "bob-pw", 4096)])
        out = kcat(b.bootstrap, sasl_props("SCRAM-SHA-512", "admin", ADMIN_PASSWORD), "-P", "-t", "guarded",
                   stdin="by-admin\n")
        self.assertEqual(out.returncode, 0, out.stderr)
        with kw.Connection("127.0.0.1", b.port) as conn:  # bob, no ACL: one Produce, refused
            (code, _, _, _), _ = sw.scram_login(conn, "SCRAM-SHA-512", "bob", "bob-pw")
            self.assertEqual(code, 0)
            body = conn.request(kw.API_PRODUCE, 3, kw.produce_body("guarded", 0, kw.record_batch([(None, b"x")])))
            self.assertEqual(kw.parse_produce_response(body), {("guarded", 0): 29})
        with kw.Connection("127.0.0.1", b.port) as conn:  # one failed login
            (code, _, _, _), _ = sw.scram_login(conn, "SCRAM-SHA-512", "bob", "not-bobs")
            self.assertEqual(code, sw.ERR_SASL_AUTHENTICATION_FAILED)
        deadline = time.monotonic() + 10
        while True:
            lines = self.audit_lines(b)
            denied = [e for e in lines if e["type"].endswith("/authorization") and not e["data"]["authorizationInfo"]["granted"]
                      and e["data"]["authenticationInfo"]["principal"] == "User:bob"]
            failed = [e for e in lines if e["type"].endswith("/authentication")
                      and e["data"]["result"]["status"] == "FAILURE"]
            if (denied and failed) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual([(e["data"]["methodName"], e["data"]["authorizationInfo"]["operation"],
                           e["data"]["authorizationInfo"]["resourceName"]) for e in denied],
                         [("kafka.Produce", "Write", "guarded")])
        self.assertEqual(len(failed), 1, failed)
        log = os.path.join(b.data_dir, "ferry-audit", "security-audit.log")
        ok = subprocess.run([admin_cli, "audit", "verify", log], capture_output=True, text=True, timeout=TIMEOUT_S)
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        with open(log, "rb") as f:
            data = bytearray(f.read())
        at = data.index(b"kafka.Produce")
        data[at + 6] ^= 0x01  # one byte of the denied produce's line
        with open(log, "wb") as f:
            f.write(data)
        bad = subprocess.run([admin_cli, "audit", "verify", log], capture_output=True, text=True, timeout=TIMEOUT_S)
        self.assertEqual(bad.returncode, 1, bad.stdout + bad.stderr)
        line_no = data[:at].count(b"\n") + 1
        self.assertIn(f":{line_no}", bad.stdout + bad.stderr)

    def test_reauthentication_extends_the_session_and_an_expired_one_is_closed(self):
        b = self.sasl_broker(**{"listener.name.sasl_plaintext.connections.max.reauth.ms": 1500})
        with kw.Connection("127.0.0.1", b.port) as conn:
            (code, _, final, lifetime), client = sw.scram_login(conn, "SCRAM-SHA-512", "admin", ADMIN_PASSWORD)
            self.assertEqual((code, lifetime), (0, 1500))
            self.assertTrue(client.verify(final))
            conn.request(kw.API_METADATA, 1, kw.metadata_v1_body([]))
            time.sleep(1.0)
            (code, _, _, lifetime), _ = sw.scram_login(conn, "SCRAM-SHA-512", "admin", ADMIN_PASSWORD)
            self.assertEqual((code, lifetime), (0, 1500))
            time.sleep(1.0)  # past the first session's end, inside the second's
            conn.request(kw.API_METADATA, 1, kw.metadata_v1_body([]))
            time.sleep(2.0)  # past the second's end
            conn.send_raw(kw.frame(kw.request_header(kw.API_METADATA, 1, 99) + kw.metadata_v1_body([])))
            self.assertTrue(closed_by_peer(conn.sock, data_allowed=False))
        with self.admin_conn(b) as conn:  # a re-login may not change the principal
            sw.alter_scram(conn, upsertions=[("eve", "SCRAM-SHA-512", "eve-pw", 4096)])
            (code, _, _, _), _ = sw.scram_login(conn, "SCRAM-SHA-512", "eve", "eve-pw")
            self.assertEqual(code, sw.ERR_SASL_AUTHENTICATION_FAILED)
            self.assertTrue(closed_by_peer(conn.sock, data_allowed=False))


if __name__ == "__main__":
    unittest.main()
