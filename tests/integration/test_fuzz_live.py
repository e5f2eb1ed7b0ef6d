"""Malformed-frame fuzzing of a live ferry-broker while real clients keep using it.

Several threads open many raw TCP connections and send at least 100,000 malformed or unsupported
frames (see fuzz_frames). Meanwhile a confluent-kafka producer and consumer keep working on another
topic. At the end: every acknowledged record was consumed, the broker is alive and answering, its
RSS stayed bounded, and well-framed but unsupported requests got the protocol's error responses
instead of a closed connection. The RNG seed is printed; rerun with FERRY_FUZZ_SEED=<seed>.
"""

import os
import random
import socket
import threading
import time
import unittest

from confluent_kafka import OFFSET_BEGINNING, TopicPartition

import kafka_wire as kw
from fuzz_frames import FrameMaker
from ferry_harness import BrokerTestCase, consumer, create_topics, producer, wait_until

TARGET_FRAMES = 100_000
MIN_DURATION_S = 15  # keep fuzzing at least this long so the live clients overlap with it
TIME_BUDGET_S = 100
WORKERS = 4
MAX_REQUEST_BYTES = 1 << 20
RSS_LIMIT_KIB = 1 << 20  # 1 GiB
READ_TIMEOUT_S = 10
LIVE_TOPIC = "fuzz-live"
FUZZ_TOPIC = "zz-fuzz-target"


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.frames = 0
        self.connections = 0
        self.answered_checked = 0
        self.hung = 0
        self.refused = 0
        self.problems = []
        self.kinds = {}

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)

    def problem(self, text):
        with self.lock:
            if len(self.problems) < 50:
                self.problems.append(text)


def _connect(port, rng):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Spread source addresses over 127/8 so tens of thousands of short connections never run out
    # of (address, port) pairs while earlier ones sit in TIME_WAIT.
    s.bind((f"127.{rng.randrange(0, 256)}.{rng.randrange(0, 256)}.{rng.randrange(2, 255)}", 0))
    s.settimeout(READ_TIMEOUT_S)
    s.connect(("127.0.0.1", port))
    return s


def _abort(s):
    # RST instead of FIN: nothing is left in TIME_WAIT on our side.
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    s.close()


def _answered_connection(port, fm, stats):
    rng = fm.rng
    sent = [fm.answered() for _ in range(rng.randint(4, 12))]
    s = _connect(port, rng)
    try:
        s.sendall(b"".join(f for f, _, _ in sent))
        buf = b""
        frames = []
        deadline = time.monotonic() + READ_TIMEOUT_S
        while len(frames) < len(sent) and time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
            frames, _ = kw.split_frames(buf)
        if len(frames) < len(sent):
            stats.problem(f"got {len(frames)} responses to {len(sent)} answerable requests "
                          f"({[e for _, _, e in sent]}); connection closed or silent")
        for (frame, cid, expect), resp in zip(sent, frames):
            _check_answer(frame, cid, expect, resp, stats)
    finally:
        _abort(s)
    stats.add(frames=len(sent), connections=1)


def _check_answer(frame, cid, expect, resp, stats):
    try:
        got_cid = kw.Reader(resp).i32()
        if got_cid != cid:
            stats.problem(f"{expect}: correlation id {got_cid}, expected {cid}")
            return
        if expect == "apiversions-35":
            err, apis = kw.parse_api_versions_v0(resp[4:])
            if err != kw.ERR_UNSUPPORTED_VERSION or kw.API_API_VERSIONS not in apis:
                stats.problem(f"ApiVersions v{kw.Reader(frame, 6).i16()}: error {err}, "
                              f"api keys {sorted(apis)}; want error 35 and the v0 body")
                return
        else:
            parts = kw.parse_produce_response(resp[4:])
            if parts != {(FUZZ_TOPIC, 0): kw.ERR_CORRUPT_MESSAGE}:
                stats.problem(f"Produce with a wrong CRC answered {parts}; want error 2")
                return
        stats.add(answered_checked=1)
    except ValueError as e:
        stats.problem(f"{expect}: unparsable response {resp[:64]!r}: {e}")


def _hostile_connection(port, fm, stats):
    rng = fm.rng
    frames = [fm.hostile() for _ in range(rng.randint(1, 4))]
    s = _connect(port, rng)
    try:
        try:
            s.sendall(b"".join(f for _, f in frames))
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # EPIPE/ECONNRESET/ENOTCONN: the broker already dropped us for an earlier frame
        # The broker has our whole input followed by end-of-stream: it must reply or close, then
        # see the end and close. A connection it keeps open past that is a leak.
        try:
            while s.recv(65536):
                pass
        except socket.timeout:
            stats.add(hung=1)
            stats.problem(f"connection still open {READ_TIMEOUT_S}s after end of input; frames: "
                          f"{[k for k, _ in frames]}")
        except ConnectionResetError:
            pass
    finally:
        _abort(s)
    with stats.lock:
        stats.frames += len(frames)
        stats.connections += 1
        for k, _ in frames:
            stats.kinds[k] = stats.kinds.get(k, 0) + 1


def _fuzz_worker(port, seed, stats, stop):
    fm = FrameMaker(random.Random(seed), MAX_REQUEST_BYTES, FUZZ_TOPIC)
    while not stop.is_set():
        try:
            if fm.rng.random() < 0.25:
                _answered_connection(port, fm, stats)
            else:
                _hostile_connection(port, fm, stats)
        except ConnectionRefusedError:
            stats.add(refused=1)
            stats.problem("connection refused: broker not accepting")
            time.sleep(0.1)
        except OSError as e:
            stats.problem(f"socket error {e!r}")


