"""Live fuzzing of the TLS and SASL states of a ferry-broker while a real client keeps using it.

Worker threads walk random paths through the states a connection can be in: garbage or a valid
request before the SASL handshake, a handshake with a random mechanism and version, random,
truncated or oversized tokens in SaslAuthenticate and as v0 raw frames, a correct SCRAM first
message followed by a random final one, and on the TLS port random bytes, a ClientHello cut off
mid-way, and random frames inside a good TLS session. Meanwhile a confluent-kafka producer logged
in with SCRAM-SHA-512 over SASL_SSL keeps writing. At the end every one of its records was
acknowledged, the broker is alive and its RSS bounded. The seed is printed; rerun with
FERRY_FUZZ_SEED=<seed>.
"""

import os
import random
import socket
import ssl
import struct
import tempfile
import threading
import time
import unittest

from confluent_kafka import Producer

import kafka_wire as kw
import sasl_wire as sw
from ferry_harness import Broker, BrokerTestCase, free_port, scram_specs
from fuzz_frames import FrameMaker
from security_pki import Pki

DURATION_S = 20
WORKERS = 3
RSS_GROWTH_LIMIT_KIB = 256 * 1024
PASSWORD = "fuzz-admin-pw"


def _recv_some(sock, timeout=2.0):
    sock.settimeout(timeout)
    try:
        return sock.recv(65536)
    except (socket.timeout, OSError):
        return b""


class SecurityFuzzTest(BrokerTestCase):
    def test_random_paths_through_tls_and_sasl_states(self):
        seed = int(os.environ.get("FERRY_FUZZ_SEED", random.randrange(1 << 30)))
        print(f"\nFERRY_FUZZ_SEED={seed}", flush=True)
        tmp = tempfile.TemporaryDirectory(prefix="ferry-fuzz-sec-")
        self.addCleanup(tmp.cleanup)
        pki = Pki(os.path.join(tmp.name, "ca"))
        server = pki.server()
        sasl_port, tls_port, ssl_port = free_port(), free_port(), free_port()
        b = Broker(config={
            "listeners": f"SASL_PLAINTEXT://127.0.0.1:{sasl_port},SASL_SSL://127.0.0.1:{tls_port},"
                         f"SSL://127.0.0.1:{ssl_port}",
            "ssl.keystore.location": server.keystore,
            "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
            "super.users": "User:admin",
            "connection.failed.authentication.delay.ms": 0,
            "connections.max.idle.ms": 3000,
        }, start=False)
        self.addCleanup(b.close)
        b.port = sasl_port
        b.add_scram(*scram_specs({"admin": PASSWORD}))
        b.start()
        rss_before = b.rss_kib()

        client_ctx = ssl.create_default_context(cafile=pki.ca_cert)
        client_ctx.check_hostname = False
        stop = threading.Event()
        counts = {"paths": 0}
        lock = threading.Lock()

        def sasl_path(rng):
            maker = FrameMaker(rng, 1 << 20, "fuzz-sec")
            with kw.Connection("127.0.0.1", sasl_port, timeout=3) as c:
                step = rng.randrange(7)
                try:
                    if step == 0:  # the live fuzzer's hostile frames, before any login
                        c.send_raw(maker.hostile()[1])
                        _recv_some(c.sock, 0.5)
                    elif step == 1:  # a random mechanism, either version
                        sw.handshake(c, rng.choice(["PLAIN", "SCRAM-SHA-512", "GSSAPI", "", "x" * 300]),
                                     rng.choice([0, 1]))
                    elif step == 2:  # random tokens after a good handshake
                        sw.handshake(c, rng.choice(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]))
                        for _ in range(rng.randrange(1, 4)):
                            sw.authenticate(c, os.urandom(rng.randrange(0, 400)), rng.choice([0, 1]))
                    elif step == 3:  # v0 raw frames of random size
                        sw.handshake(c, "SCRAM-SHA-512", 0)
                        c.send_raw(struct.pack(">i", rng.choice([0, 5, 1 << 20, -1])) + os.urandom(rng.randrange(64)))
                    elif step == 4:  # a good first message, a random final one
                        sw.handshake(c, "SCRAM-SHA-512")
                        client = sw.ScramClient("SCRAM-SHA-512", rng.choice(["admin", "nobody"]), "x")
                        code, _, first, _ = sw.authenticate(c, client.first())
                        if code == 0:
                            sw.authenticate(c, rng.choice([os.urandom(80), first, b"c=biws,r=x,p=AAAA"]))
                    elif step == 5:  # any request before authentication
                        c.send_raw(kw.frame(kw.request_header(rng.randrange(0, 70), rng.randrange(0, 13), 1)
                                            + os.urandom(rng.randrange(32))))
                    else:  # SaslAuthenticate before the handshake, then more
                        sw.authenticate(c, os.urandom(32))
                        sw.handshake(c, "PLAIN")
                except (ConnectionError, OSError, ValueError, AssertionError, struct.error):
                    pass  # closed by the broker: one of the answers the issue allows

        def tls_path(rng):
            port = rng.choice([tls_port, ssl_port])
            raw = socket.create_connection(("127.0.0.1", port), timeout=3)
            try:
                step = rng.randrange(3)
                if step == 0:  # random bytes where a ClientHello belongs
                    raw.sendall(os.urandom(rng.randrange(1, 600)))
                    _recv_some(raw, 1)
                elif step == 1:  # a ClientHello cut off mid-way
                    raw.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(rng.randrange(40)))
                else:  # a good TLS session, then random frames inside it
                    with client_ctx.wrap_socket(raw) as s:
                        for _ in range(rng.randrange(1, 4)):
                            s.sendall(struct.pack(">i", rng.randrange(1, 300)) + os.urandom(rng.randrange(300)))
                        _recv_some(s, 1)
                        return
            except (OSError, ssl.SSLError):
                pass
            finally:
                raw.close()

        def worker(n):
            rng = random.Random(seed + n)
            while not stop.is_set():
                (sasl_path if rng.random() < 0.6 else tls_path)(rng)
                with lock:
                    counts["paths"] += 1

        acked, failed = [], []
        producer = Producer({"bootstrap.servers": f"127.0.0.1:{tls_port}", "security.protocol": "sasl_ssl",
                             "ssl.ca.location": pki.ca_cert, "sasl.mechanism": "SCRAM-SHA-512",
                             "sasl.username": "admin", "sasl.password": PASSWORD, "linger.ms": 5})
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(WORKERS)]
        for t in threads:
            t.start()
        sent = 0
        deadline = time.monotonic() + DURATION_S
        try:
            while time.monotonic() < deadline:
                producer.produce("fuzz-survivor", f"r{sent}".encode(),
                                 on_delivery=lambda err, m: (failed if err else acked).append(err))
                sent += 1
                producer.poll(0.02)
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertEqual(producer.flush(30), 0)
        self.assertEqual((len(acked), failed), (sent, []), f"seed {seed}")
        self.assertGreater(counts["paths"], 100, f"seed {seed}: the fuzzer barely ran")
        self.assertTrue(b.running, f"seed {seed}: the broker died:\n{b.log_tail()}")
        self.assertLess(b.rss_kib() - rss_before, RSS_GROWTH_LIMIT_KIB, f"seed {seed}")
        print(f"{counts['paths']} fuzz paths, {sent} records acknowledged", flush=True)


if __name__ == "__main__":
    unittest.main()
