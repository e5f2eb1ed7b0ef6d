"""Connection behaviour a client relies on: pipelined requests are answered in the order they were
sent (even when an earlier one long-polls and later ones are instant), acks=all produces pipelined
on one connection keep their order in the log, a client that pipelines large Fetches and reads
nothing costs the broker a bounded amount of memory, and idle connections are closed after
connections.max.idle.ms while busy ones stay open."""

import socket
import struct
import time
import unittest

import kafka_wire as kw
from ferry_harness import BrokerTestCase, create_topics, kcat, watermarks


def correlation_ids(conn, n):
    ids = []
    for _ in range(n):
        (cid,) = struct.unpack_from(">i", conn.recv_frame(), 0)
        ids.append(cid)
    return ids


def produce_v7_result(body):
    """(error_code, base_offset) of the single partition in a Produce v5-v7 response."""
    r = kw.Reader(body)
    assert r.i32() == 1
    r.string()
    assert r.i32() == 1
    r.i32()  # partition index
    err, base = r.i16(), r.i64()
    r.i64()  # log_append_time_ms (v2+)
    r.i64()  # log_start_offset (v5+)
    return err, base


def long_poll_fetch_v4_body(topic, partition, offset, max_wait_ms):
    """Fetch v4 that waits up to max_wait_ms for at least one byte."""
    return (kw.i32(-1) + kw.i32(max_wait_ms) + kw.i32(1) + kw.i32(1 << 20) + kw.i8(0)
            + kw.array([kw.string(topic) + kw.array([kw.i32(partition) + kw.i64(offset) + kw.i32(1 << 20)])]))


class PipeliningTest(BrokerTestCase):
    def test_responses_come_back_in_request_order(self):
        b = self.start_broker()
        create_topics(b, "pipe-empty", partitions=1)
        with kw.Connection("127.0.0.1", b.port) as c:
            # A long poll on an empty partition first, then requests the broker answers at once.
            stream = kw.frame(kw.request_header(1, 4, 100) + long_poll_fetch_v4_body("pipe-empty", 0, 0, 400))
            for cid in range(101, 111):
                stream += kw.frame(kw.request_header(18, cid % 3, cid))  # ApiVersions v0-v2
            stream += kw.frame(kw.request_header(3, 1, 111) + kw.metadata_v1_body(["pipe-empty"]))
            t0 = time.monotonic()
            c.send_raw(stream)
            ids = correlation_ids(c, 12)
            waited = time.monotonic() - t0
        self.assertEqual(ids, list(range(100, 112)))
        # The fetch really long-polled: had it been answered early the order would prove nothing.
        self.assertGreaterEqual(waited, 0.35)

    def test_pipelined_acks_all_produces_keep_their_order(self):
        b = self.start_broker()
        create_topics(b, "pipe-order", partitions=1)
        n = 40
        stream = b""
        for i in range(n):
            batch = kw.record_batch([(b"k%d" % i, b"v%d" % i)])
            stream += kw.frame(kw.request_header(0, 7, 1000 + i) + kw.produce_body("pipe-order", 0, batch, acks=-1))
        with kw.Connection("127.0.0.1", b.port) as c:
            c.send_raw(stream)
            results = []
            for i in range(n):
                resp = c.recv_frame()
                (cid,) = struct.unpack_from(">i", resp, 0)
                self.assertEqual(cid, 1000 + i)
                results.append(produce_v7_result(resp[4:]))
        # Each request's base offset is its position in the stream: appended in arrival order.
        self.assertEqual(results, [(0, i) for i in range(n)])
        self.assertEqual(watermarks(b, "pipe-order", 0), (0, n))


class UnreadResponsesTest(BrokerTestCase):
    def test_32_pipelined_large_fetches_never_read_hold_a_bounded_amount_of_memory(self):
        # 16 MB in one partition, then 32 Fetches of all of it on one connection that reads nothing.
        # Holding every response would cost 512 MB; the broker stops reading requests once 64 MiB
        # of responses wait unsent, and everyone else is still served.
        b = self.start_broker()
        create_topics(b, "unread-big", partitions=1)
        with kw.Connection("127.0.0.1", b.port) as conn:
            for _ in range(18):
                body = conn.request(kw.API_PRODUCE, 3,
                                    kw.produce_body("unread-big", 0, kw.record_batch([(None, b"x" * 900_000)])))
                self.assertEqual(kw.parse_produce_response(body), {("unread-big", 0): 0})
        rss_before = b.rss_kib()
        conn = kw.Connection("127.0.0.1", b.port, timeout=30)
        self.addCleanup(conn.close)
        n = 32
        conn.send_raw(b"".join(kw.frame(kw.request_header(kw.API_FETCH, 4, 100 + i)
                                        + kw.fetch_v4_body("unread-big", 0, 0, 32 << 20)) for i in range(n)))
        time.sleep(3)
        grown_mib = (b.rss_kib() - rss_before) / 1024
        self.assertEqual(kcat(b.bootstrap, {}, "-L").returncode, 0, "another client is served meanwhile")
        self.assertLess(grown_mib, 200, f"the broker grew {grown_mib:.0f} MiB holding unread responses")
        # Reading resumes everything: all 32 responses arrive, in order, each with all 16 MB.
        sizes = []
        for i in range(n):
            frame = conn.recv_frame()
            (cid,) = struct.unpack_from(">i", frame, 0)
            self.assertEqual(cid, 100 + i)
            sizes.append(len(frame))
        self.assertTrue(all(size > 16_000_000 for size in sizes), sizes)
        print(f"\n32 unread Fetches of 16 MB: broker RSS grew {grown_mib:.0f} MiB")


class IdleTimeoutTest(BrokerTestCase):
    def test_idle_connection_closed_busy_connection_kept(self):
        b = self.start_broker({"connections.max.idle.ms": 1000})
        idle = socket.create_connection(("127.0.0.1", b.port), timeout=10)
        self.addCleanup(idle.close)
        busy = kw.Connection("127.0.0.1", b.port)
        self.addCleanup(busy.close)
        t0 = time.monotonic()
        closed_after = None
        idle.settimeout(0.25)
        while time.monotonic() - t0 < 6:
            busy.request(18, 0, b"")  # keeps its connection active
            try:
                if idle.recv(1) == b"":
                    closed_after = time.monotonic() - t0
                    break
            except socket.timeout:
                pass
        self.assertIsNotNone(closed_after, "an idle connection was not closed within 6 s")
        self.assertGreaterEqual(closed_after, 0.9)
        # The busy connection, older than the idle limit by now, still works.
        time.sleep(0.3)
        busy.request(18, 0, b"")
        self.assertGreater(time.monotonic() - t0, 1.0)


if __name__ == "__main__":
    unittest.main()