class LiveTraffic:
    """A producer and a consumer on LIVE_TOPIC, each in its own thread, for the whole fuzz run."""

    def __init__(self, broker):
        self.broker = broker
        self.acked = set()
        self.errors = []
        self.consumed = {}
        self.stop_producing = threading.Event()
        self.stop_consuming = threading.Event()
        self.exc = []
        self.threads = [threading.Thread(target=self._produce, daemon=True),
                        threading.Thread(target=self._consume, daemon=True)]

    def start(self):
        for t in self.threads:
            t.start()

    def _produce(self):
        try:
            p = producer(self.broker, **{"linger.ms": 5})

            def cb(err, msg):
                if err:
                    self.errors.append(str(err))
                else:
                    self.acked.add(msg.key())
            i = 0
            while not self.stop_producing.is_set():
                for _ in range(20):
                    p.produce(LIVE_TOPIC, key=b"%09d" % i, value=b"live-%09d" % i, on_delivery=cb)
                    i += 1
                p.poll(0.02)
            if p.flush(60):
                self.errors.append("records still queued 60s after the fuzzing ended")
        except Exception as e:
            self.exc.append(e)

    def _consume(self):
        try:
            c = consumer(self.broker)
            c.assign([TopicPartition(LIVE_TOPIC, p, OFFSET_BEGINNING) for p in (0, 1)])
            while not self.stop_consuming.is_set():
                m = c.poll(0.2)
                if m is not None and not m.error():
                    self.consumed[m.key()] = (m.partition(), m.offset())
            c.close()
        except Exception as e:
            self.exc.append(e)

    def finish(self):
        self.stop_producing.set()
        self.threads[0].join(90)
        try:
            wait_until(lambda: self.acked <= set(self.consumed), 60,
                       what="the consumer to see every acknowledged record")
        finally:
            self.stop_consuming.set()
            self.threads[1].join(30)


class FuzzLiveTest(BrokerTestCase):
    maxDiff = None

    def test_malformed_frames_do_not_disturb_real_clients(self):
        seed = int(os.environ.get("FERRY_FUZZ_SEED", time.time_ns() % 2**32))
        print(f"\nFERRY_FUZZ_SEED={seed}", flush=True)
        b = self.start_broker({"auto.create.topics.enable": False,
                               "socket.request.max.bytes": MAX_REQUEST_BYTES})
        create_topics(b, LIVE_TOPIC, partitions=2)
        create_topics(b, FUZZ_TOPIC, partitions=1)

        live = LiveTraffic(b)
        live.start()
        self.addCleanup(live.stop_consuming.set)
        self.addCleanup(live.stop_producing.set)

        stats = Stats()
        stop = threading.Event()
        max_rss = [b.rss_kib()]

        def sample_rss():
            while not stop.is_set() and b.running():
                try:
                    max_rss[0] = max(max_rss[0], b.rss_kib())
                except (OSError, AssertionError):
                    return
                time.sleep(0.2)

        workers = [threading.Thread(target=_fuzz_worker, args=(b.port, seed + i, stats, stop), daemon=True)
                   for i in range(WORKERS)]
        sampler = threading.Thread(target=sample_rss, daemon=True)
        t0 = time.monotonic()
        for t in workers + [sampler]:
            t.start()
        while b.running():
            elapsed = time.monotonic() - t0
            if elapsed > TIME_BUDGET_S or (stats.frames >= TARGET_FRAMES and elapsed >= MIN_DURATION_S):
                break
            time.sleep(0.2)
        stop.set()
        for t in workers:
            t.join(READ_TIMEOUT_S + 5)
        sampler.join(5)
        elapsed = time.monotonic() - t0
        print(f"{stats.frames} frames over {stats.connections} connections in {elapsed:.1f}s; "
              f"{stats.answered_checked} error responses checked; hostile kinds {stats.kinds}; "
              f"max RSS {max_rss[0]} KiB", flush=True)

        self.assertTrue(b.running(), "broker died during fuzzing")
        live.finish()
        print(f"live clients: {len(live.acked)} records acknowledged, {len(live.consumed)} consumed",
              flush=True)
        self.assertEqual(live.exc, [])
        self.assertEqual(stats.problems, [], "protocol problems seen by the fuzzers:\n"
                         + "\n".join(stats.problems))
        self.assertGreaterEqual(stats.frames, TARGET_FRAMES,
                                f"only {stats.frames} frames within the {TIME_BUDGET_S}s budget")
        self.assertGreater(stats.answered_checked, 0)
        self.assertLess(max_rss[0], RSS_LIMIT_KIB, "broker RSS during fuzzing")

        self.assertEqual(live.errors, [], "delivery errors of the live producer")
        self.assertGreater(len(live.acked), 0)
        missing = live.acked - set(live.consumed)
        self.assertEqual(len(missing), 0, f"acknowledged but never consumed, e.g. {sorted(missing)[:5]}")

        self.assertTrue(b.running(), "broker died after fuzzing")
        with kw.Connection("127.0.0.1", b.port) as conn:
            err, apis = kw.parse_api_versions_v0(conn.request(kw.API_API_VERSIONS, 0, b""))
        self.assertEqual(err, kw.ERR_NONE)
        self.assertIn(kw.API_PRODUCE, apis)


if __name__ == "__main__":
    unittest.main()
