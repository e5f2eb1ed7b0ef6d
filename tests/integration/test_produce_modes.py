"""Produce and fetch modes a user can pick: acks=0 (no response at all; a failed acks=0 produce
closes the connection, as in Kafka), read_committed consumers, and time-based retention applied by
the running broker (the log start offset moves, the active segment stays)."""

import struct
import unittest

import kafka_wire as kw
from ferry_harness import BrokerTestCase, consume_all, create_topics, produce_all, wait_until, watermarks


class ProduceModesTest(BrokerTestCase):
    def test_acks_0_gets_no_response_and_the_records_are_stored(self):
        b = self.start_broker()
        create_topics(b, "acks0", partitions=1)
        with kw.Connection("127.0.0.1", b.port) as c:
            stream = b""
            for i in range(5):
                batch = kw.record_batch([(b"k%d" % i, b"v%d" % i)])
                stream += kw.frame(kw.request_header(0, 7, 500 + i) + kw.produce_body("acks0", 0, batch, acks=0))
            stream += kw.frame(kw.request_header(18, 0, 999))  # ApiVersions after them
            c.send_raw(stream)
            (cid,) = struct.unpack_from(">i", c.recv_frame(), 0)
            self.assertEqual(cid, 999, "an acks=0 produce was answered")
        wait_until(lambda: watermarks(b, "acks0", 0) == (0, 5), timeout=10, what="5 acks=0 records stored")

    def test_failed_acks_0_produce_closes_the_connection(self):
        b = self.start_broker({"auto.create.topics.enable": False})
        with kw.Connection("127.0.0.1", b.port) as c:
            batch = kw.record_batch([(b"k", b"v")])
            c.send_raw(kw.frame(kw.request_header(0, 7, 1) + kw.produce_body("no-such-topic", 0, batch, acks=0)))
            c.sock.settimeout(10)
            self.assertEqual(c.sock.recv(1), b"", "the broker kept a connection whose acks=0 produce failed")
        # Everyone else is still served.
        with kw.Connection("127.0.0.1", b.port) as c:
            c.request(18, 0, b"")

    def test_confluent_acks_0_producer(self):
        b = self.start_broker()
        create_topics(b, "acks0-client", partitions=1)
        produce_all(b, "acks0-client", [{"key": b"%d" % i, "value": b"v", "partition": 0} for i in range(200)],
                    acks=0)
        wait_until(lambda: watermarks(b, "acks0-client", 0)[1] == 200, timeout=10, what="200 records stored")

    def test_read_committed_consumer_sees_every_record(self):
        b = self.start_broker()
        create_topics(b, "committed-read", partitions=1)
        produce_all(b, "committed-read", [{"key": b"%d" % i, "value": b"v%d" % i, "partition": 0} for i in range(300)])
        got = consume_all(b, "committed-read", **{"isolation.level": "read_committed"})[0]
        self.assertEqual([m.value() for m in got], [b"v%d" % i for i in range(300)])


class RetentionTest(BrokerTestCase):
    def test_broker_deletes_expired_segments_and_advances_the_log_start(self):
        b = self.start_broker({"log.retention.check.interval.ms": 200})
        create_topics(b, "retained", partitions=1, config={"retention.ms": "1500", "segment.bytes": "16384"})
        produce_all(b, "retained", [{"key": b"%d" % i, "value": b"x" * 200, "partition": 0} for i in range(400)],
                    **{"batch.size": 4000})
        # On a slow machine retention may already have run by now, so only the end is certain.
        self.assertEqual(watermarks(b, "retained", 0)[1], 400)
        wait_until(lambda: watermarks(b, "retained", 0)[0] > 0, timeout=20, what="retention to delete old segments")
        low, high = watermarks(b, "retained", 0)
        self.assertEqual(high, 400)
        self.assertLess(low, 400, "the active segment must survive retention")
        # Retention may delete more segments while this reads: what remains is still one unbroken
        # run of offsets, from at or after the log start just read, to the end.
        offsets = [m.offset() for m in consume_all(b, "retained")[0]]
        self.assertTrue(offsets, "the active segment's records are readable")
        self.assertGreaterEqual(offsets[0], low)
        self.assertEqual(offsets, list(range(offsets[0], 400)))


if __name__ == "__main__":
    unittest.main()
