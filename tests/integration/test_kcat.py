"""kcat 1.7.1 (librdkafka 2.0.2) against a live ferry-broker: metadata, keyed produce/consume,
timestamp queries and a real text corpus."""

import json
import os
import re
import unittest
from collections import defaultdict

from ferry_harness import BrokerTestCase, create_topics, produce_all, run_kcat

CORPUS = "/usr/share/common-licenses/GPL-3"
FORMAT = "%p\\t%o\\t%k\\t%s\\n"  # kcat -f: partition, offset, key, value


def parse_consumed(stdout):
    """kcat -C -f FORMAT output -> list of (partition, offset, key, value)."""
    rows = []
    for line in stdout.splitlines():
        p, o, k, v = line.split("\t", 3)
        rows.append((int(p), int(o), k, v))
    return rows


class KcatTest(BrokerTestCase):
    @classmethod
    def setUpClass(cls):
        # One broker for the whole class keeps the module fast; each test uses its own topics.
        cls.broker = cls.start_class_broker()

    def test_metadata_lists_broker_and_topic(self):
        create_topics(self.broker, "kcat-meta", partitions=3)
        md = json.loads(run_kcat(self.broker, ["-L", "-J"]).stdout)
        brokers = {b["id"]: b["name"] for b in md["brokers"]}
        self.assertEqual(brokers, {1: self.broker.bootstrap})
        topics = {t["topic"]: t for t in md["topics"]}
        self.assertIn("kcat-meta", topics)
        parts = topics["kcat-meta"]["partitions"]
        self.assertEqual(sorted(p["partition"] for p in parts), [0, 1, 2])
        for p in parts:
            self.assertEqual(p["leader"], 1)
            self.assertEqual([r["id"] for r in p["replicas"]], [1])

    def test_keyed_produce_consume_in_order_per_partition(self):
        topic = "kcat-keyed"
        create_topics(self.broker, topic, partitions=3)
        n = 600
        sent = [(f"key{i % 7}", f"value-{i:05d}") for i in range(n)]
        run_kcat(self.broker, ["-P", "-t", topic, "-K", ":"],
                 input="".join(f"{k}:{v}\n" for k, v in sent))
        rows = parse_consumed(run_kcat(
            self.broker, ["-C", "-t", topic, "-o", "beginning", "-e", "-f", FORMAT]).stdout)

        self.assertEqual(sorted((k, v) for _, _, k, v in rows), sorted(sent))
        by_part = defaultdict(list)
        for p, o, k, v in rows:
            by_part[p].append((o, k, v))
        key_home = {}
        for p, recs in by_part.items():
            self.assertEqual([o for o, _, _ in recs], list(range(len(recs))),
                             f"offsets of partition {p} not contiguous from 0")
            seq = [int(v.split("-")[1]) for _, _, v in recs]
            self.assertEqual(seq, sorted(seq), f"partition {p} not in produce order")
            for _, k, _ in recs:
                self.assertEqual(key_home.setdefault(k, p), p, f"key {k} split across partitions")
        self.assertGreater(len(by_part), 1, "7 keys over 3 partitions should use more than one")

    def test_query_offset_for_timestamp(self):
        topic = "kcat-ts"
        create_topics(self.broker, topic, partitions=1)
        base = 1_650_000_000_000
        stamps = [base + i * 1000 for i in range(20)]
        # One flush, so most of these share a batch and the broker must look inside it.
        produce_all(self.broker, topic, [{"value": f"t{i}", "partition": 0, "timestamp": ts}
                                         for i, ts in enumerate(stamps)], **{"linger.ms": 50})
        for query in (base - 5000, base, base + 1, base + 7000, base + 7500, stamps[-1],
                      stamps[-1] + 1):
            expected = next((i for i, ts in enumerate(stamps) if ts >= query), -1)
            out = run_kcat(self.broker, ["-Q", "-t", f"{topic}:0:{query}"]).stdout
            m = re.search(rf"{topic} \[0\] offset (-?\d+)", out)
            self.assertIsNotNone(m, f"unexpected kcat -Q output: {out!r}")
            self.assertEqual(int(m.group(1)), expected, f"offset for timestamp {query}")

    def test_text_corpus_roundtrip(self):
        if not os.path.exists(CORPUS):
            self.skipTest(f"{CORPUS} not installed")
        topic = "kcat-corpus"
        create_topics(self.broker, topic, partitions=1)
        with open(CORPUS, encoding="utf-8") as f:
            lines = f.read().splitlines()
        self.assertGreater(len(lines), 500)
        # kcat -P does not send empty lines (it skips zero-length input messages), so the
        # expectation is the file's non-empty lines, in order.
        expected = [ln for ln in lines if ln]
        run_kcat(self.broker, ["-P", "-t", topic, "-p", "0"], input="\n".join(lines) + "\n")
        out = run_kcat(self.broker, ["-C", "-t", topic, "-o", "beginning", "-e", "-f", "%o\\t%s\\n"]).stdout
        got = [ln.split("\t", 1) for ln in out.splitlines()]
        self.assertEqual([int(o) for o, _ in got], list(range(len(expected))))
        self.assertEqual([v for _, v in got], expected)


if __name__ == "__main__":
    unittest.main()
