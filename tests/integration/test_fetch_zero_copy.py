"""Fetch sends record batches from the page cache: with sendfile(2) on a PLAINTEXT listener (for
ranges of 16 KiB or more), read in and encrypted on an SSL one. Whatever path the bytes take, a
consumer must receive exactly what the partition's segment files hold: whole batches, from the one
holding the fetch offset, across segment boundaries, within the fetch's byte limit (KIP-74: at
least one batch). A seeded property check tries many offsets and limits on both listeners and
prints the seed of a failure."""

import glob
import os
import random
import socket
import ssl
import struct
import time
import unittest

import kafka_wire as kw
from ferry_harness import Broker, create_topics, free_port, wait_until
from security_pki import PkiTestCase

TOPIC = "zero-copy"


def fetch_v4_records(conn, topic, offset, max_bytes):
    """(error_code, high_watermark, records bytes) of a Fetch v4 for partition 0 of `topic`."""
    body = conn.request(kw.API_FETCH, 4, kw.fetch_v4_body(topic, 0, offset, max_bytes))
    r = kw.Reader(body)
    r.i32()  # throttle_time_ms
    assert r.i32() == 1
    assert r.string() == topic
    assert r.i32() == 1
    assert r.i32() == 0  # partition index
    err, hwm = r.i16(), r.i64()
    r.i64()  # last stable offset
    n = r.i32()  # aborted transactions (nullable)
    for _ in range(max(n, 0)):
        r.i64(), r.i64()
    return err, hwm, r.nbytes() or b""


def expected_records(log, batches, offset, max_bytes):
    """What Kafka's read rules give from the log image `log` (KIP-74: a first batch larger than the
    limit is returned whole)."""
    first = next(i for i, b in enumerate(batches) if b["last_offset"] >= offset)
    end = start = batches[first]["pos"]
    for b in batches[first:]:
        if end - start + b["size"] > max_bytes and end > start:
            break
        end += b["size"]
    return log[start:end]


