"""kafka-python 2.0.2 (pure Python client, auto-detected api_version) against ferry-broker."""

import time
import unittest

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from ferry_harness import BrokerTestCase, consume_all, create_topics


class KafkaPythonTest(BrokerTestCase):
    @classmethod
    def setUpClass(cls):
        # No initial rebalance delay: a lone group member's join completes at once.
        cls.broker = cls.start_class_broker({"group.initial.rebalance.delay.ms": 0})

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

    def make_group_consumer(self, group):
        # From the broker version it guesses (2.3 here), kafka-python 2.0.2 speaks
        # GroupCoordinator v0, JoinGroup v2, SyncGroup/Heartbeat/LeaveGroup v1, OffsetCommit v2
        # and OffsetFetch v1.
        c = KafkaConsumer(bootstrap_servers=self.broker.bootstrap, group_id=group,
                          enable_auto_commit=False, auto_offset_reset="earliest",
                          session_timeout_ms=10000, heartbeat_interval_ms=1000,
                          request_timeout_ms=30000)
        self.addCleanup(c.close)
        return c

    def test_group_commit_and_resume(self):
        topic, group = "kp-group", "kp-group-members"
        create_topics(self.broker, topic, partitions=2)
        p = self.make_producer()
        futures = [p.send(topic, key=f"k{part}-{i}".encode(), value=f"v{part}-{i}".encode(), partition=part)
                   for part in range(2) for i in range(25)]
        p.flush(30)
        produced = {(m.partition, m.offset) for m in (f.get(timeout=30) for f in futures)}

        c1 = self.make_group_consumer(group)
        c1.subscribe([topic])
        first = []
        deadline = time.monotonic() + 30
        while len(first) < 20 and time.monotonic() < deadline:
            for recs in c1.poll(timeout_ms=500, max_records=20 - len(first)).values():
                first.extend(recs)
        self.assertEqual(len(first), 20)
        tps = [TopicPartition(topic, part) for part in range(2)]
        # commit() stores each assigned partition's position: one past the last record returned.
        positions = {tp: c1.position(tp) for tp in tps}
        for part in range(2):
            mine = [r.offset for r in first if r.partition == part]
            if mine:
                self.assertEqual(positions[tps[part]], max(mine) + 1)
        c1.commit()
        self.assertEqual({tp: c1.committed(tp) for tp in tps}, positions)
        c1.close()

        c2 = self.make_group_consumer(group)
        self.assertEqual({tp: c2.committed(tp) for tp in tps}, positions)
        c2.subscribe([topic])
        rest = self.read(c2, len(produced) - len(first))
        for tp in tps:
            offsets = [r.offset for r in rest if r.partition == tp.partition]
            if offsets:
                self.assertEqual(offsets[0], positions[tp], f"{tp} resumed elsewhere")
        seen = [(r.partition, r.offset) for r in first + rest]
        self.assertEqual(len(seen), len(set(seen)), "a record was delivered twice")
        self.assertEqual(set(seen), produced, "a record was skipped")


if __name__ == "__main__":
    unittest.main()
