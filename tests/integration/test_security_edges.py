"""Security edges with real processes: SIGKILL at random instants during SCRAM credential and ACL
writes (every acknowledged write survives, nothing is half-applied, the metadata always loads); a
SASL listener with an empty credential store (logins refused with 58 and audited, other listeners
served, a user added at run time logs in at once); KIP-368 re-authentication with produce requests
in flight, a client that never re-authenticates (librdkafka 2.0.2) losing nothing, and a password
changed mid-session; SIGHUP certificate reloads during a storm of TLS handshakes, with handshakes
and request frames stalled half way closed after connections.max.idle.ms and no socket leaked; a
client that pipelines Fetches and never reads the responses closed after the same limit.

Kill and reload timings are random from one seed, printed; FERRY_EDGES_SEED=<n> repeats a run.
"""

import collections
import os
import random
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import unittest

from confluent_kafka import Producer

import kafka_wire as kw
import sasl_wire as sw
from ferry_harness import Broker, BrokerTestCase, free_port
from security_edges_wire import (ALLOW, LITERAL, TOPIC, WRITE, closed_by_peer, create_acls, describe_all_acls,
                                 half_client_hello, partial_request, plain_login, scram_ok)
from security_pki import Pki, read_text

SEED = int(os.environ.get("FERRY_EDGES_SEED", random.randrange(1 << 32)))
print(f"test_security_edges seed {SEED} (FERRY_EDGES_SEED={SEED} repeats this run)", flush=True)
TIMEOUT_S = 20
ADMIN_PW = "edges-admin-pw"
USERS = ["ann", "ben", "cid"]  # altered together in every AlterUserScramCredentials request


def kcat(bootstrap, props, *args, stdin=None):
    cmd = ["kcat", "-b", bootstrap]
    for k, v in props.items():
        cmd += ["-X", f"{k}={v}"]
    return subprocess.run(cmd + list(args), input=stdin, capture_output=True, text=True, timeout=TIMEOUT_S)


