"""TLS listeners with unmodified clients: kcat, confluent-kafka and kafka-python over SSL; mTLS with
required client certificates (one from another CA and an expired one refused); the wrong protocol
on each port; a handshake that never finishes; certificates reloaded on SIGHUP and through
AlterConfigs (KIP-226) while open connections keep working. Certificates are made with the openssl
CLI at test time (security_pki.py).
"""

import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import time
import unittest

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, ConfigResource

from ferry_harness import Broker, closed_by_peer, first_value, free_port, kcat
from kafka_wire import frame, parse_produce_response, produce_body, record_batch, request_header, split_frames
from security_pki import Pki, PkiTestCase, read_text

TIMEOUT_S = 20


def ssl_props(pki, leaf=None):
    props = {"security.protocol": "ssl", "ssl.ca.location": pki.ca_cert}
    if leaf is not None:
        props.update({"ssl.certificate.location": leaf.cert, "ssl.key.location": leaf.key})
    return props


def produce_one(bootstrap, props, topic, value):
    """Produces one record with confluent-kafka; returns the delivery error or None."""
    p = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 8000, **props})
    result = []
    p.produce(topic, value, on_delivery=lambda err, msg: result.append(err))
    p.flush(TIMEOUT_S)
    return result[0] if result else "no delivery report"


def served_certificate(port, ca):
    """The DER certificate a new TLS connection to the port is shown."""
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw) as s:
            return s.getpeercert(binary_form=True)


def der(leaf):
    return ssl.PEM_cert_to_DER_cert(read_text(leaf.cert))