class FetchFromFilesTest(PkiTestCase):
    PKI_PREFIX = "ferry-zero-copy-"

    def setUp(self):
        # One broker with a PLAINTEXT and an SSL listener; 100 kB segments, so fetches cross them.
        self.ssl_port = free_port()
        b = Broker(start=False)
        b.config["listeners"] = f"PLAINTEXT://127.0.0.1:{b.port},SSL://127.0.0.1:{self.ssl_port}"
        b.config["ssl.keystore.location"] = self.server.keystore
        b.config["log.retention.check.interval.ms"] = 200
        b.config["authorizer"] = "allow-all"  # this test is about bytes, not permissions
        b.write_config()
        self.addCleanup(b.close)
        self.__dict__.setdefault("_processes", []).append(b)
        b.start()
        self.broker = b
        create_topics(b, TOPIC, partitions=1, config={"segment.bytes": "100000"})

    def plaintext(self):
        c = kw.Connection("127.0.0.1", self.broker.port, timeout=30)
        self.addCleanup(c.close)
        return c

    def tls(self):
        c = kw.Connection("127.0.0.1", self.ssl_port, timeout=30)
        ctx = ssl.create_default_context(cafile=self.pki.ca_cert)
        c.sock = ctx.wrap_socket(c.sock, server_hostname="127.0.0.1")
        self.addCleanup(c.close)
        return c

    def produce(self, rng, batches):
        """`batches` raw produces of 1-20 records with values of 10 B to 60 kB, at most 90 kB each:
        batches below and above the 16 KiB sendfile threshold, several per segment, some alone."""
        c = self.plaintext()
        for _ in range(batches):
            records, size = [], 0
            for _ in range(rng.randint(1, 20)):
                value = rng.randbytes(rng.choice([10, 300, 4000, 20000, 60000]))
                if records and size + len(value) > 90_000:  # a batch must fit a 100 kB segment
                    break
                records.append((None, value))
                size += len(value)
            body = c.request(kw.API_PRODUCE, 3, kw.produce_body(TOPIC, 0, kw.record_batch(records, int(time.time() * 1000))))
            self.assertEqual(kw.parse_produce_response(body), {(TOPIC, 0): 0})

    def log_image(self):
        """The partition's segment files, concatenated in offset order, and their batches."""
        files = sorted(glob.glob(os.path.join(self.broker.data_dir, f"{TOPIC}-0", "*.log")))
        log = b""
        for name in files:
            with open(name, "rb") as f:
                log += f.read()
        batches, end = kw.scan_batches(log)
        self.assertEqual(end, len(log), "the segment files are whole batches")
        return log, batches, len(files)

    def test_fetched_bytes_are_the_segment_files_bytes_on_both_listeners(self):
        seed = int(os.environ.get("FERRY_ZERO_COPY_SEED", random.randrange(1 << 30)))
        rng = random.Random(seed)
        self.produce(rng, 120)
        log, batches, segments = self.log_image()
        self.assertGreater(segments, 5, "the data must span several segments")
        leo = batches[-1]["last_offset"] + 1
        plain, secure = self.plaintext(), self.tls()
        for name, conn in (("PLAINTEXT", plain), ("SSL", secure)):
            err, hwm, records = fetch_v4_records(conn, TOPIC, 0, 64 << 20)
            self.assertEqual((err, hwm), (0, leo))
            self.assertEqual(len(records), len(log), f"{name}: one fetch of everything, seed {seed}")
            self.assertTrue(records == log, f"{name}: the bytes differ from the segment files, seed {seed}")
        for i in range(150):
            offset = rng.randrange(leo)
            max_bytes = rng.choice([1, 100, 16 * 1024 - 1, 16 * 1024, 70_000, 150_000, 400_000, 1 << 20])
            want = expected_records(log, batches, offset, max_bytes)
            for name, conn in (("PLAINTEXT", plain), ("SSL", secure)):
                err, _, records = fetch_v4_records(conn, TOPIC, offset, max_bytes)
                self.assertEqual(err, 0)
                self.assertTrue(records == want,
                                f"{name} fetch #{i} at offset {offset} with max_bytes {max_bytes}: got "
                                f"{len(records)} bytes, want {len(want)}; seed {seed} "
                                f"(FERRY_ZERO_COPY_SEED={seed} reproduces it)")
        print(f"\n{len(batches)} batches in {segments} segments ({len(log)} bytes): 1 + 150 fetches on "
              f"each listener equal the segment files, seed {seed}")

    def test_fetches_answered_before_retention_deleted_their_segments_still_arrive_whole(self):
        # A response's batches are chosen when the Fetch is handled and read when it is sent. The
        # clients here send their Fetches, then stop reading (so the responses wait in the broker),
        # the records are deleted and retention removes the segment files, and only then do the
        # clients read: every response must still carry the bytes it was answered with.
        rng = random.Random(7)
        self.produce(rng, 60)
        log, batches, segments = self.log_image()
        want = expected_records(log, batches, 0, 6 << 20)
        seg_dir = os.path.join(self.broker.data_dir, f"{TOPIC}-0")
        conns = {"PLAINTEXT": self.plaintext(), "SSL": self.tls()}
        for conn in conns.values():
            conn.send_raw(b"".join(kw.frame(kw.request_header(kw.API_FETCH, 4, 1000 + i)
                                            + kw.fetch_v4_body(TOPIC, 0, 0, 6 << 20)) for i in range(3)))
        time.sleep(1)  # the Fetches are handled at once; their 18 MB per connection wait unsent
        leo = batches[-1]["last_offset"] + 1
        with kw.Connection("127.0.0.1", self.broker.port) as admin:
            admin.request(kw.API_DELETE_RECORDS, 0, kw.delete_records_v0_body(TOPIC, 0, leo))
        wait_until(lambda: len(glob.glob(os.path.join(seg_dir, "*.log"))) == 1, 30,
                   what="retention to delete every segment but the active one")
        for name, conn in conns.items():
            for i in range(3):
                frame = conn.recv_frame()
                self.assertEqual(struct.unpack_from(">i", frame, 0)[0], 1000 + i)
                r = kw.Reader(frame[4:])
                r.i32(), r.i32(), r.string(), r.i32(), r.i32()
                err = r.i16()
                r.i64(), r.i64(), r.i32()
                self.assertEqual(err, 0, f"{name} response {i}")
                self.assertTrue(r.nbytes() == want, f"{name} response {i} differs from what the log held")
        # New Fetches of the deleted offsets are out of range; the connections still serve.
        for name, conn in conns.items():
            err, _, records = fetch_v4_records(conn, TOPIC, 0, 1 << 20)
            self.assertEqual((err, records), (1, b""), name)  # OFFSET_OUT_OF_RANGE
        print(f"\n{segments - 1} segments deleted under 6 unsent responses of {len(want)} bytes: all arrived whole")

    def test_sigkill_in_the_middle_of_a_sendfile_ends_the_connection_and_loses_nothing(self):
        # The client reads a few KiB of a 7 MB response and stops, so the broker is in the middle
        # of sending it from the page cache when it is SIGKILLed. The client must see a connection
        # that ends before the frame does (never a frame it could take for whole), and after the
        # restart every acknowledged (acks=all) batch is served again, byte for byte.
        self.produce(random.Random(11), 120)
        log, batches, _ = self.log_image()
        conn = self.plaintext()
        # A small, fixed receive buffer (no autotuning): the broker's send buffer (4 MiB at most
        # here) and this one cannot hold even one 7 MB response, so the writer stays mid-frame.
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        conn.send_raw(b"".join(kw.frame(kw.request_header(kw.API_FETCH, 4, 1 + i) + kw.fetch_v4_body(TOPIC, 0, 0, 64 << 20))
                               for i in range(2)))
        head = b""
        while len(head) < 8192:
            head += conn.sock.recv(8192 - len(head))
        (size,) = struct.unpack_from(">i", head, 0)
        self.assertGreater(size, len(log), "the first response carries the whole log")
        time.sleep(0.5)  # the broker's writer now waits for the socket to drain, mid-frame
        self.broker.kill()
        conn.buf = head
        whole = []
        with self.assertRaises((ConnectionError, OSError)):
            while True:
                whole.append(conn.recv_frame())
        self.assertEqual(whole, [], "no response can have been complete")
        self.broker.start()
        err, _, records = fetch_v4_records(self.plaintext(), TOPIC, 0, 64 << 20)
        self.assertEqual(err, 0)
        self.assertTrue(records == log, f"after the restart: {len(records)} bytes, the log held {len(log)}")
        print(f"\nSIGKILL after {len(head)} of {size + 4} bytes of a response: the client saw the connection end "
              f"mid-frame; after the restart all {len(batches)} batches were served again")


if __name__ == "__main__":
    unittest.main()
