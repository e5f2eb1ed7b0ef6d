"""Log compaction through the real broker: many updates to a few keys on a cleanup.policy=compact
topic are cleaned down to the latest record per key (offsets kept, a consumer from offset 0 sees a
consistent increasing log), tombstones disappear after delete.retention.ms, cleaner progress is
checkpointed, and keyless records are refused on a compacted topic."""

import os
import time
import unittest

from confluent_kafka import KafkaException

from ferry_harness import BrokerTestCase, consume_all, create_topics, produce_all, producer, wait_until

KEYS = 10
UPDATES = 300  # per key


class CompactionTest(BrokerTestCase):
    def test_updates_are_compacted_to_the_latest_value_per_key(self):
        b = self.start_broker({"log.cleaner.backoff.ms": 200})
        topic = "compacted"
        create_topics(b, topic, partitions=1,
                      config={"cleanup.policy": "compact", "segment.bytes": "16384", "delete.retention.ms": "0"})
        records = [(b"key-%d" % (i % KEYS), b"value-%06d" % i) for i in range(KEYS * UPDATES)]
        records += [(b"key-0", None), (b"key-1", None)]  # tombstones
        records += [(b"filler-%d" % i, b"f" * 64) for i in range(1000)]  # push the tombstones out of the active segment
        produce_all(b, topic, [{"key": k, "value": v, "partition": 0} for k, v in records], **{"batch.size": 4000})

        def consumed():
            return consume_all(b, topic)[0]

        # 3,000 updates of 10 keys shrink to one record per key; the 1,000 unique fillers stay.
        wait_until(lambda: len(consumed()) < 1500, timeout=30, what="the cleaner to compact the log")
        wait_until(lambda: all(m.key() not in (b"key-0", b"key-1") for m in consumed()), timeout=30,
                   what="tombstones to be removed after delete.retention.ms")
        msgs = consumed()
        offsets = [m.offset() for m in msgs]
        self.assertEqual(offsets, sorted(offsets), "offsets must stay increasing")
        self.assertEqual(len(set(offsets)), len(offsets))
        latest = {}
        for off, (k, v) in enumerate(records):
            latest[k] = (off, v)
        # Every surviving record is exactly where it was produced, and each key's latest value survives.
        for m in msgs:
            self.assertEqual((m.value() if m.value() is not None else None), records[m.offset()][1])
        seen = {m.key(): m.offset() for m in msgs}
        for k in (b"key-%d" % i for i in range(2, KEYS)):
            self.assertEqual(seen.get(k), latest[k][0], f"{k} lost its latest value")
        self.assertNotIn(b"key-0", seen)
        self.assertNotIn(b"key-1", seen)
        self.assertIn("cleaned compacted-0", b.log_text())
        self.assertTrue(os.path.exists(os.path.join(b.data_dir, "cleaner-offset-checkpoint")))

    def test_keyless_records_are_refused_on_a_compacted_topic(self):
        b = self.start_broker()
        create_topics(b, "compacted-nokey", partitions=1, config={"cleanup.policy": "compact"})
        p = producer(b, **{"message.send.max.retries": 0})
        errors = []
        p.produce("compacted-nokey", value=b"no key", on_delivery=lambda e, m: errors.append(e))
        p.flush(10)
        self.assertEqual(len(errors), 1)
        self.assertIsNotNone(errors[0])
        self.assertIn("INVALID_RECORD", errors[0].name())


if __name__ == "__main__":
    unittest.main()
