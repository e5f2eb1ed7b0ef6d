"""confluent-kafka 1.7.0 (librdkafka 2.0.2) producer, consumer and AdminClient against ferry-broker."""

import time
import unittest

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import NewPartitions, NewTopic

import kafka_wire as kw
from ferry_harness import (BrokerTestCase, admin, consume_all, consumer, create_topics,
                           partition_count, produce_all, producer, wait_until, watermarks)


def values_of(msgs):
    return [m.value() for m in msgs]


class ProduceConsumeTest(BrokerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker = cls.start_class_broker({"num.partitions": 2})

    def test_acks_all_delivers_every_record_with_contiguous_offsets(self):
        topic = "cf-acks"
        create_topics(self.broker, topic, partitions=1)
        n = 2000
        recs = [{"key": f"k{i}".encode(), "value": f"v{i}".encode(), "partition": 0,
                 "headers": [("seq", str(i).encode())]} for i in range(n)]
        delivered = produce_all(self.broker, topic, recs)
        self.assertEqual(sorted(m.offset() for m in delivered), list(range(n)))
        got = consume_all(self.broker, topic)[0]
        self.assertEqual([m.offset() for m in got], list(range(n)))
        self.assertEqual([(m.key(), m.value()) for m in got], [(r["key"], r["value"]) for r in recs])
        self.assertEqual([m.headers() for m in got], [[("seq", str(i).encode())] for i in range(n)])

    def test_assign_and_seek_reads_exactly_the_remainder(self):
        topic = "cf-seek"
        create_topics(self.broker, topic, partitions=1)
        n, mid = 1000, 617
        produce_all(self.broker, topic, [{"value": f"v{i}".encode(), "partition": 0} for i in range(n)])
        c = consumer(self.broker)
        self.addCleanup(c.close)
        c.assign([TopicPartition(topic, 0, 0)])
        first = wait_until(lambda: c.poll(0.5), 30, interval=0, what="first record")
        self.assertIsNone(first.error())
        self.assertEqual(first.offset(), 0)
        c.seek(TopicPartition(topic, 0, mid))
        got = []
        deadline = time.monotonic() + 30
        while (not got or got[-1].offset() < n - 1) and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got.append(m)
        self.assertEqual([m.offset() for m in got], list(range(mid, n)))
        self.assertEqual(values_of(got), [f"v{i}".encode() for i in range(mid, n)])

    def test_watermarks_and_offsets_for_times(self):
        topic = "cf-times"
        create_topics(self.broker, topic, partitions=1)
        self.assertEqual(watermarks(self.broker, topic, 0), (0, 0))
        base = 1_600_000_000_000
        stamps = [base + 10 * i for i in range(50)]
        produce_all(self.broker, topic, [{"value": b"x", "partition": 0, "timestamp": ts} for ts in stamps])
        self.assertEqual(watermarks(self.broker, topic, 0), (0, 50))
        c = consumer(self.broker)
        self.addCleanup(c.close)
        for q in (base - 1, base + 5, base + 250, stamps[-1], stamps[-1] + 1):
            expected = next((i for i, ts in enumerate(stamps) if ts >= q), -1)
            res = c.offsets_for_times([TopicPartition(topic, 0, q)], timeout=10)
            self.assertIsNone(res[0].error)
            self.assertEqual(res[0].offset, expected, f"offset for timestamp {q}")

    def test_produce_auto_creates_topic_with_num_partitions(self):
        topic = "cf-auto-created"
        self.assertEqual(partition_count(self.broker, topic), 0)
        produce_all(self.broker, topic, [{"value": b"hello"}])
        self.assertEqual(partition_count(self.broker, topic), 2)
        got = consume_all(self.broker, topic)
        self.assertEqual(sorted(v for msgs in got.values() for v in values_of(msgs)), [b"hello"])

    def test_compression_codecs_roundtrip(self):
        for codec in ("gzip", "snappy", "lz4", "zstd"):
            with self.subTest(codec=codec):
                topic = f"cf-codec-{codec}"
                create_topics(self.broker, topic, partitions=1)
                # Repetitive payloads so the codec really compresses, batched by linger.ms.
                vals = [(f"{codec}-record-{i:05d}-" + "abcdefgh" * (i % 50)).encode() for i in range(3000)]
                produce_all(self.broker, topic, [{"value": v, "partition": 0} for v in vals],
                            **{"compression.type": codec, "linger.ms": 20})
                got = consume_all(self.broker, topic)[0]
                self.assertEqual([m.offset() for m in got], list(range(len(vals))))
                self.assertEqual(values_of(got), vals)


class AutoCreateDisabledTest(BrokerTestCase):
    def test_produce_to_missing_topic_fails_with_unknown_topic(self):
        b = self.start_broker({"auto.create.topics.enable": False})
        topic = "cf-not-there"
        p = producer(b, **{"topic.metadata.propagation.max.ms": 1000, "message.timeout.ms": 20000})
        errors = []
        p.produce(topic, b"x", on_delivery=lambda err, msg: errors.append(err))
        self.assertEqual(p.flush(30), 0)
        self.assertEqual(len(errors), 1)
        self.assertIsNotNone(errors[0], "produce to a missing topic succeeded with auto-create off")
        self.assertIn(errors[0].code(), (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC),
                      str(errors[0]))
        md = admin(b).list_topics(topic, timeout=10)
        self.assertEqual(md.topics[topic].error.code(), KafkaError.UNKNOWN_TOPIC_OR_PART)


class AdminTest(BrokerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker = cls.start_class_broker()

    def test_replication_factor_2_is_refused(self):
        a = admin(self.broker)
        fut = a.create_topics([NewTopic("cf-rf2", 1, 2)], operation_timeout=10)["cf-rf2"]
        with self.assertRaises(KafkaException) as ctx:
            fut.result(20)
        err = ctx.exception.args[0]
        self.assertEqual(err.code(), KafkaError.INVALID_REPLICATION_FACTOR, err.str())
        self.assertTrue(err.str())
        self.assertEqual(partition_count(self.broker, "cf-rf2"), 0)

    def test_create_existing_topic_is_refused(self):
        create_topics(self.broker, "cf-dup", partitions=1)
        a = admin(self.broker)  # must outlive the future: a destroyed client fails it with _DESTROY
        fut = a.create_topics([NewTopic("cf-dup", 1, 1)])["cf-dup"]
        with self.assertRaises(KafkaException) as ctx:
            fut.result(20)
        self.assertEqual(ctx.exception.args[0].code(), KafkaError.TOPIC_ALREADY_EXISTS)

    def test_delete_topic_removes_it_from_metadata(self):
        topic = "cf-doomed"
        create_topics(self.broker, topic, partitions=2)
        produce_all(self.broker, topic, [{"value": b"x", "partition": 1}])
        a = admin(self.broker)
        a.delete_topics([topic], operation_timeout=10)[topic].result(20)
        wait_until(lambda: partition_count(self.broker, topic) == 0, 20,
                   what=f"{topic} gone from metadata")
        # A topic re-created under the same name starts empty.
        create_topics(self.broker, topic, partitions=2)
        self.assertEqual(watermarks(self.broker, topic, 1), (0, 0))

    def test_create_partitions_grows_topic(self):
        topic = "cf-grow"
        create_topics(self.broker, topic, partitions=1)
        produce_all(self.broker, topic, [{"value": b"before", "partition": 0}])
        a = admin(self.broker)
        a.create_partitions([NewPartitions(topic, 4)])[topic].result(20)
        wait_until(lambda: partition_count(self.broker, topic) == 4, 20, what="4 partitions")
        produce_all(self.broker, topic, [{"value": f"p{p}".encode(), "partition": p} for p in range(4)])
        got = consume_all(self.broker, topic)
        self.assertEqual(values_of(got[0]), [b"before", b"p0"])
        for p in (1, 2, 3):
            self.assertEqual(values_of(got[p]), [f"p{p}".encode()])

    def test_delete_records_via_admin_client(self):
        if not hasattr(admin(self.broker), "delete_records"):
            self.skipTest("confluent-kafka 1.7 AdminClient has no delete_records(); DeleteRecords "
                          "is covered on the wire by test_delete_records_on_the_wire")

    def test_delete_records_on_the_wire(self):
        topic = "cf-trim"
        create_topics(self.broker, topic, partitions=1)
        produce_all(self.broker, topic, [{"value": f"v{i}".encode(), "partition": 0} for i in range(100)])
        with kw.Connection("127.0.0.1", self.broker.port) as conn:
            body = conn.request(kw.API_DELETE_RECORDS, 0, kw.delete_records_v0_body(topic, 0, 40))
        self.assertEqual(kw.parse_delete_records_v0(body), {(topic, 0): (40, kw.ERR_NONE)})
        self.assertEqual(watermarks(self.broker, topic, 0), (40, 100))
        got = consume_all(self.broker, topic)[0]
        self.assertEqual([m.offset() for m in got], list(range(40, 100)))
        self.assertEqual(got[0].value(), b"v40")


if __name__ == "__main__":
    unittest.main()
