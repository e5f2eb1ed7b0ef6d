"""kafka-python 2.0.2 (pure Python client, auto-detected api_version) against ferry-broker."""

import time
import unittest

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from ferry_harness import BrokerTestCase, consume_all, create_topics


class KafkaPythonTest(BrokerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker = cls.start_class_broker()

    def make_producer(self, **kw):
        # No api_version: kafka-python probes the broker (ApiVersions v0 + Metadata v0) and picks
        # its fixed request versions from the guess.
        p = KafkaProducer(bootstrap_servers=self.broker.bootstrap, acks="all",
                          request_timeout_ms=20000, max_block_ms=20000, **kw)
        self.addCleanup(p.close, 10)
        return p

    def make_consumer(self):
        c = KafkaConsumer(bootstrap_servers=self.broker.bootstrap, group_id=None,
                          enable_auto_commit=False, auto_offset_reset="earliest",
                          request_timeout_ms=30000)
        self.addCleanup(c.close)
        return c

    def produce(self, topic, n, **kw):
        p = self.make_producer(**kw)
        # The guess decides the record format: anything older than 0.11 would mean magic 0/1
        # message sets, which the broker (Produce v3+ only) cannot take.
        self.assertGreaterEqual(p.config["api_version"], (0, 11))
        sent = [(f"k{i}".encode(), f"{topic}-value-{i:05d}".encode() * (1 + i % 5)) for i in range(n)]
        futures = [p.send(topic, key=k, value=v, partition=0) for k, v in sent]
        p.flush(30)
        offsets = [f.get(timeout=30).offset for f in futures]
        self.assertEqual(offsets, list(range(n)))
        return sent

    def read(self, c, n, timeout=30):
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < n and time.monotonic() < deadline:
            for recs in c.poll(timeout_ms=500).values():
                got.extend(recs)
        return got

    def test_produce_consume_with_seek_to_beginning(self):
        topic = "kp-plain"
        create_topics(self.broker, topic, partitions=1)
        sent = self.produce(topic, 500)
        c = self.make_consumer()
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek_to_beginning(tp)
        got = self.read(c, len(sent))
        self.assertEqual([r.offset for r in got], list(range(len(sent))))
        self.assertEqual([(r.key, r.value) for r in got], sent)
        self.assertEqual(c.beginning_offsets([tp]), {tp: 0})
        self.assertEqual(c.end_offsets([tp]), {tp: len(sent)})

    def test_seek_to_offset_reads_remainder(self):
        topic = "kp-seek"
        create_topics(self.broker, topic, partitions=1)
        sent = self.produce(topic, 300)
        c = self.make_consumer()
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek(tp, 123)
        got = self.read(c, len(sent) - 123)
        self.assertEqual([r.offset for r in got], list(range(123, len(sent))))
        self.assertEqual([(r.key, r.value) for r in got], sent[123:])

    def test_gzip_roundtrip_readable_by_both_clients(self):
        topic = "kp-gzip"
        create_topics(self.broker, topic, partitions=1)
        sent = self.produce(topic, 1000, compression_type="gzip", linger_ms=20)
        c = self.make_consumer()
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek_to_beginning(tp)
        got = self.read(c, len(sent))
        self.assertEqual([(r.key, r.value) for r in got], sent)
        # The same batches through librdkafka's decoder.
        other = consume_all(self.broker, topic)[0]
        self.assertEqual([(m.key(), m.value()) for m in other], sent)


if __name__ == "__main__":
    unittest.main()