def sasl(mechanism, user, password):
    return {"security.protocol": "sasl_plaintext", "sasl.mechanism": mechanism, "sasl.username": user,
            "sasl.password": password}


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class SecurityEdgesTest(BrokerTestCase):
    def two_listener_broker(self, extra=None, admin=False):
        """SASL_PLAINTEXT on b.sasl_port and PLAINTEXT on b.port, where User:ANONYMOUS is a super
        user; with `admin`, user admin (SCRAM-SHA-512, super user) is stored with --add-scram."""
        b = Broker({"listeners": f"SASL_PLAINTEXT://127.0.0.1:{free_port()},PLAINTEXT://127.0.0.1:{free_port()}",
                    "super.users": "User:ANONYMOUS;User:admin",
                    "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512", **(extra or {})}, start=False)
        self.addCleanup(b.close)
        self.__dict__.setdefault("_processes", []).append(b)
        sasl_l, plain_l = b.config["listeners"].split(",")
        b.sasl_port, b.port = int(sasl_l.rsplit(":", 1)[1]), int(plain_l.rsplit(":", 1)[1])
        if admin:
            out = subprocess.run([b.binary, "--config", b.config_path, "--add-scram",
                                  f"SCRAM-SHA-512=[name=admin,password={ADMIN_PW}]"],
                                 capture_output=True, text=True, timeout=TIMEOUT_S)
            self.assertEqual(out.returncode, 0, out.stderr)
        b.start()
        return b

    # --- 1 ----------------------------------------------------------------------------------------
    def test_sigkill_during_credential_and_acl_writes_keeps_every_acknowledged_one(self):
        rng = random.Random(SEED)
        b = self.two_listener_broker()
        acked_gen, acked_acls = None, set()
        for rnd in range(7):
            state = {"acked": acked_gen, "inflight": None, "acls": set(), "acl_inflight": set(), "error": None}

            def writes(step):
                """Runs `step(conn, seq)` back to back on one PLAINTEXT connection until the broker dies."""
                try:
                    conn = kw.Connection("127.0.0.1", b.port, timeout=5)
                except OSError:
                    return
                try:
                    for seq in range(1_000_000):
                        if not step(conn, rnd * 1_000_000 + seq):
                            return
                except (OSError, ConnectionError, struct.error):
                    pass  # the broker died under us: what was acknowledged so far is what counts
                finally:
                    conn.close()

            def credentials(conn, gen):
                state["inflight"] = gen
                res = sw.alter_scram(conn, upsertions=[(u, "SCRAM-SHA-256", f"pw-{gen}", 4096) for u in USERS])
                if res != {u: (0, None) for u in USERS}:
                    state["error"] = f"AlterUserScramCredentials answered {res}"
                    return False
                state["acked"] = gen
                return True

            def acls(conn, gen):
                bindings = [(TOPIC, f"t-{gen}-{i}", LITERAL, f"User:{u}", "*", WRITE, ALLOW) for i, u in enumerate(USERS)]
                state["acl_inflight"] = set(bindings)
                codes = create_acls(conn, bindings)
                if codes != [0] * len(bindings):
                    state["error"] = f"CreateAcls answered {codes}"
                    return False
                state["acls"].update(bindings)
                return True

            if rnd == 0:
                # The very first instant: SIGKILL while the process may still be loading its metadata.
                b.kill()
                b._spawn(["--config", b.config_path])
                time.sleep(rng.uniform(0, 0.02))
                b.kill()
                b.start()
            threads = [threading.Thread(target=writes, args=(f,)) for f in (credentials, acls)]
            for t in threads:
                t.start()
            time.sleep(rng.choice([0, rng.uniform(0, 0.05), rng.uniform(0.05, 1.2)]))
            b.kill()
            for t in threads:
                t.join(TIMEOUT_S)
            self.assertIsNone(state["error"])
            b.start()  # a corrupt or half-written metadata file would stop the broker here

            acked_gen, acked_acls = state["acked"], acked_acls | state["acls"]
            possible = [g for g in (state["acked"], state["inflight"]) if g is not None]
            with self.subTest(round=rnd, acked=state["acked"], inflight=state["inflight"]):
                if possible:
                    gens = set()
                    for u in USERS:
                        hit = [g for g in possible if scram_ok(b.sasl_port, "SCRAM-SHA-256", u, f"pw-{g}")]
                        if state["acked"] is not None:
                            self.assertTrue(hit, f"{u} logs in with neither the acknowledged nor the in-flight password")
                        gens.add(hit[0] if hit else None)  # None: no credential yet (nothing acknowledged)
                    self.assertEqual(len(gens), 1, f"one AlterUserScramCredentials request was half-applied: {gens}")
                    # What the store holds is the next round's baseline (an unacknowledged write may have landed).
                    acked_gen = gens.pop() if None not in gens else acked_gen
                with kw.Connection("127.0.0.1", b.port) as conn:
                    code, listed = describe_all_acls(conn)
                self.assertEqual(code, 0)
                self.assertEqual(acked_acls - listed, set(), "acknowledged ACLs lost")
                extra = listed - acked_acls
                self.assertLessEqual(extra, state["acl_inflight"], "ACLs nobody created")
                acked_acls |= extra
            print(f"round {rnd}: {len(state['acls'])} ACLs and credential generation {state['acked']} "
                  f"acknowledged before SIGKILL", flush=True)

    # --- 2 ----------------------------------------------------------------------------------------
    def test_an_empty_credential_store_refuses_logins_until_a_user_is_added_at_run_time(self):
        b = self.two_listener_broker()
        with kw.Connection("127.0.0.1", b.sasl_port) as conn:
            (code, _, _, _), _ = sw.scram_login(conn, "SCRAM-SHA-512", "alice", "alice-pw")
            self.assertEqual(code, sw.ERR_SASL_AUTHENTICATION_FAILED)
            self.assertTrue(closed_by_peer(conn.sock, 10))
        with kw.Connection("127.0.0.1", b.sasl_port) as conn:
            self.assertEqual(plain_login(conn, "alice", "alice-pw"), sw.ERR_SASL_AUTHENTICATION_FAILED)
        out = kcat(f"127.0.0.1:{b.sasl_port}", {**sasl("SCRAM-SHA-512", "alice", "alice-pw"),
                                                "socket.timeout.ms": 3000}, "-L", "-m", "3")
        self.assertNotEqual(out.returncode, 0, "kcat listed metadata without a credential")
        # The PLAINTEXT listener serves throughout.
        out = kcat(b.bootstrap, {}, "-P", "-t", "plain-side", stdin="served\n")
        self.assertEqual(out.returncode, 0, out.stderr)
        # A super user on the other listener adds alice; no restart.
        with kw.Connection("127.0.0.1", b.port) as conn:
            self.assertEqual(sw.alter_scram(conn, upsertions=[("alice", "SCRAM-SHA-512", "alice-pw", 4096)]),
                             {"alice": (0, None)})
        self.assertTrue(scram_ok(b.sasl_port, "SCRAM-SHA-512", "alice", "alice-pw"))
        self.assertFalse(scram_ok(b.sasl_port, "SCRAM-SHA-512", "alice", "not-alices"))
        with kw.Connection("127.0.0.1", b.sasl_port) as conn:
            self.assertEqual(plain_login(conn, "alice", "alice-pw"), 0)
        out = kcat(f"127.0.0.1:{b.sasl_port}", sasl("SCRAM-SHA-512", "alice", "alice-pw"), "-L")
        self.assertEqual(out.returncode, 0, out.stderr)
        audit = os.path.join(b.data_dir, "ferry-audit", "security-audit.log")
        deadline = time.monotonic() + 10
        while True:
            text = read_text(audit) if os.path.exists(audit) else ""
            fails = [ln for ln in text.splitlines() if '"FAILURE"' in ln and "alice" in ln]
            if (len(fails) >= 2 and '"SUCCESS"' in text) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertGreaterEqual(len(fails), 2, "the refused logins of the empty store were not audited")
        self.assertNotIn("alice-pw", text)

    # --- 3 ----------------------------------------------------------------------------------------
    def test_reauthentication_with_produces_in_flight_loses_nothing(self):
        rng = random.Random(SEED + 3)
        b = self.two_listener_broker({"connections.max.reauth.ms": 2000}, admin=True)
        sasl_bs = f"127.0.0.1:{b.sasl_port}"
        self.assertEqual(kcat(b.bootstrap, {}, "-P", "-t", "reauth", stdin="first\n").returncode, 0)
        conn = kw.Connection("127.0.0.1", b.sasl_port)
        self.addCleanup(conn.close)
        (code, _, _, lifetime), _ = sw.scram_login(conn, "SCRAM-SHA-512", "admin", ADMIN_PW)
        self.assertEqual((code, lifetime), (0, 2000))
        pending = collections.deque()  # (correlation id, kind) in send order
        acked, reauths, sent = 0, 0, 0

        def send(api, version, body, kind):
            cid = conn.next_id
            conn.next_id += 1
            conn.send_raw(kw.frame(kw.request_header(api, version, cid) + body))
            pending.append((cid, kind))

        def receive():
            """Next response in order; a produce answer is counted, a SASL one returned."""
            nonlocal acked
            frame = conn.recv_frame()
            cid, kind = pending.popleft()
            self.assertEqual(struct.unpack_from(">i", frame)[0], cid)
            if kind == "produce":
                self.assertEqual(set(kw.parse_produce_response(frame[4:]).values()), {0})
                acked += 1
                return None
            return frame[4:]

        logged_in = time.monotonic()
        next_reauth = logged_in + rng.uniform(0.6, 1.6)
        end = time.monotonic() + 7
        while time.monotonic() < end:
            while len(pending) < 16:
                send(kw.API_PRODUCE, 3, kw.produce_body("reauth", 0, kw.record_batch([(None, f"r{sent}".encode())])),
                     "produce")
                sent += 1
            receive()
            if time.monotonic() >= next_reauth:
                # KIP-368: the client re-authenticates behind its in-flight requests (the broker answers in order).
                send(sw.API_SASL_HANDSHAKE, 1, kw.string("SCRAM-SHA-512"), "sasl")
                while (hs := receive()) is None:
                    pass
                self.assertEqual(kw.Reader(hs).i16(), 0)
                client = sw.ScramClient("SCRAM-SHA-512", "admin", ADMIN_PW)
                first = sw.authenticate(conn, client.first())
                self.assertEqual(first[0], 0)
                code, _, final, lifetime = sw.authenticate(conn, client.final(first[2]))
                self.assertEqual((code, lifetime), (0, 2000))
                self.assertTrue(client.verify(final))
                reauths += 1
                next_reauth = time.monotonic() + rng.uniform(1.0, 1.7)  # Kafka's floor: 1 s between re-logins
        while pending:
            receive()
        self.assertGreaterEqual(reauths, 3)
        print(f"re-authenticated {reauths} times with up to 16 produces in flight; {acked} acknowledged", flush=True)
        out = kcat(b.bootstrap, {}, "-C", "-t", "reauth", "-o", "beginning", "-e", "-q")
        self.assertEqual(out.stdout.split(), ["first"] + [f"r{i}" for i in range(acked)], out.stderr)

        # librdkafka 2.0.2 does not re-authenticate: the broker closes its connection at its first
        # request after each expiry; an idempotent producer must still lose and duplicate nothing.
        errors, delivered = [], []
        p = Producer({"bootstrap.servers": sasl_bs, "enable.idempotence": True, "linger.ms": 5,
                      **sasl("SCRAM-SHA-512", "admin", ADMIN_PW)})
        end = time.monotonic() + 6.5
        i = 0
        while time.monotonic() < end:
            p.produce("reauth-rdkafka", f"k{i}".encode(),
                      on_delivery=lambda err, m: (errors if err else delivered).append(err or m.value()))
            i += 1
            if i % 200 == 0:
                p.poll(0)
                time.sleep(0.005)
        self.assertEqual(p.flush(TIMEOUT_S), 0)
        self.assertEqual(errors, [])
        self.assertEqual(len(delivered), i)
        out = kcat(b.bootstrap, {}, "-C", "-t", "reauth-rdkafka", "-o", "beginning", "-e", "-q")
        self.assertEqual(out.stdout.split(), [f"k{n}" for n in range(i)])
        self.assertGreaterEqual(b.log_text().count("SASL session expired"), 2,
                                "the non-re-authenticating client was never closed at expiry")

    def test_a_password_changed_mid_session_fails_the_next_reauthentication(self):
        b = self.two_listener_broker({"connections.max.reauth.ms": 3000}, admin=True)
        with kw.Connection("127.0.0.1", b.port) as admin:
            sw.alter_scram(admin, upsertions=[("bob", "SCRAM-SHA-512", "old-pw", 4096)])
            old, new = kw.Connection("127.0.0.1", b.sasl_port), kw.Connection("127.0.0.1", b.sasl_port)
            self.addCleanup(old.close)
            self.addCleanup(new.close)
            for conn in (old, new):
                self.assertEqual(sw.scram_login(conn, "SCRAM-SHA-512", "bob", "old-pw")[0][0], 0)
            self.assertEqual(sw.alter_scram(admin, upsertions=[("bob", "SCRAM-SHA-512", "new-pw", 4096)]),
                             {"bob": (0, None)})
        # The session keeps its login until it ends or re-authenticates.
        kw.Reader(old.request(kw.API_METADATA, 1, kw.metadata_v1_body([])))
        (code, _, _, _), _ = sw.scram_login(old, "SCRAM-SHA-512", "bob", "old-pw")
        self.assertEqual(code, sw.ERR_SASL_AUTHENTICATION_FAILED)
        self.assertTrue(closed_by_peer(old.sock, 10))
        (code, _, _, lifetime), _ = sw.scram_login(new, "SCRAM-SHA-512", "bob", "new-pw")
        self.assertEqual((code, lifetime), (0, 3000))
        new.request(kw.API_METADATA, 1, kw.metadata_v1_body([]))

    # --- 4 ----------------------------------------------------------------------------------------
    def test_sighup_storm_during_tls_handshakes_and_stalled_connections(self):
        rng = random.Random(SEED + 4)
        with tempfile.TemporaryDirectory(prefix="ferry-edges-") as d:
            pki = Pki(os.path.join(d, "ca"))
            certs = [pki.server("first"), pki.server("second")]
            ders = [ssl.PEM_cert_to_DER_cert(read_text(c.cert)) for c in certs]
            path = os.path.join(d, "keystore.pem")
            with open(path, "w") as f:
                f.write(read_text(certs[0].keystore))
            tls_port = free_port()
            b = self.start_broker({"ssl.keystore.location": path, "authorizer": "allow-all",
                                   "connections.max.idle.ms": 2000}, start=False)
            b.config["listeners"] += f",SSL://127.0.0.1:{tls_port}"
            b.write_config()
            b.start()
            ctx = ssl.create_default_context(cafile=pki.ca_cert)
            ctx.check_hostname = False

            def handshake_and_ask():
                with socket.create_connection(("127.0.0.1", tls_port), timeout=10) as raw:
                    with ctx.wrap_socket(raw) as s:
                        s.sendall(kw.frame(kw.request_header(kw.API_API_VERSIONS, 0, 7)))
                        head = b""
                        while len(head) < 4:
                            chunk = s.recv(4 - len(head))
                            self.assertTrue(chunk, "closed before answering ApiVersions")
                            head += chunk
                        size = struct.unpack(">i", head)[0]
                        self.assertGreater(size, 4)
                        return s.getpeercert(binary_form=True)

            handshake_and_ask()
            baseline = fd_count(b.pid)
            served, failures, stop = collections.Counter(), [], threading.Event()

            def client():
                while not stop.is_set():
                    try:
                        served[handshake_and_ask()] += 1
                    except Exception as e:  # noqa: BLE001 — every failure is reported
                        failures.append(repr(e))

            stalled = []
            hello = half_client_hello(pki.ca_cert)
            for _ in range(8):  # half a ClientHello, then nothing
                s = socket.create_connection(("127.0.0.1", tls_port))
                s.sendall(hello)
                stalled.append(("half ClientHello", s))
            for _ in range(4):  # connected, not a byte
                stalled.append(("silent TLS", socket.create_connection(("127.0.0.1", tls_port))))
            for _ in range(4):  # TLS done, then a request frame cut short
                s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", tls_port)))
                s.sendall(partial_request())
                stalled.append(("partial frame over TLS", s))
            for _ in range(4):
                s = socket.create_connection(("127.0.0.1", b.port))
                s.sendall(partial_request())
                stalled.append(("partial frame on PLAINTEXT", s))

            threads = [threading.Thread(target=client) for _ in range(4)]
            for t in threads:
                t.start()
            sighups = 0
            try:
                end = time.monotonic() + 5
                while time.monotonic() < end:
                    pem = read_text(certs[rng.randrange(2)].keystore)
                    how = rng.random()
                    if how < 0.4:  # swap the keystore file by an atomic rename
                        with open(path + ".tmp", "w") as f:
                            f.write(pem)
                        os.replace(path + ".tmp", path)
                    elif how < 0.6:  # rewrite it in place, SIGHUP half way: the broker must keep what it has
                        with open(path, "w") as f:
                            f.write(pem[:rng.randrange(len(pem))])
                            f.flush()
                            os.kill(b.pid, signal.SIGHUP)
                            sighups += 1
                            time.sleep(0.005)
                            f.write(pem[f.tell():])
                    os.kill(b.pid, signal.SIGHUP)
                    sighups += 1
                    time.sleep(rng.uniform(0, 0.03))
            finally:
                stop.set()
                for t in threads:
                    t.join(TIMEOUT_S)
            log = b.log_text()
            print(f"{sighups} SIGHUPs ({log.count('SIGHUP: reloaded')} reloads, "
                  f"{log.count('certificates not reloaded')} refused half-written keystores); "
                  f"handshakes served {dict((ders.index(k), v) for k, v in served.items())}", flush=True)
            self.assertTrue(b.running(), "the broker died during the SIGHUP storm")
            self.assertEqual(failures[:5], [])
            self.assertLessEqual(set(served), set(ders), "a certificate neither old nor new was served")
            self.assertGreater(sum(served.values()), 20)
            deadline = time.monotonic() + 8  # the storm took 5 s; each had 2 s of idleness long before
            still_open = [name for name, s in stalled if not closed_by_peer(s, max(0.1, deadline - time.monotonic()))]
            self.assertEqual(still_open, [], "stalled connections outlived connections.max.idle.ms (2000)")
            for _, s in stalled:
                s.close()
            deadline = time.monotonic() + 10
            while fd_count(b.pid) > baseline + 1 and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertLessEqual(fd_count(b.pid), baseline + 1, "sockets leaked")
            self.assertIn(handshake_and_ask(), ders)

    def test_a_client_that_never_reads_its_responses_is_closed_after_the_idle_limit(self):
        b = self.start_broker({"connections.max.idle.ms": 2000})
        self.assertEqual(kcat(b.bootstrap, {}, "-P", "-t", "unread", "-p", "0", stdin="seed\n").returncode, 0)
        with kw.Connection("127.0.0.1", b.port) as conn:
            for _ in range(4):
                body = conn.request(kw.API_PRODUCE, 3, kw.produce_body("unread", 0, kw.record_batch([(None, b"x" * 900_000)])))
                self.assertEqual(kw.parse_produce_response(body), {("unread", 0): 0})
        s = socket.socket()
        self.addCleanup(s.close)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", b.port))
        # Eight Fetches of ~3.6 MB each, pipelined, and not a byte read: the broker's writes stall.
        s.sendall(b"".join(kw.frame(kw.request_header(kw.API_FETCH, 4, i) + kw.fetch_v4_body("unread", 0, 0, 8 << 20))
                           for i in range(8)))
        time.sleep(6)  # 2 s idle limit, 1 s sweeps, margin
        # Closed during the stall: only what the kernels' buffers held arrives, then the end.
        # Never closed: all eight responses (29 MB) arrive once the client reads.
        s.settimeout(5)
        got = 0
        try:
            while chunk := s.recv(1 << 20):
                got += len(chunk)
        except (ConnectionResetError, socket.timeout):
            pass
        self.assertLess(got, 4 * 3_600_000, "a connection whose writes stalled outlived connections.max.idle.ms")
        self.assertEqual(kcat(b.bootstrap, {}, "-L").returncode, 0)


if __name__ == "__main__":
    unittest.main()