class TlsTest(PkiTestCase):
    PKI_PREFIX = "ferry-tls-"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.other_ca = Pki(os.path.join(cls.dir.name, "other"), name="Other CA")

    def tls_broker(self, **extra):
        tls_port, plain_port = free_port(), free_port()
        config = {
            "listeners": f"SSL://127.0.0.1:{tls_port},PLAINTEXT://127.0.0.1:{plain_port}",
            "ssl.keystore.location": self.server.keystore,
            # Transport is what these tests are about; ACLs (the default with TLS) get their own tests,
            # except where a test names a principal through its certificate.
            "authorizer": "allow-all",
        }
        config.update(extra)
        b = Broker(config=config, start=False)
        b.port = tls_port  # the harness waits for this port
        b.plain_port = plain_port
        b.start()
        return b

    def test_every_client_library_produces_and_consumes_over_ssl(self):
        b = self.tls_broker()
        self.addCleanup(b.close)
        props = ssl_props(self.pki)
        out = kcat(b.bootstrap, props, "-P", "-t", "tls-kcat", stdin="over-tls\n")
        self.assertEqual(out.returncode, 0, out.stderr)
        out = kcat(b.bootstrap, props, "-C", "-t", "tls-kcat", "-o", "beginning", "-e", "-q")
        self.assertEqual(out.stdout.strip(), "over-tls", out.stderr)

        self.assertIsNone(produce_one(b.bootstrap, props, "tls-confluent", b"v1"))
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "g-tls", "auto.offset.reset": "earliest", **props})
        c.subscribe(["tls-confluent"])
        got = first_value(c, TIMEOUT_S)
        c.close()
        self.assertEqual(got, b"v1")

        import kafka
        kp = kafka.KafkaProducer(bootstrap_servers=b.bootstrap, security_protocol="SSL", ssl_cafile=self.pki.ca_cert,
                                 ssl_check_hostname=False)
        kp.send("tls-kafka-python", b"kp").get(timeout=TIMEOUT_S)
        kp.close()
        kc = kafka.KafkaConsumer("tls-kafka-python", bootstrap_servers=b.bootstrap, security_protocol="SSL",
                                 ssl_cafile=self.pki.ca_cert, ssl_check_hostname=False,
                                 auto_offset_reset="earliest", consumer_timeout_ms=8000)
        self.assertEqual([m.value for m in kc], [b"kp"])
        kc.close()

    def test_the_wrong_protocol_on_each_port_is_closed_and_others_are_served(self):
        b = self.tls_broker()
        self.addCleanup(b.close)
        # A plaintext ApiVersions request on the TLS port: the handshake fails, the connection closes.
        api_versions = struct.pack(">hhih", 18, 0, 1, 4) + b"test"
        with socket.create_connection(("127.0.0.1", b.port), timeout=5) as s:
            s.sendall(struct.pack(">i", len(api_versions)) + api_versions)
            self.assertTrue(closed_by_peer(s, 10))
        # A TLS ClientHello on the plaintext port: its first bytes read as an absurd frame size.
        ctx = ssl.create_default_context(cafile=self.pki.ca_cert)
        with socket.create_connection(("127.0.0.1", b.plain_port), timeout=5) as raw:
            with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
                ctx.wrap_socket(raw, server_hostname="localhost")
        out = kcat(b.bootstrap, ssl_props(self.pki), "-L")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("TLS handshake failed", b.log_text())

    def test_every_pipelined_response_arrives_over_tls(self):
        # A handler that finished while the connection's writer was suspended in a TLS flush had its
        # wake-up lost: the responses behind it waited for the next request, and a client with
        # nothing more to send (librdkafka at the end of a burst) timed the request out after 30 s.
        # acks=all produces finish asynchronously, after the log is flushed, so a pipelined burst of
        # them lands completions inside flushes.
        b = self.tls_broker()
        self.addCleanup(b.close)
        self.assertIsNone(produce_one(b.bootstrap, ssl_props(self.pki), "tls-pipelined", b"first"))
        batch = record_batch([(None, b"v" * 1000)] * 50)
        ctx = ssl.create_default_context(cafile=self.pki.ca_cert)
        n = 100
        for r in range(40):  # a round stalled ~8% of the time before the fix; 40 catch it ~96%
            with socket.create_connection(("127.0.0.1", b.port), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    s.sendall(b"".join(frame(request_header(0, 3, i) + produce_body("tls-pipelined", 0, batch))
                                       for i in range(n)))
                    responses, stream = [], b""
                    deadline = time.monotonic() + 15
                    while len(responses) < n and time.monotonic() < deadline:
                        try:
                            chunk = s.recv(1 << 16)
                        except socket.timeout:
                            continue
                        self.assertTrue(chunk, f"round {r}: the broker closed after {len(responses)} responses")
                        got, stream = split_frames(stream + chunk)
                        responses += got
            self.assertEqual(len(responses), n, f"round {r}: {len(responses)} of {n} pipelined responses in 15 s")
            for i, body in enumerate(responses):
                self.assertEqual(struct.unpack(">i", body[:4])[0], i, f"round {r}: responses out of order")
                self.assertEqual(parse_produce_response(body[4:]), {("tls-pipelined", 0): 0})

    def test_a_handshake_that_never_finishes_is_closed_after_the_idle_limit(self):
        b = self.tls_broker(**{"connections.max.idle.ms": 1000})
        self.addCleanup(b.close)
        with socket.create_connection(("127.0.0.1", b.port), timeout=5) as s:
            self.assertTrue(closed_by_peer(s, 30), "a silent connection stayed open past the idle limit")
        self.assertIsNone(produce_one(b.bootstrap, ssl_props(self.pki), "still-served", b"x"))

    def test_required_client_certificates_and_their_principals(self):
        b = self.tls_broker(**{"ssl.client.auth": "required", "ssl.truststore.location": self.pki.ca_cert,
                               "authorizer": "acl", "super.users": "User:APP",
                               "ssl.principal.mapping.rules": "RULE:^CN=([^,]*),OU=eng,.*$/$1/U,DEFAULT"})
        self.addCleanup(b.close)
        good = self.pki.client("app", "app", ou="eng")
        self.assertIsNone(produce_one(b.bootstrap, ssl_props(self.pki, good), "mtls", b"ok"))
        # The same CN outside OU=eng falls to DEFAULT: its principal is the whole subject, no super user.
        other = self.pki.client("app-ops", "app", ou="ops")
        err = produce_one(b.bootstrap, ssl_props(self.pki, other), "mtls", b"no")
        self.assertIn("TOPIC_AUTHORIZATION_FAILED", str(err))
        for name, leaf in [("no certificate", None),
                           ("another CA", self.other_ca.client("stranger", "stranger")),
                           ("expired", self.pki.client("old", "old", expired=True))]:
            with self.subTest(name):
                out = kcat(b.bootstrap, {**ssl_props(self.pki, leaf), "socket.timeout.ms": 3000,
                                         "metadata.request.timeout.ms": 3000}, "-L", "-m", "3")
                self.assertNotEqual(out.returncode, 0, f"{name}: metadata was served: {out.stdout}")
        self.assertIsNone(produce_one(b.bootstrap, ssl_props(self.pki, good), "mtls", b"still"))

    def test_sighup_reloads_the_keystore_and_open_connections_keep_working(self):
        path = os.path.join(self.dir.name, "rotating.pem")
        first, second = self.pki.server("first"), self.pki.server("second")
        with open(path, "w") as f:
            f.write(read_text(first.keystore))
        b = self.tls_broker(**{"ssl.keystore.location": path})
        self.addCleanup(b.close)
        self.assertEqual(served_certificate(b.port, self.pki.ca_cert), der(first))
        p = Producer({"bootstrap.servers": b.bootstrap, **ssl_props(self.pki)})
        p.produce("rotate", b"before")
        self.assertEqual(p.flush(TIMEOUT_S), 0)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(read_text(second.keystore))
        os.replace(tmp, path)
        os.kill(b.pid, signal.SIGHUP)
        deadline = time.monotonic() + TIMEOUT_S
        while served_certificate(b.port, self.pki.ca_cert) != der(second):
            self.assertLess(time.monotonic(), deadline, "the new certificate was never served")
            time.sleep(0.1)
        p.produce("rotate", b"after")  # the connection opened before the reload
        self.assertEqual(p.flush(TIMEOUT_S), 0)
        self.assertIn("reloaded the certificates of 1 TLS listener", b.log_text())

    def test_alter_configs_switches_the_keystore_and_refuses_a_bad_one(self):
        b = self.tls_broker()
        self.addCleanup(b.close)
        fresh = self.pki.server("fresh")
        admin = AdminClient({"bootstrap.servers": b.bootstrap, **ssl_props(self.pki)})

        def alter(value):
            r = ConfigResource(ConfigResource.Type.BROKER, "1", set_config={"ssl.keystore.location": value})
            admin.alter_configs([r])[r].result(TIMEOUT_S)

        with self.assertRaises(KafkaException) as bad:
            alter("/nonexistent/keystore.pem")
        self.assertIn("INVALID_CONFIG", str(bad.exception))
        self.assertEqual(served_certificate(b.port, self.pki.ca_cert), der(self.server))
        alter(fresh.keystore)
        self.assertEqual(served_certificate(b.port, self.pki.ca_cert), der(fresh))
        # Stored: a restart keeps serving the certificate set at run time.
        b.restart()
        self.assertEqual(served_certificate(b.port, self.pki.ca_cert), der(fresh))
        # The key's password is never described.
        enc = self.pki.server("enc", key_password="s3cret")
        b2 = self.tls_broker(**{"ssl.keystore.location": enc.keystore, "ssl.key.password": "s3cret"})
        self.addCleanup(b2.close)
        a2 = AdminClient({"bootstrap.servers": b2.bootstrap, **ssl_props(self.pki)})
        r = ConfigResource(ConfigResource.Type.BROKER, "1")
        entry = a2.describe_configs([r])[r].result(TIMEOUT_S)["ssl.key.password"]
        self.assertTrue(entry.is_sensitive)
        self.assertIsNone(entry.value)

    def test_a_keystore_that_cannot_serve_stops_startup_with_exit_2(self):
        enc = self.pki.server("pw", key_password="right")
        for name, extra, expect in [
            ("no keystore", "", "ssl.keystore.location"),
            ("wrong key password", f'"ssl.keystore.location" = "{enc.keystore}"\n"ssl.key.password" = "wrong"\n',
             "ssl.key.password"),
        ]:
            with self.subTest(name):
                cfg = os.path.join(self.dir.name, "bad.toml")
                with open(cfg, "w") as f:
                    f.write(f'listeners = "SSL://127.0.0.1:{free_port()}"\n"log.dirs" = "{self.dir.name}/bad-data"\n'
                            + extra)
                p = subprocess.run([os.environ.get("FERRY_BROKER", "ferry-broker"), "--config", cfg],
                                   capture_output=True, text=True, timeout=TIMEOUT_S)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn(expect, p.stdout + p.stderr)
                self.assertNotIn("right", p.stdout + p.stderr)  # no password echoed

    def test_a_peer_hanging_up_mid_handshake_is_a_disconnect_not_a_failed_login(self):
        # Reachability probes (connect, close) and clients destroyed while connecting must not fill
        # the audit log with failed logins (Kafka: EOF during the handshake is a disconnect); a
        # handshake the peer breaks with bytes that are not TLS still is one.
        b = self.tls_broker()
        self.addCleanup(b.close)
        for _ in range(5):
            socket.create_connection(("127.0.0.1", b.port), timeout=5).close()
        with socket.create_connection(("127.0.0.1", b.port), timeout=5) as raw:  # a ClientHello, then gone
            outgoing = ssl.MemoryBIO()
            tls = ssl.create_default_context(cafile=self.pki.ca_cert).wrap_bio(
                ssl.MemoryBIO(), outgoing, server_hostname="localhost")
            with self.assertRaises(ssl.SSLWantReadError):
                tls.do_handshake()
            raw.sendall(outgoing.read())
            time.sleep(0.2)  # the broker answers the ClientHello; the client never reads it
        api_versions = struct.pack(">hhih", 18, 0, 1, 4) + b"test"
        with socket.create_connection(("127.0.0.1", b.port), timeout=5) as s:
            s.sendall(struct.pack(">i", len(api_versions)) + api_versions)
            self.assertTrue(closed_by_peer(s, 10))
        path = os.path.join(b.data_dir, "ferry-audit", "security-audit.log")
        deadline, failures = time.monotonic() + 10, []
        while time.monotonic() < deadline:
            if os.path.exists(path):
                with open(path) as f:
                    failures = [json.loads(line)["data"]["result"]["message"] for line in f
                                if '"kafka.Authentication"' in line and '"FAILURE"' in line]
                if failures:
                    break
            time.sleep(0.1)
        self.assertEqual(len(failures), 1, failures)
        self.assertIn("TLS handshake failed", failures[0])
        self.assertNotIn("truncated", failures[0])

if __name__ == "__main__":
    unittest.main()
